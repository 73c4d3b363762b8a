// Normalizations: softmax and log_softmax, layer_norm and batch_norm (the reduce_* group is in Reductions.swift).
// Sums, means and variances accumulate in Double so the oracle is more precise than any backend it checks.

import Foundation
import SieveIR

/// Numerically stable softmax along one axis: the maximum is subtracted before exponentiating. With
/// `logarithmic`, log-softmax: `x - (max + log(sum(exp(x - max))))`, all in Double.
func softmax(_ x: Tensor, axis: Int, logarithmic: Bool = false, resultType: TensorType) -> Tensor {
    let values = x.floatValues
    let shape = x.shape
    let length = shape[axis], inner = product(shape[(axis + 1)...]), outer = product(shape[..<axis])
    var result = [Float](repeating: 0, count: values.count)
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * length * inner + i
            var largest = -Double.infinity
            for k in 0..<length { largest = max(largest, Double(values[base + k * inner])) }
            var sum = 0.0
            var exponentials = [Double](repeating: 0, count: length)
            for k in 0..<length {
                exponentials[k] = exp(Double(values[base + k * inner]) - largest)
                sum += exponentials[k]
            }
            if logarithmic {
                let shift = largest + log(sum)
                for k in 0..<length { result[base + k * inner] = Float(Double(values[base + k * inner]) - shift) }
            } else {
                for k in 0..<length { result[base + k * inner] = Float(exponentials[k] / sum) }
            }
        }
    }
    return floatResult(resultType, result)
}

/// ONNX LayerNormalization over the axes `axis..<rank`: population mean and variance in Double,
/// epsilon added to the variance inside the square root, then scale and optional bias broadcast
/// to the normalized shape.
func layerNormalization(_ operands: [Tensor], axis: Int, epsilon: Float, resultType: TensorType) -> Tensor {
    let x = operands[0].floatValues
    let normalizedShape = Array(operands[0].shape[axis...])
    let count = product(normalizedShape)
    let groups = count == 0 ? 0 : x.count / count
    let scale = Tensor(unchecked: operands[1].type, storage: operands[1].storage(broadcastTo: normalizedShape)).floatValues
    let bias = operands.count == 3
        ? Tensor(unchecked: operands[2].type, storage: operands[2].storage(broadcastTo: normalizedShape)).floatValues
        : nil
    var result = [Float](repeating: 0, count: x.count)
    for group in 0..<groups {
        let base = group * count
        var sum = 0.0
        for index in 0..<count { sum += Double(x[base + index]) }
        let mean = sum / Double(count)
        var squares = 0.0
        for index in 0..<count {
            let deviation = Double(x[base + index]) - mean
            squares += deviation * deviation
        }
        let inverseDeviation = 1 / (squares / Double(count) + Double(epsilon)).squareRoot()
        for index in 0..<count {
            var y = (Double(x[base + index]) - mean) * inverseDeviation * Double(scale[index])
            if let bias { y += Double(bias[index]) }
            result[base + index] = Float(y)
        }
    }
    return floatResult(resultType, result)
}

/// Inference BatchNormalization over axis 1: `(x - mean) / sqrt(variance + epsilon) * scale + bias`.
func batchNormalization(_ operands: [Tensor], epsilon: Float, resultType: TensorType) -> Tensor {
    let x = operands[0].floatValues
    let scale = operands[1].floatValues, bias = operands[2].floatValues
    let mean = operands[3].floatValues, variance = operands[4].floatValues
    let shape = operands[0].shape
    let channels = shape[1], inner = product(shape[2...]), outer = shape[0]
    var result = [Float](repeating: 0, count: x.count)
    for o in 0..<outer {
        for channel in 0..<channels {
            let factor = Double(scale[channel]) / (Double(variance[channel]) + Double(epsilon)).squareRoot()
            let base = (o * channels + channel) * inner
            for index in 0..<inner {
                let centred = Double(x[base + index]) - Double(mean[channel])
                result[base + index] = Float(centred * factor + Double(bias[channel]))
            }
        }
    }
    return floatResult(resultType, result)
}
