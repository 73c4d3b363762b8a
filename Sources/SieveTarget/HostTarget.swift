// Reads the `native` target from the machine Sieve runs on: features from /proc/cpuinfo, caches from
// /sys/devices/system/cpu/cpu0/cache, cores and clock from the same places (Linux only).

import SieveIR

#if canImport(Glibc)
import Glibc
#endif

/// One cache as sysfs describes it (`cpu0/cache/indexN/{level,type,size}`).
public struct HostCacheEntry: Hashable, Sendable {
    /// 1, 2 or 3.
    public var level: Int
    /// `Data`, `Instruction` or `Unified`.
    public var type: String
    /// Size in bytes.
    public var bytes: Int

    /// Makes an entry.
    public init(level: Int, type: String, bytes: Int) {
        self.level = level
        self.type = type
        self.bytes = bytes
    }
}

extension TargetDescription {
    /// The description of the machine the compiler runs on, selected by `--target native`.
    ///
    /// The flags in `/proc/cpuinfo` are what the kernel has enabled (it hides AVX-512 when the OS
    /// does not save its registers), which is what generated code may use; no `cpuid` shim is needed.
    ///
    /// - Throws: a diagnostic when `/proc/cpuinfo` cannot be read (not Linux), asking for a named target.
    public static func host() throws(DiagnosticError) -> TargetDescription {
        guard let cpuInfo = readSmallFile("/proc/cpuinfo") else {
            throw DiagnosticError(.error(.unknown,
                "cannot read /proc/cpuinfo to describe the host for --target native; "
                + "pass a named target instead (\(namedTargets.map(\.name).joined(separator: ", ")))"))
        }
        var caches: [HostCacheEntry] = []
        for index in 0..<8 {
            let folder = "/sys/devices/system/cpu/cpu0/cache/index\(index)"
            guard let level = readSmallFile(folder + "/level").flatMap({ Int(trimmed($0)) }),
                  let type = readSmallFile(folder + "/type").map(trimmed),
                  let bytes = readSmallFile(folder + "/size").flatMap({ parseCacheSize(trimmed($0)) })
            else { continue }
            caches.append(HostCacheEntry(level: level, type: type, bytes: bytes))
        }
        let maxKHz = readSmallFile("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").flatMap { Int(trimmed($0)) }
        var online: Int?
        #if canImport(Glibc)
        let count = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        if count > 0 { online = count }
        #endif
        return describeHost(cpuInfo: cpuInfo, caches: caches, onlineThreads: online, maxFrequencyKHz: maxKHz)
    }

    /// Builds the native description from the host's files; split from `host()` so tests can feed text.
    ///
    /// Features are those of the first processor's `flags` line. Caches missing from `caches` keep
    /// the assumed sizes of a named target (and `measured` is then false). Cores are the distinct
    /// (`physical id`, `core id`) pairs, or the processor count when those lines are missing. The core facts are
    /// those of the microarchitecture that `vendor_id`, `cpu family` and `model` name when `CoreFacts.known` has
    /// it, else those assumed for the vector width.
    public static func describeHost(cpuInfo: String, caches: [HostCacheEntry], onlineThreads: Int?,
                                    maxFrequencyKHz: Int?) -> TargetDescription {
        var flags: Set<String> = []
        var model: String?
        var processors = 0
        var cores: Set<String> = []
        var physicalID = "", sawFlags = false
        var vendor = "", family = -1, modelNumber = -1
        for line in cpuInfo.split(separator: "\n", omittingEmptySubsequences: false) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = trimmed(String(line[..<colon]))
            let value = trimmed(String(line[line.index(after: colon)...]))
            switch key {
            case "processor": processors += 1
            case "model name": if model == nil { model = value }
            case "vendor_id": if vendor.isEmpty { vendor = value }
            case "cpu family": if family < 0 { family = Int(value) ?? -1 }
            case "model": if modelNumber < 0 { modelNumber = Int(value) ?? -1 }
            case "physical id": physicalID = value
            case "core id": cores.insert(physicalID + "/" + value)
            case "flags":
                if !sawFlags {
                    flags = Set(value.split(separator: " ").map(String.init))
                    sawFlags = true
                }
            default: break
            }
        }
        let features = Set(TargetFeature.allCases.filter { flags.contains($0.cpuInfoFlag) })
        let l1 = caches.first { $0.level == 1 && $0.type != "Instruction" }
        let l2 = caches.first { $0.level == 2 }
        let l3 = caches.first { $0.level == 3 }
        let fallback = features.contains(.avx512f) ? assumedLevel4Caches : assumedCaches
        let cacheSizes = CacheSizes(l1Data: l1?.bytes ?? fallback.l1Data, l2: l2?.bytes ?? fallback.l2,
                                    l3: l3?.bytes ?? (l2 != nil ? 0 : fallback.l3),
                                    measured: l1 != nil && l2 != nil)
        let coreCount = cores.isEmpty ? max(processors, onlineThreads ?? 1) : cores.count
        let bits = features.contains(.avx512f) ? 512 : features.contains(.avx) ? 256 : 128
        let core = CoreFacts.known(vendor: vendor, family: family, model: modelNumber, vectorBits: bits)
        return TargetDescription(
            name: "native", cpuModel: model, features: features, caches: cacheSizes, coreCount: coreCount,
            hardwareThreadCount: onlineThreads ?? (processors > 0 ? processors : nil),
            clockGHz: maxFrequencyKHz.map { Double($0) / 1_000_000 }, core: core)
    }

    /// Parses sysfs cache sizes such as `32K`, `1024K`, `32M`; nil for anything else.
    public static func parseCacheSize(_ text: String) -> Int? {
        guard let last = text.last else { return nil }
        let multiplier: Int
        var digits = Substring(text)
        switch last {
        case "K", "k": multiplier = 1 << 10; digits = digits.dropLast()
        case "M", "m": multiplier = 1 << 20; digits = digits.dropLast()
        case "G", "g": multiplier = 1 << 30; digits = digits.dropLast()
        default: multiplier = 1
        }
        guard let value = Int(digits), value >= 0, value <= Int.max / multiplier else { return nil }
        return value * multiplier
    }
}

/// Removes leading and trailing spaces, tabs and newlines.
private func trimmed(_ text: String) -> String {
    let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
    guard let first = text.firstIndex(where: { !isSpace($0) }),
          let last = text.lastIndex(where: { !isSpace($0) }) else { return "" }
    return String(text[first...last])
}

/// Reads a small text file (procfs and sysfs report size 0, so read until end); nil if it cannot be opened.
private func readSmallFile(_ path: String) -> String? {
    #if canImport(Glibc)
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while bytes.count < 1 << 22 {
        let count = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        if count <= 0 { break }
        bytes.append(contentsOf: buffer[0..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
    #else
    return nil
    #endif
}
