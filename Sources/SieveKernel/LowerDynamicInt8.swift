// Lowering of the dynamic int8 product (`DynamicInt8`): a prologue kernel quantizes each activation row to u8
// in scratch, then the integer product kernels (dense or N:M) accumulate u8 × i8 and the epilogue dequantizes.

import SieveIR

/// Where the prologue of a dynamic int8 product keeps its results in the op's scratch: the u8 rows, each
/// row's f32 scale and its zero point (i32).
struct DynamicInt8Scratch {
    var rows: Int, k: Int
    var quantizedOffset: Int { 0 }
    var scaleOffset: Int { DynamicInt8Scratch.aligned(rows * k) }
    var zeroPointOffset: Int { scaleOffset + DynamicInt8Scratch.aligned(4 * rows) }
    var bytes: Int { zeroPointOffset + DynamicInt8Scratch.aligned(4 * rows) }

    static func aligned(_ bytes: Int) -> Int { (bytes + PlanMemory.alignment - 1) / PlanMemory.alignment * PlanMemory.alignment }
}

extension Lowerer {
    /// The rows and reduction of a dynamic int8 product (a fused_matmul whose weight is quantized), or nil.
    func dynamicInt8Shape(_ op: Operation) -> DynamicInt8Scratch? {
        guard case .fusedMatmul = op.kind, op.operands.count >= 2, let weight = graph.type(of: op.operands[1]),
              DynamicInt8.isDynamicInt8(weight: weight), weight.rank == 2,
              let count = graph.type(of: op.operands[0])?.elementCount else { return nil }
        let k = weight.shape[1]
        return DynamicInt8Scratch(rows: k == 0 ? 0 : count / k, k: k)
    }

    /// Emits the prologue and the integer product of a dynamic int8 product (see `DynamicInt8` for the semantics
    /// the interpreter defines; the kernels follow it step by step, so results match it bit for bit).
    mutating func lowerDynamicInt8(_ op: Operation, result: ValueID, steps: [EpilogueStep]) throws {
        guard let shape = dynamicInt8Shape(op), let scratch = plan.scratch[currentOpIndex],
              let weightOp = graph.definingOps()[op.operands[1].index], case let .constant(id) = graph.operations[weightOp].kind,
              let constant = graph.constants[id], let quant = constant.type.quant else {
            throw LoweringError("a quantized fused_matmul needs a constant weight and planned scratch")
        }
        let (rows, k) = (shape.rows, shape.k)
        let n = constant.type.shape[0]
        let a = try buffer(op.operands[0]), target = try buffer(result)
        let base = "\(name(result)).dynamic_int8"
        let quantized = addBuffer(Buffer(name: "\(base).rows", storage: .arena(offset: scratch + shape.quantizedOffset),
                                         elementType: .u8, count: max(1, rows * k)))
        let rowScales = addBuffer(Buffer(name: "\(base).scales", storage: .arena(offset: scratch + shape.scaleOffset),
                                         elementType: .f32, count: max(1, rows)))
        let rowZeroPoints = addBuffer(Buffer(name: "\(base).zero_points", storage: .arena(offset: scratch + shape.zeroPointOffset),
                                             elementType: .i32, count: max(1, rows)))
        let schedule = try currentSchedule()
        let parallel = schedule.parallel != .none

        guard case let .fusedMatmul(_, _, scheme) = op.kind, let activationType = graph.type(of: op.operands[0]) else {
            throw LoweringError("a quantized fused_matmul needs typed activations")
        }
        var prologue = KernelBuilder()
        if let quant = activationType.quant {
            // Static: the activations are quantized already; i8 values and zero point move up by 128 to u8, which keeps
            // every difference q - zero point, and each row takes the tensor's scale.
            let shift: Int64 = activationType.elementType == .i8 ? 128 : 0
            prologue.loop("r", to: .index(rows), parallel: parallel && rows > 1) { body, r in
                body.store(rowScales, r, .float(quant.scales[0]))
                body.store(rowZeroPoints, r, .index(Int(quant.zeroPoints[0] + shift)))
                body.loop("k", to: .index(k)) { body, kk in
                    let index = body.declare("i", .i64, r * .index(k) + kk)
                    body.store(quantized, index, .binary(.add, .load(a, index: index), .index(Int(shift))))
                }
            }
            addKernel(prologue, pattern: "static int8 product: quantized activations (one scale and zero point) moved to u8 rows")
        } else if scheme == .perTensor {
            // Per tensor, as ONNX DynamicQuantizeLinear: one range over every row, then the rows quantized with it.
            let low = prologue.declare("low", .f32, .float(0)), high = prologue.declare("high", .f32, .float(0))
            prologue.loop("i", to: .index(rows * k)) { body, i in
                let x = body.declare("x", .f32, .load(a, index: i))
                body.assign(low, .binary(.min, low, x))
                body.assign(high, .binary(.max, high, x))
            }
            let step = prologue.declare("step", .f32, .binary(.div, .binary(.sub, high, low), .float(255)))
            let scale = prologue.declare("scale", .f32, .select(.binary(.eq, step, .float(0)), .float(1), step))
            let zeroPoint = prologue.declare("zero_point", .i64, .intrinsic(.quantize, [.binary(.sub, .float(0), low), scale, 0, 0, 255]))
            prologue.loop("r", to: .index(rows)) { body, r in
                body.store(rowScales, r, scale)
                body.store(rowZeroPoints, r, zeroPoint)
                body.loop("k", to: .index(k)) { body, kk in
                    let index = body.declare("i", .i64, r * .index(k) + kk)
                    body.store(quantized, index, .intrinsic(.quantize, [.load(a, index: index), scale, zeroPoint, 0, 255]))
                }
            }
            addKernel(prologue, pattern: "dynamic int8 product: activations quantized to u8 (one scale and zero point per tensor)")
        } else {
            // Per row: each row's range (NaN ignored, widened to include 0), scale over 255 steps (1 for an all-zero
            // row), zero point quantize(-low), then the row quantized to u8.
            prologue.loop("r", to: .index(rows), parallel: parallel && rows > 1) { body, r in
                let low = body.declare("low", .f32, .float(0)), high = body.declare("high", .f32, .float(0))
                body.loop("k", to: .index(k)) { body, kk in
                    let x = body.declare("x", .f32, .load(a, index: r * .index(k) + kk))
                    body.assign(low, .binary(.min, low, x))
                    body.assign(high, .binary(.max, high, x))
                }
                let step = body.declare("step", .f32, .binary(.div, .binary(.sub, high, low), .float(255)))
                let scale = body.declare("scale", .f32, .select(.binary(.eq, step, .float(0)), .float(1), step))
                let zeroPoint = body.declare("zero_point", .i64, .intrinsic(.quantize, [.binary(.sub, .float(0), low), scale, 0, 0, 255]))
                body.store(rowScales, r, scale)
                body.store(rowZeroPoints, r, zeroPoint)
                body.loop("k", to: .index(k)) { body, kk in
                    let index = body.declare("i", .i64, r * .index(k) + kk)
                    body.store(quantized, index, .intrinsic(.quantize, [.load(a, index: index), scale, zeroPoint, 0, 255]))
                }
            }
            addKernel(prologue, pattern: "dynamic int8 product: activation rows quantized to u8 (per-row scale and zero point)")
        }

        // Epilogue tables: each output channel's scale and the sum of its weights, which corrects the zero point:
        // sum (q - zp) w = sum q w - zp sum w.
        let perRow = constant.type.elementCount.map { _ in
            if case let .nm(keep, group) = constant.type.layout { return (k + group - 1) / group * keep }
            return k
        } ?? k
        var sums = [Int64](repeating: 0, count: n)
        for row in 0..<n {
            for offset in 0..<perRow { sums[row] += Int64(Int8(bitPattern: constant.bytes[row * perRow + offset])) }
        }
        let weightSums = addIntegerTable("@\(constant.name).sums", values: sums)
        let weightScales = addTable("@\(constant.name).scales", elementType: .f32, values: quant.scales.map(Double.init))
        let steps = try matmulEpilogue(op, steps: steps, m: rows, n: n)
        let epilogue: ProductEpilogue = { builder, batch, row, column, sum in
            let corrected = builder.declare("acc", .i64, .binary(.wrappingSub, sum,
                .binary(.wrappingMul, .load(rowZeroPoints, index: row), .load(weightSums, index: column))))
            let value = builder.declare("y", .f32, .binary(.mul, .convert(corrected, to: .f32),
                .binary(.mul, .load(rowScales, index: row), .load(weightScales, index: column))))
            return steps?(&builder, batch, row, column, value) ?? value
        }
        // One exact integer dot product per (activation row, output channel): the channel loop outside, so that a
        // weight row stays in cache while every activation row passes it, and split across threads.
        var builder = KernelBuilder()
        if let weight = nmWeight(op.operands[1]) {
            let groups = k / weight.m, padded = k % weight.m != 0
            let rowKept = (groups + (padded ? 1 : 0)) * weight.n
            let bits = weight.m.trailingZeroBitCount
            builder.loop("j", to: .index(n), parallel: parallel) { body, j in
                let first = body.declare("first", .i64, j * .index(rowKept))
                body.loop("r", to: .index(rows)) { body, r in
                    let rowStart = body.declare("row", .i64, r * .index(k))
                    let total = body.declare("sum", .i64, .nmDot(NMDot(values: weight.values, indices: weight.indices, dense: quantized,
                                                                       first: first, denseStart: rowStart, groups: groups,
                                                                       n: weight.n, m: weight.m)))
                    if padded {
                        // The padded last group: entries past the reduction hold zero and are skipped, never read past K.
                        for entry in 0..<weight.n {
                            let p = body.declare("p", .i64, first + .index(groups * weight.n + entry))
                            let slot = body.declare("slot", .i64, .nmIndex(weight.indices, element: p, bits: bits))
                            body.branch(.binary(.lt, slot, .index(k - groups * weight.m))) { body in
                                body.assign(total, .binary(.wrappingAdd, total, .binary(.wrappingMul, .load(weight.values, index: p),
                                    .load(quantized, index: rowStart + .index(groups * weight.m) + slot))))
                            }
                        }
                    }
                    body.store(target, r * .index(n) + j, epilogue(&body, 0, r, j, total))
                }
            }
            addKernel(builder, pattern: "dynamic int8 N:M product (\(weight.n):\(weight.m)), one exact nm_dot of i8 kept values and u8 activations "
                      + "per row and channel (2:4: byte permutes and vpdpbusd on AVX-512 VBMI+VNNI, byte shuffles and vpmaddwd on AVX2), dequantizing epilogue")
            return
        }
        let weight = try buffer(op.operands[1])
        builder.loop("j", to: .index(n), parallel: parallel) { body, j in
            let weightRow = body.declare("weight_row", .i64, j * .index(k))
            body.loop("r", to: .index(rows)) { body, r in
                let total = body.declare("sum", .i64, .dot(IntegerDot(a: quantized, aStart: r * .index(k), b: weight, bStart: weightRow, length: k)))
                body.store(target, r * .index(n) + j, epilogue(&body, 0, r, j, total))
            }
        }
        addKernel(builder, pattern: "dynamic int8 dense product, one exact dot of u8 activations and i8 weights per row and channel "
                  + "(vpdpbusd on AVX-512 VNNI, vpmaddwd on AVX2), dequantizing epilogue")
    }
}
