// Runs a compiled artifact in this process: loads libNAME.so with dlopen (or compiles the model with the LLVM JIT),
// checks its tensor table against what the caller expects, and calls NAME_create / NAME_run / NAME_destroy through the C API.

import Foundation
import SieveCodegenLLVM
import SieveIR
import SieveInterpreter
import SieveKernel
import SieveTarget
#if canImport(Glibc)
import Glibc
#endif

/// The element type an artifact's `dtype` code (ONNX TensorProto numbering) stands for.
func elementType(dtype: Int32) -> ElementType? {
    ElementType.allCases.first { artifactDTypeCode($0) == Int(dtype) }
}

/// One entry of NAME_inputs / NAME_outputs, as laid out by the generated header.
private struct CTensorInfo {
    var name: UnsafePointer<CChar>?
    var dtype: Int32
    var rank: Int32
    var shape: UnsafePointer<Int64>?
    var bytes: Int
}

/// A tensor an artifact takes or returns.
public struct ArtifactTensor: Sendable, Equatable {
    /// The name in the tensor table.
    public var name: String
    /// Element type and shape.
    public var type: TensorType
}

/// A compiled model loaded into this process.
public final class NativeArtifact {
    fileprivate typealias CreateFunction = @convention(c) (Int32) -> OpaquePointer?
    fileprivate typealias RunFunction = @convention(c) (OpaquePointer?, UnsafePointer<UnsafeRawPointer?>?,
                                                    UnsafePointer<UnsafeMutableRawPointer?>?) -> Int32
    fileprivate typealias DestroyFunction = @convention(c) (OpaquePointer?) -> Void
    fileprivate typealias ErrorStringFunction = @convention(c) (Int32) -> UnsafePointer<CChar>?

    /// Where the symbols come from: a library opened with dlopen, or a model compiled into this process.
    private enum Source {
        case library(UnsafeMutableRawPointer)
        case jit(JITModel)
    }

    private let source: Source
    /// The artifact's name, the prefix of its symbols.
    public let name: String
    fileprivate let create: CreateFunction
    fileprivate let runFunction: RunFunction
    fileprivate let destroy: DestroyFunction
    fileprivate let errorString: ErrorStringFunction
    /// The inputs, in the order NAME_run takes them.
    public let inputs: [ArtifactTensor]
    /// The outputs, in the order NAME_run writes them.
    public let outputs: [ArtifactTensor]

    /// Loads `libNAME.so`. The input and output counts come from the library's `NAME_num_inputs` and
    /// `NAME_num_outputs`; when `NAME.h` lies beside it, its counts must agree (a header from another build is refused).
    public convenience init(library: String, name: String) throws(DiagnosticError) {
        guard let handle = dlopen(library, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown reason"
            throw DiagnosticError(.error(.file(path: library, line: 0, column: 0), "cannot load the artifact: \(reason)"))
        }
        let header = URL(fileURLWithPath: library).deletingLastPathComponent().appendingPathComponent("\(name).h").path
        do {
            try self.init(source: .library(handle), name: name, location: library, header: header) { dlsym(handle, $0) }
        } catch {
            dlclose(handle)
            throw error
        }
    }

    /// Compiles a kernel program into this process with the LLVM backend's JIT (no file written, no C compiler run).
    public convenience init(jit program: KernelProgram, target: TargetDescription) throws(DiagnosticError) {
        let model: JITModel
        do {
            model = try JITModel(program: program, target: llvmTarget(for: target), isaLevel: target.isaLevel)
        } catch {
            throw DiagnosticError(.error(.unknown, "the LLVM JIT could not compile \(program.name): \(error.description)"))
        }
        try self.init(source: .jit(model), name: program.name, location: "JIT-compiled \(program.name)", header: nil) {
            model.address(of: String($0.dropFirst(program.name.count + 1)))
        }
    }

    /// Reads the API through `lookup` (a full symbol name to its address). The input and output counts come from
    /// `NAME_num_inputs` and `NAME_num_outputs`; when `header` exists, its counts must agree (a header from another build is refused).
    private init(source: Source, name: String, location library: String, header: String?,
                 lookup: (String) -> UnsafeMutableRawPointer?) throws(DiagnosticError) {
        func symbol(_ suffix: String) throws(DiagnosticError) -> UnsafeMutableRawPointer {
            guard let address = lookup("\(name)_\(suffix)") else {
                throw DiagnosticError(.error(.file(path: library, line: 0, column: 0), "the artifact has no symbol \(name)_\(suffix); is --name right, and was it compiled by this version of sieve?"))
            }
            return address
        }
        func count(_ suffix: String, macro: String) throws(DiagnosticError) -> Int {
            let value = Int(try symbol(suffix).assumingMemoryBound(to: Int32.self).pointee)
            guard (0...4096).contains(value) else {
                throw DiagnosticError(.error(.file(path: library, line: 0, column: 0), "the artifact claims \(value) tensors in \(name)_\(suffix); it is damaged"))
            }
            if let header, let headerText = try? Files.readText(header) {
                let stated = headerText.split(separator: "\n").first { $0.hasPrefix("#define \(name)_\(macro) ") }
                    .flatMap { Int($0.split(separator: " ").last ?? "") }
                guard stated == value else {
                    throw DiagnosticError(.error(.file(path: header, line: 0, column: 0), "\(name)_\(macro) in the header does not match the library's \(value); the header belongs to another build, recompile with sieve compile"))
                }
            }
            return value
        }
        create = unsafeBitCast(try symbol("create"), to: CreateFunction.self)
        runFunction = unsafeBitCast(try symbol("run"), to: RunFunction.self)
        destroy = unsafeBitCast(try symbol("destroy"), to: DestroyFunction.self)
        errorString = unsafeBitCast(try symbol("error_string"), to: ErrorStringFunction.self)
        inputs = try NativeArtifact.table(try symbol("inputs"), count: try count("num_inputs", macro: "NUM_INPUTS"), library: library)
        outputs = try NativeArtifact.table(try symbol("outputs"), count: try count("num_outputs", macro: "NUM_OUTPUTS"), library: library)
        self.source = source
        self.name = name
    }

    deinit {
        if case let .library(handle) = source { dlclose(handle) }
    }

    /// Reads a tensor table, refusing entries whose dtype, rank or byte size make no sense.
    private static func table(_ address: UnsafeMutableRawPointer, count: Int, library: String) throws(DiagnosticError) -> [ArtifactTensor] {
        let entries = address.assumingMemoryBound(to: CTensorInfo.self)
        var tensors: [ArtifactTensor] = []
        for index in 0..<count {
            let entry = entries[index]
            guard let type = elementType(dtype: entry.dtype), (0...32).contains(entry.rank),
                  entry.rank == 0 || entry.shape != nil else {
                throw DiagnosticError(.error(.file(path: library, line: 0, column: 0), "tensor table entry \(index) is malformed"))
            }
            let shape = (0..<Int(entry.rank)).map { Int(entry.shape?[$0] ?? 0) }
            let tensorType = TensorType(shape, type)
            guard let elements = tensorType.elementCount, elements * type.byteSize == entry.bytes else {
                throw DiagnosticError(.error(.file(path: library, line: 0, column: 0), "tensor table entry \(index) has an inconsistent size"))
            }
            tensors.append(ArtifactTensor(name: entry.name.map { String(cString: $0) } ?? "t\(index)", type: tensorType))
        }
        return tensors
    }

    /// Starts a context with `threads` threads (`NAME_create`); release it with `destroyContext`.
    public func createContext(threads: Int) throws(DiagnosticError) -> OpaquePointer {
        guard let context = create(Int32(runtimeThreadCount(threads))) else {
            throw DiagnosticError(.error(.unknown, "the artifact could not create a context with \(threads) threads (out of memory, or threads could not start)"))
        }
        return context
    }

    /// Stops a context's threads and frees it (`NAME_destroy`).
    public func destroyContext(_ context: OpaquePointer) { destroy(context) }

    /// A function or table the library exports as `NAME_suffix`, cast to `type`; nil when it has none.
    public func symbol<T>(_ suffix: String, as type: T.Type) -> T? {
        let address: UnsafeMutableRawPointer?
        switch source {
        case let .library(handle): address = dlsym(handle, "\(name)_\(suffix)")
        case let .jit(model): address = model.address(of: suffix)
        }
        return address.map { unsafeBitCast($0, to: T.self) }
    }

    /// Runs once on `context`; returns `NAME_run`'s status and the outputs (meaningful when the status is 0).
    public func execute(on context: OpaquePointer, _ values: [Tensor]) throws(DiagnosticError) -> (status: Int32, outputs: [Tensor]) {
        try checkInputs(values)
        var outputBytes = outputs.map { [UInt8](repeating: 0, count: ($0.type.elementCount ?? 0) * $0.type.elementType.byteSize) }
        let status = withPointers(values.map { $0.constant(name: "input").bytes }, &outputBytes) { inputPointers, outputPointers in
            runFunction(context, inputPointers, outputPointers)
        }
        var results: [Tensor] = []
        for (bytes, output) in zip(outputBytes, outputs) {
            results.append(try Tensor(Constant(name: output.name, type: output.type, bytes: bytes)))
        }
        return (status, results)
    }

    /// Runs the model once on a fresh context with `threads` threads.
    public func run(_ values: [Tensor], threads: Int = 1) throws(DiagnosticError) -> [Tensor] {
        try checkInputs(values)
        let context = try createContext(threads: threads)
        defer { destroy(context) }
        let (status, results) = try execute(on: context, values)
        guard status == 0 else { throw failure(status) }
        return results
    }

    /// The message `NAME_error_string` gives for a status code.
    public func message(_ status: Int32) -> String {
        errorString(status).map { String(cString: $0) } ?? "error \(status)"
    }

    fileprivate func failure(_ status: Int32) -> DiagnosticError {
        DiagnosticError(.error(.unknown, "the compiled model failed: \(message(status))"))
    }

    private func checkInputs(_ values: [Tensor]) throws(DiagnosticError) {
        guard values.count == inputs.count else {
            throw DiagnosticError(.error(.unknown, "the artifact takes \(inputs.count) inputs, \(values.count) were given"))
        }
        for (value, input) in zip(values, inputs) where value.type.plain != input.type {
            throw DiagnosticError(.error(.unknown, "input '\(input.name)' must be \(input.type), found \(value.type.plain)"))
        }
    }
}

extension NativeArtifact {
    /// Times `calls` runs on one context with `threads` threads, calling `beforeEach` (untimed) before
    /// each run; returns each run's wall time in seconds.
    public func time(_ values: [Tensor], threads: Int, calls: Int, beforeEach: () -> Void) throws(DiagnosticError) -> [Double] {
        try timedRuns(values, threads: threads, calls: calls, beforeEach: { _ in beforeEach() }, afterEach: { _ in })
    }

    /// The runs behind `time` and `profile`: both hooks get the context and are not timed.
    private func timedRuns(_ values: [Tensor], threads: Int, calls: Int, beforeEach: (OpaquePointer) -> Void,
                           afterEach: (OpaquePointer) -> Void) throws(DiagnosticError) -> [Double] {
        try checkInputs(values)
        let context = try createContext(threads: threads)
        defer { destroy(context) }
        var outputBytes = outputs.map { [UInt8](repeating: 0, count: ($0.type.elementCount ?? 0) * $0.type.elementType.byteSize) }
        var samples: [Double] = []
        var failure: Int32 = 0
        _ = withPointers(values.map { $0.constant(name: "input").bytes }, &outputBytes) { inputPointers, outputPointers in
            for _ in 0..<calls where failure == 0 {
                beforeEach(context)
                let start = DispatchTime.now().uptimeNanoseconds
                failure = runFunction(context, inputPointers, outputPointers)
                samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                if failure == 0 { afterEach(context) }
            }
            return failure
        }
        guard failure == 0 else {
            throw self.failure(failure)
        }
        return samples
    }
}

/// One kernel of a profiling build, as the artifact's `NAME_kernels` table names it.
public struct ArtifactKernel: Sendable, Equatable {
    /// The kernel's name (`k3_matmul`), the graph op it computes and where that op came from.
    public var name: String, op: String, location: String
}

/// One timed run of a profiling build.
public struct ProfiledRun: Sendable {
    /// The run's wall time, and each kernel's share of it, in seconds.
    public var total: Double
    public var kernels: [Double]
}

extension NativeArtifact {
    private typealias ProfileFunction = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt64>?) -> UInt64
    private typealias ProfileResetFunction = @convention(c) (OpaquePointer?) -> Void

    /// The kernels of a profiling build (`sieve compile --profile`), in the order NAME_run calls them; nil when the
    /// library was built without profiling.
    public var profiledKernels: [ArtifactKernel]? {
        guard let count = symbol("num_kernels", as: UnsafePointer<Int32>.self)?.pointee, (0...1_000_000).contains(count),
              let table = symbol("kernels", as: UnsafePointer<(UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?)>.self)
        else { return nil }
        func text(_ pointer: UnsafePointer<CChar>?) -> String { pointer.map { String(cString: $0) } ?? "" }
        return (0..<Int(count)).map { ArtifactKernel(name: text(table[$0].0), op: text(table[$0].1), location: text(table[$0].2)) }
    }

    /// Runs a profiling build `calls` times like `time`, reading the per-kernel counters after each run.
    public func profile(_ values: [Tensor], threads: Int, calls: Int, beforeEach: () -> Void) throws(DiagnosticError) -> [ProfiledRun] {
        guard let kernels = profiledKernels, let read = symbol("profile", as: ProfileFunction.self),
              let reset = symbol("profile_reset", as: ProfileResetFunction.self) else {
            throw DiagnosticError(.error(.unknown, "the artifact \(name) was built without --profile, so it has no per-kernel counters"))
        }
        var counters = [UInt64](repeating: 0, count: max(1, kernels.count))
        var perKernel: [[Double]] = []
        let totals = try timedRuns(values, threads: threads, calls: calls, beforeEach: { context in
            beforeEach()
            reset(context)
        }, afterEach: { context in
            _ = counters.withUnsafeMutableBufferPointer { read(context, $0.baseAddress) }
            perKernel.append(counters.prefix(kernels.count).map { Double($0) / 1e9 })
        })
        return zip(totals, perKernel).map { ProfiledRun(total: $0, kernels: $1) }
    }
}

/// The LLVM target of a target description: its CPU (the host's for `native`), with vector FMAs fused where the C
/// backend's `sieve_fma_f32xN` fuses them for that target.
func llvmTarget(for target: TargetDescription) -> LLVMTarget {
    let fused = target.f32Lanes == 16 ? target.features.contains(.avx512f) : target.features.isSuperset(of: [.avx2, .fma])
    if target.name == "native" { return LLVMTarget.host(fusedVectorFMA: fused) }
    return LLVMTarget(cpu: target.name, fusedVectorFMA: fused)
}

/// Calls `body` with arrays of pointers to each input's and each output's bytes.
private func withPointers(_ inputs: [[UInt8]], _ outputs: inout [[UInt8]],
                          _ body: (UnsafePointer<UnsafeRawPointer?>, UnsafePointer<UnsafeMutableRawPointer?>) -> Int32) -> Int32 {
    // Copy into stable heap buffers so the pointers stay valid for the whole call.
    let inputBuffers = inputs.map { bytes -> UnsafeMutableRawBufferPointer in
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 64)
        buffer.copyBytes(from: bytes)
        return buffer
    }
    let outputBuffers = outputs.map { UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, $0.count), alignment: 64) }
    defer {
        inputBuffers.forEach { $0.deallocate() }
        outputBuffers.forEach { $0.deallocate() }
    }
    // A trailing nil keeps both lists non-empty, so their base addresses exist even for no inputs.
    let inputPointers: [UnsafeRawPointer?] = inputBuffers.map { UnsafeRawPointer($0.baseAddress) } + [nil]
    let outputPointers: [UnsafeMutableRawPointer?] = outputBuffers.map { $0.baseAddress } + [nil]
    let result = inputPointers.withUnsafeBufferPointer { inputList in
        outputPointers.withUnsafeBufferPointer { outputList -> Int32 in
            guard let inputBase = inputList.baseAddress, let outputBase = outputList.baseAddress else { return -1 }
            return body(inputBase, outputBase)
        }
    }
    for index in outputs.indices {
        outputs[index] = Array(UnsafeRawBufferPointer(rebasing: outputBuffers[index][0..<outputs[index].count]))
    }
    return result
}
