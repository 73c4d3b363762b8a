// Pooling over NCHW input: max_pool, average_pool (pads, strides, dilations, ceil mode) and the global pools.
// Output sizes come from the result type, which the type rule computed with ONNX's ceil-mode convention.

import SieveIR

/// The input rows (or columns) one output position's window reads: in-bounds cells and how many
/// cells fall inside the explicitly padded extent.
private struct WindowAxis {
    /// Input coordinates inside the tensor.
    var inside: [Int]
    /// Cells inside `[-padBegin, size + padEnd)`, the divisor when padding counts.
    var paddedCount: Int

    init(output: Int, size: Int, kernel: Int, stride: Int, dilation: Int, padBegin: Int, padEnd: Int) {
        let start = output * stride - padBegin
        inside = []
        paddedCount = 0
        for tap in 0..<kernel {
            let coordinate = start + tap * dilation
            if coordinate >= 0 && coordinate < size { inside.append(coordinate) }
            // Cells that ceil mode adds past the end padding never count, as in ONNX's reference.
            if coordinate >= -padBegin && coordinate < size + padEnd { paddedCount += 1 }
        }
    }
}

/// Applies `reduce` to every window of every (image, channel) plane.
private func pool(_ x: Tensor, attributes: Pool2DAttributes, resultType: TensorType,
                  reduce: (_ plane: ArraySlice<Float>, _ rows: WindowAxis, _ columns: WindowAxis, _ width: Int) -> Float) -> Tensor {
    let values = x.floatValues
    let (planes, height, width) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    let (outH, outW) = (resultType.shape[2], resultType.shape[3])
    let rows = (0..<outH).map {
        WindowAxis(output: $0, size: height, kernel: attributes.kernel[0], stride: attributes.strides[0],
                   dilation: attributes.dilations[0], padBegin: attributes.pads[0], padEnd: attributes.pads[2])
    }
    let columns = (0..<outW).map {
        WindowAxis(output: $0, size: width, kernel: attributes.kernel[1], stride: attributes.strides[1],
                   dilation: attributes.dilations[1], padBegin: attributes.pads[1], padEnd: attributes.pads[3])
    }
    var result = [Float](repeating: 0, count: planes * outH * outW)
    for plane in 0..<planes {
        let planeValues = values[(plane * height * width)..<((plane + 1) * height * width)]
        for oy in 0..<outH {
            for ox in 0..<outW {
                result[(plane * outH + oy) * outW + ox] = reduce(planeValues, rows[oy], columns[ox], width)
            }
        }
    }
    return pooledResult(resultType, result)
}

/// Pooled values as the result type holds them: 8-bit max pools carry integers, exact in f32.
private func pooledResult(_ type: TensorType, _ values: [Float]) -> Tensor {
    guard type.elementType.isFloat else { return integerResult(type, values.map { Int64($0) }) }
    return floatResult(type, values)
}

/// Where a maximum starts: -infinity, or the low end of an 8-bit type.
private func lowestPooledValue(_ type: TensorType) -> Float {
    type.elementType.integerRange.map { Float($0.lowerBound) } ?? -Float.infinity
}

/// ONNX MaxPool: padded cells never win; a window with no input cell gives -infinity (for 8-bit data, which
/// ONNX allows from opset 12, the low end of the type).
func maxPool(_ x: Tensor, attributes: Pool2DAttributes, resultType: TensorType) -> Tensor {
    pool(x, attributes: attributes, resultType: resultType) { plane, rows, columns, width in
        var largest = lowestPooledValue(resultType)
        for row in rows.inside {
            for column in columns.inside {
                let value = plane[plane.startIndex + row * width + column]
                // NaN wins, so a NaN input is not silently dropped.
                if value > largest || value.isNaN { largest = value }
            }
        }
        return largest
    }
}

/// ONNX AveragePool: the sum of in-bounds cells divided by their count, or, with
/// `countIncludePad`, by the number of cells inside the explicitly padded extent.
func averagePool(_ x: Tensor, attributes: Pool2DAttributes, resultType: TensorType) -> Tensor {
    pool(x, attributes: attributes, resultType: resultType) { plane, rows, columns, width in
        var sum = 0.0
        for row in rows.inside {
            for column in columns.inside { sum += Double(plane[plane.startIndex + row * width + column]) }
        }
        let count = attributes.countIncludePad ? rows.paddedCount * columns.paddedCount : rows.inside.count * columns.inside.count
        return Float(sum / Double(count))
    }
}

/// GlobalAveragePool and GlobalMaxPool over every axis after the channel axis.
func globalPool(_ x: Tensor, maximum: Bool, resultType: TensorType) -> Tensor {
    let values = x.floatValues
    let planes = x.shape[0] * x.shape[1]
    let size = product(x.shape[2...])
    var result = [Float](repeating: 0, count: planes)
    for plane in 0..<planes {
        let cells = values[(plane * size)..<((plane + 1) * size)]
        if maximum {
            result[plane] = cells.reduce(lowestPooledValue(resultType)) { $1 > $0 || $1.isNaN ? $1 : $0 }
        } else {
            result[plane] = Float(cells.reduce(0.0) { $0 + Double($1) } / Double(size))
        }
    }
    return pooledResult(resultType, result)
}
