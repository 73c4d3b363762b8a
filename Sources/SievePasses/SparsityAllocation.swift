// sparsity-allocation: decides per prunable layer an N:M pattern or dense, and records the decision
// as a `{sparsity = "N:M"}` request on the weight's const op for nm-legalize to carry out.
//
// Options: `sparsity-allocation{sparsity=2:4}` (uniform, the default), or `sparsity=auto` with
// `max-error=E` (relative model output error on calibration) or `target-density=D` (kept weights over
// all prunable weights); `keep-dense=GLOB` (repeatable; matches the weight name, the layer's result name
// or ONNX node name), `min-weights=N`, `prune=METHOD` (how sensitivity is measured), `samples=N`
// (calibration samples for sensitivity); the defaults are SparsityOptions' (docs/sparsity.md).
// Layers stay dense when protected, smaller than min-weights, or with a reduction under 2*M (a reduction
// that is not a multiple of M is padded by the nm layout); the log says which rule applied.

import SieveIR
import SieveInterpreter
import SieveTarget

/// Chooses per-layer N:M patterns.
public struct SparsityAllocation: ConfigurablePass {
    public let name = "sparsity-allocation"

    /// How patterns are chosen.
    public enum Mode: Hashable, Sendable {
        /// The same pattern on every eligible layer.
        case uniform(NMPattern)
        /// The sparsest choice whose measured relative model output error stays within the bound.
        case maxError(Double)
        /// The least-error choice that keeps at most this fraction of the prunable weights.
        case targetDensity(Double)
    }

    /// How patterns are chosen.
    public var mode: Mode
    /// Layers matching any of these globs stay dense.
    public var keepDense: [String]
    /// Layers with fewer weights stay dense.
    public var minWeights: Int
    /// The pruning method sensitivity is measured with (use the one nm-legalize will use).
    public var method: PruneMethod
    /// Patterns auto mode chooses among, besides dense.
    public var candidates: [NMPattern]
    /// Calibration samples used to measure sensitivity.
    public var samples: Int

    /// Makes the pass; the defaults are `SparsityOptions`' (uniform 2:4 on layers of at least
    /// `SparsityOptions.defaultMinWeights` weights).
    public init(mode: Mode = .uniform(SparsityOptions.defaultPattern), keepDense: [String] = [],
                minWeights: Int = SparsityOptions.defaultMinWeights, method: PruneMethod = .magnitude,
                candidates: [NMPattern] = SparsityOptions.defaultCandidates,
                samples: Int = SparsityOptions.defaultSensitivitySamples) {
        self.mode = mode
        self.keepDense = keepDense
        self.minWeights = minWeights
        self.method = method
        self.candidates = candidates
        self.samples = samples
    }

    public var optionHelp: [(key: String, meaning: String)] {
        [("sparsity", "N:M for uniform, or auto"), ("max-error", "auto: relative output error bound"),
         ("target-density", "auto: fraction of prunable weights kept"), ("keep-dense", "glob of layers left dense"),
         ("min-weights", "smallest layer considered"), ("prune", "method sensitivity is measured with"),
         ("samples", "calibration samples for sensitivity")]
    }

    public func configured(with options: [(key: String, value: String)]) throws(DiagnosticError) -> any GraphPass {
        let reader = PassOptionReader(pass: name, known: optionHelp)
        try reader.check(options)
        var pass = self
        var sparsity: String?
        var maxError: Double?, density: Double?
        for (key, value) in options {
            switch key {
            case "sparsity": sparsity = value
            case "max-error": maxError = try reader.number(key, value, in: 0...Double.greatestFiniteMagnitude)
            case "target-density": density = try reader.number(key, value, in: 0...1)
            case "keep-dense": pass.keepDense.append(value)
            case "min-weights": pass.minWeights = try reader.count(key, value)
            case "prune": pass.method = try reader.method(value)
            case "samples": pass.samples = max(1, try reader.count(key, value))
            default: break
            }
        }
        // A budget alone means auto, as `sparsity=auto` with it would.
        if let text = sparsity ?? (maxError != nil || density != nil ? "auto" : nil) {
            do {
                pass.mode = try SparsityOptions.mode(text, maxError: maxError, targetDensity: density, spelling: .passOption)
            } catch {
                throw reader.error(error.diagnostics.first?.message ?? "\(error)")
            }
        }
        return pass
    }

    /// Why a layer cannot take a pattern, or nil when it can.
    public func denseReason(_ layer: PrunableLayer, _ pattern: NMPattern) -> String? {
        if let glob = keepDense.first(where: { glob in ([layer.name] + layer.aliases).contains { globMatches(glob, $0) } }) {
            return "kept dense by keep-dense \(glob)"
        }
        if layer.weightCount < minWeights {
            return "too small: \(layer.weightCount) weights < \(minWeights)"
        }
        if layer.matrix.reduction < 2 * pattern.m {
            return "reduction \(layer.matrix.reduction) < 2*M = \(2 * pattern.m)"
        }
        return nil
    }

    public func run(on graph: inout Graph, context: inout PassContext) throws {
        // Sensitivity runs the interpreter and reads weights assuming the invariants hold, even under --no-verify-each.
        try Verifier.verify(graph, checks: Verifier.targetChecks)
        var open: [PrunableLayer] = []
        for layer in PrunableLayers.find(in: graph) {
            guard let constant = graph.constants[layer.constant] else { continue }
            if let existing = NMPattern(constant.type.layout) {
                context.sparsity.update(layer.name, make: { layer.record(in: graph, pattern: existing, reason: "already stored as nm<\(existing)>") }) {
                    $0.alreadyNM = true
                }
            } else if let request = constant.sparsityRequest {
                context.sparsity.update(layer.name, make: { layer.record(in: graph, pattern: request, reason: "requested \(request) in the input") }) { _ in }
            } else {
                open.append(layer)
            }
        }
        switch mode {
        case let .uniform(pattern):
            for layer in open {
                let reason = denseReason(layer, pattern)
                if reason == nil { graph.constants.entries[layer.constant.index].sparsityRequest = pattern }
                context.sparsity.update(layer.name, make: {
                    layer.record(in: graph, pattern: reason == nil ? pattern : nil, reason: reason ?? "uniform \(pattern)")
                }) { _ in }
            }
        case .maxError, .targetDensity:
            try allocate(&graph, open, context: &context)
        }
    }

    /// One choice for a layer: a pattern (nil for dense), the weights it keeps, its measured error.
    struct Option {
        var pattern: NMPattern?
        var kept: Int
        var error: Double
    }

    /// Auto mode: measure each layer's sensitivity, then choose greedily under the budget.
    func allocate(_ graph: inout Graph, _ open: [PrunableLayer], context: inout PassContext) throws {
        guard let calibration = context.calibration else {
            throw DiagnosticError(.error(graph.location, "sparsity-allocation: sparsity=auto measures each layer's sensitivity on calibration data; give --calibration PATH or a fixed pattern such as 2:4"))
        }
        var eligible: [(layer: PrunableLayer, patterns: [NMPattern])] = []
        for layer in open {
            let patterns = candidates.filter { denseReason(layer, $0) == nil }
            if patterns.isEmpty {
                let reason = candidates.first.flatMap { denseReason(layer, $0) } ?? "no candidate pattern"
                context.sparsity.update(layer.name, make: { layer.record(in: graph, pattern: nil, reason: reason) }) { _ in }
            } else {
                eligible.append((layer, patterns))
            }
        }
        guard !eligible.isEmpty else { return }

        let sampleLimit = min(samples, context.calibrationSamples ?? samples)
        let reference = try ReferenceRun.record(graph: graph, calibration: calibration, maxSamples: sampleLimit)
        var statistics: CalibrationStatistics?
        if method.needsCalibration {
            statistics = try CalibrationStatistics.collect(graph: graph, layers: eligible.map(\.layer), calibration: calibration,
                                                           gram: method == .sparsegpt, maxSamples: sampleLimit)
        }

        // Sensitivity: the model's relative output error with one layer alone pruned.
        var pruned: [String: [NMPattern: [Double]]] = [:]
        var options: [[Option]] = []
        let candidateCount = eligible.reduce(0) { $0 + $1.patterns.count }
        var measuredCount = 0
        for (layer, patterns) in eligible {
            let weights = try PrunableLayers.weightMatrix(graph, layer)
            var layerOptions = [Option(pattern: nil, kept: layer.weightCount, error: 0)]
            var sensitivity: [String: Double] = [:]
            for pattern in patterns {
                context.progress?(ProgressUpdate(task: "sensitivity", detail: "\(layer.name) \(pattern)", done: measuredCount,
                                                 total: candidateCount, unit: "candidates"))
                measuredCount += 1
                let candidate = try NMLegalize.prune(weights, layer: layer, pattern: pattern, method: method,
                                                     statistics: statistics?.layers[layer.name])
                pruned[layer.name, default: [:]][pattern] = candidate
                var variant = graph
                try PrunableLayers.replaceWeight(&variant, layer, matrix: candidate, pattern: nil)
                let error = try reference.relativeError(of: variant)
                sensitivity[pattern.description] = error
                layerOptions.append(Option(pattern: pattern, kept: NMPacking.keptCount(layer.matrix, pattern), error: error))
            }
            // Per kept count, only the most accurate pattern (4:8 and 2:4 keep as many).
            var best: [Int: Option] = [:]
            for option in layerOptions where best[option.kept].map({ option.error < $0.error }) ?? true { best[option.kept] = option }
            options.append(best.values.sorted { $0.kept > $1.kept })
            context.sparsity.update(layer.name, make: { layer.record(in: graph, pattern: nil, reason: "") }) {
                $0.sensitivity = sensitivity
            }
        }

        let prunableTotal = PrunableLayers.find(in: graph).reduce(0) { $0 + $1.weightCount }
        var keptTotal = prunableTotal
        var choice = [Int](repeating: 0, count: eligible.count)
        var history: [Int] = []
        var estimated = 0.0
        func density() -> Double { prunableTotal > 0 ? Double(keptTotal) / Double(prunableTotal) : 1 }
        // The trade-off walked, for the report's curve: all dense, then one point per move.
        var curve = [AllocationPoint(keptShare: density(), estimatedError: 0)]
        while true {
            if case let .targetDensity(target) = mode, density() <= target { break }
            var bestMove: (layer: Int, ratio: Double, saved: Int)?
            for index in eligible.indices where choice[index] + 1 < options[index].count {
                let current = options[index][choice[index]], next = options[index][choice[index] + 1]
                let added = max(0, next.error - current.error)
                if case let .maxError(bound) = mode, estimated + added > bound { continue }
                let saved = current.kept - next.kept
                let ratio = added / Double(max(1, saved))
                if bestMove.map({ ratio < $0.ratio || (ratio == $0.ratio && saved > $0.saved) }) ?? true {
                    bestMove = (index, ratio, saved)
                }
            }
            guard let move = bestMove else { break }
            let current = options[move.layer][choice[move.layer]], next = options[move.layer][choice[move.layer] + 1]
            estimated += max(0, next.error - current.error)
            keptTotal -= current.kept - next.kept
            choice[move.layer] += 1
            history.append(move.layer)
            curve.append(AllocationPoint(keptShare: density(), estimatedError: estimated))
        }

        // Errors do not add up exactly: measure the joint choice, and under an error bound undo the
        // latest moves until the measured error fits.
        func jointError() throws -> Double {
            var variant = graph
            for (index, (layer, _)) in eligible.enumerated() {
                guard let pattern = options[index][choice[index]].pattern, let weights = pruned[layer.name]?[pattern] else { continue }
                try PrunableLayers.replaceWeight(&variant, layer, matrix: weights, pattern: nil)
            }
            return try reference.relativeError(of: variant)
        }
        var measured = try jointError()
        if case let .maxError(bound) = mode {
            while measured > bound, let last = history.popLast() {
                let current = options[last][choice[last]], previous = options[last][choice[last] - 1]
                keptTotal += previous.kept - current.kept
                choice[last] -= 1
                measured = try jointError()
            }
        }

        context.sparsity.allocationCurve = curve
        context.sparsity.allocationChoice = history.count

        let budget: String
        switch mode {
        case let .maxError(bound): budget = "max-error \(bound)"
        case let .targetDensity(target):
            budget = "target-density \(target)"
            if density() > target {
                context.sparsity.note("sparsity-allocation: target density \(target) is out of reach; the sparsest choice keeps \(formatShare(density())) of the prunable weights")
                context.diagnostics.append(Diagnostic(.warning, graph.location, "sparsity-allocation: target density \(target) is out of reach; reached \(formatShare(density()))"))
            }
        case let .uniform(pattern): budget = "uniform \(pattern)"
        }
        context.sparsity.note("sparsity-allocation: auto (\(budget)), sensitivity measured with \(method.rawValue) on \(reference.samples) calibration samples; chosen allocation keeps \(formatShare(density())) of prunable weights, relative output error \(formatShare(measured)) as sensitivity pruned it (an estimate: nm-legalize prunes again and may permute channels; the model relative output error is measured on the graph it emits)")
        for (index, (layer, _)) in eligible.enumerated() {
            let pattern = options[index][choice[index]].pattern
            if let pattern { graph.constants.entries[layer.constant.index].sparsityRequest = pattern }
            context.sparsity.update(layer.name, make: { layer.record(in: graph, pattern: pattern, reason: "") }) {
                $0.pattern = pattern
                $0.reason = pattern == nil ? "auto (\(budget)): every pattern cost more than the budget allows" : "auto (\(budget))"
            }
        }
    }
}

/// A fraction with four significant digits, for notes.
func formatShare(_ value: Double) -> String {
    guard value.isFinite else { return "\(value)" }
    return String(Double((value * 10000).rounded()) / 10000)
}
