// Reading inputs and writing outputs for the driver: `-` for standard input and output, and
// atomic writes, so that a failed run never leaves a half-written file behind.

import Foundation
import SieveIR

/// File access with diagnostics instead of crashes.
public enum Files {
    /// The largest text input accepted (1 GiB); larger files are refused before reading.
    public static let maxTextBytes = 1 << 30

    /// Reads a whole text file, or standard input for `-`.
    public static func readText(_ path: String) throws(DiagnosticError) -> String {
        if path == "-" {
            let data = FileHandle.standardInput.readDataToEndOfFile()
            return String(decoding: data, as: UTF8.self)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DiagnosticError(.error(.unknown, "cannot read '\(path)': no such file"))
        }
        guard !isDirectory.boolValue else {
            throw DiagnosticError(.error(.unknown, "cannot read '\(path)': it is a directory"))
        }
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > maxTextBytes {
            throw DiagnosticError(.error(.unknown, "cannot read '\(path)': \(size) bytes is larger than the 1 GiB limit"))
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DiagnosticError(.error(.unknown, "cannot read '\(path)': permission denied or not a regular file"))
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Writes bytes to `path` atomically: a temporary file in the same folder, then a rename.
    /// On any failure the temporary file is removed and `path` is left as it was.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(DiagnosticError) {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DiagnosticError(.error(.unknown, "cannot write '\(path)': folder '\(folder)' does not exist; create it first"))
        }
        var template = Array((folder + "/." + url.lastPathComponent + ".tmp-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -1 }
            return mkstemp(base)
        }
        guard descriptor >= 0 else {
            throw DiagnosticError(.error(.unknown, "cannot write '\(path)': \(String(cString: strerror(errno)))"))
        }
        let temporary = String(decoding: template.map { UInt8(bitPattern: $0) }.prefix { $0 != 0 }, as: UTF8.self)
        var failure: String?
        bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, base.advanced(by: offset), buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                offset += written
            }
        }
        if failure == nil, fsync(descriptor) != 0 { failure = String(cString: strerror(errno)) }
        if close(descriptor) != 0, failure == nil { failure = String(cString: strerror(errno)) }
        if failure == nil {
            fchmodDefault(temporary)
            if rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        }
        if let failure {
            unlink(temporary)
            throw DiagnosticError(.error(.unknown, "cannot write '\(path)': \(failure)"))
        }
    }

    /// Writes text to `path` atomically, or to standard output for `-`.
    public static func writeText(_ text: String, to path: String) throws(DiagnosticError) {
        if path == "-" {
            FileHandle.standardOutput.write(Data(text.utf8))
            return
        }
        try writeAtomically(Array(text.utf8), to: path)
    }

    /// mkstemp creates files readable only by the owner; outputs get the usual 0644 less the umask.
    private static func fchmodDefault(_ path: String) {
        let mask = umask(0)
        umask(mask)
        chmod(path, 0o666 & ~mask)
    }
}
