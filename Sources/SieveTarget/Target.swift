// The target model: what a CPU offers the scheduler and the backends (vector width, ISA features,
// caches, cores), for the host (`native`) and for the named x86-64 levels, selected with `--target NAME`.

import SieveIR

/// An instruction-set feature that kernels or the scheduler can rely on.
///
/// Each case names the flag Linux prints for it in `/proc/cpuinfo` (`cpuInfoFlag`) so that the host
/// description can be read from there.
public enum TargetFeature: String, CaseIterable, Hashable, Sendable, Comparable {
    case sse2, sse3, ssse3, sse41 = "sse4.1", sse42 = "sse4.2", popcnt
    case avx, avx2, fma, f16c, bmi1, bmi2
    case avx512f, avx512bw, avx512vl, avx512dq, avx512cd
    /// 512-bit int8 dot products (`vpdpbusd`), AVX512_VNNI.
    case avx512vnni = "avx512-vnni"
    /// bfloat16 dot products and conversions, AVX512_BF16.
    case avx512bf16 = "avx512-bf16"
    /// Byte permutes across a whole register (`vpermb`), AVX512_VBMI.
    case avx512vbmi = "avx512-vbmi"
    /// 256-bit int8 dot products in VEX encoding, AVX-VNNI.
    case avxvnni = "avx-vnni"

    /// The flag's spelling in the `flags` line of `/proc/cpuinfo` on Linux.
    public var cpuInfoFlag: String {
        switch self {
        case .sse2: return "sse2"
        case .sse3: return "pni"
        case .ssse3: return "ssse3"
        case .sse41: return "sse4_1"
        case .sse42: return "sse4_2"
        case .popcnt: return "popcnt"
        case .avx: return "avx"
        case .avx2: return "avx2"
        case .fma: return "fma"
        case .f16c: return "f16c"
        case .bmi1: return "bmi1"
        case .bmi2: return "bmi2"
        case .avx512f: return "avx512f"
        case .avx512bw: return "avx512bw"
        case .avx512vl: return "avx512vl"
        case .avx512dq: return "avx512dq"
        case .avx512cd: return "avx512cd"
        case .avx512vnni: return "avx512_vnni"
        case .avx512bf16: return "avx512_bf16"
        case .avx512vbmi: return "avx512vbmi"
        case .avxvnni: return "avx_vnni"
        }
    }

    /// Declaration order, so that feature lists print in a stable, readable order.
    public static func < (lhs: TargetFeature, rhs: TargetFeature) -> Bool {
        let order = allCases
        return (order.firstIndex(of: lhs) ?? 0) < (order.firstIndex(of: rhs) ?? 0)
    }
}

/// Sizes of the data caches one core sees, in bytes.
public struct CacheSizes: Hashable, Sendable {
    /// Level-1 data cache per core.
    public var l1Data: Int
    /// Level-2 cache per core.
    public var l2: Int
    /// Last-level (level-3) cache, shared by the cores; 0 when the CPU has none.
    public var l3: Int
    /// Whether the sizes were read from the host (`true`) or are assumptions for a named target.
    public var measured: Bool

    /// Makes a cache description.
    public init(l1Data: Int, l2: Int, l3: Int, measured: Bool) {
        self.l1Data = l1Data
        self.l2 = l2
        self.l3 = l3
        self.measured = measured
    }
}

/// What the compiler knows about the CPU it generates code for.
///
/// Named targets fix an ISA level (the x86-64 psABI levels) and assume modest caches; `native`
/// is read from the machine the compiler runs on (see `TargetDescription.host()`).
public struct TargetDescription: Hashable, Sendable, CustomStringConvertible {
    /// The name it was selected by: `native`, `x86-64`, `x86-64-v3` or `x86-64-v4`.
    public var name: String
    /// The CPU's model name when read from the host; nil for named targets.
    public var cpuModel: String?
    /// The instruction-set features the generated code may use.
    public var features: Set<TargetFeature>
    /// Data cache sizes.
    public var caches: CacheSizes
    /// Physical cores (for native, counted on the host); nil when a named target leaves it open.
    public var coreCount: Int?
    /// Hardware threads online on the host; nil for named targets.
    public var hardwareThreadCount: Int?
    /// Maximum clock in GHz when the host reports one (most VMs do not); used only for estimates.
    public var clockGHz: Double?
    /// What one core issues per cycle and the measured bandwidths: the cost model's facts (the host's
    /// microarchitecture when it is known, else the figures of the project's machine of the same ISA level).
    public var core: CoreFacts

    /// Makes a description.
    public init(name: String, cpuModel: String? = nil, features: Set<TargetFeature>, caches: CacheSizes,
                coreCount: Int? = nil, hardwareThreadCount: Int? = nil, clockGHz: Double? = nil, core: CoreFacts? = nil) {
        self.name = name
        self.cpuModel = cpuModel
        self.features = features
        self.caches = caches
        self.coreCount = coreCount
        self.hardwareThreadCount = hardwareThreadCount
        self.clockGHz = clockGHz
        let bits = features.contains(.avx512f) ? 512 : features.contains(.avx) ? 256 : 128
        self.core = core ?? CoreFacts.assumed(vectorBits: bits, hasFMA: features.contains(.fma) || features.contains(.avx512f))
    }

    /// Whether the target has a feature.
    public func has(_ feature: TargetFeature) -> Bool { features.contains(feature) }

    /// The widest vector register the generated code may use, in bits: 512 with AVX-512F,
    /// 256 with AVX, otherwise 128 (SSE2 is part of x86-64).
    public var vectorBits: Int {
        if has(.avx512f) { return 512 }
        if has(.avx) { return 256 }
        return 128
    }

    /// How many f32 lanes one vector register holds.
    public var f32Lanes: Int { vectorBits / 32 }

    /// The x86-64 psABI level the features reach (1 to 4); the C backend's `-march` follows it.
    public var isaLevel: Int {
        if TargetDescription.level4Features.isSubset(of: features) { return 4 }
        if TargetDescription.level3Features.isSubset(of: features) { return 3 }
        if TargetDescription.level2Features.isSubset(of: features) { return 2 }
        return 1
    }

    /// The C compiler's code-generation flag for this target (gcc ≥ 11 and clang ≥ 12 know them).
    public var compilerFlags: [String] {
        switch name {
        case "native": return ["-march=native"]
        case "x86-64": return ["-march=x86-64"]
        default: return ["-march=\(name)"]
        }
    }

    /// A multi-line human description, as printed by `sieve targets`.
    public var description: String {
        var lines: [String] = []
        var title = "\(name): \(vectorBits)-bit vectors"
        if let cpuModel { title += ", \(cpuModel)" }
        lines.append(title)
        lines.append("  features: " + features.sorted().map(\.rawValue).joined(separator: " "))
        let origin = caches.measured ? "" : " (assumed)"
        lines.append("  caches:   L1d \(Self.formatBytes(caches.l1Data)), L2 \(Self.formatBytes(caches.l2)), "
            + "L3 \(caches.l3 == 0 ? "none" : Self.formatBytes(caches.l3))\(origin)")
        if let coreCount {
            var cores = "  cores:    \(coreCount)"
            if let hardwareThreadCount, hardwareThreadCount != coreCount {
                cores += " (\(hardwareThreadCount) hardware threads)"
            }
            lines.append(cores)
        } else {
            lines.append("  cores:    chosen at run time (NAME_create's num_threads)")
        }
        if let clockGHz {
            lines.append("  clock:    \(Double(Int(clockGHz * 100)) / 100) GHz (host)")
        } else {
            lines.append("  clock:    \(core.clockGHz) GHz (from the core facts; no host clock reported)")
        }
        lines += core.descriptionLines
        lines.append("  cc flags: " + compilerFlags.joined(separator: " "))
        return lines.joined(separator: "\n")
    }

    /// Formats a byte count as KiB or MiB when it divides evenly.
    static func formatBytes(_ bytes: Int) -> String {
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) B"
    }

    // MARK: - Named targets

    /// x86-64-v2 on top of baseline x86-64: what every later level includes.
    static let level2Features: Set<TargetFeature> = [.sse2, .sse3, .ssse3, .sse41, .sse42, .popcnt]
    /// x86-64-v3: AVX2 with FMA (Haswell and later, Zen 1 and later).
    static let level3Features: Set<TargetFeature> = level2Features.union([.avx, .avx2, .fma, .f16c, .bmi1, .bmi2])
    /// x86-64-v4: AVX-512 F/BW/VL/DQ/CD (Skylake-SP and later, Zen 4 and later).
    static let level4Features: Set<TargetFeature> = level3Features.union([.avx512f, .avx512bw, .avx512vl, .avx512dq, .avx512cd])

    /// Cache sizes a portable build assumes: common to nearly every x86-64 core of the last decade.
    static let assumedCaches = CacheSizes(l1Data: 32 << 10, l2: 256 << 10, l3: 8 << 20, measured: false)
    /// AVX-512 cores have at least 1 MiB of L2 (Skylake-SP, Ice Lake, Zen 4/5).
    static let assumedLevel4Caches = CacheSizes(l1Data: 32 << 10, l2: 1 << 20, l3: 8 << 20, measured: false)

    /// Baseline x86-64: SSE2 only, 128-bit vectors.
    public static let x86_64 = TargetDescription(name: "x86-64", features: [.sse2], caches: assumedCaches)
    /// x86-64-v3: AVX2 and FMA, 256-bit vectors.
    public static let x86_64_v3 = TargetDescription(name: "x86-64-v3", features: level3Features, caches: assumedCaches)
    /// x86-64-v4: AVX-512 F/BW/VL/DQ/CD, 512-bit vectors.
    public static let x86_64_v4 = TargetDescription(name: "x86-64-v4", features: level4Features, caches: assumedLevel4Caches)

    /// The host's description (`--target native`, every command's default), read once; baseline x86-64 when
    /// the host cannot be read (not Linux), so that a default never fails.
    public static let native: TargetDescription = (try? host()) ?? x86_64

    /// The targets that need no host probing, in the order `sieve targets` prints them.
    public static let namedTargets: [TargetDescription] = [x86_64, x86_64_v3, x86_64_v4]

    /// Every name `--target` accepts.
    public static let targetNames: [String] = ["native"] + namedTargets.map(\.name)

    /// Resolves a `--target` value: `native` reads the host, the other names are fixed descriptions.
    ///
    /// - Throws: a diagnostic naming the accepted targets when `name` is not one of them, or
    ///   when the host cannot be read for `native`.
    public static func named(_ name: String) throws(DiagnosticError) -> TargetDescription {
        if name == "native" { return try host() }
        if let target = namedTargets.first(where: { $0.name == name }) { return target }
        var message = "unknown target '\(name)'; expected one of \(targetNames.joined(separator: ", "))"
        if let suggestion = targetNames.first(where: { $0.lowercased() == name.lowercased().replacingUnderscores() }) {
            message += " (did you mean '\(suggestion)'?)"
        }
        message += "; run 'sieve targets' to see what each offers"
        throw DiagnosticError(.error(.unknown, message))
    }
}

extension String {
    /// The string with `_` turned into `-`, so `x86_64_v3` suggests `x86-64-v3`.
    fileprivate func replacingUnderscores() -> String {
        String(map { $0 == "_" ? "-" : $0 })
    }
}
