// The single type rule of every op: from operand types (and, where the op needs it, the
// declared result type) to the result type. The builder, parser and verifier all use it.

/// Why a type rule refused an op; the message says both sides.
public struct TypeRuleError: Error, Hashable, Sendable {
    /// What is wrong, starting lowercase.
    public var message: String
    /// Makes an error.
    public init(_ message: String) { self.message = message }
}

/// Checks that a type is well formed on its own: shape, layout and quantization parameters.
public func validate(_ type: TensorType) -> String? {
    if let negative = type.shape.first(where: { $0 < 0 }) {
        return "dimension \(negative) is negative"
    }
    guard type.elementCount != nil else {
        return "shape \(shapeText(type.shape)) has more than 2^40 elements"
    }
    if let pattern = NMPattern(type.layout) {
        if let problem = NMPacking.layoutProblem(shape: type.shape, elementType: type.elementType, pattern: pattern) {
            return problem
        }
        // A dropped weight reads back as stored zero, which only means 0 when the zero point is 0.
        if let quant = type.quant, quant.zeroPoints.contains(where: { $0 != 0 }) {
            return "nm layout with quantization needs zero points of 0, since dropped weights are stored zeros"
        }
    }
    if let quant = type.quant {
        guard type.elementType.isInteger, type.elementType != .i64 else {
            return "quantization parameters need an integer element type of 32 bits or fewer (i32, i16, u16, i8, u8, i4, u4, i2, u2), found \(type.elementType)"
        }
        guard !quant.scales.isEmpty, quant.scales.count == quant.zeroPoints.count else {
            return "quantization needs as many zero points as scales, found \(quant.scales.count) scales and \(quant.zeroPoints.count) zero points"
        }
        if let axis = quant.axis {
            guard axis >= 0, axis < type.rank else {
                return "quantization axis \(axis) is out of range for rank \(type.rank)"
            }
            guard quant.scales.count == type.shape[axis] else {
                return "per-axis quantization along axis \(axis) needs \(type.shape[axis]) scales, found \(quant.scales.count)"
            }
        } else if quant.scales.count != 1 {
            return "per-tensor quantization needs one scale, found \(quant.scales.count)"
        }
        if let bad = quant.scales.first(where: { !($0 > 0) || !$0.isFinite }) {
            return "quantization scales must be positive and finite, found \(bad)"
        }
        if let range = type.elementType.integerRange, let bad = quant.zeroPoints.first(where: { !range.contains($0) }) {
            return "zero point \(bad) does not fit \(type.elementType)"
        }
    }
    return nil
}

/// Spells a shape the way the text format does, for messages: `[2x3]`, `[]` for a scalar.
func shapeText(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: "x") + "]"
}

/// The NumPy broadcast of two shapes, or nil when they do not broadcast.
public func broadcastShapes(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = max(a.count, b.count)
    var result = [Int](repeating: 0, count: rank)
    for index in 0..<rank {
        let x = index < rank - a.count ? 1 : a[index - (rank - a.count)]
        let y = index < rank - b.count ? 1 : b[index - (rank - b.count)]
        if x == y || y == 1 { result[index] = x } else if x == 1 { result[index] = y } else { return nil }
    }
    return result
}

/// Where an operand may carry an `nm` layout: the weight operand of matrix products and convolutions.
public func acceptsNMLayout(_ kind: OpKind, operand index: Int) -> Bool {
    kind.traits.contains(.product) && index == 1
}

extension OpKind {
    /// Why an `nm` weight cannot feed this op, or nil. The layout groups along the weight's
    /// reduction (the axes after the first), so a matrix product must read B as `[N, K]`
    /// (`transpose_b = true`) and a batched (rank > 2) B is refused; conv2d weights always fit.
    func nmWeightProblem(_ weight: TensorType) -> String? {
        let transposeB: Bool
        switch self {
        case .conv2d: return nil
        case let .matmul(transpose), let .gemm(_, _, _, transpose), let .fusedMatmul(transpose, _, _): transposeB = transpose
        default: return "\(mnemonic) does not read nm weights"  // only products (operand 1) accept nm layouts
        }
        guard transposeB else { return "an nm weight must be read as [N, K] with transpose_b = true (its groups run along K)" }
        guard weight.rank == 2 else { return "an nm matrix weight must have rank 2, found rank \(weight.rank)" }
        return nil
    }

    /// How many operands the op takes: a closed range, since some operands are optional.
    public var operandCountRange: ClosedRange<Int> {
        switch self {
        case .constant: return 0...0
        case .matmul: return 2...2
        case .gemm: return 2...3
        case let .fusedMatmul(_, epilogue, _):
            let extra = epilogue.filter(\.readsOperand).count
            return (2 + extra)...(2 + extra)
        case .conv2d: return 2...3
        case .binary: return 2...2
        case .unary, .softmax: return 1...1
        case .layerNorm: return 2...3
        case .batchNorm: return 5...5
        case .reduce, .argExtreme, .cumSum, .topK, .logSoftmax: return 1...1
        case .convTranspose2d: return 2...3
        case .reshape, .transpose, .flatten, .squeeze, .unsqueeze, .expand, .slice, .cast: return 1...1
        case .concat: return 1...Int.max
        case .gather: return 2...2
        case .where: return 3...3
        case .maxPool, .averagePool, .globalAveragePool, .globalMaxPool, .quantize, .dequantize: return 1...1
        case .pad, .resize: return 1...1
        case .gatherElements, .gatherND: return 2...2
        case .scatterElements, .scatterND: return 3...3
        }
    }

    /// Whether the op's result type cannot be computed from operands alone and the text must state it.
    public var needsDeclaredResult: Bool { traits.contains(.declaredResult) }

    /// Whether this is a max pool of 8-bit data (ONNX allows it from opset 12): exact, since max commutes with the
    /// monotone map of a quantized value to its real one.
    func takesEightBitMaxima(_ operand: TensorType) -> Bool {
        switch self {
        case .maxPool, .globalMaxPool: return operand.elementType == .u8 || operand.elementType == .i8
        default: return false
        }
    }

    /// The one type rule of this op.
    ///
    /// - Parameters:
    ///   - operands: the operand types, in order.
    ///   - declared: the result type written in the text, needed where `needsDeclaredResult`.
    ///   - constants: the graph's constant table, for `const`.
    /// - Returns: the result type the op produces.
    public func resultType(operands: [TensorType], declared: TensorType?, constants: ConstantTable) throws(TypeRuleError) -> TensorType {
        guard operandCountRange.contains(operands.count) else {
            let range = operandCountRange
            let expected = range.lowerBound == range.upperBound ? "\(range.lowerBound)"
                : range.upperBound == Int.max ? "at least \(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)"
            throw TypeRuleError("expected \(expected) operands, found \(operands.count)")
        }
        for (index, operand) in operands.enumerated() {
            if let problem = validate(operand) { throw TypeRuleError("operand \(index): \(problem)") }
            if case .nm = operand.layout, !acceptsNMLayout(self, operand: index) {
                throw TypeRuleError("operand \(index) has an nm layout, which only the weight operand of matmul, gemm, fused_matmul and conv2d accepts")
            }
            if case .nm = operand.layout, let problem = nmWeightProblem(operand) {
                throw TypeRuleError("operand \(index) has an nm layout, but \(problem)")
            }
        }
        func declaredType() throws(TypeRuleError) -> TensorType {
            guard let declared else { throw TypeRuleError("the result type must be stated") }
            if let problem = validate(declared) { throw TypeRuleError("result: \(problem)") }
            return declared
        }
        func sameElementType(_ types: [TensorType]) throws(TypeRuleError) -> ElementType {
            let first = types[0].elementType
            if let other = types.first(where: { $0.elementType != first }) {
                throw TypeRuleError("operands must have one element type, found \(first) and \(other.elementType)")
            }
            return first
        }
        func requireFloat(_ type: TensorType, _ what: String = "operand") throws(TypeRuleError) {
            guard type.elementType.isFloat else {
                throw TypeRuleError("\(what) must have a float element type, found \(type.elementType)")
            }
        }
        func requireDomain(_ domain: ElementDomain, _ type: TensorType, _ mnemonic: String) throws(TypeRuleError) {
            guard domain.contains(type.elementType) else {
                throw TypeRuleError("\(mnemonic) needs \(domain.article) element type, found \(type.elementType)")
            }
        }
        func requireNumeric(_ type: TensorType) throws(TypeRuleError) {
            guard type.elementType != .bool else { throw TypeRuleError("operand must be numeric, found bool") }
        }
        func requireAxis(_ axis: Int, rank: Int, inclusive: Bool = false, _ what: String = "axis") throws(TypeRuleError) {
            guard axis >= 0, inclusive ? axis <= rank : axis < rank else {
                throw TypeRuleError("\(what) \(axis) is out of range for rank \(rank)")
            }
        }
        func requireSortedUniqueAxes(_ axes: [Int], rank: Int) throws(TypeRuleError) {
            for axis in axes { try requireAxis(axis, rank: rank) }
            guard zip(axes, axes.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw TypeRuleError("axes \(axes) must be strictly increasing")
            }
        }
        func matmulShape(_ a: [Int], _ b: [Int], transposeB: Bool) throws(TypeRuleError) -> [Int] {
            guard !a.isEmpty, !b.isEmpty else { throw TypeRuleError("matrix product operands need rank 1 or more") }
            if transposeB && b.count < 2 { throw TypeRuleError("transpose_b needs a B of rank 2 or more") }
            var a2 = a, b2 = b
            if a.count == 1 { a2 = [1] + a }
            if b.count == 1 { b2 = b + [1] }
            if transposeB { b2.swapAt(b2.count - 1, b2.count - 2) }
            let k1 = a2[a2.count - 1], k2 = b2[b2.count - 2]
            guard k1 == k2 else {
                throw TypeRuleError("inner dimensions differ: A has \(k1) columns, B has \(k2) rows")
            }
            guard let batch = broadcastShapes(Array(a2.dropLast(2)), Array(b2.dropLast(2))) else {
                throw TypeRuleError("batch dimensions \(shapeText(Array(a2.dropLast(2)))) and \(shapeText(Array(b2.dropLast(2)))) do not broadcast")
            }
            var result = batch
            if a.count != 1 { result.append(a2[a2.count - 2]) }
            if b.count != 1 { result.append(b2[b2.count - 1]) }
            return result
        }
        func broadcastAll(_ shapes: [[Int]]) throws(TypeRuleError) -> [Int] {
            var result: [Int] = []
            for shape in shapes {
                guard let next = broadcastShapes(result, shape) else {
                    throw TypeRuleError("shapes \(shapes.map(shapeText).joined(separator: ", ")) do not broadcast")
                }
                result = next
            }
            return result
        }
        func requireUnidirectional(_ shape: [Int], to target: [Int], _ what: String) throws(TypeRuleError) {
            guard broadcastShapes(target, shape) == target else {
                throw TypeRuleError("\(what) of shape \(shapeText(shape)) does not broadcast to \(shapeText(target))")
            }
        }
        func window(size: Int, kernel: Int, stride: Int, padBegin: Int, padEnd: Int, dilation: Int, ceil: Bool) throws(TypeRuleError) -> Int {
            guard kernel > 0, stride > 0, dilation > 0, padBegin >= 0, padEnd >= 0 else {
                throw TypeRuleError("kernel, stride and dilation must be positive and pads non-negative")
            }
            let span = (kernel - 1) * dilation + 1
            let padded = size + padBegin + padEnd
            guard padded >= span else {
                throw TypeRuleError("window of \(span) does not fit the padded input of \(padded)")
            }
            var out = (padded - span) / stride + 1
            if ceil && (padded - span) % stride != 0 {
                out += 1
                // The last window must start inside the input or its leading pad.
                if (out - 1) * stride >= size + padBegin { out -= 1 }
            }
            return out
        }

        switch self {
        case let .constant(id):
            guard let constant = constants[id] else {
                throw TypeRuleError("constant #\(id.index) is not in the constant table")
            }
            return constant.type

        case let .matmul(transposeB):
            let element = try sameElementType(operands)
            try requireNumeric(operands[0])
            return TensorType(try matmulShape(operands[0].shape, operands[1].shape, transposeB: transposeB), element)

        case let .gemm(_, _, transposeA, transposeB):
            let element = try sameElementType(Array(operands.prefix(2)))
            try requireNumeric(operands[0])
            guard operands[0].rank == 2, operands[1].rank == 2 else {
                throw TypeRuleError("gemm needs 2-D A and B, found ranks \(operands[0].rank) and \(operands[1].rank)")
            }
            let a = operands[0].shape, b = operands[1].shape
            let (m, k1) = transposeA ? (a[1], a[0]) : (a[0], a[1])
            let (k2, n) = transposeB ? (b[1], b[0]) : (b[0], b[1])
            guard k1 == k2 else { throw TypeRuleError("inner dimensions differ: op(A) has \(k1) columns, op(B) has \(k2) rows") }
            if operands.count == 3 {
                guard operands[2].elementType == element else {
                    throw TypeRuleError("C must have element type \(element), found \(operands[2].elementType)")
                }
                try requireUnidirectional(operands[2].shape, to: [m, n], "C")
            }
            return TensorType([m, n], element)

        case let .fusedMatmul(transposeB, epilogue, activations):
            let element: ElementType
            if DynamicInt8.isDynamicInt8(weight: operands[1]) {
                // The dynamic int8 product: f32 activations, an i8 weight quantized per output channel, f32 epilogue.
                if let problem = DynamicInt8.problem(activations: operands[0], weight: operands[1], transposeB: transposeB,
                                                     scheme: activations) {
                    throw TypeRuleError(problem)
                }
                element = try sameElementType([TensorType([], .f32)] + operands.dropFirst(2))
            } else {
                guard activations == .perRow else {
                    throw TypeRuleError("activations = \"\(activations.rawValue)\" applies only to a product by a quantized weight")
                }
                element = try sameElementType(operands)
                try requireFloat(operands[0])
            }
            let shape = try matmulShape(operands[0].shape, operands[1].shape, transposeB: transposeB)
            var next = 2
            for (position, step) in epilogue.enumerated() {
                switch step {
                case .bias:
                    guard let last = shape.last, operands[next].shape.reduce(1, *) == last,
                          operands[next].rank <= shape.count,
                          broadcastShapes(shape, operands[next].shape) == shape else {
                        throw TypeRuleError("bias operand \(next) of shape \(shapeText(operands[next].shape)) must hold one value per output column of \(shapeText(shape))")
                    }
                    next += 1
                case .residualAdd:
                    guard operands[next].shape == shape else {
                        throw TypeRuleError("residual operand \(next) must have the result shape \(shapeText(shape)), found \(shapeText(operands[next].shape))")
                    }
                    next += 1
                case let .activation(function):
                    guard function.isActivation else {
                        throw TypeRuleError("\(function.mnemonic) is not an activation an epilogue can apply")
                    }
                    if let problem = function.parameterProblem { throw TypeRuleError(problem) }
                case .quantize:
                    guard position == epilogue.count - 1 else { throw TypeRuleError("the quantize epilogue step must be the last") }
                    let result = try declaredType()
                    guard element == .f32, [.u8, .i8].contains(result.elementType), let quant = result.quant, quant.axis == nil,
                          result.shape == shape, result.layout == .dense else {
                        throw TypeRuleError("an epilogue ending in quantize gives an f32 product's shape \(shapeText(shape)) as u8 or i8 "
                                            + "with one scale and zero point; the result is \(result.elementType) \(shapeText(result.shape))\(result.quant == nil ? " without quantization parameters" : "")")
                    }
                    return result
                case .requantize:
                    guard epilogue.count == 1, DynamicInt8.isDynamicInt8(weight: operands[1]),
                          operands[0].elementType == .i8 || operands[0].elementType == .u8 else {
                        throw TypeRuleError("requantize is the only epilogue step of an int8 product whose activations are i8 or u8 quantized per tensor")
                    }
                    let result = try declaredType()
                    guard [.u8, .i8].contains(result.elementType), let quant = result.quant, quant.axis == nil,
                          result.shape == shape, result.layout == .dense else {
                        throw TypeRuleError("requantize gives the product's shape \(shapeText(shape)) as u8 or i8 with one scale and zero point; "
                                            + "the result is \(result.elementType) \(shapeText(result.shape))\(result.quant == nil ? " without quantization parameters" : "")")
                    }
                    return result
                }
            }
            return TensorType(shape, element)

        case let .conv2d(attributes):
            var element: ElementType
            // A stated 8-bit result makes the int8 convolution requantizing (`DynamicInt8.requantize`).
            var requantized: TensorType? = nil
            if DynamicInt8.isDynamicInt8(weight: operands[1]) {
                // The int8 convolution: quantized activations, an i8 weight quantized per output channel, f32 result.
                if let problem = DynamicInt8.convolutionProblem(input: operands[0], weight: operands[1]) {
                    throw TypeRuleError(problem)
                }
                if let declared, declared.elementType == .i8 || declared.elementType == .u8 {
                    let result = try declaredType()
                    guard operands[0].elementType != .f32, let quant = result.quant, quant.axis == nil, result.layout == .dense,
                          operands.count < 3 || operands[2].elementType == .i32 else {
                        throw TypeRuleError("a requantizing int8 conv2d reads i8 or u8 input, an i32 bias if any, and gives u8 or i8 "
                                            + "with one scale and zero point; found input \(operands[0].elementType), result \(result)")
                    }
                    requantized = result
                    element = .f32
                } else {
                    element = try sameElementType([TensorType([], .f32)] + operands.dropFirst(2))
                }
            } else {
                element = try sameElementType(operands)
            }
            // i32 is the zero-point-shifted convolution that ONNX ConvInteger and QLinearConv import to.
            guard element.isFloat || element == .i32 else {
                throw TypeRuleError("conv2d needs float or i32 operands, found \(element)")
            }
            let x = operands[0].shape, w = operands[1].shape
            guard x.count == 4, w.count == 4 else {
                throw TypeRuleError("conv2d needs 4-D input and weight, found ranks \(x.count) and \(w.count)")
            }
            guard attributes.strides.count == 2, attributes.dilations.count == 2, attributes.pads.count == 4 else {
                throw TypeRuleError("conv2d needs 2 strides, 2 dilations and 4 pads")
            }
            let groups = attributes.groups
            guard groups >= 1, x[1] % groups == 0, w[0] % groups == 0 else {
                throw TypeRuleError("groups \(groups) must divide the \(x[1]) input channels and \(w[0]) output channels")
            }
            guard w[1] * groups == x[1] else {
                throw TypeRuleError("weight expects \(w[1] * groups) input channels, input has \(x[1])")
            }
            if operands.count == 3 {
                guard operands[2].shape == [w[0]] else {
                    throw TypeRuleError("bias must have shape [\(w[0])], found \(shapeText(operands[2].shape))")
                }
            }
            let height = try window(size: x[2], kernel: w[2], stride: attributes.strides[0], padBegin: attributes.pads[0],
                                    padEnd: attributes.pads[2], dilation: attributes.dilations[0], ceil: false)
            let width = try window(size: x[3], kernel: w[3], stride: attributes.strides[1], padBegin: attributes.pads[1],
                                   padEnd: attributes.pads[3], dilation: attributes.dilations[1], ceil: false)
            if let requantized {
                guard requantized.shape == [x[0], w[0], height, width] else {
                    throw TypeRuleError("the requantizing conv2d gives shape \(shapeText([x[0], w[0], height, width])), the result has \(shapeText(requantized.shape))")
                }
                return requantized
            }
            return TensorType([x[0], w[0], height, width], element)

        case let .binary(function):
            let element = try sameElementType(operands)
            try requireDomain(function.domain, operands[0], function.mnemonic)
            return TensorType(try broadcastAll(operands.map(\.shape)), function.isComparison ? .bool : element)

        case let .unary(function):
            try requireDomain(function.domain, operands[0], function.mnemonic)
            if let problem = function.parameterProblem { throw TypeRuleError(problem) }
            return function.isPredicate ? TensorType(operands[0].shape, .bool) : operands[0].plain

        case let .softmax(axis):
            try requireFloat(operands[0])
            try requireAxis(axis, rank: operands[0].rank)
            return operands[0].plain

        case let .layerNorm(axis, epsilon):
            try requireFloat(operands[0])
            _ = try sameElementType(operands)
            try requireAxis(axis, rank: operands[0].rank)
            guard epsilon >= 0 else { throw TypeRuleError("epsilon must be non-negative, found \(epsilon)") }
            let normalized = Array(operands[0].shape[axis...])
            try requireUnidirectional(operands[1].shape, to: normalized, "scale")
            if operands.count == 3 { try requireUnidirectional(operands[2].shape, to: normalized, "bias") }
            return operands[0].plain

        case let .batchNorm(epsilon):
            try requireFloat(operands[0])
            _ = try sameElementType(operands)
            guard operands[0].rank >= 2 else { throw TypeRuleError("batch_norm needs rank 2 or more, found \(operands[0].rank)") }
            guard epsilon >= 0 else { throw TypeRuleError("epsilon must be non-negative, found \(epsilon)") }
            let channels = operands[0].shape[1]
            for index in 1..<5 where operands[index].shape != [channels] {
                throw TypeRuleError("operand \(index) must have shape [\(channels)], found \(shapeText(operands[index].shape))")
            }
            return operands[0].plain

        case let .reduce(function, axes, keepDims):
            switch function.domain {
            case .ordered: break
            case .numeric: try requireNumeric(operands[0])
            case .float: try requireFloat(operands[0])
            }
            // An empty axis list reduces each element alone (ONNX's noop_with_empty_axes for l1, l2, ...).
            try requireSortedUniqueAxes(axes, rank: operands[0].rank)
            var shape: [Int] = []
            for (axis, dim) in operands[0].shape.enumerated() {
                if axes.contains(axis) { if keepDims { shape.append(1) } } else { shape.append(dim) }
            }
            return TensorType(shape, operands[0].elementType)

        case let .argExtreme(_, axis, keepDims, _):
            try requireAxis(axis, rank: operands[0].rank)
            guard operands[0].shape[axis] > 0 else {
                throw TypeRuleError("axis \(axis) has size 0, so there is no position to return")
            }
            var shape = operands[0].shape
            if keepDims { shape[axis] = 1 } else { shape.remove(at: axis) }
            return TensorType(shape, .i64)

        case let .cumSum(axis, _, _):
            try requireNumeric(operands[0])
            try requireAxis(axis, rank: operands[0].rank)
            return operands[0].plain

        case let .topK(k, axis, _, output):
            try requireNumeric(operands[0])
            try requireAxis(axis, rank: operands[0].rank)
            guard k >= 0, k <= operands[0].shape[axis] else {
                throw TypeRuleError("k \(k) must be between 0 and the size \(operands[0].shape[axis]) of axis \(axis)")
            }
            var shape = operands[0].shape
            shape[axis] = k
            return TensorType(shape, output == .values ? operands[0].elementType : .i64)

        case let .logSoftmax(axis):
            try requireFloat(operands[0])
            try requireAxis(axis, rank: operands[0].rank)
            return operands[0].plain

        case let .convTranspose2d(attributes):
            let element = try sameElementType(operands)
            try requireFloat(operands[0])
            let x = operands[0].shape, w = operands[1].shape
            guard x.count == 4, w.count == 4 else {
                throw TypeRuleError("conv_transpose2d needs 4-D input and weight, found ranks \(x.count) and \(w.count)")
            }
            guard attributes.strides.count == 2, attributes.dilations.count == 2, attributes.pads.count == 4,
                  attributes.outputPadding.count == 2 else {
                throw TypeRuleError("conv_transpose2d needs 2 strides, 2 dilations, 4 pads and 2 output paddings")
            }
            let groups = attributes.groups
            guard groups >= 1, x[1] % groups == 0 else {
                throw TypeRuleError("groups \(groups) must divide the \(x[1]) input channels")
            }
            guard w[0] == x[1] else {
                throw TypeRuleError("weight has \(w[0]) input channels (its first axis), input has \(x[1])")
            }
            guard attributes.strides.allSatisfy({ $0 > 0 }), attributes.dilations.allSatisfy({ $0 > 0 }),
                  attributes.outputPadding.allSatisfy({ $0 >= 0 }) else {
                throw TypeRuleError("strides and dilations must be positive and output paddings non-negative")
            }
            let channels = w[1].multipliedReportingOverflow(by: groups)
            guard !channels.overflow else { throw TypeRuleError("\(w[1]) output channels per group times \(groups) groups overflows") }
            if operands.count == 3 {
                guard operands[2].shape == [channels.partialValue] else {
                    throw TypeRuleError("bias must have shape [\(channels.partialValue)], found \(shapeText(operands[2].shape))")
                }
            }
            var spatial: [Int] = []
            for axis in 0..<2 {
                // (in - 1) * stride + (kernel - 1) * dilation + 1 + output padding - pads, refusing absurd sizes
                // (each factor at most 2^40 and each product checked, so nothing overflows).
                let limit = TensorType.maxElementCount
                guard w[2 + axis] >= 1 else { throw TypeRuleError("the weight's spatial axis \(axis) has size 0") }
                // Pads may be negative: a negative pad adds output rows that no input reaches.
                let factors = [x[2 + axis], w[2 + axis], attributes.strides[axis], attributes.dilations[axis],
                               attributes.outputPadding[axis], attributes.pads[axis].magnitude > UInt(limit) ? limit + 1 : 0,
                               attributes.pads[axis + 2].magnitude > UInt(limit) ? limit + 1 : 0]
                let stretched = (x[2 + axis] - 1).multipliedReportingOverflow(by: attributes.strides[axis])
                let spread = (w[2 + axis] - 1).multipliedReportingOverflow(by: attributes.dilations[axis])
                guard factors.allSatisfy({ $0 <= limit }), !stretched.overflow, !spread.overflow,
                      stretched.partialValue <= limit, spread.partialValue <= limit else {
                    throw TypeRuleError("conv_transpose2d sizes along spatial axis \(axis) are absurd: input \(x[2 + axis]), kernel \(w[2 + axis]), stride \(attributes.strides[axis]), dilation \(attributes.dilations[axis])")
                }
                let full = max(stretched.partialValue, 0) + spread.partialValue + 1 + attributes.outputPadding[axis]
                let size = x[2 + axis] == 0 ? 0 : full - attributes.pads[axis] - attributes.pads[axis + 2]
                guard size >= 0 else {
                    throw TypeRuleError("pads \(attributes.pads[axis]) and \(attributes.pads[axis + 2]) remove more than the \(full) outputs along spatial axis \(axis)")
                }
                spatial.append(size)
            }
            let result = TensorType([x[0], channels.partialValue] + spatial, element)
            if let problem = validate(result) { throw TypeRuleError("result: \(problem)") }
            return result

        case .reshape:
            let result = try declaredType()
            guard result.elementType == operands[0].elementType else {
                throw TypeRuleError("reshape keeps the element type \(operands[0].elementType), result has \(result.elementType)")
            }
            guard result.elementCount == operands[0].elementCount else {
                throw TypeRuleError("reshape from \(shapeText(operands[0].shape)) to \(shapeText(result.shape)) changes the element count")
            }
            return operands[0].moved(to: result.shape)

        case let .transpose(permutation):
            guard permutation.sorted() == Array(0..<operands[0].rank) else {
                throw TypeRuleError("permutation \(permutation) is not a permutation of the \(operands[0].rank) axes")
            }
            return operands[0].moved(to: permutation.map { operands[0].shape[$0] })

        case let .flatten(axis):
            try requireAxis(axis, rank: operands[0].rank, inclusive: true)
            let shape = operands[0].shape
            return operands[0].moved(to: [shape[..<axis].reduce(1, *), shape[axis...].reduce(1, *)])

        case let .squeeze(axes):
            guard !axes.isEmpty else { throw TypeRuleError("squeeze needs at least one axis") }
            try requireSortedUniqueAxes(axes, rank: operands[0].rank)
            if let axis = axes.first(where: { operands[0].shape[$0] != 1 }) {
                throw TypeRuleError("squeezed axis \(axis) has size \(operands[0].shape[axis]), expected 1")
            }
            return operands[0].moved(to: operands[0].shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element))

        case let .unsqueeze(axes):
            guard !axes.isEmpty else { throw TypeRuleError("unsqueeze needs at least one axis") }
            let rank = operands[0].rank + axes.count
            try requireSortedUniqueAxes(axes, rank: rank)
            var source = operands[0].shape.makeIterator()
            var shape: [Int] = []
            for axis in 0..<rank { shape.append(axes.contains(axis) ? 1 : source.next() ?? 1) }
            return operands[0].moved(to: shape)

        case .expand:
            let result = try declaredType()
            guard broadcastShapes(operands[0].shape, result.shape) == result.shape else {
                throw TypeRuleError("cannot expand \(shapeText(operands[0].shape)) to \(shapeText(result.shape))")
            }
            return operands[0].moved(to: result.shape)

        case let .concat(axis):
            let element = try sameElementType(operands)
            let first = operands[0].shape
            try requireAxis(axis, rank: first.count)
            var total = 0
            for (index, operand) in operands.enumerated() {
                guard operand.rank == first.count,
                      operand.shape.enumerated().allSatisfy({ $0.offset == axis || $0.element == first[$0.offset] }) else {
                    throw TypeRuleError("operand \(index) of shape \(shapeText(operand.shape)) does not match \(shapeText(first)) outside axis \(axis)")
                }
                total += operand.shape[axis]
            }
            var shape = first
            shape[axis] = total
            // Operands quantized alike stay so (what a QLinearConcat whose inputs share its output's parameters is).
            let quant = operands[0].quant
            let alike = quant?.axis == nil && operands.allSatisfy { $0.quant == quant && $0.layout == .dense }
            return TensorType(shape, element, quant: alike ? quant : nil)

        case let .gather(axis):
            try requireAxis(axis, rank: operands[0].rank)
            guard operands[1].elementType == .i32 || operands[1].elementType == .i64 else {
                throw TypeRuleError("indices must be i32 or i64, found \(operands[1].elementType)")
            }
            let data = operands[0].shape
            // One scale and zero point hold for every element wherever it moves (a QLinearAdd's table lookup).
            return operands[0].moved(to: Array(data[..<axis]) + operands[1].shape + Array(data[(axis + 1)...]))

        case let .slice(starts, ends, axes, steps):
            guard starts.count == axes.count, ends.count == axes.count, steps.count == axes.count else {
                throw TypeRuleError("starts, ends, axes and steps must have one entry per sliced axis")
            }
            guard Set(axes).count == axes.count else { throw TypeRuleError("axes \(axes) repeat an axis") }
            var shape = operands[0].shape
            for index in axes.indices {
                let axis = axes[index]
                try requireAxis(axis, rank: shape.count)
                let dim = operands[0].shape[axis], start = starts[index], end = ends[index], step = steps[index]
                if step > 0 {
                    guard 0 <= start, start <= dim, start <= end, end <= dim else {
                        throw TypeRuleError("slice of axis \(axis) needs 0 <= start <= end <= \(dim) with a positive step, found \(start)..\(end)")
                    }
                    shape[axis] = (end - start + step - 1) / step
                } else if step < 0 {
                    guard -1 <= end, end <= start, start < dim else {
                        throw TypeRuleError("slice of axis \(axis) needs -1 <= end <= start < \(dim) with a negative step, found \(start)..\(end)")
                    }
                    shape[axis] = (start - end - step - 1) / -step
                } else {
                    throw TypeRuleError("slice step must not be 0")
                }
            }
            return operands[0].moved(to: shape)

        case .cast:
            let result = try declaredType()
            guard result.shape == operands[0].shape else {
                throw TypeRuleError("cast keeps the shape \(shapeText(operands[0].shape)), result has \(shapeText(result.shape))")
            }
            // A stated per-tensor quantization types the integers as the quantized values they are (the end of a
            // requantization spelled out in ops, which the next QLinear product reads as an int8 kernel's input).
            var cast = operands[0].with(elementType: result.elementType)
            if let quant = result.quant, quant.axis == nil { cast.quant = quant }
            return cast

        case .where:
            guard operands[0].elementType == .bool else {
                throw TypeRuleError("condition must be bool, found \(operands[0].elementType)")
            }
            let element = try sameElementType(Array(operands.dropFirst()))
            return TensorType(try broadcastAll(operands.map(\.shape)), element)

        case let .maxPool(attributes), let .averagePool(attributes):
            if !takesEightBitMaxima(operands[0]) { try requireFloat(operands[0]) }
            let x = operands[0].shape
            guard x.count == 4 else { throw TypeRuleError("pooling needs a 4-D input, found rank \(x.count)") }
            guard attributes.kernel.count == 2, attributes.strides.count == 2, attributes.dilations.count == 2,
                  attributes.pads.count == 4 else {
                throw TypeRuleError("pooling needs 2 kernel sizes, 2 strides, 2 dilations and 4 pads")
            }
            for axis in 0..<2 where attributes.pads[axis] >= attributes.kernel[axis] || attributes.pads[axis + 2] >= attributes.kernel[axis] {
                throw TypeRuleError("pads must be smaller than the kernel, found pad \(max(attributes.pads[axis], attributes.pads[axis + 2])) for kernel \(attributes.kernel[axis])")
            }
            let height = try window(size: x[2], kernel: attributes.kernel[0], stride: attributes.strides[0],
                                    padBegin: attributes.pads[0], padEnd: attributes.pads[2],
                                    dilation: attributes.dilations[0], ceil: attributes.ceilMode)
            let width = try window(size: x[3], kernel: attributes.kernel[1], stride: attributes.strides[1],
                                   padBegin: attributes.pads[1], padEnd: attributes.pads[3],
                                   dilation: attributes.dilations[1], ceil: attributes.ceilMode)
            return operands[0].moved(to: [x[0], x[1], height, width])

        case .globalAveragePool, .globalMaxPool:
            if !takesEightBitMaxima(operands[0]) { try requireFloat(operands[0]) }
            let x = operands[0].shape
            guard x.count >= 3 else { throw TypeRuleError("global pooling needs rank 3 or more, found \(x.count)") }
            return operands[0].moved(to: [x[0], x[1]] + Array(repeating: 1, count: x.count - 2))

        case .quantize:
            try requireFloat(operands[0])
            let result = try declaredType()
            guard result.quant != nil else { throw TypeRuleError("quantize needs quantization parameters on its result type") }
            guard result.shape == operands[0].shape, result.layout == .dense else {
                throw TypeRuleError("quantize keeps the shape \(shapeText(operands[0].shape)), result has \(shapeText(result.shape))")
            }
            return result

        case .dequantize:
            guard operands[0].quant != nil else {
                throw TypeRuleError("dequantize needs an operand with quantization parameters, found \(operands[0].elementType) without")
            }
            return TensorType(operands[0].shape, .f32)

        case .pad, .resize, .gatherElements, .gatherND, .scatterElements, .scatterND:
            return try movementResultType(operands, declared: declared)
        }
    }
}
