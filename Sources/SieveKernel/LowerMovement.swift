// Lowering of the data-movement ops of #12: pad, resize, gather_elements, gather_nd and the scatters.
// Copies are strided loop nests; per-axis index maps that are not affine become i64 tables in the weights.

import SieveIR

extension Lowerer {
    /// Emits `target[targetOffset + sum(i * targetStrides)] = source[sourceOffset + sum(i * sourceStrides)]`
    /// over `shape` (the loop shape may have more axes than either tensor: a stride of 0 repeats).
    func emitStridedCopy(_ builder: inout KernelBuilder, shape: [Int], source: BufferID, sourceOffset: Int, sourceStrides: [Int],
                         target: BufferID, targetOffset: Int, targetStrides: [Int]) {
        let count = shape.reduce(1, *)
        builder.loopNest(shape, parallel: isParallel(count)) { body, indices in
            body.store(target, .index(targetOffset) + flatIndex(indices, strides: targetStrides),
                       .load(source, index: .index(sourceOffset) + flatIndex(indices, strides: sourceStrides)))
        }
    }

    /// The fill value of a pad or an extrapolation, in the buffer's compute type.
    func literal(_ value: Float, for elementType: ElementType) -> KernelExpression {
        elementType.isFloat ? .float(value) : .int(Int64(value))
    }

    mutating func lowerPad(_ op: Operation, result: ValueID, pads: [Int], mode: PadMode, value: Float) throws {
        let x = type(op.operands[0])
        let shape = type(result).shape
        let rank = x.rank
        let input = try buffer(op.operands[0])
        let target = try buffer(result)
        let inStrides = rowMajorStrides(x.shape), outStrides = rowMajorStrides(shape)
        let count = type(result).elementCount ?? 0
        var builder = KernelBuilder()
        if mode == .constant {
            // The fill runs only when some position lies outside; the operand's kept part is then one strided copy.
            var inner: [Int] = [], sourceOffset = 0, targetOffset = 0
            for axis in 0..<rank {
                let begin = pads[axis], end = pads[axis + rank]
                let skipped = max(-begin, 0)
                inner.append(max(0, x.shape[axis] - skipped - max(-end, 0)))
                sourceOffset += skipped * inStrides[axis]
                targetOffset += max(begin, 0) * outStrides[axis]
            }
            if inner.reduce(1, *) < count {
                let fill = literal(value, for: x.elementType)
                builder.loop("i", to: .index(count), parallel: isParallel(count)) { body, i in body.store(target, i, fill) }
            }
            emitStridedCopy(&builder, shape: inner, source: input, sourceOffset: sourceOffset, sourceStrides: inStrides,
                            target: target, targetOffset: targetOffset, targetStrides: outStrides)
            addKernel(builder, pattern: "constant pad: fill, then the operand as a strided copy")
            return
        }
        // Reflect, edge and wrap: an axis whose positions all read `position - begin` is affine; others read a table.
        var offset = 0
        var tables: [Int: BufferID] = [:]
        for axis in 0..<rank {
            let begin = pads[axis]
            let map = (0..<shape[axis]).map { mode.sourceIndex($0, begin: begin, size: x.shape[axis]) ?? 0 }
            if map.enumerated().allSatisfy({ $0.element == $0.offset - begin }) {
                offset -= begin * inStrides[axis]
            } else {
                tables[axis] = addIntegerTable("\(name(result)).\(mode.rawValue)\(axis)", values: map.map { Int64($0 * inStrides[axis]) })
            }
        }
        builder.loopNest(shape, parallel: isParallel(count)) { body, indices in
            var source: KernelExpression = .index(offset)
            for axis in 0..<rank {
                if let table = tables[axis] {
                    source = source + .load(table, index: indices[axis])
                } else {
                    source = source + indices[axis] * .index(inStrides[axis])
                }
            }
            body.store(target, flatIndex(indices, strides: outStrides), .load(input, index: source))
        }
        addKernel(builder, pattern: "\(mode.rawValue) pad, index tables on the padded axes")
    }

    /// How one resized axis reads the operand when it only copies.
    private enum CopyAxis {
        /// Result position o reads `start + o * step`.
        case affine(start: Int, step: Int)
        /// Result position o reads `o / factor` (nearest upsampling by an integer factor).
        case repeating(factor: Int)
    }

    private func copyAxis(_ taps: [ResizeAttributes.Tap], inputSize: Int) -> CopyAxis? {
        guard taps.allSatisfy({ $0.lower >= 0 && ($0.weight == 0 || $0.lower == $0.upper) }) else { return nil }
        guard let first = taps.first else { return .affine(start: 0, step: 1) }
        let step = taps.count > 1 ? taps[1].lower - first.lower : 0
        if taps.enumerated().allSatisfy({ $0.element.lower == first.lower + $0.offset * step }) {
            return .affine(start: first.lower, step: step)
        }
        if taps.count % inputSize == 0 {
            let factor = taps.count / inputSize
            if taps.enumerated().allSatisfy({ $0.element.lower == $0.offset / factor }) { return .repeating(factor: factor) }
        }
        return nil
    }

    mutating func lowerResize(_ op: Operation, result: ValueID, attributes: ResizeAttributes) throws {
        let x = type(op.operands[0])
        let shape = type(result).shape
        let rank = x.rank
        let input = try buffer(op.operands[0])
        let target = try buffer(result)
        let inStrides = rowMajorStrides(x.shape), outStrides = rowMajorStrides(shape)
        let count = type(result).elementCount ?? 0
        let taps = (0..<rank).map { attributes.taps(axis: $0, inputSize: x.shape[$0], outputSize: shape[$0]) }
        let copies = (0..<rank).map { copyAxis(taps[$0], inputSize: x.shape[$0]) }
        var builder = KernelBuilder()

        // Every axis copies (nearest with integer factors, the models' case): one strided copy, an integer
        // factor becoming an extra loop axis whose source stride is 0.
        if copies.allSatisfy({ $0 != nil }) {
            var loopShape: [Int] = [], sourceStrides: [Int] = [], targetStrides: [Int] = []
            var sourceOffset = 0
            for axis in 0..<rank {
                switch copies[axis] {
                case let .affine(start, step)?:
                    loopShape.append(shape[axis])
                    sourceStrides.append(step * inStrides[axis])
                    targetStrides.append(outStrides[axis])
                    sourceOffset += start * inStrides[axis]
                case let .repeating(factor)?:
                    loopShape += [x.shape[axis], factor]
                    sourceStrides += [inStrides[axis], 0]
                    targetStrides += [factor * outStrides[axis], outStrides[axis]]
                case nil:
                    break
                }
            }
            emitStridedCopy(&builder, shape: loopShape, source: input, sourceOffset: sourceOffset, sourceStrides: sourceStrides,
                            target: target, targetOffset: 0, targetStrides: targetStrides)
            addKernel(builder, pattern: "\(attributes.mode.rawValue) resize as a strided copy (integer factors repeat by stride 0)")
            return
        }

        // Otherwise per-axis tables: source offsets (lower and upper), weights for interpolated axes, and an
        // inside flag where tf_crop_and_resize extrapolates.
        struct AxisTables { var lower: BufferID?; var upper: BufferID?; var weight: BufferID?; var inside: BufferID? }
        var tables = [AxisTables](repeating: AxisTables(), count: rank)
        for axis in 0..<rank {
            let axisTaps = taps[axis]
            let prefix = "\(name(result)).resize\(axis)"
            if axisTaps.contains(where: { $0.lower < 0 }) {
                tables[axis].inside = addIntegerTable("\(prefix).inside", values: axisTaps.map { $0.lower < 0 ? 0 : 1 })
            }
            if copies[axis] != nil && tables[axis].inside == nil { continue }
            tables[axis].lower = addIntegerTable("\(prefix).lower", values: axisTaps.map { Int64(max($0.lower, 0) * inStrides[axis]) })
            if axisTaps.contains(where: { $0.weight != 0 && $0.lower != $0.upper }) {
                tables[axis].upper = addIntegerTable("\(prefix).upper", values: axisTaps.map { Int64(max($0.upper, 0) * inStrides[axis]) })
                tables[axis].weight = addTable("\(prefix).weight", elementType: .f32, values: axisTaps.map { Double($0.weight) })
            }
        }
        let extrapolation = literal(attributes.extrapolationValue, for: x.elementType)
        builder.loopNest(shape, parallel: isParallel(count)) { body, indices in
            var base: KernelExpression = 0
            var interpolated: [(lower: KernelExpression, upper: KernelExpression, weight: KernelExpression)] = []
            var inside: KernelExpression? = nil
            for axis in 0..<rank {
                let i = indices[axis]
                if let flag = tables[axis].inside {
                    let test: KernelExpression = .binary(.ne, .load(flag, index: i), 0)
                    inside = inside.map { .binary(.and, $0, test) } ?? test
                }
                if let lower = tables[axis].lower {
                    if let upper = tables[axis].upper, let weight = tables[axis].weight {
                        let w = body.declare("w\(axis)", .f32, .load(weight, index: i))
                        interpolated.append((.load(lower, index: i), .load(upper, index: i), w))
                    } else {
                        base = base + .load(lower, index: i)
                    }
                } else {
                    switch copies[axis] {
                    case let .affine(start, step)?: base = base + (.index(start) + i * .index(step)) * .index(inStrides[axis])
                    case let .repeating(factor)?: base = base + (i / .index(factor)) * .index(inStrides[axis])
                    case nil: break
                    }
                }
            }
            let origin = body.declare("base", .i64, base)
            // Separable interpolation: (1 - w) * (lower side) + w * (upper side), one interpolated axis at a time.
            func mix(_ axes: ArraySlice<(lower: KernelExpression, upper: KernelExpression, weight: KernelExpression)>,
                     _ offset: KernelExpression) -> KernelExpression {
                guard let first = axes.first else { return .load(input, index: offset) }
                let rest = axes.dropFirst()
                return .binary(.add, .binary(.mul, .binary(.sub, .float(1), first.weight), mix(rest, offset + first.lower)),
                               .binary(.mul, first.weight, mix(rest, offset + first.upper)))
            }
            let value = mix(interpolated[...], origin)
            body.store(target, flatIndex(indices, strides: outStrides), inside.map { .select($0, value, extrapolation) } ?? value)
        }
        addKernel(builder, pattern: "\(attributes.mode.rawValue) resize with per-axis index tables")
    }

    /// Emits a loop that traps when any entry of `indices` is outside [-size, size) (a bad index stops the run
    /// before anything is written). `size(k)` gives the axis size that the k-th entry of each row of `depth` indexes.
    private func checkIndices(_ builder: inout KernelBuilder, _ indices: BufferID, count: Int, depth: Int, size: (Int) -> Int) {
        builder.loop("p", to: .index(count / max(depth, 1))) { body, p in
            for k in 0..<depth {
                let index = body.declare("index", .i64, .load(indices, index: p * .index(depth) + .index(k)))
                body.branch(.binary(.or, .binary(.lt, index, .index(-size(k))), .binary(.ge, index, .index(size(k))))) {
                    $0.emit(.trap(.indexOutOfRange))
                }
            }
        }
    }

    /// A checked index made non-negative.
    private func normalized(_ body: inout KernelBuilder, _ raw: KernelExpression, size: Int) -> KernelExpression {
        let index = body.declare("index", .i64, raw)
        return body.declare("row", .i64, .select(.binary(.lt, index, 0), index + .index(size), index))
    }

    mutating func lowerGatherElements(_ op: Operation, result: ValueID, axis: Int) throws {
        let dataShape = type(op.operands[0]).shape
        let indexShape = type(op.operands[1]).shape
        let data = try buffer(op.operands[0]), indices = try buffer(op.operands[1]), target = try buffer(result)
        let dataStrides = rowMajorStrides(dataShape), indexStrides = rowMajorStrides(indexShape)
        let count = type(result).elementCount ?? 0
        var builder = KernelBuilder()
        checkIndices(&builder, indices, count: count, depth: 1) { _ in dataShape[axis] }
        builder.loopNest(indexShape, parallel: isParallel(count)) { body, position in
            let flat = flatIndex(position, strides: indexStrides)
            let index = normalized(&body, .load(indices, index: flat), size: dataShape[axis])
            var source = index * .index(dataStrides[axis])
            for other in dataShape.indices where other != axis { source = source + position[other] * .index(dataStrides[other]) }
            body.store(target, flat, .load(data, index: source))
        }
        addKernel(builder, pattern: "gather_elements with index check")
    }

    /// The data offset named by row `row` of an ND indices buffer (entries already checked).
    private func ndOffset(_ body: inout KernelBuilder, _ indices: BufferID, row: KernelExpression, depth: Int, batchDims: Int,
                          dataShape: [Int], rowsPerBatch: Int) -> KernelExpression {
        let dataStrides = rowMajorStrides(dataShape)
        var offset: KernelExpression = batchDims == 0 ? 0 : (row / .index(max(rowsPerBatch, 1))) * .index(dataStrides[batchDims - 1])
        for k in 0..<depth {
            let axis = batchDims + k
            let index = normalized(&body, .load(indices, index: row * .index(depth) + .index(k)), size: dataShape[axis])
            offset = offset + index * .index(dataStrides[axis])
        }
        return body.declare("offset", .i64, offset)
    }

    mutating func lowerGatherND(_ op: Operation, result: ValueID, batchDims: Int) throws {
        let dataShape = type(op.operands[0]).shape
        let indexShape = type(op.operands[1]).shape
        let data = try buffer(op.operands[0]), indices = try buffer(op.operands[1]), target = try buffer(result)
        let depth = indexShape.last ?? 1
        let rows = indexShape.dropLast().reduce(1, *)
        let rowsPerBatch = indexShape[batchDims..<(indexShape.count - 1)].reduce(1, *)
        let inner = dataShape[(batchDims + depth)...].reduce(1, *)
        var builder = KernelBuilder()
        checkIndices(&builder, indices, count: rows * depth, depth: depth) { dataShape[batchDims + $0] }
        builder.loop("r", to: .index(rows), parallel: isParallel(rows * inner)) { body, r in
            let offset = ndOffset(&body, indices, row: r, depth: depth, batchDims: batchDims, dataShape: dataShape, rowsPerBatch: rowsPerBatch)
            body.loop("i", to: .index(inner)) { body, i in
                body.store(target, r * .index(inner) + i, .load(data, index: offset + i))
            }
        }
        addKernel(builder, pattern: "gather_nd with index check, one contiguous slice per index row")
    }

    /// `old` combined with `new` by a scatter reduction, in the buffer's compute type.
    private func combine(_ reduction: ScatterReduction, _ old: KernelExpression, _ new: KernelExpression, isFloat: Bool) -> KernelExpression {
        switch reduction {
        case .none: return new
        case .add: return .binary(isFloat ? .add : .wrappingAdd, old, new)
        case .mul: return .binary(isFloat ? .mul : .wrappingMul, old, new)
        case .max: return binaryValue(.max, old, new, isFloat: isFloat)
        case .min: return binaryValue(.min, old, new, isFloat: isFloat)
        }
    }

    /// Copies the data operand to the result, the first step of a scatter.
    private func copyData(_ builder: inout KernelBuilder, _ data: BufferID, _ target: BufferID, count: Int) {
        builder.loop("i", to: .index(count), parallel: isParallel(count)) { body, i in body.store(target, i, .load(data, index: i)) }
    }

    mutating func lowerScatterElements(_ op: Operation, result: ValueID, axis: Int, reduction: ScatterReduction) throws {
        let dataType = type(op.operands[0])
        let indexShape = type(op.operands[1]).shape
        let data = try buffer(op.operands[0]), indices = try buffer(op.operands[1]), updates = try buffer(op.operands[2])
        let target = try buffer(result)
        let dataStrides = rowMajorStrides(dataType.shape), indexStrides = rowMajorStrides(indexShape)
        let indexCount = indexShape.reduce(1, *)
        var builder = KernelBuilder()
        checkIndices(&builder, indices, count: indexCount, depth: 1) { _ in dataType.shape[axis] }
        copyData(&builder, data, target, count: dataType.elementCount ?? 0)
        // In index order on one thread: a later duplicate index overwrites (or combines with) an earlier one.
        builder.loopNest(indexShape) { body, position in
            let flat = flatIndex(position, strides: indexStrides)
            let index = normalized(&body, .load(indices, index: flat), size: dataType.shape[axis])
            var place = index * .index(dataStrides[axis])
            for other in dataType.shape.indices where other != axis { place = place + position[other] * .index(dataStrides[other]) }
            let slot = body.declare("slot", .i64, place)
            body.store(target, slot, combine(reduction, .load(target, index: slot), .load(updates, index: flat), isFloat: dataType.elementType.isFloat))
        }
        addKernel(builder, pattern: "scatter_elements: copy, then updates in index order")
    }

    mutating func lowerScatterND(_ op: Operation, result: ValueID, reduction: ScatterReduction) throws {
        let dataType = type(op.operands[0])
        let indexShape = type(op.operands[1]).shape
        let data = try buffer(op.operands[0]), indices = try buffer(op.operands[1]), updates = try buffer(op.operands[2])
        let target = try buffer(result)
        let depth = indexShape.last ?? 1
        let rows = indexShape.dropLast().reduce(1, *)
        let inner = dataType.shape[depth...].reduce(1, *)
        var builder = KernelBuilder()
        checkIndices(&builder, indices, count: rows * depth, depth: depth) { dataType.shape[$0] }
        copyData(&builder, data, target, count: dataType.elementCount ?? 0)
        builder.loop("r", to: .index(rows)) { body, r in
            let offset = ndOffset(&body, indices, row: r, depth: depth, batchDims: 0, dataShape: dataType.shape, rowsPerBatch: rows)
            body.loop("i", to: .index(inner)) { body, i in
                body.store(target, offset + i, combine(reduction, .load(target, index: offset + i),
                                                       .load(updates, index: r * .index(inner) + i), isFloat: dataType.elementType.isFloat))
            }
        }
        addKernel(builder, pattern: "scatter_nd: copy, then update slices in index order")
    }
}
