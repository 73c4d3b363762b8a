// The schedule in the compile pipeline: dumps after the schedule pass, the report's schedule section, schedules
// pinned in a .sir model, deterministic output without --autotune, and the autotune cache written and reused.

import Foundation
import SieveDriver
import SieveIR
import SievePasses
import Testing

@Suite("Schedules in sieve compile")
struct ScheduleCompileTests {
    let model = """
        graph @tiny(%x: tensor<16x64xf32>) -> tensor<16x32xf32> {
          %w = const @w : tensor<32x64xf32>
          %y = matmul %x, %w {transpose_b = true} : tensor<16x32xf32>
          %r = relu %y : tensor<16x32xf32>
          return %r
        }
        const @w : tensor<32x64xf32> = splat<0.25>
        """

    func request(_ folder: URL, text: String? = nil) throws -> ModelCompileRequest {
        let path = folder.appendingPathComponent("tiny.sir")
        try (text ?? model).write(to: path, atomically: true, encoding: .utf8)
        var request = ModelCompileRequest(modelPath: path.path)
        request.outputDirectory = folder.appendingPathComponent("out-\(UUID().uuidString)").path
        request.autotuneCacheDirectory = folder.appendingPathComponent("autotune").path
        return request
    }

    @Test func dumpsAndReportCarryTheScheduleAndEstimate() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var compile = try request(folder)
        compile.passManager.printAfter = .names(["schedule"])
        let result = try compileModel(compile)
        let dump = try #require(result.dumps.first { $0.contains("IR Dump After schedule") }, "\(result.dumps)")
        #expect(dump.contains("fused_matmul %x, %w {transpose_b = true, epilogue = [relu], schedule = "))
        #expect(dump.contains("estimate = cost<time_ns = "))
        #expect(result.report.contains("## Schedule"))
        #expect(result.report.contains("| %r | fused_matmul | 16x32x64 | dense | "), "\(result.report)")
        let output = try #require(compile.outputDirectory)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output + "/report.json")))
        let schedule = try #require((json as? [String: Any])?["schedule"] as? [String: Any])
        let layers = try #require(schedule["layers"] as? [[String: Any]])
        #expect(layers.count == 1)
        #expect((layers.first?["estimatedMicroseconds"] as? Double ?? 0) > 0)
        #expect(["memory", "compute"].contains(layers.first?["bound"] as? String ?? ""))
        #expect(layers.first?["autotuned"] as? Bool == false)
    }

    @Test func withoutAutotuneTheOutputIsDeterministic() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let first = try request(folder), second = try request(folder)
        _ = try compileModel(first)
        _ = try compileModel(second)
        let a = try String(contentsOfFile: (first.outputDirectory ?? "") + "/tiny.c", encoding: .utf8)
        let b = try String(contentsOfFile: (second.outputDirectory ?? "") + "/tiny.c", encoding: .utf8)
        #expect(a == b)
        #expect(!FileManager.default.fileExists(atPath: first.autotuneCacheDirectory))
    }

    @Test func aScheduleWrittenInTheModelIsKept() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let pinned = """
            graph @tiny(%x: tensor<16x64xf32>) -> tensor<16x32xf32> {
              %w = const @w : tensor<32x64xf32>
              %y = matmul %x, %w {transpose_b = true, schedule = dense_panel_tile<panel_width = 16, row_tile = 2, depth_block = 32, row_block = 4, prefetch = 0, packing = panels, parallel = none>} : tensor<16x32xf32>
              return %y
            }
            const @w : tensor<32x64xf32> = splat<0.25>
            """
        let result = try compileModel(try request(folder, text: pinned))
        #expect(result.report.contains("dense_panel_tile(panel_width 16, row_tile 2, depth_block 32, row_block 4, prefetch 0), packing panels, serial"),
                "\(result.report)")
        let op = try #require(result.graph.operations.first { $0.schedule != nil })
        #expect(op.schedule?.estimate != nil, "the kept schedule gets the cost model's estimate")
    }

    @Test func autotuneWritesACacheEntryAndReusesIt() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var first = try request(folder)
        first.autotune = true
        let tuned = try compileModel(first)
        #expect(tuned.report.contains("- autotune: 1 of 1 layers timed on this machine"), "\(tuned.report)")
        #expect(tuned.report.contains("Autotune candidates"))
        let entries = try FileManager.default.contentsOfDirectory(atPath: first.autotuneCacheDirectory).filter { $0.hasSuffix(".json") }
        #expect(entries.count == 1, "\(entries)")
        let entryPath = first.autotuneCacheDirectory + "/" + (entries.first ?? "")
        var entry = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: entryPath))) as? [String: Any])
        let candidates = try #require(entry["candidates"] as? [String])
        #expect(candidates.count >= 2)
        let op = try #require(tuned.graph.operations.first { $0.schedule != nil })
        #expect(op.schedule?.estimate?.measuredNanoseconds != nil)

        // Rewrite the cached choice: a second compile must take it from the cache rather than time again.
        let original = try #require(entry["choice"] as? Int)
        let forced = (original + 1) % candidates.count
        var times = try #require(entry["nanoseconds"] as? [Int])
        times[forced] = 123_456_789
        entry["choice"] = forced
        entry["nanoseconds"] = times
        try JSONSerialization.data(withJSONObject: entry).write(to: URL(fileURLWithPath: entryPath))
        var second = try request(folder)
        second.autotune = true
        let reused = try compileModel(second)
        let reusedOp = try #require(reused.graph.operations.first { $0.schedule != nil })
        #expect(reusedOp.schedule?.summary == candidates[forced], "\(reused.report)")
        #expect(reusedOp.schedule?.estimate?.measuredNanoseconds == 123_456_789)
        #expect(try FileManager.default.contentsOfDirectory(atPath: first.autotuneCacheDirectory).filter { $0.hasSuffix(".json") }.count == 1)
    }
}
