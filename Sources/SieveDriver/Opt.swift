// `sieve opt`: parse textual IR, run a pass list with the dump flags, print the result.
// The same function serves the CLI and the in-process file tests.

import SieveIR
import SieveInterpreter
import SievePasses

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
    /// The printed IR after the passes.
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

/// Runs `sieve opt` in process.
public func runOpt(_ request: OptRequest) throws(DiagnosticError) -> OptResult {
    var module = try Parser.parse(request.text, path: request.path)
    let input = module
    let passes = request.pipeline.isEmpty ? [] : try PassRegistry.parsePipeline(request.pipeline)
    let manager = try PassManager(passes: passes, options: request.options)
    var dumps: [String] = []
    var context = PassContext()
    context.calibration = request.calibration
    context.calibrationSamples = request.calibrationSamples
    for index in module.graphs.indices {
        try manager.run(on: &module.graphs[index], context: &context) { dumps.append($0) }
    }
    let output = module.print(options: PrintOptions(locations: request.printLocations))
    return OptResult(output: output, dumps: dumps, diagnostics: context.diagnostics, sparsity: context.sparsity,
                     input: input, module: module)
}
