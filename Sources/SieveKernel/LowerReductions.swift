// Lowering of reductions and normalizations: softmax, log_softmax, layer_norm, batch_norm, the reduce_* group,
// arg_max/arg_min, cum_sum, top_k and pooling. Sums accumulate in f64 where the interpreter does, so results match it to f32 rounding.

import SieveIR

extension Lowerer {
    /// softmax, or log_softmax when `logarithmic`: one pass for the maximum, one for the sum of exponentials
    /// (both in f64), one that writes `exp(x - max) / sum` or `x - (max + log sum)`; softmax along a contiguous f32
    /// axis of at least one vector takes `lowerContiguousSoftmax` instead.
    mutating func lowerSoftmax(_ op: Operation, result: ValueID, axis: Int, logarithmic: Bool) throws {
        let shape = type(result).shape
        let length = shape[axis], inner = shape[(axis + 1)...].reduce(1, *), outer = shape[..<axis].reduce(1, *)
        let x = try buffer(op.operands[0]), target = try buffer(result)
        // Softmax (not log_softmax, whose double path keeps x - (max + log sum) exact) of a contiguous f32 axis
        // takes the vector path.
        if !logarithmic && inner == 1 && length >= width && program.buffers[x.index].elementType == .f32 {
            lowerContiguousSoftmax(x: x, target: target, rows: outer, length: length)
            return
        }
        var builder = KernelBuilder()
        builder.loop("row", to: .index(outer * inner), parallel: isParallel(outer * inner * length)) { body, row in
            let base = body.declare("base", .i64, (row / .index(inner)) * .index(length * inner) + row % .index(inner))
            let largest = body.declare("largest", .f64, .double(-.infinity))
            body.loop("k", to: .index(length)) { body, k in
                let value = KernelExpression.convert(.load(x, index: base + k * .index(inner)), to: .f64)
                body.assign(largest, .binary(.max, largest, value))
            }
            let sum = body.declare("sum", .f64, .double(0))
            body.loop("k", to: .index(length)) { body, k in
                let value = KernelExpression.convert(.load(x, index: base + k * .index(inner)), to: .f64)
                body.assign(sum, .binary(.add, sum, .unary(.exp, .binary(.sub, value, largest))))
            }
            if logarithmic {
                let shift = body.declare("shift", .f64, .binary(.add, largest, .unary(.log, sum)))
                body.loop("k", to: .index(length)) { body, k in
                    let value = KernelExpression.convert(.load(x, index: base + k * .index(inner)), to: .f64)
                    body.store(target, base + k * .index(inner), .convert(.binary(.sub, value, shift), to: .f32))
                }
            } else {
                body.loop("k", to: .index(length)) { body, k in
                    let value = KernelExpression.convert(.load(x, index: base + k * .index(inner)), to: .f64)
                    body.store(target, base + k * .index(inner),
                               .convert(.binary(.div, .unary(.exp, .binary(.sub, value, largest)), sum), to: .f32))
                }
            }
        }
        addKernel(builder, pattern: logarithmic ? "log_softmax: max, log of the sum of exponentials in f64, subtract"
                                              : "softmax: max, sum of exponentials in f64, normalise")
    }

    /// Softmax along a contiguous last axis of at least one vector, in f32 vectors: the row's maximum, then
    /// e^(x - max) by the vector exp (within 2 ulp), stored and summed in vector lanes, then one multiply by
    /// 1 / sum. The scalar path computes in double; this one differs from it by a few f32 ulps (the attention
    /// softmax of a BERT encoder took 8 ns per element that way, 30% of the encoder's time).
    mutating func lowerContiguousSoftmax(x: BufferID, target: BufferID, rows: Int, length: Int) {
        let w = width, vectors = length / w, tail = vectors * w
        var builder = KernelBuilder()
        builder.loop("row", to: .index(rows), parallel: isParallel(rows * length)) { body, row in
            let base = body.declare("base", .i64, row * .index(length))
            let shift: KernelExpression
            var largest: KernelExpression?  // the scalar maximum, which only a row with a tail needs
            if tail == length {
                // Whole vectors: the maximum lane-wise over the row's vectors, then across the lanes as a tree of
                // splats, leaving it in every lane (a scalar chain of `length` dependent maxima took 3.5 cycles an
                // element). Kernel IR reads no single lane, so a row with a tail takes the scalar chain.
                let lanesMax = body.declare("lanes_max", .f32x(w), .vectorLoad(x, index: base, width: w))
                body.loop("v", from: 1, to: .index(vectors)) { body, v in
                    body.assign(lanesMax, .binary(.max, lanesMax, .vectorLoad(x, index: base + v * .index(w), width: w)))
                }
                var splats: [KernelExpression] = (0..<w).map { .broadcastLane(lanesMax, lane: $0) }
                while splats.count > 1 {
                    splats = stride(from: 0, to: splats.count, by: 2).map { index in
                        body.declare("max", .f32x(w), .binary(.max, splats[index], splats[index + 1]))
                    }
                }
                shift = splats[0]
            } else {
                let scalar = body.declare("largest", .f32, .float(-.infinity))
                body.loop("k", to: .index(length)) { body, k in
                    body.assign(scalar, .binary(.max, scalar, .load(x, index: base + k)))
                }
                shift = body.declare("shift", .f32x(w), .broadcast(scalar, width: w))
                largest = scalar
            }
            let lanes = body.declare("lanes", .f32x(w), .broadcast(.float(0), width: w))
            body.loop("v", to: .index(vectors)) { body, v in
                let index = body.declare("i", .i64, base + v * .index(w))
                let e = body.declare("e", .f32x(w), .unary(.exp, .binary(.sub, .vectorLoad(x, index: index, width: w), shift)))
                body.emit(.vectorStore(target, index: index, value: e))
                body.assign(lanes, .binary(.add, lanes, e))
            }
            let sum = body.declare("sum", .f32, .reduceAdd(lanes))
            if let largest {
                body.loop("k", from: .index(tail), to: .index(length)) { body, k in
                    let e = body.declare("e", .f32, .unary(.exp, .binary(.sub, .load(x, index: base + k), largest)))
                    body.store(target, base + k, e)
                    body.assign(sum, .binary(.add, sum, e))
                }
            }
            let inverse = body.declare("inverse", .f32, .binary(.div, .float(1), sum))
            let scale = body.declare("scale", .f32x(w), .broadcast(inverse, width: w))
            body.loop("v", to: .index(vectors)) { body, v in
                let index = body.declare("i", .i64, base + v * .index(w))
                body.emit(.vectorStore(target, index: index, value: .binary(.mul, .vectorLoad(target, index: index, width: w), scale)))
            }
            body.loop("k", from: .index(tail), to: .index(length)) { body, k in
                body.store(target, base + k, .binary(.mul, .load(target, index: base + k), inverse))
            }
        }
        addKernel(builder, pattern: "softmax along a contiguous axis in f32x\(w): max, vector exp stored and summed, scale by 1/sum")
    }

    mutating func lowerLayerNorm(_ op: Operation, result: ValueID, axis: Int, epsilon: Float) throws {
        let shape = type(result).shape
        let normalized = Array(shape[axis...])
        let count = normalized.reduce(1, *)
        let groups = count == 0 ? 0 : (type(result).elementCount ?? 0) / count
        let x = try buffer(op.operands[0]), target = try buffer(result)
        let scale = try buffer(op.operands[1])
        let scaleStrides = broadcastStrides(from: type(op.operands[1]).shape, to: normalized)
        let bias = op.operands.count == 3 ? try buffer(op.operands[2]) : nil
        let biasStrides = op.operands.count == 3 ? broadcastStrides(from: type(op.operands[2]).shape, to: normalized) : []
        let normalizedStrides = rowMajorStrides(normalized)
        var builder = KernelBuilder()
        builder.loop("group", to: .index(groups), parallel: isParallel(groups * count)) { body, group in
            let base = body.declare("base", .i64, group * .index(count))
            let element = { (i: KernelExpression) -> KernelExpression in .convert(.load(x, index: base + i), to: .f64) }
            let sum = sumInChains(&body, count: count, name: "sum") { _, i, total in .binary(.add, total, element(i)) }
            let mean = body.declare("mean", .f64, .binary(.div, sum, .double(Double(count))))
            let squares = sumInChains(&body, count: count, name: "squares") { body, i, total in
                let deviation = body.declare("deviation", .f64, .binary(.sub, element(i), mean))
                return .fma(deviation, deviation, total)
            }
            let inverse = body.declare("inverse", .f64, .binary(.div, .double(1), .unary(.sqrt,
                .binary(.add, .binary(.div, squares, .double(Double(count))), .double(Double(epsilon))))))
            body.loopNest(normalized, prefix: "n") { body, indices in
                let i = flatIndex(indices, strides: normalizedStrides)
                var y = KernelExpression.binary(.mul, .binary(.mul, .binary(.sub, .convert(.load(x, index: base + i), to: .f64), mean), inverse),
                                          .convert(.load(scale, index: flatIndex(indices, strides: scaleStrides)), to: .f64))
                if let bias { y = .binary(.add, y, .convert(.load(bias, index: flatIndex(indices, strides: biasStrides)), to: .f64)) }
                body.store(target, base + i, .convert(y, to: .f32))
            }
        }
        addKernel(builder, pattern: "layer norm: mean and variance in f64 (4 chains each), then scale and bias")
    }

    /// A sum in f64 over `count` terms in 4 independent chains (elements i, i + 1, i + 2, i + 3 of each step,
    /// then the tail), added at the end: one chain of dependent f64 adds took the latency of an add per element
    /// (layer norm's two passes were 62 µs for 128 rows of 384 on the Zen 5). `accumulate(body, i, total)` gives
    /// the chain's next value. The order differs from one chain's only in f64 rounding, far below f32's.
    func sumInChains(_ body: inout KernelBuilder, count: Int, name: String,
                     _ accumulate: (inout KernelBuilder, KernelExpression, KernelExpression) -> KernelExpression) -> KernelExpression {
        let chains = 4, whole = count / chains * chains
        let totals = (0..<chains).map { body.declare("\(name)\($0)", .f64, .double(0)) }
        body.loop("i", to: .index(whole), step: chains) { body, i in
            for (offset, total) in totals.enumerated() {
                body.assign(total, accumulate(&body, i + .index(offset), total))
            }
        }
        body.loop("i", from: .index(whole), to: .index(count)) { body, i in
            body.assign(totals[0], accumulate(&body, i, totals[0]))
        }
        return body.declare(name, .f64, .binary(.add, .binary(.add, totals[0], totals[1]), .binary(.add, totals[2], totals[3])))
    }

    mutating func lowerBatchNorm(_ op: Operation, result: ValueID, epsilon: Float) throws {
        let shape = type(result).shape
        let channels = shape[1], inner = shape[2...].reduce(1, *), outer = shape[0]
        let x = try buffer(op.operands[0]), target = try buffer(result)
        let scale = try buffer(op.operands[1]), bias = try buffer(op.operands[2])
        let mean = try buffer(op.operands[3]), variance = try buffer(op.operands[4])
        var builder = KernelBuilder()
        builder.loop("plane", to: .index(outer * channels), parallel: isParallel(outer * channels * inner)) { body, plane in
            let channel = body.declare("channel", .i64, plane % .index(channels))
            func wide(_ buffer: BufferID) -> KernelExpression { .convert(.load(buffer, index: channel), to: .f64) }
            let factor = body.declare("factor", .f64, .binary(.div, wide(scale),
                .unary(.sqrt, .binary(.add, wide(variance), .double(Double(epsilon))))))
            let centre = body.declare("centre", .f64, wide(mean))
            let shift = body.declare("shift", .f64, wide(bias))
            body.loop("i", to: .index(inner)) { body, i in
                let index = plane * .index(inner) + i
                let centred = KernelExpression.binary(.sub, .convert(.load(x, index: index), to: .f64), centre)
                body.store(target, index, .convert(.fma(centred, factor, shift), to: .f32))
            }
        }
        addKernel(builder, pattern: "batch norm: per-channel factor in f64")
    }

    mutating func lowerReduceMean(_ op: Operation, result: ValueID, axes: [Int]) throws {
        let shape = type(op.operands[0]).shape
        let x = try buffer(op.operands[0]), target = try buffer(result)
        let strides = rowMajorStrides(shape)
        let keptAxes = shape.indices.filter { !axes.contains($0) }
        let keptShape = keptAxes.map { shape[$0] }
        let reducedShape = axes.map { shape[$0] }
        let count = reducedShape.reduce(1, *)
        let resultStrides = rowMajorStrides(keptShape)
        var builder = KernelBuilder()
        builder.loopNest(keptShape, prefix: "o", parallel: isParallel(type(op.operands[0]).elementCount ?? 0)) { body, outer in
            let sum = body.declare("sum", .f64, .double(0))
            let base = flatIndex(outer, strides: keptAxes.map { strides[$0] })
            body.loopNest(reducedShape, prefix: "r") { body, reduced in
                let index = base + flatIndex(reduced, strides: axes.map { strides[$0] })
                body.assign(sum, .binary(.add, sum, .convert(.load(x, index: index), to: .f64)))
            }
            body.store(target, flatIndex(outer, strides: resultStrides),
                       .convert(.binary(.div, sum, .double(Double(count))), to: .f32))
        }
        addKernel(builder, pattern: "reduce mean in f64")
    }

    mutating func lowerPool(_ op: Operation, result: ValueID, attributes: Pool2DAttributes, maximum: Bool) throws {
        let input = type(op.operands[0]).shape, output = type(result).shape
        let x = try buffer(op.operands[0]), target = try buffer(result)
        let (height, width) = (input[2], input[3])
        let (outH, outW) = (output[2], output[3])
        let planes = input[0] * input[1]
        // 8-bit max pools (quantized data) compare the loaded integers, starting from the type's low end.
        let lowest = type(op.operands[0]).elementType.integerRange?.lowerBound
        var builder = KernelBuilder()
        builder.loop("plane", to: .index(planes), parallel: isParallel(planes * outH * outW)) { body, plane in
            body.loop("oy", to: .index(outH)) { body, oy in
                body.loop("ox", to: .index(outW)) { body, ox in
                    let startY = body.declare("start_y", .i64, oy * .index(attributes.strides[0]) - .index(attributes.pads[0]))
                    let startX = body.declare("start_x", .i64, ox * .index(attributes.strides[1]) - .index(attributes.pads[1]))
                    let accumulator = !maximum ? body.declare("sum", .f64, .double(0))
                        : lowest.map { body.declare("largest", .i64, .int($0)) } ?? body.declare("largest", .f32, .float(-.infinity))
                    let inside = body.declare("inside", .i64, 0)
                    let padded = body.declare("padded", .i64, 0)
                    body.loop("ky", to: .index(attributes.kernel[0])) { body, ky in
                        body.loop("kx", to: .index(attributes.kernel[1])) { body, kx in
                            let iy = body.declare("iy", .i64, startY + ky * .index(attributes.dilations[0]))
                            let ix = body.declare("ix", .i64, startX + kx * .index(attributes.dilations[1]))
                            let within = KernelExpression.binary(.and, .binary(.and, .binary(.ge, iy, 0), .binary(.lt, iy, .index(height))),
                                                           .binary(.and, .binary(.ge, ix, 0), .binary(.lt, ix, .index(width))))
                            body.branch(within) { body in
                                let value = KernelExpression.load(x, index: (plane * .index(height) + iy) * .index(width) + ix)
                                if maximum, lowest != nil {
                                    body.assign(accumulator, .select(.binary(.gt, value, accumulator), value, accumulator))
                                } else if maximum {
                                    // NaN wins, so a NaN input is not silently dropped.
                                    body.assign(accumulator, .select(.binary(.or, .binary(.gt, value, accumulator), .unary(.isNaN, value)),
                                                                     value, accumulator))
                                } else {
                                    body.assign(accumulator, .binary(.add, accumulator, .convert(value, to: .f64)))
                                }
                                body.assign(inside, inside + 1)
                            }
                            if !maximum && attributes.countIncludePad {
                                let inPadded = KernelExpression.binary(.and,
                                    .binary(.and, .binary(.ge, iy, .index(-attributes.pads[0])), .binary(.lt, iy, .index(height + attributes.pads[2]))),
                                    .binary(.and, .binary(.ge, ix, .index(-attributes.pads[1])), .binary(.lt, ix, .index(width + attributes.pads[3]))))
                                body.branch(inPadded) { $0.assign(padded, padded + 1) }
                            }
                        }
                    }
                    let index = (plane * .index(outH) + oy) * .index(outW) + ox
                    if maximum {
                        body.store(target, index, accumulator)
                    } else {
                        let divisor = attributes.countIncludePad ? padded : inside
                        body.store(target, index, .convert(.binary(.div, accumulator, .convert(divisor, to: .f64)), to: .f32))
                    }
                }
            }
        }
        addKernel(builder, pattern: maximum ? "max pool, direct window" : "average pool, direct window")
    }

    mutating func lowerGlobalPool(_ op: Operation, result: ValueID, maximum: Bool) throws {
        let input = type(op.operands[0]).shape
        let x = try buffer(op.operands[0]), target = try buffer(result)
        let planes = input[0] * input[1], size = input[2...].reduce(1, *)
        var builder = KernelBuilder()
        builder.loop("plane", to: .index(planes), parallel: isParallel(planes * size)) { body, plane in
            if maximum, let lowest = type(op.operands[0]).elementType.integerRange?.lowerBound {
                let largest = body.declare("largest", .i64, .int(lowest))
                body.loop("i", to: .index(size)) { body, i in
                    let value = KernelExpression.load(x, index: plane * .index(size) + i)
                    body.assign(largest, .select(.binary(.gt, value, largest), value, largest))
                }
                body.store(target, plane, largest)
            } else if maximum {
                let largest = body.declare("largest", .f32, .float(-.infinity))
                body.loop("i", to: .index(size)) { body, i in
                    let value = KernelExpression.load(x, index: plane * .index(size) + i)
                    body.assign(largest, .select(.binary(.or, .binary(.gt, value, largest), .unary(.isNaN, value)), value, largest))
                }
                body.store(target, plane, largest)
            } else {
                // One chain of dependent f64 adds ran at an add's latency per element (PP-OCRv4 rec's two pools over
                // 480 planes: 170 µs of its 9 ms).
                let sum = sumInChains(&body, count: size, name: "sum") { _, i, total in
                    .binary(.add, total, .convert(.load(x, index: plane * .index(size) + i), to: .f64))
                }
                body.store(target, plane, .convert(.binary(.div, sum, .double(Double(size))), to: .f32))
            }
        }
        addKernel(builder, pattern: maximum ? "global max pool" : "global average pool in f64 (4 chains)")
    }
}

// MARK: The reduce_* group (but reduce_mean, above), arg_max/arg_min, cum_sum, top_k, log_softmax
// Loops run along contiguous memory with several independent accumulators.

/// One axis of a reduction's input after dropping size-1 axes and merging neighbours of the same kind
/// that are adjacent in memory.
struct ReductionAxis: Hashable {
    var extent: Int
    var stride: Int
    var reduced: Bool
}

/// The input's axes merged for a reduction over `axes` (see `ReductionAxis`).
func mergedReductionAxes(shape: [Int], axes: [Int]) -> [ReductionAxis] {
    let strides = rowMajorStrides(shape)
    var result: [ReductionAxis] = []
    for axis in shape.indices where shape[axis] != 1 {
        let reduced = axes.contains(axis)
        if let last = result.last, last.reduced == reduced, last.stride == shape[axis] * strides[axis] {
            result[result.count - 1] = ReductionAxis(extent: last.extent * shape[axis], stride: strides[axis], reduced: reduced)
        } else {
            result.append(ReductionAxis(extent: shape[axis], stride: strides[axis], reduced: reduced))
        }
    }
    return result
}

/// How one accumulator of a reduction takes in an element.
private enum Accumulation {
    case largest, smallest, sum, product, absoluteSum, squareSum
    /// Sum of `exp(x - shift)`.
    case exponentialSum(shift: KernelExpression)
}

/// The accumulators of one reduction: their type, start value, update and combination.
private struct Accumulator {
    var accumulation: Accumulation
    /// Whether the elements are floats (accumulated in f64, or f32 for max and min) or integers (i64, wrapping).
    var isFloat: Bool
    /// The element type, for the integer bounds that start max and min.
    var elementType: ElementType

    var type: ValueType {
        guard isFloat else { return .i64 }
        switch accumulation {
        case .largest, .smallest: return .f32
        case .sum, .product, .absoluteSum, .squareSum, .exponentialSum: return .f64
        }
    }

    var identity: KernelExpression {
        let range = elementType.integerRange ?? Int64.min...Int64.max
        switch accumulation {
        case .largest: return isFloat ? .float(-.infinity) : .int(range.lowerBound)
        case .smallest: return isFloat ? .float(.infinity) : .int(range.upperBound)
        case .product: return isFloat ? .double(1) : 1
        case .sum, .absoluteSum, .squareSum, .exponentialSum: return isFloat ? .double(0) : 0
        }
    }

    /// The accumulator after taking in element `value` (f32 or i64, as loaded).
    func update(_ accumulator: KernelExpression, _ value: KernelExpression) -> KernelExpression {
        let wide = isFloat ? KernelExpression.convert(value, to: .f64) : value
        switch accumulation {
        case .largest, .smallest:
            return combine(accumulator, value)
        case .sum:
            return .binary(isFloat ? .add : .wrappingAdd, accumulator, wide)
        case .product:
            return .binary(isFloat ? .mul : .wrappingMul, accumulator, wide)
        case .absoluteSum:
            let negated: KernelExpression = isFloat ? .unary(.neg, wide) : .binary(.wrappingSub, 0, wide)
            let zero: KernelExpression = isFloat ? .double(0) : 0
            return .binary(isFloat ? .add : .wrappingAdd, accumulator, .select(.binary(.lt, wide, zero), negated, wide))
        case .squareSum:
            return isFloat ? .binary(.add, accumulator, .binary(.mul, wide, wide))
                : .binary(.wrappingAdd, accumulator, .binary(.wrappingMul, wide, wide))
        case let .exponentialSum(shift):
            return .binary(.add, accumulator, .unary(.exp, .binary(.sub, wide, shift)))
        }
    }

    /// Two partial accumulators combined into one (the first keeps ties).
    func combine(_ a: KernelExpression, _ b: KernelExpression) -> KernelExpression {
        switch accumulation {
        case .largest, .smallest:
            guard isFloat else { return .select(.binary(accumulation == .largest ? .gt : .lt, b, a), b, a) }
            // NaN wins, so a NaN input is not silently dropped: a NaN accumulator stays, and b replaces a unless
            // it is no better (which is false for a NaN b). Two selects without `||` compile to blends, not branches.
            let notBetter = KernelExpression.binary(accumulation == .largest ? .le : .ge, b, a)
            return .select(.binary(.ne, a, a), a, .select(.unary(.not, notBetter), b, a))
        case .sum, .absoluteSum, .squareSum, .exponentialSum:
            return .binary(isFloat ? .add : .wrappingAdd, a, b)
        case .product:
            return .binary(isFloat ? .mul : .wrappingMul, a, b)
        }
    }
}

extension Accumulation: Equatable {}

extension Lowerer {
    /// Independent accumulators per contiguous run: enough for the C compiler to use vector lanes
    /// without reassociating one sum (f64 lanes are half as many as f32 lanes).
    var reductionLanes: Int { max(2, width / 2) }

    /// Reduces the input over `axes` with `accumulator`, storing `finish(accumulator value, output index)` per output.
    ///
    /// When kept axes follow the reduced ones, each output block of `lanes` contiguous elements keeps one
    /// accumulator per element and walks the reduced axes; otherwise each output walks its contiguous
    /// innermost run with `lanes` partial accumulators combined at the end. Either way loads are contiguous.
    private mutating func emitReduction(_ builder: inout KernelBuilder, x: BufferID, shape: [Int], axes: [Int],
                                        accumulator: (KernelExpression) -> Accumulator,
                                        prepass: Accumulator?,
                                        finish: @escaping (inout KernelBuilder, KernelExpression, KernelExpression?, KernelExpression) -> Void) {
        let merged = mergedReductionAxes(shape: shape, axes: axes)
        let kept = merged.filter { !$0.reduced }, reduced = merged.filter(\.reduced)
        let keptOutputStrides = rowMajorStrides(kept.map(\.extent))
        let parallel = isParallel(shape.reduce(1, *))
        let lanes = reductionLanes

        /// Declares one accumulator per lane, folds the element at `base + offset(lane)` into each over the
        /// reduced loops (one loop nest for all lanes), and returns them.
        func accumulate(_ body: inout KernelBuilder, _ accumulators: [Accumulator],
                        offset: @escaping (Int) -> KernelExpression) -> [KernelExpression] {
            let variables = accumulators.enumerated().map { body.declare("acc\($0.offset)", $0.element.type, $0.element.identity) }
            body.loopNest(reduced.map(\.extent), prefix: "r") { body, indices in
                let base = flatIndex(indices, strides: reduced.map(\.stride))
                for (lane, variable) in variables.enumerated() {
                    body.assign(variable, accumulators[lane].update(variable, .load(x, index: base + offset(lane))))
                }
            }
            return variables
        }

        if let inner = merged.last, !inner.reduced, !reduced.isEmpty {
            // Kept axes innermost: blocks of `lanes` neighbouring outputs, each with its own accumulator.
            let outer = Array(kept.dropLast())
            let whole = inner.extent - inner.extent % lanes
            builder.loopNest(outer.map(\.extent), prefix: "o", parallel: parallel) { body, indices in
                let baseX = flatIndex(indices, strides: outer.map(\.stride))
                let baseY = flatIndex(indices, strides: Array(keptOutputStrides.dropLast()))
                func emitBlock(_ body: inout KernelBuilder, start: KernelExpression, count: Int) {
                    var shifts: [KernelExpression?] = Array(repeating: nil, count: count)
                    if let prepass {
                        shifts = accumulate(&body, Array(repeating: prepass, count: count)) { lane in baseX + start + .index(lane) }
                            .map { Optional($0) }
                    }
                    let accumulators = shifts.map { shift in accumulator(shift.map { .convert($0, to: .f64) } ?? .double(0)) }
                    let results = accumulate(&body, accumulators) { lane in baseX + start + .index(lane) }
                    for lane in 0..<count { finish(&body, results[lane], shifts[lane], baseY + start + .index(lane)) }
                }
                if whole > 0 {
                    // The loop counts blocks, not elements: a parallel loop must start at 0 with step 1
                    // (the runtime splits its range into chunks), and this one is parallel when no kept
                    // axis lies outside it.
                    body.loop("block", to: .index(whole / lanes), parallel: parallel && outer.isEmpty) { body, block in
                        emitBlock(&body, start: block * .index(lanes), count: lanes)
                    }
                }
                if inner.extent % lanes > 0 { emitBlock(&body, start: .index(whole), count: inner.extent % lanes) }
            }
        } else {
            // The reduction is innermost: each output walks its contiguous run with partial accumulators.
            let run = reduced.last.map(\.extent) ?? 1
            let count = run >= 2 * lanes ? lanes : 1
            let whole = run - run % count
            let outerReduced = Array(reduced.dropLast())
            builder.loopNest(kept.map(\.extent), prefix: "o", parallel: parallel) { body, indices in
                let baseX = flatIndex(indices, strides: kept.map(\.stride))
                let baseY = flatIndex(indices, strides: keptOutputStrides)
                func pass(_ body: inout KernelBuilder, _ acc: Accumulator) -> KernelExpression {
                    let variables = (0..<count).map { body.declare("acc\($0)", acc.type, acc.identity) }
                    body.loopNest(outerReduced.map(\.extent), prefix: "r") { body, outerIndices in
                        let base = baseX + flatIndex(outerIndices, strides: outerReduced.map(\.stride))
                        if whole > 0 {
                            body.loop("i", to: .index(whole), step: count) { body, i in
                                for (lane, variable) in variables.enumerated() {
                                    body.assign(variable, acc.update(variable, .load(x, index: base + i + .index(lane))))
                                }
                            }
                        }
                        for lane in 0..<(run - whole) {
                            body.assign(variables[lane], acc.update(variables[lane], .load(x, index: base + .index(whole + lane))))
                        }
                    }
                    // One variable per step: a NaN-aware combine reads its left side several times, so nesting the
                    // steps in one expression would grow it exponentially with the accumulators.
                    var total = variables[0]
                    for variable in variables.dropFirst() { total = body.declare("total", acc.type, acc.combine(total, variable)) }
                    return total
                }
                let shift = prepass.map { pass(&body, $0) }
                let value = pass(&body, accumulator(shift.map { .convert($0, to: .f64) } ?? .double(0)))
                finish(&body, value, shift, baseY)
            }
        }
    }

    mutating func lowerReduce(_ op: Operation, result: ValueID, function: ReduceFunction, axes: [Int]) throws {
        let input = type(op.operands[0])
        let x = try buffer(op.operands[0]), target = try buffer(result)
        let isFloat = input.elementType.isFloat
        let count = axes.map { input.shape[$0] }.reduce(1, *)
        func make(_ accumulation: Accumulation) -> Accumulator {
            Accumulator(accumulation: accumulation, isFloat: isFloat, elementType: input.elementType)
        }
        var prepass: Accumulator?
        let accumulator: (KernelExpression) -> Accumulator
        switch function {
        case .mean, .sum, .logSum: accumulator = { _ in make(.sum) }
        case .max: accumulator = { _ in make(.largest) }
        case .min: accumulator = { _ in make(.smallest) }
        case .prod: accumulator = { _ in make(.product) }
        case .l1: accumulator = { _ in make(.absoluteSum) }
        case .l2, .sumSquare: accumulator = { _ in make(.squareSum) }
        case .logSumExp:
            prepass = make(.largest)
            accumulator = { shift in make(.exponentialSum(shift: shift)) }
        }
        var builder = KernelBuilder()
        emitReduction(&builder, x: x, shape: input.shape, axes: axes, accumulator: accumulator, prepass: prepass) { body, value, shift, index in
            guard isFloat else {
                body.store(target, index, value)
                return
            }
            switch function {
            case .max, .min: body.store(target, index, value)  // accumulated in f32 already
            case .sum, .prod, .l1, .sumSquare: body.store(target, index, .convert(value, to: .f32))
            case .mean: body.store(target, index, .convert(.binary(.div, value, .double(Double(count))), to: .f32))
            case .l2: body.store(target, index, .convert(.unary(.sqrt, value), to: .f32))
            case .logSum: body.store(target, index, .convert(.unary(.log, value), to: .f32))
            case .logSumExp:
                // An infinite or NaN maximum is the result itself (exp(inf - inf) would be NaN).
                let largest = KernelExpression.convert(shift ?? .float(0), to: .f64)
                let finite = KernelExpression.binary(.eq, .binary(.sub, largest, largest), .double(0))
                body.store(target, index, .convert(.select(finite, .binary(.add, largest, .unary(.log, value)), largest), to: .f32))
            }
        }
        addKernel(builder, pattern: "\(function.mnemonic): contiguous loads, \(reductionLanes) independent \(accumulator(.double(0)).type) accumulators per run")
    }

    mutating func lowerArgExtreme(_ op: Operation, result: ValueID, largest: Bool, axis: Int, selectLastIndex: Bool) throws {
        let shape = type(op.operands[0]).shape
        let isFloat = type(op.operands[0]).elementType.isFloat
        let length = shape[axis], inner = shape[(axis + 1)...].reduce(1, *), outer = shape[..<axis].reduce(1, *)
        let x = try buffer(op.operands[0]), target = try buffer(result)
        var builder = KernelBuilder()
        builder.loop("o", to: .index(outer), parallel: isParallel(outer * inner * length)) { body, o in
            body.loop("j", to: .index(inner)) { body, j in
                let base = body.declare("base", .i64, o * .index(length * inner) + j)
                let best = body.declare("best", isFloat ? .f32 : .i64, .load(x, index: base))
                let position = body.declare("position", .i64, 0)
                body.loop("k", from: 1, to: .index(length)) { body, k in
                    let value = body.declare("value", isFloat ? .f32 : .i64, .load(x, index: base + k * .index(inner)))
                    var better = KernelExpression.binary(largest ? .gt : .lt, value, best)
                    var tie = KernelExpression.binary(.eq, value, best)
                    if isFloat {
                        // NaN counts as the extreme: the first NaN wins (the last with select_last_index).
                        let valueNaN = KernelExpression.unary(.isNaN, value), bestNaN = KernelExpression.unary(.isNaN, best)
                        better = .binary(.or, .binary(.and, valueNaN, .unary(.not, bestNaN)), .binary(.and, better, .unary(.not, bestNaN)))
                        tie = .binary(.or, tie, .binary(.and, valueNaN, bestNaN))
                    }
                    let take = selectLastIndex ? KernelExpression.binary(.or, better, tie) : better
                    body.branch(take) { body in
                        body.assign(best, value)
                        body.assign(position, k)
                    }
                }
                body.store(target, o * .index(inner) + j, position)
            }
        }
        addKernel(builder, pattern: "\(largest ? "arg_max" : "arg_min"): one scan along the axis per output")
    }

    mutating func lowerCumSum(_ op: Operation, result: ValueID, axis: Int, exclusive: Bool, reverse: Bool) throws {
        let shape = type(op.operands[0]).shape
        let isFloat = type(op.operands[0]).elementType.isFloat
        let length = shape[axis], inner = shape[(axis + 1)...].reduce(1, *), outer = shape[..<axis].reduce(1, *)
        let x = try buffer(op.operands[0]), target = try buffer(result)
        let lanes = min(reductionLanes, max(inner, 1))
        let whole = inner - inner % lanes
        var builder = KernelBuilder()
        builder.loop("o", to: .index(outer), parallel: isParallel(outer * inner * length)) { body, o in
            // Blocks of neighbouring lines walk the axis together, so each step loads contiguous elements.
            func block(_ body: inout KernelBuilder, start: KernelExpression, count: Int) {
                let sums = (0..<count).map { body.declare("sum\($0)", isFloat ? .f64 : .i64, isFloat ? .double(0) : 0) }
                body.loop("k", to: .index(length)) { body, k in
                    let step = reverse ? .index(length - 1) - k : k
                    for (lane, sum) in sums.enumerated() {
                        let index = (o * .index(length) + step) * .index(inner) + start + .index(lane)
                        let value: KernelExpression = isFloat ? .convert(.load(x, index: index), to: .f64) : .load(x, index: index)
                        let stored = isFloat ? KernelExpression.convert(sum, to: .f32) : sum
                        if exclusive { body.store(target, index, stored) }
                        body.assign(sum, .binary(isFloat ? .add : .wrappingAdd, sum, value))
                        if !exclusive { body.store(target, index, stored) }
                    }
                }
            }
            if whole > 0 {
                body.loop("j", to: .index(whole), step: lanes) { body, j in block(&body, start: j, count: lanes) }
            }
            if inner % lanes > 0 { block(&body, start: .index(whole), count: inner % lanes) }
        }
        addKernel(builder, pattern: "cum_sum: running \(isFloat ? "f64" : "i64") sums, \(lanes) neighbouring lines per pass")
    }

    mutating func lowerTopK(_ op: Operation, result: ValueID, k: Int, axis: Int, largest: Bool, output: TopKOutput) throws {
        let shape = type(op.operands[0]).shape
        let isFloat = type(op.operands[0]).elementType.isFloat
        let valueType: ValueType = isFloat ? .f32 : .i64
        let length = shape[axis], inner = shape[(axis + 1)...].reduce(1, *), outer = shape[..<axis].reduce(1, *)
        let x = try buffer(op.operands[0]), target = try buffer(result)
        /// Whether `a` ranks before `b` by value alone (largest first, or smallest first); NaN counts as largest.
        func ranksBefore(_ a: KernelExpression, _ b: KernelExpression) -> KernelExpression {
            let (high, low) = largest ? (a, b) : (b, a)
            guard isFloat else { return .binary(.gt, high, low) }
            return .binary(.or, .binary(.and, .unary(.isNaN, high), .unary(.not, .unary(.isNaN, low))), .binary(.gt, high, low))
        }
        func same(_ a: KernelExpression, _ b: KernelExpression) -> KernelExpression {
            guard isFloat else { return .binary(.eq, a, b) }
            return .binary(.or, .binary(.eq, a, b), .binary(.and, .unary(.isNaN, a), .unary(.isNaN, b)))
        }
        var builder = KernelBuilder()
        builder.loop("line", to: .index(outer * inner), parallel: isParallel(saturatingProduct([outer, inner, length, k]))) { body, line in
            let base = body.declare("base", .i64, (line / .index(inner)) * .index(length * inner) + line % .index(inner))
            let outBase = body.declare("out_base", .i64, (line / .index(inner)) * .index(k * inner) + line % .index(inner))
            // Selection without scratch: pick j is the best element ranked after pick j - 1 in the total order
            // (value, then position), so ties go to the lower position.
            let previous = body.declare("previous", valueType, isFloat ? .float(0) : 0)
            let previousPosition = body.declare("previous_position", .i64, -1)
            body.loop("pick", to: .index(k)) { body, pick in
                let best = body.declare("best", valueType, isFloat ? .float(0) : 0)
                let position = body.declare("position", .i64, -1)
                body.loop("m", to: .index(length)) { body, m in
                    let value = body.declare("value", valueType, .load(x, index: base + m * .index(inner)))
                    let after = KernelExpression.binary(.or, .binary(.lt, previousPosition, 0),
                        .binary(.or, ranksBefore(previous, value), .binary(.and, same(previous, value), .binary(.gt, m, previousPosition))))
                    let better = KernelExpression.binary(.or, .binary(.lt, position, 0), ranksBefore(value, best))
                    body.branch(.binary(.and, after, better)) { body in
                        body.assign(best, value)
                        body.assign(position, m)
                    }
                }
                body.store(target, outBase + pick * .index(inner), output == .values ? best : position)
                body.assign(previous, best)
                body.assign(previousPosition, position)
            }
        }
        addKernel(builder, pattern: "top_k \(output.rawValue): \(k) selection passes per line, ties to the lower position")
    }
}
