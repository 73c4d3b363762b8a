// The zip container of `.npz` files: reading stored and deflated members (zip64 included), writing stored ones.
// The central directory is trusted only after every offset and size in it is checked against the file.

import CZlib
import SieveIR

/// Little-endian reads from a byte array that fail with a diagnostic instead of trapping.
private struct ByteReader {
    let bytes: [UInt8]
    let source: String

    func integer(at offset: Int, size: Int) throws(DiagnosticError) -> UInt64 {
        guard offset >= 0, size <= bytes.count, offset <= bytes.count - size else {
            throw npyError(source, "zip structure at byte \(offset) runs past the end of the \(bytes.count)-byte file")
        }
        var value: UInt64 = 0
        for byte in 0..<size { value |= UInt64(bytes[offset + byte]) << (8 * UInt64(byte)) }
        return value
    }

    func u16(_ offset: Int) throws(DiagnosticError) -> Int { Int(try integer(at: offset, size: 2)) }
    func u32(_ offset: Int) throws(DiagnosticError) -> Int { Int(try integer(at: offset, size: 4)) }

    /// A 64-bit size or offset, refused when it could not possibly lie inside the file.
    func u64(_ offset: Int) throws(DiagnosticError) -> Int {
        let value = try integer(at: offset, size: 8)
        guard value <= UInt64(bytes.count) else {
            throw npyError(source, "zip64 field at byte \(offset) holds \(value), beyond the \(bytes.count)-byte file")
        }
        return Int(value)
    }
}

/// One member as the central directory describes it.
struct ZipEntry {
    var name: String
    var method: Int
    var flags: Int
    var crc: UInt32
    var compressedSize: Int
    var uncompressedSize: Int
    var localHeaderOffset: Int
}

/// A zip archive held in memory, with its central directory parsed and checked.
struct ZipReader {
    private let reader: ByteReader
    /// The members in directory order.
    private(set) var entries: [ZipEntry] = []
    /// Where the central directory starts; member data must end before it.
    private var directoryStart = 0

    private static let endSignature = 0x0605_4B50
    private static let zip64LocatorSignature = 0x0706_4B50
    private static let zip64EndSignature = 0x0606_4B50
    private static let centralSignature = 0x0201_4B50
    private static let localSignature = 0x0403_4B50

    init(bytes: [UInt8], source: String) throws(DiagnosticError) {
        reader = ByteReader(bytes: bytes, source: source)
        guard let end = try findEndRecord() else {
            throw npyError(source, "not a zip archive: no end-of-central-directory record")
        }
        var count = try reader.u16(end + 10)
        var size = try reader.u32(end + 12)
        var offset = try reader.u32(end + 16)
        guard try reader.u16(end + 4) == 0, try reader.u16(end + 6) == 0 else {
            throw npyError(source, "multi-part zip archives are not supported")
        }
        if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            (count, size, offset) = try ZipReader.zip64Directory(reader, end: end)
        }
        guard offset <= bytes.count, size <= bytes.count - offset else {
            throw npyError(source, "the central directory (\(size) bytes at byte \(offset)) lies outside the \(bytes.count)-byte file")
        }
        // Every directory record takes at least 46 bytes, which bounds what a forged count can make us do.
        guard count <= size / 46 else {
            throw npyError(source, "the central directory claims \(count) members but only has room for \(size / 46)")
        }
        directoryStart = offset
        var position = offset
        for _ in 0..<count {
            let entry = try readCentralRecord(at: &position, directoryEnd: offset + size)
            entries.append(entry)
        }
    }

    /// Finds the end-of-central-directory record, searching back over a possible trailing comment.
    private func findEndRecord() throws(DiagnosticError) -> Int? {
        let bytes = reader.bytes
        guard bytes.count >= 22 else { return nil }
        let lowest = max(0, bytes.count - 22 - 0xFFFF)
        var candidate = bytes.count - 22
        while candidate >= lowest {
            if try reader.u32(candidate) == ZipReader.endSignature { return candidate }
            candidate -= 1
        }
        return nil
    }

    /// Reads the zip64 end record that the locator just before the classic end record points at.
    private static func zip64Directory(_ reader: ByteReader, end: Int) throws(DiagnosticError) -> (Int, Int, Int) {
        let locator = end - 20
        guard locator >= 0, try reader.u32(locator) == zip64LocatorSignature else {
            throw npyError(reader.source, "zip64 archive without a zip64 end-of-central-directory locator")
        }
        let record = try reader.u64(locator + 8)
        guard try reader.u32(record) == zip64EndSignature else {
            throw npyError(reader.source, "zip64 end-of-central-directory record not found at byte \(record)")
        }
        return (try reader.u64(record + 32), try reader.u64(record + 40), try reader.u64(record + 48))
    }

    private func readCentralRecord(at position: inout Int, directoryEnd: Int) throws(DiagnosticError) -> ZipEntry {
        let start = position
        guard try reader.u32(start) == ZipReader.centralSignature else {
            throw npyError(reader.source, "corrupt central directory: no member record at byte \(start)")
        }
        let flags = try reader.u16(start + 8)
        let method = try reader.u16(start + 10)
        let crc = UInt32(try reader.u32(start + 16))
        var compressed = try reader.u32(start + 20)
        var uncompressed = try reader.u32(start + 24)
        let nameLength = try reader.u16(start + 28)
        let extraLength = try reader.u16(start + 30)
        let commentLength = try reader.u16(start + 32)
        var localOffset = try reader.u32(start + 42)
        let nameStart = start + 46
        let next = nameStart + nameLength + extraLength + commentLength
        guard next <= directoryEnd else {
            throw npyError(reader.source, "member record at byte \(start) runs past the central directory")
        }
        let name = String(decoding: reader.bytes[nameStart..<(nameStart + nameLength)], as: UTF8.self)

        // Zip64 sizes and offset live in extra field 0x0001, present only for the fields that overflowed.
        var extra = nameStart + nameLength
        let extraEnd = extra + extraLength
        while extra + 4 <= extraEnd {
            let id = try reader.u16(extra), length = try reader.u16(extra + 2)
            guard extra + 4 + length <= extraEnd else {
                throw npyError(reader.source, "member '\(name)' has a malformed extra field")
            }
            if id == 0x0001 {
                var field = extra + 4
                func take() throws(DiagnosticError) -> Int {
                    guard field + 8 <= extra + 4 + length else {
                        throw npyError(reader.source, "member '\(name)' has a truncated zip64 extra field")
                    }
                    defer { field += 8 }
                    return try reader.u64(field)
                }
                if uncompressed == 0xFFFF_FFFF { uncompressed = try take() }
                if compressed == 0xFFFF_FFFF { compressed = try take() }
                if localOffset == 0xFFFF_FFFF { localOffset = try take() }
            }
            extra += 4 + length
        }
        position = next
        return ZipEntry(name: name, method: method, flags: flags, crc: crc, compressedSize: compressed,
                        uncompressedSize: uncompressed, localHeaderOffset: localOffset)
    }

    /// The uncompressed bytes of a member, checked against its CRC-32.
    func contents(of entry: ZipEntry) throws(DiagnosticError) -> [UInt8] {
        let member = "member '\(entry.name)'"
        guard entry.flags & 1 == 0 else { throw npyError(reader.source, "\(member) is encrypted, which is not supported") }
        let header = entry.localHeaderOffset
        guard try reader.u32(header) == ZipReader.localSignature else {
            throw npyError(reader.source, "\(member): no local header at byte \(header)")
        }
        // The local header repeats name and extra field with lengths of its own; sizes come from the directory.
        let dataStart = header + 30 + (try reader.u16(header + 26)) + (try reader.u16(header + 28))
        guard dataStart <= directoryStart, entry.compressedSize <= directoryStart - dataStart else {
            throw npyError(reader.source, "\(member): its \(entry.compressedSize) bytes of data at byte \(dataStart) run past the member area")
        }
        let data = reader.bytes[dataStart..<(dataStart + entry.compressedSize)]
        let contents: [UInt8]
        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.uncompressedSize else {
                throw npyError(reader.source, "\(member) is stored uncompressed but declares \(entry.compressedSize) stored and \(entry.uncompressedSize) uncompressed bytes")
            }
            contents = Array(data)
        case 8:
            contents = try inflate(data, expectedSize: entry.uncompressedSize, what: member)
        default:
            throw npyError(reader.source, "\(member) uses compression method \(entry.method); only stored (0) and deflate (8) are supported")
        }
        guard crc32(of: contents) == entry.crc else {
            throw npyError(reader.source, "\(member) fails its CRC-32 check; the archive is corrupt")
        }
        return contents
    }

    /// Inflates raw deflate data in chunks, so memory grows only with output actually produced and
    /// never past the size the directory declares.
    private func inflate(_ data: ArraySlice<UInt8>, expectedSize: Int, what: String) throws(DiagnosticError) -> [UInt8] {
        guard data.count <= Int(UInt32.max) else {
            throw npyError(reader.source, "\(what) has more than 4 GiB of compressed data, which is not supported")
        }
        var output: [UInt8] = []
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw npyError(reader.source, "\(what): zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var failure: String?
        var input = Array(data)
        input.withUnsafeMutableBufferPointer { inputBuffer in
            stream.next_in = inputBuffer.baseAddress
            stream.avail_in = UInt32(inputBuffer.count)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { chunkBuffer -> Int32 in
                    stream.next_out = chunkBuffer.baseAddress
                    stream.avail_out = UInt32(chunkBuffer.count)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                guard output.count + produced <= expectedSize else {
                    failure = "inflates to more than the \(expectedSize) bytes it declares"
                    return
                }
                output.append(contentsOf: chunk[0..<produced])
                switch status {
                case Z_STREAM_END:
                    return
                case Z_OK:
                    continue
                case Z_BUF_ERROR where stream.avail_in == 0:
                    failure = "compressed data is truncated"
                    return
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                    failure = "compressed data is corrupt (\(message))"
                    return
                }
            }
        }
        if let failure { throw npyError(reader.source, "\(what): \(failure)") }
        guard output.count == expectedSize else {
            throw npyError(reader.source, "\(what) inflates to \(output.count) bytes, its header declares \(expectedSize)")
        }
        return output
    }
}

/// The CRC-32 that zip uses, computed by zlib.
func crc32(of bytes: [UInt8]) -> UInt32 {
    var crc: UInt = 0
    bytes.withUnsafeBufferPointer { buffer in
        guard let base = buffer.baseAddress else { return }
        var offset = 0
        // zlib takes 32-bit lengths; feed large buffers in pieces.
        while offset < buffer.count {
            let length = min(buffer.count - offset, 1 << 30)
            crc = CZlib.crc32(crc, base + offset, UInt32(length))
            offset += length
        }
    }
    return UInt32(truncatingIfNeeded: crc)
}

/// An uncompressed zip archive of the given members, with fixed timestamps so output is reproducible.
func storedZip(_ members: [(name: String, bytes: [UInt8])], source: String) throws(DiagnosticError) -> [UInt8] {
    var archive: [UInt8] = []
    var directory: [UInt8] = []
    func append16(_ value: Int, to bytes: inout [UInt8]) {
        bytes += [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)]
    }
    func append32(_ value: Int, to bytes: inout [UInt8]) {
        bytes += [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 24 & 0xFF)]
    }
    let limit = 0xFFFF_FFFE
    guard members.count < 0xFFFF else { throw npyError(source, "an archive holds at most 65534 tensors") }
    let dosDate = 1 << 5 | 1  // 1980-01-01, the earliest date zip can spell
    for member in members {
        let name = Array(member.name.utf8)
        guard name.count <= 0xFFFF else { throw npyError(source, "member name '\(member.name)' is too long") }
        let offset = archive.count
        guard member.bytes.count <= limit, offset <= limit - member.bytes.count else {
            throw npyError(source, "archive would exceed 4 GiB; write large tensors as separate .npy files")
        }
        let crc = Int(crc32(of: member.bytes))
        // Bit 11 says the name is UTF-8.
        let flags = name.allSatisfy { $0 < 0x80 } ? 0 : 1 << 11
        // The local header and the central directory record share their first fields.
        func record(central: Bool) -> [UInt8] {
            var record: [UInt8] = []
            append32(central ? 0x0201_4B50 : 0x0403_4B50, to: &record)
            if central { append16(20, to: &record) }  // version made by: 2.0
            append16(20, to: &record)  // version needed: 2.0
            append16(flags, to: &record)
            append16(0, to: &record)  // method: stored
            append16(0, to: &record)  // time: 00:00:00
            append16(dosDate, to: &record)
            append32(crc, to: &record)
            append32(member.bytes.count, to: &record)
            append32(member.bytes.count, to: &record)
            append16(name.count, to: &record)
            append16(0, to: &record)  // extra field length
            if central {
                append16(0, to: &record)  // comment length
                append16(0, to: &record)  // disk number
                append16(0, to: &record)  // internal attributes
                append32(0, to: &record)  // external attributes
                append32(offset, to: &record)
            }
            return record + name
        }
        archive += record(central: false) + member.bytes
        directory += record(central: true)
    }
    guard archive.count <= limit - directory.count else {
        throw npyError(source, "archive would exceed 4 GiB; write large tensors as separate .npy files")
    }
    let directoryOffset = archive.count
    archive += directory
    append32(0x0605_4B50, to: &archive)
    append16(0, to: &archive)  // this disk
    append16(0, to: &archive)  // disk with the directory
    append16(members.count, to: &archive)
    append16(members.count, to: &archive)
    append32(directory.count, to: &archive)
    append32(directoryOffset, to: &archive)
    append16(0, to: &archive)  // comment length
    return archive
}
