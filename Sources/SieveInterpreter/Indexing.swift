// Index arithmetic shared by the kernels: row-major strides, broadcast maps and strided gathers.
// Data movement is expressed as "result element i reads source element map[i]" so one helper serves every storage.

import SieveIR

/// The product of dimension sizes (1 for a scalar).
func product<C: Collection>(_ dims: C) -> Int where C.Element == Int {
    dims.reduce(1, *)
}

/// Row-major strides of a shape, in elements.
func strides(of shape: [Int]) -> [Int] {
    var result = [Int](repeating: 1, count: shape.count)
    var stride = 1
    for axis in shape.indices.reversed() {
        result[axis] = stride
        stride *= shape[axis]
    }
    return result
}

/// For every element of a tensor of shape `shape` in row-major order, the sum over axes of
/// `offsets[axis][index along axis]`: the source position when `offsets` holds per-axis source offsets.
func offsetMap(shape: [Int], offsets: [[Int]]) -> [Int] {
    var result = [0]
    for axis in shape.indices {
        let axisOffsets = offsets[axis]
        var next: [Int] = []
        next.reserveCapacity(result.count * axisOffsets.count)
        for base in result {
            for offset in axisOffsets { next.append(base + offset) }
        }
        result = next
    }
    return result
}

/// For every element of `target`, the element of a `source`-shaped tensor that NumPy broadcasting
/// reads (size-1 and missing leading axes repeat). The shapes are known to broadcast.
func broadcastMap(from source: [Int], to target: [Int]) -> [Int] {
    let sourceStrides = strides(of: source)
    let lead = target.count - source.count
    let offsets = target.indices.map { axis -> [Int] in
        let dim = target[axis]
        guard axis >= lead, source[axis - lead] != 1 else { return [Int](repeating: 0, count: dim) }
        return (0..<dim).map { $0 * sourceStrides[axis - lead] }
    }
    return offsetMap(shape: target, offsets: offsets)
}

extension Tensor.Storage {
    /// The elements at the given positions, in order.
    func gathering(_ positions: [Int]) -> Tensor.Storage {
        switch self {
        case let .floats(values): return .floats(positions.map { values[$0] })
        case let .integers(values): return .integers(positions.map { values[$0] })
        }
    }

    /// The number of elements.
    var count: Int {
        switch self {
        case let .floats(values): return values.count
        case let .integers(values): return values.count
        }
    }
}

extension Tensor {
    /// The elements broadcast to `shape` (no copy when the shape is already `shape`).
    func storage(broadcastTo shape: [Int]) -> Storage {
        self.shape == shape ? storage : storage.gathering(broadcastMap(from: self.shape, to: shape))
    }

    /// The elements as Floats, for any element type (integers convert exactly up to 2^24).
    var floatValues: [Float] {
        switch storage {
        case let .floats(values): return values
        case let .integers(values): return values.map { Float($0) }
        }
    }

    /// The elements as Int64s, for any element type (floats truncate toward zero and saturate).
    var integerValues: [Int64] {
        switch storage {
        case let .floats(values): return values.map { toInt64(Double($0).rounded(.towardZero)) }
        case let .integers(values): return values
        }
    }
}

/// A float result, rounded to the result's element type.
func floatResult(_ type: TensorType, _ values: [Float]) -> Tensor {
    Tensor(unchecked: type, storage: .floats(roundedFloats(values, to: type.elementType)))
}

/// An integer or bool result, wrapped to the result's element type.
func integerResult(_ type: TensorType, _ values: [Int64]) -> Tensor {
    Tensor(unchecked: type, storage: .integers(wrappedIntegers(values, to: type.elementType)))
}
