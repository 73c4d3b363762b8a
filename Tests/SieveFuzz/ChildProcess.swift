// Child processes for the fuzzing campaign: one run to completion under an address-space limit and a timeout
// (the CLI samples, the checker's start), and a long-lived worker whose output lines are read as they come.

import Foundation

/// What a finished child process left behind.
public struct ChildOutcome: Sendable {
    /// The exit status, or the signal number when it was killed by one.
    public var status: Int32
    /// Whether a signal ended it (other than the timeout's).
    public var crashed: Bool
    /// Whether the timeout ended it.
    public var timedOut: Bool
    /// Its standard output.
    public var stdout: String
    /// Its standard error.
    public var stderr: String
}

/// Thread-safe storage for what reader threads collect.
final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var chunks: [Int: Data] = [:]
    private var lines: [String] = []
    private var partial = Data()
    private var closed = false

    func store(_ data: Data, stream: Int) {
        lock.lock(); defer { lock.unlock() }
        chunks[stream, default: Data()].append(data)
    }
    func data(_ stream: Int) -> Data {
        lock.lock(); defer { lock.unlock() }
        return chunks[stream] ?? Data()
    }
    /// Appends bytes of a line-oriented stream; complete lines become available to `takeLines`.
    func appendLines(_ data: Data) {
        lock.lock(); defer { lock.unlock() }
        partial.append(data)
        while let newline = partial.firstIndex(of: 0x0A) {
            lines.append(String(decoding: partial[partial.startIndex..<newline], as: UTF8.self))
            partial = Data(partial[(newline + 1)...])
        }
    }
    func close() {
        lock.lock(); defer { lock.unlock() }
        closed = true
    }
    /// The complete lines read so far (removed), and whether the stream has ended.
    func takeLines() -> ([String], Bool) {
        lock.lock(); defer { lock.unlock() }
        let taken = lines
        lines.removeAll()
        return (taken, closed)
    }
}

/// The executable and arguments that run `executable` under an address-space limit (`ulimit -v`, through /bin/sh).
func limitedCommand(_ executable: String, _ arguments: [String], addressSpaceKiB: Int?) -> (String, [String]) {
    guard let addressSpaceKiB else { return (executable, arguments) }
    return ("/bin/sh", ["-c", "ulimit -v \(addressSpaceKiB) && exec \"$0\" \"$@\"", executable] + arguments)
}

/// Runs a program to completion, killing it after `timeout` seconds.
public func runChild(_ executable: String, _ arguments: [String], timeout: Double, addressSpaceKiB: Int? = nil) throws -> ChildOutcome {
    let process = Process()
    let (path, fullArguments) = limitedCommand(executable, arguments, addressSpaceKiB: addressSpaceKiB)
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = fullArguments
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let collected = Collected()
    let group = DispatchGroup()
    for (stream, pipe) in [output, errors].enumerated() {
        group.enter()
        DispatchQueue.global().async {
            collected.store(pipe.fileHandleForReading.readDataToEndOfFile(), stream: stream)
            group.leave()
        }
    }
    let deadline = Date().addingTimeInterval(timeout)
    var timedOut = false
    while process.isRunning {
        if Date() > deadline {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
            break
        }
        usleep(1000)
    }
    process.waitUntilExit()
    group.wait()
    return ChildOutcome(status: process.terminationStatus, crashed: process.terminationReason == .uncaughtSignal && !timedOut,
                        timedOut: timedOut, stdout: String(decoding: collected.data(0), as: UTF8.self),
                        stderr: String(decoding: collected.data(1), as: UTF8.self))
}

/// A long-lived child whose standard output is read line by line as it arrives.
final class LineChild {
    let process = Process()
    let collected = Collected()
    let errors = Collected()
    private let group = DispatchGroup()

    init(_ executable: String, _ arguments: [String], addressSpaceKiB: Int?) throws {
        let (path, fullArguments) = limitedCommand(executable, arguments, addressSpaceKiB: addressSpaceKiB)
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = fullArguments
        let output = Pipe(), errorPipe = Pipe()
        process.standardOutput = output
        process.standardError = errorPipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let collected = self.collected, errors = self.errors
        group.enter()
        DispatchQueue.global().async { [group] in
            while true {
                let data = output.fileHandleForReading.availableData
                if data.isEmpty { break }
                collected.appendLines(data)
            }
            collected.close()
            group.leave()
        }
        group.enter()
        DispatchQueue.global().async { [group] in
            errors.store(errorPipe.fileHandleForReading.readDataToEndOfFile(), stream: 0)
            group.leave()
        }
    }

    /// Kills the child (it is hung or no longer needed) and waits for it.
    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        finish()
    }

    /// Waits for the child to end and its output to be read.
    func finish() {
        process.waitUntilExit()
        group.wait()
    }

    /// The last lines of its standard error (after `finish`).
    var errorTail: String {
        String(String(decoding: errors.data(0), as: UTF8.self).suffix(600))
    }
}
