// Checks that the C sources of bench/ compile warning-free under -Wall -Wextra for every vector path
// (scalar, AVX2, AVX-512), so the benchmark harness keeps building; the benchmarks themselves are not run.

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
