// Outlier-weighted allocation in the style of OWL (Yin et al., "Outlier Weighed Layerwise Sparsity", 2023):
// a layer with a larger share of outlier weights (Wanda scores |w_ij|·||x_j|| above `threshold` times the
// layer's mean score) is pruned less. OWL gives every layer a sparsity in [S − spread, S + spread], falling
// linearly with its outlier share, whose mean over the prunable weights is the model's S; here each layer then
// takes the candidate pattern (or dense) nearest its sparsity, since N:M patterns come in steps (0, 1/2, 3/4).
// As S grows the layers move to sparser patterns one at a time; those allocations are the ones auto mode chooses
// among (`allocate=owl`).

/// OWL's two parameters and the arithmetic of its allocation.
public struct OutlierAllocation: Hashable, Sendable {
    /// A weight is an outlier when its score exceeds this multiple of its layer's mean score (OWL's M).
    public var threshold: Double
    /// How far a layer's sparsity may lie from the model's, either way (OWL's λ).
    public var spread: Double

    /// OWL's M = 5 and a spread of 0.1 (OWL's λ is 0.08). With patterns at sparsities 0, 1/2 and 3/4 (midpoints 3/8
    /// apart) any spread below 3/16 takes every layer to 1/2 before any to 3/4, the outliers ordering the layers
    /// within each step; a wider one lets the layers with fewest outliers reach 3/4 while those with most are still
    /// dense, which measured worse on paraphrase-MiniLM-L3-v2 (docs/sparsity.md).
    public static let `default` = OutlierAllocation(threshold: 5, spread: 0.1)

    /// Makes the parameters.
    public init(threshold: Double, spread: Double) {
        self.threshold = threshold
        self.spread = spread
    }

    /// The share of `scores` above `threshold` times their mean (0 when all are zero).
    public func outlierRatio(_ scores: [Double]) -> Double {
        guard !scores.isEmpty else { return 0 }
        let mean = scores.reduce(0, +) / Double(scores.count)
        guard mean > 0 else { return 0 }
        let limit = threshold * mean
        return Double(scores.reduce(0) { $0 + ($1 > limit ? 1 : 0) }) / Double(scores.count)
    }

    /// Each layer's sparsity for a model sparsity `sparsity`: S + spread at the fewest outliers, S − spread at the
    /// most, linear between, shifted so that the mean weighted by `weights` is S, then clamped to 0...1.
    public func sparsities(ratios: [Double], weights: [Int], sparsity: Double) -> [Double] {
        offsets(ratios: ratios, weights: weights).map { min(1, max(0, sparsity + $0)) }
    }

    /// How far each layer's sparsity lies from the model's before clamping: from +spread at the fewest outliers to
    /// −spread at the most, shifted to a weighted mean of 0.
    func offsets(ratios: [Double], weights: [Int]) -> [Double] {
        guard let low = ratios.min(), let high = ratios.max(), high > low else { return ratios.map { _ in 0 } }
        let raw = ratios.map { spread * (1 - 2 * ($0 - low) / (high - low)) }
        let total = Double(weights.reduce(0, +))
        let mean = total > 0 ? zip(raw, weights).reduce(0) { $0 + $1.0 * Double($1.1) } / total : 0
        return raw.map { $0 - mean }
    }

    /// The allocations as the model sparsity S grows from 0, one layer moving one step at a time: each layer holds
    /// the option (index into its `choices`, sparsities with dense at 0 first) nearest its OWL sparsity S + offset,
    /// so it moves from one sparsity to the next where S + offset passes their midpoint; the moves of all layers in
    /// the order of those S (ties: layer order). Among options of one sparsity the lowest `preferred` is taken.
    /// Starts with all dense and ends with every layer at its sparsest option.
    public static func path(ratios: [Double], weights: [Int], choices: [[Double]], preferred: [[Double]],
                            parameters: OutlierAllocation) -> [[Int]] {
        let offsets = parameters.offsets(ratios: ratios, weights: weights)
        // Per layer its distinct sparsities, ascending, each with its preferred option.
        let levels: [[(sparsity: Double, option: Int)]] = choices.indices.map { layer in
            var best: [Double: Int] = [:]
            for (option, sparsity) in choices[layer].enumerated()
            where best[sparsity].map({ preferred[layer][option] < preferred[layer][$0] }) ?? true {
                best[sparsity] = option
            }
            return best.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
        var moves: [(at: Double, layer: Int, level: Int)] = []
        for (layer, steps) in levels.enumerated() {
            for level in steps.indices.dropFirst() {
                moves.append(((steps[level - 1].sparsity + steps[level].sparsity) / 2 - offsets[layer], layer, level))
            }
        }
        moves.sort { $0.at != $1.at ? $0.at < $1.at : $0.layer != $1.layer ? $0.layer < $1.layer : $0.level < $1.level }
        var choice = levels.map { $0.first?.option ?? 0 }
        var path = [choice]
        for move in moves {
            choice[move.layer] = levels[move.layer][move.level].option
            path.append(choice)
        }
        return path
    }
}
