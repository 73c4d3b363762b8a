// The LLVM backend: a kernel program becomes one LLVM module with the same C API as the C backend's NAME.c
// (NAME_create, NAME_run, NAME_destroy, NAME_init, NAME_context, NAME_error_string, the tensor tables and counts).

import CLLVM
import SieveIR
import SieveKernel

/// Where the weights of an LLVM-built artifact live.
public enum LLVMWeights: Sendable {
    /// Declared as an external symbol `NAME_weight_data` that whoever links the module defines (the JIT maps it to
    /// memory it holds; `--emit llvm-ir` shows the module this way, without megabytes of constant text).
    case externalSymbol
    /// Declared as the hidden symbol `NAME_weight_data` that another object of the same library defines: the
    /// driver's NAME.weights.o, written straight from the bytes into a large-data section (as the C backend's
    /// NAME.weights.S assembles), so that megabytes of weights never pass through LLVM's code generator.
    case separateObject
    /// In a weights file beside the library (`--weights external`, the C backend's `NAME.weights` format, whose header
    /// holds `payload`'s size and FNV-1a checksum): `NAME_create` reads the file at `defaultPath`,
    /// `NAME_create_with_weights` and `NAME_init_with_weights` take another.
    case file(defaultPath: String, checksum: UInt64)
}

/// The contract of the symbols that LLVM-built code calls in the runtime (Sources/CSieveRuntime/sieve_llvm_support.h).
public enum LLVMRuntimeSymbol: String, CaseIterable, Sendable {
    case initialize = "sieve_llvm_init", context = "sieve_llvm_context", create = "sieve_llvm_create"
    case destroy = "sieve_llvm_destroy", beginRun = "sieve_llvm_begin_run", poolRun = "sieve_llvm_pool_run"
    case errorString = "sieve_llvm_error_string"
    case f16ToF32 = "sieve_llvm_f16_to_f32", f32ToF16 = "sieve_llvm_f32_to_f16"
    case bf16ToF32 = "sieve_llvm_bf16_to_f32", f32ToBF16 = "sieve_llvm_f32_to_bf16"
    case f8e4m3fnToF32 = "sieve_llvm_f8e4m3fn_to_f32", f32ToF8E4M3FN = "sieve_llvm_f32_to_f8e4m3fn"
    case f8e5m2ToF32 = "sieve_llvm_f8e5m2_to_f32", f32ToF8E5M2 = "sieve_llvm_f32_to_f8e5m2"
    case f4e2m1ToF32 = "sieve_llvm_f4e2m1_to_f32", f32ToF4E2M1 = "sieve_llvm_f32_to_f4e2m1"
    case powI64 = "sieve_llvm_pow_i64", sigmoid = "sieve_llvm_sigmoid", gelu = "sieve_llvm_gelu", geluTanh = "sieve_llvm_gelu_tanh"
    case createWithWeights = "sieve_llvm_create_with_weights", initializeWithWeights = "sieve_llvm_init_with_weights"
    case quantize = "sieve_llvm_quantize", nmDot = "sieve_llvm_nm_dot_f32", nmRows4 = "sieve_llvm_nm_rows4_f32"
    case dotU8I8 = "sieve_llvm_dot_u8i8", nmDotU8I8 = "sieve_llvm_nm_dot_u8i8", int8Tile = "sieve_llvm_int8_tile"
    case quantizeRowU8 = "sieve_llvm_quantize_row_u8"
    case transpose16 = "sieve_llvm_transpose_tile16_f32", transpose8 = "sieve_llvm_transpose_tile8_f32"
    case transpose4 = "sieve_llvm_transpose_tile4_f32"
}

/// Bytes ahead of the arena in a context (SIEVE_LLVM_CONTEXT_HEADER_BYTES).
let contextHeaderBytes = 8192

/// Emits LLVM IR for a verified kernel program.
public struct LLVMEmitter {
    let program: KernelProgram
    let target: LLVMTarget
    let weights: LLVMWeights

    /// Makes an emitter for a program, a target and a placement of the weights.
    public init(program: KernelProgram, target: LLVMTarget, weights: LLVMWeights) {
        self.program = program
        self.target = target
        self.weights = weights
    }

    /// The weights payload, at least 64 bytes (as the C backend's), so that the symbol is never empty.
    public var payload: [UInt8] {
        program.weights.count >= 64 ? program.weights : program.weights + [UInt8](repeating: 0, count: 64 - program.weights.count)
    }

    /// NAME_CONTEXT_BYTES: the context, the arena and alignment slack.
    public var contextBytes: Int { contextHeaderBytes + program.arenaBytes + 64 }

    /// The symbol of the weights.
    public var weightSymbol: String { "\(program.name)_weight_data" }

    /// A module in a fresh context that the module owns.
    public func emit() throws(LLVMBackendError) -> LLVMModule {
        let module = LLVMModule(name: program.name, context: LLVMContextCreate(), ownsContext: true)
        try fill(module)
        return module
    }

    /// Builds the whole program into `module`, then verifies it.
    func fill(_ module: LLVMModule) throws(LLVMBackendError) {
        guard let reference = module.module else { return }
        let machine = try LLVMMachine(target)
        LLVMSetTarget(reference, machine.triple)
        let layout = LLVMCreateTargetDataLayout(machine.reference)
        LLVMSetModuleDataLayout(reference, layout)
        LLVMDisposeTargetData(layout)
        let builder = ModuleBuilder(context: module.context, module: reference, target: target)
        defer { builder.dispose() }
        let weightsGlobal: LLVMValueRef?
        switch weights {
        case .externalSymbol: weightsGlobal = builder.weightsGlobal(name: weightSymbol, size: payload.count, hidden: false)
        case .separateObject: weightsGlobal = builder.weightsGlobal(name: weightSymbol, size: payload.count, hidden: true)
        case .file: weightsGlobal = nil
        }
        let debugInfo = ModuleDebugInfo(module: reference, context: module.context, program: program)
        builder.debugInfo = debugInfo
        // Kernels of one form (SharedKernelForm) call one body; a form of one kernel is written as that kernel.
        let forms = program.kernels.map { SharedKernelForm($0, program: program) }
        var uses: [SharedKernelForm: Int] = [:]
        for form in forms { uses[form, default: 0] += 1 }
        var bodies: [SharedKernelForm: LLVMValueRef?] = [:]
        var kernelFunctions: [LLVMValueRef?] = []
        for (kernel, form) in zip(program.kernels, forms) {
            var writer = KernelLLVMWriter(program: program, kernel: kernel, builder: builder)
            guard uses[form, default: 0] > 1 else {
                kernelFunctions.append(try writer.emit())
                continue
            }
            if bodies[form] == nil {
                writer.shared = form
                bodies[form] = try writer.emit()
                writer.shared = nil
            }
            kernelFunctions.append(writer.emitCall(to: bodies[form] ?? nil, form: form))
        }
        var weightsFile: (path: String, checksum: UInt64)?
        if case let .file(path, checksum) = weights { weightsFile = (path, checksum) }
        APIWriter(program: program, builder: builder, contextBytes: contextBytes, weights: weightsGlobal, weightsFile: weightsFile)
            .emit(kernels: kernelFunctions)
        builder.debugInfo = nil
        debugInfo.finalize()
        try module.verify()
    }
}

/// Types, declarations and constants shared by every function of one module.
final class ModuleBuilder {
    let context: LLVMContextRef
    let module: LLVMModuleRef
    let builder: LLVMBuilderRef
    let target: LLVMTarget
    let void, i1, i8, i16, i32, i64, f32, f64, pointer: LLVMTypeRef
    /// `sieve_llvm_state`: pool, arena, weights, inputs, outputs, error.
    let stateType: LLVMTypeRef
    private var declared: [String: (LLVMValueRef?, LLVMTypeRef)] = [:]
    /// The subprograms of the kernels, while they are written (the C API functions carry no debug info).
    var debugInfo: ModuleDebugInfo?
    /// The location instructions of the function being written carry (nil outside kernels).
    var debugLocation: LLVMMetadataRef?

    init(context: LLVMContextRef, module: LLVMModuleRef, target: LLVMTarget) {
        self.context = context
        self.module = module
        self.target = target
        builder = LLVMCreateBuilderInContext(context)
        void = LLVMVoidTypeInContext(context)
        i1 = LLVMInt1TypeInContext(context)
        i8 = LLVMInt8TypeInContext(context)
        i16 = LLVMInt16TypeInContext(context)
        i32 = LLVMInt32TypeInContext(context)
        i64 = LLVMInt64TypeInContext(context)
        f32 = LLVMFloatTypeInContext(context)
        f64 = LLVMDoubleTypeInContext(context)
        pointer = LLVMPointerTypeInContext(context, 0)
        var fields: [LLVMTypeRef?] = [pointer, pointer, pointer, pointer, pointer, pointer]
        stateType = LLVMStructTypeInContext(context, &fields, UInt32(fields.count), 0)
    }

    func dispose() { LLVMDisposeBuilder(builder) }

    func vector(_ width: Int) -> LLVMTypeRef { LLVMVectorType(f32, UInt32(width)) }
    func intVector(_ width: Int) -> LLVMTypeRef { LLVMVectorType(i32, UInt32(width)) }

    func type(_ value: ValueType) -> LLVMTypeRef {
        switch value {
        case .i64: return i64
        case .f32: return f32
        case .f64: return f64
        case let .f32x(width): return vector(width)
        }
    }

    /// The in-memory type of a buffer element.
    func elementType(_ element: ElementType) -> LLVMTypeRef {
        switch element {
        case .f32: return f32
        case .f16, .bf16, .i16, .u16: return i16
        case .i8, .u8, .bool, .i4, .u4, .i2, .u2, .f8e4m3fn, .f8e5m2, .f4e2m1: return i8
        case .i32: return i32
        case .i64: return i64
        }
    }

    func int(_ value: Int64) -> LLVMValueRef? { LLVMConstInt(i64, UInt64(bitPattern: value), 1) }
    func int32(_ value: Int32) -> LLVMValueRef? { LLVMConstInt(i32, UInt64(bitPattern: Int64(value)), 1) }
    func float(_ value: Float) -> LLVMValueRef? {
        // Through the bits, so that NaN payloads and signed zeros survive.
        LLVMConstBitCast(LLVMConstInt(i32, UInt64(value.bitPattern), 0), f32)
    }
    func double(_ value: Double) -> LLVMValueRef? { LLVMConstBitCast(LLVMConstInt(i64, value.bitPattern, 0), f64) }

    /// A function declared once per module (external unless defined later).
    func function(_ name: String, returns result: LLVMTypeRef, _ parameters: [LLVMTypeRef]) -> (LLVMValueRef?, LLVMTypeRef) {
        if let known = declared[name] { return known }
        var types: [LLVMTypeRef?] = parameters
        let type = LLVMFunctionType(result, &types, UInt32(types.count), 0)!
        let function = LLVMGetNamedFunction(module, name) ?? LLVMAddFunction(module, name, type)!
        declared[name] = (function, type)
        return (function, type)
    }

    /// Marks a function this module defines: compiled for the target's CPU and features (so that `llc` or `clang`
    /// given NAME.ll picks the same instructions as the JIT), never unwinding.
    func defining(_ function: LLVMValueRef?) {
        var attributes = [("target-cpu", target.cpu)]
        if !target.features.isEmpty { attributes.append(("target-features", target.features)) }
        for (key, value) in attributes {
            let attribute = LLVMCreateStringAttribute(context, key, UInt32(key.utf8.count), value, UInt32(value.utf8.count))
            LLVMAddAttributeAtIndex(function, LLVMAttributeIndex(bitPattern: Int32(LLVMAttributeFunctionIndex)), attribute)
        }
        let kind = LLVMGetEnumAttributeKindForName("nounwind", 8)
        LLVMAddAttributeAtIndex(function, LLVMAttributeIndex(bitPattern: Int32(LLVMAttributeFunctionIndex)), LLVMCreateEnumAttribute(context, kind, 0))
    }

    /// Calls a function by name, declaring it on first use.
    @discardableResult
    func call(_ name: String, returns result: LLVMTypeRef, _ arguments: [(LLVMValueRef?, LLVMTypeRef)]) -> LLVMValueRef? {
        let (function, type) = self.function(name, returns: result, arguments.map(\.1))
        var values: [LLVMValueRef?] = arguments.map(\.0)
        return LLVMBuildCall2(builder, type, function, &values, UInt32(values.count), "")
    }

    /// Calls a runtime symbol.
    @discardableResult
    func call(_ symbol: LLVMRuntimeSymbol, returns result: LLVMTypeRef, _ arguments: [(LLVMValueRef?, LLVMTypeRef)]) -> LLVMValueRef? {
        call(symbol.rawValue, returns: result, arguments)
    }

    /// Calls an overloaded LLVM intrinsic (`llvm.fma`, `llvm.sqrt`, ...) on operands of one type.
    func intrinsic(_ name: String, overloads: [LLVMTypeRef], _ arguments: [LLVMValueRef?], returns: LLVMTypeRef? = nil) -> LLVMValueRef? {
        let id = LLVMLookupIntrinsicID(name, name.utf8.count)
        var types: [LLVMTypeRef?] = overloads
        let function = LLVMGetIntrinsicDeclaration(module, id, &types, types.count)
        let type = LLVMIntrinsicGetType(context, id, &types, types.count)
        var values: [LLVMValueRef?] = arguments
        return LLVMBuildCall2(builder, type, function, &values, UInt32(values.count), "")
    }

    /// `vector` (f32 lanes) as it is, through an empty inline assembly that the optimiser cannot see into, so that the
    /// lane splats of it stay shuffles of a register: from a vector load that feeds only splats, LLVM would otherwise
    /// make each splat a broadcast load of its own (16 loads where the kernel meant one, as the C backend's permute
    /// from a register does under GCC), which the blocked N:M kernel, whose load ports go to the activations, paid for:
    /// 1-3.5% of its time hot (bench/RESULTS.md, branch `llvmnm`). The assembly reads no memory, so copies of it on one
    /// vector merge into one.
    func inRegister(_ vector: LLVMValueRef?, width: Int) -> LLVMValueRef? {
        let type = self.vector(width)
        var parameters: [LLVMTypeRef?] = [type]
        let functionType = LLVMFunctionType(type, &parameters, 1, 0)
        let constraints = "=v,0"
        let assembly = LLVMGetInlineAsm(functionType, "", 0, constraints, constraints.utf8.count, 0, 0, LLVMInlineAsmDialectATT, 0)
        var arguments: [LLVMValueRef?] = [vector]
        let call = LLVMBuildCall2(builder, functionType, assembly, &arguments, 1, "")
        let kind = LLVMGetEnumAttributeKindForName("memory", 6)
        LLVMAddCallSiteAttribute(call, LLVMAttributeIndex(bitPattern: Int32(LLVMAttributeFunctionIndex)), LLVMCreateEnumAttribute(context, kind, 0))
        LLVMAddCallSiteAttribute(call, LLVMAttributeIndex(bitPattern: Int32(LLVMAttributeFunctionIndex)),
                                 LLVMCreateEnumAttribute(context, LLVMGetEnumAttributeKindForName("nounwind", 8), 0))
        return call
    }

    /// A value in every lane of a `width`-lane vector.
    func splat(_ scalar: LLVMValueRef?, width: Int) -> LLVMValueRef? {
        let vectorType = LLVMVectorType(LLVMTypeOf(scalar), UInt32(width))
        let single = LLVMBuildInsertElement(builder, LLVMGetPoison(vectorType), scalar, LLVMConstInt(i32, 0, 0), "")
        let mask = LLVMConstNull(LLVMVectorType(i32, UInt32(width)))
        return LLVMBuildShuffleVector(builder, single, LLVMGetPoison(vectorType), mask, "")!
    }

    /// The weights: a 64-byte aligned byte array declared for the linker (or the JIT) to supply; `hidden` when the
    /// library defines it (NAME.weights.o), so that references to it stay within the library.
    func weightsGlobal(name: String, size: Int, hidden: Bool) -> LLVMValueRef? {
        let type = LLVMArrayType2(i8, UInt64(size))
        let global = LLVMAddGlobal(module, type, name)!
        LLVMSetGlobalConstant(global, 1)
        LLVMSetAlignment(global, 64)
        LLVMSetLinkage(global, LLVMExternalLinkage)
        if hidden { LLVMSetVisibility(global, LLVMHiddenVisibility) }
        return global
    }
}
