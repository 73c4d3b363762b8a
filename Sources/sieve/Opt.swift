// `sieve opt`: runs graph passes on textual IR, like mlir-opt, with IR dumps between passes; verifies
// and re-prints kernel IR (.kir). Pass options go in braces after a pass name; calibration data feeds the sparsity passes.

import ArgumentParser
import Foundation
import SieveDriver

struct Opt: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run passes on textual IR (.sir) and print the result, or verify and print kernel IR (.kir).",
        discussion: """
            Reads a .sir file (or '-' for standard input), checks it with the verifier, runs the passes \
            given with -p in order, verifying after each one, and prints the resulting IR.

            Passes: \(graphPassNames.joined(separator: ", ")).

            Examples:
              sieve opt model.sir -p canonicalize,cse,dce -o clean.sir
              sieve opt model.sir -p canonicalize,dce --print-ir-after-all
              cat model.sir | sieve opt - -p cse --print-ir-after=cse --time-passes
              sieve opt mlp.sir --calibration calib.npz \\
                -p 'sparsity-allocation{sparsity=2:4,min-weights=0},nm-legalize{prune=sparsegpt}'

            Passes with options take them in braces: name{key=value,...}. sparsity-allocation: \
            sparsity=N:M|auto, max-error=E, target-density=D, keep-dense=GLOB (repeatable), \
            min-weights=N (default \(SparsityOptions.defaultMinWeights)), prune=METHOD (default magnitude), \
            samples=N (default \(SparsityOptions.defaultSensitivitySamples)). nm-legalize: prune=magnitude|wanda|sparsegpt, pattern=N:M, samples=N. \
            quantize: max-error=E (default \(QuantizeOptions.defaultMaxError)), samples=N, activations=dynamic|static, \
            observer=minmax|percentile; --quantize int8 (with --activations, --observer) appends it to -p.

            IR dumps and timing reports go to standard error, each dump under a header such as
            '// -----// IR Dump After canonicalize //----- //'. The IR reference is IR/README.md.

            --print-kernel-ir lowers each graph after the passes (for --target) and prints its kernel IR \
            to standard error, as 'sieve compile --print-kernel-ir' does, without building anything.

            A kernel IR file (its first word is 'program', as --print-kernel-ir prints it) is parsed, \
            checked by the kernel verifier (errors point at the offending line) and printed back in \
            canonical form; -p does not apply to it. The kernel IR reference is IR/kernel/README.md.
              sieve opt model.sir -p fuse --print-kernel-ir --target x86-64-v4
              sieve opt model.kir

            --format dot writes graphs as Graphviz DOT instead of textual IR: the result (-o) and every IR \
            dump, each dump still under its '// -----// IR Dump ...' header, which DOT reads as a comment. \
            One box per op with its kind, attributes, result shape, element type, layout (dense or nm N:M) and \
            schedule when the schedule pass chose one (yellow); weights are grey 'const' boxes, inputs and \
            outputs house shapes. --format svg draws each graph with Graphviz's dot (exit 1 with a diagnostic \
            when dot is not installed).
              sieve opt model.sir -p nm-legalize,schedule --print-ir-after=schedule --format dot -o after.dot
              sieve opt model.sir -p canonicalize --format svg -o model.svg
            """)

    @Argument(help: ArgumentHelp("The .sir or .kir file to read, or '-' for standard input.", valueName: "file"))
    var input: String

    @Option(name: [.customShort("p"), .customLong("passes")],
            help: ArgumentHelp("Comma-separated passes to run in order, e.g. canonicalize,dce.", valueName: "passes"))
    var passes: String = ""

    @Option(name: [.customShort("o"), .customLong("output")],
            help: ArgumentHelp("Where to write the resulting IR ('-' for standard output). Written atomically.", valueName: "path"))
    var output: String = "-"

    @OptionGroup(title: "IR dumps")
    var dumps: DumpFlags

    @Option(name: .customLong("stop-after"), help: ArgumentHelp("Stop after this pass.", valueName: "pass"))
    var stopAfter: String?

    @Option(name: .customLong("calibration"),
            help: ArgumentHelp("Calibration inputs for sparsity-allocation and nm-legalize: a .npy (single-input graph), a .npz keyed by input name, a folder of them, or ONNX test_data_set_* folders.", valueName: "path"))
    var calibration: String?

    @Option(name: .customLong("sparsity-report"),
            help: ArgumentHelp("Write report.md and report.json about the sparsity passes into this folder.", valueName: "folder"))
    var sparsityReport: String?

    @Flag(name: .customLong("print-kernel-ir"),
          help: "Lower each graph after the passes and print its kernel IR to standard error.")
    var printKernelIR = false

    @Flag(name: .customLong("print-c"),
          help: "Lower each graph after the passes and print the C backend's header and source to standard error (after the kernel IR).")
    var printC = false

    @Flag(name: .customLong("print-llvm-ir"),
          help: "Lower each graph after the passes and print the LLVM backend's module (before optimisation) to standard error.")
    var printLLVMIR = false

    @Option(help: ArgumentHelp("The CPU --print-kernel-ir, --print-c and --print-llvm-ir lower for: native, x86-64, x86-64-v3 (AVX2) or x86-64-v4 (AVX-512).",
                               valueName: "target"))
    var target: TargetDescription = .native

    @Option(name: .customLong("calibration-samples"),
            help: ArgumentHelp("Use at most this many calibration samples.", valueName: "count"))
    var calibrationSamples: Int?

    @OptionGroup(title: "Input binding")
    var bind: BindFlags

    @OptionGroup(title: "Quantization")
    var quantization: QuantizeFlags

    @Option(help: ArgumentHelp("How graphs are written, the result and the IR dumps alike: 'text' (textual IR), Graphviz 'dot', or 'svg' (drawn by dot).",
                               valueName: "text|dot|svg"))
    var format: GraphViewFormat = .text

    func run() throws {
        try runReportingDiagnostics {
            progressDisplay.isEnabled = isatty(2) != 0
            defer { progressDisplay.clear() }
            var options = try dumps.options()
            options.stopAfter = stopAfter
            let text = try Files.readText(input)
            // --quantize int8 runs the quantize pass after the listed ones.
            let pipeline = try quantization.pipelineEntry().map { passes.isEmpty ? $0 : passes + "," + $0 } ?? passes
            var request = OptRequest(text: text, path: input == "-" ? "<stdin>" : input,
                                     pipeline: pipeline, options: options, printLocations: dumps.printLocations)
            request.calibration = try calibration.map { path throws(DiagnosticError) in showingProgress(try loadCalibrationData(path: path)) }
            request.calibrationSamples = calibrationSamples
            request.bindings = try bind.parsed()
            if printKernelIR || printC || printLLVMIR { request.kernelTarget = target }
            request.emitC = printC
            request.emitLLVMIR = printLLVMIR
            request.format = format
            request.progress = progressDisplay.handler
            let result = try runOpt(request)
            progressDisplay.clear()
            for dump in result.dumps { printError(dump) }
            for diagnostic in result.diagnostics { printError(diagnostic.description) }
            try Files.writeText(result.output, to: output)
            if let folder = sparsityReport {
                guard result.input.graphs.count == 1, let original = result.input.graphs.first, let sparse = result.module.graphs.first else {
                    throw DiagnosticError(.error(.unknown, "--sparsity-report needs a file with one graph, found \(result.input.graphs.count)"))
                }
                let report = try SparsityReport.build(original: original, sparse: sparse, log: result.sparsity,
                                                      sparsity: "as the passes were given (\(passes))", prune: "as given",
                                                      calibration: request.calibration, maxSamples: calibrationSamples)
                try report.write(toFolder: folder)
            }
        }
    }
}

/// Parses a dump selection: `all` or comma-separated pass names.
func selection(_ text: String?, flag: String) throws(DiagnosticError) -> PassSelection {
    guard let text else { return .none }
    if text == "all" { return .all }
    let names = text.split(separator: ",").map(String.init)
    guard !names.isEmpty else {
        throw DiagnosticError(.error(.unknown, "\(flag) needs pass names or 'all'"))
    }
    return .names(Set(names))
}
