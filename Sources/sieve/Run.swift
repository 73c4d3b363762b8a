// `sieve run`: runs a model on .npy inputs and writes one .npy file per model output.
// The work happens in SieveDriver.runModel: compiled (C through $CC, or the LLVM JIT) or interpreted.

import ArgumentParser
import Foundation
import SieveDriver

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model on input files and write its outputs as .npy files.",
        discussion: """
            Reads an ONNX model (.onnx), a textual IR file (.sir) or an artifact library written by \
            `sieve compile` (OUT/libNAME.so, whose header NAME.h must sit beside it), and one tensor file per model input \
            (NumPy .npy, or an ONNX TensorProto .pb), runs the model and writes DIR/<output name>.npy for \
            every model output (characters other than letters, digits, '.', '_' and '-' in an output name \
            become '_'). Dynamic dimensions are taken from the input files. Output files are written \
            atomically, and only after the whole run succeeded.

            By default the model is compiled (the passes of `sieve compile`, then C built with $CC) and the \
            artifact runs in this process; artifacts are cached by content in $XDG_CACHE_HOME/sieve (or \
            ~/.cache/sieve), so repeated runs do not recompile. --jit compiles with the LLVM backend in this \
            process instead: no C compiler, no file written. --interpret runs the reference interpreter \
            instead: on the graph as imported, or with --sparsity on the sparsified graph, so the accuracy \
            of a sparsity setting can be measured before compiling.

            Examples:
              sieve run model.onnx --input input=x.npy --output-dir out/
              sieve run silero_vad.onnx --bind sr=16000 --input input=x.npy --input state=s.npy --output-dir out/
              sieve run model.onnx --input x.npy --output-dir out/ --interpret   (a model with one input)
              sieve run mlp.onnx --input x.npy --output-dir out/ --jit
              sieve run out/libmlp.so --input input=x.npy --output-dir out/run
              sieve run mlp.onnx --input x.npy --output-dir out/ --sparsity 2:4 --prune sparsegpt \\
                  --calibration calib.npy --interpret
            """)

    @Argument(help: ArgumentHelp("The model: an .onnx or .sir file, or an artifact's libNAME.so.", valueName: "model"))
    var model: String

    @Option(name: .customLong("input"),
            help: ArgumentHelp("An input file, as NAME=FILE.npy; with one model input, FILE.npy alone (repeatable).",
                               valueName: "name=file"))
    var inputs: [String] = []

    @Option(name: .customLong("output-dir"), help: ArgumentHelp("The folder for the output .npy files; created if missing.", valueName: "dir"))
    var outputDirectory: String

    @Option(name: .customLong("input-shape"),
            help: ArgumentHelp("Fix an input's shape, e.g. input=1x128; it must agree with the input file (repeatable).",
                               valueName: "name=shape"))
    var inputShapes: [String] = []

    @OptionGroup(title: "Input binding")
    var bind: BindFlags

    @Flag(name: .customLong("interpret"), help: "Run the reference interpreter instead of compiled code.")
    var interpret = false

    @Flag(name: .customLong("jit"), help: "Compile in this process with the LLVM backend's JIT (ORC LLJIT) instead of C and $CC.")
    var jit = false

    @Option(help: ArgumentHelp("For compiled runs: native, x86-64, x86-64-v3 or x86-64-v4.", valueName: "target"))
    var target: TargetDescription = .native

    @Option(help: ArgumentHelp("For compiled runs: the number of threads, 1 to \(maxRuntimeThreads) (the runtime's limit).", valueName: "count"))
    var threads: Int = 1

    @OptionGroup(title: "Sparsity")
    var sparsity: SparsityFlags

    @OptionGroup(title: "Quantization")
    var quantization: QuantizeFlags

    func run() throws {
        try runReportingDiagnostics {
            progressDisplay.isEnabled = isatty(2) != 0
            defer { progressDisplay.clear() }
            let shapes = try parseInputShapes(inputShapes)
            var request = RunRequest(modelPath: model, inputs: inputs.map(RunInput.init(parsing:)),
                                     outputDirectory: outputDirectory, inputShapes: shapes)
            request.bindings = try bind.parsed()
            request.interpret = interpret
            if jit && interpret {
                throw DiagnosticError(.error(.unknown, "--jit and --interpret exclude each other: --jit compiles the model, --interpret does not"))
            }
            if jit && model.hasSuffix(".so") {
                throw DiagnosticError(.error(.unknown, "--jit compiles .onnx and .sir models; \(model) is already compiled"))
            }
            request.jit = jit
            request.target = target
            request.threads = try checkThreadCount(threads)
            request.compiler = ProcessInfo.processInfo.environment["CC"].flatMap { $0.isEmpty ? nil : $0 } ?? "cc"
            request.sparsity = try sparsity.options(passManager: PassManagerOptions())
            request.quantize = try quantization.pass()
            request.calibration = try sparsity.loadCalibration()
            request.progress = progressDisplay.handler
            let result = try runModel(request)
            for diagnostic in result.diagnostics { printError(diagnostic.description) }
            for file in result.writtenFiles { print("wrote \(file)") }
        }
    }
}
