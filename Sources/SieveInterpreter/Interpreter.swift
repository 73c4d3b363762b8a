// The reference interpreter: evaluates a graph op by op with ONNX semantics, the oracle for passes and backends.
// `evaluate` computes one op (also used for constant folding); `run` walks a whole graph and frees dead values.

import SieveIR

/// Why one op could not be evaluated; `Interpreter.evaluate` turns it into a located diagnostic.
struct EvaluationError: Error {
    /// What went wrong, starting lowercase.
    var message: String
    init(_ message: String) { self.message = message }
}

/// Evaluates graphs, or single ops, on concrete tensors.
public struct Interpreter: Sendable {
    /// The graph this interpreter runs.
    public let graph: Graph
    /// Decoded results of the graph's const ops by op index, when made with `holdingConstants`.
    private let constantResults: [Int: Tensor]

    /// Makes an interpreter for a graph; the graph is checked as it runs, not here.
    public init(graph: Graph) {
        self.graph = graph
        constantResults = [:]
    }

    /// Makes an interpreter that decodes every constant once, here, and reuses the tensors in every
    /// `run`, instead of decoding (and unpacking nm weights) on each run: for running a graph over
    /// many batches, at the cost of holding the weights as decoded tensors.
    public init(graph: Graph, holdingConstants: Bool) throws {
        self.graph = graph
        guard holdingConstants else { constantResults = [:]; return }
        var results: [Int: Tensor] = [:]
        for (index, op) in graph.operations.enumerated() {
            guard case .constant = op.kind, op.results.count == 1, let result = op.results.first,
                  graph.values.indices.contains(result.index) else { continue }
            results[index] = try Interpreter.evaluate(op.kind, operands: [], resultType: graph.values[result.index].type,
                                                      constants: graph.constants, location: op.location)
        }
        constantResults = results
    }

    /// Runs the graph on inputs given in signature order and returns its outputs in order.
    ///
    /// Each input must have the shape and element type of its graph input; it takes on the
    /// graph input's full type (layout and quantization parameters). `observe`, when given, sees
    /// every value once as it is computed: graph inputs first (with a nil op), then each op's result.
    /// A value is freed after its last use, so observers that keep tensors keep them alive on purpose.
    public func run(_ inputs: [Tensor], observe: ((ValueID, Operation?, Tensor) -> Void)? = nil) throws -> [Tensor] {
        guard inputs.count == graph.inputs.count else {
            throw DiagnosticError(.error(graph.location, "graph @\(graph.name) takes \(graph.inputs.count) inputs, \(inputs.count) were given"))
        }
        var live = [Tensor?](repeating: nil, count: graph.values.count)
        let lastUse = lastUses()
        let isOutput = Set(graph.outputs)

        for (position, (id, input)) in zip(graph.inputs, inputs).enumerated() {
            guard let declared = graph.type(of: id) else {
                throw DiagnosticError(.error(graph.location, "graph input \(position) refers to \(id), which is not a value of the graph"))
            }
            guard input.shape == declared.shape, input.elementType == declared.elementType else {
                throw DiagnosticError(.error(graph.location, "input \(position) (\(graph.valueName(id))) must be \(declared.plain), found \(input.type.plain)"))
            }
            let tensor = input.retyped(declared)
            observe?(id, nil, tensor)
            live[id.index] = tensor
        }

        for (index, op) in graph.operations.enumerated() {
            guard op.results.count == 1, let result = op.results.first, live.indices.contains(result.index) else {
                throw DiagnosticError(.error(op.location, "op #\(index) must define exactly one value of the graph"))
            }
            var operands: [Tensor] = []
            operands.reserveCapacity(op.operands.count)
            for operand in op.operands {
                guard live.indices.contains(operand.index), let tensor = live[operand.index] else {
                    throw DiagnosticError(.error(op.location, "operand \(operand) of op #\(index) is not computed before the op; run the verifier first"))
                }
                operands.append(tensor)
            }
            let value = try constantResults[index] ?? Interpreter.evaluate(op.kind, operands: operands, resultType: graph.values[result.index].type,
                                                                           constants: graph.constants, location: op.location)
            observe?(result, op, value)
            live[result.index] = value
            // Free operands (and an unused result) whose last reader this op was, so peak memory
            // follows the graph's liveness rather than its size.
            for id in op.operands + [result] where lastUse[id.index] <= index && !isOutput.contains(id) {
                live[id.index] = nil
            }
        }

        return try graph.outputs.map { output in
            guard live.indices.contains(output.index), let tensor = live[output.index] else {
                throw DiagnosticError(.error(graph.location, "returned value \(output) is never computed"))
            }
            return tensor
        }
    }

    /// For each value, the index of the last op that reads it (-1 when no op reads it).
    private func lastUses() -> [Int] {
        var last = [Int](repeating: -1, count: graph.values.count)
        for (index, op) in graph.operations.enumerated() {
            for operand in op.operands where last.indices.contains(operand.index) { last[operand.index] = index }
        }
        return last
    }

    /// Evaluates one op on concrete operands.
    ///
    /// The operands are checked against the op's type rule and `resultType` must be the type the
    /// rule gives, so a folding pass can call this on any op without verifying first.
    /// - Parameters:
    ///   - kind: the op and its attributes.
    ///   - operands: operand values in order.
    ///   - resultType: the declared result type (needed by reshape, expand, cast and quantize).
    ///   - constants: the constant table, for `const`.
    ///   - location: where the op came from, for diagnostics.
    /// - Returns: the result, of type `resultType`.
    public static func evaluate(_ kind: OpKind, operands: [Tensor], resultType: TensorType, constants: ConstantTable,
                                location: Location = .unknown) throws -> Tensor {
        do {
            let expected: TensorType
            do {
                expected = try kind.resultType(operands: operands.map(\.type), declared: resultType, constants: constants)
            } catch {
                throw EvaluationError("\(kind.mnemonic): \(error.message)")
            }
            guard expected == resultType else {
                throw EvaluationError("\(kind.mnemonic): result type is \(resultType), but the operands give \(expected)")
            }
            return try compute(kind, operands, resultType, constants)
        } catch let error as EvaluationError {
            throw DiagnosticError(.error(location, error.message))
        } catch let error as DiagnosticError {
            throw DiagnosticError(error.diagnostics.map { diagnostic in
                var located = diagnostic
                if located.location == .unknown { located.location = location }
                return located
            })
        }
    }

    /// Dispatches to the kernel of each op; operands already satisfy the op's type rule.
    private static func compute(_ kind: OpKind, _ operands: [Tensor], _ resultType: TensorType,
                                _ constants: ConstantTable) throws -> Tensor {
        switch kind {
        case let .constant(id):
            guard let constant = constants[id] else { throw EvaluationError("constant #\(id.index) is not in the constant table") }
            return try Tensor(constant)
        case let .matmul(transposeB):
            return try matrixProduct(operands[0], operands[1], transposeB: transposeB, resultType: resultType)
        case let .gemm(alpha, beta, transposeA, transposeB):
            return try gemm(operands, alpha: alpha, beta: beta, transposeA: transposeA, transposeB: transposeB,
                            resultType: resultType)
        case let .fusedMatmul(transposeB, epilogue, activations):
            return try fusedMatrixProduct(operands, transposeB: transposeB, epilogue: epilogue, activations: activations,
                                          resultType: resultType)
        case let .conv2d(attributes):
            return try convolution(operands, attributes: attributes, resultType: resultType)
        case let .binary(function): return try binary(function, operands[0], operands[1], resultType: resultType)
        case let .unary(function): return unary(function, operands[0], resultType: resultType)
        case let .softmax(axis): return softmax(operands[0], axis: axis, resultType: resultType)
        case let .layerNorm(axis, epsilon):
            return layerNormalization(operands, axis: axis, epsilon: epsilon, resultType: resultType)
        case let .batchNorm(epsilon): return batchNormalization(operands, epsilon: epsilon, resultType: resultType)
        case let .reduce(function, axes, _): return reduce(function, operands[0], axes: axes, resultType: resultType)
        case let .argExtreme(largest, axis, _, selectLastIndex):
            return argExtreme(operands[0], largest: largest, axis: axis, selectLastIndex: selectLastIndex, resultType: resultType)
        case let .cumSum(axis, exclusive, reverse):
            return cumulativeSum(operands[0], axis: axis, exclusive: exclusive, reverse: reverse, resultType: resultType)
        case let .topK(k, axis, largest, output):
            return topK(operands[0], k: k, axis: axis, largest: largest, output: output, resultType: resultType)
        case let .logSoftmax(axis): return softmax(operands[0], axis: axis, logarithmic: true, resultType: resultType)
        case let .convTranspose2d(attributes):
            return convolutionTranspose(operands, attributes: attributes, resultType: resultType)
        case .reshape, .flatten, .squeeze, .unsqueeze:
            // Row-major order is unchanged; only the type differs.
            return operands[0].retyped(resultType)
        case let .transpose(permutation): return transpose(operands[0], permutation: permutation, resultType: resultType)
        case .expand: return broadcast(operands[0], to: resultType)
        case let .concat(axis): return concatenate(operands, axis: axis, resultType: resultType)
        case let .gather(axis): return try gather(operands[0], indices: operands[1], axis: axis, resultType: resultType)
        case let .slice(starts, _, axes, steps):
            return slice(operands[0], starts: starts, axes: axes, steps: steps, resultType: resultType)
        case .cast: return cast(operands[0], to: resultType)
        case .where: return try select(operands[0], operands[1], operands[2], resultType: resultType)
        case let .maxPool(attributes): return maxPool(operands[0], attributes: attributes, resultType: resultType)
        case let .averagePool(attributes): return averagePool(operands[0], attributes: attributes, resultType: resultType)
        case .globalAveragePool: return globalPool(operands[0], maximum: false, resultType: resultType)
        case .globalMaxPool: return globalPool(operands[0], maximum: true, resultType: resultType)
        case .quantize: return try quantize(operands[0], resultType: resultType)
        case .dequantize: return try dequantize(operands[0], resultType: resultType)
        case let .pad(pads, mode, value): return pad(operands[0], pads: pads, mode: mode, value: value, resultType: resultType)
        case let .resize(attributes): return resize(operands[0], attributes: attributes, resultType: resultType)
        case let .gatherElements(axis):
            return try gatherElements(operands[0], indices: operands[1], axis: axis, resultType: resultType)
        case let .gatherND(batchDims):
            return try gatherND(operands[0], indices: operands[1], batchDims: batchDims, resultType: resultType)
        case let .scatterElements(axis, reduction):
            return try scatterElements(operands[0], indices: operands[1], updates: operands[2], axis: axis,
                                       reduction: reduction, resultType: resultType)
        case let .scatterND(reduction):
            return try scatterND(operands[0], indices: operands[1], updates: operands[2], reduction: reduction,
                                 resultType: resultType)
        }
    }
}
