// Progress and quiet: on a terminal (a pseudo-terminal made by `script`) `sieve compile` shows what it is doing,
// in a pipe it shows nothing of it, --quiet prints only diagnostics, --verbose adds the time of every step.

import Foundation
import SieveIR
import Testing

@Suite(.serialized) struct ProgressTests {
    static let mlp = exampleFolder.appendingPathComponent("mlp.onnx").path
    /// A compile that runs every long step the MLP has: calibration passes, sensitivity, SparseGPT per layer, cc.
    /// Density 0.1 is out of reach, so sparsity-allocation also warns.
    static func arguments(output: String) -> [String] {
        ["compile", mlp, "--input-shape", "input=1x64", "-o", output, "--sparsity", "auto", "--target-density", "0.1",
         "--prune", "sparsegpt", "--calibration", exampleFolder.appendingPathComponent("mlp.calibration.npy").path]
    }

    /// Runs `sieve` with standard error (and input) on a pseudo-terminal and standard output into a file;
    /// returns what reached the terminal and what reached the file.
    static func onTerminal(_ arguments: [String], in folder: URL) throws -> (status: Int32, terminal: String, stdout: String) {
        let stdout = folder.appendingPathComponent("stdout.txt").path
        let command = ([sieveBinary().path] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
            .joined(separator: " ") + " > '\(stdout)'"
        let run = try runTool("script", ["-qfec", command, "/dev/null"])
        return (run.status, run.output, (try? String(contentsOfFile: stdout, encoding: .utf8)) ?? "")
    }

    static let warning = "warning: sparsity-allocation: target density 0.1 is out of reach"

    @Test(.enabled(if: toolExists("script"), "util-linux's script is not installed (it makes the pseudo-terminal)"))
    func progressAppearsOnATerminal() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try ProgressTests.onTerminal(ProgressTests.arguments(output: folder.appendingPathComponent("out").path), in: folder)
        #expect(run.status == 0, "\(run.terminal)")
        let terminal = run.terminal
        // A status line rewritten in place for each long step, saying what is done and how far along it is.
        #expect(terminal.contains("\r\u{1B}[K"), "no status line:\n\(terminal)")
        #expect(terminal.contains("dense reference outputs — "), "no calibration progress")
        #expect(terminal.contains("/128 samples"))
        #expect(terminal.contains("sensitivity: coefficient.t 2:4 — "), "no sensitivity progress")
        #expect(terminal.contains(" candidates, "))
        #expect(terminal.contains("nm-legalize: coefficient.t "), "no status before pruning a layer")
        // SparseGPT's kept line per layer, as before, and the C compiler with what it compiles.
        #expect(terminal.contains("nm-legalize: 1/2 coefficient.t [128x64]"))
        #expect(terminal.contains("cc: compiling mlp.c ("), "no progress for the C compiler")
        #expect(terminal.contains(ProgressTests.warning))
        // The report goes to standard output, untouched by the display.
        #expect(run.stdout.hasPrefix("# Sieve compile report: mlp.onnx"))
        #expect(!run.stdout.contains("\u{1B}"))
    }

    @Test func noProgressInAPipe() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try runSieve(ProgressTests.arguments(output: folder.appendingPathComponent("out").path), timeout: 300)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(!run.stderr.contains("\u{1B}") && !run.stderr.contains("\r"), "terminal control codes in a pipe:\n\(run.stderr)")
        for fragment in ["samples", "sensitivity:", "cc: compiling", "nm-legalize: 1/2"] {
            #expect(!run.stderr.contains(fragment), "progress '\(fragment)' in a pipe")
        }
        #expect(run.stderr.contains(ProgressTests.warning))
        #expect(run.stdout.hasPrefix("# Sieve compile report"))
    }

    @Test(.enabled(if: toolExists("script"), "util-linux's script is not installed (it makes the pseudo-terminal)"))
    func quietPrintsOnlyDiagnostics() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("out")
        let run = try ProgressTests.onTerminal(ProgressTests.arguments(output: out.path) + ["--quiet"], in: folder)
        #expect(run.status == 0, "\(run.terminal)")
        // On the terminal: the warning and nothing else; standard output empty; the artifact and reports written.
        let lines = run.terminal.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        #expect(lines.count == 1 && lines.first?.contains(ProgressTests.warning) == true, "--quiet printed more:\n\(run.terminal)")
        #expect(!run.terminal.contains("\u{1B}[K"))
        #expect(run.stdout.isEmpty, "--quiet printed the report:\n\(run.stdout)")
        for file in ["libmlp.so", "report.md", "report.html"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), "missing \(file)")
        }
        // A failure still says why.
        let failed = try runSieve(["compile", folder.appendingPathComponent("missing.onnx").path, "-o", out.path, "--quiet"])
        #expect(failed.status == 1 && failed.stderr.contains("error:") && failed.stdout.isEmpty)
    }

    @Test func verboseTimesEveryStep() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try runSieve(ProgressTests.arguments(output: folder.appendingPathComponent("out").path) + ["--verbose"], timeout: 300)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("===- Pass execution timing report -==="))
        let steps = try #require(run.stderr.components(separatedBy: "===- Step timing report -===").last)
        for step in ["import", "graph passes", "lower to kernel IR", "emit C", "cc: compiling mlp.c", "ar and link"] {
            #expect(steps.contains("  " + step), "no time for '\(step)':\n\(steps)")
        }
        let both = try runSieve(ProgressTests.arguments(output: folder.appendingPathComponent("out").path) + ["--verbose", "--quiet"])
        #expect(both.status == 1 && both.stderr.contains("--quiet and --verbose exclude each other"))
    }

    /// The status line: counts, elapsed time and, once a unit is done and a second has passed, the time left.
    @Test func statusLineEstimatesTheTimeLeft() {
        let update = ProgressUpdate(task: "sensitivity", detail: "fc1 2:4", done: 3, total: 12, unit: "candidates")
        #expect(update.statusLine(elapsed: 6, columns: 200) == "sensitivity: fc1 2:4 — 3/12 candidates, 6 s, about 18 s left")
        #expect(update.statusLine(elapsed: 0.4, columns: 200) == "sensitivity: fc1 2:4 — 3/12 candidates, 0 s")
        var long = update
        long.done = 1
        #expect(long.statusLine(elapsed: 10, columns: 200) == "sensitivity: fc1 2:4 — 1/12 candidates, 10 s, about 1 min 50 s left")
        let open = ProgressUpdate(task: "cc", detail: "compiling mlp.c (16.3 kB of C)")
        #expect(open.statusLine(elapsed: 2, columns: 200) == "cc: compiling mlp.c (16.3 kB of C) — 2 s")
        let narrow = update.statusLine(elapsed: 6, columns: 20)
        #expect(narrow.count == 19 && narrow.hasSuffix("…"))
    }
}
