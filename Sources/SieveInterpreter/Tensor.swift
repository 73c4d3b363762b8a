// Tensor: a value the interpreter computes with, a TensorType plus its elements in row-major order.
// Floats are held as Float (rounded to the f16, bf16, float8 or float4 type's values), integers and bools as Int64.

import SieveIR

/// A tensor value: a type and its elements in row-major (C) order.
///
/// Float element types (f32, f16, bf16, f8e4m3fn, f8e5m2, f4e2m1) store `Float`s that are already rounded to the element
/// type's precision; integer types and bool store `Int64`s that already lie in the type's range
/// (bool as 0 or 1). The initializers establish this, so every consumer can rely on it.
public struct Tensor: Sendable, Equatable {
    /// The elements, in the representation the element type calls for.
    public enum Storage: Sendable, Equatable {
        /// Elements of float tensors (f32, f16, bf16, float8, float4).
        case floats([Float])
        /// Elements of integer and bool tensors.
        case integers([Int64])
    }

    /// The tensor's type, including any layout and quantization parameters it carries.
    public private(set) var type: TensorType
    /// The elements.
    public private(set) var storage: Storage

    /// Makes a float tensor, rounding each value to the element type's precision.
    ///
    /// Throws when the type is not a float type or the value count does not match the shape.
    public init(_ type: TensorType, floats: [Float]) throws(DiagnosticError) {
        guard type.elementType.isFloat else {
            throw tensorError("float values given for a tensor of element type \(type.elementType)")
        }
        try Tensor.checkCount(type, floats.count)
        self.type = type
        self.storage = .floats(roundedFloats(floats, to: type.elementType))
    }

    /// Makes an integer or bool tensor, wrapping each value to the element type as a C cast does
    /// (bool: non-zero becomes 1).
    ///
    /// Throws when the type is a float type or the value count does not match the shape.
    public init(_ type: TensorType, integers: [Int64]) throws(DiagnosticError) {
        guard !type.elementType.isFloat else {
            throw tensorError("integer values given for a tensor of element type \(type.elementType)")
        }
        try Tensor.checkCount(type, integers.count)
        self.type = type
        self.storage = .integers(wrappedIntegers(integers, to: type.elementType))
    }

    /// Makes a dense tensor of the given shape and element type from Doubles, converting as
    /// `Constant.from` does (floats round, integers truncate toward zero and saturate).
    public init(shape: [Int], elementType: ElementType, values: [Double]) throws(DiagnosticError) {
        let type = TensorType(shape, elementType)
        if elementType.isFloat {
            try self.init(type, floats: values.map { Float($0) })
        } else {
            try self.init(type, integers: values.map { saturatingInteger($0, to: elementType) })
        }
    }

    /// Makes a tensor from elements known to fit the type already (the interpreter's own results).
    init(unchecked type: TensorType, storage: Storage) {
        self.type = type
        self.storage = storage
    }

    /// Reads a constant's little-endian bytes.
    ///
    /// An `nm` constant is unpacked (dropped weights read as zero); the tensor keeps the `nm` type,
    /// so a matrix product or convolution over it computes exactly what it computes over the same
    /// weights stored dense.
    public init(_ constant: Constant) throws(DiagnosticError) {
        let type = constant.type
        guard let count = type.elementCount else {
            throw tensorError("constant @\(constant.name) has an absurd shape \(type.shape)")
        }
        let size = type.elementType.byteSize
        var bytes = constant.bytes
        if type.layout != .dense {
            bytes = try NMPacking.unpack(constant).bytes
        }
        guard bytes.count == count * size else {
            throw tensorError("constant @\(constant.name) holds \(constant.bytes.count) bytes, its type needs \(count * size)")
        }
        self.type = type
        self.storage = decodeElements(bytes, count: count, elementType: type.elementType)
    }

    private static func checkCount(_ type: TensorType, _ count: Int) throws(DiagnosticError) {
        if let problem = validate(type) { throw tensorError("invalid tensor type: \(problem)") }
        guard let expected = type.elementCount, expected == count else {
            throw tensorError("shape \(type.shape) needs \(type.elementCount ?? -1) elements, found \(count)")
        }
    }

    /// The dimension sizes.
    public var shape: [Int] { type.shape }

    /// The element type.
    public var elementType: ElementType { type.elementType }

    /// The number of elements.
    public var elementCount: Int {
        switch storage {
        case let .floats(values): return values.count
        case let .integers(values): return values.count
        }
    }

    /// The elements of a float tensor, or nil for an integer or bool tensor.
    public var floats: [Float]? {
        if case let .floats(values) = storage { return values }
        return nil
    }

    /// The elements of an integer or bool tensor, or nil for a float tensor.
    public var integers: [Int64]? {
        if case let .integers(values) = storage { return values }
        return nil
    }

    /// Every element as a Double (exact for all types but i64 beyond 2^53).
    public var doubles: [Double] {
        switch storage {
        case let .floats(values): return values.map(Double.init)
        case let .integers(values): return values.map(Double.init)
        }
    }

    /// The same elements under another type with the same element type and count (reshape and friends).
    public func retyped(_ newType: TensorType) -> Tensor {
        Tensor(unchecked: newType, storage: storage)
    }

    /// The tensor as a constant with little-endian bytes, under the tensor's own type.
    ///
    /// A tensor of an `nm` type is packed; if its elements break the pattern it comes back dense.
    public func constant(name: String) -> Constant {
        let dense = denseConstant(name: name)
        guard let pattern = NMPattern(type.layout) else { return dense }
        var plainType = type
        plainType.layout = .dense
        let plain = Constant(name: name, type: plainType, bytes: dense.bytes)
        return (try? NMPacking.pack(plain, pattern: pattern)) ?? plain
    }

    private func denseConstant(name: String) -> Constant {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(elementCount * elementType.byteSize)
        switch storage {
        case let .floats(values):
            for value in values { appendFloat(value, of: elementType, to: &bytes) }
        case let .integers(values):
            for value in values { appendInteger(value, of: elementType, to: &bytes) }
        }
        return Constant(name: name, type: type, bytes: bytes)
    }

    /// The largest absolute elementwise difference from another tensor of the same shape, or nil
    /// when the shapes differ. NaN in the same place on both sides counts as equal; NaN on one side
    /// only, or infinities that differ, give infinity.
    public func maxAbsDifference(_ other: Tensor) -> Double? {
        guard shape == other.shape else { return nil }
        var largest = 0.0
        for (a, b) in zip(doubles, other.doubles) {
            if a == b || (a.isNaN && b.isNaN) { continue }
            let difference = abs(a - b)
            largest = max(largest, difference.isNaN ? .infinity : difference)
        }
        return largest
    }

    /// Whether every element is within `atol + rtol * |expected|` of `expected`'s element at the
    /// same index (NumPy's `allclose` with `self` as the actual value; NaNs compare equal).
    public func allClose(_ expected: Tensor, rtol: Double = 1e-5, atol: Double = 1e-6) -> Bool {
        guard shape == expected.shape else { return false }
        for (a, b) in zip(doubles, expected.doubles) {
            if a == b || (a.isNaN && b.isNaN) { continue }
            guard abs(a - b) <= atol + rtol * abs(b) else { return false }
        }
        return true
    }
}

extension Tensor: CustomStringConvertible {
    /// The type and, for small tensors, the elements.
    public var description: String {
        let limit = 64
        let shown = doubles.prefix(limit).map { value -> String in
            elementType.isFloat ? "\(value)" : "\(Int64(exactly: value).map(String.init) ?? "\(value)")"
        }
        let tail = elementCount > limit ? ", ..." : ""
        return "tensor<\(shape.map(String.init).joined(separator: "x"))x\(elementType)> [\(shown.joined(separator: ", "))\(tail)]"
    }
}

/// A diagnostic error without a location, for failures of tensor construction.
func tensorError(_ message: String) -> DiagnosticError {
    DiagnosticError(.error(.unknown, message))
}

/// Rounds one Float to the precision of a float element type (f32 unchanged).
func roundedFloat(_ value: Float, to elementType: ElementType) -> Float {
    switch elementType {
    case .f16: return Float(Float16(value))
    case .bf16: return floatFromBFloat16(bfloat16Bits(value))
    case .f8e4m3fn: return floatFromFloat8E4M3FN(float8E4M3FNBits(value))
    case .f8e5m2: return floatFromFloat8E5M2(float8E5M2Bits(value))
    case .f4e2m1: return floatFromFloat4E2M1(float4E2M1Bits(value))
    case .f32, .i8, .u8, .i16, .u16, .i32, .i64, .bool, .i4, .u4, .i2, .u2: return value
    }
}

/// Rounds Floats to the precision of a float element type.
func roundedFloats(_ values: [Float], to elementType: ElementType) -> [Float] {
    elementType == .f32 ? values : values.map { roundedFloat($0, to: elementType) }
}

/// Wraps an Int64 to an integer element type's width, as a C conversion does; bool becomes 0 or 1.
func wrappedInteger(_ value: Int64, to elementType: ElementType) -> Int64 {
    elementType.wrapping(value)
}

/// Wraps Int64s to an integer element type's width.
func wrappedIntegers(_ values: [Int64], to elementType: ElementType) -> [Int64] {
    elementType == .i64 ? values : values.map { wrappedInteger($0, to: elementType) }
}

/// Truncates a Double toward zero and saturates it to an element type's range (NaN gives 0).
func saturatingInteger(_ value: Double, to elementType: ElementType) -> Int64 {
    if elementType == .bool { return value != 0 ? 1 : 0 }
    let range = elementType.integerRange ?? Int64.min...Int64.max
    return clampedInt64(value.rounded(.towardZero), to: range)
}

/// Clamps an integral Double to a range of Int64 (NaN gives 0, or the bound nearest 0).
func clampedInt64(_ value: Double, to range: ClosedRange<Int64>) -> Int64 {
    if value.isNaN { return min(max(0, range.lowerBound), range.upperBound) }
    if value <= Double(range.lowerBound) { return range.lowerBound }
    // Double(Int64.max) rounds up to 2^63, so compare with >= to stay clear of the trap.
    if value >= Double(range.upperBound) { return range.upperBound }
    return Int64(value)
}

/// Converts an integral Double to Int64, saturating at the bounds (NaN gives 0).
func toInt64(_ value: Double) -> Int64 {
    clampedInt64(value, to: Int64.min...Int64.max)
}

/// Appends one Float's little-endian bytes in a float element type's encoding.
func appendFloat(_ value: Float, of elementType: ElementType, to bytes: inout [UInt8]) {
    func append<T: FixedWidthInteger>(_ raw: T) {
        withUnsafeBytes(of: raw.littleEndian) { bytes.append(contentsOf: $0) }
    }
    switch elementType {
    case .f32: append(value.bitPattern)
    case .f16: append(float16Bits(value))
    case .bf16: append(bfloat16Bits(value))
    case .f8e4m3fn, .f8e5m2, .f4e2m1: appendElement(Double(value), of: elementType, to: &bytes)
    case .i8, .u8, .i16, .u16, .i32, .i64, .bool, .i4, .u4, .i2, .u2: appendElement(Double(value), of: elementType, to: &bytes)
    }
}

/// Decodes `count` little-endian elements; the caller has checked that `bytes` is long enough.
func decodeElements<Bytes: RandomAccessCollection>(_ bytes: Bytes, count: Int, elementType: ElementType) -> Tensor.Storage
where Bytes.Element == UInt8, Bytes.Index == Int {
    let size = elementType.byteSize
    let start = bytes.startIndex
    func raw(_ index: Int) -> UInt64 {
        var value: UInt64 = 0
        let base = start + index * size
        for byte in 0..<size { value |= UInt64(bytes[base + byte]) << (8 * UInt64(byte)) }
        return value
    }
    switch elementType {
    case .f32: return .floats((0..<count).map { Float(bitPattern: UInt32(truncatingIfNeeded: raw($0))) })
    case .f16: return .floats((0..<count).map { floatFromFloat16(UInt16(truncatingIfNeeded: raw($0))) })
    case .bf16: return .floats((0..<count).map { floatFromBFloat16(UInt16(truncatingIfNeeded: raw($0))) })
    case .f8e4m3fn: return .floats((0..<count).map { floatFromFloat8E4M3FN(UInt8(truncatingIfNeeded: raw($0))) })
    case .f8e5m2: return .floats((0..<count).map { floatFromFloat8E5M2(UInt8(truncatingIfNeeded: raw($0))) })
    case .f4e2m1: return .floats((0..<count).map { floatFromFloat4E2M1(UInt8(truncatingIfNeeded: raw($0))) })
    case .i8: return .integers((0..<count).map { Int64(Int8(truncatingIfNeeded: raw($0))) })
    case .u8: return .integers((0..<count).map { Int64(UInt8(truncatingIfNeeded: raw($0))) })
    case .i16: return .integers((0..<count).map { Int64(Int16(truncatingIfNeeded: raw($0))) })
    case .u16: return .integers((0..<count).map { Int64(UInt16(truncatingIfNeeded: raw($0))) })
    case .i4, .u4, .i2, .u2: return .integers((0..<count).map { elementType.wrapping(Int64(raw($0))) })
    case .i32: return .integers((0..<count).map { Int64(Int32(truncatingIfNeeded: raw($0))) })
    case .i64: return .integers((0..<count).map { Int64(bitPattern: raw($0)) })
    case .bool: return .integers((0..<count).map { raw($0) != 0 ? 1 : 0 })
    }
}
