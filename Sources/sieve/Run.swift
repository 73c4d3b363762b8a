// `sieve run`: runs a model on .npy inputs and writes one .npy file per model output.
// The work happens in SieveDriver.runModel; until a backend exists every run is interpreted.

import ArgumentParser
import SieveDriver
import SieveIR

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

    func run() throws {
        try runReportingDiagnostics {
            let shapes = try parseInputShapes(inputShapes)
            let request = RunRequest(modelPath: model, inputs: inputs.map(RunInput.init(parsing:)),
                                     outputDirectory: outputDirectory, inputShapes: shapes)
            let result = try runModel(request)
            for diagnostic in result.diagnostics { printError(diagnostic.description) }
            for file in result.writtenFiles { print("wrote \(file)") }
        }
    }
}
