// The interpreter runs nm<N:M> weights bit for bit like the same weights stored dense:
// matmul, gemm and fused_matmul with transpose_b, and conv2d (reduction over C*kH*kW), also when the
// reduction is not a multiple of M and the layout pads it.

import SieveIR
import Testing
@testable import SieveInterpreter

/// Weights with at most N non-zeros per group of M along the reduction, from a fixed seed.
private func nmWeights(count: Int, pattern: NMPattern, seed: UInt64) -> [Float] {
    var state = seed
    func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: state) >> 40) / Float(1 << 23)
    }
    var values = [Float](repeating: 0, count: count)
    for group in 0..<(count / pattern.m) {
        for slot in 0..<pattern.n {
            // Spread the kept slots over the group, shifted per group.
            let position = (slot * (pattern.m / pattern.n) + group) % pattern.m
            values[group * pattern.m + position] = next()
        }
    }
    return values
}

/// Weights of `rows` x `reduction` with at most N non-zeros per group of M along each row, the last group of
/// a row short when M does not divide the reduction (at most min(N, width) non-zeros there).
private func paddedNMWeights(rows: Int, reduction: Int, pattern: NMPattern, seed: UInt64) -> [Float] {
    var state = seed
    func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: state) >> 40) / Float(1 << 23) + 0.25
    }
    var values = [Float](repeating: 0, count: rows * reduction)
    for row in 0..<rows {
        for (group, start) in stride(from: 0, to: reduction, by: pattern.m).enumerated() {
            let width = min(pattern.m, reduction - start)
            for slot in 0..<min(pattern.n, width) {
                values[row * reduction + start + (slot + group + row) % width] = next()
            }
        }
    }
    return values
}

private func runBoth(_ build: (inout Graph, Constant) -> Void, weight: Constant, pattern: NMPattern,
                     inputs: [Tensor]) throws -> (dense: [Tensor], sparse: [Tensor]) {
    var dense = Graph(name: "dense")
    build(&dense, weight)
    var sparse = Graph(name: "sparse")
    build(&sparse, try NMPacking.pack(weight, pattern: pattern))
    try Verifier.verify(dense)
    try Verifier.verify(sparse)
    #expect(sparse.constants.entries[0].type.layout == pattern.layout)
    return (try Interpreter(graph: dense).run(inputs), try Interpreter(graph: sparse).run(inputs))
}

@Suite struct NMInterpreterTests {
    @Test(arguments: [NMPattern(n: 2, m: 4), NMPattern(n: 1, m: 4), NMPattern(n: 4, m: 8), NMPattern(n: 3, m: 16)])
    func matrixProductsAreBitExact(_ pattern: NMPattern) throws {
        let k = 32, n = 6
        let weight = Tensor(unchecked: TensorType([n, k], .f32), storage: .floats(nmWeights(count: n * k, pattern: pattern, seed: 7)))
            .constant(name: "w")
        let x = try floats([3, k], (0..<(3 * k)).map { Float(($0 * 37) % 23) / 7 - 1.5 })
        let bias = try Tensor(TensorType([n], .f32), floats: (0..<n).map { Float($0) / 4 })
        let (dense, sparse) = try runBoth({ graph, constant in
            let input = graph.addInput(TensorType([3, k], .f32), name: "x")
            let b = graph.addInput(TensorType([n], .f32), name: "b")
            let w = graph.appendConstant(constant)
            let y1 = graph.append(.matmul(transposeB: true), [input, w], TensorType([3, n], .f32))
            let y2 = graph.append(.gemm(alpha: 0.5, beta: 1, transposeA: false, transposeB: true), [input, w, b], TensorType([3, n], .f32))
            let y3 = graph.append(.fusedMatmul(transposeB: true, epilogue: [.bias, .activation(.relu)]), [input, w, b], TensorType([3, n], .f32))
            graph.outputs = [y1, y2, y3]
        }, weight: weight, pattern: pattern, inputs: [x, bias])
        #expect(dense.count == 3)
        #expect(dense == sparse.map { Tensor(unchecked: $0.type.plain, storage: $0.storage) })
        // Not vacuous: the product is not all zeros.
        #expect(dense[0].doubles.contains { $0 != 0 })
    }

    @Test(arguments: [NMPattern(n: 2, m: 4), NMPattern(n: 1, m: 4), NMPattern(n: 2, m: 8), NMPattern(n: 4, m: 8), NMPattern(n: 5, m: 16)])
    func paddedReductionsAreBitExact(_ pattern: NMPattern) throws {
        for k in [6, 10, 37] {
            let n = 5
            let weight = try Tensor(TensorType([n, k], .f32), floats: paddedNMWeights(rows: n, reduction: k, pattern: pattern, seed: UInt64(k)))
                .constant(name: "w")
            let x = try floats([3, k], (0..<(3 * k)).map { Float(($0 * 37) % 23) / 7 - 1.5 })
            let bias = try Tensor(TensorType([n], .f32), floats: (0..<n).map { Float($0) / 4 })
            let (dense, sparse) = try runBoth({ graph, constant in
                let input = graph.addInput(TensorType([3, k], .f32), name: "x")
                let b = graph.addInput(TensorType([n], .f32), name: "b")
                let w = graph.appendConstant(constant)
                let y1 = graph.append(.matmul(transposeB: true), [input, w], TensorType([3, n], .f32))
                let y2 = graph.append(.fusedMatmul(transposeB: true, epilogue: [.bias, .activation(.relu)]), [input, w, b], TensorType([3, n], .f32))
                graph.outputs = [y1, y2]
            }, weight: weight, pattern: pattern, inputs: [x, bias])
            #expect(dense == sparse.map { Tensor(unchecked: $0.type.plain, storage: $0.storage) }, "\(pattern), K = \(k)")
            #expect(dense[0].doubles.contains { $0 != 0 })
        }
        // A convolution whose C*kH*kW = 3*3*3 = 27 is padded to a multiple of M.
        let weight = try Tensor(TensorType([4, 3, 3, 3], .f32), floats: paddedNMWeights(rows: 4, reduction: 27, pattern: pattern, seed: 9))
            .constant(name: "w")
        let x = try floats([1, 3, 5, 5], (0..<75).map { Float(($0 * 13) % 17) / 5 - 1 })
        let (dense, sparse) = try runBoth({ graph, constant in
            let input = graph.addInput(TensorType([1, 3, 5, 5], .f32), name: "x")
            let w = graph.appendConstant(constant)
            graph.outputs = [graph.append(.conv2d(Conv2DAttributes(pads: [1, 1, 1, 1])), [input, w], TensorType([1, 4, 5, 5], .f32))]
        }, weight: weight, pattern: pattern, inputs: [x])
        #expect(dense[0].floats == sparse[0].floats)
        #expect(dense[0].doubles.contains { $0 != 0 })
    }

    @Test func convolutionIsBitExact() throws {
        let pattern = NMPattern(n: 2, m: 4)
        let weightType = TensorType([4, 4, 3, 3], .f32)  // reduction 4*3*3 = 36
        let weight = Tensor(unchecked: weightType, storage: .floats(nmWeights(count: 144, pattern: pattern, seed: 3)))
            .constant(name: "w")
        let x = try floats([1, 4, 5, 5], (0..<100).map { Float(($0 * 13) % 17) / 5 - 1 })
        let (dense, sparse) = try runBoth({ graph, constant in
            let input = graph.addInput(TensorType([1, 4, 5, 5], .f32), name: "x")
            let w = graph.appendConstant(constant)
            graph.outputs = [graph.append(.conv2d(Conv2DAttributes(pads: [1, 1, 1, 1])), [input, w], TensorType([1, 4, 5, 5], .f32))]
        }, weight: weight, pattern: pattern, inputs: [x])
        #expect(dense[0].floats == sparse[0].floats)
        #expect(dense[0].doubles.contains { $0 != 0 })
    }

    @Test func nmConstantsUnpackAndRepackThroughTensors() throws {
        let pattern = NMPattern(n: 1, m: 8)
        let values = nmWeights(count: 2 * 16, pattern: pattern, seed: 11)
        let dense = try Tensor(TensorType([2, 16], .f32), floats: values).constant(name: "w")
        let packed = try NMPacking.pack(dense, pattern: pattern)
        let tensor = try Tensor(packed)
        #expect(tensor.floats == values)
        #expect(tensor.type.layout == pattern.layout)
        #expect(tensor.constant(name: "w") == packed)
    }
}
