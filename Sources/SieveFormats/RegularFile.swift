// Opening input files without blocking and checking what was opened, not the name: a FIFO or a device given
// as a model, tensor or external data file is refused at once instead of waiting forever for a writer.

import Foundation

/// A regular file opened for reading: the descriptor and what `fstat` says about it.
///
/// The file is opened with `O_NONBLOCK` (opening a FIFO for reading otherwise waits for a writer), then the
/// opened descriptor is checked with `fstat`, so nothing can swap the file between the check and the read.
public struct RegularFile: ~Copyable {
    /// The open descriptor; closed when the value goes away.
    public let descriptor: Int32
    /// The file's size in bytes when it was opened.
    public let size: Int
    /// The number of hard links to the file.
    public let linkCount: Int

    /// Opens `path` for reading; `noFollow` refuses a symbolic link as the last component (`O_NOFOLLOW`).
    /// The error's text says what is wrong, to follow "cannot read PATH: ".
    public init(path: String, noFollow: Bool = false) throws(RegularFileError) {
        guard !path.contains("\0") else { throw RegularFileError("the path contains a NUL character") }
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | (noFollow ? O_NOFOLLOW : 0))
        guard descriptor >= 0 else {
            let code = errno
            if code == ELOOP && noFollow { throw RegularFileError("it is a symbolic link, which is refused here") }
            if code == ENOENT { throw RegularFileError("no such file") }
            if code == EACCES { throw RegularFileError("permission denied") }
            throw RegularFileError(String(cString: strerror(code)))
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw RegularFileError(reason)
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            throw RegularFileError("it is \(RegularFile.kindDescription(status.st_mode)), not a regular file; give the path of a file")
        }
        self.descriptor = descriptor
        self.size = Int(status.st_size)
        self.linkCount = Int(status.st_nlink)
    }

    deinit { close(descriptor) }

    /// Reads `count` bytes from `offset`; fewer only when the file ends first (it shrank since it was opened).
    public func read(offset: Int = 0, count: Int) throws(RegularFileError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        var failure: Int32 = 0
        bytes.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            while done < count {
                let got = pread(descriptor, base.advanced(by: done), count - done, off_t(offset + done))
                if got < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                if got == 0 { return }
                done += got
            }
        }
        if failure != 0 { throw RegularFileError(String(cString: strerror(failure))) }
        if done < count { bytes.removeSubrange(done...) }
        return bytes
    }

    /// Opens and reads a whole regular file, refusing one larger than `limit` bytes before allocating.
    public static func readAll(path: String, limit: Int = Int.max, noFollow: Bool = false) throws(RegularFileError) -> [UInt8] {
        let file = try RegularFile(path: path, noFollow: noFollow)
        guard file.size <= limit else {
            throw RegularFileError("\(file.size) bytes is more than the limit of \(limit)")
        }
        let bytes = try file.read(count: file.size)
        guard bytes.count == file.size else {
            throw RegularFileError("it ended after \(bytes.count) of \(file.size) bytes (was it truncated while being read?)")
        }
        return bytes
    }

    /// What a non-regular file is, for messages: "a named pipe (FIFO)", "a folder", ...
    static func kindDescription(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: return "a named pipe (FIFO)"
        case S_IFDIR: return "a folder"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symbolic link"
        default: return "a special file"
        }
    }
}

/// Why a file could not be opened or read as a regular file: text to follow "cannot read PATH: ".
public struct RegularFileError: Error, CustomStringConvertible, Sendable {
    /// What is wrong, lowercase.
    public var reason: String
    /// Makes an error.
    public init(_ reason: String) { self.reason = reason }
    /// The reason.
    public var description: String { reason }
}
