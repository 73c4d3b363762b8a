/* Benchmark harness for single 4096x4096 f32 MatMul layers: a STREAM-like read-bandwidth probe,
 * OpenBLAS sgemv/sgemm, and compiled Sieve artifacts (dlopen'ed), timed alternately; see bench/README.md. */

#define _GNU_SOURCE
#include <cblas.h>
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* OpenBLAS entry points that cblas.h declares only in some builds. */
extern void openblas_set_num_threads(int num_threads);
extern char *openblas_get_config(void);
extern char *openblas_get_corename(void);

enum { MAX_LIST = 8, MAX_ARTIFACTS = 8, MAX_CONTENDERS = 1 + MAX_ARTIFACTS };

/* The tensor description every artifact exports (issue 5's public C API). */
typedef struct {
    const char *name;
    int dtype;
    int rank;
    const int64_t *shape;
    size_t bytes;
} sieve_tensor_info;

typedef void *(*create_fn)(int num_threads);
typedef int (*run_fn)(void *ctx, const void *const *inputs, void *const *outputs);
typedef void (*destroy_fn)(void *ctx);
typedef const char *(*error_string_fn)(int code);

/* One compiled Sieve artifact given with --sieve LIB:NAME[:LABEL[:WEIGHTS]]. */
typedef struct {
    char path[1024], name[256], label[256], weights_path[1024];
    void *library;
    create_fn create;
    run_fn run;
    destroy_fn destroy;
    error_string_fn error_string;
    const sieve_tensor_info *inputs, *outputs;
    int batch, k, n;          /* from the input [batch, k] and output [batch, n] shapes */
    int whole_model;          /* not a single f32 [B, K] x [K, N] layer: timed as a whole model, unchecked */
    size_t input_count, output_count;
    void **input_buffers, **output_buffers;
    void *ctx;                /* created per thread count */
    int checked;              /* output matched OpenBLAS on the artifact's weights, or a whole model */
    double library_bytes;     /* size of the library file: its embedded weights plus a little code */
} artifact;

typedef struct {
    int threads[MAX_LIST], thread_count;
    int batches[MAX_LIST], batch_count;
    int cold[2], mode_count;  /* 1 = cold, 0 = hot, in the order given */
    int reps, calls, pause_ms, size;
    int stream, blas;
    size_t stream_bytes, evict_bytes;
    int evict_all;
    artifact artifacts[MAX_ARTIFACTS];
    int artifact_count;
} options;

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void pause_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {}
}

static void *allocate(size_t bytes) {
    size_t rounded = (bytes + 4095) / 4096 * 4096;
    void *memory = aligned_alloc(4096, rounded);
    if (!memory) {
        fprintf(stderr, "harness: error: cannot allocate %zu bytes\n", bytes);
        exit(1);
    }
    memset(memory, 0, rounded); /* fault every page in now, not inside a timed call */
    return memory;
}

static uint64_t random_state = 0x9e3779b97f4a7c15ull;
static float random_float(void) { /* uniform in [-1, 1), xorshift64* */
    random_state ^= random_state >> 12;
    random_state ^= random_state << 25;
    random_state ^= random_state >> 27;
    uint64_t bits = random_state * 0x2545f4914f6cdd1dull;
    return (float)((double)(bits >> 40) / (double)(1ull << 23)) - 1.0f;
}

/* ---- Reading memory: the bandwidth probe and the cache eviction share this loop ---- */

/* Reads every byte of [begin, begin + bytes) (bytes a multiple of 256) and returns a sum so the
 * compiler cannot drop the loads. */
static float read_all(const float *begin, size_t bytes) {
    size_t count = bytes / sizeof(float);
#if defined(__AVX512F__)
    __m512 a = _mm512_setzero_ps(), b = a, c = a, d = a;
    for (size_t i = 0; i + 64 <= count; i += 64) {
        a = _mm512_add_ps(a, _mm512_load_ps(begin + i));
        b = _mm512_add_ps(b, _mm512_load_ps(begin + i + 16));
        c = _mm512_add_ps(c, _mm512_load_ps(begin + i + 32));
        d = _mm512_add_ps(d, _mm512_load_ps(begin + i + 48));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)));
#elif defined(__AVX2__)
    __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
    for (size_t i = 0; i + 32 <= count; i += 32) {
        a = _mm256_add_ps(a, _mm256_load_ps(begin + i));
        b = _mm256_add_ps(b, _mm256_load_ps(begin + i + 8));
        c = _mm256_add_ps(c, _mm256_load_ps(begin + i + 16));
        d = _mm256_add_ps(d, _mm256_load_ps(begin + i + 24));
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
    return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
#else
    float sums[8] = {0};
    for (size_t i = 0; i + 8 <= count; i += 8)
        for (int j = 0; j < 8; j++) sums[j] += begin[i + j];
    return sums[0] + sums[1] + sums[2] + sums[3] + sums[4] + sums[5] + sums[6] + sums[7];
#endif
}

static volatile float sink;
static float *evict_buffer;
static size_t evict_bytes;
/* The CPUs whose caches a cold call's eviction reads through besides the caller's: every CPU of the process's affinity
 * mask at start (--evict-on all, the default), or none (--evict-on caller). */
enum { MAX_CPUS = 256 };
static int evict_cpus[MAX_CPUS], evict_cpu_count;

static void *evict_thread(void *unused) {
    (void)unused;
    volatile float sum = read_all(evict_buffer, evict_bytes);
    (void)sum;
    return NULL;
}

/* Pushes every layer's weights out of the caches, as the other layers of a model would. A read on the calling thread
 * alone is not enough: what another CPU read (a worker thread's share, or this thread's before the scheduler moved
 * it) stays in that CPU's L2 and, when the host places the two virtual CPUs under different L3s, in its L3, and the
 * next call reads it from there instead of DRAM. So when the call runs on more than one thread, while the caller reads
 * the buffer, a thread pinned to each other CPU of the process reads it too. One-thread calls read on the caller only:
 * helper threads before a call add tens of microseconds to ONNX Runtime's per-call code even on a 64x64 layer, which
 * is no part of reading weights. ONNX Runtime's peer (ort_common.Eviction) does exactly the same. */
static void evict_caches(int threads) {
    pthread_t ids[MAX_CPUS];
    int started = 0, here = sched_getcpu();
    for (int i = 0; threads > 1 && i < evict_cpu_count; i++) {
        if (evict_cpus[i] == here) continue;
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(evict_cpus[i], &set);
        pthread_attr_t attributes;
        if (pthread_attr_init(&attributes) != 0) continue;
        if (pthread_attr_setaffinity_np(&attributes, sizeof set, &set) == 0 &&
            pthread_create(&ids[started], &attributes, evict_thread, NULL) == 0)
            started++;
        pthread_attr_destroy(&attributes);
    }
    sink = read_all(evict_buffer, evict_bytes);
    for (int i = 0; i < started; i++) pthread_join(ids[i], NULL);
}

/* Fills evict_cpus from the affinity mask (--evict-on all); returns how many CPUs, 0 when the mask is unknown. */
static int find_evict_cpus(void) {
    cpu_set_t set;
    evict_cpu_count = 0;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && evict_cpu_count < MAX_CPUS; cpu++)
        if (CPU_ISSET(cpu, &set)) evict_cpus[evict_cpu_count++] = cpu;
    return evict_cpu_count;
}

typedef struct {
    const float *begin;
    size_t bytes;
    float result;
} read_job;

static void *read_thread(void *argument) {
    read_job *job = argument;
    job->result = read_all(job->begin, job->bytes);
    return NULL;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int count) {
    qsort(values, (size_t)count, sizeof(double), compare_doubles);
    return count % 2 ? values[count / 2] : 0.5 * (values[count / 2 - 1] + values[count / 2]);
}

static double percentile(double *sorted, int count, double fraction) {
    int index = (int)(fraction * (count - 1) + 0.5);
    return sorted[index];
}

/* ---- Where the two virtual CPUs sit: a cache-line round trip between CPU 0 and CPU 1 ---- */

static volatile long pingpong_flag __attribute__((aligned(64)));
static volatile int pingpong_ready;
enum { PINGPONG_TRIPS = 100000, PINGPONG_BATCH = 1000 };

static int pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *pingpong_partner(void *unused) {
    (void)unused;
    if (pin_to_cpu(1) != 0) { pingpong_ready = -1; return NULL; }
    pingpong_ready = 1;
    for (long i = 0; i < PINGPONG_TRIPS; i++) {
        while (pingpong_flag != 2 * i + 1) {}
        pingpong_flag = 2 * i + 2;
    }
    return NULL;
}

/* Nanoseconds for a cache line to go from CPU 0 to CPU 1 and back (the best batch of 1000, since other processes
 * only ever slow it down), or -1 when the threads cannot be pinned. On the project's 2-core virtual machines it is
 * either about 75 ns (both virtual CPUs under one L3) or about 300-350 ns (in different L3 domains of the host, a
 * placement that changes from minute to minute); in the second case every kernel of a model that reads what the
 * other thread wrote waits for the far L3, and whole-model 2-thread figures drop (the 2:4 int8 encoder: 2.5 ms near,
 * 4.2-4.4 ms far before the pool kept each thread on its own end of every loop, 3.4-3.5 ms far after; bench/RESULTS.md,
 * 2026-12-05 13:00). */
static double core_round_trip(void) {
    pthread_t partner;
    cpu_set_t original;
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || pthread_getaffinity_np(pthread_self(), sizeof original, &original) != 0) return -1;
    pingpong_flag = 0;
    pingpong_ready = 0;
    if (pthread_create(&partner, NULL, pingpong_partner, NULL) != 0) return -1;
    while (pingpong_ready == 0) sched_yield();
    double best = -1;
    if (pingpong_ready == 1) {
        /* The partner counts every trip, so they all run; they are timed only when both threads are pinned. */
        int pinned = pin_to_cpu(0) == 0;
        double start = 0;
        for (long i = 0; i < PINGPONG_TRIPS; i++) {
            if (i % PINGPONG_BATCH == 0) start = now_seconds();
            pingpong_flag = 2 * i + 1;
            while (pingpong_flag != 2 * i + 2) {}
            if (pinned && i % PINGPONG_BATCH == PINGPONG_BATCH - 1) {
                double trip = (now_seconds() - start) / PINGPONG_BATCH * 1e9;
                if (best < 0 || trip < best) best = trip;
            }
        }
    }
    pthread_join(partner, NULL);
    pthread_setaffinity_np(pthread_self(), sizeof original, &original);
    return best;
}

static void print_core_round_trip(const char *when) {
    double trip = core_round_trip();
    if (trip < 0) { printf("# CPU 0 <-> CPU 1 cache-line round trip %s: not measured (fewer than 2 CPUs or no pinning)\n", when); return; }
    printf("# CPU 0 <-> CPU 1 cache-line round trip %s: %.0f ns (%s)\n", when, trip,
           trip > 200 ? "far: the two CPUs share no L3 now; 2-thread figures of whole models drop"
                      : "near: one L3");
}

/* Read bandwidth in GB/s for `threads` threads each reading its share of one buffer: the best of reps,
 * as STREAM reports it, since other processes on a shared machine only ever slow a read down. */
static double stream_probe(const float *buffer, size_t bytes, int threads, int reps) {
    double rates[64];
    if (reps > 64) reps = 64;
    size_t share = bytes / (size_t)threads / 256 * 256;
    for (int rep = 0; rep < reps; rep++) {
        pthread_t ids[MAX_LIST];
        read_job jobs[MAX_LIST];
        double start = now_seconds();
        for (int t = 0; t < threads; t++) {
            jobs[t] = (read_job){buffer + share / sizeof(float) * (size_t)t, share, 0};
            pthread_create(&ids[t], NULL, read_thread, &jobs[t]);
        }
        float total = 0;
        for (int t = 0; t < threads; t++) {
            pthread_join(ids[t], NULL);
            total += jobs[t].result;
        }
        sink = total;
        rates[rep] = (double)(share * (size_t)threads) / (now_seconds() - start) / 1e9;
    }
    double best = 0;
    for (int rep = 0; rep < reps; rep++)
        if (rates[rep] > best) best = rates[rep];
    return best;
}

/* ---- Sieve artifacts ---- */

/* Number of elements of an exported array symbol, from its ELF symbol size; 0 if unknown. */
static size_t symbol_elements(const void *symbol, size_t element_bytes) {
    Dl_info info;
    const ElfW(Sym) *entry = NULL;
    if (!dladdr1(symbol, &info, (void **)&entry, RTLD_DL_SYMENT) || !entry) return 0;
    return (size_t)entry->st_size / element_bytes;
}

static void *symbol(artifact *a, const char *suffix) {
    char full[300];
    snprintf(full, sizeof full, "%s_%s", a->name, suffix);
    void *address = dlsym(a->library, full);
    if (!address) fprintf(stderr, "harness: %s: missing symbol %s\n", a->path, full);
    return address;
}

/* ONNX TensorProto's element-type code for f32, which the C backend's NAME_DTYPE_F32 also uses. */
enum { DTYPE_F32 = 1 };

/* Opens an artifact, allocates its inputs (f32 ones random, others zero, so that integer indices stay
 * in range) and outputs, and decides whether it is a single layer of size x size; 0 on success. */
static int open_artifact(artifact *a, int size) {
    a->library = dlopen(a->path, RTLD_NOW | RTLD_LOCAL);
    if (!a->library) {
        fprintf(stderr, "harness: cannot load %s: %s\n", a->path, dlerror());
        return 1;
    }
    a->create = (create_fn)symbol(a, "create");
    a->run = (run_fn)symbol(a, "run");
    a->destroy = (destroy_fn)symbol(a, "destroy");
    a->error_string = (error_string_fn)symbol(a, "error_string");
    a->inputs = symbol(a, "inputs");
    a->outputs = symbol(a, "outputs");
    if (!a->create || !a->run || !a->destroy || !a->error_string || !a->inputs || !a->outputs) return 1;
    /* The counts are macros in NAME.h; the exported arrays' ELF sizes give them here. */
    a->input_count = symbol_elements(a->inputs, sizeof(sieve_tensor_info));
    a->output_count = symbol_elements(a->outputs, sizeof(sieve_tensor_info));
    if (a->input_count == 0) a->input_count = 1;
    if (a->output_count == 0) a->output_count = 1;
    a->input_buffers = calloc(a->input_count, sizeof(void *));
    a->output_buffers = calloc(a->output_count, sizeof(void *));
    if (!a->input_buffers || !a->output_buffers) return 1;
    for (size_t i = 0; i < a->input_count; i++) {
        const sieve_tensor_info *info = &a->inputs[i];
        a->input_buffers[i] = allocate(info->bytes ? info->bytes : 1);
        if (info->dtype == DTYPE_F32)
            for (size_t j = 0; j < info->bytes / sizeof(float); j++) ((float *)a->input_buffers[i])[j] = random_float();
    }
    for (size_t i = 0; i < a->output_count; i++)
        a->output_buffers[i] = allocate(a->outputs[i].bytes ? a->outputs[i].bytes : 1);
    const sieve_tensor_info *in = a->inputs, *out = a->outputs;
    a->whole_model = !(a->input_count == 1 && a->output_count == 1 && in->rank == 2 && out->rank == 2 &&
                       in->dtype == DTYPE_F32 && out->dtype == DTYPE_F32 && in->shape[0] == out->shape[0] &&
                       in->shape[1] == size && out->shape[1] == size &&
                       in->bytes == (size_t)(in->shape[0] * in->shape[1]) * sizeof(float) &&
                       out->bytes == (size_t)(out->shape[0] * out->shape[1]) * sizeof(float));
    if (a->whole_model) {
        printf("# %s: not a single f32 [B, %d] x [%d, %d] layer; timed as a whole model (row 'model'), "
               "output unchecked\n", a->label, size, size, size);
        a->checked = 1;
        a->batch = 0;
        return 0;
    }
    struct stat status;
    a->library_bytes = stat(a->path, &status) == 0 ? (double)status.st_size : 0;
    if (a->library_bytes < (double)(1 << 20)) a->library_bytes = 0; /* weights not embedded: unknown */
    a->batch = (int)in->shape[0];
    a->k = (int)in->shape[1];
    a->n = (int)out->shape[1];
    return 0;
}

/* ---- Contenders ---- */

typedef struct {
    const float *weights;     /* [k, n] row-major, the ONNX MatMul layout */
    const float *input;       /* [batch, k] */
    float *output;            /* [batch, n] */
    int batch, k, n;
} layer;

/* OpenBLAS on W[k][n] row-major: the faster of the two layouts on this machine (sgemv 'T' on
 * [k][n] beat 'N' on [n][k] by about 15% at one thread; sgemm NN likewise beat NT). */
static void openblas_call(const layer *l) {
    if (l->batch == 1)
        cblas_sgemv(CblasRowMajor, CblasTrans, l->k, l->n, 1.0f, l->weights, l->n, l->input, 1, 0.0f, l->output, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->batch, l->n, l->k, 1.0f, l->input, l->k,
                    l->weights, l->n, 0.0f, l->output, l->n);
}

static int artifact_call(artifact *a) {
    return a->run(a->ctx, (const void *const *)a->input_buffers, a->output_buffers);
}

/* Reads an f32 weights file of k*n values; NULL with a message if it does not fit. */
static float *read_weights(const char *path, int k, int n) {
    FILE *file = fopen(path, "rb");
    if (!file) {
        fprintf(stderr, "harness: cannot open weights %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t count = (size_t)k * (size_t)n;
    float *weights = allocate(count * sizeof(float));
    size_t got = fread(weights, sizeof(float), count, file);
    int extra = fgetc(file) != EOF;
    fclose(file);
    if (got != count || extra) {
        fprintf(stderr, "harness: %s holds %s than %d x %d f32 values\n", path, extra ? "more" : "fewer", k, n);
        free(weights);
        return NULL;
    }
    return weights;
}

/* Compares an artifact's output with OpenBLAS on the weights it was compiled from. */
static void check_artifact(artifact *a) {
    if (!a->weights_path[0]) {
        fprintf(stderr, "harness: note: %s: no weights file given, its output is not checked\n", a->label);
        a->checked = 1;
        return;
    }
    float *weights = read_weights(a->weights_path, a->k, a->n);
    if (!weights) return;
    const float *input = a->input_buffers[0];
    const float *got = a->output_buffers[0];
    float *expected = allocate((size_t)a->batch * (size_t)a->n * sizeof(float));
    layer l = {weights, input, expected, a->batch, a->k, a->n};
    openblas_call(&l);
    a->ctx = a->create(1);
    int code = a->ctx ? artifact_call(a) : -1;
    if (!a->ctx) {
        fprintf(stderr, "harness: %s: %s_create(1) returned NULL\n", a->label, a->name);
    } else if (code != 0) {
        fprintf(stderr, "harness: %s: %s_run failed: %s\n", a->label, a->name, a->error_string(code));
    } else {
        double worst = 0, scale = 0;
        for (size_t i = 0; i < (size_t)a->batch * (size_t)a->n; i++) {
            double difference = fabs((double)got[i] - (double)expected[i]);
            if (!(difference <= worst)) worst = difference; /* also catches NaN */
            if (fabs((double)expected[i]) > scale) scale = fabs((double)expected[i]);
        }
        if (worst <= 1e-4 * scale) {
            a->checked = 1;
        } else {
            fprintf(stderr, "harness: %s: output differs from OpenBLAS on %s by up to %g (largest output %g); "
                            "not timing it\n", a->label, a->weights_path, worst, scale);
        }
    }
    if (a->ctx) a->destroy(a->ctx);
    a->ctx = NULL;
    free(weights);
    free(expected);
}

/* ---- Command line ---- */

static void usage(FILE *to) {
    fprintf(to,
        "usage: harness [options]\n"
        "  --threads LIST      thread counts, default 1,2\n"
        "  --batch LIST        batch sizes for OpenBLAS (1 = sgemv, more = sgemm), default 1,32\n"
        "  --mode LIST         cold and/or hot, default cold,hot\n"
        "  --reps N            repetitions; every contender runs once per repetition, alternating (default 5)\n"
        "  --calls N           timed calls per contender and repetition (default 10)\n"
        "  --pause-ms N        pause before each contender so other thread pools stop spinning (default 200)\n"
        "  --size N            K = N of the layer (default 4096)\n"
        "  --evict-mib N       buffer read between cold calls (default 64)\n"
        "  --evict-on WHERE    all: read it on the calling thread and, at 2+ threads, at once on every other CPU\n"
        "                      of the process, a pinned thread each (default);\n"
        "                      caller: on the calling thread only (the protocol before 2026-12-05 15:00)\n"
        "  --stream-mib N      bandwidth-probe buffer (default 512); --no-stream skips the probe\n"
        "  --sieve LIB:NAME[:LABEL[:WEIGHTS]]\n"
        "                      time a compiled Sieve artifact (repeatable): LIB is libNAME.so, LABEL names\n"
        "                      it in the table, WEIGHTS is the f32 [K][N] file the model's weights came from\n"
        "                      (its output is checked against OpenBLAS before timing)\n"
        "                      An artifact that is not one f32 [B, K] x [K, N] layer of --size is timed as a\n"
        "                      whole model (row batch 'model'): f32 inputs random, others zero, unchecked\n"
        "  --no-blas           do not time OpenBLAS\n"
        "  --raw               also print every sample as 'SAMPLE contender batch threads mode seconds'\n");
}

static int parse_list(const char *text, int *values, int capacity) {
    int count = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long value = strtol(p, &end, 10);
        if (end == p || value <= 0 || value > 4096 || count == capacity) return -1;
        values[count++] = (int)value;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return count;
}

static int parse_positive(const char *text, int *value) {
    char *end;
    long parsed = strtol(text, &end, 10);
    if (end == text || *end || parsed <= 0 || parsed > 1 << 20) return 1;
    *value = (int)parsed;
    return 0;
}

static int raw_samples;

/* Copies prefix + text into a buffer of `capacity` bytes; nonzero if it does not fit. */
static int copy_text(char *destination, size_t capacity, const char *prefix, const char *text) {
    size_t prefix_length = strlen(prefix), length = strlen(text);
    if (prefix_length + length >= capacity) return 1;
    memcpy(destination, prefix, prefix_length);
    memcpy(destination + prefix_length, text, length + 1);
    return 0;
}

static int parse_options(int argc, char **argv, options *o) {
    *o = (options){.threads = {1, 2}, .thread_count = 2, .batches = {1, 32}, .batch_count = 2,
                   .cold = {1, 0}, .mode_count = 2, .reps = 5, .calls = 10, .pause_ms = 200, .size = 4096,
                   .stream = 1, .blas = 1, .stream_bytes = (size_t)512 << 20, .evict_bytes = (size_t)64 << 20, .evict_all = 1};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        int number = 0;
        if (!strcmp(flag, "--help") || !strcmp(flag, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(flag, "--no-stream")) {
            o->stream = 0;
            continue;
        } else if (!strcmp(flag, "--no-blas")) {
            o->blas = 0;
            continue;
        } else if (!strcmp(flag, "--raw")) {
            raw_samples = 1;
            continue;
        }
        if (!value) {
            fprintf(stderr, "harness: error: unknown option or missing value: %s\n", flag);
            return 1;
        }
        i++;
        if (!strcmp(flag, "--threads")) {
            if ((o->thread_count = parse_list(value, o->threads, MAX_LIST)) <= 0) goto bad;
        } else if (!strcmp(flag, "--batch")) {
            if ((o->batch_count = parse_list(value, o->batches, MAX_LIST)) <= 0) goto bad;
        } else if (!strcmp(flag, "--mode")) {
            o->mode_count = 0;
            char copy[64];
            snprintf(copy, sizeof copy, "%s", value);
            for (char *word = strtok(copy, ","); word; word = strtok(NULL, ",")) {
                if (o->mode_count == 2 || (strcmp(word, "cold") && strcmp(word, "hot"))) goto bad;
                o->cold[o->mode_count++] = !strcmp(word, "cold");
            }
            if (o->mode_count == 0) goto bad;
        } else if (!strcmp(flag, "--reps")) {
            if (parse_positive(value, &o->reps)) goto bad;
        } else if (!strcmp(flag, "--calls")) {
            if (parse_positive(value, &o->calls)) goto bad;
        } else if (!strcmp(flag, "--pause-ms")) {
            if (parse_positive(value, &o->pause_ms)) goto bad;
        } else if (!strcmp(flag, "--size")) {
            if (parse_positive(value, &o->size) || o->size % 64) goto bad;
        } else if (!strcmp(flag, "--evict-mib")) {
            if (parse_positive(value, &number)) goto bad;
            o->evict_bytes = (size_t)number << 20;
        } else if (!strcmp(flag, "--evict-on")) {
            if (strcmp(value, "all") && strcmp(value, "caller")) goto bad;
            o->evict_all = !strcmp(value, "all");
        } else if (!strcmp(flag, "--stream-mib")) {
            if (parse_positive(value, &number)) goto bad;
            o->stream_bytes = (size_t)number << 20;
        } else if (!strcmp(flag, "--sieve")) {
            if (o->artifact_count == MAX_ARTIFACTS) goto bad;
            artifact *a = &o->artifacts[o->artifact_count++];
            char copy[2600];
            snprintf(copy, sizeof copy, "%s", value);
            char *fields[4] = {0};
            char *rest = copy;
            for (int f = 0; f < 4 && rest; f++) fields[f] = strsep(&rest, ":");
            if (!fields[1] || !*fields[0] || !*fields[1] || rest) goto bad;
            int bare = !strchr(fields[0], '/'); /* dlopen searches the library path for bare names */
            if (copy_text(a->path, sizeof a->path, bare ? "./" : "", fields[0]) ||
                copy_text(a->name, sizeof a->name, "", fields[1]) ||
                copy_text(a->label, sizeof a->label, "", fields[2] && *fields[2] ? fields[2] : fields[1]) ||
                copy_text(a->weights_path, sizeof a->weights_path, "", fields[3] ? fields[3] : ""))
                goto bad;
        } else {
            fprintf(stderr, "harness: error: unknown option %s (see --help)\n", flag);
            return 1;
        }
        continue;
    bad:
        fprintf(stderr, "harness: error: bad value for %s: '%s' (see --help)\n", flag, value);
        return 1;
    }
    return 0;
}

/* ---- Main loop ---- */

typedef struct {
    char label[256];
    int batch, threads, cold;
    double *samples;
    int count;
    double bytes; /* weight bytes per call, for the achieved-bandwidth column; 0 if unknown */
} result;

int main(int argc, char **argv) {
    options o;
    if (parse_options(argc, argv, &o)) return 1;
    setvbuf(stdout, NULL, _IOLBF, 0);

    const char *coretype = getenv("OPENBLAS_CORETYPE");
    printf("# OpenBLAS: %s; core %s; OPENBLAS_CORETYPE=%s\n", openblas_get_config(), openblas_get_corename(),
           coretype ? coretype : "(unset)");
    FILE *load = fopen("/proc/loadavg", "r");
    char load_text[128] = "unknown";
    if (load) {
        if (!fgets(load_text, sizeof load_text, load)) snprintf(load_text, sizeof load_text, "unknown");
        load_text[strcspn(load_text, "\n")] = 0;
        fclose(load);
    }
    printf("# load average at start: %s (other processes share these cores; figures drift)\n", load_text);
    if (o.evict_all && find_evict_cpus() == 0) printf("# affinity mask unknown: the eviction runs on the calling thread only\n");
    char evict_where[96] = "on the calling thread";
    if (evict_cpu_count > 0) {
        int at = snprintf(evict_where, sizeof evict_where, "on the caller (2+ threads: at once on CPUs");
        for (int i = 0; i < evict_cpu_count && at < (int)sizeof evict_where - 8; i++)
            at += snprintf(evict_where + at, sizeof evict_where - (size_t)at, "%s%d", i ? "," : " ", evict_cpus[i]);
        snprintf(evict_where + at, sizeof evict_where - (size_t)at, ")");
    }
    printf("# layer %dx%d f32, %d repetitions x %d calls, cold = %zu MiB read %s between calls, pause %d ms\n",
           o.size, o.size, o.reps, o.calls, o.evict_bytes >> 20, evict_where, o.pause_ms);
    print_core_round_trip("at start");

    int open_artifacts = 0;
    for (int i = 0; i < o.artifact_count; i++) {
        artifact *a = &o.artifacts[i];
        if (open_artifact(a, o.size) == 0) {
            if (!a->whole_model) check_artifact(a);
            if (a->checked) open_artifacts++;
        }
    }
    if (o.artifact_count == 0) printf("# no Sieve artifact given (--sieve LIB:NAME): timing OpenBLAS only\n");

    double stream_rates[MAX_LIST] = {0};
    if (o.stream) {
        float *buffer = allocate(o.stream_bytes);
        for (size_t i = 0; i < o.stream_bytes / sizeof(float); i += 1024) buffer[i] = 1.0f;
        for (int t = 0; t < o.thread_count; t++) {
            stream_rates[t] = stream_probe(buffer, o.stream_bytes, o.threads[t], 7);
            printf("RESULT\tstream-read\t-\t%d\tcold\t%.6f\t%.3f\n", o.threads[t],
                   (double)o.stream_bytes / stream_rates[t] / 1e9, stream_rates[t]);
        }
        free(buffer);
    }

    evict_bytes = o.evict_bytes;
    evict_buffer = allocate(evict_bytes);
    for (size_t i = 0; i < evict_bytes / sizeof(float); i++) evict_buffer[i] = 1.0f;

    int size = o.size, max_batch = 1;
    for (int b = 0; b < o.batch_count; b++)
        if (o.batches[b] > max_batch) max_batch = o.batches[b];
    for (int i = 0; i < o.artifact_count; i++)
        if (o.artifacts[i].checked && o.artifacts[i].batch > max_batch) max_batch = o.artifacts[i].batch;
    float *weights = allocate((size_t)size * (size_t)size * sizeof(float));
    for (size_t i = 0; i < (size_t)size * (size_t)size; i++) weights[i] = random_float();
    float *input = allocate((size_t)max_batch * (size_t)size * sizeof(float));
    for (size_t i = 0; i < (size_t)max_batch * (size_t)size; i++) input[i] = random_float();
    float *output = allocate((size_t)max_batch * (size_t)size * sizeof(float));

    /* Artifacts of one batch must have distinct labels, or their samples (and sizes) would merge into one row. */
    for (int i = 0; i < o.artifact_count; i++)
        for (int j = 0; j < i; j++)
            if (o.artifacts[i].batch == o.artifacts[j].batch && !strcmp(o.artifacts[i].label, o.artifacts[j].label) &&
                o.artifacts[i].checked && o.artifacts[j].checked) {
                fprintf(stderr, "harness: error: %s and %s are both labelled '%s' at batch %d; give them distinct labels "
                        "(--sieve LIB:NAME:LABEL)\n", o.artifacts[j].path, o.artifacts[i].path, o.artifacts[i].label, o.artifacts[i].batch);
                return 1;
            }
    /* The batches to run: those asked for plus every artifact's own batch. */
    int batches[MAX_LIST + MAX_ARTIFACTS], batch_total = 0;
    for (int b = 0; b < o.batch_count; b++) batches[batch_total++] = o.batches[b];
    for (int i = 0; i < o.artifact_count; i++) {
        if (!o.artifacts[i].checked) continue;
        int seen = 0; /* batch 0 is the row group of whole models */
        for (int b = 0; b < batch_total; b++) seen |= batches[b] == o.artifacts[i].batch;
        if (!seen) batches[batch_total++] = o.artifacts[i].batch;
    }

    result *results = calloc((size_t)(o.thread_count * batch_total * 2 * MAX_CONTENDERS), sizeof(result));
    int result_count = 0;
    if (!results) return 1;

    for (int t = 0; t < o.thread_count; t++) {
        int threads = o.threads[t];
        openblas_set_num_threads(threads);
        for (int i = 0; i < o.artifact_count; i++) {
            artifact *a = &o.artifacts[i];
            if (!a->checked) continue;
            a->ctx = a->create(threads);
            if (!a->ctx) fprintf(stderr, "harness: %s: %s_create(%d) returned NULL; skipping\n", a->label, a->name, threads);
        }
        for (int b = 0; b < batch_total; b++) {
            int batch = batches[b];
            for (int m = 0; m < o.mode_count; m++) {
                int cold = o.cold[m];
                /* Contender 0 is OpenBLAS; 1 + i is artifact i when it matches this batch. */
                result *slots[MAX_CONTENDERS] = {0};
                for (int c = 0; c < 1 + o.artifact_count; c++) {
                    if (c > 0) {
                        artifact *a = &o.artifacts[c - 1];
                        if (!a->ctx || a->batch != batch) continue;
                    } else if (batch == 0 || !o.blas) {
                        continue;
                    }
                    result *r = &results[result_count++];
                    snprintf(r->label, sizeof r->label, "%s",
                             c == 0 ? (batch == 1 ? "openblas-sgemv" : "openblas-sgemm") : o.artifacts[c - 1].label);
                    r->batch = batch;
                    r->threads = threads;
                    r->cold = cold;
                    r->samples = calloc((size_t)(o.reps * o.calls), sizeof(double));
                    /* Bytes a batch-1 call must stream: the weights. An artifact's library size
                     * approximates its embedded (compressed) weights from above. */
                    r->bytes = c == 0 ? (double)size * size * sizeof(float) : o.artifacts[c - 1].library_bytes;
                    if (!r->samples) return 1;
                    slots[c] = r;
                }
                for (int rep = 0; rep < o.reps; rep++) {
                    for (int c = 0; c < 1 + o.artifact_count; c++) {
                        result *r = slots[c];
                        if (!r) continue;
                        artifact *a = c > 0 ? &o.artifacts[c - 1] : NULL;
                        layer l = {weights, input, output, batch, size, size};
                        pause_ms(o.pause_ms);
                        if (!cold) { /* warm up: weights into the caches, thread pools awake */
                            if (a) artifact_call(a); else openblas_call(&l);
                        }
                        for (int call = 0; call < o.calls; call++) {
                            if (cold) evict_caches(threads);
                            double start = now_seconds();
                            int code = a ? artifact_call(a) : (openblas_call(&l), 0);
                            double elapsed = now_seconds() - start;
                            if (code != 0) {
                                fprintf(stderr, "harness: %s: %s_run failed: %s\n", a->label, a->name, a->error_string(code));
                                return 1;
                            }
                            r->samples[r->count++] = elapsed;
                            if (raw_samples)
                                printf("SAMPLE\t%s\t%d\t%d\t%s\t%.9f\n", r->label, batch, threads, cold ? "cold" : "hot", elapsed);
                        }
                    }
                }
            }
        }
        for (int i = 0; i < o.artifact_count; i++) {
            artifact *a = &o.artifacts[i];
            if (a->ctx) a->destroy(a->ctx);
            a->ctx = NULL;
        }
    }

    /* Results: machine-readable RESULT lines (for bench/run.sh), then a table with ratios to OpenBLAS. */
    double medians[MAX_LIST * (MAX_LIST + MAX_ARTIFACTS) * 2 * MAX_CONTENDERS];
    for (int i = 0; i < result_count; i++) {
        result *r = &results[i];
        medians[i] = median(r->samples, r->count); /* also sorts the samples for the percentiles */
        char rate[32] = "-";
        if (r->bytes > 0) snprintf(rate, sizeof rate, "%.3f", r->bytes / medians[i] / 1e9);
        printf("RESULT\t%s\t%d\t%d\t%s\t%.6f\t%s\n", r->label, r->batch, r->threads, r->cold ? "cold" : "hot",
               medians[i], rate);
        /* Per label and batch: one label may name artifacts of different batches (and library sizes). */
        if (r->bytes > 0) printf("BYTES\t%s\t%d\t%.0f\n", r->label, r->batch, r->bytes);
    }
    printf("\n%-24s %5s %7s %4s %10s %10s %10s %8s %9s\n", "contender", "batch", "threads", "mode", "median ms",
           "p10 ms", "p90 ms", "GB/s", "vs BLAS");
    for (int i = 0; i < result_count; i++) {
        result *r = &results[i];
        double baseline = 0;
        for (int j = 0; j < result_count; j++)
            if (results[j].batch == r->batch && results[j].threads == r->threads && results[j].cold == r->cold &&
                !strncmp(results[j].label, "openblas", 8))
                baseline = medians[j];
        char rate[32] = "-";
        if (r->bytes > 0) snprintf(rate, sizeof rate, "%.1f", r->bytes / medians[i] / 1e9);
        char batch[16] = "model", ratio[32] = "-";
        if (r->batch > 0) snprintf(batch, sizeof batch, "%d", r->batch);
        if (baseline > 0) snprintf(ratio, sizeof ratio, "%.2fx", baseline / medians[i]);
        printf("%-24s %5s %7d %4s %10.3f %10.3f %10.3f %8s %9s\n", r->label, batch, r->threads,
               r->cold ? "cold" : "hot", medians[i] * 1e3, percentile(r->samples, r->count, 0.1) * 1e3,
               percentile(r->samples, r->count, 0.9) * 1e3, rate, ratio);
    }
    for (int t = 0; t < o.thread_count && o.stream; t++)
        printf("%-24s %5s %7d %4s %10.3f %10s %10s %8.1f %9s\n", "stream-read", "-", o.threads[t], "cold",
               (double)o.stream_bytes / stream_rates[t] / 1e6, "-", "-", stream_rates[t], "-");
    for (int i = 0; i < result_count; i++) free(results[i].samples);
    free(results);
    free(weights);
    free(input);
    free(output);
    print_core_round_trip("at end");
    free(evict_buffer);
    for (int i = 0; i < o.artifact_count; i++) {
        artifact *a = &o.artifacts[i];
        for (size_t j = 0; a->input_buffers && j < a->input_count; j++) free(a->input_buffers[j]);
        for (size_t j = 0; a->output_buffers && j < a->output_count; j++) free(a->output_buffers[j]);
        free(a->input_buffers);
        free(a->output_buffers);
        if (a->library) dlclose(a->library);
    }
    return open_artifacts == o.artifact_count ? 0 : 2;
}
