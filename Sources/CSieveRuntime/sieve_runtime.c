/* sieve_runtime.c: the thread pool and weights-file checks of the Sieve runtime.
 * Artifacts include this file with SIEVE_RUNTIME_API defined as static; the package builds it as a library for tests. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "sieve_runtime.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* The fields of `pool->work`: four chunk positions of 10 bits (SIEVE_POOL_FRONT ...) and the loop's generation
 * (its low 24 bits, above them). */
#define SIEVE_POOL_FIELD(work, field) ((int64_t)(((work) >> (10 * (field))) & 0x3ff))
#define SIEVE_POOL_FRONT 0 /* the caller's next chunk */
#define SIEVE_POOL_SPLIT 1 /* the end of the caller's part */
#define SIEVE_POOL_BACK 2  /* the workers' next chunk */
#define SIEVE_POOL_END 3   /* the end of the workers' part: the number of chunks */
#define SIEVE_POOL_GENERATION(work) ((uint32_t)((work) >> 40))
_Static_assert(SIEVE_MAX_THREADS * SIEVE_CHUNKS_PER_THREAD < 1024, "a chunk position must fit the 10 bits of its field");

/* Claims and runs chunks of loop `generation` until none is left to claim. The loop's chunks start cut in two: the
 * caller's first share [front, split) and the workers' rest [back, end). Each thread takes its own part's chunks in
 * ascending order, the caller then the workers' from `back` on, and a worker then the caller's from `split` down. A
 * claim moves one of those positions in `work` with a compare-and-swap that also checks the generation, so a thread
 * that comes late (woken late, or sharing its core on a busy machine) takes fewer chunks, or none once the loop is
 * over, and never one of a later loop. The loop's fields are read only after a claim: the loop cannot end (and the
 * caller cannot overwrite them for the next one) before the claimed chunk is finished. The fixed split keeps, loop
 * after loop, the same part of the data on the same core (the caller's the first rows or columns, the worker's the
 * last): when the host puts the two virtual CPUs under different L3 caches, the 2:4 int8 encoder ran 3.4-3.5 ms at 2
 * threads claiming from both ends against 4.1-4.2 ms with chunks taken in turn from one counter (bench/RESULTS.md,
 * 2026-12-05 13:00). Ascending claims within each part keep a kernel's prefetches useful: the blocked N:M product
 * fetches the weight rows of its next tile at the end of a tile, and a worker that claimed from the back and so
 * walked its tiles backwards lost them (the encoder's 2:4 FFN products took 634 instead of 376 us with their tiles
 * in descending order, 1 thread; bench/RESULTS.md, 2026-12-05 15:00). */
static void sieve_run_chunks(sieve_pool *pool, uint32_t generation, int from_front) {
    uint64_t work = __atomic_load_n(&pool->work, __ATOMIC_ACQUIRE);
    for (;;) {
        if (SIEVE_POOL_GENERATION(work) != generation) return;
        int64_t front = SIEVE_POOL_FIELD(work, SIEVE_POOL_FRONT), split = SIEVE_POOL_FIELD(work, SIEVE_POOL_SPLIT);
        int64_t back = SIEVE_POOL_FIELD(work, SIEVE_POOL_BACK), last = SIEVE_POOL_FIELD(work, SIEVE_POOL_END);
        int64_t chunk;
        uint64_t next;
        if (from_front ? front < split : back >= last) {
            if (front >= split) return;
            /* The caller's own next chunk, or (a worker) the last of the caller's part. */
            chunk = from_front ? front : split - 1;
            next = from_front ? work + ((uint64_t)1 << (10 * SIEVE_POOL_FRONT)) : work - ((uint64_t)1 << (10 * SIEVE_POOL_SPLIT));
        } else {
            if (back >= last) return;
            chunk = back;
            next = work + ((uint64_t)1 << (10 * SIEVE_POOL_BACK));
        }
        if (!__atomic_compare_exchange_n(&pool->work, &work, next, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) continue;
        int64_t count = pool->count, chunks = pool->chunks;
        int64_t begin = count * chunk / chunks, end = count * (chunk + 1) / chunks;
        if (begin < end) pool->task(pool->state, begin, end);
        /* The caller announces that it sleeps (`waiting`) before it checks `finished` again, and the last chunk is
         * counted before `waiting` is read: sequentially consistent, so one of the two sees the other. */
        if (__atomic_add_fetch(&pool->finished, 1, __ATOMIC_SEQ_CST) == chunks && __atomic_load_n(&pool->waiting, __ATOMIC_SEQ_CST)) {
            pthread_mutex_lock(&pool->mutex);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->mutex);
        }
        work = __atomic_load_n(&pool->work, __ATOMIC_ACQUIRE);
    }
}

/* One step of a bounded spin that started at `start`: pauses, and every 256 steps yields to any other runnable
 * thread and checks the clock. Returns 0 once SIEVE_POOL_SPIN_NS have passed (always 0 when spinning is off). */
static int sieve_spin_step(const struct timespec *start, unsigned step) {
#if SIEVE_POOL_SPIN_NS > 0
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (step % 256 != 0) return 1;
    sched_yield();
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000000000LL + (now.tv_nsec - start->tv_nsec) <= SIEVE_POOL_SPIN_NS;
#else
    (void)start; (void)step;
    return 0;
#endif
}

/* Spins (bounded) while the pool's generation is `seen` and it is not stopping. A worker that has just finished a
 * loop stays awake this long, so the next parallel loop (the next layer, or the next call) starts on every thread
 * at once instead of after a futex wake-up, which on a virtual machine can take longer than a memory-bound layer. */
static void sieve_spin_for_work(sieve_pool *pool, uint32_t seen) {
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (unsigned step = 1; SIEVE_POOL_GENERATION(__atomic_load_n(&pool->work, __ATOMIC_ACQUIRE)) == seen
                            && !__atomic_load_n(&pool->stopping, __ATOMIC_ACQUIRE) && sieve_spin_step(&start, step); step++) {}
}

/* A worker: waits for a loop (spinning, then asleep), claims chunks of it, and waits for the next. It takes the
 * mutex only to sleep: a thread that finds a mutex held sleeps in the kernel, and on a virtual machine waking it
 * (an interrupt to an idle virtual CPU) takes 5-30 us. A sleeper announces itself (`sleeping`) before it checks
 * the generation again, and the caller publishes a loop before it checks for sleepers: sequentially consistent, so
 * at least one of them sees the other's store. */
static void *sieve_worker_main(void *argument) {
    struct sieve_worker_slot *slot = (struct sieve_worker_slot *)argument;
    sieve_pool *pool = slot->pool;
    uint32_t seen = 0;
    for (;;) {
        sieve_spin_for_work(pool, seen);
        if (SIEVE_POOL_GENERATION(__atomic_load_n(&pool->work, __ATOMIC_SEQ_CST)) == seen && !__atomic_load_n(&pool->stopping, __ATOMIC_SEQ_CST)) {
            pthread_mutex_lock(&pool->mutex);
            __atomic_add_fetch(&pool->sleeping, 1, __ATOMIC_SEQ_CST);
            while (!__atomic_load_n(&pool->stopping, __ATOMIC_SEQ_CST)
                   && SIEVE_POOL_GENERATION(__atomic_load_n(&pool->work, __ATOMIC_SEQ_CST)) == seen)
                pthread_cond_wait(&pool->wake, &pool->mutex);
            __atomic_sub_fetch(&pool->sleeping, 1, __ATOMIC_SEQ_CST);
            pthread_mutex_unlock(&pool->mutex);
        }
        if (__atomic_load_n(&pool->stopping, __ATOMIC_SEQ_CST)) break;
        seen = SIEVE_POOL_GENERATION(__atomic_load_n(&pool->work, __ATOMIC_ACQUIRE));
        sieve_run_chunks(pool, seen, 0);
    }
    return NULL;
}

SIEVE_RUNTIME_API int sieve_pool_init(sieve_pool *pool, int threads) {
    memset(pool, 0, sizeof *pool);
    if (threads <= 0) threads = 1;
    if (threads > SIEVE_MAX_THREADS) threads = SIEVE_MAX_THREADS;
    pool->threads = threads;
    if (pthread_mutex_init(&pool->mutex, NULL) != 0) return SIEVE_ERROR_THREADS;
    if (pthread_cond_init(&pool->wake, NULL) != 0 || pthread_cond_init(&pool->done, NULL) != 0) return SIEVE_ERROR_THREADS;
    for (int index = 1; index < threads; index++) {
        pool->slots[index].pool = pool;
        pool->slots[index].index = index;
        if (pthread_create(&pool->workers[index], NULL, sieve_worker_main, &pool->slots[index]) != 0) {
            sieve_pool_destroy(pool);
            return SIEVE_ERROR_THREADS;
        }
        pool->started = index;
    }
    return SIEVE_OK;
}

SIEVE_RUNTIME_API void sieve_pool_run(sieve_pool *pool, sieve_task task, const void *state, int64_t count) {
    if (count <= 0) return;
    if (pool->threads <= 1 || count == 1) {
        task(state, 0, count);
        return;
    }
    /* Every chunk of the previous loop is finished, and a thread reads these fields only after claiming a chunk, so
     * no one reads them now; publishing `work` (release) makes them visible to the next claims. */
    int64_t chunks = count < (int64_t)pool->threads * SIEVE_CHUNKS_PER_THREAD ? count : (int64_t)pool->threads * SIEVE_CHUNKS_PER_THREAD;
    pool->task = task;
    pool->state = state;
    pool->count = count;
    pool->chunks = chunks;
    __atomic_store_n(&pool->finished, 0, __ATOMIC_RELAXED);
    uint32_t generation = ++pool->generation & 0xffffffu;
    /* The caller's part is its even share of the chunks, from the front; the workers' part is the rest. */
    uint64_t split = (uint64_t)(chunks / pool->threads);
    __atomic_store_n(&pool->work, ((uint64_t)generation << 40) | ((uint64_t)chunks << (10 * SIEVE_POOL_END))
                                      | (split << (10 * SIEVE_POOL_BACK)) | (split << (10 * SIEVE_POOL_SPLIT)), __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&pool->sleeping, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mutex);
    }
    sieve_run_chunks(pool, generation, 1);
    /* Wait for the chunks other threads claimed (none when they came too late for any). */
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (unsigned step = 1; __atomic_load_n(&pool->finished, __ATOMIC_ACQUIRE) < chunks && sieve_spin_step(&start, step); step++) {}
    if (__atomic_load_n(&pool->finished, __ATOMIC_ACQUIRE) < chunks) {
        pthread_mutex_lock(&pool->mutex);
        __atomic_store_n(&pool->waiting, 1, __ATOMIC_SEQ_CST);
        while (__atomic_load_n(&pool->finished, __ATOMIC_SEQ_CST) < chunks) pthread_cond_wait(&pool->done, &pool->mutex);
        __atomic_store_n(&pool->waiting, 0, __ATOMIC_SEQ_CST);
        pthread_mutex_unlock(&pool->mutex);
    }
}

SIEVE_RUNTIME_API void sieve_pool_destroy(sieve_pool *pool) {
    if (pool->threads == 0) return;
    pthread_mutex_lock(&pool->mutex);
    __atomic_store_n(&pool->stopping, 1, __ATOMIC_SEQ_CST);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (int index = 1; index <= pool->started; index++) pthread_join(pool->workers[index], NULL);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    pthread_mutex_destroy(&pool->mutex);
    pool->threads = 0;
    pool->started = 0;
}

SIEVE_RUNTIME_API uint64_t sieve_checksum(const uint8_t *data, size_t bytes) {
    uint64_t hash = 0xcbf29ce484222325ull;
    for (size_t index = 0; index < bytes; index++) {
        hash ^= data[index];
        hash *= 0x100000001b3ull;
    }
    return hash;
}

static uint64_t sieve_read_u64(const uint8_t *bytes) {
    uint64_t value = 0;
    for (int index = 7; index >= 0; index--) value = (value << 8) | bytes[index];
    return value;
}

SIEVE_RUNTIME_API int sieve_weights_check(const uint8_t *file, size_t file_bytes, uint64_t payload_bytes, uint64_t checksum) {
    if (file == NULL) return SIEVE_ERROR_NULL_ARGUMENT;
    if (file_bytes < SIEVE_WEIGHTS_HEADER_BYTES) return SIEVE_ERROR_WEIGHTS_CORRUPT;
    if (memcmp(file, SIEVE_WEIGHTS_MAGIC, 8) != 0) return SIEVE_ERROR_WEIGHTS_CORRUPT;
    uint32_t version = (uint32_t)file[8] | ((uint32_t)file[9] << 8) | ((uint32_t)file[10] << 16) | ((uint32_t)file[11] << 24);
    if (version != SIEVE_WEIGHTS_VERSION) return SIEVE_ERROR_WEIGHTS_CORRUPT;
    if (sieve_read_u64(file + 16) != payload_bytes) return SIEVE_ERROR_WEIGHTS_CORRUPT;
    if ((uint64_t)(file_bytes - SIEVE_WEIGHTS_HEADER_BYTES) != payload_bytes) return SIEVE_ERROR_WEIGHTS_CORRUPT;
    if (sieve_read_u64(file + 24) != checksum) return SIEVE_ERROR_WEIGHTS_CORRUPT;
    if (sieve_checksum(file + SIEVE_WEIGHTS_HEADER_BYTES, (size_t)payload_bytes) != checksum) return SIEVE_ERROR_WEIGHTS_CORRUPT;
    return SIEVE_OK;
}

SIEVE_RUNTIME_API int sieve_weights_load(const char *path, uint64_t payload_bytes, uint64_t checksum, uint8_t **payload, void **allocation) {
    *payload = NULL;
    *allocation = NULL;
    if (path == NULL) return SIEVE_ERROR_NULL_ARGUMENT;
    FILE *file = fopen(path, "rb");
    if (file == NULL) return SIEVE_ERROR_WEIGHTS_MISSING;
    size_t expected = (size_t)payload_bytes + SIEVE_WEIGHTS_HEADER_BYTES;
    /* One byte more than expected, so a longer file is caught without reading it all. */
    uint8_t *memory = NULL;
    if (posix_memalign((void **)&memory, 64, expected + 64) != 0 || memory == NULL) {
        fclose(file);
        return SIEVE_ERROR_OUT_OF_MEMORY;
    }
    size_t read = fread(memory, 1, expected + 1, file);
    fclose(file);
    if (read != expected) {
        free(memory);
        return SIEVE_ERROR_WEIGHTS_CORRUPT;
    }
    int status = sieve_weights_check(memory, read, payload_bytes, checksum);
    if (status != SIEVE_OK) {
        free(memory);
        return status;
    }
    /* Move the payload to the 64-byte aligned start so constant offsets keep their alignment. */
    memmove(memory, memory + SIEVE_WEIGHTS_HEADER_BYTES, (size_t)payload_bytes);
    *payload = memory;
    *allocation = memory;
    return SIEVE_OK;
}
