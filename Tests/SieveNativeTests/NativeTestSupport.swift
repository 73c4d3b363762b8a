// Test support for the native backend: compile graphs to artifacts, load them with dlopen, run them,
// merge many small graphs into one artifact (so the C compiler runs once per test), and make N:M weights.

import Foundation
import SieveCodegenC
import SieveDriver
import SieveIR
import SieveInterpreter
import SieveKernel
import SieveTarget
import SieveFuzz
import SieveTestSupport

/// A failure inside test support, with a message.
struct NativeTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A fresh temporary folder, removed by `remove()`.
struct TemporaryFolder {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-native-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// A compiled artifact loaded through the driver's `NativeArtifact`, with the graph it came from.
final class LoadedArtifact {
    let native: NativeArtifact
    let name: String
    let folder: URL
    let graph: Graph

    init(folder: URL, name: String, graph: Graph) throws {
        native = try NativeArtifact(library: folder.appendingPathComponent("lib\(name).so").path, name: name)
        self.name = name
        self.folder = folder
        self.graph = graph
    }

    /// Wraps a model the JIT compiled into this process (`folder` is where nothing was written).
    init(jit native: NativeArtifact, folder: URL, graph: Graph) {
        self.native = native
        self.name = native.name
        self.folder = folder
        self.graph = graph
    }

    /// A symbol of the artifact cast to a function type.
    func function<T>(_ suffix: String, _ type: T.Type) -> T? { native.symbol(suffix, as: type) }

    /// `NAME_create(threads)`, nil where it returns NULL.
    func create(_ threads: Int32) -> OpaquePointer? { try? native.createContext(threads: Int(threads)) }

    /// `NAME_destroy(context)`.
    func destroy(_ context: OpaquePointer) { native.destroyContext(context) }

    /// Runs on a context and decodes the outputs; returns the status code and outputs.
    func execute(_ context: OpaquePointer, _ inputs: [Tensor]) throws -> (Int32, [Tensor]) {
        try native.execute(on: context, inputs)
    }

    /// Creates a context with `threads` threads, runs once and destroys it.
    func runOnce(_ inputs: [Tensor], threads: Int32 = 1) throws -> [Tensor] {
        try native.run(inputs, threads: Int(threads))
    }
}

/// How a test turns a graph into code it runs.
enum TestBackend: String, CaseIterable, Sendable {
    /// The C backend, compiled with cc -Werror into libNAME.so and loaded with dlopen.
    case c
    /// The LLVM backend's in-process JIT (no file, no C compiler).
    case jit
    /// The LLVM backend's object path (`--backend llvm`): NAME.o, libNAME.a and libNAME.so built without cc.
    case llvm
}

/// Compiles a graph into a fresh folder with -Werror and loads it, or compiles it in process with the JIT.
func compileAndLoad(_ graph: Graph, name: String = "model", target: TargetDescription = .native,
                    weights: WeightsPlacement = .embedded, parallelThreshold: Int = 1, backend: TestBackend = .c,
                    folder: TemporaryFolder) throws -> LoadedArtifact {
    if backend == .jit {
        let program = try lowerToKernels(graph, options: LoweringOptions(name: name, vectorWidth: target.f32Lanes,
                                                                         parallelThreshold: parallelThreshold))
        return LoadedArtifact(jit: try NativeArtifact(jit: program, target: target), folder: folder.url, graph: graph)
    }
    let output = folder.url.appendingPathComponent("\(name)-\(target.name)-\(weights.rawValue)-\(backend.rawValue)")
    var request = ArtifactRequest(
        graph: graph, name: name, outputDirectory: output.path, target: target, weights: weights,
        sourceDescription: "test graph @\(graph.name)", compiler: "cc", extraFlags: ["-Werror"],
        parallelThreshold: parallelThreshold)
    request.backend = backend == .llvm ? .llvm : .c
    _ = try ArtifactWriter.write(request)
    return try LoadedArtifact(folder: output, name: name, graph: graph)
}

/// Joins independent graphs into one, so many small cases compile into one artifact.
func merge(_ graphs: [Graph], name: String) -> Graph { Graph.sideBySide(graphs, name: name) }

/// The suite's seeded generator, under the name these tests use.
typealias SplitMix = SplitMix64

/// Parses a one-graph text.
func parseGraph(_ text: String) throws -> Graph {
    let module = try Parser.parse(text, path: "test.sir")
    guard let graph = module.graphs.first else { throw NativeTestError("no graph in text") }
    return graph
}
