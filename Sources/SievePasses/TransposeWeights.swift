// transpose-weights: stores constant matmul/gemm weights as [N, K] (transpose_b = true), so the
// reduction axis is the last, contiguous one — the axis N:M groups run along and kernels stream.

import SieveIR
import SieveInterpreter

/// Rewrites `matmul %x, %w` and `gemm %x, %w` whose `w` is a dense 2-D constant read as `[K, N]`
/// into the same product reading a transposed copy `[N, K]` with `transpose_b = true`.
///
/// Exact: only the storage order of the weight changes. The original constant stays when
/// something else still reads it.
public struct TransposeWeights: GraphPass {
    public let name = "transpose-weights"

    /// Makes the pass.
    public init() {}

    public func run(on graph: inout Graph, context: inout PassContext) throws {
        var constantOf: [ValueID: (id: ConstantID, location: Location)] = [:]
        for op in graph.operations {
            if case let .constant(id) = op.kind, let result = op.results.first { constantOf[result] = (id, op.location) }
        }
        var names = Set(graph.values.compactMap(\.name))
        var transposed: [ConstantID: ValueID] = [:]
        var index = 0
        while index < graph.operations.count {
            let op = graph.operations[index]
            index += 1
            let newKind: OpKind
            switch op.kind {
            case .matmul(transposeB: false):
                newKind = .matmul(transposeB: true)
            case let .gemm(alpha, beta, transposeA, false):
                newKind = .gemm(alpha: alpha, beta: beta, transposeA: transposeA, transposeB: true)
            default:
                continue
            }
            guard op.operands.count >= 2, let (id, constantLocation) = constantOf[op.operands[1]],
                  let constant = graph.constants[id], constant.type.rank == 2, constant.type.layout == .dense,
                  constant.type.quant == nil else { continue }
            let weight: ValueID
            if let existing = transposed[id] {
                weight = existing
            } else {
                let tensor = try Interpreter.evaluate(
                    .transpose(permutation: [1, 0]), operands: [try Tensor(constant)],
                    resultType: TensorType([constant.type.shape[1], constant.type.shape[0]], constant.type.elementType),
                    constants: graph.constants, location: op.location)
                let newID = graph.constants.add(tensor.constant(name: constant.name + ".t"))
                // The new const op goes right before its first reader, keeping definition order.
                let name = graph.values[op.operands[1].index].name.map { $0 + ".t" }.flatMap { names.insert($0).inserted ? $0 : nil }
                weight = graph.addValue(tensor.type, name: name)
                graph.operations.insert(Operation(.constant(newID), operands: [], results: [weight],
                                                  location: constantLocation), at: index - 1)
                index += 1
                transposed[id] = weight
            }
            graph.operations[index - 1].kind = newKind
            graph.operations[index - 1].operands[1] = weight
        }
        DeadCodeElimination.removeDeadOps(&graph)
    }
}
