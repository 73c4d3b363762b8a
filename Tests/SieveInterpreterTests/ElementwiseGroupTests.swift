// Tests of the elementwise group of #12 in the interpreter: math functions, activations, predicates,
// max/min/prelu, remainders, comparisons and logic, against hand-computed values and ONNX's edge cases.

import Foundation
import SieveIR
import Testing
@testable import SieveInterpreter

@Suite struct ElementwiseGroupTests {
    @Test func roundHalvesToEven() throws {
        let result = try evaluate(.unary(.roundEven), [floats([8], [0.5, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6, 3.0])])
        expectFloats(result, [0, 2, 2, -0, -2, 2, -3, 3])
    }

    @Test func floorCeilSignAbs() throws {
        let x = try floats([5], [-1.5, -0.0, 0, 2.25, -3])
        expectFloats(try evaluate(.unary(.floor), [x]), [-2, -0.0, 0, 2, -3])
        expectFloats(try evaluate(.unary(.ceiling), [x]), [-1, -0.0, 0, 3, -3])
        expectFloats(try evaluate(.unary(.sign), [x]), [-1, -0.0, 0, 1, -1])
        expectFloats(try evaluate(.unary(.absolute), [x]), [1.5, 0, 0, 2.25, 3])
        let nan = try #require(evaluate(.unary(.sign), [floats([1], [.nan])]).floats)
        #expect(nan[0].isNaN)
    }

    @Test func integerAbsSignWrapAndKeepTheType() throws {
        let abs8 = try evaluate(.unary(.absolute), [ints([3], [-128, -5, 7], .i8)])
        expectInts(abs8, [-128, 5, 7])
        #expect(abs8.elementType == .i8)
        expectInts(try evaluate(.unary(.sign), [ints([3], [-9, 0, 4], .i32)]), [-1, 0, 1])
    }

    @Test func mathFunctionsComputedInDouble() throws {
        let x = try floats([3], [0.5, 1, 2])
        expectFloats(try evaluate(.unary(.logarithm), [x]), [Float(log(0.5)), 0, Float(log(2.0))])
        expectFloats(try evaluate(.unary(.sin), [x]), [Float(sin(0.5)), Float(sin(1.0)), Float(sin(2.0))])
        expectFloats(try evaluate(.unary(.cos), [x]), [Float(cos(0.5)), Float(cos(1.0)), Float(cos(2.0))])
        expectFloats(try evaluate(.unary(.reciprocal), [x]), [2, 1, 0.5])
    }

    @Test func activationsMatchTheirFormulas() throws {
        let x = try floats([5], [-3, -1, 0, 1, 4])
        expectClose(try evaluate(.unary(.hardSwish), [x]), try floats([5], [0, -1.0 / 3, 0, 2.0 / 3, 4]))
        expectClose(try evaluate(.unary(.elu(alpha: 2)), [x]),
                    try floats([5], [2 * (Float(exp(-3.0)) - 1), 2 * (Float(exp(-1.0)) - 1), 0, 1, 4]))
        let alpha: Float = 1.6732632, gamma: Float = 1.050701
        expectClose(try evaluate(.unary(.selu(alpha: alpha, gamma: gamma)), [x]),
                    try floats([5], [gamma * alpha * (Float(exp(-3.0)) - 1), gamma * alpha * (Float(exp(-1.0)) - 1), 0, gamma, 4 * gamma]))
        expectClose(try evaluate(.unary(.softplus), [x]), try floats([5], [-3, -1, 0, 1, 4].map { Float(log1p(exp(Double($0)))) }))
        expectClose(try evaluate(.unary(.softsign), [x]), try floats([5], [-0.75, -0.5, 0, 0.5, 0.8]))
        expectClose(try evaluate(.unary(.mish), [x]),
                    try floats([5], [-3, -1, 0, 1, 4].map { Float(Double($0) * tanh(log1p(exp(Double($0))))) }))
        expectClose(try evaluate(.unary(.celu(alpha: 2)), [x]),
                    try floats([5], [2 * (Float(exp(-1.5)) - 1), 2 * (Float(exp(-0.5)) - 1), 0, 1, 4]))
        expectFloats(try evaluate(.unary(.thresholdedRelu(alpha: 1)), [x]), [0, 0, 0, 0, 4])
    }

    /// Softplus of a large input is the input, not infinity (the naive ln(1 + e^x) overflows in f32 from 89 on).
    @Test func softplusDoesNotOverflow() throws {
        expectFloats(try evaluate(.unary(.softplus), [floats([2], [100, -100])]), [100, Float(log1p(exp(-100.0)))])
    }

    @Test func isNanGivesBool() throws {
        let result = try evaluate(.unary(.isNan), [floats([4], [.nan, 1, .infinity, -.nan])])
        #expect(result.elementType == .bool)
        expectInts(result, [1, 0, 0, 1])
    }

    @Test func maxAndMinPropagateNaNFromEitherSide() throws {
        let a = try floats([4], [1, .nan, 3, -2]), b = try floats([4], [.nan, 2, 1, -5])
        let max = try #require(evaluate(.binary(.max), [a, b]).floats)
        let min = try #require(evaluate(.binary(.min), [a, b]).floats)
        #expect(max[0].isNaN && max[1].isNaN && max[2] == 3 && max[3] == -2)
        #expect(min[0].isNaN && min[1].isNaN && min[2] == 1 && min[3] == -5)
        expectInts(try evaluate(.binary(.max), [ints([3], [1, -7, 4], .i32), ints([1], [0], .i32)]), [1, 0, 4])
    }

    @Test func preluBroadcastsPerChannelSlopes() throws {
        let x = try floats([1, 2, 1, 2], [-1, 2, -3, 4])
        let slope = try floats([1, 2, 1, 1], [0.5, 0.25])
        expectFloats(try evaluate(.binary(.prelu), [x, slope]), [-0.5, 2, -0.75, 4], shape: [1, 2, 1, 2])
    }

    @Test func remaindersFollowTheDivisorOrTheDividend() throws {
        let a = try ints([4], [7, -7, 7, -7], .i32), b = try ints([4], [3, 3, -3, -3], .i32)
        expectInts(try evaluate(.binary(.mod), [a, b]), [1, 2, -2, -1])
        expectInts(try evaluate(.binary(.fmod), [a, b]), [1, -1, 1, -1])
        expectFloats(try evaluate(.binary(.fmod), [floats([3], [5.5, -5.5, 1]), floats([3], [2, 2, -0.75])]), [1.5, -1.5, 0.25])
        expectInts(try evaluate(.binary(.mod), [ints([1], [Int64.min]), ints([1], [-1])]), [0])
        let error = #expect(throws: DiagnosticError.self) {
            try evaluate(.binary(.mod), [ints([2], [1, 2], .i32), ints([2], [1, 0], .i32)])
        }
        #expect(message(of: error).contains("mod by zero"))
    }

    @Test func comparisonsGiveBoolAndNaNComparesFalse() throws {
        let a = try floats([4], [1, 2, .nan, 3]), b = try floats([4], [2, 2, 0, 1])
        expectInts(try evaluate(.binary(.greater), [a, b]), [0, 0, 0, 1])
        expectInts(try evaluate(.binary(.less), [a, b]), [1, 0, 0, 0])
        expectInts(try evaluate(.binary(.greaterOrEqual), [a, b]), [0, 1, 0, 1])
        expectInts(try evaluate(.binary(.lessOrEqual), [a, b]), [1, 1, 0, 0])
        expectInts(try evaluate(.binary(.less), [ints([2], [-3, 200], .u8), ints([2], [1, 100], .u8)]), [0, 0])
    }

    @Test func logicOnBools() throws {
        let a = try ints([4], [0, 0, 1, 1], .bool), b = try ints([4], [0, 1, 0, 1], .bool)
        expectInts(try evaluate(.binary(.and), [a, b]), [0, 0, 0, 1])
        expectInts(try evaluate(.binary(.or), [a, b]), [0, 1, 1, 1])
        expectInts(try evaluate(.binary(.xor), [a, b]), [0, 1, 1, 0])
        expectInts(try evaluate(.unary(.logicalNot), [a]), [1, 1, 0, 0])
    }

    @Test func domainsAreChecked() throws {
        #expect(throws: TypeRuleError.self) { try OpKind.binary(.and).resultType(operands: [TensorType([2], .f32), TensorType([2], .f32)], declared: nil, constants: ConstantTable()) }
        #expect(throws: TypeRuleError.self) { try OpKind.binary(.mod).resultType(operands: [TensorType([2], .f32), TensorType([2], .f32)], declared: nil, constants: ConstantTable()) }
        #expect(throws: TypeRuleError.self) { try OpKind.unary(.logicalNot).resultType(operands: [TensorType([2], .i32)], declared: nil, constants: ConstantTable()) }
        #expect(throws: TypeRuleError.self) { try OpKind.unary(.sin).resultType(operands: [TensorType([2], .i64)], declared: nil, constants: ConstantTable()) }
        let greater = try OpKind.binary(.greater).resultType(operands: [TensorType([2, 1], .i32), TensorType([3], .i32)], declared: nil, constants: ConstantTable())
        #expect(greater == TensorType([2, 3], .bool))
    }
}
