// The structural rules of onnx's checker that the frontend enforces: each node against its op's signature at the
// model's opset, attribute and tensor value fields, and declared types against the types the IR rules infer.

import SieveIR

/// No upper bound: the count of a variadic input or output list.
let variadic = Int(Int32.max)

/// What an op's schema says about a node at one opset, as `onnx.defs.get_schema` gives it: how many inputs and
/// outputs the node lists and which attributes it must carry.
///
/// The first `inputs.lowerBound` inputs must be named; later ones are optional and may be given as empty names.
/// A variadic list (upper bound `variadic`) may hold empty names anywhere, as onnx's checker allows. The same
/// holds for outputs.
struct NodeSignature: Sendable {
    /// The opset this signature holds from, until the next signature's.
    var since: Int
    var inputs: ClosedRange<Int>
    var outputs: ClosedRange<Int>
    /// The output counts the schema allows within `outputs`, when it allows only some (BatchNormalization: the
    /// inference form or the whole training form, nothing between); nil for all of them.
    var outputCounts: Set<Int>? = nil
    /// Attributes every node must give.
    var required: [String]
    /// Set when ONNX deprecated the op at `since`: its nodes are refused from then on.
    var deprecated: Bool
    /// The op that replaces a deprecated one, for the message.
    var replacement: String?
}

/// A signature that holds from opset `version`.
func since(_ version: Int, inputs: ClosedRange<Int>, outputs: ClosedRange<Int> = 1...1, outputCounts: Set<Int>? = nil,
           required: [String] = []) -> NodeSignature {
    NodeSignature(since: version, inputs: inputs, outputs: outputs, outputCounts: outputCounts, required: required,
                  deprecated: false, replacement: nil)
}

/// The signature of an op that ONNX deprecated at opset `version` in favour of `replacement`.
func deprecated(_ version: Int, use replacement: String) -> NodeSignature {
    NodeSignature(since: version, inputs: 0...variadic, outputs: 0...variadic, outputCounts: nil, required: [], deprecated: true,
                  replacement: replacement)
}

/// One ONNX op as the frontend reads it: its signatures, oldest first, and its converter.
struct ONNXOperator: Sendable {
    let signatures: [NodeSignature]
    /// Whether the op's type constraints include the narrow types (int4, uint4, int2, uint2, float8, float4:
    /// `ElementType.isNarrow`); inputs of those types are refused for every other op.
    let takesNarrowTypes: Bool
    let convert: GraphBuilder.Converter

    init(_ signatures: NodeSignature..., narrowTypes: Bool = false, convert: @escaping GraphBuilder.Converter) {
        self.signatures = signatures
        self.takesNarrowTypes = narrowTypes
        self.convert = convert
    }

    /// The signature in force at `opset`, or nil when the op does not exist yet.
    func signature(at opset: Int) -> NodeSignature? { signatures.last { $0.since <= opset } }
}

/// "2", "2 to 3" or "at least 1": a count range for messages.
private func countText(_ range: ClosedRange<Int>) -> String {
    if range.upperBound == variadic { return "at least \(range.lowerBound)" }
    return range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)"
}

extension GraphBuilder {
    /// The first rule of its op's signature at the model's opset that `node` breaks, or nil.
    func signatureProblem(_ node: Onnx_NodeProto, _ entry: ONNXOperator) -> String? {
        let op = node.opType
        guard let signature = entry.signature(at: opset) else {
            let first = entry.signatures.first?.since ?? opset
            return "op '\(op)' does not exist at opset \(opset): ONNX added it at opset \(first); export the model with opset \(first) or newer"
        }
        if signature.deprecated {
            let replacement = signature.replacement.map { "; use \($0) instead" } ?? ""
            return "op '\(op)' is deprecated from opset \(signature.since) on, and the model uses opset \(opset)\(replacement)"
        }
        let lists: [(what: String, names: [String], range: ClosedRange<Int>)] = [
            ("input", node.input, signature.inputs), ("output", node.output, signature.outputs),
        ]
        for (what, names, range) in lists {
            guard range.contains(names.count) else {
                let listed = names.map { "'\($0)'" }.joined(separator: ", ")
                let plural = range.lowerBound == 1 && (range.upperBound == 1 || range.upperBound == variadic) ? "" : "s"
                let advice = names.count > range.upperBound ? "remove the extra ones" : "add the missing ones"
                return "\(op) at opset \(opset) takes \(countText(range)) \(what)\(plural), but the node lists \(names.count)\(names.isEmpty ? "" : " (\(listed))"); \(advice)"
            }
            if range.upperBound != variadic, let empty = names.prefix(range.lowerBound).firstIndex(of: "") {
                return "\(what) \(empty) of \(op) is required, but the node gives it an empty name"
            }
        }
        if let unnamed = subgraphs(of: node).first(where: { $0.graph.name.isEmpty }) {
            // Found by the fuzzing campaign: onnx's checker requires every graph, branches included, to be named.
            return "the subgraph '\(unnamed.name)' has no name; onnx's checker requires every graph to be named: give it one"
        }
        if let allowed = signature.outputCounts, !allowed.contains(node.output.count) {
            // Found by the fuzzing campaign: BatchNormalization with 2 outputs passed the range check.
            let counts = allowed.sorted().map(String.init).joined(separator: " or ")
            return "\(op) at opset \(opset) takes \(counts) outputs, but the node lists \(node.output.count); list \(counts) outputs"
        }
        let given = Set(node.attribute.map(\.name))
        if let missing = signature.required.first(where: { !given.contains($0) }) {
            return "\(op) needs the attribute '\(missing)'"
        }
        return nil
    }

    /// Declared types that contradict the inferred ones: graph outputs and `value_info` entries whose element
    /// type, rank or a fixed dimension differs from what the IR type rules computed. Onnx's checker refuses the
    /// same contradictions. Ranks and dimensions are not compared for values whose shape onnx cannot infer
    /// (``shapeFromValues``). Dimensions are compared only when no input shape was given at import (an input
    /// shape given for a symbolic dimension may legitimately change a dimension the model fixed), and not where
    /// the inferred size is one the importer chose for a symbolic dimension (where onnx infers a symbol).
    mutating func checkDeclaredTypes(shapesChosen: Bool) {
        guard checksDeclarations else { return }
        let declarations = graphProto.output.map { ("graph output", $0) } + graphProto.valueInfo.map { ("value_info", $0) }
        for (what, info) in declarations {
            guard let slot = env[info.name],
                  let problem = declarationProblem(info, type(of: slot), compareShape: !shapeFromValues.contains(info.name),
                                                   compareDimensions: !shapesChosen, ignoring: substitutedSizes) else { continue }
            error(definedBy[info.name] ?? modelLocation, "\(what) '\(info.name)' \(problem); correct the declaration in the model")
        }
        if !shapesChosen {
            for (what, info) in declarations {
                guard let slot = env[info.name], !shapeFromValues.contains(info.name),
                      case let .tensorType(declared)? = info.type.value, declared.shape.dim.count == type(of: slot).rank else { continue }
                let inferred = type(of: slot).shape
                for (axis, dim) in declared.shape.dim.enumerated() {
                    guard case let .dimValue(size)? = dim.value, size != Int64(inferred[axis]),
                          substitutedSizes.contains(inferred[axis]) else { continue }
                    ambiguousDeclarations.append(AmbiguousDeclaration(
                        what: what, name: info.name, axis: axis, declared: size, inferred: inferred,
                        location: definedBy[info.name] ?? modelLocation))
                }
            }
        }
        // A missing type is reported once the rest of the model imports: its diagnostic suggests the inferred type.
        let clean = !diagnostics.contains { $0.severity == .error }
        for output in graphProto.output where output.hasType || clean {
            guard let problem = outputDeclarationProblem(output, inferred: env[output.name].map { type(of: $0) }) else { continue }
            error(definedBy[output.name] ?? modelLocation, "graph output '\(output.name)' \(problem)")
        }
    }
}

/// A declared dimension that differs from the inferred one where the inferred size is the one the importer chose
/// for a symbolic batch: it may follow the batch (onnx infers a symbol there, and accepts any declaration) or be
/// fixed (onnx infers the size, and refuses the declaration). ``settleAmbiguousDeclarations`` tells which.
struct AmbiguousDeclaration: Sendable {
    var what: String
    var name: String
    var axis: Int
    var declared: Int64
    var inferred: [Int]
    var location: Location

    /// The diagnostic when the dimension turns out fixed.
    var diagnostic: Diagnostic {
        Diagnostic(.error, location, "\(what) '\(name)' is declared with dimension \(axis) of \(declared), but its value has shape \(shapeString(inferred)); correct the declaration in the model")
    }
}

/// The ambiguous declarations that are wrong: those whose dimension, inferred again with the symbolic batch at
/// `other`'s size, keeps the size it had (so it does not follow the batch). Found by the fuzzing campaign: a
/// ReduceProd over every axis gave [1, 1] where [N, 10] was declared, and the 1 was taken for the batch's.
func settleAmbiguousDeclarations(_ ambiguous: [AmbiguousDeclaration], other: GraphBuilder) -> [Diagnostic] {
    ambiguous.compactMap { entry in
        guard let slot = other.env[entry.name] else { return nil }
        let again = other.type(of: slot).shape
        guard again.count == entry.inferred.count, again[entry.axis] == entry.inferred[entry.axis] else { return nil }
        return entry.diagnostic
    }
}

/// What a main-graph output's declaration lacks that onnx's checker requires, or nil: a type, and in a tensor type
/// the element type field and the shape field (found by the fuzzing campaign: an output whose type had no shape was
/// accepted). An element type of 0 (UNDEFINED), an empty shape (a scalar) and dimensions without a value are all
/// allowed. `inferred`, the value's type when the importer could compute it, is what the diagnostic suggests.
func outputDeclarationProblem(_ info: Onnx_ValueInfoProto, inferred: TensorType?) -> String? {
    let suggestion = inferred.map { ": declare it (its value is \($0.elementType) of shape \(shapeString($0.shape)))" }
        ?? ": declare it"
    guard case let .tensorType(tensor)? = info.type.value else {
        // A type that is not a tensor is refused where outputs are added; only a missing type is left here.
        return info.hasType ? nil : "declares no type; onnx's checker requires a tensor type with an element type and a shape on every graph output" + suggestion
    }
    if !tensor.hasElemType {
        return "declares a tensor type without an element type; onnx's checker requires the field on every graph output" + suggestion
    }
    if !tensor.hasShape {
        let shape = inferred.map { "; its value has shape \(shapeString($0.shape))" } ?? ""
        return "declares a tensor type without a shape; onnx's checker requires the field on every graph output: declare the dimensions (symbolic names for those that vary\(shape))"
    }
    return nil
}

/// How a declared tensor type contradicts `type`, phrased to follow the value's name, or nil. Element type 0
/// (UNDEFINED), a missing shape and symbolic dimensions declare nothing, as in onnx's shape inference.
///
/// - Parameters:
///   - compareShape: whether the rank and dimensions are compared, not only the element type.
///   - ignoring: inferred sizes not compared with a fixed declared dimension.
func declarationProblem(_ info: Onnx_ValueInfoProto, _ type: TensorType, compareShape: Bool = true,
                        compareDimensions: Bool = true, ignoring: Set<Int> = []) -> String? {
    guard case let .tensorType(declared)? = info.type.value else { return nil }
    if declared.elemType != 0, irElementType(onnxCode: declared.elemType) != type.elementType {
        return "is declared \(onnxTypeName(declared.elemType)), but its value is \(type.elementType)"
    }
    guard compareShape, declared.hasShape else { return nil }
    let dims = declared.shape.dim
    guard dims.count == type.rank else {
        return "is declared with rank \(dims.count), but its value has shape \(shapeString(type.shape)) (rank \(type.rank))"
    }
    guard compareDimensions else { return nil }
    for (axis, dim) in dims.enumerated() {
        if case let .dimValue(size)? = dim.value, size != Int64(type.shape[axis]),
           !ignoring.contains(type.shape[axis]) {
            return "is declared with dimension \(axis) of \(size), but its value has shape \(shapeString(type.shape))"
        }
    }
    return nil
}

/// The ONNX spelling of an attribute type, as onnx.proto writes it.
func onnxAttributeTypeName(_ type: Onnx_AttributeProto.AttributeType) -> String {
    switch type {
    case .undefined: return "UNDEFINED"
    case .float: return "FLOAT"
    case .int: return "INT"
    case .string: return "STRING"
    case .tensor: return "TENSOR"
    case .graph: return "GRAPH"
    case .sparseTensor: return "SPARSE_TENSOR"
    case .typeProto: return "TYPE_PROTO"
    case .floats: return "FLOATS"
    case .ints: return "INTS"
    case .strings: return "STRINGS"
    case .tensors: return "TENSORS"
    case .graphs: return "GRAPHS"
    case .sparseTensors: return "SPARSE_TENSORS"
    case .typeProtos: return "TYPE_PROTOS"
    }
}

/// The value fields an attribute has set, with the type each belongs to.
func valueFields(of attribute: Onnx_AttributeProto) -> [(field: String, type: Onnx_AttributeProto.AttributeType)] {
    var fields: [(String, Onnx_AttributeProto.AttributeType)] = []
    if attribute.hasF { fields.append(("f", .float)) }
    if attribute.hasI { fields.append(("i", .int)) }
    if attribute.hasS { fields.append(("s", .string)) }
    if attribute.hasT { fields.append(("t", .tensor)) }
    if attribute.hasG { fields.append(("g", .graph)) }
    if attribute.hasSparseTensor { fields.append(("sparse_tensor", .sparseTensor)) }
    if attribute.hasTp { fields.append(("tp", .typeProto)) }
    if !attribute.floats.isEmpty { fields.append(("floats", .floats)) }
    if !attribute.ints.isEmpty { fields.append(("ints", .ints)) }
    if !attribute.strings.isEmpty { fields.append(("strings", .strings)) }
    if !attribute.tensors.isEmpty { fields.append(("tensors", .tensors)) }
    if !attribute.graphs.isEmpty { fields.append(("graphs", .graphs)) }
    if !attribute.sparseTensors.isEmpty { fields.append(("sparse_tensors", .sparseTensors)) }
    if !attribute.typeProtos.isEmpty { fields.append(("type_protos", .typeProtos)) }
    return fields
}

/// Why an attribute's `type` and value fields do not agree, or nil: a named attribute has a type (from IR
/// version 2 on) that is not UNDEFINED, and at most one value field, the one its type names.
func attributeFieldProblem(_ attribute: Onnx_AttributeProto, of op: String, irVersion: Int) -> String? {
    let name = "'\(attribute.name)' of \(op)"
    guard !attribute.name.isEmpty else { return "an attribute of \(op) has an empty name" }
    let fields = valueFields(of: attribute)
    if fields.count > 1 {
        return "attribute \(name) holds more than one value (fields \(fields.map(\.field).joined(separator: " and "))); an attribute holds one"
    }
    guard attribute.hasType else {
        if irVersion >= 2 {
            return "attribute \(name) has no type, or a type code ONNX does not define; ONNX IR version \(irVersion) requires one"
        }
        return nil
    }
    if attribute.type == .undefined {
        return "attribute \(name) has type UNDEFINED"
    }
    if let field = fields.first, field.type != attribute.type {
        return "attribute \(name) is declared \(onnxAttributeTypeName(attribute.type)) but holds a value of type \(onnxAttributeTypeName(field.type)) (field '\(field.field)'); the type and the field set must agree"
    }
    return nil
}

/// Why a tensor's value fields are ambiguous or misplaced, or nil. ONNX keeps a tensor's values in exactly one
/// field: `raw_data`, the typed field for its element type, or external data. A tensor with two (for example
/// `raw_data` and `float_data`) is refused rather than read one way: ONNX Runtime reads `raw_data` and ignores
/// the other, onnx's checker refuses some of these combinations, and which one the exporter meant is unknown.
func tensorFieldProblem(_ proto: Onnx_TensorProto, elementType: ElementType, _ what: String) -> String? {
    var fields: [String] = []
    if proto.hasRawData { fields.append("raw_data") }
    if !proto.floatData.isEmpty { fields.append("float_data") }
    if !proto.int32Data.isEmpty { fields.append("int32_data") }
    if !proto.int64Data.isEmpty { fields.append("int64_data") }
    if !proto.doubleData.isEmpty { fields.append("double_data") }
    if !proto.uint64Data.isEmpty { fields.append("uint64_data") }
    if !proto.stringData.isEmpty { fields.append("string_data") }
    if proto.dataLocation == .external {
        if let field = fields.first {
            return "\(what) refers to external data and also holds values in \(field); keep one (onnx.external_data_helper writes external data only)"
        }
        return nil
    }
    if fields.count > 1 {
        return "\(what) holds its values twice, in \(fields.joined(separator: " and ")); ONNX allows one value field (ONNX Runtime would read raw_data and ignore the rest): keep one, as onnx.numpy_helper.from_array does"
    }
    let typed: String
    switch elementType {
    case .f32: typed = "float_data"
    case .i64: typed = "int64_data"
    case .f16, .bf16, .i8, .u8, .i16, .u16, .bool, .i32, .i4, .u4, .i2, .u2, .f8e4m3fn, .f8e5m2, .f4e2m1: typed = "int32_data"
    }
    if let field = fields.first, field != "raw_data", field != typed {
        return "\(what) is \(elementType) but holds its values in \(field); they belong in \(typed) or raw_data"
    }
    return nil
}
