// plan-memory: gives every intermediate value (and each op's scratch space) a static arena offset.
// Offsets come from liveness: values whose lifetimes do not overlap share bytes; elementwise ops reuse a dying operand in place.

import SieveIR

/// Where a value's elements live before kernels are built.
public enum ValueHome: Hashable, Sendable {
    /// A graph input, by position.
    case input(Int)
    /// A constant of the table.
    case constant(ConstantID)
    /// The same elements as another value (reshape and friends): row-major order is unchanged.
    case view(of: ValueID)
    /// Computed into the caller's output number k.
    case output(Int)
    /// Computed into the arena at a byte offset.
    case arena(offset: Int)
}

/// The result of planning: a home for every value, scratch offsets, and the arena size.
public struct MemoryPlan: Hashable, Sendable {
    /// The home of each value, indexed by `ValueID.index`.
    public var homes: [ValueHome?]
    /// For each op index that needs scratch space, the arena offset of its scratch.
    public var scratch: [Int: Int]
    /// The arena size in bytes, a multiple of 64.
    public var arenaBytes: Int
    /// Graph outputs that need a copy kernel at the end: (output position, value).
    public var copiedOutputs: [(position: Int, value: ValueID)]
    /// Values computed in place of an operand, for the report.
    public var inPlaceCount: Int

    public static func == (lhs: MemoryPlan, rhs: MemoryPlan) -> Bool {
        lhs.homes == rhs.homes && lhs.scratch == rhs.scratch && lhs.arenaBytes == rhs.arenaBytes
            && lhs.copiedOutputs.map(\.position) == rhs.copiedOutputs.map(\.position)
            && lhs.copiedOutputs.map(\.value) == rhs.copiedOutputs.map(\.value)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(homes)
        hasher.combine(arenaBytes)
    }
}

/// The `plan-memory` step: liveness-based static arena layout.
public struct PlanMemory: Sendable {
    /// The step's registered name.
    public static let name = "plan-memory"

    /// Alignment of every arena slice, in bytes (a cache line, and enough for any vector load).
    public static let alignment = 64

    /// Makes the step.
    public init() {}

    /// Whether an op's result is the same elements as its operand, with another shape.
    public static func isView(_ kind: OpKind) -> Bool { kind.traits.contains(.view) }

    /// Plans a verified graph.
    /// - Parameters:
    ///   - graph: the graph, verified.
    ///   - scratchBytes: for each op index, the scratch bytes its kernel needs (0 for none).
    ///   - fused: values computed inside their single consumer's loop (elementwise fusion): they get no
    ///     home, and their producer's operands stay alive until the consumer runs.
    ///   - scratchLiveUntil: for an op whose scratch later ops read (an N:M product's transposed activations
    ///     that further products of the same activations share), the index of the last such op.
    public func plan(_ graph: Graph, scratchBytes: [Int], fused: Set<ValueID> = [], scratchLiveUntil: [Int: Int] = [:]) -> MemoryPlan {
        let count = graph.values.count
        let definingOp = graph.definingOps()
        var effectiveMemo: [Int: [ValueID]] = [:]
        /// The values an op really reads: fused operands are replaced by what their producer reads.
        func effectiveOperands(_ index: Int) -> [ValueID] {
            if let known = effectiveMemo[index] { return known }
            var result: [ValueID] = []
            for operand in graph.operations[index].operands {
                if fused.contains(operand), let producer = definingOp[operand.index] {
                    result += effectiveOperands(producer)
                } else {
                    result.append(operand)
                }
            }
            effectiveMemo[index] = result
            return result
        }
        var homes = [ValueHome?](repeating: nil, count: count)
        for (position, input) in graph.inputs.enumerated() where homes[input.index] == nil {
            homes[input.index] = .input(position)
        }
        // Outputs written directly by their op: the first position of a value computed by a non-view op.
        var copied: [(position: Int, value: ValueID)] = []
        var directOutput = [Int?](repeating: nil, count: count)
        let defining = graph.definingOps()
        for (position, output) in graph.outputs.enumerated() {
            let opIndex = defining[output.index]
            let isComputed = opIndex.map { index -> Bool in
                let kind = graph.operations[index].kind
                if case .constant = kind { return false }
                return !PlanMemory.isView(kind)
            } ?? false
            if isComputed && directOutput[output.index] == nil {
                directOutput[output.index] = position
            } else {
                copied.append((position, output))
            }
        }

        // Root of each value through views; a view keeps its root alive.
        var root = (0..<count).map { ValueID($0) }
        for op in graph.operations {
            guard let result = op.results.first else { continue }
            if case let .constant(id) = op.kind {
                homes[result.index] = .constant(id)
            } else if PlanMemory.isView(op.kind), let operand = op.operands.first {
                homes[result.index] = .view(of: operand)
                root[result.index] = root[operand.index]
            } else if let position = directOutput[result.index] {
                homes[result.index] = .output(position)
            }
        }

        // Live intervals [definition, last use] of arena values, through views; copied outputs live to the end.
        var lastUse = [Int](repeating: -1, count: count)
        for (index, op) in graph.operations.enumerated() {
            for operand in effectiveOperands(index) { lastUse[root[operand.index].index] = max(lastUse[root[operand.index].index], index) }
            if let result = op.results.first { lastUse[root[result.index].index] = max(lastUse[root[result.index].index], index) }
        }
        for (_, value) in copied { lastUse[root[value.index].index] = graph.operations.count }

        // Blocks: one per arena value, shared when an elementwise op works in place.
        struct Block { var bytes: Int; var start: Int; var end: Int; var offset = 0 }
        var blocks: [Block] = []
        var blockOf = [Int?](repeating: nil, count: count)
        var inPlace = 0
        for (index, op) in graph.operations.enumerated() {
            guard let result = op.results.first, homes[result.index] == nil, !fused.contains(result) else { continue }
            let type = graph.values[result.index].type
            let bytes = max(1, (type.elementCount ?? 0) * type.elementType.byteSize)
            if op.kind.traits.contains(.elementwise),
               let reuse = effectiveOperands(index).first(where: { operand in
                   guard let block = blockOf[operand.index], root[operand.index] == operand,
                         lastUse[operand.index] == index else { return false }
                   let operandType = graph.values[operand.index].type
                   return operandType.shape == type.shape && operandType.elementType.byteSize == type.elementType.byteSize
                       && blocks[block].bytes >= bytes
               }), let block = blockOf[reuse.index] {
                blockOf[result.index] = block
                blocks[block].end = max(blocks[block].end, lastUse[result.index])
                inPlace += 1
                continue
            }
            blockOf[result.index] = blocks.count
            blocks.append(Block(bytes: bytes, start: index, end: max(index, lastUse[result.index])))
        }
        var scratchBlock: [Int: Int] = [:]
        for (index, bytes) in scratchBytes.enumerated() where bytes > 0 {
            scratchBlock[index] = blocks.count
            blocks.append(Block(bytes: bytes, start: index, end: max(index, scratchLiveUntil[index] ?? index)))
        }

        // Greedy placement, largest first: the lowest aligned offset clear of every placed block alive at the same time.
        let order = blocks.indices.sorted { blocks[$0].bytes != blocks[$1].bytes ? blocks[$0].bytes > blocks[$1].bytes : $0 < $1 }
        var placed: [Int] = []
        var arenaBytes = 0
        for candidate in order {
            let block = blocks[candidate]
            let overlapping = placed.filter { blocks[$0].start <= block.end && block.start <= blocks[$0].end }
                .map { (blocks[$0].offset, blocks[$0].offset + blocks[$0].bytes) }
                .sorted { $0.0 < $1.0 }
            var offset = 0
            for (start, end) in overlapping {
                if offset + block.bytes <= start { break }
                offset = max(offset, roundUp(end))
            }
            blocks[candidate].offset = offset
            placed.append(candidate)
            arenaBytes = max(arenaBytes, roundUp(offset + block.bytes))
        }
        for index in 0..<count {
            if let block = blockOf[index] { homes[index] = .arena(offset: blocks[block].offset) }
        }
        var scratch: [Int: Int] = [:]
        for (opIndex, block) in scratchBlock { scratch[opIndex] = blocks[block].offset }
        return MemoryPlan(homes: homes, scratch: scratch, arenaBytes: arenaBytes, copiedOutputs: copied, inPlaceCount: inPlace)
    }

    private func roundUp(_ bytes: Int) -> Int {
        (bytes + PlanMemory.alignment - 1) / PlanMemory.alignment * PlanMemory.alignment
    }
}
