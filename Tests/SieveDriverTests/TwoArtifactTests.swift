// Two artifacts from different models linked into one C program (static libraries, shared libraries, and
// sources under ThreadSanitizer): run side by side and on two threads at once, each output equal to `sieve run`'s.

import Foundation
import SieveFormats
import SieveIR
import SieveInterpreter
import SieveTestSupport
import Testing

/// Whether gcc can build and run a program under ThreadSanitizer (it needs libtsan, from scripts/setup.sh's gcc).
let threadSanitizerWorks: Bool = {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc"),
          let folder = try? temporaryFolder() else { return false }
    defer { try? FileManager.default.removeItem(at: folder) }
    let source = folder.appendingPathComponent("probe.c"), program = folder.appendingPathComponent("probe")
    guard (try? "int main(void) { return 0; }\n".write(to: source, atomically: true, encoding: .utf8)) != nil,
          let built = try? runTool("/usr/bin/gcc", ["-fsanitize=thread", source.path, "-o", program.path]), built.status == 0,
          let ran = try? runTool(program.path, []) else { return false }
    return ran.status == 0
}()

@Suite(.serialized) struct TwoArtifactTests {
    /// One model of the pair: the example it comes from, its artifact name, and compile options.
    struct Model {
        var file: String
        var name: String
        var options: [String]
    }

    /// The digits MLP at 2:4 (N:M kernels) and the dense CNN (convolutions): different kernels, one runtime each.
    static let models = [Model(file: "mlp.onnx", name: "mlp", options: ["--input-shape", "input=3x64", "--sparsity", "2:4"]),
                         Model(file: "cnn.onnx", name: "cnn", options: [])]

    /// How the program is linked against the two artifacts.
    enum Linking: String, CaseIterable, Sendable {
        case staticLibraries = "libA.a + libB.a"
        case sharedLibraries = "libA.so + libB.so"
        case threadSanitizer = "A.c + B.c under -fsanitize=thread"
    }

    /// Compiles both models, writes their inputs (raw for the C program, `.npy` for `sieve run`) and `sieve run`'s
    /// outputs; returns the artifact folders, the raw input files and the expected outputs' bytes, per model.
    static func prepare(in folder: URL) throws -> [(artifact: URL, inputs: [String], expected: [[UInt8]])] {
        var prepared: [(URL, [String], [[UInt8]])] = []
        for (modelIndex, model) in models.enumerated() {
            let artifact = folder.appendingPathComponent(model.name)
            let compiled = try runSieve(["compile", exampleFolder.appendingPathComponent(model.file).path, "-o", artifact.path,
                                         "--name", model.name] + model.options, timeout: 300)
            try #require(compiled.status == 0, "\(model.file): \(compiled.stderr)")
            let header = try String(contentsOf: artifact.appendingPathComponent("\(model.name).h"), encoding: .utf8)
            let library = artifact.appendingPathComponent("lib\(model.name).so").path
            // The input shapes as the C program sees them: the generated `.c` file's tensor table.
            let source = try String(contentsOf: artifact.appendingPathComponent("\(model.name).c"), encoding: .utf8)
            let inputShapes = try inputShapes(in: source, name: model.name)
            #expect(header.contains("#define \(model.name)_NUM_INPUTS \(inputShapes.count)"))
            var rawFiles: [String] = [], arguments: [String] = []
            var random = SplitMix64(seed: 77 + UInt64(modelIndex))
            for (inputIndex, (inputName, shape)) in inputShapes.enumerated() {
                let count = shape.reduce(1, *)
                let values = (0..<count).map { _ in Float(Double(random.next() % 4096) / 1024 - 2) }
                let tensor = try Tensor(TensorType(shape, .f32), floats: values)
                let raw = folder.appendingPathComponent("\(model.name).in\(inputIndex)").path
                try Data(tensor.constant(name: inputName).bytes).write(to: URL(fileURLWithPath: raw))
                let npy = folder.appendingPathComponent("\(model.name).in\(inputIndex).npy").path
                try NumPyFile.write(tensor.constant(name: inputName), path: npy)
                rawFiles.append(raw)
                arguments += ["--input", "\(inputName)=\(npy)"]
            }
            let outputs = folder.appendingPathComponent("\(model.name).expected")
            let run = try runSieve(["run", library, "--output-dir", outputs.path] + arguments, timeout: 120)
            try #require(run.status == 0, "sieve run \(model.name): \(run.stderr)")
            let files = try FileManager.default.contentsOfDirectory(atPath: outputs.path).filter { $0.hasSuffix(".npy") }.sorted()
            try #require(files.count == 1, "\(model.name): expected one output, found \(files)")
            let expected = try files.map { try NumPyFile.read(path: outputs.appendingPathComponent($0).path).bytes }
            prepared.append((artifact, rawFiles, expected))
        }
        return prepared
    }

    /// The (name, shape) of every input, from the `NAME_inputs` table the generated `.c` file defines.
    static func inputShapes(in source: String, name: String) throws -> [(String, [Int])] {
        var shapes: [String: [Int]] = [:]
        for line in source.split(separator: "\n") where line.hasPrefix("static const int64_t \(name)_inputs_shape") {
            // static const int64_t mlp_inputs_shape0[2] = {3, 64};
            let key = String(line.split(separator: "[")[0].split(separator: " ").last ?? "")
            let braces = line.drop { $0 != "{" }.dropFirst().prefix { $0 != "}" }
            shapes[key] = braces.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        }
        var result: [(String, [Int])] = []
        for line in source.split(separator: "\n") where line.contains("\(name)_inputs_shape") && line.contains("{\"") {
            //     {"input", 1, 2, mlp_inputs_shape0, 768},
            let tensorName = String(line.drop { $0 != "\"" }.dropFirst().prefix { $0 != "\"" })
            let key = line.split(separator: ",").first { $0.contains("_inputs_shape") }?.trimmingCharacters(in: .whitespaces) ?? ""
            result.append((tensorName, try #require(shapes[key], "no shape array \(key)")))
        }
        return result
    }

    /// The C compiler's arguments for the two-model program under each kind of linking.
    static func buildArguments(_ linking: Linking, artifacts: [URL], program: String) -> (compiler: String, arguments: [String]) {
        let driver = repositoryRoot.appendingPathComponent("Tests/SieveDriverTests/Drivers/two_models.c").path
        var arguments = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pthread", "-DMODEL_A=\(models[0].name)", "-DMODEL_B=\(models[1].name)"]
        for artifact in artifacts { arguments += ["-I", artifact.path] }
        switch linking {
        case .staticLibraries:
            arguments += ["-O2", driver] + zip(artifacts, models).map { $0.appendingPathComponent("lib\($1.name).a").path }
        case .sharedLibraries:
            arguments += ["-O2", driver]
            for (artifact, model) in zip(artifacts, models) {
                arguments += ["-L", artifact.path, "-l\(model.name)", "-Wl,-rpath,\(artifact.path)"]
            }
        case .threadSanitizer:
            // The generated sources compiled with the program, so the runtime's thread pool is instrumented too.
            arguments = ["-g", "-O1", "-fsanitize=thread", "-march=native"] + arguments + [driver]
            for (artifact, model) in zip(artifacts, models) {
                arguments += [artifact.appendingPathComponent("\(model.name).c").path,
                              artifact.appendingPathComponent("\(model.name).weights.S").path]
            }
        }
        return (linking == .threadSanitizer ? "/usr/bin/gcc" : (ProcessInfo.processInfo.environment["CC"] ?? "cc"),
                arguments + ["-lm", "-o", program])
    }

    /// Both artifacts link into one program however they are linked (their runtimes are `static` in each `.c`, so
    /// the two copies of `sieve_pool_run` and the rest cannot clash), and each model's outputs, run alone and while
    /// the other runs on another thread, are `sieve run`'s bit for bit; under ThreadSanitizer with no report.
    @Test func twoModelsLinkedIntoOneProgramRunConcurrently() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let prepared = try TwoArtifactTests.prepare(in: folder)
        for linking in Linking.allCases {
            if linking == .threadSanitizer && !threadSanitizerWorks {
                // Stated, not silent: the concurrent runs above still ran without the sanitizer.
                print("TwoArtifactTests: skipping ThreadSanitizer: gcc cannot build with -fsanitize=thread (run scripts/setup.sh)")
                continue
            }
            let program = folder.appendingPathComponent("two-\(Linking.allCases.firstIndex(of: linking) ?? 0)").path
            let (compiler, arguments) = TwoArtifactTests.buildArguments(linking, artifacts: prepared.map(\.artifact), program: program)
            let build = try runTool("/usr/bin/env", [compiler] + arguments)
            try #require(build.status == 0, "\(linking.rawValue) does not link:\n\(build.output)")
            let outputs = folder.appendingPathComponent("outputs-\(Linking.allCases.firstIndex(of: linking) ?? 0)")
            try FileManager.default.createDirectory(at: outputs, withIntermediateDirectories: true)
            let run = try runTool(program, prepared.flatMap(\.inputs) + [outputs.path])
            #expect(run.status == 0 && run.output == "ok\n", "\(linking.rawValue):\n\(run.output)")
            #expect(!run.output.contains("ThreadSanitizer"), "\(linking.rawValue):\n\(run.output)")
            for (model, (_, _, expected)) in zip(TwoArtifactTests.models, prepared) {
                for (index, bytes) in expected.enumerated() {
                    let actual = FileManager.default.contents(atPath: outputs.appendingPathComponent("\(model.name).out\(index)").path)
                    #expect(actual.map { [UInt8]($0) } == bytes, "\(linking.rawValue): \(model.name) output \(index) differs from sieve run's")
                }
            }
        }
    }
}
