// Robustness of the sparsity passes: mutants of their IR files (byte changes, deletions, repeats)
// run through sparsity-allocation and nm-legalize end in a result or a diagnostic, never a crash.

import Foundation
import SieveDriver
import SieveIR
import SievePasses
import Testing

/// The .sir files of the sparsity passes' file tests.
func sparsityIRFiles() throws -> [(String, [UInt8])] {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("IR/graph")
    var files: [(String, [UInt8])] = []
    for folder in ["nm-legalize", "sparsity-allocation", "verifier"] {
        let url = root.appendingPathComponent(folder)
        for name in try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
        where name.hasSuffix(".sir") && (folder != "verifier" || name.hasPrefix("nm-") || name.hasPrefix("sparsity")) {
            files.append(("\(folder)/\(name)", Array(try Data(contentsOf: url.appendingPathComponent(name)))))
        }
    }
    return files
}

@Suite struct RobustnessTests {
    @Test func mutantsOfSparsityFilesNeverCrashThePasses() throws {
        var random = Random(2026)
        let syntax = Array("{}()<>[],:=%@\"0123456789x\" ".utf8) + [0xFF]
        var outcomes = (ok: 0, diagnosed: 0)
        let files = try sparsityIRFiles()
        #expect(files.count >= 10)
        for (path, bytes) in files {
            for _ in 0..<60 {
                var data = bytes
                switch random.next() % 3 {
                case 0:
                    for _ in 0...(random.next() % 4) { data[Int(random.next() % UInt64(data.count))] = syntax[Int(random.next() % UInt64(syntax.count))] }
                case 1:
                    let start = Int(random.next() % UInt64(data.count))
                    data.removeSubrange(start..<min(data.count, start + 1 + Int(random.next() % 30)))
                default:
                    // Flip one hex digit of constant data or one digit of a pattern: storage and pattern checks.
                    let digits = data.indices.filter { (0x30...0x39).contains(data[$0]) || (0x61...0x66).contains(data[$0]) }
                    if !digits.isEmpty { data[digits[Int(random.next() % UInt64(digits.count))]] = syntax[Int(random.next() % 10) + 14] }
                }
                let request = OptRequest(text: String(decoding: data, as: UTF8.self), path: path,
                                         pipeline: "sparsity-allocation{sparsity=2:4,min-weights=0},nm-legalize{pattern=1:4}")
                do {
                    _ = try runOpt(request)
                    outcomes.ok += 1
                } catch {
                    #expect(!error.diagnostics.isEmpty && error.diagnostics.allSatisfy { !$0.message.isEmpty })
                    outcomes.diagnosed += 1
                }
            }
        }
        #expect(outcomes.ok > 0 && outcomes.diagnosed > 0, "\(outcomes)")
    }
}
