// Progress of long steps (calibration passes, sensitivity, pruning, autotune, the C compiler), handed to a
// display that the command-line tool draws on a terminal; the library itself prints nothing.

/// Where a long step stands, for a progress display.
public struct ProgressUpdate: Hashable, Sendable {
    /// What is being done: "sensitivity", "nm-legalize", "autotune", "cc", or a calibration stage.
    public var task: String
    /// Which part of it, for people: "fc1 2:4", "mlp.c (1.2 MB of C)"; may be empty.
    public var detail: String
    /// Units done so far.
    public var done: Int
    /// Units in all, when known; an estimate of the time left is made from it.
    public var total: Int?
    /// What a unit is: "layers", "samples", "candidates".
    public var unit: String
    /// A line to keep once it is shown (one per finished layer), or nil.
    public var line: String?

    /// Makes an update.
    public init(task: String, detail: String = "", done: Int = 0, total: Int? = nil, unit: String = "", line: String? = nil) {
        self.task = task
        self.detail = detail
        self.done = done
        self.total = total
        self.unit = unit
        self.line = line
    }
}

/// Receives progress updates; nil where nobody watches.
public typealias ProgressHandler = @Sendable (ProgressUpdate) -> Void

extension ProgressUpdate {
    /// The status line for this update `elapsed` seconds into its task, at most `columns` characters wide:
    /// "sensitivity: fc1 2:4 — 3/12 candidates, 4 s, about 12 s left" (the estimate once a unit is done and a
    /// second has passed, from the time per unit so far).
    public func statusLine(elapsed: Double, columns: Int) -> String {
        func duration(_ seconds: Double) -> String {
            seconds < 59.5 ? "\(Int(seconds.rounded())) s" : "\(Int(seconds.rounded()) / 60) min \(Int(seconds.rounded()) % 60) s"
        }
        var facts: [String] = []
        if let total {
            facts.append("\(done)/\(total) \(unit)")
        } else if done > 0 {
            facts.append("\(done) \(unit)")
        }
        facts.append(duration(elapsed))
        if let total, done > 0, total > done, elapsed >= 1 {
            facts.append("about " + duration(elapsed / Double(done) * Double(total - done)) + " left")
        }
        let text = task + (detail.isEmpty ? "" : ": " + detail) + " — " + facts.joined(separator: ", ")
        // Wider than the terminal, the line would wrap and a carriage return could no longer rewrite it.
        return text.count < columns ? text : String(text.prefix(max(10, columns - 2))) + "…"
    }
}
