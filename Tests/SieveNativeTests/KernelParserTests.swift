// Kernel IR text round trips: every example model (dense and 2:4, every vector width) and random product
// graphs lowered, printed, parsed and printed again; plus printer corner cases and located verifier errors.

import Foundation
import SieveDriver
import SieveFuzz
import SieveIR
import SieveKernel
import SievePasses
import Testing

/// What differs when a lowered program goes through text and back; empty when the round trip is exact.
///
/// The text leaves out weight bytes, signature shapes and variable names; everything else must come back equal.
func kernelRoundTripProblems(_ program: KernelProgram, label: String) -> [String] {
    let text = program.print()
    let parsed: ParsedKernelProgram
    do {
        parsed = try KernelParser.parse(text, path: "\(label).kir")
    } catch {
        return ["\(label): printed kernel IR does not parse: \(error)"]
    }
    var problems: [String] = []
    let reprinted = parsed.program.print()
    if reprinted != text {
        let firstDifference = zip(text.split(separator: "\n"), reprinted.split(separator: "\n")).first { $0 != $1 }
        problems.append("\(label): print(parse(text)) != text; first difference:\n  \(firstDifference.map { "\($0.0)\n  \($0.1)" } ?? "(length)")")
    }
    let verifier = KernelVerifier.problems(in: parsed.program)
    if !verifier.isEmpty { problems.append("\(label): the parsed program does not verify: \(verifier.prefix(3))") }
    let result = parsed.program
    let header: [(String, Bool)] = [
        ("name", result.name == program.name), ("buffers", result.buffers == program.buffers),
        ("inputs", result.inputs == program.inputs), ("outputs", result.outputs == program.outputs),
        ("arena", result.arenaBytes == program.arenaBytes), ("weights", result.weights.count == program.weights.count),
        ("vector width", result.vectorWidth == program.vectorWidth),
    ]
    for (what, same) in header where !same { problems.append("\(label): the parsed program's \(what) differ") }
    if result.kernels.count != program.kernels.count {
        problems.append("\(label): \(result.kernels.count) kernels parsed, \(program.kernels.count) printed")
    } else {
        for (parsedKernel, kernel) in zip(result.kernels, program.kernels) {
            if parsedKernel.body != kernel.body || parsedKernel.name != kernel.name || parsedKernel.op != kernel.op
                || parsedKernel.location != kernel.location || parsedKernel.pattern != kernel.pattern {
                problems.append("\(label): kernel @\(kernel.name) differs after parsing")
            }
            for (index, variable) in parsedKernel.variables.enumerated()
            where kernel.variables.indices.contains(index) && kernel.variables[index].type != variable.type {
                problems.append("\(label): kernel @\(kernel.name): %v\(index) is \(variable.type) after parsing, \(kernel.variables[index].type) before")
            }
        }
    }
    return problems
}

@Suite("Kernel IR parser")
struct KernelParserTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test("example models, dense and 2:4, at every vector width, round-trip through text",
          arguments: ["mlp", "encoder", "cnn"], [false, true])
    func exampleModels(model: String, sparse: Bool) throws {
        let loaded = try loadModel(path: KernelParserTests.root.appendingPathComponent("Examples/models/\(model).onnx").path)
        let prepared = try prepareGraph(loaded.graph, target: .native, sparsity: sparse ? SparsifyOptions(minWeights: 0) : nil, calibration: nil,
                                        passManager: PassManagerOptions(),
                                        observer: PassManager.stopBefore("schedule"))
        var graph = prepared.graph
        nameInterface(&graph, inputNames: loaded.inputNames, outputNames: loaded.outputNames)
        var problems: [String] = []
        var readsPackedIndices = false
        for width in [4, 8, 16] {
            let program = try lowerToKernels(graph, options: LoweringOptions(name: model, vectorWidth: width))
            problems += kernelRoundTripProblems(program, label: "\(model)\(sparse ? "-2:4" : "")-f32x\(width)")
            // A kernel reads packed N:M indices (through nm_dot, nm_index, byte loads or a row-block product).
            let kernelText = program.kernels.map { $0.print() }.joined(separator: "\n")
            readsPackedIndices = readsPackedIndices || kernelText.contains("nm_rows4.") || program.buffers.indices.contains { index in
                program.buffers[index].name.hasSuffix(".indices")
                    && (kernelText.contains("\(BufferID(index))[") || kernelText.contains("indices \(BufferID(index)),"))
            }
        }
        #expect(problems.isEmpty, "\(problems.prefix(5).joined(separator: "\n"))")
        // The sparse programs must exercise the N:M kernels, or this test would not cover them.
        #expect(readsPackedIndices == sparse)
    }

    @Test("200 random product graphs (N:M patterns, epilogues, gemm) round-trip through text")
    func randomProductGraphs() throws {
        var problems: [String] = []
        var nmPrograms = 0, nmDotPrograms = 0
        for seed in UInt64(0)..<200 {
            let (graph, nm) = try randomProductGraph(seed: seed)
            let (_, compiled) = try makeNMPair(graph, nm: nm)
            let width = [4, 8, 16][Int(seed % 3)]
            let program = try lowerToKernels(compiled, options: LoweringOptions(name: "random\(seed)", vectorWidth: width,
                                                                                parallelThreshold: seed % 2 == 0 ? 1 << 14 : 16))
            if !nm.isEmpty { nmPrograms += 1 }
            if program.print().contains("nm_dot.") || program.print().contains("nm_rows4.") { nmDotPrograms += 1 }
            problems += kernelRoundTripProblems(program, label: "seed \(seed)")
            if problems.count >= 5 { break }
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        #expect(nmPrograms > 50)
        #expect(nmDotPrograms > 10, "the batch-1 N:M products (nm_dot, nm_rows4) must be among the round-tripped programs")
    }

    @Test("names and strings that need quoting, odd literals and operator nesting print back exactly")
    func printerCornerCases() {
        var program = sampleProgram()
        program.name = "odd name"
        program.buffers[0].name = "line\nbreak"
        program.buffers[1].name = "\"quoted\""
        program.buffers[2].name = ""
        program.buffers[3].name = " spaced "
        program.kernels[0].name = "k-0"
        program.kernels[0].location = "model.onnx: node #3 'Mat\"Mul'\\"
        program.kernels[0].pattern = "tab\there"
        var builder = KernelBuilder()
        builder.loop("i", to: 8) { body, i in
            let a = KernelExpression.binary(.div, i, .binary(.mul, .int(2), .int(3)))
            let b = KernelExpression.binary(.mul, .binary(.div, i, .int(2)), .int(3))
            let c = KernelExpression.binary(.rem, .binary(.sub, i, .int(-1)), .binary(.rem, .int(5), .int(-9_223_372_036_854_775_808)))
            body.store(BufferID(2), .binary(.add, a, .binary(.sub, b, c)),
                       .fma(.float(-.infinity), .float(Float.leastNonzeroMagnitude), .select(.int(1), .float(.infinity), .float(-0.0))))
            let d = body.declare("d", .f64, .binary(.pow, .double(1e100), .double(-2.5e-300)))
            body.emit(.branch(.binary(.lt, .convert(d, to: .f32), .float(3.4028235e38)), then: [], else: [.trap(.divisionByZero)]))
            body.emit(.prefetch(BufferID(1), index: .intrinsic(.truncateToI64, [.double(0.5)])))
        }
        program.kernels.append(builder.kernel(name: "k1", op: "test", location: "", pattern: ""))
        #expect(KernelVerifier.problems(in: program).isEmpty)
        let problems = kernelRoundTripProblems(program, label: "corner cases")
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))\n\(program.print())")
        #expect(program.print().contains("%v0 / (2 * 3)"))
        #expect(program.print().contains("(%v0 / 2 * 3 - "))
    }

    @Test("verifier problems of a parsed program point at the offending line")
    func locatedVerifierErrors() throws {
        let text = """
            program @p {vector_width = 4, arena = 64, weights = 0}
              %b0 = input 0 : f32[4]  // %x
              %b1 = arena +8 : f32[4]  // %t

            kernel @k {op = "copy", loc = "", pattern = ""} {
              for %v0 = 0 to 4 {
                store %b0[%v0], load %b1[%v0]
              }
            }

            """
        let parsed = try KernelParser.parse(text, path: "p.kir")
        #expect(throws: DiagnosticError.self) { try KernelVerifier.verify(parsed.program, sourceMap: parsed.sourceMap) }
        do {
            try KernelVerifier.verify(parsed.program, sourceMap: parsed.sourceMap)
        } catch {
            let located = error.diagnostics.map { ($0.location.description, $0.message) }
            #expect(located.contains { $0.0.hasPrefix("p.kir:3:") && $0.1.contains("not a multiple of 64") }, "\(located)")
            #expect(located.contains { $0.0.hasPrefix("p.kir:7:") && $0.1.contains("read only") }, "\(located)")
        }
    }
}
