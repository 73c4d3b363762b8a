// Parses the text KernelPrinter prints back into a kernel program, with the line of every buffer and
// statement so that verifier problems point into the file. Syntax only: types and scopes are the verifier's job.

import SieveIR

/// Where each part of a parsed kernel program stands in its text, for located verifier diagnostics.
public struct KernelSourceMap: Hashable, Sendable {
    /// The `program` line.
    public var program: Location
    /// Each buffer's line, by buffer index.
    public var buffers: [Location]
    /// Each kernel's header, by kernel index.
    public var kernels: [Location]
    /// Each kernel's statements in pre-order (a loop or branch before the statements it holds).
    public var statements: [[Location]]

    /// Makes a map.
    public init(program: Location, buffers: [Location] = [], kernels: [Location] = [], statements: [[Location]] = []) {
        self.program = program
        self.buffers = buffers
        self.kernels = kernels
        self.statements = statements
    }
}

/// A parsed kernel program with its source map.
public struct ParsedKernelProgram: Sendable {
    /// The program. The text does not hold the weight bytes (they are zeros), the input and output
    /// shapes (each is one axis of the buffer's element count) or variable names (`vN`).
    public var program: KernelProgram
    /// Where its parts stand in the text.
    public var sourceMap: KernelSourceMap
}

/// Parses kernel IR text (`.kir`).
public struct KernelParser {
    /// The largest weights size the parser accepts; it allocates that many zero bytes.
    public static let maxWeightsBytes = 1 << 30
    /// The largest element count, offset or arena size it accepts.
    public static let maxQuantity = 1 << 50
    /// The largest variable number: the parser makes a variable table up to it.
    public static let maxVariableNumber = 1 << 20
    /// How deeply statements and expressions may nest.
    public static let maxNesting = 400

    private var tokens: [Token] = []
    private var position = 0
    private let path: String
    private var depth = 0
    /// Statement locations of the kernel being parsed, in pre-order.
    private var statementLocations: [Location] = []
    /// Types of the kernel's variables seen so far (declared with `var` or bound by `for`).
    private var variableTypes: [Int: ValueType] = [:]
    private var highestVariable = -1

    /// Whether a text is kernel IR rather than graph IR: its first word, after comments, is `program`.
    public static func looksLikeKernelIR(_ text: String) -> Bool {
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let trimmed = line.drop { $0 == " " || $0 == "\t" || $0 == "\r" }
            if trimmed.isEmpty || trimmed.hasPrefix("//") { continue }
            return trimmed.hasPrefix("program ") || trimmed.hasPrefix("program@") || trimmed == "program"
        }
        return false
    }

    /// Parses a whole program.
    public static func parse(_ text: String, path: String = "<input>") throws(DiagnosticError) -> ParsedKernelProgram {
        var lexer = KernelLexer(scanner: TextScanner(text, path: path))
        var parser = KernelParser(path: path)
        parser.tokens = try lexer.tokens()
        return try parser.parseProgram()
    }

    private init(path: String) { self.path = path }

    // MARK: Tokens

    private var current: Token { tokens[min(position, tokens.count - 1)] }

    private func location(of token: Token) -> Location { .file(path: path, line: token.line, column: token.column) }

    private var here: Location { location(of: current) }

    private func fail(_ message: String, at token: Token? = nil) -> DiagnosticError {
        DiagnosticError(.error(location(of: token ?? current), message))
    }

    private var found: String { current.description }

    private mutating func advance() -> Token {
        let token = current
        if position < tokens.count - 1 { position += 1 }
        return token
    }

    /// Skips comments (they matter only after a buffer declaration, where they hold its name).
    private mutating func skipComments() {
        while case .comment = current.kind, position < tokens.count - 1 { position += 1 }
    }

    private mutating func peekPunct(_ character: Character) -> Bool {
        skipComments()
        if case let .punct(found) = current.kind, found == character { return true }
        return false
    }

    private mutating func consumePunct(_ character: Character) -> Bool {
        guard peekPunct(character) else { return false }
        _ = advance()
        return true
    }

    private mutating func expectPunct(_ character: Character, _ what: String? = nil) throws(DiagnosticError) {
        guard consumePunct(character) else { throw fail("expected \(what ?? "'\(character)'"), found \(found)") }
    }

    private mutating func peekWord(_ word: String) -> Bool {
        skipComments()
        if case let .word(found) = current.kind, found == word { return true }
        return false
    }

    private mutating func consumeWord(_ word: String) -> Bool {
        guard peekWord(word) else { return false }
        _ = advance()
        return true
    }

    private mutating func expectWord(_ word: String) throws(DiagnosticError) {
        guard consumeWord(word) else { throw fail("expected '\(word)', found \(found)") }
    }

    private mutating func word(_ what: String) throws(DiagnosticError) -> String {
        skipComments()
        guard case let .word(text) = current.kind else { throw fail("expected \(what), found \(found)") }
        _ = advance()
        return text
    }

    private mutating func integer(_ what: String) throws(DiagnosticError) -> Int {
        skipComments()
        let token = current
        guard case let .number(text) = token.kind else { throw fail("expected \(what), found \(found)") }
        guard let value = Int(text) else { throw fail("expected \(what) (an integer), found '\(text)'") }
        _ = advance()
        return value
    }

    /// An integer whose magnitude is at most `limit`.
    private mutating func quantity(_ what: String, limit: Int = KernelParser.maxQuantity) throws(DiagnosticError) -> Int {
        skipComments()
        let token = current
        let value = try integer(what)
        guard value.magnitude <= limit.magnitude else {
            throw fail("\(what) \(value) is out of range; the kernel IR parser accepts at most \(limit)", at: token)
        }
        return value
    }

    private mutating func string(_ what: String) throws(DiagnosticError) -> String {
        skipComments()
        guard case let .string(text) = current.kind else { throw fail("expected \(what) (a quoted string), found \(found)") }
        _ = advance()
        return text
    }

    private mutating func atName(_ what: String) throws(DiagnosticError) -> String {
        skipComments()
        guard case let .atName(text) = current.kind else { throw fail("expected \(what) ('@' and a name), found \(found)") }
        _ = advance()
        return text
    }

    private mutating func bufferReference() throws(DiagnosticError) -> BufferID {
        skipComments()
        guard case let .buffer(index) = current.kind else { throw fail("expected a buffer ('%b' and a number), found \(found)") }
        _ = advance()
        return BufferID(index)
    }

    private mutating func variableReference() throws(DiagnosticError) -> VariableID {
        skipComments()
        guard case let .variable(index) = current.kind else { throw fail("expected a variable ('%v' and a number), found \(found)") }
        guard index <= KernelParser.maxVariableNumber else {
            throw fail("variable %v\(index) is out of range; the kernel IR parser accepts numbers up to \(KernelParser.maxVariableNumber)")
        }
        _ = advance()
        highestVariable = max(highestVariable, index)
        return VariableID(index)
    }

    private mutating func nest() throws(DiagnosticError) {
        depth += 1
        if depth > KernelParser.maxNesting {
            throw fail("statements and expressions nest more than \(KernelParser.maxNesting) deep; split the kernel")
        }
    }

    private mutating func unnest() { depth -= 1 }

    // MARK: Program, buffers, kernels

    private mutating func parseProgram() throws(DiagnosticError) -> ParsedKernelProgram {
        skipComments()
        let programLocation = here
        try expectWord("program")
        let name = try atName("the program name")
        try expectPunct("{")
        try expectWord("vector_width")
        try expectPunct("=")
        let vectorWidth = try quantity("the vector width", limit: 1 << 16)
        try expectPunct(",")
        try expectWord("arena")
        try expectPunct("=")
        let arena = try quantity("the arena size")
        try expectPunct(",")
        try expectWord("weights")
        try expectPunct("=")
        let weightsToken = current
        let weights = try quantity("the weights size", limit: KernelParser.maxWeightsBytes)
        guard weights >= 0 else { throw fail("the weights size must not be negative, found \(weights)", at: weightsToken) }
        try expectPunct("}")
        var program = KernelProgram(name: name, vectorWidth: vectorWidth)
        program.arenaBytes = arena
        program.weights = [UInt8](repeating: 0, count: weights)
        var sourceMap = KernelSourceMap(program: programLocation)

        while true {
            skipComments()
            guard case let .buffer(index) = current.kind else { break }
            let token = current
            guard index == program.buffers.count else {
                throw fail("expected buffer %b\(program.buffers.count) next (buffers are numbered in order), found %b\(index)")
            }
            sourceMap.buffers.append(location(of: token))
            program.buffers.append(try parseBuffer())
        }
        // The signature tables follow from the storage: input k is the k-th input (the verifier
        // reports gaps and duplicates as a position whose buffer has another storage).
        let inputs = program.buffers.indices.compactMap { index -> (Int, Int)? in
            if case let .input(k) = program.buffers[index].storage { return (k, index) } else { return nil }
        }.sorted { $0 < $1 }
        let outputs = program.buffers.indices.compactMap { index -> (Int, Int)? in
            if case let .output(k) = program.buffers[index].storage { return (k, index) } else { return nil }
        }.sorted { $0 < $1 }
        program.inputs = inputs.map { BufferID($0.1) }
        program.outputs = outputs.map { BufferID($0.1) }
        program.inputShapes = inputs.map { [program.buffers[$0.1].count] }
        program.outputShapes = outputs.map { [program.buffers[$0.1].count] }
        program.inputNames = inputs.map { program.buffers[$0.1].name }
        program.outputNames = outputs.map { program.buffers[$0.1].name }

        while true {
            skipComments()
            if case .end = current.kind { break }
            sourceMap.kernels.append(here)
            let kernel = try parseKernel()
            program.kernels.append(kernel)
            sourceMap.statements.append(statementLocations)
        }
        return ParsedKernelProgram(program: program, sourceMap: sourceMap)
    }

    private mutating func parseBuffer() throws(DiagnosticError) -> Buffer {
        _ = advance()
        try expectPunct("=")
        let storage: BufferStorage
        let kind = try word("a storage ('input', 'output', 'arena' or 'constant')")
        switch kind {
        case "input": storage = .input(try quantity("the input number", limit: 1 << 20))
        case "output": storage = .output(try quantity("the output number", limit: 1 << 20))
        case "arena":
            try expectPunct("+", "'+' and the arena offset")
            storage = .arena(offset: try quantity("the arena offset"))
        case "constant":
            try expectPunct("+", "'+' and the weights offset")
            storage = .constant(offset: try quantity("the weights offset"))
        default:
            throw fail("unknown storage '\(kind)'; expected 'input', 'output', 'arena' or 'constant'", at: tokens[position - 1])
        }
        try expectPunct(":")
        let typeToken = current
        let typeName = try word("an element type")
        guard let elementType = ElementType(rawValue: typeName) else {
            throw fail("unknown element type '\(typeName)'; expected one of \(ElementType.allCases.map(\.rawValue).joined(separator: ", "))",
                       at: typeToken)
        }
        try expectPunct("[")
        let count = try quantity("the element count")
        let close = current
        try expectPunct("]")
        // The name is the comment on the same line; a quoted one is unquoted (see `bufferNameText`).
        var name = ""
        if case let .comment(text) = tokens[position].kind, tokens[position].line == close.line {
            name = text
            if text.hasPrefix("\""), let unquoted = TextScanner.unquote(text) { name = unquoted }
            _ = advance()
        }
        return Buffer(name: name, storage: storage, elementType: elementType, count: count)
    }

    private mutating func parseKernel() throws(DiagnosticError) -> Kernel {
        try expectWord("kernel")
        let name = try atName("the kernel name")
        try expectPunct("{")
        try expectWord("op")
        try expectPunct("=")
        let op = try string("the op")
        try expectPunct(",")
        try expectWord("loc")
        try expectPunct("=")
        let location = try string("the location")
        try expectPunct(",")
        try expectWord("pattern")
        try expectPunct("=")
        let pattern = try string("the pattern")
        try expectPunct("}")
        statementLocations = []
        variableTypes = [:]
        highestVariable = -1
        let body = try parseBlock()
        var variables: [Variable] = []
        if highestVariable >= 0 {
            for index in 0...highestVariable {
                variables.append(Variable(name: "v\(index)", type: variableTypes[index] ?? .i64))
            }
        }
        return Kernel(name: name, op: op, location: location, pattern: pattern, variables: variables, body: body)
    }

    /// `{ statement* }`.
    private mutating func parseBlock() throws(DiagnosticError) -> [Statement] {
        try expectPunct("{")
        try nest()
        var statements: [Statement] = []
        while !consumePunct("}") {
            if case .end = current.kind { throw fail("expected '}' to close the block, found end of file") }
            statements.append(try parseStatement())
        }
        unnest()
        return statements
    }

    // MARK: Statements

    private mutating func record(_ id: VariableID, _ type: ValueType) {
        if variableTypes[id.index] == nil { variableTypes[id.index] = type }
    }

    private mutating func parseStatement() throws(DiagnosticError) -> Statement {
        skipComments()
        statementLocations.append(here)
        let token = current
        switch token.kind {
        case .variable:
            let id = try variableReference()
            try expectPunct("=")
            return .assign(id, try parseExpression())
        case let .word(keyword):
            _ = advance()
            switch keyword {
            case "parallel":
                try expectWord("for")
                return .loop(try parseLoop(parallel: true))
            case "for":
                return .loop(try parseLoop(parallel: false))
            case "var":
                let id = try variableReference()
                try expectPunct(":")
                let type = try parseValueType()
                try expectPunct("=")
                let value = try parseExpression()
                record(id, type)
                return .declare(id, value)
            case "store", "vstore":
                let buffer = try bufferReference()
                let index = try parseIndex()
                try expectPunct(",")
                let value = try parseExpression()
                return keyword == "store" ? .store(buffer, index: index, value: value) : .vectorStore(buffer, index: index, value: value)
            case "prefetch":
                let buffer = try bufferReference()
                return .prefetch(buffer, index: try parseIndex())
            case "nm_rows4":
                return try parseNMRowBlock()
            case "transpose_tile":
                return try parseTransposeTile()
            case "int8_tile":
                return try parseInt8Tile()
            case "quantize_row":
                let out = try bufferReference()
                let outStart = try parseIndex()
                try expectPunct(",")
                try expectWord("scale")
                let scales = try bufferReference()
                let scaleIndex = try parseIndex()
                try expectPunct(",")
                try expectWord("zero_point")
                let zeroPoints = try bufferReference()
                try expectPunct(",")
                try expectWord("from")
                let source = try bufferReference()
                let sourceStart = try parseIndex()
                try expectPunct(",")
                try expectWord("length")
                let length = try quantity("the row length")
                return .quantizeRow(QuantizeRow(out: out, outStart: outStart, scales: scales, zeroPoints: zeroPoints, scaleIndex: scaleIndex,
                                                source: source, sourceStart: sourceStart, length: length))
            case "if":
                let condition = try parseExpression()
                let thenBody = try parseBlock()
                let elseBody = consumeWord("else") ? try parseBlock() : []
                return .branch(condition, then: thenBody, else: elseBody)
            case "trap":
                let reasonToken = current
                let reason = try word("a trap reason")
                guard let value = TrapReason(rawValue: reason) else {
                    throw fail("unknown trap reason '\(reason)'; expected index_out_of_range or division_by_zero", at: reasonToken)
                }
                return .trap(value)
            default:
                throw fail("expected a statement, found '\(keyword)'; \(KernelParser.statementKinds)", at: token)
            }
        default:
            throw fail("expected a statement, found \(found); \(KernelParser.statementKinds)")
        }
    }

    /// The statements there are, for "expected a statement" messages.
    static let statementKinds = "statements are for, parallel for, var, an assignment, store, vstore, prefetch, nm_rows4, transpose_tile, int8_tile, quantize_row, if and trap"

    /// `transpose_tile.S %bOUT[E], stride S, from %bIN[E], stride S`.
    private mutating func parseTransposeTile() throws(DiagnosticError) -> Statement {
        let sizeToken = current
        let size = try suffixNumber("the tile size")
        guard [4, 8, 16].contains(size) else { throw fail("transpose_tile.\(size): the tile size must be 4, 8 or 16", at: sizeToken) }
        let out = try bufferReference()
        let outStart = try parseIndex()
        try expectPunct(",")
        try expectWord("stride")
        let outStride = try quantity("the output stride")
        try expectPunct(",")
        try expectWord("from")
        let source = try bufferReference()
        let sourceStart = try parseIndex()
        try expectPunct(",")
        try expectWord("stride")
        let sourceStride = try quantity("the source stride")
        return .transposeTile(TransposeTile(source: source, sourceStart: sourceStart, sourceStride: sourceStride, out: out,
                                            outStart: outStart, outStride: outStride, size: size))
    }

    /// `int8_tile.LAYOUT %bOUT[E], stride S, rows E, a %bA[E], stride S, weights %bW, panel E, panels E, k K`, the
    /// layout `dense` or `2:4`.
    private mutating func parseInt8Tile() throws(DiagnosticError) -> Statement {
        try expectPunct(".", "'.' and the panel layout (dense or 2:4)")
        skipComments()
        let layoutToken = current
        let layout: Int8PanelLayout
        if case .word("dense") = layoutToken.kind {
            _ = advance()
            layout = .dense
        } else {
            let n = try quantity("the panel layout", limit: 1 << 16)
            try expectPunct(":", "':' and M of the pattern")
            let m = try quantity("M of the pattern", limit: 1 << 16)
            guard n == 2, m == 4 else { throw fail("int8_tile.\(n):\(m): the panel layout must be dense or 2:4", at: layoutToken) }
            layout = .sparse24
        }
        let out = try bufferReference()
        let outStart = try parseIndex()
        try expectPunct(",")
        try expectWord("stride")
        let outStride = try quantity("the output stride")
        try expectPunct(",")
        try expectWord("rows")
        let rows = try parseExpression()
        try expectPunct(",")
        try expectWord("a")
        let a = try bufferReference()
        let aStart = try parseIndex()
        try expectPunct(",")
        try expectWord("stride")
        let aStride = try quantity("the activation stride")
        try expectPunct(",")
        try expectWord("weights")
        let weights = try bufferReference()
        try expectPunct(",")
        try expectWord("panel")
        let panel = try parseExpression()
        try expectPunct(",")
        try expectWord("panels")
        let panels = try parseExpression()
        try expectPunct(",")
        try expectWord("k")
        let k = try quantity("the reduction length")
        return .int8Tile(Int8Tile(a: a, aStart: aStart, aStride: aStride, rows: rows, weights: weights, layout: layout, panel: panel,
                                  panels: panels, k: k, out: out, outStart: outStart, outStride: outStride))
    }

    /// `nm_rows4.N:M %bOUT[E], valid E, weights %bW, block E, rows R, k K, dense %bD[E]`, then `, order in_lane`
    /// for the in-lane value order (group order when absent).
    private mutating func parseNMRowBlock() throws(DiagnosticError) -> Statement {
        let patternToken = current
        let n = try suffixNumber("the pattern N:M")
        try expectPunct(":", "':' and M of the pattern")
        let m = try quantity("M of the pattern", limit: 1 << 16)
        let out = try bufferReference()
        let outStart = try parseIndex()
        try expectPunct(",")
        try expectWord("valid")
        let valid = try parseExpression()
        try expectPunct(",")
        try expectWord("weights")
        let weights = try bufferReference()
        try expectPunct(",")
        try expectWord("block")
        let block = try parseExpression()
        try expectPunct(",")
        try expectWord("rows")
        let rows = try quantity("the weight rows")
        try expectPunct(",")
        try expectWord("k")
        let k = try quantity("the reduction length")
        try expectPunct(",")
        try expectWord("dense")
        let dense = try bufferReference()
        let denseStart = try parseIndex()
        var order = NMValueOrder.sequential
        if consumePunct(",") {
            try expectWord("order")
            skipComments()
            let orderToken = current
            let name = try word("the value order")
            // Group order is the default and prints as nothing, so only the other orders are spelled.
            guard let named = NMValueOrder(rawValue: name), named != .sequential else {
                throw fail("unknown value order '\(name)'; the only order written out is in_lane (group order is the default)", at: orderToken)
            }
            order = named
        }
        guard let layout = NMRowBlockLayout(rows: rows, k: k, n: n, m: m, order: order) else {
            if NMRowBlockLayout(rows: rows, k: k, n: n, m: m) != nil {
                throw fail("nm_rows4.\(n):\(m) cannot take order \(order.rawValue); the in-lane order needs 1:4 or 2:4", at: patternToken)
            }
            throw fail("nm_rows4.\(n):\(m) over \(rows) rows of \(k) has no row-block layout; M must be 4, 8 or 16, N divide 64, k be whole groups, and rows and k at most 2^40",
                       at: patternToken)
        }
        return .nmRowBlock(NMRowBlock(weights: weights, layout: layout, block: block, dense: dense, denseStart: denseStart,
                                      out: out, outStart: outStart, validRows: valid))
    }

    private mutating func parseLoop(parallel: Bool) throws(DiagnosticError) -> Loop {
        let variable = try variableReference()
        record(variable, .i64)
        try expectPunct("=")
        let lower = try parseExpression()
        try expectWord("to")
        let upper = try parseExpression()
        var step = 1
        if consumeWord("step") { step = try quantity("the loop step") }
        let body = try parseBlock()
        return Loop(variable: variable, lower: lower, upper: upper, step: step, parallel: parallel, body: body)
    }

    /// `[expression]`.
    private mutating func parseIndex() throws(DiagnosticError) -> KernelExpression {
        try expectPunct("[")
        let index = try parseExpression()
        try expectPunct("]")
        return index
    }

    private mutating func parseValueType() throws(DiagnosticError) -> ValueType {
        let token = current
        let text = try word("a type (i64, f32, f64 or f32xW)")
        if let type = KernelParser.valueType(text) { return type }
        throw fail("unknown type '\(text)'; expected i64, f32, f64 or f32xW", at: token)
    }

    static func valueType(_ text: String) -> ValueType? {
        switch text {
        case "i64": return .i64
        case "f32": return .f32
        case "f64": return .f64
        default:
            guard text.hasPrefix("f32x"), let width = Int(text.dropFirst(4)), width > 0, width <= 1 << 16 else { return nil }
            return .f32x(width)
        }
    }

    // MARK: Expressions

    /// Sums and differences, left to right (the printer parenthesises each one).
    private mutating func parseExpression() throws(DiagnosticError) -> KernelExpression {
        try nest()
        var result = try parseTerm()
        while true {
            if consumePunct("+") {
                result = .binary(.add, result, try parseTerm())
            } else if consumePunct("-") {
                result = .binary(.sub, result, try parseTerm())
            } else {
                break
            }
        }
        unnest()
        return result
    }

    /// Products, quotients and remainders, left to right.
    private mutating func parseTerm() throws(DiagnosticError) -> KernelExpression {
        var result = try parsePrimary()
        while true {
            if consumePunct("*") {
                result = .binary(.mul, result, try parsePrimary())
            } else if consumePunct("/") {
                result = .binary(.div, result, try parsePrimary())
            } else if consumePunct("%") {
                result = .binary(.rem, result, try parsePrimary())
            } else {
                break
            }
        }
        return result
    }

    private mutating func parseArguments(_ count: Int, _ name: String) throws(DiagnosticError) -> [KernelExpression] {
        try expectPunct("(", "'(' after \(name)")
        var arguments: [KernelExpression] = []
        for index in 0..<count {
            if index > 0 { try expectPunct(",", "',' and argument \(index + 1) of \(name) (it takes \(count))") }
            arguments.append(try parseExpression())
        }
        try expectPunct(")", "')' after the \(count) argument\(count == 1 ? "" : "s") of \(name)")
        return arguments
    }

    /// `.N` after an operation name.
    private mutating func suffixNumber(_ what: String) throws(DiagnosticError) -> Int {
        try expectPunct(".", "'.' and \(what)")
        return try quantity(what, limit: 1 << 16)
    }

    private mutating func parsePrimary() throws(DiagnosticError) -> KernelExpression {
        skipComments()
        let token = current
        switch token.kind {
        case let .number(text):
            _ = advance()
            return try literal(text, token)
        case .variable:
            return .variable(try variableReference())
        case .punct("("):
            _ = advance()
            let inner = try parseExpression()
            try expectPunct(")")
            return inner
        case let .word(name):
            _ = advance()
            return try parseNamed(name, token)
        default:
            throw fail("expected an expression, found \(found)")
        }
    }

    private func literal(_ text: String, _ token: Token) throws(DiagnosticError) -> KernelExpression {
        if text.hasSuffix("f") {
            let digits = String(text.dropLast())
            if let value = Float(digits) ?? KernelParser.special(digits).map(Float.init) { return .float(value) }
        } else if text.hasSuffix("d") {
            let digits = String(text.dropLast())
            if let value = Double(digits) ?? KernelParser.special(digits) { return .double(value) }
        } else if let value = Int64(text) {
            return .int(value)
        }
        throw fail("'\(text)' is not a literal; expected an i64 like 12, an f32 like 1.5f or an f64 like 1.5d", at: token)
    }

    /// `inf`, `-inf` and `nan` spelled as the printer does, which `Float(_:)` also reads; kept explicit.
    private static func special(_ text: String) -> Double? {
        switch text {
        case "inf": return .infinity
        case "-inf": return -.infinity
        case "nan", "-nan": return .nan
        default: return nil
        }
    }

    private mutating func parseNamed(_ name: String, _ token: Token) throws(DiagnosticError) -> KernelExpression {
        switch name {
        case "inff", "nanf": return .float(name == "inff" ? .infinity : .nan)
        case "infd", "nand": return .double(name == "infd" ? .infinity : .nan)
        case "load":
            let buffer = try bufferReference()
            return .load(buffer, index: try parseIndex())
        case "vload":
            let width = try suffixNumber("the vector width")
            let buffer = try bufferReference()
            return .vectorLoad(buffer, index: try parseIndex(), width: width)
        case "broadcast":
            let width = try suffixNumber("the vector width")
            return .broadcast(try parseArguments(1, "broadcast")[0], width: width)
        case "reduce_add":
            return .reduceAdd(try parseArguments(1, name)[0])
        case "broadcast_lane":
            try expectPunct("(", "'(' after broadcast_lane")
            let vector = try parseExpression()
            try expectPunct(",", "',' and the lane number")
            let lane = try quantity("the lane number")
            try expectPunct(")", "')' after the lane number")
            return .broadcastLane(vector, lane: lane)
        case "fma":
            let arguments = try parseArguments(3, name)
            return .fma(arguments[0], arguments[1], arguments[2])
        case "select":
            let arguments = try parseArguments(3, name)
            return .select(arguments[0], arguments[1], arguments[2])
        case "convert":
            try expectPunct(".", "'.' and the type to convert to")
            let type = try parseValueType()
            return .convert(try parseArguments(1, "convert")[0], to: type)
        case "nm_index":
            let bits = try suffixNumber("the index width in bits")
            let buffer = try bufferReference()
            return .nmIndex(buffer, element: try parseIndex(), bits: bits)
        case "nm_dot":
            return try parseNMDot()
        case "dot":
            // `dot(%b[E], %b[E], length K)`.
            try expectPunct("(")
            let a = try bufferReference()
            let aStart = try parseIndex()
            try expectPunct(",")
            let b = try bufferReference()
            let bStart = try parseIndex()
            try expectPunct(",")
            try expectWord("length")
            let length = try quantity("the dot product's length")
            try expectPunct(")")
            return .dot(IntegerDot(a: a, aStart: aStart, b: b, bStart: bStart, length: length))
        default:
            if let op = UnaryOperator(rawValue: name) {
                return .unary(op, try parseArguments(1, name)[0])
            }
            // add, sub, mul, div and rem print infix; as calls they would not print back the same.
            if let op = BinaryOperator(rawValue: name), ![.add, .sub, .mul, .div, .rem].contains(op) {
                let arguments = try parseArguments(2, name)
                return .binary(op, arguments[0], arguments[1])
            }
            if let intrinsic = Intrinsic(rawValue: name) {
                try expectPunct("(", "'(' after \(name)")
                var arguments: [KernelExpression] = []
                if !consumePunct(")") {
                    repeat { arguments.append(try parseExpression()) } while consumePunct(",")
                    try expectPunct(")", "',' or ')' in the arguments of \(name)")
                }
                return .intrinsic(intrinsic, arguments)
            }
            throw fail("unknown operation '\(name)' in an expression", at: token)
        }
    }

    /// `nm_dot.N:M(values %b, indices %b, first E, kept K, dense %b[E])`.
    private mutating func parseNMDot() throws(DiagnosticError) -> KernelExpression {
        let nToken = tokens[min(position + 1, tokens.count - 1)]
        let n = try suffixNumber("the pattern N:M")
        try expectPunct(":", "':' and M of the pattern")
        let m = try quantity("M of the pattern", limit: 1 << 16)
        guard n >= 1 else { throw fail("nm_dot needs N of at least 1, found \(n)", at: nToken) }
        try expectPunct("(")
        try expectWord("values")
        let values = try bufferReference()
        try expectPunct(",")
        try expectWord("indices")
        let indices = try bufferReference()
        try expectPunct(",")
        try expectWord("first")
        let first = try parseExpression()
        try expectPunct(",")
        try expectWord("kept")
        let keptToken = current
        let kept = try quantity("the kept count")
        guard kept % n == 0 else {
            throw fail("nm_dot keeps \(kept) values, not a whole number of groups of \(n); expected a multiple of \(n)", at: keptToken)
        }
        try expectPunct(",")
        try expectWord("dense")
        let dense = try bufferReference()
        let denseStart = try parseIndex()
        try expectPunct(")")
        return .nmDot(NMDot(values: values, indices: indices, dense: dense, first: first, denseStart: denseStart,
                            groups: kept / n, n: n, m: m))
    }
}

/// A token of kernel IR text, with where it starts.
struct Token: CustomStringConvertible {
    enum Kind: Equatable {
        /// Letters, digits and `_`, starting with a letter or `_`.
        case word(String)
        /// An integer or float literal as written, sign and `f`/`d` suffix included.
        case number(String)
        /// `%bN`.
        case buffer(Int)
        /// `%vN`.
        case variable(Int)
        /// `@name` or `@"name"`.
        case atName(String)
        /// A quoted string, unescaped.
        case string(String)
        /// One character of punctuation.
        case punct(Character)
        /// A `//` comment: the text after `//` and one space.
        case comment(String)
        case end
    }

    var kind: Kind
    var line: Int
    var column: Int

    var description: String {
        switch kind {
        case let .word(text), let .number(text): return "'\(text)'"
        case let .buffer(index): return "'%b\(index)'"
        case let .variable(index): return "'%v\(index)'"
        case let .atName(name): return "'@\(kernelNameText(name))'"
        case let .string(text): return "the string \(quoteString(text))"
        case let .punct(character): return "'\(character)'"
        case .comment: return "a comment"
        case .end: return "end of file"
        }
    }
}

/// Splits kernel IR text into tokens, reading it with the scanner the graph IR parser uses.
struct KernelLexer {
    var scanner: TextScanner
    var bytes: [UInt8] { scanner.bytes }
    var position: Int {
        get { scanner.position }
        set { scanner.position = newValue }
    }
    var line: Int { scanner.line }
    var lineStart: Int { scanner.lineStart }

    init(scanner: TextScanner) {
        self.scanner = scanner
    }

    func fail(_ message: String) -> DiagnosticError {
        DiagnosticError(.error(scanner.location, message))
    }

    static func isDigit(_ byte: UInt8) -> Bool { TextScanner.isDigit(byte) }
    static func isLetter(_ byte: UInt8) -> Bool { TextScanner.isLetter(byte) }

    func byte(at offset: Int) -> UInt8? { scanner.byte(at: offset) }

    mutating func tokens() throws(DiagnosticError) -> [Token] {
        var tokens: [Token] = []
        while true {
            // Spaces and line breaks; comments are tokens here (a buffer's name is its line's comment).
            scanner.skipSpaces(comments: false)
            let column = position - lineStart + 1
            guard position < bytes.count else {
                tokens.append(Token(kind: .end, line: line, column: column))
                return tokens
            }
            let start = position
            let first = bytes[position]
            let kind: Token.Kind
            if first == 0x2F, byte(at: position + 1) == 0x2F {
                position += 2
                if byte(at: position) == 0x20 { position += 1 }
                let textStart = position
                while position < bytes.count, bytes[position] != 0x0A { position += 1 }
                kind = .comment(String(decoding: bytes[textStart..<position], as: UTF8.self))
            } else if KernelLexer.isLetter(first) {
                while position < bytes.count, KernelLexer.isLetter(bytes[position]) || KernelLexer.isDigit(bytes[position]) { position += 1 }
                kind = .word(String(decoding: bytes[start..<position], as: UTF8.self))
            } else if KernelLexer.isDigit(first) || (first == 0x2D && byte(at: position + 1).map { KernelLexer.isDigit($0) || KernelLexer.isLetter($0) } == true) {
                kind = .number(lexNumber())
            } else if first == 0x25, let marker = byte(at: position + 1), marker == 0x62 || marker == 0x76,
                      let digit = byte(at: position + 2), KernelLexer.isDigit(digit) {
                position += 2
                var value = 0
                while position < bytes.count, KernelLexer.isDigit(bytes[position]) {
                    let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                    let (sum, overflow2) = times.addingReportingOverflow(Int(bytes[position] - 0x30))
                    guard !overflow1, !overflow2, sum <= 1 << 40 else { throw fail("the number after '%\(marker == 0x62 ? "b" : "v")' is too large") }
                    value = sum
                    position += 1
                }
                if position < bytes.count, KernelLexer.isLetter(bytes[position]) {
                    throw fail("expected a number after '%\(marker == 0x62 ? "b" : "v")', found letters after it")
                }
                kind = marker == 0x62 ? .buffer(value) : .variable(value)
            } else if first == 0x40 {
                position += 1
                if byte(at: position) == 0x22 {
                    kind = .atName(try lexString())
                } else {
                    let nameStart = position
                    while position < bytes.count, isKernelWordByte(bytes[position]) { position += 1 }
                    guard nameStart < position else { throw fail("expected a name after '@'") }
                    kind = .atName(String(decoding: bytes[nameStart..<position], as: UTF8.self))
                }
            } else if first == 0x22 {
                kind = .string(try lexString())
            } else if let character = Token.punctuation[first] {
                position += 1
                kind = .punct(character)
            } else {
                let scalar = String(decoding: bytes[position..<min(position + 4, bytes.count)], as: UTF8.self).unicodeScalars.first
                throw fail("unexpected character \(scalar.map { "'\($0.escaped(asASCII: true))'" } ?? "byte \(first)") in kernel IR")
            }
            tokens.append(Token(kind: kind, line: line, column: column))
        }
    }

    /// `-`? then digits with optional fraction and exponent, or letters (`inf`, `nan`), then an optional suffix.
    mutating func lexNumber() -> String {
        let start = position
        if bytes[position] == 0x2D { position += 1 }
        if let byte = byte(at: position), KernelLexer.isLetter(byte) {
            while position < bytes.count, KernelLexer.isLetter(bytes[position]) || KernelLexer.isDigit(bytes[position]) { position += 1 }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }
        while position < bytes.count, KernelLexer.isDigit(bytes[position]) { position += 1 }
        if byte(at: position) == 0x2E, let next = byte(at: position + 1), KernelLexer.isDigit(next) {
            position += 1
            while position < bytes.count, KernelLexer.isDigit(bytes[position]) { position += 1 }
        }
        if let e = byte(at: position), e == 0x65 || e == 0x45 {
            var look = position + 1
            if let sign = byte(at: look), sign == 0x2B || sign == 0x2D { look += 1 }
            if let digit = byte(at: look), KernelLexer.isDigit(digit) {
                position = look
                while position < bytes.count, KernelLexer.isDigit(bytes[position]) { position += 1 }
            }
        }
        // A suffix (f, d) or stray letters, kept so that the parser reports the whole word.
        while position < bytes.count, KernelLexer.isLetter(bytes[position]) || KernelLexer.isDigit(bytes[position]) { position += 1 }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// A string in double quotes with the escapes `quoteString` writes.
    mutating func lexString() throws(DiagnosticError) -> String {
        position += 1
        switch scanner.quotedStringBody() {
        case let .success(text):
            return text
        case let .failure(problem):
            position = problem.offset
            switch problem.kind {
            case .lineBreak, .endOfText:
                throw fail("expected '\"' to close the string before the end of the line")
            case .missingBrace, .notHexDigit, .invalidUnicodeEscape, .unknownEscape:
                throw fail("bad escape in string; expected \\n, \\t, \\\", \\\\ or \\u{...}")
            }
        }
    }
}

extension Token {
    static let punctuation: [UInt8: Character] = [
        0x7B: "{", 0x7D: "}", 0x28: "(", 0x29: ")", 0x5B: "[", 0x5D: "]", 0x2C: ",", 0x3A: ":", 0x3D: "=",
        0x2B: "+", 0x2D: "-", 0x2A: "*", 0x2F: "/", 0x25: "%", 0x2E: ".",
    ]
}
