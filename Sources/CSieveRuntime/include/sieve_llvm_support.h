/* sieve_llvm_support.h: what code from the LLVM backend calls in the runtime, beyond sieve_runtime.h's pool.
 * The C backend inlines the header's helpers into each artifact; LLVM-built code calls these out-of-line copies
 * (same source, so the same results) and these context functions, which do what the C backend's NAME_create,
 * NAME_init, NAME_destroy and NAME_run preamble do, for any model (the model's sizes and weights are arguments). */
#ifndef SIEVE_LLVM_SUPPORT_H
#define SIEVE_LLVM_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes ahead of the arena in a context (the C backend's context header without profiling). */
#define SIEVE_LLVM_CONTEXT_HEADER_BYTES 8192

/* What every kernel of LLVM-built code sees, laid out as the C backend's NAME_state. */
typedef struct {
    void *pool;
    uint8_t *arena;
    const uint8_t *weights;
    const void *const *inputs;
    void *const *outputs;
    int *error;
} sieve_llvm_state;

/* Places a context in `memory` (NAME_init): 0 or an error code; `context_bytes` is NAME_CONTEXT_BYTES. */
int sieve_llvm_init(void *memory, size_t bytes, size_t context_bytes, int num_threads, const uint8_t *weights);
/* The context placed in `memory` (NAME_context). */
void *sieve_llvm_context(void *memory);
/* Allocates and places a context (NAME_create); NULL on failure. */
void *sieve_llvm_create(size_t context_bytes, int num_threads, const uint8_t *weights);
/* NAME_create_with_weights of an artifact with external weights: reads and checks the weights file at `path`, then
 * allocates and places a context; NULL on failure, with the error code in `error` when it is not NULL. */
void *sieve_llvm_create_with_weights(size_t context_bytes, int num_threads, const char *path, uint64_t payload_bytes,
                                     uint64_t checksum, int *error);
/* NAME_init_with_weights: checks a weights file already in memory and places a context that reads it in place. */
int sieve_llvm_init_with_weights(void *memory, size_t bytes, size_t context_bytes, int num_threads, const void *weights_file,
                                 size_t weights_file_bytes, uint64_t payload_bytes, uint64_t checksum);
/* Stops the pool and frees what create allocated (NAME_destroy). */
void sieve_llvm_destroy(void *context);
/* Checks the caller's pointers and fills `state` for a run (NAME_run's preamble): 0 or an error code. */
int sieve_llvm_begin_run(void *context, const void *const *inputs, int num_inputs, void *const *outputs, int num_outputs,
                         int *error, sieve_llvm_state *state);
/* Runs a parallel loop's task on the context's pool. */
void sieve_llvm_pool_run(const sieve_llvm_state *state, void (*task)(const void *, int64_t, int64_t), int64_t count);
/* A message for an error code (NAME_error_string). */
const char *sieve_llvm_error_string(int code);

/* Out-of-line copies of sieve_runtime.h's inline helpers. */
float sieve_llvm_f16_to_f32(uint16_t h);
uint16_t sieve_llvm_f32_to_f16(float value);
float sieve_llvm_bf16_to_f32(uint16_t h);
uint16_t sieve_llvm_f32_to_bf16(float value);
/* The float8 and float4 conversions (saturating), with the byte in a uint32_t so that no caller has to extend it. */
float sieve_llvm_f8e4m3fn_to_f32(uint32_t bits);
uint32_t sieve_llvm_f32_to_f8e4m3fn(float value);
float sieve_llvm_f8e5m2_to_f32(uint32_t bits);
uint32_t sieve_llvm_f32_to_f8e5m2(float value);
float sieve_llvm_f4e2m1_to_f32(uint32_t bits);
uint32_t sieve_llvm_f32_to_f4e2m1(float value);
int64_t sieve_llvm_pow_i64(int64_t base, int64_t exponent);
double sieve_llvm_sigmoid(double x);
double sieve_llvm_gelu(double x);
double sieve_llvm_gelu_tanh(double x);
int64_t sieve_llvm_quantize(float x, float scale, int64_t zero_point, int64_t low, int64_t high);
int64_t sieve_llvm_dot_u8i8(const uint8_t *a, const int8_t *w, int64_t length);
int64_t sieve_llvm_nm_dot_u8i8(const int8_t *values, const uint8_t *indices, int64_t first, int64_t groups, int n, int m,
                               int bits, const uint8_t *x);
void sieve_llvm_quantize_row_u8(const float *x, int64_t length, uint8_t *q, float *scale, int32_t *zero_point);
void sieve_llvm_int8_tile(const uint8_t *a, int64_t lda, int64_t rows, const int8_t *panels, int64_t panel_count, int64_t k,
                          int sparse24, int32_t *out, int64_t ldo);
float sieve_llvm_nm_dot_f32(const float *values, const uint8_t *indices, int64_t first, int64_t groups, int n, int m, int bits,
                            const float *x);
void sieve_llvm_nm_rows4_f32(const uint8_t *block, int64_t chunks, int64_t tail_kept, int n, int m, int in_lane,
                             const float *x, float *out, int64_t valid);
void sieve_llvm_transpose_tile16_f32(const float *src, int64_t src_stride, float *out, int64_t out_stride);
void sieve_llvm_transpose_tile8_f32(const float *src, int64_t src_stride, float *out, int64_t out_stride);
void sieve_llvm_transpose_tile4_f32(const float *src, int64_t src_stride, float *out, int64_t out_stride);

#ifdef __cplusplus
}
#endif
#endif
