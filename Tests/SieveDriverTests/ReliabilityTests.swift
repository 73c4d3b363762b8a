// Regression tests for the reliability report (issue #18), through the built `sieve` binary: empty tensors
// compile and run, non-regular files are refused without blocking, absurd IR sizes are refused before
// allocating, artifact names cannot clash with the runtime, and a compile's output folder appears at once.

import Foundation
import SieveFormats
import SieveIR
import SieveInterpreter
import Testing

@Suite(.serialized) struct ReliabilityTests {
    /// A batch of zero rows: `compile` writes an artifact with no kernel, and compiled and interpreted runs
    /// both write a (0, 10) output (this used to end in "Division by zero" while lowering the first product).
    @Test func emptyBatchCompilesAndRuns() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let mlp = exampleFolder.appendingPathComponent("mlp.onnx").path
        let artifact = folder.appendingPathComponent("m")
        let compiled = try runSieve(["compile", mlp, "--input-shape", "input=0x64", "-o", artifact.path, "--name", "m"], timeout: 180)
        #expect(compiled.status == 0 && !compiled.crashed, "\(compiled.stderr)")
        let report = (try? String(contentsOf: artifact.appendingPathComponent("m.report.txt"), encoding: .utf8)) ?? ""
        #expect(report.contains("kernels: 0"), "\(report)")

        let input = folder.appendingPathComponent("empty.npy").path
        try NumPyFile.write(Tensor(TensorType([0, 64], .f32), floats: []).constant(name: "input"), path: input)
        let environment = ["XDG_CACHE_HOME": folder.appendingPathComponent("cache").path]
        for (mode, extra) in [("compiled", [String]()), ("interpreted", ["--interpret"])] {
            let output = folder.appendingPathComponent(mode)
            let run = try runSieve(["run", mlp, "--input", "input=\(input)", "--output-dir", output.path] + extra,
                                   timeout: 180, environment: environment)
            #expect(run.status == 0 && !run.crashed, "\(mode): \(run.stderr)")
            let result = try NumPyFile.read(path: output.appendingPathComponent("probabilities.npy").path)
            #expect(result.type.shape == [0, 10], "\(mode)")
        }
    }
}
