// The mapping of each supported ONNX op to graph-IR ops, with each op's semantics at the model's opset (7 and newer).
// Axes are normalized here, shape-like inputs must be constants, and deliberate limitations say "is not supported".

import SieveIR

extension GraphBuilder {
    /// Converts one node with its op's converter; returns one slot per output (nil where Sieve does not
    /// compute that output).
    mutating func convert(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let table = n.node.domain == GraphBuilder.microsoftDomain ? GraphBuilder.microsoftOperators : GraphBuilder.operators
        guard let entry = table[n.node.opType] else {
            throw NodeError("op '\(n.node.opType)' is not supported")
        }
        do {
            return try entry.convert(&self, &n)
        } catch let error as NodeError {
            throw error
        } catch {
            throw NodeError("\(error)")  // converters throw only NodeError; the table's type cannot say so
        }
    }

    /// Converts one node of one ONNX op type.
    typealias Converter = @Sendable (inout GraphBuilder, inout NodeContext) throws -> [Slot?]

    /// Every ONNX op type (default domain) the frontend reads, with its schema's arity and required attributes
    /// by opset and its converter. The importer's supported set is this table's keys; adding an op is one entry
    /// here (its signatures as onnx.defs.get_schema gives them, which OperatorTableTests compares) and its
    /// converter below.
    ///
    /// GroupNormalization at opsets 18 to 20 is read although onnx 1.16 deprecated that schema (its scale and
    /// bias hold one value per group): models exported then are valid for the onnx they were made with, and
    /// ONNX Runtime runs them. Upsample from opset 10 on is refused, as by onnx's checker: Resize replaced it.
    static let operators: [String: ONNXOperator] = [
        "Add": ONNXOperator(since(7, inputs: 2...2)) { try $0.convertArithmetic(&$1) },
        "AveragePool": ONNXOperator(since(7, inputs: 1...1, required: ["kernel_shape"])) { try $0.convertPool(&$1) },
        "BatchNormalization": ONNXOperator(since(7, inputs: 5...5, outputs: 1...5, outputCounts: [1, 5]), since(14, inputs: 5...5, outputs: 1...3, outputCounts: [1, 3])) { try $0.convertBatchNormalization(&$1) },
        "Cast": ONNXOperator(since(7, inputs: 1...1, required: ["to"]), narrowTypes: true) { try $0.convertCast(&$1) },
        "Clip": ONNXOperator(since(7, inputs: 1...1), since(11, inputs: 1...3)) { try $0.convertClip(&$1) },
        "Concat": ONNXOperator(since(7, inputs: 1...variadic, required: ["axis"])) { try $0.convertConcat(&$1) },
        "Constant": ONNXOperator(since(7, inputs: 0...0, required: ["value"]), since(11, inputs: 0...0)) { try $0.convertConstant(&$1) },
        "ConstantOfShape": ONNXOperator(since(9, inputs: 1...1)) { try $0.convertConstantOfShape(&$1) },
        "Conv": ONNXOperator(since(7, inputs: 2...3)) { try $0.convertConv(&$1) },
        "DequantizeLinear": ONNXOperator(since(10, inputs: 2...3), narrowTypes: true) { try $0.convertDequantizeLinear(&$1) },
        "Div": ONNXOperator(since(7, inputs: 2...2)) { try $0.convertArithmetic(&$1) },
        "Dropout": ONNXOperator(since(7, inputs: 1...1, outputs: 1...2), since(12, inputs: 1...3, outputs: 1...2)) { try $0.convertDropout(&$1) },
        "Equal": ONNXOperator(since(7, inputs: 2...2)) { try $0.convertEqual(&$1) },
        "Erf": ONNXOperator(since(9, inputs: 1...1)) { try $0.convertUnary(&$1) },
        "Exp": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertUnary(&$1) },
        "Expand": ONNXOperator(since(8, inputs: 2...2)) { try $0.convertExpand(&$1) },
        "Flatten": ONNXOperator(since(7, inputs: 1...1), narrowTypes: true) { try $0.convertFlatten(&$1) },
        "Gather": ONNXOperator(since(7, inputs: 2...2)) { try $0.convertGather(&$1) },
        "Gelu": ONNXOperator(since(20, inputs: 1...1)) { try $0.convertGelu(&$1) },
        "Gemm": ONNXOperator(since(7, inputs: 3...3), since(11, inputs: 2...3)) { try $0.convertGemm(&$1) },
        "GRU": ONNXOperator(since(7, inputs: 3...6, outputs: 0...2)) { try $0.convertRecurrent(&$1) },
        "GlobalAveragePool": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertGlobalAveragePool(&$1) },
        "GlobalMaxPool": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertGlobalMaxPool(&$1) },
        "HardSigmoid": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertParameterizedActivation(&$1) },
        "Identity": ONNXOperator(since(7, inputs: 1...1), narrowTypes: true) { try $0.convertIdentity(&$1) },
        "If": ONNXOperator(since(7, inputs: 1...1, outputs: 1...variadic, required: ["else_branch", "then_branch"])) { try $0.convertIf(&$1) },
        "LayerNormalization": ONNXOperator(since(17, inputs: 2...3, outputs: 1...3)) { try $0.convertLayerNormalization(&$1) },
        "LeakyRelu": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertParameterizedActivation(&$1) },
        "LSTM": ONNXOperator(since(7, inputs: 3...8, outputs: 0...3)) { try $0.convertRecurrent(&$1) },
        "MatMul": ONNXOperator(since(7, inputs: 2...2)) { try $0.convertMatMul(&$1) },
        "MaxPool": ONNXOperator(since(7, inputs: 1...1, required: ["kernel_shape"]), since(8, inputs: 1...1, outputs: 1...2, required: ["kernel_shape"])) { try $0.convertPool(&$1) },
        "Mul": ONNXOperator(since(7, inputs: 2...2)) { try $0.convertArithmetic(&$1) },
        "Neg": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertUnary(&$1) },
        "Pow": ONNXOperator(since(7, inputs: 2...2)) { try $0.convertPow(&$1) },
        "QuantizeLinear": ONNXOperator(since(10, inputs: 2...3), narrowTypes: true) { try $0.convertQuantizeLinear(&$1) },
        "Relu": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertUnary(&$1) },
        "RNN": ONNXOperator(since(7, inputs: 3...6, outputs: 0...2)) { try $0.convertRecurrent(&$1) },
        "Reshape": ONNXOperator(since(7, inputs: 2...2), narrowTypes: true) { try $0.convertReshape(&$1) },
        "Shape": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertShape(&$1) },
        "Sigmoid": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertUnary(&$1) },
        "Slice": ONNXOperator(since(7, inputs: 1...1, required: ["ends", "starts"]), since(10, inputs: 3...5)) { try $0.convertSlice(&$1) },
        "Softmax": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertSoftmax(&$1) },
        "Sqrt": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertUnary(&$1) },
        "Squeeze": ONNXOperator(since(7, inputs: 1...1), since(13, inputs: 1...2), narrowTypes: true) { try $0.convertSqueeze(&$1) },
        "Sub": ONNXOperator(since(7, inputs: 2...2)) { try $0.convertArithmetic(&$1) },
        "Tanh": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertUnary(&$1) },
        "Transpose": ONNXOperator(since(7, inputs: 1...1), narrowTypes: true) { try $0.convertTranspose(&$1) },
        "Unsqueeze": ONNXOperator(since(7, inputs: 1...1, required: ["axes"]), since(13, inputs: 2...2), narrowTypes: true) { try $0.convertUnsqueeze(&$1) },
        "Where": ONNXOperator(since(9, inputs: 3...3)) { try $0.convertWhere(&$1) },
        // Data movement of #12 (MovementOperators.swift).
        "DepthToSpace": ONNXOperator(since(7, inputs: 1...1, required: ["blocksize"])) { try $0.convertDepthToSpace(&$1) },
        "GatherElements": ONNXOperator(since(11, inputs: 2...2)) { try $0.convertGatherElements(&$1) },
        "GatherND": ONNXOperator(since(11, inputs: 2...2)) { try $0.convertGatherND(&$1) },
        "Pad": ONNXOperator(since(7, inputs: 1...1, required: ["pads"]), since(11, inputs: 2...3), since(18, inputs: 2...4)) { try $0.convertPad(&$1) },
        "Range": ONNXOperator(since(11, inputs: 3...3)) { try $0.convertRange(&$1) },
        "Resize": ONNXOperator(since(10, inputs: 2...2), since(11, inputs: 3...4), since(13, inputs: 1...4)) { try $0.convertResize(&$1) },
        "ScatterElements": ONNXOperator(since(11, inputs: 3...3)) { try $0.convertScatterElements(&$1) },
        "ScatterND": ONNXOperator(since(11, inputs: 3...3)) { try $0.convertScatterND(&$1) },
        "Size": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertSize(&$1) },
        "SpaceToDepth": ONNXOperator(since(7, inputs: 1...1, required: ["blocksize"])) { try $0.convertSpaceToDepth(&$1) },
        "Split": ONNXOperator(since(7, inputs: 1...1, outputs: 1...variadic), since(13, inputs: 1...2, outputs: 1...variadic)) { try $0.convertSplit(&$1) },
        "Tile": ONNXOperator(since(7, inputs: 2...2)) { try $0.convertTile(&$1) },
        "Trilu": ONNXOperator(since(14, inputs: 1...2)) { try $0.convertTrilu(&$1) },
        "OneHot": ONNXOperator(since(9, inputs: 3...3)) { try $0.convertOneHot(&$1) },
        "Upsample": ONNXOperator(since(7, inputs: 1...1, required: ["scales"]), since(9, inputs: 2...2), deprecated(10, use: "Resize")) { try $0.convertUpsample(&$1) },
        // The elementwise group of #12 (ElementwiseOperators.swift).
        "Abs": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertPlainUnary(&$1) },
        "And": ONNXOperator(since(7, inputs: 2...2)) { try $0.convertPlainBinary(&$1) },
        "Ceil": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertPlainUnary(&$1) },
        "Celu": ONNXOperator(since(12, inputs: 1...1)) { try $0.convertParameterizedActivation(&$1) },
        "Cos": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertPlainUnary(&$1) },
        "Elu": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertParameterizedActivation(&$1) },
        "Floor": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertPlainUnary(&$1) },
        "Greater": ONNXOperator(since(7, inputs: 2...2)) { try $0.convertPlainBinary(&$1) },
        "GreaterOrEqual": ONNXOperator(since(12, inputs: 2...2)) { try $0.convertPlainBinary(&$1) },
        "HardSwish": ONNXOperator(since(14, inputs: 1...1)) { try $0.convertPlainUnary(&$1) },
        "IsInf": ONNXOperator(since(10, inputs: 1...1)) { try $0.convertIsInf(&$1) },
        "IsNaN": ONNXOperator(since(9, inputs: 1...1)) { try $0.convertPlainUnary(&$1) },
        "Less": ONNXOperator(since(7, inputs: 2...2)) { try $0.convertPlainBinary(&$1) },
        "LessOrEqual": ONNXOperator(since(12, inputs: 2...2)) { try $0.convertPlainBinary(&$1) },
        "Log": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertPlainUnary(&$1) },
        "Max": ONNXOperator(since(7, inputs: 1...variadic)) { try $0.convertVariadic(&$1) },
        "Mean": ONNXOperator(since(7, inputs: 1...variadic)) { try $0.convertVariadic(&$1) },
        "Min": ONNXOperator(since(7, inputs: 1...variadic)) { try $0.convertVariadic(&$1) },
        "Mish": ONNXOperator(since(18, inputs: 1...1)) { try $0.convertPlainUnary(&$1) },
        "Not": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertPlainUnary(&$1) },
        "Or": ONNXOperator(since(7, inputs: 2...2)) { try $0.convertPlainBinary(&$1) },
        "PRelu": ONNXOperator(since(7, inputs: 2...2)) { try $0.convertPRelu(&$1) },
        "Reciprocal": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertPlainUnary(&$1) },
        "Round": ONNXOperator(since(11, inputs: 1...1)) { try $0.convertPlainUnary(&$1) },
        "Selu": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertParameterizedActivation(&$1) },
        "Sign": ONNXOperator(since(9, inputs: 1...1)) { try $0.convertPlainUnary(&$1) },
        "Sin": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertPlainUnary(&$1) },
        "Softplus": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertPlainUnary(&$1) },
        "Softsign": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertPlainUnary(&$1) },
        "Sum": ONNXOperator(since(7, inputs: 1...variadic)) { try $0.convertVariadic(&$1) },
        "ThresholdedRelu": ONNXOperator(since(10, inputs: 1...1)) { try $0.convertParameterizedActivation(&$1) },
        "Xor": ONNXOperator(since(7, inputs: 2...2)) { try $0.convertPlainBinary(&$1) },
        // Reductions and neural-network ops of #12 (ReductionOperators.swift).
        "ArgMax": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertArgExtreme(&$1) },
        "ArgMin": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertArgExtreme(&$1) },
        "ConvTranspose": ONNXOperator(since(7, inputs: 2...3)) { try $0.convertConvTranspose(&$1) },
        "CumSum": ONNXOperator(since(11, inputs: 2...2)) { try $0.convertCumSum(&$1) },
        "GroupNormalization": ONNXOperator(since(18, inputs: 3...3, required: ["num_groups"])) { try $0.convertGroupNormalization(&$1) },
        "InstanceNormalization": ONNXOperator(since(7, inputs: 3...3)) { try $0.convertInstanceNormalization(&$1) },
        "LogSoftmax": ONNXOperator(since(7, inputs: 1...1)) { try $0.convertLogSoftmax(&$1) },
        "ReduceL1": ONNXOperator(since(7, inputs: 1...1), since(18, inputs: 1...2)) { try $0.convertReduce(&$1) },
        "ReduceL2": ONNXOperator(since(7, inputs: 1...1), since(18, inputs: 1...2)) { try $0.convertReduce(&$1) },
        "ReduceLogSum": ONNXOperator(since(7, inputs: 1...1), since(18, inputs: 1...2)) { try $0.convertReduce(&$1) },
        "ReduceLogSumExp": ONNXOperator(since(7, inputs: 1...1), since(18, inputs: 1...2)) { try $0.convertReduce(&$1) },
        "ReduceMax": ONNXOperator(since(7, inputs: 1...1), since(18, inputs: 1...2)) { try $0.convertReduce(&$1) },
        "ReduceMean": ONNXOperator(since(7, inputs: 1...1), since(18, inputs: 1...2)) { try $0.convertReduce(&$1) },
        "ReduceMin": ONNXOperator(since(7, inputs: 1...1), since(18, inputs: 1...2)) { try $0.convertReduce(&$1) },
        "ReduceProd": ONNXOperator(since(7, inputs: 1...1), since(18, inputs: 1...2)) { try $0.convertReduce(&$1) },
        "ReduceSum": ONNXOperator(since(7, inputs: 1...1), since(13, inputs: 1...2)) { try $0.convertReduce(&$1) },
        "ReduceSumSquare": ONNXOperator(since(7, inputs: 1...1), since(18, inputs: 1...2)) { try $0.convertReduce(&$1) },
        "TopK": ONNXOperator(since(7, inputs: 1...1, outputs: 2...2, required: ["k"]), since(10, inputs: 2...2, outputs: 2...2)) { try $0.convertTopK(&$1) },
        // Integer and quantized ops of #14, decomposed into i32 products and elementwise ops (QuantizationOperators.swift).
        "ConvInteger": ONNXOperator(since(10, inputs: 2...4)) { try $0.convertConvInteger(&$1) },
        "DynamicQuantizeLinear": ONNXOperator(since(11, inputs: 1...1, outputs: 3...3)) { try $0.convertDynamicQuantizeLinear(&$1) },
        "MatMulInteger": ONNXOperator(since(10, inputs: 2...4)) { try $0.convertMatMulInteger(&$1) },
        "QLinearConv": ONNXOperator(since(10, inputs: 8...9)) { try $0.convertQLinearConv(&$1) },
        "QLinearMatMul": ONNXOperator(since(10, inputs: 8...8)) { try $0.convertQLinearMatMul(&$1) },
    ]

    /// ONNX MatMul.
    mutating func convertMatMul(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        return [try emit(.matmul(transposeB: false), [n.input(0), n.input(1)], name: n.outputName(0), n)]
    }

    /// ONNX Gemm.
    mutating func convertGemm(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let alpha = try n.attributes.float("alpha", default: 1)
        let beta = try n.attributes.float("beta", default: 1)
        let transA = try n.attributes.int("transA", default: 0) != 0
        let transB = try n.attributes.int("transB", default: 0) != 0
        var operands = [try n.input(0), try n.input(1)]
        if let c = n.optionalInput(2) { operands.append(c) }
        return [try emit(.gemm(alpha: alpha, beta: beta, transposeA: transA, transposeB: transB), operands,
                         name: n.outputName(0), n)]
    }

    /// ONNX Add, Sub, Mul, Div.
    mutating func convertArithmetic(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let op = n.node.opType
        let kind: OpKind = op == "Add" ? .binary(.add) : op == "Sub" ? .binary(.sub) : op == "Mul" ? .binary(.mul) : .binary(.div)
        return [try emit(kind, [n.input(0), n.input(1)], name: n.outputName(0), n)]
    }

    /// ONNX Pow.
    mutating func convertPow(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let base = try n.input(0)
        var exponent = try n.input(1)
        let baseType = type(of: base).elementType
        // ONNX lets the exponent have its own type; the IR op wants one, and the result has the base's.
        if type(of: exponent).elementType != baseType {
            exponent = try emit(.cast, [exponent], declared: type(of: exponent).with(elementType: baseType), name: nil, n)
        }
        return [try emit(.binary(.pow), [base, exponent], name: n.outputName(0), n)]
    }

    /// ONNX Relu, Sigmoid, Tanh, Erf, Sqrt, Exp and Neg, by op type (the first unary ops; the elementwise group's
    /// are `plainUnaryFunctions`).
    static let unaryFunctions: [String: UnaryFunction] = [
        "Relu": .relu, "Sigmoid": .sigmoid, "Tanh": .tanh, "Erf": .erf, "Sqrt": .sqrt, "Exp": .exp, "Neg": .neg,
    ]

    /// ONNX Relu, Sigmoid, Tanh, Erf, Sqrt, Exp, Neg.
    mutating func convertUnary(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        guard let function = GraphBuilder.unaryFunctions[n.node.opType] else { throw NodeError("internal: no mapping for \(n.node.opType)") }
        return [try emit(.unary(function), [n.input(0)], name: n.outputName(0), n)]
    }

    /// ONNX Gelu.
    mutating func convertGelu(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let approximate = try n.attributes.string("approximate", default: "none")
        guard approximate == "none" || approximate == "tanh" else {
            throw NodeError("Gelu approximate='\(approximate)' is not supported (only 'none' and 'tanh' exist)")
        }
        return [try emit(.unary(.gelu(approximateTanh: approximate == "tanh")), [n.input(0)], name: n.outputName(0), n)]
    }

    /// ONNX Softmax.
    mutating func convertSoftmax(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let (operand, axis, restore) = try softmaxFamilyOperand(n.input(0), &n)
        let y = try emit(.softmax(axis: axis), [operand], name: restore == nil ? n.outputName(0) : nil, n)
        return [try restoreCoercedShape(y, restore, n)]
    }

    /// ONNX LayerNormalization.
    mutating func convertLayerNormalization(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        return try layerNormalization(&n)
    }

    /// ONNX BatchNormalization.
    mutating func convertBatchNormalization(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        if try n.attributes.int("training_mode", default: 0) != 0 {
            throw NodeError("BatchNormalization with training_mode=1 is not supported (Sieve compiles inference graphs)")
        }
        // Before opset 9 `spatial` (default 1) could ask for per-element statistics; before 7, `is_test`
        // chose inference and `consumed_inputs` was bookkeeping for in-place updates.
        if opset < 9, try n.attributes.int("spatial", default: 1) != 1 {
            throw NodeError("BatchNormalization with spatial=0 is not supported (only per-channel statistics)")
        }
        if opset < 7, try n.attributes.int("is_test", default: 0) == 0 {
            throw NodeError("BatchNormalization with is_test=0 is not supported (Sieve compiles inference graphs)")
        }
        if opset < 7 { try n.attributes.ignore("consumed_inputs", .ints) }
        let epsilon = try n.attributes.float("epsilon", default: 1e-5)
        try n.attributes.ignore("momentum", .float)
        let operands = try (0..<5).map { index throws(NodeError) in try n.input(index) }
        return [try emit(.batchNorm(epsilon: epsilon), operands, name: n.outputName(0), n)]
    }

    /// ONNX Reshape.
    mutating func convertReshape(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let shape = try constantIntegers(n.input(1), "shape", n)
        let allowZero = try n.attributes.int("allowzero", default: 0) != 0
        let target = try reshapeTarget(type(of: x), shape, allowZero: allowZero)
        return [try emit(.reshape, [x], declared: TensorType(target, type(of: x).elementType), name: n.outputName(0), n)]
    }

    /// ONNX Transpose.
    mutating func convertTranspose(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let rank = type(of: x).rank
        let permutation: [Int]
        if let perm = try n.attributes.ints("perm") {
            permutation = try perm.map { value throws(NodeError) in try normalizeAxis(value, rank: rank, "perm entry") }
        } else {
            permutation = Array((0..<rank).reversed())
        }
        return [try emit(.transpose(permutation: permutation), [x], name: n.outputName(0), n)]
    }

    /// ONNX Flatten.
    mutating func convertFlatten(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let axis = try normalizeAxis(n.attributes.int("axis", default: 1), rank: type(of: x).rank, "axis", inclusive: true)
        return [try emit(.flatten(axis: axis), [x], name: n.outputName(0), n)]
    }

    /// ONNX Concat.
    mutating func convertConcat(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        guard let rawAxis = try n.attributes.int("axis") else { throw NodeError("Concat needs the attribute 'axis'") }
        let operands = n.inputs.compactMap { $0 }
        guard let first = operands.first else { throw NodeError("Concat needs at least one input") }
        let axis = try normalizeAxis(rawAxis, rank: type(of: first).rank, "axis")
        return [try emit(.concat(axis: axis), operands, name: n.outputName(0), n)]
    }

    /// ONNX Gather.
    mutating func convertGather(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        return [try gather(&n)]
    }

    /// ONNX Slice.
    mutating func convertSlice(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        return [try slice(&n)]
    }

    /// ONNX Squeeze.
    mutating func convertSqueeze(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let shape = type(of: x).shape
        var axes: [Int]
        if let given = try axesOperand(&n, inputSince: 13) {
            axes = try given.map { value throws(NodeError) in try normalizeAxis(value, rank: shape.count, "axis") }
        } else {
            axes = shape.indices.filter { shape[$0] == 1 }
        }
        axes = try sortedUnique(axes)
        if axes.isEmpty { return [x] }
        return [try emit(.squeeze(axes: axes), [x], name: n.outputName(0), n)]
    }

    /// ONNX Unsqueeze.
    mutating func convertUnsqueeze(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        guard let values = try axesOperand(&n, inputSince: 13) else {
            throw NodeError(opset < 13 ? "Unsqueeze needs the attribute 'axes' (before opset 13)" : "Unsqueeze needs input 1, axes")
        }
        let rank = type(of: x).rank + values.count
        let axes = try sortedUnique(values.map { value throws(NodeError) in try normalizeAxis(value, rank: rank, "axis") })
        return [try emit(.unsqueeze(axes: axes), [x], name: n.outputName(0), n)]
    }

    /// ONNX Shape.
    mutating func convertShape(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let shape = type(of: try n.input(0)).shape
        let rank = Int64(shape.count)
        func clamp(_ value: Int64) -> Int { Int(min(max(value < 0 ? value + rank : value, 0), rank)) }
        let start = clamp(try n.attributes.int("start", default: 0))
        let end = clamp(try n.attributes.int("end", default: rank))
        let dims = start < end ? Array(shape[start..<end]) : []
        let values = dims.map { Double($0) }
        return [.constant(Constant.from(name: n.outputName(0) ?? "shape", type: TensorType([dims.count], .i64), values: values))]
    }

    /// ONNX ConstantOfShape.
    mutating func convertConstantOfShape(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        return [try constantOfShape(&n)]
    }

    /// ONNX Expand.
    mutating func convertExpand(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let shape = try constantIntegers(n.input(1), "shape", n)
        guard shape.allSatisfy({ $0 >= 0 && $0 <= Int64(TensorType.maxElementCount) }) else {
            throw NodeError("Expand shape \(shape) has a negative or absurd dimension")
        }
        let xShape = type(of: x).shape
        guard let target = broadcastShapes(xShape, shape.map { Int($0) }) else {
            throw NodeError("Expand cannot broadcast \(shapeString(xShape)) with the shape \(shape)")
        }
        return [try emit(.expand, [x], declared: TensorType(target, type(of: x).elementType), name: n.outputName(0), n)]
    }

    /// ONNX Constant.
    mutating func convertConstant(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        return [.constant(try constantNode(&n))]
    }

    /// ONNX Identity.
    mutating func convertIdentity(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        return [try n.input(0)]
    }

    /// ONNX Dropout.
    mutating func convertDropout(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        try n.attributes.ignore("seed", .int)
        // Before opset 12 the ratio is an attribute (before 7 with `is_test`): neither matters in inference.
        if opset < 12 { try n.attributes.ignore("ratio", .float) }
        if opset < 7, try n.attributes.int("is_test", default: 0) == 0 {
            throw NodeError("Dropout with is_test=0 is not supported (Sieve compiles inference graphs)")
        }
        if let training = n.optionalInput(2) {
            guard case let .constant(constant) = training, constant.type.elementCount == 1 else {
                throw NodeError("Dropout's training_mode input must be a constant; only inference (training_mode=false) is supported")
            }
            if constant.element(at: 0) != 0 {
                throw NodeError("Dropout with training_mode=true is not supported (Sieve compiles inference graphs)")
            }
        }
        let x = try n.input(0)
        guard let maskName = n.outputName(1), consumed.contains(maskName) else { return [x] }
        // In inference the mask keeps every element: a constant of trues with the input's shape.
        let maskType = TensorType(type(of: x).shape, .bool)
        guard let count = maskType.elementCount, count <= ONNXImporter.maxFoldedElements else {
            throw NodeError("Dropout's mask output of shape \(shapeString(maskType.shape)) is larger than \(ONNXImporter.maxFoldedElements) elements, which is not supported")
        }
        let mask = Constant(name: maskName, type: maskType, bytes: [UInt8](repeating: 1, count: count))
        return [x, .constant(mask)]
    }

    /// ONNX Cast.
    mutating func convertCast(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        guard let to = try n.attributes.int("to") else { throw NodeError("Cast needs the attribute 'to'") }
        let saturate = try n.attributes.int("saturate", default: 1)
        try n.attributes.ignore("round_mode", .string)
        let target: ElementType
        do {
            target = try requireElementType(onnxCode: Int32(truncatingIfNeeded: to), "the target of Cast")
        } catch {
            throw NodeError(error.message)
        }
        // saturate only affects float8 targets; the IR's cast to float8 saturates, as ONNX's default does.
        if saturate == 0, target == .f8e4m3fn || target == .f8e5m2, type(of: x).elementType.isFloat {
            throw NodeError("Cast to \(target) with saturate = 0 is not supported (Sieve's float8 conversion saturates, ONNX's default); drop the attribute")
        }
        return [try emit(.cast, [x], declared: type(of: x).with(elementType: target), name: n.outputName(0), n)]
    }

    /// ONNX Where.
    mutating func convertWhere(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        return [try emit(.where, [n.input(0), n.input(1), n.input(2)], name: n.outputName(0), n)]
    }

    /// ONNX Equal.
    mutating func convertEqual(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        return [try emit(.binary(.equal), [n.input(0), n.input(1)], name: n.outputName(0), n)]
    }

    /// ONNX Conv.
    mutating func convertConv(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        return [try conv(&n, x: n.input(0), w: n.input(1), bias: n.optionalInput(2), name: n.outputName(0))]
    }

    /// ONNX MaxPool, AveragePool.
    mutating func convertPool(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        return [try pool(&n)]
    }

    /// ONNX GlobalAveragePool.
    mutating func convertGlobalAveragePool(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        return [try emit(.globalAveragePool, [n.input(0)], name: n.outputName(0), n)]
    }

    /// ONNX GlobalMaxPool.
    mutating func convertGlobalMaxPool(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        return [try emit(.globalMaxPool, [n.input(0)], name: n.outputName(0), n)]
    }

    /// ONNX Clip.
    mutating func convertClip(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        var low = -Float.infinity, high = Float.infinity
        // Before opset 11 the bounds are attributes (defaults: the float range).
        if opset < 11 {
            low = try n.attributes.float("min", default: -Float.greatestFiniteMagnitude)
            high = try n.attributes.float("max", default: Float.greatestFiniteMagnitude)
        }
        if let slot = n.optionalInput(1) { low = try constantScalar(slot, "min", n) }
        if let slot = n.optionalInput(2) { high = try constantScalar(slot, "max", n) }
        // ONNX leaves min > max to the runtime (all outputs become max); keep that meaning.
        if low > high { low = high }
        return [try emit(.unary(.clip(min: low, max: high)), [x], name: n.outputName(0), n)]
    }

    /// ONNX QuantizeLinear.
    mutating func convertQuantizeLinear(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        return [try quantizeLinear(&n)]
    }

    /// ONNX DequantizeLinear.
    mutating func convertDequantizeLinear(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        return [try dequantizeLinear(&n)]
    }

    // MARK: Helpers for shape-like inputs

    /// An input that must be a constant (after folding), as integers.
    func constantIntegers(_ slot: Slot, _ what: String, _ n: NodeContext) throws(NodeError) -> [Int64] {
        guard case let .constant(constant) = slot else {
            throw NodeError("input '\(what)' of \(n.node.opType) must be a constant once input shapes are fixed, but it is computed at run time; dynamic \(what) is not supported")
        }
        guard constant.type.elementType == .i64 || constant.type.elementType == .i32 else {
            throw NodeError("input '\(what)' of \(n.node.opType) must be int64 or int32, found \(constant.type.elementType)")
        }
        guard constant.type.rank <= 1, let count = constant.type.elementCount, constant.hasConsistentSize else {
            throw NodeError("input '\(what)' of \(n.node.opType) must be a 1-D tensor, found \(constant.type)")
        }
        return (0..<count).map { constant.integer(at: $0) }
    }

    /// A one-element constant input as a Float.
    func constantScalar(_ slot: Slot, _ what: String, _ n: NodeContext) throws(NodeError) -> Float {
        guard case let .constant(constant) = slot else {
            throw NodeError("input '\(what)' of \(n.node.opType) must be a constant; a value computed at run time is not supported")
        }
        guard constant.type.elementCount == 1, constant.hasConsistentSize else {
            throw NodeError("input '\(what)' of \(n.node.opType) must hold one element, found \(constant.type)")
        }
        return Float(constant.element(at: 0))
    }

    /// An axis in [-rank, rank) (or [-rank, rank] when `inclusive`, as Flatten allows) made non-negative.
    func normalizeAxis(_ value: Int64, rank: Int, _ what: String, inclusive: Bool = false) throws(NodeError) -> Int {
        let upper = Int64(inclusive ? rank : rank - 1)
        guard value >= -Int64(rank), value <= upper else {
            throw NodeError("\(what) \(value) is out of range for rank \(rank)")
        }
        return Int(value < 0 ? value + Int64(rank) : value)
    }

    func sortedUnique(_ axes: [Int]) throws(NodeError) -> [Int] {
        let sorted = axes.sorted()
        guard Set(sorted).count == sorted.count else { throw NodeError("axes \(axes) repeat an axis") }
        return sorted
    }

    /// The Reshape result shape: 0 copies the input dimension (unless allowzero), -1 is inferred.
    func reshapeTarget(_ input: TensorType, _ shape: [Int64], allowZero: Bool) throws(NodeError) -> [Int] {
        var target: [Int] = []
        var inferred: Int?
        for (index, dim) in shape.enumerated() {
            if dim == -1 {
                guard inferred == nil else { throw NodeError("Reshape shape \(shape) has more than one -1") }
                inferred = index
                target.append(1)
            } else if dim == 0 && !allowZero {
                guard index < input.rank else {
                    throw NodeError("Reshape shape \(shape) copies dimension \(index) with 0, but the input has rank \(input.rank)")
                }
                target.append(input.shape[index])
            } else {
                guard dim >= 0, dim <= Int64(TensorType.maxElementCount) else {
                    throw NodeError("Reshape shape \(shape) has an invalid dimension \(dim)")
                }
                target.append(Int(dim))
            }
        }
        if let inferred {
            guard let total = input.elementCount, let known = TensorType(target, .f32).elementCount, known > 0 else {
                throw NodeError("Reshape shape \(shape) cannot infer its -1 dimension from input \(input)")
            }
            guard total % known == 0 else {
                throw NodeError("Reshape cannot infer -1: \(total) elements of \(input) do not divide by \(known)")
            }
            target[inferred] = total / known
        }
        return target
    }

    // MARK: Ops with more involved mappings

    private mutating func layerNormalization(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let rank = type(of: x).rank
        let axis = try normalizeAxis(n.attributes.int("axis", default: -1), rank: rank, "axis")
        let epsilon = try n.attributes.float("epsilon", default: 1e-5)
        let stash = try n.attributes.int("stash_type", default: 1)
        guard stash == 1 else {
            throw NodeError("LayerNormalization stash_type=\(stash) is not supported (only 1, computing in float32)")
        }
        var operands = [x, try n.input(1)]
        if let bias = n.optionalInput(2) { operands.append(bias) }
        let y = try emit(.layerNorm(axis: axis, epsilon: epsilon), operands, name: n.outputName(0), n)
        guard n.outputName(1).map(consumed.contains) == true || n.outputName(2).map(consumed.contains) == true else {
            return [y]
        }
        // Mean and InvStdDev (training-time outputs) are built from IR ops when something reads them.
        guard type(of: x).elementType == .f32 else {
            throw NodeError("LayerNormalization's Mean and InvStdDev outputs are supported for float32 inputs only")
        }
        let axes = Array(axis..<rank)
        let mean = try emit(.reduce(.mean, axes: axes, keepDims: true), [x], name: n.outputName(1), n)
        let centered = try emit(.binary(.sub), [x, mean], name: nil, n)
        let squared = try emit(.binary(.mul), [centered, centered], name: nil, n)
        let variance = try emit(.reduce(.mean, axes: axes, keepDims: true), [squared], name: nil, n)
        let epsilonSlot = Slot.constant(Constant.from(name: graph.constants.freshName("epsilon"), type: TensorType([], .f32),
                                                      values: [Double(epsilon)]))
        let one = Slot.constant(Constant.from(name: graph.constants.freshName("one"), type: TensorType([], .f32), values: [1]))
        let shifted = try emit(.binary(.add), [variance, epsilonSlot], name: nil, n)
        let deviation = try emit(.unary(.sqrt), [shifted], name: nil, n)
        let inverse = try emit(.binary(.div), [one, deviation], name: n.outputName(2), n)
        return [y, mean, inverse]
    }

    private mutating func gather(_ n: inout NodeContext) throws(NodeError) -> Slot {
        let data = try n.input(0)
        var indices = try n.input(1)
        let dataType = type(of: data)
        let axis = try normalizeAxis(n.attributes.int("axis", default: 0), rank: dataType.rank, "axis")
        // Negative indices count from the end; constant ones are made non-negative here.
        if case let .constant(constant) = indices, constant.type.elementType == .i64 || constant.type.elementType == .i32,
           let count = constant.type.elementCount, constant.hasConsistentSize {
            let dim = Int64(dataType.shape[axis])
            var values: [Int64] = []
            values.reserveCapacity(count)
            for index in 0..<count {
                var value = constant.integer(at: index)
                guard value >= -dim, value < dim else {
                    throw NodeError("Gather index \(value) is out of range for axis \(axis) of size \(dim)")
                }
                if value < 0 { value += dim }
                values.append(value)
            }
            var bytes: [UInt8] = []
            for value in values { appendInteger(value, of: constant.type.elementType, to: &bytes) }
            indices = .constant(Constant(name: constant.name, type: constant.type, bytes: bytes))
        }
        return try emit(.gather(axis: axis), [data, indices], name: n.outputName(0), n)
    }

    private mutating func slice(_ n: inout NodeContext) throws(NodeError) -> Slot {
        let x = try n.input(0)
        let shape = type(of: x).shape
        let starts: [Int64], ends: [Int64], givenAxes: [Int64]?, givenSteps: [Int64]?
        if opset < 10 {
            // Before opset 10 starts, ends and axes are attributes, and there are no steps.
            guard let s = try n.attributes.ints("starts"), let e = try n.attributes.ints("ends") else {
                throw NodeError("Slice needs the attributes 'starts' and 'ends' (before opset 10)")
            }
            (starts, ends, givenAxes, givenSteps) = (s, e, try n.attributes.ints("axes"), nil)
        } else {
            starts = try constantIntegers(n.input(1), "starts", n)
            ends = try constantIntegers(n.input(2), "ends", n)
            givenAxes = try n.optionalInput(3).map { slot throws(NodeError) in try constantIntegers(slot, "axes", n) }
            givenSteps = try n.optionalInput(4).map { slot throws(NodeError) in try constantIntegers(slot, "steps", n) }
        }
        let rawAxes = givenAxes ?? (0..<Int64(starts.count)).map { $0 }
        let steps = givenSteps ?? Array(repeating: 1, count: starts.count)
        guard ends.count == starts.count, rawAxes.count == starts.count, steps.count == starts.count else {
            throw NodeError("Slice needs as many ends, axes and steps as starts, found \(starts.count) starts, \(ends.count) ends, \(rawAxes.count) axes and \(steps.count) steps")
        }
        var outStarts: [Int] = [], outEnds: [Int] = [], axes: [Int] = [], outSteps: [Int] = []
        for index in starts.indices {
            let axis = try normalizeAxis(rawAxes[index], rank: shape.count, "axis")
            guard !axes.contains(axis) else { throw NodeError("Slice axes \(rawAxes) repeat axis \(axis)") }
            let dim = Int64(shape[axis])
            let step = steps[index]
            guard step != 0 else { throw NodeError("Slice step must not be 0") }
            guard step != Int64.min else { throw NodeError("Slice step \(step) is out of range") }
            var start = starts[index], end = ends[index]
            if start < 0 { start += dim }
            if end < 0 { end += dim }
            // Clamp as ONNX does: [0, dim] for positive steps, [0, dim-1] and [-1, dim-1] for negative ones.
            if step > 0 {
                start = min(max(start, 0), dim)
                end = min(max(end, 0), dim)
                if end < start { end = start }
            } else if dim == 0 {
                start = -1
                end = -1
            } else {
                start = min(max(start, 0), dim - 1)
                end = min(max(end, -1), dim - 1)
                if end > start { end = start }
            }
            axes.append(axis)
            outStarts.append(Int(start))
            outEnds.append(Int(end))
            outSteps.append(Int(max(min(step, Int64(Int32.max)), Int64(Int32.min))))
        }
        return try emit(.slice(starts: outStarts, ends: outEnds, axes: axes, steps: outSteps), [x], name: n.outputName(0), n)
    }

    private mutating func constantOfShape(_ n: inout NodeContext) throws(NodeError) -> Slot {
        let dims = try constantIntegers(n.input(0), "shape", n)
        var value = Constant.from(name: "value", type: TensorType([1], .f32), values: [0])
        if let proto = try n.attributes.tensor("value") {
            do {
                value = try decodeTensor(proto, name: "value", baseDirectory: baseDirectory)
            } catch {
                throw NodeError("attribute 'value': \(error.message)")
            }
            guard value.type.elementCount == 1 else {
                throw NodeError("ConstantOfShape's value must hold one element, found \(value.type)")
            }
        }
        guard dims.allSatisfy({ $0 >= 0 && $0 <= Int64(TensorType.maxElementCount) }) else {
            throw NodeError("ConstantOfShape shape \(dims) has a negative or absurd dimension")
        }
        let type = TensorType(dims.map { Int($0) }, value.type.elementType)
        guard let count = type.elementCount, count <= ONNXImporter.maxFoldedElements else {
            throw NodeError("ConstantOfShape of shape \(dims) is larger than \(ONNXImporter.maxFoldedElements) elements, which is not supported")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count * value.bytes.count)
        for _ in 0..<count { bytes.append(contentsOf: value.bytes) }
        return .constant(Constant(name: n.outputName(0) ?? "constant", type: type, bytes: bytes))
    }

    private mutating func constantNode(_ n: inout NodeContext) throws(NodeError) -> Constant {
        let name = n.outputName(0) ?? "constant"
        for unsupported in ["sparse_value", "value_string", "value_strings"] where n.attributes.has(unsupported) {
            throw NodeError("Constant with '\(unsupported)' is not supported")
        }
        if let proto = try n.attributes.tensor("value") {
            do {
                return try decodeTensor(proto, name: name, baseDirectory: baseDirectory)
            } catch {
                throw NodeError("attribute 'value': \(error.message)")
            }
        }
        if let value = try n.attributes.float("value_float") {
            return Constant.from(name: name, type: TensorType([], .f32), values: [Double(value)])
        }
        if let values = try n.attributes.floats("value_floats") {
            return Constant.from(name: name, type: TensorType([values.count], .f32), values: values.map(Double.init))
        }
        if let value = try n.attributes.int("value_int") {
            var bytes: [UInt8] = []
            appendInteger(value, of: .i64, to: &bytes)
            return Constant(name: name, type: TensorType([], .i64), bytes: bytes)
        }
        if let values = try n.attributes.ints("value_ints") {
            var bytes: [UInt8] = []
            for value in values { appendInteger(value, of: .i64, to: &bytes) }
            return Constant(name: name, type: TensorType([values.count], .i64), bytes: bytes)
        }
        throw NodeError("Constant has no value attribute")
    }

    /// Pads for one spatial axis under `auto_pad`, as (begin, end).
    private func autoPads(_ mode: String, size: Int, kernel: Int, stride: Int, dilation: Int) -> (Int, Int) {
        switch mode {
        case "SAME_UPPER", "SAME_LOWER":
            let output = (size + stride - 1) / stride
            let total = max(0, (output - 1) * stride + (kernel - 1) * dilation + 1 - size)
            return mode == "SAME_UPPER" ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
        default:
            return (0, 0)
        }
    }

    /// Strides, dilations and pads of a window op over `spatial` (1 or 2) axes, with auto_pad applied,
    /// lifted to two spatial axes: a 1-D op runs as a 2-D one over a height of 1.
    ///
    /// - Parameters:
    ///   - input: the lifted NCHW input shape.
    ///   - kernel: the lifted kernel height and width.
    private func windowAttributes(_ n: inout NodeContext, input: [Int], kernel: [Int],
                                  spatial: Int) throws(NodeError) -> (strides: [Int], dilations: [Int], pads: [Int]) {
        func list(_ name: String) throws(NodeError) -> [Int] {
            guard let values = try n.attributes.ints(name) else { return [1, 1] }
            guard values.count == spatial, values.allSatisfy({ $0 >= 1 && $0 <= Int64(Int32.max) }) else {
                throw NodeError("attribute '\(name)' must hold \(spatial) positive values for a \(spatial)-D \(n.node.opType), found \(values)")
            }
            return spatial == 1 ? [1, Int(values[0])] : values.map { Int($0) }
        }
        let strides = try list("strides")
        let dilations = try list("dilations")
        let autoPad = try n.attributes.string("auto_pad", default: "NOTSET")
        var pads = [0, 0, 0, 0]
        switch autoPad {
        case "NOTSET":
            if let given = try n.attributes.ints("pads") {
                guard given.count == 2 * spatial, given.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else {
                    throw NodeError("attribute 'pads' must hold \(2 * spatial) non-negative values for a \(spatial)-D \(n.node.opType), found \(given)")
                }
                pads = spatial == 1 ? [0, Int(given[0]), 0, Int(given[1])] : given.map { Int($0) }
            }
        case "VALID":
            _ = try n.attributes.ints("pads")
        case "SAME_UPPER", "SAME_LOWER":
            _ = try n.attributes.ints("pads")
            for axis in 0..<2 {
                let (begin, end) = autoPads(autoPad, size: input[2 + axis], kernel: kernel[axis],
                                            stride: strides[axis], dilation: dilations[axis])
                pads[axis] = begin
                pads[axis + 2] = end
            }
        default:
            throw NodeError("auto_pad '\(autoPad)' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
        }
        return (strides, dilations, pads)
    }

    /// A rank-3 (1-D spatial) operand as rank 4 with a height of 1.
    private mutating func liftToTwoDimensions(_ slot: Slot, _ n: NodeContext) throws(NodeError) -> Slot {
        try emit(.unsqueeze(axes: [2]), [slot], name: nil, n)
    }

    /// ONNX Conv's attributes applied to the given operands: Conv's own, or the zero-point-shifted i32 ones of
    /// ConvInteger and QLinearConv (QuantizationOperators.swift).
    mutating func conv(_ n: inout NodeContext, x input: Slot, w weight: Slot, bias: Slot?, name: String?,
                       requantizedTo result: (element: ElementType, quant: QuantParams)? = nil) throws(NodeError) -> Slot {
        var x = input, w = weight
        let rank = type(of: x).rank
        guard (rank == 3 || rank == 4), type(of: w).rank == rank else {
            throw NodeError("\(n.node.opType) with \(max(rank, type(of: w).rank) - 2) spatial dimensions is not supported (only 1-D and 2-D convolutions over NCL or NCHW input)")
        }
        let spatial = rank - 2
        let givenKernel = try n.attributes.ints("kernel_shape")
        if let givenKernel, givenKernel.map({ Int($0) }) != Array(type(of: w).shape[2...]) {
            throw NodeError("kernel_shape \(givenKernel) does not match the weight's spatial shape \(Array(type(of: w).shape[2...]))")
        }
        if spatial == 1 {
            x = try liftToTwoDimensions(x, n)
            w = try liftToTwoDimensions(w, n)
        }
        let xShape = type(of: x).shape
        let kernel = Array(type(of: w).shape[2...])
        let group = try n.attributes.int("group", default: 1)
        guard group >= 1, group <= Int64(Int32.max) else { throw NodeError("group \(group) must be positive") }
        let window = try windowAttributes(&n, input: xShape, kernel: kernel, spatial: spatial)
        var operands = [x, w]
        if let bias { operands.append(bias) }
        let attributes = Conv2DAttributes(strides: window.strides, pads: window.pads, dilations: window.dilations, groups: Int(group))
        if let result {
            // The requantizing int8 convolution (2-D only): its 8-bit result type is stated, of the f32 form's shape.
            guard spatial == 2 else { throw NodeError("internal: a requantizing convolution must be 2-D") }
            let types = operands.prefix(2).map { type(of: $0) }
            let shape: [Int]
            do {
                shape = try OpKind.conv2d(attributes).resultType(operands: types, declared: nil, constants: graph.constants).shape
            } catch {
                throw NodeError(error.message)
            }
            return try emit(.conv2d(attributes), operands, declared: TensorType(shape, result.element, quant: result.quant), name: name, n)
        }
        if spatial == 2 {
            return try emit(.conv2d(attributes), operands, name: name, n)
        }
        let result = try emit(.conv2d(attributes), operands, name: nil, n)
        return try emit(.squeeze(axes: [2]), [result], name: name, n)
    }

    /// MaxPool or AveragePool (1-D lifted to 2-D). `input` replaces the node's input 0 and `name` its output name (QLinearAveragePool pools its dequantized input,
    /// and names the quantized result).
    mutating func pool(_ n: inout NodeContext, input: Slot? = nil, name: String?? = .none) throws(NodeError) -> Slot {
        let isMax = n.node.opType == "MaxPool"
        let outputName = name ?? n.outputName(0)
        var x: Slot
        if let input { x = input } else { x = try n.input(0) }
        let xType = type(of: x)
        guard let kernelValues = try n.attributes.ints("kernel_shape") else {
            throw NodeError("\(n.node.opType) needs the attribute 'kernel_shape'")
        }
        let spatial = xType.rank - 2
        guard spatial == 1 || spatial == 2, kernelValues.count == spatial else {
            throw NodeError("\(n.node.opType) with \(max(xType.rank - 2, kernelValues.count)) spatial dimensions is not supported (only 1-D and 2-D pooling over NCL or NCHW input)")
        }
        // MaxPool of 8-bit data (opset 12 on): the quantized CNNs of quantize_static's QOperator format.
        guard xType.elementType.isFloat || (isMax && [.u8, .i8].contains(xType.elementType)) else {
            throw NodeError("\(n.node.opType) on \(xType.elementType) tensors is not supported (only float types\(isMax ? ", int8 and uint8" : ""))")
        }
        guard kernelValues.allSatisfy({ $0 >= 1 && $0 <= Int64(Int32.max) }) else {
            throw NodeError("kernel_shape \(kernelValues) must be positive")
        }
        let kernel = spatial == 1 ? [1, Int(kernelValues[0])] : kernelValues.map { Int($0) }
        let ceilMode = try n.attributes.int("ceil_mode", default: 0) != 0
        var countIncludePad = false
        if isMax {
            try n.attributes.ignore("storage_order", .int)  // only changes the Indices output, which is refused below
            if let indices = n.outputName(1), consumed.contains(indices) {
                throw NodeError("MaxPool's Indices output is not supported")
            }
        } else {
            countIncludePad = try n.attributes.int("count_include_pad", default: 0) != 0
        }
        if spatial == 1 { x = try liftToTwoDimensions(x, n) }
        let window = try windowAttributes(&n, input: type(of: x).shape, kernel: kernel, spatial: spatial)
        let attributes = Pool2DAttributes(kernel: kernel, strides: window.strides, pads: window.pads,
                                          dilations: window.dilations, ceilMode: ceilMode,
                                          countIncludePad: countIncludePad)
        let kind: OpKind = isMax ? .maxPool(attributes) : .averagePool(attributes)
        if spatial == 2 { return try emit(kind, [x], name: outputName, n) }
        let result = try emit(kind, [x], name: nil, n)
        return try emit(.squeeze(axes: [2]), [result], name: outputName, n)
    }

    /// Scales and zero points of QuantizeLinear / DequantizeLinear, per tensor or along `axis`.
    private func quantParams(_ n: inout NodeContext, scale: Slot, zeroPoint: Slot?, dataRank: Int,
                             dataShape: [Int]) throws(NodeError) -> QuantParams {
        guard case let .constant(scales) = scale else {
            throw NodeError("the scale of \(n.node.opType) must be a constant; scales computed at run time are not supported")
        }
        guard scales.type.elementType.isFloat, scales.hasConsistentSize, let count = scales.type.elementCount else {
            throw NodeError("the scale of \(n.node.opType) must be a float tensor, found \(scales.type)")
        }
        let blockSize = try n.attributes.int("block_size", default: 0)
        guard blockSize == 0, scales.type.rank <= 1 else {
            throw NodeError("blocked quantization (block_size \(blockSize), scale \(scales.type)) is not supported")
        }
        let rawAxis = try n.attributes.int("axis", default: 1)
        var zeroPoints = [Int64](repeating: 0, count: count)
        if let zeroPoint {
            guard case let .constant(points) = zeroPoint else {
                throw NodeError("the zero point of \(n.node.opType) must be a constant; zero points computed at run time are not supported")
            }
            // Per tensor, a scalar and a one-element 1-D parameter mean the same (quantize_static writes both).
            guard points.type.shape == scales.type.shape || (points.type.elementCount == 1 && count == 1), points.hasConsistentSize else {
                throw NodeError("the zero point \(points.type) must have the scale's shape \(shapeString(scales.type.shape))")
            }
            zeroPoints = (0..<count).map { points.integer(at: $0) }
        }
        let values = (0..<count).map { Float(scales.element(at: $0)) }
        // A scalar (or one-element) scale is per tensor; a longer 1-D scale runs along `axis`.
        if scales.type.rank == 1 && count != 1 {
            let axis = try normalizeAxis(rawAxis, rank: dataRank, "axis")
            guard dataShape[axis] == count else {
                throw NodeError("per-axis quantization along axis \(axis) needs \(dataShape[axis]) scales, found \(count)")
            }
            return QuantParams(axis: axis, scales: values, zeroPoints: zeroPoints)
        }
        return QuantParams(axis: nil, scales: values, zeroPoints: zeroPoints)
    }

    private mutating func quantizeLinear(_ n: inout NodeContext) throws(NodeError) -> Slot {
        let x = try n.input(0)
        let xType = type(of: x)
        let zeroPoint = n.optionalInput(2)
        var stored = ElementType.u8
        if let zeroPoint {
            stored = type(of: zeroPoint).elementType
        } else if let dtype = try n.attributes.int("output_dtype"), dtype != 0 {
            do {
                stored = try requireElementType(onnxCode: Int32(truncatingIfNeeded: dtype), "the output of QuantizeLinear")
            } catch {
                throw NodeError(error.message)
            }
        }
        _ = try n.attributes.int("output_dtype")
        _ = try n.attributes.int("precision")
        guard GraphBuilder.quantizedTypes.contains(stored), stored != .i32 else {
            throw NodeError("QuantizeLinear to \(stored) is not supported (only int8, uint8, int16, uint16, int4, uint4, int2, uint2, float8e4m3fn, float8e5m2 and float4e2m1)")
        }
        // saturate only affects the float8 outputs; Sieve's conversion to float8 saturates, as ONNX's default does.
        if try n.attributes.int("saturate", default: 1) == 0, stored == .f8e4m3fn || stored == .f8e5m2 {
            throw NodeError("QuantizeLinear to \(stored) with saturate = 0 is not supported (Sieve's float8 conversion saturates, ONNX's default); drop the attribute")
        }
        // Blocked parameters and float outputs are computed by elementwise ops; so are parameters known at run time.
        let blocked = try n.attributes.int("block_size", default: 0) != 0
        let scale = try n.input(1)
        if blocked || stored.isFloat || !isConstant(scale) || !(zeroPoint.map(isConstant) ?? true) {
            return try quantizeAtRunTime(&n, x: x, scale: n.input(1), zeroPoint: zeroPoint, stored: stored)
        }
        let params = try quantParams(&n, scale: n.input(1), zeroPoint: zeroPoint, dataRank: xType.rank,
                                     dataShape: xType.shape)
        let result = TensorType(xType.shape, stored, quant: params)
        return try emit(.quantize, [x], declared: result, name: n.outputName(0), n)
    }

    /// The element types of QuantizeLinear's output and DequantizeLinear's input (int32 for DequantizeLinear only).
    static let quantizedTypes: Set<ElementType> = [.i8, .u8, .i16, .u16, .i32, .i4, .u4, .i2, .u2, .f8e4m3fn, .f8e5m2, .f4e2m1]

    private mutating func dequantizeLinear(_ n: inout NodeContext) throws(NodeError) -> Slot {
        let x = try n.input(0)
        let xType = type(of: x)
        guard GraphBuilder.quantizedTypes.contains(xType.elementType) else {
            throw NodeError("DequantizeLinear of \(xType.elementType) is not supported (only int8, uint8, int16, uint16, int32, int4, uint4, int2, uint2, float8e4m3fn, float8e5m2 and float4e2m1)")
        }
        let zeroPoint = n.optionalInput(2)
        if let zeroPoint, type(of: zeroPoint).elementType != xType.elementType {
            throw NodeError("the zero point of DequantizeLinear has type \(type(of: zeroPoint).elementType), but x has \(xType.elementType)")
        }
        let scale = try n.input(1)
        let outputDType = try n.attributes.int("output_dtype", default: 0)
        let scaleType = type(of: scale).elementType
        let target = outputDType != 0 ? irElementType(onnxCode: Int32(truncatingIfNeeded: outputDType)) : scaleType
        guard let target, target.isFloat else {
            throw NodeError("DequantizeLinear output_dtype \(outputDType) is not supported")
        }
        // A value with no quantization parameters in its type (the output of an integer op) or with run-time
        // parameters is dequantized by elementwise ops instead.
        var typedOperand = true
        if case let .value(id) = x, xType.quant == nil, !isUnreadGraphInput(id) { typedOperand = false }
        // So are blocked parameters and float8/float4 operands (quantization parameters in a type are per tensor or
        // per axis, on integer types).
        if try n.attributes.int("block_size", default: 0) != 0 || xType.elementType.isFloat { typedOperand = false }
        if !isConstant(scale) || !(zeroPoint.map(isConstant) ?? true) || !typedOperand {
            return try dequantizeAtRunTime(&n, x: x, scale: scale, zeroPoint: zeroPoint, target: target)
        }
        let params = try quantParams(&n, scale: scale, zeroPoint: zeroPoint, dataRank: xType.rank,
                                     dataShape: xType.shape)
        let quantized = TensorType(xType.shape, xType.elementType, quant: params)
        if let problem = validate(quantized) { throw NodeError("DequantizeLinear parameters: \(problem)") }

        // The IR carries quantization parameters on the operand's type; attach them where they are missing.
        var operand = x
        switch x {
        case let .constant(constant):
            operand = .constant(Constant(name: constant.name, type: quantized, bytes: constant.bytes))
        case let .value(id):
            if xType.quant == params {
                break
            } else if xType.quant == nil, isUnreadGraphInput(id) {
                graph.values[id.index].type = quantized
            } else {
                // Typed with other parameters (a QuantizeLinear with other ones, an 8-bit value a shape op moved, or a
                // graph input a QLinearMatMul or QLinearConv typed with its a or x parameters): elementwise ops read
                // its integers as they are.
                return try dequantizeAtRunTime(&n, x: x, scale: scale, zeroPoint: zeroPoint, target: target)
            }
        }
        if target == .f32 {
            return try emit(.dequantize, [operand], name: n.outputName(0), n)
        }
        let floats = try emit(.dequantize, [operand], name: nil, n)
        return try emit(.cast, [floats], declared: TensorType(xType.shape, target), name: n.outputName(0), n)
    }
}
