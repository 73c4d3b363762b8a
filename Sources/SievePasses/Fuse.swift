// fuse: folds the bias add, activation and residual add that follow a matrix product into one
// fused_matmul with an epilogue, so that backends apply them while the product is still in registers.

import SieveIR

/// Rewrites `matmul`/`gemm` followed by single-use bias adds, activations and residual adds into
/// `fused_matmul`. Exact: the epilogue computes the same operations in the same order.
///
/// A chain grows while the current value has exactly one reader and is not a graph output:
/// - `add` with a row vector (`[N]` or `[1, N]` for a result whose last dimension is `N`) → `bias`;
/// - `add` with a value of the result's own shape → `residual_add`;
/// - `relu`, `gelu`, `sigmoid`, `tanh`, `leaky_relu`, `clip` → that activation.
/// A `gemm` joins when it is a plain product (alpha 1, beta 1, A not transposed); its `c` becomes
/// the first bias or residual step; a `fused_matmul` keeps its steps and appends those that follow. The fused op takes the place of the chain's last op, where
/// every operand it reads is already defined. Then an int8 product read only by a `quantize` takes it as a last
/// `quantize` step (`foldRequantization`).
public struct Fuse: GraphPass {
    public let name = "fuse"

    /// Makes the pass.
    public init() {}

    public func run(on graph: inout Graph, context: inout PassContext) throws {
        var index = 0
        while index < graph.operations.count {
            fuseChain(startingAt: index, in: &graph)
            index += 1
        }
        Fuse.foldRequantization(&graph)
        DeadCodeElimination.removeDeadOps(&graph)
    }

    /// Folds each `quantize` (8-bit, one scale and zero point) whose operand is an int8 product's result read by
    /// nothing else into that product as a last `quantize` epilogue step: the product then writes the quantized
    /// values itself, not f32 values for a separate kernel to read back. Exact: the step computes what the op did.
    /// The quantize pass calls it too, for the quantize ops its static activations add.
    public static func foldRequantization(_ graph: inout Graph) {
        let uses = graph.useCounts(), outputs = Set(graph.outputs)
        var producers: [ValueID: Int] = [:]
        var folded: Set<Int> = []
        for (index, op) in graph.operations.enumerated() {
            for result in op.results { producers[result] = index }
            guard case .quantize = op.kind, let value = op.operands.first, let result = op.results.first,
                  uses[value.index] == 1, !outputs.contains(value), let producer = producers[value],
                  case let .fusedMatmul(transposeB, steps, activations) = graph.operations[producer].kind,
                  !steps.contains(.quantize), let weight = graph.type(of: graph.operations[producer].operands[1]),
                  DynamicInt8.isDynamicInt8(weight: weight), let resultType = graph.type(of: result) else { continue }
            let kind = OpKind.fusedMatmul(transposeB: transposeB, epilogue: steps + [.quantize], activations: activations)
            let product = graph.operations[producer]
            let operandTypes = product.operands.compactMap { graph.type(of: $0) }
            guard operandTypes.count == product.operands.count,
                  (try? kind.resultType(operands: operandTypes, declared: resultType, constants: graph.constants)) == resultType
            else { continue }
            graph.operations[producer] = Operation(kind, operands: product.operands, results: [result], location: product.location)
            folded.insert(index)
        }
        guard !folded.isEmpty else { return }
        graph.operations = graph.operations.enumerated().filter { !folded.contains($0.offset) }.map(\.element)
    }

    /// Fuses the chain that starts at the product at `start`, if there is one.
    private func fuseChain(startingAt start: Int, in graph: inout Graph) {
        let product = graph.operations[start]
        guard let productResult = product.results.first, let resultType = graph.type(of: productResult),
              resultType.elementType.isFloat else { return }
        var steps: [EpilogueStep] = []
        var extras: [ValueID] = []
        let transposeB: Bool
        var activations = ActivationQuantization.perRow, alreadyFused = false
        switch product.kind {
        case let .matmul(transpose):
            transposeB = transpose
        case let .fusedMatmul(transpose, existing, scheme):
            // A product fused already (an imported quantized product) takes the steps that follow it as well.
            transposeB = transpose
            activations = scheme
            steps = existing
            extras = Array(product.operands.dropFirst(2))
            alreadyFused = true
        case let .gemm(alpha, beta, transposeA, transpose) where alpha == 1 && beta == 1 && !transposeA:
            transposeB = transpose
            if product.operands.count == 3 {
                guard let step = addStep(for: product.operands[2], resultType: resultType, in: graph) else { return }
                steps.append(step)
                extras.append(product.operands[2])
            }
        default:
            return
        }

        let uses = graph.useCounts()
        let isOutput = Set(graph.outputs)
        var readers: [ValueID: Int] = [:]
        for (index, op) in graph.operations.enumerated() where index > start {
            for operand in op.operands where readers[operand] == nil { readers[operand] = index }
        }

        var current = productResult
        var last = start
        while uses[current.index] == 1, !isOutput.contains(current), let next = readers[current] {
            let op = graph.operations[next]
            guard let result = op.results.first, graph.type(of: result) == resultType else { break }
            if case .binary(.add) = op.kind, op.operands.count == 2 {
                let other = op.operands[0] == current ? op.operands[1] : op.operands[0]
                guard other != current, let step = addStep(for: other, resultType: resultType, in: graph) else { break }
                steps.append(step)
                extras.append(other)
            } else if let activation = activation(of: op.kind) {
                steps.append(.activation(activation))
            } else {
                break
            }
            current = result
            last = next
        }
        // A fused product that nothing followed stays as it is.
        guard !steps.isEmpty, last != start || !alreadyFused else { return }

        let kind = OpKind.fusedMatmul(transposeB: transposeB, epilogue: steps, activations: activations)
        let operands = Array(product.operands.prefix(2)) + extras
        let operandTypes = operands.compactMap { graph.type(of: $0) }
        guard operandTypes.count == operands.count,
              (try? kind.resultType(operands: operandTypes, declared: resultType, constants: graph.constants)) == resultType
        else { return }
        graph.operations[last] = Operation(kind, operands: operands, results: [current], location: graph.operations[last].location)
    }

    /// The epilogue step that adds `value` to a product of type `resultType`, or nil if neither fits.
    private func addStep(for value: ValueID, resultType: TensorType, in graph: Graph) -> EpilogueStep? {
        guard let type = graph.type(of: value), type.elementType == resultType.elementType, type.layout == .dense,
              let columns = resultType.shape.last else { return nil }
        if type.shape == resultType.shape { return .residualAdd }
        if type.shape == [columns] || type.shape == [1, columns] { return .bias }
        return nil
    }

    /// The activation an elementwise op computes, if it is one an epilogue can apply (the `activation` trait).
    private func activation(of kind: OpKind) -> UnaryFunction? {
        guard case let .unary(function) = kind, kind.traits.contains(.activation) else { return nil }
        return function
    }
}
