// `sieve compile`: compiles a model (ONNX or textual IR) to a native library with a plain C API,
// optionally making its weights N:M sparse, and writes the report beside it.

import ArgumentParser
import Foundation
import SieveDriver

extension WeightsPlacement: ExpressibleByArgument {}
extension SwiftLoaderMode: ExpressibleByArgument {}
extension Backend: ExpressibleByArgument {}

extension TargetDescription: ExpressibleByArgument {
    /// Resolves a `--target` value; `native` is the host's description (baseline x86-64 where it cannot be read).
    public init?(argument: String) {
        if argument == "native" {
            self = .native
        } else if let target = try? TargetDescription.named(argument) {
            self = target
        } else {
            return nil
        }
    }

    /// The name, for the help's `default:` (not the multi-line description).
    public var defaultValueDescription: String { name }

    /// Every name `--target` accepts, for the help and the error on an unknown name.
    public static var allValueStrings: [String] { targetNames }
}

/// A further form of the model that `sieve compile --emit` writes.
enum EmitForm: String, ExpressibleByArgument, CaseIterable {
    /// NAME.ll.
    case llvmIR = "llvm-ir"
}

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile a model (.onnx or .sir) to NAME.h, NAME.c, libNAME.a, libNAME.so, build files and a report.",
        discussion: """
            Imports the model, cleans it up, optionally makes weights N:M sparse (--sparsity), fuses \
            epilogues, schedules every matrix-product kernel for the target (variant, packing, tiles, \
            parallel split, chosen by a cost model), lowers to kernel IR with a static arena, emits C and \
            builds it with $CC (default cc). report.md and report.json describe every layer: its sparsity \
            and its schedule with the estimated time, bytes moved and whether memory or compute bounds it. \
            The output folder appears at once: it is built beside it and swapped in by one rename \
            (renameat2 RENAME_EXCHANGE over an existing folder), so a killed compile leaves the complete old \
            or the complete new artifact, and the next compile removes what killed runs left beside it. \
            Without --autotune the output depends only on the inputs and the target.

            Beside the libraries: NAME.pc (the shared library) and NAME-static.pc (the archive; use \
            pkg-config --static) for pkg-config, NAMEConfig.cmake and NAMEConfigVersion.cmake for CMake's \
            find_package(NAME) (imported targets NAME::NAME, static, and NAME::NAME_shared), NAME.py, \
            a ctypes + NumPy loader (import NAME; NAME.load().run(x)), with --swift-loader NAME.swift, a Swift \
            class that loads libNAME.so (the SwiftPM plugin SieveModel uses it), and report.html, the report as a \
            self-contained page: the graph coloured by each layer's pattern, per-layer charts of bytes, error \
            and time, and the allocation curve of --sparsity auto. Their paths are relative to their own \
            folder, so the folder may be moved. --install-prefix DIR also installs them the usual way: \
            DIR/include/NAME.h, DIR/lib/libNAME.{a,so}, DIR/lib/pkgconfig/NAME.pc, \
            DIR/lib/cmake/NAME/NAMEConfig.cmake; every file is staged beside its destination first, so a \
            failure leaves no half-written file, and a file of the same name that sieve did not write is \
            never replaced. --emit llvm-ir also writes NAME.ll, the model as LLVM IR from the LLVM backend \
            (before optimisation; the weights are the symbol NAME_weight_data, which NAME.weights.S defines), \
            and --print-llvm-ir prints it to standard error. --backend llvm builds the libraries without a C \
            compiler: LLVM emits NAME.o (kernels, C API and the runtime, linked in as LLVM IR), sieve writes \
            the weights as data into NAME.weights.o (with --weights external into NAME.weights, as with \
            the C backend) and libNAME.a itself, and links libNAME.so with ld.lld-19, ld.lld or ld (the first on PATH); NAME.h is the C \
            backend's header, and no NAME.c is written.

            Examples:
              sieve compile model.onnx -o out/
              sieve compile silero_vad.onnx --bind sr=16000 --input-shape input=1x576 -o out/
              sieve compile mlp.onnx --input-shape input=1x64 --sparsity 2:4 --prune wanda \\
                  --calibration calib.npy -o out/ --name mlp
              sieve compile model.onnx --sparsity auto --max-error 0.02 --calibration calib/ --report-only
              sieve compile mlp.sir -o out/ --target x86-64-v3 --weights external --print-kernel-ir
              sieve compile model.onnx -o out/ --print-ir-after=nm-legalize
              sieve compile model.onnx -o out/ --print-ir-after=schedule
              sieve compile model.onnx --sparsity 2:4 -o out/ --autotune
              sieve compile mlp.onnx -o out/mlp --install-prefix $HOME/.local
              sieve compile mlp.onnx -o out/ --emit llvm-ir   (also writes out/mlp.ll)
              sieve compile mlp.onnx -o out/ --backend llvm   (NAME.h, NAME.o, NAME.weights.o, libNAME.a and .so; no cc)

            On a terminal a status line shows what runs (calibration passes, sensitivity, pruning per layer, \
            autotune, the C compiler) with an estimate of the time left; nothing of it when standard error is \
            not a terminal. --quiet prints only diagnostics; --verbose adds the time of every step and pass.

            Passes, in order: fuse-qdq, canonicalize, cse, dce, transpose-weights, [sparsity-allocation, nm-legalize], \
            fuse, canonicalize, cse, dce, [quantize], schedule (Pipelines.compile), run by one pass manager: --time-passes \
            prints one report for the whole pipeline. docs/sparsity.md explains the sparsity options.
            """)

    @Argument(help: ArgumentHelp("The model: an .onnx file or a .sir file.", valueName: "model"))
    var model: String

    @Option(name: [.customShort("o"), .customLong("output")], help: ArgumentHelp("The output folder.", valueName: "folder"))
    var output: String?

    @Option(help: ArgumentHelp("The artifact name (a C identifier, not beginning with 'sieve' or '_'); default: the model file's base name.", valueName: "name"))
    var name: String?

    @Option(name: .customLong("input-shape"),
            help: ArgumentHelp("Fix an input's dynamic dimensions, e.g. input=1x64; repeatable.", valueName: "name=shape"))
    var inputShapes: [String] = []

    @OptionGroup(title: "Input binding")
    var bind: BindFlags

    @Option(help: ArgumentHelp("The CPU: native, x86-64, x86-64-v3 (AVX2) or x86-64-v4 (AVX-512).", valueName: "target"))
    var target: TargetDescription = .native

    @Option(help: ArgumentHelp("Weights 'embedded' in the library or in an 'external' NAME.weights file.", valueName: "placement"))
    var weights: WeightsPlacement = .embedded

    @OptionGroup(title: "Sparsity")
    var sparsity: SparsityFlags

    @OptionGroup(title: "Quantization")
    var quantization: QuantizeFlags

    @Option(help: ArgumentHelp("Held-out data (.npy/.npz/folder) on which the report measures the output error against the dense model.",
                               valueName: "path"))
    var eval: String?

    @Flag(name: .customLong("report-only"), help: "Run the graph passes and print the report; build nothing.")
    var reportOnly = false

    @OptionGroup(title: "IR dumps")
    var dumps: DumpFlags

    @Option(name: .customLong("stop-after"),
            help: ArgumentHelp("Stop the pass pipeline after this pass (its first occurrence); build nothing.", valueName: "pass"))
    var stopAfter: String?

    @Flag(name: .customLong("print-kernel-ir"), help: "Print the kernel IR to standard error.")
    var printKernelIR = false

    @Option(help: ArgumentHelp("What builds the libraries: 'c' (C source and $CC) or 'llvm' (LLVM in process, no C compiler; no --profile yet).",
                               valueName: "c|llvm"))
    var backend: Backend = .c

    @Option(name: .customLong("emit"), help: ArgumentHelp("Also write this form of the model: llvm-ir (NAME.ll).", valueName: "form"))
    var emit: [EmitForm] = []

    @Flag(name: .customLong("print-llvm-ir"), help: "Print the LLVM backend's module (LLVM IR, before optimisation) to standard error.")
    var printLLVMIR = false

    @Flag(help: ArgumentHelp(
        "Time the few schedules the cost model ranks closest for each distinct kernel shape on this machine and keep the fastest.",
        discussion: "Choices are cached in $XDG_CACHE_HOME/sieve/autotune (else ~/.cache/sieve/autotune) by target, shape, pattern and candidates; the report lists the measured times."))
    var autotune = false

    @Option(name: .customLong("install-prefix"),
            help: ArgumentHelp("Also install the artifact under this folder: include/NAME.h, lib/libNAME.{a,so}, lib/pkgconfig/NAME.pc and lib/cmake/NAME/NAMEConfig.cmake.",
                               valueName: "folder"))
    var installPrefix: String?

    @Option(name: .customLong("options-file"),
            help: ArgumentHelp("Read compile options from a JSON file (the SwiftPM plugin's sieve.json): sparsity, prune, calibration (relative to the file), calibrationSamples, maxError, targetDensity, targetSpeedup, allocate, owlThreshold, owlSpread, keepDense, target, name, inputShapes; options given on the command line win.",
                               valueName: "file"))
    var optionsFile: String?

    @Option(name: .customLong("swift-loader"),
            help: ArgumentHelp("Also write NAME.swift, a Swift class that loads libNAME.so and runs it: 'library' (init(library:threads:)) or 'bundle' (also init(threads:) from Bundle.module, as the SwiftPM plugin uses it).",
                               valueName: "library|bundle"))
    var swiftLoader: SwiftLoaderMode?

    @OptionGroup(title: "Output")
    var output_: OutputFlags

    @Flag(help: ArgumentHelp(
        "Build a profiling artifact: NAME_run times each kernel, and NAME.h declares NAME_kernels, NAME_profile and NAME_profile_reset.",
        discussion: "Without it the artifact holds no profiling code. `sieve bench --profile` builds and reads such artifacts itself."))
    var profile = false

    func run() throws {
        try runReportingDiagnostics {
            guard reportOnly || stopAfter != nil || output != nil else {
                throw DiagnosticError(.error(.unknown, "sieve compile needs an output folder: pass -o FOLDER (or --report-only)"))
            }
            output_.startProgress()
            defer { progressDisplay.clear() }
            var command = self
            if let optionsFile { try command.apply(try CompileOptionsFile.read(optionsFile)) }
            try command.compile()
        }
    }

    /// Options of an --options-file that the command line left unset.
    mutating func apply(_ file: CompileOptionsFile) throws(DiagnosticError) {
        let folder = URL(fileURLWithPath: optionsFile ?? ".").deletingLastPathComponent()
        if sparsity.sparsity == nil { sparsity.sparsity = file.sparsity }
        if sparsity.prune == "magnitude", let prune = file.prune { sparsity.prune = prune }
        if sparsity.calibration == nil, let calibration = file.calibration {
            sparsity.calibration = calibration.hasPrefix("/") ? calibration : folder.appendingPathComponent(calibration).path
        }
        if sparsity.calibrationSamples == nil { sparsity.calibrationSamples = file.calibrationSamples }
        if sparsity.maxError == nil { sparsity.maxError = file.maxError }
        if sparsity.targetDensity == nil { sparsity.targetDensity = file.targetDensity }
        if sparsity.targetSpeedup == nil { sparsity.targetSpeedup = file.targetSpeedup }
        if sparsity.allocate == nil { sparsity.allocate = file.allocate }
        if sparsity.owlThreshold == nil { sparsity.owlThreshold = file.owlThreshold }
        if sparsity.owlSpread == nil { sparsity.owlSpread = file.owlSpread }
        if sparsity.keepDense.isEmpty { sparsity.keepDense = file.keepDense ?? [] }
        if name == nil { name = file.name }
        if let given = file.target, target == .native {
            guard let named = TargetDescription(argument: given) else {
                throw DiagnosticError(.error(.unknown, "\(optionsFile ?? ""): target '\(given)' is not one of \(TargetDescription.allValueStrings.joined(separator: ", "))"))
            }
            target = named
        }
        let named = Set(inputShapes.compactMap { $0.split(separator: "=").first.map(String.init) })
        for (input, shape) in (file.inputShapes ?? [:]).sorted(by: { $0.key < $1.key }) where !named.contains(input) {
            inputShapes.append("\(input)=\(shape)")
        }
    }

    /// Compiles with the options as given (and completed by --options-file).
    func compile() throws {
        var request = ModelCompileRequest(modelPath: model)
        request.inputShapes = try parseInputShapes(inputShapes)
        request.bindings = try bind.parsed()
        request.outputDirectory = output
        request.name = name
        request.target = target
        request.weights = weights
        request.compiler = ProcessInfo.processInfo.environment["CC"].flatMap { $0.isEmpty ? nil : $0 } ?? "cc"
        request.passManager = try dumps.options()
        request.passManager.stopAfter = stopAfter
        if output_.verbose { request.passManager.timePasses = true }
        request.sparsity = try sparsity.options(passManager: request.passManager)
        request.quantize = try quantization.pass()
        request.calibration = try sparsity.loadCalibration()
        request.evaluation = try eval.map { path throws(DiagnosticError) in try loadCalibrationData(path: path) }
        request.printKernelIR = printKernelIR
        request.backend = backend
        request.emitLLVMIR = emit.contains(.llvmIR)
        request.printLLVMIR = printLLVMIR
        request.reportOnly = reportOnly
        request.autotune = autotune
        request.profile = profile
        request.installPrefix = installPrefix
        request.progress = progressDisplay.handler
        request.swiftLoader = swiftLoader
        let result = try compileModel(request)
        progressDisplay.clear()
        for diagnostic in result.diagnostics { printError(diagnostic.description) }
        for dump in result.dumps { printError(dump) }
        if output_.verbose { printError(StepTiming.report(result.timings)) }
        if !output_.quiet { print(result.report, terminator: "") }
    }
}

/// The JSON of `--options-file` (the SwiftPM plugin's sieve.json); every field is optional.
struct CompileOptionsFile: Decodable {
    var sparsity: String?
    var prune: String?
    var calibration: String?
    var calibrationSamples: Int?
    var maxError: Double?
    var targetDensity: Double?
    var targetSpeedup: Double?
    var allocate: String?
    var owlThreshold: Double?
    var owlSpread: Double?
    var keepDense: [String]?
    var target: String?
    var name: String?
    var inputShapes: [String: String]?

    static func read(_ path: String) throws(DiagnosticError) -> CompileOptionsFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw DiagnosticError(.error(.unknown, "cannot read the options file \(path): \(error.localizedDescription)"))
        }
        do {
            return try JSONDecoder().decode(CompileOptionsFile.self, from: data)
        } catch {
            throw DiagnosticError(.error(.unknown, "\(path): not valid Sieve options (\(error)); fields: sparsity, prune, calibration, calibrationSamples, maxError, targetDensity, targetSpeedup, allocate, owlThreshold, owlSpread, keepDense, target, name, inputShapes"))
        }
    }
}
