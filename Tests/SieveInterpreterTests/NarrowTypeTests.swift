// Tests of the 16-bit and narrow element types: float8/float4 conversions (ties to even, saturation, NaN and infinity
// per format), integer wrapping, and quantize/cast into them. Expected codes are ml_dtypes 0.7's (onnx's reference).

import SieveIR
import Testing
@testable import SieveInterpreter

@Suite struct NarrowTypeTests {
    @Test func float8E4M3FNRoundsToNearestEvenAndSaturates() {
        // 448 is the largest finite value; 464 is the tie between 448 and the NaN code, which goes to 448 (even).
        let values: [Float] = [448, 460, 464, 470, 480, 1e9, .infinity, -.infinity, 0x1p-9, 0x1p-10, 1.5 * 0x1p-10, 0.875 * 0x1p-6, 0, -0.0]
        let saturated: [UInt8] = [0x7E, 0x7E, 0x7E, 0x7E, 0x7E, 0x7E, 0x7E, 0xFE, 1, 0, 1, 7, 0, 0x80]
        let overflowing: [UInt8] = [0x7E, 0x7E, 0x7E, 0x7F, 0x7F, 0x7F, 0x7F, 0xFF, 1, 0, 1, 7, 0, 0x80]
        #expect(values.map { float8E4M3FNBits($0) } == saturated)
        #expect(values.map { float8E4M3FNBits($0, saturate: false) } == overflowing)
        #expect(float8E4M3FNBits(.nan) & 0x7F == 0x7F)
        #expect(floatFromFloat8E4M3FN(0x7F).isNaN && floatFromFloat8E4M3FN(0xFF).isNaN)
        #expect(floatFromFloat8E4M3FN(0x7E) == 448 && floatFromFloat8E4M3FN(0x01) == 0x1p-9)
    }

    @Test func float8E5M2RoundsToNearestEvenAndKeepsInfinity() {
        // 61440 is the tie between 57344 (odd mantissa) and infinity (even): without saturation it overflows.
        let values: [Float] = [57344, 60000, 61440, 61441, 1e9, .infinity, -.infinity, 0x1p-16, 0x1p-17, 1.5 * 0x1p-17]
        let saturated: [UInt8] = [0x7B, 0x7B, 0x7B, 0x7B, 0x7B, 0x7B, 0xFB, 1, 0, 1]
        let overflowing: [UInt8] = [0x7B, 0x7B, 0x7C, 0x7C, 0x7C, 0x7C, 0xFC, 1, 0, 1]
        #expect(values.map { float8E5M2Bits($0) } == saturated)
        #expect(values.map { float8E5M2Bits($0, saturate: false) } == overflowing)
        #expect(float8E5M2Bits(.nan) == 0x7E)
        #expect(floatFromFloat8E5M2(0x7C) == .infinity && floatFromFloat8E5M2(0xFC) == -.infinity)
        #expect(floatFromFloat8E5M2(0x7D).isNaN && floatFromFloat8E5M2(0x7B) == 57344)
    }

    @Test func float4E2M1RoundsToNearestEvenAndAlwaysSaturates() {
        let values: [Float] = [0, -0.0, 0.1, 0.25, 0.26, 0.75, 1.25, 1.75, 2.5, 3.5, 5, 5.5, 6, 7, 100, .infinity, -.infinity, -7]
        let codes: [UInt8] = [0, 8, 0, 0, 1, 2, 2, 4, 4, 6, 6, 7, 7, 7, 7, 7, 15, 15]
        #expect(values.map(float4E2M1Bits) == codes)
        #expect(float4E2M1Bits(.nan) == 8 && float4E2M1Bits(-.nan) == 0)
        #expect((0..<16).map { floatFromFloat4E2M1(UInt8($0)) } == [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6])
    }

    @Test func everyCodeRoundTrips() {
        for code in 0...255 {
            let bits = UInt8(code)
            let e4 = floatFromFloat8E4M3FN(bits), e5 = floatFromFloat8E5M2(bits)
            if !e4.isNaN { #expect(float8E4M3FNBits(e4, saturate: false) == bits, "e4m3fn code \(code)") }
            if !e5.isNaN { #expect(float8E5M2Bits(e5, saturate: false) == bits, "e5m2 code \(code)") }
        }
        for code in 0..<16 { #expect(float4E2M1Bits(floatFromFloat4E2M1(UInt8(code))) == UInt8(code)) }
    }

    @Test func narrowIntegersWrapAsTwosComplement() {
        #expect([7, 8, -8, -9, 23].map { ElementType.i4.wrapping($0) } == [7, -8, -8, 7, 7])
        #expect([15, 16, -1].map { ElementType.u4.wrapping($0) } == [15, 0, 15])
        #expect([1, 2, -3].map { ElementType.i2.wrapping($0) } == [1, -2, 1])
        #expect([3, 4, -1].map { ElementType.u2.wrapping($0) } == [3, 0, 3])
        #expect([32768, -32769].map { ElementType.i16.wrapping($0) } == [-32768, 32767])
        #expect([65536, -1].map { ElementType.u16.wrapping($0) } == [0, 65535])
    }

    @Test func quantizeSaturatesToNarrowRanges() throws {
        let x = try floats([6], [0.5, 1.5, 2.5, 100, -100, -2.5])
        let cases: [(ElementType, Int64, [Int64])] = [
            (.i4, 0, [0, 2, 2, 7, -8, -2]), (.u4, 1, [1, 3, 3, 15, 0, 0]),
            (.i2, 0, [0, 1, 1, 1, -2, -2]), (.u2, 0, [0, 2, 2, 3, 0, 0]),
            (.i16, -1024, [-1024, -1022, -1022, -924, -1124, -1026]),
        ]
        for (type, zeroPoint, expected) in cases {
            let result = try evaluate(.quantize, [x], declared: TensorType([6], type, quant: QuantParams(scales: [1], zeroPoints: [zeroPoint])))
            expectInts(result, expected)
        }
    }

    @Test func castToNarrowFloatsRoundsAndSaturates() throws {
        let x = try floats([4], [1000, -0.3, 2.6, .nan])
        let e4 = try #require(try evaluate(.cast, [x], declared: TensorType([4], .f8e4m3fn)).floats)
        #expect(Array(e4.prefix(3)) == [448, -0.3125, 2.5] && e4[3].isNaN)
        expectFloats(try evaluate(.cast, [x], declared: TensorType([4], .f4e2m1)), [6, -0.5, 3, 0])
        let e5 = try evaluate(.cast, [x], declared: TensorType([4], .f8e5m2))
        let back = try #require(try evaluate(.cast, [e5], declared: TensorType([4], .f32)).floats)
        #expect(Array(back.prefix(3)) == [1024, -0.3125, 2.5] && back[3].isNaN)
    }

    @Test func castToNarrowIntegersTruncatesThenWraps() throws {
        let x = try floats([4], [7.9, 8, -8.5, -9])
        expectInts(try evaluate(.cast, [x], declared: TensorType([4], .i4)), [7, -8, -8, 7])
    }

    @Test func constantsRoundTripOneElementPerByte() throws {
        let constant = Constant(name: "c", type: TensorType([3], .i4), bytes: [0xF8, 0x07, 0xFF])
        expectInts(try Tensor(constant), [-8, 7, -1])
        #expect(constant.firstOutOfRangeNarrowByte == nil)
        #expect(Constant(name: "d", type: TensorType([2], .u4), bytes: [0x0F, 0x10]).firstOutOfRangeNarrowByte == 1)
        #expect(try Tensor(constant).constant(name: "c").bytes == constant.bytes)
    }
}
