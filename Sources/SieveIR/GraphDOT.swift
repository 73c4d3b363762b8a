// Graph IR as Graphviz DOT, for looking at a graph rather than reading it: one node per op (kind, attributes,
// result shape, element type, layout, schedule), one edge per use of a value, inputs and outputs as their own nodes.

extension Graph {
    /// The graph as one Graphviz `digraph` (render with `dot -Tsvg`).
    ///
    /// Inputs are inverted houses, outputs houses, `const` ops (weights) grey rounded boxes and every other op a
    /// box; an edge goes from the node defining a value to each op (or output) using it, labelled with the value.
    public func dot() -> String {
        "digraph " + dotQuoted(name) + " {\n" + dotHeader + dotBody(prefix: "") + "}\n"
    }

    /// The statements of the graph (nodes and edges) with node IDs that start with `prefix`.
    func dotBody(prefix: String) -> String {
        var lines: [String] = []
        // The node that defines each value: a graph input or the op that returns it.
        var definer: [Int: String] = [:]
        for (position, id) in inputs.enumerated() {
            let node = "\(prefix)in\(position)"
            definer[id.index] = node
            lines.append("  \(node) [shape=invhouse, style=filled, fillcolor=\"#dbeafe\", label="
                         + dotQuoted(["input " + valueName(id), typeSummary(id)]) + "];")
        }
        for (index, op) in operations.enumerated() {
            let node = "\(prefix)op\(index)"
            for result in op.results { definer[result.index] = node }
            lines.append("  \(node) " + dotAttributes(of: op) + ";")
        }
        for (position, id) in outputs.enumerated() {
            lines.append("  \(prefix)out\(position) [shape=house, style=filled, fillcolor=\"#dcfce7\", label="
                         + dotQuoted(["output " + valueName(id), typeSummary(id)]) + "];")
        }
        func edge(from value: ValueID, to node: String) {
            // An operand that nothing defines is invalid IR; the verifier reports it, the view shows a dangling node.
            let source = definer[value.index] ?? "\(prefix)undefined\(value.index)"
            lines.append("  \(source) -> \(node) [label=" + dotQuoted(valueName(value)) + "];")
        }
        for (index, op) in operations.enumerated() {
            for operand in op.operands { edge(from: operand, to: "\(prefix)op\(index)") }
        }
        for (position, id) in outputs.enumerated() { edge(from: id, to: "\(prefix)out\(position)") }
        return lines.map { $0 + "\n" }.joined()
    }

    /// `[shape=…, label="…"]` for one op: its kind (or `const @handle`), attributes one per line, each result's
    /// type summary, and its schedule when the schedule pass has chosen one.
    private func dotAttributes(of op: Operation) -> String {
        var label: [String]
        var style = "shape=box"
        if case let .constant(id) = op.kind {
            let constant = constants[id]
            label = ["const " + sigil("@", constant?.name ?? "#\(id.index)")]
            if let request = constant?.sparsityRequest { label.append("sparsity = \(request)") }
            style = "shape=box, style=\"rounded,filled\", fillcolor=\"#f3f4f6\""
        } else {
            label = [op.kind.mnemonic] + op.kind.attributes.map { "\($0.0) = \($0.1)" }
        }
        for result in op.results { label.append(valueName(result) + ": " + typeSummary(result)) }
        if let schedule = op.schedule {
            // One line per field: a whole schedule with its estimate is too wide for a box.
            if case let .record(variant, fields) = schedule.attributeValue {
                label.append("schedule = \(variant)")
                label += fields.map { "  \($0.name) = \($0.value)" }
            } else {
                label.append("schedule = \(schedule.attributeValue)")
            }
            style = "shape=box, style=filled, fillcolor=\"#fef3c7\""
        }
        return "[\(style), label=" + dotQuoted(label) + "]"
    }

    /// `1x64 f32 dense`, `32x64 f32 nm 2:4`, with `quant` when the type carries quantization parameters.
    private func typeSummary(_ id: ValueID) -> String {
        guard let type = type(of: id) else { return "<invalid>" }
        let shape = type.shape.isEmpty ? "scalar" : type.shape.map(String.init).joined(separator: "x")
        let layout: String
        switch type.layout {
        case .dense: layout = "dense"
        case let .nm(n, m): layout = "nm \(n):\(m)"
        }
        return "\(shape) \(type.elementType.rawValue) \(layout)" + (type.quant == nil ? "" : " quant")
    }
}

extension Module {
    /// Every graph in one `digraph`: a single graph as `Graph.dot()` draws it, several as one cluster each.
    public func dot() -> String {
        if graphs.count == 1, let graph = graphs.first { return graph.dot() }
        var text = "digraph module {\n" + dotHeader
        for (index, graph) in graphs.enumerated() {
            text += "  subgraph cluster_\(index) {\n  label=" + dotQuoted("@" + graph.name) + ";\n"
            text += graph.dotBody(prefix: "g\(index)_")
            text += "  }\n"
        }
        return text + "}\n"
    }
}

/// Graph-wide defaults: top to bottom, monospaced labels.
private let dotHeader = """
      rankdir=TB;
      node [fontname="monospace", fontsize=10];
      edge [fontname="monospace", fontsize=9];

    """

/// Lines of a label as one DOT string: quotes and backslashes escaped, lines joined by `\n`, long lines cut.
private func dotQuoted(_ lines: [String]) -> String {
    dotQuoted(lines.map { $0.count > 96 ? String($0.prefix(93)) + "..." : $0 }.joined(separator: "\n"))
}

/// A DOT double-quoted string; a newline becomes DOT's centred line break `\n`.
private func dotQuoted(_ text: String) -> String {
    var quoted = "\""
    for character in text {
        switch character {
        case "\"": quoted += "\\\""
        case "\\": quoted += "\\\\"
        case "\n": quoted += "\\n"
        case "\r": break
        default: quoted.append(character)
        }
    }
    return quoted + "\""
}
