// `sieve bench`: times a model compiled dense against the same model compiled N:M sparse, in one
// process, alternating the two, cold (caches flushed before each call) and hot; prints medians and ratios.

import Foundation
import SieveCodegenC
import SieveFormats
import SieveIR
import SieveInterpreter
import SievePasses
import SieveTarget

/// What `sieve bench` measures.
public struct BenchRequest: Sendable {
    /// The model file (`.onnx` or `.sir`).
    public var modelPath: String
    /// Where sensitivity and pruning report how far along they are; nil for none.
    public var progress: ProgressHandler?
    /// Shapes for symbolic input dimensions, by input name.
    public var inputShapes: [String: [Int]] = [:]
    /// The sparse contender's sparsification (nil: the dense contender only).
    public var sparsity: SparsifyOptions?
    /// Calibration data for the sparsity passes.
    public var calibration: CalibrationSet?
    /// The CPU, the C compiler and the artifact cache.
    public var target: TargetDescription = .native
    public var compiler = "cc"
    public var cacheDirectory = defaultCacheDirectory()
    /// Thread counts to time.
    public var threads: [Int] = [1, 2]
    /// Rounds; in each every contender runs `calls` timed calls in turn.
    public var repetitions = 5
    public var calls = 10
    /// Bytes read between calls in cold mode (64 MiB: twice this machine's L3).
    public var flushBytes = 64 << 20
    /// Whether to time each kernel inside profiling builds of the contenders (`--profile`).
    public var profile = false

    /// Makes a request for a model file.
    public init(modelPath: String) { self.modelPath = modelPath }
}

/// One row of the bench table.
public struct BenchRow: Sendable {
    public var contender: String
    public var threads: Int
    public var mode: String
    /// Seconds: median, 10th and 90th percentile over every sample.
    public var median: Double, p10: Double, p90: Double
    public var samples: Int
}

/// What `sieve bench` measured.
public struct BenchResult: Sendable {
    /// One row per contender, thread count and mode.
    public var rows: [BenchRow]
    /// Per kernel, with `--profile`.
    public var profile: ProfileReport?
}

/// Compiles the contenders, times them alternately and returns one row per contender, thread count and mode
/// (and, with `profile`, the time of every kernel).
public func runBench(_ request: BenchRequest, log: (String) -> Void = { _ in }) throws -> BenchResult {
    let loaded = try loadModel(path: request.modelPath, inputShapes: request.inputShapes)
    var contenders: [(name: String, artifact: NativeArtifact, facts: [KernelFacts])] = []
    func addContender(_ name: String, _ graph: Graph) throws {
        let artifact = try cachedArtifact(for: graph, source: request.modelPath, target: request.target, compiler: request.compiler,
                                          cacheDirectory: request.cacheDirectory, profile: request.profile)
        var facts: [KernelFacts] = []
        if request.profile {
            facts = try KernelFacts.of(graph, target: request.target)
            guard artifact.profiledKernels?.map(\.name) == facts.map(\.kernel.name) else {
                throw DiagnosticError(.error(.unknown, "the profiling build of \(name) does not list the kernels this compiler lowers; clear the artifact cache (\(request.cacheDirectory)) and retry"))
            }
        }
        contenders.append((name, artifact, facts))
    }
    let dense = try prepareGraph(loaded.graph, target: request.target, sparsity: nil, calibration: nil,
                                 passManager: PassManagerOptions())
    log("bench: compiling the dense contender")
    try addContender("sieve-dense", dense.graph)
    if let sparsity = request.sparsity {
        log("bench: sparsifying and compiling the sparse contender")
        let sparse = try prepareGraph(loaded.graph, target: request.target, sparsity: sparsity,
                                      calibration: request.calibration, passManager: PassManagerOptions(), progress: request.progress)
        try addContender("sieve-\(sparse.sparsity?.sparsity ?? "sparse")", sparse.graph)
    }

    // Inputs: floats uniform in [-1, 1) from a fixed seed; integers and bools zero (valid indices).
    var state: UInt64 = 2026
    let inputs = try loaded.graph.inputs.map { id throws(DiagnosticError) -> Tensor in
        let type = loaded.graph.values[id.index].type
        let count = type.elementCount ?? 0
        let values: [Double] = (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return type.elementType.isFloat ? Double(state >> 11) / Double(1 << 53) * 2 - 1 : 0
        }
        return try Tensor(shape: type.shape, elementType: type.elementType, values: values)
    }

    var flush = [UInt8](repeating: 1, count: max(0, request.flushBytes))
    var sink: UInt64 = 0
    func readFlushBuffer() {
        // Touch one byte per cache line, so the weights of the next call come from DRAM.
        flush.withUnsafeMutableBufferPointer { buffer in
            var index = 0
            while index < buffer.count {
                sink &+= UInt64(buffer[index])
                buffer[index] &+= 1
                index += 64
            }
        }
    }
    // Rows carry the threads the runtime really runs, not the count asked for.
    var threadCounts: [Int] = []
    for requested in request.threads {
        let used = runtimeThreadCount(requested)
        if used != requested { log("bench: \(requested) thread(s) asked for, the runtime runs \(used) (its limit is \(maxRuntimeThreads))") }
        if !threadCounts.contains(used) { threadCounts.append(used) }
    }
    var samples: [String: [ProfiledRun]] = [:]
    for threads in threadCounts {
        for mode in ["cold", "hot"] {
            for round in 0..<request.repetitions {
                for contender in contenders {
                    usleep(100_000)  // let other pools' spinning threads settle
                    if mode == "hot" { _ = try contender.artifact.time(inputs, threads: threads, calls: 1) {} }
                    let flush = { if mode == "cold" { readFlushBuffer() } }
                    let runs = request.profile
                        ? try contender.artifact.profile(inputs, threads: threads, calls: request.calls, beforeEach: flush)
                        : try contender.artifact.time(inputs, threads: threads, calls: request.calls, beforeEach: flush)
                            .map { ProfiledRun(total: $0, kernels: []) }
                    samples["\(contender.name)|\(threads)|\(mode)", default: []] += runs
                    if round == 0 { log("bench: \(contender.name), \(threads) thread(s), \(mode): first round done") }
                }
            }
        }
    }
    if sink == 42 { log("") }  // keeps the flush reads from being optimised away
    var rows: [BenchRow] = []
    var profile = ProfileReport(target: request.target.name, cpu: hostCPUDescription(), runs: [], rows: [])
    for threads in threadCounts {
        for mode in ["cold", "hot"] {
            for contender in contenders {
                let runs = samples["\(contender.name)|\(threads)|\(mode)"] ?? []
                let sorted = runs.map(\.total).sorted()
                guard !sorted.isEmpty else { continue }
                func quantile(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * q))] }
                rows.append(BenchRow(contender: contender.name, threads: threads, mode: mode, median: quantile(0.5),
                                     p10: quantile(0.1), p90: quantile(0.9), samples: sorted.count))
                if request.profile {
                    let joined = profileRows(contender: contender.name, threads: threads, mode: mode, runs: runs,
                                             facts: contender.facts, target: request.target)
                    profile.runs.append(joined.summary)
                    profile.rows += joined.rows
                }
            }
        }
    }
    return BenchResult(rows: rows, profile: request.profile ? profile : nil)
}

/// The CPU the figures are measured on, as the host describes itself: model, widest vector ISA and cores.
func hostCPUDescription() -> String {
    guard let host = try? TargetDescription.host() else { return "unknown (not Linux)" }
    let isa = host.has(.avx512f) ? "AVX-512" : host.has(.avx2) ? "AVX2" : "SSE2"
    return "\(host.cpuModel ?? "unknown model"), \(isa), \(host.coreCount.map { "\($0) cores" } ?? "cores unknown")"
}

/// The rows as a Markdown table with each row's speed relative to the dense contender at the same
/// thread count and mode (above 1 = faster than dense).
public func benchTable(_ rows: [BenchRow]) -> String {
    var lines = ["| contender | threads | mode | median ms | p10 ms | p90 ms | samples | vs dense |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows {
        let dense = rows.first { $0.contender == "sieve-dense" && $0.threads == row.threads && $0.mode == row.mode }
        let ratio = dense.map { String(format: "%.2fx", $0.median / row.median) } ?? "-"
        lines.append(String(format: "| %@ | %d | %@ | %.3f | %.3f | %.3f | %d | %@ |", row.contender, row.threads, row.mode,
                            row.median * 1e3, row.p10 * 1e3, row.p90 * 1e3, row.samples, ratio))
    }
    return lines.joined(separator: "\n") + "\n"
}

/// The result as JSON: the rows (times in milliseconds) and, with --profile, the profile.
public func benchJSON(_ result: BenchResult) throws(DiagnosticError) -> String {
    struct Row: Encodable {
        var contender: String, threads: Int, mode: String
        var medianMilliseconds: Double, p10Milliseconds: Double, p90Milliseconds: Double, samples: Int
    }
    struct Document: Encodable { var rows: [Row]; var profile: ProfileReport? }
    let rows = result.rows.map { Row(contender: $0.contender, threads: $0.threads, mode: $0.mode, medianMilliseconds: $0.median * 1e3,
                                     p10Milliseconds: $0.p10 * 1e3, p90Milliseconds: $0.p90 * 1e3, samples: $0.samples) }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    do {
        return String(decoding: try encoder.encode(Document(rows: rows, profile: result.profile)), as: UTF8.self)
    } catch {
        throw DiagnosticError(.error(.unknown, "cannot encode the bench result as JSON: \(error)"))
    }
}
