// `sieve run`: runs a model on input files and writes one `.npy` file per model output.
// Until a backend exists every run goes through the reference interpreter; the interface stays the same.

import Foundation
import SieveIR
import SieveInterpreter
import SieveONNX

/// One `--input` option: an optional input name and a tensor file.
public struct RunInput: Sendable, Equatable {
    /// The model input's name, or nil when the model's only input is meant.
    public var name: String?
    /// A `.npy` file (or an ONNX TensorProto `.pb` file).
    public var path: String

    /// Makes an input.
    public init(name: String?, path: String) {
        self.name = name
        self.path = path
    }

    /// Parses `NAME=FILE` or `FILE`. A file path that itself contains `=` needs the `NAME=` prefix.
    public init(parsing text: String) {
        if let equals = text.firstIndex(of: "="), equals != text.startIndex {
            name = String(text[..<equals])
            path = String(text[text.index(after: equals)...])
        } else {
            name = nil
            path = text
        }
    }
}

/// What `sieve run` was asked to do.
public struct RunRequest: Sendable {
    /// The model file (`.onnx` or `.sir`).
    public var modelPath: String
    /// The input files.
    public var inputs: [RunInput]
    /// The folder that receives `<output name>.npy` per model output; created if missing.
    public var outputDirectory: String
    /// Extra shapes for inputs with dynamic dimensions (normally taken from the input files).
    public var inputShapes: [String: [Int]]

    /// Makes a request.
    public init(modelPath: String, inputs: [RunInput], outputDirectory: String, inputShapes: [String: [Int]] = [:]) {
        self.modelPath = modelPath
        self.inputs = inputs
        self.outputDirectory = outputDirectory
        self.inputShapes = inputShapes
    }
}

/// What `sieve run` produced.
public struct RunResult: Sendable {
    /// The files written, in model output order.
    public var writtenFiles: [String]
    /// The outputs, in model output order.
    public var outputs: [(name: String, tensor: Tensor)]
    /// Notes and warnings from loading the model.
    public var diagnostics: [Diagnostic]
}

/// The largest value `sieve run` interprets, counting 8 bytes per element as the interpreter may (4 GiB).
public let maxInterpretedValueBytes = 4 << 30

/// Reads one tensor file: `.pb` as an ONNX TensorProto, anything else as NumPy `.npy`.
func readTensorFile(_ path: String) throws(DiagnosticError) -> Tensor {
    if path.lowercased().hasSuffix(".pb") { return try ONNXTensorFile.read(path: path).tensor }
    return try NumPyFile.read(path: path)
}

/// Runs `sieve run` in process: every check happens before the first output file is written.
public func runModel(_ request: RunRequest) throws(DiagnosticError) -> RunResult {
    guard !request.inputs.isEmpty else {
        throw DiagnosticError(.error(.unknown, "no input given; pass --input NAME=FILE.npy for each model input"))
    }
    let unnamed = request.inputs.filter { $0.name == nil }
    if !unnamed.isEmpty && request.inputs.count > 1 {
        throw DiagnosticError(.error(.unknown, "with more than one --input, name each one: --input NAME=FILE.npy"))
    }
    var tensors: [(name: String?, tensor: Tensor)] = []
    var seen: Set<String> = []
    for input in request.inputs {
        if let name = input.name, !seen.insert(name).inserted {
            throw DiagnosticError(.error(.unknown, "--input gives input '\(name)' twice"))
        }
        tensors.append((input.name, try readTensorFile(input.path)))
    }

    // Dynamic dimensions come from the files; an explicit --input-shape must agree with its file.
    var shapes = request.inputShapes
    var unnamedShape: [Int]?
    for (name, tensor) in tensors {
        guard let name else {
            unnamedShape = tensor.shape
            continue
        }
        if let given = shapes[name], given != tensor.shape {
            throw DiagnosticError(.error(.unknown, "--input-shape \(name)=\(shapeText(given)) contradicts the input file, which holds \(shapeText(tensor.shape))"))
        }
        shapes[name] = tensor.shape
    }
    let model = try loadModel(path: request.modelPath, inputShapes: shapes, unnamedInputShape: unnamedShape)
    let graph = model.graph

    var ordered: [Tensor] = []
    var problems: [Diagnostic] = []
    for (position, (name, id)) in zip(model.inputNames, graph.inputs).enumerated() {
        let match = tensors.first { $0.name == name } ?? (model.inputNames.count == 1 ? tensors.first { $0.name == nil } : nil)
        guard let tensor = match?.tensor else {
            problems.append(.error(.unknown, "model input '\(name)' (input \(position), \(graph.values[id.index].type.plain)) has no --input; pass --input \(name)=FILE.npy"))
            continue
        }
        let declared = graph.values[id.index].type
        if tensor.shape != declared.shape || tensor.elementType != declared.elementType {
            problems.append(.error(.unknown, "input '\(name)' must be \(declared.plain), but the file holds \(tensor.type.plain)"))
        }
        ordered.append(tensor)
    }
    for (name, _) in tensors {
        if let name, !model.inputNames.contains(name) {
            problems.append(.error(.unknown, "--input names '\(name)', which is not an input of the model (inputs: \(model.inputNames.joined(separator: ", ")))"))
        }
    }
    if !problems.isEmpty { throw DiagnosticError(problems) }

    // The interpreter holds each value as a whole array: refuse absurd sizes before allocating any.
    let definingOps = graph.definingOps()
    for (index, info) in graph.values.enumerated() {
        let bytes = (info.type.elementCount ?? Int.max / 8).multipliedReportingOverflow(by: 8)
        if bytes.overflow || bytes.partialValue > maxInterpretedValueBytes {
            let location = definingOps[index].map { graph.operations[$0].location } ?? graph.location
            throw DiagnosticError(.error(location, "value \(graph.valueName(ValueID(index))) of type \(info.type.plain) is too large for the interpreter (limit \(maxInterpretedValueBytes) bytes per value)"))
        }
    }

    let outputs: [Tensor]
    do {
        outputs = try Interpreter(graph: graph).run(ordered)
    } catch let error as DiagnosticError {
        throw error
    } catch {
        throw DiagnosticError(.error(graph.location, "the interpreter failed: \(error)"))
    }

    // Encode everything and choose every file name before writing anything.
    var files: [(path: String, bytes: [UInt8])] = []
    var fileNames: [String: String] = [:]
    for (name, tensor) in zip(model.outputNames, outputs) {
        let fileName = outputFileName(name)
        if let other = fileNames[fileName] {
            throw DiagnosticError(.error(.unknown, "outputs '\(other)' and '\(name)' would both be written to \(fileName)"))
        }
        fileNames[fileName] = name
        let path = URL(fileURLWithPath: request.outputDirectory).appendingPathComponent(fileName).path
        files.append((path, try NumPyFile.encode(tensor, source: path)))
    }
    var isDirectory: ObjCBool = false
    if !FileManager.default.fileExists(atPath: request.outputDirectory, isDirectory: &isDirectory) {
        do {
            try FileManager.default.createDirectory(atPath: request.outputDirectory, withIntermediateDirectories: true)
        } catch {
            throw DiagnosticError(.error(.unknown, "cannot create the output folder '\(request.outputDirectory)': \(error.localizedDescription)"))
        }
    } else if !isDirectory.boolValue {
        throw DiagnosticError(.error(.unknown, "--output-dir '\(request.outputDirectory)' is a file, not a folder"))
    }
    for file in files { try Files.writeAtomically(file.bytes, to: file.path) }
    return RunResult(writtenFiles: files.map(\.path), outputs: Array(zip(model.outputNames, outputs)),
                     diagnostics: model.diagnostics)
}

/// The file an output is written to: its name with every character outside `A-Z a-z 0-9 . _ -`
/// replaced by `_` (so that a name like `../x` or `a/b` cannot leave the folder), plus `.npy`.
public func outputFileName(_ outputName: String) -> String {
    var name = String(outputName.unicodeScalars.map { scalar -> Character in
        let allowed = (scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)))
            || scalar == "." || scalar == "_" || scalar == "-"
        return allowed ? Character(scalar) : "_"
    })
    if name.isEmpty || name.hasPrefix(".") { name = "_" + name }
    return name + ".npy"
}
