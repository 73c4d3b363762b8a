// Property tests over thousands of random well-typed graphs: the verifier accepts them, text
// round-trips exactly, and the clean-up pipeline keeps them valid, printable and computing the same.

import SieveIR
import SieveInterpreter
import SievePasses
import Testing

@Suite struct PropertyTests {
    static let graphCount = 5000

    @Test func randomGraphsVerifyRoundTripAndSurviveCleanup() throws {
        var failures: [String] = []
        var compared = 0
        for seed in 0..<UInt64(PropertyTests.graphCount) {
            var generator = GraphGenerator(seed: seed)
            var graph = generator.generate(ops: Int(seed % 24) + 1)
            let problems = Verifier.diagnostics(for: graph)
            guard problems.isEmpty else {
                failures.append("seed \(seed): generated graph does not verify: \(problems.first.map(\.description) ?? "")")
                continue
            }
            let text = graph.print()
            do {
                let parsed = try Parser.parse(text, path: "seed\(seed).sir")
                if parsed.graphs != [graph] { failures.append("seed \(seed): parse(print(g)) != g\n\(text)") }
                if parsed.print() != text { failures.append("seed \(seed): printing is not canonical") }
            } catch {
                failures.append("seed \(seed): printed graph does not parse: \(error)\n\(text)")
                continue
            }
            let original = graph
            do {
                var context = PassContext()
                try PassManager(passes: Pipelines.cleanup).run(on: &graph, context: &context) { _ in }
                let cleaned = graph.print()
                let reparsed = try Parser.parse(cleaned, path: "seed\(seed)-clean.sir")
                if reparsed.graphs != [graph] { failures.append("seed \(seed): cleaned graph does not round-trip\n\(cleaned)") }
            } catch {
                failures.append("seed \(seed): clean-up failed: \(error)\n\(text)")
                continue
            }
            // Differential: the clean-up passes are exact, so the interpreter must give bit-identical
            // outputs before and after. A graph the interpreter refuses before (an out-of-range index
            // in a dead op, say) may run after DCE; the reverse is a failure.
            let inputs = randomInputs(for: original, seed: seed)
            guard let before = try? Interpreter(graph: original).run(inputs) else { continue }
            do {
                let after = try Interpreter(graph: graph).run(inputs)
                compared += 1
                for (index, (expected, actual)) in zip(before, after).enumerated()
                where expected.type != actual.type || expected.maxAbsDifference(actual) != 0 {
                    failures.append("seed \(seed): output \(index) changed by clean-up: \(expected) became \(actual)\n\(text)")
                }
            } catch {
                failures.append("seed \(seed): the cleaned graph fails where the original ran: \(error)\n\(text)")
            }
            if failures.count >= 5 { break }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n\n"))")
        // Most graphs must actually be compared, or the differential check proves nothing.
        #expect(compared >= PropertyTests.graphCount * 8 / 10, "only \(compared) graphs ran in the interpreter")
    }

    /// transpose-weights and fuse only reorder storage and merge ops, but a transposed weight may be
    /// summed in another order by BLAS, so outputs must agree to f32 rounding (rtol 1e-5, atol 1e-6).
    @Test func weightTransposeAndFusionKeepResults() throws {
        var failures: [String] = []
        var fused = 0
        for seed in 0..<UInt64(PropertyTests.graphCount / 2) {
            var generator = GraphGenerator(seed: seed)
            let original = generator.generate(ops: Int(seed % 24) + 1)
            let inputs = randomInputs(for: original, seed: seed)
            guard let before = try? Interpreter(graph: original).run(inputs) else { continue }
            var graph = original
            var context = PassContext()
            do {
                try PassManager(passes: [TransposeWeights(), Fuse()]).run(on: &graph, context: &context) { _ in }
                if graph.operations.contains(where: { if case .fusedMatmul = $0.kind { return true } else { return false } })
                    && !original.operations.contains(where: { if case .fusedMatmul = $0.kind { return true } else { return false } }) {
                    fused += 1
                }
                let after = try Interpreter(graph: graph).run(inputs)
                for (index, (expected, actual)) in zip(before, after).enumerated()
                where expected.type != actual.type || !actual.allClose(expected, rtol: 1e-5, atol: 1e-6) {
                    failures.append("seed \(seed): output \(index) changed: \(expected) became \(actual)\n\(original.print())")
                }
            } catch {
                failures.append("seed \(seed): \(error)\n\(original.print())")
            }
            if failures.count >= 5 { break }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n\n"))")
        #expect(fused >= 10, "only \(fused) random graphs had a chain to fuse; the test proves little")
    }

    /// Inputs of the graph's input types with small values drawn from the seed (0/1 for bool).
    func randomInputs(for graph: Graph, seed: UInt64) -> [Tensor] {
        var random = SeededRandom(seed: seed &+ 0x5eed)
        return graph.inputs.compactMap { id in
            guard let type = graph.type(of: id), let count = type.elementCount else { return nil }
            let values: [Double] = (0..<count).map { _ in
                switch type.elementType {
                case .bool: return Double(Int.random(in: 0...1, using: &random))
                case .i8, .u8, .i16, .u16, .i32, .i64, .i4, .u4, .i2, .u2: return Double(Int.random(in: 0...3, using: &random))
                case .f32, .f16, .bf16, .f8e4m3fn, .f8e5m2, .f4e2m1: return Double(Int.random(in: -8...8, using: &random)) / 4
                }
            }
            return try? Tensor(shape: type.shape, elementType: type.elementType, values: values)
        }
    }

    @Test func generatorCoversEveryOp() {
        var seen: Set<String> = []
        for seed in 0..<UInt64(PropertyTests.graphCount) {
            var generator = GraphGenerator(seed: seed)
            for op in generator.generate(ops: Int(seed % 24) + 1).operations { seen.insert(op.kind.mnemonic) }
        }
        // The functions the generator leaves out on purpose (NaN and infinities) are not expected.
        let missing = Set(OpKind.mnemonics).subtracting(seen).subtracting(GraphGenerator.excludedUnaryFunctions.subtracting(["not"]))
        #expect(missing.isEmpty, "ops the generator never produced: \(missing.sorted())")
    }
}

