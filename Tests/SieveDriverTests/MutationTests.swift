// Robustness: byte flips, truncations, deletions and duplications of every .sir file under IR/.
// In process, thousands of mutants must end in a result or a diagnostic; through the tool, a
// sample must exit 0 or 1 (never a signal or another code) and never hang.

import Foundation
import SieveDriver
import SieveIR
import SievePasses
import SieveTestSupport
import Testing

struct Mutator {
    var generator: SplitMix64
    init(state: UInt64) { generator = SplitMix64(seed: state) }

    mutating func next() -> UInt64 { generator.next() }
    mutating func below(_ bound: Int) -> Int { generator.below(bound) }

    /// Interesting bytes: syntax characters, digits, and bytes that are not valid UTF-8.
    static let bytes: [UInt8] = Array("{}()<>[],:=%@\"x0123456789-.e \n/".utf8) + [0x00, 0xFF, 0xC3, 0x80]

    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var data = input
        guard !data.isEmpty else { return data }
        switch below(6) {
        case 0:
            for _ in 0...below(4) { data[below(data.count)] = Mutator.bytes[below(Mutator.bytes.count)] }
        case 1:
            data = Array(data.prefix(below(data.count)))
        case 2:
            let start = below(data.count)
            data.removeSubrange(start..<min(data.count, start + 1 + below(40)))
        case 3:
            let start = below(data.count)
            let piece = data[start..<min(data.count, start + 1 + below(60))]
            data.insert(contentsOf: piece, at: below(data.count))
        case 4:
            data[below(data.count)] = UInt8(truncatingIfNeeded: next())
        default:
            // Large numbers where digits were: absurd shapes and attributes.
            if let digit = data.indices.filter({ data[$0] >= 0x30 && data[$0] <= 0x39 }).randomElement(using: &self) {
                data.insert(contentsOf: Array("99999999999999999999".utf8), at: digit)
            }
        }
        return data
    }
}

extension Mutator: RandomNumberGenerator {}

func irFiles() throws -> [(String, [UInt8])] {
    let root = repositoryRoot.appendingPathComponent("IR")
    let walker = FileManager.default.enumerator(atPath: root.path)
    var files: [(String, [UInt8])] = []
    while let path = walker?.nextObject() as? String {
        guard path.hasSuffix(".sir") else { continue }
        files.append((path, Array(try Data(contentsOf: root.appendingPathComponent(path)))))
    }
    return files.sorted { $0.0 < $1.0 }
}

@Suite(.serialized) struct MutationTests {
    @Test func mutantsEndInAResultOrADiagnosticInProcess() throws {
        var mutator = Mutator(state: 20261124)
        var outcomes = (ok: 0, diagnosed: 0)
        for (path, bytes) in try irFiles() {
            for _ in 0..<400 {
                let mutant = mutator.mutate(bytes)
                let request = OptRequest(text: String(decoding: mutant, as: UTF8.self), path: path,
                                         pipeline: "canonicalize,cse,dce")
                do {
                    _ = try runOpt(request)
                    outcomes.ok += 1
                } catch {
                    #expect(!error.diagnostics.isEmpty, "\(path): an error without a diagnostic")
                    #expect(error.diagnostics.allSatisfy { !$0.message.isEmpty })
                    outcomes.diagnosed += 1
                }
            }
        }
        #expect(outcomes.diagnosed > outcomes.ok, "mutations should mostly break files: \(outcomes)")
    }

    @Test func mutantsNeverCrashOrHangTheTool() throws {
        var mutator = Mutator(state: 7)
        let folder = try temporaryFolder()
        var statuses: [Int32: Int] = [:]
        for (path, bytes) in try irFiles() {
            for round in 0..<10 {
                let mutant = mutator.mutate(bytes)
                let file = folder.appendingPathComponent("mutant-\(round).sir")
                try Data(mutant).write(to: file)
                let outcome = try runSieve(["opt", file.path, "-p", "canonicalize,cse,dce"], timeout: 30)
                #expect(!outcome.crashed, "\(path) mutant crashed the tool:\n\(String(decoding: mutant, as: UTF8.self))")
                #expect(!outcome.timedOut, "\(path) mutant hung the tool")
                #expect(outcome.status == 0 || outcome.status == 1, "\(path): exit status \(outcome.status)")
                if outcome.status == 1 {
                    #expect(outcome.stderr.contains("error:"), "\(path): exit 1 without a diagnostic")
                }
                statuses[outcome.status, default: 0] += 1
            }
        }
        #expect((statuses[1] ?? 0) > 0)
    }
}
