// Helpers of the sparsity tests: seeded random numbers, small graphs with constant weights, and
// calibration sets built in memory.

import Foundation
import SieveIR
import SieveInterpreter
import SievePasses
import SieveTestSupport

/// A seeded generator (SplitMix64) with a Gaussian helper, so that every test run sees the same data.
struct Random {
    var generator: SplitMix64
    init(_ seed: UInt64) { generator = SplitMix64(seed: seed) }
    mutating func next() -> UInt64 { generator.next() }
    mutating func uniform() -> Double { generator.unit() }
    mutating func gaussian() -> Double {
        let u = max(uniform(), 1e-300), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }
    mutating func gaussians(_ count: Int, scale: Double = 1) -> [Float] { (0..<count).map { _ in Float(gaussian() * scale) } }
}

/// A dense f32 constant.
func weight(_ name: String, _ shape: [Int], _ values: [Float]) -> Constant {
    Constant.from(name: name, type: TensorType(shape, .f32), values: values.map(Double.init))
}

/// Values with at most N non-zeros per group of M along the last axis, from Gaussians.
func alreadyNM(_ values: [Float], reduction: Int, pattern: NMPattern, seed: UInt64) -> [Float] {
    var random = Random(seed)
    var result = values
    for group in 0..<(values.count / pattern.m) {
        var slots = Array(0..<pattern.m)
        for index in 0..<pattern.m {
            let pick = index + Int(random.next() % UInt64(pattern.m - index))
            slots.swapAt(index, pick)
        }
        for slot in slots.dropFirst(pattern.n) { result[group * pattern.m + slot] = 0 }
    }
    return result
}

/// A float tensor of the given shape.
func tensor(_ shape: [Int], _ values: [Float]) throws -> Tensor {
    try Tensor(TensorType(shape, .f32), floats: values)
}

/// Runs a graph and returns its outputs.
func run(_ graph: Graph, _ inputs: [Tensor]) throws -> [Tensor] {
    try Interpreter(graph: graph).run(inputs)
}

/// A fresh temporary folder for files a test writes.
func temporaryFolder() throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-sparsity-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}
