// The pkg-config and CMake files `sieve compile` writes, and --install-prefix: a compiled digits MLP, moved
// elsewhere, is found by pkg-config and find_package and links into the C example, which then classifies the
// held-out digits as the dense model does; a prefix that cannot take the files ends in one diagnostic.

import Foundation
import Testing

/// The accuracy line the digits example prints for the dense example MLP.
let denseDigitsAccuracy = "accuracy: 488/500 = 97.60%"

/// Runs a built digits program on the held-out digits and returns its last line.
func digitsResult(_ program: String, environment: [String: String] = [:]) throws -> String {
    let outcome = try runTool(program, [exampleFolder.appendingPathComponent("mlp.eval.input.npy").path,
                                        exampleFolder.appendingPathComponent("mlp.eval.labels.npy").path], environment: environment)
    #expect(outcome.status == 0, "\(program): \(outcome.output)")
    return outcome.output.split(separator: "\n").last.map(String.init) ?? ""
}

@Suite(.serialized) struct BuildFilesTests {
    static let mlp = exampleFolder.appendingPathComponent("mlp.onnx").path
    static let digits = repositoryRoot.appendingPathComponent("Examples/c/digits.c").path
    static let compiler = ProcessInfo.processInfo.environment["CC"] ?? "cc"

    /// Compiles the example MLP (dense, batch 1) into `folder/mlp`, with an install prefix when given.
    static func compile(into folder: URL, prefix: URL? = nil) throws {
        let outcome = try runSieve(["compile", mlp, "--input-shape", "input=1x64", "--name", "mlp",
                                    "-o", folder.appendingPathComponent("mlp").path]
                                   + (prefix.map { ["--install-prefix", $0.path] } ?? []), timeout: 180)
        #expect(outcome.status == 0, "\(outcome.stderr)")
    }

    @Test(.enabled(if: toolExists("pkg-config"), "pkg-config is not installed (scripts/setup.sh installs it)"))
    func pkgConfigFindsAMovedArtifact() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try BuildFilesTests.compile(into: folder)
        let moved = folder.appendingPathComponent("moved")
        try FileManager.default.moveItem(at: folder.appendingPathComponent("mlp"), to: moved)
        let environment = ["PKG_CONFIG_PATH": moved.path]

        // Shared: -L… -lmlp, run with the moved folder on the loader's path.
        let flags = try runTool("pkg-config", ["--cflags", "--libs", "mlp"], environment: environment)
        #expect(flags.status == 0, "\(flags.output)")
        #expect(flags.output.contains("-I\(moved.path)") && flags.output.contains("-lmlp"), "\(flags.output)")
        let shared = folder.appendingPathComponent("digits-shared").path
        let build = try runTool(BuildFilesTests.compiler, [BuildFilesTests.digits, "-o", shared]
                                + flags.output.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty })
        #expect(build.status == 0, "\(build.output)")
        #expect(try digitsResult(shared, environment: ["LD_LIBRARY_PATH": moved.path]) == denseDigitsAccuracy)

        // Static: the archive by path, and with --static the threads and math libraries it needs.
        let staticFlags = try runTool("pkg-config", ["--static", "--cflags", "--libs", "mlp-static"], environment: environment)
        #expect(staticFlags.status == 0, "\(staticFlags.output)")
        #expect(staticFlags.output.contains("\(moved.path)/libmlp.a") && staticFlags.output.contains("-lm"), "\(staticFlags.output)")
        let linkedStatically = folder.appendingPathComponent("digits-static").path
        let staticBuild = try runTool(BuildFilesTests.compiler, [BuildFilesTests.digits, "-o", linkedStatically]
                                      + staticFlags.output.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty })
        #expect(staticBuild.status == 0, "\(staticBuild.output)")
        #expect(try digitsResult(linkedStatically) == denseDigitsAccuracy)
    }

    /// Examples/cmake finds the moved artifact folder through CMAKE_PREFIX_PATH, and the moved install prefix too;
    /// the same compile installed the prefix.
    @Test(.enabled(if: toolExists("cmake"), "cmake is not installed (scripts/setup.sh installs it)"))
    func cmakeFindsAMovedArtifactAndAMovedPrefix() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try BuildFilesTests.compile(into: folder, prefix: folder.appendingPathComponent("prefix"))
        let moved = folder.appendingPathComponent("moved"), movedPrefix = folder.appendingPathComponent("moved-prefix")
        try FileManager.default.moveItem(at: folder.appendingPathComponent("mlp"), to: moved)
        try FileManager.default.moveItem(at: folder.appendingPathComponent("prefix"), to: movedPrefix)
        for file in ["include/mlp.h", "lib/libmlp.a", "lib/libmlp.so", "lib/pkgconfig/mlp.pc", "lib/pkgconfig/mlp-static.pc",
                     "lib/cmake/mlp/mlpConfig.cmake", "lib/cmake/mlp/mlpConfigVersion.cmake"] {
            #expect(FileManager.default.fileExists(atPath: movedPrefix.appendingPathComponent(file).path), "no \(file) in the prefix")
        }
        for (label, prefix) in [("folder", moved), ("prefix", movedPrefix)] {
            let build = folder.appendingPathComponent("cmake-\(label)").path
            let configure = try runTool("cmake", ["-S", repositoryRoot.appendingPathComponent("Examples/cmake").path, "-B", build,
                                                  "-DCMAKE_PREFIX_PATH=\(prefix.path)"])
            #expect(configure.status == 0, "\(configure.output)")
            let make = try runTool("cmake", ["--build", build])
            #expect(make.status == 0, "\(make.output)")
            #expect(try digitsResult(build + "/digits") == denseDigitsAccuracy, "CMake against the moved \(label)")
        }
        // The prefix's pkg-config file resolves to the prefix's include/ and lib/.
        let flags = try runTool("pkg-config", ["--cflags", "--libs", "mlp"],
                                environment: ["PKG_CONFIG_PATH": movedPrefix.appendingPathComponent("lib/pkgconfig").path])
        #expect(flags.output.contains("/include") && flags.output.contains("/lib -lmlp"), "\(flags.output)")
    }

    /// A prefix that is a file, a prefix where another library's mlp.h lies, a prefix that cannot be created and a
    /// prefix overlapping the output folder: each is one diagnostic, exit 1, no artifact and no stray file.
    /// Installing again over files sieve wrote replaces them.
    @Test func badInstallPrefixesAreRefused() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("mlp")
        func compile(prefix: String, output: URL = output) throws -> ProcessOutcome {
            try runSieve(["compile", BuildFilesTests.mlp, "--input-shape", "input=1x64", "--name", "mlp", "-o", output.path,
                          "--install-prefix", prefix], timeout: 180)
        }
        func expectRefused(_ outcome: ProcessOutcome, _ message: String) {
            #expect(outcome.status == 1 && !outcome.crashed, "\(outcome.stderr)")
            #expect(errorLines(outcome.stderr).count == 1 && outcome.stderr.contains(message), "\(outcome.stderr)")
            #expect(!FileManager.default.fileExists(atPath: output.path), "an artifact was written")
        }

        let file = folder.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        expectRefused(try compile(prefix: file.path), "is not a folder")

        let prefix = folder.appendingPathComponent("prefix")
        try FileManager.default.createDirectory(at: prefix.appendingPathComponent("include"), withIntermediateDirectories: true)
        let foreign = prefix.appendingPathComponent("include/mlp.h")
        try Data("/* mlp.h: the multilayer perceptron library */\n".utf8).write(to: foreign)
        expectRefused(try compile(prefix: prefix.path), "include/mlp.h exists and was not written by sieve")
        #expect(try String(contentsOf: foreign, encoding: .utf8).hasPrefix("/* mlp.h: the multilayer"))

        // /proc takes no new folders, even from root: this fails only when the files are staged, after the build.
        expectRefused(try compile(prefix: "/proc/sieve-prefix-test"), "cannot install into '/proc/sieve-prefix-test'")
        expectRefused(try compile(prefix: folder.path, output: folder.appendingPathComponent("lib")), "overlap")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("lib").path))

        try FileManager.default.removeItem(at: foreign)
        for _ in 0..<2 {
            let outcome = try compile(prefix: prefix.path)
            #expect(outcome.status == 0, "\(outcome.stderr)")
        }
        let installed = try FileManager.default.subpathsOfDirectory(atPath: prefix.path).sorted()
        #expect(!installed.contains { $0.contains(".sieve-") }, "staged files were left: \(installed)")
        #expect(installed.contains("lib/cmake/mlp/mlpConfig.cmake"))
    }
}
