// Tests of the importer's cross-cutting reading: If folding and the diagnostics inside subgraphs, Loop
// refusal, -1 dimensions, old-opset attribute forms, recurrent size checks (hostile inputs), and input binding.

import Foundation
import SieveIR
import SieveDriver
import SieveInterpreter
import SieveONNX
import SieveONNXTestSupport
import Testing

func graphAttribute(_ name: String, _ graph: Onnx_GraphProto) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .graph
    attribute.g = graph
    return attribute
}

func subgraph(_ name: String, _ nodes: [Onnx_NodeProto], outputs: [String]) -> Onnx_GraphProto {
    var graph = Onnx_GraphProto()
    graph.name = name
    graph.node = nodes
    graph.output = outputs.map { valueInfo($0, ONNXType.float, nil) }
    return graph
}

/// y = If(cond, then: TopK-free Relu(x) + NonMaxSuppression, else: Neg(x)) with `cond` a graph input.
func ifModel(condition: Onnx_ValueInfoProto? = valueInfo("cond", ONNXType.bool, [])) -> Onnx_ModelProto {
    let thenBranch = subgraph("then", [node("Relu", ["x"], ["t0"], name: "relu"),
                                       node("NonMaxSuppression", ["t0"], ["t1"], name: "nms"),
                                       node("Custom", ["t1"], ["t"], name: "custom", domain: "example.com")], outputs: ["t"])
    let elseBranch = subgraph("else", [node("Neg", ["x"], ["e"], name: "neg")], outputs: ["e"])
    var inputs = [valueInfo("x", ONNXType.float, [2, 3])]
    if let condition { inputs.append(condition) }
    // The output is declared: with a run-time condition the importer cannot infer it for the test.
    return declaredOutput(model(nodes: [node("If", ["cond"], ["y"], name: "branch",
                                             [graphAttribute("then_branch", thenBranch), graphAttribute("else_branch", elseBranch)])],
                                inputs: inputs, outputs: ["y"], opset: 13),
                          valueInfo("y", ONNXType.float, [2, 3]))
}

@Test func ifWithARunTimeConditionIsRefusedNamingEveryUnsupportedNodeInside() {
    let errors = importErrors(ifModel())
    let text = errors.map(\.description).joined(separator: "\n")
    // One diagnostic for the If, one per unsupported node in its branches; supported nodes say nothing.
    #expect(errors.count == 3, "\(text)")
    #expect(text.contains("node #0 'branch': error: the condition of If must be a constant"))
    #expect(text.contains("node #0 'branch' then_branch: node #1 'nms': error: op 'NonMaxSuppression'"))
    #expect(text.contains("then_branch: node #2 'custom': error: op 'Custom' of domain 'example.com'"))
    #expect(!text.contains("'relu'") && !text.contains("'neg'"))
}

@Test func ifWithABoundConditionInlinesTheBranchItTakes() throws {
    let data = try ifModel().serializedData()
    let onnx = try ONNXModel(data: data, modelName: "if.onnx", baseDirectory: nil)
    let falseCondition = Constant(name: "cond", type: TensorType([], .bool), bytes: [0])
    let result = try onnx.importGraph(constantInputs: ["cond": falseCondition])
    // The else branch (Neg) is inlined; the unsupported ops of the then branch are never read.
    #expect(result.inputNames == ["x"])
    #expect(result.graph.operations.map(\.kind.mnemonic) == ["neg"])
    let x = try Tensor(TensorType([2, 3], .f32), floats: [1, -2, 3, -4, 5, -6])
    #expect(try Interpreter(graph: result.graph).run([x])[0].floats == [-1, 2, -3, 4, -5, 6])
    // The then branch's unsupported nodes each get their diagnostic when it is taken.
    let trueCondition = Constant(name: "cond", type: TensorType([], .bool), bytes: [1])
    do {
        _ = try onnx.importGraph(constantInputs: ["cond": trueCondition])
        Issue.record("the then branch holds unsupported ops and must not import")
    } catch {
        let text = error.diagnostics.map(\.description).joined(separator: "\n")
        #expect(error.diagnostics.count == 2, "\(text)")
        #expect(text.contains("if.onnx: node #0 'branch' then_branch: node #1 'nms': error: op 'NonMaxSuppression'"))
    }
}

@Test func loopIsRefusedAndItsBodyIsSearched() {
    let body = subgraph("body", [node("NonZero", ["x"], ["v"], name: "nonzero")], outputs: ["v"])
    let errors = importErrors(model(nodes: [node("Loop", ["", ""], ["y"], name: "loop", [graphAttribute("body", body)])],
                                    inputs: [valueInfo("x", ONNXType.float, [4])], outputs: ["y"], opset: 13))
    let text = errors.map(\.description).joined(separator: "\n")
    #expect(errors.count == 2, "\(text)")
    #expect(text.contains("node #0 'loop': error: op 'Loop' (opset 13) is not supported: Sieve compiles graphs without run-time loops"))
    #expect(text.contains("node #0 'loop' body: node #0 'nonzero': error: op 'NonZero'"))
}

@Test func minusOneDimensionsAreSymbolic() throws {
    let relu = { (dims: [Dim]) in model(nodes: [node("Relu", ["x"], ["y"])], inputs: [valueInfo("x", ONNXType.float, dims)],
                                        outputs: ["y"], opset: 11) }
    // A -1 batch dimension becomes 1 with a note, as a named symbolic one does.
    let batch = try importBytes(relu([.size(-1), 3]))
    #expect(batch.graph.type(of: batch.graph.inputs[0])?.shape == [1, 3])
    #expect(batch.diagnostics.contains { $0.message.contains("symbolic batch dimension '-1'") })
    // Another -1 dimension needs --input-shape, and takes it.
    let inner = importErrors(relu([1, .size(-1)]))
    #expect(inner.count == 1 && inner[0].message.contains("--input-shape x=1x128"))
    let fixed = try importBytes(relu([1, .size(-1)]), inputShapes: ["x": [1, 7]])
    #expect(fixed.graph.type(of: fixed.graph.inputs[0])?.shape == [1, 7])
    // Other negative dimensions stay refused.
    #expect(importErrors(relu([1, .size(-2)])).first?.message.contains("negative or absurd") == true)
}

@Test func softmaxBeforeOpset13NormalizesTheCoercedMatrix() throws {
    let x = (0..<24).map { Float($0 % 7) * 0.3 - 1 }
    for opset: Int64 in [11, 13] {
        let onnx = model(nodes: [node("Softmax", ["x"], ["y"], [intAttribute("axis", 1)])],
                         inputs: [valueInfo("x", ONNXType.float, [2, 3, 4])], outputs: ["y"], opset: opset)
        let graph = try importBytes(onnx).graph
        let y: [Float] = try Interpreter(graph: graph).run([Tensor(TensorType([2, 3, 4], .f32), floats: x)])[0].floats ?? []
        #expect(y.count == 24)
        // Opset 11 sums to 1 over each batch's 12 elements; opset 13 over each column of 3.
        var groupSums: [Float] = []
        if opset == 11 {
            for b in 0..<2 { groupSums.append(y[(b * 12)..<(b * 12 + 12)].reduce(0, +)) }
        } else {
            for g in 0..<8 {
                var sum: Float = 0
                let base: Int = (g / 4) * 12 + g % 4
                for c in 0..<3 { sum += y[base + c * 4] }
                groupSums.append(sum)
            }
        }
        for sum in groupSums { #expect(abs(sum - 1) < 1e-5, "opset \(opset): \(groupSums)") }
    }
}

func lstmModel(hiddenSize: Int64, hidden: Int64 = 2, steps: Int64 = 3) -> Onnx_ModelProto {
    let w = [Float](repeating: 0.1, count: Int(4 * hidden * 2)), r = [Float](repeating: 0.1, count: Int(4 * hidden * hidden))
    return model(nodes: [node("LSTM", ["x", "W", "R"], ["y"], name: "lstm", [intAttribute("hidden_size", hiddenSize)])],
                 inputs: [valueInfo("x", ONNXType.float, [.size(steps), 1, 2])], outputs: ["y"],
                 initializers: [floatTensor("W", [1, 4 * hidden, 2], w), floatTensor("R", [1, 4 * hidden, hidden], r)], opset: 14)
}

@Test func absurdRecurrentSizesAreRefusedBeforeAllocating() {
    // An absurd hidden_size with small weights: one diagnostic, nothing allocated from the attribute.
    let absurd = importErrors(lstmModel(hiddenSize: 1 << 40))
    #expect(absurd.count == 1 && absurd[0].message.contains("hidden_size 1099511627776 is absurd"), "\(absurd)")
    let mismatched = importErrors(lstmModel(hiddenSize: 3))
    #expect(mismatched.count == 1 && mismatched[0].message.contains("does not match R"), "\(mismatched)")
    // A sequence too long to unroll is refused by its length, before any op is made.
    let long = importErrors(lstmModel(hiddenSize: 2, steps: 1 << 20))
    #expect(long.count == 1 && long[0].message.contains("more than the limit"), "\(long)")
}

/// A GRU's `activations` list names ONNX activation ops (case aside): each reads as the op, with the op's defaults
/// where activation_alpha and activation_beta run out (the values are consumed in the order of the activations).
@Test func recurrentActivationsReadAsTheOps() throws {
    func gru(_ activations: [String], alphas: [Float] = [], betas: [Float] = []) -> Onnx_ModelProto {
        var attributes = [intAttribute("hidden_size", 2), stringsAttribute("activations", activations)]
        if !alphas.isEmpty { attributes.append(floatsAttribute("activation_alpha", alphas)) }
        if !betas.isEmpty { attributes.append(floatsAttribute("activation_beta", betas)) }
        return model(nodes: [node("GRU", ["x", "W", "R"], ["y"], name: "gru", attributes)],
                     inputs: [valueInfo("x", ONNXType.float, [2, 1, 2])], outputs: ["y"],
                     initializers: [floatTensor("W", [1, 6, 2], [Float](repeating: 0.1, count: 12)),
                                    floatTensor("R", [1, 6, 2], [Float](repeating: 0.1, count: 12))], opset: 14)
    }
    func functions(_ activations: [String], alphas: [Float] = [], betas: [Float] = []) throws -> Set<UnaryFunction> {
        Set(try importBytes(gru(activations, alphas: alphas, betas: betas)).graph.operations.compactMap { operation -> UnaryFunction? in
            if case let .unary(function) = operation.kind { return function }
            return nil
        })
    }
    #expect(try functions(["HardSigmoid", "LeakyRelu"]) == [.hardSigmoid(alpha: 0.2, beta: 0.5), .leakyRelu(alpha: 0.01)])
    #expect(try functions(["hardsigmoid", "leakyrelu"], alphas: [0.3]) == [.hardSigmoid(alpha: 0.3, beta: 0.5), .leakyRelu(alpha: 0.01)])
    #expect(try functions(["HardSigmoid", "LeakyRelu"], alphas: [0.3, 0.1], betas: [0.6])
            == [.hardSigmoid(alpha: 0.3, beta: 0.6), .leakyRelu(alpha: 0.1)])
    #expect(try functions(["Elu", "ThresholdedRelu"]) == [.elu(alpha: 1), .thresholdedRelu(alpha: 1)])
    #expect(try functions(["Softsign", "Softplus"]) == [.softsign, .softplus])
    // Selu is an ONNX op but not one of the recurrent activations.
    let selu = importErrors(gru(["Selu", "Tanh"]))
    #expect(selu.count == 1 && selu.first?.message.contains("'Selu' is not one of ONNX's recurrent activations") == true, "\(selu)")
}

@Test func recurrentWeightsStayProductsWithConstantWeights() throws {
    let graph = try importBytes(lstmModel(hiddenSize: 2, steps: 3)).graph
    let products = graph.operations.filter { $0.kind.traits.contains(.product) }
    // One product of the whole sequence with W, then one per step with R, each reading a constant weight
    // (the first step's product with the zero initial state folds away at import).
    #expect(products.count == 3)
    let definingOps = graph.definingOps()
    for product in products {
        guard let producer = definingOps[product.operands[1].index] else {
            Issue.record("a recurrent product's weight is a graph input")
            continue
        }
        #expect(graph.operations[producer].kind.mnemonic == "const")
    }
}

@Test func recurrentWeightsArePrunedOnceThoughEveryStepReadsThem() throws {
    // Hidden size 8, input size 8: W and R are [32, 8] (a reduction of at least 2·M for 2:4).
    let hidden: Int64 = 8, steps: Int64 = 5
    let w = (0..<256).map { Float(($0 * 7) % 11) * 0.05 - 0.25 }, r = (0..<256).map { Float(($0 * 5) % 13) * 0.04 - 0.24 }
    let onnx = model(nodes: [node("LSTM", ["x", "W", "R"], ["y"], name: "lstm", [intAttribute("hidden_size", hidden)])],
                     inputs: [valueInfo("x", ONNXType.float, [.size(steps), 2, 8])], outputs: ["y"],
                     initializers: [floatTensor("W", [1, 32, 8], w), floatTensor("R", [1, 32, 8], r)], opset: 14)
    let imported = try importBytes(onnx).graph
    let folder = try temporaryFolder("lstm-sparsity")
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("lstm.onnx").path
    try onnx.serializedData().write(to: URL(fileURLWithPath: path))
    var request = ModelCompileRequest(modelPath: path)
    request.sparsity = SparsifyOptions(minWeights: 0)
    request.reportOnly = true
    let graph = try compileModel(request).graph
    // Both weights end 2:4; R stays one constant read by every step's product.
    let nm = graph.constants.entries.filter { NMPattern($0.type.layout) != nil }
    #expect(nm.count == 2, "\(graph.constants.entries.map { "\($0.name): \($0.type)" })")
    let products = graph.operations.filter { $0.kind.traits.contains(.product) }
    let weights = Set(products.map { $0.operands[1] })
    #expect(products.count == Int(steps) && weights.count == 2)
    // The sparse graph still computes an LSTM: its output stays close to the dense one on a sample.
    let x = try Tensor(TensorType([Int(steps), 2, 8], .f32), floats: (0..<80).map { Float($0 % 9) * 0.1 - 0.4 })
    let dense = try Interpreter(graph: imported).run([x])[0], sparse = try Interpreter(graph: graph).run([x])[0]
    #expect(dense.shape == sparse.shape)
    #expect(try #require(dense.maxAbsDifference(sparse)) < 0.5)
}
