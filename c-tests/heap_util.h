/* heap_util.h - helpers the heap tests share: expected sizes, where a block lives, fault-safe
 * 64-bit patterns and an overlap check. Include after check.h. */
#ifndef COREDLL_HEAP_UTIL_H
#define COREDLL_HEAP_UTIL_H

#define ONE_GB 0x40000000u
#define FOUR_GB 0x100000000ull

/* HeapSize of a block asked for n bytes: n rounded up to 8, 0 counts as 1. */
static inline DWORD r8(DWORD n) { return n == 0 ? 8u : (DWORD)(((uint64_t)n + 7) & ~7ull); }

/* 16-byte aligned, below 4 GB (whole block) and inside the emulated address space (window 0,
 * or ce5's large-memory area, window 1). */
static inline int good_ptr(const void *p, uint64_t n) {
    return p != NULL && (U64(p) & 15) == 0 && U64(p) + n <= FOUR_GB &&
           (in_window(0, p, n) || in_window(1, p, n));
}

static inline char *alloc_base(const void *p) {
    MEMORY_BASIC_INFORMATION m;
    if (query(p, &m) != sizeof m) return NULL;
    return (char *)m.AllocationBase;
}

static inline DWORD state_of(const void *p) {
    MEMORY_BASIC_INFORMATION m;
    if (query(p, &m) != sizeof m) return 0;
    return m.State;
}

/* ---- 64-bit word patterns (sizes are multiples of 8) ---- */
static inline uint64_t pw(uint64_t seed, size_t i) {
    uint64_t x = (seed + 1) * 0x9E3779B97F4A7C15ull + (uint64_t)i * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 31;
    return x * 0x94D049BB133111EBull;
}

/* Writes the pattern of seed to p[0..n) (fault-safe); 1 on success. */
static inline int pat_fill(void *p, size_t n, uint64_t seed) {
    uint64_t buf[512];
    for (size_t off = 0; off < n; off += sizeof buf) {
        size_t k = n - off < sizeof buf ? n - off : sizeof buf;
        for (size_t j = 0; j < (k + 7) / 8; j++) buf[j] = pw(seed, off / 8 + j);
        if (!safe_write((char *)p + off, buf, k)) return 0;
    }
    return 1;
}

/* p[0..n) holds the pattern of seed (fault-safe). */
static inline int pat_ok(const void *p, size_t n, uint64_t seed) {
    uint64_t buf[512], want[512];
    for (size_t off = 0; off < n; off += sizeof buf) {
        size_t k = n - off < sizeof buf ? n - off : sizeof buf;
        for (size_t j = 0; j < (k + 7) / 8; j++) want[j] = pw(seed, off / 8 + j);
        if (!safe_read(buf, (const char *)p + off, k)) return 0;
        if (memcmp(buf, want, k) != 0) return 0;
    }
    return 1;
}

/* ---- overlap check ---- */
struct blk {
    uint64_t a;
    uint64_t n;
};

static inline int blk_cmp(const void *x, const void *y) {
    const struct blk *a = x, *b = y;
    return a->a < b->a ? -1 : a->a > b->a;
}

/* No two of the k blocks overlap (sorts b). Returns the index of the first overlap or -1. */
static inline long first_overlap(struct blk *b, size_t k) {
    qsort(b, k, sizeof *b, blk_cmp);
    for (size_t i = 1; i < k; i++)
        if (b[i - 1].a + b[i - 1].n > b[i].a) return (long)i;
    return -1;
}

/* ---- small helpers of the threaded heap tests ---- */

#include <time.h>

static inline void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline int load_flag(const int *f) { return __atomic_load_n(f, __ATOMIC_SEQ_CST); }
static inline void store_flag(int *f, int v) { __atomic_store_n(f, v, __ATOMIC_SEQ_CST); }

/* Waits up to ms milliseconds for *f to become nonzero; returns its value. */
static inline int wait_flag(const int *f, int ms) {
    for (int t = 0; t < ms && !load_flag(f); t += 5) sleep_ms(5);
    return load_flag(f);
}

#endif /* COREDLL_HEAP_UTIL_H */
