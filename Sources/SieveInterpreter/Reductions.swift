// Reference semantics of the reductions group: reduce_* functions, arg_max/arg_min, cum_sum, top_k, conv_transpose2d
// (log_softmax is softmax's, in Normalization.swift). Float sums accumulate in Double; integer sums and products wrap.

import Foundation
import SieveIR

/// For every element of `shape`, the index of the element it reduces into once `axes` are dropped.
private func reductionDestinations(_ shape: [Int], axes: [Int]) -> [Int] {
    let keptShape = shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
    let keptStrides = strides(of: keptShape)
    let offsets = shape.indices.map { axis -> [Int] in
        axes.contains(axis) ? [Int](repeating: 0, count: shape[axis]) : (0..<shape[axis]).map { $0 * keptStrides[axis] }
    }
    return offsetMap(shape: shape, offsets: offsets)
}

/// A reduction function over the given (sorted, unique) axes; the result type already says whether they are kept.
func reduce(_ function: ReduceFunction, _ x: Tensor, axes: [Int], resultType: TensorType) -> Tensor {
    let destination = reductionDestinations(x.shape, axes: axes)
    let outputs = product(resultType.shape)
    if let integers = x.integers {
        return integerResult(resultType, reduceIntegers(function, integers, destination, outputs: outputs, type: x.elementType))
    }
    let values = x.floatValues
    let count = Double(product(axes.map { x.shape[$0] }))
    switch function {
    case .max, .min:
        let largest = function == .max
        var result = [Float](repeating: largest ? -.infinity : .infinity, count: outputs)
        for (index, value) in values.enumerated() {
            let best = result[destination[index]]
            // NaN wins, so a NaN input is not silently dropped.
            if value.isNaN || (!best.isNaN && (largest ? value > best : value < best)) { result[destination[index]] = value }
        }
        return floatResult(resultType, result)
    case .logSumExp:
        var largest = [Double](repeating: -.infinity, count: outputs)
        for (index, value) in values.enumerated() where Double(value) > largest[destination[index]] || value.isNaN {
            largest[destination[index]] = Double(value)
        }
        var sums = [Double](repeating: 0, count: outputs)
        for (index, value) in values.enumerated() {
            let shift = largest[destination[index]]
            // With an infinite (or NaN) maximum the result is that maximum; exp would give NaN from inf - inf.
            if shift.isFinite { sums[destination[index]] += exp(Double(value) - shift) }
        }
        return floatResult(resultType, zip(largest, sums).map { shift, sum in shift.isFinite ? Float(shift + log(sum)) : Float(shift) })
    case .mean, .sum, .prod, .l1, .l2, .sumSquare, .logSum:
        var accumulators = [Double](repeating: function == .prod ? 1 : 0, count: outputs)
        for (index, value) in values.enumerated() {
            let v = Double(value)
            switch function {
            case .prod: accumulators[destination[index]] *= v
            case .l1: accumulators[destination[index]] += abs(v)
            case .l2, .sumSquare: accumulators[destination[index]] += v * v
            default: accumulators[destination[index]] += v
            }
        }
        return floatResult(resultType, accumulators.map { value in
            switch function {
            case .mean: return Float(value / count)
            case .l2: return Float(value.squareRoot())
            case .logSum: return Float(log(value))
            default: return Float(value)
            }
        })
    }
}

/// The integer (and bool) reductions: wrapping sums and products, exact max and min.
private func reduceIntegers(_ function: ReduceFunction, _ values: [Int64], _ destination: [Int], outputs: Int,
                            type: ElementType) -> [Int64] {
    let range = type.integerRange ?? Int64.min...Int64.max
    switch function {
    case .max: 
        var result = [Int64](repeating: range.lowerBound, count: outputs)
        for (index, value) in values.enumerated() { result[destination[index]] = max(result[destination[index]], value) }
        return result
    case .min:
        var result = [Int64](repeating: range.upperBound, count: outputs)
        for (index, value) in values.enumerated() { result[destination[index]] = min(result[destination[index]], value) }
        return result
    case .prod:
        var result = [Int64](repeating: 1, count: outputs)
        for (index, value) in values.enumerated() { result[destination[index]] = result[destination[index]] &* value }
        return result
    case .sum, .l1, .sumSquare, .mean, .l2, .logSum, .logSumExp:
        // mean, l2, log_sum and log_sum_exp take floats only (the type rule); they fall back to a sum here.
        var result = [Int64](repeating: 0, count: outputs)
        for (index, value) in values.enumerated() {
            let term = function == .l1 ? (value < 0 ? 0 &- value : value) : function == .sumSquare ? value &* value : value
            result[destination[index]] = result[destination[index]] &+ term
        }
        return result
    }
}

/// Whether `a` comes before `b` when ordering largest first: NaN counts as larger than every number.
private func greater(_ a: Double, _ b: Double) -> Bool {
    a.isNaN ? !b.isNaN : a > b
}

/// The i64 position of the largest (or smallest) element along `axis`; ties go to the first position,
/// or the last with `selectLastIndex`. NaN counts as the largest value (and as the smallest for arg_min).
func argExtreme(_ x: Tensor, largest: Bool, axis: Int, selectLastIndex: Bool, resultType: TensorType) -> Tensor {
    let values = x.doubles
    let shape = x.shape
    let length = shape[axis], inner = product(shape[(axis + 1)...]), outer = product(shape[..<axis])
    var result = [Int64](repeating: 0, count: outer * inner)
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * length * inner + i
            var best = 0
            for k in 1..<max(length, 1) {
                let value = values[base + k * inner], current = values[base + best * inner]
                let better = largest ? greater(value, current) : (value.isNaN ? !current.isNaN : (!current.isNaN && value < current))
                let tie = value == current || (value.isNaN && current.isNaN)
                if better || (selectLastIndex && tie) { best = k }
            }
            result[o * inner + i] = Int64(best)
        }
    }
    return integerResult(resultType, result)
}

/// Running sum along `axis`: exclusive leaves the element itself out, reverse runs from the end.
func cumulativeSum(_ x: Tensor, axis: Int, exclusive: Bool, reverse: Bool, resultType: TensorType) -> Tensor {
    let shape = x.shape
    let length = shape[axis], inner = product(shape[(axis + 1)...]), outer = product(shape[..<axis])
    let order = reverse ? Array((0..<length).reversed()) : Array(0..<length)
    if let integers = x.integers {
        var result = [Int64](repeating: 0, count: integers.count)
        for o in 0..<outer {
            for i in 0..<inner {
                var sum: Int64 = 0
                for k in order {
                    let index = (o * length + k) * inner + i
                    if exclusive { result[index] = sum; sum = sum &+ integers[index] } else { sum = sum &+ integers[index]; result[index] = sum }
                }
            }
        }
        return integerResult(resultType, result)
    }
    let values = x.floatValues
    var result = [Float](repeating: 0, count: values.count)
    for o in 0..<outer {
        for i in 0..<inner {
            var sum = 0.0
            for k in order {
                let index = (o * length + k) * inner + i
                if exclusive {
                    result[index] = Float(sum)
                    sum += Double(values[index])
                } else {
                    sum += Double(values[index])
                    result[index] = Float(sum)
                }
            }
        }
    }
    return floatResult(resultType, result)
}

/// One result of TopK: the `k` best elements along `axis` (largest or smallest first), ties to the lower position.
/// NaN counts as larger than every number.
func topK(_ x: Tensor, k: Int, axis: Int, largest: Bool, output: TopKOutput, resultType: TensorType) -> Tensor {
    let values = x.doubles
    let shape = x.shape
    let length = shape[axis], inner = product(shape[(axis + 1)...]), outer = product(shape[..<axis])
    var positions = [Int](repeating: 0, count: outer * k * inner)
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * length * inner + i
            let ranked = (0..<length).sorted { a, b in
                let va = values[base + a * inner], vb = values[base + b * inner]
                let before = largest ? greater(va, vb) : greater(vb, va)
                let after = largest ? greater(vb, va) : greater(va, vb)
                return before || (!after && a < b)
            }
            for j in 0..<k { positions[(o * k + j) * inner + i] = ranked[j] }
        }
    }
    switch output {
    case .indices:
        return integerResult(resultType, positions.map(Int64.init))
    case .values:
        let sources = positions.enumerated().map { index, position in
            let o = index / (k * inner), i = index % inner
            return (o * length + position) * inner + i
        }
        switch x.storage {
        case let .floats(elements): return floatResult(resultType, sources.map { elements[$0] })
        case let .integers(elements): return integerResult(resultType, sources.map { elements[$0] })
        }
    }
}

/// 2-D transposed convolution: every input pixel scatters its value times the kernel into the output,
/// `y[n, g * M + m, iy * s - pad + ky * d, ...] += x[n, g * C + c, iy, ix] * w[g * C + c, m, ky, kx]`, in Double.
func convolutionTranspose(_ operands: [Tensor], attributes: ConvTranspose2DAttributes, resultType: TensorType) -> Tensor {
    let x = operands[0].floatValues, w = operands[1].floatValues
    let (batch, channels, height, width) = (operands[0].shape[0], operands[0].shape[1], operands[0].shape[2], operands[0].shape[3])
    let (groupOutChannels, kernelH, kernelW) = (operands[1].shape[1], operands[1].shape[2], operands[1].shape[3])
    let (outChannels, outH, outW) = (resultType.shape[1], resultType.shape[2], resultType.shape[3])
    let groups = attributes.groups
    let groupChannels = channels / groups
    var output = [Double](repeating: 0, count: batch * outChannels * outH * outW)
    if operands.count == 3 {
        let bias = operands[2].floatValues
        for image in 0..<batch {
            for channel in 0..<outChannels {
                let base = (image * outChannels + channel) * outH * outW
                for pixel in 0..<(outH * outW) { output[base + pixel] = Double(bias[channel]) }
            }
        }
    }
    for image in 0..<batch {
        for group in 0..<groups {
            for c in 0..<groupChannels {
                let channel = group * groupChannels + c
                for m in 0..<groupOutChannels {
                    let outPlane = (image * outChannels + group * groupOutChannels + m) * outH * outW
                    for ky in 0..<kernelH {
                        for kx in 0..<kernelW {
                            let weight = Double(w[((channel * groupOutChannels + m) * kernelH + ky) * kernelW + kx])
                            for iy in 0..<height {
                                let oy = iy * attributes.strides[0] - attributes.pads[0] + ky * attributes.dilations[0]
                                guard oy >= 0, oy < outH else { continue }
                                for ix in 0..<width {
                                    let ox = ix * attributes.strides[1] - attributes.pads[1] + kx * attributes.dilations[1]
                                    guard ox >= 0, ox < outW else { continue }
                                    output[outPlane + oy * outW + ox] += Double(x[((image * channels + channel) * height + iy) * width + ix]) * weight
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return floatResult(resultType, output.map { Float($0) })
}
