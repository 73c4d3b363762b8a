// The ONNX frontend: decodes a model file, fixes input shapes, and builds a typed graph-IR Graph node by node.
// Shapes come from the IR type rules as ops are added; ops whose inputs are all constants are folded on the way.

import Foundation
import SieveIR
import SwiftProtobuf

/// A model imported from ONNX: the graph plus what the model's interface was called.
public struct ONNXImportResult: Sendable {
    /// The imported graph; its inputs and outputs are in the model's order.
    public var graph: Graph
    /// The ONNX names of the graph inputs, in order (initializers excluded).
    public var inputNames: [String]
    /// The ONNX names of the graph outputs, in order.
    public var outputNames: [String]
    /// Notes and warnings found while importing (for example a batch dimension fixed to 1).
    public var diagnostics: [Diagnostic]
    /// The model's default-domain opset version.
    public var opsetVersion: Int
    /// The model's IR version.
    public var irVersion: Int
}

/// Imports ONNX models into the graph IR.
public enum ONNXImporter {
    /// The largest model file read (4 GiB); larger files are refused before reading.
    public static let maxModelBytes = 4 << 30
    /// The most nodes a graph may have; more is refused as absurd.
    public static let maxNodes = 1 << 20
    /// The most initializers, inputs or outputs a graph may have.
    public static let maxTensors = 1 << 20
    /// The oldest default-domain opset accepted.
    public static let minimumOpset = 7
    /// The newest ONNX IR version accepted.
    public static let maximumIRVersion = 13
    /// Folding at import stops at constants of this many elements; larger results stay ops.
    public static let maxFoldedElements = 1 << 24

    /// The ONNX op types (default domain) the frontend maps to graph IR: the keys of its operator table.
    public static var supportedOps: Set<String> { Set(GraphBuilder.operators.keys) }

    /// Imports the model at `path`.
    ///
    /// - Parameter inputShapes: shapes for inputs whose dimensions are symbolic or missing, by input name;
    ///   a shape that contradicts a static dimension is an error.
    /// - Returns: the graph with the model's notes; throws every error found, each naming its node.
    public static func importModel(path: String, inputShapes: [String: [Int]] = [:]) throws(DiagnosticError) -> ONNXImportResult {
        try ONNXModel.load(path: path).importGraph(inputShapes: inputShapes)
    }

    /// Imports a serialized model held in memory.
    ///
    /// - Parameters:
    ///   - modelName: the name diagnostics use for the model (usually the file name).
    ///   - baseDirectory: the folder external data is resolved in and confined to; nil refuses external data.
    public static func importModel(data: Data, modelName: String, baseDirectory: String?,
                                   inputShapes: [String: [Int]] = [:]) throws(DiagnosticError) -> ONNXImportResult {
        try ONNXModel(data: data, modelName: modelName, baseDirectory: baseDirectory).importGraph(inputShapes: inputShapes)
    }
}

/// A decoded ONNX model whose header (IR version, opsets, interface) has been checked, not yet imported.
///
/// Decoding once and importing later lets a caller look at the input names first, for example to
/// give the shape of an input file to the model's only input.
public struct ONNXModel: Sendable {
    /// The name diagnostics use for the model.
    public let modelName: String
    /// The folder external data is resolved in and confined to; nil refuses external data.
    public let baseDirectory: String?
    /// The model's default-domain opset version.
    public let opsetVersion: Int
    /// The model's IR version.
    public let irVersion: Int
    /// The names of the graph inputs that are not initializers, in order.
    public let inputNames: [String]
    /// The op types the graph's nodes use: the bare name for the default domain, `domain:Op` otherwise.
    public let opTypes: Set<String>
    /// The op types of the graph's nodes and of every node inside their subgraphs (If branches, Loop bodies).
    public var opTypesWithSubgraphs: Set<String> { SieveONNX.opTypes(in: model.graph) }
    private let model: Onnx_ModelProto
    private let domains: [String: Int64]

    /// Reads and decodes the model file at `path`; its folder confines external data.
    public static func load(path: String) throws(DiagnosticError) -> ONNXModel {
        let data = try readFileChecked(path, limit: ONNXImporter.maxModelBytes, what: "model")
        let url = URL(fileURLWithPath: path)
        return try ONNXModel(data: data, modelName: url.lastPathComponent,
                             baseDirectory: url.deletingLastPathComponent().path)
    }

    /// Decodes a serialized model and checks its header.
    public init(data: Data, modelName: String, baseDirectory: String?) throws(DiagnosticError) {
        let whole = ModelLocation.whole(modelName)
        let model: Onnx_ModelProto
        do {
            model = try Onnx_ModelProto(serializedBytes: data, partial: true, options: protobufDecodingOptions)
        } catch {
            throw DiagnosticError(.error(whole, "not a valid ONNX model: the protobuf cannot be decoded (\(error))"))
        }
        guard model.hasGraph else {
            throw DiagnosticError(.error(whole, "not a valid ONNX model: it has no graph"))
        }
        guard model.irVersion <= Int64(ONNXImporter.maximumIRVersion) else {
            throw DiagnosticError(.error(whole,
                "ONNX IR version \(model.irVersion) is newer than \(ONNXImporter.maximumIRVersion), the newest Sieve reads; export with an older onnx package"))
        }
        guard model.irVersion >= 1 else {
            throw DiagnosticError(.error(whole, "not a valid ONNX model: IR version \(model.irVersion) (it must be 1 or newer)"))
        }
        var opset: Int64?
        for entry in model.opsetImport where entry.domain.isEmpty || entry.domain == "ai.onnx" {
            opset = entry.version
        }
        guard let opset else {
            throw DiagnosticError(.error(whole, "the model imports no default-domain (ai.onnx) opset"))
        }
        guard opset <= Int64(Int32.max) else {
            throw DiagnosticError(.error(whole, "not a valid ONNX model: the default-domain opset version \(opset) is absurd"))
        }
        guard opset >= Int64(ONNXImporter.minimumOpset) else {
            throw DiagnosticError(.error(whole,
                "the model uses opset \(opset); Sieve reads opset \(ONNXImporter.minimumOpset) and newer; convert it with onnx.version_converter.convert_version(model, \(ONNXImporter.minimumOpset))"))
        }
        let graphProto = model.graph
        guard graphProto.node.count <= ONNXImporter.maxNodes else {
            throw DiagnosticError(.error(whole, "the graph has \(graphProto.node.count) nodes, more than the limit of \(ONNXImporter.maxNodes)"))
        }
        guard graphProto.initializer.count <= ONNXImporter.maxTensors, graphProto.input.count <= ONNXImporter.maxTensors,
              graphProto.output.count <= ONNXImporter.maxTensors else {
            throw DiagnosticError(.error(whole, "the graph has more than \(ONNXImporter.maxTensors) initializers, inputs or outputs"))
        }
        var domains: [String: Int64] = [:]
        // Keyed as spelled: a node must name its domain as the model imports it ('' and 'ai.onnx' both mean the default).
        for entry in model.opsetImport { domains[entry.domain] = entry.version }
        let initializers = Set(graphProto.initializer.map(\.name))
        self.modelName = modelName
        self.baseDirectory = baseDirectory
        self.opsetVersion = Int(opset)
        self.irVersion = Int(model.irVersion)
        self.inputNames = graphProto.input.map(\.name).filter { !initializers.contains($0) }
        self.opTypes = Set(graphProto.node.map { node in
            node.domain.isEmpty || node.domain == "ai.onnx" ? node.opType : node.domain + ":" + node.opType
        })
        self.model = model
        self.domains = domains
    }

    /// A constant for input `name` holding one value (`--bind NAME=VALUE`), with the input's declared element
    /// type and shape (every dimension 1: a scalar, or a one-element tensor; symbolic dimensions become 1).
    public func scalarBinding(input name: String, value: Double) throws(DiagnosticError) -> Constant {
        let whole = ModelLocation.whole(modelName)
        guard let input = model.graph.input.first(where: { $0.name == name }), inputNames.contains(name) else {
            throw DiagnosticError(.error(whole, "--bind names '\(name)', which is not an input of the model (inputs: \(inputNames.joined(separator: ", ")))"))
        }
        guard case let .tensorType(tensorType)? = input.type.value, let elementType = irElementType(onnxCode: tensorType.elemType) else {
            throw DiagnosticError(.error(whole, "input '\(name)' is not a tensor of a type Sieve reads, so --bind cannot give it a value"))
        }
        var shape: [Int] = []
        for dim in tensorType.shape.dim {
            if case let .dimValue(size)? = dim.value, size != 1, size != -1 {
                throw DiagnosticError(.error(whole, "--bind \(name)=VALUE gives one value, but input '\(name)' declares dimension \(size); bind a file instead: --bind \(name)=FILE.npy"))
            }
            shape.append(1)
        }
        if !elementType.isFloat && value != value.rounded() {
            throw DiagnosticError(.error(whole, "--bind \(name)=\(value): input '\(name)' is \(elementType), which holds whole numbers"))
        }
        return Constant.from(name: name, type: TensorType(shape, elementType), values: [value])
    }

    /// Builds the IR graph with every dimension fixed.
    ///
    /// - Parameter inputShapes: shapes for inputs whose dimensions are symbolic or missing, by input name;
    ///   a shape that contradicts a static dimension is an error.
    /// - Parameter constantInputs: inputs whose values are bound at import, by input name; they become
    ///   constants and are no longer graph inputs (a model can then use them where ONNX allows a
    ///   computed shape, axes or indices that Sieve needs as constants).
    /// - Returns: the graph with the model's notes; throws every error found, each naming its node.
    public func importGraph(inputShapes: [String: [Int]] = [:],
                            constantInputs: [String: Constant] = [:]) throws(DiagnosticError) -> ONNXImportResult {
        var builder = GraphBuilder(modelName: modelName, baseDirectory: baseDirectory, opset: opsetVersion,
                                   irVersion: irVersion, domains: domains, graphProto: model.graph)
        builder.build(inputShapes: inputShapes, constantInputs: constantInputs)
        if !builder.ambiguousDeclarations.isEmpty, !builder.diagnostics.contains(where: { $0.severity == .error }) {
            // Infer once more with the symbolic batch at 2: a dimension that stays put is fixed and must match its
            // declaration. A model that does not import at batch 2 leaves the declarations open, as before.
            var other = GraphBuilder(modelName: modelName, baseDirectory: baseDirectory, opset: opsetVersion,
                                     irVersion: irVersion, domains: domains, graphProto: model.graph)
            other.symbolicBatchSize = 2
            other.checksDeclarations = false
            other.build(inputShapes: inputShapes, constantInputs: constantInputs)
            if !other.diagnostics.contains(where: { $0.severity == .error }) {
                builder.diagnostics += settleAmbiguousDeclarations(builder.ambiguousDeclarations, other: other)
            }
        }
        if builder.diagnostics.contains(where: { $0.severity == .error }) {
            throw DiagnosticError(builder.diagnostics.filter { $0.severity != .note })
        }
        do {
            try Verifier.verify(builder.graph)
        } catch {
            throw DiagnosticError(error.diagnostics.map { diagnostic in
                var diagnostic = diagnostic
                diagnostic.message = "internal error: the imported graph fails verification: " + diagnostic.message
                return diagnostic
            })
        }
        return ONNXImportResult(graph: builder.graph, inputNames: builder.inputNames, outputNames: builder.outputNames,
                                diagnostics: builder.diagnostics, opsetVersion: opsetVersion, irVersion: irVersion)
    }
}

/// Locations for diagnostics that concern the model as a whole or one of its tensors.
enum ModelLocation {
    /// The model file itself, rendered as `model.onnx: error: ...`.
    static func whole(_ modelName: String) -> Location { .file(path: modelName, line: 0, column: 0) }
}
