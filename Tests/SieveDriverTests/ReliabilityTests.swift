// Regression tests for the reliability report (issue #18), through the built `sieve` binary: empty tensors
// compile and run, non-regular files are refused without blocking, absurd IR sizes are refused before
// allocating, artifact names cannot clash with the runtime, and a compile's output folder appears at once.

import Foundation
import SieveFormats
import SieveDriver
import SieveIR
import SieveInterpreter
import SieveONNX
import Testing

@Suite(.serialized) struct ReliabilityTests {
    /// A batch of zero rows: `compile` writes an artifact with no kernel, and compiled and interpreted runs
    /// both write a (0, 10) output (this used to end in "Division by zero" while lowering the first product).
    @Test func emptyBatchCompilesAndRuns() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let mlp = exampleFolder.appendingPathComponent("mlp.onnx").path
        let artifact = folder.appendingPathComponent("m")
        let compiled = try runSieve(["compile", mlp, "--input-shape", "input=0x64", "-o", artifact.path, "--name", "m"], timeout: 180)
        #expect(compiled.status == 0 && !compiled.crashed, "\(compiled.stderr)")
        let report = (try? String(contentsOf: artifact.appendingPathComponent("m.report.txt"), encoding: .utf8)) ?? ""
        #expect(report.contains("kernels: 0"), "\(report)")

        let input = folder.appendingPathComponent("empty.npy").path
        try NumPyFile.write(Tensor(TensorType([0, 64], .f32), floats: []).constant(name: "input"), path: input)
        let environment = ["XDG_CACHE_HOME": folder.appendingPathComponent("cache").path]
        for (mode, extra) in [("compiled", [String]()), ("interpreted", ["--interpret"])] {
            let output = folder.appendingPathComponent(mode)
            let run = try runSieve(["run", mlp, "--input", "input=\(input)", "--output-dir", output.path] + extra,
                                   timeout: 180, environment: environment)
            #expect(run.status == 0 && !run.crashed, "\(mode): \(run.stderr)")
            let result = try NumPyFile.read(path: output.appendingPathComponent("probabilities.npy").path)
            #expect(result.type.shape == [0, 10], "\(mode)")
        }
    }

    /// A FIFO named as external data, as the model or as an `.npy` input is refused at once with one diagnostic
    /// saying what it is (the open used to block forever waiting for a writer, and the `.npy` refusal spoke of
    /// permission). Nothing ever writes to the FIFO, so a blocking open would hit the timeout.
    @Test func namedPipesAreRefusedWithoutBlocking() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let pipe = folder.appendingPathComponent("weights.bin").path
        #expect(mkfifo(pipe, 0o600) == 0)
        let model = folder.appendingPathComponent("model.onnx")
        try matmulModel(weight: externalWeight(location: "weights.bin")).write(to: model)
        let input = folder.appendingPathComponent("x.npy").path
        try NumPyFile.write(Tensor(TensorType([1, 4], .f32), floats: [1, 2, 3, 4]).constant(name: "x"), path: input)
        let pipeModel = folder.appendingPathComponent("pipe.onnx").path
        #expect(mkfifo(pipeModel, 0o600) == 0)
        let pipeInput = folder.appendingPathComponent("pipe.npy").path
        #expect(mkfifo(pipeInput, 0o600) == 0)
        let output = folder.appendingPathComponent("out").path
        let cases: [(arguments: [String], expected: String)] = [
            (["inspect", model.path], "cannot read external data 'weights.bin' of tensor 'W': it is a named pipe (FIFO), not a regular file"),
            (["compile", model.path, "-o", output], "it is a named pipe (FIFO), not a regular file"),
            (["run", model.path, "--input", "x=\(input)", "--output-dir", output, "--interpret"], "it is a named pipe (FIFO)"),
            (["inspect", pipeModel], "cannot read model '\(pipeModel)': it is a named pipe (FIFO), not a regular file"),
            (["run", exampleFolder.appendingPathComponent("mlp.onnx").path, "--input", "input=\(pipeInput)", "--output-dir", output,
              "--interpret"], "\(pipeInput):1:1: error: it is a named pipe (FIFO), not a regular file; give the path of a file"),
        ]
        for (arguments, expected) in cases {
            let outcome = try runSieve(arguments, timeout: 30)
            #expect(!outcome.timedOut, "\(arguments) blocked")
            #expect(outcome.status == 1 && !outcome.crashed, "\(arguments): \(outcome.stderr)")
            #expect(errorLines(outcome.stderr).count == 1 && outcome.stderr.contains(expected), "\(arguments): \(outcome.stderr)")
            #expect(!outcome.stderr.contains("permission"), "\(arguments): \(outcome.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    /// `sieve` under a 4 GiB address-space limit (`ulimit -v`), as the report's acceptance asks.
    func runSieveLimited(_ arguments: [String], timeout: Double = 60) throws -> ProcessOutcome {
        try runSieve(arguments, timeout: timeout, addressSpaceKiB: 4_194_304)
    }

    /// A splat constant's size comes from its type alone, so it is checked before anything is allocated: 2^40
    /// elements used to abort allocating 4 TiB, and 2^32 allocated 16 GiB before the 2^28 check ran.
    @Test(arguments: ["4294967296x256", "65536x65536", "16385x16384"])
    func hugeSplatConstantsAreRefusedBeforeAllocating(shape: String) throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("huge.sir")
        try """
            graph @g(%x: tensor<2xf32>) -> tensor<2xf32> {
              %w = const @w : tensor<\(shape)xf32>
              return %x
            }
            const @w : tensor<\(shape)xf32> = splat<0.5>

            """.write(to: file, atomically: true, encoding: .utf8)
        let outcome = try runSieveLimited(["opt", file.path])
        #expect(outcome.status == 1 && !outcome.crashed && !outcome.timedOut, "\(outcome.stderr)")
        #expect(errorLines(outcome.stderr) == ["\(file.path):5:1: error: splat constant of type tensor<\(shape)xf32> has \(shape.split(separator: "x").compactMap { Int($0) }.reduce(1, *)) elements, more than the limit of 2^28; give the data as hex<\"...\"> or make the tensor smaller"],
                "\(outcome.stderr)")
    }

    /// `--name` must not collide with the runtime's symbols (`--name sieve_pool` passed and left the C compiler's
    /// error to the user), with names C reserves, or with the C library's families: one diagnostic, before the
    /// model is read, and no output folder.
    @Test(arguments: [("sieve_pool", "it begins with 'sieve'"), ("SIEVE", "it begins with 'sieve'"),
                      ("sieve_runtime", "it begins with 'sieve'"), ("_model", "begin with an underscore"),
                      ("thrd", "'thrd_create'"), ("pthread", "'pthread_create'"), ("sem", "'sem_create'"),
                      ("1bad", "is not a C identifier")])
    func reservedArtifactNamesAreRefused(name: String, reason: String) throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("out")
        let outcome = try runSieve(["compile", exampleFolder.appendingPathComponent("mlp.onnx").path, "-o", output.path, "--name", name],
                                   timeout: 120)
        #expect(outcome.status == 1 && !outcome.crashed, "\(outcome.stderr)")
        let errors = errorLines(outcome.stderr)
        #expect(errors.count == 1 && errors[0].contains("artifact name '\(name)'") && errors[0].contains(reason), "\(outcome.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }

    /// Names that only resemble a reserved one are accepted, and a default name taken from a file called like the
    /// runtime steps aside instead of failing.
    @Test func artifactNamesNearTheReservedOnesAreAccepted() {
        for name in ["sievenet", "my_sieve", "model_sieve_pool", "tokenizer", "semantic", "pthreadpool_model", "mlp"] {
            #expect(artifactNameProblem(name) == nil, "\(name)")
        }
        #expect(defaultArtifactName(for: "models/sieve.onnx") == "model_sieve")
        #expect(defaultArtifactName(for: "pthread.onnx") == "model_pthread")
        #expect(defaultArtifactName(for: "mlp.onnx") == "mlp")
    }

    /// Every file of a folder, by name, with its bytes.
    func snapshot(_ folder: URL) -> [String: Data] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        var result: [String: Data] = [:]
        for name in names { result[name] = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) }
        return result
    }

    /// The entries beside the output other than the output itself: temporary folders of killed runs.
    func leftovers(beside output: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: output.deletingLastPathComponent().path)) ?? []
        return names.filter { $0 != output.lastPathComponent }.sorted()
    }

    /// `sieve compile` killed (by strace's fault injection, SIGKILL on entering the system call) at each step that
    /// puts the artifact in place: the `rename` of a fresh folder, the `renameat2(RENAME_EXCHANGE)` that swaps it
    /// with the old one, and the `rmdir` that starts removing the old one after the swap. The output folder is
    /// always the complete old or the complete new artifact (it used to be replaced file by file, so a kill could
    /// leave new sources beside an old library), and the next compile removes the killed run's temporary folder.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/strace")))
    func killedCompilesLeaveTheOldOrTheNewArtifact() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let parent = folder.appendingPathComponent("parent")
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: false)
        let output = parent.appendingPathComponent("out")
        let mlp = exampleFolder.appendingPathComponent("mlp.onnx").path, cnn = exampleFolder.appendingPathComponent("cnn.onnx").path
        func compile(_ model: String, killedAt call: String? = nil) throws -> ProcessOutcome {
            let arguments = ["compile", model, "-o", output.path, "--name", "m"]
            guard let call else { return try runSieve(arguments, timeout: 180) }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/strace")
            process.arguments = ["-o", "/dev/null", "-e", "inject=\(call):signal=KILL", sieveBinary().path] + arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            return ProcessOutcome(status: process.terminationStatus, crashed: false, timedOut: false, stdout: "", stderr: "")
        }

        // A fresh output killed at its rename: no output folder at all, and one temporary folder.
        var killed = try compile(mlp, killedAt: "rename")
        #expect(killed.status != 0)
        #expect(!FileManager.default.fileExists(atPath: output.path))
        #expect(leftovers(beside: output).count == 1)
        var outcome = try compile(mlp)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(leftovers(beside: output).isEmpty)
        let old = snapshot(output)
        #expect(old.count >= 9 && old["libm.so"] != nil && old["m.h"] != nil)

        // Killed at the swap: the old artifact, whole.
        killed = try compile(cnn, killedAt: "renameat2")
        #expect(killed.status != 0)
        #expect(snapshot(output) == old)
        #expect(leftovers(beside: output).count == 1)
        outcome = try compile(mlp)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(leftovers(beside: output).isEmpty)
        #expect(snapshot(output) == old)

        // Killed just after the swap, removing the old artifact: the new one, whole.
        killed = try compile(cnn, killedAt: "rmdir")
        #expect(killed.status != 0)
        let afterKill = snapshot(output)
        #expect(leftovers(beside: output).count == 1)
        outcome = try compile(cnn)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(leftovers(beside: output).isEmpty)
        let new = snapshot(output)
        #expect(new != old && new.keys.sorted() == old.keys.sorted())
        #expect(afterKill == new, "the folder after the kill is not the complete new artifact")
    }
}
