// fuse-qdq: turns the QDQ products of an imported quantized model (a matmul, gemm or conv2d of dequantized 8-bit
// operands) into static int8 products over the integers themselves, so that no f32 copy of an int8 weight is computed.

import SieveIR

/// Rewrites `matmul (dequantize %xq), (dequantize @w)` — `%xq` i8 or u8 with one scale and zero point (a
/// QuantizeLinear result or a quantized input), `@w` a 2-D int8 constant, symmetric (zero points 0), per tensor or
/// per output channel — into `fused_matmul %xq, @w'` with `transpose_b = true`, `@w'` the weight stored `[N, K]`
/// with one scale per output channel: the static form of `DynamicInt8`. A `gemm` (alpha 1, A not transposed) joins
/// the same way, its `c` (beta 1, one value per column) becoming a bias step.
///
/// A `conv2d (dequantize %xq), (dequantize @w) [, %bias]` with `@w` a 4-D symmetric int8 constant, per tensor or per
/// output channel, becomes the int8 convolution `conv2d %xq, @w' [, %bias]` (`DynamicInt8.convolutionProblem`),
/// `@w'` the same bytes with one scale per output channel.
///
/// With `keep-nm=N:M` (the compile pipeline passes the pattern of `--sparsity N:M`) a weight whose every group of M
/// along the reduction already holds at most N non-zeros is stored `nm<N:M>`, losslessly: the int8 product then runs
/// the N:M int8 kernel. Weights are never pruned here (the sparsity passes take f32 weights only).
///
/// Not exact, within f32 rounding: the graph as written sums the dequantized products in f32, the fused products
/// sum `(q − zero point) · w` exactly in integers and scales once, as ONNX Runtime's QLinearMatMul does. The
/// dequantize ops left without readers are removed. Runs first in the pipeline, before canonicalize folds
/// dequantized constant weights into f32 ones.
public struct FuseQDQ: ConfigurablePass {
    public let name = "fuse-qdq"

    /// The pattern an int8 weight already following it is stored in, or nil to keep every weight dense.
    public var keepNM: NMPattern?

    /// Makes the pass.
    public init(keepNM: NMPattern? = nil) {
        self.keepNM = keepNM
    }

    public var optionHelp: [(key: String, meaning: String)] {
        [("keep-nm", "N:M pattern an int8 weight that already follows it is stored in (losslessly)")]
    }

    public func configured(with options: [(key: String, value: String)]) throws(DiagnosticError) -> any GraphPass {
        let reader = PassOptionReader(pass: name, known: optionHelp)
        try reader.check(options)
        var pass = self
        for (key, value) in options where key == "keep-nm" {
            guard let pattern = NMPattern(value) else {
                throw DiagnosticError(.error(.unknown, "fuse-qdq option keep-nm must be a pattern N:M such as 2:4, found '\(value)'"))
            }
            pass.keepNM = pattern
        }
        return pass
    }

    public func run(on graph: inout Graph, context: inout PassContext) throws {
        var converted: [ConstantID: ValueID] = [:]
        var index = 0
        while index < graph.operations.count {
            let op = graph.operations[index]
            index += 1
            if case .conv2d = op.kind {
                index += fuseConvolution(at: index - 1, in: &graph, converted: &converted)
                continue
            }
            let transposeB: Bool
            var epilogue: [EpilogueStep] = []
            switch op.kind {
            case let .matmul(transpose) where op.operands.count == 2:
                transposeB = transpose
            case let .gemm(alpha, beta, transposeA: false, transpose) where alpha == 1:
                transposeB = transpose
                if op.operands.count == 3 {
                    guard beta == 1 else { continue }
                    epilogue = [.bias]
                }
            default:
                continue
            }
            let defining = graph.definingOps()
            guard let result = op.results.first, let resultType = graph.type(of: result), resultType.elementType == .f32,
                  let activations = dequantized(op.operands[0], graph, defining), let activationType = graph.type(of: activations),
                  activationType.elementType == .i8 || activationType.elementType == .u8,
                  let quant = activationType.quant, quant.axis == nil, quant.scales.count == 1,
                  let weightValue = dequantized(op.operands[1], graph, defining),
                  let weightOp = defining[weightValue.index], case let .constant(id) = graph.operations[weightOp].kind,
                  let weight = graph.constants[id], var stored = Self.productWeight(weight, transposeB: transposeB) else { continue }
            if let pattern = keepNM, NMPacking.layoutProblem(shape: stored.type.shape, elementType: .i8, pattern: pattern) == nil,
               NMPacking.firstViolation(denseBytes: stored.bytes, shape: stored.type.shape, elementType: .i8, pattern: pattern) == nil,
               let packed = try? NMPacking.pack(stored, pattern: pattern) {
                stored = packed
            }
            let (newWeight, inserted) = Self.weightValue(stored, of: id, definedAt: weightOp, insertingAt: index - 1, in: &graph, converted: &converted)
            index += inserted
            let operands = [activations, newWeight] + op.operands.dropFirst(2)
            let kind = OpKind.fusedMatmul(transposeB: true, epilogue: epilogue)
            let types = operands.compactMap { graph.type(of: $0) }
            // The bias must fit the fused form (one value per output column); otherwise the product stays as written.
            guard types.count == operands.count,
                  (try? kind.resultType(operands: types, declared: resultType, constants: graph.constants)) == resultType else { continue }
            graph.operations[index - 1] = Operation(kind, operands: operands, results: op.results, location: op.location)
        }
        DeadCodeElimination.removeDeadOps(&graph)
    }

    /// Rewrites the conv2d at `index` into the int8 convolution when its input and weight are dequantized (the input
    /// i8/u8 per tensor, the weight a constant symmetric i8 per tensor or per output channel); returns how many ops
    /// it inserted before `index` (the new weight constant), 0 when the conv2d stays as written.
    private func fuseConvolution(at index: Int, in graph: inout Graph, converted: inout [ConstantID: ValueID]) -> Int {
        let op = graph.operations[index]
        let defining = graph.definingOps()
        guard let result = op.results.first, let resultType = graph.type(of: result), resultType.elementType == .f32,
              let activations = dequantized(op.operands[0], graph, defining),
              let weightValue = dequantized(op.operands[1], graph, defining),
              let weightOp = defining[weightValue.index], case let .constant(id) = graph.operations[weightOp].kind,
              let weight = graph.constants[id], let stored = Self.convolutionWeight(weight) else { return 0 }
        let (newWeight, inserted) = Self.weightValue(stored, of: id, definedAt: weightOp, insertingAt: index, in: &graph, converted: &converted)
        let operands = [activations, newWeight] + op.operands.dropFirst(2)
        let types = operands.compactMap { graph.type(of: $0) }
        // Anything the int8 convolution does not take (a weight with zero points, an f16 bias) stays as written.
        guard types.count == operands.count,
              (try? op.kind.resultType(operands: types, declared: resultType, constants: graph.constants)) == resultType else { return inserted }
        graph.operations[index + inserted] = Operation(op.kind, operands: operands, results: op.results, location: op.location)
        return inserted
    }

    /// The value of `stored`, the int8 form of constant `id` (whose const op is at `weightOp`): the one an earlier
    /// reader made, or a new const op inserted at `position`; with how many ops were inserted (0 or 1).
    private static func weightValue(_ stored: Constant, of id: ConstantID, definedAt weightOp: Int, insertingAt position: Int,
                                    in graph: inout Graph, converted: inout [ConstantID: ValueID]) -> (value: ValueID, inserted: Int) {
        if let existing = converted[id] { return (existing, 0) }
        let location = graph.operations[weightOp].location
        let value = graph.addValue(stored.type, name: nil)
        graph.operations.insert(Operation(.constant(graph.constants.add(stored)), operands: [], results: [value], location: location),
                                at: position)
        converted[id] = value
        return (value, 1)
    }

    /// A conv2d weight as the int8 convolution stores it: i8 `[O, C/groups, KH, KW]`, one scale per output channel,
    /// zero points 0; nil when `weight` is not a dense, symmetric 4-D int8 constant per tensor or per output channel.
    static func convolutionWeight(_ weight: Constant) -> Constant? {
        guard weight.type.elementType == .i8, weight.type.rank == 4, weight.type.layout == .dense, let quant = weight.type.quant,
              quant.zeroPoints.allSatisfy({ $0 == 0 }), weight.hasConsistentSize else { return nil }
        let channels = weight.type.shape[0]
        let scales: [Float]
        switch quant.axis {
        case nil where quant.scales.count == 1: scales = [Float](repeating: quant.scales[0], count: channels)
        case 0?: scales = quant.scales
        default: return nil
        }
        let type = TensorType(weight.type.shape, .i8, quant: QuantParams(axis: 0, scales: scales, zeroPoints: [Int64](repeating: 0, count: channels)))
        return Constant(name: weight.name + ".int8", type: type, bytes: weight.bytes)
    }

    /// The quantized operand `value` dequantizes, when it is a `dequantize` result.
    private func dequantized(_ value: ValueID, _ graph: Graph, _ defining: [Int?]) -> ValueID? {
        guard let op = defining[value.index], case .dequantize = graph.operations[op].kind else { return nil }
        return graph.operations[op].operands.first
    }

    /// The weight as the int8 product stores it: i8 `[N, K]`, one scale per output channel, zero points 0; nil when
    /// `weight` is not a dense, symmetric 2-D int8 constant quantized per tensor or per output channel.
    static func productWeight(_ weight: Constant, transposeB: Bool) -> Constant? {
        guard weight.type.elementType == .i8, weight.type.rank == 2, weight.type.layout == .dense, let quant = weight.type.quant,
              quant.zeroPoints.allSatisfy({ $0 == 0 }), weight.hasConsistentSize else { return nil }
        let (n, k) = transposeB ? (weight.type.shape[0], weight.type.shape[1]) : (weight.type.shape[1], weight.type.shape[0])
        guard k <= DynamicInt8.maxReduction else { return nil }
        let scales: [Float]
        switch quant.axis {
        case nil where quant.scales.count == 1: scales = [Float](repeating: quant.scales[0], count: n)
        case (transposeB ? 0 : 1)?: scales = quant.scales
        default: return nil
        }
        var bytes = weight.bytes
        if !transposeB {
            for row in 0..<k {
                for column in 0..<n { bytes[column * k + row] = weight.bytes[row * n + column] }
            }
        }
        let type = TensorType([n, k], .i8, quant: QuantParams(axis: 0, scales: scales, zeroPoints: [Int64](repeating: 0, count: n)))
        return Constant(name: weight.name + (transposeB ? ".int8" : ".int8.t"), type: type, bytes: bytes)
    }
}
