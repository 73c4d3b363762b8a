// Keeps bench/ honest without running benchmarks: its C sources compile warning-free on every vector
// path, the harness checks an artifact's output before timing it, and the summary's ratios point the right way.

import Foundation
import Testing

/// The C compiler on PATH, if there is one.
func findCCompiler() -> String? {
    for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
        let candidate = "\(folder)/cc"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// Where OpenBLAS's cblas.h is, if installed.
let openBLASInclude = ["/usr/include/x86_64-linux-gnu/openblas-pthread", "/usr/include/openblas"]
    .first { FileManager.default.fileExists(atPath: $0 + "/cblas.h") }

@Suite struct BenchSourcesTests {
    @Test(.enabled(if: findCCompiler() != nil && openBLASInclude != nil, "needs cc and OpenBLAS's cblas.h"),
          arguments: ["harness.c", "stand-in-artifact.c"], ["-march=x86-64", "-march=x86-64-v3", "-march=x86-64-v4"])
    func compilesWithoutWarnings(file: String, architecture: String) throws {
        let compiler = try #require(findCCompiler())
        let include = try #require(openBLASInclude)
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: compiler)
        process.arguments = ["-O2", architecture, "-Wall", "-Wextra", "-I", include, "-c",
                             repositoryRoot.appendingPathComponent("bench/\(file)").path,
                             "-o", folder.appendingPathComponent("out.o").path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = errors
        try process.run()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(file) \(architecture) failed:\n\(output)")
        #expect(output.isEmpty, "\(file) \(architecture) printed diagnostics:\n\(output)")
    }
}

/// Runs a program and returns its status, standard output and standard error.
func runProgram(_ path: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    // Small outputs only (these programs print a few kilobytes), so reading one pipe after the other is safe.
    let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, out, err)
}

/// The first python3 on PATH.
func findPython() -> String? {
    for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
        let candidate = "\(folder)/python3"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

@Suite struct BenchProtocolTests {
    /// The harness's --sieve path on a tiny layer: a correct artifact is timed beside OpenBLAS in the
    /// rows of its own batch; one compiled from other weights is refused before timing (status 2).
    @Test(.enabled(if: findCCompiler() != nil && openBLASInclude != nil, "needs cc and OpenBLAS"))
    func harnessChecksAndTimesAnArtifact() throws {
        let compiler = try #require(findCCompiler())
        let include = try #require(openBLASInclude)
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let size = 64, bench = repositoryRoot.appendingPathComponent("bench").path
        var weights = [Float](repeating: 0, count: size * size)
        for index in weights.indices { weights[index] = Float((index * 37) % 19) / 8 - 1 }
        let right = folder.appendingPathComponent("right.f32").path
        let wrong = folder.appendingPathComponent("wrong.f32").path
        try weights.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: right)) }
        weights.swapAt(0, 1)
        weights[5] += 1
        try weights.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: wrong)) }

        let harness = folder.appendingPathComponent("harness").path
        let library = folder.appendingPathComponent("libstandin.so").path
        for arguments in [
            ["-O1", "-I", include, "\(bench)/harness.c", "-o", harness, "-lopenblas", "-lpthread", "-ldl", "-lm"],
            ["-O1", "-fPIC", "-shared", "-DSTANDIN_SIZE=\(size)", "-DSTANDIN_BATCH=2", "-DSTANDIN_WEIGHTS=\"\(right)\"",
             "\(bench)/stand-in-artifact.c", "-o", library],
        ] {
            let build = try runProgram(compiler, arguments)
            try #require(build.status == 0, "\(build.stderr)")
        }
        let common = ["--size", "\(size)", "--threads", "1", "--batch", "1", "--reps", "2", "--calls", "2",
                      "--pause-ms", "1", "--evict-mib", "1", "--no-stream"]
        let good = try runProgram(harness, common + ["--sieve", "\(library):standin:stand-in:\(right)"])
        #expect(good.status == 0, "\(good.stderr)")
        let rows = good.stdout.split(separator: "\n").filter { $0.hasPrefix("RESULT\t") }.map { $0.split(separator: "\t") }
        #expect(rows.map { "\($0[1]) \($0[2]) \($0[4])" }.sorted() == [
            "openblas-sgemm 2 cold", "openblas-sgemm 2 hot", "openblas-sgemv 1 cold", "openblas-sgemv 1 hot",
            "stand-in 2 cold", "stand-in 2 hot",
        ])

        let bad = try runProgram(harness, common + ["--sieve", "\(library):standin:stand-in:\(wrong)"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("output differs from OpenBLAS"), "\(bad.stderr)")
        #expect(!bad.stdout.contains("RESULT\tstand-in"))

        let missing = try runProgram(harness, common + ["--sieve", "\(library):nosuchname"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("missing symbol nosuchname_create"))
        let usage = try runProgram(harness, ["--threads", "0"])
        #expect(usage.status == 1)
        #expect(usage.stderr.contains("bad value for --threads"))
    }

    /// The summary's medians and ratio directions on hand-made samples.
    @Test(.enabled(if: findPython() != nil, "needs python3"))
    func summaryTakesMediansAndRatiosAgainstTheBaselines() throws {
        let python = try #require(findPython())
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("run.txt")
        let lines = [
            "SAMPLE\topenblas-sgemv\t1\t1\tcold\t0.004", "SAMPLE\topenblas-sgemv\t1\t1\tcold\t0.002",
            "SAMPLE\topenblas-sgemv\t1\t1\tcold\t0.003",
            "SAMPLE\tort-fp32-dense\t1\t1\tcold\t0.0025", "SAMPLE\tort-fp32-2of4\t1\t1\tcold\t0.0035",
            "SAMPLE\tsieve-2of4\t1\t1\tcold\t0.0015", "SAMPLE\tsieve-2of4\t1\t1\tcold\t0.0009",
            "SAMPLE\tsieve-2of4\t1\t1\tcold\t0.0100",
            "BYTES\topenblas-sgemv\t64000000", "RESULT\tstream-read\t-\t1\tcold\t0.02\t32.0",
        ]
        try (lines.joined(separator: "\n") + "\n").write(to: log, atomically: true, encoding: .utf8)
        let result = try runProgram(python, [repositoryRoot.appendingPathComponent("bench/summarize.py").path, log.path])
        #expect(result.status == 0, "\(result.stderr)")
        let table = result.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let sieve = try #require(table.first { $0.first == "sieve-2of4" })
        // median 1.5 ms; OpenBLAS median 3 ms -> 2.00x; the faster ORT model 2.5 ms -> 1.67x.
        #expect(sieve[4] == "1.500")
        #expect(sieve[10] == "2.00x")
        #expect(sieve[11] == "1.67x")
        let blas = try #require(table.first { $0.first == "openblas-sgemv" })
        // 64 MB in 3 ms = 21.3 GB/s, 67% of the 32 GB/s read probe.
        #expect(blas[8] == "21.3")
        #expect(blas[9] == "67%")
    }

    /// One label over artifacts of two batches: each row's GB/s uses the library size of its own batch.
    @Test(.enabled(if: findPython() != nil, "needs python3"))
    func summaryTakesTheLibrarySizeOfEachBatch() throws {
        let python = try #require(findPython())
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("run.txt")
        let lines = [
            "SAMPLE\tsieve-dense\t1\t1\tcold\t0.002", "SAMPLE\tsieve-dense\t32\t1\tcold\t0.010",
            "BYTES\tsieve-dense\t1\t64000000", "BYTES\tsieve-dense\t32\t128000000",
        ]
        try (lines.joined(separator: "\n") + "\n").write(to: log, atomically: true, encoding: .utf8)
        let result = try runProgram(python, [repositoryRoot.appendingPathComponent("bench/summarize.py").path, log.path])
        #expect(result.status == 0, "\(result.stderr)")
        let table = result.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        // 64 MB in 2 ms = 32.0 GB/s at batch 1; 128 MB in 10 ms = 12.8 GB/s at batch 32.
        #expect(table.first { $0.first == "sieve-dense" && $0[1] == "1" }?[8] == "32.0")
        #expect(table.first { $0.first == "sieve-dense" && $0[1] == "32" }?[8] == "12.8")
    }
}
