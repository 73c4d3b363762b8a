// sieve-fuzz: the fuzzing campaign's command line (scripts/fuzz.sh runs it): mutants of the four input formats
// under limits, random graphs compiled against the interpreter, and the hidden worker the mutant campaign spawns.

import ArgumentParser
import Foundation
import SieveFuzz

@main
struct FuzzCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sieve-fuzz",
        abstract: "Fuzz Sieve's importers, parsers and generated code; exits 1 when anything is found.",
        subcommands: [Mutants.self, Graphs.self, Worker.self])
}

/// The executable's own path and the `sieve` built beside it.
func siblingExecutables() -> (fuzz: String, sieve: String) {
    let own = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    return (own.path, own.deletingLastPathComponent().appendingPathComponent("sieve").path)
}

struct Mutants: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Mutate .onnx, .sir, .kir and .npy seed files and run each mutant under limits.")

    @Option(help: "Mutants per format.") var count = 1000
    @Option(help: "Campaign seed; a finding names its seed and case index, which reproduce it.") var seed: UInt64 = 1
    @Option(help: "Comma-separated formats among onnx, sir, kir, npy.") var formats = "onnx,sir,kir,npy"
    @Option(help: "Seconds one mutant may take before it counts as a hang.") var timeout = 10.0
    @Option(help: "Address-space limit of workers and command-line samples, in MiB (ulimit -v).") var memoryMib = 4096
    @Option(help: "Run every Nth mutant through the sieve command line too (0 for none).") var cliEvery = 100
    @Option(help: "The repository holding the seed files and scripts/onnx-check.py.") var repository = FileManager.default.currentDirectoryPath
    @Option(help: "Python with onnx, for onnx's checker.") var python: String?
    @Option(help: "Folder to write failing mutants to.") var findings: String?
    @Option(help: ArgumentHelp("Stage faults instead of cases, e.g. crash@3,hang@7 (tests the supervisor).", visibility: .hidden))
    var inject: String?

    func run() throws {
        let (fuzz, sieve) = siblingExecutables()
        let root = URL(fileURLWithPath: repository)
        var options = MutantCampaignOptions(fuzzBinary: fuzz, sieveBinary: sieve, repository: root)
        options.formats = try formats.split(separator: ",").map { name in
            guard let format = FuzzFormat(rawValue: String(name)) else { throw ValidationError("unknown format '\(name)'; use onnx, sir, kir or npy") }
            return format
        }
        options.casesPerFormat = count
        options.seed = seed
        options.timeout = timeout
        options.addressSpaceKiB = memoryMib * 1024
        options.cliEvery = cliEvery
        options.python = python ?? root.appendingPathComponent(".venv/bin/python").path
        options.findingsFolder = findings.map { URL(fileURLWithPath: $0) }
        if let inject {
            guard let faults = InjectedFault.parse(inject) else { throw ValidationError("--inject takes crash@N and hang@N, separated by commas") }
            options.injectedFaults = faults
        }
        let summary = try runMutantCampaign(options) { FileHandle.standardError.write(Data("sieve-fuzz: \($0)\n".utf8)) }
        print(summary.render(seed: seed))
        if !summary.clean { throw ExitCode(1) }
    }
}

struct Graphs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Compile random graphs for every runnable target and compare them with the interpreter at several thread counts.")

    @Option(help: "Random graphs in all.") var count = 200
    @Option(help: "The first graph's seed (graph i has seed + i).") var seed: UInt64 = 0
    @Option(help: "Graphs compiled into one artifact.") var batch = 40
    @Option(help: "Comma-separated thread counts.") var threads = "1,2,3,4"
    @Flag(help: "Also compile every batch with the LLVM backend's JIT and compare it too.") var jit = false

    func run() throws {
        var options = GraphCampaignOptions()
        options.jit = jit
        options.count = count
        options.seed = seed
        options.batch = max(1, batch)
        options.threads = try threads.split(separator: ",").map { text in
            guard let value = Int(text), value >= 1 else { throw ValidationError("thread counts must be positive integers, found '\(text)'") }
            return value
        }
        let summary = runGraphCampaign(options) { FileHandle.standardError.write(Data("sieve-fuzz: \($0)\n".utf8)) }
        print(summary.render(options: options))
        if !summary.clean { throw ExitCode(1) }
    }
}

struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run mutants in process for a supervising `mutants` campaign.", shouldDisplay: false)

    @Option var format: String
    @Option var seed: UInt64
    @Option var first: Int
    @Option var count: Int
    @Option var repository: String
    @Option var data: String
    @Option var inject: String?

    func run() throws {
        guard let format = FuzzFormat(rawValue: format) else { throw ValidationError("unknown format '\(format)'") }
        let corpus = try FuzzCorpus.load(repository: URL(fileURLWithPath: repository), checking: [format])
        runWorker(format: format, seed: seed, first: first, count: count, corpus: corpus, dataFolder: data,
                  faults: inject.flatMap(InjectedFault.parse) ?? [:])
    }
}
