// Issue 4's acceptance bar on the bundled digits MLP (Examples/models/mlp.onnx, hidden layers 128 and
// 64): 2:4 on both hidden layers with the bundled calibration split, accuracy on the held-out split.

import Foundation
import SieveDriver
import SieveFormats
import SieveIR
import SieveInterpreter
import SievePasses
import Testing

func exampleModel(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Examples/models/\(name)").path
}

/// Accuracy of a graph whose input is [20, 64] and output [20, 10] scores.
func exampleAccuracy(_ graph: Graph, inputs: Tensor, labels: [Int64]) throws -> Double {
    let interpreter = Interpreter(graph: graph)
    let values = inputs.floats ?? []
    var correct = 0
    for start in stride(from: 0, to: labels.count, by: 20) {
        let scores = try interpreter.run([try tensor([20, 64], Array(values[(start * 64)..<((start + 20) * 64)]))])[0].floats ?? []
        for row in 0..<20 {
            let slice = scores[(row * 10)..<((row + 1) * 10)]
            if let best = slice.indices.max(by: { slice[$0] < slice[$1] }), Int64(best - row * 10) == labels[start + row] { correct += 1 }
        }
    }
    return Double(correct) / Double(labels.count)
}

@Suite struct ExampleDigitsTests {
    @Test func twoFourOnTheBundledDigitsMLP() throws {
        var graph = try loadModel(path: exampleModel("mlp.onnx"), inputShapes: ["input": [20, 64]]).graph
        var context = PassContext()
        try PassManager(passes: Pipelines.cleanup).run(on: &graph, context: &context) { _ in }
        let inputs = try Tensor(NumPyFile.read(path: exampleModel("mlp.eval.input.npy")))
        let labels = try #require(try Tensor(NumPyFile.read(path: exampleModel("mlp.eval.labels.npy"))).integers)
        let calibration = try CalibrationSet.load(path: exampleModel("mlp.calibration.npy"))
        let dense = try exampleAccuracy(graph, inputs: inputs, labels: labels)
        // Batches of 20 samples: 240 of the 256 calibration digits are used, all 500 held-out ones.
        var figures = ["dense \(dense)"]
        var results: [String: Double] = [:]
        for (method, permute) in [(PruneMethod.magnitude, false), (.wanda, false), (.wanda, true), (.sparsegpt, false)] {
            var context = PassContext()
            context.calibration = calibration
            var sparse = graph
            try PassManager(passes: Pipelines.sparsity(legalize: NMLegalize(method: method, permute: permute)))
                .run(on: &sparse, context: &context) { _ in }
            // Both hidden layers (8192 weights each) are 2:4; the 64x10 output layer stays dense.
            #expect(context.sparsity.records.filter(\.legalized).map(\.pattern) == [NMPattern(n: 2, m: 4), NMPattern(n: 2, m: 4)])
            let name = method.rawValue + (permute ? "+permute" : "")
            results[name] = try exampleAccuracy(sparse, inputs: inputs, labels: labels)
            figures.append("\(name) \(results[name] ?? .nan)")
        }
        print("bundled digits MLP, held-out accuracy: " + figures.joined(separator: ", "))
        let sparsegpt = try #require(results["sparsegpt"]), wanda = try #require(results["wanda"])
        let wandaPermuted = try #require(results["wanda+permute"]), magnitude = try #require(results["magnitude"])
        #expect(dense - sparsegpt <= 0.015, "\(figures)")
        #expect(dense - wandaPermuted <= 0.015, "\(figures)")
        #expect(sparsegpt > wanda && wanda > magnitude, "\(figures)")
    }
}

@Suite struct TransferTests {
    @Test func sparsityCarriesOverToAnotherBatchSizeExactly() throws {
        let small = try loadModel(path: exampleModel("mlp.onnx"), inputShapes: ["input": [16, 64]]).graph
        let large = try loadModel(path: exampleModel("mlp.onnx"), inputShapes: ["input": [40, 64]]).graph
        let calibration = try CalibrationSet.load(path: exampleModel("mlp.calibration.npy"))
        let sparse = try sparsify(small, options: SparsifyOptions(prune: .wanda, calibrationSamples: 64), calibration: calibration)
        let moved = try transferSparsity(from: sparse.graph, dense: small, to: large)
        let layers = PrunableLayers.find(in: moved).filter { moved.constants[$0.constant]?.type.layout != .dense }
        #expect(layers.count == 2)
        for layer in layers {
            let original = try #require(PrunableLayers.find(in: sparse.graph).first { $0.name == layer.name })
            #expect(try PrunableLayers.weightMatrix(moved, layer) == PrunableLayers.weightMatrix(sparse.graph, original))
        }
        // The first 16 of 40 rows give what the small sparsified graph gives.
        let input = try Tensor(NumPyFile.read(path: exampleModel("mlp.eval.input.npy"))).floats ?? []
        let big = try run(moved, [try tensor([40, 64], Array(input[0..<(40 * 64)]))])[0].floats ?? []
        let little = try run(sparse.graph, [try tensor([16, 64], Array(input[0..<(16 * 64)]))])[0].floats ?? []
        #expect(zip(big.prefix(160), little).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
        #expect(throws: DiagnosticError.self) { try transferSparsity(from: sparse.graph, dense: small, to: twoLayerModel(w1: Array(repeating: 0, count: 512), w2: Array(repeating: 0, count: 128))) }
    }
}
