/* Links two compiled models into one program and runs them side by side, then concurrently: one thread per
 * model, each running its own model on its own context repeatedly and checking every run agrees bit for bit with
 * the first. Built with -DMODEL_A=name -DMODEL_B=name against both artifacts (static or shared libraries).
 * Usage: two_models A_INPUT_0 ... B_INPUT_0 ... OUTPUT_FOLDER (raw little-endian inputs, one file per input,
 * in each model's input order); writes OUTPUT_FOLDER/A.out0 ... as raw bytes. Exits non-zero on any problem. */

#define STRINGIFY2(x) #x
#define STRINGIFY(x) STRINGIFY2(x)
#define JOIN2(a, b) a##b
#define JOIN(a, b) JOIN2(a, b)
#define A(suffix) JOIN(MODEL_A, suffix)
#define B(suffix) JOIN(MODEL_B, suffix)

#include STRINGIFY(MODEL_A.h)
#include STRINGIFY(MODEL_B.h)

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RUNS_PER_THREAD = 25, MAX_TENSORS = 16 };

/* What one model needs to run: its tables, entry points, inputs and the first run's outputs. */
struct model {
    const char *name;
    int num_inputs, num_outputs;
    const size_t *input_bytes, *output_bytes;
    void *(*create)(int);
    int (*run)(void *, const void *const *, void *const *);
    void (*destroy)(void *);
    void *inputs[MAX_TENSORS];
    void *expected[MAX_TENSORS];
    int failures;
};

static size_t a_input_bytes[A(_NUM_INPUTS)], a_output_bytes[A(_NUM_OUTPUTS)];
static size_t b_input_bytes[B(_NUM_INPUTS)], b_output_bytes[B(_NUM_OUTPUTS)];

/* Adapters from each model's typed entry points to the untyped ones `struct model` holds. */
static void *a_create(int threads) { return A(_create)(threads); }
static int a_run(void *ctx, const void *const *in, void *const *out) { return A(_run)(ctx, in, out); }
static void a_destroy(void *ctx) { A(_destroy)(ctx); }
static void *b_create(int threads) { return B(_create)(threads); }
static int b_run(void *ctx, const void *const *in, void *const *out) { return B(_run)(ctx, in, out); }
static void b_destroy(void *ctx) { B(_destroy)(ctx); }

static int read_file(const char *path, void *into, size_t bytes) {
    FILE *file = fopen(path, "rb");
    if (!file) return 0;
    size_t got = fread(into, 1, bytes, file);
    int extra = fgetc(file);
    fclose(file);
    return got == bytes && extra == EOF;
}

static int write_file(const char *folder, const char *name, int index, const void *data, size_t bytes) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.out%d", folder, name, index);
    FILE *file = fopen(path, "wb");
    if (!file) return 0;
    size_t put = fwrite(data, 1, bytes, file);
    return fclose(file) == 0 && put == bytes;
}

/* Runs a model once on a fresh context with `threads` threads into `outputs`; returns the status. */
static int run_once(struct model *m, int threads, void **outputs) {
    void *ctx = m->create(threads);
    if (!ctx) return -1;
    int status = m->run(ctx, (const void *const *)m->inputs, (void *const *)outputs);
    m->destroy(ctx);
    return status;
}

/* A thread's work: one context, RUNS_PER_THREAD runs, each compared with the first run's outputs. */
static void *run_repeatedly(void *argument) {
    struct model *m = argument;
    void *outputs[MAX_TENSORS];
    for (int o = 0; o < m->num_outputs; o++) outputs[o] = malloc(m->output_bytes[o]);
    void *ctx = m->create(2);
    if (!ctx) {
        m->failures++;
    } else {
        for (int r = 0; r < RUNS_PER_THREAD; r++) {
            if (m->run(ctx, (const void *const *)m->inputs, (void *const *)outputs) != 0) { m->failures++; continue; }
            for (int o = 0; o < m->num_outputs; o++) {
                if (memcmp(outputs[o], m->expected[o], m->output_bytes[o]) != 0) m->failures++;
            }
        }
        m->destroy(ctx);
    }
    for (int o = 0; o < m->num_outputs; o++) free(outputs[o]);
    return NULL;
}

int main(int argc, char **argv) {
    for (int i = 0; i < A(_NUM_INPUTS); i++) a_input_bytes[i] = A(_inputs)[i].bytes;
    for (int o = 0; o < A(_NUM_OUTPUTS); o++) a_output_bytes[o] = A(_outputs)[o].bytes;
    for (int i = 0; i < B(_NUM_INPUTS); i++) b_input_bytes[i] = B(_inputs)[i].bytes;
    for (int o = 0; o < B(_NUM_OUTPUTS); o++) b_output_bytes[o] = B(_outputs)[o].bytes;
    struct model models[2] = {
        {STRINGIFY(MODEL_A), A(_NUM_INPUTS), A(_NUM_OUTPUTS), a_input_bytes, a_output_bytes, a_create, a_run, a_destroy, {0}, {0}, 0},
        {STRINGIFY(MODEL_B), B(_NUM_INPUTS), B(_NUM_OUTPUTS), b_input_bytes, b_output_bytes, b_create, b_run, b_destroy, {0}, {0}, 0},
    };
    if (A(_NUM_INPUTS) > MAX_TENSORS || B(_NUM_INPUTS) > MAX_TENSORS || A(_NUM_OUTPUTS) > MAX_TENSORS || B(_NUM_OUTPUTS) > MAX_TENSORS) {
        fprintf(stderr, "too many tensors\n");
        return 2;
    }
    if (argc != 2 + A(_NUM_INPUTS) + B(_NUM_INPUTS)) {
        fprintf(stderr, "usage: %s A_INPUTS... B_INPUTS... OUTPUT_FOLDER\n", argv[0]);
        return 2;
    }
    int argument = 1;
    for (int k = 0; k < 2; k++) {
        struct model *m = &models[k];
        for (int i = 0; i < m->num_inputs; i++, argument++) {
            m->inputs[i] = malloc(m->input_bytes[i] ? m->input_bytes[i] : 1);
            if (!m->inputs[i] || !read_file(argv[argument], m->inputs[i], m->input_bytes[i])) {
                fprintf(stderr, "%s: cannot read %zu bytes from %s\n", m->name, m->input_bytes[i], argv[argument]);
                return 1;
            }
        }
        for (int o = 0; o < m->num_outputs; o++) m->expected[o] = malloc(m->output_bytes[o] ? m->output_bytes[o] : 1);
    }
    const char *folder = argv[argument];

    /* Side by side: each model once, one after the other, in one process. */
    for (int k = 0; k < 2; k++) {
        int status = run_once(&models[k], 1, models[k].expected);
        if (status != 0) {
            fprintf(stderr, "%s: run failed with status %d\n", models[k].name, status);
            return 1;
        }
        for (int o = 0; o < models[k].num_outputs; o++) {
            if (!write_file(folder, models[k].name, o, models[k].expected[o], models[k].output_bytes[o])) {
                fprintf(stderr, "%s: cannot write output %d\n", models[k].name, o);
                return 1;
            }
        }
    }

    /* Concurrently: one thread per model, each with its own two-thread context. */
    pthread_t threads[2];
    for (int k = 0; k < 2; k++) {
        if (pthread_create(&threads[k], NULL, run_repeatedly, &models[k]) != 0) {
            fprintf(stderr, "cannot start a thread\n");
            return 1;
        }
    }
    for (int k = 0; k < 2; k++) pthread_join(threads[k], NULL);
    int failures = 0;
    for (int k = 0; k < 2; k++) {
        if (models[k].failures) fprintf(stderr, "%s: %d concurrent runs failed or differed\n", models[k].name, models[k].failures);
        failures += models[k].failures;
        for (int i = 0; i < models[k].num_inputs; i++) free(models[k].inputs[i]);
        for (int o = 0; o < models[k].num_outputs; o++) free(models[k].expected[o]);
    }
    if (failures) return 1;
    printf("ok\n");
    return 0;
}
