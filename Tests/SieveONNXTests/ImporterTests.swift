// Tests of the ONNX importer on small in-memory models: op mapping, locations, shapes fixed from the
// command line, folding of shape subgraphs, initializers, and the all-at-once unsupported-op report.

import Foundation
import SieveIR
import SieveInterpreter
import SieveONNX
import SieveONNXTestSupport
import Testing

/// A one-layer model: y = Relu(MatMul(x, W) + b) with x of shape [N, 4].
func denseLayerModel(batch: Dim = "N", rawWeights: Bool = false) -> Onnx_ModelProto {
    let weights = (0..<12).map { Float($0) * 0.25 - 1 }
    return model(
        nodes: [
            node("MatMul", ["x", "W"], ["h"], name: "fc"),
            node("Add", ["h", "b"], ["z"], name: "bias"),
            node("Identity", ["z"], ["z2"], name: "copy"),
            node("Dropout", ["z2"], ["z3"], name: "drop"),
            node("Relu", ["z3"], ["y"], name: "act"),
        ],
        inputs: [valueInfo("x", ONNXType.float, [batch, 4])],
        outputs: ["y"],
        initializers: [floatTensor("W", [4, 3], weights, raw: rawWeights), floatTensor("b", [3], [0.5, -0.5, 0])])
}

@Test func denseLayerImportsWithLocationsAndRuns() throws {
    let result = try importBytes(denseLayerModel(), inputShapes: ["x": [2, 4]])
    let graph = result.graph
    #expect(result.inputNames == ["x"])
    #expect(result.outputNames == ["y"])
    #expect(graph.type(of: graph.inputs[0]) == TensorType([2, 4], .f32))
    // Identity and Dropout vanish; the initializers become constants.
    let kinds = graph.operations.map(\.kind.mnemonic)
    #expect(kinds.filter { $0 != "const" } == ["matmul", "add", "relu"])
    #expect(graph.constants.entries.map(\.name).sorted() == ["W", "b"])
    // Every computing op points at its ONNX node.
    for op in graph.operations where op.kind.mnemonic != "const" {
        guard case let .onnxNode(model, index, name) = op.location else {
            Issue.record("op \(op.kind.mnemonic) has location \(op.location)")
            continue
        }
        #expect(model == "test.onnx")
        #expect(["fc": 0, "bias": 1, "act": 4][name] == index)
    }
    let x = try Tensor(TensorType([2, 4], .f32), floats: [1, 2, 3, 4, -1, -2, -3, -4])
    let y = try Interpreter(graph: graph).run([x])[0]
    // Row 0: x·W + b by hand, W[k][j] = (3k + j) * 0.25 - 1.
    var expected: [Float] = []
    for row in [[Float(1), 2, 3, 4], [-1, -2, -3, -4]] {
        for column in 0..<3 {
            var sum: Float = [0.5, -0.5, 0][column]
            for k in 0..<4 { sum += row[k] * (Float(3 * k + column) * 0.25 - 1) }
            expected.append(max(sum, 0))
        }
    }
    #expect(y.floats == expected)
}

@Test func rawDataAndTypedFieldsDecodeAlike() throws {
    let typed = try importBytes(denseLayerModel(batch: 1))
    let raw = try importBytes(denseLayerModel(batch: 1, rawWeights: true))
    #expect(typed.graph.constants == raw.graph.constants)
}

@Test func symbolicBatchDefaultsToOneWithANote() throws {
    let result = try importBytes(denseLayerModel())
    #expect(result.graph.type(of: result.graph.inputs[0])?.shape == [1, 4])
    let notes = result.diagnostics.filter { $0.severity == .note }
    #expect(notes.count == 1)
    #expect(notes.first?.message.contains("symbolic batch dimension 'N'") == true)
}

@Test func givenShapeContradictingAStaticDimensionIsAnError() {
    let errors = importErrors(denseLayerModel(), inputShapes: ["x": [2, 5]])
    #expect(errors.count == 1)
    #expect(errors.first?.message.contains("dimension 1 of input 'x' is 4") == true)
    let rank = importErrors(denseLayerModel(), inputShapes: ["x": [2, 4, 1]])
    #expect(rank.first?.message.contains("rank 3") == true)
    let unknown = importErrors(denseLayerModel(), inputShapes: ["nope": [1]])
    #expect(unknown.first?.message.contains("'nope', which is not an input") == true)
}

@Test func unknownInnerDimensionNeedsAShape() throws {
    let unknown = model(nodes: [node("Relu", ["x"], ["y"])], inputs: [valueInfo("x", ONNXType.float, ["N", "T"])],
                        outputs: ["y"])
    let errors = importErrors(unknown)
    #expect(errors.count == 1)
    #expect(errors.first?.message.contains("--input-shape x=1x128") == true)
    let fixed = try importBytes(unknown, inputShapes: ["x": [3, 7]])
    #expect(fixed.graph.type(of: fixed.graph.outputs[0])?.shape == [3, 7])
}

@Test func everyUnsupportedOpIsReportedAtOnce() {
    let bad = model(
        nodes: [
            node("Relu", ["x"], ["a"], name: "ok"),
            node("NonMaxSuppression", ["a"], ["b"], name: "nms"),
            node("Relu", ["b"], ["c"], name: "after"),  // depends on a failed node: no second message
            node("NonZero", ["x"], ["d"], name: "nonzero"),
            node("FusedGemm", ["x"], ["e"], name: "custom", domain: "com.microsoft"),
        ],
        inputs: [valueInfo("x", ONNXType.float, [1, 4])], outputs: ["c", "d", "e"], opset: 21,
        extraDomains: ["com.microsoft": 1])
    let errors = importErrors(bad)
    #expect(errors.count == 3)
    let text = errors.map(\.description).joined(separator: "\n")
    #expect(text.contains("test.onnx: node #1 'nms': error: op 'NonMaxSuppression' (domain 'ai.onnx', opset 21) is not supported"))
    #expect(text.contains("node #3 'nonzero': error: op 'NonZero' (domain 'ai.onnx', opset 21) is not supported"))
    #expect(text.contains("node #4 'custom': error: op 'FusedGemm' of domain 'com.microsoft' (opset 1) is not supported"))
}

@Test func opsetAndIRVersionPolicy() throws {
    // Every opset from 7 up is read; a newer opset number alone is no reason to refuse.
    for opset in [7, 8, 11, 12, 13, 17, 21, 25, 26] as [Int64] {
        _ = try importBytes(model(nodes: [node("Relu", ["x"], ["y"])], inputs: [valueInfo("x", ONNXType.float, [2])],
                                  outputs: ["y"], opset: opset))
    }
    let old = importErrors(model(nodes: [node("Relu", ["x"], ["y"])], inputs: [valueInfo("x", ONNXType.float, [2])],
                                 outputs: ["y"], opset: 6))
    #expect(old.first?.message.contains("opset 6") == true)
    for ir in [3, 8, 13] as [Int64] {
        _ = try importBytes(model(nodes: [node("Relu", ["x"], ["y"])], inputs: [valueInfo("x", ONNXType.float, [2])],
                                  outputs: ["y"], irVersion: ir))
    }
    let newer = importErrors(model(nodes: [node("Relu", ["x"], ["y"])], inputs: [valueInfo("x", ONNXType.float, [2])],
                                   outputs: ["y"], irVersion: 14))
    #expect(newer.first?.message.contains("IR version 14") == true)
}

/// The shape computation PyTorch exports for `x.view(x.size(0), -1)`.
func flattenByShapeModel() -> Onnx_ModelProto {
    model(
        nodes: [
            node("Shape", ["x"], ["s"], name: "shape"),
            node("Constant", [], ["zero"], name: "c0", [tensorAttribute("value", int64Tensor("", [], [0]))]),
            node("Gather", ["s", "zero"], ["n"], name: "gather", [intAttribute("axis", 0)]),
            node("Unsqueeze", ["n", "axes"], ["n1"], name: "unsqueeze"),
            node("Constant", [], ["minus1"], name: "c1", [tensorAttribute("value", int64Tensor("", [1], [-1]))]),
            node("Concat", ["n1", "minus1"], ["target"], name: "concat", [intAttribute("axis", 0)]),
            node("Reshape", ["x", "target"], ["y"], name: "reshape"),
        ],
        inputs: [valueInfo("x", ONNXType.float, ["batch", 3, 4])],
        outputs: ["y"],
        initializers: [int64Tensor("axes", [1], [0])])
}

@Test func shapeSubgraphFoldsToAConstantShape() throws {
    let result = try importBytes(flattenByShapeModel(), inputShapes: ["x": [5, 3, 4]])
    let graph = result.graph
    #expect(graph.operations.map(\.kind.mnemonic) == ["reshape"])
    #expect(graph.type(of: graph.outputs[0])?.shape == [5, 12])
    if case let .onnxNode(_, index, name) = graph.operations[0].location {
        #expect(index == 6 && name == "reshape")
    } else {
        Issue.record("reshape lost its location")
    }
}

@Test func computedShapeThatCannotFoldIsNamed() {
    // The shape comes from a graph input, so it is not a constant.
    let dynamic = model(nodes: [node("Reshape", ["x", "shape"], ["y"], name: "r")],
                        inputs: [valueInfo("x", ONNXType.float, [2, 6]), valueInfo("shape", ONNXType.int64, [2])],
                        outputs: ["y"])
    let errors = importErrors(dynamic)
    #expect(errors.count == 1)
    #expect(errors.first?.message.contains("must be a constant") == true)
    #expect(errors.first?.location == .onnxNode(model: "test.onnx", index: 0, name: "r"))
}

@Test func gemmConvAndConstantsMapOntoGraphOps() throws {
    let convModel = model(
        nodes: [
            node("Conv", ["x", "w"], ["c"], name: "conv", [intsAttribute("pads", [1, 1, 1, 1]), intAttribute("group", 1)]),
            node("GlobalAveragePool", ["c"], ["p"]),
            node("Flatten", ["p"], ["f"]),
            node("Gemm", ["f", "g"], ["y"], [intAttribute("transB", 1)]),
            node("ConstantOfShape", ["shape"], ["zeros"]),
            node("Add", ["y", "zeros"], ["out"]),
        ],
        inputs: [valueInfo("x", ONNXType.float, [1, 2, 5, 5])],
        outputs: ["out"],
        initializers: [floatTensor("w", [3, 2, 3, 3], [Float](repeating: 0.1, count: 54)),
                       floatTensor("g", [4, 3], [Float](repeating: 1, count: 12)),
                       int64Tensor("shape", [2], [1, 4])])
    let graph = try importBytes(convModel).graph
    let kinds = graph.operations.map(\.kind.mnemonic).filter { $0 != "const" }
    #expect(kinds == ["conv2d", "global_average_pool", "flatten", "gemm", "add"])
    #expect(graph.operations.contains { if case .conv2d(let a) = $0.kind { a.pads == [1, 1, 1, 1] } else { false } })
    #expect(graph.operations.contains { if case .gemm(_, _, false, true) = $0.kind { true } else { false } })
    let zeros = graph.constants.entries.first { $0.type == TensorType([1, 4], .f32) }
    #expect(zeros?.doubles() == [0, 0, 0, 0])
}

@Test func unknownAttributeIsNotIgnored() {
    let odd = model(nodes: [node("Relu", ["x"], ["y"], name: "r", [intAttribute("mystery", 1)])],
                    inputs: [valueInfo("x", ONNXType.float, [2])], outputs: ["y"])
    let errors = importErrors(odd)
    #expect(errors.first?.message.contains("attribute 'mystery' of Relu is not supported") == true)
}

@Test func tensorProtoFilesReadAsTensors() throws {
    let folder = try temporaryFolder("pb")
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("input_0.pb").path
    try floatTensor("x", [2, 2], [1, -2, 3.5, 0]).serializedData().write(to: URL(fileURLWithPath: path))
    let (name, tensor) = try ONNXTensorFile.read(path: path)
    #expect(name == "x")
    #expect(tensor.type == TensorType([2, 2], .f32))
    #expect(tensor.floats == [1, -2, 3.5, 0])
    let intPath = folder.appendingPathComponent("i.pb").path
    try int64Tensor("i", [3], [7, -8, 1 << 40]).serializedData().write(to: URL(fileURLWithPath: intPath))
    #expect(try ONNXTensorFile.read(path: intPath).tensor.integers == [7, -8, 1 << 40])
    var doubles = Onnx_TensorProto()
    doubles.dataType = ONNXType.double
    doubles.dims = [1]
    doubles.doubleData = [1]
    let doublePath = folder.appendingPathComponent("d.pb").path
    try doubles.serializedData().write(to: URL(fileURLWithPath: doublePath))
    #expect(throws: DiagnosticError.self) { try ONNXTensorFile.read(path: doublePath) }
}

@Test func foldedGraphOutputKeepsItsNodeLocation() throws {
    // The output is computed from constants only, so it folds to a constant placed for the output.
    let folded = model(nodes: [node("Shape", ["x"], ["s"], name: "shape_of_x"), node("Relu", ["x"], ["y"], name: "r")],
                       inputs: [valueInfo("x", ONNXType.float, [2, 3])], outputs: ["s", "y"])
    let graph = try importBytes(folded).graph
    let constant = try #require(graph.operations.first { $0.kind.mnemonic == "const" })
    #expect(constant.location == .onnxNode(model: "test.onnx", index: 0, name: "shape_of_x"))
    let shape = try Interpreter(graph: graph).run([try Tensor(TensorType([2, 3], .f32), floats: [Float](repeating: 1, count: 6))])[0]
    #expect(shape.integers == [2, 3])
}
