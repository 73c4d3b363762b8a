// Rule 12 of the verifier, the schedule rule, as the target layer states it: the parameter ranges of each
// kernel variant, a schedule's own consistency, and whether its variant suits the op it sits on.

import SieveIR

extension KernelVariant {
    /// Why the parameters are out of range, or nil. Limits: register tiles of at most 32 accumulators,
    /// blocks and tiles positive (a prefetch distance may be 0: none) and at most 1 << 20.
    public var parameterProblem: String? {
        for (name, value) in fields {
            let least = name == "prefetch" ? 0 : 1
            if value < least || value > 1 << 20 {
                return "\(self.name) parameter \(name) must be between \(least) and \(1 << 20), found \(value)"
            }
        }
        switch self {
        case let .denseTile(rows, vectors) where rows * vectors > 32:
            return "dense_tile needs rows * vectors <= 32 accumulators, found \(rows) * \(vectors)"
        case let .denseDot(weightRows) where weightRows > 16:
            return "dense_dot needs weight_rows <= 16, found \(weightRows)"
        case let .densePanels(schedule) where schedule.rowBlock % schedule.rowTile != 0:
            return "\(name) needs row_block to be a multiple of row_tile, found \(schedule.rowBlock) and \(schedule.rowTile)"
        case let .nmBlocked(_, _, prefetchRows) where prefetchRows > 64:
            return "nm_blocked needs prefetch_rows <= 64, found \(prefetchRows)"
        default:
            return nil
        }
    }
}

extension KernelSchedule {
    /// Why the schedule is malformed on its own (independent of the op), or nil.
    public var problem: String? {
        if let problem = variant.parameterProblem { return problem }
        if parallel != .none && parallel != variant.parallelAxis {
            return "\(variant.name) splits \(variant.parallelAxis.rawValue) across threads, not \(parallel.rawValue); use parallel = \(variant.parallelAxis.rawValue) or none"
        }
        if case .densePanels = variant {
            if packing != .panels { return "\(variant.name) reads a weight packed in panels; use packing = panels" }
        } else if packing == .panels {
            return "packing = panels serves only dense_panel_stream and dense_panel_tile, not \(variant.name)"
        }
        if (variant == .int8Tile) != (packing == .int8Panels) {
            return variant == .int8Tile ? "int8_tile reads a weight packed in int8 panels; use packing = int8_panels"
                                        : "packing = int8_panels serves only int8_tile, not \(variant.name)"
        }
        if packing.isRowBlocks && variant != .nmDot {
            return "packing = \(packing.rawValue) serves only nm_dot, not \(variant.name)"
        }
        if let estimate {
            if estimate.nanoseconds < 0 || estimate.bytes < 0 || estimate.flops < 0 {
                return "schedule estimate fields must not be negative"
            }
            if estimate.threads < 1 { return "schedule estimate threads must be at least 1, found \(estimate.threads)" }
            if let measured = estimate.measuredNanoseconds, measured < 0 { return "schedule estimate measured_ns must not be negative" }
        }
        return nil
    }
}

extension Verifier {
    /// The verifier's rule 12 beyond what SieveIR checks itself (that a `schedule` sits only on a kernel-bearing
    /// op): its parameters are in range, its parallel axis is the variant's own, and its variant suits the op
    /// as `KernelProblem.problem(with:)` says. Messages are reported on the op, in this order, at most one per op.
    public static let scheduleCheck = VerifierCheck(name: "schedule") { op, graph in
        guard let schedule = op.schedule, op.kind.isKernelBearing else { return [] }
        if let problem = schedule.problem { return ["invalid schedule: \(problem)"] }
        if let kernel = KernelProblem.make(op, in: graph), let problem = kernel.problem(with: schedule) {
            return ["schedule does not suit this \(op.kind.mnemonic): \(problem)"]
        }
        return []
    }

    /// Every check the target layer adds to the verifier; the pass manager, lowering, the driver and the tests
    /// pass these to `Verifier.verify(_:checks:)` so that a graph is checked against all its rules.
    public static let targetChecks: [VerifierCheck] = [scheduleCheck]
}
