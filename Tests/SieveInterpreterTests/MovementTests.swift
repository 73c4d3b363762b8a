// Tests of pad, resize, gather_elements, gather_nd and the scatters against hand-written expectations:
// negative pads, pads wider than the axis, integer-factor resizing, duplicate scatter indices, bad indices.

import SieveIR
import Testing
@testable import SieveInterpreter

@Suite struct MovementTests {
    let row: Tensor
    init() throws { row = try floats([4], [1, 2, 3, 4]) }

    @Test func padModes() throws {
        expectFloats(try evaluate(.pad(pads: [2, 1], mode: .constant, value: 9), [row]), [9, 9, 1, 2, 3, 4, 9])
        expectFloats(try evaluate(.pad(pads: [2, 2], mode: .reflect, value: 0), [row]), [3, 2, 1, 2, 3, 4, 3, 2])
        expectFloats(try evaluate(.pad(pads: [2, 2], mode: .edge, value: 0), [row]), [1, 1, 1, 2, 3, 4, 4, 4])
        expectFloats(try evaluate(.pad(pads: [2, 2], mode: .wrap, value: 0), [row]), [3, 4, 1, 2, 3, 4, 1, 2])
    }

    @Test func padWiderThanTheAxisRepeatsPeriodically() throws {
        // NumPy's pad: reflect has period 2 * (4 - 1) = 6, wrap period 4.
        expectFloats(try evaluate(.pad(pads: [7, 0], mode: .reflect, value: 0), [row]), [2, 1, 2, 3, 4, 3, 2, 1, 2, 3, 4])
        expectFloats(try evaluate(.pad(pads: [0, 6], mode: .wrap, value: 0), [row]), [1, 2, 3, 4, 1, 2, 3, 4, 1, 2])
    }

    @Test func negativePadsCrop() throws {
        expectFloats(try evaluate(.pad(pads: [-1, 2], mode: .constant, value: 0), [row]), [2, 3, 4, 0, 0])
        expectFloats(try evaluate(.pad(pads: [-1, -2], mode: .constant, value: 0), [row]), [2])
        // Positions past the cropped end still mirror the whole operand.
        expectFloats(try evaluate(.pad(pads: [-1, 1], mode: .reflect, value: 0), [row]), [2, 3, 4, 3])
        let grid = try ints([2, 2], [1, 2, 3, 4], .i64)
        expectInts(try evaluate(.pad(pads: [1, 0, 0, 1], mode: .constant, value: -7), [grid]), [-7, -7, -7, 1, 2, -7, 3, 4, -7])
    }

    @Test func nearestResizeByAnIntegerFactorRepeats() throws {
        let grid = try floats([1, 1, 2, 2], [1, 2, 3, 4])
        let attributes = ResizeAttributes(mode: .nearest, coordinateTransformation: .asymmetric, nearestMode: .floor,
                                          scales: [1, 1, 2, 3])
        expectFloats(try evaluate(.resize(attributes), [grid], declared: TensorType([1, 1, 4, 6], .f32)),
                     [1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4])
    }

    @Test func linearResizeClampsAtTheEdges() throws {
        // half_pixel, 4 -> 8: x = (o + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, ...; the first and last clamp.
        let attributes = ResizeAttributes(mode: .linear, scales: [2])
        expectFloats(try evaluate(.resize(attributes), [row], declared: TensorType([8], .f32)),
                     [1, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4])
    }

    @Test func gathersAndScatters() throws {
        let data = try floats([2, 3], [0, 1, 2, 3, 4, 5])
        let pick = try ints([2, 2], [2, -3, 0, 1], .i64)
        expectFloats(try evaluate(.gatherElements(axis: 1), [data, pick]), [2, 0, 3, 4], shape: [2, 2])
        let rows = try ints([2, 2], [1, 2, 0, 0], .i64)
        expectFloats(try evaluate(.gatherND(batchDims: 0), [data, rows]), [5, 0], shape: [2])
        // Duplicate indices: `none` keeps the last update, `add` sums them.
        let twice = try ints([1, 2], [1, 1], .i64)
        let updates = try floats([1, 2], [10, 20])
        expectFloats(try evaluate(.scatterElements(axis: 1, reduction: .none), [data, twice, updates]), [0, 20, 2, 3, 4, 5])
        expectFloats(try evaluate(.scatterElements(axis: 1, reduction: .add), [data, twice, updates]), [0, 31, 2, 3, 4, 5])
        let slices = try ints([1, 1], [1], .i64)
        expectFloats(try evaluate(.scatterND(reduction: .mul), [data, slices, floats([1, 3], [2, 2, 2])]), [0, 1, 2, 6, 8, 10])
    }

    @Test func badIndicesAreErrors() throws {
        let data = try floats([2, 3], [0, 1, 2, 3, 4, 5])
        #expect(throws: DiagnosticError.self) { try evaluate(.gatherElements(axis: 1), [data, ints([2, 1], [3, 0], .i64)]) }
        #expect(throws: DiagnosticError.self) { try evaluate(.gatherND(batchDims: 0), [data, ints([1, 2], [0, -4], .i64)]) }
    }
}
