// nm-legalize: turns every weight that is to be N:M into an exact nm<N:M> constant, keeping an
// already-N:M weight losslessly and pruning the others by magnitude, Wanda or SparseGPT.
//
// Which weights: those whose const op carries `{sparsity = "N:M"}` (written by sparsity-allocation
// or by hand), and, with the option `pattern=N:M`, every other dense float weight of a prunable layer
// (matmul/fused_matmul/gemm with a rank-2 constant B, conv2d) whose shape can carry the pattern.
// Options: `nm-legalize{prune=magnitude|wanda|sparsegpt,pattern=2:4,samples=N,statistics=sequential|dense}`.
// Wanda and SparseGPT read activation statistics from the pass context's calibration set; by default
// layers are pruned in graph order, each measured on the model with the layers before it already
// pruned (one walk of the calibration data through the graph, CalibrationStream), as the SparseGPT and Wanda papers do.

import SieveFormats
import SieveIR
import SieveInterpreter
import SieveTarget

/// Legalises requested weights into nm layouts.
public struct NMLegalize: ConfigurablePass {
    public let name = "nm-legalize"
    /// How weights that break the pattern are pruned.
    public var method: PruneMethod
    /// When set, every prunable dense weight without a request that can carry this pattern is legalised too.
    public var pattern: NMPattern?
    /// Use at most this many calibration samples for statistics (nil: the context's limit, or all).
    public var samples: Int?
    /// Gather each layer's statistics on the model with the layers before it already pruned (one walk
    /// of the calibration data through the graph), rather than all on the dense model in one pass.
    public var sequential: Bool
    /// Search an input-channel permutation that keeps more magnitude and fold it into the producer
    /// of the layer's input where that is legal (matrix products, and ungrouped convolutions fed by one).
    public var permute: Bool

    /// At most this many bytes of Gram matrices are gathered in one calibration pass (1 GiB).
    public static let gramBudgetBytes = 1 << 30
    /// Sequential statistics walk every calibration batch through the graph at once when their live
    /// values take at most this many bytes (1 GiB); otherwise the model runs again for every layer.
    var walkBudgetBytes = 1 << 30

    /// Makes the pass; by default it prunes by magnitude and only legalises requested weights.
    public init(method: PruneMethod = .magnitude, pattern: NMPattern? = nil, samples: Int? = nil, sequential: Bool = true,
                permute: Bool = false) {
        self.method = method
        self.pattern = pattern
        self.samples = samples
        self.sequential = sequential
        self.permute = permute
    }

    public var optionHelp: [(key: String, meaning: String)] {
        [("prune", "magnitude, wanda or sparsegpt"), ("pattern", "N:M for every prunable weight without a request"),
         ("samples", "calibration samples to use at most"),
         ("statistics", "sequential (each layer on the model pruned so far, default) or dense"),
         ("permute", "true to permute input channels where legal")]
    }

    public func configured(with options: [(key: String, value: String)]) throws(DiagnosticError) -> any GraphPass {
        let reader = PassOptionReader(pass: name, known: optionHelp)
        try reader.check(options)
        var pass = self
        for (key, value) in options {
            switch key {
            case "prune": pass.method = try reader.method(value)
            case "pattern": pass.pattern = try reader.pattern(value)
            case "samples": pass.samples = try reader.count(key, value)
            case "permute":
                guard value == "true" || value == "false" else { throw reader.error("permute must be true or false, found '\(value)'") }
                pass.permute = value == "true"
            case "statistics":
                guard value == "sequential" || value == "dense" else { throw reader.error("statistics must be sequential or dense, found '\(value)'") }
                pass.sequential = value == "sequential"
            default: break
            }
        }
        return pass
    }

    public func run(on graph: inout Graph, context: inout PassContext) throws {
        // Weights are read and activations measured assuming the invariants hold, even under --no-verify-each.
        try Verifier.verify(graph, checks: Verifier.targetChecks)
        var targets: [(layer: PrunableLayer, pattern: NMPattern, requested: Bool)] = []
        for layer in PrunableLayers.find(in: graph) {
            guard let constant = graph.constants[layer.constant], constant.type.layout == .dense else { continue }
            if let request = constant.sparsityRequest {
                targets.append((layer, request, true))
            } else if let pattern, canCarry(layer, pattern) {
                targets.append((layer, pattern, false))
            }
        }
        let targeted = Set(targets.map(\.layer.constant))
        for (index, constant) in graph.constants.entries.enumerated()
        where constant.sparsityRequest != nil && !targeted.contains(ConstantID(index)) {
            context.diagnostics.append(Diagnostic(.warning, graph.location, "nm-legalize: @\(constant.name) asks for sparsity \(constant.sparsityRequest?.description ?? "") but is not the weight of exactly one matmul, gemm, fused_matmul or conv2d; it stays dense"))
        }
        guard !targets.isEmpty else { return }

        var weights: [String: [Double]] = [:]
        var needStatistics: [PrunableLayer] = []
        for target in targets {
            let matrix = try PrunableLayers.weightMatrix(graph, target.layer)
            weights[target.layer.name] = matrix
            if !isNM(matrix, target.layer.matrix, target.pattern) { needStatistics.append(target.layer) }
        }

        var statistics: [String: LayerActivationStatistics] = [:]
        var calibration: CalibrationSet?
        if method.needsCalibration && !needStatistics.isEmpty {
            guard let given = context.calibration else {
                throw DiagnosticError(.error(graph.location, "nm-legalize: --prune \(method.rawValue) needs calibration data (activation statistics); give --calibration PATH or use --prune magnitude"))
            }
            calibration = given
            if !sequential {
                statistics = try gather(needStatistics, on: graph, calibration: given, context: &context)
            }
        }

        // Sequential statistics walk the calibration data through the graph once, pruning each layer
        // when the walk reaches it; only when every batch's live values would not fit is the model
        // run again from its inputs for every layer.
        var stream: CalibrationStream?
        if sequential, let calibration {
            stream = try makeStream(graph, calibration: calibration, context: &context)
        }
        let ordered = targets.sorted(by: { $0.layer.opIndex < $1.layer.opIndex })
        let toPrune = ordered.filter { target in weights[target.layer.name].map { !isNM($0, target.layer.matrix, target.pattern) } ?? false }
        let started = ContinuousClock.now
        var done = 0
        for target in ordered {
            var layer = target.layer
            guard var original = weights[layer.name] else { continue }
            let already = isNM(original, layer.matrix, target.pattern)
            let layerStarted = ContinuousClock.now
            if !already {
                context.progress?(ProgressUpdate(task: "nm-legalize", detail: "\(layer.name) \(target.pattern) \(method.rawValue)",
                                                 done: done, total: toPrune.count, unit: "layers"))
            }
            if !already, sequential, let calibration, statistics[layer.name] == nil {
                // The layer sees the activations of the model as pruned so far, as SparseGPT and
                // Wanda do, so that it compensates for the earlier layers' errors.
                if var walk = stream {
                    stream = nil
                    // Layers that read the same input the same way (a block's Q, K and V) share one measurement.
                    let sharing = toPrune.map(\.layer).filter { $0.opIndex >= layer.opIndex && $0.readsInputLike(layer) }
                    try walk.advance(to: layer.opIndex, in: graph)
                    let measured = try CalibrationStatistics.collect(from: walk, layer: layer, graph: graph, gram: method == .sparsegpt)
                    for other in sharing { statistics[other.name] = measured }
                    stream = walk
                } else {
                    statistics[layer.name] = try gather([layer], on: graph, calibration: calibration, context: &context)[layer.name]
                }
            }
            let measuredAt = ContinuousClock.now
            var permutationNote: String?
            if permute && !already {
                let outcome = try permuteInputChannels(of: &layer, weights: &original, pattern: target.pattern,
                                                       statistics: &statistics, graph: &graph)
                permutationNote = outcome.note
                if let channels = outcome.channels, let producer = outcome.producer {
                    context.sparsity.permuted(layer.name, by: channels, foldedInto: producer)
                    // The walk holds values computed with the producer's old channel order.
                    if stream != nil, let calibration {
                        stream = try makeStream(graph, calibration: calibration, context: &context)
                    }
                }
            }
            var pruned = original
            if !already {
                pruned = try NMLegalize.prune(original, layer: layer, pattern: target.pattern, method: method,
                                              statistics: statistics[layer.name])
            }
            let location = graph.operations[layer.opIndex].location
            do {
                try PrunableLayers.replaceWeight(&graph, layer, matrix: pruned, pattern: target.pattern)
            } catch {
                throw DiagnosticError(error.diagnostics.map { var d = $0; if d.location == .unknown { d.location = location }; return d })
            }
            let share = NMPruning.keptMagnitudeShare(original: original, pruned: pruned)
            context.sparsity.update(layer.name, make: {
                layer.record(in: graph, pattern: target.pattern,
                             reason: target.requested ? "requested \(target.pattern)" : "nm-legalize pattern=\(target.pattern)")
            }) { record in
                record.pattern = target.pattern
                record.alreadyNM = already
                record.method = already ? nil : method
                record.keptMagnitudeShare = already ? 1 : share
                record.legalized = true
                if let permutationNote { record.reason += "; " + permutationNote }
            }
            if !already, let progress = context.progress {
                done += 1
                let now = ContinuousClock.now
                progress(ProgressUpdate(task: "nm-legalize", detail: "\(layer.name) \(target.pattern)", done: done, total: toPrune.count,
                                        unit: "layers", line: "nm-legalize: \(done)/\(toPrune.count) \(layer.name) [\(layer.matrix.rows)x\(layer.matrix.reduction)] \(target.pattern) \(method.rawValue): statistics \(seconds(measuredAt - layerStarted)), pruning \(seconds(now - measuredAt)), \(seconds(now - started)) in all"))
            }
        }
    }

    /// A duration as seconds with one decimal, "1.5 s".
    private func seconds(_ duration: Duration) -> String {
        let (whole, fraction) = duration.components
        let tenths = Int((Double(whole) + Double(fraction) * 1e-18) * 10 + 0.5)
        return "\(tenths / 10).\(tenths % 10) s"
    }

    /// The calibration walk for sequential statistics, or nil when every batch's live values would take
    /// more than `walkBudgetBytes` (then each layer's statistics come from a run of the whole model).
    func makeStream(_ graph: Graph, calibration: CalibrationSet, context: inout PassContext) throws -> CalibrationStream? {
        let stream: CalibrationStream
        do {
            stream = try CalibrationStream(graph: graph, calibration: calibration, maxSamples: samples ?? context.calibrationSamples,
                                           budgetBytes: walkBudgetBytes)
        } catch is CalibrationStream.TooLarge {
            return nil
        }
        guard stream.summary.samples > 0 else {
            throw DiagnosticError(.error(graph.location, "nm-legalize: the calibration data held no whole batch for graph @\(graph.name); give at least \(graph.inputs.first.flatMap { graph.type(of: $0)?.shape.first } ?? 1) samples"))
        }
        context.sparsity.note("nm-legalize: \(method.rawValue) statistics from \(stream.summary.samples) calibration samples (\(calibration.origin)), each layer on the model pruned up to it")
        return stream
    }

    /// What `permuteInputChannels` did.
    struct InputPermutation {
        /// The note for the report.
        var note: String
        /// The channel permutation applied (new channel k is old channel `channels[k]`), nil when none was.
        var channels: [Int]?
        /// The layer whose output channels it was folded into, nil when none was applied.
        var producer: String?
    }

    /// Searches a permutation of the layer's input channels that keeps more of the method's score
    /// (|w| for magnitude; |w_ij|·||x_j|| for wanda and sparsegpt, whose saliency w_ij²·H_jj it is),
    /// and applies it where it helps and folding is legal: to the weight, the producer, and the
    /// layer's statistics (whose columns it permutes, which is what gathering them again would give).
    func permuteInputChannels(of layer: inout PrunableLayer, weights: inout [Double], pattern: NMPattern,
                              statistics: inout [String: LayerActivationStatistics], graph: inout Graph) throws -> InputPermutation {
        if let refusal = ChannelPermutation.refusal(for: layer) {
            return InputPermutation(note: "input channels not permuted: " + refusal)
        }
        guard let fold = ChannelPermutation.fold(for: layer, in: graph) else {
            if case .convolution = layer.access {
                return InputPermutation(note: "input channels not permuted: the input does not come from an ungrouped conv2d through per-channel ops only")
            }
            return InputPermutation(note: "input channels not permuted: the input does not come from a matrix product through per-channel ops only")
        }
        let columns = layer.matrix.reduction
        var scores = weights.map(abs)
        var what = "magnitude"
        if method.needsCalibration, let norms = statistics[layer.name]?.columnNorms.first {
            for row in 0..<layer.matrix.rows { for j in 0..<columns { scores[row * columns + j] *= norms[j] } }
            what = "|w|*||x|| score"
        }
        let block = ChannelPermutation.channels(of: layer).block
        let channelPermutation = block == 1
            ? ChannelPermutation.search(scores, matrix: layer.matrix, pattern: pattern)
            : ChannelPermutation.searchChannels(scores, matrix: layer.matrix, pattern: pattern, block: block)
        let permutation = ChannelPermutation.columns(channelPermutation, block: block)
        let before = ChannelPermutation.keptMagnitude(scores, matrix: layer.matrix, pattern: pattern, permutation: Array(0..<columns))
        let after = ChannelPermutation.keptMagnitude(scores, matrix: layer.matrix, pattern: pattern, permutation: permutation)
        guard after > before else { return InputPermutation(note: "no input-channel permutation keeps more \(what)") }
        try ChannelPermutation.apply(channelPermutation, to: layer, fold: fold, graph: &graph)
        guard let refreshed = PrunableLayers.find(in: graph).first(where: { $0.name == layer.name }) else {
            throw DiagnosticError(.error(graph.location, "nm-legalize: layer \(layer.name) disappeared while permuting its input channels"))
        }
        layer = refreshed
        weights = try PrunableLayers.weightMatrix(graph, layer)
        if var permuted = statistics[layer.name] {
            permuted.sumSquares = permuted.sumSquares.map { sums in permutation.map { sums[$0] } }
            permuted.gram = permuted.gram?.map { gram in
                var result = gram
                for k in 0..<columns { for l in 0..<columns { result[k * columns + l] = gram[permutation[k] * columns + permutation[l]] } }
                return result
            }
            statistics[layer.name] = permuted
        }
        let total = max(scores.reduce(0, +), .leastNonzeroMagnitude)
        return InputPermutation(
            note: "input channels permuted (folded into \(fold.producer.name)): \(what) kept by \(pattern) \(formatShare(before / total)) -> \(formatShare(after / total))",
            channels: channelPermutation, producer: fold.producer.name)
    }

    /// Activation statistics of `layers` on `graph`. Gram matrices take I*I Doubles per layer, so
    /// they are gathered a group of layers at a time, one calibration pass per group, holding at
    /// most about `gramBudgetBytes` at once.
    func gather(_ layers: [PrunableLayer], on graph: Graph, calibration: CalibrationSet,
                context: inout PassContext) throws -> [String: LayerActivationStatistics] {
        var groups: [[PrunableLayer]] = [[]]
        var held = 0
        for layer in layers {
            let bytes = method == .sparsegpt ? layer.matrix.reduction * layer.matrix.reduction * 8 * layer.groups : 0
            if held + bytes > NMLegalize.gramBudgetBytes, !(groups.last?.isEmpty ?? true) {
                groups.append([])
                held = 0
            }
            groups[groups.count - 1].append(layer)
            held += bytes
        }
        var result: [String: LayerActivationStatistics] = [:]
        for group in groups where !group.isEmpty {
            let part = try CalibrationStatistics.collect(graph: graph, layers: group, calibration: calibration,
                                                         gram: method == .sparsegpt,
                                                         maxSamples: samples ?? context.calibrationSamples)
            guard part.summary.samples > 0 else {
                throw DiagnosticError(.error(graph.location, "nm-legalize: the calibration data held no whole batch for graph @\(graph.name); give at least \(graph.inputs.first.flatMap { graph.type(of: $0)?.shape.first } ?? 1) samples"))
            }
            context.sparsity.note("nm-legalize: \(method.rawValue) statistics from \(part.summary.samples) calibration samples (\(calibration.origin))\(sequential ? ", each layer on the model pruned up to it" : ", all on the dense model")")
            result.merge(part.layers) { first, _ in first }
        }
        return result
    }

    /// Whether the layer's weight shape can carry the pattern (any non-empty reduction: the layout pads
    /// it to a multiple of M).
    func canCarry(_ layer: PrunableLayer, _ pattern: NMPattern) -> Bool {
        pattern.problem == nil && layer.matrix.reduction > 0
    }

    /// Whether an [O, I] matrix already has at most N non-zeros in every group of M.
    func isNM(_ weights: [Double], _ matrix: NMMatrixShape, _ pattern: NMPattern) -> Bool {
        NMLegalize.firstViolation(weights, matrix, pattern) == nil
    }

    /// The first (row, group) with more than N non-zeros, or nil (a padded last group counts its real positions).
    public static func firstViolation(_ weights: [Double], _ matrix: NMMatrixShape, _ pattern: NMPattern) -> (row: Int, group: Int)? {
        let groups = NMPacking.groupsPerRow(matrix, pattern)
        for row in 0..<matrix.rows {
            for group in 0..<groups {
                let start = row * matrix.reduction + group * pattern.m
                var count = 0
                for slot in 0..<NMPacking.groupWidth(matrix, pattern, group: group) where weights[start + slot] != 0 { count += 1 }
                if count > pattern.n { return (row, group) }
            }
        }
        return nil
    }

    /// Prunes one [O, I] weight with a method; the result has at most N non-zeros per group.
    public static func prune(_ weights: [Double], layer: PrunableLayer, pattern: NMPattern, method: PruneMethod,
                             statistics: LayerActivationStatistics?) throws(DiagnosticError) -> [Double] {
        switch method {
        case .magnitude:
            return NMPruning.magnitude(weights, matrix: layer.matrix, pattern: pattern)
        case .wanda:
            guard let statistics else {
                throw DiagnosticError(.error(.unknown, "nm-legalize: no activation statistics for layer \(layer.name)"))
            }
            return NMPruning.wanda(weights, matrix: layer.matrix, pattern: pattern, columnNorms: statistics.columnNorms)
        case .sparsegpt:
            guard let gram = statistics?.gram else {
                throw DiagnosticError(.error(.unknown, "nm-legalize: no Gram matrix for layer \(layer.name)"))
            }
            return try NMPruning.sparseGPT(weights, matrix: layer.matrix, pattern: pattern, gram: gram)
        }
    }
}
