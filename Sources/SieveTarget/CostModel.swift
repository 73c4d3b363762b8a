// The schedule pass's analytical cost model: bytes moved from each memory level and arithmetic, against
// per-target rates (PERF-NOTES.md's measured limits), giving each candidate kernel schedule an estimated time.

import SieveIR

/// The rates a target sustains: its core's issue facts and clock, and read bandwidths in GB/s.
public struct MachineRates: Hashable, Sendable {
    /// f32 lanes per vector.
    public var lanes: Int
    /// What one core issues per cycle (the target's `core`).
    public var core: CoreFacts
    /// Clock in GHz: the host's when it reports one, else the core facts'.
    public var clockGHz: Double
    /// Cores the estimate may use for a parallel kernel.
    public var cores: Int
    /// Level-1 data cache bytes and level-2 and level-3 cache bytes.
    public var l1Bytes: Int, l2Bytes: Int, l3Bytes: Int
    /// Read bandwidth from DRAM, L3 and L2 with one thread and with all `cores` (GB/s).
    public var dramOne: Double, dramAll: Double
    public var l3One: Double, l3All: Double
    public var l2One: Double, l2All: Double
    /// Fraction of the read bandwidth a streaming kernel reaches (OpenBLAS `sgemv` and the C prototype:
    /// 88–93% of a plain read, PERF-NOTES.md).
    public var streamEfficiency: Double
    /// Nanoseconds to wake the pool and join it for one parallel loop.
    public var forkJoinNanoseconds: Double

    /// The rates of a target: issue rates, clock and bandwidths from its core facts (a host clock wins); a target
    /// that leaves the core count open is assumed to run on 2 cores (the thread count is chosen at run time).
    public init(target: TargetDescription) {
        lanes = target.f32Lanes
        core = target.core
        clockGHz = target.clockGHz ?? target.core.clockGHz
        cores = max(1, target.coreCount ?? 2)
        l1Bytes = max(4096, target.caches.l1Data)
        l2Bytes = max(l1Bytes, target.caches.l2)
        l3Bytes = max(l2Bytes, target.caches.l3)
        let measured = target.core.bandwidth
        dramOne = measured.dramOne; dramAll = cores > 1 ? measured.dramAll : measured.dramOne
        l3One = measured.l3One; l3All = cores > 1 ? measured.l3All : measured.l3One
        l2One = measured.l2One; l2All = cores > 1 ? measured.l2All : measured.l2One
        streamEfficiency = 0.88
        forkJoinNanoseconds = 5_000
    }

    /// How much faster `threads` cores run compute-bound work than one: a second core adds 90% (PERF-NOTES.md
    /// measured 447 against 2 x 249 GFLOP/s).
    public func threadSpeedup(_ threads: Int) -> Double { 1 + 0.9 * Double(max(1, threads) - 1) }

    /// Peak f32 floating-point operations per nanosecond on `threads` cores (a fused multiply-add counts two).
    public func peakFlops(threads: Int) -> Double {
        Double(lanes * 2) * core.fmaPerCycle * clockGHz * threadSpeedup(threads)
    }

    /// Read bandwidth (GB/s) from the level where `bytes` of data that were touched before the call reside,
    /// for weights that are cold (as inside a model, where the other layers evict them): DRAM when they exceed
    /// half the L3, L3 when they exceed the L2, otherwise L2.
    public func bandwidth(forColdBytes bytes: Int, threads: Int) -> Double {
        let parallel = threads > 1
        if bytes > l3Bytes / 2 { return parallel ? dramAll : dramOne }
        if bytes > l2Bytes { return parallel ? l3All : l3One }
        return parallel ? l2All : l2One
    }

    /// Read bandwidth (GB/s) for data a kernel itself re-reads while it stays cached (activations, partial results).
    public func bandwidth(forWarmBytes bytes: Int, threads: Int) -> Double {
        let parallel = threads > 1
        if bytes > l3Bytes { return parallel ? dramAll : dramOne }
        if bytes > l2Bytes { return parallel ? l3All : l3One }
        // Data in L1/L2: about two 64-byte loads per cycle from L1; L2's figure is the conservative one.
        return parallel ? l2All : l2One
    }

    /// Cycles one core takes for `loop`: its iterations times the tightest of the bounds one iteration meets
    /// (FMA issue, vector loads, all loads, shuffles, instructions, and the FMA latency of each accumulator chain).
    public func cycles(_ loop: LoopWork) -> Double {
        guard loop.iterations > 0 else { return 0 }
        var bound = max(loop.fmas / core.fmaPerCycle, loop.vectorLoads / core.vectorLoadsPerCycle,
                        (loop.vectorLoads + loop.otherLoads) / core.loadsPerCycle, loop.shuffles / core.shufflesPerCycle,
                        loop.instructions / core.instructionsPerCycle)
        if loop.chains > 0 { bound = max(bound, core.fmaLatency * loop.fmas / loop.chains) }
        if loop.latencyCycles > 0 { bound = max(bound, loop.latencyCycles) }
        return loop.iterations * bound
    }
}

/// The cost model: an estimate per candidate schedule of a kernel problem.
public struct CostModel: Sendable {
    /// The target's rates.
    public var rates: MachineRates

    /// Makes the model of a target.
    public init(target: TargetDescription) { rates = MachineRates(target: target) }

    /// Makes the model from explicit rates.
    public init(rates: MachineRates) { self.rates = rates }

    /// Bytes of the weight as a kernel streams it: kept values plus packed indices for N:M.
    public static func weightBytes(_ problem: KernelProblem) -> Int {
        let elements = saturating([problem.outputs, problem.reduction, problem.weightCopies])
        guard let pattern = problem.pattern else { return saturating([elements, problem.weightElementBytes]) }
        let kept = elements / pattern.m * pattern.n
        return saturating([kept, problem.weightElementBytes]) + (kept * pattern.indexBits + 7) / 8
    }

    /// Whether a working set stays in L1 while a kernel re-reads it.
    func fitsL1(_ bytes: Int) -> Bool { bytes <= rates.l1Bytes }

    /// Nanoseconds of issue one core needs for a variant's loops (`LoopWork.loops`), spread over `threads`.
    public func computeNanoseconds(_ variant: KernelVariant, _ problem: KernelProblem, threads: Int) -> Double {
        let cycles = LoopWork.loops(variant, problem, lanes: rates.lanes).reduce(0) { $0 + rates.cycles($1) }
        return cycles / rates.clockGHz / rates.threadSpeedup(threads)
    }

    /// The estimate of one schedule.
    public func estimate(_ schedule: KernelSchedule, for problem: KernelProblem) -> ScheduleEstimate {
        // An empty result launches no kernel (lowering skips it): nothing is read, computed or forked.
        if problem.rows == 0 || problem.outputs == 0 {
            return ScheduleEstimate(nanoseconds: 0, bytes: 0, flops: 0, bound: .memory, threads: 1)
        }
        let threads = schedule.parallel == .none ? 1 : rates.cores
        let weight = Self.weightBytes(problem)
        let activations = saturating([problem.rows, problem.reduction, 4])
        let results = saturating([problem.rows, problem.outputs, 4])
        let coldRate = rates.bandwidth(forColdBytes: weight, threads: threads) * rates.streamEfficiency
        var warmBytes = 0.0  // bytes re-read from caches
        var coldBytes = Double(weight) + Double(activations) + Double(results)
        switch schedule.variant {
        case _ where problem.dynamicInt8 && schedule.variant != .int8Tile:
            // One exact dot per (row, channel), channels outside: the weight is read once, every activation row's u8
            // copy again for every further channel (from L1 while all rows fit it, else from L2).
            let quantized = saturating([problem.rows, problem.reduction])
            if !fitsL1(quantized) { warmBytes += Double(quantized) * Double(max(0, problem.outputs - 1)) }
        case .int8Tile:
            // Each block of rows (`LoopWork.int8TileRows`) reads the weight panels of its work item again, from L2.
            let blocks = (problem.rows + LoopWork.int8TileRows(lanes: rates.lanes) - 1) / LoopWork.int8TileRows(lanes: rates.lanes)
            warmBytes += Double(weight) * Double(max(0, blocks - 1))
        case .nmDot, .nmGather:
            // The weight is streamed once per activation row.
            coldBytes += Double(weight) * Double(max(0, problem.rows - 1))
        case .denseDot(let weightRows):
            // The weight is streamed once per step of up to 4 rows of each product; the activations are re-read
            // (from the caches) for every block of `weightRows` weight rows.
            let rowSteps = (max(1, problem.rowsPerProduct) + KernelProblem.smallRows - 1) / KernelProblem.smallRows
            coldBytes += Double(weight) * Double(max(0, problem.rows / max(1, problem.rowsPerProduct) * rowSteps - 1))
            if !fitsL1(saturating([min(problem.rowsPerProduct, KernelProblem.smallRows), problem.reduction, 4])) {
                warmBytes += Double(activations) * Double(max(0, problem.outputs / max(1, weightRows) - 1))
            }
            // Like the panel stream without prefetch, the weight rows stall at each 4 KiB page when they come from DRAM.
            if weight > rates.l3Bytes / 2 { coldBytes *= 1.25 }
        case .nmBroadcast:
            // Every weight row re-reads the transposed activations; transposes in and out.
            warmBytes += Double(activations) * Double(max(1, problem.outputs)) + 2 * Double(activations + results)
        case let .nmBlocked(kBlock, tileRows, _):
            let blocks = max(1, (problem.reduction + kBlock - 1) / max(1, kBlock))
            // Transposes in and out.
            warmBytes += 2 * Double(activations + results)
            // The tile's partial results are read and written once per k block: while they fit beside the panel
            // (half of L1) those are L1 hits, already counted as the per-block loop's loads; beyond, every block
            // moves them from L2 (at 128 activation rows, tiles of 64 rows, 32 KiB of results, ran 1.5x slower
            // than tiles of 32 on Zen 5).
            let tileResults = saturating([min(tileRows, problem.outputs), problem.rows, 4])
            if !fitsL1(2 * tileResults) { warmBytes += 2 * Double(results) * Double(blocks) }
            // A panel larger than L1 is re-read from L2 for every row of the tile (a wide batch runs as several
            // panels of up to 8 vectors per k block, each re-reading the block's kept values from L1). The panel
            // shares L1 with the weight stream and the tile's result rows, so it counts as fitting up to half of
            // L1: the 4096x4096 layer at batch 32 on Zen 5 (48 KiB L1) ran 3-6% slower with k blocks of 384 (a
            // 48 KiB panel) than of 192 (1 thread, CPU time).
            let panel = kBlock * KernelProblem.blockedPanelVectors(max(1, problem.rows / max(1, rates.lanes))) * rates.lanes * 4
            if !fitsL1(2 * panel) {
                warmBytes += Double(activations) * Double(max(1, min(tileRows, problem.outputs)))
            }
        case let .denseTile(rows, vectors):
            // Per product, each row tile re-reads the B block of its columns, each column block the A rows: from L1
            // (no cost beyond the loads counted) while they fit it. The B block shares L1 with the A rows streaming
            // past it, so it is counted as fitting up to half of L1: PP-OCRv4's 1x1 convolutions over 128 channels
            // (a 32 KiB block at 4 x 4, 16 KiB at 8 x 2) ran 1.3x slower as 4 x 4 on Zen 5 (48 KiB L1).
            let convolution = problem.family == .convolution
            let m = convolution ? max(1, problem.outputs / max(1, problem.groups)) : max(1, problem.rowsPerProduct)
            let n = convolution ? problem.rowsPerProduct : problem.outputs
            let rowTiles = max(1, (m + rows - 1) / rows)
            let columnBlocks = max(1, n / max(1, vectors * rates.lanes))
            let bBlock = saturating([problem.reduction, vectors * rates.lanes, 4])
            let aRows = saturating([m, problem.reduction, 4])
            let (bBytes, aBytes) = convolution ? (activations, weight) : (weight, activations)
            if !fitsL1(2 * bBlock) { warmBytes += Double(bBytes) * Double(rowTiles - 1) }
            if !fitsL1(aRows) { warmBytes += Double(aBytes) * Double(columnBlocks - 1) }
        case let .densePanels(panels):
            // The weight is read once per work item's rows (again from the caches for every further row block);
            // the activations once per panel; the register tile also copies them into row tiles first.
            let rowBlocks = max(1, (problem.rows + panels.rowBlock - 1) / max(1, panels.rowBlock))
            let panelCount = max(1, problem.outputs / max(1, panels.panelWidth))
            warmBytes += Double(weight) * Double(rowBlocks - 1)
            // The register tile re-reads its packed A tiles per panel as one sequential stream of 4 bytes per
            // `panelWidth / lanes` FMAs, which the prefetchers hide; the stream reads A's rows in place.
            if panels.variant == .streaming && !fitsL1(saturating([min(problem.rows, panels.rowBlock), problem.reduction, 4])) {
                warmBytes += Double(activations) * Double(panelCount - 1)
            }
            // A panel block larger than L1 is re-read from L2 by every further row tile of the work item (the
            // stream keeps all of k in one block: at 128 rows it ran 1.3x slower than the register tile).
            let tilesPerBlock = max(1, (min(problem.rows, panels.rowBlock) + panels.rowTile - 1) / max(1, panels.rowTile))
            if !fitsL1(saturating([panels.depthBlock, panels.panelWidth, 4])) { warmBytes += Double(weight) * Double(tilesPerBlock - 1) }
            if panels.variant == .registerTile { warmBytes += 2 * Double(activations) }
            // Without prefetch, the stream stalls at each 4 KiB page (measured 1.2-1.35x at batch 1).
            if panels.prefetchDistance == 0 && panels.variant == .streaming { coldBytes *= 1.25 }
        case .denseScalar:
            warmBytes += Double(weight) * Double(max(0, problem.rows - 1))
        case .nmScatter:
            warmBytes += Double(results) * Double(max(1, problem.reduction / max(1, problem.pattern?.m ?? 1)))
        }
        let warmRate = rates.bandwidth(forWarmBytes: max(weight, activations), threads: threads)
        let coldTime = coldBytes / coldRate, warmTime = warmBytes / warmRate
        let (doubled, overflow) = problem.multiplyAdds.multipliedReportingOverflow(by: 2)
        let flops = overflow ? Int.max : doubled
        let computeTime = computeNanoseconds(schedule.variant, problem, threads: threads)
        // The issue model counts every load as an L1 hit: data re-read from L2 or beyond stalls on top of it, while
        // the cold stream overlaps with the arithmetic.
        var time = max(coldTime, computeTime) + warmTime
        if threads > 1 { time += rates.forkJoinNanoseconds }
        let bound: ScheduleBound = coldTime >= computeTime ? .memory : .compute
        let nanoseconds = time.isFinite && time < 9e18 ? Int(time.rounded()) : Int.max
        return ScheduleEstimate(nanoseconds: nanoseconds, bytes: Int(min(9e18, coldBytes + warmBytes)), flops: flops,
                                bound: bound, threads: threads)
    }

    /// The estimate of a kernel without a schedule (elementwise, data movement, normalisation, softmax): the slower
    /// of reading and writing its `bytes` once at the rate of the cache level they fit in and issuing `work`
    /// (`LoopWork.streaming`).
    public func streamingEstimate(bytes: Int, threads: Int, work: [LoopWork] = []) -> ScheduleEstimate {
        let rate = rates.bandwidth(forWarmBytes: bytes, threads: threads)
        let memoryTime = Double(bytes) / rate
        let computeTime = work.reduce(0) { $0 + rates.cycles($1) } / rates.clockGHz / rates.threadSpeedup(threads)
        var time = max(memoryTime, computeTime)
        if threads > 1 { time += rates.forkJoinNanoseconds }
        return ScheduleEstimate(nanoseconds: time < 9e18 ? Int(time.rounded()) : Int.max, bytes: bytes, flops: 0,
                                bound: memoryTime >= computeTime ? .memory : .compute, threads: threads)
    }

    /// The candidate schedules of a problem that lowering can emit for `vectorWidth` lanes, each serial and
    /// parallel, `default` first so that ties keep lowering's long-standing choice.
    public func candidates(for problem: KernelProblem, vectorWidth: Int, parallelThreshold: Int = 1 << 14) -> [KernelSchedule] {
        let fallback = problem.defaultSchedule(vectorWidth: vectorWidth, parallelThreshold: parallelThreshold)
        var variants: [(KernelVariant, WeightPacking)] = []
        if let pattern = problem.pattern {
            variants = [(.nmDot, .stored), (.nmDot, .rows4), (.nmGather, .stored), (.nmBroadcast, .stored), (.nmScatter, .stored)]
            // The in-lane order has a vector kernel on 8 lanes only (the runtime's AVX2 `sieve_nm_rows4_f32`); with
            // AVX-512 or without AVX2 it runs the scalar loop, which the issue model does not count for it: offered
            // on 16 lanes it was estimated like `rows4` and timed 27-54 ms against 1.0 ms for the 4096² 2:4 layer.
            if vectorWidth == 8 { variants.insert((.nmDot, .rows4InLane), at: 2) }
            let unroll = max(1, 16 / pattern.n)
            let step = unroll * pattern.m
            let base = problem.defaultKBlock(vectorWidth: vectorWidth)
            var blocks: [Int] = []
            for block in [base / 2, base, base * 2] {
                let rounded = max(step, block / step * step)
                if !blocks.contains(rounded) { blocks.append(rounded) }
            }
            for block in blocks {
                for tile in [32, 64, 128] { variants.append((.nmBlocked(kBlock: block, tileRows: tile, prefetchRows: 8), .stored)) }
            }
            if problem.dynamicInt8 { variants.append((.int8Tile, .int8Panels)) }
        } else {
            variants = [(.denseDot(weightRows: 2), .stored), (.denseDot(weightRows: 4), .stored), (.denseDot(weightRows: 8), .stored)]
            for (rows, vectors) in [(4, 2), (6, 2), (8, 2), (4, 4), (2, 4)] {
                variants.append((.denseTile(rows: rows, vectors: vectors), .stored))
            }
            variants.append((.denseScalar, .stored))
            if problem.dynamicInt8 { variants.append((.int8Tile, .int8Panels)) }
            for panels in Self.panelCandidates(for: problem, vectorWidth: vectorWidth) { variants.append((.densePanels(panels), .panels)) }
        }
        var result = [fallback]
        for (variant, packing) in variants {
            for parallel in [ParallelAxis.none, variant.parallelAxis] {
                let schedule = KernelSchedule(variant: variant, packing: packing, parallel: parallel)
                if !result.contains(schedule) && problem.admits(schedule, vectorWidth: vectorWidth) { result.append(schedule) }
            }
        }
        return result
    }

    /// Every candidate with its estimate, fastest first (stable: ties keep candidate order, the default first).
    /// Packed-panel schedules around `denseProductSchedule`'s choice: the stream with 1, 2 or 4 vectors per panel
    /// and without prefetch; the register tile with 4, 6 or 8 rows by 2 vectors (or 4 rows by 4) and depth
    /// blocks of 128, 256 and 512, those tiles only whose accumulators fit the target's registers (8 x 2 and 4 x 4
    /// spill on AVX2's 16: the 4096 layer at batch 32 chose 8 x 2 under x86-64-v3 and ran 10% behind OpenBLAS's
    /// Haswell sgemm on the Zen 5). Rows per work item follow the default's rule (up to 8 tiles).
    static func panelCandidates(for problem: KernelProblem, vectorWidth: Int) -> [DenseProductSchedule] {
        guard problem.weightIsPackableConstant, problem.family != .convolution, problem.rows > 0, problem.reduction > 0 else { return [] }
        let rows = problem.rows, k = problem.reduction
        var result: [DenseProductSchedule] = []
        // The stream reads each row of A in place once per panel: measured on Zen 5 it lost to the register tile from
        // a few dozen rows on (16% at PP-OCRv4's 40 rows, 1.3x at the encoder's 128), which the issue model does not
        // see, so it is a candidate only for the few rows it is made for.
        for vectors in rows <= 2 * KernelProblem.smallRows ? [1, 2, 4] : [] {
            let rowTile = min(rows, KernelProblem.smallRows)
            for prefetch in [1024, 0] {
                result.append(DenseProductSchedule(variant: .streaming, panelWidth: vectors * vectorWidth, rowTile: rowTile, depthBlock: k,
                                                   rowBlock: (rows + rowTile - 1) / rowTile * rowTile, prefetchDistance: prefetch))
            }
        }
        for (rowTile, vectors) in [(4, 2), (6, 2), (8, 2), (4, 4)] where rowTile * vectors <= registerTileAccumulators(vectorWidth: vectorWidth) {
            for depth in [128, 256, 512] {
                let depthBlock = min(k, depth), panelWidth = vectors * vectorWidth
                let rowBlock = min(8 * rowTile, (rows + rowTile - 1) / rowTile * rowTile)
                result.append(DenseProductSchedule(variant: .registerTile, panelWidth: panelWidth, rowTile: rowTile, depthBlock: depthBlock,
                                                   rowBlock: rowBlock, prefetchDistance: k > depthBlock ? depthBlock * panelWidth : 0))
            }
        }
        return result
    }

    public func ranked(_ problem: KernelProblem, vectorWidth: Int) -> [KernelSchedule] {
        let scored = candidates(for: problem, vectorWidth: vectorWidth).enumerated().map { index, schedule -> (Int, KernelSchedule) in
            var schedule = schedule
            schedule.estimate = estimate(schedule, for: problem)
            return (index, schedule)
        }
        return scored.sorted { lhs, rhs in
            let left = lhs.1.estimate?.nanoseconds ?? Int.max, right = rhs.1.estimate?.nanoseconds ?? Int.max
            return left != right ? left < right : lhs.0 < rhs.0
        }.map(\.1)
    }
}

/// A product that saturates at `Int.max` instead of trapping.
func saturating(_ factors: [Int]) -> Int {
    factors.reduce(1) { partial, factor in
        let (result, overflow) = partial.multipliedReportingOverflow(by: factor)
        return overflow ? Int.max : result
    }
}
