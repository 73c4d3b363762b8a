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

/* Runs chunks of the current loop until none is left. The loop is cut into SIEVE_CHUNKS_PER_THREAD contiguous
 * chunks per thread, claimed in order with an atomic counter, so a thread that starts late (woken late, or sharing
 * its core on a busy machine) takes fewer chunks instead of holding everyone up. */
static void sieve_run_chunks(sieve_pool *pool) {
    int64_t count = pool->count, chunks = pool->chunks;
    for (;;) {
        int64_t chunk = __atomic_fetch_add(&pool->next_chunk, 1, __ATOMIC_RELAXED);
        if (chunk >= chunks) return;
        int64_t begin = count * chunk / chunks, end = count * (chunk + 1) / chunks;
        if (begin < end) pool->task(pool->state, begin, end);
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
static void sieve_spin_for_work(sieve_pool *pool, uint64_t seen) {
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (unsigned step = 1; __atomic_load_n(&pool->generation, __ATOMIC_ACQUIRE) == seen
                            && !__atomic_load_n(&pool->stopping, __ATOMIC_ACQUIRE) && sieve_spin_step(&start, step); step++) {}
}

static void *sieve_worker_main(void *argument) {
    struct sieve_worker_slot *slot = (struct sieve_worker_slot *)argument;
    sieve_pool *pool = slot->pool;
    uint64_t seen = 0;
    for (;;) {
        sieve_spin_for_work(pool, seen);
        pthread_mutex_lock(&pool->mutex);
        while (!pool->stopping && pool->generation == seen) pthread_cond_wait(&pool->wake, &pool->mutex);
        if (pool->stopping) break;
        seen = pool->generation;
        pthread_mutex_unlock(&pool->mutex);
        sieve_run_chunks(pool);
        pthread_mutex_lock(&pool->mutex);
        if (__atomic_sub_fetch(&pool->pending, 1, __ATOMIC_RELEASE) == 0) pthread_cond_signal(&pool->done);
        pthread_mutex_unlock(&pool->mutex);
    }
    pthread_mutex_unlock(&pool->mutex);
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
    pthread_mutex_lock(&pool->mutex);
    pool->task = task;
    pool->state = state;
    pool->count = count;
    pool->chunks = count < (int64_t)pool->threads * SIEVE_CHUNKS_PER_THREAD ? count : (int64_t)pool->threads * SIEVE_CHUNKS_PER_THREAD;
    pool->next_chunk = 0;
    __atomic_store_n(&pool->pending, pool->threads - 1, __ATOMIC_RELAXED);
    __atomic_store_n(&pool->generation, pool->generation + 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    sieve_run_chunks(pool);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (unsigned step = 1; __atomic_load_n(&pool->pending, __ATOMIC_ACQUIRE) > 0 && sieve_spin_step(&start, step); step++) {}
    pthread_mutex_lock(&pool->mutex);
    while (pool->pending > 0) pthread_cond_wait(&pool->done, &pool->mutex);
    pthread_mutex_unlock(&pool->mutex);
}

SIEVE_RUNTIME_API void sieve_pool_destroy(sieve_pool *pool) {
    if (pool->threads == 0) return;
    pthread_mutex_lock(&pool->mutex);
    __atomic_store_n(&pool->stopping, 1, __ATOMIC_RELEASE);
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
