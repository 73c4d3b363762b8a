// Calibration inputs: .npy/.npz files, a folder of them, or tensors in memory, streamed as batches
// shaped like the graph's inputs so that thousands of samples never sit in memory at once.

import Foundation
import SieveIR

/// Samples to run a graph on for calibration, read lazily and cut into batches of constants (a
/// tensor type and its little-endian bytes; the interpreter's `Tensor(constant)` decodes them).
///
/// Samples are stacked along each input's first (batch) axis. A `.npz` file holds one member per
/// graph input, named like the input; a graph with one input also accepts a bare `.npy` (or a
/// `.npz` with a single member of any name). A folder contributes its `.npy`/`.npz` files in name
/// order. A file tensor may hold several samples (`[S, ...]`, where `...` is the input's shape
/// after the batch axis) or one sample without the batch axis. Integer samples are converted to the
/// input's integer type when they fit (int32 token ids for an int64 input). When the graph has an
/// input whose name contains "mask", samples shorter than an input along the axis after the batch
/// axis (sequences) are padded at the end with zeros, in every input, so the mask (0 there) marks the
/// padding; files may then hold sequences of different lengths.
///
/// The graph's inputs have static shapes, so a batch holds exactly as many samples as the first
/// axis of the inputs; samples left over at the end (fewer than one batch) are not run, and
/// `CalibrationSummary.droppedSamples` says how many.
public struct CalibrationSet: Sendable {
    enum Source: Sendable {
        case files([String])
        case tensors([String: Constant])
    }

    let source: Source
    /// Where the samples came from, for reports: a path or "in-memory tensors".
    public let origin: String
    /// Called after every batch with what has been run so far, for a progress display.
    public var progress: (@Sendable (CalibrationProgress) -> Void)?

    /// Calibration from a `.npy`/`.npz` file or a folder of them.
    public static func load(path: String) throws(DiagnosticError) -> CalibrationSet {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw calibrationError("calibration path '\(path)' does not exist")
        }
        if !isDirectory.boolValue {
            guard path.hasSuffix(".npy") || path.hasSuffix(".npz") else {
                throw calibrationError("calibration file '\(path)' must be a .npy or .npz file")
            }
            return CalibrationSet(source: .files([path]), origin: path)
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
            .filter { $0.hasSuffix(".npy") || $0.hasSuffix(".npz") }.sorted()
        guard !names.isEmpty else {
            throw calibrationError("calibration folder '\(path)' holds no .npy or .npz files")
        }
        return CalibrationSet(source: .files(names.map { path + "/" + $0 }), origin: path)
    }

    /// Calibration from tensors in memory, keyed by graph input name, samples along the first axis;
    /// `origin` says where they came from in reports.
    public init(samples: [String: Constant], origin: String = "in-memory tensors") {
        self.init(source: .tensors(samples), origin: origin)
    }

    init(source: Source, origin: String) {
        self.source = source
        self.origin = origin
    }

    /// The name a graph input is matched by: its value name, or `%N`.
    public static func inputName(_ graph: Graph, _ input: ValueID) -> String {
        graph.values.indices.contains(input.index) ? graph.values[input.index].name ?? "%\(input.index)" : "%\(input.index)"
    }

    /// Calls `body` with one batch at a time, one tensor per graph input in signature order.
    ///
    /// - Parameters:
    ///   - graph: the graph whose input types shape the batches.
    ///   - maxSamples: stop after this many samples (whole batches only); nil for all.
    /// - Returns: how many samples were run and how many were left over.
    @discardableResult
    public func forEachBatch(for graph: Graph, maxSamples: Int? = nil, stage: String = "calibration",
                             _ body: ([Constant]) throws -> Void) throws -> CalibrationSummary {
        let types = graph.inputs.map { graph.type(of: $0) ?? TensorType([], .f32) }
        guard !types.isEmpty else { throw calibrationError("graph @\(graph.name) has no inputs to calibrate") }
        guard let batch = types.first?.shape.first, batch > 0,
              types.allSatisfy({ $0.rank >= 1 && $0.shape[0] == batch }) else {
            let shapes = types.map { "\($0.plain)" }.joined(separator: ", ")
            throw calibrationError("calibration needs every graph input to have the same leading batch axis, found \(shapes)")
        }
        let names = graph.inputs.map { CalibrationSet.inputName(graph, $0) }
        // Shorter sequences are padded only when a mask input can say which positions are padding.
        let masked = names.contains { $0.lowercased().contains("mask") }
        var pending: [[Constant]] = Array(repeating: [], count: types.count)
        var pendingCount = 0
        var summary = CalibrationSummary()
        let limit = maxSamples.map { max(0, $0) / batch * batch }

        func drain() throws {
            while pendingCount >= batch {
                if let limit, summary.samples >= limit { return }
                var inputs: [Constant] = []
                var rest: [[Constant]] = []
                for index in types.indices {
                    let joined = try stackSamples(pending[index], type: types[index])
                    inputs.append(try sampleRows(joined, start: 0, count: batch, type: types[index]))
                    let remaining = joined.type.shape[0] - batch
                    rest.append(remaining > 0 ? [try sampleRows(joined, start: batch, count: remaining, type: types[index])] : [])
                }
                pending = rest
                pendingCount -= batch
                try body(inputs)
                summary.samples += batch
                summary.batches += 1
                progress?(CalibrationProgress(stage: stage, samples: summary.samples, limit: limit))
            }
        }
        func add(_ tensors: [Constant], from where: String) throws {
            var count: Int?
            for (index, given) in tensors.enumerated() {
                let converted = try convertedIntegers(given, to: types[index].elementType, name: names[index], source: `where`)
                let tensor = try paddedSequences(converted, type: types[index], name: names[index], masked: masked, source: `where`)
                let samples = try sampleCount(tensor, type: types[index], name: names[index], source: `where`)
                if let count, count != samples {
                    throw calibrationError("\(`where`): input '\(names[index])' holds \(samples) samples but '\(names[0])' holds \(count); every input needs the same number")
                }
                count = samples
                let dense = try denseSamples(tensor, source: `where`)
                let shaped = dense.type.rank == types[index].rank ? dense
                    : Constant(name: dense.name, type: TensorType([1] + dense.type.shape, dense.type.elementType), bytes: dense.bytes)
                pending[index].append(shaped)
            }
            pendingCount += count ?? 0
            try drain()
        }

        switch source {
        case let .tensors(samples):
            try add(try names.map { name throws(DiagnosticError) -> Constant in
                if let tensor = samples[name] { return tensor }
                if names.count == 1, samples.count == 1, let only = samples.values.first { return only }
                throw calibrationError("calibration tensors have no entry for input '\(name)'; given: \(samples.keys.sorted().joined(separator: ", "))")
            }, from: origin)
        case let .files(paths):
            for path in paths {
                if let limit, summary.samples >= limit { break }
                try add(try readFile(path, names: names), from: path)
            }
        }
        summary.droppedSamples = pendingCount
        return summary
    }

    /// The tensors of one file, in graph input order.
    private func readFile(_ path: String, names: [String]) throws -> [Constant] {
        if path.hasSuffix(".npy") {
            guard names.count == 1 else {
                throw calibrationError("\(path): a bare .npy file can only feed a graph with one input; this graph has \(names.count) (\(names.joined(separator: ", "))), use a .npz with one member per input")
            }
            return [try NumPyFile.read(path: path)]
        }
        let members = try NumPyFile.readArchive(path: path)
        let byName = Dictionary(members.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        return try names.map { name throws(DiagnosticError) -> Constant in
            if let tensor = byName[name] { return tensor }
            if names.count == 1, members.count == 1 { return members[0] }
            throw calibrationError("\(path): no member '\(name)' for graph input '\(name)'; members: \(members.map(\.name).joined(separator: ", "))")
        }
    }
}

/// Where a pass over calibration data stands, for progress displays.
public struct CalibrationProgress: Hashable, Sendable {
    /// What the samples are being run for ("statistics for fc1", "sensitivity", ...).
    public var stage: String
    /// Samples run so far.
    public var samples: Int
    /// The sample limit of this pass, when there is one.
    public var limit: Int?
}

/// How much calibration data a pass over a `CalibrationSet` used.
public struct CalibrationSummary: Hashable, Sendable {
    /// Samples run through the graph.
    public var samples = 0
    /// Batches run.
    public var batches = 0
    /// Samples left over after the last whole batch, not run.
    public var droppedSamples = 0

    /// Makes an empty summary.
    public init() {}
}

/// How many samples a file tensor holds for an input of `type`, or an error saying what shape was expected.
private func sampleCount(_ tensor: Constant, type: TensorType, name: String, source: String) throws(DiagnosticError) -> Int {
    let sampleShape = Array(type.shape.dropFirst())
    let shape = tensor.type.shape
    guard tensor.type.elementType == type.elementType else {
        throw calibrationError("\(source): input '\(name)' must hold \(type.elementType) samples, found \(tensor.type.elementType)")
    }
    if shape.count == type.rank, Array(shape.dropFirst()) == sampleShape { return shape[0] }
    if shape == sampleShape { return 1 }
    throw calibrationError("\(source): input '\(name)' needs samples of shape [S, \(sampleShape.map(String.init).joined(separator: ", "))] (graph input \(type.plain)), found \(shape)")
}

/// An integer tensor in the input's integer type (token ids saved as int32 for an int64 input, say),
/// checked to fit; any other tensor as it is.
private func convertedIntegers(_ tensor: Constant, to elementType: ElementType, name: String,
                               source: String) throws(DiagnosticError) -> Constant {
    let from = tensor.type.elementType
    guard from != elementType, from.isInteger, elementType.isInteger, tensor.type.layout == .dense,
          let range = elementType.integerRange else { return tensor }
    let width = from.byteSize
    guard tensor.bytes.count % width == 0 else { return tensor }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(tensor.bytes.count / width * elementType.byteSize)
    for start in stride(from: 0, to: tensor.bytes.count, by: width) {
        var raw: UInt64 = 0
        for byte in 0..<width { raw |= UInt64(tensor.bytes[start + byte]) << (8 * UInt64(byte)) }
        let value: Int64
        switch from {
        case .i8: value = Int64(Int8(truncatingIfNeeded: raw))
        case .u8: value = Int64(raw)
        case .i32: value = Int64(Int32(truncatingIfNeeded: raw))
        default: value = Int64(bitPattern: raw)
        }
        guard range.contains(value) else {
            throw calibrationError("\(source): input '\(name)' is \(elementType), and the \(from) value \(value) does not fit it")
        }
        let stored = UInt64(bitPattern: value)
        for byte in 0..<elementType.byteSize { bytes.append(UInt8(truncatingIfNeeded: stored >> (8 * UInt64(byte)))) }
    }
    return Constant(name: tensor.name, type: TensorType(tensor.type.shape, elementType), bytes: bytes)
}

/// Samples shorter than the input along its sequence axis (the one after the batch axis), padded at
/// the end with zeros, when the graph has a mask input that marks the padding (`masked`); every other
/// tensor as it is (a graph without a mask input takes samples of its own shape only). A longer
/// sequence is an error, as cutting it would change what the model sees.
private func paddedSequences(_ tensor: Constant, type: TensorType, name: String, masked: Bool,
                             source: String) throws(DiagnosticError) -> Constant {
    guard masked, type.rank >= 2, tensor.type.layout == .dense, tensor.type.elementType == type.elementType else { return tensor }
    // With or without the batch axis.
    let batched = tensor.type.rank == type.rank
    guard batched || tensor.type.rank == type.rank - 1 else { return tensor }
    let shape = batched ? tensor.type.shape : [1] + tensor.type.shape
    let length = shape[1], wanted = type.shape[1]
    guard length != wanted, Array(shape.dropFirst(2)) == Array(type.shape.dropFirst(2)) else { return tensor }
    guard length < wanted else {
        throw calibrationError("\(source): input '\(name)' holds sequences of \(length), longer than the graph's \(wanted); shorten them or import the model with a longer sequence axis")
    }
    let inner = shape.dropFirst(2).reduce(1, *) * type.elementType.byteSize
    let given = length * inner, padded = wanted * inner
    guard tensor.bytes.count == shape[0] * given else { return tensor }
    var bytes = [UInt8](repeating: 0, count: shape[0] * padded)
    for sample in 0..<shape[0] {
        bytes.replaceSubrange((sample * padded)..<(sample * padded + given), with: tensor.bytes[(sample * given)..<((sample + 1) * given)])
    }
    let paddedShape = [shape[0], wanted] + Array(shape.dropFirst(2))
    return Constant(name: tensor.name, type: TensorType(batched ? paddedShape : Array(paddedShape.dropFirst()), type.elementType), bytes: bytes)
}

/// A sample tensor with dense row-major bytes under a plain type (an `nm` one is unpacked), checked
/// to hold as many bytes as its shape needs.
private func denseSamples(_ tensor: Constant, source: String) throws(DiagnosticError) -> Constant {
    let dense = tensor.type.layout == .dense ? tensor : try NMPacking.unpack(tensor)
    let type = TensorType(dense.type.shape, dense.type.elementType)
    guard let count = type.elementCount, dense.bytes.count == count * type.elementType.byteSize else {
        throw calibrationError("\(source): tensor '\(tensor.name)' holds \(dense.bytes.count) bytes, which does not fit its shape \(type.shape)")
    }
    return Constant(name: dense.name, type: type, bytes: dense.bytes)
}

/// Joins tensors along the first axis.
private func stackSamples(_ tensors: [Constant], type: TensorType) throws(DiagnosticError) -> Constant {
    if tensors.count == 1 { return tensors[0] }
    let count = tensors.reduce(0) { $0 + $1.type.shape[0] }
    let shape = [count] + Array(type.shape.dropFirst())
    return Constant(name: tensors.first?.name ?? "", type: TensorType(shape, type.elementType), bytes: tensors.flatMap(\.bytes))
}

/// Samples `start ..< start + count` of a tensor stacked along its first axis, under the input type
/// when `count` is the batch size.
private func sampleRows(_ tensor: Constant, start: Int, count: Int, type: TensorType) throws(DiagnosticError) -> Constant {
    let rowBytes = type.shape.dropFirst().reduce(1, *) * type.elementType.byteSize
    let range = (start * rowBytes)..<((start + count) * rowBytes)
    let shape = [count] + Array(type.shape.dropFirst())
    let resultType = count == type.shape[0] ? type : TensorType(shape, type.elementType)
    return Constant(name: tensor.name, type: resultType, bytes: Array(tensor.bytes[range]))
}

/// A calibration diagnostic without a location.
func calibrationError(_ message: String) -> DiagnosticError {
    DiagnosticError(.error(.unknown, message))
}
