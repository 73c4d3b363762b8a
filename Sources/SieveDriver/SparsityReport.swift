// The sparsity report: per layer what was chosen and what it cost, and the whole model's output error
// against the dense model on calibration data; written as report.md for people and report.json for tools.

import Foundation
import SieveFormats
import SieveIR
import SieveInterpreter
import SievePasses

/// What sparsification did to a model, layer by layer.
public struct SparsityReport: Codable, Hashable, Sendable {
    /// One prunable layer.
    public struct Layer: Codable, Hashable, Sendable {
        /// The weight's name.
        public var name: String
        /// The op reading the weight.
        public var op: String
        /// The weight's shape before sparsification.
        public var shape: [Int]
        /// `N:M`, or `dense`.
        public var pattern: String
        /// Why this pattern (or why dense).
        public var reason: String
        /// Stored weights after / before (N/M for an nm layer, 1 when dense).
        public var density: Double
        /// Whether the weight already satisfied the pattern and was kept losslessly.
        public var alreadyNM: Bool
        /// The pruning method applied, nil when nothing was pruned.
        public var method: String?
        /// Sum of |w| over kept weights / sum of |w|, original weights; nil when dense.
        public var keptMagnitudeShare: Double?
        /// ||y_sparse - y_dense|| / ||y_dense|| of this layer's output on calibration inputs of the
        /// dense model; nil without calibration or when the layer stayed dense.
        public var relativeOutputError: Double?
        /// Relative model output error with this layer alone pruned, by candidate (auto mode only).
        public var sensitivity: [String: Double]
        /// The layer's share of outlier weights by OWL's rule (auto mode with `--allocate owl` only).
        public var outlierRatio: Double? = nil
        /// Weights stored before and after (kept values for nm).
        public var parametersBefore: Int, parametersAfter: Int
        /// Bytes of the constant before and after (values plus indices for nm).
        public var bytesBefore: Int, bytesAfter: Int
    }

    /// The graph's name.
    public var model: String
    /// The sparsity asked for (`2:4`, `auto max-error 0.05`, ...).
    public var sparsity: String
    /// The pruning method asked for.
    public var prune: String
    /// Where calibration data came from, nil when there was none.
    public var calibration: String?
    /// Calibration samples the error figures were measured on.
    public var calibrationSamples: Int
    /// ||y_sparse - y_dense|| / ||y_dense|| over all model outputs on calibration data; nil without calibration.
    public var modelRelativeOutputError: Double?
    /// Every prunable layer, in graph order.
    public var layers: [Layer]
    /// Totals over the prunable layers.
    public var parametersBefore: Int, parametersAfter: Int, bytesBefore: Int, bytesAfter: Int
    /// Remarks on the whole run.
    public var notes: [String]
    /// The error/density (and with `--target-speedup` speed) curve auto allocation walked, with the chosen point
    /// (empty in uniform mode).
    public var curve: [AllocationPoint] = []

    /// Builds the report from the graph before and after the sparsity passes and their log.
    ///
    /// With calibration data, each sparsified layer's output error is measured on the dense model's
    /// activations, and the whole model's output error against the dense model.
    public static func build(original: Graph, sparse: Graph, log: SparsityLog, sparsity: String, prune: String,
                             calibration: CalibrationSet?, maxSamples: Int?) throws -> SparsityReport {
        let before = PrunableLayers.find(in: original)
        let after = Dictionary(PrunableLayers.find(in: sparse).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let records = Dictionary(log.records.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var layers: [Layer] = []
        for layer in before {
            guard let old = original.constants[layer.constant] else { continue }
            let newLayer = after[layer.name]
            let new = newLayer.flatMap { sparse.constants[$0.constant] } ?? old
            let record = records[layer.name]
            let pattern = NMPattern(new.type.layout)
            let parametersAfter = pattern.map { NMPacking.keptCount(layer.matrix, $0) } ?? layer.weightCount
            let parametersBefore = NMPattern(old.type.layout).map { NMPacking.keptCount(layer.matrix, $0) } ?? layer.weightCount
            layers.append(Layer(
                name: layer.name, op: original.operations[layer.opIndex].kind.mnemonic, shape: old.type.shape,
                pattern: pattern?.description ?? "dense",
                reason: record?.reason ?? (pattern == nil ? "not selected" : "stored as nm in the input"),
                density: Double(parametersAfter) / Double(max(1, layer.weightCount)),
                alreadyNM: record?.alreadyNM ?? (NMPattern(old.type.layout) != nil),
                method: record?.method?.rawValue, keptMagnitudeShare: pattern == nil ? nil : record?.keptMagnitudeShare,
                relativeOutputError: nil, sensitivity: record?.sensitivity ?? [:], outlierRatio: record?.outlierRatio,
                parametersBefore: parametersBefore, parametersAfter: parametersAfter,
                bytesBefore: old.bytes.count, bytesAfter: new.bytes.count))
        }
        var report = SparsityReport(
            model: original.name, sparsity: sparsity, prune: prune, calibration: calibration?.origin, calibrationSamples: 0,
            modelRelativeOutputError: nil, layers: layers,
            parametersBefore: layers.reduce(0) { $0 + $1.parametersBefore }, parametersAfter: layers.reduce(0) { $0 + $1.parametersAfter },
            bytesBefore: layers.reduce(0) { $0 + $1.bytesBefore }, bytesAfter: layers.reduce(0) { $0 + $1.bytesAfter },
            notes: log.notes, curve: log.curve)
        if let calibration {
            try report.measure(original: original, sparse: sparse, channelOrders: log.channelOrders, calibration: calibration,
                               maxSamples: maxSamples)
        } else {
            report.notes.append("no calibration data: only magnitude pruning is available, and no output errors were measured")
        }
        return report
    }

    /// Measures per-layer and whole-model relative output errors on calibration data: the model's on
    /// `sparse` itself, the graph that goes on to be emitted; a layer's with its sparse weight put
    /// back into the dense model's channel order (`channelOrders`), since it is fed the dense model's
    /// operands and compared with its output there.
    mutating func measure(original: Graph, sparse: Graph, channelOrders: [String: ChannelOrder], calibration: CalibrationSet,
                          maxSamples: Int?) throws {
        // Per layer: the op as it reads its weight in the sparse graph, fed the dense model's operands.
        struct Probe {
            var kind: OpKind
            var weight: Tensor
            var resultType: TensorType
            var operands: [ValueID]
            var difference = 0.0, reference = 0.0
        }
        let sparseLayers = Dictionary(PrunableLayers.find(in: sparse).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var probes: [ValueID: Probe] = [:]
        var names: [ValueID: String] = [:]
        var wanted: Set<ValueID> = []
        for layer in PrunableLayers.find(in: original) {
            // Only layers made N:M: a dense weight that a permutation merely reordered lost nothing.
            guard let target = sparseLayers[layer.name], let constant = sparse.constants[target.constant],
                  NMPattern(constant.type.layout) != nil, constant != original.constants[layer.constant],
                  let result = original.operations[layer.opIndex].results.first else { continue }
            let op = original.operations[layer.opIndex]
            var weight = try Tensor(constant)
            if let order = channelOrders[layer.name] {
                weight = try Tensor(SparsityReport.originalOrder(of: sparse, target, order))
            }
            probes[result] = Probe(kind: sparse.operations[target.opIndex].kind, weight: weight,
                                   resultType: original.values[result.index].type, operands: op.operands)
            names[result] = layer.name
            for (slot, operand) in op.operands.enumerated() where slot != 1 { wanted.insert(operand) }
        }
        let dense = try Interpreter(graph: original, holdingConstants: true)
        let pruned = try Interpreter(graph: sparse, holdingConstants: true)
        var modelDifference = 0.0, modelReference = 0.0
        var kept: [ValueID: Tensor] = [:]
        var failure: (any Error)?
        let summary = try calibration.forEachTensorBatch(for: original, maxSamples: maxSamples, stage: "report: output errors") { inputs in
            kept.removeAll()
            let expected = try dense.run(inputs) { id, _, tensor in
                if wanted.contains(id) { kept[id] = tensor }
                guard failure == nil, var probe = probes[id] else { return }
                var operands: [Tensor] = []
                for (slot, operand) in probe.operands.enumerated() {
                    if slot == 1 { operands.append(probe.weight) } else if let value = kept[operand] { operands.append(value) }
                }
                do {
                    let actual = try Interpreter.evaluate(probe.kind, operands: operands, resultType: probe.resultType,
                                                          constants: sparse.constants)
                    accumulateSquares(actual, tensor, difference: &probe.difference, reference: &probe.reference)
                } catch {
                    failure = error
                }
                probes[id] = probe
            }
            if let failure { throw failure }
            let actual = try pruned.run(inputs)
            for (a, e) in zip(actual, expected) {
                accumulateSquares(a, e, difference: &modelDifference, reference: &modelReference)
            }
        }
        calibrationSamples = summary.samples
        modelRelativeOutputError = relativeNorm(modelDifference, modelReference)
        for (id, probe) in probes {
            guard let name = names[id], let index = layers.firstIndex(where: { $0.name == name }) else { continue }
            layers[index].relativeOutputError = relativeNorm(probe.difference, probe.reference)
        }
        if summary.droppedSamples > 0 {
            notes.append("\(summary.droppedSamples) calibration samples after the last whole batch were not used")
        }
    }

    /// The layer's weight in `sparse` with its rows and columns put back in the original channel order,
    /// as a dense constant stored as the sparse op reads it.
    static func originalOrder(of sparse: Graph, _ layer: PrunableLayer, _ order: ChannelOrder) throws -> Constant {
        var values = try order.restoring(PrunableLayers.weightMatrix(sparse, layer), of: layer)
        var shape = layer.weightType.shape
        if case .matrix(transposed: false, _) = layer.access {
            // Stored [I, O].
            let (rows, columns) = (layer.matrix.rows, layer.matrix.reduction)
            values = (0..<(rows * columns)).map { index in values[(index % rows) * columns + index / rows] }
            shape = [columns, rows]
        }
        return Constant.from(name: layer.name, type: TensorType(shape, layer.weightType.elementType), values: values)
    }

    /// The report as pretty-printed JSON with sorted keys.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }

    /// The report as Markdown: a summary, a table of layers, and the notes.
    public func markdown() -> String {
        func number(_ value: Double?) -> String {
            guard let value else { return "–" }
            if !value.isFinite { return "\(value)" }
            return String(format: "%.4g", value)
        }
        var lines = ["# Sparsity report: \(model)", ""]
        lines.append("- sparsity: \(sparsity), pruning: \(prune)")
        lines.append("- calibration: \(calibration.map { "\($0), \(calibrationSamples) samples" } ?? "none (only magnitude pruning is available; no errors measured)")")
        lines.append("- model relative output error vs dense: \(number(modelRelativeOutputError))")
        lines.append("- prunable weights: \(parametersBefore) → \(parametersAfter) (\(number(Double(parametersAfter) / Double(max(1, parametersBefore)))))")
        lines.append("- bytes: \(bytesBefore) → \(bytesAfter) (\(number(Double(bytesAfter) / Double(max(1, bytesBefore)))))")
        lines.append("")
        lines.append("| layer | op | shape | pattern | density | already N:M | method | kept magnitude | layer error | params before → after | bytes before → after | reason |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for layer in layers {
            let shape = layer.shape.map(String.init).joined(separator: "x")
            lines.append("| \(layer.name) | \(layer.op) | \(shape) | \(layer.pattern) | \(number(layer.density)) | \(layer.alreadyNM ? "yes" : "no") | \(layer.method ?? "–") | \(number(layer.keptMagnitudeShare)) | \(number(layer.relativeOutputError)) | \(layer.parametersBefore) → \(layer.parametersAfter) | \(layer.bytesBefore) → \(layer.bytesAfter) | \(layer.reason) |")
        }
        let ranked = layers.filter { $0.outlierRatio != nil }
        if !ranked.isEmpty {
            lines += ["", "Outlier ratios (share of weights whose Wanda score exceeds the threshold times the layer's mean; OWL prunes layers with more of them less):", ""]
            lines += ranked.map { "- \($0.name): \(number($0.outlierRatio))" }
        }
        let sensitive = layers.filter { !$0.sensitivity.isEmpty }
        if !sensitive.isEmpty {
            lines += ["", "Sensitivity (relative model output error with the layer alone pruned):", ""]
            for layer in sensitive {
                let entries = layer.sensitivity.sorted { $0.key < $1.key }.map { "\($0.key): \(number($0.value))" }
                lines.append("- \(layer.name): " + entries.joined(separator: ", "))
            }
        }
        if !curve.isEmpty {
            lines += ["", "Allocation curve (from dense: greedy moves by sensitivity, or OWL's allocations as the model sparsity grows; speed-ups are the cost model's estimate, estimated errors the sum of the moved layers' sensitivities, measured errors on calibration where given):", "",
                      "| step | estimated speed-up | density | estimated error | measured error | chosen |", "| ---: | ---: | ---: | ---: | ---: | --- |"]
            for point in curve {
                lines.append("| \(point.step) | \(number(point.estimatedSpeedup)) | \(number(point.density)) | \(number(point.estimatedError)) | \(number(point.measuredError)) | \(point.chosen ? "◀ chosen" : "") |")
            }
        }
        if !notes.isEmpty {
            lines += ["", "Notes:", ""]
            lines += notes.map { "- " + $0 }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes `report.md` and `report.json` into a folder, each atomically.
    public func write(toFolder folder: String) throws {
        try Files.writeAtomically(Array(markdown().utf8), to: folder + "/report.md")
        try Files.writeAtomically(Array(try json().utf8), to: folder + "/report.json")
    }
}
