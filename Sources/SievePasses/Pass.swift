// The pass protocol and the context a pass runs in.
// A pass is a value with a stable kebab-case name; it rewrites a graph in place or throws.

import SieveFormats
import SieveIR
import SieveInterpreter

/// A transformation of one graph.
public protocol GraphPass: Sendable {
    /// The stable name used in `-p`, `--print-ir-after=` and pipelines.
    var name: String { get }
    /// Rewrites the graph; throws a `DiagnosticError` when the input cannot be handled.
    func run(on graph: inout Graph, context: inout PassContext) throws
}

/// A pass that takes options, written `name{key=value,...}` in a pass list.
public protocol ConfigurablePass: GraphPass {
    /// The option keys the pass understands, with a one-line description each, for messages and help.
    var optionHelp: [(key: String, meaning: String)] { get }
    /// This pass with the options applied (a key may repeat where the option is a list).
    func configured(with options: [(key: String, value: String)]) throws(DiagnosticError) -> any GraphPass
}

/// What a pass can report besides its rewrite, and the data some passes read.
public struct PassContext: Sendable {
    /// Non-fatal diagnostics, printed by the driver after the pipeline.
    public var diagnostics: [Diagnostic] = []
    /// Calibration inputs for passes that measure activations (sparsity-allocation, nm-legalize).
    public var calibration: CalibrationSet?
    /// Use at most this many calibration samples; nil for all.
    public var calibrationSamples: Int?
    /// What the sparsity passes decided and did, per layer, for the sparsity report.
    public var sparsity = SparsityLog()
    /// Where long passes report how far along they are (sensitivity, pruning); nil prints nothing.
    public var progress: ProgressHandler?
    /// What the quantize pass did per layer, for the report.
    public var quantization: [LayerQuantizationRecord] = []

    /// Makes an empty context.
    public init() {}
}
