// Kernel IR tests: the printed form of a small program, one negative test per verifier invariant,
// plan-memory (liveness sharing, in-place reuse, views), and the runtime copy embedded in the compiler.

import Foundation
import SieveCodegenC
import SieveDriver
import SieveFuzz
import SieveIR
import SieveKernel
import SieveTarget
import Testing

/// A valid program: y[i] = relu(x[i] * w[i]) over 8 elements in a parallel loop, plus a vector copy.
func sampleProgram() -> KernelProgram {
    var program = KernelProgram(name: "sample", vectorWidth: 4)
    program.buffers = [
        Buffer(name: "%x", storage: .input(0), elementType: .f32, count: 8),
        Buffer(name: "@w", storage: .constant(offset: 0), elementType: .f32, count: 8),
        Buffer(name: "%t", storage: .arena(offset: 0), elementType: .f32, count: 8),
        Buffer(name: "%y", storage: .output(0), elementType: .f32, count: 8),
        Buffer(name: "@w.indices", storage: .constant(offset: 64), elementType: .u8, count: 4),
    ]
    program.inputs = [BufferID(0)]
    program.outputs = [BufferID(3)]
    program.inputShapes = [[8]]
    program.outputShapes = [[8]]
    program.inputNames = ["x"]
    program.outputNames = ["y"]
    program.arenaBytes = 64
    program.weights = [UInt8](repeating: 0, count: 128)
    var builder = KernelBuilder()
    builder.loop("i", to: 8, parallel: true) { body, i in
        let product = body.declare("product", .f32, .binary(.mul, .load(BufferID(0), index: i), .load(BufferID(1), index: i)))
        body.store(BufferID(2), i, .select(.binary(.lt, product, .float(0)), .float(0), product))
    }
    builder.loop("v", to: 8, step: 4) { body, v in
        body.emit(.vectorStore(BufferID(3), index: v, value: .vectorLoad(BufferID(2), index: v, width: 4)))
    }
    program.kernels = [builder.kernel(name: "k0_mul", op: "mul", location: "test.sir:3:3", pattern: "test pattern")]
    return program
}

@Suite("Kernel IR")
struct KernelIRTests {
    @Test("the printer's canonical form")
    func printer() {
        let expected = """
            program @sample {vector_width = 4, arena = 64, weights = 128}
              %b0 = input 0 : f32[8]  // %x
              %b1 = constant +0 : f32[8]  // @w
              %b2 = arena +0 : f32[8]  // %t
              %b3 = output 0 : f32[8]  // %y
              %b4 = constant +64 : u8[4]  // @w.indices

            kernel @k0_mul {op = "mul", loc = "test.sir:3:3", pattern = "test pattern"} {
              parallel for %v0 = 0 to 8 {
                var %v1 : f32 = load %b0[%v0] * load %b1[%v0]
                store %b2[%v0], select(lt(%v1, 0.0f), 0.0f, %v1)
              }
              for %v2 = 0 to 8 step 4 {
                vstore %b3[%v2], vload.4 %b2[%v2]
              }
            }

            """
        #expect(sampleProgram().print() == expected)
        #expect(KernelVerifier.problems(in: sampleProgram()).isEmpty)
    }

    /// Applies a change to the sample program's kernel body or tables and returns the verifier's problems.
    func problems(_ change: (inout KernelProgram) -> Void) -> [String] {
        var program = sampleProgram()
        change(&program)
        return KernelVerifier.problems(in: program)
    }

    func mutateBody(_ program: inout KernelProgram, _ change: (inout [Statement]) -> Void) {
        change(&program.kernels[0].body)
    }

    @Test("invariant 1: buffers lie inside the arena and weights, tables match")
    func buffers() {
        #expect(problems { $0.arenaBytes = 16 }.contains { $0.contains("outside the arena") })
        #expect(problems { $0.buffers[2].storage = .arena(offset: 8) }.contains { $0.contains("not a multiple of 64") })
        #expect(problems { $0.buffers[1].storage = .constant(offset: 64 * 3) }.contains { $0.contains("outside the 128 weight bytes") })
        #expect(problems { $0.outputs = [BufferID(2)] }.contains { $0.contains("storage 'output 0'") })
        #expect(problems { $0.inputNames = [] }.contains { $0.contains("one entry per input") })
        #expect(problems { $0.buffers[0].count = 0 }.contains { $0.contains("at least one") })
    }

    @Test("invariant 2 and 3: references and scoping")
    func scoping() {
        // Using the parallel loop's product variable in the second loop, outside its block.
        let outside = problems { program in
            mutateBody(&program) { body in
                guard case var .loop(loop) = body[1] else { return }
                loop.body = [.store(BufferID(3), index: .variable(VariableID(2)), value: .variable(VariableID(1)))]
                body[1] = .loop(loop)
            }
        }
        #expect(outside.contains { $0.contains("%v1 is used outside the block") })
        let missingBuffer = problems { program in
            mutateBody(&program) { $0.append(.store(BufferID(9), index: 0, value: .float(1))) }
        }
        #expect(missingBuffer.contains { $0.contains("%b9, which is not a buffer") })
        let twice = problems { program in
            mutateBody(&program) { $0.append(.declare(VariableID(1), .float(0))) }
        }
        #expect(twice.contains { $0.contains("declared twice") })
        // Text cannot express this one: the parser makes a table entry for every variable it reads.
        let unknownVariable = problems { program in
            mutateBody(&program) { $0.append(.declare(VariableID(99), .int(0))) }
        }
        #expect(unknownVariable.contains { $0.contains("%v99 is not in the variable table") })
    }

    @Test("invariant 4: types")
    func types() {
        let storeType = problems { program in mutateBody(&program) { $0.append(.store(BufferID(3), index: 0, value: .int(1))) } }
        #expect(storeType.contains { $0.contains("store of i64 to %b3, whose elements take f32") })
        let indexType = problems { program in mutateBody(&program) { $0.append(.store(BufferID(3), index: .float(0), value: .float(1))) } }
        #expect(indexType.contains { $0.contains("store index must be i64") })
        let mixed = problems { program in
            mutateBody(&program) { $0.append(.store(BufferID(3), index: 0, value: .binary(.add, .float(1), .int(1)))) }
        }
        #expect(mixed.contains { $0.contains("operands need one type") })
        let nmBits = problems { program in
            mutateBody(&program) { $0.append(.store(BufferID(2), index: .nmIndex(BufferID(4), element: 0, bits: 5), value: .float(1))) }
        }
        #expect(nmBits.contains { $0.contains("nm_index of 5 bits") })
        let nmBuffer = problems { program in
            mutateBody(&program) { $0.append(.store(BufferID(2), index: .nmIndex(BufferID(1), element: 0, bits: 2), value: .float(1))) }
        }
        #expect(nmBuffer.contains { $0.contains("expected packed u8") })
        let nmDot = problems { program in
            let dot = NMDot(values: BufferID(4), indices: BufferID(4), dense: BufferID(1), first: 0, denseStart: 0, groups: 1, n: 2, m: 3)
            mutateBody(&program) { $0.append(.store(BufferID(2), index: 0, value: .nmDot(dot))) }
        }
        #expect(nmDot.contains { $0.contains("nm_dot with m = 3") })
        #expect(nmDot.contains { $0.contains("nm_dot values %b4 of u8, expected f32") })
        let lane = problems { program in
            mutateBody(&program) { $0.append(.vectorStore(BufferID(2), index: 0, value: .broadcastLane(.vectorLoad(BufferID(0), index: 0, width: 4), lane: 4))) }
        }
        #expect(lane.contains { $0.contains("broadcast_lane of lane 4 of a vector of 4") })
        let scalarLane = problems { program in
            mutateBody(&program) { $0.append(.vectorStore(BufferID(2), index: 0, value: .broadcastLane(.float(1), lane: 0))) }
        }
        #expect(scalarLane.contains { $0.contains("broadcast_lane of f32, expected a vector") })
        let rowBlock = problems { program in
            guard let layout = NMRowBlockLayout(rows: 4, k: 8, n: 2, m: 4) else { return }
            mutateBody(&program) {
                $0.append(.nmRowBlock(NMRowBlock(weights: BufferID(1), layout: layout, block: 0, dense: BufferID(4), denseStart: 0,
                                                 out: BufferID(1), outStart: .float(0), validRows: 4)))
            }
        }
        #expect(rowBlock.contains { $0.contains("nm_rows4 weights %b1 of f32, expected u8") })
        #expect(rowBlock.contains { $0.contains("nm_rows4 dense %b4 of u8, expected f32") })
        #expect(rowBlock.contains { $0.contains("nm_rows4 output %b1 is read only") })
        #expect(rowBlock.contains { $0.contains("nm_rows4 output start must be i64") })
        // The parser refuses an order the pattern does not admit, so only a program built in Swift can hold one.
        let wrongOrder = problems { program in
            guard var layout = NMRowBlockLayout(rows: 4, k: 64, n: 2, m: 8) else { return }
            layout.order = .inLane
            mutateBody(&program) {
                $0.append(.nmRowBlock(NMRowBlock(weights: BufferID(1), layout: layout, block: 0, dense: BufferID(0), denseStart: 0,
                                                 out: BufferID(2), outStart: 0, validRows: 4)))
            }
        }
        #expect(wrongOrder.contains { $0.contains("nm_rows4.2:8 cannot be stored in in_lane order") })
        let truncate = problems { program in
            mutateBody(&program) { $0.append(.store(BufferID(2), index: .convert(.float(1), to: .i64), value: .float(1))) }
        }
        #expect(truncate.contains { $0.contains("must use truncate_to_i64") })
    }

    @Test("row-block packing: sizes of docs/nm-layout.md, patterns it refuses, and the packing choice")
    func rowBlockPacking() throws {
        let layer = try #require(NMRowBlockLayout(rows: 4096, k: 4096, n: 2, m: 4))
        #expect(layer.chunkBytes == 1088 && layer.blockBytes == 34_816 && layer.totalBytes == 35_651_584 && layer.tailKept == 0)
        let odd = try #require(NMRowBlockLayout(rows: 10, k: 320, n: 2, m: 4))
        #expect(odd.blocks == 3 && odd.chunks == 2 && odd.tailKept == 32 && odd.tailBytes == 576 && odd.blockBytes == 2752)
        let threeBit = try #require(NMRowBlockLayout(rows: 5, k: 384, n: 2, m: 8))
        #expect(threeBit.chunkBytes == 1024 + 128 && threeBit.sliceIndexBytes == 6)
        #expect(NMRowBlockLayout(rows: 4, k: 64, n: 3, m: 8) == nil, "n must divide the 64 kept values of a chunk")
        #expect(NMRowBlockLayout(rows: 4, k: 66, n: 2, m: 4) == nil, "k must be whole groups")
        #expect(NMRowBlockLayout(rows: 1 << 40, k: 1 << 40, n: 2, m: 4) == nil, "sizes that overflow are refused, not trapped on")
        #expect(NMRowBlockLayout(rows: 1 << 50, k: 1 << 50, n: 2, m: 4) == nil)
        #expect(chooseNMPacking(rows: 64, k: 64, n: 2, m: 4, rowBlockKernel: false, vectorWidth: 16) == .logical)
        #expect(chooseNMPacking(rows: 64, k: 256, n: 2, m: 4, rowBlockKernel: true, vectorWidth: 16)
                == .rowBlocks(try #require(NMRowBlockLayout(rows: 64, k: 256, n: 2, m: 4))))
        // Every weight of the differential case "N:M batch-1 products over row-block packed weights" takes row blocks.
        for (rows, k, n, m) in [(10, 1088, 2, 4), (7, 512, 1, 4), (5, 768, 2, 8), (6, 768, 4, 8), (9, 256, 2, 4)] {
            let choice = chooseNMPacking(rows: rows, k: k, n: n, m: m, rowBlockKernel: true, vectorWidth: 16)
            #expect(choice == .rowBlocks(try #require(NMRowBlockLayout(rows: rows, k: k, n: n, m: m))), "\(rows)x\(k) \(n):\(m)")
        }
        // Rows that are mostly scalar tail (k = 64: 32 kept, no full chunk) stay one nm_dot per row.
        #expect(chooseNMPacking(rows: 64, k: 64, n: 2, m: 4, rowBlockKernel: true, vectorWidth: 16) == .logical)
        #expect(chooseNMPacking(rows: 64, k: 1088, n: 2, m: 4, rowBlockKernel: true, vectorWidth: 16)
                == .rowBlocks(try #require(NMRowBlockLayout(rows: 64, k: 1088, n: 2, m: 4))))
        // Slice order: row 1's first kept value lands right after row 0's first 16, in the first chunk.
        var logical = [UInt8](repeating: 0, count: 4 * 128 * 4 + 4 * 128 / 4)
        for row in 0..<4 { for p in 0..<128 { withUnsafeBytes(of: Float(row * 1000 + p).bitPattern.littleEndian) { logical.replaceSubrange((row * 128 + p) * 4 ..< (row * 128 + p) * 4 + 4, with: $0) } } }
        let packed = try #require(NMRowBlockLayout(rows: 4, k: 256, n: 2, m: 4)).pack(logical)
        func float(at offset: Int) -> Float { Float(bitPattern: UInt32(packed[offset]) | UInt32(packed[offset + 1]) << 8 | UInt32(packed[offset + 2]) << 16 | UInt32(packed[offset + 3]) << 24) }
        #expect(float(at: 0) == 0 && float(at: 60) == 15 && float(at: 64) == 1000 && float(at: 256) == 16 && float(at: 1088) == 64)
    }

    @Test("in-lane value order: the lanes of docs/nm-layout.md, the patterns it takes, and the choice per vector width")
    func inLaneValueOrder() throws {
        // 2:4: every 8 kept values as groups 0 0 2 2 | 1 1 3 3; 1:4: groups 0 2 4 6 | 1 3 5 7.
        #expect((0..<16).map { NMValueOrder.inLane.position(ofKept: $0, n: 2) } == [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15])
        #expect((0..<8).map { NMValueOrder.inLane.position(ofKept: $0, n: 1) } == [0, 4, 1, 5, 2, 6, 3, 7])
        #expect((0..<16).map { NMValueOrder.sequential.position(ofKept: $0, n: 2) } == Array(0..<16))
        #expect(NMRowBlockLayout(rows: 4, k: 64, n: 2, m: 8, order: .inLane) == nil, "the in-lane order is for m = 4")
        #expect(NMRowBlockLayout(rows: 4, k: 64, n: 3, m: 4, order: .inLane) == nil)
        #expect(NMRowBlockLayout(rows: 4, k: 256, n: 1, m: 4, order: .inLane) != nil)
        // Row 0 of a 2:4 weight, kept values 0 ..< 128 (group g holds kept 2g and 2g + 1) with indices 0 1 2 3 1 2 ...
        var logical = [UInt8](repeating: 0, count: 4 * 128 * 4 + 4 * 128 / 4)
        for row in 0..<4 { for p in 0..<128 { withUnsafeBytes(of: Float(row * 1000 + p).bitPattern.littleEndian) { logical.replaceSubrange((row * 128 + p) * 4 ..< (row * 128 + p) * 4 + 4, with: $0) } } }
        for p in 0..<128 { logical[4 * 128 * 4 + p / 4] |= UInt8((p % 4) << (2 * (p % 4))) }
        let layout = try #require(NMRowBlockLayout(rows: 4, k: 256, n: 2, m: 4, order: .inLane))
        let packed = layout.pack(logical)
        func float(at offset: Int) -> Float { Float(bitPattern: UInt32(packed[offset]) | UInt32(packed[offset + 1]) << 8 | UInt32(packed[offset + 2]) << 16 | UInt32(packed[offset + 3]) << 24) }
        #expect((0..<16).map { float(at: 4 * $0) } == [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15], "row 0's first slice")
        #expect(float(at: 64) == 1000 && float(at: 64 + 8) == 1004, "row 1's slice follows, in the same order")
        // Index fields follow their values: kept value p has index p % 4, so the first byte (lanes 0-3: kept 0 1 4 5)
        // holds 0 1 0 1 and the second (lanes 4-7: kept 2 3 6 7) 2 3 2 3.
        #expect(packed[layout.chunkValueBytes] == 0b01_00_01_00 && packed[layout.chunkValueBytes + 1] == 0b11_10_11_10)
        #expect(chooseNMValueOrder(n: 2, m: 4, vectorWidth: 8) == .inLane && chooseNMValueOrder(n: 1, m: 4, vectorWidth: 8) == .inLane)
        #expect(chooseNMValueOrder(n: 2, m: 4, vectorWidth: 16) == .sequential && chooseNMValueOrder(n: 2, m: 4, vectorWidth: 4) == .sequential)
        #expect(chooseNMValueOrder(n: 4, m: 8, vectorWidth: 8) == .sequential)
        #expect(chooseNMPacking(rows: 64, k: 256, n: 2, m: 4, rowBlockKernel: true, vectorWidth: 8)
                == .rowBlocks(try #require(NMRowBlockLayout(rows: 64, k: 256, n: 2, m: 4, order: .inLane))))
    }

    @Test("invariant 5: stores only to writable buffers")
    func writes() {
        let toInput = problems { program in mutateBody(&program) { $0.append(.store(BufferID(0), index: 0, value: .float(1))) } }
        #expect(toInput.contains { $0.contains("read only (input 0)") })
        let toConstant = problems { program in mutateBody(&program) { $0.append(.store(BufferID(1), index: 0, value: .float(1))) } }
        #expect(toConstant.contains { $0.contains("read only (constant +0)") })
    }

    @Test("transpose_tile: round-trips through text, and the verifier checks its size, strides, element types and target")
    func transposeTile() {
        func tile(source: Int = 0, out: Int = 2, size: Int = 4, sourceStride: Int = 4, outStride: Int = 4) -> Statement {
            .transposeTile(TransposeTile(source: BufferID(source), sourceStart: 0, sourceStride: sourceStride, out: BufferID(out),
                                         outStart: 0, outStride: outStride, size: size))
        }
        var program = sampleProgram()
        mutateBody(&program) { $0.append(tile()) }
        #expect(program.kernels[0].print().contains("transpose_tile.4 %b2[0], stride 4, from %b0[0], stride 4"))
        #expect(kernelRoundTripProblems(program, label: "transpose_tile").isEmpty)
        #expect(problems { mutateBody(&$0) { $0.append(tile(size: 5)) } }.contains { $0.contains("tile size must be 4, 8 or 16") })
        #expect(problems { mutateBody(&$0) { $0.append(tile(sourceStride: 3)) } }.contains { $0.contains("at least the tile size 4") })
        #expect(problems { mutateBody(&$0) { $0.append(tile(source: 4)) } }.contains { $0.contains("transpose_tile source %b4 of u8, expected f32") })
        #expect(problems { mutateBody(&$0) { $0.append(tile(out: 1)) } }.contains { $0.contains("read only (constant +0)") })
    }

    @Test("invariant 6: parallel loops are top level, start at 0 with step 1, and capture nothing")
    func parallelLoops() {
        let nested = problems { program in
            mutateBody(&program) { body in
                guard case let .loop(inner) = body[0] else { return }
                body = [.loop(Loop(variable: VariableID(2), lower: 0, upper: 1, body: [.loop(inner)]))]
            }
        }
        #expect(nested.contains { $0.contains("not at the top level") })
        let shifted = problems { program in
            mutateBody(&program) { body in
                guard case var .loop(loop) = body[0] else { return }
                loop.lower = 1
                body[0] = .loop(loop)
            }
        }
        #expect(shifted.contains { $0.contains("must start at 0 with step 1") })
        let captured = problems { program in
            program.kernels[0].variables.append(Variable(name: "outside", type: .f32))
            mutateBody(&program) { body in
                guard case var .loop(loop) = body[0] else { return }
                loop.body.append(.store(BufferID(2), index: 0, value: .variable(VariableID(3))))
                body[0] = .loop(loop)
                body.insert(.declare(VariableID(3), .float(1)), at: 0)
            }
        }
        #expect(captured.contains { $0.contains("declared outside a parallel loop") })
    }

    @Test("invariant 7: positive steps and supported vector widths")
    func stepsAndWidths() {
        let step = problems { program in
            mutateBody(&program) { body in
                guard case var .loop(loop) = body[1] else { return }
                loop.step = 0
                body[1] = .loop(loop)
            }
        }
        #expect(step.contains { $0.contains("step 0 must be positive") })
        let width = problems { program in
            mutateBody(&program) { $0.append(.vectorStore(BufferID(3), index: 0, value: .broadcast(.float(0), width: 3))) }
        }
        #expect(width.contains { $0.contains("vector width 3") })
    }

    @Test("plan-memory shares bytes between values whose lifetimes do not overlap and works in place")
    func planMemory() throws {
        let graph = try parseGraph("""
            graph @g(%x: tensor<256xf32>) -> tensor<256xf32> {
              %a = exp %x : tensor<256xf32>
              %b = neg %a : tensor<256xf32>
              %c = tanh %b : tensor<256xf32>
              %r = reshape %c : tensor<16x16xf32>
              %t = transpose %r {permutation = [1, 0]} : tensor<16x16xf32>
              %f = reshape %t : tensor<256xf32>
              %y = add %f, %x : tensor<256xf32>
              return %y
            }
            """)
        let plan = PlanMemory().plan(graph, scratchBytes: Array(repeating: 0, count: graph.operations.count))
        // %a, %b and %c share one block in place; %t needs a second one while %c is read; %y goes to the output.
        #expect(plan.arenaBytes == 2048, "arena \(plan.arenaBytes)")
        #expect(plan.inPlaceCount == 2)
        #expect(plan.homes[1] == .arena(offset: plan.homes[3].flatMap { if case let .arena(offset) = $0 { return offset } else { return nil } } ?? -1))
        #expect(plan.homes[4] == .view(of: ValueID(3)))
        #expect(plan.homes[7] == .output(0))
        if case let .arena(first) = plan.homes[3], case let .arena(second) = plan.homes[5] {
            #expect(first != second)
        } else {
            Issue.record("expected arena homes, found \(String(describing: plan.homes[3])) and \(String(describing: plan.homes[5]))")
        }
    }

    @Test("the runtime embedded in the compiler is the one under Sources/CSieveRuntime")
    func runtimeCopyIsCurrent() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let header = try String(contentsOf: root.appendingPathComponent("Sources/CSieveRuntime/include/sieve_runtime.h"), encoding: .utf8)
        let source = try String(contentsOf: root.appendingPathComponent("Sources/CSieveRuntime/sieve_runtime.c"), encoding: .utf8)
        #expect(runtimeHeaderSource + "\n" == header, "run scripts/generate-runtime-source.sh")
        #expect(runtimeSource + "\n" == source, "run scripts/generate-runtime-source.sh")
    }

    /// The runtime's LLVM IR that `--backend llvm` links must come from the runtime's current sources.
    @Test("the runtime's LLVM IR in the compiler is generated from Sources/CSieveRuntime",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/clang-19"),
                   "clang-19 is not installed (apt-get install clang-19); only scripts/generate-runtime-llvm.sh needs it"))
    func runtimeIRIsCurrent() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let regenerated = folder.url.appendingPathComponent("RuntimeIR.swift")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [root.appendingPathComponent("scripts/generate-runtime-llvm.sh").path, regenerated.path]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let committed = try String(contentsOf: root.appendingPathComponent("Sources/SieveCodegenLLVM/generated/RuntimeIR.swift"), encoding: .utf8)
        #expect(try String(contentsOf: regenerated, encoding: .utf8) == committed, "run scripts/generate-runtime-llvm.sh")
    }

    @Test("sieve compile --print-kernel-ir dumps the program; lowering output passes the verifier")
    func printKernelIR() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (_, compiled) = try contractGraphs()
        let result = try runCompile(CompileRequest(text: compiled.print(), path: "mlp.sir",
                                                   outputDirectory: folder.url.appendingPathComponent("out").path,
                                                   extraFlags: ["-Werror"], printKernelIR: true))
        #expect(result.dumps.count == 1)
        let dump = result.dumps.first ?? ""
        #expect(dump.hasPrefix("// -----// Kernel IR //----- //\nprogram @mlp {"))
        #expect(dump.contains("kernel @k0_fused_matmul {op = \"fused_matmul\""))
        #expect(dump.contains("nm_dot.2:4(values %b2"),
                "the 2:4 batch-1 layer (k = 64, shorter than a row-block chunk) runs one nm_dot per row")
        #expect(dump.contains("kernel @k2_softmax"))
        #expect(result.report.contains("arena: "))
    }

    @Test("a dense constant weight is stored once, packed in the panel order its kernel reads")
    func packedWeightsAreStoredOnce() throws {
        var graph = try parseGraph("""
            graph @g(%x: tensor<32x300xf32>, %x1: tensor<64xf32>) -> (tensor<32x96xf32>, tensor<80xf32>) {
              %w = const @w : tensor<300x96xf32>
              %y = matmul %x, %w : tensor<32x96xf32>
              %v = const @v : tensor<80x64xf32>
              %z = matmul %x1, %v {transpose_b = true} : tensor<80xf32>
              return %y, %z
            }
            const @w : tensor<300x96xf32> = splat<0.0>
            const @v : tensor<80x64xf32> = splat<0.0>
            """)
        randomizeConstants(&graph, seed: 5)
        let program = try lowerToKernels(graph, options: LoweringOptions(name: "g", vectorWidth: 16))
        func aligned(_ bytes: Int) -> Int { (bytes + 63) / 64 * 64 }
        #expect(program.weights.count == aligned(300 * 96 * 4) + aligned(80 * 64 * 4), "each weight once, no transposed copy")
        let patterns = program.kernels.map(\.pattern)
        #expect(patterns.contains { $0.contains("packed-panel register tile, panels of 32 columns, 8x32 tile, depth blocks of 256") })
        #expect(patterns.contains { $0.contains("activations packed into tiles of 8 rows") })
        #expect(patterns.contains { $0.contains("packed-panel stream, panels of 64 columns") })
        #expect(patterns.contains { $0.contains("the 16 tail columns of the packed weight") }, "80 = one panel of 64 + 16")

        // Element (k, j) of @w in panel p = j / 32 sits at p * 300 * 32 + k * 32 + j % 32; @v's (its [n][k] storage
        // read transposed) after it, with its 16 tail columns as a [k][16] block after the panel.
        func blobFloat(_ element: Int, base: Int = 0) -> Float {
            let at = base + element * 4
            return Float(bitPattern: UInt32(program.weights[at]) | UInt32(program.weights[at + 1]) << 8
                         | UInt32(program.weights[at + 2]) << 16 | UInt32(program.weights[at + 3]) << 24)
        }
        let w = try #require(graph.constants.entries.first { $0.name == "w" })
        let v = try #require(graph.constants.entries.first { $0.name == "v" })
        for (k, j) in [(0, 0), (1, 0), (0, 31), (0, 32), (299, 95), (17, 50)] {
            #expect(blobFloat((j / 32) * 300 * 32 + k * 32 + j % 32) == Float(w.element(at: k * 96 + j)), "@w[\(k)][\(j)]")
        }
        let vBase = aligned(300 * 96 * 4)
        for (k, j) in [(0, 0), (5, 63), (63, 10), (0, 64), (7, 79), (63, 70)] {
            let packedIndex = j < 64 ? k * 64 + j : 64 * 64 + k * 16 + (j - 64)
            #expect(blobFloat(packedIndex, base: vBase) == Float(v.element(at: j * 64 + k)), "@v[\(j)][\(k)]")
        }
    }

    @Test("a weight read by two products keeps one plain copy; the packing schedule per target")
    func sharedWeightIsNotPacked() throws {
        let graph = try parseGraph("""
            graph @g(%x: tensor<7x40xf32>, %x2: tensor<2x40xf32>) -> (tensor<7x24xf32>, tensor<2x24xf32>) {
              %w = const @w : tensor<24x40xf32>
              %y = matmul %x, %w {transpose_b = true} : tensor<7x24xf32>
              %z = matmul %x2, %w {transpose_b = true} : tensor<2x24xf32>
              return %y, %z
            }
            const @w : tensor<24x40xf32> = splat<1.0>
            """)
        let program = try lowerToKernels(graph, options: LoweringOptions(name: "g", vectorWidth: 16))
        #expect(program.weights.count == 24 * 40 * 4)
        #expect(program.kernels.allSatisfy { $0.pattern.contains("dot products along k") })

        let avx512 = denseProductSchedule(rows: 32, n: 4096, k: 4096, vectorWidth: 16, threads: 2)
        #expect(avx512 == DenseProductSchedule(variant: .registerTile, panelWidth: 32, rowTile: 8, depthBlock: 256, rowBlock: 32, prefetchDistance: 256 * 32))
        let avx2 = denseProductSchedule(rows: 32, n: 4096, k: 4096, vectorWidth: 8, threads: 2)
        #expect(avx2 == DenseProductSchedule(variant: .registerTile, panelWidth: 16, rowTile: 6, depthBlock: 256, rowBlock: 36, prefetchDistance: 256 * 16))
        #expect(denseProductSchedule(rows: 1, n: 4096, k: 4096, vectorWidth: 16, threads: 2)
                == DenseProductSchedule(variant: .streaming, panelWidth: 64, rowTile: 1, depthBlock: 4096, rowBlock: 1, prefetchDistance: 1024))
        // One panel and many rows: the rows are split so that every thread has a work item.
        #expect(denseProductSchedule(rows: 64, n: 32, k: 16, vectorWidth: 16, threads: 4)?.rowBlock == 16)
        #expect(denseProductSchedule(rows: 64, n: 8, k: 16, vectorWidth: 16, threads: 4) == nil, "fewer columns than a vector")
    }
}
