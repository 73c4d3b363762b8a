// The ONNX converters of the elementwise group (#12): unary math and activations, the variadic Max/Min/Sum/Mean,
// PRelu, comparisons and logic. Every op here reads the same from opset 7 on (older forms are noted where they differ).

import SieveIR

extension GraphBuilder {
    /// The unary ONNX ops of the group that have no attributes, by op type.
    static let plainUnaryFunctions: [String: UnaryFunction] = [
        "Abs": .absolute, "Reciprocal": .reciprocal, "Log": .logarithm, "Floor": .floor, "Ceil": .ceiling,
        "Round": .roundEven, "Sign": .sign, "Sin": .sin, "Cos": .cos, "IsNaN": .isNan, "HardSwish": .hardSwish,
        "Softplus": .softplus, "Softsign": .softsign, "Mish": .mish, "Not": .logicalNot,
    ]

    /// ONNX's activations with float attributes, by op type: each attribute with ONNX's default, and the function
    /// their values (in that order) make. The recurrent cells read the same defaults for their activation list.
    static let parameterizedActivations: [String: (attributes: [(name: String, value: Float)], make: @Sendable ([Float]) -> UnaryFunction)] = [
        "LeakyRelu": ([("alpha", 0.01)], { .leakyRelu(alpha: $0[0]) }),
        "HardSigmoid": ([("alpha", 0.2), ("beta", 0.5)], { .hardSigmoid(alpha: $0[0], beta: $0[1]) }),
        "Elu": ([("alpha", 1)], { .elu(alpha: $0[0]) }),
        "Selu": ([("alpha", 1.67326319217681884765625), ("gamma", 1.05070102214813232421875)], { .selu(alpha: $0[0], gamma: $0[1]) }),
        "Celu": ([("alpha", 1)], { .celu(alpha: $0[0]) }),
        "ThresholdedRelu": ([("alpha", 1)], { .thresholdedRelu(alpha: $0[0]) }),
    ]

    /// The ONNX ops that LSTM, GRU and RNN accept by name in their `activations` list (besides Affine and ScaledTanh,
    /// which are no ops): each reads as the op, with the op's defaults (Recurrent.swift).
    static let recurrentActivationOps = ["Relu", "Tanh", "Sigmoid", "LeakyRelu", "ThresholdedRelu", "HardSigmoid", "Elu", "Softsign", "Softplus"]

    /// ONNX Abs, Reciprocal, Log, Floor, Ceil, Round, Sign, Sin, Cos, IsNaN, HardSwish, Softplus, Softsign, Mish, Not.
    mutating func convertPlainUnary(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        guard let function = GraphBuilder.plainUnaryFunctions[n.node.opType] else {
            throw NodeError("internal: no mapping for \(n.node.opType)")
        }
        return [try emit(.unary(function), [n.input(0)], name: n.outputName(0), n)]
    }

    /// ONNX LeakyRelu, HardSigmoid, Elu, Selu, Celu and ThresholdedRelu: activations with float attributes (the
    /// ONNX defaults).
    mutating func convertParameterizedActivation(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        guard let activation = GraphBuilder.parameterizedActivations[n.node.opType] else {
            throw NodeError("internal: no mapping for \(n.node.opType)")
        }
        var values: [Float] = []
        for attribute in activation.attributes {
            values.append(try n.attributes.float(attribute.name, default: attribute.value))
        }
        return [try emit(.unary(activation.make(values)), [n.input(0)], name: n.outputName(0), n)]
    }

    /// ONNX IsInf, decomposed: `x == inf`, `x == -inf`, `|x| == inf`, or (neither detected) `x == NaN`, which is
    /// false everywhere.
    mutating func convertIsInf(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let positive = try n.attributes.int("detect_positive", default: 1) != 0
        let negative = try n.attributes.int("detect_negative", default: 1) != 0
        let elementType = type(of: x).elementType
        guard elementType.isFloat else { throw NodeError("IsInf needs a float input, found \(elementType)") }
        var tested = x
        let target: Double
        switch (positive, negative) {
        case (true, true):
            tested = try emit(.unary(.absolute), [x], name: nil, n)
            target = .infinity
        case (true, false): target = .infinity
        case (false, true): target = -.infinity
        case (false, false): target = .nan
        }
        let bound = elementwiseScalarConstant(target, elementType, "\(n.outputName(0) ?? "is_inf").bound")
        return [try emit(.binary(.equal), [tested, bound], name: n.outputName(0), n)]
    }

    /// ONNX Max, Min, Sum and Mean: one or more inputs with multidirectional broadcasting (opset 8 on; Max-6 to
    /// Sum-6 need equal shapes, a special case), folded left to right into binary ops as ONNX's reference
    /// does. Mean divides the sum by the input count.
    mutating func convertVariadic(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let operands = n.inputs.compactMap { $0 }
        guard let first = operands.first else { throw NodeError("\(n.node.opType) needs at least one input") }
        let function: BinaryFunction
        switch n.node.opType {
        case "Max": function = .max
        case "Min": function = .min
        case "Sum", "Mean": function = .add
        default: throw NodeError("internal: no mapping for \(n.node.opType)")
        }
        let isMean = n.node.opType == "Mean"
        if isMean, !type(of: first).elementType.isFloat {
            throw NodeError("Mean needs float inputs, found \(type(of: first).elementType)")
        }
        var result = first
        for (index, operand) in operands.enumerated().dropFirst() {
            let last = index == operands.count - 1 && !isMean
            result = try emit(.binary(function), [result, operand], name: last ? n.outputName(0) : nil, n)
        }
        if isMean && operands.count > 1 {
            let count = elementwiseScalarConstant(Double(operands.count), type(of: first).elementType, "\(n.outputName(0) ?? "mean").count")
            result = try emit(.binary(.div), [result, count], name: n.outputName(0), n)
        }
        return [result]
    }

    /// ONNX PRelu: the slope broadcasts to the input's shape (unidirectional, opset 7 on), e.g. `[1, C, 1, 1]`
    /// or `[C, 1, 1]` per channel of an NCHW input, or `[C]` for a `[N, C]` input.
    mutating func convertPRelu(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0), slope = try n.input(1)
        let shape = type(of: x).shape, slopeShape = type(of: slope).shape
        guard broadcastShapes(shape, slopeShape) == shape else {
            throw NodeError("PRelu's slope of shape \(shapeString(slopeShape)) does not broadcast to the input's shape \(shapeString(shape))")
        }
        return [try emit(.binary(.prelu), [x, slope], name: n.outputName(0), n)]
    }

    /// The binary ONNX ops of the group that map to one binary function, by op type.
    static let plainBinaryFunctions: [String: BinaryFunction] = [
        "Greater": .greater, "Less": .less, "GreaterOrEqual": .greaterOrEqual, "LessOrEqual": .lessOrEqual,
        "And": .and, "Or": .or, "Xor": .xor,
    ]

    /// ONNX Greater, Less, GreaterOrEqual, LessOrEqual (numeric operands, bool result) and And, Or, Xor (bool operands),
    /// with multidirectional broadcasting (opset 7 on; before 7 a `broadcast` attribute, which Sieve does not read).
    mutating func convertPlainBinary(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        guard let function = GraphBuilder.plainBinaryFunctions[n.node.opType] else {
            throw NodeError("internal: no mapping for \(n.node.opType)")
        }
        return [try emit(.binary(function), [n.input(0), n.input(1)], name: n.outputName(0), n)]
    }

    /// A scalar constant of an element type, under a name not used by any constant yet.
    mutating func elementwiseScalarConstant(_ value: Double, _ elementType: ElementType, _ prefix: String) -> Slot {
        .constant(Constant.from(name: graph.constants.freshName(prefix), type: TensorType([], elementType), values: [value]))
    }
}
