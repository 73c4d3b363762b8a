// Differential fuzzing of compiled code against the interpreter: random product graphs (every N:M pattern, padded
// reductions, epilogues, gemm factors, elementwise tails), compiled in batches for each target and thread count.

import Foundation
import SieveDriver
import SieveIR
import SieveInterpreter
import SieveKernel
import SieveTarget
import SieveTestSupport

/// How a graph campaign runs.
public struct GraphCampaignOptions: Sendable {
    /// Random graphs in all.
    public var count = 200
    /// The first graph's seed; graph i has seed `seed + i`.
    public var seed: UInt64 = 0
    /// Graphs compiled side by side into one artifact (one C compiler run per batch and target).
    public var batch = 40
    /// Targets to compile for; those the host cannot run are left out by `runnableTargets`.
    public var targets: [TargetDescription] = GraphCampaignOptions.runnableTargets
    /// Thread counts every artifact runs with.
    public var threads: [Int] = [1, 2, 3, 4]
    /// Also compile every batch with the LLVM backend's JIT, for every target, and compare it the same way.
    public var jit = false

    /// Options with every default.
    public init() {}

    /// The generic x86-64 target, the host's, and AVX2 and AVX-512 when the host has them.
    public static var runnableTargets: [TargetDescription] {
        var targets: [TargetDescription] = [.x86_64, .native]
        if TargetDescription.native.f32Lanes >= 8 { targets.append(.x86_64_v3) }
        if TargetDescription.native.f32Lanes >= 16 { targets.append(.x86_64_v4) }
        return targets
    }
}

/// What a graph campaign found.
public struct GraphSummary: Sendable {
    /// Graphs generated, graphs with an N:M weight, and those whose reduction is not a multiple of M.
    public var graphs = 0, nmGraphs = 0, paddedGraphs = 0
    /// Artifacts compiled and (graph, target, thread count) runs compared.
    public var artifacts = 0, comparisons = 0
    /// Graphs whose compiled outputs differ from the interpreter's, by graph seed, target and thread count.
    public var mismatches: [String] = []
    /// Batches that failed to compile or run.
    public var errors: [String] = []
    /// Wall-clock seconds.
    public var seconds = 0.0

    /// Whether nothing failed.
    public var clean: Bool { mismatches.isEmpty && errors.isEmpty }

    /// The summary lines.
    public func render(options: GraphCampaignOptions) -> String {
        var lines = ["graphs (seeds \(options.seed)..<\(options.seed + UInt64(graphs)), targets \(options.targets.map(\.name).joined(separator: ", ")), threads \(options.threads.map(String.init).joined(separator: ", ")), \(String(format: "%.0f", seconds)) s):",
                     "  \(graphs) random graphs (\(nmGraphs) with an N:M weight, \(paddedGraphs) of them with a padded reduction), \(artifacts) artifacts, \(comparisons) graph runs compared",
                     "  graph mismatches: \(mismatches.count), compile or run errors: \(errors.count)"]
        lines += (mismatches + errors).prefix(20).map { "  " + $0 }
        return lines.joined(separator: "\n")
    }
}

/// Runs a graph campaign: each batch of random graphs is compiled once per target, run at every thread count on
/// seeded random inputs, and compared with the interpreter (floats within 1e-5 relative and 1e-4 absolute).
public func runGraphCampaign(_ options: GraphCampaignOptions, progress: (String) -> Void = { _ in }) -> GraphSummary {
    let start = Date()
    var summary = GraphSummary()
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-fuzz-graphs-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    var first = 0
    while first < options.count {
        let seeds = (first..<min(options.count, first + options.batch)).map { options.seed + UInt64($0) }
        first += seeds.count
        var references: [Graph] = [], compiled: [Graph] = []
        for seed in seeds {
            do {
                let (graph, nm) = try randomProductGraph(seed: seed)
                if let (_, m) = nm["w"] {
                    summary.nmGraphs += 1
                    if let k = graph.constants.entries.first(where: { $0.name == "w" })?.type.shape.last, k % m != 0 { summary.paddedGraphs += 1 }
                }
                let (reference, toCompile) = try makeNMPair(graph, nm: nm)
                references.append(reference)
                compiled.append(toCompile)
                summary.graphs += 1
            } catch {
                summary.errors.append("graph seed \(seed): cannot be generated: \(error)")
            }
        }
        let reference = Graph.sideBySide(references, name: "reference")
        let merged = Graph.sideBySide(compiled, name: "compiled")
        var random = SplitMix64(seed: seeds.first ?? 0)
        let inputs = reference.inputs.map { randomTensor(reference.values[$0.index].type, using: &random) }
        let expected: [Tensor]
        do {
            expected = try Interpreter(graph: reference).run(inputs)
        } catch {
            summary.errors.append("graph seeds \(seeds.first ?? 0)...\(seeds.last ?? 0): the interpreter fails: \(error)")
            continue
        }
        // Each graph of the batch has one output, in order.
        for target in options.targets {
            let output = folder.appendingPathComponent("batch-\(seeds.first ?? 0)-\(target.name)")
            do {
                _ = try ArtifactWriter.write(ArtifactRequest(
                    graph: merged, name: "fuzz", outputDirectory: output.path, target: target, weights: .embedded,
                    sourceDescription: "random product graphs \(seeds.first ?? 0)...\(seeds.last ?? 0)", compiler: "cc",
                    extraFlags: ["-Werror"], parallelThreshold: 1))
                var artifacts = [("C", try NativeArtifact(library: output.appendingPathComponent("libfuzz.so").path, name: "fuzz"))]
                if options.jit {
                    let program = try lowerToKernels(merged, options: LoweringOptions(name: "fuzz", vectorWidth: target.f32Lanes, parallelThreshold: 1))
                    artifacts.append(("JIT", try NativeArtifact(jit: program, target: target)))
                }
                for (backend, artifact) in artifacts {
                    summary.artifacts += 1
                    for threads in options.threads {
                        let actual = try artifact.run(inputs, threads: threads)
                        for (index, seed) in seeds.enumerated() where index < expected.count && index < actual.count {
                            summary.comparisons += 1
                            let problems = compareOutputs([actual[index]], [expected[index]], rtol: 1e-5, atol: 1e-4,
                                                          label: "graph seed \(seed), target \(target.name), \(backend), \(threads) threads")
                            if let problem = problems.first { summary.mismatches.append(problem.split(separator: "\n").first.map(String.init) ?? problem) }
                        }
                    }
                }
            } catch {
                summary.errors.append("graph seeds \(seeds.first ?? 0)...\(seeds.last ?? 0), target \(target.name): \(error)")
            }
            try? FileManager.default.removeItem(at: output)
        }
        progress("graphs: \(first) of \(options.count), \(summary.comparisons) runs compared, \(summary.mismatches.count) mismatches, \(summary.errors.count) errors, \(String(format: "%.0f", Date().timeIntervalSince(start))) s")
    }
    summary.seconds = Date().timeIntervalSince(start)
    return summary
}
