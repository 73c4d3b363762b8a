// Tests of the nm<N:M> storage format: pack/unpack round trips for every pattern, the byte layout of
// a worked example, refusal of weights that break the pattern, and the verifier's storage checks.

import Foundation
import SieveIR
import SieveTestSupport
import Testing


/// Every pattern the layout admits.
let allPatterns: [NMPattern] = [4, 8, 16].flatMap { m in (1..<m).map { NMPattern(n: $0, m: m) } }

/// Dense f32 values of `rows x reduction` with at most N non-zeros per group at random positions
/// (sometimes fewer, to exercise the zero fill).
func randomNMValues(rows: Int, reduction: Int, pattern: NMPattern, seed: UInt64) -> [Float] {
    var random = SplitMix64(seed: seed)
    var values = [Float](repeating: 0, count: rows * reduction)
    for group in 0..<(rows * reduction / pattern.m) {
        let keep = random.below(pattern.n + 1)
        var slots = Array(0..<pattern.m)
        for index in 0..<keep {
            let pick = index + random.below(pattern.m - index)
            slots.swapAt(index, pick)
            values[group * pattern.m + slots[index]] = random.signedUnitFloat() + (random.signedUnitFloat() > 0 ? 2 : -2)
        }
    }
    return values
}

/// Like `randomNMValues`, group by group within each row, so that a reduction that is not a multiple
/// of M ends in a short group (at most min(N, width) non-zeros among its real positions).
func randomPaddedNMValues(rows: Int, reduction: Int, pattern: NMPattern, seed: UInt64) -> [Float] {
    var random = SplitMix64(seed: seed)
    var values = [Float](repeating: 0, count: rows * reduction)
    for row in 0..<rows {
        for start in stride(from: 0, to: reduction, by: pattern.m) {
            let width = min(pattern.m, reduction - start)
            let keep = random.below(min(pattern.n, width) + 1)
            var slots = Array(0..<width)
            for index in 0..<keep {
                let pick = index + random.below(width - index)
                slots.swapAt(index, pick)
                values[row * reduction + start + slots[index]] = random.signedUnitFloat() + (random.signedUnitFloat() > 0 ? 2 : -2)
            }
        }
    }
    return values
}

func f32Bytes(_ values: [Float]) -> [UInt8] {
    var bytes: [UInt8] = []
    for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
    return bytes
}

@Suite struct NMPackingTests {
    @Test(arguments: allPatterns)
    func packThenUnpackGivesTheDenseBytesBack(_ pattern: NMPattern) throws {
        for (shape, seed) in [([3, 2 * pattern.m], UInt64(1)), ([5, 7 * pattern.m], 2), ([2, pattern.m / 4, 2, 2], 3)] {
            let matrix = try #require(NMMatrixShape(shape))
            let dense = f32Bytes(randomNMValues(rows: matrix.rows, reduction: matrix.reduction, pattern: pattern, seed: seed))
            let packed = try NMPacking.pack(denseBytes: dense, shape: shape, elementType: .f32, pattern: pattern)
            #expect(packed.count == NMPacking.packedByteCount(shape: shape, elementType: .f32, pattern: pattern))
            #expect(NMPacking.storageProblems(packedBytes: packed, shape: shape, elementType: .f32, pattern: pattern).isEmpty)
            let unpacked = try NMPacking.unpack(packedBytes: packed, shape: shape, elementType: .f32, pattern: pattern)
            #expect(unpacked == dense, "\(pattern) \(shape)")
            // Canonical storage packs to itself.
            #expect(try NMPacking.pack(denseBytes: unpacked, shape: shape, elementType: .f32, pattern: pattern) == packed)
        }
    }

    @Test(arguments: allPatterns)
    func paddedReductionsRoundTrip(_ pattern: NMPattern) throws {
        let m = pattern.m
        for (shape, seed) in [([3, m + 1], UInt64(4)), ([2, 2 * m + m - 1], 5), ([4, 3, 3, 3], 6), ([2, 3], 7), ([1, 1], 8)] {
            let matrix = try #require(NMMatrixShape(shape))
            guard matrix.reduction % m != 0 else { continue }
            let dense = f32Bytes(randomPaddedNMValues(rows: matrix.rows, reduction: matrix.reduction, pattern: pattern, seed: seed))
            let packed = try NMPacking.pack(denseBytes: dense, shape: shape, elementType: .f32, pattern: pattern)
            #expect(packed.count == NMPacking.packedByteCount(shape: shape, elementType: .f32, pattern: pattern))
            #expect(packed.count == matrix.rows * ((matrix.reduction + m - 1) / m) * pattern.n * 4
                    + (matrix.rows * ((matrix.reduction + m - 1) / m) * pattern.n * pattern.indexBits + 7) / 8)
            #expect(NMPacking.storageProblems(packedBytes: packed, shape: shape, elementType: .f32, pattern: pattern).isEmpty)
            let unpacked = try NMPacking.unpack(packedBytes: packed, shape: shape, elementType: .f32, pattern: pattern)
            #expect(unpacked == dense, "\(pattern) \(shape)")
            #expect(try NMPacking.pack(denseBytes: unpacked, shape: shape, elementType: .f32, pattern: pattern) == packed)
        }
    }

    @Test func paddedExampleOfDocsNMLayout() throws {
        // The padded example of docs/nm-layout.md: a 2x5 f32 weight in 2:4, stored as 2 groups per row.
        let dense: [Float] = [1, 0, -2, 0, 3,
                              0, 4, 0, 0, 0]
        let shape = [2, 5], pattern = NMPattern(n: 2, m: 4)
        let packed = try NMPacking.pack(denseBytes: f32Bytes(dense), shape: shape, elementType: .f32, pattern: pattern)
        // Row 0: 1, -2 (0, 2) | 3 and padding position 1 (0, 1); row 1: a filler zero and 4 (0, 1) | filler
        // zero at 0 and padding at 1 (0, 1).
        #expect(Array(packed.prefix(32)) == f32Bytes([1, -2, 3, 0, 0, 4, 0, 0]))
        #expect(Array(packed.dropFirst(32)) == [0x48, 0x44])
        #expect(try NMPacking.unpack(packedBytes: packed, shape: shape, elementType: .f32, pattern: pattern) == f32Bytes(dense))
        // A non-zero on the padding (position 1 of row 0's last group) breaks the storage rules.
        var broken = packed
        broken.replaceSubrange(12..<16, with: f32Bytes([7]))
        let problems = NMPacking.storageProblems(packedBytes: broken, shape: shape, elementType: .f32, pattern: pattern)
        #expect(problems == ["group 1 of row 0 keeps a non-zero value at padding position 1 (the reduction 5 ends at position 1 of that group); padding must hold zero"])
        #expect(throws: DiagnosticError.self) {
            try NMPacking.unpack(packedBytes: broken, shape: shape, elementType: .f32, pattern: pattern)
        }
        // Dumps say that the reduction is padded.
        var graph = Graph(name: "g")
        let x = graph.addInput(TensorType([1, 5], .f32), name: "x")
        let w = graph.appendConstant(Constant(name: "w", type: TensorType(shape, .f32, layout: pattern.layout), bytes: packed))
        graph.outputs = [graph.append(.matmul(transposeB: true), [x, w], TensorType([1, 2], .f32))]
        #expect(Verifier.diagnostics(for: graph).isEmpty)
        #expect(graph.print(options: PrintOptions(sparsityNotes: true))
                .contains("// 2:4, density 0.5: 8 of 10 weights kept, 2-bit indices, reduction 5 padded to 8"))
        // More than N non-zeros among a padded group's real positions is refused.
        #expect(throws: DiagnosticError.self) {
            try NMPacking.pack(denseBytes: f32Bytes([1, 2, 3]), shape: [1, 3], elementType: .f32, pattern: pattern)
        }
    }

    @Test func workedExampleOfDocsNMLayout() throws {
        // The example of docs/nm-layout.md: a 2x8 f32 weight in 2:4.
        let dense: [Float] = [0, 1.5, 0, -2, 3, 0, 0, 0.5,
                              0, 0, 0, 0, 0, 4, -1, 0]
        let packed = try NMPacking.pack(denseBytes: f32Bytes(dense), shape: [2, 8], elementType: .f32,
                                        pattern: NMPattern(n: 2, m: 4))
        let values: [Float] = [1.5, -2, 3, 0.5, 0, 0, 4, -1]
        #expect(Array(packed.prefix(32)) == f32Bytes(values))
        // Indices 1,3 | 0,3 | 0,1 | 1,2, two bits each, least significant first:
        // byte 0 = 1 | 3<<2 | 0<<4 | 3<<6 = 0xCD, byte 1 = 0 | 1<<2 | 1<<4 | 2<<6 = 0x94.
        #expect(Array(packed.suffix(2)) == [0xCD, 0x94])
    }

    @Test func threeBitIndicesCrossByteBoundaries() throws {
        // 1:8 keeps one value per group; indices 7, 5, 6 need 9 bits.
        var dense = [Float](repeating: 0, count: 24)
        dense[7] = 1; dense[8 + 5] = 2; dense[16 + 6] = 3
        let packed = try NMPacking.pack(denseBytes: f32Bytes(dense), shape: [1, 24], elementType: .f32,
                                        pattern: NMPattern(n: 1, m: 8))
        let low: UInt8 = 7 | 5 << 3 | (6 & 3) << 6
        #expect(Array(packed.suffix(2)) == [low, 6 >> 2])
    }

    @Test func integerWeightsRoundTrip() throws {
        let dense: [UInt8] = [0, 5, 0, 0xF0, 9, 0, 0, 0]  // i8: 0, 5, 0, -16 | 9, 0, 0, 0
        let pattern = NMPattern(n: 2, m: 4)
        let packed = try NMPacking.pack(denseBytes: dense, shape: [1, 8], elementType: .i8, pattern: pattern)
        #expect(packed.count == 4 + 1)
        #expect(try NMPacking.unpack(packedBytes: packed, shape: [1, 8], elementType: .i8, pattern: pattern) == dense)
    }

    @Test func negativeZeroSurvivesWhenThereIsRoom() throws {
        let dense: [Float] = [-0.0, 0, 0, 1]
        let packed = try NMPacking.pack(denseBytes: f32Bytes(dense), shape: [1, 4], elementType: .f32,
                                        pattern: NMPattern(n: 2, m: 4))
        #expect(try NMPacking.unpack(packedBytes: packed, shape: [1, 4], elementType: .f32, pattern: NMPattern(n: 2, m: 4)) == f32Bytes(dense))
    }

    @Test func tooManyNonZerosAreRefusedWithThePlace() throws {
        let dense: [Float] = [1, 1, 0, 0, 0, 1, 1, 1]
        let violation = try #require(NMPacking.firstViolation(denseBytes: f32Bytes(dense), shape: [1, 8], elementType: .f32,
                                                              pattern: NMPattern(n: 2, m: 4)))
        #expect(violation.row == 0 && violation.group == 1 && violation.nonZeros == 3)
        let error = #expect(throws: DiagnosticError.self) {
            try NMPacking.pack(denseBytes: f32Bytes(dense), shape: [1, 8], elementType: .f32, pattern: NMPattern(n: 2, m: 4))
        }
        #expect(error?.description.contains("found 3 in group 1 of row 0") == true)
    }

    @Test func unpackRefusesIndicesThatDoNotIncrease() throws {
        var packed = try NMPacking.pack(denseBytes: f32Bytes([1, 2, 0, 0]), shape: [1, 4], elementType: .f32,
                                        pattern: NMPattern(n: 2, m: 4))
        packed[8] = 0b0101  // indices 1, 1
        #expect(throws: DiagnosticError.self) {
            try NMPacking.unpack(packedBytes: packed, shape: [1, 4], elementType: .f32, pattern: NMPattern(n: 2, m: 4))
        }
    }

    @Test func layoutNeedsRankTwoOrFourAndPadsTheReduction() {
        let pattern = NMPattern(n: 2, m: 4)
        #expect(NMPacking.layoutProblem(shape: [4, 8], elementType: .f32, pattern: pattern) == nil)
        #expect(NMPacking.layoutProblem(shape: [4, 4, 3, 3], elementType: .f32, pattern: pattern) == nil)
        // 3*3*3 = 27 is padded to 28: 7 groups, 14 kept values per row.
        #expect(NMPacking.layoutProblem(shape: [4, 3, 3, 3], elementType: .f32, pattern: pattern) == nil)
        #expect(NMPacking.keptCount(NMMatrixShape(rows: 4, reduction: 27), pattern) == 4 * 7 * 2)
        #expect(NMPacking.packedByteCount(shape: [4, 3, 3, 3], elementType: .f32, pattern: pattern) == 56 * 4 + 14)
        #expect(NMPacking.layoutProblem(shape: [2, 4], elementType: .bool, pattern: pattern) != nil)
        #expect(NMPacking.layoutProblem(shape: [2, 4, 8], elementType: .f32, pattern: pattern) != nil)
        #expect(NMPacking.layoutProblem(shape: [4, 8], elementType: .f32, pattern: NMPattern(n: 2, m: 6)) != nil)
        #expect(NMPattern("2:4") == pattern)
        #expect(NMPattern("2") == nil)
        #expect(NMPattern("a:b") == nil)
    }

    @Test func constantsRoundTripThroughText() throws {
        let dense = Constant(name: "w", type: TensorType([2, 8], .f32),
                             bytes: f32Bytes(randomNMValues(rows: 2, reduction: 8, pattern: NMPattern(n: 2, m: 4), seed: 9)))
        var graph = Graph(name: "g")
        let x = graph.addInput(TensorType([1, 8], .f32), name: "x")
        let packed = try NMPacking.pack(dense, pattern: NMPattern(n: 2, m: 4))
        let w = graph.appendConstant(packed)
        graph.outputs = [graph.append(.matmul(transposeB: true), [x, w], TensorType([1, 2], .f32))]
        #expect(Verifier.diagnostics(for: graph).isEmpty)
        let text = graph.print()
        #expect(try Parser.parse(text).graphs == [graph])
        #expect(try NMPacking.unpack(packed) == dense)
        #expect(graph.print(options: PrintOptions(sparsityNotes: true)).contains("// 2:4, density 0.5: 8 of 16 weights kept, 2-bit indices"))
    }

    @Test func sparsityRequestRoundTripsThroughText() throws {
        let text = """
            graph @g(%x: tensor<1x8xf32>) -> tensor<1x2xf32> {
              %1 = const @w {sparsity = "2:4"} : tensor<2x8xf32>
              %2 = matmul %x, %1 {transpose_b = true} : tensor<1x2xf32>
              return %2
            }
            const @w : tensor<2x8xf32> = splat<1.0>

            """
        let module = try Parser.parse(text)
        #expect(module.graphs[0].constants.entries[0].sparsityRequest == NMPattern(n: 2, m: 4))
        #expect(module.print() == text)
        #expect(throws: DiagnosticError.self) { try Parser.parse(text.replacingOccurrences(of: "\"2:4\"", with: "\"2-4\"")) }
    }
}
