// Flags shared by the commands that run the pass pipeline: IR dumps, verification and timing,
// and the sparsity options of `sieve compile` and `sieve run`.

import ArgumentParser
import Foundation
import SieveDriver

/// `--print-ir-*`, `--verify-each`, `--time-passes` and `--print-locations`.
struct DumpFlags: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: "Run the verifier before the first pass and after every pass.")
    var verifyEach = true

    @Option(name: .customLong("print-ir-before"),
            help: ArgumentHelp("Print the IR before these passes (comma-separated names, or 'all').", valueName: "names|all"))
    var printIRBefore: String?

    @Option(name: .customLong("print-ir-after"),
            help: ArgumentHelp("Print the IR after these passes (comma-separated names, or 'all').", valueName: "names|all"))
    var printIRAfter: String?

    @Flag(name: .customLong("print-ir-before-all"), help: "Print the IR before every pass.")
    var printIRBeforeAll = false

    @Flag(name: .customLong("print-ir-after-all"), help: "Print the IR after every pass.")
    var printIRAfterAll = false

    @Flag(name: .customLong("print-ir-after-change"),
          help: "Print the IR after a pass only when it changed the IR; otherwise print 'unchanged'.")
    var printIRAfterChange = false

    @Flag(name: .customLong("time-passes"), help: "Print the wall time of each pass to standard error, one report for the whole pipeline.")
    var timePasses = false

    @Flag(name: .customLong("print-locations"), help: "Print each op's source location as loc(\"...\").")
    var printLocations = false

    /// The pass-manager options these flags ask for.
    func options() throws(DiagnosticError) -> PassManagerOptions {
        var options = PassManagerOptions()
        options.verifyEach = verifyEach
        options.printBefore = printIRBeforeAll ? .all : try selection(printIRBefore, flag: "--print-ir-before")
        options.printAfter = printIRAfterAll ? .all : try selection(printIRAfter, flag: "--print-ir-after")
        options.printAfterChange = printIRAfterChange
        options.timePasses = timePasses
        options.dumpOptions.locations = printLocations
        return options
    }
}

/// `--bind`: graph inputs made constants at import, shared by `inspect`, `run`, `compile` and `opt`.
struct BindFlags: ParsableArguments {
    @Option(name: .customLong("bind"),
            help: ArgumentHelp("Make an input a constant at import: NAME=FILE.npy, or NAME=VALUE for one number (repeatable); it folds away and is no longer an input.",
                               valueName: "name=file|value"))
    var bindings: [String] = []

    /// The bindings, by input name.
    func parsed() throws(DiagnosticError) -> [String: InputBinding] { try parseBindings(bindings) }
}

/// `--sparsity`, `--prune` and the options that go with them.
struct SparsityFlags: ParsableArguments {
    @Option(help: ArgumentHelp("N:M pattern for every eligible layer (2:4, 1:4, 4:8, 2:8, …), or 'auto' with --max-error, --target-density or --target-speedup; default: keep weights dense.",
                               valueName: "N:M|auto"))
    var sparsity: String?

    @Option(help: ArgumentHelp("How weights that are not already N:M are pruned: magnitude, wanda or sparsegpt (the last two need --calibration).",
                               valueName: "method"))
    var prune: String = "magnitude"

    @Option(help: ArgumentHelp("Calibration data: a .npy (single-input model), a .npz keyed by input name, a folder of them, or ONNX test_data_set_* folders.",
                               valueName: "path"))
    var calibration: String?

    @Option(name: .customLong("calibration-samples"), help: ArgumentHelp("Use at most this many calibration samples.", valueName: "count"))
    var calibrationSamples: Int?

    @Option(name: .customLong("max-error"), help: ArgumentHelp("With --sparsity auto: the largest relative model output error allowed.", valueName: "E"))
    var maxError: Double?

    @Option(name: .customLong("target-density"), help: ArgumentHelp("With --sparsity auto: the share of prunable weights to keep, 0…1.", valueName: "D"))
    var targetDensity: Double?

    @Option(name: .customLong("target-speedup"), help: ArgumentHelp("With --sparsity auto: the end-to-end speed-up over the dense model to reach, at the least output error, as the cost model estimates it for --target (check with sieve bench).", valueName: "X"))
    var targetSpeedup: Double?

    @Option(help: ArgumentHelp("With --sparsity auto: how layers are ranked: 'sensitivity' (each layer's measured effect on the output, the default) or 'owl' (by its share of outlier weights, as OWL: layers with more outliers are pruned less; no per-layer sensitivity runs).",
                               valueName: "sensitivity|owl"))
    var allocate: String?

    @Option(name: .customLong("owl-threshold"), help: ArgumentHelp("With --allocate owl: a weight is an outlier when its Wanda score exceeds this multiple of its layer's mean (OWL's M; default \(OutlierAllocation.default.threshold.formatted())).", valueName: "M"))
    var owlThreshold: Double?

    @Option(name: .customLong("owl-spread"), help: ArgumentHelp("With --allocate owl: how far a layer's sparsity may lie from the model's, either way (OWL's lambda; default \(OutlierAllocation.default.spread.formatted())).", valueName: "L"))
    var owlSpread: Double?

    @Option(name: .customLong("keep-dense"), help: ArgumentHelp("Keep layers matching this glob dense (weight, result or ONNX node name); repeatable.", valueName: "glob"))
    var keepDense: [String] = []

    @Option(name: .customLong("min-weights"), help: ArgumentHelp("Layers with fewer weights stay dense.", valueName: "count"))
    var minWeights: Int = SparsityOptions.defaultMinWeights

    @Flag(help: "Search an input-channel permutation per layer that keeps more weight, folded into the layer's producer where that is legal.")
    var permute = false

    /// The sparsification asked for, or nil when `--sparsity` is absent.
    func options(passManager: PassManagerOptions) throws(DiagnosticError) -> SparsityOptions? {
        guard let sparsity else {
            if maxError != nil || targetDensity != nil || targetSpeedup != nil || permute || calibration != nil && prune != "magnitude"
                || allocate != nil || owlThreshold != nil || owlSpread != nil {
                throw DiagnosticError(.error(.unknown, "--prune, --permute, --max-error, --target-density, --target-speedup and --allocate need --sparsity N:M or --sparsity auto"))
            }
            return nil
        }
        guard let method = PruneMethod(rawValue: prune) else {
            throw DiagnosticError(.error(.unknown, "--prune must be magnitude, wanda or sparsegpt, found '\(prune)'"))
        }
        guard minWeights >= 0 else { throw DiagnosticError(.error(.unknown, "--min-weights must not be negative")) }
        var options = SparsityOptions(sparsity: try SparsityOptions.mode(sparsity, maxError: maxError, targetDensity: targetDensity,
                                                                         targetSpeedup: targetSpeedup),
                                      prune: method, keepDense: keepDense, minWeights: minWeights,
                                      calibrationSamples: calibrationSamples, passManager: passManager)
        options.permute = permute
        options.ranking = try SparsityOptions.ranking(allocate, threshold: owlThreshold, spread: owlSpread)
        if options.ranking != .sensitivity, case .uniform = options.sparsity {
            throw DiagnosticError(.error(.unknown, "--allocate owl ranks layers for --sparsity auto; with a fixed pattern every eligible layer takes it"))
        }
        return options
    }

    /// The calibration set, with a status line on a terminal while it streams.
    func loadCalibration() throws(DiagnosticError) -> CalibrationSet? {
        guard let calibration else { return nil }
        return showingProgress(try loadCalibrationData(path: calibration))
    }
}

/// The calibration set with its passes shown by the progress display (which draws nothing when standard error is
/// not a terminal or --quiet was given).
func showingProgress(_ calibration: CalibrationSet) -> CalibrationSet {
    guard progressDisplay.isEnabled else { return calibration }
    var set = calibration
    set.progress = { step in progressDisplay.show(step) }
    return set
}

/// `--quantize int8` and its error budget, shared by `compile`, `run` and `opt`.
struct QuantizeFlags: ParsableArguments {
    @Option(help: ArgumentHelp("Quantize matrix-product weights: 'int8' (symmetric per output channel, after N:M legalisation; activations quantized per row at run time). Layers whose error exceeds --quantize-max-error stay f32.",
                               valueName: "int8"))
    var quantize: String?

    @Option(name: .customLong("quantize-max-error"),
            help: ArgumentHelp("With --quantize: the largest relative error a quantized layer may have (its output error on --calibration data, else its weight error).",
                               valueName: "E"))
    var quantizeMaxError: Double?

    @Option(help: ArgumentHelp("With --quantize: 'dynamic' activation scales, computed per row at run time (the default), or 'static' ones, fixed per layer from the --calibration data by --observer; the report names the observer and each layer's scale.",
                               valueName: "dynamic|static"))
    var activations: String?

    @Option(help: ArgumentHelp("With --activations static: how a layer's activation range is read from calibration data: 'minmax' (default) or 'percentile' (0.01th to 99.99th, outliers saturate).",
                               valueName: "minmax|percentile"))
    var observer: String?

    /// The quantize pass asked for, or nil without `--quantize`.
    func pass() throws(DiagnosticError) -> QuantizeOptions? {
        guard let quantize else {
            if quantizeMaxError != nil { throw DiagnosticError(.error(.unknown, "--quantize-max-error needs --quantize int8")) }
            if activations != nil { throw DiagnosticError(.error(.unknown, "--activations needs --quantize int8")) }
            if observer != nil { throw DiagnosticError(.error(.unknown, "--observer needs --quantize int8 --activations static")) }
            return nil
        }
        let scales = try activations.map { (value: String) throws(DiagnosticError) -> QuantizeActivationScales in
            guard let scales = QuantizeActivationScales(rawValue: value) else {
                throw DiagnosticError(.error(.unknown, "--activations must be dynamic or static, found '\(value)'"))
            }
            return scales
        } ?? .dynamic
        let rangeObserver = try observer.map { (value: String) throws(DiagnosticError) -> QuantizeRangeObserver in
            guard let observer = QuantizeRangeObserver(rawValue: value) else {
                throw DiagnosticError(.error(.unknown, "--observer must be minmax or percentile, found '\(value)'"))
            }
            guard scales == .static else {
                throw DiagnosticError(.error(.unknown, "--observer chooses static activation scales; add --activations static"))
            }
            return observer
        } ?? .minmax
        guard quantize == "int8" else {
            throw DiagnosticError(.error(.unknown, "--quantize must be int8, found '\(quantize)'"))
        }
        let bound = quantizeMaxError ?? QuantizeOptions.defaultMaxError
        guard bound >= 0, bound.isFinite else {
            throw DiagnosticError(.error(.unknown, "--quantize-max-error must be a non-negative number, found \(bound)"))
        }
        return QuantizeOptions(maxError: bound, activations: scales, observer: rangeObserver)
    }

    /// The pass as a `-p` entry, for `sieve opt`.
    func pipelineEntry() throws(DiagnosticError) -> String? {
        try pass().map { "quantize{max-error=\($0.maxError),activations=\($0.activations.rawValue),observer=\($0.observer.rawValue)}" }
    }
}
