// Tests of matmul, gemm, fused_matmul and conv2d: hand-computed products, NumPy fixtures, and
// convolutions checked against a direct seven-loop implementation written here.

import SieveIR
import SieveTestSupport
import Testing
@testable import SieveInterpreter

/// A small deterministic generator so random cases are the same on every run.
struct SplitMix {
    var generator: SplitMix64
    init(state: UInt64) { generator = SplitMix64(seed: state) }
    /// A Float in [-1, 1).
    mutating func next() -> Float { generator.signedUnitFloat() }
    mutating func tensor(_ shape: [Int]) throws -> Tensor {
        try floats(shape, (0..<shape.reduce(1, *)).map { _ in next() })
    }
}

@Suite struct MatmulTests {
    let a: Tensor
    let b: Tensor
    init() throws {
        a = try floats([2, 3], [1, 2, 3, 4, 5, 6])
        b = try floats([3, 2], [7, 8, 9, 10, 11, 12])
    }

    @Test func plainProduct() throws {
        expectFloats(try evaluate(.matmul(transposeB: false), [a, b]), [58, 64, 139, 154], shape: [2, 2])
    }

    @Test func transposedB() throws {
        let bt = try floats([2, 3], [7, 9, 11, 8, 10, 12])
        expectFloats(try evaluate(.matmul(transposeB: true), [a, bt]), [58, 64, 139, 154], shape: [2, 2])
    }

    @Test func rankOneOperandsDropTheirAxis() throws {
        expectFloats(try evaluate(.matmul(transposeB: false), [floats([3], [1, 2, 3]), b]), [58, 64], shape: [2])
        expectFloats(try evaluate(.matmul(transposeB: false), [a, floats([3], [1, 1, 1])]), [6, 15], shape: [2])
        expectFloats(try evaluate(.matmul(transposeB: false), [floats([3], [1, 2, 3]), floats([3], [1, 2, 3])]), [14], shape: [])
    }

    @Test func batchBroadcastingMatchesNumPy() throws {
        let data = try fixture("matmul_broadcast.npz")
        let result = try evaluate(.matmul(transposeB: false), [try #require(data["a"]), try #require(data["b"])])
        #expect(result.shape == [2, 3, 3, 5])
        expectClose(result, try #require(data["expected"]), rtol: 1e-5, atol: 1e-5)
    }

    @Test func rankOneAgainstBatch() throws {
        // [3] @ [2, 3, 2] -> [2, 2]: the vector multiplies every matrix of the batch.
        let batch = try floats([2, 3, 2], [7, 8, 9, 10, 11, 12, 1, 0, 0, 1, 0, 0])
        expectFloats(try evaluate(.matmul(transposeB: false), [floats([3], [1, 2, 3]), batch]), [58, 64, 1, 2], shape: [2, 2])
    }

    @Test func emptyInnerDimensionGivesZeros() throws {
        let result = try evaluate(.matmul(transposeB: false), [floats([2, 0], []), floats([0, 3], [])])
        expectFloats(result, [0, 0, 0, 0, 0, 0], shape: [2, 3])
    }

    @Test func integerProductIsExactThenWraps() throws {
        let result = try evaluate(.matmul(transposeB: false), [ints([2, 2], [1, 2, 3, 4], .i32), ints([2, 2], [5, 6, 7, 8], .i32)])
        expectInts(result, [19, 22, 43, 50])
        expectInts(try evaluate(.matmul(transposeB: false), [ints([1, 2], [100, 100], .i8), ints([2, 1], [1, 1], .i8)]), [-56])
        let transposed = try evaluate(.matmul(transposeB: true), [ints([1, 2], [1, 2]), ints([2, 2], [3, 4, 5, 6])])
        expectInts(transposed, [11, 17])
    }

    @Test func halfPrecisionAccumulatesInFloat() throws {
        let x = try Tensor(TensorType([1, 2], .f16), floats: [1, 1])
        let y = try Tensor(TensorType([2, 1], .f16), floats: [2048, 1])
        // 2048 + 1 is not representable in f16 and rounds to even: 2048.
        let result = try evaluate(.matmul(transposeB: false), [x, y])
        #expect(result.elementType == .f16)
        expectFloats(result, [2048])
    }
}

@Suite struct GemmTests {
    let product: [Float] = [58, 64, 139, 154]

    @Test func alphaBetaTransposeAAndRowBroadcastC() throws {
        let aT = try floats([3, 2], [1, 4, 2, 5, 3, 6])
        let b = try floats([3, 2], [7, 8, 9, 10, 11, 12])
        let c = try floats([2], [1, 2])
        let result = try evaluate(.gemm(alpha: 2, beta: 0.5, transposeA: true, transposeB: false), [aT, b, c])
        expectFloats(result, [116.5, 129, 278.5, 309], shape: [2, 2])
    }

    @Test func transposeBAndColumnC() throws {
        let a = try floats([2, 3], [1, 2, 3, 4, 5, 6])
        let bT = try floats([2, 3], [7, 9, 11, 8, 10, 12])
        let c = try floats([2, 1], [100, 200])
        let result = try evaluate(.gemm(alpha: 1, beta: 1, transposeA: false, transposeB: true), [a, bT, c])
        expectFloats(result, [158, 164, 339, 354])
    }

    @Test func withoutCAndWithZeroBeta() throws {
        let a = try floats([2, 3], [1, 2, 3, 4, 5, 6])
        let b = try floats([3, 2], [7, 8, 9, 10, 11, 12])
        expectFloats(try evaluate(.gemm(alpha: 1, beta: 1, transposeA: false, transposeB: false), [a, b]), product)
        // beta = 0 ignores C entirely, as ONNX's reference does.
        let c = try floats([], [.infinity])
        expectFloats(try evaluate(.gemm(alpha: 1, beta: 0, transposeA: false, transposeB: false), [a, b, c]), product)
    }

    @Test func transposeBoth() throws {
        let aT = try floats([3, 2], [1, 4, 2, 5, 3, 6])
        let bT = try floats([2, 3], [7, 9, 11, 8, 10, 12])
        expectFloats(try evaluate(.gemm(alpha: 1, beta: 1, transposeA: true, transposeB: true), [aT, bT]), product)
    }

    @Test func integerGemm() throws {
        let a = try ints([2, 2], [1, 2, 3, 4], .i32), b = try ints([2, 2], [5, 6, 7, 8], .i32), c = try ints([2], [1, -1], .i32)
        expectInts(try evaluate(.gemm(alpha: 1, beta: 1, transposeA: false, transposeB: false), [a, b, c]), [20, 21, 44, 49])
        expectInts(try evaluate(.gemm(alpha: 0.5, beta: 1, transposeA: false, transposeB: false), [a, b, c]), [10, 10, 22, 24])
    }
}

@Suite struct FusedMatmulTests {
    @Test func epilogueRunsInOrder() throws {
        let a = try floats([2, 3], [1, 2, 3, 4, 5, 6])
        let b = try floats([3, 2], [7, 8, 9, 10, 11, 12])
        let bias = try floats([1, 2], [-100, -60])
        let residual = try floats([2, 2], [1, 1, 1, 1])
        let kind = OpKind.fusedMatmul(transposeB: false, epilogue: [.bias, .activation(.relu), .residualAdd])
        expectFloats(try evaluate(kind, [a, b, bias, residual]), [1, 5, 40, 95])
        // Residual before the activation gives a different answer: order matters.
        let swapped = OpKind.fusedMatmul(transposeB: false, epilogue: [.bias, .residualAdd, .activation(.relu)])
        expectFloats(try evaluate(swapped, [a, b, bias, residual]), [0, 5, 40, 95])
    }

    @Test func matchesUnfusedOps() throws {
        var random = SplitMix(state: 7)
        let a = try random.tensor([2, 3, 8]), b = try random.tensor([5, 8]), bias = try random.tensor([5])
        let kind = OpKind.fusedMatmul(transposeB: true, epilogue: [.bias, .activation(.gelu(approximateTanh: true)), .activation(.clip(min: -0.1, max: 0.4))])
        let fused = try evaluate(kind, [a, b, bias])
        var unfused = try evaluate(.matmul(transposeB: true), [a, b])
        unfused = try evaluate(.binary(.add), [unfused, bias])
        unfused = try evaluate(.unary(.gelu(approximateTanh: true)), [unfused])
        unfused = try evaluate(.unary(.clip(min: -0.1, max: 0.4)), [unfused])
        expectClose(fused, unfused)
    }
}

/// Direct convolution in Double: the definition, with no im2col and no BLAS.
func naiveConvolution(_ x: Tensor, _ w: Tensor, _ bias: Tensor?, _ attributes: Conv2DAttributes) -> [Float] {
    let xs = x.shape, ws = w.shape
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3])
    let (o, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3])
    let s = attributes.strides, p = attributes.pads, d = attributes.dilations
    let oh = (h + p[0] + p[2] - ((kh - 1) * d[0] + 1)) / s[0] + 1
    let ow = (wd + p[1] + p[3] - ((kw - 1) * d[1] + 1)) / s[1] + 1
    let xv = x.floats ?? [], wv = w.floats ?? [], bv = bias?.floats
    let og = o / attributes.groups
    var y: [Float] = []
    for image in 0..<n {
        for oc in 0..<o {
            let group = oc / og
            for i in 0..<oh {
                for j in 0..<ow {
                    var sum = Double(bv?[oc] ?? 0)
                    for ic in 0..<cg {
                        for ky in 0..<kh {
                            for kx in 0..<kw {
                                let yy = i * s[0] - p[0] + ky * d[0], xx = j * s[1] - p[1] + kx * d[1]
                                guard yy >= 0, yy < h, xx >= 0, xx < wd else { continue }
                                let input = xv[((image * c + group * cg + ic) * h + yy) * wd + xx]
                                sum += Double(input) * Double(wv[((oc * cg + ic) * kh + ky) * kw + kx])
                            }
                        }
                    }
                    y.append(Float(sum))
                }
            }
        }
    }
    return y
}

@Suite struct ConvolutionTests {
    @Test func handComputedPaddedConvolution() throws {
        // 3x3 ones input, 2x2 ones kernel, pad 1 all round: counts of covered cells.
        let x = try floats([1, 1, 3, 3], [Float](repeating: 1, count: 9))
        let w = try floats([1, 1, 2, 2], [1, 1, 1, 1])
        let result = try evaluate(.conv2d(Conv2DAttributes(pads: [1, 1, 1, 1])), [x, w])
        expectFloats(result, [1, 2, 2, 1, 2, 4, 4, 2, 2, 4, 4, 2, 1, 2, 2, 1], shape: [1, 1, 4, 4])
    }

    @Test(arguments: [
        Conv2DAttributes(),
        Conv2DAttributes(strides: [2, 2]),
        Conv2DAttributes(pads: [1, 2, 0, 1]),
        Conv2DAttributes(dilations: [2, 1]),
        Conv2DAttributes(strides: [2, 1], pads: [1, 0, 2, 1], dilations: [1, 2], groups: 2),
        Conv2DAttributes(strides: [1, 2], pads: [1, 1, 1, 1], groups: 4),  // depthwise
    ])
    func matchesDirectLoops(attributes: Conv2DAttributes) throws {
        var random = SplitMix(state: UInt64(attributes.groups * 31 + attributes.strides[0] * 7 + attributes.pads[1]))
        let x = try random.tensor([2, 4, 7, 6])
        let w = try random.tensor([8, 4 / attributes.groups, 3, 2])
        let bias = try random.tensor([8])
        let result = try evaluate(.conv2d(attributes), [x, w, bias])
        let expected = naiveConvolution(x, w, bias, attributes)
        expectClose(result, try floats(result.shape, expected), rtol: 1e-5, atol: 1e-5)
        let withoutBias = try evaluate(.conv2d(attributes), [x, w])
        expectClose(withoutBias, try floats(result.shape, naiveConvolution(x, w, nil, attributes)), rtol: 1e-5, atol: 1e-5)
    }

    @Test func matchesNumPyFixture() throws {
        let data = try fixture("conv_grouped.npz")
        let attributes = Conv2DAttributes(strides: [2, 1], pads: [1, 0, 2, 1], dilations: [1, 2], groups: 2)
        let result = try evaluate(.conv2d(attributes), [try #require(data["x"]), try #require(data["w"]), try #require(data["bias"])])
        expectClose(result, try #require(data["expected"]), rtol: 1e-5, atol: 1e-5)
    }
}
