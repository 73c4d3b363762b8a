// Putting a built artifact folder in place at once: it is built in a temporary folder beside the output,
// swapped with the old folder by one renameat2(RENAME_EXCHANGE), and the old one removed afterwards.

import Foundation
import SieveIR

/// The temporary folder an artifact is built in, beside its output folder, and the one step that puts it in place.
///
/// After a kill at any moment the output folder holds the complete old artifact or the complete new one, never a
/// mix: the swap is one system call. A killed run leaves its temporary folder (the new build before the swap, the
/// old artifact after it); the next compile of the same output removes such folders. Each run holds an exclusive
/// `flock` on its temporary folder while it lives, so a concurrent compile of the same output tells a live run's
/// folder (locked) from a dead one's (the kernel released the lock with the process).
struct ArtifactFolder: ~Copyable {
    /// The output folder.
    let output: URL
    /// The temporary folder being built.
    let temporary: URL
    /// The open descriptor of the temporary folder, holding the lock.
    private let lockDescriptor: Int32

    /// The prefix of every temporary folder of `output`: `.NAME.sieve-` in the same parent folder.
    static func temporaryPrefix(of output: URL) -> String { ".\(output.lastPathComponent).sieve-" }

    /// Removes the temporary folders of `output` left by killed runs, then creates and locks a fresh one.
    init(output: URL) throws(DiagnosticError) {
        self.output = output
        let parent = output.deletingLastPathComponent()
        ArtifactFolder.removeStaleFolders(of: output)
        let temporary = parent.appendingPathComponent(ArtifactFolder.temporaryPrefix(of: output) + UUID().uuidString)
        guard mkdir(temporary.path, 0o755) == 0 else {
            throw DiagnosticError(.error(.unknown, "cannot create a temporary folder in \(parent.path): \(String(cString: strerror(errno))); check that the folder is writable"))
        }
        let descriptor = open(temporary.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0, flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = String(cString: strerror(errno))
            if descriptor >= 0 { close(descriptor) }
            try? FileManager.default.removeItem(at: temporary)
            throw DiagnosticError(.error(.unknown, "cannot lock the temporary folder \(temporary.path): \(reason)"))
        }
        self.temporary = temporary
        self.lockDescriptor = descriptor
    }

    deinit {
        // Before the swap: the unfinished build. After it: the old artifact, moved aside by the exchange.
        try? FileManager.default.removeItem(at: temporary)
        close(lockDescriptor)
    }

    /// Puts the temporary folder in place of the output in one step: `rename` when there is no output yet,
    /// otherwise `renameat2(RENAME_EXCHANGE)`, after which the temporary path holds the old artifact.
    func place() throws(DiagnosticError) {
        if rename(temporary.path, output.path) == 0 {
            syncParent()
            return
        }
        // EEXIST or ENOTEMPTY: an output folder exists (an empty one is replaced by rename itself).
        guard errno == EEXIST || errno == ENOTEMPTY else {
            throw DiagnosticError(.error(.unknown, "cannot move the artifact into \(output.path): \(String(cString: strerror(errno)))"))
        }
        guard let exchange = ArtifactFolder.renameExchange else {
            throw DiagnosticError(.error(.unknown, "cannot replace \(output.path) atomically: this C library has no renameat2; remove the folder or pass another -o"))
        }
        guard exchange(AT_FDCWD, temporary.path, AT_FDCWD, output.path, ArtifactFolder.renameExchangeFlag) == 0 else {
            throw DiagnosticError(.error(.unknown, "cannot replace \(output.path) atomically: \(String(cString: strerror(errno))) (the file system may not support RENAME_EXCHANGE); remove the folder or pass another -o"))
        }
        syncParent()
    }

    /// Makes the swap durable before the old artifact is removed (a crash of the machine then finds the new one).
    private func syncParent() {
        let parent = open(output.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { return }
        fsync(parent)
        close(parent)
    }

    /// Removes every temporary folder of `output` whose run is gone: its lock can be taken.
    static func removeStaleFolders(of output: URL) {
        let parent = output.deletingLastPathComponent()
        let prefix = temporaryPrefix(of: output)
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: parent.path) else { return }
        for entry in entries where entry.hasPrefix(prefix) {
            let path = parent.appendingPathComponent(entry).path
            let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard descriptor >= 0 else { continue }
            defer { close(descriptor) }
            // A live run holds its lock; only folders of killed runs are removed.
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { continue }
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// `RENAME_EXCHANGE` from <linux/fs.h>: atomically exchange the two paths.
    static let renameExchangeFlag: UInt32 = 1 << 1

    /// glibc's `renameat2` (2.28 and later), looked up at run time because Swift's Glibc module does not declare it.
    static let renameExchange: (@convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32)? = {
        guard let symbol = dlsym(nil, "renameat2") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32).self)
    }()
}
