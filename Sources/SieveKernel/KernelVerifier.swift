// The kernel IR verifier: checks every invariant of a kernel program and reports all violations.
// Lowering output is verified before any backend sees it; backends may assume these hold.
//
// Invariants checked:
//  1. buffers: every buffer has a positive element count; arena buffers start at a multiple of 64 and
//     end inside `arenaBytes`; constant buffers start at a multiple of 64 and end inside the weights;
//     `inputs`/`outputs` list buffers whose storage is `input k`/`output k` at position k, and the
//     shapes and names tables have one entry per input and output
//  2. references: every BufferID and VariableID names an entry of its table
//  3. scoping: a variable is declared (or bound by a loop) exactly once per kernel, and used or
//     assigned only inside the block that declares it, after the declaration
//  4. types: every expression has a type by the rules below; loop bounds, indices and conditions are
//     i64; a declaration or assignment has the variable's type; a scalar store's value has the buffer's
//     compute type (f32 for float elements, i64 otherwise); vector loads, stores and broadcasts are
//     on f32 buffers and values; nm_index reads a u8 buffer with 2, 3 or 4 bits; nm_rows4 reads a u8
//     weight large enough for its layout, whose value order the pattern admits (in_lane: 1:4 and 2:4 only),
//     and f32 activations into a writable f32 output
//  5. writes: stores only target input-free, constant-free (writable) buffers
//  6. parallel loops: appear only at the top level of a kernel, start at 0 with step 1, and their
//     bodies use no variable declared outside them (so they can be split across threads)
//  7. steps: every loop step is positive; vector widths are 4, 8 or 16
//
// Not yet checked: that indices stay inside their buffers (needs range analysis), and that
// parallel iterations write disjoint elements (lowering guarantees it by construction).
//
// Each problem carries its site (a buffer, or a statement by its pre-order number), which the kernel
// IR parser's source map turns into a file line. IR/kernel/verifier/ has a negative file per invariant;
// two parts cannot be written as text, because the parser builds them: the shape and name tables of
// invariant 1, and variable-table entries of invariant 2 (both are tested in KernelIRTests).

import SieveIR

/// Where in a program a verifier problem lies.
public enum KernelSite: Hashable, Sendable {
    /// The program header (its sizes and tables).
    case program
    /// A buffer, by index.
    case buffer(Int)
    /// A kernel's header, by index.
    case kernel(Int)
    /// A statement of a kernel: its number in a pre-order walk of the body (a loop or branch
    /// before the statements it holds), which is the order `KernelSourceMap.statements` lists.
    case statement(kernel: Int, ordinal: Int)
}

/// One violation and where it lies.
public struct KernelProblem: Hashable, Sendable {
    /// Where.
    public var site: KernelSite
    /// What is wrong, starting lowercase.
    public var message: String
}

/// Checks kernel programs.
public enum KernelVerifier {
    /// Every violation, in program order; empty when the program is valid.
    public static func problems(in program: KernelProgram) -> [String] {
        locatedProblems(in: program).map(\.message)
    }

    /// Every violation with where it lies, in program order.
    public static func locatedProblems(in program: KernelProgram) -> [KernelProblem] {
        var problems: [KernelProblem] = []
        func report(_ site: KernelSite, _ message: String) { problems.append(KernelProblem(site: site, message: message)) }
        for (index, buffer) in program.buffers.enumerated() {
            let id = BufferID(index)
            let site = KernelSite.buffer(index)
            if buffer.count <= 0 { report(site, "\(id) has \(buffer.count) elements; a buffer needs at least one") }
            switch buffer.storage {
            case let .arena(offset):
                if offset % 64 != 0 { report(site, "\(id) starts at arena offset \(offset), not a multiple of 64") }
                if offset < 0 || offset + buffer.byteCount > program.arenaBytes {
                    report(site, "\(id) spans arena bytes \(offset)..<\(offset + buffer.byteCount), outside the arena of \(program.arenaBytes) bytes")
                }
            case let .constant(offset):
                if offset % 64 != 0 { report(site, "\(id) starts at weights offset \(offset), not a multiple of 64") }
                if offset < 0 || offset + buffer.byteCount > program.weights.count {
                    report(site, "\(id) spans weights bytes \(offset)..<\(offset + buffer.byteCount), outside the \(program.weights.count) weight bytes")
                }
            case .input, .output:
                break
            }
        }
        for (position, id) in program.inputs.enumerated() {
            guard program.buffers.indices.contains(id.index), program.buffers[id.index].storage == .input(position) else {
                report(program.buffers.indices.contains(id.index) ? .buffer(id.index) : .program,
                       "input \(position) is \(id), which is not a buffer with storage 'input \(position)'")
                continue
            }
        }
        for (position, id) in program.outputs.enumerated() {
            guard program.buffers.indices.contains(id.index), program.buffers[id.index].storage == .output(position) else {
                report(program.buffers.indices.contains(id.index) ? .buffer(id.index) : .program,
                       "output \(position) is \(id), which is not a buffer with storage 'output \(position)'")
                continue
            }
        }
        if program.inputShapes.count != program.inputs.count || program.inputNames.count != program.inputs.count
            || program.outputShapes.count != program.outputs.count || program.outputNames.count != program.outputs.count {
            report(.program, "the shape and name tables need one entry per input and output")
        }
        if ![4, 8, 16].contains(program.vectorWidth) {
            report(.program, "vector width \(program.vectorWidth) is not 4, 8 or 16")
        }
        for (index, kernel) in program.kernels.enumerated() {
            var checker = KernelChecker(program: program, kernel: kernel, kernelIndex: index)
            checker.checkBlock(kernel.body, topLevel: true)
            problems += checker.problems.map { KernelProblem(site: $0.site, message: "kernel @\(kernel.name): \($0.message)") }
        }
        return problems
    }

    /// Throws every violation at once, or returns when the program is valid.
    public static func verify(_ program: KernelProgram) throws(DiagnosticError) {
        let found = problems(in: program)
        if !found.isEmpty {
            throw DiagnosticError(found.map { .error(.unknown, "kernel IR verifier: \($0)") })
        }
    }

    /// Throws every violation at once, each at its place in the text the program was parsed from.
    public static func verify(_ program: KernelProgram, sourceMap: KernelSourceMap) throws(DiagnosticError) {
        let found = locatedProblems(in: program)
        if found.isEmpty { return }
        throw DiagnosticError(found.map { problem in
            let location: Location
            switch problem.site {
            case .program: location = sourceMap.program
            case let .buffer(index): location = sourceMap.buffers.indices.contains(index) ? sourceMap.buffers[index] : sourceMap.program
            case let .kernel(index): location = sourceMap.kernels.indices.contains(index) ? sourceMap.kernels[index] : sourceMap.program
            case let .statement(kernel, ordinal):
                if sourceMap.statements.indices.contains(kernel), sourceMap.statements[kernel].indices.contains(ordinal) {
                    location = sourceMap.statements[kernel][ordinal]
                } else {
                    location = sourceMap.kernels.indices.contains(kernel) ? sourceMap.kernels[kernel] : sourceMap.program
                }
            }
            return .error(location, "kernel IR verifier: \(problem.message)")
        })
    }
}

/// Walks one kernel with a scope stack.
private struct KernelChecker {
    let program: KernelProgram
    let kernel: Kernel
    let kernelIndex: Int
    var problems: [KernelProblem] = []
    /// The pre-order number of the statement being checked, or -1 before the first.
    var ordinal = -1
    /// Variables visible now, innermost block last.
    var scopes: [Set<VariableID>] = [[]]
    var declared: Set<VariableID> = []
    /// Variables visible at the start of the parallel loop being checked (which it must not use).
    var outsideParallel: Set<VariableID>? = nil

    init(program: KernelProgram, kernel: Kernel, kernelIndex: Int) {
        self.program = program
        self.kernel = kernel
        self.kernelIndex = kernelIndex
    }

    mutating func report(_ message: String) {
        let site: KernelSite = ordinal < 0 ? .kernel(kernelIndex) : .statement(kernel: kernelIndex, ordinal: ordinal)
        problems.append(KernelProblem(site: site, message: message))
    }

    func isVisible(_ id: VariableID) -> Bool { scopes.contains { $0.contains(id) } }

    mutating func bind(_ id: VariableID) {
        guard kernel.variables.indices.contains(id.index) else {
            report("\(id) is not in the variable table")
            return
        }
        if !declared.insert(id).inserted { report("\(id) is declared twice") }
        scopes[scopes.count - 1].insert(id)
    }

    func variableType(_ id: VariableID) -> ValueType? {
        kernel.variables.indices.contains(id.index) ? kernel.variables[id.index].type : nil
    }

    func buffer(_ id: BufferID) -> Buffer? {
        program.buffers.indices.contains(id.index) ? program.buffers[id.index] : nil
    }

    mutating func checkBlock(_ statements: [Statement], topLevel: Bool = false) {
        for statement in statements { check(statement, topLevel: topLevel) }
    }

    mutating func checkIndex(_ expression: KernelExpression, _ what: String) {
        if let type = typeOf(expression), type != .i64 { report("\(what) must be i64, found \(type)") }
    }

    mutating func check(_ statement: Statement, topLevel: Bool) {
        // Problems found before a loop's or branch's body is entered belong to that statement.
        ordinal += 1
        switch statement {
        case let .loop(loop):
            checkIndex(loop.lower, "loop lower bound")
            checkIndex(loop.upper, "loop upper bound")
            if loop.step <= 0 { report("loop step \(loop.step) must be positive") }
            var saved: Set<VariableID>?? = nil
            if loop.parallel {
                if !topLevel || outsideParallel != nil { report("parallel loop \(loop.variable) is not at the top level of the kernel") }
                if loop.lower != .int(0) || loop.step != 1 { report("parallel loop \(loop.variable) must start at 0 with step 1") }
                saved = .some(outsideParallel)
                outsideParallel = scopes.reduce(into: Set<VariableID>()) { $0.formUnion($1) }
            }
            scopes.append([])
            bind(loop.variable)
            if variableType(loop.variable) != .i64 { report("loop variable \(loop.variable) must be i64") }
            checkBlock(loop.body)
            scopes.removeLast()
            if let saved { outsideParallel = saved }
        case let .declare(id, value):
            let type = typeOf(value)
            bind(id)
            if let type, let declaredType = variableType(id), type != declaredType {
                report("\(id) is \(declaredType) but is initialised with \(type)")
            }
        case let .assign(id, value):
            use(id)
            if let type = typeOf(value), let declaredType = variableType(id), type != declaredType {
                report("\(id) is \(declaredType) but is assigned \(type)")
            }
        case let .store(id, index, value):
            checkIndex(index, "store index")
            let type = typeOf(value)
            guard let target = buffer(id) else { report("store to \(id), which is not a buffer"); return }
            if !target.isWritable { report("store to \(id), which is read only (\(target.storage.text))") }
            if let type, type != target.computeType {
                report("store of \(type) to \(id), whose elements take \(target.computeType)")
            }
        case let .vectorStore(id, index, value):
            checkIndex(index, "vector store index")
            let type = typeOf(value)
            guard let target = buffer(id) else { report("vector store to \(id), which is not a buffer"); return }
            if !target.isWritable { report("vector store to \(id), which is read only (\(target.storage.text))") }
            if target.elementType != .f32 { report("vector store to \(id) of \(target.elementType), expected f32") }
            if let type {
                if case let .f32x(width) = type { checkWidth(width) } else { report("vector store of \(type), expected a vector") }
            }
        case let .branch(condition, thenBody, elseBody):
            checkIndex(condition, "branch condition")
            scopes.append([])
            checkBlock(thenBody)
            scopes.removeLast()
            scopes.append([])
            checkBlock(elseBody)
            scopes.removeLast()
        case .trap:
            break
        case let .prefetch(id, index):
            checkIndex(index, "prefetch index")
            if buffer(id) == nil { report("prefetch of \(id), which is not a buffer") }
        case let .transposeTile(tile):
            checkIndex(tile.sourceStart, "transpose_tile source start")
            checkIndex(tile.outStart, "transpose_tile output start")
            if ![4, 8, 16].contains(tile.size) { report("transpose_tile.\(tile.size): the tile size must be 4, 8 or 16") }
            if tile.sourceStride < tile.size || tile.outStride < tile.size {
                report("transpose_tile strides \(tile.outStride) and \(tile.sourceStride) must be at least the tile size \(tile.size), so that rows do not overlap")
            }
            for (id, role) in [(tile.source, "source"), (tile.out, "output")] {
                guard let buffer = buffer(id) else { report("transpose_tile \(role) \(id) is not a buffer"); continue }
                if buffer.elementType != .f32 { report("transpose_tile \(role) \(id) of \(buffer.elementType), expected f32") }
            }
            if let target = buffer(tile.out), !target.isWritable { report("transpose_tile output \(tile.out) is read only (\(target.storage.text))") }
        case let .quantizeRow(row):
            for (index, role) in [(row.outStart, "output start"), (row.scaleIndex, "scale index"), (row.sourceStart, "source start")] {
                checkIndex(index, "quantize_row \(role)")
            }
            if row.length < 0 { report("quantize_row of length \(row.length), expected at least 0") }
            for (id, expected, role) in [(row.out, ElementType.u8, "output"), (row.scales, .f32, "scales"), (row.zeroPoints, .i32, "zero points"),
                                         (row.source, .f32, "source")] {
                guard let buffer = buffer(id) else { report("quantize_row \(role) \(id) is not a buffer"); continue }
                if buffer.elementType != expected { report("quantize_row \(role) \(id) of \(buffer.elementType), expected \(expected)") }
                if role != "source" && !buffer.isWritable { report("quantize_row \(role) \(id) is read only (\(buffer.storage.text))") }
            }
        case let .int8Tile(tile):
            for (index, role) in [(tile.aStart, "activation start"), (tile.rows, "rows"), (tile.panel, "first panel"),
                                  (tile.panels, "panels"), (tile.outStart, "output start")] {
                checkIndex(index, "int8_tile \(role)")
            }
            if tile.k < tile.layout.step || tile.k % tile.layout.step != 0 || tile.k > IntegerDot.maxLength {
                report("int8_tile.\(tile.layout.rawValue) over k = \(tile.k): k must be a positive multiple of \(tile.layout.step) up to \(IntegerDot.maxLength) (an exact int32 sum)")
            }
            if tile.aStride < tile.k { report("int8_tile activation stride \(tile.aStride) is shorter than k = \(tile.k), so rows would overlap") }
            if tile.outStride < Int8PanelLayout.columns {
                report("int8_tile output stride \(tile.outStride) is shorter than a panel's \(Int8PanelLayout.columns) columns, so rows would overlap")
            }
            for (id, expected, role) in [(tile.a, ElementType.u8, "activations"), (tile.weights, .i8, "weights"), (tile.out, .i32, "output")] {
                guard let source = buffer(id) else { report("int8_tile \(role) \(id) is not a buffer"); continue }
                if source.elementType != expected { report("int8_tile \(role) \(id) of \(source.elementType), expected \(expected)") }
            }
            if let target = buffer(tile.out), !target.isWritable { report("int8_tile output \(tile.out) is read only (\(target.storage.text))") }
            if let weights = buffer(tile.weights), weights.count < tile.layout.panelBytes(k: tile.k) {
                report("int8_tile weights \(tile.weights) hold \(weights.count) bytes, less than one panel of \(tile.layout.panelBytes(k: tile.k))")
            }
        case let .nmRowBlock(product):
            checkIndex(product.block, "nm_rows4 block")
            checkIndex(product.denseStart, "nm_rows4 dense start")
            checkIndex(product.outStart, "nm_rows4 output start")
            checkIndex(product.validRows, "nm_rows4 valid rows")
            for (id, expected, role) in [(product.weights, ElementType.u8, "weights"), (product.dense, .f32, "dense"), (product.out, .f32, "output")] {
                guard let source = buffer(id) else { report("nm_rows4 \(role) \(id) is not a buffer"); continue }
                if source.elementType != expected { report("nm_rows4 \(role) \(id) of \(source.elementType), expected \(expected)") }
            }
            if let target = buffer(product.out), !target.isWritable { report("nm_rows4 output \(product.out) is read only (\(target.storage.text))") }
            if !product.layout.order.admits(n: product.layout.n, m: product.layout.m) {
                report("nm_rows4.\(product.layout.n):\(product.layout.m) cannot be stored in \(product.layout.order.rawValue) order; the in-lane order needs 1:4 or 2:4")
            }
            if let weights = buffer(product.weights), weights.count < product.layout.totalBytes {
                report("nm_rows4 weights \(product.weights) hold \(weights.count) bytes, the layout needs \(product.layout.totalBytes)")
            }
        }
    }

    mutating func use(_ id: VariableID) {
        if !isVisible(id) { report("\(id) is used outside the block that declares it or before its declaration") }
        if let outside = outsideParallel, outside.contains(id) {
            report("\(id) is declared outside a parallel loop that uses it")
        }
    }

    mutating func checkWidth(_ width: Int) {
        if ![4, 8, 16].contains(width) { report("vector width \(width) is not 4, 8 or 16") }
    }

    /// The expression's type, reporting problems; nil when it has none.
    mutating func typeOf(_ expression: KernelExpression) -> ValueType? {
        switch expression {
        case .int: return .i64
        case .float: return .f32
        case .double: return .f64
        case let .variable(id):
            use(id)
            guard let type = variableType(id) else { report("\(id) is not in the variable table"); return nil }
            return type
        case let .load(id, index):
            checkIndex(index, "load index")
            guard let source = buffer(id) else { report("load from \(id), which is not a buffer"); return nil }
            return source.computeType
        case let .vectorLoad(id, index, width):
            checkIndex(index, "vector load index")
            checkWidth(width)
            guard let source = buffer(id) else { report("vector load from \(id), which is not a buffer"); return nil }
            if source.elementType != .f32 { report("vector load from \(id) of \(source.elementType), expected f32") }
            return .f32x(width)
        case let .broadcast(value, width):
            checkWidth(width)
            if let type = typeOf(value), type != .f32 { report("broadcast of \(type), expected f32") }
            return .f32x(width)
        case let .broadcastLane(value, lane):
            guard let type = typeOf(value) else { return nil }
            guard case let .f32x(width) = type else { report("broadcast_lane of \(type), expected a vector"); return nil }
            if lane < 0 || lane >= width { report("broadcast_lane of lane \(lane) of a vector of \(width)") }
            return type
        case let .reduceAdd(value):
            guard let type = typeOf(value) else { return nil }
            guard case .f32x = type else { report("reduce_add of \(type), expected a vector"); return nil }
            return .f32
        case let .unary(op, value):
            guard let type = typeOf(value) else { return nil }
            switch op {
            case .neg:
                return type
            case .not:
                if type != .i64 { report("not of \(type), expected i64") }
                return .i64
            case .isNaN:
                if !type.isScalarFloat { report("is_nan of \(type), expected a scalar float") }
                return .i64
            case .exp, .gelu, .sigmoid:
                var isVector = false
                if case .f32x = type { isVector = true }
                if !type.isScalarFloat && !isVector { report("\(op.rawValue) of \(type), expected a float or an f32 vector") }
                return type
            case .sqrt, .erf, .tanh, .geluTanh, .abs, .log, .floor, .ceil, .roundEven, .sin, .cos, .softplus:
                if !type.isScalarFloat { report("\(op.rawValue) of \(type), expected a scalar float") }
                return type
            }
        case let .binary(op, lhs, rhs):
            let left = typeOf(lhs), right = typeOf(rhs)
            guard let left, let right else { return nil }
            if left != right { report("\(op.rawValue) of \(left) and \(right); operands need one type") }
            switch op {
            case .add, .sub, .mul, .div, .min, .max:
                return left
            case .rem, .wrappingAdd, .wrappingSub, .wrappingMul, .wrappingDiv, .wrappingRem, .and, .or:
                if left != .i64 { report("\(op.rawValue) of \(left), expected i64") }
                return .i64
            case .pow, .fmod:
                if case .f32x = left { report("\(op.rawValue) of vectors is not supported") }
                if op == .fmod && !left.isScalarFloat { report("fmod of \(left), expected a scalar float") }
                return left
            case .lt, .le, .gt, .ge, .eq, .ne:
                if case .f32x = left { report("\(op.rawValue) of vectors is not supported") }
                return .i64
            }
        case let .fma(a, b, c):
            let types = [typeOf(a), typeOf(b), typeOf(c)]
            guard let first = types[0], types.allSatisfy({ $0 == first }) else {
                report("fma operands need one type, found \(types.map { $0.map { "\($0)" } ?? "?" })")
                return nil
            }
            if first == .i64 { report("fma of i64, expected f32, f64 or a vector") }
            return first
        case let .select(condition, a, b):
            checkIndex(condition, "select condition")
            let left = typeOf(a), right = typeOf(b)
            if let left, let right, left != right { report("select of \(left) and \(right); operands need one type") }
            return left
        case let .convert(value, type):
            guard let from = typeOf(value) else { return nil }
            if case .f32x = from { report("convert of a vector is not supported") }
            if case .f32x = type { report("convert to a vector is not supported") }
            if from.isScalarFloat && type == .i64 { report("convert from \(from) to i64 must use truncate_to_i64") }
            return type
        case let .nmIndex(id, element, bits):
            checkIndex(element, "nm_index element")
            if ![2, 3, 4].contains(bits) { report("nm_index of \(bits) bits, expected 2, 3 or 4") }
            guard let source = buffer(id) else { report("nm_index from \(id), which is not a buffer"); return nil }
            if source.elementType != .u8 { report("nm_index from \(id) of \(source.elementType), expected packed u8") }
            return .i64
        case let .nmDot(dot):
            checkIndex(dot.first, "nm_dot first element")
            checkIndex(dot.denseStart, "nm_dot dense start")
            let bits = dot.m.trailingZeroBitCount
            if ![2, 3, 4].contains(bits) || dot.m != 1 << bits { report("nm_dot with m = \(dot.m), expected 4, 8 or 16") }
            if dot.n < 1 || dot.n > dot.m || dot.groups < 0 { report("nm_dot of \(dot.n):\(dot.m) over \(dot.groups) groups") }
            // f32 values and activations, or i8 values and u8 activations (an exact integer sum).
            let integer = buffer(dot.values)?.elementType == .i8
            if integer && dot.groups * dot.n > IntegerDot.maxLength {
                report("nm_dot of i8 values keeps \(dot.groups * dot.n) values, more than the \(IntegerDot.maxLength) an exact int32 sum allows")
            }
            let expectedValues: ElementType = integer ? .i8 : .f32, expectedDense: ElementType = integer ? .u8 : .f32
            for (id, expected, role) in [(dot.values, expectedValues, "values"), (dot.indices, .u8, "indices"), (dot.dense, expectedDense, "dense")] {
                guard let source = buffer(id) else { report("nm_dot \(role) \(id) is not a buffer"); continue }
                if source.elementType != expected { report("nm_dot \(role) \(id) of \(source.elementType), expected \(expected)") }
            }
            return integer ? .i64 : .f32
        case let .dot(dot):
            checkIndex(dot.aStart, "dot start of a")
            checkIndex(dot.bStart, "dot start of b")
            if dot.length < 0 || dot.length > IntegerDot.maxLength {
                report("dot of length \(dot.length), expected 0 to \(IntegerDot.maxLength) (an exact int32 sum)")
            }
            for (id, expected, role) in [(dot.a, ElementType.u8, "a"), (dot.b, .i8, "b")] {
                guard let source = buffer(id) else { report("dot \(role) \(id) is not a buffer"); continue }
                if source.elementType != expected { report("dot \(role) \(id) of \(source.elementType), expected \(expected)") }
            }
            return .i64
        case let .intrinsic(intrinsic, arguments):
            let types = arguments.map { typeOf($0) }
            switch intrinsic {
            case .quantize:
                if types != [.f32, .f32, .i64, .i64, .i64] { report("quantize takes (f32, f32, i64, i64, i64)") }
                return .i64
            case .truncateToI64:
                guard types.count == 1, let type = types[0], type.isScalarFloat else {
                    report("truncate_to_i64 takes one scalar float")
                    return .i64
                }
                return .i64
            }
        }
    }
}
