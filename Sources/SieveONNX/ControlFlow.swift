// ONNX control flow at import: an If whose condition is a constant once shapes are fixed and inputs bound
// is replaced by the branch it takes; any other If, and Loop and Scan, is refused naming every unsupported node inside.

import SieveIR

/// The names every node of `graph` and of its subgraphs reads, and the graph's outputs.
func namesRead(by graph: Onnx_GraphProto) -> Set<String> {
    var names = Set(graph.output.map(\.name))
    for node in graph.node {
        for name in node.input where !name.isEmpty { names.insert(name) }
        for subgraph in subgraphs(of: node) { names.formUnion(namesRead(by: subgraph.graph)) }
    }
    return names
}

/// The graphs a node holds in attributes (If's branches, Loop's and Scan's bodies), with the attribute names.
func subgraphs(of node: Onnx_NodeProto) -> [(name: String, graph: Onnx_GraphProto)] {
    var result: [(String, Onnx_GraphProto)] = []
    for attribute in node.attribute {
        if attribute.hasG { result.append((attribute.name, attribute.g)) }
        for (index, graph) in attribute.graphs.enumerated() { result.append(("\(attribute.name)[\(index)]", graph)) }
    }
    return result
}

/// The op types of a graph's nodes and of every node in its subgraphs (bare names in the default domain).
func opTypes(in graph: Onnx_GraphProto) -> Set<String> {
    var types: Set<String> = []
    for node in graph.node {
        types.insert(node.domain.isEmpty || node.domain == "ai.onnx" ? node.opType : node.domain + ":" + node.opType)
        for subgraph in subgraphs(of: node) { types.formUnion(opTypes(in: subgraph.graph)) }
    }
    return types
}

extension GraphBuilder {
    /// The deepest subgraph nesting inlined; deeper is refused as absurd.
    static let maxSubgraphDepth = 64

    /// ONNX If: the condition must fold to a constant; the branch it selects is inlined.
    mutating func convertIf(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        guard let thenBranch = try n.attributes.graph("then_branch"), let elseBranch = try n.attributes.graph("else_branch") else {
            throw NodeError("If needs the graph attributes 'then_branch' and 'else_branch'")
        }
        let condition = try n.input(0)
        guard case let .constant(constant) = condition else {
            reportUnsupportedNodes(inSubgraphsOf: n.node, location: n.location)
            throw NodeError("the condition of If must be a constant once input shapes are fixed, but it is computed at run time; Sieve inlines the branch of an If whose condition folds (from shapes, constants, or inputs bound with --bind NAME=VALUE)")
        }
        guard constant.type.elementCount == 1, constant.hasConsistentSize else {
            throw NodeError("the condition of If must hold one element, found \(constant.type)")
        }
        let takesThen = constant.element(at: 0) != 0
        let branch = takesThen ? thenBranch : elseBranch
        guard branch.output.count == n.node.output.count else {
            throw NodeError("the \(takesThen ? "then" : "else") branch of If has \(branch.output.count) outputs, but the node has \(n.node.output.count)")
        }
        return try inline(branch, scope: "\(n.location) \(takesThen ? "then_branch" : "else_branch")")
    }

    /// Adds a subgraph's initializers and nodes to the graph being built, reading outer-scope names as they
    /// are; returns what each of its outputs stands for. Names local to the subgraph are forgotten afterwards.
    private mutating func inline(_ subgraph: Onnx_GraphProto, scope: String) throws(NodeError) -> [Slot?] {
        guard scope.components(separatedBy: "_branch").count <= GraphBuilder.maxSubgraphDepth else {
            throw NodeError("subgraphs nest more than \(GraphBuilder.maxSubgraphDepth) deep")
        }
        guard subgraph.input.isEmpty else {
            throw NodeError("an If branch with inputs is not valid ONNX (branches read outer names instead)")
        }
        let outerNames = Set(env.keys)
        let outerPoisoned = poisoned
        let errorsBefore = diagnostics.filter { $0.severity == .error }.count
        let location = Location.file(path: scope, line: 0, column: 0)
        for tensor in subgraph.initializer {
            guard !tensor.name.isEmpty, env[tensor.name] == nil else {
                error(location, "initializer '\(tensor.name)' of the branch has no name or redefines a name")
                continue
            }
            do {
                env[tensor.name] = .constant(try decodeTensor(tensor, name: tensor.name, baseDirectory: baseDirectory))
            } catch {
                self.error(location, "initializer '\(tensor.name)': \(error.message)")
                poisoned.insert(tensor.name)
            }
        }
        var producers: [String: Int] = [:]
        for (index, node) in subgraph.node.enumerated() {
            for name in node.output where !name.isEmpty && producers[name] == nil { producers[name] = index }
        }
        for (index, node) in subgraph.node.enumerated() {
            addNode(node, index: index, producers: producers, scope: scope)
        }
        let outputs = subgraph.output.map { env[$0.name] }
        let failed = diagnostics.filter { $0.severity == .error }.count > errorsBefore
            || subgraph.output.contains { env[$0.name] == nil }
        // Branch-local names go out of scope; the If's own output names are bound by the caller.
        for name in Set(env.keys).subtracting(outerNames) {
            env[name] = nil
            placed[name] = nil
        }
        poisoned = outerPoisoned
        if failed {
            var error = NodeError("the branch taken could not be imported")
            error.alreadyReported = diagnostics.filter { $0.severity == .error }.count > errorsBefore
            throw error
        }
        return outputs
    }

    /// One error per node inside the node's subgraphs (recursively) that Sieve cannot read, so a refused
    /// If or Loop says which ops its bodies need. Nested Ifs are not errors by themselves: they could fold.
    mutating func reportUnsupportedNodes(inSubgraphsOf node: Onnx_NodeProto, location: Location) {
        for (attribute, graph) in subgraphs(of: node) {
            let scope = "\(location) \(attribute)"
            for (index, inner) in graph.node.enumerated() {
                let innerLocation = Location.onnxNode(model: scope, index: index, name: inner.name)
                let defaultDomain = inner.domain.isEmpty || inner.domain == "ai.onnx"
                if !defaultDomain {
                    error(innerLocation, "op '\(inner.opType)' of domain '\(inner.domain)' is not supported; Sieve reads the default ONNX domain only")
                } else if !ONNXImporter.supportedOps.contains(inner.opType) {
                    error(innerLocation, "op '\(inner.opType)' (domain 'ai.onnx', opset \(opset)) is not supported; docs/onnx-support.md lists the ops Sieve reads")
                }
                reportUnsupportedNodes(inSubgraphsOf: inner, location: innerLocation)
            }
        }
    }
}
