// The compile pipeline for a model file: import, clean up, sparsify, fuse, then lower and build the
// artifact, with the report (report.md, report.json) written beside it in the same atomic step.

import Foundation
import SieveCodegenC
import SieveFormats
import SieveIR
import SieveInterpreter
import SievePasses
import SieveTarget

/// Everything `sieve compile MODEL` needs.
public struct ModelCompileRequest: Sendable {
    /// The model: `.onnx` or `.sir`.
    public var modelPath: String
    /// Shapes for symbolic input dimensions, by input name.
    public var inputShapes: [String: [Int]] = [:]
    /// Inputs turned into constants at import (`--bind`), by input name; the artifact has no such inputs.
    public var bindings: [String: InputBinding] = [:]
    /// The output folder; nil with `reportOnly`.
    public var outputDirectory: String?
    /// The artifact name; default: the model file's base name.
    public var name: String?
    /// The CPU to generate code for.
    public var target: TargetDescription = .native
    /// Where the weights go.
    public var weights: WeightsPlacement = .embedded
    /// The C compiler.
    public var compiler = "cc"
    /// Sparsification, or nil to keep every weight dense.
    public var sparsity: SparsifyOptions?
    /// Int8 quantization (`--quantize int8`), or nil to keep f32 weights.
    public var quantize: Quantize?
    /// Calibration data for activation-aware pruning, sensitivity, quantization errors and the report's errors.
    public var calibration: CalibrationSet?
    /// Held-out data on which the report measures the model's output error against the dense model.
    public var evaluation: CalibrationSet?
    /// Verification and IR dumps for every pass of the pipeline.
    public var passManager = PassManagerOptions()
    /// Print the kernel IR.
    public var printKernelIR = false
    /// The backend that builds the libraries.
    public var backend: Backend = .c
    /// Write NAME.ll, the LLVM backend's module, into the artifact folder (`--emit llvm-ir`).
    public var emitLLVMIR = false
    /// Print the LLVM backend's module to standard error (`--print-llvm-ir`).
    public var printLLVMIR = false
    /// Stop after the graph passes and return the report without building anything.
    public var reportOnly = false
    /// Time a few candidate schedules per distinct kernel shape on this machine and keep the fastest
    /// (cached in `autotuneCacheDirectory`); without it compilation is deterministic.
    public var autotune = false
    /// Whether NAME_run times each kernel and the artifact exports NAME_profile (`--profile`).
    public var profile = false
    /// Also install the artifact under this prefix (`--install-prefix`), or nil.
    public var installPrefix: String?
    /// Where autotune choices are cached: `$XDG_CACHE_HOME/sieve/autotune` by default.
    public var autotuneCacheDirectory: String = defaultAutotuneCacheDirectory()
    /// Where long steps report how far along they are (sensitivity, pruning, autotune, the C compiler); nil for none.
    /// Calibration passes report through `calibration.progress`.
    public var progress: ProgressHandler?
    /// Also write NAME.swift, a Swift loader of libNAME.so (`--swift-loader`), or nil.
    public var swiftLoader: SwiftLoaderMode?

    /// Makes a request for a model file.
    public init(modelPath: String) { self.modelPath = modelPath }
}

/// What `compileModel` produced.
public struct ModelCompileResult: Sendable {
    /// The report as Markdown (also written as report.md).
    public var report: String
    /// The files written into the output folder (empty with `reportOnly`).
    public var files: [String]
    /// IR dumps, in pipeline order.
    public var dumps: [String]
    /// Notes and warnings from import and the passes.
    public var diagnostics: [Diagnostic]
    /// The graph as it was lowered.
    public var graph: Graph
    /// Wall time of each step (import, graph passes, autotune, evaluation, lowering, C, the C compiler), for `--verbose`.
    public var timings: [StepTiming] = []
}

/// A model's graph after the graph passes of the compile pipeline.
public struct PreparedGraph: Sendable {
    /// The graph, scheduled and ready to lower (or to interpret).
    public var graph: Graph
    /// The graph just before sparsity-allocation (cleaned up, weights transposed): the dense reference.
    public var dense: Graph
    /// What sparsification did, when it ran.
    public var sparsity: SparsityReport?
    /// What the quantize pass did per layer (empty when it did not run).
    public var quantization: [LayerQuantizationRecord] = []
    /// IR dumps, in pipeline order.
    public var dumps: [String] = []
    /// Notes and warnings from the passes.
    public var diagnostics: [Diagnostic] = []
    /// Whether the pipeline ended before its last pass (`--stop-after`, or an observer that stopped it).
    public var stopped = false
    /// The last pass that ran, or nil when none did.
    public var lastPass: String?
}

/// Runs the compile pipeline (`Pipelines.compile`, ending with schedule) on an imported graph with one pass manager.
///
/// Sparsity options nil leave weights dense. Along the way it keeps the graph just before sparsity-allocation as the
/// dense reference and builds the sparsity report once nm-legalize has run. `observer`, when given, is called too,
/// after the driver's own bookkeeping for the same event: `sieve run` uses it to carry sparse weights over before
/// schedule, and to end a pipeline before schedule.
public func prepareGraph(_ imported: consuming Graph, target: TargetDescription, sparsity: SparsifyOptions?,
                         quantize: Quantize? = nil, calibration: CalibrationSet?, passManager: PassManagerOptions,
                         observer: PassObserver? = nil, progress: ProgressHandler? = nil) throws -> PreparedGraph {
    var graph = consume imported
    var dumps: [String] = []
    // Every name a dump flag lists must belong to the compile pipeline with sparsity; those that are not in this
    // run's list (nm-legalize without --sparsity) are accepted and print nothing.
    let pipelineNames = Set(Pipelines.compile(target: target, sparsity: Pipelines.SparsityPasses(), quantize: Quantize()).map(\.name))
    let flagged = passManager.printBefore.listedNames.union(passManager.printAfter.listedNames)
        .union(passManager.stopAfter.map { [$0] } ?? [])
    if let unknown = flagged.subtracting(pipelineNames).sorted().first {
        throw DiagnosticError(.error(.unknown, "pass '\(unknown)' is not in the compile pipeline (\(pipelineNames.sorted().joined(separator: ", ")))"))
    }
    var context = PassContext()
    context.progress = progress
    var sparsityPasses: Pipelines.SparsityPasses?
    if let sparsity {
        try checkSparsityOptions(sparsity, calibration: calibration, location: graph.location)
        var allocation = sparsity.allocation
        allocation.target = target  // the CPU target-speedup estimates times for
        sparsityPasses = Pipelines.SparsityPasses(allocation: allocation,
                                                  legalize: NMLegalize(method: sparsity.prune, permute: sparsity.permute))
        context.calibration = calibration
        context.calibrationSamples = sparsity.calibrationSamples
    }
    if let quantize {
        context.calibration = calibration
        context.calibrationSamples = context.calibrationSamples ?? quantize.samples
    }
    let passes = Pipelines.compile(target: target, sparsity: sparsityPasses, quantize: quantize)
    var dense: Graph?
    var report: SparsityReport?
    var lastRun: String?
    var stoppedByObserver = false
    try PassManager(passes: passes, options: passManager.restricted(to: passes)).run(
        on: &graph, context: &context, dump: { dumps.append($0) },
        observer: { event, graph, context in
            switch event {
            case .after("transpose-weights"), .before("sparsity-allocation"):
                // Both name the same point today; the second wins should a pass ever come between them.
                dense = graph
            case .after("nm-legalize"):
                if let sparsity, let reference = dense {
                    report = try buildSparsityReport(original: reference, sparse: graph, log: context.sparsity,
                                                     options: sparsity, calibration: calibration)
                }
            default: break
            }
            if case let .after(name) = event { lastRun = name }
            let action = try observer?(event, &graph, context) ?? .proceed
            if action == .stop { stoppedByObserver = true }
            return action
        })
    let finished = lastRun == passes.last?.name && !stoppedByObserver
    return PreparedGraph(graph: graph, dense: dense ?? graph, sparsity: report, quantization: context.quantization, dumps: dumps,
                         diagnostics: context.diagnostics, stopped: !finished, lastPass: lastRun)
}

/// Compiles a model file into an artifact folder (or only reports, with `reportOnly`).
public func compileModel(_ request: ModelCompileRequest) throws -> ModelCompileResult {
    // A name that cannot be used is said before the model is read and its passes run.
    if request.outputDirectory != nil, let name = request.name, let problem = artifactNameProblem(name) {
        throw DiagnosticError(.error(.unknown, "artifact name '\(name)' \(problem)"))
    }
    // So is a prefix that cannot take the installed files.
    if let prefix = request.installPrefix {
        guard !request.reportOnly, request.passManager.stopAfter == nil else {
            throw DiagnosticError(.error(.unknown, "--install-prefix installs the library compile builds; drop it with --report-only or --stop-after"))
        }
        let name = request.name ?? defaultArtifactName(for: request.modelPath)
        if artifactNameProblem(name) == nil {
            try InstallPrefix.check(prefix, name: name, outputDirectory: request.outputDirectory)
        }
    }
    var clock = StepClock()
    var loaded = try loadModel(path: request.modelPath, inputShapes: request.inputShapes, bindings: request.bindings)
    clock.lap("import")
    let imported = loaded.graph
    // The imported weights are not needed once the passes have run: the graph hands them on instead of
    // keeping a copy alive beside the transposed ones (gigabytes for a large model).
    loaded.graph = Graph(name: imported.name)
    // The model's own input and output names go on just before schedule, so that its dumps show them.
    let prepared = try prepareGraph(consume imported, target: request.target, sparsity: request.sparsity,
                                    quantize: request.quantize, calibration: request.calibration, passManager: request.passManager,
                                    observer: { event, graph, _ in
        if event == .before("schedule") {
            nameInterface(&graph, inputNames: loaded.inputNames, outputNames: loaded.outputNames)
        }
        return .proceed
    }, progress: request.progress)
    clock.lap("graph passes" + (request.sparsity != nil ? " (with sparsity and its report)" : ""))
    var graph = prepared.graph
    let dense = prepared.dense, sparsityReport = prepared.sparsity
    var dumps = prepared.dumps
    var diagnostics = loaded.diagnostics + prepared.diagnostics
    if prepared.stopped {
        // --stop-after: the pipeline ended early, so there is nothing to lower, build or report on.
        diagnostics.append(Diagnostic(.note, .unknown, "stopped after pass '\(prepared.lastPass ?? "none")' (--stop-after); nothing was built"))
        return ModelCompileResult(report: "", files: [], dumps: dumps, diagnostics: diagnostics, graph: graph, timings: clock.timings)
    }
    let targetDescription = request.target
    var timings: [Int: [ScheduleCandidateTime]] = [:]
    if request.autotune && !request.reportOnly {
        timings = try autotune(&graph, target: request.target, compiler: request.compiler,
                               cacheDirectory: request.autotuneCacheDirectory, progress: request.progress)
        clock.lap("autotune")
    }
    let scheduleReport = ScheduleReport(graph: graph, target: targetDescription.name, timings: timings)

    let evaluationError = try request.evaluation.map { evaluation in
        try relativeOutputError(of: graph, against: dense, on: evaluation)
    }
    if request.evaluation != nil { clock.lap("evaluation") }
    let source = URL(fileURLWithPath: request.modelPath).lastPathComponent
    let format = loaded.boundInputs.isEmpty ? loaded.format
        : loaded.format + "; bound at import (no longer inputs): " + loaded.boundInputs.joined(separator: ", ")
    var report = CompileReport(model: source, format: format, sparsity: sparsityReport,
                               quantization: request.quantize == nil ? nil : prepared.quantization,
                               evaluation: request.evaluation.map { ($0.origin, evaluationError ?? .nan) },
                               schedule: scheduleReport)
    if request.reportOnly {
        return ModelCompileResult(report: report.markdown(), files: [], dumps: dumps, diagnostics: diagnostics, graph: graph,
                                  timings: clock.timings)
    }
    guard let outputDirectory = request.outputDirectory else {
        throw DiagnosticError(.error(.unknown, "sieve compile needs an output folder: pass -o FOLDER (or --report-only)"))
    }

    let name = request.name ?? defaultArtifactName(for: request.modelPath)
    // The header's first comment names the source; bound inputs are said there, as they left the interface.
    let described = loaded.boundInputs.isEmpty ? source
        : "\(source), with inputs bound at compile time and no longer inputs: \(loaded.boundInputs.joined(separator: ", "))"
    var artifactRequest = ArtifactRequest(graph: graph, name: name, outputDirectory: outputDirectory, target: request.target,
                                          weights: request.weights, sourceDescription: described, compiler: request.compiler)
    artifactRequest.profile = request.profile
    artifactRequest.backend = request.backend
    artifactRequest.emitLLVMIR = request.emitLLVMIR || request.printLLVMIR
    artifactRequest.installPrefix = request.installPrefix
    artifactRequest.progress = request.progress
    let reportJSON = try compileReportJSON(sparsity: sparsityReport, schedule: scheduleReport)
    let partialReport = report
    let lowered = graph
    let swiftLoader = request.swiftLoader.map { swiftLoaderSource(name: name, bundled: $0 == .bundle) }
    artifactRequest.additionalFiles = { summary in
        var complete = partialReport
        complete.artifact = summary
        return [("report.md", Array(complete.markdown().utf8)), ("report.json", reportJSON),
                ("report.html", Array(complete.html(graph: lowered).utf8))]
            + (swiftLoader.map { [("\(name).swift", Array($0.utf8))] } ?? [])
    }
    clock.lap("reports")
    let artifact = try ArtifactWriter.write(artifactRequest)
    report.artifact = artifact.summary
    if request.printKernelIR { dumps.append("// -----// Kernel IR //----- //\n" + artifact.program.print()) }
    if request.printLLVMIR, let llvmIR = artifact.llvmIR { dumps.append("// -----// LLVM IR //----- //\n" + llvmIR) }
    return ModelCompileResult(report: report.markdown(), files: artifact.files, dumps: dumps, diagnostics: diagnostics, graph: graph,
                              timings: clock.timings + artifact.timings)
}

/// ‖y − y_dense‖ / ‖y_dense‖ over every output and sample of a data set (Frobenius norms).
func relativeOutputError(of graph: Graph, against reference: Graph, on data: CalibrationSet) throws -> Double {
    let sparse = try Interpreter(graph: graph, holdingConstants: true)
    let dense = try Interpreter(graph: reference, holdingConstants: true)
    var difference = 0.0, norm = 0.0
    try data.forEachTensorBatch(for: reference, stage: "evaluation") { inputs in
        for (actual, expected) in zip(try sparse.run(inputs), try dense.run(inputs)) {
            for (a, e) in zip(actual.doubles, expected.doubles) {
                difference += (a - e) * (a - e)
                norm += e * e
            }
        }
    }
    return norm > 0 ? (difference / norm).squareRoot() : (difference > 0 ? .infinity : 0)
}

/// The human report of one compilation: the model, the sparsity decisions and the artifact.
struct CompileReport: Sendable {
    var model: String
    var format: String
    var sparsity: SparsityReport?
    /// What the quantize pass did per layer, when `--quantize` was given.
    var quantization: [LayerQuantizationRecord]?
    /// The evaluation data's origin and the model's relative output error on it.
    var evaluation: (origin: String, error: Double)?
    /// What the schedule pass (and autotune) chose per layer.
    var schedule: ScheduleReport?
    var artifact: String?

    func markdown() -> String {
        var lines = ["# Sieve compile report: \(model)", "", "- model: \(format)"]
        if let evaluation {
            lines.append("- relative output error vs dense on \(evaluation.origin): \(String(format: "%.4g", evaluation.error))")
        }
        if sparsity == nil { lines.append("- sparsity: none (every weight dense; pass --sparsity 2:4 or auto)") }
        if let artifact {
            lines += ["", "## Artifact", "", "```", artifact.trimmingCharacters(in: .newlines), "```"]
        }
        var text = lines.joined(separator: "\n") + "\n"
        if let sparsity {
            // The sparsity report's own heading becomes a section of this one.
            text += "\n" + sparsity.markdown().replacingOccurrences(of: "# Sparsity report", with: "## Sparsity")
        }
        if let quantization { text += "\n" + quantizationMarkdown(quantization) }
        if let schedule, !schedule.layers.isEmpty { text += "\n" + schedule.markdown() }
        return text
    }
}

extension CompileReport {
    /// report.html: the same facts as report.md, with the graph and per-layer charts drawn (HTMLReport.swift).
    func html(graph: Graph) -> String {
        func number(_ value: Double) -> String { String(format: "%.4g", value) }
        var facts: [(label: String, value: String)] = [("model", format)]
        if let schedule { facts.append(("target", schedule.target)) }
        if let sparsity {
            facts.append(("sparsity", "\(sparsity.sparsity), pruning: \(sparsity.prune)"))
            facts.append(("calibration", sparsity.calibration.map { "\($0), \(sparsity.calibrationSamples) samples" } ?? "none"))
            if let error = sparsity.modelRelativeOutputError { facts.append(("model relative output error vs dense (calibration)", number(error))) }
            facts.append(("prunable weights", "\(sparsity.parametersBefore) → \(sparsity.parametersAfter)"))
            facts.append(("bytes of prunable weights", "\(sparsity.bytesBefore) → \(sparsity.bytesAfter)"))
        } else {
            facts.append(("sparsity", "none (every weight dense)"))
        }
        if let evaluation { facts.append(("relative output error vs dense on \(evaluation.origin)", number(evaluation.error))) }
        if let artifact { facts.append(("artifact", artifact.split(separator: "\n").prefix(5).joined(separator: "; "))) }
        return HTMLReport(model: model, facts: facts, graph: graph, sparsity: sparsity,
                          schedule: schedule ?? ScheduleReport(graph: Graph(name: graph.name), target: "")).render()
    }
}

/// report.json: the sparsity report's fields (when sparsification ran) plus `schedule`, the per-layer schedule.
func compileReportJSON(sparsity: SparsityReport?, schedule: ScheduleReport) throws -> [UInt8] {
    var object: [String: Any] = [:]
    if let sparsity, let decoded = try JSONSerialization.jsonObject(with: Data(try sparsity.json().utf8)) as? [String: Any] {
        object = decoded
    }
    let encoder = JSONEncoder()
    object["schedule"] = try JSONSerialization.jsonObject(with: try encoder.encode(schedule))
    return Array(try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) + [10]
}

/// The report's quantization section: per layer its scheme, scale range, measured error and weight bytes.
func quantizationMarkdown(_ records: [LayerQuantizationRecord]) -> String {
    let staticScales = records.contains { $0.activations != nil }
    var lines = ["## Quantization", "",
                 staticScales
                    ? "Int8 weights are symmetric per output channel; activations are quantized to u8 with one scale and zero point per layer, fixed from calibration data by the observer named beside each layer."
                    : "Int8 weights are symmetric per output channel; activations are quantized per row at run time (u8, own scale and zero point).",
                 "",
                 "| layer | weight | scheme | weight scales | relative error (measured on) | weight bytes |",
                 "| --- | --- | --- | --- | --- | --- |"]
    if records.isEmpty { lines.append("| (no matrix product over a constant f32 weight) | | | | | |") }
    for record in records {
        let scales = record.scaleRange.map { String(format: "%.3g … %.3g", $0.lowerBound, $0.upperBound) } ?? "-"
        let error = record.error.map { String(format: "%.3g", $0) } ?? "-"
        var scheme = record.reason.map { "\(record.scheme) (\($0))" } ?? record.scheme
        if let fixed = record.activations {
            scheme += String(format: ", observer %@: activation scale %.3g, zero point %lld", fixed.observer, fixed.scale, fixed.zeroPoint)
        }
        lines.append("| \(record.layer) | \(record.name) | \(scheme) | \(scales) | \(error) (\(record.errorMeasure)) | \(record.bytesBefore) → \(record.bytesAfter) |")
    }
    return lines.joined(separator: "\n") + "\n"
}
