// What one core issues per cycle (FMAs, loads, shuffles, instructions), its clock and the memory system's measured
// read bandwidths: the facts of a CPU that the cost model's issue model rests on, per microarchitecture.

/// Read bandwidths in GB/s with one thread and with every core, by where the data resides.
public struct MemoryBandwidths: Hashable, Sendable {
    /// From L2 (data of a few hundred KiB).
    public var l2One: Double, l2All: Double
    /// From L3 (data of a few MiB).
    public var l3One: Double, l3All: Double
    /// From DRAM (data far larger than L3).
    public var dramOne: Double, dramAll: Double

    /// Makes a set of bandwidths.
    public init(l2One: Double, l2All: Double, l3One: Double, l3All: Double, dramOne: Double, dramAll: Double) {
        self.l2One = l2One; self.l2All = l2All
        self.l3One = l3One; self.l3All = l3All
        self.dramOne = dramOne; self.dramAll = dramAll
    }
}

/// The facts of one core that bound how fast a kernel's inner loop issues, counted in the target's full-width vectors.
///
/// Rates are sustained throughputs per cycle. A load counts once whether it feeds a register or is folded into
/// an FMA; a broadcast from memory is a load, a broadcast of a register lane or a permute is a shuffle.
public struct CoreFacts: Hashable, Sendable {
    /// The microarchitecture's name (`Zen 5`), or what the figures assume.
    public var name: String
    /// The clock in GHz that kernels run at (all-core boost on the measured machines).
    public var clockGHz: Double
    /// Full-width vector FMAs issued per cycle, sustained.
    public var fmaPerCycle: Double
    /// Cycles from an FMA's issue to its result: a chain of dependent FMAs issues one per this many cycles.
    public var fmaLatency: Double
    /// Full-width vector loads per cycle.
    public var vectorLoadsPerCycle: Double
    /// Loads of any width per cycle (scalars, broadcasts from memory, prefetches, vectors).
    public var loadsPerCycle: Double
    /// Vector shuffles per cycle (permutes, broadcasts of a lane or of a general register, in-lane permutes).
    public var shufflesPerCycle: Double
    /// Instructions per cycle the core sustains through decode, rename and retire.
    public var instructionsPerCycle: Double
    /// Read bandwidths, measured where `origin` says.
    public var bandwidth: MemoryBandwidths
    /// Where the figures come from.
    public var origin: String

    /// Makes a description of a core.
    public init(name: String, clockGHz: Double, fmaPerCycle: Double, fmaLatency: Double, vectorLoadsPerCycle: Double,
                loadsPerCycle: Double, shufflesPerCycle: Double, instructionsPerCycle: Double, bandwidth: MemoryBandwidths,
                origin: String) {
        self.name = name
        self.clockGHz = clockGHz
        self.fmaPerCycle = fmaPerCycle
        self.fmaLatency = fmaLatency
        self.vectorLoadsPerCycle = vectorLoadsPerCycle
        self.loadsPerCycle = loadsPerCycle
        self.shufflesPerCycle = shufflesPerCycle
        self.instructionsPerCycle = instructionsPerCycle
        self.bandwidth = bandwidth
        self.origin = origin
    }

    /// Zen 5 (AMD family 26) with 512-bit vectors, as measured on the project's 2-core EPYC (PERF-NOTES.md): two
    /// 512-bit FMA pipes of 4 cycles' latency, two 512-bit loads of four loads a cycle, one lane-crossing
    /// permute a cycle. The clock is the one its kernels run at: the encoder's packed register tile (16 FMAs per
    /// 2 vector and 8 broadcast loads, FMA-bound) ran 268 GFLOP/s with one thread, 4.2 GHz at 2 FMAs a cycle.
    public static let zen5 = CoreFacts(
        name: "Zen 5", clockGHz: 4.2, fmaPerCycle: 2, fmaLatency: 4, vectorLoadsPerCycle: 2, loadsPerCycle: 4,
        shufflesPerCycle: 1, instructionsPerCycle: 6,
        bandwidth: MemoryBandwidths(l2One: 228, l2All: 300, l3One: 105, l3All: 220, dramOne: 36, dramAll: 38),
        origin: "PERF-NOTES.md, 2-core EPYC Zen 5")

    /// Zen 2 (AMD family 23, model 0x30 and later) with 256-bit vectors, as measured on the project's 2-core EPYC
    /// (PERF-NOTES.md): about one 256-bit FMA a cycle sustained, 34 GFLOP/s with 10 chains (so 2.1 GHz at one FMA
    /// a cycle), 5 cycles' latency; two loads a cycle; one lane-crossing permute a cycle; 20 GB/s (27 with both
    /// cores) from DRAM as `sgemv` streamed it. Its L2 and L3 rates are not measured: assumed at 32 and 16 bytes
    /// a cycle.
    public static let zen2 = CoreFacts(
        name: "Zen 2", clockGHz: 2.1, fmaPerCycle: 1, fmaLatency: 5, vectorLoadsPerCycle: 2, loadsPerCycle: 2,
        shufflesPerCycle: 1, instructionsPerCycle: 4,
        bandwidth: MemoryBandwidths(l2One: 67, l2All: 120, l3One: 34, l3All: 60, dramOne: 20, dramAll: 27),
        origin: "PERF-NOTES.md, 2-core EPYC Zen 2 (L2 and L3 rates assumed)")

    /// The facts a target without a known microarchitecture assumes for its vector width: those of the project's
    /// machine of that ISA level (Zen 5 for AVX-512, Zen 2 for AVX2), and for SSE2 Zen 2's at 128 bits with a
    /// separate multiply and add per multiply-add (no FMA: two instructions, 7 cycles of latency).
    public static func assumed(vectorBits: Int, hasFMA: Bool) -> CoreFacts {
        if vectorBits >= 512 {
            var facts = zen5
            facts.name = "assumed AVX-512 core (Zen 5's figures)"
            return facts
        }
        var facts = zen2
        facts.name = vectorBits >= 256 ? "assumed AVX2 core (Zen 2's figures)" : "assumed SSE2 core (Zen 2's figures at 128 bits)"
        if !hasFMA {
            facts.fmaLatency = 7
            facts.instructionsPerCycle = zen2.instructionsPerCycle / 2
        }
        return facts
    }

    /// The facts of a host core from `/proc/cpuinfo`'s vendor, family and model, or nil for one not in the table.
    public static func known(vendor: String, family: Int, model: Int, vectorBits: Int) -> CoreFacts? {
        guard vendor == "AuthenticAMD" else { return nil }
        if family == 26 && vectorBits >= 512 { return zen5 }
        if family == 23 && model >= 0x30 && vectorBits == 256 { return zen2 }
        return nil
    }

    /// One line per group of facts, as `sieve targets` prints them under a target.
    public var descriptionLines: [String] {
        func figure(_ value: Double) -> String {
            value == value.rounded() ? String(Int(value)) : String(Double(Int((value * 10).rounded())) / 10)
        }
        let rates = bandwidth
        return [
            "  core:     \(name) (\(origin))",
            "  issue:    \(figure(fmaPerCycle)) vector FMA/cycle (latency \(figure(fmaLatency))), \(figure(vectorLoadsPerCycle)) vector "
                + "loads of \(figure(loadsPerCycle)) loads/cycle, \(figure(shufflesPerCycle)) shuffle/cycle, \(figure(instructionsPerCycle)) instructions/cycle",
            "  read:     L2 \(figure(rates.l2One)) GB/s (\(figure(rates.l2All)) all cores), L3 \(figure(rates.l3One)) (\(figure(rates.l3All))), "
                + "DRAM \(figure(rates.dramOne)) (\(figure(rates.dramAll)))",
        ]
    }
}
