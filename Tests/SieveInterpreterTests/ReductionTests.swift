// Tests of the reductions group's reference semantics (reduce_*, arg_max/arg_min, cum_sum, top_k, log_softmax,
// conv_transpose2d) against hand-computed values.

import Foundation
import SieveIR
import Testing
@testable import SieveInterpreter

@Suite struct ReductionTests {
    let x: Tensor
    init() throws { x = try floats([2, 3], [1, -2, 3, 4, 5, -6]) }

    @Test func everyReduceFunctionOverTheLastAxis() throws {
        func reduce(_ function: ReduceFunction) throws -> Tensor {
            try evaluate(.reduce(function, axes: [1], keepDims: false), [x])
        }
        expectFloats(try reduce(.sum), [2, 3])
        expectFloats(try reduce(.max), [3, 5])
        expectFloats(try reduce(.min), [-2, -6])
        expectFloats(try reduce(.prod), [-6, -120])
        expectFloats(try reduce(.l1), [6, 15])
        expectFloats(try reduce(.sumSquare), [14, 77])
        expectFloats(try reduce(.l2), [Float(14.0.squareRoot()), Float(77.0.squareRoot())])
        expectFloats(try reduce(.logSum), [Float(log(2.0)), Float(log(3.0))])
        let lse = [log(exp(1.0) + exp(-2.0) + exp(3.0)), log(exp(4.0) + exp(5.0) + exp(-6.0))].map { Float($0) }
        expectFloats(try reduce(.logSumExp), lse)
    }

    @Test func logSumExpIsStableAndKeepsInfinities() throws {
        let big = try floats([3], [1000, 1000, -.infinity])
        expectFloats(try evaluate(.reduce(.logSumExp, axes: [0], keepDims: false), [big]), [Float(1000 + log(2.0))])
        let infinite = try floats([2], [.infinity, 1])
        expectFloats(try evaluate(.reduce(.logSumExp, axes: [0], keepDims: false), [infinite]), [.infinity])
    }

    @Test func emptyReductionsGiveTheIdentity() throws {
        let empty = try floats([2, 0], [])
        func reduce(_ function: ReduceFunction) throws -> Tensor {
            try evaluate(.reduce(function, axes: [1], keepDims: true), [empty])
        }
        expectFloats(try reduce(.sum), [0, 0], shape: [2, 1])
        expectFloats(try reduce(.prod), [1, 1])
        expectFloats(try reduce(.max), [-.infinity, -.infinity])
        expectFloats(try reduce(.min), [.infinity, .infinity])
        expectFloats(try reduce(.logSumExp), [-.infinity, -.infinity])
        #expect(try reduce(.mean).floats?.allSatisfy(\.isNaN) == true)
    }

    @Test func noAxesReducesEachElementAlone() throws {
        expectFloats(try evaluate(.reduce(.l1, axes: [], keepDims: true), [x]), [1, 2, 3, 4, 5, 6], shape: [2, 3])
        expectFloats(try evaluate(.reduce(.sumSquare, axes: [], keepDims: false), [x]), [1, 4, 9, 16, 25, 36], shape: [2, 3])
    }

    @Test func maxLetsNaNWin() throws {
        let values = try floats([3], [1, .nan, 2])
        #expect(try evaluate(.reduce(.max, axes: [0], keepDims: false), [values]).floats?.first?.isNaN == true)
        #expect(try evaluate(.reduce(.min, axes: [0], keepDims: false), [values]).floats?.first?.isNaN == true)
    }

    @Test func integerAndBoolReductions() throws {
        let big = try ints([2], [Int64.max, 1])
        expectInts(try evaluate(.reduce(.sum, axes: [0], keepDims: false), [big]), [Int64.min])  // wraps
        let small = try ints([2, 2], [100, 2, -3, 4], .i32)
        expectInts(try evaluate(.reduce(.prod, axes: [1], keepDims: false), [small]), [200, -12])
        expectInts(try evaluate(.reduce(.l1, axes: [0], keepDims: false), [small]), [103, 6])
        let flags = try ints([2, 2], [0, 1, 0, 0], .bool)
        expectInts(try evaluate(.reduce(.max, axes: [1], keepDims: false), [flags]), [1, 0])
        expectInts(try evaluate(.reduce(.min, axes: [1], keepDims: false), [flags]), [0, 0])
        let none = try ints([0], [], .i32)
        expectInts(try evaluate(.reduce(.max, axes: [0], keepDims: false), [none]), [Int64(Int32.min)])
    }

    @Test func argExtremesBreakTiesByPosition() throws {
        let ties = try floats([2, 4], [1, 3, 3, 0, 2, 2, 2, 2])
        expectInts(try evaluate(.argExtreme(largest: true, axis: 1, keepDims: false, selectLastIndex: false), [ties]), [1, 0])
        expectInts(try evaluate(.argExtreme(largest: true, axis: 1, keepDims: true, selectLastIndex: true), [ties]), [2, 3], shape: [2, 1])
        expectInts(try evaluate(.argExtreme(largest: false, axis: 1, keepDims: false, selectLastIndex: false), [ties]), [3, 0])
        expectInts(try evaluate(.argExtreme(largest: false, axis: 0, keepDims: false, selectLastIndex: false), [ties]), [0, 1, 1, 0])
        let nan = try floats([3], [1, .nan, 5])
        expectInts(try evaluate(.argExtreme(largest: true, axis: 0, keepDims: false, selectLastIndex: false), [nan]), [1])
    }

    @Test func cumulativeSumsEveryWay() throws {
        let values = try floats([4], [1, 2, 3, 4])
        expectFloats(try evaluate(.cumSum(axis: 0, exclusive: false, reverse: false), [values]), [1, 3, 6, 10])
        expectFloats(try evaluate(.cumSum(axis: 0, exclusive: true, reverse: false), [values]), [0, 1, 3, 6])
        expectFloats(try evaluate(.cumSum(axis: 0, exclusive: false, reverse: true), [values]), [10, 9, 7, 4])
        expectFloats(try evaluate(.cumSum(axis: 0, exclusive: true, reverse: true), [values]), [9, 7, 4, 0])
        let grid = try ints([2, 3], [1, 2, 3, 4, 5, 6], .i32)
        expectInts(try evaluate(.cumSum(axis: 0, exclusive: false, reverse: false), [grid]), [1, 2, 3, 5, 7, 9])
    }

    @Test func topKOrdersBestFirstWithTiesToTheLowerIndex() throws {
        let values = try floats([2, 5], [1, 5, 3, 5, 2, 0, -1, 0, 7, 7])
        expectFloats(try evaluate(.topK(k: 3, axis: 1, largest: true, output: .values), [values]), [5, 5, 3, 7, 7, 0], shape: [2, 3])
        expectInts(try evaluate(.topK(k: 3, axis: 1, largest: true, output: .indices), [values]), [1, 3, 2, 3, 4, 0])
        expectInts(try evaluate(.topK(k: 2, axis: 1, largest: false, output: .indices), [values]), [0, 4, 1, 0])
        expectInts(try evaluate(.topK(k: 1, axis: 0, largest: true, output: .indices), [values]), [0, 0, 0, 1, 1], shape: [1, 5])
        let none = try evaluate(.topK(k: 0, axis: 1, largest: true, output: .values), [values])
        #expect(none.shape == [2, 0])
    }

    @Test func logSoftmaxIsStable() throws {
        let values = try floats([1, 3], [1000, 1000, 1000])
        expectFloats(try evaluate(.logSoftmax(axis: 1), [values]), Array(repeating: Float(-log(3.0)), count: 3))
    }

    @Test func convTransposeScattersTheKernel() throws {
        // One input channel of 2x2, one output channel, kernel 2x2 of ones, stride 2: each input pixel fills a 2x2 block.
        let image = try floats([1, 1, 2, 2], [1, 2, 3, 4])
        let ones = try floats([1, 1, 2, 2], [1, 1, 1, 1])
        let up = try evaluate(.convTranspose2d(ConvTranspose2DAttributes(strides: [2, 2])), [image, ones])
        expectFloats(up, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4], shape: [1, 1, 4, 4])
        // Stride 1 overlaps the blocks; pads crop the border; a bias is added everywhere.
        let bias = try floats([1], [10])
        let overlapped = try evaluate(.convTranspose2d(ConvTranspose2DAttributes(pads: [1, 1, 0, 0])), [image, ones, bias])
        expectFloats(overlapped, [20, 16, 17, 14], shape: [1, 1, 2, 2])
        // A negative pad adds an output row that nothing reaches (bias only).
        let extended = try evaluate(.convTranspose2d(ConvTranspose2DAttributes(strides: [2, 2], pads: [0, 0, -1, 0])), [image, ones, bias])
        #expect(extended.shape == [1, 1, 5, 4])
        #expect(extended.floats?.suffix(4) == [10, 10, 10, 10])
    }
}
