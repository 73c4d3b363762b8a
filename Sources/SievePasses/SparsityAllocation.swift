// sparsity-allocation: decides per prunable layer an N:M pattern or dense, and records the decision
// as a `{sparsity = "N:M"}` request on the weight's const op for nm-legalize to carry out.
//
// Options: `sparsity-allocation{sparsity=2:4}` (uniform, the default), or `sparsity=auto` with
// `max-error=E` (relative model output error on calibration), `target-density=D` (kept weights over
// all prunable weights) or `target-speedup=X` (estimated end-to-end speed-up over dense by the schedule pass's
// cost model for `target=NAME` and `threads=N`, SpeedEstimate.swift); auto mode ranks layers by measured
// sensitivity, or with `allocate=owl` (`owl-threshold=M`, `owl-spread=L`) by their outliers as OWL does
// (OutlierAllocation.swift); `keep-dense=GLOB` (repeatable; matches the weight name, the layer's result name
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
        /// The least-error choice whose estimated time is at most the dense model's over this factor.
        case targetSpeedup(Double)
    }

    /// How auto mode ranks the layers.
    public enum Ranking: Hashable, Sendable {
        /// By sensitivity: the model's measured output error with each layer alone pruned under each candidate.
        case sensitivity
        /// By outliers, as OWL: no sensitivity runs; the allocations OutlierAllocation gives for model sparsities
        /// from 0 to 1 are the curve, and measured errors choose on it under an error bound.
        case outliers(OutlierAllocation)
    }

    /// How patterns are chosen.
    public var mode: Mode
    /// How auto mode ranks the layers.
    public var ranking: Ranking = .sensitivity
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
    /// The CPU `target-speedup` estimates times for (nil: the host, as the schedule pass).
    public var target: TargetDescription?
    /// Cores a parallel kernel may use in those estimates (nil: the target's).
    public var threads: Int?

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
         ("target-speedup", "auto: estimated speed-up over dense to reach"),
         ("min-weights", "smallest layer considered"), ("prune", "method sensitivity is measured with"),
         ("samples", "calibration samples for sensitivity"),
         ("target", "target-speedup: the CPU times are estimated for"), ("threads", "target-speedup: cores in the estimate"),
         ("allocate", "auto: rank layers by sensitivity (measured) or owl (outlier share)"),
         ("owl-threshold", "owl: outlier when the score exceeds this multiple of the layer mean"),
         ("owl-spread", "owl: how far a layer's sparsity may lie from the model's")]
    }

    public func configured(with options: [(key: String, value: String)]) throws(DiagnosticError) -> any GraphPass {
        let reader = PassOptionReader(pass: name, known: optionHelp)
        try reader.check(options)
        var pass = self
        var sparsity: String?
        var maxError: Double?, density: Double?, speedup: Double?
        var allocate: String?, owlThreshold: Double?, owlSpread: Double?
        for (key, value) in options {
            switch key {
            case "sparsity": sparsity = value
            case "max-error": maxError = try reader.number(key, value, in: 0...Double.greatestFiniteMagnitude)
            case "target-density": density = try reader.number(key, value, in: 0...1)
            case "target-speedup": speedup = try reader.number(key, value, in: 0...Double.greatestFiniteMagnitude)
            case "target": pass.target = try TargetDescription.named(value)
            case "threads":
                let count = try reader.count(key, value)
                guard count >= 1 else { throw reader.error("threads must be at least 1, found \(value)") }
                pass.threads = count
            case "keep-dense": pass.keepDense.append(value)
            case "min-weights": pass.minWeights = try reader.count(key, value)
            case "prune": pass.method = try reader.method(value)
            case "samples": pass.samples = max(1, try reader.count(key, value))
            case "allocate": allocate = value
            case "owl-threshold": owlThreshold = try reader.number(key, value, in: 0...Double.greatestFiniteMagnitude)
            case "owl-spread": owlSpread = try reader.number(key, value, in: 0...1)
            default: break
            }
        }
        if allocate != nil || owlThreshold != nil || owlSpread != nil {
            do {
                pass.ranking = try SparsityOptions.ranking(allocate, threshold: owlThreshold, spread: owlSpread, spelling: .passOption)
            } catch {
                throw reader.error(error.diagnostics.first?.message ?? "\(error)")
            }
        }
        // A budget alone means auto, as `sparsity=auto` with it would.
        if let text = sparsity ?? (maxError != nil || density != nil || speedup != nil ? "auto" : nil) {
            do {
                pass.mode = try SparsityOptions.mode(text, maxError: maxError, targetDensity: density, targetSpeedup: speedup,
                                                     spelling: .passOption)
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
        case .maxError, .targetDensity, .targetSpeedup:
            try allocate(&graph, open, context: &context)
        }
    }

    /// One choice for a layer: a pattern (nil for dense), the weights it keeps, its measured error, and its
    /// estimated time (`target-speedup` only).
    struct Option {
        var pattern: NMPattern?
        var kept: Int
        var error: Double
        var nanoseconds = 0.0
    }

    /// Auto mode: rank the layers (by measured sensitivity, or by outliers as OWL), walk the curve of allocations
    /// from dense, and choose the point the budget asks for.
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

        var speed: SpeedEstimate?
        if case .targetSpeedup = mode {
            speed = try SpeedEstimate(graph: graph, layers: PrunableLayers.find(in: graph),
                                      candidates: Dictionary(eligible.map { ($0.layer.name, $0.patterns) }, uniquingKeysWith: { a, _ in a }),
                                      schedule: Schedule(target: target, threads: threads))
        }
        let sampleLimit = min(samples, context.calibrationSamples ?? samples)
        let reference = try ReferenceRun.record(graph: graph, calibration: calibration, maxSamples: sampleLimit)
        var statistics: CalibrationStatistics?
        if method.needsCalibration || ranking != .sensitivity {
            statistics = try CalibrationStatistics.collect(graph: graph, layers: eligible.map(\.layer), calibration: calibration,
                                                           gram: method == .sparsegpt, maxSamples: sampleLimit)
        }

        // Each layer's weights, decoded once, and the weights it would keep under a pattern, pruned once.
        var weightMatrices: [String: [Double]] = [:]
        func weightMatrix(_ layer: PrunableLayer) throws -> [Double] {
            if let known = weightMatrices[layer.name] { return known }
            let weights = try PrunableLayers.weightMatrix(graph, layer)
            weightMatrices[layer.name] = weights
            return weights
        }
        var pruned: [String: [NMPattern: [Double]]] = [:]
        func prunedWeights(_ layer: PrunableLayer, _ pattern: NMPattern) throws -> [Double] {
            if let known = pruned[layer.name]?[pattern] { return known }
            let candidate = try NMLegalize.prune(try weightMatrix(layer), layer: layer, pattern: pattern, method: method,
                                                 statistics: statistics?.layers[layer.name])
            pruned[layer.name, default: [:]][pattern] = candidate
            return candidate
        }

        // Each layer's options, dense first; by sensitivity, each pattern's error with that layer alone pruned.
        var options: [[Option]] = []
        let candidateCount = eligible.reduce(0) { $0 + $1.patterns.count }
        var measuredCount = 0
        for (layer, patterns) in eligible {
            let times = speed?.layerNanoseconds[layer.name] ?? [:]
            var layerOptions = [Option(pattern: nil, kept: layer.weightCount, error: 0, nanoseconds: times[nil] ?? 0)]
            var sensitivity: [String: Double] = [:]
            for pattern in patterns {
                var error = 0.0
                if ranking == .sensitivity {
                    context.progress?(ProgressUpdate(task: "sensitivity", detail: "\(layer.name) \(pattern)", done: measuredCount,
                                                     total: candidateCount, unit: "candidates"))
                    measuredCount += 1
                    var variant = graph
                    try PrunableLayers.replaceWeight(&variant, layer, matrix: try prunedWeights(layer, pattern), pattern: nil)
                    error = try reference.relativeError(of: variant)
                    sensitivity[pattern.description] = error
                }
                layerOptions.append(Option(pattern: pattern, kept: NMPacking.keptCount(layer.matrix, pattern), error: error,
                                           nanoseconds: times[pattern] ?? 0))
            }
            switch ranking {
            case .sensitivity: options.append(speed == nil ? Self.densitySteps(layerOptions) : Self.speedSteps(layerOptions))
            case .outliers: options.append(speed == nil ? layerOptions : Self.speedSteps(layerOptions))
            }
            context.sparsity.update(layer.name, make: { layer.record(in: graph, pattern: nil, reason: "") }) {
                $0.sensitivity = sensitivity
            }
        }

        let prunableTotal = PrunableLayers.find(in: graph).reduce(0) { $0 + $1.weightCount }
        func density(_ choice: [Int]) -> Double {
            let kept = prunableTotal - eligible.indices.reduce(0) { $0 + options[$1][0].kept - options[$1][choice[$1]].kept }
            return prunableTotal > 0 ? Double(kept) / Double(prunableTotal) : 1
        }
        func patterns(_ choice: [Int]) -> [String: NMPattern] {
            var named: [String: NMPattern] = [:]
            for (index, (layer, _)) in eligible.enumerated() { named[layer.name] = options[index][choice[index]].pattern }
            return named
        }
        // The model's relative output error with every layer pruned as `choice` says (errors do not add up exactly).
        func jointError(_ choice: [Int]) throws -> Double {
            var variant = graph
            for (index, (layer, _)) in eligible.enumerated() {
                guard let pattern = options[index][choice[index]].pattern else { continue }
                try PrunableLayers.replaceWeight(&variant, layer, matrix: try prunedWeights(layer, pattern), pattern: nil)
            }
            return try reference.relativeError(of: variant)
        }

        // The curve: allocations from all dense on, each with its estimated error (by sensitivity only).
        var path: [(choice: [Int], error: Double?)]
        switch ranking {
        case .sensitivity:
            path = greedyPath(options, stopAt: { choice in
                if case let .targetDensity(goal) = mode { return density(choice) <= goal }
                return false
            }, saved: speed == nil ? { Double($0.kept - $1.kept) } : { $0.nanoseconds - $1.nanoseconds })
        case let .outliers(parameters):
            var ratios: [Double] = []
            for (layer, _) in eligible {
                let norms = statistics?.layers[layer.name]?.columnNorms ?? []
                let ratio = parameters.outlierRatio(NMPruning.wandaScores(try weightMatrix(layer), matrix: layer.matrix, columnNorms: norms))
                ratios.append(ratio)
                context.sparsity.update(layer.name, make: { layer.record(in: graph, pattern: nil, reason: "") }) { $0.outlierRatio = ratio }
            }
            let sparsities = eligible.indices.map { index in
                options[index].map { 1 - Double($0.kept) / Double(max(1, eligible[index].layer.weightCount)) }
            }
            // Between patterns of one sparsity: by speed the faster, otherwise the larger M (the freer choice of kept weights).
            let preferred = options.map { layer in layer.map { speed == nil ? -Double($0.pattern?.m ?? 0) : $0.nanoseconds } }
            path = OutlierAllocation.path(ratios: ratios, weights: eligible.map(\.layer.weightCount), choices: sparsities,
                                          preferred: preferred, parameters: parameters).map { ($0, nil) }
        }

        // The chosen point, with measured errors where the choice needed them.
        var measuredErrors: [Int: Double] = [0: 0]
        func measured(_ index: Int) throws -> Double {
            if let known = measuredErrors[index] { return known }
            let error = try jointError(path[index].choice)
            measuredErrors[index] = error
            return error
        }
        var chosen = path.count - 1
        switch mode {
        case let .targetSpeedup(goal):
            // The first point that reaches the goal (the least error among those visited), or the last when none does.
            if let speed { chosen = path.firstIndex { speed.speedup(patterns($0.choice)) >= goal } ?? chosen }
        case let .targetDensity(goal):
            chosen = path.firstIndex { density($0.choice) <= goal } ?? chosen
        case let .maxError(bound):
            if ranking == .sensitivity {
                // The greedy stopped at the bound by estimate; step back until the measured error fits.
                while chosen > 0, try measured(chosen) > bound { chosen -= 1 }
            } else {
                // The last point whose measured error fits, by bisection (the error grows along the curve).
                var fits = 0, exceeds = path.count
                while exceeds - fits > 1 {
                    let middle = (fits + exceeds) / 2
                    if try measured(middle) <= bound { fits = middle } else { exceeds = middle }
                }
                chosen = fits
            }
        case .uniform:
            break
        }
        let choice = path[chosen].choice
        let measuredError = try measured(chosen)
        // Measured errors at a few points along the curve where there is no estimate or it is in speed, not weights.
        if speed != nil || ranking != .sensitivity {
            let stride = max(1, (path.count - 1) / 6)
            for index in Swift.stride(from: stride, to: path.count, by: stride) { _ = try measured(index) }
            _ = try measured(path.count - 1)
        }
        let curve = path.enumerated().map { index, point in
            AllocationPoint(step: index, estimatedSpeedup: speed.map { $0.speedup(patterns(point.choice)) }, density: density(point.choice),
                            estimatedError: point.error, measuredError: measuredErrors[index], chosen: index == chosen)
        }
        if case let .targetSpeedup(goal) = mode, let speed, speed.speedup(patterns(choice)) < goal {
            let reached = speed.speedup(patterns(choice))
            let unhelped = eligible.indices.filter { options[$0].count == 1 }.map { eligible[$0].layer.name }
            let limit = Self.speedLimitNote(speed, eligible: Set(eligible.map(\.layer.name)), unhelped: unhelped)
            context.sparsity.note("sparsity-allocation: target speed-up \(goal) is out of reach; the fastest choice is estimated at \(formatShare(reached))x: \(limit)")
            context.diagnostics.append(Diagnostic(.warning, graph.location, "sparsity-allocation: target speed-up \(goal) is out of reach; estimated \(formatShare(reached))x (\(limit))"))
        }

        let budget: String
        switch mode {
        case let .maxError(bound): budget = "max-error \(bound)"
        case let .targetDensity(goal):
            budget = "target-density \(goal)"
            if density(choice) > goal {
                context.sparsity.note("sparsity-allocation: target density \(goal) is out of reach; the sparsest choice keeps \(formatShare(density(choice))) of the prunable weights")
                context.diagnostics.append(Diagnostic(.warning, graph.location, "sparsity-allocation: target density \(goal) is out of reach; reached \(formatShare(density(choice)))"))
            }
        case let .targetSpeedup(goal): budget = "target-speedup \(goal)"
        case let .uniform(pattern): budget = "uniform \(pattern)"
        }
        let speedNote = speed.map { ", estimated \(formatShare($0.speedup(patterns(choice))))x the dense model's speed on \($0.targetName)" } ?? ""
        let ranked: String
        switch ranking {
        case .sensitivity: ranked = "sensitivity measured with \(method.rawValue)"
        case let .outliers(parameters):
            ranked = "layers ranked by their share of outlier weights as OWL (Wanda scores above \(formatShare(parameters.threshold)) times the layer's mean; sparsity spread \(formatShare(parameters.spread))), errors measured with \(method.rawValue)"
        }
        context.sparsity.note("sparsity-allocation: auto (\(budget)), \(ranked) on \(reference.samples) calibration samples; chosen allocation keeps \(formatShare(density(choice))) of prunable weights\(speedNote), relative output error \(formatShare(measuredError)) as the allocation pruned it (an estimate: nm-legalize prunes again and may permute channels; the model relative output error is measured on the graph it emits)")
        context.sparsity.curve = curve
        for (index, (layer, _)) in eligible.enumerated() {
            let option = options[index][choice[index]]
            if let pattern = option.pattern { graph.constants.entries[layer.constant.index].sparsityRequest = pattern }
            let time = speed == nil ? "" : ", estimated \(microseconds(options[index][0].nanoseconds)) → \(microseconds(option.nanoseconds)) µs"
            context.sparsity.update(layer.name, make: { layer.record(in: graph, pattern: option.pattern, reason: "") }) {
                $0.pattern = option.pattern
                let denseWhy = speed != nil && options[index].count == 1 ? "no pattern is estimated faster than dense"
                    : ranking == .sensitivity ? "every pattern cost more than the budget allows"
                    : "its share of outlier weights kept it dense at this budget"
                $0.reason = option.pattern == nil ? "auto (\(budget)): \(denseWhy)\(time)" : "auto (\(budget))\(time)"
            }
        }
    }

    /// The greedy walk by sensitivity from all dense: each move takes one layer one step further, the one with the
    /// least added error per unit `saved` (weights, or estimated nanoseconds); under an error bound only moves whose
    /// estimated error fits; until `stopAt` holds or no move is left. Each point carries the sum of the moved
    /// layers' sensitivities.
    func greedyPath(_ options: [[Option]], stopAt: ([Int]) -> Bool, saved: (Option, Option) -> Double) -> [(choice: [Int], error: Double?)] {
        var choice = [Int](repeating: 0, count: options.count)
        var estimated = 0.0
        var path: [(choice: [Int], error: Double?)] = [(choice, 0)]
        while !stopAt(choice) {
            var bestMove: (layer: Int, ratio: Double, saved: Double)?
            for index in options.indices where choice[index] + 1 < options[index].count {
                let current = options[index][choice[index]], next = options[index][choice[index] + 1]
                let added = max(0, next.error - current.error)
                if case let .maxError(bound) = mode, estimated + added > bound { continue }
                let gain = saved(current, next)
                let ratio = added / max(1, gain)
                if bestMove.map({ ratio < $0.ratio || (ratio == $0.ratio && gain > $0.saved) }) ?? true {
                    bestMove = (index, ratio, gain)
                }
            }
            guard let move = bestMove else { break }
            estimated += max(0, options[move.layer][choice[move.layer] + 1].error - options[move.layer][choice[move.layer]].error)
            choice[move.layer] += 1
            path.append((choice, estimated))
        }
        return path
    }

    /// A layer's options as steps that each keep fewer weights, densest (dense) first: per kept count only the most
    /// accurate pattern (4:8 and 2:4 keep as many).
    static func densitySteps(_ options: [Option]) -> [Option] {
        var best: [Int: Option] = [:]
        for option in options where best[option.kept].map({ option.error < $0.error }) ?? true { best[option.kept] = option }
        return best.values.sorted { $0.kept > $1.kept }
    }

    /// A layer's options as steps that each make it faster by the estimate, dense first: the patterns by estimated
    /// time, slowest first, each kept only when faster than the step before it (at equal times the most accurate).
    /// A pattern estimated no faster than dense is no step at all.
    static func speedSteps(_ options: [Option]) -> [Option] {
        guard let dense = options.first(where: { $0.pattern == nil }) else { return options }
        var steps = [dense]
        let sparse = options.filter { $0.pattern != nil }
            .sorted { $0.nanoseconds != $1.nanoseconds ? $0.nanoseconds > $1.nanoseconds : $0.error < $1.error }
        for option in sparse where option.nanoseconds < (steps.last?.nanoseconds ?? 0) { steps.append(option) }
        return steps
    }

    /// What keeps the estimated speed-up down when a target is out of reach: the time outside the prunable layers
    /// and in layers that cannot take a pattern.
    /// `unhelped` names the layers for which no candidate pattern is estimated faster than dense.
    static func speedLimitNote(_ speed: SpeedEstimate, eligible: Set<String>, unhelped: [String]) -> String {
        let total = speed.denseNanoseconds
        func share(_ nanoseconds: Double) -> String { total > 0 ? String(format: "%.0f%%", 100 * nanoseconds / total) : "0%" }
        var parts = ["\(share(speed.otherNanoseconds)) of the dense model's estimated time is outside the prunable layers"]
        let fixed = speed.layerNanoseconds.filter { !eligible.contains($0.key) }
            .map { ($0.key, $0.value[nil] ?? 0) }.sorted { $0.1 > $1.1 }
        if !fixed.isEmpty {
            let names = fixed.prefix(3).map { "\($0.0) (\(share($0.1)))" }.joined(separator: ", ")
            parts.append("\(fixed.count) layers are not the allocation's to choose (dense by keep-dense, min-weights or a short reduction, or N:M already): \(names)\(fixed.count > 3 ? ", …" : "")")
        }
        if !unhelped.isEmpty {
            let names = unhelped.prefix(3).joined(separator: ", ")
            parts.append("no pattern is estimated faster than dense for \(unhelped.count) layers (small products whose weights stay in cache run at the speed of their activations): \(names)\(unhelped.count > 3 ? ", …" : "")")
        }
        return parts.joined(separator: "; ")
    }
}

/// Nanoseconds as microseconds with three significant digits, for reasons.
func microseconds(_ nanoseconds: Double) -> String { String(format: "%.3g", nanoseconds / 1000) }

/// A fraction with four significant digits, for notes.
public func formatShare(_ value: Double) -> String {
    guard value.isFinite else { return "\(value)" }
    return String(Double((value * 10000).rounded()) / 10000)
}
