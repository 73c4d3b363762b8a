// The operations of the graph IR and their typed attributes.
// Adding a case must fail to compile in the printer, parser, verifier, type rules and interpreter.

/// One step of a fused matmul/gemm epilogue, applied in order to the product.
public enum EpilogueStep: Hashable, Sendable {
    /// Adds the next extra operand, broadcast along rows (a bias of shape `[N]` or `[1, N]`).
    case bias
    /// Applies a unary function that has the `activation` trait.
    case activation(UnaryFunction)
    /// Adds the next extra operand, which has the result's full shape (a residual).
    case residualAdd
    /// Quantizes the value to the result's 8-bit type with the result type's one scale and zero point (as the
    /// `quantize` op: round half to even, saturate); always the last step. A static int8 product feeding another
    /// one requantizes in its epilogue this way instead of writing f32.
    case quantize
    /// Requantizes the exact integer sums of an int8 product with static activations straight to the result's 8-bit
    /// type, as ONNX Runtime's QLinearMatMul and QLinearConv do: `saturate(round_half_even(f32(acc) · m[n]) + zp)`
    /// with the multiplier `m[n] = activation_scale · weight_scale[n] / result_scale` computed in f32. The only step.
    case requantize

    /// Whether the step reads the next extra operand of the product (bias and residual do).
    public var readsOperand: Bool {
        switch self {
        case .bias, .residualAdd: return true
        case .activation, .quantize, .requantize: return false
        }
    }
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
    /// `activations` says how f32 activations are quantized when b is an int8 weight (`DynamicInt8`).
    case fusedMatmul(transposeB: Bool, epilogue: [EpilogueStep], activations: ActivationQuantization = .perRow)
    /// 2-D convolution, NCHW input, OIHW weight. Operands: x, w, optional bias.
    case conv2d(Conv2DAttributes)
    /// An elementwise function of two operands with NumPy broadcasting (arithmetic, comparison, logic). Operands: a, b.
    case binary(BinaryFunction)
    /// An elementwise function of one operand (activations, math functions). Operand: x.
    case unary(UnaryFunction)
    /// Softmax along one axis. Operand: x.
    case softmax(axis: Int)
    /// Layer normalization over the axes from `axis` to the last. Operands: x, scale, optional bias.
    case layerNorm(axis: Int, epsilon: Float)
    /// Inference batch normalization over axis 1. Operands: x, scale, bias, mean, variance.
    case batchNorm(epsilon: Float)
    /// A reduction function over the given (non-empty, sorted) axes, keeping them as size 1 or dropping them. Operand: x.
    case reduce(ReduceFunction, axes: [Int], keepDims: Bool)
    /// The i64 position of the largest (or smallest) element along one axis; ties go to the first position
    /// (the last with `selectLastIndex`). Operand: x.
    case argExtreme(largest: Bool, axis: Int, keepDims: Bool, selectLastIndex: Bool)
    /// Running sum along one axis, optionally exclusive (the element itself left out) and from the end. Operand: x.
    case cumSum(axis: Int, exclusive: Bool, reverse: Bool)
    /// One result of ONNX TopK: the `k` largest (or smallest) elements along an axis, best first, ties going
    /// to the lower position (also the order ONNX's `sorted = 0` allows). Operand: x.
    case topK(k: Int, axis: Int, largest: Bool, output: TopKOutput)
    /// `x - max - log(sum(exp(x - max)))` along one axis. Operand: x.
    case logSoftmax(axis: Int)
    /// 2-D transposed convolution, NCHW input, [C, M / groups, KH, KW] weight. Operands: x, w, optional bias.
    ///
    /// Not a `product`: the weight's reduction (input channels) is its first axis, while the N:M layout,
    /// the kernel problems and pruning group weights along the trailing axes.
    case convTranspose2d(ConvTranspose2DAttributes)
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

    // Data movement of #12.
    /// Pads each axis by `pads` (begins of every axis, then ends; a negative width crops). Operand: x.
    case pad(pads: [Int], mode: PadMode, value: Float)
    /// Nearest or linear resize to the declared result shape. Operand: x.
    case resize(ResizeAttributes)
    /// ONNX GatherElements: result[i] = data[i with i[axis] replaced by indices[i]]. Operands: data, indices.
    case gatherElements(axis: Int)
    /// ONNX GatherND over the leading `batchDims` axes. Operands: data, indices (last axis indexes data).
    case gatherND(batchDims: Int)
    /// ONNX ScatterElements: data with updates written at indices along `axis`. Operands: data, indices, updates.
    case scatterElements(axis: Int, reduction: ScatterReduction)
    /// ONNX ScatterND: data with slices replaced (or combined) at index tuples. Operands: data, indices, updates.
    case scatterND(reduction: ScatterReduction)
}

/// Facts about an op kind that passes consult instead of switching on kinds: named groups of ops.
///
/// `OpKind.traits` is the one table that assigns them; a new op states its groups there and every pass,
/// plan-memory, the schedule and the importer treat it accordingly.
public struct OpTraits: OptionSet, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// No side effects: the op may be removed when unused, and deduplicated.
    public static let pure = OpTraits(rawValue: 1 << 0)
    /// Computes each result element from the operand elements at the same (broadcast) index.
    public static let elementwise = OpTraits(rawValue: 1 << 1)
    /// The two operands may be swapped.
    public static let commutative = OpTraits(rawValue: 1 << 2)
    /// Moves or reinterprets elements without arithmetic.
    public static let dataMovement = OpTraits(rawValue: 1 << 3)
    /// The result is the operand's elements in the same row-major order under another shape (a view).
    public static let view = OpTraits(rawValue: 1 << 4)
    /// A matrix product or convolution: reads a weight at operand 1 (which may be `nm`), runs a kernel
    /// that a `schedule` attribute describes, and is what sparsity prunes.
    public static let product = OpTraits(rawValue: 1 << 5)
    /// A unary function that a product's epilogue can apply in registers (`fused_matmul`'s activation step).
    public static let activation = OpTraits(rawValue: 1 << 6)
    /// The text must state the result type: operands alone do not determine it.
    public static let declaredResult = OpTraits(rawValue: 1 << 7)
    /// Evaluated once at import when every operand is constant (the value replaces the op).
    public static let foldsAtImport = OpTraits(rawValue: 1 << 8)
    /// Combines elements along axes into fewer elements.
    public static let reduction = OpTraits(rawValue: 1 << 9)
}

extension OpKind {
    /// The op's traits: the one table of op facts.
    public var traits: OpTraits {
        switch self {
        case .constant: return [.pure]
        case .matmul, .gemm, .fusedMatmul, .conv2d: return [.pure, .product, .foldsAtImport]
        case let .binary(function):
            return function.isCommutative ? [.pure, .elementwise, .commutative, .foldsAtImport] : [.pure, .elementwise, .foldsAtImport]
        case let .unary(function):
            return function.isActivation ? [.pure, .elementwise, .activation, .foldsAtImport] : [.pure, .elementwise, .foldsAtImport]
        case .where: return [.pure, .elementwise, .foldsAtImport]
        case .cast: return [.pure, .elementwise, .declaredResult, .foldsAtImport]
        case .quantize: return [.pure, .elementwise, .declaredResult, .foldsAtImport]
        // Kept at import: the quantize pass ingests QDQ weights as they are, and folding would turn
        // int8 weights back into floats.
        case .dequantize: return [.pure, .elementwise]
        case .reshape: return [.pure, .dataMovement, .view, .declaredResult, .foldsAtImport]
        case .flatten, .squeeze, .unsqueeze: return [.pure, .dataMovement, .view, .foldsAtImport]
        case .expand: return [.pure, .dataMovement, .declaredResult, .foldsAtImport]
        case .transpose, .concat, .gather, .slice: return [.pure, .dataMovement, .foldsAtImport]
        case .reduce, .argExtreme, .globalAveragePool, .globalMaxPool: return [.pure, .reduction, .foldsAtImport]
        case .cumSum, .topK, .logSoftmax, .convTranspose2d: return [.pure, .foldsAtImport]
        case .softmax, .layerNorm, .batchNorm, .maxPool, .averagePool: return [.pure, .foldsAtImport]
        case .pad, .gatherElements, .gatherND, .scatterElements, .scatterND: return [.pure, .dataMovement, .foldsAtImport]
        // Interpolation is arithmetic, but nearest resizing only copies; the result shape is stated.
        case .resize: return [.pure, .declaredResult, .foldsAtImport]
        }
    }

    /// Whether the op runs a matrix-product kernel that a `schedule` attribute may describe.
    public var isKernelBearing: Bool { traits.contains(.product) }
}
