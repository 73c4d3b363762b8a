/* sieve_runtime.h: the thin runtime compiled into every Sieve artifact (thread pool, weights check, helpers).
 * Generated model code includes this header; applications include only the model's own NAME.h. */
#ifndef SIEVE_RUNTIME_H
#define SIEVE_RUNTIME_H

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* GCC 12.2 miscompiles the generic (pre-AVX2) int8 product kernels of some artifacts at -O3: the exact sums of
 * sieve_dot_u8i8 inlined into a product task come out wrong (seen with imported QDQ models; right at -O2, with
 * -fno-ivopts and with clang; UBSan reports nothing). Until the cause is reduced to a GCC report, artifacts built by
 * GCC before 13 without AVX2 turn induction-variable optimisation off for everything after this header. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13 && !defined(__AVX2__)
#pragma GCC optimize("no-ivopts")
#endif
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Artifacts define SIEVE_RUNTIME_API as `static` so two models linked into one program do not clash. */
#ifndef SIEVE_RUNTIME_API
#define SIEVE_RUNTIME_API
#endif

/* Error codes shared by every artifact (NAME_run and NAME_create* return or report them). */
enum {
    SIEVE_OK = 0,
    SIEVE_ERROR_NULL_ARGUMENT = 1,
    SIEVE_ERROR_OUT_OF_MEMORY = 2,
    SIEVE_ERROR_THREADS = 3,
    SIEVE_ERROR_WEIGHTS_MISSING = 4,
    SIEVE_ERROR_WEIGHTS_CORRUPT = 5,
    SIEVE_ERROR_INDEX_OUT_OF_RANGE = 6,
    SIEVE_ERROR_DIVISION_BY_ZERO = 7,
    SIEVE_ERROR_BUFFER_TOO_SMALL = 8,
    SIEVE_ERROR_BAD_ARGUMENT = 9
};

/* The most threads a pool runs (the calling thread included). */
#define SIEVE_MAX_THREADS 64

/* A parallel task: runs iterations [begin, end) of a loop over a state the caller owns. */
typedef void (*sieve_task)(const void *state, int64_t begin, int64_t end);

/* A persistent pool: worker threads spin for a while after a parallel loop, then sleep on a condition variable.
 * A loop is cut into chunks that the threads claim (the caller its share from the front, workers the rest, each part
 * in ascending order); the caller returns when every chunk is finished, whether or not every worker took part (a
 * worker the system has not scheduled holds nothing up). Starting and joining a loop touch only atomics while the threads spin; the mutex is taken only
 * to sleep or to wake a sleeper. Lives inside a model context; running a loop allocates nothing and starts no thread. */
typedef struct sieve_pool {
    int threads;            /* workers + the calling thread */
    int started;            /* worker threads actually created */
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pthread_cond_t done;
    uint64_t work;          /* the current loop's generation (its low 24 bits, in bits 40-63) and its unclaimed chunks
                             * [front, split) and [back, end) (10 bits each, from bit 0 up; sieve_run_chunks) */
    uint32_t generation;    /* the caller's count of loops (the high half of `work`) */
    int64_t finished;       /* chunks of the current loop finished */
    int stopping;
    int sleeping;           /* workers asleep on `wake` (or about to be) */
    int waiting;            /* 1 while the caller sleeps on `done` (or is about to) */
    sieve_task task;
    const void *state;
    int64_t count;
    int64_t chunks;         /* the loop is cut into this many contiguous chunks */
    pthread_t workers[SIEVE_MAX_THREADS];
    struct sieve_worker_slot { struct sieve_pool *pool; int index; } slots[SIEVE_MAX_THREADS];
} sieve_pool;

/* Starts `threads - 1` workers (threads <= 0 means 1). Returns SIEVE_OK or SIEVE_ERROR_THREADS. */
SIEVE_RUNTIME_API int sieve_pool_init(sieve_pool *pool, int threads);
/* How long (ns) a worker spins for the next parallel loop, and the caller for the workers to finish, before
 * sleeping on a condition variable (0: never spin). 5 ms covers the gap between layers and between calls. */
#ifndef SIEVE_POOL_SPIN_NS
#define SIEVE_POOL_SPIN_NS 5000000
#endif
/* Chunks per thread of a parallel loop, claimed dynamically (at most 64 x 8, within the 10 bits `work` gives them). */
#define SIEVE_CHUNKS_PER_THREAD 8
/* Runs task over [0, count), cut into contiguous chunks that the threads claim in turn; returns when all are done. */
SIEVE_RUNTIME_API void sieve_pool_run(sieve_pool *pool, sieve_task task, const void *state, int64_t count);
/* Stops and joins every worker. */
SIEVE_RUNTIME_API void sieve_pool_destroy(sieve_pool *pool);

/* External weights files: a 32-byte header then the payload.
 * magic "SIEVEWTS", u32 format version, u32 reserved (0), u64 payload bytes, u64 FNV-1a 64 checksum of the payload. */
#define SIEVE_WEIGHTS_MAGIC "SIEVEWTS"
#define SIEVE_WEIGHTS_VERSION 1u
#define SIEVE_WEIGHTS_HEADER_BYTES 32u

/* FNV-1a 64 of a byte range. */
SIEVE_RUNTIME_API uint64_t sieve_checksum(const uint8_t *data, size_t bytes);
/* Checks a whole weights file image against the sizes and checksum a model expects. */
SIEVE_RUNTIME_API int sieve_weights_check(const uint8_t *file, size_t file_bytes, uint64_t payload_bytes, uint64_t checksum);
/* Reads and checks a weights file into freshly allocated 64-byte aligned memory (freed with free()). */
SIEVE_RUNTIME_API int sieve_weights_load(const char *path, uint64_t payload_bytes, uint64_t checksum, uint8_t **payload, void **allocation);

/* Scalar helpers with the reference interpreter's semantics. */
static inline float sieve_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu, bits;
    if (exponent == 0) {
        if (mantissa == 0) { bits = sign; }
        else {
            exponent = 127 - 15 + 1;
            while ((mantissa & 0x400u) == 0) { mantissa <<= 1; exponent--; }
            bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
        }
    } else if (exponent == 31) { bits = sign | 0x7f800000u | (mantissa << 13); }
    else { bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13); }
    float value; memcpy(&value, &bits, 4); return value;
}
static inline uint16_t sieve_f32_to_f16(float value) {
    uint32_t bits; memcpy(&bits, &value, 4);
    uint32_t sign = (bits >> 16) & 0x8000u, exponent = (bits >> 23) & 0xffu, mantissa = bits & 0x7fffffu;
    if (exponent == 0xff) return (uint16_t)(sign | 0x7c00u | (mantissa ? 0x200u : 0));
    int32_t e = (int32_t)exponent - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        mantissa |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e), half = 1u << (shift - 1), rest = mantissa & ((1u << shift) - 1);
        uint32_t result = mantissa >> shift;
        if (rest > half || (rest == half && (result & 1u))) result++;
        return (uint16_t)(sign | result);
    }
    uint32_t result = ((uint32_t)e << 10) | (mantissa >> 13), rest = mantissa & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (result & 1u))) result++;
    return (uint16_t)(sign | result);
}
static inline float sieve_bf16_to_f32(uint16_t h) { uint32_t bits = (uint32_t)h << 16; float v; memcpy(&v, &bits, 4); return v; }
static inline uint16_t sieve_f32_to_bf16(float value) {
    uint32_t bits; memcpy(&bits, &value, 4);
    if (value != value) return (uint16_t)((bits >> 16) | 0x40u);
    return (uint16_t)((bits + (((bits >> 16) & 1u) + 0x7fffu)) >> 16);
}
/* ONNX's small floats (float8 e4m3fn, float8 e5m2, float4 e2m1), held one per byte (float4 in the low nibble):
 * to f32 exactly; from f32 rounding to nearest even. With saturate (ONNX's default) a finite overflow or an infinity
 * becomes the largest finite value of its sign; without, e4m3fn gives NaN and e5m2 infinity. float4 has no NaN or
 * infinity and always saturates; NaN gives a zero of the opposite sign, as onnx's reference (ml_dtypes) does. The interpreter's Swift twins are in SieveIR/ConstantData.swift.
 * sieve_small_float_round: the magnitude code of |x| (f32 bits without the sign) rounded to nearest even; a code past
 * the largest finite one means overflow. */
static inline uint32_t sieve_small_float_round(uint32_t magnitude_bits, uint32_t mantissa_bits, int32_t bias) {
    uint32_t exponent = magnitude_bits >> 23, mantissa = magnitude_bits & 0x7fffffu, result, shift;
    if (exponent == 0) return 0;
    int32_t e = (int32_t)exponent - 127 + bias;
    if (e <= 0) {
        shift = 23 - mantissa_bits + (uint32_t)(1 - e);
        if (shift > 24) return 0;
        mantissa |= 0x800000u;
        result = mantissa >> shift;
    } else {
        shift = 23 - mantissa_bits;
        result = ((uint32_t)e << mantissa_bits) | (mantissa >> shift);
    }
    uint32_t rest = mantissa & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rest > half || (rest == half && (result & 1u))) result++;
    return result;
}
static inline float sieve_small_float_value(uint32_t code, uint32_t mantissa_bits, int32_t bias) {
    uint32_t exponent = code >> mantissa_bits, mantissa = code & ((1u << mantissa_bits) - 1), bits;
    float value;
    if (exponent == 0) {
        bits = (uint32_t)(127 + 1 - bias - (int32_t)mantissa_bits) << 23;
        memcpy(&value, &bits, 4);
        return (float)mantissa * value;
    }
    bits = ((uint32_t)((int32_t)exponent - bias + 127) << 23) | (mantissa << (23 - mantissa_bits));
    memcpy(&value, &bits, 4);
    return value;
}
static inline uint8_t sieve_f32_to_f8e4m3fn(float value, int saturate) {
    uint32_t bits; memcpy(&bits, &value, 4);
    uint8_t sign = (uint8_t)((bits >> 24) & 0x80u);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return sign | 0x7f;
    if ((bits & 0x7fffffffu) == 0x7f800000u) return sign | (saturate ? 0x7e : 0x7f);
    uint32_t code = sieve_small_float_round(bits & 0x7fffffffu, 3, 7);
    if (code > 0x7e) return sign | (saturate ? 0x7e : 0x7f);
    return sign | (uint8_t)code;
}
static inline float sieve_f8e4m3fn_to_f32(uint8_t b) {
    float magnitude = (b & 0x7f) == 0x7f ? NAN : sieve_small_float_value(b & 0x7fu, 3, 7);
    return (b & 0x80) ? -magnitude : magnitude;
}
static inline uint8_t sieve_f32_to_f8e5m2(float value, int saturate) {
    uint32_t bits; memcpy(&bits, &value, 4);
    uint8_t sign = (uint8_t)((bits >> 24) & 0x80u);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return sign | 0x7e;
    if ((bits & 0x7fffffffu) == 0x7f800000u) return sign | (saturate ? 0x7b : 0x7c);
    uint32_t code = sieve_small_float_round(bits & 0x7fffffffu, 2, 15);
    if (code > 0x7b) return sign | (saturate ? 0x7b : 0x7c);
    return sign | (uint8_t)code;
}
static inline float sieve_f8e5m2_to_f32(uint8_t b) {
    float magnitude = (b & 0x7c) != 0x7c ? sieve_small_float_value(b & 0x7fu, 2, 15) : (b & 0x03) ? NAN : INFINITY;
    return (b & 0x80) ? -magnitude : magnitude;
}
static inline uint8_t sieve_f32_to_f4e2m1(float value) {
    uint32_t bits; memcpy(&bits, &value, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint8_t)(((bits >> 28) & 0x8u) ^ 0x8u);
    uint8_t sign = (uint8_t)((bits >> 28) & 0x8u);
    uint32_t code = (bits & 0x7fffffffu) == 0x7f800000u ? 0x7 : sieve_small_float_round(bits & 0x7fffffffu, 1, 1);
    return sign | (uint8_t)(code > 0x7 ? 0x7 : code);
}
static inline float sieve_f4e2m1_to_f32(uint8_t b) {
    float magnitude = sieve_small_float_value(b & 0x7u, 1, 1);
    return (b & 0x8) ? -magnitude : magnitude;
}
/* The narrow integers (int4, uint4, int2, uint2), one per byte: wrapped to their width as two's complement. */
static inline int8_t sieve_wrap_signed(int64_t value, int bits) {
    return (int8_t)((int64_t)((uint64_t)value << (64 - bits)) >> (64 - bits));
}
static inline uint8_t sieve_wrap_unsigned(int64_t value, int bits) { return (uint8_t)((uint64_t)value & ((1u << bits) - 1)); }
/* Truncation toward zero, saturating to int64, NaN giving 0. */
static inline int64_t sieve_truncate_to_i64(double x) {
    if (x != x) return 0;
    if (x <= -9223372036854775808.0) return INT64_MIN;
    if (x >= 9223372036854775808.0) return INT64_MAX;
    return (int64_t)x;
}
static inline int64_t sieve_wrapping_add(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static inline int64_t sieve_wrapping_sub(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
static inline int64_t sieve_wrapping_mul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }
static inline int64_t sieve_wrapping_div(int64_t a, int64_t b) { return b == -1 ? sieve_wrapping_sub(0, a) : a / b; }
static inline int64_t sieve_pow_i64(int64_t base, int64_t exponent) {
    if (exponent < 0) return base == 1 ? 1 : (base == -1 ? ((exponent % 2 == 0) ? 1 : -1) : 0);
    int64_t result = 1;
    while (exponent > 0) {
        if (exponent & 1) result = sieve_wrapping_mul(result, base);
        base = sieve_wrapping_mul(base, base);
        exponent >>= 1;
    }
    return result;
}
static inline double sieve_sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}
static inline double sieve_gelu(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static inline double sieve_gelu_tanh(double x) {
    double inner = sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x);
    return 0.5 * x * (1.0 + tanh(inner));
}
/* saturate(round-half-even(x / scale) + zero_point); NaN maps to the zero point clamped to the range. */
static inline int64_t sieve_quantize(float x, float scale, int64_t zero_point, int64_t low, int64_t high) {
    float scaled = nearbyintf(x / scale);
    if (scaled != scaled) return zero_point < low ? low : (zero_point > high ? high : zero_point);
    double value = (double)scaled + (double)zero_point;
    if (value <= (double)low) return low;
    if (value >= (double)high) return high;
    return (int64_t)value;
}
/* The element-th packed N:M index of `bits` bits, little-endian bit order (the buffer has 2 bytes of padding). */
static inline int64_t sieve_nm_index(const uint8_t *packed, int64_t element, int bits) {
    uint64_t bit = (uint64_t)element * (uint64_t)bits;
    uint32_t pair = (uint32_t)packed[bit >> 3] | ((uint32_t)packed[(bit >> 3) + 1] << 8);
    return (int64_t)((pair >> (bit & 7u)) & ((1u << bits) - 1u));
}

/* One compressed N:M row times a dense vector:
 *   sum over kept entries p = first .. first + groups * n - 1 of values[p] * x[((p - first) / n) * m + index(p)],
 * with `bits` = log2(m) bits per index. 2:4 rows starting on a byte of indices take a vector path: with AVX-512,
 * 16 kept values per step, their 32 index bits broadcast, shifted and masked in registers into lane numbers
 * that pick the activations out of a 32-float window with one two-source permute (vpermt2ps), then FMA;
 * with AVX2 the same in 8 lanes, two one-source permutes and a blend. Other patterns take the scalar loop. */
static inline float sieve_nm_dot_f32(const float *values, const uint8_t *indices, int64_t first, int64_t groups,
                                     int n, int m, int bits, const float *x) {
    int64_t kept = groups * n, p = 0;
    float total = 0.0f;
#if defined(__AVX512F__)
    if (n == 2 && m == 4 && (first & 3) == 0) {
        const float *v = values + first;
        const uint8_t *ix = indices + (first >> 2);
        const __m512i shifts = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i base = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28);
        const __m512i three = _mm512_set1_epi32(3);
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        for (int64_t end = kept / 64 * 64; p < end; p += 64) {
            for (int u = 0; u < 4; u++) {
                int64_t q = p + 16 * u;
                uint32_t word;
                memcpy(&word, ix + (q >> 2), sizeof word);
                __m512i lane = _mm512_add_epi32(_mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32((int)word), shifts), three), base);
                __m512 window = _mm512_permutex2var_ps(_mm512_loadu_ps(x + 2 * q), lane, _mm512_loadu_ps(x + 2 * q + 16));
                acc[u] = _mm512_fmadd_ps(_mm512_loadu_ps(v + q), window, acc[u]);
            }
        }
        for (int64_t end = kept / 16 * 16; p < end; p += 16) {
            uint32_t word;
            memcpy(&word, ix + (p >> 2), sizeof word);
            __m512i lane = _mm512_add_epi32(_mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32((int)word), shifts), three), base);
            __m512 window = _mm512_permutex2var_ps(_mm512_loadu_ps(x + 2 * p), lane, _mm512_loadu_ps(x + 2 * p + 16));
            acc[0] = _mm512_fmadd_ps(_mm512_loadu_ps(v + p), window, acc[0]);
        }
        total = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
    }
#elif defined(__AVX2__) && defined(__FMA__)
    if (n == 2 && m == 4 && (first & 3) == 0) {
        const float *v = values + first;
        const uint8_t *ix = indices + (first >> 2);
        const __m256i shifts = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
        const __m256i base = _mm256_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12);
        const __m256i three = _mm256_set1_epi32(3);
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int64_t end = kept / 32 * 32; p < end; p += 32) {
            for (int u = 0; u < 4; u++) {
                int64_t q = p + 8 * u;
                uint16_t word;
                memcpy(&word, ix + (q >> 2), sizeof word);
                __m256i lane = _mm256_add_epi32(_mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)word), shifts), three), base);
                __m256 low = _mm256_permutevar8x32_ps(_mm256_loadu_ps(x + 2 * q), lane);
                __m256 high = _mm256_permutevar8x32_ps(_mm256_loadu_ps(x + 2 * q + 8), lane);
                /* lane numbers 8..15 have bit 3 set: shifted to the sign bit, it picks the high window. */
                __m256 window = _mm256_blendv_ps(low, high, _mm256_castsi256_ps(_mm256_slli_epi32(lane, 28)));
                acc[u] = _mm256_fmadd_ps(_mm256_loadu_ps(v + q), window, acc[u]);
            }
        }
        __m256 sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        float lanes[8];
        _mm256_storeu_ps(lanes, sum);
        for (int i = 0; i < 8; i++) total += lanes[i];
    }
#endif
    float tail[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (; p < kept; p++) {
        int64_t element = first + p;
        tail[p & 3] += values[element] * x[(p / n) * m + sieve_nm_index(indices, element, bits)];
    }
    return total + ((tail[0] + tail[1]) + (tail[2] + tail[3]));
}

/* Exact integer dot products of u8 activations and i8 weights, for the dynamic int8 product (IR/README.md). Sums are
 * kept in int32 lanes, exact while length * 255 * 128 < 2^31, which the graph IR's type rule guarantees (a reduction
 * of at most 65 793). AVX-512 VNNI: vpdpbusd multiplies u8 by s8 and adds each four products into an int32 lane, with
 * no intermediate saturation. AVX2: vpmaddubsw would saturate its int16 pair sums (2 * 255 * 127 > 32767), so both
 * operands are widened to int16 (vpmovzxbw, vpmovsxbw) and multiplied with vpmaddwd, whose sums of two int16 products
 * always fit int32. */
static inline int64_t sieve_dot_u8i8(const uint8_t *a, const int8_t *w, int64_t length) {
    int64_t i = 0, total = 0;
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
    /* Four independent accumulators hide vpdpbusd's latency (the batch-N product runs these from L1 and L2). */
    __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512(), acc2 = _mm512_setzero_si512(), acc3 = _mm512_setzero_si512();
    for (; i + 256 <= length; i += 256) {
        acc0 = _mm512_dpbusd_epi32(acc0, _mm512_loadu_si512(a + i), _mm512_loadu_si512(w + i));
        acc1 = _mm512_dpbusd_epi32(acc1, _mm512_loadu_si512(a + i + 64), _mm512_loadu_si512(w + i + 64));
        acc2 = _mm512_dpbusd_epi32(acc2, _mm512_loadu_si512(a + i + 128), _mm512_loadu_si512(w + i + 128));
        acc3 = _mm512_dpbusd_epi32(acc3, _mm512_loadu_si512(a + i + 192), _mm512_loadu_si512(w + i + 192));
    }
    acc0 = _mm512_add_epi32(acc0, acc2);
    acc1 = _mm512_add_epi32(acc1, acc3);
    for (; i < length; i += 64) {
        /* The tail through masked loads, which touch no byte past the end. */
        __mmask64 mask = length - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (length - i)) - 1);
        acc0 = _mm512_dpbusd_epi32(acc0, _mm512_maskz_loadu_epi8(mask, a + i), _mm512_maskz_loadu_epi8(mask, w + i));
    }
    total = (int64_t)_mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1));
#elif defined(__AVX2__)
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    for (; i + 32 <= length; i += 32) {
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + i))),
                                                        _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + i)))));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + i + 16))),
                                                        _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + i + 16)))));
    }
    int32_t lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, _mm256_add_epi32(acc0, acc1));
    for (int j = 0; j < 8; j++) total += lanes[j];
#endif
    for (; i < length; i++) total += (int64_t)a[i] * (int64_t)w[i];
    return total;
}

#if defined(__AVX2__) && !(defined(__AVX512VBMI__) && defined(__AVX512VNNI__) && defined(__AVX512BW__))
/* For one byte of 2:4 indices (four kept values of two groups), the byte shuffle that gathers their activations from
 * the two groups' eight bytes: index, index, 4 + index, 4 + index. */
static const uint32_t sieve_nm24_byte_gather[256] = {
    0x04040000u, 0x04040001u, 0x04040002u, 0x04040003u, 0x04040100u, 0x04040101u, 0x04040102u, 0x04040103u,
    0x04040200u, 0x04040201u, 0x04040202u, 0x04040203u, 0x04040300u, 0x04040301u, 0x04040302u, 0x04040303u,
    0x04050000u, 0x04050001u, 0x04050002u, 0x04050003u, 0x04050100u, 0x04050101u, 0x04050102u, 0x04050103u,
    0x04050200u, 0x04050201u, 0x04050202u, 0x04050203u, 0x04050300u, 0x04050301u, 0x04050302u, 0x04050303u,
    0x04060000u, 0x04060001u, 0x04060002u, 0x04060003u, 0x04060100u, 0x04060101u, 0x04060102u, 0x04060103u,
    0x04060200u, 0x04060201u, 0x04060202u, 0x04060203u, 0x04060300u, 0x04060301u, 0x04060302u, 0x04060303u,
    0x04070000u, 0x04070001u, 0x04070002u, 0x04070003u, 0x04070100u, 0x04070101u, 0x04070102u, 0x04070103u,
    0x04070200u, 0x04070201u, 0x04070202u, 0x04070203u, 0x04070300u, 0x04070301u, 0x04070302u, 0x04070303u,
    0x05040000u, 0x05040001u, 0x05040002u, 0x05040003u, 0x05040100u, 0x05040101u, 0x05040102u, 0x05040103u,
    0x05040200u, 0x05040201u, 0x05040202u, 0x05040203u, 0x05040300u, 0x05040301u, 0x05040302u, 0x05040303u,
    0x05050000u, 0x05050001u, 0x05050002u, 0x05050003u, 0x05050100u, 0x05050101u, 0x05050102u, 0x05050103u,
    0x05050200u, 0x05050201u, 0x05050202u, 0x05050203u, 0x05050300u, 0x05050301u, 0x05050302u, 0x05050303u,
    0x05060000u, 0x05060001u, 0x05060002u, 0x05060003u, 0x05060100u, 0x05060101u, 0x05060102u, 0x05060103u,
    0x05060200u, 0x05060201u, 0x05060202u, 0x05060203u, 0x05060300u, 0x05060301u, 0x05060302u, 0x05060303u,
    0x05070000u, 0x05070001u, 0x05070002u, 0x05070003u, 0x05070100u, 0x05070101u, 0x05070102u, 0x05070103u,
    0x05070200u, 0x05070201u, 0x05070202u, 0x05070203u, 0x05070300u, 0x05070301u, 0x05070302u, 0x05070303u,
    0x06040000u, 0x06040001u, 0x06040002u, 0x06040003u, 0x06040100u, 0x06040101u, 0x06040102u, 0x06040103u,
    0x06040200u, 0x06040201u, 0x06040202u, 0x06040203u, 0x06040300u, 0x06040301u, 0x06040302u, 0x06040303u,
    0x06050000u, 0x06050001u, 0x06050002u, 0x06050003u, 0x06050100u, 0x06050101u, 0x06050102u, 0x06050103u,
    0x06050200u, 0x06050201u, 0x06050202u, 0x06050203u, 0x06050300u, 0x06050301u, 0x06050302u, 0x06050303u,
    0x06060000u, 0x06060001u, 0x06060002u, 0x06060003u, 0x06060100u, 0x06060101u, 0x06060102u, 0x06060103u,
    0x06060200u, 0x06060201u, 0x06060202u, 0x06060203u, 0x06060300u, 0x06060301u, 0x06060302u, 0x06060303u,
    0x06070000u, 0x06070001u, 0x06070002u, 0x06070003u, 0x06070100u, 0x06070101u, 0x06070102u, 0x06070103u,
    0x06070200u, 0x06070201u, 0x06070202u, 0x06070203u, 0x06070300u, 0x06070301u, 0x06070302u, 0x06070303u,
    0x07040000u, 0x07040001u, 0x07040002u, 0x07040003u, 0x07040100u, 0x07040101u, 0x07040102u, 0x07040103u,
    0x07040200u, 0x07040201u, 0x07040202u, 0x07040203u, 0x07040300u, 0x07040301u, 0x07040302u, 0x07040303u,
    0x07050000u, 0x07050001u, 0x07050002u, 0x07050003u, 0x07050100u, 0x07050101u, 0x07050102u, 0x07050103u,
    0x07050200u, 0x07050201u, 0x07050202u, 0x07050203u, 0x07050300u, 0x07050301u, 0x07050302u, 0x07050303u,
    0x07060000u, 0x07060001u, 0x07060002u, 0x07060003u, 0x07060100u, 0x07060101u, 0x07060102u, 0x07060103u,
    0x07060200u, 0x07060201u, 0x07060202u, 0x07060203u, 0x07060300u, 0x07060301u, 0x07060302u, 0x07060303u,
    0x07070000u, 0x07070001u, 0x07070002u, 0x07070003u, 0x07070100u, 0x07070101u, 0x07070102u, 0x07070103u,
    0x07070200u, 0x07070201u, 0x07070202u, 0x07070203u, 0x07070300u, 0x07070301u, 0x07070302u, 0x07070303u,
};
#endif

/* One compressed N:M row of i8 kept values times u8 activations, exactly (int32 lanes, bounded as sieve_dot_u8i8):
 * the sum over kept entries p = first .. first + groups * n - 1 of values[p] * x[((p - first) / n) * m + index(p)].
 * 2:4 rows starting on a byte of indices take a vector path. AVX-512 with VBMI and VNNI, 64 kept values per step: the
 * 16 index bytes zero-extended by pairs into qwords, vpmultishiftqb moves each 2-bit index to its own byte, plus the
 * group's byte offset that gives the activation's position in a 128-byte window, one two-source byte permute
 * (vpermt2b) gathers the 64 activations and vpdpbusd multiplies and sums them with the kept values. AVX2, 16 kept
 * values per step: each index byte looks up its four-byte gather pattern, vpshufb gathers from the 32-byte window
 * in each 128-bit lane, and the 16 bytes are widened to int16 and summed with vpmaddwd. Other patterns: scalar. */
static inline int64_t sieve_nm_dot_u8i8(const int8_t *values, const uint8_t *indices, int64_t first, int64_t groups,
                                        int n, int m, int bits, const uint8_t *x) {
    int64_t kept = groups * n, p = 0, total = 0;
#if defined(__AVX512VBMI__) && defined(__AVX512VNNI__) && defined(__AVX512BW__)
    if (n == 2 && m == 4 && (first & 3) == 0) {
        const int8_t *v = values + first;
        const uint8_t *ix = indices + (first >> 2);
        const __m512i shifts = _mm512_set1_epi64(0x0e0c0a0806040200LL);
        const __m512i three = _mm512_set1_epi8(3);
        /* Byte j of the window holds group j / 2's activations from offset 4 * (j / 2). */
        const __m512i base = _mm512_set_epi8(
            124, 124, 120, 120, 116, 116, 112, 112, 108, 108, 104, 104, 100, 100, 96, 96,
            92, 92, 88, 88, 84, 84, 80, 80, 76, 76, 72, 72, 68, 68, 64, 64,
            60, 60, 56, 56, 52, 52, 48, 48, 44, 44, 40, 40, 36, 36, 32, 32,
            28, 28, 24, 24, 20, 20, 16, 16, 12, 12, 8, 8, 4, 4, 0, 0);
        __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
        /* Four chunks of 64 kept values per step, each into its own accumulator, then single chunks. */
        for (int64_t end = kept / 256 * 256; p < end; p += 256) {
            for (int u = 0; u < 4; u++) {
                int64_t q = p + 64 * u;
                __m512i spread = _mm512_cvtepu16_epi64(_mm_loadu_si128((const __m128i *)(ix + (q >> 2))));
                __m512i lane = _mm512_add_epi8(_mm512_and_si512(_mm512_multishift_epi64_epi8(shifts, spread), three), base);
                __m512i gathered = _mm512_permutex2var_epi8(_mm512_loadu_si512(x + 2 * q), lane, _mm512_loadu_si512(x + 2 * q + 64));
                acc[u] = _mm512_dpbusd_epi32(acc[u], gathered, _mm512_loadu_si512(v + q));
            }
        }
        for (int64_t end = kept / 64 * 64; p < end; p += 64) {
            __m512i spread = _mm512_cvtepu16_epi64(_mm_loadu_si128((const __m128i *)(ix + (p >> 2))));
            __m512i lane = _mm512_add_epi8(_mm512_and_si512(_mm512_multishift_epi64_epi8(shifts, spread), three), base);
            __m512i gathered = _mm512_permutex2var_epi8(_mm512_loadu_si512(x + 2 * p), lane, _mm512_loadu_si512(x + 2 * p + 64));
            acc[0] = _mm512_dpbusd_epi32(acc[0], gathered, _mm512_loadu_si512(v + p));
        }
        total = (int64_t)_mm512_reduce_add_epi32(_mm512_add_epi32(_mm512_add_epi32(acc[0], acc[1]), _mm512_add_epi32(acc[2], acc[3])));
    }
#elif defined(__AVX2__)
    if (n == 2 && m == 4 && (first & 3) == 0) {
        const int8_t *v = values + first;
        const uint8_t *ix = indices + (first >> 2);
        const uint64_t high = 0x0808080800000000ULL, unused = 0x8080808080808080ULL;
        __m256i acc = _mm256_setzero_si256();
        for (int64_t end = kept / 16 * 16; p < end; p += 16) {
            const uint8_t *b = ix + (p >> 2);
            uint64_t low = (uint64_t)sieve_nm24_byte_gather[b[0]] | ((uint64_t)sieve_nm24_byte_gather[b[1]] << 32);
            uint64_t upper = (uint64_t)sieve_nm24_byte_gather[b[2]] | ((uint64_t)sieve_nm24_byte_gather[b[3]] << 32);
            __m256i control = _mm256_setr_epi64x((long long)(low + high), (long long)unused, (long long)(upper + high), (long long)unused);
            __m256i gathered = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(x + 2 * p)), control);
            __m128i packed = _mm256_castsi256_si128(_mm256_permute4x64_epi64(gathered, 0x08));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_cvtepu8_epi16(packed),
                                                          _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(v + p)))));
        }
        int32_t lanes[8];
        _mm256_storeu_si256((__m256i *)lanes, acc);
        for (int j = 0; j < 8; j++) total += lanes[j];
    }
#endif
    for (; p < kept; p++) {
        int64_t element = first + p;
        total += (int64_t)values[element] * (int64_t)x[(p / n) * m + sieve_nm_index(indices, element, bits)];
    }
    return total;
}


/* One activation row of the dynamic int8 product quantized to u8 (kernel IR `quantize_row`, IR/README.md): its range
 * [min(0, min x), max(0, max x)] with NaN ignored (a lane keeps its value on NaN and on ties, as the scalar
 * `low = x < low ? x : low` does; lanes combine to the same value, the only tie being +0 against -0, where +0
 * stays), scale = range / 255 (1 for an all-zero row), zero point sieve_quantize(-low), then every element
 * sieve_quantize(x, scale, zero point, 0, 255): x / scale rounded half to even, plus the zero point, saturated
 * (in f32: a sum that rounds is far outside 0..255 and saturates alike), NaN giving the zero point. Bit for bit the
 * scalar definition. AVX-512 and AVX2 vectors; scalar elsewhere and for the tail. */
/* One call per row. The generated C inlines it with a constant length, where gcc 12 misread the tails
 * (-Waggressive-loop-optimizations) until they were written out from where the vector loops stop (below). */
static inline void sieve_quantize_row_u8(const float *x, int64_t length, uint8_t *q, float *scale_out, int32_t *zero_point_out) {
    float low = 0.0f, high = 0.0f;
    int64_t i = 0, vector_end = 0;
#if defined(__AVX512F__)
    __m512 low0 = _mm512_setzero_ps(), low1 = low0, high0 = low0, high1 = low0;
    for (const int64_t end = length / 32 * 32; i < end; i += 32) {
        __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        low0 = _mm512_min_ps(a, low0); high0 = _mm512_max_ps(a, high0);
        low1 = _mm512_min_ps(b, low1); high1 = _mm512_max_ps(b, high1);
    }
    float lanes[32];
    vector_end = length / 32 * 32;
    _mm512_storeu_ps(lanes, _mm512_min_ps(low0, low1));
    _mm512_storeu_ps(lanes + 16, _mm512_max_ps(high0, high1));
    for (int j = 0; j < 16; j++) {
        low = lanes[j] < low ? lanes[j] : low;
        high = lanes[16 + j] > high ? lanes[16 + j] : high;
    }
#elif defined(__AVX2__)
    __m256 low0 = _mm256_setzero_ps(), low1 = low0, high0 = low0, high1 = low0;
    for (const int64_t end = length / 16 * 16; i < end; i += 16) {
        __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        low0 = _mm256_min_ps(a, low0); high0 = _mm256_max_ps(a, high0);
        low1 = _mm256_min_ps(b, low1); high1 = _mm256_max_ps(b, high1);
    }
    float lanes[16];
    vector_end = length / 16 * 16;
    _mm256_storeu_ps(lanes, _mm256_min_ps(low0, low1));
    _mm256_storeu_ps(lanes + 8, _mm256_max_ps(high0, high1));
    for (int j = 0; j < 8; j++) {
        low = lanes[j] < low ? lanes[j] : low;
        high = lanes[8 + j] > high ? lanes[8 + j] : high;
    }
#endif
    /* The tails start where the vector loops stopped, written out so that gcc sees their bounds. */
    for (i = vector_end; i < length; i++) {
        low = x[i] < low ? x[i] : low;
        high = x[i] > high ? x[i] : high;
    }
    float step = (high - low) / 255.0f;
    float scale = step == 0.0f ? 1.0f : step;
    int64_t zero_point = sieve_quantize(0.0f - low, scale, 0, 0, 255);
    *scale_out = scale;
    *zero_point_out = (int32_t)zero_point;
    i = 0;
    vector_end = 0;
#if defined(__AVX512F__)
    {
        vector_end = length / 16 * 16;
        const __m512 s = _mm512_set1_ps(scale), zp = _mm512_set1_ps((float)zero_point);
        const __m512 zero = _mm512_setzero_ps(), top = _mm512_set1_ps(255.0f);
        for (; i < vector_end; i += 16) {
            __m512 scaled = _mm512_roundscale_ps(_mm512_div_ps(_mm512_loadu_ps(x + i), s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            __m512 value = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(scaled, zp), zero), top);
            value = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(scaled, scaled, _CMP_UNORD_Q), value, zp);
            _mm_storeu_si128((__m128i *)(q + i), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(value)));
        }
    }
#elif defined(__AVX2__)
    {
        vector_end = length / 8 * 8;
        const __m256 s = _mm256_set1_ps(scale), zp = _mm256_set1_ps((float)zero_point);
        const __m256 zero = _mm256_setzero_ps(), top = _mm256_set1_ps(255.0f);
        for (; i < vector_end; i += 8) {
            __m256 scaled = _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(x + i), s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            __m256 value = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(scaled, zp), zero), top);
            value = _mm256_blendv_ps(value, zp, _mm256_cmp_ps(scaled, scaled, _CMP_UNORD_Q));
            __m256i integers = _mm256_cvtps_epi32(value);
            __m128i words = _mm_packus_epi32(_mm256_castsi256_si128(integers), _mm256_extracti128_si256(integers, 1));
            _mm_storel_epi64((__m128i *)(q + i), _mm_packus_epi16(words, words));
        }
    }
#endif
    for (i = vector_end; i < length; i++) q[i] = (uint8_t)sieve_quantize(x[i], scale, zero_point, 0, 255);
}

/* The int8 tile (kernel IR `int8_tile`, IR/README.md): the exact sums of `rows` u8 activation rows (row r at a + r * lda)
 * times `panel_count` consecutive int8 weight panels of 16 output columns each, stored to out[r * ldo + 16 * p + c] as
 * int32 (exact, bounded as sieve_dot_u8i8). A dense panel holds, for every 4 elements of the reduction q, the 16
 * columns' 4 weights: byte (q * 16 + c) * 4 + t is w[c][4q + t] (16 * k bytes, k a multiple of 4). A 2:4 panel holds,
 * for every 8 elements of the reduction s, the 16 columns' 4 kept values (two groups) then one byte per column of their
 * four 2-bit indices (kept value t's index in bits 2t..2t+1): 80 bytes per step, 10 * k bytes (k a multiple of 8).
 * Register tiles: each weight vector is loaded (and, for 2:4, its indices decoded into a byte shuffle) once per block
 * of rows, each activation word broadcast once per block of panels. AVX-512 VNNI: 8 rows by 2 panels of 16 int32
 * lanes; the activation word (4 bytes; 8 for 2:4, gathered per column with vpshufb) meets the weights in vpdpbusd;
 * the first block of rows prefetches the panels' weights ahead of it and (2:4, more than one block) decodes the
 * shuffle controls of each chunk of the reduction for the blocks after it.
 * AVX2: 4 rows by 8 columns; operands widened to int16 and multiplied with vpmaddwd (vpmaddubsw would saturate),
 * each column's two int32 halves added at the end. Elsewhere: scalar loops. */
#define SIEVE_INT8_PANEL_COLUMNS 16

static inline int64_t sieve_int8_panel_bytes(int64_t k, int sparse24) { return sparse24 ? 10 * k : 16 * k; }

static inline uint64_t sieve_load_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t sieve_load_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
#define SIEVE_INT8_TILE_ROWS 8
#define SIEVE_INT8_TILE_PANELS 2
/* How far ahead the first row block of each panel pair prefetches its weights (bytes): that block reads them from DRAM
 * when they are cold, the later row blocks find them in L2. 4 KiB took 2:4 batch 32 from 1.18-1.27 to 1.02-1.04 ms
 * (a cold C loop of the 4096x4096 layer's tiles, load 17; 1 and 2 KiB 1.07-1.16 ms, 8 KiB 1.04-1.11 ms). */
/* Steps (8 elements of the reduction) of a 2:4 chunk whose decoded shuffle controls the later blocks of rows reuse:
 * 64 steps keep them (8 KiB) and the chunk's weights (10 KiB) in L1. */
#ifndef SIEVE_INT8_TILE_CHUNK
#define SIEVE_INT8_TILE_CHUNK 64
#endif
#ifndef SIEVE_INT8_TILE_PREFETCH
#define SIEVE_INT8_TILE_PREFETCH 4096
#endif
/* vpdpbusd into a register tile's accumulator. GCC 12's builtin does not tie the accumulator to the result: in every
 * iteration it copied each of the 16 accumulators to another register and spilled some to the stack (20-35% of the
 * tile's time in a C loop of it); an inline vpdpbusd with the accumulator as an in-out operand keeps them in place.
 * Clang's builtin needs no help (and the LLVM backend's copy of this runtime, compiled by clang, keeps it). */
#if defined(__GNUC__) && !defined(__clang__)
static inline __attribute__((always_inline)) __m512i sieve_int8_tile_dpbusd(__m512i acc, __m512i a, __m512i b) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}
#else
#define sieve_int8_tile_dpbusd _mm512_dpbusd_epi32
#endif
static inline __attribute__((always_inline)) void sieve_int8_tile_block(const uint8_t *a, int64_t lda, const int8_t *w,
                                                                       int64_t panel_bytes, int64_t k, int sparse24,
                                                                       int32_t *out, int64_t ldo, const int R, const int C,
                                                                       int prefetch, int accumulate, __m512i *controls, int decode) {
    __m512i acc[SIEVE_INT8_TILE_ROWS][SIEVE_INT8_TILE_PANELS];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = accumulate ? _mm512_loadu_si512(out + r * ldo + 16 * c) : _mm512_setzero_si512();
    if (sparse24) {
        const __m512i three = _mm512_set1_epi32(0x03030303), high = _mm512_set1_epi32(0x04040000);
        for (int64_t s = 0; s < k / 8; s++) {
            __m512i values[SIEVE_INT8_TILE_PANELS], control[SIEVE_INT8_TILE_PANELS];
            for (int c = 0; c < C; c++) {
                const int8_t *step = w + c * panel_bytes + 80 * s;
                values[c] = _mm512_loadu_si512(step);
                if (!decode) {
                    control[c] = _mm512_load_si512(controls + s * SIEVE_INT8_TILE_PANELS + c);
                    continue;
                }
                if (prefetch) {
                    _mm_prefetch((const char *)step + SIEVE_INT8_TILE_PREFETCH, _MM_HINT_T0);
                    _mm_prefetch((const char *)step + SIEVE_INT8_TILE_PREFETCH + 79, _MM_HINT_T0);
                }
                /* Each column's index byte to its four byte positions in the 8-byte window (2:4: 0-3, then 4-7). */
                __m512i x = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(step + 64)));
#if defined(__AVX512VBMI__)
                /* vpmultishiftqb moves each 2-bit index to the low bits of its own byte (one instruction). */
                __m512i spread = _mm512_multishift_epi64_epi8(_mm512_set1_epi64(0x2624222006040200LL), x);
#else
                __m512i spread = _mm512_or_si512(_mm512_or_si512(x, _mm512_slli_epi32(x, 6)),
                                                 _mm512_or_si512(_mm512_slli_epi32(x, 12), _mm512_slli_epi32(x, 18)));
#endif
                control[c] = _mm512_ternarylogic_epi32(spread, three, high, 0xEA); /* (spread & three) | high */
                if (controls) _mm512_store_si512(controls + s * SIEVE_INT8_TILE_PANELS + c, control[c]);
            }
            for (int r = 0; r < R; r++) {
                __m512i window = _mm512_set1_epi64((long long)sieve_load_u64(a + r * lda + 8 * s));
                for (int c = 0; c < C; c++)
                    acc[r][c] = sieve_int8_tile_dpbusd(acc[r][c], _mm512_shuffle_epi8(window, control[c]), values[c]);
            }
        }
    } else {
        for (int64_t q = 0; q < k / 4; q++) {
            __m512i weights[SIEVE_INT8_TILE_PANELS];
            for (int c = 0; c < C; c++) {
                weights[c] = _mm512_loadu_si512(w + c * panel_bytes + 64 * q);
                if (prefetch) _mm_prefetch((const char *)(w + c * panel_bytes + 64 * q) + SIEVE_INT8_TILE_PREFETCH, _MM_HINT_T0);
            }
            for (int r = 0; r < R; r++) {
                __m512i word = _mm512_set1_epi32((int)sieve_load_u32(a + r * lda + 4 * q));
                for (int c = 0; c < C; c++) acc[r][c] = sieve_int8_tile_dpbusd(acc[r][c], word, weights[c]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) _mm512_storeu_si512(out + r * ldo + 16 * c, acc[r][c]);
}
#elif defined(__AVX2__)
#define SIEVE_INT8_TILE_ROWS 4
/* Rows by 8 columns (the half of a panel from column `half`). */
static inline __attribute__((always_inline)) void sieve_int8_tile_half(const uint8_t *a, int64_t lda, const int8_t *w,
                                                                      int64_t k, int sparse24, int half,
                                                                      int32_t *out, const int R, int64_t ldo) {
    __m256i low[SIEVE_INT8_TILE_ROWS], upper[SIEVE_INT8_TILE_ROWS];
    for (int r = 0; r < R; r++) low[r] = upper[r] = _mm256_setzero_si256();
    if (sparse24) {
        const __m256i mask = _mm256_set1_epi64x(0x0003000300030003LL), fill = _mm256_set1_epi64x((long long)0x8004800480008000ULL);
        for (int64_t s = 0; s < k / 8; s++) {
            const int8_t *step = w + 80 * s;
            /* Columns half .. half + 3 and half + 4 .. half + 7: four kept values each, widened to int16. */
            __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(step + 4 * half)));
            __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(step + 4 * half + 16)));
            /* Each column's index byte to a 4-word shuffle: its activations' byte positions, zero high bytes. */
            __m256i x0 = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128((int)sieve_load_u32((const uint8_t *)step + 64 + half)));
            __m256i x1 = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128((int)sieve_load_u32((const uint8_t *)step + 68 + half)));
            __m256i c0 = _mm256_or_si256(_mm256_and_si256(_mm256_or_si256(_mm256_or_si256(x0, _mm256_slli_epi64(x0, 14)),
                _mm256_or_si256(_mm256_slli_epi64(x0, 28), _mm256_slli_epi64(x0, 42))), mask), fill);
            __m256i c1 = _mm256_or_si256(_mm256_and_si256(_mm256_or_si256(_mm256_or_si256(x1, _mm256_slli_epi64(x1, 14)),
                _mm256_or_si256(_mm256_slli_epi64(x1, 28), _mm256_slli_epi64(x1, 42))), mask), fill);
            for (int r = 0; r < R; r++) {
                __m256i window = _mm256_set1_epi64x((long long)sieve_load_u64(a + r * lda + 8 * s));
                low[r] = _mm256_add_epi32(low[r], _mm256_madd_epi16(_mm256_shuffle_epi8(window, c0), w0));
                upper[r] = _mm256_add_epi32(upper[r], _mm256_madd_epi16(_mm256_shuffle_epi8(window, c1), w1));
            }
        }
    } else {
        for (int64_t q = 0; q < k / 4; q++) {
            const int8_t *step = w + 64 * q + 4 * half;
            __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)step));
            __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(step + 16)));
            for (int r = 0; r < R; r++) {
                __m256i word = _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128((int)sieve_load_u32(a + r * lda + 4 * q))));
                low[r] = _mm256_add_epi32(low[r], _mm256_madd_epi16(word, w0));
                upper[r] = _mm256_add_epi32(upper[r], _mm256_madd_epi16(word, w1));
            }
        }
    }
    /* Lanes 2j and 2j + 1 hold column j's halves: add the pairs, then put the columns in order. */
    for (int r = 0; r < R; r++)
        _mm256_storeu_si256((__m256i *)(out + r * ldo), _mm256_permute4x64_epi64(_mm256_hadd_epi32(low[r], upper[r]), 0xD8));
}
#endif

static inline void sieve_int8_tile(const uint8_t *a, int64_t lda, int64_t rows, const int8_t *panels, int64_t panel_count,
                                   int64_t k, int sparse24, int32_t *out, int64_t ldo) {
    const int64_t panel_bytes = sieve_int8_panel_bytes(k, sparse24);
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
    __m512i controls[SIEVE_INT8_TILE_CHUNK * SIEVE_INT8_TILE_PANELS];
    for (int64_t p = 0; p < panel_count; p += SIEVE_INT8_TILE_PANELS) {
        const int C = panel_count - p >= SIEVE_INT8_TILE_PANELS ? SIEVE_INT8_TILE_PANELS : (int)(panel_count - p);
        /* 2:4 with more than one block of rows: chunks of the reduction, in which the first block of rows decodes the
         * shuffle controls into `controls` and the others load them (the decode takes the shuffle ports that vpshufb
         * needs); the accumulators go through `out` between chunks. Otherwise the whole reduction at once. */
        const int chunked = sparse24 && rows > SIEVE_INT8_TILE_ROWS;
        const int64_t steps = chunked ? SIEVE_INT8_TILE_CHUNK : k / 8;
        for (int64_t s0 = 0; s0 < (sparse24 ? k / 8 : 1); s0 += steps) {
            const int64_t length = sparse24 ? 8 * (k / 8 - s0 < steps ? k / 8 - s0 : steps) : k;
            for (int64_t r = 0; r < rows; r += SIEVE_INT8_TILE_ROWS) {
                const int R = rows - r >= SIEVE_INT8_TILE_ROWS ? SIEVE_INT8_TILE_ROWS : (int)(rows - r);
                const uint8_t *x = a + r * lda + 8 * s0;
                const int8_t *w = panels + p * panel_bytes + 80 * s0;
                int32_t *y = out + r * ldo + 16 * p;
                /* Constant tile sizes, so that the accumulators live in registers. */
#define SIEVE_INT8_TILE_CASE(rr, cc) case (rr) * 4 + (cc): \
                sieve_int8_tile_block(x, lda, w, panel_bytes, length, sparse24, y, ldo, rr, cc, r == 0, s0 > 0, chunked ? controls : NULL, !chunked || r == 0); break;
                switch (R * 4 + C) {
                SIEVE_INT8_TILE_CASE(1, 1) SIEVE_INT8_TILE_CASE(2, 1) SIEVE_INT8_TILE_CASE(3, 1) SIEVE_INT8_TILE_CASE(4, 1)
                SIEVE_INT8_TILE_CASE(5, 1) SIEVE_INT8_TILE_CASE(6, 1) SIEVE_INT8_TILE_CASE(7, 1) SIEVE_INT8_TILE_CASE(8, 1)
                SIEVE_INT8_TILE_CASE(1, 2) SIEVE_INT8_TILE_CASE(2, 2) SIEVE_INT8_TILE_CASE(3, 2) SIEVE_INT8_TILE_CASE(4, 2)
                SIEVE_INT8_TILE_CASE(5, 2) SIEVE_INT8_TILE_CASE(6, 2) SIEVE_INT8_TILE_CASE(7, 2) SIEVE_INT8_TILE_CASE(8, 2)
                default: break;
                }
#undef SIEVE_INT8_TILE_CASE
            }
        }
    }
#elif defined(__AVX2__)
    for (int64_t p = 0; p < panel_count; p++) {
        for (int half = 0; half < 16; half += 8) {
            for (int64_t r = 0; r < rows; r += SIEVE_INT8_TILE_ROWS) {
                const int R = rows - r >= SIEVE_INT8_TILE_ROWS ? SIEVE_INT8_TILE_ROWS : (int)(rows - r);
                const uint8_t *x = a + r * lda;
                const int8_t *w = panels + p * panel_bytes;
                int32_t *y = out + r * ldo + 16 * p + half;
                switch (R) {
                case 1: sieve_int8_tile_half(x, lda, w, k, sparse24, half, y, 1, ldo); break;
                case 2: sieve_int8_tile_half(x, lda, w, k, sparse24, half, y, 2, ldo); break;
                case 3: sieve_int8_tile_half(x, lda, w, k, sparse24, half, y, 3, ldo); break;
                default: sieve_int8_tile_half(x, lda, w, k, sparse24, half, y, 4, ldo); break;
                }
            }
        }
    }
#else
    for (int64_t p = 0; p < panel_count; p++) {
        const int8_t *w = panels + p * panel_bytes;
        for (int64_t r = 0; r < rows; r++) {
            const uint8_t *x = a + r * lda;
            for (int c = 0; c < SIEVE_INT8_PANEL_COLUMNS; c++) {
                int64_t total = 0;
                if (sparse24) {
                    for (int64_t s = 0; s < k / 8; s++) {
                        const int8_t *step = w + 80 * s;
                        unsigned indices = (uint8_t)step[64 + c];
                        for (int t = 0; t < 4; t++)
                            total += (int64_t)step[4 * c + t] * (int64_t)x[8 * s + 4 * (t / 2) + ((indices >> (2 * t)) & 3)];
                    }
                } else {
                    for (int64_t q = 0; q < k / 4; q++)
                        for (int t = 0; t < 4; t++) total += (int64_t)w[(q * 16 + c) * 4 + t] * (int64_t)x[4 * q + t];
                }
                out[r * ldo + 16 * p + c] = (int32_t)total;
            }
        }
    }
#endif
}

/* The row-block packing of N:M weights (docs/nm-layout.md, "Physical packings"): blocks of four output rows, each
 * block `chunks` chunks of SIEVE_NM_CHUNK_KEPT kept values per row (four slices of 16 kept values per row: the f32
 * values slice by slice, the four rows of a slice adjacent, then the indices in the same order, padded to 64 bytes),
 * then a tail of `tail_kept` values per row (values, then each row's indices from a byte). */
#define SIEVE_NM_CHUNK_KEPT 64
/* How far ahead of the chunk being read the batch-1 AVX2 kernels prefetch (0: no software prefetch; the AVX-512 2:4 loop,
 * in assembly, does not prefetch: 4 KiB ahead helped Clang's order of it and slowed GCC's). */
#ifndef SIEVE_NM_PREFETCH_BYTES
#define SIEVE_NM_PREFETCH_BYTES 0
#endif

/* Field `element` of packed indices; reads only the field's own byte when fields never straddle bytes (2 and 4 bits). */
static inline int64_t sieve_nm_field(const uint8_t *packed, int64_t element, int bits) {
    if (bits != 3) return (packed[(element * bits) >> 3] >> ((element * bits) & 7)) & ((1 << bits) - 1);
    return sieve_nm_index(packed, element, bits);
}

/* The row's kept value (group order, 0 .. 15) at `position` of a slice of 16 in the in-lane order (1:4 and 2:4;
 * docs/nm-layout.md): in each set of 8, lane h * 4 + q holds kept value q % n of group 2 * (q / n) + h. */
static inline int64_t sieve_nm_in_lane_kept(int64_t position, int n) {
    int64_t set = position / 8, lane = position % 8, half = lane / 4, quarter = lane % 4;
    return set * 8 + (2 * (quarter / n) + half) * n + quarter % n;
}

/* Four rows of a row-block packed N:M weight times a contiguous f32 vector x; stores the first `valid` (1 to 4)
 * results to out[0 .. valid - 1]. `in_lane` says the chunks hold each 8 kept values in the in-lane order (1:4 and
 * 2:4), else group order. Vector paths: with AVX-512, 2:4 in group order, per 16 kept values of a row, the 32
 * index bits broadcast, shifted and masked into lane numbers and one two-source permute of a 32-float window of x
 * shared by the four rows. With AVX2, the in-lane order: per 8 kept values one variable shift of the broadcast
 * index bits gives every lane its position in its 128-bit half (vpermilps reads only the low two bits), and
 * in-lane permutes of 8-float windows [group 2w | group 2w + 1] (two for 2:4, four for 1:4) blended by constant
 * masks give the activations; 2:8 and 4:8 (group order) do the same with the lane-crossing permute over windows
 * of one group; 2:4 in group order emulates the two-source permute (two lane-crossing permutes and a blend).
 * Other patterns and the tail take a scalar loop. The summation order differs from a plain loop. */
static inline void sieve_nm_rows4_f32(const uint8_t *block, int64_t chunks, int64_t tail_kept, int n, int m, int in_lane,
                                      const float *x, float *out, int64_t valid) {
    const int bits = m == 4 ? 2 : (m == 8 ? 3 : 4);
    const int64_t index_bytes = (int64_t)SIEVE_NM_CHUNK_KEPT * bits / 8;
    const int64_t value_bytes = 4 * SIEVE_NM_CHUNK_KEPT * 4;
    const int64_t chunk_bytes = value_bytes + (4 * index_bytes + 63) / 64 * 64;
    const int64_t chunk_k = SIEVE_NM_CHUNK_KEPT / n * m;
    float total[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    int64_t c = 0;
#if defined(__AVX512F__)
    if (n == 2 && m == 4 && !in_lane) {
        const __m512i shifts = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i base = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28);
        const __m512i three = _mm512_set1_epi32(3);
        __m512 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = _mm512_setzero_ps();
        /* Per chunk (1088 bytes: values at 256 * slice + 64 * row, the index word of slice u and row j at
         * 1024 + 16 * u + 4 * j; 128 activations) and per slice u and row j, what this computes is
         *     lane   = ((broadcast(index word) >> shifts) & three) | base      (vpsrlvd, vpternlogd 0xEC)
         *     window = _mm512_permutex2var_ps(x[32u .. 32u + 15], lane, x[32u + 16 .. 32u + 31])
         *     acc[2 * j + (u & 1)] += values(u, j) * window                    (one fused multiply-add)
         * in this instruction order. It is inline assembly so that GCC and Clang (hence the LLVM backend, whose
         * runtime IR Clang compiles) run the same loop: from the intrinsics, Clang 19's order ran the cold
         * 4096x4096 layer 10-20% slower than GCC 12's (bench/RESULTS.md, 2026-12-05 09:40 UTC and the `llvmnm` section). The order
         * is Clang's own schedule of the intrinsics with the upper window read by each permute from memory (where
         * Clang keeps it in a register); it measured 4-5% faster than GCC's schedule under both compilers, where
         * GCC's own order as assembly and simpler software-pipelined orders were no faster than GCC's intrinsics.
         * The eight accumulators double as scratch registers between their uses; each still receives exactly the
         * products the intrinsics gave it, in the same order, so the results are unchanged. */
        if (chunks > 0) {
            const uint8_t *w = block;
            const float *xp = x, *xend = x + chunks * chunk_k;
            __asm__(".p2align 4\n\t"
                "1:\n\t"
                "vpbroadcastd 1024(%[w]), %%zmm22\n\t"                  /* indices of slice 0, row 0 */
                "vmovups 0(%[x]), %%zmm23\n\t"                          /* x window of slice 0, low half */
                "vmovups 128(%[x]), %%zmm30\n\t"                        /* x window of slice 1, low half */
                "vpsrlvd %[shifts], %%zmm22, %%zmm22\n\t"
                "vpternlogd $0xEC, %[three], %[base], %%zmm22\n\t"
                "vpermi2ps 64(%[x]), %%zmm23, %%zmm22\n\t"              /* gather from slice 0's window */
                "vfmadd132ps 0(%[w]), %[acc0], %%zmm22\n\t"             /* += slice 0, row 0 */
                "vpbroadcastd 1028(%[w]), %[acc0]\n\t"                  /* indices of slice 0, row 1 */
                "vpsrlvd %[shifts], %[acc0], %%zmm27\n\t"
                "vpternlogd $0xEC, %[three], %[base], %%zmm27\n\t"
                "vpermi2ps 64(%[x]), %%zmm23, %%zmm27\n\t"              /* gather from slice 0's window */
                "vfmadd132ps 64(%[w]), %[acc2], %%zmm27\n\t"            /* += slice 0, row 1 */
                "vpbroadcastd 1032(%[w]), %[acc2]\n\t"                  /* indices of slice 0, row 2 */
                "vpsrlvd %[shifts], %[acc2], %%zmm28\n\t"
                "vpbroadcastd 1036(%[w]), %[acc2]\n\t"                  /* indices of slice 0, row 3 */
                "vpternlogd $0xEC, %[three], %[base], %%zmm28\n\t"
                "vpermi2ps 64(%[x]), %%zmm23, %%zmm28\n\t"              /* gather from slice 0's window */
                "vfmadd132ps 128(%[w]), %[acc4], %%zmm28\n\t"           /* += slice 0, row 2 */
                "vpsrlvd %[shifts], %[acc2], %%zmm29\n\t"
                "vpbroadcastd 1040(%[w]), %[acc2]\n\t"                  /* indices of slice 1, row 0 */
                "vpternlogd $0xEC, %[three], %[base], %%zmm29\n\t"
                "vpermi2ps 64(%[x]), %%zmm23, %%zmm29\n\t"              /* gather from slice 0's window */
                "vfmadd132ps 192(%[w]), %[acc6], %%zmm29\n\t"           /* += slice 0, row 3 */
                "vpbroadcastd 1064(%[w]), %[acc6]\n\t"                  /* indices of slice 2, row 2 */
                "vpsrlvd %[shifts], %[acc2], %%zmm23\n\t"
                "vpbroadcastd 1044(%[w]), %[acc2]\n\t"                  /* indices of slice 1, row 1 */
                "vpternlogd $0xEC, %[three], %[base], %%zmm23\n\t"
                "vpsrlvd %[shifts], %[acc6], %[acc4]\n\t"
                "vpbroadcastd 1068(%[w]), %[acc6]\n\t"                  /* indices of slice 2, row 3 */
                "vpermi2ps 192(%[x]), %%zmm30, %%zmm23\n\t"             /* gather from slice 1's window */
                "vfmadd132ps 256(%[w]), %[acc1], %%zmm23\n\t"           /* += slice 1, row 0 */
                "vpternlogd $0xEC, %[three], %[base], %[acc4]\n\t"
                "vpsrlvd %[shifts], %[acc2], %%zmm24\n\t"
                "vpbroadcastd 1048(%[w]), %[acc2]\n\t"                  /* indices of slice 1, row 2 */
                "vpternlogd $0xEC, %[three], %[base], %%zmm24\n\t"
                "vpermi2ps 192(%[x]), %%zmm30, %%zmm24\n\t"             /* gather from slice 1's window */
                "vfmadd132ps 320(%[w]), %[acc3], %%zmm24\n\t"           /* += slice 1, row 1 */
                "vmovups 256(%[x]), %[acc3]\n\t"                        /* x window of slice 2, low half */
                "vpsrlvd %[shifts], %[acc6], %[acc6]\n\t"
                "vpternlogd $0xEC, %[three], %[base], %[acc6]\n\t"
                "vpsrlvd %[shifts], %[acc2], %%zmm25\n\t"
                "vpbroadcastd 1052(%[w]), %[acc2]\n\t"                  /* indices of slice 1, row 3 */
                "vpternlogd $0xEC, %[three], %[base], %%zmm25\n\t"
                "vpermi2ps 192(%[x]), %%zmm30, %%zmm25\n\t"             /* gather from slice 1's window */
                "vfmadd132ps 384(%[w]), %[acc5], %%zmm25\n\t"           /* += slice 1, row 2 */
                "vpsrlvd %[shifts], %[acc2], %%zmm26\n\t"
                "vpbroadcastd 1056(%[w]), %[acc2]\n\t"                  /* indices of slice 2, row 0 */
                "vpternlogd $0xEC, %[three], %[base], %%zmm26\n\t"
                "vpermi2ps 192(%[x]), %%zmm30, %%zmm26\n\t"             /* gather from slice 1's window */
                "vfmadd132ps 448(%[w]), %[acc7], %%zmm26\n\t"           /* += slice 1, row 3 */
                "vpsrlvd %[shifts], %[acc2], %[acc0]\n\t"
                "vpbroadcastd 1060(%[w]), %[acc2]\n\t"                  /* indices of slice 2, row 1 */
                "vpternlogd $0xEC, %[three], %[base], %[acc0]\n\t"
                "vpermi2ps 320(%[x]), %[acc3], %[acc0]\n\t"             /* gather from slice 2's window */
                "vpermi2ps 320(%[x]), %[acc3], %[acc4]\n\t"             /* gather from slice 2's window */
                "vpermi2ps 320(%[x]), %[acc3], %[acc6]\n\t"             /* gather from slice 2's window */
                "vfmadd132ps 512(%[w]), %%zmm22, %[acc0]\n\t"           /* += slice 2, row 0 */
                "vmovups 384(%[x]), %%zmm22\n\t"                        /* x window of slice 3, low half */
                "vfmadd132ps 640(%[w]), %%zmm28, %[acc4]\n\t"           /* += slice 2, row 2 */
                "vfmadd132ps 704(%[w]), %%zmm29, %[acc6]\n\t"           /* += slice 2, row 3 */
                "vpsrlvd %[shifts], %[acc2], %[acc2]\n\t"
                "vpternlogd $0xEC, %[three], %[base], %[acc2]\n\t"
                "vpermi2ps 320(%[x]), %[acc3], %[acc2]\n\t"             /* gather from slice 2's window */
                "vpbroadcastd 1072(%[w]), %[acc3]\n\t"                  /* indices of slice 3, row 0 */
                "vpbroadcastd 1080(%[w]), %[acc7]\n\t"                  /* indices of slice 3, row 2 */
                "vfmadd132ps 576(%[w]), %%zmm27, %[acc2]\n\t"           /* += slice 2, row 1 */
                "vpsrlvd %[shifts], %[acc3], %[acc1]\n\t"
                "vpsrlvd %[shifts], %[acc7], %[acc5]\n\t"
                "vpbroadcastd 1076(%[w]), %[acc3]\n\t"                  /* indices of slice 3, row 1 */
                "vpbroadcastd 1084(%[w]), %[acc7]\n\t"                  /* indices of slice 3, row 3 */
                "vpternlogd $0xEC, %[three], %[base], %[acc1]\n\t"
                "vpternlogd $0xEC, %[three], %[base], %[acc5]\n\t"
                "vpermi2ps 448(%[x]), %%zmm22, %[acc1]\n\t"             /* gather from slice 3's window */
                "vpermi2ps 448(%[x]), %%zmm22, %[acc5]\n\t"             /* gather from slice 3's window */
                "vfmadd132ps 768(%[w]), %%zmm23, %[acc1]\n\t"           /* += slice 3, row 0 */
                "vfmadd132ps 896(%[w]), %%zmm25, %[acc5]\n\t"           /* += slice 3, row 2 */
                "vpsrlvd %[shifts], %[acc3], %[acc3]\n\t"
                "vpsrlvd %[shifts], %[acc7], %[acc7]\n\t"
                "vpternlogd $0xEC, %[three], %[base], %[acc3]\n\t"
                "vpternlogd $0xEC, %[three], %[base], %[acc7]\n\t"
                "vpermi2ps 448(%[x]), %%zmm22, %[acc3]\n\t"             /* gather from slice 3's window */
                "vpermi2ps 448(%[x]), %%zmm22, %[acc7]\n\t"             /* gather from slice 3's window */
                "vfmadd132ps 832(%[w]), %%zmm24, %[acc3]\n\t"           /* += slice 3, row 1 */
                "vfmadd132ps 960(%[w]), %%zmm26, %[acc7]\n\t"           /* += slice 3, row 3 */
                "addq $1088, %[w]\n\t"
                "addq $512, %[x]\n\t"
                "cmpq %[xend], %[x]\n\t"
                "jne 1b"
                : [acc0] "+v"(acc[0]), [acc1] "+v"(acc[1]), [acc2] "+v"(acc[2]), [acc3] "+v"(acc[3]), [acc4] "+v"(acc[4]),
                  [acc5] "+v"(acc[5]), [acc6] "+v"(acc[6]), [acc7] "+v"(acc[7]), [w] "+r"(w), [x] "+r"(xp)
                : [xend] "r"(xend), [shifts] "v"(shifts), [base] "v"(base), [three] "v"(three)
                : "cc", "memory", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30");
            c = chunks;
        }
        for (int j = 0; j < 4; j++) total[j] = _mm512_reduce_add_ps(_mm512_add_ps(acc[2 * j], acc[2 * j + 1]));
    }
#elif defined(__AVX2__) && defined(__FMA__)
    if (in_lane && n == 2 && m == 4) {
        /* Per slice (16 kept values of each row over 32 activations): four windows of 8, shared by the four rows.
         * Per row, one broadcast of the slice's 32 index bits; shifted by 2i, lane i holds its field in bits 0-1
         * (the first 8 kept values), shifted 16 further the second 8's. */
        const __m256i shifts = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
        __m256 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
        for (; c < chunks; c++) {
            const uint8_t *chunk = block + c * chunk_bytes;
            const float *xc = x + c * chunk_k;
#if SIEVE_NM_PREFETCH_BYTES > 0
            for (int line = 0; line < chunk_bytes; line += 64) __builtin_prefetch(chunk + SIEVE_NM_PREFETCH_BYTES + line);
#endif
            for (int u = 0; u < 4; u++) {
                const __m256 w0 = _mm256_loadu_ps(xc + 32 * u), w1 = _mm256_loadu_ps(xc + 32 * u + 8);
                const __m256 w2 = _mm256_loadu_ps(xc + 32 * u + 16), w3 = _mm256_loadu_ps(xc + 32 * u + 24);
                for (int j = 0; j < 4; j++) {
                    uint32_t word;
                    memcpy(&word, chunk + value_bytes + 16 * u + 4 * j, sizeof word);
                    const __m256i first = _mm256_srlv_epi32(_mm256_set1_epi32((int)word), shifts);
                    const __m256i second = _mm256_srli_epi32(first, 16);
                    /* Lanes 0, 1, 4, 5 come from window [group 0 | group 1], lanes 2, 3, 6, 7 from [group 2 | group 3]. */
                    const __m256 a = _mm256_blend_ps(_mm256_permutevar_ps(w0, first), _mm256_permutevar_ps(w1, first), 0xCC);
                    const __m256 b = _mm256_blend_ps(_mm256_permutevar_ps(w2, second), _mm256_permutevar_ps(w3, second), 0xCC);
                    const float *values = (const float *)(const void *)(chunk + 256 * u + 64 * j);
                    acc[2 * j] = _mm256_fmadd_ps(_mm256_loadu_ps(values), a, acc[2 * j]);
                    acc[2 * j + 1] = _mm256_fmadd_ps(_mm256_loadu_ps(values + 8), b, acc[2 * j + 1]);
                }
            }
        }
        for (int j = 0; j < 4; j++) {
            float lanes[8];
            _mm256_storeu_ps(lanes, _mm256_add_ps(acc[2 * j], acc[2 * j + 1]));
            total[j] = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
        }
    } else if (in_lane && n == 1 && m == 4) {
        /* Per set of 8 kept values (8 groups, four windows of 8 activations shared by the four rows): lane h * 4 + q
         * comes from window q; the set's 16 index bits of a row broadcast and shifted by 2i. */
        const __m256i shifts = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
        __m256 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
        for (; c < chunks; c++) {
            const uint8_t *chunk = block + c * chunk_bytes;
            const float *xc = x + c * chunk_k;
#if SIEVE_NM_PREFETCH_BYTES > 0
            for (int line = 0; line < chunk_bytes; line += 64) __builtin_prefetch(chunk + SIEVE_NM_PREFETCH_BYTES + line);
#endif
            /* Slice u, half h: the accumulator indices depend only on the inner, fully unrolled loops, so they
             * stay in registers whether or not the compiler unrolls u. */
            for (int u = 0; u < 4; u++) {
                for (int h = 0; h < 2; h++) {
                    const float *xs = xc + 64 * u + 32 * h;
                    const __m256 w0 = _mm256_loadu_ps(xs), w1 = _mm256_loadu_ps(xs + 8);
                    const __m256 w2 = _mm256_loadu_ps(xs + 16), w3 = _mm256_loadu_ps(xs + 24);
                    for (int j = 0; j < 4; j++) {
                        /* The set's 16 bits and the 16 after them (lanes shift by at most 14 and the permute reads two
                         * bits, so they do not matter): one 32-bit broadcast from memory. Past a chunk's indices come
                         * the next chunk, the tail, the next block or the constant's 2 bytes of padding. */
                        uint32_t word;
                        memcpy(&word, chunk + value_bytes + 16 * u + 4 * j + 2 * h, sizeof word);
                        const __m256i lane = _mm256_srlv_epi32(_mm256_set1_epi32((int)word), shifts);
                        __m256 gathered = _mm256_blend_ps(_mm256_permutevar_ps(w0, lane), _mm256_permutevar_ps(w1, lane), 0x22);
                        gathered = _mm256_blend_ps(gathered, _mm256_permutevar_ps(w2, lane), 0x44);
                        gathered = _mm256_blend_ps(gathered, _mm256_permutevar_ps(w3, lane), 0x88);
                        const float *values = (const float *)(const void *)(chunk + 256 * u + 64 * j + 32 * h);
                        acc[2 * j + h] = _mm256_fmadd_ps(_mm256_loadu_ps(values), gathered, acc[2 * j + h]);
                    }
                }
            }
        }
        for (int j = 0; j < 4; j++) {
            float lanes[8];
            _mm256_storeu_ps(lanes, _mm256_add_ps(acc[2 * j], acc[2 * j + 1]));
            total[j] = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
        }
    } else if (!in_lane && m == 8 && (n == 2 || n == 4)) {
        /* Group order, m = 8: a window of 8 activations is one group, and the lane-crossing permute (vpermps) reads
         * only the low three bits of each lane, so lane i of 8 kept values takes its field straight from the
         * broadcast 24 index bits shifted by 3i and comes from window i / n; the windows' permutes are blended. */
        const __m256i shifts = _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21);
        __m256 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
        for (; c < chunks; c++) {
            const uint8_t *chunk = block + c * chunk_bytes;
            const float *xc = x + c * chunk_k;
#if SIEVE_NM_PREFETCH_BYTES > 0
            for (int line = 0; line < chunk_bytes; line += 64) __builtin_prefetch(chunk + SIEVE_NM_PREFETCH_BYTES + line);
#endif
            for (int u = 0; u < 4; u++) {
                for (int h = 0; h < 2; h++) {
                    /* Half h of slice u: 8 kept values per row over 8 / n groups. */
                    const float *xs = xc + (2 * u + h) * 64 / n;
                    const __m256 w0 = _mm256_loadu_ps(xs), w1 = _mm256_loadu_ps(xs + 8);
                    const __m256 w2 = n == 2 ? _mm256_loadu_ps(xs + 16) : w0, w3 = n == 2 ? _mm256_loadu_ps(xs + 24) : w0;
                    for (int j = 0; j < 4; j++) {
                        uint32_t word;
                        /* 6 index bytes per slice and row; the second half's 24 bits start on byte 3. */
                        memcpy(&word, chunk + value_bytes + 24 * u + 6 * j + 3 * h, sizeof word);
                        const __m256i lane = _mm256_srlv_epi32(_mm256_set1_epi32((int)word), shifts);
                        __m256 gathered;
                        if (n == 4) {
                            gathered = _mm256_blend_ps(_mm256_permutevar8x32_ps(w0, lane), _mm256_permutevar8x32_ps(w1, lane), 0xF0);
                        } else {
                            gathered = _mm256_blend_ps(_mm256_permutevar8x32_ps(w0, lane), _mm256_permutevar8x32_ps(w1, lane), 0x0C);
                            gathered = _mm256_blend_ps(gathered, _mm256_permutevar8x32_ps(w2, lane), 0x30);
                            gathered = _mm256_blend_ps(gathered, _mm256_permutevar8x32_ps(w3, lane), 0xC0);
                        }
                        const float *values = (const float *)(const void *)(chunk + 256 * u + 64 * j + 32 * h);
                        acc[2 * j + h] = _mm256_fmadd_ps(_mm256_loadu_ps(values), gathered, acc[2 * j + h]);
                    }
                }
            }
        }
        for (int j = 0; j < 4; j++) {
            float lanes[8];
            _mm256_storeu_ps(lanes, _mm256_add_ps(acc[2 * j], acc[2 * j + 1]));
            total[j] = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
        }
    } else if (n == 2 && m == 4 && !in_lane) {
        const __m256i shifts = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
        const __m256i base = _mm256_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12);
        const __m256i three = _mm256_set1_epi32(3);
        __m256 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
        for (; c < chunks; c++) {
            const uint8_t *chunk = block + c * chunk_bytes;
            const float *xc = x + c * chunk_k;
#if SIEVE_NM_PREFETCH_BYTES > 0
            for (int line = 0; line < chunk_bytes; line += 64) __builtin_prefetch(chunk + SIEVE_NM_PREFETCH_BYTES + line);
#endif
            for (int u = 0; u < 8; u++) {
                __m256 low = _mm256_loadu_ps(xc + 16 * u), high = _mm256_loadu_ps(xc + 16 * u + 8);
                for (int j = 0; j < 4; j++) {
                    uint16_t word;
                    memcpy(&word, chunk + value_bytes + 16 * (u >> 1) + 4 * j + 2 * (u & 1), sizeof word);
                    __m256i lane = _mm256_add_epi32(_mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)word), shifts), three), base);
                    /* lane numbers 8..15 have bit 3 set: shifted to the sign bit, it picks the high window. */
                    __m256 window = _mm256_blendv_ps(_mm256_permutevar8x32_ps(low, lane), _mm256_permutevar8x32_ps(high, lane),
                                                     _mm256_castsi256_ps(_mm256_slli_epi32(lane, 28)));
                    acc[2 * j + (u & 1)] = _mm256_fmadd_ps(_mm256_loadu_ps((const float *)(const void *)(chunk + 256 * (u >> 1) + 64 * j + 32 * (u & 1))), window,
                                                           acc[2 * j + (u & 1)]);
                }
            }
        }
        for (int j = 0; j < 4; j++) {
            float lanes[8];
            _mm256_storeu_ps(lanes, _mm256_add_ps(acc[2 * j], acc[2 * j + 1]));
            total[j] = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
        }
    }
#endif
    for (; c < chunks; c++) {
        const uint8_t *chunk = block + c * chunk_bytes;
        const float *xc = x + c * chunk_k;
        for (int j = 0; j < 4; j++) {
            float part[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            for (int64_t p = 0; p < SIEVE_NM_CHUNK_KEPT; p++) {
                /* p is the physical position; the kept value it holds (group order) sets the group. */
                int64_t slice = (p / 16) * 4 + j;
                int64_t kept = in_lane ? (p / 16) * 16 + sieve_nm_in_lane_kept(p % 16, n) : p;
                float value;
                memcpy(&value, chunk + (slice * 16 + p % 16) * 4, sizeof value);
                part[p & 3] += value * xc[(kept / n) * m + sieve_nm_field(chunk + value_bytes + slice * 2 * bits, p % 16, bits)];
            }
            total[j] += (part[0] + part[1]) + (part[2] + part[3]);
        }
    }
    if (tail_kept > 0) {
        const uint8_t *tail = block + chunks * chunk_bytes;
        const float *xt = x + chunks * chunk_k;
        const int64_t tail_index_bytes = (tail_kept * bits + 7) / 8;
        for (int j = 0; j < 4; j++) {
            float part[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            for (int64_t p = 0; p < tail_kept; p++) {
                float value;
                memcpy(&value, tail + (j * tail_kept + p) * 4, sizeof value);
                part[p & 3] += value * xt[(p / n) * m + sieve_nm_field(tail + 16 * tail_kept + j * tail_index_bytes, p, bits)];
            }
            total[j] += (part[0] + part[1]) + (part[2] + part[3]);
        }
    }
    for (int64_t j = 0; j < valid; j++) out[j] = total[j];
}

/* out[j * out_stride + i] = src[i * src_stride + j] for i, j < 16: sixteen rows loaded, transposed in registers by
 * unpacks within 128-bit lanes, shuffles of 4-row groups and 128-bit lane shuffles across them, stored as rows. */
static inline void sieve_transpose_tile16_f32(const float *src, int64_t src_stride, float *out, int64_t out_stride) {
#if defined(__AVX512F__)
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + i * src_stride);
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);     /* per 128-bit lane: a0 b0 a1 b1 */
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]); /* a2 b2 a3 b3 */
    }
    for (int g = 0; g < 16; g += 4) {
        /* r[g + j] holds column 4L + j of rows g .. g + 3 in its 128-bit lane L. */
        r[g] = _mm512_shuffle_ps(t[g], t[g + 2], 0x44);
        r[g + 1] = _mm512_shuffle_ps(t[g], t[g + 2], 0xEE);
        r[g + 2] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0x44);
        r[g + 3] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0xEE);
    }
    for (int j = 0; j < 4; j++) {
        __m512 ab_low = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x44), ab_high = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xEE);
        __m512 cd_low = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x44), cd_high = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xEE);
        _mm512_storeu_ps(out + j * out_stride, _mm512_shuffle_f32x4(ab_low, cd_low, 0x88));
        _mm512_storeu_ps(out + (4 + j) * out_stride, _mm512_shuffle_f32x4(ab_low, cd_low, 0xDD));
        _mm512_storeu_ps(out + (8 + j) * out_stride, _mm512_shuffle_f32x4(ab_high, cd_high, 0x88));
        _mm512_storeu_ps(out + (12 + j) * out_stride, _mm512_shuffle_f32x4(ab_high, cd_high, 0xDD));
    }
#else
    for (int i = 0; i < 16; i++) {
        for (int j = 0; j < 16; j++) out[j * out_stride + i] = src[i * src_stride + j];
    }
#endif
}

/* The same for 8 x 8: unpacks and shuffles within 128-bit lanes, then 128-bit lane swaps. */
static inline void sieve_transpose_tile8_f32(const float *src, int64_t src_stride, float *out, int64_t out_stride) {
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * src_stride);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int g = 0; g < 8; g += 4) {
        r[g] = _mm256_shuffle_ps(t[g], t[g + 2], 0x44);
        r[g + 1] = _mm256_shuffle_ps(t[g], t[g + 2], 0xEE);
        r[g + 2] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0x44);
        r[g + 3] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0xEE);
    }
    for (int j = 0; j < 4; j++) {
        _mm256_storeu_ps(out + j * out_stride, _mm256_permute2f128_ps(r[j], r[4 + j], 0x20));
        _mm256_storeu_ps(out + (4 + j) * out_stride, _mm256_permute2f128_ps(r[j], r[4 + j], 0x31));
    }
#else
    for (int i = 0; i < 8; i++) {
        for (int j = 0; j < 8; j++) out[j * out_stride + i] = src[i * src_stride + j];
    }
#endif
}

/* The same for 4 x 4 (SSE2 shuffles where there are any). */
static inline void sieve_transpose_tile4_f32(const float *src, int64_t src_stride, float *out, int64_t out_stride) {
#if defined(__SSE2__)
    __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + src_stride);
    __m128 r2 = _mm_loadu_ps(src + 2 * src_stride), r3 = _mm_loadu_ps(src + 3 * src_stride);
    __m128 t0 = _mm_unpacklo_ps(r0, r1), t1 = _mm_unpackhi_ps(r0, r1), t2 = _mm_unpacklo_ps(r2, r3), t3 = _mm_unpackhi_ps(r2, r3);
    _mm_storeu_ps(out, _mm_movelh_ps(t0, t2));
    _mm_storeu_ps(out + out_stride, _mm_movehl_ps(t2, t0));
    _mm_storeu_ps(out + 2 * out_stride, _mm_movelh_ps(t1, t3));
    _mm_storeu_ps(out + 3 * out_stride, _mm_movehl_ps(t3, t1));
#else
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++) out[j * out_stride + i] = src[i * src_stride + j];
    }
#endif
}

#ifdef __cplusplus
}
#endif
#endif
