// The mutant campaign: workers run cases in process under an address-space limit while a supervisor times each
// case, restarts a worker past a crash or a hang, asks onnx's checker about every accepted ONNX mutant, and
// samples the `sieve` command line on some cases under the same limits.

import Foundation
import SieveTestSupport

/// How a mutant campaign runs.
public struct MutantCampaignOptions: Sendable {
    /// The formats to mutate.
    public var formats: [FuzzFormat] = FuzzFormat.allCases
    /// Cases per format.
    public var casesPerFormat = 1000
    /// The campaign seed; with a case's format and index it reproduces the case.
    public var seed: UInt64 = 1
    /// Seconds one case may take in a worker before it counts as a hang.
    public var timeout: Double = 10
    /// The workers' and CLI samples' address-space limit in KiB (`ulimit -v`).
    public var addressSpaceKiB = 4 << 20
    /// Every this many cases (and never when 0), the case also goes through the `sieve` command line.
    public var cliEvery = 100
    /// The `sieve-fuzz` executable, run as the workers.
    public var fuzzBinary: String
    /// The `sieve` executable the command-line samples run.
    public var sieveBinary: String
    /// The repository (seed files, the example model `.npy` mutants are fed to, the checker script).
    public var repository: URL
    /// The Python interpreter that has `onnx` (the checker is skipped, and says so, when it cannot start).
    public var python: String?
    /// Where crashing, hanging and disagreeing cases are written; nil to write none.
    public var findingsFolder: URL?
    /// Faults the workers stage instead of running a case (case index to fault), to test the supervisor.
    public var injectedFaults: [Int: InjectedFault] = [:]

    /// Options with the executables and repository given and everything else at its default.
    public init(fuzzBinary: String, sieveBinary: String, repository: URL) {
        self.fuzzBinary = fuzzBinary
        self.sieveBinary = sieveBinary
        self.repository = repository
    }
}

/// The counts of one format's cases.
public struct FormatCounts: Sendable {
    /// Cases run.
    public var cases = 0
    /// Cases made by the structure-aware mutator.
    public var structural = 0
    /// Accepted and refused cases.
    public var accepted = 0, refused = 0
    /// Cases the harness judged wrong (an error without a diagnostic and the like).
    public var misbehaved = 0
    /// Cases that killed or hung a worker.
    public var crashes = 0, hangs = 0
    /// Accepted ONNX mutants onnx's checker looked at, and those it refuses (Sieve must refuse what it refuses).
    public var checked = 0, checkerDisagreements = 0
    /// Refused ONNX mutants onnx's checker accepts (a subset Sieve does not support; counted, not a failure).
    public var refusedButValid = 0
    /// Command-line samples run, those that failed (a signal, a hang, another exit status, exit 1 without a
    /// diagnostic), and those whose exit 1 came with more than one error line.
    public var cliRuns = 0, cliFailures = 0, cliSeveralErrors = 0
}

/// What a mutant campaign found.
public struct MutantSummary: Sendable {
    /// Counts per format.
    public var counts: [FuzzFormat: FormatCounts] = [:]
    /// One line per failing case: format, index, seed file, what went wrong.
    public var findings: [String] = []
    /// Why the checker did not run, when it did not.
    public var checkerNote: String?
    /// Wall-clock seconds.
    public var seconds = 0.0

    /// Whether nothing failed.
    public var clean: Bool { findings.isEmpty }

    /// The summary table.
    public func render(seed: UInt64) -> String {
        var lines = ["mutants (seed \(seed), \(String(format: "%.0f", seconds)) s):",
                     "| format | cases | structural | accepted | refused | misbehaved | crashes | hangs | checked | checker disagreements | refused but valid | CLI runs | CLI failures |",
                     "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        var total = FormatCounts()
        for format in FuzzFormat.allCases {
            guard let c = counts[format] else { continue }
            lines.append("| .\(format.rawValue) | \(c.cases) | \(c.structural) | \(c.accepted) | \(c.refused) | \(c.misbehaved) | \(c.crashes) | \(c.hangs) | \(c.checked) | \(c.checkerDisagreements) | \(c.refusedButValid) | \(c.cliRuns) | \(c.cliFailures) |")
            total.cases += c.cases; total.structural += c.structural; total.accepted += c.accepted; total.refused += c.refused
            total.misbehaved += c.misbehaved; total.crashes += c.crashes; total.hangs += c.hangs; total.checked += c.checked
            total.checkerDisagreements += c.checkerDisagreements; total.refusedButValid += c.refusedButValid
            total.cliRuns += c.cliRuns; total.cliFailures += c.cliFailures; total.cliSeveralErrors += c.cliSeveralErrors
        }
        lines.append("| all | \(total.cases) | \(total.structural) | \(total.accepted) | \(total.refused) | \(total.misbehaved) | \(total.crashes) | \(total.hangs) | \(total.checked) | \(total.checkerDisagreements) | \(total.refusedButValid) | \(total.cliRuns) | \(total.cliFailures) |")
        lines.append("CLI samples refused with more than one error line: \(total.cliSeveralErrors)")
        if let checkerNote { lines.append("checker: \(checkerNote)") }
        lines.append(findings.isEmpty ? "findings: none" : "findings (\(findings.count)):")
        lines += findings.prefix(50).map { "  " + $0 }
        return lines.joined(separator: "\n")
    }
}

/// A fault a worker stages in place of a case, so that tests see the supervisor catch a crash and a hang.
public enum InjectedFault: String, Sendable {
    case crash, hang

    /// Parses `crash@12,hang@40` into faults by case index.
    public static func parse(_ text: String) -> [Int: InjectedFault]? {
        var faults: [Int: InjectedFault] = [:]
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "@")
            guard parts.count == 2, let fault = InjectedFault(rawValue: String(parts[0])), let index = Int(parts[1]) else { return nil }
            faults[index] = fault
        }
        return faults
    }

    /// The option text `parse` reads.
    public static func render(_ faults: [Int: InjectedFault]) -> String {
        faults.sorted { $0.key < $1.key }.map { "\($0.value.rawValue)@\($0.key)" }.joined(separator: ",")
    }
}

/// A worker: runs cases `first..<first+count` of one format in process, printing `B index` before each and
/// `E index verdict [detail]` after, so its supervisor knows which case a crash or a hang happened in.
public func runWorker(format: FuzzFormat, seed: UInt64, first: Int, count: Int, corpus: FuzzCorpus, dataFolder: String,
                      faults: [Int: InjectedFault] = [:]) {
    let out = FileHandle.standardOutput
    for index in first..<(first + count) {
        let fuzzCase = FuzzCase.make(format, index: index, campaignSeed: seed, corpus: corpus)
        out.write(Data("B \(index)\n".utf8))
        switch faults[index] {
        case .crash?: abort()
        case .hang?: while true { sleep(1) }
        case nil: break
        }
        let verdict: String = switch FuzzHarness.run(fuzzCase, dataFolder: dataFolder) {
        case .accepted: "accepted"
        case .refused: "refused"
        case let .misbehaved(detail): "misbehaved " + detail.replacingOccurrences(of: "\n", with: " ")
        }
        out.write(Data("E \(index) \(fuzzCase.structural ? "s" : "b") \(verdict)\n".utf8))
    }
}

/// onnx's checker (`onnx.checker.check_model(path, full_check=True)`) in a long-lived Python process.
final class ONNXChecker {
    let process = Process()
    let input = Pipe(), output = Pipe()

    init?(python: String, script: String) {
        guard FileManager.default.isExecutableFile(atPath: python) else { return nil }
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil, check(path: "/nonexistent-sieve-fuzz-probe.onnx") != nil else { return nil }
    }

    /// nil when the checker accepts the model at `path`, its message when it refuses it; nil also when the checker
    /// process has gone (the caller's probe at start catches that).
    func check(path: String) -> String?? {
        input.fileHandleForWriting.write(Data((path + "\n").utf8))
        var line = Data()
        while true {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty { return nil }
            if byte[byte.startIndex] == 0x0A { break }
            line.append(byte)
        }
        let text = String(decoding: line, as: UTF8.self)
        return .some(text == "valid" ? nil : String(text.dropFirst("invalid ".count)))
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

/// Runs a mutant campaign and returns its summary.
public func runMutantCampaign(_ options: MutantCampaignOptions, progress: (String) -> Void = { _ in }) throws -> MutantSummary {
    let start = Date()
    let corpus = try FuzzCorpus.load(repository: options.repository)
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-fuzz-\(UUID().uuidString)")
    let dataFolder = work.appendingPathComponent("data")
    try FuzzHarness.makeDataFolder(dataFolder)
    defer { try? FileManager.default.removeItem(at: work) }
    if let findings = options.findingsFolder { try FileManager.default.createDirectory(at: findings, withIntermediateDirectories: true) }

    var summary = MutantSummary()
    let checkerScript = options.repository.appendingPathComponent("scripts/onnx-check.py").path
    let checker = options.python.flatMap { ONNXChecker(python: $0, script: checkerScript) }
    if checker == nil, options.formats.contains(.onnx) {
        summary.checkerNote = "not run: \(options.python ?? "no Python given") cannot run \(checkerScript) with onnx installed (run scripts/setup-python.sh)"
    }

    /// Writes a failing case's bytes beside a note, so it can be replayed with `sieve`.
    func record(_ fuzzCase: FuzzCase, _ what: String) {
        let name = "\(fuzzCase.format.rawValue)-\(options.seed)-\(fuzzCase.index)"
        summary.findings.append(".\(fuzzCase.format.rawValue) case \(fuzzCase.index) (seed \(options.seed), from \(fuzzCase.seedName)): \(what)")
        if let folder = options.findingsFolder {
            try? Data(fuzzCase.bytes).write(to: folder.appendingPathComponent("\(name).\(fuzzCase.format.rawValue)"))
        }
    }

    for format in options.formats {
        var counts = FormatCounts()
        var next = 0
        while next < options.casesPerFormat {
            let worker = try LineChild(options.fuzzBinary, ["worker", "--format", format.rawValue, "--seed", String(options.seed),
                                                            "--first", String(next), "--count", String(options.casesPerFormat - next),
                                                            "--repository", options.repository.path, "--data", dataFolder.path]
                                           + (options.injectedFaults.isEmpty ? [] : ["--inject", InjectedFault.render(options.injectedFaults)]),
                                       addressSpaceKiB: options.addressSpaceKiB)
            var current: Int?
            var caseStart = Date()
            var ended = false
            while !ended {
                let (lines, closed) = worker.collected.takeLines()
                for line in lines {
                    let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
                    guard parts.count >= 2, let index = Int(parts[1]) else { continue }
                    if parts[0] == "B" {
                        current = index
                        caseStart = Date()
                        continue
                    }
                    guard parts[0] == "E", parts.count >= 3 else { continue }
                    current = nil
                    next = index + 1
                    counts.cases += 1
                    if parts[2] == "s" { counts.structural += 1 }
                    let verdict = parts.count > 3 ? parts[3] : ""
                    let fuzzCase = FuzzCase.make(format, index: index, campaignSeed: options.seed, corpus: corpus)
                    if verdict == "accepted" {
                        counts.accepted += 1
                    } else if verdict == "refused" {
                        counts.refused += 1
                    } else {
                        counts.misbehaved += 1
                        record(fuzzCase, verdict)
                    }
                    if format == .onnx, let checker {
                        let path = dataFolder.appendingPathComponent("candidate.onnx").path
                        try Data(fuzzCase.bytes).write(to: URL(fileURLWithPath: path))
                        // Accepted mutants must be valid; refused ones are checked on a sample, to count what Sieve
                        // refuses that onnx accepts (unsupported, not wrong).
                        if verdict == "accepted" || index % 10 == 0, let answer = checker.check(path: path) {
                            if verdict == "accepted" {
                                counts.checked += 1
                                if let message = answer {
                                    counts.checkerDisagreements += 1
                                    record(fuzzCase, "accepted, but onnx's checker refuses it: \(message.prefix(200))")
                                }
                            } else if answer == nil {
                                counts.refusedButValid += 1
                            }
                        }
                    }
                    if options.cliEvery > 0, index % options.cliEvery == 0 {
                        counts.cliRuns += 1
                        let (failure, several) = try sampleCommandLine(fuzzCase, options: options, folder: work)
                        if several { counts.cliSeveralErrors += 1 }
                        if let failure {
                            counts.cliFailures += 1
                            record(fuzzCase, "sieve command line: \(failure)")
                        }
                    }
                    if index % 1000 == 999 { progress(".\(format.rawValue): \(index + 1) of \(options.casesPerFormat)") }
                }
                if closed && lines.isEmpty {
                    worker.finish()
                    if let current {
                        counts.cases += 1
                        counts.crashes += 1
                        let fuzzCase = FuzzCase.make(format, index: current, campaignSeed: options.seed, corpus: corpus)
                        record(fuzzCase, "the worker died (status \(worker.process.terminationStatus)): \(worker.errorTail.split(separator: "\n").last ?? "")")
                        next = current + 1
                    } else if next < options.casesPerFormat {
                        // A worker that ends between cases without finishing has failed before its first case.
                        throw FuzzError("worker ended early (status \(worker.process.terminationStatus)): \(worker.errorTail)")
                    }
                    ended = true
                } else if let current, Date().timeIntervalSince(caseStart) > options.timeout {
                    worker.kill()
                    counts.cases += 1
                    counts.hangs += 1
                    record(FuzzCase.make(format, index: current, campaignSeed: options.seed, corpus: corpus),
                           "took more than \(options.timeout) s")
                    next = current + 1
                    ended = true
                } else if lines.isEmpty {
                    usleep(500)
                }
            }
        }
        summary.counts[format] = counts
    }
    summary.seconds = Date().timeIntervalSince(start)
    return summary
}

/// Runs one case through the `sieve` command line under the campaign's limits: `inspect` for ONNX, `opt` for the
/// IR formats, `run --interpret` of the example MLP for `.npy`. Returns what failed (nil when the run ended in exit
/// status 0, or 1 with a diagnostic), and whether it printed more than one error line.
func sampleCommandLine(_ fuzzCase: FuzzCase, options: MutantCampaignOptions, folder: URL) throws -> (String?, Bool) {
    let file = folder.appendingPathComponent("data/cli-mutant.\(fuzzCase.format.rawValue)")
    try Data(fuzzCase.bytes).write(to: file)
    let arguments: [String] = switch fuzzCase.format {
    case .onnx: ["inspect", file.path]
    case .sir: ["opt", file.path, "-p", "canonicalize,cse,dce"]
    case .kir: ["opt", file.path]
    case .npy: ["run", options.repository.appendingPathComponent("Examples/models/mlp.onnx").path, "--interpret",
                "--input", "input=\(file.path)", "--output-dir", folder.appendingPathComponent("cli-out").path]
    }
    let outcome = try runChild(options.sieveBinary, arguments, timeout: max(30, options.timeout * 3),
                               addressSpaceKiB: options.addressSpaceKiB)
    try? FileManager.default.removeItem(at: folder.appendingPathComponent("cli-out"))
    let errorLines = outcome.stderr.split(separator: "\n").filter { $0.contains("error:") }
    if outcome.timedOut { return ("sieve \(arguments[0]) hung", false) }
    if outcome.crashed { return ("sieve \(arguments[0]) was killed by signal \(outcome.status): \(outcome.stderr.suffix(300))", false) }
    if outcome.status > 1 { return ("sieve \(arguments[0]) exited with status \(outcome.status)", false) }
    if outcome.status == 1 && errorLines.isEmpty { return ("sieve \(arguments[0]) exited 1 without a diagnostic: \(outcome.stderr.prefix(300))", false) }
    return (nil, errorLines.count > 1)
}
