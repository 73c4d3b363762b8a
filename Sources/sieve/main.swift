// The `sieve` command-line tool: parses arguments and hands off to SieveDriver.
// Every failure ends in diagnostics on stderr and exit status 1; help and version exit 0.

import ArgumentParser
import Foundation
import SieveDriver

#if canImport(Glibc)
import Glibc
#endif

struct Sieve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sieve",
        abstract: "An ahead-of-time compiler that turns N:M weight sparsity into CPU speed.",
        discussion: """
            Sieve reads a model into a typed graph IR (textual form: .sir files), runs passes over it \
            and writes native code. `sieve inspect` describes a model, `sieve run` runs it on .npy inputs, `sieve bench` times it dense against N:M, \
            `sieve compile` writes it as a C library, `sieve opt` runs passes on textual IR, and `sieve targets` \
            lists the CPUs that --target accepts.
            """,
        version: sieveVersion,
        subcommands: [Inspect.self, Run.self, Compile.self, Bench.self, Opt.self, Targets.self])
}

/// Writes a line to standard error.
func printError(_ text: String) {
    progressDisplay.clear()
    var line = text
    if !line.hasSuffix("\n") { line += "\n" }
    FileHandle.standardError.write(Data(line.utf8))
}

/// Runs a command body, turning Sieve diagnostics into stderr lines and exit status 1.
func runReportingDiagnostics(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as DiagnosticError {
        for diagnostic in error.diagnostics { printError(diagnostic.description) }
        throw ExitCode(1)
    }
}

do {
    var command = try Sieve.parseAsRoot()
    try command.run()
} catch let exit as ExitCode {
    Glibc.exit(exit.rawValue == 0 ? 0 : 1)
} catch {
    let code = Sieve.exitCode(for: error)
    if code == .success {
        print(Sieve.fullMessage(for: error))
        Glibc.exit(0)
    }
    printError("error: " + Sieve.message(for: error).replacingPrefix("Error: ", with: ""))
    printError("run 'sieve --help' or 'sieve <subcommand> --help' for usage")
    Glibc.exit(1)
}

extension String {
    func replacingPrefix(_ prefix: String, with replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }
}
