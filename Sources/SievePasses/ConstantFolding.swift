// Constant folding for canonicalize: evaluates a pure op whose operands are all constants with the
// reference interpreter and replaces it by a constant, so folding and execution cannot disagree.

import SieveIR
import SieveInterpreter

/// Folds the op at `index` when every operand is a `const` and the result is small.
///
/// Results above `Canonicalize.foldElementLimit` elements stay ops (folding them would copy weights
/// into the constant table for no gain), as do results in the `nm` layout. An op the interpreter
/// refuses (an out-of-range gather index, say) is left alone: the error belongs to whoever runs it.
@Sendable func foldConstant(_ graph: inout Graph, _ index: Int, _ producers: [Int?]) -> Bool {
    let op = graph.operations[index]
    if case .constant = op.kind { return false }
    guard op.results.count == 1, let result = op.results.first, let resultType = graph.type(of: result),
          resultType.layout == .dense, let count = resultType.elementCount, count <= Canonicalize.foldElementLimit else { return false }

    var operands: [Tensor] = []
    for operand in op.operands {
        guard producers.indices.contains(operand.index), let producer = producers[operand.index],
              case let .constant(id) = graph.operations[producer].kind,
              let constant = graph.constants[id], let tensor = try? Tensor(constant) else { return false }
        operands.append(tensor)
    }
    guard let value = try? Interpreter.evaluate(op.kind, operands: operands, resultType: resultType,
                                                 constants: graph.constants, location: op.location) else { return false }

    let name = graph.values[result.index].name.map { $0.isEmpty ? nil : $0 } ?? nil
    let id = graph.constants.add(value.constant(name: name ?? graph.constants.freshName("folded")))
    graph.operations[index] = Operation(.constant(id), operands: [], results: [result], location: op.location)
    return true
}
