// The C backend: turns a kernel program into NAME.h (the public API) and NAME.c (kernels, tables, runtime glue).
// Vectors use GCC/Clang vector extensions; the target's -march flags decide which instructions they become.

import Foundation

import SieveIR
import SieveKernel

/// How the weights reach the running model.
public enum WeightsPlacement: String, Sendable, CaseIterable {
    /// Compiled into the library as a constant array.
    case embedded
    /// Written to NAME.weights, read and validated by NAME_create.
    case external
}

/// The weights of one artifact as a file of raw bytes: written as is, never turned into text.
public struct WeightsBlob: Sendable {
    /// The file name in the artifact folder: NAME.weights.bin (embedded) or NAME.weights (external).
    public var fileName: String
    /// Bytes written ahead of the payload: the external file's header (magic, version, size, checksum),
    /// empty for embedded weights.
    public var header: [UInt8]
    /// The weights themselves, shared with the kernel program (not copied).
    public var payload: [UInt8]
}

/// The source files of one artifact.
public struct CSources: Sendable {
    /// NAME.h.
    public var header: String
    /// NAME.c: code and small tables only; the weights are never C text.
    public var source: String
    /// NAME.weights.S for embedded weights: the assembler file that includes `weights` into an object
    /// with `.incbin`; nil for external weights.
    public var assembly: String?
    /// The weights file: the blob NAME.weights.S includes (embedded) or the file NAME_create reads (external).
    public var weights: WeightsBlob
}

/// The C type of a buffer element.
func cElementType(_ type: ElementType) -> String {
    switch type {
    case .f32: return "float"
    case .f16, .bf16, .u16: return "uint16_t"
    case .i16: return "int16_t"
    case .i8, .i4, .i2: return "int8_t"
    case .u8, .bool, .u4, .u2, .f8e4m3fn, .f8e5m2, .f4e2m1: return "uint8_t"
    case .i32: return "int32_t"
    case .i64: return "int64_t"
    }
}

/// The C type of a kernel value.
func cValueType(_ type: ValueType) -> String {
    switch type {
    case .i64: return "int64_t"
    case .f32: return "float"
    case .f64: return "double"
    case let .f32x(width): return "sieve_f32x\(width)"
    }
}

/// FNV-1a 64, as the runtime computes it.
public func weightsChecksum(_ bytes: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01b3
    }
    return hash
}

/// The 32-byte header of an external weights file for a payload: magic, version, reserved, size, checksum.
public func weightsFileHeader(_ payload: [UInt8]) -> [UInt8] {
    var bytes = Array("SIEVEWTS".utf8)
    func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    append(UInt32(1))
    append(UInt32(0))
    append(UInt64(payload.count))
    append(weightsChecksum(payload))
    return bytes
}

/// The bytes of an external weights file for a payload (header plus payload).
public func weightsFileBytes(_ payload: [UInt8]) -> [UInt8] {
    weightsFileHeader(payload) + payload
}

/// Text that is safe inside a C comment: no comment terminator, one line.
func sanitizeComment(_ text: String) -> String {
    text.replacingOccurrences(of: "*/", with: "* /").replacingOccurrences(of: "\n", with: " ")
}

/// Emits C for a verified kernel program.
public struct CEmitter {
    let program: KernelProgram
    let name: String
    let placement: WeightsPlacement
    let targetDescription: String
    let sourceDescription: String
    let defaultWeightsPath: String
    /// Whether NAME_run times each kernel (see ProfileEmission.swift); off, the artifact holds no profiling code.
    let profile: Bool

    /// Makes an emitter.
    /// - Parameters:
    ///   - program: the verified kernel program; its name is the symbol prefix.
    ///   - placement: embedded or external weights.
    ///   - targetDescription: the target, for the file comment.
    ///   - sourceDescription: what was compiled, for the file comment.
    ///   - defaultWeightsPath: where NAME_create looks for external weights.
    ///   - profile: whether NAME_run times each kernel and the artifact exports the profile API.
    public init(program: KernelProgram, placement: WeightsPlacement, targetDescription: String, sourceDescription: String,
                defaultWeightsPath: String, profile: Bool = false) {
        self.program = program
        self.name = program.name
        self.placement = placement
        self.targetDescription = targetDescription
        self.sourceDescription = sourceDescription
        self.defaultWeightsPath = defaultWeightsPath
        self.profile = profile
    }

    /// The header, the C source, and the weights as a blob (with the assembler file that embeds it).
    public func emit() -> CSources {
        let weights = payload
        switch placement {
        case .embedded:
            return CSources(header: header(), source: source(), assembly: assembly(),
                            weights: WeightsBlob(fileName: blobFileName, header: [], payload: weights))
        case .external:
            return CSources(header: header(), source: source(), assembly: nil,
                            weights: WeightsBlob(fileName: "\(name).weights", header: weightsFileHeader(weights), payload: weights))
        }
    }

    /// The raw weights that NAME.weights.S includes (embedded weights).
    var blobFileName: String { "\(name).weights.bin" }
    /// The symbol of the weights: defined by NAME.weights.S, declared by NAME.c.
    var weightSymbol: String { "\(name)_weight_data" }

    /// The weights payload, at least 64 bytes so that the array is never empty.
    var payload: [UInt8] {
        program.weights.count >= 64 ? program.weights : program.weights + [UInt8](repeating: 0, count: 64 - program.weights.count)
    }

    // MARK: header

    /// NAME.h: the C API, the same for every backend.
    public func header() -> String {
        let guardName = name.uppercased() + "_H"
        var lines: [String] = []
        lines.append("/* \(name).h: the C API of the model compiled by Sieve from \(sourceDescription).")
        lines.append(" * Plain C, no other header needed: create a context, run it on inputs and outputs, destroy it. */")
        lines.append("#ifndef \(guardName)")
        lines.append("#define \(guardName)")
        lines.append("")
        lines.append("#include <stddef.h>")
        lines.append("#include <stdint.h>")
        lines.append("")
        lines.append("#ifdef __cplusplus")
        lines.append("extern \"C\" {")
        lines.append("#endif")
        lines.append("")
        lines.append("#define \(name)_NUM_INPUTS \(program.inputs.count)")
        lines.append("#define \(name)_NUM_OUTPUTS \(program.outputs.count)")
        lines.append("/* Bytes of intermediate storage (the arena), fixed at compile time. */")
        lines.append("#define \(name)_ARENA_BYTES \(program.arenaBytes)")
        lines.append("/* Bytes NAME_init needs: the context, the arena and alignment slack. */")
        lines.append("#define \(name)_CONTEXT_BYTES (\(contextHeaderBytes) + \(name)_ARENA_BYTES + 64)")
        lines.append("#define \(name)_WEIGHTS_BYTES \(payload.count)")
        lines.append("#define \(name)_WEIGHTS_EXTERNAL \(placement == .external ? 1 : 0)")
        lines.append("")
        lines.append("/* Element types (ONNX TensorProto codes). The narrow types are held one element per byte, not packed as")
        lines.append(" * ONNX stores them: I4 and I2 as sign-extended int8_t, U4 and U2 as uint8_t, F8E4M3FN and F8E5M2 as their")
        lines.append(" * raw bits, F4E2M1 as its 4-bit code in the low nibble. */")
        for type in ElementType.allCases {
            lines.append("#define \(name)_DTYPE_\(type.rawValue.uppercased()) \(artifactDTypeCode(type))")
        }
        lines.append("")
        lines.append("/* Error codes returned by \(name)_run and reported by \(name)_create_with_weights. */")
        for (code, text) in errorCodes {
            lines.append("#define \(name)_ERROR_\(text) \(code)")
        }
        lines.append("")
        lines.append("typedef struct \(name)_ctx \(name)_ctx;")
        lines.append("")
        lines.append("/* One input or output: name, dtype, rank, shape (rank entries) and size in bytes. */")
        lines.append("typedef struct { const char *name; int dtype; int rank; const int64_t *shape; size_t bytes; } \(name)_tensor_info;")
        lines.append("")
        lines.append("extern const \(name)_tensor_info \(name)_inputs[\(name)_NUM_INPUTS], \(name)_outputs[\(name)_NUM_OUTPUTS];")
        lines.append("/* The counts again as symbols, for loaders that use the library without this header. */")
        lines.append("extern const int \(name)_num_inputs, \(name)_num_outputs;")
        lines.append("")
        lines.append("/* Allocates a context and starts num_threads - 1 worker threads (the only allocation and thread start);")
        lines.append(" * NULL on failure. */")
        lines.append("\(name)_ctx *\(name)_create(int num_threads);")
        lines.append("/* Runs the model: inputs[i] points at \(name)_inputs[i].bytes bytes, outputs[i] at \(name)_outputs[i].bytes.")
        lines.append(" * Returns 0 or an error code. Allocates nothing and starts no thread; distinct contexts may run concurrently. */")
        lines.append("int \(name)_run(\(name)_ctx *ctx, const void *const *inputs, void *const *outputs);")
        lines.append("/* Stops the worker threads and frees what \(name)_create allocated. */")
        lines.append("void \(name)_destroy(\(name)_ctx *ctx);")
        lines.append("/* A message for an error code. */")
        lines.append("const char *\(name)_error_string(int code);")
        lines.append("/* Places a context in caller-provided memory of at least \(name)_CONTEXT_BYTES bytes (no allocation).")
        lines.append(" * Returns 0 or an error code; release with \(name)_destroy. */")
        lines.append("int \(name)_init(void *memory, size_t bytes, int num_threads);")
        lines.append("/* The context placed by \(name)_init in `memory`. */")
        lines.append("\(name)_ctx *\(name)_context(void *memory);")
        if placement == .external {
            lines.append("/* Like \(name)_create, reading the weights file at `path` (checked: magic, version, size, checksum).")
            lines.append(" * On failure returns NULL and, when `error` is not NULL, stores the error code there. */")
            lines.append("\(name)_ctx *\(name)_create_with_weights(const char *path, int num_threads, int *error);")
            lines.append("/* Like \(name)_init, with the weights file's bytes already in memory (checked, then used in place). */")
            lines.append("int \(name)_init_with_weights(void *memory, size_t bytes, int num_threads, const void *weights_file, size_t weights_file_bytes);")
        }
        if profile { lines.append(contentsOf: profileHeaderLines()) }
        lines.append("")
        lines.append("#ifdef __cplusplus")
        lines.append("}")
        lines.append("#endif")
        lines.append("#endif")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The instruction-set flag the kernels were generated for, quoted in NAME.c's header comment.
    var buildFlagHint: String {
        switch program.vectorWidth {
        case 16: return targetDescription == "native" ? "-march=native" : "-march=x86-64-v4"
        case 8: return targetDescription == "native" ? "-march=native" : "-march=x86-64-v3"
        default: return targetDescription == "native" ? "-march=native" : "-march=x86-64"
        }
    }

    /// Lane-wise min, max, exp, sigmoid and exact GELU on f32 vectors of `width` lanes (the vector forms of kernel
    /// IR's min, max, exp, sigmoid and gelu).
    ///
    /// exp: e^x = 2^n * e^r with n = round(x / ln 2) (by the 1.5 * 2^23 rounding trick, whose bits then hold n),
    /// r = x - n ln 2 in two parts, e^r by its degree-7 Taylor-like minimax polynomial (Cephes' expf coefficients),
    /// and 2^n built in the exponent field; within 2 ulp on [-87.33, 88.37] (checked against exp in double by
    /// the kernel tests). Inputs are clamped to that range first; below it the result is 0, NaN stays NaN.
    func vectorMathHelpers(width: Int) -> [String] {
        let v = "f32x\(width)", f = "sieve_f32x\(width)", i = "sieve_i32x\(width)"
        var lines = ["typedef int32_t \(i) __attribute__((vector_size(\(width * 4))));"]
        for (op, compare) in [("min", "<"), ("max", ">")] {
            lines.append("static inline __attribute__((unused)) \(f) sieve_\(op)_\(v)(\(f) a, \(f) b) {")
            lines.append("    \(i) take = (\(i))(b \(compare) a);")
            lines.append("    return (\(f))(((\(i))b & take) | ((\(i))a & ~take));")
            lines.append("}")
        }
        lines += [
            "static inline __attribute__((unused)) \(f) sieve_exp_\(v)(\(f) x) {",
            "    \(i) underflow = (\(i))(x < sieve_broadcast_\(v)(-87.3365447505531f));",
            "    x = sieve_min_\(v)(x, sieve_broadcast_\(v)(88.3762626647949f));",
            "    x = sieve_max_\(v)(x, sieve_broadcast_\(v)(-87.3365447505531f));",
            "    \(f) t = x * 1.44269504088896341f + 12582912.0f;",
            "    \(f) n = t - 12582912.0f;",
            "    \(f) r = x - n * 0.693359375f;",
            "    r = r - n * -2.12194440e-4f;",
            "    \(f) p = sieve_broadcast_\(v)(1.9875691500e-4f);",
            "    p = sieve_fma_\(v)(p, r, sieve_broadcast_\(v)(1.3981999507e-3f));",
            "    p = sieve_fma_\(v)(p, r, sieve_broadcast_\(v)(8.3334519073e-3f));",
            "    p = sieve_fma_\(v)(p, r, sieve_broadcast_\(v)(4.1665795894e-2f));",
            "    p = sieve_fma_\(v)(p, r, sieve_broadcast_\(v)(1.6666665459e-1f));",
            "    p = sieve_fma_\(v)(p, r, sieve_broadcast_\(v)(5.0000001201e-1f));",
            "    \(f) y = sieve_fma_\(v)(p * r, r, r) + 1.0f;",
            "    \(i) scale = (((\(i))t - 0x4B400000) + 127) << 23;",
            "    return (\(f))((\(i))(y * (\(f))scale) & ~underflow);",
            "}",
        ]
        // sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) below, e = e^-|x| (never overflows): the exp's 2 ulp
        // and a rounding each for the sum, the quotient and the product, within 6 × 2^-24 relative of sigmoid in
        // double where that is at least FLT_MIN (checked by the kernel tests); 0 where e^-|x| is, NaN kept.
        lines += [
            "static inline __attribute__((unused)) \(f) sieve_sigmoid_\(v)(\(f) x) {",
            "    \(f) e = sieve_exp_\(v)(-sieve_max_\(v)(x, -x));",
            "    \(f) r = 1.0f / (1.0f + e);",
            "    \(i) negative = (\(i))(x < sieve_broadcast_\(v)(0.0f));",
            "    return (\(f))(((\(i))(e * r) & negative) | ((\(i))r & ~negative));",
            "}",
        ]
        // GELU(x) = x * Phi(x) with Phi(-|x|) = erfc(|x| / sqrt 2) / 2 and erfc(z) = t e^(-z^2) P(t), t = 1 / (1 + p z),
        // P fitted by scripts/fit-erfc.py (1.5e-8 relative in double). z^2 is x^2 / 2, and e^(-z^2) is corrected for
        // x^2's rounding where FMA gives it exactly (without FMA the tail's relative error grows as x^2 ulp).
        // Within 16 ulp (1e-6 relative) of GELU in double wherever the result is a normal float; NaN kept.
        let coefficients = ["0.18478002f", "0.1857722f", "0.16584584f", "0.20485218f", "-0.04685431f", "0.49414727f",
                            "-0.55057555f", "0.6196511f", "-0.31359786f", "0.055979118f"]
        lines += [
            "static inline __attribute__((unused)) \(f) sieve_gelu_\(v)(\(f) x) {",
            "    \(f) z = sieve_max_\(v)(x, -x) * 0.70710678118654752f;",
            "    \(f) t = 1.0f / (1.0f + 0.3275911f * z);",
            "    \(f) p = sieve_broadcast_\(v)(\(coefficients[9]));",
        ]
        for coefficient in coefficients.dropLast().reversed() {
            lines.append("    p = sieve_fma_\(v)(p, t, sieve_broadcast_\(v)(\(coefficient)));")
        }
        lines += [
            "    \(f) square = x * x;",
            "    \(f) z2 = 0.5f * square;",
            "    \(f) rounding = 0.5f * sieve_fma_\(v)(x, x, -square);",
            "    \(f) half = 0.5f * t * p * sieve_exp_\(v)(-z2) * (1.0f - rounding);",
            "    \(i) negative = (\(i))(x < sieve_broadcast_\(v)(0.0f));",
            "    \(f) phi = (\(f))(((\(i))half & negative) | ((\(i))(1.0f - half) & ~negative));",
            "    return x * phi;",
            "}",
        ]
        return lines
    }

    /// Room reserved for the context structure ahead of the arena (and, when profiling, its counters).
    var contextHeaderBytes: Int { 8192 + (profile ? profileCounterBytes : 0) }

    var errorCodes: [(Int, String)] {
        [(0, "OK"), (1, "NULL_ARGUMENT"), (2, "OUT_OF_MEMORY"), (3, "THREADS"), (4, "WEIGHTS_MISSING"), (5, "WEIGHTS_CORRUPT"),
         (6, "INDEX_OUT_OF_RANGE"), (7, "DIVISION_BY_ZERO"), (8, "BUFFER_TOO_SMALL"), (9, "BAD_ARGUMENT")]
    }

    // MARK: source

    func source() -> String {
        var out: [String] = []
        out.append("/* \(name).c: generated by Sieve from \(sourceDescription); do not edit.")
        out.append(" * target \(targetDescription), vectors of \(program.vectorWidth) f32, arena \(program.arenaBytes) bytes,")
        out.append(" * weights \(payload.count) bytes (\(placement.rawValue)), \(program.kernels.count) kernels.")
        if placement == .embedded {
            out.append(" * Build: cc -std=c11 -O3 -pthread \(buildFlagHint) -c \(name).c (next to sieve_runtime.h and sieve_runtime.c),")
            out.append(" * cc -c \(name).weights.S (next to \(blobFileName); from elsewhere add -I FOLDER), and link both objects. */")
        } else {
            out.append(" * Build: cc -std=c11 -O3 -pthread \(buildFlagHint) -c \(name).c (next to sieve_runtime.h and sieve_runtime.c). */")
        }
        out.append("#define _POSIX_C_SOURCE 200809L")
        out.append("#define SIEVE_RUNTIME_API static __attribute__((unused))")
        out.append("#include \"sieve_runtime.h\"")
        out.append("#include \"sieve_runtime.c\"")
        out.append("#include \"\(name).h\"")
        out.append("")
        out.append("#include <stdlib.h>")
        out.append("")
        out.append("#define \(name)_API __attribute__((visibility(\"default\")))")
        out.append("")
        for width in [program.vectorWidth] {
            out.append("typedef float sieve_f32x\(width) __attribute__((vector_size(\(width * 4))));")
            out.append("static inline __attribute__((unused)) sieve_f32x\(width) sieve_load_f32x\(width)(const float *p) { sieve_f32x\(width) v; memcpy(&v, p, sizeof v); return v; }")
            out.append("static inline __attribute__((unused)) void sieve_store_f32x\(width)(float *p, sieve_f32x\(width) v) { memcpy(p, &v, sizeof v); }")
            let lanes = (0..<width).map { _ in "x" }.joined(separator: ", ")
            out.append("static inline __attribute__((unused)) sieve_f32x\(width) sieve_broadcast_f32x\(width)(float x) { return (sieve_f32x\(width)){\(lanes)}; }")
            out.append("static inline __attribute__((unused)) float sieve_reduce_add_f32x\(width)(sieve_f32x\(width) v) { float s = 0; for (int i = 0; i < \(width); i++) s += v[i]; return s; }")
            // Lane splats from a register: one permute (AVX-512, AVX2) instead of a broadcast load.
            let permute: (guard: String, call: String)? = switch width {
            case 16: ("defined(__AVX512F__)", "_mm512_permutexvar_ps(_mm512_set1_epi32(lane), (__m512)v)")
            case 8: ("defined(__AVX2__)", "_mm256_permutevar8x32_ps((__m256)v, _mm256_set1_epi32(lane))")
            default: nil
            }
            out.append("static inline __attribute__((unused)) sieve_f32x\(width) sieve_broadcast_lane_f32x\(width)(sieve_f32x\(width) v, int lane) {")
            if let permute {
                out.append("#if \(permute.guard)")
                out.append("    return (sieve_f32x\(width))\(permute.call);")
                out.append("#else")
                out.append("    return sieve_broadcast_f32x\(width)(v[lane]);")
                out.append("#endif")
            } else {
                out.append("    return sieve_broadcast_f32x\(width)(v[lane]);")
            }
            out.append("}")
            // ISO C (-std=c11) does not contract a * b + c into one instruction, so vector FMAs are spelled out.
            let fused: (guard: String, call: String)? = switch width {
            case 16: ("defined(__AVX512F__)", "_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c)")
            case 8: ("defined(__AVX2__) && defined(__FMA__)", "_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c)")
            case 4: ("defined(__AVX2__) && defined(__FMA__)", "_mm_fmadd_ps((__m128)a, (__m128)b, (__m128)c)")
            default: nil
            }
            out.append("static inline __attribute__((unused)) sieve_f32x\(width) sieve_fma_f32x\(width)(sieve_f32x\(width) a, sieve_f32x\(width) b, sieve_f32x\(width) c) {")
            if let fused {
                out.append("#if \(fused.guard)")
                out.append("    return (sieve_f32x\(width))\(fused.call);")
                out.append("#else")
                out.append("    return a * b + c;")
                out.append("#endif")
            } else {
                out.append("    return a * b + c;")
            }
            out.append("}")
        }
        out.append(contentsOf: vectorMathHelpers(width: program.vectorWidth))
        out.append("")
        out.append("struct \(name)_ctx {")
        out.append("    sieve_pool pool;")
        out.append("    uint8_t *arena;")
        out.append("    const uint8_t *weights;")
        out.append("    void *weights_allocation; /* external weights read by create_with_weights */")
        out.append("    void *allocation;         /* the block \(name)_create allocated, NULL after \(name)_init */")
        if profile { out.append(contentsOf: profileContextFields()) }
        out.append("};")
        out.append("_Static_assert(sizeof(struct \(name)_ctx) + 64 <= \(contextHeaderBytes), \"context header too small\");")
        out.append("")
        out.append("/* What every kernel sees: the context's memory, the caller's tensors and the error flag. */")
        out.append("typedef struct {")
        out.append("    sieve_pool *pool;")
        out.append("    uint8_t *arena;")
        out.append("    const uint8_t *weights;")
        out.append("    const void *const *inputs;")
        out.append("    void *const *outputs;")
        out.append("    int *error;")
        out.append("} \(name)_state;")
        out.append("")
        out.append(contentsOf: tables())
        if placement == .embedded {
            // Defined by NAME.weights.S from the raw bytes; hidden, so the code reaches it PC-relative and
            // the shared library does not export it.
            out.append("/* The weights: \(blobFileName), placed in the object by \(name).weights.S. */")
            out.append("extern const uint8_t \(weightSymbol)[\(payload.count)] __attribute__((visibility(\"hidden\"), aligned(64)));")
        } else {
            out.append("static const char \(name)_default_weights_path[] = \(cString(defaultWeightsPath));")
            out.append("static const uint64_t \(name)_weights_checksum = UINT64_C(\(weightsChecksum(payload)));")
        }
        out.append("")
        for kernel in program.kernels {
            out.append(contentsOf: KernelCWriter(program: program, kernel: kernel, prefix: name).lines())
            out.append("")
        }
        if profile { out.append(contentsOf: profileFunctions()) }
        out.append(contentsOf: apiFunctions())
        return out.joined(separator: "\n") + "\n"
    }

    /// NAME.weights.S: defines the weights symbol over the raw bytes of NAME.weights.bin.
    ///
    /// Why `.incbin` in an assembler file: the C compiler then sees only code (a C array literal of many
    /// megabytes cost tens of seconds and gigabytes of compiler memory), and gcc and clang both assemble
    /// it the same way, for whatever object format and ABI the C code is built for; writing an ELF object
    /// ourselves would tie artifacts to one format and need its relocation and symbol rules done by hand.
    /// The assembler reads the blob at build time only, relative to the folder it runs in or to `-I`
    /// folders, so the artifact folder can be moved; the built libraries do not need the blob.
    ///
    /// The large-data section (`.lrodata`, flag `l`) is what x86-64 uses for data beyond 2 GiB of reach:
    /// linkers place it after `.bss`, so gigabytes of weights never push the code's 32-bit PC-relative
    /// references to other data (or the GOT) out of range. The size check catches a blob from another
    /// build of the model at build time instead of at run time.
    func assembly() -> String {
        let bytes = payload.count
        let section = "\(weightSymbol)"
        return """
            /* \(name).weights.S: the weights of the model compiled by Sieve from \(sanitizeComment(sourceDescription)), as data.
             * The assembler copies \(blobFileName) (\(bytes) bytes) into the object, so that no C compiler parses them.
             * Build: cc -c \(name).weights.S in this folder (elsewhere: cc -I FOLDER -c FOLDER/\(name).weights.S). */
            #if defined(__ELF__) && defined(__x86_64__)
                .section .lrodata.\(section),"al",@progbits
            #elif defined(__ELF__)
                .section .rodata.\(section),"a",@progbits
            #else
            #error "\(name).weights.S is written for ELF targets (Linux and the BSDs)"
            #endif
                .balign 64
                .globl \(weightSymbol)
                .hidden \(weightSymbol)
                .type \(weightSymbol), @object
                .size \(weightSymbol), \(bytes)
            \(weightSymbol):
                .incbin "\(blobFileName)"
                .if . - \(weightSymbol) - \(bytes)
                .error "\(blobFileName) does not hold \(bytes) bytes: it belongs to another build of the model"
                .endif
            #if defined(__ELF__)
                .section .note.GNU-stack,"",@progbits
            #endif

            """
    }

    func cString(_ text: String) -> String {
        var escaped = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            default:
                if scalar.value < 0x20 || scalar.value > 0x7e {
                    for byte in String(scalar).utf8 { escaped += String(format: "\\%03o", byte) }
                } else {
                    escaped.unicodeScalars.append(scalar)
                }
            }
        }
        return escaped + "\""
    }

    func tables() -> [String] {
        var lines: [String] = []
        func table(_ kind: String, shapes: [[Int]], names: [String], buffers: [BufferID]) {
            for (index, shape) in shapes.enumerated() where !shape.isEmpty {
                lines.append("static const int64_t \(name)_\(kind)_shape\(index)[\(shape.count)] = {\(shape.map(String.init).joined(separator: ", "))};")
            }
            let upper = kind == "inputs" ? "INPUTS" : "OUTPUTS"
            lines.append("\(name)_API const \(name)_tensor_info \(name)_\(kind)[\(name)_NUM_\(upper)] = {")
            for (index, shape) in shapes.enumerated() {
                let buffer = program.buffers[buffers[index].index]
                let bytes = (shape.reduce(1, *)) * buffer.elementType.byteSize
                let shapeText = shape.isEmpty ? "NULL" : "\(name)_\(kind)_shape\(index)"
                lines.append("    {\(cString(names[index])), \(artifactDTypeCode(buffer.elementType)), \(shape.count), \(shapeText), \(bytes)},")
            }
            if shapes.isEmpty { lines.append("    {NULL, 0, 0, NULL, 0},") }
            lines.append("};")
        }
        table("inputs", shapes: program.inputShapes, names: program.inputNames, buffers: program.inputs)
        table("outputs", shapes: program.outputShapes, names: program.outputNames, buffers: program.outputs)
        lines.append("\(name)_API const int \(name)_num_inputs = \(name)_NUM_INPUTS, \(name)_num_outputs = \(name)_NUM_OUTPUTS;")
        lines.append("")
        return lines
    }

    func apiFunctions() -> [String] {
        let n = name
        var lines: [String] = []
        lines.append("\(n)_API const char *\(n)_error_string(int code) {")
        lines.append("    switch (code) {")
        let messages = [
            "OK": "no error", "NULL_ARGUMENT": "a required pointer argument is NULL",
            "OUT_OF_MEMORY": "memory allocation failed", "THREADS": "the worker threads could not be started",
            "WEIGHTS_MISSING": "the weights file could not be opened",
            "WEIGHTS_CORRUPT": "the weights file is corrupt or belongs to another model (magic, version, size or checksum mismatch)",
            "INDEX_OUT_OF_RANGE": "a gather index is out of range for its axis",
            "DIVISION_BY_ZERO": "an integer division by zero", "BUFFER_TOO_SMALL": "the memory given to init is smaller than CONTEXT_BYTES",
            "BAD_ARGUMENT": "an argument is invalid",
        ]
        for (code, text) in errorCodes {
            lines.append("    case \(code): return \(cString(messages[text] ?? text));")
        }
        lines.append("    default: return \"unknown error code\";")
        lines.append("    }")
        lines.append("}")
        lines.append("")
        lines.append("static int \(n)_place(void *memory, size_t bytes, int num_threads, const uint8_t *weights, \(n)_ctx **result) {")
        lines.append("    if (memory == NULL) return SIEVE_ERROR_NULL_ARGUMENT;")
        lines.append("    if (bytes < \(n)_CONTEXT_BYTES) return SIEVE_ERROR_BUFFER_TOO_SMALL;")
        lines.append("    uint8_t *base = (uint8_t *)(((uintptr_t)memory + 63) & ~(uintptr_t)63);")
        lines.append("    \(n)_ctx *ctx = (\(n)_ctx *)base;")
        lines.append("    memset(ctx, 0, sizeof *ctx);")
        lines.append("    ctx->arena = base + \(contextHeaderBytes);")
        lines.append("    ctx->weights = weights;")
        lines.append("    int status = sieve_pool_init(&ctx->pool, num_threads);")
        lines.append("    if (status != SIEVE_OK) return status;")
        lines.append("    *result = ctx;")
        lines.append("    return SIEVE_OK;")
        lines.append("}")
        lines.append("")
        lines.append("\(n)_API \(n)_ctx *\(n)_context(void *memory) {")
        lines.append("    return memory == NULL ? NULL : (\(n)_ctx *)(((uintptr_t)memory + 63) & ~(uintptr_t)63);")
        lines.append("}")
        lines.append("")
        if placement == .embedded {
            lines.append("\(n)_API int \(n)_init(void *memory, size_t bytes, int num_threads) {")
            lines.append("    \(n)_ctx *ctx = NULL;")
            lines.append("    return \(n)_place(memory, bytes, num_threads, \(weightSymbol), &ctx);")
            lines.append("}")
            lines.append("")
            lines.append("\(n)_API \(n)_ctx *\(n)_create(int num_threads) {")
            lines.append("    void *memory = NULL;")
            lines.append("    if (posix_memalign(&memory, 64, \(n)_CONTEXT_BYTES) != 0 || memory == NULL) return NULL;")
            lines.append("    \(n)_ctx *ctx = NULL;")
            lines.append("    if (\(n)_place(memory, \(n)_CONTEXT_BYTES, num_threads, \(weightSymbol), &ctx) != SIEVE_OK) {")
            lines.append("        free(memory);")
            lines.append("        return NULL;")
            lines.append("    }")
            lines.append("    ctx->allocation = memory;")
            lines.append("    return ctx;")
            lines.append("}")
        } else {
            lines.append("\(n)_API int \(n)_init_with_weights(void *memory, size_t bytes, int num_threads, const void *weights_file, size_t weights_file_bytes) {")
            lines.append("    int status = sieve_weights_check((const uint8_t *)weights_file, weights_file_bytes, \(n)_WEIGHTS_BYTES, \(n)_weights_checksum);")
            lines.append("    if (status != SIEVE_OK) return status;")
            lines.append("    if (((uintptr_t)weights_file + SIEVE_WEIGHTS_HEADER_BYTES) % 64 != 0) return SIEVE_ERROR_BAD_ARGUMENT;")
            lines.append("    \(n)_ctx *ctx = NULL;")
            lines.append("    return \(n)_place(memory, bytes, num_threads, (const uint8_t *)weights_file + SIEVE_WEIGHTS_HEADER_BYTES, &ctx);")
            lines.append("}")
            lines.append("")
            lines.append("\(n)_API int \(n)_init(void *memory, size_t bytes, int num_threads) {")
            lines.append("    (void)memory; (void)bytes; (void)num_threads;")
            lines.append("    return SIEVE_ERROR_WEIGHTS_MISSING; /* external weights: use \(n)_init_with_weights */")
            lines.append("}")
            lines.append("")
            lines.append("\(n)_API \(n)_ctx *\(n)_create_with_weights(const char *path, int num_threads, int *error) {")
            lines.append("    uint8_t *weights = NULL;")
            lines.append("    void *weights_allocation = NULL;")
            lines.append("    int status = sieve_weights_load(path, \(n)_WEIGHTS_BYTES, \(n)_weights_checksum, &weights, &weights_allocation);")
            lines.append("    void *memory = NULL;")
            lines.append("    if (status == SIEVE_OK && (posix_memalign(&memory, 64, \(n)_CONTEXT_BYTES) != 0 || memory == NULL)) status = SIEVE_ERROR_OUT_OF_MEMORY;")
            lines.append("    \(n)_ctx *ctx = NULL;")
            lines.append("    if (status == SIEVE_OK) status = \(n)_place(memory, \(n)_CONTEXT_BYTES, num_threads, weights, &ctx);")
            lines.append("    if (status != SIEVE_OK) {")
            lines.append("        free(memory);")
            lines.append("        free(weights_allocation);")
            lines.append("        if (error != NULL) *error = status;")
            lines.append("        return NULL;")
            lines.append("    }")
            lines.append("    ctx->allocation = memory;")
            lines.append("    ctx->weights_allocation = weights_allocation;")
            lines.append("    if (error != NULL) *error = SIEVE_OK;")
            lines.append("    return ctx;")
            lines.append("}")
            lines.append("")
            lines.append("\(n)_API \(n)_ctx *\(n)_create(int num_threads) {")
            lines.append("    return \(n)_create_with_weights(\(n)_default_weights_path, num_threads, NULL);")
            lines.append("}")
        }
        lines.append("")
        lines.append("\(n)_API void \(n)_destroy(\(n)_ctx *ctx) {")
        lines.append("    if (ctx == NULL) return;")
        lines.append("    sieve_pool_destroy(&ctx->pool);")
        lines.append("    free(ctx->weights_allocation);")
        lines.append("    free(ctx->allocation);")
        lines.append("}")
        lines.append("")
        lines.append("\(n)_API int \(n)_run(\(n)_ctx *ctx, const void *const *inputs, void *const *outputs) {")
        lines.append("    if (ctx == NULL) return SIEVE_ERROR_NULL_ARGUMENT;")
        if !program.inputs.isEmpty {
            lines.append("    if (inputs == NULL) return SIEVE_ERROR_NULL_ARGUMENT;")
            lines.append("    for (int i = 0; i < \(n)_NUM_INPUTS; i++) if (inputs[i] == NULL) return SIEVE_ERROR_NULL_ARGUMENT;")
        }
        lines.append("    if (outputs == NULL) return SIEVE_ERROR_NULL_ARGUMENT;")
        lines.append("    for (int i = 0; i < \(n)_NUM_OUTPUTS; i++) if (outputs[i] == NULL) return SIEVE_ERROR_NULL_ARGUMENT;")
        lines.append("    int error = SIEVE_OK;")
        lines.append("    \(n)_state state = {&ctx->pool, ctx->arena, ctx->weights, inputs, outputs, &error};")
        if profile && !program.kernels.isEmpty { lines.append("    uint64_t profile_start = \(n)_profile_now();") }
        for (index, kernel) in program.kernels.enumerated() {
            lines.append("    \(n)_\(kernel.name)(&state);")
            if profile { lines.append(profileCountLine(kernel: index)) }
            lines.append("    if (__atomic_load_n(&error, __ATOMIC_RELAXED) != SIEVE_OK) return error;")
        }
        if profile { lines.append("    ctx->profile_runs++;") }
        if program.kernels.isEmpty { lines.append("    (void)state;") }
        lines.append("    return SIEVE_OK;")
        lines.append("}")
        return lines
    }
}

/// Writes one kernel as C functions: one task per top-level parallel loop, then the serial driver.
struct KernelCWriter {
    let program: KernelProgram
    let kernel: Kernel
    let prefix: String

    /// How many times each variable is read, to mark never-read ones unused.
    var readCounts: [Int] {
        var counts = [Int](repeating: 0, count: kernel.variables.count)
        kernel.forEachNode(expression: { node in
            if case let .variable(id) = node, counts.indices.contains(id.index) { counts[id.index] += 1 }
        })
        return counts
    }

    func lines() -> [String] {
        var out: [String] = []
        let counts = readCounts
        out.append("/* kernel \(kernel.name): \(kernel.op) at \(sanitizeComment(kernel.location))")
        out.append(" * pattern: \(sanitizeComment(kernel.pattern)) */")
        var serial: [String] = []
        var taskIndex = 0
        var serialBuffers: Set<BufferID> = []
        for statement in kernel.body {
            if case let .loop(loop) = statement, loop.parallel {
                let task = "\(prefix)_\(kernel.name)_task\(taskIndex)"
                taskIndex += 1
                var body: [String] = []
                var used: Set<BufferID> = []
                let variable = variableName(loop.variable)
                body.append("    for (int64_t \(variable) = begin; \(variable) < end; \(variable)++) {")
                for inner in loop.body { statementLines(inner, indent: "        ", counts: counts, into: &body, used: &used) }
                body.append("    }")
                out.append("static void \(task)(const void *opaque, int64_t begin, int64_t end) {")
                out.append("    const \(prefix)_state *s = (const \(prefix)_state *)opaque;")
                out.append(contentsOf: bufferDeclarations(used))
                if used.isEmpty { out.append("    (void)s;") }
                out.append(contentsOf: body)
                out.append("}")
                var upperUsed: Set<BufferID> = []
                let upper = expressionText(loop.upper, used: &upperUsed)
                serialBuffers.formUnion(upperUsed)
                serial.append("    sieve_pool_run(s->pool, \(task), s, \(upper));")
            } else {
                statementLines(statement, indent: "    ", counts: counts, into: &serial, used: &serialBuffers)
            }
        }
        out.append("static void \(prefix)_\(kernel.name)(const \(prefix)_state *s) {")
        out.append(contentsOf: bufferDeclarations(serialBuffers))
        // A kernel whose loops are all empty (a zero-sized result) reads nothing from the state.
        if serialBuffers.isEmpty { out.append("    (void)s;") }
        out.append(contentsOf: serial)
        out.append("}")
        return out
    }

    func bufferDeclarations(_ used: Set<BufferID>) -> [String] {
        used.sorted().map { id in
            let buffer = program.buffers[id.index]
            let element = cElementType(buffer.elementType)
            let constness = buffer.isWritable ? "" : "const "
            let source: String
            switch buffer.storage {
            case let .input(index): source = "s->inputs[\(index)]"
            case let .output(index): source = "s->outputs[\(index)]"
            case let .arena(offset): source = "(s->arena + \(offset))"
            case let .constant(offset): source = "(s->weights + \(offset))"
            }
            return "    \(constness)\(element) *b\(id.index) = (\(constness)\(element) *)\(source); /* \(sanitizeComment(buffer.name)) */"
        }
    }

    func variableName(_ id: VariableID) -> String {
        let hint = kernel.variables.indices.contains(id.index) ? kernel.variables[id.index].name : "v"
        let safe = String(hint.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" })
        return "\(safe)_\(id.index)"
    }

    func statementLines(_ statement: Statement, indent: String, counts: [Int], into lines: inout [String], used: inout Set<BufferID>) {
        switch statement {
        case let .loop(loop):
            let variable = variableName(loop.variable)
            let lower = expressionText(loop.lower, used: &used), upper = expressionText(loop.upper, used: &used)
            let step = loop.step == 1 ? "\(variable)++" : "\(variable) += \(loop.step)"
            lines.append("\(indent)for (int64_t \(variable) = \(lower); \(variable) < \(upper); \(step)) {")
            for inner in loop.body { statementLines(inner, indent: indent + "    ", counts: counts, into: &lines, used: &used) }
            lines.append("\(indent)}")
        case let .declare(id, value):
            let type = kernel.variables.indices.contains(id.index) ? kernel.variables[id.index].type : .i64
            let unused = counts.indices.contains(id.index) && counts[id.index] == 0 ? " __attribute__((unused))" : ""
            lines.append("\(indent)\(cValueType(type)) \(variableName(id))\(unused) = \(expressionText(value, used: &used));")
        case let .assign(id, value):
            lines.append("\(indent)\(variableName(id)) = \(expressionText(value, used: &used));")
        case let .store(buffer, index, value):
            used.insert(buffer)
            let element = program.buffers[buffer.index].elementType
            let valueText = expressionText(value, used: &used)
            let converted: String
            switch element {
            case .f32, .i64: converted = valueText
            case .f16: converted = "sieve_f32_to_f16(\(valueText))"
            case .bf16: converted = "sieve_f32_to_bf16(\(valueText))"
            case .f8e4m3fn: converted = "sieve_f32_to_f8e4m3fn(\(valueText), 1)"
            case .f8e5m2: converted = "sieve_f32_to_f8e5m2(\(valueText), 1)"
            case .f4e2m1: converted = "sieve_f32_to_f4e2m1(\(valueText))"
            case .i8: converted = "(int8_t)(\(valueText))"
            case .u8: converted = "(uint8_t)(\(valueText))"
            case .i16: converted = "(int16_t)(\(valueText))"
            case .u16: converted = "(uint16_t)(\(valueText))"
            case .i4: converted = "sieve_wrap_signed(\(valueText), 4)"
            case .u4: converted = "sieve_wrap_unsigned(\(valueText), 4)"
            case .i2: converted = "sieve_wrap_signed(\(valueText), 2)"
            case .u2: converted = "sieve_wrap_unsigned(\(valueText), 2)"
            case .i32: converted = "(int32_t)(\(valueText))"
            case .bool: converted = "(uint8_t)((\(valueText)) != 0)"
            }
            lines.append("\(indent)b\(buffer.index)[\(expressionText(index, used: &used))] = \(converted);")
        case let .prefetch(buffer, index):
            used.insert(buffer)
            lines.append("\(indent)__builtin_prefetch(&b\(buffer.index)[\(expressionText(index, used: &used))]);")
        case let .nmRowBlock(product):
            used.formUnion([product.weights, product.dense, product.out])
            let layout = product.layout
            lines.append("\(indent)sieve_nm_rows4_f32(&b\(product.weights.index)[(\(expressionText(product.block, used: &used))) * \(layout.blockBytes)], "
                         + "\(layout.chunks), \(layout.tailKept), \(layout.n), \(layout.m), \(layout.order == .inLane ? 1 : 0), &b\(product.dense.index)[\(expressionText(product.denseStart, used: &used))], "
                         + "&b\(product.out.index)[\(expressionText(product.outStart, used: &used))], \(expressionText(product.validRows, used: &used)));")
        case let .quantizeRow(row):
            used.formUnion([row.out, row.scales, row.zeroPoints, row.source])
            let index = expressionText(row.scaleIndex, used: &used)
            lines.append("\(indent)sieve_quantize_row_u8(&b\(row.source.index)[\(expressionText(row.sourceStart, used: &used))], \(row.length), "
                         + "&b\(row.out.index)[\(expressionText(row.outStart, used: &used))], &b\(row.scales.index)[\(index)], &b\(row.zeroPoints.index)[\(index)]);")
        case let .int8Tile(tile):
            used.formUnion([tile.a, tile.weights, tile.out])
            lines.append("\(indent)sieve_int8_tile(&b\(tile.a.index)[\(expressionText(tile.aStart, used: &used))], \(tile.aStride), "
                         + "\(expressionText(tile.rows, used: &used)), &b\(tile.weights.index)[(\(expressionText(tile.panel, used: &used))) * \(tile.layout.panelBytes(k: tile.k))], "
                         + "\(expressionText(tile.panels, used: &used)), \(tile.k), \(tile.layout == .sparse24 ? 1 : 0), "
                         + "&b\(tile.out.index)[\(expressionText(tile.outStart, used: &used))], \(tile.outStride));")
        case let .transposeTile(tile):
            used.formUnion([tile.source, tile.out])
            lines.append("\(indent)sieve_transpose_tile\(tile.size)_f32(&b\(tile.source.index)[\(expressionText(tile.sourceStart, used: &used))], \(tile.sourceStride), "
                         + "&b\(tile.out.index)[\(expressionText(tile.outStart, used: &used))], \(tile.outStride));")
        case let .vectorStore(buffer, index, value):
            used.insert(buffer)
            let width: Int
            if case let .f32x(lanes) = kernel.type(of: value, buffers: program.buffers) { width = lanes } else { width = program.vectorWidth }
            lines.append("\(indent)sieve_store_f32x\(width)(&b\(buffer.index)[\(expressionText(index, used: &used))], \(expressionText(value, used: &used)));")
        case let .branch(condition, thenBody, elseBody):
            lines.append("\(indent)if (\(expressionText(condition, used: &used))) {")
            for inner in thenBody { statementLines(inner, indent: indent + "    ", counts: counts, into: &lines, used: &used) }
            if !elseBody.isEmpty {
                lines.append("\(indent)} else {")
                for inner in elseBody { statementLines(inner, indent: indent + "    ", counts: counts, into: &lines, used: &used) }
            }
            lines.append("\(indent)}")
        case let .trap(reason):
            let code: String
            switch reason {
            case .indexOutOfRange: code = "SIEVE_ERROR_INDEX_OUT_OF_RANGE"
            case .divisionByZero: code = "SIEVE_ERROR_DIVISION_BY_ZERO"
            }
            lines.append("\(indent)__atomic_store_n(s->error, \(code), __ATOMIC_RELAXED);")
            lines.append("\(indent)return;")
        }
    }

    func floatLiteral(_ value: Float) -> String {
        if value.isNaN { return "NAN" }
        if value.isInfinite { return value < 0 ? "(-INFINITY)" : "INFINITY" }
        var text = "\(value)"
        if !text.contains(".") && !text.contains("e") { text += ".0" }
        return "\(text)f"
    }

    func doubleLiteral(_ value: Double) -> String {
        if value.isNaN { return "((double)NAN)" }
        if value.isInfinite { return value < 0 ? "(-(double)INFINITY)" : "((double)INFINITY)" }
        var text = "\(value)"
        if !text.contains(".") && !text.contains("e") { text += ".0" }
        return text
    }

    func expressionText(_ expression: KernelExpression, used: inout Set<BufferID>) -> String {
        func text(_ inner: KernelExpression) -> String { expressionText(inner, used: &used) }
        func type(_ inner: KernelExpression) -> ValueType { kernel.type(of: inner, buffers: program.buffers) }
        switch expression {
        case let .int(value):
            if value == Int64.min { return "INT64_MIN" }
            return value < 0 ? "(\(value))" : "\(value)"
        case let .float(value): return floatLiteral(value)
        case let .double(value): return doubleLiteral(value)
        case let .variable(id): return variableName(id)
        case let .load(buffer, index):
            used.insert(buffer)
            let element = "b\(buffer.index)[\(text(index))]"
            switch program.buffers[buffer.index].elementType {
            case .f32: return element
            case .f16: return "sieve_f16_to_f32(\(element))"
            case .bf16: return "sieve_bf16_to_f32(\(element))"
            case .f8e4m3fn: return "sieve_f8e4m3fn_to_f32(\(element))"
            case .f8e5m2: return "sieve_f8e5m2_to_f32(\(element))"
            case .f4e2m1: return "sieve_f4e2m1_to_f32(\(element))"
            case .i8, .u8, .i16, .u16, .i32, .bool, .i4, .u4, .i2, .u2: return "(int64_t)\(element)"
            case .i64: return element
            }
        case let .vectorLoad(buffer, index, width):
            used.insert(buffer)
            return "sieve_load_f32x\(width)(&b\(buffer.index)[\(text(index))])"
        case let .broadcast(value, width):
            return "sieve_broadcast_f32x\(width)(\(text(value)))"
        case let .broadcastLane(value, lane):
            if case let .f32x(width) = type(value) { return "sieve_broadcast_lane_f32x\(width)(\(text(value)), \(lane))" }
            return text(value)
        case let .reduceAdd(value):
            if case let .f32x(width) = type(value) { return "sieve_reduce_add_f32x\(width)(\(text(value)))" }
            return text(value)
        case let .unary(op, value):
            let operandType = type(value)
            let inner = text(value)
            func viaDouble(_ function: String) -> String {
                operandType == .f64 ? "\(function)(\(inner))" : "(float)\(function)((double)(\(inner)))"
            }
            switch op {
            case .neg: return operandType == .i64 ? "sieve_wrapping_sub(0, \(inner))" : "(-(\(inner)))"
            case .sqrt: return viaDouble("sqrt")
            case .exp:
                if case let .f32x(width) = operandType { return "sieve_exp_f32x\(width)(\(inner))" }
                return viaDouble("exp")
            case .erf: return viaDouble("erf")
            case .tanh: return viaDouble("tanh")
            case .sigmoid:
                if case let .f32x(width) = operandType { return "sieve_sigmoid_f32x\(width)(\(inner))" }
                return viaDouble("sieve_sigmoid")
            case .gelu:
                if case let .f32x(width) = operandType { return "sieve_gelu_f32x\(width)(\(inner))" }
                return viaDouble("sieve_gelu")
            case .geluTanh: return viaDouble("sieve_gelu_tanh")
            case .isNaN: return "((\(inner)) != (\(inner)))"
            case .not: return "(!(\(inner)))"
            case .abs: return operandType == .f64 ? "fabs(\(inner))" : "fabsf(\(inner))"
            case .log: return viaDouble("log")
            case .floor: return operandType == .f64 ? "floor(\(inner))" : "floorf(\(inner))"
            case .ceil: return operandType == .f64 ? "ceil(\(inner))" : "ceilf(\(inner))"
            // In the default rounding mode, which generated code never changes: halves to even.
            case .roundEven: return operandType == .f64 ? "nearbyint(\(inner))" : "nearbyintf(\(inner))"
            case .sin: return viaDouble("sin")
            case .cos: return viaDouble("cos")
            case .softplus:
                let x = operandType == .f64 ? "(\(inner))" : "(double)(\(inner))"
                let value = "(fmax(\(x), 0.0) + log1p(exp(-fabs(\(x)))))"
                return operandType == .f64 ? value : "(float)\(value)"
            }
        case let .binary(op, lhs, rhs):
            let a = text(lhs), b = text(rhs)
            let operandType = type(lhs)
            switch op {
            case .add: return "(\(a) + \(b))"
            case .sub: return "(\(a) - \(b))"
            case .mul: return "(\(a) * \(b))"
            case .div: return "(\(a) / \(b))"
            case .rem: return "(\(a) % \(b))"
            case .wrappingAdd: return "sieve_wrapping_add(\(a), \(b))"
            case .wrappingSub: return "sieve_wrapping_sub(\(a), \(b))"
            case .wrappingMul: return "sieve_wrapping_mul(\(a), \(b))"
            case .wrappingDiv: return "sieve_wrapping_div(\(a), \(b))"
            case .wrappingRem: return "((\(b)) == -1 ? 0 : (\(a)) % (\(b)))"
            case .fmod: return operandType == .f64 ? "fmod(\(a), \(b))" : "fmodf(\(a), \(b))"
            case .pow:
                switch operandType {
                case .i64: return "sieve_pow_i64(\(a), \(b))"
                case .f64: return "pow(\(a), \(b))"
                case .f32, .f32x: return "(float)pow((double)(\(a)), (double)(\(b)))"
                }
            // The first operand wins ties and NaN.
            case .min, .max:
                // Vectors blend lane by lane (C has no vector ?:); both forms keep the first operand on ties and NaN.
                if case let .f32x(width) = operandType { return "sieve_\(op.rawValue)_f32x\(width)(\(a), \(b))" }
                return op == .min ? "((\(b)) < (\(a)) ? (\(b)) : (\(a)))" : "((\(b)) > (\(a)) ? (\(b)) : (\(a)))"
            case .lt: return "(int64_t)((\(a)) < (\(b)))"
            case .le: return "(int64_t)((\(a)) <= (\(b)))"
            case .gt: return "(int64_t)((\(a)) > (\(b)))"
            case .ge: return "(int64_t)((\(a)) >= (\(b)))"
            case .eq: return "(int64_t)((\(a)) == (\(b)))"
            case .ne: return "(int64_t)((\(a)) != (\(b)))"
            case .and: return "(int64_t)((\(a)) && (\(b)))"
            case .or: return "(int64_t)((\(a)) || (\(b)))"
            }
        case let .fma(a, b, c):
            if case let .f32x(width) = type(a) { return "sieve_fma_f32x\(width)(\(text(a)), \(text(b)), \(text(c)))" }
            return "(\(text(a)) * \(text(b)) + \(text(c)))"
        case let .select(condition, a, b):
            return "((\(text(condition))) ? (\(text(a))) : (\(text(b))))"
        case let .convert(value, target):
            let source = type(value)
            if source == target { return text(value) }
            return "(\(cValueType(target)))(\(text(value)))"
        case let .nmIndex(buffer, element, bits):
            used.insert(buffer)
            return "sieve_nm_index(b\(buffer.index), \(text(element)), \(bits))"
        case let .nmDot(dot) where program.buffers[dot.values.index].elementType == .i8:
            used.formUnion([dot.values, dot.indices, dot.dense])
            return "sieve_nm_dot_u8i8(b\(dot.values.index), b\(dot.indices.index), \(text(dot.first)), \(dot.groups), \(dot.n), \(dot.m), "
                + "\(dot.m.trailingZeroBitCount), &b\(dot.dense.index)[\(text(dot.denseStart))])"
        case let .dot(dot):
            used.formUnion([dot.a, dot.b])
            return "sieve_dot_u8i8(&b\(dot.a.index)[\(text(dot.aStart))], &b\(dot.b.index)[\(text(dot.bStart))], \(dot.length))"
        case let .nmDot(dot):
            used.formUnion([dot.values, dot.indices, dot.dense])
            return "sieve_nm_dot_f32(b\(dot.values.index), b\(dot.indices.index), \(text(dot.first)), \(dot.groups), \(dot.n), \(dot.m), "
                + "\(dot.m.trailingZeroBitCount), &b\(dot.dense.index)[\(text(dot.denseStart))])"
        case let .intrinsic(intrinsic, arguments):
            let texts = arguments.map { text($0) }
            switch intrinsic {
            case .quantize: return "sieve_quantize(\(texts.joined(separator: ", ")))"
            case .truncateToI64: return "sieve_truncate_to_i64((double)(\(texts.first ?? "0")))"
            }
        }
    }
}
