// NAME.o without a C compiler: the model's module (its weights a symbol that the driver's NAME.weights.o defines),
// linked with the runtime's IR (generated/RuntimeIR.swift, the C runtime compiled by clang-19), optimised and emitted.

import CLLVM
import SieveKernel

/// An object file and the symbols it exports.
public struct LLVMObject: Sendable {
    /// The ELF relocatable object's bytes.
    public var bytes: [UInt8]
    /// The global symbols it defines (the artifact's C API), for an archive's symbol index.
    public var exportedSymbols: [String]
}

extension LLVMEmitter {
    /// The C API symbols every artifact defines.
    public var exportedSymbols: [String] {
        var suffixes = ["create", "run", "destroy", "error_string", "init", "context", "inputs", "outputs", "num_inputs", "num_outputs"]
        if case .file = weights { suffixes += ["create_with_weights", "init_with_weights"] }
        return suffixes.map { "\(program.name)_\($0)" }
    }

    /// Emits the artifact's code as one object: kernels, API and the runtime (the weights are `weights`' symbol), whose
    /// symbols are made local (as the C backend's `static` runtime), so that two models link into one program.
    /// - Parameters:
    ///   - isaLevel: the x86-64 level whose runtime IR is linked (1, 3 or 4; see `linkRuntime`).
    ///   - step: called as each step ends, with its name (`sieve compile --verbose` times them).
    public func object(isaLevel: Int, step: (String) -> Void = { _ in }) throws(LLVMBackendError) -> LLVMObject {
        let module = LLVMModule(name: program.name, context: LLVMContextCreate(), ownsContext: true)
        try fill(module)
        guard let reference = module.module else { throw LLVMBackendError("the module was handed over") }
        try linkRuntime(isaLevel: isaLevel, into: module)
        let machine = try LLVMMachine(target)
        try module.verify()
        step("LLVM: emit IR and link the runtime")
        try module.optimize(for: machine)
        step("LLVM: optimise")
        var message: UnsafeMutablePointer<CChar>?
        var buffer: LLVMMemoryBufferRef?
        if LLVMTargetMachineEmitToMemoryBuffer(machine.reference, reference, LLVMObjectFile, &message, &buffer) != 0 {
            let text = message.map { String(cString: $0) } ?? "unknown reason"
            LLVMDisposeMessage(message)
            throw LLVMBackendError("LLVM could not emit the object: \(text)")
        }
        guard let buffer, let start = LLVMGetBufferStart(buffer) else { throw LLVMBackendError("LLVM emitted no object") }
        defer { LLVMDisposeMemoryBuffer(buffer) }
        let bytes = [UInt8](UnsafeRawBufferPointer(start: start, count: LLVMGetBufferSize(buffer)))
        step("LLVM: code generation")
        return LLVMObject(bytes: bytes, exportedSymbols: exportedSymbols)
    }

    /// Links the runtime IR of an x86-64 level (4 and 3 have their own; anything else takes the baseline's) into a module;
    /// at level 4, a target with AVX-512 VNNI and VBMI (the host's features say so) takes the runtime built with them, as
    /// the C backend's `-march=native` compiles the int8 helpers' VNNI paths in.
    func linkRuntime(isaLevel: Int, into module: LLVMModule) throws(LLVMBackendError) {
        guard let reference = module.module else { throw LLVMBackendError("the module was handed over") }
        try link(runtimeIR(level: runtimeLevel(isaLevel: isaLevel)), into: reference, context: module.context)
    }

    /// The runtime IR `linkRuntime` links: 1, 3, 4, or 5 (4 with VNNI and VBMI).
    func runtimeLevel(isaLevel: Int) -> Int {
        guard isaLevel >= 4 else { return isaLevel == 3 ? 3 : 1 }
        let features = Set(target.features.split(separator: ","))
        return features.isSuperset(of: ["+avx512vnni", "+avx512vbmi", "+avx512bw"]) ? 5 : 4
    }

    /// Parses runtime IR into the module's context, links it in and makes its definitions local.
    func link(_ text: String, into module: LLVMModuleRef, context: LLVMContextRef) throws(LLVMBackendError) {
        let buffer = text.withCString { characters in
            LLVMCreateMemoryBufferWithMemoryRangeCopy(characters, text.utf8.count, "sieve_runtime.ll")
        }
        var runtime: LLVMModuleRef?
        var message: UnsafeMutablePointer<CChar>?
        // LLVMParseIRInContext takes the buffer whether or not it succeeds.
        if LLVMParseIRInContext(context, buffer, &runtime, &message) != 0 {
            let text = message.map { String(cString: $0) } ?? "unknown reason"
            LLVMDisposeMessage(message)
            throw LLVMBackendError("the runtime's IR does not parse (regenerate it with scripts/generate-runtime-llvm.sh): \(text)")
        }
        guard let runtime else { throw LLVMBackendError("the runtime's IR parsed to nothing") }
        LLVMSetTarget(runtime, LLVMGetTarget(module))
        LLVMSetDataLayout(runtime, LLVMGetDataLayoutStr(module))
        // The destination takes the source module over.
        if LLVMLinkModules2(module, runtime) != 0 { throw LLVMBackendError("the runtime's IR does not link with the model") }
        var function = LLVMGetFirstFunction(module)
        while let current = function {
            let name = String(cString: LLVMGetValueName(current))
            if name.hasPrefix("sieve_"), LLVMIsDeclaration(current) == 0 { LLVMSetLinkage(current, LLVMInternalLinkage) }
            function = LLVMGetNextFunction(current)
        }
        var global = LLVMGetFirstGlobal(module)
        while let current = global {
            let name = String(cString: LLVMGetValueName(current))
            if name.hasPrefix("sieve_"), LLVMIsDeclaration(current) == 0 { LLVMSetLinkage(current, LLVMInternalLinkage) }
            global = LLVMGetNextGlobal(current)
        }
    }
}
