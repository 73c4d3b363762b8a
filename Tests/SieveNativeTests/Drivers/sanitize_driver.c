/* Runs any compiled model under AddressSanitizer and UndefinedBehaviorSanitizer: fills every input
 * with deterministic values, runs twice on two threads, checks both runs agree bit for bit.
 * Built with -DMODEL=name -DMODEL_HEADER='"name.h"' against name.c; exits non-zero on any problem. */

#include MODEL_HEADER

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOIN2(a, b) a##b
#define JOIN(a, b) JOIN2(a, b)
#define SYMBOL(suffix) JOIN(MODEL, suffix)

int main(void) {
    const SYMBOL(_tensor_info) *inputs = SYMBOL(_inputs), *outputs = SYMBOL(_outputs);
    void *in[SYMBOL(_NUM_INPUTS) + 1], *first[SYMBOL(_NUM_OUTPUTS)], *second[SYMBOL(_NUM_OUTPUTS)];
    for (int i = 0; i < SYMBOL(_NUM_INPUTS); i++) {
        unsigned char *bytes = malloc(inputs[i].bytes + 1);
        if (!bytes) return 2;
        if (inputs[i].dtype == SYMBOL(_DTYPE_F32)) {
            for (size_t k = 0; k < inputs[i].bytes / 4; k++) ((float *)bytes)[k] = (float)((int)(k * 7919 % 17) - 8) / 8.0f;
        } else {
            memset(bytes, 0, inputs[i].bytes);
        }
        in[i] = bytes;
    }
    for (int o = 0; o < SYMBOL(_NUM_OUTPUTS); o++) {
        first[o] = malloc(outputs[o].bytes + 1);
        second[o] = malloc(outputs[o].bytes + 1);
        if (!first[o] || !second[o]) return 2;
    }
    SYMBOL(_ctx) *ctx = SYMBOL(_create)(2);
    if (!ctx) { fprintf(stderr, "create failed\n"); return 1; }
    int status = SYMBOL(_run)(ctx, (const void *const *)in, first);
    if (status == 0) status = SYMBOL(_run)(ctx, (const void *const *)in, second);
    SYMBOL(_destroy)(ctx);
    if (status != 0) { fprintf(stderr, "run failed: %s\n", SYMBOL(_error_string)(status)); return 1; }
    for (int o = 0; o < SYMBOL(_NUM_OUTPUTS); o++) {
        if (memcmp(first[o], second[o], outputs[o].bytes) != 0) { fprintf(stderr, "output %d differs between runs\n", o); return 1; }
        free(first[o]);
        free(second[o]);
    }
    for (int i = 0; i < SYMBOL(_NUM_INPUTS); i++) free(in[i]);
    printf("ok\n");
    return 0;
}
