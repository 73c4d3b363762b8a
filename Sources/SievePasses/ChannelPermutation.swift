// Input-channel permutations for N:M pruning (nm-legalize's `permute` option): a search that raises
// the magnitude N:M keeps, and folding it into the layer that produces the input so the function is unchanged.
//
// Permuting a layer's input channels by π (new channel k is old channel π[k]) and its weight's
// columns by the same π leaves x·Wᵀ unchanged. The input is permuted for free when it comes from a
// matrix product with a constant weight through channel-wise ops (elementwise, casts): that
// producer's weight rows and every per-channel constant on the way (biases, scales) are permuted
// instead. Every constant so permuted must be read by that one op only: a weight shared by several
// products, or a constant some other op reads too, would change their results as well. Anything
// else (a graph input, a value read twice, a reshape, a residual) makes the permutation illegal,
// and the layer is pruned without one.
//
// A convolution [O, C, kH, kW] reduces over C·kH·kW columns, channel c owning the block of kH·kW
// columns c·kH·kW …; permuting its input channels moves whole blocks. Its input [N, C, H, W] is
// permuted for free when it comes from an ungrouped conv2d with a constant weight through ops that
// act on every channel alike (unary elementwise, max/average pooling, per-channel constants): that
// conv's weight rows (output channels) and bias are permuted instead. A grouped convolution is never
// permuted: its groups fix which channels meet which weights.

import SieveIR

/// A legal way to permute one layer's input channels: what has to be permuted along with it.
struct PermutationFold {
    /// The matrix product producing the channels, whose weight rows are permuted.
    var producer: PrunableLayer
    /// Constants whose last axis runs over the channels and is permuted too (biases, scales).
    var channelConstants: [ConstantID]
}

enum ChannelPermutation {
    /// Input channels of the layer and the weight columns each owns: (I, 1) for a matrix product,
    /// (C, kH·kW) for a convolution.
    static func channels(of layer: PrunableLayer) -> (count: Int, block: Int) {
        guard case .convolution = layer.access, layer.weightType.rank == 4 else { return (layer.matrix.reduction, 1) }
        let block = layer.weightType.shape[2] * layer.weightType.shape[3]
        return (block > 0 ? layer.matrix.reduction / block : 0, max(1, block))
    }

    /// The column permutation of a channel permutation whose channels own `block` columns each.
    static func columns(_ channelPermutation: [Int], block: Int) -> [Int] {
        channelPermutation.flatMap { channel in (0..<block).map { channel * block + $0 } }
    }

    /// Why `layer`'s input channels cannot be permuted, or nil when `fold(for:in:)` may find a fold.
    static func refusal(for layer: PrunableLayer) -> String? {
        if layer.readers > 1 { return "the weight is shared by \(layer.readers) products, each with its own input" }
        switch layer.access {
        case .matrix(_, transposeA: true): return "gemm reads its input transposed"
        case .matrix: return nil
        case let .convolution(attributes):
            return attributes.groups != 1 ? "grouped convolution (groups = \(attributes.groups)) fixes which channels meet which weights" : nil
        }
    }

    /// How many const ops read each constant. Permuting a constant's bytes changes what every one of
    /// them yields, so a fold permutes only constants that one const op reads, that op read once.
    static func constantReaders(in graph: Graph) -> [ConstantID: Int] {
        var readers: [ConstantID: Int] = [:]
        for op in graph.operations {
            if case let .constant(id) = op.kind { readers[id, default: 0] += 1 }
        }
        return readers
    }

    /// The producer of a fold, when its weight rows may be permuted: a layer of one product only (a
    /// weight shared by several products would reorder the channels of them all), whose weight no
    /// other const op reads, with one row per channel.
    static func producer(at opIndex: Int, channels: Int, in graph: Graph, readers: [ConstantID: Int]) -> PrunableLayer? {
        guard let producer = PrunableLayers.find(in: graph).first(where: { $0.opIndex == opIndex }),
              producer.readers == 1, readers[producer.constant] == 1, producer.matrix.rows == channels else { return nil }
        return producer
    }

    /// How to fold a permutation of `layer`'s input channels into its producer, or nil when it is not legal.
    static func fold(for layer: PrunableLayer, in graph: Graph) -> PermutationFold? {
        guard refusal(for: layer) == nil else { return nil }
        if case .convolution = layer.access { return convolutionFold(for: layer, in: graph) }
        let defining = graph.definingOps()
        let uses = graph.useCounts()
        let outputs = Set(graph.outputs)
        let readers = constantReaders(in: graph)
        let channels = layer.matrix.reduction
        var value = layer.input
        var constants: [ConstantID] = []

        func constantOf(_ id: ValueID) -> ConstantID? {
            guard let op = defining[id.index], case let .constant(constant) = graph.operations[op].kind, uses[id.index] == 1,
                  readers[constant] == 1 else { return nil }
            return constant
        }
        /// A constant operand that broadcasts along the channel axis: its last axis is the channels
        /// (permuted) or 1 (left alone), and it adds no axes beyond the value's.
        func channelConstant(_ id: ValueID, valueRank: Int) -> (ok: Bool, permute: ConstantID?) {
            guard let constant = constantOf(id), let type = graph.constants[constant]?.type, type.rank <= valueRank,
                  type.layout == .dense else { return (false, nil) }
            if type.rank == 0 || type.shape.last == 1 { return (true, nil) }
            guard type.shape.last == channels, type.shape.dropLast().allSatisfy({ $0 == 1 }) else { return (false, nil) }
            return (true, constant)
        }

        for _ in 0..<64 {
            guard graph.values.indices.contains(value.index), uses[value.index] == 1, !outputs.contains(value),
                  let opIndex = defining[value.index], graph.type(of: value)?.shape.last == channels else { return nil }
            let op = graph.operations[opIndex]
            let rank = graph.type(of: value)?.rank ?? 0
            switch op.kind {
            case .unary, .cast:
                value = op.operands[0]
            case .binary(.add), .binary(.sub), .binary(.mul), .binary(.div), .binary(.pow):
                // One side continues the chain, the other is a per-channel constant.
                let sides = op.operands
                let first = channelConstant(sides[1], valueRank: rank)
                if first.ok, graph.type(of: sides[0]) == graph.type(of: value).map({ TensorType($0.shape, $0.elementType) }) {
                    if let permute = first.permute { constants.append(permute) }
                    value = sides[0]
                } else if op.kind == .binary(.add) || op.kind == .binary(.mul), case let second = channelConstant(sides[0], valueRank: rank), second.ok,
                          graph.type(of: sides[1]) == graph.type(of: value).map({ TensorType($0.shape, $0.elementType) }) {
                    if let permute = second.permute { constants.append(permute) }
                    value = sides[1]
                } else {
                    return nil
                }
            case let .fusedMatmul(_, epilogue, _):
                guard !epilogue.contains(.residualAdd),
                      let producer = producer(at: opIndex, channels: channels, in: graph, readers: readers) else { return nil }
                for extra in op.operands.dropFirst(2) {
                    let bias = channelConstant(extra, valueRank: rank)
                    guard bias.ok else { return nil }
                    if let permute = bias.permute { constants.append(permute) }
                }
                return PermutationFold(producer: producer, channelConstants: constants)
            case .matmul, .gemm:
                guard let producer = producer(at: opIndex, channels: channels, in: graph, readers: readers) else { return nil }
                if case let .gemm(_, beta, _, _) = op.kind, op.operands.count == 3, beta != 0 {
                    let bias = channelConstant(op.operands[2], valueRank: 2)
                    guard bias.ok else { return nil }
                    if let permute = bias.permute { constants.append(permute) }
                }
                return PermutationFold(producer: producer, channelConstants: constants)
            default:
                return nil
            }
        }
        return nil
    }

    /// The fold of a convolution's input channels: through ops that treat every channel alike, up to an
    /// ungrouped conv2d whose output channels they are.
    static func convolutionFold(for layer: PrunableLayer, in graph: Graph) -> PermutationFold? {
        let defining = graph.definingOps()
        let uses = graph.useCounts()
        let outputs = Set(graph.outputs)
        let readers = constantReaders(in: graph)
        let channels = channels(of: layer).count
        var value = layer.input
        var constants: [ConstantID] = []

        /// A constant operand of a per-channel op on an [N, C, H, W] value: fine when it does not vary
        /// along the channel axis (left alone), or holds exactly one value per channel (permuted).
        func channelConstant(_ id: ValueID) -> (ok: Bool, permute: ConstantID?) {
            guard let op = defining[id.index], case let .constant(constant) = graph.operations[op].kind, uses[id.index] == 1,
                  readers[constant] == 1,
                  let type = graph.constants[constant]?.type, type.rank <= 4, type.layout == .dense else { return (false, nil) }
            // Aligned to the right, the channel axis (1 of 4) is the constant's axis rank - 3.
            guard type.rank >= 3, type.shape[type.rank - 3] != 1 else { return (true, nil) }
            guard type.shape[type.rank - 3] == channels, type.elementCount == channels else { return (false, nil) }
            return (true, constant)
        }

        for _ in 0..<64 {
            guard graph.values.indices.contains(value.index), uses[value.index] == 1, !outputs.contains(value),
                  let opIndex = defining[value.index], let type = graph.type(of: value), type.rank == 4,
                  type.shape[1] == channels else { return nil }
            let op = graph.operations[opIndex]
            switch op.kind {
            case .unary, .cast, .maxPool, .averagePool:
                value = op.operands[0]
            case .binary(.add), .binary(.sub), .binary(.mul), .binary(.div), .binary(.pow):
                let sides = op.operands
                let plain = TensorType(type.shape, type.elementType)
                let second = channelConstant(sides[1])
                if second.ok, graph.type(of: sides[0]) == plain {
                    if let permute = second.permute { constants.append(permute) }
                    value = sides[0]
                } else if op.kind == .binary(.add) || op.kind == .binary(.mul), case let first = channelConstant(sides[0]), first.ok,
                          graph.type(of: sides[1]) == plain {
                    if let permute = first.permute { constants.append(permute) }
                    value = sides[1]
                } else {
                    return nil
                }
            case let .conv2d(attributes):
                guard attributes.groups == 1,
                      let producer = producer(at: opIndex, channels: channels, in: graph, readers: readers) else { return nil }
                if op.operands.count == 3 {
                    let bias = op.operands[2]
                    guard let definer = defining[bias.index], case let .constant(constant) = graph.operations[definer].kind,
                          uses[bias.index] == 1, readers[constant] == 1, graph.constants[constant]?.type.elementCount == channels,
                          graph.constants[constant]?.type.layout == .dense else { return nil }
                    constants.append(constant)
                }
                return PermutationFold(producer: producer, channelConstants: constants)
            default:
                return nil
            }
        }
        return nil
    }

    /// Permutes the layer's input channels by π: its weight columns (blocks of kH·kW for a convolution),
    /// the producer's weight rows and the channel constants.
    static func apply(_ permutation: [Int], to layer: PrunableLayer, fold: PermutationFold, graph: inout Graph) throws {
        let (channelCount, block) = channels(of: layer)
        guard permutation.count == channelCount, permutation.sorted() == Array(0..<channelCount) else {
            throw DiagnosticError(.error(graph.location, "layer \(layer.name): a permutation of its \(channelCount) input channels has \(permutation.count) entries or repeats one"))
        }
        let columnPermutation = columns(permutation, block: block)
        let columns = layer.matrix.reduction
        let weights = try PrunableLayers.weightMatrix(graph, layer)
        var permuted = weights
        for row in 0..<layer.matrix.rows {
            for k in 0..<columns { permuted[row * columns + k] = weights[row * columns + columnPermutation[k]] }
        }
        let pattern = graph.constants[layer.constant].flatMap { NMPattern($0.type.layout) }
        try PrunableLayers.replaceWeight(&graph, layer, matrix: permuted, pattern: pattern)

        // Found again: replacing the layer's weight may have changed the op that reads it (transpose_b).
        guard let producer = PrunableLayers.find(in: graph).first(where: { $0.name == fold.producer.name }) else {
            throw DiagnosticError(.error(graph.location, "layer \(layer.name): the producer \(fold.producer.name) its input-channel permutation folds into is gone"))
        }
        let rowsWeights = try PrunableLayers.weightMatrix(graph, producer)
        let width = producer.matrix.reduction
        var rows = rowsWeights
        for k in 0..<channelCount {
            for i in 0..<width { rows[k * width + i] = rowsWeights[permutation[k] * width + i] }
        }
        try PrunableLayers.replaceWeight(&graph, producer, matrix: rows,
                                         pattern: graph.constants[producer.constant].flatMap { NMPattern($0.type.layout) })

        for id in fold.channelConstants {
            guard let constant = graph.constants[id], let count = constant.type.elementCount, constant.hasConsistentSize else { continue }
            var bytes = constant.bytes
            let size = constant.type.elementType.byteSize
            for part in 0..<(count / channelCount) {
                for k in 0..<channelCount {
                    let target = (part * channelCount + k) * size, source = (part * channelCount + permutation[k]) * size
                    for byte in 0..<size { bytes[target + byte] = constant.bytes[source + byte] }
                }
            }
            graph.constants.entries[id.index].bytes = bytes
        }
    }

    /// Sum over rows and groups of the N largest |w| of the group.
    static func keptMagnitude(_ magnitudes: [Double], matrix: NMMatrixShape, pattern: NMPattern, permutation: [Int]) -> Double {
        var total = 0.0
        var group = [Double](repeating: 0, count: pattern.m)
        for row in 0..<matrix.rows {
            for start in stride(from: 0, to: matrix.reduction, by: pattern.m) {
                // A padded last group has fewer real positions; its padding reads as zero.
                let width = min(pattern.m, matrix.reduction - start)
                for slot in 0..<pattern.m { group[slot] = slot < width ? magnitudes[row * matrix.reduction + permutation[start + slot]] : 0 }
                group.sort(by: >)
                for slot in 0..<pattern.n { total += group[slot] }
            }
        }
        return total
    }

    /// A permutation of the channels, each owning `block` consecutive columns, that raises the kept
    /// magnitude under the pattern: greedy swaps of two channels, each pass taking for every channel
    /// the best improving partner, within a fixed amount of work. Only the groups a swap touches are
    /// scored again. Identity when nothing improves; `search` is the one-column-per-channel case.
    static func searchChannels(_ weights: [Double], matrix: NMMatrixShape, pattern: NMPattern, block: Int, passes: Int = 4) -> [Int] {
        let n = matrix.reduction, rows = matrix.rows, m = pattern.m
        let channelCount = block > 0 ? n / block : 0
        var permutation = Array(0..<channelCount)
        guard channelCount > 1, rows > 0, channelCount * block == n else { return permutation }
        let magnitudes = weights.map(abs)
        var buffer = [Double](repeating: 0, count: m)
        // The source column of column `column` when channels a and b trade places.
        func source(_ column: Int, _ a: Int, _ b: Int) -> Int {
            var channel = column / block
            if channel == a { channel = b } else if channel == b { channel = a }
            return permutation[channel] * block + column % block
        }
        // Kept sum over all rows of group `group`, with channels a and b swapped (a == b: no swap).
        func groupKept(_ group: Int, _ a: Int, _ b: Int) -> Double {
            let start = group * m, width = min(m, n - start)
            var total = 0.0
            for row in 0..<rows {
                for slot in 0..<m { buffer[slot] = slot < width ? magnitudes[row * n + source(start + slot, a, b)] : 0 }
                buffer.sort(by: >)
                for slot in 0..<pattern.n { total += buffer[slot] }
            }
            return total
        }
        func groups(of channel: Int) -> ClosedRange<Int> { (channel * block / m)...((channel * block + block - 1) / m) }
        let groupsPerChannel = block / m + 2
        // Bound the work: passes * channels * partners * 2 touched group ranges * rows * m <= about 2e8.
        let partnersLimit = min(channelCount - 1, max(4, 200_000_000 / max(1, passes * channelCount * 4 * groupsPerChannel * rows * m)))
        for _ in 0..<passes {
            var improved = false
            for a in 0..<channelCount {
                var best: (b: Int, gain: Double)?
                for offset in 1...partnersLimit {
                    let b = (a + offset) % channelCount
                    let touched = Set(groups(of: a)).union(groups(of: b))
                    var gain = 0.0
                    for group in touched { gain += groupKept(group, a, b) - groupKept(group, a, a) }
                    if gain > 1e-12 * (1 + abs(gain)), best.map({ gain > $0.gain }) ?? true { best = (b, gain) }
                }
                if let best {
                    permutation.swapAt(a, best.b)
                    improved = true
                }
            }
            if !improved { break }
        }
        return permutation
    }

    /// A permutation of the I columns that raises the kept magnitude under the pattern, by greedy
    /// swaps of columns between groups (each pass tries, for every column, a set of partners and takes
    /// the best improving swap), within a fixed amount of work. Identity when nothing improves.
    static func search(_ weights: [Double], matrix: NMMatrixShape, pattern: NMPattern, passes: Int = 4) -> [Int] {
        let n = matrix.reduction, rows = matrix.rows, m = pattern.m
        var permutation = Array(0..<n)
        guard n > m, rows > 0 else { return permutation }
        let magnitudes = weights.map(abs)
        // Kept sum of one group of one row under the current permutation, with one column swapped in.
        func groupSum(_ row: Int, _ start: Int, replacing position: Int, with column: Int, _ buffer: inout [Double]) -> Double {
            for slot in 0..<m {
                let index = start + slot
                // Positions past the end (the padding of a last group) read as zero.
                buffer[slot] = index >= n ? 0 : magnitudes[row * n + (index == position ? column : permutation[index])]
            }
            buffer.sort(by: >)
            var sum = 0.0
            for slot in 0..<pattern.n { sum += buffer[slot] }
            return sum
        }
        // Bound the work: passes * n * partners * rows * 2 groups * m <= about 2e8.
        let partnersLimit = max(4, min(n, 200_000_000 / max(1, passes * n * rows * 2 * m)))
        var buffer = [Double](repeating: 0, count: m)
        for _ in 0..<passes {
            var improved = false
            for a in 0..<n {
                let groupA = a / m * m
                var best: (b: Int, gain: Double)?
                var partners: [Int] = []
                var b = (groupA + m) % n
                while partners.count < min(partnersLimit, n - m) {
                    if b / m * m != groupA { partners.append(b) }
                    b = (b + 1) % n
                }
                for b in partners {
                    let groupB = b / m * m
                    var gain = 0.0
                    for row in 0..<rows {
                        let before = groupSum(row, groupA, replacing: -1, with: 0, &buffer) + groupSum(row, groupB, replacing: -1, with: 0, &buffer)
                        let after = groupSum(row, groupA, replacing: a, with: permutation[b], &buffer)
                            + groupSum(row, groupB, replacing: b, with: permutation[a], &buffer)
                        gain += after - before
                    }
                    if gain > 1e-12 * (1 + abs(gain)), best.map({ gain > $0.gain }) ?? true { best = (b, gain) }
                }
                if let best {
                    permutation.swapAt(a, best.b)
                    improved = true
                }
            }
            if !improved { break }
        }
        return permutation
    }
}

extension ChannelOrder {
    /// `layer`'s weight as an [O, I] matrix stored in this order, put back into the original order.
    public func restoring(_ stored: [Double], of layer: PrunableLayer) throws(DiagnosticError) -> [Double] {
        let (rows, columns) = (layer.matrix.rows, layer.matrix.reduction)
        let (channelCount, block) = ChannelPermutation.channels(of: layer)
        let rowOrder = output ?? Array(0..<rows)
        let columnOrder = input.map { ChannelPermutation.columns($0, block: block) } ?? Array(0..<columns)
        guard stored.count == rows * columns, rowOrder.count == rows, columnOrder.count == columns,
              input.map({ $0.count == channelCount }) ?? true else {
            throw DiagnosticError(.error(.unknown, "layer \(layer.name): its recorded channel permutation does not fit its \(rows)x\(columns) weight"))
        }
        var values = [Double](repeating: 0, count: stored.count)
        for row in 0..<rows {
            for column in 0..<columns { values[rowOrder[row] * columns + columnOrder[column]] = stored[row * columns + column] }
        }
        return values
    }
}
