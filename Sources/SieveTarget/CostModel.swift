// The schedule pass's analytical cost model: bytes moved from each memory level and arithmetic, against
// per-target rates (PERF-NOTES.md's measured limits), giving each candidate kernel schedule an estimated time.

import SieveIR

/// The rates a target sustains, in bytes and floating-point operations per nanosecond (GB/s and GFLOP/s).
public struct MachineRates: Hashable, Sendable {
    /// f32 lanes per vector.
    public var lanes: Int
    /// Fused multiply-add vector units per core (2 on Zen 4/5 and Skylake-SP and later; SSE2 has none: 1 mul + 1 add).
    public var fmaUnits: Int
    /// Clock in GHz.
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

    /// The rates of a target: compute from its vector width and clock; bandwidths as measured on the project's
    /// machine (2-core Zen 5, PERF-NOTES.md), scaled by nothing else because the named targets do not say more.
    /// The clock is the host's when it reports one, else PERF-NOTES's estimated 3.9 GHz; a target that leaves
    /// the core count open is assumed to run on 2 cores (the thread count is chosen at run time).
    public init(target: TargetDescription) {
        lanes = target.f32Lanes
        fmaUnits = target.has(.fma) || target.has(.avx512f) ? 2 : 1
        clockGHz = target.clockGHz ?? 3.9
        cores = max(1, target.coreCount ?? 2)
        l1Bytes = max(4096, target.caches.l1Data)
        l2Bytes = max(l1Bytes, target.caches.l2)
        l3Bytes = max(l2Bytes, target.caches.l3)
        dramOne = 36; dramAll = cores > 1 ? 38 : 36
        l3One = 105; l3All = cores > 1 ? 220 : 105
        l2One = 228; l2All = cores > 1 ? 300 : 228
        streamEfficiency = 0.88
        forkJoinNanoseconds = 5_000
    }

    /// Peak f32 floating-point operations per nanosecond on `threads` cores (a fused multiply-add counts two).
    /// A second core adds 90%: PERF-NOTES.md measured 447 against 2 x 249 GFLOP/s.
    public func peakFlops(threads: Int) -> Double {
        let perCore = Double(lanes * fmaUnits * 2) * clockGHz
        return perCore * (1 + 0.9 * Double(threads - 1))
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

    /// The fraction of the FMA peak a variant reaches on its useful multiply-adds, from an issue model of its
    /// inner loop (FMAs against loads and the FMA latency of 4 cycles, 2 FMA units) and factors fitted to the
    /// kernels' measured speed (bench/RESULTS.md, 2026-11-24 10:17: the 4 x 2 dense tile reached ≈ 10% of peak at
    /// batch 32, the blocked 2:4 kernel ≈ 4 cycles per kept weight for 2 FMAs, nm_dot ≈ 10 instructions per 16
    /// kept values).
    func computeEfficiency(_ variant: KernelVariant, _ problem: KernelProblem) -> Double {
        let lanes = Double(rates.lanes)
        switch variant {
        case .denseScalar:
            // One scalar FMA per cycle against lanes * fmaUnits * 2 flops.
            return 1 / (lanes * Double(rates.fmaUnits))
        case let .denseDot(weightRows):
            // Up to `KernelProblem.smallRows` rows of A per step against `weightRows` weight rows.
            let rows = Double(max(1, min(problem.rowsPerProduct, KernelProblem.smallRows))), columns = Double(weightRows)
            let fmas = rows * columns
            let cycles = max(fmas / 2, (rows + columns) / 2, 4 * (fmas >= 8 ? 1 : 8 / fmas) / 2)
            // More rows than one step takes: the compute-bound regime, rated like the packed register tile.
            return (fmas / 2) / cycles * (problem.rowsPerProduct <= KernelProblem.smallRows ? 0.8 : 0.45)
        case let .denseTile(rows, vectors):
            let fmas = Double(rows * vectors)
            // Each accumulator is updated once per k step: fewer than 8 chains leave the 2 x 4-cycle pipeline idle.
            let cycles = max(fmas / 2, Double(rows + vectors) / 2, 4)
            return (fmas / 2) / cycles * 0.1
        case let .densePanels(panels):
            // The packed kernels: `rowTile x vectors` accumulators, one weight vector load per vector and one
            // broadcast per row each k step, all loads sequential; fewer than 8 chains leave the pipeline idle.
            let vectors = Double(max(1, panels.panelWidth / max(1, rates.lanes)))
            let fmas = Double(min(panels.rowTile, max(1, problem.rows))) * vectors
            let cycles = max(fmas / 2, (Double(panels.rowTile) + vectors) / 2, 4)
            // bench/RESULTS.md: the 8 x 32 tile at batch 32 (1.07 GFLOP) ran at 38% of peak with one thread (a
            // loaded machine); the stream at batch 1 is bound by the weight bytes, rated like dense_dot there.
            return (fmas / 2) / cycles * (panels.variant == .streaming && problem.rows <= KernelProblem.smallRows ? 0.8 : 0.45)
        case .nmDot:
            // ≈ 13 instructions (decode, permute, FMA, loop and the final horizontal sum) per vector of kept values at 4 per cycle.
            return 0.5 / 3.3
        case .nmGather, .nmScatter:
            // Scalar: index decode, load, FMA per kept value, about one per cycle.
            return 1 / (2 * lanes * Double(rates.fmaUnits))
        case .nmBroadcast, .nmBlocked:
            // Per kept value: a scalar decode and broadcast (≈ 2 cycles) plus one FMA per activation vector.
            let vectors = Double(KernelProblem.blockedPanelVectors(max(1, problem.rows / max(1, rates.lanes))))
            return vectors / (2 * (2 + vectors)) * (variant == .nmBroadcast ? 0.8 : 1)
        }
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
        case .nmDot, .nmGather:
            // The weight is streamed once per activation row.
            coldBytes += Double(weight) * Double(max(0, problem.rows - 1))
        case .denseDot(let weightRows):
            // The weight is streamed once per step of up to 4 rows of each product; the activations are re-read
            // (from the caches) for every block of `weightRows` weight rows.
            let rowSteps = (max(1, problem.rowsPerProduct) + KernelProblem.smallRows - 1) / KernelProblem.smallRows
            coldBytes += Double(weight) * Double(max(0, problem.rows / max(1, problem.rowsPerProduct) * rowSteps - 1))
            warmBytes += Double(activations) * Double(max(0, problem.outputs / max(1, weightRows) - 1))
        case .nmBroadcast:
            // Every weight row re-reads the transposed activations; transposes in and out.
            warmBytes += Double(activations) * Double(max(1, problem.outputs)) + 2 * Double(activations + results)
        case let .nmBlocked(kBlock, tileRows, _):
            let blocks = max(1, (problem.reduction + kBlock - 1) / max(1, kBlock))
            // Partial results read and written once per k block; transposes in and out.
            warmBytes += 2 * Double(results) * Double(blocks) + 2 * Double(activations + results)
            // A panel larger than L1 is re-read from L2 for every row of the tile (a wide batch runs as several
            // panels of up to 8 vectors per k block, each re-reading the block's kept values from L1).
            let panel = kBlock * KernelProblem.blockedPanelVectors(max(1, problem.rows / max(1, rates.lanes))) * rates.lanes * 4
            if panel > rates.l1Bytes {
                warmBytes += Double(activations) * Double(max(1, min(tileRows, problem.outputs)))
            }
        case let .denseTile(rows, vectors):
            let rowTiles = max(1, (problem.rows + rows - 1) / rows)
            let columnBlocks = max(1, problem.outputs / max(1, vectors * rates.lanes))
            warmBytes += Double(weight) * Double(rowTiles - 1) + Double(activations) * Double(columnBlocks - 1)
        case let .densePanels(panels):
            // The weight is read once per work item's rows (again from the caches for every further row block);
            // the activations once per panel; the register tile also copies them into row tiles first.
            let rowBlocks = max(1, (problem.rows + panels.rowBlock - 1) / max(1, panels.rowBlock))
            let panelCount = max(1, problem.outputs / max(1, panels.panelWidth))
            warmBytes += Double(weight) * Double(rowBlocks - 1) + Double(activations) * Double(panelCount - 1)
            if panels.variant == .registerTile { warmBytes += 2 * Double(activations) }
            // Without prefetch, the stream stalls at each 4 KiB page (measured 1.2-1.35x at batch 1).
            if panels.prefetchDistance == 0 && panels.variant == .streaming { coldBytes *= 1.25 }
        case .denseScalar:
            warmBytes += Double(weight) * Double(max(0, problem.rows - 1))
        case .nmScatter:
            warmBytes += Double(results) * Double(max(1, problem.reduction / max(1, problem.pattern?.m ?? 1)))
        }
        let warmRate = rates.bandwidth(forWarmBytes: max(weight, activations), threads: threads)
        let memoryTime = coldBytes / coldRate + warmBytes / warmRate
        let (doubled, overflow) = problem.multiplyAdds.multipliedReportingOverflow(by: 2)
        let flops = overflow ? Int.max : doubled
        let computeTime = Double(flops) / (rates.peakFlops(threads: threads) * computeEfficiency(schedule.variant, problem))
        var time = max(memoryTime, computeTime)
        if threads > 1 { time += rates.forkJoinNanoseconds }
        let bound: ScheduleBound = memoryTime >= computeTime ? .memory : .compute
        let nanoseconds = time.isFinite && time < 9e18 ? Int(time.rounded()) : Int.max
        return ScheduleEstimate(nanoseconds: nanoseconds, bytes: Int(min(9e18, coldBytes + warmBytes)), flops: flops,
                                bound: bound, threads: threads)
    }

    /// The estimate of a kernel without a schedule (elementwise, data movement, normalisation, softmax): it reads and
    /// writes its `bytes` once, at the rate of the cache level they fit in; its arithmetic is not counted.
    public func streamingEstimate(bytes: Int, threads: Int) -> ScheduleEstimate {
        let rate = rates.bandwidth(forWarmBytes: bytes, threads: threads)
        var time = Double(bytes) / rate
        if threads > 1 { time += rates.forkJoinNanoseconds }
        return ScheduleEstimate(nanoseconds: time < 9e18 ? Int(time.rounded()) : Int.max, bytes: bytes, flops: 0,
                                bound: .memory, threads: threads)
    }

    /// The candidate schedules of a problem that lowering can emit for `vectorWidth` lanes, each serial and
    /// parallel, `default` first so that ties keep lowering's long-standing choice.
    public func candidates(for problem: KernelProblem, vectorWidth: Int, parallelThreshold: Int = 1 << 14) -> [KernelSchedule] {
        let fallback = problem.defaultSchedule(vectorWidth: vectorWidth, parallelThreshold: parallelThreshold)
        var variants: [(KernelVariant, WeightPacking)] = []
        if let pattern = problem.pattern {
            variants = [(.nmDot, .stored), (.nmDot, .rows4), (.nmDot, .rows4InLane), (.nmGather, .stored), (.nmBroadcast, .stored), (.nmScatter, .stored)]
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
        } else {
            variants = [(.denseDot(weightRows: 2), .stored), (.denseDot(weightRows: 4), .stored), (.denseDot(weightRows: 8), .stored)]
            for (rows, vectors) in [(4, 2), (6, 2), (8, 2), (4, 4), (2, 4)] {
                variants.append((.denseTile(rows: rows, vectors: vectors), .stored))
            }
            variants.append((.denseScalar, .stored))
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
    /// blocks of 128, 256 and 512. Rows per work item follow the default's rule (up to 8 tiles).
    static func panelCandidates(for problem: KernelProblem, vectorWidth: Int) -> [DenseProductSchedule] {
        guard problem.weightIsPackableConstant, problem.family != .convolution, problem.rows > 0, problem.reduction > 0 else { return [] }
        let rows = problem.rows, k = problem.reduction
        var result: [DenseProductSchedule] = []
        for vectors in [1, 2, 4] {
            let rowTile = min(rows, KernelProblem.smallRows)
            for prefetch in [1024, 0] {
                result.append(DenseProductSchedule(variant: .streaming, panelWidth: vectors * vectorWidth, rowTile: rowTile, depthBlock: k,
                                                   rowBlock: (rows + rowTile - 1) / rowTile * rowTile, prefetchDistance: prefetch))
            }
        }
        for (rowTile, vectors) in [(4, 2), (6, 2), (8, 2), (4, 4)] {
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
