// Libraries without a C compiler, for `--backend llvm`: a static archive written here (the ar format with a GNU symbol
// index), and a shared library linked by LLVM's linker or the system's, against the C library's shared objects by path.

import Foundation

/// A `.a` file: "!<arch>\n", a GNU symbol index ("/"), a long-name table ("//") when a name needs it, then the members.
struct StaticArchive {
    /// Each member's file name, bytes (in consecutive pieces) and the global symbols it defines.
    var members: [(name: String, parts: [[UInt8]], symbols: [String])]

    /// One 60-byte member header: name, date, owner, group, mode, size, "`\n" (fields space-padded, decimal).
    static func header(name: String, size: Int) -> [UInt8] {
        func field(_ text: String, _ width: Int) -> [UInt8] {
            Array(text.utf8.prefix(width)) + [UInt8](repeating: 0x20, count: max(0, width - text.utf8.count))
        }
        return field(name, 16) + field("0", 12) + field("0", 6) + field("0", 6) + field("644", 8) + field(String(size), 10) + [0x60, 0x0A]
    }

    /// The archive's bytes as consecutive pieces (headers, then each member's pieces as given, not copied), for
    /// `ArtifactWriter.writeBytes`: members of gigabytes are written from where they are. Member data is padded to an
    /// even length with "\n", as ar does.
    var parts: [[UInt8]] {
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
        func padding(_ count: Int) -> [UInt8] { count % 2 == 0 ? [] : [0x0A] }
        let symbolCount = members.reduce(0) { $0 + $1.symbols.count }
        let nameBytes: [UInt8] = members.flatMap { member in member.symbols.flatMap { symbol -> [UInt8] in Array(symbol.utf8) + [0] } }
        let indexSize = 4 + 4 * symbolCount + nameBytes.count
        // Offsets of each member's header from the start of the archive.
        var offset = 8 + 60 + indexSize + padding(indexSize).count
        if !longNames.isEmpty { offset += 60 + longNames.count + padding(longNames.count).count }
        var memberOffsets: [Int] = []
        let sizes = members.map { $0.parts.reduce(0) { $0 + $1.count } }
        for size in sizes {
            memberOffsets.append(offset)
            offset += 60 + size + padding(size).count
        }
        func bigEndian(_ value: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(value).bigEndian) { Array($0) } }
        var index = bigEndian(symbolCount)
        for (member, memberOffset) in zip(members, memberOffsets) {
            for _ in member.symbols { index += bigEndian(memberOffset) }
        }
        index += nameBytes
        var head = Array("!<arch>\n".utf8)
        head += StaticArchive.header(name: "/", size: index.count) + index + padding(index.count)
        if !longNames.isEmpty { head += StaticArchive.header(name: "//", size: longNames.count) + longNames + padding(longNames.count) }
        var result = [head]
        for ((member, name), size) in zip(zip(members, memberNames), sizes) {
            result += [StaticArchive.header(name: name, size: size)] + member.parts + [padding(size)]
        }
        return result
    }
}

/// An x86-64 ELF relocatable object that defines one global, hidden, read-only symbol: the bytes of `payload`,
/// 64-byte aligned, in a large-data section `.lrodata.SYMBOL` (what `cc -c NAME.weights.S` makes of the C backend's
/// weights). The LLVM backend writes its weights this way, beside the code's object, instead of passing them through
/// LLVM's code generator as a constant of the module (which copied them several times and took about a second of a
/// 90 MB encoder's compile).
struct DataObject {
    /// The symbol's name.
    var symbol: String
    /// The data.
    var payload: [UInt8]

    /// The object as consecutive pieces: the ELF header, the payload (not copied), then the symbol and string tables
    /// and the section headers.
    var parts: [[UInt8]] {
        var shstrtab: [UInt8] = [0]
        func name(_ text: String) -> UInt32 {
            defer { shstrtab += Array(text.utf8) + [0] }
            return UInt32(shstrtab.count)
        }
        let dataName = name(".lrodata.\(symbol)"), noteName = name(".note.GNU-stack"), symtabName = name(".symtab")
        let strtabName = name(".strtab"), shstrtabName = name(".shstrtab")
        let strtab: [UInt8] = [0] + Array(symbol.utf8) + [0]

        func little<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
        let dataOffset = 64
        let symtabOffset = (dataOffset + payload.count + 7) / 8 * 8
        // The null symbol, then the payload's: global object (0x11), hidden (2), in section 1, at 0, of the payload's size.
        var symtab = [UInt8](repeating: 0, count: 24)
        symtab += little(UInt32(1))
        symtab += [0x11, 2]
        symtab += little(UInt16(1))
        symtab += little(UInt64(0))
        symtab += little(UInt64(payload.count))
        let strtabOffset = symtabOffset + symtab.count
        let shstrtabOffset = strtabOffset + strtab.count
        let sectionsOffset = (shstrtabOffset + shstrtab.count + 7) / 8 * 8

        func section(_ name: UInt32, type: UInt32, flags: UInt64, offset: Int, size: Int, link: UInt32 = 0, info: UInt32 = 0,
                     align: UInt64, entrySize: UInt64 = 0) -> [UInt8] {
            var bytes = little(name)
            bytes += little(type)
            bytes += little(flags)
            bytes += little(UInt64(0))
            bytes += little(UInt64(offset))
            bytes += little(UInt64(size))
            bytes += little(link)
            bytes += little(info)
            bytes += little(align)
            bytes += little(entrySize)
            return bytes
        }
        var sections = [UInt8](repeating: 0, count: 64)
        // SHT_PROGBITS, SHF_ALLOC | SHF_X86_64_LARGE: the linker places it after the code and small data.
        sections += section(dataName, type: 1, flags: 0x1000_0002, offset: dataOffset, size: payload.count, align: 64)
        sections += section(noteName, type: 1, flags: 0, offset: dataOffset, size: 0, align: 1)
        // SHT_SYMTAB: its names in section 4; symbol 1 is the first global.
        sections += section(symtabName, type: 2, flags: 0, offset: symtabOffset, size: symtab.count, link: 4, info: 1, align: 8,
                            entrySize: 24)
        sections += section(strtabName, type: 3, flags: 0, offset: strtabOffset, size: strtab.count, align: 1)
        sections += section(shstrtabName, type: 3, flags: 0, offset: shstrtabOffset, size: shstrtab.count, align: 1)
        // ELFCLASS64, little endian, version 1; ET_REL for EM_X86_64; 6 section headers of 64 bytes, names in section 5.
        var header: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        header += little(UInt16(1))
        header += little(UInt16(62))
        header += little(UInt32(1))
        header += little(UInt64(0))
        header += little(UInt64(0))
        header += little(UInt64(sectionsOffset))
        header += little(UInt32(0))
        header += little(UInt16(64))
        header += little(UInt16(0))
        header += little(UInt16(0))
        header += little(UInt16(64))
        header += little(UInt16(6))
        header += little(UInt16(5))
        var afterPayload = [UInt8](repeating: 0, count: symtabOffset - dataOffset - payload.count)
        afterPayload += symtab
        afterPayload += strtab
        afterPayload += shstrtab
        afterPayload += [UInt8](repeating: 0, count: sectionsOffset - shstrtabOffset - shstrtab.count)
        afterPayload += sections
        return [header, payload, afterPayload]
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
