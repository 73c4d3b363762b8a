// `sieve compile --install-prefix DIR`: lays the artifact out as an installed library, include/NAME.h,
// lib/libNAME.{a,so}, lib/pkgconfig/NAME.pc, lib/cmake/NAME/NAMEConfig.cmake, without half-written files.

import Foundation
import SieveIR

/// Installing an artifact under a prefix: every file is first copied under a temporary name beside its
/// destination (same folder, so the same file system), and only when all are there renamed into place.
///
/// A prefix is shared with other libraries, so unlike the artifact folder it cannot be swapped in as a whole:
/// the step that can fail for ordinary reasons (full disk, permissions, a clash) ends before any destination is
/// touched, and what remains is one rename per file. A file of the same name that Sieve did not write (another
/// library's header or archive) is never replaced.
enum InstallPrefix {
    /// The files of an artifact under a prefix: (folder under the prefix, file name, source file in the artifact).
    static func destinations(name: String, weightsFile: String?) -> [(folder: String, file: String, source: String?)] {
        var entries: [(folder: String, file: String, source: String?)] = [
            ("include", "\(name).h", "\(name).h"),
            ("lib", "lib\(name).a", "lib\(name).a"),
            ("lib", "lib\(name).so", "lib\(name).so"),
        ]
        if let weightsFile { entries.append(("lib", weightsFile, weightsFile)) }
        for file in PackageFiles(name: name, layout: .prefix).files {
            entries.append((PackageFiles.installFolder(ofPackageFile: file.name, name: name), file.name, nil))
        }
        return entries
    }

    /// The folders the install writes into, the deepest last.
    static func folders(name: String) -> [String] {
        ["include", "lib", "lib/pkgconfig", "lib/cmake", "lib/cmake/\(name)"]
    }

    /// Checks a prefix before anything is compiled: it is a folder or can be created as one, no install folder is
    /// the output folder (which compile swaps as a whole), and no file the install would replace belongs to
    /// something other than a Sieve artifact of this name.
    static func check(_ path: String, name: String, outputDirectory: String?) throws(DiagnosticError) {
        let prefix = URL(fileURLWithPath: path).standardizedFileURL
        let fileManager = FileManager.default
        if let outputDirectory {
            let output = URL(fileURLWithPath: outputDirectory).standardizedFileURL.path
            let installFolders = [prefix.path] + folders(name: name).map { prefix.appendingPathComponent($0).path }
            if installFolders.contains(output) || prefix.path.hasPrefix(output + "/") {
                throw DiagnosticError(.error(.unknown, "--install-prefix '\(path)' and -o '\(outputDirectory)' overlap: compile replaces the output folder as a whole; pass an output folder outside the prefix's include/ and lib/"))
            }
        }
        var existing = prefix
        while !fileManager.fileExists(atPath: existing.path) { existing = existing.deletingLastPathComponent() }
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: existing.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DiagnosticError(.error(.unknown, "cannot install into '\(path)': \(existing.path) is not a folder; pass a folder with --install-prefix"))
        }
        guard access(existing.path, W_OK | X_OK) == 0 else {
            throw DiagnosticError(.error(.unknown, "cannot install into '\(path)': \(existing.path) is not writable; pass a prefix you can write to"))
        }
        for entry in destinations(name: name, weightsFile: "\(name).weights") {
            try checkReplaceable(prefix.appendingPathComponent(entry.folder).appendingPathComponent(entry.file), name: name, prefix: path)
        }
    }

    /// Refuses a destination that exists and was not written by Sieve for an artifact of this name.
    static func checkReplaceable(_ destination: URL, name: String, prefix: String) throws(DiagnosticError) {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: destination.path, isDirectory: &isDirectory) else { return }
        let relative = destination.path.dropFirst(URL(fileURLWithPath: prefix).standardizedFileURL.path.count + 1)
        guard !isDirectory.boolValue, isSieveFile(destination, name: name) else {
            throw DiagnosticError(.error(.unknown, "cannot install '\(name)' into '\(prefix)': \(relative) exists and was not written by sieve for an artifact named '\(name)' (another library of the same name?); pass another --name, or remove the file"))
        }
    }

    /// Whether an existing file is one Sieve wrote for artifact `name`: the text files say so on their first line,
    /// libraries define `NAME_error_string`, weights files begin with their magic.
    static func isSieveFile(_ url: URL, name: String) -> Bool {
        guard let data = try? Data(contentsOf: url, options: .alwaysMapped) else { return false }
        let file = url.lastPathComponent
        if file.hasSuffix(".so") || file.hasSuffix(".a") { return data.range(of: Data("\(name)_error_string".utf8)) != nil }
        if file.hasSuffix(".weights") { return data.starts(with: Data("SIEVEWTS".utf8)) }
        let firstLine = data.prefix(400).split(separator: UInt8(ascii: "\n")).first ?? Data()
        return String(decoding: firstLine, as: UTF8.self).contains("compiled by Sieve")
    }

    /// Copies the artifact's files (and the prefix's own pkg-config and CMake files) under temporary names beside
    /// their destinations. On failure everything it wrote or created is removed again before it throws.
    static func stage(_ path: String, name: String, artifact: URL, weightsFile: String?) throws(DiagnosticError) -> StagedInstall {
        let prefix = URL(fileURLWithPath: path).standardizedFileURL
        let fileManager = FileManager.default
        var staged = StagedInstall(prefix: path)
        do throws(DiagnosticError) {
            for folder in [""] + folders(name: name) {
                let url = folder.isEmpty ? prefix : prefix.appendingPathComponent(folder)
                var isDirectory: ObjCBool = false
                if fileManager.fileExists(atPath: url.path, isDirectory: &isDirectory) {
                    guard isDirectory.boolValue else {
                        throw DiagnosticError(.error(.unknown, "cannot install into '\(path)': \(url.path) is not a folder"))
                    }
                    continue
                }
                try createFolder(url, prefix: path)
                staged.createdFolders.append(url.path)
            }
            let packageFiles = Dictionary(uniqueKeysWithValues: PackageFiles(name: name, layout: .prefix).files.map { ($0.name, $0.text) })
            for entry in destinations(name: name, weightsFile: weightsFile) {
                let folder = prefix.appendingPathComponent(entry.folder)
                let destination = folder.appendingPathComponent(entry.file)
                try checkReplaceable(destination, name: name, prefix: path)
                let temporary = folder.appendingPathComponent(".\(entry.file).sieve-\(UUID().uuidString)")
                staged.files.append((temporary.path, destination.path))
                do {
                    if let source = entry.source {
                        try fileManager.copyItem(at: artifact.appendingPathComponent(source), to: temporary)
                    } else {
                        try Data((packageFiles[entry.file] ?? "").utf8).write(to: temporary)
                    }
                } catch {
                    throw DiagnosticError(.error(.unknown, "cannot install into '\(path)': writing \(entry.folder)/\(entry.file) failed: \(error.localizedDescription)"))
                }
            }
        } catch {
            staged.discard()
            throw error
        }
        return staged
    }

    private static func createFolder(_ url: URL, prefix: String) throws(DiagnosticError) {
        guard mkdir(url.path, 0o755) == 0 else {
            throw DiagnosticError(.error(.unknown, "cannot install into '\(prefix)': cannot create \(url.path): \(String(cString: strerror(errno))); pass a prefix you can write to"))
        }
    }
}

/// Files copied under temporary names beside their destinations, to be renamed into place by `commit` or removed
/// by `discard`, with the folders the staging created.
struct StagedInstall {
    /// The prefix, as given.
    var prefix: String
    /// Temporary file and destination, in install order.
    var files: [(temporary: String, destination: String)] = []
    /// Folders that did not exist before, outermost first.
    var createdFolders: [String] = []

    /// Renames every file into place. A rename that fails (after staging succeeded, only a file system error)
    /// stops the install, removes the files not yet renamed and names the ones that were.
    func commit() throws(DiagnosticError) {
        for (position, file) in files.enumerated() where rename(file.temporary, file.destination) != 0 {
            let reason = String(cString: strerror(errno))
            for rest in files[position...] { unlink(rest.temporary) }
            let done = files[..<position].map { URL(fileURLWithPath: $0.destination).lastPathComponent }
            throw DiagnosticError(.error(.unknown, "cannot install into '\(prefix)': renaming into \(file.destination) failed: \(reason); already installed: \(done.isEmpty ? "nothing" : done.joined(separator: ", "))"))
        }
    }

    /// Removes the staged files and the folders staging created (when nothing else has appeared in them).
    func discard() {
        for file in files { unlink(file.temporary) }
        for folder in createdFolders.reversed() { rmdir(folder) }
    }
}
