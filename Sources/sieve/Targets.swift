// `sieve targets`: prints every target `--target` accepts, the host's native description first,
// so that a user can see what a compile for each of them may use.

import ArgumentParser
import SieveDriver

struct Targets: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the targets that --target accepts and what each offers.",
        discussion: """
            'native' is read from this machine (/proc/cpuinfo and /sys/devices/system/cpu); the named \
            targets are the x86-64 psABI levels: x86-64 (SSE2), x86-64-v3 (AVX2, FMA) and x86-64-v4 \
            (AVX-512 F/BW/VL/DQ/CD). Their cache sizes are assumptions, marked '(assumed)'.

            Examples:
              sieve targets
              sieve targets x86-64-v3
            """)

    @Argument(help: ArgumentHelp("Print only these targets.", valueName: "name"))
    var names: [String] = []

    func run() throws {
        try runReportingDiagnostics {
            print(try targetDescriptions(named: names).joined(separator: "\n\n"))
        }
    }
}
