// Reference semantics of the data-movement ops of #12: pad, resize, gather_elements, gather_nd and the scatters.
// Index rules (pad's source index, resize's taps) come from SieveIR so that lowering computes the same positions.

import SieveIR

/// Pads or crops every axis; positions outside the operand read `value` (constant mode) or a mirrored,
/// edge or wrapped element.
func pad(_ x: Tensor, pads: [Int], mode: PadMode, value: Float, resultType: TensorType) -> Tensor {
    let rank = x.shape.count
    let sourceStrides = strides(of: x.shape)
    // Outside positions get a sentinel so negative that no sum of in-range offsets brings it back.
    let outside = -(1 << 60) / max(rank, 1)
    let offsets = resultType.shape.indices.map { axis in
        (0..<resultType.shape[axis]).map { position in
            mode.sourceIndex(position, begin: pads[axis], size: x.shape[axis]).map { $0 * sourceStrides[axis] } ?? outside
        }
    }
    let positions = offsetMap(shape: resultType.shape, offsets: offsets)
    switch x.storage {
    case let .floats(values):
        let fill = roundedFloat(value, to: resultType.elementType)
        return Tensor(unchecked: resultType, storage: .floats(positions.map { $0 >= 0 ? values[$0] : fill }))
    case let .integers(values):
        let fill = wrappedInteger(toInt64(Double(value)), to: resultType.elementType)
        return Tensor(unchecked: resultType, storage: .integers(positions.map { $0 >= 0 ? values[$0] : fill }))
    }
}

/// Nearest or linear resize: every result element mixes the operand elements at the taps of each axis.
func resize(_ x: Tensor, attributes: ResizeAttributes, resultType: TensorType) -> Tensor {
    let shape = resultType.shape
    let taps = shape.indices.map { attributes.taps(axis: $0, inputSize: x.shape[$0], outputSize: shape[$0]) }
    let sourceStrides = strides(of: x.shape)
    let values = x.doubles
    let count = product(shape)
    var result = [Double](repeating: 0, count: count)
    var index = [Int](repeating: 0, count: shape.count)
    for flat in 0..<count {
        // The sum over the 2^rank corners of the product of per-axis weights (axes with weight 0 add nothing).
        var corners: [(offset: Int, weight: Double)] = [(0, 1)]
        var outside = false
        for axis in shape.indices {
            let tap = taps[axis][index[axis]]
            if tap.lower < 0 { outside = true; break }
            let weight = Double(tap.weight)
            var next: [(offset: Int, weight: Double)] = []
            for corner in corners {
                next.append((corner.offset + tap.lower * sourceStrides[axis], corner.weight * (1 - weight)))
                if weight != 0 { next.append((corner.offset + tap.upper * sourceStrides[axis], corner.weight * weight)) }
            }
            corners = next
        }
        result[flat] = outside ? Double(attributes.extrapolationValue)
            : corners.reduce(0) { $0 + $1.weight * values[$1.offset] }
        var axis = shape.count - 1
        while axis >= 0 {
            index[axis] += 1
            if index[axis] < shape[axis] { break }
            index[axis] = 0
            axis -= 1
        }
    }
    switch x.storage {
    case .floats: return floatResult(resultType, result.map { Float($0) })
    case .integers:
        return integerResult(resultType, result.map { toInt64($0.rounded(.toNearestOrEven)) })
    }
}

/// An index read from an indices tensor, made non-negative; out of range is an error naming the op.
private func resolveIndex(_ raw: Int64, size: Int, op: String, position: Int) throws -> Int {
    guard raw >= -Int64(size), raw < Int64(size) else {
        throw EvaluationError("\(op) index \(raw) (at position \(position) of the indices) is out of range for an axis of size \(size); valid indices are \(-size) to \(size - 1)")
    }
    return Int(raw < 0 ? raw + Int64(size) : raw)
}

/// The multi-index of each row-major position of `shape`, as a closure over the flat position.
private func unflatten(_ flat: Int, _ stridesOfShape: [Int], _ shape: [Int]) -> [Int] {
    shape.indices.map { shape[$0] == 0 ? 0 : (flat / stridesOfShape[$0]) % shape[$0] }
}

/// ONNX GatherElements.
func gatherElements(_ data: Tensor, indices: Tensor, axis: Int, resultType: TensorType) throws -> Tensor {
    let dataStrides = strides(of: data.shape), indexStrides = strides(of: indices.shape)
    let picks = indices.integerValues
    var positions: [Int] = []
    positions.reserveCapacity(picks.count)
    for (flat, raw) in picks.enumerated() {
        var index = unflatten(flat, indexStrides, indices.shape)
        index[axis] = try resolveIndex(raw, size: data.shape[axis], op: "gather_elements", position: flat)
        positions.append(zip(index, dataStrides).reduce(0) { $0 + $1.0 * $1.1 })
    }
    return Tensor(unchecked: resultType, storage: data.storage.gathering(positions))
}

/// For each row of an ND indices tensor (its last axis spans `depth` data axes after `batchDims`), the
/// flat data offset it names.
private func ndOffsets(dataShape: [Int], indices: Tensor, batchDims: Int, op: String) throws -> [Int] {
    let depth = indices.shape.last ?? 1
    let dataStrides = strides(of: dataShape)
    let rows = indices.shape.isEmpty ? 0 : product(indices.shape.dropLast())
    let rowsPerBatch = product(indices.shape[batchDims..<(indices.shape.count - 1)])
    let batchStride = batchDims == 0 ? 0 : dataStrides[batchDims - 1]
    let picks = indices.integerValues
    return try (0..<rows).map { row in
        var offset = batchDims == 0 ? 0 : (row / max(rowsPerBatch, 1)) * batchStride
        for k in 0..<depth {
            let axis = batchDims + k
            offset += try resolveIndex(picks[row * depth + k], size: dataShape[axis], op: op, position: row * depth + k) * dataStrides[axis]
        }
        return offset
    }
}

/// ONNX GatherND.
func gatherND(_ data: Tensor, indices: Tensor, batchDims: Int, resultType: TensorType) throws -> Tensor {
    let depth = indices.shape.last ?? 1
    let inner = product(data.shape[(batchDims + depth)...])
    let offsets = try ndOffsets(dataShape: data.shape, indices: indices, batchDims: batchDims, op: "gather_nd")
    var positions: [Int] = []
    positions.reserveCapacity(offsets.count * inner)
    for offset in offsets {
        for i in 0..<inner { positions.append(offset + i) }
    }
    return Tensor(unchecked: resultType, storage: data.storage.gathering(positions))
}

/// Writes `updates` into a copy of `data` at `positions`, in order (a later duplicate wins for `none`).
private func scatter(_ data: Tensor, _ updates: Tensor, positions: [Int], reduction: ScatterReduction,
                     resultType: TensorType) -> Tensor {
    switch (data.storage, updates.storage) {
    case let (.floats(values), .floats(new)):
        var result = values
        for (slot, position) in positions.enumerated() {
            switch reduction {
            case .none: result[position] = new[slot]
            case .add: result[position] += new[slot]
            case .mul: result[position] *= new[slot]
            case .max: result[position] = result[position].isNaN || new[slot].isNaN ? .nan : Swift.max(result[position], new[slot])
            case .min: result[position] = result[position].isNaN || new[slot].isNaN ? .nan : Swift.min(result[position], new[slot])
            }
        }
        return floatResult(resultType, result)
    default:
        var result = data.integerValues
        let new = updates.integerValues
        for (slot, position) in positions.enumerated() {
            switch reduction {
            case .none: result[position] = new[slot]
            case .add: result[position] = result[position] &+ new[slot]
            case .mul: result[position] = result[position] &* new[slot]
            case .max: result[position] = Swift.max(result[position], new[slot])
            case .min: result[position] = Swift.min(result[position], new[slot])
            }
        }
        return integerResult(resultType, result)
    }
}

/// ONNX ScatterElements.
func scatterElements(_ data: Tensor, indices: Tensor, updates: Tensor, axis: Int, reduction: ScatterReduction,
                     resultType: TensorType) throws -> Tensor {
    let dataStrides = strides(of: data.shape), indexStrides = strides(of: indices.shape)
    let positions = try indices.integerValues.enumerated().map { flat, raw in
        var index = unflatten(flat, indexStrides, indices.shape)
        index[axis] = try resolveIndex(raw, size: data.shape[axis], op: "scatter_elements", position: flat)
        return zip(index, dataStrides).reduce(0) { $0 + $1.0 * $1.1 }
    }
    return scatter(data, updates, positions: positions, reduction: reduction, resultType: resultType)
}

/// ONNX ScatterND.
func scatterND(_ data: Tensor, indices: Tensor, updates: Tensor, reduction: ScatterReduction,
               resultType: TensorType) throws -> Tensor {
    let depth = indices.shape.last ?? 1
    let inner = product(data.shape[depth...])
    let offsets = try ndOffsets(dataShape: data.shape, indices: indices, batchDims: 0, op: "scatter_nd")
    var positions: [Int] = []
    positions.reserveCapacity(offsets.count * inner)
    for offset in offsets {
        for i in 0..<inner { positions.append(offset + i) }
    }
    return scatter(data, updates, positions: positions, reduction: reduction, resultType: resultType)
}
