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
        FuseQDQ(),
        TransposeWeights(),
        Fuse(),
        SparsityAllocation(),
        NMLegalize(),
        Quantize(),
        Schedule(),
    ]

    /// The registered names.
    public static var names: [String] { passes.map(\.name) }

    /// Looks up a pass by name.
    public static func pass(named name: String) -> (any GraphPass)? {
        passes.first { $0.name == name }
    }

    /// Parses a comma-separated pass list such as `canonicalize,dce` or
    /// `sparsity-allocation{sparsity=2:4},nm-legalize{prune=wanda}`: options go in braces after
    /// the name, as comma-separated `key=value` pairs (a key may repeat where it is a list).
    public static func parsePipeline(_ text: String) throws(DiagnosticError) -> [any GraphPass] {
        var result: [any GraphPass] = []
        for entry in try splitPipeline(text) {
            var trimmed = entry.trimmingSpaces
            var options: [(key: String, value: String)]?
            if let open = trimmed.firstIndex(of: "{") {
                guard trimmed.hasSuffix("}") else {
                    throw DiagnosticError(.error(.unknown, "options of '\(trimmed)' in '-p \(text)' must end with '}'"))
                }
                let body = trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)]
                options = []
                for pair in body.split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2, !parts[0].trimmingSpaces.isEmpty else {
                        throw DiagnosticError(.error(.unknown, "option '\(pair)' in '-p \(text)' must be written key=value"))
                    }
                    options?.append((parts[0].trimmingSpaces, parts[1].trimmingSpaces))
                }
                trimmed = trimmed[..<open].trimmingSpaces
            }
            guard let pass = pass(named: trimmed) else {
                let what = trimmed.isEmpty ? "an empty pass name" : "unknown pass '\(trimmed)'"
                throw DiagnosticError(.error(.unknown, "\(what) in '-p \(text)'; known passes: \(names.joined(separator: ", "))"))
            }
            if let options {
                guard let configurable = pass as? any ConfigurablePass else {
                    throw DiagnosticError(.error(.unknown, "pass '\(trimmed)' takes no options, found '\(entry)'"))
                }
                result.append(try configurable.configured(with: options))
            } else {
                result.append(pass)
            }
        }
        return result
    }

    /// Splits a pass list at the commas outside braces.
    static func splitPipeline(_ text: String) throws(DiagnosticError) -> [Substring] {
        var entries: [Substring] = []
        var depth = 0
        var start = text.startIndex
        for index in text.indices {
            switch text[index] {
            case "{": depth += 1
            case "}":
                depth -= 1
                if depth < 0 { throw DiagnosticError(.error(.unknown, "unbalanced '}' in '-p \(text)'")) }
            case "," where depth == 0:
                entries.append(text[start..<index])
                start = text.index(after: index)
            default: break
            }
        }
        guard depth == 0 else { throw DiagnosticError(.error(.unknown, "unclosed '{' in '-p \(text)'")) }
        entries.append(text[start...])
        return entries
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
