// Data movement kernels: transpose, expand, concat, gather and slice.
// Each computes, for every result element, the source element it copies, and gathers once.

import SieveIR

/// Result dimension i is input dimension `permutation[i]`.
func transpose(_ x: Tensor, permutation: [Int], resultType: TensorType) -> Tensor {
    let sourceStrides = strides(of: x.shape)
    let offsets = permutation.map { axis in (0..<x.shape[axis]).map { $0 * sourceStrides[axis] } }
    return Tensor(unchecked: resultType, storage: x.storage.gathering(offsetMap(shape: resultType.shape, offsets: offsets)))
}

/// ONNX Expand: NumPy broadcast to the result shape.
func broadcast(_ x: Tensor, to resultType: TensorType) -> Tensor {
    Tensor(unchecked: resultType, storage: x.storage(broadcastTo: resultType.shape))
}

/// Joins the operands along `axis`, copying one contiguous block per operand per outer index.
func concatenate(_ operands: [Tensor], axis: Int, resultType: TensorType) -> Tensor {
    let outer = product(resultType.shape[..<axis])
    let inner = product(resultType.shape[(axis + 1)...])
    switch operands[0].storage {
    case .floats:
        var result: [Float] = []
        result.reserveCapacity(product(resultType.shape))
        for o in 0..<outer {
            for operand in operands {
                let block = operand.shape[axis] * inner
                let values = operand.floatValues
                result.append(contentsOf: values[(o * block)..<((o + 1) * block)])
            }
        }
        return Tensor(unchecked: resultType, storage: .floats(result))
    case .integers:
        var result: [Int64] = []
        result.reserveCapacity(product(resultType.shape))
        for o in 0..<outer {
            for operand in operands {
                let block = operand.shape[axis] * inner
                let values = operand.integerValues
                result.append(contentsOf: values[(o * block)..<((o + 1) * block)])
            }
        }
        return Tensor(unchecked: resultType, storage: .integers(result))
    }
}

/// ONNX Gather: negative indices count from the end of the axis; anything else out of range is an error.
func gather(_ data: Tensor, indices: Tensor, axis: Int, resultType: TensorType) throws -> Tensor {
    let size = data.shape[axis]
    let outer = product(data.shape[..<axis]), inner = product(data.shape[(axis + 1)...])
    let picks = indices.integerValues
    var positions: [Int] = []
    positions.reserveCapacity(outer * picks.count * inner)
    var resolved = [Int](repeating: 0, count: picks.count)
    for (slot, index) in picks.enumerated() {
        guard index >= -Int64(size), index < Int64(size) else {
            throw EvaluationError("gather index \(index) (at position \(slot) of the indices) is out of range for axis \(axis) of size \(size); valid indices are \(-size) to \(size - 1)")
        }
        resolved[slot] = Int(index < 0 ? index + Int64(size) : index)
    }
    for o in 0..<outer {
        for index in resolved {
            let base = (o * size + index) * inner
            for i in 0..<inner { positions.append(base + i) }
        }
    }
    return Tensor(unchecked: resultType, storage: data.storage.gathering(positions))
}

/// Static strided slice. The type rule has normalised the bounds: for a positive step
/// `0 <= start <= end <= dim`, for a negative step `-1 <= end <= start < dim`; element r of the
/// result along a sliced axis is source element `start + r * step`, and result sizes come from the type.
func slice(_ x: Tensor, starts: [Int], axes: [Int], steps: [Int], resultType: TensorType) -> Tensor {
    let sourceStrides = strides(of: x.shape)
    var offsets = resultType.shape.indices.map { axis in (0..<resultType.shape[axis]).map { $0 * sourceStrides[axis] } }
    for (slot, axis) in axes.enumerated() {
        offsets[axis] = (0..<resultType.shape[axis]).map { (starts[slot] + $0 * steps[slot]) * sourceStrides[axis] }
    }
    return Tensor(unchecked: resultType, storage: x.storage.gathering(offsetMap(shape: resultType.shape, offsets: offsets)))
}
