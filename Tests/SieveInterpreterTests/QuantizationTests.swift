// Tests of quantize (round half to even, saturation, per-axis parameters) and dequantize.
// Quantized types carry their parameters; these tests read them from the types, never from attributes.

import SieveIR
import Testing
@testable import SieveInterpreter

@Suite struct QuantizationTests {
    private func quantized(_ shape: [Int], _ elementType: ElementType, _ params: QuantParams) -> TensorType {
        TensorType(shape, elementType, quant: params)
    }

    @Test func roundsHalfToEvenAndSaturates() throws {
        let x = try floats([8], [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1000, -1000])
        let type = quantized([8], .i8, QuantParams(scales: [1], zeroPoints: [0]))
        expectInts(try evaluate(.quantize, [x], declared: type), [0, 2, 2, 0, -2, -2, 127, -128])
        let unsigned = quantized([8], .u8, QuantParams(scales: [1], zeroPoints: [128]))
        expectInts(try evaluate(.quantize, [x], declared: unsigned), [128, 130, 130, 128, 126, 126, 255, 0])
    }

    @Test func matchesNumPyRint() throws {
        let data = try fixture("quantize_i8.npz")
        let x = try #require(data["x"])
        let result = try evaluate(.quantize, [x], declared: quantized(x.shape, .i8, QuantParams(scales: [2], zeroPoints: [3])))
        #expect(result.integers == data["expected"]?.integers)
    }

    @Test func perAxisParameters() throws {
        let x = try floats([2, 3], [1, 2, 3, 1, 2, 3])
        let params = QuantParams(axis: 0, scales: [1, 0.5], zeroPoints: [0, -10])
        let result = try evaluate(.quantize, [x], declared: quantized([2, 3], .i8, params))
        expectInts(result, [1, 2, 3, -8, -6, -4])
        #expect(result.type.quant == params)
        let columns = QuantParams(axis: 1, scales: [1, 2, 4], zeroPoints: [0, 0, 1])
        expectInts(try evaluate(.quantize, [x], declared: quantized([2, 3], .i32, columns)), [1, 1, 2, 1, 1, 2])
    }

    @Test func nanQuantizesToTheZeroPoint() throws {
        let result = try evaluate(.quantize, [floats([1], [.nan])], declared: quantized([1], .u8, QuantParams(scales: [1], zeroPoints: [7])))
        expectInts(result, [7])
    }

    @Test func dequantizeReadsTheOperandParameters() throws {
        let q = try Tensor(quantized([2, 2], .i8, QuantParams(axis: 1, scales: [0.5, 2], zeroPoints: [1, -1])), integers: [3, 1, -1, -128])
        let result = try evaluate(.dequantize, [q])
        #expect(result.elementType == .f32)
        expectFloats(result, [1, 4, -1, -254])
    }

    @Test func roundTripWithinHalfAStep() throws {
        var random = SplitMix(state: 99)
        let x = try random.tensor([64])
        let type = quantized([64], .i8, QuantParams(scales: [0.01], zeroPoints: [0]))
        let back = try evaluate(.dequantize, [try evaluate(.quantize, [x], declared: type)])
        #expect((back.maxAbsDifference(x) ?? 1) <= 0.005 + 1e-7)
    }
}
