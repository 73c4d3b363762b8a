// Tests of the file-test runner itself: a wrong CHECK line, a missing or wrong `// error:` line and a
// non-canonical kernel IR file must each make a test fail, so that passing file tests mean something.

import Foundation
import SieveTestSupport
import Testing

@Suite struct FileRunnerTests {
    /// The files of one folder under IR/kernel (or, with `root`, under IR), with their text.
    static func files(in folder: String, root: String = "IR/kernel") throws -> [(file: String, text: String)] {
        try allIRFiles().filter { $0.hasPrefix("\(root)/\(folder)/") }.map { file in
            (file, try String(contentsOf: repositoryRoot.appendingPathComponent(file), encoding: .utf8))
        }
    }

    /// The runner's failures, counting an error it throws (an unexpected parse error, say) as one.
    static func failures(_ text: String, _ file: String) -> [String] {
        do {
            return try runFileTest(text: text, file: file)
        } catch {
            return ["\(file): \(error)"]
        }
    }

    /// The text with line `index` (0-based) replaced.
    static func replacingLine(_ text: String, _ index: Int, with line: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[index] = line
        return lines.joined(separator: "\n")
    }

    @Test func everyCheckLineOfTheLoweringAndCBackendTestsCanFail() throws {
        let files = try FileRunnerTests.files(in: "lower") + FileRunnerTests.files(in: "codegen", root: "IR")
        #expect(files.count >= 11)
        var mutants = 0
        for (file, text) in files {
            #expect(FileRunnerTests.failures(text, file).isEmpty, "\(file) fails as committed")
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let wrong: String
                if line.hasPrefix("// CHECK-NOT:") {
                    // A CHECK-NOT fails when its text occurs after the previous match: a closing brace always does.
                    wrong = "// CHECK-NOT: }"
                } else if line.hasPrefix("// CHECK") {
                    wrong = line + " and text that is not in the output"
                } else {
                    continue
                }
                mutants += 1
                let failures = FileRunnerTests.failures(FileRunnerTests.replacingLine(text, index, with: wrong), file)
                #expect(!failures.isEmpty, "\(file):\(index + 1): the test still passes with '\(wrong)'")
            }
        }
        #expect(mutants >= 40)
    }

    @Test func aCheckLineThatMatchesTooEarlyOrOnTheWrongLineFails() throws {
        let file = "IR/kernel/lower/in-place.sir"
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent(file), encoding: .utf8)
        // @chain reuses %h's bytes for %r and @kept must not; claiming the opposite of either must fail.
        for (old, new) in [("// CHECK-NEXT: %b3 = arena +0 : f32[128]  // %r", "// CHECK-NEXT: %b3 = arena +512 : f32[128]  // %r"),
                           ("// CHECK-NEXT: %b3 = arena +512 : f32[128]  // %r", "// CHECK-NEXT: %b3 = arena +0 : f32[128]  // %r")] {
            #expect(text.contains(old))
            let failures = FileRunnerTests.failures(text.replacingOccurrences(of: old, with: new), file)
            #expect(!failures.isEmpty, "'\(new)' passes")
        }
    }

    @Test func aCheckVariableMatchesOnlyTheTextItBound() {
        let output = "%b3 = constant +0 : i64[4]  // @w.sums\n  var %v1 : i64 = load %b3[%v0]\n  var %v2 : i64 = load %b4[%v0]"
        let bind = "// CHECK: [[SUMS:%b[0-9]+]] = constant {{\\+[0-9]+}} : i64[4] // @w.sums\n"
        func failures(_ checks: String) -> [String] { fileCheck(checkDirectives(in: bind + checks), output: output, file: "t.sir") }
        #expect(failures("// CHECK-NEXT: var %v1 : i64 = load [[SUMS]][%v0]").isEmpty)
        // The bound text is %b3, so the second load (of %b4) must not match it.
        #expect(!failures("// CHECK: load [[SUMS]][%v0]\n// CHECK-NEXT: load [[SUMS]][%v0]").isEmpty)
        #expect(!failures("// CHECK-NOT: load [[SUMS]]").isEmpty)
        #expect(failures("// CHECK: load [[OTHER]][%v0]").first?.contains("'OTHER' is used before a pattern binds it") == true)
        #expect(failures("// CHECK: load [[BAD:%b[0-9]+(]]").first?.contains("bad regular expression") == true)
        #expect(failures("// CHECK: load {{%b[0-9]").first?.contains("unclosed '{{'") == true)
    }

    @Test func everyExpectedErrorOfTheVerifierTestsIsNeeded() throws {
        let files = try FileRunnerTests.files(in: "verifier") + FileRunnerTests.files(in: "parser")
        #expect(files.count >= 15)
        for (file, text) in files {
            #expect(FileRunnerTests.failures(text, file).isEmpty, "\(file) fails as committed")
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for (index, line) in lines.enumerated() {
                guard let range = line.range(of: "  // error: ") ?? line.range(of: "// error: ") else { continue }
                // Without the comment the diagnostic is unexpected; with other words it is not found.
                let dropped = String(line[..<range.lowerBound])
                #expect(!(FileRunnerTests.failures(FileRunnerTests.replacingLine(text, index, with: dropped), file)).isEmpty,
                        "\(file):\(index + 1): passes without its error comment")
                let reworded = line.replacingOccurrences(of: "// error: ", with: "// error: words no diagnostic says ")
                #expect(!(FileRunnerTests.failures(FileRunnerTests.replacingLine(text, index, with: reworded), file)).isEmpty,
                        "\(file):\(index + 1): passes with a wrong error text")
            }
        }
    }

    @Test func aKernelIRFileMustBeCanonicalAndItsCheckLinesHold() throws {
        let file = "IR/kernel/roundtrip/statements.kir"
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent(file), encoding: .utf8)
        #expect(FileRunnerTests.failures(text, file).isEmpty)
        // Parses to the same program, but the printer parenthesises every sum.
        let unparenthesised = text.replacingOccurrences(of: "prefetch %b0[(%v1 + 8)]", with: "prefetch %b0[%v1 + 8]")
        #expect(unparenthesised != text)
        #expect(!(FileRunnerTests.failures(unparenthesised, file)).isEmpty)
        #expect(!(FileRunnerTests.failures(text + "// CHECK: kernel @k9\n", file)).isEmpty)
        #expect(FileRunnerTests.failures(text + "// CHECK: kernel @k2_nm\n// CHECK-NEXT: for %v0 = 0 to 2 {\n", file).isEmpty)
    }
}
