// The structure-aware ONNX mutator of the fuzzing campaign: edits a decoded model where byte flips rarely land
// intact (attributes, arity, element types, dimensions, names, external data, opsets, subgraphs) and re-encodes it.

import Foundation
import SieveONNX
import SieveTestSupport

/// Structural mutations of ONNX models, driven by a seeded generator so a case reproduces from its seed.
public enum ONNXMutator {
    /// Files the campaign's data folder holds for external data to point at (name and size in bytes).
    public static let dataFiles: [(name: String, bytes: Int)] = [("weights.bin", 4096), ("empty.bin", 0), ("sub/nested.bin", 64)]

    static let interestingIntegers: [Int64] = [-1, -2, 0, 1, 2, 3, 4, 7, 16, 1 << 20, 1 << 31, 1 << 40, Int64.max, Int64.min]
    static let interestingFloats: [Float] = [0, -0, 1, -1, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .infinity, -.infinity, .nan, 0.5]
    static let elementTypes: [Int32] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 21, 99, -1]

    /// One mutant of a serialized model: decoded, edited one to three times, re-encoded; nil when `bytes` is not a
    /// model (the caller then falls back to byte mutations).
    public static func mutate(_ bytes: [UInt8], _ random: inout SplitMix64) -> [UInt8]? {
        guard var model = try? Onnx_ModelProto(serializedBytes: bytes) else { return nil }
        for _ in 0...random.below(3) { edit(&model, &random) }
        return try? [UInt8](model.serializedData())
    }

    static func pick<T>(_ items: [T], _ random: inout SplitMix64) -> T? { items.isEmpty ? nil : items[random.below(items.count)] }

    /// One edit of a model: mostly of its main graph, sometimes of its opsets, or of a subgraph it holds.
    static func edit(_ model: inout Onnx_ModelProto, _ random: inout SplitMix64) {
        switch random.below(12) {
        case 0:  // opset: another version, an unknown domain, none at all, or two for one domain
            if model.opsetImport.isEmpty || random.below(4) == 0 {
                var opset = Onnx_OperatorSetIdProto()
                opset.version = pick(interestingIntegers, &random) ?? 1
                model.opsetImport.append(opset)
            } else {
                let index = random.below(model.opsetImport.count)
                switch random.below(3) {
                case 0: model.opsetImport[index].version = pick([1, 6, 7, 9, 11, 13, 17, 21, 22, 23, 99, -1, 0], &random) ?? 13
                case 1: model.opsetImport[index].domain = pick(["ai.onnx.ml", "com.microsoft", "x", "ai.onnx"], &random) ?? "x"
                default: model.opsetImport.remove(at: index)
                }
            }
        case 1:  // IR version
            model.irVersion = pick([0, 1, 3, 7, 9, 10, 11, 99, -1], &random) ?? 0
        default:
            // A subgraph when the model has one (If/Loop/Scan bodies), else the main graph.
            if random.below(3) == 0, editSubgraph(&model.graph, &random) { return }
            editGraph(&model.graph, &random)
        }
    }

    /// Edits one subgraph attribute somewhere in `graph`; false when there is none.
    static func editSubgraph(_ graph: inout Onnx_GraphProto, _ random: inout SplitMix64) -> Bool {
        var places: [(node: Int, attribute: Int)] = []
        for (n, node) in graph.node.enumerated() {
            for (a, attribute) in node.attribute.enumerated() where attribute.hasG { places.append((n, a)) }
        }
        guard let place = pick(places, &random) else { return false }
        editGraph(&graph.node[place.node].attribute[place.attribute].g, &random)
        return true
    }

    /// One edit of a graph's nodes, initializers, inputs or outputs.
    static func editGraph(_ graph: inout Onnx_GraphProto, _ random: inout SplitMix64) {
        switch random.below(16) {
        case 0: editAttribute(&graph, &random)
        case 1: editAttribute(&graph, &random)
        case 2:  // arity: drop, duplicate or add an input or output of a node
            guard let n = pick(Array(graph.node.indices), &random) else { return }
            switch random.below(5) {
            case 0: if !graph.node[n].input.isEmpty { graph.node[n].input.remove(at: random.below(graph.node[n].input.count)) }
            case 1: if let input = pick(graph.node[n].input, &random) { graph.node[n].input.append(input) }
            case 2: graph.node[n].input.append(pick(["", "x", graph.input.first?.name ?? "", "nowhere"], &random) ?? "")
            case 3: if !graph.node[n].output.isEmpty { graph.node[n].output.remove(at: random.below(graph.node[n].output.count)) }
            default: graph.node[n].output.append(pick(["", "extra", graph.node[n].output.first ?? ""], &random) ?? "")
            }
        case 3:  // another claimed op type, keeping inputs and attributes (wrong arity and attributes)
            let ops = ONNXImporter.supportedOps.sorted() + ["If", "Loop", "Scan", "NoSuchOp"]
            if let n = pick(Array(graph.node.indices), &random) { graph.node[n].opType = pick(ops, &random) ?? "Relu" }
        case 4:  // element types of initializers, inputs or outputs
            let code = pick(elementTypes, &random) ?? 0
            switch random.below(3) {
            case 0: if let i = pick(Array(graph.initializer.indices), &random) { graph.initializer[i].dataType = code }
            case 1: if let i = pick(Array(graph.input.indices), &random) { graph.input[i].type.tensorType.elemType = code }
            default: if let i = pick(Array(graph.output.indices), &random) { graph.output[i].type.tensorType.elemType = code }
            }
        case 5:  // declared dimensions of inputs and outputs: values, symbols, missing or extra dimensions
            let isInput = random.below(2) == 0
            var infos = isInput ? graph.input : graph.output
            guard let i = pick(Array(infos.indices), &random) else { return }
            var dims = infos[i].type.tensorType.shape.dim
            switch random.below(4) {
            case 0: if let d = pick(Array(dims.indices), &random) { dims[d].dimValue = pick(interestingIntegers, &random) ?? 0 }
            case 1: if let d = pick(Array(dims.indices), &random) { dims[d].dimParam = pick(["N", "", "batch", "N"], &random) ?? "N" }
            case 2: if !dims.isEmpty { dims.remove(at: random.below(dims.count)) }
            default:
                var dim = Onnx_TensorShapeProto.Dimension()
                dim.dimValue = pick(interestingIntegers, &random) ?? 1
                dims.insert(dim, at: random.below(dims.count + 1))
            }
            infos[i].type.tensorType.shape.dim = dims
            switch random.below(16) {
            case 0: infos[i].type.tensorType.clearShape()
            case 1: infos[i].type.tensorType.clearElemType()
            case 2: infos[i].clearType()
            default: break
            }
            if isInput { graph.input = infos } else { graph.output = infos }
        case 6:  // initializer dimensions against its data
            guard let i = pick(Array(graph.initializer.indices), &random) else { return }
            if let d = pick(Array(graph.initializer[i].dims.indices), &random), random.below(3) > 0 {
                graph.initializer[i].dims[d] = pick(interestingIntegers, &random) ?? 0
            } else {
                graph.initializer[i].dims = (0..<random.below(4)).map { _ in pick(interestingIntegers, &random) ?? 1 }
            }
        case 7:  // initializer data: truncated raw bytes, data moved between fields, or dropped
            guard let i = pick(Array(graph.initializer.indices), &random) else { return }
            switch random.below(4) {
            case 0: graph.initializer[i].rawData = graph.initializer[i].rawData.prefix(random.below(graph.initializer[i].rawData.count + 1))
            case 1: graph.initializer[i].floatData = (0..<random.below(5)).map { _ in pick(interestingFloats, &random) ?? 0 }
            case 2: graph.initializer[i].int64Data = (0..<random.below(5)).map { _ in pick(interestingIntegers, &random) ?? 0 }
            default: graph.initializer[i].rawData = Data()
            }
        case 8: editExternalData(&graph, &random)
        case 9:  // names: duplicate, empty, renamed definitions, undefined references
            switch random.below(5) {
            case 0:
                if let a = pick(Array(graph.node.indices), &random), let b = pick(graph.node, &random), let name = b.output.first {
                    graph.node[a].output = [name]
                }
            case 1: if let i = pick(Array(graph.initializer.indices), &random) { graph.initializer[i].name = pick(["", graph.input.first?.name ?? "", "dup"], &random) ?? "" }
            case 2: if let i = pick(Array(graph.output.indices), &random) { graph.output[i].name = pick(["nowhere", "", graph.input.first?.name ?? ""], &random) ?? "" }
            case 3: if let n = pick(Array(graph.node.indices), &random), !graph.node[n].input.isEmpty {
                graph.node[n].input[random.below(graph.node[n].input.count)] = pick(["nowhere", "", "../x", "a\u{0}b"], &random) ?? ""
            }
            default: if let i = pick(Array(graph.input.indices), &random) { graph.input[i].name = pick(["", "x y", graph.output.first?.name ?? ""], &random) ?? "" }
            }
        case 10:  // order: a use before its definition, or a cycle
            if let a = pick(Array(graph.node.indices), &random), let b = pick(Array(graph.node.indices), &random) { graph.node.swapAt(a, b) }
        case 11:  // drop a node, an initializer, an input or an output
            switch random.below(4) {
            case 0: if !graph.node.isEmpty { graph.node.remove(at: random.below(graph.node.count)) }
            case 1: if !graph.initializer.isEmpty { graph.initializer.remove(at: random.below(graph.initializer.count)) }
            case 2: if !graph.input.isEmpty { graph.input.remove(at: random.below(graph.input.count)) }
            default: if !graph.output.isEmpty { graph.output.remove(at: random.below(graph.output.count)) }
            }
        case 12: wrapInIf(&graph, &random)
        case 13:  // the domain of a node
            if let n = pick(Array(graph.node.indices), &random) { graph.node[n].domain = pick(["", "ai.onnx", "com.microsoft", "ai.onnx.ml", "x"], &random) ?? "" }
        case 14:  // a value_info entry that disagrees with what the node produces
            guard let name = pick(graph.node.flatMap(\.output), &random) else { return }
            var info = Onnx_ValueInfoProto()
            info.name = name
            info.type.tensorType.elemType = pick(elementTypes, &random) ?? 1
            for _ in 0..<random.below(4) {
                var dim = Onnx_TensorShapeProto.Dimension()
                dim.dimValue = pick(interestingIntegers, &random) ?? 1
                info.type.tensorType.shape.dim.append(dim)
            }
            graph.valueInfo.append(info)
        default:  // a node copied with its outputs renamed: more work of the same kind
            guard let n = pick(Array(graph.node.indices), &random) else { return }
            var copy = graph.node[n]
            copy.output = copy.output.map { $0 + "_copy" }
            copy.name += "_copy"
            graph.node.insert(copy, at: min(graph.node.count, n + 1))
        }
    }

    /// Changes one attribute of one node: its type, its value, its name; drops it or adds one.
    static func editAttribute(_ graph: inout Onnx_GraphProto, _ random: inout SplitMix64) {
        guard let n = pick(Array(graph.node.indices), &random) else { return }
        if graph.node[n].attribute.isEmpty || random.below(6) == 0 {
            var attribute = Onnx_AttributeProto()
            attribute.name = pick(["axis", "perm", "alpha", "transB", "kernel_shape", "pads", "strides", "group", "to", "mode", "unknown"], &random) ?? "axis"
            attribute.type = .int
            attribute.i = pick(interestingIntegers, &random) ?? 0
            graph.node[n].attribute.append(attribute)
            return
        }
        let a = random.below(graph.node[n].attribute.count)
        var attribute = graph.node[n].attribute[a]
        switch random.below(7) {
        case 0: attribute.i = pick(interestingIntegers, &random) ?? 0
        case 1: attribute.f = pick(interestingFloats, &random) ?? 0
        case 2:
            if attribute.ints.isEmpty || random.below(3) == 0 {
                attribute.ints = (0..<random.below(6)).map { _ in pick(interestingIntegers, &random) ?? 0 }
            } else {
                attribute.ints[random.below(attribute.ints.count)] = pick(interestingIntegers, &random) ?? 0
            }
        case 3:  // the declared type against the field that holds the value
            attribute.type = pick([.undefined, .float, .int, .string, .tensor, .graph, .floats, .ints, .strings], &random) ?? .int
        case 4: attribute.s = Data((pick(["", "NOTSET", "SAME_UPPER", "constant", "reflect", "nearest", "\u{FF}"], &random) ?? "").utf8)
        case 5: attribute.name = pick(["", "axis", "axes", attribute.name + "x"], &random) ?? ""
        default:
            graph.node[n].attribute.remove(at: a)
            return
        }
        graph.node[n].attribute[a] = attribute
    }

    /// Moves an initializer's data out to a file of the data folder, or points it somewhere it must not go.
    static func editExternalData(_ graph: inout Onnx_GraphProto, _ random: inout SplitMix64) {
        guard let i = pick(Array(graph.initializer.indices), &random) else { return }
        func entry(_ key: String, _ value: String) -> Onnx_StringStringEntryProto {
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        let locations = dataFiles.map(\.name) + ["missing.bin", "../weights.bin", "/etc/passwd", "sub/../weights.bin", "", ".", "sub"]
        var entries = [entry("location", pick(locations, &random) ?? "weights.bin")]
        if random.below(2) == 0 { entries.append(entry("offset", String(pick(interestingIntegers + [8, 64, 4096], &random) ?? 0))) }
        if random.below(2) == 0 { entries.append(entry("length", String(pick(interestingIntegers + [48, 4096], &random) ?? 0))) }
        if random.below(6) == 0 { entries.append(entry(pick(["checksum", "offset", "location", ""], &random) ?? "", "1x")) }
        graph.initializer[i].externalData = entries
        graph.initializer[i].dataLocation = random.below(8) == 0 ? .default : .external
        if random.below(2) == 0 { graph.initializer[i].rawData = Data() }
    }

    /// Puts a node inside both branches of an If on a new boolean input, so the importer meets a subgraph (that
    /// reads values of the outer graph) where the seed model had none.
    static func wrapInIf(_ graph: inout Onnx_GraphProto, _ random: inout SplitMix64) {
        guard let n = pick(Array(graph.node.indices), &random), let output = graph.node[n].output.first else { return }
        let inner = graph.node[n]
        func branch(_ name: String) -> Onnx_GraphProto {
            var body = Onnx_GraphProto()
            body.name = name
            var node = inner
            node.output = [output + "_" + name]
            body.node = [node]
            var result = Onnx_ValueInfoProto()
            result.name = node.output[0]
            body.output = [result]
            return body
        }
        var condition = Onnx_ValueInfoProto()
        condition.name = "fuzz_condition"
        condition.type.tensorType.elemType = 9
        if !graph.input.contains(where: { $0.name == condition.name }) { graph.input.append(condition) }
        var node = Onnx_NodeProto()
        node.opType = "If"
        node.name = "fuzz_if"
        node.input = [condition.name]
        node.output = [output]
        for (name, body) in [("then_branch", branch("then")), ("else_branch", branch(random.below(4) == 0 ? "other" : "else"))] {
            var attribute = Onnx_AttributeProto()
            attribute.name = name
            attribute.type = .graph
            attribute.g = body
            node.attribute.append(attribute)
        }
        graph.node[n] = node
    }
}
