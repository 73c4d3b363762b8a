// The SparseGPT implementation as it was before its in-block column updates moved to BLAS (scalar
// Swift rank-1 updates inside each 128-column block, LAPACKE row-major Cholesky), kept as the oracle
// the BLAS version is tested against.

import COpenBLAS
import SieveIR
@testable import SievePasses

/// The scalar SparseGPT of NMPruning before the BLAS in-block updates, unchanged apart from names.
enum ScalarSparseGPT {
    /// SparseGPT for N:M: walks the columns left to right, choosing each group's pruned entries by
    /// w^2 / [H^-1]_jj^2 when the group starts, and spreading each column's pruning error over the
    /// later columns through the Cholesky factor of H^-1 (H = X^T X plus 1% of its mean diagonal),
    /// in lazy blocks of 128 columns. Input columns that never fire get their weights zeroed.
    ///
    /// - Parameter gram: per input-channel group, X^T X (I x I); row block g uses `gram[g]`.
    static func sparseGPT(_ weights: [Double], matrix: NMMatrixShape, pattern: NMPattern,
                                 gram: [[Double]]) throws(DiagnosticError) -> [Double] {
        let groups = max(1, gram.count)
        let rowsPerGroup = matrix.rows / groups
        var result = weights
        let n = matrix.reduction
        for group in 0..<groups {
            let rows = group == groups - 1 ? matrix.rows - group * rowsPerGroup : rowsPerGroup
            let start = group * rowsPerGroup * n
            var block = Array(result[start..<(start + rows * n)])
            try blockOfRows(&block, rows: rows, columns: n, pattern: pattern, gram: gram[group])
            result.replaceSubrange(start..<(start + rows * n), with: block)
        }
        return result
    }

    /// SparseGPT on one block of rows that share a Hessian.
    static func blockOfRows(_ w: inout [Double], rows: Int, columns n: Int, pattern: NMPattern,
                              gram: [Double]) throws(DiagnosticError) {
        var hessian = gram
        for column in 0..<n where hessian[column * n + column] == 0 {
            hessian[column * n + column] = 1
            for row in 0..<rows { w[row * n + column] = 0 }
        }
        let meanDiagonal = (0..<n).reduce(0.0) { $0 + hessian[$1 * n + $1] } / Double(max(1, n))
        var inverse: [Double]?
        var damping = NMPruning.sparseGPTDampening * meanDiagonal
        for _ in 0..<6 {
            var attempt = hessian
            for column in 0..<n { attempt[column * n + column] += damping }
            if let factor = upperCholeskyOfInverse(attempt, n: n) { inverse = factor; break }
            damping *= 10
        }
        guard let hinv = inverse else {
            throw DiagnosticError(.error(.unknown, "sparsegpt: the calibration Hessian X^T X stays singular after dampening; use more calibration samples or --prune wanda"))
        }

        let blockSize = NMPruning.sparseGPTBlockSize
        var i1 = 0
        while i1 < n {
            let i2 = min(i1 + blockSize, n)
            let count = i2 - i1
            var w1 = [Double](repeating: 0, count: rows * count)
            for row in 0..<rows { for c in 0..<count { w1[row * count + c] = w[row * n + i1 + c] } }
            var q1 = [Double](repeating: 0, count: rows * count)
            var err1 = [Double](repeating: 0, count: rows * count)
            var pruned = [Bool](repeating: false, count: rows * count)
            for i in 0..<count {
                let d = hinv[(i1 + i) * n + i1 + i]
                if i % pattern.m == 0 {
                    // Prune the M-N entries of this group that cost least: w^2 / d_j^2.
                    let width = min(pattern.m, count - i)
                    var scores = [Double](repeating: 0, count: rows * width)
                    for row in 0..<rows {
                        for j in 0..<width {
                            let dj = hinv[(i1 + i + j) * n + i1 + i + j]
                            let value = w1[row * count + i + j]
                            scores[row * width + j] = value * value / (dj * dj)
                        }
                    }
                    let keep = NMPruning.keepMask(scores: scores, matrix: NMMatrixShape(rows: rows, reduction: width),
                                        pattern: NMPattern(n: min(pattern.n, width), m: width))
                    for row in 0..<rows { for j in 0..<width { pruned[row * count + i + j] = !keep[row * width + j] } }
                }
                for row in 0..<rows {
                    let value = w1[row * count + i]
                    let q = pruned[row * count + i] ? 0 : value
                    q1[row * count + i] = q
                    let error = (value - q) / d
                    err1[row * count + i] = error
                    if error != 0 {
                        for j in i..<count { w1[row * count + j] -= error * hinv[(i1 + i) * n + i1 + j] }
                    }
                }
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


    /// The upper Cholesky factor U of H^-1 as it was computed then (LAPACKE row-major, which transposes).
    static func upperCholeskyOfInverse(_ h: [Double], n: Int) -> [Double]? {
        var a = h
        let lower = Int8(UInt8(ascii: "L")), upper = Int8(UInt8(ascii: "U"))
        let layout = Int32(LAPACK_ROW_MAJOR)
        guard LAPACKE_dpotrf(layout, lower, Int32(n), &a, Int32(n)) == 0 else { return nil }
        guard LAPACKE_dpotri(layout, lower, Int32(n), &a, Int32(n)) == 0 else { return nil }
        for row in 0..<n { for column in (row + 1)..<max(row + 1, n) { a[row * n + column] = a[column * n + row] } }
        guard LAPACKE_dpotrf(layout, upper, Int32(n), &a, Int32(n)) == 0 else { return nil }
        for row in 0..<n { for column in 0..<row { a[row * n + column] = 0 } }
        return a
    }
}
