// Activation statistics of prunable layers over calibration data, gathered with the interpreter's
// observe hook: per-input-channel sums of squares (Wanda's norms) and optionally the Gram matrix X^T X.

import COpenBLAS
import SieveFormats
import SieveIR
import SieveInterpreter
import SieveTarget

/// What one layer's input looked like over the calibration set, in Double.
///
/// Columns are the layer's reduction (I of an [O, I] weight, C/groups*kH*kW of a convolution, in
/// weight order); rows are every position the weight is applied at (tokens, pixels times images).
/// A grouped convolution has one set of statistics per group.
public struct LayerActivationStatistics: Sendable {
    /// Reduction length I.
    public var reduction: Int
    /// Input channel groups (1 unless a grouped convolution).
    public var groups: Int
    /// Per group, the sum over rows of x_j^2 for each column j.
    public var sumSquares: [[Double]]
    /// Per group, the Gram matrix X^T X (I x I, row-major, symmetric), when it was asked for.
    public var gram: [[Double]]?
    /// Rows seen per group.
    public var rows: Int

    /// Per group, the L2 norm of each input column over all rows: ||x_j||.
    public var columnNorms: [[Double]] { sumSquares.map { $0.map { $0.squareRoot() } } }
}

/// Activation statistics of every requested layer, keyed by weight name.
public struct CalibrationStatistics: Sendable {
    /// Statistics by layer (weight constant name).
    public var layers: [String: LayerActivationStatistics]
    /// How much calibration data was used.
    public var summary: CalibrationSummary

    /// Runs the graph over the calibration set and gathers statistics for `layers`.
    ///
    /// - Parameters:
    ///   - gram: also accumulate X^T X (I*I Doubles per layer and group), as SparseGPT needs.
    ///   - maxSamples: use at most this many samples; nil for all.
    public static func collect(graph: Graph, layers: [PrunableLayer], calibration: CalibrationSet,
                               gram: Bool, maxSamples: Int? = nil) throws -> CalibrationStatistics {
        try Verifier.verify(graph, checks: Verifier.targetChecks)
        var accumulators: [String: LayerActivationStatistics] = [:]
        var readers: [ValueID: [PrunableLayer]] = [:]
        for layer in layers {
            let i = layer.matrix.reduction
            accumulators[layer.name] = LayerActivationStatistics(
                reduction: i, groups: layer.groups,
                sumSquares: Array(repeating: [Double](repeating: 0, count: i), count: layer.groups),
                gram: gram ? Array(repeating: [Double](repeating: 0, count: i * i), count: layer.groups) : nil,
                rows: 0)
            readers[layer.input, default: []].append(layer)
        }
        let interpreter = try Interpreter(graph: graph, holdingConstants: true)
        var failure: (any Error)?
        let stage = "statistics for " + layers.map(\.name).joined(separator: ", ")
        let summary = try calibration.forEachTensorBatch(for: graph, maxSamples: maxSamples, stage: stage) { inputs in
            _ = try interpreter.run(inputs) { id, _, tensor in
                guard failure == nil, let waiting = readers[id] else { return }
                for layer in waiting {
                    guard var statistics = accumulators[layer.name] else { continue }
                    do {
                        try accumulate(tensor, layer: layer, into: &statistics)
                    } catch {
                        failure = error
                    }
                    accumulators[layer.name] = statistics
                }
            }
            if let failure { throw failure }
        }
        for (name, var statistics) in accumulators {
            if var grams = statistics.gram {
                let n = statistics.reduction
                for group in grams.indices {
                    for row in 0..<n { for column in 0..<row { grams[group][row * n + column] = grams[group][column * n + row] } }
                }
                statistics.gram = grams
            }
            accumulators[name] = statistics
        }
        return CalibrationStatistics(layers: accumulators, summary: summary)
    }

    /// Statistics of one layer's input as a calibration walk holds it, batch by batch in the order
    /// `collect` sees them (so the sums are the same).
    static func collect(from stream: CalibrationStream, layer: PrunableLayer, graph: Graph,
                        gram: Bool) throws -> LayerActivationStatistics {
        let i = layer.matrix.reduction
        var statistics = LayerActivationStatistics(
            reduction: i, groups: layer.groups,
            sumSquares: Array(repeating: [Double](repeating: 0, count: i), count: layer.groups),
            gram: gram ? Array(repeating: [Double](repeating: 0, count: i * i), count: layer.groups) : nil,
            rows: 0)
        try stream.forEachTensor(of: layer.input, in: graph) { tensor in
            try accumulate(tensor, layer: layer, into: &statistics)
        }
        if var grams = statistics.gram {
            for group in grams.indices {
                for row in 0..<i { for column in 0..<row { grams[group][row * i + column] = grams[group][column * i + row] } }
            }
            statistics.gram = grams
        }
        return statistics
    }

    /// Adds one observed input tensor's rows to a layer's statistics.
    static func accumulate(_ tensor: Tensor, layer: PrunableLayer, into statistics: inout LayerActivationStatistics) throws {
        guard let values = tensor.floats else {
            throw DiagnosticError(.error(.unknown, "layer \(layer.name): calibration statistics need a float input, found \(tensor.elementType)"))
        }
        let n = layer.matrix.reduction
        let fits: Bool
        switch layer.access {
        case let .matrix(_, transposeA): fits = transposeA ? tensor.shape.first == n && tensor.shape.count == 2 : tensor.shape.last == n
        case .convolution: fits = tensor.shape.count == 4 && tensor.shape[1] == layer.weightType.shape[1] * layer.groups
        }
        guard fits else {
            throw DiagnosticError(.error(.unknown, "layer \(layer.name): input of shape \(tensor.shape) does not match its weight \(layer.weightType.shape)"))
        }
        for group in 0..<layer.groups {
            try forEachRowChunk(values, shape: tensor.shape, layer: layer, group: group) { chunk, rows in
                for row in 0..<rows {
                    let base = row * n
                    for column in 0..<n {
                        let x = chunk[base + column]
                        statistics.sumSquares[group][column] += x * x
                    }
                }
                if statistics.gram != nil {
                    chunk.withUnsafeBufferPointer { x in
                        statistics.gram?[group].withUnsafeMutableBufferPointer { g in
                            guard let xBase = x.baseAddress, let gBase = g.baseAddress else { return }
                            // Upper triangle of G += X^T X; the lower one is mirrored at the end.
                            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(n), Int32(rows), 1.0,
                                        xBase, Int32(n), 1.0, gBase, Int32(n))
                        }
                    }
                }
            }
        }
        statistics.rows += activationRows(shape: tensor.shape, layer: layer)
    }

    /// Rows the weight is applied at in one input tensor.
    static func activationRows(shape: [Int], layer: PrunableLayer) -> Int {
        switch layer.access {
        case let .matrix(_, transposeA):
            let count = shape.reduce(1, *)
            return transposeA ? (shape.last ?? 1) : count / max(1, layer.matrix.reduction)
        case let .convolution(attributes):
            let (outH, outW) = convolutionOutput(shape: shape, layer: layer, attributes: attributes)
            return (shape.first ?? 0) * outH * outW
        }
    }

    /// Output height and width of a convolution layer for an input shape.
    static func convolutionOutput(shape: [Int], layer: PrunableLayer, attributes: Conv2DAttributes) -> (Int, Int) {
        let kernel = Array(layer.weightType.shape.suffix(2))
        func size(_ input: Int, _ axis: Int) -> Int {
            let span = (kernel[axis] - 1) * attributes.dilations[axis] + 1
            return (input + attributes.pads[axis] + attributes.pads[axis + 2] - span) / attributes.strides[axis] + 1
        }
        return (size(shape[2], 0), size(shape[3], 1))
    }

    /// Calls `body` with the layer's activation matrix for one group, [rows, I] row-major in Double,
    /// a chunk of at most 8192 rows at a time (im2col for convolutions).
    static func forEachRowChunk(_ x: [Float], shape: [Int], layer: PrunableLayer, group: Int,
                                _ body: ([Double], Int) throws -> Void) throws {
        let n = layer.matrix.reduction
        let chunkRows = max(1, 8192)
        switch layer.access {
        case let .matrix(_, transposeA):
            if transposeA {
                // gemm with transpose_a: A is [K, M]; each of the M columns is one row of X.
                let m = shape.last ?? 1
                var start = 0
                while start < m {
                    let rows = min(chunkRows, m - start)
                    var chunk = [Double](repeating: 0, count: rows * n)
                    for row in 0..<rows { for k in 0..<n { chunk[row * n + k] = Double(x[k * m + start + row]) } }
                    try body(chunk, rows)
                    start += rows
                }
            } else {
                let total = x.count / max(1, n)
                var start = 0
                while start < total {
                    let rows = min(chunkRows, total - start)
                    let chunk = x[(start * n)..<((start + rows) * n)].map(Double.init)
                    try body(chunk, rows)
                    start += rows
                }
            }
        case let .convolution(attributes):
            let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
            let weight = layer.weightType.shape
            let (groupChannels, kernelH, kernelW) = (weight[1], weight[2], weight[3])
            let (outH, outW) = convolutionOutput(shape: shape, layer: layer, attributes: attributes)
            let pixels = outH * outW
            let total = batch * pixels
            var start = 0
            while start < total {
                let rows = min(chunkRows, total - start)
                var chunk = [Double](repeating: 0, count: rows * n)
                for row in 0..<rows {
                    let position = start + row
                    let image = position / pixels, pixel = position % pixels
                    let oy = pixel / outW, ox = pixel % outW
                    for channel in 0..<groupChannels {
                        let plane = (image * channels + group * groupChannels + channel) * height * width
                        for ky in 0..<kernelH {
                            let iy = oy * attributes.strides[0] - attributes.pads[0] + ky * attributes.dilations[0]
                            guard iy >= 0, iy < height else { continue }
                            for kx in 0..<kernelW {
                                let ix = ox * attributes.strides[1] - attributes.pads[1] + kx * attributes.dilations[1]
                                guard ix >= 0, ix < width else { continue }
                                chunk[row * n + (channel * kernelH + ky) * kernelW + kx] = Double(x[plane + iy * width + ix])
                            }
                        }
                    }
                }
                try body(chunk, rows)
                start += rows
            }
        }
    }
}
