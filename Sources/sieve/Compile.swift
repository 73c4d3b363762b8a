// `sieve compile`: compiles textual graph IR to a native library with a plain C API.

import ArgumentParser
import Foundation
import SieveCodegenC
import SieveDriver
import SieveIR

extension CompileTarget: ExpressibleByArgument {}
extension WeightsPlacement: ExpressibleByArgument {}

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile textual IR (.sir) to NAME.h, NAME.c, libNAME.a and libNAME.so.",
        discussion: """
            Lowers the graph to kernel IR, plans a static arena, emits C and builds it with $CC (default cc). \
            Every file appears in the output folder at once or not at all.

            Examples:
              sieve compile mlp.sir -o out/
              sieve compile mlp.sir -o out/ --name mlp --target x86-64-v3 --weights external
              sieve compile mlp.sir -o out/ --print-kernel-ir
            """)

    @Argument(help: ArgumentHelp("The .sir file to compile, or '-' for standard input.", valueName: "file"))
    var input: String

    @Option(name: [.customShort("o"), .customLong("output")], help: ArgumentHelp("The output folder.", valueName: "folder"))
    var output: String

    @Option(help: ArgumentHelp("The artifact name (a C identifier); default: the file's base name.", valueName: "name"))
    var name: String?

    @Option(help: ArgumentHelp("The CPU: native, x86-64, x86-64-v3 (AVX2) or x86-64-v4 (AVX-512).", valueName: "target"))
    var target: CompileTarget = .native

    @Option(help: ArgumentHelp("Weights 'embedded' in the library or in an 'external' NAME.weights file.", valueName: "placement"))
    var weights: WeightsPlacement = .embedded

    @Flag(name: .customLong("print-kernel-ir"), help: "Print the kernel IR to standard error.")
    var printKernelIR = false

    func run() throws {
        try runReportingDiagnostics {
            let text = try Files.readText(input)
            let compiler = ProcessInfo.processInfo.environment["CC"].flatMap { $0.isEmpty ? nil : $0 } ?? "cc"
            let result = try runCompile(CompileRequest(
                text: text, path: input == "-" ? "<stdin>" : input, outputDirectory: output, name: name, target: target,
                weights: weights, compiler: compiler, printKernelIR: printKernelIR))
            for dump in result.dumps { printError(dump) }
            print(result.report, terminator: "")
        }
    }
}
