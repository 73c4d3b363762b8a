// Tests of calibration loading: .npz keyed by input names, a bare .npy for one input, folders,
// samples stacked into the graph's batch size with the remainder counted, and clear refusals.

import Foundation
import SieveFormats
import SieveIR
import Testing

/// A graph with inputs a [2, 3] and b [2] returning a + b's broadcast... kept trivial: returns a.
func twoInputGraph() -> Graph {
    var graph = Graph(name: "two")
    let a = graph.addInput(TensorType([2, 3], .f32), name: "a")
    _ = graph.addInput(TensorType([2, 1], .f32), name: "b")
    graph.outputs = [graph.append(.unary(.relu), [a], TensorType([2, 3], .f32))]
    return graph
}

/// An f32 constant named `name` (an archive member or a graph input) with the given shape and values.
func tensor(_ name: String, _ shape: [Int], _ values: [Float]) throws -> Constant {
    let type = TensorType(shape, .f32)
    try #require(type.elementCount == values.count)
    return Constant.from(name: name, type: type, values: values.map(Double.init))
}

/// The elements of an f32 constant.
func floats(_ constant: Constant) -> [Float] {
    (constant.doubles() ?? []).map(Float.init)
}

@Suite struct CalibrationDataTests {
    @Test func npzMembersFeedInputsByNameAndSamplesStackAcrossFiles() throws {
        let folder = try temporaryFolder()
        // File 1: 3 samples, file 2: 2 samples -> 5 samples, batches of 2 -> 2 batches, 1 left over.
        try NumPyFile.writeArchive([try tensor("b", [3, 1], [10, 11, 12]), try tensor("a", [3, 3], (0..<9).map(Float.init))],
                                   path: folder + "/1.npz")
        try NumPyFile.writeArchive([try tensor("a", [2, 3], (9..<15).map(Float.init)), try tensor("b", [2, 1], [13, 14])],
                                   path: folder + "/2.npz")
        var seen: [[Float]] = []
        let summary = try CalibrationSet.load(path: folder).forEachBatch(for: twoInputGraph()) { inputs in
            #expect(inputs.map(\.type.shape) == [[2, 3], [2, 1]])
            seen.append(floats(inputs[0]) + floats(inputs[1]))
        }
        #expect(seen == [[0, 1, 2, 3, 4, 5, 10, 11], [6, 7, 8, 9, 10, 11, 12, 13]])
        #expect(summary.samples == 4 && summary.batches == 2 && summary.droppedSamples == 1)
    }

    @Test func bareNpyFeedsASingleInputAndSingleSamplesMayOmitTheBatchAxis() throws {
        var graph = Graph(name: "one")
        let x = graph.addInput(TensorType([1, 4], .f32), name: "x")
        graph.outputs = [graph.append(.unary(.relu), [x], TensorType([1, 4], .f32))]
        let folder = try temporaryFolder()
        try NumPyFile.write(try tensor("x", [3, 4], (0..<12).map(Float.init)), path: folder + "/a.npy")
        try NumPyFile.write(try tensor("x", [4], [20, 21, 22, 23]), path: folder + "/b.npy")
        var count = 0
        let summary = try CalibrationSet.load(path: folder).forEachBatch(for: graph, maxSamples: 3) { inputs in
            #expect(inputs[0].type.shape == [1, 4])
            count += 1
        }
        #expect(count == 3 && summary.samples == 3)
        let all = try CalibrationSet.load(path: folder).forEachBatch(for: graph) { _ in }
        #expect(all.samples == 4)
    }

    @Test func progressIsReportedAfterEveryBatch() throws {
        final class Steps: @unchecked Sendable {
            let lock = NSLock()
            var seen: [CalibrationProgress] = []
            func add(_ step: CalibrationProgress) { lock.lock(); seen.append(step); lock.unlock() }
        }
        let steps = Steps()
        var calibration = CalibrationSet(samples: ["a": try tensor("a", [6, 3], Array(repeating: 1, count: 18)),
                                                   "b": try tensor("b", [6, 1], Array(repeating: 2, count: 6))])
        calibration.progress = { steps.add($0) }
        try calibration.forEachBatch(for: twoInputGraph(), maxSamples: 5, stage: "test") { _ in }
        #expect(steps.seen.map(\.samples) == [2, 4])
        #expect(steps.seen.allSatisfy { $0.stage == "test" && $0.limit == 4 })
    }

    @Test func refusalsNameTheProblem() throws {
        let folder = try temporaryFolder()
        try NumPyFile.write(try tensor("x", [2, 3], Array(repeating: 0, count: 6)), path: folder + "/x.npy")
        do {
            _ = try CalibrationSet.load(path: folder + "/x.npy").forEachBatch(for: twoInputGraph()) { _ in }
            Issue.record("a bare .npy for a two-input graph must be refused")
        } catch let error as DiagnosticError {
            #expect(error.description.contains("one input"))
        }
        try NumPyFile.writeArchive([try tensor("a", [2, 4], Array(repeating: 0, count: 8)), try tensor("b", [2, 1], [0, 0])],
                                   path: folder + "/wrong.npz")
        do {
            _ = try CalibrationSet.load(path: folder + "/wrong.npz").forEachBatch(for: twoInputGraph()) { _ in }
            Issue.record("a wrong sample shape must be refused")
        } catch let error as DiagnosticError {
            #expect(error.description.contains("needs samples of shape [S, 3]"))
        }
        try NumPyFile.writeArchive([try tensor("a", [2, 3], Array(repeating: 0, count: 6))], path: folder + "/missing.npz")
        do {
            _ = try CalibrationSet.load(path: folder + "/missing.npz").forEachBatch(for: twoInputGraph()) { _ in }
            Issue.record("a missing input must be refused")
        } catch let error as DiagnosticError {
            #expect(error.description.contains("no member 'b'"))
        }
        #expect(throws: DiagnosticError.self) { try CalibrationSet.load(path: folder + "/absent.npz") }
        #expect(throws: DiagnosticError.self) { try CalibrationSet.load(path: try temporaryFolder()) }
    }
}
