// The SwiftPM build plugin from outside: a fresh package (Examples/swiftpm-plugin, copied out of the repository and
// depending on Sieve by path) compiles its model through the plugin and runs it; a change to the model or to
// sieve.json rebuilds it, a build without changes runs nothing.

import Foundation
import Testing

@Suite(.serialized) struct PluginExampleTests {
    /// The package is made afresh each run; its build folder is kept beside it (outside the repository) so that only
    /// the first run builds Sieve itself.
    static let root = FileManager.default.temporaryDirectory
        .appendingPathComponent("sieve-plugin-example" + repositoryRoot.path.replacingOccurrences(of: "/", with: "_"))
    static let example = repositoryRoot.appendingPathComponent("Examples/swiftpm-plugin")

    /// Copies the example into `package`, with Sieve and the calibration data at their absolute paths.
    static func makePackage(_ package: URL) throws {
        let manager = FileManager.default
        try? manager.removeItem(at: package)
        for folder in ["Sources/Digits", "Sources/DigitsModel"] {
            try manager.createDirectory(at: package.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        let manifest = try String(contentsOf: example.appendingPathComponent("Package.swift"), encoding: .utf8)
        #expect(manifest.contains("path: \"../..\""))
        try Data(manifest.replacingOccurrences(of: "path: \"../..\"", with: "path: \"\(repositoryRoot.path)\"").utf8)
            .write(to: package.appendingPathComponent("Package.swift"))
        for file in ["Sources/Digits/main.swift", "Sources/DigitsModel/DigitsModel.swift", "Sources/DigitsModel/mlp.onnx"] {
            // The example's mlp.onnx is a link to Examples/models; the copy holds the bytes.
            try Data(contentsOf: example.appendingPathComponent(file).resolvingSymlinksInPath())
                .write(to: package.appendingPathComponent(file))
        }
        let options = try String(contentsOf: example.appendingPathComponent("Sources/DigitsModel/sieve.json"), encoding: .utf8)
        #expect(options.contains("\"../../../models/mlp.calibration.npy\""))
        try Data(options.replacingOccurrences(of: "../../../models/mlp.calibration.npy",
                                              with: exampleFolder.appendingPathComponent("mlp.calibration.npy").path).utf8)
            .write(to: package.appendingPathComponent("Sources/DigitsModel/sieve.json"))
    }

    static func build(_ package: URL, scratch: URL) throws -> (status: Int32, output: String) {
        try runTool("swift", ["build", "--package-path", package.path, "--scratch-path", scratch.path])
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

    static func library(scratch: URL) -> URL {
        scratch.appendingPathComponent("debug/DigitsWithPlugin_DigitsModel.resources/libmlp.so")
    }

    @Test func aFreshPackageCompilesItsModelThroughThePlugin() throws {
        let package = PluginExampleTests.root.appendingPathComponent("package")
        let scratch = PluginExampleTests.root.appendingPathComponent("scratch")
        try PluginExampleTests.makePackage(package)

        // First build: Sieve, its plugin and the model (the first run builds Sieve in the scratch folder: minutes).
        let first = try PluginExampleTests.build(package, scratch: scratch)
        try #require(first.status == 0, "swift build failed:\n\(first.output.suffix(4000))")
        #expect(first.output.contains("Sieve: compiling mlp.onnx into mlp"))
        #expect(try PluginExampleTests.patterns(scratch: scratch) == ["2:4", "2:4", "dense"], "sieve.json's 2:4 was not applied")
        let sparse = try PluginExampleTests.runDigits(scratch: scratch)
        #expect(sparse.count == 10 && abs(sparse.reduce(0, +) - 1) < 1e-4 && sparse.allSatisfy { $0 >= 0 }, "probabilities: \(sparse)")

        // SwiftPM 6.3 (Linux) links the plugin's tool once more in the build right after the first one from an empty
        // build folder, and a new tool compiles the model again (as it must); builds after that settle.
        let settle = try PluginExampleTests.build(package, scratch: scratch)
        #expect(settle.status == 0, "\(settle.output)")
        // No change: nothing is compiled again.
        let stamp = try FileManager.default.attributesOfItem(atPath: PluginExampleTests.library(scratch: scratch).path)[.modificationDate] as? Date
        let again = try PluginExampleTests.build(package, scratch: scratch)
        #expect(again.status == 0)
        #expect(!again.output.contains("Sieve: compiling") && !again.output.contains("Compiling DigitsModel"),
                "a build without changes did work:\n\(again.output)")
        let unchanged = try FileManager.default.attributesOfItem(atPath: PluginExampleTests.library(scratch: scratch).path)[.modificationDate] as? Date
        #expect(stamp != nil && stamp == unchanged)

        // The model written again: compiled again.
        let model = package.appendingPathComponent("Sources/DigitsModel/mlp.onnx")
        try Data(contentsOf: model).write(to: model)
        let remodelled = try PluginExampleTests.build(package, scratch: scratch)
        #expect(remodelled.status == 0 && remodelled.output.contains("Sieve: compiling mlp.onnx into mlp"), "\(remodelled.output)")

        // Other options: compiled again with them, and the program runs the dense model.
        let options = package.appendingPathComponent("Sources/DigitsModel/sieve.json")
        try Data(#"{ "inputShapes": { "input": "1x64" } }"#.utf8).write(to: options)
        let reoptioned = try PluginExampleTests.build(package, scratch: scratch)
        #expect(reoptioned.status == 0 && reoptioned.output.contains("Sieve: compiling mlp.onnx into mlp"), "\(reoptioned.output)")
        #expect(try PluginExampleTests.patterns(scratch: scratch).isEmpty, "the dense build still reports sparsity")
        let dense = try PluginExampleTests.runDigits(scratch: scratch)
        #expect(dense.count == 10 && dense != sparse, "the dense model gives the 2:4 model's probabilities")

        // A bad option is one diagnostic from the plugin, and the build fails.
        try Data(#"{ "sparsity": 24 }"#.utf8).write(to: options)
        let bad = try PluginExampleTests.build(package, scratch: scratch)
        #expect(bad.status != 0 && bad.output.contains("sieve.json: not valid Sieve options"), "\(bad.output.suffix(2000))")
    }
}
