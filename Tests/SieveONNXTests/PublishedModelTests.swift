// The published models of issue #12 (Tests/Models/published-models.json), where fetched: each is imported with
// its --input-shape/--bind, interpreted on its reference input, and compared with ONNX Runtime's outputs.

import Foundation
import SieveDriver
import SieveFormats
import SieveIR
import SieveInterpreter
import SieveONNX
import Testing

/// The manifest of published models (scripts/fetch-models.sh fetches them, scripts/make-model-references.py
/// makes ONNX Runtime references in .cache/models/references/<id>/).
let publishedModelManifest = repositoryRoot.appendingPathComponent("Tests/Models/published-models.json")

/// The largest relative error (max |error| / max |reference| per output) a published model may show.
let publishedModelTolerance = 1e-4

/// Models whose interpretation in a debug build takes minutes (a detection network at 256x384, a ResNet-50
/// at 224x224): out of the default run, which must fit CI's budget; scripts/test-published-models.sh runs
/// them (interpreted and compiled, in a release build).
let slowPublishedModels: [String: String] = [
    "ppocrv4-det": "DB text detection over 256x384 (≈ 4 GFLOP): minutes in the debug interpreter",
    "open-nsfw": "ResNet-50 at 224x224 (≈ 8 GFLOP): minutes in the debug interpreter",
    "nudenet-320n": "YOLOv8n at 320x320: minutes in the debug interpreter",
    "ddddocr-common-det": "detection network at 416x416: minutes in the debug interpreter",
]

/// One published model with its reference, ready to check.
struct PublishedModelCase {
    var id: String
    var modelPath: String
    var referenceFolder: URL
    var inputShapes: [String: [Int]]
    var bindings: [String: InputBinding]
    /// (ONNX name, file, role) of every reference tensor.
    var tensors: [(name: String, file: String, role: String)]
}

/// The models of the manifest whose file and reference are present, and a line for each one that is not.
func publishedModelCases() throws -> (cases: [PublishedModelCase], absent: [String]) {
    let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: publishedModelManifest)) as? [String: Any]
    let models = manifest?["models"] as? [[String: Any]] ?? []
    var cases: [PublishedModelCase] = [], absent: [String] = []
    for entry in models {
        guard let id = entry["id"] as? String, let localPath = entry["local_path"] as? String else { continue }
        let modelPath = repositoryRoot.appendingPathComponent(localPath).path
        let referenceFolder = repositoryRoot.appendingPathComponent(".cache/models/references/\(id)")
        let referenceFile = referenceFolder.appendingPathComponent("reference.json")
        guard FileManager.default.fileExists(atPath: modelPath), FileManager.default.fileExists(atPath: referenceFile.path) else {
            absent.append("\(id): not fetched (scripts/setup-models.sh fetches it and makes its reference)")
            continue
        }
        let reference = try JSONSerialization.jsonObject(with: Data(contentsOf: referenceFile)) as? [String: Any] ?? [:]
        let arguments = reference["sieve_arguments"] as? [String] ?? []
        var shapeOptions: [String] = [], bindOptions: [String] = []
        var index = 0
        while index + 1 < arguments.count {
            if arguments[index] == "--input-shape" { shapeOptions.append(arguments[index + 1]) }
            if arguments[index] == "--bind" { bindOptions.append(arguments[index + 1]) }
            index += 2
        }
        let tensors = (reference["tensors"] as? [[String: Any]] ?? []).compactMap { tensor -> (String, String, String)? in
            guard let name = tensor["name"] as? String, let file = tensor["file"] as? String, let role = tensor["role"] as? String else { return nil }
            return (name, file, role)
        }
        cases.append(PublishedModelCase(id: id, modelPath: modelPath, referenceFolder: referenceFolder,
                                        inputShapes: try parseInputShapes(shapeOptions), bindings: try parseBindings(bindOptions),
                                        tensors: tensors))
    }
    return (cases, absent)
}

/// max |actual - expected| / max |expected| over one output (1 when the shapes differ).
func relativeError(_ actual: Tensor, _ expected: Tensor) -> Double {
    guard actual.shape == expected.shape else { return 1 }
    let a = actual.doubles, e = expected.doubles
    let scale = e.map(abs).max() ?? 0
    let difference = zip(a, e).map { abs($0 - $1) }.max() ?? 0
    return scale > 0 ? difference / scale : difference
}

@Test(.enabled(if: FileManager.default.fileExists(atPath: publishedModelManifest.path), "Tests/Models/published-models.json is missing"))
func publishedModelsMatchONNXRuntime() throws {
    let (cases, absent) = try publishedModelCases()
    for line in absent { print("published model \(line)") }
    var passed: [String] = [], knownMissing: [String] = []
    for model in cases {
        if let reason = slowPublishedModels[model.id] {
            print("published model \(model.id): left out of the default run (\(reason)); scripts/test-published-models.sh runs it")
            continue
        }
        // Whether it should import comes from the importer's supported set and the model's op census
        // (subgraphs included): a model with an op the frontend does not claim is a known missing op.
        let onnx = try ONNXModel.load(path: model.modelPath)
        let missing = onnx.opTypesWithSubgraphs.subtracting(ONNXImporter.supportedOps).sorted()
        let loaded: LoadedModel
        do {
            loaded = try loadModel(path: model.modelPath, inputShapes: model.inputShapes, bindings: model.bindings)
        } catch {
            if missing.isEmpty {
                Issue.record("published model \(model.id) uses only supported ops but does not import: \(error)")
            } else {
                knownMissing.append("\(model.id) (\(missing.joined(separator: ", ")))")
                // The diagnostics must name the missing ops, not fail for another reason.
                let text = error.diagnostics.map(\.message).joined(separator: "\n")
                let otherErrors = error.diagnostics.filter { !$0.message.contains("is not supported") }
                if !missing.contains(where: { text.contains("'\($0.split(separator: ":").last.map(String.init) ?? $0)'") }) || !otherErrors.isEmpty {
                    Issue.record("published model \(model.id) misses \(missing) but fails to import for another reason: \(error)")
                }
            }
            continue
        }
        func read(_ name: String, _ role: String) throws -> Tensor {
            guard let entry = model.tensors.first(where: { $0.name == name && $0.role == role }) else {
                throw DiagnosticError(.error(.unknown, "\(model.id): no reference \(role) '\(name)'"))
            }
            return try Tensor(NumPyFile.read(path: model.referenceFolder.appendingPathComponent(entry.file).path))
        }
        let inputs = try loaded.inputNames.map { try read($0, "input") }
        let outputs = try Interpreter(graph: loaded.graph).run(inputs)
        var worst = 0.0
        for (name, actual) in zip(loaded.outputNames, outputs) {
            let error = relativeError(actual, try read(name, "output"))
            worst = max(worst, error)
            #expect(error <= publishedModelTolerance, "published model \(model.id) output '\(name)': relative error \(error)")
        }
        passed.append("\(model.id) (\(String(format: "%.1e", worst)))")
    }
    print("published models: \(passed.count) match ONNX Runtime within \(publishedModelTolerance): \(passed.joined(separator: ", "))")
    print("published models: \(knownMissing.count) known-missing-op: \(knownMissing.joined(separator: "; "))")
}
