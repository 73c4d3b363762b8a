// Random differential tests: seeded random product graphs (shapes, batch dims, N:M patterns with padded and
// unpadded reductions, transposes, epilogues, gemm factors, elementwise tails) compiled once and run with 1 to 4 threads against the interpreter.

import Foundation
import SieveCodegenC
import SieveIR
import SieveInterpreter
import Testing

/// Builds one random product graph; returns it with the names of constants to make N:M.
func randomProductGraph(seed: UInt64) throws -> (Graph, [String: (n: Int, m: Int)]) {
    var random = SplitMix(seed: seed)
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
    return (graph, useNM ? ["w": pattern] : [:])
}

@Suite("Random product graphs match the interpreter")
struct RandomGraphTests {
    @Test("40 random graphs, native target, 1 to 4 threads")
    func randomGraphs() throws {
        var references: [Graph] = [], compiled: [Graph] = []
        var padded = 0
        for seed in UInt64(0)..<40 {
            let (graph, nm) = try randomProductGraph(seed: seed)
            if let (_, m) = nm["w"], let k = graph.constants.entries.first(where: { $0.name == "w" })?.type.shape.last, k % m != 0 {
                padded += 1
            }
            let (reference, toCompile) = try makeNMPair(graph, nm: nm)
            references.append(reference)
            compiled.append(toCompile)
        }
        #expect(padded >= 3, "only \(padded) of the random graphs have an nm weight with a padded reduction")
        let reference = merge(references, name: "reference")
        let merged = merge(compiled, name: "compiled")
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let artifact = try compileAndLoad(merged, name: "random", target: .native, folder: folder)
        var random = SplitMix(seed: 2024)
        let inputs = reference.inputs.map { randomTensor(reference.values[$0.index].type, using: &random) }
        let expected = try Interpreter(graph: reference).run(inputs)
        var problems: [String] = []
        for threads in Int32(1)...4 {
            let actual = try artifact.runOnce(inputs, threads: threads)
            for index in expected.indices {
                problems += compareOutputs([actual[index]], [expected[index]], rtol: 1e-5, atol: 1e-4,
                                           label: "graph \(index) (\(compiled[index].print().split(separator: "\n").dropFirst(2).first ?? "")), \(threads) threads")
            }
        }
        #expect(problems.isEmpty, "\(problems.prefix(5).joined(separator: "\n"))")
    }
}
