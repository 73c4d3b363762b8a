// Issue 14's accuracy bar on the bundled digits MLP: dense int8 and 2:4 (SparseGPT, calibrated) + int8 each within
// 0.5 points of the f32 dense accuracy on the 500 held-out digits, and the report naming every layer's scheme.

import Foundation
import SieveDriver
import SieveFormats
import SieveIR
import SieveInterpreter
import SievePasses
import Testing

@Suite struct QuantizedDigitsTests {
    @Test func int8AndTwoFourInt8OnTheBundledDigitsMLP() throws {
        var graph = try loadModel(path: exampleModel("mlp.onnx"), inputShapes: ["input": [20, 64]]).graph
        var context = PassContext()
        try PassManager(passes: Pipelines.cleanup + [TransposeWeights()]).run(on: &graph, context: &context) { _ in }
        let inputs = try Tensor(NumPyFile.read(path: exampleModel("mlp.eval.input.npy")))
        let labels = try #require(try Tensor(NumPyFile.read(path: exampleModel("mlp.eval.labels.npy"))).integers)
        let calibration = try CalibrationSet.load(path: exampleModel("mlp.calibration.npy"))
        let dense = try exampleAccuracy(graph, inputs: inputs, labels: labels)

        var int8 = graph
        var int8Context = PassContext()
        int8Context.calibration = calibration
        try PassManager(passes: [Quantize()]).run(on: &int8, context: &int8Context) { _ in }

        var sparse = graph
        var sparseContext = PassContext()
        sparseContext.calibration = calibration
        try PassManager(passes: Pipelines.sparsity(legalize: NMLegalize(method: .sparsegpt)) + [Quantize()])
            .run(on: &sparse, context: &sparseContext) { _ in }

        // Every one of the three layers is int8, its error measured on the calibration rows within the default budget.
        for records in [int8Context.quantization, sparseContext.quantization] {
            #expect(records.count == 3)
            #expect(records.allSatisfy { $0.scheme == "int8 dynamic" && $0.errorMeasure.hasPrefix("output") })
            #expect(records.allSatisfy { ($0.error ?? .infinity) <= Quantize.defaultMaxError })
            #expect(records.allSatisfy { $0.bytesAfter * 3 < $0.bytesBefore })
        }
        let int8Accuracy = try exampleAccuracy(int8, inputs: inputs, labels: labels)
        let sparseAccuracy = try exampleAccuracy(sparse, inputs: inputs, labels: labels)
        let figures = "dense f32 \(dense), dense int8 \(int8Accuracy), 2:4 sparsegpt + int8 \(sparseAccuracy)"
        print("bundled digits MLP, held-out accuracy: " + figures)
        #expect(dense - int8Accuracy <= 0.005, "\(figures)")
        #expect(dense - sparseAccuracy <= 0.005, "\(figures)")
    }

    @Test func compileReportShowsEveryLayersScheme() throws {
        var request = ModelCompileRequest(modelPath: exampleModel("mlp.onnx"))
        request.inputShapes = ["input": [1, 64]]
        request.quantize = QuantizeOptions()
        request.calibration = try CalibrationSet.load(path: exampleModel("mlp.calibration.npy"))
        request.reportOnly = true
        let report = try compileModel(request).report
        // The section runs to the next heading (the schedule's table follows it).
        let after = try #require(report.components(separatedBy: "## Quantization").dropFirst().first)
        let section = after.components(separatedBy: "\n## ").first ?? after
        let rows = section.split(separator: "\n").filter { $0.hasPrefix("| %") }
        #expect(rows.count == 3, "\(section)")
        #expect(rows.allSatisfy { $0.contains("int8 dynamic") && $0.contains("calibration rows") && $0.contains("→") }, "\(section)")
    }
}
