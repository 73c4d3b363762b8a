// Differential tests: every graph op, dense and N:M, compiled with cc and run, against the interpreter.
// Cases are merged into one artifact per target so the C compiler runs only a few times.
//
// Tolerances: integer and bool results exactly; f32 elementwise and f64-accumulated reductions within
// rtol 1e-5 / atol 1e-6 of the interpreter (which works in double); f32 products with up to 600 terms
// within rtol 1e-5 / atol 1e-4 (accumulation order differs from OpenBLAS); f16/bf16 within one unit
// in the last place of the type (rtol 1e-2).

import Foundation
import SieveCodegenC
import SieveDriver
import SieveFuzz
import SieveInterpreter
import SieveIR
import SieveKernel
import SieveTarget
import Testing

/// One small graph and the tolerance its outputs are compared with.
struct DifferentialCase {
    var name: String
    var text: String
    var rtol: Double = 1e-5
    var atol: Double = 1e-6
    /// Constants to turn into N:M weights.
    var nm: [String: (n: Int, m: Int)] = [:]
}

let productTolerance = (rtol: 1e-5, atol: 1e-4)

/// A case per op (and per lowering path of the products).
let differentialCases: [DifferentialCase] = [
    DifferentialCase(name: "matmul vector tile with row and column tails", text: """
        graph @g(%x: tensor<3x64xf32>) -> tensor<3x40xf32> {
          %w = const @w : tensor<64x40xf32>
          %y = matmul %x, %w : tensor<3x40xf32>
          return %y
        }
        const @w : tensor<64x40xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol),
    DifferentialCase(name: "matmul transposed constant", text: """
        graph @g(%x: tensor<5x48xf32>) -> tensor<5x36xf32> {
          %w = const @w : tensor<36x48xf32>
          %y = matmul %x, %w {transpose_b = true} : tensor<5x36xf32>
          return %y
        }
        const @w : tensor<36x48xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol),
    DifferentialCase(name: "batched broadcast matmul of inputs", text: """
        graph @g(%a: tensor<2x3x7x16xf32>, %b: tensor<3x16x20xf32>) -> tensor<2x3x7x20xf32> {
          %y = matmul %a, %b : tensor<2x3x7x20xf32>
          return %y
        }
        """, rtol: productTolerance.rtol, atol: productTolerance.atol),
    DifferentialCase(name: "matmul transposed input, strided scalar path", text: """
        graph @g(%a: tensor<4x8xf32>, %b: tensor<6x8xf32>) -> tensor<4x6xf32> {
          %y = matmul %a, %b {transpose_b = true} : tensor<4x6xf32>
          return %y
        }
        """, rtol: productTolerance.rtol, atol: productTolerance.atol),
    DifferentialCase(name: "rank-1 matmul operands", text: """
        graph @g(%a: tensor<16xf32>, %b: tensor<2x16xf32>, %v: tensor<16xf32>) -> (tensor<33xf32>, tensor<2xf32>) {
          %w = const @w : tensor<16x33xf32>
          %y = matmul %a, %w : tensor<33xf32>
          %z = matmul %b, %v : tensor<2xf32>
          return %y, %z
        }
        const @w : tensor<16x33xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol),
    DifferentialCase(name: "gemm with alpha, beta, transposes and broadcast C", text: """
        graph @g(%a: tensor<24x5xf32>, %b: tensor<40x24xf32>, %c: tensor<5x1xf32>) -> (tensor<5x40xf32>, tensor<5x40xf32>) {
          %bias = const @bias : tensor<40xf32>
          %y = gemm %a, %b, %bias {alpha = 0.5, beta = 2.0, transpose_a = true, transpose_b = true} : tensor<5x40xf32>
          %z = gemm %a, %b, %c {transpose_a = true, transpose_b = true} : tensor<5x40xf32>
          return %y, %z
        }
        const @bias : tensor<40xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol),
    DifferentialCase(name: "fused matmul epilogues", text: """
        graph @g(%x: tensor<6x32xf32>, %r: tensor<6x48xf32>) -> (tensor<6x48xf32>, tensor<6x48xf32>) {
          %w = const @w : tensor<32x48xf32>
          %bias = const @bias : tensor<1x48xf32>
          %y = fused_matmul %x, %w, %bias, %r {epilogue = [bias, leaky_relu(0.01), clip(-1.0, 6.0), residual_add]} : tensor<6x48xf32>
          %z = fused_matmul %x, %w, %bias {epilogue = [bias, gelu_tanh, relu]} : tensor<6x48xf32>
          return %y, %z
        }
        const @w : tensor<32x48xf32> = splat<0.0>
        const @bias : tensor<1x48xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol),
    // Columns past the last whole vector run as one more vector ending at the last column, overlapping the columns
    // before it (recomputed and stored again, then its epilogue on all of them): a residual add must not count twice.
    // 84 columns leave a packed tail of 20 (16 lanes) or 4 (8 lanes), 23 columns a tile tail of 7 over an input B.
    DifferentialCase(name: "register tile column tails overlapping the columns before them, with epilogues", text: """
        graph @g(%x: tensor<2x7x24xf32>, %r: tensor<2x7x84xf32>, %a: tensor<9x30xf32>, %b: tensor<30x23xf32>) -> (tensor<2x7x84xf32>, tensor<9x23xf32>) {
          %w = const @w : tensor<24x84xf32>
          %bias = const @bias : tensor<84xf32>
          %y = fused_matmul %x, %w, %bias, %r {epilogue = [bias, gelu_tanh, residual_add]} : tensor<2x7x84xf32>
          %z = matmul %a, %b : tensor<9x23xf32>
          return %y, %z
        }
        const @w : tensor<24x84xf32> = splat<0.0>
        const @bias : tensor<84xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol),
    // Packed constant weights (DenseProductSchedule). With vectors of 16 / 8 / 4 lanes the register tile is
    // 8x32 / 6x16 / 6x8 with depth blocks of 256: 19 rows leave a row tail (and two work items of rows), 77
    // columns a tail of 13 / 13 / 5 after the panels, k = 600 two full depth blocks and one of 88.
    DifferentialCase(name: "packed weight register tile: row, column and depth tails", text: """
        graph @g(%x: tensor<19x600xf32>) -> (tensor<19x77xf32>, tensor<19x77xf32>) {
          %w = const @w : tensor<600x77xf32>
          %y = matmul %x, %w : tensor<19x77xf32>
          %v = const @v : tensor<77x600xf32>
          %z = matmul %x, %v {transpose_b = true} : tensor<19x77xf32>
          return %y, %z
        }
        const @w : tensor<600x77xf32> = splat<0.0>
        const @v : tensor<77x600xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol),
    DifferentialCase(name: "packed weight register tile: batched A, fused epilogues, gemm with transposed A", text: """
        graph @g(%x: tensor<2x5x40xf32>, %r: tensor<2x5x70xf32>, %a: tensor<40x9xf32>, %c: tensor<9x1xf32>) -> (tensor<2x5x70xf32>, tensor<9x48xf32>) {
          %w = const @w : tensor<70x40xf32>
          %bias = const @bias : tensor<70xf32>
          %y = fused_matmul %x, %w, %bias, %r {transpose_b = true, epilogue = [bias, gelu_tanh, residual_add]} : tensor<2x5x70xf32>
          %g = const @g : tensor<40x48xf32>
          %z = gemm %a, %g, %c {alpha = 0.5, beta = 2.0, transpose_a = true} : tensor<9x48xf32>
          return %y, %z
        }
        const @w : tensor<70x40xf32> = splat<0.0>
        const @bias : tensor<70xf32> = splat<0.0>
        const @g : tensor<40x48xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol),
    // Streaming (1 to 4 rows): panels of up to 4 vectors, the tail columns after them, epilogues on both.
    DifferentialCase(name: "packed weight stream: batch 1 to 4, column tails, epilogues", text: """
        graph @g(%x: tensor<50xf32>, %x3: tensor<3x50xf32>, %x2: tensor<2x50xf32>, %r: tensor<3x150xf32>) -> (tensor<150xf32>, tensor<3x150xf32>, tensor<2x33xf32>) {
          %w = const @w : tensor<50x150xf32>
          %y = matmul %x, %w : tensor<150xf32>
          %v = const @v : tensor<150x50xf32>
          %bias = const @bias : tensor<150xf32>
          %z = fused_matmul %x3, %v, %bias, %r {transpose_b = true, epilogue = [bias, relu, residual_add]} : tensor<3x150xf32>
          %u = const @u : tensor<50x33xf32>
          %t = gemm %x2, %u {alpha = 2.0} : tensor<2x33xf32>
          return %y, %z, %t
        }
        const @w : tensor<50x150xf32> = splat<0.0>
        const @v : tensor<150x50xf32> = splat<0.0>
        const @bias : tensor<150xf32> = splat<0.0>
        const @u : tensor<50x33xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol),
    // A weight read twice is not packed (it would need two copies): with transpose_b it runs as dot products
    // along k for any number of rows, as does a transposed input.
    DifferentialCase(name: "shared transposed weight and transposed input: dot products for many rows", text: """
        graph @g(%x: tensor<7x40xf32>, %x2: tensor<2x40xf32>, %b: tensor<9x40xf32>) -> (tensor<7x24xf32>, tensor<2x24xf32>, tensor<7x9xf32>) {
          %w = const @w : tensor<24x40xf32>
          %y = matmul %x, %w {transpose_b = true} : tensor<7x24xf32>
          %z = matmul %x2, %w {transpose_b = true} : tensor<2x24xf32>
          %t = matmul %x, %b {transpose_b = true} : tensor<7x9xf32>
          return %y, %z, %t
        }
        const @w : tensor<24x40xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol),
    DifferentialCase(name: "integer matmul and gemm wrap like the interpreter", text: """
        graph @g(%a: tensor<3x8xi32>, %b: tensor<8x5xi32>, %c: tensor<5xi32>, %p: tensor<3x4xi8>, %q: tensor<4x2xi8>) -> (tensor<3x5xi32>, tensor<3x5xi32>, tensor<3x5xi32>, tensor<3x2xi8>) {
          %y = matmul %a, %b : tensor<3x5xi32>
          %z = gemm %a, %b, %c : tensor<3x5xi32>
          %s = gemm %a, %b, %c {alpha = 1.5, beta = -0.5} : tensor<3x5xi32>
          %t = matmul %p, %q : tensor<3x2xi8>
          return %y, %z, %s, %t
        }
        """),
    DifferentialCase(name: "conv2d grouped, strided, padded, dilated, with bias", text: """
        graph @g(%x: tensor<2x4x9x9xf32>) -> (tensor<2x8x5x5xf32>, tensor<2x6x7x3xf32>, tensor<2x4x9x9xf32>) {
          %w = const @w : tensor<8x2x3x3xf32>
          %b = const @b : tensor<8xf32>
          %w2 = const @w2 : tensor<6x4x2x3xf32>
          %w3 = const @w3 : tensor<4x1x3x3xf32>
          %conv = conv2d %x, %w, %b {strides = [2, 2], pads = [1, 1, 1, 1], groups = 2} : tensor<2x8x5x5xf32>
          %conv2 = conv2d %x, %w2 {strides = [1, 3], pads = [0, 1, 0, 0], dilations = [2, 1]} : tensor<2x6x7x3xf32>
          %depthwise = conv2d %x, %w3 {pads = [1, 1, 1, 1], groups = 4} : tensor<2x4x9x9xf32>
          return %conv, %conv2, %depthwise
        }
        const @w : tensor<8x2x3x3xf32> = splat<0.0>
        const @b : tensor<8xf32> = splat<0.0>
        const @w2 : tensor<6x4x2x3xf32> = splat<0.0>
        const @w3 : tensor<4x1x3x3xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol),
    DifferentialCase(name: "conv2d on i32 (ConvInteger's form): grouped, strided, padded with bias; depthwise-shaped and pointwise", text: """
        graph @g(%x: tensor<2x4x7x7xi32>) -> (tensor<2x6x4x4xi32>, tensor<2x4x7x7xi32>, tensor<2x3x7x7xi32>) {
          %w = const @w : tensor<6x2x3x3xi32>
          %b = const @b : tensor<6xi32>
          %w2 = const @w2 : tensor<4x1x3x3xi32>
          %w3 = const @w3 : tensor<3x4x1x1xi32>
          %conv = conv2d %x, %w, %b {strides = [2, 2], pads = [1, 1, 1, 1], groups = 2} : tensor<2x6x4x4xi32>
          %depthwise = conv2d %x, %w2 {pads = [1, 1, 1, 1], groups = 4} : tensor<2x4x7x7xi32>
          %pointwise = conv2d %x, %w3 : tensor<2x3x7x7xi32>
          return %conv, %depthwise, %pointwise
        }
        const @w : tensor<6x2x3x3xi32> = splat<0>
        const @b : tensor<6xi32> = splat<0>
        const @w2 : tensor<4x1x3x3xi32> = splat<0>
        const @w3 : tensor<3x4x1x1xi32> = splat<0>
        """),
    DifferentialCase(name: "conv2d depthwise (vector interior columns, borders, strides, dilations) and pointwise (no im2col)", text: """
        graph @g(%x: tensor<2x3x6x100xf32>) -> (tensor<2x3x6x100xf32>, tensor<2x3x4x98xf32>, tensor<2x3x3x50xf32>, tensor<2x5x6x100xf32>, tensor<2x6x6x100xf32>, tensor<2x3x4x35xf32>) {
          %w3 = const @w3 : tensor<3x1x3x3xf32>
          %b3 = const @b3 : tensor<3xf32>
          %w5 = const @w5 : tensor<3x1x5x5xf32>
          %p = const @p : tensor<5x3x1x1xf32>
          %pb = const @pb : tensor<5xf32>
          %pg = const @pg : tensor<6x1x1x1xf32>
          %same = conv2d %x, %w3, %b3 {pads = [1, 1, 1, 1], groups = 3} : tensor<2x3x6x100xf32>
          %dilated = conv2d %x, %w5 {pads = [3, 1, 3, 5], dilations = [2, 2], groups = 3} : tensor<2x3x4x98xf32>
          %strided = conv2d %x, %w3, %b3 {strides = [2, 2], pads = [1, 1, 1, 1], groups = 3} : tensor<2x3x3x50xf32>
          %pointwise = conv2d %x, %p, %pb : tensor<2x5x6x100xf32>
          %grouped = conv2d %x, %pg {groups = 3} : tensor<2x6x6x100xf32>
          %slice = slice %same {starts = [0, 0, 0, 0], ends = [2, 3, 6, 37], axes = [0, 1, 2, 3], steps = [1, 1, 1, 1]} : tensor<2x3x6x37xf32>
          %narrow = conv2d %slice, %w3 {pads = [0, 0, 0, 0], groups = 3} : tensor<2x3x4x35xf32>
          return %same, %dilated, %strided, %pointwise, %grouped, %narrow
        }
        const @w3 : tensor<3x1x3x3xf32> = splat<0.0>
        const @b3 : tensor<3xf32> = splat<0.0>
        const @w5 : tensor<3x1x5x5xf32> = splat<0.0>
        const @p : tensor<5x3x1x1xf32> = splat<0.0>
        const @pb : tensor<5xf32> = splat<0.0>
        const @pg : tensor<6x1x1x1xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol),
    DifferentialCase(name: "float elementwise with broadcasting", text: """
        graph @g(%a: tensor<2x3x20xf32>, %b: tensor<20xf32>, %c: tensor<2x1x20xbool>) -> (tensor<2x3x20xf32>, tensor<2x3x20xf32>, tensor<2x3x20xf32>, tensor<2x3x20xf32>, tensor<2x3x20xbool>, tensor<2x3x20xf32>, tensor<2x3x20xf32>) {
          %add = add %a, %b : tensor<2x3x20xf32>
          %sub = sub %add, %b : tensor<2x3x20xf32>
          %mul = mul %sub, %a : tensor<2x3x20xf32>
          %div = div %mul, %b : tensor<2x3x20xf32>
          %abs = mul %a, %a : tensor<2x3x20xf32>
          %pow = pow %abs, %b : tensor<2x3x20xf32>
          %eq = equal %a, %sub : tensor<2x3x20xbool>
          %where = where %c, %a, %div : tensor<2x3x20xf32>
          %neg = neg %a : tensor<2x3x20xf32>
          return %div, %pow, %where, %neg, %eq, %add, %mul
        }
        """),
    DifferentialCase(name: "float unary ops and activations", text: """
        graph @g(%a: tensor<4x33xf32>) -> (tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>) {
          %relu = relu %a : tensor<4x33xf32>
          %sigmoid = sigmoid %a : tensor<4x33xf32>
          %tanh = tanh %a : tensor<4x33xf32>
          %erf = erf %a : tensor<4x33xf32>
          %square = mul %a, %a : tensor<4x33xf32>
          %sqrt = sqrt %square : tensor<4x33xf32>
          %exp = exp %a : tensor<4x33xf32>
          %leaky = leaky_relu %a {alpha = 0.1} : tensor<4x33xf32>
          %gelu = gelu %a : tensor<4x33xf32>
          %gelu_tanh = gelu %a {approximate = "tanh"} : tensor<4x33xf32>
          %clip = clip %a {min = -0.5, max = 1.25} : tensor<4x33xf32>
          return %relu, %sigmoid, %tanh, %erf, %sqrt, %exp, %leaky, %gelu, %gelu_tanh, %clip, %square
        }
        """),
    DifferentialCase(name: "integer elementwise, exact and wrapping", text: """
        graph @g(%a: tensor<3x7xi32>, %b: tensor<7xi32>, %i: tensor<3x7xi8>, %u: tensor<3x7xu8>) -> (tensor<3x7xi32>, tensor<3x7xi32>, tensor<3x7xi32>, tensor<3x7xi32>, tensor<3x7xi32>, tensor<3x7xi32>, tensor<3x7xi32>, tensor<3x7xbool>, tensor<3x7xi8>, tensor<3x7xu8>, tensor<3x7xi8>) {
          %divisor = const @keep_divisor : tensor<7xi32>
          %add = add %a, %b : tensor<3x7xi32>
          %sub = sub %a, %b : tensor<3x7xi32>
          %mul = mul %a, %b : tensor<3x7xi32>
          %div = div %a, %divisor : tensor<3x7xi32>
          %pow = pow %a, %b : tensor<3x7xi32>
          %neg = neg %a : tensor<3x7xi32>
          %relu = relu %a : tensor<3x7xi32>
          %eq = equal %a, %b : tensor<3x7xbool>
          %clip = clip %i {min = -2.5, max = 3.5} : tensor<3x7xi8>
          %wrap = mul %u, %u : tensor<3x7xu8>
          %wrap8 = mul %i, %i : tensor<3x7xi8>
          return %add, %sub, %mul, %div, %pow, %neg, %relu, %eq, %clip, %wrap, %wrap8
        }
        const @keep_divisor : tensor<7xi32> = dense<[1, -2, 3, -4, 5, 7, -1]>
        """),
    // The elementwise group of #12: float math, activations (alone and as product epilogues), predicates,
    // comparisons and logic, integer variants and remainders.
    DifferentialCase(name: "elementwise group: float math and activations", text: """
        graph @g(%a: tensor<4x33xf32>, %b: tensor<33xf32>) -> (tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xf32>, tensor<4x33xbool>) {
          %scaled = mul %a, %b : tensor<4x33xf32>
          %abs = abs %a : tensor<4x33xf32>
          %reciprocal = reciprocal %a : tensor<4x33xf32>
          %log = log %abs : tensor<4x33xf32>
          %floor = floor %scaled : tensor<4x33xf32>
          %ceil = ceil %scaled : tensor<4x33xf32>
          %round = round %scaled : tensor<4x33xf32>
          %sign = sign %a : tensor<4x33xf32>
          %sin = sin %scaled : tensor<4x33xf32>
          %cos = cos %scaled : tensor<4x33xf32>
          %hard_swish = hard_swish %scaled : tensor<4x33xf32>
          %elu = elu %a {alpha = 0.5} : tensor<4x33xf32>
          %selu = selu %a {alpha = 1.6732632, gamma = 1.050701} : tensor<4x33xf32>
          %softplus = softplus %scaled : tensor<4x33xf32>
          %softsign = softsign %a : tensor<4x33xf32>
          %mish = mish %scaled : tensor<4x33xf32>
          %celu = celu %a {alpha = 2.0} : tensor<4x33xf32>
          %thresholded = thresholded_relu %a {alpha = 0.5} : tensor<4x33xf32>
          %max = max %a, %b : tensor<4x33xf32>
          %min = min %a, %b : tensor<4x33xf32>
          %prelu = prelu %a, %b : tensor<4x33xf32>
          %fmod = fmod %scaled, %b : tensor<4x33xf32>
          %nan = is_nan %log : tensor<4x33xbool>
          return %abs, %reciprocal, %log, %floor, %ceil, %round, %sign, %sin, %cos, %hard_swish, %elu, %selu, %softplus, %softsign, %mish, %celu, %thresholded, %max, %min, %prelu, %fmod, %scaled, %nan
        }
        """),
    DifferentialCase(name: "elementwise group: activations in product epilogues", text: """
        graph @g(%x: tensor<3x40xf32>) -> (tensor<3x24xf32>, tensor<3x24xf32>, tensor<3x24xf32>) {
          %w = const @w : tensor<24x40xf32>
          %bias = const @bias : tensor<24xf32>
          %y = fused_matmul %x, %w, %bias {transpose_b = true, epilogue = [bias, hard_swish, softplus]} : tensor<3x24xf32>
          %z = fused_matmul %x, %w {transpose_b = true, epilogue = [elu(0.5), mish]} : tensor<3x24xf32>
          %u = fused_matmul %x, %w, %bias {transpose_b = true, epilogue = [bias, selu(1.6732632, 1.050701), softsign, celu(2.0)]} : tensor<3x24xf32>
          return %y, %z, %u
        }
        const @w : tensor<24x40xf32> = splat<0.0>
        const @bias : tensor<24xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol),
    DifferentialCase(name: "elementwise group: integers, comparisons and logic", text: """
        graph @g(%a: tensor<3x7xi32>, %b: tensor<7xi32>, %i: tensor<3x7xi8>, %f: tensor<3x7xf32>, %g: tensor<7xf32>) -> (tensor<3x7xi32>, tensor<3x7xi32>, tensor<3x7xi32>, tensor<3x7xi32>, tensor<3x7xi32>, tensor<3x7xi32>, tensor<3x7xi8>, tensor<3x7xbool>, tensor<3x7xbool>, tensor<3x7xbool>, tensor<3x7xbool>, tensor<3x7xbool>, tensor<3x7xbool>, tensor<3x7xbool>, tensor<3x7xbool>, tensor<3x7xi32>) {
          %divisor = const @keep_divisor : tensor<7xi32>
          %abs = abs %a : tensor<3x7xi32>
          %sign = sign %a : tensor<3x7xi32>
          %max = max %a, %b : tensor<3x7xi32>
          %min = min %a, %b : tensor<3x7xi32>
          %mod = mod %a, %divisor : tensor<3x7xi32>
          %fmod = fmod %a, %divisor : tensor<3x7xi32>
          %abs8 = abs %i : tensor<3x7xi8>
          %greater = greater %a, %b : tensor<3x7xbool>
          %less = less %f, %g : tensor<3x7xbool>
          %ge = greater_or_equal %a, %b : tensor<3x7xbool>
          %le = less_or_equal %f, %g : tensor<3x7xbool>
          %and = and %greater, %less : tensor<3x7xbool>
          %or = or %ge, %le : tensor<3x7xbool>
          %xor = xor %and, %or : tensor<3x7xbool>
          %not = not %xor : tensor<3x7xbool>
          %prelu = prelu %a, %b : tensor<3x7xi32>
          return %abs, %sign, %max, %min, %mod, %fmod, %abs8, %greater, %less, %ge, %le, %and, %or, %xor, %not, %prelu
        }
        const @keep_divisor : tensor<7xi32> = dense<[1, -2, 3, -4, 5, 7, -1]>
        """),
    DifferentialCase(name: "elementwise chains fused into one loop, with broadcast leaves and a half-precision link", text: """
        graph @g(%a: tensor<3x40xf32>, %b: tensor<40xf32>, %h: tensor<3x40xf16>, %i: tensor<3x40xi64>) -> (tensor<3x40xf32>, tensor<3x40xf16>, tensor<3x40xi64>, tensor<3x40xf32>) {
          %e = exp %a : tensor<3x40xf32>
          %s = add %e, %b : tensor<3x40xf32>
          %t = tanh %s : tensor<3x40xf32>
          %c = clip %t {min = -0.5, max = 0.5} : tensor<3x40xf32>
          %m = mul %c, %a : tensor<3x40xf32>
          %hh = mul %h, %h : tensor<3x40xf16>
          %hs = add %hh, %h : tensor<3x40xf16>
          %ii = mul %i, %i : tensor<3x40xi64>
          %is = sub %ii, %i : tensor<3x40xi64>
          %gt = equal %is, %ii : tensor<3x40xbool>
          %fi = cast %is : tensor<3x40xf32>
          %w = where %gt, %fi, %m : tensor<3x40xf32>
          return %m, %hs, %is, %w
        }
        """),
    // Flat f32 chains run on vectors (one-element operands splat), the count % width last elements one by one.
    DifferentialCase(name: "f32 elementwise chains on vectors: hard swish by hand, swish, clamps, tails", text: """
        graph @g(%a: tensor<3x37xf32>, %r: tensor<3x37xf32>, %k: tensor<1xf32>) -> (tensor<3x37xf32>, tensor<3x37xf32>, tensor<3x37xf32>) {
          %three = const @three : tensor<1xf32>
          %six = const @six : tensor<1xf32>
          %p = add %a, %three : tensor<3x37xf32>
          %c = clip %p {min = 0.0, max = 6.0} : tensor<3x37xf32>
          %q = mul %a, %c : tensor<3x37xf32>
          %d = div %q, %six : tensor<3x37xf32>
          %w = mul %d, %k : tensor<3x37xf32>
          %y = add %w, %r : tensor<3x37xf32>
          %g = sigmoid %y : tensor<3x37xf32>
          %s = mul %y, %g : tensor<3x37xf32>
          %n = neg %a : tensor<3x37xf32>
          %h = hard_swish %n : tensor<3x37xf32>
          %l = relu %h : tensor<3x37xf32>
          %m = sub %l, %r : tensor<3x37xf32>
          %o = hard_sigmoid %m {alpha = 0.2, beta = 0.5} : tensor<3x37xf32>
          return %s, %o, %y
        }
        const @three : tensor<1xf32> = dense<[3.0]>
        const @six : tensor<1xf32> = dense<[6.0]>
        """),
    DifferentialCase(name: "casts between floats, integers and bool", text: """
        graph @g(%f: tensor<2x9xf32>, %i: tensor<2x9xi64>, %h: tensor<2x9xf16>) -> (tensor<2x9xi32>, tensor<2x9xbool>, tensor<2x9xf32>, tensor<2x9xi8>, tensor<2x9xf16>, tensor<2x9xbf16>, tensor<2x9xf32>, tensor<2x9xu8>) {
          %scaled = mul %f, %f : tensor<2x9xf32>
          %toInt = cast %scaled : tensor<2x9xi32>
          %toBool = cast %f : tensor<2x9xbool>
          %toFloat = cast %i : tensor<2x9xf32>
          %narrow = cast %i : tensor<2x9xi8>
          %half = cast %f : tensor<2x9xf16>
          %brain = cast %f : tensor<2x9xbf16>
          %widen = cast %h : tensor<2x9xf32>
          %unsigned = cast %i : tensor<2x9xu8>
          return %toInt, %toBool, %toFloat, %narrow, %half, %brain, %widen, %unsigned
        }
        """),
    DifferentialCase(name: "half-precision arithmetic and products", text: """
        graph @g(%a: tensor<3x8xf16>, %b: tensor<8x5xf16>, %c: tensor<3x8xbf16>) -> (tensor<3x8xf16>, tensor<3x5xf16>, tensor<3x8xbf16>) {
          %add = add %a, %a : tensor<3x8xf16>
          %y = matmul %a, %b : tensor<3x5xf16>
          %m = mul %c, %c : tensor<3x8xbf16>
          return %add, %y, %m
        }
        """, rtol: 1e-2, atol: 1e-2),
    DifferentialCase(name: "softmax, layer norm, batch norm, reduce mean", text: """
        graph @g(%x: tensor<2x5x12xf32>, %image: tensor<2x3x4x4xf32>) -> (tensor<2x5x12xf32>, tensor<2x5x12xf32>, tensor<2x5x12xf32>, tensor<2x3x4x4xf32>, tensor<1x5x1xf32>, tensor<5xf32>, tensor<2x5x12xf32>) {
          %scale = const @scale : tensor<12xf32>
          %bias = const @bias : tensor<5x12xf32>
          %gamma = const @gamma : tensor<3xf32>
          %beta = const @beta : tensor<3xf32>
          %mean = const @mean : tensor<3xf32>
          %square = mul %gamma, %gamma : tensor<3xf32>
          %softmax = softmax %x {axis = 1} : tensor<2x5x12xf32>
          %softmax_last = softmax %x {axis = 2} : tensor<2x5x12xf32>
          %ln = layer_norm %x, %scale {axis = 2, epsilon = 1e-05} : tensor<2x5x12xf32>
          %ln2 = layer_norm %x, %scale, %bias {axis = 1, epsilon = 0.001} : tensor<2x5x12xf32>
          %bn = batch_norm %image, %gamma, %beta, %mean, %square {epsilon = 0.001} : tensor<2x3x4x4xf32>
          %rm = reduce_mean %x {axes = [0, 2]} : tensor<1x5x1xf32>
          %rm2 = reduce_mean %x {axes = [0, 2], keep_dims = false} : tensor<5xf32>
          return %softmax, %softmax_last, %ln, %bn, %rm, %rm2, %ln2
        }
        const @scale : tensor<12xf32> = splat<0.0>
        const @bias : tensor<5x12xf32> = splat<0.0>
        const @gamma : tensor<3xf32> = splat<0.0>
        const @beta : tensor<3xf32> = splat<0.0>
        const @mean : tensor<3xf32> = splat<0.0>
        """),
    DifferentialCase(name: "reductions: every reduce function, arg_max/arg_min, cum_sum, top_k, log_softmax", text: """
        graph @g(%x: tensor<3x37x19xf32>, %big: tensor<8x64x40xf32>, %i: tensor<3x37x19xi32>, %b: tensor<5x18xbool>) -> (tensor<3x37xf32>, tensor<3x1x19xf32>, tensor<37xf32>, tensor<3x37x1xf32>, tensor<3x19xf32>, tensor<3x37xf32>, tensor<1x37x1xf32>, tensor<3x19xf32>, tensor<3x37xf32>, tensor<8x40xf32>, tensor<8x64xf32>, tensor<3x37xi32>, tensor<3x19xi32>, tensor<5xbool>, tensor<3x37xi64>, tensor<3x1x19xi64>, tensor<3x37x19xf32>, tensor<3x37x19xi32>, tensor<3x37x5xf32>, tensor<3x5x19xi64>, tensor<3x37x19xf32>, tensor<8x64x40xf32>, tensor<3x37x19xf32>, tensor<40xf32>, tensor<40xf32>) {
          %sum = reduce_sum %x {axes = [2], keep_dims = false} : tensor<3x37xf32>
          %sum_mid = reduce_sum %x {axes = [1]} : tensor<3x1x19xf32>
          %max_outer = reduce_max %x {axes = [0, 2], keep_dims = false} : tensor<37xf32>
          %min = reduce_min %x {axes = [2]} : tensor<3x37x1xf32>
          %prod = reduce_prod %x {axes = [1], keep_dims = false} : tensor<3x19xf32>
          %l1 = reduce_l1 %x {axes = [2], keep_dims = false} : tensor<3x37xf32>
          %l2 = reduce_l2 %x {axes = [0, 2]} : tensor<1x37x1xf32>
          %square = reduce_sum_square %x {axes = [1], keep_dims = false} : tensor<3x19xf32>
          %lse = reduce_log_sum_exp %x {axes = [2], keep_dims = false} : tensor<3x37xf32>
          %lse_mid = reduce_log_sum_exp %big {axes = [1], keep_dims = false} : tensor<8x40xf32>
          %square2 = mul %big, %big : tensor<8x64x40xf32>
          %ls = reduce_log_sum %square2 {axes = [2], keep_dims = false} : tensor<8x64xf32>
          %isum = reduce_sum %i {axes = [2], keep_dims = false} : tensor<3x37xi32>
          %iprod = reduce_max %i {axes = [1], keep_dims = false} : tensor<3x19xi32>
          %any = reduce_max %b {axes = [1], keep_dims = false} : tensor<5xbool>
          %argmax = arg_max %x {axis = 2, keep_dims = false} : tensor<3x37xi64>
          %argmin = arg_min %x {axis = 1, select_last_index = true} : tensor<3x1x19xi64>
          %cs = cum_sum %x {axis = 1, reverse = true} : tensor<3x37x19xf32>
          %ics = cum_sum %i {axis = 2, exclusive = true} : tensor<3x37x19xi32>
          %top = top_k_values %x {k = 5, axis = 2} : tensor<3x37x5xf32>
          %bottom = top_k_indices %x {k = 5, axis = 1, largest = false} : tensor<3x5x19xi64>
          %lsm = log_softmax %x {axis = 1} : tensor<3x37x19xf32>
          %lsm_last = log_softmax %big {axis = 2} : tensor<8x64x40xf32>
          %abs = reduce_l1 %x {axes = []} : tensor<3x37x19xf32>
          // Only the innermost axis kept, over enough elements to be parallel: the block loop is the parallel one.
          %columns = reduce_sum %big {axes = [0, 1], keep_dims = false} : tensor<40xf32>
          %columns_lse = reduce_log_sum_exp %big {axes = [0, 1], keep_dims = false} : tensor<40xf32>
          return %sum, %sum_mid, %max_outer, %min, %prod, %l1, %l2, %square, %lse, %lse_mid, %ls, %isum, %iprod, %any, %argmax, %argmin, %cs, %ics, %top, %bottom, %lsm, %lsm_last, %abs, %columns, %columns_lse
        }
        """),
    DifferentialCase(name: "conv_transpose2d: stride 2 kernel 2, groups, pads (also negative), dilations, output padding", text: """
        graph @g(%x: tensor<2x4x7x9xf32>) -> (tensor<2x6x14x18xf32>, tensor<2x4x24x8xf32>, tensor<2x3x7x9xf32>) {
          %w = const @w : tensor<4x6x2x2xf32>
          %bias = const @bias : tensor<6xf32>
          %wg = const @wg : tensor<4x2x3x3xf32>
          %w1 = const @w1 : tensor<4x3x3x1xf32>
          %up = conv_transpose2d %x, %w, %bias {strides = [2, 2]} : tensor<2x6x14x18xf32>
          %full = conv_transpose2d %x, %wg {strides = [3, 1], pads = [1, 2, -1, 1], dilations = [2, 1], output_padding = [1, 0], groups = 2} : tensor<2x4x24x8xf32>
          %same = conv_transpose2d %x, %w1 {pads = [1, 0, 1, 0]} : tensor<2x3x7x9xf32>
          return %up, %full, %same
        }
        const @w : tensor<4x6x2x2xf32> = splat<0.0>
        const @bias : tensor<6xf32> = splat<0.0>
        const @wg : tensor<4x2x3x3xf32> = splat<0.0>
        const @w1 : tensor<4x3x3x1xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol),
    DifferentialCase(name: "pooling", text: """
        graph @g(%x: tensor<2x3x9x9xf32>) -> (tensor<2x3x5x5xf32>, tensor<2x3x4x4xf32>, tensor<2x3x5x5xf32>, tensor<2x3x1x1xf32>, tensor<2x3x1x1xf32>, tensor<2x3x3x3xf32>) {
          %max = max_pool %x {kernel = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1], ceil_mode = true} : tensor<2x3x5x5xf32>
          %avg = average_pool %x {kernel = [2, 2], strides = [2, 2], count_include_pad = true} : tensor<2x3x4x4xf32>
          %avg2 = average_pool %x {kernel = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1]} : tensor<2x3x5x5xf32>
          %gap = global_average_pool %x : tensor<2x3x1x1xf32>
          %gmp = global_max_pool %x : tensor<2x3x1x1xf32>
          %dilated = max_pool %x {kernel = [2, 2], strides = [3, 3], dilations = [2, 2]} : tensor<2x3x3x3xf32>
          return %max, %avg, %avg2, %gap, %gmp, %dilated
        }
        """),
    DifferentialCase(name: "data movement and views", text: """
        graph @g(%x: tensor<2x3x4xf32>, %y: tensor<2x1x4xf32>) -> (tensor<6x4xf32>, tensor<4x3x2xf32>, tensor<2x12xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x7x4xf32>, tensor<2x3x4xf32>, tensor<2x2x2xf32>, tensor<2x3x4xf32>) {
          %idx = const @keep_index : tensor<3xi64>
          %reshape = reshape %x : tensor<6x4xf32>
          %transpose = transpose %x {permutation = [2, 1, 0]} : tensor<4x3x2xf32>
          %flatten = flatten %x {axis = 1} : tensor<2x12xf32>
          %unsqueeze = unsqueeze %x {axes = [0, 4]} : tensor<1x2x3x4x1xf32>
          %squeeze = squeeze %unsqueeze {axes = [0, 4]} : tensor<2x3x4xf32>
          %expand = expand %y : tensor<2x3x4xf32>
          %concat = concat %x, %expand, %y {axis = 1} : tensor<2x7x4xf32>
          %gather = gather %x, %idx {axis = 1} : tensor<2x3x4xf32>
          %slice = slice %x {starts = [2, 0], ends = [0, 4], axes = [1, 2], steps = [-1, 2]} : tensor<2x2x2xf32>
          return %reshape, %transpose, %flatten, %squeeze, %expand, %concat, %gather, %slice, %x
        }
        const @keep_index : tensor<3xi64> = dense<[2, -3, 1]>
        """),
    DifferentialCase(name: "quantize and dequantize, per tensor and per axis", text: """
        graph @g(%x: tensor<2x3x4xf32>, %q: tensor<2x3x4xi8, quant<axis = 1, scale = [0.5, 0.25, 0.125], zero_point = [0, 1, -1]>>) -> (tensor<2x3x4xf32>, tensor<2x3x4xu8, quant<scale = 0.0625, zero_point = 128>>, tensor<2x3x4xi8, quant<axis = 2, scale = [0.5, 0.25, 0.125, 1.0], zero_point = [0, 1, -1, 3]>>, tensor<2x3x4xf32>) {
          %dq = dequantize %q : tensor<2x3x4xf32>
          %quantized = quantize %x : tensor<2x3x4xu8, quant<scale = 0.0625, zero_point = 128>>
          %axis = quantize %x : tensor<2x3x4xi8, quant<axis = 2, scale = [0.5, 0.25, 0.125, 1.0], zero_point = [0, 1, -1, 3]>>
          %back = dequantize %quantized : tensor<2x3x4xf32>
          return %dq, %quantized, %axis, %back
        }
        """),
    DifferentialCase(name: "outputs that are inputs, constants and views", text: """
        graph @g(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<3xf32>, tensor<6xf32>, tensor<2x3xf32>) {
          %c = const @c : tensor<3xf32>
          %r = reshape %x : tensor<6xf32>
          %s = add %x, %c : tensor<2x3xf32>
          return %x, %c, %r, %s
        }
        const @c : tensor<3xf32> = splat<0.0>
        """),
    DifferentialCase(name: "N:M matmul, weight rows along the reduction (2:4, 2:8, 4:16)", text: """
        graph @g(%x: tensor<3x64xf32>) -> (tensor<3x40xf32>, tensor<3x24xf32>, tensor<3x8xf32>) {
          %w = const @w : tensor<40x64xf32>
          %w8 = const @w8 : tensor<24x64xf32>
          %w16 = const @w16 : tensor<8x64xf32>
          %y = matmul %x, %w {transpose_b = true} : tensor<3x40xf32>
          %y8 = matmul %x, %w8 {transpose_b = true} : tensor<3x24xf32>
          %y16 = matmul %x, %w16 {transpose_b = true} : tensor<3x8xf32>
          return %y, %y8, %y16
        }
        const @w : tensor<40x64xf32> = splat<0.0>
        const @w8 : tensor<24x64xf32> = splat<0.0>
        const @w16 : tensor<8x64xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol, nm: ["w": (2, 4), "w8": (2, 8), "w16": (4, 16)]),
    // Batch-1 products read weights packed in blocks of four rows (NMRowBlockLayout): full chunks of 64 kept values
    // per row, tails (at most an eighth of a row, so k = 1088 for 8 chunks and a tail), rows not a multiple of four, 2:4 (the vector path), 1:4, 2:8 (3-bit fields), 4:8, activation
    // rows 1 to 3, an epilogue and gemm with alpha and beta.
    DifferentialCase(name: "N:M batch-1 products over row-block packed weights", text: """
        graph @g(%x: tensor<1x1088xf32>, %r: tensor<1x10xf32>, %x1: tensor<1x512xf32>, %x3: tensor<3x768xf32>, %a: tensor<2x256xf32>) -> (tensor<1x10xf32>, tensor<1x7xf32>, tensor<3x5xf32>, tensor<3x6xf32>, tensor<2x9xf32>) {
          %w = const @w : tensor<10x1088xf32>
          %bias = const @bias : tensor<10xf32>
          %w1 = const @w1 : tensor<7x512xf32>
          %w28 = const @w28 : tensor<5x768xf32>
          %w48 = const @w48 : tensor<6x768xf32>
          %w4 = const @w4 : tensor<9x256xf32>
          %c = const @c : tensor<9xf32>
          %y = fused_matmul %x, %w, %bias, %r {transpose_b = true, epilogue = [bias, relu, residual_add]} : tensor<1x10xf32>
          %y1 = matmul %x1, %w1 {transpose_b = true} : tensor<1x7xf32>
          %y28 = matmul %x3, %w28 {transpose_b = true} : tensor<3x5xf32>
          %y48 = matmul %x3, %w48 {transpose_b = true} : tensor<3x6xf32>
          %z = gemm %a, %w4, %c {alpha = 0.5, beta = 2.0, transpose_b = true} : tensor<2x9xf32>
          return %y, %y1, %y28, %y48, %z
        }
        const @w : tensor<10x1088xf32> = splat<0.0>
        const @bias : tensor<10xf32> = splat<0.0>
        const @w1 : tensor<7x512xf32> = splat<0.0>
        const @w28 : tensor<5x768xf32> = splat<0.0>
        const @w48 : tensor<6x768xf32> = splat<0.0>
        const @w4 : tensor<9x256xf32> = splat<0.0>
        const @c : tensor<9xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol, nm: ["w": (2, 4), "w1": (1, 4), "w28": (2, 8), "w48": (4, 8), "w4": (2, 4)]),
    DifferentialCase(name: "N:M matmul with groups along output columns, gemm and fused epilogue", text: """
        graph @g(%x: tensor<2x3x32xf32>, %a: tensor<4x32xf32>, %r: tensor<4x16xf32>) -> (tensor<2x3x48xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x24xf32>) {
          %w = const @w : tensor<48x32xf32>
          %g = const @g : tensor<16x32xf32>
          %bias = const @bias : tensor<16xf32>
          %v = const @v : tensor<24x32xf32>
          %y = matmul %x, %w {transpose_b = true} : tensor<2x3x48xf32>
          %z = gemm %a, %g, %bias {alpha = 0.5, beta = 1.5, transpose_b = true} : tensor<4x16xf32>
          %f = fused_matmul %a, %g, %bias, %r {transpose_b = true, epilogue = [bias, relu, residual_add]} : tensor<4x16xf32>
          %u = fused_matmul %a, %v {transpose_b = true, epilogue = [gelu]} : tensor<4x24xf32>
          return %y, %z, %f, %u
        }
        const @w : tensor<48x32xf32> = splat<0.0>
        const @g : tensor<16x32xf32> = splat<0.0>
        const @bias : tensor<16xf32> = splat<0.0>
        const @v : tensor<24x32xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol, nm: ["w": (2, 4), "g": (1, 4), "v": (3, 8)]),
    DifferentialCase(name: "N:M products over vectors of activation rows (transposed in scratch)", text: """
        graph @g(%x: tensor<2x10x32xf32>, %a: tensor<32x17xf32>, %r: tensor<2x10x24xf32>) -> (tensor<2x10x24xf32>, tensor<17x24xf32>) {
          %w = const @w : tensor<24x32xf32>
          %bias = const @bias : tensor<24xf32>
          %y = fused_matmul %x, %w, %bias, %r {transpose_b = true, epilogue = [bias, gelu_tanh, residual_add]} : tensor<2x10x24xf32>
          %z = gemm %a, %w, %bias {alpha = 2.0, beta = 0.5, transpose_a = true, transpose_b = true} : tensor<17x24xf32>
          return %y, %z
        }
        const @w : tensor<24x32xf32> = splat<0.0>
        const @bias : tensor<24xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol, nm: ["w": (2, 4)]),
    // %h stays transposed between the two products (bias and GELU applied along its rows, 40 rows: a vector tail on
    // every target); %g does not (a residual in its epilogue), nor %u (also a graph output), nor %v (read by an add).
    // The four products reading %x share one transposed copy of it, which stays live across the products between them.
    DifferentialCase(name: "N:M products chained through a result kept transposed", text: """
        graph @g(%x: tensor<40x32xf32>, %r: tensor<40x64xf32>) -> (tensor<40x32xf32>, tensor<40x32xf32>, tensor<40x64xf32>, tensor<40x64xf32>) {
          %w1 = const @w1 : tensor<64x32xf32>
          %b1 = const @b1 : tensor<64xf32>
          %w2 = const @w2 : tensor<32x64xf32>
          %b2 = const @b2 : tensor<32xf32>
          %h = fused_matmul %x, %w1, %b1 {transpose_b = true, epilogue = [bias, gelu]} : tensor<40x64xf32>
          %y = fused_matmul %h, %w2, %b2 {transpose_b = true, epilogue = [bias, relu]} : tensor<40x32xf32>
          %g = fused_matmul %x, %w1, %b1, %r {transpose_b = true, epilogue = [bias, residual_add]} : tensor<40x64xf32>
          %z = matmul %g, %w2 {transpose_b = true} : tensor<40x32xf32>
          %u = matmul %x, %w1 {transpose_b = true} : tensor<40x64xf32>
          %uz = matmul %u, %w2 {transpose_b = true} : tensor<40x32xf32>
          %v = matmul %x, %w1 {transpose_b = true} : tensor<40x64xf32>
          %vz = matmul %v, %w2 {transpose_b = true} : tensor<40x32xf32>
          %vs = add %v, %r : tensor<40x64xf32>
          %sum = add %uz, %vz : tensor<40x32xf32>
          return %y, %sum, %u, %vs
        }
        const @w1 : tensor<64x32xf32> = splat<0.0>
        const @b1 : tensor<64xf32> = splat<0.0>
        const @w2 : tensor<32x64xf32> = splat<0.0>
        const @b2 : tensor<32xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol, nm: ["w1": (2, 4), "w2": (2, 4)]),
    DifferentialCase(name: "N:M conv2d over im2col", text: """
        graph @g(%x: tensor<2x4x7x7xf32>) -> (tensor<2x8x6x6xf32>, tensor<2x6x7x7xf32>) {
          %w = const @w : tensor<8x4x3x4xf32>
          %b = const @b : tensor<8xf32>
          %w2 = const @w2 : tensor<6x2x1x8xf32>
          %y = conv2d %x, %w, %b {pads = [1, 1, 0, 1]} : tensor<2x8x6x6xf32>
          %z = conv2d %x, %w2 {pads = [0, 4, 0, 3], groups = 2} : tensor<2x6x7x7xf32>
          return %y, %z
        }
        const @w : tensor<8x4x3x4xf32> = splat<0.0>
        const @b : tensor<8xf32> = splat<0.0>
        const @w2 : tensor<6x2x1x8xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol, nm: ["w": (2, 4), "w2": (2, 8)]),
]

/// Batch-1 N:M products over row blocks large enough to split across threads: 2:4 and 1:4 (the AVX2 in-lane
/// kernel), 2:8 and 4:8, with full chunks and a tail, rows not a multiple of four, 1 and 2 activation rows, a bias
/// epilogue; the batch-1 case of `differentialCases` covers the other shapes.
let rowBlockNMCases: [DifferentialCase] = [
    DifferentialCase(name: "N:M batch-1 row blocks over many blocks, 2:4, 1:4, 2:8, 4:8", text: """
        graph @g(%x: tensor<1x2048xf32>, %t: tensor<1x1088xf32>, %u: tensor<2x1024xf32>) -> (tensor<1x37xf32>, tensor<1x13xf32>, tensor<1x22xf32>, tensor<2x21xf32>, tensor<1x19xf32>, tensor<1x11xf32>) {
          %a = const @a : tensor<37x2048xf32>
          %b = const @b : tensor<13x1088xf32>
          %c = const @c : tensor<22x1088xf32>
          %d = const @d : tensor<21x1024xf32>
          %e = const @e : tensor<19x2048xf32>
          %f = const @f : tensor<11x2048xf32>
          %bias = const @bias : tensor<13xf32>
          %ya = matmul %x, %a {transpose_b = true} : tensor<1x37xf32>
          %yb = fused_matmul %t, %b, %bias {transpose_b = true, epilogue = [bias, relu]} : tensor<1x13xf32>
          %yc = matmul %t, %c {transpose_b = true} : tensor<1x22xf32>
          %yd = matmul %u, %d {transpose_b = true} : tensor<2x21xf32>
          %ye = matmul %x, %e {transpose_b = true} : tensor<1x19xf32>
          %yf = matmul %x, %f {transpose_b = true} : tensor<1x11xf32>
          return %ya, %yb, %yc, %yd, %ye, %yf
        }
        const @a : tensor<37x2048xf32> = splat<0.0>
        const @b : tensor<13x1088xf32> = splat<0.0>
        const @c : tensor<22x1088xf32> = splat<0.0>
        const @d : tensor<21x1024xf32> = splat<0.0>
        const @e : tensor<19x2048xf32> = splat<0.0>
        const @f : tensor<11x2048xf32> = splat<0.0>
        const @bias : tensor<13xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol,
        nm: ["a": (2, 4), "b": (1, 4), "c": (2, 4), "d": (1, 4), "e": (2, 8), "f": (4, 8)]),
]

/// N:M weights whose reduction is not a multiple of M (K = 6, 10, 37 in 2:4, 1:4, 2:8 and 4:8, and a conv2d
/// with C*kH*kW = 27), at batch 1 (nm_dot and its guarded tail) and batch 32 (vectors over activation rows),
/// and a transposed-A gemm (the gather loop): the padded last group must add nothing and read nothing past K.
let paddedNMCases: [DifferentialCase] = {
    let patterns = [(2, 4), (1, 4), (2, 8), (4, 8)]
    var cases: [DifferentialCase] = []
    for batch in [1, 32] {
        var inputs: [String] = [], lines: [String] = [], outputs: [String] = [], results: [String] = [], constants: [String] = []
        var nm: [String: (n: Int, m: Int)] = [:]
        for k in [6, 10, 37] {
            inputs.append("%x\(k): tensor<\(batch)x\(k)xf32>")
            for (n, m) in patterns {
                let name = "w\(k)_\(n)_\(m)", outChannels = 3 + k % 5
                lines.append("  %\(name) = const @\(name) : tensor<\(outChannels)x\(k)xf32>")
                lines.append("  %y\(name) = matmul %x\(k), %\(name) {transpose_b = true} : tensor<\(batch)x\(outChannels)xf32>")
                constants.append("const @\(name) : tensor<\(outChannels)x\(k)xf32> = splat<0.0>")
                outputs.append("%y\(name)")
                results.append("tensor<\(batch)x\(outChannels)xf32>")
                nm[name] = (n, m)
            }
        }
        let text = "graph @g(\(inputs.joined(separator: ", "))) -> (\(results.joined(separator: ", "))) {\n"
            + lines.joined(separator: "\n") + "\n  return \(outputs.joined(separator: ", "))\n}\n" + constants.joined(separator: "\n")
        cases.append(DifferentialCase(name: "padded N:M matmuls, batch \(batch)", text: text,
                                      rtol: productTolerance.rtol, atol: productTolerance.atol, nm: nm))
    }
    cases.append(DifferentialCase(name: "padded N:M conv2d (3*3*3 = 27) and gemm with transposed A", text: """
        graph @g(%x: tensor<2x3x6x6xf32>, %a: tensor<10x5xf32>) -> (tensor<2x5x4x4xf32>, tensor<5x7xf32>) {
          %w = const @w : tensor<5x3x3x3xf32>
          %b = const @b : tensor<5xf32>
          %g = const @g : tensor<7x10xf32>
          %y = conv2d %x, %w, %b : tensor<2x5x4x4xf32>
          %z = gemm %a, %g {alpha = 1.5, transpose_a = true, transpose_b = true} : tensor<5x7xf32>
          return %y, %z
        }
        const @w : tensor<5x3x3x3xf32> = splat<0.0>
        const @b : tensor<5xf32> = splat<0.0>
        const @g : tensor<7x10xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol, nm: ["w": (2, 4), "g": (4, 8)]))
    return cases
}()

/// Builds the reference and compiled graphs of every case and merges them.
func mergedCases(_ cases: [DifferentialCase], seed: UInt64) throws -> (reference: Graph, compiled: Graph, outputRanges: [(DifferentialCase, Range<Int>)]) {
    var references: [Graph] = [], compiled: [Graph] = []
    var ranges: [(DifferentialCase, Range<Int>)] = []
    var outputCount = 0
    for (index, testCase) in cases.enumerated() {
        var graph = try parseGraph(testCase.text)
        randomizeConstants(&graph, seed: seed &+ UInt64(index))
        let (reference, toCompile) = try makeNMPair(graph, nm: testCase.nm)
        references.append(reference)
        compiled.append(toCompile)
        ranges.append((testCase, outputCount..<(outputCount + graph.outputs.count)))
        outputCount += graph.outputs.count
    }
    return (merge(references, name: "reference"), merge(compiled, name: "compiled"), ranges)
}

/// Compiles the merged cases for a target and compares every output with the interpreter.
func checkAgainstInterpreter(_ cases: [DifferentialCase], target: TargetDescription, seed: UInt64, threads: [Int32],
                             backend: TestBackend = .c) throws -> [String] {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    let (reference, compiled, ranges) = try mergedCases(cases, seed: seed)
    return try compareCompiled(reference, compiled, ranges: ranges, seed: seed, target: target, threads: threads,
                               name: "cases", label: "\(target.name) (\(backend.rawValue))", backend: backend, folder: folder)
}

/// Compiles `compiled` for `target`, runs it on random inputs with each thread count and compares every case's
/// outputs (`ranges`) with the interpreter on `reference`; returns the mismatches, labelled.
func compareCompiled(_ reference: Graph, _ compiled: Graph, ranges: [(DifferentialCase, Range<Int>)], seed: UInt64,
                     target: TargetDescription = .native, threads: [Int32], parallelThreshold: Int = 1, name: String,
                     label: String, backend: TestBackend = .c, folder: TemporaryFolder) throws -> [String] {
    var random = SplitMix(seed: seed)
    let inputs = reference.inputs.map { randomTensor(reference.values[$0.index].type, using: &random) }
    let expected = try Interpreter(graph: reference).run(inputs)
    let artifact = try compileAndLoad(compiled, name: name, target: target, parallelThreshold: parallelThreshold, backend: backend,
                                      folder: folder)
    var problems: [String] = []
    for threadCount in threads {
        let actual = try artifact.runOnce(inputs, threads: threadCount)
        for (testCase, range) in ranges {
            problems += compareOutputs(Array(actual[range]), Array(expected[range]), rtol: testCase.rtol, atol: testCase.atol,
                                       label: "\(label), \(threadCount) threads, \(testCase.name)")
        }
    }
    return problems
}

@Suite("Compiled code matches the interpreter")
struct DifferentialTests {
    /// The cases for the convolution forms and the transposed chain only prove something if lowering takes the paths
    /// they were written for; results alone would still match if it fell back to im2col or to transposing.
    @Test("the convolution-form and transposed-chain cases take the paths they cover")
    func casesTakeTheirPaths() throws {
        func patterns(_ prefix: String) throws -> [String] {
            let testCase = try #require(differentialCases.first { $0.name.hasPrefix(prefix) })
            let (_, compiled, _) = try mergedCases([testCase], seed: 1)
            return try lowerToKernels(compiled, options: LoweringOptions(name: "paths", vectorWidth: 16)).kernels.map(\.pattern)
        }
        let convolutions = try patterns("conv2d depthwise")
        #expect(convolutions.filter { $0.hasPrefix("depthwise conv2d") }.count == 4)
        #expect(convolutions.filter { $0.contains("vectors of interior columns") }.count == 3, "the strided one is scalar")
        #expect(convolutions.filter { $0.contains("pointwise conv2d straight over the input planes") }.count == 2)
        #expect(!convolutions.contains { $0.contains("im2col") })
        // The packed weight's 20 tail columns and the 23 columns of the input product end in an overlapping vector.
        let tails = try patterns("register tile column tails overlapping")
        #expect(tails.filter { $0.contains("the 20 tail columns") && $0.contains("the last overlapping") }.count == 1, "\(tails)")
        #expect(tails.filter { $0.hasPrefix("dense matmul, 8x2 register tile") && $0.contains("the last overlapping") }.count == 1, "\(tails)")
        let chain = try patterns("N:M products chained")
        #expect(chain.filter { $0.contains("which stays [64][40]") }.count == 1, "only %h stays transposed")
        // Eight products: every result but %h is transposed back; %x is transposed once for its four readers (%h, %g,
        // %u, %v), and %g, %u and %v once each for theirs; %y reads %h as it stays.
        #expect(chain.filter { $0.hasPrefix("N:M product (2:4)") }.count == 8)
        #expect(chain.filter { $0.hasPrefix("transpose the N:M product back") }.count == 7)
        // %y's bias and relu run on each block of its 40 rows (two of 16, then the 8 past them) as it is transposed back.
        #expect(chain.contains { $0.contains("each block of rows then through the epilogue") }, "\(chain)")
        #expect(chain.filter { $0.hasPrefix("transpose activations") }.count == 4)
        #expect(chain.filter { $0.hasPrefix("transpose activations to [k][rows] for the N:M product and 3 more reading them") }.count == 1)
    }

    @Test("every op, native target, 1 to 4 threads")
    func everyOpNative() throws {
        let problems = try checkAgainstInterpreter(differentialCases, target: .native, seed: 11, threads: [1, 2, 3, 4])
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("every op through the LLVM JIT, native target, 1 and 3 threads")
    func everyOpJIT() throws {
        let problems = try checkAgainstInterpreter(differentialCases + paddedNMCases, target: .native, seed: 11, threads: [1, 3], backend: .jit)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// Both backends run the same runtime helpers (the LLVM one as IR compiled from the same C, without contraction, as
    /// gcc compiles C artifacts), round alike in the kernels and keep the C summation orders: the JIT's results are the
    /// C backend's, bit for bit.
    /// One target only (the C compile of every case is the slow part): the host's, whose helpers take the vector paths.
    @Test("the LLVM JIT gives the C backend's bits, host target", arguments: [TargetDescription.native])
    func jitMatchesCBitForBit(target: TargetDescription) throws {
        let threads: Int32 = 3
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (reference, compiled, ranges) = try mergedCases(differentialCases + paddedNMCases, seed: 31)
        var random = SplitMix(seed: 31)
        let inputs = reference.inputs.map { randomTensor(reference.values[$0.index].type, using: &random) }
        let c = try compileAndLoad(compiled, name: "cases", target: target, parallelThreshold: 1, folder: folder).runOnce(inputs, threads: threads)
        let jit = try compileAndLoad(compiled, name: "cases", target: target, parallelThreshold: 1, backend: .jit, folder: folder)
            .runOnce(inputs, threads: threads)
        var differing: [String] = []
        for (testCase, range) in ranges where range.contains(where: { c[$0].constant(name: "c").bytes != jit[$0].constant(name: "j").bytes }) {
            differing.append(testCase.name)
        }
        #expect(differing.isEmpty, "the JIT's bits differ from C's in: \(differing.joined(separator: ", "))")
    }

    /// The object path (`--backend llvm`, the runtime linked in as IR, libNAME.so linked without cc) on the every-op
    /// cases: the JIT covers the broad sweeps, this the artifact files.
    @Test("every op through sieve compile --backend llvm, native target, 2 threads")
    func everyOpLLVMObject() throws {
        let problems = try checkAgainstInterpreter(differentialCases + paddedNMCases, target: .native, seed: 17, threads: [2], backend: .llvm)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("every op through the LLVM JIT, generic x86-64 target")
    func everyOpJITGeneric() throws {
        let problems = try checkAgainstInterpreter(differentialCases, target: .x86_64, seed: 12, threads: [2], backend: .jit)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("every op and the row-block N:M cases through the LLVM JIT, AVX2 target (needs a CPU with AVX2)",
          .enabled(if: TargetDescription.native.f32Lanes >= 8))
    func everyOpJITAVX2() throws {
        let problems = try checkAgainstInterpreter(differentialCases + rowBlockNMCases, target: .x86_64_v3, seed: 13, threads: [2], backend: .jit)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("N:M weights with a padded reduction, native target, 1 and 2 threads")
    func paddedNMNative() throws {
        let problems = try checkAgainstInterpreter(paddedNMCases, target: .native, seed: 21, threads: [1, 2])
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("every op, generic x86-64 target")
    func everyOpGeneric() throws {
        let problems = try checkAgainstInterpreter(differentialCases, target: .x86_64, seed: 12, threads: [1, 3])
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("every op, AVX-512 target (needs a CPU with AVX-512)", .enabled(if: TargetDescription.native.f32Lanes == 16))
    func everyOpAVX512() throws {
        let problems = try checkAgainstInterpreter(differentialCases, target: .x86_64_v4, seed: 14, threads: [1, 2])
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// The AVX2 batch-1 kernels (row blocks in the in-lane order for 1:4 and 2:4, group order for the others) and
    /// the padded reductions (nm_dot and its tail), with one and two threads.
    @Test("batch-1 N:M and padded reductions, AVX2 target, 1 and 2 threads", .enabled(if: TargetDescription.native.f32Lanes >= 8))
    func batchOneNMAVX2() throws {
        let batchOne = differentialCases.filter { $0.name.hasPrefix("N:M batch-1") }
        #expect(batchOne.count == 1)
        let problems = try checkAgainstInterpreter(batchOne + rowBlockNMCases + paddedNMCases, target: .x86_64_v3, seed: 23, threads: [1, 2])
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("every op, AVX2 target (needs a CPU with AVX2)", .enabled(if: TargetDescription.native.f32Lanes >= 8))
    func everyOpAVX2() throws {
        let problems = try checkAgainstInterpreter(differentialCases, target: .x86_64_v3, seed: 13, threads: [2])
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }
}
