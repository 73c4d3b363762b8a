// The SwiftPM build plugin from outside: a fresh package (Examples/swiftpm-plugin, copied out of the repository and
// depending on Sieve by path) compiles its model through the plugin and runs it; a change to the model or to
// sieve.json rebuilds it, a build without changes does nothing (no compile, no link, no sieve run).

import Foundation
import Testing

@Suite(.serialized) struct PluginExampleTests {
    /// The package and its build folder, outside the repository. The build folder is kept from run to run, so that
    /// only a run after a change to Sieve compiles Sieve (again, what changed); the package is written afresh each
    /// run, but for the files that already hold the right bytes (`makePackage`).
    static let root = FileManager.default.temporaryDirectory
        .appendingPathComponent("sieve-plugin-example" + repositoryRoot.path.replacingOccurrences(of: "/", with: "_"))
    static let example = repositoryRoot.appendingPathComponent("Examples/swiftpm-plugin")

    /// Copies the example into `package`, with Sieve and the calibration data at their absolute paths. A file that
    /// already holds those bytes is left alone: an untouched manifest keeps SwiftPM's build plan, and planning again
    /// costs a relink of the plugin's tool (see `aFreshPackageCompilesItsModelThroughThePlugin`). sieve.json is
    /// written in any case, so the first build compiles the model whatever an earlier run left.
    static func makePackage(_ package: URL) throws {
        let manager = FileManager.default
        for folder in ["Sources/Digits", "Sources/DigitsModel"] {
            try manager.createDirectory(at: package.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        // Only the example's files: anything else in the package's folders would change its plan.
        for folder in ["", "Sources", "Sources/Digits", "Sources/DigitsModel"] {
            let expected: Set<String> = ["": ["Package.swift", "Package.resolved", "Sources"], "Sources": ["Digits", "DigitsModel"],
                                         "Sources/Digits": ["main.swift"],
                                         "Sources/DigitsModel": ["DigitsModel.swift", "mlp.onnx", "sieve.json"]][folder] ?? []
            for name in try manager.contentsOfDirectory(atPath: package.appendingPathComponent(folder).path) where !expected.contains(name) {
                try manager.removeItem(at: package.appendingPathComponent(folder).appendingPathComponent(name))
            }
        }
        func write(_ bytes: Data, to file: String, always: Bool = false) throws {
            let url = package.appendingPathComponent(file)
            if always || (try? Data(contentsOf: url)) != bytes { try bytes.write(to: url) }
        }
        let manifest = try String(contentsOf: example.appendingPathComponent("Package.swift"), encoding: .utf8)
        #expect(manifest.contains("path: \"../..\""))
        try write(Data(manifest.replacingOccurrences(of: "path: \"../..\"", with: "path: \"\(repositoryRoot.path)\"").utf8),
                  to: "Package.swift")
        for file in ["Sources/Digits/main.swift", "Sources/DigitsModel/DigitsModel.swift", "Sources/DigitsModel/mlp.onnx"] {
            // The example's mlp.onnx is a link to Examples/models; the copy holds the bytes.
            try write(Data(contentsOf: example.appendingPathComponent(file).resolvingSymlinksInPath()), to: file)
        }
        let options = try String(contentsOf: example.appendingPathComponent("Sources/DigitsModel/sieve.json"), encoding: .utf8)
        #expect(options.contains("\"../../../models/mlp.calibration.npy\""))
        try write(Data(options.replacingOccurrences(of: "../../../models/mlp.calibration.npy",
                                                    with: exampleFolder.appendingPathComponent("mlp.calibration.npy").path).utf8),
                  to: "Sources/DigitsModel/sieve.json", always: true)
    }

    /// Empties the build folder when Sieve's list of source files changed since the build that filled it. SwiftPM 6.3
    /// keeps the package's build plan in that folder and does not plan again when a dependency gains or loses a file:
    /// after a new file in Sources/SieveONNX the kept plan compiled the module without it ("value of type
    /// 'GraphBuilder' has no member …"), which a fresh clone never sees. The list is kept beside the folder.
    static func forgetStalePlan(scratch: URL) throws {
        let manager = FileManager.default
        var files: [String] = []
        for folder in ["Sources", "Plugins"] {
            let url = repositoryRoot.appendingPathComponent(folder)
            guard let walker = manager.enumerator(atPath: url.path) else { continue }
            while let path = walker.nextObject() as? String { files.append("\(folder)/\(path)") }
        }
        let list = Data(files.sorted().joined(separator: "\n").utf8)
        let record = scratch.deletingLastPathComponent().appendingPathComponent("sieve-files.txt")
        guard (try? Data(contentsOf: record)) != list else { return }
        if manager.fileExists(atPath: scratch.path) { try manager.removeItem(at: scratch) }
        try manager.createDirectory(at: record.deletingLastPathComponent(), withIntermediateDirectories: true)
        try list.write(to: record)
    }

    /// Builds the example's program. `--product Digits` leaves out the plugins of Sieve's own dependencies
    /// (swift-protobuf's and swift-argument-parser's), which a plain `swift build` compiles too and nothing here uses;
    /// the index store and Swift debug information are left out as well (nobody reads them; without debug
    /// information compiling Sieve's tool took 14% less CPU time, 70 s against 81 s, once each under load 11).
    ///
    /// A build still running after 15 minutes (a cold one compiles Sieve in a few) is stopped and run once
    /// more: SwiftPM has been seen to stall in `sigsuspend` with no child left, which is not the example's failure;
    /// a second stall fails the test with both outputs.
    static func build(_ package: URL, scratch: URL) throws -> (status: Int32, output: String) {
        let arguments = ["build", "--package-path", package.path, "--scratch-path", scratch.path, "--product", "Digits",
                         "--disable-index-store", "-Xswiftc", "-gnone"]
        let first = try runTool("swift", arguments, timeout: 900)
        guard first.status == toolTimedOut else { return first }
        let second = try runTool("swift", arguments, timeout: 900)
        return second.status == 0 ? second : (second.status, first.output + "\n" + second.output)
    }

    /// The steps a build ran: its progress lines (`[3/9] Compiling …`, `[5/9] Sieve: compiling …`), but the version
    /// stamp SwiftPM writes in every build.
    static func steps(_ output: String) -> [String] {
        output.split(separator: "\n").map(String.init).filter { $0.hasPrefix("[") && !$0.contains("Write swift-version") }
    }

    /// The modification dates of what a build makes: the plugin's tool, the model's library (a resource) and the program.
    static func stamps(scratch: URL) -> [Date?] {
        ["debug/sieve-tool", "debug/DigitsWithPlugin_DigitsModel.resources/libmlp.so", "debug/Digits"].map { file in
            try? FileManager.default.attributesOfItem(atPath: scratch.appendingPathComponent(file).path)[.modificationDate] as? Date
        }
    }

    /// The pattern of each prunable layer in the report of the artifact the plugin built.
    static func patterns(scratch: URL) throws -> [String] {
        let outputs = scratch.appendingPathComponent("plugins/outputs")
        let reports = (FileManager.default.enumerator(atPath: outputs.path)?.allObjects as? [String] ?? [])
            .filter { $0.hasSuffix("SieveModel/mlp/report.json") }
        let report = try #require(reports.first, "the plugin wrote no report.json under \(outputs.path)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: outputs.appendingPathComponent(report))) as? [String: Any]
        return (json?["layers"] as? [[String: Any]] ?? []).compactMap { $0["pattern"] as? String }
    }

    /// The probabilities the Digits program prints.
    static func runDigits(scratch: URL) throws -> [Double] {
        let run = try runTool(scratch.appendingPathComponent("debug/Digits").path, [])
        #expect(run.status == 0, "\(run.output)")
        let line = run.output.split(separator: "\n").first { $0.hasPrefix("probabilities ") } ?? ""
        return line.split(separator: " ").dropFirst().compactMap { Double($0) }
    }

    @Test func aFreshPackageCompilesItsModelThroughThePlugin() throws {
        let package = PluginExampleTests.root.appendingPathComponent("package")
        let scratch = PluginExampleTests.root.appendingPathComponent("scratch")
        try PluginExampleTests.makePackage(package)
        try PluginExampleTests.forgetStalePlan(scratch: scratch)
        let emptyBuildFolder = !FileManager.default.fileExists(atPath: scratch.appendingPathComponent("build.db").path)

        // First build: the model (and, in an empty build folder or after a change to Sieve, Sieve's tool: minutes).
        let first = try PluginExampleTests.build(package, scratch: scratch)
        try #require(first.status == 0, "swift build failed:\n\(first.output.suffix(4000))")
        #expect(first.output.contains("Sieve: compiling mlp.onnx into mlp"))
        #expect(try PluginExampleTests.patterns(scratch: scratch) == ["2:4", "2:4", "dense"], "sieve.json's 2:4 was not applied")
        let sparse = try PluginExampleTests.runDigits(scratch: scratch)
        #expect(sparse.count == 10 && abs(sparse.reduce(0, +) - 1) < 1e-4 && sparse.allSatisfy { $0 >= 0 }, "probabilities: \(sparse)")

        if emptyBuildFolder {
            // SwiftPM 6.3 plans the second build from an empty build folder again (the first one left no record of
            // the package's structure in build.db). Planning builds the plugins' tools with a database of their own
            // (plugin-tools.db), which finds the tool's objects and executable rewritten by the first build's main
            // part and relinks it; the main part then relinks it too and, the tool being new, runs sieve again. Only
            // a tool not built from source would avoid that (Examples/README.md); later builds plan only on a change
            // to the package's manifest or folders. If SwiftPM shares the two databases one day, this known issue
            // stops occurring and the test says so: then drop this step.
            let replanned = try PluginExampleTests.build(package, scratch: scratch)
            #expect(replanned.status == 0, "\(replanned.output)")
            withKnownIssue("SwiftPM 6.3: the second build from an empty build folder relinks the plugin's tool") {
                #expect(PluginExampleTests.steps(replanned.output).isEmpty, "\(replanned.output)")
            }
        }

        // No change: nothing is compiled, linked or run, and nothing the build makes is written.
        let before = PluginExampleTests.stamps(scratch: scratch)
        let again = try PluginExampleTests.build(package, scratch: scratch)
        #expect(again.status == 0, "\(again.output)")
        #expect(PluginExampleTests.steps(again.output).isEmpty, "a build without changes did work:\n\(again.output)")
        #expect(!before.contains(nil) && PluginExampleTests.stamps(scratch: scratch) == before)

        // Other options: compiled again with them, and the program runs the dense model.
        let options = package.appendingPathComponent("Sources/DigitsModel/sieve.json")
        try Data(#"{ "inputShapes": { "input": "1x64" } }"#.utf8).write(to: options)
        let reoptioned = try PluginExampleTests.build(package, scratch: scratch)
        #expect(reoptioned.status == 0 && reoptioned.output.contains("Sieve: compiling mlp.onnx into mlp"), "\(reoptioned.output)")
        #expect(try PluginExampleTests.patterns(scratch: scratch).isEmpty, "the dense build still reports sparsity")
        let dense = try PluginExampleTests.runDigits(scratch: scratch)
        #expect(dense.count == 10 && dense != sparse, "the dense model gives the 2:4 model's probabilities")

        // The model written again: compiled again, and only the model's target and the program follow.
        let model = package.appendingPathComponent("Sources/DigitsModel/mlp.onnx")
        try Data(contentsOf: model).write(to: model)
        let remodelled = try PluginExampleTests.build(package, scratch: scratch)
        #expect(remodelled.status == 0 && remodelled.output.contains("Sieve: compiling mlp.onnx into mlp"), "\(remodelled.output)")
        #expect(!PluginExampleTests.steps(remodelled.output).contains { $0.contains("sieve-tool") || $0.contains("Planning") },
                "a new model relinked the tool or planned the build again:\n\(remodelled.output)")

        // A bad option is one diagnostic from the plugin, and the build fails.
        try Data(#"{ "sparsity": 24 }"#.utf8).write(to: options)
        let bad = try PluginExampleTests.build(package, scratch: scratch)
        #expect(bad.status != 0 && bad.output.contains("sieve.json: not valid Sieve options"), "\(bad.output.suffix(2000))")
    }
}
