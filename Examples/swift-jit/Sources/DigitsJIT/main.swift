// Compiles the digits MLP (Examples/models/mlp.onnx, or the model given) in process, 2:4 sparse, and classifies the
// held-out digits of Examples/models (or the .npy given), printing the accuracy when the labels are there.
//
//     swift run --package-path Examples/swift-jit DigitsJIT [MODEL.onnx INPUT.npy [LABELS.npy]]

import Foundation
import SieveJIT

let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../models").standardized
let arguments = CommandLine.arguments.dropFirst().map { URL(fileURLWithPath: $0) }
let modelFile = arguments.first ?? models.appendingPathComponent("mlp.onnx")
let inputFile = arguments.dropFirst().first ?? models.appendingPathComponent("mlp.eval.input.npy")
let labelsFile = arguments.count > 2 ? arguments[2] : (arguments.isEmpty ? models.appendingPathComponent("mlp.eval.labels.npy") : nil)

do {
    let input = try Tensor(numPyFile: inputFile)
    // The model's batch dimension is open: compile for the whole file at once.
    let model = try Model(contentsOf: modelFile, options: Options(inputShapes: ["input": input.shape], sparsity: "2:4", threads: 2))
    print("compiled \(modelFile.lastPathComponent): \(model.inputs.map(\.description).joined(separator: ", ")) -> \(model.outputs.map(\.description).joined(separator: ", "))")
    let outputs = try model.run([input])
    let probabilities = try outputs[0].elements(as: Float.self)
    let classes = outputs[0].shape.last ?? 1
    let predicted = stride(from: 0, to: probabilities.count, by: classes).map { row in
        (0..<classes).max { probabilities[row + $0] < probabilities[row + $1] } ?? 0
    }
    print("classes of the first rows: \(predicted.prefix(10).map(String.init).joined(separator: " "))")
    if let labelsFile {
        let labels = try Tensor(numPyFile: labelsFile).elements(as: Int64.self)
        let correct = zip(predicted, labels).filter { Int64($0) == $1 }.count
        print("accuracy \(String(format: "%.4f", Double(correct) / Double(max(1, labels.count)))) on \(labels.count) digits")
    }
} catch {
    print("digits-jit: \(error)")
    exit(1)
}
