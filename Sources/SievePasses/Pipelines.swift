// The pipelines, as literal ordered lists with the reason for each ordering constraint.
// Passes needed for correctness stay apart from optional optimisations.

import SieveIR
import SieveTarget

/// Named pass lists used by the driver.
public enum Pipelines {
    /// Clean-up run after import and between stages.
    ///
    /// - canonicalize first: folding and identity removal create duplicates and dead ops;
    /// - cse before dce: merging duplicates leaves the losers dead;
    /// - dce last: removes everything the earlier two left unused.
    public static let cleanup: [any GraphPass] = [
        Canonicalize(),
        CommonSubexpressionElimination(),
        DeadCodeElimination(),
    ]

    /// N:M sparsity, after cleanup (so that folded weights are final and MatMul+Add is Gemm) and
    /// before quantization (pruning works on float weights).
    ///
    /// - sparsity-allocation first: it writes the `{sparsity}` requests nm-legalize carries out;
    /// - nm-legalize second: it consumes the requests and leaves exact nm weights.
    public static func sparsity(allocation: SparsityAllocation = SparsityAllocation(),
                                legalize: NMLegalize = NMLegalize()) -> [any GraphPass] {
        [allocation, legalize]
    }

    /// Code-generation preparation: the last graph passes, after fuse and the final cleanup, right before
    /// plan-memory and lowering (which read what they decide).
    ///
    /// - schedule after fuse: the fused op is the one whose kernel runs, and its epilogue is part of that kernel;
    /// - schedule after cleanup and after sparsity: it reads final shapes and weight layouts (an nm weight needs an
    ///   nm_ variant), and the verifier rejects a schedule that no longer suits its op;
    /// - nothing after schedule rewrites matrix products: passes that rebuild an op drop its schedule.
    /// Schedules an op carries already (written into a `.sir` model) are kept where they fit the target.
    public static func codegen(target: TargetDescription) -> [any GraphPass] {
        [Schedule(target: target, keepExisting: true)]
    }
}
