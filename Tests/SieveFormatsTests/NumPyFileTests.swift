// Tests of the NumPy file formats: every supported dtype as NumPy itself wrote it, formats 1.0 to 3.0,
// stored and deflated .npz archives, round trips, and refusals of unsupported or damaged files.

import Foundation
import SieveFormats
import SieveIR
import Testing

/// The path of a committed fixture file (written by Tests/SieveInterpreterTests/Fixtures/generate.py).
func fixturePath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)").path
}

/// A fresh temporary folder for files a test writes.
func temporaryFolder() throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-formats-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}

/// The first diagnostic message of a throwing call, or nil when it does not throw.
func refusal(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let error as DiagnosticError {
        return error.diagnostics.first?.message ?? ""
    } catch {
        return "\(error)"
    }
}

@Suite struct NumPyFileTests {
    @Test func everySupportedDtypeReadsAsNumPyWroteIt() throws {
        let f4 = try NumPyFile.read(path: fixturePath("dtype_f4.npy"))
        #expect(f4.name == "dtype_f4" && f4.type == TensorType([2, 3], .f32))
        #expect(f4.doubles() == [1.5, -2.25, 3.0, 0.0, -0.0, Double(Float(1e-8))])
        let f2 = try NumPyFile.read(path: fixturePath("dtype_f2.npy"))
        #expect(f2.type == TensorType([4], .f16))
        #expect(f2.doubles()?.prefix(3) == [1.0, -0.5, 65504.0])
        #expect(try NumPyFile.read(path: fixturePath("dtype_i1.npy")).doubles() == [-128, -1, 0, 127])
        let u1 = try NumPyFile.read(path: fixturePath("dtype_u1.npy"))
        #expect(u1.type == TensorType([2, 2], .u8) && u1.doubles() == [0, 1, 128, 255])
        #expect(try NumPyFile.read(path: fixturePath("dtype_i4.npy")).doubles() == [-2_147_483_648, 7, 2_147_483_647])
        let i8 = try NumPyFile.read(path: fixturePath("dtype_i8.npy"))
        #expect(i8.type.elementType == .i64)
        #expect((0..<3).map { i8.integer(at: $0) } == [Int64.min, (1 << 53) + 1, Int64.max])
        let b1 = try NumPyFile.read(path: fixturePath("dtype_b1.npy"))
        #expect(b1.type == TensorType([3], .bool) && b1.bytes == [1, 0, 1])
        let scalar = try NumPyFile.read(path: fixturePath("scalar_f4.npy"))
        #expect(scalar.type.shape == [] && scalar.doubles() == [3.5])
        let empty = try NumPyFile.read(path: fixturePath("empty_f4.npy"))
        #expect(empty.type.shape == [0, 3] && empty.bytes.isEmpty)
    }

    @Test func formatVersionsTwoAndThreeRead() throws {
        let two = try NumPyFile.read(path: fixturePath("version2.npy"))
        #expect(two.type == TensorType([2, 3], .i32) && two.doubles() == [0, 1, 2, 3, 4, 5])
        #expect(try NumPyFile.read(path: fixturePath("version3.npy")).doubles() == [0, 1, 2, 3])
    }

    @Test func unsupportedLayoutsAreRefusedWithWhatToDo() {
        #expect(refusal { _ = try NumPyFile.read(path: fixturePath("fortran.npy")) }?.contains("numpy.ascontiguousarray") == true)
        #expect(refusal { _ = try NumPyFile.read(path: fixturePath("bigendian.npy")) }?.contains("big-endian dtype '>f4'") == true)
        #expect(refusal { _ = try NumPyFile.read(path: fixturePath("absent.npy")) } == "no such file")
        #expect(refusal { _ = try NumPyFile.read(path: fixturePath("")) } == "it is a folder, not a regular file; give the path of a file")
    }

    @Test func damagedFilesAreRefusedBeforeAnythingIsAllocated() throws {
        let good = try NumPyFile.encode(Constant.from(name: "x", type: TensorType([2, 2], .f32), values: [1, 2, 3, 4]))
        #expect(refusal { _ = try NumPyFile.decode(Array(good.dropLast(1)), source: "t") }?.contains("data is truncated") == true)
        #expect(refusal { _ = try NumPyFile.decode(good + [0], source: "t") }?.contains("1 bytes after the data") == true)
        var huge = good
        huge[8] = 0xFF
        huge[9] = 0xFF
        #expect(refusal { _ = try NumPyFile.decode(huge, source: "t") }?.contains("runs past the end") == true)
        #expect(refusal { _ = try NumPyFile.decode(Array("not numpy at all".utf8), source: "t") }?.contains("magic string") == true)
        let absurd = Array("\u{93}NUMPY".unicodeScalars.map { UInt8($0.value) }) + [1, 0]
        let header = Array("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n".utf8)
        let bytes = absurd + [UInt8(header.count & 0xFF), UInt8(header.count >> 8)] + header
        #expect(refusal { _ = try NumPyFile.decode(bytes, source: "t") }?.contains("absurdly large") == true)
    }

    @Test func writtenFilesReadBackBitForBit() throws {
        let folder = try temporaryFolder()
        let values = Constant.from(name: "values", type: TensorType([3, 2], .i32), values: [-3, -2, -1, 0, 1, 2])
        try NumPyFile.write(values, path: folder + "/values.npy")
        let back = try NumPyFile.read(path: folder + "/values.npy")
        #expect(back == values)
        #expect(refusal { try NumPyFile.write(Constant(name: "b", type: TensorType([1], .bf16), bytes: [0, 0]), path: folder + "/b.npy") }?
            .contains("bf16 has no NumPy dtype") == true)
        #expect(!FileManager.default.fileExists(atPath: folder + "/b.npy"))
    }

    @Test func archivesReadStoredAndDeflatedMembersAndWriteStoredOnes() throws {
        let stored = try NumPyFile.readArchive(path: fixturePath("archive_stored.npz"))
        #expect(stored.map(\.name) == ["a", "b"])
        #expect(stored[0].doubles() == [0, 1, 2, 3, 4] && stored[1].doubles() == [1, 0, 0, 1])
        let deflated = try NumPyFile.readArchive(path: fixturePath("archive_deflate.npz"))
        let byName = Dictionary(uniqueKeysWithValues: deflated.map { ($0.name, $0) })
        let weights = try #require(byName["weights"])
        #expect(weights.type == TensorType([10, 100], .f32))
        #expect(weights.doubles()?.first == -1 && weights.doubles()?.last == 1)
        #expect(byName["mask"]?.bytes == (0..<12).map { $0 % 3 == 0 ? 1 : 0 })

        let folder = try temporaryFolder()
        try NumPyFile.writeArchive(stored, path: folder + "/copy.npz")
        #expect(try NumPyFile.readArchive(path: folder + "/copy.npz") == stored)
        #expect(refusal { try NumPyFile.writeArchive([stored[0], stored[0]], path: folder + "/twice.npz") }?.contains("given twice") == true)
    }

    @Test func aCorruptedArchiveMemberIsRefused() throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixturePath("archive_stored.npz"))))
        // A byte of the first member's data (after its 128-byte .npy header): the CRC no longer matches.
        let folder = try temporaryFolder()
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        let start = try #require(bytes.indices.first { bytes[$0...].starts(with: magic) })
        bytes[start + 130] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: folder + "/bad.npz"))
        let message = refusal { _ = try NumPyFile.readArchive(path: folder + "/bad.npz") }
        #expect(message?.lowercased().contains("crc") == true)
        #expect(refusal { _ = try NumPyFile.readArchive(path: fixturePath("dtype_f4.npy")) } != nil)
    }
}
