// Helpers of the sparsity tests: seeded random numbers, small graphs with constant weights, and
// calibration sets built in memory.

import Foundation
import SieveIR
import SieveInterpreter
import SievePasses

/// A seeded generator (SplitMix64) with a Gaussian helper, so that every test run sees the same data.
struct Random {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
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
