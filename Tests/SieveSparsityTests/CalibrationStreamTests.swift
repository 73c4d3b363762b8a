// Sequential statistics gathered by walking every calibration batch through the graph once give the
// same pruned weights, bit for bit, as running the model again for every layer; progress lines.

import Foundation
import SieveFormats
import SieveIR
import SieveInterpreter
@testable import SievePasses
import Testing

/// An attention-shaped block: Q, K and V read one input; their sum goes through ReLU into a two-layer
/// MLP whose second layer's input can be permuted (it comes from the first through a ReLU).
func sharedInputModel(seed: UInt64) -> Graph {
    var random = Random(seed)
    var graph = Graph(name: "block")
    let token = TensorType([2, 6, 32], .f32)
    let x = graph.addInput(token, name: "x")
    var projections: [ValueID] = []
    for name in ["q", "k", "v"] {
        let w = graph.appendConstant(weight(name, [32, 32], random.gaussians(32 * 32)))
        projections.append(graph.append(.matmul(transposeB: false), [x, w], token, name: name + "_out"))
    }
    let sum = graph.append(.binary(.add), [projections[0], projections[1]], token, name: "qk")
    let mixed = graph.append(.binary(.add), [sum, projections[2]], token, name: "qkv")
    let active = graph.append(.unary(.relu), [mixed], token, name: "r0")
    let w1 = graph.appendConstant(weight("up", [32, 64], random.gaussians(32 * 64)))
    let up = graph.append(.matmul(transposeB: false), [active, w1], TensorType([2, 6, 64], .f32), name: "up_out")
    let r1 = graph.append(.unary(.relu), [up], TensorType([2, 6, 64], .f32), name: "r1")
    let w2 = graph.appendConstant(weight("down", [64, 32], random.gaussians(64 * 32)))
    graph.outputs = [graph.append(.matmul(transposeB: false), [r1, w2], token, name: "y")]
    return graph
}

@Suite struct CalibrationStreamTests {
    /// Seven samples of [6, 32] tokens: three batches of two, one sample left over.
    func calibration() throws -> CalibrationSet {
        let samples = try correlatedSamples(samples: 7 * 6, features: 32, rank: 5,
                                            scales: (0..<32).map { 0.2 + Double($0 % 5) }, seed: 21)
        return CalibrationSet(samples: ["x": samples.retyped(TensorType([7, 6, 32], .f32))])
    }

    func legalize(_ graph: Graph, _ pass: NMLegalize, calibration: CalibrationSet,
                  progress: ProgressHandler? = nil) throws -> (Graph, PassContext) {
        var result = graph
        var context = PassContext()
        context.calibration = calibration
        context.progress = progress
        try pass.run(on: &result, context: &context)
        return (result, context)
    }

    @Test(arguments: [(PruneMethod.sparsegpt, false), (.sparsegpt, true), (.wanda, false), (.wanda, true)])
    func walkingOnceEqualsRunningTheModelPerLayer(method: PruneMethod, permute: Bool) throws {
        let graph = sharedInputModel(seed: 3)
        let pass = NMLegalize(method: method, pattern: NMPattern(n: 2, m: 4), permute: permute)
        var perLayer = pass
        perLayer.walkBudgetBytes = 0
        let calibration = try calibration()
        let (walked, walkedContext) = try legalize(graph, pass, calibration: calibration)
        let (rerun, _) = try legalize(graph, perLayer, calibration: calibration)
        #expect(walked.constants.entries.allSatisfy { NMPattern($0.type.layout) != nil })
        #expect(walked.constants.entries == rerun.constants.entries)
        #expect(walked == rerun)
        #expect(walkedContext.sparsity.notes.contains { $0.contains("statistics from 6 calibration samples") })
        if permute {
            #expect(walkedContext.sparsity.channelOrders["down"] != nil)
        }
    }

    @Test func qkvShareOneMeasurementThatEqualsTheirOwn() throws {
        let graph = sharedInputModel(seed: 4)
        let layers = PrunableLayers.find(in: graph)
        let q = try #require(layers.first { $0.name == "q" }), v = try #require(layers.first { $0.name == "v" })
        let up = try #require(layers.first { $0.name == "up" })
        #expect(q.readsInputLike(v))
        #expect(!q.readsInputLike(up))
        let collected = try CalibrationStatistics.collect(graph: graph, layers: [v], calibration: try calibration(), gram: true)
        var stream = try CalibrationStream(graph: graph, calibration: try calibration(), maxSamples: nil, budgetBytes: 1 << 20)
        try stream.advance(to: q.opIndex, in: graph)
        let walked = try CalibrationStatistics.collect(from: stream, layer: v, graph: graph, gram: true)
        let expected = try #require(collected.layers["v"])
        #expect(walked.sumSquares == expected.sumSquares)
        #expect(walked.gram == expected.gram)
        #expect(walked.rows == expected.rows && walked.rows == 6 * 6)
    }

    @Test func aWalkThatWouldNotFitIsRefused() throws {
        // One batch holds 2*6*32 floats of input and more of activations: 100 bytes cannot hold it.
        #expect(throws: CalibrationStream.TooLarge.self) {
            _ = try CalibrationStream(graph: sharedInputModel(seed: 5), calibration: try calibration(), maxSamples: nil, budgetBytes: 100)
        }
    }

    @Test func oneProgressLinePerPrunedLayer() throws {
        let lines = LineCollector(), updates = LineCollector()
        _ = try legalize(sharedInputModel(seed: 6), NMLegalize(method: .sparsegpt, pattern: NMPattern(n: 2, m: 4)),
                         calibration: try calibration()) { update in
            if let line = update.line { lines.add(line) } else { updates.add("\(update.done)/\(update.total ?? -1) \(update.detail)") }
        }
        let seen = lines.lines
        // Before each layer a status update says which layer is being pruned and how many are done.
        #expect(updates.lines.count == 5)
        #expect(updates.lines.first == "0/5 q 2:4 sparsegpt")
        #expect(updates.lines.last == "4/5 down 2:4 sparsegpt")
        #expect(seen.count == 5)
        #expect(seen.first?.hasPrefix("nm-legalize: 1/5 q [32x32] 2:4 sparsegpt: statistics ") == true)
        #expect(seen.last?.hasPrefix("nm-legalize: 5/5 down [32x64] 2:4 sparsegpt") == true)
    }

    @Test func holdingConstantsRunsTheSame() throws {
        let graph = sharedInputModel(seed: 7)
        var random = Random(8)
        let input = try tensor([2, 6, 32], random.gaussians(2 * 6 * 32))
        let held = try Interpreter(graph: graph, holdingConstants: true)
        #expect(try held.run([input]) == (try Interpreter(graph: graph).run([input])))
        #expect(try held.run([input]) == (try held.run([input])))
    }
}

/// Lines handed to a progress callback, from whichever thread calls it.
final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [String] = []
    func add(_ line: String) { lock.lock(); collected.append(line); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return collected }
}
