// Builders of small ONNX models in memory, like onnx.helper does in Python, shared by the importer tests and the
// driver's tests of hostile models: graph inputs, nodes, attributes, tensors and the model around them.

import Foundation
import SieveONNX

/// A dimension of a declared input: a size, or a symbolic name.
public enum Dim: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral, Sendable {
    case size(Int64)
    case symbol(String)
    public init(integerLiteral value: Int64) { self = .size(value) }
    public init(stringLiteral value: String) { self = .symbol(value) }
}

/// ONNX element type codes used in the tests.
public enum ONNXType {
    public static let float: Int32 = 1
    public static let uint8: Int32 = 2
    public static let int8: Int32 = 3
    public static let int32: Int32 = 6
    public static let int64: Int32 = 7
    public static let bool: Int32 = 9
    public static let double: Int32 = 11
}

/// A graph input or output of `elementType`, with a shape when `dims` is given.
public func valueInfo(_ name: String, _ elementType: Int32 = ONNXType.float, _ dims: [Dim]?) -> Onnx_ValueInfoProto {
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

/// A node of `opType` reading `inputs` and writing `outputs`.
public func node(_ opType: String, _ inputs: [String], _ outputs: [String], name: String = "", domain: String = "",
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

/// An INT attribute.
public func intAttribute(_ name: String, _ value: Int64) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .int
    attribute.i = value
    return attribute
}

/// A FLOAT attribute.
public func floatAttribute(_ name: String, _ value: Float) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .float
    attribute.f = value
    return attribute
}

/// An INTS attribute.
public func intsAttribute(_ name: String, _ values: [Int64]) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .ints
    attribute.ints = values
    return attribute
}

/// A FLOATS attribute.
public func floatsAttribute(_ name: String, _ values: [Float]) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .floats
    attribute.floats = values
    return attribute
}

/// A STRING attribute.
public func stringAttribute(_ name: String, _ value: String) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .string
    attribute.s = Data(value.utf8)
    return attribute
}

/// A STRINGS attribute.
public func stringsAttribute(_ name: String, _ values: [String]) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .strings
    attribute.strings = values.map { Data($0.utf8) }
    return attribute
}

/// A TENSOR attribute.
public func tensorAttribute(_ name: String, _ tensor: Onnx_TensorProto) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .tensor
    attribute.t = tensor
    return attribute
}

/// An 8-bit or int32 initializer (ONNX keeps all three in `int32_data`).
public func integerTensor(_ name: String, _ dataType: Int32, _ dims: [Int64], _ values: [Int32]) -> Onnx_TensorProto {
    var tensor = Onnx_TensorProto()
    tensor.name = name
    tensor.dataType = dataType
    tensor.dims = dims
    tensor.int32Data = values
    return tensor
}

/// A float tensor in `float_data`, or in `raw_data` when `raw` is set.
public func floatTensor(_ name: String, _ dims: [Int64], _ values: [Float], raw: Bool = false) -> Onnx_TensorProto {
    var tensor = Onnx_TensorProto()
    tensor.name = name
    tensor.dataType = ONNXType.float
    tensor.dims = dims
    if raw {
        tensor.rawData = floatBytes(values)
    } else {
        tensor.floatData = values
    }
    return tensor
}

/// An int64 tensor in `int64_data`.
public func int64Tensor(_ name: String, _ dims: [Int64], _ values: [Int64]) -> Onnx_TensorProto {
    var tensor = Onnx_TensorProto()
    tensor.name = name
    tensor.dataType = ONNXType.int64
    tensor.dims = dims
    tensor.int64Data = values
    return tensor
}

/// A tensor whose data lives in a file beside the model.
public func externalTensor(_ name: String, _ dims: [Int64], location: String, offset: Int? = nil, length: Int? = nil) -> Onnx_TensorProto {
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

/// A model of one graph, with the graph outputs named only (no type declared): the importer tests declare what
/// the importer infers (`model` in SieveONNXTests), hostile models leave it out.
public func modelProto(nodes: [Onnx_NodeProto], inputs: [Onnx_ValueInfoProto], outputs: [String],
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
    return model
}

/// Little-endian bytes of floats.
public func floatBytes(_ values: [Float]) -> Data {
    var bytes = Data()
    for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
    return bytes
}
