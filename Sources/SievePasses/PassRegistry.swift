// Maps pass names to passes, for `-p` and the dump flags. Adding a pass means adding a line here;
// there are no self-registering globals.

import SieveIR

/// Every graph pass by name.
public enum PassRegistry {
    /// The registered passes, in the order `--help` lists them.
    public static let passes: [any GraphPass] = [
        Canonicalize(),
        DeadCodeElimination(),
        CommonSubexpressionElimination(),
        TransposeWeights(),
        Fuse(),
    ]

    /// The registered names.
    public static var names: [String] { passes.map(\.name) }

    /// Looks up a pass by name.
    public static func pass(named name: String) -> (any GraphPass)? {
        passes.first { $0.name == name }
    }

    /// Parses a comma-separated pass list such as `canonicalize,dce`.
    public static func parsePipeline(_ text: String) throws(DiagnosticError) -> [any GraphPass] {
        var result: [any GraphPass] = []
        for name in text.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = name.trimmingSpaces
            guard let pass = pass(named: trimmed) else {
                let what = trimmed.isEmpty ? "an empty pass name" : "unknown pass '\(trimmed)'"
                throw DiagnosticError(.error(.unknown, "\(what) in '-p \(text)'; known passes: \(names.joined(separator: ", "))"))
            }
            result.append(pass)
        }
        return result
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
