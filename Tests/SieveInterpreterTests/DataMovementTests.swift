// Tests of reshape, transpose, flatten, squeeze, unsqueeze, expand, concat, gather and slice.
// Each checks element order against hand-written expectations, including negative axes and steps.

import SieveIR
import Testing
@testable import SieveInterpreter

@Suite struct DataMovementTests {
    let x: Tensor
    init() throws { x = try floats([2, 3], [0, 1, 2, 3, 4, 5]) }

    @Test func reshapeFamilyKeepsElementOrder() throws {
        expectFloats(try evaluate(.reshape, [x], declared: TensorType([3, 2], .f32)), [0, 1, 2, 3, 4, 5], shape: [3, 2])
        let cube = try floats([2, 1, 3], [0, 1, 2, 3, 4, 5])
        expectFloats(try evaluate(.flatten(axis: 2), [cube]), [0, 1, 2, 3, 4, 5], shape: [2, 3])
        #expect(try evaluate(.flatten(axis: 0), [cube]).shape == [1, 6])
        #expect(try evaluate(.squeeze(axes: [1]), [cube]).shape == [2, 3])
        #expect(try evaluate(.unsqueeze(axes: [0, 3]), [x]).shape == [1, 2, 3, 1])
    }

    @Test func transpose() throws {
        expectFloats(try evaluate(.transpose(permutation: [1, 0]), [x]), [0, 3, 1, 4, 2, 5], shape: [3, 2])
        let cube = try ints([2, 3, 4], (0..<24).map(Int64.init), .i32)
        let result = try evaluate(.transpose(permutation: [2, 0, 1]), [cube])
        #expect(result.shape == [4, 2, 3])
        // result[i][j][k] = cube[j][k][i]
        #expect(result.integers?[1 * 6 + 1 * 3 + 2] == Int64(1 * 12 + 2 * 4 + 1))
    }

    @Test func expandBroadcasts() throws {
        let result = try evaluate(.expand, [floats([3, 1], [1, 2, 3])], declared: TensorType([2, 3, 2], .f32))
        expectFloats(result, [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3])
    }

    @Test func concatAlongEachAxis() throws {
        let y = try floats([2, 1], [9, 8])
        expectFloats(try evaluate(.concat(axis: 1), [x, y]), [0, 1, 2, 9, 3, 4, 5, 8], shape: [2, 4])
        expectFloats(try evaluate(.concat(axis: 0), [x, floats([1, 3], [6, 7, 8])]), [0, 1, 2, 3, 4, 5, 6, 7, 8], shape: [3, 3])
        expectInts(try evaluate(.concat(axis: 0), [ints([1], [1], .bool), ints([2], [0, 1], .bool)]), [1, 0, 1])
    }

    @Test func gatherWithNegativeIndices() throws {
        expectFloats(try evaluate(.gather(axis: 1), [x, ints([2], [-1, 0])]), [2, 0, 5, 3], shape: [2, 2])
        expectFloats(try evaluate(.gather(axis: 0), [x, ints([2, 1], [1, 0], .i32)]), [3, 4, 5, 0, 1, 2], shape: [2, 1, 3])
        // A scalar index removes the axis.
        expectFloats(try evaluate(.gather(axis: 0), [x, ints([], [-2])]), [0, 1, 2], shape: [3])
    }

    @Test func gatherOutOfRangeNamesIndexAndAxisSize() throws {
        let error = #expect(throws: DiagnosticError.self) {
            try evaluate(.gather(axis: 1), [x, ints([2], [0, 3])])
        }
        let text = message(of: error)
        #expect(text.contains("index 3") && text.contains("size 3"), "\(text)")
        #expect(throws: DiagnosticError.self) { try evaluate(.gather(axis: 0), [x, ints([1], [-3])]) }
    }

    @Test func slicePositiveSteps() throws {
        let row = try floats([6], [0, 1, 2, 3, 4, 5])
        expectFloats(try evaluate(.slice(starts: [1], ends: [5], axes: [0], steps: [2]), [row]), [1, 3], shape: [2])
        expectFloats(try evaluate(.slice(starts: [1], ends: [6], axes: [0], steps: [2]), [row]), [1, 3, 5])
        expectFloats(try evaluate(.slice(starts: [2], ends: [2], axes: [0], steps: [1]), [row]), [], shape: [0])
        expectFloats(try evaluate(.slice(starts: [1], ends: [3], axes: [1], steps: [1]), [x]), [1, 2, 4, 5], shape: [2, 2])
    }

    @Test func sliceNegativeStepsReachTheStart() throws {
        let row = try floats([6], [0, 1, 2, 3, 4, 5])
        // end -1 means "through index 0": the whole axis reversed.
        expectFloats(try evaluate(.slice(starts: [5], ends: [-1], axes: [0], steps: [-1]), [row]), [5, 4, 3, 2, 1, 0])
        expectFloats(try evaluate(.slice(starts: [4], ends: [0], axes: [0], steps: [-2]), [row]), [4, 2])
        expectFloats(try evaluate(.slice(starts: [5], ends: [-1], axes: [0], steps: [-3]), [row]), [5, 2])
        let both = try evaluate(.slice(starts: [1, 2], ends: [-1, -1], axes: [0, 1], steps: [-1, -2]), [x])
        expectFloats(both, [5, 3, 2, 0], shape: [2, 2])
    }
}
