// Tests of max_pool, average_pool (pads, strides, dilations, ceil mode, count_include_pad) and the global pools.
// Padding never wins a max and counts in an average only with count_include_pad.

import SieveIR
import Testing
@testable import SieveInterpreter

@Suite struct PoolingTests {
    /// 1x1x4x4 with values 1...16.
    let grid: Tensor
    init() throws { grid = try floats([1, 1, 4, 4], (1...16).map(Float.init)) }

    @Test func maxPoolPlain() throws {
        let result = try evaluate(.maxPool(Pool2DAttributes(kernel: [2, 2], strides: [2, 2])), [grid])
        expectFloats(result, [6, 8, 14, 16], shape: [1, 1, 2, 2])
    }

    @Test func paddedCellsNeverWinAMax() throws {
        let negative = try floats([1, 1, 2, 2], [-4, -3, -2, -1])
        let result = try evaluate(.maxPool(Pool2DAttributes(kernel: [2, 2], pads: [1, 1, 1, 1])), [negative])
        expectFloats(result, [-4, -3, -3, -2, -1, -1, -2, -1, -1], shape: [1, 1, 3, 3])
    }

    @Test func maxPoolWithDilation() throws {
        let result = try evaluate(.maxPool(Pool2DAttributes(kernel: [2, 2], dilations: [2, 2])), [grid])
        // Window at (0,0) reads (0,0), (0,2), (2,0), (2,2) -> 11.
        expectFloats(result, [11, 12, 15, 16], shape: [1, 1, 2, 2])
    }

    @Test func ceilModeAddsAPartialWindow() throws {
        // 4 wide, kernel 3, stride 2: floor gives 1 window, ceil 2 (the second reads columns 2, 3 only).
        let floor = try evaluate(.maxPool(Pool2DAttributes(kernel: [3, 3], strides: [2, 2])), [grid])
        expectFloats(floor, [11], shape: [1, 1, 1, 1])
        let ceil = try evaluate(.maxPool(Pool2DAttributes(kernel: [3, 3], strides: [2, 2], ceilMode: true)), [grid])
        expectFloats(ceil, [11, 12, 15, 16], shape: [1, 1, 2, 2])
        let average = try evaluate(.averagePool(Pool2DAttributes(kernel: [3, 3], strides: [2, 2], ceilMode: true)), [grid])
        // Window (1,1) holds 11, 12, 15, 16 only: the cells past the input do not count.
        expectFloats(average, [6, 7.5, 12, 13.5])
    }

    @Test func averagePoolCountIncludePad() throws {
        let ones = try floats([1, 1, 2, 2], [1, 1, 1, 1])
        let excluded = try evaluate(.averagePool(Pool2DAttributes(kernel: [2, 2], pads: [1, 1, 1, 1])), [ones])
        expectFloats(excluded, [Float](repeating: 1, count: 9))
        let included = try evaluate(.averagePool(Pool2DAttributes(kernel: [2, 2], pads: [1, 1, 1, 1], countIncludePad: true)), [ones])
        expectFloats(included, [0.25, 0.5, 0.25, 0.5, 1, 0.5, 0.25, 0.5, 0.25])
    }

    @Test func ceilModeMatchesNumPyReference() throws {
        let data = try fixture("pool_ceil.npz")
        let x = try #require(data["x"])
        let attributes = Pool2DAttributes(kernel: [3, 2], strides: [2, 2], pads: [1, 0, 1, 0], ceilMode: true)
        expectClose(try evaluate(.maxPool(attributes), [x]), try #require(data["max"]))
        expectClose(try evaluate(.averagePool(attributes), [x]), try #require(data["average"]))
        var including = attributes
        including.countIncludePad = true
        expectClose(try evaluate(.averagePool(including), [x]), try #require(data["average_include_pad"]))
    }

    @Test func globalPools() throws {
        let x = try floats([1, 2, 2, 2], [1, 2, 3, 4, -1, -5, -2, -3])
        expectFloats(try evaluate(.globalAveragePool, [x]), [2.5, -2.75], shape: [1, 2, 1, 1])
        expectFloats(try evaluate(.globalMaxPool, [x]), [4, -1], shape: [1, 2, 1, 1])
        let line = try floats([2, 1, 3], [1, 2, 6, 0, 0, 3])
        expectFloats(try evaluate(.globalAveragePool, [line]), [3, 1], shape: [2, 1, 1])
    }
}
