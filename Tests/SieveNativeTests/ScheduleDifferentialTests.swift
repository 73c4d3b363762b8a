// Differential tests of the schedule attribute: every kernel variant, forced by the schedule pass or written
// with extreme parameters, compiled and run against the interpreter (the schedule changes how, never what).

import Foundation
import SieveCodegenC
import SieveDriver
import SieveIR
import SieveInterpreter
import SieveKernel
import SievePasses
import SieveTarget
import Testing

/// Products on which every variant applies somewhere: dense and N:M, batch 1 to 32, epilogues, conv2d.
let scheduleCases: [DifferentialCase] = [
    // @w is read three times (stored as is); @k and @p once each, so they may be packed in panels ([K, N] and
    // [N, K], with tail columns past the last panel).
    DifferentialCase(name: "dense products, weight [N, K] and [K, N], batch 1 and 32, epilogue", text: """
        graph @g(%x: tensor<1x64xf32>, %b: tensor<32x64xf32>, %r: tensor<32x40xf32>) -> (tensor<1x40xf32>, tensor<32x40xf32>, tensor<32x24xf32>, tensor<32x40xf32>, tensor<1x40xf32>) {
          %w = const @w : tensor<40x64xf32>
          %k = const @k : tensor<64x24xf32>
          %p = const @p : tensor<40x64xf32>
          %bias = const @bias : tensor<40xf32>
          %y = matmul %x, %w {transpose_b = true} : tensor<1x40xf32>
          %z = matmul %b, %w {transpose_b = true} : tensor<32x40xf32>
          %u = matmul %b, %k : tensor<32x24xf32>
          %f = fused_matmul %b, %w, %bias, %r {transpose_b = true, epilogue = [bias, relu, residual_add]} : tensor<32x40xf32>
          %q = fused_matmul %x, %p, %bias {transpose_b = true, epilogue = [bias, relu]} : tensor<1x40xf32>
          return %y, %z, %u, %f, %q
        }
        const @w : tensor<40x64xf32> = splat<0.0>
        const @p : tensor<40x64xf32> = splat<0.0>
        const @k : tensor<64x24xf32> = splat<0.0>
        const @bias : tensor<40xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol),
    DifferentialCase(name: "N:M products, batch 1, 3 and 32, gemm and fused epilogue", text: """
        graph @g(%x: tensor<1x64xf32>, %t: tensor<3x64xf32>, %b: tensor<32x64xf32>, %r: tensor<32x24xf32>, %s: tensor<2x160xf32>, %h: tensor<1x256xf32>) -> (tensor<1x24xf32>, tensor<3x24xf32>, tensor<32x24xf32>, tensor<32x24xf32>, tensor<32x16xf32>, tensor<2x10xf32>, tensor<1x12xf32>) {
          %w = const @w : tensor<24x64xf32>
          %v = const @v : tensor<16x64xf32>
          %o = const @o : tensor<10x160xf32>
          %p = const @p : tensor<12x256xf32>
          %bias = const @bias : tensor<24xf32>
          %y = matmul %x, %w {transpose_b = true} : tensor<1x24xf32>
          %z = matmul %t, %w {transpose_b = true} : tensor<3x24xf32>
          %u = gemm %b, %w, %bias {alpha = 0.5, transpose_b = true} : tensor<32x24xf32>
          %f = fused_matmul %b, %w, %bias, %r {transpose_b = true, epilogue = [bias, gelu, residual_add]} : tensor<32x24xf32>
          %e = matmul %b, %v {transpose_b = true} : tensor<32x16xf32>
          %q = matmul %s, %o {transpose_b = true} : tensor<2x10xf32>
          %i = matmul %h, %p {transpose_b = true} : tensor<1x12xf32>
          return %y, %z, %u, %f, %e, %q, %i
        }
        const @w : tensor<24x64xf32> = splat<0.0>
        const @v : tensor<16x64xf32> = splat<0.0>
        const @o : tensor<10x160xf32> = splat<0.0>
        const @p : tensor<12x256xf32> = splat<0.0>
        const @bias : tensor<24xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol, nm: ["w": (2, 4), "v": (2, 8), "o": (2, 4), "p": (1, 4)]),
    DifferentialCase(name: "conv2d dense and N:M", text: """
        graph @g(%x: tensor<2x4x7x7xf32>) -> (tensor<2x8x6x6xf32>, tensor<2x8x5x5xf32>) {
          %w = const @w : tensor<8x4x3x4xf32>
          %d = const @d : tensor<8x4x3x3xf32>
          %b = const @b : tensor<8xf32>
          %y = conv2d %x, %w, %b {pads = [1, 1, 0, 1]} : tensor<2x8x6x6xf32>
          %z = conv2d %x, %d, %b : tensor<2x8x5x5xf32>
          return %y, %z
        }
        const @w : tensor<8x4x3x4xf32> = splat<0.0>
        const @d : tensor<8x4x3x3xf32> = splat<0.0>
        const @b : tensor<8xf32> = splat<0.0>
        """, rtol: productTolerance.rtol, atol: productTolerance.atol, nm: ["w": (2, 4)]),
]

/// Compiles `compiled` (already scheduled) and compares with the interpreter on `reference`, 1 and 2 threads.
func runScheduled(_ reference: Graph, _ compiled: Graph, ranges: [(DifferentialCase, Range<Int>)], label: String,
                  folder: TemporaryFolder) throws -> [String] {
    try compareCompiled(reference, compiled, ranges: ranges, seed: 77, threads: [1, 2], parallelThreshold: 1 << 14,
                        name: "scheduled", label: label, folder: folder)
}

@Suite("Every kernel schedule matches the interpreter")
struct ScheduleDifferentialTests {
    /// The schedule pass forced to each variant in turn: every variant must be chosen for at least one op (so the
    /// test covers it), the chosen schedules must fit the native vector width (so lowering emits them as written),
    /// and the results must match the interpreter.
    /// int8_tile takes only dynamic int8 products, which these f32 cases have none of: DynamicInt8Tests forces it.
    @Test("each variant forced by schedule{variant=...}", arguments: KernelVariant.names.filter { $0 != "nm_scatter" && $0 != "int8_tile" })
    func forcedVariant(_ variant: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (reference, unscheduled, ranges) = try mergedCases(scheduleCases, seed: 5)
        var compiled = unscheduled
        let target = TargetDescription.native
        var context = PassContext()
        try Schedule(target: target, forcedVariant: variant).run(on: &compiled, context: &context)
        try Verifier.verify(compiled, checks: Verifier.targetChecks)
        var forced = 0
        for op in compiled.operations {
            guard let schedule = op.schedule, schedule.variant.name == variant else { continue }
            forced += 1
            let problem = try #require(KernelProblem.make(op, in: compiled))
            #expect(problem.admits(schedule, vectorWidth: target.f32Lanes), "\(schedule.summary) does not fit the target")
        }
        #expect(forced > 0, "no op took \(variant)")
        let problems = try runScheduled(reference, compiled, ranges: ranges, label: variant, folder: folder)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// Schedules written with extreme parameters (1-row tiles, 32 accumulators, k blocks of one step, tiles of 5
    /// rows, depth blocks of 1 and 5, a prefetch distance of 7, parallel or serial): each op takes the first one
    /// that fits it.
    @Test("extreme parameters")
    func extremeParameters() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (reference, unscheduled, ranges) = try mergedCases(scheduleCases, seed: 6)
        let width = TargetDescription.native.f32Lanes
        let sets: [[KernelSchedule]] = [
            [KernelSchedule(variant: .nmBlocked(kBlock: 32, tileRows: 5, prefetchRows: 1), parallel: .rowTiles),
             KernelSchedule(variant: .nmDot, packing: .rows4, parallel: .rows),
             KernelSchedule(variant: .nmBroadcast, parallel: .none),
             KernelSchedule(variant: .densePanels(DenseProductSchedule(variant: .streaming, panelWidth: width, rowTile: 1, depthBlock: 1,
                                                                       rowBlock: 1, prefetchDistance: 0)), packing: .panels, parallel: .columns),
             KernelSchedule(variant: .denseTile(rows: 1, vectors: 1), parallel: .none),
             KernelSchedule(variant: .denseDot(weightRows: 1), parallel: .columns)],
            [KernelSchedule(variant: .nmBlocked(kBlock: 256, tileRows: 1, prefetchRows: 64), parallel: .none),
             KernelSchedule(variant: .nmDot, packing: .rows4, parallel: .none),
             KernelSchedule(variant: .nmDot, parallel: .rows),
             KernelSchedule(variant: .nmGather, parallel: .rows),
             KernelSchedule(variant: .densePanels(DenseProductSchedule(variant: .registerTile, panelWidth: 4 * width, rowTile: 8, depthBlock: 5,
                                                                       rowBlock: 16, prefetchDistance: 7)), packing: .panels, parallel: .none),
             KernelSchedule(variant: .denseTile(rows: 8, vectors: 4), parallel: .columns),
             KernelSchedule(variant: .denseDot(weightRows: 16), parallel: .none),
             KernelSchedule(variant: .denseScalar, parallel: .columns)],
        ]
        var problems: [String] = []
        for (number, schedules) in sets.enumerated() {
            var compiled = unscheduled
            for index in compiled.operations.indices where compiled.operations[index].kind.isKernelBearing {
                let problem = try #require(KernelProblem.make(compiled.operations[index], in: compiled))
                compiled.operations[index].schedule = schedules.first { problem.admits($0, vectorWidth: width) }
            }
            try Verifier.verify(compiled, checks: Verifier.targetChecks)
            problems += try runScheduled(reference, compiled, ranges: ranges, label: "parameter set \(number)", folder: folder)
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// Row blocks in the in-lane value order forced on every 1:4 and 2:4 batch-1 product, compiled for each target:
    /// the AVX2 kernel on x86-64-v3, the scalar loop on x86-64 and on x86-64-v4 (whose vector path reads group
    /// order), 1 and 2 threads; and a 2:4 weight forced to group order on x86-64-v3 (the emulated two-source permute).
    @Test("row blocks in either value order on every target", arguments: [TargetDescription.x86_64, .x86_64_v3, .x86_64_v4])
    func rowBlockOrders(_ target: TargetDescription) throws {
        // A target this CPU cannot run is left out, as the differential tests do.
        guard target.f32Lanes <= TargetDescription.native.f32Lanes else { return }
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (reference, unscheduled, ranges) = try mergedCases(rowBlockNMCases, seed: 8)
        var compiled = unscheduled
        var inLane = 0, sequential = 0
        for index in compiled.operations.indices where compiled.operations[index].kind.isKernelBearing {
            let problem = try #require(KernelProblem.make(compiled.operations[index], in: compiled))
            for packing in [WeightPacking.rows4InLane, .rows4] {
                let schedule = KernelSchedule(variant: .nmDot, packing: packing, parallel: .rows)
                guard problem.admits(schedule, vectorWidth: target.f32Lanes) else { continue }
                compiled.operations[index].schedule = schedule
                if packing == .rows4InLane { inLane += 1 } else { sequential += 1 }
                break
            }
        }
        #expect(inLane == 4 && sequential == 2, "1:4 and 2:4 products take rows4_in_lane, 2:8 and 4:8 rows4")
        // One 2:4 product in group order, to keep the AVX2 emulation of the two-source permute covered.
        let first = try #require(compiled.operations.firstIndex { op in
            op.schedule?.packing == .rows4InLane && op.operands.count > 1 && compiled.type(of: op.operands[1])?.shape == [37, 2048]
        })
        compiled.operations[first].schedule?.packing = .rows4
        try Verifier.verify(compiled, checks: Verifier.targetChecks)
        let problems = try compareCompiled(reference, compiled, ranges: ranges, seed: 9, target: target, threads: [1, 2],
                                           parallelThreshold: 1 << 14, name: "orders", label: target.name, folder: folder)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// Every 2:4 batch-1 product forced to row blocks in group order, compiled for x86-64-v4 by each backend (C, the
    /// LLVM JIT, the LLVM object): the AVX-512 loop of `sieve_nm_rows4_f32` (inline assembly, the same under GCC and
    /// under Clang, whose IR the LLVM backend links) over 16 chunks with a last block of one row, over 8 chunks and a
    /// tail, over one chunk and a tail, and the tail alone (no chunk: the loop must not run), with 1 and 2 threads.
    @Test("2:4 row blocks in group order through the AVX-512 loop, each backend (needs a CPU with AVX-512)",
          .enabled(if: TargetDescription.native.f32Lanes == 16), arguments: TestBackend.allCases)
    func rowBlocksInGroupOrderAVX512(_ backend: TestBackend) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let short = DifferentialCase(name: "2:4 row blocks of one chunk and a tail, and of a tail alone", text: """
            graph @g(%x: tensor<1x224xf32>, %t: tensor<1x96xf32>) -> (tensor<1x9xf32>, tensor<1x5xf32>) {
              %a = const @a : tensor<9x224xf32>
              %b = const @b : tensor<5x96xf32>
              %ya = matmul %x, %a {transpose_b = true} : tensor<1x9xf32>
              %yb = matmul %t, %b {transpose_b = true} : tensor<1x5xf32>
              return %ya, %yb
            }
            const @a : tensor<9x224xf32> = splat<0.0>
            const @b : tensor<5x96xf32> = splat<0.0>
            """, rtol: productTolerance.rtol, atol: productTolerance.atol, nm: ["a": (2, 4), "b": (2, 4)])
        let (reference, unscheduled, ranges) = try mergedCases(rowBlockNMCases + [short], seed: 10)
        var compiled = unscheduled
        var forced: [[Int]] = []
        for index in compiled.operations.indices where compiled.operations[index].kind.isKernelBearing {
            let op = compiled.operations[index]
            guard op.operands.count > 1, let weight = compiled.type(of: op.operands[1]), weight.layout == .nm(n: 2, m: 4),
                  let rows = compiled.type(of: op.operands[0])?.shape.first, rows == 1 else { continue }
            let problem = try #require(KernelProblem.make(op, in: compiled))
            let schedule = KernelSchedule(variant: .nmDot, packing: .rows4, parallel: .rows)
            guard problem.admits(schedule, vectorWidth: 16) else { continue }
            compiled.operations[index].schedule = schedule
            forced.append(weight.shape)
        }
        #expect(forced.sorted { $0.lexicographicallyPrecedes($1) } == [[5, 96], [9, 224], [22, 1088], [37, 2048]], "forced: \(forced)")
        try Verifier.verify(compiled, checks: Verifier.targetChecks)
        let problems = try compareCompiled(reference, compiled, ranges: ranges, seed: 11, target: .x86_64_v4, threads: [1, 2],
                                           parallelThreshold: 1 << 14, name: "group", label: backend.rawValue, backend: backend,
                                           folder: folder)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// The default schedule carries `chooseNMPacking`'s row blocks for batch-1 products, and for batch N the blocked
    /// kernel with its L1-sized k block, tile and prefetch distance (also at 128 rows, 8 vectors of 16 lanes).
    @Test("N:M defaults: chooseNMPacking at batch 1, the blocked kernel at batch N")
    func nmDefaultsMatchTheKernelChoices() throws {
        for (rows, outputs, k, n, m) in [(1, 4096, 4096, 2, 4), (1, 64, 64, 2, 4), (2, 10, 160, 2, 4), (1, 12, 256, 1, 4),
                                         (1, 32, 512, 4, 16), (3, 24, 96, 3, 8), (16, 128, 256, 2, 4), (32, 4096, 4096, 2, 4),
                                         (64, 256, 1024, 1, 8), (128, 384, 384, 2, 4)] {
            // Only types are read: the weight's bytes stay empty.
            var graph = Graph(name: "g")
            let x = graph.addInput(TensorType([rows, k], .f32), name: "x")
            var weightType = TensorType([outputs, k], .f32)
            weightType.layout = .nm(n: n, m: m)
            let w = graph.appendConstant(Constant(name: "w", type: weightType, bytes: []))
            graph.outputs = [graph.append(.matmul(transposeB: true), [x, w], TensorType([rows, outputs], .f32), name: "y")]
            let op = try #require(graph.operations.first { $0.kind.isKernelBearing })
            let problem = try #require(SieveTarget.KernelProblem.make(op, in: graph))
            let chosen = problem.defaultSchedule(vectorWidth: 16, parallelThreshold: 1 << 14)
            let label = "\(rows) x [\(outputs), \(k)] \(n):\(m): \(chosen.summary)"
            if rows < 16 {
                let packing = chooseNMPacking(rows: outputs, k: k, n: n, m: m, rowBlockKernel: true, vectorWidth: 16)
                let rowBlocks: Bool
                if case .rowBlocks = packing { rowBlocks = true } else { rowBlocks = false }
                #expect(chosen.variant == .nmDot && (chosen.packing == .rows4) == rowBlocks, "\(label)")
                // On 8 lanes, the same choice with the value order of chooseNMValueOrder.
                if rows < 8 {
                    let narrow = problem.defaultSchedule(vectorWidth: 8, parallelThreshold: 1 << 14)
                    let expected: WeightPacking
                    switch chooseNMPacking(rows: outputs, k: k, n: n, m: m, rowBlockKernel: true, vectorWidth: 8) {
                    case .logical: expected = .stored
                    case let .rowBlocks(layout): expected = layout.order == .inLane ? .rows4InLane : .rows4
                    }
                    #expect(narrow.variant == .nmDot && narrow.packing == expected, "\(label), 8 lanes: \(narrow.summary)")
                }
            } else {
                // Tiles of weight rows whose results over all activation rows take at most 16 KiB (64 rows up to 64
                // activation rows, 32 at 128), prefetch 8 rows ahead, and a k block whose panel of activations (up to 8
                // vectors of them) is about 24 KiB, in whole steps of 16 kept values.
                let kBlocks = [16: 384, 32: 192, 64: 128, 128: 32]
                let tiles = [16: 64, 32: 64, 64: 64, 128: 32]
                #expect(chosen.variant == .nmBlocked(kBlock: kBlocks[rows] ?? 0, tileRows: tiles[rows] ?? 0, prefetchRows: 8), "\(label)")
            }
        }
    }

    /// A schedule that does not fit the vector width it is compiled for (the blocked kernel takes whole vectors of
    /// activation rows: 20 rows are 5 vectors of 4 lanes but not whole vectors of 16) is lowered with the default
    /// and says so; one that fits is lowered as written.
    @Test("a schedule that does not fit the vector width falls back to the default")
    func scheduleThatDoesNotFit() throws {
        let graph = try parseGraph("""
            graph @g(%x: tensor<20x64xf32>) -> tensor<20x8xf32> {
              %w = const @w : tensor<8x64xf32, nm<1:4>>
              %y = matmul %x, %w {transpose_b = true, schedule = nm_blocked<k_block = 64, tile_rows = 4, prefetch_rows = 2, packing = stored, parallel = none>} : tensor<20x8xf32>
              return %y
            }
            const @w : tensor<8x64xf32, nm<1:4>> = hex<"\(String(repeating: "0000803f", count: 128))\(String(repeating: "00", count: 32))">
            """)
        let wide = try lowerToKernels(graph, options: LoweringOptions(name: "g", vectorWidth: 16))
        #expect(wide.kernels.contains { $0.pattern.contains("does not fit f32x16 vectors; lowered with the default") },
                "\(wide.kernels.map(\.pattern))")
        let narrow = try lowerToKernels(graph, options: LoweringOptions(name: "g", vectorWidth: 4))
        #expect(narrow.kernels.contains { $0.pattern.contains("k blocks of 64") && $0.pattern.contains("tiles of 4 weight rows")
            && $0.pattern.contains("; schedule nm_blocked(k_block 64, tile_rows 4, prefetch_rows 2), serial") },
                "\(narrow.kernels.map(\.pattern))")
    }

    /// The blocked kernel reads a step's index fields as 32-bit words where they fill whole words (2:4 and 1:4: one
    /// word per step; 4:16: two, the second's fields shifted within it) and as whole bytes otherwise (12:16: 48 bits
    /// per step): forced on a product of each, the kernels say which, and the results match the interpreter with one
    /// and two threads.
    @Test("the blocked N:M kernel's index fields from 32-bit words and from bytes")
    func blockedIndexWords() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let patterns = DifferentialCase(name: "N:M products at 32 rows in 2:4, 1:4, 4:16 and 12:16", text: """
            graph @g(%x: tensor<32x128xf32>) -> (tensor<32x24xf32>, tensor<32x16xf32>, tensor<32x8xf32>, tensor<32x8xf32>) {
              %a = const @a : tensor<24x128xf32>
              %b = const @b : tensor<16x128xf32>
              %c = const @c : tensor<8x128xf32>
              %d = const @d : tensor<8x128xf32>
              %ya = matmul %x, %a {transpose_b = true} : tensor<32x24xf32>
              %yb = matmul %x, %b {transpose_b = true} : tensor<32x16xf32>
              %yc = matmul %x, %c {transpose_b = true} : tensor<32x8xf32>
              %yd = matmul %x, %d {transpose_b = true} : tensor<32x8xf32>
              return %ya, %yb, %yc, %yd
            }
            const @a : tensor<24x128xf32> = splat<0.0>
            const @b : tensor<16x128xf32> = splat<0.0>
            const @c : tensor<8x128xf32> = splat<0.0>
            const @d : tensor<8x128xf32> = splat<0.0>
            """, rtol: productTolerance.rtol, atol: productTolerance.atol, nm: ["a": (2, 4), "b": (1, 4), "c": (4, 16), "d": (12, 16)])
        let (reference, unscheduled, ranges) = try mergedCases([patterns], seed: 43)
        var compiled = unscheduled
        var context = PassContext()
        try Schedule(target: .native, forcedVariant: "nm_blocked").run(on: &compiled, context: &context)
        let program = try lowerToKernels(compiled, options: LoweringOptions(name: "g", vectorWidth: TargetDescription.native.f32Lanes))
        let blocked = program.kernels.map(\.pattern).filter { $0.contains("blocked for the caches") }
        #expect(blocked.filter { $0.contains("indices decoded from 32-bit words") }.count == 3
                && blocked.filter { $0.contains("indices decoded from whole bytes") }.count == 1, "\(blocked)")
        let problems = try runScheduled(reference, compiled, ranges: ranges, label: "nm_blocked index words", folder: folder)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// Batches wider than 8 vectors run the blocked kernel in several panels per k block (256 rows: 2 panels of 8
    /// vectors of 16 lanes, 4 of 8 lanes, 8 of 4 lanes; 192 rows: panels of 6 or 8 vectors): on every target the
    /// default schedule takes them, and the results match the interpreter with one and two threads.
    @Test("the blocked N:M kernel in several panels, every target")
    func blockedPanels() throws {
        let wide = DifferentialCase(name: "N:M products at 192 and 256 rows", text: """
            graph @g(%x: tensor<256x128xf32>, %t: tensor<192x64xf32>) -> (tensor<256x24xf32>, tensor<192x16xf32>) {
              %w = const @w : tensor<24x128xf32>
              %v = const @v : tensor<16x64xf32>
              %bias = const @bias : tensor<24xf32>
              %y = fused_matmul %x, %w, %bias {transpose_b = true, epilogue = [bias, relu]} : tensor<256x24xf32>
              %z = matmul %t, %v {transpose_b = true} : tensor<192x16xf32>
              return %y, %z
            }
            const @w : tensor<24x128xf32> = splat<0.0>
            const @v : tensor<16x64xf32> = splat<0.0>
            const @bias : tensor<24xf32> = splat<0.0>
            """, rtol: productTolerance.rtol, atol: productTolerance.atol, nm: ["w": (2, 4), "v": (4, 8)])
        var targets: [TargetDescription] = [.x86_64]
        if TargetDescription.native.f32Lanes >= 8 { targets.append(.x86_64_v3) }
        if TargetDescription.native.f32Lanes >= 16 { targets.append(.x86_64_v4) }
        for target in targets {
            let (_, compiled, _) = try mergedCases([wide], seed: 41)
            let program = try lowerToKernels(compiled, options: LoweringOptions(name: "g", vectorWidth: target.f32Lanes))
            let blocked = program.kernels.filter { $0.pattern.contains("blocked for the caches") }
            #expect(blocked.count == 2 && blocked.allSatisfy { $0.pattern.contains("panels of them per k block") },
                    "\(target.name): \(program.kernels.map(\.pattern))")
            let problems = try checkAgainstInterpreter([wide], target: target, seed: 41, threads: [1, 2])
            #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        }
    }
}
