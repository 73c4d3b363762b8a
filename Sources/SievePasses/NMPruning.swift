// The pruning methods nm-legalize offers, on a weight seen as an [O, I] matrix of Doubles:
// magnitude, Wanda (|w| times the input column's norm) and SparseGPT (second order, reconstructs).

import COpenBLAS
import SieveIR

/// How weights that break the pattern are pruned.
public enum PruneMethod: String, CaseIterable, Hashable, Sendable {
    /// Keep the N largest |w| of every group.
    case magnitude
    /// Keep the N largest |w| * ||x_j|| of every group, with ||x_j|| the calibration norm of input column j.
    case wanda
    /// SparseGPT: prune column by column with the inverse Hessian of the layer's reconstruction
    /// error (from X^T X), updating the not yet pruned weights to compensate.
    case sparsegpt

    /// Whether the method needs calibration data.
    public var needsCalibration: Bool { self != .magnitude }
}

/// N:M pruning of [O, I] matrices.
public enum NMPruning {
    /// Columns SparseGPT updates lazily together.
    public static let sparseGPTBlockSize = 128
    /// Columns inside a block whose errors are spread over the rest of the block together (a multiple
    /// of every M, so that a group never straddles two, and a divisor of the block size).
    public static let sparseGPTSubBlockSize = 32
    /// SparseGPT's dampening: this fraction of the mean Hessian diagonal is added to the diagonal.
    public static let sparseGPTDampening = 0.01

    /// For every row and group of M, marks the N highest scores as kept (ties go to the lower index).
    /// A padded last group of w < M real positions keeps its min(N, w) highest.
    public static func keepMask(scores: [Double], matrix: NMMatrixShape, pattern: NMPattern) -> [Bool] {
        var mask = [Bool](repeating: false, count: scores.count)
        let groups = NMPacking.groupsPerRow(matrix, pattern)
        var order: [Int] = []
        for row in 0..<matrix.rows {
            for group in 0..<groups {
                let start = row * matrix.reduction + group * pattern.m
                order = Array(0..<NMPacking.groupWidth(matrix, pattern, group: group))
                order.sort { a, b in
                    let sa = scores[start + a], sb = scores[start + b]
                    return sa != sb ? sa > sb : a < b
                }
                for slot in order.prefix(pattern.n) { mask[start + slot] = true }
            }
        }
        return mask
    }

    /// The weights with everything outside `mask` set to zero.
    public static func apply(_ mask: [Bool], to weights: [Double]) -> [Double] {
        zip(weights, mask).map { $1 ? $0 : 0 }
    }

    /// Magnitude pruning: keeps the N largest |w| per group.
    public static func magnitude(_ weights: [Double], matrix: NMMatrixShape, pattern: NMPattern) -> [Double] {
        apply(keepMask(scores: weights.map(abs), matrix: matrix, pattern: pattern), to: weights)
    }

    /// Wanda: keeps the N largest |w_ij| * ||x_j|| per group of each output row.
    ///
    /// - Parameter columnNorms: per input-channel group, the norm of each of the I input columns;
    ///   row block g (O/groups rows) uses `columnNorms[g]`.
    public static func wanda(_ weights: [Double], matrix: NMMatrixShape, pattern: NMPattern,
                             columnNorms: [[Double]]) -> [Double] {
        apply(keepMask(scores: wandaScores(weights, matrix: matrix, columnNorms: columnNorms), matrix: matrix, pattern: pattern),
              to: weights)
    }

    /// Wanda's score of every weight, |w_ij| * ||x_j||, with `columnNorms` as `wanda` takes them.
    public static func wandaScores(_ weights: [Double], matrix: NMMatrixShape, columnNorms: [[Double]]) -> [Double] {
        let groups = max(1, columnNorms.count)
        let rowsPerGroup = matrix.rows / groups
        var scores = weights.map(abs)
        guard !columnNorms.isEmpty else { return scores }
        for row in 0..<matrix.rows {
            let norms = columnNorms[min(groups - 1, row / max(1, rowsPerGroup))]
            for column in 0..<matrix.reduction { scores[row * matrix.reduction + column] *= norms[column] }
        }
        return scores
    }

    /// SparseGPT for N:M: walks the columns left to right, choosing each group's pruned entries by
    /// w^2 / [H^-1]_jj^2 when the group starts, and spreading each column's pruning error over the
    /// later columns through the Cholesky factor of H^-1 (H = X^T X plus 1% of its mean diagonal),
    /// in lazy blocks of 128 columns and sub-blocks of 32 inside them: OpenBLAS `dgemm` spreads a
    /// finished sub-block's errors over the rest of its block and a finished block's over the later
    /// columns; only the rank-1 updates within a sub-block are plain loops. Input columns that never
    /// fire get their weights zeroed.
    ///
    /// - Parameter gram: per input-channel group, X^T X (I x I); row block g uses `gram[g]`.
    public static func sparseGPT(_ weights: [Double], matrix: NMMatrixShape, pattern: NMPattern,
                                 gram: [[Double]]) throws(DiagnosticError) -> [Double] {
        let groups = max(1, gram.count)
        let rowsPerGroup = matrix.rows / groups
        var result = weights
        let n = matrix.reduction
        for group in 0..<groups {
            let rows = group == groups - 1 ? matrix.rows - group * rowsPerGroup : rowsPerGroup
            let start = group * rowsPerGroup * n
            var block = Array(result[start..<(start + rows * n)])
            try sparseGPTRows(&block, rows: rows, columns: n, pattern: pattern, gram: gram[group])
            result.replaceSubrange(start..<(start + rows * n), with: block)
        }
        return result
    }

    /// SparseGPT on one block of rows that share a Hessian.
    static func sparseGPTRows(_ w: inout [Double], rows: Int, columns n: Int, pattern: NMPattern,
                              gram: [Double]) throws(DiagnosticError) {
        var hessian = gram
        for column in 0..<n where hessian[column * n + column] == 0 {
            hessian[column * n + column] = 1
            for row in 0..<rows { w[row * n + column] = 0 }
        }
        let meanDiagonal = (0..<n).reduce(0.0) { $0 + hessian[$1 * n + $1] } / Double(max(1, n))
        var inverse: [Double]?
        var damping = sparseGPTDampening * meanDiagonal
        for _ in 0..<6 {
            var attempt = hessian
            for column in 0..<n { attempt[column * n + column] += damping }
            if let factor = upperCholeskyOfInverse(attempt, n: n) { inverse = factor; break }
            damping *= 10
        }
        guard let hinv = inverse else {
            throw DiagnosticError(.error(.unknown, "sparsegpt: the calibration Hessian X^T X stays singular after dampening; use more calibration samples or --prune wanda"))
        }

        let blockSize = sparseGPTBlockSize
        let subBlock = sparseGPTSubBlockSize
        let m = pattern.m
        var w1 = [Double](repeating: 0, count: rows * blockSize)
        var q1 = [Double](repeating: 0, count: rows * blockSize)
        var err1 = [Double](repeating: 0, count: rows * blockSize)
        var pruned = [Bool](repeating: false, count: rows * blockSize)
        var i1 = 0
        while i1 < n {
            let i2 = min(i1 + blockSize, n)
            let count = i2 - i1
            for row in 0..<rows { for c in 0..<count { w1[row * count + c] = w[row * n + i1 + c] } }
            // Columns go one by one inside sub-blocks of 32 (whole groups, as 32 is a multiple of every M):
            // each pruned column's error is spread over the rest of its sub-block at once (a rank-1 update),
            // and a finished sub-block's errors over the rest of the block (a rank-32 update, dgemm), which
            // is the same arithmetic as spreading each column's error over the whole block, grouped for BLAS.
            var s1 = 0
            while s1 < count {
                let s2 = min(s1 + subBlock, count)
                for i in s1..<s2 {
                    let d = hinv[(i1 + i) * n + i1 + i]
                    if i % m == 0 {
                        // Prune the M-N entries of this group that cost least: w^2 / d_j^2.
                        let width = min(m, count - i)
                        var scores = [Double](repeating: 0, count: rows * width)
                        for row in 0..<rows {
                            for j in 0..<width {
                                let dj = hinv[(i1 + i + j) * n + i1 + i + j]
                                let value = w1[row * count + i + j]
                                scores[row * width + j] = value * value / (dj * dj)
                            }
                        }
                        let keep = keepMask(scores: scores, matrix: NMMatrixShape(rows: rows, reduction: width),
                                            pattern: NMPattern(n: min(pattern.n, width), m: width))
                        for row in 0..<rows { for j in 0..<width { pruned[row * count + i + j] = !keep[row * width + j] } }
                    }
                    for row in 0..<rows {
                        let value = w1[row * count + i]
                        let q = pruned[row * count + i] ? 0 : value
                        q1[row * count + i] = q
                        err1[row * count + i] = (value - q) / d
                    }
                    if i + 1 < s2 {
                        // W1[:, i+1:s2] -= Err1[:, i] * Hinv[i, i+1:s2]: at most 31 contiguous columns per
                        // row, in Swift; one small BLAS call per column costs more in thread hand-offs.
                        let hStart = (i1 + i) * n + i1
                        hinv.withUnsafeBufferPointer { h in
                            w1.withUnsafeMutableBufferPointer { wb in
                                for row in 0..<rows {
                                    let error = err1[row * count + i]
                                    guard error != 0 else { continue }
                                    let base = row * count
                                    for j in (i + 1)..<s2 { wb[base + j] -= error * h[hStart + j] }
                                }
                            }
                        }
                    }
                }
                if s2 < count {
                    // W1[:, s2:] -= Err1[:, s1:s2] * Hinv[s1:s2, s2:count]
                    err1.withUnsafeBufferPointer { e in
                        hinv.withUnsafeBufferPointer { h in
                            w1.withUnsafeMutableBufferPointer { wb in
                                guard let eBase = e.baseAddress, let hBase = h.baseAddress, let wBase = wb.baseAddress else { return }
                                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(count - s2), Int32(s2 - s1),
                                            -1.0, eBase + s1, Int32(count), hBase + (i1 + s1) * n + i1 + s2, Int32(n), 1.0, wBase + s2, Int32(count))
                            }
                        }
                    }
                }
                s1 = s2
            }
            for row in 0..<rows { for c in 0..<count { w[row * n + i1 + c] = q1[row * count + c] } }
            if i2 < n {
                // W[:, i2:] -= Err1 * Hinv[i1:i2, i2:]
                err1.withUnsafeBufferPointer { e in
                    hinv.withUnsafeBufferPointer { h in
                        w.withUnsafeMutableBufferPointer { wb in
                            guard let eBase = e.baseAddress, let hBase = h.baseAddress, let wBase = wb.baseAddress else { return }
                            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(n - i2), Int32(count),
                                        -1.0, eBase, Int32(count), hBase + i1 * n + i2, Int32(n), 1.0, wBase + i2, Int32(n))
                        }
                    }
                }
            }
            i1 = i2
        }
    }

    /// The upper Cholesky factor U of H^-1 (H^-1 = U^T U), row-major; nil when H is not positive definite.
    ///
    /// LAPACK is called column-major on the row-major array, which it sees transposed: the row-major
    /// lower triangle is its upper one, so 'U' and 'L' swap, and LAPACKE copies nothing.
    static func upperCholeskyOfInverse(_ h: [Double], n: Int) -> [Double]? {
        var a = h
        let lower = Int8(UInt8(ascii: "L")), upper = Int8(UInt8(ascii: "U"))
        let layout = Int32(LAPACK_COL_MAJOR)
        // Row-major lower factor L (H = L L^T).
        guard LAPACKE_dpotrf(layout, upper, Int32(n), &a, Int32(n)) == 0 else { return nil }
        // H^-1 from it, in the row-major lower triangle; mirrored into the upper one.
        guard LAPACKE_dpotri(layout, upper, Int32(n), &a, Int32(n)) == 0 else { return nil }
        for row in 0..<n { for column in (row + 1)..<max(row + 1, n) { a[row * n + column] = a[column * n + row] } }
        // Row-major upper factor U of H^-1.
        guard LAPACKE_dpotrf(layout, lower, Int32(n), &a, Int32(n)) == 0 else { return nil }
        for row in 0..<n { for column in 0..<row { a[row * n + column] = 0 } }
        return a
    }

    /// The share of |w| the kept entries hold: sum over kept |w_original| / sum |w_original|.
    public static func keptMagnitudeShare(original: [Double], pruned: [Double]) -> Double {
        var kept = 0.0, total = 0.0
        for (w, p) in zip(original, pruned) {
            total += abs(w)
            if p != 0 { kept += abs(w) }
        }
        return total > 0 ? kept / total : 1
    }
}
