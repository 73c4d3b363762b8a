// What sparsity-allocation decided and nm-legalize did for each layer, carried in the pass context
// so that the driver can write the sparsity report; also the option parsing both passes share.

import SieveIR

/// One layer's sparsity history through the passes.
public struct LayerSparsityRecord: Hashable, Sendable {
    /// The weight's name.
    public var name: String
    /// The op (mnemonic) that reads the weight.
    public var op: String
    /// The weight's shape as stored before the passes.
    public var shape: [Int]
    /// The weight as a matrix.
    public var rows: Int, reduction: Int
    /// The pattern chosen, or nil for dense.
    public var pattern: NMPattern?
    /// Why: "uniform 2:4", "auto: ...", or why the layer stays dense.
    public var reason: String
    /// Relative model output error on calibration with this layer alone pruned, by candidate pattern.
    public var sensitivity: [String: Double] = [:]
    /// The share of the layer's weights that are outliers by OWL's rule (`allocate=owl` only).
    public var outlierRatio: Double?
    /// The method nm-legalize used, nil while not legalised or when the weight was already N:M.
    public var method: PruneMethod?
    /// Whether the weight already satisfied the pattern (kept losslessly).
    public var alreadyNM = false
    /// Sum of |w| over kept entries divided by sum of |w|, original weights.
    public var keptMagnitudeShare: Double?
    /// Whether nm-legalize turned the weight into an nm constant.
    public var legalized = false

    /// Makes a record.
    public init(name: String, op: String, shape: [Int], rows: Int, reduction: Int, pattern: NMPattern?, reason: String) {
        self.name = name
        self.op = op
        self.shape = shape
        self.rows = rows
        self.reduction = reduction
        self.pattern = pattern
        self.reason = reason
    }
}

/// How nm-legalize's channel permutations reordered one layer's weight, so that it can be compared
/// with the original weight: stored entry (k, j) is original entry (output[k], input[j]).
public struct ChannelOrder: Hashable, Sendable {
    /// Input channels: stored channel k is original channel `input[k]` (for a convolution a channel
    /// owns kH·kW columns); nil when unchanged.
    public var input: [Int]?
    /// Output channels (weight rows), moved by the fold of a consumer's permutation; nil when unchanged.
    public var output: [Int]?

    /// Makes an order; nil means unchanged.
    public init(input: [Int]? = nil, output: [Int]? = nil) {
        self.input = input
        self.output = output
    }

    /// `first` followed by `then`: channel k after both is channel `first[then[k]]` before them.
    static func compose(_ first: [Int]?, _ then: [Int]) -> [Int] {
        guard let first else { return then }
        return then.map { first[$0] }
    }
}

/// One point of the error/density (and, with `target-speedup`, speed) curve auto allocation walks: the allocation
/// after `step` greedy moves, or the `step`th distinct allocation OWL gives as the model sparsity grows.
public struct AllocationPoint: Codable, Hashable, Sendable {
    /// Steps from the dense model (0 is dense).
    public var step: Int
    /// The cost model's end-to-end speed-up over the dense model (`target-speedup` only).
    public var estimatedSpeedup: Double?
    /// Kept weights over all prunable weights.
    public var density: Double
    /// The sum of the moved layers' sensitivities (nil when ranked by outliers: no sensitivity is measured).
    public var estimatedError: Double?
    /// The relative model output error on calibration with the whole allocation pruned, where it was measured.
    public var measuredError: Double?
    /// Whether this is the allocation chosen.
    public var chosen: Bool

    /// Makes a point.
    public init(step: Int, estimatedSpeedup: Double?, density: Double, estimatedError: Double?, measuredError: Double?, chosen: Bool) {
        self.step = step
        self.estimatedSpeedup = estimatedSpeedup
        self.density = density
        self.estimatedError = estimatedError
        self.measuredError = measuredError
        self.chosen = chosen
    }
}

/// The sparsity passes' record of every layer they looked at, in the order they first saw them.
public struct SparsityLog: Hashable, Sendable {
    /// Records in first-seen order.
    public var records: [LayerSparsityRecord] = []
    /// Remarks that apply to the whole model (calibration used, budgets not met, ...).
    public var notes: [String] = []
    /// Layers whose weight channels nm-legalize permuted, by weight name (with `permute=true`).
    public var channelOrders: [String: ChannelOrder] = [:]
    /// The curve auto allocation walked, from all dense, with the chosen point marked (empty in uniform mode).
    public var curve: [AllocationPoint] = []

    /// Makes an empty log.
    public init() {}

    /// Notes that `layer`'s input channels were permuted by `permutation`, folded into `producer`'s output channels.
    public mutating func permuted(_ layer: String, by permutation: [Int], foldedInto producer: String) {
        channelOrders[layer, default: ChannelOrder()].input = ChannelOrder.compose(channelOrders[layer]?.input, permutation)
        channelOrders[producer, default: ChannelOrder()].output = ChannelOrder.compose(channelOrders[producer]?.output, permutation)
    }

    /// The record of a layer, created from `make` the first time.
    public mutating func update(_ name: String, make: () -> LayerSparsityRecord, _ change: (inout LayerSparsityRecord) -> Void) {
        if let index = records.firstIndex(where: { $0.name == name }) {
            change(&records[index])
        } else {
            var record = make()
            change(&record)
            records.append(record)
        }
    }

    /// Adds a note once.
    public mutating func note(_ text: String) {
        if !notes.contains(text) { notes.append(text) }
    }
}

extension PrunableLayer {
    /// A fresh log record for this layer.
    func record(in graph: Graph, pattern: NMPattern?, reason: String) -> LayerSparsityRecord {
        LayerSparsityRecord(name: name, op: graph.operations[opIndex].kind.mnemonic, shape: weightType.shape,
                            rows: matrix.rows, reduction: matrix.reduction, pattern: pattern, reason: reason)
    }
}

/// Reads `key=value` pass options with clear errors.
struct PassOptionReader {
    let pass: String
    let known: [(key: String, meaning: String)]

    func error(_ message: String) -> DiagnosticError {
        let keys = known.map { "\($0.key) (\($0.meaning))" }.joined(separator: "; ")
        return DiagnosticError(.error(.unknown, "\(pass): \(message); options: \(keys)"))
    }

    func check(_ options: [(key: String, value: String)]) throws(DiagnosticError) {
        for option in options where !known.contains(where: { $0.key == option.key }) {
            throw error("unknown option '\(option.key)'")
        }
    }

    func pattern(_ value: String) throws(DiagnosticError) -> NMPattern {
        guard let pattern = NMPattern(value) else { throw error("'\(value)' is not a pattern N:M such as 2:4") }
        if let problem = pattern.problem { throw error(problem) }
        return pattern
    }

    func method(_ value: String) throws(DiagnosticError) -> PruneMethod {
        guard let method = PruneMethod(rawValue: value) else {
            throw error("unknown pruning method '\(value)', expected magnitude, wanda or sparsegpt")
        }
        return method
    }

    func number(_ key: String, _ value: String, in range: ClosedRange<Double>) throws(DiagnosticError) -> Double {
        guard let number = Double(value), range.contains(number) else {
            throw error("\(key) must be a number in \(range.lowerBound)...\(range.upperBound), found '\(value)'")
        }
        return number
    }

    func count(_ key: String, _ value: String) throws(DiagnosticError) -> Int {
        guard let number = Int(value), number >= 0 else { throw error("\(key) must be a non-negative integer, found '\(value)'") }
        return number
    }
}

/// Whether `text` matches a shell-style glob (`*` any run, `?` one character).
public func globMatches(_ pattern: String, _ text: String) -> Bool {
    let p = Array(pattern), t = Array(text)
    var pi = 0, ti = 0
    var star = -1, mark = 0
    while ti < t.count {
        if pi < p.count, p[pi] == "?" || p[pi] == t[ti] {
            pi += 1; ti += 1
        } else if pi < p.count, p[pi] == "*" {
            star = pi; mark = ti; pi += 1
        } else if star >= 0 {
            pi = star + 1; mark += 1; ti = mark
        } else {
            return false
        }
    }
    while pi < p.count, p[pi] == "*" { pi += 1 }
    return pi == p.count
}
