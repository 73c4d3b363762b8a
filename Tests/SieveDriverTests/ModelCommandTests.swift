// `sieve inspect` and `sieve run` through the built binary: reports, output files, and hostile models
// that must end in exit status 1 with one diagnostic and no output file written.

import Foundation
import SieveFormats
import SieveIR
import SieveInterpreter
import SieveONNX
import SwiftProtobuf
import Testing

let exampleFolder = repositoryRoot.appendingPathComponent("Examples/models")

/// A model computing y = x · W for x [1, 4] and a weight W [4, 3] given as `weight`.
func matmulModel(weight: Onnx_TensorProto, opType: String = "MatMul") throws -> Data {
    var x = Onnx_ValueInfoProto()
    x.name = "x"
    x.type.tensorType.elemType = 1
    x.type.tensorType.shape.dim = ([1, 4] as [Int64]).map { size in
        var dim = Onnx_TensorShapeProto.Dimension()
        dim.dimValue = size
        return dim
    }
    var y = Onnx_ValueInfoProto()
    y.name = "y"
    y.type.tensorType.elemType = 1
    y.type.tensorType.shape.dim = [Onnx_TensorShapeProto.Dimension(), Onnx_TensorShapeProto.Dimension()]
    var node = Onnx_NodeProto()
    node.opType = opType
    node.name = "fc"
    node.input = ["x", "W"]
    node.output = ["y"]
    var graph = Onnx_GraphProto()
    graph.name = "g"
    graph.node = [node]
    graph.input = [x]
    graph.output = [y]
    graph.initializer = [weight]
    var model = Onnx_ModelProto()
    model.irVersion = 8
    var opset = Onnx_OperatorSetIdProto()
    opset.version = 17
    model.opsetImport = [opset]
    model.graph = graph
    return try model.serializedData()
}

/// A float weight [4, 3] stored in a file beside the model.
func externalWeight(location: String, dims: [Int64] = [4, 3], offset: Int? = nil) -> Onnx_TensorProto {
    var tensor = Onnx_TensorProto()
    tensor.name = "W"
    tensor.dataType = 1
    tensor.dims = dims
    tensor.dataLocation = .external
    var entries: [(String, String)] = [("location", location)]
    if let offset { entries.append(("offset", String(offset))) }
    tensor.externalData = entries.map { key, value in
        var entry = Onnx_StringStringEntryProto()
        entry.key = key
        entry.value = value
        return entry
    }
    return tensor
}

func errorLines(_ text: String) -> [String] {
    text.split(separator: "\n").map(String.init).filter { $0.contains("error: ") }
}

@Suite(.serialized) struct ModelCommandTests {
    @Test func inspectPrintsTheReport() throws {
        let outcome = try runSieve(["inspect", exampleFolder.appendingPathComponent("mlp.onnx").path, "--input-shape", "input=8x64"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("  input: tensor<8x64xf32>"))
        #expect(outcome.stdout.contains("  probabilities: tensor<8x10xf32>"))
        #expect(outcome.stdout.contains("  matmul   3"))
        #expect(outcome.stdout.contains("op #2 matmul (node #1 'MatMul'): \(2 * 8 * 64 * 128)"))
        #expect(outcome.stderr.isEmpty)
        let batch = try runSieve(["inspect", exampleFolder.appendingPathComponent("mlp.onnx").path, "--print-ir"])
        #expect(batch.status == 0)
        #expect(batch.stderr.contains("note: input 'input' has a symbolic batch dimension 'N'; using 1"))
        #expect(batch.stdout.contains("graph @mlp(%input: tensor<1x64xf32>) -> tensor<1x10xf32> {"))
    }

    @Test func inspectAndRunAcceptTextualIR() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let ir = folder.appendingPathComponent("g.sir")
        try sampleIR.write(to: ir, atomically: true, encoding: .utf8)
        let inspect = try runSieve(["inspect", ir.path])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(inspect.stdout.contains("  x: tensor<2x3xf32>"))
        let input = folder.appendingPathComponent("x.npy")
        try NumPyFile.write(try Tensor(TensorType([2, 3], .f32), floats: [1, 2, 3, 4, 5, 6]).constant(name: "tensor"), path: input.path)
        let run = try runSieve(["run", ir.path, "--input", input.path, "--output-dir", folder.appendingPathComponent("out").path])
        #expect(run.status == 0, "\(run.stderr)")
        let output = try Tensor(NumPyFile.read(path: folder.appendingPathComponent("out/b.npy").path))
        #expect(output.type == TensorType([6], .f32))
        #expect(output.floats == [1, 2, 3, 4, 5, 6])
    }

    @Test func runWritesOneFilePerOutputMatchingOnnxRuntime() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let outcome = try runSieve(["run", exampleFolder.appendingPathComponent("mlp.onnx").path,
                                    "--input", "input=" + exampleFolder.appendingPathComponent("mlp.input.npy").path,
                                    "--output-dir", folder.path, "--interpret"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["probabilities.npy"])
        let actual = try Tensor(NumPyFile.read(path: folder.appendingPathComponent("probabilities.npy").path))
        let expected = try Tensor(NumPyFile.read(path: exampleFolder.appendingPathComponent("mlp.probabilities.npy").path))
        #expect(actual.shape == [4, 10])
        #expect(try #require(actual.maxAbsDifference(expected)) <= 1e-4)
        let help = try runSieve(["run", "--help"])
        let words = help.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: " ")
        #expect(words.contains("--interpret runs the reference interpreter instead"))
    }

    @Test func hostileModelsExitOneWithOneDiagnosticAndNoOutput() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let secret = root.appendingPathComponent("secret.bin")
        try Data(count: 48).write(to: secret)
        try Data(count: 10).write(to: folder.appendingPathComponent("tiny.bin"))
        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("link.bin").path,
                                                   withDestinationPath: secret.path)
        let input = folder.appendingPathComponent("x.npy")
        try NumPyFile.write(try Tensor(TensorType([1, 4], .f32), floats: [1, 2, 3, 4]).constant(name: "tensor"), path: input.path)
        let original = try Data(contentsOf: exampleFolder.appendingPathComponent("cnn.onnx"))

        let cases: [(String, Data, String)] = [
            ("truncated.onnx", original.prefix(original.count / 2), "not a valid ONNX model"),
            ("random.onnx", Data((0..<300).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }), "not a valid ONNX model"),
            ("absolute.onnx", try matmulModel(weight: externalWeight(location: secret.path)), "absolute external data location"),
            ("dotdot.onnx", try matmulModel(weight: externalWeight(location: "../secret.bin")), "'..' component"),
            ("symlink.onnx", try matmulModel(weight: externalWeight(location: "link.bin")), "outside the model's folder"),
            ("offset.onnx", try matmulModel(weight: externalWeight(location: "tiny.bin", offset: 4096)), "beyond the end"),
            ("huge.onnx", try matmulModel(weight: externalWeight(location: "tiny.bin", dims: [1 << 14, 1 << 14])),
             "tensor type needs 1073741824"),
            ("unsupported.onnx", try matmulModel(weight: externalWeight(location: "tiny.bin"), opType: "Einsum"),
             "op 'Einsum' (domain 'ai.onnx', opset 17) is not supported"),
        ]
        for (name, bytes, message) in cases {
            let modelPath = folder.appendingPathComponent(name).path
            try bytes.write(to: URL(fileURLWithPath: modelPath))
            let output = root.appendingPathComponent("out-\(name)")
            let run = try runSieve(["run", modelPath, "--input", "x=" + input.path, "--output-dir", output.path])
            #expect(run.status == 1 && !run.crashed && !run.timedOut, "\(name): status \(run.status)")
            let errors = errorLines(run.stderr)
            // The unsupported model also has a weight it cannot read: both are reported, each once.
            #expect(errors.count == (name == "unsupported.onnx" ? 2 : 1), "\(name): \(run.stderr)")
            #expect(run.stderr.contains(message), "\(name): \(run.stderr)")
            #expect(!FileManager.default.fileExists(atPath: output.path), "\(name) created \(output.path)")
            let inspect = try runSieve(["inspect", modelPath])
            #expect(inspect.status == 1 && inspect.stdout.isEmpty, "\(name): inspect status \(inspect.status)")
        }

        // A wrong input shape and a missing input file.
        let cnn = exampleFolder.appendingPathComponent("cnn.onnx").path
        let wrongShape = try runSieve(["run", cnn, "--input", input.path, "--output-dir", root.appendingPathComponent("o1").path])
        #expect(wrongShape.status == 1)
        #expect(errorLines(wrongShape.stderr).count == 1, "\(wrongShape.stderr)")
        #expect(wrongShape.stderr.contains("rank"))
        let missing = try runSieve(["run", cnn, "--input", root.appendingPathComponent("none.npy").path,
                                    "--output-dir", root.appendingPathComponent("o2").path])
        #expect(missing.status == 1)
        #expect(errorLines(missing.stderr).count == 1, "\(missing.stderr)")
        let contradiction = try runSieve(["inspect", cnn, "--input-shape", "input=1x3x28x28"])
        #expect(contradiction.status == 1)
        #expect(contradiction.stderr.contains("contradicts the model: dimension 1 of input 'input' is 1"))
        for folder in ["o1", "o2"] {
            #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent(folder).path))
        }
    }
}
