// Runs `sieve targets` as a user would: every target printed with its vector width, a selection,
// and an unknown name ending in one diagnostic and exit status 1.

import Foundation
import Testing

@Suite(.serialized) struct TargetsCommandTests {
    @Test func printsEveryTargetNativeFirst() throws {
        let outcome = try runSieve(["targets"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let titles = outcome.stdout.split(separator: "\n").filter { !$0.hasPrefix(" ") }.map { $0.split(separator: ":")[0] }
        #expect(titles == ["native", "x86-64", "x86-64-v3", "x86-64-v4"])
        #expect(outcome.stdout.contains("x86-64-v3: 256-bit vectors"))
        #expect(outcome.stdout.contains("x86-64-v4: 512-bit vectors"))
        #expect(outcome.stdout.contains("cc flags: -march=native"))
    }

    @Test func printsOnlyTheNamedTarget() throws {
        let outcome = try runSieve(["targets", "x86-64"])
        #expect(outcome.status == 0)
        #expect(outcome.stdout.hasPrefix("x86-64: 128-bit vectors"))
        #expect(outcome.stdout.contains("features: sse2\n"))
        #expect(!outcome.stdout.contains("x86-64-v3"))
    }

    @Test func unknownTargetExitsOne() throws {
        let outcome = try runSieve(["targets", "skylake"])
        #expect(outcome.status == 1)
        #expect(outcome.stdout.isEmpty)
        #expect(outcome.stderr.contains("error: unknown target 'skylake'; expected one of native, x86-64, x86-64-v3, x86-64-v4"))
    }
}
