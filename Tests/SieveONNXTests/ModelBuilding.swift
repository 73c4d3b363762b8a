// Helpers that build small ONNX models in memory for the importer tests, like onnx.helper does in Python.
// Models are ModelProto values; tests serialize them and import the bytes as a file would be.

import Foundation
import SieveIR
@testable import SieveONNX
import SwiftProtobuf

/// A dimension of a declared input: a size, or a symbolic name.
enum Dim: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral {
    case size(Int64)
    case symbol(String)
    init(integerLiteral value: Int64) { self = .size(value) }
    init(stringLiteral value: String) { self = .symbol(value) }
}

/// ONNX element type codes used in the tests.
enum ONNXType {
    static let float: Int32 = 1
    static let uint8: Int32 = 2
    static let int8: Int32 = 3
    static let int32: Int32 = 6
    static let int64: Int32 = 7
    static let bool: Int32 = 9
    static let double: Int32 = 11
}

func valueInfo(_ name: String, _ elementType: Int32 = ONNXType.float, _ dims: [Dim]?) -> Onnx_ValueInfoProto {
    var info = Onnx_ValueInfoProto()
    info.name = name
    var tensor = Onnx_TypeProto.Tensor()
    tensor.elemType = elementType
    if let dims {
        var shape = Onnx_TensorShapeProto()
        for dim in dims {
            var entry = Onnx_TensorShapeProto.Dimension()
            switch dim {
            case let .size(value): entry.dimValue = value
            case let .symbol(name): entry.dimParam = name
            }
            shape.dim.append(entry)
        }
        tensor.shape = shape
    }
    info.type.tensorType = tensor
    return info
}

func node(_ opType: String, _ inputs: [String], _ outputs: [String], name: String = "", domain: String = "",
          _ attributes: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
    var node = Onnx_NodeProto()
    node.opType = opType
    node.input = inputs
    node.output = outputs
    node.name = name
    node.domain = domain
    node.attribute = attributes
    return node
}

func intAttribute(_ name: String, _ value: Int64) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .int
    attribute.i = value
    return attribute
}

func floatAttribute(_ name: String, _ value: Float) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .float
    attribute.f = value
    return attribute
}

func intsAttribute(_ name: String, _ values: [Int64]) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .ints
    attribute.ints = values
    return attribute
}

func tensorAttribute(_ name: String, _ tensor: Onnx_TensorProto) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .tensor
    attribute.t = tensor
    return attribute
}

/// A float tensor in `float_data`, or in `raw_data` when `raw` is set.
func floatTensor(_ name: String, _ dims: [Int64], _ values: [Float], raw: Bool = false) -> Onnx_TensorProto {
    var tensor = Onnx_TensorProto()
    tensor.name = name
    tensor.dataType = ONNXType.float
    tensor.dims = dims
    if raw {
        var bytes = Data()
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        tensor.rawData = bytes
    } else {
        tensor.floatData = values
    }
    return tensor
}

func int64Tensor(_ name: String, _ dims: [Int64], _ values: [Int64]) -> Onnx_TensorProto {
    var tensor = Onnx_TensorProto()
    tensor.name = name
    tensor.dataType = ONNXType.int64
    tensor.dims = dims
    tensor.int64Data = values
    return tensor
}

/// A tensor whose data lives in a file beside the model.
func externalTensor(_ name: String, _ dims: [Int64], location: String, offset: Int? = nil, length: Int? = nil) -> Onnx_TensorProto {
    var tensor = Onnx_TensorProto()
    tensor.name = name
    tensor.dataType = ONNXType.float
    tensor.dims = dims
    tensor.dataLocation = .external
    func entry(_ key: String, _ value: String) -> Onnx_StringStringEntryProto {
        var entry = Onnx_StringStringEntryProto()
        entry.key = key
        entry.value = value
        return entry
    }
    tensor.externalData = [entry("location", location)]
    if let offset { tensor.externalData.append(entry("offset", String(offset))) }
    if let length { tensor.externalData.append(entry("length", String(length))) }
    return tensor
}

func model(nodes: [Onnx_NodeProto], inputs: [Onnx_ValueInfoProto], outputs: [String],
           initializers: [Onnx_TensorProto] = [], opset: Int64 = 17, irVersion: Int64 = 8,
           extraDomains: [String: Int64] = [:]) -> Onnx_ModelProto {
    var graph = Onnx_GraphProto()
    graph.name = "test"
    graph.node = nodes
    graph.input = inputs
    graph.output = outputs.map { name in
        var info = Onnx_ValueInfoProto()
        info.name = name
        return info
    }
    graph.initializer = initializers
    var model = Onnx_ModelProto()
    model.irVersion = irVersion
    var opsetEntry = Onnx_OperatorSetIdProto()
    opsetEntry.domain = ""
    opsetEntry.version = opset
    model.opsetImport = [opsetEntry]
    for (domain, version) in extraDomains.sorted(by: { $0.key < $1.key }) {
        var entry = Onnx_OperatorSetIdProto()
        entry.domain = domain
        entry.version = version
        model.opsetImport.append(entry)
    }
    model.graph = graph
    return declaringOutputRanks(model)
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

/// Little-endian bytes of floats.
func floatBytes(_ values: [Float]) -> Data {
    var bytes = Data()
    for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
    return bytes
}
