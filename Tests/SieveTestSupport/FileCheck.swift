// A small FileCheck: CHECK, CHECK-NEXT, CHECK-LABEL and CHECK-NOT over text, plus a unified diff
// for precise-output tests. Patterns are literal substrings; runs of spaces compare as one space.
// `{{REGEX}}` matches a regular expression; `[[NAME:REGEX]]` matches REGEX and binds NAME to the text,
// and a later `[[NAME]]` matches that text again (so a test names a buffer without pinning its number).
// A capture group inside REGEX must be non-capturing, `(?:…)`.

import Foundation

/// One directive read from a test file.
public struct CheckDirective: Equatable, Sendable {
    /// Which directive.
    public enum Kind: String, Sendable { case check = "CHECK", next = "CHECK-NEXT", label = "CHECK-LABEL", not = "CHECK-NOT" }
    /// Which directive.
    public var kind: Kind
    /// The literal text to find.
    public var pattern: String
    /// The test file line it was read from.
    public var line: Int
}

/// Reads `// CHECK...: pattern` directives (or `# CHECK...:` in files whose comments start with `#`).
public func checkDirectives(in text: String, commentPrefix: String = "//") -> [CheckDirective] {
    var directives: [CheckDirective] = []
    for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        guard let range = line.range(of: commentPrefix + " CHECK") else { continue }
        let rest = line[range.upperBound...]
        let kinds: [(String, CheckDirective.Kind)] = [("-NEXT:", .next), ("-LABEL:", .label), ("-NOT:", .not), (":", .check)]
        for (suffix, kind) in kinds where rest.hasPrefix(suffix) {
            let pattern = rest.dropFirst(suffix.count).trimmingCharacters(in: " ")
            directives.append(CheckDirective(kind: kind, pattern: pattern, line: index + 1))
            break
        }
    }
    return directives
}

extension Substring {
    /// Drops the character from both ends.
    public func trimmingCharacters(in set: Character) -> String {
        String(drop(while: { $0 == set }).reversed().drop(while: { $0 == set }).reversed())
    }
}

/// Collapses runs of spaces so that alignment does not matter.
public func normalizeSpaces(_ text: String) -> String {
    var result = ""
    var lastWasSpace = false
    for character in text {
        if character == " " || character == "\t" {
            if !lastWasSpace { result.append(" ") }
            lastWasSpace = true
        } else {
            result.append(character)
            lastWasSpace = false
        }
    }
    return result.trimmingCharacters(in: " ")
}

extension String {
    /// Drops the character from both ends.
    public func trimmingCharacters(in set: Character) -> String { Substring(self).trimmingCharacters(in: set) }
}

/// A directive's pattern: literal text, or a regular expression when it uses `[[…]]` variables.
struct CheckPattern {
    private let literal: String?
    private let regex: NSRegularExpression?
    private let bindings: [String]   // the variable each capture group binds, in group order
    /// Why the pattern is unusable (an unknown variable, a bad regular expression), or nil.
    let error: String?

    init(_ text: String, variables: [String: String]) {
        guard text.contains("[[") || text.contains("{{") else { (literal, regex, bindings, error) = (text, nil, [], nil); return }
        var expression = "", names: [String] = [], problem: String?
        var rest = Substring(text)
        while problem == nil, let open = [rest.range(of: "[["), rest.range(of: "{{")].compactMap({ $0 }).min(by: { $0.lowerBound < $1.lowerBound }) {
            expression += NSRegularExpression.escapedPattern(for: String(rest[..<open.lowerBound]))
            let variable = rest[open] == "[["
            guard let close = rest[open.upperBound...].range(of: variable ? "]]" : "}}") else {
                problem = "an unclosed '\(rest[open])'"
                break
            }
            let body = rest[open.upperBound..<close.lowerBound]
            if !variable {
                expression += "(?:" + body + ")"
            } else if let colon = body.firstIndex(of: ":") {
                names.append(String(body[..<colon]))
                expression += "(" + body[body.index(after: colon)...] + ")"
            } else if let value = variables[String(body)] {
                expression += NSRegularExpression.escapedPattern(for: value)
            } else {
                problem = "variable '\(body)' is used before a pattern binds it"
            }
            rest = rest[close.upperBound...]
        }
        expression += NSRegularExpression.escapedPattern(for: String(rest))
        var compiled: NSRegularExpression?
        if problem == nil {
            do { compiled = try NSRegularExpression(pattern: expression) } catch { problem = "bad regular expression '\(expression)'" }
        }
        (literal, regex, bindings, error) = (nil, compiled, names, problem)
    }

    /// The variables the match binds when `line` matches (empty for a literal pattern), or nil.
    func match(_ line: String) -> [String: String]? {
        guard let regex else { return literal.map { line.contains($0) } == true ? [:] : nil }
        let range = NSRange(line.startIndex..., in: line)
        guard let hit = regex.firstMatch(in: line, range: range) else { return nil }
        var bound: [String: String] = [:]
        for (group, name) in bindings.enumerated() {
            if let captured = Range(hit.range(at: group + 1), in: line) { bound[name] = String(line[captured]) }
        }
        return bound
    }
}

/// Applies directives to output lines; returns the failures as messages (empty when all hold).
public func fileCheck(_ directives: [CheckDirective], output: String, file: String) -> [String] {
    let lines = output.split(separator: "\n", omittingEmptySubsequences: false).map { normalizeSpaces(String($0)) }
    var failures: [String] = []
    var cursor = 0           // first line a CHECK may match
    var lastMatch = -1       // line of the previous positive match
    var variables: [String: String] = [:]
    var pendingNot: [(directive: CheckDirective, pattern: CheckPattern)] = []
    func settleNot(until end: Int) {
        for (directive, pattern) in pendingNot {
            let start = max(lastMatch + 1, 0)
            if start < end, let hit = (start..<end).first(where: { pattern.match(lines[$0]) != nil }) {
                failures.append("\(file):\(directive.line): CHECK-NOT: '\(directive.pattern)' found on output line \(hit + 1): \(lines[hit])")
            }
        }
        pendingNot = []
    }
    for directive in directives {
        let pattern = CheckPattern(normalizeSpaces(directive.pattern), variables: variables)
        if let error = pattern.error {
            failures.append("\(file):\(directive.line): \(directive.kind.rawValue): \(error)")
            return failures
        }
        switch directive.kind {
        case .not:
            pendingNot.append((directive, pattern))
        case .next:
            let target = lastMatch + 1
            if lastMatch >= 0, target < lines.count, let bound = pattern.match(lines[target]) {
                settleNot(until: target)
                variables.merge(bound) { $1 }
                lastMatch = target
                cursor = target + 1
            } else {
                let actual = lastMatch >= 0 && target < lines.count ? lines[target] : "<none>"
                failures.append("\(file):\(directive.line): CHECK-NEXT: expected '\(directive.pattern)' on the line after the previous match, found: \(actual)")
                return failures
            }
        case .check, .label:
            guard let (hit, bound) = (cursor..<max(cursor, lines.count)).lazy
                .compactMap({ line in pattern.match(lines[line]).map { (line, $0) } }).first else {
                failures.append("\(file):\(directive.line): \(directive.kind.rawValue): '\(directive.pattern)' not found after output line \(cursor)")
                return failures
            }
            settleNot(until: hit)
            variables.merge(bound) { $1 }
            lastMatch = hit
            cursor = hit + 1
        }
    }
    settleNot(until: lines.count)
    return failures
}

/// A unified diff of two texts (whole file as one hunk with 3 lines of context), or "" when equal.
public func unifiedDiff(expected: String, actual: String) -> String {
    let a = expected.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let b = actual.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if a == b { return "" }
    // Longest common subsequence table; test outputs are small.
    var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
    for i in stride(from: a.count - 1, through: 0, by: -1) {
        for j in stride(from: b.count - 1, through: 0, by: -1) {
            table[i][j] = a[i] == b[j] ? table[i + 1][j + 1] + 1 : max(table[i + 1][j], table[i][j + 1])
        }
    }
    var lines: [String] = ["--- expected", "+++ actual"]
    var i = 0, j = 0
    while i < a.count || j < b.count {
        if i < a.count, j < b.count, a[i] == b[j] {
            lines.append(" " + a[i]); i += 1; j += 1
        } else if j < b.count, i == a.count || table[i][j + 1] >= table[i + 1][j] {
            lines.append("+" + b[j]); j += 1
        } else {
            lines.append("-" + a[i]); i += 1
        }
    }
    return lines.joined(separator: "\n")
}
