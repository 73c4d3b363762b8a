// Tensor types of the graph IR: element types, static shapes, layouts and quantization.
// Every value in a graph has exactly one TensorType; the printer and parser spell it `tensor<...>`.

/// The scalar element type of a tensor.
public enum ElementType: String, CaseIterable, Hashable, Sendable {
    case f32, f16, bf16, i8, u8, i32, i64, bool

    /// Bytes one element occupies in dense storage.
    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .i8, .u8, .bool: return 1
        case .i64: return 8
        }
    }

    /// Whether the type holds floating-point numbers.
    public var isFloat: Bool {
        switch self {
        case .f32, .f16, .bf16: return true
        case .i8, .u8, .i32, .i64, .bool: return false
        }
    }

    /// Whether the type holds integers (bool excluded).
    public var isInteger: Bool {
        switch self {
        case .i8, .u8, .i32, .i64: return true
        case .f32, .f16, .bf16, .bool: return false
        }
    }

    /// The closed range of integer values the type can hold, for integer types.
    public var integerRange: ClosedRange<Int64>? {
        switch self {
        case .i8: return -128...127
        case .u8: return 0...255
        case .i32: return Int64(Int32.min)...Int64(Int32.max)
        case .i64: return Int64.min...Int64.max
        case .bool: return 0...1
        case .f32, .f16, .bf16: return nil
        }
    }
}

/// How a tensor's elements are arranged in storage.
///
/// `nm` marks a weight in which every group of `m` consecutive elements along the
/// reduction has at most `n` non-zeros. The reduction is everything after the first axis:
/// `I` of a matrix weight `[O, I]`, `C*kH*kW` of a convolution weight `[O, C, kH, kW]`.
/// NMPacking.swift defines the packed storage; docs/nm-layout.md has a worked example.
public enum Layout: Hashable, Sendable {
    case dense
    case nm(n: Int, m: Int)

    /// The M values an `nm` layout may use.
    public static let supportedGroupSizes: Set<Int> = [4, 8, 16]
}

/// Affine quantization parameters: `real = scale * (stored - zeroPoint)`.
///
/// Per-tensor parameters have `axis == nil` and one scale and zero point;
/// per-axis parameters have one of each per index along `axis`.
public struct QuantParams: Hashable, Sendable {
    /// The axis the parameters vary along, or nil for per-tensor parameters.
    public var axis: Int?
    /// Scales, one per tensor or one per index along `axis`.
    public var scales: [Float]
    /// Zero points, as many as `scales`.
    public var zeroPoints: [Int64]

    /// Makes quantization parameters.
    public init(axis: Int? = nil, scales: [Float], zeroPoints: [Int64]) {
        self.axis = axis
        self.scales = scales
        self.zeroPoints = zeroPoints
    }
}

/// The type of a value: a statically shaped tensor with a layout and optional quantization.
public struct TensorType: Hashable, Sendable {
    /// Dimension sizes, outermost first; empty for a scalar.
    public var shape: [Int]
    /// The element type.
    public var elementType: ElementType
    /// The storage layout.
    public var layout: Layout
    /// Quantization parameters, for quantized integer tensors.
    public var quant: QuantParams?

    /// Makes a tensor type.
    public init(_ shape: [Int], _ elementType: ElementType, layout: Layout = .dense, quant: QuantParams? = nil) {
        self.shape = shape
        self.elementType = elementType
        self.layout = layout
        self.quant = quant
    }

    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The largest element count a tensor may have (2^40); larger shapes are refused as absurd.
    public static let maxElementCount = 1 << 40

    /// The number of elements, or nil when it overflows or exceeds `maxElementCount`.
    public var elementCount: Int? {
        var count = 1
        for dim in shape {
            guard dim >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow, product <= TensorType.maxElementCount else { return nil }
            count = product
        }
        return count
    }

    /// The same type with another shape, keeping element type; layout and quantization are dropped.
    public func with(shape: [Int]) -> TensorType {
        TensorType(shape, elementType)
    }

    /// The same type with another element type; layout and quantization are dropped.
    public func with(elementType: ElementType) -> TensorType {
        TensorType(shape, elementType)
    }

    /// The type without layout or quantization: what an elementwise consumer sees.
    public var plain: TensorType { TensorType(shape, elementType) }
}
