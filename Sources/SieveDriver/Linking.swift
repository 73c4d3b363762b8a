// Libraries without a C compiler, for `--backend llvm`: a static archive written here (the ar format with a GNU symbol
// index), and a shared library linked by LLVM's linker or the system's, against the C library's shared objects by path.

import Foundation

/// A `.a` file: "!<arch>\n", a GNU symbol index ("/"), a long-name table ("//") when a name needs it, then the members.
struct StaticArchive {
    /// Each member's file name, bytes and the global symbols it defines.
    var members: [(name: String, bytes: [UInt8], symbols: [String])]

    /// One 60-byte member header: name, date, owner, group, mode, size, "`\n" (fields space-padded, decimal).
    static func header(name: String, size: Int) -> [UInt8] {
        func field(_ text: String, _ width: Int) -> [UInt8] {
            Array(text.utf8.prefix(width)) + [UInt8](repeating: 0x20, count: max(0, width - text.utf8.count))
        }
        return field(name, 16) + field("0", 12) + field("0", 6) + field("0", 6) + field("644", 8) + field(String(size), 10) + [0x60, 0x0A]
    }

    /// The archive's bytes. Member data is padded to an even length with "\n", as ar does.
    var bytes: [UInt8] {
        // GNU names end with '/'; those longer than 15 characters live in the "//" table and are named "/offset".
        var longNames: [UInt8] = []
        var memberNames: [String] = []
        for member in members {
            if member.name.utf8.count <= 15 {
                memberNames.append(member.name + "/")
            } else {
                memberNames.append("/\(longNames.count)")
                longNames += Array((member.name + "/\n").utf8)
            }
        }
        func padded(_ data: [UInt8]) -> [UInt8] { data.count % 2 == 0 ? data : data + [0x0A] }
        let symbolCount = members.reduce(0) { $0 + $1.symbols.count }
        let nameBytes: [UInt8] = members.flatMap { member in member.symbols.flatMap { symbol -> [UInt8] in Array(symbol.utf8) + [0] } }
        let indexSize = 4 + 4 * symbolCount + nameBytes.count
        // Offsets of each member's header from the start of the archive.
        var offset = 8 + 60 + padded([UInt8](repeating: 0, count: indexSize)).count
        if !longNames.isEmpty { offset += 60 + padded(longNames).count }
        var memberOffsets: [Int] = []
        for member in members {
            memberOffsets.append(offset)
            offset += 60 + padded(member.bytes).count
        }
        func bigEndian(_ value: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(value).bigEndian) { Array($0) } }
        var index = bigEndian(symbolCount)
        for (member, memberOffset) in zip(members, memberOffsets) {
            for _ in member.symbols { index += bigEndian(memberOffset) }
        }
        index += nameBytes
        var result = Array("!<arch>\n".utf8)
        result += StaticArchive.header(name: "/", size: index.count) + padded(index)
        if !longNames.isEmpty { result += StaticArchive.header(name: "//", size: longNames.count) + padded(longNames) }
        for (member, name) in zip(members, memberNames) {
            result += StaticArchive.header(name: name, size: member.bytes.count) + padded(member.bytes)
        }
        return result
    }
}

/// The linker that makes libNAME.so for `--backend llvm`: the first of ld.lld-19, ld.lld (LLVM's, as Debian's lld-19 or
/// the Swift toolchain installs it) and ld (GNU binutils) on PATH. The C library and libm are given as the shared
/// objects the system runs with (libc.so.6, libm.so.6), so neither a C compiler nor libc's development files are needed.
struct SharedLibraryLinker {
    /// The linker's path.
    var path: String

    static let candidates = ["ld.lld-19", "ld.lld", "ld"]
    static let libraryFolders = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"]

    /// Finds a linker on PATH.
    static func find(environment: [String: String] = ProcessInfo.processInfo.environment) throws(DiagnosticError) -> SharedLibraryLinker {
        let folders = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        for candidate in candidates {
            for folder in folders where FileManager.default.isExecutableFile(atPath: folder + "/" + candidate) {
                return SharedLibraryLinker(path: folder + "/" + candidate)
            }
        }
        throw DiagnosticError(.error(.unknown, "--backend llvm needs a linker for lib*.so and found none of \(candidates.joined(separator: ", ")) on PATH; install lld-19 or binutils"))
    }

    /// The path of a shared object of the C library (libc.so.6, libm.so.6).
    static func systemLibrary(_ file: String) throws(DiagnosticError) -> String {
        guard let folder = libraryFolders.first(where: { FileManager.default.fileExists(atPath: $0 + "/" + file) }) else {
            throw DiagnosticError(.error(.unknown, "cannot find \(file) in \(libraryFolders.joined(separator: ", ")) to link lib*.so against"))
        }
        return folder + "/" + file
    }

    /// Links objects (names in `folder`) into a shared library there, recording `soname`.
    func link(objects: [String], soname: String, output: String, in folder: URL) throws(DiagnosticError) {
        let libraries = [try SharedLibraryLinker.systemLibrary("libm.so.6"), try SharedLibraryLinker.systemLibrary("libc.so.6")]
        let arguments = ["-shared", "-soname", soname, "-z", "noexecstack", "--as-needed", "-o", output] + objects + libraries
        try ArtifactWriter.run(path, arguments, in: folder, what: "linking \(output)")
    }
}
