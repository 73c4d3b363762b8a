// Outlier-weighted allocation in the style of OWL (Yin et al., "Outlier Weighed Layerwise Sparsity", 2023):
// a layer with a larger share of outlier weights (Wanda scores |w_ij|·||x_j|| above `threshold` times the
// layer's mean score) is pruned less. OWL gives every layer a sparsity in [S − spread, S + spread], falling
// linearly with its outlier share, whose mean over the prunable weights is the model's S; here each layer then
// takes the candidate pattern (or dense) nearest its sparsity, since N:M patterns come in steps (0, 1/2, 3/4).
// Sweeping S from 0 to 1 gives the allocations auto mode chooses among (`allocate=owl`).

/// OWL's two parameters and the arithmetic of its allocation.
public struct OutlierAllocation: Hashable, Sendable {
    /// A weight is an outlier when its score exceeds this multiple of its layer's mean score (OWL's M).
    public var threshold: Double
    /// How far a layer's sparsity may lie from the model's, either way (OWL's λ).
    public var spread: Double

    /// OWL's M = 5; a spread of 0.2, wider than OWL's 0.08 because N:M sparsities lie 1/4 or 1/2 apart and a
    /// narrower spread rarely moves a layer off the uniform pattern.
    public static let `default` = OutlierAllocation(threshold: 5, spread: 0.2)

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

    /// Each layer's sparsity for a model sparsity `sparsity`: S + spread at the fewest outliers, S − spread at
    /// the most, linear between, shifted so that the mean weighted by `weights` is S, then clamped to 0...1.
    public func sparsities(ratios: [Double], weights: [Int], sparsity: Double) -> [Double] {
        guard let low = ratios.min(), let high = ratios.max(), high > low else { return ratios.map { _ in sparsity } }
        let raw = ratios.map { sparsity + spread * (1 - 2 * ($0 - low) / (high - low)) }
        let total = Double(weights.reduce(0, +))
        let mean = total > 0 ? zip(raw, weights).reduce(0) { $0 + $1.0 * Double($1.1) } / total : sparsity
        return raw.map { min(1, max(0, $0 + sparsity - mean)) }
    }

    /// The distinct allocations as the model sparsity S goes from 0 to 1 in steps of 1/100: per layer the index
    /// into its `choices` (sparsities, the first being dense at 0) nearest its OWL sparsity, ties to `preferred`'s
    /// order (lower first). Starts with all dense.
    static func path(ratios: [Double], weights: [Int], choices: [[Double]], preferred: [[Double]],
                     parameters: OutlierAllocation) -> [[Int]] {
        var path: [[Int]] = [choices.map { _ in 0 }]
        for step in 0...100 {
            let targets = parameters.sparsities(ratios: ratios, weights: weights, sparsity: Double(step) / 100)
            let choice = choices.indices.map { layer in
                choices[layer].indices.min { a, b in
                    let da = abs(choices[layer][a] - targets[layer]), db = abs(choices[layer][b] - targets[layer])
                    return abs(da - db) > 1e-12 ? da < db : preferred[layer][a] < preferred[layer][b]
                } ?? 0
            }
            if choice != path.last { path.append(choice) }
        }
        return path
    }
}
