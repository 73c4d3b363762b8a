// Runs `sieve compile` as a user would: the artifact's files appear, the report names the arena,
// --print-kernel-ir dumps to stderr, and bad input ends in exit status 1 and no files (a failing C compiler: RuntimeTests).

import Foundation
import Testing

@Suite("sieve compile on textual IR")
struct CompileTextualIRTests {
    let model = """
        graph @tiny(%x: tensor<2x8xf32>) -> tensor<2x4xf32> {
          %w = const @w : tensor<4x8xf32>
          %y = matmul %x, %w {transpose_b = true} : tensor<2x4xf32>
          %r = relu %y : tensor<2x4xf32>
          return %r
        }
        const @w : tensor<4x8xf32> = splat<0.5>
        """

    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-compile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("writes NAME.h, NAME.c, libNAME.a, libNAME.so and the report")
    func writesArtifact() throws {
        let base = try folder()
        defer { try? FileManager.default.removeItem(at: base) }
        let input = base.appendingPathComponent("tiny.sir")
        try model.write(to: input, atomically: true, encoding: .utf8)
        let out = base.appendingPathComponent("out").path
        let outcome = try runSieve(["compile", input.path, "-o", out, "--name", "tiny", "--target", "x86-64", "--print-kernel-ir"], timeout: 60)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("arena: "))
        #expect(outcome.stderr.contains("// -----// Kernel IR //----- //"))
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: out))
        #expect(files.isSuperset(of: ["tiny.h", "tiny.c", "libtiny.a", "libtiny.so", "tiny.report.txt"]), "\(files)")
    }

    @Test("a bad name, target or input file exits 1 and leaves nothing")
    func failures() throws {
        let base = try folder()
        defer { try? FileManager.default.removeItem(at: base) }
        let input = base.appendingPathComponent("tiny.sir")
        try model.write(to: input, atomically: true, encoding: .utf8)
        let out = base.appendingPathComponent("out").path
        let badName = try runSieve(["compile", input.path, "-o", out, "--name", "no-dashes"])
        #expect(badName.status == 1 && badName.stderr.contains("not a C identifier"), "\(badName.stderr)")
        let badTarget = try runSieve(["compile", input.path, "-o", out, "--target", "arm"])
        #expect(badTarget.status == 1)
        let missing = try runSieve(["compile", base.appendingPathComponent("none.sir").path, "-o", out])
        #expect(missing.status == 1 && missing.stderr.contains("no such file"))
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(try FileManager.default.contentsOfDirectory(atPath: base.path) == ["tiny.sir"])
    }
}
