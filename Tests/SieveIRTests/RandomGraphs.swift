// A generator of random well-typed graphs, seeded so that every failure reproduces.
// Used by the property tests: round trip through text, and passes that keep the verifier happy.

import SieveIR
import SieveTestSupport

/// The suite's seeded generator, under the name these tests use.
typealias SeededRandom = SplitMix64

/// Builds random graphs op by op, asking each op's type rule what it produces.
struct GraphGenerator {
    var random: SeededRandom
    var graph: Graph
    var nameCounter = 0

    init(seed: UInt64) {
        random = SeededRandom(seed: seed)
        graph = Graph(name: "g\(seed)")
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }
    mutating func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &random) < probability }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }

    /// Unary functions the generator leaves out: on its values they give NaN, infinities or overflow (sqrt, log,
    /// reciprocal of zero, exp of long chains), which the exact property checks cannot compare; and functions of
    /// bools (not), which the comparison case builds instead.
    static let excludedUnaryFunctions: Set<String> = ["sqrt", "exp", "log", "reciprocal", "not"]

    /// A unary function from the op table with small parameters (see `excludedUnaryFunctions`).
    mutating func randomUnaryFunction() -> UnaryFunction {
        let mnemonics = UnaryFunction.declarations.keys.filter { !GraphGenerator.excludedUnaryFunctions.contains($0) }.sorted() + ["gelu"]
        let mnemonic = pick(mnemonics)
        guard let declaration = UnaryFunction.declarations[mnemonic] else { return .gelu(approximateTanh: chance(0.5)) }
        let values: [String: Float] = ["alpha": 0.125, "beta": 0.5, "min": -1, "max": 2, "gamma": 1.5]
        return declaration.make(declaration.parameters.map { values[$0] ?? 0.5 })
    }

    mutating func maybeName() -> String? {
        guard chance(0.3) else { return nil }
        nameCounter += 1
        return pick(["v\(nameCounter)", "onnx::Add_\(nameCounter)", "layer.\(nameCounter).out", "\(nameCounter)x"])
    }

    mutating func randomShape() -> [Int] {
        (0..<int(0...3)).map { _ in int(1...4) }
    }

    mutating func constant(_ type: TensorType) -> ValueID {
        let count = type.elementCount ?? 0
        let values: [Double] = (0..<count).map { _ in
            switch type.elementType {
            case .f32, .f16, .bf16, .f8e4m3fn, .f8e5m2, .f4e2m1: return chance(0.2) ? 1 : Double(int(-8...8)) / 4
            case .bool: return Double(int(0...1))
            case .u8, .u16: return Double(int(0...255))
            case .i8, .i16, .i32, .i64: return Double(int(-5...5))
            case .i4, .u4, .i2, .u2: return Double(int(-1...1))
            }
        }
        var constant = Constant.from(name: graph.constants.freshName("w"), type: type, values: values)
        if chance(0.1), count > 1 {
            // Splat constants exercise the splat<...> form.
            constant.bytes = Array([[UInt8]](repeating: Array(constant.bytes.prefix(type.elementType.byteSize)), count: count).joined())
        }
        return graph.appendConstant(constant)
    }

    /// Values of a given element type, by their IDs.
    func values(of elementType: ElementType) -> [ValueID] {
        graph.values.indices.map(ValueID.init).filter {
            graph.values[$0.index].type.elementType == elementType && graph.values[$0.index].type.layout == .dense
                && graph.values[$0.index].type.quant == nil
        }
    }

    /// Tries one random op; returns false when the chosen operands do not fit (nothing is added).
    mutating func addRandomOp() -> Bool {
        let floats = values(of: .f32)
        guard !floats.isEmpty else { return false }
        let x = pick(floats)
        guard let xType = graph.type(of: x) else { return false }
        let rank = xType.rank
        var operands = [x]
        var declared: TensorType?
        let kind: OpKind
        switch int(0...38) {
        case 0: kind = .binary(.add); operands.append(partner(for: xType))
        case 1: kind = .binary(.sub); operands.append(partner(for: xType))
        case 2: kind = .binary(.mul); operands.append(partner(for: xType))
        case 3: kind = .binary(.div); operands.append(partner(for: xType))
        case 4: kind = .binary(.pow); operands.append(partner(for: xType))
        case 5...12: kind = .unary(randomUnaryFunction())
        case 13:
            guard rank >= 1 else { return false }
            kind = .softmax(axis: int(0...(rank - 1)))
        case 14:
            guard rank >= 1 else { return false }
            let axis = int(0...(rank - 1))
            kind = .layerNorm(axis: axis, epsilon: 1e-5)
            operands.append(constant(TensorType(Array(xType.shape[axis...]), .f32)))
        case 15:
            guard rank >= 1 else { return false }
            kind = .reduce(.mean, axes: [int(0...(rank - 1))], keepDims: chance(0.5))
        case 16:
            kind = .reshape
            declared = TensorType(xType.shape.isEmpty ? [1] : [xType.elementCount ?? 1], .f32)
        case 17:
            kind = .transpose(permutation: Array(0..<rank).shuffled(using: &random))
        case 18:
            kind = .flatten(axis: int(0...rank))
        case 19:
            kind = .unsqueeze(axes: [int(0...rank)])
        case 20:
            let ones = xType.shape.indices.filter { xType.shape[$0] == 1 }
            guard let axis = ones.first else { return false }
            kind = .squeeze(axes: [axis])
        case 21:
            kind = .expand
            declared = TensorType([2] + xType.shape, .f32)
        case 22:
            guard rank >= 1 else { return false }
            kind = .concat(axis: int(0...(rank - 1)))
            operands.append(x)
        case 23:
            guard rank >= 1 else { return false }
            let axis = int(0...(rank - 1))
            guard xType.shape[axis] > 0 else { return false }
            kind = .gather(axis: axis)
            let indices = (0..<int(1...3)).map { _ in Double(int(0...(xType.shape[axis] - 1))) }
            operands.append(graph.appendConstant(Constant.from(name: graph.constants.freshName("idx"),
                                                               type: TensorType([indices.count], .i64), values: indices)))
        case 24:
            guard rank >= 1 else { return false }
            let axis = int(0...(rank - 1))
            let dim = xType.shape[axis]
            if chance(0.5) {
                let start = int(0...dim)
                kind = .slice(starts: [start], ends: [int(start...dim)], axes: [axis], steps: [int(1...2)])
            } else {
                guard dim > 0 else { return false }
                let start = int(0...(dim - 1))
                kind = .slice(starts: [start], ends: [int(-1...start)], axes: [axis], steps: [-int(1...2)])
            }
        case 25:
            kind = .cast
            declared = TensorType(xType.shape, pick([.f32, .i32, .f16]))
        case 26:
            kind = .where
            let condition = graph.append(.binary(.equal), [x, partner(for: xType)], TensorType(xType.shape, .bool))
            operands = [condition, x, partner(for: xType)]
        case 27:
            guard rank >= 1, let k = xType.shape.last else { return false }
            let n = int(1...4)
            kind = .matmul(transposeB: chance(0.5))
            if case .matmul(true) = kind {
                operands.append(constant(TensorType([n, k], .f32)))
            } else {
                operands.append(constant(TensorType([k, n], .f32)))
            }
        case 28:
            guard rank == 2 else { return false }
            let n = int(1...4)
            kind = .gemm(alpha: 0.5, beta: 1, transposeA: false, transposeB: true)
            operands += [constant(TensorType([n, xType.shape[1]], .f32)), constant(TensorType([n], .f32))]
        case 29:
            guard rank == 2 else { return false }
            let n = int(1...4)
            kind = .fusedMatmul(transposeB: true, epilogue: [.bias, .activation(pick([.relu, .gelu(approximateTanh: false), .clip(min: 0, max: 6)])), .residualAdd])
            let residual = constant(TensorType([xType.shape[0], n], .f32))
            operands += [constant(TensorType([n, xType.shape[1]], .f32)), constant(TensorType([n], .f32)), residual]
        case 30:
            guard rank == 4 else { return false }
            let out = int(1...3)
            kind = .conv2d(Conv2DAttributes(strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], groups: 1))
            operands.append(constant(TensorType([out, xType.shape[1], 3, 3], .f32)))
        case 31:
            guard rank == 4 else { return false }
            kind = pick([.maxPool(Pool2DAttributes(kernel: [2, 2], strides: [1, 1], pads: [1, 1, 1, 1])),
                         .averagePool(Pool2DAttributes(kernel: [2, 2], strides: [2, 2], pads: [0, 0, 1, 1], ceilMode: true)),
                         .globalAveragePool, .globalMaxPool])
        case 32:
            guard rank >= 2 else { return false }
            kind = .batchNorm(epsilon: 1e-3)
            let channels = TensorType([xType.shape[1]], .f32)
            operands += [constant(channels), constant(channels), constant(channels), constant(channels)]
        case 33:
            // The data-movement ops of #12 share one slot, taken half the time, so the other ops keep
            // their frequencies (the fusion property test needs matmul chains).
            guard chance(0.5) else { return false }
            switch int(0...5) {
            case 0:
                guard rank >= 1 else { return false }
                let mode = pick(PadMode.allCases)
                var pads = (0..<(2 * rank)).map { _ in int(0...2) }
                if mode == .constant, xType.shape[0] > 1 { pads[rank] = -1 }  // a crop
                if mode != .constant, xType.shape.contains(0) { return false }
                kind = .pad(pads: pads, mode: mode, value: mode == .constant ? 0.5 : 0)
            case 1:
                guard rank >= 1, !xType.shape.contains(0) else { return false }
                let linear = chance(0.5)
                let factors = xType.shape.indices.map { $0 + 2 < rank ? 1 : int(1...3) }
                let attributes = ResizeAttributes(mode: linear ? .linear : .nearest,
                                                  coordinateTransformation: pick([.halfPixel, .asymmetric, .alignCorners, .pytorchHalfPixel]),
                                                  nearestMode: pick(NearestMode.allCases), scales: factors.map { Float($0) * 0.75 })
                kind = .resize(attributes)
                declared = TensorType(zip(xType.shape, factors).map { Int((Double($0) * Double(Float($1) * 0.75)).rounded(.down)) }, .f32)
            case 2, 3:
                guard rank >= 1, !xType.shape.contains(0) else { return false }
                let axis = int(0...(rank - 1))
                var indexShape = xType.shape
                indexShape[axis] = int(1...3)
                let count = indexShape.reduce(1, *)
                let indices = graph.appendConstant(Constant.from(name: graph.constants.freshName("idx"), type: TensorType(indexShape, .i64),
                                                                 values: (0..<count).map { _ in Double(int(-xType.shape[axis]...(xType.shape[axis] - 1))) }))
                operands.append(indices)
                if chance(0.5) {
                    kind = .gatherElements(axis: axis)
                } else {
                    kind = .scatterElements(axis: axis, reduction: pick(ScatterReduction.allCases))
                    operands.append(constant(TensorType(indexShape, .f32)))
                }
            default:
                guard rank >= 1, !xType.shape.contains(0) else { return false }
                let depth = int(1...rank)
                let rows = int(1...3)
                let values = (0..<(rows * depth)).map { slot in Double(int(0...(xType.shape[slot % depth] - 1))) }
                operands.append(graph.appendConstant(Constant.from(name: graph.constants.freshName("idx"), type: TensorType([rows, depth], .i64),
                                                                   values: values)))
                if chance(0.5) {
                    kind = .gatherND(batchDims: 0)
                } else {
                    kind = .scatterND(reduction: pick(ScatterReduction.allCases))
                    operands.append(constant(TensorType([rows] + Array(xType.shape[depth...]), .f32)))
                }
            }
        case 34:
            // The reductions group, one draw for the six kinds so that the older ops keep their share.
            guard rank >= 1 else { return false }
            switch int(0...5) {
            case 0:
                // Every reduce function; log_sum reads a positive operand so that it stays finite.
                let function = pick(ReduceFunction.allCases)
                let axes = (0..<rank).filter { _ in chance(0.5) }
                kind = .reduce(function, axes: axes.isEmpty ? [int(0...(rank - 1))] : axes, keepDims: chance(0.5))
                if function == .logSum {
                    operands = [graph.append(.unary(.sigmoid), [x], xType.plain)]
                }
            case 1:
                let axis = int(0...(rank - 1))
                guard xType.shape[axis] > 0 else { return false }
                kind = .argExtreme(largest: chance(0.5), axis: axis, keepDims: chance(0.5), selectLastIndex: chance(0.5))
            case 2:
                kind = .cumSum(axis: int(0...(rank - 1)), exclusive: chance(0.5), reverse: chance(0.5))
            case 3:
                let axis = int(0...(rank - 1))
                kind = .topK(k: int(0...xType.shape[axis]), axis: axis, largest: chance(0.5), output: chance(0.5) ? .values : .indices)
            case 4:
                kind = .logSoftmax(axis: int(0...(rank - 1)))
            default:
                // Rank-4 values are rare in these graphs, so a rank-3 one is given a batch axis first.
                guard rank >= 3 else { return false }
                var image = xType
                if rank == 3 {
                    image = xType.with(shape: [1] + xType.shape)
                    operands = [graph.append(.unsqueeze(axes: [0]), [x], image)]
                }
                let stride = int(1...2), groups = image.shape[1] % 2 == 0 ? int(1...2) : 1
                kind = .convTranspose2d(ConvTranspose2DAttributes(strides: [stride, stride], pads: [int(0...1), 0, 0, int(0...1)],
                                                                  dilations: [1, int(1...2)], outputPadding: [stride - 1, 0], groups: groups))
                operands.append(constant(TensorType([image.shape[1], int(1...2), int(1...3), int(1...3)], .f32)))
                if chance(0.5), case let .convTranspose2d(attributes) = kind, let w = graph.type(of: operands[1]) {
                    operands.append(constant(TensorType([w.shape[1] * attributes.groups], .f32)))
                }
            }
        case 35:
            // Binary functions of the elementwise group (#12) on floats; fmod divides by a non-zero constant.
            let function = pick([BinaryFunction.max, .min, .prelu, .fmod])
            kind = .binary(function)
            operands.append(function == .fmod ? nonZeroConstant(TensorType(chance(0.5) ? xType.shape : [], .f32)) : partner(for: xType))
        case 36:
            // A comparison, then logic on it: and/or/xor with an equality, or not.
            let comparison = graph.append(.binary(pick([.greater, .less, .greaterOrEqual, .lessOrEqual])), [x, partner(for: xType)],
                                          TensorType(xType.shape, .bool), name: maybeName())
            if chance(0.25) {
                kind = .unary(.logicalNot)
                operands = [comparison]
            } else {
                kind = .binary(pick([.and, .or, .xor]))
                operands = [comparison, graph.append(.binary(.equal), [x, partner(for: xType)], TensorType(xType.shape, .bool))]
            }
        case 37:
            // Integer functions: remainders by a non-zero constant, max/min, abs and sign.
            let integers = graph.append(.cast, [x], TensorType(xType.shape, .i32))
            operands = [integers]
            switch int(0...3) {
            case 0:
                kind = .binary(pick([.mod, .fmod]))
                operands.append(nonZeroConstant(TensorType(chance(0.5) ? xType.shape : [], .i32)))
            case 1:
                kind = .binary(pick([.max, .min]))
                operands.append(constant(TensorType(xType.shape.last.map { [$0] } ?? [], .i32)))
            default:
                kind = .unary(pick([.absolute, .sign]))
            }
        default:
            kind = .quantize
            declared = TensorType(xType.shape, .i8, quant: QuantParams(scales: [0.25], zeroPoints: [Int64(int(-3...3))]))
            guard let quantized = try? kind.resultType(operands: [xType], declared: declared, constants: graph.constants) else { return false }
            let q = graph.append(kind, operands, quantized, name: maybeName())
            graph.append(.dequantize, [q], TensorType(xType.shape, .f32), name: maybeName())
            return true
        }
        let operandTypes = operands.compactMap { graph.type(of: $0) }
        guard let result = try? kind.resultType(operands: operandTypes, declared: declared, constants: graph.constants) else {
            return false
        }
        let value = graph.append(kind, operands, result, name: maybeName())
        if case .matmul = kind, chance(0.5) {
            // An activation on the product, which fuse folds into an epilogue (old and new activations alike).
            var function = randomUnaryFunction()
            for _ in 0..<8 where !function.isActivation { function = randomUnaryFunction() }
            if function.isActivation { graph.append(.unary(function), [value], result.plain, name: maybeName()) }
        }
        if result.elementType != .f32 {
            // Bring other element types back to f32 so later ops can use them.
            graph.append(.cast, [value], TensorType(result.shape, .f32))
        }
        return true
    }

    /// A constant with no zero element (a divisor): ±1/4 to ±2 for floats, ±1 to ±5 for integers.
    mutating func nonZeroConstant(_ type: TensorType) -> ValueID {
        let values: [Double] = (0..<(type.elementCount ?? 0)).map { _ in
            let magnitude = type.elementType.isFloat ? Double(int(1...8)) / 4 : Double(int(1...5))
            return chance(0.5) ? magnitude : -magnitude
        }
        return graph.appendConstant(Constant.from(name: graph.constants.freshName("d"), type: type, values: values))
    }

    /// A second operand for a binary op: the same value, a broadcastable constant, or another input.
    mutating func partner(for type: TensorType) -> ValueID {
        if chance(0.5), let last = type.shape.last {
            return constant(TensorType(chance(0.5) ? [last] : [], .f32))
        }
        return constant(TensorType(type.shape, .f32))
    }

    /// A whole graph: one to three inputs, then up to `ops` ops, returning a few values.
    mutating func generate(ops: Int) -> Graph {
        for index in 0..<int(1...3) {
            var shape = randomShape()
            if index == 0 && chance(0.3) { shape = [1, int(1...3), int(3...5), int(3...5)] }
            _ = graph.addInput(TensorType(shape, .f32), name: chance(0.5) ? "in\(index)" : nil)
        }
        var attempts = 0
        var added = 0
        while added < ops && attempts < ops * 8 {
            attempts += 1
            if addRandomOp() { added += 1 }
        }
        let candidates = graph.values.indices.map(ValueID.init).filter { !graph.inputs.contains($0) }
        var outputs: [ValueID] = []
        for _ in 0..<int(1...3) where !candidates.isEmpty { outputs.append(pick(candidates)) }
        graph.outputs = outputs.isEmpty ? [graph.inputs[0]] : outputs
        return graph
    }
}
