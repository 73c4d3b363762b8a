// SparseGPT with its in-block column updates on OpenBLAS (dger inside 32-column sub-blocks, dgemm across
// them) against the scalar implementation it replaced, kept as the oracle in ScalarSparseGPT.swift.
//
// Tolerance: both do the same updates, grouped differently, so results differ by rounding only: every
// weight within 1e-9 of the largest |w| (observed: a few 1e-15), with the same entries pruned.

import COpenBLAS
import SieveIR
import Testing
@testable import SievePasses

@Suite struct SparseGPTBLASTests {
    /// X^T X of `samples` correlated rows (rank-8 structure plus noise) with `features` columns.
    func gram(features: Int, samples: Int, seed: UInt64) -> [Double] {
        var random = Random(seed)
        let rank = 8
        let basis = random.gaussians(rank * features).map(Double.init)
        let coefficients = random.gaussians(samples * rank).map(Double.init)
        var x = [Double](repeating: 0, count: samples * features)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(samples), Int32(features), Int32(rank), 1, coefficients,
                    Int32(rank), basis, Int32(features), 0, &x, Int32(features))
        for index in x.indices { x[index] += 0.2 * random.gaussian() }
        var result = [Double](repeating: 0, count: features * features)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(features), Int32(features), Int32(samples), 1, x, Int32(features),
                    x, Int32(features), 0, &result, Int32(features))
        return result
    }

    @Test(arguments: [NMPattern(n: 2, m: 4), NMPattern(n: 1, m: 4), NMPattern(n: 4, m: 8), NMPattern(n: 2, m: 8), NMPattern(n: 5, m: 16)])
    func blasUpdatesMatchTheScalarOracle(_ pattern: NMPattern) throws {
        // 300 columns: two whole blocks of 128 and one of 44 (padded last group for M = 8 and 16);
        // 40 columns: a single block shorter than one sub-block plus a bit.
        for (rows, columns, groups, seed) in [(24, 300, 1, UInt64(1)), (10, 40, 2, 2)] {
            var random = Random(seed)
            let weights = random.gaussians(rows * columns).map(Double.init)
            let grams = (0..<groups).map { gram(features: columns, samples: 3 * columns, seed: seed &* 10 &+ UInt64($0)) }
            let matrix = NMMatrixShape(rows: rows, reduction: columns)
            let blas = try NMPruning.sparseGPT(weights, matrix: matrix, pattern: pattern, gram: grams)
            let scalar = try ScalarSparseGPT.sparseGPT(weights, matrix: matrix, pattern: pattern, gram: grams)
            let scale = weights.map(abs).max() ?? 1
            let difference = zip(blas, scalar).map { abs($0 - $1) }.max() ?? 0
            #expect(difference <= 1e-9 * scale, "\(pattern), \(rows)x\(columns): max difference \(difference)")
            let differentlyPruned = zip(blas, scalar).filter { ($0 == 0) != ($1 == 0) }.count
            #expect(differentlyPruned == 0, "\(pattern), \(rows)x\(columns): \(differentlyPruned) entries pruned by one and not the other")
            #expect(NMLegalize.firstViolation(blas, matrix, pattern) == nil)
            // Not vacuous: SparseGPT moved the kept weights.
            #expect(zip(blas, weights).contains { $0 != 0 && abs($0 - $1) > 1e-6 })
        }
    }
}
