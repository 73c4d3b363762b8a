// The elementwise functions behind the `unary` and `binary` op groups: one declaration per function
// (text spelling, parameters, operand domain, traits), so adding one is one case here plus its semantics.

/// Which element types an elementwise function accepts.
public enum ElementDomain: Hashable, Sendable {
    /// Floats and integers (not bool).
    case numeric
    /// Floats only.
    case float
    /// Integers only (i8, u8, i32, i64).
    case integer
    /// Bool only (logic).
    case bool
    /// Any element type, bool included.
    case any

    /// Whether an element type belongs to the domain.
    public func contains(_ type: ElementType) -> Bool {
        switch self {
        case .numeric: return type != .bool
        case .float: return type.isFloat
        case .integer: return type.isInteger
        case .bool: return type == .bool
        case .any: return true
        }
    }

    /// The domain in words, for messages: "a float", "an integer".
    public var article: String {
        switch self {
        case .numeric: return "a numeric"
        case .float: return "a float"
        case .integer: return "an integer"
        case .bool: return "a bool"
        case .any: return "any"
        }
    }
}

/// An elementwise function of one operand: an activation or a math function.
///
/// The graph IR spells each as its own op (`relu %x`, `leaky_relu %x {alpha = 0.1}`); `OpKind.unary`
/// groups them so that passes treat every one alike and only the semantics (interpreter, lowering)
/// and the ONNX mapping switch on the function.
public enum UnaryFunction: Hashable, Sendable {
    /// `max(x, 0)`; NaN passes through.
    case relu
    /// `1 / (1 + e^-x)`.
    case sigmoid
    /// Hyperbolic tangent.
    case tanh
    /// The error function.
    case erf
    /// Square root.
    case sqrt
    /// `e^x`.
    case exp
    /// Negation (integers wrap).
    case neg
    /// `x < 0 ? alpha * x : x`.
    case leakyRelu(alpha: Float)
    /// GELU, exact (Erf form) or with the tanh approximation.
    case gelu(approximateTanh: Bool)
    /// Clamp to [min, max].
    case clip(min: Float, max: Float)
    /// `max(0, min(1, alpha * x + beta))`.
    case hardSigmoid(alpha: Float, beta: Float)
    // Elementwise group of #12: math functions, then activations, then predicates and logic.
    // (Case names avoid identifiers common elsewhere, `abs`, `log`, `ceil`, `round`, `isNaN`, `not`,
    // so that OpTableTests can count the files that name each function.)
    /// `|x|` (integers wrap: the minimum of a signed type stays itself).
    case absolute
    /// `1 / x`.
    case reciprocal
    /// Natural logarithm.
    case logarithm
    /// Round toward negative infinity.
    case floor
    /// Round toward positive infinity.
    case ceiling
    /// Round to the nearest integer, halves to even (ONNX Round).
    case roundEven
    /// -1, 0 or 1 by the sign of x (a float zero keeps its sign, NaN stays NaN).
    case sign
    /// Sine.
    case sin
    /// Cosine.
    case cos
    /// `x * max(0, min(1, x / 6 + 1 / 2))`.
    case hardSwish
    /// `x < 0 ? alpha * (e^x - 1) : x`.
    case elu(alpha: Float)
    /// `x < 0 ? gamma * alpha * (e^x - 1) : gamma * x`.
    case selu(alpha: Float, gamma: Float)
    /// `ln(1 + e^x)`, computed without overflow.
    case softplus
    /// `x / (1 + |x|)`.
    case softsign
    /// `x * tanh(softplus(x))`.
    case mish
    /// `x < 0 ? alpha * (e^(x / alpha) - 1) : x`.
    case celu(alpha: Float)
    /// `x > alpha ? x : 0`.
    case thresholdedRelu(alpha: Float)
    /// Whether x is NaN, giving bool.
    case isNan
    /// Logical not of a bool.
    case logicalNot

    /// Which element types the function accepts (the same enum as binary functions use).
    public typealias Domain = ElementDomain

    /// The function's name in the text format.
    public var mnemonic: String {
        switch self {
        case .relu: return "relu"
        case .sigmoid: return "sigmoid"
        case .tanh: return "tanh"
        case .erf: return "erf"
        case .sqrt: return "sqrt"
        case .exp: return "exp"
        case .neg: return "neg"
        case .leakyRelu: return "leaky_relu"
        case .gelu: return "gelu"
        case .clip: return "clip"
        case .hardSigmoid: return "hard_sigmoid"
        case .absolute: return "abs"
        case .reciprocal: return "reciprocal"
        case .logarithm: return "log"
        case .floor: return "floor"
        case .ceiling: return "ceil"
        case .roundEven: return "round"
        case .sign: return "sign"
        case .sin: return "sin"
        case .cos: return "cos"
        case .hardSwish: return "hard_swish"
        case .elu: return "elu"
        case .selu: return "selu"
        case .softplus: return "softplus"
        case .softsign: return "softsign"
        case .mish: return "mish"
        case .celu: return "celu"
        case .thresholdedRelu: return "thresholded_relu"
        case .isNan: return "is_nan"
        case .logicalNot: return "not"
        }
    }

    /// The function's numeric parameters, named as the text format spells them, in canonical order.
    public var parameters: [(name: String, value: Float)] {
        switch self {
        case .relu, .sigmoid, .tanh, .erf, .sqrt, .exp, .neg, .gelu: return []
        case let .leakyRelu(alpha): return [("alpha", alpha)]
        case let .clip(low, high): return [("min", low), ("max", high)]
        case let .hardSigmoid(alpha, beta): return [("alpha", alpha), ("beta", beta)]
        case .absolute, .reciprocal, .logarithm, .floor, .ceiling, .roundEven, .sign, .sin, .cos, .hardSwish, .softplus,
             .softsign, .mish, .isNan, .logicalNot:
            return []
        case let .elu(alpha), let .celu(alpha), let .thresholdedRelu(alpha): return [("alpha", alpha)]
        case let .selu(alpha, gamma): return [("alpha", alpha), ("gamma", gamma)]
        }
    }

    /// The element types it accepts.
    public var domain: Domain {
        switch self {
        case .relu, .neg, .clip, .absolute, .sign: return .numeric
        case .sigmoid, .tanh, .erf, .sqrt, .exp, .leakyRelu, .gelu, .hardSigmoid: return .float
        case .reciprocal, .logarithm, .floor, .ceiling, .roundEven, .sin, .cos, .hardSwish, .elu, .selu, .softplus,
             .softsign, .mish, .celu, .thresholdedRelu, .isNan:
            return .float
        case .logicalNot: return .bool
        }
    }

    /// Whether a product's epilogue may apply it (the `activation` trait).
    public var isActivation: Bool {
        switch self {
        case .relu, .sigmoid, .tanh, .leakyRelu, .gelu, .clip, .hardSigmoid: return true
        case .erf, .sqrt, .exp, .neg: return false
        case .hardSwish, .elu, .selu, .softplus, .softsign, .mish, .celu, .thresholdedRelu: return true
        case .absolute, .reciprocal, .logarithm, .floor, .ceiling, .roundEven, .sign, .sin, .cos, .isNan, .logicalNot:
            return false
        }
    }

    /// Whether computing it takes an exponential, logarithm or trigonometric polynomial (about 20 vector
    /// instructions per vector) rather than a few arithmetic instructions: the cost model's streaming estimate.
    public var isTranscendental: Bool {
        switch self {
        case .sigmoid, .tanh, .erf, .exp, .gelu, .logarithm, .sin, .cos, .elu, .selu, .softplus, .mish, .celu: return true
        case .relu, .sqrt, .neg, .leakyRelu, .clip, .hardSigmoid, .absolute, .reciprocal, .floor, .ceiling, .roundEven, .sign,
             .hardSwish, .softsign, .thresholdedRelu, .isNan, .logicalNot:
            return false
        }
    }

    /// Whether the result is bool (a test of each element) rather than the operand's element type.
    public var isPredicate: Bool {
        if case .isNan = self { return true }
        return false
    }

    /// Why the parameters are invalid, or nil.
    public var parameterProblem: String? {
        if case let .clip(low, high) = self, !(low <= high) { return "clip needs min <= max, found \(low) and \(high)" }
        if case let .celu(alpha) = self, !(alpha != 0) { return "celu needs a non-zero alpha, found \(alpha)" }
        return nil
    }

    /// Every function with numeric parameters only, by mnemonic: its parameter names and how to build it from
    /// their values. `gelu` (a string attribute) is spelled by `OpKind.make`/`EpilogueStep.parse` themselves.
    public static let declarations: [String: (parameters: [String], make: @Sendable ([Float]) -> UnaryFunction)] = [
        "relu": ([], { _ in .relu }),
        "sigmoid": ([], { _ in .sigmoid }),
        "tanh": ([], { _ in .tanh }),
        "erf": ([], { _ in .erf }),
        "sqrt": ([], { _ in .sqrt }),
        "exp": ([], { _ in .exp }),
        "neg": ([], { _ in .neg }),
        "leaky_relu": (["alpha"], { .leakyRelu(alpha: $0[0]) }),
        "clip": (["min", "max"], { .clip(min: $0[0], max: $0[1]) }),
        "hard_sigmoid": (["alpha", "beta"], { .hardSigmoid(alpha: $0[0], beta: $0[1]) }),
        "abs": ([], { _ in .absolute }),
        "reciprocal": ([], { _ in .reciprocal }),
        "log": ([], { _ in .logarithm }),
        "floor": ([], { _ in .floor }),
        "ceil": ([], { _ in .ceiling }),
        "round": ([], { _ in .roundEven }),
        "sign": ([], { _ in .sign }),
        "sin": ([], { _ in .sin }),
        "cos": ([], { _ in .cos }),
        "hard_swish": ([], { _ in .hardSwish }),
        "elu": (["alpha"], { .elu(alpha: $0[0]) }),
        "selu": (["alpha", "gamma"], { .selu(alpha: $0[0], gamma: $0[1]) }),
        "softplus": ([], { _ in .softplus }),
        "softsign": ([], { _ in .softsign }),
        "mish": ([], { _ in .mish }),
        "celu": (["alpha"], { .celu(alpha: $0[0]) }),
        "thresholded_relu": (["alpha"], { .thresholdedRelu(alpha: $0[0]) }),
        "is_nan": ([], { _ in .isNan }),
        "not": ([], { _ in .logicalNot }),
    ]
}

/// An elementwise function of two operands with NumPy broadcasting.
public enum BinaryFunction: String, Hashable, Sendable, CaseIterable {
    /// `a + b` (integers wrap).
    case add
    /// `a - b` (integers wrap).
    case sub
    /// `a * b` (integers wrap).
    case mul
    /// `a / b`; integer division truncates toward zero and refuses a zero divisor.
    case div
    /// `a ** b`.
    case pow
    /// `a == b`, giving bool.
    case equal
    // Elementwise group of #12.
    /// The larger of a and b; NaN in either gives NaN.
    case max
    /// The smaller of a and b; NaN in either gives NaN.
    case min
    /// `a < 0 ? b * a : a`: a leaky relu whose slope b is an operand (ONNX PRelu, a = x, b = slope).
    case prelu
    /// Floored remainder of integers, with the sign of the divisor (Python's `%`); refuses a zero divisor.
    case mod
    /// Truncated remainder, with the sign of the dividend (C's `fmod`); integers refuse a zero divisor.
    case fmod
    /// `a > b`, giving bool.
    case greater
    /// `a < b`, giving bool.
    case less
    /// `a >= b`, giving bool.
    case greaterOrEqual = "greater_or_equal"
    /// `a <= b`, giving bool.
    case lessOrEqual = "less_or_equal"
    /// Logical and of bools.
    case and
    /// Logical or of bools.
    case or
    /// Logical exclusive or of bools.
    case xor

    /// The function's name in the text format.
    public var mnemonic: String { rawValue }

    /// Whether the operands may be swapped.
    public var isCommutative: Bool {
        switch self {
        case .add, .mul, .equal: return true
        case .sub, .div, .pow: return false
        case .max, .min, .and, .or, .xor: return true
        case .prelu, .mod, .fmod, .greater, .less, .greaterOrEqual, .lessOrEqual: return false
        }
    }

    /// Whether the result is bool (a comparison) rather than the operands' element type.
    public var isComparison: Bool {
        switch self {
        case .equal: return true
        case .add, .sub, .mul, .div, .pow: return false
        case .greater, .less, .greaterOrEqual, .lessOrEqual: return true
        case .max, .min, .prelu, .mod, .fmod, .and, .or, .xor: return false
        }
    }

    /// The element types both operands may have (they have one element type).
    public var domain: ElementDomain {
        switch self {
        case .add, .sub, .mul, .div, .pow: return .numeric
        case .equal: return .any
        case .max, .min, .prelu, .fmod, .greater, .less, .greaterOrEqual, .lessOrEqual: return .numeric
        case .mod: return .integer
        case .and, .or, .xor: return .bool
        }
    }
}
