// The compile report's schedule section: per kernel-bearing layer, the kernel variant the schedule pass chose,
// the cost model's estimate (time, bytes moved, memory- or compute-bound) and, with --autotune, the measured time.

import Foundation
import SieveIR
import SieveTarget

/// One scheduled layer of the report.
public struct ScheduleReportRow: Codable, Hashable, Sendable {
    /// The layer's result value, as the IR names it.
    public var layer: String
    /// The op mnemonic.
    public var op: String
    /// Activation rows x outputs x reduction.
    public var shape: String
    /// `dense` or the N:M pattern.
    public var pattern: String
    /// The schedule in one line.
    public var schedule: String
    /// Estimated time of one call in microseconds, bytes moved, and `memory` or `compute`.
    public var estimatedMicroseconds: Double?
    public var bytes: Int?
    public var bound: String?
    /// Threads the estimate assumes.
    public var threads: Int?
    /// Whether `--autotune` timed candidates for this layer, and the chosen one's time in microseconds (lower quartile).
    public var autotuned: Bool
    public var measuredMicroseconds: Double?
    /// The candidates `--autotune` timed: schedule and lower-quartile microseconds.
    public var candidates: [ScheduleCandidateTime]
}

/// One timed autotune candidate.
public struct ScheduleCandidateTime: Codable, Hashable, Sendable {
    /// The schedule in one line.
    public var schedule: String
    /// Median microseconds of one call.
    public var microseconds: Double
}

/// The schedule section of the compile report.
public struct ScheduleReport: Codable, Hashable, Sendable {
    /// The target the schedule is for.
    public var target: String
    /// One row per kernel-bearing op that carries a schedule, in op order.
    public var layers: [ScheduleReportRow]

    /// Collects the rows from a scheduled graph; `timings` holds autotune measurements by op index.
    public init(graph: Graph, target: String, timings: [Int: [ScheduleCandidateTime]] = [:]) {
        self.target = target
        layers = []
        for (index, op) in graph.operations.enumerated() {
            guard let schedule = op.schedule, let result = op.results.first else { continue }
            let problem = KernelProblem.make(op, in: graph)
            let shape = problem.map { "\($0.rows)x\($0.outputs)x\($0.reduction)" } ?? "?"
            let estimate = schedule.estimate
            layers.append(ScheduleReportRow(
                layer: graph.valueName(result), op: op.kind.mnemonic, shape: shape,
                pattern: problem?.pattern.map { "\($0)" } ?? "dense", schedule: schedule.summary,
                estimatedMicroseconds: estimate.map { Double($0.nanoseconds) / 1000 }, bytes: estimate?.bytes,
                bound: estimate?.bound.rawValue, threads: estimate?.threads,
                autotuned: estimate?.measuredNanoseconds != nil,
                measuredMicroseconds: estimate?.measuredNanoseconds.map { Double($0) / 1000 },
                candidates: timings[index] ?? []))
        }
    }

    /// The section as Markdown.
    public func markdown() -> String {
        func number(_ value: Double?) -> String { value.map { String(format: "%.4g", $0) } ?? "–" }
        var lines = ["## Schedule", "", "- target: \(target)"]
        let tuned = layers.filter(\.autotuned)
        lines.append(tuned.isEmpty ? "- autotune: off (estimates only; pass --autotune to time candidates on this machine)"
                                   : "- autotune: \(tuned.count) of \(layers.count) layers timed on this machine")
        lines += ["", "| layer | op | rows x outputs x k | pattern | schedule | estimated µs | bytes | bound | threads | measured µs |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for row in layers {
            lines.append("| \(row.layer) | \(row.op) | \(row.shape) | \(row.pattern) | \(row.schedule) | \(number(row.estimatedMicroseconds)) | "
                + "\(row.bytes.map(String.init) ?? "–") | \(row.bound ?? "–") | \(row.threads.map(String.init) ?? "–") | \(number(row.measuredMicroseconds)) |")
        }
        let timed = layers.filter { !$0.candidates.isEmpty }
        if !timed.isEmpty {
            lines += ["", "Autotune candidates (lower-quartile µs of one call of a standalone artifact holding only that layer, weights hot):", ""]
            for row in timed {
                lines.append("- \(row.layer): " + row.candidates.map { "\($0.schedule): \(number($0.microseconds))" }.joined(separator: "; "))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
