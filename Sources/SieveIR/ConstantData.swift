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

/// The magnitude code of a finite f32 (its bits without the sign) in a small float format with `mantissaBits` mantissa
/// bits and exponent bias `bias`, rounded to nearest even; a code past the format's largest finite value means
/// overflow. sieve_runtime.h's `sieve_small_float_round` is the same function in C.
func smallFloatCode(magnitudeBits bits: UInt32, mantissaBits: UInt32, bias: Int32) -> UInt32 {
    let exponent = bits >> 23
    var mantissa = bits & 0x7FFFFF
    if exponent == 0 { return 0 }
    let e = Int32(exponent) - 127 + bias
    let shift: UInt32
    var result: UInt32
    if e <= 0 {
        shift = 23 - mantissaBits + UInt32(1 - e)
        if shift > 24 { return 0 }
        mantissa |= 0x800000
        result = mantissa >> shift
    } else {
        shift = 23 - mantissaBits
        result = (UInt32(e) << mantissaBits) | (mantissa >> shift)
    }
    let rest = mantissa & ((1 << shift) - 1), half: UInt32 = 1 << (shift - 1)
    if rest > half || (rest == half && result & 1 == 1) { result += 1 }
    return result
}

/// The value of a small float's magnitude code (exact in f32).
func smallFloatMagnitude(code: UInt32, mantissaBits: UInt32, bias: Int32) -> Float {
    let exponent = code >> mantissaBits, mantissa = code & ((1 << mantissaBits) - 1)
    if exponent == 0 {
        return Float(mantissa) * Float(bitPattern: UInt32(127 + 1 - bias - Int32(mantissaBits)) << 23)
    }
    return Float(bitPattern: (UInt32(Int32(exponent) - bias + 127) << 23) | (mantissa << (23 - mantissaBits)))
}

/// Converts an f32 to float8 e4m3fn bits (ONNX FLOAT8E4M3FN), rounding to nearest even.
///
/// With `saturate` (ONNX's default) a finite value beyond ±448 or an infinity becomes ±448; without, it becomes NaN
/// (the format has no infinity). NaN stays NaN (0x7F with the sign).
public func float8E4M3FNBits(_ value: Float, saturate: Bool = true) -> UInt8 {
    let bits = value.bitPattern, magnitude = bits & 0x7FFF_FFFF
    let sign = UInt8((bits >> 24) & 0x80)
    if magnitude > 0x7F80_0000 { return sign | 0x7F }
    let code = magnitude == 0x7F80_0000 ? 0x7F : smallFloatCode(magnitudeBits: magnitude, mantissaBits: 3, bias: 7)
    if code > 0x7E { return sign | (saturate ? 0x7E : 0x7F) }
    return sign | UInt8(code)
}

/// Converts float8 e4m3fn bits to f32 exactly (0x7F and 0xFF are NaN).
public func floatFromFloat8E4M3FN(_ bits: UInt8) -> Float {
    let magnitude = bits & 0x7F == 0x7F ? Float.nan : smallFloatMagnitude(code: UInt32(bits & 0x7F), mantissaBits: 3, bias: 7)
    return bits & 0x80 != 0 ? -magnitude : magnitude
}

/// Converts an f32 to float8 e5m2 bits (ONNX FLOAT8E5M2), rounding to nearest even.
///
/// With `saturate` (ONNX's default) a finite value beyond ±57344 or an infinity becomes ±57344; without, it becomes
/// ±infinity. NaN stays NaN (0x7E with the sign).
public func float8E5M2Bits(_ value: Float, saturate: Bool = true) -> UInt8 {
    let bits = value.bitPattern, magnitude = bits & 0x7FFF_FFFF
    let sign = UInt8((bits >> 24) & 0x80)
    if magnitude > 0x7F80_0000 { return sign | 0x7E }
    let code = magnitude == 0x7F80_0000 ? 0x7C : smallFloatCode(magnitudeBits: magnitude, mantissaBits: 2, bias: 15)
    if code > 0x7B { return sign | (saturate ? 0x7B : 0x7C) }
    return sign | UInt8(code)
}

/// Converts float8 e5m2 bits to f32 exactly (exponent 31: infinity with a zero mantissa, NaN otherwise).
public func floatFromFloat8E5M2(_ bits: UInt8) -> Float {
    let magnitude: Float
    if bits & 0x7C != 0x7C {
        magnitude = smallFloatMagnitude(code: UInt32(bits & 0x7F), mantissaBits: 2, bias: 15)
    } else {
        magnitude = bits & 0x03 != 0 ? .nan : .infinity
    }
    return bits & 0x80 != 0 ? -magnitude : magnitude
}

/// Converts an f32 to a float4 e2m1 code (ONNX FLOAT4E2M1) in the low nibble, rounding to nearest even.
///
/// The format has neither infinity nor NaN: values beyond ±6 and infinities saturate to ±6, and NaN becomes a zero
/// of the opposite sign (NaN gives −0), as onnx's reference (ml_dtypes) and its conformance data have it.
public func float4E2M1Bits(_ value: Float) -> UInt8 {
    let bits = value.bitPattern, magnitude = bits & 0x7FFF_FFFF
    let sign = UInt8((bits >> 28) & 0x8)
    if magnitude > 0x7F80_0000 { return sign ^ 0x8 }
    let code = magnitude == 0x7F80_0000 ? 0x7 : smallFloatCode(magnitudeBits: magnitude, mantissaBits: 1, bias: 1)
    return sign | UInt8(min(code, 0x7))
}

/// Converts a float4 e2m1 code (low nibble; the high nibble is ignored) to f32 exactly.
public func floatFromFloat4E2M1(_ bits: UInt8) -> Float {
    let magnitude = smallFloatMagnitude(code: UInt32(bits & 0x7), mantissaBits: 1, bias: 1)
    return bits & 0x8 != 0 ? -magnitude : magnitude
}

/// The byte of a one-byte float type (float8, float4) for an f32, converted as a saturating cast does.
public func narrowFloatBits(_ value: Float, _ elementType: ElementType) -> UInt8? {
    switch elementType {
    case .f8e4m3fn: return float8E4M3FNBits(value)
    case .f8e5m2: return float8E5M2Bits(value)
    case .f4e2m1: return float4E2M1Bits(value)
    case .f32, .f16, .bf16, .i8, .u8, .i16, .u16, .i32, .i64, .bool, .i4, .u4, .i2, .u2: return nil
    }
}

/// The f32 value of a one-byte float type's byte (float8, float4).
public func floatFromNarrowBits(_ bits: UInt8, _ elementType: ElementType) -> Float? {
    switch elementType {
    case .f8e4m3fn: return floatFromFloat8E4M3FN(bits)
    case .f8e5m2: return floatFromFloat8E5M2(bits)
    case .f4e2m1: return floatFromFloat4E2M1(bits)
    case .f32, .f16, .bf16, .i8, .u8, .i16, .u16, .i32, .i64, .bool, .i4, .u4, .i2, .u2: return nil
    }
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

    /// The first byte of a dense sub-byte constant (i4, u4, i2, u2, f4e2m1, held one element per byte) that is not
    /// one element of its type (an i4 outside -8...7 sign-extended, a u4 above 15 ...); nil when all are.
    public var firstOutOfRangeNarrowByte: Int? {
        let elementType = type.elementType
        guard type.layout == .dense, elementType.packedBits != nil else { return nil }
        if elementType == .f4e2m1 { return bytes.firstIndex { $0 > 0xF } }
        guard let range = elementType.integerRange else { return nil }
        let signed = range.lowerBound < 0
        return bytes.firstIndex { !range.contains(signed ? Int64(Int8(bitPattern: $0)) : Int64($0)) }
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
        case .f8e4m3fn: return Double(floatFromFloat8E4M3FN(UInt8(truncatingIfNeeded: raw)))
        case .f8e5m2: return Double(floatFromFloat8E5M2(UInt8(truncatingIfNeeded: raw)))
        case .f4e2m1: return Double(floatFromFloat4E2M1(UInt8(truncatingIfNeeded: raw)))
        case .i8, .i4, .i2: return Double(Int8(truncatingIfNeeded: raw))
        case .u8, .bool, .u4, .u2: return Double(UInt8(truncatingIfNeeded: raw))
        case .i16: return Double(Int16(truncatingIfNeeded: raw))
        case .u16: return Double(UInt16(truncatingIfNeeded: raw))
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
        case .i8, .i4, .i2: return Int64(Int8(truncatingIfNeeded: raw))
        case .i16: return Int64(Int16(truncatingIfNeeded: raw))
        case .i32: return Int64(Int32(truncatingIfNeeded: raw))
        case .i64: return Int64(bitPattern: raw)
        case .u8, .u16, .u4, .u2, .bool, .f32, .f16, .bf16, .f8e4m3fn, .f8e5m2, .f4e2m1: return Int64(raw)
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
    case .f8e4m3fn: append(float8E4M3FNBits(Float(value)))
    case .f8e5m2: append(float8E5M2Bits(Float(value)))
    case .f4e2m1: append(float4E2M1Bits(Float(value)))
    case .i8: append(clampedInteger(Int8.self))
    case .u8: append(clampedInteger(UInt8.self))
    case .i16: append(clampedInteger(Int16.self))
    case .u16: append(clampedInteger(UInt16.self))
    case .i4, .i2, .u4, .u2:
        // Saturated to the narrow range, held one per byte (the signed ones sign-extended).
        let range = elementType.integerRange ?? 0...0
        let clamped = value.isNaN ? 0 : min(max(value.rounded(.towardZero), Double(range.lowerBound)), Double(range.upperBound))
        append(UInt8(truncatingIfNeeded: Int64(clamped)))
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
    case .i16: append(Int16(truncatingIfNeeded: value))
    case .u16: append(UInt16(truncatingIfNeeded: value))
    case .i4, .u4, .i2, .u2: append(UInt8(truncatingIfNeeded: elementType.wrapping(value)))
    case .bool: append(UInt8(value != 0 ? 1 : 0))
    case .f32, .f16, .bf16, .f8e4m3fn, .f8e5m2, .f4e2m1: appendElement(Double(value), of: elementType, to: &bytes)
    }
}
