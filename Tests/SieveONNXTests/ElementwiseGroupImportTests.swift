// Importer tests of the elementwise group of #12 where the ONNX node tests cannot speak yet (their models are
// opset 1 to 12) or a decomposition or refusal needs checking: logic, variadic ops, IsInf, PRelu, Celu.

import Foundation
import SieveIR
import SieveInterpreter
import SieveONNX
import SieveONNXTestSupport
import Testing

/// Imports a model and runs it in the interpreter.
private func run(_ model: Onnx_ModelProto, _ inputs: [Tensor]) throws -> (graph: Graph, outputs: [Tensor]) {
    let graph = try importBytes(model).graph
    return (graph, try Interpreter(graph: graph).run(inputs))
}

@Suite struct ElementwiseGroupImportTests {
    @Test func logicOpsImportAndRun() throws {
        let m = model(nodes: [node("And", ["a", "b"], ["and"]), node("Xor", ["and", "b"], ["xor"]),
                              node("Or", ["xor", "a"], ["or"]), node("Not", ["or"], ["y"])],
                      inputs: [valueInfo("a", ONNXType.bool, [4]), valueInfo("b", ONNXType.bool, [4])], outputs: ["y"], opset: 13)
        let a = try Tensor(TensorType([4], .bool), integers: [0, 0, 1, 1]), b = try Tensor(TensorType([4], .bool), integers: [0, 1, 0, 1])
        let (graph, outputs) = try run(m, [a, b])
        #expect(graph.operations.map(\.kind.mnemonic) == ["and", "xor", "or", "not"])
        // and = 0001, xor b = 0100, or a = 0111, not = 1000.
        #expect(outputs[0].integers == [1, 0, 0, 0] && outputs[0].elementType == .bool)
    }

    @Test func comparisonsOfIntegersBroadcast() throws {
        let m = model(nodes: [node("Greater", ["a", "b"], ["g"]), node("LessOrEqual", ["a", "b"], ["le"]), node("Xor", ["g", "le"], ["y"])],
                      inputs: [valueInfo("a", ONNXType.int64, [2, 3]), valueInfo("b", ONNXType.int64, [3])], outputs: ["y"], opset: 13)
        let a = try Tensor(TensorType([2, 3], .i64), integers: [1, 5, -2, 0, 0, 9]), b = try Tensor(TensorType([3], .i64), integers: [1, 2, 3])
        // Greater and LessOrEqual are complements on integers: their xor is true everywhere.
        #expect(try run(m, [a, b]).outputs[0].integers == [1, 1, 1, 1, 1, 1])
    }

    @Test func variadicOpsFoldLeftToRight() throws {
        let m = model(nodes: [node("Max", ["a", "b", "c"], ["max"]), node("Mean", ["a", "b", "c"], ["mean"]),
                              node("Sum", ["a"], ["sum"]), node("Min", ["max", "mean"], ["y"])],
                      inputs: [valueInfo("a", ONNXType.float, [2, 2]), valueInfo("b", ONNXType.float, [2]), valueInfo("c", ONNXType.float, [])],
                      outputs: ["y", "mean", "sum"], opset: 13)
        let a = try Tensor(TensorType([2, 2], .f32), floats: [1, 6, -3, 0]), b = try Tensor(TensorType([2], .f32), floats: [2, 3])
        let c = try Tensor(TensorType([], .f32), floats: [0.5])
        let (graph, outputs) = try run(m, [a, b, c])
        #expect(graph.operations.map(\.kind.mnemonic).filter { $0 != "const" } == ["max", "max", "add", "add", "div", "min"])
        // Mean divides the sum by the input count; a one-input Sum is its input.
        let sums: [Float] = [3.5, 9.5, -0.5, 3.5]
        let means = sums.map { $0 / 3 }
        #expect(outputs[1].floats == means)
        // Max gives [2, 6, 2, 3]; the Min with the mean keeps the mean everywhere.
        #expect(outputs[0].floats == means)
        #expect(outputs[2].floats == [1, 6, -3, 0])
    }

    @Test func isInfDetectsEachSign() throws {
        let x = try Tensor(TensorType([4], .f32), floats: [.infinity, -.infinity, 1, .nan])
        for (positive, negative, expected) in [(1, 1, [1, 1, 0, 0]), (1, 0, [1, 0, 0, 0]), (0, 1, [0, 1, 0, 0]), (0, 0, [0, 0, 0, 0])] as [(Int64, Int64, [Int64])] {
            let m = model(nodes: [node("IsInf", ["x"], ["y"], [intAttribute("detect_positive", positive), intAttribute("detect_negative", negative)])],
                          inputs: [valueInfo("x", ONNXType.float, [4])], outputs: ["y"], opset: 13)
            let output = try run(m, [x]).outputs[0]
            #expect(output.elementType == .bool && output.integers == expected, "detect_positive \(positive), detect_negative \(negative)")
        }
    }

    @Test func preluSlopeMustBroadcastToTheInput() throws {
        let channel = model(nodes: [node("PRelu", ["x", "s"], ["y"])], inputs: [valueInfo("x", ONNXType.float, [1, 2, 1, 2])], outputs: ["y"],
                            initializers: [floatTensor("s", [1, 2, 1, 1], [0.5, 0.25])], opset: 13)
        let x = try Tensor(TensorType([1, 2, 1, 2], .f32), floats: [-1, 2, -4, 4])
        #expect(try run(channel, [x]).outputs[0].floats == [-0.5, 2, -1, 4])
        let wrong = model(nodes: [node("PRelu", ["x", "s"], ["y"])], inputs: [valueInfo("x", ONNXType.float, [2, 3])], outputs: ["y"],
                          initializers: [floatTensor("s", [2, 1, 3], [1, 2, 3, 4, 5, 6])], opset: 13)
        let errors = importErrors(wrong)
        #expect(errors.count == 1 && errors[0].message.contains("does not broadcast to the input's shape 2x3"), "\(errors)")
    }

    @Test func parameterizedActivationsReadTheirAttributes() throws {
        let m = model(nodes: [node("Celu", ["x"], ["celu"], [floatAttribute("alpha", 2)]), node("Selu", ["x"], ["selu"]),
                              node("ThresholdedRelu", ["x"], ["t"], [floatAttribute("alpha", 0.5)]), node("Elu", ["x"], ["elu"])],
                      inputs: [valueInfo("x", ONNXType.float, [3])], outputs: ["celu", "selu", "t", "elu"], opset: 13)
        let (graph, outputs) = try run(m, [try Tensor(TensorType([3], .f32), floats: [-1, 0.25, 2])])
        #expect(graph.operations.map(\.kind) == [.unary(.celu(alpha: 2)), .unary(.selu(alpha: 1.6732632, gamma: 1.050701)),
                                                 .unary(.thresholdedRelu(alpha: 0.5)), .unary(.elu(alpha: 1))])
        #expect(outputs[2].floats == [0, 0, 2])
        let celu = try #require(outputs[0].floats)
        #expect(abs(celu[0] - 2 * (Float(exp(-0.5)) - 1)) < 1e-6 && celu[1] == 0.25 && celu[2] == 2)
        let zero = model(nodes: [node("Celu", ["x"], ["y"], [floatAttribute("alpha", 0)])], inputs: [valueInfo("x", ONNXType.float, [3])],
                         outputs: ["y"], opset: 13)
        #expect(importErrors(zero).first?.message.contains("non-zero alpha") == true)
    }
}
