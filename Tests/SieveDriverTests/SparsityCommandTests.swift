// `sieve run --sparsity --interpret` and `sieve opt --calibration` through the built binary: the bundled
// digits MLP sparsified and interpreted, and the option combinations that must be refused.

import Foundation
import SieveFormats
import SieveONNX
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

    /// `--help` shows the one default of `--min-weights`, the one `sieve opt`'s pass options use.
    @Test func helpShowsTheSharedMinWeightsDefault() throws {
        let compile = try runSieve(["compile", "--help"])
        #expect(compile.stdout.contains("(default: 4096)"), "\(compile.stdout)")
        let opt = try runSieve(["opt", "--help"])
        #expect(opt.stdout.contains("min-weights=N (default 4096)"), "\(opt.stdout)")
    }

    /// `sieve opt` reads calibration with the loader compile uses, so ONNX test-data folders work there too.
    @Test func optAcceptsONNXTestDataFoldersLikeCompile() throws {
        let root = repositoryRoot.appendingPathComponent("IR/graph/sparsity-allocation")
        let samples = try NumPyFile.read(path: root.appendingPathComponent("correlated.npy").path)
        #expect(samples.type.shape == [32, 16])
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-opt-data-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        for (index, rows) in [0..<20, 20..<32].enumerated() {
            var proto = Onnx_TensorProto()
            proto.name = "x"
            proto.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            proto.dims = [Int64(rows.count), 16]
            proto.rawData = Data(samples.bytes[(rows.lowerBound * 64)..<(rows.upperBound * 64)])
            let dataSet = folder.appendingPathComponent("test_data_set_\(index)")
            try FileManager.default.createDirectory(at: dataSet, withIntermediateDirectories: true)
            try proto.serializedData().write(to: dataSet.appendingPathComponent("input_0.pb"))
        }
        func optimized(_ calibration: String) throws -> String {
            let outcome = try runSieve(["opt", root.appendingPathComponent("pipeline.sir").path,
                                        "-p", "sparsity-allocation{sparsity=2:4,min-weights=100},nm-legalize{prune=sparsegpt}",
                                        "--calibration", calibration])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            // Standard error is not a terminal here, so no progress lines.
            #expect(!outcome.stderr.contains("nm-legalize: 1/"), "\(outcome.stderr)")
            return outcome.stdout
        }
        let fromFolders = try optimized(folder.path)
        #expect(fromFolders.contains("%w1 = const @w1 : tensor<16x16xf32, nm<2:4>>"))
        #expect(fromFolders == (try optimized(root.appendingPathComponent("correlated.npy").path)))
        #expect(try optimized(folder.appendingPathComponent("test_data_set_0").path).contains("nm<2:4>"))
    }
}
