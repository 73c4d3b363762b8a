// The dynamic int8 product: fused_matmul of f32 activations by an i8 weight quantized per output channel.
// Its exact integer semantics, shared by the type rule, the interpreter, the quantize pass and lowering.

/// How a quantized product quantizes its f32 activations at run time.
public enum ActivationQuantization: String, Hashable, Sendable, CaseIterable {
    /// Each row with its own scale and zero point (`--quantize int8`): the default, printed as nothing.
    case perRow = "per_row"
    /// One scale and zero point for the whole tensor, as ONNX DynamicQuantizeLinear computes them (imported
    /// DynamicQuantizeLinear + MatMulInteger groups and com.microsoft DynamicQuantizeMatMul).
    case perTensor = "per_tensor"
}

/// The facts of the dynamic int8 product, `fused_matmul %a, %w` with f32 `a` and an i8 `w` of type
/// `tensor<N x K x i8[, nm<N:M>], quant<axis = 0, scale = [...], zero_point = [0, ...]>>` read with `transpose_b`.
///
/// Each activation row is quantized on the fly to u8 with its own scale and zero point (`activations =
/// "per_row"`, the default), or the whole tensor with one (`"per_tensor"`, as ONNX DynamicQuantizeLinear does);
/// the product accumulates `(q - zero point) * w` exactly in integers, and the epilogue dequantizes:
/// `y[r][n] = f32(acc[r][n]) * (rowScale[r] * weightScale[n])`, then the usual bias, activation and residual
/// steps in f32.
///
/// The static form reads activations quantized already: `a` is i8 or u8 with one scale and zero point in its
/// type (a `quantize` op's result, or a quantized input), and `rowScale[r]` is that scale for every row. An
/// imported QDQ product (`DequantizeLinear` of a constant int8 weight times a QuantizeLinear→DequantizeLinear
/// activation) and `--activations static` take this form.
public enum DynamicInt8 {
    /// The longest reduction whose sums stay exact in int32: |q − zp| ≤ 255 and |w| ≤ 128, so
    /// `K · 255 · 128 < 2^31` holds for K up to 65 793.
    public static let maxReduction = Int(Int32.max) / (255 * 128)

    /// The activation rows of an int8 product: its activations' elements over K, or, over an empty reduction (K = 0,
    /// every sum 0), its results' elements over N (the activations then hold no element to count rows by).
    public static func productRows(activations: Int, k: Int, results: Int, n: Int) -> Int {
        k > 0 ? activations / k : n > 0 ? results / n : 0
    }

    /// Whether a fused_matmul with these operand types is a dynamic int8 product (its weight is quantized).
    public static func isDynamicInt8(weight: TensorType) -> Bool { weight.quant != nil }

    /// Why these operands do not form a dynamic int8 product, or nil when they do.
    public static func problem(activations: TensorType, weight: TensorType, transposeB: Bool,
                               scheme: ActivationQuantization = .perRow) -> String? {
        if activations.elementType == .i8 || activations.elementType == .u8 {
            guard let quant = activations.quant, quant.axis == nil, quant.scales.count == 1 else {
                return "quantized activations need one scale and zero point for the whole tensor, found \(activations)"
            }
            guard scheme == .perRow else {
                return "activations that are already quantized take no activations = \"\(scheme.rawValue)\""
            }
        } else if activations.elementType != .f32 {
            return "a quantized weight needs f32 activations or i8/u8 activations quantized per tensor, found \(activations.elementType)"
        }
        guard weight.elementType == .i8, let quant = weight.quant else {
            return "a quantized product weight must be i8 with quantization parameters, found \(weight.elementType)"
        }
        guard transposeB, weight.rank == 2 else {
            return "a quantized weight must be 2-D and read as [N, K] with transpose_b = true"
        }
        guard quant.axis == 0, quant.scales.count == weight.shape[0] else {
            return "a quantized weight needs one scale per output channel (axis = 0, \(weight.shape[0]) scales)"
        }
        guard quant.zeroPoints.allSatisfy({ $0 == 0 }) else {
            return "a quantized weight must be symmetric (zero points 0)"
        }
        guard weight.shape[1] <= maxReduction else {
            return "a reduction of \(weight.shape[1]) exceeds \(maxReduction), the longest the int32 accumulation keeps exact"
        }
        return nil
    }

    /// Why these operands do not form an int8 convolution, or nil when they do.
    ///
    /// The int8 convolution is `conv2d %xq, %w [, %bias]` with `xq` i8 or u8 quantized per tensor (scale `s`, zero
    /// point `z`) and `w` an i8 `[O, C/groups, KH, KW]` weight quantized per output channel, symmetric; its result is
    /// f32: `y[n][o][p] = f32(acc) * (s * wScale[o]) + bias[o]` with `acc` the exact integer sum of `(xq − z) · w` over
    /// the patch, a padded cell counting as `z` (as the dequantized input's 0 does). It is the static int8 product
    /// over im2col rows, and what fuse-qdq makes of an imported QDQ Conv. With an f32 input, the whole tensor is first
    /// quantized to u8 with one scale and zero point as ONNX DynamicQuantizeLinear does (`quantizedRows` per tensor):
    /// what the importer makes of quantize_dynamic's DynamicQuantizeLinear → ConvInteger → Cast → Mul groups.
    public static func convolutionProblem(input: TensorType, weight: TensorType) -> String? {
        if input.elementType != .f32 {
            guard input.elementType == .i8 || input.elementType == .u8, let quant = input.quant, quant.axis == nil,
                  quant.scales.count == 1 else {
                return "an int8 conv2d needs f32 input, or i8 or u8 input quantized per tensor (one scale and zero point), found \(input)"
            }
        }
        guard weight.elementType == .i8, let weightQuant = weight.quant, weight.rank == 4 else {
            return "an int8 conv2d weight must be a 4-D i8 tensor with quantization parameters, found \(weight)"
        }
        guard weight.layout == .dense else { return "an int8 conv2d weight must be dense, found \(weight)" }
        guard weightQuant.axis == 0, weightQuant.scales.count == weight.shape[0] else {
            return "an int8 conv2d weight needs one scale per output channel (axis = 0, \(weight.shape[0]) scales)"
        }
        guard weightQuant.zeroPoints.allSatisfy({ $0 == 0 }) else {
            return "an int8 conv2d weight must be symmetric (zero points 0)"
        }
        let patch = weight.shape.dropFirst().reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        guard patch <= maxReduction else {
            return "a patch of \(patch) exceeds \(maxReduction), the longest reduction the int32 accumulation keeps exact"
        }
        return nil
    }

    /// The multiplier that requantizes an int8 product's exact sums straight to 8 bits (the `requantize` epilogue step, a
    /// conv2d with a stated u8 or i8 result): `activation_scale · weight_scale / result_scale` in f32, in that order,
    /// as ONNX Runtime computes it for QLinearMatMul and QLinearConv.
    public static func requantizationMultiplier(activationScale: Float, weightScale: Float, resultScale: Float) -> Float {
        activationScale * weightScale / resultScale
    }

    /// One requantized sum: `saturate(round_half_even(f32(sum) · multiplier) + zeroPoint)` into `range`, as ONNX
    /// Runtime's requantization (its clamp before rounding to integer bounds is the same saturation); NaN (an infinite
    /// multiplier times 0, which the importer refuses but textual IR can state) gives the zero point, as the kernels'.
    public static func requantize(_ sum: Int64, multiplier: Float, zeroPoint: Int64, range: ClosedRange<Int64>) -> Int64 {
        let scaled = (Float(sum) * multiplier).rounded(.toNearestOrEven)
        if scaled.isNaN { return min(max(zeroPoint, range.lowerBound), range.upperBound) }
        let value = Double(scaled) + Double(zeroPoint)
        if value <= Double(range.lowerBound) { return range.lowerBound }
        if value >= Double(range.upperBound) { return range.upperBound }
        return Int64(value)
    }

    /// `saturate(round-half-even(x / scale) + zeroPoint)` to u8, NaN giving the zero point: the kernels' `quantize`
    /// intrinsic with the range 0...255.
    public static func quantize(_ x: Float, scale: Float, zeroPoint: Int64) -> Int64 {
        let scaled = (x / scale).rounded(.toNearestOrEven)
        if scaled.isNaN { return min(max(zeroPoint, 0), 255) }
        let value = Double(scaled) + Double(zeroPoint)
        if value <= 0 { return 0 }
        if value >= 255 { return 255 }
        return Int64(value)
    }

    /// The scale, zero point and u8 values (the zero point and values shifted by 128 for i8, which keeps every
    /// difference `q − zero point`) of each row of the activations, as the product reads them: one `rows × k`
    /// matrix of row-major f32 or integer values.
    public static func quantizedRows(floats: [Float]?, integers: [Int64]?, type: TensorType, rows: Int, k: Int,
                                     scheme: ActivationQuantization) -> (scales: [Float], zeroPoints: [Int64], values: [Int64]) {
        if let quant = type.quant, let integers {
            let shift: Int64 = type.elementType == .i8 ? 128 : 0
            return ([Float](repeating: quant.scales[0], count: rows),
                    [Int64](repeating: quant.zeroPoints[0] + shift, count: rows), integers.map { $0 + shift })
        }
        let x = floats ?? []
        var scales: [Float] = [], zeroPoints: [Int64] = [], values: [Int64] = []
        values.reserveCapacity(x.count)
        let whole = scheme == .perTensor ? rowParameters(x) : nil
        for row in 0..<rows {
            let slice = x[(row * k)..<(row * k + k)]
            let (scale, zeroPoint) = whole ?? rowParameters(slice)
            scales.append(scale)
            zeroPoints.append(zeroPoint)
            for value in slice { values.append(quantize(value, scale: scale, zeroPoint: zeroPoint)) }
        }
        return (scales, zeroPoints, values)
    }

    /// The scale and zero point of one activation row: the range [min(0, min x), max(0, max x)] (NaN ignored)
    /// over 255 steps (scale 1 for an all-zero row), the zero point `quantize(-low)`.
    public static func rowParameters<Row: Collection>(_ row: Row) -> (scale: Float, zeroPoint: Int64) where Row.Element == Float {
        var low: Float = 0, high: Float = 0
        for x in row {
            if x < low { low = x }
            if x > high { high = x }
        }
        var scale = (high - low) / 255
        if scale == 0 { scale = 1 }
        return (scale, quantize(0 - low, scale: scale, zeroPoint: 0))
    }
}
