// Reading and writing NumPy tensor files: `.npy` (format 1.0, 2.0, 3.0) and `.npz` archives of them.
// Every length and shape is checked against the file's real size before anything is allocated.

import Foundation
import SieveIR

/// NumPy `.npy` and `.npz` files as constants: a tensor type and its little-endian bytes, the
/// representation an `.npy` file's data already has (the interpreter's `Tensor(constant)` decodes them).
///
/// Supported dtypes: `<f4`, `<f2`, `|i1`, `|u1`, `<i2`, `<u2`, `<i4`, `<i8`, `|b1` (bf16, float8, float4 and the 4- and
/// 2-bit integers have no NumPy dtype).
/// Only C-order (row-major) little-endian data is read. Every failure is a `DiagnosticError`
/// whose location names the file (and the archive member).
public enum NumPyFile {
    /// The largest header accepted; NumPy's own loader stops at 10 000 bytes by default.
    public static let maxHeaderLength = 1 << 20
    /// The largest rank accepted (NumPy's limit).
    public static let maxRank = 64

    /// Reads one tensor from a `.npy` file, named after the file (without folder and `.npy`).
    public static func read(path: String) throws(DiagnosticError) -> Constant {
        try decode(readFile(path), source: path, name: memberName(lastPathComponent(path)))
    }

    /// Writes one tensor to a `.npy` file atomically (a temporary file in the same folder, then a rename).
    public static func write(_ tensor: Constant, path: String) throws(DiagnosticError) {
        try writeFileAtomically(encode(tensor, source: path), path: path)
    }

    /// Reads every `.npy` member of a `.npz` archive, in archive order, named without the `.npy` suffix
    /// as `numpy.load` names them. Stored and deflate-compressed members are supported.
    public static func readArchive(path: String) throws(DiagnosticError) -> [Constant] {
        let bytes = try readFile(path)
        let archive = try ZipReader(bytes: bytes, source: path)
        var result: [Constant] = []
        for entry in archive.entries where !entry.name.hasSuffix("/") {
            let member = try archive.contents(of: entry)
            result.append(try decode(member, source: "\(path)[\(entry.name)]", name: memberName(entry.name)))
        }
        return result
    }

    /// Writes tensors to an uncompressed `.npz` archive atomically, each as member `name.npy` after
    /// the constant's name.
    public static func writeArchive(_ tensors: [Constant], path: String) throws(DiagnosticError) {
        var seen: Set<String> = []
        var members: [(name: String, bytes: [UInt8])] = []
        for tensor in tensors {
            let name = tensor.name
            guard !name.isEmpty else { throw npyError(path, "archive member names must not be empty") }
            guard seen.insert(name).inserted else { throw npyError(path, "archive member '\(name)' is given twice") }
            members.append(("\(name).npy", try encode(tensor, source: "\(path)[\(name).npy]")))
        }
        try writeFileAtomically(try storedZip(members, source: path), path: path)
    }

    /// Decodes the bytes of one `.npy` file into a dense constant called `name`; `source` names the
    /// file in diagnostics.
    public static func decode(_ bytes: [UInt8], source: String, name: String = "npy") throws(DiagnosticError) -> Constant {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw npyError(source, "not a NumPy .npy file: it does not start with the magic string \\x93NUMPY")
        }
        let major = bytes[6], minor = bytes[7]
        guard (1...3).contains(major), minor == 0 else {
            throw npyError(source, "unsupported .npy format version \(major).\(minor); versions 1.0, 2.0 and 3.0 are supported")
        }
        let headerStart = major == 1 ? 10 : 12
        guard bytes.count >= headerStart else { throw npyError(source, "file ends inside the .npy preamble") }
        let headerLength = major == 1
            ? Int(bytes[8]) | Int(bytes[9]) << 8
            : Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        guard headerLength <= maxHeaderLength else {
            throw npyError(source, "header length \(headerLength) exceeds the limit of \(maxHeaderLength) bytes")
        }
        guard headerLength <= bytes.count - headerStart else {
            throw npyError(source, "header of \(headerLength) bytes runs past the end of the \(bytes.count)-byte file")
        }
        let headerBytes = bytes[headerStart..<(headerStart + headerLength)]
        let text: String
        if major == 3 {
            guard let decoded = String(validating: headerBytes, as: UTF8.self) else {
                throw npyError(source, "format 3.0 header is not valid UTF-8")
            }
            text = decoded
        } else {
            // Formats 1.0 and 2.0 use Latin-1: every byte is one code point.
            text = String(String.UnicodeScalarView(headerBytes.map { Unicode.Scalar($0) }))
        }
        let header = try parseHeader(text, source: source)

        let type = TensorType(header.shape, header.elementType)
        guard let count = type.elementCount else {
            throw npyError(source, "shape \(header.shape) has more than 2^40 elements")
        }
        let dataStart = headerStart + headerLength
        let needed = count * header.elementType.byteSize
        let available = bytes.count - dataStart
        guard available >= needed else {
            throw npyError(source, "data is truncated: shape \(header.shape) of \(header.descr) needs \(needed) bytes, the file holds \(available)")
        }
        guard available == needed else {
            throw npyError(source, "file has \(available - needed) bytes after the data of shape \(header.shape) of \(header.descr)")
        }
        // Bool data is read as 0 or 1, as NumPy reads any non-zero byte as True.
        var data = Array(bytes[dataStart...])
        if header.elementType == .bool { data = data.map { $0 != 0 ? 1 : 0 } }
        return Constant(name: name, type: type, bytes: data)
    }

    /// Encodes a constant as the bytes of a `.npy` file (format 1.0, or 2.0 for very long headers);
    /// an `nm` constant is written unpacked, under its plain type.
    public static func encode(_ tensor: Constant, source: String = "<memory>") throws(DiagnosticError) -> [UInt8] {
        guard let descr = descriptor(for: tensor.type.elementType) else {
            throw npyError(source, "\(tensor.type.elementType) has no NumPy dtype; cast the tensor to f32 before writing it")
        }
        let data = tensor.type.layout == .dense ? tensor.bytes : try NMPacking.unpack(tensor).bytes
        guard let count = tensor.type.elementCount, data.count == count * tensor.type.elementType.byteSize else {
            throw npyError(source, "tensor @\(tensor.name) holds \(data.count) bytes, which does not fit its shape \(tensor.type.shape) of \(tensor.type.elementType)")
        }
        let dimensions = tensor.type.shape
        let shape: String
        switch dimensions.count {
        case 0: shape = "()"
        case 1: shape = "(\(dimensions[0]),)"
        default: shape = "(" + dimensions.map(String.init).joined(separator: ", ") + ")"
        }
        var header = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }".utf8)
        let major: UInt8 = header.count + 11 <= 65535 ? 1 : 2
        let preamble = major == 1 ? 10 : 12
        // NumPy pads with spaces so the data starts 64-byte aligned, and ends the header with a newline.
        let padding = (64 - (preamble + header.count + 1) % 64) % 64
        header += [UInt8](repeating: 0x20, count: padding) + [0x0A]
        var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, major, 0]
        let length = header.count
        bytes += major == 1
            ? [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF)]
            : [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24 & 0xFF)]
        bytes += header
        bytes += data
        return bytes
    }

    /// The name `numpy.load` gives a file or archive member: without a trailing `.npy`.
    static func memberName(_ fileName: String) -> String {
        fileName.hasSuffix(".npy") ? String(fileName.dropLast(4)) : fileName
    }

    /// The last component of a slash-separated path.
    static func lastPathComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    /// The NumPy dtype string of an element type, or nil when NumPy has none.
    static func descriptor(for elementType: ElementType) -> String? {
        switch elementType {
        case .f32: return "<f4"
        case .f16: return "<f2"
        case .i8: return "|i1"
        case .u8: return "|u1"
        case .i32: return "<i4"
        case .i64: return "<i8"
        case .bool: return "|b1"
        case .i16: return "<i2"
        case .u16: return "<u2"
        case .bf16, .i4, .u4, .i2, .u2, .f8e4m3fn, .f8e5m2, .f4e2m1: return nil
        }
    }

    /// The element type of a NumPy dtype string; one-byte types may be written with `|`, `<` or no order.
    static func elementType(for descr: String) -> ElementType? {
        switch descr {
        case "<f4": return .f32
        case "<f2": return .f16
        case "|i1", "<i1", "i1": return .i8
        case "|u1", "<u1", "u1": return .u8
        case "<i4": return .i32
        case "<i8": return .i64
        case "<i2": return .i16
        case "<u2": return .u16
        case "|b1", "<b1", "b1", "?": return .bool
        default: return nil
        }
    }

    private struct Header {
        var descr: String
        var elementType: ElementType
        var shape: [Int]
    }

    /// Parses the header, a Python dict literal such as
    /// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
    private static func parseHeader(_ text: String, source: String) throws(DiagnosticError) -> Header {
        var parser = HeaderParser(text: Array(text.unicodeScalars), source: source)
        let entries = try parser.parseDictionary()
        var descr: String?, fortranOrder: Bool?, shape: [Int]?
        for (key, value) in entries {
            switch (key, value) {
            case let ("descr", .string(text)): descr = text
            case let ("fortran_order", .bool(flag)): fortranOrder = flag
            case let ("shape", .tuple(dims)): shape = dims
            case ("descr", _), ("fortran_order", _), ("shape", _):
                throw npyError(source, "header key '\(key)' has a value of the wrong kind")
            default:
                throw npyError(source, "header has an unexpected key '\(key)'; expected descr, fortran_order and shape")
            }
        }
        guard let descr, let fortranOrder, let shape else {
            throw npyError(source, "header must have the keys descr, fortran_order and shape")
        }
        guard !fortranOrder else {
            throw npyError(source, "Fortran-order (column-major) data is not supported; save a C-contiguous array (numpy.ascontiguousarray)")
        }
        guard let elementType = elementType(for: descr) else {
            if descr.hasPrefix(">") {
                throw npyError(source, "big-endian dtype '\(descr)' is not supported; save the array with a little-endian dtype")
            }
            throw npyError(source, "unsupported dtype '\(descr)'; supported: <f4, <f2, |i1, |u1, <i4, <i8, |b1")
        }
        return Header(descr: descr, elementType: elementType, shape: shape)
    }
}

/// A value in an `.npy` header.
private enum HeaderValue {
    case string(String)
    case bool(Bool)
    case tuple([Int])
}

/// A small parser for the dict literal of an `.npy` header: string keys, string, boolean and
/// integer-tuple values, Python's optional trailing commas, and nothing else.
private struct HeaderParser {
    var text: [Unicode.Scalar]
    var position = 0
    var source: String

    init(text: [Unicode.Scalar], source: String) {
        self.text = text
        self.source = source
    }

    mutating func parseDictionary() throws(DiagnosticError) -> [(String, HeaderValue)] {
        try expect("{")
        var entries: [(String, HeaderValue)] = []
        while true {
            skipSpaces()
            if peek() == "}" { position += 1; break }
            let key = try parseString()
            try expect(":")
            entries.append((key, try parseValue()))
            skipSpaces()
            if peek() == "," { position += 1; continue }
            try expect("}")
            break
        }
        skipSpaces()
        guard position == text.count else { throw fail("unexpected text after the header dictionary") }
        return entries
    }

    private mutating func parseValue() throws(DiagnosticError) -> HeaderValue {
        skipSpaces()
        switch peek() {
        case "'", "\"": return .string(try parseString())
        case "(": return .tuple(try parseTuple())
        case "T", "F":
            if matchWord("True") { return .bool(true) }
            if matchWord("False") { return .bool(false) }
            throw fail("expected True or False")
        default: throw fail("expected a string, a boolean or a tuple")
        }
    }

    private mutating func parseTuple() throws(DiagnosticError) -> [Int] {
        try expect("(")
        var values: [Int] = []
        while true {
            skipSpaces()
            if peek() == ")" { position += 1; break }
            values.append(try parseDimension())
            guard values.count <= NumPyFile.maxRank else {
                throw fail("shape has more than \(NumPyFile.maxRank) dimensions")
            }
            skipSpaces()
            if peek() == "," { position += 1; continue }
            try expect(")")
            break
        }
        return values
    }

    private mutating func parseDimension() throws(DiagnosticError) -> Int {
        var digits = ""
        while let scalar = peek(), ("0"..."9").contains(scalar) {
            digits.unicodeScalars.append(scalar)
            position += 1
            // Past 2^40 a dimension is absurd whatever follows; stop reading before the number grows.
            guard digits.count <= 15 else { throw fail("dimension \(digits)... is absurdly large") }
        }
        if peek() == "L" { position += 1 }  // Python 2 long literals in old files
        guard let value = Int(digits) else { throw fail("expected a non-negative dimension") }
        guard value <= TensorType.maxElementCount else { throw fail("dimension \(value) exceeds 2^40") }
        return value
    }

    private mutating func parseString() throws(DiagnosticError) -> String {
        skipSpaces()
        guard let quote = peek(), quote == "'" || quote == "\"" else { throw fail("expected a quoted string") }
        position += 1
        var value = ""
        while let scalar = peek(), scalar != quote {
            guard scalar != "\\" else { throw fail("escapes in header strings are not supported") }
            value.unicodeScalars.append(scalar)
            position += 1
        }
        try expect(quote)
        return value
    }

    private mutating func matchWord(_ word: String) -> Bool {
        let scalars = Array(word.unicodeScalars)
        guard position + scalars.count <= text.count, Array(text[position..<(position + scalars.count)]) == scalars else {
            return false
        }
        position += scalars.count
        return true
    }

    private mutating func expect(_ scalar: Unicode.Scalar) throws(DiagnosticError) {
        skipSpaces()
        guard peek() == scalar else { throw fail("expected '\(scalar)'") }
        position += 1
    }

    private mutating func skipSpaces() {
        while let scalar = peek(), scalar == " " || scalar == "\n" || scalar == "\t" || scalar == "\r" { position += 1 }
    }

    private func peek() -> Unicode.Scalar? {
        position < text.count ? text[position] : nil
    }

    private func fail(_ message: String) -> DiagnosticError {
        npyError(source, "malformed header at character \(position): \(message)")
    }
}

/// A diagnostic about a tensor file; the location names the file.
func npyError(_ source: String, _ message: String) -> DiagnosticError {
    DiagnosticError(.error(.file(path: source, line: 1, column: 1), message))
}

/// Reads a whole regular file; a FIFO, device or folder is refused without blocking (see `RegularFile`).
func readFile(_ path: String) throws(DiagnosticError) -> [UInt8] {
    do {
        return try RegularFile.readAll(path: path)
    } catch {
        throw npyError(path, error.reason)
    }
}

/// Writes a file so that readers see either the old file or the whole new one: the bytes go to a
/// temporary file in the same folder (same file system), which is then renamed over the target.
func writeFileAtomically(_ bytes: [UInt8], path: String) throws(DiagnosticError) {
    let target = URL(fileURLWithPath: path)
    let temporary = target.deletingLastPathComponent()
        .appendingPathComponent(".\(target.lastPathComponent).\(UUID().uuidString).tmp")
    do {
        try Data(bytes).write(to: temporary)
    } catch {
        throw npyError(path, "cannot write the file: \(error.localizedDescription)")
    }
    guard rename(temporary.path, target.path) == 0 else {
        let reason = String(cString: strerror(errno))
        try? FileManager.default.removeItem(at: temporary)
        throw npyError(path, "cannot move the written file into place: \(reason)")
    }
}
