// The pipelines, as literal ordered lists with the reason for each ordering constraint.
// Passes needed for correctness stay apart from optional optimisations.

import SieveIR
import SieveTarget

/// Named pass lists used by the driver.
public enum Pipelines {
    /// Clean-up on its own (the compile pipeline spells the same three passes out twice).
    ///
    /// - canonicalize first: folding and identity removal create duplicates and dead ops;
    /// - cse before dce: merging duplicates leaves the losers dead;
    /// - dce last: removes everything the earlier two left unused.
    public static let cleanup: [any GraphPass] = [
        Canonicalize(),
        CommonSubexpressionElimination(),
        DeadCodeElimination(),
    ]

    /// The sparsity passes on their own (`sparsify`): the same two, in the same order, as in the compile pipeline.
    public static func sparsity(allocation: SparsityAllocation = SparsityAllocation(),
                                legalize: NMLegalize = NMLegalize()) -> [any GraphPass] {
        [allocation, legalize]
    }

    /// Whether a step of a pipeline is needed for the compiled model to be what was asked for, or is an optional
    /// optimisation: leaving out every `.optimisation` step still yields correct code, never a missing required pass.
    public enum Role: Hashable, Sendable {
        /// Needed: without it the artifact is not what the command line asked for.
        case required
        /// An exact rewrite that makes the code faster or smaller and may be left out.
        case optimisation
    }

    /// One entry of a pipeline: a pass and its role.
    public struct Step: Sendable {
        /// Needed or optional.
        public var role: Role
        /// The pass.
        public var pass: any GraphPass

        /// A pass the pipeline needs.
        public static func required(_ pass: any GraphPass) -> Step { Step(role: .required, pass: pass) }
        /// A pass the pipeline may leave out.
        public static func optimisation(_ pass: any GraphPass) -> Step { Step(role: .optimisation, pass: pass) }
    }

    /// The sparsity passes of a compile, as the sparsity options configure them.
    public struct SparsityPasses: Sendable {
        /// Writes the per-layer `{sparsity}` requests.
        public var allocation: SparsityAllocation
        /// Carries them out.
        public var legalize: NMLegalize

        /// Makes the pair.
        public init(allocation: SparsityAllocation = SparsityAllocation(), legalize: NMLegalize = NMLegalize()) {
            self.allocation = allocation
            self.legalize = legalize
        }
    }

    /// The graph passes of `sieve compile` (and of `sieve run` and `sieve bench`), in order, run by one pass manager;
    /// `sparsity` nil leaves its two passes out. Lowering and the backend follow.
    ///
    /// - fuse-qdq before everything: canonicalize would fold the dequantized int8 weights of a QDQ model into f32
    ///   constants, and the products must be found while they still read `dequantize` ops. With `--sparsity N:M` it
    ///   stores int8 weights that already follow the pattern as nm (the sparsity passes prune f32 weights only).
    /// - canonicalize, cse, dce first: import leaves foldable shape arithmetic, identities and duplicated constants;
    ///   canonicalize creates duplicates and dead ops, cse leaves the losers dead, dce removes them.
    /// - transpose-weights before the sparsity passes: N:M groups run along the last axis of a `[N, K]` weight
    ///   (nm-legalize prunes weights stored that way); after the cleanup, so that folded weights are final.
    /// - sparsity-allocation after cleanup (MatMul+Add is already Gemm, folded weights final) and before
    ///   quantization (pruning works on float weights); it writes the `{sparsity}` requests nm-legalize carries out.
    /// - nm-legalize right after it: it consumes the requests and leaves exact nm weights.
    /// - fuse after the sparsity passes: they find layers as plain matmul/gemm/conv ops.
    /// - canonicalize, cse, dce again after fuse: fusion leaves dead ops, and folding may merge duplicated constants.
    /// - quantize (when asked) after nm-legalize, since the kept values of an N:M weight are what gets quantized, and
    ///   after fuse and the cleanup, so that it turns each product with its whole epilogue into one dynamic int8
    ///   fused_matmul (it also takes unfused matmul and gemm, so leaving fuse out still quantizes); before schedule,
    ///   which chooses the integer kernels for the quantized weights.
    /// - schedule last, right before plan-memory and lowering (which read what it decides): after fuse, since the
    ///   fused op is the one whose kernel runs and its epilogue is part of that kernel; after the cleanup and the
    ///   sparsity passes, since it reads final shapes and weight layouts (an nm weight needs an nm_ variant) and the
    ///   verifier rejects a schedule that no longer suits its op; nothing after it may rebuild a matrix product,
    ///   because passes that rebuild an op drop its schedule. Schedules an op carries already (written into a
    ///   `.sir` model) are kept where they fit the target.
    ///
    /// Required: fuse-qdq (an int8 model is compiled as int8, without f32 copies of its weights), transpose-weights (the sparsity passes need `[N, K]` weights), the sparsity passes and quantize when
    /// asked for, and schedule (the kernel choice lowering follows and the report lists). The rest are exact optimisations.
    public static func compileSteps(target: TargetDescription, sparsity: SparsityPasses?, quantize: Quantize? = nil) -> [Step] {
        var keepNM: NMPattern?
        if case let .uniform(pattern)? = sparsity?.allocation.mode { keepNM = pattern }
        var steps: [Step] = [
            .required(FuseQDQ(keepNM: keepNM)),
            .optimisation(Canonicalize()),
            .optimisation(CommonSubexpressionElimination()),
            .optimisation(DeadCodeElimination()),
            .required(TransposeWeights()),
        ]
        if let sparsity {
            steps += [
                .required(sparsity.allocation),
                .required(sparsity.legalize),
            ]
        }
        steps += [
            .optimisation(Fuse()),
            .optimisation(Canonicalize()),
            .optimisation(CommonSubexpressionElimination()),
            .optimisation(DeadCodeElimination()),
        ]
        if let quantize { steps.append(.required(quantize)) }
        steps.append(.required(Schedule(target: target, keepExisting: true)))
        return steps
    }

    /// The passes of `compileSteps`, in order.
    public static func compile(target: TargetDescription, sparsity: SparsityPasses?, quantize: Quantize? = nil) -> [any GraphPass] {
        compileSteps(target: target, sparsity: sparsity, quantize: quantize).map(\.pass)
    }
}
