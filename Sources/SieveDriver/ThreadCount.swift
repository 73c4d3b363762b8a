// The thread count of compiled runs, from the command line to the runtime: one limit (the runtime's
// SIEVE_MAX_THREADS, generated from its header), checked where a count is given and reported where used.

import SieveCodegenC
import SieveIR

/// The most threads a compiled model's context runs: `SIEVE_MAX_THREADS` of the runtime, which
/// silently runs that many when asked for more.
public let maxRuntimeThreads = runtimeMaxThreads

/// Checks a thread count given as `option` (such as `--threads`) against the runtime's limit.
public func checkThreadCount(_ count: Int, option: String = "--threads") throws(DiagnosticError) -> Int {
    guard count >= 1 else {
        throw DiagnosticError(.error(.unknown, "\(option) \(count) is not a thread count; give a count from 1 to \(maxRuntimeThreads)"))
    }
    guard count <= maxRuntimeThreads else {
        throw DiagnosticError(.error(.unknown, "\(option) \(count) is more than the runtime runs: a compiled model uses at most \(maxRuntimeThreads) threads (SIEVE_MAX_THREADS); give a count from 1 to \(maxRuntimeThreads)"))
    }
    return count
}

/// The threads the runtime really runs when asked for `requested`: at least 1, at most the limit.
public func runtimeThreadCount(_ requested: Int) -> Int {
    min(max(1, requested), maxRuntimeThreads)
}
