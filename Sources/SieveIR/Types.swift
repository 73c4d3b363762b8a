// Tensor types of the graph IR: element types, static shapes, layouts and quantization.
// Every value in a graph has exactly one TensorType; the printer and parser spell it `tensor<...>`.

/// The scalar element type of a tensor.
///
/// The narrow types of ONNX's quantization (int4, uint4, int2, uint2, float8 e4m3fn and e5m2, float4 e2m1) are held
/// one element per byte everywhere after import (interpreter, constants, artifact buffers): i4 and i2 as a
/// sign-extended int8, u4 and u2 as a uint8, the float8 types as their raw bits, f4e2m1 as its 4-bit code in the low
/// nibble. ONNX packs the sub-byte types two or four to a byte; the frontend unpacks them. IR/README.md has the table.
public enum ElementType: String, CaseIterable, Hashable, Sendable {
    case f32, f16, bf16, i8, u8, i32, i64, bool
    case i16, u16
    case i4, u4, i2, u2
    case f8e4m3fn, f8e5m2, f4e2m1

    /// Bytes one element occupies in dense storage (one for every narrow type).
    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .i8, .u8, .bool, .i4, .u4, .i2, .u2, .f8e4m3fn, .f8e5m2, .f4e2m1: return 1
        case .i64: return 8
        }
    }

    /// Whether the type holds floating-point numbers.
    public var isFloat: Bool {
        switch self {
        case .f32, .f16, .bf16, .f8e4m3fn, .f8e5m2, .f4e2m1: return true
        case .i8, .u8, .i16, .u16, .i32, .i64, .bool, .i4, .u4, .i2, .u2: return false
        }
    }

    /// Whether the type holds integers (bool excluded).
    public var isInteger: Bool {
        switch self {
        case .i8, .u8, .i16, .u16, .i32, .i64, .i4, .u4, .i2, .u2: return true
        case .f32, .f16, .bf16, .bool, .f8e4m3fn, .f8e5m2, .f4e2m1: return false
        }
    }

    /// Whether ONNX allows the type only in quantization, casts and data movement (the 4- and 2-bit integers and
    /// the float8 and float4 types); the frontend refuses it as an input of any other op.
    public var isNarrow: Bool {
        switch self {
        case .i4, .u4, .i2, .u2, .f8e4m3fn, .f8e5m2, .f4e2m1: return true
        case .f32, .f16, .bf16, .i8, .u8, .i16, .u16, .i32, .i64, .bool: return false
        }
    }

    /// Bits per element in ONNX's packed form of a sub-byte type (4 or 2), nil for the others.
    public var packedBits: Int? {
        switch self {
        case .i4, .u4, .f4e2m1: return 4
        case .i2, .u2: return 2
        case .f32, .f16, .bf16, .i8, .u8, .i16, .u16, .i32, .i64, .bool, .f8e4m3fn, .f8e5m2: return nil
        }
    }

    /// The closed range of integer values the type can hold, for integer types.
    public var integerRange: ClosedRange<Int64>? {
        switch self {
        case .i8: return -128...127
        case .u8: return 0...255
        case .i16: return -32768...32767
        case .u16: return 0...65535
        case .i32: return Int64(Int32.min)...Int64(Int32.max)
        case .i64: return Int64.min...Int64.max
        case .i4: return -8...7
        case .u4: return 0...15
        case .i2: return -2...1
        case .u2: return 0...3
        case .bool: return 0...1
        case .f32, .f16, .bf16, .f8e4m3fn, .f8e5m2, .f4e2m1: return nil
        }
    }

    /// An integer wrapped to the type's width as two's complement (as a C conversion to a type of that width
    /// does); bool becomes 0 or 1; float types and i64 leave it as it is.
    public func wrapping(_ value: Int64) -> Int64 {
        switch self {
        case .i8: return Int64(Int8(truncatingIfNeeded: value))
        case .u8: return Int64(UInt8(truncatingIfNeeded: value))
        case .i16: return Int64(Int16(truncatingIfNeeded: value))
        case .u16: return Int64(UInt16(truncatingIfNeeded: value))
        case .i32: return Int64(Int32(truncatingIfNeeded: value))
        case .i4: return (value << 60) >> 60
        case .u4: return value & 0xF
        case .i2: return (value << 62) >> 62
        case .u2: return value & 0x3
        case .bool: return value != 0 ? 1 : 0
        case .i64, .f32, .f16, .bf16, .f8e4m3fn, .f8e5m2, .f4e2m1: return value
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

    /// The type of this value's elements moved into another shape (reshaped, transposed, sliced, gathered, the
    /// largest of a window): per-tensor quantization holds for every element wherever it goes, so it is kept; the
    /// layout and per-axis quantization (whose axis may move or vanish) are dropped.
    public func moved(to shape: [Int]) -> TensorType {
        TensorType(shape, elementType, quant: quant?.axis == nil ? quant : nil)
    }

    /// The same type with another element type; layout and quantization are dropped.
    public func with(elementType: ElementType) -> TensorType {
        TensorType(shape, elementType)
    }

    /// The type without layout or quantization: what an elementwise consumer sees.
    public var plain: TensorType { TensorType(shape, elementType) }
}
