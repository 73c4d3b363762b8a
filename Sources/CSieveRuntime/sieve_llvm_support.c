/* sieve_llvm_support.c: the runtime functions code from the LLVM backend calls (see sieve_llvm_support.h).
 * Compiled once with the package; the JIT resolves these symbols from this process. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "sieve_llvm_support.h"
#include "sieve_runtime.h"

#include <stdlib.h>

/* The context, laid out as the C backend's NAME_ctx without profiling. */
typedef struct {
    sieve_pool pool;
    uint8_t *arena;
    const uint8_t *weights;
    void *weights_allocation;
    void *allocation;
} sieve_llvm_ctx;
_Static_assert(sizeof(sieve_llvm_ctx) + 64 <= SIEVE_LLVM_CONTEXT_HEADER_BYTES, "context header too small");

void *sieve_llvm_context(void *memory) {
    return memory == NULL ? NULL : (void *)(((uintptr_t)memory + 63) & ~(uintptr_t)63);
}

static int sieve_llvm_place(void *memory, size_t bytes, size_t context_bytes, int num_threads, const uint8_t *weights,
                            sieve_llvm_ctx **result) {
    if (memory == NULL) return SIEVE_ERROR_NULL_ARGUMENT;
    if (bytes < context_bytes) return SIEVE_ERROR_BUFFER_TOO_SMALL;
    sieve_llvm_ctx *ctx = (sieve_llvm_ctx *)sieve_llvm_context(memory);
    memset(ctx, 0, sizeof *ctx);
    ctx->arena = (uint8_t *)ctx + SIEVE_LLVM_CONTEXT_HEADER_BYTES;
    ctx->weights = weights;
    int status = sieve_pool_init(&ctx->pool, num_threads);
    if (status != SIEVE_OK) return status;
    *result = ctx;
    return SIEVE_OK;
}

int sieve_llvm_init(void *memory, size_t bytes, size_t context_bytes, int num_threads, const uint8_t *weights) {
    sieve_llvm_ctx *ctx = NULL;
    return sieve_llvm_place(memory, bytes, context_bytes, num_threads, weights, &ctx);
}

void *sieve_llvm_create(size_t context_bytes, int num_threads, const uint8_t *weights) {
    void *memory = NULL;
    if (posix_memalign(&memory, 64, context_bytes) != 0 || memory == NULL) return NULL;
    sieve_llvm_ctx *ctx = NULL;
    if (sieve_llvm_place(memory, context_bytes, context_bytes, num_threads, weights, &ctx) != SIEVE_OK) {
        free(memory);
        return NULL;
    }
    ctx->allocation = memory;
    return ctx;
}

void *sieve_llvm_create_with_weights(size_t context_bytes, int num_threads, const char *path, uint64_t payload_bytes,
                                     uint64_t checksum, int *error) {
    uint8_t *weights = NULL;
    void *weights_allocation = NULL;
    int status = sieve_weights_load(path, payload_bytes, checksum, &weights, &weights_allocation);
    void *memory = NULL;
    if (status == SIEVE_OK && (posix_memalign(&memory, 64, context_bytes) != 0 || memory == NULL)) status = SIEVE_ERROR_OUT_OF_MEMORY;
    sieve_llvm_ctx *ctx = NULL;
    if (status == SIEVE_OK) status = sieve_llvm_place(memory, context_bytes, context_bytes, num_threads, weights, &ctx);
    if (status != SIEVE_OK) {
        free(memory);
        free(weights_allocation);
        if (error != NULL) *error = status;
        return NULL;
    }
    ctx->allocation = memory;
    ctx->weights_allocation = weights_allocation;
    if (error != NULL) *error = SIEVE_OK;
    return ctx;
}

int sieve_llvm_init_with_weights(void *memory, size_t bytes, size_t context_bytes, int num_threads, const void *weights_file,
                                 size_t weights_file_bytes, uint64_t payload_bytes, uint64_t checksum) {
    int status = sieve_weights_check((const uint8_t *)weights_file, weights_file_bytes, payload_bytes, checksum);
    if (status != SIEVE_OK) return status;
    if (((uintptr_t)weights_file + SIEVE_WEIGHTS_HEADER_BYTES) % 64 != 0) return SIEVE_ERROR_BAD_ARGUMENT;
    sieve_llvm_ctx *ctx = NULL;
    return sieve_llvm_place(memory, bytes, context_bytes, num_threads, (const uint8_t *)weights_file + SIEVE_WEIGHTS_HEADER_BYTES, &ctx);
}

void sieve_llvm_destroy(void *context) {
    sieve_llvm_ctx *ctx = (sieve_llvm_ctx *)context;
    if (ctx == NULL) return;
    sieve_pool_destroy(&ctx->pool);
    free(ctx->weights_allocation);
    free(ctx->allocation);
}

int sieve_llvm_begin_run(void *context, const void *const *inputs, int num_inputs, void *const *outputs, int num_outputs,
                         int *error, sieve_llvm_state *state) {
    sieve_llvm_ctx *ctx = (sieve_llvm_ctx *)context;
    if (ctx == NULL) return SIEVE_ERROR_NULL_ARGUMENT;
    if (num_inputs > 0) {
        if (inputs == NULL) return SIEVE_ERROR_NULL_ARGUMENT;
        for (int i = 0; i < num_inputs; i++) if (inputs[i] == NULL) return SIEVE_ERROR_NULL_ARGUMENT;
    }
    if (outputs == NULL) return SIEVE_ERROR_NULL_ARGUMENT;
    for (int i = 0; i < num_outputs; i++) if (outputs[i] == NULL) return SIEVE_ERROR_NULL_ARGUMENT;
    *error = SIEVE_OK;
    state->pool = &ctx->pool;
    state->arena = ctx->arena;
    state->weights = ctx->weights;
    state->inputs = inputs;
    state->outputs = outputs;
    state->error = error;
    return SIEVE_OK;
}

void sieve_llvm_pool_run(const sieve_llvm_state *state, void (*task)(const void *, int64_t, int64_t), int64_t count) {
    sieve_pool_run((sieve_pool *)state->pool, task, state, count);
}

const char *sieve_llvm_error_string(int code) {
    switch (code) {
    case SIEVE_OK: return "no error";
    case SIEVE_ERROR_NULL_ARGUMENT: return "a required pointer argument is NULL";
    case SIEVE_ERROR_OUT_OF_MEMORY: return "memory allocation failed";
    case SIEVE_ERROR_THREADS: return "the worker threads could not be started";
    case SIEVE_ERROR_WEIGHTS_MISSING: return "the weights file could not be opened";
    case SIEVE_ERROR_WEIGHTS_CORRUPT:
        return "the weights file is corrupt or belongs to another model (magic, version, size or checksum mismatch)";
    case SIEVE_ERROR_INDEX_OUT_OF_RANGE: return "a gather index is out of range for its axis";
    case SIEVE_ERROR_DIVISION_BY_ZERO: return "an integer division by zero";
    case SIEVE_ERROR_BUFFER_TOO_SMALL: return "the memory given to init is smaller than CONTEXT_BYTES";
    case SIEVE_ERROR_BAD_ARGUMENT: return "an argument is invalid";
    default: return "unknown error code";
    }
}

float sieve_llvm_f16_to_f32(uint16_t h) { return sieve_f16_to_f32(h); }
uint16_t sieve_llvm_f32_to_f16(float value) { return sieve_f32_to_f16(value); }
float sieve_llvm_bf16_to_f32(uint16_t h) { return sieve_bf16_to_f32(h); }
uint16_t sieve_llvm_f32_to_bf16(float value) { return sieve_f32_to_bf16(value); }
float sieve_llvm_f8e4m3fn_to_f32(uint32_t bits) { return sieve_f8e4m3fn_to_f32((uint8_t)bits); }
uint32_t sieve_llvm_f32_to_f8e4m3fn(float value) { return sieve_f32_to_f8e4m3fn(value, 1); }
float sieve_llvm_f8e5m2_to_f32(uint32_t bits) { return sieve_f8e5m2_to_f32((uint8_t)bits); }
uint32_t sieve_llvm_f32_to_f8e5m2(float value) { return sieve_f32_to_f8e5m2(value, 1); }
float sieve_llvm_f4e2m1_to_f32(uint32_t bits) { return sieve_f4e2m1_to_f32((uint8_t)bits); }
uint32_t sieve_llvm_f32_to_f4e2m1(float value) { return sieve_f32_to_f4e2m1(value); }
int64_t sieve_llvm_pow_i64(int64_t base, int64_t exponent) { return sieve_pow_i64(base, exponent); }
double sieve_llvm_sigmoid(double x) { return sieve_sigmoid(x); }
double sieve_llvm_gelu(double x) { return sieve_gelu(x); }
double sieve_llvm_gelu_tanh(double x) { return sieve_gelu_tanh(x); }
int64_t sieve_llvm_quantize(float x, float scale, int64_t zero_point, int64_t low, int64_t high) {
    return sieve_quantize(x, scale, zero_point, low, high);
}
int64_t sieve_llvm_dot_u8i8(const uint8_t *a, const int8_t *w, int64_t length) {
    return sieve_dot_u8i8(a, w, length);
}
int64_t sieve_llvm_nm_dot_u8i8(const int8_t *values, const uint8_t *indices, int64_t first, int64_t groups, int n, int m,
                               int bits, const uint8_t *x) {
    return sieve_nm_dot_u8i8(values, indices, first, groups, n, m, bits, x);
}
void sieve_llvm_quantize_row_u8(const float *x, int64_t length, uint8_t *q, float *scale, int32_t *zero_point) {
    sieve_quantize_row_u8(x, length, q, scale, zero_point);
}
void sieve_llvm_int8_tile(const uint8_t *a, int64_t lda, int64_t rows, const int8_t *panels, int64_t panel_count, int64_t k,
                          int sparse24, int32_t *out, int64_t ldo) {
    sieve_int8_tile(a, lda, rows, panels, panel_count, k, sparse24, out, ldo);
}
float sieve_llvm_nm_dot_f32(const float *values, const uint8_t *indices, int64_t first, int64_t groups, int n, int m, int bits,
                            const float *x) {
    return sieve_nm_dot_f32(values, indices, first, groups, n, m, bits, x);
}
void sieve_llvm_nm_rows4_f32(const uint8_t *block, int64_t chunks, int64_t tail_kept, int n, int m, int in_lane,
                             const float *x, float *out, int64_t valid) {
    sieve_nm_rows4_f32(block, chunks, tail_kept, n, m, in_lane, x, out, valid);
}
void sieve_llvm_transpose_tile16_f32(const float *src, int64_t src_stride, float *out, int64_t out_stride) {
    sieve_transpose_tile16_f32(src, src_stride, out, out_stride);
}
void sieve_llvm_transpose_tile8_f32(const float *src, int64_t src_stride, float *out, int64_t out_stride) {
    sieve_transpose_tile8_f32(src, src_stride, out, out_stride);
}
void sieve_llvm_transpose_tile4_f32(const float *src, int64_t src_stride, float *out, int64_t out_stride) {
    sieve_transpose_tile4_f32(src, src_stride, out, out_stride);
}
