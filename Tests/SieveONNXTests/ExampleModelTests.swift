// The committed example models (Examples/models) imported and interpreted, against onnxruntime's outputs.
// Examples/models/README.md says how the models and reference outputs were made.

import Foundation
import SieveDriver
import SieveFormats
import SieveIR
import SieveInterpreter
import SieveONNXTestSupport
import Testing

/// Each example model and the output its reference file holds.
let exampleModels: [(model: String, output: String)] = [("mlp", "probabilities"), ("encoder", "y"), ("cnn", "probabilities")]

/// Largest accepted difference from onnxruntime: |sieve - onnxruntime| <= 1e-4 * max(1, |onnxruntime|).
let exampleTolerance = 1e-4

@Test(arguments: exampleModels.map(\.model))
func exampleModelMatchesOnnxRuntime(_ name: String) throws {
    let folder = repositoryRoot.appendingPathComponent("Examples/models")
    let output = try #require(exampleModels.first { $0.model == name }?.output)
    let outputFolder = try temporaryFolder("example-\(name)")
    defer { try? FileManager.default.removeItem(at: outputFolder) }
    let result = try runModel(RunRequest(
        modelPath: folder.appendingPathComponent("\(name).onnx").path,
        inputs: [RunInput(name: nil, path: folder.appendingPathComponent("\(name).input.npy").path)],
        outputDirectory: outputFolder.path))
    #expect(result.writtenFiles == [outputFolder.appendingPathComponent("\(output).npy").path])
    let actual = try Tensor(NumPyFile.read(path: outputFolder.appendingPathComponent("\(output).npy").path))
    let expected = try Tensor(NumPyFile.read(path: folder.appendingPathComponent("\(name).\(output).npy").path))
    #expect(actual.type == expected.type)
    let worst = zip(actual.doubles, expected.doubles).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
    print("example \(name): max difference from onnxruntime \(worst) (tolerance \(exampleTolerance))")
    #expect(worst <= exampleTolerance)
}

@Test func mlpBatchComesFromTheInputFile() throws {
    // mlp.onnx has a dynamic batch; the sample input has 4 rows, so the graph is imported with batch 4.
    let folder = repositoryRoot.appendingPathComponent("Examples/models")
    let input = try Tensor(NumPyFile.read(path: folder.appendingPathComponent("mlp.input.npy").path))
    #expect(input.shape == [4, 64])
    let model = try loadModel(path: folder.appendingPathComponent("mlp.onnx").path, inputShapes: ["input": [4, 64]])
    #expect(model.graph.type(of: model.graph.outputs[0])?.shape == [4, 10])
    #expect(model.diagnostics.isEmpty)
}

@Test func inspectReportsInterfaceOpsParametersAndFlops() throws {
    let path = repositoryRoot.appendingPathComponent("Examples/models/cnn.onnx").path
    let report = try runInspect(InspectRequest(path: path, printIR: true)).report
    #expect(report.contains("  input: tensor<1x1x28x28xf32>"))
    #expect(report.contains("  probabilities: tensor<1x10xf32>"))
    #expect(report.contains("  conv2d        2"))
    // conv1 8x1x3x3 + 8, bn 4x8, conv2 16x8x3x3 + 16, fc 10x784 + 10.
    let parameters: Int = 72 + 8 + 32 + 1152 + 16 + 7840 + 10
    #expect(report.contains("parameters: \(parameters) elements in 10 constants, \(parameters * 4) bytes"))
    // conv1: 2 * (8*28*28) * (1*3*3) + bias (8*28*28).
    let conv1: Int = 2 * 8 * 28 * 28 * 9 + 8 * 28 * 28
    let fc: Int = 2 * 10 * 784 + 10
    #expect(report.contains("op #2 conv2d (node #0 'conv1'): \(conv1)"))
    #expect(report.contains("gemm (node #8 'fc'): \(fc)"))
    #expect(report.contains("graph @cnn(%input: tensor<1x1x28x28xf32>)"))
}

@Test func runReadsTensorProtoInputs() throws {
    let folder = try temporaryFolder("pb-input")
    defer { try? FileManager.default.removeItem(at: folder) }
    let models = repositoryRoot.appendingPathComponent("Examples/models")
    let input = try Tensor(NumPyFile.read(path: models.appendingPathComponent("mlp.input.npy").path))
    let pb = folder.appendingPathComponent("input_0.pb")
    try floatTensor("input", input.shape.map(Int64.init), try #require(input.floats)).serializedData().write(to: pb)
    let result = try runModel(RunRequest(modelPath: models.appendingPathComponent("mlp.onnx").path,
                                         inputs: [RunInput(parsing: "input=" + pb.path)],
                                         outputDirectory: folder.appendingPathComponent("out").path))
    let expected = try Tensor(NumPyFile.read(path: models.appendingPathComponent("mlp.probabilities.npy").path))
    #expect(try #require(result.outputs.first?.tensor.maxAbsDifference(expected)) <= 1e-4)
}

@Test func modelsWithSeveralInputsNeedNamedInputs() throws {
    let folder = try temporaryFolder("two-inputs")
    defer { try? FileManager.default.removeItem(at: folder) }
    let ir = folder.appendingPathComponent("add.sir")
    try """
        graph @add(%a: tensor<2xf32>, %b: tensor<2xf32>) -> tensor<2xf32> {
          %sum = add %a, %b : tensor<2xf32>
          return %sum
        }

        """.write(to: ir, atomically: true, encoding: .utf8)
    let a = folder.appendingPathComponent("a.npy").path, b = folder.appendingPathComponent("b.npy").path
    try NumPyFile.write(try Tensor(TensorType([2], .f32), floats: [1, 2]).constant(name: "tensor"), path: a)
    try NumPyFile.write(try Tensor(TensorType([2], .f32), floats: [10, 20]).constant(name: "tensor"), path: b)
    let out = folder.appendingPathComponent("out").path
    #expect(throws: DiagnosticError.self) {
        try runModel(RunRequest(modelPath: ir.path, inputs: [RunInput(parsing: a)], outputDirectory: out))
    }
    do {
        _ = try runModel(RunRequest(modelPath: ir.path, inputs: [RunInput(parsing: "a=" + a)], outputDirectory: out))
        Issue.record("a missing input was accepted")
    } catch {
        #expect(error.description.contains("model input 'b' (input 1, tensor<2xf32>) has no --input"))
    }
    let result = try runModel(RunRequest(modelPath: ir.path, inputs: [RunInput(parsing: "b=" + b), RunInput(parsing: "a=" + a)],
                                         outputDirectory: out))
    #expect(result.outputs.map(\.name) == ["sum"])
    #expect(try Tensor(NumPyFile.read(path: out + "/sum.npy")).floats == [11, 22])
}
