// The driver's artifact step: lowers a scheduled graph, has the C backend emit sources and the weights blob,
// builds them with the system C compiler into libNAME.a and libNAME.so, writes the pkg-config, CMake and Python
// files that use them, and moves everything into the output folder atomically (a failed compile leaves nothing behind).

import Foundation
import SieveCodegenC
import SieveCodegenLLVM
import SieveIR
import SieveKernel
import SievePasses
import SieveTarget

/// Everything `sieve compile` needs to write an artifact.
public struct ArtifactRequest: Sendable {
    /// The graph to compile (verified by lowering).
    public var graph: Graph
    /// The artifact name: a C identifier used as file name and symbol prefix.
    public var name: String
    /// The output folder.
    public var outputDirectory: String
    /// The target CPU.
    public var target: TargetDescription
    /// Embedded or external weights.
    public var weights: WeightsPlacement
    /// What was compiled, for comments and diagnostics.
    public var sourceDescription: String
    /// The C compiler (`$CC`, default `cc`).
    public var compiler: String
    /// Extra compiler flags (tests add `-Werror`).
    public var extraFlags: [String]
    /// Element count from which loops are split across threads (tests lower it to exercise the pool).
    public var parallelThreshold: Int
    /// Whether NAME_run times each kernel and the artifact exports NAME_profile (`--profile`).
    public var profile = false
    /// Which backend builds the libraries.
    public var backend: Backend = .c
    /// Also write NAME.ll, the program as LLVM IR from the LLVM backend (`--emit llvm-ir`).
    public var emitLLVMIR = false
    /// Also install the artifact under this prefix (include/, lib/, lib/pkgconfig/, lib/cmake/NAME/), or nil.
    public var installPrefix: String?
    /// Further files to place in the artifact folder with the rest, atomically (such as the reports),
    /// made from the artifact's summary once the graph is lowered.
    public var additionalFiles: @Sendable (_ summary: String) throws -> [(name: String, contents: [UInt8])] = { _ in [] }
    /// Where the C compiler's run is reported while it lasts (the longest step of a large model); nil for none.
    public var progress: ProgressHandler?

    /// Makes a request.
    public init(graph: Graph, name: String, outputDirectory: String, target: TargetDescription = .native,
                weights: WeightsPlacement = .embedded, sourceDescription: String, compiler: String = "cc", extraFlags: [String] = [],
                parallelThreshold: Int = 1 << 14) {
        self.graph = graph
        self.name = name
        self.outputDirectory = outputDirectory
        self.target = target
        self.weights = weights
        self.sourceDescription = sourceDescription
        self.compiler = compiler
        self.extraFlags = extraFlags
        self.parallelThreshold = parallelThreshold
    }
}

/// The backend that turns kernel IR into the artifact's libraries.
public enum Backend: String, Sendable, CaseIterable {
    /// C source built by the system C compiler ($CC).
    case c
    /// LLVM IR built in process by LLVM's code generator, with the runtime as LLVM IR and a linker (no C compiler).
    case llvm
}

/// What was written.
public struct ArtifactReport: Sendable {
    /// The files in the output folder, by name.
    public var files: [String]
    /// The kernel program that was compiled.
    public var program: KernelProgram
    /// A short human report: arena size, weights, kernels and their patterns.
    public var summary: String
    /// Wall time of each step (lower, emit C, write files, cc, ar, link), in order.
    public var timings: [StepTiming] = []
    /// The LLVM IR written to NAME.ll, when it was asked for.
    public var llvmIR: String?
}

/// The wall time of one step of a compile, for `--verbose`.
public struct StepTiming: Hashable, Sendable {
    /// The step: "import", "graph passes", "cc: compiling mlp.c", …
    public var step: String
    /// Seconds it took.
    public var seconds: Double

    /// Makes a timing.
    public init(step: String, seconds: Double) {
        self.step = step
        self.seconds = seconds
    }

    /// A table of step times, like `--time-passes`'s report.
    public static func report(_ timings: [StepTiming]) -> String {
        let total = timings.reduce(0) { $0 + $1.seconds }
        var lines = ["===- Step timing report -===", "  Total: " + String(format: "%.3fs", total), "  ---Wall Time---  --- Step ---"]
        for timing in timings {
            let share = total > 0 ? timing.seconds / total * 100 : 0
            lines.append("  " + String(format: "%9.3fs %5.1f%%", timing.seconds, share) + "  " + timing.step)
        }
        return lines.joined(separator: "\n")
    }
}

/// Collects step times in order.
struct StepClock {
    private(set) var timings: [StepTiming] = []
    private var started = monotonicSeconds()

    /// Ends the current step under this name and starts the next.
    mutating func lap(_ step: String) {
        let now = monotonicSeconds()
        timings.append(StepTiming(step: step, seconds: now - started))
        started = now
    }
}

/// Whether a name can be an artifact name (see `artifactNameProblem`).
public func isValidArtifactName(_ name: String) -> Bool { artifactNameProblem(name) == nil }

/// Why `name` cannot name an artifact, as the rest of "artifact name 'NAME' ...", or nil when it can.
///
/// The name prefixes every symbol and macro the artifact defines (`NAME_create`, `NAME_run`, `NAME_NUM_INPUTS`)
/// and names its files beside `sieve_runtime.c`, so it must be a C identifier whose symbols cannot collide with
/// the runtime's (`sieve_*`, `SIEVE_*`, `sieve_runtime.c`), with identifiers C reserves for the implementation
/// (a leading underscore), or with the C library's and POSIX's families of functions (`--name thrd` would define
/// C11's `thrd_create`, `--name pthread` POSIX's `pthread_create`).
public func artifactNameProblem(_ name: String) -> String? {
    guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && CharacterSet.letters.contains(first)),
          name.unicodeScalars.allSatisfy({ $0 == "_" || ($0.isASCII && CharacterSet.alphanumerics.contains($0)) }) else {
        return "is not a C identifier; pass --name with letters, digits and underscores, not starting with a digit"
    }
    let suggestion = "pass --name with another C identifier, such as 'model_\(name)'"
    if pythonLoaderImports.contains(name) {
        return "is reserved: the artifact's \(name).py would hide Python's '\(name)' module, which that loader imports; \(suggestion)"
    }
    let lower = name.lowercased()
    if lower == "sieve" || lower.hasPrefix("sieve_") {
        return "is reserved: it begins with 'sieve', the prefix of the C runtime's own symbols and files (sieve_pool_run, SIEVE_ERROR_THREADS, sieve_runtime.c); \(suggestion)"
    }
    if name.hasPrefix("_") {
        return "is reserved: C reserves identifiers that begin with an underscore for the compiler and the C library; \(suggestion)"
    }
    // Every symbol the artifact defines is the name, '_' and a suffix; `NAME_create` stands for all of them.
    if let prefix = reservedCPrefix(of: "\(name)_create") {
        return "is reserved: the artifact would define '\(name)_create', and identifiers beginning with '\(prefix)' belong to the C library or POSIX; \(suggestion)"
    }
    return nil
}

/// The modules NAME.py (python/sieve_artifact.py) imports: an artifact of one of these names would import itself.
let pythonLoaderImports: Set<String> = ["ctypes", "os", "collections", "numpy"]

/// The C library or POSIX family an identifier belongs to, if any: families that define `_create`, `_init` or
/// `_destroy` functions (`pthread_create`, `sem_init`, `timer_create`, C11's `thrd_create`, `mtx_destroy`), so an
/// artifact name that completes one would define the library's own symbol.
func reservedCPrefix(of identifier: String) -> String? {
    let families = ["pthread_", "sem_", "timer_", "posix_", "sched_", "aio_", "mq_", "shm_", "clock_",
                    "thrd_", "mtx_", "cnd_", "tss_", "atomic_", "memory_order_"]
    return families.first { identifier.hasPrefix($0) }
}

/// Writes artifacts.
public enum ArtifactWriter {
    /// The compiler flags every artifact is built with.
    public static func compileFlags(target: TargetDescription) -> [String] {
        ["-std=c11", "-O3", "-fPIC", "-fvisibility=hidden", "-fno-math-errno", "-pthread", "-Wall", "-Wextra"] + target.compilerFlags
    }

    /// Lowers, emits, compiles and writes the artifact; on any failure nothing is left in the output folder.
    public static func write(_ request: ArtifactRequest) throws(DiagnosticError) -> ArtifactReport {
        let name = request.name
        if let problem = artifactNameProblem(name) {
            throw DiagnosticError(.error(.unknown, "artifact name '\(name)' \(problem)"))
        }
        var clock = StepClock()
        let program = try lowerToKernels(request.graph, options: LoweringOptions(name: name, vectorWidth: request.target.f32Lanes,
                                                                               parallelThreshold: request.parallelThreshold))
        clock.lap("lower to kernel IR")
        let output = URL(fileURLWithPath: request.outputDirectory).standardizedFileURL
        let parent = output.deletingLastPathComponent()
        let fileManager = FileManager.default
        let weightsPath = output.appendingPathComponent("\(name).weights").path
        if request.backend == .llvm {
            if request.profile {
                throw DiagnosticError(.error(.unknown, "--backend llvm builds no profiling artifact yet; drop --profile or use --backend c"))
            }
        }
        let emitter = CEmitter(program: program, placement: request.weights, targetDescription: request.target.name,
                               sourceDescription: request.sourceDescription, defaultWeightsPath: weightsPath, profile: request.profile)
        let sources = request.backend == .c ? emitter.emit() : nil
        let llvmIR = request.emitLLVMIR ? try llvmModuleText(program, target: request.target) : nil
        clock.lap(request.backend == .c ? "emit C" : "emit")

        var isDirectory: ObjCBool = false
        if fileManager.fileExists(atPath: output.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw DiagnosticError(.error(.unknown, "output '\(request.outputDirectory)' exists and is not a folder; pass a folder with -o"))
        }
        if !fileManager.fileExists(atPath: parent.path) {
            throw DiagnosticError(.error(.unknown, "the folder holding '\(request.outputDirectory)' does not exist; create \(parent.path) first"))
        }
        // Built beside the output and swapped in at once (see ArtifactFolder); removed on any failure.
        let folder = try ArtifactFolder(output: output)
        let temporary = folder.temporary

        var files = ["\(name).h", "lib\(name).a", "lib\(name).so", "\(name).py"]
        let assemblyFile = "\(name).weights.S"
        do {
            try Data((sources?.header ?? emitter.header()).utf8).write(to: temporary.appendingPathComponent("\(name).h"))
            if let sources {
                try Data(sources.source.utf8).write(to: temporary.appendingPathComponent("\(name).c"))
                try Data(runtimeHeaderSource.utf8).write(to: temporary.appendingPathComponent("sieve_runtime.h"))
                try Data(runtimeSource.utf8).write(to: temporary.appendingPathComponent("sieve_runtime.c"))
                files += ["\(name).c", "sieve_runtime.h", "sieve_runtime.c"]
                try writeBytes([sources.weights.header, sources.weights.payload], to: temporary.appendingPathComponent(sources.weights.fileName))
                files.append(sources.weights.fileName)
                if let assembly = sources.assembly {
                    try Data(assembly.utf8).write(to: temporary.appendingPathComponent(assemblyFile))
                    files.append(assemblyFile)
                }
            }
            try Data((pythonLoaderSource + "\n").utf8).write(to: temporary.appendingPathComponent("\(name).py"))
            for file in PackageFiles(name: name, layout: .folder).files {
                try Data(file.text.utf8).write(to: temporary.appendingPathComponent(file.name))
                files.append(file.name)
            }
            if let llvmIR {
                try Data(llvmIR.utf8).write(to: temporary.appendingPathComponent("\(name).ll"))
                files.append("\(name).ll")
            }
            for file in try request.additionalFiles(report(program, request: request)) where !files.contains(file.name) {
                try Data(file.contents).write(to: temporary.appendingPathComponent(file.name))
                files.append(file.name)
            }
        } catch {
            throw DiagnosticError(.error(.unknown, "cannot write the generated sources: \(error.localizedDescription)"))
        }
        clock.lap("write sources and reports")
        if let sources {
            let flags = compileFlags(target: request.target) + request.extraFlags
            var objects = ["\(name).o"]
            var jobs = [ToolRun(tool: request.compiler, arguments: flags + ["-c", "\(name).c", "-o", "\(name).o"], what: "compiling \(name).c")]
            if sources.assembly != nil {
                // The weights assemble beside the code, on another core: the assembler only copies bytes.
                objects.append("\(name).weights.o")
                jobs.append(ToolRun(tool: request.compiler, arguments: ["-c", assemblyFile, "-o", "\(name).weights.o"], what: "assembling \(assemblyFile)"))
            }
            // The C compiler is the longest step of a large model: the display says which files and how big.
            let sizes = ["\(name).c (\(byteSize(sources.source.utf8.count)) of C)"]
                + (sources.assembly != nil ? ["weights (\(byteSize(sources.weights.payload.count)))"] : [])
            request.progress?(ProgressUpdate(task: "cc", detail: "compiling " + sizes.joined(separator: ", ")))
            try runConcurrently(jobs, in: temporary)
            clock.lap("cc: " + jobs.map(\.what).joined(separator: ", "))
            request.progress?(ProgressUpdate(task: "cc", detail: "archiving and linking lib\(name)"))
            try run("ar", ["rcs", "lib\(name).a"] + objects, in: temporary, what: "archiving lib\(name).a")
            // The soname makes programs linked against it record "libNAME.so", not the path they found it at.
            try run(request.compiler, ["-shared", "-pthread", "-Wl,-soname,lib\(name).so", "-o", "lib\(name).so"] + objects + ["-lm"],
                    in: temporary, what: "linking lib\(name).so")
            clock.lap("ar and link")
            for object in objects { try? fileManager.removeItem(at: temporary.appendingPathComponent(object)) }
        } else {
            request.progress?(ProgressUpdate(task: "llvm", detail: "generating code and linking lib\(name)"))
            files += try buildWithLLVM(program, target: request.target, externalWeights: request.weights == .external ? weightsPath : nil,
                                       in: temporary, clock: &clock)
            if request.weights == .external { files.append("\(name).weights") }
        }
        let summary = report(program, request: request)
        files.append("\(name).report.txt")
        do {
            try Data(summary.utf8).write(to: temporary.appendingPathComponent("\(name).report.txt"))
        } catch {
            throw DiagnosticError(.error(.unknown, "cannot write the report: \(error.localizedDescription)"))
        }

        // Installed files are staged before the folder is placed, so that a prefix that cannot take them fails the
        // compile with the old artifact still in place; once the folder is placed only renames remain.
        let weightsFile = request.weights == .external ? sources?.weights.fileName ?? "\(name).weights" : nil
        let staged = try request.installPrefix.map { prefix throws(DiagnosticError) in
            try InstallPrefix.stage(prefix, name: name, artifact: temporary, weightsFile: weightsFile)
        }
        // The whole folder appears at once: after a kill the output is the complete old or the complete new artifact.
        do {
            try folder.place()
        } catch {
            staged?.discard()
            throw error
        }
        try staged?.commit()
        clock.lap("place the folder")
        return ArtifactReport(files: files, program: program, summary: summary, timings: clock.timings, llvmIR: llvmIR)
    }

    /// A byte count for people: "812 B", "1.2 MB".
    static func byteSize(_ count: Int) -> String {
        if count >= 1_000_000 { return String(format: "%.1f MB", Double(count) / 1e6) }
        if count >= 1_000 { return String(format: "%.1f kB", Double(count) / 1e3) }
        return "\(count) B"
    }

    /// `--backend llvm`: NAME.o from LLVM's code generator (the runtime linked in as IR) and NAME.weights.o (the weights,
    /// written here as a data object), libNAME.a written here, libNAME.so linked by `SharedLibraryLinker` (no C compiler
    /// anywhere). With `externalWeights` (the path NAME_create reads) the weights go to NAME.weights in the C backend's
    /// format instead, and there is no NAME.weights.o. Returns the files written.
    static func buildWithLLVM(_ program: KernelProgram, target: TargetDescription, externalWeights: String?,
                              in folder: URL, clock: inout StepClock) throws(DiagnosticError) -> [String] {
        let name = program.name
        var emitter = LLVMEmitter(program: program, target: llvmTarget(for: target), weights: .separateObject)
        let payload = emitter.payload
        var members: [(name: String, parts: [[UInt8]], symbols: [String])] = []
        if let externalWeights {
            emitter = LLVMEmitter(program: program, target: llvmTarget(for: target),
                                  weights: .file(defaultPath: externalWeights, checksum: weightsChecksum(payload)))
            try writeBytes([weightsFileHeader(payload), payload], to: folder.appendingPathComponent("\(name).weights"))
        }
        let object: LLVMObject
        do {
            object = try emitter.object(isaLevel: target.isaLevel) { clock.lap($0) }
        } catch {
            throw DiagnosticError(.error(.unknown, "the LLVM backend cannot build \(name): \(error.description)"))
        }
        members.append((name: "\(name).o", parts: [object.bytes], symbols: object.exportedSymbols))
        if externalWeights == nil {
            members.append((name: "\(name).weights.o", parts: DataObject(symbol: emitter.weightSymbol, payload: payload).parts,
                            symbols: [emitter.weightSymbol]))
        }
        for member in members { try writeBytes(member.parts, to: folder.appendingPathComponent(member.name)) }
        try writeBytes(StaticArchive(members: members).parts, to: folder.appendingPathComponent("lib\(name).a"))
        clock.lap("LLVM: write the objects and libNAME.a")
        try SharedLibraryLinker.find().link(objects: members.map(\.name), soname: "lib\(name).so", output: "lib\(name).so", in: folder)
        clock.lap("LLVM: link libNAME.so")
        return members.map(\.name)
    }

    /// The program as LLVM IR text, as the LLVM backend emits it before optimisation; the weights are the external
    /// symbol NAME_weight_data, which NAME.weights.S defines.
    static func llvmModuleText(_ program: KernelProgram, target: TargetDescription) throws(DiagnosticError) -> String {
        do {
            return try LLVMEmitter(program: program, target: llvmTarget(for: target), weights: .externalSymbol).emit().text
        } catch {
            throw DiagnosticError(.error(.unknown, "the LLVM backend cannot emit \(program.name): \(error.description)"))
        }
    }

    /// The human report written next to the artifact.
    static func report(_ program: KernelProgram, request: ArtifactRequest) -> String {
        var lines = ["Sieve artifact \(program.name) from \(request.sourceDescription)",
                     "target: \(request.target.name) (f32x\(program.vectorWidth))",
                     "arena: \(program.arenaBytes) bytes",
                     "weights: \(program.weights.count) bytes (\(request.weights.rawValue))",
                     "kernels: \(program.kernels.count)"]
        for kernel in program.kernels {
            lines.append("  \(kernel.name): \(kernel.op) at \(kernel.location): \(kernel.pattern)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes byte arrays one after the other into a new file, straight from their storage: weights of
    /// gigabytes are neither copied nor turned into text on the way.
    static func writeBytes(_ parts: [[UInt8]], to url: URL) throws(DiagnosticError) {
        guard let file = fopen(url.path, "wb") else {
            throw DiagnosticError(.error(.unknown, "cannot write \(url.lastPathComponent): \(String(cString: strerror(errno)))"))
        }
        var complete = true
        for part in parts where complete {
            complete = part.withUnsafeBytes { buffer in
                guard let base = buffer.baseAddress else { return true }
                return fwrite(base, 1, buffer.count, file) == buffer.count
            }
        }
        let closed = fclose(file) == 0
        guard complete, closed else {
            throw DiagnosticError(.error(.unknown, "cannot write \(url.lastPathComponent): \(String(cString: strerror(errno)))"))
        }
    }

    /// One tool invocation: the tool, its arguments and what it does, for diagnostics.
    struct ToolRun {
        var tool: String
        var arguments: [String]
        var what: String
    }

    /// Runs a tool in a folder; a non-zero exit becomes a diagnostic with the tool's output.
    static func run(_ tool: String, _ arguments: [String], in folder: URL, what: String) throws(DiagnosticError) {
        try runConcurrently([ToolRun(tool: tool, arguments: arguments, what: what)], in: folder)
    }

    /// Starts every tool at once in a folder, then waits for all of them; the first failure (in the
    /// order given) becomes a diagnostic with that tool's output.
    static func runConcurrently(_ runs: [ToolRun], in folder: URL) throws(DiagnosticError) {
        var started: [(run: ToolRun, process: Process, pipe: Pipe)] = []
        var failure: DiagnosticError?
        for run in runs {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [run.tool] + run.arguments
            process.currentDirectoryURL = folder
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            do {
                try process.run()
                started.append((run, process, pipe))
            } catch {
                failure = DiagnosticError(.error(.unknown, "\(run.what): cannot run '\(run.tool)': \(error.localizedDescription); set CC to a working C compiler"))
                break
            }
        }
        // Every started tool is waited for, even after a failure, so none outlives the temporary folder.
        for (run, process, pipe) in started {
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            if failure == nil, process.terminationStatus != 0 {
                let text = String(decoding: data, as: UTF8.self)
                let shown = text.count > 4000 ? String(text.prefix(4000)) + "\n..." : text
                failure = DiagnosticError(.error(.unknown, "\(run.what) failed (\(run.tool) exited with \(process.terminationStatus)):\n\(shown)"))
            }
        }
        if let failure { throw failure }
    }
}
