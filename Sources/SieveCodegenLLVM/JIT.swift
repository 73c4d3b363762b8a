// The in-process JIT: a kernel program compiled by ORC LLJIT into this process, its C API looked up by name.
// Runtime symbols resolve to this process's CSieveRuntime (the same code artifacts carry), libm and libc from the process.

import CLLVM
import CSieveRuntime
import SieveKernel
#if canImport(Glibc)
import Glibc
#endif

/// A model compiled into this process; its functions live as long as the object.
public final class JITModel {
    private let jit: LLVMOrcLLJITRef
    private let weights: UnsafeMutableRawPointer
    /// The artifact name, the prefix of its symbols.
    public let name: String

    /// Compiles a verified program for `target` (LLVM's O3 pipeline, then LLJIT's code generator).
    public init(program: KernelProgram, target: LLVMTarget) throws(LLVMBackendError) {
        initializeLLVMTargets()
        let emitter = LLVMEmitter(program: program, target: target, weights: .externalSymbol)
        // The weights stay in memory the JIT'd code reads in place (64-byte aligned, as the runtime expects).
        let payload = emitter.payload
        guard let memory = aligned_alloc(64, (payload.count + 63) / 64 * 64) else {
            throw LLVMBackendError("cannot allocate \(payload.count) bytes for the weights")
        }
        payload.withUnsafeBytes { bytes in
            if let source = bytes.baseAddress { memory.copyMemory(from: source, byteCount: bytes.count) }
        }

        let machine: LLVMMachine
        do {
            machine = try LLVMMachine(target)
        } catch {
            free(memory)
            throw error
        }
        let threadSafeContext = LLVMOrcCreateNewThreadSafeContext()
        defer { LLVMOrcDisposeThreadSafeContext(threadSafeContext) }
        let module = LLVMModule(name: program.name, context: LLVMOrcThreadSafeContextGetContext(threadSafeContext), ownsContext: false)
        do {
            try emitter.fill(module)
            try module.optimize(for: machine)
        } catch {
            free(memory)
            throw error
        }

        // LLJIT takes a target machine builder made from a machine of its own, which it then owns.
        let jitMachine: LLVMMachine
        do {
            jitMachine = try LLVMMachine(target)
        } catch {
            free(memory)
            throw error
        }
        let builder = LLVMOrcCreateLLJITBuilder()
        LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(jitMachine.release()))
        var created: LLVMOrcLLJITRef?
        if let failure = consume(LLVMOrcCreateLLJIT(&created, builder)) {
            free(memory)
            throw LLVMBackendError("cannot start LLVM's JIT: \(failure)")
        }
        guard let jit = created else {
            free(memory)
            throw LLVMBackendError("cannot start LLVM's JIT")
        }
        self.jit = jit
        self.weights = memory
        self.name = program.name

        let dylib = LLVMOrcLLJITGetMainJITDylib(jit)
        var generator: LLVMOrcDefinitionGeneratorRef?
        if let failure = consume(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&generator, LLVMOrcLLJITGetGlobalPrefix(jit), nil, nil)) {
            throw LLVMBackendError("cannot resolve symbols from this process: \(failure)")
        }
        LLVMOrcJITDylibAddGenerator(dylib, generator)
        let session = LLVMOrcLLJITGetExecutionSession(jit)
        var symbols = JITModel.runtimeAddresses().map { symbol, address in
            LLVMOrcCSymbolMapPair(Name: LLVMOrcExecutionSessionIntern(session, symbol.rawValue),
                                  Sym: LLVMJITEvaluatedSymbol(Address: LLVMOrcExecutorAddress(UInt(bitPattern: address)),
                                                              Flags: LLVMJITSymbolFlags(GenericFlags: UInt8(LLVMJITSymbolGenericFlagsExported.rawValue | LLVMJITSymbolGenericFlagsCallable.rawValue), TargetFlags: 0)))
        }
        symbols.append(LLVMOrcCSymbolMapPair(Name: LLVMOrcExecutionSessionIntern(session, emitter.weightSymbol),
                                             Sym: LLVMJITEvaluatedSymbol(Address: LLVMOrcExecutorAddress(UInt(bitPattern: memory)),
                                                                         Flags: LLVMJITSymbolFlags(GenericFlags: UInt8(LLVMJITSymbolGenericFlagsExported.rawValue), TargetFlags: 0))))
        let definitions = symbols.withUnsafeMutableBufferPointer { LLVMOrcAbsoluteSymbols($0.baseAddress, $0.count) }
        if let failure = consume(LLVMOrcJITDylibDefine(dylib, definitions)) {
            throw LLVMBackendError("cannot define the runtime's symbols in the JIT: \(failure)")
        }
        guard let reference = module.release() else { throw LLVMBackendError("the module was already handed over") }
        let threadSafeModule = LLVMOrcCreateNewThreadSafeModule(reference, threadSafeContext)
        if let failure = consume(LLVMOrcLLJITAddLLVMIRModule(jit, dylib, threadSafeModule)) {
            throw LLVMBackendError("LLVM's JIT refused the module: \(failure)")
        }
    }

    deinit {
        _ = consume(LLVMOrcDisposeLLJIT(jit))
        free(weights)
    }

    /// The address of `NAME_suffix`, compiling the module on the first lookup; nil when it is not defined.
    public func address(of suffix: String) -> UnsafeMutableRawPointer? {
        var address: LLVMOrcExecutorAddress = 0
        if consume(LLVMOrcLLJITLookup(jit, &address, "\(name)_\(suffix)")) != nil { return nil }
        return UnsafeMutableRawPointer(bitPattern: UInt(address))
    }

    /// Where each runtime symbol lives in this process.
    static func runtimeAddresses() -> [(LLVMRuntimeSymbol, UnsafeRawPointer)] {
        func address<T>(_ function: T) -> UnsafeRawPointer { unsafeBitCast(function, to: UnsafeRawPointer.self) }
        return LLVMRuntimeSymbol.allCases.map { symbol in
            switch symbol {
            case .initialize: return (symbol, address(sieve_llvm_init as @convention(c) (UnsafeMutableRawPointer?, Int, Int, Int32, UnsafePointer<UInt8>?) -> Int32))
            case .context: return (symbol, address(sieve_llvm_context as @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer?))
            case .create: return (symbol, address(sieve_llvm_create as @convention(c) (Int, Int32, UnsafePointer<UInt8>?) -> UnsafeMutableRawPointer?))
            case .destroy: return (symbol, address(sieve_llvm_destroy as @convention(c) (UnsafeMutableRawPointer?) -> Void))
            case .beginRun: return (symbol, address(sieve_llvm_begin_run as @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<UnsafeRawPointer?>?, Int32, UnsafePointer<UnsafeMutableRawPointer?>?, Int32, UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<sieve_llvm_state>?) -> Int32))
            case .poolRun: return (symbol, address(sieve_llvm_pool_run as @convention(c) (UnsafePointer<sieve_llvm_state>?, (@convention(c) (UnsafeRawPointer?, Int64, Int64) -> Void)?, Int64) -> Void))
            case .errorString: return (symbol, address(sieve_llvm_error_string as @convention(c) (Int32) -> UnsafePointer<CChar>?))
            case .f16ToF32: return (symbol, address(sieve_llvm_f16_to_f32 as @convention(c) (UInt16) -> Float))
            case .f32ToF16: return (symbol, address(sieve_llvm_f32_to_f16 as @convention(c) (Float) -> UInt16))
            case .bf16ToF32: return (symbol, address(sieve_llvm_bf16_to_f32 as @convention(c) (UInt16) -> Float))
            case .f32ToBF16: return (symbol, address(sieve_llvm_f32_to_bf16 as @convention(c) (Float) -> UInt16))
            case .powI64: return (symbol, address(sieve_llvm_pow_i64 as @convention(c) (Int64, Int64) -> Int64))
            case .sigmoid: return (symbol, address(sieve_llvm_sigmoid as @convention(c) (Double) -> Double))
            case .gelu: return (symbol, address(sieve_llvm_gelu as @convention(c) (Double) -> Double))
            case .geluTanh: return (symbol, address(sieve_llvm_gelu_tanh as @convention(c) (Double) -> Double))
            case .quantize: return (symbol, address(sieve_llvm_quantize as @convention(c) (Float, Float, Int64, Int64, Int64) -> Int64))
            case .nmDot: return (symbol, address(sieve_llvm_nm_dot_f32 as @convention(c) (UnsafePointer<Float>?, UnsafePointer<UInt8>?, Int64, Int64, Int32, Int32, Int32, UnsafePointer<Float>?) -> Float))
            case .nmRows4: return (symbol, address(sieve_llvm_nm_rows4_f32 as @convention(c) (UnsafePointer<UInt8>?, Int64, Int64, Int32, Int32, Int32, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int64) -> Void))
            case .transpose16: return (symbol, address(sieve_llvm_transpose_tile16_f32 as @convention(c) (UnsafePointer<Float>?, Int64, UnsafeMutablePointer<Float>?, Int64) -> Void))
            case .transpose8: return (symbol, address(sieve_llvm_transpose_tile8_f32 as @convention(c) (UnsafePointer<Float>?, Int64, UnsafeMutablePointer<Float>?, Int64) -> Void))
            case .transpose4: return (symbol, address(sieve_llvm_transpose_tile4_f32 as @convention(c) (UnsafePointer<Float>?, Int64, UnsafeMutablePointer<Float>?, Int64) -> Void))
            }
        }
    }
}
