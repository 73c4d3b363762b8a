// Tests of the thread count's one limit: the runtime header's SIEVE_MAX_THREADS, refused above it on
// the command line with a diagnostic that names it, and reported by bench as the count really run.

import Foundation
import SieveDriver
import SieveIR
import Testing

@Suite struct ThreadCountTests {
    @Test func theLimitIsTheRuntimeHeaders() throws {
        let header = try String(contentsOf: repositoryRoot.appendingPathComponent("Sources/CSieveRuntime/include/sieve_runtime.h"), encoding: .utf8)
        let line = try #require(header.split(separator: "\n").first { $0.hasPrefix("#define SIEVE_MAX_THREADS ") })
        #expect(Int(line.split(separator: " ").last ?? "") == maxRuntimeThreads)
        #expect(try checkThreadCount(maxRuntimeThreads) == maxRuntimeThreads)
        #expect(throws: DiagnosticError.self) { try checkThreadCount(maxRuntimeThreads + 1) }
        #expect(throws: DiagnosticError.self) { try checkThreadCount(0) }
        #expect(runtimeThreadCount(maxRuntimeThreads + 100) == maxRuntimeThreads)
        #expect(runtimeThreadCount(0) == 1 && runtimeThreadCount(3) == 3)
    }

    @Test func runRefusesMoreThreadsThanTheRuntimeRuns() throws {
        let model = repositoryRoot.appendingPathComponent("Examples/models/mlp.onnx").path
        let input = repositoryRoot.appendingPathComponent("Examples/models/mlp.input.npy").path
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-threads-\(UUID().uuidString)").path
        let outcome = try runSieve(["run", model, "--input", "input=\(input)", "--output-dir", folder,
                                    "--threads", "\(maxRuntimeThreads + 1)"])
        #expect(outcome.status == 1 && !outcome.crashed)
        #expect(outcome.stderr.contains("--threads \(maxRuntimeThreads + 1) is more than the runtime runs"))
        #expect(outcome.stderr.contains("give a count from 1 to \(maxRuntimeThreads)"))
        #expect(!FileManager.default.fileExists(atPath: folder))
        let help = try runSieve(["run", "--help"])
        #expect(help.stdout.contains("1 to \(maxRuntimeThreads)"))
    }

    @Test func benchRefusesACountAboveTheLimitInItsList() throws {
        let model = repositoryRoot.appendingPathComponent("Examples/models/mlp.onnx").path
        let outcome = try runSieve(["bench", model, "--input-shape", "input=1x64", "--threads", "1,\(maxRuntimeThreads * 2)"])
        #expect(outcome.status == 1 && !outcome.crashed)
        #expect(outcome.stderr.contains("--threads \(maxRuntimeThreads * 2) is more than the runtime runs"))
    }

    @Test func benchLabelsRowsWithTheThreadsReallyRun() throws {
        var request = BenchRequest(modelPath: repositoryRoot.appendingPathComponent("Examples/models/mlp.onnx").path)
        request.inputShapes = ["input": [1, 64]]
        request.threads = [maxRuntimeThreads + 36, maxRuntimeThreads]
        request.repetitions = 1
        request.calls = 1
        request.flushBytes = 1 << 16
        var notes: [String] = []
        let rows = try runBench(request) { notes.append($0) }.rows
        #expect(!rows.isEmpty)
        #expect(rows.allSatisfy { $0.threads == maxRuntimeThreads })
        #expect(notes.contains { $0.contains("\(maxRuntimeThreads + 36) thread(s) asked for, the runtime runs \(maxRuntimeThreads)") })
    }
}
