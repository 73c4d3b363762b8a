// dce: removes ops whose results nothing reads, and constants no op references.
// Only pure ops are removed; every op today is pure, but the trait keeps this correct later.

import SieveIR

/// Removes unused pure ops and unreferenced constants.
public struct DeadCodeElimination: GraphPass {
    public let name = "dce"

    /// Makes the pass.
    public init() {}

    public func run(on graph: inout Graph, context: inout PassContext) throws {
        DeadCodeElimination.removeDeadOps(&graph)
    }

    /// Removes dead ops in one backward sweep (an op is live if an output or a live op reads it).
    public static func removeDeadOps(_ graph: inout Graph) {
        var live = [Bool](repeating: false, count: graph.values.count)
        for output in graph.outputs where live.indices.contains(output.index) { live[output.index] = true }
        var keep = [Bool](repeating: false, count: graph.operations.count)
        for index in graph.operations.indices.reversed() {
            let op = graph.operations[index]
            let needed = !op.kind.traits.contains(.pure)
                || op.results.contains { live.indices.contains($0.index) && live[$0.index] }
            guard needed else { continue }
            keep[index] = true
            for operand in op.operands where live.indices.contains(operand.index) { live[operand.index] = true }
        }
        if keep.contains(false) {
            graph.operations = graph.operations.indices.filter { keep[$0] }.map { graph.operations[$0] }
        }
        graph.compact()
    }
}
