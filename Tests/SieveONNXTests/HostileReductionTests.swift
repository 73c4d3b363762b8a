// Hostile inputs for the reductions and neural-network group: absurd TopK k, ConvTranspose sizes and
// reductions over huge shapes end in one diagnostic, quickly, without allocating for the claimed size.

import Foundation
import SieveIR
import SieveKernel
import SieveONNX
import SieveONNXTestSupport
import Testing

/// The single error message of an import, or a failure note when there is not exactly one.
private func singleError(_ model: Onnx_ModelProto) -> String {
    let start = Date()
    let errors = importErrors(model).filter { $0.severity == .error }
    #expect(Date().timeIntervalSince(start) < 5, "the refusal took \(Date().timeIntervalSince(start)) s")
    guard errors.count == 1, let only = errors.first else { return "expected one error, found \(errors.count): \(errors)" }
    return only.description
}

@Test func absurdTopKIsRefusedWithOneDiagnostic() {
    let input = valueInfo("x", ONNXType.float, [2, 8])
    for k: Int64 in [1 << 40, 9, -1, Int64.min, Int64.max] {
        let topK = node("TopK", ["x", "k"], ["values", "indices"], name: "top")
        let message = singleError(model(nodes: [topK], inputs: [input], outputs: ["values"], initializers: [int64Tensor("k", [1], [k])]))
        #expect(message.contains("node #0 'top'") && message.contains("TopK k \(k) is out of range: axis 1 has 8 elements"), "\(message)")
    }
}

@Test func absurdConvTransposeIsRefusedWithOneDiagnostic() {
    let input = valueInfo("x", ONNXType.float, [1, 1, 4, 4])
    let weight = floatTensor("w", [1, 1, 2, 2], [1, 1, 1, 1])
    func refusal(_ attributes: [Onnx_AttributeProto]) -> String {
        var convTranspose = node("ConvTranspose", ["x", "w"], ["y"], name: "up")
        convTranspose.attribute = attributes
        return singleError(model(nodes: [convTranspose], inputs: [input], outputs: ["y"], initializers: [weight]))
    }
    #expect(refusal([intsAttribute("strides", [1 << 40, 1])]).contains("is absurd"))
    #expect(refusal([intsAttribute("strides", [Int64.max, 1])]).contains("must hold 2 values from 1 to"))
    #expect(refusal([intsAttribute("dilations", [1 << 39, 1 << 39])]).contains("is absurd"))
    #expect(refusal([intsAttribute("output_shape", [1 << 40, 1 << 40])]).contains("more than 2^40 elements"))
    #expect(refusal([intsAttribute("pads", [100, 0, 100, 0])]).contains("remove more than"))
    #expect(refusal([intAttribute("group", 3)]).contains("groups 3 must divide"))
}

@Test func reductionsOverHugeShapesStayCheap() throws {
    // A 2^40-element input is a valid type; importing and lowering a reduction over it allocates nothing of
    // that size, and a running sum whose result would need 4 TiB of arena is refused when memory is planned.
    let huge = valueInfo("x", ONNXType.float, [.size(1 << 20), .size(1 << 20)])
    let axes = int64Tensor("axes", [1], [1])
    let start = Date()
    let reduced = try importBytes(model(nodes: [node("ReduceSum", ["x", "axes"], ["y"])], inputs: [huge], outputs: ["y"],
                                        initializers: [axes]))
    let program = try lowerToKernels(reduced.graph, options: LoweringOptions(name: "huge", vectorWidth: 8))
    #expect(program.kernels.count == 1)
    let axis = int64Tensor("axis", [], [0])
    let running = try importBytes(model(nodes: [node("CumSum", ["x", "axis"], ["y"])], inputs: [huge], outputs: ["y"],
                                        initializers: [axis]))
    var relu = running.graph
    // An intermediate (not an output) lives in the arena, which is what the limit guards.
    let sum = relu.outputs[0]
    relu.outputs = [relu.append(.unary(.relu), [sum], TensorType([1 << 20, 1 << 20], .f32))]
    do {
        _ = try lowerToKernels(relu, options: LoweringOptions(name: "huge", vectorWidth: 8))
        Issue.record("a 4 TiB intermediate was planned")
    } catch {
        #expect(error.diagnostics.count == 1)
        #expect(error.description.contains("more than the 1 TiB limit"))
    }
    #expect(Date().timeIntervalSince(start) < 10)
}
