// Physical packings of N:M weights: how the kept values and indices of a constant are laid out in the
// artifact for the kernel that reads them, and the one function that chooses a packing and kernel variant.

import SieveIR
import SieveTarget

/// The row-block packing of an N:M weight `[rows][k]` (groups along k), read by the batch-1 kernel.
///
/// Output rows are taken four at a time (a block; the last block is padded with zero rows). Each
/// block is one contiguous run of bytes, so a thread working through consecutive blocks streams a
/// single sequence:
///
/// - `chunks` full chunks of `chunkKept` kept values per row, each `chunkBytes` long and cut into four slices
///   of `sliceKept` kept values per row: the values of slice 0 of rows 0, 1, 2, 3 (16 f32 each, one 64-byte line
///   per row), then slice 1 of the four rows, and so on; then the indices in the same order (`sliceKept × bits`
///   bits per slice and row, little-endian bit order as in the logical layout), padded to 64 bytes — so the
///   kernel reads every chunk front to back;
/// - then, when the row's kept count is not a multiple of `chunkKept`, a tail of `tailKept` values per
///   row: the four rows' values, then each row's indices starting on a byte (`tailIndexBytes` each),
///   padded to 64 bytes with at least 2 bytes of slack for two-byte index reads.
///
/// Within the chunks, `order` says how a row's kept values (and, field for field, their indices) follow one
/// another: in group order, or in the lane order of the AVX2 in-lane permute (`NMValueOrder.inLane`); the
/// tail is always in group order.
///
/// Every block, chunk and tail starts on 64 bytes. The logical `nm<N:M>` layout of the IR is unchanged;
/// this is only how lowering stores the constant (see docs/nm-layout.md, "Physical packings").
public struct NMRowBlockLayout: Hashable, Sendable {
    /// Weight rows (outputs) and the reduction length.
    public var rows: Int, k: Int
    /// The pattern: n kept in every group of m.
    public var n: Int, m: Int
    /// The order of the kept values (and index fields) inside every 8 kept values of a chunk.
    public var order: NMValueOrder
    /// Output rows per block.
    public static let blockRows = 4
    /// Kept values per row in one chunk.
    public static let chunkKept = 64
    /// Kept values per row in one slice of a chunk (a 64-byte line of f32).
    public static let sliceKept = 16

    /// Makes a layout; nil when the pattern does not suit it (m not 4, 8 or 16; n not dividing 64; k not whole
    /// groups; an order the pattern does not admit).
    public init?(rows: Int, k: Int, n: Int, m: Int, order: NMValueOrder = .sequential) {
        guard rows > 0, k > 0, rows <= 1 << 40, k <= 1 << 40, [4, 8, 16].contains(m), n >= 1, n < m,
              NMRowBlockLayout.chunkKept % n == 0, k % m == 0, order.admits(n: n, m: m) else { return nil }
        self.rows = rows
        self.k = k
        self.n = n
        self.m = m
        self.order = order
        // Every size below is then at most blocks x blockBytes: refuse layouts whose total does not fit (absurd
        // shapes written in .kir text), so no size computation can overflow.
        let (total, overflow) = blocks.multipliedReportingOverflow(by: blockBytes)
        guard !overflow, total <= 1 << 50 else { return nil }
    }

    /// Bits per index.
    public var bits: Int { m.trailingZeroBitCount }
    /// Kept values of one row.
    public var keptPerRow: Int { k / m * n }
    /// Full chunks per row.
    public var chunks: Int { keptPerRow / NMRowBlockLayout.chunkKept }
    /// Kept values per row after the full chunks.
    public var tailKept: Int { keptPerRow % NMRowBlockLayout.chunkKept }
    /// Reduction elements one chunk covers.
    public var chunkK: Int { NMRowBlockLayout.chunkKept / n * m }
    /// Bytes of one row's indices in a chunk.
    public var chunkIndexBytesPerRow: Int { NMRowBlockLayout.chunkKept * bits / 8 }
    /// Bytes of one row's indices in a slice.
    public var sliceIndexBytes: Int { NMRowBlockLayout.sliceKept * bits / 8 }
    /// Bytes of the four rows' values in a chunk.
    public var chunkValueBytes: Int { NMRowBlockLayout.blockRows * NMRowBlockLayout.chunkKept * 4 }
    /// Bytes of one chunk.
    public var chunkBytes: Int { chunkValueBytes + roundUpToMultiple(NMRowBlockLayout.blockRows * chunkIndexBytesPerRow, 64) }
    /// Bytes of one row's tail indices.
    public var tailIndexBytes: Int { (tailKept * bits + 7) / 8 }
    /// Bytes of a block's tail.
    public var tailBytes: Int {
        tailKept == 0 ? 0 : roundUpToMultiple(NMRowBlockLayout.blockRows * (tailKept * 4 + tailIndexBytes) + 2, 64)
    }
    /// Bytes of one block.
    public var blockBytes: Int { chunks * chunkBytes + tailBytes }
    /// Blocks (the last may hold padding rows).
    public var blocks: Int { (rows + NMRowBlockLayout.blockRows - 1) / NMRowBlockLayout.blockRows }
    /// Bytes of the whole packed weight.
    public var totalBytes: Int { blocks * blockBytes }

    /// Repacks a constant stored in the logical nm layout (kept f32 values row after row, then the packed
    /// indices) into this layout.
    public func pack(_ logical: [UInt8]) -> [UInt8] {
        let kept = rows * keptPerRow
        let valueBytes = kept * 4
        var out = [UInt8](repeating: 0, count: totalBytes)
        let bits = self.bits, mask = (1 << bits) - 1
        func index(_ element: Int) -> Int {
            let bit = element * bits, byte = valueBytes + bit >> 3
            let low = Int(logical[byte])
            let high = byte + 1 < logical.count ? Int(logical[byte + 1]) : 0
            return ((low | high << 8) >> (bit & 7)) & mask
        }
        func setIndex(_ value: Int, at byteOffset: Int, field: Int) {
            let bit = field * bits
            let word = value << (bit & 7)
            out[byteOffset + bit >> 3] |= UInt8(word & 0xff)
            if word > 0xff { out[byteOffset + bit >> 3 + 1] |= UInt8(word >> 8) }
        }
        let chunkKept = NMRowBlockLayout.chunkKept
        for row in 0..<rows {
            let block = row / NMRowBlockLayout.blockRows, j = row % NMRowBlockLayout.blockRows
            let blockStart = block * blockBytes
            for p in 0..<keptPerRow {
                let element = row * keptPerRow + p
                let source = element * 4
                let destination: Int, indexBase: Int, field: Int
                if p < chunks * chunkKept {
                    // Slices of 16 kept values, the four rows' slices adjacent, in the order the kernel reads them.
                    let chunkStart = blockStart + (p / chunkKept) * chunkBytes
                    let slice = p % chunkKept / NMRowBlockLayout.sliceKept
                    // Within the slice, the position the value order gives kept value p.
                    let position = order.position(ofKept: p % NMRowBlockLayout.sliceKept, n: n)
                    destination = chunkStart + ((slice * NMRowBlockLayout.blockRows + j) * NMRowBlockLayout.sliceKept + position) * 4
                    indexBase = chunkStart + chunkValueBytes + (slice * NMRowBlockLayout.blockRows + j) * sliceIndexBytes
                    field = position
                } else {
                    let tailStart = blockStart + chunks * chunkBytes
                    let q = p - chunks * chunkKept
                    destination = tailStart + (j * tailKept + q) * 4
                    indexBase = tailStart + NMRowBlockLayout.blockRows * tailKept * 4 + j * tailIndexBytes
                    field = q
                }
                for byte in 0..<4 { out[destination + byte] = logical[source + byte] }
                setIndex(index(element), at: indexBase, field: field)
            }
        }
        return out
    }
}

/// The order of a row's kept values inside the chunks of the row-block packing, chosen per target at compile
/// time for the kernel that reads them; each value's index field sits at the same position as the value.
public enum NMValueOrder: String, Hashable, Sendable, CaseIterable {
    /// Group order: kept value p of a row is at position p (the AVX-512 two-source permute and the AVX2
    /// whole-register permute of m = 8 read it; any pattern).
    case sequential
    /// For m = 4 and n of 1 or 2, every 8 kept values (8 / n groups, 4 / n windows of 8 activations) stored in
    /// the lanes an AVX2 in-lane permute (`vpermilps`, which reads the low two bits of each lane) fills from
    /// window w = [group 2w | group 2w + 1]: lane i, with h = i / 4 and q = i % 4, holds kept value q % n of
    /// group 2 * (q / n) + h, so one broadcast and one shift of the index bits give every lane its position in
    /// its own half, with no mask and no add, and a blend of the windows' permutes gives the 8 activations.
    /// 2:4: groups `0 0 2 2 | 1 1 3 3`; 1:4: groups `0 2 4 6 | 1 3 5 7`.
    case inLane = "in_lane"

    /// Whether a pattern can be stored in this order.
    public func admits(n: Int, m: Int) -> Bool {
        switch self {
        case .sequential: return true
        case .inLane: return m == 4 && (n == 1 || n == 2)
        }
    }

    /// The position, within its slice of 16, of a row's kept value `kept` (0 ..< 16, group order) of an n:m
    /// pattern this order admits.
    public func position(ofKept kept: Int, n: Int) -> Int {
        switch self {
        case .sequential:
            return kept
        case .inLane:
            // Kept value s of group g (g < 8 / n inside its set of 8) goes to half g % 2, quarter-lane (g / 2) * n + s.
            let set = kept / 8, inSet = kept % 8
            let group = inSet / n, slot = inSet % n
            return set * 8 + (group % 2) * 4 + (group / 2) * n + slot
        }
    }
}

/// How an N:M weight is stored in the artifact.
public enum NMPhysicalPacking: Hashable, Sendable {
    /// The logical layout as the IR holds it: all kept values row after row, then all indices.
    case logical
    /// Blocks of four output rows, values and indices of a block adjacent (the batch-1 kernel).
    case rowBlocks(NMRowBlockLayout)
}

/// Chooses the physical packing of an N:M weight `[rows][k]`. `rowBlockKernel` says whether the product
/// takes the per-row batch-1 path (activations contiguous along the reduction, fewer rows than a vector);
/// only that path reads row blocks.
///
/// Row blocks whenever the batch-1 kernel reads the weight, the row's scalar tail is small and the pattern
/// fits (m of 4, 8 or 16, n dividing 64); the logical layout otherwise (the batch-N kernel reads it).
/// `KernelProblem.defaultSchedule` makes the same choice; tests hold the two to it.
public func chooseNMPacking(rows: Int, k: Int, n: Int, m: Int, rowBlockKernel: Bool, vectorWidth: Int) -> NMPhysicalPacking {
    // The row-block kernel takes its tail in a scalar loop: where the tail is more than an eighth of a row (k
    // below a few chunks, as in small models) one vectorised nm_dot per row is faster (the example MLP's
    // 64-wide layer took ≈ 4 µs more as a tail).
    let order = chooseNMValueOrder(n: n, m: m, vectorWidth: vectorWidth)
    guard rowBlockKernel, SieveTarget.KernelProblem.rowBlocksPay(reduction: k, n: n, m: m),
          let layout = NMRowBlockLayout(rows: rows, k: k, n: n, m: m, order: order) else {
        return .logical
    }
    return .rowBlocks(layout)
}

/// The value order of row blocks for `vectorWidth` f32 lanes: the AVX2 in-lane order on 8-lane targets where
/// the pattern admits it (m = 4, n of 1 or 2), group order otherwise (AVX-512 gathers with a two-source permute,
/// which reads group order; 4-lane targets take the scalar loop).
public func chooseNMValueOrder(n: Int, m: Int, vectorWidth: Int) -> NMValueOrder {
    vectorWidth == 8 && NMValueOrder.inLane.admits(n: n, m: m) ? .inLane : .sequential
}

func roundUpToMultiple(_ value: Int, _ multiple: Int) -> Int { (value + multiple - 1) / multiple * multiple }
