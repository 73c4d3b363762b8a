// Dense products whose weight is an f32 constant packed at compile time into column panels: the schedule
// (panel width, register tile, depth block), the packing of the weight bytes and the GEMM/GEMV kernels.

import SieveIR

/// How one constant weight is packed: its product's schedule, its shape and whether it is stored `[n][k]`.
struct PackingPlan {
    var schedule: DenseProductSchedule
    var n: Int, k: Int
    var transposed: Bool
    /// Whether the product's work items are split across threads (the op schedule's parallel axis).
    var parallel: Bool
}

/// A constant weight stored packed for one product.
struct PackedWeight {
    var buffer: BufferID
    var schedule: DenseProductSchedule
    var n: Int, k: Int
    /// Whether the product's work items are split across threads.
    var parallel: Bool
}

/// The weight's f32 bytes in the packed order of `DenseProductSchedule` (panels, then the tail block).
/// `transposed` says the constant is stored `[n][k]` (a `transpose_b` operand) rather than `[k][n]`.
func packDenseWeight(_ bytes: [UInt8], n: Int, k: Int, transposed: Bool, panelWidth: Int) -> [UInt8] {
    var packed = [UInt8](repeating: 0, count: n * k * 4)
    let panels = n / panelWidth, tailStart = panels * panelWidth, tail = n - tailStart
    bytes.withUnsafeBufferPointer { source in
        packed.withUnsafeMutableBufferPointer { target in
            for column in 0..<n {
                let panel = column / panelWidth
                let (base, width, within) = column < tailStart
                    ? (panel * k * panelWidth, panelWidth, column % panelWidth)
                    : (tailStart * k, tail, column - tailStart)
                for depth in 0..<k {
                    let from = (transposed ? column * k + depth : depth * n + column) * 4
                    let to = (base + depth * width + within) * 4
                    for byte in 0..<4 { target[to + byte] = source[from + byte] }
                }
            }
        }
    }
    return packed
}

extension Lowerer {
    /// For each constant (by index) that is a dense f32 2-D weight read by exactly one f32 matmul, fused_matmul or
    /// gemm (and nothing else, not an output) whose resolved schedule is dense_panel_stream or dense_panel_tile with
    /// packing = panels: that schedule's parameters and how the constant is stored.
    func packedWeightPlans() -> [Int: PackingPlan] {
        var uses: [Int: Int] = [:]
        var constantOf: [ValueID: ConstantID] = [:]
        for op in graph.operations {
            if case let .constant(id) = op.kind, let result = op.results.first { constantOf[result] = id }
        }
        for op in graph.operations {
            for operand in op.operands { if let id = constantOf[operand] { uses[id.index, default: 0] += 1 } }
        }
        for output in graph.outputs { if let id = constantOf[output] { uses[id.index, default: 0] += 1 } }
        var plans: [Int: PackingPlan] = [:]
        for (index, op) in graph.operations.enumerated() {
            guard let opSchedule = schedules[index], opSchedule.packing == .panels,
                  case let .densePanels(schedule) = opSchedule.variant else { continue }
            let transposed: Bool
            switch op.kind {
            case let .matmul(transposeB), let .fusedMatmul(transposeB, _, _): transposed = transposeB
            case let .gemm(_, _, _, transposeB): transposed = transposeB
            default: continue
            }
            guard op.operands.count >= 2, let id = constantOf[op.operands[1]], uses[id.index] == 1,
                  let result = op.results.first else { continue }
            let weight = type(op.operands[1]), resultType = type(result)
            guard weight.rank == 2, weight.layout == .dense, weight.elementType == .f32, weight.quant == nil,
                  type(op.operands[0]).elementType == .f32, resultType.elementType == .f32,
                  let constant = graph.constants[id], constant.hasConsistentSize else { continue }
            let n = transposed ? weight.shape[0] : weight.shape[1]
            let k = transposed ? weight.shape[1] : weight.shape[0]
            guard n > 0, let count = resultType.elementCount else { continue }
            if case .gemm = op.kind, resultType.rank != 2 { continue }
            guard count / n > 0, k > 0 else { continue }
            plans[id.index] = PackingPlan(schedule: schedule, n: n, k: k, transposed: transposed, parallel: opSchedule.parallel != .none)
        }
        return plans
    }

    /// The arena bytes a product over a packed weight needs for its packed activations: with the register tile,
    /// A is copied once per call into row tiles `[rows / rowTile][k][rowTile]` (the last tile zero-padded), so
    /// the tile's broadcasts read one contiguous stream instead of `rowTile` rows 4·k bytes apart (which share
    /// L1 sets when k is a multiple of 1024). Nil for other ops.
    func packedActivationBytes(_ op: Operation) -> Int? {
        switch op.kind {
        case .matmul, .fusedMatmul, .gemm: break
        default: return nil
        }
        guard op.operands.count >= 2, let opIndex = graph.definingOps()[op.operands[1].index],
              case let .constant(id) = graph.operations[opIndex].kind, let plan = packingPlans[id.index],
              plan.schedule.variant == .registerTile, let result = op.results.first,
              let count = graph.type(of: result)?.elementCount, plan.n > 0 else { return nil }
        let rows = count / plan.n, rowTile = plan.schedule.rowTile
        return saturatingProduct([(rows + rowTile - 1) / rowTile * rowTile, plan.k, 4])
    }

    /// The packed weight a product's B operand is stored as, if any.
    func packedWeight(_ value: ValueID) -> PackedWeight? {
        guard let opIndex = graph.definingOps()[value.index], case let .constant(id) = graph.operations[opIndex].kind else { return nil }
        return packedWeights[id.index]
    }

    /// Emits `c[r][j] = epilogue(sum over k of a(r, k) * W[k][j])` for a packed weight: the panels with the schedule's
    /// register tile (or stream), the tail columns with the generic dense product over the tail block.
    /// `c` is contiguous `[rows][n]`; the epilogue gets the flattened row.
    mutating func emitPackedProduct(rows: Int, a: MatrixView, weight: PackedWeight, c: BufferID,
                                    epilogue: ((inout KernelBuilder, KernelExpression, KernelExpression, KernelExpression) -> KernelExpression)?,
                                    vectorEpilogue: ((inout KernelBuilder, KernelExpression, KernelExpression, KernelExpression) -> KernelExpression)? = nil,
                                    pattern: String) {
        let (n, k, schedule) = (weight.n, weight.k, weight.schedule)
        let w = width
        let panelWidth = schedule.panelWidth, vectors = panelWidth / w
        let rowTile = schedule.rowTile, depthBlock = schedule.depthBlock, rowBlock = schedule.rowBlock
        let panels = n / panelWidth, tailStart = panels * panelWidth
        let rowBlocks = (rows + rowBlock - 1) / rowBlock
        let fullRows = rows - rows % rowTile
        let packed = weight.buffer

        // With the register tile, A is first copied into row tiles [rows / rowTile][k][rowTile] in scratch.
        var activation: (KernelExpression, Int, KernelExpression) -> (BufferID, KernelExpression) = { row0, r, kk in
            (a.buffer, a.index(0, row0 + .index(r), kk))
        }
        if panels > 0, schedule.variant == .registerTile, let offset = plan.scratch[currentOpIndex] {
            let tiles = (rows + rowTile - 1) / rowTile
            let packedA = addBuffer(Buffer(name: "\(pattern) packed activations", storage: .arena(offset: offset), elementType: .f32,
                                           count: tiles * rowTile * k))
            var builder = KernelBuilder()
            builder.loop("tile", to: .index(tiles), parallel: isParallel(saturatingProduct([rows, k]))) { body, tileIndex in
                for r in 0..<rowTile {
                    let row = body.declare("row", .i64, tileIndex * .index(rowTile) + .index(r))
                    body.loop("k", to: .index(k)) { body, kk in
                        let target = (tileIndex * .index(k) + kk) * .index(rowTile) + .index(r)
                        if rows % rowTile == 0 {
                            body.store(packedA, target, .load(a.buffer, index: a.index(0, row, kk)))
                        } else {
                            body.branch(.binary(.lt, row, .index(rows)), then: { body in
                                body.store(packedA, target, .load(a.buffer, index: a.index(0, row, kk)))
                            }, else: { body in
                                body.store(packedA, target, .float(0))
                            })
                        }
                    }
                }
            }
            addKernel(builder, pattern: "\(pattern), activations packed into tiles of \(rowTile) rows x k for the register tile")
            activation = { row0, r, kk in (packedA, row0 * .index(k) + kk * .index(rowTile) + .index(r)) }
        }

        if panels > 0 {
            var builder = KernelBuilder()
            builder.loop("t", to: .index(panels * rowBlocks), parallel: weight.parallel) { body, t in
                let panel = body.declare("panel", .i64, t / .index(rowBlocks))
                let rowBlockIndex = body.declare("rb", .i64, t % .index(rowBlocks))
                let column0 = body.declare("j0", .i64, panel * .index(panelWidth))
                let panelBase = body.declare("wp", .i64, panel * .index(k * panelWidth))
                let rowStart = body.declare("r0", .i64, rowBlockIndex * .index(rowBlock))
                let tileEnd = body.declare("r1", .i64, .binary(.min, rowStart + .index(rowBlock), .index(fullRows)))

                // One register tile: `tileRows` rows from row0, the panel's columns, depth kStart ..< kStart + depth.
                func tile(_ body: inout KernelBuilder, row0: KernelExpression, tileRows: Int, kStart: KernelExpression, depth: Int,
                          first: Bool, last: Bool) {
                    var accumulators: [[KernelExpression]] = []
                    for r in 0..<tileRows {
                        accumulators.append((0..<vectors).map { v in
                            let start: KernelExpression = first
                                ? .broadcast(.float(0), width: w)
                                : .vectorLoad(c, index: (row0 + .index(r)) * .index(n) + column0 + .index(v * w), width: w)
                            return body.declare("acc\(r)_\(v)", .f32x(w), start)
                        })
                    }
                    body.loop("k", from: kStart, to: kStart + .index(depth)) { body, kk in
                        let rowOfPanel = body.declare("wk", .i64, panelBase + kk * .index(panelWidth))
                        if schedule.prefetchDistance > 0 {
                            // Every 64-byte line of this k row, `prefetchDistance` ahead (kept inside the weight).
                            for line in stride(from: 0, to: panelWidth, by: 16) {
                                body.emit(.prefetch(packed, index: .binary(.min, rowOfPanel + .index(schedule.prefetchDistance + line), .index(n * k - 1))))
                            }
                        }
                        let weights = (0..<vectors).map { v in
                            body.declare("w\(v)", .f32x(w), .vectorLoad(packed, index: rowOfPanel + .index(v * w), width: w))
                        }
                        for r in 0..<tileRows {
                            let (source, index) = activation(row0, r, kk)
                            let x = body.declare("a\(r)", .f32x(w), .broadcast(.load(source, index: index), width: w))
                            for v in 0..<vectors { body.assign(accumulators[r][v], .fma(x, weights[v], accumulators[r][v])) }
                        }
                    }
                    for r in 0..<tileRows {
                        for v in 0..<vectors {
                            body.emit(.vectorStore(c, index: (row0 + .index(r)) * .index(n) + column0 + .index(v * w), value: accumulators[r][v]))
                        }
                    }
                    if last, let vectorEpilogue {
                        // The epilogue runs on the finished tile while it is in L1, a vector of columns at a time.
                        for r in 0..<tileRows {
                            for v in 0..<vectors {
                                let row = row0 + .index(r), column = column0 + .index(v * w)
                                let index = body.declare("e", .i64, row * .index(n) + column)
                                let value = body.declare("value", .f32x(w), .vectorLoad(c, index: index, width: w))
                                body.emit(.vectorStore(c, index: index, value: vectorEpilogue(&body, row, column, value)))
                            }
                        }
                    } else if last, let epilogue {
                        // The epilogue runs on the finished tile while it is in L1.
                        for r in 0..<tileRows {
                            body.loop("e", to: .index(panelWidth)) { body, e in
                                let row = row0 + .index(r), column = column0 + e
                                let index = row * .index(n) + column
                                let value = body.declare("value", .f32, .load(c, index: index))
                                body.store(c, index, epilogue(&body, row, column, value))
                            }
                        }
                    }
                }
                // Every row tile of the work item for one depth block, then the row tail in the last item.
                func depthBlockTiles(_ body: inout KernelBuilder, kStart: KernelExpression, depth: Int, first: Bool, last: Bool) {
                    if fullRows > 0 {
                        body.loop("i0", from: rowStart, to: tileEnd, step: rowTile) { body, row0 in
                            tile(&body, row0: row0, tileRows: rowTile, kStart: kStart, depth: depth, first: first, last: last)
                        }
                    }
                    if rows % rowTile != 0 {
                        body.branch(.binary(.eq, rowBlockIndex, .index(rowBlocks - 1)), then: { body in
                            tile(&body, row0: .index(fullRows), tileRows: rows % rowTile, kStart: kStart, depth: depth, first: first, last: last)
                        }, else: { _ in })
                    }
                }
                let depthBlocks = (k + depthBlock - 1) / depthBlock
                let lastStart = (depthBlocks - 1) * depthBlock
                if depthBlocks == 1 {
                    depthBlockTiles(&body, kStart: 0, depth: k, first: true, last: true)
                } else {
                    depthBlockTiles(&body, kStart: 0, depth: depthBlock, first: true, last: false)
                    body.loop("kb", from: 1, to: .index(depthBlocks - 1)) { body, kb in
                        depthBlockTiles(&body, kStart: kb * .index(depthBlock), depth: depthBlock, first: false, last: false)
                    }
                    depthBlockTiles(&body, kStart: .index(lastStart), depth: k - lastStart, first: false, last: true)
                }
            }
            addKernel(builder, pattern: "\(pattern), weight packed once: \(schedule), f32x\(w)")
        }

        if tailStart < n {
            // The tail columns read the `[k][tail]` block after the panels with the generic dense product.
            let tail = n - tailStart
            let product = DenseProduct(
                batches: 1, m: rows, n: tail, k: k,
                a: a,
                b: MatrixView(buffer: packed, offset: { _ in .index(tailStart * k) }, rowStride: tail, columnStride: 1),
                c: MatrixView(buffer: c, offset: { _ in .index(tailStart) }, rowStride: n, columnStride: 1),
                integer: false, vectorizable: true,
                epilogue: epilogue.map { epilogue in { builder, _, row, column, value in epilogue(&builder, row, column + .index(tailStart), value) } })
            // The generic kernel main used for the tail before schedules: dot products for a single column
            // (its block has k contiguous), the 4 x 2 register tile otherwise.
            let variant: KernelVariant = tail == 1 && k >= w ? .denseDot(weightRows: min(rows, smallRows) <= 2 ? 4 : 2) : .denseTile(rows: 4, vectors: 2)
            emitDenseProduct(product, pattern: "\(pattern), the \(tail) tail columns of the packed weight",
                             choice: DenseKernelChoice(variant: variant, parallel: isParallel(saturatingProduct([rows, tail, k]) / 8)))
        }
    }
}
