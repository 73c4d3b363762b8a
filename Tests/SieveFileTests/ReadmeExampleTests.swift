// Keeps IR/README.md and IR/kernel/README.md true: every ```sir block must parse, verify, print back to
// exactly its own text, and run in the reference interpreter; every ```kir block must parse, verify and print back.

import Foundation
import SieveIR
import SieveInterpreter
import SieveKernel
import SieveTarget
import Testing

/// The ```sir (or other `language`) blocks of a Markdown file, with the line each starts on.
func sirBlocks(in markdown: String, language: String = "sir") -> [(line: Int, text: String)] {
    var blocks: [(line: Int, text: String)] = []
    var current: [String]?
    var start = 0
    for (index, line) in markdown.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        if current == nil, line == "```" + language {
            current = []
            start = index + 2
        } else if current != nil, line == "```" {
            blocks.append((start, (current ?? []).joined(separator: "\n") + "\n"))
            current = nil
        } else {
            current?.append(String(line))
        }
    }
    return blocks
}

@Suite struct ReadmeExampleTests {
    static let readme = repositoryRoot.appendingPathComponent("IR/README.md")

    @Test func everyExampleParsesVerifiesAndIsCanonical() throws {
        let blocks = sirBlocks(in: try String(contentsOf: ReadmeExampleTests.readme, encoding: .utf8))
        #expect(blocks.count >= 4, "IR/README.md lost its examples")
        for block in blocks {
            let where_ = "IR/README.md:\(block.line)"
            let module = try Parser.parse(block.text, path: where_)
            for graph in module.graphs {
                let problems = Verifier.diagnostics(for: graph, checks: Verifier.targetChecks)
                #expect(problems.isEmpty, "\(where_): \(problems.map(\.description))")
            }
            #expect(module.print() == block.text, "\(where_): the example is not in canonical form")
        }
    }

    @Test func examplesRunInTheInterpreter() throws {
        for block in sirBlocks(in: try String(contentsOf: ReadmeExampleTests.readme, encoding: .utf8)) {
            for graph in try Parser.parse(block.text).graphs {
                let inputs = try graph.inputs.map { id in
                    let type = try #require(graph.type(of: id))
                    let count = try #require(type.elementCount)
                    return try Tensor(shape: type.shape, elementType: type.elementType,
                                      values: (0..<count).map { Double($0 % 5) - 2 })
                }
                let outputs = try Interpreter(graph: graph).run(inputs)
                #expect(outputs.count == graph.outputs.count)
            }
        }
    }
}

/// The worked nm example of IR/README.md decodes to the dense rows the page shows.
@Test func workedNMExampleMatchesItsDenseRows() throws {
    let blocks = sirBlocks(in: try String(contentsOf: ReadmeExampleTests.readme, encoding: .utf8))
    let sparse = try #require(try blocks.flatMap { try Parser.parse($0.text).graphs }.first { $0.name == "sparse" })
    let weight = try #require(sparse.constants.entries.first)
    let dense = try Tensor(weight)
    #expect(dense.floats == [0, 1.5, 0, 2, 3, 0, 0, -1, 4, 0, 5, 0, 0, 0, 6, 7])
}

/// The padded nm example of IR/README.md decodes to the dense rows the page shows (5 per row, no padding).
@Test func paddedNMExampleMatchesItsDenseRows() throws {
    let blocks = sirBlocks(in: try String(contentsOf: ReadmeExampleTests.readme, encoding: .utf8))
    let padded = try #require(try blocks.flatMap { try Parser.parse($0.text).graphs }.first { $0.name == "padded" })
    let weight = try #require(padded.constants.entries.first)
    #expect(try Tensor(weight).floats == [1, 0, -2, 0, 3, 0, 4, 0, 0, 0])
}

/// The kernel IR reference's examples.
@Suite struct KernelReadmeExampleTests {
    @Test func kernelIRExamplesParseVerifyAndAreCanonical() throws {
        let blocks = sirBlocks(in: try String(contentsOf: repositoryRoot.appendingPathComponent("IR/kernel/README.md"), encoding: .utf8),
                               language: "kir")
        #expect(blocks.count >= 1, "IR/kernel/README.md lost its example")
        for block in blocks {
            let where_ = "IR/kernel/README.md:\(block.line)"
            let parsed = try KernelParser.parse(block.text, path: where_)
            #expect(KernelVerifier.problems(in: parsed.program).isEmpty, "\(where_): \(KernelVerifier.problems(in: parsed.program))")
            #expect(parsed.program.print() == block.text, "\(where_): the example is not in canonical form")
        }
    }
}
