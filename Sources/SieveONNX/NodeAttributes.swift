// Typed access to an ONNX node's attributes, remembering which were read.
// Attributes no converter read are reported, so an attribute Sieve does not understand is never silently ignored.

import SieveIR

/// Why one node could not be converted; the importer attaches the node's location.
struct NodeError: Error {
    var message: String
    /// Set when the failure was already reported (by the nodes of an inlined subgraph): the node only fails.
    var alreadyReported = false
    init(_ message: String) { self.message = message }
}

/// A node's attributes by name, with typed getters that check the attribute's type.
struct NodeAttributes {
    private var byName: [String: Onnx_AttributeProto] = [:]
    /// Names the converter asked for, present or not.
    private(set) var read: Set<String> = []
    /// Names given more than once.
    private(set) var duplicates: [String] = []

    init(_ attributes: [Onnx_AttributeProto]) {
        for attribute in attributes {
            if byName[attribute.name] != nil { duplicates.append(attribute.name) }
            byName[attribute.name] = attribute
        }
    }

    /// Attribute names present on the node that no getter read.
    var unread: [String] { byName.keys.filter { !read.contains($0) }.sorted() }

    /// Whether the attribute is present (and marks it read).
    mutating func has(_ name: String) -> Bool {
        read.insert(name)
        return byName[name] != nil
    }

    /// Marks an attribute as read that does not change inference results (for example Dropout's seed), after
    /// checking it has the schema's type.
    mutating func ignore(_ name: String, _ type: Onnx_AttributeProto.AttributeType) throws(NodeError) {
        _ = try get(name, type)
    }

    /// The attribute when present, after checking it has the type the op's schema gives it. The importer has
    /// already checked that `type` and the value field agree (``attributeFieldProblem(_:of:irVersion:)``); before IR
    /// version 2 `type` may be unset, and the value field set stands for it.
    private mutating func get(_ name: String, _ type: Onnx_AttributeProto.AttributeType) throws(NodeError) -> Onnx_AttributeProto? {
        read.insert(name)
        guard let attribute = byName[name] else { return nil }
        let given = attribute.hasType ? attribute.type : valueFields(of: attribute).first?.type ?? type
        if given != type {
            throw NodeError("attribute '\(name)' must be of type \(onnxAttributeTypeName(type)), found \(onnxAttributeTypeName(given))")
        }
        return attribute
    }

    mutating func int(_ name: String) throws(NodeError) -> Int64? {
        try get(name, .int)?.i
    }

    mutating func int(_ name: String, default value: Int64) throws(NodeError) -> Int64 {
        try int(name) ?? value
    }

    mutating func float(_ name: String) throws(NodeError) -> Float? {
        try get(name, .float)?.f
    }

    mutating func float(_ name: String, default value: Float) throws(NodeError) -> Float {
        try float(name) ?? value
    }

    mutating func ints(_ name: String) throws(NodeError) -> [Int64]? {
        try get(name, .ints)?.ints
    }

    mutating func floats(_ name: String) throws(NodeError) -> [Float]? {
        try get(name, .floats)?.floats
    }

    mutating func string(_ name: String) throws(NodeError) -> String? {
        guard let attribute = try get(name, .string) else { return nil }
        return String(decoding: attribute.s, as: UTF8.self)
    }

    mutating func string(_ name: String, default value: String) throws(NodeError) -> String {
        try string(name) ?? value
    }

    mutating func tensor(_ name: String) throws(NodeError) -> Onnx_TensorProto? {
        try get(name, .tensor)?.t
    }

    mutating func strings(_ name: String) throws(NodeError) -> [String]? {
        try get(name, .strings)?.strings.map { String(decoding: $0, as: UTF8.self) }
    }

    mutating func graph(_ name: String) throws(NodeError) -> Onnx_GraphProto? {
        guard let attribute = try get(name, .graph) else { return nil }
        guard attribute.hasG else { throw NodeError("attribute '\(name)' holds no graph") }
        return attribute.g
    }
}
