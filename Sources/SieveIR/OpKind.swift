// The operations of the graph IR and their typed attributes.
// Adding a case must fail to compile in the printer, parser, verifier, type rules and interpreter.

/// An activation applied elementwise, alone or as a step of a fused epilogue.
public enum Activation: Hashable, Sendable {
    case relu
    case leakyRelu(alpha: Float)
    case gelu
    case geluTanh
    case sigmoid
    case tanh
    case clip(min: Float, max: Float)
}

/// One step of a fused matmul/gemm epilogue, applied in order to the product.
public enum EpilogueStep: Hashable, Sendable {
    /// Adds the next extra operand, broadcast along rows (a bias of shape `[N]` or `[1, N]`).
    case bias
    /// Applies an activation.
    case activation(Activation)
    /// Adds the next extra operand, which has the result's full shape (a residual).
    case residualAdd
}

/// Attributes of a 2-D convolution over NCHW input and OIHW weights.
public struct Conv2DAttributes: Hashable, Sendable {
    /// Stride along height and width.
    public var strides: [Int]
    /// Padding as [top, left, bottom, right].
    public var pads: [Int]
    /// Dilation along height and width.
    public var dilations: [Int]
    /// Number of groups the channels are split into.
    public var groups: Int

    /// Makes convolution attributes; defaults are stride 1, no padding, dilation 1, one group.
    public init(strides: [Int] = [1, 1], pads: [Int] = [0, 0, 0, 0], dilations: [Int] = [1, 1], groups: Int = 1) {
        self.strides = strides
        self.pads = pads
        self.dilations = dilations
        self.groups = groups
    }
}

/// Attributes of a 2-D max or average pooling window over NCHW input.
public struct Pool2DAttributes: Hashable, Sendable {
    /// Window height and width.
    public var kernel: [Int]
    /// Stride along height and width.
    public var strides: [Int]
    /// Padding as [top, left, bottom, right].
    public var pads: [Int]
    /// Dilation along height and width (max pooling only; 1 for average pooling).
    public var dilations: [Int]
    /// Whether output sizes round up instead of down.
    public var ceilMode: Bool
    /// For average pooling: whether padded cells count in the divisor.
    public var countIncludePad: Bool

    /// Makes pooling attributes.
    public init(kernel: [Int], strides: [Int] = [1, 1], pads: [Int] = [0, 0, 0, 0], dilations: [Int] = [1, 1],
                ceilMode: Bool = false, countIncludePad: Bool = false) {
        self.kernel = kernel
        self.strides = strides
        self.pads = pads
        self.dilations = dilations
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
    }
}

/// What an operation computes, with its attributes.
///
/// Operands are listed per case; result types are given by `TypeRules`.
public enum OpKind: Hashable, Sendable {
    /// A weight or other constant from the graph's constant table. No operands.
    case constant(ConstantID)
    /// Batched matrix product with NumPy broadcasting; `transposeB` reads B as `[..., N, K]`. Operands: a, b.
    case matmul(transposeB: Bool)
    /// `alpha * op(A) * op(B) + beta * C` on 2-D A and B. Operands: a, b, optional c.
    case gemm(alpha: Float, beta: Float, transposeA: Bool, transposeB: Bool)
    /// Matrix product followed by an epilogue. Operands: a, b, then one per `bias`/`residualAdd` step.
    case fusedMatmul(transposeB: Bool, epilogue: [EpilogueStep])
    /// 2-D convolution, NCHW input, OIHW weight. Operands: x, w, optional bias.
    case conv2d(Conv2DAttributes)
    /// Elementwise binary ops with NumPy broadcasting. Operands: a, b.
    case add, sub, mul, div, pow
    /// Elementwise comparison giving bool. Operands: a, b.
    case equal
    /// Elementwise unary ops. Operand: x.
    case relu, sigmoid, tanh, erf, sqrt, exp, neg
    /// Leaky ReLU: `x < 0 ? alpha * x : x`. Operand: x.
    case leakyRelu(alpha: Float)
    /// GELU, exact (Erf form) or with the tanh approximation. Operand: x.
    case gelu(approximateTanh: Bool)
    /// Clamp to [min, max]. Operand: x.
    case clip(min: Float, max: Float)
    /// Softmax along one axis. Operand: x.
    case softmax(axis: Int)
    /// Layer normalization over the axes from `axis` to the last. Operands: x, scale, optional bias.
    case layerNorm(axis: Int, epsilon: Float)
    /// Inference batch normalization over axis 1. Operands: x, scale, bias, mean, variance.
    case batchNorm(epsilon: Float)
    /// Mean over the given axes. Operand: x.
    case reduceMean(axes: [Int], keepDims: Bool)
    /// Same elements, new shape (the result type's). Operand: x.
    case reshape
    /// Dimension permutation: result dim i is input dim `permutation[i]`. Operand: x.
    case transpose(permutation: [Int])
    /// Collapses to 2-D at `axis`. Operand: x.
    case flatten(axis: Int)
    /// Removes the given size-1 axes. Operand: x.
    case squeeze(axes: [Int])
    /// Inserts size-1 axes at the given result positions. Operand: x.
    case unsqueeze(axes: [Int])
    /// Broadcasts to the result type's shape. Operand: x.
    case expand
    /// Joins the operands along an axis. Operands: one or more.
    case concat(axis: Int)
    /// Takes entries along an axis by index. Operands: data, indices (i32 or i64).
    case gather(axis: Int)
    /// Static strided slice (ONNX semantics, already clamped). Operand: x.
    case slice(starts: [Int], ends: [Int], axes: [Int], steps: [Int])
    /// Converts element type (the result type's). Operand: x.
    case cast
    /// Elementwise select. Operands: condition (bool), x, y.
    case `where`
    /// 2-D max pooling. Operand: x.
    case maxPool(Pool2DAttributes)
    /// 2-D average pooling. Operand: x.
    case averagePool(Pool2DAttributes)
    /// Average over each channel's whole spatial extent. Operand: x.
    case globalAveragePool
    /// Maximum over each channel's whole spatial extent. Operand: x.
    case globalMaxPool
    /// Float to quantized integer, with the result type's quantization parameters. Operand: x.
    case quantize
    /// Quantized integer to f32, with the operand type's quantization parameters. Operand: x.
    case dequantize
}

/// Facts about an op kind that passes consult instead of switching on kinds.
public struct OpTraits: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// No side effects: the op may be removed when unused, and deduplicated.
    public static let pure = OpTraits(rawValue: 1 << 0)
    /// Computes each result element from the operand elements at the same (broadcast) index.
    public static let elementwise = OpTraits(rawValue: 1 << 1)
    /// The two operands may be swapped.
    public static let commutative = OpTraits(rawValue: 1 << 2)
    /// Moves or reinterprets elements without arithmetic.
    public static let dataMovement = OpTraits(rawValue: 1 << 3)
}
