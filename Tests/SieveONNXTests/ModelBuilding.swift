// The importer tests' side of the model builders (SieveONNXTestSupport holds the builders themselves): models
// whose outputs declare the rank the importer infers, imported from their serialized bytes as a file would be.

import Foundation
import SieveIR
@testable import SieveONNX
import SieveONNXTestSupport
import SwiftProtobuf

/// A model of one graph whose untyped outputs declare the rank the importer infers (`declaringOutputRanks`).
func model(nodes: [Onnx_NodeProto], inputs: [Onnx_ValueInfoProto], outputs: [String],
           initializers: [Onnx_TensorProto] = [], opset: Int64 = 17, irVersion: Int64 = 8,
           extraDomains: [String: Int64] = [:]) -> Onnx_ModelProto {
    declaringOutputRanks(modelProto(nodes: nodes, inputs: inputs, outputs: outputs, initializers: initializers, opset: opset,
                                    irVersion: irVersion, extraDomains: extraDomains))
}

/// The model with each graph output that has no type declared as a tensor of the rank the importer infers, with
/// an undefined element type and unnamed dimensions: onnx's checker (and so Sieve) requires a type on every
/// output, and this one declares only what cannot contradict the inferred type. An output the importer cannot
/// infer (a model meant to be refused, external data the test has not written yet) is left without a type;
/// `importBytes` tries again with its folder and input shapes.
func declaringOutputRanks(_ model: Onnx_ModelProto, folder: String? = nil, inputShapes: [String: [Int]] = [:]) -> Onnx_ModelProto {
    var domains: [String: Int64] = [:]
    for entry in model.opsetImport { domains[entry.domain] = entry.version }
    var builder = GraphBuilder(modelName: "test.onnx", baseDirectory: folder, opset: Int(domains[""] ?? 1),
                               irVersion: Int(model.irVersion), domains: domains, graphProto: model.graph)
    builder.checksDeclarations = false
    builder.build(inputShapes: inputShapes, constantInputs: [:])
    var declared = model
    for index in declared.graph.output.indices where !declared.graph.output[index].hasType {
        guard let slot = builder.env[declared.graph.output[index].name] else { continue }
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = 0
        var shape = Onnx_TensorShapeProto()
        shape.dim = Array(repeating: Onnx_TensorShapeProto.Dimension(), count: builder.type(of: slot).rank)
        tensor.shape = shape
        declared.graph.output[index].type.tensorType = tensor
    }
    return declared
}

/// Serializes and imports a model; `folder` confines external data.
func importBytes(_ model: Onnx_ModelProto, folder: String? = nil,
                 inputShapes: [String: [Int]] = [:]) throws(DiagnosticError) -> ONNXImportResult {
    let data: Data
    do {
        data = try declaringOutputRanks(model, folder: folder, inputShapes: inputShapes).serializedData()
    } catch {
        throw DiagnosticError(.error(.unknown, "test model does not serialize: \(error)"))
    }
    return try ONNXImporter.importModel(data: data, modelName: "test.onnx", baseDirectory: folder, inputShapes: inputShapes)
}

/// The diagnostics an import throws, or an empty list when it succeeds.
func importErrors(_ model: Onnx_ModelProto, folder: String? = nil, inputShapes: [String: [Int]] = [:]) -> [Diagnostic] {
    do {
        _ = try importBytes(model, folder: folder, inputShapes: inputShapes)
        return []
    } catch {
        return error.diagnostics
    }
}

/// A fresh empty folder under the system's temporary folder.
func temporaryFolder(_ label: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-onnx-\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
