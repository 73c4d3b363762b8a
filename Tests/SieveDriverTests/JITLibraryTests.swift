// The SieveJIT library in process: a model loaded from ONNX, compiled by the LLVM JIT and called on arrays gives what
// the reference interpreter computes (dense and 2:4), refuses inputs of the wrong shape, type or name with a message
// that names them, and reports bad files and options as errors rather than crashing.

import Foundation
import SieveDriver
import SieveFormats
import SieveInterpreter
import SieveJIT
import Synchronization
import Testing

@Suite struct JITLibraryTests {
    static let mlp = exampleFolder.appendingPathComponent("mlp.onnx")
    static let encoder = exampleFolder.appendingPathComponent("encoder.onnx")

    /// A model's sample input as a SieveJIT tensor.
    static func sample(_ file: String) throws -> SieveJIT.Tensor {
        let tensor = try SieveInterpreter.Tensor(NumPyFile.read(path: exampleFolder.appendingPathComponent(file).path))
        return try SieveJIT.Tensor(shape: tensor.shape, elements: tensor.doubles.map { Float($0) })
    }

    /// What the reference interpreter computes for the model (after N:M pruning when `sparsity` is given).
    static func interpreted(_ model: URL, input: String, sparsity: String?) throws -> [(name: String, tensor: SieveInterpreter.Tensor)] {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var request = RunRequest(modelPath: model.path, inputs: [RunInput(name: nil, path: exampleFolder.appendingPathComponent(input).path)],
                                 outputDirectory: folder.path)
        if let sparsity { request.sparsity = SparsifyOptions(sparsity: try SparsifyOptions.mode(sparsity, maxError: nil, targetDensity: nil)) }
        return try runModel(request).outputs
    }

    static func largestDifference(_ actual: SieveJIT.Tensor, _ expected: SieveInterpreter.Tensor) throws -> Double {
        #expect(actual.shape == expected.shape && actual.dataType == .float32)
        let values = try actual.elements(as: Float.self).map(Double.init)
        #expect(values.count == expected.doubles.count)
        return zip(values, expected.doubles).map { abs($0 - $1) }.max() ?? .infinity
    }

    @Test func theMLPMatchesTheInterpreter() throws {
        let model = try Model(contentsOf: JITLibraryTests.mlp, options: Options(inputShapes: ["input": [4, 64]], threads: 2))
        #expect(model.inputs == [TensorDescription(name: "input", shape: [4, 64], dataType: .float32)])
        #expect(model.outputs == [TensorDescription(name: "probabilities", shape: [4, 10], dataType: .float32)])
        let input = try SieveJIT.Tensor(numPyFile: exampleFolder.appendingPathComponent("mlp.input.npy"))
        #expect(input == (try JITLibraryTests.sample("mlp.input.npy")))
        let outputs = try model.run(["input": input])
        #expect(Array(outputs.keys) == ["probabilities"])
        let expected = try JITLibraryTests.interpreted(JITLibraryTests.mlp, input: "mlp.input.npy", sparsity: nil)
        let actual = try #require(outputs["probabilities"])
        #expect(try JITLibraryTests.largestDifference(actual, expected[0].tensor) <= 1e-6)
        // A second run on the same context gives the same bytes, and so do runs from several threads at once (serialised).
        #expect(try model.run([try JITLibraryTests.sample("mlp.input.npy")]) == [actual])
        let results = Mutex<[SieveJIT.Tensor?]>(Array(repeating: nil, count: 4))
        DispatchQueue.concurrentPerform(iterations: 4) { index in
            let output = try? model.run(["input": input])["probabilities"]
            results.withLock { $0[index] = output }
        }
        #expect(results.withLock { $0 } == Array(repeating: actual, count: 4))
    }

    @Test func theSparseEncoderMatchesTheInterpreter() throws {
        let model = try Model(contentsOf: JITLibraryTests.encoder, options: Options(sparsity: "2:4"))
        let actual = try #require(try model.run(["x": try JITLibraryTests.sample("encoder.input.npy")])["y"])
        let expected = try JITLibraryTests.interpreted(JITLibraryTests.encoder, input: "encoder.input.npy", sparsity: "2:4")
        // The interpreter computes in double where the kernels sum floats in another order; LayerNormalized outputs near 1.
        #expect(try JITLibraryTests.largestDifference(actual, expected[0].tensor) <= 1e-4)
        // And 2:4 pruning changed the outputs: the comparison is with the pruned model, not the dense one.
        let dense = try JITLibraryTests.interpreted(JITLibraryTests.encoder, input: "encoder.input.npy", sparsity: nil)
        #expect(try JITLibraryTests.largestDifference(actual, dense[0].tensor) > 1e-3)
    }

    @Test func wrongInputsAreRefusedByName() throws {
        let model = try Model(contentsOf: JITLibraryTests.mlp)  // the open batch dimension becomes 1
        #expect(model.inputs.map(\.shape) == [[1, 64]])
        func message(_ body: () throws -> Void) -> String {
            do {
                try body()
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        let pixels = [Float](repeating: 1, count: 64)
        #expect(message { _ = try model.run(["input": try SieveJIT.Tensor(shape: [2, 32], elements: pixels)]) }
            == "input 'input' must be float32 1x64, found float32 2x32")
        #expect(message { _ = try model.run(["input": try SieveJIT.Tensor(shape: [1, 64], elements: pixels.map { Int64($0) })]) }
            == "input 'input' must be float32 1x64, found int64 1x64")
        #expect(message { _ = try model.run([:]) } == "input 'input' (float32 1x64) is missing")
        let extra = message { _ = try model.run(["input": try SieveJIT.Tensor(shape: [1, 64], elements: pixels), "pixels": try SieveJIT.Tensor(shape: [1], elements: [Float(0)])]) }
        #expect(extra == "'pixels' is not an input of the model (inputs: input)")
        #expect(message { _ = try model.run([]) } == "the model takes 1 inputs (input), 0 were given")
        #expect(message { _ = try SieveJIT.Tensor(shape: [1, 64], elements: [Float(1)]) } == "shape 1x64 holds 64 elements, 1 were given")
        #expect(message { _ = try SieveJIT.Tensor(shape: [-1], elements: [Float(1)]) } == "shape -1 has a negative dimension")
        #expect(message { _ = try SieveJIT.Tensor(shape: [2], dataType: .float16, bytes: [0, 0]) }
            == "a float16 tensor of shape 2 needs 2 elements (4 bytes), 2 bytes were given")
        #expect(message { _ = try SieveJIT.Tensor(shape: [1], elements: [Float(1)]).elements(as: Int32.self) }
            == "the tensor holds float32, not int32 (Int32)")
        // The model still runs after refusing those.
        let probabilities = try #require(try model.run(["input": try SieveJIT.Tensor(shape: [1, 64], elements: pixels)])["probabilities"])
        #expect(abs(try probabilities.elements(as: Float.self).reduce(0, +) - 1) < 1e-5)
    }

    @Test func badFilesAndOptionsAreErrors() throws {
        func message(_ url: URL, _ options: Options = Options()) -> String {
            do {
                _ = try Model(contentsOf: url, options: options)
                return "no error"
            } catch {
                return error.message
            }
        }
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let missing = folder.appendingPathComponent("missing.onnx")
        #expect(message(missing).contains("missing.onnx"), "\(message(missing))")
        let garbage = folder.appendingPathComponent("garbage.onnx")
        try Data("not a model".utf8).write(to: garbage)
        #expect(message(garbage).contains("garbage.onnx"), "\(message(garbage))")
        #expect(message(JITLibraryTests.mlp, Options(sparsity: "3:2")).contains("3:2"), "\(message(JITLibraryTests.mlp, Options(sparsity: "3:2")))")
        #expect(message(JITLibraryTests.mlp, Options(target: "pentium")).contains("unknown target 'pentium'"))
        #expect(message(JITLibraryTests.mlp, Options(threads: 0)) == "error: threads must be at least 1, found 0")
        #expect(message(try #require(URL(string: "https://example.com/mlp.onnx"))) == "https://example.com/mlp.onnx: only file URLs can be loaded")
    }
}
