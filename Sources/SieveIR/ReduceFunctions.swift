// The functions behind the `reduce` op group (reduce_mean, reduce_sum, reduce_max, ...): one declaration
// per function (text spelling, operand domain, value of an empty reduction), so adding one is a case here plus its semantics.

/// A function that combines the elements along a reduction's axes into one element.
///
/// The graph IR spells each as its own op (`reduce_sum %x {axes = [1]}`); `OpKind.reduce` groups them so
/// that passes treat every one alike and only the semantics (interpreter, lowering) switch on the function.
public enum ReduceFunction: String, Hashable, Sendable, CaseIterable {
    /// The arithmetic mean (an empty reduction gives NaN, 0 / 0).
    case mean
    /// The sum (integers wrap).
    case sum
    /// The largest element; NaN wins. An empty reduction gives -inf (the smallest integer for integers).
    case max
    /// The smallest element; NaN wins. An empty reduction gives +inf (the largest integer for integers).
    case min
    /// The product (integers wrap).
    case prod
    /// The sum of absolute values.
    case l1
    /// The square root of the sum of squares.
    case l2
    /// The sum of squares.
    case sumSquare = "sum_square"
    /// The natural logarithm of the sum (an empty reduction gives -inf).
    case logSum = "log_sum"
    /// `log(sum(exp(x)))`, computed with the largest element subtracted first (an empty reduction gives -inf).
    case logSumExp = "log_sum_exp"

    /// The op's name in the text format: `reduce_` and the function.
    public var mnemonic: String { "reduce_" + rawValue }

    /// Which element types the function accepts.
    public enum Domain: Hashable, Sendable {
        /// Floats, integers and bool (max and min: bool is "any"/"all").
        case ordered
        /// Floats and integers (integers wrap).
        case numeric
        /// Floats only.
        case float
    }

    /// The element types it accepts.
    public var domain: Domain {
        switch self {
        case .max, .min: return .ordered
        case .sum, .prod, .l1, .sumSquare: return .numeric
        case .mean, .l2, .logSum, .logSumExp: return .float
        }
    }

    /// Every function by mnemonic, for the parser.
    public static let declarations: [String: ReduceFunction] =
        Dictionary(uniqueKeysWithValues: allCases.map { ($0.mnemonic, $0) })
}

/// Which result of ONNX TopK an op computes: the graph IR has single-result ops, so TopK is two ops
/// over the same operand (`top_k_values` and `top_k_indices`), and dead-code elimination drops an unread one.
public enum TopKOutput: String, Hashable, Sendable, CaseIterable {
    /// The k selected elements, in the operand's element type.
    case values
    /// Their positions along the axis, as i64.
    case indices
}

/// Attributes of a 2-D transposed convolution over NCHW input and [C, M / groups, KH, KW] weights.
public struct ConvTranspose2DAttributes: Hashable, Sendable {
    /// Stride along height and width.
    public var strides: [Int]
    /// Padding removed from the full output as [top, left, bottom, right].
    public var pads: [Int]
    /// Dilation along height and width.
    public var dilations: [Int]
    /// Extra rows and columns added at the bottom and right of the output.
    public var outputPadding: [Int]
    /// Number of groups the channels are split into.
    public var groups: Int

    /// Makes transposed-convolution attributes; defaults are stride 1, no padding, dilation 1, one group.
    public init(strides: [Int] = [1, 1], pads: [Int] = [0, 0, 0, 0], dilations: [Int] = [1, 1],
                outputPadding: [Int] = [0, 0], groups: Int = 1) {
        self.strides = strides
        self.pads = pads
        self.dilations = dilations
        self.outputPadding = outputPadding
        self.groups = groups
    }
}
