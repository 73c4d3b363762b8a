// cse: merges pure ops that compute the same thing from the same operands, and constants with
// the same type and bytes. The first occurrence wins and keeps its location.

import SieveIR

/// Merges duplicate pure ops and duplicate constants.
public struct CommonSubexpressionElimination: GraphPass {
    public let name = "cse"

    /// Makes the pass.
    public init() {}

    private struct Key: Hashable {
        var kind: OpKind
        var operands: [ValueID]
        var resultType: TensorType
    }

    private struct ConstantKey: Hashable {
        var type: TensorType
        var bytes: [UInt8]
        /// Weights asked to become different patterns stay apart.
        var sparsityRequest: NMPattern?

        /// Hashes the bytes as one block: element by element, hashing tens of megabytes of weights
        /// took seconds of every compile.
        func hash(into hasher: inout Hasher) {
            hasher.combine(type)
            hasher.combine(sparsityRequest)
            bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }

    public func run(on graph: inout Graph, context: inout PassContext) throws {
        // Constants with equal contents become one table entry first, so their const ops then match.
        var canonicalConstant: [ConstantKey: ConstantID] = [:]
        var constantRemap: [ConstantID: ConstantID] = [:]
        for (index, constant) in graph.constants.entries.enumerated() {
            let key = ConstantKey(type: constant.type, bytes: constant.bytes, sparsityRequest: constant.sparsityRequest)
            if let first = canonicalConstant[key] {
                constantRemap[ConstantID(index)] = first
            } else {
                canonicalConstant[key] = ConstantID(index)
            }
        }
        var seen: [Key: ValueID] = [:]
        var replaced = false
        for index in graph.operations.indices {
            var op = graph.operations[index]
            if case let .constant(id) = op.kind, let first = constantRemap[id] {
                op.kind = .constant(first)
                graph.operations[index] = op
            }
            guard op.kind.traits.contains(.pure), op.results.count == 1, let result = op.results.first,
                  let type = graph.type(of: result) else { continue }
            var operands = op.operands
            if op.kind.traits.contains(.commutative) { operands.sort() }
            let key = Key(kind: op.kind, operands: operands, resultType: type)
            if let existing = seen[key] {
                graph.replaceAllUses(of: result, with: existing)
                replaced = true
            } else {
                seen[key] = result
            }
        }
        if replaced || !constantRemap.isEmpty { DeadCodeElimination.removeDeadOps(&graph) }
    }
}
