// Decoding ONNX TensorProto messages (initializers, Constant nodes, test-data .pb files) into IR constants.
// Every size is checked against the declared type before anything is allocated, so a hostile file cannot exhaust memory.

import Foundation
import SieveFormats
import SieveIR
import SieveInterpreter
import SwiftProtobuf

/// Why a tensor could not be decoded; the importer attaches the location.
struct TensorDecodingError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// Limits on tensors read from a model or a .pb file.
public enum TensorLimits {
    /// The largest rank accepted; real models stay far below it.
    public static let maxRank = 32
    /// The largest tensor accepted from a file, in bytes (4 GiB, like the model file itself).
    public static let maxBytes = 4 << 30
}

/// The IR element type of an ONNX `TensorProto.DataType` code, or nil when the IR has none.
func irElementType(onnxCode code: Int32) -> ElementType? {
    switch Onnx_TensorProto.DataType(rawValue: Int(code)) {
    case .float: return .f32
    case .float16: return .f16
    case .bfloat16: return .bf16
    case .int8: return .i8
    case .uint8: return .u8
    case .int32: return .i32
    case .int64: return .i64
    case .bool: return .bool
    case .int16: return .i16
    case .uint16: return .u16
    case .int4: return .i4
    case .uint4: return .u4
    case .int2: return .i2
    case .uint2: return .u2
    case .float8E4M3Fn: return .f8e4m3fn
    case .float8E5M2: return .f8e5m2
    case .float4E2M1: return .f4e2m1
    default: return nil
    }
}

/// The ONNX spelling of an element type code, for messages.
func onnxTypeName(_ code: Int32) -> String {
    guard let type = Onnx_TensorProto.DataType(rawValue: Int(code)) else { return "type code \(code)" }
    switch type {
    case .undefined: return "undefined"
    case .float: return "float"
    case .uint8: return "uint8"
    case .int8: return "int8"
    case .uint16: return "uint16"
    case .int16: return "int16"
    case .int32: return "int32"
    case .int64: return "int64"
    case .string: return "string"
    case .bool: return "bool"
    case .float16: return "float16"
    case .double: return "double"
    case .uint32: return "uint32"
    case .uint64: return "uint64"
    case .complex64: return "complex64"
    case .complex128: return "complex128"
    case .bfloat16: return "bfloat16"
    case .float8E4M3Fn: return "float8e4m3fn"
    case .float8E4M3Fnuz: return "float8e4m3fnuz"
    case .float8E5M2: return "float8e5m2"
    case .float8E5M2Fnuz: return "float8e5m2fnuz"
    case .uint4: return "uint4"
    case .int4: return "int4"
    case .float4E2M1: return "float4e2m1"
    case .float8E8M0: return "float8e8m0"
    case .uint2: return "uint2"
    case .int2: return "int2"
    }
}

/// The IR element type for an ONNX code, or an error naming the unsupported type.
func requireElementType(onnxCode code: Int32, _ what: String) throws(TensorDecodingError) -> ElementType {
    guard let type = irElementType(onnxCode: code) else {
        throw TensorDecodingError("\(what) has element type \(onnxTypeName(code)), which Sieve does not support (supported: float, float16, bfloat16, int8, uint8, int16, uint16, int32, int64, bool, and for quantization int4, uint4, int2, uint2, float8e4m3fn, float8e5m2, float4e2m1)")
    }
    return type
}

/// Checks declared dims and returns the tensor type; refuses negative, absurd or overflowing shapes.
func checkedTensorType(dims: [Int64], elementType: ElementType, _ what: String) throws(TensorDecodingError) -> TensorType {
    guard dims.count <= TensorLimits.maxRank else {
        throw TensorDecodingError("\(what) has rank \(dims.count), more than the limit of \(TensorLimits.maxRank)")
    }
    var shape: [Int] = []
    for dim in dims {
        guard dim >= 0, dim <= Int64(TensorType.maxElementCount) else {
            throw TensorDecodingError("\(what) has an invalid dimension \(dim)")
        }
        shape.append(Int(dim))
    }
    let type = TensorType(shape, elementType)
    guard let count = type.elementCount, count <= TensorLimits.maxBytes / elementType.byteSize else {
        throw TensorDecodingError("\(what) declares shape \(shape) (more than \(TensorLimits.maxBytes) bytes), which is refused as absurd")
    }
    return type
}

/// Decodes a TensorProto into a constant named `name`.
///
/// - Parameter baseDirectory: the folder external data is resolved in and confined to; nil refuses external data.
func decodeTensor(_ proto: Onnx_TensorProto, name: String, baseDirectory: String?) throws(TensorDecodingError) -> Constant {
    let what = "tensor '\(name)'"
    let elementType = try requireElementType(onnxCode: proto.dataType, what)
    let type = try checkedTensorType(dims: proto.dims, elementType: elementType, what)
    guard let count = type.elementCount else { throw TensorDecodingError("\(what) has an absurd shape") }
    // ONNX packs the sub-byte types (low bits first); the IR holds them one per byte, unpacked below.
    let byteCount = elementType.packedBits.map { (count * $0 + 7) / 8 } ?? count * elementType.byteSize
    if proto.hasSegment {
        throw TensorDecodingError("\(what) is a segment of a larger tensor, which Sieve does not support")
    }
    if let problem = tensorFieldProblem(proto, elementType: elementType, what) {
        throw TensorDecodingError(problem)
    }

    if proto.dataLocation == .external {
        guard let baseDirectory else {
            throw TensorDecodingError("\(what) refers to external data, which is only allowed for tensors in a model file")
        }
        let bytes = try readExternalData(proto, byteCount: byteCount, baseDirectory: baseDirectory, what)
        return Constant(name: name, type: type, bytes: unpackedNarrowElements(bytes, count: count, elementType))
    }
    if proto.hasRawData {
        guard proto.rawData.count == byteCount else {
            throw TensorDecodingError("\(what) has \(proto.rawData.count) bytes of raw_data, but \(type) needs \(byteCount)")
        }
        return Constant(name: name, type: type, bytes: unpackedNarrowElements([UInt8](proto.rawData), count: count, elementType))
    }

    // Typed fields: check the count first, then convert (ONNX keeps 8- and 16-bit types in int32_data, and the
    // sub-byte types packed, one packed byte per int32).
    func requireCount(_ found: Int, _ field: String) throws(TensorDecodingError) {
        let needed = elementType.packedBits == nil ? count : byteCount
        guard found == needed else {
            throw TensorDecodingError("\(what) has \(found) values in \(field), but \(type) needs \(needed)")
        }
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(byteCount)
    func append<T: FixedWidthInteger>(_ raw: T) {
        withUnsafeBytes(of: raw.littleEndian) { bytes.append(contentsOf: $0) }
    }
    switch elementType {
    case .f32:
        try requireCount(proto.floatData.count, "float_data")
        for value in proto.floatData { append(value.bitPattern) }
    case .f16, .bf16, .i16, .u16:
        try requireCount(proto.int32Data.count, "int32_data")
        for value in proto.int32Data { append(UInt16(truncatingIfNeeded: value)) }
    case .f8e4m3fn, .f8e5m2:
        try requireCount(proto.int32Data.count, "int32_data")
        for value in proto.int32Data { append(UInt8(truncatingIfNeeded: value)) }
    case .i4, .u4, .i2, .u2, .f4e2m1:
        try requireCount(proto.int32Data.count, "int32_data")
        let packed = proto.int32Data.map { UInt8(truncatingIfNeeded: $0) }
        return Constant(name: name, type: type, bytes: unpackedNarrowElements(packed, count: count, elementType))
    case .i8:
        try requireCount(proto.int32Data.count, "int32_data")
        for value in proto.int32Data { append(Int8(truncatingIfNeeded: value)) }
    case .u8:
        try requireCount(proto.int32Data.count, "int32_data")
        for value in proto.int32Data { append(UInt8(truncatingIfNeeded: value)) }
    case .bool:
        try requireCount(proto.int32Data.count, "int32_data")
        for value in proto.int32Data { append(UInt8(value != 0 ? 1 : 0)) }
    case .i32:
        try requireCount(proto.int32Data.count, "int32_data")
        for value in proto.int32Data { append(value) }
    case .i64:
        try requireCount(proto.int64Data.count, "int64_data")
        for value in proto.int64Data { append(value) }
    }
    return Constant(name: name, type: type, bytes: bytes)
}

/// ONNX's packed sub-byte elements (two int4, uint4 or float4 per byte, four int2 or uint2, the first in the low bits)
/// as the IR holds them, one per byte: the signed integers sign-extended, the others as they are. Other types'
/// bytes are returned unchanged.
func unpackedNarrowElements(_ bytes: [UInt8], count: Int, _ elementType: ElementType) -> [UInt8] {
    guard let bits = elementType.packedBits else { return bytes }
    let perByte = 8 / bits, mask = UInt8((1 << bits) - 1)
    return (0..<count).map { index in
        let raw = (bytes[index / perByte] >> UInt8((index % perByte) * bits)) & mask
        return UInt8(truncatingIfNeeded: elementType.isInteger ? elementType.wrapping(Int64(raw)) : Int64(raw))
    }
}

/// Reads a tensor's external data, confined to `baseDirectory`.
///
/// Refused: absolute locations, `..` components, locations that resolve (through symbolic links)
/// outside the folder, files with more than one hard link (another name may lie outside), non-regular
/// files, offsets or lengths beyond the file, and lengths that do not match the tensor type.
func readExternalData(_ proto: Onnx_TensorProto, byteCount: Int, baseDirectory: String,
                      _ what: String) throws(TensorDecodingError) -> [UInt8] {
    var location: String?
    var offset = 0
    var length: Int?
    for entry in proto.externalData {
        switch entry.key {
        case "location": location = entry.value
        case "offset", "length":
            guard let value = Int(entry.value), value >= 0 else {
                throw TensorDecodingError("\(what) has an invalid external data \(entry.key) '\(entry.value)'")
            }
            if entry.key == "offset" { offset = value } else { length = value }
        default:
            continue  // `checksum` and future keys do not change what is read.
        }
    }
    guard let location, !location.isEmpty else {
        throw TensorDecodingError("\(what) has external data without a location")
    }
    guard !location.contains("\0") else {
        throw TensorDecodingError("\(what) has an external data location containing a NUL character")
    }
    guard !location.hasPrefix("/") else {
        throw TensorDecodingError("\(what) has an absolute external data location '\(location)'; it must be relative to the model's folder")
    }
    guard !location.split(separator: "/", omittingEmptySubsequences: false).contains("..") else {
        throw TensorDecodingError("\(what) has external data location '\(location)' with a '..' component; it must stay inside the model's folder")
    }
    guard let base = realPath(baseDirectory) else {
        throw TensorDecodingError("cannot resolve the model's folder '\(baseDirectory)'")
    }
    let candidate = base + "/" + location
    guard let resolved = realPath(candidate) else {
        throw TensorDecodingError("\(what) has external data location '\(location)', which does not exist in '\(base)'")
    }
    guard resolved.hasPrefix(base == "/" ? "/" : base + "/") else {
        throw TensorDecodingError("\(what) has external data location '\(location)', which resolves through a symbolic link to '\(resolved)', outside the model's folder '\(base)'")
    }

    // Opened without blocking and checked on the descriptor: a FIFO would otherwise hang the open, and a
    // check of the name before opening could be raced by a swap.
    let file: RegularFile
    do {
        file = try RegularFile(path: resolved, noFollow: true)
    } catch {
        throw TensorDecodingError("cannot read external data '\(location)' of \(what): \(error.reason)")
    }
    guard file.linkCount <= 1 else {
        throw TensorDecodingError("external data '\(location)' of \(what) has \(file.linkCount) hard links; it is refused because another name for it may lie outside the model's folder")
    }
    let fileSize = file.size
    guard offset <= fileSize else {
        throw TensorDecodingError("external data of \(what) starts at offset \(offset), beyond the end of '\(location)' (\(fileSize) bytes)")
    }
    let available = fileSize - offset
    if let length {
        guard length <= available else {
            throw TensorDecodingError("external data of \(what) at offset \(offset) with length \(length) runs past the end of '\(location)' (\(fileSize) bytes)")
        }
        guard length == byteCount else {
            throw TensorDecodingError("external data of \(what) has length \(length) bytes, but the tensor type needs \(byteCount)")
        }
    } else {
        guard available == byteCount else {
            throw TensorDecodingError("external data of \(what) has \(available) bytes from offset \(offset) to the end of '\(location)', but the tensor type needs \(byteCount)")
        }
    }
    let bytes: [UInt8]
    do {
        bytes = try file.read(offset: offset, count: byteCount)
    } catch {
        throw TensorDecodingError("cannot read external data '\(location)' of \(what): \(error.reason)")
    }
    guard bytes.count == byteCount else {
        throw TensorDecodingError("external data '\(location)' of \(what) ended after \(bytes.count) of \(byteCount) bytes")
    }
    return bytes
}

/// The canonical absolute path with every symbolic link resolved, or nil when it does not exist.
func realPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// Reads a whole regular file after checking its size against a limit, with messages instead of crashes;
/// a FIFO, device or folder is refused without blocking (see `RegularFile`).
func readFileChecked(_ path: String, limit: Int, what: String) throws(DiagnosticError) -> Data {
    do {
        return Data(try RegularFile.readAll(path: path, limit: limit))
    } catch {
        throw DiagnosticError(.error(ModelLocation.whole(path), "cannot read \(what) '\(path)': \(error.reason)"))
    }
}

/// Decoding options shared by every protobuf read: a nesting limit so hostile input cannot recurse deeply.
var protobufDecodingOptions: BinaryDecodingOptions {
    var options = BinaryDecodingOptions()
    options.messageDepthLimit = 64
    return options
}

/// Reading ONNX `TensorProto` files (`.pb`), the format of the ONNX test data.
public enum ONNXTensorFile {
    /// Reads a serialized TensorProto; returns the tensor's name (possibly empty) and its data as a constant.
    ///
    /// External data is resolved in, and confined to, the file's folder.
    public static func readConstant(path: String) throws(DiagnosticError) -> (name: String, constant: Constant) {
        let data = try readFileChecked(path, limit: TensorLimits.maxBytes, what: "tensor file")
        let proto: Onnx_TensorProto
        do {
            proto = try Onnx_TensorProto(serializedBytes: data, partial: true, options: protobufDecodingOptions)
        } catch {
            throw DiagnosticError(.error(ModelLocation.whole(path), "not a valid ONNX TensorProto file: \(error)"))
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let handle = proto.name.isEmpty ? "tensor" : proto.name
        do {
            return (proto.name, try decodeTensor(proto, name: handle, baseDirectory: folder))
        } catch {
            throw DiagnosticError(.error(ModelLocation.whole(path), error.message))
        }
    }

    /// Reads a serialized TensorProto as an interpreter tensor; returns the tensor's name (possibly empty).
    public static func read(path: String) throws(DiagnosticError) -> (name: String, tensor: Tensor) {
        let (name, constant) = try readConstant(path: path)
        do {
            return (name, try Tensor(constant))
        } catch {
            throw DiagnosticError(.error(ModelLocation.whole(path), error.diagnostics.map(\.message).joined(separator: "; ")))
        }
    }
}
