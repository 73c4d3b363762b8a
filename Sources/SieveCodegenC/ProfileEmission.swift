// The profiling build of an artifact (`sieve compile --profile`, `sieve bench --profile`): NAME_run reads the
// monotonic clock after every kernel and adds the interval to a per-kernel counter in the context; the header
// gains a table naming the kernels and two calls to read and reset the counters. Without the switch none of
// this is emitted, so a normal artifact carries no profiling code.

import SieveKernel

extension CEmitter {
    /// Bytes the per-kernel counters add to the context header, rounded up to a cache line.
    var profileCounterBytes: Int { (program.kernels.count * 8 + 8 + 63) / 64 * 64 }

    /// The header's profile API.
    func profileHeaderLines() -> [String] {
        let n = name
        return [
            "",
            "/* Profiling build: \(n)_run times each kernel. */",
            "#define \(n)_PROFILED 1",
            "#define \(n)_NUM_KERNELS \(program.kernels.count)",
            "/* One kernel: its symbol-friendly name, the graph op it computes and where that op came from. */",
            "typedef struct { const char *name; const char *op; const char *location; } \(n)_kernel_info;",
            "/* The kernels in the order \(n)_run calls them (\(n)_NUM_KERNELS of them); the count again as a symbol. */",
            "extern const \(n)_kernel_info \(n)_kernels[];",
            "extern const int \(n)_num_kernels;",
            "/* Copies each kernel's nanoseconds, summed over the runs since \(n)_create, \(n)_init or the last",
            " * \(n)_profile_reset, into nanoseconds[0 .. \(n)_NUM_KERNELS) and returns how many runs completed. */",
            "uint64_t \(n)_profile(const \(n)_ctx *ctx, uint64_t *nanoseconds);",
            "/* Sets the counters to zero. */",
            "void \(n)_profile_reset(\(n)_ctx *ctx);",
        ]
    }

    /// The counters in the context structure.
    func profileContextFields() -> [String] {
        ["    uint64_t profile_runs;",
         "    uint64_t profile_ns[\(max(1, program.kernels.count))]; /* per kernel, summed over runs */"]
    }

    /// The clock, the kernel table and the two API functions.
    func profileFunctions() -> [String] {
        let n = name
        var lines = [
            "static inline uint64_t \(n)_profile_now(void) {",
            "    struct timespec t;",
            "    clock_gettime(CLOCK_MONOTONIC, &t);",
            "    return (uint64_t)t.tv_sec * UINT64_C(1000000000) + (uint64_t)t.tv_nsec;",
            "}",
            "",
            "\(n)_API const \(n)_kernel_info \(n)_kernels[] = {",
        ]
        for kernel in program.kernels {
            lines.append("    {\(cString(kernel.name)), \(cString(kernel.op)), \(cString(kernel.location))},")
        }
        // C has no empty arrays: a model without kernels (every result empty) gets one entry past the count.
        if program.kernels.isEmpty { lines.append("    {\"\", \"\", \"\"},") }
        lines += [
            "};",
            "\(n)_API const int \(n)_num_kernels = \(n)_NUM_KERNELS;",
            "",
            "\(n)_API uint64_t \(n)_profile(const \(n)_ctx *ctx, uint64_t *nanoseconds) {",
            "    if (ctx == NULL) return 0;",
            "    if (nanoseconds != NULL) memcpy(nanoseconds, ctx->profile_ns, sizeof(uint64_t) * \(n)_NUM_KERNELS);",
            "    return ctx->profile_runs;",
            "}",
            "",
            "\(n)_API void \(n)_profile_reset(\(n)_ctx *ctx) {",
            "    if (ctx == NULL) return;",
            "    memset(ctx->profile_ns, 0, sizeof ctx->profile_ns);",
            "    ctx->profile_runs = 0;",
            "}",
            "",
        ]
        return lines
    }

    /// In NAME_run, after kernel `index`: adds the time since the previous mark to its counter.
    func profileCountLine(kernel index: Int) -> String {
        "    { uint64_t now = \(name)_profile_now(); ctx->profile_ns[\(index)] += now - profile_start; profile_start = now; }"
    }
}
