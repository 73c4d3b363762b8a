// The sparsity options shared by `sieve compile`, `run`, `bench`, `opt -p 'sparsity-allocation{...}'`
// and the driver: one value type, one set of defaults (docs/sparsity.md) and one parser of `N:M|auto`.

import SieveIR
import SieveTarget

/// What to sparsify and how, with the defaults every entry point uses.
public struct SparsityOptions: Sendable {
    /// The pattern of uniform sparsity when none is named: 2:4.
    public static let defaultPattern = NMPattern(n: 2, m: 4)
    /// Layers with fewer weights than this stay dense unless told otherwise. 4096 keeps both 64×64
    /// hidden layers of the example MLP prunable and leaves its 64×10 output layer dense.
    public static let defaultMinWeights = 4096
    /// Calibration samples used to measure each layer's sensitivity in auto mode.
    public static let defaultSensitivitySamples = 128
    /// The patterns auto mode chooses among, besides dense.
    public static let defaultCandidates = [NMPattern(n: 4, m: 8), NMPattern(n: 2, m: 4), NMPattern(n: 1, m: 4)]

    /// How patterns are chosen: `2:4` (uniform) or auto with an error or density budget.
    public var sparsity: SparsityAllocation.Mode
    /// How weights that are not already N:M are pruned.
    public var prune: PruneMethod
    /// Globs of layers (weight, result or ONNX node names) to keep dense.
    public var keepDense: [String]
    /// Layers with fewer weights stay dense.
    public var minWeights: Int
    /// Calibration samples used for activation statistics and the report's error figures (nil: all).
    public var calibrationSamples: Int?
    /// Calibration samples used to measure each layer's sensitivity in auto mode.
    public var sensitivitySamples: Int
    /// Verification and IR dumps around the two passes.
    public var passManager: PassManagerOptions
    /// Search an input-channel permutation per layer and fold it into the layer's producer where legal.
    public var permute = false
    /// The CPU `--target-speedup` estimates times for (nil: the host; a compile sets its own target).
    public var target: TargetDescription?
    /// How auto mode ranks layers: by measured sensitivity, or by outliers as OWL (`--allocate owl`).
    public var ranking: SparsityAllocation.Ranking = .sensitivity

    /// Makes options; the defaults are uniform 2:4 by magnitude on layers of at least
    /// `defaultMinWeights` weights.
    public init(sparsity: SparsityAllocation.Mode = .uniform(SparsityOptions.defaultPattern), prune: PruneMethod = .magnitude,
                keepDense: [String] = [], minWeights: Int = SparsityOptions.defaultMinWeights, calibrationSamples: Int? = nil,
                sensitivitySamples: Int = SparsityOptions.defaultSensitivitySamples,
                passManager: PassManagerOptions = PassManagerOptions()) {
        self.sparsity = sparsity
        self.prune = prune
        self.keepDense = keepDense
        self.minWeights = minWeights
        self.calibrationSamples = calibrationSamples
        self.sensitivitySamples = sensitivitySamples
        self.passManager = passManager
    }

    /// The sparsity-allocation pass these options ask for.
    public var allocation: SparsityAllocation {
        var pass = SparsityAllocation(mode: sparsity, keepDense: keepDense, minWeights: minWeights, method: prune,
                                      samples: sensitivitySamples)
        pass.target = target
        pass.ranking = ranking
        return pass
    }

    /// How the options are spelled where they were given, so that diagnostics quote them as the user wrote them.
    public struct Spelling: Sendable {
        /// The option naming the pattern: `--sparsity` or `sparsity`.
        public var sparsity: String
        /// The error budget option: `--max-error` or `max-error`.
        public var maxError: String
        /// The density budget option: `--target-density` or `target-density`.
        public var targetDensity: String
        /// The speed budget option: `--target-speedup` or `target-speedup`.
        public var targetSpeedup: String
        /// What stands between an option and its value: a space or `=`.
        public var separator: String
        /// The option naming the ranking and its two OWL parameters: `--allocate`, `--owl-threshold`, `--owl-spread`.
        public var allocate = "--allocate", owlThreshold = "--owl-threshold", owlSpread = "--owl-spread"

        /// The command line: `--sparsity auto --max-error E`.
        public static let commandLine = Spelling(sparsity: "--sparsity", maxError: "--max-error",
                                                 targetDensity: "--target-density", targetSpeedup: "--target-speedup", separator: " ")
        /// Pass options: `sparsity-allocation{sparsity=auto,max-error=E}`.
        public static let passOption = Spelling(sparsity: "sparsity", maxError: "max-error",
                                                targetDensity: "target-density", targetSpeedup: "target-speedup", separator: "=",
                                                allocate: "allocate", owlThreshold: "owl-threshold", owlSpread: "owl-spread")
    }

    /// Parses the ranking: nil or `sensitivity`, or `owl` with its optional threshold and spread (OWL's M and λ;
    /// the defaults are `OutlierAllocation.default`'s), which go with `owl` only.
    public static func ranking(_ text: String?, threshold: Double?, spread: Double?,
                               spelling: Spelling = .commandLine) throws(DiagnosticError) -> SparsityAllocation.Ranking {
        let s = spelling
        switch text ?? "sensitivity" {
        case "sensitivity":
            guard threshold == nil, spread == nil else {
                throw DiagnosticError(.error(.unknown, "\(s.owlThreshold) and \(s.owlSpread) go with \(s.allocate)\(s.separator)owl"))
            }
            return .sensitivity
        case "owl":
            var parameters = OutlierAllocation.default
            if let threshold {
                guard threshold.isFinite, threshold > 0 else {
                    throw DiagnosticError(.error(.unknown, "\(s.owlThreshold) is a multiple of a layer's mean score, above 0, found \(threshold)"))
                }
                parameters.threshold = threshold
            }
            if let spread {
                guard (0...1).contains(spread) else {
                    throw DiagnosticError(.error(.unknown, "\(s.owlSpread) is a sparsity difference in 0...1, found \(spread)"))
                }
                parameters.spread = spread
            }
            return .outliers(parameters)
        case let other:
            throw DiagnosticError(.error(.unknown, "\(s.allocate) must be sensitivity or owl, found '\(other)'"))
        }
    }

    /// Parses `N:M` or `auto`; `auto` takes exactly one of `maxError`, `targetDensity` and `targetSpeedup`, a
    /// pattern none. Errors carry no location and quote the options as `spelling` writes them.
    public static func mode(_ text: String, maxError: Double?, targetDensity: Double?, targetSpeedup: Double? = nil,
                            spelling: Spelling = .commandLine) throws(DiagnosticError) -> SparsityAllocation.Mode {
        func fail(_ message: String) -> DiagnosticError { DiagnosticError(.error(.unknown, message)) }
        let s = spelling
        let budgets = [maxError.map { _ in s.maxError }, targetDensity.map { _ in s.targetDensity },
                       targetSpeedup.map { _ in s.targetSpeedup }].compactMap { $0 }
        if text == "auto" {
            guard budgets.count <= 1 else { throw fail("give one of \(budgets.joined(separator: ", ")), not several") }
            if let error = maxError { return .maxError(error) }
            if let density = targetDensity {
                guard (0...1).contains(density) else { throw fail("\(s.targetDensity) must lie in 0...1, found \(density)") }
                return .targetDensity(density)
            }
            if let speedup = targetSpeedup {
                guard speedup.isFinite, speedup >= 1 else {
                    throw fail("\(s.targetSpeedup) is a speed-up over the dense model, at least 1, found \(speedup)")
                }
                return .targetSpeedup(speedup)
            }
            throw fail("\(s.sparsity)\(s.separator)auto needs \(s.maxError)\(s.separator)E, \(s.targetDensity)\(s.separator)D or \(s.targetSpeedup)\(s.separator)X")
        }
        guard let pattern = NMPattern(text) else {
            throw fail("\(s.sparsity) must be N:M (such as 2:4) or auto, found '\(text)'")
        }
        if let problem = pattern.problem { throw fail("\(s.sparsity) \(text): \(problem)") }
        guard budgets.isEmpty else {
            throw fail("\(budgets.joined(separator: ", ")) \(budgets.count == 1 ? "goes" : "go") with \(s.sparsity)\(s.separator)auto, not a fixed pattern")
        }
        return .uniform(pattern)
    }
}
