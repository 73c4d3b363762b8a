// What a kernel-bearing op asks of its kernel (sizes, weight layout and orientation, element types) and
// which kernel variants can compute it: shared by the verifier, the schedule pass and lowering's defaults.

import SieveIR

/// The product a matmul, gemm, fused_matmul or conv2d computes, in the terms kernel variants are chosen by.
///
/// Every product is `rows` activation rows times a weight of `outputs` x `reduction`:
/// `result[row][output] = sum_k a[row][k] * w[output][k]` (conv2d: per group, over im2col columns).
public struct KernelProblem: Hashable, Sendable {
    /// Which op family (conv2d runs over im2col columns).
    public enum Family: Hashable, Sendable { case matrixProduct, gemm, convolution }

    /// The op family.
    public var family: Family
    /// Activation rows in all (batch x rows for matrix products, images x pixels for conv2d).
    public var rows: Int
    /// Rows of one product (`m` of a batched matmul, the pixels of one image for conv2d).
    public var rowsPerProduct: Int
    /// Output features: weight rows (columns of the result; output channels of conv2d).
    public var outputs: Int
    /// The reduction length (conv2d: one group's channels x kernel height x kernel width).
    public var reduction: Int
    /// Copies of the weight (batched weights of a batched matmul; 1 otherwise).
    public var weightCopies: Int
    /// The N:M pattern of the weight, nil when dense.
    public var pattern: NMPattern?
    /// Whether the weight is stored [outputs, reduction] (transpose_b, or any conv2d weight).
    public var weightRowsAlongReduction: Bool
    /// Whether A is read with the reduction contiguous (not gemm's transpose_a).
    public var activationsAlongReduction: Bool
    /// Whether activations, weight and result are all f32 (vector kernels need it).
    public var allF32: Bool
    /// Whether the weight is a 2-D dense f32 constant (unquantized) read by this op alone and not
    /// a graph output, in a product of f32 activations and result: lowering may store it packed in panels.
    public var weightIsPackableConstant: Bool
    /// Bytes per stored weight element.
    public var weightElementBytes: Int
    /// Whether a gemm's alpha/beta need a scaling epilogue on integers (not supported by the N:M scatter).
    public var integerScaling: Bool
    /// Groups of a grouped conv2d (each computes `outputs / groups` channels over its own `reduction`); 1 otherwise.
    public var groups: Int = 1
    /// Whether it is a dynamic int8 product (`DynamicInt8`: f32 activations, a quantized i8 weight read with transpose_b).
    public var dynamicInt8 = false

    /// Activation rows up to which a dense product whose weight keeps k contiguous runs as dot products.
    public static let smallRows = 4

    /// The problem of a kernel-bearing op, or nil for other ops and for operands whose types are not ranked as
    /// the op's type rule demands (the verifier reports those).
    public static func make(_ op: Operation, in graph: Graph) -> KernelProblem? {
        guard op.operands.count >= 2, let a = graph.type(of: op.operands[0]), let b = graph.type(of: op.operands[1]),
              let result = op.results.first.flatMap({ graph.type(of: $0) }) else { return nil }
        let pattern = NMPattern(b.layout)
        let allF32 = a.elementType == .f32 && b.elementType == .f32 && result.elementType == .f32
        var packable = false
        let definingOps = graph.definingOps()
        if allF32, b.rank == 2, b.layout == .dense, b.quant == nil, let index = definingOps[op.operands[1].index],
           case .constant = graph.operations[index].kind, !graph.outputs.contains(op.operands[1]) {
            let weight = op.operands[1]
            let uses = graph.operations.reduce(0) { count, other in count + other.operands.filter { $0 == weight }.count }
            packable = uses == 1
        }
        switch op.kind {
        case let .matmul(transposeB), let .fusedMatmul(transposeB, _, _):
            guard a.rank >= 1, b.rank >= 1 else { return nil }
            let a2 = a.rank == 1 ? [1] + a.shape : a.shape
            let b2 = b.rank == 1 ? b.shape + [1] : b.shape
            let m = a2[a2.count - 2], k = a2[a2.count - 1]
            let n = transposeB ? b2[b2.count - 2] : b2[b2.count - 1]
            guard let outputsPerProduct = checkedProduct([m, n]), let copies = checkedProduct(Array(b2.dropLast(2))) else { return nil }
            let batches = max(1, (result.elementCount ?? 0) / max(1, outputsPerProduct))
            let weightCopies = max(1, copies)
            guard let rows = checkedProduct([batches, m]) else { return nil }
            var problem = KernelProblem(family: .matrixProduct, rows: rows, rowsPerProduct: m, outputs: n, reduction: k,
                                        weightCopies: weightCopies, pattern: pattern, weightRowsAlongReduction: transposeB,
                                        activationsAlongReduction: true, allF32: allF32,
                                        weightIsPackableConstant: packable, weightElementBytes: b.elementType.byteSize,
                                        integerScaling: false)
            if case .fusedMatmul = op.kind, DynamicInt8.isDynamicInt8(weight: b),
               DynamicInt8.problem(activations: a, weight: b, transposeB: transposeB) == nil {
                problem.dynamicInt8 = true
            }
            return problem
        case let .gemm(alpha, beta, transposeA, transposeB):
            guard a.rank == 2, b.rank == 2, result.rank == 2 else { return nil }
            let m = result.shape[0], n = result.shape[1]
            let k = transposeA ? a.shape[0] : a.shape[1]
            let integer = !result.elementType.isFloat
            return KernelProblem(family: .gemm, rows: m, rowsPerProduct: m, outputs: n, reduction: k, weightCopies: 1, pattern: pattern,
                                 weightRowsAlongReduction: transposeB, activationsAlongReduction: !transposeA, allF32: allF32,
                                 weightIsPackableConstant: packable, weightElementBytes: b.elementType.byteSize,
                                 integerScaling: integer && !(alpha == 1 && (beta == 1 || op.operands.count < 3)))
        case let .conv2d(attributes):
            guard a.rank == 4, b.rank == 4, result.rank == 4 else { return nil }
            // A depthwise convolution runs as its own loop nest, not as a product: no kernel variants to choose.
            if ConvolutionForm(input: a.shape, weight: b.shape, attributes: attributes,
                               directWeight: b.layout == .dense && b.elementType.isFloat) == .depthwise {
                return nil
            }
            guard let pixels = checkedProduct([result.shape[2], result.shape[3]]),
                  let patch = checkedProduct([b.shape[1], b.shape[2], b.shape[3]]),
                  let rows = checkedProduct([a.shape[0], pixels]) else { return nil }
            var problem = KernelProblem(family: .convolution, rows: rows, rowsPerProduct: pixels,
                                        outputs: b.shape[0], reduction: patch, weightCopies: 1, pattern: pattern,
                                        weightRowsAlongReduction: true, activationsAlongReduction: false,
                                        allF32: a.elementType == .f32 && result.elementType == .f32 && (pattern != nil || b.elementType == .f32),
                                        weightIsPackableConstant: false, weightElementBytes: b.elementType.byteSize, integerScaling: false,
                                        groups: max(1, a.shape[1] / max(1, b.shape[1])))
            // An ungrouped int8 convolution is the static int8 product over its pixel-major patch rows, and takes its
            // kernels (the int8 tile among them); grouped ones run one exact dot per pixel and channel.
            if DynamicInt8.isDynamicInt8(weight: b), DynamicInt8.convolutionProblem(input: a, weight: b) == nil, problem.groups == 1 {
                problem.dynamicInt8 = true
            }
            return problem
        default:
            return nil  // not a product (the `product` trait): no kernel problem
        }
    }

    /// Why `schedule` cannot compute this problem on any target, or nil. Rules that depend on the vector width
    /// are `admits`'s; lowering falls back to `defaultSchedule` where those fail.
    public func problem(with schedule: KernelSchedule) -> String? {
        let variant = schedule.variant
        if variant == .int8Tile {
            guard dynamicInt8 else { return "int8_tile needs a dynamic int8 product (a fused_matmul of f32 activations by a quantized i8 weight)" }
            if let pattern, !(pattern.n == 2 && pattern.m == 4) { return "int8_tile takes a dense or 2:4 weight, found \(pattern.n):\(pattern.m)" }
            let step = pattern == nil ? 4 : 8
            if reduction % step != 0 || reduction == 0 {
                return "int8_tile needs a reduction that is a positive multiple of \(step), found \(reduction)"
            }
            return nil
        }
        if variant.isNM && pattern == nil {
            return "\(variant.name) needs an N:M weight, but operand 1 is dense"
        }
        if !variant.isNM, let pattern {
            return "\(variant.name) needs a dense weight, but operand 1 is nm<\(pattern)>; use an nm_ variant"
        }
        switch variant {
        case .nmScatter:
            if family == .convolution || weightRowsAlongReduction {
                return "nm_scatter needs a weight whose groups run along the output columns (matmul or gemm without transpose_b)"
            }
            if integerScaling { return "nm_scatter does not apply integer alpha or beta other than 1" }
        case .nmDot, .nmBlocked:
            if family == .convolution || !weightRowsAlongReduction {
                return "\(variant.name) needs a weight stored [N, K] read by matmul, gemm or fused_matmul with transpose_b"
            }
            if !allF32 { return "\(variant.name) needs f32 activations, weight and result" }
            if variant == .nmDot && !activationsAlongReduction { return "nm_dot needs activations contiguous along k (no transpose_a)" }
        case .nmBroadcast:
            if !weightRowsAlongReduction { return "nm_broadcast needs a weight stored [N, K] (transpose_b) or a conv2d weight" }
            if !allF32 { return "nm_broadcast needs f32 activations, weight and result" }
        case .nmGather:
            if !weightRowsAlongReduction { return "nm_gather needs a weight stored [N, K] (transpose_b) or a conv2d weight" }
        case .denseDot:
            if !allF32 { return "dense_dot needs f32 activations, weight and result" }
            if family == .convolution || !weightRowsAlongReduction || !activationsAlongReduction {
                return "dense_dot needs a weight stored [N, K] (transpose_b) and activations contiguous along k"
            }
            if schedule.packing != .stored { return "dense_dot reads the weight as stored" }
        case .denseTile:
            if !allF32 { return "dense_tile needs f32 activations, weight and result" }
            if weightRowsAlongReduction && family != .convolution {
                return "dense_tile reads the weight along output columns, but this weight is stored [N, K] (transpose_b); use dense_dot, or dense_panel_stream/dense_panel_tile for a constant weight"
            }
        case .densePanels:
            if family == .convolution || !weightIsPackableConstant {
                return "\(variant.name) needs a 2-D dense f32 constant weight read by this matmul, gemm or fused_matmul alone (not an output) with f32 activations and result"
            }
        case .denseScalar, .int8Tile:
            break
        }
        if schedule.packing.isRowBlocks, let pattern {
            let name = schedule.packing.rawValue
            if !KernelProblem.rowBlocksFit(reduction: reduction, n: pattern.n, m: pattern.m) {
                return "packing = \(name) needs m of 4, 8 or 16, n dividing 64 and whole groups along k, found \(pattern.n):\(pattern.m) over \(reduction)"
            }
            if schedule.packing == .rows4InLane && !(pattern.m == 4 && (pattern.n == 1 || pattern.n == 2)) {
                return "packing = rows4_in_lane needs 1:4 or 2:4, found \(pattern.n):\(pattern.m); use rows4"
            }
            if weightCopies != 1 || !activationsAlongReduction { return "packing = \(name) needs a 2-D weight and activations contiguous along k" }
        }
        return nil
    }

    /// The vector-width-dependent conditions of a schedule's kernel: whether lowering for `vectorWidth` f32
    /// lanes can emit it as written.
    public func admits(_ schedule: KernelSchedule, vectorWidth: Int) -> Bool {
        guard problem(with: schedule) == nil else { return false }
        switch schedule.variant {
        case .nmBlocked(let kBlock, _, _):
            guard let pattern, rows >= vectorWidth else { return false }
            let unroll = max(1, 16 / pattern.n)
            return rows % vectorWidth == 0 && reduction % pattern.m == 0
                && (reduction / pattern.m) % unroll == 0 && kBlock % (unroll * pattern.m) == 0
        case .nmBroadcast:
            return family == .convolution || rows >= vectorWidth
        case .denseDot(let weightRows):
            return reduction >= vectorWidth && min(rowsPerProduct, KernelProblem.smallRows) * weightRows <= 16
        case .densePanels(let panels):
            // Whole vectors per panel and at most 32 accumulators (columns past the last full panel run as a tail).
            let vectors = panels.panelWidth / max(1, vectorWidth)
            return panels.panelWidth % vectorWidth == 0 && panels.rowTile * vectors <= 32
        case .denseTile:
            return family == .convolution ? rowsPerProduct >= vectorWidth : outputs >= vectorWidth
        case .denseScalar, .nmDot, .nmGather, .nmScatter, .int8Tile:
            return true
        }
    }

    /// The column vectors the blocked N:M kernel keeps in registers at once: the largest divisor of `vectors` up
    /// to 8, one accumulator each (8 chains cover 2 FMA units of 4 cycles' latency, and 8 accumulators, the
    /// broadcast value and a load fit AVX2's 16 registers); a wider batch runs as several panels of them. Each
    /// kept value's index is decoded once per panel, so wider panels decode less: at 128 rows, panels of 8
    /// instead of 4 vectors took the encoder's 2:4 products from 270 to 190 µs (AVX2) and 124 to 99 µs (AVX-512).
    public static func blockedPanelVectors(_ vectors: Int) -> Int {
        (1...8).last { vectors % $0 == 0 } ?? 1
    }

    /// Whether an N:M weight with `reduction` elements per row can be stored in blocks of 4 rows (`rows4`): m of
    /// 4, 8 or 16, n below m and dividing 64 (a chunk of kept values per row), whole groups along k.
    public static func rowBlocksFit(reduction: Int, n: Int, m: Int) -> Bool {
        reduction > 0 && [4, 8, 16].contains(m) && n >= 1 && n < m && 64 % n == 0 && reduction % m == 0
    }

    /// Whether the batch-1 row-block kernel is the default: it fits and its scalar tail (kept values past the
    /// last 64-value chunk) is at most an eighth of a row; below that one vectorised nm_dot per row is faster
    /// (the example MLP's 64-wide 2:4 layers ran ≈ 4 µs slower as all-tail row blocks).
    public static func rowBlocksPay(reduction: Int, n: Int, m: Int) -> Bool {
        guard rowBlocksFit(reduction: reduction, n: n, m: m) else { return false }
        let kept = reduction / m * n
        return kept % 64 * 8 <= kept
    }

    /// The k block of the blocked N:M kernel that keeps about 24 KiB of activations ([k][rows] f32) in L1.
    public func defaultKBlock(vectorWidth: Int, panelBytes: Int = 24 * 1024) -> Int {
        guard let pattern else { return 0 }
        let unroll = max(1, 16 / pattern.n)
        let stepGroups = unroll * pattern.m
        // The panel in L1 is one k block of the columns the kernel accumulates at once (a wide batch runs in panels).
        let panelColumns = rows >= vectorWidth && rows % vectorWidth == 0
            ? Self.blockedPanelVectors(rows / vectorWidth) * vectorWidth : rows
        let blockGroups = max(unroll, (panelBytes / (4 * max(1, panelColumns))) / stepGroups * unroll)
        return blockGroups * pattern.m
    }

    /// The blocked N:M kernel's default tile of weight rows: it accumulates into `tileRows` result rows of all the
    /// activation rows once per k block, so those should stay in L1 beside the activation panel (16 KiB of them:
    /// on Zen 5 the encoder's 2:4 products over 128 rows ran 1.5x faster in tiles of 32 rows than of 64).
    public var defaultTileRows: Int {
        [64, 32, 16].first { $0 * rows * 4 <= 16 * 1024 } ?? 8
    }

    /// The multiply-adds of the product (N:M: kept weights only).
    public var multiplyAdds: Int {
        let dense = [rows, outputs, reduction].reduce(1) { partial, factor in
            let (product, overflow) = partial.multipliedReportingOverflow(by: factor)
            return overflow ? Int.max : product
        }
        guard let pattern else { return dense }
        return dense / pattern.m * pattern.n
    }

    /// Lowering's choice when an op carries no schedule: the rules the native backend used before the
    /// schedule pass existed, from the vector width alone.
    ///
    /// - N:M with weight rows along the reduction: the blocked kernel over transposed activations (`defaultKBlock`,
    ///   `defaultTileRows`) when there are at least a vector of activation rows (broadcast when the blocked kernel does not fit), otherwise nm_dot per
    ///   row (f32; over 4-row blocks, `rows4`, where `rowBlocksPay`, `rows4_in_lane` for 1:4 and 2:4 on 8 lanes) or the scalar gather; conv2d broadcasts over pixel vectors; groups along columns scatter.
    /// - Dense over a packable constant weight (`weightIsPackableConstant`) of at least a vector of columns: the weight
    ///   packed in panels with `denseProductSchedule`'s choice (streaming for up to 4 rows, a register tile beyond).
    /// - Other dense f32 products with the weight stored [N, K] and A contiguous along k: dot products along k, 4 weight
    ///   rows per step for up to 2 rows of A at a time, 2 beyond; otherwise a register tile of 8 x 2 vectors on 16
    ///   lanes, 6 x 2 on 8, 4 x 2 on 4 (rows: of A, a convolution's output channels); scalar loops
    ///   for non-f32 or where the vector kernels do not fit.
    /// - Parallel when the work exceeds `parallelThreshold` (multiply-adds / 8 for dense, / 4 for N:M).
    public func defaultSchedule(vectorWidth: Int, parallelThreshold: Int) -> KernelSchedule {
        let work = multiplyAdds
        if pattern != nil {
            let parallel = work / 4 >= parallelThreshold
            if family == .convolution {
                let variant: KernelVariant = allF32 ? .nmBroadcast : .nmGather
                return KernelSchedule(variant: variant, parallel: parallel ? .rows : .none)
            }
            if !weightRowsAlongReduction { return KernelSchedule(variant: .nmScatter, parallel: parallel ? .groups : .none) }
            if allF32 && rows >= vectorWidth {
                let blocked = KernelSchedule(variant: .nmBlocked(kBlock: defaultKBlock(vectorWidth: vectorWidth), tileRows: defaultTileRows,
                                                                 prefetchRows: 8),
                                             parallel: parallel ? .rowTiles : .none)
                if admits(blocked, vectorWidth: vectorWidth) { return blocked }
                return KernelSchedule(variant: .nmBroadcast, parallel: parallel ? .rows : .none)
            }
            var dot = KernelSchedule(variant: .nmDot, parallel: parallel ? .rows : .none)
            if let pattern, KernelProblem.rowBlocksPay(reduction: reduction, n: pattern.n, m: pattern.m) {
                var blocks = dot
                // 8 lanes (AVX2): the values in the order the in-lane permute fills, where the pattern has one.
                let inLane = vectorWidth == 8 && pattern.m == 4 && (pattern.n == 1 || pattern.n == 2)
                blocks.packing = inLane ? .rows4InLane : .rows4
                if admits(blocks, vectorWidth: vectorWidth) { dot = blocks }
            }
            return admits(dot, vectorWidth: vectorWidth) ? dot : KernelSchedule(variant: .nmGather, parallel: parallel ? .rows : .none)
        }
        let parallel: ParallelAxis = work / 8 >= parallelThreshold ? .columns : .none
        if weightIsPackableConstant, family != .convolution,
           let panels = denseProductSchedule(rows: rows, n: outputs, k: reduction, vectorWidth: vectorWidth,
                                             threads: DenseProductSchedule.plannedThreads) {
            let packed = KernelSchedule(variant: .densePanels(panels), packing: .panels, parallel: parallel)
            if admits(packed, vectorWidth: vectorWidth) { return packed }
        }
        let dot = KernelSchedule(variant: .denseDot(weightRows: min(rowsPerProduct, KernelProblem.smallRows) <= 2 ? 4 : 2), parallel: parallel)
        if admits(dot, vectorWidth: vectorWidth) { return dot }
        // 8 x 2 accumulators on 32 vector registers (AVX-512), 6 x 2 on 16 (AVX2, leaving room for the loads and the
        // broadcast): enough independent FMA chains to cover their latency. Measured on Zen 5 with autotune, 8 x 2 ran
        // up to 1.5x the 4 x 2 tile on PP-OCRv4's 1x1 convolutions and 1.8x on the encoder's attention scores.
        let wideRows = vectorWidth >= 16 ? 8 : vectorWidth == 8 ? 6 : 4
        let tileRows = (family == .convolution ? outputs : rowsPerProduct) >= wideRows ? wideRows : 4
        let tile = KernelSchedule(variant: .denseTile(rows: tileRows, vectors: 2), parallel: parallel)
        if admits(tile, vectorWidth: vectorWidth) { return tile }
        return KernelSchedule(variant: .denseScalar, parallel: parallel)
    }
}

/// The product of `factors`, or nil when it overflows (shapes of ill-typed or absurd ops reach `make`).
private func checkedProduct(_ factors: [Int]) -> Int? {
    var total = 1
    for factor in factors {
        let (result, overflow) = total.multipliedReportingOverflow(by: factor)
        if overflow { return nil }
        total = result
    }
    return total
}
