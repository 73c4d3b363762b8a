// Profiling builds: `sieve compile --profile` artifacts time each kernel and export the profile API to C, a normal
// build carries none of it, and `sieve bench --profile` joins every kernel's time to the compiler's facts about it.

import Foundation
import SieveDriver
import SieveIR
import SieveInterpreter
import Testing

@Suite(.serialized) struct ProfileTests {
    static let mlp = exampleFolder.appendingPathComponent("mlp.onnx").path

    /// A C program that runs the artifact three times and prints the profile: runs, kernel count, then one line per kernel.
    static let profileProgram = """
        #include <stdio.h>
        #include <stdlib.h>
        #include "mlp.h"
        int main(void) {
            mlp_ctx *ctx = mlp_create(1);
            if (ctx == NULL) return 2;
            float *input = calloc(mlp_inputs[0].bytes, 1), *output = malloc(mlp_outputs[0].bytes);
            const void *inputs[] = {input};
            void *outputs[] = {output};
            for (int i = 0; i < 3; i++) if (mlp_run(ctx, inputs, outputs) != 0) return 3;
            uint64_t nanoseconds[mlp_NUM_KERNELS];
            uint64_t runs = mlp_profile(ctx, nanoseconds);
            printf("runs %llu kernels %d\\n", (unsigned long long)runs, mlp_num_kernels);
            for (int k = 0; k < mlp_NUM_KERNELS; k++) printf("%s %s %llu\\n", mlp_kernels[k].name, mlp_kernels[k].op, (unsigned long long)nanoseconds[k]);
            mlp_profile_reset(ctx);
            printf("after reset %llu\\n", (unsigned long long)mlp_profile(ctx, NULL));
            mlp_destroy(ctx);
            free(input);
            free(output);
            return 0;
        }
        """

    @Test func profilingBuildExportsPerKernelCountersToC() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let artifact = folder.appendingPathComponent("profiled")
        let compiled = try runSieve(["compile", ProfileTests.mlp, "--input-shape", "input=4x64", "--sparsity", "2:4", "--profile",
                                     "-o", artifact.path, "--name", "mlp"], timeout: 180)
        #expect(compiled.status == 0, "\(compiled.stderr)")
        let source = folder.appendingPathComponent("main.c")
        try Data(ProfileTests.profileProgram.utf8).write(to: source)
        let program = folder.appendingPathComponent("main").path
        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        build.arguments = [ProcessInfo.processInfo.environment["CC"] ?? "cc", "-O2", "-Wall", "-Wextra", "-Werror", "-I", artifact.path,
                           source.path, artifact.appendingPathComponent("libmlp.a").path, "-lpthread", "-lm", "-o", program]
        try build.run()
        build.waitUntilExit()
        #expect(build.terminationStatus == 0, "the profile API does not build from C")
        let run = Process()
        run.executableURL = URL(fileURLWithPath: program)
        let output = Pipe()
        run.standardOutput = output
        try run.run()
        let lines = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
        run.waitUntilExit()
        #expect(run.terminationStatus == 0)
        let header = try String(contentsOf: artifact.appendingPathComponent("mlp.h"), encoding: .utf8)
        let declared = header.split(separator: "\n").first { $0.hasPrefix("#define mlp_NUM_KERNELS ") }
            .flatMap { Int($0.split(separator: " ").last ?? "") }
        let count = try #require(declared)
        #expect(count > 3, "a 2:4 MLP lowers to products, transposes and a softmax")
        #expect(lines.first == "runs 3 kernels \(count)")
        let kernelLines = lines.dropFirst().prefix(count)
        #expect(kernelLines.count == count)
        #expect(kernelLines.allSatisfy { $0.hasPrefix("k") && (UInt64($0.split(separator: " ").last ?? "") ?? 0) > 0 },
                "every kernel ran three times, so its counter is above zero: \(kernelLines)")
        #expect(lines.last == "after reset 0")
    }

    @Test func normalBuildCarriesNoProfilingCode() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let artifact = folder.appendingPathComponent("plain")
        let compiled = try runSieve(["compile", ProfileTests.mlp, "--input-shape", "input=4x64", "-o", artifact.path, "--name", "mlp"],
                                    timeout: 180)
        #expect(compiled.status == 0, "\(compiled.stderr)")
        for file in ["mlp.h", "mlp.c"] {
            let text = try String(contentsOf: artifact.appendingPathComponent(file), encoding: .utf8)
            #expect(!text.contains("profile") && !text.contains("clock_gettime"), "\(file) holds profiling code")
        }
        let native = try NativeArtifact(library: artifact.appendingPathComponent("libmlp.so").path, name: "mlp")
        #expect(native.profiledKernels == nil)
        let input = try Tensor(shape: [4, 64], elementType: .f32, values: [Double](repeating: 0.5, count: 256))
        #expect(throws: DiagnosticError.self) { _ = try native.profile([input], threads: 1, calls: 1) {} }
    }

    @Test func benchProfileJoinsEveryKernelToItsEstimate() throws {
        var request = BenchRequest(modelPath: ProfileTests.mlp)
        request.inputShapes = ["input": [32, 64]]
        request.sparsity = SparsityOptions()
        request.threads = [1]
        request.repetitions = 1
        request.calls = 3
        request.flushBytes = 1 << 16
        request.profile = true
        let result = try runBench(request)
        let profile = try #require(result.profile)
        #expect(profile.runs.count == 4, "dense and 2:4, cold and hot")
        for run in profile.runs {
            let rows = profile.rows.filter { $0.contender == run.contender && $0.mode == run.mode && $0.threads == run.threads }
            #expect(!rows.isEmpty)
            #expect(abs(rows.map(\.share).reduce(0, +) - 1) < 1e-9, "shares of \(run.contender) \(run.mode) sum to 1")
            // Three matrix products: each carries its schedule's estimate on exactly one kernel, with its FLOPs.
            let scheduled = rows.filter { $0.estimate == "schedule" }
            #expect(scheduled.count == 3, "\(run.contender): \(scheduled.map(\.kernel))")
            #expect(scheduled.allSatisfy { $0.flops > 0 && $0.bytes > 0 && $0.estimatedMicroseconds > 0 })
            #expect(rows.allSatisfy { $0.medianMicroseconds > 0 && $0.bandwidthLimit > 0 && $0.flopsLimit > 0 })
        }
        #expect(Set(profile.rows.map(\.contender)) == ["sieve-dense", "sieve-2:4"])
        let markdown = profile.markdown(top: 2)
        #expect(markdown.contains("### sieve-2:4, 1 thread(s), cold") && markdown.contains("more kernels (all in --json)"))
    }

    @Test func benchProfilePrintsJSONAndRefusesABadTop() throws {
        let outcome = try runSieve(["bench", ProfileTests.mlp, "--input-shape", "input=1x64", "--profile", "--json", "--threads", "1",
                                    "--repetitions", "1", "--calls", "2"], timeout: 240)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let document = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
        let profile = document?["profile"] as? [String: Any]
        let rows = profile?["rows"] as? [[String: Any]] ?? []
        #expect(!rows.isEmpty && rows.allSatisfy { $0["kernel"] is String && $0["medianMicroseconds"] is Double })
        let refused = try runSieve(["bench", ProfileTests.mlp, "--profile", "--top", "0"])
        #expect(refused.status == 1 && !refused.crashed && refused.stderr.contains("--top must be 1...10000"))
    }

    /// A model whose every result is empty lowers to no kernel; its profiling build still compiles cleanly
    /// (no empty C array, no unused clock variable) and lists no kernel.
    @Test func profilingBuildOfAModelWithoutKernels() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let artifact = folder.appendingPathComponent("empty")
        let compiled = try runSieve(["compile", ProfileTests.mlp, "--input-shape", "input=0x64", "--profile", "-o", artifact.path,
                                     "--name", "m"], timeout: 180)
        #expect(compiled.status == 0, "\(compiled.stderr)")
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = [ProcessInfo.processInfo.environment["CC"] ?? "cc", "-std=c11", "-march=native", "-Wall", "-Wextra", "-Wpedantic",
                           "-Werror", "-fsyntax-only", "-I", artifact.path, artifact.appendingPathComponent("m.c").path]
        try check.run()
        check.waitUntilExit()
        #expect(check.terminationStatus == 0, "m.c does not compile with -Wpedantic -Werror")
        let native = try NativeArtifact(library: artifact.appendingPathComponent("libm.so").path, name: "m")
        #expect(native.profiledKernels == [])
    }
}
