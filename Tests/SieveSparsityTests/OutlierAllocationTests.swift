// Tests of `--allocate owl`: OWL's outlier ratio and per-layer sparsities, and auto mode ranking layers by
// outliers under each budget: a layer with planted outliers is pruned less, the budgets hold on measured errors,
// and the report shows the ratios and a curve of measured points.

import SieveDriver
import SieveIR
import SievePasses
import Testing

/// Four 64 -> 64 layers with ReLU between on [4, 64] inputs; in `loud` a few weights are 25 times the rest.
func outlierModel(seed: UInt64, loud: String) -> Graph {
    var random = Random(seed)
    var graph = Graph(name: "outliers")
    var value = graph.addInput(TensorType([4, 64], .f32), name: "x")
    for index in 1...4 {
        let name = "fc\(index)"
        var values = random.gaussians(64 * 64, scale: 0.15)
        if name == loud {
            for position in stride(from: 7, to: values.count, by: 53) { values[position] *= 25 }
        }
        let w = graph.appendConstant(weight(name, [64, 64], values))
        value = graph.append(.matmul(transposeB: true), [value, w], TensorType([4, 64], .f32), name: index == 4 ? "y" : nil)
        if index < 4 { value = graph.append(.unary(.relu), [value], TensorType([4, 64], .f32)) }
    }
    graph.outputs = [value]
    return graph
}

@Suite struct OutlierAllocationTests {
    let owl = OutlierAllocation.default

    @Test func theRatioCountsScoresAboveTheThresholdTimesTheMean() {
        let scores = [Double](repeating: 1, count: 9) + [20]  // mean 2.9
        #expect(OutlierAllocation(threshold: 5, spread: 0.2).outlierRatio(scores) == 0.1)
        #expect(OutlierAllocation(threshold: 7, spread: 0.2).outlierRatio(scores) == 0)
        #expect(owl.outlierRatio([]) == 0 && owl.outlierRatio([0, 0]) == 0)
    }

    @Test func moreOutliersMeanLessSparsityAroundTheModelsMean() {
        let ratios = [0.0, 0.05, 0.1], weights = [100, 100, 200]
        let sparsities = owl.sparsities(ratios: ratios, weights: weights, sparsity: 0.5)
        #expect(sparsities[0] > sparsities[1] && sparsities[1] > sparsities[2])
        #expect(abs(sparsities[0] - sparsities[2] - 2 * owl.spread) < 1e-12)
        let mean = zip(sparsities, weights).reduce(0) { $0 + $1.0 * Double($1.1) } / 400
        #expect(abs(mean - 0.5) < 1e-12)
        #expect(owl.sparsities(ratios: [0.02, 0.02], weights: [1, 1], sparsity: 0.3) == [0.3, 0.3])
        // Clamped to 0...1 at the ends of the sweep.
        #expect(owl.sparsities(ratios: ratios, weights: weights, sparsity: 0).allSatisfy { (0...1).contains($0) })
        #expect(owl.sparsities(ratios: ratios, weights: weights, sparsity: 1).allSatisfy { (0...1).contains($0) })
    }

    @Test func thePathMovesOneLayerOneStepAtATimeFewestOutliersFirst() {
        // Three layers with options dense, 4:8, 2:4 (as sparse as 4:8, preferred less) and 1:4.
        let choices = [[Double]](repeating: [0, 0.5, 0.5, 0.75], count: 3)
        let preferred = [[Double]](repeating: [0, -8, -4, -4], count: 3)
        let ratios = [0.01, 0.03, 0.02]
        let path = OutlierAllocation.path(ratios: ratios, weights: [100, 100, 100], choices: choices, preferred: preferred,
                                          parameters: owl)
        #expect(path.first == [0, 0, 0] && path.last == [3, 3, 3] && path.count == 7)
        let sparsity = { (choice: [Int]) in choice.map { [0, 0.5, 0.5, 0.75][$0] } }
        for (before, after) in zip(path, path.dropFirst()) {
            #expect(zip(before, after).filter { $0 != $1 }.count == 1)
            #expect(!after.contains(2), "4:8 is preferred to 2:4 at the same sparsity")
            // Fewer outliers, never less sparse.
            let s = sparsity(after)
            #expect(s[0] >= s[2] && s[2] >= s[1], "\(path)")
        }
    }

    func allocate(_ mode: SparsityAllocation.Mode, loud: String = "fc3") throws -> SparsifyResult {
        // Magnitude pruning, so that nm-legalize prunes each layer as the allocation did and the measured errors
        // are the emitted graph's (Wanda's norms there come from the graph pruned up to the layer).
        var options = SparsifyOptions(sparsity: mode, prune: .magnitude, minWeights: 1024)
        options.ranking = .outliers(owl)
        return try sparsify(outlierModel(seed: 11, loud: loud), options: options,
                            calibration: try calibrationFor(features: 64, samples: 32, seed: 12))
    }

    @Test(arguments: ["fc2", "fc4"])
    func layersWithMoreOutliersArePrunedLessUnderADensityTarget(_ loud: String) throws {
        let result = try allocate(.targetDensity(0.7), loud: loud)
        let report = result.report
        let density = Double(report.parametersAfter) / Double(report.parametersBefore)
        #expect(density <= 0.7, "\(report.markdown())")
        // The planted weights make their layer's share of outliers larger than its producer's (whose outputs, large in
        // a few channels, raise the scores of the next layer too: outliers run along the network, as in OWL's LLMs).
        let ratios = try report.layers.map { try #require($0.outlierRatio) }
        let index = try #require(report.layers.firstIndex { $0.name == loud })
        #expect(ratios[index] > ratios[index - 1], "\(report.markdown())")
        if loud == "fc4" { #expect(ratios[index] == ratios.max()) }
        // OWL's rule: of two layers, the one with more outliers never keeps fewer weights; and the allocation is not uniform.
        for a in report.layers.indices {
            for b in report.layers.indices where ratios[a] > ratios[b] {
                #expect(report.layers[a].density >= report.layers[b].density, "\(report.markdown())")
            }
        }
        #expect(Set(report.layers.map(\.density)).count > 1, "\(report.markdown())")
        // No sensitivity runs; the curve's errors are measured, and the chosen one is the emitted graph's.
        #expect(report.layers.allSatisfy { $0.sensitivity.isEmpty })
        #expect(report.curve.allSatisfy { $0.estimatedError == nil })
        let chosen = try #require(report.curve.first { $0.chosen })
        #expect(report.curve.prefix { !$0.chosen }.allSatisfy { $0.density > 0.7 })
        let measured = try #require(chosen.measuredError), emitted = try #require(report.modelRelativeOutputError)
        #expect(abs(measured - emitted) <= 1e-9 * max(1, emitted), "curve \(measured), report \(emitted)")
        #expect(report.markdown().contains("Outlier ratios") && report.sparsity.contains("allocate owl"))
    }

    @Test func underAnErrorBoundTheLastPointThatFitsIsChosen() throws {
        let result = try allocate(.maxError(0.5))
        let curve = result.report.curve
        let chosen = try #require(curve.firstIndex { $0.chosen })
        #expect(try #require(curve[chosen].measuredError) <= 0.5)
        #expect(chosen > 0, "\(result.report.markdown())")  // not vacuous: something was pruned
        if chosen + 1 < curve.count {
            // The bisection measured the next point and found it over the bound.
            #expect(try #require(curve[chosen + 1].measuredError) > 0.5, "\(result.report.markdown())")
        }
        let error = try #require(result.report.modelRelativeOutputError)
        #expect(error <= 0.5)
    }

    @Test func underASpeedTargetTheFirstPointThatReachesItIsChosen() throws {
        var options = SparsifyOptions(sparsity: .targetSpeedup(1.2), prune: .magnitude, minWeights: 1024)
        options.target = .x86_64_v3
        options.ranking = .outliers(owl)
        let result = try sparsify(wideModel(seed: 5), options: options, calibration: try calibrationFor(features: 256, samples: 8, seed: 6))
        let curve = result.report.curve
        let chosen = try #require(curve.first { $0.chosen }, "\(result.report.markdown())")
        #expect((chosen.estimatedSpeedup ?? 0) >= 1.2)
        #expect(curve.prefix { !$0.chosen }.allSatisfy { ($0.estimatedSpeedup ?? 0) < 1.2 })
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
    }

    @Test func optionsParseOnTheCommandLineAndAsPassOptions() throws {
        #expect(try SparsityOptions.ranking(nil, threshold: nil, spread: nil) == .sensitivity)
        #expect(try SparsityOptions.ranking("owl", threshold: 7, spread: nil) == .outliers(OutlierAllocation(threshold: 7, spread: 0.1)))
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch let error as DiagnosticError { return error.diagnostics.first?.message ?? "" } catch { return "\(error)" }
        }
        #expect(message { _ = try SparsityOptions.ranking("sensitivity", threshold: 3, spread: nil) }
            == "--owl-threshold and --owl-spread go with --allocate owl")
        #expect(message { _ = try SparsityOptions.ranking("outliers", threshold: nil, spread: nil) }
            == "--allocate must be sensitivity or owl, found 'outliers'")
        #expect(message { _ = try SparsityOptions.ranking("owl", threshold: 0, spread: nil) }.hasPrefix("--owl-threshold is a multiple"))
        let pass = try #require(try PassRegistry.parsePipeline("sparsity-allocation{target-density=0.5,allocate=owl,owl-spread=0.3}").first
            as? SparsityAllocation)
        #expect(pass.ranking == .outliers(OutlierAllocation(threshold: 5, spread: 0.3)) && pass.mode == .targetDensity(0.5))
        #expect(message { _ = try PassRegistry.parsePipeline("sparsity-allocation{sparsity=auto,max-error=0.1,allocate=best}") }
            .hasPrefix("sparsity-allocation: allocate must be sensitivity or owl, found 'best'"))
    }
}
