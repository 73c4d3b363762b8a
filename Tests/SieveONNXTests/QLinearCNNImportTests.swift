// Importer tests of what quantize_static's QOperator CNNs need beyond the QLinear products (#14): MaxPool on 8-bit
// values, shape ops that keep a value's quantization, and the com.microsoft QLinear activations, concat and pools.

import Foundation
import SieveDriver
import SieveIR
import SieveInterpreter
import SieveKernel
@testable import SieveONNX
import SieveONNXTestSupport
import SieveTarget
import Testing

/// A com.microsoft node.
private func microsoft(_ opType: String, _ inputs: [String], _ outputs: [String] = ["y"],
                       _ attributes: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
    var made = node(opType, inputs, outputs, name: opType.lowercased(), domain: "com.microsoft")
    made.attribute = attributes
    return made
}

/// A model of `nodes` over the input `x` (of `element`, `shape`) with com.microsoft imported.
private func qlinearModel(_ nodes: [Onnx_NodeProto], x element: Int32, _ shape: [Int64], outputs: [String] = ["y"],
                          initializers: [Onnx_TensorProto]) -> Onnx_ModelProto {
    model(nodes: nodes, inputs: [valueInfo("x", element, shape.map { .size($0) })], outputs: outputs, initializers: initializers,
          extraDomains: ["com.microsoft": 1])
}

/// Imports a model and runs it in the interpreter on one input.
private func runOne(_ model: Onnx_ModelProto, _ input: Tensor) throws -> Tensor {
    try #require(try Interpreter(graph: importBytes(model).graph).run([input]).first)
}

@Suite struct QLinearCNNImportTests {
    @Test(arguments: [(ONNXType.uint8, ElementType.u8), (ONNXType.int8, ElementType.i8)])
    func maxPoolOfEightBitValuesIsTheLargestInteger(onnx: Int32, element: ElementType) throws {
        // 4x4 values, 2x2 windows of stride 1; one window of all-low values (the int8 low end for i8).
        var pool = node("MaxPool", ["x"], ["y"])
        pool.attribute = [intsAttribute("kernel_shape", [2, 2])]
        let b: Int64 = element == .i8 ? -128 : 0
        let values: [Int64] = [b, b, 9, 200 + b, b, b, 3, 7, 40, 41, b + 1, b, 42, 43, b, b + 2]
        let m = model(nodes: [pool], inputs: [valueInfo("x", onnx, [1, 1, 4, 4])], outputs: ["y"])
        let output = try runOne(m, try Tensor(TensorType([1, 1, 4, 4], element), integers: values))
        #expect(output.type == TensorType([1, 1, 3, 3], element))
        #expect(output.integers == [b, 9, 200 + b, 41, 41, 7, 43, 43, b + 2], "\(output.integers ?? [])")
    }

    @Test(arguments: [false, true])
    func eightBitMaxPoolsCompileToIntegerComparisons(jit: Bool) throws {
        // MaxPool (2x2, stride 1) and GlobalMaxPool of i8 and of u8, compiled (C for the host, or the LLVM JIT): the
        // integers the interpreter gives, the windows of the type's low end included.
        var pool = node("MaxPool", ["x"], ["pooled"])
        pool.attribute = [intsAttribute("kernel_shape", [2, 2])]
        var unsignedPool = node("MaxPool", ["u"], ["unsigned_pooled"])
        unsignedPool.attribute = [intsAttribute("kernel_shape", [2, 2])]
        let m = model(nodes: [pool, node("GlobalMaxPool", ["x"], ["largest"]), unsignedPool, node("GlobalMaxPool", ["u"], ["unsigned_largest"])],
                      inputs: [valueInfo("x", ONNXType.int8, [1, 2, 4, 4]), valueInfo("u", ONNXType.uint8, [1, 2, 4, 4])],
                      outputs: ["pooled", "largest", "unsigned_pooled", "unsigned_largest"])
        let graph = try importBytes(m).graph
        let low: [Int64] = [-128, -128, 9, 72, -128, -128, 3, 7, 40, 41, -127, -128, 42, 43, -128, -126]
        let signed = low + low.map { $0 == -128 ? -128 : -$0 }
        let x = try Tensor(TensorType([1, 2, 4, 4], .i8), integers: signed)
        let u = try Tensor(TensorType([1, 2, 4, 4], .u8), integers: signed.map { $0 + 128 })
        let expected = try Interpreter(graph: graph).run([x, u])
        #expect(expected[0].integers == [-128, 9, 72, 41, 41, 7, 43, 43, -126, -128, -3, -3, -40, 127, 127, -40, 127, 127],
                "\(expected[0].integers ?? [])")
        #expect(expected[1].integers == [72, 127] && expected[3].integers == [200, 255], "\(expected.map { $0.integers ?? [] })")
        let program = try lowerToKernels(graph, options: LoweringOptions(name: "pools", vectorWidth: TargetDescription.native.f32Lanes))
        let artifact: NativeArtifact
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-pools-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        if jit {
            artifact = try NativeArtifact(jit: program, target: .native)
        } else {
            _ = try ArtifactWriter.write(ArtifactRequest(graph: graph, name: "pools", outputDirectory: folder.path, target: .native,
                                                         sourceDescription: "8-bit max pools", compiler: "cc", extraFlags: ["-Werror"]))
            artifact = try NativeArtifact(library: folder.appendingPathComponent("libpools.so").path, name: "pools")
        }
        let actual = try artifact.run([x, u], threads: 2)
        #expect(actual.map(\.integers) == expected.map(\.integers), "\(actual.map { $0.integers ?? [] })")
    }

    @Test func maxPoolOfInt32IsRefusedWithOneDiagnostic() throws {
        var pool = node("MaxPool", ["x"], ["y"], name: "pool")
        pool.attribute = [intsAttribute("kernel_shape", [2, 2])]
        let errors = importErrors(model(nodes: [pool], inputs: [valueInfo("x", ONNXType.int32, [1, 1, 4, 4])], outputs: ["y"]))
        #expect(errors.count == 1 && errors.first?.message.contains("MaxPool on i32 tensors is not supported (only float types, int8 and uint8)") == true,
                "\(errors.map(\.message))")
    }

    @Test func shapeOpsAndMaxPoolKeepPerTensorQuantizationSoTheNextQLinearProductIsAnInt8Kernel() throws {
        // QuantizeLinear → MaxPool → Flatten → Reshape → Transpose → QLinearMatMul reading the same parameters: the
        // product runs as the requantizing int8 kernel (a type without the parameters would take the decomposition).
        var pool = node("MaxPool", ["q"], ["p"])
        pool.attribute = [intsAttribute("kernel_shape", [2, 2]), intsAttribute("strides", [2, 2])]
        var flatten = node("Flatten", ["p"], ["f"])
        flatten.attribute = [intAttribute("axis", 1)]
        var transpose = node("Transpose", ["r"], ["t"])
        transpose.attribute = [intsAttribute("perm", [1, 0])]
        let nodes = [node("QuantizeLinear", ["x", "s", "z"], ["q"]), pool, flatten, node("Reshape", ["f", "shape"], ["r"]), transpose,
                     node("QLinearMatMul", ["t", "s", "z", "w", "ws", "wz", "ys", "yz"], ["y"])]
        let m = model(nodes: nodes, inputs: [valueInfo("x", ONNXType.float, [2, 2, 2, 2])], outputs: ["y"],
                      initializers: [floatTensor("s", [], [0.05]), integerTensor("z", ONNXType.uint8, [], [10]),
                                     int64Tensor("shape", [2], [2, 2]),
                                     integerTensor("w", ONNXType.int8, [2, 3], [1, -2, 3, 4, 5, -6]), floatTensor("ws", [], [0.1]),
                                     integerTensor("wz", ONNXType.int8, [], [0]), floatTensor("ys", [], [0.02]),
                                     integerTensor("yz", ONNXType.uint8, [], [128])])
        let graph = try importBytes(m).graph
        let quant = QuantParams(scales: [0.05], zeroPoints: [10])
        for op in graph.operations {
            switch op.kind {
            case .maxPool, .flatten, .reshape, .transpose:
                #expect(graph.type(of: op.results[0])?.quant == quant, "\(op.kind.mnemonic) gives \(graph.type(of: op.results[0]).map { "\($0)" } ?? "nothing")")
            default: break
            }
        }
        let products = graph.operations.filter { $0.kind.traits.contains(.product) }
        #expect(products.map(\.kind) == [.fusedMatmul(transposeB: true, epilogue: [.requantize])], "\(products.map(\.kind))")
        // The int8 kernel's result against the integers computed here: max of each 2x2 plane, then the product.
        let floats: [Float] = (0..<16).map { Float(($0 * 7) % 16) * 0.1 - 0.3 }
        let output = try runOne(m, try Tensor(TensorType([2, 2, 2, 2], .f32), floats: floats))
        let quantized: [Int64] = floats.map { min(max(Int64(($0 / 0.05).rounded(.toNearestOrEven)) + 10, 0), 255) }
        let largest = (0..<4).map { plane in quantized[(plane * 4)..<(plane * 4 + 4)].max() ?? 0 }
        // Reshape [4] → [2, 2], transposed: row i is (largest[i], largest[i + 2]).
        let rows = [[largest[0], largest[2]], [largest[1], largest[3]]]
        let weight: [[Int64]] = [[1, -2, 3], [4, 5, -6]]
        let expected: [Int64] = rows.flatMap { row in
            (0..<3).map { column in
                let sum = (0..<2).reduce(Int64(0)) { $0 + (row[$1] - 10) * weight[$1][column] }
                let multiplier = Float(0.05) * Float(0.1) / Float(0.02)
                return Int64(min(max((Float(sum) * multiplier).rounded(.toNearestOrEven) + 128, 0), 255))
            }
        }
        #expect(output.integers == expected, "\(output.integers ?? []) against \(expected)")
    }

    @Test func qlinearLeakyReluIsOnnxRuntimesTable() throws {
        // x_scale 0.5, zero point 128; y_scale 0.25, zero point 100; alpha 0.1, values by hand: 130 → 1.0 → 104;
        // 120 → −4 · 0.1 = −0.4 → −1.6 → 98; 0 → −6.4 → −25.6 → 74; 255 → 63.5 → 254 steps, saturating at 255;
        // 127 → −0.05 → −0.2 → 100 (rounds to 0 steps).
        let m = qlinearModel([microsoft("QLinearLeakyRelu", ["x", "xs", "xz", "ys", "yz"], ["y"], [floatAttribute("alpha", 0.1)])],
                             x: ONNXType.uint8, [5],
                             initializers: [floatTensor("xs", [], [0.5]), integerTensor("xz", ONNXType.uint8, [], [128]),
                                            floatTensor("ys", [], [0.25]), integerTensor("yz", ONNXType.uint8, [], [100])])
        let output = try runOne(m, try Tensor(TensorType([5], .u8), integers: [130, 120, 0, 255, 127]))
        #expect(output.type.plain == TensorType([5], .u8) && output.type.quant == QuantParams(scales: [0.25], zeroPoints: [100]))
        #expect(output.integers == [104, 98, 74, 255, 100], "\(output.integers ?? [])")
    }

    @Test func qlinearSigmoidOfInt8ReadsTheTableAtTheSignedValue() throws {
        // x_scale 0.1, zero point −10 (i8); y_scale 1/256, zero point −128: −10 → σ(0) = 0.5 → 128 steps → 0;
        // −128 → σ(−11.8) ≈ 7.5e−6 → 0 steps → −128; 127 → σ(13.7) ≈ 1 → 256 steps, saturating at 127; 0 → σ(1) → 187 − 128.
        let m = qlinearModel([microsoft("QLinearSigmoid", ["x", "xs", "xz", "ys", "yz"])], x: ONNXType.int8, [4],
                             initializers: [floatTensor("xs", [], [0.1]), integerTensor("xz", ONNXType.int8, [], [-10]),
                                            floatTensor("ys", [], [1.0 / 256]), integerTensor("yz", ONNXType.int8, [], [-128])])
        let output = try runOne(m, try Tensor(TensorType([4], .i8), integers: [-10, -128, 127, 0]))
        let sigmoidOfOne = Int64((256 / (1 + exp(-1.0))).rounded()) - 128
        #expect(output.integers == [0, -128, 127, sigmoidOfOne], "\(output.integers ?? [])")
    }

    @Test func mlasLogisticIsTheSigmoidWithinItsApproximation() {
        // Eigen's rational approximation: within a few f32 ulps of 1 / (1 + e^−x) over the range; the clamped ends.
        var worst = 0.0
        for step in -2000...2000 {
            let x = Float(step) / 100
            worst = max(worst, abs(Double(GraphBuilder.mlasLogistic(x)) - 1 / (1 + exp(-Double(x)))))
        }
        #expect(worst < 2e-6, "largest difference \(worst)")
        #expect(GraphBuilder.mlasLogistic(0) == 0.5 && GraphBuilder.mlasLogistic(-100) < 2e-8 && GraphBuilder.mlasLogistic(100) <= 1)
    }

    @Test func qlinearConcatRequantizesOnlyTheInputsOfOtherParameters() throws {
        // Y: scale 0.2, zero point 50. X1 is quantized with Y's parameters already (kept as it is), X2 (a constant) with
        // scale 0.1, zero point 0: 30 → 3.0 → 15 steps → 65; 7 → 0.7 → 3.5 steps → 4 (half to even) → 54.
        let nodes = [node("QuantizeLinear", ["x", "ys", "yz"], ["q"]),
                     microsoft("QLinearConcat", ["ys", "yz", "q", "ys", "yz", "c", "cs", "cz"], ["y"], [intAttribute("axis", 1)])]
        let m = qlinearModel(nodes, x: ONNXType.float, [1, 2],
                             initializers: [floatTensor("ys", [], [0.2]), integerTensor("yz", ONNXType.uint8, [], [50]),
                                            integerTensor("c", ONNXType.uint8, [1, 2], [30, 7]), floatTensor("cs", [], [0.1]),
                                            integerTensor("cz", ONNXType.uint8, [], [0])])
        let graph = try importBytes(m).graph
        #expect(graph.operations.filter { if case .gather = $0.kind { true } else { false } }.count <= 1)
        let output = try runOne(m, try Tensor(TensorType([1, 2], .f32), floats: [1.0, -1.0]))
        #expect(output.type.plain == TensorType([1, 4], .u8) && output.type.quant == QuantParams(scales: [0.2], zeroPoints: [50]))
        #expect(output.integers == [55, 45, 65, 54], "\(output.integers ?? [])")
    }

    @Test func qlinearConcatReadsAnInputWithTheParametersItsNodeGives() throws {
        // q is typed with Y's parameters (0.2, 50), but the node gives it 0.3 and 5, as onnxruntime reads it: 55 → 50 · 0.3
        // = 15 → 75 steps → 125; 45 → 12 → 60 → 110.
        let nodes = [node("QuantizeLinear", ["x", "ys", "yz"], ["q"]),
                     microsoft("QLinearConcat", ["ys", "yz", "q", "cs", "cz"], ["y"], [intAttribute("axis", 0)])]
        let m = qlinearModel(nodes, x: ONNXType.float, [2],
                             initializers: [floatTensor("ys", [], [0.2]), integerTensor("yz", ONNXType.uint8, [], [50]),
                                            floatTensor("cs", [], [0.3]), integerTensor("cz", ONNXType.uint8, [], [5])])
        let output = try runOne(m, try Tensor(TensorType([2], .f32), floats: [1.0, -1.0]))
        #expect(output.integers == [125, 110], "\(output.integers ?? [])")
    }

    @Test func qlinearGlobalAveragePoolIsMLASIntegerSumAndRequantization() throws {
        // Planes of 4 values, x zero point 3, x_scale 0.5, y_scale 0.25, zero point 10: the multiplier
        // 0.5 / (0.25 · 4) = 0.5 applied to sum − 12: [3, 4, 5, 6] → 6 · 0.5 = 3 → 13; [0, 0, 0, 1] → −11 · 0.5 = −5.5
        // → −6 (half to even) → 4; [255, 255, 255, 255] → 1008 · 0.5 = 504 → saturates at 255.
        let m = qlinearModel([microsoft("QLinearGlobalAveragePool", ["x", "xs", "xz", "ys", "yz"])], x: ONNXType.uint8, [1, 3, 2, 2],
                             initializers: [floatTensor("xs", [], [0.5]), integerTensor("xz", ONNXType.uint8, [], [3]),
                                            floatTensor("ys", [], [0.25]), integerTensor("yz", ONNXType.uint8, [], [10])])
        let output = try runOne(m, try Tensor(TensorType([1, 3, 2, 2], .u8), integers: [3, 4, 5, 6, 0, 0, 0, 1, 255, 255, 255, 255]))
        #expect(output.type.plain == TensorType([1, 3, 1, 1], .u8))
        #expect(output.integers == [13, 4, 255], "\(output.integers ?? [])")
    }

    @Test func qlinearGlobalAveragePoolRefusesPlanesWhoseSumsCouldOverflow() throws {
        // 3000 x 3000 values of up to 255 sum past 2^31: refused with one diagnostic instead of a wrapped sum.
        let m = qlinearModel([microsoft("QLinearGlobalAveragePool", ["x", "xs", "xz", "ys", "yz"])], x: ONNXType.uint8, [1, 1, 3000, 3000],
                             initializers: [floatTensor("xs", [], [0.5]), integerTensor("xz", ONNXType.uint8, [], [3]),
                                            floatTensor("ys", [], [0.25]), integerTensor("yz", ONNXType.uint8, [], [10])])
        let errors = importErrors(m)
        #expect(errors.count == 1 && errors.first?.message.contains("int32 sums could overflow") == true, "\(errors.map(\.message))")
    }

    @Test func qlinearAveragePoolAveragesTheDequantizedWindows() throws {
        // x_scale 0.1, zero point 0; y_scale 0.3, zero point 5; 2x2 windows, stride 2: mean(1, 2, 3, 4) · 0.1 = 0.25
        // → 0.833 steps → 1 → 6; mean(10, 20, 30, 40) · 0.1 = 2.5 → 8.33 → 8 → 13.
        let pool = microsoft("QLinearAveragePool", ["x", "xs", "xz", "ys", "yz"], ["y"],
                             [intsAttribute("kernel_shape", [2, 2]), intsAttribute("strides", [2, 2])])
        let m = qlinearModel([pool], x: ONNXType.uint8, [1, 1, 2, 4],
                             initializers: [floatTensor("xs", [], [0.1]), integerTensor("xz", ONNXType.uint8, [], [0]),
                                            floatTensor("ys", [], [0.3]), integerTensor("yz", ONNXType.uint8, [], [5])])
        let output = try runOne(m, try Tensor(TensorType([1, 1, 2, 4], .u8), integers: [1, 2, 10, 20, 3, 4, 30, 40]))
        #expect(output.type.plain == TensorType([1, 1, 1, 2], .u8) && output.type.quant == QuantParams(scales: [0.3], zeroPoints: [5]))
        #expect(output.integers == [6, 13], "\(output.integers ?? [])")
    }

    @Test(arguments: [
        ("QLinearGlobalAveragePool", [intAttribute("channels_last", 1)], "channels_last = 1 is not supported"),
        ("QLinearAveragePool", [intsAttribute("kernel_shape", [2, 2]), intAttribute("channels_last", 1)], "channels_last = 1 is not supported"),
        ("QLinearLeakyRelu", [floatAttribute("alpha", .infinity)], "alpha of QLinearLeakyRelu must be finite"),
    ])
    func badAttributesGiveOneDiagnostic(opType: String, attributes: [Onnx_AttributeProto], message: String) throws {
        let m = qlinearModel([microsoft(opType, ["x", "xs", "xz", "ys", "yz"], ["y"], attributes)], x: ONNXType.uint8, [1, 2, 2, 2],
                             initializers: [floatTensor("xs", [], [0.5]), integerTensor("xz", ONNXType.uint8, [], [3]),
                                            floatTensor("ys", [], [0.25]), integerTensor("yz", ONNXType.uint8, [], [10])])
        let errors = importErrors(m)
        #expect(errors.count == 1 && errors.first?.message.contains(message) == true, "\(errors.map(\.message))")
    }

    @Test func qgemmOutsideQuantizeStaticsFormIsRefusedWithOneDiagnostic() throws {
        // alpha other than 1, and a float result (no y_scale, y_zero_point): each one diagnostic naming what is missing.
        let inputs = ["x", "xs", "xz", "w", "ws", "wz", "c"]
        let initializers = [floatTensor("xs", [], [0.5]), integerTensor("xz", ONNXType.uint8, [], [3]),
                            integerTensor("w", ONNXType.int8, [2, 2], [1, -2, 3, 4]), floatTensor("ws", [], [0.1]),
                            integerTensor("wz", ONNXType.int8, [], [0]), integerTensor("c", ONNXType.int32, [2], [5, -5]),
                            floatTensor("ys", [], [0.25]), integerTensor("yz", ONNXType.uint8, [], [10])]
        let scaled = importErrors(qlinearModel([microsoft("QGemm", inputs + ["ys", "yz"], ["y"], [floatAttribute("alpha", 2)])],
                                               x: ONNXType.uint8, [3, 2], initializers: initializers)).map(\.message)
        #expect(scaled.count == 1 && scaled.first?.contains("QGemm with alpha = 2.0 is not supported") == true, "\(scaled)")
        let floats = importErrors(qlinearModel([microsoft("QGemm", inputs)], x: ONNXType.uint8, [3, 2], initializers: initializers)).map(\.message)
        #expect(floats.count == 1 && floats.first?.contains("QGemm without y_scale and y_zero_point (a float result) is not supported") == true, "\(floats)")
    }

    @Test func badParametersGiveOneDiagnostic() throws {
        func errors(_ nodes: [Onnx_NodeProto], _ initializers: [Onnx_TensorProto]) -> [String] {
            importErrors(qlinearModel(nodes, x: ONNXType.uint8, [1, 2], initializers: initializers)).map(\.message)
        }
        let good = [floatTensor("xs", [], [0.5]), integerTensor("xz", ONNXType.uint8, [], [3]), floatTensor("ys", [], [0.25]),
                    integerTensor("yz", ONNXType.uint8, [], [10])]
        let zeroScale = errors([microsoft("QLinearSigmoid", ["x", "xs", "xz", "ys", "yz"])],
                               [floatTensor("xs", [], [0])] + good.dropFirst())
        #expect(zeroScale.count == 1 && zeroScale.first?.contains("X_scale of QLinearSigmoid must be positive and finite, found 0.0") == true, "\(zeroScale)")
        let signedPoint = errors([microsoft("QLinearSigmoid", ["x", "xs", "xz", "ys", "yz"])],
                                 good.dropLast() + [integerTensor("yz", ONNXType.int8, [], [10])])
        #expect(signedPoint.count == 1 && signedPoint.first?.contains("Y_zero_point of QLinearSigmoid has type i8, but the data has u8") == true, "\(signedPoint)")
        let pairs = errors([microsoft("QLinearConcat", ["ys", "yz", "x", "xs", "xz", "x", "xs"], ["y"], [intAttribute("axis", 1)])], good)
        #expect(pairs.count == 1 && pairs.first?.contains("QLinearConcat takes Y_scale, Y_zero_point and then (X, X_scale, X_zero_point) triples, found 7 inputs") == true, "\(pairs)")
        let floats = importErrors(qlinearModel([microsoft("QLinearLeakyRelu", ["x", "xs", "xz", "ys", "yz"])], x: ONNXType.int32, [2],
                                               initializers: good)).map(\.message)
        #expect(floats.count == 1 && floats.first?.contains("QLinearLeakyRelu of i32 is not supported (only int8 and uint8)") == true, "\(floats)")
    }
}
