// Runs every .sir and .kir file under IR/ in process: the RUN line names the passes (and whether to
// lower to kernel IR), CHECK lines say what must come out, `// error:` comments mark where diagnostics must point.

import Foundation
import SieveCodegenC
import SieveDriver
import SieveFormats
import SieveIR
import SieveInterpreter
import SieveKernel
import SievePasses
import SieveTarget
import SieveTestSupport
import Testing

/// The repository root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Every .sir and .kir file under IR/, relative to the repository root, sorted.
func allIRFiles() -> [String] {
    let root = repositoryRoot.appendingPathComponent("IR")
    guard let walker = FileManager.default.enumerator(atPath: root.path) else { return [] }
    var files: [String] = []
    while let path = walker.nextObject() as? String {
        if path.hasSuffix(".sir") || path.hasSuffix(".kir") { files.append("IR/" + path) }
    }
    return files.sorted()
}

/// A file test as its comments describe it.
struct FileTestSpec {
    var pipeline = ""
    var options = PassManagerOptions()
    var expectedErrors: [(line: Int, text: String)] = []
    var directives: [CheckDirective] = []
    var preciseOutput = false
    /// A calibration file or folder, relative to the test file's folder.
    var calibration: String?
    /// Lower the result and add its kernel IR to the output (`--print-kernel-ir`), for this target.
    var kernelTarget: TargetDescription?
    /// Also emit the C backend's sources for the lowered program (`--print-c`).
    var emitC = false
    /// Also emit the LLVM backend's module for the lowered program (`--print-llvm-ir`).
    var emitLLVMIR = false
    var target: TargetDescription = .native
}

func parseSpec(_ text: String, file: String) throws -> FileTestSpec {
    var spec = FileTestSpec()
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    guard let runLine = lines.first(where: { $0.contains("// RUN:") }) else {
        throw FileTestFailure("\(file): missing '// RUN: opt ...' line")
    }
    var words = runLine.split(separator: "// RUN:", maxSplits: 1).last.map { $0.split(separator: " ").map(String.init) } ?? []
    guard words.first == "opt" else { throw FileTestFailure("\(file): RUN line must start with 'opt'") }
    words.removeFirst()
    var index = 0
    func value(_ word: String) throws -> String {
        if let equals = word.firstIndex(of: "=") { return String(word[word.index(after: equals)...]) }
        index += 1
        guard index < words.count else { throw FileTestFailure("\(file): RUN flag \(word) needs a value") }
        return words[index]
    }
    func selection(_ text: String) -> PassSelection {
        text == "all" ? .all : .names(Set(text.split(separator: ",").map(String.init)))
    }
    while index < words.count {
        let word = words[index]
        switch word.split(separator: "=").first.map(String.init) ?? word {
        case "-p", "--passes": spec.pipeline = try value(word)
        case "--no-verify-each": spec.options.verifyEach = false
        case "--print-ir-after-all": spec.options.printAfter = .all
        case "--print-ir-before-all": spec.options.printBefore = .all
        case "--print-ir-after": spec.options.printAfter = selection(try value(word))
        case "--print-ir-before": spec.options.printBefore = selection(try value(word))
        case "--print-ir-after-change": spec.options.printAfterChange = true
        case "--stop-after": spec.options.stopAfter = try value(word)
        case "precise-output": spec.preciseOutput = true
        case "--calibration": spec.calibration = try value(word)
        case "--print-kernel-ir": spec.kernelTarget = .native
        case "--print-c": spec.kernelTarget = .native; spec.emitC = true
        case "--print-llvm-ir": spec.kernelTarget = .native; spec.emitLLVMIR = true
        case "--target":
            let name = try value(word)
            guard let target = name == "native" ? TargetDescription.native : try? TargetDescription.named(name) else { throw FileTestFailure("\(file): unknown --target '\(name)'") }
            spec.target = target
        default: throw FileTestFailure("\(file): unknown RUN flag '\(word)'")
        }
        index += 1
    }
    for (number, line) in lines.enumerated() {
        // Several expected errors may share a line: `op  // error: first // error: second`.
        for part in line.components(separatedBy: "// error: ").dropFirst() {
            spec.expectedErrors.append((number + 1, part.trimmingCharacters(in: " ")))
        }
    }
    if spec.kernelTarget != nil { spec.kernelTarget = spec.target }
    spec.directives = checkDirectives(in: text)
    return spec
}

struct FileTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The IR lines of a file: comments and blank lines removed, which is what the printer produces.
func irLines(_ text: String) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false)
        .filter { !$0.hasPrefix("//") && !$0.allSatisfy { $0 == " " } }
        .joined(separator: "\n")
}

/// The expected output of a precise-output test: the comment block after `// OUTPUT:`.
func recordedOutput(_ text: String) -> String? {
    guard let marker = text.range(of: "// OUTPUT:\n") else { return nil }
    return text[marker.upperBound...].split(separator: "\n", omittingEmptySubsequences: false)
        .filter { $0.hasPrefix("//") }
        .map { $0.hasPrefix("// ") ? String($0.dropFirst(3)) : String($0.dropFirst(2)) }
        .joined(separator: "\n")
}

@Test(arguments: allIRFiles())
func fileTest(_ file: String) throws {
    let url = repositoryRoot.appendingPathComponent(file)
    let text = try String(contentsOf: url, encoding: .utf8)
    for failure in try runFileTest(text: text, file: file, url: url) {
        Issue.record(Comment(rawValue: failure))
    }
}

/// Runs one file test and returns its failures (empty when it passes); `url` is where precise-output
/// tests are re-recorded with SIEVE_BLESS=1.
func runFileTest(text: String, file: String, url: URL? = nil) throws -> [String] {
    var failures: [String] = []
    let spec = try parseSpec(text, file: file)
    let isKernelIR = file.hasSuffix(".kir")
    var request = OptRequest(text: text, path: file, pipeline: spec.pipeline, options: spec.options)
    request.kernelTarget = spec.kernelTarget
    request.emitC = spec.emitC
    request.emitLLVMIR = spec.emitLLVMIR
    if let calibration = spec.calibration {
        let folder = (url ?? repositoryRoot.appendingPathComponent(file)).deletingLastPathComponent()
        request.calibration = try loadCalibrationData(path: folder.appendingPathComponent(calibration).path)
    }

    if !spec.expectedErrors.isEmpty {
        do {
            let result = try runOpt(request)
            failures.append("\(file): expected errors, but opt succeeded:\n\(result.output)")
        } catch {
            var unmatched = spec.expectedErrors
            for diagnostic in error.diagnostics where diagnostic.severity == .error {
                guard case let .file(_, line, _) = diagnostic.location else {
                    // Lead lines such as "the input IR is invalid" carry the graph's location or none.
                    continue
                }
                if let hit = unmatched.firstIndex(where: { $0.line == line && diagnostic.message.contains($0.text) }) {
                    unmatched.remove(at: hit)
                } else if !spec.expectedErrors.contains(where: { $0.line == line && diagnostic.message.contains($0.text) }) {
                    failures.append("\(file):\(line): unexpected diagnostic: \(diagnostic.message)")
                }
            }
            for missing in unmatched {
                failures.append("\(file):\(missing.line): expected an error containing '\(missing.text)'; got:\n\(error)")
            }
        }
        return failures
    }

    // Every positive file is in canonical form: printing what was parsed gives the file back.
    let reprinted: String
    if isKernelIR {
        let parsed = try KernelParser.parse(text, path: file)
        reprinted = parsed.program.print()
        let again = try KernelParser.parse(reprinted, path: file).program
        // NaN literals never compare equal, so a program holding one is compared by its text.
        let hasNaN = reprinted.contains("nanf") || reprinted.contains("nand")
        if hasNaN ? again.print() != reprinted : again != parsed.program {
            failures.append("\(file): parse(print(p)) != p")
        }
    } else {
        let module = try Parser.parse(text, path: file)
        reprinted = module.print()
        if try Parser.parse(reprinted, path: file) != module { failures.append("\(file): parse(print(g)) != g") }
    }
    let diff = unifiedDiff(expected: irLines(text), actual: irLines(reprinted))
    if !diff.isEmpty { failures.append("\(file) is not in canonical form:\n\(diff)") }

    let result = try runOpt(request)
    let observed = (result.dumps + [result.output]).joined(separator: "\n")
    if spec.preciseOutput {
        let bless = ProcessInfo.processInfo.environment["SIEVE_BLESS"] == "1"
        let recorded = recordedOutput(text)
        if bless, let url {
            let head = text.range(of: "// OUTPUT:\n").map { String(text[..<$0.lowerBound]) } ?? text + "\n"
            let block = observed.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.isEmpty ? "//" : "// " + $0 }.joined(separator: "\n")
            try (head + "// OUTPUT:\n" + block + "\n").write(to: url, atomically: true, encoding: .utf8)
        } else {
            let diff = unifiedDiff(expected: recorded ?? "", actual: observed)
            if !diff.isEmpty {
                failures.append("\(file): output differs from the recorded output; run `SIEVE_BLESS=1 swift test --filter fileTest` to re-record it after checking the diff:\n\(diff)")
            }
        }
    }
    // A kernel IR file without CHECK lines tests the parser, verifier and printer: it must verify and
    // print back unchanged, which was checked above.
    if !spec.preciseOutput && !isKernelIR && spec.directives.isEmpty {
        failures.append("\(file): a test needs CHECK lines or precise-output")
    }
    for failure in fileCheck(spec.directives, output: observed, file: file) {
        failures.append(failure + "\n--- output ---\n" + observed)
    }
    return failures
}
