// The accuracy bar of issue 4 on a real model: a digits MLP (64 -> 64 -> 32 -> 10) with 2:4 on both
// hidden layers loses at most 1.5 points of held-out accuracy with sparsegpt, and the methods order
// sparsegpt > wanda > magnitude.
// Fixtures/make-digits.py trains the model and writes the IR, the calibration and held-out splits.

import Foundation
import SieveDriver
import SieveFormats
import SieveIR
import SieveInterpreter
import SievePasses
import Testing

func fixture(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)").path
}

/// Held-out accuracy of a digits graph (batches of 100): the share of argmax(logits) == label.
func accuracy(_ graph: Graph, inputs: Tensor, labels: [Int64]) throws -> Double {
    let interpreter = Interpreter(graph: graph)
    let batch = 100
    var correct = 0, total = 0
    let values = inputs.floats ?? []
    for start in stride(from: 0, to: labels.count - batch + 1, by: batch) {
        let slice = Array(values[(start * 64)..<((start + batch) * 64)])
        let logits = try interpreter.run([try tensor([batch, 64], slice)])[0].floats ?? []
        for row in 0..<batch {
            let scores = logits[(row * 10)..<((row + 1) * 10)]
            let predicted = scores.indices.max { scores[$0] < scores[$1] }.map { $0 - row * 10 } ?? -1
            if Int64(predicted) == labels[start + row] { correct += 1 }
            total += 1
        }
    }
    return Double(correct) / Double(max(1, total))
}

@Suite struct DigitsAccuracyTests {
    @Test func twoFourOnTheHiddenLayersWithSparseGPTCostsAtMostOneAndAHalfPoints() throws {
        let graph = try Parser.parse(try String(contentsOfFile: fixture("digits.sir"), encoding: .utf8)).graphs[0]
        let heldOut = Dictionary(uniqueKeysWithValues: try NumPyFile.readArchive(path: fixture("digits-heldout.npz")).map { ($0.name, try Tensor($0)) })
        let inputs = try #require(heldOut["input"]), labels = try #require(heldOut["label"]?.integers)
        let calibration = try CalibrationSet.load(path: fixture("digits-calibration.npz"))
        let dense = try accuracy(graph, inputs: inputs, labels: labels)
        #expect(dense > 0.9, "the dense model should be accurate: \(dense)")

        var figures: [String] = ["dense \(dense)"]
        var results: [PruneMethod: Double] = [:]
        for method in PruneMethod.allCases {
            let result = try sparsify(graph, options: SparsifyOptions(prune: method, minWeights: 2048), calibration: calibration)
            #expect(result.report.layers.map(\.pattern) == ["2:4", "2:4", "dense"])
            let sparse = try accuracy(result.graph, inputs: inputs, labels: labels)
            results[method] = sparse
            figures.append("\(method.rawValue) \(sparse) (model error \(result.report.modelRelativeOutputError ?? .nan))")
        }
        print("digits held-out accuracy: " + figures.joined(separator: ", "))
        // The bar holds for sparsegpt. Wanda does not reach it on this small model (it loses about
        // 10 points; docs/sparsity.md lists the figures), so for it only the ordering is asserted.
        let sparsegpt = try #require(results[.sparsegpt]), wanda = try #require(results[.wanda])
        let magnitude = try #require(results[.magnitude])
        #expect(dense - sparsegpt <= 0.015, "\(figures)")
        #expect(sparsegpt > wanda && wanda > magnitude, "\(figures)")
    }
}
