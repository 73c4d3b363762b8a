// Regression tests of issue #15 item 1 (`--permute` produced wrong models): what `sieve run` runs and
// what the report measures are the model nm-legalize emitted, and --permute never costs accuracy.

import Foundation
import SieveDriver
import SieveFormats
import SieveIR
import SieveInterpreter
import SievePasses
import Testing

/// x [4, 16] -> fc1 [64, 16] + bias -> relu -> fc2 [64, 64] + bias -> relu -> fc3 [16, 64] + bias, with
/// columns of very different scale so that permuting fc2's and fc3's input channels pays.
func permutableThreeLayerModel(seed: UInt64) -> Graph {
    var random = Random(seed)
    var graph = Graph(name: "mlp3")
    var value = graph.addInput(TensorType([4, 16], .f32), name: "x")
    for (index, (inputs, outputs)) in [(16, 64), (64, 64), (64, 16)].enumerated() {
        let scales = (0..<inputs).map { Float(1 + ($0 * 5) % 7) }
        let values = random.gaussians(outputs * inputs, scale: 0.2).enumerated().map { $1 * scales[$0 % inputs] }
        let w = graph.appendConstant(weight("fc\(index + 1)", [outputs, inputs], values))
        let product = graph.append(.matmul(transposeB: true), [value, w], TensorType([4, outputs], .f32))
        let b = graph.appendConstant(weight("bias\(index + 1)", [outputs], random.gaussians(outputs, scale: 0.3)))
        value = graph.append(.binary(.add), [product, b], TensorType([4, outputs], .f32))
        if index < 2 { value = graph.append(.unary(.relu), [value], TensorType([4, outputs], .f32)) }
    }
    graph.outputs = [value]
    return graph
}

/// The repository's Python, which has onnx, scikit-learn and skl2onnx (scripts/setup-python.sh).
let repositoryPython = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(".venv/bin/python").path

@Suite struct PermuteRegressionTests {
    /// Sparsity options with every layer eligible.
    func options(_ sparsity: SparsityAllocation.Mode, prune: PruneMethod = .magnitude, keepDense: [String] = [],
                 permute: Bool) -> SparsifyOptions {
        var options = SparsifyOptions(sparsity: sparsity, prune: prune, keepDense: keepDense, minWeights: 0)
        options.permute = permute
        return options
    }

    /// `sieve run --interpret --sparsity … --permute` sparsifies at the model's own shapes and carries
    /// the result over to the input's: it must run exactly the graph the compile pipeline emits, the
    /// dense layer the permutation was folded into and the moved biases included.
    @Test(arguments: [["fc2*"], ["fc3*"], []])
    func runCarriesEveryPermutedConstantOver(keepDense: [String]) throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let graph = permutableThreeLayerModel(seed: 41)
        try graph.print().write(toFile: folder + "/mlp3.sir", atomically: true, encoding: .utf8)
        var random = Random(42)
        let input = try tensor([4, 16], random.gaussians(64))
        try NumPyFile.write(input.constant(name: "x"), path: folder + "/x.npy")
        let sparsity = options(.uniform(NMPattern(n: 2, m: 4)), keepDense: keepDense, permute: true)

        var request = RunRequest(modelPath: folder + "/mlp3.sir", inputs: [RunInput(name: "x", path: folder + "/x.npy")],
                                 outputDirectory: folder + "/out")
        request.sparsity = sparsity
        let ran = try #require(try runModel(request).outputs.first?.tensor)

        let prepared = try prepareGraph(graph, target: .native, sparsity: sparsity, calibration: nil, passManager: PassManagerOptions())
        let notes = prepared.sparsity?.layers.map(\.reason).joined(separator: "; ") ?? ""
        #expect(notes.contains("folded into"), "\(notes)")
        let emitted = try run(prepared.graph, [input])[0]
        #expect(ran.allClose(emitted, rtol: 1e-5, atol: 1e-5), "keep-dense \(keepDense): max difference \(ran.maxAbsDifference(emitted) ?? .nan)")
    }

    /// The report's model error is the error of the graph that is emitted, permutations folded in, in
    /// `sieve compile`'s pipeline and in `sparsify`; and a permuted layer's own error is measured in
    /// the dense model's channel order (a dense producer that was only reordered has none).
    @Test(arguments: [PruneMethod.magnitude, .sparsegpt])
    func reportedErrorIsTheEmittedModelsError(prune: PruneMethod) throws {
        let graph = permutableThreeLayerModel(seed: 43)
        var random = Random(44)
        let calibration = CalibrationSet(samples: ["x": try tensor([32, 16], random.gaussians(512))])
        let sparsity = options(.uniform(NMPattern(n: 2, m: 4)), prune: prune, keepDense: ["fc2*"], permute: true)

        let prepared = try prepareGraph(graph, target: .native, sparsity: sparsity, calibration: calibration,
                                        passManager: PassManagerOptions())
        let report = try #require(prepared.sparsity)
        let reported = try #require(report.modelRelativeOutputError)
        let emitted = try ReferenceRun.record(graph: prepared.dense, calibration: calibration, maxSamples: nil).relativeError(of: prepared.graph)
        #expect(abs(reported - emitted) <= 1e-6 * max(1, emitted), "reported \(reported), emitted model \(emitted)")
        #expect(report.layers.first { $0.name.hasPrefix("fc3") }?.reason.contains("folded into fc2") == true)
        #expect(report.layers.first { $0.name.hasPrefix("fc2") }?.relativeOutputError == nil)
        // fc3 keeps at least as much as without the permutation, so its own error is that of a 2:4 layer, not of a shuffled one.
        let fc3 = try #require(report.layers.first { $0.name.hasPrefix("fc3") }?.relativeOutputError)
        #expect(fc3 < 0.9, "fc3's error \(fc3)")

        let sparsified = try sparsify(graph, options: sparsity, calibration: calibration)
        let again = try #require(sparsified.report.modelRelativeOutputError)
        let measured = try ReferenceRun.record(graph: graph, calibration: calibration, maxSamples: nil).relativeError(of: sparsified.graph)
        #expect(abs(again - measured) <= 1e-6 * max(1, measured), "reported \(again), emitted model \(measured)")
    }

    /// The three rows on an skl2onnx MLP (40 -> 128 -> 128 -> 10, Cast … Softmax) made at test
    /// time: with --permute, held-out accuracy is at least what it is without.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: repositoryPython), "needs .venv/bin/python (scripts/setup-python.sh)"))
    func permuteNeverLowersAccuracyOnAnSKLearnMLP() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/make-permute-mlp.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: repositoryPython)
        process.arguments = [script, folder]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "make-permute-mlp.py failed")

        let labels = try Tensor(NumPyFile.read(path: folder + "/labels.npy")).doubles
        let calibration = try CalibrationSet.load(path: folder + "/calibration.npz")
        func accuracy(_ sparsity: SparsifyOptions) throws -> Double {
            var request = RunRequest(modelPath: folder + "/mlp.onnx", inputs: [RunInput(name: "X", path: folder + "/heldout.npy")],
                                     outputDirectory: folder + "/out")
            request.sparsity = sparsity
            request.calibration = calibration
            let scores = try #require(try runModel(request).outputs.first?.tensor)
            let classes = scores.shape.last ?? 1
            let values = scores.doubles
            var correct = 0
            for (row, label) in labels.enumerated() {
                let slice = values[(row * classes)..<((row + 1) * classes)]
                if let best = slice.indices.max(by: { slice[$0] < slice[$1] }), Double(best - row * classes) == label { correct += 1 }
            }
            return Double(correct) / Double(labels.count)
        }
        let rows: [(String, SparsityAllocation.Mode, PruneMethod, [String])] = [
            ("2:4 on layers 1 and 2", .uniform(NMPattern(n: 2, m: 4)), .magnitude, ["coefficient2*"]),
            ("2:4 on layers 1 and 3", .uniform(NMPattern(n: 2, m: 4)), .magnitude, ["coefficient1*"]),
            ("auto, target density 0.6, sparsegpt", .targetDensity(0.6), .sparsegpt, []),
        ]
        var figures: [String] = []
        for (name, mode, prune, keepDense) in rows {
            let plain = try accuracy(options(mode, prune: prune, keepDense: keepDense, permute: false))
            let permuted = try accuracy(options(mode, prune: prune, keepDense: keepDense, permute: true))
            figures.append("\(name): \(plain) -> \(permuted) with --permute")
            #expect(permuted >= plain, "\(name): accuracy \(plain) without --permute, \(permuted) with it")
        }
        print("skl2onnx MLP, held-out accuracy: " + figures.joined(separator: "; "))
    }
}
