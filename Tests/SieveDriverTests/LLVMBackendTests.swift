// `sieve compile --backend llvm` on a machine without a C compiler (CC names a missing program, PATH holds only a
// linker), `sieve run --jit`, and `--emit llvm-ir`: the example MLP built this way links into the unchanged C example
// and classifies the held-out digits as the C backend's build does.

import Foundation
import SieveFormats
import SieveInterpreter
import Testing

@Suite(.serialized) struct LLVMBackendTests {
    /// A folder whose only programs are `env` and the first linker `--backend llvm` looks for, as PATH for sieve.
    static func linkerOnlyPath(in folder: URL) throws -> String? {
        let bin = folder.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        guard let linker = ["ld.lld-19", "ld.lld", "ld"].lazy.compactMap({ name in
            path.first { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }.map { ("\($0)/\(name)", name) }
        }).first else { return nil }
        try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent(linker.1).path, withDestinationPath: linker.0)
        try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent("env").path, withDestinationPath: "/usr/bin/env")
        return bin.path
    }

    @Test func compilesWithoutACCompilerAndLinksIntoTheCExample() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = try #require(try LLVMBackendTests.linkerOnlyPath(in: folder), "no linker (ld.lld-19, ld.lld or ld) on PATH")
        let output = folder.appendingPathComponent("mlp")
        let outcome = try runSieve(["compile", BuildFilesTests.mlp, "--input-shape", "input=1x64", "--name", "mlp", "--backend", "llvm",
                                    "--emit", "llvm-ir", "-o", output.path],
                                   timeout: 180, environment: ["PATH": path, "CC": folder.appendingPathComponent("no-such-cc").path])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: output.path))
        #expect(files.isSuperset(of: ["mlp.h", "mlp.o", "mlp.weights.o", "libmlp.a", "libmlp.so", "mlp.ll", "mlp.pc", "mlp-static.pc"]),
                "\(files.sorted())")
        #expect(!files.contains("mlp.c") && !files.contains("sieve_runtime.c"), "\(files.sorted())")
        // The archive's index names the API, and nothing of the runtime leaks out of the shared library.
        let symbols = try runTool("nm", ["-D", "--defined-only", output.appendingPathComponent("libmlp.so").path])
        #expect(symbols.status == 0 && symbols.output.contains(" T mlp_run") && !symbols.output.contains("sieve_"), "\(symbols.output)")

        // The unchanged C example links against the LLVM-built archive (cc is needed only for the example).
        let program = folder.appendingPathComponent("digits").path
        let build = try runTool(BuildFilesTests.compiler, ["-O2", "-I", output.path, BuildFilesTests.digits,
                                                           output.appendingPathComponent("libmlp.a").path, "-lm", "-pthread", "-o", program])
        #expect(build.status == 0, "\(build.output)")
        #expect(try digitsResult(program) == denseDigitsAccuracy)
    }

    /// The weights leave LLVM's code generator: NAME.weights.o, written by sieve, defines NAME_weight_data as a hidden,
    /// 64-byte aligned symbol in a large-data section holding the C backend's weights byte for byte, and both the
    /// archive and the shared library take it.
    @Test func weightsObjectHoldsTheCBackendsBytes() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for backend in ["llvm", "c"] {
            let outcome = try runSieve(["compile", BuildFilesTests.mlp, "--input-shape", "input=1x64", "--name", "mlp", "--backend", backend,
                                        "-o", folder.appendingPathComponent(backend).path], timeout: 180)
            #expect(outcome.status == 0, "\(outcome.stderr)")
        }
        let object = folder.appendingPathComponent("llvm/mlp.weights.o").path
        let expected = try Data(contentsOf: folder.appendingPathComponent("c/mlp.weights.bin"))
        let symbols = try runTool("nm", ["-S", object])
        let size = String(expected.count, radix: 16)
        #expect(symbols.status == 0 && symbols.output.contains(" R mlp_weight_data")
                    && symbols.output.contains(String(repeating: "0", count: 16 - size.count) + size), "\(symbols.output)")
        let sections = try runTool("readelf", ["-SW", object])
        let line = sections.output.split(separator: "\n").first { $0.contains(".lrodata.mlp_weight_data") } ?? ""
        #expect(line.hasSuffix(" 64") && line.contains(" Al "), "\(sections.output)")
        let extracted = folder.appendingPathComponent("weights.bin").path
        let copy = try runTool("objcopy", ["-O", "binary", "--only-section=.lrodata.mlp_weight_data", object, extracted])
        #expect(copy.status == 0, "\(copy.output)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: extracted)) == expected)
        let members = try runTool("ar", ["t", folder.appendingPathComponent("llvm/libmlp.a").path])
        #expect(members.output.split(separator: "\n") == ["mlp.o", "mlp.weights.o"], "\(members.output)")
        let index = try runTool("nm", ["--print-armap", folder.appendingPathComponent("llvm/libmlp.a").path])
        #expect(index.output.contains("mlp_weight_data in mlp.weights.o"), "\(index.output)")
        // Hidden: the library does not export it.
        let exported = try runTool("nm", ["-D", "--defined-only", folder.appendingPathComponent("llvm/libmlp.so").path])
        #expect(exported.status == 0 && !exported.output.contains("weight_data"), "\(exported.output)")
    }

    @Test func withoutALinkerTheCompileSaysWhatToInstall() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let bin = folder.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent("env").path, withDestinationPath: "/usr/bin/env")
        let output = folder.appendingPathComponent("mlp")
        let outcome = try runSieve(["compile", BuildFilesTests.mlp, "--input-shape", "input=1x64", "--backend", "llvm", "-o", output.path],
                                   timeout: 180, environment: ["PATH": bin.path])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("found none of ld.lld-19, ld.lld, ld on PATH; install lld-19 or binutils"), "\(outcome.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output.path), "a failed compile left \(output.path)")
    }

    /// `--weights external` with `--backend llvm`: the weights leave NAME.o for NAME.weights, byte for byte the file the
    /// C backend writes, and NAME_create reads it from the path compiled in; a damaged file is refused by NAME_create.
    @Test func externalWeightsWithTheLLVMBackend() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var outputs: [String: URL] = [:]
        for backend in ["llvm", "c"] {
            let output = folder.appendingPathComponent(backend)
            outputs[backend] = output
            let outcome = try runSieve(["compile", BuildFilesTests.mlp, "--input-shape", "input=4x64", "--name", "mlp", "--backend", backend,
                                        "--weights", "external", "-o", output.path], timeout: 180)
            #expect(outcome.status == 0, "\(outcome.stderr)")
        }
        let llvm = try #require(outputs["llvm"]), c = try #require(outputs["c"])
        let weights = try Data(contentsOf: llvm.appendingPathComponent("mlp.weights"))
        #expect(weights == (try Data(contentsOf: c.appendingPathComponent("mlp.weights"))))
        // The object no longer holds the weights (the MLP's are 42 kB; its code is smaller).
        let object = try FileManager.default.attributesOfItem(atPath: llvm.appendingPathComponent("mlp.o").path)[.size] as? Int ?? 0
        let header = try String(contentsOf: llvm.appendingPathComponent("mlp.h"), encoding: .utf8)
        #expect(header.contains("mlp_create_with_weights"))
        let symbols = try runTool("nm", ["-D", "--defined-only", llvm.appendingPathComponent("libmlp.so").path])
        #expect(symbols.output.contains(" T mlp_create_with_weights") && symbols.output.contains(" T mlp_init_with_weights"), "\(symbols.output)")
        #expect(!symbols.output.contains("weight_data"), "\(symbols.output)")
        #expect(weights.count > 32 && object > 0)

        let run = try runSieve(["run", llvm.appendingPathComponent("libmlp.so").path, "--input",
                                "input=" + exampleFolder.appendingPathComponent("mlp.input.npy").path, "--output-dir", folder.appendingPathComponent("run").path])
        #expect(run.status == 0, "\(run.stderr)")
        let actual = try Tensor(NumPyFile.read(path: folder.appendingPathComponent("run/probabilities.npy").path))
        let expected = try Tensor(NumPyFile.read(path: exampleFolder.appendingPathComponent("mlp.probabilities.npy").path))
        let worst = zip(actual.doubles, expected.doubles).map { abs($0 - $1) }.max() ?? .infinity
        #expect(actual.shape == expected.shape && worst <= 1e-6, "largest difference \(worst)")

        // A flipped byte of the payload fails the checksum: NAME_create gives no context.
        var damaged = [UInt8](weights)
        damaged[damaged.count - 1] ^= 1
        try Data(damaged).write(to: llvm.appendingPathComponent("mlp.weights"))
        let refused = try runSieve(["run", llvm.appendingPathComponent("libmlp.so").path, "--input",
                                    "input=" + exampleFolder.appendingPathComponent("mlp.input.npy").path, "--output-dir", folder.appendingPathComponent("run2").path])
        #expect(refused.status == 1 && refused.stderr.contains("could not create a context"), "\(refused.stderr)")
    }

    /// `sieve run --jit` compiles the MLP in process: it needs no C compiler, and gives the bundled reference outputs.
    @Test func runJITMatchesTheReferenceOutputs() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let outcome = try runSieve(["run", exampleFolder.appendingPathComponent("mlp.onnx").path,
                                    "--input", exampleFolder.appendingPathComponent("mlp.input.npy").path,
                                    "--output-dir", folder.path, "--jit", "--threads", "2"],
                                   timeout: 120, environment: ["CC": folder.appendingPathComponent("no-such-cc").path])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let actual = try Tensor(NumPyFile.read(path: folder.appendingPathComponent("probabilities.npy").path))
        let expected = try Tensor(NumPyFile.read(path: exampleFolder.appendingPathComponent("mlp.probabilities.npy").path))
        #expect(actual.shape == expected.shape)
        let worst = zip(actual.doubles, expected.doubles).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-6, "largest difference \(worst)")
        let both = try runSieve(["run", exampleFolder.appendingPathComponent("mlp.onnx").path, "--input", "x.npy",
                                 "--output-dir", folder.path, "--jit", "--interpret"])
        #expect(both.status == 1 && both.stderr.contains("--jit and --interpret exclude each other"), "\(both.stderr)")
    }
}

extension LLVMBackendTests {
    /// The object's DWARF names each kernel and the ONNX node it computes: file mlp.onnx, line = node number + 1.
    @Test func debugInfoMapsKernelsToONNXNodes() throws {
        let tools = ["llvm-dwarfdump-19", "llvm-dwarfdump"]
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        let dwarfdump = try #require(tools.lazy.compactMap { tool in path.map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) } }.first,
                                     "llvm-dwarfdump is not installed (llvm-19), so the object's debug info cannot be read back")
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("mlp")
        let outcome = try runSieve(["compile", BuildFilesTests.mlp, "--input-shape", "input=1x64", "--name", "mlp", "--backend", "llvm",
                                    "-o", output.path], timeout: 180)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let dump = try runTool(dwarfdump, ["--debug-info", output.appendingPathComponent("mlp.o").path])
        #expect(dump.status == 0, "\(dump.output)")
        // The kernels keep their subprograms (inlined into the API or not), each at its node's line in mlp.onnx.
        let entries = dump.output.components(separatedBy: "DW_TAG_subprogram").dropFirst()
        let kernels = entries.filter { $0.contains("(\"mlp_k") }
        #expect(kernels.count >= 3, "\(dump.output)")
        for entry in kernels {
            #expect(entry.contains("DW_AT_decl_file") && entry.contains("mlp.onnx"), "\(entry)")
            #expect(entry.contains("DW_AT_decl_line"), "\(entry)")
        }
        #expect(dump.output.contains("DW_AT_producer\t(\"sieve (LLVM backend)\")") || dump.output.contains("sieve (LLVM backend)"), "\(dump.output)")
    }
}

extension LLVMBackendTests {
    /// Whether this CPU has AVX-512 VNNI and VBMI (and BW), as /proc/cpuinfo lists them.
    static var hostHasVNNIAndVBMI: Bool {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let words = Set(flags.split(separator: " ").map(String.init))
        return words.isSuperset(of: ["avx512_vnni", "avx512vbmi", "avx512bw"])
    }

    /// On a CPU with AVX-512 VNNI and VBMI, the native int8 build links the runtime built with them (the C backend's
    /// -march=native compiles the same paths in), so its int8 dot products use vpdpbusd.
    @Test(.enabled(if: LLVMBackendTests.hostHasVNNIAndVBMI, "this CPU lacks AVX-512 VNNI or VBMI, whose runtime paths this checks"))
    func int8ProductsUseVNNIWhereTheHostHasIt() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("mlp")
        let outcome = try runSieve(["compile", BuildFilesTests.mlp, "--input-shape", "input=4x64", "--name", "mlp", "--backend", "llvm",
                                    "--quantize", "int8", "--calibration", exampleFolder.appendingPathComponent("mlp.calibration.npy").path,
                                    "-o", output.path], timeout: 180)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let disassembly = try runTool("objdump", ["-d", output.appendingPathComponent("libmlp.so").path])
        #expect(disassembly.status == 0)
        #expect(disassembly.output.contains("vpdpbusd"), "no vpdpbusd in the int8 build")
    }
}
