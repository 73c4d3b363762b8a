// Lowering of conv_transpose2d as its own loop nest: each output plane (image, output channel) is owned by
// one thread, and every (input channel, ky, kx) scatters one input plane into it along contiguous input rows.

import SieveIR

extension Lowerer {
    /// `y[n, oc] = bias[oc] + sum over c, ky, kx of w[c, m, ky, kx] * x[n, c]` shifted to `iy * s - pad + ky * d`.
    ///
    /// The range of input rows and columns that land inside the output is computed per (ky, kx) up front,
    /// so the innermost loop has no branch: one multiply-add per input element, `x` read contiguously and
    /// `y` written with the stride (for stride 2, kernel 2 every output element is written exactly once
    /// per input channel). No scratch memory, unlike an im2col GEMM with a col2im scatter, and the work is
    /// the GEMM's multiply-add count.
    mutating func lowerConvTranspose(_ op: Operation, result: ValueID, attributes a: ConvTranspose2DAttributes) throws {
        let xShape = type(op.operands[0]).shape, wShape = type(op.operands[1]).shape, yShape = type(result).shape
        let (batch, channels, height, width) = (xShape[0], xShape[1], xShape[2], xShape[3])
        let (groupOut, kernelH, kernelW) = (wShape[1], wShape[2], wShape[3])
        let (outChannels, outH, outW) = (yShape[1], yShape[2], yShape[3])
        let groupChannels = channels / a.groups
        let x = try buffer(op.operands[0]), w = try buffer(op.operands[1]), target = try buffer(result)
        let bias: BufferID? = op.operands.count == 3 ? try buffer(op.operands[2]) : nil
        let planes = batch * outChannels, pixels = outH * outW

        /// The input positions `i` in [0, size) whose output `i * stride - pad + k * dilation` lies in [0, out):
        /// from ceil((pad - k * dilation) / stride) to floor((out - 1 + pad - k * dilation) / stride) + 1,
        /// with the numerators kept non-negative so that index division is exact.
        func range(_ body: inout KernelBuilder, _ name: String, k: KernelExpression, size: Int, out: Int, stride: Int,
                   pad: Int, dilation: Int) -> (KernelExpression, KernelExpression) {
            let shift = KernelExpression.index(pad) - k * .index(dilation)
            let low = body.declare("\(name)_low", .i64, .binary(.max, shift + .index(stride - 1), 0) / .index(stride))
            let high = body.declare("\(name)_high", .i64, .binary(.min, .index(size),
                .binary(.max, shift + .index(out - 1 + stride), 0) / .index(stride)))
            return (low, high)
        }

        // Stride equal to the kernel, no padding or dilation (upsampling by patches, as detection heads use): every
        // output element gets exactly one tap per input channel, and a whole output row comes from one input row.
        let patches = a.strides == [kernelH, kernelW] && a.pads == [0, 0, 0, 0] && a.dilations == [1, 1] && kernelW <= 8

        var builder = KernelBuilder()
        let work = saturatingProduct([batch, channels, height, width, groupOut, kernelH, kernelW])
        builder.loop("plane", to: .index(planes), parallel: isParallel(work)) { body, plane in
            let image = body.declare("image", .i64, plane / .index(outChannels))
            let channel = body.declare("out_channel", .i64, plane % .index(outChannels))
            let group = body.declare("group", .i64, channel / .index(groupOut))
            let within = body.declare("within", .i64, channel % .index(groupOut))
            let outBase = body.declare("out_base", .i64, plane * .index(pixels))
            let start = bias.map { KernelExpression.load($0, index: channel) } ?? .float(0)
            let initial = body.declare("initial", .f32, start)
            body.loop("p", to: .index(pixels)) { body, p in body.store(target, outBase + p, initial) }
            if patches {
                // Per output row (iy, ky), each input channel adds its row times the kW taps, written contiguously.
                body.loop("iy", to: .index(height)) { body, iy in
                    body.loop("ky", to: .index(kernelH)) { body, ky in
                        let outRow = body.declare("out_row", .i64, outBase + (iy * .index(kernelH) + ky) * .index(outW))
                        body.loop("c", to: .index(groupChannels)) { body, c in
                            let inChannel = body.declare("in_channel", .i64, group * .index(groupChannels) + c)
                            let inRow = body.declare("in_row", .i64, ((image * .index(channels) + inChannel) * .index(height) + iy) * .index(width))
                            let tapBase = body.declare("w_base", .i64, ((inChannel * .index(groupOut) + within) * .index(kernelH) + ky) * .index(kernelW))
                            let taps = (0..<kernelW).map { kx in body.declare("tap\(kx)", .f32, .load(w, index: tapBase + .index(kx))) }
                            body.loop("ix", to: .index(width)) { body, ix in
                                let value = body.declare("value", .f32, .load(x, index: inRow + ix))
                                for (kx, tap) in taps.enumerated() {
                                    let index = outRow + ix * .index(kernelW) + .index(kx)
                                    body.store(target, index, .fma(value, tap, .load(target, index: index)))
                                }
                            }
                        }
                    }
                }
                return
            }
            body.loop("c", to: .index(groupChannels)) { body, c in
                let inChannel = body.declare("in_channel", .i64, group * .index(groupChannels) + c)
                let inBase = body.declare("in_base", .i64, (image * .index(channels) + inChannel) * .index(height * width))
                let weightBase = body.declare("w_base", .i64, (inChannel * .index(groupOut) + within) * .index(kernelH * kernelW))
                body.loop("ky", to: .index(kernelH)) { body, ky in
                    let (rowLow, rowHigh) = range(&body, "iy", k: ky, size: height, out: outH, stride: a.strides[0],
                                                  pad: a.pads[0], dilation: a.dilations[0])
                    body.loop("kx", to: .index(kernelW)) { body, kx in
                        let (columnLow, columnHigh) = range(&body, "ix", k: kx, size: width, out: outW, stride: a.strides[1],
                                                            pad: a.pads[1], dilation: a.dilations[1])
                        let weight = body.declare("weight", .f32, .load(w, index: weightBase + ky * .index(kernelW) + kx))
                        body.loop("iy", from: rowLow, to: rowHigh) { body, iy in
                            let outRow = body.declare("out_row", .i64, outBase + (iy * .index(a.strides[0]) - .index(a.pads[0])
                                + ky * .index(a.dilations[0])) * .index(outW) - .index(a.pads[1]) + kx * .index(a.dilations[1]))
                            let inRow = body.declare("in_row", .i64, inBase + iy * .index(width))
                            body.loop("ix", from: columnLow, to: columnHigh) { body, ix in
                                let index = outRow + ix * .index(a.strides[1])
                                body.store(target, index, .fma(.load(x, index: inRow + ix), weight, .load(target, index: index)))
                            }
                        }
                    }
                }
            }
        }
        addKernel(builder, pattern: patches ? "conv_transpose2d by patches: per output plane and row, each input row times the kernel row, stored contiguously"
            : "conv_transpose2d: per output plane, each input row scattered with branch-free bounds")
    }
}
