// Affine quantization: quantize (ONNX QuantizeLinear) and dequantize (ONNX DequantizeLinear).
// Parameters come from the types: quantize reads its result type's, dequantize its operand type's.

import SieveIR

/// For each element, the index of its scale and zero point: 0 per tensor, the index along the axis per axis.
private func parameterIndices(shape: [Int], params: QuantParams) -> [Int] {
    let count = product(shape)
    guard let axis = params.axis else { return [Int](repeating: 0, count: count) }
    let offsets = shape.indices.map { dim in
        dim == axis ? Array(0..<shape[dim]) : [Int](repeating: 0, count: shape[dim])
    }
    return offsetMap(shape: shape, offsets: offsets)
}

/// ONNX QuantizeLinear: `saturate(round(x / scale) + zeroPoint)`, rounding half to even.
///
/// The division is in f32 as ONNX specifies. NaN has no integer meaning; it maps to the zero point.
func quantize(_ x: Tensor, resultType: TensorType) throws -> Tensor {
    guard let params = resultType.quant, let range = resultType.elementType.integerRange else {
        throw EvaluationError("quantize needs an integer result type with quantization parameters")
    }
    let values = x.floatValues
    let which = parameterIndices(shape: x.shape, params: params)
    var result = [Int64](repeating: 0, count: values.count)
    for index in values.indices {
        let scale = params.scales[which[index]], zeroPoint = params.zeroPoints[which[index]]
        let scaled = (values[index] / scale).rounded(.toNearestOrEven)
        if scaled.isNaN {
            result[index] = zeroPoint
        } else {
            result[index] = clampedInt64(Double(scaled) + Double(zeroPoint), to: range)
        }
    }
    return integerResult(resultType, result)
}

/// ONNX DequantizeLinear: `(x - zeroPoint) * scale` in f32.
func dequantize(_ x: Tensor, resultType: TensorType) throws -> Tensor {
    guard let params = x.type.quant else {
        throw EvaluationError("dequantize needs an operand type with quantization parameters")
    }
    let values = x.integerValues
    let which = parameterIndices(shape: x.shape, params: params)
    var result = [Float](repeating: 0, count: values.count)
    for index in values.indices {
        let scale = params.scales[which[index]], zeroPoint = params.zeroPoints[which[index]]
        result[index] = Float(values[index] - zeroPoint) * scale
    }
    return floatResult(resultType, result)
}
