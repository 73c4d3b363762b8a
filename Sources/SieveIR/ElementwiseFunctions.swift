// The elementwise functions behind the `unary` and `binary` op groups: one declaration per function
// (text spelling, parameters, operand domain, traits), so adding one is one case here plus its semantics.

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

    /// Which element types the function accepts.
    public enum Domain: Hashable, Sendable {
        /// Floats and integers (the result has the operand's type).
        case numeric
        /// Floats only.
        case float
    }

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
        }
    }

    /// The function's numeric parameters, named as the text format spells them, in canonical order.
    public var parameters: [(name: String, value: Float)] {
        switch self {
        case .relu, .sigmoid, .tanh, .erf, .sqrt, .exp, .neg, .gelu: return []
        case let .leakyRelu(alpha): return [("alpha", alpha)]
        case let .clip(low, high): return [("min", low), ("max", high)]
        case let .hardSigmoid(alpha, beta): return [("alpha", alpha), ("beta", beta)]
        }
    }

    /// The element types it accepts.
    public var domain: Domain {
        switch self {
        case .relu, .neg, .clip: return .numeric
        case .sigmoid, .tanh, .erf, .sqrt, .exp, .leakyRelu, .gelu, .hardSigmoid: return .float
        }
    }

    /// Whether a product's epilogue may apply it (the `activation` trait).
    public var isActivation: Bool {
        switch self {
        case .relu, .sigmoid, .tanh, .leakyRelu, .gelu, .clip, .hardSigmoid: return true
        case .erf, .sqrt, .exp, .neg: return false
        }
    }

    /// Why the parameters are invalid, or nil.
    public var parameterProblem: String? {
        if case let .clip(low, high) = self, !(low <= high) { return "clip needs min <= max, found \(low) and \(high)" }
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

    /// The function's name in the text format.
    public var mnemonic: String { rawValue }

    /// Whether the operands may be swapped.
    public var isCommutative: Bool {
        switch self {
        case .add, .mul, .equal: return true
        case .sub, .div, .pow: return false
        }
    }

    /// Whether the result is bool (a comparison) rather than the operands' element type.
    public var isComparison: Bool {
        switch self {
        case .equal: return true
        case .add, .sub, .mul, .div, .pow: return false
        }
    }
}
