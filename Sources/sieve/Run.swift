// `sieve run`: runs a model on .npy inputs and writes one .npy file per model output.
// The work happens in SieveDriver.runModel; until a backend exists every run is interpreted.

import ArgumentParser
import SieveDriver
import SieveIR
import SieveInterpreter
import SievePasses

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model on input files and write its outputs as .npy files.",
        discussion: """
            Reads an ONNX model (.onnx) or a textual IR file (.sir) and one tensor file per model input \
            (NumPy .npy, or an ONNX TensorProto .pb), runs the model and writes DIR/<output name>.npy for \
            every model output (characters other than letters, digits, '.', '_' and '-' in an output name \
            become '_'). Dynamic dimensions are taken from the input files. Output files are written \
            atomically, and only after the whole run succeeded.

            No compiled backend exists yet, so every run goes through the reference interpreter, with or \
            without --interpret; later versions run compiled code through this same command unless \
            --interpret is given.

            Examples:
              sieve run model.onnx --input input=x.npy --output-dir out/
              sieve run model.onnx --input x.npy --output-dir out/      (a model with one input)
              sieve run mlp.onnx --input x.npy --output-dir out/ --sparsity 2:4 --prune sparsegpt \\
                --calibration mlp.calibration.npy --sparsity-report out/

            With --sparsity the model is cleaned up and its weights made N:M (docs/sparsity.md) before \
            the run, so the outputs show what sparsification costs.
            """)

    @Argument(help: ArgumentHelp("The model: an .onnx or .sir file.", valueName: "model"))
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

    @Flag(name: .customLong("interpret"), help: "Run with the reference interpreter (currently the only way to run).")
    var interpret = false

    @Option(name: .customLong("sparsity"),
            help: ArgumentHelp("Make weights N:M before running: a pattern such as 2:4, or auto (with --max-error or --target-density).", valueName: "N:M|auto"))
    var sparsity: String?

    @Option(name: .customLong("prune"), help: ArgumentHelp("How to prune weights that are not already N:M: magnitude, wanda or sparsegpt.", valueName: "method"))
    var prune: String = "magnitude"

    @Option(name: .customLong("calibration"),
            help: ArgumentHelp("Calibration inputs (.npy, .npz or a folder of them) for wanda, sparsegpt and auto.", valueName: "path"))
    var calibration: String?

    @Option(name: .customLong("max-error"), help: ArgumentHelp("With --sparsity auto: the largest relative output error on calibration.", valueName: "E"))
    var maxError: Double?

    @Option(name: .customLong("target-density"), help: ArgumentHelp("With --sparsity auto: the fraction of prunable weights to keep.", valueName: "D"))
    var targetDensity: Double?

    @Option(name: .customLong("keep-dense"), help: ArgumentHelp("Leave matching layers dense (a glob over weight, result or node names; repeatable).", valueName: "glob"))
    var keepDense: [String] = []

    @Option(name: .customLong("min-weights"), help: ArgumentHelp("Leave layers with fewer weights dense.", valueName: "count"))
    var minWeights: Int = 4096

    @Option(name: .customLong("sparsity-report"), help: ArgumentHelp("Write report.md and report.json about sparsification into this folder (created if missing).", valueName: "folder"))
    var sparsityReport: String?

    func run() throws {
        try runReportingDiagnostics {
            let shapes = try parseInputShapes(inputShapes)
            var request = RunRequest(modelPath: model, inputs: inputs.map(RunInput.init(parsing:)),
                                     outputDirectory: outputDirectory, inputShapes: shapes)
            if let sparsity {
                guard let method = PruneMethod(rawValue: prune) else {
                    throw DiagnosticError(.error(.unknown, "--prune must be magnitude, wanda or sparsegpt, found '\(prune)'"))
                }
                let mode = try SparsifyOptions.mode(sparsity, maxError: maxError, targetDensity: targetDensity)
                request.sparsity = SparsifyOptions(sparsity: mode, prune: method, keepDense: keepDense, minWeights: max(0, minWeights))
                request.calibration = try calibration.map { path throws(DiagnosticError) in try CalibrationSet.load(path: path) }
                request.sparsityReportFolder = sparsityReport
            } else if calibration != nil || sparsityReport != nil || maxError != nil || targetDensity != nil || !keepDense.isEmpty {
                throw DiagnosticError(.error(.unknown, "--calibration, --max-error, --target-density, --keep-dense and --sparsity-report go with --sparsity"))
            }
            let result = try runModel(request)
            if let report = result.sparsityReport {
                let sparse = report.layers.filter { $0.pattern != "dense" }.count
                let error = report.modelRelativeOutputError.map { ", relative output error on calibration \($0)" } ?? ""
                printError("sparsity: \(sparse) of \(report.layers.count) prunable layers N:M, \(report.parametersAfter) of \(report.parametersBefore) weights kept\(error)")
            }
            for diagnostic in result.diagnostics { printError(diagnostic.description) }
            for file in result.writtenFiles { print("wrote \(file)") }
        }
    }
}
