// The vector exp behind the contiguous softmax, held to its stated bound: within 2 ulp of e^x over [-87.33, 0]
// (the range softmax feeds it), 0 below, on every vector width.

import Foundation
import SieveIR
import SieveInterpreter
import SieveKernel
import SievePasses
import SieveTarget
import Testing

@Suite("Vector math of the C backend")
struct VectorMathTests {
    /// The named target when this CPU runs its instructions, else nil.
    func runnableTarget(_ name: String) throws -> TargetDescription? {
        let target = try TargetDescription.named(name)
        return target.f32Lanes <= TargetDescription.native.f32Lanes ? target : nil
    }

    /// Rows of 16 whose first value and maximum is exactly 0, so that x - max is exact and softmax returns
    /// e^x * (1 / sum) for every x and exactly 1 / sum for the first: the ratio of the two is e^x up to the
    /// exp's error and the two products' roundings, whatever the sum's. The rows sweep x over [-90, 0] in steps
    /// of 1/64; the ratio is checked down to -80 (below, x's products with 1 / sum leave the normal range).
    @Test("softmax's vector exp is within 2 ulp of exp in double", arguments: ["x86-64", "x86-64-v3", "x86-64-v4"])
    func vectorExp(_ targetName: String) throws {
        guard let target = try runnableTarget(targetName) else { return }  // this CPU cannot run that target
        let rows = 400, length = 16
        var values: [Double] = []
        var step = 0
        for _ in 0..<rows {
            values.append(0)
            for _ in 1..<length {
                values.append(-Double(step % 5761) / 64)  // 0 down to -90
                step += 1
            }
        }
        let graph = try parseGraph("""
            graph @g(%x: tensor<\(rows)x\(length)xf32>) -> tensor<\(rows)x\(length)xf32> {
              %y = softmax %x {axis = 1} : tensor<\(rows)x\(length)xf32>
              return %y
            }
            """)
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let artifact = try compileAndLoad(graph, name: "exp", target: target, folder: folder)
        let input = try Tensor(shape: [rows, length], elementType: .f32, values: values)
        let output = try #require(try artifact.runOnce([input]).first?.floats)
        var worst = 0.0
        for row in 0..<rows {
            let first = Double(output[row * length])
            for offset in 1..<length {
                let x = values[row * length + offset]
                let actual = Double(output[row * length + offset])
                if x < -87.3365 {
                    // Below FLT_MIN the vector exp gives 0.
                    #expect(actual == 0, "x = \(x): \(actual)")
                } else if x >= -80 {
                    let expected = Foundation.exp(x)
                    worst = max(worst, abs(actual / first - expected) / expected)
                }
            }
        }
        // 2 ulp of the exp and half an ulp for each of the two products with 1 / sum (3 ulp of 2^-24).
        #expect(worst <= 3 * 0x1p-24, "worst relative error \(worst) (\(worst / 0x1p-24) ulp) on \(targetName)")
    }
}

extension VectorMathTests {
    /// A fused product with an identity weight and a GELU epilogue returns GELU(x) from the packed-panel kernel's
    /// vector epilogue (the N:M transpose's calls the same helper; the differential tests cover it): within 16 ulp of GELU in double over [-10, 10] with FMA
    /// (AVX2, AVX-512); on the generic target, which has no FMA, the tail's error grows as x^2 ulp (bound 2e-5).
    @Test("vector GELU epilogues are within 16 ulp of GELU in double", arguments: ["x86-64", "x86-64-v3", "x86-64-v4"])
    func vectorGELU(_ targetName: String) throws {
        guard let target = try runnableTarget(targetName) else { return }  // this CPU cannot run that target
        let rows = 64, columns = 32
        let identity = (0..<columns).flatMap { r in (0..<columns).map { c in r == c ? "0000803f" : "00000000" } }.joined()
        let graph = try parseGraph("""
            graph @g(%x: tensor<\(rows)x\(columns)xf32>) -> tensor<\(rows)x\(columns)xf32> {
              %w = const @w : tensor<\(columns)x\(columns)xf32>
              %y = fused_matmul %x, %w {transpose_b = true, epilogue = [gelu]} : tensor<\(rows)x\(columns)xf32>
              return %y
            }
            const @w : tensor<\(columns)x\(columns)xf32> = hex<"\(identity)">
            """)
        var compiled = graph
        var context = PassContext()
        try Schedule(target: target).run(on: &compiled, context: &context)
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let artifact = try compileAndLoad(compiled, name: "gelu", target: target, folder: folder)
        let source = try String(contentsOf: artifact.folder.appendingPathComponent("gelu.c"), encoding: .utf8)
        #expect(source.components(separatedBy: "sieve_gelu_f32x").count > 2, "the epilogue does not call the vector GELU")
        let values = (0..<(rows * columns)).map { -10 + 20 * Double($0) / Double(rows * columns - 1) }
        let input = try Tensor(shape: [rows, columns], elementType: .f32, values: values)
        let output = try #require(try artifact.runOnce([input]).first?.floats)
        var worst = 0.0
        for (index, value) in values.enumerated() {
            let x = Double(Float(value))
            let expected = x >= 0 ? x * 0.5 * (1 + erf(x / 2.squareRoot())) : x * 0.5 * erfc(-x / 2.squareRoot())
            guard abs(expected) > 1e-30 else { continue }
            worst = max(worst, abs(Double(output[index]) - expected) / abs(expected))
        }
        let bound = target.has(.fma) ? 16 * 0x1p-24 : 2e-5
        #expect(worst <= bound, "worst relative error \(worst) (\(worst / 0x1p-24) ulp) on \(targetName)")
    }
}

extension VectorMathTests {
    /// An elementwise sigmoid runs on vectors (the chain lowering's vector loop) and stays within 6 × 2^-24 relative
    /// of sigmoid in double wherever that is at least FLT_MIN: the exp's 2 ulp of e^-|x| and the roundings of
    /// 1 + e, its reciprocal and, below 0, the product e / (1 + e); 0 below -87.33, and NaN stays NaN.
    @Test("elementwise sigmoid runs on vectors within 6 × 2^-24 of sigmoid in double", arguments: ["x86-64", "x86-64-v3", "x86-64-v4"])
    func vectorSigmoid(_ targetName: String) throws {
        guard let target = try runnableTarget(targetName) else { return }  // this CPU cannot run that target
        let count = 16 * 781 + 5  // a tail of five elements past the whole vectors
        var values = (0..<count).map { -95 + 125 * Double($0) / Double(count - 1) }  // -95 to 30
        values[7] = .nan
        let graph = try parseGraph("""
            graph @g(%x: tensor<\(count)xf32>) -> tensor<\(count)xf32> {
              %y = sigmoid %x : tensor<\(count)xf32>
              return %y
            }
            """)
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let artifact = try compileAndLoad(graph, name: "sigmoid", target: target, folder: folder)
        let source = try String(contentsOf: artifact.folder.appendingPathComponent("sigmoid.c"), encoding: .utf8)
        #expect(source.components(separatedBy: "sieve_sigmoid_f32x").count > 2, "the kernel does not call the vector sigmoid")
        let input = try Tensor(shape: [count], elementType: .f32, values: values)
        let output = try #require(try artifact.runOnce([input]).first?.floats)
        var worst = 0.0
        for (index, value) in values.enumerated() {
            let actual = Double(output[index])
            if value.isNaN { #expect(actual.isNaN); continue }
            let x = Double(Float(value))
            let expected = x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
            if x < -87.3365 {
                #expect(actual == 0, "x = \(x): \(actual)")
            } else if expected >= Double(Float.leastNormalMagnitude) {
                worst = max(worst, abs(actual - expected) / expected)
            }
        }
        #expect(worst <= 6 * 0x1p-24, "worst relative error \(worst) (\(worst / 0x1p-24) × 2^-24) on \(targetName)")
    }
}
