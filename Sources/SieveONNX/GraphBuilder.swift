// Builds the IR graph from an ONNX GraphProto: initializers, inputs with fixed shapes, nodes in order, outputs.
// Errors are collected per node and the nodes that depend on a failed one are skipped, so one import reports everything.

import Foundation
import SieveIR

/// What an ONNX tensor name stands for while the graph is built.
enum Slot {
    /// A value computed by an op or given as a graph input.
    case value(ValueID)
    /// A constant not yet placed in the graph: placed (once) when a non-folded op reads it.
    case constant(Constant)
}

/// The state of one import: the graph so far and what every ONNX name stands for.
struct GraphBuilder {
    let modelName: String
    let baseDirectory: String?
    let opset: Int
    /// The model's IR version: before 2 attributes may leave `type` unset, up to 3 initializers must be inputs.
    let irVersion: Int
    /// The model's opset imports, by domain as the model spells it.
    let domains: [String: Int64]
    let graphProto: Onnx_GraphProto

    var graph: Graph
    var diagnostics: [Diagnostic] = []
    var inputNames: [String] = []
    var outputNames: [String] = []

    /// What each defined ONNX name stands for.
    var env: [String: Slot] = [:]
    /// The node that defined each name, so a constant placed later (a folded graph output) keeps its location.
    var definedBy: [String: Location] = [:]
    /// Names whose producer failed; their consumers are skipped without another message.
    var poisoned: Set<String> = []
    /// Constants already placed as `const` ops, by constant name, with their type.
    var placed: [String: (type: TensorType, value: ValueID, constant: ConstantID)] = [:]
    /// Value names in use, so that every printed `%name` stays unique.
    private var valueNames: Set<String> = []
    /// Sizes the importer chose for symbolic input dimensions (1 for a batch dimension): a dimension computed
    /// from one cannot be compared with a fixed declaration.
    var substitutedSizes: Set<Int> = []
    /// The size given to a symbolic batch dimension: 1, or another size when the importer infers again to tell a
    /// dimension that follows the batch from one that is fixed (see ``ambiguousDeclarations``).
    var symbolicBatchSize = 1
    /// Declared dimensions that differ from the inferred ones only where the inferred size is a substituted one, so
    /// the comparison was left open: a second inference with another batch size settles them.
    var ambiguousDeclarations: [AmbiguousDeclaration] = []
    /// Whether declared types are checked; off for that second inference, whose sizes differ from the declared ones
    /// wherever the batch flows, and whose only use is to settle the first one's open comparisons.
    var checksDeclarations = true
    /// Names whose shape follows from values computed at import (constants folded from other ops, shapes
    /// read with Shape, the branch an If takes), and everything computed from them: onnx's shape inference,
    /// which does not propagate values, cannot know these shapes, so declarations are not compared with them.
    var shapeFromValues: Set<String> = []
    /// Names read by some node or graph output.
    private(set) var consumed: Set<String> = []

    init(modelName: String, baseDirectory: String?, opset: Int, irVersion: Int, domains: [String: Int64],
         graphProto: Onnx_GraphProto) {
        self.modelName = modelName
        self.baseDirectory = baseDirectory
        self.opset = opset
        self.irVersion = irVersion
        self.domains = domains
        self.graphProto = graphProto
        let stem = (modelName as NSString).deletingPathExtension
        self.graph = Graph(name: graphProto.name.isEmpty ? stem : graphProto.name,
                           location: ModelLocation.whole(modelName))
    }

    var modelLocation: Location { ModelLocation.whole(modelName) }

    mutating func error(_ location: Location, _ message: String) {
        diagnostics.append(.error(location, message))
    }

    /// Builds the whole graph; errors land in `diagnostics`.
    mutating func build(inputShapes: [String: [Int]], constantInputs: [String: Constant] = [:]) {
        // Names read inside subgraphs (If branches) count too: a branch may read an outer value.
        consumed = namesRead(by: graphProto)
        if graphProto.name.isEmpty && checksDeclarations {
            // Found by the fuzzing campaign: onnx's checker requires every graph to have a name.
            error(modelLocation, "the model's graph has no name; onnx's checker requires every graph to be named: give it one")
        }

        addInitializers()
        addInputs(inputShapes: inputShapes, constantInputs: constantInputs)

        var producers: [String: Int] = [:]
        for (index, node) in graphProto.node.enumerated() {
            for name in node.output where !name.isEmpty && producers[name] == nil { producers[name] = index }
        }
        // quantize_dynamic's products become int8 fused_matmuls: their inner nodes are not converted on their own.
        let quantizedProducts = dynamicProductGroups()
        let fusedNodes = Set(quantizedProducts.values.flatMap(\.innerNodes))
        for (index, node) in graphProto.node.enumerated() {
            if let group = quantizedProducts[index] {
                addDynamicProduct(group, index: index)
            } else if !fusedNodes.contains(index) {
                addNode(node, index: index, producers: producers)
            }
        }
        addOutputs()
        checkDeclaredTypes(shapesChosen: !inputShapes.isEmpty || !constantInputs.isEmpty)
    }

    // MARK: Initializers and inputs

    private mutating func addInitializers() {
        for tensor in graphProto.initializer {
            guard !tensor.name.isEmpty else {
                error(modelLocation, "an initializer has no name")
                continue
            }
            guard env[tensor.name] == nil, !poisoned.contains(tensor.name) else {
                error(modelLocation, "initializer '\(tensor.name)' is defined twice")
                continue
            }
            do {
                env[tensor.name] = .constant(try decodeTensor(tensor, name: tensor.name, baseDirectory: baseDirectory))
            } catch {
                self.error(modelLocation, "initializer '\(tensor.name)': \(error.message)")
                poisoned.insert(tensor.name)
            }
        }
        if irVersion <= 3 {
            let inputs = Set(graphProto.input.map(\.name))
            for tensor in graphProto.initializer where !tensor.name.isEmpty && !inputs.contains(tensor.name) {
                error(modelLocation, "initializer '\(tensor.name)' is not listed as a graph input, which ONNX IR version \(irVersion) requires (from version 4 on it need not be); list it, or set the model's IR version to 4 or newer")
            }
        }
        if !graphProto.sparseInitializer.isEmpty {
            error(modelLocation, "sparse initializers are not supported; store the weights densely (Sieve finds N:M sparsity in dense weights)")
        }
    }

    private mutating func addInputs(inputShapes: [String: [Int]], constantInputs: [String: Constant]) {
        // `listed` finds names listed twice; `seen` holds the inputs that are not initializers.
        var listed: Set<String> = [], seen: Set<String> = []
        let initializers = Set(graphProto.initializer.map(\.name))
        for input in graphProto.input {
            let name = input.name
            guard !name.isEmpty else {
                error(modelLocation, "a graph input has no name")
                continue
            }
            guard listed.insert(name).inserted else {
                error(modelLocation, "graph input '\(name)' is listed twice; input names must be unique")
                continue
            }
            // An initializer of the same name is the input's default value (before IR version 4 every
            // initializer was also listed as an input): the initializer is read, and must fit the declaration.
            if initializers.contains(name) {
                if case let .constant(constant)? = env[name], let problem = declarationProblem(input, constant.type) {
                    error(modelLocation, "graph input '\(name)' \(problem)")
                }
                continue
            }
            seen.insert(name)
            if let constant = constantInputs[name] {
                // The value is bound at import: check it against the declaration, then treat it as an initializer.
                switch inputType(input, given: constant.type.shape) {
                case let .success(type) where type.elementType == constant.type.elementType && constant.hasConsistentSize:
                    env[name] = .constant(Constant(name: name, type: type, bytes: constant.bytes))
                case .success:
                    error(modelLocation, "the value bound to input '\(name)' is \(constant.type), which does not match the input's element type")
                    poisoned.insert(name)
                case let .failure(failure):
                    error(modelLocation, failure.message)
                    poisoned.insert(name)
                }
                continue
            }
            switch inputType(input, given: inputShapes[name]) {
            case let .success(type):
                let id = graph.addInput(type, name: uniqueValueName(name))
                env[name] = .value(id)
                inputNames.append(name)
            case let .failure(failure):
                error(modelLocation, failure.message)
                poisoned.insert(name)
            }
        }
        for name in Set(inputShapes.keys).union(constantInputs.keys).sorted() where !seen.contains(name) {
            let known = graphProto.input.map(\.name).filter { env[$0].map { if case .value = $0 { true } else { false } } ?? false }
            let flag = inputShapes[name] != nil ? "--input-shape" : "--bind"
            error(modelLocation, "\(flag) names '\(name)', which is not an input of the model (inputs: \(known.joined(separator: ", ")))")
        }
    }

    /// The input's type with every dimension fixed, from the model and the given shape.
    private mutating func inputType(_ input: Onnx_ValueInfoProto, given: [Int]?) -> Result<TensorType, NodeError> {
        let name = input.name
        guard case let .tensorType(tensorType)? = input.type.value else {
            return .failure(NodeError("input '\(name)' is not a tensor; sequence, map, optional and sparse inputs are not supported"))
        }
        let elementType: ElementType
        do {
            elementType = try requireElementType(onnxCode: tensorType.elemType, "input '\(name)'")
        } catch {
            return .failure(NodeError(error.message))
        }
        // nil marks a symbolic or missing dimension; the String is its name for messages.
        var declared: [(Int?, String)] = []
        if tensorType.hasShape {
            guard tensorType.shape.dim.count <= TensorLimits.maxRank else {
                return .failure(NodeError("input '\(name)' has rank \(tensorType.shape.dim.count), more than the limit of \(TensorLimits.maxRank)"))
            }
            for dim in tensorType.shape.dim {
                switch dim.value {
                case let .dimValue(value)? where value == -1:
                    // PaddlePaddle's exporter declares dynamic dimensions as -1: read it as a symbolic one.
                    declared.append((nil, "-1"))
                case let .dimValue(value)?:
                    guard value >= 0, value <= Int64(TensorType.maxElementCount) else {
                        return .failure(NodeError("input '\(name)' declares dimension \(value), which is negative or absurd"))
                    }
                    declared.append((Int(value), String(value)))
                case let .dimParam(param)?:
                    declared.append((nil, param.isEmpty ? "?" : param))
                default:
                    declared.append((nil, "?"))
                }
            }
        }
        let declaredText = "[" + declared.map { $0.0.map(String.init) ?? $0.1 }.joined(separator: "x") + "]"
        var shape: [Int]
        if let given {
            if tensorType.hasShape {
                guard given.count == declared.count else {
                    return .failure(NodeError("the shape \(shapeString(given)) given for input '\(name)' (by --input-shape or an input file) has rank \(given.count), but the model declares input '\(name)' with rank \(declared.count) \(declaredText)"))
                }
                for (axis, (dim, _)) in declared.enumerated() {
                    if let dim, dim != given[axis] {
                        return .failure(NodeError("the shape \(shapeString(given)) given for input '\(name)' (by --input-shape or an input file) contradicts the model: dimension \(axis) of input '\(name)' is \(dim) \(declaredText), not \(given[axis])"))
                    }
                }
            }
            shape = given
        } else {
            guard tensorType.hasShape else {
                return .failure(NodeError("input '\(name)' has no declared shape; pass one with --input-shape \(name)=1x128 (dimensions separated by 'x')"))
            }
            shape = []
            var unknown: [Int] = []
            for (axis, (dim, _)) in declared.enumerated() {
                if let dim {
                    shape.append(dim)
                } else if axis == 0 {
                    shape.append(symbolicBatchSize)
                    substitutedSizes.insert(symbolicBatchSize)
                    diagnostics.append(Diagnostic(.note, modelLocation,
                        "input '\(name)' has a symbolic batch dimension '\(declared[0].1)'; using \(symbolicBatchSize) (pass --input-shape \(name)=... to choose another)"))
                } else {
                    shape.append(-1)
                    unknown.append(axis)
                }
            }
            if !unknown.isEmpty {
                let example = shape.map { $0 < 0 ? "128" : String($0) }.joined(separator: "x")
                let names = unknown.map { "\($0) ('\(declared[$0].1)')" }.joined(separator: ", ")
                return .failure(NodeError("input '\(name)' \(declaredText) has unknown dimension\(unknown.count > 1 ? "s" : "") \(names); pass its full shape with --input-shape \(name)=\(example)"))
            }
        }
        let type = TensorType(shape, elementType)
        if let problem = validate(type) {
            return .failure(NodeError("input '\(name)' with shape \(shapeString(shape)): \(problem)"))
        }
        return .success(type)
    }

    // MARK: Nodes

    /// Converts one node into ops, or records why it cannot be.
    ///
    /// - Parameter scope: how locations name the graph the node is in: the model name for the main
    ///   graph, the enclosing node and branch for a subgraph (`model.onnx: node #3 'If_0' then_branch`).
    mutating func addNode(_ node: Onnx_NodeProto, index: Int, producers: [String: Int], scope: String? = nil) {
        let location = Location.onnxNode(model: scope ?? modelName, index: index, name: node.name)
        func poisonOutputs() {
            for name in node.output where !name.isEmpty { poisoned.insert(name) }
        }
        let domain = node.domain == "ai.onnx" ? "" : node.domain
        let domainText = domain.isEmpty ? "ai.onnx" : domain
        if domain.isEmpty, domains[node.domain] == nil {
            let imported = domains[""] != nil ? "''" : "'ai.onnx'"
            error(location, "op '\(node.opType)' names the default domain as '\(node.domain)', but the model imports it as \(imported); spell the node's domain as the opset import does")
            poisonOutputs()
            return
        }
        let microsoft = domain == GraphBuilder.microsoftDomain && domains[domain] != nil
            && GraphBuilder.microsoftOperators[node.opType] != nil
        if !domain.isEmpty && !microsoft {
            if let version = domains[domain] {
                error(location, "op '\(node.opType)' of domain '\(domain)' (opset \(version)) is not supported; Sieve reads the default ONNX domain only")
            } else {
                error(location, "op '\(node.opType)' uses domain '\(domain)', which the model does not import and Sieve does not support")
            }
            poisonOutputs()
            return
        }
        guard microsoft || ONNXImporter.supportedOps.contains(node.opType) else {
            if node.opType == "Loop" || node.opType == "Scan" {
                error(location, "op '\(node.opType)' (opset \(opset)) is not supported: Sieve compiles graphs without run-time loops; only If whose condition folds at import is read")
            } else {
                error(location, "op '\(node.opType)' (domain '\(domainText)', opset \(opset)) is not supported; docs/onnx-support.md lists the ops Sieve reads")
            }
            reportUnsupportedNodes(inSubgraphsOf: node, location: location)
            poisonOutputs()
            return
        }
        // The node's shape against its op's schema (onnx's checker makes the same checks), before any converter
        // reads it: a converter may ignore an input, an output or an attribute that is not there to be read.
        let irVersion = self.irVersion
        if let entry = microsoft ? GraphBuilder.microsoftOperators[node.opType] : GraphBuilder.operators[node.opType],
           let problem = node.attribute.lazy.compactMap({ attributeFieldProblem($0, of: node.opType, irVersion: irVersion) }).first
            ?? signatureProblem(node, entry) {
            error(location, problem)
            poisonOutputs()
            return
        }

        var inputs: [Slot?] = []
        var skip = false
        for name in node.input {
            if name.isEmpty {
                inputs.append(nil)
            } else if let slot = env[name] {
                inputs.append(slot)
            } else if poisoned.contains(name) {
                skip = true
            } else if let producer = producers[name], producer >= index {
                error(location, "input '\(name)' is produced by node #\(producer), which does not come before this node: the graph is not in topological order or has a cycle")
                skip = true
            } else {
                error(location, "input '\(name)' is not a graph input, an initializer or the output of an earlier node")
                skip = true
            }
        }
        for name in node.output where !name.isEmpty {
            if env[name] != nil || poisoned.contains(name) {
                error(location, "output '\(name)' is already defined (by a graph input, an initializer or an earlier node); value names must be unique")
                skip = true
            }
        }
        if Set(node.output.filter { !$0.isEmpty }).count != node.output.filter({ !$0.isEmpty }).count {
            error(location, "the node lists one output name twice")
            skip = true
        }
        if skip {
            poisonOutputs()
            return
        }
        if let entry = microsoft ? GraphBuilder.microsoftOperators[node.opType] : GraphBuilder.operators[node.opType],
           !entry.takesNarrowTypes, let narrow = inputs.compactMap({ $0 }).map({ type(of: $0).elementType }).first(where: \.isNarrow) {
            error(location, "\(node.opType) of \(narrow) is not supported: ONNX allows int4, uint4, int2, uint2, float8 and float4 only in QuantizeLinear, DequantizeLinear, Cast and data movement ops; dequantize or cast the value first")
            poisonOutputs()
            return
        }

        var context = NodeContext(node: node, index: index, location: location, inputs: inputs,
                                  attributes: NodeAttributes(node.attribute))
        do throws(NodeError) {
            if let duplicate = context.attributes.duplicates.first {
                throw NodeError("attribute '\(duplicate)' is given twice")
            }
            let outputs = try convert(&context)
            let unread = context.attributes.unread
            if !unread.isEmpty {
                throw NodeError("attribute\(unread.count > 1 ? "s" : "") \(unread.map { "'\($0)'" }.joined(separator: ", ")) of \(node.opType) \(unread.count > 1 ? "are" : "is") not supported")
            }
            let readsComputedShape = node.opType == "If" || node.input.contains { shapeFromValues.contains($0) }
            for (slot, name) in zip(outputs, node.output) where !name.isEmpty {
                if let slot {
                    env[name] = slot
                    definedBy[name] = location
                    if case .constant = slot, node.opType != "Constant" {
                        shapeFromValues.insert(name)
                    } else if readsComputedShape {
                        shapeFromValues.insert(name)
                    }
                } else if consumed.contains(name) {
                    throw NodeError("output '\(name)' of \(node.opType) is used, but Sieve computes only the first output")
                } else {
                    poisoned.insert(name)
                }
            }
            for name in node.output.dropFirst(outputs.count) where !name.isEmpty {
                if consumed.contains(name) {
                    throw NodeError("output '\(name)' of \(node.opType) is used, but Sieve does not compute it")
                }
                poisoned.insert(name)
            }
        } catch {
            if !error.alreadyReported { self.error(location, error.message) }
            for name in node.output where !name.isEmpty {
                env[name] = nil
                poisoned.insert(name)
            }
        }
    }

    // MARK: Outputs

    private mutating func addOutputs() {
        for output in graphProto.output {
            let name = output.name
            if let value = output.type.value, case .tensorType = value {} else if output.hasType {
                error(modelLocation, "graph output '\(name)' is not a tensor; sequence, map, optional and sparse outputs are not supported")
                continue
            }
            guard let slot = env[name] else {
                if !poisoned.contains(name) {
                    error(modelLocation, "graph output '\(name)' is not produced by any node, input or initializer")
                }
                continue
            }
            let id = place(slot, location: definedBy[name] ?? modelLocation)
            graph.outputs.append(id)
            outputNames.append(name)
        }
        if graphProto.output.isEmpty {
            error(modelLocation, "the graph has no outputs")
        }
    }

    // MARK: Values and ops

    /// The type of what a slot stands for.
    func type(of slot: Slot) -> TensorType {
        switch slot {
        case let .value(id): return graph.values[id.index].type
        case let .constant(constant): return constant.type
        }
    }

    /// A value name not used yet, or nil when the name is taken (the value then prints as `%N`).
    mutating func uniqueValueName(_ name: String?) -> String? {
        guard let name, !name.isEmpty, valueNames.insert(name).inserted else { return nil }
        return name
    }

    /// The value a slot stands for, placing a `const` op the first time a constant is read.
    mutating func place(_ slot: Slot, location: Location) -> ValueID {
        switch slot {
        case let .value(id):
            return id
        case let .constant(constant):
            // Folded constants not yet placed can share a generated name: reuse only the same contents.
            if let existing = placed[constant.name], existing.type == constant.type,
               graph.constants[existing.constant]?.bytes == constant.bytes {
                return existing.value
            }
            let constantID = graph.constants.add(constant)
            let id = graph.append(.constant(constantID), [], constant.type, name: uniqueValueName(constant.name),
                                  location: location)
            placed[constant.name] = (constant.type, id, constantID)
            return id
        }
    }

    /// Adds an op (or folds it when every operand is constant) and returns its result.
    ///
    /// The result type comes from the op's IR type rule, so shapes are inferred here and ONNX
    /// value_info is never trusted.
    mutating func emit(_ kind: OpKind, _ operands: [Slot], declared: TensorType? = nil, name: String?,
                       _ context: NodeContext) throws(NodeError) -> Slot {
        let resultType: TensorType
        do {
            resultType = try kind.resultType(operands: operands.map(type(of:)), declared: declared, constants: graph.constants)
        } catch {
            throw NodeError("\(context.node.opType) maps to \(kind.mnemonic), which refuses these operands: \(error.message)")
        }
        let constants = operands.compactMap { slot -> Constant? in
            if case let .constant(constant) = slot { return constant } else { return nil }
        }
        if constants.count == operands.count, foldsAtImport(kind), let count = resultType.elementCount,
           count <= ONNXImporter.maxFoldedElements {
            let folded = try fold(kind, constants, resultType: resultType,
                                  name: name ?? graph.constants.freshName("folded"), location: context.location)
            return .constant(folded)
        }
        let ids = operands.map { place($0, location: context.location) }
        return .value(graph.append(kind, ids, resultType, name: uniqueValueName(name), location: context.location))
    }
}

/// Whether an op with all-constant operands is replaced by its value during import (the `foldsAtImport` trait).
func foldsAtImport(_ kind: OpKind) -> Bool { kind.traits.contains(.foldsAtImport) }

/// Spells a shape as on the command line: `1x128`.
func shapeString(_ shape: [Int]) -> String {
    shape.isEmpty ? "scalar" : shape.map(String.init).joined(separator: "x")
}

/// One node being converted: the proto, where it is, its input slots and its attributes.
struct NodeContext {
    let node: Onnx_NodeProto
    let index: Int
    let location: Location
    /// One entry per listed input; nil for an omitted optional input (empty name).
    let inputs: [Slot?]
    var attributes: NodeAttributes

    /// The output name at `index`, or nil.
    func outputName(_ index: Int) -> String? {
        node.output.indices.contains(index) && !node.output[index].isEmpty ? node.output[index] : nil
    }

    /// The optional input at `index`, or nil when it is absent.
    func optionalInput(_ index: Int) -> Slot? {
        inputs.indices.contains(index) ? inputs[index] : nil
    }

    /// The required input at `index`.
    func input(_ index: Int) throws(NodeError) -> Slot {
        guard let slot = optionalInput(index) else {
            throw NodeError("\(node.opType) needs input \(index), which is missing")
        }
        return slot
    }
}
