// The fuzzing campaign in a seeded short run: mutants of the four formats through `sieve-fuzz` (workers under
// an address-space limit, onnx's checker, command-line samples), its supervisor catching a staged crash and hang,
// and mutants that reproduce from their numbers.

import Foundation
import SieveFuzz
import SieveTestSupport
import Testing

/// The `sieve-fuzz` binary SwiftPM built beside `sieve`.
func fuzzBinary() -> URL { sieveBinary().deletingLastPathComponent().appendingPathComponent("sieve-fuzz") }

/// Runs `sieve-fuzz` with arguments from the repository root.
func runFuzz(_ arguments: [String], timeout: Double) throws -> ChildOutcome {
    try runChild(fuzzBinary().path, arguments + ["--repository", repositoryRoot.path], timeout: timeout)
}

/// The cells of the summary table's row for `label` (`.onnx`, `all`), by column name.
func summaryRow(_ output: String, _ label: String) -> [String: Int] {
    let lines = output.split(separator: "\n")
    guard let header = lines.first(where: { $0.hasPrefix("| format |") }),
          let row = lines.first(where: { $0.hasPrefix("| \(label) |") }) else { return [:] }
    func cells(_ line: Substring) -> [String] { line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) } }
    var result: [String: Int] = [:]
    for (name, value) in zip(cells(header), cells(row)) { result[name] = Int(value) }
    return result
}

@Suite(.serialized) struct FuzzCampaignTests {
    /// 150 mutants per format, every 30th also through the command line under `ulimit -v`: nothing crashes, hangs
    /// or misbehaves, and every accepted ONNX mutant passes onnx's checker (when the Python environment exists).
    @Test func seededShortCampaignFindsNothing() throws {
        let outcome = try runFuzz(["mutants", "--count", "150", "--seed", "20261205", "--cli-every", "30"], timeout: 300)
        #expect(outcome.status == 0 && !outcome.crashed, "\(outcome.stdout)\n\(outcome.stderr)")
        let all = summaryRow(outcome.stdout, "all")
        #expect(all["cases"] == 600 && all["crashes"] == 0 && all["hangs"] == 0 && all["misbehaved"] == 0, "\(outcome.stdout)")
        #expect(all["CLI runs"] == 20 && all["CLI failures"] == 0, "\(outcome.stdout)")
        #expect(all["checker disagreements"] == 0, "\(outcome.stdout)")
        for format in FuzzFormat.allCases {
            let row = summaryRow(outcome.stdout, ".\(format.rawValue)")
            // Mutants must mostly break files, yet some must get through, or the campaign tests nothing deep.
            #expect((row["refused"] ?? 0) > 0 && (row["accepted"] ?? 0) > 0, ".\(format.rawValue): \(row)")
        }
        if outcome.stdout.contains("checker: not run") {
            print("FuzzCampaignTests: onnx's checker did not run (no .venv with onnx; run scripts/setup-python.sh)")
        } else {
            #expect((summaryRow(outcome.stdout, ".onnx")["checked"] ?? 0) > 0, "\(outcome.stdout)")
        }
    }

    /// A worker that dies and one that hangs are caught: each counted against its case, the case written to the
    /// findings folder, the campaign carrying on with the next case, and the exit status 1.
    @Test func supervisorCatchesACrashAndAHang() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let outcome = try runFuzz(["mutants", "--formats", "sir", "--count", "20", "--seed", "3", "--cli-every", "0", "--timeout", "2",
                                   "--inject", "crash@4,hang@11", "--findings", folder.path], timeout: 120)
        #expect(outcome.status == 1 && !outcome.crashed, "\(outcome.stdout)\n\(outcome.stderr)")
        let row = summaryRow(outcome.stdout, ".sir")
        #expect(row["cases"] == 20 && row["crashes"] == 1 && row["hangs"] == 1, "\(outcome.stdout)")
        #expect(outcome.stdout.contains(".sir case 4 (seed 3") && outcome.stdout.contains("the worker died"), "\(outcome.stdout)")
        #expect(outcome.stdout.contains(".sir case 11 (seed 3") && outcome.stdout.contains("took more than 2.0 s"), "\(outcome.stdout)")
        let written = (try? FileManager.default.contentsOfDirectory(atPath: folder.path))?.sorted() ?? []
        #expect(written == ["sir-3-11.sir", "sir-3-4.sir"], "\(written)")
    }

    /// A case is a function of (campaign seed, format, index): a finding reproduces from the numbers it prints.
    @Test func mutantsReproduceFromTheirNumbers() throws {
        let corpus = try FuzzCorpus.load(repository: repositoryRoot)
        for format in FuzzFormat.allCases {
            var structural = 0
            for index in 0..<40 {
                let first = FuzzCase.make(format, index: index, campaignSeed: 9, corpus: corpus)
                let again = FuzzCase.make(format, index: index, campaignSeed: 9, corpus: corpus)
                #expect(first.bytes == again.bytes && first.seedName == again.seedName, ".\(format.rawValue) case \(index)")
                if first.structural { structural += 1 }
            }
            let other = FuzzCase.make(format, index: 0, campaignSeed: 10, corpus: corpus)
            #expect(other.bytes != FuzzCase.make(format, index: 0, campaignSeed: 9, corpus: corpus).bytes, ".\(format.rawValue)")
            // ONNX and .npy mutants are structural about half the time; the text formats are mutated as bytes.
            #expect(format == .onnx || format == .npy ? structural > 5 : structural == 0, ".\(format.rawValue): \(structural) structural")
        }
    }
}
