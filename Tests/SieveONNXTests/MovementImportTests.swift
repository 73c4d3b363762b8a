// Import of the data-movement ops of #12: every one folds away when its operands are constants (the
// foldsAtImport trait, or a decomposition into folding ops), and run-time operands become the expected ops.

import Foundation
import SieveIR
import SieveInterpreter
import SieveONNX
import SieveONNXTestSupport
import Testing

@Suite struct MovementImportTests {
    /// A chain of every data-movement op over a constant: the imported graph is constants only, and the
    /// folded value is what the ops compute.
    @Test func constantOperandsFoldAtImport() throws {
        let data = floatTensor("data", [1, 4, 2, 2], (0..<16).map(Float.init))
        let nodes = [
            node("Pad", ["data", "pads"], ["padded"], [stringAttribute("mode", "reflect")]),        // 1x4x2x4
            node("Resize", ["padded", "", "scales"], ["resized"], [stringAttribute("mode", "nearest")]),  // 1x4x4x8
            node("Split", ["resized", "split"], ["left", "right"], [intAttribute("axis", 3)]),       // 1x4x4x4 twice
            node("Tile", ["left", "repeats"], ["tiled"]),                                           // 1x4x4x8
            node("DepthToSpace", ["tiled"], ["spread"], [intAttribute("blocksize", 2)]),            // 1x1x8x16
            node("SpaceToDepth", ["spread"], ["packed"], [intAttribute("blocksize", 2)]),           // 1x4x4x8
            node("Trilu", ["packed"], ["upper"]),
            node("GatherElements", ["upper", "picks"], ["picked"], [intAttribute("axis", 3)]),     // 1x4x4x1
            node("ScatterND", ["picked", "where", "updates"], ["scattered"]),
            node("GatherND", ["scattered", "rows"], ["gathered"]),                                  // 1x4x1
            node("Range", ["start", "limit", "delta"], ["steps"]),
            node("Size", ["gathered"], ["count"]),
            node("Cast", ["count"], ["countf"], [intAttribute("to", 1)]),
            node("Mul", ["gathered", "countf"], ["y"]),
            node("Add", ["right", "steps"], ["z"]),
        ]
        let initializers = [data, int64Tensor("pads", [8], [0, 0, 0, 1, 0, 0, 0, 1]), floatTensor("scales", [4], [1, 1, 2, 2]),
                            int64Tensor("split", [2], [4, 4]), int64Tensor("repeats", [4], [1, 1, 1, 2]),
                            int64Tensor("picks", [1, 4, 4, 1], [Int64](repeating: 3, count: 16)),
                            int64Tensor("where", [1, 2], [0, 1]), floatTensor("updates", [1, 4, 1], [-1, -2, -3, -4]),
                            int64Tensor("rows", [1, 2], [0, 1]), floatTensor("start", [], [0]), floatTensor("limit", [], [4]),
                            floatTensor("delta", [], [1])]
        let result = try importBytes(model(nodes: nodes, inputs: [], outputs: ["y", "z"], initializers: initializers))
        let kinds = Set(result.graph.operations.map(\.kind.mnemonic))
        #expect(kinds == ["const"], "ops left after folding: \(kinds.sorted())")
        let outputs = try Interpreter(graph: result.graph).run([])
        #expect(outputs[0].shape == [1, 4, 1])
        #expect(outputs[1].shape == [1, 4, 4, 4])
        // Row 1 of the picked column was replaced by the updates; the size factor is 4.
        #expect(outputs[0].floats?[1] == -8)
    }

    /// Run-time operands keep the IR ops (pad, resize) and the decompositions (slice, expand, transpose).
    @Test func runTimeOperandsBecomeOps() throws {
        let x = valueInfo("x", ONNXType.float, [1, 4, 2, 2])
        let nodes = [
            node("Pad", ["x", "pads", "value"], ["padded"]),
            node("Resize", ["padded", "", "", "sizes"], ["resized"], [stringAttribute("mode", "linear")]),
            node("Split", ["resized"], ["a", "b"], [intAttribute("axis", 1), intAttribute("num_outputs", 2)]),
            node("Tile", ["a", "repeats"], ["y"]),
        ]
        let initializers = [int64Tensor("pads", [8], [0, 0, -1, 1, 0, 0, 1, 1]), floatTensor("value", [], [0.5]),
                            int64Tensor("sizes", [4], [1, 4, 3, 7]), int64Tensor("repeats", [4], [2, 1, 1, 1])]
        let graph = try importBytes(model(nodes: nodes, inputs: [x], outputs: ["y", "b"], initializers: initializers, opset: 18)).graph
        let mnemonics = graph.operations.map(\.kind.mnemonic).filter { $0 != "const" }
        #expect(mnemonics == ["pad", "resize", "slice", "slice", "reshape", "expand", "reshape"])
        #expect(graph.type(of: graph.outputs[0])?.shape == [2, 2, 3, 7])
        #expect(graph.type(of: graph.outputs[1])?.shape == [1, 2, 3, 7])
    }

    @Test func runTimeRangeIsRefused() {
        let errors = importErrors(model(nodes: [node("Range", ["n", "limit", "delta"], ["y"], name: "positions")],
                                        inputs: [valueInfo("n", ONNXType.int64, [])], outputs: ["y"],
                                        initializers: [int64Tensor("limit", [], [9]), int64Tensor("delta", [], [1])]))
        #expect(errors.count == 1)
        #expect(errors.first?.description.contains("'positions'") == true)
        #expect(errors.first?.message.contains("Range computed at run time is not supported") == true)
    }
}
