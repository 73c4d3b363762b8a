// Runs the built `sieve` executable as a user would: exit codes, messages, stdin, atomic output,
// and mutated inputs that must end in a diagnostic and exit status 1, never a crash or a hang.

import Foundation
import Testing

/// The repository root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The `sieve` binary SwiftPM built beside this test bundle.
func sieveBinary() -> URL {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var folder = bundle.deletingLastPathComponent()
    while folder.path != "/" {
        let candidate = folder.appendingPathComponent("sieve")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        folder = folder.deletingLastPathComponent()
    }
    return repositoryRoot.appendingPathComponent(".build/debug/sieve")
}

/// What a finished process left behind.
struct ProcessOutcome {
    var status: Int32
    var crashed: Bool
    var timedOut: Bool
    var stdout: String
    var stderr: String
}

/// Runs `sieve` with arguments and optional stdin, killing it after `timeout` seconds; with `addressSpaceKiB`,
/// under that address-space limit (`ulimit -v`, through /bin/sh).
func runSieve(_ arguments: [String], stdin: Data? = nil, timeout: Double = 20,
              environment: [String: String] = [:], addressSpaceKiB: Int? = nil) throws -> ProcessOutcome {
    let process = Process()
    if let addressSpaceKiB {
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -v \(addressSpaceKiB) && exec \"$0\" \"$@\"", sieveBinary().path] + arguments
    } else {
        process.executableURL = sieveBinary()
        process.arguments = arguments
    }
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let output = Pipe(), errors = Pipe(), input = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(stdin) }
    try input.fileHandleForWriting.close()
    // Read both pipes on other threads so a chatty process cannot block on a full pipe.
    let collected = OutputCollector()
    let group = DispatchGroup()
    for (pipe, isError) in [(output, false), (errors, true)] {
        group.enter()
        DispatchQueue.global().async {
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            collected.store(data, isError: isError)
            group.leave()
        }
    }
    let deadline = Date().addingTimeInterval(timeout)
    var timedOut = false
    while process.isRunning {
        if Date() > deadline {
            timedOut = true
            process.terminate()
            break
        }
        usleep(2000)
    }
    process.waitUntilExit()
    group.wait()
    return ProcessOutcome(status: process.terminationStatus,
                          crashed: process.terminationReason == .uncaughtSignal && !timedOut,
                          timedOut: timedOut, stdout: collected.text(isError: false), stderr: collected.text(isError: true))
}

/// Whether an executable is on PATH.
func toolExists(_ tool: String) -> Bool {
    (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        .contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }
}

/// The status `runTool` reports for a tool it stopped at its time limit (coreutils `timeout`'s).
let toolTimedOut: Int32 = 124

/// Runs a tool to completion, or until `timeout` seconds have passed: then it and every process it started are
/// stopped (TERM; KILL ten seconds later if need be), the status is `toolTimedOut` and the output says so
/// (a tool that exits with that status by itself reads as stopped too). Its standard output and error together.
func runTool(_ tool: String, _ arguments: [String], environment: [String: String] = [:],
             timeout: Int = 1200) throws -> (status: Int32, output: String) {
    let process = Process()
    // Through bash: the test runner's threads block SIGCHLD and Process passes that mask on, so cmake would wait
    // forever for its compiler checks to end; bash unblocks SIGCHLD when it starts. `timeout` runs the tool in a
    // process group of its own and signals the whole group, so a stalled build's children stop with it.
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-c", "exec timeout --kill-after=10 \(timeout) \"$0\" \"$@\"", tool] + arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    let start = Date()
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let output = String(decoding: data, as: UTF8.self)
    let stopped = process.terminationStatus == 137 && Date().timeIntervalSince(start) >= Double(timeout)
    if process.terminationStatus == toolTimedOut || stopped {
        return (toolTimedOut, output + "\n[\(tool) stopped after \(timeout) s]")
    }
    return (process.terminationStatus, output)
}

final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var out = Data(), err = Data()
    func store(_ data: Data, isError: Bool) {
        lock.lock(); defer { lock.unlock() }
        if isError { err = data } else { out = data }
    }
    func text(isError: Bool) -> String {
        lock.lock(); defer { lock.unlock() }
        return String(decoding: isError ? err : out, as: UTF8.self)
    }
}

func temporaryFolder() throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder
}

let sampleIR = """
    graph @g(%x: tensor<2x3xf32>) -> tensor<6xf32> {
      %a = reshape %x : tensor<3x2xf32>
      %b = reshape %a : tensor<6xf32>
      %dead = relu %x : tensor<2x3xf32>
      return %b
    }

    """

@Suite(.serialized) struct CommandLineTests {
    @Test func versionAndHelpExitZero() throws {
        let version = try runSieve(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.contains("0.1.0"))
        let help = try runSieve(["opt", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("--print-ir-after-all"))
        #expect(help.stdout.contains("canonicalize"))
    }

    @Test func optReadsStdinAndRunsPasses() throws {
        let outcome = try runSieve(["opt", "-", "-p", "canonicalize,dce"], stdin: Data(sampleIR.utf8))
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("%b = reshape %x : tensor<6xf32>"))
        #expect(!outcome.stdout.contains("%dead"))
    }

    @Test func printIRAfterAllPrintsOneDumpPerPass() throws {
        let outcome = try runSieve(["opt", "-", "-p", "canonicalize,dce", "--print-ir-after-all"], stdin: Data(sampleIR.utf8))
        #expect(outcome.status == 0)
        let headers = outcome.stderr.components(separatedBy: "\n").filter { $0.hasPrefix("// -----// IR Dump After") }
        #expect(headers == ["// -----// IR Dump After canonicalize //----- //", "// -----// IR Dump After dce //----- //"])
    }

    @Test func timePassesReportsEveryPass() throws {
        let outcome = try runSieve(["opt", "-", "-p", "cse,dce", "--time-passes"], stdin: Data(sampleIR.utf8))
        #expect(outcome.status == 0)
        #expect(outcome.stderr.contains("Pass execution timing report"))
        #expect(outcome.stderr.contains("cse"))
    }

    @Test func errorsExitOneWithOneDiagnosticEach() throws {
        let folder = try temporaryFolder()
        let file = folder.appendingPathComponent("in.sir")
        try sampleIR.write(to: file, atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["opt", folder.appendingPathComponent("missing.sir").path], "no such file"),
            (["opt", file.path, "-p", "canonicalize,bogus"], "unknown pass 'bogus'"),
            (["opt", file.path, "--no-such-flag"], "no-such-flag"),
            (["opt", file.path, "-p", "dce", "--stop-after=cse"], "pass 'cse' is not in this pipeline"),
            (["opt", file.path, "-o", folder.appendingPathComponent("no/such/dir/out.sir").path], "does not exist"),
            (["opt", folder.path], "is a directory"),
            (["frobnicate"], "frobnicate"),
        ]
        for (arguments, message) in cases {
            let outcome = try runSieve(arguments)
            #expect(outcome.status == 1, "\(arguments): status \(outcome.status)")
            #expect(outcome.stderr.contains(message), "\(arguments): \(outcome.stderr)")
            #expect(outcome.stdout.isEmpty, "\(arguments): printed to stdout: \(outcome.stdout)")
        }
    }

    @Test func failedRunLeavesTheOutputUntouched() throws {
        let folder = try temporaryFolder()
        let output = folder.appendingPathComponent("out.sir")
        try "previous contents\n".write(to: output, atomically: true, encoding: .utf8)
        let outcome = try runSieve(["opt", "-", "-o", output.path], stdin: Data("graph @g( broken".utf8))
        #expect(outcome.status == 1)
        #expect(try String(contentsOf: output, encoding: .utf8) == "previous contents\n")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        #expect(leftovers == ["out.sir"], "temporary files left behind: \(leftovers)")
        let success = try runSieve(["opt", "-", "-o", output.path], stdin: Data(sampleIR.utf8))
        #expect(success.status == 0)
        #expect(try String(contentsOf: output, encoding: .utf8).hasPrefix("graph @g"))
    }

    @Test func everyIRFileRoundTripsByteForByteThroughTheTool() throws {
        let root = repositoryRoot.appendingPathComponent("IR")
        let walker = FileManager.default.enumerator(atPath: root.path)
        var checked = 0
        while let path = walker?.nextObject() as? String {
            guard path.hasSuffix(".sir") || path.hasSuffix(".kir") else { continue }
            let text = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
            guard !text.contains("// error: ") else { continue }
            let outcome = try runSieve(["opt", root.appendingPathComponent(path).path])
            #expect(outcome.status == 0, "\(path): \(outcome.stderr)")
            let ir = text.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.hasPrefix("//") && !$0.isEmpty }.joined(separator: "\n")
            let printed = outcome.stdout.split(separator: "\n").joined(separator: "\n")
            #expect(printed == ir, "\(path) does not round-trip byte for byte")
            checked += 1
        }
        #expect(checked >= 10)
    }

    @Test func optVerifiesKernelIRAndPrintsLoweredKernelIR() throws {
        let folder = try temporaryFolder()
        let good = repositoryRoot.appendingPathComponent("IR/kernel/roundtrip/statements.kir").path
        let printed = try runSieve(["opt", good])
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(printed.stdout.hasPrefix("program @all {vector_width = 8"))

        let bad = folder.appendingPathComponent("bad.kir")
        try """
            program @p {vector_width = 16, arena = 64, weights = 0}
              %b0 = input 0 : f32[4]  // %x

            kernel @k {op = "copy", loc = "", pattern = ""} {
              store %b0[0], 1.0f
            }

            """.write(to: bad, atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["opt", bad.path], "bad.kir:5:3: error: kernel IR verifier: kernel @k: store to %b0, which is read only (input 0)"),
            (["opt", good, "-p", "dce"], "-p runs graph passes"),
            (["opt", good, "--print-kernel-ir"], "already kernel IR"),
        ]
        for (arguments, message) in cases {
            let outcome = try runSieve(arguments)
            #expect(outcome.status == 1, "\(arguments): status \(outcome.status)")
            #expect(outcome.stderr.contains(message), "\(arguments): \(outcome.stderr)")
            #expect(outcome.stdout.isEmpty)
        }

        let lowered = try runSieve(["opt", "-", "-p", "canonicalize,dce", "--print-kernel-ir", "--target", "x86-64-v3"],
                                   stdin: Data(sampleIR.utf8))
        #expect(lowered.status == 0, "\(lowered.stderr)")
        #expect(lowered.stderr.contains("// -----// Kernel IR //----- //\nprogram @"))
        #expect(lowered.stderr.contains("{vector_width = 8,"))
        #expect(lowered.stdout.hasPrefix("graph @g"))
        let help = try runSieve(["opt", "--help"])
        #expect(help.stdout.contains("--print-kernel-ir"))
        #expect(help.stdout.contains(".kir"))
    }
}
