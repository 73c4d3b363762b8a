// The mutant cases of the fuzzing campaign and their in-process harness: seed files per format, one
// reproducible mutant per (campaign seed, format, index), and the verdict of the parser or importer on it.

import Foundation
import SieveDriver
import SieveFormats
import SieveIR
import SieveInterpreter
import SieveONNX
import SieveTestSupport

/// An input format the campaign mutates.
public enum FuzzFormat: String, CaseIterable, Sendable {
    case onnx, sir, kir, npy

    /// Mixed into a case's seed so that the formats' sequences differ.
    var salt: UInt64 {
        switch self {
        case .onnx: 0x6F6E6E78
        case .sir: 0x73697200
        case .kir: 0x6B697200
        case .npy: 0x6E707900
        }
    }
}

/// The seed files mutants are made from, per format.
public struct FuzzCorpus: Sendable {
    /// Seed files by format: a name (relative to the repository) and the bytes.
    public var seeds: [FuzzFormat: [(name: String, bytes: [UInt8])]]
    /// By format, the indices of the seeds the harness accepts unmutated (most .kir and many .sir seeds are files
    /// the parser or verifier must refuse).
    public var accepted: [FuzzFormat: [Int]] = [:]

    /// The repository's own files: the example models, every `.sir` and `.kir` file under IR/, and the example
    /// and fixture `.npy` files.
    /// `accepted` is found for `checking` only (a worker runs one format).
    public static func load(repository: URL, checking: [FuzzFormat] = FuzzFormat.allCases) throws -> FuzzCorpus {
        var seeds: [FuzzFormat: [(String, [UInt8])]] = [:]
        let folders = ["Examples/models", "IR", "Tests/SieveFormatsTests/Fixtures"]
        for folder in folders {
            let root = repository.appendingPathComponent(folder)
            let walker = FileManager.default.enumerator(atPath: root.path)
            while let path = walker?.nextObject() as? String {
                guard let format = FuzzFormat(rawValue: (path as NSString).pathExtension) else { continue }
                let bytes = try [UInt8](Data(contentsOf: root.appendingPathComponent(path)))
                seeds[format, default: []].append(("\(folder)/\(path)", bytes))
            }
        }
        for format in FuzzFormat.allCases {
            seeds[format]?.sort { $0.0 < $1.0 }
            guard seeds[format]?.isEmpty == false else { throw FuzzError("no .\(format.rawValue) seed files under \(repository.path)") }
        }
        var corpus = FuzzCorpus(seeds: seeds)
        let dataFolder = FileManager.default.temporaryDirectory.path
        for format in checking {
            let files = seeds[format] ?? []
            corpus.accepted[format] = files.indices.filter { index in
                let unmutated = FuzzCase(format: format, index: -1, seedName: files[index].0, structural: false, bytes: files[index].1)
                if case .accepted = FuzzHarness.run(unmutated, dataFolder: dataFolder) { return true }
                return false
            }
        }
        return corpus
    }
}

/// One mutant: where it came from and its bytes.
public struct FuzzCase: Sendable {
    /// The format it is parsed as.
    public var format: FuzzFormat
    /// Its index in the campaign; with the campaign seed it reproduces the case.
    public var index: Int
    /// The seed file it was made from.
    public var seedName: String
    /// Whether the structure-aware mutator made it (else the byte mutator).
    public var structural: Bool
    /// The mutant.
    public var bytes: [UInt8]

    /// Case `index` of a campaign: deterministic in (campaign seed, format, index), so a worker and its supervisor
    /// make the same bytes without passing them around, and a report's case reproduces from its numbers.
    public static func make(_ format: FuzzFormat, index: Int, campaignSeed: UInt64, corpus: FuzzCorpus) -> FuzzCase {
        var random = SplitMix64(seed: campaignSeed &* 0x9E37_79B9_7F4A_7C15 ^ format.salt ^ (UInt64(index) &* 0xD1B5_4A32_D192_ED03))
        _ = random.next()
        let seeds = corpus.seeds[format] ?? [], accepted = corpus.accepted[format] ?? []
        // Half the mutants start from a seed the tools accept as it is, so that some get past the parser and verifier
        // to the deeper paths; the other half from any seed, the files that must be refused included.
        let pick = !accepted.isEmpty && random.below(2) == 0 ? accepted[random.below(accepted.count)] : random.below(max(1, seeds.count))
        let seed = seeds.isEmpty ? ("none", [UInt8]()) : seeds[pick]
        // Half of the ONNX and .npy mutants are structural; the text formats are mutated as bytes (the byte
        // mutator knows their syntax characters and numbers).
        if random.below(2) == 0 {
            let structural: [UInt8]? = switch format {
            case .onnx: ONNXMutator.mutate(seed.1, &random)
            case .npy: NumPyMutator.mutate(seed.1, &random)
            case .sir, .kir: nil
            }
            if let structural { return FuzzCase(format: format, index: index, seedName: seed.0, structural: true, bytes: structural) }
        }
        return FuzzCase(format: format, index: index, seedName: seed.0, structural: false, bytes: ByteMutator.mutate(seed.1, &random))
    }
}

/// What the parser or importer made of a case.
public enum FuzzVerdict: Sendable, Equatable {
    /// Accepted: a graph that verifies, a module, a tensor.
    case accepted
    /// Refused with diagnostics.
    case refused
    /// Neither: an error without a diagnostic, an accepted graph the verifier refuses, and the like.
    case misbehaved(String)
}

/// The in-process harness: runs the importer or parser a format goes through, as the CLI would.
public enum FuzzHarness {
    /// Largest graph (sum of value sizes) an accepted ONNX mutant is interpreted at.
    public static let interpretLimit = 1 << 20

    /// Makes the folder external data of mutants resolves against: the files `ONNXMutator.dataFiles` names.
    public static func makeDataFolder(_ folder: URL) throws {
        for file in ONNXMutator.dataFiles {
            let url = folder.appendingPathComponent(file.name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data((0..<file.bytes).map { UInt8(truncatingIfNeeded: $0 &* 37) }).write(to: url)
        }
    }

    /// The verdict on one case; `dataFolder` is where an ONNX mutant's external data is looked for.
    public static func run(_ fuzzCase: FuzzCase, dataFolder: String) -> FuzzVerdict {
        do {
            switch fuzzCase.format {
            case .onnx:
                let result = try ONNXImporter.importModel(data: Data(fuzzCase.bytes), modelName: "mutant.onnx", baseDirectory: dataFolder)
                let problems = Verifier.diagnostics(for: result.graph)
                if !problems.isEmpty { return .misbehaved("imported a graph the verifier refuses: \(problems[0].message)") }
                interpret(result.graph)
            case .sir, .kir:
                let text = String(decoding: fuzzCase.bytes, as: UTF8.self)
                let pipeline = fuzzCase.format == .sir ? "canonicalize,cse,dce" : ""
                _ = try runOpt(OptRequest(text: text, path: "mutant.\(fuzzCase.format.rawValue)", pipeline: pipeline))
            case .npy:
                _ = try NumPyFile.decode(fuzzCase.bytes, source: "mutant.npy")
            }
            return .accepted
        } catch {
            if error.diagnostics.isEmpty { return .misbehaved("an error without a diagnostic") }
            if error.diagnostics.contains(where: { $0.message.isEmpty }) { return .misbehaved("a diagnostic with an empty message") }
            if !error.diagnostics.contains(where: { $0.severity == .error }) { return .misbehaved("refused with notes or warnings only") }
            return .refused
        }
    }

    /// Runs an accepted graph on small deterministic inputs when it is small enough: a valid graph must not crash
    /// the interpreter either (its errors, such as an out-of-range gather index, are fine).
    static func interpret(_ graph: Graph) {
        let size = graph.values.reduce(0) { $0 + ($1.type.elementCount ?? interpretLimit) }
        guard size <= interpretLimit else { return }
        var random = SplitMix64(seed: 1)
        let inputs = graph.inputs.map { randomTensor(graph.values[$0.index].type, using: &random) }
        _ = try? Interpreter(graph: graph).run(inputs)
    }
}
