// Small graphs for tests of products and their schedules, shared by the IR and target test suites.
// Only types are read from them: the weight's bytes are left empty.

import SieveIR

/// A graph with one matmul `x[rows, k] * w[n, k]^T` and the index of that op; the weight's bytes are left empty
/// (only types are read).
public func productGraph(rows: Int, n: Int, k: Int, pattern: NMPattern?) -> (Graph, Int) {
    var graph = Graph(name: "g")
    let x = graph.addInput(TensorType([rows, k], .f32), name: "x")
    var weightType = TensorType([n, k], .f32)
    if let pattern { weightType.layout = .nm(n: pattern.n, m: pattern.m) }
    let w = graph.appendConstant(Constant(name: "w", type: weightType, bytes: []))
    let y = graph.append(.matmul(transposeB: true), [x, w], TensorType([rows, n], .f32), name: "y")
    graph.outputs = [y]
    return (graph, graph.operations.count - 1)
}
