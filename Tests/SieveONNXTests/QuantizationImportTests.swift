// Importer tests of the integer and quantized ops of #14 where the node tests do not reach: per-row and
// per-column zero points and scales, per-channel convolution zero points, run-time parameters, refusals.

import Foundation
import SieveIR
import SieveInterpreter
import SieveKernel
import SieveONNX
import SieveONNXTestSupport
import Testing

/// Imports a model and runs it in the interpreter.
private func run(_ model: Onnx_ModelProto, _ inputs: [Tensor]) throws -> [Tensor] {
    try Interpreter(graph: importBytes(model).graph).run(inputs)
}

@Suite struct QuantizationImportTests {
    /// A = [[1, 2, 3], [4, 5, 6]] (u8) with zero points per row, B (u8) with zero points per column.
    static let a: [Int64] = [1, 2, 3, 4, 5, 6], b: [Int64] = [7, 8, 9, 10, 11, 12]
    static let aZero: [Int64] = [1, 2], bZero: [Int64] = [3, 4]

    /// `(A - aZero[row]) · (B - bZero[column])` for the 2x3 A and 3x2 B above, computed here.
    static func shiftedProduct(aZero: [Int64] = aZero, bZero: [Int64] = bZero) -> [Int64] {
        var result: [Int64] = []
        for row in 0..<2 {
            for column in 0..<2 {
                var sum: Int64 = 0
                for k in 0..<3 { sum += (a[row * 3 + k] - aZero[row]) * (b[k * 2 + column] - bZero[column]) }
                result.append(sum)
            }
        }
        return result
    }

    @Test func matMulIntegerShiftsRowsOfAAndColumnsOfB() throws {
        let m = model(nodes: [node("MatMulInteger", ["a", "b", "az", "bz"], ["y"])],
                      inputs: [valueInfo("a", ONNXType.uint8, [2, 3])], outputs: ["y"],
                      initializers: [integerTensor("b", ONNXType.uint8, [3, 2], QuantizationImportTests.b.map { Int32($0) }),
                                     integerTensor("az", ONNXType.uint8, [2], [1, 2]),
                                     integerTensor("bz", ONNXType.uint8, [2], [3, 4])])
        let input = try Tensor(TensorType([2, 3], .u8), integers: QuantizationImportTests.a)
        let output = try #require(try run(m, [input]).first)
        #expect(output.type == TensorType([2, 2], .i32))
        #expect(output.integers == QuantizationImportTests.shiftedProduct())
    }

    @Test func qLinearMatMulRequantizesPerColumn() throws {
        // b's scale and zero point per column: the multiplier is a_scale · b_scale[j] / y_scale.
        let m = model(nodes: [node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])],
                      inputs: [valueInfo("a", ONNXType.uint8, [2, 3])], outputs: ["y"],
                      initializers: [integerTensor("b", ONNXType.uint8, [3, 2], QuantizationImportTests.b.map { Int32($0) }),
                                     floatTensor("as", [], [0.5]), integerTensor("az", ONNXType.uint8, [], [2]),
                                     floatTensor("bs", [2], [0.25, 8]), integerTensor("bz", ONNXType.uint8, [2], [3, 4]),
                                     floatTensor("ys", [], [1]), integerTensor("yz", ONNXType.uint8, [], [100])])
        let input = try Tensor(TensorType([2, 3], .u8), integers: QuantizationImportTests.a)
        let output = try #require(try run(m, [input]).first)
        #expect(output.type == TensorType([2, 2], .u8))
        let scales: [Float] = [0.5 * 0.25 / 1, 0.5 * 8 / 1]
        let products = QuantizationImportTests.shiftedProduct(aZero: [2, 2])
        let expected: [Int64] = products.indices.map { index in
            let value = (Float(products[index]) * scales[index % 2]).rounded(.toNearestOrEven) + 100
            return Int64(min(max(value, 0), 255))
        }
        #expect(output.integers == expected)
        // Row 0, column 0 is 4 · 0.125 = 0.5, which rounds to 0 (half to even, not away from zero); row 1, column 1 saturates.
        #expect(expected[0] == 100 && expected[3] == 255)
    }

    @Test func qLinearMatMulOfASymmetricInt8WeightIsOneRequantizingInt8Product() throws {
        // quantize_static's QOperator form: the u8 input takes a's parameters, the int8 weight (zero point 0, scale per
        // column) is stored [N, K]; the result is the interpreter's requantized product, computed here.
        let weight: [Int64] = [7, -8, 9, -10, 11, 12]
        let m = model(nodes: [node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])],
                      inputs: [valueInfo("a", ONNXType.uint8, [2, 3])], outputs: ["y"],
                      initializers: [integerTensor("b", ONNXType.int8, [3, 2], weight.map { Int32($0) }),
                                     floatTensor("as", [], [0.5]), integerTensor("az", ONNXType.uint8, [], [2]),
                                     floatTensor("bs", [2], [0.25, 0.75]), integerTensor("bz", ONNXType.int8, [2], [0, 0]),
                                     floatTensor("ys", [], [0.3]), integerTensor("yz", ONNXType.uint8, [], [100])])
        let graph = try importBytes(m).graph
        let products = graph.operations.filter { $0.kind.traits.contains(.product) }
        #expect(products.map(\.kind) == [.fusedMatmul(transposeB: true, epilogue: [.requantize])], "\(products.map(\.kind))")
        #expect(graph.type(of: graph.inputs[0]) == TensorType([2, 3], .u8, quant: QuantParams(scales: [0.5], zeroPoints: [2])))
        let input = try Tensor(TensorType([2, 3], .u8), integers: QuantizationImportTests.a)
        let output = try #require(try Interpreter(graph: graph).run([input]).first)
        let expected: [Int64] = (0..<4).map { index in
            let (row, column) = (index / 2, index % 2)
            let sum = (0..<3).reduce(Int64(0)) { $0 + (QuantizationImportTests.a[row * 3 + $1] - 2) * weight[$1 * 2 + column] }
            let multiplier = Float(0.5) * [Float(0.25), 0.75][column] / Float(0.3)
            return Int64(min(max((Float(sum) * multiplier).rounded(.toNearestOrEven) + 100, 0), 255))
        }
        #expect(output.type.plain == TensorType([2, 2], .u8) && output.integers == expected, "\(output.integers ?? [])")
    }

    @Test func qLinearConvOfASymmetricInt8WeightIsOneRequantizingInt8Convolution() throws {
        // The int32 bias stays i32 and joins the sums; a u8 weight with a zero point keeps the decomposition, which
        // computes the same values.
        let x: [Int64] = (0..<18).map { Int64(($0 * 37) % 256) }, w: [Int64] = (0..<16).map { Int64(($0 * 53) % 256) - 128 }
        func qlinear(unsigned: Bool) -> Onnx_ModelProto {
            var conv = node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"])
            conv.attribute = [intsAttribute("pads", [1, 1, 1, 1]), intsAttribute("strides", [1, 2])]
            let weight = unsigned ? integerTensor("w", ONNXType.uint8, [2, 2, 2, 2], w.map { Int32($0 + 128) })
                : integerTensor("w", ONNXType.int8, [2, 2, 2, 2], w.map { Int32($0) })
            let point = unsigned ? integerTensor("wz", ONNXType.uint8, [], [128]) : integerTensor("wz", ONNXType.int8, [], [0])
            return model(nodes: [conv], inputs: [valueInfo("x", ONNXType.uint8, [1, 2, 3, 3])], outputs: ["y"],
                         initializers: [weight, point, floatTensor("xs", [], [0.02]), integerTensor("xz", ONNXType.uint8, [], [5]),
                                        floatTensor("ws", [2], [0.01, 0.03]), floatTensor("ys", [], [0.4]),
                                        integerTensor("yz", ONNXType.uint8, [], [120]), integerTensor("b", ONNXType.int32, [2], [-900, 1500])])
        }
        let graph = try importBytes(qlinear(unsigned: false)).graph
        let convolutions = graph.operations.filter { if case .conv2d = $0.kind { true } else { false } }
        #expect(convolutions.count == 1 && convolutions.first.flatMap { graph.type(of: $0.results[0]) }?.elementType == .u8)
        #expect(convolutions.first.flatMap { graph.type(of: $0.operands[1]) }?.elementType == .i8)
        let decomposed = try importBytes(qlinear(unsigned: true)).graph
        #expect(decomposed.operations.contains { if case .conv2d = $0.kind { decomposed.type(of: $0.results[0])?.elementType == .i32 } else { false } })
        let input = try Tensor(TensorType([1, 2, 3, 3], .u8), integers: x)
        let fused = try #require(try Interpreter(graph: graph).run([input]).first)
        let reference = try #require(try Interpreter(graph: decomposed).run([input]).first)
        #expect(fused.type.plain == reference.type && fused.integers == reference.integers, "\(fused.integers ?? []) against \(reference.integers ?? [])")
        #expect(Set(fused.integers ?? []).count > 4, "the values vary: \(fused.integers ?? [])")
    }

    /// The QLinearMatMul of `qLinearMatMulOfASymmetricInt8Weight…` with other scales and, before it, `before` nodes.
    static func qlinearMatMul(scales: (a: Float, b: Float, y: Float), before: [Onnx_NodeProto] = [], after: [Onnx_NodeProto] = [],
                              outputs: [String] = ["y"], extra: [Onnx_TensorProto] = []) -> Onnx_ModelProto {
        model(nodes: before + [node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])] + after,
              inputs: [valueInfo("a", ONNXType.uint8, [2, 3])], outputs: outputs,
              initializers: [integerTensor("b", ONNXType.int8, [3, 2], [7, -8, 9, -10, 11, 12]),
                             floatTensor("as", [], [scales.a]), integerTensor("az", ONNXType.uint8, [], [2]),
                             floatTensor("bs", [], [scales.b]), integerTensor("bz", ONNXType.int8, [], [0]),
                             floatTensor("ys", [], [scales.y]), integerTensor("yz", ONNXType.uint8, [], [100])] + extra)
    }

    @Test func qLinearMatMulWhoseMultiplierOverflowsIsRefused() {
        // 1e30 · 1e30 / 1 is inf in f32: a sum of 0 would requantize to NaN (onnxruntime 0, the kernels the zero point).
        let errors = importErrors(QuantizationImportTests.qlinearMatMul(scales: (1e30, 1e30, 1)))
        #expect(errors.count == 1 && errors.first?.description.contains("requantization multiplier") == true, "\(errors)")
    }

    @Test func quantizedInputReadBeforeItsQLinearMatMulKeepsItsTypes() throws {
        // A Gather reads the graph input before the QLinearMatMul could type it with a's parameters: the input keeps
        // its plain type (the product takes the decomposition) and the graph verifies.
        let m = QuantizationImportTests.qlinearMatMul(scales: (0.5, 0.25, 0.3), before: [node("Gather", ["a", "i"], ["g"], [intAttribute("axis", 1)])],
                                                      outputs: ["g", "y"], extra: [int64Tensor("i", [2], [0, 1])])
        let graph = try importBytes(m).graph
        #expect(graph.type(of: graph.inputs[0])?.quant == nil)
        let input = try Tensor(TensorType([2, 3], .u8), integers: QuantizationImportTests.a)
        let typed = try #require(try Interpreter(graph: importBytes(QuantizationImportTests.qlinearMatMul(scales: (0.5, 0.25, 0.3)))
            .graph).run([input]).first)
        let outputs = try Interpreter(graph: graph).run([input])
        #expect(outputs.count == 2 && outputs[1].integers == typed.integers, "the decomposition gives the int8 product's values")
        #expect(outputs.first?.integers == [1, 2, 4, 5])
    }

    @Test func quantizedInputDequantizedWithOtherParametersAfterItsQLinearMatMul() throws {
        // The QLinearMatMul types the graph input with a's parameters (0.5, 2); a DequantizeLinear of the same input with
        // other parameters (0.25, 5) is still valid ONNX and computes (a - 5) · 0.25 from the raw integers.
        let m = QuantizationImportTests.qlinearMatMul(scales: (0.5, 0.25, 0.3), after: [node("DequantizeLinear", ["a", "ds", "dz"], ["d"])],
                                                      outputs: ["y", "d"],
                                                      extra: [floatTensor("ds", [], [0.25]), integerTensor("dz", ONNXType.uint8, [], [5])])
        let input = try Tensor(TensorType([2, 3], .u8), integers: QuantizationImportTests.a)
        let typed = try #require(try Interpreter(graph: importBytes(QuantizationImportTests.qlinearMatMul(scales: (0.5, 0.25, 0.3)))
            .graph).run([input]).first)
        let outputs = try run(m, [input])
        #expect(outputs.count == 2 && outputs[0].integers == typed.integers)
        #expect(outputs.last?.floats == QuantizationImportTests.a.map { Float($0 - 5) * 0.25 })
    }

    @Test func qLinearMatMulOverAnEmptyReductionGivesTheZeroPoint() throws {
        // K = 0: every sum is empty, 0, which requantizes to y's zero point. The requantizing int8 product counts its
        // rows as elements / K (none), so the fast path left a 2x2 result without values, which lowering refused.
        let m = model(nodes: [node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])],
                      inputs: [valueInfo("a", ONNXType.uint8, [2, 0])], outputs: ["y"],
                      initializers: [integerTensor("b", ONNXType.int8, [0, 2], []),
                                     floatTensor("as", [], [0.5]), integerTensor("az", ONNXType.uint8, [], [2]),
                                     floatTensor("bs", [], [0.25]), integerTensor("bz", ONNXType.int8, [], [0]),
                                     floatTensor("ys", [], [0.3]), integerTensor("yz", ONNXType.uint8, [], [100])])
        let graph = try importBytes(m).graph
        let output = try #require(try Interpreter(graph: graph).run([try Tensor(TensorType([2, 0], .u8), integers: [])]).first)
        #expect(output.type.shape == [2, 2] && output.integers == [100, 100, 100, 100])
        _ = try lowerToKernels(graph, options: LoweringOptions(name: "empty", vectorWidth: 8))
    }

    @Test func int8ProductOverAnEmptyReductionIsZero() throws {
        // DynamicQuantizeMatMul with K = 0 (onnxruntime: zeros). The int8 product counted its rows as elements / K, none:
        // the interpreter wrote a [2, 3] result without values (and a DynamicQuantizeLSTM of input size 0 trapped on
        // it), and lowering planned no scratch and stopped with an internal message.
        let m = model(nodes: [node("DynamicQuantizeMatMul", ["a", "b", "bs"], ["y"], domain: "com.microsoft")],
                      inputs: [valueInfo("a", ONNXType.float, [2, 0])], outputs: ["y"],
                      initializers: [integerTensor("b", ONNXType.int8, [0, 3], []), floatTensor("bs", [], [0.1])],
                      extraDomains: ["com.microsoft": 1])
        let graph = try importBytes(m).graph
        let output = try #require(try Interpreter(graph: graph).run([try Tensor(TensorType([2, 0], .f32), floats: [])]).first)
        #expect(output.type.shape == [2, 3] && output.floats == [Float](repeating: 0, count: 6))
        _ = try lowerToKernels(graph, options: LoweringOptions(name: "empty", vectorWidth: 8))
    }

    @Test func qLinearConvWithABiasNearTheInt32LimitKeepsTheWrappingDecomposition() throws {
        // onnxruntime's biased sums wrap at 32 bits; the int8 kernels sum in 64, so such a bias keeps the decomposition.
        var conv = node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"])
        conv.attribute = [intsAttribute("kernel_shape", [1, 1])]
        let m = model(nodes: [conv], inputs: [valueInfo("x", ONNXType.uint8, [1, 1, 2, 2])], outputs: ["y"],
                      initializers: [integerTensor("w", ONNXType.int8, [1, 1, 1, 1], [3]), integerTensor("wz", ONNXType.int8, [], [0]),
                                     floatTensor("xs", [], [0.02]), integerTensor("xz", ONNXType.uint8, [], [0]),
                                     floatTensor("ws", [], [0.01]), floatTensor("ys", [], [0.4]),
                                     integerTensor("yz", ONNXType.uint8, [], [0]), integerTensor("b", ONNXType.int32, [1], [Int32.max - 10])])
        let graph = try importBytes(m).graph
        #expect(!graph.operations.contains { if case .conv2d = $0.kind { graph.type(of: $0.results[0])?.elementType == .u8 } else { false } },
                "the requantizing int8 convolution was taken")
    }

    @Test func convIntegerMatchesConvOfTheShiftedFloats() throws {
        // Per-output-channel weight zero points and padding: the padding reads as x's zero point, so ConvInteger
        // equals a float Conv of x - x_zero_point (padded with 0) and w - w_zero_point[channel].
        let x: [Int64] = (0..<18).map { Int64(($0 * 37) % 256) }, w: [Int64] = (0..<16).map { Int64(($0 * 53) % 256) - 128 }
        let xZero: Int64 = 5, wZero: [Int64] = [-3, 7]
        let attributes = [intsAttribute("pads", [1, 1, 1, 1]), intsAttribute("strides", [1, 2])]
        var integerNode = node("ConvInteger", ["x", "w", "xz", "wz"], ["y"])
        integerNode.attribute = attributes
        let integerModel = model(nodes: [integerNode], inputs: [valueInfo("x", ONNXType.uint8, [1, 2, 3, 3])], outputs: ["y"],
                                 initializers: [integerTensor("w", ONNXType.int8, [2, 2, 2, 2], w.map { Int32($0) }),
                                                integerTensor("xz", ONNXType.uint8, [], [Int32(xZero)]),
                                                integerTensor("wz", ONNXType.int8, [2], wZero.map { Int32($0) })])
        var floatNode = node("Conv", ["x", "w"], ["y"])
        floatNode.attribute = attributes
        let shiftedWeights = w.indices.map { Float(w[$0] - wZero[$0 / 8]) }
        let floatModel = model(nodes: [floatNode], inputs: [valueInfo("x", ONNXType.float, [1, 2, 3, 3])], outputs: ["y"],
                               initializers: [floatTensor("w", [2, 2, 2, 2], shiftedWeights)])
        let integerOutput = try #require(try run(integerModel, [try Tensor(TensorType([1, 2, 3, 3], .u8), integers: x)]).first)
        let floatOutput = try #require(try run(floatModel, [try Tensor(TensorType([1, 2, 3, 3], .f32), floats: x.map { Float($0 - xZero) })]).first)
        #expect(integerOutput.type == TensorType([1, 2, 4, 2], .i32))
        #expect(integerOutput.integers == floatOutput.floats?.map { Int64($0) })
    }

    @Test func dequantizeLinearOfAnIntegerResultIsElementwise() throws {
        // quantize_dynamic's pattern with the int32 product dequantized by DequantizeLinear instead of Cast and Mul.
        let m = model(nodes: [node("MatMulInteger", ["a", "b"], ["acc"]), node("DequantizeLinear", ["acc", "s"], ["y"])],
                      inputs: [valueInfo("a", ONNXType.uint8, [2, 3])], outputs: ["y"],
                      initializers: [integerTensor("b", ONNXType.uint8, [3, 2], QuantizationImportTests.b.map { Int32($0) }),
                                     floatTensor("s", [], [0.25])])
        let input = try Tensor(TensorType([2, 3], .u8), integers: QuantizationImportTests.a)
        let output = try #require(try run(m, [input]).first)
        let product = QuantizationImportTests.shiftedProduct(aZero: [0, 0], bZero: [0, 0])
        #expect(output.floats == product.map { Float($0) * 0.25 })
    }

    @Test func integerProductsOfWideTypesAreRefusedByName() {
        let m = model(nodes: [node("MatMulInteger", ["a", "b"], ["y"], name: "wide")],
                      inputs: [valueInfo("a", ONNXType.int32, [2, 3]), valueInfo("b", ONNXType.int32, [3, 2])], outputs: ["y"])
        let errors = importErrors(m)
        #expect(errors.count == 1)
        #expect(errors.first?.message.contains("MatMulInteger of A with element type i32 is not supported (only int8 and uint8)") == true)
    }

    @Test func perRowZeroPointMustMatchTheRows() {
        let m = model(nodes: [node("MatMulInteger", ["a", "b", "az"], ["y"], name: "rows")],
                      inputs: [valueInfo("a", ONNXType.uint8, [2, 3]), valueInfo("b", ONNXType.uint8, [3, 2])], outputs: ["y"],
                      initializers: [integerTensor("az", ONNXType.uint8, [3], [1, 2, 3])])
        let errors = importErrors(m)
        #expect(errors.first?.message.contains("a per-row parameter of 3 values does not match the 2 rows") == true)
    }

    // MARK: Narrow types (int4, uint2, …) and blocked parameters

    @Test func packedInt4OfOddLengthUnpacksOnePerByte() throws {
        // int4 [0, 1, 7, -4, -8], two to a byte, low nibble first, in int32_data: 0x10, 0xC7, 0x08.
        let m = model(nodes: [node("DequantizeLinear", ["x", "s", "z"], ["y"])], inputs: [], outputs: ["y"],
                      initializers: [integerTensor("x", 22, [5], [0x10, 0xC7, 0x08]), floatTensor("s", [], [2]),
                                     integerTensor("z", 22, [], [0x01])], opset: 21, irVersion: 10)
        let output = try #require(try run(m, []).first)
        #expect(output.floats == [-2, 0, 12, -10, -18])
    }

    @Test func packedUInt2InRawDataUnpacksOnePerByte() throws {
        // uint2 [0, 1, 2, 3, 1], four to a byte, lowest bits first: 0xE4, 0x01.
        var x = Onnx_TensorProto()
        x.name = "x"
        x.dataType = 25
        x.dims = [5]
        x.rawData = Data([0xE4, 0x01])
        let m = model(nodes: [node("DequantizeLinear", ["x", "s"], ["y"])], inputs: [], outputs: ["y"],
                      initializers: [x, floatTensor("s", [], [1])], opset: 21, irVersion: 10)
        let output = try #require(try run(m, []).first)
        #expect(output.floats == [0, 1, 2, 3, 1])
        x.rawData = Data([0xE4])
        let short = model(nodes: [node("DequantizeLinear", ["x", "s"], ["y"])], inputs: [], outputs: ["y"],
                          initializers: [x, floatTensor("s", [], [1])], opset: 21, irVersion: 10)
        #expect(importErrors(short).first?.message.contains("has 1 bytes of raw_data, but tensor<5xu2> needs 2") == true)
    }

    @Test func narrowTypesAreRefusedOutsideQuantizationCastAndMovement() {
        let m = model(nodes: [node("Add", ["a", "a"], ["y"], name: "sum")],
                      inputs: [valueInfo("a", 22, [4])], outputs: ["y"], opset: 21, irVersion: 10)
        let errors = importErrors(m)
        #expect(errors.count == 1)
        #expect(errors.first?.message.contains("Add of i4 is not supported: ONNX allows int4") == true)
    }

    @Test func blockedConstantScalesRepeatAlongTheAxis() throws {
        // Scales [1, 4] in blocks of 2 along axis 0: x / [1, 1, 4, 4], rounded half to even, as int16.
        let m = model(nodes: [node("QuantizeLinear", ["x", "s", "z"], ["y"], [intAttribute("axis", 0), intAttribute("block_size", 2)])],
                      inputs: [valueInfo("x", ONNXType.float, [3])], outputs: ["y"],
                      initializers: [floatTensor("s", [2], [1, 4]), integerTensor("z", 5, [2], [0, 100])], opset: 21, irVersion: 10)
        let output = try #require(try run(m, [try Tensor(TensorType([3], .f32), floats: [2.5, -3.5, 10])]).first)
        #expect(output.type == TensorType([3], .i16))
        #expect(output.integers == [2, -4, 102])
    }

    @Test func matMulIntegerToFloatsOfOneDynamicQuantizeLinearAreInt8ProductsOfItsInput() throws {
        // One DynamicQuantizeLinear feeding two MatMulIntegerToFloat (as a shared input of two projections): each is the
        // per-tensor int8 product of x with its bias, equal to the integer decomposition that a uint8 weight of the
        // same values (zero point 0) takes.
        let w1: [Int32] = [3, 0, 7, 1, 2, 9, 4, 5, 6, 8, 1, 2], w2: [Int32] = [11, 0, 1, 5, 7, 3]
        func projections(unsigned: Bool) -> Onnx_ModelProto {
            let element = unsigned ? ONNXType.uint8 : ONNXType.int8
            let nodes = [node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"]),
                         node("MatMulIntegerToFloat", ["q", "w1", "s", "w1s", "z", "w1z", "bias"], ["y1"], domain: "com.microsoft"),
                         node("MatMulIntegerToFloat", ["q", "w2", "s", "w2s", "z"], ["y2"], domain: "com.microsoft")]
            return model(nodes: nodes, inputs: [valueInfo("x", ONNXType.float, [2, 3])], outputs: ["y1", "y2"],
                         initializers: [integerTensor("w1", element, [3, 4], w1), floatTensor("w1s", [4], [0.02, 0.5, 0.125, 0.03]),
                                        integerTensor("w1z", element, [4], [0, 0, 0, 0]), floatTensor("bias", [4], [0.25, -1, 0, 3]),
                                        integerTensor("w2", element, [3, 2], w2), floatTensor("w2s", [], [0.07])],
                         extraDomains: ["com.microsoft": 1])
        }
        let fused = try importBytes(projections(unsigned: false)).graph
        let products = fused.operations.filter { $0.kind.traits.contains(.product) }
        #expect(products.map(\.kind) == [.fusedMatmul(transposeB: true, epilogue: [.bias], activations: .perTensor),
                                          .fusedMatmul(transposeB: true, epilogue: [], activations: .perTensor)], "\(products.map(\.kind))")
        #expect(products.allSatisfy { fused.type(of: $0.operands[0])?.elementType == .f32 && fused.type(of: $0.operands[1])?.elementType == .i8 })
        let decomposed = try importBytes(projections(unsigned: true)).graph
        #expect(!decomposed.operations.contains { if case .fusedMatmul = $0.kind { true } else { false } })
        let input = try Tensor(TensorType([2, 3], .f32), floats: [0.3, -1.2, 2.5, 0.0, 0.7, -0.4])
        let actual = try Interpreter(graph: fused).run([input]), expected = try Interpreter(graph: decomposed).run([input])
        #expect(actual.count == 2 && actual.map(\.floats) == expected.map(\.floats), "\(actual.map(\.floats)) against \(expected.map(\.floats))")
    }
}
