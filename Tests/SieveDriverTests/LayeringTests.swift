// Checks that data flows one way between the edges of the compiler: the CLI talks to the driver only, and
// the C backend is a pure function of a kernel program (no lowering, no processes, no files).

import Foundation
import Testing

/// The `import` lines of every Swift file in a source folder, by file name.
func imports(inSources folder: String) throws -> [String: Set<String>] {
    let url = repositoryRoot.appendingPathComponent("Sources/\(folder)")
    var result: [String: Set<String>] = [:]
    for file in try FileManager.default.contentsOfDirectory(atPath: url.path) where file.hasSuffix(".swift") {
        let text = try String(contentsOf: url.appendingPathComponent(file), encoding: .utf8)
        result[file] = Set(text.split(separator: "\n").compactMap { line -> String? in
            let words = line.split(separator: " ")
            guard let keyword = words.firstIndex(of: "import"), keyword + 1 < words.count else { return nil }
            // `@_exported import struct Module.Type` names the module before the dot.
            let target = words[words.count - 1]
            return String(target.split(separator: ".").first ?? target)
        })
    }
    return result
}

@Suite("Layering")
struct LayeringTests {
    @Test("the CLI imports the driver and nothing else of Sieve")
    func commandLineTalksToTheDriverOnly() throws {
        let files = try imports(inSources: "sieve")
        #expect(files.count >= 5, "found \(files.keys.sorted())")
        let allowed: Set<String> = ["SieveDriver", "ArgumentParser", "Foundation", "Glibc"]
        for (file, modules) in files {
            #expect(modules.isSubset(of: allowed), "\(file) imports \(modules.subtracting(allowed).sorted())")
        }
    }

    @Test("the C backend neither lowers, nor runs tools, nor writes files")
    func backendIsPure() throws {
        let folder = repositoryRoot.appendingPathComponent("Sources/SieveCodegenC")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".swift") }
        #expect(!files.isEmpty)
        for file in files {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            for forbidden in ["lowerToKernels", "Process(", "FileManager", ".write(to:", "fopen("] {
                #expect(!text.contains(forbidden), "\(file) uses \(forbidden)")
            }
        }
    }
}
