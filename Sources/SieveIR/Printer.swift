// The canonical text form of graphs. For every graph g, parse(print(g)) == g.
// Grammar and examples: IR/README.md.

/// Choices that change what the printer shows (never the canonical form written with `-o`).
public struct PrintOptions: Hashable, Sendable {
    /// Append each op's location as `loc("...")`.
    public var locations: Bool
    /// Replace constant data of more than this many bytes by `elided<N bytes>` (for dumps).
    public var elideConstantsLargerThan: Int?
    /// Follow each `nm` constant with a comment giving its pattern, density and kept count (for dumps).
    public var sparsityNotes: Bool

    /// Makes print options; the defaults print the canonical, parseable form.
    public init(locations: Bool = false, elideConstantsLargerThan: Int? = nil, sparsityNotes: Bool = false) {
        self.locations = locations
        self.elideConstantsLargerThan = elideConstantsLargerThan
        self.sparsityNotes = sparsityNotes
    }

    /// Canonical, complete text.
    public static let canonical = PrintOptions()
}

/// Constants with at most this many elements print as a literal list; larger ones as hex bytes.
public let denseLiteralLimit = 64

/// Whether a name can be printed bare after `%` or `@` (otherwise it is quoted).
public func isBareName(_ name: String) -> Bool {
    guard let first = name.unicodeScalars.first, !name.isEmpty else { return false }
    guard first == "_" || ("a"..."z").contains(first) || ("A"..."Z").contains(first) else { return false }
    return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "." }
}

func sigil(_ prefix: String, _ name: String) -> String {
    isBareName(name) ? prefix + name : prefix + quoteString(name)
}

extension TensorType: CustomStringConvertible {
    /// The type as the text format spells it: `tensor<1x8xf32>`, `tensor<4x8xf32, nm<2:4>>`.
    public var description: String {
        var text = "tensor<"
        for dim in shape { text += "\(dim)x" }
        text += elementType.rawValue
        if case let .nm(n, m) = layout { text += ", nm<\(n):\(m)>" }
        if let quant {
            if let axis = quant.axis {
                text += ", quant<axis = \(axis), scale = [" + quant.scales.map(formatFloat).joined(separator: ", ")
                text += "], zero_point = [" + quant.zeroPoints.map(String.init).joined(separator: ", ") + "]>"
            } else {
                text += ", quant<scale = \(formatFloat(quant.scales.first ?? 0)), zero_point = \(quant.zeroPoints.first ?? 0)>"
            }
        }
        return text + ">"
    }
}

extension Graph {
    /// The printed name of a value: `%name` or `%N`.
    public func valueName(_ id: ValueID) -> String {
        if values.indices.contains(id.index), let name = values[id.index].name { return sigil("%", name) }
        return "%\(id.index)"
    }

    /// One op as a line of text, without indentation: `%2 = matmul %0, %1 : tensor<1x4xf32>`.
    public func print(_ op: Operation, options: PrintOptions = .canonical) -> String {
        var text = op.results.map(valueName).joined(separator: ", ")
        if !op.results.isEmpty { text += " = " }
        if case let .constant(id) = op.kind {
            text += "const " + sigil("@", constants[id]?.name ?? "#\(id.index)")
            if let request = constants[id]?.sparsityRequest {
                text += " {sparsity = " + quoteString(request.description) + "}"
            }
        } else {
            text += op.kind.mnemonic
            if !op.operands.isEmpty { text += " " + op.operands.map(valueName).joined(separator: ", ") }
            var attributes = op.kind.attributes
            if let schedule = op.schedule { attributes.append(("schedule", schedule.attributeValue)) }
            if !attributes.isEmpty {
                text += " {" + attributes.map { "\($0.0) = \($0.1)" }.joined(separator: ", ") + "}"
            }
        }
        let types = op.results.map { type(of: $0).map(\.description) ?? "<invalid>" }
        text += " : " + types.joined(separator: ", ")
        if options.locations { text += " loc(\(quoteString(op.location.description)))" }
        return text
    }

    /// The whole graph, its constants after it.
    public func print(options: PrintOptions = .canonical) -> String {
        var text = "graph " + sigil("@", name) + "("
        text += inputs.map { "\(valueName($0)): \(type(of: $0).map(\.description) ?? "<invalid>")" }.joined(separator: ", ")
        text += ") -> "
        let outputTypes = outputs.map { type(of: $0).map(\.description) ?? "<invalid>" }
        text += outputTypes.count == 1 ? outputTypes[0] : "(" + outputTypes.joined(separator: ", ") + ")"
        text += " {\n"
        for op in operations { text += "  " + print(op, options: options) + "\n" }
        text += "  return " + outputs.map(valueName).joined(separator: ", ") + "\n}\n"
        for constant in constants.entries {
            text += "const " + sigil("@", constant.name) + " : \(constant.type) = "
            text += printData(of: constant, options: options)
            if options.sparsityNotes, let note = sparsityNote(constant) { text += "  // " + note }
            text += "\n"
        }
        return text
    }
}

extension Module {
    /// Every graph, separated by blank lines.
    public func print(options: PrintOptions = .canonical) -> String {
        graphs.map { $0.print(options: options) }.joined(separator: "\n")
    }
}

func printData(of constant: Constant, options: PrintOptions) -> String {
    if let limit = options.elideConstantsLargerThan, constant.bytes.count > limit {
        return "elided<\(constant.bytes.count) bytes>"
    }
    let type = constant.type
    guard type.layout == .dense, constant.hasConsistentSize, let count = type.elementCount, count > 0 else {
        return hexData(constant.bytes)
    }
    func element(_ index: Int) -> String {
        switch type.elementType {
        case .f32, .f16, .bf16, .f8e4m3fn, .f8e5m2, .f4e2m1: return formatFloat(Float(constant.element(at: index)))
        case .bool: return constant.integer(at: index) != 0 ? "true" : "false"
        case .i8, .u8, .i16, .u16, .i32, .i64, .i4, .u4, .i2, .u2: return String(constant.integer(at: index))
        }
    }
    if type.elementType.isFloat, (0..<count).contains(where: { constant.element(at: $0).isNaN }) {
        return hexData(constant.bytes)
    }
    if type.elementType == .bool, constant.bytes.contains(where: { $0 > 1 }) {
        return hexData(constant.bytes)
    }
    let size = type.elementType.byteSize
    let first = constant.bytes[0..<size]
    if count > 1, (1..<count).allSatisfy({ constant.bytes[($0 * size)..<($0 * size + size)] == first }) {
        return "splat<\(element(0))>"
    }
    if count <= denseLiteralLimit {
        return "dense<[" + (0..<count).map(element).joined(separator: ", ") + "]>"
    }
    return hexData(constant.bytes)
}

func hexData(_ bytes: [UInt8]) -> String {
    let digits: [Character] = Array("0123456789abcdef")
    var text = "hex<\""
    text.reserveCapacity(bytes.count * 2 + 8)
    for byte in bytes {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 15)])
    }
    return text + "\">"
}

/// `2:4, density 0.5: 16 of 32 weights kept, 2-bit indices` for an nm constant with valid storage.
func sparsityNote(_ constant: Constant) -> String? {
    guard let pattern = NMPattern(constant.type.layout), let matrix = NMMatrixShape(constant.type.shape),
          constant.hasConsistentSize else { return nil }
    let kept = NMPacking.keptCount(matrix, pattern)
    let total = matrix.rows * matrix.reduction
    let padded = matrix.reduction % pattern.m == 0 ? ""
        : ", reduction \(matrix.reduction) padded to \(NMPacking.groupsPerRow(matrix, pattern) * pattern.m)"
    return "\(pattern), density \(pattern.density): \(kept) of \(total) weights kept, \(pattern.indexBits)-bit indices" + padded
}
