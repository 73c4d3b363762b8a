// The layers N:M sparsity applies to: matmul, gemm, fused_matmul and conv2d ops with a constant weight,
// each seen as an [O, I] matrix whatever its storage, and the way a legalised weight is written back.

import SieveIR

/// One layer whose weight can be pruned: an op that reads a constant as its weight operand.
public struct PrunableLayer: Hashable, Sendable {
    /// How the op reads its weight.
    public enum Access: Hashable, Sendable {
        /// matmul, fused_matmul or gemm; `transposed` when the weight is stored [O, I] (transpose_b),
        /// otherwise it is stored [I, O]. `transposeA` is gemm's flag (false for the others).
        case matrix(transposed: Bool, transposeA: Bool)
        /// conv2d with these attributes; the weight is [O, C/groups, kH, kW].
        case convolution(Conv2DAttributes)
    }

    /// The op's index in `graph.operations` when the layers were found.
    public var opIndex: Int
    /// The weight constant.
    public var constant: ConstantID
    /// The weight's name (the constant's handle), used in reports and by `--keep-dense`.
    public var name: String
    /// The value the op reads as its input activation (operand 0).
    public var input: ValueID
    /// How the weight is read.
    public var access: Access
    /// The weight as a matrix: O rows, I reduction.
    public var matrix: NMMatrixShape
    /// Input channel groups: conv2d's `groups`, 1 for matrix products. Row block g of the weight
    /// (O/groups rows) reduces over the g-th slice of the input channels.
    public var groups: Int
    /// The weight's type as stored.
    public var weightType: TensorType
    /// Other names the layer answers to in `--keep-dense`: the result value's name and the ONNX node name.
    public var aliases: [String]
    /// The products that read this weight: 1, or more for a weight shared by several products of one
    /// kind (an unrolled recurrent layer's R, read once per timestep). The layer is the first of them;
    /// its `input` is that first product's activation.
    public var readers: Int = 1

    /// Weights in the layer: O * I.
    public var weightCount: Int { matrix.rows * matrix.reduction }

    /// Whether this layer sees the same activation rows as `other`: the same input read the same way
    /// (a block's Q, K and V projections), so that their input statistics are equal.
    func readsInputLike(_ other: PrunableLayer) -> Bool {
        input == other.input && access == other.access && matrix.reduction == other.matrix.reduction
            && groups == other.groups && Array(weightType.shape.dropFirst()) == Array(other.weightType.shape.dropFirst())
    }
}

/// Finds prunable layers and moves weights between their storage and the [O, I] matrix view.
public enum PrunableLayers {
    /// Every op that reads a constant float weight of rank 2 (matrix products, B not batched) or 4
    /// (conv2d) as operand 1, where the constant feeds only that op, or only products that read it as a
    /// transposed ([O, I]) matrix weight (then one layer for all of them: see `readers`). Dense and nm
    /// weights both count.
    public static func find(in graph: Graph) -> [PrunableLayer] {
        let defining = graph.definingOps()
        let uses = graph.useCounts()
        // Readers of a weight value shared by several ops: each must read it as operand 1 of a product
        // with transpose_b (so replacing the weight never has to change an op), and only there.
        var sharedReaders: [ValueID: [Int]] = [:]
        for (index, op) in graph.operations.enumerated() where op.operands.count >= 2 && uses[op.operands[1].index] > 1 {
            sharedReaders[op.operands[1], default: []].append(index)
        }
        func sharedAsTransposedWeight(_ weight: ValueID) -> Bool {
            guard let readers = sharedReaders[weight], readers.count == uses[weight.index] else { return false }
            return readers.allSatisfy { index in
                let op = graph.operations[index]
                guard !op.operands.dropFirst(2).contains(weight), op.operands[0] != weight else { return false }
                switch op.kind {
                case .matmul(transposeB: true), .fusedMatmul(transposeB: true, _, _): return true
                default: return false
                }
            }
        }
        var layers: [PrunableLayer] = []
        var seenShared: Set<ValueID> = []
        for (index, op) in graph.operations.enumerated() {
            guard op.operands.count >= 2, let result = op.results.first, graph.values.indices.contains(result.index) else { continue }
            let weight = op.operands[1]
            guard graph.values.indices.contains(weight.index),
                  uses[weight.index] == 1 || (sharedAsTransposedWeight(weight) && seenShared.insert(weight).inserted),
                  let definer = defining[weight.index], case let .constant(id) = graph.operations[definer].kind,
                  let constant = graph.constants[id], constant.type.elementType.isFloat else { continue }
            let type = constant.type
            let access: PrunableLayer.Access
            var groups = 1
            switch op.kind {
            case let .matmul(transposeB), let .fusedMatmul(transposeB, _, _):
                guard type.rank == 2 else { continue }
                access = .matrix(transposed: transposeB, transposeA: false)
            case let .gemm(_, _, transposeA, transposeB):
                guard type.rank == 2 else { continue }
                access = .matrix(transposed: transposeB, transposeA: transposeA)
            case let .conv2d(attributes):
                guard type.rank == 4 else { continue }
                access = .convolution(attributes)
                groups = attributes.groups
            default:
                continue  // only products (the `product` trait) have prunable weights
            }
            let matrix: NMMatrixShape
            if case .matrix(transposed: false, _) = access {
                matrix = NMMatrixShape(rows: type.shape[1], reduction: type.shape[0])
            } else {
                guard let shape = NMMatrixShape(type.shape) else { continue }
                matrix = shape
            }
            var aliases: [String] = []
            if let name = graph.values[result.index].name { aliases.append(name) }
            if case let .onnxNode(_, _, node) = op.location, !node.isEmpty { aliases.append(node) }
            var layer = PrunableLayer(opIndex: index, constant: id, name: constant.name, input: op.operands[0],
                                      access: access, matrix: matrix, groups: max(1, groups), weightType: type,
                                      aliases: aliases)
            layer.readers = uses[weight.index]
            layers.append(layer)
        }
        return layers
    }

    /// The weight as a row-major [O, I] matrix of Doubles (unpacked if nm, transposed if stored [I, O]).
    public static func weightMatrix(_ graph: Graph, _ layer: PrunableLayer) throws(DiagnosticError) -> [Double] {
        guard let constant = graph.constants[layer.constant] else {
            throw DiagnosticError(.error(graph.location, "layer \(layer.name) refers to a missing constant"))
        }
        guard constant.hasConsistentSize, constant.type.elementCount == layer.weightCount else {
            throw DiagnosticError(.error(graph.location, "constant @\(constant.name) holds \(constant.bytes.count) bytes, its type \(constant.type) needs \(constant.expectedByteCount ?? 0); run the verifier"))
        }
        let dense = try NMPacking.unpack(constant)
        let count = layer.weightCount
        var values = [Double](repeating: 0, count: count)
        for index in 0..<count { values[index] = dense.element(at: index) }
        if case .matrix(transposed: false, _) = layer.access {
            return transposed(values, rows: layer.matrix.reduction, columns: layer.matrix.rows)
        }
        return values
    }

    /// Replaces the layer's weight with `matrix` ([O, I], row-major), stored in `pattern`'s nm layout
    /// (or dense when nil). A weight stored [I, O] is stored [O, I] from now on and the op reads it
    /// with transpose_b, which computes the same function. Throws if `matrix` breaks the pattern.
    public static func replaceWeight(_ graph: inout Graph, _ layer: PrunableLayer, matrix: [Double],
                                     pattern: NMPattern?) throws(DiagnosticError) {
        guard let old = graph.constants[layer.constant], matrix.count == layer.weightCount else {
            throw DiagnosticError(.error(graph.location, "layer \(layer.name): replacement weight has the wrong size"))
        }
        var shape = old.type.shape
        if case let .matrix(transposed: false, transposeA) = layer.access {
            shape = [layer.matrix.rows, layer.matrix.reduction]
            let op = graph.operations[layer.opIndex]
            switch op.kind {
            case let .matmul(transposeB) where !transposeB:
                graph.operations[layer.opIndex].kind = .matmul(transposeB: true)
            case let .fusedMatmul(transposeB, epilogue, activations) where !transposeB:
                graph.operations[layer.opIndex].kind = .fusedMatmul(transposeB: true, epilogue: epilogue, activations: activations)
            case let .gemm(alpha, beta, _, transposeB) where !transposeB:
                graph.operations[layer.opIndex].kind = .gemm(alpha: alpha, beta: beta, transposeA: transposeA, transposeB: true)
            default:
                throw DiagnosticError(.error(op.location, "layer \(layer.name) is no longer the op it was when it was found"))
            }
        }
        let denseType = TensorType(shape, old.type.elementType, quant: old.type.quant)
        var constant = Constant.from(name: old.name, type: denseType, values: matrix)
        if let pattern {
            constant = try NMPacking.pack(constant, pattern: pattern)
        } else {
            constant.sparsityRequest = old.sparsityRequest
        }
        graph.constants.entries[layer.constant.index] = constant
        // Every const op of this constant now yields the new type.
        for index in graph.operations.indices {
            if case .constant(layer.constant) = graph.operations[index].kind {
                for result in graph.operations[index].results { graph.values[result.index].type = constant.type }
            }
        }
    }

    /// The transpose of a row-major `rows x columns` matrix.
    static func transposed(_ values: [Double], rows: Int, columns: Int) -> [Double] {
        var result = [Double](repeating: 0, count: values.count)
        for row in 0..<rows {
            for column in 0..<columns { result[column * rows + row] = values[row * columns + column] }
        }
        return result
    }
}
