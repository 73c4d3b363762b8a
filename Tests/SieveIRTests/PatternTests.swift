// The canonicalize patterns that change float rounding (GELU and layer-norm recognition, batch norm folded
// into convolution) checked numerically: the interpreter's results before and after agree to f32 rounding.

import Foundation
import SieveIR
import SieveInterpreter
import SievePasses
import Testing

@Suite struct PatternTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test(arguments: ["gelu-from-erf.sir", "batch-norm-into-conv.sir", "layer-norm-from-parts.sir"])
    func recognisedPatternsKeepResults(file: String) throws {
        let text = try String(contentsOf: PatternTests.root.appendingPathComponent("IR/graph/canonicalize/\(file)"),
                              encoding: .utf8)
        for original in try Parser.parse(text).graphs {
            var random = SystemRandomNumberGenerator()
            let inputs = try original.inputs.map { id in
                let type = try require(graph: original, id)
                return try Tensor(shape: type.shape, elementType: type.elementType,
                                  values: (0..<(type.elementCount ?? 0)).map { _ in Double.random(in: -4...4, using: &random) })
            }
            var graph = original
            var context = PassContext()
            try PassManager(passes: [Canonicalize()]).run(on: &graph, context: &context) { _ in }
            #expect(graph.operations.count < original.operations.count, "the pattern did not fire in @\(original.name)")
            let before = try Interpreter(graph: original).run(inputs)
            let after = try Interpreter(graph: graph).run(inputs)
            for (expected, actual) in zip(before, after) {
                #expect(actual.allClose(expected, rtol: 1e-5, atol: 1e-6), "@\(original.name): \(expected) became \(actual)")
            }
        }
    }
}

/// The type of a graph value, or a test failure.
private func require(graph: Graph, _ id: ValueID) throws -> TensorType {
    try #require(graph.type(of: id))
}
