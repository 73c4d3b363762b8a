// Tests of nm-legalize's input-channel permutation: folding it into the producer keeps the function,
// the search raises the magnitude N:M keeps, and illegal cases are left alone.

import SieveDriver
import SieveFormats
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
    let a = graph.append(.binary(.add), [h, b], TensorType([4, 64], .f32), name: "a")
    let r = graph.append(.unary(.relu), [a], TensorType([4, 64], .f32), name: "r")
    let s = graph.appendConstant(weight("scale", [1, 64], random.gaussians(64, scale: 1)))
    let m = graph.append(.binary(.mul), [s, r], TensorType([4, 64], .f32), name: "m")
    let w2 = graph.appendConstant(weight("fc2", [64, 16], random.gaussians(64 * 16, scale: 0.3)))
    graph.outputs = [graph.append(.matmul(transposeB: false), [m, w2], TensorType([4, 16], .f32), name: "y")]
    return graph
}

/// x [2, 3, 10, 10] -> conv1 [16, 3, 3, 3] + bias -> + shift [16, 1, 1] -> relu -> max pool 2x2 -> conv2
/// [8, 16/groups, 3, 3] (reduction 144/groups: kH·kW = 9 columns per channel, groups of 4 straddle channels).
func permutableConvolutionModel(seed: UInt64, groups: Int = 1) -> Graph {
    var random = Random(seed)
    var graph = Graph(name: "cnn")
    let x = graph.addInput(TensorType([2, 3, 10, 10], .f32), name: "x")
    let w1 = graph.appendConstant(weight("conv1", [16, 3, 3, 3], random.gaussians(16 * 27, scale: 0.3)))
    let b1 = graph.appendConstant(weight("bias1", [16], random.gaussians(16, scale: 0.1)))
    let h = graph.append(.conv2d(Conv2DAttributes(pads: [1, 1, 1, 1])), [x, w1, b1], TensorType([2, 16, 10, 10], .f32), name: "h")
    let shift = graph.appendConstant(weight("shift", [16, 1, 1], random.gaussians(16, scale: 0.2)))
    let a = graph.append(.binary(.add), [h, shift], TensorType([2, 16, 10, 10], .f32), name: "a")
    let r = graph.append(.unary(.relu), [a], TensorType([2, 16, 10, 10], .f32), name: "r")
    let p = graph.append(.maxPool(Pool2DAttributes(kernel: [2, 2], strides: [2, 2])), [r], TensorType([2, 16, 5, 5], .f32), name: "p")
    // Rows of very different scale per input channel, so that where channels meet in a group matters.
    let scales = (0..<16).map { Float(1 + ($0 * 7) % 5) }
    let values = random.gaussians(8 * (16 / groups) * 9, scale: 0.3).enumerated().map { index, value in
        value * scales[(index / 9) % (16 / groups)]
    }
    let w2 = graph.appendConstant(weight("conv2", [8, 16 / groups, 3, 3], values))
    graph.outputs = [graph.append(.conv2d(Conv2DAttributes(groups: groups)), [p, w2], TensorType([2, 8, 3, 3], .f32), name: "y")]
    return graph
}

@Suite struct ConvolutionPermutationTests {
    @Test func foldingIntoTheProducingConvolutionKeepsTheFunction() throws {
        var graph = permutableConvolutionModel(seed: 11)
        try Verifier.verify(graph)
        let original = graph
        let layer = try #require(PrunableLayers.find(in: graph).first { $0.name == "conv2" })
        let fold = try #require(ChannelPermutation.fold(for: layer, in: graph))
        #expect(fold.producer.name == "conv1")
        #expect(Set(fold.channelConstants.compactMap { graph.constants[$0]?.name }) == ["bias1", "shift"])
        var random = Random(12)
        var permutation = Array(0..<16)
        for index in stride(from: 15, to: 0, by: -1) { permutation.swapAt(index, Int(random.next() % UInt64(index + 1))) }
        try ChannelPermutation.apply(permutation, to: layer, fold: fold, graph: &graph)
        try Verifier.verify(graph)
        #expect(graph != original)
        let input = try tensor([2, 3, 10, 10], random.gaussians(600))
        let before = try run(original, [input])[0], after = try run(graph, [input])[0]
        #expect(before.doubles.contains { $0 != 0 })
        #expect(after.allClose(before, rtol: 1e-5, atol: 1e-5), "max difference \(after.maxAbsDifference(before) ?? .nan)")
    }

    @Test func channelSearchRaisesTheKeptMagnitude() {
        var random = Random(13)
        for (pattern, block) in [(NMPattern(n: 2, m: 4), 9), (NMPattern(n: 1, m: 4), 9), (NMPattern(n: 2, m: 8), 3), (NMPattern(n: 2, m: 4), 1)] {
            let channels = 12
            let matrix = NMMatrixShape(rows: 6, reduction: channels * block)
            let weights = random.gaussians(6 * channels * block).enumerated().map { Double($1) * Double(1 + ($0 / block) % 4) }
            let permutation = ChannelPermutation.searchChannels(weights, matrix: matrix, pattern: pattern, block: block)
            #expect(permutation.sorted() == Array(0..<channels))
            let magnitudes = weights.map(abs)
            let before = ChannelPermutation.keptMagnitude(magnitudes, matrix: matrix, pattern: pattern, permutation: Array(0..<(channels * block)))
            let after = ChannelPermutation.keptMagnitude(magnitudes, matrix: matrix, pattern: pattern,
                                                         permutation: ChannelPermutation.columns(permutation, block: block))
            #expect(after > before, "\(pattern), \(block) columns per channel: \(before) -> \(after)")
        }
    }

    @Test func permuteKeepsMoreMagnitudeEndToEndAndTheFunctionWithoutPruning() throws {
        let graph = permutableConvolutionModel(seed: 14)
        var random = Random(15)
        let input = try tensor([2, 3, 10, 10], random.gaussians(600))
        var shares: [Bool: Double] = [:]
        for permute in [false, true] {
            var result = graph
            var context = PassContext()
            let passes = try PassRegistry.parsePipeline("nm-legalize{pattern=2:4,permute=\(permute)}")
            try PassManager(passes: passes).run(on: &result, context: &context) { _ in }
            let record = try #require(context.sparsity.records.first { $0.name == "conv2" })
            shares[permute] = record.keptMagnitudeShare
            if permute { #expect(record.reason.contains("folded into conv1"), "\(record.reason)") }
        }
        let plain = try #require(shares[false]), permuted = try #require(shares[true])
        #expect(permuted > plain, "\(shares)")

        // The permutation alone (no pruning: weights stay dense) leaves the function unchanged.
        var permutedOnly = graph
        var layer = try #require(PrunableLayers.find(in: permutedOnly).first { $0.name == "conv2" })
        var weights = try PrunableLayers.weightMatrix(permutedOnly, layer)
        var statistics: [String: LayerActivationStatistics] = [:]
        let note = try NMLegalize(permute: true).permuteInputChannels(of: &layer, weights: &weights, pattern: NMPattern(n: 2, m: 4),
                                                                      statistics: &statistics, graph: &permutedOnly).note
        #expect(note.contains("folded into conv1"), "\(note)")
        try Verifier.verify(permutedOnly)
        #expect(permutedOnly != graph)
        let before = try run(graph, [input])[0], after = try run(permutedOnly, [input])[0]
        #expect(after.allClose(before, rtol: 1e-5, atol: 1e-5), "max difference \(after.maxAbsDifference(before) ?? .nan)")
    }

    @Test func groupedConvolutionsAreNotPermuted() throws {
        let graph = permutableConvolutionModel(seed: 16, groups: 2)
        try Verifier.verify(graph)
        let layer = try #require(PrunableLayers.find(in: graph).first { $0.name == "conv2" })
        #expect(ChannelPermutation.fold(for: layer, in: graph) == nil)
        var result = graph
        var context = PassContext()
        try PassManager(passes: try PassRegistry.parsePipeline("nm-legalize{pattern=2:4,permute=true}")).run(on: &result, context: &context) { _ in }
        let record = try #require(context.sparsity.records.first { $0.name == "conv2" })
        #expect(record.reason.contains("grouped convolution"), "\(record.reason)")
        #expect(record.legalized)
    }

    @Test func permutingConvolutionStatisticsEqualsGatheringThemAgain() throws {
        var graph = permutableConvolutionModel(seed: 18)
        var random = Random(19)
        let calibration = CalibrationSet(samples: ["x": try tensor([4, 3, 10, 10], random.gaussians(1200))])
        let layer = try #require(PrunableLayers.find(in: graph).first { $0.name == "conv2" })
        let before = try #require(try CalibrationStatistics.collect(graph: graph, layers: [layer], calibration: calibration, gram: true).layers["conv2"])
        var permutation = Array(0..<16)
        for index in stride(from: 15, to: 0, by: -1) { permutation.swapAt(index, Int(random.next() % UInt64(index + 1))) }
        try ChannelPermutation.apply(permutation, to: layer, fold: try #require(ChannelPermutation.fold(for: layer, in: graph)), graph: &graph)
        let moved = try #require(PrunableLayers.find(in: graph).first { $0.name == "conv2" })
        let after = try #require(try CalibrationStatistics.collect(graph: graph, layers: [moved], calibration: calibration, gram: true).layers["conv2"])
        // What nm-legalize does to statistics: permute their columns by the column permutation.
        let columns = ChannelPermutation.columns(permutation, block: 9)
        let n = columns.count
        #expect(n == 144)
        for k in 0..<n {
            #expect(abs(after.sumSquares[0][k] - before.sumSquares[0][columns[k]]) <= 1e-6 * max(1, before.sumSquares[0][columns[k]]))
            for l in stride(from: 0, to: n, by: 7) {
                let expected = before.gram?[0][columns[k] * n + columns[l]] ?? .nan
                #expect(abs((after.gram?[0][k * n + l] ?? .nan) - expected) <= 1e-6 * max(1, abs(expected)))
            }
        }
    }

    @Test func aPoolOutputReadTwiceCannotBePermuted() throws {
        var graph = permutableConvolutionModel(seed: 17)
        let pooled = try #require(graph.operations.first { if case .maxPool = $0.kind { return true } else { return false } }?.results.first)
        graph.outputs.append(pooled)
        let layer = try #require(PrunableLayers.find(in: graph).first { $0.name == "conv2" })
        #expect(ChannelPermutation.fold(for: layer, in: graph) == nil)
    }
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
        let relu = try #require(graph.operations.first { $0.kind == .unary(.relu) }?.results.first)
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
