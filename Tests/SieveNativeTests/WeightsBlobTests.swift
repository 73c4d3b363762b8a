// Tests of how weights reach an artifact: as a binary blob that an assembler file includes, never as C
// text. NAME.c does not grow with the weights, the blob holds the constants' bytes, and the folder builds.

import Foundation
import SieveCodegenC
import SieveDriver
import SieveFuzz
import SieveInterpreter
import SieveIR
import SieveKernel
import Testing

/// A layer with a product weight (packed for its kernel) and a dense constant added elementwise (stored as is).
func blobModel(k: Int, n: Int) -> String {
    """
    graph @layer(%x: tensor<2x\(k)xf32>) -> tensor<2x\(n)xf32> {
      %w = const @w : tensor<\(k)x\(n)xf32>
      %y = matmul %x, %w : tensor<2x\(n)xf32>
      %c = const @c : tensor<2x\(n)xf32>
      %z = add %y, %c : tensor<2x\(n)xf32>
      return %z
    }
    const @w : tensor<\(k)x\(n)xf32> = splat<0.0>
    const @c : tensor<2x\(n)xf32> = splat<0.0>
    """
}

/// The blob model with random constants.
func randomBlobGraph(k: Int, n: Int, seed: UInt64) throws -> Graph {
    var graph = try parseGraph(blobModel(k: k, n: n))
    randomizeConstants(&graph, seed: seed)
    return graph
}

/// Writes an artifact of `graph` into `folder/name`, with -Werror.
func writeBlobArtifact(_ graph: Graph, name: String = "m", weights: WeightsPlacement = .embedded,
                       folder: TemporaryFolder) throws -> (folder: URL, report: ArtifactReport) {
    let output = folder.url.appendingPathComponent("\(name)-\(graph.constants.entries.count)-\(weights.rawValue)-\(UUID().uuidString)")
    let report = try ArtifactWriter.write(ArtifactRequest(graph: graph, name: name, outputDirectory: output.path, weights: weights,
                                                          sourceDescription: "blob test", extraFlags: ["-Werror"]))
    return (output, report)
}

/// The bytes of a file in an artifact folder.
func artifactBytes(_ folder: URL, _ file: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: folder.appendingPathComponent(file)))
}

@Suite("Weights blob")
struct WeightsBlobTests {
    @Test("NAME.c holds no weight data: its size does not grow with the weights, and it has no byte literals")
    func sourceHoldsNoWeights() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let small = try writeBlobArtifact(try randomBlobGraph(k: 16, n: 16, seed: 1), folder: folder)
        let large = try writeBlobArtifact(try randomBlobGraph(k: 512, n: 384, seed: 2), folder: folder)
        let smallSource = try artifactBytes(small.folder, "m.c"), largeSource = try artifactBytes(large.folder, "m.c")
        let smallBlob = try artifactBytes(small.folder, "m.weights.bin"), largeBlob = try artifactBytes(large.folder, "m.weights.bin")
        #expect(largeBlob.count - smallBlob.count > 700_000, "the large model has ~770 KB more weights")
        // The two sources differ in shape constants and kernel variants only (a few KB), nowhere near the
        // weights' growth (as C text, 4 characters per byte: 3 MB).
        let growth = largeSource.count - smallSource.count, weightGrowth = largeBlob.count - smallBlob.count
        #expect(growth < weightGrowth / 100, "m.c: \(smallSource.count) vs \(largeSource.count) bytes, weights grew \(weightGrowth)")
        let text = String(decoding: largeSource, as: UTF8.self)
        #expect(!text.contains("\\x"), "no string-literal bytes")
        let longest = text.split(separator: "\n").map(\.count).max() ?? 0
        #expect(longest < 400, "no long numeric arrays: the longest line has \(longest) characters")
        #expect(text.contains("extern const uint8_t m_weight_data["))
        let assembly = String(decoding: try artifactBytes(large.folder, "m.weights.S"), as: UTF8.self)
        #expect(assembly.contains(".incbin \"m.weights.bin\""))
    }

    @Test("the blob holds exactly the program's weights, each dense constant's bytes at its buffer's offset")
    func blobBytesEqualConstants() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let graph = try randomBlobGraph(k: 64, n: 48, seed: 3)
        let (output, report) = try writeBlobArtifact(graph, folder: folder)
        let blob = try artifactBytes(output, "m.weights.bin")
        let weights = report.program.weights
        #expect(blob.count == max(64, weights.count))
        #expect(Array(blob.prefix(weights.count)) == weights)
        #expect(blob.dropFirst(weights.count).allSatisfy { $0 == 0 })

        // @c is stored as is; @w is packed for its product, so its bytes are a permutation of the constant's.
        var checked = 0
        for buffer in report.program.buffers {
            guard case let .constant(offset) = buffer.storage else { continue }
            let name = buffer.name.hasPrefix("@") ? String(buffer.name.dropFirst()) : buffer.name
            if let constant = graph.constants.entries.first(where: { $0.name == name }) {
                #expect(Array(blob[offset..<offset + constant.bytes.count]) == constant.bytes, "\(buffer.name) at \(offset)")
                checked += 1
            } else if name == "w.packed", let constant = graph.constants.entries.first(where: { $0.name == "w" }) {
                #expect(blob[offset..<offset + constant.bytes.count].sorted() == constant.bytes.sorted(), "\(buffer.name) at \(offset)")
                checked += 1
            }
        }
        #expect(checked == 2, "both constants found in the blob")

        // And the artifact built from it computes what the interpreter computes.
        let artifact = try LoadedArtifact(folder: output, name: "m", graph: graph)
        var random = SplitMix(seed: 4)
        let input = randomTensor(TensorType([2, 64], .f32), using: &random)
        let outputs = try artifact.runOnce([input], threads: 2)
        let expected = try Interpreter(graph: graph).run([input])
        #expect(compareOutputs(outputs, expected, rtol: productTolerance.rtol, atol: productTolerance.atol, label: "blob").isEmpty)
    }

    @Test("external weights: NAME.weights is the 32-byte header and the same blob; no assembler file")
    func externalFile() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let graph = try randomBlobGraph(k: 32, n: 32, seed: 5)
        let embedded = try writeBlobArtifact(graph, folder: folder)
        let external = try writeBlobArtifact(graph, weights: .external, folder: folder)
        let file = try artifactBytes(external.folder, "m.weights")
        let blob = try artifactBytes(embedded.folder, "m.weights.bin")
        #expect(file.count == 32 + blob.count)
        #expect(Array(file.prefix(8)) == Array("SIEVEWTS".utf8))
        #expect(Array(file.dropFirst(32)) == blob)
        #expect(Array(file.prefix(32)) == weightsFileHeader(blob))
        let files = try FileManager.default.contentsOfDirectory(atPath: external.folder.path)
        #expect(!files.contains("m.weights.S") && !files.contains("m.weights.bin"), "\(files)")
        #expect(!String(decoding: try artifactBytes(external.folder, "m.c"), as: UTF8.self).contains("m_weight_data"))
    }

    @Test("the folder's sources build from another folder with -I, and a blob of the wrong size is refused")
    func buildFromSources() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (output, _) = try writeBlobArtifact(try randomBlobGraph(k: 32, n: 16, seed: 6), folder: folder)
        let moved = folder.url.appendingPathComponent("moved")
        try FileManager.default.moveItem(at: output, to: moved)
        let flags = "-std=c11 -O1 -fPIC -pthread -Wall -Wextra -Werror -march=native"
        let (status, log) = try shell("cc \(flags) -c moved/m.c -o m.o && cc -I moved -c moved/m.weights.S -o w.o && cc -shared -pthread -o libm.so m.o w.o -lm",
                                      in: folder.url)
        #expect(status == 0, "\(log)")

        let blob = moved.appendingPathComponent("m.weights.bin")
        let bytes = try Data(contentsOf: blob)
        try bytes.dropLast(64).write(to: blob)
        let (refused, message) = try shell("cc -c m.weights.S -o w.o", in: moved)
        #expect(refused != 0)
        #expect(message.contains("does not hold \(bytes.count) bytes"), "\(message)")
    }
}
