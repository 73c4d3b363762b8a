// Mutation tests of the kernel IR parser and verifier: byte- and token-level mutants of printed programs
// end in a located diagnostic or in a program that verifies and prints stably, never in a crash.

import Foundation
import SieveDriver
import SieveFuzz
import SieveIR
import SieveKernel
import SievePasses
import Testing

@Suite("Kernel IR parser mutants")
struct KernelParserMutationTests {
    /// Printed programs to mutate: the sample, a 2:4 batch-1 product (nm_dot), the mlp example at 2:4,
    /// and the file test that holds every statement and expression form.
    static func seeds() throws -> [(String, String)] {
        var seeds = [("sample", sampleProgram().print())]
        for seed in UInt64(0)..<60 {
            let (graph, nm) = try randomProductGraph(seed: seed)
            let (_, compiled) = try makeNMPair(graph, nm: nm)
            let text = try lowerToKernels(compiled, options: LoweringOptions(name: "random", vectorWidth: 16)).print()
            if text.contains("nm_dot."), text.utf8.count < 6000 {
                seeds.append(("random \(seed)", text))
                break
            }
        }
        let loaded = try loadModel(path: KernelParserTests.root.appendingPathComponent("Examples/models/mlp.onnx").path)
        let prepared = try prepareGraph(loaded.graph, target: .native, sparsity: SparsifyOptions(minWeights: 0), calibration: nil, passManager: PassManagerOptions(),
                                        observer: PassManager.stopBefore("schedule"))
        seeds.append(("mlp 2:4", try lowerToKernels(prepared.graph, options: LoweringOptions(name: "mlp", vectorWidth: 8)).print()))
        let statements = KernelParserTests.root.appendingPathComponent("IR/kernel/roundtrip/statements.kir")
        seeds.append(("statements.kir", try String(contentsOf: statements, encoding: .utf8)))
        return seeds
    }

    /// What happened to one mutant; nil when it behaved (a located diagnostic, or a verified, stable program).
    static func misbehaviour(_ text: String) -> String? {
        let parsed: ParsedKernelProgram
        do {
            parsed = try KernelParser.parse(text, path: "mutant.kir")
        } catch {
            for diagnostic in error.diagnostics {
                guard case let .file(path, line, column) = diagnostic.location, path == "mutant.kir", line >= 1, column >= 1 else {
                    return "a parse error without a file location: \(diagnostic)"
                }
                if diagnostic.message.isEmpty { return "an empty parse error message" }
            }
            return nil
        }
        do {
            try KernelVerifier.verify(parsed.program, sourceMap: parsed.sourceMap)
        } catch {
            for diagnostic in error.diagnostics {
                guard case .file = diagnostic.location else { return "a verifier error without a file location: \(diagnostic)" }
            }
            return nil
        }
        // Accepted and valid: the canonical form must be stable.
        let printed = parsed.program.print()
        guard let again = try? KernelParser.parse(printed, path: "mutant.kir") else { return "its canonical form does not parse" }
        return again.program.print() == printed ? nil : "its canonical form does not print back the same"
    }

    /// Splits text into words, runs of spaces, and single other characters (keeping every byte).
    static func tokens(_ text: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        func kind(_ character: Character) -> Int {
            character.isLetter || character.isNumber || character == "_" || character == "%" || character == "@" ? 0 : character == " " ? 1 : 2
        }
        for character in text {
            if let last = current.last, kind(last) == kind(character), kind(character) != 2 {
                current.append(character)
            } else {
                if !current.isEmpty { tokens.append(current) }
                current = String(character)
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }

    @Test func byteMutantsNeverCrash() throws {
        var random = SplitMix(seed: 77)
        let replacements = Array("0123456789-+.:,=()[]{}%@\"\\/ \nbvxfd".utf8) + [0x00, 0xFF, 0xC3, 0x09]
        var problems: [String] = []
        var accepted = 0, total = 0
        for (name, text) in try KernelParserMutationTests.seeds() {
            let bytes = Array(text.utf8)
            let count = bytes.count > 20_000 ? 150 : 600
            for _ in 0..<count {
                var mutant = bytes
                for _ in 0...random.below(2) {
                    let position = random.below(mutant.count)
                    switch random.below(4) {
                    case 0: mutant.remove(at: position)
                    case 1: mutant.insert(replacements[random.below(replacements.count)], at: position)
                    case 2: mutant[position] = replacements[random.below(replacements.count)]
                    default: if position + 1 < mutant.count { mutant.swapAt(position, position + 1) }
                    }
                    if mutant.isEmpty { break }
                }
                total += 1
                let mutantText = String(decoding: mutant, as: UTF8.self)
                if let problem = KernelParserMutationTests.misbehaviour(mutantText) {
                    problems.append("\(name): \(problem)\n\(mutantText.prefix(2000))")
                } else if (try? KernelParser.parse(mutantText)).map({ KernelVerifier.problems(in: $0.program).isEmpty }) == true {
                    accepted += 1
                }
                if problems.count >= 3 { break }
            }
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n\n"))")
        // Both outcomes occur, or the mutants would not probe anything.
        #expect(accepted > 0 && accepted < total, "\(accepted) of \(total) byte mutants were accepted")
    }

    @Test func tokenMutantsNeverCrash() throws {
        var random = SplitMix(seed: 78)
        var problems: [String] = []
        var accepted = 0, total = 0
        for (name, text) in try KernelParserMutationTests.seeds() {
            let tokens = KernelParserMutationTests.tokens(text)
            let count = tokens.count > 5_000 ? 150 : 600
            for _ in 0..<count {
                var mutant = tokens
                let position = random.below(mutant.count)
                let other = random.below(mutant.count)
                switch random.below(4) {
                case 0: mutant.remove(at: position)
                case 1: mutant.insert(mutant[other], at: position)
                case 2: mutant[position] = mutant[other]
                default: mutant.swapAt(position, other)
                }
                total += 1
                let mutantText = mutant.joined()
                if let problem = KernelParserMutationTests.misbehaviour(mutantText) {
                    problems.append("\(name): \(problem)\n\(mutantText.prefix(2000))")
                } else if (try? KernelParser.parse(mutantText)).map({ KernelVerifier.problems(in: $0.program).isEmpty }) == true {
                    accepted += 1
                }
                if problems.count >= 3 { break }
            }
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n\n"))")
        #expect(accepted > 0 && accepted < total, "\(accepted) of \(total) token mutants were accepted")
    }

    @Test func hostileInputsEndInDiagnostics() {
        let header = "program @p {vector_width = 16, arena = 64, weights = 0}\n  %b0 = arena +0 : f32[4]  // %t\n"
        let kernel = "kernel @k {op = \"\", loc = \"\", pattern = \"\"} {\n"
        let deepExpression = String(repeating: "(", count: 100_000) + "1" + String(repeating: ")", count: 100_000)
        let deepBlocks = String(repeating: "if 1 {\n", count: 100_000)
        let cases = [
            "", "program", "program @", "program @p {", header + kernel,
            header + kernel + "  store %b0[0], convert.f32(" + deepExpression + ")\n}\n",
            header + kernel + deepBlocks,
            header + kernel + "  store %b0[%v99999999999999999999], 1.0f\n}\n",
            header + kernel + "  var %v1048577 : i64 = 0\n}\n",
            header + kernel + "  store %b0[0], nm_dot.0:4(values %b0, indices %b0, first 0, kept 0, dense %b0[0])\n}\n",
            header + kernel + "  store %b0[0], 99999999999999999999999\n}\n",
            "program @p {vector_width = 16, arena = 1125899906842625, weights = 0}\n",
            "program @p {vector_width = 16, arena = 64, weights = -1}\n",
            "program @p {vector_width = 16, arena = 64, weights = 0}\n  %b0 = arena +0 : f32[1125899906842624]  // big\n",
            "program @\"unterminated {vector_width = 16",
            header + "  %b1 = input 0 : f32[4]  // \"quoted but \\q bad\"\n",
            String(repeating: "\u{FFFD}", count: 1000),
        ]
        for text in cases {
            #expect(KernelParserMutationTests.misbehaviour(text) == nil, "\(text.prefix(200))")
        }
        // Nesting within the limit still parses, verifies and prints back.
        let nested = header + kernel + "  store %b0[0], convert.f32(" + String(repeating: "(", count: 300) + "1"
            + String(repeating: " + 1)", count: 300) + ")\n}\n"
        let parsed = try? KernelParser.parse(nested)
        #expect(parsed.map { KernelVerifier.problems(in: $0.program) } == [])
        #expect(parsed.map { $0.program.print().contains(String(repeating: "(", count: 300) + "1 + 1)") } == true)
    }
}
