// Elementwise kernels: broadcast binary arithmetic and comparison, activations, unary math, cast and where.
// Float math is done in Double and rounded once; integer arithmetic is exact in Int64 and then wraps like ONNX (C).

import Foundation
import SieveIR

/// Broadcast binary op with NumPy rules; integer division truncates toward zero and refuses a zero divisor.
func binary(_ op: BinaryFunction, _ a: Tensor, _ b: Tensor, resultType: TensorType) throws -> Tensor {
    let shape = resultType.shape
    switch (a.storage(broadcastTo: shape), b.storage(broadcastTo: shape)) {
    case let (.floats(x), .floats(y)):
        switch op {
        case .add: return floatResult(resultType, zip(x, y).map { $0 + $1 })
        case .sub: return floatResult(resultType, zip(x, y).map { $0 - $1 })
        case .mul: return floatResult(resultType, zip(x, y).map { $0 * $1 })
        case .div: return floatResult(resultType, zip(x, y).map { $0 / $1 })
        case .pow: return floatResult(resultType, zip(x, y).map { Float(Foundation.pow(Double($0), Double($1))) })
        case .equal: return integerResult(resultType, zip(x, y).map { $0 == $1 ? 1 : 0 })
        case .max, .min, .prelu, .mod, .fmod, .greater, .less, .greaterOrEqual, .lessOrEqual, .and, .or, .xor:
            return floatBinary(op, x, y, resultType: resultType)
        }
    case let (.integers(x), .integers(y)):
        switch op {
        case .add: return integerResult(resultType, zip(x, y).map { $0 &+ $1 })
        case .sub: return integerResult(resultType, zip(x, y).map { $0 &- $1 })
        case .mul: return integerResult(resultType, zip(x, y).map { $0 &* $1 })
        case .div:
            var quotients = [Int64](repeating: 0, count: x.count)
            for index in x.indices {
                guard y[index] != 0 else {
                    throw EvaluationError("integer division by zero at element \(index) of the result (dividend \(x[index]))")
                }
                // Swift's `/` truncates toward zero like C; only Int64.min / -1 overflows, and it wraps.
                quotients[index] = x[index].dividedReportingOverflow(by: y[index]).partialValue
            }
            return integerResult(resultType, quotients)
        case .pow: return integerResult(resultType, zip(x, y).map { integerPower($0, $1) })
        case .equal: return integerResult(resultType, zip(x, y).map { $0 == $1 ? 1 : 0 })
        case .max, .min, .prelu, .mod, .fmod, .greater, .less, .greaterOrEqual, .lessOrEqual, .and, .or, .xor:
            return try integerBinary(op, x, y, resultType: resultType)
        }
    case (.floats, .integers), (.integers, .floats):
        throw EvaluationError("operands must have one element type, found \(a.elementType) and \(b.elementType)")
    }
}

/// `base ** exponent` in wrapping Int64 arithmetic; a negative exponent gives the truncated
/// reciprocal (0 unless the base is 1 or -1), as converting the real power to an integer does.
func integerPower(_ base: Int64, _ exponent: Int64) -> Int64 {
    if exponent < 0 {
        switch base {
        case 1: return 1
        case -1: return exponent % 2 == 0 ? 1 : -1
        default: return 0  // base 0 has no finite reciprocal; 0 keeps the op total
        }
    }
    var result: Int64 = 1, factor = base, remaining = exponent
    while remaining > 0 {
        if remaining & 1 == 1 { result = result &* factor }
        factor = factor &* factor
        remaining >>= 1
    }
    return result
}

/// A unary function on one float value, computed in Double where rounding matters and rounded once.
func apply(_ function: UnaryFunction, _ x: Float) -> Float {
    switch function {
    case .relu:
        return x < 0 ? 0 : x  // NaN passes through, as max(x, 0) in ONNX's reference does
    case let .leakyRelu(alpha):
        return x < 0 ? alpha * x : x
    case .gelu(approximateTanh: false):
        let value = Double(x)
        return Float(0.5 * value * (1 + erf(value / 2.0.squareRoot())))
    case .gelu(approximateTanh: true):
        let value = Double(x)
        let inner = (2 / Double.pi).squareRoot() * (value + 0.044715 * value * value * value)
        return Float(0.5 * value * (1 + tanh(inner)))
    case .sigmoid:
        // Split by sign so exp never overflows.
        let value = Double(x)
        if value >= 0 { return Float(1 / (1 + exp(-value))) }
        let e = exp(value)
        return Float(e / (1 + e))
    case .tanh:
        return Float(tanh(Double(x)))
    case let .clip(low, high):
        return x < low ? low : (x > high ? high : x)
    case .erf:
        return Float(Foundation.erf(Double(x)))
    case .sqrt:
        return Float(Double(x).squareRoot())
    case .exp:
        return Float(Foundation.exp(Double(x)))
    case .neg:
        return -x
    case let .hardSigmoid(alpha, beta):
        // Rounded to f32 after the multiply and after the add, as the C kernel computes it.
        let value = alpha * x + beta
        return value < 0 ? 0 : (value > 1 ? 1 : value)
    case .absolute, .reciprocal, .logarithm, .floor, .ceiling, .roundEven, .sign, .sin, .cos, .hardSwish, .elu, .selu,
         .softplus, .softsign, .mish, .celu, .thresholdedRelu, .isNan, .logicalNot:
        return applyElementwiseGroup(function, x)
    }
}

/// A unary function elementwise; the `numeric` ones (relu, clip, neg) also take integer tensors.
func unary(_ function: UnaryFunction, _ x: Tensor, resultType: TensorType) -> Tensor {
    switch x.storage {
    case let .floats(values):
        if function.isPredicate { return integerResult(resultType, values.map { apply(function, $0) != 0 ? 1 : 0 }) }
        return floatResult(resultType, values.map { apply(function, $0) })
    case let .integers(values):
        switch function {
        case .relu:
            return integerResult(resultType, values.map { max($0, 0) })
        case let .clip(low, high):
            // Clamp to the integers inside [low, high].
            let lowest = toInt64(Double(low).rounded(.up)), highest = toInt64(Double(high).rounded(.down))
            return integerResult(resultType, values.map { min(max($0, lowest), highest) })
        case .neg:
            // Integers wrap: the minimum of a signed type stays itself, as in C.
            return integerResult(resultType, values.map { 0 &- $0 })
        case .leakyRelu, .gelu, .sigmoid, .tanh, .erf, .sqrt, .exp, .hardSigmoid:
            // The type rule admits only float operands for these; compute in Float to stay total.
            return integerResult(resultType, values.map { toInt64(Double(apply(function, Float($0))).rounded(.towardZero)) })
        case .absolute, .reciprocal, .logarithm, .floor, .ceiling, .roundEven, .sign, .sin, .cos, .hardSwish, .elu, .selu,
             .softplus, .softsign, .mish, .celu, .thresholdedRelu, .isNan, .logicalNot:
            return integerResult(resultType, values.map { applyElementwiseGroup(function, integer: $0) })
        }
    }
}

/// ONNX Cast.
///
/// Float to integer truncates toward zero. ONNX leaves out-of-range values undefined; this
/// converts through Int64 (saturating there, NaN giving 0) and then wraps to the target width,
/// as NumPy's `astype` does on x86. To bool, any non-zero value (NaN included) is true.
func cast(_ x: Tensor, to resultType: TensorType) -> Tensor {
    let target = resultType.elementType
    switch x.storage {
    case let .floats(values):
        if target.isFloat { return floatResult(resultType, values) }
        if target == .bool { return integerResult(resultType, values.map { $0 != 0 ? 1 : 0 }) }
        return integerResult(resultType, values.map { toInt64(Double($0).rounded(.towardZero)) })
    case let .integers(values):
        if target.isFloat { return floatResult(resultType, values.map { Float($0) }) }
        return integerResult(resultType, values)
    }
}

/// ONNX Where: `condition ? x : y` with all three broadcast.
func select(_ condition: Tensor, _ x: Tensor, _ y: Tensor, resultType: TensorType) throws -> Tensor {
    let shape = resultType.shape
    guard case let .integers(flags) = condition.storage(broadcastTo: shape) else {
        throw EvaluationError("condition must be bool, found \(condition.elementType)")
    }
    switch (x.storage(broadcastTo: shape), y.storage(broadcastTo: shape)) {
    case let (.floats(a), .floats(b)):
        return floatResult(resultType, flags.indices.map { flags[$0] != 0 ? a[$0] : b[$0] })
    case let (.integers(a), .integers(b)):
        return integerResult(resultType, flags.indices.map { flags[$0] != 0 ? a[$0] : b[$0] })
    case (.floats, .integers), (.integers, .floats):
        throw EvaluationError("x and y must have one element type, found \(x.elementType) and \(y.elementType)")
    }
}

// MARK: The elementwise group of #12 (math functions, activations, comparisons and logic)

/// e^x of a float, computed in Double and rounded once, as the kernel IR's `exp` is.
private func exponential(_ x: Float) -> Float { Float(Foundation.exp(Double(x))) }

/// ln(1 + e^x) in Double without overflow, rounded once: the kernel IR's `softplus`.
private func softplusValue(_ x: Float) -> Float {
    let value = Double(x)
    return Float(Swift.max(value, 0) + log1p(Foundation.exp(-value.magnitude)))
}

/// The unary functions of the elementwise group on one float value. Each is the composition of f32 steps
/// (or one Double computation rounded once) that the lowering emits, so compiled code matches exactly.
/// Predicates give 1 or 0.
func applyElementwiseGroup(_ function: UnaryFunction, _ x: Float) -> Float {
    switch function {
    case .absolute: return x.magnitude
    case .reciprocal: return 1 / x
    case .logarithm: return Float(Foundation.log(Double(x)))
    case .floor: return x.rounded(.down)
    case .ceiling: return x.rounded(.up)
    case .roundEven: return x.rounded(.toNearestOrEven)
    case .sign: return x > 0 ? 1 : (x < 0 ? -1 : x)
    case .sin: return Float(Foundation.sin(Double(x)))
    case .cos: return Float(Foundation.cos(Double(x)))
    case .hardSwish: return x * apply(.hardSigmoid(alpha: 1 / 6, beta: 0.5), x)
    case let .elu(alpha): return x < 0 ? alpha * (exponential(x) - 1) : x
    case let .selu(alpha, gamma): return x < 0 ? gamma * (alpha * (exponential(x) - 1)) : gamma * x
    case .softplus: return softplusValue(x)
    case .softsign: return x / (1 + x.magnitude)
    case .mish: return x * Float(Foundation.tanh(Double(softplusValue(x))))
    case let .celu(alpha): return x < 0 ? alpha * (exponential(x / alpha) - 1) : x
    case let .thresholdedRelu(alpha): return x > alpha ? x : 0
    case .isNan: return x.isNaN ? 1 : 0
    case .logicalNot: return x == 0 ? 1 : 0
    case .relu, .sigmoid, .tanh, .erf, .sqrt, .exp, .neg, .leakyRelu, .gelu, .clip, .hardSigmoid:
        return apply(function, x)
    }
}

/// The unary functions of the elementwise group on one integer or bool value (before wrapping to the type).
func applyElementwiseGroup(_ function: UnaryFunction, integer x: Int64) -> Int64 {
    switch function {
    case .absolute: return x < 0 ? 0 &- x : x
    case .sign: return x > 0 ? 1 : (x < 0 ? -1 : 0)
    case .logicalNot: return x == 0 ? 1 : 0
    case .isNan: return 0
    default:
        // The type rule admits only float operands for the others; compute in Float to stay total.
        return toInt64(Double(applyElementwiseGroup(function, Float(x))).rounded(.towardZero))
    }
}

/// The comparisons and logic of the elementwise group, on floats or integers alike: 1 or 0 per element (logic reads
/// any nonzero as true).
func truthTable<T: Comparable & Numeric>(_ op: BinaryFunction, _ x: [T], _ y: [T], resultType: TensorType) -> Tensor {
    let condition: (T, T) -> Bool
    switch op {
    case .greater: condition = { $0 > $1 }
    case .less: condition = { $0 < $1 }
    case .greaterOrEqual: condition = { $0 >= $1 }
    case .lessOrEqual: condition = { $0 <= $1 }
    case .and: condition = { $0 != 0 && $1 != 0 }
    case .or: condition = { $0 != 0 || $1 != 0 }
    case .xor: condition = { ($0 != 0) != ($1 != 0) }
    default: preconditionFailure("\(op.mnemonic) is not a comparison or logic function")
    }
    return integerResult(resultType, zip(x, y).map { condition($0, $1) ? 1 : 0 })
}

/// The binary functions of the elementwise group on floats (comparisons and logic give 1 or 0).
func floatBinary(_ op: BinaryFunction, _ x: [Float], _ y: [Float], resultType: TensorType) -> Tensor {
    switch op {
    case .max: return floatResult(resultType, zip(x, y).map { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1) })
    case .min: return floatResult(resultType, zip(x, y).map { $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1) })
    case .prelu: return floatResult(resultType, zip(x, y).map { $0 < 0 ? $1 * $0 : $0 })
    case .fmod: return floatResult(resultType, zip(x, y).map { $0.truncatingRemainder(dividingBy: $1) })
    case .mod:
        // The type rule admits integers only; the floored remainder keeps the op total.
        return floatResult(resultType, zip(x, y).map { a, b in
            let r = a.truncatingRemainder(dividingBy: b)
            return r != 0 && (r < 0) != (b < 0) ? r + b : r
        })
    case .greater, .less, .greaterOrEqual, .lessOrEqual, .and, .or, .xor:
        return truthTable(op, x, y, resultType: resultType)
    case .add, .sub, .mul, .div, .pow, .equal:
        preconditionFailure("\(op.mnemonic) is computed by binary(_:_:_:resultType:)")
    }
}

/// The binary functions of the elementwise group on integers and bools; remainders refuse a zero divisor.
func integerBinary(_ op: BinaryFunction, _ x: [Int64], _ y: [Int64], resultType: TensorType) throws -> Tensor {
    switch op {
    case .max: return integerResult(resultType, zip(x, y).map { Swift.max($0, $1) })
    case .min: return integerResult(resultType, zip(x, y).map { Swift.min($0, $1) })
    case .prelu: return integerResult(resultType, zip(x, y).map { $0 < 0 ? $1 &* $0 : $0 })
    case .mod, .fmod:
        var remainders = [Int64](repeating: 0, count: x.count)
        for index in x.indices {
            guard y[index] != 0 else {
                throw EvaluationError("integer \(op.mnemonic) by zero at element \(index) of the result (dividend \(x[index]))")
            }
            // Truncated like C's `%`; only Int64.min % -1 overflows, and its remainder is 0.
            let r = x[index].remainderReportingOverflow(dividingBy: y[index]).partialValue
            remainders[index] = op == .mod && r != 0 && (r < 0) != (y[index] < 0) ? r &+ y[index] : r
        }
        return integerResult(resultType, remainders)
    case .greater, .less, .greaterOrEqual, .lessOrEqual, .and, .or, .xor:
        return truthTable(op, x, y, resultType: resultType)
    case .add, .sub, .mul, .div, .pow, .equal:
        preconditionFailure("\(op.mnemonic) is computed by binary(_:_:_:resultType:)")
    }
}
