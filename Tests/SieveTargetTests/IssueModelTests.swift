// The issue model's arithmetic (cycles from the counts of a variant's inner loop and the core facts) and the
// schedule choices it makes for the encoder's products, which are the ones measured fastest on Zen 5.

import SieveIR
import SieveTarget
import SieveTestSupport
import Testing

/// Rates of a target whose core facts are `core`, on one core.
func singleCoreRates(_ target: TargetDescription, core: CoreFacts) -> MachineRates {
    var target = target
    target.core = core
    target.clockGHz = nil
    var rates = MachineRates(target: target)
    rates.cores = 1
    return rates
}

@Suite struct IssueModelTests {
    /// The 8 x 2 register tile's k step: 16 FMAs on 16 chains, 2 vector loads of B and 8 broadcasts of A.
    @Test func registerTileStepIsFMABoundOnBothCores() {
        let step = LoopWork(iterations: 100, fmas: 16, vectorLoads: 2, otherLoads: 8, otherInstructions: 2, chains: 16)
        // Zen 5: 16 FMAs at 2 a cycle (loads 10 / 4, instructions 28 / 6, latency 4 x 16 / 16 = 4).
        #expect(singleCoreRates(.x86_64_v4, core: .zen5).cycles(step) == 800)
        // Zen 2: 16 FMAs at 1 a cycle; 10 loads at 2 a cycle and 28 instructions at 4 stay below.
        #expect(singleCoreRates(.x86_64_v3, core: .zen2).cycles(step) == 1600)
        // Four chains for 16 FMAs: the latency bound (5 cycles x 4 FMAs per chain) wins on Zen 2.
        var chained = step
        chained.chains = 4
        #expect(singleCoreRates(.x86_64_v3, core: .zen2).cycles(chained) == 2000)
    }

    /// The register tile's columns past the last whole vector are one more vector per row tile, overlapping the
    /// columns before it (PP-OCRv4 rec's 40-pixel convolutions: 8 of 40 columns), not a scalar FMA chain per element;
    /// fewer columns than a vector stay scalar, as the kernel does.
    @Test func registerTileColumnTailIsOneOverlappingVector() throws {
        let (graph, index) = productGraph(rows: 60, n: 40, k: 2880, pattern: nil)
        let problem = try #require(KernelProblem.make(graph.operations[index], in: graph))
        let loops = LoopWork.loops(.denseTile(rows: 8, vectors: 2), problem, lanes: 16)
        #expect(!loops.contains { $0.chains == 1 }, "no scalar loop")
        // Per k: 7 tiles of 8 rows and one of 4 by 2 vectors, then the same tiles by 1 overlapping vector.
        let fmas = loops.reduce(0) { $0 + $1.iterations * $1.fmas }
        #expect(fmas == 2880 * Double(7 * 16 + 8 + 7 * 8 + 4))
        let (narrowGraph, narrowIndex) = productGraph(rows: 60, n: 12, k: 2880, pattern: nil)
        let narrow = try #require(KernelProblem.make(narrowGraph.operations[narrowIndex], in: narrowGraph))
        let scalar = LoopWork.loops(.denseTile(rows: 8, vectors: 2), narrow, lanes: 16)
        #expect(scalar.count == 1 && scalar[0].chains == 1 && scalar[0].iterations == Double(60 * 12 * 2880))
    }

    /// The counts of the blocked 2:4 kernel over 128 activation rows (8 vectors of 16): per kept value 8 FMAs with
    /// their activation loads folded in, a 16th of a vector load of kept values, a splat, the index byte, decode.
    @Test func blockedTwoFourCountsPerKeptValue() throws {
        let (graph, index) = productGraph(rows: 128, n: 384, k: 384, pattern: NMPattern(n: 2, m: 4))
        let problem = try #require(KernelProblem.make(graph.operations[index], in: graph))
        let loops = LoopWork.loops(.nmBlocked(kBlock: 48, tileRows: 32, prefetchRows: 8), problem, lanes: 16)
        let perKept = try #require(loops.first)
        #expect(perKept.iterations == 384 * 192)
        #expect(perKept.fmas == 8 && perKept.foldedLoads == 8 && perKept.shuffles == 1 && perKept.chains == 8)
        #expect(perKept.vectorLoads == 8 + 1.0 / 16)
        // Zen 5: the vector loads bound it, 8 and a 16th at 2 a cycle.
        let rates = singleCoreRates(.x86_64_v4, core: .zen5)
        #expect(abs(rates.cycles(perKept) / perKept.iterations - (8 + 1.0 / 16) / 2) < 1e-9)
    }

    /// Batch-1 2:4 with the in-register decode: per vector of 16 kept values one FMA, two shuffles (the index word
    /// broadcast and the two-source permute): shuffle-bound at 2 cycles on Zen 5.
    @Test func nmDotIsShuffleBoundOnZenFive() throws {
        let (graph, index) = productGraph(rows: 1, n: 4096, k: 4096, pattern: NMPattern(n: 2, m: 4))
        let problem = try #require(KernelProblem.make(graph.operations[index], in: graph))
        let loops = LoopWork.loops(.nmDot, problem, lanes: 16)
        let main = try #require(loops.first)
        #expect(main.iterations == 4096 * 2048 / 16)
        #expect(singleCoreRates(.x86_64_v4, core: .zen5).cycles(main) == main.iterations * 2)
    }

    /// The target carries its facts and `sieve targets` prints them.
    @Test func targetsCarryTheirCoreFacts() {
        #expect(TargetDescription.x86_64_v4.core.fmaPerCycle == 2)
        #expect(TargetDescription.x86_64_v3.core.fmaPerCycle == 1)
        #expect(TargetDescription.x86_64_v4.description.contains("vector FMA/cycle"))
        let zen5 = TargetDescription.describeHost(cpuInfo: "vendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\nflags\t: sse2 avx avx2 fma avx512f\n",
                                                  caches: [], onlineThreads: 2, maxFrequencyKHz: nil)
        #expect(zen5.core == .zen5)
        let zen2 = TargetDescription.describeHost(cpuInfo: "vendor_id\t: AuthenticAMD\ncpu family\t: 23\nmodel\t\t: 49\nflags\t: sse2 avx avx2 fma\n",
                                                  caches: [], onlineThreads: 2, maxFrequencyKHz: nil)
        #expect(zen2.core == .zen2)
        #expect(MachineRates(target: zen2).peakFlops(threads: 1) == 8 * 2 * 2.1)
    }

    /// The encoder's products (hidden 384, FFN 1536, 128 tokens) on Zen 5 with one thread: the choices autotune
    /// measured fastest (bench/RESULTS.md, 2026-12-05): the packed 8 x 2 register tile dense, the blocked kernel 2:4.
    /// The blocked 2:4 kernel at batch 32 (two vectors of rows): a k block of 384 makes a 48 KiB activation panel,
    /// all of Zen 5's L1, which the weight stream and the result rows also pass through; it ran 3-6% slower than
    /// blocks of 192 (24 KiB). The model charges the panel's L2 re-reads from half of L1 on and ranks 192 first.
    @Test func blockedPanelFitsHalfOfLOne() throws {
        var rates = singleCoreRates(.x86_64_v4, core: .zen5)
        rates.l1Bytes = 48 * 1024  // Zen 5's (the generic x86-64-v4 target assumes 32 KiB)
        let model = CostModel(rates: rates)
        let (graph, index) = productGraph(rows: 32, n: 4096, k: 4096, pattern: NMPattern(n: 2, m: 4))
        let problem = try #require(KernelProblem.make(graph.operations[index], in: graph))
        func nanoseconds(_ kBlock: Int) -> Int {
            model.estimate(KernelSchedule(variant: .nmBlocked(kBlock: kBlock, tileRows: 32, prefetchRows: 8), packing: .stored,
                                          parallel: .none), for: problem).nanoseconds
        }
        #expect(nanoseconds(192) < nanoseconds(384))
        let best = try #require(model.ranked(problem, vectorWidth: 16).first)
        if case let .nmBlocked(kBlock, _, _) = best.variant {
            #expect(kBlock * 32 * 4 <= rates.l1Bytes / 2, "\(best.summary)")
        } else {
            Issue.record("batch-32 2:4 should be blocked, chose \(best.summary)")
        }
    }

    /// A depthwise convolution has no schedule; its estimate counts its taps: stride 1 runs its interior columns as
    /// vectors (a tap is one FMA per 16 outputs), stride 2 runs every column as scalars with bounds checks per tap,
    /// which the per-element copy class it had before (a load and 3 instructions per output) could not see.
    @Test func depthwiseConvolutionCountsItsTaps() throws {
        func depthwise(stride: Int) -> (Graph, Operation) {
            var graph = Graph(name: "g")
            let x = graph.addInput(TensorType([1, 32, 12, 80], .f32), name: "x")
            let w = graph.appendConstant(Constant(name: "w", type: TensorType([32, 1, 3, 3], .f32), bytes: []))
            let attributes = Conv2DAttributes(strides: [stride, stride], pads: [1, 1, 1, 1], groups: 32)
            let outputWidth = (80 + 2 - 3) / stride + 1, outputHeight = (12 + 2 - 3) / stride + 1
            let y = graph.append(.conv2d(attributes), [x, w], TensorType([1, 32, outputHeight, outputWidth], .f32))
            graph.outputs = [y]
            return (graph, graph.operations[graph.operations.count - 1])
        }
        let rates = singleCoreRates(.x86_64_v4, core: .zen5)
        for stride in [1, 2] {
            let (graph, op) = depthwise(stride: stride)
            let work = StreamingWork(op, in: graph)
            guard case let .depthwise(geometry) = work else {
                Issue.record("a depthwise conv2d should get the depthwise work, got \(work)")
                continue
            }
            #expect(geometry.kernelHeight == 3 && geometry.kernelWidth == 3 && geometry.strideX == stride)
            let cycles = work.loops(elements: 0, lanes: 16).reduce(0) { $0 + rates.cycles($1) }
            // A scalar output: 9 FMAs with their loads folded, 3 instructions per tap, 3 per filter row and 4 more:
            // 49 at 6 a cycle.
            let scalarCycles = 49.0 / 6
            if stride == 1 {
                // Interior columns 1..<79: 4 vectors of 16 (64 columns) in one step of 36 FMAs with their loads folded
                // (2 a cycle), the other 16 columns scalar; 32 planes of 12 rows.
                #expect(abs(cycles - 32 * 12 * (36.0 / 2 + 16 * scalarCycles)) < 1e-6 * cycles)
            } else {
                // Stride 2: every one of the 32 x 6 x 40 outputs scalar.
                #expect(abs(cycles - 32 * 6 * 40 * scalarCycles) < 1e-6 * cycles)
            }
        }
        // Any other op keeps its kind's class.
        let (graph, index) = productGraph(rows: 4, n: 16, k: 16, pattern: nil)
        if case .depthwise = StreamingWork(graph.operations[index], in: graph) { Issue.record("a matmul is no depthwise convolution") }
    }

    @Test(arguments: [(384, 384), (1536, 384), (384, 1536)])
    func encoderChoicesAreTheMeasuredBest(n: Int, k: Int) throws {
        let rates = singleCoreRates(.x86_64_v4, core: .zen5)
        let model = CostModel(rates: rates)
        let (graph, index) = productGraph(rows: 128, n: n, k: k, pattern: nil)
        let dense = try #require(KernelProblem.make(graph.operations[index], in: graph))
        let best = try #require(model.ranked(dense, vectorWidth: 16).first)
        if case let .densePanels(panels) = best.variant {
            #expect(panels.variant == .registerTile && panels.rowTile == 8 && panels.panelWidth == 32, "\(best.summary)")
        } else {
            Issue.record("dense \(n)x\(k) at 128 rows should use the packed register tile, chose \(best.summary)")
        }
        let (sparseGraph, sparseIndex) = productGraph(rows: 128, n: n, k: k, pattern: NMPattern(n: 2, m: 4))
        let sparse = try #require(KernelProblem.make(sparseGraph.operations[sparseIndex], in: sparseGraph))
        let sparseBest = try #require(model.ranked(sparse, vectorWidth: 16).first)
        if case .nmBlocked = sparseBest.variant {} else { Issue.record("2:4 \(n)x\(k) should be blocked, chose \(sparseBest.summary)") }
    }
}
