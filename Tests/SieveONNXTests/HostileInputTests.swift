// Hostile and broken models: external data that tries to leave the model's folder or claims more bytes
// than exist, broken graphs, and a seeded mutation fuzz over the committed models. Each must end in a
// DiagnosticError, never a crash, a hang or a huge allocation.

import Foundation
import SieveDriver
import SieveIR
import SieveInterpreter
import SieveONNX
import Testing

// MARK: External data

/// A model whose weight `W` [4, 3] is external data described by `tensor`.
func externalWeightModel(_ tensor: Onnx_TensorProto) -> Onnx_ModelProto {
    model(nodes: [node("MatMul", ["x", "W"], ["y"], name: "fc")], inputs: [valueInfo("x", ONNXType.float, [1, 4])],
          outputs: ["y"], initializers: [tensor])
}

let externalWeights: [Float] = (0..<12).map { Float($0) - 5.5 }

@Test func externalDataInsideTheFolderIsRead() throws {
    let folder = try temporaryFolder("external")
    defer { try? FileManager.default.removeItem(at: folder) }
    try FileManager.default.createDirectory(at: folder.appendingPathComponent("data"), withIntermediateDirectories: true)
    var file = Data([1, 2, 3, 4, 5, 6, 7, 8])  // 8 bytes of something else first
    file.append(floatBytes(externalWeights))
    try file.write(to: folder.appendingPathComponent("data/weights.bin"))
    let tensor = externalTensor("W", [4, 3], location: "data/weights.bin", offset: 8, length: 48)
    let graph = try importBytes(externalWeightModel(tensor), folder: folder.path).graph
    let weight = try #require(graph.constants.entries.first { $0.name == "W" })
    #expect(weight.doubles() == externalWeights.map(Double.init))
}

/// The message an import of `tensor` as external weight fails with (empty when it succeeds).
func externalFailure(_ tensor: Onnx_TensorProto, folder: URL) -> String {
    let errors = importErrors(externalWeightModel(tensor), folder: folder.path)
    return errors.map(\.message).joined(separator: "\n")
}

@Test func externalDataCannotLeaveTheFolder() throws {
    let root = try temporaryFolder("escape")
    defer { try? FileManager.default.removeItem(at: root) }
    let modelFolder = root.appendingPathComponent("model")
    try FileManager.default.createDirectory(at: modelFolder, withIntermediateDirectories: true)
    let outside = root.appendingPathComponent("secret.bin")
    try floatBytes(externalWeights).write(to: outside)

    #expect(externalFailure(externalTensor("W", [4, 3], location: outside.path), folder: modelFolder)
        .contains("absolute external data location"))
    #expect(externalFailure(externalTensor("W", [4, 3], location: "../secret.bin"), folder: modelFolder)
        .contains("'..' component"))
    #expect(externalFailure(externalTensor("W", [4, 3], location: "a/../../secret.bin"), folder: modelFolder)
        .contains("'..' component"))

    // A symbolic link to a file outside, and one to a folder outside.
    try FileManager.default.createSymbolicLink(atPath: modelFolder.appendingPathComponent("link.bin").path,
                                               withDestinationPath: outside.path)
    #expect(externalFailure(externalTensor("W", [4, 3], location: "link.bin"), folder: modelFolder)
        .contains("outside the model's folder"))
    try FileManager.default.createSymbolicLink(atPath: modelFolder.appendingPathComponent("up").path,
                                               withDestinationPath: root.path)
    #expect(externalFailure(externalTensor("W", [4, 3], location: "up/secret.bin"), folder: modelFolder)
        .contains("outside the model's folder"))

    // A hard link: the same file under a second name inside the folder.
    let hard = modelFolder.appendingPathComponent("hard.bin")
    #expect(link(outside.path, hard.path) == 0)
    #expect(externalFailure(externalTensor("W", [4, 3], location: "hard.bin"), folder: modelFolder)
        .contains("hard links"))

    // No folder at all (a model held in memory) means no external data.
    #expect(importErrors(externalWeightModel(externalTensor("W", [4, 3], location: "w.bin")), folder: nil)
        .first?.message.contains("only allowed for tensors in a model file") == true)
}

@Test func externalDataMustFitTheFile() throws {
    let folder = try temporaryFolder("sizes")
    defer { try? FileManager.default.removeItem(at: folder) }
    try floatBytes(externalWeights).write(to: folder.appendingPathComponent("w.bin"))
    try Data(repeating: 7, count: 10).write(to: folder.appendingPathComponent("tiny.bin"))

    #expect(externalFailure(externalTensor("W", [4, 3], location: "w.bin", offset: 1000), folder: folder)
        .contains("beyond the end"))
    #expect(externalFailure(externalTensor("W", [4, 3], location: "w.bin", offset: 8, length: 48), folder: folder)
        .contains("runs past the end"))
    #expect(externalFailure(externalTensor("W", [4, 3], location: "w.bin", length: 40), folder: folder)
        .contains("needs 48"))
    #expect(externalFailure(externalTensor("W", [4, 3], location: "missing.bin"), folder: folder)
        .contains("does not exist"))
    #expect(externalFailure(externalTensor("W", [4, 3], location: "w.bin", offset: -1), folder: folder)
        .contains("invalid external data offset"))

    // A 10-byte file claiming a 1 GiB and a 4 TiB tensor: refused from the sizes, before any allocation.
    let start = Date()
    #expect(externalFailure(externalTensor("W", [1 << 28], location: "tiny.bin"), folder: folder)
        .contains("tensor type needs 1073741824"))
    #expect(externalFailure(externalTensor("W", [1 << 20, 1 << 20], location: "tiny.bin"), folder: folder)
        .contains("refused as absurd"))
    #expect(Date().timeIntervalSince(start) < 1)
}

// MARK: Broken graphs

@Test func brokenGraphsEndInDiagnostics() {
    let input = valueInfo("x", ONNXType.float, [1, 4])
    func errors(_ nodes: [Onnx_NodeProto], inputs: [Onnx_ValueInfoProto]? = nil, outputs: [String] = ["y"],
                initializers: [Onnx_TensorProto] = []) -> String {
        importErrors(model(nodes: nodes, inputs: inputs ?? [input], outputs: outputs, initializers: initializers))
            .map(\.description).joined(separator: "\n")
    }
    // A cycle: a reads b, b reads a.
    #expect(errors([node("Relu", ["b"], ["a"]), node("Relu", ["a"], ["b"]), node("Relu", ["b"], ["y"])])
        .contains("not in topological order or has a cycle"))
    // A node reading its own output.
    #expect(errors([node("Add", ["x", "y"], ["y"])]).contains("not in topological order or has a cycle"))
    // Two nodes defining one name.
    #expect(errors([node("Relu", ["x"], ["y"]), node("Sigmoid", ["x"], ["y"])]).contains("already defined"))
    // A missing initializer.
    #expect(errors([node("MatMul", ["x", "W"], ["y"])]).contains("input 'W' is not a graph input, an initializer"))
    // An output nothing produces.
    #expect(errors([node("Relu", ["x"], ["z"])]).contains("graph output 'y' is not produced"))
    // Huge and negative declared dimensions.
    #expect(errors([node("Relu", ["x"], ["y"])], inputs: [valueInfo("x", ONNXType.float, [.size(1 << 50), 4])])
        .contains("negative or absurd"))
    #expect(errors([node("Relu", ["x"], ["y"])], inputs: [valueInfo("x", ONNXType.float, [-5, 4])])
        .contains("negative or absurd"))
    #expect(errors([node("Relu", ["x"], ["y"])], inputs: [valueInfo("x", ONNXType.float, [.size(1 << 20), .size(1 << 20), .size(1 << 20)])])
        .contains("more than 2^40 elements"))
    // Initializers with negative dimensions or the wrong amount of data.
    #expect(errors([node("Add", ["x", "b"], ["y"])], initializers: [floatTensor("b", [-4], [1, 2, 3, 4])])
        .contains("invalid dimension -4"))
    #expect(errors([node("Add", ["x", "b"], ["y"])], initializers: [floatTensor("b", [4], [1, 2, 3], raw: true)])
        .contains("12 bytes of raw_data"))
    #expect(errors([node("Add", ["x", "b"], ["y"])], initializers: [floatTensor("b", [4], [1, 2, 3])])
        .contains("3 values in float_data"))
    // Operands the type rules refuse.
    #expect(errors([node("MatMul", ["x", "x"], ["y"])]).contains("refuses these operands"))
    // An unsupported element type.
    #expect(errors([node("Relu", ["x"], ["y"])], inputs: [valueInfo("x", ONNXType.double, [2])])
        .contains("element type double"))
}

@Test func wrongInputFilesAreRefusedBeforeWriting() throws {
    let folder = try temporaryFolder("wrong-input")
    defer { try? FileManager.default.removeItem(at: folder) }
    let cnn = repositoryRoot.appendingPathComponent("Examples/models/cnn.onnx").path
    let badInput = folder.appendingPathComponent("bad.npy").path
    try NumPyFile.write(try Tensor(TensorType([1, 1, 28, 27], .f32), floats: [Float](repeating: 0, count: 756)), path: badInput)
    let outputs = folder.appendingPathComponent("out")
    do {
        _ = try runModel(RunRequest(modelPath: cnn, inputs: [RunInput(name: nil, path: badInput)], outputDirectory: outputs.path))
        Issue.record("a 28x27 image was accepted for a 28x28 model")
    } catch {
        #expect(error.diagnostics.count == 1)
        #expect(error.description.contains("dimension 3 of input 'input' is 28"))
    }
    #expect(!FileManager.default.fileExists(atPath: outputs.path))
    do {
        _ = try runModel(RunRequest(modelPath: cnn, inputs: [RunInput(name: "image", path: badInput)], outputDirectory: outputs.path))
        Issue.record("an input named 'image' was accepted")
    } catch {
        #expect(error.description.contains("'image', which is not an input"))
    }
    #expect(!FileManager.default.fileExists(atPath: outputs.path))
}

@Test func outputNamesCannotLeaveTheOutputFolder() {
    #expect(outputFileName("probabilities") == "probabilities.npy")
    #expect(outputFileName("../../etc/passwd") == "_.._.._etc_passwd.npy")
    #expect(outputFileName("/abs") == "_abs.npy")
    #expect(outputFileName("..") == "_...npy")
    #expect(outputFileName("") == "_.npy")
    #expect(outputFileName("a:b\\c d") == "a_b_c_d.npy")
}

// MARK: Mutation fuzz

/// SplitMix64: a small, fixed-seed generator so every run tries the same mutants.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One mutant of `bytes`: flipped bits, overwritten bytes, a truncation, an inserted or deleted run,
/// a varint made huge, or random bytes.
func mutate(_ bytes: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
    var result = bytes
    guard !result.isEmpty else { return result }
    switch random.next() % 7 {
    case 0:
        for _ in 0..<(1 + Int(random.next() % 8)) {
            let index = Int(random.next() % UInt64(result.count))
            result[index] ^= UInt8(1 << (random.next() % 8))
        }
    case 1:
        for _ in 0..<(1 + Int(random.next() % 4)) {
            result[Int(random.next() % UInt64(result.count))] = UInt8(truncatingIfNeeded: random.next())
        }
    case 2:
        result = Array(result.prefix(Int(random.next() % UInt64(result.count))))
    case 3:
        let index = Int(random.next() % UInt64(result.count + 1))
        let run = (0..<(1 + Int(random.next() % 16))).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        result.insert(contentsOf: run, at: index)
    case 4:
        let start = Int(random.next() % UInt64(result.count))
        let end = min(result.count, start + 1 + Int(random.next() % 32))
        result.removeSubrange(start..<end)
    case 5:
        // Varint bytes with the continuation bit set inflate lengths and dimension values.
        let index = Int(random.next() % UInt64(result.count))
        for offset in 0..<min(5, result.count - index) { result[index + offset] |= 0x80 }
    default:
        result = (0..<Int(random.next() % 512)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    }
    return result
}

/// Largest graph (sum of value sizes) the fuzz test interprets after a successful import.
let fuzzInterpretLimit = 1 << 24

@Test func mutatedModelsEndInDiagnosticsNeverCrashes() throws {
    let folder = repositoryRoot.appendingPathComponent("Examples/models")
    let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".onnx") }.sorted()
    #expect(files.count >= 3)
    var random = SplitMix64(state: 20_261_124)
    let mutantsPerFile = 1200
    var imported = 0, refused = 0, interpreted = 0
    let start = Date()
    for file in files {
        let original = try [UInt8](Data(contentsOf: folder.appendingPathComponent(file)))
        for _ in 0..<mutantsPerFile {
            let mutant = mutate(original, &random)
            let result: ONNXImportResult
            do {
                // A model folder that holds no data files, so a mutated external reference is refused.
                result = try ONNXImporter.importModel(data: Data(mutant), modelName: file, baseDirectory: "/nonexistent-sieve-folder")
            } catch {
                #expect(!error.diagnostics.isEmpty)
                #expect(error.diagnostics.allSatisfy { $0.severity != .note })
                refused += 1
                continue
            }
            imported += 1
            // A mutant that still imports is a valid graph: interpreting it must not crash either.
            let size = result.graph.values.reduce(0) { $0 + ($1.type.elementCount ?? .max / 2) }
            guard size <= fuzzInterpretLimit else { continue }
            let inputs = try result.graph.inputs.map { id in
                let type = result.graph.values[id.index].type
                return try Tensor(shape: type.shape, elementType: type.elementType,
                                  values: (0..<(type.elementCount ?? 0)).map { Double($0 % 7) * 0.1 })
            }
            _ = try? Interpreter(graph: result.graph).run(inputs)
            interpreted += 1
        }
    }
    let seconds = Date().timeIntervalSince(start)
    print("fuzz: \(files.count * mutantsPerFile) mutants of \(files.joined(separator: ", ")): \(refused) refused with diagnostics, \(imported) still valid (\(interpreted) interpreted), \(String(format: "%.1f", seconds)) s")
    #expect(refused > 0)
}
