// quantize: turns matrix products over constant f32 weights into dynamic int8 products (`DynamicInt8`):
// i8 weights, symmetric per output channel, activations quantized per row at run time; lossy, measured per layer.
//
// Options: `quantize{max-error=E}`, the largest relative error a layer may add (layers above it stay f32),
// `samples=N` calibration samples the error is measured on. With calibration data the error is the layer's
// relative output error ||y_int8 - y_f32|| / ||y_f32|| on its own calibration inputs (at most `errorRows` rows,
// each layer quantized alone); without it, the relative
// error of the dequantized weight, which leaves out the activations' rounding (the report says which).
// Runs after nm-legalize: the kept values of an N:M weight are what gets quantized, its indices stay.
//
// `activations=static` quantizes activations with a scale and zero point fixed at compile time instead: an observer
// (`observer=minmax`, the range of the layer's calibration inputs, or `percentile`, its 0.01th and 99.99th
// percentiles) reads the same calibration rows the error is measured on, and a `quantize` op to u8 feeds the
// product, which is then the static form of `DynamicInt8`. It needs calibration data. Where an int8 product computes
// those activations, the quantize becomes its last epilogue step (`Fuse.foldRequantization`): it writes u8 itself.

import SieveIR
import SieveInterpreter

/// What the quantize pass did to one layer, for the compile report.
public struct LayerQuantizationRecord: Hashable, Sendable {
    /// The weight's name.
    public var name: String
    /// The product's result name.
    public var layer: String
    /// "int8 dynamic", "int8 static" or "f32".
    public var scheme: String
    /// With static activations: the observer and the activations' scale and zero point.
    public var activations: StaticActivations?
    /// Why it stays f32, or nil.
    public var reason: String?
    /// The smallest and largest per-channel weight scale.
    public var scaleRange: ClosedRange<Float>?
    /// The measured relative error, nil when not measured.
    public var error: Double?
    /// What the error was measured on: the layer's output on calibration rows, or the weight alone.
    public var errorMeasure: String
    /// Weight bytes before (f32, dense or nm) and after (i8 values, nm indices and a 4-byte scale per channel).
    public var bytesBefore: Int, bytesAfter: Int
}

/// How static activations were quantized: which observer chose the range, and the parameters it gave.
public struct StaticActivations: Hashable, Sendable {
    /// "minmax" or "percentile 99.99".
    public var observer: String
    /// The u8 scale and zero point of the layer's input.
    public var scale: Float, zeroPoint: Int64
}

/// Where activation scales come from.
public enum ActivationScales: String, Hashable, Sendable, CaseIterable {
    /// Computed from each row at run time (`DynamicInt8`, per row).
    case dynamic
    /// Fixed at compile time from calibration data by an observer.
    case `static`
}

/// How a static activation range is observed on calibration data.
public enum RangeObserver: String, Hashable, Sendable, CaseIterable {
    /// The smallest and largest value.
    case minmax
    /// The 0.01th and 99.99th percentiles, which leave outliers to saturate.
    case percentile

    /// The name the report gives.
    public var reportName: String { self == .minmax ? "minmax" : "percentile 99.99" }

    /// The range of `values` this observer reports, widened to include 0 (as a u8 zero point needs).
    public func range(_ values: [Float]) -> (low: Float, high: Float) {
        let finite = values.filter(\.isFinite)
        guard !finite.isEmpty else { return (0, 0) }
        switch self {
        case .minmax:
            return (min(0, finite.min() ?? 0), max(0, finite.max() ?? 0))
        case .percentile:
            let sorted = finite.sorted()
            let last = sorted.count - 1
            let low = sorted[Int((Double(last) * 0.0001).rounded(.down))], high = sorted[Int((Double(last) * 0.9999).rounded(.up))]
            return (min(0, low), max(0, high))
        }
    }
}

/// Quantizes product weights to int8 where the measured error allows.
public struct Quantize: ConfigurablePass {
    public let name = "quantize"

    /// The default error budget: 2% relative output error per layer.
    public static let defaultMaxError = 0.02

    /// The most calibration rows a layer's error is measured on.
    public static let errorRows = 1024

    /// The largest relative error a quantized layer may have.
    public var maxError: Double
    /// Calibration samples the error is measured on (nil: the context's limit).
    public var samples: Int?
    /// Activation scales computed at run time (dynamic) or fixed from calibration data (static).
    public var activations: ActivationScales
    /// How static scales are chosen.
    public var observer: RangeObserver

    /// Makes the pass.
    public init(maxError: Double = Quantize.defaultMaxError, samples: Int? = nil, activations: ActivationScales = .dynamic,
                observer: RangeObserver = .minmax) {
        self.maxError = maxError
        self.samples = samples
        self.activations = activations
        self.observer = observer
    }

    public var optionHelp: [(key: String, meaning: String)] {
        [("max-error", "largest relative error of a quantized layer"), ("samples", "calibration samples the error is measured on"),
         ("activations", "dynamic (scales per row at run time) or static (fixed from calibration data)"),
         ("observer", "with activations=static: minmax or percentile (0.01th to 99.99th)")]
    }

    public func configured(with options: [(key: String, value: String)]) throws(DiagnosticError) -> any GraphPass {
        let reader = PassOptionReader(pass: name, known: optionHelp)
        try reader.check(options)
        var pass = self
        for (key, value) in options {
            switch key {
            case "max-error": pass.maxError = try reader.number(key, value, in: 0...Double.greatestFiniteMagnitude)
            case "samples": pass.samples = max(1, try reader.count(key, value))
            case "activations":
                guard let scales = ActivationScales(rawValue: value) else {
                    throw DiagnosticError(.error(.unknown, "quantize option activations must be dynamic or static, found '\(value)'"))
                }
                pass.activations = scales
            case "observer":
                guard let observer = RangeObserver(rawValue: value) else {
                    throw DiagnosticError(.error(.unknown, "quantize option observer must be minmax or percentile, found '\(value)'"))
                }
                pass.observer = observer
            default: break
            }
        }
        return pass
    }

    /// A product this pass can rewrite: its op index, weight constant and the epilogue it will carry.
    struct Candidate {
        var op: Int
        var weight: ConstantID
        var epilogue: [EpilogueStep]
        var operands: [ValueID]
    }

    /// The rewrite of a matmul, gemm or fused_matmul over a 2-D f32 constant weight read as [N, K] into a
    /// fused_matmul, or nil when the op has no such form (then it is not a candidate).
    static func candidate(_ index: Int, in graph: Graph, defining: [Int?]) -> Candidate? {
        let op = graph.operations[index]
        guard op.operands.count >= 2, let a = graph.type(of: op.operands[0]), a.elementType == .f32,
              let result = op.results.first.flatMap({ graph.type(of: $0) }), result.elementType == .f32,
              let weightOp = defining[op.operands[1].index], case let .constant(id) = graph.operations[weightOp].kind,
              let weight = graph.constants[id], weight.type.elementType == .f32, weight.type.rank == 2, weight.type.quant == nil,
              a.rank >= 1, a.shape.last == weight.type.shape[1] else { return nil }
        switch op.kind {
        case .matmul(transposeB: true):
            return Candidate(op: index, weight: id, epilogue: [], operands: op.operands)
        case let .fusedMatmul(transposeB: true, epilogue, .perRow):
            return Candidate(op: index, weight: id, epilogue: epilogue, operands: op.operands)
        case let .gemm(alpha, beta, transposeA: false, transposeB: true) where alpha == 1:
            guard op.operands.count == 3 else { return Candidate(op: index, weight: id, epilogue: [], operands: op.operands) }
            // C becomes a bias step when it holds one value per output column.
            guard beta == 1, let c = graph.type(of: op.operands[2]), c.elementType == .f32, c.elementCount == weight.type.shape[0],
                  c.rank <= 2, c.shape.last == weight.type.shape[0] else { return nil }
            return Candidate(op: index, weight: id, epilogue: [.bias], operands: op.operands)
        default:
            return nil
        }
    }

    public func run(on graph: inout Graph, context: inout PassContext) throws {
        try Verifier.verify(graph, checks: Verifier.targetChecks)
        let defining = graph.definingOps()
        let candidates = graph.operations.indices.compactMap { Quantize.candidate($0, in: graph, defining: defining) }
        guard !candidates.isEmpty else { return }
        if activations == .static, context.calibration == nil {
            throw DiagnosticError(.error(.unknown, "static activation scales (--activations static) are computed from calibration data; give --calibration"))
        }
        let inputs = try calibrationInputs(graph, candidates, context: context)
        var replaced: [ConstantID: ConstantID] = [:]
        var records: [LayerQuantizationRecord] = []
        // From the last product back, so that inserting a const op before one leaves the earlier indices valid.
        for candidate in candidates.reversed() {
            let op = graph.operations[candidate.op]
            guard let weight = graph.constants[candidate.weight], let resultID = op.results.first else { continue }
            let layerName = graph.valueName(resultID)
            let rows = weight.type.shape[0], reduction = weight.type.shape[1]
            guard let quantized = QuantizedWeight(weight) else {
                records.append(LayerQuantizationRecord(
                    name: weight.name, layer: layerName, scheme: "f32", activations: nil, reason: "weights not finite", scaleRange: nil, error: nil,
                    errorMeasure: "-", bytesBefore: weight.bytes.count, bytesAfter: weight.bytes.count))
                continue
            }
            let error: Double, measure: String
            var staticActivations: StaticActivations?
            if activations == .static {
                // No calibration row reached this layer: it has no observed range and stays f32.
                guard let rowsOfA = inputs[candidate.op], !rowsOfA.isEmpty else {
                    records.append(LayerQuantizationRecord(
                        name: weight.name, layer: layerName, scheme: "f32", activations: nil, reason: "no calibration rows for static scales",
                        scaleRange: nil, error: nil, errorMeasure: "-", bytesBefore: weight.bytes.count, bytesAfter: weight.bytes.count))
                    continue
                }
                let (low, high) = observer.range(rowsOfA)
                var scale = (high - low) / 255
                if !(scale > 0) || !scale.isFinite { scale = 1 }
                staticActivations = StaticActivations(observer: observer.reportName, scale: scale,
                                                      zeroPoint: DynamicInt8.quantize(0 - low, scale: scale, zeroPoint: 0))
            }
            if let rowsOfA = inputs[candidate.op], !rowsOfA.isEmpty {
                let dense = (try Tensor(weight).floats ?? [])
                let count = rowsOfA.count / reduction
                let exact = floatRows(rowsOfA, dense, rows: count, n: rows, k: reduction)
                let approximate = staticActivations.map { fixed in
                    staticInt8Rows(rowsOfA, quantized, activations: fixed, rows: count, n: rows, k: reduction)
                } ?? dynamicInt8Rows(rowsOfA, quantized, rows: count, n: rows, k: reduction)
                error = relativeError(approximate, exact)
                measure = "output, \(count) calibration rows"
            } else {
                error = relativeError(quantized.dequantized, (try Tensor(weight).floats ?? []))
                measure = "weight only (no calibration)"
            }
            let scales = quantized.scales
            let scaleRange = (scales.min() ?? 0)...(scales.max() ?? 0)
            guard error <= maxError else {
                records.append(LayerQuantizationRecord(
                    name: weight.name, layer: layerName, scheme: "f32", activations: nil, reason: "error \(error) > max-error \(maxError)",
                    scaleRange: scaleRange, error: error, errorMeasure: measure, bytesBefore: weight.bytes.count,
                    bytesAfter: weight.bytes.count))
                continue
            }
            let newID: ConstantID
            if let existing = replaced[candidate.weight] {
                newID = existing
            } else {
                newID = graph.constants.add(quantized.constant)
                replaced[candidate.weight] = newID
            }
            let weightValue = graph.append(.constant(newID), [], quantized.constant.type, location: op.location)
            // The new const op must precede its reader: move it right before the product.
            let constOp = graph.operations.removeLast()
            graph.operations.insert(constOp, at: candidate.op)
            var operands = candidate.operands
            operands[1] = weightValue
            var productIndex = candidate.op + 1
            if let fixed = staticActivations, let activationType = graph.type(of: operands[0]) {
                // The activations are quantized by a quantize op right before the product, which reads the u8 values.
                let type = TensorType(activationType.shape, .u8, quant: QuantParams(axis: nil, scales: [fixed.scale], zeroPoints: [fixed.zeroPoint]))
                operands[0] = graph.append(.quantize, [operands[0]], type, location: op.location)
                graph.operations.insert(graph.operations.removeLast(), at: productIndex)
                productIndex += 1
            }
            graph.operations[productIndex] = Operation(.fusedMatmul(transposeB: true, epilogue: candidate.epilogue), operands: operands,
                                                       results: op.results, location: op.location)
            records.append(LayerQuantizationRecord(
                name: weight.name, layer: layerName, scheme: staticActivations == nil ? "int8 dynamic" : "int8 static",
                activations: staticActivations, reason: nil, scaleRange: scaleRange, error: error,
                errorMeasure: measure, bytesBefore: weight.bytes.count, bytesAfter: quantized.constant.bytes.count + 4 * rows))
        }
        context.quantization += records.reversed()
        removeUnusedConstants(&graph, among: Set(replaced.keys))
        // A static product whose activations an int8 product computes: that product requantizes in its epilogue.
        if activations == .static { Fuse.foldRequantization(&graph) }
    }

    /// The activations each candidate reads, on calibration data (row-major [rows, K]), by op index.
    func calibrationInputs(_ graph: Graph, _ candidates: [Candidate], context: PassContext) throws -> [Int: [Float]] {
        guard let calibration = context.calibration else { return [:] }
        var watched: [ValueID: [Int]] = [:]
        for candidate in candidates { watched[graph.operations[candidate.op].operands[0], default: []].append(candidate.op) }
        var collected: [Int: [Float]] = [:]
        let interpreter = Interpreter(graph: graph)
        let limit = samples ?? context.calibrationSamples
        try calibration.forEachTensorBatch(for: graph, maxSamples: limit, stage: "quantize") { batch in
            _ = try interpreter.run(batch) { value, _, tensor in
                guard let ops = watched[value], tensor.elementType == .f32, let k = tensor.shape.last, k > 0 else { return }
                for op in ops {
                    // At most `errorRows` rows per layer: enough for the error, bounded in memory for large models.
                    let room = Quantize.errorRows * k - (collected[op]?.count ?? 0)
                    guard room > 0 else { continue }
                    collected[op, default: []] += (tensor.floats ?? []).prefix(room)
                }
            }
        }
        return collected
    }

    /// Drops the const ops of the f32 weights that no product reads any more (their int8 copies replaced them).
    func removeUnusedConstants(_ graph: inout Graph, among weights: Set<ConstantID>) {
        let uses = graph.useCounts()
        graph.operations.removeAll { op in
            guard case let .constant(id) = op.kind, weights.contains(id), let result = op.results.first else { return false }
            return uses[result.index] == 0
        }
    }
}

/// A 2-D f32 weight (dense or nm) quantized to i8, symmetric per output channel (row).
struct QuantizedWeight {
    var constant: Constant
    var scales: [Float]
    /// The weight the i8 values stand for, dense [N, K].
    var dequantized: [Float]

    /// Quantizes each row with scale max|w| / 127 (1 for an all-zero row) to round-half-even(w / scale) in
    /// [-127, 127]; nm weights keep their indices and quantize their kept values. Nil for non-finite weights.
    init?(_ weight: Constant) {
        let rows = weight.type.shape[0], reduction = weight.type.shape[1]
        let valueCount: Int
        if case let .nm(n, m) = weight.type.layout {
            valueCount = rows * ((reduction + m - 1) / m) * n
        } else {
            valueCount = rows * reduction
        }
        guard rows > 0, weight.bytes.count >= 4 * valueCount else { return nil }
        let perRow = valueCount / rows
        var values = [Float](repeating: 0, count: valueCount)
        for index in 0..<valueCount {
            let b = weight.bytes
            values[index] = Float(bitPattern: UInt32(b[4 * index]) | UInt32(b[4 * index + 1]) << 8 | UInt32(b[4 * index + 2]) << 16 | UInt32(b[4 * index + 3]) << 24)
        }
        guard values.allSatisfy(\.isFinite) else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(weight.bytes.count - 3 * valueCount)
        var scales: [Float] = []
        var stored = [Float](repeating: 0, count: valueCount)
        for row in 0..<rows {
            let slice = values[(row * perRow)..<((row + 1) * perRow)]
            let largest = slice.reduce(Float(0)) { Swift.max($0, abs($1)) }
            var scale = largest / 127
            if !(scale > 0) || !scale.isFinite { scale = 1 }
            scales.append(scale)
            for (offset, value) in slice.enumerated() {
                let q = Swift.min(127, Swift.max(-127, (value / scale).rounded(.toNearestOrEven)))
                bytes.append(UInt8(bitPattern: Int8(q)))
                stored[row * perRow + offset] = q * scale
            }
        }
        bytes += weight.bytes[(4 * valueCount)...]
        let type = TensorType(weight.type.shape, .i8, layout: weight.type.layout,
                              quant: QuantParams(axis: 0, scales: scales, zeroPoints: [Int64](repeating: 0, count: rows)))
        constant = Constant(name: weight.name + ".int8", type: type, bytes: bytes)
        self.scales = scales
        if weight.type.layout == .dense {
            dequantized = stored
        } else {
            // Unpacked through the IR's own N:M reader, as the interpreter sees the weight.
            let dequantizedType = TensorType(weight.type.shape, .f32, layout: weight.type.layout)
            var storedBytes: [UInt8] = []
            for value in stored { appendElement(Double(value), of: .f32, to: &storedBytes) }
            storedBytes += weight.bytes[(4 * valueCount)...]
            dequantized = (try? Tensor(Constant(name: weight.name, type: dequantizedType, bytes: storedBytes)).floats) ?? []
        }
    }

    /// The i8 values as the interpreter reads them, dense [N, K].
    var integers: [Int64] { (try? Tensor(constant).integers) ?? [] }
}

/// `a` [rows, k] times `w` [n, k] transposed, in double.
func floatRows(_ a: [Float], _ w: [Float], rows: Int, n: Int, k: Int) -> [Float] {
    var result = [Float](repeating: 0, count: rows * n)
    for row in 0..<rows {
        for column in 0..<n {
            var sum = 0.0
            for inner in 0..<k { sum += Double(a[row * k + inner]) * Double(w[column * k + inner]) }
            result[row * n + column] = Float(sum)
        }
    }
    return result
}

/// The dynamic int8 product's values (before any epilogue), as the interpreter computes them.
func dynamicInt8Rows(_ a: [Float], _ weight: QuantizedWeight, rows: Int, n: Int, k: Int) -> [Float] {
    dynamicInt8Product(a, weight.integers, scales: weight.scales, rows: rows, n: n, k: k)
}

/// The static int8 product's values (before any epilogue): every row quantized to u8 with the fixed parameters.
func staticInt8Rows(_ a: [Float], _ weight: QuantizedWeight, activations: StaticActivations, rows: Int, n: Int, k: Int) -> [Float] {
    let values = a.map { DynamicInt8.quantize($0, scale: activations.scale, zeroPoint: activations.zeroPoint) }
    let quantized = ([Float](repeating: activations.scale, count: rows), [Int64](repeating: activations.zeroPoint, count: rows), values)
    return int8Product(quantized, weight.integers, scales: weight.scales, rows: rows, n: n, k: k)
}

/// ||approximate - exact|| / ||exact|| (0 when both are zero).
func relativeError(_ approximate: [Float], _ exact: [Float]) -> Double {
    var difference = 0.0, norm = 0.0
    for (x, y) in zip(approximate, exact) {
        difference += Double(x - y) * Double(x - y)
        norm += Double(y) * Double(y)
    }
    if norm == 0 { return difference == 0 ? 0 : .infinity }
    return (difference / norm).squareRoot()
}
