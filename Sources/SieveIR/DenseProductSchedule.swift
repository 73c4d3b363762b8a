// The packing and tiling of dense products over a constant f32 weight stored in column panels: the
// parameters of the dense_panel_stream and dense_panel_tile schedule variants (SieveTarget chooses them).

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
