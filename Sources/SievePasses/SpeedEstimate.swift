// The estimated time of a model as the schedule pass will compile it, for sparsity allocation by speed
// (`target-speedup`): each prunable layer's product under every candidate pattern, and everything else.

import SieveIR
import SieveTarget

/// Per-layer product times under each candidate pattern, and the time of the rest of the model, by the schedule
/// pass's cost model on a fused copy of the graph (the epilogues that fuse into a product cost it nothing apart).
///
/// An estimate, as the schedule's are: products by the chosen schedule of each, other ops as streams of their
/// operands and results (`CostModel.streamingEstimate`); lowering may add transposes and packing the estimate does
/// not see. Its use is to rank choices and to predict a speed-up, which `sieve bench` then measures.
struct SpeedEstimate {
    /// Nanoseconds of everything that is not one of the layers' products.
    var otherNanoseconds: Double
    /// Per layer (by weight name), nanoseconds of its products with each pattern (nil: dense).
    var layerNanoseconds: [String: [NMPattern?: Double]]
    /// The CPU the times are for.
    var targetName: String

    /// Estimates `graph` for `layers`, each with dense and `candidates[layer.name]`.
    init(graph: Graph, layers: [PrunableLayer], candidates: [String: [NMPattern]], schedule: Schedule) throws {
        targetName = schedule.target.name
        var fused = graph
        var scratch = PassContext()
        try Fuse().run(on: &fused, context: &scratch)
        let model = schedule.model
        // The layers by weight name (fusion rebuilds values, constants keep their names).
        let layerNamed = Dictionary(layers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let defining = fused.definingOps()
        func layer(reading op: Operation) -> PrunableLayer? {
            guard op.operands.count > 1, let definer = defining[op.operands[1].index],
                  case let .constant(id) = fused.operations[definer].kind, let name = fused.constants[id]?.name else { return nil }
            return layerNamed[name]
        }
        var other = 0.0
        var times: [String: [NMPattern?: Double]] = [:]
        for op in fused.operations {
            if case .constant = op.kind { continue }
            if op.kind.isKernelBearing, let problem = KernelProblem.make(op, in: fused) {
                guard let layer = layer(reading: op) else {
                    other += Self.nanoseconds(problem, schedule: schedule, model: model)
                    continue
                }
                var perPattern = times[layer.name] ?? [:]
                perPattern[nil, default: 0] += Self.nanoseconds(problem, schedule: schedule, model: model)
                for pattern in candidates[layer.name] ?? [] {
                    // nm-legalize stores the weight [outputs, reduction] in kept values and indices.
                    var sparse = problem
                    sparse.pattern = pattern
                    sparse.weightRowsAlongReduction = true
                    sparse.weightIsPackableConstant = false
                    perPattern[pattern, default: 0] += Self.nanoseconds(sparse, schedule: schedule, model: model)
                }
                times[layer.name] = perPattern
            } else {
                other += Self.streamNanoseconds(op, in: fused, model: model, lanes: schedule.target.f32Lanes)
            }
        }
        otherNanoseconds = other
        layerNanoseconds = times
    }

    /// The estimated time of a product under the schedule the schedule pass would choose.
    static func nanoseconds(_ problem: KernelProblem, schedule: Schedule, model: CostModel) -> Double {
        Double(schedule.choose(problem, model: model)?.estimate?.nanoseconds ?? 0)
    }

    /// The estimated time of an op without a schedule: its operands read and its results written once.
    static func streamNanoseconds(_ op: Operation, in graph: Graph, model: CostModel, lanes: Int) -> Double {
        func bytes(_ value: ValueID) -> Int {
            guard let type = graph.type(of: value), let count = type.elementCount else { return 0 }
            return count * type.elementType.byteSize
        }
        let touched = op.operands.reduce(0) { $0 + bytes($1) } + op.results.reduce(0) { $0 + bytes($1) }
        let elements = op.results.first.flatMap { graph.type(of: $0)?.elementCount } ?? 0
        let threads = elements >= 1 << 14 ? model.rates.cores : 1
        let work = StreamingWork(op, in: graph).loops(elements: elements, lanes: lanes)
        return Double(model.streamingEstimate(bytes: touched, threads: threads, work: work).nanoseconds)
    }

    /// The dense model's estimated time.
    var denseNanoseconds: Double { otherNanoseconds + layerNanoseconds.values.reduce(0) { $0 + ($1[nil] ?? 0) } }

    /// The estimated speed-up over dense of a choice of patterns by layer name (layers not named stay dense).
    func speedup(_ choice: [String: NMPattern]) -> Double {
        var total = otherNanoseconds
        for (name, times) in layerNanoseconds {
            total += choice[name].flatMap { times[$0] } ?? times[nil] ?? 0
        }
        return total > 0 ? denseNanoseconds / total : 1
    }
}
