// Tests of the runtime's thread pool (sieve_pool_run): every iteration of every loop runs exactly once, whether the
// workers spin, sleep between loops, or come too late for a loop (more threads than cores).

import CSieveRuntime
import Foundation
import Testing

/// Counts, per iteration, how often a loop's task ran it (plain adds: the chunks' ranges are disjoint, and a chunk
/// run twice would almost always run at another time than its first run, so it shows up as 2).
private let countingTask: sieve_task = { state, begin, end in
    guard let state else { return }
    let hits = UnsafeMutablePointer(mutating: state.assumingMemoryBound(to: Int32.self))
    for index in Int(begin)..<Int(end) { hits[index] += 1 }
}

@Suite("The runtime's thread pool runs every iteration of every loop once")
struct ThreadPoolTests {
    /// Loops of 1 to 3000 iterations (fewer and more than the chunks), back to back and after pauses longer than
    /// the workers' spin (so they sleep and are woken), on 2 threads and on 4 and 9 (more threads than this machine's
    /// cores, so workers often come late for a loop, or for all of its chunks).
    @Test(arguments: [2, 4, 9])
    func everyIterationOnce(threads: Int32) throws {
        var pool = sieve_pool()
        #expect(sieve_pool_init(&pool, threads) == 0)
        defer { sieve_pool_destroy(&pool) }
        var hits = [Int32](repeating: 0, count: 3000)
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        var problems: [String] = []
        for loop in 0..<3000 where problems.isEmpty {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let count = 1 + Int(seed >> 33) % hits.count
            for index in hits.indices { hits[index] = 0 }
            hits.withUnsafeMutableBufferPointer { buffer in
                sieve_pool_run(&pool, countingTask, UnsafeRawPointer(buffer.baseAddress), Int64(count))
            }
            if let wrong = hits.indices.first(where: { hits[$0] != ($0 < count ? 1 : 0) }) {
                problems.append("loop \(loop) of \(count) iterations: iteration \(wrong) ran \(hits[wrong]) times")
            }
            // Now and then a pause past the 5 ms spin: the workers go to sleep and the next loop wakes them.
            if loop % 500 == 499 { Thread.sleep(forTimeInterval: 0.008) }
        }
        #expect(problems.isEmpty, "\(problems)")
    }

    /// A pool of one thread runs loops on the caller; destroying a pool twice (or one that never ran) is harmless.
    @Test func oneThreadAndRepeatedDestroy() {
        var pool = sieve_pool()
        #expect(sieve_pool_init(&pool, 1) == 0)
        var hits = [Int32](repeating: 0, count: 10)
        hits.withUnsafeMutableBufferPointer { buffer in
            sieve_pool_run(&pool, countingTask, UnsafeRawPointer(buffer.baseAddress), 10)
        }
        #expect(hits.allSatisfy { $0 == 1 })
        sieve_pool_destroy(&pool)
        sieve_pool_destroy(&pool)
        var idle = sieve_pool()
        #expect(sieve_pool_init(&idle, 3) == 0)
        sieve_pool_destroy(&idle)
    }
}
