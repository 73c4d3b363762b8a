// The in-process JIT: a kernel program compiled by ORC LLJIT into this process, its C API looked up by name.
// The runtime is linked in as LLVM IR, as in NAME.o; libm and libc resolve from the process.

import CLLVM
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

    /// Compiles a verified program for `target` (LLVM's O3 pipeline, then LLJIT's code generator), with the runtime IR
    /// of x86-64 level `isaLevel` (1, 3 or 4).
    public init(program: KernelProgram, target: LLVMTarget, isaLevel: Int) throws(LLVMBackendError) {
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
            try emitter.linkRuntime(isaLevel: isaLevel, into: module)
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
        var symbols = [LLVMOrcCSymbolMapPair(Name: LLVMOrcExecutionSessionIntern(session, emitter.weightSymbol),
                                             Sym: LLVMJITEvaluatedSymbol(Address: LLVMOrcExecutorAddress(UInt(bitPattern: memory)),
                                                                         Flags: LLVMJITSymbolFlags(GenericFlags: UInt8(LLVMJITSymbolGenericFlagsExported.rawValue), TargetFlags: 0)))]
        let definitions = symbols.withUnsafeMutableBufferPointer { LLVMOrcAbsoluteSymbols($0.baseAddress, $0.count) }
        if let failure = consume(LLVMOrcJITDylibDefine(dylib, definitions)) {
            throw LLVMBackendError("cannot define the weights' symbol in the JIT: \(failure)")
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
}
