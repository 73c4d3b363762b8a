// Hostile sizes in the ops of issue #12 through the built `sieve` binary under an address-space limit: absurd
// Pad widths, Range lengths, Resize and Upsample scales, Tile repeats, recurrent sizes and TopK k end in exit 1
// with one diagnostic naming the node, before anything of the claimed size is allocated.

import Foundation
import SieveONNX
import SieveONNXTestSupport
import SwiftProtobuf
import Testing

/// A one-node model: `inputs` as float32 graph inputs of the given shapes, `initializers` as graph initializers,
/// the node's outputs as graph outputs (with no type declared, as a hostile model may).
func oneNodeModel(_ opType: String, inputs: [(String, [Int64])], initializers: [Onnx_TensorProto], nodeInputs: [String],
                  outputs: [String], attributes: [Onnx_AttributeProto] = [], opset: Int64 = 17) throws -> Data {
    try modelProto(nodes: [node(opType, nodeInputs, outputs, name: "hostile_\(opType.lowercased())", attributes)],
                   inputs: inputs.map { name, shape in valueInfo(name, ONNXType.float, shape.map { .size($0) }) },
                   outputs: outputs, initializers: initializers, opset: opset).serializedData()
}

/// One hostile model and what its single diagnostic must say.
struct HostileOperatorCase: Sendable, CustomStringConvertible {
    var description: String
    var expected: String
    var make: @Sendable () throws -> Data
}

/// Small recurrent weights [1, gates * 2, inputs] and [1, gates * 2, 2]: the sizes are claimed elsewhere.
func recurrentWeights(gates: Int64, inputs: Int64) -> [Onnx_TensorProto] {
    [floatTensor("W", [1, gates * 2, inputs], Array(repeating: 0.1, count: Int(gates * 2 * inputs))),
     floatTensor("R", [1, gates * 2, 2], Array(repeating: 0.1, count: Int(gates * 4)))]
}

let hostileOperatorCases: [HostileOperatorCase] = [
    HostileOperatorCase(description: "Pad width (opset 17 input)", expected: "absurd") {
        try oneNodeModel("Pad", inputs: [("x", [1, 4])], initializers: [int64Tensor("pads", [4], [0, 1 << 40, 0, 0])],
                         nodeInputs: ["x", "pads"], outputs: ["y"])
    },
    HostileOperatorCase(description: "Pad width (opset 7 attribute)", expected: "absurd") {
        try oneNodeModel("Pad", inputs: [("x", [1, 4])], initializers: [], nodeInputs: ["x"], outputs: ["y"],
                         attributes: [intsAttribute("pads", [0, 1 << 40, 0, 0])], opset: 7)
    },
    HostileOperatorCase(description: "Pad result", expected: "absurd") {
        try oneNodeModel("Pad", inputs: [("x", [1, 4])], initializers: [int64Tensor("pads", [4], [1 << 30, 1 << 30, 0, 0])],
                         nodeInputs: ["x", "pads"], outputs: ["y"])
    },
    HostileOperatorCase(description: "Range length", expected: "elements") {
        try oneNodeModel("Range", inputs: [], initializers: [int64Tensor("start", [], [0]), int64Tensor("limit", [], [1 << 50]),
                                                             int64Tensor("delta", [], [1])],
                         nodeInputs: ["start", "limit", "delta"], outputs: ["y"])
    },
    HostileOperatorCase(description: "Resize scales", expected: "absurd") {
        try oneNodeModel("Resize", inputs: [("x", [1, 1, 4, 4])], initializers: [floatTensor("scales", [4], [1, 1, 1e6, 1e6])],
                         nodeInputs: ["x", "", "scales"], outputs: ["y"])
    },
    HostileOperatorCase(description: "Resize sizes", expected: "absurd") {
        try oneNodeModel("Resize", inputs: [("x", [1, 1, 4, 4])], initializers: [int64Tensor("sizes", [4], [1, 1, 1 << 40, 4])],
                         nodeInputs: ["x", "", "", "sizes"], outputs: ["y"])
    },
    HostileOperatorCase(description: "Upsample scales (opset 7 attribute)", expected: "absurd") {
        try oneNodeModel("Upsample", inputs: [("x", [1, 1, 4, 4])], initializers: [], nodeInputs: ["x"], outputs: ["y"],
                         attributes: [floatsAttribute("scales", [1, 1, 1e6, 1e6])], opset: 7)
    },
    HostileOperatorCase(description: "Tile repeats", expected: "absurd") {
        try oneNodeModel("Tile", inputs: [("x", [1, 4])], initializers: [int64Tensor("repeats", [2], [1 << 20, 1 << 20])],
                         nodeInputs: ["x", "repeats"], outputs: ["y"])
    },
    HostileOperatorCase(description: "LSTM hidden_size", expected: "hidden_size 1099511627776 is absurd") {
        try oneNodeModel("LSTM", inputs: [("x", [3, 1, 4])], initializers: recurrentWeights(gates: 4, inputs: 4),
                         nodeInputs: ["x", "W", "R"], outputs: ["y"], attributes: [intAttribute("hidden_size", 1 << 40)])
    },
    HostileOperatorCase(description: "GRU timesteps", expected: "more than the limit of 4096") {
        try oneNodeModel("GRU", inputs: [("x", [1 << 30, 1, 4])], initializers: recurrentWeights(gates: 3, inputs: 4),
                         nodeInputs: ["x", "W", "R"], outputs: ["y"], attributes: [intAttribute("hidden_size", 2)])
    },
    HostileOperatorCase(description: "RNN state", expected: "larger than") {
        try oneNodeModel("RNN", inputs: [("x", [2, 1 << 30, 4])], initializers: recurrentWeights(gates: 1, inputs: 4),
                         nodeInputs: ["x", "W", "R"], outputs: ["y"], attributes: [intAttribute("hidden_size", 2)])
    },
    HostileOperatorCase(description: "TopK k (opset 17 input)", expected: "out of range") {
        try oneNodeModel("TopK", inputs: [("x", [2, 8])], initializers: [int64Tensor("k", [1], [1 << 40])],
                         nodeInputs: ["x", "k"], outputs: ["values", "indices"])
    },
    HostileOperatorCase(description: "TopK k (opset 7 attribute)", expected: "out of range") {
        try oneNodeModel("TopK", inputs: [("x", [2, 8])], initializers: [], nodeInputs: ["x"], outputs: ["values", "indices"],
                         attributes: [intAttribute("k", 1 << 40)], opset: 7)
    },
]

extension ReliabilityTests {
    /// Each hostile model, read by `sieve inspect` and `sieve compile` under the 4 GiB limit: exit 1, not a
    /// crash, one diagnostic naming the node and saying what is wrong, and no artifact folder.
    @Test(arguments: hostileOperatorCases)
    func absurdOperatorSizesEndInOneDiagnostic(_ hostile: HostileOperatorCase) throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = folder.appendingPathComponent("hostile.onnx")
        try hostile.make().write(to: model)
        let output = folder.appendingPathComponent("out")
        for arguments in [["inspect", model.path], ["compile", model.path, "-o", output.path]] {
            let outcome = try runSieveLimited(arguments)
            #expect(outcome.status == 1 && !outcome.crashed && !outcome.timedOut, "\(hostile) \(arguments[0]): \(outcome.stderr)")
            let errors = errorLines(outcome.stderr)
            #expect(errors.count == 1, "\(hostile) \(arguments[0]): \(outcome.stderr)")
            #expect(errors.first.map { $0.contains("'hostile_") && $0.contains(hostile.expected) } == true,
                    "\(hostile) \(arguments[0]): \(outcome.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }
}
