// Generated code under AddressSanitizer and UndefinedBehaviorSanitizer: every example model, dense and
// 2:4, compiled with -fsanitize=address,undefined and run twice on two threads by a generic C driver.

import Foundation
import SieveCodegenC
import SieveDriver
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

        let program = folder.url.appendingPathComponent("driver").path
        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        build.arguments = ["cc", "-std=c11", "-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                           "-fno-omit-frame-pointer", "-march=native", "-pthread", "-DMODEL=\(model)", "-DMODEL_HEADER=\"\(model).h\"",
                           "-I", artifact.path,
                           SanitizerTests.root.appendingPathComponent("Tests/SieveNativeTests/Drivers/sanitize_driver.c").path,
                           artifact.appendingPathComponent("\(model).c").path, "-lm", "-o", program]
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
        #expect(run.terminationStatus == 0 && text == "ok\n", "\(model) (\(sparse ? "2:4" : "dense")):\n\(report)")
    }
}
