// `sieve bench --profile`: per-kernel times measured inside a profiling build of the artifact (NAME_run reads the
// clock after every kernel), joined to what the compiler knows of each kernel: the cost model's estimate, the bytes
// it moves and its floating-point work, and the machine's limits for them. This is where a model's time goes.

import Foundation
import SieveIR
import SieveKernel
import SieveTarget

/// One kernel's line of a profile: one contender, thread count and mode.
public struct ProfileRow: Codable, Hashable, Sendable {
    /// The contender (`sieve-dense`, `sieve-2:4`), the threads its context ran and `cold` or `hot`.
    public var contender: String, threads: Int, mode: String
    /// The kernel (`k3_matmul`), the graph op it computes and where that op came from.
    public var kernel: String, op: String, location: String
    /// How lowering built it (its schedule or loop nest).
    public var pattern: String
    /// Median time of the kernel over the timed runs, and its share of the sum of all kernels' medians.
    public var medianMicroseconds: Double, share: Double
    /// The cost model's estimate and what it rests on: `schedule` (the chosen schedule of a product) or `stream`
    /// (every byte the kernel touches read or written once at the rate of the cache level it fits in).
    public var estimatedMicroseconds: Double, estimate: String
    /// Bytes moved and floating-point operations (a multiply-add counts two; 0 where the model does not count them).
    public var bytes: Int, flops: Int
    /// Achieved rates, and the machine's: the bandwidth of the level the bytes come from and the FMA peak.
    public var gigabytesPerSecond: Double, gigaflopsPerSecond: Double
    public var bandwidthLimit: Double, flopsLimit: Double
}

/// One contender, thread count and mode: the median run and the sum of the kernels' medians.
public struct ProfileRun: Codable, Hashable, Sendable {
    public var contender: String, threads: Int, mode: String
    public var runMicroseconds: Double, kernelsMicroseconds: Double, estimatedMicroseconds: Double
}

/// The profile of a `sieve bench --profile` run.
public struct ProfileReport: Codable, Hashable, Sendable {
    /// The target and the CPU the figures were measured on.
    public var target: String, cpu: String
    public var runs: [ProfileRun]
    public var rows: [ProfileRow]

    /// Per contender, thread count and mode: a summary line, the time per op kind, and the `top` slowest kernels.
    public func markdown(top: Int) -> String {
        func number(_ value: Double) -> String { String(format: value >= 100 ? "%.0f" : "%.3g", value) }
        var lines = ["## Profile", "", "- target: \(target)", "- CPU: \(cpu)",
                     "- estimate: `schedule` = the cost model of the product's chosen schedule; `stream` = the bytes the kernel touches once at the rate of the cache level they fit in", ""]
        for run in runs {
            let rows = rows.filter { $0.contender == run.contender && $0.threads == run.threads && $0.mode == run.mode }
            lines.append("### \(run.contender), \(run.threads) thread(s), \(run.mode)")
            lines.append("")
            lines.append("Median run \(number(run.runMicroseconds)) µs; the kernels' medians sum to \(number(run.kernelsMicroseconds)) µs; "
                + "the cost model estimates \(number(run.estimatedMicroseconds)) µs.")
            lines.append("")
            var byOp: [String: (time: Double, estimate: Double, count: Int)] = [:]
            for row in rows {
                byOp[row.op, default: (0, 0, 0)].time += row.medianMicroseconds
                byOp[row.op, default: (0, 0, 0)].estimate += row.estimatedMicroseconds
                byOp[row.op, default: (0, 0, 0)].count += 1
            }
            lines += ["| op | kernels | µs | share | estimated µs |", "| --- | ---: | ---: | ---: | ---: |"]
            for (op, total) in byOp.sorted(by: { $0.value.time > $1.value.time }) {
                let share = run.kernelsMicroseconds > 0 ? total.time / run.kernelsMicroseconds * 100 : 0
                lines.append("| \(op) | \(total.count) | \(number(total.time)) | \(String(format: "%.1f%%", share)) | \(number(total.estimate)) |")
            }
            lines.append("")
            let slowest = rows.sorted { $0.medianMicroseconds > $1.medianMicroseconds }.prefix(top)
            lines += ["| kernel | op | µs | share | estimated µs | estimate | bytes | MFLOP | GB/s | of limit | GFLOP/s | of peak | pattern |",
                      "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
            for row in slowest {
                let bandwidthShare = row.bandwidthLimit > 0 ? row.gigabytesPerSecond / row.bandwidthLimit * 100 : 0
                let flopsShare = row.flopsLimit > 0 ? row.gigaflopsPerSecond / row.flopsLimit * 100 : 0
                lines.append("| \(row.kernel) | \(row.op) | \(number(row.medianMicroseconds)) | \(String(format: "%.1f%%", row.share * 100)) | "
                    + "\(number(row.estimatedMicroseconds)) | \(row.estimate) | \(row.bytes) | \(number(Double(row.flops) / 1e6)) | "
                    + "\(number(row.gigabytesPerSecond)) | \(String(format: "%.0f%%", bandwidthShare)) | \(number(row.gigaflopsPerSecond)) | "
                    + "\(String(format: "%.0f%%", flopsShare)) | \(sanitizeTableCell(row.pattern)) |")
            }
            if rows.count > slowest.count { lines.append("| … \(rows.count - slowest.count) more kernels (all in --json) | | | | | | | | | | | | |") }
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }
}

/// Text safe inside a Markdown table cell.
private func sanitizeTableCell(_ text: String) -> String {
    text.replacingOccurrences(of: "|", with: "/").replacingOccurrences(of: "\n", with: " ")
}

/// What the compiler knows of one kernel of a lowered program, for joining to its measured time.
struct KernelFacts {
    var kernel: Kernel
    /// The product's problem and chosen schedule; nil for kernels without a schedule.
    var product: (problem: SieveTarget.KernelProblem, schedule: KernelSchedule)?
    /// Bytes of every buffer the kernel touches, and whether its work is split across the pool.
    var touchedBytes: Int
    var parallel: Bool
    /// Elements of the source op's first result (what a kernel without a schedule produces), 0 when unknown.
    var resultElements: Int
    /// What a kernel without a schedule does per element, for the cost model's streaming estimate.
    var streamingWork: StreamingWork

    /// The facts of every kernel of `graph` lowered for `target`, as `ArtifactWriter` lowers it.
    static func of(_ graph: Graph, target: TargetDescription) throws(DiagnosticError) -> [KernelFacts] {
        let program = try lowerToKernels(graph, options: LoweringOptions(name: "model", vectorWidth: target.f32Lanes))
        // A product may lower to several kernels (transposes or packing around the product itself): the one that
        // reads the most weight bytes (else the most bytes) carries the schedule's estimate, the others are streams.
        func rank(_ kernel: Kernel) -> (Int, Int) {
            let buffers = kernel.touchedBuffers.map { program.buffers[$0.index] }
            let constant = buffers.filter { if case .constant = $0.storage { true } else { false } }
            return (constant.reduce(0) { $0 + $1.byteCount }, buffers.reduce(0) { $0 + $1.byteCount })
        }
        var carrier: [Int: Int] = [:]  // op index -> kernel index
        for (index, kernel) in program.kernels.enumerated() {
            guard let op = kernel.sourceOp else { continue }
            if let current = carrier[op], rank(program.kernels[current]) >= rank(kernel) { continue }
            carrier[op] = index
        }
        return program.kernels.enumerated().map { position, kernel in
            var product: (SieveTarget.KernelProblem, KernelSchedule)?
            if let index = kernel.sourceOp, carrier[index] == position, let schedule = graph.operations[index].schedule,
               let problem = SieveTarget.KernelProblem.make(graph.operations[index], in: graph) {
                product = (problem, schedule)
            }
            var bytes = kernel.touchedBuffers.reduce(0) { $0 + program.buffers[$1.index].byteCount }
            let parallel = kernel.body.contains { if case let .loop(loop) = $0 { loop.parallel } else { false } }
            let result = kernel.sourceOp.flatMap { graph.operations[$0].results.first }.flatMap { graph.type(of: $0) }
            let elements = result?.elementCount ?? 0
            // A gather reads the rows it picks, not its whole table: count its result twice (read and written).
            let kind = kernel.sourceOp.map { graph.operations[$0].kind }
            if case .gather = kind, let result { bytes = min(bytes, 2 * elements * result.elementType.byteSize) }
            return KernelFacts(kernel: kernel, product: product, touchedBytes: bytes, parallel: parallel, resultElements: elements,
                               streamingWork: kernel.sourceOp.map { StreamingWork(graph.operations[$0], in: graph) } ?? StreamingWork(nil))
        }
    }

    /// The cost model's view of this kernel on `threads` threads: estimate, what it rests on, and the limits.
    func model(target: TargetDescription, threads: Int, cold: Bool) -> (estimate: ScheduleEstimate, basis: String, bandwidth: Double, peak: Double) {
        var machine = target
        machine.coreCount = threads
        let model = CostModel(target: machine)
        if let product {
            let estimate = model.estimate(product.schedule, for: product.problem)
            let weight = CostModel.weightBytes(product.problem)
            let bandwidth = cold ? model.rates.bandwidth(forColdBytes: weight, threads: estimate.threads)
                                 : model.rates.bandwidth(forWarmBytes: weight, threads: estimate.threads)
            return (estimate, "schedule", bandwidth, model.rates.peakFlops(threads: estimate.threads))
        }
        let used = parallel ? threads : 1
        let work = streamingWork.loops(elements: resultElements, lanes: target.f32Lanes)
        let estimate = model.streamingEstimate(bytes: touchedBytes, threads: used, work: work)
        return (estimate, "stream", model.rates.bandwidth(forWarmBytes: touchedBytes, threads: used), model.rates.peakFlops(threads: used))
    }
}

/// Joins a profiled contender's samples to the facts of its kernels.
/// - Parameter runs: every timed run of this contender at `threads` threads in `mode`.
func profileRows(contender: String, threads: Int, mode: String, runs: [ProfiledRun], facts: [KernelFacts],
                 target: TargetDescription) -> (summary: ProfileRun, rows: [ProfileRow]) {
    func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[(sorted.count - 1) / 2]
    }
    let medians = facts.indices.map { index in median(runs.map { $0.kernels.indices.contains(index) ? $0.kernels[index] : 0 }) * 1e6 }
    let total = medians.reduce(0, +)
    var estimated = 0.0
    var rows: [ProfileRow] = []
    for (fact, microseconds) in zip(facts, medians) {
        let model = fact.model(target: target, threads: threads, cold: mode == "cold")
        let estimate = Double(model.estimate.nanoseconds) / 1000
        estimated += estimate
        let bytes = fact.product == nil ? fact.touchedBytes : model.estimate.bytes
        let seconds = microseconds / 1e6
        rows.append(ProfileRow(
            contender: contender, threads: threads, mode: mode, kernel: fact.kernel.name, op: fact.kernel.op,
            location: fact.kernel.location, pattern: fact.kernel.pattern, medianMicroseconds: microseconds,
            share: total > 0 ? microseconds / total : 0, estimatedMicroseconds: estimate, estimate: model.basis,
            bytes: bytes, flops: model.estimate.flops,
            gigabytesPerSecond: seconds > 0 ? Double(bytes) / seconds / 1e9 : 0,
            gigaflopsPerSecond: seconds > 0 ? Double(model.estimate.flops) / seconds / 1e9 : 0,
            bandwidthLimit: model.bandwidth, flopsLimit: model.peak))
    }
    let summary = ProfileRun(contender: contender, threads: threads, mode: mode, runMicroseconds: median(runs.map(\.total)) * 1e6,
                             kernelsMicroseconds: total, estimatedMicroseconds: estimated)
    return (summary, rows)
}
