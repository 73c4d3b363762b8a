// N:M product kernels: weights stay compressed (kept values plus packed indices) and are decoded in the
// kernel: per-row nm_dot at batch 1, a cache-blocked broadcast kernel at batch N, a scatter for column groups.

import SieveIR
import SieveTarget

extension Lowerer {
    /// The physical packing of N:M constant `id`: row blocks when the resolved schedule of every product reading
    /// it says `packing = rows4` or `rows4_in_lane` (the default where `chooseNMPacking` would choose them, with
    /// its value order) and they agree on the shape and order, else the logical layout.
    func physicalPacking(ofConstant id: ConstantID, n: Int, m: Int) -> NMPhysicalPacking {
        var choice: NMPhysicalPacking?
        let definingOps = graph.definingOps()
        for (index, op) in graph.operations.enumerated() {
            for (position, operand) in op.operands.enumerated() {
                guard let defining = definingOps[operand.index], case .constant(id) = graph.operations[defining].kind else { continue }
                let weight = type(operand)
                guard position == 1, weight.rank == 2, weight.elementType == .f32, rowBlockActivationRows(op) != nil,
                      let scheduled = schedules[index]?.packing, scheduled.isRowBlocks,
                      let layout = NMRowBlockLayout(rows: weight.shape[0], k: weight.shape[1], n: n, m: m,
                                                    order: scheduled == .rows4InLane ? .inLane : .sequential) else {
                    return .logical
                }
                let packing = NMPhysicalPacking.rowBlocks(layout)
                if choice != nil && choice != packing { return .logical }
                choice = packing
            }
        }
        return choice ?? .logical
    }

    /// The number of activation rows when `op` multiplies f32 activations contiguous along the reduction by an
    /// N:M weight `[n][k]` (operand 1, read with transpose_b) one activation row at a time (too few rows for
    /// the vector kernel); nil for every other product or op.
    func rowBlockActivationRows(_ op: Operation) -> Int? {
        switch op.kind {
        case .matmul(transposeB: true), .fusedMatmul(transposeB: true, _, _), .gemm(_, _, false, true): break
        default: return nil
        }
        guard op.operands.count >= 2, let a = graph.type(of: op.operands[0]), let result = op.results.first.flatMap({ graph.type(of: $0) }),
              a.elementType == .f32, result.elementType == .f32, let n = result.shape.last, n > 0,
              let count = result.elementCount, transposedSparsePlan(op) == nil else { return nil }
        return count / n
    }

    /// Emits `out[c][r] = epilogue(sum over kept p of weight row r: value(p) * dense[c][k(p)])` for a weight in the row-block
    /// packing: a parallel loop over blocks of four weight rows, each block read once per activation row by
    /// `nm_rows4` (one stream of values and indices per thread), the epilogue applied to the stored results.
    mutating func emitRowBlockSparseRows(weight: (buffer: BufferID, layout: NMRowBlockLayout), columns: Int, dense: BufferID,
                                         denseStart: @escaping (KernelExpression) -> KernelExpression, out: BufferID,
                                         epilogue: ProductEpilogue?, pattern: String) {
        let layout = weight.layout
        let rows = layout.rows
        var builder = KernelBuilder()
        let parallel = (schedules[currentOpIndex]?.parallel ?? .none) != .none
        builder.loop("blk", to: .index(layout.blocks), parallel: parallel) { body, block in
            let first = body.declare("r0", .i64, block * .index(NMRowBlockLayout.blockRows))
            let valid = body.declare("valid", .i64, .binary(.min, .index(NMRowBlockLayout.blockRows), .index(rows) - first))
            body.loop("c", to: .index(columns)) { body, column in
                let outStart = body.declare("o", .i64, column * .index(rows) + first)
                body.emit(.nmRowBlock(NMRowBlock(weights: weight.buffer, layout: layout, block: block, dense: dense,
                                                 denseStart: denseStart(column), out: out, outStart: outStart, validRows: valid)))
                if let epilogue {
                    body.loop("j", to: valid) { body, j in
                        let value = body.declare("value", .f32, .load(out, index: outStart + j))
                        body.store(out, outStart + j, epilogue(&body, 0, column, first + j, value))
                    }
                }
            }
        }
        addKernel(builder, pattern: pattern + ", weight packed in row blocks of \(NMRowBlockLayout.blockRows) (\(layout.chunks) chunks of "
                  + "\(NMRowBlockLayout.chunkKept) kept per row\(layout.order == .inLane ? " in in-lane permute order" : "")"
                  + "\(layout.tailKept > 0 ? " and a tail of \(layout.tailKept)" : "")), "
                  + "one nm_rows4 per block and activation row" + scheduleText())
    }

    /// Runs an N:M product with weight rows along the reduction over f32 vectors of activation rows: transposes
    /// the activations into scratch, multiplies into a transposed result, then transposes back through the
    /// epilogue. Returns false when the shape does not suit it (too few rows, not f32).
    mutating func emitTransposedSparseRows(_ op: Operation, weight: (values: BufferID, indices: BufferID, n: Int, m: Int),
                                           a: BufferID, result: BufferID, epilogue: ProductEpilogue?,
                                           vectorEpilogue: ProductEpilogue? = nil, schedule: KernelSchedule) throws -> Bool {
        guard let plan = transposedSparsePlan(op, at: currentOpIndex) else { return false }
        let scratch = self.plan.scratch[currentOpIndex] ?? 0
        guard plan.scratchBytes == 0 || self.plan.scratch[currentOpIndex] != nil else { return false }
        let (rows, k, n) = (plan.rows, plan.k, plan.n)
        var activations = a
        if sharedTransposeSource[currentOpIndex] != nil {
            // An earlier product of the same activations transposed them into its scratch, live until this op.
            guard let shared = sharedTransposeBuffers[op.operands[0]] else {
                throw LoweringError("the transposed activations \(name(op.operands[0])) shared with an earlier N:M product were not written")
            }
            activations = shared
        } else if !plan.transposeA && !transposedValues.contains(op.operands[0]) {
            activations = addBuffer(Buffer(name: "\(name(op.results[0])).activations_transposed", storage: .arena(offset: scratch),
                                           elementType: .f32, count: k * rows))
            var builder = KernelBuilder()
            emitBlockedTranspose(&builder, from: a, rows: rows, columns: k, to: activations, transform: nil)
            let readers = 1 + sharedTransposeSource.values.filter { $0 == currentOpIndex }.count
            addKernel(builder, pattern: "transpose activations to [k][rows] for the N:M product\(readers > 1 ? " and \(readers - 1) more reading them" : ""), "
                      + transposeText(rows: rows, columns: k))
            if readers > 1 { sharedTransposeBuffers[op.operands[0]] = activations }
        }
        // A result kept transposed for its N:M readers is the product's own output; any other goes through scratch.
        let keepsTransposed = transposedValues.contains(op.results[0])
        let transposedResult = keepsTransposed ? result
            : addBuffer(Buffer(name: "\(name(op.results[0])).transposed", storage: .arena(offset: scratch + plan.outputOffset),
                               elementType: .f32, count: n * rows))
        var blocked = false
        if case let .nmBlocked(kBlock, tileRows, prefetchRows) = schedule.variant {
            blocked = emitBlockedSparseRows(rows: n, k: k, columns: rows, n: weight.n, m: weight.m, values: weight.values,
                                            indices: weight.indices, activations: activations, out: transposedResult,
                                            kBlock: kBlock, tileRows: tileRows, prefetchRows: prefetchRows,
                                            parallel: schedule.parallel != .none)
        }
        if !blocked {
            try emitSparseRows(SparseRowsProduct(
            rows: n, reduction: k, columns: rows, batches: 1, n: weight.n, m: weight.m,
            values: weight.values, indices: weight.indices, dense: activations,
            denseIndex: { _, _, kk, c in kk * .index(rows) + c }, out: transposedResult,
            outIndex: { r, _, c in r * .index(rows) + c }, vectorizable: true, integer: false, epilogue: nil,
            parallel: schedule.parallel != .none),
            pattern: "N:M product (\(weight.n):\(weight.m)), compressed weight values broadcast against activation-row vectors")
        }
        if keepsTransposed {
            if let epilogue {
                try emitTransposedEpilogue(op, result: result, rows: rows, n: n, epilogue: epilogue)
            }
            return true
        }
        var builder = KernelBuilder()
        // With a vector form of the epilogue, the transpose only copies and the epilogue then runs along each result
        // row a vector at a time (its scalar form on the row's tail), on each block of rows as soon as it is copied:
        // one parallel loop instead of two, the rows still in L1 (at 2 threads the encoder's 2:4 layers ran 30 more
        // loops, about one per product, than its dense ones).
        let vectorColumns = vectorEpilogue == nil ? 0 : n / width * width
        let copyOnly = vectorColumns > 0 || epilogue == nil
        var afterColumns: ((inout KernelBuilder, KernelExpression, KernelExpression) -> Void)?
        if let vectorEpilogue, vectorColumns > 0 {
            let width = self.width
            afterColumns = { body, first, end in
                body.loop("c", from: first, to: end) { body, c in
                    body.loop("r", to: .index(vectorColumns), step: width) { body, r in
                        let index = body.declare("o", .i64, c * .index(n) + r)
                        let value = body.declare("value", .f32x(width), .vectorLoad(result, index: index, width: width))
                        body.emit(.vectorStore(result, index: index, value: vectorEpilogue(&body, 0, c, r, value)))
                    }
                    body.loop("r", from: .index(vectorColumns), to: .index(n)) { body, r in
                        let value = body.declare("value", .f32, .load(result, index: c * .index(n) + r))
                        body.store(result, c * .index(n) + r, epilogue?(&body, 0, c, r, value) ?? value)
                    }
                }
            }
        }
        emitBlockedTranspose(&builder, from: transposedResult, rows: n, columns: rows, to: result, transform: copyOnly ? nil : { body, r, c, value in
            epilogue?(&body, 0, c, r, value) ?? value
        }, afterColumns: afterColumns)
        let copyText = transposeText(rows: n, columns: rows)
        addKernel(builder, pattern: vectorColumns > 0 ? "transpose the N:M product back (\(copyText)), each block of rows then through the epilogue in f32x\(width) along each row"
                                                      : copyOnly ? "transpose the N:M product back, \(copyText)"
                                                                 : "transpose the N:M product back in blocks of 16 along its rows, applying the epilogue")
        return true
    }

    /// Applies a product's epilogue in place to a result kept transposed, [n][rows]: per output feature r, f32
    /// vectors along the rows (its vector form with lanes along rows: the bias broadcast, the activation), the
    /// scalar form on the rows' tail.
    mutating func emitTransposedEpilogue(_ op: Operation, result: BufferID, rows: Int, n: Int, epilogue: ProductEpilogue) throws {
        guard case let .fusedMatmul(_, steps, _) = op.kind,
              let vectorEpilogue = try matmulVectorEpilogue(op, steps: steps, m: rows, n: n, lanesAlongRows: true) else {
            throw LoweringError("the epilogue of a product kept transposed has no vector form along rows")
        }
        let w = width
        let vectorRows = rows / w * w
        var builder = KernelBuilder()
        builder.loop("r", to: .index(n), parallel: isParallel(n * rows)) { body, r in
            let base = body.declare("base", .i64, r * .index(rows))
            body.loop("c", to: .index(vectorRows), step: w) { body, c in
                let value = body.declare("value", .f32x(w), .vectorLoad(result, index: base + c, width: w))
                body.emit(.vectorStore(result, index: base + c, value: vectorEpilogue(&body, 0, c, r, value)))
            }
            body.loop("c", from: .index(vectorRows), to: .index(rows)) { body, c in
                let value = body.declare("value", .f32, .load(result, index: base + c))
                body.store(result, base + c, epilogue(&body, 0, c, r, value))
            }
        }
        addKernel(builder, pattern: "the N:M product's epilogue in f32x\(w) along each row of its transposed result, which stays "
                  + "[\(n)][\(rows)] for the N:M products reading it")
    }

    /// How `emitBlockedTranspose` without a transform copies a `rows` x `columns` matrix, for kernel patterns.
    func transposeText(rows: Int, columns: Int) -> String {
        [4, 8, 16].contains(width) && rows >= width && columns >= width ? "in \(width)x\(width) tiles transposed in registers"
                                                                        : "in blocks of 16 along the rows"
    }

    /// `to[j][i] = transform(i, j, from[i][j])` for `from` of `rows` x `columns`. Without a transform, in tiles of the
    /// vector width squared (`transpose_tile`, transposed in registers), the parallel axis being the tiles' columns,
    /// and element by element for the rows and columns past the last whole tile. With one, in blocks of 16 columns:
    /// each source line is read whole once, and the block's 16 destination rows are written a value at a time as `i`
    /// advances. (Row by row, a source stride that is a multiple of 2 KiB put every row of a column on the same few L1
    /// sets: the encoder's 1536-wide FFN activations took 1 ns per element.) `afterColumns`, when given, is emitted
    /// after each block of columns is written, with the block's range of `to`'s rows, in the same iteration (so on the
    /// same thread, while those rows are in its L1), and once more for the columns past the last whole block.
    func emitBlockedTranspose(_ builder: inout KernelBuilder, from source: BufferID, rows: Int, columns: Int, to target: BufferID,
                              transform: ((inout KernelBuilder, KernelExpression, KernelExpression, KernelExpression) -> KernelExpression)?,
                              afterColumns: ((inout KernelBuilder, KernelExpression, KernelExpression) -> Void)? = nil) {
        let parallel = isParallel(rows * columns)
        func copy(_ body: inout KernelBuilder, rows rowRange: (KernelExpression, KernelExpression), columns columnRange: (KernelExpression, KernelExpression)) {
            body.loop("i", from: rowRange.0, to: rowRange.1) { body, i in
                body.loop("j", from: columnRange.0, to: columnRange.1) { body, j in
                    let value = body.declare("value", .f32, .load(source, index: i * .index(columns) + j))
                    body.store(target, j * .index(rows) + i, transform?(&body, i, j, value) ?? value)
                }
            }
        }
        let tile = width
        if transform == nil && [4, 8, 16].contains(tile) && rows >= tile && columns >= tile {
            let wholeRows = rows / tile * tile, wholeColumns = columns / tile * tile
            builder.loop("jb", to: .index(wholeColumns / tile), parallel: parallel) { body, jb in
                let begin = body.declare("j_begin", .i64, jb * .index(tile))
                body.loop("ib", to: .index(wholeRows), step: tile) { body, ib in
                    body.emit(.transposeTile(TransposeTile(source: source, sourceStart: ib * .index(columns) + begin, sourceStride: columns,
                                                           out: target, outStart: begin * .index(rows) + ib, outStride: rows, size: tile)))
                }
                copy(&body, rows: (.index(wholeRows), .index(rows)), columns: (begin, begin + .index(tile)))
                afterColumns?(&body, begin, begin + .index(tile))
            }
            copy(&builder, rows: (0, .index(rows)), columns: (.index(wholeColumns), .index(columns)))
            if wholeColumns < columns { afterColumns?(&builder, .index(wholeColumns), .index(columns)) }
            return
        }
        let block = 16
        builder.loop("jb", to: .index((columns + block - 1) / block), parallel: parallel) { body, jb in
            let begin = body.declare("j_begin", .i64, jb * .index(block))
            let end = body.declare("j_end", .i64, .binary(.min, begin + .index(block), .index(columns)))
            copy(&body, rows: (0, .index(rows)), columns: (begin, end))
            afterColumns?(&body, begin, end)
        }
    }

    /// Emits `out[r][c] = sum over kept p of row r: values[p] * activations[k(p)][c]` (activations transposed to
    /// [k][columns], columns a multiple of the vector width) blocked for the caches: k is cut into blocks whose
    /// activation panel fits L1, weight rows into tiles (the parallel axis); for each block every row of the
    /// tile broadcasts its kept values against all column vectors of the panel at once, accumulating into out,
    /// and prefetches the same block of a row `prefetchRows` ahead (the weight stream is strided by blocks).
    /// Returns false when the shape does not suit it.
    mutating func emitBlockedSparseRows(rows: Int, k: Int, columns: Int, n: Int, m: Int, values: BufferID, indices: BufferID,
                                        activations: BufferID, out: BufferID, kBlock: Int, tileRows: Int, prefetchRows: Int,
                                        parallel: Bool) -> Bool {
        let w = width
        let vectors = columns / w
        let groupsPerRow = k / m
        let rowKept = groupsPerRow * n
        // One step of the kept loop covers 16 kept values (a 64-byte line of them) when n divides 16.
        let unroll = max(1, 16 / n)
        // Columns run in panels of up to 8 vectors (the accumulators that stay in registers); a wider batch takes
        // several panels per k block, re-reading the block's kept values (from L1) and decoding them again.
        let panelVectors = SieveTarget.KernelProblem.blockedPanelVectors(columns / max(1, w))
        let panels = vectors / max(1, panelVectors)
        guard columns % w == 0, vectors >= 1, k % m == 0, groupsPerRow % unroll == 0,
              program.buffers[values.index].elementType == .f32, kBlock % (unroll * m) == 0, tileRows > 0 else { return false }
        // The schedule's k block, a whole number of steps (the default keeps about 24 KiB of activations in L1), its
        // tile and prefetch distance (the defaults are KernelProblem.defaultSchedule's).
        let blockGroups = kBlock / m
        let blocks = (groupsPerRow + blockGroups - 1) / blockGroups
        let tiles = (rows + tileRows - 1) / tileRows
        // The kept values of a step loaded as whole vectors and splatted lane by lane in registers (fewer loads).
        let splat = (unroll * n) % w == 0
        let chainsPerVector = max(1, min(unroll * n, 8 / panelVectors))
        let bits = m.trailingZeroBitCount
        // Index fields never straddle a byte and every row's indices start on a byte: decode whole bytes.
        let perByte = 8 / bits
        let byteDecode = 8 % bits == 0 && (rowKept * bits) % 8 == 0 && (unroll * n) % perByte == 0
        // A step's fields fill whole 32-bit words (2:4 and 1:4: 16 two-bit fields), and so does every row's, so each step
        // starts on a word of the index buffer (which starts on 64 bytes): read them through an i32 view of that buffer.
        let indexBuffer = program.buffers[indices.index]
        let indexWords = byteDecode && (unroll * n * bits) % 32 == 0 && (rowKept * bits) % 32 == 0
            ? addBuffer(Buffer(name: indexBuffer.name + ".words", storage: indexBuffer.storage, elementType: .i32, count: indexBuffer.count / 4))
            : nil
        let valueCount = program.buffers[values.index].count
        let indexCount = program.buffers[indices.index].count
        var builder = KernelBuilder()
        builder.loop("t", to: .index(tiles), parallel: parallel) { body, t in
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
                body.loop("cp", to: .index(panels)) { body, cp in
                    let panelStart = body.declare("panel", .i64, cp * .index(panelVectors * w))
                    body.loop("r", from: rowBegin, to: rowEnd) { body, r in
                        let rowStart = body.declare("row_start", .i64, r * .index(rowKept))
                        let chains = (0..<panelVectors).map { v in
                            (0..<chainsPerVector).map { c in body.declare("acc\(v)_\(c)", .f32x(w), .broadcast(.float(0), width: w)) }
                        }
                        body.loop("g", from: groupBegin, to: groupEnd, step: unroll) { body, g0 in
                            let ahead = body.declare("ahead", .i64, .binary(.min, rowStart + g0 * .index(n) + .index(prefetchRows * rowKept),
                                                                               .index(valueCount - 1)))
                            body.emit(.prefetch(values, index: ahead))
                            body.emit(.prefetch(indices, index: .binary(.min, ahead * .index(bits) / .index(8), .index(indexCount - 1))))
                            // The step's index fields: from 32-bit words where they fill whole words (one load each, little-endian
                            // as every target is, the sign of the i32 element undone by adding 2^32 modulo 2^32), else from whole
                            // bytes; each field is then a division and a remainder by powers of two (a shift and a mask). Read a
                            // byte at a time, LLVM's machine scheduler sank each byte's load next to its first use, and the
                            // activation loads of the kept values it addresses issued late: 7% of the kernel's time under LLVM
                            // (bench/RESULTS.md, branch `nmblk`).
                            var words: [KernelExpression] = []
                            if byteDecode {
                                let byteBase = body.declare("ib", .i64, (rowStart + g0 * .index(n)) * .index(bits) / .index(8))
                                if let indexWords {
                                    words = (0..<(unroll * n * bits / 32)).map { i in
                                        let word: KernelExpression = .load(indexWords, index: byteBase / .index(4) + .index(i))
                                        return body.declare("word\(i)", .i64, .binary(.rem, word + .index(1 << 32), .index(1 << 32)))
                                    }
                                } else {
                                    words = (0..<(unroll * n / perByte)).map { b in body.declare("byte\(b)", .i64, .load(indices, index: byteBase + .index(b))) }
                                }
                            }
                            let keptVectors: [KernelExpression] = splat ? (0..<(unroll * n / w)).map { v in
                                body.declare("wv\(v)", .f32x(w), .vectorLoad(values, index: rowStart + g0 * .index(n) + .index(v * w), width: w))
                            } : []
                            // The step's activation rows are addressed from the first row of its first group: row (g0 + u) * m +
                            // field is `stepStart + field * columns` plus the constant `u * m * columns`, which both compilers
                            // fold into the loads' displacements. Written as ((g0 + u) * m + field) * columns, LLVM kept the
                            // seven (g0 + u) * m as loop invariants that spilled, and their reloads took load slots from the
                            // activations (about 3% of the kernel's time under either compiler; bench/RESULTS.md, branch `nmblk`).
                            let stepStart = body.declare("a0", .i64, g0 * .index(m * columns) + panelStart)
                            for u in 0..<unroll {
                                for j in 0..<n {
                                    let kept = u * n + j
                                    let p = body.declare("p", .i64, rowStart + (g0 + .index(u)) * .index(n) + .index(j))
                                    var field: KernelExpression = .nmIndex(indices, element: p, bits: bits)
                                    if byteDecode {
                                        let wordBits = indexWords == nil ? 8 : 32
                                        let word = words[kept * bits / wordBits], shift = kept * bits % wordBits
                                        let shifted = shift == 0 ? word : .binary(.div, word, .index(1 << shift))
                                        field = .binary(.rem, shifted, .index(m))
                                    }
                                    let row = body.declare("ka", .i64, stepStart + field * .index(columns))
                                    let value = body.declare("w", .f32x(w), splat ? .broadcastLane(keptVectors[kept / w], lane: kept % w)
                                                                                  : .broadcast(.load(values, index: p), width: w))
                                    for v in 0..<panelVectors {
                                        let chain = chains[v][kept % chainsPerVector]
                                        let column = row + .index(u * m * columns + v * w)
                                        body.assign(chain, .fma(value, .vectorLoad(activations, index: column, width: w), chain))
                                    }
                                }
                            }
                        }
                        for v in 0..<panelVectors {
                            var total = chains[v][0]
                            for chain in chains[v].dropFirst() { total = .binary(.add, total, chain) }
                            let index = body.declare("o", .i64, r * .index(columns) + panelStart + .index(v * w))
                            body.emit(.vectorStore(out, index: index, value: .binary(.add, .vectorLoad(out, index: index, width: w), total)))
                        }
                    }
                }
            }
        }
        addKernel(builder, pattern: "N:M product (\(n):\(m)) blocked for the caches: tiles of \(tileRows) weight rows (parallel), "
                  + "k blocks of \(blockGroups * m) (an L1 panel of activations [k][\(columns)]), each kept value broadcast against "
                  + "\(panelVectors) f32x\(w) column vectors" + (panels > 1 ? " (\(panels) panels of them per k block)" : "")
                  + ", \(chainsPerVector) chains each, weight stream prefetched \(prefetchRows) rows ahead"
                  + (byteDecode ? (indexWords == nil ? ", indices decoded from whole bytes" : ", indices decoded from 32-bit words") : "") + (splat ? ", kept values splatted from vector loads" : "")
                  + scheduleText())
        return true
    }

    /// Emits an N:M rows-times-dense product reading kept values and decoding packed indices.
    mutating func emitSparseRows(_ product: SparseRowsProduct, pattern: String) throws {
        // Whole groups; a reduction that is not a multiple of M adds one padded group per row.
        let groupsPerRow = product.reduction / product.m
        let padded = product.reduction % product.m != 0
        let rowKept = (groupsPerRow + (padded ? 1 : 0)) * product.n
        let bits = product.m.trailingZeroBitCount
        let parallel = product.parallel
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
                if padded {
                    // The padded last group: an entry on a position past the reduction holds zero and is
                    // skipped, so the dense operand is never read beyond its end.
                    for j in 0..<product.n {
                        let p = body.declare("p", .i64, rowStart + .index(groupsPerRow * product.n + j))
                        let kk = body.declare("k", .i64, .index(groupsPerRow * product.m) + .nmIndex(product.indices, element: p, bits: bits))
                        body.branch(.binary(.lt, kk, .index(product.reduction))) { body in visit(&body, p, kk, j) }
                    }
                }
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
                        // nm_dot covers the whole groups only; a padded last group is added by the guarded scalar tail.
                        let dot = body.declare("total", .f32, .nmDot(NMDot(
                            values: product.values, indices: product.indices, dense: product.dense, first: rowStart,
                            denseStart: product.denseIndex(r, batch, 0, column), groups: groupsPerRow, n: product.n, m: product.m)))
                        var total = dot
                        if padded {
                            let tail = body.declare("tail", .f32, .float(0))
                            let base = body.declare("tail_base", .i64, product.denseIndex(r, batch, .index(groupsPerRow * product.m), column))
                            for j in 0..<product.n {
                                let p = body.declare("p", .i64, rowStart + .index(groupsPerRow * product.n + j))
                                let slot = body.declare("slot", .i64, .nmIndex(product.indices, element: p, bits: bits))
                                body.branch(.binary(.lt, slot, .index(product.reduction - groupsPerRow * product.m))) { body in
                                    body.assign(tail, .fma(.load(product.values, index: p), .load(product.dense, index: base + slot), tail))
                                }
                            }
                            total = body.declare("sum", .f32, .binary(.add, dot, tail))
                        }
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
        addKernel(builder, pattern: pattern + (product.vectorizable ? ", f32x\(w) over columns" : columnsText) + scheduleText())
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
        let parallel = product.parallel
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
        addKernel(builder, pattern: pattern + scheduleText())
    }
}
