// Parses the text format into graphs. Errors carry file:line:column and say what was expected.
// The parser checks syntax and names; types and SSA order are the verifier's job.

/// Parses `.sir` text into graphs.
public struct Parser {
    /// The cursor; the kernel IR lexer reads its text with the same scanner.
    private var scanner: TextScanner
    private var bytes: [UInt8] { scanner.bytes }
    private var path: String { scanner.path }
    private var position: Int {
        get { scanner.position }
        set { scanner.position = newValue }
    }
    private static let maxNesting = 32
    /// The most elements a `splat<...>` constant may have (1 GiB of f32): its size comes from the type alone,
    /// so it is checked before anything is allocated.
    public static let maxSplatElements = 1 << 28

    /// Parses a whole file.
    public static func parse(_ text: String, path: String = "<input>") throws(DiagnosticError) -> Module {
        var parser = Parser(scanner: TextScanner(text, path: path))
        return try parser.parseModule()
    }

    private init(scanner: TextScanner) {
        self.scanner = scanner
    }

    // MARK: Errors and positions

    private var location: Location { scanner.location }

    /// The location of the next token (after spaces and comments).
    private mutating func here() -> Location {
        skipTrivia()
        return location
    }

    private func fail(_ message: String, at where: Location? = nil) -> DiagnosticError {
        DiagnosticError(.error(`where` ?? location, message))
    }

    /// A short description of what stands at the current position, for "found ..." messages.
    private var found: String {
        guard position < bytes.count else { return "end of file" }
        var end = position
        let first = bytes[position]
        if isWordByte(first) {
            while end < bytes.count, end - position < 24, isWordByte(bytes[end]) { end += 1 }
        } else {
            end = position + 1
        }
        let text = String(decoding: bytes[position..<end], as: UTF8.self)
        return "'\(text)'"
    }

    private func isWordByte(_ byte: UInt8) -> Bool { TextScanner.isWordByte(byte) }

    // MARK: Lexing helpers

    private mutating func skipTrivia() { scanner.skipSpaces(comments: true) }

    private mutating func peek(_ text: String) -> Bool {
        skipTrivia()
        let utf8 = Array(text.utf8)
        guard position + utf8.count <= bytes.count else { return false }
        return Array(bytes[position..<(position + utf8.count)]) == utf8
    }

    private mutating func consume(_ text: String) -> Bool {
        guard peek(text) else { return false }
        position += text.utf8.count
        return true
    }

    private mutating func expect(_ text: String, _ what: String? = nil) throws(DiagnosticError) {
        guard consume(text) else { throw fail("expected \(what ?? "'\(text)'"), found \(found)") }
    }

    /// Reads a word (letters, digits, `_`, `.`), or nil if none starts here.
    private mutating func word() -> String? {
        skipTrivia()
        let start = position
        while position < bytes.count, isWordByte(bytes[position]) { position += 1 }
        return start == position ? nil : String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private mutating func keyword(_ text: String) -> Bool {
        skipTrivia()
        let saved = scanner
        if word() == text { return true }
        scanner = saved
        return false
    }

    private mutating func quotedString() throws(DiagnosticError) -> String {
        try expect("\"", "a string")
        switch scanner.quotedStringBody() {
        case let .success(text):
            return text
        case let .failure(problem):
            // Reported where this parser stood when it found the problem: after a byte it had read.
            position = problem.offset + (problem.consumed ? 1 : 0)
            switch problem.kind {
            case .lineBreak: throw fail("expected '\"' to close the string before the end of the line")
            case .endOfText: throw fail("expected '\"' to close the string, found end of file")
            case .missingBrace: throw fail("expected '{' after \\u")
            case .notHexDigit: throw fail("expected a hex digit in \\u{...}")
            case .invalidUnicodeEscape: throw fail("expected a valid \\u{...} escape")
            case let .unknownEscape(escape):
                throw fail("unknown escape '\\\(String(decoding: [escape], as: UTF8.self))' in string; expected \\n, \\t, \\\", \\\\ or \\u{...}")
            }
        }
    }

    private mutating func consumeRaw(_ byte: UInt8) -> Bool { scanner.consume(byte) }

    private func hexValue(_ byte: UInt8) -> UInt8? { TextScanner.hexValue(byte) }

    /// `%name`, `%"name"` or `%N`: returns the text name and whether it was a number.
    private mutating func sigilName(_ sigil: String, _ what: String) throws(DiagnosticError) -> (name: String, numbered: Bool) {
        try expect(sigil, what)
        if position < bytes.count, bytes[position] == 0x22 {
            let name = try quotedString()
            guard !name.isEmpty else { throw fail("expected a non-empty name after '\(sigil)'") }
            return (name, false)
        }
        let start = position
        while position < bytes.count, isWordByte(bytes[position]) { position += 1 }
        guard start < position else { throw fail("expected a name after '\(sigil)', found \(found)") }
        let name = String(decoding: bytes[start..<position], as: UTF8.self)
        return (name, name.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 })
    }

    private mutating func integer(_ what: String = "an integer") throws(DiagnosticError) -> Int {
        skipTrivia()
        let start = position
        if position < bytes.count, bytes[position] == 0x2D { position += 1 }
        while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 { position += 1 }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        guard let value = Int(text) else {
            position = start
            throw fail(text.isEmpty || text == "-" ? "expected \(what), found \(found)" : "integer \(text) is out of range")
        }
        return value
    }

    /// A number token: returns whether it looked like an integer, and its text.
    private mutating func numberText() -> String? {
        skipTrivia()
        let start = position
        if position < bytes.count, bytes[position] == 0x2D || bytes[position] == 0x2B { position += 1 }
        while position < bytes.count {
            let byte = bytes[position]
            let isSign = (byte == 0x2D || byte == 0x2B) && position > start && (bytes[position - 1] == 0x65 || bytes[position - 1] == 0x45)
            guard isWordByte(byte) || isSign else { break }
            position += 1
        }
        return start == position ? nil : String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private mutating func float(_ what: String = "a number") throws(DiagnosticError) -> Float {
        let start = position
        guard let text = numberText(), let value = Float(text) else {
            position = start
            throw fail("expected \(what), found \(found)")
        }
        return value
    }

    // MARK: Types

    private mutating func tensorType() throws(DiagnosticError) -> TensorType {
        let start = here()
        guard keyword("tensor") else { throw fail("expected a type such as tensor<1x8xf32>, found \(found)") }
        guard consumeRaw(0x3C) else { throw fail("expected '<' after 'tensor', found \(found)") }
        var shape: [Int] = []
        var elementType: ElementType?
        while elementType == nil {
            guard position < bytes.count else { throw fail("expected a dimension or element type, found end of file") }
            if bytes[position] >= 0x30, bytes[position] <= 0x39 {
                let begin = position
                while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 { position += 1 }
                let text = String(decoding: bytes[begin..<position], as: UTF8.self)
                guard let dim = Int(text), dim <= TensorType.maxElementCount else {
                    throw fail("dimension \(text) is larger than 2^40", at: start)
                }
                shape.append(dim)
                guard consumeRaw(0x78) else { throw fail("expected 'x' after dimension \(dim), found \(found)") }
                guard shape.count <= 16 else { throw fail("tensor rank is larger than 16", at: start) }
            } else {
                let begin = position
                while position < bytes.count, isWordByte(bytes[position]) { position += 1 }
                let text = String(decoding: bytes[begin..<position], as: UTF8.self)
                guard let parsed = ElementType(rawValue: text) else {
                    position = begin
                    throw fail("expected an element type (\(ElementType.allCases.map(\.rawValue).joined(separator: ", "))), found \(found)")
                }
                elementType = parsed
            }
        }
        var type = TensorType(shape, elementType ?? .f32)
        while consume(",") {
            if keyword("nm") {
                try expect("<")
                let n = try integer("N of nm<N:M>")
                try expect(":")
                let m = try integer("M of nm<N:M>")
                try expect(">")
                type.layout = .nm(n: n, m: m)
            } else if keyword("quant") {
                type.quant = try quantParams()
            } else {
                throw fail("expected 'nm<N:M>' or 'quant<...>' after ',', found \(found)")
            }
        }
        try expect(">", "'>' to close the tensor type")
        if let problem = validate(type) { throw fail("invalid type \(type): \(problem)", at: start) }
        return type
    }

    private mutating func quantParams() throws(DiagnosticError) -> QuantParams {
        try expect("<")
        var axis: Int?
        var scales: [Float] = []
        var zeroPoints: [Int64] = []
        if keyword("axis") {
            try expect("=")
            axis = try integer("an axis")
            try expect(",")
        }
        guard keyword("scale") else { throw fail("expected 'scale' in quant<...>, found \(found)") }
        try expect("=")
        if axis != nil {
            try expect("[", "'[' (per-axis quantization lists one scale per index)")
            repeat { scales.append(try float("a scale")) } while consume(",")
            try expect("]")
        } else {
            scales = [try float("a scale")]
        }
        try expect(",")
        guard keyword("zero_point") else { throw fail("expected 'zero_point' in quant<...>, found \(found)") }
        try expect("=")
        if axis != nil {
            try expect("[")
            repeat { zeroPoints.append(Int64(try integer("a zero point"))) } while consume(",")
            try expect("]")
        } else {
            zeroPoints = [Int64(try integer("a zero point"))]
        }
        try expect(">")
        return QuantParams(axis: axis, scales: scales, zeroPoints: zeroPoints)
    }

    // MARK: Attributes

    private mutating func attributeValue(depth: Int = 0) throws(DiagnosticError) -> AttributeValue {
        guard depth < Parser.maxNesting else { throw fail("attribute lists nest deeper than \(Parser.maxNesting)") }
        skipTrivia()
        guard position < bytes.count else { throw fail("expected an attribute value, found end of file") }
        let byte = bytes[position]
        if byte == 0x5B {
            position += 1
            var items: [AttributeValue] = []
            if !consume("]") {
                repeat { items.append(try attributeValue(depth: depth + 1)) } while consume(",")
                try expect("]", "',' or ']' in the list")
            }
            return .list(items)
        }
        if byte == 0x22 { return .string(try quotedString()) }
        if (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x2B {
            let start = here()
            guard let text = numberText() else { throw fail("expected a number, found \(found)") }
            if let value = Int(text) { return .int(value) }
            if let value = Float(text) { return .float(value) }
            throw fail("expected a number, found '\(text)'", at: start)
        }
        guard let name = word() else { throw fail("expected an attribute value, found \(found)") }
        if name == "true" { return .bool(true) }
        if name == "false" { return .bool(false) }
        if consumeRaw(0x3C) {
            // A record: name<field = value, ...>.
            var fields: [AttributeField] = []
            if !consume(">") {
                repeat {
                    guard let field = word() else { throw fail("expected a field name in \(name)<...>, found \(found)") }
                    try expect("=", "'=' after field '\(field)'")
                    fields.append(AttributeField(field, try attributeValue(depth: depth + 1)))
                } while consume(",")
                try expect(">", "',' or '>' in \(name)<...>")
            }
            return .record(name, fields)
        }
        var arguments: [Float] = []
        if consume("(") {
            repeat { arguments.append(try float()) } while consume(",")
            try expect(")", "',' or ')'")
        }
        return .symbol(name, arguments: arguments)
    }

    private mutating func attributeDictionary() throws(DiagnosticError) -> [String: AttributeValue] {
        var attributes: [String: AttributeValue] = [:]
        guard consume("{") else { return attributes }
        if consume("}") { return attributes }
        repeat {
            let start = here()
            guard let name = word() else { throw fail("expected an attribute name, found \(found)") }
            try expect("=", "'=' after attribute '\(name)'")
            guard attributes[name] == nil else { throw fail("attribute '\(name)' is given twice", at: start) }
            attributes[name] = try attributeValue()
        } while consume(",")
        try expect("}", "',' or '}' after the attribute")
        return attributes
    }

    // MARK: Constants

    private mutating func constantData(for type: TensorType, at start: Location) throws(DiagnosticError) -> [UInt8] {
        guard let form = word() else { throw fail("expected constant data (dense<...>, splat<...> or hex<\"...\">), found \(found)") }
        switch form {
        case "hex":
            try expect("<")
            skipTrivia()
            guard consumeRaw(0x22) else { throw fail("expected '\"' after hex<, found \(found)") }
            var data: [UInt8] = []
            while position < bytes.count, bytes[position] != 0x22 {
                guard position + 1 < bytes.count, let high = hexValue(bytes[position]), let low = hexValue(bytes[position + 1]) else {
                    throw fail("expected pairs of hex digits in hex<\"...\">, found \(found)")
                }
                data.append(high << 4 | low)
                position += 2
            }
            guard consumeRaw(0x22) else { throw fail("expected '\"' to close hex data, found end of file") }
            try expect(">")
            return data
        case "splat", "dense":
            guard type.layout == .dense else {
                throw fail("a constant with an nm layout must be given as hex<\"...\"> bytes", at: start)
            }
            guard let count = type.elementCount else { throw fail("constant type has too many elements", at: start) }
            // Checked before anything is allocated: a splat's size comes from its type alone, not from the text.
            if form == "splat" {
                guard count <= Parser.maxSplatElements else {
                    throw fail("splat constant of type \(type) has \(count) elements, more than the limit of 2^28; give the data as hex<\"...\"> or make the tensor smaller", at: start)
                }
            }
            try expect("<")
            var values: [String] = []
            if form == "dense" {
                try expect("[")
                if !consume("]") {
                    repeat {
                        guard let text = numberText() else { throw fail("expected a number, found \(found)") }
                        values.append(text)
                        guard values.count <= count else {
                            throw fail("dense data has more than the \(count) elements of \(type)")
                        }
                    } while consume(",")
                    try expect("]", "',' or ']'")
                }
                guard values.count == count else {
                    throw fail("dense data has \(values.count) elements, type \(type) has \(count)", at: start)
                }
            } else {
                guard let text = numberText() else { throw fail("expected a number, found \(found)") }
                values = [text]
            }
            try expect(">")
            var element: [UInt8] = []
            var data: [UInt8] = []
            // Dense data has as many values as the text holds (checked above), so this is bounded by the text;
            // a splat's count was checked against `maxSplatElements`.
            data.reserveCapacity(count * type.elementType.byteSize)
            for text in values {
                element.removeAll(keepingCapacity: true)
                try encode(text, as: type.elementType, into: &element, at: start)
                data.append(contentsOf: element)
            }
            if form == "splat" {
                // Doubling copies: no intermediate array of `count` arrays.
                let total = count * data.count
                guard total > 0 else { return [] }
                while data.count < total { data.append(contentsOf: data.prefix(total - data.count)) }
            }
            return data
        case "elided":
            throw fail("constant data was elided when this IR was printed; print it without eliding to parse it", at: start)
        default:
            throw fail("expected constant data (dense<...>, splat<...> or hex<\"...\">), found '\(form)'", at: start)
        }
    }

    private func encode(_ text: String, as elementType: ElementType, into data: inout [UInt8], at start: Location) throws(DiagnosticError) {
        switch elementType {
        case .f32, .f16, .bf16, .f8e4m3fn, .f8e5m2, .f4e2m1:
            guard let value = Float(text) else { throw fail("expected a \(elementType) value, found '\(text)'", at: start) }
            switch elementType {
            case .f32: withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
            case .f16: withUnsafeBytes(of: float16Bits(value).littleEndian) { data.append(contentsOf: $0) }
            case .bf16: withUnsafeBytes(of: bfloat16Bits(value).littleEndian) { data.append(contentsOf: $0) }
            default:
                // The one-byte floats hold few values: a literal must be one of them (printing gives them exactly).
                guard let bits = narrowFloatBits(value, elementType), floatFromNarrowBits(bits, elementType) == value else {
                    throw fail("\(text) is not a \(elementType) value; write one the type holds exactly", at: start)
                }
                data.append(bits)
            }
        case .bool:
            guard text == "true" || text == "false" else { throw fail("expected true or false, found '\(text)'", at: start) }
            data.append(text == "true" ? 1 : 0)
        case .i8, .u8, .i16, .u16, .i32, .i64, .i4, .u4, .i2, .u2:
            guard let value = Int64(text), let range = elementType.integerRange, range.contains(value) else {
                throw fail("expected an \(elementType) value, found '\(text)'", at: start)
            }
            appendInteger(value, of: elementType, to: &data)
        }
    }

    // MARK: Graphs

    private struct PendingOp {
        var mnemonic: String
        var attributes: [String: AttributeValue]
        var constantName: String?
        var operandNames: [(name: String, location: Location)]
        var result: ValueID
        var location: Location
    }

    private mutating func parseModule() throws(DiagnosticError) -> Module {
        var graphs: [Graph] = []
        var pendingConstants: [String: ConstantID] = [:]
        var graphIndex = -1
        while true {
            skipTrivia()
            guard position < bytes.count else { break }
            let start = here()
            if keyword("graph") {
                if graphIndex >= 0 { try checkConstantsDefined(graphs[graphIndex], pendingConstants) }
                let (graph, constants) = try parseGraph(at: start)
                if graphs.contains(where: { $0.name == graph.name }) {
                    throw fail("graph \(sigil("@", graph.name)) is defined twice", at: start)
                }
                graphs.append(graph)
                pendingConstants = constants
                graphIndex += 1
            } else if keyword("const") {
                guard graphIndex >= 0 else { throw fail("a constant definition must follow the graph that uses it", at: start) }
                let (name, _) = try sigilName("@", "a constant handle such as @w0")
                try expect(":", "':' and the constant's type")
                let type = try tensorType()
                try expect("=", "'=' and the constant's data")
                let data = try constantData(for: type, at: start)
                guard let id = pendingConstants[name] else {
                    throw fail("constant \(sigil("@", name)) is not used by graph \(sigil("@", graphs[graphIndex].name))", at: start)
                }
                guard graphs[graphIndex].constants.entries[id.index].bytes.isEmpty,
                      graphs[graphIndex].constants.entries[id.index].name.isEmpty else {
                    throw fail("constant \(sigil("@", name)) is defined twice", at: start)
                }
                let request = graphs[graphIndex].constants.entries[id.index].sparsityRequest
                graphs[graphIndex].constants.entries[id.index] = Constant(name: name, type: type, bytes: data, sparsityRequest: request)
            } else {
                throw fail("expected 'graph' or 'const', found \(found)")
            }
        }
        if graphIndex >= 0 { try checkConstantsDefined(graphs[graphIndex], pendingConstants) }
        guard !graphs.isEmpty else { throw fail("expected at least one graph, found end of file") }
        return Module(graphs: graphs)
    }

    private func checkConstantsDefined(_ graph: Graph, _ handles: [String: ConstantID]) throws(DiagnosticError) {
        for (name, id) in handles.sorted(by: { $0.value < $1.value }) where graph.constants.entries[id.index].name.isEmpty {
            throw fail("constant \(sigil("@", name)) used by graph \(sigil("@", graph.name)) has no definition; add `const \(sigil("@", name)) : TYPE = dense<...>` after the graph", at: graph.location)
        }
    }

    private mutating func parseGraph(at start: Location) throws(DiagnosticError) -> (Graph, [String: ConstantID]) {
        let (graphName, _) = try sigilName("@", "a graph name such as @main")
        var graph = Graph(name: graphName, location: start)
        var names: [String: ValueID] = [:]
        func define(_ name: String, numbered: Bool, type: TensorType, at where: Location) throws(DiagnosticError) -> ValueID {
            guard names[name] == nil else {
                throw fail("value \(numbered ? "%" + name : sigil("%", name)) is defined twice; every value is defined once", at: `where`)
            }
            let id = graph.addValue(type, name: numbered ? nil : name)
            names[name] = id
            return id
        }
        try expect("(", "'(' and the graph inputs")
        if !consume(")") {
            repeat {
                let valueStart = here()
                let (name, numbered) = try sigilName("%", "an input such as %x")
                try expect(":", "':' and the input's type")
                let type = try tensorType()
                graph.inputs.append(try define(name, numbered: numbered, type: type, at: valueStart))
            } while consume(",")
            try expect(")", "',' or ')' after the input")
        }
        try expect("->", "'->' and the result types")
        var outputTypes: [TensorType] = []
        if consume("(") {
            repeat { outputTypes.append(try tensorType()) } while consume(",")
            try expect(")", "',' or ')' after the result type")
        } else {
            outputTypes = [try tensorType()]
        }
        try expect("{", "'{' to open the graph body")

        var pending: [PendingOp] = []
        var constantHandles: [String: ConstantID] = [:]
        var returned: [(name: String, location: Location)] = []
        while true {
            skipTrivia()
            let opStart = here()
            if keyword("return") {
                repeat {
                    let useStart = here()
                    let (name, _) = try sigilName("%", "a value to return")
                    returned.append((name, useStart))
                } while consume(",")
                try expect("}", "'}' after the return")
                break
            }
            guard peek("%") else { throw fail("expected an operation ('%name = ...') or 'return', found \(found)") }
            let (resultName, numbered) = try sigilName("%", "a result name")
            try expect("=")
            skipTrivia()
            let mnemonicStart = here()
            guard let mnemonic = word() else { throw fail("expected an op name, found \(found)") }
            var constantName: String?
            var operands: [(name: String, location: Location)] = []
            var attributes: [String: AttributeValue] = [:]
            if mnemonic == "const" {
                constantName = try sigilName("@", "a constant handle such as @w0").name
                let attributeStart = here()
                attributes = try attributeDictionary()
                for (name, value) in attributes {
                    guard name == "sparsity" else {
                        throw fail("unknown attribute '\(name)' on const; the only one is sparsity = \"N:M\"", at: attributeStart)
                    }
                    guard case let .string(text) = value, NMPattern(text) != nil else {
                        throw fail("attribute 'sparsity' must be a string \"N:M\" such as \"2:4\", found \(value)", at: attributeStart)
                    }
                }
            } else {
                guard OpKind.mnemonics.contains(mnemonic) else {
                    throw fail("unknown op '\(mnemonic)'; see IR/README.md for the list of ops", at: mnemonicStart)
                }
                if peek("%") {
                    repeat {
                        let useStart = here()
                        operands.append((try sigilName("%", "an operand").name, useStart))
                    } while consume(",")
                }
                attributes = try attributeDictionary()
            }
            try expect(":", "':' and the result type")
            let type = try tensorType()
            if keyword("loc") {
                try expect("(")
                _ = try quotedString()
                try expect(")")
            }
            let result = try define(resultName, numbered: numbered, type: type, at: opStart)
            pending.append(PendingOp(mnemonic: mnemonic, attributes: attributes, constantName: constantName,
                                     operandNames: operands, result: result, location: opStart))
        }

        for op in pending {
            var operands: [ValueID] = []
            for use in op.operandNames {
                guard let id = names[use.name] else {
                    throw fail("use of undefined value \(sigil("%", use.name))", at: use.location)
                }
                operands.append(id)
            }
            let kind: OpKind
            var schedule: KernelSchedule?
            var attributes = op.attributes
            if op.constantName == nil, let value = attributes.removeValue(forKey: "schedule") {
                do {
                    schedule = try KernelSchedule.parse(value)
                } catch {
                    throw fail(error.message, at: op.location)
                }
            }
            if let constantName = op.constantName {
                var request: NMPattern?
                if case let .string(text)? = op.attributes["sparsity"] { request = NMPattern(text) }
                if let id = constantHandles[constantName] {
                    guard graph.constants.entries[id.index].sparsityRequest == request else {
                        throw fail("const ops of \(sigil("@", constantName)) disagree about its sparsity attribute", at: op.location)
                    }
                    kind = .constant(id)
                } else {
                    // Filled in when the `const @name : type = data` line after the graph is read.
                    let id = ConstantID(graph.constants.entries.count)
                    graph.constants.entries.append(Constant(name: "", type: TensorType([], .f32), bytes: [], sparsityRequest: request))
                    constantHandles[constantName] = id
                    kind = .constant(id)
                }
            } else {
                do {
                    kind = try OpKind.make(mnemonic: op.mnemonic, attributes: attributes)
                } catch {
                    throw fail(error.message, at: op.location)
                }
            }
            graph.operations.append(Operation(kind, operands: operands, results: [op.result], location: op.location, schedule: schedule))
        }
        for use in returned {
            guard let id = names[use.name] else { throw fail("return of undefined value \(sigil("%", use.name))", at: use.location) }
            graph.outputs.append(id)
        }
        guard outputTypes.count == graph.outputs.count else {
            throw fail("graph \(sigil("@", graphName)) declares \(outputTypes.count) results but returns \(graph.outputs.count)", at: start)
        }
        for (index, (output, type)) in zip(graph.outputs, outputTypes).enumerated() where graph.type(of: output) != type {
            let actual = graph.type(of: output).map(\.description) ?? "?"
            throw fail("result \(index) of graph \(sigil("@", graphName)) is declared \(type) but the returned value has type \(actual)", at: returned[index].location)
        }
        return (graph, constantHandles)
    }
}
