// schedule: chooses, for every matmul, gemm, fused_matmul and conv2d, the kernel variant and its parameters
// (packing, register tile, k block, tile rows, parallel axis) by the cost model, and records it as the op's attribute.

import SieveIR
import SieveTarget

/// Annotates every kernel-bearing op with the `schedule` the cost model ranks fastest for the target among the
/// candidates lowering can emit there (see `CostModel.candidates`), with the estimate it was chosen by.
///
/// Exact: a schedule changes how a product is computed, never what (the differential tests force each variant).
/// Ops whose operand types do not form a product the kernels know are left without a schedule, and lowering
/// then uses its defaults. Options: `target=NAME` (default: the host, as `--target native`), `variant=NAME`
/// (take the best candidate of that variant wherever it can compute the op: for tests and experiments),
/// `threads=N` (the cores a parallel kernel may use in the estimate), `keep=true` (keep schedules that fit).
public struct Schedule: ConfigurablePass {
    public let name = "schedule"
    /// The CPU the schedule is for.
    public var target: TargetDescription
    /// A variant name to prefer wherever it applies, or nil to follow the cost model.
    public var forcedVariant: String?
    /// Cores assumed for parallel kernels, or nil for the target's.
    public var threads: Int?
    /// Keep a schedule an op already carries when it fits the target (filling in its estimate), instead of
    /// deciding again: `sieve compile` honours schedules written into a `.sir` model this way.
    public var keepExisting = false

    /// Makes the pass for a target (by default the host, falling back to x86-64-v4 where it cannot be read).
    public init(target: TargetDescription? = nil, forcedVariant: String? = nil, threads: Int? = nil, keepExisting: Bool = false) {
        self.target = target ?? ((try? TargetDescription.host()) ?? .x86_64_v4)
        self.forcedVariant = forcedVariant
        self.threads = threads
        self.keepExisting = keepExisting
    }

    public var optionHelp: [(key: String, meaning: String)] {
        [("target", "the CPU: " + TargetDescription.targetNames.joined(separator: ", ")),
         ("variant", "prefer this kernel variant where it applies: " + KernelVariant.names.joined(separator: ", ")),
         ("threads", "cores a parallel kernel may use in the estimate"),
         ("keep", "true to keep schedules ops already carry where they fit the target")]
    }

    public func configured(with options: [(key: String, value: String)]) throws(DiagnosticError) -> any GraphPass {
        let reader = PassOptionReader(pass: name, known: optionHelp)
        try reader.check(options)
        var pass = self
        for (key, value) in options {
            switch key {
            case "target": pass.target = try TargetDescription.named(value)
            case "variant":
                guard KernelVariant.names.contains(value) else {
                    throw reader.error("unknown variant '\(value)', expected one of \(KernelVariant.names.joined(separator: ", "))")
                }
                pass.forcedVariant = value
            case "keep":
                guard value == "true" || value == "false" else { throw reader.error("keep must be true or false, found '\(value)'") }
                pass.keepExisting = value == "true"
            case "threads":
                let count = try reader.count(key, value)
                guard count >= 1 else { throw reader.error("threads must be at least 1, found \(value)") }
                pass.threads = count
            default: break
            }
        }
        return pass
    }

    /// The cost model this pass ranks candidates with.
    public var model: CostModel {
        var rates = MachineRates(target: target)
        if let threads { rates.cores = threads }
        return CostModel(rates: rates)
    }

    public func run(on graph: inout Graph, context: inout PassContext) throws {
        let model = self.model
        for index in graph.operations.indices where graph.operations[index].kind.isKernelBearing {
            guard let problem = KernelProblem.make(graph.operations[index], in: graph) else { continue }
            if keepExisting, var existing = graph.operations[index].schedule, problem.admits(existing, vectorWidth: target.f32Lanes) {
                if existing.estimate == nil { existing.estimate = model.estimate(existing, for: problem) }
                graph.operations[index].schedule = existing
                continue
            }
            graph.operations[index].schedule = choose(problem, model: model)
        }
    }

    /// The chosen schedule of one problem: the best-ranked candidate (of the forced variant when it has one).
    public func choose(_ problem: KernelProblem, model: CostModel) -> KernelSchedule? {
        let ranked = model.ranked(problem, vectorWidth: target.f32Lanes)
        if let forcedVariant, let forced = ranked.first(where: { $0.variant.name == forcedVariant }) { return forced }
        return ranked.first
    }
}
