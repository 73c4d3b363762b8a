// Calibration data as interpreter tensors: SieveFormats streams samples as typed bytes, and the
// passes (which run the interpreter on them) meet the two here, so neither library needs the other.

import SieveFormats
import SieveIR
import SieveInterpreter

extension CalibrationSet {
    /// Calibration from interpreter tensors in memory, keyed by graph input name, samples along the
    /// first axis; `origin` says where they came from in reports.
    public init(samples: [String: Tensor], origin: String = "in-memory tensors") {
        self.init(samples: samples.mapValues { $0.constant(name: "sample") }, origin: origin)
    }

    /// Calls `body` with one batch at a time as interpreter tensors, one per graph input in
    /// signature order (see `forEachBatch`, which this decodes).
    @discardableResult
    public func forEachTensorBatch(for graph: Graph, maxSamples: Int? = nil, stage: String = "calibration",
                                   _ body: ([Tensor]) throws -> Void) throws -> CalibrationSummary {
        try forEachBatch(for: graph, maxSamples: maxSamples, stage: stage) { batch in
            try body(try batch.map { constant throws(DiagnosticError) in try Tensor(constant) })
        }
    }
}
