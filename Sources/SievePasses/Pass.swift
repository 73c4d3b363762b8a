// The pass protocol and the context a pass runs in.
// A pass is a value with a stable kebab-case name; it rewrites a graph in place or throws.

import SieveIR

/// A transformation of one graph.
public protocol GraphPass: Sendable {
    /// The stable name used in `-p`, `--print-ir-after=` and pipelines.
    var name: String { get }
    /// Rewrites the graph; throws a `DiagnosticError` when the input cannot be handled.
    func run(on graph: inout Graph, context: inout PassContext) throws
}

/// What a pass can report besides its rewrite: warnings and notes for the user.
public struct PassContext: Sendable {
    /// Non-fatal diagnostics, printed by the driver after the pipeline.
    public var diagnostics: [Diagnostic] = []

    /// Makes an empty context.
    public init() {}
}
