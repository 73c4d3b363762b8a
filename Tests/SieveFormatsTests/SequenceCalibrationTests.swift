// Calibration data for models that read token sequences: int32 ids for int64 inputs, sequences of
// different lengths padded to the graph's with their mask, and what is refused.

import Foundation
import SieveFormats
import SieveIR
import Testing

/// A BERT-shaped signature: input_ids, attention_mask and token_type_ids, all [2, 5] i64.
func tokenGraph(maskName: String = "attention_mask") -> Graph {
    var graph = Graph(name: "bert")
    let type = TensorType([2, 5], .i64)
    let ids = graph.addInput(type, name: "input_ids")
    _ = graph.addInput(type, name: maskName)
    _ = graph.addInput(type, name: "token_type_ids")
    graph.outputs = [graph.append(.cast, [ids], TensorType([2, 5], .f32))]
    return graph
}

/// An integer constant of the given element type.
func integers(_ name: String, _ shape: [Int], _ values: [Int64], _ elementType: ElementType = .i64) -> Constant {
    Constant.from(name: name, type: TensorType(shape, elementType), values: values.map(Double.init))
}

@Suite struct SequenceCalibrationTests {
    @Test func shorterSequencesArePaddedWithTheirMaskAndInt32IdsWiden() throws {
        let folder = try temporaryFolder()
        // Two files of different lengths (3 and 4 tokens), ids stored as int32 as some tokenizers write them.
        try NumPyFile.writeArchive([integers("input_ids", [1, 3], [101, 7, 102], .i32),
                                    integers("attention_mask", [1, 3], [1, 1, 1], .i32),
                                    integers("token_type_ids", [1, 3], [0, 0, 0], .i32)], path: folder + "/a.npz")
        try NumPyFile.writeArchive([integers("input_ids", [2, 4], [101, 8, 9, 102, 101, 5, 102, 0]),
                                    integers("attention_mask", [2, 4], [1, 1, 1, 1, 1, 1, 1, 0]),
                                    integers("token_type_ids", [2, 4], [0, 0, 0, 0, 0, 0, 0, 0])], path: folder + "/b.npz")
        var batches: [[[Double]]] = []
        let summary = try CalibrationSet.load(path: folder).forEachBatch(for: tokenGraph()) { inputs in
            #expect(inputs.allSatisfy { $0.type == TensorType([2, 5], .i64) })
            batches.append(inputs.map { $0.doubles() ?? [] })
        }
        #expect(summary.samples == 2 && summary.droppedSamples == 1)
        #expect(batches.first?[0] == [101, 7, 102, 0, 0, 101, 8, 9, 102, 0])
        #expect(batches.first?[1] == [1, 1, 1, 0, 0, 1, 1, 1, 1, 0])
        #expect(batches.first?[2] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func aSingleUnbatchedSequenceIsPaddedToo() throws {
        let set = CalibrationSet(samples: ["input_ids": integers("s", [2], [101, 102]),
                                           "attention_mask": integers("s", [2], [1, 1]),
                                           "token_type_ids": integers("s", [2], [0, 0])])
        var var0: [Double] = []
        let summary = try set.forEachBatch(for: tokenGraph()) { inputs in var0 = inputs[0].doubles() ?? [] }
        // One sample is less than a batch of two: nothing runs, and it is counted.
        #expect(summary.samples == 0 && summary.droppedSamples == 1 && var0.isEmpty)
    }

    @Test func paddingNeedsAMaskAndLongerSequencesAreRefused() throws {
        let short = CalibrationSet(samples: ["input_ids": integers("s", [2, 3], [1, 2, 3, 4, 5, 6]),
                                             "segment_mask_free": integers("s", [2, 3], [1, 1, 1, 1, 1, 1]),
                                             "token_type_ids": integers("s", [2, 3], [0, 0, 0, 0, 0, 0])])
        #expect {
            try short.forEachBatch(for: tokenGraph(maskName: "segment_ids")) { _ in }
        } throws: { error in
            "\(error)".contains("no entry for input 'segment_ids'")
        }
        let unmasked = CalibrationSet(samples: ["input_ids": integers("s", [2, 3], [1, 2, 3, 4, 5, 6]),
                                                "segment_ids": integers("s", [2, 3], [1, 1, 1, 1, 1, 1]),
                                                "token_type_ids": integers("s", [2, 3], [0, 0, 0, 0, 0, 0])])
        #expect {
            try unmasked.forEachBatch(for: tokenGraph(maskName: "segment_ids")) { _ in }
        } throws: { error in
            "\(error)".contains("needs samples of shape [S, 5]")
        }
        let long = CalibrationSet(samples: ["input_ids": integers("s", [2, 6], Array(repeating: 1, count: 12)),
                                            "attention_mask": integers("s", [2, 6], Array(repeating: 1, count: 12)),
                                            "token_type_ids": integers("s", [2, 6], Array(repeating: 0, count: 12))])
        #expect {
            try long.forEachBatch(for: tokenGraph()) { _ in }
        } throws: { error in
            "\(error)".contains("sequences of 6, longer than the graph's 5")
        }
        let outOfRange = CalibrationSet(samples: ["x": integers("s", [1, 2], [300, 1], .i32)])
        var graph = Graph(name: "bytes")
        let x = graph.addInput(TensorType([1, 2], .u8), name: "x")
        graph.outputs = [graph.append(.cast, [x], TensorType([1, 2], .f32))]
        #expect {
            try outOfRange.forEachBatch(for: graph) { _ in }
        } throws: { error in
            "\(error)".contains("the i32 value 300 does not fit it")
        }
    }
}
