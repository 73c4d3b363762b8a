// Property tests of nm-legalize's channel permutation over random chains of products: folding a
// permutation never changes the function, and pruning under one never keeps less magnitude.

import SieveIR
import SieveInterpreter
import Testing
@testable import SievePasses

/// Random chains of products (matmul, gemm, fused_matmul, conv2d) with channel-wise ops between them
/// (casts, activations, per-channel constants, pooling), some weights asking to be N:M. Whether a
/// permuted layer's producer is dense, N:M or itself permuted follows from which weights ask.
struct ProductChain {
    var graph: Graph
    var input: Tensor

    /// Widths of matrix products: mostly small, now and then one as wide as a real hidden layer.
    static func width(_ random: inout Random) -> Int {
        let small = [8, 12, 16, 20, 24, 40, 64]
        return random.uniform() < 0.15 ? [256, 512][Int(random.next() % 2)] : small[Int(random.next() % UInt64(small.count))]
    }

    static func pick<T>(_ choices: [T], _ random: inout Random) -> T { choices[Int(random.next() % UInt64(choices.count))] }

    /// A random request for a weight: N:M (mostly 2:4) or none.
    static func request(_ random: inout Random) -> NMPattern? {
        random.uniform() < 0.3 ? nil : pick([NMPattern(n: 2, m: 4), NMPattern(n: 2, m: 4), NMPattern(n: 1, m: 4), NMPattern(n: 4, m: 8)], &random)
    }

    static func constant(_ graph: inout Graph, _ name: String, _ shape: [Int], _ values: [Float], request: NMPattern? = nil) -> ValueID {
        var constant = weight(name, shape, values)
        constant.sparsityRequest = request
        return graph.appendConstant(constant)
    }

    /// x [rows, w0] -> (cast) -> product -> channel-wise ops -> product -> ... Two wide layers in a
    /// row are avoided, so that the search stays cheap in a debug build.
    static func matrix(seed: UInt64) throws -> ProductChain {
        var random = Random(seed)
        let rows = 3
        let layers = 2 + Int(random.next() % 3)
        var widths = [8 + 4 * Int(random.next() % 10)]
        for _ in 0..<layers {
            var next = width(&random)
            if widths.last.map({ $0 > 64 }) ?? false, next > 64 { next = 10 }
            widths.append(next)
        }
        var graph = Graph(name: "chain\(seed)")
        let x = graph.addInput(TensorType([rows, widths[0]], .f32), name: "x")
        var value = x
        if random.uniform() < 0.5 { value = graph.append(.cast, [value], TensorType([rows, widths[0]], .f32)) }
        for layer in 0..<layers {
            let (inputs, outputs) = (widths[layer], widths[layer + 1])
            let type = TensorType([rows, outputs], .f32)
            let scale = 1 / Double(inputs).squareRoot()
            let name = "w\(layer)"
            let values = random.gaussians(inputs * outputs, scale: scale)
            let bias = random.gaussians(outputs, scale: 0.1)
            let request = request(&random)
            switch random.next() % 5 {
            case 0:  // matmul stored [I, O], separate bias add
                let w = constant(&graph, name, [inputs, outputs], values, request: request)
                value = graph.append(.matmul(transposeB: false), [value, w], type)
                let b = constant(&graph, "b\(layer)", pick([[outputs], [1, outputs]], &random), bias)
                value = graph.append(.binary(.add), pick([[value, b], [b, value]], &random), type)
            case 1:  // matmul stored [O, I], no bias
                let w = constant(&graph, name, [outputs, inputs], values, request: request)
                value = graph.append(.matmul(transposeB: true), [value, w], type)
            case 2:  // gemm with its own bias
                let transposed = random.uniform() < 0.5
                let w = constant(&graph, name, transposed ? [outputs, inputs] : [inputs, outputs], values, request: request)
                let b = constant(&graph, "b\(layer)", pick([[outputs], [1, outputs]], &random), bias)
                value = graph.append(.gemm(alpha: pick([1, 0.5], &random), beta: pick([1, 2], &random), transposeA: false,
                                           transposeB: transposed), [value, w, b], type)
            case 3:  // gemm without bias
                let w = constant(&graph, name, [inputs, outputs], values, request: request)
                value = graph.append(.gemm(alpha: 1, beta: 0, transposeA: false, transposeB: false), [value, w], type)
            default:  // fused_matmul with its bias (and perhaps relu) in the epilogue
                let w = constant(&graph, name, [outputs, inputs], values, request: request)
                let b = constant(&graph, "b\(layer)", [outputs], bias)
                let epilogue: [EpilogueStep] = random.uniform() < 0.5 ? [.bias] : [.bias, .activation(.relu)]
                value = graph.append(.fusedMatmul(transposeB: true, epilogue: epilogue), [value, w, b], type)
            }
            guard layer + 1 < layers else { break }
            for step in 0..<Int(random.next() % 4) {
                let tag = "c\(layer).\(step)"
                switch random.next() % 7 {
                case 0: value = graph.append(.unary(.relu), [value], type)
                case 1: value = graph.append(.unary(.leakyRelu(alpha: 0.1)), [value], type)
                case 2: value = graph.append(.cast, [value], type)
                case 3:
                    let c = constant(&graph, tag, pick([[1, outputs], [outputs]], &random), random.gaussians(outputs))
                    value = graph.append(.binary(.mul), pick([[value, c], [c, value]], &random), type)
                case 4:
                    let c = constant(&graph, tag, [outputs], random.gaussians(outputs, scale: 0.2))
                    value = graph.append(.binary(.sub), [value, c], type)
                case 5:
                    let c = constant(&graph, tag, [outputs], random.gaussians(outputs).map { 1 + abs($0) })
                    value = graph.append(.binary(.div), [value, c], type)
                default:
                    // Constant along the channels: left where it is.
                    let c = constant(&graph, tag, [1], [0.05])
                    value = graph.append(.binary(.add), [c, value], type)
                }
            }
        }
        graph.outputs = [value]
        let input = try tensor([rows, widths[0]], random.gaussians(rows * widths[0]))
        return ProductChain(graph: graph, input: input)
    }

    /// x [1, C0, 6, 6] -> conv2d 3x3 or 1x1 (pads keep 6x6) -> per-channel ops (one 2x2 pool at most) -> conv2d -> ...
    static func convolution(seed: UInt64) throws -> ProductChain {
        var random = Random(seed)
        let layers = 2 + Int(random.next() % 2)
        let channels = [3] + (0..<layers).map { _ in pick([8, 12, 16, 32], &random) }
        var graph = Graph(name: "convolutions\(seed)")
        var side = 6
        let x = graph.addInput(TensorType([1, channels[0], side, side], .f32), name: "x")
        var value = graph.append(.cast, [x], TensorType([1, channels[0], side, side], .f32))
        var pooled = false
        for layer in 0..<layers {
            let (inputs, outputs) = (channels[layer], channels[layer + 1])
            let kernel = pick([1, 3, 3], &random)
            let pad = kernel / 2
            let w = constant(&graph, "w\(layer)", [outputs, inputs, kernel, kernel],
                             random.gaussians(outputs * inputs * kernel * kernel, scale: 1 / Double(inputs * kernel * kernel).squareRoot()),
                             request: request(&random))
            var operands = [value, w]
            if random.uniform() < 0.6 { operands.append(constant(&graph, "b\(layer)", [outputs], random.gaussians(outputs, scale: 0.1))) }
            var type = TensorType([1, outputs, side, side], .f32)
            value = graph.append(.conv2d(Conv2DAttributes(pads: [pad, pad, pad, pad])), operands, type)
            guard layer + 1 < layers else { break }
            for step in 0..<Int(random.next() % 4) {
                switch random.next() % 5 {
                case 0: value = graph.append(.unary(.relu), [value], type)
                case 1: value = graph.append(.cast, [value], type)
                case 2:
                    let c = constant(&graph, "c\(layer).\(step)", pick([[outputs, 1, 1], [1, outputs, 1, 1]], &random), random.gaussians(outputs))
                    value = graph.append(.binary(.mul), [value, c], type)
                case 3:
                    let c = constant(&graph, "c\(layer).\(step)", [outputs, 1, 1], random.gaussians(outputs, scale: 0.2))
                    value = graph.append(.binary(.add), [c, value], type)
                default:
                    guard !pooled else { continue }
                    pooled = true
                    side /= 2
                    type = TensorType([1, outputs, side, side], .f32)
                    value = graph.append(.maxPool(Pool2DAttributes(kernel: [2, 2], strides: [2, 2])), [value], type)
                }
            }
        }
        graph.outputs = [value]
        let input = try tensor([1, channels[0], 6, 6], random.gaussians(channels[0] * 36))
        return ProductChain(graph: graph, input: input)
    }

    /// Matrix chains and convolution chains, about two matrix chains to one of convolutions.
    static func all(_ count: Int) throws -> [ProductChain] {
        try (0..<(count - count / 3)).map { try matrix(seed: 100 + UInt64($0)) } + (0..<(count / 3)).map { try convolution(seed: 200 + UInt64($0)) }
    }
}

/// Runs nm-legalize with its requests (magnitude pruning) and returns the graph and its log.
func legalize(_ graph: Graph, permute: Bool) throws -> (Graph, SparsityLog) {
    var result = graph
    var context = PassContext()
    try PassManager(passes: [NMLegalize(permute: permute)]).run(on: &result, context: &context) { _ in }
    try Verifier.verify(result)
    return (result, context.sparsity)
}

@Suite struct PermutationPropertyTests {
    /// Random permutations folded into every layer that allows one, in graph order, so that producers
    /// are dense, N:M (legalised first) or permuted themselves, leave the output where it was.
    @Test func foldingPermutationsKeepsTheFunction() throws {
        var folds = 0, intoNM = 0, intoPermuted = 0
        for (index, chain) in try ProductChain.all(60).enumerated() {
            try Verifier.verify(chain.graph)
            // Half the requested weights N:M without permutations; the rest stays dense and may be permuted.
            var random = Random(300 + UInt64(index))
            var requested = chain.graph
            for constant in requested.constants.entries.indices where random.uniform() < 0.5 {
                requested.constants.entries[constant].sparsityRequest = nil
            }
            var (graph, _) = try legalize(requested, permute: false)
            let expected = try run(graph, [chain.input])[0]
            var permuted: Set<String> = []
            for layer in PrunableLayers.find(in: graph) {
                guard let current = PrunableLayers.find(in: graph).first(where: { $0.name == layer.name }),
                      graph.constants[current.constant]?.type.layout == .dense,
                      let fold = ChannelPermutation.fold(for: current, in: graph) else { continue }
                let count = ChannelPermutation.channels(of: current).count
                var permutation = Array(0..<count)
                for slot in stride(from: count - 1, to: 0, by: -1) { permutation.swapAt(slot, Int(random.next() % UInt64(slot + 1))) }
                try ChannelPermutation.apply(permutation, to: current, fold: fold, graph: &graph)
                try Verifier.verify(graph)
                folds += 1
                if graph.constants[fold.producer.constant]?.type.layout != .dense { intoNM += 1 }
                if permuted.contains(fold.producer.name) { intoPermuted += 1 }
                permuted.insert(current.name)
            }
            let actual = try run(graph, [chain.input])[0]
            #expect(actual.allClose(expected, rtol: 1e-5, atol: 1e-5),
                    "chain \(index): max difference \(actual.maxAbsDifference(expected) ?? .nan)\n\(graph)")
        }
        // The chains cover every kind of producer.
        #expect(folds >= 40 && intoNM >= 10 && intoPermuted >= 10, "\(folds) folds, \(intoNM) into N:M producers, \(intoPermuted) into permuted ones")
    }

    /// With pruning, each layer keeps at least the magnitude it keeps without permutations, and the
    /// emitted graph computes what the original graph computes with the pruned weights put back in the
    /// original channel order (so every fold, biases and scales included, was carried out in full).
    @Test func pruningUnderPermutationsKeepsMoreAndStaysConsistent() throws {
        var permutedLayers = 0
        for (index, chain) in try ProductChain.all(21).enumerated() {
            let (plain, _) = try legalize(chain.graph, permute: false)
            let (permuted, log) = try legalize(chain.graph, permute: true)
            let plainLayers = Dictionary(PrunableLayers.find(in: plain).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            var restored = chain.graph
            for layer in PrunableLayers.find(in: permuted) {
                let plainLayer = try #require(plainLayers[layer.name])
                let weights = try PrunableLayers.weightMatrix(permuted, layer)
                let kept = weights.reduce(0) { $0 + abs($1) }
                let keptPlain = try PrunableLayers.weightMatrix(plain, plainLayer).reduce(0) { $0 + abs($1) }
                #expect(kept >= keptPlain * (1 - 1e-12), "chain \(index), \(layer.name): kept \(kept) < \(keptPlain) without permutation")
                let original = try #require(PrunableLayers.find(in: restored).first { $0.name == layer.name })
                let inOriginalOrder = try log.channelOrders[layer.name].map { try $0.restoring(weights, of: layer) } ?? weights
                try PrunableLayers.replaceWeight(&restored, original, matrix: inOriginalOrder, pattern: nil)
                if log.channelOrders[layer.name]?.input != nil { permutedLayers += 1 }
            }
            let actual = try run(permuted, [chain.input])[0], expected = try run(restored, [chain.input])[0]
            #expect(actual.allClose(expected, rtol: 1e-5, atol: 1e-5),
                    "chain \(index): max difference \(actual.maxAbsDifference(expected) ?? .nan)")
        }
        #expect(permutedLayers >= 10, "only \(permutedLayers) layers were permuted")
    }
}
