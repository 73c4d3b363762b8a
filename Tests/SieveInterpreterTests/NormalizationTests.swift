// Tests of softmax, layer_norm, batch_norm and reduce_mean against hand-computed values and NumPy fixtures.
// Reductions sum in double where the interpreter promises it, so tolerances stay tight.

import SieveIR
import Testing
@testable import SieveInterpreter

@Suite struct NormalizationTests {
    @Test func softmaxOfEqualValuesIsUniform() throws {
        expectFloats(try evaluate(.softmax(axis: 1), [floats([1, 4], [3, 3, 3, 3])]), [0.25, 0.25, 0.25, 0.25])
    }

    @Test func softmaxIsStableForLargeInputs() throws {
        // Without subtracting the maximum, exp(1000) overflows to infinity.
        let result = try evaluate(.softmax(axis: 0), [floats([2], [1000, 999])])
        expectClose(result, try floats([2], [0.7310585786, 0.2689414214]))
    }

    @Test func softmaxAlongAMiddleAxisMatchesNumPy() throws {
        let data = try fixture("softmax_axis1.npz")
        expectClose(try evaluate(.softmax(axis: 1), [try #require(data["x"])]), try #require(data["expected"]))
    }

    @Test func layerNormHandComputed() throws {
        // Rows [1, 2, 3] and [-1, 0, 1]: means 2 and 0, both variances 2/3.
        let x = try floats([2, 3], [1, 2, 3, -1, 0, 1])
        let scale = try floats([3], [1, 2, 1])
        let bias = try floats([3], [0, 0, 10])
        let result = try evaluate(.layerNorm(axis: 1, epsilon: 0), [x, scale, bias])
        let root = Float((2.0 / 3.0).squareRoot())
        expectClose(result, try floats([2, 3], [-1 / root, 0, 1 / root + 10, -1 / root, 0, 1 / root + 10]))
    }

    @Test func layerNormEpsilonGoesInsideTheRoot() throws {
        // Constant rows have variance 0, so the result is 0 * scale + bias, never a division by zero.
        let result = try evaluate(.layerNorm(axis: 0, epsilon: 1e-5), [floats([2], [5, 5]), floats([2], [1, 1])])
        expectFloats(result, [0, 0])
        // With epsilon 3: (x - mean) / sqrt(var + 3) for [1, 3]: mean 2, var 1, sqrt(4) = 2.
        expectFloats(try evaluate(.layerNorm(axis: 0, epsilon: 3), [floats([2], [1, 3]), floats([2], [1, 1])]), [-0.5, 0.5])
    }

    @Test func layerNormOverTwoAxesMatchesNumPy() throws {
        let data = try fixture("layer_norm_axis1.npz")
        let operands = [try #require(data["x"]), try #require(data["scale"]), try #require(data["bias"])]
        expectClose(try evaluate(.layerNorm(axis: 1, epsilon: 1e-5), operands), try #require(data["expected"]), rtol: 1e-5, atol: 1e-5)
    }

    @Test func batchNormPerChannel() throws {
        // x [1, 2, 2]: channel 0 = [1, 3], channel 1 = [10, 20].
        let x = try floats([1, 2, 2], [1, 3, 10, 20])
        let scale = try floats([2], [2, 1]), bias = try floats([2], [1, 0])
        let mean = try floats([2], [1, 10]), variance = try floats([2], [4, 100])
        let result = try evaluate(.batchNorm(epsilon: 0), [x, scale, bias, mean, variance])
        expectClose(result, try floats([1, 2, 2], [1, 3, 0, 1]))
    }

    @Test func reduceMeanKeepingAndDroppingAxes() throws {
        let x = try floats([2, 3], [1, 2, 3, 4, 5, 6])
        expectFloats(try evaluate(.reduce(.mean, axes: [1], keepDims: true), [x]), [2, 5], shape: [2, 1])
        expectFloats(try evaluate(.reduce(.mean, axes: [0], keepDims: false), [x]), [2.5, 3.5, 4.5], shape: [3])
        expectFloats(try evaluate(.reduce(.mean, axes: [0, 1], keepDims: false), [x]), [3.5], shape: [])
        let cube = try floats([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8])
        expectFloats(try evaluate(.reduce(.mean, axes: [0, 2], keepDims: true), [cube]), [3.5, 5.5], shape: [1, 2, 1])
    }

    @Test func reduceMeanAccumulatesInDouble() throws {
        // In f32, 2^24 + 1 + 1 + ... loses every 1; in Double the mean is exact.
        var values: [Float] = [16_777_216]
        values += [Float](repeating: 1, count: 15)
        let result = try evaluate(.reduce(.mean, axes: [0], keepDims: false), [floats([16], values)])
        expectFloats(result, [Float((16_777_216.0 + 15) / 16)])
    }
}
