// Tests of sparsity-allocation: auto mode meets its error or density budget on calibration data,
// keep-dense and the small-layer rules leave layers dense with a reason, and pass options parse.

import Foundation
import SieveDriver
import SieveFormats
import SieveIR
import SieveInterpreter
import SievePasses
import Testing

/// A three-layer MLP on [4, 32] inputs: 32 -> 64 -> 64 -> 8, ReLU between, with Gaussian weights.
func threeLayerModel(seed: UInt64) -> Graph {
    var random = Random(seed)
    var graph = Graph(name: "mlp")
    let x = graph.addInput(TensorType([4, 32], .f32), name: "x")
    let w1 = graph.appendConstant(weight("fc1", [64, 32], random.gaussians(64 * 32, scale: 0.25)))
    let h1 = graph.append(.unary(.relu), [graph.append(.matmul(transposeB: true), [x, w1], TensorType([4, 64], .f32))], TensorType([4, 64], .f32))
    let w2 = graph.appendConstant(weight("fc2", [64, 64], random.gaussians(64 * 64, scale: 0.18)))
    let h2 = graph.append(.unary(.relu), [graph.append(.matmul(transposeB: true), [h1, w2], TensorType([4, 64], .f32))], TensorType([4, 64], .f32))
    let w3 = graph.appendConstant(weight("head", [8, 64], random.gaussians(8 * 64, scale: 0.18)))
    graph.outputs = [graph.append(.matmul(transposeB: true), [h2, w3], TensorType([4, 8], .f32), name: "y")]
    return graph
}

func calibrationFor(features: Int, samples: Int, seed: UInt64) throws -> CalibrationSet {
    let scales = (0..<features).map { 0.5 + Double($0 % 5) / 2 }
    return CalibrationSet(samples: ["x": try correlatedSamples(samples: samples, features: features, rank: 5, scales: scales, seed: seed)])
}

@Suite struct AllocationTests {
    @Test(arguments: [0.05, 0.15, 0.4])
    func autoWithAnErrorBoundMeetsIt(_ bound: Double) throws {
        let graph = threeLayerModel(seed: 1)
        let calibration = try calibrationFor(features: 32, samples: 64, seed: 3)
        let result = try sparsify(graph, options: SparsifyOptions(sparsity: .maxError(bound), prune: .wanda, minWeights: 256),
                                  calibration: calibration)
        let error = try #require(result.report.modelRelativeOutputError)
        #expect(error <= bound, "measured \(error) > bound \(bound)")
        #expect(result.report.layers.allSatisfy { !$0.sensitivity.isEmpty })
        if bound >= 0.15 {
            // Not vacuous: a loose bound lets some layer go sparse.
            #expect(result.report.parametersAfter < result.report.parametersBefore, "\(result.report.markdown())")
        }
        // The sparser the bound allows, the fewer weights: a looser bound never keeps more.
        let tighter = try sparsify(graph, options: SparsifyOptions(sparsity: .maxError(bound / 4), prune: .wanda, minWeights: 256),
                                   calibration: calibration)
        #expect(tighter.report.parametersAfter >= result.report.parametersAfter)
    }

    @Test(arguments: [0.3, 0.5, 0.7])
    func autoWithADensityTargetMeetsIt(_ target: Double) throws {
        let graph = threeLayerModel(seed: 2)
        let calibration = try calibrationFor(features: 32, samples: 32, seed: 4)
        let result = try sparsify(graph, options: SparsifyOptions(sparsity: .targetDensity(target), prune: .magnitude, minWeights: 256),
                                  calibration: calibration)
        let density = Double(result.report.parametersAfter) / Double(result.report.parametersBefore)
        #expect(density <= target, "density \(density) > target \(target)\n\(result.report.markdown())")
        // The curve ends at the chosen point, the first whose density reaches the target.
        let chosen = try #require(result.report.curve.last)
        #expect(chosen.chosen && chosen.density <= target && chosen.estimatedSpeedup == nil)
        #expect(result.report.curve.dropLast().allSatisfy { !$0.chosen && $0.density > target })
        for layer in result.report.layers where layer.pattern != "dense" {
            let constant = try #require(result.graph.constants.entries.first { $0.name == layer.name })
            #expect(NMPattern(constant.type.layout)?.description == layer.pattern)
        }
    }

    @Test func unreachableDensityTargetWarns() throws {
        let graph = threeLayerModel(seed: 2)
        let calibration = try calibrationFor(features: 32, samples: 8, seed: 4)
        let result = try sparsify(graph, options: SparsifyOptions(sparsity: .targetDensity(0.1), keepDense: ["fc2"], minWeights: 256),
                                  calibration: calibration)
        #expect(result.diagnostics.contains { $0.message.contains("out of reach") })
        #expect(result.report.layers.first { $0.name == "fc2" }?.pattern == "dense")
    }

    @Test func keepDenseAndSmallLayersStayDenseWithAReason() throws {
        let graph = threeLayerModel(seed: 1)
        let result = try sparsify(graph, options: SparsifyOptions(keepDense: ["fc*"], minWeights: 1024), calibration: nil)
        let reasons = Dictionary(uniqueKeysWithValues: result.report.layers.map { ($0.name, ($0.pattern, $0.reason)) })
        #expect(reasons["fc1"]?.0 == "dense" && reasons["fc1"]?.1 == "kept dense by keep-dense fc*")
        #expect(reasons["fc2"]?.0 == "dense")
        #expect(reasons["head"]?.0 == "dense" && reasons["head"]?.1.contains("too small: 512 weights < 1024") == true)
        let uniform = try sparsify(graph, options: SparsifyOptions(keepDense: ["head"], minWeights: 0), calibration: nil)
        #expect(uniform.report.layers.map(\.pattern) == ["2:4", "2:4", "dense"])
        #expect(uniform.report.parametersAfter == 1024 + 2048 + 512)
        #expect(uniform.report.bytesAfter == (1024 * 4 + 1024 * 2 / 8) + (2048 * 4 + 2048 * 2 / 8) + 512 * 4)
    }

    @Test func autoNeedsCalibration() {
        #expect(throws: DiagnosticError.self) {
            try sparsify(threeLayerModel(seed: 1), options: SparsifyOptions(sparsity: .maxError(0.1)), calibration: nil)
        }
    }

    @Test func passOptionsParseAndComplain() throws {
        let passes = try PassRegistry.parsePipeline("sparsity-allocation{sparsity=auto,max-error=0.05,keep-dense=a*,keep-dense=b},nm-legalize{prune=wanda},dce")
        #expect(passes.map(\.name) == ["sparsity-allocation", "nm-legalize", "dce"])
        let allocation = try #require(passes[0] as? SparsityAllocation)
        #expect(allocation.mode == .maxError(0.05) && allocation.keepDense == ["a*", "b"])
        #expect((passes[1] as? NMLegalize)?.method == .wanda)
        for bad in ["nm-legalize{prune=best}", "nm-legalize{colour=red}", "dce{x=1}", "nm-legalize{prune=wanda",
                    "sparsity-allocation{sparsity=auto}", "sparsity-allocation{sparsity=3:3}",
                    "sparsity-allocation{max-error=0.1,target-density=0.5}"] {
            #expect(throws: DiagnosticError.self, "\(bad)") { try PassRegistry.parsePipeline(bad) }
        }
        #expect(try SparsifyOptions.mode("auto", maxError: nil, targetDensity: 0.5) == .targetDensity(0.5))
        #expect(throws: DiagnosticError.self) { try SparsifyOptions.mode("2:4", maxError: 0.1, targetDensity: nil) }
    }

    @Test func globsMatchLikeAShell() {
        #expect(globMatches("fc*", "fc1"))
        #expect(globMatches("*.weight", "layer.3.weight"))
        #expect(globMatches("l?yer", "layer"))
        #expect(!globMatches("fc*", "head"))
        #expect(!globMatches("fc", "fc1"))
    }
}

@Suite struct SparsityReportTests {
    @Test func reportFilesHoldTheFiguresAndJSONReadsBack() throws {
        let graph = threeLayerModel(seed: 1)
        let calibration = try calibrationFor(features: 32, samples: 16, seed: 3)
        let result = try sparsify(graph, options: SparsifyOptions(prune: .wanda, keepDense: ["head"], minWeights: 0), calibration: calibration)
        let folder = try temporaryFolder()
        try result.report.write(toFolder: folder)
        let json = try Data(contentsOf: URL(fileURLWithPath: folder + "/report.json"))
        let decoded = try JSONDecoder().decode(SparsityReport.self, from: json)
        #expect(decoded == result.report)
        #expect(decoded.calibrationSamples == 16)
        let fc1 = try #require(decoded.layers.first { $0.name == "fc1" })
        #expect(fc1.pattern == "2:4" && fc1.method == "wanda" && fc1.parametersAfter == 1024 && fc1.bytesAfter == 1024 * 4 + 256)
        #expect((fc1.keptMagnitudeShare ?? 0) > 0.5 && (fc1.keptMagnitudeShare ?? 1) < 1)
        #expect((fc1.relativeOutputError ?? 0) > 0)
        #expect(decoded.layers.first { $0.name == "head" }?.reason == "kept dense by keep-dense head")
        let markdown = try String(contentsOfFile: folder + "/report.md", encoding: .utf8)
        #expect(markdown.contains("| fc1 | matmul | 64x32 | 2:4 | 0.5 | no | wanda |"))
        #expect(markdown.contains("model relative output error vs dense"))
    }
}

/// A batch-1 MLP whose products are large enough for the cost model to find 2:4 faster than dense: 256 -> 1024 ->
/// 1024 -> 64, ReLU between.
func wideModel(seed: UInt64) -> Graph {
    var random = Random(seed)
    var graph = Graph(name: "wide")
    var value = graph.addInput(TensorType([1, 256], .f32), name: "x")
    for (index, (outputs, inputs)) in [(1024, 256), (1024, 1024), (64, 1024)].enumerated() {
        let w = graph.appendConstant(weight("fc\(index + 1)", [outputs, inputs], random.gaussians(outputs * inputs, scale: 1 / Double(inputs).squareRoot())))
        value = graph.append(.matmul(transposeB: true), [value, w], TensorType([1, outputs], .f32), name: index == 2 ? "y" : nil)
        if index < 2 { value = graph.append(.unary(.relu), [value], TensorType([1, outputs], .f32)) }
    }
    graph.outputs = [value]
    return graph
}

/// `--target-speedup`: the allocation walks an error/speed curve by the cost model and stops at the first point
/// that reaches the target, so a higher target never costs less error, and an unreachable one says what limits it.
@Suite struct SpeedAllocationTests {
    func allocate(_ speedup: Double, keepDense: [String] = []) throws -> SparsifyResult {
        var options = SparsifyOptions(sparsity: .targetSpeedup(speedup), prune: .magnitude, keepDense: keepDense, minWeights: 1024)
        options.target = .x86_64_v3
        return try sparsify(wideModel(seed: 5), options: options, calibration: try calibrationFor(features: 256, samples: 8, seed: 6))
    }

    @Test func theChosenPointReachesTheTargetAtTheLeastErrorOfTheCurve() throws {
        let modest = try allocate(1.2), steep = try allocate(1.6)
        for (target, result) in [(1.2, modest), (1.6, steep)] {
            let curve = result.report.curve
            let chosen = try #require(curve.first { $0.chosen }, "\(result.report.markdown())")
            #expect(curve.filter(\.chosen).count == 1)
            #expect((chosen.estimatedSpeedup ?? 0) >= target, "\(result.report.markdown())")
            // The first point of the curve that reaches the target: every earlier one is slower.
            #expect(curve.prefix { !$0.chosen }.allSatisfy { ($0.estimatedSpeedup ?? 0) < target })
            // Along the curve every move trades error for speed: neither goes back.
            for (previous, next) in zip(curve, curve.dropFirst()) {
                #expect((next.estimatedSpeedup ?? 0) > (previous.estimatedSpeedup ?? 0) && (next.estimatedError ?? -1) >= (previous.estimatedError ?? 0))
            }
            #expect(curve.first?.step == 0 && curve.first?.estimatedSpeedup == 1 && curve.first?.density == 1)
            // The report's model error is that of the emitted graph, and the chosen point's measured error the same
            // allocation pruned by the same method.
            let measured = try #require(chosen.measuredError)
            let emitted = try #require(result.report.modelRelativeOutputError)
            #expect(abs(measured - emitted) <= 1e-9 * max(1, emitted), "curve \(measured), report \(emitted)")
            #expect(result.report.markdown().contains("◀ chosen"))
            #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        }
        let modestError = try #require(modest.report.modelRelativeOutputError)
        let steepError = try #require(steep.report.modelRelativeOutputError)
        #expect(steepError >= modestError)
        #expect(steep.report.parametersAfter <= modest.report.parametersAfter)
    }

    @Test func anUnreachableTargetWarnsAndSaysWhatLimitsIt() throws {
        let result = try allocate(20, keepDense: ["fc2"])
        let warning = try #require(result.diagnostics.first { $0.message.contains("target speed-up 20.0 is out of reach") })
        #expect(warning.message.contains("outside the prunable layers"))
        #expect(warning.message.contains("fc2"), "\(warning.message)")
        // Every layer the allocation could choose for is at its fastest step.
        #expect(result.report.layers.first { $0.name == "fc2" }?.pattern == "dense")
        #expect(result.report.curve.last?.chosen == true)
    }
}
