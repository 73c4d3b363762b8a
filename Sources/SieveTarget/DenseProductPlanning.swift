// The default packing and tiling of dense products over a constant f32 weight for a target's vector width:
// how many accumulators a register tile may use and how the work splits across the planned threads.

import SieveIR

/// The packing and tiling of a dense f32 product with a constant weight, as a function of its shape
/// (`rows` of A, all batches together; `n` output columns; `k` the depth), the target's f32 vector width
/// (16: AVX-512 with 32 vector registers; 8 and 4: AVX2 and SSE2 with 16) and the number of threads the
/// work should split across. Nil when packing would not pay (fewer columns than one vector, or nothing to do).
///
/// `KernelProblem.defaultSchedule` calls it: the schedule pass and lowering's defaults agree with it.
public func denseProductSchedule(rows: Int, n: Int, k: Int, vectorWidth: Int, threads: Int) -> DenseProductSchedule? {
    guard rows > 0, k > 0, n >= vectorWidth, vectorWidth > 0 else { return nil }
    let accumulators = registerTileAccumulators(vectorWidth: vectorWidth)
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

/// Accumulator registers a dense register tile may use: 32 vector registers with AVX-512, 16 otherwise, leaving room
/// for the weight vectors and one broadcast activation. A tile of more accumulators spills them on every k step.
public func registerTileAccumulators(vectorWidth: Int) -> Int { vectorWidth >= 16 ? 24 : 12 }

extension DenseProductSchedule {
    /// The threads a packed product's work split is planned for: artifacts choose their thread count when
    /// created, so the schedule only makes sure this many work items exist where the shape allows.
    public static let plannedThreads = 4
}
