// Recognises the dynamically quantized matrix products and convolutions ONNX Runtime's quantize_dynamic writes (#14)
// and imports each as one int8 fused_matmul or conv2d with its weight kept 8-bit, not the decomposition of its nodes.

import SieveIR

/// One `DynamicQuantizeLinear → MatMulInteger (or ConvInteger) → Cast → Mul` group of a graph, as quantize_dynamic
/// writes it:
///
/// ```
/// q, s, zp = DynamicQuantizeLinear(x)
/// acc      = MatMulInteger(q, W, zp, W_zero_point)   W: int8 initializer [K, N], zero point 0
/// scale    = Mul(s, W_scale)                          W_scale: f32 initializer, one value or one per column
/// y        = Mul(Cast<float>(acc), scale)
/// ```
///
/// Its value is exactly the per-tensor dynamic int8 product (`DynamicInt8`, `activations = "per_tensor"`): the
/// same quantization of x, the same exact integer sums, `f32(acc) · (s · W_scale[n])` in the same order. A group
/// is taken only when nothing outside it reads its intermediate values (they are not computed).
struct DynamicProductGroup {
    /// The nodes whose work the fused product does, by index: DynamicQuantizeLinear, MatMulInteger, Cast, scale Mul.
    var innerNodes: [Int]
    /// The final Mul, whose output the fused product defines.
    var finalNode: Int
    /// The float activations (DynamicQuantizeLinear's input).
    var activations: String
    /// The int8 weight initializer `[K, N]` (ConvInteger: `[O, C/groups, KH, KW]`) and its scale initializer.
    var weight: String, weightScale: String
    /// Whether the product is a ConvInteger (imported as the int8 conv2d over f32 input, with the node's attributes).
    var convolution = false
}

extension GraphBuilder {
    /// The dynamically quantized products of the main graph, keyed by their final node.
    func dynamicProductGroups() -> [Int: DynamicProductGroup] {
        let nodes = graphProto.node
        var producer: [String: Int] = [:]
        var readers: [String: Int] = [:]
        for (index, node) in nodes.enumerated() {
            for name in node.output where !name.isEmpty { producer[name] = index }
            for name in node.input where !name.isEmpty { readers[name, default: 0] += 1 }
        }
        for output in graphProto.output { readers[output.name, default: 0] += 1 }
        // Values read by subgraphs are read outside any group.
        for name in consumed where readers[name] == nil { readers[name] = 1 }
        func isDefaultDomain(_ node: Onnx_NodeProto) -> Bool { node.domain.isEmpty || node.domain == "ai.onnx" }
        func readOnce(_ name: String) -> Bool { readers[name] == 1 }

        var groups: [Int: DynamicProductGroup] = [:]
        for (finalIndex, final) in nodes.enumerated() where final.opType == "Mul" && isDefaultDomain(final) && final.input.count == 2 {
            // y = Mul(Cast(acc), scale), in either order.
            for (castName, scaleName) in [(final.input[0], final.input[1]), (final.input[1], final.input[0])] {
                guard let castIndex = producer[castName], let scaleIndex = producer[scaleName], castIndex != scaleIndex else { continue }
                let cast = nodes[castIndex], scaleMul = nodes[scaleIndex]
                guard cast.opType == "Cast", isDefaultDomain(cast), cast.input.count == 1,
                      cast.attribute.count == 1, cast.attribute[0].name == "to", cast.attribute[0].i == 1,  // FLOAT
                      scaleMul.opType == "Mul", isDefaultDomain(scaleMul), scaleMul.input.count == 2,
                      readOnce(castName), readOnce(scaleName),
                      let productIndex = producer[cast.input[0]], readOnce(cast.input[0]) else { continue }
                let product = nodes[productIndex]
                let convolution = product.opType == "ConvInteger"
                guard product.opType == "MatMulInteger" || convolution, isDefaultDomain(product), product.input.count >= 3,
                      let quantizeIndex = producer[product.input[0]] else { continue }
                let quantize = nodes[quantizeIndex]
                guard quantize.opType == "DynamicQuantizeLinear", isDefaultDomain(quantize), quantize.input.count == 1,
                      quantize.output.count == 3, product.input[2] == quantize.output[2],
                      readOnce(quantize.output[0]), readOnce(quantize.output[2]), readOnce(quantize.output[1]),
                      Set(scaleMul.input).contains(quantize.output[1]) else { continue }
                let weightScale = scaleMul.input[0] == quantize.output[1] ? scaleMul.input[1] : scaleMul.input[0]
                let weightName = product.input[1]
                // A MatMulInteger weight is [K, N] with a scale per column; a ConvInteger one (2-D convolutions only)
                // [O, C/groups, KH, KW] with a scale per output channel.
                guard let weight = constantInitializer(weightName), weight.type.elementType == .i8,
                      weight.type.rank == (convolution ? 4 : 2), weight.hasConsistentSize,
                      let scale = constantInitializer(weightScale), scale.type.elementType == .f32, scale.hasConsistentSize else { continue }
                let (channels, reduction) = convolution
                    ? (weight.type.shape[0], weight.type.shape.dropFirst().reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 })
                    : (weight.type.shape[1], weight.type.shape[0])
                guard scale.type.elementCount == 1 || (scale.type.rank == 1 && scale.type.shape[0] == channels),
                      reduction <= DynamicInt8.maxReduction else { continue }
                // A symmetric weight only: the integer kernels take no weight zero point.
                if product.input.count > 3, !product.input[3].isEmpty {
                    guard let point = constantInitializer(product.input[3]), point.type.elementType == .i8, point.hasConsistentSize,
                          let count = point.type.elementCount, (0..<count).allSatisfy({ point.integer(at: $0) == 0 }) else { continue }
                }
                groups[finalIndex] = DynamicProductGroup(innerNodes: [quantizeIndex, productIndex, castIndex, scaleIndex],
                                                         finalNode: finalIndex, activations: quantize.input[0],
                                                         weight: weightName, weightScale: weightScale, convolution: convolution)
                break
            }
        }
        return groups
    }

    /// An initializer's decoded constant (nil for a value computed by a node or given as an input).
    private func constantInitializer(_ name: String) -> Constant? {
        guard graphProto.initializer.contains(where: { $0.name == name }), case let .constant(constant)? = env[name] else { return nil }
        return constant
    }

    /// Imports a recognised group as `fused_matmul x, W' {transpose_b, activations = "per_tensor"}`, W' the weight
    /// transposed to `[N, K]` with one scale per output channel; a ConvInteger group as the int8 `conv2d x, W'` over
    /// the f32 input (quantized per tensor, `DynamicInt8.convolutionProblem`) with the ConvInteger's attributes.
    mutating func addDynamicProduct(_ group: DynamicProductGroup, index: Int) {
        let node = graphProto.node[index]
        let location = Location.onnxNode(model: modelName, index: index, name: node.name)
        guard let output = node.output.first, !output.isEmpty else { return }
        guard let x = env[group.activations], let weight = constantInitializer(group.weight),
              let scale = constantInitializer(group.weightScale) else {
            // The activations failed to import (reported there): the product fails with them.
            poisoned.insert(output)
            return
        }
        let stored = group.convolution ? int8ConvolutionWeight(weight, scale: scale) : int8ProductWeight(weight, scale: scale)
        // A convolution reads its attributes from the ConvInteger node.
        let attributes = group.convolution ? graphProto.node[group.innerNodes[1]].attribute : node.attribute
        var context = NodeContext(node: node, index: index, location: location, inputs: [x, .constant(stored)],
                                  attributes: NodeAttributes(attributes))
        do throws(NodeError) {
            let y: Slot
            if group.convolution {
                guard type(of: x).rank == 4 else {
                    throw NodeError("an int8 convolution needs a 4-D (NCHW) input, found \(type(of: x))")
                }
                y = try conv(&context, x: x, w: .constant(stored), bias: nil, name: output)
            } else {
                y = try emit(.fusedMatmul(transposeB: true, epilogue: [], activations: .perTensor), [x, .constant(stored)],
                             name: output, context)
            }
            env[output] = y
            definedBy[output] = location
        } catch {
            self.error(location, "the dynamically quantized product ending here: \(error.message)")
            poisoned.insert(output)
        }
    }
}

extension GraphBuilder {
    /// ONNX Runtime's contrib-op domain.
    static let microsoftDomain = "com.microsoft"

    /// The `com.microsoft` ops the frontend reads: the quantized products onnxruntime's graph optimizations write
    /// (a model saved after them), QLinearAdd and the QLinear ops of CNNs (quantize_static's QOperator format), with
    /// their arity as its contrib-op schemas give it.
    static let microsoftOperators: [String: ONNXOperator] = [
        "DynamicQuantizeMatMul": ONNXOperator(since(1, inputs: 3...5)) { try $0.convertDynamicQuantizeMatMul(&$1) },
        "MatMulIntegerToFloat": ONNXOperator(since(1, inputs: 4...7)) { try $0.convertMatMulIntegerToFloat(&$1) },
        "DynamicQuantizeLSTM": ONNXOperator(since(1, inputs: 3...12, outputs: 0...3)) { try $0.convertDynamicQuantizeLSTM(&$1) },
        "QLinearAdd": ONNXOperator(since(1, inputs: 7...8)) { try $0.convertQLinearAdd(&$1) },
        "QLinearLeakyRelu": ONNXOperator(since(1, inputs: 4...5)) { try $0.convertQLinearLeakyRelu(&$1) },
        "QLinearSigmoid": ONNXOperator(since(1, inputs: 4...5)) { try $0.convertQLinearSigmoid(&$1) },
        "QLinearConcat": ONNXOperator(since(1, inputs: 5...Int.max, required: ["axis"])) { try $0.convertQLinearConcat(&$1) },
        "QLinearGlobalAveragePool": ONNXOperator(since(1, inputs: 5...5)) { try $0.convertQLinearGlobalAveragePool(&$1) },
        "QLinearAveragePool": ONNXOperator(since(1, inputs: 4...5, required: ["kernel_shape"])) { try $0.convertQLinearAveragePool(&$1) },
        "QGemm": ONNXOperator(since(1, inputs: 6...9)) { try $0.convertQGemm(&$1) },
    ]

    /// A `[K, N]` int8 weight with its scale (one value or one per column) as the int8 product stores it: `[N, K]`,
    /// one scale per output channel, zero points 0.
    func int8ProductWeight(_ weight: Constant, scale: Constant) -> Constant {
        let (k, n) = (weight.type.shape[0], weight.type.shape[1])
        var bytes = [UInt8](repeating: 0, count: n * k)
        for row in 0..<k {
            for column in 0..<n { bytes[column * k + row] = weight.bytes[row * n + column] }
        }
        let scales = (0..<n).map { Float(scale.element(at: scale.type.elementCount == 1 ? 0 : $0)) }
        let type = TensorType([n, k], .i8, quant: QuantParams(axis: 0, scales: scales, zeroPoints: [Int64](repeating: 0, count: n)))
        return Constant(name: weight.name + ".t", type: type, bytes: bytes)
    }

    /// A ConvInteger's `[O, C/groups, KH, KW]` int8 weight with its scale (one value or one per output channel) as the
    /// int8 convolution stores it: the same bytes, one scale per output channel, zero points 0.
    func int8ConvolutionWeight(_ weight: Constant, scale: Constant) -> Constant {
        let channels = weight.type.shape[0]
        let scales = (0..<channels).map { Float(scale.element(at: scale.type.elementCount == 1 ? 0 : $0)) }
        let type = TensorType(weight.type.shape, .i8, quant: QuantParams(axis: 0, scales: scales, zeroPoints: [Int64](repeating: 0, count: channels)))
        return Constant(name: weight.name + ".int8", type: type, bytes: weight.bytes)
    }

    /// com.microsoft DynamicQuantizeMatMul(A, B, b_scale, b_zero_point?, bias?): A quantized to u8 per tensor as
    /// DynamicQuantizeLinear does, `(A_q − a_zero_point) · (B − b_zero_point)` in int32, times `a_scale · b_scale`,
    /// plus the bias — the per-tensor int8 product (`activations = "per_tensor"`) with a bias step. Read with a
    /// constant int8 B of rank 2, zero point 0 and a constant scale per tensor or per column.
    mutating func convertDynamicQuantizeMatMul(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let a = try n.input(0), b = try n.input(1), scale = try n.input(2)
        guard type(of: a).elementType == .f32 else {
            throw NodeError("DynamicQuantizeMatMul of \(type(of: a).elementType) A is not supported (only float32)")
        }
        guard case let .constant(weight) = b, weight.type.elementType == .i8, weight.type.rank == 2, weight.hasConsistentSize else {
            throw NodeError("DynamicQuantizeMatMul is read with B a constant 2-D int8 weight, found \(type(of: b)); quantize the weight as int8 (onnxruntime's default)")
        }
        let columns = weight.type.shape[1]
        guard case let .constant(scales) = scale, scales.type.elementType == .f32, scales.hasConsistentSize,
              scales.type.elementCount == 1 || (scales.type.rank == 1 && scales.type.shape[0] == columns) else {
            throw NodeError("b_scale of DynamicQuantizeMatMul must be a constant float32 scalar or [\(columns)], found \(type(of: scale))")
        }
        if let point = n.optionalInput(3), !isConstantZero(point) {
            throw NodeError("DynamicQuantizeMatMul with a non-zero b_zero_point is not supported: the int8 kernels take symmetric weights")
        }
        guard weight.type.shape[0] <= DynamicInt8.maxReduction else {
            throw NodeError("a reduction of \(weight.type.shape[0]) exceeds \(DynamicInt8.maxReduction), the longest the int32 accumulation keeps exact")
        }
        var operands: [Slot] = [a, .constant(int8ProductWeight(weight, scale: scales))]
        var epilogue: [EpilogueStep] = []
        if let bias = n.optionalInput(4) {
            operands.append(bias)
            epilogue.append(.bias)
        }
        return [try emit(.fusedMatmul(transposeB: true, epilogue: epilogue, activations: .perTensor), operands, name: n.outputName(0), n)]
    }

    /// com.microsoft MatMulIntegerToFloat(A, B, a_scale, b_scale, a_zero_point?, b_zero_point?, bias?):
    /// `(A − a_zero_point) · (B − b_zero_point)` in int32, cast to float, times `a_scale · b_scale`, plus the bias.
    /// When A, a_scale and a_zero_point are the three outputs of one DynamicQuantizeLinear of x and B a constant
    /// symmetric int8 weight, that is DynamicQuantizeMatMul(x, B, b_scale, bias) (`int8MatMulIntegerToFloat`);
    /// otherwise MatMulInteger's integer decomposition.
    mutating func convertMatMulIntegerToFloat(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        if let fused = try int8MatMulIntegerToFloat(n) { return [fused] }
        let a = try n.input(0), b = try n.input(1), aScale = try n.input(2), bScale = try n.input(3)
        for (what, slot) in [("a_scale", aScale), ("b_scale", bScale)] where type(of: slot).elementType != .f32 {
            throw NodeError("\(what) of MatMulIntegerToFloat must be float32, found \(type(of: slot).elementType)")
        }
        // The int32 product gets a name of its own: the node's output is the float result.
        var node = n.node
        node.output = [(n.outputName(0) ?? "matmul_integer") + ".int32"]
        var integer = NodeContext(node: node, index: n.index, location: n.location,
                                  inputs: [a, b, n.optionalInput(4), n.optionalInput(5)], attributes: NodeAttributes([]))
        guard let product = try convertMatMulInteger(&integer).first ?? nil else { throw NodeError("internal: MatMulInteger gave no result") }
        let floats = try emit(.cast, [product], declared: TensorType(type(of: product).shape, .f32), name: nil, n)
        let scale = try emit(.binary(.mul), [aScale, bScale], name: nil, n)
        guard let bias = n.optionalInput(6) else { return [try emit(.binary(.mul), [floats, scale], name: n.outputName(0), n)] }
        let scaled = try emit(.binary(.mul), [floats, scale], name: nil, n)
        return [try emit(.binary(.add), [scaled, bias], name: n.outputName(0), n)]
    }

    /// MatMulIntegerToFloat as the per-tensor dynamic int8 product, `fused_matmul %x, @B' {activations = "per_tensor"}`
    /// with a bias step when it has one: A, a_scale and a_zero_point the outputs of one DynamicQuantizeLinear of an f32
    /// x (which may feed other products too: they share x's quantized rows), B a constant 2-D int8 weight with zero
    /// point 0 (or none), b_scale a constant f32 per tensor or per column. The same quantization of x, the same exact
    /// integer sums, `f32(acc) · (a_scale · b_scale[n])` and the bias, as onnxruntime computes it. nil keeps the
    /// decomposition.
    private mutating func int8MatMulIntegerToFloat(_ n: NodeContext) throws(NodeError) -> Slot? {
        let names = n.node.input
        guard names.count >= 5, !names[4].isEmpty,
              let quantize = graphProto.node.first(where: { $0.output.count == 3 && $0.output[0] == names[0] }),
              quantize.opType == "DynamicQuantizeLinear", quantize.domain.isEmpty || quantize.domain == "ai.onnx",
              quantize.input.count == 1, quantize.output[1] == names[2], quantize.output[2] == names[4],
              let x = env[quantize.input[0]], type(of: x).elementType == .f32, type(of: x).rank >= 1,
              case let .constant(weight) = try n.input(1), weight.type.elementType == .i8, weight.type.rank == 2,
              weight.hasConsistentSize, weight.type.quant == nil, weight.type.shape[0] <= DynamicInt8.maxReduction,
              case let .constant(scales) = try n.input(3), scales.type.elementType == .f32, scales.hasConsistentSize,
              scales.type.elementCount == 1 || (scales.type.rank == 1 && scales.type.shape[0] == weight.type.shape[1]),
              n.optionalInput(5).map({ isConstant($0) && isConstantZero($0) }) ?? true else { return nil }
        var operands: [Slot] = [x, .constant(int8ProductWeight(weight, scale: scales))]
        var epilogue: [EpilogueStep] = []
        if let bias = n.optionalInput(6) {
            operands.append(bias)
            epilogue.append(.bias)
        }
        return try emit(.fusedMatmul(transposeB: true, epilogue: epilogue, activations: .perTensor), operands, name: n.outputName(0), n)
    }
}
