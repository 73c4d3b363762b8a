// The one definition of `nm<N:M>` storage: which axes group, and how kept values and indices are packed.
// Packing, unpacking, pattern checks and the verifier's storage checks all go through this file.
//
// A weight is read as a matrix [rows, reduction]: rows = shape[0] (output channels), reduction =
// the product of the remaining axes in row-major order. For a rank-2 weight [O, I] that is the last
// axis; for a rank-4 convolution weight [O, C/groups, kH, kW] it is C/groups*kH*kW flattened per
// output channel. Each row is cut into ceil(reduction/M) groups; when the reduction is not a multiple
// of M the last group is padded with M - reduction%M positions past the end that read as zero, and a
// kept entry may sit on such a position only with the value zero. Storage is the kept values,
// values[rows][ceil(reduction/M)*N] in the tensor's element type, little-endian, rows in order;
// followed by one log2(M)-bit in-group index per kept value in the same order, packed
// least-significant bit first into bytes (the last byte zero-padded). docs/nm-layout.md has worked examples.

/// An N:M pattern: at most `n` non-zeros in every group of `m` consecutive reduction elements.
public struct NMPattern: Hashable, Sendable, CustomStringConvertible {
    /// Values kept per group.
    public var n: Int
    /// Group size (4, 8 or 16).
    public var m: Int

    /// Makes a pattern; `problem` says whether it is valid.
    public init(n: Int, m: Int) {
        self.n = n
        self.m = m
    }

    /// Parses `N:M`, such as `2:4`; nil when the text is not two integers around a colon.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let n = Int(parts[0]), let m = Int(parts[1]) else { return nil }
        self.init(n: n, m: m)
    }

    /// The pattern of an `nm` layout, or nil for dense.
    public init?(_ layout: Layout) {
        guard case let .nm(n, m) = layout else { return nil }
        self.init(n: n, m: m)
    }

    /// Why the pattern is not usable, or nil when 1 <= N < M and M is in {4, 8, 16}.
    public var problem: String? {
        guard Layout.supportedGroupSizes.contains(m) else { return "nm<\(n):\(m)> needs M in {4, 8, 16}, found \(m)" }
        guard n >= 1, n < m else { return "nm<\(n):\(m)> needs 1 <= N < M" }
        return nil
    }

    /// The layout that stores weights in this pattern.
    public var layout: Layout { .nm(n: n, m: m) }

    /// The fraction of weights kept, N/M.
    public var density: Double { Double(n) / Double(m) }

    /// Bits per stored index: log2(M).
    public var indexBits: Int { m.trailingZeroBitCount }

    /// `N:M`.
    public var description: String { "\(n):\(m)" }
}

/// A weight seen as a matrix: `rows` output channels, each reducing over `reduction` elements.
public struct NMMatrixShape: Hashable, Sendable {
    /// Output channels: the first axis.
    public var rows: Int
    /// Elements reduced per output channel: the product of the other axes.
    public var reduction: Int

    /// Makes a matrix shape from its two sizes.
    public init(rows: Int, reduction: Int) {
        self.rows = rows
        self.reduction = reduction
    }

    /// The matrix view of a weight shape; nil unless the rank is 2 (`[O, I]`) or 4 (`[O, C, kH, kW]`).
    public init?(_ shape: [Int]) {
        guard shape.count == 2 || shape.count == 4, shape.allSatisfy({ $0 >= 0 }) else { return nil }
        rows = shape[0]
        var product = 1
        for dim in shape.dropFirst() {
            let (next, overflow) = product.multipliedReportingOverflow(by: dim)
            guard !overflow else { return nil }
            product = next
        }
        reduction = product
    }
}

/// Packs dense weights into `nm<N:M>` storage, unpacks it, and checks packed storage.
public enum NMPacking {
    /// Why a type cannot carry this pattern's layout (rank, element type), or nil. Any reduction length
    /// fits: one that is not a multiple of M is padded in storage.
    public static func layoutProblem(shape: [Int], elementType: ElementType, pattern: NMPattern) -> String? {
        if let problem = pattern.problem { return problem }
        guard NMMatrixShape(shape) != nil else {
            return "nm layout needs a matrix weight [O, I] (rank 2) or a convolution weight [O, C, kH, kW] (rank 4), found rank \(shape.count)"
        }
        guard elementType != .bool, !elementType.isNarrow else {
            return "nm layout needs an element type of 8 bits or more (f32, f16, bf16, i8, u8, i16, u16, i32, i64), found \(elementType)"
        }
        return nil
    }

    /// Groups of M per row: ceil(reduction / M), the last one padded when M does not divide the reduction.
    public static func groupsPerRow(_ matrix: NMMatrixShape, _ pattern: NMPattern) -> Int {
        (matrix.reduction + pattern.m - 1) / pattern.m
    }

    /// Real (unpadded) positions of group `group` of a row: M, or reduction % M for a padded last group.
    public static func groupWidth(_ matrix: NMMatrixShape, _ pattern: NMPattern, group: Int) -> Int {
        min(pattern.m, matrix.reduction - group * pattern.m)
    }

    /// How many values the storage keeps: rows * ceil(reduction / M) * N.
    public static func keptCount(_ matrix: NMMatrixShape, _ pattern: NMPattern) -> Int {
        matrix.rows * groupsPerRow(matrix, pattern) * pattern.n
    }

    /// Bytes of packed storage: kept values, then ceil(kept * log2(M) / 8) index bytes; nil for an invalid type.
    public static func packedByteCount(shape: [Int], elementType: ElementType, pattern: NMPattern) -> Int? {
        guard layoutProblem(shape: shape, elementType: elementType, pattern: pattern) == nil,
              let matrix = NMMatrixShape(shape) else { return nil }
        let kept = keptCount(matrix, pattern)
        return kept * elementType.byteSize + (kept * pattern.indexBits + 7) / 8
    }

    /// Whether element `index` of dense little-endian storage is zero (either sign for floats).
    static func isZero(_ bytes: [UInt8], element index: Int, elementType: ElementType) -> Bool {
        let size = elementType.byteSize
        let base = index * size
        for byte in 0..<size {
            var value = bytes[base + byte]
            // The sign bit is the top bit of the last little-endian byte.
            if elementType.isFloat && byte == size - 1 { value &= 0x7F }
            if value != 0 { return false }
        }
        return true
    }

    /// The first group holding more than N non-zeros, as (row, group, non-zero count), or nil when
    /// the dense weight already satisfies the pattern. The shape must suit the pattern.
    public static func firstViolation(denseBytes: [UInt8], shape: [Int], elementType: ElementType,
                                      pattern: NMPattern) -> (row: Int, group: Int, nonZeros: Int)? {
        guard let matrix = NMMatrixShape(shape), pattern.m > 0 else { return nil }
        let groups = groupsPerRow(matrix, pattern)
        for row in 0..<matrix.rows {
            for group in 0..<groups {
                let start = row * matrix.reduction + group * pattern.m
                var count = 0
                for slot in 0..<groupWidth(matrix, pattern, group: group) where !isZero(denseBytes, element: start + slot, elementType: elementType) {
                    count += 1
                }
                if count > pattern.n { return (row, group, count) }
            }
        }
        return nil
    }

    /// Packs dense little-endian storage of `shape` into `nm<N:M>` storage.
    ///
    /// Every non-zero is kept. A group with fewer than N non-zeros is filled up with zeros at its
    /// lowest free positions (a negative zero is preferred, so that it survives bit for bit); in a
    /// padded last group the positions past the end count as free, and are stored as zero bytes.
    /// Throws when the shape cannot carry the pattern or a group holds more than N non-zeros.
    public static func pack(denseBytes: [UInt8], shape: [Int], elementType: ElementType,
                            pattern: NMPattern) throws(DiagnosticError) -> [UInt8] {
        if let problem = layoutProblem(shape: shape, elementType: elementType, pattern: pattern) {
            throw DiagnosticError(.error(.unknown, "cannot pack into nm<\(pattern)>: \(problem)"))
        }
        guard let matrix = NMMatrixShape(shape), let count = TensorType(shape, elementType).elementCount,
              denseBytes.count == count * elementType.byteSize else {
            throw DiagnosticError(.error(.unknown, "cannot pack into nm<\(pattern)>: \(denseBytes.count) bytes do not hold a dense \(TensorType(shape, elementType))"))
        }
        let size = elementType.byteSize
        let kept = keptCount(matrix, pattern)
        let bits = pattern.indexBits
        var values: [UInt8] = []
        values.reserveCapacity(kept * size)
        var indices = [UInt8](repeating: 0, count: (kept * bits + 7) / 8)
        var bitPosition = 0
        let groups = groupsPerRow(matrix, pattern)
        let zeroValue = [UInt8](repeating: 0, count: size)
        var chosen: [Int] = []
        for row in 0..<matrix.rows {
            for group in 0..<groups {
                let start = row * matrix.reduction + group * pattern.m
                let width = groupWidth(matrix, pattern, group: group)
                chosen.removeAll(keepingCapacity: true)
                for slot in 0..<width where !isZero(denseBytes, element: start + slot, elementType: elementType) {
                    chosen.append(slot)
                }
                guard chosen.count <= pattern.n else {
                    throw DiagnosticError(.error(.unknown, "weight is not \(pattern): expected at most \(pattern.n) non-zeros in every group of \(pattern.m), found \(chosen.count) in group \(group) of row \(row); prune it first (nm-legalize)"))
                }
                // Fill with negative zeros first, then plain zeros, lowest positions first.
                for slot in 0..<width where chosen.count < pattern.n && !chosen.contains(slot) {
                    let base = (start + slot) * size
                    if denseBytes[base..<(base + size)].contains(where: { $0 != 0 }) { chosen.append(slot) }
                }
                for slot in 0..<pattern.m where chosen.count < pattern.n && !chosen.contains(slot) {
                    chosen.append(slot)
                }
                chosen.sort()
                for slot in chosen {
                    let base = (start + slot) * size
                    if slot < width {
                        values.append(contentsOf: denseBytes[base..<(base + size)])
                    } else {
                        values.append(contentsOf: zeroValue)
                    }
                    writeBits(UInt32(slot), count: bits, at: bitPosition, into: &indices)
                    bitPosition += bits
                }
            }
        }
        return values + indices
    }

    /// Unpacks `nm<N:M>` storage into dense little-endian storage of `shape`; dropped elements are zero.
    /// Kept entries on the padding of a last group (zeros, by the storage rules) are left out.
    ///
    /// Throws when the byte count is wrong, an index does not increase within its group, or a padding
    /// position holds a non-zero value.
    public static func unpack(packedBytes: [UInt8], shape: [Int], elementType: ElementType,
                              pattern: NMPattern) throws(DiagnosticError) -> [UInt8] {
        if let problem = storageProblems(packedBytes: packedBytes, shape: shape, elementType: elementType,
                                         pattern: pattern, limit: 1).first {
            throw DiagnosticError(.error(.unknown, "cannot unpack nm<\(pattern)> storage: \(problem)"))
        }
        guard let matrix = NMMatrixShape(shape), let count = TensorType(shape, elementType).elementCount else { return [] }
        let size = elementType.byteSize
        let kept = keptCount(matrix, pattern)
        var dense = [UInt8](repeating: 0, count: count * size)
        let indexStart = kept * size
        let groups = groupsPerRow(matrix, pattern)
        for position in 0..<kept {
            let slot = Int(readBits(packedBytes, offset: indexStart, at: position * pattern.indexBits, count: pattern.indexBits))
            let groupIndex = position / pattern.n  // groups in row-major order over all rows
            let (row, group) = groupIndex.quotientAndRemainder(dividingBy: groups)
            guard slot < groupWidth(matrix, pattern, group: group) else { continue }
            let element = row * matrix.reduction + group * pattern.m + slot
            let source = position * size
            for byte in 0..<size { dense[element * size + byte] = packedBytes[source + byte] }
        }
        return dense
    }

    /// Packs a dense constant into the pattern's layout, keeping name and quantization.
    public static func pack(_ constant: Constant, pattern: NMPattern) throws(DiagnosticError) -> Constant {
        guard constant.type.layout == .dense else {
            throw DiagnosticError(.error(.unknown, "constant @\(constant.name) is already \(constant.type.layout); only dense constants are packed"))
        }
        var type = constant.type
        type.layout = pattern.layout
        do {
            let bytes = try pack(denseBytes: constant.bytes, shape: type.shape, elementType: type.elementType, pattern: pattern)
            return Constant(name: constant.name, type: type, bytes: bytes)
        } catch {
            throw DiagnosticError(error.diagnostics.map { var d = $0; d.message = "constant @\(constant.name): " + d.message; return d })
        }
    }

    /// Unpacks an `nm` constant into a dense constant of the same shape (a dense constant is returned as is).
    public static func unpack(_ constant: Constant) throws(DiagnosticError) -> Constant {
        guard let pattern = NMPattern(constant.type.layout) else { return constant }
        var type = constant.type
        type.layout = .dense
        do {
            let bytes = try unpack(packedBytes: constant.bytes, shape: type.shape, elementType: type.elementType, pattern: pattern)
            return Constant(name: constant.name, type: type, bytes: bytes)
        } catch {
            throw DiagnosticError(error.diagnostics.map { var d = $0; d.message = "constant @\(constant.name): " + d.message; return d })
        }
    }

    /// What is wrong with packed storage, at most `limit` messages: the byte count, indices that
    /// do not strictly increase within a group, kept entries on the padding of a last group whose
    /// value is not all zero bytes, and non-zero padding bits after the last index.
    ///
    /// Indices are always in range: log2(M) bits cannot spell a value of M or more.
    public static func storageProblems(packedBytes: [UInt8], shape: [Int], elementType: ElementType,
                                       pattern: NMPattern, limit: Int = 8) -> [String] {
        guard let expected = packedByteCount(shape: shape, elementType: elementType, pattern: pattern),
              let matrix = NMMatrixShape(shape) else {
            return [layoutProblem(shape: shape, elementType: elementType, pattern: pattern) ?? "invalid nm type"]
        }
        guard packedBytes.count == expected else {
            return ["holds \(packedBytes.count) bytes, nm<\(pattern)> storage of \(TensorType(shape, elementType)) needs \(expected)"]
        }
        var problems: [String] = []
        let kept = keptCount(matrix, pattern)
        let indexStart = kept * elementType.byteSize
        let bits = pattern.indexBits
        let size = elementType.byteSize
        let groupsPerRow = max(1, groupsPerRow(matrix, pattern))
        var groupIndex = 0
        while groupIndex * pattern.n < kept, problems.count < limit {
            var previous = -1
            let (row, group) = groupIndex.quotientAndRemainder(dividingBy: groupsPerRow)
            let width = groupWidth(matrix, pattern, group: group)
            for slot in 0..<pattern.n {
                let position = groupIndex * pattern.n + slot
                let index = Int(readBits(packedBytes, offset: indexStart, at: position * bits, count: bits))
                if index <= previous {
                    problems.append("indices of group \(group) of row \(row) are not strictly increasing: \(index) follows \(previous)")
                    break
                }
                if index >= width, packedBytes[(position * size)..<((position + 1) * size)].contains(where: { $0 != 0 }) {
                    problems.append("group \(group) of row \(row) keeps a non-zero value at padding position \(index) (the reduction \(matrix.reduction) ends at position \(width) of that group); padding must hold zero")
                    break
                }
                previous = index
            }
            groupIndex += 1
        }
        let usedBits = kept * bits
        if usedBits % 8 != 0, let last = packedBytes.last, problems.count < limit, last >> UInt8(usedBits % 8) != 0 {
            problems.append("the padding bits after the last index must be zero, found byte 0x\(String(last, radix: 16))")
        }
        return problems
    }

    /// Writes `count` low bits of `value` at bit `position` of a least-significant-bit-first stream.
    static func writeBits(_ value: UInt32, count: Int, at position: Int, into bytes: inout [UInt8]) {
        for bit in 0..<count where value >> UInt32(bit) & 1 == 1 {
            let target = position + bit
            bytes[target / 8] |= UInt8(1) << UInt8(target % 8)
        }
    }

    /// Reads `count` bits at bit `position` of the stream that starts at byte `offset`.
    static func readBits(_ bytes: [UInt8], offset: Int, at position: Int, count: Int) -> UInt32 {
        var value: UInt32 = 0
        for bit in 0..<count {
            let source = position + bit
            if bytes[offset + source / 8] >> UInt8(source % 8) & 1 == 1 { value |= UInt32(1) << UInt32(bit) }
        }
        return value
    }
}
