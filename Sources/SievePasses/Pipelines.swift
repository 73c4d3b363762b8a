// The pipelines, as literal ordered lists with the reason for each ordering constraint.
// Passes needed for correctness stay apart from optional optimisations.

import SieveIR

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
}
