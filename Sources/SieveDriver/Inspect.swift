// `sieve inspect`: a report on a model's interface, ops, parameters and arithmetic per layer.
// The same function serves the CLI and the tests.

import SieveIR

/// What `sieve inspect` was asked to do.
public struct InspectRequest: Sendable {
    /// The model file (`.onnx` or `.sir`).
    public var path: String
    /// Shapes for inputs with dynamic dimensions, by input name.
    public var inputShapes: [String: [Int]]
    /// Append the imported graph IR to the report.
    public var printIR: Bool
    /// Inputs turned into constants at import (`--bind`), by input name.
    public var bindings: [String: InputBinding] = [:]
    /// The report (`text`), or the imported graph as Graphviz DOT or SVG instead of it.
    public var format: GraphViewFormat = .text

    /// Makes a request.
    public init(path: String, inputShapes: [String: [Int]] = [:], printIR: Bool = false) {
        self.path = path
        self.inputShapes = inputShapes
        self.printIR = printIR
    }
}

/// What `sieve inspect` produced.
public struct InspectResult: Sendable {
    /// The report text, or the graph view that `format` asked for.
    public var report: String
    /// Notes and warnings from loading the model.
    public var diagnostics: [Diagnostic]
}

/// Runs `sieve inspect` in process.
public func runInspect(_ request: InspectRequest) throws(DiagnosticError) -> InspectResult {
    // A missing Graphviz is said before the model is read.
    if request.format == .svg { try GraphView.requireDot() }
    let model = try loadModel(path: request.path, inputShapes: request.inputShapes, bindings: request.bindings)
    let graph = model.graph
    switch request.format {
    case .text: break
    case .dot: return InspectResult(report: graph.dot(), diagnostics: model.diagnostics)
    case .svg: return InspectResult(report: try GraphView.svg(fromDOT: graph.dot()), diagnostics: model.diagnostics)
    }
    var lines: [String] = []
    lines.append("model: \(request.path) (\(model.format)), graph @\(graph.name)")
    lines.append("inputs:")
    for (name, id) in zip(model.inputNames, graph.inputs) {
        lines.append("  \(name): \(graph.values[id.index].type)")
    }
    if !model.boundInputs.isEmpty {
        lines.append("bound at import (no longer inputs): " + model.boundInputs.joined(separator: ", "))
    }
    lines.append("outputs:")
    for (name, id) in zip(model.outputNames, graph.outputs) {
        lines.append("  \(name): \(graph.values[id.index].type)")
    }

    var histogram: [String: Int] = [:]
    for op in graph.operations { histogram[op.kind.mnemonic, default: 0] += 1 }
    lines.append("ops: \(graph.operations.count)")
    let width = histogram.keys.map(\.count).max() ?? 0
    for (mnemonic, count) in histogram.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }) {
        lines.append("  " + mnemonic.padding(toLength: width, withPad: " ", startingAt: 0) + "  \(count)")
    }

    var parameters = 0, parameterBytes = 0
    for constant in graph.constants.entries {
        parameters += constant.type.elementCount ?? 0
        parameterBytes += constant.bytes.count
    }
    lines.append("parameters: \(parameters) elements in \(graph.constants.entries.count) constants, \(parameterBytes) bytes")

    lines.append("FLOPs per layer (a multiply-add counts as 2):")
    var total = 0, other = 0, otherOps = 0
    for (index, op) in graph.operations.enumerated() {
        let count = flops(of: op, in: graph)
        total += count
        guard isLayer(op.kind) else {
            if count > 0 {
                other += count
                otherOps += 1
            }
            continue
        }
        lines.append("  op #\(index) \(op.kind.mnemonic) \(sourceName(op.location)): \(count)")
    }
    lines.append("  \(otherOps) elementwise, normalization and pooling ops: \(other)")
    lines.append("  total: \(total)")
    var report = lines.joined(separator: "\n") + "\n"
    if request.printIR { report += "\n" + graph.print(options: PrintOptions(elideConstantsLargerThan: denseLiteralLimit)) }
    return InspectResult(report: report, diagnostics: model.diagnostics)
}

/// Ops reported one by one: those with weights.
private func isLayer(_ kind: OpKind) -> Bool {
    switch kind {
    case .matmul, .gemm, .fusedMatmul, .conv2d: return true
    default: return false
    }
}

/// How the model names an op: its ONNX node, or its line in a textual IR file.
private func sourceName(_ location: Location) -> String {
    switch location {
    case let .onnxNode(_, index, name): return name.isEmpty ? "(node #\(index))" : "(node #\(index) '\(name)')"
    case let .file(_, line, _): return line > 0 ? "(line \(line))" : ""
    case .unknown: return ""
    }
}

/// Floating-point operations of one op: 2 per multiply-add for products and convolutions, one per
/// result element for elementwise ops (a few per element for normalizations, window size for pooling),
/// none for data movement.
func flops(of op: Operation, in graph: Graph) -> Int {
    func type(_ index: Int) -> TensorType? {
        op.operands.indices.contains(index) ? graph.type(of: op.operands[index]) : nil
    }
    guard let result = op.results.first.flatMap(graph.type(of:)), let outputs = result.elementCount else { return 0 }
    let inputs = type(0)?.elementCount ?? 0
    switch op.kind {
    case .matmul, .fusedMatmul:
        guard let a = type(0), let k = a.shape.last else { return 0 }
        return 2 * outputs * k
    case let .gemm(_, _, transposeA, _):
        guard let a = type(0), a.rank == 2 else { return 0 }
        return 2 * outputs * (transposeA ? a.shape[0] : a.shape[1]) + (op.operands.count > 2 ? outputs : 0)
    case .conv2d:
        guard let w = type(1), w.rank == 4 else { return 0 }
        return 2 * outputs * w.shape[1] * w.shape[2] * w.shape[3] + (op.operands.count > 2 ? outputs : 0)
    case .binary, .unary, .where, .quantize, .dequantize:
        return outputs
    case .softmax, .layerNorm, .batchNorm, .logSoftmax:
        return 5 * outputs
    case .reduce, .globalAveragePool, .globalMaxPool, .argExtreme, .cumSum:
        return inputs
    case let .topK(k, _, _, _):
        return inputs * max(k, 1)  // selection: one pass over the line per kept element
    case .convTranspose2d:
        guard let w = type(1), w.rank == 4 else { return 0 }
        return 2 * inputs * w.shape[1] * w.shape[2] * w.shape[3] + (op.operands.count > 2 ? outputs : 0)
    case let .maxPool(attributes), let .averagePool(attributes):
        return outputs * attributes.kernel.reduce(1, *)
    case .constant, .reshape, .transpose, .flatten, .squeeze, .unsqueeze, .expand, .concat, .gather, .slice, .cast:
        return 0
    case .pad, .gatherElements, .gatherND, .scatterElements, .scatterND:
        return 0
    case let .resize(attributes):
        // Linear: one multiply-add per corner of each interpolated axis, about 3 per result element in 1-D and 2-D.
        return attributes.mode == .linear ? 3 * outputs : 0
    }
}
