// Lowering of matrix products and convolution: matmul, gemm, fused_matmul (with epilogues) and conv2d,
// each turned into one of the product descriptions below and handed to DenseKernels or NMKernels.

import SieveIR

/// A strided matrix: element (row, column) of batch b is at `offset(b) + row * rowStride + column * columnStride`.
struct MatrixView {
    var buffer: BufferID
    var offset: (KernelExpression) -> KernelExpression
    var rowStride: Int
    var columnStride: Int

    func index(_ batch: KernelExpression, _ row: KernelExpression, _ column: KernelExpression) -> KernelExpression {
        offset(batch) + row * .index(rowStride) + column * .index(columnStride)
    }
}

/// Applied to each finished product element: (batch, row, column, value) -> stored value.
/// It may declare variables in the builder so that intermediate values are named once, not repeated.
typealias ProductEpilogue = (inout KernelBuilder, KernelExpression, KernelExpression, KernelExpression, KernelExpression) -> KernelExpression

/// `c[b] = epilogue(a[b] * b[b])` for `batches` independent products of m x k by k x n.
struct DenseProduct {
    var batches: Int, m: Int, n: Int, k: Int
    var a: MatrixView, b: MatrixView, c: MatrixView
    var integer: Bool
    var vectorizable: Bool
    var epilogue: ProductEpilogue?
}

/// The choices a dense product kernel reads from the op's schedule.
struct DenseKernelChoice {
    /// dense_dot, dense_tile or dense_scalar with its parameters.
    var variant: KernelVariant
    /// Whether the outer loop is split across threads.
    var parallel: Bool
}

/// Rows of an N:M weight (kept values and packed indices, `rowKept` per row) times a dense operand:
/// `out(r, b, c) = sum over kept p of row r: value[p] * dense(r, b, k(p), c)`.
struct SparseRowsProduct {
    var rows: Int, reduction: Int, columns: Int, batches: Int
    var n: Int, m: Int
    var values: BufferID, indices: BufferID
    var dense: BufferID
    var denseIndex: (_ row: KernelExpression, _ batch: KernelExpression, _ k: KernelExpression, _ column: KernelExpression) -> KernelExpression
    var out: BufferID
    var outIndex: (_ row: KernelExpression, _ batch: KernelExpression, _ column: KernelExpression) -> KernelExpression
    /// Whether dense and out are contiguous f32 along columns, so columns can be vectorised.
    var vectorizable: Bool
    var integer: Bool
    var epilogue: ProductEpilogue?
    /// Whether `denseIndex(r, b, k, c)` is `denseIndex(r, b, 0, c) + k` (the dense operand contiguous along the
    /// reduction), so a scalar column can be one `nmDot` (in-register index decode) instead of a gather loop.
    var denseAlongReduction = false
    /// Whether the row loop is split across threads (the schedule's parallel axis).
    var parallel = false
}

/// A dense operand times an N:M weight whose groups run along the output columns:
/// `out(i, col) += a(i, k) * value` for each kept (k, col) of the weight, k x n with groups along n.
struct SparseColumnsProduct {
    var rows: Int, k: Int, n: Int
    var nKept: Int, m: Int
    var values: BufferID, indices: BufferID
    var a: MatrixView
    var out: BufferID
    var integer: Bool
    var epilogue: ProductEpilogue?
    /// Whether the group loop is split across threads (the schedule's parallel axis).
    var parallel = false
}


extension Lowerer {
    // MARK: matmul and fused_matmul

    mutating func lowerMatmul(_ op: Operation, result: ValueID, transposeB: Bool, epilogue steps: [EpilogueStep]) throws {
        if dynamicInt8Shape(op) != nil {
            try lowerDynamicInt8(op, result: result, steps: steps)
            return
        }
        guard !steps.contains(.quantize), !steps.contains(.requantize) else {
            throw LoweringError("a quantize epilogue step is lowered on int8 products only (the fuse and quantize passes put it there)")
        }
        let aType = type(op.operands[0]), bType = type(op.operands[1])
        let a2 = aType.rank == 1 ? [1] + aType.shape : aType.shape
        let b2 = bType.rank == 1 ? bType.shape + [1] : bType.shape
        let m = a2[a2.count - 2], k = a2[a2.count - 1]
        let n = transposeB ? b2[b2.count - 2] : b2[b2.count - 1]
        let batchA = Array(a2.dropLast(2)), batchB = Array(b2.dropLast(2))
        guard let batchShape = broadcastShapes(batchA, batchB) else { throw LoweringError("batch dimensions do not broadcast") }
        let batches = batchShape.reduce(1, *)
        let integer = !type(result).elementType.isFloat
        let target = try buffer(result)
        let epilogue = try matmulEpilogue(op, steps: steps, m: m, n: n)
        let vectorEpilogue = try matmulVectorEpilogue(op, steps: steps, m: m, n: n)
        let aStrides = broadcastStrides(from: batchA, to: batchShape).map { $0 * m * k }
        let bStrides = broadcastStrides(from: batchB, to: batchShape).map { $0 * k * n }
        let aBuffer = try buffer(op.operands[0])
        let aView = MatrixView(buffer: aBuffer, offset: { batchOffset($0, shape: batchShape, strides: aStrides) }, rowStride: k, columnStride: 1)
        let cView = MatrixView(buffer: target, offset: { $0 * .index(m * n) }, rowStride: n, columnStride: 1)

        if let packed = nmRowBlockWeight(op.operands[1]) {
            emitRowBlockSparseRows(weight: packed, columns: batches * m, dense: aBuffer, denseStart: { c in c * .index(k) }, out: target,
                                   epilogue: epilogue, pattern: "N:M matmul (\(packed.layout.n):\(packed.layout.m)), weight rows along the reduction")
            return
        }
        if let weight = nmWeight(op.operands[1]) {
            guard batchB.reduce(1, *) == 1 else {
                throw LoweringError("an N:M weight with batch dimensions \(batchB) is not supported by the native backend; use a 2-D weight")
            }
            // With a 2-D weight the batch is A's own, so A and the result are [batches * m] contiguous rows.
            let rows = batches * m
            let schedule = try currentSchedule()
            let parallel = schedule.parallel != .none
            switch schedule.variant {
            case .nmBlocked, .nmBroadcast:
                guard try emitTransposedSparseRows(op, weight: weight, a: aBuffer, result: target, epilogue: epilogue,
                                                   vectorEpilogue: vectorEpilogue, schedule: schedule) else {
                    throw LoweringError("the schedule \(schedule.summary) does not fit this matmul")
                }
            case .nmDot, .nmGather:
                try emitSparseRows(SparseRowsProduct(
                    rows: n, reduction: k, columns: rows, batches: 1, n: weight.n, m: weight.m,
                    values: weight.values, indices: weight.indices, dense: aBuffer,
                    denseIndex: { _, _, kk, c in c * .index(k) + kk }, out: target,
                    outIndex: { r, _, c in c * .index(n) + r }, vectorizable: false, integer: integer,
                    epilogue: epilogue.map { e in { builder, _, r, c, v in e(&builder, 0, c, r, v) } },
                    denseAlongReduction: schedule.variant == .nmDot, parallel: parallel),
                    pattern: "N:M matmul (\(weight.n):\(weight.m)), weight rows along the reduction, compressed values and in-register index decode")
            case .nmScatter:
                try emitSparseColumns(SparseColumnsProduct(
                    rows: rows, k: k, n: n, nKept: weight.n, m: weight.m, values: weight.values, indices: weight.indices,
                    a: MatrixView(buffer: aBuffer, offset: { _ in 0 }, rowStride: k, columnStride: 1), out: target,
                    integer: integer, epilogue: epilogue, parallel: parallel),
                    pattern: "N:M matmul (\(weight.n):\(weight.m)), groups along the output columns, compressed scatter-accumulate")
            case .denseScalar, .denseDot, .denseTile, .densePanels, .int8Tile:
                throw LoweringError("the schedule \(schedule.summary) is for a dense weight, but this matmul's weight is N:M")
            }
            return
        }

        let schedule = try currentSchedule()
        if let packed = packedWeight(op.operands[1]) {
            // A 2-D weight: A and the result are [batches * m] contiguous rows.
            func flat(_ epilogue: ProductEpilogue?) -> ((inout KernelBuilder, KernelExpression, KernelExpression, KernelExpression) -> KernelExpression)? {
                epilogue.map { epilogue in
                    { builder, row, column, value in epilogue(&builder, row / .index(m), row % .index(m), column, value) }
                }
            }
            emitPackedProduct(rows: batches * m, a: MatrixView(buffer: aBuffer, offset: { _ in 0 }, rowStride: k, columnStride: 1),
                              weight: packed, c: target, epilogue: flat(epilogue), vectorEpilogue: flat(vectorEpilogue), pattern: "dense matmul")
            return
        }
        let bBuffer = try buffer(op.operands[1])
        let bView = transposeB
            ? MatrixView(buffer: bBuffer, offset: { batchOffset($0, shape: batchShape, strides: bStrides) }, rowStride: 1, columnStride: k)
            : MatrixView(buffer: bBuffer, offset: { batchOffset($0, shape: batchShape, strides: bStrides) }, rowStride: n, columnStride: 1)
        let product = DenseProduct(batches: batches, m: m, n: n, k: k, a: aView, b: bView, c: cView, integer: integer,
                                   vectorizable: isVectorizable([op.operands[0], op.operands[1], result]),
                                   epilogue: epilogue)
        emitDenseProduct(product, pattern: "dense matmul", choice: DenseKernelChoice(variant: schedule.variant, parallel: schedule.parallel != .none))
    }

    func isVectorizable(_ values: [ValueID]) -> Bool {
        values.allSatisfy { type($0).elementType == .f32 }
    }

    /// The fused epilogue as a function of (batch, row, column, product).
    /// Each epilogue step with the buffer it reads (bias and residual operands follow A and B in order).
    func epilogueOperands(_ op: Operation, steps: [EpilogueStep]) throws -> [(step: EpilogueStep, operand: BufferID?)] {
        var operandIndex = 2
        return try steps.map { step in
            switch step {
            case .bias, .residualAdd:
                defer { operandIndex += 1 }
                return (step, try buffer(op.operands[operandIndex]))
            case .activation, .quantize, .requantize:
                return (step, nil)
            }
        }
    }

    func matmulEpilogue(_ op: Operation, steps: [EpilogueStep], m: Int, n: Int) throws -> ProductEpilogue? {
        guard !steps.isEmpty else { return nil }
        var actions: [(KernelExpression, KernelExpression, KernelExpression, KernelExpression) -> KernelExpression] = []
        for (step, operand) in try epilogueOperands(op, steps: steps) {
            switch step {
            case .bias:
                guard let bias = operand else { continue }
                actions.append { _, _, column, value in .binary(.add, value, .load(bias, index: column)) }
            case .residualAdd:
                guard let residual = operand else { continue }
                actions.append { batch, row, column, value in
                    .binary(.add, value, .load(residual, index: batch * .index(m * n) + row * .index(n) + column))
                }
            case let .activation(activation):
                actions.append { _, _, _, value in activationValue(activation, value) }
            case .quantize:
                // The last step: the result type's one scale and zero point, saturating to its 8-bit range.
                let resultType = type(op.results[0])
                guard let quant = resultType.quant, let range = resultType.elementType.integerRange else {
                    throw LoweringError("a quantize epilogue step needs a quantized 8-bit result")
                }
                actions.append { _, _, _, value in
                    .intrinsic(.quantize, [value, .float(quant.scales[0]), .int(quant.zeroPoints[0]),
                                           .int(range.lowerBound), .int(range.upperBound)])
                }
            case .requantize:
                throw LoweringError("a requantize step is lowered with its int8 product's integer sums")
            }
        }
        return chainedEpilogue(actions, type: .f32)
    }

    /// The epilogue on `width` consecutive columns at once (`column` the first), as f32 vectors; nil when a step has
    /// no vector form (`vectorActivation`) or the epilogue is empty. With `lanesAlongRows` the vector holds `width`
    /// consecutive rows (`row` the first) of one column instead, as in a transposed product; a residual then has
    /// no vector form.
    func matmulVectorEpilogue(_ op: Operation, steps: [EpilogueStep], m: Int, n: Int, lanesAlongRows: Bool = false) throws -> ProductEpilogue? {
        guard !steps.isEmpty, isVectorizable([op.operands[0], op.results[0]]) else { return nil }
        let w = width
        var actions: [(KernelExpression, KernelExpression, KernelExpression, KernelExpression) -> KernelExpression] = []
        for (step, operand) in try epilogueOperands(op, steps: steps) {
            switch step {
            case .bias:
                guard let bias = operand, program.buffers[bias.index].elementType == .f32 else { return nil }
                actions.append { _, _, column, value in
                    .binary(.add, value, lanesAlongRows ? .broadcast(.load(bias, index: column), width: w) : .vectorLoad(bias, index: column, width: w))
                }
            case .residualAdd:
                guard !lanesAlongRows, let residual = operand, program.buffers[residual.index].elementType == .f32 else { return nil }
                actions.append { batch, row, column, value in
                    .binary(.add, value, .vectorLoad(residual, index: batch * .index(m * n) + row * .index(n) + column, width: w))
                }
            case let .activation(activation):
                guard let apply = vectorActivation(activation, width: w) else { return nil }
                actions.append { _, _, _, value in apply(value) }
            case .quantize, .requantize:
                return nil
            }
        }
        return chainedEpilogue(actions, type: .f32x(w))
    }

    /// Runs `actions` in order on a product's value, naming each intermediate result.
    func chainedEpilogue(_ actions: [(KernelExpression, KernelExpression, KernelExpression, KernelExpression) -> KernelExpression],
                         type: ValueType) -> ProductEpilogue {
        { builder, batch, row, column, value in
            var current = value
            for (index, action) in actions.enumerated() {
                current = action(batch, row, column, current)
                // Each step's result gets a name, so the next step (an activation reads it twice) stays short.
                if index < actions.count - 1 { current = builder.declare("step\(index)", type, current) }
            }
            return current
        }
    }

    // MARK: gemm

    mutating func lowerGemm(_ op: Operation, result: ValueID, alpha: Float, beta: Float, transposeA: Bool, transposeB: Bool) throws {
        let aType = type(op.operands[0])
        let m = type(result).shape[0], n = type(result).shape[1]
        let k = transposeA ? aType.shape[0] : aType.shape[1]
        let integer = !type(result).elementType.isFloat
        let target = try buffer(result)
        let aBuffer = try buffer(op.operands[0])
        let aView = transposeA
            ? MatrixView(buffer: aBuffer, offset: { _ in 0 }, rowStride: 1, columnStride: m)
            : MatrixView(buffer: aBuffer, offset: { _ in 0 }, rowStride: k, columnStride: 1)
        var epilogue: ProductEpilogue?
        let addend: (BufferID, [Int])? = op.operands.count == 3 && beta != 0
            ? (try buffer(op.operands[2]), broadcastStrides(from: type(op.operands[2]).shape, to: [m, n])) : nil
        if integer {
            let hasAddend = op.operands.count == 3
            let addendBuffer = hasAddend ? try buffer(op.operands[2]) : nil
            let addendStrides = hasAddend ? broadcastStrides(from: type(op.operands[2]).shape, to: [m, n]) : []
            if alpha == 1 && (beta == 1 || !hasAddend) {
                if let addendBuffer {
                    epilogue = { _, _, row, column, value in
                        .binary(.wrappingAdd, value, .load(addendBuffer, index: flatIndex([row, column], strides: addendStrides)))
                    }
                }
            } else {
                epilogue = { _, _, row, column, value in
                    var exact = KernelExpression.binary(.mul, .double(Double(alpha)), .convert(value, to: .f64))
                    if let addendBuffer {
                        let c = KernelExpression.convert(.load(addendBuffer, index: flatIndex([row, column], strides: addendStrides)), to: .f64)
                        exact = .binary(.add, exact, .binary(.mul, .double(Double(beta)), c))
                    }
                    return .intrinsic(.truncateToI64, [exact])
                }
            }
        } else if alpha != 1 || addend != nil {
            epilogue = { _, _, row, column, value in
                var scaled = alpha == 1 ? value : .binary(.mul, .float(alpha), value)
                if let (buffer, strides) = addend {
                    scaled = .binary(.add, scaled, .binary(.mul, .float(beta), .load(buffer, index: flatIndex([row, column], strides: strides))))
                }
                return scaled
            }
        }
        let schedule = try currentSchedule()
        let parallel = schedule.parallel != .none
        if let packed = nmRowBlockWeight(op.operands[1]) {
            emitRowBlockSparseRows(weight: packed, columns: m, dense: aBuffer, denseStart: { c in aView.index(0, c, 0) }, out: target,
                                   epilogue: epilogue, pattern: "N:M gemm (\(packed.layout.n):\(packed.layout.m)), weight rows along the reduction")
            return
        }
        if let weight = nmWeight(op.operands[1]) {
            switch schedule.variant {
            case .nmBlocked, .nmBroadcast:
                guard try emitTransposedSparseRows(op, weight: weight, a: aBuffer, result: target, epilogue: epilogue, schedule: schedule) else {
                    throw LoweringError("the schedule \(schedule.summary) does not fit this gemm")
                }
            case .nmDot, .nmGather:
                try emitSparseRows(SparseRowsProduct(
                    rows: n, reduction: k, columns: m, batches: 1, n: weight.n, m: weight.m,
                    values: weight.values, indices: weight.indices, dense: aBuffer,
                    denseIndex: { _, _, kk, c in aView.index(0, c, kk) }, out: target,
                    outIndex: { r, _, c in c * .index(n) + r }, vectorizable: false, integer: integer,
                    epilogue: epilogue.map { e in { builder, _, r, c, v in e(&builder, 0, c, r, v) } },
                    denseAlongReduction: schedule.variant == .nmDot && aView.columnStride == 1, parallel: parallel),
                    pattern: "N:M gemm (\(weight.n):\(weight.m)), weight rows along the reduction, compressed values and in-register index decode")
            case .nmScatter:
                if integer && !(alpha == 1 && (beta == 1 || op.operands.count < 3)) {
                    throw LoweringError("integer gemm with alpha or beta other than 1 and an N:M weight along the output columns is not supported by the native backend")
                }
                try emitSparseColumns(SparseColumnsProduct(
                    rows: m, k: k, n: n, nKept: weight.n, m: weight.m, values: weight.values, indices: weight.indices,
                    a: aView, out: target, integer: integer, epilogue: epilogue, parallel: parallel),
                    pattern: "N:M gemm (\(weight.n):\(weight.m)), groups along the output columns, compressed scatter-accumulate")
            case .denseScalar, .denseDot, .denseTile, .densePanels, .int8Tile:
                throw LoweringError("the schedule \(schedule.summary) is for a dense weight, but this gemm's weight is N:M")
            }
            return
        }
        if let packed = packedWeight(op.operands[1]) {
            emitPackedProduct(rows: m, a: aView, weight: packed, c: target,
                              epilogue: epilogue.map { epilogue in { builder, row, column, value in epilogue(&builder, 0, row, column, value) } },
                              pattern: "dense gemm")
            return
        }
        let bBuffer = try buffer(op.operands[1])
        let bView = transposeB
            ? MatrixView(buffer: bBuffer, offset: { _ in 0 }, rowStride: 1, columnStride: k)
            : MatrixView(buffer: bBuffer, offset: { _ in 0 }, rowStride: n, columnStride: 1)
        let product = DenseProduct(batches: 1, m: m, n: n, k: k, a: aView,
                                   b: bView, c: MatrixView(buffer: target, offset: { _ in 0 }, rowStride: n, columnStride: 1),
                                   integer: integer,
                                   vectorizable: isVectorizable([op.operands[0], op.operands[1], result]),
                                   epilogue: epilogue)
        emitDenseProduct(product, pattern: "dense gemm", choice: DenseKernelChoice(variant: schedule.variant, parallel: parallel))
    }
}
