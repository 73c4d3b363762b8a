// The ONNX converters of the integer and quantized ops (#14): DynamicQuantizeLinear, MatMulInteger, ConvInteger,
// QLinearMatMul, QLinearConv, and QuantizeLinear/DequantizeLinear with run-time or blocked parameters or float8/4 types.

import SieveIR

// Each op is decomposed into existing IR ops with ONNX's integer arithmetic: 8-bit operands are widened to i32 and
// shifted by their zero points, multiplied by an i32 `matmul` or `conv2d` (exact, wrapping as int32 accumulation
// may), and requantized in f32 as `saturate(round_half_even(acc · scale) + zero_point)` with `round` and `clip`
// before a `cast`. IR/README.md ("Integer and quantized ONNX ops") says why there is no dedicated op yet.
extension GraphBuilder {
    /// ONNX DynamicQuantizeLinear: uint8 quantization of a float tensor with a scale and zero point computed from
    /// its range (extended to include 0), as ONNX's reference: `scale = (max − min) / 255` (1/255 when the range is
    /// empty), `zero_point = round(clamp(−min / scale, 0, 255))`, `y = saturate(round(x / scale) + zero_point)`.
    mutating func convertDynamicQuantizeLinear(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let xType = type(of: x)
        guard xType.elementType == .f32 else {
            throw NodeError("DynamicQuantizeLinear of \(xType.elementType) is not supported (only float32)")
        }
        let prefix = n.outputName(0) ?? "dynamic_quantize"
        let zero = elementwiseScalarConstant(0, .f32, "\(prefix).zero")
        let one = elementwiseScalarConstant(1, .f32, "\(prefix).one")
        let levels = elementwiseScalarConstant(255, .f32, "\(prefix).levels")
        let axes = Array(0..<xType.rank)
        let largest = try emit(.reduce(.max, axes: axes, keepDims: false), [x], name: nil, n)
        let high = try emit(.binary(.max), [largest, zero], name: nil, n)
        let smallest = try emit(.reduce(.min, axes: axes, keepDims: false), [x], name: nil, n)
        let low = try emit(.binary(.min), [smallest, zero], name: nil, n)
        let span = try emit(.binary(.sub), [high, low], name: nil, n)
        let empty = try emit(.binary(.equal), [high, low], name: nil, n)
        let nonEmptySpan = try emit(.where, [empty, one, span], name: nil, n)
        let scale = try emit(.binary(.div), [nonEmptySpan, levels], name: n.outputName(1), n)
        let lowInSteps = try emit(.binary(.div), [low, scale], name: nil, n)
        let initial = try emit(.binary(.sub), [zero, lowInSteps], name: nil, n)
        let clamped = try emit(.unary(.clip(min: 0, max: 255)), [initial], name: nil, n)
        let zeroPoint = try emit(.unary(.roundEven), [clamped], name: nil, n)
        let y = try saturatingQuantize(x, scale: scale, zeroPoint: zeroPoint, stored: .u8, name: n.outputName(0), n)
        let storedZeroPoint = try emit(.cast, [zeroPoint], declared: TensorType([], .u8), name: n.outputName(2), n)
        return [y, scale, storedZeroPoint]
    }

    /// ONNX MatMulInteger: `(A − a_zero_point) · (B − b_zero_point)` in int32, as an i32 `matmul` of the shifted
    /// operands. A's zero point may be per row (`[M]` for a 2-D A), B's per column.
    mutating func convertMatMulInteger(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let a = try n.input(0), b = try n.input(1)
        let aShifted = try shiftedByZeroPoint(a, try alongRows(n.optionalInput(2), of: a, n), "A", n)
        let bShifted = try shiftedByZeroPoint(b, n.optionalInput(3), "B", n)
        return [try emit(.matmul(transposeB: false), [aShifted, bShifted], name: n.outputName(0), n)]
    }

    /// ONNX ConvInteger: Conv of `x − x_zero_point` and `w − w_zero_point` in int32 (padding reads as the input's
    /// zero point, which the shift makes 0), as an i32 `conv2d`. The weight's zero point may be per output channel.
    mutating func convertConvInteger(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0), w = try n.input(1)
        let xShifted = try shiftedByZeroPoint(x, try perTensor(n.optionalInput(2), "x_zero_point", n), "x", n)
        let wShifted = try shiftedByZeroPoint(w, try perOutputChannel(n.optionalInput(3), of: w, n), "w", n)
        return [try conv(&n, x: xShifted, w: wShifted, bias: nil, name: n.outputName(0))]
    }

    /// ONNX QLinearMatMul: the MatMulInteger of a and b, requantized with the multiplier
    /// `a_scale · b_scale / y_scale` (computed in the scales' type) into y_zero_point's type.
    mutating func convertQLinearMatMul(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        if let fused = try int8QLinearMatMul(&n) { return [fused] }
        let a = try n.input(0), b = try n.input(3)
        let aShifted = try shiftedByZeroPoint(a, try alongRows(n.input(2), of: a, n), "a", n)
        let bShifted = try shiftedByZeroPoint(b, try n.input(5), "b", n)
        let product = try emit(.matmul(transposeB: false), [aShifted, bShifted], name: nil, n)
        let multiplier = try requantizationMultiplier(try alongRows(n.input(1), of: a, n), try n.input(4), try n.input(6), n)
        return [try requantize(product, multiplier: multiplier, zeroPoint: n.input(7), name: n.outputName(0), n)]
    }

    /// ONNX QLinearConv: the ConvInteger of x and w plus the int32 bias B, requantized with the multiplier
    /// `x_scale · w_scale / y_scale` (w_scale per tensor or per output channel) into y_zero_point's type.
    mutating func convertQLinearConv(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        if let fused = try int8QLinearConv(&n) { return [fused] }
        let x = try n.input(0), w = try n.input(3)
        let xShifted = try shiftedByZeroPoint(x, try perTensor(n.input(2), "x_zero_point", n), "x", n)
        let wShifted = try shiftedByZeroPoint(w, try perOutputChannel(n.input(5), of: w, n), "w", n)
        let bias = n.optionalInput(8)
        if let bias, type(of: bias).elementType != .i32 {
            throw NodeError("the bias B of QLinearConv must be int32, found \(type(of: bias).elementType)")
        }
        let accumulator = try conv(&n, x: xShifted, w: wShifted, bias: bias, name: nil)
        // Per output channel, the multiplier broadcasts along axis 1 of the [N, O, spatial…] result.
        var weightScale = try n.input(4)
        let channels = type(of: w).shape.first ?? 0
        if type(of: weightScale).rank == 1, type(of: weightScale).shape[0] > 1 {
            guard type(of: weightScale).shape[0] == channels else {
                throw NodeError("w_scale has \(type(of: weightScale).shape[0]) values for \(channels) output channels")
            }
            let shape = [channels] + [Int](repeating: 1, count: type(of: accumulator).rank - 2)
            weightScale = try emit(.reshape, [weightScale], declared: TensorType(shape, type(of: weightScale).elementType), name: nil, n)
        }
        let multiplier = try requantizationMultiplier(try perTensor(n.input(1), "x_scale", n), weightScale, try n.input(6), n)
        return [try requantize(accumulator, multiplier: multiplier, zeroPoint: n.input(7), name: n.outputName(0), n)]
    }

    /// QuantizeLinear by elementwise ops, for parameters computed at run time (DynamicQuantizeLinear's expanded
    /// form), blocked parameters and float outputs: `saturate(round(x / scale) + zero_point)` in f32 for an integer
    /// output, `x / scale + zero_point` cast (rounding to nearest even, saturating) for float8 and float4. A 1-D
    /// scale runs along `axis`; a blocked one is repeated `block_size` times along it.
    mutating func quantizeAtRunTime(_ n: inout NodeContext, x: Slot, scale: Slot, zeroPoint: Slot?,
                                    stored: ElementType) throws(NodeError) -> Slot {
        let axis = try quantizationAxis(&n)
        let floats = try asF32(x, n)
        let perAxisScale = try asF32(try alongAxis(scale, axis: axis, of: x, "y_scale", n), n)
        var point: Slot = elementwiseScalarConstant(0, .f32, "\(n.outputName(0) ?? "quantize").zero_point")
        if let zeroPoint {
            guard type(of: zeroPoint).elementType == stored else {
                throw NodeError("the zero point of QuantizeLinear has type \(type(of: zeroPoint).elementType), but the output has \(stored)")
            }
            point = try asF32(try alongAxis(zeroPoint, axis: axis, of: x, "y_zero_point", n), n)
        }
        if stored.isFloat {
            // As onnx's reference: float8 ignores the zero point (ONNX requires it to be 0), float4 adds it.
            var steps = try emit(.binary(.div), [floats, perAxisScale], name: nil, n)
            if stored == .f4e2m1, let zeroPoint, !isConstantZero(zeroPoint) {
                steps = try emit(.binary(.add), [steps, point], name: nil, n)
            }
            return try emit(.cast, [steps], declared: TensorType(type(of: steps).shape, stored), name: n.outputName(0), n)
        }
        return try saturatingQuantize(floats, scale: perAxisScale, zeroPoint: point, stored: stored, name: n.outputName(0), n)
    }

    /// DequantizeLinear by elementwise ops, for a value without quantization parameters in its type, parameters
    /// computed at run time, blocked parameters and float8/float4 operands: `(x − zero_point) · scale` in f32. A 1-D
    /// scale runs along `axis`; a blocked one is repeated `block_size` times along it.
    mutating func dequantizeAtRunTime(_ n: inout NodeContext, x: Slot, scale: Slot, zeroPoint: Slot?,
                                      target: ElementType) throws(NodeError) -> Slot {
        let axis = try quantizationAxis(&n)
        var centred = try asF32(x, n)
        if let zeroPoint, !isConstantZero(zeroPoint) {
            let point = try asF32(try alongAxis(zeroPoint, axis: axis, of: x, "x_zero_point", n), n)
            centred = try emit(.binary(.sub), [centred, point], name: nil, n)
        }
        let perAxisScale = try asF32(try alongAxis(scale, axis: axis, of: x, "x_scale", n), n)
        let name = n.outputName(0)
        let result = try emit(.binary(.mul), [centred, perAxisScale], name: target == .f32 ? name : nil, n)
        if target == .f32 { return result }
        return try emit(.cast, [result], declared: TensorType(type(of: result).shape, target), name: name, n)
    }

    /// com.microsoft QLinearAdd(A, A_scale, A_zero_point?, B, B_scale, B_zero_point?, C_scale, C_zero_point?): 8-bit A
    /// and B (one type, broadcasting) added into C of their type as ONNX Runtime's x86 kernel computes it (AVX2 and
    /// FMA), so that the integers are its own: with `x` the operand it streams, `y` the other, `r = scale / C_scale` in
    /// f32 and `fixed = f32(C_zero_point) − fma(r_x, zero_point_x, f32(r_y · zero_point_y))`,
    /// `C = saturate(round_half_even(fma(x, r_x, fma(y, r_y, fixed))))` over the raw 8-bit values. onnxruntime streams A
    /// unless A is one element, or broadcasts along the innermost axis where the output is longer than 1 while B does
    /// not (then B, with the roles swapped). Both operands are 8-bit, so the importer evaluates that (with Swift's fused
    /// `addingProduct`) for all 65 536 pairs once: a constant table `[256 · 256]` (typed with C's scale and zero point)
    /// read by a `gather` at `256 · x + y` (i8 values moved up by 128). The scales and zero points must be constant
    /// scalars.
    mutating func convertQLinearAdd(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let a = try n.input(0), b = try n.input(3)
        let stored = type(of: a).elementType
        guard stored == .u8 || stored == .i8, type(of: b).elementType == stored, let range = stored.integerRange else {
            throw NodeError("QLinearAdd of \(type(of: a).elementType) and \(type(of: b).elementType) is not supported (only int8 or uint8, one type)")
        }
        func scale(_ index: Int, _ what: String) throws(NodeError) -> Float {
            let slot = try n.input(index)
            guard type(of: slot).elementType == .f32 else { throw NodeError("\(what) of QLinearAdd must be float32, found \(type(of: slot).elementType)") }
            let value = try constantScalar(slot, what, n)
            guard value > 0, value.isFinite else { throw NodeError("\(what) of QLinearAdd must be positive and finite, found \(value)") }
            return value
        }
        func zeroPoint(_ index: Int, _ what: String) throws(NodeError) -> Float {
            guard let slot = n.optionalInput(index) else { return 0 }
            guard type(of: slot).elementType == stored else {
                throw NodeError("\(what) of QLinearAdd has type \(type(of: slot).elementType), but A and B have \(stored)")
            }
            return try constantScalar(slot, what, n)
        }
        let (aScale, bScale, cScale) = (try scale(1, "A_scale"), try scale(4, "B_scale"), try scale(6, "C_scale"))
        let (aPoint, bPoint, cPoint) = (try zeroPoint(2, "A_zero_point"), try zeroPoint(5, "B_zero_point"), try zeroPoint(7, "C_zero_point"))
        let aShape = type(of: a).shape, bShape = type(of: b).shape
        guard let shape = broadcastShapes(aShape, bShape) else {
            throw NodeError("QLinearAdd operands of shapes \(shapeString(aShape)) and \(shapeString(bShape)) do not broadcast")
        }
        // Which operand onnxruntime streams (its broadcaster's spans): B when A is a scalar in every span.
        let aCount = aShape.reduce(1, *), bCount = bShape.reduce(1, *)
        var swapped = aCount == 1
        if aCount != 1, bCount != 1, let axis = shape.indices.last(where: { shape[$0] > 1 }) {
            func extent(_ operand: [Int]) -> Int {
                let position = axis - (shape.count - operand.count)
                return position >= 0 ? operand[position] : 1
            }
            swapped = extent(aShape) == 1 && extent(bShape) > 1
        }
        let (x, xRatio, xPoint, y, yRatio, yPoint) = swapped
            ? (b, bScale / cScale, bPoint, a, aScale / cScale, aPoint) : (a, aScale / cScale, aPoint, b, bScale / cScale, bPoint)
        let fixed = cPoint - (yRatio * yPoint).addingProduct(xRatio, xPoint)
        var table: [Double] = []
        table.reserveCapacity(256 * 256)
        for xValue in range {
            for yValue in range {
                let sum = fixed.addingProduct(Float(yValue), yRatio).addingProduct(Float(xValue), xRatio).rounded(.toNearestOrEven)
                // Its conversion to int32 (cvtps2dq) gives INT32_MIN for NaN and for magnitudes from 2^31 on, which
                // then saturates to the low end.
                guard !sum.isNaN, abs(sum) < 0x1p31 else { table.append(Double(range.lowerBound)); continue }
                table.append(Double(min(max(sum, Float(range.lowerBound)), Float(range.upperBound))))
            }
        }
        let prefix = n.outputName(0) ?? "qlinear_add"
        // The table carries C's parameters, so that the result is typed as the quantized value it is (a QLinear
        // product reading it runs as an int8 kernel).
        let quant = QuantParams(scales: [cScale], zeroPoints: [Int64(cPoint)])
        let values: Slot = .constant(Constant.from(name: graph.constants.freshName("\(prefix).table"),
                                                   type: TensorType([256 * 256], stored, quant: quant), values: table))
        // i64 positions, which lowering computes in registers: the casts, products and sums fuse into one kernel.
        let row = try emit(.binary(.mul), [try tablePosition(x, prefix: prefix, n), elementwiseScalarConstant(256, .i64, "\(prefix).row")],
                           name: nil, n)
        let index = try emit(.binary(.add), [row, try tablePosition(y, prefix: prefix, n)], name: nil, n)
        return [try emit(.gather(axis: 0), [values, index], name: n.outputName(0), n)]
    }

    // MARK: QLinearMatMul and QLinearConv as int8 kernels

    /// QLinearMatMul as the requantizing int8 product, `fused_matmul %a, @b' {transpose_b, epilogue = [requantize]}`,
    /// when it fits one (what quantize_static's QOperator format writes): `a` i8 or u8 per tensor (a value quantized
    /// with exactly these parameters, or a graph input, which takes them), `b` a constant 2-D int8 weight with zero
    /// points 0 and at least one row (the product counts its rows as elements / K), per tensor or per column, every scale and zero point a constant f32 or 8-bit scalar otherwise. Exact:
    /// ONNX Runtime's integer sums and requantization (`DynamicInt8.requantize`). nil keeps the decomposition.
    private mutating func int8QLinearMatMul(_ n: inout NodeContext) throws(NodeError) -> Slot? {
        let a = try n.input(0), b = try n.input(3)
        guard case let .constant(weight) = b, weight.type.elementType == .i8, weight.type.rank == 2, weight.hasConsistentSize,
              weight.type.quant == nil, (1...DynamicInt8.maxReduction).contains(weight.type.shape[0]), type(of: a).rank >= 2,
              let weightScale = constantScales(try n.input(4), count: weight.type.shape[1]), zeroConstant(try n.input(5)),
              let output = try requantizedOutput(n, scale: 6, zeroPoint: 7),
              finiteMultipliers(try n.input(1), weightScale, output.quant),
              let activations = try typedActivations(a, scale: n.input(1), zeroPoint: n.input(2)) else { return nil }
        return try emit(.fusedMatmul(transposeB: true, epilogue: [.requantize]),
                        [activations, .constant(int8ProductWeight(weight, scale: weightScale))],
                        declared: TensorType(matmulShape(a, columns: weight.type.shape[1]), output.element, quant: output.quant),
                        name: n.outputName(0), n)
    }

    /// QLinearConv as the requantizing int8 convolution, `conv2d %x, @w' [, %bias] : tensor<…xu8, quant<…>>`, on the
    /// same conditions as `int8QLinearMatMul` (a 4-D weight per tensor or per output channel, 2-D convolutions); the
    /// int32 bias joins the exact sums. nil keeps the decomposition.
    private mutating func int8QLinearConv(_ n: inout NodeContext) throws(NodeError) -> Slot? {
        let x = try n.input(0), w = try n.input(3), bias = n.optionalInput(8)
        guard case let .constant(weight) = w, weight.type.elementType == .i8, weight.type.rank == 4, weight.hasConsistentSize,
              weight.type.quant == nil, type(of: x).rank == 4, bias.map({ type(of: $0).elementType == .i32 }) ?? true,
              weight.type.shape.dropFirst().reduce(1, { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }) <= DynamicInt8.maxReduction,
              let weightScale = constantScales(try n.input(4), count: weight.type.shape[0]), zeroConstant(try n.input(5)),
              let output = try requantizedOutput(n, scale: 6, zeroPoint: 7),
              finiteMultipliers(try n.input(1), weightScale, output.quant),
              biasKeepsSumsInInt32(bias, reduction: weight.type.shape.dropFirst().reduce(1, *)),
              let input = try typedActivations(x, scale: n.input(1), zeroPoint: n.input(2)) else { return nil }
        return try conv(&n, x: input, w: .constant(int8ConvolutionWeight(weight, scale: weightScale)), bias: bias,
                        name: n.outputName(0), requantizedTo: output)
    }

    /// Whether every requantization multiplier (`DynamicInt8.requantizationMultiplier`) of an activation scale (a
    /// constant scalar), the weight's scales and the result's scale is finite; a model whose scales overflow it is
    /// left to the decomposition, which refuses it.
    private func finiteMultipliers(_ activationScale: Slot, _ weightScale: Constant, _ output: QuantParams) -> Bool {
        guard case let .constant(scale) = activationScale, scale.hasConsistentSize, scale.type.elementCount == 1,
              let count = weightScale.type.elementCount else { return false }
        return (0..<count).allSatisfy {
            DynamicInt8.requantizationMultiplier(activationScale: Float(scale.element(at: 0)), weightScale: Float(weightScale.element(at: $0)),
                                                 resultScale: output.scales[0]).isFinite
        }
    }

    /// Whether a QLinearConv's int32 bias keeps every biased sum of `reduction` products of 8-bit values in int32: a
    /// constant whose values leave room for the largest sum (255 · 128 per product). ONNX Runtime's biased sum
    /// wraps at 32 bits where the int8 kernels' (in 64) would not; such a bias keeps the decomposition, which wraps.
    private func biasKeepsSumsInInt32(_ bias: Slot?, reduction: Int) -> Bool {
        guard let bias else { return true }
        guard case let .constant(values) = bias, values.hasConsistentSize, let count = values.type.elementCount else { return false }
        let (largest, overflow) = reduction.multipliedReportingOverflow(by: 255 * 128)
        guard !overflow, largest <= Int(Int32.max) else { return false }
        return (0..<count).allSatisfy { abs(values.integer(at: $0)) <= Int64(Int32.max) - Int64(largest) }
    }

    /// The shape of `a · B` for a 2-D B with `columns` columns.
    private func matmulShape(_ a: Slot, columns: Int) -> [Int] { type(of: a).shape.dropLast() + [columns] }

    /// A constant f32 scale, one value or `count` values (per channel), positive and finite; nil otherwise.
    private func constantScales(_ slot: Slot, count: Int) -> Constant? {
        guard case let .constant(scale) = slot, scale.type.elementType == .f32, scale.hasConsistentSize, scale.type.rank <= 1,
              scale.type.elementCount == 1 || scale.type.elementCount == count,
              let values = scale.type.elementCount, (0..<values).allSatisfy({ scale.element(at: $0) > 0 && scale.element(at: $0).isFinite })
        else { return nil }
        return scale
    }

    /// Whether a slot is a constant whose elements are all zero (a symmetric weight's zero point).
    private func zeroConstant(_ slot: Slot) -> Bool { isConstant(slot) && isConstantZero(slot) }

    /// The 8-bit result type's element and parameters from a constant f32 scalar scale and 8-bit scalar zero point
    /// (inputs `scale` and `zeroPoint` of the node); nil when they are not that.
    private func requantizedOutput(_ n: NodeContext, scale: Int, zeroPoint: Int) throws(NodeError) -> (element: ElementType, quant: QuantParams)? {
        guard let params = constantParameters(try n.input(scale), try n.input(zeroPoint)) else { return nil }
        return (type(of: try n.input(zeroPoint)).elementType, params)
    }

    /// One scale and zero point (a constant f32 scalar and a constant i8 or u8 scalar) as per-tensor parameters.
    private func constantParameters(_ scale: Slot, _ zeroPoint: Slot) -> QuantParams? {
        guard case let .constant(s) = scale, s.type.elementType == .f32, s.type.elementCount == 1, s.type.rank <= 1, s.hasConsistentSize,
              case let .constant(z) = zeroPoint, z.type.elementType == .i8 || z.type.elementType == .u8, z.type.elementCount == 1,
              z.type.rank <= 1, z.hasConsistentSize else { return nil }
        let params = QuantParams(axis: nil, scales: [Float(s.element(at: 0))], zeroPoints: [z.integer(at: 0)])
        guard validate(TensorType([], z.type.elementType, quant: params)) == nil else { return nil }
        return params
    }

    /// The 8-bit activations `x` typed with their one scale and zero point, as the int8 kernels read them: a value
    /// already quantized with exactly these parameters as it is; a graph input without parameters takes them (as a
    /// DequantizeLinear of it does); nil for anything else (a constant, a value with other or no parameters).
    private mutating func typedActivations(_ x: Slot, scale: Slot, zeroPoint: Slot) -> Slot? {
        guard case let .value(id) = x, let params = constantParameters(scale, zeroPoint) else { return nil }
        let xType = type(of: x)
        guard xType.elementType == type(of: zeroPoint).elementType, xType.layout == .dense else { return nil }
        if xType.quant == params { return x }
        guard xType.quant == nil, isUnreadGraphInput(id) else { return nil }
        graph.values[id.index].type = TensorType(xType.shape, xType.elementType, quant: params)
        return x
    }

    /// Whether `id` is a graph input no op reads yet: the only value whose type may still take quantization
    /// parameters (an op already reading it was typed without them, and a rule that keeps them would now disagree).
    func isUnreadGraphInput(_ id: ValueID) -> Bool {
        graph.inputs.contains(id) && !graph.operations.contains { $0.operands.contains(id) }
    }

    // MARK: Pieces of the decompositions

    /// Whether a slot is a constant (known at import).
    func isConstant(_ slot: Slot) -> Bool {
        if case .constant = slot { return true }
        return false
    }

    /// Whether a slot is a constant whose elements are all zero (a symmetric zero point).
    func isConstantZero(_ slot: Slot) -> Bool {
        guard case let .constant(constant) = slot, constant.hasConsistentSize, let count = constant.type.elementCount else { return false }
        return (0..<count).allSatisfy { constant.element(at: $0) == 0 }
    }

    /// An 8-bit operand widened to i32 and shifted by its zero point (left out when it is a constant zero).
    private mutating func shiftedByZeroPoint(_ x: Slot, _ zeroPoint: Slot?, _ what: String,
                                             _ n: NodeContext) throws(NodeError) -> Slot {
        let xType = type(of: x)
        guard xType.elementType == .i8 || xType.elementType == .u8 else {
            throw NodeError("\(n.node.opType) of \(what) with element type \(xType.elementType) is not supported (only int8 and uint8)")
        }
        let wide = try emit(.cast, [x], declared: TensorType(xType.shape, .i32), name: nil, n)
        guard let zeroPoint, !isConstantZero(zeroPoint) else { return wide }
        let pointType = type(of: zeroPoint)
        guard pointType.elementType == xType.elementType else {
            throw NodeError("the zero point of \(what) has element type \(pointType.elementType), but \(what) has \(xType.elementType)")
        }
        guard broadcastShapes(xType.shape, pointType.shape) == xType.shape else {
            throw NodeError("the zero point of \(what), of shape \(shapeString(pointType.shape)), does not broadcast to \(what)'s shape \(shapeString(xType.shape))")
        }
        let point = try emit(.cast, [zeroPoint], declared: TensorType(pointType.shape, .i32), name: nil, n)
        return try emit(.binary(.sub), [wide, point], name: nil, n)
    }

    /// A per-row scale or zero point of a matrix operand (`[M]` for `[…, M, K]`) as `[M, 1]`, which broadcasts along
    /// its rows; a scalar or one-element parameter, or an N-D one already shaped `[…, M, 1]`, as it is.
    private mutating func alongRows(_ slot: Slot?, of matrix: Slot, _ n: NodeContext) throws(NodeError) -> Slot? {
        guard let slot else { return nil }
        let shape = type(of: slot).shape, matrixShape = type(of: matrix).shape
        guard shape.count == 1, shape[0] > 1, matrixShape.count >= 2 else { return slot }
        guard shape[0] == matrixShape[matrixShape.count - 2] else {
            throw NodeError("a per-row parameter of \(shape[0]) values does not match the \(matrixShape[matrixShape.count - 2]) rows of \(shapeString(matrixShape))")
        }
        return try emit(.reshape, [slot], declared: TensorType([shape[0], 1], type(of: slot).elementType), name: nil, n)
    }

    /// A per-output-channel zero point of a convolution weight (`[O]`) as `[O, 1, …]`; a scalar as it is.
    private mutating func perOutputChannel(_ slot: Slot?, of weight: Slot, _ n: NodeContext) throws(NodeError) -> Slot? {
        guard let slot else { return nil }
        let shape = type(of: slot).shape, weightShape = type(of: weight).shape
        guard shape.count == 1, shape[0] > 1, let channels = weightShape.first else { return slot }
        guard shape[0] == channels else {
            throw NodeError("w_zero_point has \(shape[0]) values for \(channels) output channels")
        }
        let target = [channels] + [Int](repeating: 1, count: weightShape.count - 1)
        return try emit(.reshape, [slot], declared: TensorType(target, type(of: slot).elementType), name: nil, n)
    }

    /// A parameter that ONNX defines per tensor only: a scalar or a one-element tensor.
    private func perTensor(_ slot: Slot?, _ what: String, _ n: NodeContext) throws(NodeError) -> Slot? {
        guard let slot else { return nil }
        guard type(of: slot).elementCount == 1, type(of: slot).rank <= 1 else {
            throw NodeError("\(what) of \(n.node.opType) must be a scalar (per tensor), found \(type(of: slot))")
        }
        return slot
    }

    /// A quantization parameter as it broadcasts against the data `x`: a scalar or one-element parameter as it is; a
    /// 1-D one (per axis) reshaped to run along `axis`; a blocked one (the rank of x, `ceil(D / block_size)` along
    /// `axis`, x's dimensions elsewhere) gathered along `axis` with indices `i / block_size`, giving x's shape.
    private mutating func alongAxis(_ slot: Slot, axis: QuantizationAxis, of x: Slot, _ what: String,
                                    _ n: NodeContext) throws(NodeError) -> Slot {
        let shape = type(of: slot).shape, dataShape = type(of: x).shape
        if axis.blockSize > 0 {
            let axisIndex = try normalizeAxis(axis.axis, rank: dataShape.count, "axis")
            let dim = dataShape[axisIndex], blocks = (dim + axis.blockSize - 1) / axis.blockSize
            var expected = dataShape
            expected[axisIndex] = blocks
            guard shape == expected else {
                throw NodeError("blocked quantization with block_size \(axis.blockSize) along axis \(axisIndex) needs \(what) of shape \(shapeString(expected)), found \(shapeString(shape))")
            }
            let indices = (0..<dim).map { Double($0 / axis.blockSize) }
            let table = Constant.from(name: graph.constants.freshName("\(n.outputName(0) ?? "quantize").blocks"),
                                      type: TensorType([dim], .i64), values: indices)
            return try emit(.gather(axis: axisIndex), [slot, .constant(table)], name: nil, n)
        }
        if shape.count > 1 {
            throw NodeError("\(what) of shape \(shapeString(shape)) needs the attribute block_size (blocked quantization) or a scalar or 1-D shape")
        }
        guard shape.count == 1, shape[0] > 1 else { return slot }
        let axisIndex = try normalizeAxis(axis.axis, rank: dataShape.count, "axis")
        guard dataShape[axisIndex] == shape[0] else {
            throw NodeError("per-axis quantization along axis \(axisIndex) needs \(dataShape[axisIndex]) values of \(what), found \(shape[0])")
        }
        let target = [shape[0]] + [Int](repeating: 1, count: dataShape.count - 1 - axisIndex)
        return try emit(.reshape, [slot], declared: TensorType(target, type(of: slot).elementType), name: nil, n)
    }

    /// The `axis` and `block_size` of a QuantizeLinear/DequantizeLinear read by elementwise ops (the axis is
    /// normalized only where a per-axis or blocked parameter uses it, as per-tensor parameters ignore it).
    private struct QuantizationAxis {
        var axis: Int64
        var blockSize: Int
    }

    private func quantizationAxis(_ n: inout NodeContext) throws(NodeError) -> QuantizationAxis {
        let blockSize = try n.attributes.int("block_size", default: 0)
        guard blockSize >= 0, blockSize <= Int64(TensorType.maxElementCount) else {
            throw NodeError("block_size \(blockSize) must not be negative")
        }
        return QuantizationAxis(axis: try n.attributes.int("axis", default: 1), blockSize: Int(blockSize))
    }

    /// The slot as f32 (a cast unless it already is).
    private mutating func asF32(_ slot: Slot, _ n: NodeContext) throws(NodeError) -> Slot {
        let slotType = type(of: slot)
        if slotType.elementType == .f32 && slotType.quant == nil { return slot }
        return try emit(.cast, [slot], declared: TensorType(slotType.shape, .f32), name: nil, n)
    }

    /// `input_scale · weight_scale / output_scale` in the scales' float type, then as f32.
    private mutating func requantizationMultiplier(_ inputScale: Slot?, _ weightScale: Slot, _ outputScale: Slot,
                                                   _ n: NodeContext) throws(NodeError) -> Slot {
        guard let inputScale else { throw NodeError("\(n.node.opType) needs its input's scale") }
        let scaleType = type(of: inputScale).elementType
        guard scaleType.isFloat, type(of: weightScale).elementType == scaleType, type(of: outputScale).elementType == scaleType else {
            throw NodeError("the scales of \(n.node.opType) must share one float type, found \(type(of: inputScale).elementType), \(type(of: weightScale).elementType) and \(type(of: outputScale).elementType)")
        }
        guard type(of: outputScale).elementCount == 1 else {
            throw NodeError("y_scale of \(n.node.opType) must be a scalar (per tensor), found \(type(of: outputScale))")
        }
        let product = try emit(.binary(.mul), [inputScale, weightScale], name: nil, n)
        let multiplier = try emit(.binary(.div), [product, outputScale], name: nil, n)
        if case let .constant(folded) = multiplier, folded.hasConsistentSize, let count = folded.type.elementCount,
           !(0..<count).allSatisfy({ folded.element(at: $0).isFinite }) {
            throw NodeError("the requantization multiplier input_scale · weight_scale / output_scale of \(n.node.opType) overflows \(folded.type.elementType); the scales are out of any useful range")
        }
        return try asF32(multiplier, n)
    }

    /// An i32 accumulator requantized: `saturate(round(f32(acc) · multiplier) + zero_point)` into the zero point's
    /// 8-bit type, rounding before the zero point is added, as ONNX Runtime does (adding it first in f32 can round
    /// away the fraction: 26.500002 + 128 is 154.5, which rounds to 154 against ONNX Runtime's 27 + 128).
    /// `quant`, when given, types the result with its scale and zero point.
    mutating func requantize(_ accumulator: Slot, multiplier: Slot, zeroPoint: Slot, name: String?, quant: QuantParams? = nil,
                             _ n: NodeContext) throws(NodeError) -> Slot {
        let stored = type(of: zeroPoint).elementType
        guard stored == .i8 || stored == .u8 else {
            throw NodeError("\(n.node.opType) to \(stored) is not supported (only int8 and uint8)")
        }
        guard type(of: zeroPoint).elementCount == 1 else {
            throw NodeError("y_zero_point of \(n.node.opType) must be a scalar (per tensor), found \(type(of: zeroPoint))")
        }
        let floats = try asF32(accumulator, n)
        let scaled = try emit(.binary(.mul), [floats, multiplier], name: nil, n)
        let rounded = try emit(.unary(.roundEven), [scaled], name: nil, n)
        let point = try asF32(zeroPoint, n)
        let shifted = try emit(.binary(.add), [rounded, point], name: nil, n)
        return try saturatingCast(shifted, to: stored, name: name, quant: quant, n)
    }

    /// `saturate(round(x / scale) + zero_point)` of f32 operands (the zero point already an integral f32).
    private mutating func saturatingQuantize(_ x: Slot, scale: Slot, zeroPoint: Slot, stored: ElementType, name: String?,
                                             _ n: NodeContext) throws(NodeError) -> Slot {
        let steps = try emit(.binary(.div), [x, scale], name: nil, n)
        let rounded = try emit(.unary(.roundEven), [steps], name: nil, n)
        let shifted = try emit(.binary(.add), [rounded, zeroPoint], name: nil, n)
        return try saturatingCast(shifted, to: stored, name: name, n)
    }

    /// An integral f32 clamped to an 8-bit type's range, then cast to it (exact: the value is integral and in range).
    private mutating func saturatingCast(_ x: Slot, to stored: ElementType, name: String?, quant: QuantParams? = nil,
                                         _ n: NodeContext) throws(NodeError) -> Slot {
        guard let range = stored.integerRange else { throw NodeError("internal: \(stored) has no integer range") }
        let clamped = try emit(.unary(.clip(min: Float(range.lowerBound), max: Float(range.upperBound))), [x], name: nil, n)
        return try emit(.cast, [clamped], declared: TensorType(type(of: x).shape, stored, quant: quant), name: name, n)
    }
}
