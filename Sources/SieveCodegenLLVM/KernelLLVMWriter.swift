// One kernel as LLVM functions: a task per top-level parallel loop, then the serial driver, as the C backend writes them.
// Every statement and expression of kernel IR maps to the instructions that give the C backend's results.

import CLLVM
import SieveIR
import SieveKernel

/// Writes one kernel; `emit()` returns the serial function `NAME_KERNEL(state)`. With `shared` set it writes instead
/// the body that kernels of one `SharedKernelForm` call: `NAME_KERNEL_shared(state, base, base, ...)`, whose buffers are
/// the parameters after the state (in the form's order) and whose tasks read the state and the bases from a frame
/// the body passes to the pool in place of the state: a copy of the state, then the bases.
struct KernelLLVMWriter {
    let program: KernelProgram
    let kernel: Kernel
    let builder: ModuleBuilder
    var shared: SharedKernelForm? = nil

    var prefix: String { program.name }

    func emit() throws(LLVMBackendError) -> LLVMValueRef? {
        let b = builder
        let symbol = "\(prefix)_\(kernel.name)" + (shared == nil ? "" : "_shared")
        var taskIndex = 0
        var tasks: [(Loop, LLVMValueRef?)] = []
        for statement in kernel.body {
            guard case let .loop(loop) = statement, loop.parallel else { continue }
            let (task, _) = b.function("\(symbol)_task\(taskIndex)", returns: b.void, [b.pointer, b.i64, b.i64])
            taskIndex += 1
            LLVMSetLinkage(task, LLVMInternalLinkage)
            b.defining(task)
            b.debugLocation = b.debugInfo?.attach(task, symbol: "\(symbol)_task\(taskIndex - 1)", kernel: kernel)
            var frame = FunctionFrame(function: task, writer: self, bases: shared == nil ? .state : .frame)
            // Iterations [begin, end) of the loop, as the pool hands them out (parallel loops run from 0 by 1).
            var body = loop
            body.lower = .int(0)
            body.step = 1
            body.parallel = false
            try frame.emitLoop(body, lower: LLVMGetParam(task, 1), upper: LLVMGetParam(task, 2))
            frame.finish()
            tasks.append((loop, task))
        }
        let parameters = [b.pointer] + (shared?.buffers ?? []).map { _ in b.pointer }
        let (function, _) = b.function(symbol, returns: b.void, parameters)
        LLVMSetLinkage(function, LLVMInternalLinkage)
        b.defining(function)
        b.debugLocation = b.debugInfo?.attach(function, symbol: symbol, kernel: kernel)
        var frame = FunctionFrame(function: function, writer: self, bases: shared == nil ? .state : .parameters)
        // A shared body hands its tasks a frame on its stack: a copy of the state (the pool reads its pool from it and
        // passes it to the tasks), then the bases.
        let taskArgument = shared == nil ? frame.state : frame.taskFrame(bases: parameters.count - 1)
        var taskQueue = tasks[...]
        for statement in kernel.body {
            if case let .loop(loop) = statement, loop.parallel, let (_, task) = taskQueue.popFirst() {
                let count = try frame.value(loop.upper)
                b.call(.poolRun, returns: b.void, [(taskArgument, b.pointer), (task, b.pointer), (count, b.i64)])
            } else {
                try frame.emit(statement)
            }
        }
        frame.finish()
        b.debugLocation = nil
        LLVMSetCurrentDebugLocation2(b.builder, nil)
        return function
    }

    /// `NAME_KERNEL(state)` of a kernel whose code is a shared body: the kernel's buffer bases, then the call.
    func emitCall(to body: LLVMValueRef?, form: SharedKernelForm) -> LLVMValueRef? {
        let b = builder
        let symbol = "\(prefix)_\(kernel.name)"
        let (function, _) = b.function(symbol, returns: b.void, [b.pointer])
        LLVMSetLinkage(function, LLVMInternalLinkage)
        b.defining(function)
        b.debugLocation = b.debugInfo?.attach(function, symbol: symbol, kernel: kernel)
        var frame = FunctionFrame(function: function, writer: self, bases: .state)
        var arguments: [LLVMValueRef?] = [frame.state]
        for id in form.buffers { arguments.append(frame.base(id)) }
        let (_, type) = b.function(String(cString: LLVMGetValueName(body)), returns: b.void, arguments.map { _ in b.pointer })
        LLVMBuildCall2(b.builder, type, body, &arguments, UInt32(arguments.count), "")
        frame.finish()
        b.debugLocation = nil
        LLVMSetCurrentDebugLocation2(b.builder, nil)
        return function
    }
}

/// Kernels whose code is the same but for the buffers they touch (the six layers of an encoder: 136 kernels, 17 forms)
/// share one body in the module, so that LLVM optimises and generates each form once. The form is the kernel's text
/// (KernelPrinter, complete enough for KernelParser to read back) without its name and header, with buffer IDs
/// numbered by first use, plus those buffers' element types and the variables' types.
struct SharedKernelForm: Hashable {
    /// The form's text.
    let key: String
    /// This kernel's buffers in the order of first use, the shared body's parameters after the state.
    let buffers: [BufferID]

    init(_ kernel: Kernel, program: KernelProgram) {
        let text = kernel.print()
        let body = text.drop { $0 != "\n" }
        var buffers: [BufferID] = []
        var numbers: [Int: Int] = [:]
        var key = ""
        var characters = body[...]
        while let marker = characters.range(of: "%b") {
            key += characters[..<marker.lowerBound]
            var rest = characters[marker.upperBound...]
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            rest = rest.dropFirst(digits.count)
            if let index = Int(digits) {
                if numbers[index] == nil {
                    numbers[index] = buffers.count
                    buffers.append(BufferID(index))
                }
                key += "%b\(numbers[index] ?? 0)"
            } else {
                key += "%b"
            }
            characters = rest
        }
        key += characters
        key += "\n" + buffers.map { "\(program.buffers[$0.index].elementType)" }.joined(separator: ",")
        key += "\n" + kernel.variables.map { "\($0.type)" }.joined(separator: ",")
        self.key = key
        self.buffers = buffers
    }

    static func == (lhs: SharedKernelForm, rhs: SharedKernelForm) -> Bool { lhs.key == rhs.key }
    func hash(into hasher: inout Hasher) { hasher.combine(key) }
}

/// The state of one function being written: its entry block (variables and buffer bases), and the current block.
struct FunctionFrame {
    let function: LLVMValueRef?
    let writer: KernelLLVMWriter
    let entry: LLVMBasicBlockRef
    let state: LLVMValueRef?
    /// Where the buffers' bases come from.
    let bases: BaseSource
    private var variables: [VariableID: LLVMValueRef] = [:]
    private var knownBases: [BufferID: LLVMValueRef] = [:]
    private let entryBuilder: LLVMBuilderRef

    var b: ModuleBuilder { writer.builder }
    var kernel: Kernel { writer.kernel }
    var program: KernelProgram { writer.program }

    /// Where a function finds the buffers' bases.
    enum BaseSource {
        /// In the state (its first parameter), at the offsets of the buffers' storage.
        case state
        /// In the parameters after the state, in the order of `KernelLLVMWriter.shared` (a shared body).
        case parameters
        /// In the frame its first parameter points to: a copy of the state's fields, then the bases (a shared body's task).
        case frame
    }

    init(function: LLVMValueRef?, writer: KernelLLVMWriter, bases: BaseSource) {
        self.function = function
        self.writer = writer
        self.bases = bases
        let context = writer.builder.context
        entry = LLVMAppendBasicBlockInContext(context, function, "entry")
        entryBuilder = LLVMCreateBuilderInContext(context)
        LLVMPositionBuilderAtEnd(entryBuilder, entry)
        state = LLVMGetParam(function, 0)
        let body = LLVMAppendBasicBlockInContext(context, function, "body")
        LLVMPositionBuilderAtEnd(writer.builder.builder, body)
        // Every instruction of the function carries the kernel's graph location (DebugInfo.swift).
        LLVMSetCurrentDebugLocation2(entryBuilder, writer.builder.debugLocation)
        LLVMSetCurrentDebugLocation2(writer.builder.builder, writer.builder.debugLocation)
    }

    /// Closes the function: the entry block falls into the body, the last block returns.
    func finish() {
        if LLVMGetBasicBlockTerminator(LLVMGetInsertBlock(b.builder)) == nil { LLVMBuildRetVoid(b.builder) }
        LLVMBuildBr(entryBuilder, LLVMGetNextBasicBlock(entry))
        LLVMDisposeBuilder(entryBuilder)
    }

    func newBlock(_ name: String) -> LLVMBasicBlockRef { LLVMAppendBasicBlockInContext(b.context, function, name) }

    /// The stack slot of a variable, made in the entry block on first use (the optimizer turns slots into registers).
    mutating func slot(_ id: VariableID) -> (LLVMValueRef?, LLVMTypeRef) {
        let type = b.type(kernel.variables.indices.contains(id.index) ? kernel.variables[id.index].type : .i64)
        if let known = variables[id] { return (known, type) }
        let name = kernel.variables.indices.contains(id.index) ? kernel.variables[id.index].name : "v"
        let made = LLVMBuildAlloca(entryBuilder, type, "\(name)_\(id.index)")!
        variables[id] = made
        return (made, type)
    }

    /// The frame a shared body passes to its tasks: the state's fields, then its bases (its parameters after the state).
    func taskFrame(bases count: Int) -> LLVMValueRef? {
        let type = LLVMArrayType2(b.pointer, UInt64(FunctionFrame.stateFields + count))
        let frame = LLVMBuildAlloca(entryBuilder, type, "frame")
        for index in 0..<(FunctionFrame.stateFields + count) {
            var indices: [LLVMValueRef?] = [b.int(Int64(index))]
            let address = LLVMBuildInBoundsGEP2(entryBuilder, b.pointer, frame, &indices, 1, "")
            let value: LLVMValueRef?
            if index < FunctionFrame.stateFields {
                value = LLVMBuildLoad2(entryBuilder, b.pointer, LLVMBuildStructGEP2(entryBuilder, b.stateType, state, UInt32(index), ""), "")
            } else {
                value = LLVMGetParam(function, UInt32(index - FunctionFrame.stateFields + 1))
            }
            LLVMBuildStore(entryBuilder, value, address)
        }
        return frame
    }

    /// The pointers of `sieve_llvm_state` (pool, arena, weights, inputs, outputs, error).
    static let stateFields = 6

    /// The address of a buffer's first element, found in the entry block on first use (see `BaseSource`).
    mutating func base(_ id: BufferID) -> LLVMValueRef? {
        if let known = knownBases[id] { return known }
        if bases != .state {
            let position = writer.shared?.buffers.firstIndex(of: id) ?? 0
            let address: LLVMValueRef?
            if bases == .parameters {
                address = LLVMGetParam(function, UInt32(position + 1))
            } else {
                var indices: [LLVMValueRef?] = [b.int(Int64(FunctionFrame.stateFields + position))]
                let slot = LLVMBuildInBoundsGEP2(entryBuilder, b.pointer, LLVMGetParam(function, 0), &indices, 1, "")
                address = LLVMBuildLoad2(entryBuilder, b.pointer, slot, "b\(id.index)")
            }
            knownBases[id] = address
            return address
        }
        let buffer = program.buffers[id.index]
        func field(_ index: UInt32) -> LLVMValueRef? {
            let address = LLVMBuildStructGEP2(entryBuilder, b.stateType, state, index, "")
            return LLVMBuildLoad2(entryBuilder, b.pointer, address, "")
        }
        func offset(_ base: LLVMValueRef?, _ bytes: Int) -> LLVMValueRef? {
            var index: [LLVMValueRef?] = [b.int(Int64(bytes))]
            return LLVMBuildInBoundsGEP2(entryBuilder, b.i8, base, &index, 1, "")
        }
        let address: LLVMValueRef?
        switch buffer.storage {
        case let .input(k), let .output(k):
            let table = field(buffer.storage == .input(k) ? 3 : 4)
            var index: [LLVMValueRef?] = [b.int(Int64(k))]
            let entryAddress = LLVMBuildInBoundsGEP2(entryBuilder, b.pointer, table, &index, 1, "")
            address = LLVMBuildLoad2(entryBuilder, b.pointer, entryAddress, "")
        case let .arena(bytes): address = offset(field(1), bytes)
        case let .constant(bytes): address = offset(field(2), bytes)
        }
        LLVMSetValueName2(address, "b\(id.index)", "b\(id.index)".utf8.count)
        knownBases[id] = address
        return address
    }

    /// The address of element `index` of a buffer.
    mutating func element(_ id: BufferID, _ index: LLVMValueRef?, type: LLVMTypeRef? = nil) -> LLVMValueRef? {
        let elementType = type ?? b.elementType(program.buffers[id.index].elementType)
        var indices: [LLVMValueRef?] = [index]
        return LLVMBuildGEP2(b.builder, elementType, base(id), &indices, 1, "")
    }

    // MARK: statements

    mutating func emit(_ statement: Statement) throws(LLVMBackendError) {
        let builder = b.builder
        switch statement {
        case let .loop(loop):
            try emitLoop(loop, lower: try value(loop.lower), upper: nil)
        case let .declare(id, expression), let .assign(id, expression):
            let result = try value(expression)
            let (address, _) = slot(id)
            LLVMBuildStore(builder, result, address)
        case let .store(id, index, expression):
            let element = program.buffers[id.index].elementType
            let result = try value(expression)
            let stored: LLVMValueRef?
            switch element {
            case .f32, .i64: stored = result
            case .f16: stored = b.call(.f32ToF16, returns: b.i16, [(result, b.f32)])
            case .bf16: stored = b.call(.f32ToBF16, returns: b.i16, [(result, b.f32)])
            case .f8e4m3fn, .f8e5m2, .f4e2m1:
                let symbol: LLVMRuntimeSymbol = element == .f8e4m3fn ? .f32ToF8E4M3FN : element == .f8e5m2 ? .f32ToF8E5M2 : .f32ToF4E2M1
                stored = LLVMBuildTrunc(builder, b.call(symbol, returns: b.i32, [(result, b.f32)]), b.i8, "")
            case .i8, .u8: stored = LLVMBuildTrunc(builder, result, b.i8, "")
            case .i16, .u16: stored = LLVMBuildTrunc(builder, result, b.i16, "")
            case .i4, .i2:
                // Two's complement wrap to the narrow width, sign-extended in the byte (sieve_wrap_signed).
                let spare = b.int(element == .i4 ? 60 : 62)
                stored = LLVMBuildTrunc(builder, LLVMBuildAShr(builder, LLVMBuildShl(builder, result, spare, ""), spare, ""), b.i8, "")
            case .u4, .u2:
                stored = LLVMBuildTrunc(builder, LLVMBuildAnd(builder, result, b.int(element == .u4 ? 0xF : 0x3), ""), b.i8, "")
            case .i32: stored = LLVMBuildTrunc(builder, result, b.i32, "")
            case .bool: stored = LLVMBuildZExt(builder, LLVMBuildICmp(builder, LLVMIntNE, result, b.int(0), ""), b.i8, "")
            }
            let address = self.element(id, try value(index))
            let store = LLVMBuildStore(builder, stored, address)
            LLVMSetAlignment(store, UInt32(element.byteSize))
        case let .vectorStore(id, index, expression):
            let result = try value(expression)
            let address = element(id, try value(index), type: b.f32)
            let store = LLVMBuildStore(builder, result, address)
            LLVMSetAlignment(store, 4)
        case let .branch(condition, thenBody, elseBody):
            let test = LLVMBuildICmp(builder, LLVMIntNE, try value(condition), b.int(0), "")
            let thenBlock = newBlock("then"), elseBlock = newBlock("else"), join = newBlock("join")
            LLVMBuildCondBr(builder, test, thenBlock, elseBlock)
            LLVMPositionBuilderAtEnd(builder, thenBlock)
            for inner in thenBody { try emit(inner) }
            LLVMBuildBr(builder, join)
            LLVMPositionBuilderAtEnd(builder, elseBlock)
            for inner in elseBody { try emit(inner) }
            LLVMBuildBr(builder, join)
            LLVMPositionBuilderAtEnd(builder, join)
        case let .trap(reason):
            let code: Int32 = reason == .indexOutOfRange ? 6 : 7
            let address = LLVMBuildLoad2(builder, b.pointer, LLVMBuildStructGEP2(builder, b.stateType, state, 5, ""), "")
            let store = LLVMBuildStore(builder, b.int32(code), address)
            LLVMSetOrdering(store, LLVMAtomicOrderingMonotonic)
            LLVMSetAlignment(store, 4)
            LLVMBuildRetVoid(builder)
            // Whatever follows in the block is unreachable; it goes to a block without predecessors.
            LLVMPositionBuilderAtEnd(builder, newBlock("after_trap"))
        case let .prefetch(id, index):
            let address = self.element(id, try value(index))
            _ = b.intrinsic("llvm.prefetch", overloads: [b.pointer], [address, b.int32(0), b.int32(3), b.int32(1)])
        case let .nmRowBlock(product):
            let layout = product.layout
            let blockStart = LLVMBuildMul(builder, try value(product.block), b.int(Int64(layout.blockBytes)), "")
            let blockAddress = element(product.weights, blockStart, type: b.i8)
            let dense = element(product.dense, try value(product.denseStart), type: b.f32)
            let out = element(product.out, try value(product.outStart), type: b.f32)
            b.call(.nmRows4, returns: b.void, [
                (blockAddress, b.pointer), (b.int(Int64(layout.chunks)), b.i64), (b.int(Int64(layout.tailKept)), b.i64),
                (b.int32(Int32(layout.n)), b.i32), (b.int32(Int32(layout.m)), b.i32), (b.int32(layout.order == .inLane ? 1 : 0), b.i32),
                (dense, b.pointer), (out, b.pointer), (try value(product.validRows), b.i64),
            ])
        case let .quantizeRow(row):
            let source = element(row.source, try value(row.sourceStart), type: b.f32)
            let out = element(row.out, try value(row.outStart), type: b.i8)
            let index = try value(row.scaleIndex)
            let scale = element(row.scales, index, type: b.f32), zeroPoint = element(row.zeroPoints, index, type: b.i32)
            b.call(.quantizeRowU8, returns: b.void, [(source, b.pointer), (b.int(Int64(row.length)), b.i64), (out, b.pointer),
                                                    (scale, b.pointer), (zeroPoint, b.pointer)])
        case let .int8Tile(tile):
            let a = element(tile.a, try value(tile.aStart), type: b.i8)
            let panelStart = LLVMBuildMul(builder, try value(tile.panel), b.int(Int64(tile.layout.panelBytes(k: tile.k))), "")
            let weights = element(tile.weights, panelStart, type: b.i8)
            let out = element(tile.out, try value(tile.outStart), type: b.i32)
            b.call(.int8Tile, returns: b.void, [
                (a, b.pointer), (b.int(Int64(tile.aStride)), b.i64), (try value(tile.rows), b.i64), (weights, b.pointer),
                (try value(tile.panels), b.i64), (b.int(Int64(tile.k)), b.i64), (b.int32(tile.layout == .sparse24 ? 1 : 0), b.i32),
                (out, b.pointer), (b.int(Int64(tile.outStride)), b.i64),
            ])
        case let .transposeTile(tile):
            let symbol: LLVMRuntimeSymbol
            switch tile.size {
            case 16: symbol = .transpose16
            case 8: symbol = .transpose8
            case 4: symbol = .transpose4
            default: throw LLVMBackendError("kernel \(kernel.name): a transpose tile of \(tile.size) elements has no runtime helper")
            }
            let source = element(tile.source, try value(tile.sourceStart), type: b.f32)
            let out = element(tile.out, try value(tile.outStart), type: b.f32)
            b.call(symbol, returns: b.void, [(source, b.pointer), (b.int(Int64(tile.sourceStride)), b.i64),
                                             (out, b.pointer), (b.int(Int64(tile.outStride)), b.i64)])
        }
    }

    /// `for (v = lower; v < upper; v += step)`, upper evaluated before every iteration as in C (or fixed when given).
    mutating func emitLoop(_ loop: Loop, lower: LLVMValueRef?, upper fixedUpper: LLVMValueRef?) throws(LLVMBackendError) {
        let builder = b.builder
        let (counter, _) = slot(loop.variable)
        LLVMBuildStore(builder, lower, counter)
        let header = newBlock("loop"), body = newBlock("loop_body"), exit = newBlock("loop_exit")
        LLVMBuildBr(builder, header)
        LLVMPositionBuilderAtEnd(builder, header)
        let current = LLVMBuildLoad2(builder, b.i64, counter, "")
        let upper: LLVMValueRef?
        if let fixedUpper { upper = fixedUpper } else { upper = try value(loop.upper) }
        LLVMBuildCondBr(builder, LLVMBuildICmp(builder, LLVMIntSLT, current, upper, ""), body, exit)
        LLVMPositionBuilderAtEnd(builder, body)
        for inner in loop.body { try emit(inner) }
        let next = LLVMBuildAdd(builder, LLVMBuildLoad2(builder, b.i64, counter, ""), b.int(Int64(loop.step)), "")
        LLVMBuildStore(builder, next, counter)
        LLVMBuildBr(builder, header)
        LLVMPositionBuilderAtEnd(builder, exit)
    }

    // MARK: expressions

    func type(of expression: KernelExpression) -> ValueType { kernel.type(of: expression, buffers: program.buffers) }

    /// Whether evaluating the expression can neither fault nor trap, so that it may run when C would skip it
    /// (the unchosen arm of `?:`, the right side of `&&` and `||`).
    func isSpeculatable(_ expression: KernelExpression) -> Bool {
        var safe = true
        func visit(_ node: KernelExpression) {
            switch node {
            case .load, .vectorLoad, .nmIndex, .nmDot, .dot: safe = false
            case let .binary(op, lhs, rhs):
                if type(of: lhs) == .i64, [.div, .rem, .wrappingDiv, .wrappingRem].contains(op) { safe = false }
                visit(lhs); visit(rhs)
            case .int, .float, .double, .variable: break
            case let .broadcast(value, _), let .reduceAdd(value), let .unary(_, value), let .convert(value, _), let .broadcastLane(value, _):
                visit(value)
            case let .fma(x, y, z), let .select(x, y, z): visit(x); visit(y); visit(z)
            case let .intrinsic(_, arguments): arguments.forEach(visit)
            }
        }
        visit(expression)
        return safe
    }

    /// Evaluates `value` only on the path where C would: `condition` (i1) true gives `value`, false gives `otherwise`.
    mutating func guarded(_ condition: LLVMValueRef?, _ expression: KernelExpression, otherwise: LLVMValueRef?,
                          resultType: LLVMTypeRef) throws(LLVMBackendError) -> LLVMValueRef? {
        let builder = b.builder
        let start = LLVMGetInsertBlock(builder)
        let compute = newBlock("guarded"), join = newBlock("guarded_join")
        LLVMBuildCondBr(builder, condition, compute, join)
        LLVMPositionBuilderAtEnd(builder, compute)
        let computed = try value(expression)
        let end = LLVMGetInsertBlock(builder)
        LLVMBuildBr(builder, join)
        LLVMPositionBuilderAtEnd(builder, join)
        let phi = LLVMBuildPhi(builder, resultType, "")
        var values: [LLVMValueRef?] = [otherwise, computed]
        var blocks: [LLVMBasicBlockRef?] = [start, end]
        LLVMAddIncoming(phi, &values, &blocks, 2)
        return phi!
    }

    mutating func value(_ expression: KernelExpression) throws(LLVMBackendError) -> LLVMValueRef? {
        let builder = b.builder
        switch expression {
        case let .int(number): return b.int(number)
        case let .float(number): return b.float(number)
        case let .double(number): return b.double(number)
        case let .variable(id):
            let (address, type) = slot(id)
            return LLVMBuildLoad2(builder, type, address, "")
        case let .load(id, index):
            let element = program.buffers[id.index].elementType
            let memoryType = b.elementType(element)
            let loaded = LLVMBuildLoad2(builder, memoryType, self.element(id, try value(index)), "")!
            LLVMSetAlignment(loaded, UInt32(element.byteSize))
            switch element {
            case .f32, .i64: return loaded
            case .f16: return b.call(.f16ToF32, returns: b.f32, [(loaded, b.i16)])
            case .bf16: return b.call(.bf16ToF32, returns: b.f32, [(loaded, b.i16)])
            case .f8e4m3fn, .f8e5m2, .f4e2m1:
                let symbol: LLVMRuntimeSymbol = element == .f8e4m3fn ? .f8e4m3fnToF32 : element == .f8e5m2 ? .f8e5m2ToF32 : .f4e2m1ToF32
                return b.call(symbol, returns: b.f32, [(LLVMBuildZExt(builder, loaded, b.i32, ""), b.i32)])
            case .i8, .i16, .i32, .i4, .i2: return LLVMBuildSExt(builder, loaded, b.i64, "")
            case .u8, .u16, .bool, .u4, .u2: return LLVMBuildZExt(builder, loaded, b.i64, "")
            }
        case let .vectorLoad(id, index, width):
            let loaded = LLVMBuildLoad2(builder, b.vector(width), element(id, try value(index), type: b.f32), "")!
            LLVMSetAlignment(loaded, 4)
            return loaded
        case let .broadcast(scalar, width):
            return b.splat(try value(scalar), width: width)
        case let .broadcastLane(vector, lane):
            let source = try value(vector)
            guard case let .f32x(width) = type(of: vector) else { return source }
            var lanes: [LLVMValueRef?] = (0..<width).map { _ in LLVMConstInt(b.i32, UInt64(lane), 0) }
            return LLVMBuildShuffleVector(builder, b.inRegister(source, width: width), LLVMGetPoison(b.vector(width)),
                                          LLVMConstVector(&lanes, UInt32(width)), "")
        case let .reduceAdd(vector):
            let source = try value(vector)
            guard case let .f32x(width) = type(of: vector) else { return source }
            // Without reassociation flags LLVM keeps the sequential order: ((0 + v0) + v1) + ..., as the C loop does.
            return b.intrinsic("llvm.vector.reduce.fadd", overloads: [b.vector(width)], [b.float(0), source])
        case let .unary(op, operand):
            return try unary(op, operand)
        case let .binary(op, lhs, rhs):
            return try binary(op, lhs, rhs)
        case let .fma(x, y, z):
            let operandType = type(of: x)
            let a = try value(x), c = try value(y), d = try value(z)
            if case .f32x = operandType, b.target.fusedVectorFMA {
                return b.intrinsic("llvm.fma", overloads: [b.type(operandType)], [a, c, d])
            }
            // C without contraction (-std=c11): a multiply, then an add.
            return LLVMBuildFAdd(builder, LLVMBuildFMul(builder, a, c, ""), d, "")
        case let .select(condition, whenTrue, whenFalse):
            let test = LLVMBuildICmp(builder, LLVMIntNE, try value(condition), b.int(0), "")!
            let resultType = b.type(type(of: whenTrue))
            switch (isSpeculatable(whenTrue), isSpeculatable(whenFalse)) {
            case (true, true):
                return LLVMBuildSelect(builder, test, try value(whenTrue), try value(whenFalse), "")
            case (false, true):
                return try guarded(test, whenTrue, otherwise: try value(whenFalse), resultType: resultType)
            case (true, false):
                return try guarded(LLVMBuildNot(builder, test, ""), whenFalse, otherwise: try value(whenTrue), resultType: resultType)
            case (false, false):
                let thenBlock = newBlock("select_true"), elseBlock = newBlock("select_false"), join = newBlock("select_join")
                LLVMBuildCondBr(builder, test, thenBlock, elseBlock)
                LLVMPositionBuilderAtEnd(builder, thenBlock)
                let first = try value(whenTrue)
                let firstEnd = LLVMGetInsertBlock(builder)
                LLVMBuildBr(builder, join)
                LLVMPositionBuilderAtEnd(builder, elseBlock)
                let second = try value(whenFalse)
                let secondEnd = LLVMGetInsertBlock(builder)
                LLVMBuildBr(builder, join)
                LLVMPositionBuilderAtEnd(builder, join)
                let phi = LLVMBuildPhi(builder, resultType, "")
                var values: [LLVMValueRef?] = [first, second]
                var blocks: [LLVMBasicBlockRef?] = [firstEnd, secondEnd]
                LLVMAddIncoming(phi, &values, &blocks, 2)
                return phi!
            }
        case let .convert(operand, target):
            let source = type(of: operand)
            let converted = try value(operand)
            switch (source, target) {
            case _ where source == target: return converted
            case (.i64, .f32), (.i64, .f64): return LLVMBuildSIToFP(builder, converted, b.type(target), "")
            case (.f32, .f64): return LLVMBuildFPExt(builder, converted, b.f64, "")
            case (.f64, .f32): return LLVMBuildFPTrunc(builder, converted, b.f32, "")
            case (.f32, .i64), (.f64, .i64): return LLVMBuildFPToSI(builder, converted, b.i64, "")
            default: throw LLVMBackendError("kernel \(kernel.name): no conversion from \(source) to \(target)")
            }
        case let .nmIndex(id, elementExpression, bits):
            return nmIndex(base(id), try value(elementExpression), bits: bits)
        case let .nmDot(dot) where program.buffers[dot.values.index].elementType == .i8:
            // i8 kept values times u8 activations, exact (the dynamic int8 product).
            let values = base(dot.values), indices = base(dot.indices)
            let dense = element(dot.dense, try value(dot.denseStart))
            return b.call(.nmDotU8I8, returns: b.i64, [
                (values, b.pointer), (indices, b.pointer), (try value(dot.first), b.i64), (b.int(Int64(dot.groups)), b.i64),
                (b.int32(Int32(dot.n)), b.i32), (b.int32(Int32(dot.m)), b.i32), (b.int32(Int32(dot.m.trailingZeroBitCount)), b.i32),
                (dense, b.pointer),
            ])
        case let .dot(dot):
            let a = element(dot.a, try value(dot.aStart)), w = element(dot.b, try value(dot.bStart))
            return b.call(.dotU8I8, returns: b.i64, [(a, b.pointer), (w, b.pointer), (b.int(Int64(dot.length)), b.i64)])
        case let .nmDot(dot):
            let values = base(dot.values), indices = base(dot.indices)
            let dense = element(dot.dense, try value(dot.denseStart), type: b.f32)
            return b.call(.nmDot, returns: b.f32, [
                (values, b.pointer), (indices, b.pointer), (try value(dot.first), b.i64), (b.int(Int64(dot.groups)), b.i64),
                (b.int32(Int32(dot.n)), b.i32), (b.int32(Int32(dot.m)), b.i32), (b.int32(Int32(dot.m.trailingZeroBitCount)), b.i32),
                (dense, b.pointer),
            ])
        case let .intrinsic(intrinsic, arguments):
            switch intrinsic {
            case .quantize:
                guard arguments.count == 5 else { throw LLVMBackendError("kernel \(kernel.name): quantize takes 5 arguments") }
                let types = [b.f32, b.f32, b.i64, b.i64, b.i64]
                var pairs: [(LLVMValueRef?, LLVMTypeRef)] = []
                for (argument, type) in zip(arguments, types) { pairs.append((try value(argument), type)) }
                return b.call(.quantize, returns: b.i64, pairs)
            case .truncateToI64:
                guard let argument = arguments.first else { throw LLVMBackendError("kernel \(kernel.name): truncate_to_i64 takes 1 argument") }
                var x = try value(argument)
                if type(of: argument) == .f32 { x = LLVMBuildFPExt(builder, x, b.f64, "") }
                return truncateToI64(x)
            }
        }
    }

    /// `sieve_truncate_to_i64`: NaN gives 0, out of range saturates, else truncation toward zero.
    func truncateToI64(_ x: LLVMValueRef?) -> LLVMValueRef? {
        let builder = b.builder
        let truncated = LLVMBuildFPToSI(builder, x, b.i64, "")
        let limit = b.double(9223372036854775808.0)
        let high = LLVMBuildSelect(builder, LLVMBuildFCmp(builder, LLVMRealOGE, x, limit, ""), b.int(Int64.max), truncated, "")
        let low = LLVMBuildSelect(builder, LLVMBuildFCmp(builder, LLVMRealOLE, x, b.double(-9223372036854775808.0), ""), b.int(Int64.min), high, "")
        return LLVMBuildSelect(builder, LLVMBuildFCmp(builder, LLVMRealUNO, x, x, ""), b.int(0), low, "")
    }

    /// `sieve_nm_index`: the `bits`-wide field at bit `element * bits` of two bytes read little-endian.
    func nmIndex(_ packed: LLVMValueRef?, _ element: LLVMValueRef?, bits: Int) -> LLVMValueRef? {
        let builder = b.builder
        let bit = LLVMBuildMul(builder, element, b.int(Int64(bits)), "")
        let byte = LLVMBuildLShr(builder, bit, b.int(3), "")
        func byteAt(_ index: LLVMValueRef?) -> LLVMValueRef? {
            var indices: [LLVMValueRef?] = [index]
            let address = LLVMBuildGEP2(builder, b.i8, packed, &indices, 1, "")
            return LLVMBuildZExt(builder, LLVMBuildLoad2(builder, b.i8, address, ""), b.i32, "")
        }
        let low = byteAt(byte), high = byteAt(LLVMBuildAdd(builder, byte, b.int(1), ""))
        let pair = LLVMBuildOr(builder, low, LLVMBuildShl(builder, high, b.int32(8), ""), "")
        let shift = LLVMBuildTrunc(builder, LLVMBuildAnd(builder, bit, b.int(7), ""), b.i32, "")
        let field = LLVMBuildAnd(builder, LLVMBuildLShr(builder, pair, shift, ""), b.int32(Int32((1 << bits) - 1)), "")
        return LLVMBuildZExt(builder, field, b.i64, "")
    }

    /// A libm function of doubles (`exp`, `erf`, ...).
    func libm(_ name: String, _ arguments: [LLVMValueRef?]) -> LLVMValueRef? {
        b.call(name, returns: b.f64, arguments.map { ($0, b.f64) })
    }

    /// Runs a double function on an f32 or f64 operand as the C backend does: `(float)f((double)x)` for f32.
    func viaDouble(_ operand: LLVMValueRef?, _ operandType: ValueType, _ function: (LLVMValueRef?) -> LLVMValueRef?) -> LLVMValueRef? {
        if operandType == .f64 { return function(operand) }
        let widened = LLVMBuildFPExt(b.builder, operand, b.f64, "")
        return LLVMBuildFPTrunc(b.builder, function(widened), b.f32, "")
    }

    mutating func unary(_ op: UnaryOperator, _ operand: KernelExpression) throws(LLVMBackendError) -> LLVMValueRef? {
        let builder = b.builder
        let operandType = type(of: operand)
        let x = try value(operand)
        let overload = b.type(operandType)
        if case let .f32x(width) = operandType {
            switch op {
            case .neg: return LLVMBuildFNeg(builder, x, "")
            case .exp: return VectorMath(builder: b, width: width).exp(x)
            case .gelu: return VectorMath(builder: b, width: width).gelu(x)
            case .sigmoid: return VectorMath(builder: b, width: width).sigmoid(x)
            default: throw LLVMBackendError("kernel \(kernel.name): \(op.rawValue) has no vector form")
            }
        }
        switch op {
        case .neg: return operandType == .i64 ? LLVMBuildSub(builder, b.int(0), x, "") : LLVMBuildFNeg(builder, x, "")
        case .sqrt: return viaDouble(x, operandType) { b.intrinsic("llvm.sqrt", overloads: [b.f64], [$0]) }
        case .exp: return viaDouble(x, operandType) { libm("exp", [$0]) }
        case .erf: return viaDouble(x, operandType) { libm("erf", [$0]) }
        case .tanh: return viaDouble(x, operandType) { libm("tanh", [$0]) }
        case .log: return viaDouble(x, operandType) { libm("log", [$0]) }
        case .sin: return viaDouble(x, operandType) { libm("sin", [$0]) }
        case .cos: return viaDouble(x, operandType) { libm("cos", [$0]) }
        case .sigmoid: return viaDouble(x, operandType) { b.call(.sigmoid, returns: b.f64, [($0, b.f64)]) }
        case .gelu: return viaDouble(x, operandType) { b.call(.gelu, returns: b.f64, [($0, b.f64)]) }
        case .geluTanh: return viaDouble(x, operandType) { b.call(.geluTanh, returns: b.f64, [($0, b.f64)]) }
        case .isNaN: return LLVMBuildZExt(builder, LLVMBuildFCmp(builder, LLVMRealUNE, x, x, ""), b.i64, "")
        case .not: return LLVMBuildZExt(builder, LLVMBuildICmp(builder, LLVMIntEQ, x, b.int(0), ""), b.i64, "")
        case .abs: return b.intrinsic("llvm.fabs", overloads: [overload], [x])
        case .floor: return b.intrinsic("llvm.floor", overloads: [overload], [x])
        case .ceil: return b.intrinsic("llvm.ceil", overloads: [overload], [x])
        // nearbyint in the default rounding mode, which generated code never changes: halves to even.
        case .roundEven: return b.intrinsic("llvm.nearbyint", overloads: [overload], [x])
        case .softplus:
            // fmax(x, 0) + log1p(exp(-fabs(x))) in double; fmax is llvm.maxnum (NaN loses, as in libm).
            return viaDouble(x, operandType) { wide in
                let positive = b.intrinsic("llvm.maxnum", overloads: [b.f64], [wide, b.double(0)])
                let magnitude = b.intrinsic("llvm.fabs", overloads: [b.f64], [wide])
                let tail = libm("log1p", [libm("exp", [LLVMBuildFNeg(builder, magnitude, "")])])
                return LLVMBuildFAdd(builder, positive, tail, "")
            }
        }
    }

    mutating func binary(_ op: BinaryOperator, _ lhs: KernelExpression, _ rhs: KernelExpression) throws(LLVMBackendError) -> LLVMValueRef? {
        let builder = b.builder
        let operandType = type(of: lhs)
        let isInteger = operandType == .i64
        if op == .and || op == .or {
            // C's && and || skip the right side when the left decides.
            let left = LLVMBuildICmp(builder, LLVMIntNE, try value(lhs), b.int(0), "")!
            let decided = op == .and ? LLVMBuildNot(builder, left, "")! : left
            let rightTruth: LLVMValueRef?
            if isSpeculatable(rhs) {
                rightTruth = LLVMBuildICmp(builder, LLVMIntNE, try value(rhs), b.int(0), "")
                let combined = op == .and ? LLVMBuildAnd(builder, left, rightTruth, "") : LLVMBuildOr(builder, left, rightTruth, "")
                return LLVMBuildZExt(builder, combined, b.i64, "")
            }
            let shortcut = b.int(op == .and ? 0 : 1)
            let truth = KernelExpression.binary(.ne, rhs, .int(0))
            return try guarded(LLVMBuildNot(builder, decided, ""), truth, otherwise: shortcut, resultType: b.i64)
        }
        let x = try value(lhs), y = try value(rhs)
        func compare(_ integer: LLVMIntPredicate, _ real: LLVMRealPredicate) -> LLVMValueRef? {
            let test = isInteger ? LLVMBuildICmp(builder, integer, x, y, "") : LLVMBuildFCmp(builder, real, x, y, "")
            return LLVMBuildZExt(builder, test, b.i64, "")
        }
        switch op {
        case .add, .wrappingAdd: return isInteger ? LLVMBuildAdd(builder, x, y, "") : LLVMBuildFAdd(builder, x, y, "")
        case .sub, .wrappingSub: return isInteger ? LLVMBuildSub(builder, x, y, "") : LLVMBuildFSub(builder, x, y, "")
        case .mul, .wrappingMul: return isInteger ? LLVMBuildMul(builder, x, y, "") : LLVMBuildFMul(builder, x, y, "")
        case .div: return isInteger ? LLVMBuildSDiv(builder, x, y, "") : LLVMBuildFDiv(builder, x, y, "")
        case .rem: return LLVMBuildSRem(builder, x, y, "")
        case .wrappingDiv, .wrappingRem:
            // A divisor of -1 never reaches the division (minimum / -1 overflows): it negates, or gives 0.
            let minusOne = LLVMBuildICmp(builder, LLVMIntEQ, y, b.int(-1), "")
            let divisor = LLVMBuildSelect(builder, minusOne, b.int(1), y, "")
            if op == .wrappingDiv {
                return LLVMBuildSelect(builder, minusOne, LLVMBuildSub(builder, b.int(0), x, ""), LLVMBuildSDiv(builder, x, divisor, ""), "")
            }
            return LLVMBuildSelect(builder, minusOne, b.int(0), LLVMBuildSRem(builder, x, divisor, ""), "")
        case .fmod: return LLVMBuildFRem(builder, x, y, "")
        case .pow:
            switch operandType {
            case .i64: return b.call(.powI64, returns: b.i64, [(x, b.i64), (y, b.i64)])
            case .f64: return libm("pow", [x, y])
            case .f32:
                let wide = libm("pow", [LLVMBuildFPExt(builder, x, b.f64, ""), LLVMBuildFPExt(builder, y, b.f64, "")])
                return LLVMBuildFPTrunc(builder, wide, b.f32, "")
            case .f32x: throw LLVMBackendError("kernel \(kernel.name): pow has no vector form")
            }
        case .min, .max:
            // The first operand wins ties and NaN: take the second only when it compares strictly beyond.
            let take = isInteger
                ? LLVMBuildICmp(builder, op == .min ? LLVMIntSLT : LLVMIntSGT, y, x, "")
                : LLVMBuildFCmp(builder, op == .min ? LLVMRealOLT : LLVMRealOGT, y, x, "")
            return LLVMBuildSelect(builder, take, y, x, "")
        case .lt: return compare(LLVMIntSLT, LLVMRealOLT)
        case .le: return compare(LLVMIntSLE, LLVMRealOLE)
        case .gt: return compare(LLVMIntSGT, LLVMRealOGT)
        case .ge: return compare(LLVMIntSGE, LLVMRealOGE)
        case .eq: return compare(LLVMIntEQ, LLVMRealOEQ)
        case .ne: return compare(LLVMIntNE, LLVMRealUNE)
        case .and, .or: return b.int(0)  // handled above
        }
    }
}
