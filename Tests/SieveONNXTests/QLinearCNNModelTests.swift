// A CNN with pooling, activations and a concatenation quantized by onnxruntime's quantize_static in QOperator format
// (#14, scripts/make-qlinear-cnn-models.py), interpreted and compiled, against onnxruntime's outputs.

import Foundation
import SieveDriver
import SieveIR
import SieveKernel
import SievePasses
import SieveTarget
import Testing

/// The models of scripts/make-qlinear-cnn-models.py (its header lists them).
let qlinearCNNModelFolder = makeQuantizedModels("make-qlinear-cnn-models.py")

/// QuantizeLinear → QLinearConv → MaxPool (8-bit) → QLinearConv → QLinearLeakyRelu → QLinearAveragePool → QLinearConv →
/// QLinearSigmoid → QLinearConcat → QLinearGlobalAveragePool → Flatten → Reshape → QLinearMatMul → QGemm (transB, an int32
/// bias) → DequantizeLinear, its
/// weights per tensor (`qop-pools`) and per channel (`qop-pools-channel`, and `qop-pools-s8` with int8 activations):
/// every QLinearConv, the QLinearMatMul and the QGemm (a 1x1 convolution with its bias) run as requantizing int8 kernels (the MaxPool, Flatten and Reshape before
/// them keep the 8-bit value's scale and zero point), the max pool runs on the 8-bit values, and no kernel computes a
/// float product or reads an f32 copy of a weight. Every 8-bit result equals onnxruntime's (with and without its graph
/// optimizations), interpreted and compiled for native and generic x86-64, and the float output is within one step.
@Test(.enabled(if: quantizationPython != nil, "needs .venv/bin/python with onnxruntime (scripts/setup-python.sh)"),
      arguments: ["qop-pools", "qop-pools-channel", "qop-pools-s8"])
func qlinearCNNWithPoolsMatchesOnnxRuntime(kind: String) throws {
    let folder = try qlinearCNNModelFolder.get()
    let loaded = try loadModel(path: folder.appendingPathComponent("mlp.\(kind).onnx").path)
    let prepared = try prepareGraph(loaded.graph, target: .native, sparsity: nil, calibration: nil, passManager: PassManagerOptions())
    let activations: ElementType = kind.hasSuffix("-s8") ? .i8 : .u8
    let products = prepared.graph.operations.filter { $0.kind.traits.contains(.product) }
    #expect(products.count == 5, "four convolutions (the QGemm's too) and a product, found \(products.map(\.kind.mnemonic))")
    for product in products {
        let input = prepared.graph.type(of: product.operands[0]), weight = prepared.graph.type(of: product.operands[1])
        let result = prepared.graph.type(of: product.results[0])
        #expect(input?.elementType == activations && input?.quant != nil, "\(product.kind.mnemonic) reads \(input.map { "\($0)" } ?? "nothing")")
        #expect(weight?.elementType == .i8 && weight?.quant?.axis == 0, "\(product.kind.mnemonic) weight \(weight.map { "\($0)" } ?? "nothing")")
        #expect(result?.elementType == activations && result?.quant != nil, "\(product.kind.mnemonic) gives \(result.map { "\($0)" } ?? "nothing")")
    }
    let pools = prepared.graph.operations.filter { if case .maxPool = $0.kind { true } else { false } }
    #expect(pools.count == 1 && pools.allSatisfy { prepared.graph.type(of: $0.operands[0])?.elementType == activations }, "max pools \(pools.map(\.kind))")
    let program = try lowerToKernels(prepared.graph, options: LoweringOptions(name: "pools", vectorWidth: 16))
    let patterns = program.kernels.map(\.pattern)
    #expect(patterns.filter { $0.hasSuffix("epilogue requantizing the integer sums to 8 bits") }.count == 5, "\(patterns)")
    let floatProducts = patterns.filter { ($0.contains("matmul") || $0.contains("conv2d")) && !$0.contains("int8") }
    #expect(floatProducts.isEmpty, "float products: \(floatProducts)")
    // The largest f32 constant is a 256-entry table (QLinearAveragePool's dequantization, if any); a weight has 72 or more.
    let constants = program.buffers.filter { if case .constant = $0.storage { return true } else { return false } }
    #expect(!constants.contains { $0.elementType == .f32 && $0.count > 16 && $0.count != 256 },
            "f32 constants: \(constants.filter { $0.elementType == .f32 }.map { "\($0.name) (\($0.count))" })")

    let references = try quantizedReferences(kind, in: folder)
    #expect(references.count == 14, "the float output and thirteen 8-bit results: \(references.map(\.name))")
    try expectIntegersOfOptimizedOnnxRuntime(kind, references: references, in: folder)
}
