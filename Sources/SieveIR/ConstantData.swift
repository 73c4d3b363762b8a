// Reading and writing constant elements: little-endian bytes to and from numbers.
// Used by the printer and parser for `dense<...>`, and by passes that fold constants.

/// Converts an f32 to bf16 bits, rounding to nearest even.
public func bfloat16Bits(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(bits >> 16) | 0x40 }
    let rounding = ((bits >> 16) & 1) + 0x7FFF
    return UInt16((bits &+ rounding) >> 16)
}

/// Converts bf16 bits to f32 exactly.
public func floatFromBFloat16(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

/// Converts an f32 to IEEE half-precision bits, rounding to nearest even.
public func float16Bits(_ value: Float) -> UInt16 {
    Float16(value).bitPattern
}

/// Converts IEEE half-precision bits to f32 exactly.
public func floatFromFloat16(_ bits: UInt16) -> Float {
    Float(Float16(bitPattern: bits))
}

extension Constant {
    /// Whether the byte count matches the type and layout.
    public var hasConsistentSize: Bool {
        expectedByteCount == bytes.count
    }

    /// The bytes the type needs: dense elements, or for `nm<N:M>` the kept values followed by their
    /// packed in-group indices (log2(M) bits each), as NMPacking.swift defines; nil for an invalid type.
    public var expectedByteCount: Int? {
        guard let count = type.elementCount else { return nil }
        switch type.layout {
        case .dense:
            return count * type.elementType.byteSize
        case let .nm(n, m):
            return NMPacking.packedByteCount(shape: type.shape, elementType: type.elementType, pattern: NMPattern(n: n, m: m))
        }
    }

    /// The elements converted to Double, for dense constants; nil if the bytes do not match the type.
    public func doubles() -> [Double]? {
        guard type.layout == .dense, hasConsistentSize, let count = type.elementCount else { return nil }
        return (0..<count).map { element(at: $0) }
    }

    /// Element `index` as a Double (exact for every type but i64 beyond 2^53).
    public func element(at index: Int) -> Double {
        let size = type.elementType.byteSize
        let base = index * size
        var raw: UInt64 = 0
        for byte in 0..<size { raw |= UInt64(bytes[base + byte]) << (8 * UInt64(byte)) }
        switch type.elementType {
        case .f32: return Double(Float(bitPattern: UInt32(truncatingIfNeeded: raw)))
        case .f16: return Double(floatFromFloat16(UInt16(truncatingIfNeeded: raw)))
        case .bf16: return Double(floatFromBFloat16(UInt16(truncatingIfNeeded: raw)))
        case .i8: return Double(Int8(truncatingIfNeeded: raw))
        case .u8, .bool: return Double(UInt8(truncatingIfNeeded: raw))
        case .i32: return Double(Int32(truncatingIfNeeded: raw))
        case .i64: return Double(Int64(bitPattern: raw))
        }
    }

    /// Element `index` as an Int64, for integer and bool constants.
    public func integer(at index: Int) -> Int64 {
        let size = type.elementType.byteSize
        let base = index * size
        var raw: UInt64 = 0
        for byte in 0..<size { raw |= UInt64(bytes[base + byte]) << (8 * UInt64(byte)) }
        switch type.elementType {
        case .i8: return Int64(Int8(truncatingIfNeeded: raw))
        case .i32: return Int64(Int32(truncatingIfNeeded: raw))
        case .i64: return Int64(bitPattern: raw)
        case .u8, .bool, .f32, .f16, .bf16: return Int64(raw)
        }
    }

    /// Makes a dense constant from Doubles, converting to the element type (floats round, ints truncate).
    public static func from(name: String, type: TensorType, values: [Double]) -> Constant {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * type.elementType.byteSize)
        for value in values { appendElement(value, of: type.elementType, to: &bytes) }
        return Constant(name: name, type: type, bytes: bytes)
    }
}

/// Appends one element's little-endian bytes.
public func appendElement(_ value: Double, of elementType: ElementType, to bytes: inout [UInt8]) {
    func append<T: FixedWidthInteger>(_ raw: T) {
        withUnsafeBytes(of: raw.littleEndian) { bytes.append(contentsOf: $0) }
    }
    func clampedInteger<T: FixedWidthInteger>(_: T.Type) -> T {
        if value.isNaN { return 0 }
        if value >= Double(T.max) { return T.max }
        if value <= Double(T.min) { return T.min }
        return T(value.rounded(.towardZero))
    }
    switch elementType {
    case .f32: append(Float(value).bitPattern)
    case .f16: append(float16Bits(Float(value)))
    case .bf16: append(bfloat16Bits(Float(value)))
    case .i8: append(clampedInteger(Int8.self))
    case .u8: append(clampedInteger(UInt8.self))
    case .i32: append(clampedInteger(Int32.self))
    case .i64: append(clampedInteger(Int64.self))
    case .bool: append(UInt8(value != 0 ? 1 : 0))
    }
}

/// Appends one i64 element exactly (Double would lose precision beyond 2^53).
public func appendInteger(_ value: Int64, of elementType: ElementType, to bytes: inout [UInt8]) {
    func append<T: FixedWidthInteger>(_ raw: T) {
        withUnsafeBytes(of: raw.littleEndian) { bytes.append(contentsOf: $0) }
    }
    switch elementType {
    case .i64: append(value)
    case .i32: append(Int32(truncatingIfNeeded: value))
    case .i8: append(Int8(truncatingIfNeeded: value))
    case .u8: append(UInt8(truncatingIfNeeded: value))
    case .bool: append(UInt8(value != 0 ? 1 : 0))
    case .f32, .f16, .bf16: appendElement(Double(value), of: elementType, to: &bytes)
    }
}
