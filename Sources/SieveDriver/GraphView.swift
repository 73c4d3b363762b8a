// Graph views for `sieve inspect --format` and `sieve opt --format`: the graph IR as Graphviz DOT
// (SieveIR's Graph.dot), or as SVG drawn by Graphviz's `dot` when it is installed.

import Foundation
import SieveIR
import SievePasses

/// How `inspect` and `opt` show a graph.
public enum GraphViewFormat: String, Hashable, Sendable, CaseIterable {
    /// The usual output: the report (`inspect`) or textual IR (`opt`).
    case text
    /// Graphviz DOT.
    case dot
    /// SVG, drawn from the DOT by Graphviz's `dot -Tsvg`.
    case svg

    /// How the pass manager's dumps show graphs for this view.
    public var dumpFormat: DumpFormat { self == .text ? .text : .dot }
}

/// Draws graphs with Graphviz.
public enum GraphView {
    /// Where Graphviz's `dot` is on `PATH`, or nil.
    static func dotExecutable() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { String($0) + "/dot" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Fails with the one diagnostic for a missing `dot` before any work is done.
    public static func requireDot() throws(DiagnosticError) {
        guard dotExecutable() != nil else {
            throw DiagnosticError(.error(.unknown, "--format svg runs Graphviz's 'dot', which is not on PATH; install Graphviz (apt-get install graphviz) or pass --format dot and render it elsewhere"))
        }
    }

    /// DOT text as SVG, drawn by `dot -Tsvg`.
    public static func svg(fromDOT text: String) throws(DiagnosticError) -> String {
        guard let executable = dotExecutable() else {
            try requireDot()
            return ""
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-Tsvg"]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw DiagnosticError(.error(.unknown, "cannot run \(executable): \(error.localizedDescription)"))
        }
        // The graph is written on another thread while this one reads, so that neither pipe fills up and blocks dot.
        let writer = input.fileHandleForWriting
        let bytes = Data(text.utf8)
        let written = DispatchGroup()
        DispatchQueue.global().async(group: written) {
            try? writer.write(contentsOf: bytes)
            try? writer.close()
        }
        let collected = ToolOutput()
        DispatchQueue.global().async(group: written) {
            collected.errors = errors.fileHandleForReading.readDataToEndOfFile()
        }
        let svg = output.fileHandleForReading.readDataToEndOfFile()
        written.wait()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: collected.errors, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw DiagnosticError(.error(.unknown, "dot -Tsvg failed (exit \(process.terminationStatus)): \(message)"))
        }
        return String(decoding: svg, as: UTF8.self)
    }

    /// A pass-manager dump with its DOT drawn as SVG: the header line stays, the graph under it becomes SVG.
    /// Dumps without a graph (timing reports, "unchanged" notes) pass through.
    static func svgDump(_ dump: String) throws(DiagnosticError) -> String {
        guard let newline = dump.firstIndex(of: "\n") else { return dump }
        let body = dump[dump.index(after: newline)...]
        guard body.hasPrefix("digraph ") else { return dump }
        return String(dump[...newline]) + (try svg(fromDOT: String(body)))
    }
}

/// What a tool wrote to standard error, filled in on another thread.
private final class ToolOutput: @unchecked Sendable {
    var errors = Data()
}
