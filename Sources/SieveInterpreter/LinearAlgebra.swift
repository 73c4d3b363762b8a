// Matrix products and convolution: matmul, gemm, fused_matmul and conv2d (im2col + GEMM).
// Float products go through OpenBLAS `cblas_sgemm`; integer products are exact in Int64 and then wrap.

import COpenBLAS
import SieveIR

/// `c = alpha * op(a) * op(b) + beta * c` for row-major matrices, through OpenBLAS.
///
/// `a`, `b` and `c` point at the first element of each matrix; `lda`, `ldb`, `ldc` are row lengths.
private func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                   _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
                   beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
    guard m > 0, n > 0 else { return }
    guard k > 0 else {
        // BLAS leaves empty products to the implementation; an empty sum is zero.
        for row in 0..<m { for column in 0..<n { c[row * ldc + column] = beta == 0 ? 0 : beta * c[row * ldc + column] } }
        return
    }
    if transposeB {
        // B is copied untransposed so that a product gives the same bits whichever way its weight is
        // stored: BLAS sums in a different order for a transposed B, and nm-legalize stores [N, K].
        var untransposed = [Float](repeating: 0, count: k * n)
        untransposed.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            // In tiles of 32x32, so that neither side is walked with a stride of a whole row per element.
            let tile = 32
            for columnStart in stride(from: 0, to: n, by: tile) {
                for innerStart in stride(from: 0, to: k, by: tile) {
                    for column in columnStart..<min(columnStart + tile, n) {
                        for inner in innerStart..<min(innerStart + tile, k) { base[inner * n + column] = b[column * ldb + inner] }
                    }
                }
            }
        }
        untransposed.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), base, Int32(n), beta, c, Int32(ldc))
        }
        return
    }
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Refuses products whose dimensions do not fit BLAS's 32-bit integers.
private func requireBLASSize(_ dims: Int...) throws {
    if let large = dims.first(where: { $0 > Int(Int32.max) }) {
        throw EvaluationError("dimension \(large) is too large for the BLAS interface (at most \(Int32.max))")
    }
}

/// The geometry of a batched matrix product after ONNX's rank-1 promotion.
private struct ProductShape {
    var m: Int, n: Int, k: Int
    /// For each broadcast batch, the batch index in A and in B.
    var batchA: [Int], batchB: [Int]

    init(a: [Int], b: [Int], transposeB: Bool) throws {
        // A rank-1 A is a row vector and a rank-1 B a column vector; the type rule drops the added axes.
        let a2 = a.count == 1 ? [1] + a : a
        let b2 = b.count == 1 ? b + [1] : b
        guard a2.count >= 2, b2.count >= 2 else { throw EvaluationError("matrix product operands need rank 1 or more") }
        m = a2[a2.count - 2]
        k = a2[a2.count - 1]
        n = transposeB ? b2[b2.count - 2] : b2[b2.count - 1]
        let shapeA = Array(a2.dropLast(2)), shapeB = Array(b2.dropLast(2))
        guard let batch = broadcastShapes(shapeA, shapeB) else {
            throw EvaluationError("batch dimensions \(shapeA) and \(shapeB) do not broadcast")
        }
        batchA = broadcastMap(from: shapeA, to: batch)
        batchB = broadcastMap(from: shapeB, to: batch)
    }
}

/// Float product `[batch, m, n]` of A and B (B read transposed when asked), not yet rounded.
private func floatProduct(_ a: [Float], _ b: [Float], _ shape: ProductShape, transposeB: Bool) throws -> [Float] {
    let (m, n, k) = (shape.m, shape.n, shape.k)
    try requireBLASSize(m, n, k)
    var c = [Float](repeating: 0, count: shape.batchA.count * m * n)
    guard !c.isEmpty else { return c }
    if k == 0 { return c }
    a.withUnsafeBufferPointer { aBuffer in
        b.withUnsafeBufferPointer { bBuffer in
            c.withUnsafeMutableBufferPointer { cBuffer in
                guard let aBase = aBuffer.baseAddress, let bBase = bBuffer.baseAddress,
                      let cBase = cBuffer.baseAddress else { return }
                for batch in shape.batchA.indices {
                    sgemm(transposeA: false, transposeB: transposeB, m: m, n: n, k: k, alpha: 1,
                          aBase + shape.batchA[batch] * m * k, lda: k,
                          bBase + shape.batchB[batch] * k * n, ldb: transposeB ? k : n,
                          beta: 0, cBase + batch * m * n, ldc: n)
                }
            }
        }
    }
    return c
}

/// Exact integer product `[batch, m, n]`, wrapping on Int64 overflow.
private func integerProduct(_ a: [Int64], _ b: [Int64], _ shape: ProductShape, transposeB: Bool) -> [Int64] {
    let (m, n, k) = (shape.m, shape.n, shape.k)
    var c = [Int64](repeating: 0, count: shape.batchA.count * m * n)
    for batch in shape.batchA.indices {
        let aBase = shape.batchA[batch] * m * k, bBase = shape.batchB[batch] * k * n, cBase = batch * m * n
        for row in 0..<m {
            for column in 0..<n {
                var sum: Int64 = 0
                for inner in 0..<k {
                    let bIndex = transposeB ? column * k + inner : inner * n + column
                    sum = sum &+ a[aBase + row * k + inner] &* b[bBase + bIndex]
                }
                c[cBase + row * n + column] = sum
            }
        }
    }
    return c
}

/// ONNX MatMul: batched, broadcast over leading axes, with rank-1 operands promoted and the added axes dropped.
func matrixProduct(_ a: Tensor, _ b: Tensor, transposeB: Bool, resultType: TensorType) throws -> Tensor {
    let shape = try ProductShape(a: a.shape, b: b.shape, transposeB: transposeB)
    if a.elementType.isFloat {
        return floatResult(resultType, try floatProduct(a.floatValues, b.floatValues, shape, transposeB: transposeB))
    }
    return integerResult(resultType, integerProduct(a.integerValues, b.integerValues, shape, transposeB: transposeB))
}

/// ONNX Gemm: `alpha * op(A) * op(B) + beta * C` with C broadcast to `[M, N]`.
///
/// Integer Gemm is exact when alpha and beta are 1; otherwise it is computed in Double and
/// truncated toward zero, since ONNX gives no integer meaning to fractional factors.
func gemm(_ operands: [Tensor], alpha: Float, beta: Float, transposeA: Bool, transposeB: Bool,
          resultType: TensorType) throws -> Tensor {
    let a = operands[0], b = operands[1]
    let m = resultType.shape[0], n = resultType.shape[1]
    let k = transposeA ? a.shape[0] : a.shape[1]
    let c = operands.count == 3 ? operands[2] : nil
    if a.elementType.isFloat {
        try requireBLASSize(m, n, k)
        var result = [Float](repeating: 0, count: m * n)
        let aValues = a.floatValues, bValues = b.floatValues
        aValues.withUnsafeBufferPointer { aBuffer in
            bValues.withUnsafeBufferPointer { bBuffer in
                result.withUnsafeMutableBufferPointer { cBuffer in
                    guard let aBase = aBuffer.baseAddress, let bBase = bBuffer.baseAddress,
                          let cBase = cBuffer.baseAddress else { return }
                    sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                          aBase, lda: a.shape[1], bBase, ldb: b.shape[1], beta: 0, cBase, ldc: n)
                }
            }
        }
        if let c, beta != 0 {
            // As in ONNX's reference, C is ignored when beta is 0 (so NaN in C does not leak through).
            let cValues = Tensor(unchecked: c.type, storage: c.storage(broadcastTo: [m, n])).floatValues
            for index in result.indices { result[index] += beta * cValues[index] }
        }
        return floatResult(resultType, result)
    }

    let aValues = a.integerValues, bValues = b.integerValues
    let cValues = c.map { Tensor(unchecked: $0.type, storage: $0.storage(broadcastTo: [m, n])).integerValues }
    var result = [Int64](repeating: 0, count: m * n)
    for row in 0..<m {
        for column in 0..<n {
            var sum: Int64 = 0
            for inner in 0..<k {
                let aIndex = transposeA ? inner * m + row : row * k + inner
                let bIndex = transposeB ? column * k + inner : inner * n + column
                sum = sum &+ aValues[aIndex] &* bValues[bIndex]
            }
            let index = row * n + column
            let addend = cValues?[index] ?? 0
            if alpha == 1 && (beta == 1 || cValues == nil) {
                result[index] = sum &+ addend
            } else {
                let exact = Double(alpha) * Double(sum) + Double(beta) * Double(addend)
                result[index] = toInt64(exact.rounded(.towardZero))
            }
        }
    }
    return integerResult(resultType, result)
}

/// The dynamic int8 product (`DynamicInt8`) before its epilogue: each row of `a` ([rows, k]) quantized to u8 with
/// its own parameters, exact integer sums against the i8 weight `w` ([n, k]), dequantized by row and channel scale.
public func dynamicInt8Product(_ a: [Float], _ w: [Int64], scales: [Float], rows: Int, n: Int, k: Int,
                               activations: ActivationQuantization = .perRow) -> [Float] {
    let quantized = DynamicInt8.quantizedRows(floats: a, integers: nil, type: TensorType([rows, k], .f32), rows: rows, k: k,
                                              scheme: activations)
    return int8Product(quantized, w, scales: scales, rows: rows, n: n, k: k)
}

/// The integer product of quantized activation rows by i8 weights `[n, k]`, exact, dequantized per row and channel.
public func int8Product(_ a: (scales: [Float], zeroPoints: [Int64], values: [Int64]), _ w: [Int64], scales: [Float],
                 rows: Int, n: Int, k: Int) -> [Float] {
    let sums = int8Sums(a, w, rows: rows, n: n, k: k)
    var result = [Float](repeating: 0, count: rows * n)
    for row in 0..<rows {
        for column in 0..<n { result[row * n + column] = Float(sums[row * n + column]) * (a.scales[row] * scales[column]) }
    }
    return result
}

/// The exact integer sums `(q − zero point) · w` of quantized activation rows by i8 weights `[n, k]`, `[rows, n]`.
func int8Sums(_ a: (scales: [Float], zeroPoints: [Int64], values: [Int64]), _ w: [Int64], rows: Int, n: Int, k: Int) -> [Int64] {
    var result = [Int64](repeating: 0, count: rows * n)
    for row in 0..<rows {
        let zeroPoint = a.zeroPoints[row]
        for column in 0..<n {
            var sum: Int64 = 0
            for inner in 0..<k { sum += (a.values[row * k + inner] - zeroPoint) * w[column * k + inner] }
            result[row * n + column] = sum
        }
    }
    return result
}

/// Exact int8 sums requantized to the result's 8-bit type (`DynamicInt8.requantize`): channel `c` (of `channels`,
/// found as `(index / pixels) % channels`) by `activationScale · weightScales[c] / resultScale`.
func requantizedResult(_ sums: [Int64], activationScale: Float, weightScales: [Float], channels: Int, pixels: Int,
                       resultType: TensorType) throws -> Tensor {
    guard let quant = resultType.quant, let range = resultType.elementType.integerRange else {
        throw EvaluationError("requantization needs an 8-bit result type with one scale and zero point")
    }
    let multipliers = weightScales.map {
        DynamicInt8.requantizationMultiplier(activationScale: activationScale, weightScale: $0, resultScale: quant.scales[0])
    }
    let values = sums.indices.map { index in
        DynamicInt8.requantize(sums[index], multiplier: multipliers[(index / max(1, pixels)) % max(1, channels)],
                               zeroPoint: quant.zeroPoints[0], range: range)
    }
    return integerResult(resultType, values)
}

/// Matrix product followed by its epilogue steps in order, all in f32 and rounded once at the end.
/// With a quantized weight it is the dynamic int8 product (`DynamicInt8`).
func fusedMatrixProduct(_ operands: [Tensor], transposeB: Bool, epilogue: [EpilogueStep],
                        activations: ActivationQuantization = .perRow, resultType: TensorType) throws -> Tensor {
    var values: [Float]
    if let quant = operands[1].type.quant {
        let a = operands[0], k = operands[1].shape[1], n = operands[1].shape[0]
        let rows = DynamicInt8.productRows(activations: a.type.elementCount ?? 0, k: k, results: resultType.elementCount ?? 0, n: n)
        let float = a.elementType.isFloat
        let quantized = DynamicInt8.quantizedRows(floats: float ? a.floatValues : nil, integers: float ? nil : a.integerValues,
                                                  type: a.type, rows: rows, k: k, scheme: activations)
        if epilogue == [.requantize] {
            let sums = int8Sums(quantized, operands[1].integerValues, rows: rows, n: n, k: k)
            return try requantizedResult(sums, activationScale: quantized.scales.first ?? 1, weightScales: quant.scales,
                                         channels: n, pixels: 1, resultType: resultType)
        }
        values = int8Product(quantized, operands[1].integerValues, scales: quant.scales, rows: rows, n: n, k: k)
    } else {
        let shape = try ProductShape(a: operands[0].shape, b: operands[1].shape, transposeB: transposeB)
        values = try floatProduct(operands[0].floatValues, operands[1].floatValues, shape, transposeB: transposeB)
    }
    var next = 2
    for step in epilogue {
        switch step {
        case .bias, .residualAdd:
            // The type rule has checked the shapes: a bias broadcasts along rows, a residual matches exactly.
            guard operands.indices.contains(next) else { throw EvaluationError("epilogue needs operand \(next)") }
            let addend = operands[next]
            let addendValues = Tensor(unchecked: addend.type, storage: addend.storage(broadcastTo: resultType.shape)).floatValues
            for index in values.indices { values[index] += addendValues[index] }
            next += 1
        case let .activation(function):
            values = values.map { apply(function, $0) }
        case .quantize:
            // The last step (the type rule checks it): the f32 values quantized as the `quantize` op does.
            return try quantize(floatResult(TensorType(resultType.shape, .f32), values), resultType: resultType)
        case .requantize:
            throw EvaluationError("requantize is the only step of an int8 product")
        }
    }
    return floatResult(resultType, values)
}

/// ONNX Conv for 2-D NCHW input and OIHW weights, by lowering each (image, group) to one GEMM
/// over an im2col matrix of shape `[C/groups * KH * KW, OH * OW]`.
func convolution(_ operands: [Tensor], attributes: Conv2DAttributes, resultType: TensorType) throws -> Tensor {
    if let weightQuant = operands[1].type.quant {
        return try int8Convolution(operands, weight: weightQuant, attributes: attributes, resultType: resultType)
    }
    if !operands[0].elementType.isFloat { return integerConvolution(operands, attributes: attributes, resultType: resultType) }
    let x = operands[0].floatValues, w = operands[1].floatValues
    let (batch, channels, height, width) = (operands[0].shape[0], operands[0].shape[1], operands[0].shape[2], operands[0].shape[3])
    let (outChannels, groupChannels, kernelH, kernelW) = (operands[1].shape[0], operands[1].shape[1], operands[1].shape[2], operands[1].shape[3])
    let (outH, outW) = (resultType.shape[2], resultType.shape[3])
    let groups = attributes.groups
    let groupOutChannels = outChannels / groups
    let patch = groupChannels * kernelH * kernelW
    let pixels = outH * outW
    let (strideH, strideW) = (attributes.strides[0], attributes.strides[1])
    let (dilationH, dilationW) = (attributes.dilations[0], attributes.dilations[1])
    let (padTop, padLeft) = (attributes.pads[0], attributes.pads[1])
    try requireBLASSize(groupOutChannels, pixels, patch)

    var output = [Float](repeating: 0, count: batch * outChannels * pixels)
    var columns = [Float](repeating: 0, count: patch * pixels)
    for image in 0..<batch {
        for group in 0..<groups {
            for channel in 0..<groupChannels {
                let inputPlane = (image * channels + group * groupChannels + channel) * height * width
                for ky in 0..<kernelH {
                    for kx in 0..<kernelW {
                        let row = (channel * kernelH + ky) * kernelW + kx
                        for oy in 0..<outH {
                            let iy = oy * strideH - padTop + ky * dilationH
                            for ox in 0..<outW {
                                let ix = ox * strideW - padLeft + kx * dilationW
                                let inside = iy >= 0 && iy < height && ix >= 0 && ix < width
                                columns[row * pixels + oy * outW + ox] = inside ? x[inputPlane + iy * width + ix] : 0
                            }
                        }
                    }
                }
            }
            w.withUnsafeBufferPointer { wBuffer in
                columns.withUnsafeBufferPointer { columnBuffer in
                    output.withUnsafeMutableBufferPointer { outBuffer in
                        guard let wBase = wBuffer.baseAddress, let columnBase = columnBuffer.baseAddress,
                              let outBase = outBuffer.baseAddress else { return }
                        sgemm(transposeA: false, transposeB: false, m: groupOutChannels, n: pixels, k: patch, alpha: 1,
                              wBase + group * groupOutChannels * patch, lda: patch, columnBase, ldb: pixels,
                              beta: 0, outBase + (image * outChannels + group * groupOutChannels) * pixels, ldc: pixels)
                    }
                }
            }
        }
    }
    if operands.count == 3 {
        let bias = operands[2].floatValues
        for image in 0..<batch {
            for channel in 0..<outChannels {
                let base = (image * outChannels + channel) * pixels
                for pixel in 0..<pixels { output[base + pixel] += bias[channel] }
            }
        }
    }
    return floatResult(resultType, output)
}

/// The int8 conv2d (`DynamicInt8.convolutionProblem`): an f32 input quantized per tensor first, then the exact
/// integer sums of `(xq − zero point) · w` (padding counting as the zero point, so adding nothing), each dequantized
/// as `f32(acc) * (scale * weightScale[o])`, then the f32 bias; with a stated 8-bit result, the sums plus the i32 bias
/// requantized (`DynamicInt8.requantize`).
private func int8Convolution(_ operands: [Tensor], weight: QuantParams, attributes: Conv2DAttributes,
                             resultType: TensorType) throws -> Tensor {
    let x = operands[0], count = x.type.elementCount ?? 0
    let float = x.elementType.isFloat
    let quantized = DynamicInt8.quantizedRows(floats: float ? x.floatValues : nil, integers: float ? nil : x.integerValues,
                                              type: x.type, rows: count == 0 ? 0 : 1, k: count, scheme: .perTensor)
    let zeroPoint = quantized.zeroPoints.first ?? 0, scale = quantized.scales.first ?? 1
    let shifted = Tensor(unchecked: TensorType(x.shape, .i64), storage: .integers(quantized.values.map { $0 - zeroPoint }))
    let channels = resultType.shape[1], pixels = resultType.shape[2] * resultType.shape[3]
    if !resultType.elementType.isFloat {
        // Requantizing (a stated 8-bit result): the i32 bias joins the exact sums.
        let sums = integerConvolution([shifted, operands[1]] + operands.dropFirst(2), attributes: attributes,
                                      resultType: TensorType(resultType.shape, .i64)).integerValues
        return try requantizedResult(sums, activationScale: scale, weightScales: weight.scales, channels: channels, pixels: pixels,
                                     resultType: resultType)
    }
    let sums = integerConvolution([shifted, operands[1]], attributes: attributes, resultType: TensorType(resultType.shape, .i64)).integerValues
    let bias = operands.count == 3 ? operands[2].floatValues : nil
    var values = [Float](repeating: 0, count: sums.count)
    for index in sums.indices {
        let channel = (index / max(1, pixels)) % channels
        values[index] = Float(sums[index]) * (scale * weight.scales[channel])
        if let bias { values[index] += bias[channel] }
    }
    return floatResult(resultType, values)
}

/// Integer conv2d (the zero-point-shifted i32 form of ONNX ConvInteger and QLinearConv): a direct loop nest, exact
/// in Int64 and wrapped to the result type; padding reads as 0.
private func integerConvolution(_ operands: [Tensor], attributes: Conv2DAttributes, resultType: TensorType) -> Tensor {
    let x = operands[0].integerValues, w = operands[1].integerValues
    let bias = operands.count == 3 ? operands[2].integerValues : nil
    let (batch, channels, height, width) = (operands[0].shape[0], operands[0].shape[1], operands[0].shape[2], operands[0].shape[3])
    let (outChannels, groupChannels, kernelH, kernelW) = (operands[1].shape[0], operands[1].shape[1], operands[1].shape[2], operands[1].shape[3])
    let (outH, outW) = (resultType.shape[2], resultType.shape[3])
    let groupOutChannels = outChannels / attributes.groups
    var output = [Int64](repeating: 0, count: batch * outChannels * outH * outW)
    for image in 0..<batch {
        for channel in 0..<outChannels {
            let firstInput = (channel / groupOutChannels) * groupChannels
            for oy in 0..<outH {
                for ox in 0..<outW {
                    var sum = bias?[channel] ?? 0
                    for inner in 0..<groupChannels {
                        for ky in 0..<kernelH {
                            let iy = oy * attributes.strides[0] - attributes.pads[0] + ky * attributes.dilations[0]
                            guard iy >= 0 && iy < height else { continue }
                            for kx in 0..<kernelW {
                                let ix = ox * attributes.strides[1] - attributes.pads[1] + kx * attributes.dilations[1]
                                guard ix >= 0 && ix < width else { continue }
                                let input = x[((image * channels + firstInput + inner) * height + iy) * width + ix]
                                sum = sum &+ input &* w[((channel * groupChannels + inner) * kernelH + ky) * kernelW + kx]
                            }
                        }
                    }
                    output[((image * outChannels + channel) * outH + oy) * outW + ox] = sum
                }
            }
        }
    }
    return integerResult(resultType, output)
}
