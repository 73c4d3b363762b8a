// The sparsification entry point: a graph, sparsity options and calibration data in; the graph with
// N:M weights and the sparsity report out. `sieve compile` calls this between import and lowering.

import SieveFormats
import SieveIR
import SieveInterpreter
import SievePasses
import SieveTarget

/// What to sparsify and how: the passes' `SparsityOptions`, under the name the driver's requests use.
public typealias SparsifyOptions = SparsityOptions
/// The quantize pass as the driver takes it (`--quantize int8`), so that the command line needs no SievePasses import.
public typealias QuantizeOptions = Quantize

/// The sparsified graph and what was done.
public struct SparsifyResult: Sendable {
    /// The graph with nm weights.
    public var graph: Graph
    /// Per-layer decisions, costs and the whole model's error.
    public var report: SparsityReport
    /// IR dumps the pass manager options asked for.
    public var dumps: [String]
    /// Warnings from the passes.
    public var diagnostics: [Diagnostic]
}

/// Runs sparsity-allocation then nm-legalize on a graph and builds the report.
///
/// Without calibration data only uniform patterns with magnitude pruning are possible; asking for
/// anything else is an error that says so.
public func sparsify(_ graph: Graph, options: SparsifyOptions, calibration: CalibrationSet?) throws -> SparsifyResult {
    try checkSparsityOptions(options, calibration: calibration, location: graph.location)
    let allocation = options.allocation
    let legalize = NMLegalize(method: options.prune, permute: options.permute)
    let passes = Pipelines.sparsity(allocation: allocation, legalize: legalize)
    let manager = try PassManager(passes: passes, options: options.passManager.restricted(to: passes))
    var context = PassContext()
    context.calibration = calibration
    context.calibrationSamples = options.calibrationSamples
    var result = graph
    var dumps: [String] = []
    try manager.run(on: &result, context: &context) { dumps.append($0) }
    let report = try buildSparsityReport(original: graph, sparse: result, log: context.sparsity, options: options,
                                         calibration: calibration)
    return SparsifyResult(graph: result, report: report, dumps: dumps, diagnostics: context.diagnostics)
}

/// Refuses sparsity options that need calibration data when there is none: only uniform patterns with magnitude
/// pruning work without it.
func checkSparsityOptions(_ options: SparsifyOptions, calibration: CalibrationSet?, location: Location) throws(DiagnosticError) {
    guard calibration == nil else { return }
    if options.prune.needsCalibration {
        throw DiagnosticError(.error(location, "--prune \(options.prune.rawValue) needs calibration data; give --calibration PATH or use --prune magnitude"))
    }
    if case .uniform = options.sparsity {} else {
        throw DiagnosticError(.error(location, "--sparsity auto measures per-layer sensitivity on calibration data; give --calibration PATH or a fixed pattern such as 2:4"))
    }
}

/// The sparsity report of one run of sparsity-allocation and nm-legalize: `original` is the graph before them,
/// `sparse` the graph after, `log` what they recorded in the pass context.
func buildSparsityReport(original: Graph, sparse: Graph, log: SparsityLog, options: SparsifyOptions,
                         calibration: CalibrationSet?) throws -> SparsityReport {
    var sparsity: String
    switch options.sparsity {
    case let .uniform(pattern): sparsity = pattern.description
    case let .maxError(bound): sparsity = "auto, max-error \(bound)"
    case let .targetDensity(density): sparsity = "auto, target-density \(density)"
    case let .targetSpeedup(speedup): sparsity = "auto, target-speedup \(speedup)"
    }
    if case let .outliers(parameters) = options.ranking {
        sparsity += ", allocate owl (threshold \(formatShare(parameters.threshold)), spread \(formatShare(parameters.spread)))"
    }
    return try SparsityReport.build(original: original, sparse: sparse, log: log, sparsity: sparsity,
                                    prune: options.prune.rawValue, calibration: calibration,
                                    maxSamples: options.calibrationSamples)
}

/// Carries what the sparsity passes did to a graph over to `target`, the same model imported with other
/// input shapes: `dense` is the graph just before the passes, `sparsified` just after. Every layer
/// whose weight is nm in `sparsified`, or whose dense weight the passes changed (the producer a channel
/// permutation was folded into), gets that weight, exactly, in `target` (matched by weight name, stored
/// [O, I] with transpose_b as nm-legalize stores it); every other constant the passes changed (the
/// biases and scales a permutation moved) is copied by name. Use it to carry weights sparsified on a
/// graph shaped for calibration batches over to the model at the shapes it runs at; weights do not
/// depend on them. Carrying the nm weights alone is not enough: with `permute` they read their input
/// channels in an order that only the permuted producers and constants give.
///
/// Throws when something changed has no counterpart of the same shape in `target`.
public func transferSparsity(from sparsified: Graph, dense: Graph, to target: Graph) throws -> Graph {
    var result = target
    func byName(_ layers: [PrunableLayer]) -> [String: PrunableLayer] {
        Dictionary(layers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }
    let targets = byName(PrunableLayers.find(in: target)), before = byName(PrunableLayers.find(in: dense))
    var carried: Set<String> = []
    for layer in PrunableLayers.find(in: sparsified) {
        guard let constant = sparsified.constants[layer.constant] else { continue }
        let pattern = NMPattern(constant.type.layout)
        let weights = try PrunableLayers.weightMatrix(sparsified, layer)
        if pattern == nil, let old = before[layer.name], old.matrix == layer.matrix,
           try PrunableLayers.weightMatrix(dense, old) == weights {
            continue
        }
        guard let counterpart = targets[layer.name], counterpart.matrix == layer.matrix else {
            throw DiagnosticError(.error(target.location, "cannot carry the sparsity of weight @\(layer.name) over: the target graph has no layer with that weight and shape"))
        }
        try PrunableLayers.replaceWeight(&result, counterpart, matrix: weights, pattern: pattern)
        carried.insert(layer.name)
    }
    let denseConstants = Dictionary(dense.constants.entries.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    let targetConstants = Dictionary(target.constants.entries.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
    for constant in sparsified.constants.entries where !carried.contains(constant.name) {
        guard let old = denseConstants[constant.name], old.bytes != constant.bytes || old.type != constant.type else { continue }
        guard let index = targetConstants[constant.name], result.constants.entries[index].type == old.type,
              result.constants.entries[index].bytes.count == constant.bytes.count else {
            throw DiagnosticError(.error(target.location, "cannot carry constant @\(constant.name), which the sparsity passes changed, over: the target graph has no constant of that name and type"))
        }
        result.constants.entries[index].bytes = constant.bytes
    }
    try Verifier.verify(result, checks: Verifier.targetChecks)
    return result
}

/// Where `--quantize int8` takes activation scales from (`--activations dynamic|static`).
public typealias QuantizeActivationScales = ActivationScales

/// How `--activations static` observes a layer's range (`--observer minmax|percentile`).
public typealias QuantizeRangeObserver = RangeObserver
