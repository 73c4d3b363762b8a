// Examples/models/mlp.onnx quantized by onnxruntime's own tools (#14): quantize_dynamic (DynamicQuantizeLinear +
// MatMulInteger) and quantize_static in QDQ format, interpreted and compiled, against onnxruntime's outputs.

import Foundation
import SieveDriver
import SieveFormats
import SieveIR
import SieveInterpreter
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
let quantizedMLPFolder: Result<URL, QuantizedModelError> = {
    guard let python = quantizationPython else { return .failure(QuantizedModelError("no Python with onnxruntime")) }
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-quantized-mlp-\(UUID().uuidString)")
    let script = repositoryRoot.appendingPathComponent("scripts/make-quantized-mlp.py").path
    guard let result = try? runProcess(python, [script, folder.path]), result.status == 0 else {
        return .failure(QuantizedModelError("scripts/make-quantized-mlp.py failed"))
    }
    return .success(folder)
}()

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
    let references = try quantizedReferences(kind, in: folder)
    let stepsData = try Data(contentsOf: folder.appendingPathComponent("mlp.\(kind).steps.json"))
    let steps = try #require(try JSONSerialization.jsonObject(with: stepsData) as? [String: Double])
    #expect(references.count >= 9, "the script exposes the probabilities and at least 8 integer intermediates")

    // No f32 copy of the weights: the largest constants stay integer (int8 for QDQ, i32 for the dynamic model's
    // folded, zero-point-shifted weights until int8 kernels keep them 8-bit).
    let loaded = try loadModel(path: model, inputShapes: ["input": [32, 64]])
    let floatWeights = loaded.graph.constants.entries.filter { $0.type.elementType == .f32 && ($0.type.elementCount ?? 0) > 1024 }
    #expect(floatWeights.isEmpty, "f32 weights in the imported graph: \(floatWeights.map(\.name))")

    let outputFolder = try temporaryFolder("quantized-\(kind)-\(mode.rawValue)")
    defer { try? FileManager.default.removeItem(at: outputFolder) }
    var request = RunRequest(modelPath: model,
                             inputs: [RunInput(name: "input", path: folder.appendingPathComponent("mlp.\(kind).input.npy").path)],
                             outputDirectory: outputFolder.path)
    request.interpret = mode == .interpreted
    request.target = mode == .x86_64 ? .x86_64 : .native
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
            #expect(worst <= step, "\(reference.name): max difference \(worst) exceeds one quantization step \(step)")
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
}
