// Tests of the elementwise ops: broadcasting arithmetic, integer wrapping and division, comparisons,
// activations, unary math, cast and where, against hand-computed values.

import Foundation
import SieveIR
import Testing
@testable import SieveInterpreter

@Suite struct BinaryTests {
    @Test func addBroadcastsTrailingAxis() throws {
        let result = try evaluate(.binary(.add), [floats([2, 3], [1, 2, 3, 4, 5, 6]), floats([3], [10, 20, 30])])
        expectFloats(result, [11, 22, 33, 14, 25, 36], shape: [2, 3])
    }

    @Test func subBroadcastsBothOperands() throws {
        let result = try evaluate(.binary(.sub), [floats([2, 1], [1, 2]), floats([1, 3], [10, 20, 30])])
        expectFloats(result, [-9, -19, -29, -8, -18, -28], shape: [2, 3])
    }

    @Test func mulBroadcastsScalar() throws {
        let result = try evaluate(.binary(.mul), [floats([], [2]), floats([2, 2], [1, -2, 3.5, 0])])
        expectFloats(result, [2, -4, 7, 0], shape: [2, 2])
    }

    @Test func broadcastsAcrossRanks() throws {
        // [2,1,3] + [4,1] -> [2,4,3]
        let a = try floats([2, 1, 3], [0, 1, 2, 100, 101, 102])
        let b = try floats([4, 1], [10, 20, 30, 40])
        let result = try evaluate(.binary(.add), [a, b])
        #expect(result.shape == [2, 4, 3])
        #expect(result.floats?[0..<6] == [10, 11, 12, 20, 21, 22])
        #expect(result.floats?[21..<24] == [140, 141, 142])
    }

    @Test func floatDivisionFollowsIEEE() throws {
        let result = try evaluate(.binary(.div), [floats([4], [1, -1, 0, 6]), floats([4], [0, 0, 0, 4])])
        let values = try #require(result.floats)
        #expect(values[0] == .infinity && values[1] == -.infinity && values[2].isNaN && values[3] == 1.5)
    }

    @Test func integerDivisionTruncatesTowardZero() throws {
        let result = try evaluate(.binary(.div), [ints([4], [7, -7, 7, -7], .i32), ints([4], [2, 2, -2, -2], .i32)])
        expectInts(result, [3, -3, -3, 3])
        #expect(result.elementType == .i32)
    }

    @Test func integerDivisionByZeroIsAnError() throws {
        let error = #expect(throws: DiagnosticError.self) {
            try evaluate(.binary(.div), [ints([2], [1, 2], .i32), ints([2], [1, 0], .i32)])
        }
        #expect(message(of: error).contains("division by zero"))
    }

    @Test func integerArithmeticWrapsToTheElementType() throws {
        expectInts(try evaluate(.binary(.add), [ints([2], [127, -128], .i8), ints([2], [1, -1], .i8)]), [-128, 127])
        expectInts(try evaluate(.binary(.sub), [ints([1], [0], .u8), ints([1], [1], .u8)]), [255])
        expectInts(try evaluate(.binary(.mul), [ints([1], [65536], .i32), ints([1], [65536], .i32)]), [0])
        expectInts(try evaluate(.binary(.add), [ints([1], [Int64.max]), ints([1], [1])]), [Int64.min])
    }

    @Test func floatPower() throws {
        let result = try evaluate(.binary(.pow), [floats([3], [2, 4, 9]), floats([3], [3, 0.5, -1])])
        expectClose(result, try floats([3], [8, 2, 1.0 / 9]))
    }

    @Test func integerPower() throws {
        let result = try evaluate(.binary(.pow), [ints([5], [2, -3, 5, 2, -1]), ints([5], [10, 3, 0, -1, -3])])
        expectInts(result, [1024, -27, 1, 0, -1])
    }

    @Test func equalGivesBool() throws {
        let result = try evaluate(.binary(.equal), [floats([3], [1, 2, .nan]), floats([3], [1, 3, .nan])])
        #expect(result.elementType == .bool)
        expectInts(result, [1, 0, 0])
        let broadcast = try evaluate(.binary(.equal), [ints([2, 2], [1, 2, 3, 2], .i32), ints([], [2], .i32)])
        expectInts(broadcast, [0, 1, 0, 1], shape: [2, 2])
    }

    @Test func halfPrecisionResultsRound() throws {
        // 1 + 2^-11 is a tie between 1 and 1 + 2^-10 in f16 and rounds to the even one, 1.
        let a = try Tensor(TensorType([1], .f16), floats: [1])
        let b = try Tensor(TensorType([1], .f16), floats: [0.00048828125])
        let result = try evaluate(.binary(.add), [a, b])
        #expect(result.elementType == .f16)
        expectFloats(result, [1])
    }

    @Test func mixedElementTypesAreRefused() throws {
        // The interpreter checks the type rule itself, so a caller that skipped it still gets a diagnostic.
        let operands = [try floats([1], [1]), try ints([1], [1], .i32)]
        #expect(throws: DiagnosticError.self) {
            try Interpreter.evaluate(.binary(.add), operands: operands, resultType: TensorType([1], .f32), constants: ConstantTable())
        }
    }
}

@Suite struct UnaryTests {
    @Test func relu() throws {
        expectFloats(try evaluate(.unary(.relu), [floats([3], [-1, 0, 2])]), [0, 0, 2])
        expectInts(try evaluate(.unary(.relu), [ints([3], [-5, 0, 7], .i8)]), [0, 0, 7])
    }

    @Test func sigmoidIsStableAtTheExtremes() throws {
        expectFloats(try evaluate(.unary(.sigmoid), [floats([3], [0, -1000, 1000])]), [0.5, 0, 1])
        expectClose(try evaluate(.unary(.sigmoid), [floats([2], [1, -2])]), try floats([2], [0.7310585786, 0.1192029220]))
    }

    @Test func tanhErfSqrtExp() throws {
        expectClose(try evaluate(.unary(.tanh), [floats([2], [0, 0.5])]), try floats([2], [0, 0.4621171573]))
        expectClose(try evaluate(.unary(.erf), [floats([3], [0, 0.5, -2])]), try floats([3], [0, 0.5204998778, -0.9953222650]))
        let roots = try evaluate(.unary(.sqrt), [floats([3], [4, 2, -1])])
        #expect(roots.floats?[0] == 2 && roots.floats?[1] == Float(2).squareRoot() && roots.floats?[2].isNaN == true)
        expectClose(try evaluate(.unary(.exp), [floats([2], [1, -1])]), try floats([2], [2.7182818285, 0.3678794412]))
    }

    @Test func negWrapsIntegers() throws {
        expectFloats(try evaluate(.unary(.neg), [floats([2], [1.5, -0])]), [-1.5, 0])
        expectInts(try evaluate(.unary(.neg), [ints([3], [-128, 5, 0], .i8)]), [-128, -5, 0])
    }

    @Test func leakyRelu() throws {
        expectClose(try evaluate(.unary(.leakyRelu(alpha: 0.1)), [floats([3], [-2, 3, 0])]), try floats([3], [-0.2, 3, 0]))
    }

    @Test func geluMatchesBothForms() throws {
        let data = try fixture("gelu.npz")
        let x = try #require(data["x"])
        expectClose(try evaluate(.unary(.gelu(approximateTanh: false)), [x]), try #require(data["exact"]))
        expectClose(try evaluate(.unary(.gelu(approximateTanh: true)), [x]), try #require(data["tanh"]))
    }

    @Test func clip() throws {
        expectFloats(try evaluate(.unary(.clip(min: -1, max: 1)), [floats([3], [-2, 0.5, 3])]), [-1, 0.5, 1])
        // Integers clamp to the integers inside [min, max].
        expectInts(try evaluate(.unary(.clip(min: -1.5, max: 3.7)), [ints([3], [-5, 2, 9], .i32)]), [-1, 2, 3])
    }
}

@Suite struct CastTests {
    private func cast(_ x: Tensor, to elementType: ElementType) throws -> Tensor {
        try evaluate(.cast, [x], declared: TensorType(x.shape, elementType))
    }

    @Test func floatToIntegerTruncatesTowardZero() throws {
        expectInts(try cast(floats([4], [2.7, -2.7, 0.5, -0.5]), to: .i32), [2, -2, 0, 0])
        // Out of range is undefined in ONNX; Sieve converts through Int64 and wraps, as NumPy does.
        expectInts(try cast(floats([2], [300, -129]), to: .i8), [44, 127])
    }

    @Test func toBoolIsNonZero() throws {
        expectInts(try cast(floats([4], [2.7, -0.1, 0, .nan]), to: .bool), [1, 1, 0, 1])
        expectInts(try cast(ints([3], [0, -3, 256], .i32), to: .bool), [0, 1, 1])
    }

    @Test func floatNarrowingRoundsToNearestEven() throws {
        let third = try cast(floats([1], [1.0 / 3]), to: .f16)
        #expect(third.floats == [Float(Float16(Float(1.0 / 3)))])
        // 1 + 2^-8 is a tie in bf16 (7 mantissa bits) and rounds to the even neighbour, 1.
        expectFloats(try cast(floats([2], [1.00390625, 1.01171875]), to: .bf16), [1, 1.015625])
    }

    @Test func integerCastsWrap() throws {
        expectInts(try cast(ints([3], [257, -1, 128]), to: .i8), [1, -1, -128])
        expectInts(try cast(ints([2], [-1, 256], .i32), to: .u8), [255, 0])
        expectFloats(try cast(ints([2], [-3, 1 << 24], .i32), to: .f32), [-3, 16_777_216])
        expectFloats(try cast(ints([2], [1, 0], .bool), to: .f32), [1, 0])
    }
}

@Suite struct WhereTests {
    @Test func selectsWithBroadcasting() throws {
        let condition = try ints([2, 1], [1, 0], .bool)
        let result = try evaluate(.where, [condition, floats([2], [1, 2]), floats([], [9])])
        expectFloats(result, [1, 2, 9, 9], shape: [2, 2])
    }

    @Test func selectsIntegers() throws {
        let result = try evaluate(.where, [ints([3], [0, 1, 1], .bool), ints([3], [1, 2, 3], .i32), ints([3], [-1, -2, -3], .i32)])
        expectInts(result, [-1, 2, 3])
    }
}
