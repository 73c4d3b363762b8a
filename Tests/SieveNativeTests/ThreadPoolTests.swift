// Tests of the runtime's thread pool (sieve_pool_run): every iteration of every loop runs exactly once, whether the
// workers spin, sleep between loops, or come too late for a loop (more threads than cores), and each thread walks
// its part of a loop in ascending order.

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

/// Records, per thread, the first iteration of every chunk it ran, in order: `log[0]` is the caller's thread, `log[1]`
/// and `log[2]` how many chunks the caller and the worker ran, then 64 slots for each (each written by its own thread
/// only; the pool's finished count orders them before `sieve_pool_run` returns). Each chunk takes 20 us, so that the
/// worker joins the loop before the caller has claimed every chunk.
private let orderTask: sieve_task = { state, begin, _ in
    guard let state else { return }
    let start = DispatchTime.now().uptimeNanoseconds
    while DispatchTime.now().uptimeNanoseconds - start < 20_000 {}
    let log = UnsafeMutablePointer(mutating: state.assumingMemoryBound(to: Int64.self))
    let thread = pthread_equal(pthread_self(), pthread_t(UInt(bitPattern: Int(log[0])))) != 0 ? 0 : 1
    let taken = Int(log[1 + thread])
    if taken < 64 { log[3 + 64 * thread + taken] = begin }
    log[1 + thread] += 1
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

    /// On 2 threads a loop of 16 iterations is 16 chunks, 8 the caller's and 8 the worker's: the caller runs its own
    /// in ascending order, then any of the worker's that are left, also ascending; the worker runs its own ascending,
    /// then any of the caller's that are left from the caller's end down. (Claimed from the back, the worker used to
    /// walk its part backwards, and the blocked N:M kernel's prefetch of the next tile's weights missed.)
    @Test func eachThreadWalksItsPartForwards() {
        var pool = sieve_pool()
        #expect(sieve_pool_init(&pool, 2) == 0)
        defer { sieve_pool_destroy(&pool) }
        var log = [Int64](repeating: 0, count: 3 + 2 * 64)
        var problems: [String] = []
        var workerRuns = 0
        for loop in 0..<300 where problems.isEmpty {
            for index in log.indices { log[index] = 0 }
            log[0] = Int64(Int(bitPattern: UInt(pthread_self())))
            log.withUnsafeMutableBufferPointer { buffer in
                sieve_pool_run(&pool, orderTask, UnsafeRawPointer(buffer.baseAddress), 16)
            }
            let caller = (0..<Int(log[1])).map { log[3 + $0] }, worker = (0..<Int(log[2])).map { log[3 + 64 + $0] }
            if worker.count > 1 { workerRuns += 1 }
            let own = Array(worker.prefix { $0 >= 8 }), stolen = Array(worker.dropFirst(own.count))
            if caller != caller.sorted() || own != own.sorted() || stolen != stolen.sorted(by: >) || stolen.contains(where: { $0 >= 8 })
                || (caller + worker).sorted() != (0..<16).map(Int64.init) {
                problems.append("loop \(loop): the caller ran \(caller), the worker \(worker)")
            }
        }
        #expect(problems.isEmpty, "\(problems)")
        // On a machine too busy for the worker to take two chunks of any loop the order goes unchecked.
        if workerRuns == 0 { print("ThreadPoolTests: the worker never ran two chunks of one loop; the order was not exercised") }
    }
}
