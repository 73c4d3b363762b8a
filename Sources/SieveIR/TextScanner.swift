// The one scanner under both IR text formats (graph IR `.sir`, kernel IR `.kir`): a byte cursor that
// knows its line and column, whitespace and `//` comments, character classes, and quoted strings.

/// A cursor over UTF-8 text that tracks line and column, shared by the graph IR parser and the
/// kernel IR lexer so that both read spaces, words and strings alike.
package struct TextScanner: Sendable {
    /// The text as UTF-8.
    package let bytes: [UInt8]
    /// The file name that locations carry.
    package let path: String
    /// The offset of the next byte.
    package var position = 0
    /// The 1-based line of `position`.
    package var line = 1
    /// The offset where the current line starts.
    package var lineStart = 0

    /// Starts at the beginning of `text`.
    package init(_ text: String, path: String) {
        self.bytes = Array(text.utf8)
        self.path = path
    }

    /// The 1-based column of `position`.
    package var column: Int { position - lineStart + 1 }

    /// The location of `position`.
    package var location: Location { .file(path: path, line: line, column: column) }

    /// Whether every byte has been read.
    package var isAtEnd: Bool { position >= bytes.count }

    /// The byte at an offset, or nil past the end.
    package func byte(at offset: Int) -> UInt8? { offset >= 0 && offset < bytes.count ? bytes[offset] : nil }

    /// Skips spaces, tabs, carriage returns and line breaks (counting lines), and with `comments`
    /// also `//` comments up to the end of their line.
    package mutating func skipSpaces(comments: Bool) {
        while position < bytes.count {
            let byte = bytes[position]
            if byte == 0x0A {
                position += 1
                line += 1
                lineStart = position
            } else if byte == 0x20 || byte == 0x09 || byte == 0x0D {
                position += 1
            } else if comments, byte == 0x2F, position + 1 < bytes.count, bytes[position + 1] == 0x2F {
                while position < bytes.count, bytes[position] != 0x0A { position += 1 }
            } else {
                return
            }
        }
    }

    /// Consumes `byte` when it is next, without skipping anything first.
    package mutating func consume(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    /// ASCII `0`–`9`.
    package static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// ASCII letters and `_`.
    package static func isLetter(_ byte: UInt8) -> Bool { (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F }

    /// The bytes of a bare name: letters, digits, `_` and `.`.
    package static func isWordByte(_ byte: UInt8) -> Bool { isLetter(byte) || isDigit(byte) || byte == 0x2E }

    /// The value of a hex digit, or nil.
    package static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }

    /// Why a quoted string could not be read, and where.
    package struct StringProblem: Error, Sendable {
        /// What went wrong.
        package enum Kind: Sendable, Equatable {
            /// A line break before the closing quote.
            case lineBreak
            /// The end of the text before the closing quote (also right after a backslash).
            case endOfText
            /// `\u` not followed by `{`.
            case missingBrace
            /// A byte other than a hex digit inside `\u{...}`.
            case notHexDigit
            /// `\u{...}` without digits, without its `}` after 8 digits, or naming no Unicode scalar.
            case invalidUnicodeEscape
            /// A backslash followed by this byte, which starts no escape.
            case unknownEscape(UInt8)
        }

        /// What went wrong.
        package var kind: Kind
        /// The offset of the offending byte (the text's length at its end).
        package var offset: Int
        /// Whether a reader that consumes as it goes has read the offending byte already (the line
        /// break, the unknown escape letter, the `}` of an escape naming no scalar).
        package var consumed: Bool
    }

    /// Reads the rest of a double-quoted string whose opening quote has just been consumed, with the
    /// escapes `quoteString` writes (`\n`, `\t`, `\"`, `\\`, `\u{...}`), and moves past its closing
    /// quote. On a problem `position` is left where it was and the problem says where it lies.
    package mutating func quotedStringBody() -> Result<String, StringProblem> {
        var position = self.position
        var scalars = String.UnicodeScalarView()
        var raw: [UInt8] = []
        func flush() {
            scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
            raw.removeAll()
        }
        func problem(_ kind: StringProblem.Kind, at offset: Int, consumed: Bool = false) -> Result<String, StringProblem> {
            .failure(StringProblem(kind: kind, offset: offset, consumed: consumed))
        }
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            switch byte {
            case 0x22:
                flush()
                self.position = position
                return .success(String(scalars))
            case 0x0A:
                return problem(.lineBreak, at: position - 1, consumed: true)
            case 0x5C:
                flush()
                guard position < bytes.count else { return problem(.endOfText, at: position) }
                let escape = bytes[position]
                position += 1
                switch escape {
                case 0x6E: scalars.append("\n")
                case 0x74: scalars.append("\t")
                case 0x22: scalars.append("\"")
                case 0x5C: scalars.append("\\")
                case 0x75:
                    guard position < bytes.count, bytes[position] == 0x7B else { return problem(.missingBrace, at: position) }
                    position += 1
                    var value: UInt32 = 0
                    var digits = 0
                    while position < bytes.count, bytes[position] != 0x7D, digits < 8 {
                        guard let digit = TextScanner.hexValue(bytes[position]) else { return problem(.notHexDigit, at: position) }
                        value = value * 16 + UInt32(digit)
                        digits += 1
                        position += 1
                    }
                    let closed = position < bytes.count && bytes[position] == 0x7D
                    guard closed, digits > 0, let scalar = Unicode.Scalar(value) else {
                        return problem(.invalidUnicodeEscape, at: position, consumed: closed && digits > 0)
                    }
                    position += 1
                    scalars.append(scalar)
                default:
                    return problem(.unknownEscape(escape), at: position - 1, consumed: true)
                }
            default:
                raw.append(byte)
            }
        }
        return problem(.endOfText, at: position)
    }

    /// Reads a quoted string that is the whole of `text`, or nil.
    package static func unquote(_ text: String) -> String? {
        var scanner = TextScanner(text, path: "")
        guard scanner.consume(0x22), case let .success(value) = scanner.quotedStringBody(), scanner.isAtEnd else { return nil }
        return value
    }
}
