// The com.microsoft QLinear ops that quantize_static's QOperator format writes around a CNN's convolutions (#14):
// QLinearLeakyRelu, QLinearSigmoid, QLinearConcat, QLinearGlobalAveragePool, QLinearAveragePool, and QGemm.

import SieveIR

// onnxruntime computes the activations and the requantizing concatenation as a 256-entry table per node, built from
// the 8-bit parameters (dequantize, apply the function in f32, quantize as MlasQuantizeLinear does); Sieve builds the
// same table at import and reads it with one `gather`, as QLinearAdd's. The global average pool is MLAS's integer sum
// and requantization, decomposed; the windowed average pool dequantizes, pools in floats and quantizes.
extension GraphBuilder {
    /// com.microsoft QLinearLeakyRelu(X, X_scale, X_zero_point?, Y_scale, Y_zero_point?), attribute `alpha` (0.01):
    /// onnxruntime's table of `v ≥ 0 ? v : alpha · v` over the dequantized values.
    mutating func convertQLinearLeakyRelu(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let alpha = try n.attributes.float("alpha", default: 0.01)
        guard alpha.isFinite else { throw NodeError("alpha of QLinearLeakyRelu must be finite, found \(alpha)") }
        return [try qlinearLookup(&n) { $0 >= 0 ? $0 : alpha * $0 }]
    }

    /// com.microsoft QLinearSigmoid(X, X_scale, X_zero_point?, Y_scale, Y_zero_point?): onnxruntime's table of its
    /// logistic function (MLAS's rational approximation, `mlasLogistic`) over the dequantized values.
    mutating func convertQLinearSigmoid(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        return [try qlinearLookup(&n, GraphBuilder.mlasLogistic)]
    }

    /// com.microsoft QLinearConcat(Y_scale, Y_zero_point, X1, X1_scale, X1_zero_point, …), attribute `axis`: every
    /// 8-bit input requantized to Y's parameters (an input given Y's parameters and typed with them as it is, as
    /// onnxruntime copies it; others through onnxruntime's table of the identity), then one `concat`, typed with Y's
    /// parameters.
    mutating func convertQLinearConcat(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let count = n.inputs.count
        guard count >= 5, (count - 2) % 3 == 0 else {
            throw NodeError("QLinearConcat takes Y_scale, Y_zero_point and then (X, X_scale, X_zero_point) triples, found \(count) inputs")
        }
        guard let axisValue = try n.attributes.int("axis") else { throw NodeError("QLinearConcat needs the attribute 'axis'") }
        let first = try n.input(2)
        let stored = type(of: first).elementType
        let output = try qlinearParameters(n, scale: 0, zeroPoint: 1, stored: stored, "Y")
        var parts: [Slot] = []
        for index in stride(from: 2, to: count, by: 3) {
            let x = try n.input(index)
            guard type(of: x).elementType == stored else {
                throw NodeError("the inputs of QLinearConcat must share one 8-bit type, found \(stored) and \(type(of: x).elementType)")
            }
            let input = try qlinearParameters(n, scale: index + 1, zeroPoint: index + 2, stored: stored, "X\(index / 3 + 1)")
            if input == output && type(of: x).quant == output {
                parts.append(x)
            } else {
                let table = GraphBuilder.requantizationTable(stored: stored, input: input, output: output) { $0 }
                parts.append(try lookUp(x, in: table, stored: stored, quant: output, name: nil, n))
            }
        }
        let axis = try normalizeAxis(axisValue, rank: type(of: first).rank, "axis")
        return [try emit(.concat(axis: axis), parts, name: n.outputName(0), n)]
    }

    /// com.microsoft QLinearGlobalAveragePool(X, x_scale, x_zero_point, y_scale, y_zero_point), NCHW: as MLAS, the
    /// int32 sum of each plane less `size · x_zero_point`, times `x_scale / (y_scale · size)` in f32, rounded half to
    /// even, plus y's zero point, saturated, the result typed with y's parameters. Exact against onnxruntime.
    mutating func convertQLinearGlobalAveragePool(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        guard try n.attributes.int("channels_last", default: 0) == 0 else {
            throw NodeError("QLinearGlobalAveragePool with channels_last = 1 is not supported (only NCHW input)")
        }
        let x = try n.input(0)
        let xType = type(of: x), stored = xType.elementType
        guard xType.rank >= 3 else { throw NodeError("QLinearGlobalAveragePool needs rank 3 or more, found \(xType.rank)") }
        let input = try qlinearParameters(n, scale: 1, zeroPoint: 2, stored: stored, "x")
        let output = try qlinearParameters(n, scale: 3, zeroPoint: 4, stored: stored, "y")
        let axes = Array(2..<xType.rank)
        let size = axes.reduce(1) { $0 * xType.shape[$1] }
        // The int32 sum of a plane of 8-bit values, less its zero points, must not wrap (MLAS sums in int32 too and
        // onnxruntime refuses such planes).
        guard size <= Int(Int32.max) / 256 else {
            throw NodeError("QLinearGlobalAveragePool over planes of \(size) values is not supported: their int32 sums could overflow (at most \(Int(Int32.max) / 256) values per plane)")
        }
        let multiplier = input.scales[0] / (output.scales[0] * Float(size))
        guard multiplier.isNormal else {
            throw NodeError("the multiplier x_scale / (y_scale · \(size)) of QLinearGlobalAveragePool is \(multiplier); the scales are out of any useful range")
        }
        let prefix = n.outputName(0) ?? "qlinear_global_average_pool"
        let wide = try emit(.cast, [x], declared: TensorType(xType.shape, .i32), name: nil, n)
        var sum = try emit(.reduce(.sum, axes: axes, keepDims: true), [wide], name: nil, n)
        let bias = Double(input.zeroPoints[0]) * Double(size)
        if bias != 0 {
            sum = try emit(.binary(.sub), [sum, elementwiseScalarConstant(bias, .i32, "\(prefix).bias")], name: nil, n)
        }
        let scale = elementwiseScalarConstant(Double(multiplier), .f32, "\(prefix).multiplier")
        let point = elementwiseScalarConstant(Double(output.zeroPoints[0]), stored, "\(prefix).zero_point")
        return [try requantize(sum, multiplier: scale, zeroPoint: point, name: n.outputName(0), quant: output, n)]
    }

    /// com.microsoft QLinearAveragePool(X, x_scale, x_zero_point?, y_scale, y_zero_point?) with AveragePool's
    /// attributes, NCHW: X dequantized, `average_pool`, quantized into y's parameters. onnxruntime sums each window
    /// in f32 and adds the zero point before rounding, so a result may differ from it by one step where a window's
    /// average lands within rounding of a half step.
    mutating func convertQLinearAveragePool(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        guard try n.attributes.int("channels_last", default: 0) == 0 else {
            throw NodeError("QLinearAveragePool with channels_last = 1 is not supported (only NCHW input)")
        }
        let x = try n.input(0)
        let stored = type(of: x).elementType
        let input = try qlinearParameters(n, scale: 1, zeroPoint: 2, stored: stored, "x")
        let output = try qlinearParameters(n, scale: 3, zeroPoint: 4, stored: stored, "y")
        let floats: Slot
        if type(of: x).quant == input {
            floats = try emit(.dequantize, [x], declared: TensorType(type(of: x).shape, .f32), name: nil, n)
        } else {
            let table = GraphBuilder.dequantizationTable(stored: stored, input: input)
            floats = try lookUp(x, in: table, stored: .f32, quant: nil, name: nil, n)
        }
        let pooled = try pool(&n, input: floats, name: .some(nil))
        return [try emit(.quantize, [pooled], declared: TensorType(type(of: pooled).shape, stored, quant: output),
                         name: n.outputName(0), n)]
    }

    /// com.microsoft QGemm(A, a_scale, a_zero_point, B, b_scale, b_zero_point, C?, y_scale, y_zero_point), `transA`,
    /// `transB`, `alpha` = 1, an 8-bit result: onnxruntime's int32 sums of `(A − a_zero_point) · (B − b_zero_point)`
    /// plus the int32 C, requantized with `a_scale · b_scale / y_scale`. That is QLinearConv's 1x1 convolution of A
    /// as `[M, K, 1, 1]` by B as `[N, K, 1, 1]` with C as its bias, which is imported (the requantizing int8 kernel
    /// when B is a constant symmetric int8 weight), and reshaped to `[M, N]`.
    mutating func convertQGemm(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let transposeA = try n.attributes.int("transA", default: 0) != 0
        let transposeB = try n.attributes.int("transB", default: 0) != 0
        let alpha = try n.attributes.float("alpha", default: 1)
        guard alpha == 1 else { throw NodeError("QGemm with alpha = \(alpha) is not supported (only 1, what quantize_static writes)") }
        guard let yScale = n.optionalInput(7), let yPoint = n.optionalInput(8) else {
            throw NodeError("QGemm without y_scale and y_zero_point (a float result) is not supported")
        }
        var a = try n.input(0), b = try n.input(3)
        guard type(of: a).rank == 2, type(of: b).rank == 2 else {
            throw NodeError("QGemm needs 2-D A and B, found \(type(of: a)) and \(type(of: b))")
        }
        if transposeA { a = try emit(.transpose(permutation: [1, 0]), [a], name: nil, n) }
        if transposeB { b = try emit(.transpose(permutation: [1, 0]), [b], name: nil, n) }
        let (m, k) = (type(of: a).shape[0], type(of: a).shape[1])
        let (kB, columns) = (type(of: b).shape[0], type(of: b).shape[1])
        guard k == kB else { throw NodeError("QGemm of A \(shapeString([m, k])) by B \(shapeString([kB, columns])): the inner sizes differ") }
        var bias = n.optionalInput(6)
        if let c = bias {
            let shape = type(of: c).shape
            guard type(of: c).elementType == .i32 else { throw NodeError("C of QGemm must be int32, found \(type(of: c).elementType)") }
            guard shape.reduce(1, *) == 1 || shape == [columns] || shape == [1, columns] else {
                throw NodeError("C of QGemm of shape \(shapeString(shape)) is not supported (only one value or one per column, [\(columns)] or [1, \(columns)])")
            }
            bias = try emit(.expand, [try emit(.reshape, [c], declared: TensorType([shape.reduce(1, *)], .i32), name: nil, n)],
                            declared: TensorType([columns], .i32), name: nil, n)
        }
        let x = try emit(.reshape, [a], declared: TensorType([m, k, 1, 1], type(of: a).elementType), name: nil, n)
        let weight = try emit(.reshape, [try emit(.transpose(permutation: [1, 0]), [b], name: nil, n)],
                              declared: TensorType([columns, k, 1, 1], type(of: b).elementType), name: nil, n)
        var node = n.node
        node.output = [(n.outputName(0) ?? "qgemm") + ".conv"]
        var convolution = NodeContext(node: node, index: n.index, location: n.location,
                                      inputs: [x, try n.input(1), try n.input(2), weight, try n.input(4), try n.input(5), yScale, yPoint, bias],
                                      attributes: NodeAttributes([]))
        guard let product = try convertQLinearConv(&convolution).first ?? nil else { throw NodeError("internal: QLinearConv gave no result") }
        return [try emit(.reshape, [product], declared: TensorType([m, columns], type(of: product).elementType), name: n.outputName(0), n)]
    }

    // MARK: Tables

    /// A QLinear activation: X's 8-bit values looked up in onnxruntime's table of `function` (on the dequantized value,
    /// quantized into Y's parameters), the result typed with Y's parameters.
    private mutating func qlinearLookup(_ n: inout NodeContext, _ function: (Float) -> Float) throws(NodeError) -> Slot {
        let x = try n.input(0)
        let stored = type(of: x).elementType
        let input = try qlinearParameters(n, scale: 1, zeroPoint: 2, stored: stored, "X")
        let output = try qlinearParameters(n, scale: 3, zeroPoint: 4, stored: stored, "Y")
        let table = GraphBuilder.requantizationTable(stored: stored, input: input, output: output, function)
        return try lookUp(x, in: table, stored: stored, quant: output, name: n.outputName(0), n)
    }

    /// The per-tensor parameters of a QLinear op's 8-bit operand from its inputs `scale` (a constant positive finite
    /// f32 scalar) and `zeroPoint` (absent, meaning 0, or a constant scalar of the operand's type `stored`).
    private func qlinearParameters(_ n: NodeContext, scale: Int, zeroPoint: Int, stored: ElementType,
                                   _ what: String) throws(NodeError) -> QuantParams {
        guard stored == .u8 || stored == .i8 else {
            throw NodeError("\(n.node.opType) of \(stored) is not supported (only int8 and uint8)")
        }
        let scaleSlot = try n.input(scale)
        guard type(of: scaleSlot).elementType == .f32 else {
            throw NodeError("\(what)_scale of \(n.node.opType) must be float32, found \(type(of: scaleSlot).elementType)")
        }
        let value = try constantScalar(scaleSlot, "\(what)_scale", n)
        guard value > 0, value.isFinite else {
            throw NodeError("\(what)_scale of \(n.node.opType) must be positive and finite, found \(value)")
        }
        var point: Int64 = 0
        if let slot = n.optionalInput(zeroPoint) {
            guard type(of: slot).elementType == stored else {
                throw NodeError("\(what)_zero_point of \(n.node.opType) has type \(type(of: slot).elementType), but the data has \(stored)")
            }
            point = Int64(try constantScalar(slot, "\(what)_zero_point", n))
        }
        return QuantParams(axis: nil, scales: [value], zeroPoints: [point])
    }

    /// `table[x]` for every element of the 8-bit `x`: a constant of the 256 values (in the order of x's range, i8 from
    /// −128) typed `stored` with `quant`, read by a `gather` at `x` (i8 moved up by 128) in i64, which lowering keeps
    /// in registers.
    private mutating func lookUp(_ x: Slot, in table: [Double], stored: ElementType, quant: QuantParams?, name: String?,
                                 _ n: NodeContext) throws(NodeError) -> Slot {
        let prefix = name ?? n.outputName(0) ?? n.node.opType
        let values: Slot = .constant(Constant.from(name: graph.constants.freshName("\(prefix).table"),
                                                   type: TensorType([table.count], stored, quant: quant), values: table))
        let index = try tablePosition(x, prefix: prefix, n)
        return try emit(.gather(axis: 0), [values, index], name: name, n)
    }

    /// An 8-bit operand as a position in a table over its range: the value in i64, i8 moved up by 128.
    mutating func tablePosition(_ operand: Slot, prefix: String, _ n: NodeContext) throws(NodeError) -> Slot {
        let wide = try emit(.cast, [operand], declared: TensorType(type(of: operand).shape, .i64), name: nil, n)
        guard type(of: operand).elementType == .i8 else { return wide }
        return try emit(.binary(.add), [wide, elementwiseScalarConstant(128, .i64, "\(prefix).offset")], name: nil, n)
    }

    /// onnxruntime's lookup table (QlinearBuildLookupTable) for every value v of an 8-bit type: `function` of
    /// `f32(v − zero_point) · scale`, quantized as `mlasQuantize` does.
    static func requantizationTable(stored: ElementType, input: QuantParams, output: QuantParams,
                                    _ function: (Float) -> Float) -> [Double] {
        let range = stored.integerRange ?? 0...255
        return range.map { value in
            let real = Float(value - input.zeroPoints[0]) * input.scales[0]
            return Double(mlasQuantize(function(real), scale: output.scales[0], zeroPoint: output.zeroPoints[0], range: range))
        }
    }

    /// `f32(v − zero_point) · scale` for every value v of an 8-bit type.
    static func dequantizationTable(stored: ElementType, input: QuantParams) -> [Double] {
        (stored.integerRange ?? 0...255).map { Double(Float($0 - input.zeroPoints[0]) * input.scales[0]) }
    }

    /// MlasQuantizeLinear: `y / scale` in f32, clamped to the range less the zero point (NaN to its low end, as
    /// maxps gives), rounded half to even, plus the zero point.
    static func mlasQuantize(_ y: Float, scale: Float, zeroPoint: Int64, range: ClosedRange<Int64>) -> Int64 {
        let steps = y / scale
        let low = Float(range.lowerBound - zeroPoint), high = Float(range.upperBound - zeroPoint)
        let clamped = min(steps.isNaN ? low : max(steps, low), high)
        return Int64(clamped.rounded(.toNearestOrEven)) + zeroPoint
    }

    /// MLAS's logistic function on x86 (its FMA kernels): Eigen's rational approximation on x clamped to [−18, 18],
    /// `p(x) / q(x) + 0.5` clamped to [0, 1], the polynomials by fused multiply-adds.
    static func mlasLogistic(_ input: Float) -> Float {
        let x = min(max(input, -18), 18)
        let square = x * x
        var p: Float = 4.37031012579801e-11
        for alpha: Float in [1.15627324459942e-07, 6.08574864600143e-05, 8.51377133304701e-03, 2.48287947061529e-01] {
            p = alpha.addingProduct(p, square)
        }
        p *= x
        var q: Float = 6.10247389755681e-13
        for beta: Float in [5.76102136993427e-09, 6.29106785017040e-06, 1.70198817374094e-03, 1.16817656904453e-01, 9.93151921023180e-01] {
            q = beta.addingProduct(q, square)
        }
        return min(max(p / q + 0.5, 0), 1)
    }
}
