// Lowering of the int8 products (`DynamicInt8`): a prologue kernel quantizes each activation row (or copies each
// int8 convolution patch) to u8 in scratch, then the integer product kernels accumulate u8 × i8 and dequantize.

import SieveIR

/// Where the prologue of a dynamic int8 product keeps its results in the op's scratch: the u8 rows, each
/// row's f32 scale and its zero point (i32); with the `int8_tile` schedule also the int32 sums of every row and
/// panel column.
struct DynamicInt8Scratch {
    var rows: Int, k: Int
    /// Copies of the rows (a grouped int8 convolution keeps each group's patches), 1 for a product.
    var groups = 1
    /// Columns of the int32 sums (whole panels), 0 without the int8 tile.
    var sumColumns = 0
    var quantizedOffset: Int { 0 }
    var scaleOffset: Int { DynamicInt8Scratch.aligned(groups * rows * k) }
    var zeroPointOffset: Int { scaleOffset + DynamicInt8Scratch.aligned(4 * rows) }
    var sumsOffset: Int { zeroPointOffset + DynamicInt8Scratch.aligned(4 * rows) }
    var bytes: Int { sumsOffset + DynamicInt8Scratch.aligned(4 * rows * sumColumns) }

    static func aligned(_ bytes: Int) -> Int { (bytes + PlanMemory.alignment - 1) / PlanMemory.alignment * PlanMemory.alignment }
}

/// Quantized activation rows in scratch, as an int8 product reads them: `count` rows of `k` u8 values, each row's f32
/// scale and i32 zero point.
struct Int8Rows {
    var values: BufferID, scales: BufferID, zeroPoints: BufferID
    var count: Int, k: Int
    /// Every row's scale and zero point when they are fixed at compile time (static u8 activations read in place),
    /// used instead of the `scales` and `zeroPoints` tables.
    var fixed: (scale: Float, zeroPoint: Int64)? = nil
}

/// How an int8 product with static activations requantizes its exact sums straight to 8 bits instead of dequantizing
/// them (`DynamicInt8.requantize`: the `requantize` step, a conv2d with a stated u8 or i8 result).
struct Int8Requantization {
    /// The activations' one scale, the result's scale and zero point, and the result type's range.
    var activationScale: Float, resultScale: Float, zeroPoint: Int64, range: ClosedRange<Int64>
    /// An i32 bias per channel added to the sums first (QLinearConv's), or nil.
    var bias: BufferID?
}

/// The integer stage of an int8 product (`emitInt8Product`): rows by an i8 weight `[n, k]` quantized per channel.
struct Int8Product {
    var rows: Int8Rows
    /// The weight constant (its bytes give the zero-point correction) and the value that reads it.
    var weight: Constant, weightOperand: ValueID
    var n: Int
    /// Where result (row, channel) is stored.
    var target: BufferID, outIndex: (KernelExpression, KernelExpression) -> KernelExpression
    /// The f32 steps after dequantizing; `vectorSteps` only where `outIndex` is `row * n + channel` (it runs along channels).
    var steps: ProductEpilogue?, vectorSteps: ProductEpilogue?
    /// The arena offset of the int8 tile's int32 sums (`DynamicInt8Scratch.sumsOffset` past the op's scratch).
    var sumsOffset: Int
    /// The prefix of scratch buffer names, what the kernel patterns call the product and its epilogue.
    var base: String, what: String, ending = "dequantizing epilogue"
    var parallel: Bool
    /// Groups of a grouped convolution: channel j reads the rows of copy `j / (n / groups)` (dense dots only).
    var groups = 1
    /// Set when the sums are requantized to 8 bits (then `steps` and `vectorSteps` are nil).
    var requantization: Int8Requantization? = nil
}

extension Lowerer {
    /// The rows and reduction of a dynamic int8 product (a fused_matmul whose weight is quantized), or nil.
    /// With the op's index, the scratch also holds the int8 tile's sums when that is its schedule.
    func dynamicInt8Shape(_ op: Operation, at index: Int? = nil) -> DynamicInt8Scratch? {
        guard case .fusedMatmul = op.kind, op.operands.count >= 2, let weight = graph.type(of: op.operands[1]),
              DynamicInt8.isDynamicInt8(weight: weight), weight.rank == 2,
              let count = graph.type(of: op.operands[0])?.elementCount else { return nil }
        let k = weight.shape[1]
        let results = op.results.first.flatMap { graph.type(of: $0)?.elementCount } ?? 0
        var shape = DynamicInt8Scratch(rows: DynamicInt8.productRows(activations: count, k: k, results: results, n: weight.shape[0]), k: k)
        if let index, int8PanelLayout(index) != nil {
            shape.sumColumns = (weight.shape[0] + Int8PanelLayout.columns - 1) / Int8PanelLayout.columns * Int8PanelLayout.columns
        }
        return shape
    }

    /// The dynamic int8 products that quantize the same f32 activations with the same scheme: the first writes the u8
    /// rows, scales and zero points into its scratch and the later ones read them (the activations are SSA values, and
    /// quantizing is a function of them, so every reader would write the same bytes). In the encoder, the query, key
    /// and value products of every layer read one layer norm's result: one prologue (and one parallel loop) instead of
    /// three. Returns each later reader's first reader, and each first reader's last reader.
    func sharedInt8Quantizations() -> (source: [Int: Int], lastReader: [Int: Int]) {
        struct Key: Hashable { var activations: ValueID, scheme: ActivationQuantization }
        var firstReader: [Key: Int] = [:]
        var source: [Int: Int] = [:], lastReader: [Int: Int] = [:]
        for (index, op) in graph.operations.enumerated() {
            // Ops with an empty result are skipped by lowering: they write no prologue another op could read.
            guard case let .fusedMatmul(_, _, scheme) = op.kind, let shape = dynamicInt8Shape(op), shape.rows > 0, shape.k > 0,
                  let activations = graph.type(of: op.operands[0]), activations.quant == nil, activations.elementType == .f32,
                  let result = op.results.first, graph.type(of: result)?.elementCount != 0 else { continue }
            let key = Key(activations: op.operands[0], scheme: scheme)
            if let first = firstReader[key] {
                source[index] = first
                lastReader[first] = index
            } else {
                firstReader[key] = index
            }
        }
        return (source, lastReader)
    }

    /// Whether every reader of a constant's value is an `int8_tile` product reading it as its weight (which reads the
    /// panels it packs instead, so the constant's own bytes need not be stored).
    func isReadOnlyByInt8Tiles(_ value: ValueID) -> Bool {
        guard !graph.outputs.contains(value) else { return false }
        var readers = 0
        for (index, op) in graph.operations.enumerated() where op.operands.contains(value) {
            guard op.operands.firstIndex(of: value) == 1, op.operands.lastIndex(of: value) == 1, int8PanelLayout(index) != nil else { return false }
            readers += 1
        }
        return readers > 0
    }

    /// The panel layout of op `index`'s weight when its schedule is `int8_tile` (dense, or 2:4), else nil.
    func int8PanelLayout(_ index: Int) -> Int8PanelLayout? {
        guard schedules[index]?.variant == .int8Tile, graph.operations.indices.contains(index),
              let weight = graph.type(of: graph.operations[index].operands[1]) else { return nil }
        switch weight.layout {
        case .dense: return .dense
        case .nm(2, 4): return .sparse24
        default: return nil
        }
    }

    /// Emits the prologue and the integer product of a dynamic int8 product (see `DynamicInt8` for the semantics
    /// the interpreter defines; the kernels follow it step by step, so results match it bit for bit).
    mutating func lowerDynamicInt8(_ op: Operation, result: ValueID, steps: [EpilogueStep]) throws {
        guard let shape = dynamicInt8Shape(op, at: currentOpIndex), let scratch = plan.scratch[currentOpIndex],
              let weightOp = graph.definingOps()[op.operands[1].index], case let .constant(id) = graph.operations[weightOp].kind,
              let constant = graph.constants[id], constant.type.quant != nil else {
            throw LoweringError("a quantized fused_matmul needs a constant weight and planned scratch")
        }
        let (rows, k) = (shape.rows, shape.k)
        let n = constant.type.shape[0]
        let a = try buffer(op.operands[0]), target = try buffer(result)
        let base = "\(name(result)).dynamic_int8"
        var quantized = addBuffer(Buffer(name: "\(base).rows", storage: .arena(offset: scratch + shape.quantizedOffset),
                                         elementType: .u8, count: max(1, rows * k)))
        let ownScales = addBuffer(Buffer(name: "\(base).scales", storage: .arena(offset: scratch + shape.scaleOffset),
                                         elementType: .f32, count: max(1, rows)))
        let ownZeroPoints = addBuffer(Buffer(name: "\(base).zero_points", storage: .arena(offset: scratch + shape.zeroPointOffset),
                                             elementType: .i32, count: max(1, rows)))
        let schedule = try currentSchedule()
        let parallel = schedule.parallel != .none

        guard case let .fusedMatmul(_, _, scheme) = op.kind, let activationType = graph.type(of: op.operands[0]) else {
            throw LoweringError("a quantized fused_matmul needs typed activations")
        }
        var prologue = KernelBuilder()
        // Each row's scale and zero point: loaded from the prologue's tables, or, for u8 activations quantized already,
        // the tensor's own, read in place (no prologue).
        var fixed: (scale: Float, zeroPoint: Int64)?
        var rowScales = ownScales, rowZeroPoints = ownZeroPoints
        let laterReaders = sharedInt8Source.values.filter { $0 == currentOpIndex }.count
        let alsoReading = laterReaders == 0 ? "" : " (and for \(laterReaders) more product\(laterReaders == 1 ? "" : "s") of them)"
        if sharedInt8Source[currentOpIndex] != nil {
            // An earlier product quantized the same activations the same way into its scratch, live until this op.
            guard let shared = sharedInt8Rows[op.operands[0]] else {
                throw LoweringError("the quantized rows of \(name(op.operands[0])) shared with an earlier int8 product were not written")
            }
            (quantized, rowScales, rowZeroPoints) = (shared.values, shared.scales, shared.zeroPoints)
        } else if let quant = activationType.quant, activationType.elementType == .u8 {
            quantized = a
            fixed = (quant.scales[0], quant.zeroPoints[0])
        } else if let quant = activationType.quant {
            // Static i8 activations: values and zero point move up by 128 to u8, which keeps every difference
            // q - zero point, and each row takes the tensor's scale.
            let shift: Int64 = 128
            prologue.loop("r", to: .index(rows), parallel: parallel && rows > 1) { body, r in
                body.store(rowScales, r, .float(quant.scales[0]))
                body.store(rowZeroPoints, r, .index(Int(quant.zeroPoints[0] + shift)))
                body.loop("k", to: .index(k)) { body, kk in
                    let index = body.declare("i", .i64, r * .index(k) + kk)
                    body.store(quantized, index, .binary(.add, .load(a, index: index), .index(Int(shift))))
                }
            }
            addKernel(prologue, pattern: "static int8 product: i8 activations (one scale and zero point) moved to u8 rows")
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
            addKernel(prologue, pattern: "dynamic int8 product: activations quantized to u8 (one scale and zero point per tensor)\(alsoReading)")
        } else {
            // Per row: each row's range (NaN ignored, widened to include 0), scale over 255 steps (1 for an all-zero
            // row), zero point quantize(-low), then the row quantized to u8: one vectorised quantize_row per row.
            prologue.loop("r", to: .index(rows), parallel: parallel && rows > 1) { body, r in
                body.emit(.quantizeRow(QuantizeRow(out: quantized, outStart: r * .index(k), scales: rowScales, zeroPoints: rowZeroPoints,
                                                   scaleIndex: r, source: a, sourceStart: r * .index(k), length: k)))
            }
            addKernel(prologue, pattern: "dynamic int8 product: activation rows quantized to u8 (per-row scale and zero point, quantize_row)\(alsoReading)")
        }
        if laterReaders > 0 {
            sharedInt8Rows[op.operands[0]] = Int8Rows(values: quantized, scales: rowScales, zeroPoints: rowZeroPoints, count: rows, k: k)
        }

        var requantization: Int8Requantization?
        if steps == [.requantize] {
            let resultType = type(result)
            guard let activationQuant = activationType.quant, let quant = resultType.quant,
                  let range = resultType.elementType.integerRange else {
                throw LoweringError("a requantizing int8 product needs quantized activations and a quantized 8-bit result")
            }
            requantization = Int8Requantization(activationScale: activationQuant.scales[0], resultScale: quant.scales[0],
                                                zeroPoint: quant.zeroPoints[0], range: range)
        }
        let stepsEpilogue = requantization != nil ? nil : try matmulEpilogue(op, steps: steps, m: rows, n: n)
        // The int8 tile applies the steps (bias, activation, residual) over vectors of f32 results where they
        // vectorize, as f32 products do (the vector GELU within its documented ulp bound, bias and residual exact).
        let vectorSteps = int8PanelLayout(currentOpIndex) == nil || requantization != nil ? nil
            : try matmulVectorEpilogue(op, steps: steps, m: rows, n: n)
        try emitInt8Product(Int8Product(
            rows: Int8Rows(values: quantized, scales: rowScales, zeroPoints: rowZeroPoints, count: rows, k: k, fixed: fixed),
            weight: constant, weightOperand: op.operands[1], n: n, target: target, outIndex: { r, j in r * .index(n) + j },
            steps: stepsEpilogue, vectorSteps: vectorSteps, sumsOffset: scratch + shape.sumsOffset, base: base,
            what: activationType.quant == nil ? "dynamic int8" : "static int8",
            ending: requantization != nil ? "epilogue requantizing the integer sums to 8 bits"
                : steps.contains(.quantize) ? "epilogue requantizing to u8" : "dequantizing epilogue", parallel: parallel,
            requantization: requantization))
    }

    /// Emits the integer stage of an int8 product: the exact sums of u8 activation rows by the i8 weight rows `[n, k]`
    /// (the int8 tile when that is the op's schedule, else one dot or nm_dot per row and channel), each corrected by
    /// its row's zero point and dequantized by row and channel scale, then the steps, stored at `outIndex(row, channel)`.
    mutating func emitInt8Product(_ p: Int8Product) throws {
        let (rows, k, n, constant, target, base) = (p.rows.count, p.rows.k, p.n, p.weight, p.target, p.base)
        let (quantized, rowScales, rowZeroPoints) = (p.rows.values, p.rows.scales, p.rows.zeroPoints)
        let (stepsEpilogue, vectorSteps, outIndex, parallel) = (p.steps, p.vectorSteps, p.outIndex, p.parallel)
        guard let quant = constant.type.quant else { throw LoweringError("an int8 product needs a quantized weight") }
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
        let tileLayout = int8PanelLayout(currentOpIndex)
        guard p.groups == 1 || (tileLayout == nil && nmWeight(p.weightOperand) == nil) else {
            throw LoweringError("a grouped int8 product runs dense dots only")
        }
        let fixed = p.rows.fixed
        let rowScale: (KernelExpression) -> KernelExpression = { row in fixed.map { .float($0.scale) } ?? .load(rowScales, index: row) }
        let rowZeroPoint: (KernelExpression) -> KernelExpression = { row in fixed.map { .int($0.zeroPoint) } ?? .load(rowZeroPoints, index: row) }
        // The epilogue either dequantizes (then the steps run on f32) or requantizes; each adds only the tables it reads.
        let epilogue: ProductEpilogue
        let dequantize: ProductEpilogue?
        if let requantization = p.requantization {
            dequantize = nil
            // Straight to 8 bits: f32(acc [+ bias]) times the channel's multiplier, rounded half to even, plus the zero
            // point, saturated (the quantize intrinsic with scale 1, which divides exactly).
            let multipliers = addTable("@\(constant.name).requantize", elementType: .f32, values: quant.scales.map {
                Double(DynamicInt8.requantizationMultiplier(activationScale: requantization.activationScale, weightScale: $0,
                                                            resultScale: requantization.resultScale))
            })
            epilogue = { builder, _, row, column, sum in
                var corrected = KernelExpression.binary(.wrappingSub, sum, .binary(.wrappingMul, rowZeroPoint(row), .load(weightSums, index: column)))
                if let bias = requantization.bias {
                    corrected = .binary(.wrappingAdd, corrected, .convert(.load(bias, index: column), to: .i64))
                }
                let acc = builder.declare("acc", .i64, corrected)
                return builder.declare("q", .i64, .intrinsic(.quantize, [
                    .binary(.mul, .convert(acc, to: .f32), .load(multipliers, index: column)), .float(1),
                    .int(requantization.zeroPoint), .int(requantization.range.lowerBound), .int(requantization.range.upperBound)]))
            }
        } else {
            let weightScales = addTable("@\(constant.name).scales", elementType: .f32, values: quant.scales.map(Double.init))
            let toF32: ProductEpilogue = { builder, batch, row, column, sum in
                let corrected = builder.declare("acc", .i64, .binary(.wrappingSub, sum,
                    .binary(.wrappingMul, rowZeroPoint(row), .load(weightSums, index: column))))
                return builder.declare("y", .f32, .binary(.mul, .convert(corrected, to: .f32),
                    .binary(.mul, rowScale(row), .load(weightScales, index: column))))
            }
            dequantize = toF32
            epilogue = { builder, batch, row, column, sum in
                let value = toF32(&builder, batch, row, column, sum)
                return stepsEpilogue?(&builder, batch, row, column, value) ?? value
            }
        }
        let ending = p.ending
        var builder = KernelBuilder()
        if let layout = tileLayout {
            // The register tile: work items of up to 4 panels (64 channels) split across threads; each computes the
            // int32 sums of every row for its panels, then dequantizes them.
            let panels = (n + Int8PanelLayout.columns - 1) / Int8PanelLayout.columns, columns = panels * Int8PanelLayout.columns
            let packed = addByteTable("@\(constant.name).int8_panels", elementType: .i8,
                                      bytes: layout.pack(constant.bytes, n: n, k: k))
            let sums = addBuffer(Buffer(name: "\(base).sums", storage: .arena(offset: p.sumsOffset),
                                        elementType: .i32, count: max(1, rows * columns)))
            let group = 4
            builder.loop("g", to: .index((panels + group - 1) / group), parallel: parallel) { body, g in
                let first = body.declare("panel", .i64, g * .index(group))
                let count = body.declare("panels", .i64, .binary(.min, .index(group), .index(panels) - first))
                body.emit(.int8Tile(Int8Tile(a: quantized, aStart: 0, aStride: k, rows: .index(rows), weights: packed, layout: layout,
                                             panel: first, panels: count, k: k, out: sums,
                                             outStart: first * .index(Int8PanelLayout.columns), outStride: columns)))
                let start = body.declare("start", .i64, first * .index(Int8PanelLayout.columns))
                let end = body.declare("end", .i64, .binary(.min, (first + count) * .index(Int8PanelLayout.columns), .index(n)))
                body.loop("r", to: .index(rows)) { body, r in
                    guard let vectorSteps, let dequantize else {
                        body.loop("j", from: start, to: end) { body, j in
                            let total = body.declare("sum", .i64, .load(sums, index: r * .index(columns) + j))
                            body.store(target, outIndex(r, j), epilogue(&body, 0, r, j, total))
                        }
                        return
                    }
                    // Dequantized into the result, then the steps over whole vectors (the row's tail one by one).
                    body.loop("j", from: start, to: end) { body, j in
                        let total = body.declare("sum", .i64, .load(sums, index: r * .index(columns) + j))
                        body.store(target, outIndex(r, j), dequantize(&body, 0, r, j, total))
                    }
                    let vectorEnd = body.declare("vector_end", .i64, start + (end - start) / .index(width) * .index(width))
                    body.loop("j", from: start, to: vectorEnd, step: width) { body, j in
                        let index = body.declare("o", .i64, r * .index(n) + j)
                        body.emit(.vectorStore(target, index: index,
                                               value: vectorSteps(&body, 0, r, j, .vectorLoad(target, index: index, width: width))))
                    }
                    if let stepsEpilogue {
                        body.loop("j", from: vectorEnd, to: end) { body, j in
                            let index = body.declare("o", .i64, r * .index(n) + j)
                            body.store(target, index, stepsEpilogue(&body, 0, r, j, .load(target, index: index)))
                        }
                    }
                }
            }
            addKernel(builder, pattern: "\(p.what) \(layout == .dense ? "dense" : "2:4") product, int8_tile register tile over "
                      + "panels of 16 channels (AVX-512 VNNI: 8 rows x 32 channels of vpdpbusd\(layout == .dense ? "" : ", activations gathered with vpshufb"); "
                      + "AVX2: 4 rows x 8 channels of vpmaddwd), \(ending)")
            return
        }
        // One exact integer dot product per (activation row, output channel): the channel loop outside, so that a
        // weight row stays in cache while every activation row passes it, and split across threads.
        if let weight = nmWeight(p.weightOperand) {
            let groups = k / weight.m, padded = k % weight.m != 0
            let rowKept = (groups + (padded ? 1 : 0)) * weight.n
            let bits = weight.m.trailingZeroBitCount
            let valueCount = program.buffers[weight.values.index].count, indexCount = program.buffers[weight.indices.index].count
            builder.loop("j", to: .index(n), parallel: parallel) { body, j in
                let first = body.declare("first", .i64, j * .index(rowKept))
                if rows == 1 {
                    // Batch 1 streams every weight once from DRAM: a channel's worth of values and indices 4 KiB
                    // ahead (whole channels, at least the next one) is prefetched, a line each, before this one is
                    // summed. The burst keeps more misses in flight than the hardware prefetcher alone (2:4 int8,
                    // 4096x4096, cold, 1 thread: 0.25 -> 0.22 ms; one channel ahead 0.23, two channels = 4 KiB 0.22,
                    // four 0.22, eight 0.23; bench/RESULTS.md 2026-12-05 15:00; dense rows gained nothing, so only N:M
                    // does it); a product whose rows reuse the channel from cache does not pay for it.
                    let ahead = max(1, (4096 + rowKept - 1) / rowKept) * rowKept
                    let next = body.declare("next", .i64, first + .index(ahead))
                    body.loop("l", to: .index((rowKept + 63) / 64)) { body, l in
                        body.emit(.prefetch(weight.values, index: .binary(.min, next + l * .index(64), .index(valueCount - 1))))
                    }
                    body.loop("l", to: .index((rowKept * bits / 8 + 63) / 64)) { body, l in
                        body.emit(.prefetch(weight.indices, index: .binary(.min, next * .index(bits) / .index(8) + l * .index(64),
                                                                           .index(indexCount - 1))))
                    }
                }
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
                    body.store(target, outIndex(r, j), epilogue(&body, 0, r, j, total))
                }
            }
            addKernel(builder, pattern: "\(p.what) N:M product (\(weight.n):\(weight.m)), one exact nm_dot of i8 kept values and u8 activations "
                      + "per row and channel (2:4: byte permutes and vpdpbusd on AVX-512 VBMI+VNNI, byte shuffles and vpmaddwd on AVX2)"
                      + (rows == 1 ? ", the next channel's weights prefetched" : "") + ", \(ending)")
            return
        }
        let weight = try buffer(p.weightOperand)
        let groupOut = n / max(1, p.groups)
        builder.loop("j", to: .index(n), parallel: parallel) { body, j in
            let weightRow = body.declare("weight_row", .i64, j * .index(k))
            let firstRow: KernelExpression = p.groups == 1 ? .index(0) : body.declare("first_row", .i64, j / .index(groupOut) * .index(rows))
            body.loop("r", to: .index(rows)) { body, r in
                let total = body.declare("sum", .i64, .dot(IntegerDot(a: quantized, aStart: (firstRow + r) * .index(k), b: weight,
                                                                      bStart: weightRow, length: k)))
                body.store(target, outIndex(r, j), epilogue(&body, 0, r, j, total))
            }
        }
        addKernel(builder, pattern: "\(p.what) dense product, one exact dot of u8 activations and i8 weights per row and channel "
                  + "(vpdpbusd on AVX-512 VNNI, vpmaddwd on AVX2), \(ending)")
    }
}

extension Lowerer {
    /// The scratch of an int8 convolution (`DynamicInt8.convolutionProblem`): its pixel-major patch rows (one copy
    /// per group), their scales and zero points, and the int8 tile's sums when that is its schedule; nil for other ops.
    func int8ConvolutionShape(_ op: Operation, at index: Int? = nil) -> DynamicInt8Scratch? {
        guard case let .conv2d(attributes) = op.kind, op.operands.count >= 2, let x = graph.type(of: op.operands[0]),
              let w = graph.type(of: op.operands[1]), DynamicInt8.isDynamicInt8(weight: w), x.rank == 4, w.rank == 4,
              let y = op.results.first.flatMap({ graph.type(of: $0) }), y.rank == 4 else { return nil }
        var shape = DynamicInt8Scratch(rows: saturatingProduct([x.shape[0], y.shape[2], y.shape[3]]),
                                       k: saturatingProduct([w.shape[1], w.shape[2], w.shape[3]]))
        shape.groups = attributes.groups
        if let index, int8PanelLayout(index) != nil {
            shape.sumColumns = (w.shape[0] + Int8PanelLayout.columns - 1) / Int8PanelLayout.columns * Int8PanelLayout.columns
        }
        return shape
    }

    /// Lowers the int8 convolution: a kernel sets every row's scale and zero point (an f32 input's from its range), a
    /// prologue copies every patch of the input into pixel-major u8 rows (i8 moved up by 128, f32 quantized; padding
    /// holds the zero point, so it adds nothing), then the int8 product of those rows by the
    /// i8 weight `[O, patch]` dequantizes each sum and adds the bias, stored NCHW. Pointwise, im2col and depthwise
    /// convolutions all take this form (a depthwise one as dots of KH x KW taps).
    mutating func lowerInt8Convolution(_ op: Operation, result: ValueID, attributes: Conv2DAttributes) throws {
        guard let shape = int8ConvolutionShape(op, at: currentOpIndex), let scratch = plan.scratch[currentOpIndex],
              let weightOp = graph.definingOps()[op.operands[1].index], case let .constant(id) = graph.operations[weightOp].kind,
              let constant = graph.constants[id] else {
            throw LoweringError("an int8 conv2d needs a constant weight and planned scratch")
        }
        let x = type(op.operands[0]).shape, w = type(op.operands[1]).shape, y = type(result).shape
        let (channels, height, width) = (x[1], x[2], x[3])
        let (outChannels, groupChannels, kernelH, kernelW) = (w[0], w[1], w[2], w[3])
        let (outH, outW) = (y[2], y[3])
        let pixels = outH * outW, groups = attributes.groups
        let (rows, patch) = (shape.rows, shape.k)
        let input = try buffer(op.operands[0]), target = try buffer(result)
        let bias: BufferID? = op.operands.count == 3 ? try buffer(op.operands[2]) : nil
        let base = "\(name(result)).int8_conv"
        let quantized = addBuffer(Buffer(name: "\(base).rows", storage: .arena(offset: scratch + shape.quantizedOffset),
                                         elementType: .u8, count: max(1, groups * rows * patch)))
        let rowScales = addBuffer(Buffer(name: "\(base).scales", storage: .arena(offset: scratch + shape.scaleOffset),
                                         elementType: .f32, count: max(1, rows)))
        let rowZeroPoints = addBuffer(Buffer(name: "\(base).zero_points", storage: .arena(offset: scratch + shape.zeroPointOffset),
                                             elementType: .i32, count: max(1, rows)))
        let parallel = try currentSchedule().parallel != .none
        // The input's one scale and zero point for every row: from its type, or (f32) from its range at run time.
        let value: (KernelExpression) -> KernelExpression, zeroPoint: KernelExpression
        var range = KernelBuilder()
        if let inputQuant = type(op.operands[0]).quant {
            let shift = type(op.operands[0]).elementType == .i8 ? 128 : 0
            value = { shift == 0 ? $0 : .binary(.add, $0, .index(shift)) }
            zeroPoint = .index(Int(inputQuant.zeroPoints[0]) + shift)
            range.loop("r", to: .index(rows)) { body, r in
                body.store(rowScales, r, .float(inputQuant.scales[0]))
                body.store(rowZeroPoints, r, zeroPoint)
            }
            addKernel(range, pattern: "int8 conv2d: the quantized input's scale and zero point for every patch row")
        } else {
            // Per tensor, as ONNX DynamicQuantizeLinear: one range over the whole input (as the per-tensor product does).
            let count = x.reduce(1, *)
            let low = range.declare("low", .f32, .float(0)), high = range.declare("high", .f32, .float(0))
            range.loop("i", to: .index(count)) { body, i in
                let x = body.declare("x", .f32, .load(input, index: i))
                body.assign(low, .binary(.min, low, x))
                body.assign(high, .binary(.max, high, x))
            }
            let step = range.declare("step", .f32, .binary(.div, .binary(.sub, high, low), .float(255)))
            let scale = range.declare("scale", .f32, .select(.binary(.eq, step, .float(0)), .float(1), step))
            let point = range.declare("zero_point", .i64, .intrinsic(.quantize, [.binary(.sub, .float(0), low), scale, 0, 0, 255]))
            range.loop("r", to: .index(rows)) { body, r in
                body.store(rowScales, r, scale)
                body.store(rowZeroPoints, r, point)
            }
            addKernel(range, pattern: "int8 conv2d: the f32 input's range, one scale and zero point per tensor for every patch row")
            value = { .intrinsic(.quantize, [$0, .load(rowScales, index: 0), .convert(.load(rowZeroPoints, index: 0), to: .i64), 0, 255]) }
            zeroPoint = .load(rowZeroPoints, index: 0)
        }

        let padded = attributes.pads.contains { $0 != 0 }
        var prologue = KernelBuilder()
        prologue.loop("row", to: .index(groups * rows), parallel: parallel && groups * rows > 1) { body, row in
            let group = body.declare("group", .i64, row / .index(rows))
            let pixel = body.declare("pixel", .i64, row % .index(pixels))
            let image = body.declare("image", .i64, (row % .index(rows)) / .index(pixels))
            let oy = body.declare("oy", .i64, pixel / .index(outW)), ox = body.declare("ox", .i64, pixel % .index(outW))
            body.loop("c", to: .index(groupChannels)) { body, c in
                let plane = body.declare("plane", .i64, (image * .index(channels) + group * .index(groupChannels) + c) * .index(height))
                for ky in 0..<kernelH {
                    let iy = body.declare("iy", .i64, oy * .index(attributes.strides[0]) + .index(ky * attributes.dilations[0] - attributes.pads[0]))
                    for kx in 0..<kernelW {
                        let ix = body.declare("ix", .i64, ox * .index(attributes.strides[1]) + .index(kx * attributes.dilations[1] - attributes.pads[1]))
                        let destination = row * .index(patch) + c * .index(kernelH * kernelW) + .index(ky * kernelW + kx)
                        let source = value(.load(input, index: (plane + iy) * .index(width) + ix))
                        // Without padding every tap lies inside the input (the output size counts whole windows only).
                        guard padded else {
                            body.store(quantized, destination, source)
                            continue
                        }
                        let inside = KernelExpression.binary(.and, .binary(.and, .binary(.ge, iy, 0), .binary(.lt, iy, .index(height))),
                                                             .binary(.and, .binary(.ge, ix, 0), .binary(.lt, ix, .index(width))))
                        body.branch(inside, then: { body in
                            body.store(quantized, destination, source)
                        }, else: { body in
                            body.store(quantized, destination, zeroPoint)
                        })
                    }
                }
            }
        }
        addKernel(prologue, pattern: "int8 conv2d: patches of the input copied (quantized) to pixel-major u8 rows (padding holds the zero point)")
        var requantization: Int8Requantization?
        if !type(result).elementType.isFloat {
            guard let inputQuant = type(op.operands[0]).quant, let quant = type(result).quant,
                  let range = type(result).elementType.integerRange else {
                throw LoweringError("a requantizing int8 conv2d needs a quantized input and a quantized 8-bit result")
            }
            requantization = Int8Requantization(activationScale: inputQuant.scales[0], resultScale: quant.scales[0],
                                                zeroPoint: quant.zeroPoints[0], range: range, bias: bias)
        }
        let addBias: ProductEpilogue? = requantization != nil ? nil
            : bias.map { bias in { _, _, _, column, value in .binary(.add, value, .load(bias, index: column)) } }
        try emitInt8Product(Int8Product(
            rows: Int8Rows(values: quantized, scales: rowScales, zeroPoints: rowZeroPoints, count: rows, k: patch),
            weight: constant, weightOperand: op.operands[1], n: outChannels, target: target,
            outIndex: { r, j in ((r / .index(pixels)) * .index(outChannels) + j) * .index(pixels) + r % .index(pixels) },
            steps: addBias, vectorSteps: nil, sumsOffset: scratch + shape.sumsOffset, base: base, what: "int8 conv2d",
            ending: requantization != nil ? "epilogue requantizing the integer sums to 8 bits" : "dequantizing epilogue",
            parallel: parallel, groups: groups, requantization: requantization))
    }
}

extension Int8PanelLayout {
    /// An i8 weight `[n, k]` as the constant stores it (dense row-major bytes, or 2:4 kept values row by row then their
    /// packed 2-bit indices) in panels of 16 columns (`Int8PanelLayout`); columns past `n` hold zeros. k must be a
    /// multiple of `step`, so that every 2:4 row's indices start on a byte.
    func pack(_ bytes: [UInt8], n: Int, k: Int) -> [UInt8] {
        let columns = Int8PanelLayout.columns, panels = (n + columns - 1) / columns
        let panelBytes = self.panelBytes(k: k)
        var out = [UInt8](repeating: 0, count: panels * panelBytes)
        bytes.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for row in 0..<n {
                    let (panel, c) = row.quotientAndRemainder(dividingBy: columns)
                    let base = panel * panelBytes
                    switch self {
                    case .dense:
                        for q in 0..<(k / 4) {
                            for t in 0..<4 { target[base + (q * columns + c) * 4 + t] = source[row * k + 4 * q + t] }
                        }
                    case .sparse24:
                        let kept = k / 2, indexStart = n * kept
                        for s in 0..<(k / 8) {
                            let step = base + 80 * s
                            for t in 0..<4 { target[step + 4 * c + t] = source[row * kept + 4 * s + t] }
                            target[step + 64 + c] = source[indexStart + (row * kept) / 4 + s]
                        }
                    }
                }
            }
        }
        return out
    }
}
