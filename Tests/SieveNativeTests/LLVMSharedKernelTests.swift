// The LLVM backend's shared kernel bodies: kernels that differ only in their buffers call one body (KernelLLVMWriter's
// SharedKernelForm), and the object and JIT builds still give the C backend's results bit for bit.

import Foundation
import SieveDriver
import SieveFuzz
import SieveIR
import SieveInterpreter
import SieveTarget
import SieveTestSupport
import Testing

@Suite("LLVM shared kernel bodies")
struct LLVMSharedKernelTests {
    /// Three layers of one shape (a product of two activations, then tanh): the layers' kernels have one form each, and
    /// their parallel loops run as tasks of the shared body, which read the layer's buffers from the frame it passes.
    static let layers = """
        graph @layers(%x: tensor<32x64xf32>, %w: tensor<64x64xf32>) -> tensor<32x64xf32> {
          %a = matmul %x, %w : tensor<32x64xf32>
          %b = tanh %a : tensor<32x64xf32>
          %c = matmul %b, %w : tensor<32x64xf32>
          %d = tanh %c : tensor<32x64xf32>
          %e = matmul %d, %w : tensor<32x64xf32>
          %y = tanh %e : tensor<32x64xf32>
          return %y
        }
        """

    @Test("repeated layers share bodies in the LLVM module, and the object and JIT builds give C's bits")
    func repeatedLayersShareBodiesAndKeepCsBits() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let graph = try parseGraph(LLVMSharedKernelTests.layers)

        // The module as --emit llvm-ir writes it: the layers' kernels call shared bodies, whose tasks get a frame.
        let output = folder.url.appendingPathComponent("ir")
        var request = ArtifactRequest(graph: graph, name: "layers", outputDirectory: output.path, target: .native,
                                      sourceDescription: "test graph @layers", parallelThreshold: 1)
        request.backend = .llvm
        request.emitLLVMIR = true
        _ = try ArtifactWriter.write(request)
        let module = try String(contentsOf: output.appendingPathComponent("layers.ll"), encoding: .utf8)
        let bodies = module.split(separator: "\n").filter { $0.hasPrefix("define internal void @layers_") && $0.contains("_shared(ptr") }
        #expect(bodies.count >= 2, "no shared bodies in:\n\(module.prefix(4000))")
        #expect(module.contains("_shared_task0(ptr"), "the shared bodies have no tasks")
        #expect(module.contains("call void @sieve_llvm_pool_run(ptr %frame"), "a shared body does not pass its frame to the pool")
        // Every kernel keeps its own function, which calls the body with its buffers.
        for kernel in 0..<6 {
            #expect(module.contains("define internal void @layers_k\(kernel)_"), "kernel k\(kernel) has no function")
        }

        var random = SplitMix(seed: 5)
        let inputs = graph.inputs.map { randomTensor(graph.values[$0.index].type, using: &random) }
        let c = try compileAndLoad(graph, name: "layers", parallelThreshold: 1, folder: folder).runOnce(inputs, threads: 3)
        for backend in [TestBackend.llvm, .jit] {
            let results = try compileAndLoad(graph, name: "layers", parallelThreshold: 1, backend: backend, folder: folder)
                .runOnce(inputs, threads: 3)
            #expect(results.map { $0.constant(name: "r").bytes } == c.map { $0.constant(name: "r").bytes },
                    "\(backend): the outputs differ from the C backend's")
        }
    }
}
