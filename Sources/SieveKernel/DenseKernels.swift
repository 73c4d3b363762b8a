// Dense product kernels for operands that are not packed constants: a vectorised register tile when B is
// contiguous along columns, dot products along k when B is contiguous along k, scalar loops otherwise.

import SieveIR
import SieveTarget

/// Up to this many rows of A, a dot-product kernel takes all of them per step (`KernelProblem.smallRows`).
let smallRows = SieveTarget.KernelProblem.smallRows

extension Lowerer {
    /// Emits a dense product as the schedule chose: dot products along k, a vectorised register tile of
    /// `rows` x `vectors` for f32 with unit column stride, or scalar loops (also where the operands do not allow
    /// the chosen vector kernel).
    mutating func emitDenseProduct(_ product: DenseProduct, pattern: String, choice: DenseKernelChoice) {
        let (m, n, k, batches) = (product.m, product.n, product.k, product.batches)
        let parallel = choice.parallel
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

        if case let .denseDot(weightRows) = choice.variant, product.vectorizable && !product.integer && product.b.rowStride == 1
            && product.a.columnStride == 1 && k >= width {
            emitDotProducts(product, pattern: pattern, columnTile: weightRows, parallel: parallel)
            return
        }
        guard case let .denseTile(rowTile, vectorTile) = choice.variant, product.vectorizable, !product.integer,
              product.b.columnStride == 1, n >= width else {
            builder.loop("t", to: .index(batches * n), parallel: parallel) { body, t in
                let batch = body.declare("batch", .i64, t / .index(n))
                let column = body.declare("j", .i64, t % .index(n))
                body.loop("i", to: .index(m)) { body, row in scalarElement(&body, batch, row, column) }
            }
            addKernel(builder, pattern: "\(pattern), scalar loops\(scheduleText())")
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
        // Work items are (batch, column block, row tile), consecutive items sharing a column block, so that a product
        // with few column blocks (a convolution over a few dozen pixels) still splits across threads.
        let block = vectorTile * w
        let fullBlocks = n / block
        let fullTiles = m / rowTile, tailRows = m % rowTile
        let tilesPerBlock = fullTiles + (tailRows > 0 ? 1 : 0)
        builder.loop("t", to: .index(batches * fullBlocks * tilesPerBlock), parallel: parallel) { body, t in
            let batch = body.declare("batch", .i64, t / .index(fullBlocks * tilesPerBlock))
            let column0 = body.declare("j0", .i64, ((t / .index(tilesPerBlock)) % .index(fullBlocks)) * .index(block))
            let tileIndex = body.declare("ib", .i64, t % .index(tilesPerBlock))
            func fullTile(_ body: inout KernelBuilder) {
                tile(&body, batch, tileIndex * .index(rowTile), rows: rowTile, column0, vectors: vectorTile)
            }
            guard tailRows > 0 else { return fullTile(&body) }
            body.branch(.binary(.lt, tileIndex, .index(fullTiles)), then: fullTile, else: { body in
                tile(&body, batch, .index(fullTiles * rowTile), rows: tailRows, column0, vectors: vectorTile)
            })
        }
        // The columns past the last whole block: single vectors, split across threads by row tiles. When n is not a
        // multiple of w, the last vector ends at column n and overlaps the columns before it (n >= w here): it
        // recomputes them with the same FMAs in the same order and stores them again, raw, before its epilogue runs
        // on all its columns, so they end with the same values. That is safe because this loop runs after the whole
        // blocks' loop, one work item owns all columns of its rows, and no epilogue reads the result it writes. A
        // column tail of scalar dot products (one FMA chain per element, its B operand strided) ran at a tenth of
        // the tile's speed: PP-OCRv4 rec's 40-pixel convolutions spent 1.1 ms of 10 in 8 scalar columns.
        let remainderStart = fullBlocks * block
        let singleVectors = (n - remainderStart) / w
        let overlapping = n % w != 0
        if singleVectors > 0 || overlapping {
            func columnTail(_ body: inout KernelBuilder, _ batch: KernelExpression, _ row0: KernelExpression, rows: Int) {
                body.loop("jv", to: .index(singleVectors)) { body, jv in
                    tile(&body, batch, row0, rows: rows, .index(remainderStart) + jv * .index(w), vectors: 1)
                }
                if overlapping { tile(&body, batch, row0, rows: rows, .index(n - w), vectors: 1) }
            }
            builder.loop("t", to: .index(batches * tilesPerBlock), parallel: parallel) { body, t in
                let batch = body.declare("batch", .i64, t / .index(tilesPerBlock))
                let tileIndex = body.declare("ib", .i64, t % .index(tilesPerBlock))
                guard tailRows > 0 else { return columnTail(&body, batch, tileIndex * .index(rowTile), rows: rowTile) }
                body.branch(.binary(.lt, tileIndex, .index(fullTiles)), then: { body in
                    columnTail(&body, batch, tileIndex * .index(rowTile), rows: rowTile)
                }, else: { body in
                    columnTail(&body, batch, .index(fullTiles * rowTile), rows: tailRows)
                })
            }
        }
        addKernel(builder, pattern: "\(pattern), \(rowTile)x\(vectorTile) register tile of f32x\(w), column tails by single vectors, the last overlapping\(scheduleText())")
    }

    /// Emits a product whose B is stored with k contiguous (a weight [n, k]): each output is a dot product along k
    /// in f32 vectors, up to `smallRows` rows of A by `columnTile` weight rows at a time so each vector is loaded once.
    mutating func emitDotProducts(_ product: DenseProduct, pattern: String, columnTile: Int, parallel: Bool) {
        let (m, n, k, batches) = (product.m, product.n, product.k, product.batches)
        let w = width
        let rowStep = min(m, smallRows)
        let vectorK = k / w * w
        var builder = KernelBuilder()
        func block(_ body: inout KernelBuilder, _ batch: KernelExpression, _ row0: KernelExpression, rows: Int, _ column0: KernelExpression, columns: Int) {
            var accumulators: [[KernelExpression]] = []
            for r in 0..<rows {
                accumulators.append((0..<columns).map { c in body.declare("acc\(r)_\(c)", .f32x(w), .broadcast(.float(0), width: w)) })
            }
            body.loop("k", to: .index(vectorK), step: w) { body, kk in
                let weights = (0..<columns).map { c in
                    body.declare("w\(c)", .f32x(w), .vectorLoad(product.b.buffer, index: product.b.index(batch, kk, column0 + .index(c)), width: w))
                }
                for r in 0..<rows {
                    let a = body.declare("a\(r)", .f32x(w), .vectorLoad(product.a.buffer, index: product.a.index(batch, row0 + .index(r), kk), width: w))
                    for c in 0..<columns { body.assign(accumulators[r][c], .fma(a, weights[c], accumulators[r][c])) }
                }
            }
            for r in 0..<rows {
                let row = row0 + .index(r)
                for c in 0..<columns {
                    let column = column0 + .index(c)
                    let sum = body.declare("sum\(r)_\(c)", .f32, .reduceAdd(accumulators[r][c]))
                    body.loop("k", from: .index(vectorK), to: .index(k)) { body, kk in
                        body.assign(sum, .fma(.load(product.a.buffer, index: product.a.index(batch, row, kk)),
                                              .load(product.b.buffer, index: product.b.index(batch, kk, column)), sum))
                    }
                    let value = product.epilogue?(&body, batch, row, column, sum) ?? sum
                    body.store(product.c.buffer, product.c.index(batch, row, column), value)
                }
            }
        }
        // All rows of A against `columns` weight rows: full row steps, then the row tail.
        func rowSteps(_ body: inout KernelBuilder, _ batch: KernelExpression, _ column0: KernelExpression, columns: Int) {
            body.loop("ib", to: .index(m / rowStep)) { body, ib in
                block(&body, batch, ib * .index(rowStep), rows: rowStep, column0, columns: columns)
            }
            if m % rowStep != 0 {
                block(&body, batch, .index(m - m % rowStep), rows: m % rowStep, column0, columns: columns)
            }
        }
        let blocks = n / columnTile
        builder.loop("t", to: .index(batches * blocks), parallel: parallel) { body, t in
            let batch = body.declare("batch", .i64, t / .index(blocks))
            let column0 = body.declare("j0", .i64, (t % .index(blocks)) * .index(columnTile))
            rowSteps(&body, batch, column0, columns: columnTile)
        }
        if n % columnTile != 0 {
            builder.loop("batch", to: .index(batches)) { body, batch in
                body.loop("j", from: .index(blocks * columnTile), to: .index(n)) { body, column in
                    rowSteps(&body, batch, column, columns: 1)
                }
            }
        }
        addKernel(builder, pattern: "\(pattern), dot products along k in f32x\(w), \(rowStep) rows x \(columnTile) weight rows per step\(scheduleText())")
    }
}
