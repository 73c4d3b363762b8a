// The packing and tiling of dense products over a constant f32 weight stored in column panels: the
// parameters of the dense_panel_stream and dense_panel_tile schedule variants and their default choice.

/// How a product `C[rows, n] = A[rows, k] · W[k, n]` with a constant dense f32 weight is packed and computed.
///
/// The weight is stored once, in the order the kernel reads it: `n / panelWidth` full panels, panel `p`
/// holding columns `p * panelWidth ..< (p + 1) * panelWidth` for every k, element (k, j) at
/// `p * k * panelWidth + k * panelWidth + j`; then the `n % panelWidth` tail columns as a `[k][tail]` block.
/// Work items are (panel, block of `rowBlock` rows) pairs, panel-major, split across threads; each item runs
/// the depth in blocks of `depthBlock` and, per depth block, a register tile of `rowTile` rows by
/// `panelWidth` columns (`panelWidth / vectorWidth` vectors) per row tile.
public struct DenseProductSchedule: Hashable, Sendable, CustomStringConvertible {
    /// Which kernel reads the panels.
    public enum Variant: String, Hashable, Sendable {
        /// Few rows (batch 1 to 4): every row in one tile, the whole depth at once, so each thread streams
        /// its contiguous run of panels once.
        case streaming = "packed-panel stream"
        /// More rows: a register tile over row tiles, the depth blocked so a panel block stays in L1.
        case registerTile = "packed-panel register tile"
    }

    /// The kernel variant.
    public var variant: Variant
    /// NR: output columns per packed panel, a multiple of the vector width.
    public var panelWidth: Int
    /// MR: rows of A per register tile.
    public var rowTile: Int
    /// KC: the depth (k) of one block; the whole k for `streaming`.
    public var depthBlock: Int
    /// MC: rows per work item, a multiple of `rowTile` (the last item takes the remainder).
    public var rowBlock: Int
    /// How far ahead (in packed weight elements) each k step prefetches the weight; 0 for none. With the
    /// register tile, one depth block: the next block arrives from DRAM while every row tile reuses this one;
    /// when streaming, 4 KiB.
    public var prefetchDistance: Int

    /// Makes a schedule.
    public init(variant: Variant, panelWidth: Int, rowTile: Int, depthBlock: Int, rowBlock: Int, prefetchDistance: Int = 0) {
        self.variant = variant
        self.panelWidth = panelWidth
        self.rowTile = rowTile
        self.depthBlock = depthBlock
        self.rowBlock = rowBlock
        self.prefetchDistance = prefetchDistance
    }

    public var description: String {
        "\(variant.rawValue), panels of \(panelWidth) columns, \(rowTile)x\(panelWidth) tile, depth blocks of \(depthBlock), \(rowBlock) rows per work item"
            + (prefetchDistance > 0 ? ", weight prefetched \(prefetchDistance) elements ahead" : "")
    }
}

/// The packing and tiling of a dense f32 product with a constant weight, as a function of its shape
/// (`rows` of A, all batches together; `n` output columns; `k` the depth), the target's f32 vector width
/// (16: AVX-512 with 32 vector registers; 8 and 4: AVX2 and SSE2 with 16) and the number of threads the
/// work should split across. Nil when packing would not pay (fewer columns than one vector, or nothing to do).
///
/// `KernelProblem.defaultSchedule` calls it: the schedule pass and lowering's defaults agree with it.
public func denseProductSchedule(rows: Int, n: Int, k: Int, vectorWidth: Int, threads: Int) -> DenseProductSchedule? {
    guard rows > 0, k > 0, n >= vectorWidth, vectorWidth > 0 else { return nil }
    // Accumulator registers a tile may use: 32 registers with AVX-512, 16 otherwise, leaving room for the
    // weight vectors and one broadcast activation.
    let accumulators = vectorWidth >= 16 ? 24 : 12
    if rows <= KernelProblem.smallRows {
        // Streaming: up to four weight vectors per k step, so each FMA chain has time to finish (latency 4).
        let vectors = max(1, min(4, accumulators / rows))
        // Software prefetch 4 KiB ahead of the stream: the hardware prefetchers restart at every 4 KiB page
        // (the embedded weights sit in 4 KiB pages); measured 1.2-1.35x at batch 1 against none.
        return DenseProductSchedule(variant: .streaming, panelWidth: vectors * vectorWidth, rowTile: rows, depthBlock: k, rowBlock: rows,
                                    prefetchDistance: 1024)
    }
    // 8 x 2 vectors (16 accumulators) with 32 registers, 6 x 2 (12) with 16: two weight vectors per k step
    // against a broadcast of each row; a depth block of 256 keeps the panel block (256 x 32 f32 = 32 KiB) in L1
    // while every row tile of the work item reads it.
    let rowTile = vectorWidth >= 16 ? 8 : 6
    let panelWidth = 2 * vectorWidth
    let depthBlock = min(k, 256)
    // Rows per work item: all of them up to 8 tiles (the A block stays in L2), fewer when that leaves
    // fewer work items than threads.
    let panels = max(1, n / panelWidth)
    var rowBlock = min(8 * rowTile, (rows + rowTile - 1) / rowTile * rowTile)
    while rowBlock > rowTile && panels * ((rows + rowBlock - 1) / rowBlock) < threads {
        rowBlock -= rowTile
    }
    return DenseProductSchedule(variant: .registerTile, panelWidth: panelWidth, rowTile: rowTile, depthBlock: depthBlock, rowBlock: rowBlock,
                                prefetchDistance: k > depthBlock ? depthBlock * panelWidth : 0)
}


extension DenseProductSchedule {
    /// The threads a packed product's work split is planned for: artifacts choose their thread count when
    /// created, so the schedule only makes sure this many work items exist where the shape allows.
    public static let plannedThreads = 4
}
