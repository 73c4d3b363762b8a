// nm-legalize: turns every weight that is to be N:M into an exact nm<N:M> constant, keeping an
// already-N:M weight losslessly and pruning the others by magnitude, Wanda or SparseGPT.
//
// Which weights: those whose const op carries `{sparsity = "N:M"}` (written by sparsity-allocation
// or by hand), and, with the option `pattern=N:M`, every other dense float weight of a prunable layer
// (matmul/fused_matmul/gemm with a rank-2 constant B, conv2d) whose shape can carry the pattern.
// Options: `nm-legalize{prune=magnitude|wanda|sparsegpt,pattern=2:4,samples=N}`. Wanda and SparseGPT
// read activation statistics of the dense model from the pass context's calibration set.

import SieveIR
import SieveInterpreter

/// Legalises requested weights into nm layouts.
public struct NMLegalize: ConfigurablePass {
    public let name = "nm-legalize"
    /// How weights that break the pattern are pruned.
    public var method: PruneMethod
    /// When set, every prunable dense weight without a request that can carry this pattern is legalised too.
    public var pattern: NMPattern?
    /// Use at most this many calibration samples for statistics (nil: the context's limit, or all).
    public var samples: Int?

    /// At most this many bytes of Gram matrices are gathered in one calibration pass (1 GiB).
    public static let gramBudgetBytes = 1 << 30

    /// Makes the pass; by default it prunes by magnitude and only legalises requested weights.
    public init(method: PruneMethod = .magnitude, pattern: NMPattern? = nil, samples: Int? = nil) {
        self.method = method
        self.pattern = pattern
        self.samples = samples
    }

    public var optionHelp: [(key: String, meaning: String)] {
        [("prune", "magnitude, wanda or sparsegpt"), ("pattern", "N:M for every prunable weight without a request"),
         ("samples", "calibration samples to use at most")]
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
            default: break
            }
        }
        return pass
    }

    public func run(on graph: inout Graph, context: inout PassContext) throws {
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

        var statistics: CalibrationStatistics?
        if method.needsCalibration && !needStatistics.isEmpty {
            guard let calibration = context.calibration else {
                throw DiagnosticError(.error(graph.location, "nm-legalize: --prune \(method.rawValue) needs calibration data (activation statistics); give --calibration PATH or use --prune magnitude"))
            }
            // Gram matrices take I*I Doubles per layer: gather them a group of layers at a time, one
            // calibration pass per group, so that at most about `gramBudgetBytes` are held at once.
            var batches: [[PrunableLayer]] = [[]]
            var held = 0
            for layer in needStatistics {
                let bytes = method == .sparsegpt ? layer.matrix.reduction * layer.matrix.reduction * 8 * layer.groups : 0
                if held + bytes > NMLegalize.gramBudgetBytes, !(batches.last?.isEmpty ?? true) {
                    batches.append([])
                    held = 0
                }
                batches[batches.count - 1].append(layer)
                held += bytes
            }
            for group in batches {
                let part = try CalibrationStatistics.collect(graph: graph, layers: group, calibration: calibration,
                                                             gram: method == .sparsegpt,
                                                             maxSamples: samples ?? context.calibrationSamples)
                if var merged = statistics {
                    merged.layers.merge(part.layers) { first, _ in first }
                    statistics = merged
                } else {
                    statistics = part
                }
            }
            if let summary = statistics?.summary {
                context.sparsity.note("nm-legalize: \(method.rawValue) statistics from \(summary.samples) calibration samples (\(calibration.origin))")
                guard summary.samples > 0 else {
                    throw DiagnosticError(.error(graph.location, "nm-legalize: the calibration data held no whole batch for graph @\(graph.name); give at least \(graph.inputs.first.flatMap { graph.type(of: $0)?.shape.first } ?? 1) samples"))
                }
            }
        }

        for target in targets {
            let layer = target.layer
            guard let original = weights[layer.name] else { continue }
            let already = isNM(original, layer.matrix, target.pattern)
            var pruned = original
            if !already {
                pruned = try NMLegalize.prune(original, layer: layer, pattern: target.pattern, method: method,
                                              statistics: statistics?.layers[layer.name])
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
            }
        }
    }

    /// Whether the layer's weight shape can carry the pattern.
    func canCarry(_ layer: PrunableLayer, _ pattern: NMPattern) -> Bool {
        pattern.problem == nil && layer.matrix.reduction % pattern.m == 0 && layer.matrix.reduction > 0
    }

    /// Whether an [O, I] matrix already has at most N non-zeros in every group of M.
    func isNM(_ weights: [Double], _ matrix: NMMatrixShape, _ pattern: NMPattern) -> Bool {
        NMLegalize.firstViolation(weights, matrix, pattern) == nil
    }

    /// The first (row, group) with more than N non-zeros, or nil.
    public static func firstViolation(_ weights: [Double], _ matrix: NMMatrixShape, _ pattern: NMPattern) -> (row: Int, group: Int)? {
        let groups = matrix.reduction / pattern.m
        for row in 0..<matrix.rows {
            for group in 0..<groups {
                let start = row * matrix.reduction + group * pattern.m
                var count = 0
                for slot in 0..<pattern.m where weights[start + slot] != 0 { count += 1 }
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
