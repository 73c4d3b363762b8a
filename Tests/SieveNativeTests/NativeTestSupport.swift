// Test support for the native backend: compile graphs to artifacts, load them with dlopen, run them,
// merge many small graphs into one artifact (so the C compiler runs once per test), and make N:M weights.

import Foundation
import SieveCodegenC
import SieveDriver
import SieveIR
import SieveInterpreter
import SieveKernel
import SieveTarget
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

/// Compiles a graph into a fresh folder with -Werror and loads it.
func compileAndLoad(_ graph: Graph, name: String = "model", target: TargetDescription = .native,
                    weights: WeightsPlacement = .embedded, parallelThreshold: Int = 1, folder: TemporaryFolder) throws -> LoadedArtifact {
    let output = folder.url.appendingPathComponent("\(name)-\(target.name)-\(weights.rawValue)")
    _ = try ArtifactWriter.write(ArtifactRequest(
        graph: graph, name: name, outputDirectory: output.path, target: target, weights: weights,
        sourceDescription: "test graph @\(graph.name)", compiler: "cc", extraFlags: ["-Werror"],
        parallelThreshold: parallelThreshold))
    return try LoadedArtifact(folder: output, name: name, graph: graph)
}

/// Joins independent graphs into one, so many small cases compile into one artifact.
func merge(_ graphs: [Graph], name: String) -> Graph { Graph.sideBySide(graphs, name: name) }

/// A random tensor of a type: floats in [-2, 2], integers in a small range, bools 0 or 1.
func randomTensor(_ type: TensorType, using random: inout SplitMix) -> Tensor {
    let count = type.elementCount ?? 0
    let plain = type.plain
    if type.elementType.isFloat {
        return (try? Tensor(plain, floats: (0..<count).map { _ in Float(random.unit() * 4 - 2) })) ?? emptyTensor()
    }
    let range: ClosedRange<Int64>
    switch type.elementType {
    case .bool: range = 0...1
    case .u8: range = 0...12
    default: range = -6...6
    }
    return (try? Tensor(plain, integers: (0..<count).map { _ in Int64(random.next() % UInt64(range.count)) + range.lowerBound })) ?? emptyTensor()
}

func emptyTensor() -> Tensor {
    (try? Tensor(TensorType([0], .f32), floats: [])) ?? Tensor.placeholder
}

extension Tensor {
    /// A zero-element f32 tensor.
    static var placeholder: Tensor {
        // Building a zero-element tensor cannot fail; this path exists only to avoid force unwraps.
        guard let tensor = try? Tensor(TensorType([0], .f32), floats: []) else { preconditionFailure("empty tensor") }
        return tensor
    }
}

/// The suite's seeded generator, under the name these tests use.
typealias SplitMix = SplitMix64

/// Replaces the bytes of every dense constant with random values of its type (deterministic per seed).
func randomizeConstants(_ graph: inout Graph, seed: UInt64) {
    var random = SplitMix(seed: seed)
    for index in graph.constants.entries.indices where graph.constants.entries[index].type.layout == .dense {
        let type = graph.constants.entries[index].type
        if type.elementType == .i32 || type.elementType == .i64, graph.constants.entries[index].name.hasPrefix("keep") { continue }
        graph.constants.entries[index].bytes = randomTensor(type, using: &random).constant(name: "c").bytes
    }
}

/// Prunes a dense [rows, L] float weight to N:M along its last axis (keeping the N largest magnitudes of each
/// group of M) and returns the pruned dense values and the packed nm bytes (kept values, then indices).
func pruneAndPack(_ values: [Float], lastAxis: Int, n: Int, m: Int, elementType: ElementType) -> (dense: [Float], packed: [UInt8]) {
    var dense = [Float](repeating: 0, count: values.count)
    var kept: [Float] = []
    var indices: [Int] = []
    for group in 0..<(values.count / m) {
        let base = group * m
        let order = (0..<m).sorted { abs(values[base + $0]) > abs(values[base + $1]) || (abs(values[base + $0]) == abs(values[base + $1]) && $0 < $1) }
        for slot in order.prefix(n).sorted() {
            dense[base + slot] = values[base + slot]
            kept.append(values[base + slot])
            indices.append(slot)
        }
    }
    var bytes: [UInt8] = []
    for value in kept { appendElement(Double(value), of: elementType, to: &bytes) }
    let bits = m.trailingZeroBitCount
    var packed = [UInt8](repeating: 0, count: (indices.count * bits + 7) / 8)
    for (element, index) in indices.enumerated() {
        for bit in 0..<bits where (index >> bit) & 1 == 1 {
            let position = element * bits + bit
            packed[position / 8] |= UInt8(1 << (position % 8))
        }
    }
    return (dense, bytes + packed)
}

/// Keeps the N largest magnitudes of every group of M along each row of an [O, I] matrix; a last group
/// of w < M real positions keeps min(N, w).
func prunePaddedRows(_ values: [Float], matrix: NMMatrixShape, n: Int, m: Int) -> [Float] {
    var dense = [Float](repeating: 0, count: values.count)
    for row in 0..<matrix.rows {
        for start in stride(from: 0, to: matrix.reduction, by: m) {
            let base = row * matrix.reduction + start
            let width = min(m, matrix.reduction - start)
            let order = (0..<width).sorted { abs(values[base + $0]) > abs(values[base + $1]) || (abs(values[base + $0]) == abs(values[base + $1]) && $0 < $1) }
            for slot in order.prefix(n) { dense[base + slot] = values[base + slot] }
        }
    }
    return dense
}

/// Turns the constants named in `nm` into N:M weights: returns the graph for the interpreter (pruned, dense)
/// and the graph to compile (nm layout, packed bytes).
func makeNMPair(_ graph: Graph, nm: [String: (n: Int, m: Int)]) throws -> (reference: Graph, compiled: Graph) {
    var reference = graph, compiled = graph
    for index in graph.constants.entries.indices {
        let constant = graph.constants.entries[index]
        guard let (n, m) = nm[constant.name] else { continue }
        let original = try Tensor(constant)
        guard let floats = original.floats, let last = constant.type.shape.last,
              let matrix = NMMatrixShape(constant.type.shape) else { throw NativeTestError("nm weight must be float of rank 2 or 4") }
        var nmType = constant.type
        nmType.layout = .nm(n: n, m: m)
        if matrix.reduction % m == 0 {
            let (dense, packed) = pruneAndPack(floats, lastAxis: last, n: n, m: m, elementType: constant.type.elementType)
            reference.constants.entries[index].bytes = try Tensor(constant.type.plain, floats: dense).constant(name: "c").bytes
            compiled.constants.entries[index] = Constant(name: constant.name, type: nmType, bytes: packed)
        } else {
            // A padded reduction: prune each row's groups (the last one short), then pack with NMPacking.
            let dense = prunePaddedRows(floats, matrix: matrix, n: n, m: m)
            let denseConstant = try Tensor(constant.type.plain, floats: dense).constant(name: constant.name)
            reference.constants.entries[index].bytes = denseConstant.bytes
            compiled.constants.entries[index] = try NMPacking.pack(denseConstant, pattern: NMPattern(n: n, m: m))
        }
        for valueIndex in compiled.values.indices {
            if case let .constant(id) = compiled.operations.first(where: { $0.results.first?.index == valueIndex })?.kind, id.index == index {
                compiled.values[valueIndex].type = nmType
            }
        }
    }
    try Verifier.verify(reference, checks: Verifier.targetChecks)
    try Verifier.verify(compiled, checks: Verifier.targetChecks)
    return (reference, compiled)
}

/// Parses a one-graph text.
func parseGraph(_ text: String) throws -> Graph {
    let module = try Parser.parse(text, path: "test.sir")
    guard let graph = module.graphs.first else { throw NativeTestError("no graph in text") }
    return graph
}

/// Compares compiled outputs with the interpreter's: integers and bools exactly, floats within tolerances.
func compareOutputs(_ actual: [Tensor], _ expected: [Tensor], rtol: Double, atol: Double, label: String) -> [String] {
    var problems: [String] = []
    for (index, (a, e)) in zip(actual, expected).enumerated() {
        if e.elementType.isFloat {
            if !a.allClose(e, rtol: rtol, atol: atol) {
                problems.append("\(label) output \(index): max difference \(a.maxAbsDifference(e) ?? .infinity)\n  got      \(a)\n  expected \(e)")
            }
        } else if a.integers != e.integers {
            problems.append("\(label) output \(index) differs\n  got      \(a)\n  expected \(e)")
        }
    }
    if actual.count != expected.count { problems.append("\(label): \(actual.count) outputs, expected \(expected.count)") }
    return problems
}
