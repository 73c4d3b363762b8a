// Random well-typed graphs lowered to kernel IR: the printed program parses back, prints identically
// and verifies. Covers the elementwise, reduction, data-movement and fused kernels the lowering emits.

import SieveIR
import SieveKernel
import SieveTarget
import Testing

@Suite struct KernelTextRoundTripTests {
    static let graphCount = 400

    @Test func randomGraphsLowerToKernelIRThatRoundTrips() throws {
        var failures: [String] = []
        var lowered = 0
        for seed in 0..<UInt64(KernelTextRoundTripTests.graphCount) {
            var generator = GraphGenerator(seed: seed)
            let graph = generator.generate(ops: Int(seed % 16) + 1)
            guard Verifier.diagnostics(for: graph, checks: Verifier.targetChecks).isEmpty else { continue }
            // Graphs with ops lowering does not handle (or shapes it refuses) are not this test's subject.
            guard let program = try? lowerToKernels(graph, options: LoweringOptions(name: "g\(seed)", vectorWidth: [4, 8, 16][Int(seed % 3)],
                                                                                   parallelThreshold: 64)) else { continue }
            lowered += 1
            let text = program.print()
            do {
                let parsed = try KernelParser.parse(text, path: "seed\(seed).kir")
                if parsed.program.print() != text { failures.append("seed \(seed): print(parse(text)) != text\n\(text)") }
                if parsed.program.kernels.map(\.body) != program.kernels.map(\.body) {
                    failures.append("seed \(seed): kernel bodies differ after parsing\n\(text)")
                }
                if parsed.program.buffers != program.buffers { failures.append("seed \(seed): buffers differ after parsing") }
                try KernelVerifier.verify(parsed.program, sourceMap: parsed.sourceMap)
            } catch {
                failures.append("seed \(seed): \(error)\n\(text)")
            }
            if failures.count >= 5 { break }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n\n"))")
        // Most generated graphs lower; if lowering refused them all, this test would prove nothing.
        #expect(lowered >= KernelTextRoundTripTests.graphCount / 2, "only \(lowered) of \(KernelTextRoundTripTests.graphCount) random graphs lowered")
    }
}
