// ONNX test-data folders as calibration for a token model: one sentence per folder, of different
// lengths, padded to the longest with their mask and then to the graph's sequence length.

import Foundation
import SieveDriver
import SieveFormats
import SieveIR
import SieveONNX
import Testing

@Suite struct CalibrationLoadingTests {
    /// Writes `test_data_set_<index>` with input_ids and attention_mask of one sentence.
    func writeDataSet(_ folder: URL, index: Int, ids: [Int64]) throws {
        let dataSet = folder.appendingPathComponent("test_data_set_\(index)")
        try FileManager.default.createDirectory(at: dataSet, withIntermediateDirectories: true)
        for (slot, (name, values)) in [("input_ids", ids), ("attention_mask", ids.map { _ in Int64(1) })].enumerated() {
            var proto = Onnx_TensorProto()
            proto.name = name
            proto.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
            proto.dims = [1, Int64(values.count)]
            proto.int64Data = values
            try proto.serializedData().write(to: dataSet.appendingPathComponent("input_\(slot).pb"))
        }
    }

    @Test func sentencesOfDifferentLengthsArePaddedWithTheirMask() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-calibration-\(UUID().uuidString)")
        try writeDataSet(folder, index: 0, ids: [101, 7, 102])
        try writeDataSet(folder, index: 1, ids: [101, 8, 9, 10, 102])
        var graph = Graph(name: "bert")
        let type = TensorType([1, 6], .i64)
        let ids = graph.addInput(type, name: "input_ids")
        _ = graph.addInput(type, name: "attention_mask")
        graph.outputs = [graph.append(.cast, [ids], TensorType([1, 6], .f32))]
        var seen: [[Double]] = []
        let summary = try loadCalibrationData(path: folder.path).forEachBatch(for: graph) { inputs in
            seen.append((inputs[0].doubles() ?? []) + (inputs[1].doubles() ?? []))
        }
        #expect(summary.samples == 2)
        #expect(seen == [[101, 7, 102, 0, 0, 0, 1, 1, 1, 0, 0, 0], [101, 8, 9, 10, 102, 0, 1, 1, 1, 1, 1, 0]])
    }
}
