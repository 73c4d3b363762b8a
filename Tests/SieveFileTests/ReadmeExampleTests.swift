// Keeps IR/README.md true: every ```sir block in it must parse, verify, print back to exactly
// its own text.

import Foundation
import SieveIR
import Testing

/// The ```sir blocks of a Markdown file, with the line each starts on.
func sirBlocks(in markdown: String) -> [(line: Int, text: String)] {
    var blocks: [(line: Int, text: String)] = []
    var current: [String]?
    var start = 0
    for (index, line) in markdown.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        if current == nil, line == "```sir" {
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
                let problems = Verifier.diagnostics(for: graph)
                #expect(problems.isEmpty, "\(where_): \(problems.map(\.description))")
            }
            #expect(module.print() == block.text, "\(where_): the example is not in canonical form")
        }
    }
}
