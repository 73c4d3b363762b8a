// Loading a model for the driver: an ONNX file through the frontend, or a textual IR (.sir) file,
// with input shapes fixed from the command line or from the input files a run is given.

import Foundation
import SieveIR
import SieveInterpreter
import SieveONNX
import SieveTarget

/// A model ready for the pipeline: the graph plus the names of its interface.
public struct LoadedModel: Sendable {
    /// The graph, verified, with every shape static.
    public var graph: Graph
    /// The model's name for each graph input, in order.
    public var inputNames: [String]
    /// The model's name for each graph output, in order.
    public var outputNames: [String]
    /// Notes and warnings from loading (for example a batch dimension fixed to 1).
    public var diagnostics: [Diagnostic]
    /// What the file was, for reports: "ONNX IR 8, opset 17" or "textual IR".
    public var format: String
    /// The inputs bound with `--bind` (no longer inputs), as `NAME=VALUE` or `NAME=FILE`, in name order.
    public var boundInputs: [String] = []
}

/// A value given with `--bind NAME=...` for a model input, which becomes a constant at import.
public enum InputBinding: Sendable, Equatable {
    /// A tensor file (`.npy`, or an ONNX TensorProto `.pb`).
    case file(String)
    /// One number (or true/false), given the input's element type and one-element shape.
    case scalar(Double, text: String)

    /// How the binding reads on the command line after `NAME=`.
    public var text: String {
        switch self {
        case let .file(path): return path
        case let .scalar(_, text): return text
        }
    }
}

/// Parses repeated `--bind NAME=FILE.npy` or `--bind NAME=VALUE` options, refusing a name given twice.
public func parseBindings(_ options: [String]) throws(DiagnosticError) -> [String: InputBinding] {
    var bindings: [String: InputBinding] = [:]
    for option in options {
        guard let equals = option.firstIndex(of: "="), equals != option.startIndex, option.index(after: equals) != option.endIndex else {
            throw DiagnosticError(.error(.unknown, "--bind '\(option)' must look like NAME=FILE.npy or NAME=VALUE"))
        }
        let name = String(option[..<equals]), value = String(option[option.index(after: equals)...])
        guard bindings[name] == nil else { throw DiagnosticError(.error(.unknown, "--bind gives input '\(name)' twice")) }
        switch value.lowercased() {
        case "true": bindings[name] = .scalar(1, text: value)
        case "false": bindings[name] = .scalar(0, text: value)
        default:
            if let number = Double(value), number.isFinite {
                bindings[name] = .scalar(number, text: value)
            } else if value.lowercased().hasSuffix(".npy") || value.lowercased().hasSuffix(".pb") {
                bindings[name] = .file(value)
            } else {
                throw DiagnosticError(.error(.unknown, "--bind \(option): '\(value)' is neither a number nor a .npy or .pb file"))
            }
        }
    }
    return bindings
}

/// The constants the bindings stand for, each under its input's name: files are read, scalars take the
/// input's declared type through `scalar`.
func boundConstants(_ bindings: [String: InputBinding],
                    scalar: (String, Double) throws(DiagnosticError) -> Constant) throws(DiagnosticError) -> [String: Constant] {
    var constants: [String: Constant] = [:]
    for (name, binding) in bindings.sorted(by: { $0.key < $1.key }) {
        switch binding {
        case let .file(path): constants[name] = try readTensorFile(path).constant(name: name)
        case let .scalar(value, _): constants[name] = try scalar(name, value)
        }
    }
    return constants
}

/// Turns graph inputs of a textual IR graph into constants: the input's value becomes a `const` op's
/// result (placed first), so every use reads the constant and the passes can fold it.
public func bindInputs(_ graph: inout Graph, inputNames: inout [String], constants: [String: Constant]) throws(DiagnosticError) {
    var errors: [Diagnostic] = []
    for (name, constant) in constants.sorted(by: { $0.key < $1.key }) {
        guard let position = inputNames.firstIndex(of: name) else {
            errors.append(.error(graph.location, "--bind names '\(name)', which is not an input of the model (inputs: \(inputNames.joined(separator: ", ")))"))
            continue
        }
        let id = graph.inputs[position]
        let declared = graph.values[id.index].type
        var value = constant
        if value.type.elementType == declared.elementType, value.type.elementCount == declared.elementCount, value.hasConsistentSize {
            value.type = declared  // a one-element value fits any one-element shape
        }
        guard value.type == declared else {
            errors.append(.error(graph.location, "--bind \(name): input '\(name)' is \(declared.plain), but the value is \(constant.type.plain)"))
            continue
        }
        value.name = graph.constants.freshName(name)
        let constantID = graph.constants.add(value)
        graph.operations.insert(Operation(.constant(constantID), operands: [], results: [id], location: graph.location), at: 0)
        graph.inputs.remove(at: position)
        inputNames.remove(at: position)
    }
    if !errors.isEmpty { throw DiagnosticError(errors) }
}

/// Which kind of file a model path names, by its extension.
enum ModelFormat {
    case onnx, textualIR

    init(path: String) throws(DiagnosticError) {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "onnx": self = .onnx
        case "sir": self = .textualIR
        default:
            throw DiagnosticError(.error(.file(path: path, line: 0, column: 0),
                                         "unknown model format: expected a .onnx or .sir file"))
        }
    }
}

/// Parses `NAME=1x128` (dimensions separated by `x`; `NAME=scalar` for rank 0) into a name and a shape.
public func parseInputShape(_ text: String) throws(DiagnosticError) -> (name: String, shape: [Int]) {
    guard let equals = text.lastIndex(of: "="), equals != text.startIndex else {
        throw DiagnosticError(.error(.unknown, "--input-shape '\(text)' must look like NAME=1x128"))
    }
    let name = String(text[..<equals])
    let dims = String(text[text.index(after: equals)...])
    if dims == "scalar" { return (name, []) }
    var shape: [Int] = []
    for part in dims.split(separator: "x", omittingEmptySubsequences: false) {
        guard let value = Int(part), value >= 0, value <= TensorType.maxElementCount else {
            throw DiagnosticError(.error(.unknown, "--input-shape '\(text)': '\(part)' is not a dimension; write sizes separated by 'x', e.g. \(name)=1x128"))
        }
        shape.append(value)
    }
    return (name, shape)
}

/// Turns repeated `--input-shape` options into a map, refusing a name given twice.
public func parseInputShapes(_ options: [String]) throws(DiagnosticError) -> [String: [Int]] {
    var shapes: [String: [Int]] = [:]
    for option in options {
        let (name, shape) = try parseInputShape(option)
        guard shapes[name] == nil else {
            throw DiagnosticError(.error(.unknown, "--input-shape gives input '\(name)' twice"))
        }
        shapes[name] = shape
    }
    return shapes
}

/// Loads a model file (`.onnx` or `.sir`) with the given input shapes.
///
/// For ONNX, `inputShapes` fixes symbolic dimensions; for textual IR every shape is already static
/// and a given shape must agree with it.
/// - Parameter unnamedInputShape: the shape of the model's only input when the caller did not name
///   it (one input file given without `NAME=`); an error if the model has more than one input.
public func loadModel(path: String, inputShapes: [String: [Int]] = [:],
                      unnamedInputShape: [Int]? = nil, bindings: [String: InputBinding] = [:]) throws(DiagnosticError) -> LoadedModel {
    if let both = bindings.keys.sorted().first(where: { inputShapes[$0] != nil }) {
        throw DiagnosticError(.error(.unknown, "input '\(both)' is given both --bind and --input-shape; a bound input takes the value's shape"))
    }
    let boundInputs = bindings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.text)" }
    switch try ModelFormat(path: path) {
    case .onnx:
        let model = try ONNXModel.load(path: path)
        var shapes = inputShapes
        if let unnamedInputShape {
            let name = try onlyInput(model.inputNames.filter { bindings[$0] == nil }, path: path)
            shapes[name] = unnamedInputShape
        }
        let constants = try boundConstants(bindings) { name, value throws(DiagnosticError) in
            try model.scalarBinding(input: name, value: value)
        }
        let result = try model.importGraph(inputShapes: shapes, constantInputs: constants)
        return LoadedModel(graph: result.graph, inputNames: result.inputNames, outputNames: result.outputNames,
                           diagnostics: result.diagnostics,
                           format: "ONNX IR version \(result.irVersion), opset \(result.opsetVersion)", boundInputs: boundInputs)
    case .textualIR:
        let text = try Files.readText(path)
        let module = try Parser.parse(text, path: path)
        guard module.graphs.count == 1, let parsedGraph = module.graphs.first else {
            throw DiagnosticError(.error(.file(path: path, line: 0, column: 0),
                                         "the file holds \(module.graphs.count) graphs; a model file must hold exactly one"))
        }
        var graph = parsedGraph
        try Verifier.verify(graph, checks: Verifier.targetChecks)
        var inputNames = graph.inputs.enumerated().map { graph.values[$0.element.index].name ?? "input\($0.offset)" }
        if !bindings.isEmpty {
            let names = inputNames
            let constants = try boundConstants(bindings) { name, value throws(DiagnosticError) in
                guard let position = names.firstIndex(of: name) else {
                    throw DiagnosticError(.error(graph.location, "--bind names '\(name)', which is not an input of the model (inputs: \(names.joined(separator: ", ")))"))
                }
                let type = graph.values[graph.inputs[position].index].type
                return Constant.from(name: name, type: TensorType(type.shape.isEmpty ? [] : [1], type.elementType), values: [value])
            }
            try bindInputs(&graph, inputNames: &inputNames, constants: constants)
            try Verifier.verify(graph, checks: Verifier.targetChecks)
        }
        let outputNames = graph.outputs.enumerated().map { graph.values[$0.element.index].name ?? "output\($0.offset)" }
        var shapes = inputShapes
        if let unnamedInputShape { shapes[try onlyInput(inputNames, path: path)] = unnamedInputShape }
        var errors: [Diagnostic] = []
        for (name, shape) in shapes.sorted(by: { $0.key < $1.key }) {
            guard let position = inputNames.firstIndex(of: name) else {
                errors.append(.error(graph.location, "'\(name)' is not an input of the model (inputs: \(inputNames.joined(separator: ", ")))"))
                continue
            }
            let declared = graph.values[graph.inputs[position].index].type.shape
            if declared != shape {
                errors.append(.error(graph.location, "input '\(name)' has the static shape \(shapeText(declared)) in textual IR, but \(shapeText(shape)) was given"))
            }
        }
        if !errors.isEmpty { throw DiagnosticError(errors) }
        return LoadedModel(graph: graph, inputNames: inputNames, outputNames: outputNames, diagnostics: [],
                           format: "textual IR", boundInputs: boundInputs)
    }
}

/// The name of a model's only input, or an error saying to name the input.
private func onlyInput(_ names: [String], path: String) throws(DiagnosticError) -> String {
    guard names.count == 1, let name = names.first else {
        throw DiagnosticError(.error(.file(path: path, line: 0, column: 0),
            "the model has \(names.count) inputs (\(names.joined(separator: ", "))); name each one: --input NAME=FILE.npy"))
    }
    return name
}

/// Spells a shape as on the command line: `1x128`, or `scalar`.
func shapeText(_ shape: [Int]) -> String {
    shape.isEmpty ? "scalar" : shape.map(String.init).joined(separator: "x")
}

/// Gives the graph's inputs and outputs the model's interface names, so that an artifact's tensor
/// table and `sieve run`'s output files carry the names the model declares (passes may have made an
/// output another value, named after an inner ONNX tensor). A value already holding a wanted name
/// elsewhere is renamed out of the way; a value that is returned under two names keeps the first.
public func nameInterface(_ graph: inout Graph, inputNames: [String], outputNames: [String]) {
    var claimed: Set<ValueID> = []
    for (id, name) in Array(zip(graph.inputs, inputNames)) + Array(zip(graph.outputs, outputNames)) {
        guard graph.values.indices.contains(id.index), claimed.insert(id).inserted,
              graph.values[id.index].name != name else { continue }
        if let holder = graph.values.indices.first(where: { graph.values[$0].name == name }) {
            var suffix = 1
            let taken = Set(graph.values.compactMap(\.name))
            while taken.contains("\(name)_\(suffix)") { suffix += 1 }
            graph.values[holder].name = "\(name)_\(suffix)"
        }
        graph.values[id.index].name = name
    }
}
