// Runs a pipeline of passes: verifies after each, prints IR dumps, stops early and times passes
// as the dump flags ask. Every flag is an explicit option; nothing is read from the environment.

import SieveIR
import SieveTarget

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which passes a dump flag applies to.
public enum PassSelection: Hashable, Sendable {
    case none
    case all
    case names(Set<String>)

    /// Whether the selection includes a pass.
    public func contains(_ name: String) -> Bool {
        switch self {
        case .none: return false
        case .all: return true
        case let .names(names): return names.contains(name)
        }
    }

    /// Every name the selection lists (empty for `.none` and `.all`).
    public var listedNames: Set<String> {
        if case let .names(names) = self { return names }
        return []
    }
}

/// How an IR dump shows a graph.
public enum DumpFormat: String, Hashable, Sendable, CaseIterable {
    /// The textual IR (IR/README.md).
    case text
    /// A Graphviz `digraph` (`Graph.dot()`); the dump header before it is a DOT comment, so a file of dumps
    /// is a sequence of graphs that `dot` reads as it is.
    case dot
}

/// How the pass manager runs a pipeline.
public struct PassManagerOptions: Hashable, Sendable {
    /// Run the verifier before the first pass and after every pass.
    public var verifyEach = true
    /// Print the IR before these passes.
    public var printBefore: PassSelection = .none
    /// Print the IR after these passes.
    public var printAfter: PassSelection = .none
    /// Print after a pass only if it changed the IR, and say "unchanged" otherwise.
    public var printAfterChange = false
    /// Stop after this pass.
    public var stopAfter: String?
    /// Report each pass's wall time.
    public var timePasses = false
    /// How dumps print the IR.
    public var dumpOptions = PrintOptions(elideConstantsLargerThan: 1024, sparsityNotes: true)
    /// Whether dumps are textual IR or Graphviz DOT (`--format dot`).
    public var dumpFormat: DumpFormat = .text

    /// Makes the default options: verify after each pass, print nothing.
    public init() {}
}

extension PassManagerOptions {
    /// These options for one stage of a longer pipeline: dump and stop flags keep only the names of `passes`,
    /// so that `--print-ir-after=fuse` applies to the stage that runs fuse and the other stages accept it.
    public func restricted(to passes: [any GraphPass]) -> PassManagerOptions {
        let names = Set(passes.map(\.name))
        func restrict(_ selection: PassSelection) -> PassSelection {
            guard case let .names(listed) = selection else { return selection }
            let kept = listed.intersection(names)
            return kept.isEmpty ? .none : .names(kept)
        }
        var options = self
        options.printBefore = restrict(printBefore)
        options.printAfter = restrict(printAfter)
        if let stop = stopAfter, !names.contains(stop) { options.stopAfter = nil }
        return options
    }
}

/// Wall time spent in each pass.
public struct PassTiming: Hashable, Sendable {
    /// The pass name.
    public var pass: String
    /// Seconds spent in the pass (verification excluded).
    public var seconds: Double
    /// Whether the pass changed the graph.
    public var changed: Bool
}

/// A point in a pipeline at which the pass manager calls its observer.
public enum PassEvent: Hashable, Sendable {
    /// Just before the named pass runs (before its `--print-ir-before` dump).
    case before(String)
    /// Just after the named pass ran and was verified (after its `--print-ir-after` dump).
    case after(String)
}

/// What the pass manager does once an observer returns.
public enum PassObserverAction: Hashable, Sendable {
    /// Go on with the pipeline.
    case proceed
    /// End the pipeline here: no further pass runs (the timing report still prints).
    case stop
}

/// Called by `PassManager.run` before and after every pass, in pipeline order, with the graph at that point
/// and the passes' context so far. The driver uses it to keep a copy of the graph (the dense reference before
/// sparsity-allocation), to read what a pass logged, to replace the graph (weights carried over from another
/// graph) or to end the pipeline early. A graph it replaces must be valid: the verifier next runs after the
/// following pass.
public typealias PassObserver = (_ event: PassEvent, _ graph: inout Graph, _ context: PassContext) throws -> PassObserverAction

/// Runs passes in order over a graph.
public struct PassManager: Sendable {
    /// The passes, in order.
    public var passes: [any GraphPass]
    /// How to run them.
    public var options: PassManagerOptions

    /// Makes a pass manager; checks that every pass named by a flag is in the pipeline.
    public init(passes: [any GraphPass], options: PassManagerOptions = PassManagerOptions()) throws(DiagnosticError) {
        self.passes = passes
        self.options = options
        let names = Set(passes.map(\.name))
        var flagged = options.printBefore.listedNames.union(options.printAfter.listedNames)
        if let stop = options.stopAfter { flagged.insert(stop) }
        if let unknown = flagged.subtracting(names).sorted().first {
            let known = PassRegistry.names.contains(unknown)
                ? "pass '\(unknown)' is not in this pipeline (\(passes.map(\.name).joined(separator: ",")))"
                : "unknown pass '\(unknown)'; known passes: \(PassRegistry.names.joined(separator: ", "))"
            throw DiagnosticError(.error(.unknown, known))
        }
    }

    /// An observer that ends a pipeline just before the first pass of this name runs.
    public static func stopBefore(_ pass: String) -> PassObserver {
        { event, _, _ in event == .before(pass) ? .stop : .proceed }
    }

    /// A graph as the dumps show it.
    private func render(_ graph: Graph) -> String {
        switch options.dumpFormat {
        case .text: return graph.print(options: options.dumpOptions)
        case .dot: return graph.dot()
        }
    }

    /// The dump header in the MLIR style.
    public static func header(_ when: String, _ pass: String, note: String? = nil) -> String {
        "// -----// IR Dump \(when) \(pass)\(note.map { " (\($0))" } ?? "") //----- //"
    }

    /// Runs the pipeline. Dumps and timing go to `dump`; warnings come back in the context. `observer`, when
    /// given, is called before and after every pass and may end the pipeline early.
    @discardableResult
    public func run(on graph: inout Graph, context: inout PassContext, dump: (String) -> Void,
                    observer: PassObserver? = nil) throws(DiagnosticError) -> [PassTiming] {
        var timings: [PassTiming] = []
        if options.verifyEach {
            try Verifier.verify(graph, checks: Verifier.targetChecks)
        }
        func observe(_ event: PassEvent) throws(DiagnosticError) -> PassObserverAction {
            guard let observer else { return .proceed }
            do {
                return try observer(event, &graph, context)
            } catch let error as DiagnosticError {
                throw error
            } catch {
                throw DiagnosticError(.error(graph.location, "\(error)"))
            }
        }
        for pass in passes {
            if try observe(.before(pass.name)) == .stop { break }
            if options.printBefore.contains(pass.name) {
                dump(PassManager.header("Before", pass.name) + "\n" + render(graph))
            }
            let before = graph
            let start = monotonicSeconds()
            do {
                try pass.run(on: &graph, context: &context)
            } catch let error as DiagnosticError {
                throw error
            } catch {
                throw DiagnosticError(.error(graph.location, "pass '\(pass.name)' failed: \(error)"))
            }
            graph.compact()
            let seconds = monotonicSeconds() - start
            let changed = graph != before
            timings.append(PassTiming(pass: pass.name, seconds: seconds, changed: changed))
            if options.verifyEach {
                let problems = Verifier.diagnostics(for: graph, checks: Verifier.targetChecks)
                if !problems.isEmpty {
                    let lead = Diagnostic.error(graph.location, "pass '\(pass.name)' produced invalid IR; this is a bug in Sieve, please report it with the input")
                    throw DiagnosticError([lead] + problems)
                }
            }
            let printAfter = options.printAfter.contains(pass.name)
                || (options.printAfterChange && options.printAfter == .none)
            if printAfter {
                if options.printAfterChange && !changed {
                    dump(PassManager.header("After", pass.name, note: "unchanged"))
                } else {
                    dump(PassManager.header("After", pass.name) + "\n" + render(graph))
                }
            }
            if try observe(.after(pass.name)) == .stop { break }
            if pass.name == options.stopAfter { break }
        }
        if options.timePasses { dump(PassManager.timingReport(timings)) }
        return timings
    }

    /// A table of pass times, like MLIR's `--mlir-timing`.
    public static func timingReport(_ timings: [PassTiming]) -> String {
        let total = timings.reduce(0) { $0 + $1.seconds }
        var lines = ["===- Pass execution timing report -===", "  Total: \(formatSeconds(total))",
                     "  ---Wall Time---  --- Name ---"]
        for timing in timings {
            let share = total > 0 ? timing.seconds / total * 100 : 0
            let percent = String(format1(share)) + "%"
            lines.append("  \(formatSeconds(timing.seconds).padding(9)) \(percent.padding(7))  \(timing.pass)\(timing.changed ? "" : " (unchanged)")")
        }
        return lines.joined(separator: "\n")
    }
}

/// Seconds from a monotonic clock.
public func monotonicSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

func format1(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}

func formatSeconds(_ seconds: Double) -> String {
    let micro = Int((seconds * 1e6).rounded())
    return "\(micro / 1_000_000).\(String(micro % 1_000_000).leftPadded(6, with: "0"))s"
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
    func leftPadded(_ width: Int, with pad: Character) -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
