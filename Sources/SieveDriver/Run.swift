// `sieve run`: runs a model on input files and writes one `.npy` file per model output.
// Compiled code by default (artifacts cached by content hash), or the reference interpreter.

import Foundation
import SieveFormats
import SieveIR
import SieveInterpreter
import SieveKernel
import SievePasses
import SieveCodegenC
import SieveONNX
import SieveTarget

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
    /// Where sensitivity and pruning report how far along they are; nil for none.
    public var progress: ProgressHandler?
    /// The input files.
    public var inputs: [RunInput]
    /// The folder that receives `<output name>.npy` per model output; created if missing.
    public var outputDirectory: String
    /// Extra shapes for inputs with dynamic dimensions (normally taken from the input files).
    public var inputShapes: [String: [Int]]
    /// Inputs turned into constants at import (`--bind`), by input name; they take no `--input`.
    public var bindings: [String: InputBinding] = [:]
    /// Run the reference interpreter instead of compiled code.
    public var interpret = true
    /// For compiled runs: compile in this process with the LLVM backend's JIT (no file written, no C compiler).
    public var jit = false
    /// Make weights N:M sparse first (the same passes as `sieve compile`), or nil to run as imported.
    public var sparsity: SparsifyOptions?
    /// Quantize weights to int8 (the same pass as `sieve compile --quantize int8`), or nil.
    public var quantize: Quantize?
    /// Calibration data for the sparsity passes and the quantization errors.
    public var calibration: CalibrationSet?
    /// For compiled runs: the CPU, the C compiler, the thread count and the artifact cache folder.
    public var target: TargetDescription = .native
    public var compiler = "cc"
    public var threads = 1
    public var cacheDirectory: String = defaultCacheDirectory()

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
    return try Tensor(NumPyFile.read(path: path))
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
    if request.modelPath.hasSuffix(".so") {
        guard request.bindings.isEmpty else {
            throw DiagnosticError(.error(.unknown, "--bind applies to .onnx and .sir models; an artifact's bound inputs were fixed when it was compiled"))
        }
        return try runArtifact(request, tensors)
    }
    if let name = request.bindings.keys.sorted().first(where: { name in tensors.contains { $0.name == name } }) {
        throw DiagnosticError(.error(.unknown, "input '\(name)' is given both --bind and --input; a bound input is a constant, not an input"))
    }
    let model = try loadModel(path: request.modelPath, inputShapes: shapes, unnamedInputShape: unnamedShape,
                              bindings: request.bindings)
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

    var diagnostics = model.diagnostics
    let outputs: [Tensor]
    if request.interpret && request.sparsity == nil && request.quantize == nil {
        // The reference path: the graph exactly as imported.
        do {
            outputs = try Interpreter(graph: graph).run(ordered)
        } catch let error as DiagnosticError {
            throw error
        } catch {
            throw DiagnosticError(.error(graph.location, "the interpreter failed: \(error)"))
        }
    } else {
        do {
            var sparse: (dense: Graph, sparsified: Graph)?
            if request.sparsity != nil {
                // Calibration runs whole batches of the graph's own batch size, which for this run is the
                // input files' batch; sparsify the model at the shapes the user fixed (symbolic batch 1)
                // and carry what the sparsity passes changed over to the graph at the input files' shapes,
                // at the same point of the pipeline (after transpose-weights, where they would have run),
                // so that fuse and the rest see what `sieve compile` would give them.
                let base = try loadModel(path: request.modelPath, inputShapes: request.inputShapes, bindings: request.bindings)
                let prepared = try prepareGraph(base.graph, target: request.target, sparsity: request.sparsity,
                                                calibration: request.calibration, passManager: PassManagerOptions(),
                                                observer: { event, _, _ in event == .after("nm-legalize") ? .stop : .proceed },
                                                progress: request.progress)
                diagnostics += prepared.diagnostics
                sparse = (prepared.dense, prepared.graph)
            }
            // The interpreter needs no schedule: it runs the graph as it stands before that pass.
            var prepared = try prepareGraph(graph, target: request.target, sparsity: nil, quantize: request.quantize,
                                            calibration: request.quantize == nil ? nil : request.calibration,
                                            passManager: PassManagerOptions()) { event, graph, _ in
                if event == .after("transpose-weights"), let sparse {
                    graph = try transferSparsity(from: sparse.sparsified, dense: sparse.dense, to: graph)
                }
                return event == .before("schedule") && request.interpret ? .stop : .proceed
            }
            diagnostics += prepared.diagnostics
            if request.interpret {
                outputs = try Interpreter(graph: prepared.graph).run(ordered)
            } else {
                nameInterface(&prepared.graph, inputNames: model.inputNames, outputNames: model.outputNames)
                let artifact: NativeArtifact
                if request.jit {
                    let program = try lowerToKernels(prepared.graph, options: LoweringOptions(name: "model", vectorWidth: request.target.f32Lanes))
                    artifact = try NativeArtifact(jit: program, target: request.target)
                } else {
                    artifact = try cachedArtifact(for: prepared.graph, request: request)
                }
                outputs = try artifact.run(ordered, threads: request.threads)
            }
        } catch let error as DiagnosticError {
            throw error
        } catch {
            throw DiagnosticError(.error(graph.location, "\(error)"))
        }
    }

    let written = try writeOutputs(zip(model.outputNames, outputs).map { ($0, $1) }, to: request.outputDirectory)
    return RunResult(writtenFiles: written, outputs: Array(zip(model.outputNames, outputs)), diagnostics: diagnostics)
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

/// Writes one `.npy` per output into the folder (created if missing); every file name is chosen and
/// every tensor encoded before the first write. Returns the paths written.
func writeOutputs(_ outputs: [(name: String, tensor: Tensor)], to folder: String) throws(DiagnosticError) -> [String] {
    // Encode everything and choose every file name before writing anything.
    var files: [(path: String, bytes: [UInt8])] = []
    var fileNames: [String: String] = [:]
    for (name, tensor) in outputs {
        let fileName = outputFileName(name)
        if let other = fileNames[fileName] {
            throw DiagnosticError(.error(.unknown, "outputs '\(other)' and '\(name)' would both be written to \(fileName)"))
        }
        fileNames[fileName] = name
        let path = URL(fileURLWithPath: folder).appendingPathComponent(fileName).path
        files.append((path, try NumPyFile.encode(tensor.constant(name: name), source: path)))
    }
    var isDirectory: ObjCBool = false
    if !FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) {
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw DiagnosticError(.error(.unknown, "cannot create the output folder '\(folder)': \(error.localizedDescription)"))
        }
    } else if !isDirectory.boolValue {
        throw DiagnosticError(.error(.unknown, "--output-dir '\(folder)' is a file, not a folder"))
    }
    for file in files { try Files.writeAtomically(file.bytes, to: file.path) }
    return files.map(\.path)
}

/// Where compiled artifacts are cached: `$XDG_CACHE_HOME/sieve/artifacts`, else `~/.cache/sieve/artifacts`.
public func defaultCacheDirectory() -> String {
    let environment = ProcessInfo.processInfo.environment
    let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
        ?? (FileManager.default.homeDirectoryForCurrentUser.path + "/.cache")
    return base + "/sieve/artifacts"
}

/// The compiled artifact of a graph, from the cache when the same graph was compiled before for the
/// same target and compiler; otherwise compiled into the cache first.
///
/// The key hashes the graph's full canonical text (weights included), the target, the compiler, Sieve's
/// version and the running executable's size and modification time (so a rebuilt compiler never reuses
/// code generated by the previous build), with two independent 64-bit FNV-1a hashes: a cache key, not a
/// security boundary.
func cachedArtifact(for graph: Graph, request: RunRequest) throws -> NativeArtifact {
    try cachedArtifact(for: graph, source: request.modelPath, target: request.target, compiler: request.compiler,
                       cacheDirectory: request.cacheDirectory)
}

/// The compiled artifact of a graph from the cache, compiled into it first when missing.
/// A profiling build (`profile`) is cached apart from the normal one.
func cachedArtifact(for graph: Graph, source: String, target: TargetDescription, compiler: String,
                    cacheDirectory: String, profile: Bool = false) throws -> NativeArtifact {
    let key = ([graph.print(), target.name, compiler, sieveVersion, executableFingerprint] + (profile ? ["profile"] : []))
        .joined(separator: "\u{0}")
    let folder = URL(fileURLWithPath: cacheDirectory).appendingPathComponent(contentHash(key)).path
    let library = folder + "/libmodel.so"
    if !FileManager.default.fileExists(atPath: library) {
        do {
            try FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
        } catch {
            throw DiagnosticError(.error(.unknown, "cannot create the artifact cache '\(cacheDirectory)': \(error.localizedDescription)"))
        }
        var artifact = ArtifactRequest(graph: graph, name: "model", outputDirectory: folder, target: target,
                                       sourceDescription: URL(fileURLWithPath: source).lastPathComponent, compiler: compiler)
        artifact.profile = profile
        _ = try ArtifactWriter.write(artifact)
    }
    return try NativeArtifact(library: library, name: "model")
}

/// The running executable's size and modification time, or "" where /proc is not available.
let executableFingerprint: String = {
    guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"),
          let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return "" }
    let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
    let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
    return "\(size)@\(modified)"
}()

/// 128 bits of two FNV-1a hashes with different offsets, as 32 hex digits.
func contentHash(_ text: String) -> String {
    var first: UInt64 = 0xcbf2_9ce4_8422_2325, second: UInt64 = 0x6c62_272e_07bb_0142
    for byte in text.utf8 {
        first = (first ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        second = (second ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }
    return String(format: "%016llx%016llx", first, second)
}

/// `sieve run OUT/libNAME.so`: runs an artifact `sieve compile` wrote, its tensor table naming the
/// inputs to match and the outputs to write.
func runArtifact(_ request: RunRequest, _ tensors: [(name: String?, tensor: Tensor)]) throws(DiagnosticError) -> RunResult {
    let file = URL(fileURLWithPath: request.modelPath).lastPathComponent
    guard file.hasPrefix("lib"), file.count > 6 else {
        throw DiagnosticError(.error(.file(path: request.modelPath, line: 0, column: 0), "an artifact library is named libNAME.so, as sieve compile writes it"))
    }
    let artifact = try NativeArtifact(library: request.modelPath, name: String(file.dropFirst(3).dropLast(3)))
    var ordered: [Tensor] = []
    var problems: [Diagnostic] = []
    for input in artifact.inputs {
        let match = tensors.first { $0.name == input.name } ?? (artifact.inputs.count == 1 ? tensors.first { $0.name == nil } : nil)
        guard let tensor = match?.tensor else {
            problems.append(.error(.unknown, "artifact input '\(input.name)' (\(input.type)) has no --input; pass --input \(input.name)=FILE.npy"))
            continue
        }
        if tensor.type.plain != input.type {
            problems.append(.error(.unknown, "input '\(input.name)' must be \(input.type), but the file holds \(tensor.type.plain)"))
        }
        ordered.append(tensor)
    }
    for case let (name?, _) in tensors where !artifact.inputs.contains(where: { $0.name == name }) {
        problems.append(.error(.unknown, "--input names '\(name)', which is not an input of the artifact (inputs: \(artifact.inputs.map(\.name).joined(separator: ", ")))"))
    }
    if !problems.isEmpty { throw DiagnosticError(problems) }
    let outputs = try artifact.run(ordered, threads: request.threads)
    let named = zip(artifact.outputs, outputs).map { (name: $0.name, tensor: $1) }
    return RunResult(writtenFiles: try writeOutputs(named, to: request.outputDirectory), outputs: named, diagnostics: [])
}
