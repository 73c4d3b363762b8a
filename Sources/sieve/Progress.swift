// What the tool prints besides results: a progress line on a terminal (what is being done, how far along, an
// estimate of the time left), nothing of it when standard error is not a terminal, and --quiet / --verbose.

import ArgumentParser
import Foundation
import SieveDriver

#if canImport(Glibc)
import Glibc
#endif

/// `--quiet` and `--verbose`, shared by the commands that run long steps.
struct OutputFlags: ParsableArguments {
    @Flag(name: [.customShort("q"), .long],
          help: "Print only diagnostics: no progress line and no report on standard output (report.md, report.json and report.html are still written).")
    var quiet = false

    @Flag(name: [.customShort("v"), .long],
          help: "Also print the wall time of every step (import, graph passes, autotune, lowering, C, the C compiler) and of every pass (as --time-passes) to standard error.")
    var verbose = false

    func validate() throws {
        if quiet && verbose { throw ValidationError("--quiet and --verbose exclude each other; pass one") }
    }

    /// Turns the progress display on when standard error is a terminal and --quiet is absent.
    func startProgress() { progressDisplay.isEnabled = !quiet && isatty(2) != 0 }
}

/// The one progress display of the process; `printError` clears its line before writing.
let progressDisplay = ProgressDisplay()

/// A status line on standard error rewritten in place, with lines kept for finished steps. Callbacks arrive from
/// whichever thread runs the step; a timer redraws the line every second so that the elapsed time of a step that
/// reports no counts (the C compiler) moves.
final class ProgressDisplay: @unchecked Sendable {
    private let lock = NSLock()
    private var enabled = false
    private var current: ProgressUpdate?
    private var taskStarted = 0.0
    private var showing = false
    private var lastDraw = 0.0
    private var timer: DispatchSourceTimer?

    /// Whether updates are drawn; false by default (and always when standard error is not a terminal).
    var isEnabled: Bool {
        get { lock.withLock { enabled } }
        set {
            lock.withLock { enabled = newValue }
            if newValue { startTimer() }
        }
    }

    /// The handler the driver calls with every update.
    var handler: ProgressHandler? {
        guard isEnabled else { return nil }
        return { @Sendable [self] update in self.show(update) }
    }

    /// Shows an update: a kept line first when it carries one, then the status line.
    func show(_ update: ProgressUpdate) {
        lock.lock()
        defer { lock.unlock() }
        guard enabled else { return }
        if current?.task != update.task || update.done < (current?.done ?? 0) { taskStarted = now() }
        if let line = update.line {
            write("\r\u{1B}[K" + line + "\n")
            showing = false
        }
        let changed = current?.task != update.task || current?.detail != update.detail
        current = update
        // A pass over calibration data updates per batch; ten redraws a second are plenty (the timer catches up).
        let finished = update.line != nil && update.total.map { update.done >= $0 } ?? true
        if !finished && (changed || now() - lastDraw >= 0.1) { redraw() }
    }

    /// Shows how far a pass over calibration data is.
    func show(_ step: CalibrationProgress) {
        show(ProgressUpdate(task: step.stage, done: step.samples, total: step.limit, unit: "samples"))
    }

    /// Erases the status line (before other output, and at the end).
    func clear() {
        lock.lock()
        defer { lock.unlock() }
        if showing { write("\r\u{1B}[K") }
        showing = false
        current = nil
    }

    private func startTimer() {
        lock.lock()
        defer { lock.unlock() }
        guard timer == nil else { return }
        let source = DispatchSource.makeTimerSource(queue: DispatchQueue.global(qos: .utility))
        source.schedule(deadline: .now() + 1, repeating: 1)
        source.setEventHandler { [weak self] in
            guard let self else { return }
            self.lock.lock()
            defer { self.lock.unlock() }
            if self.showing { self.redraw() }
        }
        source.resume()
        timer = source
    }

    /// Draws the current update; the lock is held.
    private func redraw() {
        guard let update = current else { return }
        lastDraw = now()
        write("\r\u{1B}[K" + update.statusLine(elapsed: lastDraw - taskStarted, columns: terminalColumns()))
        showing = true
    }

    private func terminalColumns() -> Int {
        var size = winsize()
        return ioctl(2, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
    }

    private func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
