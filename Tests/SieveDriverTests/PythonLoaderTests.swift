// NAME.py, the ctypes + NumPy loader written beside every artifact: it is python/sieve_artifact.py byte for
// byte, runs a moved artifact to the same outputs as `sieve run`, and refuses wrong inputs naming them.

import Foundation
import Testing

/// The project's Python (scripts/setup-python.sh), which has numpy.
let projectPython = repositoryRoot.appendingPathComponent(".venv/bin/python").path

@Suite(.serialized) struct PythonLoaderTests {
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: projectPython),
                   ".venv/bin/python is missing (scripts/setup-python.sh creates it)"))
    func loaderMatchesSieveRunAndRefusesWrongInputs() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = exampleFolder.appendingPathComponent("mlp.input.npy").path  // 4 digits
        let compiled = try runSieve(["compile", exampleFolder.appendingPathComponent("mlp.onnx").path, "--input-shape", "input=4x64",
                                     "--name", "mlp", "-o", folder.appendingPathComponent("mlp").path], timeout: 180)
        #expect(compiled.status == 0, "\(compiled.stderr)")
        let moved = folder.appendingPathComponent("moved")
        try FileManager.default.moveItem(at: folder.appendingPathComponent("mlp"), to: moved)

        let written = try String(contentsOf: moved.appendingPathComponent("mlp.py"), encoding: .utf8)
        let source = try String(contentsOf: repositoryRoot.appendingPathComponent("python/sieve_artifact.py"), encoding: .utf8)
        #expect(written == source, "run scripts/generate-python-loader.sh")

        let reference = folder.appendingPathComponent("run")
        let run = try runSieve(["run", moved.appendingPathComponent("libmlp.so").path, "--input", "input=\(input)",
                                "--output-dir", reference.path], timeout: 60)
        #expect(run.status == 0, "\(run.stderr)")

        let script = """
            import sys
            sys.path.insert(0, sys.argv[1])
            import numpy
            import mlp
            model = mlp.load(threads=2)
            print("inputs", [(s.name, str(s.dtype), s.shape) for s in model.inputs])
            print("outputs", [(s.name, str(s.dtype), s.shape) for s in model.outputs])
            x = numpy.load(sys.argv[2])
            (y,) = model.run(x)
            expected = numpy.load(sys.argv[3])
            print("same as sieve run:", y.dtype == expected.dtype and numpy.array_equal(y, expected))
            print("by name:", numpy.array_equal(model(input=x)[0], y))
            for label, call in [("dtype", lambda: model.run(x.astype(numpy.float64))),
                                ("shape", lambda: model.run(x[:1])),
                                ("count", lambda: model.run(x, x)),
                                ("name", lambda: model.run(images=x))]:
                try:
                    call()
                    print(label, "accepted")
                except (TypeError, ValueError) as error:
                    print(label, type(error).__name__, error)
            model.close()
            """
        let outcome = try runTool(projectPython, ["-c", script, moved.path, input, reference.appendingPathComponent("probabilities.npy").path])
        #expect(outcome.status == 0, "\(outcome.output)")
        let lines = outcome.output.split(separator: "\n").map(String.init)
        #expect(lines.contains("inputs [('input', 'float32', (4, 64))]"), "\(outcome.output)")
        #expect(lines.contains("outputs [('probabilities', 'float32', (4, 10))]"), "\(outcome.output)")
        #expect(lines.contains("same as sieve run: True"), "\(outcome.output)")
        #expect(lines.contains("by name: True"), "\(outcome.output)")
        #expect(lines.contains("dtype TypeError input 'input': expected dtype float32, got float64"), "\(outcome.output)")
        #expect(lines.contains("shape ValueError input 'input': expected shape (4, 64), got (1, 64)"), "\(outcome.output)")
        #expect(lines.contains("count TypeError mlp takes 1 input(s) ['input'], got 2"), "\(outcome.output)")
        #expect(lines.contains("name TypeError unknown input 'images'; the inputs are ['input']"), "\(outcome.output)")
    }

    /// An artifact name that NAME.py would shadow (a module the loader imports) is refused before anything is read.
    @Test func namesThatShadowTheLoadersImportsAreRefused() throws {
        let outcome = try runSieve(["compile", exampleFolder.appendingPathComponent("mlp.onnx").path, "--name", "numpy", "-o", "/nonexistent/x"])
        #expect(outcome.status == 1, "\(outcome.stderr)")
        #expect(outcome.stderr.contains("numpy.py would hide Python's 'numpy' module"), "\(outcome.stderr)")
    }
}
