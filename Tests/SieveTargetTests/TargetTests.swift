// Tests of the target model: the named targets' features, `--target` name resolution and its
// diagnostic, and the host description against what /proc/cpuinfo and sysfs say.

import Foundation
import SieveIR
import SieveTarget
import Testing

@Suite struct TargetTests {
    @Test func baselineIsSSE2Only() throws {
        let target = try TargetDescription.named("x86-64")
        #expect(target.features == [.sse2])
        #expect(target.vectorBits == 128)
        #expect(target.f32Lanes == 4)
        #expect(target.isaLevel == 1)
        #expect(!target.has(.avx2))
        #expect(target.compilerFlags == ["-march=x86-64"])
    }

    @Test func level3HasAVX2AndFMAButNoAVX512() throws {
        let target = try TargetDescription.named("x86-64-v3")
        for feature: TargetFeature in [.sse2, .sse42, .avx, .avx2, .fma, .f16c, .bmi2] {
            #expect(target.has(feature), "x86-64-v3 lacks \(feature)")
        }
        #expect(!target.features.contains { $0.rawValue.hasPrefix("avx512") })
        #expect(!target.has(.avxvnni))
        #expect(target.vectorBits == 256)
        #expect(target.isaLevel == 3)
        #expect(target.compilerFlags == ["-march=x86-64-v3"])
    }

    @Test func level4HasTheFiveAVX512SubsetsOnly() throws {
        let target = try TargetDescription.named("x86-64-v4")
        for feature: TargetFeature in [.avx2, .fma, .avx512f, .avx512bw, .avx512vl, .avx512dq, .avx512cd] {
            #expect(target.has(feature), "x86-64-v4 lacks \(feature)")
        }
        // VNNI, BF16 and VBMI are not part of the psABI level; code for v4 must not assume them.
        #expect(!target.has(.avx512vnni))
        #expect(!target.has(.avx512bf16))
        #expect(!target.has(.avx512vbmi))
        #expect(target.vectorBits == 512)
        #expect(target.f32Lanes == 16)
        #expect(target.isaLevel == 4)
        #expect(!target.caches.measured)
        #expect(target.coreCount == nil)
    }

    @Test(arguments: ["x86_64_v3", "avx512", "", "Native", "x86-64-v5"])
    func unknownNameIsOneDiagnosticListingTheTargets(name: String) {
        do {
            let target = try TargetDescription.named(name)
            Issue.record("'\(name)' resolved to \(target.name)")
        } catch {
            #expect(error.diagnostics.count == 1)
            let message = error.diagnostics.first?.message ?? ""
            #expect(message.hasPrefix("unknown target '\(name)'"), "\(message)")
            #expect(message.contains("native, x86-64, x86-64-v3, x86-64-v4"), "\(message)")
            #expect(message.contains("sieve targets"), "\(message)")
        }
    }

    @Test func misspellingSuggestsTheTarget() {
        #expect(throws: DiagnosticError.self) { try TargetDescription.named("x86_64_v3") }
        do {
            let target = try TargetDescription.named("X86_64_V4")
            Issue.record("'X86_64_V4' resolved to \(target.name)")
        } catch {
            #expect(error.description.contains("did you mean 'x86-64-v4'?"), "\(error)")
        }
    }

    @Test func cacheSizesParseSysfsSpelling() {
        #expect(TargetDescription.parseCacheSize("32K") == 32 * 1024)
        #expect(TargetDescription.parseCacheSize("1024K") == 1 << 20)
        #expect(TargetDescription.parseCacheSize("32M") == 32 << 20)
        #expect(TargetDescription.parseCacheSize("512") == 512)
        #expect(TargetDescription.parseCacheSize("") == nil)
        #expect(TargetDescription.parseCacheSize("K") == nil)
        #expect(TargetDescription.parseCacheSize("12X") == nil)
        #expect(TargetDescription.parseCacheSize("99999999999999999999G") == nil)
    }

    @Test func hostDescriptionFromText() {
        let cpuInfo = """
            processor\t: 0
            model name\t: Test CPU
            physical id\t: 0
            core id\t\t: 0
            flags\t\t: fpu sse2 pni avx avx2 fma avx512f avx512_vnni
            processor\t: 1
            physical id\t: 0
            core id\t\t: 0
            flags\t\t: fpu sse2 pni avx avx2 fma avx512f avx512_vnni
            processor\t: 2
            physical id\t: 0
            core id\t\t: 1
            flags\t\t: fpu sse2
            """
        let caches = [HostCacheEntry(level: 1, type: "Data", bytes: 48 << 10),
                      HostCacheEntry(level: 1, type: "Instruction", bytes: 32 << 10),
                      HostCacheEntry(level: 2, type: "Unified", bytes: 2 << 20)]
        let target = TargetDescription.describeHost(cpuInfo: cpuInfo, caches: caches, onlineThreads: 3,
                                                    maxFrequencyKHz: 3_500_000)
        #expect(target.name == "native")
        #expect(target.cpuModel == "Test CPU")
        #expect(target.features == [.sse2, .sse3, .avx, .avx2, .fma, .avx512f, .avx512vnni])
        #expect(target.vectorBits == 512)
        #expect(target.caches == CacheSizes(l1Data: 48 << 10, l2: 2 << 20, l3: 0, measured: true))
        #expect(target.coreCount == 2)
        #expect(target.hardwareThreadCount == 3)
        #expect(target.clockGHz == 3.5)
        #expect(target.description.contains("L3 none"))
    }

    /// The host's description must agree flag by flag with the kernel's view of the CPU.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/cpuinfo"), "needs Linux /proc/cpuinfo"))
    func nativeMatchesProcCPUInfo() throws {
        let text = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flagsLine = try #require(text.split(separator: "\n").first { $0.hasPrefix("flags") })
        let flags = Set(flagsLine.split(separator: ":")[1].split(separator: " ").map(String.init))
        let native = try TargetDescription.named("native")
        for feature in TargetFeature.allCases {
            #expect(native.has(feature) == flags.contains(feature.cpuInfoFlag),
                    "\(feature): native says \(native.has(feature)), /proc/cpuinfo says \(flags.contains(feature.cpuInfoFlag))")
        }
        #expect(native.vectorBits == (flags.contains("avx512f") ? 512 : flags.contains("avx") ? 256 : 128))
        let processors = text.split(separator: "\n").filter { $0.hasPrefix("processor") }.count
        #expect(native.hardwareThreadCount == processors)
        let coreCount = try #require(native.coreCount)
        #expect(coreCount >= 1 && coreCount <= processors)
        let l1Path = "/sys/devices/system/cpu/cpu0/cache/index0/size"
        if let l1 = try? String(contentsOfFile: l1Path, encoding: .utf8) {
            #expect(native.caches.measured)
            #expect(TargetDescription.parseCacheSize(l1.trimmingCharacters(in: .whitespacesAndNewlines)) == native.caches.l1Data)
        }
    }
}
