// The issue model's counts: for every kernel variant, the loops lowering emits and what one iteration of each issues
// (FMAs, loads, shuffles, other instructions, accumulator chains), read off SieveKernel's emitters and the C runtime.

import SieveIR

/// One loop of a kernel: how many times its body runs and what one run issues, in the target's full-width vectors.
public struct LoopWork: Hashable, Sendable {
    /// Times the body runs.
    public var iterations: Double
    /// Vector FMAs (a scalar FMA takes an FMA slot too).
    public var fmas: Double = 0
    /// Full-width vector loads, whether into a register or folded into an FMA.
    public var vectorLoads: Double = 0
    /// Other loads: scalars, broadcasts from memory, prefetches.
    public var otherLoads: Double = 0
    /// Shuffles: permutes, broadcasts of a lane or of a general register.
    public var shuffles: Double = 0
    /// Other instructions: integer and vector arithmetic, stores, loop control.
    public var otherInstructions: Double = 0
    /// Loads that are an FMA's memory operand (no instruction of their own).
    public var foldedLoads: Double = 0
    /// Independent accumulator chains the FMAs spread over; 0 when FMAs do not chain.
    public var chains: Double = 0
    /// Cycles a dependency inside one iteration takes at least (0: none counted beyond the FMA chains).
    public var latencyCycles: Double = 0

    /// Makes a loop's counts.
    public init(iterations: Double, fmas: Double = 0, vectorLoads: Double = 0, otherLoads: Double = 0, shuffles: Double = 0,
                otherInstructions: Double = 0, foldedLoads: Double = 0, chains: Double = 0, latencyCycles: Double = 0) {
        self.iterations = iterations
        self.fmas = fmas
        self.vectorLoads = vectorLoads
        self.otherLoads = otherLoads
        self.shuffles = shuffles
        self.otherInstructions = otherInstructions
        self.foldedLoads = foldedLoads
        self.chains = chains
        self.latencyCycles = latencyCycles
    }

    /// Instructions one iteration issues.
    public var instructions: Double {
        fmas + max(0, vectorLoads + otherLoads - foldedLoads) + shuffles + otherInstructions
    }

    /// The loops of `variant` computing `problem` with `lanes` f32 lanes per vector (DenseKernels.swift,
    /// PackedDenseKernels.swift, NMKernels.swift and the runtime's `sieve_nm_dot_f32` / `sieve_nm_rows4_f32`).
    public static func loops(_ variant: KernelVariant, _ problem: KernelProblem, lanes: Int) -> [LoopWork] {
        let w = max(1, lanes)
        // Products of `m` rows of A by `n` columns over `k`: a convolution's register tile runs over output channels
        // of one group (rows) by pixels (vectors), per group and image; a matrix product's per batch.
        let convolution = problem.family == .convolution
        let products = convolution ? problem.groups * max(1, problem.rows / max(1, problem.rowsPerProduct))
                                   : max(1, problem.rows / max(1, problem.rowsPerProduct))
        let m = convolution ? max(1, problem.outputs / max(1, problem.groups)) : max(1, problem.rowsPerProduct)
        let n = convolution ? problem.rowsPerProduct : problem.outputs
        let k = problem.reduction
        let keptPerRow = problem.pattern.map { Double(k / $0.m * $0.n) } ?? Double(k)
        if problem.dynamicInt8 { return variant == .int8Tile ? int8TileLoops(problem, lanes: w) : int8DotLoops(problem, lanes: w) }
        switch variant {
        case .denseScalar:
            // One scalar FMA per multiply-add on one chain, its operands loaded.
            return [LoopWork(iterations: Double(problem.multiplyAdds), fmas: 1, otherLoads: 2, otherInstructions: 2, chains: 1)]
        case let .denseTile(rows, vectors):
            return tileLoops(products: products, m: m, n: n, k: k, rows: rows, vectors: vectors, lanes: w)
        case let .denseDot(weightRows):
            return dotLoops(products: products, m: m, n: n, k: k, columns: weightRows, lanes: w)
        case let .densePanels(panels):
            return panelLoops(panels, rows: problem.rows, n: n, k: k, lanes: w)
        case .nmDot:
            return nmDotLoops(problem, lanes: w, keptPerRow: keptPerRow)
        case .nmGather:
            // Scalar: value, index byte and activation loads, decode (shift, mask, add), one FMA on 8 chains.
            return [LoopWork(iterations: Double(problem.multiplyAdds), fmas: 1, otherLoads: 3, otherInstructions: 4, chains: 8)]
        case .nmScatter:
            // Scalar read-modify-write of the result column per kept value.
            return [LoopWork(iterations: Double(problem.multiplyAdds), fmas: 1, otherLoads: 3, otherInstructions: 6)]
        case .nmBroadcast:
            // Per kept value and column vector: the value broadcast from memory, its index decoded, the activation
            // vector folded into the FMA; 4 chains (unroll of 4 / n groups).
            let vectors = Double(max(1, problem.rows / w))
            return [LoopWork(iterations: Double(problem.outputs) * keptPerRow * vectors, fmas: 1, vectorLoads: 1, otherLoads: 2,
                             otherInstructions: 5, foldedLoads: 1, chains: 4)]
        case let .nmBlocked(kBlock, _, _):
            return blockedLoops(problem, kBlock: kBlock, lanes: w, keptPerRow: keptPerRow)
        case .int8Tile:
            return int8TileLoops(problem, lanes: w)
        }
    }

    /// Activation rows of one register tile of the runtime's `sieve_int8_tile`: 8 with AVX-512 (taken to have VNNI),
    /// 4 with AVX2 (its 16 registers hold 4 rows by 8 columns in two int32 halves).
    public static func int8TileRows(lanes: Int) -> Int { lanes >= 16 ? 8 : 4 }

    /// The runtime's `sieve_int8_tile` (an int8 product instruction, vpdpbusd or vpmaddwd, takes an FMA slot; 16 lanes
    /// are taken to have AVX-512 VNNI). AVX-512: tiles of 8 rows by 2 panels of 16 columns, per step of 4 elements of
    /// k (dense) a load per panel, a broadcast per row and 16 vpdpbusd; 2:4 per 8 elements: values and index loads
    /// and a 3-instruction decode per panel, per row a broadcast, and per row and panel a vpshufb and a vpdpbusd.
    /// AVX2: tiles of 4 rows by 8 columns, operands widened to int16: per step two sign-extending loads, per row a
    /// widened broadcast and two vpmaddwd and adds (2:4: plus two vpshufb per row and an 8-instruction decode).
    static func int8TileLoops(_ problem: KernelProblem, lanes w: Int) -> [LoopWork] {
        let rows = int8TileRows(lanes: w), sparse = problem.pattern != nil
        let columns = w >= 16 ? 32 : 8
        let tiles = Double((problem.rows + rows - 1) / rows) * Double((problem.outputs + columns - 1) / columns)
        let steps = Double(problem.reduction / (sparse ? 8 : 4))
        let r = Double(rows)
        var step: LoopWork
        if w >= 16 {
            let products = 2 * r
            step = sparse ? LoopWork(iterations: tiles * steps, fmas: products, vectorLoads: 4, otherLoads: r, shuffles: products + 4,
                                     otherInstructions: 4, chains: products)
                          : LoopWork(iterations: tiles * steps, fmas: products, vectorLoads: 2, otherLoads: r, otherInstructions: 2,
                                     chains: products)
        } else {
            let products = 2 * r
            step = sparse ? LoopWork(iterations: tiles * steps, fmas: products, vectorLoads: 4, otherLoads: r, shuffles: 2 * r + 4,
                                     otherInstructions: products + 18, chains: products)
                          : LoopWork(iterations: tiles * steps, fmas: products, vectorLoads: 2, otherLoads: r, shuffles: 2 * r + 2,
                                     otherInstructions: products + 2, chains: products)
        }
        // Accumulators zeroed and stored, the tile dispatched.
        return [step, LoopWork(iterations: tiles, otherInstructions: 4 * r + 12)]
    }

    /// One exact dot per activation row and output channel (`sieve_dot_u8i8`, `sieve_nm_dot_u8i8`): per vector of
    /// u8 activations (4 per f32 lane) a vpdpbusd on 4 chains (AVX2: two widening loads, vpmaddwd and an add per half
    /// vector); 2:4 adds the index decode and a byte permute per vector of kept values (AVX2: a table lookup per
    /// 4 kept values); a horizontal sum per dot.
    static func int8DotLoops(_ problem: KernelProblem, lanes w: Int) -> [LoopWork] {
        let dots = Double(problem.rows) * Double(problem.outputs)
        let bytesPerVector = 4 * w
        let kept = problem.pattern.map { problem.reduction / $0.m * $0.n } ?? problem.reduction
        let vectors = Double((kept + bytesPerVector - 1) / bytesPerVector)
        let sparse = problem.pattern != nil
        let step: LoopWork
        if w >= 16 {
            step = LoopWork(iterations: dots * vectors, fmas: 1, vectorLoads: sparse ? 4 : 2, shuffles: sparse ? 2 : 0,
                            otherInstructions: sparse ? 3 : 1, chains: 4)
        } else {
            step = LoopWork(iterations: dots * vectors * 2, fmas: 1, vectorLoads: 2, otherLoads: sparse ? 4 : 0, shuffles: sparse ? 4 : 2,
                            otherInstructions: sparse ? 8 : 2, chains: 2)
        }
        return [step, LoopWork(iterations: dots, shuffles: 4, otherInstructions: 16)]
    }

    /// `DenseKernels.emitDenseProduct`'s register tile: per k step `vectors` loads of B, one broadcast of A per row
    /// and rows x vectors FMAs on as many chains; the row tail as one tile of the remaining rows, column tails by
    /// single vectors, the last one overlapping the columns before it.
    static func tileLoops(products: Int, m: Int, n: Int, k: Int, rows: Int, vectors: Int, lanes w: Int) -> [LoopWork] {
        let blocks = n / (vectors * w)
        let vectorTail = (n - blocks * vectors * w) / w, scalarTail = n % w
        let p = Double(products), kk = Double(k)
        // Fewer columns than a vector: the kernel runs scalar loops, one FMA chain per element.
        guard n >= w else { return [LoopWork(iterations: p * Double(n * m) * kk, fmas: 1, otherLoads: 2, otherInstructions: 2, chains: 1)] }
        let tiles = m / rows, tailRows = m % rows
        func tile(_ count: Double, _ r: Int, _ v: Int) -> [LoopWork] {
            guard count > 0 else { return [] }
            let fmas = Double(r * v)
            return [LoopWork(iterations: count * kk, fmas: fmas, vectorLoads: Double(v), otherLoads: Double(r), otherInstructions: 2,
                             chains: fmas),
                    // Accumulators zeroed and stored, the loop entered.
                    LoopWork(iterations: count, otherInstructions: 2 * fmas + 6)]
        }
        var loops: [LoopWork] = []
        let tailTiles = tailRows > 0 ? 1 : 0
        loops += tile(p * Double(blocks * tiles), rows, vectors)
        loops += tile(p * Double(blocks * tailTiles), tailRows, vectors)
        loops += tile(p * Double(vectorTail * tiles), rows, 1)
        loops += tile(p * Double(vectorTail * tailTiles), tailRows, 1)
        if scalarTail > 0 {
            // Columns past the last whole vector: one more vector, ending at column n, overlapping the ones before it.
            loops += tile(p * Double(tiles), rows, 1)
            loops += tile(p * Double(tailTiles), tailRows, 1)
        }
        return loops
    }

    /// `DenseKernels.emitDotProducts`: per step of a vector along k, up to 4 rows of A by `columns` weight rows,
    /// every operand a vector load; a horizontal sum per result.
    static func dotLoops(products: Int, m: Int, n: Int, k: Int, columns: Int, lanes w: Int) -> [LoopWork] {
        let step = min(m, 4)
        let vectorSteps = Double(k / w), scalarSteps = Double(k % w)
        let p = Double(products)
        let reduceSteps = Double(w.trailingZeroBitCount)
        func block(_ count: Double, _ r: Int, _ c: Int) -> [LoopWork] {
            guard count > 0 else { return [] }
            let fmas = Double(r * c)
            // A vector used by one FMA is folded into it.
            let folded = Double(r == 1 ? c : 0) + Double(c == 1 ? r : 0) - Double(r == 1 && c == 1 ? 1 : 0)
            var loops = [LoopWork(iterations: count * vectorSteps, fmas: fmas, vectorLoads: Double(r + c), otherInstructions: 2,
                                  foldedLoads: folded, chains: fmas)]
            // Each result: a horizontal sum (a shuffle and an add per halving), the scalar tail, the store.
            loops.append(LoopWork(iterations: count * fmas, shuffles: reduceSteps, otherInstructions: reduceSteps + 4,
                                  latencyCycles: 0))
            if scalarSteps > 0 {
                loops.append(LoopWork(iterations: count * fmas * scalarSteps, fmas: 1, otherLoads: 2, otherInstructions: 2, chains: 1))
            }
            return loops
        }
        let columnBlocks = n / columns, columnTail = n % columns
        var loops: [LoopWork] = []
        loops += block(p * Double(columnBlocks * (m / step)), step, columns)
        loops += block(p * Double(m % step > 0 ? columnBlocks : 0), m % step, columns)
        loops += block(p * Double(columnTail * (m / step)), step, 1)
        loops += block(p * Double(m % step > 0 ? columnTail : 0), m % step, 1)
        return loops
    }

    /// `PackedDenseKernels.emitPackedProduct`: per k step of a row tile, one vector load per panel vector, one
    /// broadcast per row, rows x vectors FMAs, and with prefetch a prefetch and its clamp (a compare and a select)
    /// per 64-byte line of the panel row; accumulators reloaded and stored per depth block; the tail columns as the
    /// 4 x 2 register tile.
    static func panelLoops(_ panels: DenseProductSchedule, rows: Int, n: Int, k: Int, lanes w: Int) -> [LoopWork] {
        let vectors = max(1, panels.panelWidth / w), rowTile = max(1, panels.rowTile)
        let panelCount = n / max(1, panels.panelWidth)
        let lines = panels.prefetchDistance > 0 ? Double(max(1, panels.panelWidth / 16)) : 0
        let depthBlocks = Double((k + max(1, panels.depthBlock) - 1) / max(1, panels.depthBlock))
        let tiles = rows / rowTile, tailRows = rows % rowTile
        func tile(_ count: Double, _ r: Int) -> [LoopWork] {
            guard count > 0 else { return [] }
            let fmas = Double(r * vectors)
            return [LoopWork(iterations: count * Double(k), fmas: fmas, vectorLoads: Double(vectors), otherLoads: Double(r) + lines,
                             otherInstructions: 3 + 2 * lines, chains: fmas),
                    LoopWork(iterations: count * depthBlocks, vectorLoads: fmas, otherInstructions: 2 * fmas + 8)]
        }
        var loops = tile(Double(panelCount * tiles), rowTile) + tile(Double(tailRows > 0 ? panelCount : 0), tailRows)
        let tail = n - panelCount * panels.panelWidth
        if tail > 0 {
            loops += tail == 1 && k >= w ? dotLoops(products: 1, m: rows, n: 1, k: k, columns: 1, lanes: w)
                                         : tileLoops(products: 1, m: rows, n: tail, k: k, rows: 4, vectors: 2, lanes: w)
        }
        return loops
    }

    /// `sieve_nm_dot_f32` and `sieve_nm_rows4_f32` (the runtime): 2:4 decodes a vector of kept values' indices in
    /// registers (an index word broadcast from a general register, a variable shift, a mask and an add) and fetches
    /// the activations with a two-source permute (AVX-512) or two in-lane permutes and a blend from windows that
    /// four rows share (AVX2, `rows4_in_lane`), then one FMA; other patterns run the scalar loop.
    static func nmDotLoops(_ problem: KernelProblem, lanes w: Int, keptPerRow: Double) -> [LoopWork] {
        let kept = Double(problem.rows) * Double(problem.outputs) * keptPerRow
        guard let pattern = problem.pattern, pattern.n == 2, pattern.m == 4, w >= 8 else {
            return [LoopWork(iterations: kept, fmas: 1, otherLoads: 3, otherInstructions: 4, chains: 4)]
        }
        let vectors = kept / Double(w)
        let perRow = LoopWork(iterations: Double(problem.rows * problem.outputs), shuffles: Double(w.trailingZeroBitCount),
                              otherInstructions: Double(w.trailingZeroBitCount) + 8)
        if w >= 16 {
            // Two activation loads per vector (shared by the four rows of a row block).
            return [LoopWork(iterations: vectors, fmas: 1, vectorLoads: 1, otherLoads: 1, shuffles: 2, otherInstructions: 3.5,
                             foldedLoads: 1, chains: 4), perRow]
        }
        // AVX2: the in-lane order of row blocks needs two in-lane permutes, a blend and a shift per vector; the
        // stored order two lane-crossing permutes, a mask, an add, a shift and a variable blend.
        return [LoopWork(iterations: vectors, fmas: 1, vectorLoads: 1.5, otherLoads: 0.5, shuffles: 2.5, otherInstructions: 3,
                         foldedLoads: 1, chains: 8), perRow]
    }

    /// `NMKernels.emitBlockedSparseRows`: per kept value and panel, the index field taken from a whole byte (a copy,
    /// a shift and a mask: gcc copies the byte before each shift), its activation row's address (an add, a scale),
    /// the value splatted from a vector of kept values (a shuffle) or broadcast from memory, and one FMA per panel
    /// vector with the activation vector folded in; per step of kept values the prefetch address clamps (a compare
    /// and three conditional moves), loop control, and the splat indices that do not fit the registers beside the
    /// accumulators rebuilt (5 of 16); per row, k block and panel the chains are summed into the result in L1.
    /// Read off gcc 12's code for the 2:4 layer at batch 32 (AVX-512): 144 instructions per 16 kept values, 9 of
    /// them per step.
    static func blockedLoops(_ problem: KernelProblem, kBlock: Int, lanes w: Int, keptPerRow: Double) -> [LoopWork] {
        guard let pattern = problem.pattern else { return [] }
        let vectors = max(1, problem.rows / w)
        let panelVectors = KernelProblem.blockedPanelVectors(vectors)
        let panels = Double(vectors / panelVectors)
        let unroll = max(1, 16 / pattern.n)
        let stepKept = unroll * pattern.n
        let chainsPerVector = Double(max(1, min(stepKept, 8 / panelVectors)))
        let splat = stepKept % w == 0
        let p = Double(panelVectors)
        let outputs = Double(problem.outputs)
        let bits = Double(max(1, pattern.m.trailingZeroBitCount))
        let perKept = LoopWork(
            iterations: outputs * keptPerRow * panels, fmas: p, vectorLoads: p + (splat ? 1 / Double(w) : 0),
            otherLoads: (splat ? 0 : 1) + bits / 8 + 2 / Double(stepKept), shuffles: splat ? 1 : 0,
            otherInstructions: 5 + 9 / Double(stepKept), foldedLoads: p, chains: p * chainsPerVector)
        let blocks = Double((problem.reduction / pattern.m + max(1, kBlock / pattern.m) - 1) / max(1, kBlock / pattern.m))
        let perBlock = LoopWork(iterations: outputs * blocks * panels, vectorLoads: p,
                                otherInstructions: p * chainsPerVector * 2 + 2 * p + 6)
        return [perKept, perBlock]
    }
}

/// What a kernel without a schedule does per element of its result, for the issue model's compute term.
public enum StreamingWork: Hashable, Sendable {
    /// Copies and reorders elements one at a time (transpose, gather, concat, slice, pad): a load and a store
    /// with their index arithmetic.
    case copy
    /// A vectorised elementwise op: per vector two loads, the op, a store and loop control.
    case elementwise
    /// An elementwise op with an exponential, logarithm, power or other polynomial (about 20 vector instructions).
    case transcendental
    /// A reduction along an axis (reduce, pooling): a load and an add per element.
    case reduction
    /// Layer or group normalisation: mean and variance in f64 on 4 chains (convert, add; subtract, FMA), then a
    /// scaled, shifted store: three passes of scalar work per element.
    case normalization
    /// Softmax along a contiguous axis: a max pass, an exponential pass that stores and sums, a scaling pass.
    case softmax
    /// A depthwise convolution's direct loop nest (`emitDepthwiseConvolution`), which has no schedule: per tap an FMA
    /// per output vector of interior columns, or a bounds-checked scalar FMA per border or strided output element.
    case depthwise(DepthwiseGeometry)

    /// The class of a kernel without a schedule from its graph op: a depthwise convolution by its geometry (its
    /// input and weight shapes say how many taps each output element takes), every other op by its kind.
    public init(_ op: Operation, in graph: Graph) {
        if case let .conv2d(attributes) = op.kind, op.operands.count >= 2, let x = graph.type(of: op.operands[0]),
           let weight = graph.type(of: op.operands[1]), let y = op.results.first.flatMap({ graph.type(of: $0) }),
           x.rank == 4, weight.rank == 4, y.rank == 4,
           ConvolutionForm(input: x.shape, weight: weight.shape, attributes: attributes,
                           directWeight: weight.layout == .dense && weight.elementType.isFloat) == .depthwise {
            self = .depthwise(DepthwiseGeometry(
                rows: x.shape[0] * x.shape[1] * y.shape[2], outputWidth: y.shape[3], inputWidth: x.shape[3],
                kernelHeight: weight.shape[2], kernelWidth: weight.shape[3], strideX: attributes.strides[1],
                dilationX: attributes.dilations[1], padLeft: attributes.pads[1], vectorizable: x.elementType == .f32 && y.elementType == .f32))
            return
        }
        self.init(op.kind)
    }

    /// The class of a kernel without a schedule, from the graph op it computes (nil: a product's other kernels,
    /// which pack or transpose its operands, copy).
    public init(_ kind: OpKind?) {
        switch kind {
        case .softmax, .logSoftmax: self = .softmax
        case .layerNorm: self = .normalization
        case let .unary(function): self = function.isTranscendental ? .transcendental : .elementwise
        case .binary(.pow): self = .transcendental
        case .reduce, .argExtreme, .cumSum, .topK, .maxPool, .averagePool, .globalAveragePool, .globalMaxPool: self = .reduction
        case .binary, .cast, .where, .quantize, .dequantize, .batchNorm, .constant, nil: self = .elementwise
        default: self = .copy
        }
    }

    /// The loops of `elements` result elements with `lanes` f32 lanes per vector.
    public func loops(elements: Int, lanes: Int) -> [LoopWork] {
        let count = Double(elements), vectors = Double(elements) / Double(max(1, lanes))
        switch self {
        case .copy:
            return [LoopWork(iterations: count, otherLoads: 1, otherInstructions: 3)]
        case .elementwise:
            return [LoopWork(iterations: vectors, vectorLoads: 2, otherInstructions: 4, foldedLoads: 1)]
        case .transcendental:
            return [LoopWork(iterations: vectors, vectorLoads: 1, otherInstructions: 22)]
        case .reduction:
            return [LoopWork(iterations: count, otherLoads: 1, otherInstructions: 2, latencyCycles: 0)]
        case .normalization:
            // f64 adds of 3 cycles on 4 chains, then FMAs of 4 cycles on 4 chains, then the scalar scale-and-shift.
            return [LoopWork(iterations: count, otherLoads: 1, otherInstructions: 2, latencyCycles: 0.75),
                    LoopWork(iterations: count, otherLoads: 1, otherInstructions: 3, latencyCycles: 1),
                    LoopWork(iterations: count, otherLoads: 1, otherInstructions: 1)]
        case let .depthwise(geometry):
            return geometry.loops(lanes: lanes)
        case .softmax:
            return [LoopWork(iterations: vectors, vectorLoads: 1, otherInstructions: 3, foldedLoads: 1),
                    // The exponential's polynomial is a chain of about 12 dependent operations of 4 cycles; two
                    // vectors of a row overlap, the row's sum is one more chain.
                    LoopWork(iterations: vectors, vectorLoads: 1, otherInstructions: 26, latencyCycles: 24),
                    LoopWork(iterations: vectors, vectorLoads: 1, otherInstructions: 4, foldedLoads: 1)]
        }
    }
}

/// The shape of a depthwise convolution as its direct loop nest sees it (`LowerConvolution.emitDepthwiseConvolution`).
public struct DepthwiseGeometry: Hashable, Sendable {
    /// Output rows of all planes (batch x channels x output height).
    public var rows: Int
    /// Output and input columns.
    public var outputWidth: Int, inputWidth: Int
    /// Filter height and width.
    public var kernelHeight: Int, kernelWidth: Int
    /// Column stride, column dilation and left padding.
    public var strideX: Int, dilationX: Int, padLeft: Int
    /// Whether the operands are f32 (else every column is scalar).
    public var vectorizable: Bool

    /// Makes a geometry.
    public init(rows: Int, outputWidth: Int, inputWidth: Int, kernelHeight: Int, kernelWidth: Int, strideX: Int, dilationX: Int,
                padLeft: Int, vectorizable: Bool) {
        self.rows = rows
        self.outputWidth = outputWidth
        self.inputWidth = inputWidth
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideX = strideX
        self.dilationX = dilationX
        self.padLeft = padLeft
        self.vectorizable = vectorizable
    }

    /// The loops with `lanes` f32 lanes: interior columns (stride 1) in steps of up to 4 vectors, `taps` FMAs per
    /// vector with the input folded in (the taps stay in registers), a row bounds check per filter row; the other
    /// columns `taps` scalar FMAs each with the input folded in, an index, and the two bounds checks as one
    /// unsigned compare and a branch per tap. Every output starts its own accumulators, so the out-of-order core
    /// overlaps consecutive outputs: no chain bound.
    public func loops(lanes w: Int) -> [LoopWork] {
        let taps = Double(kernelHeight * kernelWidth)
        let interiorLow = min(outputWidth, padLeft)
        let interiorHigh = max(interiorLow, min(outputWidth, inputWidth + padLeft - (kernelWidth - 1) * dilationX))
        let vectors = strideX == 1 && w > 1 && vectorizable ? (interiorHigh - interiorLow) / w : 0
        let perStep = min(4, vectors)
        let rowCount = Double(rows)
        var loops: [LoopWork] = []
        func step(_ count: Int, _ width: Int) {
            guard count > 0, width > 0 else { return }
            let v = Double(width)
            loops.append(LoopWork(iterations: rowCount * Double(count), fmas: v * taps, vectorLoads: v * taps,
                                  otherInstructions: Double(kernelHeight) * 3 + v * 2 + 3, foldedLoads: v * taps))
        }
        if perStep > 0 {
            step(vectors / perStep, perStep)
            step(vectors % perStep, 1)
        }
        let scalarColumns = Double(outputWidth - vectors * w)
        if scalarColumns > 0 {
            loops.append(LoopWork(iterations: rowCount * scalarColumns, fmas: taps, otherLoads: taps,
                                  otherInstructions: taps * 3 + Double(kernelHeight) * 3 + 4, foldedLoads: taps))
        }
        return loops
    }
}
