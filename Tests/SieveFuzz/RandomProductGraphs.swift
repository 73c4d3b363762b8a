// Seeded random product graphs for differential testing of compiled code against the interpreter: shapes, batch
// dimensions, N:M patterns with padded and unpadded reductions, transposes, epilogues, gemm factors, elementwise tails.

import SieveIR
import SieveInterpreter
import SieveTestSupport

/// A failure of the fuzzing tools themselves (not of the code under test), with a message.
public struct FuzzError: Error, CustomStringConvertible {
    /// What went wrong.
    public var description: String
    /// Makes an error with a message.
    public init(_ description: String) { self.description = description }
}

/// Builds one random product graph; returns it with the names of constants to make N:M.
public func randomProductGraph(seed: UInt64) throws -> (Graph, [String: (n: Int, m: Int)]) {
    var random = SplitMix64(seed: seed)
    func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }
    func chance(_ probability: Double) -> Bool { random.unit() < probability }
    var graph = Graph(name: "random\(seed)")
    let patterns: [(Int, Int)] = [(2, 4), (1, 4), (3, 4), (2, 8), (4, 8), (4, 16), (8, 16)]
    let pattern = pick(patterns)
    let useNM = chance(0.6)
    let m = pick([1, 2, 3, 5, 8, 13])
    // Reductions that are not a multiple of M exercise the padded last group of nm weights.
    let k = pick([16, 32, 48, 64, 6, 10, 21, 37])
    // An nm weight is always stored [N, K] and read with transpose_b (its groups run along K).
    let transposeB = useNM || chance(0.5)
    let n = Int(random.next() % 70) + 1
    let useGemm = chance(0.25)
    let batch: [Int] = useGemm ? [] : pick([[], [], [2], [3, 2]])
    let x = graph.addInput(TensorType(batch + [m, k], .f32), name: "x")
    let weightShape = transposeB ? [n, k] : [k, n]
    let count = weightShape.reduce(1, *)
    let weight = graph.appendConstant(Constant.from(name: "w", type: TensorType(weightShape, .f32), values: Array(repeating: 0, count: count)))
    let kind: OpKind
    var operands = [x, weight]
    if useGemm {
        let alpha = pick([Float(1), 0.5, -2])
        let beta = pick([Float(1), 0, 1.5])
        if chance(0.7) {
            let c = graph.appendConstant(Constant.from(name: "c", type: TensorType(pick([[n], [m, n], [m, 1]]), .f32),
                                                       values: Array(repeating: 0, count: m * n)))
            operands.append(c)
        }
        kind = .gemm(alpha: alpha, beta: beta, transposeA: false, transposeB: transposeB)
    } else if chance(0.6) {
        var steps: [EpilogueStep] = []
        if chance(0.7) {
            steps.append(.bias)
            operands.append(graph.appendConstant(Constant.from(name: "bias", type: TensorType([n], .f32), values: Array(repeating: 0, count: n))))
        }
        // The activations of the elementwise group (#12) join the original ones (continuous ones only: a product
        // summed in another order must not jump across a threshold).
        if chance(0.7) {
            steps.append(.activation(pick([.relu, .gelu(approximateTanh: false), .gelu(approximateTanh: true), .sigmoid, .tanh,
                                           .leakyRelu(alpha: 0.2), .clip(min: -1, max: 1), .hardSwish, .elu(alpha: 0.5),
                                           .selu(alpha: 1.6732632, gamma: 1.050701), .softplus, .mish, .softsign, .celu(alpha: 2)])))
        }
        if chance(0.4) {
            steps.append(.residualAdd)
            operands.append(graph.addInput(TensorType(batch + [m, n], .f32), name: "residual"))
        }
        kind = .fusedMatmul(transposeB: transposeB, epilogue: steps)
    } else {
        kind = .matmul(transposeB: transposeB)
    }
    // Fix the input list: residual inputs were appended after ops, which the verifier allows for inputs.
    let operandTypes = operands.map { graph.values[$0.index].type }
    let resultType = try kind.resultType(operands: operandTypes, declared: nil, constants: graph.constants)
    var result = graph.append(kind, operands, resultType, name: "y")
    if chance(0.5) {
        let tail = pick([OpKind.unary(.relu), .unary(.tanh), .unary(.exp), .unary(.neg), .unary(.sigmoid), .unary(.absolute),
                         .unary(.sin), .unary(.cos), .unary(.softplus), .unary(.hardSwish)])
        result = graph.append(tail, [result], resultType.plain, name: "tail")
    }
    graph.outputs = [result]
    randomizeConstants(&graph, seed: seed &* 31 &+ 7)
    // The weight at the scale layers are initialised with (uniform in ±2/√k): results stay within a few units, so
    // that a product summed in another order (a few ulps of its magnitude) stays within the comparison's tolerance
    // after an exp tail, whose relative error is its argument's absolute error (found at seed 3817: a gemm with
    // alpha -2 over k = 48 unscaled weights reached exp(45), and 2 ulps of 45 were 1e-5 relative).
    if let index = graph.constants.entries.firstIndex(where: { $0.name == "w" }),
       let values = (try? Tensor(graph.constants.entries[index]))?.floats {
        let scale = 1 / Double(k).squareRoot()
        let type = graph.constants.entries[index].type
        graph.constants.entries[index].bytes = Constant.from(name: "w", type: type, values: values.map { Double($0) * scale }).bytes
    }
    return (graph, useNM ? ["w": pattern] : [:])
}

/// A random tensor of a type: floats in [-2, 2], integers in a small range, bools 0 or 1.
public func randomTensor(_ type: TensorType, using random: inout SplitMix64) -> Tensor {
    let count = type.elementCount ?? 0
    let plain = type.plain
    if type.elementType.isFloat {
        return (try? Tensor(plain, floats: (0..<count).map { _ in Float(random.unit() * 4 - 2) })) ?? emptyTensor()
    }
    let range: ClosedRange<Int64>
    switch type.elementType {
    case .bool: range = 0...1
    case .u8: range = 0...12
    default: range = -6...6
    }
    return (try? Tensor(plain, integers: (0..<count).map { _ in Int64(random.next() % UInt64(range.count)) + range.lowerBound })) ?? emptyTensor()
}

public func emptyTensor() -> Tensor {
    (try? Tensor(TensorType([0], .f32), floats: [])) ?? Tensor.placeholder
}

extension Tensor {
    /// A zero-element f32 tensor.
    public static var placeholder: Tensor {
        // Building a zero-element tensor cannot fail; this path exists only to avoid force unwraps.
        guard let tensor = try? Tensor(TensorType([0], .f32), floats: []) else { preconditionFailure("empty tensor") }
        return tensor
    }
}

/// Replaces the bytes of every dense constant with random values of its type (deterministic per seed).
public func randomizeConstants(_ graph: inout Graph, seed: UInt64) {
    var random = SplitMix64(seed: seed)
    for index in graph.constants.entries.indices where graph.constants.entries[index].type.layout == .dense {
        let type = graph.constants.entries[index].type
        if type.elementType == .i32 || type.elementType == .i64, graph.constants.entries[index].name.hasPrefix("keep") { continue }
        graph.constants.entries[index].bytes = randomTensor(type, using: &random).constant(name: "c").bytes
    }
}

/// Prunes a dense [rows, L] float weight to N:M along its last axis (keeping the N largest magnitudes of each
/// group of M) and returns the pruned dense values and the packed nm bytes (kept values, then indices).
public func pruneAndPack(_ values: [Float], lastAxis: Int, n: Int, m: Int, elementType: ElementType) -> (dense: [Float], packed: [UInt8]) {
    var dense = [Float](repeating: 0, count: values.count)
    var kept: [Float] = []
    var indices: [Int] = []
    for group in 0..<(values.count / m) {
        let base = group * m
        let order = (0..<m).sorted { abs(values[base + $0]) > abs(values[base + $1]) || (abs(values[base + $0]) == abs(values[base + $1]) && $0 < $1) }
        for slot in order.prefix(n).sorted() {
            dense[base + slot] = values[base + slot]
            kept.append(values[base + slot])
            indices.append(slot)
        }
    }
    var bytes: [UInt8] = []
    for value in kept { appendElement(Double(value), of: elementType, to: &bytes) }
    let bits = m.trailingZeroBitCount
    var packed = [UInt8](repeating: 0, count: (indices.count * bits + 7) / 8)
    for (element, index) in indices.enumerated() {
        for bit in 0..<bits where (index >> bit) & 1 == 1 {
            let position = element * bits + bit
            packed[position / 8] |= UInt8(1 << (position % 8))
        }
    }
    return (dense, bytes + packed)
}

/// Keeps the N largest magnitudes of every group of M along each row of an [O, I] matrix; a last group
/// of w < M real positions keeps min(N, w).
public func prunePaddedRows(_ values: [Float], matrix: NMMatrixShape, n: Int, m: Int) -> [Float] {
    var dense = [Float](repeating: 0, count: values.count)
    for row in 0..<matrix.rows {
        for start in stride(from: 0, to: matrix.reduction, by: m) {
            let base = row * matrix.reduction + start
            let width = min(m, matrix.reduction - start)
            let order = (0..<width).sorted { abs(values[base + $0]) > abs(values[base + $1]) || (abs(values[base + $0]) == abs(values[base + $1]) && $0 < $1) }
            for slot in order.prefix(n) { dense[base + slot] = values[base + slot] }
        }
    }
    return dense
}

/// Turns the constants named in `nm` into N:M weights: returns the graph for the interpreter (pruned, dense)
/// and the graph to compile (nm layout, packed bytes).
public func makeNMPair(_ graph: Graph, nm: [String: (n: Int, m: Int)]) throws -> (reference: Graph, compiled: Graph) {
    var reference = graph, compiled = graph
    for index in graph.constants.entries.indices {
        let constant = graph.constants.entries[index]
        guard let (n, m) = nm[constant.name] else { continue }
        let original = try Tensor(constant)
        guard let floats = original.floats, let last = constant.type.shape.last,
              let matrix = NMMatrixShape(constant.type.shape) else { throw FuzzError("nm weight must be float of rank 2 or 4") }
        var nmType = constant.type
        nmType.layout = .nm(n: n, m: m)
        if matrix.reduction % m == 0 {
            let (dense, packed) = pruneAndPack(floats, lastAxis: last, n: n, m: m, elementType: constant.type.elementType)
            reference.constants.entries[index].bytes = try Tensor(constant.type.plain, floats: dense).constant(name: "c").bytes
            compiled.constants.entries[index] = Constant(name: constant.name, type: nmType, bytes: packed)
        } else {
            // A padded reduction: prune each row's groups (the last one short), then pack with NMPacking.
            let dense = prunePaddedRows(floats, matrix: matrix, n: n, m: m)
            let denseConstant = try Tensor(constant.type.plain, floats: dense).constant(name: constant.name)
            reference.constants.entries[index].bytes = denseConstant.bytes
            compiled.constants.entries[index] = try NMPacking.pack(denseConstant, pattern: NMPattern(n: n, m: m))
        }
        for valueIndex in compiled.values.indices {
            if case let .constant(id) = compiled.operations.first(where: { $0.results.first?.index == valueIndex })?.kind, id.index == index {
                compiled.values[valueIndex].type = nmType
            }
        }
    }
    try Verifier.verify(reference, checks: Verifier.targetChecks)
    try Verifier.verify(compiled, checks: Verifier.targetChecks)
    return (reference, compiled)
}

/// Compares compiled outputs with the interpreter's: integers and bools exactly, floats within tolerances.
public func compareOutputs(_ actual: [Tensor], _ expected: [Tensor], rtol: Double, atol: Double, label: String) -> [String] {
    var problems: [String] = []
    for (index, (a, e)) in zip(actual, expected).enumerated() {
        if e.elementType.isFloat {
            if !a.allClose(e, rtol: rtol, atol: atol) {
                problems.append("\(label) output \(index): max difference \(a.maxAbsDifference(e) ?? .infinity)\n  got      \(a)\n  expected \(e)")
            }
        } else if a.integers != e.integers {
            problems.append("\(label) output \(index) differs\n  got      \(a)\n  expected \(e)")
        }
    }
    if actual.count != expected.count { problems.append("\(label): \(actual.count) outputs, expected \(expected.count)") }
    return problems
}
