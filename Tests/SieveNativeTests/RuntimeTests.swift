// Tests of the artifact contract: a C program linked against libNAME.a using only NAME.h, no allocation
// in NAME_run (malloc wrapped at link time), no thread left after NAME_destroy, concurrent contexts,
// NAME_init in caller memory, external weights validation, and atomic output on failure.

import Foundation
import SieveCodegenC
import SieveDriver
import SieveFuzz
import SieveInterpreter
import SieveIR
import Testing

/// A small MLP with an N:M layer, used by the contract tests.
let contractModel = """
    graph @mlp(%x: tensor<4x64xf32>) -> tensor<4x10xf32> {
      %w = const @w : tensor<48x64xf32>
      %b = const @b : tensor<48xf32>
      %h = fused_matmul %x, %w, %b {transpose_b = true, epilogue = [bias, relu]} : tensor<4x48xf32>
      %w2 = const @w2 : tensor<48x10xf32>
      %y = matmul %h, %w2 : tensor<4x10xf32>
      %s = softmax %y {axis = 1} : tensor<4x10xf32>
      return %s
    }
    const @w : tensor<48x64xf32> = splat<0.0>
    const @b : tensor<48xf32> = splat<0.0>
    const @w2 : tensor<48x10xf32> = splat<0.0>
    """

/// The contract model with random weights, its first layer 2:4; and the interpreter's graph.
func contractGraphs() throws -> (reference: Graph, compiled: Graph) {
    var graph = try parseGraph(contractModel)
    randomizeConstants(&graph, seed: 99)
    return try makeNMPair(graph, nm: ["w": (2, 4)])
}

/// Runs a shell command, returning its exit status and combined output.
func shell(_ command: String, in folder: URL) throws -> (Int32, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    process.currentDirectoryURL = folder
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A C driver using only mlp.h: counts allocations during runs (malloc wrapped at link time), runs two
/// contexts on two threads at once, checks NAME_init in caller memory, counts threads after destroy,
/// and prints the outputs of one run.
let contractDriver = #"""
    #define _GNU_SOURCE
    #include "mlp.h"
    #include <dirent.h>
    #include <pthread.h>
    #include <stdio.h>
    #include <stdlib.h>
    #include <string.h>

    static int counting = 0;
    static long allocations = 0;
    void *__real_malloc(size_t size);
    void *__real_calloc(size_t count, size_t size);
    void *__real_realloc(void *pointer, size_t size);
    int __real_posix_memalign(void **pointer, size_t alignment, size_t size);
    void *__wrap_malloc(size_t size) { if (counting) __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED); return __real_malloc(size); }
    void *__wrap_calloc(size_t count, size_t size) { if (counting) __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED); return __real_calloc(count, size); }
    void *__wrap_realloc(void *pointer, size_t size) { if (counting) __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED); return __real_realloc(pointer, size); }
    int __wrap_posix_memalign(void **pointer, size_t alignment, size_t size) { if (counting) __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED); return __real_posix_memalign(pointer, alignment, size); }

    static int thread_count(void) {
        DIR *tasks = opendir("/proc/self/task");
        int count = 0;
        struct dirent *entry;
        while ((entry = readdir(tasks)) != NULL) if (entry->d_name[0] != '.') count++;
        closedir(tasks);
        return count;
    }

    static float input[4 * 64];
    typedef struct { mlp_ctx *ctx; float output[4 * 10]; int status; } job;
    static void *worker(void *argument) {
        job *work = (job *)argument;
        const void *inputs[1] = {input};
        for (int round = 0; round < 200 && work->status == 0; round++) {
            void *outputs[1] = {work->output};
            work->status = mlp_run(work->ctx, inputs, outputs);
        }
        return NULL;
    }

    int main(void) {
        for (int i = 0; i < 4 * 64; i++) input[i] = (float)((i * 37) % 17) / 8.0f - 1.0f;
        if (mlp_NUM_INPUTS != 1 || mlp_NUM_OUTPUTS != 1 || mlp_inputs[0].bytes != sizeof input || mlp_outputs[0].rank != 2
            || mlp_outputs[0].shape[1] != 10 || mlp_inputs[0].dtype != mlp_DTYPE_F32) { puts("bad tensor tables"); return 1; }
        int before = thread_count();
        counting = 1;
        mlp_ctx *a = mlp_create(3), *b = mlp_create(2);
        counting = 0;
        if (a == NULL || b == NULL) { puts("create failed"); return 1; }
        /* Proves the wrapper sees the library's allocations: create allocates its context. */
        printf("create allocates: %d\n", allocations >= 2);
        allocations = 0;
        float reference[4 * 10];
        const void *inputs[1] = {input};
        void *outputs[1] = {reference};
        counting = 1;
        for (int round = 0; round < 50; round++) if (mlp_run(a, inputs, outputs) != 0) { puts("run failed"); return 1; }
        counting = 0;
        printf("allocations during run: %ld\n", allocations);
        job jobs[2] = {{a, {0}, 0}, {b, {0}, 0}};
        pthread_t threads[2];
        for (int i = 0; i < 2; i++) pthread_create(&threads[i], NULL, worker, &jobs[i]);
        for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
        int agree = jobs[0].status == 0 && jobs[1].status == 0 && memcmp(jobs[0].output, reference, sizeof reference) == 0
            && memcmp(jobs[1].output, reference, sizeof reference) == 0;
        printf("concurrent contexts agree: %d\n", agree);
        mlp_destroy(a);
        mlp_destroy(b);
        printf("threads left after destroy: %d\n", thread_count() - before);
        static unsigned char memory[mlp_CONTEXT_BYTES];
        float placed[4 * 10];
        void *placed_outputs[1] = {placed};
        int init = mlp_init(memory, sizeof memory, 2);
        int run = init == 0 ? mlp_run(mlp_context(memory), inputs, placed_outputs) : -1;
        printf("init in caller memory: %d %d %d\n", init, run, memcmp(placed, reference, sizeof reference) == 0);
        mlp_destroy(mlp_context(memory));
        printf("too small: %s\n", mlp_error_string(mlp_init(memory, 16, 1)));
        printf("null input: %d\n", mlp_run(mlp_context(memory), NULL, placed_outputs));
        for (int i = 0; i < 4 * 10; i++) printf("%.9g\n", reference[i]);
        return 0;
    }
    """#

/// A generic driver for any artifact named `cases`: fills inputs with a pattern, runs with 1 to 3 threads.
let sanitizerDriver = #"""
    #include "cases.h"
    #include <stdio.h>
    #include <stdlib.h>
    int main(void) {
        void *inputs[cases_NUM_INPUTS];
        void *outputs[cases_NUM_OUTPUTS];
        for (int i = 0; i < cases_NUM_INPUTS; i++) {
            size_t bytes = cases_inputs[i].bytes ? cases_inputs[i].bytes : 1;
            unsigned char *p = malloc(bytes);
            for (size_t b = 0; b < bytes; b++) p[b] = (unsigned char)(b % 2);
            if (cases_inputs[i].dtype == cases_DTYPE_F32)
                for (size_t e = 0; e < bytes / 4; e++) ((float *)p)[e] = (float)((int)(e % 13) - 6) / 4.0f;
            inputs[i] = p;
        }
        for (int i = 0; i < cases_NUM_OUTPUTS; i++) outputs[i] = calloc(1, cases_outputs[i].bytes ? cases_outputs[i].bytes : 1);
        int failures = 0;
        for (int threads = 1; threads <= 3; threads++) {
            cases_ctx *ctx = cases_create(threads);
            int status = ctx == NULL ? -1 : cases_run(ctx, (const void *const *)inputs, outputs);
            if (status != 0) { printf("threads %d: %s\n", threads, cases_error_string(status)); failures++; }
            cases_destroy(ctx);
        }
        for (int i = 0; i < cases_NUM_INPUTS; i++) free(inputs[i]);
        for (int i = 0; i < cases_NUM_OUTPUTS; i++) free(outputs[i]);
        printf("runs failed: %d\n", failures);
        return 0;
    }
    """#

@Suite("Artifact contract")
struct RuntimeTests {
    @Test("generated code for every op runs clean under AddressSanitizer and UndefinedBehaviorSanitizer")
    func sanitizers() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (_, compiled, _) = try mergedCases(differentialCases, seed: 21)
        let output = folder.url.appendingPathComponent("out")
        _ = try ArtifactWriter.write(ArtifactRequest(graph: compiled, name: "cases", outputDirectory: output.path,
                                                     sourceDescription: "every op", extraFlags: ["-Werror"], parallelThreshold: 1))
        try Data(sanitizerDriver.utf8).write(to: output.appendingPathComponent("driver.c"))
        let flags = "-std=c11 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -pthread -Wall -Wextra -Werror -march=native"
        // Built from the folder's sources as a user would: the code, the weights' assembler file, the driver.
        let (status, log) = try shell("cc \(flags) cases.c cases.weights.S driver.c -lm -o driver", in: output)
        #expect(status == 0, "\(log)")
        guard status == 0 else { return }
        let (runStatus, text) = try shell("./driver", in: output)
        #expect(runStatus == 0, "\(text)")
        #expect(text == "runs failed: 0\n", "\(text)")
    }

    @Test("a C program links libmlp.a with only mlp.h: no allocation in run, no thread left, concurrent contexts agree")
    func linkedProgram() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (reference, compiled) = try contractGraphs()
        let output = folder.url.appendingPathComponent("out")
        _ = try ArtifactWriter.write(ArtifactRequest(graph: compiled, name: "mlp", outputDirectory: output.path,
                                                     sourceDescription: "contract model", extraFlags: ["-Werror"], parallelThreshold: 1))
        // The program sees only mlp.h and libmlp.a: the runtime header stays in another folder.
        let app = folder.url.appendingPathComponent("app")
        try FileManager.default.createDirectory(at: app, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: output.appendingPathComponent("mlp.h"), to: app.appendingPathComponent("mlp.h"))
        try FileManager.default.copyItem(at: output.appendingPathComponent("libmlp.a"), to: app.appendingPathComponent("libmlp.a"))
        try Data(contractDriver.utf8).write(to: app.appendingPathComponent("main.c"))
        let wrap = "-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=posix_memalign"
        let (status, log) = try shell("cc -std=c11 -Wall -Wextra -Werror -pthread main.c libmlp.a -lm \(wrap) -o main", in: app)
        #expect(status == 0, "\(log)")
        guard status == 0 else { return }
        let (runStatus, text) = try shell("./main", in: app)
        #expect(runStatus == 0, "\(text)")
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains("create allocates: 1"), "\(text)")
        #expect(lines.contains("allocations during run: 0"), "\(text)")
        #expect(lines.contains("concurrent contexts agree: 1"), "\(text)")
        #expect(lines.contains("threads left after destroy: 0"), "\(text)")
        #expect(lines.contains("init in caller memory: 0 0 1"), "\(text)")
        #expect(lines.contains("too small: the memory given to init is smaller than CONTEXT_BYTES"), "\(text)")
        #expect(lines.contains("null input: 1"), "\(text)")

        // The printed outputs match the interpreter on the same input.
        let values: [Float] = (0..<(4 * 64)).map { (index: Int) -> Float in
            let numerator = Float((index * 37) % 17)
            return numerator / 8 - 1
        }
        let input = try Tensor(TensorType([4, 64], .f32), floats: values)
        let expected = try Interpreter(graph: reference).run([input])[0]
        let printed = lines.suffix(40).compactMap { Float($0) }
        #expect(printed.count == 40)
        let actual = try Tensor(TensorType([4, 10], .f32), floats: printed)
        #expect(actual.allClose(expected, rtol: 1e-5, atol: 1e-6), "\(actual) vs \(expected)")
    }

    @Test("external weights are validated: good file runs, corrupt, truncated, extended and missing files are refused")
    func externalWeights() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (reference, compiled) = try contractGraphs()
        let artifact = try compileAndLoad(compiled, name: "mlp", weights: .external, folder: folder)
        typealias CreateWithWeights = @convention(c) (UnsafePointer<CChar>?, Int32, UnsafeMutablePointer<Int32>?) -> OpaquePointer?
        guard let createWithWeights = artifact.function("create_with_weights", CreateWithWeights.self) else {
            Issue.record("missing mlp_create_with_weights")
            return
        }
        let weightsPath = artifact.folder.appendingPathComponent("mlp.weights").path
        let good = try Data(contentsOf: URL(fileURLWithPath: weightsPath))
        var random = SplitMix(seed: 5)
        let input = randomTensor(TensorType([4, 64], .f32), using: &random)
        let expected = try Interpreter(graph: reference).run([input])

        // The default path (baked in at compile time) and an explicit path both work.
        let outputs = try artifact.runOnce([input], threads: 2)
        #expect(compareOutputs(outputs, expected, rtol: 1e-5, atol: 1e-6, label: "external weights").isEmpty)

        func attempt(_ bytes: Data?) -> Int32 {
            let path = folder.url.appendingPathComponent("candidate.weights").path
            try? FileManager.default.removeItem(atPath: path)
            if let bytes { try? bytes.write(to: URL(fileURLWithPath: path)) }
            var error: Int32 = -1
            let context = createWithWeights(path, 1, &error)
            if let context { artifact.destroy(context) }
            return context == nil ? error : 0
        }
        #expect(attempt(good) == 0)
        var flipped = good
        flipped[good.count - 3] ^= 0x40
        #expect(attempt(flipped) == 5, "a flipped payload byte fails the checksum")
        var badMagic = good
        badMagic[0] = UInt8(ascii: "X")
        #expect(attempt(badMagic) == 5)
        var badVersion = good
        badVersion[8] = 2
        #expect(attempt(badVersion) == 5)
        #expect(attempt(good.prefix(good.count - 1)) == 5, "truncated")
        #expect(attempt(good.prefix(10)) == 5, "shorter than the header")
        #expect(attempt(good + Data([0])) == 5, "longer than expected")
        #expect(attempt(nil) == 4, "missing")
    }

    @Test("a failed compile leaves no files behind")
    func failedCompileLeavesNothing() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (_, compiled) = try contractGraphs()
        let output = folder.url.appendingPathComponent("out")
        #expect(throws: DiagnosticError.self) {
            _ = try ArtifactWriter.write(ArtifactRequest(graph: compiled, name: "mlp", outputDirectory: output.path,
                                                         sourceDescription: "contract model", compiler: "false"))
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: folder.url.path)
        #expect(left.isEmpty, "left behind: \(left)")

        // An existing output folder keeps its old artifact when a recompile fails.
        _ = try ArtifactWriter.write(ArtifactRequest(graph: compiled, name: "mlp", outputDirectory: output.path, sourceDescription: "contract model"))
        let before = try Data(contentsOf: output.appendingPathComponent("libmlp.a"))
        #expect(throws: DiagnosticError.self) {
            _ = try ArtifactWriter.write(ArtifactRequest(graph: compiled, name: "mlp", outputDirectory: output.path,
                                                         sourceDescription: "contract model", compiler: "false"))
        }
        #expect(try Data(contentsOf: output.appendingPathComponent("libmlp.a")) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path) == ["out"])
    }

    @Test("bad artifact names and unsupported graphs are diagnostics, not crashes")
    func diagnostics() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (_, compiled) = try contractGraphs()
        #expect(throws: DiagnosticError.self) {
            _ = try ArtifactWriter.write(ArtifactRequest(graph: compiled, name: "1bad-name", outputDirectory: folder.url.appendingPathComponent("o").path,
                                                         sourceDescription: "x"))
        }
        // An nm layout on a graph input cannot be read by the backend.
        let text = """
            graph @g(%x: tensor<1x8xf32>, %w: tensor<2x8xf32, nm<2:4>>) -> tensor<1x2xf32> {
              %y = matmul %x, %w {transpose_b = true} : tensor<1x2xf32>
              return %y
            }
            """
        do {
            _ = try runCompile(CompileRequest(text: text, path: "nm-input.sir", outputDirectory: folder.url.appendingPathComponent("o").path))
            Issue.record("expected a diagnostic")
        } catch {
            #expect(error.description.contains("is not a constant"), "\(error)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path).isEmpty)
    }

    @Test("a gather index out of range stops the run with an error code")
    func trapsReportErrors() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let graph = try parseGraph("""
            graph @g(%x: tensor<3x4xf32>, %i: tensor<2xi64>, %a: tensor<2xi32>, %b: tensor<2xi32>) -> (tensor<2x4xf32>, tensor<2xi32>) {
              %y = gather %x, %i {axis = 0} : tensor<2x4xf32>
              %q = div %a, %b : tensor<2xi32>
              return %y, %q
            }
            """)
        let artifact = try compileAndLoad(graph, name: "traps", folder: folder)
        guard let context = artifact.create(1) else {
            Issue.record("create failed")
            return
        }
        defer { artifact.destroy(context) }
        let x = try Tensor(TensorType([3, 4], .f32), floats: (0..<12).map(Float.init))
        let ints = { (values: [Int64]) in try Tensor(TensorType([2], .i32), integers: values) }
        let ok = try artifact.execute(context, [x, try Tensor(TensorType([2], .i64), integers: [-1, 2]), try ints([7, -9]), try ints([2, 4])])
        #expect(ok.0 == 0)
        #expect(ok.1[0].floats == [8, 9, 10, 11, 8, 9, 10, 11])
        #expect(ok.1[1].integers == [3, -2])
        let bad = try artifact.execute(context, [x, try Tensor(TensorType([2], .i64), integers: [0, 3]), try ints([1, 1]), try ints([1, 1])])
        #expect(bad.0 == 6)
        let zero = try artifact.execute(context, [x, try Tensor(TensorType([2], .i64), integers: [0, 1]), try ints([1, 1]), try ints([1, 0])])
        #expect(zero.0 == 7)
    }
}
