/* A stand-in for a compiled Sieve artifact: the issue-5 C API around a plain dense loop, so that the
 * harness's --sieve path (dlopen, shape check, output check, timing) can be tested before codegen exists. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef STANDIN_BATCH
#define STANDIN_BATCH 1
#endif
#ifndef STANDIN_SIZE
#define STANDIN_SIZE 4096
#endif
#ifndef STANDIN_WEIGHTS
#define STANDIN_WEIGHTS "models/matmul_4096_dense.weights.f32"
#endif

#define STANDIN_NUM_INPUTS 1
#define STANDIN_NUM_OUTPUTS 1

typedef struct standin_ctx {
    float *weights; /* [STANDIN_SIZE][STANDIN_SIZE], k-major like ONNX MatMul's B */
} standin_ctx;

typedef struct {
    const char *name;
    int dtype;
    int rank;
    const int64_t *shape;
    size_t bytes;
} standin_tensor_info;

static const int64_t input_shape[2] = {STANDIN_BATCH, STANDIN_SIZE};
static const int64_t output_shape[2] = {STANDIN_BATCH, STANDIN_SIZE};
const standin_tensor_info standin_inputs[STANDIN_NUM_INPUTS] = {
    {"x", 1, 2, input_shape, (size_t)STANDIN_BATCH * STANDIN_SIZE * sizeof(float)}};
const standin_tensor_info standin_outputs[STANDIN_NUM_OUTPUTS] = {
    {"y", 1, 2, output_shape, (size_t)STANDIN_BATCH * STANDIN_SIZE * sizeof(float)}};

standin_ctx *standin_create(int num_threads);
int standin_run(standin_ctx *ctx, const void *const *inputs, void *const *outputs);
void standin_destroy(standin_ctx *ctx);
const char *standin_error_string(int code);

standin_ctx *standin_create(int num_threads) {
    (void)num_threads; /* single-threaded stand-in */
    standin_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    size_t count = (size_t)STANDIN_SIZE * STANDIN_SIZE;
    ctx->weights = malloc(count * sizeof(float));
    FILE *file = fopen(STANDIN_WEIGHTS, "rb");
    if (!ctx->weights || !file || fread(ctx->weights, sizeof(float), count, file) != count) {
        if (file) fclose(file);
        standin_destroy(ctx);
        return NULL;
    }
    fclose(file);
    return ctx;
}

int standin_run(standin_ctx *ctx, const void *const *inputs, void *const *outputs) {
    if (!ctx || !inputs || !outputs || !inputs[0] || !outputs[0]) return 1;
    const float *x = inputs[0];
    float *y = outputs[0];
    for (int b = 0; b < STANDIN_BATCH; b++) {
        float *row = y + (size_t)b * STANDIN_SIZE;
        memset(row, 0, STANDIN_SIZE * sizeof(float));
        for (int k = 0; k < STANDIN_SIZE; k++) {
            float scale = x[(size_t)b * STANDIN_SIZE + k];
            const float *w = ctx->weights + (size_t)k * STANDIN_SIZE;
            for (int n = 0; n < STANDIN_SIZE; n++) row[n] += scale * w[n];
        }
    }
    return 0;
}

void standin_destroy(standin_ctx *ctx) {
    if (!ctx) return;
    free(ctx->weights);
    free(ctx);
}

const char *standin_error_string(int code) {
    return code == 0 ? "ok" : code == 1 ? "null argument" : "unknown error";
}
