// Empty tensors (a zero dimension) compiled and run against the interpreter: empty results launch no
// kernel, and results that are not empty but read empty operands (a product over k = 0) are computed.

import Foundation
import SieveIR
import SieveInterpreter
import SieveKernel
import SieveTarget
import SieveTestSupport
import Testing

/// Graphs with a zero dimension somewhere: an empty result, or a full result with an empty operand.
let emptyTensorCases: [DifferentialCase] = [
    DifferentialCase(name: "matmul over zero rows, constant weight (dot-product kernel)", text: """
        graph @g(%x: tensor<0x64xf32>) -> tensor<0x40xf32> {
          %w = const @w : tensor<40x64xf32>
          %y = matmul %x, %w {transpose_b = true} : tensor<0x40xf32>
          return %y
        }
        const @w : tensor<40x64xf32> = splat<0.0>
        """),
    DifferentialCase(name: "fused matmul over zero rows, then softmax", text: """
        graph @g(%x: tensor<0x8xf32>) -> tensor<0x5xf32> {
          %w = const @w : tensor<8x5xf32>
          %b = const @b : tensor<5xf32>
          %y = fused_matmul %x, %w, %b {epilogue = [bias, relu]} : tensor<0x5xf32>
          %s = softmax %y {axis = 1} : tensor<0x5xf32>
          return %s
        }
        const @w : tensor<8x5xf32> = splat<0.0>
        const @b : tensor<5xf32> = splat<0.0>
        """),
    DifferentialCase(name: "matmul over k = 0 is zeros", text: """
        graph @g(%x: tensor<3x0xf32>, %w: tensor<0x5xf32>) -> tensor<3x5xf32> {
          %y = matmul %x, %w : tensor<3x5xf32>
          return %y
        }
        """),
    DifferentialCase(name: "gemm over k = 0 is the bias", text: """
        graph @g(%x: tensor<2x0xf32>, %w: tensor<4x0xf32>, %b: tensor<4xf32>) -> tensor<2x4xf32> {
          %g = gemm %x, %w, %b {alpha = 2.0, transpose_b = true} : tensor<2x4xf32>
          return %g
        }
        """),
    DifferentialCase(name: "conv2d with no input channels is the bias", text: """
        graph @g(%x: tensor<2x0x3x3xf32>, %w: tensor<3x0x2x2xf32>, %b: tensor<3xf32>) -> tensor<2x3x2x2xf32> {
          %c = conv2d %x, %w, %b : tensor<2x3x2x2xf32>
          return %c
        }
        """),
    DifferentialCase(name: "conv2d over an empty batch", text: """
        graph @g(%x: tensor<0x3x4x4xf32>) -> tensor<0x2x3x3xf32> {
          %w = const @w : tensor<2x3x2x2xf32>
          %c = conv2d %x, %w : tensor<0x2x3x3xf32>
          return %c
        }
        const @w : tensor<2x3x2x2xf32> = splat<0.0>
        """),
    DifferentialCase(name: "elementwise, broadcast and layer norm over zero rows", text: """
        graph @g(%x: tensor<0x7xf32>, %y: tensor<1x7xf32>, %s: tensor<7xf32>) -> tensor<0x7xf32> {
          %a = add %x, %y : tensor<0x7xf32>
          %b = relu %a : tensor<0x7xf32>
          %c = layer_norm %b, %s, %s {axis = 1, epsilon = 1e-05} : tensor<0x7xf32>
          return %c
        }
        """),
    DifferentialCase(name: "concat with empty operands", text: """
        graph @g(%a: tensor<2x3xf32>, %b: tensor<2x0xf32>, %c: tensor<2x2xf32>) -> tensor<2x5xf32> {
          %e = concat %a, %b, %c {axis = 1} : tensor<2x5xf32>
          return %e
        }
        """),
    DifferentialCase(name: "pad of an empty tensor is the pad value", text: """
        graph @g(%x: tensor<1x2x0x4xf32>) -> tensor<1x2x2x8xf32> {
          %p = pad %x {pads = [0, 0, 1, 2, 0, 0, 1, 2], value = -1.5} : tensor<1x2x2x8xf32>
          return %p
        }
        """),
    DifferentialCase(name: "transpose, slice, expand and gather to empty results", text: """
        graph @g(%x: tensor<3x0x2xf32>, %c: tensor<2x3xf32>, %i: tensor<0xi64>) -> (tensor<0x2x3xf32>, tensor<2x0xf32>, tensor<0x3xf32>) {
          %t = transpose %x {permutation = [1, 2, 0]} : tensor<0x2x3xf32>
          %s = slice %c {starts = [1], ends = [1], axes = [1], steps = [1]} : tensor<2x0xf32>
          %g = gather %c, %i {axis = 0} : tensor<0x3xf32>
          return %t, %s, %g
        }
        """),
    DifferentialCase(name: "scatter with no updates copies the data", text: """
        graph @g(%d: tensor<3x4xf32>, %i: tensor<3x0xi64>, %u: tensor<3x0xf32>) -> tensor<3x4xf32> {
          %se = scatter_elements %d, %i, %u {axis = 1, reduction = add} : tensor<3x4xf32>
          return %se
        }
        """),
    DifferentialCase(name: "pooling and resize over an empty batch", text: """
        graph @g(%x: tensor<0x4x5x5xf32>) -> (tensor<0x4x3x3xf32>, tensor<0x4x10x10xf32>) {
          %m = max_pool %x {kernel = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1], ceil_mode = true} : tensor<0x4x3x3xf32>
          %r = resize %x {mode = nearest, coordinates = asymmetric, nearest_mode = floor, scales = [1.0, 1.0, 2.0, 2.0]} : tensor<0x4x10x10xf32>
          return %m, %r
        }
        """),
]

@Suite("Empty tensors compile and run")
struct EmptyTensorTests {
    @Test("every empty case matches the interpreter, native target, 1 and 3 threads")
    func emptyCasesMatchTheInterpreter() throws {
        let problems = try checkAgainstInterpreter(emptyTensorCases, target: .native, seed: 31, threads: [1, 3])
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("every empty case matches the interpreter, generic x86-64 target")
    func emptyCasesMatchTheInterpreterGeneric() throws {
        let problems = try checkAgainstInterpreter(emptyTensorCases, target: .x86_64, seed: 32, threads: [2])
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// Zero work launches nothing: a graph whose every result is empty lowers to no kernel at all.
    @Test("empty results lower to no kernel", arguments: [4, 8, 16])
    func emptyResultsLaunchNoKernel(vectorWidth: Int) throws {
        let graph = try parseGraph("""
            graph @g(%x: tensor<0x64xf32>) -> tensor<0x10xf32> {
              %w = const @w : tensor<64x10xf32>
              %y = matmul %x, %w : tensor<0x10xf32>
              %r = relu %y : tensor<0x10xf32>
              return %r
            }
            const @w : tensor<64x10xf32> = splat<0.5>
            """)
        let program = try lowerToKernels(graph, options: LoweringOptions(name: "g", vectorWidth: vectorWidth, parallelThreshold: 1))
        #expect(program.kernels.isEmpty, "\(program.kernels.map(\.name))")
        #expect(program.outputShapes == [[0, 10]])
    }
}
