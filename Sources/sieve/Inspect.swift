// `sieve inspect`: prints a model's inputs and outputs, op histogram, parameters and FLOPs per layer.
// The work happens in SieveDriver.runInspect, which the tests call in process.

import ArgumentParser
import SieveDriver

extension GraphViewFormat: ExpressibleByArgument {}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a model: interface, ops, parameters and FLOPs per layer.",
        discussion: """
            Reads an ONNX model (.onnx) or a textual IR file (.sir), imports it into the graph IR and prints \
            its inputs and outputs with their shapes, how many ops of each kind it has, how many parameters \
            (constant elements and bytes) it holds, and the floating-point operations of each layer.

            Dynamic dimensions are fixed with --input-shape; a symbolic batch dimension otherwise becomes 1 \
            (with a note on standard error).

            --format dot prints the imported graph as Graphviz DOT instead of the report: one box per op with \
            its kind, attributes, result shape, element type and layout (dense or nm N:M), weights as grey \
            'const' boxes, inputs and outputs as house shapes, an edge per use of a value. --format svg draws \
            it with Graphviz's dot (exit 1 with a diagnostic when dot is not installed).

            Examples:
              sieve inspect model.onnx
              sieve inspect model.onnx --input-shape input_ids=1x128 --print-ir
              sieve inspect silero_vad.onnx --bind sr=16000 --input-shape input=1x576   (sr folds away)
              sieve inspect model.onnx --format dot > model.dot
              sieve inspect model.onnx --format svg > model.svg
            """)

    @Argument(help: ArgumentHelp("The model: an .onnx or .sir file.", valueName: "model"))
    var model: String

    @Option(name: .customLong("input-shape"),
            help: ArgumentHelp("Fix an input's shape, e.g. input=1x128 (repeatable).", valueName: "name=shape"))
    var inputShapes: [String] = []

    @OptionGroup(title: "Input binding")
    var bind: BindFlags

    @Flag(name: .customLong("print-ir"), help: "Print the imported graph IR after the report.")
    var printIR = false

    @Option(help: ArgumentHelp("What to print: the 'text' report, or the imported graph as Graphviz 'dot' or as 'svg' (drawn by dot).",
                               valueName: "text|dot|svg"))
    var format: GraphViewFormat = .text

    func run() throws {
        try runReportingDiagnostics {
            let shapes = try parseInputShapes(inputShapes)
            var request = InspectRequest(path: model, inputShapes: shapes, printIR: printIR)
            request.bindings = try bind.parsed()
            request.format = format
            if format != .text && printIR {
                throw DiagnosticError(.error(.unknown, "--print-ir prints textual IR after the report; drop it with --format \(format.rawValue)"))
            }
            let result = try runInspect(request)
            for diagnostic in result.diagnostics { printError(diagnostic.description) }
            try Files.writeText(result.report, to: "-")
        }
    }
}
