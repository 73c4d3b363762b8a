// Lowering of matrix products and convolution: matmul, gemm, fused_matmul (with epilogues) and conv2d.
// Dense f32 products use a register tile of MR x NR vectors; N:M weights are read compressed, never expanded.

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
}

private let rowTile = 4
private let vectorTile = 2
/// Up to this many rows of A, a product whose B is stored with k contiguous runs as dot products along k
/// (streaming the weight once, as batch-1 layers need) instead of the register tile.
private let smallRows = 4

extension Lowerer {
    // MARK: matmul and fused_matmul

    mutating func lowerMatmul(_ op: Operation, result: ValueID, transposeB: Bool, epilogue steps: [EpilogueStep]) throws {
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
        let aStrides = broadcastStrides(from: batchA, to: batchShape).map { $0 * m * k }
        let bStrides = broadcastStrides(from: batchB, to: batchShape).map { $0 * k * n }
        let aBuffer = try buffer(op.operands[0])
        let aView = MatrixView(buffer: aBuffer, offset: { batchOffset($0, shape: batchShape, strides: aStrides) }, rowStride: k, columnStride: 1)
        let cView = MatrixView(buffer: target, offset: { $0 * .index(m * n) }, rowStride: n, columnStride: 1)

        if let weight = nmWeight(op.operands[1]) {
            guard batchB.reduce(1, *) == 1 else {
                throw LoweringError("an N:M weight with batch dimensions \(batchB) is not supported by the native backend; use a 2-D weight")
            }
            // With a 2-D weight the batch is A's own, so A and the result are [batches * m] contiguous rows.
            let rows = batches * m
            if transposeB, try emitTransposedSparseRows(op, weight: weight, a: aBuffer, result: target, epilogue: epilogue) {
                return
            }
            if transposeB {
                try emitSparseRows(SparseRowsProduct(
                    rows: n, reduction: k, columns: rows, batches: 1, n: weight.n, m: weight.m,
                    values: weight.values, indices: weight.indices, dense: aBuffer,
                    denseIndex: { _, _, kk, c in c * .index(k) + kk }, out: target,
                    outIndex: { r, _, c in c * .index(n) + r }, vectorizable: false, integer: integer,
                    epilogue: epilogue.map { e in { builder, _, r, c, v in e(&builder, 0, c, r, v) } }, denseAlongReduction: true),
                    pattern: "N:M matmul (\(weight.n):\(weight.m)), weight rows along the reduction, compressed values and in-register index decode")
            } else {
                try emitSparseColumns(SparseColumnsProduct(
                    rows: rows, k: k, n: n, nKept: weight.n, m: weight.m, values: weight.values, indices: weight.indices,
                    a: MatrixView(buffer: aBuffer, offset: { _ in 0 }, rowStride: k, columnStride: 1), out: target,
                    integer: integer, epilogue: epilogue),
                    pattern: "N:M matmul (\(weight.n):\(weight.m)), groups along the output columns, compressed scatter-accumulate")
            }
            return
        }

        var bView: MatrixView
        let bBuffer = try buffer(op.operands[1])
        if transposeB {
            if m * batches > smallRows, let transposed = transposedConstant(op.operands[1]) {
                bView = MatrixView(buffer: transposed, offset: { _ in 0 }, rowStride: n, columnStride: 1)
            } else {
                bView = MatrixView(buffer: bBuffer, offset: { batchOffset($0, shape: batchShape, strides: bStrides) }, rowStride: 1, columnStride: k)
            }
        } else {
            bView = MatrixView(buffer: bBuffer, offset: { batchOffset($0, shape: batchShape, strides: bStrides) }, rowStride: n, columnStride: 1)
        }
        let product = DenseProduct(batches: batches, m: m, n: n, k: k, a: aView, b: bView, c: cView, integer: integer,
                                   vectorizable: isVectorizable([op.operands[0], op.operands[1], result]),
                                   epilogue: epilogue)
        emitDenseProduct(product, pattern: "dense matmul")
    }

    /// For a dense 2-D f32 constant, a transposed copy in the weights (so B can be read along rows); nil otherwise.
    mutating func transposedConstant(_ value: ValueID) -> BufferID? {
        let info = type(value)
        guard info.rank == 2, info.elementType == .f32, info.layout == .dense,
              let opIndex = graph.definingOps()[value.index], case let .constant(id) = graph.operations[opIndex].kind,
              let constant = graph.constants[id], constant.hasConsistentSize else { return nil }
        if let existing = transposedConstants[id.index] { return existing }
        let rows = info.shape[0], columns = info.shape[1]
        var values = [Double](repeating: 0, count: rows * columns)
        for row in 0..<rows {
            for column in 0..<columns { values[column * rows + row] = constant.element(at: row * columns + column) }
        }
        let buffer = addTable("@\(constant.name).transposed", elementType: .f32, values: values)
        transposedConstants[id.index] = buffer
        return buffer
    }

    func isVectorizable(_ values: [ValueID]) -> Bool {
        values.allSatisfy { type($0).elementType == .f32 }
    }

    /// The fused epilogue as a function of (batch, row, column, product).
    func matmulEpilogue(_ op: Operation, steps: [EpilogueStep], m: Int, n: Int) throws -> ProductEpilogue? {
        guard !steps.isEmpty else { return nil }
        var operandIndex = 2
        var actions: [(KernelExpression, KernelExpression, KernelExpression, KernelExpression) -> KernelExpression] = []
        for step in steps {
            switch step {
            case .bias:
                let bias = try buffer(op.operands[operandIndex])
                actions.append { _, _, column, value in .binary(.add, value, .load(bias, index: column)) }
                operandIndex += 1
            case .residualAdd:
                let residual = try buffer(op.operands[operandIndex])
                actions.append { batch, row, column, value in
                    .binary(.add, value, .load(residual, index: batch * .index(m * n) + row * .index(n) + column))
                }
                operandIndex += 1
            case let .activation(activation):
                actions.append { _, _, _, value in activationValue(activation, value) }
            }
        }
        return { builder, batch, row, column, value in
            var current = value
            for (index, action) in actions.enumerated() {
                current = action(batch, row, column, current)
                // Each step's result gets a name, so the next step (an activation reads it twice) stays short.
                if index < actions.count - 1 { current = builder.declare("step\(index)", .f32, current) }
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
        if let weight = nmWeight(op.operands[1]) {
            if transposeB, try emitTransposedSparseRows(op, weight: weight, a: aBuffer, result: target, epilogue: epilogue) {
                return
            }
            if transposeB {
                try emitSparseRows(SparseRowsProduct(
                    rows: n, reduction: k, columns: m, batches: 1, n: weight.n, m: weight.m,
                    values: weight.values, indices: weight.indices, dense: aBuffer,
                    denseIndex: { _, _, kk, c in aView.index(0, c, kk) }, out: target,
                    outIndex: { r, _, c in c * .index(n) + r }, vectorizable: false, integer: integer,
                    epilogue: epilogue.map { e in { builder, _, r, c, v in e(&builder, 0, c, r, v) } },
                    denseAlongReduction: aView.columnStride == 1),
                    pattern: "N:M gemm (\(weight.n):\(weight.m)), weight rows along the reduction, compressed values and in-register index decode")
            } else {
                if integer && !(alpha == 1 && (beta == 1 || op.operands.count < 3)) {
                    throw LoweringError("integer gemm with alpha or beta other than 1 and an N:M weight along the output columns is not supported by the native backend")
                }
                try emitSparseColumns(SparseColumnsProduct(
                    rows: m, k: k, n: n, nKept: weight.n, m: weight.m, values: weight.values, indices: weight.indices,
                    a: aView, out: target, integer: integer, epilogue: epilogue),
                    pattern: "N:M gemm (\(weight.n):\(weight.m)), groups along the output columns, compressed scatter-accumulate")
            }
            return
        }
        let bBuffer = try buffer(op.operands[1])
        var bView = transposeB
            ? MatrixView(buffer: bBuffer, offset: { _ in 0 }, rowStride: 1, columnStride: k)
            : MatrixView(buffer: bBuffer, offset: { _ in 0 }, rowStride: n, columnStride: 1)
        if transposeB, m > smallRows, let transposed = transposedConstant(op.operands[1]) {
            bView = MatrixView(buffer: transposed, offset: { _ in 0 }, rowStride: n, columnStride: 1)
        }
        let product = DenseProduct(batches: 1, m: m, n: n, k: k, a: aView,
                                   b: bView, c: MatrixView(buffer: target, offset: { _ in 0 }, rowStride: n, columnStride: 1),
                                   integer: integer,
                                   vectorizable: isVectorizable([op.operands[0], op.operands[1], result]),
                                   epilogue: epilogue)
        emitDenseProduct(product, pattern: "dense gemm")
    }

    // MARK: conv2d

    mutating func lowerConvolution(_ op: Operation, result: ValueID, attributes: Conv2DAttributes) throws {
        let x = type(op.operands[0]).shape, w = type(op.operands[1]).shape, y = type(result).shape
        let (batch, channels, height, width) = (x[0], x[1], x[2], x[3])
        let (outChannels, groupChannels, kernelH, kernelW) = (w[0], w[1], w[2], w[3])
        let (outH, outW) = (y[2], y[3])
        let groups = attributes.groups
        let groupOut = outChannels / groups
        let patch = groupChannels * kernelH * kernelW
        let pixels = outH * outW
        let input = try buffer(op.operands[0]), target = try buffer(result)
        guard let scratchOffset = plan.scratch[currentOpIndex] else {
            // An empty convolution has nothing to compute.
            return
        }
        let columns = addBuffer(Buffer(name: "\(name(result)).im2col", storage: .arena(offset: scratchOffset), elementType: .f32,
                                       count: max(1, channels * kernelH * kernelW * batch * pixels)))

        // im2col: row (group, channel, ky, kx), then [image][pixel]; padding reads as 0.
        var builder = KernelBuilder()
        builder.loop("row", to: .index(groups * patch), parallel: isParallel(saturatingProduct([groups, patch, batch, pixels]))) { body, row in
            let group = body.declare("group", .i64, row / .index(patch))
            let within = body.declare("within", .i64, row % .index(patch))
            let channel = body.declare("channel", .i64, group * .index(groupChannels) + within / .index(kernelH * kernelW))
            let ky = body.declare("ky", .i64, (within / .index(kernelW)) % .index(kernelH))
            let kx = body.declare("kx", .i64, within % .index(kernelW))
            body.loop("image", to: .index(batch)) { body, image in
                body.loop("oy", to: .index(outH)) { body, oy in
                    let iy = body.declare("iy", .i64, oy * .index(attributes.strides[0]) - .index(attributes.pads[0]) + ky * .index(attributes.dilations[0]))
                    body.loop("ox", to: .index(outW)) { body, ox in
                        let ix = body.declare("ix", .i64, ox * .index(attributes.strides[1]) - .index(attributes.pads[1]) + kx * .index(attributes.dilations[1]))
                        let destination = ((row * .index(batch) + image) * .index(outH) + oy) * .index(outW) + ox
                        let inside = KernelExpression.binary(.and, .binary(.and, .binary(.ge, iy, 0), .binary(.lt, iy, .index(height))),
                                                       .binary(.and, .binary(.ge, ix, 0), .binary(.lt, ix, .index(width))))
                        body.branch(inside, then: { body in
                            body.store(columns, destination, .load(input, index: ((image * .index(channels) + channel) * .index(height) + iy) * .index(width) + ix))
                        }, else: { body in
                            body.store(columns, destination, .float(0))
                        })
                    }
                }
            }
        }
        addKernel(builder, pattern: "conv2d im2col: [group][channel*ky*kx][image][pixel]")

        let bias: BufferID? = op.operands.count == 3 ? try buffer(op.operands[2]) : nil
        let integer = false
        if let weight = nmWeight(op.operands[1]) {
            // Weight row r = output channel; its reduction is the flattened (channel, ky, kx) patch,
            // whose last axis kx holds whole N:M groups.
            try emitSparseRows(SparseRowsProduct(
                rows: outChannels, reduction: patch, columns: pixels, batches: batch, n: weight.n, m: weight.m,
                values: weight.values, indices: weight.indices, dense: columns,
                denseIndex: { r, image, kk, c in
                    (((r / .index(groupOut)) * .index(patch) + kk) * .index(batch) + image) * .index(pixels) + c
                },
                out: target, outIndex: { r, image, c in (image * .index(outChannels) + r) * .index(pixels) + c },
                vectorizable: isVectorizable([op.operands[0], result]), integer: integer,
                epilogue: bias.map { bias in { _, _, r, _, value in .binary(.add, value, .load(bias, index: r)) } }),
                pattern: "N:M conv2d (\(weight.n):\(weight.m)) over im2col, compressed weights broadcast against pixel vectors")
            return
        }
        let weights = try buffer(op.operands[1])
        // Product number b = group * batch + image: weight rows of the group times that image's columns.
        let product = DenseProduct(
            batches: groups * batch, m: groupOut, n: pixels, k: patch,
            a: MatrixView(buffer: weights, offset: { b in (b / .index(batch)) * .index(groupOut * patch) }, rowStride: patch, columnStride: 1),
            b: MatrixView(buffer: columns, offset: { b in (b / .index(batch)) * .index(patch * batch * pixels) + (b % .index(batch)) * .index(pixels) },
                          rowStride: batch * pixels, columnStride: 1),
            c: MatrixView(buffer: target, offset: { b in (b % .index(batch)) * .index(outChannels * pixels) + (b / .index(batch)) * .index(groupOut * pixels) },
                          rowStride: pixels, columnStride: 1),
            integer: integer, vectorizable: isVectorizable([op.operands[0], op.operands[1], result]),
            epilogue: bias.map { bias in { _, b, row, _, value in
                .binary(.add, value, .load(bias, index: (b / .index(batch)) * .index(groupOut) + row))
            } })
        emitDenseProduct(product, pattern: "dense conv2d over im2col")
    }

    // MARK: kernels

    /// Emits a dense product: a vectorised register tile for f32 with unit column stride, scalar loops otherwise.
    mutating func emitDenseProduct(_ product: DenseProduct, pattern: String) {
        let (m, n, k, batches) = (product.m, product.n, product.k, product.batches)
        let parallel = isParallel(saturatingProduct([batches, m, n, max(k, 1)]) / 8)
        var builder = KernelBuilder()
        let accumulatorType: ValueType = product.integer ? .i64 : .f32
        let zero: KernelExpression = product.integer ? 0 : .float(0)

        func scalarElement(_ body: inout KernelBuilder, _ batch: KernelExpression, _ row: KernelExpression, _ column: KernelExpression) {
            let accumulator = body.declare("acc", accumulatorType, zero)
            body.loop("k", to: .index(k)) { body, kk in
                let a = KernelExpression.load(product.a.buffer, index: product.a.index(batch, row, kk))
                let b = KernelExpression.load(product.b.buffer, index: product.b.index(batch, kk, column))
                body.assign(accumulator, product.integer ? .binary(.wrappingAdd, accumulator, .binary(.wrappingMul, a, b)) : .fma(a, b, accumulator))
            }
            let value = product.epilogue?(&body, batch, row, column, accumulator) ?? accumulator
            body.store(product.c.buffer, product.c.index(batch, row, column), value)
        }

        if product.vectorizable && !product.integer && product.b.rowStride == 1 && product.a.columnStride == 1
            && k >= width && m <= smallRows {
            emitDotProducts(product, pattern: pattern)
            return
        }
        guard product.vectorizable, !product.integer, product.b.columnStride == 1, n >= width else {
            builder.loop("t", to: .index(batches * n), parallel: parallel) { body, t in
                let batch = body.declare("batch", .i64, t / .index(n))
                let column = body.declare("j", .i64, t % .index(n))
                body.loop("i", to: .index(m)) { body, row in scalarElement(&body, batch, row, column) }
            }
            addKernel(builder, pattern: "\(pattern), scalar loops")
            return
        }

        let w = width
        // One register tile: `rows` rows by `vectors` vectors of w columns, accumulated over k.
        func tile(_ body: inout KernelBuilder, _ batch: KernelExpression, _ row0: KernelExpression, rows: Int, _ column0: KernelExpression, vectors: Int) {
            var accumulators: [[KernelExpression]] = []
            for r in 0..<rows {
                accumulators.append((0..<vectors).map { v in body.declare("acc\(r)_\(v)", .f32x(w), .broadcast(.float(0), width: w)) })
            }
            body.loop("k", to: .index(k)) { body, kk in
                let bVectors = (0..<vectors).map { v in
                    body.declare("b\(v)", .f32x(w), .vectorLoad(product.b.buffer, index: product.b.index(batch, kk, column0 + .index(v * w)), width: w))
                }
                for r in 0..<rows {
                    let a = body.declare("a\(r)", .f32x(w), .broadcast(.load(product.a.buffer, index: product.a.index(batch, row0 + .index(r), kk)), width: w))
                    for v in 0..<vectors { body.assign(accumulators[r][v], .fma(a, bVectors[v], accumulators[r][v])) }
                }
            }
            for r in 0..<rows {
                for v in 0..<vectors {
                    body.emit(.vectorStore(product.c.buffer, index: product.c.index(batch, row0 + .index(r), column0 + .index(v * w)),
                                           value: accumulators[r][v]))
                }
            }
            if let epilogue = product.epilogue {
                // The epilogue runs on the tile while it is still in L1.
                for r in 0..<rows {
                    body.loop("e", to: .index(vectors * w)) { body, e in
                        let row = row0 + .index(r), column = column0 + e
                        let index = product.c.index(batch, row, column)
                        let value = body.declare("value", .f32, .load(product.c.buffer, index: index))
                        body.store(product.c.buffer, index, epilogue(&body, batch, row, column, value))
                    }
                }
            }
        }
        func rowTiles(_ body: inout KernelBuilder, _ batch: KernelExpression, _ column0: KernelExpression, vectors: Int) {
            body.loop("ib", to: .index(m / rowTile)) { body, ib in
                tile(&body, batch, ib * .index(rowTile), rows: rowTile, column0, vectors: vectors)
            }
            body.loop("i", from: .index(m - m % rowTile), to: .index(m)) { body, row in
                tile(&body, batch, row, rows: 1, column0, vectors: vectors)
            }
        }

        let block = vectorTile * w
        let fullBlocks = n / block
        builder.loop("t", to: .index(batches * fullBlocks), parallel: parallel) { body, t in
            let batch = body.declare("batch", .i64, t / .index(fullBlocks))
            let column0 = body.declare("j0", .i64, (t % .index(fullBlocks)) * .index(block))
            rowTiles(&body, batch, column0, vectors: vectorTile)
        }
        let remainderStart = fullBlocks * block
        let singleVectors = (n - remainderStart) / w
        let scalarStart = remainderStart + singleVectors * w
        if singleVectors > 0 || scalarStart < n {
            builder.loop("batch", to: .index(batches)) { body, batch in
                body.loop("jv", to: .index(singleVectors)) { body, jv in
                    rowTiles(&body, batch, .index(remainderStart) + jv * .index(w), vectors: 1)
                }
                body.loop("j", from: .index(scalarStart), to: .index(n)) { body, column in
                    body.loop("i", to: .index(m)) { body, row in scalarElement(&body, batch, row, column) }
                }
            }
        }
        addKernel(builder, pattern: "\(pattern), \(rowTile)x\(vectorTile) register tile of f32x\(w), column tails by single vectors then scalars")
    }

    /// Emits a product with few rows of A and B stored with k contiguous (a weight [n, k]): each output is a
    /// dot product along k in f32 vectors, `columnTile` weight rows at a time so each A vector is loaded once.
    mutating func emitDotProducts(_ product: DenseProduct, pattern: String) {
        let (m, n, k, batches) = (product.m, product.n, product.k, product.batches)
        let w = width
        let columnTile = m <= 2 ? 4 : 2
        let vectorK = k / w * w
        var builder = KernelBuilder()
        func block(_ body: inout KernelBuilder, _ batch: KernelExpression, _ column0: KernelExpression, columns: Int) {
            var accumulators: [[KernelExpression]] = []
            for r in 0..<m {
                accumulators.append((0..<columns).map { c in body.declare("acc\(r)_\(c)", .f32x(w), .broadcast(.float(0), width: w)) })
            }
            body.loop("k", to: .index(vectorK), step: w) { body, kk in
                let weights = (0..<columns).map { c in
                    body.declare("w\(c)", .f32x(w), .vectorLoad(product.b.buffer, index: product.b.index(batch, kk, column0 + .index(c)), width: w))
                }
                for r in 0..<m {
                    let a = body.declare("a\(r)", .f32x(w), .vectorLoad(product.a.buffer, index: product.a.index(batch, .index(r), kk), width: w))
                    for c in 0..<columns { body.assign(accumulators[r][c], .fma(a, weights[c], accumulators[r][c])) }
                }
            }
            for r in 0..<m {
                for c in 0..<columns {
                    let column = column0 + .index(c)
                    let sum = body.declare("sum\(r)_\(c)", .f32, .reduceAdd(accumulators[r][c]))
                    body.loop("k", from: .index(vectorK), to: .index(k)) { body, kk in
                        body.assign(sum, .fma(.load(product.a.buffer, index: product.a.index(batch, .index(r), kk)),
                                              .load(product.b.buffer, index: product.b.index(batch, kk, column)), sum))
                    }
                    let value = product.epilogue?(&body, batch, .index(r), column, sum) ?? sum
                    body.store(product.c.buffer, product.c.index(batch, .index(r), column), value)
                }
            }
        }
        let blocks = n / columnTile
        builder.loop("t", to: .index(batches * blocks), parallel: isParallel(saturatingProduct([batches, m, n, k]) / 8)) { body, t in
            let batch = body.declare("batch", .i64, t / .index(blocks))
            let column0 = body.declare("j0", .i64, (t % .index(blocks)) * .index(columnTile))
            block(&body, batch, column0, columns: columnTile)
        }
        if n % columnTile != 0 {
            builder.loop("batch", to: .index(batches)) { body, batch in
                body.loop("j", from: .index(blocks * columnTile), to: .index(n)) { body, column in
                    block(&body, batch, column, columns: 1)
                }
            }
        }
        addKernel(builder, pattern: "\(pattern), dot products along k in f32x\(w), \(m) rows x \(columnTile) weight rows per step")
    }

    /// Runs an N:M product with weight rows along the reduction over f32 vectors of activation rows: transposes
    /// the activations into scratch, multiplies into a transposed result, then transposes back through the
    /// epilogue. Returns false when the shape does not suit it (too few rows, not f32).
    mutating func emitTransposedSparseRows(_ op: Operation, weight: (values: BufferID, indices: BufferID, n: Int, m: Int),
                                           a: BufferID, result: BufferID, epilogue: ProductEpilogue?) throws -> Bool {
        guard let plan = transposedSparsePlan(op), let scratch = self.plan.scratch[currentOpIndex] else { return false }
        let (rows, k, n) = (plan.rows, plan.k, plan.n)
        var activations = a
        if !plan.transposeA {
            activations = addBuffer(Buffer(name: "\(name(op.results[0])).activations_transposed", storage: .arena(offset: scratch),
                                           elementType: .f32, count: k * rows))
            var builder = KernelBuilder()
            builder.loop("kk", to: .index(k), parallel: isParallel(k * rows)) { body, kk in
                body.loop("c", to: .index(rows)) { body, c in
                    body.store(activations, kk * .index(rows) + c, .load(a, index: c * .index(k) + kk))
                }
            }
            addKernel(builder, pattern: "transpose activations to [k][rows] for the N:M product")
        }
        let transposedResult = addBuffer(Buffer(name: "\(name(op.results[0])).transposed", storage: .arena(offset: scratch + plan.outputOffset),
                                                elementType: .f32, count: n * rows))
        if !emitBlockedSparseRows(rows: n, k: k, columns: rows, n: weight.n, m: weight.m, values: weight.values,
                                  indices: weight.indices, activations: activations, out: transposedResult) {
            try emitSparseRows(SparseRowsProduct(
            rows: n, reduction: k, columns: rows, batches: 1, n: weight.n, m: weight.m,
            values: weight.values, indices: weight.indices, dense: activations,
            denseIndex: { _, _, kk, c in kk * .index(rows) + c }, out: transposedResult,
            outIndex: { r, _, c in r * .index(rows) + c }, vectorizable: true, integer: false, epilogue: nil),
            pattern: "N:M product (\(weight.n):\(weight.m)), compressed weight values broadcast against activation-row vectors")
        }
        var builder = KernelBuilder()
        builder.loop("c", to: .index(rows), parallel: isParallel(n * rows)) { body, c in
            body.loop("r", to: .index(n)) { body, r in
                let value = body.declare("value", .f32, .load(transposedResult, index: r * .index(rows) + c))
                body.store(result, c * .index(n) + r, epilogue?(&body, 0, c, r, value) ?? value)
            }
        }
        addKernel(builder, pattern: "transpose the N:M product back, applying the epilogue")
        return true
    }

    /// Emits `out[r][c] = sum over kept p of row r: values[p] * activations[k(p)][c]` (activations transposed to
    /// [k][columns], columns a multiple of the vector width) blocked for the caches: k is cut into blocks whose
    /// activation panel fits L1, weight rows into tiles (the parallel axis); for each block every row of the
    /// tile broadcasts its kept values against all column vectors of the panel at once, accumulating into out,
    /// and prefetches the same block of a row `prefetchRows` ahead (the weight stream is strided by blocks).
    /// Returns false when the shape does not suit it.
    mutating func emitBlockedSparseRows(rows: Int, k: Int, columns: Int, n: Int, m: Int, values: BufferID, indices: BufferID,
                                        activations: BufferID, out: BufferID) -> Bool {
        let w = width
        let vectors = columns / w
        let groupsPerRow = k / m
        let rowKept = groupsPerRow * n
        // One step of the kept loop covers 16 kept values (a 64-byte line of them) when n divides 16.
        let unroll = max(1, 16 / n)
        guard columns % w == 0, vectors >= 1, vectors <= 4, k % m == 0, groupsPerRow % unroll == 0,
              program.buffers[values.index].elementType == .f32 else { return false }
        let stepGroups = unroll * m
        // About 24 KiB of activations per block, a whole number of steps.
        let blockGroups = max(unroll, (24 * 1024 / (4 * columns)) / stepGroups * unroll)
        let blocks = (groupsPerRow + blockGroups - 1) / blockGroups
        let tileRows = 64
        let tiles = (rows + tileRows - 1) / tileRows
        let prefetchRows = 8
        let chainsPerVector = max(1, min(unroll * n, 8 / vectors))
        let bits = m.trailingZeroBitCount
        // Index fields never straddle a byte and every row's indices start on a byte: decode whole bytes.
        let perByte = 8 / bits
        let byteDecode = 8 % bits == 0 && (rowKept * bits) % 8 == 0 && (unroll * n) % perByte == 0
        let valueCount = program.buffers[values.index].count
        let indexCount = program.buffers[indices.index].count
        var builder = KernelBuilder()
        builder.loop("t", to: .index(tiles), parallel: isParallel(saturatingProduct([rows, rowKept, columns]) / 4)) { body, t in
            let rowBegin = body.declare("row_begin", .i64, t * .index(tileRows))
            let rowEnd = body.declare("row_end", .i64, .binary(.min, rowBegin + .index(tileRows), .index(rows)))
            body.loop("r", from: rowBegin, to: rowEnd) { body, r in
                for v in 0..<vectors {
                    body.emit(.vectorStore(out, index: r * .index(columns) + .index(v * w), value: .broadcast(.float(0), width: w)))
                }
            }
            body.loop("kb", to: .index(blocks)) { body, kb in
                let groupBegin = body.declare("g_begin", .i64, kb * .index(blockGroups))
                let groupEnd = body.declare("g_end", .i64, .binary(.min, groupBegin + .index(blockGroups), .index(groupsPerRow)))
                body.loop("r", from: rowBegin, to: rowEnd) { body, r in
                    let rowStart = body.declare("row_start", .i64, r * .index(rowKept))
                    let chains = (0..<vectors).map { v in
                        (0..<chainsPerVector).map { c in body.declare("acc\(v)_\(c)", .f32x(w), .broadcast(.float(0), width: w)) }
                    }
                    body.loop("g", from: groupBegin, to: groupEnd, step: unroll) { body, g0 in
                        let ahead = body.declare("ahead", .i64, .binary(.min, rowStart + g0 * .index(n) + .index(prefetchRows * rowKept),
                                                                           .index(valueCount - 1)))
                        body.emit(.prefetch(values, index: ahead))
                        body.emit(.prefetch(indices, index: .binary(.min, ahead * .index(bits) / .index(8), .index(indexCount - 1))))
                        // Whole index bytes per step: load each once and take its fields apart (divisions and
                        // remainders by powers of two of a byte, which become shifts and masks).
                        var bytes: [KernelExpression] = []
                        if byteDecode {
                            let byteBase = body.declare("ib", .i64, (rowStart + g0 * .index(n)) * .index(bits) / .index(8))
                            bytes = (0..<(unroll * n / perByte)).map { b in body.declare("byte\(b)", .i64, .load(indices, index: byteBase + .index(b))) }
                        }
                        for u in 0..<unroll {
                            for j in 0..<n {
                                let kept = u * n + j
                                let p = body.declare("p", .i64, rowStart + (g0 + .index(u)) * .index(n) + .index(j))
                                var field: KernelExpression = .nmIndex(indices, element: p, bits: bits)
                                if byteDecode {
                                    let shift = kept % perByte * bits
                                    let shifted = shift == 0 ? bytes[kept / perByte] : .binary(.div, bytes[kept / perByte], .index(1 << shift))
                                    field = .binary(.rem, shifted, .index(m))
                                }
                                let kk = body.declare("k", .i64, (g0 + .index(u)) * .index(m) + field)
                                let value = body.declare("w", .f32x(w), .broadcast(.load(values, index: p), width: w))
                                for v in 0..<vectors {
                                    let chain = chains[v][kept % chainsPerVector]
                                    body.assign(chain, .fma(value, .vectorLoad(activations, index: kk * .index(columns) + .index(v * w), width: w), chain))
                                }
                            }
                        }
                    }
                    for v in 0..<vectors {
                        var total = chains[v][0]
                        for chain in chains[v].dropFirst() { total = .binary(.add, total, chain) }
                        let index = body.declare("o", .i64, r * .index(columns) + .index(v * w))
                        body.emit(.vectorStore(out, index: index, value: .binary(.add, .vectorLoad(out, index: index, width: w), total)))
                    }
                }
            }
        }
        addKernel(builder, pattern: "N:M product (\(n):\(m)) blocked for the caches: tiles of \(tileRows) weight rows (parallel), "
                  + "k blocks of \(blockGroups * m) (an L1 panel of activations [k][\(columns)]), each kept value broadcast against "
                  + "\(vectors) f32x\(w) column vectors, \(chainsPerVector) chains each, weight stream prefetched \(prefetchRows) rows ahead"
                  + (byteDecode ? ", indices decoded from whole bytes" : ""))
        return true
    }

    /// Emits an N:M rows-times-dense product reading kept values and decoding packed indices.
    mutating func emitSparseRows(_ product: SparseRowsProduct, pattern: String) throws {
        let groupsPerRow = product.reduction / product.m
        let rowKept = groupsPerRow * product.n
        let bits = product.m.trailingZeroBitCount
        let parallel = isParallel(saturatingProduct([product.rows, rowKept, product.columns, product.batches]) / 4)
        let accumulatorType: ValueType = product.integer ? .i64 : .f32
        let zero: KernelExpression = product.integer ? 0 : .float(0)
        let w = width
        let useDot = product.denseAlongReduction && !product.integer
            && [product.values, product.dense].allSatisfy { program.buffers[$0.index].elementType == .f32 }
        var builder = KernelBuilder()
        builder.loop("r", to: .index(product.rows), parallel: parallel) { body, r in
            let rowStart = body.declare("row_start", .i64, r * .index(rowKept))
            // Walks the kept entries of row r, `unroll` groups per step so that `unroll * n` independent
            // accumulator chains hide the FMA latency; `visit` gets (p, k, chain).
            func kept(_ body: inout KernelBuilder, unroll: Int, _ visit: (inout KernelBuilder, KernelExpression, KernelExpression, Int) -> Void) {
                let mainGroups = groupsPerRow / unroll * unroll
                func group(_ body: inout KernelBuilder, _ g: KernelExpression, _ u: Int) {
                    for j in 0..<product.n {
                        let p = body.declare("p", .i64, rowStart + g * .index(product.n) + .index(j))
                        let kk = body.declare("k", .i64, g * .index(product.m) + .nmIndex(product.indices, element: p, bits: bits))
                        visit(&body, p, kk, u * product.n + j)
                    }
                }
                body.loop("g", to: .index(mainGroups), step: unroll) { body, g0 in
                    for u in 0..<unroll { group(&body, g0 + .index(u), u) }
                }
                body.loop("g", from: .index(mainGroups), to: .index(groupsPerRow)) { body, g in group(&body, g, 0) }
            }
            func sum(_ body: inout KernelBuilder, _ chains: [KernelExpression], _ type: ValueType) -> KernelExpression {
                var total = chains[0]
                for chain in chains.dropFirst() { total = .binary(product.integer ? .wrappingAdd : .add, total, chain) }
                return body.declare("total", type, total)
            }
            body.loop("b", to: .index(product.batches)) { body, batch in
                var scalarStart = 0
                if product.vectorizable && !product.integer && product.columns >= w {
                    let vectors = product.columns / w
                    scalarStart = vectors * w
                    let unroll = max(1, 4 / product.n)
                    body.loop("cv", to: .index(vectors)) { body, cv in
                        let column0 = body.declare("c0", .i64, cv * .index(w))
                        let chains = (0..<(unroll * product.n)).map { body.declare("acc\($0)", .f32x(w), .broadcast(.float(0), width: w)) }
                        kept(&body, unroll: unroll) { body, p, kk, chain in
                            let value = KernelExpression.broadcast(.load(product.values, index: p), width: w)
                            body.assign(chains[chain], .fma(value, .vectorLoad(product.dense, index: product.denseIndex(r, batch, kk, column0), width: w), chains[chain]))
                        }
                        body.emit(.vectorStore(product.out, index: product.outIndex(r, batch, column0), value: sum(&body, chains, .f32x(w))))
                        if let epilogue = product.epilogue {
                            body.loop("e", to: .index(w)) { body, e in
                                let index = product.outIndex(r, batch, column0 + e)
                                let value = body.declare("value", .f32, .load(product.out, index: index))
                                body.store(product.out, index, epilogue(&body, batch, r, column0 + e, value))
                            }
                        }
                    }
                }
                let unroll = max(1, 8 / product.n)
                body.loop("c", from: .index(scalarStart), to: .index(product.columns)) { body, column in
                    if useDot {
                        let total = body.declare("total", .f32, .nmDot(NMDot(
                            values: product.values, indices: product.indices, dense: product.dense, first: rowStart,
                            denseStart: product.denseIndex(r, batch, 0, column), groups: groupsPerRow, n: product.n, m: product.m)))
                        body.store(product.out, product.outIndex(r, batch, column), product.epilogue?(&body, batch, r, column, total) ?? total)
                        return
                    }
                    let chains = (0..<(unroll * product.n)).map { body.declare("acc\($0)", accumulatorType, zero) }
                    kept(&body, unroll: unroll) { body, p, kk, chain in
                        let value = KernelExpression.load(product.values, index: p)
                        let dense = KernelExpression.load(product.dense, index: product.denseIndex(r, batch, kk, column))
                        body.assign(chains[chain], product.integer ? .binary(.wrappingAdd, chains[chain], .binary(.wrappingMul, value, dense))
                                                                   : .fma(value, dense, chains[chain]))
                    }
                    let total = sum(&body, chains, accumulatorType)
                    body.store(product.out, product.outIndex(r, batch, column), product.epilogue?(&body, batch, r, column, total) ?? total)
                }
            }
        }
        let columnsText = useDot ? ", one nm_dot per row and column (2:4: in-register index decode and two-source permute on AVX-512/AVX2)"
            : ", scalar over columns"
        addKernel(builder, pattern: pattern + (product.vectorizable ? ", f32x\(w) over columns" : columnsText))
    }

    /// Emits a dense-times-N:M product whose groups run along output columns (a compressed scatter).
    mutating func emitSparseColumns(_ product: SparseColumnsProduct, pattern: String) throws {
        let groupsPerRow = product.n / product.m
        let rowKept = groupsPerRow * product.nKept
        let bits = product.m.trailingZeroBitCount
        let zero: KernelExpression = product.integer ? 0 : .float(0)
        guard program.buffers[product.out.index].elementType == .f32 || product.integer else {
            throw LoweringError("an N:M weight with groups along the output columns needs f32 or integer elements in the native backend, found \(program.buffers[product.out.index].elementType)")
        }
        var builder = KernelBuilder()
        let parallel = isParallel(saturatingProduct([product.rows, product.k, rowKept]) / 4)
        builder.loop("grp", to: .index(groupsPerRow), parallel: parallel) { body, group in
            body.loop("i", to: .index(product.rows)) { body, row in
                let outRow = body.declare("out_row", .i64, row * .index(product.n) + group * .index(product.m))
                body.loop("t", to: .index(product.m)) { body, t in body.store(product.out, outRow + t, zero) }
                body.loop("k", to: .index(product.k)) { body, kk in
                    let a = body.declare("a", product.integer ? .i64 : .f32, .load(product.a.buffer, index: product.a.index(0, row, kk)))
                    body.loop("j", to: .index(product.nKept)) { body, j in
                        let p = body.declare("p", .i64, kk * .index(rowKept) + group * .index(product.nKept) + j)
                        let column = body.declare("col", .i64, outRow + .nmIndex(product.indices, element: p, bits: bits))
                        let value = KernelExpression.load(product.values, index: p)
                        let old = KernelExpression.load(product.out, index: column)
                        body.store(product.out, column, product.integer ? .binary(.wrappingAdd, old, .binary(.wrappingMul, a, value))
                                                                        : .fma(a, value, old))
                    }
                }
                if let epilogue = product.epilogue {
                    body.loop("t", to: .index(product.m)) { body, t in
                        let column = group * .index(product.m) + t
                        let value = body.declare("value", product.integer ? .i64 : .f32, .load(product.out, index: outRow + t))
                        body.store(product.out, outRow + t, epilogue(&body, 0, row, column, value))
                    }
                }
            }
        }
        addKernel(builder, pattern: pattern)
    }
}
