// Differential tests of the dynamic int8 product: the quantize pass's output compiled for each target and thread
// count must give exactly what the interpreter gives (same integer sums, same f32 operations in the same order).

import Foundation
import SieveDriver
import SieveIR
import SieveInterpreter
import SieveKernel
import SievePasses
import SieveTarget
import Testing

/// Dense and N:M (2:4, 1:4, 4:8) products at batch 1, 5 and 32, with reductions that are not multiples of M
/// (37, 10) and epilogues (bias, activation, residual), to be quantized.
let dynamicInt8Cases: [DifferentialCase] = [
    DifferentialCase(name: "dense int8, batch 1 and 5, tails, epilogues", text: """
        graph @g(%x: tensor<1x37xf32>, %b: tensor<5x37xf32>, %r: tensor<5x13xf32>) -> (tensor<1x13xf32>, tensor<5x13xf32>, tensor<5x13xf32>) {
          %w = const @w : tensor<13x37xf32>
          %bias = const @bias : tensor<13xf32>
          %y = matmul %x, %w {transpose_b = true} : tensor<1x13xf32>
          %z = gemm %b, %w, %bias {transpose_b = true} : tensor<5x13xf32>
          %f = fused_matmul %b, %w, %bias, %r {transpose_b = true, epilogue = [bias, gelu, residual_add]} : tensor<5x13xf32>
          return %y, %z, %f
        }
        const @w : tensor<13x37xf32> = splat<0.0>
        const @bias : tensor<13xf32> = splat<0.0>
        """, rtol: 0, atol: 0),
    DifferentialCase(name: "N:M int8, batch 1 and 32, padded reductions", text: """
        graph @g(%x: tensor<1x64xf32>, %b: tensor<32x64xf32>, %s: tensor<3x10xf32>, %h: tensor<2x37xf32>) -> (tensor<1x24xf32>, tensor<32x24xf32>, tensor<3x7xf32>, tensor<2x9xf32>) {
          %w = const @w : tensor<24x64xf32>
          %v = const @v : tensor<7x10xf32>
          %p = const @p : tensor<9x37xf32>
          %bias = const @bias : tensor<24xf32>
          %y = fused_matmul %x, %w, %bias {transpose_b = true, epilogue = [bias, relu]} : tensor<1x24xf32>
          %z = matmul %b, %w {transpose_b = true} : tensor<32x24xf32>
          %e = matmul %s, %v {transpose_b = true} : tensor<3x7xf32>
          %q = matmul %h, %p {transpose_b = true} : tensor<2x9xf32>
          return %y, %z, %e, %q
        }
        const @w : tensor<24x64xf32> = splat<0.0>
        const @v : tensor<7x10xf32> = splat<0.0>
        const @p : tensor<9x37xf32> = splat<0.0>
        const @bias : tensor<24xf32> = splat<0.0>
        """, rtol: 0, atol: 0, nm: ["w": (2, 4), "v": (1, 4), "p": (4, 8)]),
    // Long rows take the vector paths: 600 = 2 x 256 + 88 (a masked tail) for vpdpbusd, 1040 (520 kept values = 2 x 256 + 8)
    // for the 2:4 byte permutes, 290 (146 kept per row, so odd rows start off a byte of indices and run scalar) with padding.
    DifferentialCase(name: "int8 long rows, dense 600 and 2:4 1040 and 290, batch 1 and 3", text: """
        graph @g(%x: tensor<1x600xf32>, %b: tensor<3x600xf32>, %s: tensor<3x1040xf32>, %t: tensor<1x290xf32>) -> (tensor<1x7xf32>, tensor<3x7xf32>, tensor<3x9xf32>, tensor<1x5xf32>) {
          %w = const @w : tensor<7x600xf32>
          %v = const @v : tensor<9x1040xf32>
          %p = const @p : tensor<5x290xf32>
          %y = matmul %x, %w {transpose_b = true} : tensor<1x7xf32>
          %z = matmul %b, %w {transpose_b = true} : tensor<3x7xf32>
          %e = matmul %s, %v {transpose_b = true} : tensor<3x9xf32>
          %q = matmul %t, %p {transpose_b = true} : tensor<1x5xf32>
          return %y, %z, %e, %q
        }
        const @w : tensor<7x600xf32> = splat<0.0>
        const @v : tensor<9x1040xf32> = splat<0.0>
        const @p : tensor<5x290xf32> = splat<0.0>
        """, rtol: 0, atol: 0, nm: ["v": (2, 4), "p": (2, 4)]),
]

/// Shapes for the int8 register tile (`int8_tile`): row counts around its 8- and 4-row blocks (1, 3, 19), channels that
/// fill no whole panel (24, 70: five panels, so a work item of 4 panels and one of 1), reductions of whole steps
/// (dense 128 and 600, 2:4 256 and 1040), with epilogues. 2:4 with more than 8 rows runs in chunks of 64 steps whose
/// shuffle controls the first row block decodes for the others: 19 rows of 32 steps (one chunk), 9 rows of 130
/// steps (64 + 64 + 2, the accumulators carried through the output).
let int8TileCases: [DifferentialCase] = [
    DifferentialCase(name: "int8 tile, dense and 2:4, 1 to 19 rows, partial panels", text: """
        graph @g(%x: tensor<19x128xf32>, %s: tensor<3x256xf32>, %o: tensor<1x256xf32>, %r: tensor<19x70xf32>, %l: tensor<9x1040xf32>) -> (tensor<19x70xf32>, tensor<3x70xf32>, tensor<1x70xf32>, tensor<9x24xf32>) {
          %w = const @w : tensor<70x128xf32>
          %v = const @v : tensor<70x256xf32>
          %u = const @u : tensor<24x1040xf32>
          %bias = const @bias : tensor<70xf32>
          %y = fused_matmul %x, %w, %bias, %r {transpose_b = true, epilogue = [bias, relu, residual_add]} : tensor<19x70xf32>
          %z = fused_matmul %s, %v, %bias {transpose_b = true, epilogue = [bias, relu]} : tensor<3x70xf32>
          %e = matmul %o, %v {transpose_b = true} : tensor<1x70xf32>
          %q = matmul %l, %u {transpose_b = true} : tensor<9x24xf32>
          return %y, %z, %e, %q
        }
        const @w : tensor<70x128xf32> = splat<0.0>
        const @v : tensor<70x256xf32> = splat<0.0>
        const @u : tensor<24x1040xf32> = splat<0.0>
        const @bias : tensor<70xf32> = splat<0.0>
        """, rtol: 0, atol: 0, nm: ["v": (2, 4), "u": (2, 4)]),
    // The vector GELU of product epilogues (within 16 ulp of the scalar one): the f32 products' tolerance.
    DifferentialCase(name: "int8 tile with a GELU epilogue over vectors", text: """
        graph @g(%x: tensor<19x128xf32>, %r: tensor<19x70xf32>) -> tensor<19x70xf32> {
          %w = const @w : tensor<70x128xf32>
          %bias = const @bias : tensor<70xf32>
          %y = fused_matmul %x, %w, %bias, %r {transpose_b = true, epilogue = [bias, gelu, residual_add]} : tensor<19x70xf32>
          return %y
        }
        const @w : tensor<70x128xf32> = splat<0.0>
        const @bias : tensor<70xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol),
]

/// Static int8 chains: a product requantizing in its epilogue (`quantize` step, u8 and i8) feeds the next one, which
/// reads u8 activations in place or moves i8 ones up to u8; 19 rows and 1 row; 128-wide reductions (whole tile steps),
/// 40 wide (dot products only). Weights random i8 (the differential harness randomizes constants).
let staticInt8ChainCase = DifferentialCase(name: "static int8 chains with requantizing epilogues", text: """
    graph @g(%x: tensor<19x128xf32>, %o: tensor<1x40xf32>) -> (tensor<19x24xf32>, tensor<19x24xf32>, tensor<1x24xf32>) {
      %xq = quantize %x : tensor<19x128xu8, quant<scale = 0.02, zero_point = 128>>
      %w = const @w : tensor<70x128xi8, quant<axis = 0, scale = [\(Array(repeating: "0.001", count: 70).joined(separator: ", "))], zero_point = [\(Array(repeating: "0", count: 70).joined(separator: ", "))]>>
      %bias = const @bias : tensor<70xf32>
      %y = fused_matmul %xq, %w, %bias {transpose_b = true, epilogue = [bias, relu, quantize]} : tensor<19x70xu8, quant<scale = 0.01, zero_point = 3>>
      %v = const @v : tensor<24x70xi8, quant<axis = 0, scale = [\(Array(repeating: "0.002", count: 24).joined(separator: ", "))], zero_point = [\(Array(repeating: "0", count: 24).joined(separator: ", "))]>>
      %z = fused_matmul %y, %v {transpose_b = true, epilogue = []} : tensor<19x24xf32>
      %s = fused_matmul %xq, %w {transpose_b = true, epilogue = [quantize]} : tensor<19x70xi8, quant<scale = 0.02, zero_point = -5>>
      %t = fused_matmul %s, %v {transpose_b = true, epilogue = []} : tensor<19x24xf32>
      %oq = quantize %o : tensor<1x40xu8, quant<scale = 0.02, zero_point = 128>>
      %u = const @u : tensor<70x40xi8, quant<axis = 0, scale = [\(Array(repeating: "0.003", count: 70).joined(separator: ", "))], zero_point = [\(Array(repeating: "0", count: 70).joined(separator: ", "))]>>
      %p = fused_matmul %oq, %u, %bias {transpose_b = true, epilogue = [bias, quantize]} : tensor<1x70xu8, quant<scale = 0.01, zero_point = 128>>
      %q = fused_matmul %p, %v {transpose_b = true, epilogue = []} : tensor<1x24xf32>
      return %z, %t, %q
    }
    const @w : tensor<70x128xi8, quant<axis = 0, scale = [\(Array(repeating: "0.001", count: 70).joined(separator: ", "))], zero_point = [\(Array(repeating: "0", count: 70).joined(separator: ", "))]>> = splat<0>
    const @v : tensor<24x70xi8, quant<axis = 0, scale = [\(Array(repeating: "0.002", count: 24).joined(separator: ", "))], zero_point = [\(Array(repeating: "0", count: 24).joined(separator: ", "))]>> = splat<0>
    const @u : tensor<70x40xi8, quant<axis = 0, scale = [\(Array(repeating: "0.003", count: 70).joined(separator: ", "))], zero_point = [\(Array(repeating: "0", count: 70).joined(separator: ", "))]>> = splat<0>
    const @bias : tensor<70xf32> = splat<0.0>
    """, rtol: 0, atol: 0)

/// Three products of one f32 activation quantized per row (the query, key and value products of an encoder layer),
/// one more of it per tensor, and one of another activation: the per-row ones share one prologue's rows, scales and
/// zero points (`sharedInt8Quantizations`), the others quantize their own. 19 rows of 128 (whole tile steps).
let sharedInt8RowsCase = DifferentialCase(name: "int8 products sharing quantized activations", text: """
    graph @g(%x: tensor<19x128xf32>, %o: tensor<19x128xf32>) -> (tensor<19x24xf32>, tensor<19x24xf32>, tensor<19x24xf32>, tensor<19x24xf32>, tensor<19x24xf32>) {
      %w = const @w : tensor<24x128xi8, quant<axis = 0, scale = [\(Array(repeating: "0.001", count: 24).joined(separator: ", "))], zero_point = [\(Array(repeating: "0", count: 24).joined(separator: ", "))]>>
      %v = const @v : tensor<24x128xi8, quant<axis = 0, scale = [\(Array(repeating: "0.002", count: 24).joined(separator: ", "))], zero_point = [\(Array(repeating: "0", count: 24).joined(separator: ", "))]>>
      %bias = const @bias : tensor<24xf32>
      %q = fused_matmul %x, %w, %bias {transpose_b = true, epilogue = [bias]} : tensor<19x24xf32>
      %k = fused_matmul %x, %v {transpose_b = true, epilogue = []} : tensor<19x24xf32>
      %t = fused_matmul %x, %w {transpose_b = true, epilogue = [], activations = "per_tensor"} : tensor<19x24xf32>
      %u = fused_matmul %x, %v, %bias {transpose_b = true, epilogue = [bias, relu]} : tensor<19x24xf32>
      %p = fused_matmul %o, %w {transpose_b = true, epilogue = []} : tensor<19x24xf32>
      return %q, %k, %t, %u, %p
    }
    const @w : tensor<24x128xi8, quant<axis = 0, scale = [\(Array(repeating: "0.001", count: 24).joined(separator: ", "))], zero_point = [\(Array(repeating: "0", count: 24).joined(separator: ", "))]>> = splat<0>
    const @v : tensor<24x128xi8, quant<axis = 0, scale = [\(Array(repeating: "0.002", count: 24).joined(separator: ", "))], zero_point = [\(Array(repeating: "0", count: 24).joined(separator: ", "))]>> = splat<0>
    const @bias : tensor<24xf32> = splat<0.0>
    """, rtol: 0, atol: 0)

/// Compiles the static chains (with `variant` forced wherever it applies) and compares them with the interpreter, bit
/// for bit; also checks that the requantizing products write 8-bit results.
func checkStaticInt8Chains(target: TargetDescription, seed: UInt64, threads: [Int32], backend: TestBackend = .c,
                           variant: String? = nil) throws -> [String] {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    var (_, graph, ranges) = try mergedCases([staticInt8ChainCase], seed: seed)
    var context = PassContext()
    if let variant {
        try PassManager(passes: [Schedule(target: target, forcedVariant: variant)]).run(on: &graph, context: &context) { _ in }
        let tiled = graph.operations.filter { $0.schedule?.variant.name == variant }.count
        #expect(tiled == 3, "\(tiled) products scheduled as \(variant)")
    }
    let requantizing = graph.operations.filter { if case let .fusedMatmul(_, steps, _) = $0.kind { steps.last == .quantize } else { false } }
    #expect(requantizing.count == 3 && requantizing.allSatisfy { [.u8, .i8].contains(graph.type(of: $0.results[0])?.elementType) })
    return try compareCompiled(graph, graph, ranges: ranges, seed: seed, target: target, threads: threads,
                               name: "int8s", label: "\(target.name) \(backend.rawValue)", backend: backend, folder: folder)
}

/// Quantizes every product of the cases (no error budget), schedules them (with `variant` wherever it applies, as
/// `schedule variant=` does) and compares compiled code with the interpreter, bit for bit.
func checkDynamicInt8(target: TargetDescription, seed: UInt64, threads: [Int32], backend: TestBackend = .c,
                      variant: String? = nil) throws -> [String] {
    let folder = try TemporaryFolder()
    defer { folder.remove() }
    let cases = dynamicInt8Cases + (variant == nil ? [] : int8TileCases)
    var (_, graph, ranges) = try mergedCases(cases, seed: seed)
    var context = PassContext()
    var passes: [any GraphPass] = [Quantize(maxError: .infinity)]
    if let variant { passes.append(Schedule(target: target, forcedVariant: variant)) }
    try PassManager(passes: passes).run(on: &graph, context: &context) { _ in }
    #expect(context.quantization.count == (variant == nil ? 11 : 16) && context.quantization.allSatisfy { $0.scheme == "int8 dynamic" })
    if let variant {
        // Every product whose reduction is whole steps of the tile takes it (the others keep their dot products).
        let tiled = graph.operations.filter { $0.schedule?.variant.name == variant }.count
        #expect(tiled == 10, "\(tiled) products scheduled as \(variant)")
    }
    return try compareCompiled(graph, graph, ranges: ranges, seed: seed, target: target, threads: threads,
                               name: "int8", label: "\(target.name) \(backend.rawValue)", backend: backend, folder: folder)
}

@Suite("Dynamic int8 products match the interpreter")
struct DynamicInt8Tests {
    @Test("native target, 1 and 2 threads")
    func native() throws {
        let problems = try checkDynamicInt8(target: .native, seed: 31, threads: [1, 2])
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("x86-64-v3 (AVX2) target, 1 and 3 threads", .enabled(if: TargetDescription.native.f32Lanes >= 8))
    func avx2() throws {
        let problems = try checkDynamicInt8(target: .x86_64_v3, seed: 32, threads: [1, 3])
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("native target through the LLVM JIT, 1 and 2 threads")
    func jit() throws {
        let problems = try checkDynamicInt8(target: .native, seed: 34, threads: [1, 2], backend: .jit)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("int8_tile on the native target, 1 and 2 threads")
    func tileNative() throws {
        let problems = try checkDynamicInt8(target: .native, seed: 41, threads: [1, 2], variant: "int8_tile")
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("int8_tile on the x86-64-v3 (AVX2) target, 1 and 3 threads", .enabled(if: TargetDescription.native.f32Lanes >= 8))
    func tileAVX2() throws {
        let problems = try checkDynamicInt8(target: .x86_64_v3, seed: 42, threads: [1, 3], variant: "int8_tile")
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("int8_tile on the generic x86-64 target, 2 threads")
    func tileGeneric() throws {
        let problems = try checkDynamicInt8(target: .x86_64, seed: 43, threads: [2], variant: "int8_tile")
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("int8_tile through the LLVM JIT, 1 and 2 threads")
    func tileJIT() throws {
        let problems = try checkDynamicInt8(target: .native, seed: 44, threads: [1, 2], backend: .jit, variant: "int8_tile")
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("generic x86-64 target, 2 threads")
    func generic() throws {
        let problems = try checkDynamicInt8(target: .x86_64, seed: 33, threads: [2])
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("static int8 chains requantizing in their epilogues: native, x86-64-v3, generic, JIT; dot products and int8_tile",
          arguments: [nil, "int8_tile"])
    func staticChains(variant: String?) throws {
        var problems = try checkStaticInt8Chains(target: .native, seed: 51, threads: [1, 2], variant: variant)
        problems += try checkStaticInt8Chains(target: .x86_64, seed: 52, threads: [2], variant: variant)
        problems += try checkStaticInt8Chains(target: .native, seed: 53, threads: [2], backend: .jit, variant: variant)
        if TargetDescription.native.f32Lanes >= 8 {
            problems += try checkStaticInt8Chains(target: .x86_64_v3, seed: 54, threads: [1, 3], variant: variant)
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// Products of one activation quantize it once: the kernel program has three prologues for five products (one
    /// shared by the three per-row products of %x, one per tensor, one for %o), and the compiled code, with dot products
    /// and with the int8 tile, at 1 and 2 threads, gives exactly what the interpreter gives.
    @Test("products of one activation share its quantized rows", arguments: [nil, "int8_tile"])
    func sharedQuantizedRows(variant: String?) throws {
        var (_, graph, ranges) = try mergedCases([sharedInt8RowsCase], seed: 61)
        var context = PassContext()
        if let variant {
            try PassManager(passes: [Schedule(target: .native, forcedVariant: variant)]).run(on: &graph, context: &context) { _ in }
            #expect(graph.operations.filter { $0.schedule?.variant.name == variant }.count == 5)
        }
        let program = try lowerToKernels(graph, options: LoweringOptions(name: "int8", vectorWidth: TargetDescription.native.f32Lanes))
        let prologues = program.kernels.filter { $0.pattern.contains("quantized to u8") }
        #expect(prologues.count == 3, "\(prologues.map(\.pattern))")
        #expect(prologues.filter { $0.pattern.hasSuffix("(and for 2 more products of them)") }.count == 1, "\(prologues.map(\.pattern))")
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let problems = try compareCompiled(graph, graph, ranges: ranges, seed: 62, target: .native, threads: [1, 2],
                                           name: "int8shared", label: "native c", folder: folder)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// The weights stay 8-bit in the artifact: the kernel program holds i8 weight buffers and no f32 copy of them.
    @Test("quantized weights are stored as i8 in the kernel program")
    func weightsStayEightBit() throws {
        var (_, graph, _) = try mergedCases(dynamicInt8Cases, seed: 34)
        var context = PassContext()
        try PassManager(passes: [Quantize(maxError: .infinity)]).run(on: &graph, context: &context) { _ in }
        let program = try lowerToKernels(graph, options: LoweringOptions(name: "int8", vectorWidth: 16))
        let constants = program.buffers.filter { if case .constant = $0.storage { return true } else { return false } }
        let weights = constants.filter { $0.name.contains(".int8") && !$0.name.hasSuffix(".indices") && !$0.name.hasSuffix(".sums") && !$0.name.hasSuffix(".scales") }
        #expect(weights.count == 7 && weights.allSatisfy { $0.elementType == .i8 }, "\(weights)")
        // The only f32 constants left are the biases and the per-channel scale tables.
        let floats = constants.filter { $0.elementType == .f32 }
        #expect(floats.allSatisfy { $0.name.contains("bias") || $0.name.hasSuffix(".scales") }, "\(floats.map(\.name))")
        // A prologue and a product per layer, but one prologue for the two products of the first case's %b.
        #expect(program.kernels.filter { $0.pattern.hasPrefix("dynamic int8") }.count == 21, "a prologue and a product per layer")
    }
}
