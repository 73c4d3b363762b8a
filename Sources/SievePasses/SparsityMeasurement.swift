// Measuring what sparsity costs: a dense reference run over a slice of the calibration set, kept in
// memory, against which the relative output error of any variant of the graph is computed.

import SieveFormats
import SieveIR
import SieveInterpreter
import SieveTarget

/// The dense model's outputs on some calibration batches, to compare pruned variants with.
public struct ReferenceRun: Sendable {
    /// The input batches, one tensor per graph input each.
    public var batches: [[Tensor]]
    /// The dense outputs of each batch.
    public var outputs: [[Tensor]]
    /// How many samples the batches hold.
    public var samples: Int

    /// Runs the graph over at most `maxSamples` calibration samples and keeps inputs and outputs.
    public static func record(graph: Graph, calibration: CalibrationSet, maxSamples: Int?) throws -> ReferenceRun {
        try Verifier.verify(graph, checks: Verifier.targetChecks)
        let interpreter = try Interpreter(graph: graph, holdingConstants: true)
        var batches: [[Tensor]] = []
        var outputs: [[Tensor]] = []
        let summary = try calibration.forEachTensorBatch(for: graph, maxSamples: maxSamples, stage: "dense reference outputs") { inputs in
            batches.append(inputs)
            outputs.append(try interpreter.run(inputs))
        }
        guard summary.samples > 0 else {
            throw DiagnosticError(.error(graph.location, "the calibration data held no whole batch for graph @\(graph.name); give at least \(graph.inputs.first.flatMap { graph.type(of: $0)?.shape.first } ?? 1) samples"))
        }
        return ReferenceRun(batches: batches, outputs: outputs, samples: summary.samples)
    }

    /// ||y - y_dense|| / ||y_dense|| over every float output element of every batch (Frobenius norms).
    public func relativeError(of graph: Graph) throws -> Double {
        let interpreter = try Interpreter(graph: graph, holdingConstants: true)
        var difference = 0.0, reference = 0.0
        for (inputs, expected) in zip(batches, outputs) {
            let actual = try interpreter.run(inputs)
            for (a, e) in zip(actual, expected) {
                accumulateSquares(a, e, difference: &difference, reference: &reference)
            }
        }
        return relativeNorm(difference, reference)
    }
}

/// Adds sum (a - e)^2 and sum e^2 over the elements of two tensors of one shape.
public func accumulateSquares(_ actual: Tensor, _ expected: Tensor, difference: inout Double, reference: inout Double) {
    let a = actual.doubles, e = expected.doubles
    for index in 0..<min(a.count, e.count) {
        let d = a[index] - e[index]
        difference += d * d
        reference += e[index] * e[index]
    }
}

/// sqrt(difference / reference), 0 when both are 0, infinity when only the reference is 0.
public func relativeNorm(_ difference: Double, _ reference: Double) -> Double {
    if reference == 0 { return difference == 0 ? 0 : .infinity }
    return (difference / reference).squareRoot()
}
