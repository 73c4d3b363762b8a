// Generated code under AddressSanitizer and UndefinedBehaviorSanitizer: every example model, dense and
// 2:4, and N:M weights with padded reductions, compiled with -fsanitize=address,undefined and run twice on two threads by a generic C driver.

import Foundation
import SieveCodegenC
import SieveDriver
import SieveFuzz
import Testing

@Suite struct SanitizerTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test(arguments: ["mlp", "encoder", "cnn"], [false, true])
    func exampleModelRunsCleanUnderSanitizers(model: String, sparse: Bool) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let artifact = folder.url.appendingPathComponent("artifact")
        var request = ModelCompileRequest(modelPath: SanitizerTests.root.appendingPathComponent("Examples/models/\(model).onnx").path)
        request.outputDirectory = artifact.path
        request.name = model
        if sparse { request.sparsity = SparsifyOptions(minWeights: 0) }
        _ = try compileModel(request)
        let (status, report) = try SanitizerTests.runDriver(artifact: artifact, model: model, folder: folder)
        #expect(status, "\(model) (\(sparse ? "2:4" : "dense")):\n\(report)")
    }

    /// N:M weights with padded reductions read their graph inputs directly at batch 1 (nm_dot plus the
    /// guarded tail); the driver allocates each input with one spare byte, so reading a float past an
    /// input's end is an AddressSanitizer error.
    @Test func paddedNMWeightsNeverReadPastTheirInputs() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        guard let batchOne = paddedNMCases.first(where: { $0.name.hasSuffix("batch 1") }) else {
            Issue.record("no batch-1 padded case")
            return
        }
        var graph = try parseGraph(batchOne.text)
        randomizeConstants(&graph, seed: 5)
        let (_, compiled) = try makeNMPair(graph, nm: batchOne.nm)
        let artifact = folder.url.appendingPathComponent("artifact")
        _ = try ArtifactWriter.write(ArtifactRequest(
            graph: compiled, name: "padded", outputDirectory: artifact.path, target: .native, weights: .embedded,
            sourceDescription: "padded nm test graph", compiler: "cc", extraFlags: [], parallelThreshold: 1))
        let (status, report) = try SanitizerTests.runDriver(artifact: artifact, model: "padded", folder: folder)
        #expect(status, "padded nm weights:\n\(report)")
    }

    /// Builds the generic driver against `artifact/model.c` (and its weights) under the sanitizers and runs it; returns
    /// whether it printed "ok" and exited 0, and its error output.
    static func runDriver(artifact: URL, model: String, folder: TemporaryFolder) throws -> (Bool, String) {
        let program = folder.url.appendingPathComponent("driver").path
        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        build.arguments = ["cc", "-std=c11", "-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                           "-fno-omit-frame-pointer", "-march=native", "-pthread", "-DMODEL=\(model)", "-DMODEL_HEADER=\"\(model).h\"",
                           "-I", artifact.path,
                           SanitizerTests.root.appendingPathComponent("Tests/SieveNativeTests/Drivers/sanitize_driver.c").path,
                           artifact.appendingPathComponent("\(model).c").path,
                           // The weights: -I lets the assembler find the blob from this other folder.
                           artifact.appendingPathComponent("\(model).weights.S").path, "-lm", "-o", program]
        let buildErrors = Pipe()
        build.standardError = buildErrors
        try build.run()
        let buildLog = String(decoding: buildErrors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        build.waitUntilExit()
        try #require(build.terminationStatus == 0, "sanitizer build failed:\n\(buildLog)")

        let run = Process()
        run.executableURL = URL(fileURLWithPath: program)
        let output = Pipe(), errors = Pipe()
        run.standardOutput = output
        run.standardError = errors
        try run.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let report = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        run.waitUntilExit()
        return (run.terminationStatus == 0 && text == "ok\n", report)
    }
}
