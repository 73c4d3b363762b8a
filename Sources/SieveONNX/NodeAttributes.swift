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

    /// Marks attributes as read that do not change inference results (for example Dropout's seed).
    mutating func ignore(_ names: String...) {
        for name in names { read.insert(name) }
    }

    private mutating func get(_ name: String, _ type: Onnx_AttributeProto.AttributeType,
                              _ typeName: String) throws(NodeError) -> Onnx_AttributeProto? {
        read.insert(name)
        guard let attribute = byName[name] else { return nil }
        // Old exporters leave `type` unset; accept the attribute when the matching field is filled.
        if attribute.hasType, attribute.type != type {
            throw NodeError("attribute '\(name)' must be \(typeName), found \(attribute.type)")
        }
        return attribute
    }

    mutating func int(_ name: String) throws(NodeError) -> Int64? {
        try get(name, .int, "an int")?.i
    }

    mutating func int(_ name: String, default value: Int64) throws(NodeError) -> Int64 {
        try int(name) ?? value
    }

    mutating func float(_ name: String) throws(NodeError) -> Float? {
        try get(name, .float, "a float")?.f
    }

    mutating func float(_ name: String, default value: Float) throws(NodeError) -> Float {
        try float(name) ?? value
    }

    mutating func ints(_ name: String) throws(NodeError) -> [Int64]? {
        try get(name, .ints, "a list of ints")?.ints
    }

    mutating func floats(_ name: String) throws(NodeError) -> [Float]? {
        try get(name, .floats, "a list of floats")?.floats
    }

    mutating func string(_ name: String) throws(NodeError) -> String? {
        guard let attribute = try get(name, .string, "a string") else { return nil }
        return String(decoding: attribute.s, as: UTF8.self)
    }

    mutating func string(_ name: String, default value: String) throws(NodeError) -> String {
        try string(name) ?? value
    }

    mutating func tensor(_ name: String) throws(NodeError) -> Onnx_TensorProto? {
        try get(name, .tensor, "a tensor")?.t
    }

    mutating func strings(_ name: String) throws(NodeError) -> [String]? {
        try get(name, .strings, "a list of strings")?.strings.map { String(decoding: $0, as: UTF8.self) }
    }

    mutating func graph(_ name: String) throws(NodeError) -> Onnx_GraphProto? {
        guard let attribute = try get(name, .graph, "a graph") else { return nil }
        guard attribute.hasG else { throw NodeError("attribute '\(name)' holds no graph") }
        return attribute.g
    }
}
