// Lowering of reductions and normalizations: softmax, layer_norm, batch_norm, reduce_mean and pooling.
// Sums accumulate in f64 where the interpreter does, so results match it to f32 rounding.

import SieveIR

extension Lowerer {
    mutating func lowerSoftmax(_ op: Operation, result: ValueID, axis: Int) throws {
        let shape = type(result).shape
        let length = shape[axis], inner = shape[(axis + 1)...].reduce(1, *), outer = shape[..<axis].reduce(1, *)
        let x = try buffer(op.operands[0]), target = try buffer(result)
        if inner == 1 && length >= width && program.buffers[x.index].elementType == .f32 {
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
            body.loop("k", to: .index(length)) { body, k in
                let value = KernelExpression.convert(.load(x, index: base + k * .index(inner)), to: .f64)
                body.store(target, base + k * .index(inner),
                           .convert(.binary(.div, .unary(.exp, .binary(.sub, value, largest)), sum), to: .f32))
            }
        }
        addKernel(builder, pattern: "softmax: max, sum of exponentials in f64, normalise")
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
            var largest: KernelExpression = .float(0)
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
                largest = body.declare("largest", .f32, .float(-.infinity))
                body.loop("k", to: .index(length)) { body, k in
                    body.assign(largest, .binary(.max, largest, .load(x, index: base + k)))
                }
                shift = body.declare("shift", .f32x(w), .broadcast(largest, width: w))
            }
            let lanes = body.declare("lanes", .f32x(w), .broadcast(.float(0), width: w))
            body.loop("v", to: .index(vectors)) { body, v in
                let index = body.declare("i", .i64, base + v * .index(w))
                let e = body.declare("e", .f32x(w), .unary(.exp, .binary(.sub, .vectorLoad(x, index: index, width: w), shift)))
                body.emit(.vectorStore(target, index: index, value: e))
                body.assign(lanes, .binary(.add, lanes, e))
            }
            let sum = body.declare("sum", .f32, .reduceAdd(lanes))
            body.loop("k", from: .index(tail), to: .index(length)) { body, k in
                let e = body.declare("e", .f32, .unary(.exp, .binary(.sub, .load(x, index: base + k), largest)))
                body.store(target, base + k, e)
                body.assign(sum, .binary(.add, sum, e))
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
            let sum = body.declare("sum", .f64, .double(0))
            body.loop("i", to: .index(count)) { body, i in
                body.assign(sum, .binary(.add, sum, .convert(.load(x, index: base + i), to: .f64)))
            }
            let mean = body.declare("mean", .f64, .binary(.div, sum, .double(Double(count))))
            let squares = body.declare("squares", .f64, .double(0))
            body.loop("i", to: .index(count)) { body, i in
                let deviation = KernelExpression.binary(.sub, .convert(.load(x, index: base + i), to: .f64), mean)
                body.assign(squares, .fma(deviation, deviation, squares))
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
        addKernel(builder, pattern: "layer norm: mean and variance in f64, then scale and bias")
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
        var builder = KernelBuilder()
        builder.loop("plane", to: .index(planes), parallel: isParallel(planes * outH * outW)) { body, plane in
            body.loop("oy", to: .index(outH)) { body, oy in
                body.loop("ox", to: .index(outW)) { body, ox in
                    let startY = body.declare("start_y", .i64, oy * .index(attributes.strides[0]) - .index(attributes.pads[0]))
                    let startX = body.declare("start_x", .i64, ox * .index(attributes.strides[1]) - .index(attributes.pads[1]))
                    let accumulator = maximum ? body.declare("largest", .f32, .float(-.infinity)) : body.declare("sum", .f64, .double(0))
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
                                if maximum {
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
            if maximum {
                let largest = body.declare("largest", .f32, .float(-.infinity))
                body.loop("i", to: .index(size)) { body, i in
                    let value = KernelExpression.load(x, index: plane * .index(size) + i)
                    body.assign(largest, .select(.binary(.or, .binary(.gt, value, largest), .unary(.isNaN, value)), value, largest))
                }
                body.store(target, plane, largest)
            } else {
                let sum = body.declare("sum", .f64, .double(0))
                body.loop("i", to: .index(size)) { body, i in
                    body.assign(sum, .binary(.add, sum, .convert(.load(x, index: plane * .index(size) + i), to: .f64)))
                }
                body.store(target, plane, .convert(.binary(.div, sum, .double(Double(size))), to: .f32))
            }
        }
        addKernel(builder, pattern: maximum ? "global max pool" : "global average pool in f64")
    }
}
