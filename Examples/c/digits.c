/* Classifies handwritten digits with the example MLP compiled by Sieve, linked as a plain C library.
 * Uses only the generated header mlp.h: create a context, run it on batches, read the outputs. */

/* Build (see scripts/run-example.sh, which does all of this):
 *   sieve compile Examples/models/mlp.onnx --sparsity 2:4 --input-shape input=1x64 -o out/ --name mlp
 *   cc -O2 $(PKG_CONFIG_PATH=out pkg-config --cflags mlp-static) Examples/c/digits.c \
 *       $(PKG_CONFIG_PATH=out pkg-config --static --libs mlp-static) -o digits
 *   (or by hand: cc -O2 -I out Examples/c/digits.c out/libmlp.a -lpthread -lm -o digits)
 * Run:
 *   ./digits Examples/models/mlp.eval.input.npy [Examples/models/mlp.eval.labels.npy]
 */

#include "mlp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A little-endian C-order .npy array of float32 ('<f4') or int64 ('<i8'). */
typedef struct {
    char dtype[4];
    int rank;
    int64_t shape[8];
    int64_t count;
    void *data;
} npy_array;

/* Reads a .npy file; returns 0 on success, prints what is wrong and returns -1 otherwise. */
static int read_npy(const char *path, npy_array *array) {
    memset(array, 0, sizeof *array);
    FILE *file = fopen(path, "rb");
    if (!file) { perror(path); return -1; }
    unsigned char preamble[10];
    if (fread(preamble, 1, 10, file) != 10 || memcmp(preamble, "\x93NUMPY", 6) != 0 || preamble[6] != 1) {
        fprintf(stderr, "%s: not a version 1 .npy file\n", path);
        fclose(file);
        return -1;
    }
    size_t header_length = preamble[8] | (size_t)preamble[9] << 8;
    char header[65536];
    if (fread(header, 1, header_length, file) != header_length) {
        fprintf(stderr, "%s: truncated header\n", path);
        fclose(file);
        return -1;
    }
    header[header_length] = 0;
    const char *descr = strstr(header, "'descr': '");
    const char *shape = strstr(header, "'shape': (");
    if (!descr || !shape || strstr(header, "'fortran_order': True")) {
        fprintf(stderr, "%s: unsupported header %s\n", path, header);
        fclose(file);
        return -1;
    }
    memcpy(array->dtype, descr + 10, 3);
    array->count = 1;
    for (const char *p = shape + 10; *p && *p != ')';) {
        char *end;
        long long dim = strtoll(p, &end, 10);
        if (end == p) break;
        if (array->rank == 8 || dim < 0) { fprintf(stderr, "%s: unsupported shape\n", path); fclose(file); return -1; }
        array->shape[array->rank++] = dim;
        array->count *= dim;
        p = end;
        while (*p == ',' || *p == ' ') p++;
    }
    size_t element = strcmp(array->dtype, "<f4") == 0 ? 4 : strcmp(array->dtype, "<i8") == 0 ? 8 : 0;
    if (element == 0) { fprintf(stderr, "%s: dtype %s is not <f4 or <i8\n", path, array->dtype); fclose(file); return -1; }
    array->data = malloc((size_t)array->count * element + 1);
    if (!array->data || fread(array->data, element, (size_t)array->count, file) != (size_t)array->count) {
        fprintf(stderr, "%s: truncated data\n", path);
        free(array->data);
        fclose(file);
        return -1;
    }
    fclose(file);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s DIGITS.npy [LABELS.npy]\n  DIGITS: float32 [K, 64] pixel intensities 0-16\n", argv[0]);
        return 2;
    }
    const mlp_tensor_info *in = &mlp_inputs[0], *out = &mlp_outputs[0];
    if (mlp_NUM_INPUTS != 1 || in->rank != 2 || in->shape[1] != 64 || out->rank != 2 || out->shape[1] != 10) {
        fprintf(stderr, "the compiled model does not take [B, 64] digits to [B, 10] probabilities\n");
        return 1;
    }
    npy_array digits, labels = {0};
    if (read_npy(argv[1], &digits) != 0) return 1;
    if (strcmp(digits.dtype, "<f4") != 0 || digits.rank != 2 || digits.shape[1] != 64) {
        fprintf(stderr, "%s: expected float32 [K, 64]\n", argv[1]);
        return 1;
    }
    if (argc == 3 && (read_npy(argv[2], &labels) != 0 || strcmp(labels.dtype, "<i8") != 0 || labels.count != digits.shape[0])) {
        fprintf(stderr, "%s: expected int64 [%lld] labels\n", argv[2], (long long)digits.shape[0]);
        return 1;
    }

    mlp_ctx *ctx = mlp_create(1);
    if (!ctx) { fprintf(stderr, "mlp_create failed\n"); return 1; }
    int64_t batch = in->shape[0], total = digits.shape[0], correct = 0;
    float *input = calloc((size_t)batch * 64, sizeof(float));
    float *probabilities = calloc((size_t)batch * 10, sizeof(float));
    if (!input || !probabilities) { fprintf(stderr, "out of memory\n"); return 1; }

    for (int64_t start = 0; start < total; start += batch) {
        int64_t rows = total - start < batch ? total - start : batch;
        memcpy(input, (float *)digits.data + start * 64, (size_t)rows * 64 * sizeof(float));
        const void *inputs[1] = {input};
        void *outputs[1] = {probabilities};
        int status = mlp_run(ctx, inputs, outputs);
        if (status != 0) { fprintf(stderr, "mlp_run: %s\n", mlp_error_string(status)); return 1; }
        for (int64_t row = 0; row < rows; row++) {
            int best = 0;
            for (int k = 1; k < 10; k++) if (probabilities[row * 10 + k] > probabilities[row * 10 + best]) best = k;
            if (labels.data) correct += best == ((int64_t *)labels.data)[start + row];
            if (start + row < 10) printf("digit %lld: %d (p = %.3f)\n", (long long)(start + row), best, probabilities[row * 10 + best]);
        }
    }
    if (labels.data) printf("accuracy: %lld/%lld = %.2f%%\n", (long long)correct, (long long)total, 100.0 * correct / total);
    mlp_destroy(ctx);
    free(input);
    free(probabilities);
    free(digits.data);
    free(labels.data);
    return 0;
}
