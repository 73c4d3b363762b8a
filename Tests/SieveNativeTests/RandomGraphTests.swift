// Random differential tests: seeded random product graphs (shapes, batch dims, N:M patterns with padded and
// unpadded reductions, transposes, epilogues, gemm factors, elementwise tails) compiled once and run with 1 to 4 threads against the interpreter.

import Foundation
import SieveCodegenC
import SieveIR
import SieveFuzz
import SieveInterpreter
import Testing

@Suite("Random product graphs match the interpreter")
struct RandomGraphTests {
    @Test("40 random graphs, native target, 1 to 4 threads")
    func randomGraphs() throws {
        var references: [Graph] = [], compiled: [Graph] = []
        var padded = 0
        for seed in UInt64(0)..<40 {
            let (graph, nm) = try randomProductGraph(seed: seed)
            if let (_, m) = nm["w"], let k = graph.constants.entries.first(where: { $0.name == "w" })?.type.shape.last, k % m != 0 {
                padded += 1
            }
            let (reference, toCompile) = try makeNMPair(graph, nm: nm)
            references.append(reference)
            compiled.append(toCompile)
        }
        #expect(padded >= 3, "only \(padded) of the random graphs have an nm weight with a padded reduction")
        let reference = merge(references, name: "reference")
        let merged = merge(compiled, name: "compiled")
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let artifact = try compileAndLoad(merged, name: "random", target: .native, folder: folder)
        var random = SplitMix(seed: 2024)
        let inputs = reference.inputs.map { randomTensor(reference.values[$0.index].type, using: &random) }
        let expected = try Interpreter(graph: reference).run(inputs)
        var problems: [String] = []
        for threads in Int32(1)...4 {
            let actual = try artifact.runOnce(inputs, threads: threads)
            for index in expected.indices {
                problems += compareOutputs([actual[index]], [expected[index]], rtol: 1e-5, atol: 1e-4,
                                           label: "graph \(index) (\(compiled[index].print().split(separator: "\n").dropFirst(2).first ?? "")), \(threads) threads")
            }
        }
        #expect(problems.isEmpty, "\(problems.prefix(5).joined(separator: "\n"))")
    }
}

@Suite("Differential fuzzing: random graphs through the campaign")
struct GraphCampaignTests {
    /// The campaign `sieve-fuzz graphs` runs at length, in a seeded short run: 24 graphs in two batches, for the
    /// generic and the host target, compiled as C and by the LLVM JIT, at 1 and 3 threads, all matching the interpreter.
    @Test func seededShortGraphCampaignMatchesTheInterpreter() {
        var options = GraphCampaignOptions()
        options.count = 24
        options.seed = 1000
        options.batch = 12
        options.targets = [.x86_64, .native]
        options.threads = [1, 3]
        options.jit = true
        let summary = runGraphCampaign(options)
        #expect(summary.clean, "\(summary.render(options: options))")
        #expect(summary.graphs == 24 && summary.artifacts == 8 && summary.comparisons == 24 * 2 * 2 * 2, "\(summary.render(options: options))")
        #expect(summary.nmGraphs > 0, "\(summary.render(options: options))")
    }
}
