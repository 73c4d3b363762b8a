// The interpreter on the padded nm<N:M> file tests: the IR that nm-legalize writes for reductions that are not
// a multiple of M, and the padded layout example, run bit for bit like the same weights stored dense.

import Foundation
import SieveDriver
import SieveIR
import SieveInterpreter
import Testing

/// The graph with every nm constant unpacked to dense storage (and the const results retyped).
private func unpackedToDense(_ graph: Graph) throws -> Graph {
    var dense = graph
    for index in dense.constants.entries.indices {
        dense.constants.entries[index] = try NMPacking.unpack(dense.constants.entries[index])
    }
    for op in dense.operations {
        guard case let .constant(id) = op.kind, let constant = dense.constants[id] else { continue }
        for result in op.results { dense.values[result.index].type = constant.type }
    }
    try Verifier.verify(dense)
    return dense
}

/// Inputs with values in [-2, 2) that are exact in f32, different for every element.
private func inputs(for graph: Graph) throws -> [Tensor] {
    try graph.inputs.enumerated().map { position, id in
        let type = try #require(graph.type(of: id))
        let count = type.elementCount ?? 0
        return try Tensor(type.plain, floats: (0..<count).map { Float(($0 * 29 + position * 7) % 64) / 16 - 2 })
    }
}

@Suite struct PaddedNMFileTests {
    @Test func nmLegalizeOutputRunsLikeItsDenseWeights() throws {
        let path = "IR/graph/nm-legalize/padded.sir"
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent(path), encoding: .utf8)
        let result = try runOpt(OptRequest(text: text, path: path, pipeline: "nm-legalize"))
        let graph = try #require(result.module.graphs.first)
        #expect(graph.constants.entries.allSatisfy { NMPattern($0.type.layout) != nil })
        let x = try inputs(for: graph)
        let sparse = try Interpreter(graph: graph).run(x)
        let dense = try Interpreter(graph: try unpackedToDense(graph)).run(x)
        #expect(sparse.map(\.floats) == dense.map(\.floats))
        #expect(dense.allSatisfy { $0.doubles.contains { $0 != 0 } })
    }

    @Test func paddedLayoutExampleRunsLikeItsDenseWeights() throws {
        let path = "IR/graph/roundtrip/nm-padded.sir"
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent(path), encoding: .utf8)
        let graph = try #require(try Parser.parse(text, path: path).graphs.first)
        let dense = try unpackedToDense(graph)
        #expect(try Tensor(dense.constants.entries[0]).floats == [1, 0, -2, 0, 3, 0, 4, 0, 0, 0])
        let x = try inputs(for: graph)
        #expect(try Interpreter(graph: graph).run(x).map(\.floats) == Interpreter(graph: dense).run(x).map(\.floats))
    }
}
