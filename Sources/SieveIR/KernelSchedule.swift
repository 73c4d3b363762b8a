// The `schedule` attribute of kernel-bearing ops (matmul, gemm, fused_matmul, conv2d): which kernel variant
// lowering emits, with its parameters, weight packing and parallel split, plus the cost model's estimate.

/// How a kernel-bearing op is computed: chosen by the `schedule` pass, read by lowering.
///
/// Text form, as the last entry of the op's attribute dictionary:
/// `schedule = nm_blocked<k_block = 192, tile_rows = 64, prefetch_rows = 8, packing = stored, parallel = row_tiles,
/// estimate = cost<time_ns = 8100000, bytes = 36175872, flops = 1073741824, bound = compute, threads = 2>>`.
public struct KernelSchedule: Hashable, Sendable {
    /// The kernel and its parameters.
    public var variant: KernelVariant
    /// How the weight is laid out in the artifact's weights blob.
    public var packing: WeightPacking
    /// The loop split across the thread pool, or `.none` to run on the calling thread.
    public var parallel: ParallelAxis
    /// What the cost model (and, with `--autotune`, a measurement) expects of this choice; nil when written by hand.
    public var estimate: ScheduleEstimate?

    /// Makes a schedule.
    public init(variant: KernelVariant, packing: WeightPacking = .stored, parallel: ParallelAxis, estimate: ScheduleEstimate? = nil) {
        self.variant = variant
        self.packing = packing
        self.parallel = parallel
        self.estimate = estimate
    }
}

/// A kernel variant with its parameters. Adding a variant: a case here, its spelling in `name`/`fields`/`parse`,
/// its parameter limits and rules in SieveTarget (`parameterProblem`, `KernelProblem.problem(with:)` and `admits`),
/// its cost in SieveTarget's cost model and its emitter in SieveKernel.
public enum KernelVariant: Hashable, Sendable {
    /// Dense: scalar loops (integer elements, strided operands, tiny shapes).
    case denseScalar
    /// Dense, few activation rows and a weight stored [N, K]: each output a dot product along k in vectors,
    /// `weightRows` weight rows per step so each activation vector is loaded once for all of them.
    case denseDot(weightRows: Int)
    /// Dense register tile: `rows` activation rows by `vectors` vectors of output columns, accumulated over k.
    case denseTile(rows: Int, vectors: Int)
    /// Dense over a constant f32 weight packed at compile time into column panels (packing `panels`): the
    /// streaming kernel (`dense_panel_stream`, few rows, activations read in place) or the register tile over
    /// row tiles with activations packed into scratch (`dense_panel_tile`), with the panel width, register
    /// tile rows, depth block, rows per work item and weight prefetch distance of `DenseProductSchedule`.
    case densePanels(DenseProductSchedule)
    /// N:M, weight rows along the reduction, scalar columns: one `nm_dot` per output (in-register index decode).
    case nmDot
    /// N:M, scalar gather of the dense operand per kept value (any element type).
    case nmGather
    /// N:M, each kept value broadcast against vectors of activation rows (activations transposed to [k][rows]
    /// for matrix products; im2col pixels for conv2d).
    case nmBroadcast
    /// N:M blocked for the caches: activations transposed to [k][rows], k cut into blocks of `kBlock` whose
    /// activation panel stays in L1, weight rows in tiles of `tileRows` (the parallel axis), the weight stream
    /// prefetched `prefetchRows` rows ahead.
    case nmBlocked(kBlock: Int, tileRows: Int, prefetchRows: Int)
    /// N:M with groups along the output columns (weight [K, N]): a compressed scatter-accumulate.
    case nmScatter
    /// The dynamic int8 product (an i8 weight, dense or 2:4, stored in panels of 16 columns: packing `int8_panels`):
    /// the register tile `int8_tile` over blocks of activation rows, each weight vector loaded once per block.
    /// Without it the product runs one exact dot per activation row and output channel.
    case int8Tile

    /// The variant's name in the text form.
    public var name: String {
        switch self {
        case .denseScalar: return "dense_scalar"
        case .denseDot: return "dense_dot"
        case .denseTile: return "dense_tile"
        case let .densePanels(schedule): return schedule.variant == .streaming ? "dense_panel_stream" : "dense_panel_tile"
        case .nmDot: return "nm_dot"
        case .nmGather: return "nm_gather"
        case .nmBroadcast: return "nm_broadcast"
        case .nmBlocked: return "nm_blocked"
        case .nmScatter: return "nm_scatter"
        case .int8Tile: return "int8_tile"
        }
    }

    /// Every variant name, for messages.
    public static let names = ["dense_scalar", "dense_dot", "dense_tile", "dense_panel_stream", "dense_panel_tile", "nm_dot", "nm_gather", "nm_broadcast", "nm_blocked", "nm_scatter", "int8_tile"]

    /// Whether the variant reads an N:M weight (otherwise a dense one).
    public var isNM: Bool {
        switch self {
        case .denseScalar, .denseDot, .denseTile, .densePanels, .int8Tile: return false
        case .nmDot, .nmGather, .nmBroadcast, .nmBlocked, .nmScatter: return true
        }
    }

    /// The loop the variant splits across threads when it runs in parallel.
    public var parallelAxis: ParallelAxis {
        switch self {
        case .denseScalar, .denseDot, .denseTile, .densePanels, .int8Tile: return .columns
        case .nmDot, .nmGather, .nmBroadcast: return .rows
        case .nmBlocked: return .rowTiles
        case .nmScatter: return .groups
        }
    }

    /// The integer parameters in text order, as (name, value).
    public var fields: [(String, Int)] {
        switch self {
        case .denseScalar, .nmDot, .nmGather, .nmBroadcast, .nmScatter, .int8Tile: return []
        case let .denseDot(weightRows): return [("weight_rows", weightRows)]
        case let .denseTile(rows, vectors): return [("rows", rows), ("vectors", vectors)]
        case let .densePanels(schedule):
            return [("panel_width", schedule.panelWidth), ("row_tile", schedule.rowTile), ("depth_block", schedule.depthBlock),
                    ("row_block", schedule.rowBlock), ("prefetch", schedule.prefetchDistance)]
        case let .nmBlocked(kBlock, tileRows, prefetchRows):
            return [("k_block", kBlock), ("tile_rows", tileRows), ("prefetch_rows", prefetchRows)]
        }
    }
}

/// How the weight operand is laid out in the artifact; every weight is stored once, in one of these orders.
public enum WeightPacking: String, Hashable, Sendable, CaseIterable {
    /// As the IR type stores it: dense row-major; N:M kept values then packed indices, row by row.
    case stored
    /// A dense f32 constant in column panels of `panel_width` columns (`[k][panel_width]` each, then the tail
    /// columns as a `[k][tail]` block), whichever way the IR stores it; only the dense_panel_ variants read it.
    case panels
    /// An N:M weight `[N, K]` in blocks of 4 weight rows, each block's kept values and indices adjacent and read
    /// front to back by the batch-1 `nm_rows4` kernel (docs/nm-layout.md, "Physical packings"); only `nm_dot`
    /// reads it (the per-row kernel over the logical layout is `nm_dot` with `packing = stored`).
    case rows4
    /// As `rows4`, with every 8 kept values of a row in the lane order of an 8-lane in-lane permute (m = 4, n of 1
    /// or 2; docs/nm-layout.md, "Physical packings"): the default on 8-lane targets; only `nm_dot` reads it.
    case rows4InLane = "rows4_in_lane"
    /// An i8 weight `[N, K]` (dense or 2:4) in panels of 16 output columns in the order `int8_tile` reads
    /// (`Int8PanelLayout` in the kernel IR, IR/README.md); only `int8_tile` reads it.
    case int8Panels = "int8_panels"

    /// Whether the weight is stored in blocks of 4 rows (`rows4` or `rows4_in_lane`).
    public var isRowBlocks: Bool { self == .rows4 || self == .rows4InLane }
}

/// The loop of a kernel split across the thread pool.
public enum ParallelAxis: String, Hashable, Sendable, CaseIterable {
    /// Runs on the calling thread.
    case none
    /// Blocks of output columns (dense kernels: columns of the result, one per weight row).
    case columns
    /// Weight rows (output features) of an N:M product.
    case rows
    /// Tiles of weight rows of the blocked N:M kernel.
    case rowTiles = "row_tiles"
    /// Groups of output columns of the N:M scatter.
    case groups
}

/// Whether a kernel's estimated time is set by bytes moved or by arithmetic.
public enum ScheduleBound: String, Hashable, Sendable, CaseIterable {
    case memory, compute
}

/// The cost model's estimate for one schedule (and a measured time when autotuned).
public struct ScheduleEstimate: Hashable, Sendable {
    /// Estimated time of one call, in nanoseconds.
    public var nanoseconds: Int
    /// Bytes moved from the level that bounds the stream (weights from DRAM/L3, activations and results).
    public var bytes: Int
    /// Floating-point (or integer) operations, counting a multiply-add as two.
    public var flops: Int
    /// Which limit sets the estimate.
    public var bound: ScheduleBound
    /// Threads the estimate assumes.
    public var threads: Int
    /// The median measured time of one call when `--autotune` timed it, in nanoseconds.
    public var measuredNanoseconds: Int?

    /// Makes an estimate.
    public init(nanoseconds: Int, bytes: Int, flops: Int, bound: ScheduleBound, threads: Int, measuredNanoseconds: Int? = nil) {
        self.nanoseconds = nanoseconds
        self.bytes = bytes
        self.flops = flops
        self.bound = bound
        self.threads = threads
        self.measuredNanoseconds = measuredNanoseconds
    }
}

// MARK: - Text form

extension KernelSchedule {
    /// The attribute value the printer writes after `schedule =`.
    public var attributeValue: AttributeValue {
        var fields = variant.fields.map { AttributeField($0.0, .int($0.1)) }
        fields.append(AttributeField("packing", .symbol(packing.rawValue, arguments: [])))
        fields.append(AttributeField("parallel", .symbol(parallel.rawValue, arguments: [])))
        if let estimate {
            var cost = [AttributeField("time_ns", .int(estimate.nanoseconds)), AttributeField("bytes", .int(estimate.bytes)),
                        AttributeField("flops", .int(estimate.flops)),
                        AttributeField("bound", .symbol(estimate.bound.rawValue, arguments: [])),
                        AttributeField("threads", .int(estimate.threads))]
            if let measured = estimate.measuredNanoseconds { cost.append(AttributeField("measured_ns", .int(measured))) }
            fields.append(AttributeField("estimate", .record("cost", cost)))
        }
        return .record(variant.name, fields)
    }

    /// Reads a schedule from its attribute value; the inverse of `attributeValue`.
    public static func parse(_ value: AttributeValue) throws(TypeRuleError) -> KernelSchedule {
        guard case let .record(name, fields) = value else {
            throw TypeRuleError("attribute 'schedule' must be a variant such as nm_dot<packing = stored, parallel = rows>, found \(value)")
        }
        var reader = AttributeReader(attributes: [:])
        for field in fields {
            guard reader.attributes[field.name] == nil else { throw TypeRuleError("schedule field '\(field.name)' is given twice") }
            reader.attributes[field.name] = field.value
        }
        let variant: KernelVariant
        switch name {
        case "dense_scalar": variant = .denseScalar
        case "dense_dot": variant = .denseDot(weightRows: try reader.int("weight_rows"))
        case "dense_tile": variant = .denseTile(rows: try reader.int("rows"), vectors: try reader.int("vectors"))
        case "dense_panel_stream", "dense_panel_tile":
            variant = .densePanels(DenseProductSchedule(
                variant: name == "dense_panel_stream" ? .streaming : .registerTile, panelWidth: try reader.int("panel_width"),
                rowTile: try reader.int("row_tile"), depthBlock: try reader.int("depth_block"), rowBlock: try reader.int("row_block"),
                prefetchDistance: try reader.int("prefetch")))
        case "nm_dot": variant = .nmDot
        case "nm_gather": variant = .nmGather
        case "nm_broadcast": variant = .nmBroadcast
        case "nm_blocked":
            variant = .nmBlocked(kBlock: try reader.int("k_block"), tileRows: try reader.int("tile_rows"),
                                 prefetchRows: try reader.int("prefetch_rows"))
        case "nm_scatter": variant = .nmScatter
        case "int8_tile": variant = .int8Tile
        default:
            throw TypeRuleError("unknown kernel variant '\(name)'; expected one of \(KernelVariant.names.joined(separator: ", "))")
        }
        let packingName = try reader.word("packing", default: WeightPacking.stored.rawValue)
        guard let packing = WeightPacking(rawValue: packingName) else {
            throw TypeRuleError("unknown packing '\(packingName)'; expected one of \(WeightPacking.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let axisName = try reader.word("parallel")
        guard let parallel = ParallelAxis(rawValue: axisName) else {
            throw TypeRuleError("unknown parallel axis '\(axisName)'; expected one of \(ParallelAxis.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var estimate: ScheduleEstimate?
        if let costValue = reader.attributes["estimate"] {
            reader.used.insert("estimate")
            guard case let .record("cost", costFields) = costValue else {
                throw TypeRuleError("schedule field 'estimate' must be cost<time_ns = ..., bytes = ..., flops = ..., bound = ..., threads = ...>, found \(costValue)")
            }
            var cost = AttributeReader(attributes: [:])
            for field in costFields { cost.attributes[field.name] = field.value }
            let boundName = try cost.word("bound")
            guard let bound = ScheduleBound(rawValue: boundName) else {
                throw TypeRuleError("unknown bound '\(boundName)'; expected memory or compute")
            }
            let measured: Int? = cost.attributes["measured_ns"] == nil ? nil : try cost.int("measured_ns")
            estimate = ScheduleEstimate(nanoseconds: try cost.int("time_ns"), bytes: try cost.int("bytes"), flops: try cost.int("flops"),
                                        bound: bound, threads: try cost.int("threads"), measuredNanoseconds: measured)
            try cost.finish("cost")
        }
        try reader.finish("schedule \(name)")
        return KernelSchedule(variant: variant, packing: packing, parallel: parallel, estimate: estimate)
    }

    /// A one-line human summary: `nm_blocked(k_block 192, tile_rows 64, prefetch_rows 8), parallel row_tiles`.
    public var summary: String {
        var text = variant.name
        if !variant.fields.isEmpty { text += "(" + variant.fields.map { "\($0.0) \($0.1)" }.joined(separator: ", ") + ")" }
        if packing != .stored { text += ", packing \(packing.rawValue)" }
        text += parallel == .none ? ", serial" : ", parallel \(parallel.rawValue)"
        return text
    }
}
