// `sieve opt`: parse textual IR, run a pass list with the dump flags, print the result; kernel IR
// (.kir) is parsed, verified and printed back. The same function serves the CLI and the in-process file tests.

import SieveCodegenC
import SieveFormats
import SieveIR
import SieveKernel
import SieveInterpreter
import SievePasses
import SieveTarget

/// What `sieve opt` was asked to do.
public struct OptRequest: Sendable {
    /// The IR text.
    public var text: String
    /// The file name used in diagnostics.
    public var path: String
    /// The passes, as written after `-p` (comma-separated), or empty for none.
    public var pipeline: String
    /// Pass manager options (verification, dumps, stop, timing).
    public var options: PassManagerOptions
    /// Print each op's location.
    public var printLocations: Bool
    /// Calibration inputs for passes that measure activations (sparsity-allocation, nm-legalize).
    public var calibration: CalibrationSet?
    /// Use at most this many calibration samples; nil for all.
    public var calibrationSamples: Int?
    /// When set, lower each graph after the passes for this target and add its kernel IR to the dumps.
    public var kernelTarget: TargetDescription?
    /// With `kernelTarget`: also emit the C backend's header and source for the lowered program and add
    /// them to the dumps (after the kernel IR).
    public var emitC = false
    /// With `kernelTarget`: also emit the LLVM backend's module (before optimisation) and add it to the dumps.
    public var emitLLVMIR = false
    /// Inputs turned into constants before the passes (`--bind`), by input name; needs a file of one graph.
    public var bindings: [String: InputBinding] = [:]
    /// How the result and the IR dumps show graphs: textual IR, Graphviz DOT or SVG drawn by `dot`.
    /// `options.dumpFormat` follows it.
    public var format: GraphViewFormat = .text
    /// Where long passes report progress (sensitivity, pruning); nil for none.
    public var progress: ProgressHandler?

    /// Makes a request.
    public init(text: String, path: String, pipeline: String = "", options: PassManagerOptions = PassManagerOptions(),
                printLocations: Bool = false) {
        self.text = text
        self.path = path
        self.pipeline = pipeline
        self.options = options
        self.printLocations = printLocations
    }
}

/// What `sieve opt` produced.
public struct OptResult: Sendable {
    /// The printed IR after the passes (DOT or SVG with `format`).
    public var output: String
    /// Dumps and timing reports, in order (the CLI writes them to stderr).
    public var dumps: [String]
    /// Warnings and notes.
    public var diagnostics: [Diagnostic]
    /// What the sparsity passes decided and did.
    public var sparsity: SparsityLog
    /// The graphs as parsed, before the passes.
    public var input: Module
    /// The graphs after the passes.
    public var module: Module
}

/// Runs `sieve opt` in process. Kernel IR text (its first word is `program`) is parsed, verified and
/// printed back; graph IR goes through the passes.
public func runOpt(_ request: OptRequest) throws(DiagnosticError) -> OptResult {
    if KernelParser.looksLikeKernelIR(request.text) { return try runKernelOpt(request) }
    if request.format == .svg { try GraphView.requireDot() }
    var module = try Parser.parse(request.text, path: request.path)
    if !request.bindings.isEmpty {
        guard module.graphs.count == 1 else {
            throw DiagnosticError(.error(.file(path: request.path, line: 0, column: 0),
                                         "--bind needs a file with one graph, found \(module.graphs.count)"))
        }
        var graph = module.graphs[0]
        var names = graph.inputs.enumerated().map { graph.values[$0.element.index].name ?? "input\($0.offset)" }
        let known = names
        let constants = try boundConstants(request.bindings) { name, value throws(DiagnosticError) in
            guard let position = known.firstIndex(of: name) else {
                throw DiagnosticError(.error(graph.location, "--bind names '\(name)', which is not an input of the graph (inputs: \(known.joined(separator: ", ")))"))
            }
            let type = graph.values[graph.inputs[position].index].type
            return Constant.from(name: name, type: TensorType(type.shape.isEmpty ? [] : [1], type.elementType), values: [value])
        }
        try bindInputs(&graph, inputNames: &names, constants: constants)
        module.graphs[0] = graph
    }
    let input = module
    let passes = request.pipeline.isEmpty ? [] : try PassRegistry.parsePipeline(request.pipeline)
    var options = request.options
    options.dumpFormat = request.format.dumpFormat
    let manager = try PassManager(passes: passes, options: options)
    var dumps: [String] = []
    var context = PassContext()
    context.calibration = request.calibration
    context.calibrationSamples = request.calibrationSamples
    context.progress = request.progress
    for index in module.graphs.indices {
        try manager.run(on: &module.graphs[index], context: &context) { dumps.append($0) }
    }
    if let target = request.kernelTarget {
        let name = defaultArtifactName(for: request.path)
        for graph in module.graphs {
            let program = try lowerToKernels(graph, options: LoweringOptions(name: name, vectorWidth: target.f32Lanes))
            dumps.append("// -----// Kernel IR //----- //\n" + program.print())
            if request.emitC {
                let sources = CEmitter(program: program, placement: .embedded, targetDescription: target.name,
                                       sourceDescription: request.path, defaultWeightsPath: "\(name).weights").emit()
                dumps.append("// -----// C header //----- //\n" + sources.header)
                dumps.append("// -----// C source //----- //\n" + sources.source)
            }
            if request.emitLLVMIR {
                dumps.append("// -----// LLVM IR //----- //\n" + (try ArtifactWriter.llvmModuleText(program, target: target)))
            }
        }
    }
    let output: String
    switch request.format {
    case .text: output = module.print(options: PrintOptions(locations: request.printLocations))
    case .dot: output = module.dot()
    case .svg:
        output = try GraphView.svg(fromDOT: module.dot())
        dumps = try dumps.map { dump throws(DiagnosticError) in try GraphView.svgDump(dump) }
    }
    return OptResult(output: output, dumps: dumps, diagnostics: context.diagnostics, sparsity: context.sparsity,
                     input: input, module: module)
}

/// `sieve opt FILE.kir`: parses kernel IR, runs the kernel verifier (diagnostics point at the offending
/// lines) and prints the program back in canonical form. Kernel IR has no passes yet.
func runKernelOpt(_ request: OptRequest) throws(DiagnosticError) -> OptResult {
    let location = Location.file(path: request.path, line: 1, column: 1)
    if !request.pipeline.isEmpty {
        throw DiagnosticError(.error(location, "-p runs graph passes, and \(request.path) is kernel IR; drop -p to verify and print it"))
    }
    if request.kernelTarget != nil {
        throw DiagnosticError(.error(location, "\(request.path) is already kernel IR; drop --print-kernel-ir, --print-c and --print-llvm-ir"))
    }
    if request.format != .text {
        throw DiagnosticError(.error(location, "--format \(request.format.rawValue) draws graph IR, and \(request.path) is kernel IR; drop --format"))
    }
    let parsed = try KernelParser.parse(request.text, path: request.path)
    try KernelVerifier.verify(parsed.program, sourceMap: parsed.sourceMap)
    let empty = Module(graphs: [])
    return OptResult(output: parsed.program.print(), dumps: [], diagnostics: [], sparsity: SparsityLog(),
                     input: empty, module: empty)
}
