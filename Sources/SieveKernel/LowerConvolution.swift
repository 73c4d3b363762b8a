// Lowering of conv2d in one of three forms: a direct loop nest for depthwise convolutions, a GEMM that reads the
// input planes as they are for pointwise ones (1x1, stride 1, unpadded), and an im2col GEMM for the rest.

import SieveIR
import SieveTarget

extension Lowerer {
    /// The form `op` (a conv2d) is lowered in.
    func convolutionForm(_ op: Operation) -> ConvolutionForm? {
        guard case let .conv2d(attributes) = op.kind, let x = graph.type(of: op.operands[0]), let w = graph.type(of: op.operands[1]),
              x.rank == 4, w.rank == 4 else { return nil }
        return ConvolutionForm(input: x.shape, weight: w.shape, attributes: attributes,
                               directWeight: w.layout == .dense && w.elementType.isFloat)
    }

    mutating func lowerConvolution(_ op: Operation, result: ValueID, attributes: Conv2DAttributes) throws {
        let x = type(op.operands[0]).shape, w = type(op.operands[1]).shape, y = type(result).shape
        let (batch, channels) = (x[0], x[1])
        let (outChannels, groupChannels, kernelH, kernelW) = (w[0], w[1], w[2], w[3])
        let (outH, outW) = (y[2], y[3])
        let groups = attributes.groups
        let groupOut = outChannels / groups
        let patch = groupChannels * kernelH * kernelW
        let pixels = outH * outW
        let input = try buffer(op.operands[0]), target = try buffer(result)
        let bias: BufferID? = op.operands.count == 3 ? try buffer(op.operands[2]) : nil
        // An i32 convolution (ConvInteger, QLinearConv) accumulates exactly in i64 and wraps when stored.
        let integer = !type(result).elementType.isFloat
        if patch == 0 {
            // The patch is empty (no input channels or a zero kernel extent), so every output is a sum of nothing:
            // the bias, or 0. (An empty result never reaches here.)
            var builder = KernelBuilder()
            let count = batch * outChannels * pixels
            builder.loop("i", to: .index(count), parallel: isParallel(count)) { body, i in
                let value: KernelExpression = bias.map { .load($0, index: (i / .index(pixels)) % .index(outChannels)) } ?? (integer ? 0 : .float(0))
                body.store(target, i, value)
            }
            addKernel(builder, pattern: "conv2d over an empty patch: the bias or 0")
            return
        }
        if type(op.operands[1]).quant != nil {
            try lowerInt8Convolution(op, result: result, attributes: attributes)
            return
        }
        let form = convolutionForm(op) ?? .im2col
        if form == .depthwise {
            try emitDepthwiseConvolution(op, input: input, bias: bias, target: target, inputShape: x, kernel: (kernelH, kernelW),
                                         output: (outH, outW), attributes: attributes)
            return
        }

        // The GEMM's reduction-major operand: row (group, channel, ky, kx) of [image][pixel] for im2col, the input
        // planes [image][channel][pixel] themselves for a pointwise convolution.
        let columns: BufferID
        let columnIndex: (_ group: KernelExpression, _ image: KernelExpression, _ row: KernelExpression) -> KernelExpression
        let columnRowStride: Int
        if form == .pointwise {
            columns = input
            columnIndex = { group, image, row in ((image * .index(channels) + group * .index(groupChannels)) + row) * .index(pixels) }
            columnRowStride = pixels
        } else {
            guard let scratchOffset = plan.scratch[currentOpIndex] else {
                throw LoweringError("conv2d has no im2col scratch planned")
            }
            columns = addBuffer(Buffer(name: "\(name(result)).im2col", storage: .arena(offset: scratchOffset),
                                       elementType: integer ? type(op.operands[0]).elementType : .f32,
                                       count: max(1, channels * kernelH * kernelW * batch * pixels)))
            columnIndex = { group, image, row in ((group * .index(patch) + row) * .index(batch) + image) * .index(pixels) }
            columnRowStride = batch * pixels
            emitIm2col(input: input, columns: columns, inputShape: x, groupChannels: groupChannels, kernel: (kernelH, kernelW),
                       output: (outH, outW), attributes: attributes, padding: integer ? 0 : .float(0))
        }
        let formText = form == .pointwise ? "pointwise conv2d straight over the input planes" : "conv2d over im2col"

        let schedule = try currentSchedule()
        let addBias: BinaryOperator = integer ? .wrappingAdd : .add
        if let weight = nmWeight(op.operands[1]) {
            // Weight row r = output channel; its reduction is the flattened (channel, ky, kx) patch,
            // whose last axis kx holds whole N:M groups.
            try emitSparseRows(SparseRowsProduct(
                rows: outChannels, reduction: patch, columns: pixels, batches: batch, n: weight.n, m: weight.m,
                values: weight.values, indices: weight.indices, dense: columns,
                denseIndex: { r, image, kk, c in columnIndex(r / .index(groupOut), image, kk) + c },
                out: target, outIndex: { r, image, c in (image * .index(outChannels) + r) * .index(pixels) + c },
                vectorizable: schedule.variant == .nmBroadcast && isVectorizable([op.operands[0], result]), integer: integer,
                epilogue: bias.map { bias in { _, _, r, _, value in .binary(addBias, value, .load(bias, index: r)) } },
                parallel: schedule.parallel != .none),
                pattern: "N:M \(formText) (\(weight.n):\(weight.m)), compressed weights broadcast against pixel vectors")
            return
        }
        let weights = try buffer(op.operands[1])
        // Product number b = group * batch + image: weight rows of the group times that image's columns.
        let product = DenseProduct(
            batches: groups * batch, m: groupOut, n: pixels, k: patch,
            a: MatrixView(buffer: weights, offset: { b in (b / .index(batch)) * .index(groupOut * patch) }, rowStride: patch, columnStride: 1),
            b: MatrixView(buffer: columns, offset: { b in columnIndex(b / .index(batch), b % .index(batch), 0) },
                          rowStride: columnRowStride, columnStride: 1),
            c: MatrixView(buffer: target, offset: { b in (b % .index(batch)) * .index(outChannels * pixels) + (b / .index(batch)) * .index(groupOut * pixels) },
                          rowStride: pixels, columnStride: 1),
            integer: integer, vectorizable: isVectorizable([op.operands[0], op.operands[1], result]),
            epilogue: bias.map { bias in { _, b, row, _, value in
                .binary(addBias, value, .load(bias, index: (b / .index(batch)) * .index(groupOut) + row))
            } })
        emitDenseProduct(product, pattern: "dense \(formText)",
                         choice: DenseKernelChoice(variant: schedule.variant, parallel: schedule.parallel != .none))
    }

    /// Copies every patch into `columns`: row (group, channel, ky, kx), then [image][pixel]; padding reads as
    /// `padding` (a zero of the columns' element type).
    mutating func emitIm2col(input: BufferID, columns: BufferID, inputShape x: [Int], groupChannels: Int, kernel: (h: Int, w: Int),
                             output: (h: Int, w: Int), attributes: Conv2DAttributes, padding: KernelExpression) {
        let (batch, channels, height, width) = (x[0], x[1], x[2], x[3])
        let groups = attributes.groups
        let patch = groupChannels * kernel.h * kernel.w
        var builder = KernelBuilder()
        builder.loop("row", to: .index(groups * patch), parallel: isParallel(saturatingProduct([groups, patch, batch, output.h * output.w]))) { body, row in
            let group = body.declare("group", .i64, row / .index(patch))
            let within = body.declare("within", .i64, row % .index(patch))
            let channel = body.declare("channel", .i64, group * .index(groupChannels) + within / .index(kernel.h * kernel.w))
            let ky = body.declare("ky", .i64, (within / .index(kernel.w)) % .index(kernel.h))
            let kx = body.declare("kx", .i64, within % .index(kernel.w))
            body.loop("image", to: .index(batch)) { body, image in
                body.loop("oy", to: .index(output.h)) { body, oy in
                    let iy = body.declare("iy", .i64, oy * .index(attributes.strides[0]) - .index(attributes.pads[0]) + ky * .index(attributes.dilations[0]))
                    body.loop("ox", to: .index(output.w)) { body, ox in
                        let ix = body.declare("ix", .i64, ox * .index(attributes.strides[1]) - .index(attributes.pads[1]) + kx * .index(attributes.dilations[1]))
                        let destination = ((row * .index(batch) + image) * .index(output.h) + oy) * .index(output.w) + ox
                        let inside = KernelExpression.binary(.and, .binary(.and, .binary(.ge, iy, 0), .binary(.lt, iy, .index(height))),
                                                             .binary(.and, .binary(.ge, ix, 0), .binary(.lt, ix, .index(width))))
                        body.branch(inside, then: { body in
                            body.store(columns, destination, .load(input, index: ((image * .index(channels) + channel) * .index(height) + iy) * .index(width) + ix))
                        }, else: { body in
                            body.store(columns, destination, padding)
                        })
                    }
                }
            }
        }
        addKernel(builder, pattern: "conv2d im2col: [group][channel*ky*kx][image][pixel]")
    }

    /// `y[n, c, oy, ox] = bias[c] + sum over ky, kx of w[c, 0, ky, kx] * x[n, c, oy * s - pad + ky * d, ox * s - pad + kx * d]`,
    /// one output plane per work item. With stride 1 along the width, the output columns whose taps all lie inside
    /// the input row run as f32 vectors (up to 4 accumulators per step, one unaligned load per tap and vector);
    /// the border columns, and every column for other strides, run scalar with each tap's bounds checked. A tap
    /// row outside the input is skipped for the whole output row.
    mutating func emitDepthwiseConvolution(_ op: Operation, input: BufferID, bias: BufferID?, target: BufferID, inputShape x: [Int],
                                           kernel: (h: Int, w: Int), output: (h: Int, w: Int), attributes a: Conv2DAttributes) throws {
        let (batch, channels, height, width) = (x[0], x[1], x[2], x[3])
        let weights = try buffer(op.operands[1])
        let taps = kernel.h * kernel.w
        let (strideY, strideX) = (a.strides[0], a.strides[1])
        let (dilationY, dilationX) = (a.dilations[0], a.dilations[1])
        let (padTop, padLeft) = (a.pads[0], a.pads[1])
        let w = self.width
        // Output columns ox in [interiorLow, interiorHigh) read input columns ox - padLeft + kx * dilationX, all inside.
        let vectorizable = strideX == 1 && w > 1 && isVectorizable([op.operands[0], op.operands[1], op.results[0]])
        let interiorLow = min(output.w, padLeft)
        let interiorHigh = max(interiorLow, min(output.w, width + padLeft - (kernel.w - 1) * dilationX))
        let vectors = vectorizable ? (interiorHigh - interiorLow) / w : 0
        let perStep = min(4, vectors)
        let vectorEnd = interiorLow + vectors * w
        let parallel = isParallel(saturatingProduct([batch, channels, output.h, output.w, taps]))

        var builder = KernelBuilder()
        builder.loop("plane", to: .index(batch * channels), parallel: parallel && batch * channels > 1) { body, plane in
            let channel = body.declare("channel", .i64, plane % .index(channels))
            let inBase = body.declare("in_base", .i64, plane * .index(height * width))
            let outBase = body.declare("out_base", .i64, plane * .index(output.h * output.w))
            let weightBase = body.declare("w_base", .i64, channel * .index(taps))
            // Small filters stay in registers for the whole plane.
            let held: [KernelExpression]? = taps <= 25
                ? (0..<taps).map { t in body.declare("tap\(t)", .f32, .load(weights, index: weightBase + .index(t))) } : nil
            func tap(_ ky: Int, _ kx: Int) -> KernelExpression {
                held?[ky * kernel.w + kx] ?? .load(weights, index: weightBase + .index(ky * kernel.w + kx))
            }
            let initial = body.declare("initial", .f32, bias.map { .load($0, index: channel) } ?? .float(0))
            body.loop("oy", to: .index(output.h)) { body, oy in
                let rowTop = body.declare("iy0", .i64, oy * .index(strideY) - .index(padTop))
                let outRow = body.declare("out_row", .i64, outBase + oy * .index(output.w))
                func vectorColumns(_ body: inout KernelBuilder, from start: Int, count: Int, step: Int) {
                    body.loop("ox", from: .index(start), to: .index(start + count * w), step: step * w) { body, ox in
                        let sums = (0..<step).map { v in body.declare("acc\(v)", .f32x(w), .broadcast(initial, width: w)) }
                        for ky in 0..<kernel.h {
                            let iy = body.declare("iy", .i64, rowTop + .index(ky * dilationY))
                            body.branch(.binary(.and, .binary(.ge, iy, 0), .binary(.lt, iy, .index(height)))) { body in
                                let inRow = body.declare("in_row", .i64, inBase + iy * .index(width) + ox - .index(padLeft))
                                for kx in 0..<kernel.w {
                                    let weight = body.declare("w", .f32x(w), .broadcast(tap(ky, kx), width: w))
                                    for (v, sum) in sums.enumerated() {
                                        let load = KernelExpression.vectorLoad(input, index: inRow + .index(kx * dilationX + v * w), width: w)
                                        body.assign(sum, .fma(weight, load, sum))
                                    }
                                }
                            }
                        }
                        for (v, sum) in sums.enumerated() {
                            body.emit(.vectorStore(target, index: outRow + ox + .index(v * w), value: sum))
                        }
                    }
                }
                func scalarColumns(_ body: inout KernelBuilder, from start: Int, to end: Int) {
                    body.loop("ox", from: .index(start), to: .index(end)) { body, ox in
                        let sum = body.declare("acc", .f32, initial)
                        let columnLeft = body.declare("ix0", .i64, ox * .index(strideX) - .index(padLeft))
                        for ky in 0..<kernel.h {
                            let iy = body.declare("iy", .i64, rowTop + .index(ky * dilationY))
                            body.branch(.binary(.and, .binary(.ge, iy, 0), .binary(.lt, iy, .index(height)))) { body in
                                for kx in 0..<kernel.w {
                                    let ix = body.declare("ix", .i64, columnLeft + .index(kx * dilationX))
                                    body.branch(.binary(.and, .binary(.ge, ix, 0), .binary(.lt, ix, .index(width)))) { body in
                                        let value = KernelExpression.load(input, index: inBase + iy * .index(width) + ix)
                                        body.assign(sum, .fma(tap(ky, kx), value, sum))
                                    }
                                }
                            }
                        }
                        body.store(target, outRow + ox, sum)
                    }
                }
                if vectors > 0 {
                    let whole = vectors / perStep * perStep
                    vectorColumns(&body, from: interiorLow, count: whole, step: perStep)
                    vectorColumns(&body, from: interiorLow + whole * w, count: vectors - whole, step: 1)
                    scalarColumns(&body, from: 0, to: interiorLow)
                    scalarColumns(&body, from: vectorEnd, to: output.w)
                } else {
                    scalarColumns(&body, from: 0, to: output.w)
                }
            }
        }
        let shape = "\(kernel.h)x\(kernel.w), stride \(strideY)x\(strideX)"
        addKernel(builder, pattern: "depthwise conv2d \(shape), direct: one output plane per work item"
                  + (vectors > 0 ? ", \(vectors) f32x\(w) vectors of interior columns per row (\(perStep) per step), border columns scalar"
                                 : ", scalar columns with bounds-checked taps"))
    }
}
