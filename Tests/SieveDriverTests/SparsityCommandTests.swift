// `sieve run --sparsity --interpret` and `sieve opt --calibration` through the built binary: the bundled
// digits MLP sparsified and interpreted, and the option combinations that must be refused.

import Foundation
import Testing

@Suite struct SparsityCommandTests {
    @Test func runInterpretsTheSparsifiedDigitsMLP() throws {
        let folder = try temporaryFolder()
        let outcome = try runSieve(["run", exampleFolder.appendingPathComponent("mlp.onnx").path,
                                    "--input", exampleFolder.appendingPathComponent("mlp.input.npy").path,
                                    "--output-dir", folder.path, "--interpret", "--sparsity", "2:4", "--prune", "wanda",
                                    "--calibration", exampleFolder.appendingPathComponent("mlp.calibration.npy").path], timeout: 120)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("probabilities.npy").path))
    }

    @Test func sparsityOptionsThatCannotWorkAreRefused() throws {
        let model = exampleFolder.appendingPathComponent("mlp.onnx").path
        let input = exampleFolder.appendingPathComponent("mlp.input.npy").path
        let folder = try temporaryFolder().appendingPathComponent("out").path
        let cases: [([String], String)] = [
            (["--sparsity", "2:4", "--prune", "wanda"], "needs calibration data"),
            (["--sparsity", "auto"], "--sparsity auto needs --max-error"),
            (["--sparsity", "4:4"], "needs 1 <= N < M"),
            (["--sparsity", "2:4", "--prune", "best"], "--prune must be magnitude, wanda or sparsegpt"),
        ]
        for (extra, message) in cases {
            let outcome = try runSieve(["run", model, "--input", input, "--output-dir", folder, "--interpret"] + extra)
            #expect(outcome.status == 1, "\(extra)")
            #expect(outcome.stderr.contains(message), "\(extra): \(outcome.stderr)")
            #expect(!FileManager.default.fileExists(atPath: folder), "\(extra) wrote output")
        }
    }

    @Test func optRunsTheSparsityPassesWithCalibration() throws {
        let root = repositoryRoot.appendingPathComponent("IR/graph/sparsity-allocation")
        let outcome = try runSieve(["opt", root.appendingPathComponent("pipeline.sir").path,
                                    "-p", "sparsity-allocation{sparsity=2:4,min-weights=100},nm-legalize{prune=sparsegpt}",
                                    "--calibration", root.appendingPathComponent("correlated.npy").path])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("%w1 = const @w1 : tensor<16x16xf32, nm<2:4>>"))
        let missing = try runSieve(["opt", root.appendingPathComponent("pipeline.sir").path, "-p", "nm-legalize{prune=wanda,pattern=2:4}"])
        #expect(missing.status == 1 && missing.stderr.contains("needs calibration data"))
    }
}
