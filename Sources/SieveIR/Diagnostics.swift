// Diagnostics: located messages that stages collect and throw together.
// Rendered as `where: error: message`, followed by the printed op as context when there is one.

/// How serious a diagnostic is.
public enum Severity: String, Hashable, Sendable {
    case error, warning, note
}

/// One located message.
public struct Diagnostic: Hashable, Sendable, CustomStringConvertible {
    /// How serious it is.
    public var severity: Severity
    /// Where it applies.
    public var location: Location
    /// What is wrong and, when there is something to do, what to do; starts lowercase.
    public var message: String
    /// The printed op or line it refers to, shown under the message.
    public var context: String?

    /// Makes a diagnostic.
    public init(_ severity: Severity, _ location: Location, _ message: String, context: String? = nil) {
        self.severity = severity
        self.location = location
        self.message = message
        self.context = context
    }

    /// Makes an error diagnostic.
    public static func error(_ location: Location, _ message: String, context: String? = nil) -> Diagnostic {
        Diagnostic(.error, location, message, context: context)
    }

    public var description: String {
        // A diagnostic about the command line rather than a place in a file has no location to show.
        var text = location == .unknown ? "\(severity.rawValue): \(message)" : "\(location): \(severity.rawValue): \(message)"
        if let context { text += "\n    \(context)" }
        return text
    }
}

/// An error carrying every diagnostic a stage collected.
public struct DiagnosticError: Error, Sendable, CustomStringConvertible {
    /// The diagnostics, in the order they were found.
    public var diagnostics: [Diagnostic]

    /// Makes an error from diagnostics.
    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }

    /// Makes an error from one diagnostic.
    public init(_ diagnostic: Diagnostic) { self.diagnostics = [diagnostic] }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
