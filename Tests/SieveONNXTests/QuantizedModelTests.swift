// Examples/models/mlp.onnx quantized by onnxruntime's own tools (#14): quantize_dynamic (DynamicQuantizeLinear +
// MatMulInteger) and quantize_static in QDQ format, interpreted and compiled, against onnxruntime's outputs.

import Foundation
import SieveDriver
import SieveFormats
import SieveIR
import SieveInterpreter
import SieveKernel
import SievePasses
import SieveTarget
import Testing

/// The Python of scripts/setup-python.sh, when it has onnxruntime's quantization tools.
let quantizationPython: String? = {
    let path = repositoryRoot.appendingPathComponent(".venv/bin/python").path
    guard FileManager.default.isExecutableFile(atPath: path),
          let result = try? runProcess(path, ["-c", "import onnxruntime.quantization"]), result.status == 0 else { return nil }
    return path
}()

/// The quantized models with onnxruntime's outputs, made once per test run by scripts/make-quantized-mlp.py
/// (the script's header lists the files), or why they could not be made.
let quantizedMLPFolder = makeQuantizedModels("make-quantized-mlp.py")

/// The quantized CNNs of scripts/make-quantized-cnn.py (its header lists them), files named as the MLP's.
let quantizedCNNFolder = makeQuantizedModels("make-quantized-cnn.py")

/// Runs one of the scripts that quantize models with onnxruntime's tools into a new temporary folder.
func makeQuantizedModels(_ script: String) -> Result<URL, QuantizedModelError> {
    guard let python = quantizationPython else { return .failure(QuantizedModelError("no Python with onnxruntime")) }
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-quantized-\(UUID().uuidString)")
    let path = repositoryRoot.appendingPathComponent("scripts/\(script)").path
    guard let result = try? runProcess(python, [path, folder.path]), result.status == 0 else {
        return .failure(QuantizedModelError("scripts/\(script) failed"))
    }
    return .success(folder)
}

/// Why the quantized models are missing.
struct QuantizedModelError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// How a quantized model is run: the interpreter, or compiled for a target.
enum QuantizedRunMode: String, CaseIterable, Sendable {
    case interpreted, native, x86_64 = "x86-64"
}

/// One output's reference values: onnxruntime with its default optimizations, and with none (the model's ops
/// as ONNX defines them).
struct QuantizedReference {
    let name: String
    let optimized: Tensor
    let literal: Tensor
}

/// The references of a model, from the files the script wrote.
func quantizedReferences(_ kind: String, in folder: URL) throws -> [QuantizedReference] {
    let prefix = "mlp.\(kind).", files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
    return try files.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".literal.npy") }.sorted().map { file in
        let name = String(file.dropFirst(prefix.count).dropLast(".literal.npy".count))
        func read(_ suffix: String) throws -> Tensor {
            try Tensor(NumPyFile.read(path: folder.appendingPathComponent("\(prefix)\(name)\(suffix).npy").path))
        }
        return QuantizedReference(name: name, optimized: try read(""), literal: try read(".literal"))
    }
}

@Test(.enabled(if: quantizationPython != nil, "needs .venv/bin/python with onnxruntime (scripts/setup-python.sh)"),
      arguments: ["dynamic", "qdq"], QuantizedRunMode.allCases)
func quantizedMLPMatchesOnnxRuntime(kind: String, mode: QuantizedRunMode) throws {
    let folder = try quantizedMLPFolder.get()
    let model = folder.appendingPathComponent("mlp.\(kind).onnx").path
    // No f32 copy of the weights: the largest constants stay integer (int8 for QDQ, i32 for the dynamic model's
    // folded, zero-point-shifted weights: its exposed intermediates keep the integer decomposition).
    let loaded = try loadModel(path: model, inputShapes: ["input": [32, 64]])
    let floatWeights = loaded.graph.constants.entries.filter { $0.type.elementType == .f32 && ($0.type.elementCount ?? 0) > 1024 }
    #expect(floatWeights.isEmpty, "f32 weights in the imported graph: \(floatWeights.map(\.name))")
    let references = try quantizedReferences(kind, in: folder)
    #expect(references.count >= 9, "the script exposes the probabilities and at least 8 integer intermediates")
    _ = try checkQuantizedMLP(kind, mode: mode, references: references, in: folder)
}

/// The models exactly as onnxruntime's tools wrote them compile into int8 products only: each quantized product is
/// one int8 fused_matmul (a prologue kernel that quantizes or moves the activations, an integer product kernel),
/// the weights are i8 constants of the kernel program, and no kernel computes a float product or dequantizes a
/// weight. Compiled code matches the interpreter (to the last bits of the softmax), and both onnxruntime within one
/// quantization step. dynamic-ort is the dynamic model as onnxruntime saves it after its graph optimizations
/// (com.microsoft DynamicQuantizeMatMul), dynamic-ort-integer the same with each split into DynamicQuantizeLinear and
/// com.microsoft MatMulIntegerToFloat.
@Test(.enabled(if: quantizationPython != nil, "needs .venv/bin/python with onnxruntime (scripts/setup-python.sh)"),
      arguments: ["dynamic-bare", "qdq-bare", "dynamic-ort", "dynamic-ort-integer"])
func quantizedMLPCompilesToInt8Products(kind: String) throws {
    let folder = try quantizedMLPFolder.get()
    let loaded = try loadModel(path: folder.appendingPathComponent("mlp.\(kind).onnx").path, inputShapes: ["input": [32, 64]])
    let prepared = try prepareGraph(loaded.graph, target: .native, sparsity: nil, calibration: nil, passManager: PassManagerOptions())
    let products = prepared.graph.operations.filter { $0.kind.traits.contains(.product) }
    #expect(products.count == 3, "three products, found \(products.map(\.kind.mnemonic))")
    for product in products {
        let weight = prepared.graph.type(of: product.operands[1])
        #expect(weight?.elementType == .i8 && weight?.quant != nil, "\(product.kind.mnemonic) reads \(weight.map { "\($0)" } ?? "nothing")")
    }
    let program = try lowerToKernels(prepared.graph, options: LoweringOptions(name: "mlp", vectorWidth: 16))
    let int8 = program.kernels.filter { $0.pattern.contains("int8") }
    #expect(int8.count == 6, "a prologue and an integer product per layer: \(program.kernels.map(\.pattern))")
    let floatProducts = program.kernels.filter { $0.pattern.contains("matmul") || $0.pattern.contains("gemm") }
    #expect(floatProducts.isEmpty, "float products: \(floatProducts.map(\.pattern))")
    // The dequantize kernels left are those of the activations between layers (QDQ), never of a constant.
    let constantValues = Set(prepared.graph.operations.filter { if case .constant = $0.kind { true } else { false } }.flatMap(\.results))
    let weightDequantizes = prepared.graph.operations.filter { op in
        if case .dequantize = op.kind { return constantValues.contains(op.operands[0]) }
        return false
    }
    #expect(weightDequantizes.isEmpty, "weights dequantized to f32: \(weightDequantizes.count)")
    let constants = program.buffers.filter { if case .constant = $0.storage { return true } else { return false } }
    let weights = constants.filter { $0.elementType == .i8 }
    // One byte per weight (not widened), plus the zero channels that pad the register tile's panels of 16 channels.
    let bytes = weights.map(\.count).reduce(0, +)
    #expect(weights.count == 3 && bytes >= 64 * 128 + 128 * 64 + 64 * 10 && bytes <= 64 * 128 + 128 * 64 + 64 * 16, "\(weights)")
    #expect(!constants.contains { $0.elementType == .f32 && $0.count > 128 }, "f32 constants: \(constants.filter { $0.elementType == .f32 }.map(\.name))")

    let references = try quantizedReferences(kind, in: folder)
    var outputs: [QuantizedRunMode: [String: Tensor]] = [:]
    for mode in QuantizedRunMode.allCases { outputs[mode] = try checkQuantizedMLP(kind, mode: mode, references: references, in: folder) }
    // The int8 products are exact in both; the float softmax after them may differ from the interpreter's in the last
    // bits of its exponentials (probabilities in [0, 1]).
    let interpreted = try #require(outputs[.interpreted]?["probabilities"]?.doubles)
    for mode in [QuantizedRunMode.native, .x86_64] {
        let compiled = try #require(outputs[mode]?["probabilities"]?.doubles)
        let worst = zip(compiled, interpreted).map { abs($0 - $1) }.max() ?? 0
        #expect(compiled.count == interpreted.count && worst <= 1e-6, "\(mode.rawValue) differs from the interpreter by \(worst)")
    }
}

/// CNNs quantized by quantize_static (QDQ; weights per output channel and per tensor) and quantize_dynamic (ConvInteger)
/// compile every Conv into the int8 convolution: a conv2d of the quantized (or, dynamic, f32) input by an i8 weight,
/// lowered to a scale kernel, a patch-copying prologue and an integer product kernel, with no float convolution
/// kernel and no dequantized or widened weight. `forms` has one convolution of each
/// form (im2col 3x3, depthwise 3x3 of stride 2, pointwise 1x1), `example` is Examples/models/cnn.onnx. Outputs match
/// onnxruntime within one quantization step, and compiled code (native and generic x86-64) the interpreter within 1e-6.
@Test(.enabled(if: quantizationPython != nil, "needs .venv/bin/python with onnxruntime (scripts/setup-python.sh)"),
      arguments: ["forms", "forms-tensor", "forms-dynamic", "example"])
func quantizedCNNCompilesToInt8Convolutions(kind: String) throws {
    let folder = try quantizedCNNFolder.get()
    let loaded = try loadModel(path: folder.appendingPathComponent("mlp.\(kind).onnx").path)
    let prepared = try prepareGraph(loaded.graph, target: .native, sparsity: nil, calibration: nil, passManager: PassManagerOptions())
    let convolutions = prepared.graph.operations.filter { if case .conv2d = $0.kind { true } else { false } }
    #expect(convolutions.count == (kind == "example" ? 2 : 3), "\(convolutions.count) conv2d ops")
    for convolution in convolutions {
        let input = prepared.graph.type(of: convolution.operands[0]), weight = prepared.graph.type(of: convolution.operands[1])
        // QDQ: the quantized input; quantize_dynamic: the f32 input, quantized per tensor by the conv2d itself.
        let quantizedInput = kind == "forms-dynamic" ? input?.elementType == .f32
            : (input?.elementType == .i8 || input?.elementType == .u8) && input?.quant != nil
        #expect(quantizedInput, "conv2d reads \(input.map { "\($0)" } ?? "nothing")")
        #expect(weight?.elementType == .i8 && weight?.quant?.axis == 0, "conv2d weight \(weight.map { "\($0)" } ?? "nothing")")
    }
    let program = try lowerToKernels(prepared.graph, options: LoweringOptions(name: "cnn", vectorWidth: 16))
    let patterns = program.kernels.map(\.pattern)
    #expect(patterns.filter { $0.hasPrefix("int8 conv2d") }.count == 3 * convolutions.count, "\(patterns)")
    let floatConvolutions = patterns.filter { $0.contains("conv2d") && !$0.hasPrefix("int8 conv2d") }
    #expect(floatConvolutions.isEmpty, "float convolution kernels: \(floatConvolutions)")
    let constantValues = Set(prepared.graph.operations.filter { if case .constant = $0.kind { true } else { false } }.flatMap(\.results))
    let weightDequantizes = prepared.graph.operations.filter { op in
        if case .dequantize = op.kind { return constantValues.contains(op.operands[0]) && (prepared.graph.type(of: op.operands[0])?.rank ?? 0) > 1 }
        return false
    }
    #expect(weightDequantizes.isEmpty, "weights dequantized to f32: \(weightDequantizes.count)")
    let constants = program.buffers.filter { if case .constant = $0.storage { return true } else { return false } }
    #expect(!constants.contains { $0.elementType == .f32 && $0.count > 64 }, "f32 constants: \(constants.filter { $0.elementType == .f32 }.map(\.name))")
    #expect(!constants.contains { $0.elementType == .i32 && $0.count > 200 }, "i32 constants: \(constants.filter { $0.elementType == .i32 }.map(\.name))")

    let references = try quantizedReferences(kind, in: folder)
    var outputs: [QuantizedRunMode: [String: Tensor]] = [:]
    for mode in QuantizedRunMode.allCases { outputs[mode] = try checkQuantizedMLP(kind, mode: mode, references: references, in: folder) }
    for reference in references {
        let interpreted = try #require(outputs[.interpreted]?[reference.name]?.doubles)
        for mode in [QuantizedRunMode.native, .x86_64] {
            let compiled = try #require(outputs[mode]?[reference.name]?.doubles)
            let worst = zip(compiled, interpreted).map { abs($0 - $1) }.max() ?? 0
            #expect(compiled.count == interpreted.count && worst <= 1e-6, "\(mode.rawValue) differs from the interpreter by \(worst)")
        }
    }
}

/// A QDQ model whose int8 weights are already 2:4 stays 2:4 int8 under `--sparsity 2:4`, losslessly: every weight is an
/// nm<2:4> i8 constant holding exactly the model's int8 values, the products run the N:M int8 kernels, and the outputs
/// match onnxruntime within one quantization step, interpreted and compiled.
@Test(.enabled(if: quantizationPython != nil, "needs .venv/bin/python with onnxruntime (scripts/setup-python.sh)"))
func sparseQDQModelStaysTwoFourInt8() throws {
    let folder = try quantizedMLPFolder.get()
    let model = folder.appendingPathComponent("mlp.qdq-24.onnx").path
    let loaded = try loadModel(path: model, inputShapes: ["input": [32, 64]])
    let originals = Dictionary(uniqueKeysWithValues: loaded.graph.constants.entries.filter { $0.type.elementType == .i8 && $0.type.rank == 2 }
        .map { ($0.name, $0) })
    let prepared = try prepareGraph(loaded.graph, target: .native, sparsity: SparsifyOptions(minWeights: 0), calibration: nil,
                                    passManager: PassManagerOptions())
    let weights = prepared.graph.operations.filter { $0.kind.traits.contains(.product) }.compactMap { product -> Constant? in
        guard let op = prepared.graph.definingOps()[product.operands[1].index], case let .constant(id) = prepared.graph.operations[op].kind else { return nil }
        return prepared.graph.constants[id]
    }
    #expect(weights.count == 3 && weights.allSatisfy { $0.type.elementType == .i8 && $0.type.layout == NMPattern(n: 2, m: 4).layout },
            "\(weights.map(\.type))")
    for weight in weights {
        // The stored values, unpacked and transposed back to [K, N], are the model's int8 weight.
        let original = try #require(originals[String(weight.name.dropLast(".int8.t".count))], "\(weight.name)")
        let dense = try NMPacking.unpack(weight)
        let (n, k) = (dense.type.shape[0], dense.type.shape[1])
        let transposedBack = (0..<(k * n)).map { dense.bytes[($0 % n) * k + $0 / n] }
        #expect(transposedBack == original.bytes, "\(weight.name) differs from the model's int8 values")
    }
    let program = try lowerToKernels(prepared.graph, options: LoweringOptions(name: "mlp", vectorWidth: 16))
    // The 2:4 int8 products: the register tile over 2:4 panels, or the per-row nm_dot kernel.
    #expect(program.kernels.filter { $0.pattern.contains("int8") && $0.pattern.contains("2:4") }.count == 3,
            "\(program.kernels.map(\.pattern))")
    let references = try quantizedReferences("qdq-24", in: folder)
    for mode in QuantizedRunMode.allCases {
        _ = try checkQuantizedMLP("qdq-24", mode: mode, references: references, in: folder, sparsity: SparsifyOptions(minWeights: 0))
    }
}

/// com.microsoft MatMulIntegerToFloat (after a DynamicQuantizeLinear, as onnxruntime's fusions may leave it) is read
/// as the per-tensor int8 product of the DynamicQuantizeLinear's input and matches onnxruntime, interpreted and compiled.
@Test(.enabled(if: quantizationPython != nil, "needs .venv/bin/python with onnxruntime (scripts/setup-python.sh)"),
      arguments: QuantizedRunMode.allCases)
func matMulIntegerToFloatMatchesOnnxRuntime(mode: QuantizedRunMode) throws {
    let folder = try quantizedMLPFolder.get()
    _ = try checkQuantizedMLP("dynamic-ort-integer", mode: mode, references: try quantizedReferences("dynamic-ort-integer", in: folder), in: folder)
}

/// Runs the quantized model `kind` in `mode` and compares every output with onnxruntime's: floats within one
/// quantization step, integers exact against the model's ops as ONNX defines them. Returns the outputs.
func checkQuantizedMLP(_ kind: String, mode: QuantizedRunMode, references: [QuantizedReference], in folder: URL,
                       sparsity: SparsifyOptions? = nil) throws -> [String: Tensor] {
    let model = folder.appendingPathComponent("mlp.\(kind).onnx").path
    let stepsData = try Data(contentsOf: folder.appendingPathComponent("mlp.\(kind).steps.json"))
    let steps = try #require(try JSONSerialization.jsonObject(with: stepsData) as? [String: Double])

    let outputFolder = try temporaryFolder("quantized-\(kind)-\(mode.rawValue)")
    defer { try? FileManager.default.removeItem(at: outputFolder) }
    var request = RunRequest(modelPath: model,
                             inputs: [RunInput(name: "input", path: folder.appendingPathComponent("mlp.\(kind).input.npy").path)],
                             outputDirectory: outputFolder.path)
    request.interpret = mode == .interpreted
    request.target = mode == .x86_64 ? .x86_64 : .native
    request.sparsity = sparsity
    let result = try runModel(request)
    let actual = Dictionary(uniqueKeysWithValues: result.outputs.map { ($0.name, $0.tensor) })

    for reference in references {
        let value = try #require(actual[reference.name], "no output \(reference.name)")
        #expect(value.type.plain == reference.literal.type.plain, "\(reference.name): \(value.type) for \(reference.literal.type)")
        let pairs = Array(zip(value.doubles, zip(reference.literal.doubles, reference.optimized.doubles)))
        if value.type.elementType.isFloat {
            // Within one quantization step of onnxruntime (exact where the output is not quantized, such as scales).
            let step = steps[reference.name] ?? 0
            let worst = pairs.map { max(abs($0.0 - $0.1.0), abs($0.0 - $0.1.1)) }.max() ?? 0
            print("quantized \(kind) (\(mode.rawValue)): \(reference.name) differs from onnxruntime by at most \(worst) (one step \(step))")
            // One step of a dequantized f32 output is `step` up to the f32 rounding of the two values (at most one ulp of 1).
            #expect(worst <= step + Double(Float(1).ulp), "\(reference.name): max difference \(worst) exceeds one quantization step \(step)")
        } else {
            // Integers are exact against the model's ops as ONNX defines them, and at most one step from
            // onnxruntime's fused kernels (its QLinearSoftmax approximates).
            let mismatches = pairs.filter { $0.0 != $0.1.0 }.count
            let worstOptimized = pairs.map { abs($0.0 - $0.1.1) }.max() ?? 0
            print("quantized \(kind) (\(mode.rawValue)): \(reference.name) \(mismatches) of \(pairs.count) differ; at most \(worstOptimized) from optimized onnxruntime")
            #expect(mismatches == 0, "\(reference.name): \(mismatches) of \(pairs.count) integers differ from onnxruntime")
            #expect(worstOptimized <= 1, "\(reference.name): \(worstOptimized) steps from optimized onnxruntime")
        }
    }
    return actual
}

/// The models of scripts/make-qlinear-models.py: quantize_static in QOperator format (its header lists them).
let qlinearModelFolder = makeQuantizedModels("make-qlinear-models.py")

/// quantize_static's QOperator format (QuantizeLinear → QLinearMatMul or QLinearConv ×3 → DequantizeLinear, int8 weights
/// per tensor and per channel, u8 activations, and i8 ones for the `-s8` models) imports every QLinear product as one requantizing int8 kernel: a
/// `fused_matmul {epilogue = [requantize]}` or a `conv2d` with an 8-bit result, reading the 8-bit activations and an
/// i8 weight, with no f32 weight and no float product kernel. Every integer output equals onnxruntime's, with and
/// without its graph optimizations, interpreted and compiled (native and generic x86-64); the float output is within
/// one quantization step.
@Test(.enabled(if: quantizationPython != nil, "needs .venv/bin/python with onnxruntime (scripts/setup-python.sh)"),
      arguments: ["qop-mlp", "qop-mlp-channel", "qop-mlp-s8", "qop-cnn", "qop-cnn-tensor", "qop-cnn-s8"])
func qlinearModelsRunAsRequantizingInt8Kernels(kind: String) throws {
    let folder = try qlinearModelFolder.get()
    let loaded = try loadModel(path: folder.appendingPathComponent("mlp.\(kind).onnx").path)
    let prepared = try prepareGraph(loaded.graph, target: .native, sparsity: nil, calibration: nil, passManager: PassManagerOptions())
    let products = prepared.graph.operations.filter { $0.kind.traits.contains(.product) }
    #expect(products.count == 3, "three products, found \(products.map(\.kind.mnemonic))")
    for product in products {
        let input = prepared.graph.type(of: product.operands[0]), weight = prepared.graph.type(of: product.operands[1])
        let result = prepared.graph.type(of: product.results[0])
        let activations: ElementType = kind.hasSuffix("-s8") ? .i8 : .u8
        #expect(input?.elementType == activations && input?.quant != nil, "\(product.kind.mnemonic) reads \(input.map { "\($0)" } ?? "nothing")")
        #expect(weight?.elementType == .i8 && weight?.quant?.axis == 0, "\(product.kind.mnemonic) weight \(weight.map { "\($0)" } ?? "nothing")")
        #expect(result?.elementType == activations && result?.quant != nil, "\(product.kind.mnemonic) gives \(result.map { "\($0)" } ?? "nothing")")
        if case let .fusedMatmul(_, steps, _) = product.kind { #expect(steps == [.requantize], "epilogue \(steps)") }
    }
    let program = try lowerToKernels(prepared.graph, options: LoweringOptions(name: "qlinear", vectorWidth: 16))
    let patterns = program.kernels.map(\.pattern)
    #expect(patterns.filter { $0.hasSuffix("epilogue requantizing the integer sums to 8 bits") }.count == 3, "\(patterns)")
    let floatProducts = patterns.filter { ($0.contains("matmul") || $0.contains("conv2d")) && !$0.contains("int8") }
    #expect(floatProducts.isEmpty, "float products: \(floatProducts)")
    let constants = program.buffers.filter { if case .constant = $0.storage { return true } else { return false } }
    #expect(!constants.contains { $0.elementType == .f32 && $0.count > 96 }, "f32 constants: \(constants.filter { $0.elementType == .f32 }.map(\.name))")

    let references = try quantizedReferences(kind, in: folder)
    #expect(references.count == 4, "the float output and the three products' u8 results: \(references.map(\.name))")
    try expectIntegersOfOptimizedOnnxRuntime(kind, references: references, in: folder)
}

/// Runs a quantized model in every mode (`checkQuantizedMLP`) and expects each integer output to equal onnxruntime's
/// optimized run exactly, not only within the step `checkQuantizedMLP` allows it.
func expectIntegersOfOptimizedOnnxRuntime(_ kind: String, references: [QuantizedReference], in folder: URL,
                                          modes: [QuantizedRunMode] = QuantizedRunMode.allCases) throws {
    for mode in modes {
        let outputs = try checkQuantizedMLP(kind, mode: mode, references: references, in: folder)
        for reference in references where !reference.optimized.type.elementType.isFloat {
            let value = try #require(outputs[reference.name])
            let differing = zip(value.doubles, reference.optimized.doubles).filter { $0 != $1 }.count
            #expect(differing == 0, "\(mode.rawValue) \(reference.name): \(differing) values differ from optimized onnxruntime")
        }
    }
}

/// Sums placed where the ways of requantizing differ (scripts/make-qlinear-models.py, `qop-ties`): onnxruntime rounds
/// `f32(acc) · (a_scale · b_scale / y_scale)` once and adds the zero point after rounding (155 and 101 here, where
/// dividing by y_scale last gives 154 and 102, and adding the zero point before rounding 154). Sieve's outputs equal
/// onnxruntime's, through the requantizing int8 product (`qop-ties`) and the integer decomposition of a u8 weight
/// with a zero point (`qop-ties-u8`), interpreted and compiled.
@Test(.enabled(if: quantizationPython != nil, "needs .venv/bin/python with onnxruntime (scripts/setup-python.sh)"),
      arguments: ["qop-ties", "qop-ties-u8"], QuantizedRunMode.allCases)
func qlinearRequantizationTiesMatchOnnxRuntime(kind: String, mode: QuantizedRunMode) throws {
    let folder = try qlinearModelFolder.get()
    let references = try quantizedReferences(kind, in: folder)
    let outputs = try checkQuantizedMLP(kind, mode: mode, references: references, in: folder)
    let y = try #require(outputs["y"]?.integers)
    #expect(Array(y.prefix(4)) == [155, 101, 155, 155], "\(y)")
}

/// quantize_static's QOperator format with residual and broadcast adds (com.microsoft QLinearAdd): equal shapes, a
/// constant broadcast along rows, and a constant broadcast along the innermost axis, which onnxruntime streams the other
/// way round (`qop-residual`, `qop-residual-cnn`). Every QLinearAdd result equals onnxruntime's, with and without its
/// graph optimizations, interpreted and compiled; the QLinear products after them still run as requantizing int8
/// kernels (the add's result carries its scale and zero point).
@Test(.enabled(if: quantizationPython != nil, "needs .venv/bin/python with onnxruntime (scripts/setup-python.sh)"),
      arguments: ["qop-residual", "qop-residual-cnn"])
func qlinearAddModelsMatchOnnxRuntime(kind: String) throws {
    let folder = try qlinearModelFolder.get()
    let loaded = try loadModel(path: folder.appendingPathComponent("mlp.\(kind).onnx").path)
    let prepared = try prepareGraph(loaded.graph, target: .native, sparsity: nil, calibration: nil, passManager: PassManagerOptions())
    let products = prepared.graph.operations.filter { $0.kind.traits.contains(.product) }
    #expect(products.count == 3, "three products, found \(products.map(\.kind.mnemonic))")
    for product in products {
        #expect(prepared.graph.type(of: product.operands[1])?.elementType == .i8, "\(product.kind.mnemonic) weight")
        #expect(prepared.graph.type(of: product.results[0])?.elementType == .u8, "\(product.kind.mnemonic) result")
    }
    let references = try quantizedReferences(kind, in: folder)
    #expect(references.count == (kind == "qop-residual" ? 7 : 6), "the float output and every QLinear result: \(references.map(\.name))")
    try expectIntegersOfOptimizedOnnxRuntime(kind, references: references, in: folder)
}

/// The residual models of scripts/make-qlinear-models.py quantized in QDQ format: each `DequantizeLinear → Add →
/// QuantizeLinear` chain (residual and broadcast adds) is one elementwise kernel from the 8-bit operands to the 8-bit
/// result (the per-tensor dequantizes fused into the add and quantize), so no dequantize kernel is left but the one of
/// the float output. Every QuantizeLinear result equals onnxruntime's literal run (the ONNX ops as defined) and is
/// within one step of its optimized run, interpreted and compiled.
@Test(.enabled(if: quantizationPython != nil, "needs .venv/bin/python with onnxruntime (scripts/setup-python.sh)"),
      arguments: ["qdq-residual", "qdq-residual-cnn"])
func qdqAddChainsRunAsOneInt8ElementwiseKernel(kind: String) throws {
    let folder = try qlinearModelFolder.get()
    let loaded = try loadModel(path: folder.appendingPathComponent("mlp.\(kind).onnx").path)
    let prepared = try prepareGraph(loaded.graph, target: .native, sparsity: nil, calibration: nil, passManager: PassManagerOptions())
    let program = try lowerToKernels(prepared.graph, options: LoweringOptions(name: "qdq", vectorWidth: 16))
    let dequantizes = program.kernels.filter { $0.op == "dequantize" }
    #expect(dequantizes.count == 1, "dequantize kernels: \(dequantizes.map(\.location))")
    // Each add is fused with the dequantizes of its two operands (one of them a constant folded at import for the
    // broadcast adds) into the kernel of its quantize.
    let adds = program.kernels.filter { $0.op == "quantize" && ($0.pattern.hasSuffix("4 ops fused") || $0.pattern.hasSuffix("3 ops fused")) }
    #expect(adds.count == (kind == "qdq-residual" ? 3 : 2), "\(program.kernels.map { "\($0.op): \($0.pattern)" })")
    let references = try quantizedReferences(kind, in: folder)
    for mode in QuantizedRunMode.allCases {
        _ = try checkQuantizedMLP(kind, mode: mode, references: references, in: folder)
    }
}

/// int8 QLinearAdds written by hand (`qop-add-i8` of scripts/make-qlinear-models.py): a constant column broadcast along
/// the innermost axis (onnxruntime streams the other operand), equal shapes, a one-element constant as B and as A, and
/// sums far beyond int32 (a result scale of 1e-9), over inputs that take every int8 value and saturate; every result
/// equals onnxruntime's, interpreted and compiled.
@Test(.enabled(if: quantizationPython != nil, "needs .venv/bin/python with onnxruntime (scripts/setup-python.sh)"),
      arguments: QuantizedRunMode.allCases)
func qlinearAddInt8MatchesOnnxRuntime(mode: QuantizedRunMode) throws {
    let folder = try qlinearModelFolder.get()
    let references = try quantizedReferences("qop-add-i8", in: folder)
    #expect(references.count == 6, "\(references.map(\.name))")
    try expectIntegersOfOptimizedOnnxRuntime("qop-add-i8", references: references, in: folder, modes: [mode])
}
