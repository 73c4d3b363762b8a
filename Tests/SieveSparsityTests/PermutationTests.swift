// Tests of nm-legalize's input-channel permutation: folding it into the producer keeps the function,
// the search raises the magnitude N:M keeps, and illegal cases are left alone.

import SieveDriver
import SieveIR
import SieveInterpreter
import Testing
@testable import SievePasses

/// x [4, 32] -> fc1 [64, 32] (transpose_b) -> + bias -> relu -> * scale -> fc2 stored [64, 16] (no transpose_b).
func permutableModel(seed: UInt64) -> Graph {
    var random = Random(seed)
    var graph = Graph(name: "mlp")
    let x = graph.addInput(TensorType([4, 32], .f32), name: "x")
    let w1 = graph.appendConstant(weight("fc1", [64, 32], random.gaussians(64 * 32, scale: 0.3)))
    let h = graph.append(.matmul(transposeB: true), [x, w1], TensorType([4, 64], .f32), name: "h")
    let b = graph.appendConstant(weight("bias", [64], random.gaussians(64, scale: 0.1)))
    let a = graph.append(.add, [h, b], TensorType([4, 64], .f32), name: "a")
    let r = graph.append(.relu, [a], TensorType([4, 64], .f32), name: "r")
    let s = graph.appendConstant(weight("scale", [1, 64], random.gaussians(64, scale: 1)))
    let m = graph.append(.mul, [s, r], TensorType([4, 64], .f32), name: "m")
    let w2 = graph.appendConstant(weight("fc2", [64, 16], random.gaussians(64 * 16, scale: 0.3)))
    graph.outputs = [graph.append(.matmul(transposeB: false), [m, w2], TensorType([4, 16], .f32), name: "y")]
    return graph
}

@Suite struct PermutationTests {
    @Test func foldingAPermutationKeepsTheFunction() throws {
        var graph = permutableModel(seed: 1)
        let original = graph
        let layer = try #require(PrunableLayers.find(in: graph).first { $0.name == "fc2" })
        let fold = try #require(ChannelPermutation.fold(for: layer, in: graph))
        #expect(fold.producer.name == "fc1")
        #expect(Set(fold.channelConstants.compactMap { graph.constants[$0]?.name }) == ["bias", "scale"])
        var random = Random(2)
        var permutation = Array(0..<64)
        for index in stride(from: 63, to: 0, by: -1) { permutation.swapAt(index, Int(random.next() % UInt64(index + 1))) }
        try ChannelPermutation.apply(permutation, to: layer, fold: fold, graph: &graph)
        try Verifier.verify(graph)
        #expect(graph != original)
        let input = try tensor([4, 32], random.gaussians(128))
        let before = try run(original, [input])[0], after = try run(graph, [input])[0]
        #expect(after.allClose(before, rtol: 1e-5, atol: 1e-5), "max difference \(after.maxAbsDifference(before) ?? .nan)")
    }

    @Test func searchRaisesTheKeptMagnitude() {
        var random = Random(3)
        for pattern in [NMPattern(n: 2, m: 4), NMPattern(n: 1, m: 4), NMPattern(n: 4, m: 8)] {
            let matrix = NMMatrixShape(rows: 16, reduction: 64)
            let weights = random.gaussians(16 * 64).map(Double.init)
            let permutation = ChannelPermutation.search(weights, matrix: matrix, pattern: pattern)
            #expect(permutation.sorted() == Array(0..<64))
            let magnitudes = weights.map(abs)
            let before = ChannelPermutation.keptMagnitude(magnitudes, matrix: matrix, pattern: pattern, permutation: Array(0..<64))
            let after = ChannelPermutation.keptMagnitude(magnitudes, matrix: matrix, pattern: pattern, permutation: permutation)
            #expect(after > before, "\(pattern): \(before) -> \(after)")
        }
    }

    @Test func permuteRaisesKeptMagnitudeEndToEndAndRecordsIt() throws {
        let graph = permutableModel(seed: 4)
        var shares: [Bool: Double] = [:]
        for permute in [false, true] {
            var result = graph
            var context = PassContext()
            let passes = try PassRegistry.parsePipeline("nm-legalize{pattern=2:4,permute=\(permute)}")
            try PassManager(passes: passes).run(on: &result, context: &context) { _ in }
            let record = try #require(context.sparsity.records.first { $0.name == "fc2" })
            shares[permute] = record.keptMagnitudeShare
            if permute { #expect(record.reason.contains("folded into fc1")) }
            // fc1 reads the graph input: never permuted.
            #expect(context.sparsity.records.first { $0.name == "fc1" }?.reason.contains("folded into") == false)
        }
        let plain = try #require(shares[false]), permuted = try #require(shares[true])
        #expect(permuted > plain, "\(shares)")
    }

    @Test func aValueReadTwiceCannotBePermuted() throws {
        var graph = permutableModel(seed: 5)
        // Return the relu output as well: its channel order is visible, so no fold.
        let relu = try #require(graph.operations.first { $0.kind == .relu }?.results.first)
        graph.outputs.append(relu)
        let layer = try #require(PrunableLayers.find(in: graph).first { $0.name == "fc2" })
        #expect(ChannelPermutation.fold(for: layer, in: graph) == nil)
    }
}

@Suite struct PermutedStatisticsTests {
    @Test func permutingStatisticsEqualsGatheringThemAgain() throws {
        var graph = permutableModel(seed: 6)
        var random = Random(7)
        let calibration = CalibrationSet(samples: ["x": try tensor([8, 32], random.gaussians(256))])
        let layer = try #require(PrunableLayers.find(in: graph).first { $0.name == "fc2" })
        let before = try #require(try CalibrationStatistics.collect(graph: graph, layers: [layer], calibration: calibration, gram: true).layers["fc2"])
        var permutation = Array(0..<64)
        for index in stride(from: 63, to: 0, by: -1) { permutation.swapAt(index, Int(random.next() % UInt64(index + 1))) }
        try ChannelPermutation.apply(permutation, to: layer, fold: try #require(ChannelPermutation.fold(for: layer, in: graph)), graph: &graph)
        let moved = try #require(PrunableLayers.find(in: graph).first { $0.name == "fc2" })
        let after = try #require(try CalibrationStatistics.collect(graph: graph, layers: [moved], calibration: calibration, gram: true).layers["fc2"])
        for k in 0..<64 {
            #expect(abs(after.sumSquares[0][k] - before.sumSquares[0][permutation[k]]) <= 1e-6 * max(1, before.sumSquares[0][permutation[k]]))
            for l in 0..<64 {
                let expected = before.gram?[0][permutation[k] * 64 + permutation[l]] ?? .nan
                #expect(abs((after.gram?[0][k * 64 + l] ?? .nan) - expected) <= 1e-6 * max(1, abs(expected)))
            }
        }
    }
}
