// LSTMs quantized by onnxruntime's quantize_dynamic (com.microsoft DynamicQuantizeLSTM, #14), interpreted and
// compiled, against onnxruntime's outputs.

import Foundation
import SieveDriver
import SieveIR
import SieveONNX
import SieveONNXTestSupport
import Testing

/// The LSTMs of scripts/make-quantized-lstm.py (its header lists them), files named as the MLP's.
let quantizedLSTMFolder = makeQuantizedModels("make-quantized-lstm.py")

/// A DynamicQuantizeLSTM unrolls into int8 products only: the input side of every timestep in one product and one
/// product of the state per step after the first, each direction, each an int8 `fused_matmul` of an i8 weight with its scales; no
/// weight is imported as f32. Outputs match onnxruntime on one thread within the tolerance of its approximate
/// logistic and tanh (the script's header says why one thread), interpreted and compiled.
@Test(.enabled(if: quantizationPython != nil, "needs .venv/bin/python with onnxruntime (scripts/setup-python.sh)"),
      arguments: ["lstm-direction", "lstm-row", "lstm-forward"], QuantizedRunMode.allCases)
func dynamicQuantizeLSTMMatchesOnnxRuntime(kind: String, mode: QuantizedRunMode) throws {
    let folder = try quantizedLSTMFolder.get()
    let loaded = try loadModel(path: folder.appendingPathComponent("mlp.\(kind).onnx").path)
    let (steps, directions) = (7, kind == "lstm-forward" ? 1 : 2)
    let products = loaded.graph.operations.filter { $0.kind.traits.contains(.product) }
    // The first step's state product reads a constant (the initial state or zeros) and is folded at import.
    #expect(products.count == directions * (1 + steps - 1), "\(products.map(\.kind.mnemonic))")
    for product in products {
        let weight = loaded.graph.type(of: product.operands[1])
        #expect(product.kind.mnemonic == "fused_matmul" && weight?.elementType == .i8 && weight?.quant != nil,
                "\(product.kind.mnemonic) reads \(weight.map { "\($0)" } ?? "nothing")")
    }
    // The float constants left are the bias and the initial states (at most 8 · 24 values per direction).
    let floatWeights = loaded.graph.constants.entries.filter { $0.type.elementType == .f32 && ($0.type.elementCount ?? 0) > 2 * 8 * 24 }
    #expect(floatWeights.isEmpty, "f32 weights in the imported graph: \(floatWeights.map(\.name))")
    let references = try quantizedReferences(kind, in: folder)
    #expect(references.map(\.name) == ["Y", "Y_c", "Y_h"])
    _ = try checkQuantizedMLP(kind, mode: mode, references: references, in: folder)
}

/// What the int8 kernels cannot take is refused with one diagnostic naming the node and the reason: a weight zero
/// point other than 0 (an asymmetric weight), a scale of neither shape the op allows, a zero scale.
@Test(.enabled(if: quantizationPython != nil, "needs .venv/bin/python with onnxruntime (scripts/setup-python.sh)"))
func dynamicQuantizeLSTMRefusesWhatTheInt8KernelsCannotTake() throws {
    let folder = try quantizedLSTMFolder.get()
    let original = try Onnx_ModelProto(serializedBytes: Data(contentsOf: folder.appendingPathComponent("mlp.lstm-direction.onnx")))
    func refusal(_ initializer: String, _ change: (inout Onnx_TensorProto) -> Void) throws -> String {
        var model = original
        let index = try #require(model.graph.initializer.firstIndex { $0.name == initializer })
        change(&model.graph.initializer[index])
        let diagnostics = importErrors(model)
        #expect(diagnostics.count == 1, "\(diagnostics)")
        return diagnostics.map(\.description).joined(separator: "\n")
    }
    let zeroPoint = try refusal("R_zero_point") { tensor in
        tensor.int32Data = [1, 0]
    }
    #expect(zeroPoint.contains("DynamicQuantizeLSTM with a non-zero R_zero_point is not supported"), "\(zeroPoint)")
    // A zero point given at run time (a graph input) is not a constant 0: the message says so, not "non-zero".
    var computed = original
    let pointIndex = try #require(computed.graph.initializer.firstIndex { $0.name == "R_zero_point" })
    let point = computed.graph.initializer.remove(at: pointIndex)
    computed.graph.input.append(valueInfo(point.name, point.dataType, point.dims.map { .size($0) }))
    let computedPoint = importErrors(computed).map(\.description)
    #expect(computedPoint.count == 1 && computedPoint[0].contains("a computed (not constant) R_zero_point is not supported"), "\(computedPoint)")
    let scale = try refusal("W_scale") { tensor in
        tensor = floatTensor("W_scale", [3], [0.1, 0.1, 0.1])
    }
    #expect(scale.contains("W_scale must be a constant float32 of shape 2 or 2x96"), "\(scale)")
    let zero = try refusal("R_scale") { tensor in
        tensor = floatTensor("R_scale", [2], [0.01, 0])
    }
    #expect(zero.contains("R_scale must be positive and finite"), "\(zero)")
}
