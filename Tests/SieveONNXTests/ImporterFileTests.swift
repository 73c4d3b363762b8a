// File tests for the ONNX importer: each IR/onnx/*.textproto is a model in protobuf text format whose
// `# RUN: import` line gives the import options and whose `# CHECK` lines say what the graph IR must hold.

import Foundation
import SieveIR
import SieveONNX
import SieveTestSupport
import SwiftProtobuf
import Testing

/// Every importer file test, relative to the repository root.
func importerFiles() -> [String] {
    let folder = repositoryRoot.appendingPathComponent("IR/onnx")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
    return names.filter { $0.hasSuffix(".textproto") }.sorted().map { "IR/onnx/" + $0 }
}

/// The options of a `# RUN: import --input-shape NAME=2x3 …` line.
func importOptions(_ text: String, file: String) throws -> [String: [Int]] {
    guard let run = text.split(separator: "\n").first(where: { $0.hasPrefix("# RUN:") }) else {
        throw ImporterFileTestFailure("\(file): missing '# RUN: import' line")
    }
    var words = run.dropFirst("# RUN:".count).split(separator: " ").map(String.init)
    guard words.first == "import" else { throw ImporterFileTestFailure("\(file): RUN line must start with 'import'") }
    words.removeFirst()
    var shapes: [String: [Int]] = [:]
    var index = 0
    while index < words.count {
        guard words[index] == "--input-shape", index + 1 < words.count else {
            throw ImporterFileTestFailure("\(file): unknown RUN flag '\(words[index])'")
        }
        let parts = words[index + 1].split(separator: "=", maxSplits: 1)
        guard parts.count == 2 else { throw ImporterFileTestFailure("\(file): --input-shape needs NAME=DIMS") }
        shapes[String(parts[0])] = parts[1].split(separator: "x").compactMap { Int($0) }
        index += 2
    }
    return shapes
}

struct ImporterFileTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

@Suite struct ImporterFileTests {
    @Test func thereAreImporterFiles() {
        #expect(importerFiles().count >= 3)
    }

    @Test(arguments: importerFiles())
    func importerFile(_ file: String) throws {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent(file), encoding: .utf8)
        let shapes = try importOptions(text, file: file)
        let model = try Onnx_ModelProto(textFormatString: text)
        let directives = checkDirectives(in: text, commentPrefix: "#")
        #expect(!directives.isEmpty, "\(file) has no CHECK lines")
        let data = try model.serializedData()
        let output: String
        do {
            let result = try ONNXImporter.importModel(data: data, modelName: (file as NSString).lastPathComponent,
                                                      baseDirectory: nil, inputShapes: shapes)
            output = result.graph.print()
        } catch {
            // A model that must be refused states the diagnostics with CHECK lines, like an output.
            output = error.diagnostics.map(\.description).joined(separator: "\n")
        }
        for failure in fileCheck(directives, output: output, file: file) {
            Issue.record(Comment(rawValue: failure))
        }
    }
}
