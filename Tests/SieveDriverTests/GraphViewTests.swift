// `sieve inspect --format dot|svg` and `sieve opt --format dot|svg`: the DOT is well formed (Graphviz parses it
// when installed; edges join declared nodes always), shows what it claims, and svg without Graphviz is one diagnostic.

import Foundation
import SieveDriver
import SieveIR
import SievePasses
import Testing

/// Node IDs declared in DOT text and the edges between them (a line-based reading of what Graph.dot writes).
func dotStructure(_ text: String) -> (nodes: Set<String>, edges: [(String, String)], balanced: Bool) {
    var nodes: Set<String> = [], edges: [(String, String)] = []
    for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
        let words = line.split(separator: " ")
        if words.count >= 3, words[1] == "->" {
            edges.append((String(words[0]), String(words[2])))
        } else if words.count >= 2, words[1].hasPrefix("[shape=") {
            nodes.insert(String(words[0]))
        }
    }
    let opened = text.filter { $0 == "{" }.count, closed = text.filter { $0 == "}" }.count
    return (nodes, edges, opened == closed)
}

/// Checks DOT text: Graphviz reads it when installed; every edge joins declared nodes in any case.
func expectWellFormedDOT(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let structure = dotStructure(text)
    #expect(structure.balanced, "unbalanced braces", sourceLocation: sourceLocation)
    for (from, to) in structure.edges {
        #expect(structure.nodes.contains(from) && structure.nodes.contains(to), "edge \(from) -> \(to) joins an undeclared node",
                sourceLocation: sourceLocation)
    }
    guard toolExists("dot") else { return }
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-view-\(UUID().uuidString).dot")
    defer { try? FileManager.default.removeItem(at: file) }
    try Data(text.utf8).write(to: file)
    let rendered = try runTool("dot", ["-Tsvg", "-o", "/dev/null", file.path])
    #expect(rendered.status == 0 && rendered.output.isEmpty, "dot: \(rendered.output)", sourceLocation: sourceLocation)
}

@Suite struct GraphViewTests {
    static let mlp = exampleFolder.appendingPathComponent("mlp.onnx").path

    @Test func inspectDrawsTheImportedGraph() throws {
        var request = InspectRequest(path: GraphViewTests.mlp, inputShapes: ["input": [1, 64]])
        request.format = .dot
        let dot = try runInspect(request).report
        try expectWellFormedDOT(dot)
        #expect(dot.hasPrefix("digraph \"mlp\" {"))
        #expect(dot.contains("in0 [shape=invhouse") && dot.contains("label=\"input %input\\n1x64 f32 dense\""))
        #expect(dot.contains("out0 [shape=house"))
        #expect(dot.components(separatedBy: "label=\"matmul\\n").count - 1 == 3)
        #expect(dot.components(separatedBy: "label=\"const @").count - 1 == 6)
        #expect(dot.contains("label=\"const @coefficient\\n%coefficient: 64x128 f32 dense\""))
        #expect(dot.contains("label=\"softmax\\naxis = 1\\n"))
        // One edge per use: 3 matmuls and 3 adds take two operands, cast, 2 relus and softmax one, the output one.
        #expect(dotStructure(dot).edges.count == 6 * 2 + 4 + 1)
    }

    @Test func optDumpsShowLayoutAndSchedule() throws {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("IR/graph/schedule/applies.sir"), encoding: .utf8)
        var options = PassManagerOptions()
        options.printAfter = .names(["schedule"])
        var request = OptRequest(text: text, path: "applies.sir", pipeline: "nm-legalize,schedule{target=x86-64-v4}", options: options)
        request.format = .dot
        let result = try runOpt(request)
        #expect(!result.dumps.isEmpty)
        for dump in result.dumps {
            // The dump header is a DOT comment: the dump as printed is a file Graphviz reads.
            #expect(dump.hasPrefix("// -----// IR Dump After schedule //----- //\ndigraph "))
            try expectWellFormedDOT(dump)
            #expect(dump.contains("\\nschedule = ") && dump.contains("\\n  parallel = "), "the schedule, a field a line")
        }
        // The file's first graph has a 2:4 weight and an N:M kernel.
        #expect(result.dumps.first?.contains("f32 nm 2:4") == true && result.dumps.first?.contains("schedule = nm_") == true)
        // Several graphs: one cluster each in one digraph.
        #expect(result.module.graphs.count > 1)
        try expectWellFormedDOT(result.output)
        #expect(result.output.hasPrefix("digraph module {") && result.output.contains("subgraph cluster_1"))
    }

    @Test func specialCharactersAreEscaped() throws {
        var graph = Graph(name: "a \"quoted\\\" graph")
        let x = graph.addInput(TensorType([2], .f32), name: "x\"y")
        let y = graph.addValue(TensorType([2], .f32), name: "back\\slash")
        graph.operations.append(Operation(.unary(.relu), operands: [x], results: [y]))
        graph.outputs = [y]
        let dot = graph.dot()
        try expectWellFormedDOT(dot)
        #expect(dot.hasPrefix("digraph \"a \\\"quoted\\\\\\\" graph\" {"))
    }

    @Test func svgNeedsGraphviz() throws {
        let empty = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: empty) }
        let missing = try runSieve(["inspect", GraphViewTests.mlp, "--format", "svg"], environment: ["PATH": empty.path])
        #expect(missing.status == 1 && missing.stdout.isEmpty, "\(missing.stderr)")
        #expect(errorLines(missing.stderr).count == 1 && missing.stderr.contains("Graphviz's 'dot', which is not on PATH"), "\(missing.stderr)")
        let opt = try runSieve(["opt", "-", "--format", "svg"], stdin: Data(sampleIR.utf8), environment: ["PATH": empty.path])
        #expect(opt.status == 1 && opt.stderr.contains("not on PATH"), "\(opt.stderr)")
        guard toolExists("dot") else { return }
        let drawn = try runSieve(["inspect", GraphViewTests.mlp, "--input-shape", "input=1x64", "--format", "svg"])
        #expect(drawn.status == 0, "\(drawn.stderr)")
        #expect(drawn.stdout.hasPrefix("<?xml") && drawn.stdout.contains("<svg") && drawn.stdout.contains("matmul"))
    }

    @Test func formatHelpAndKernelIR() throws {
        let help = try runSieve(["inspect", "--help"])
        #expect(help.stdout.contains("--format <text|dot|svg>"))
        let kernel = try runSieve(["opt", repositoryRoot.appendingPathComponent("IR/kernel/roundtrip/statements.kir").path, "--format", "dot"])
        #expect(kernel.status == 1 && kernel.stderr.contains("kernel IR; drop --format"), "\(kernel.stderr)")
    }
}
