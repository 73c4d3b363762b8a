// Fused elementwise chains compute each fused value once: an op that reads its operand twice (max, min, relu's
// select) used to double the generated C at every level, and a published model's 60-deep max chain became 1.2 GB.

import Foundation
import SieveCodegenC
import SieveFuzz
import SieveInterpreter
import SieveIR
import SieveKernel
import SieveTarget
import Testing

@Suite("Fused elementwise chains")
struct FusionSizeTests {
    @Test("a 20-deep chain of max and relu lowers to one kernel of linear size and matches the interpreter")
    func deepChainStaysLinear() throws {
        let depth = 20
        var lines = ["graph @g(%x: tensor<64xf32>, %y: tensor<64xf32>) -> tensor<64xf32> {", "  %v0 = max %x, %y : tensor<64xf32>"]
        for level in 1..<depth {
            let op = level % 3 == 0 ? "relu %v\(level - 1)" : (level % 3 == 1 ? "max %v\(level - 1), %y" : "min %x, %v\(level - 1)")
            lines.append("  %v\(level) = \(op) : tensor<64xf32>")
        }
        lines += ["  return %v\(depth - 1)", "}"]
        let graph = try parseGraph(lines.joined(separator: "\n") + "\n")
        let program = try lowerToKernels(graph, options: LoweringOptions(name: "chain", vectorWidth: TargetDescription.native.f32Lanes))
        #expect(program.kernels.count == 1, "the chain fuses into one loop: \(program.kernels.map(\.pattern))")
        let source = CEmitter(program: program, placement: .embedded, targetDescription: "native", sourceDescription: "test",
                              defaultWeightsPath: "").emit().source
        // About one line per level; doubling at every level (as before the fix) is 2^20 copies of the first operand, megabytes.
        #expect(source.utf8.count < 200_000, "the generated C is \(source.utf8.count) bytes")

        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let artifact = try compileAndLoad(graph, name: "chain", folder: folder)
        var random = SplitMix(seed: 3)
        let inputs = graph.inputs.map { randomTensor(graph.values[$0.index].type, using: &random) }
        let expected = try Interpreter(graph: graph).run(inputs)
        let actual = try artifact.runOnce(inputs)
        let problems = compareOutputs(actual, expected, rtol: 0, atol: 0, label: "max/min/relu chain")
        #expect(problems.isEmpty, "\(problems)")
    }
}
