// Keeps the layering honest: SieveIR names no CPU (target knowledge lives in SieveTarget), and every target of
// the package imports only the package's modules it declares as direct dependencies in Package.swift.

import Foundation
import Testing

/// The package's root folder: this file is Tests/SieveIRTests/LayeringTests.swift.
private let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The Swift files under a folder of the package, recursively, as (path relative to the root, text).
private func swiftFiles(under folder: String) throws -> [(path: String, text: String)] {
    let base = packageRoot.appendingPathComponent(folder)
    guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else { return [] }
    var files: [(String, String)] = []
    for case let url as URL in walker where url.pathExtension == "swift" {
        let relative = folder + "/" + url.path.dropFirst(base.path.count + 1)
        files.append((relative, try String(contentsOf: url, encoding: .utf8)))
    }
    return files.sorted { $0.0 < $1.0 }
}

/// The words that name a CPU, an instruction set or the host's description files, matched case-insensitively
/// anywhere in a line, comments included. `fma` and `sse` only as whole words (so `passes` is fine).
let targetWords: [(label: String, pattern: String)] = [
    ("avx", "avx"), ("x86", "x86"), ("-march", "-march"), ("/proc", "/proc"), ("/sys", "/sys"),
    ("cpuinfo", "cpuinfo"), ("fma", "\\bfma\\b"), ("sse", "\\bsse[0-9.]*\\b"), ("neon", "\\bneon\\b"),
]

/// Every line of `text` that names a target word, as `path:line: word`.
func targetWordHits(in text: String, path: String) throws -> [String] {
    var hits: [String] = []
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    for (label, pattern) in targetWords {
        let regex = try NSRegularExpression(pattern: pattern, options: [.caseInsensitive])
        for (index, line) in lines.enumerated() {
            let string = String(line)
            if regex.firstMatch(in: string, range: NSRange(string.startIndex..., in: string)) != nil {
                hits.append("\(path):\(index + 1): \(label)")
            }
        }
    }
    return hits
}

/// The modules a Swift source imports (`import X`, `@testable import X`, `import struct X.Y`).
func importedModules(in text: String) throws -> Set<String> {
    let regex = try NSRegularExpression(
        pattern: #"^\s*(?:@[A-Za-z_]+\s+)*import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][A-Za-z0-9_]*)"#,
        options: [.anchorsMatchLines])
    var modules: Set<String> = []
    for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
        if let range = Range(match.range(at: 1), in: text) { modules.insert(String(text[range])) }
    }
    return modules
}

/// One target of `swift package dump-package`: its name, kind, source folder and direct dependencies.
struct ManifestTarget {
    var name: String
    var type: String
    var folder: String
    var dependencies: Set<String>
}

/// The package's targets as the toolchain reads Package.swift (with a scratch folder of its own, so that it
/// does not wait for the lock of the `swift test` that runs this test).
func manifestTargets() throws -> (targets: [ManifestTarget], productModules: Set<String>) {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-dump-package-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: scratch) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["swift", "package", "--package-path", packageRoot.path, "--scratch-path", scratch.path, "dump-package"]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0,
          let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
          let targets = json["targets"] as? [[String: Any]] else {
        throw ManifestError("swift package dump-package failed with status \(process.terminationStatus)")
    }
    var result: [ManifestTarget] = []
    var productModules: Set<String> = []
    for target in targets {
        guard let name = target["name"] as? String, let type = target["type"] as? String else {
            throw ManifestError("a target of dump-package has no name or type")
        }
        var dependencies: Set<String> = []
        for dependency in target["dependencies"] as? [[String: Any]] ?? [] {
            for key in ["byName", "target", "product"] {
                if let fields = dependency[key] as? [Any], let first = fields.first as? String {
                    dependencies.insert(first)
                    if key == "product" { productModules.insert(first) }
                }
            }
        }
        let folder = target["path"] as? String ?? (type == "test" ? "Tests/\(name)" : "Sources/\(name)")
        result.append(ManifestTarget(name: name, type: type, folder: folder, dependencies: dependencies))
    }
    return (result, productModules)
}

/// A failure to read the manifest.
struct ManifestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

@Suite struct LayeringTests {
    @Test func sieveIRNamesNoTarget() throws {
        let files = try swiftFiles(under: "Sources/SieveIR")
        #expect(files.count >= 10, "found \(files.count) files under Sources/SieveIR")
        var hits: [String] = []
        for (path, text) in files { hits += try targetWordHits(in: text, path: path) }
        #expect(hits.isEmpty, "SieveIR names targets (move that knowledge to SieveTarget):\n\(hits.joined(separator: "\n"))")
    }

    @Test func theScanFindsTargetWords() throws {
        // The scan itself must see what it is meant to forbid, in code and in comments.
        let text = "let flags = [\"-march=native\"]\n// reads /proc/cpuinfo for AVX2 and FMA\nlet level = \"x86-64-v3\"\n"
        let hits = try targetWordHits(in: text, path: "probe.swift")
        for label in ["-march", "/proc", "cpuinfo", "avx", "fma", "x86"] {
            #expect(hits.contains { $0.hasSuffix(": \(label)") }, "\(label) not found in \(hits)")
        }
        #expect(try targetWordHits(in: "// passes assess the format of a message\n", path: "probe.swift").isEmpty)
    }

    @Test func everyImportIsADeclaredDependency() throws {
        let (targets, productModules) = try manifestTargets()
        let names = Set(targets.map(\.name))
        #expect(names.isSuperset(of: ["SieveIR", "SieveTarget", "SievePasses", "SieveDriver", "sieve", "SieveTargetTests"]))
        let ownModules = names.union(productModules)
        var violations: [String] = []
        var checkedImports = 0
        for target in targets {
            for (path, text) in try swiftFiles(under: target.folder) {
                for module in try importedModules(in: text) where ownModules.contains(module) && module != target.name {
                    checkedImports += 1
                    if !target.dependencies.contains(module) {
                        violations.append("\(path): imports \(module), which target \(target.name) does not declare")
                    }
                }
            }
        }
        #expect(checkedImports > 50, "only \(checkedImports) imports of the package's modules were found")
        #expect(violations.isEmpty, "undeclared imports:\n\(violations.joined(separator: "\n"))")
    }

    @Test func sieveIRAndSieveTargetDependOnlyInward() throws {
        let (targets, _) = try manifestTargets()
        let byName = Dictionary(targets.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byName["SieveIR"]?.dependencies == [])
        #expect(byName["SieveTarget"]?.dependencies == ["SieveIR"])
    }

    @Test func importParsingSeesEverySpelling() throws {
        let text = "import Foundation\n@testable import SieveIR\n  import struct SieveTarget.TargetDescription\n// import Nothing\n"
        #expect(try importedModules(in: text) == ["Foundation", "SieveIR", "SieveTarget"])
    }
}
