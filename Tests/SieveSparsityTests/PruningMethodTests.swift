// Tests of the three pruning methods through nm-legalize: lossless on already-N:M weights, the
// reconstruction error order sparsegpt < wanda < magnitude on correlated inputs, and the statistics they use.

import SieveDriver
import SieveFormats
import SieveIR
import SieveInterpreter
import SievePasses
import Testing

/// A two-layer model: x [8, 32] -> matmul (w1 stored [32, 16], no transpose_b) -> relu -> matmul w2 [8, 16] (transpose_b).
func twoLayerModel(w1: [Float], w2: [Float]) -> Graph {
    var graph = Graph(name: "mlp")
    let x = graph.addInput(TensorType([8, 32], .f32), name: "x")
    let a = graph.appendConstant(weight("w1", [32, 16], w1))
    let h = graph.append(.matmul(transposeB: false), [x, a], TensorType([8, 16], .f32), name: "h")
    let r = graph.append(.unary(.relu), [h], TensorType([8, 16], .f32), name: "r")
    let b = graph.appendConstant(weight("w2", [8, 16], w2))
    graph.outputs = [graph.append(.matmul(transposeB: true), [r, b], TensorType([8, 8], .f32), name: "y")]
    return graph
}

/// Calibration inputs for a graph with one input of shape [batch, features]: `samples` rows, where
/// `rank` hidden factors drive every feature (so features correlate), feature j scaled by `scales[j]`.
func correlatedSamples(samples: Int, features: Int, rank: Int, scales: [Double], seed: UInt64) throws -> Tensor {
    var random = Random(seed)
    let basis = (0..<(rank * features)).map { _ in random.gaussian() }
    var values: [Float] = []
    for _ in 0..<samples {
        let factors = (0..<rank).map { _ in random.gaussian() }
        for feature in 0..<features {
            var value = 0.05 * random.gaussian()
            for k in 0..<rank { value += factors[k] * basis[k * features + feature] }
            values.append(Float(value * scales[feature]))
        }
    }
    return try tensor([samples, features], values)
}

@Suite struct PruningMethodTests {
    @Test(arguments: PruneMethod.allCases)
    func alreadyTwoFourWeightsComeOutBitIdentical(_ method: PruneMethod) throws {
        var random = Random(21)
        let pattern = NMPattern(n: 2, m: 4)
        // w1 is stored [K=32, N=16]: make each output column 2:4 along K by building the [16, 32]
        // transpose and transposing it back.
        let w1t = alreadyNM(random.gaussians(16 * 32), reduction: 32, pattern: pattern, seed: 1)
        var w1 = [Float](repeating: 0, count: 512)
        for o in 0..<16 { for i in 0..<32 { w1[i * 16 + o] = w1t[o * 32 + i] } }
        let w2 = alreadyNM(random.gaussians(8 * 16), reduction: 16, pattern: pattern, seed: 2)
        let graph = twoLayerModel(w1: w1, w2: w2)
        let calibration = CalibrationSet(samples: ["x": try tensor([32, 32], random.gaussians(32 * 32))])
        let result = try sparsify(graph, options: SparsifyOptions(prune: method, minWeights: 0), calibration: calibration)

        for constant in result.graph.constants.entries {
            #expect(constant.type.layout == pattern.layout, "\(constant.name) should be nm<2:4>")
        }
        let input = try tensor([8, 32], random.gaussians(256))
        let dense = try run(graph, [input]), sparse = try run(result.graph, [input])
        #expect(dense[0].floats == sparse[0].floats)
        #expect(result.report.layers.allSatisfy { $0.alreadyNM && $0.pattern == "2:4" && $0.keptMagnitudeShare == 1 })
        #expect(result.report.modelRelativeOutputError == 0)
        #expect(result.report.layers.allSatisfy { $0.relativeOutputError == 0 })
    }

    @Test func reconstructionErrorOrdersSparseGPTBelowWandaBelowMagnitude() throws {
        // One layer y = x W^T with W [32, 64]; inputs of rank 6 plus noise, features scaled 0.2..3.
        var random = Random(5)
        let features = 64
        let scales = (0..<features).map { 0.2 + 2.8 * Double(($0 * 37) % features) / Double(features) }
        let samples = try correlatedSamples(samples: 512, features: features, rank: 6, scales: scales, seed: 9)
        var graph = Graph(name: "layer")
        let x = graph.addInput(TensorType([64, features], .f32), name: "x")
        let w = graph.appendConstant(weight("w", [32, features], random.gaussians(32 * features)))
        graph.outputs = [graph.append(.matmul(transposeB: true), [x, w], TensorType([64, 32], .f32), name: "y")]
        let calibration = CalibrationSet(samples: ["x": samples])

        var errors: [PruneMethod: Double] = [:]
        for method in PruneMethod.allCases {
            let result = try sparsify(graph, options: SparsifyOptions(prune: method, minWeights: 0), calibration: calibration)
            #expect(result.graph.constants.entries[0].type.layout == NMPattern(n: 2, m: 4).layout)
            let error: Double = try #require(result.report.modelRelativeOutputError)
            errors[method] = error
            #expect(result.report.layers.first?.relativeOutputError == result.report.modelRelativeOutputError)
        }
        let magnitude = try #require(errors[.magnitude]), wanda = try #require(errors[.wanda])
        let sparsegpt = try #require(errors[.sparsegpt])
        #expect(sparsegpt < wanda, "\(errors)")
        #expect(wanda < magnitude, "\(errors)")
        // Not a near tie: reconstruction should recover a good part of the error.
        #expect(sparsegpt < 0.8 * magnitude, "\(errors)")
    }

    @Test func wandaDiffersFromMagnitudeOnlyWhenNormsAreSkewed() {
        var random = Random(3)
        let matrix = NMMatrixShape(rows: 8, reduction: 16)
        let pattern = NMPattern(n: 2, m: 4)
        let weights = random.gaussians(128).map(Double.init)
        let magnitude = NMPruning.magnitude(weights, matrix: matrix, pattern: pattern)
        let even = NMPruning.wanda(weights, matrix: matrix, pattern: pattern, columnNorms: [[Double](repeating: 3, count: 16)])
        #expect(even == magnitude)
        var skewed = [Double](repeating: 1, count: 16)
        for column in stride(from: 0, to: 16, by: 4) { skewed[column] = 1000 }
        let wanda = NMPruning.wanda(weights, matrix: matrix, pattern: pattern, columnNorms: [skewed])
        #expect(wanda != magnitude)
        // The loud column of every group is always kept.
        for row in 0..<8 { for column in stride(from: 0, to: 16, by: 4) { #expect(wanda[row * 16 + column] == weights[row * 16 + column]) } }
    }

    @Test func sparseGPTWithAnIdentityHessianIsMagnitudePruning() throws {
        var random = Random(4)
        let matrix = NMMatrixShape(rows: 6, reduction: 256)  // two lazy blocks of 128
        let weights = random.gaussians(6 * 256).map(Double.init)
        var identity = [Double](repeating: 0, count: 256 * 256)
        for index in 0..<256 { identity[index * 256 + index] = 2 }
        for pattern in [NMPattern(n: 2, m: 4), NMPattern(n: 4, m: 8), NMPattern(n: 5, m: 16)] {
            let gpt = try NMPruning.sparseGPT(weights, matrix: matrix, pattern: pattern, gram: [identity])
            #expect(gpt == NMPruning.magnitude(weights, matrix: matrix, pattern: pattern), "\(pattern)")
        }
    }

    @Test func sparseGPTLeavesAtMostNNonZerosPerGroupAndReconstructs() throws {
        var random = Random(6)
        let matrix = NMMatrixShape(rows: 4, reduction: 32)
        let weights = random.gaussians(128).map(Double.init)
        let x = try correlatedSamples(samples: 200, features: 32, rank: 3, scales: Array(repeating: 1, count: 32), seed: 2)
        let xs = x.doubles
        var gram = [Double](repeating: 0, count: 32 * 32)
        for row in 0..<200 { for i in 0..<32 { for j in 0..<32 { gram[i * 32 + j] += xs[row * 32 + i] * xs[row * 32 + j] } } }
        let pattern = NMPattern(n: 1, m: 4)
        let gpt = try NMPruning.sparseGPT(weights, matrix: matrix, pattern: pattern, gram: [gram])
        #expect(NMLegalize.firstViolation(gpt, matrix, pattern) == nil)
        let magnitude = NMPruning.magnitude(weights, matrix: matrix, pattern: pattern)
        // Kept values moved (reconstruction), and the output error ||X (W - W')^T|| is smaller.
        #expect(zip(gpt, weights).contains { $0 != 0 && $0 != $1 })
        func error(_ pruned: [Double]) -> Double {
            var total = 0.0
            for row in 0..<200 {
                for o in 0..<4 {
                    var d = 0.0
                    for i in 0..<32 { d += xs[row * 32 + i] * (weights[o * 32 + i] - pruned[o * 32 + i]) }
                    total += d * d
                }
            }
            return total
        }
        #expect(error(gpt) < error(magnitude))
    }

    @Test func statisticsMatchADirectComputationForMatmulAndConvolution() throws {
        var random = Random(8)
        var graph = Graph(name: "g")
        let x = graph.addInput(TensorType([2, 3, 5, 5], .f32), name: "x")
        let w = graph.appendConstant(weight("conv", [4, 3, 3, 3], random.gaussians(108)))
        let attributes = Conv2DAttributes(strides: [2, 1], pads: [1, 0, 1, 1], dilations: [1, 2])
        let y = graph.append(.conv2d(attributes), [x, w], TensorType([2, 4, 3, 2], .f32), name: "y")
        let f = graph.append(.flatten(axis: 1), [y], TensorType([2, 24], .f32), name: "f")
        let v = graph.appendConstant(weight("fc", [24, 5], random.gaussians(120)))
        graph.outputs = [graph.append(.gemm(alpha: 1, beta: 0, transposeA: false, transposeB: false), [f, v], TensorType([2, 5], .f32))]
        try Verifier.verify(graph)
        let input = try tensor([2, 3, 5, 5], random.gaussians(150))
        let layers = PrunableLayers.find(in: graph)
        #expect(layers.map(\.name) == ["conv", "fc"])
        let statistics = try CalibrationStatistics.collect(graph: graph, layers: layers,
                                                           calibration: CalibrationSet(samples: ["x": input]), gram: true)
        // Convolution: column (c, ky, kx) sums x^2 over every image and output pixel (zero where padded).
        let xs = input.doubles
        var expected = [Double](repeating: 0, count: 27)
        var expectedGram = [Double](repeating: 0, count: 27 * 27)
        for image in 0..<2 { for oy in 0..<3 { for ox in 0..<2 {
            var patch = [Double](repeating: 0, count: 27)
            for c in 0..<3 { for ky in 0..<3 { for kx in 0..<3 {
                let iy = oy * 2 - 1 + ky, ix = ox - 0 + kx * 2
                if iy >= 0 && iy < 5 && ix >= 0 && ix < 5 { patch[(c * 3 + ky) * 3 + kx] = xs[((image * 3 + c) * 5 + iy) * 5 + ix] }
            } } }
            for i in 0..<27 {
                expected[i] += patch[i] * patch[i]
                for j in 0..<27 { expectedGram[i * 27 + j] += patch[i] * patch[j] }
            }
        } } }
        let conv = try #require(statistics.layers["conv"])
        #expect(conv.rows == 12)
        for i in 0..<27 { #expect(abs(conv.sumSquares[0][i] - expected[i]) <= 1e-9 * max(1, expected[i])) }
        for i in 0..<(27 * 27) { #expect(abs((conv.gram?[0][i] ?? .nan) - expectedGram[i]) <= 1e-9 * max(1, abs(expectedGram[i]))) }
        // gemm: rows of the flattened conv output.
        let fc = try #require(statistics.layers["fc"])
        #expect(fc.rows == 2 && fc.reduction == 24)
        #expect(fc.gram?[0].count == 24 * 24)
    }

    @Test func wandaAndSparseGPTNeedCalibration() throws {
        let graph = twoLayerModel(w1: Array(repeating: 1, count: 512), w2: Array(repeating: 1, count: 128))
        for method in [PruneMethod.wanda, .sparsegpt] {
            #expect(throws: DiagnosticError.self) {
                try sparsify(graph, options: SparsifyOptions(prune: method, minWeights: 0), calibration: nil)
            }
        }
        let result = try sparsify(graph, options: SparsifyOptions(minWeights: 0), calibration: nil)
        #expect(result.report.notes.contains { $0.contains("only magnitude pruning is available") })
        #expect(result.report.modelRelativeOutputError == nil)
    }
}

@Suite struct ConvolutionPruningTests {
    @Test func groupedConvolutionsPruneWithEveryMethod() throws {
        // conv2d with 2 groups: weight [8, 4, 3, 3], reduction 4*3*3 = 36 per output channel; each half of
        // the output channels reads its own 4 input channels, so statistics are kept per group.
        var random = Random(10)
        var graph = Graph(name: "conv")
        let x = graph.addInput(TensorType([2, 8, 6, 6], .f32), name: "x")
        let w = graph.appendConstant(weight("w", [8, 4, 3, 3], random.gaussians(8 * 36)))
        graph.outputs = [graph.append(.conv2d(Conv2DAttributes(pads: [1, 1, 1, 1], groups: 2)), [x, w],
                                      TensorType([2, 8, 6, 6], .f32), name: "y")]
        // Inputs: correlated pixels; one channel per group is 25x louder than the others, a different one
        // in each group (1 and 2), so statistics mixed up between groups would mislead wanda.
        var values: [Float] = []
        for _ in 0..<8 {
            let base = random.gaussians(36)
            for channel in 0..<8 {
                let scale: Float = channel % 4 == (channel < 4 ? 1 : 2) ? 5 : 0.2
                values += base.map { $0 * scale + Float(random.gaussian() * 0.05) }
            }
        }
        let calibration = CalibrationSet(samples: ["x": try tensor([8, 8, 6, 6], values)])
        var errors: [PruneMethod: Double] = [:]
        for method in PruneMethod.allCases {
            let result = try sparsify(graph, options: SparsifyOptions(prune: method, minWeights: 0), calibration: calibration)
            #expect(result.graph.constants.entries[0].type.layout == NMPattern(n: 2, m: 4).layout)
            let error: Double = try #require(result.report.modelRelativeOutputError)
            errors[method] = error
        }
        let magnitude = try #require(errors[.magnitude]), sparsegpt = try #require(errors[.sparsegpt])
        #expect(sparsegpt < magnitude, "\(errors)")
        #expect(try #require(errors[.wanda]) < magnitude, "\(errors)")
    }
}
