// An LLVM context and module owned by Swift, with the target machines, passes and printing the backend needs.
// The only owners of LLVM resources are final classes that release them in deinit.

import CLLVM

/// A failure of the LLVM backend: a construct it cannot emit, or an error LLVM reported.
public struct LLVMBackendError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, in one line.
    public var description: String
    /// Makes an error.
    public init(_ description: String) { self.description = description }
}

/// The machine code the backend generates for.
public struct LLVMTarget: Sendable, Hashable {
    /// The CPU name LLVM knows (`x86-64`, `x86-64-v3`, `x86-64-v4`, or the host CPU's name).
    public var cpu: String
    /// Extra features (`+avx2,...`); empty takes the CPU's own.
    public var features: String
    /// Whether vector fma expressions become fused multiply-adds (as the C backend's `sieve_fma_f32xN` does where the
    /// target has FMA), rather than a multiply and an add.
    public var fusedVectorFMA: Bool

    /// Makes a target.
    public init(cpu: String, features: String = "", fusedVectorFMA: Bool) {
        self.cpu = cpu
        self.features = features
        self.fusedVectorFMA = fusedVectorFMA
    }

    /// The host: its CPU name and features, as the C backend's `-march=native`.
    public static func host(fusedVectorFMA: Bool) -> LLVMTarget {
        initializeLLVMTargets()
        let name = LLVMGetHostCPUName(), features = LLVMGetHostCPUFeatures()
        defer {
            LLVMDisposeMessage(name)
            LLVMDisposeMessage(features)
        }
        return LLVMTarget(cpu: name.map { String(cString: $0) } ?? "x86-64", features: features.map { String(cString: $0) } ?? "",
                          fusedVectorFMA: fusedVectorFMA)
    }
}

/// Registers the native (x86-64) target with LLVM, once per process.
func initializeLLVMTargets() {
    _ = llvmTargetsInitialized
}

private let llvmTargetsInitialized: Bool = {
    LLVMInitializeX86TargetInfo()
    LLVMInitializeX86Target()
    LLVMInitializeX86TargetMC()
    LLVMInitializeX86AsmPrinter()
    LLVMInitializeX86AsmParser()
    return true
}()

/// Takes an LLVM error's message and releases the error; nil when there is none.
func consume(_ error: LLVMErrorRef?) -> String? {
    guard let error else { return nil }
    let message = LLVMGetErrorMessage(error)
    defer { LLVMDisposeErrorMessage(message) }
    return message.map { String(cString: $0) } ?? "unknown LLVM error"
}

/// A target machine for `target` (released in deinit).
final class LLVMMachine {
    let reference: LLVMTargetMachineRef
    let triple: String

    init(_ target: LLVMTarget) throws(LLVMBackendError) {
        initializeLLVMTargets()
        let defaultTriple = LLVMGetDefaultTargetTriple()
        triple = defaultTriple.map { String(cString: $0) } ?? "x86_64-pc-linux-gnu"
        LLVMDisposeMessage(defaultTriple)
        var targetReference: LLVMTargetRef?
        var message: UnsafeMutablePointer<CChar>?
        guard LLVMGetTargetFromTriple(triple, &targetReference, &message) == 0, let targetReference else {
            let text = message.map { String(cString: $0) } ?? "unknown reason"
            LLVMDisposeMessage(message)
            throw LLVMBackendError("LLVM has no target for \(triple): \(text)")
        }
        guard let machine = LLVMCreateTargetMachine(targetReference, triple, target.cpu, target.features, LLVMCodeGenLevelAggressive,
                                                    LLVMRelocPIC, LLVMCodeModelDefault) else {
            throw LLVMBackendError("LLVM cannot make a target machine for CPU \(target.cpu)")
        }
        reference = machine
    }

    private var owned = true

    /// Gives the machine up to an owner that disposes of it (LLJIT's target machine builder).
    func release() -> LLVMTargetMachineRef {
        owned = false
        return reference
    }

    deinit { if owned { LLVMDisposeTargetMachine(reference) } }
}

/// An LLVM module with the context it lives in; both are released together unless the module was handed to a JIT.
public final class LLVMModule {
    let context: LLVMContextRef
    private(set) var module: LLVMModuleRef?
    /// Set when a thread-safe context owns `context` (the JIT's), so deinit leaves it to that owner.
    private let ownsContext: Bool

    init(name: String, context: LLVMContextRef, ownsContext: Bool) {
        self.context = context
        self.module = LLVMModuleCreateWithNameInContext(name, context)
        self.ownsContext = ownsContext
    }

    /// Gives the module up (to the JIT, which then owns it).
    func release() -> LLVMModuleRef? {
        defer { module = nil }
        return module
    }

    deinit {
        if let module { LLVMDisposeModule(module) }
        if ownsContext { LLVMContextDispose(context) }
    }

    /// The module as LLVM assembly text.
    public var text: String {
        guard let module, let characters = LLVMPrintModuleToString(module) else { return "" }
        defer { LLVMDisposeMessage(characters) }
        return String(cString: characters)
    }

    /// Checks the module with LLVM's verifier; throws with its report.
    func verify() throws(LLVMBackendError) {
        guard let module else { return }
        var message: UnsafeMutablePointer<CChar>?
        let failed = LLVMVerifyModule(module, LLVMReturnStatusAction, &message) != 0
        let text = message.map { String(cString: $0) } ?? ""
        LLVMDisposeMessage(message)
        if failed { throw LLVMBackendError("the generated LLVM IR does not verify: \(text)") }
    }

    /// Runs LLVM's O3 pipeline for `machine`'s target, without its loop unrollers: the kernels' register tiles are
    /// unrolled in kernel IR already and the runtime's IR comes optimised (clang-19 -O2), and unrolling the remaining
    /// loops (depth loops of 384 and more, elementwise loops) made about six times the code gcc -O3 makes of the same
    /// kernels and more than half of the backend's compile time (docs/llvm-backend.md, "Compile time").
    func optimize(for machine: LLVMMachine) throws(LLVMBackendError) {
        guard let module else { return }
        let options = LLVMCreatePassBuilderOptions()
        defer { LLVMDisposePassBuilderOptions(options) }
        LLVMPassBuilderOptionsSetLoopUnrolling(options, 0)
        if let failure = consume(LLVMRunPasses(module, "default<O3>", machine.reference, options)) {
            throw LLVMBackendError("LLVM's optimizer failed: \(failure)")
        }
    }
}
