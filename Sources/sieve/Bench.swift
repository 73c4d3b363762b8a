// `sieve bench`: the model compiled dense and N:M sparse, timed against each other in one process.
// Peers outside Sieve (OpenBLAS, ONNX Runtime) are timed by bench/run.sh, which the help points to.

import ArgumentParser
import Foundation
import SieveDriver

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time a model compiled dense against the same model compiled N:M sparse.",
        discussion: """
            Compiles the model dense and, with --sparsity, sparse (artifacts are cached), then times \
            NAME_run of each in turn: per thread count and mode, --repetitions rounds in which each \
            contender makes --calls timed calls. Cold mode reads a 64 MiB buffer before every call so the \
            weights come from DRAM, as inside a real model; hot mode reuses warm caches. Prints medians, \
            10th/90th percentiles and the speed relative to dense.

            With --profile the contenders are profiling builds (`sieve compile --profile`): NAME_run reads the \
            clock after every kernel. Then, per contender, thread count and mode, it prints the time per op kind \
            and the --top slowest kernels: median time, share, the cost model's estimate, bytes, FLOPs, achieved \
            GB/s and GFLOP/s and their share of the machine's limits; --json prints all of it, every kernel, as JSON.

            For OpenBLAS and ONNX Runtime on the same layer or model, in the same run, use bench/run.sh \
            (bench/README.md), which also times an artifact from `sieve compile`.

            Examples:
              sieve bench model.onnx --sparsity 2:4
              sieve bench encoder.onnx --sparsity 2:4 --profile --threads 1 --top 15
              sieve bench mlp.onnx --input-shape input=1x64 --sparsity 2:4 --threads 1 --repetitions 9
            """)

    @Argument(help: ArgumentHelp("The model: an .onnx file or a .sir file.", valueName: "model"))
    var model: String

    @Option(name: .customLong("input-shape"),
            help: ArgumentHelp("Fix an input's dynamic dimensions, e.g. input=1x64; repeatable.", valueName: "name=shape"))
    var inputShapes: [String] = []

    @Option(help: ArgumentHelp("The CPU: native, x86-64, x86-64-v3 (AVX2) or x86-64-v4 (AVX-512).", valueName: "target"))
    var target: TargetDescription = .native

    @Option(help: ArgumentHelp("Thread counts to time, comma-separated, each 1 to \(maxRuntimeThreads) (the runtime's limit).", valueName: "list"))
    var threads: String = "1,2"

    @Option(help: ArgumentHelp("Rounds of alternating contenders.", valueName: "count"))
    var repetitions: Int = 5

    @Option(help: ArgumentHelp("Timed calls per contender per round.", valueName: "count"))
    var calls: Int = 10

    @Flag(help: "Time every kernel inside profiling builds and print where the time goes.")
    var profile = false

    @Option(help: ArgumentHelp("With --profile: the slowest kernels to list per table (1 to 10000).", valueName: "count"))
    var top: Int = 20

    @Flag(help: "Print the result as JSON (with --profile: every kernel) instead of Markdown tables.")
    var json = false

    @OptionGroup(title: "Sparsity")
    var sparsity: SparsityFlags

    func run() throws {
        try runReportingDiagnostics {
            let threadCounts = threads.split(separator: ",").compactMap { Int($0) }
            guard !threadCounts.isEmpty, threadCounts.count == threads.split(separator: ",").count else {
                throw DiagnosticError(.error(.unknown, "--threads must be a comma-separated list of counts from 1 to \(maxRuntimeThreads), found '\(threads)'"))
            }
            for count in threadCounts { _ = try checkThreadCount(count) }
            guard (1...1000).contains(repetitions), (1...10000).contains(calls) else {
                throw DiagnosticError(.error(.unknown, "--repetitions must be 1...1000 and --calls 1...10000"))
            }
            guard (1...10000).contains(top) else {
                throw DiagnosticError(.error(.unknown, "--top must be 1...10000, found \(top)"))
            }
            progressDisplay.isEnabled = isatty(2) != 0
            defer { progressDisplay.clear() }
            var request = BenchRequest(modelPath: model)
            request.inputShapes = try parseInputShapes(inputShapes)
            request.target = target
            request.compiler = ProcessInfo.processInfo.environment["CC"].flatMap { $0.isEmpty ? nil : $0 } ?? "cc"
            request.sparsity = try sparsity.options(passManager: PassManagerOptions())
            request.calibration = try sparsity.loadCalibration()
            request.progress = progressDisplay.handler
            request.threads = threadCounts
            request.repetitions = repetitions
            request.calls = calls
            request.profile = profile
            let result = try runBench(request) { printError($0) }
            if json {
                print(try benchJSON(result))
            } else {
                print(benchTable(result.rows), terminator: "")
                if let report = result.profile { print("\n" + report.markdown(top: top)) }
            }
        }
    }
}
