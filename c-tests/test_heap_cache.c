/* The heaps' thread caches (ce6 profile, src/heap/cache.rs): growable heaps (HeapCreate(0,0,0)) and
 * the process heap (LocalAlloc/LocalFree) keep freed small blocks (<= 4096 bytes) per thread, and a
 * cached block is "freed" for every purpose: double frees, HeapSize, HeapReAlloc, HeapValidate,
 * HeapWalk and toolhelp see it freed; exact sizes and HEAP_ZERO_MEMORY hold when the cache hands it
 * out again; blocks cross threads; a write into a freed block is detected; a thread's cache goes back
 * at its exit; HeapDestroy, HeapLock and a heap out of memory (re-run under COREDLL_RAM=1M) are
 * honoured; fixed heaps are not cached; what a page or region left in the tables is forgotten
 * when another is made there. */
#include "check.h"

#include "heap_util.h"

#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <time.h>
#include <tlhelp32.h>

#define HID(h) ((DWORD)(uintptr_t)(h))
#define PID ((DWORD)getpid())

/* A check name built with printf formatting (into the caller's `char nm[256]`). */
#define NM(...) (snprintf(nm, sizeof nm, __VA_ARGS__), nm)

/* ---- HeapWalk ---- */

enum { MAXE = 8192 };

struct hw {
    DWORD end_err;
    int n;
    PROCESS_HEAP_ENTRY e[MAXE];
};

static struct hw W;

static void heap_walk(HANDLE h, struct hw *w) {
    PROCESS_HEAP_ENTRY e;
    memset(&e, 0, sizeof e);
    w->n = 0;
    for (;;) {
        SetLastError(CHECK_SENTINEL);
        if (!HeapWalk(h, &e)) break;
        if (w->n >= MAXE) break;
        w->e[w->n++] = e;
    }
    w->end_err = GetLastError();
}

static int n_busy(const struct hw *w) {
    int n = 0;
    for (int i = 0; i < w->n; i++) n += (w->e[i].wFlags & PROCESS_HEAP_ENTRY_BUSY) != 0;
    return n;
}

/* Sum of the region entries' dwCommittedSize. */
static uint64_t committed_sum(const struct hw *w) {
    uint64_t s = 0;
    for (int i = 0; i < w->n; i++)
        if (w->e[i].wFlags & PROCESS_HEAP_REGION) s += w->e[i].Region.dwCommittedSize;
    return s;
}

/* Index of the busy entry starting at p; -1 none, -2 several. */
static int find_busy(const struct hw *w, const void *p) {
    int k = -1;
    for (int i = 0; i < w->n; i++)
        if (w->e[i].lpData == p && (w->e[i].wFlags & PROCESS_HEAP_ENTRY_BUSY)) {
            if (k >= 0) return -2;
            k = i;
        }
    return k;
}

/* Some busy entry covers p. */
static int busy_covers(const struct hw *w, const void *p) {
    for (int i = 0; i < w->n; i++)
        if ((w->e[i].wFlags & PROCESS_HEAP_ENTRY_BUSY) && U64(p) >= U64(w->e[i].lpData) &&
            U64(p) < U64(w->e[i].lpData) + w->e[i].cbData)
            return 1;
    return 0;
}

/* Some free entry (wFlags 0) covers p. */
static int free_covers(const struct hw *w, const void *p) {
    for (int i = 0; i < w->n; i++)
        if (w->e[i].wFlags == 0 && U64(p) >= U64(w->e[i].lpData) && U64(p) < U64(w->e[i].lpData) + w->e[i].cbData)
            return 1;
    return 0;
}

/* ============================ 1. double free, every size ============================ */

static const DWORD SIZES[] = {1, 8, 16, 64, 100, 256, 512, 1000, 1024, 2000, 4096, 5000};
#define NSIZES (sizeof SIZES / sizeof SIZES[0])

static void double_free_heap(HANDLE h, const char *hn, DWORD n) {
    char nm[256];
    const char *kind = n <= 4096 ? "cached size" : "control, not cached";
    char *p = CALL(HeapAlloc(h, 0, n));
    CHECK(NM("%s, %u B (%s): HeapAlloc succeeds, last error untouched", hn, (unsigned)n, kind),
          p != NULL && GetLastError() == LE_UNTOUCHED);
    if (p == NULL) return;
    CHECK(NM("%s, %u B: the block's bytes are writable", hn, (unsigned)n), fill(p, 0x5A, n));
    CHECK_RET_ERR(NM("%s, %u B: HeapFree -> TRUE", hn, (unsigned)n), HeapFree(h, 0, p), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR(NM("%s, %u B: HeapFree again (double free) -> FALSE, ERROR_INVALID_PARAMETER", hn, (unsigned)n),
                  HeapFree(h, 0, p), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR(NM("%s, %u B: HeapSize of the freed block -> (DWORD)-1, ERROR_INVALID_PARAMETER", hn, (unsigned)n),
                  HeapSize(h, 0, p), (DWORD)-1, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR(NM("%s, %u B: HeapReAlloc(freed block, 32) -> NULL, ERROR_INVALID_PARAMETER", hn, (unsigned)n),
                  HeapReAlloc(h, 0, p, 32), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR(NM("%s, %u B: HeapValidate(h, 0, freed block) -> FALSE", hn, (unsigned)n), HeapValidate(h, 0, p),
                  FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR(NM("%s, %u B: a third HeapFree is still refused (FALSE, ERROR_INVALID_PARAMETER)", hn, (unsigned)n),
                  HeapFree(h, 0, p), FALSE, ERROR_INVALID_PARAMETER);
    char *q = CALL(HeapAlloc(h, 0, n));
    CHECK(NM("%s, %u B: HeapAlloc of the same size afterwards succeeds, last error untouched", hn, (unsigned)n),
          q != NULL && GetLastError() == LE_UNTOUCHED);
    if (q == NULL) return;
    CHECK_EQ_U(NM("%s, %u B: the new block's HeapSize is the request rounded up to 8", hn, (unsigned)n),
               HeapSize(h, 0, q), r8(n));
    CHECK(NM("%s, %u B: the new block is writable over its HeapSize", hn, (unsigned)n),
          pat_fill(q, r8(n), n) && pat_ok(q, r8(n), n));
    CHECK_RET_ERR(NM("%s, %u B: HeapValidate(h, 0, NULL) -> TRUE", hn, (unsigned)n), HeapValidate(h, 0, NULL), TRUE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR(NM("%s, %u B: the new block frees (TRUE)", hn, (unsigned)n), HeapFree(h, 0, q), TRUE,
                  LE_UNTOUCHED);
}

static void double_free_local(DWORD n) {
    char nm[256];
    HANDLE ph = GetProcessHeap();
    char *p = CALL(LocalAlloc(LMEM_FIXED, n));
    CHECK(NM("LocalAlloc %u B: succeeds, last error untouched", (unsigned)n), p != NULL && GetLastError() == LE_UNTOUCHED);
    if (p == NULL) return;
    CHECK(NM("LocalAlloc %u B: the block's bytes are writable", (unsigned)n), fill(p, 0x5A, n));
    CHECK_RET_ERR(NM("LocalAlloc %u B: LocalFree -> NULL", (unsigned)n), LocalFree(p), NULL, LE_UNTOUCHED);
    CHECK_RET_ERR(NM("LocalAlloc %u B: LocalFree again (double free) -> the pointer, ERROR_INVALID_PARAMETER",
                     (unsigned)n),
                  LocalFree(p), p, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR(NM("LocalAlloc %u B: LocalSize of the freed block -> 0, ERROR_INVALID_PARAMETER", (unsigned)n),
                  LocalSize(p), 0, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR(NM("LocalAlloc %u B: HeapFree(process heap, freed block) -> FALSE, ERROR_INVALID_PARAMETER",
                     (unsigned)n),
                  HeapFree(ph, 0, p), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR(NM("LocalAlloc %u B: LocalReAlloc(freed block, 32, LMEM_MOVEABLE) -> NULL, ERROR_INVALID_PARAMETER",
                     (unsigned)n),
                  LocalReAlloc(p, 32, LMEM_MOVEABLE), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR(NM("LocalAlloc %u B: HeapValidate(process heap, 0, freed block) -> FALSE", (unsigned)n),
                  HeapValidate(ph, 0, p), FALSE, LE_UNTOUCHED);
    char *q = CALL(LocalAlloc(LMEM_FIXED, n));
    CHECK(NM("LocalAlloc %u B: LocalAlloc of the same size afterwards succeeds", (unsigned)n),
          q != NULL && GetLastError() == LE_UNTOUCHED);
    if (q == NULL) return;
    CHECK_EQ_U(NM("LocalAlloc %u B: the new block's LocalSize is the request rounded up to 8", (unsigned)n),
               LocalSize(q), r8(n));
    CHECK(NM("LocalAlloc %u B: the new block is writable over its LocalSize", (unsigned)n),
          pat_fill(q, r8(n), n + 7) && pat_ok(q, r8(n), n + 7));
    CHECK_RET_ERR(NM("LocalAlloc %u B: HeapValidate(process heap, 0, NULL) -> TRUE", (unsigned)n),
                  HeapValidate(ph, 0, NULL), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR(NM("LocalAlloc %u B: the new block frees (NULL)", (unsigned)n), LocalFree(q), NULL, LE_UNTOUCHED);
}

static void test_double_free(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    CHECK_NE_U("double free: growable heap created", h, NULL);
    if (h != NULL) {
        for (size_t i = 0; i < NSIZES; i++) double_free_heap(h, "growable heap", SIZES[i]);
        CHECK_RET_ERR("double free: destroy the heap", HeapDestroy(h), TRUE, LE_UNTOUCHED);
    }
    for (size_t i = 0; i < NSIZES; i++) double_free_local(SIZES[i]);
}

/* ============================ 2. exact sizes from the cache ============================ */

static void test_exact_sizes(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    CHECK_NE_U("exact sizes: heap created", h, NULL);
    if (h == NULL) return;
    char *p = HeapAlloc(h, 0, 64);
    CHECK("exact sizes: a 64-byte block", p != NULL && HeapSize(h, 0, p) == 64);
    CHECK_RET_ERR("exact sizes: free the 64-byte block", HeapFree(h, 0, p), TRUE, LE_UNTOUCHED);
    char *q = CALL(HeapAlloc(h, 0, 57));
    CHECK("exact sizes: HeapAlloc(57) after freeing a 64-byte block succeeds", q != NULL);
    CHECK_EQ_U("exact sizes: HeapAlloc(57) -> HeapSize 64", HeapSize(h, 0, q), 64);
    CHECK_RET_ERR("exact sizes: free the 57-byte block", HeapFree(h, 0, q), TRUE, LE_UNTOUCHED);
    char *s = CALL(HeapAlloc(h, 0, 49));
    CHECK("exact sizes: HeapAlloc(49) after freeing it succeeds", s != NULL);
    CHECK_EQ_U("exact sizes: HeapAlloc(49) -> HeapSize 56", HeapSize(h, 0, s), 56);
    CHECK_RET_ERR("exact sizes: free the 49-byte block", HeapFree(h, 0, s), TRUE, LE_UNTOUCHED);

    /* HEAP_ZERO_MEMORY on a dirty cached block. */
    char *d = HeapAlloc(h, 0, 60);
    CHECK("zero: a 60-byte block filled with 0xAB", d != NULL && fill(d, 0xAB, HeapSize(h, 0, d)));
    CHECK_RET_ERR("zero: free the dirty block", HeapFree(h, 0, d), TRUE, LE_UNTOUCHED);
    char *z = CALL(HeapAlloc(h, HEAP_ZERO_MEMORY, 60));
    CHECK("zero: HeapAlloc(HEAP_ZERO_MEMORY, 60) succeeds, last error untouched",
          z != NULL && GetLastError() == LE_UNTOUCHED);
    CHECK("zero: all 60 bytes of the re-allocated dirty block are zero", z != NULL && check_bytes_are(z, 60, 0));
    CHECK_EQ_U("zero: its HeapSize is 64", z != NULL ? HeapSize(h, 0, z) : 0, 64);
    if (z != NULL) HeapFree(h, 0, z);
    CHECK_RET_ERR("exact sizes: HeapValidate(h, 0, NULL) -> TRUE", HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("exact sizes: destroy the heap", HeapDestroy(h), TRUE, LE_UNTOUCHED);

    char *l = LocalAlloc(LMEM_FIXED, 40);
    CHECK("zero: a 40-byte LocalAlloc block filled with 0xAB", l != NULL && fill(l, 0xAB, 40));
    CHECK_RET_ERR("zero: LocalFree the dirty block", LocalFree(l), NULL, LE_UNTOUCHED);
    char *lz = CALL(LocalAlloc(LPTR, 40));
    CHECK("zero: LocalAlloc(LPTR, 40) succeeds", lz != NULL && GetLastError() == LE_UNTOUCHED);
    CHECK("zero: all 40 bytes of the LPTR block are zero", lz != NULL && check_bytes_are(lz, 40, 0));
    CHECK_EQ_U("zero: its LocalSize is 40", lz != NULL ? LocalSize(lz) : 0, 40);
    if (lz != NULL) LocalFree(lz);
}

/* ============================ 3. cross-thread ============================ */

#define NX 100

struct xfree {
    HANDLE h;
    char **blocks;
    int freed_ok;      /* HeapFree TRUE count */
    int refused_ok;    /* HeapFree FALSE + ERROR_INVALID_PARAMETER count (third thread) */
    int pattern_ok;    /* blocks whose pattern was intact before the free */
    sem_t done, go;
};

static void *xfree_owner(void *arg) {
    struct xfree *x = arg;
    for (int i = 0; i < NX; i++) {
        x->pattern_ok += pat_ok(x->blocks[i], 48, 1000 + (uint64_t)i);
        SetLastError(CHECK_SENTINEL);
        x->freed_ok += HeapFree(x->h, 0, x->blocks[i]) == TRUE && GetLastError() == CHECK_SENTINEL;
    }
    sem_post(&x->done);
    sem_wait(&x->go); /* keeps its cache (with some of the blocks) alive meanwhile */
    return NULL;
}

static void *xfree_third(void *arg) {
    struct xfree *x = arg;
    for (int i = 0; i < NX; i++) {
        SetLastError(CHECK_SENTINEL);
        BOOL r = HeapFree(x->h, 0, x->blocks[i]);
        x->refused_ok += r == FALSE && GetLastError() == ERROR_INVALID_PARAMETER;
    }
    return NULL;
}

/* Blocks passed between 4 threads through slots. */
#define NT 4
#define ITERS 20000
#define NSLOT 64

struct slot {
    pthread_mutex_t mu;
    char *p;
    DWORD n;
    uint64_t seed;
    int owner;
};

static struct slot slots[NSLOT];
static HANDLE stress_heap;
static int stress_errors, stress_cross, stress_allocs;
static char stress_first[256];
static pthread_mutex_t stress_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t stress_start;

static void stress_err(const char *what, const void *p, uint64_t v) {
    pthread_mutex_lock(&stress_mu);
    if (stress_errors++ == 0) snprintf(stress_first, sizeof stress_first, "%s (ptr %p, value %" PRIu64 ")", what, p, v);
    pthread_mutex_unlock(&stress_mu);
}

static void *stress_worker(void *arg) {
    int id = (int)(intptr_t)arg;
    uint64_t rng = 0x9E3779B97F4A7C15ull * (uint64_t)(id + 1);
    int cross = 0, allocs = 0;
    pthread_barrier_wait(&stress_start);
    for (int it = 0; it < ITERS; it++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        struct slot *s = &slots[rng % NSLOT];
        pthread_mutex_lock(&s->mu);
        if (s->p != NULL) {
            char *p = s->p;
            DWORD n = s->n;
            uint64_t seed = s->seed;
            cross += s->owner != id;
            s->p = NULL;
            pthread_mutex_unlock(&s->mu);
            if (!pat_ok(p, r8(n), seed)) stress_err("a block seen with a wrong pattern", p, seed);
            DWORD hs = HeapSize(stress_heap, 0, p);
            if (hs != r8(n)) stress_err("HeapSize of a passed block is not the request rounded up to 8", p, hs);
            if (HeapFree(stress_heap, 0, p) != TRUE) stress_err("HeapFree of a passed block failed", p, GetLastError());
        } else {
            DWORD n = (rng >> 20) % 97 == 0 ? 1500 + (DWORD)((rng >> 30) % 3000) : 1 + (DWORD)((rng >> 20) % 1024);
            uint64_t seed = ((uint64_t)id << 32) | (uint64_t)it;
            char *p = HeapAlloc(stress_heap, 0, n);
            if (p == NULL) {
                stress_err("HeapAlloc failed", NULL, GetLastError());
            } else {
                allocs++;
                if (!pat_fill(p, r8(n), seed)) stress_err("a new block is not writable", p, n);
                s->p = p;
                s->n = n;
                s->seed = seed;
                s->owner = id;
            }
            pthread_mutex_unlock(&s->mu);
        }
    }
    __atomic_add_fetch(&stress_cross, cross, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&stress_allocs, allocs, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_cross_thread(void) {
    char nm[256];
    HANDLE h = HeapCreate(0, 0, 0);
    CHECK_NE_U("cross-thread: heap created", h, NULL);
    if (h == NULL) return;
    static char *blocks[NX];
    int all = 1;
    for (int i = 0; i < NX; i++) {
        blocks[i] = HeapAlloc(h, 0, 48);
        all &= blocks[i] != NULL && pat_fill(blocks[i], 48, 1000 + (uint64_t)i);
    }
    CHECK("cross-thread: main allocates 100 blocks of 48 B with a pattern", all);
    if (!all) return;
    static struct xfree x;
    memset(&x, 0, sizeof x);
    x.h = h;
    x.blocks = blocks;
    sem_init(&x.done, 0, 0);
    sem_init(&x.go, 0, 0);
    pthread_t tb, tc;
    int started = pthread_create(&tb, NULL, xfree_owner, &x) == 0;
    CHECK("cross-thread: thread B started", started);
    if (!started) return;
    sem_wait(&x.done);
    CHECK_EQ_U("cross-thread: B saw every pattern intact", x.pattern_ok, NX);
    CHECK_EQ_U("cross-thread: B's HeapFree of each of main's blocks -> TRUE, last error untouched", x.freed_ok, NX);
    /* B is alive, its cache holding some of the blocks. */
    int refused = 0;
    for (int i = 0; i < NX; i++) {
        SetLastError(CHECK_SENTINEL);
        BOOL r = HeapFree(h, 0, blocks[i]);
        refused += r == FALSE && GetLastError() == ERROR_INVALID_PARAMETER;
    }
    CHECK_EQ_U("cross-thread: main's HeapFree of each again (B alive) -> FALSE, ERROR_INVALID_PARAMETER", refused, NX);
    int sized = 0;
    for (int i = 0; i < NX; i++) {
        SetLastError(CHECK_SENTINEL);
        DWORD s = HeapSize(h, 0, blocks[i]);
        sized += s == (DWORD)-1 && GetLastError() == ERROR_INVALID_PARAMETER;
    }
    CHECK_EQ_U("cross-thread: HeapSize of each in main -> (DWORD)-1, ERROR_INVALID_PARAMETER", sized, NX);
    started = pthread_create(&tc, NULL, xfree_third, &x) == 0;
    CHECK("cross-thread: thread C started", started);
    if (started) pthread_join(tc, NULL);
    CHECK_EQ_U("cross-thread: thread C's HeapFree of each again -> FALSE, ERROR_INVALID_PARAMETER", x.refused_ok, NX);
    sem_post(&x.go);
    pthread_join(tb, NULL);
    refused = 0;
    for (int i = 0; i < NX; i++) {
        SetLastError(CHECK_SENTINEL);
        BOOL r = HeapFree(h, 0, blocks[i]);
        refused += r == FALSE && GetLastError() == ERROR_INVALID_PARAMETER;
    }
    CHECK_EQ_U("cross-thread: after B exited, main's HeapFree of each -> FALSE, ERROR_INVALID_PARAMETER", refused, NX);
    CHECK_RET_ERR("cross-thread: HeapValidate(h, 0, NULL) -> TRUE", HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);
    sem_destroy(&x.done);
    sem_destroy(&x.go);
    CHECK_RET_ERR("cross-thread: destroy the heap", HeapDestroy(h), TRUE, LE_UNTOUCHED);

    /* 4 threads x 20000 iterations passing blocks through shared slots. */
    stress_heap = HeapCreate(0, 0, 0);
    CHECK_NE_U("stress: heap created", stress_heap, NULL);
    if (stress_heap == NULL) return;
    for (int i = 0; i < NSLOT; i++) {
        pthread_mutex_init(&slots[i].mu, NULL);
        slots[i].p = NULL;
    }
    pthread_t t[NT];
    int nst = 0;
    pthread_barrier_init(&stress_start, NULL, NT);
    for (int i = 0; i < NT; i++) nst += pthread_create(&t[i], NULL, stress_worker, (void *)(intptr_t)i) == 0;
    CHECK_EQ_U("stress: 4 threads started", nst, NT);
    if (nst != NT) return; /* the others wait at the barrier */
    for (int i = 0; i < nst; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&stress_start);
    if (stress_errors) printf("       stress: first error: %s (%d errors)\n", stress_first, stress_errors);
    CHECK(NM("stress: no block seen with a wrong pattern or size, no failed call (%d allocations, %d frees "
             "in another thread than the allocating one)",
             stress_allocs, stress_cross),
          stress_errors == 0);
    CHECK(NM("stress: blocks did cross threads (%d cross-thread frees > 1000)", stress_cross), stress_cross > 1000);
    int left = 0, left_ok = 0;
    for (int i = 0; i < NSLOT; i++) {
        if (slots[i].p == NULL) continue;
        left++;
        left_ok += pat_ok(slots[i].p, r8(slots[i].n), slots[i].seed) && HeapFree(stress_heap, 0, slots[i].p) == TRUE;
        slots[i].p = NULL;
    }
    CHECK(NM("stress: main frees the %d blocks left, patterns intact (TRUE each)", left), left_ok == left);
    CHECK_RET_ERR("stress: HeapValidate(h, 0, NULL) -> TRUE", HeapValidate(stress_heap, 0, NULL), TRUE, LE_UNTOUCHED);
    heap_walk(stress_heap, &W);
    CHECK_EQ_U("stress: HeapWalk shows no busy entry once everything is freed", n_busy(&W), 0);
    for (int i = 0; i < NSLOT; i++) pthread_mutex_destroy(&slots[i].mu);
    CHECK_RET_ERR("stress: destroy the heap", HeapDestroy(stress_heap), TRUE, LE_UNTOUCHED);
}

/* ============================ 4. HeapWalk and toolhelp ============================ */

struct thwalk {
    int n;
    HEAPENTRY32 e[MAXE];
};

static struct thwalk TW;

static int is_free_kind(DWORD f) { return f == LF32_FREE || f == (LF32_FREE | LF32_DECOMMIT) || f == LF32_DECOMMIT; }

static void test_walk(void) {
    char nm[256];
    HANDLE h = HeapCreate(0, 0, 0);
    CHECK_NE_U("walk: heap created", h, NULL);
    if (h == NULL) return;
    char *p[10];
    int ok = 1;
    for (int i = 0; i < 10; i++) {
        p[i] = HeapAlloc(h, 0, 32);
        ok &= p[i] != NULL && fill(p[i], 0x33, 32);
    }
    CHECK("walk: 10 blocks of 32 B", ok);
    if (!ok) return;
    static const int freed_idx[3] = {1, 4, 8}; /* the 2nd, 5th and 9th */
    int is_freed[10] = {0};
    for (int k = 0; k < 3; k++) {
        is_freed[freed_idx[k]] = 1;
        CHECK_RET_ERR(NM("walk: free block #%d", freed_idx[k] + 1), HeapFree(h, 0, p[freed_idx[k]]), TRUE, LE_UNTOUCHED);
    }
    heap_walk(h, &W);
    CHECK_EQ_U("walk: HeapWalk ends with ERROR_NO_MORE_ITEMS", W.end_err, ERROR_NO_MORE_ITEMS);
    for (int i = 0; i < 10; i++) {
        if (is_freed[i]) {
            CHECK(NM("walk: freed block #%d (in the thread cache) has no PROCESS_HEAP_ENTRY_BUSY entry", i + 1),
                  find_busy(&W, p[i]) == -1 && !busy_covers(&W, p[i]));
            CHECK(NM("walk: freed block #%d lies in a free entry (wFlags 0)", i + 1), free_covers(&W, p[i]));
        } else {
            int k = find_busy(&W, p[i]);
            CHECK(NM("walk: live block #%d is one busy entry with cbData 32", i + 1), k >= 0 && W.e[k].cbData == 32);
        }
    }
    CHECK_EQ_U("walk: exactly 7 busy entries", n_busy(&W), 7);

    HANDLE s = CALL(CreateToolhelp32Snapshot(TH32CS_SNAPHEAPLIST, 0));
    CHECK("toolhelp: CreateToolhelp32Snapshot(TH32CS_SNAPHEAPLIST, 0) succeeds",
          s != NULL && s != INVALID_HANDLE_VALUE && GetLastError() == LE_UNTOUCHED);
    if (s != NULL && s != INVALID_HANDLE_VALUE) {
        HEAPENTRY32 he;
        memset(&he, 0, sizeof he);
        he.dwSize = sizeof he;
        TW.n = 0;
        BOOL r = Heap32First(s, &he, PID, HID(h));
        CHECK("toolhelp: Heap32First(the walk heap) -> TRUE", r == TRUE);
        while (r && TW.n < MAXE) {
            TW.e[TW.n++] = he;
            r = Heap32Next(s, &he);
        }
        for (int i = 0; i < 10; i++) {
            int fixed = 0, free_at = 0;
            for (int k = 0; k < TW.n; k++) {
                const HEAPENTRY32 *e = &TW.e[k];
                if (e->dwAddress == HID(p[i]) && e->dwFlags == LF32_FIXED) fixed++;
                if (is_free_kind(e->dwFlags) && HID(p[i]) >= e->dwAddress &&
                    (uint64_t)HID(p[i]) < (uint64_t)e->dwAddress + e->dwBlockSize)
                    free_at++;
            }
            if (is_freed[i])
                CHECK(NM("toolhelp: freed block #%d lies in an LF32_FREE entry, in no LF32_FIXED one", i + 1),
                      free_at == 1 && fixed == 0);
            else
                CHECK(NM("toolhelp: live block #%d is one LF32_FIXED entry", i + 1), fixed == 1 && free_at == 0);
        }
        CHECK_RET_ERR("toolhelp: CloseToolhelp32Snapshot -> TRUE", CloseToolhelp32Snapshot(s), TRUE, LE_UNTOUCHED);
    }
    for (int i = 0; i < 10; i++)
        if (!is_freed[i]) HeapFree(h, 0, p[i]);
    CHECK_RET_ERR("walk: destroy the heap", HeapDestroy(h), TRUE, LE_UNTOUCHED);
}

/* ============================ 5. use after free ============================ */

static void uaf_main_child(void *arg) {
    (void)arg;
    HANDLE h = HeapCreate(0, 0, 0);
    CHECK_NE_U("use after free: fresh heap", h, NULL);
    if (h == NULL) return;
    char *p = HeapAlloc(h, 0, 64);
    CHECK("use after free: a 64-byte block", p != NULL);
    if (p == NULL) return;
    CHECK_RET_ERR("use after free: HeapFree -> TRUE", HeapFree(h, 0, p), TRUE, LE_UNTOUCHED);
    memset(p, 0x41, 16); /* the application's bug */
    CHECK_RET_ERR("use after free: 16 bytes written into the freed block -> HeapValidate(h, 0, NULL) FALSE",
                  HeapValidate(h, 0, NULL), FALSE, LE_UNTOUCHED);

    /* The freed state lives outside the block: writing over its first word does not bring it back. */
    HANDLE g = HeapCreate(0, 0, 0);
    char *f = g != NULL ? HeapAlloc(g, 0, 32) : NULL;
    CHECK("use after free, first word: a 32-byte block on a fresh heap", f != NULL);
    if (f != NULL) {
        CHECK_RET_ERR("use after free, first word: HeapFree -> TRUE", HeapFree(g, 0, f), TRUE, LE_UNTOUCHED);
        memset(f, 0, 8); /* the application clears the first field of its stale struct */
        CHECK_RET_ERR("use after free, first word: HeapFree again -> FALSE, ERROR_INVALID_PARAMETER",
                      HeapFree(g, 0, f), FALSE, ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("use after free, first word: HeapSize -> (DWORD)-1, ERROR_INVALID_PARAMETER",
                      HeapSize(g, 0, f), (DWORD)-1, ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("use after free, first word: HeapValidate(h, 0, p) -> FALSE", HeapValidate(g, 0, f), FALSE,
                      LE_UNTOUCHED);
        void *a = HeapAlloc(g, 0, 32), *b = HeapAlloc(g, 0, 32), *d = HeapAlloc(g, 0, 32);
        CHECK("use after free, first word: the next three blocks are three different blocks",
              a != NULL && b != NULL && d != NULL && a != b && b != d && a != d);
        HeapDestroy(g);
    }

    HANDLE c = HeapCreate(0, 0, 0);
    char *q = HeapAlloc(c, 0, 64);
    CHECK("use after free control: a 64-byte block on another fresh heap", q != NULL);
    CHECK_RET_ERR("use after free control: HeapFree -> TRUE", HeapFree(c, 0, q), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("use after free control: nothing written -> HeapValidate(h, 0, NULL) TRUE", HeapValidate(c, 0, NULL),
                  TRUE, LE_UNTOUCHED);
}

struct uaf {
    HANDLE h;
    int write;
    int ok;
};

static void *uaf_thread(void *arg) {
    struct uaf *u = arg;
    char *p = HeapAlloc(u->h, 0, 64);
    u->ok = p != NULL && HeapFree(u->h, 0, p) == TRUE;
    if (p != NULL && u->write) memset(p, 0x42, 8); /* the application's bug, then the thread exits */
    return NULL;
}

static void uaf_thread_child(void *arg) {
    (void)arg;
    for (int write = 1; write >= 0; write--) {
        struct uaf u = {HeapCreate(0, 0, 0), write, 0};
        CHECK(write ? "use after free in a thread: fresh heap" : "thread control: fresh heap", u.h != NULL);
        if (u.h == NULL) return;
        pthread_t t;
        int started = pthread_create(&t, NULL, uaf_thread, &u) == 0;
        if (started) pthread_join(t, NULL);
        CHECK(write ? "use after free in a thread: the thread allocated and freed a 64-byte block"
                    : "thread control: the thread allocated and freed a 64-byte block",
              started && u.ok);
        if (write)
            CHECK_RET_ERR("use after free in a thread: 8 bytes written after its HeapFree, thread exited -> "
                          "HeapValidate(h, 0, NULL) in main FALSE",
                          HeapValidate(u.h, 0, NULL), FALSE, LE_UNTOUCHED);
        else
            CHECK_RET_ERR("thread control: nothing written, thread exited -> HeapValidate(h, 0, NULL) in main TRUE",
                          HeapValidate(u.h, 0, NULL), TRUE, LE_UNTOUCHED);
    }
}

/* ============================ 6. a thread's cache goes back at exit ============================ */

#define N64 200

struct churn {
    HANDLE h;
    int ok;
};

static void churn(struct churn *c) {
    static __thread char *b[N64];
    int ok = 1;
    for (int i = 0; i < N64; i++) {
        b[i] = HeapAlloc(c->h, 0, 64);
        ok &= b[i] != NULL && fill(b[i], 0x64, 64);
    }
    for (int i = 0; i < N64; i++) ok &= b[i] != NULL && HeapFree(c->h, 0, b[i]) == TRUE;
    c->ok = ok;
}

static void *churn_thread(void *arg) {
    churn(arg);
    return NULL;
}

static void test_thread_exit(void) {
    char nm[256];
    /* Control: the same in main, then HeapCompact. */
    struct churn c = {HeapCreate(0, 0, 0), 0};
    CHECK_NE_U("thread exit control: fresh heap", c.h, NULL);
    if (c.h == NULL) return;
    churn(&c);
    CHECK("thread exit control: main allocates and frees 200 blocks of 64 B", c.ok);
    UINT rc = CALL(HeapCompact(c.h, 0));
    CHECK("thread exit control: HeapCompact -> > 0", rc > 0);
    heap_walk(c.h, &W);
    uint64_t control = committed_sum(&W);
    CHECK_EQ_U("thread exit control: HeapWalk shows no busy entry", n_busy(&W), 0);
    printf("       (control: committed region bytes after HeapCompact: 0x%" PRIx64 ")\n", control);
    HeapDestroy(c.h);

    struct churn t = {HeapCreate(0, 0, 0), 0};
    CHECK_NE_U("thread exit: fresh heap", t.h, NULL);
    if (t.h == NULL) return;
    pthread_t th;
    int started = pthread_create(&th, NULL, churn_thread, &t) == 0;
    if (started) pthread_join(th, NULL);
    CHECK("thread exit: a thread allocates and frees 200 blocks of 64 B, then exits", started && t.ok);
    rc = CALL(HeapCompact(t.h, 0));
    CHECK(NM("thread exit: main's HeapCompact(h, 0) -> > 0 (got %u)", (unsigned)rc), rc > 0);
    heap_walk(t.h, &W);
    CHECK_EQ_U("thread exit: HeapWalk ends with ERROR_NO_MORE_ITEMS", W.end_err, ERROR_NO_MORE_ITEMS);
    CHECK_EQ_U("thread exit: HeapWalk shows no busy entry", n_busy(&W), 0);
    uint64_t after = committed_sum(&W);
    CHECK(NM("thread exit: the regions' committed size after HeapCompact is <= 2 pages (0x%" PRIx64 ")", after),
          after <= 2 * PG);
    CHECK_EQ_U("thread exit: ... and equals the single-thread control's", after, control);
    CHECK_RET_ERR("thread exit: HeapValidate(h, 0, NULL) -> TRUE", HeapValidate(t.h, 0, NULL), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("thread exit: destroy the heap", HeapDestroy(t.h), TRUE, LE_UNTOUCHED);
}

/* 6b. A thread exits while another thread holds HeapLock on the heap its cache holds blocks of: the exit
 * does not wait for the lock (the holder may be joining that very thread), and the blocks are not lost:
 * the heap's next HeapCompact takes them back. */
struct churn_wait {
    struct churn c;
    int churned, may_exit;
};

static void *churn_wait_thread(void *arg) {
    struct churn_wait *t = arg;
    churn(&t->c);
    store_flag(&t->churned, 1);
    while (!load_flag(&t->may_exit)) sleep_ms(1);
    return NULL;
}

static void test_exit_while_locked(void) {
    char nm[256];
    /* Control: the same churn in main, then HeapCompact. */
    struct churn c = {HeapCreate(0, 0, 0), 0};
    if (c.h == NULL) return;
    churn(&c);
    HeapCompact(c.h, 0);
    heap_walk(c.h, &W);
    uint64_t control = committed_sum(&W);
    HeapDestroy(c.h);
    struct churn_wait t = {{HeapCreate(0, 0, 0), 0}, 0, 0};
    CHECK_NE_U("exit while locked: fresh heap", t.c.h, NULL);
    if (t.c.h == NULL) return;
    pthread_t th;
    int started = pthread_create(&th, NULL, churn_wait_thread, &t) == 0;
    /* It allocates and frees (its blocks are then in its cache) and waits; main locks the heap, then lets
     * it exit. */
    CHECK("exit while locked: the thread allocated and freed its blocks",
          started && wait_flag(&t.churned, 2000) && t.c.ok);
    CHECK_RET_ERR("exit while locked: main HeapLock(h)", HeapLock(t.c.h), TRUE, LE_UNTOUCHED);
    store_flag(&t.may_exit, 1);
    int joined = started && pthread_join(th, NULL) == 0;
    CHECK("exit while locked: the thread exits (joined) while main holds HeapLock", joined);
    heap_walk(t.c.h, &W);
    CHECK_EQ_U("exit while locked: no block is busy (the exited thread's blocks are free)", n_busy(&W), 0);
    CHECK_RET_ERR("exit while locked: HeapUnlock", HeapUnlock(t.c.h), TRUE, LE_UNTOUCHED);
    UINT rc = CALL(HeapCompact(t.c.h, 0));
    CHECK(NM("exit while locked: HeapCompact -> > 0 (got %u)", (unsigned)rc), rc > 0);
    heap_walk(t.c.h, &W);
    uint64_t after = committed_sum(&W);
    CHECK(NM("exit while locked: the blocks went back: committed region bytes after HeapCompact 0x%" PRIx64
             " as in main's control (0x%" PRIx64 ")",
             after, control),
          after == control);
    CHECK_RET_ERR("exit while locked: HeapValidate(h, 0, NULL) -> TRUE", HeapValidate(t.c.h, 0, NULL), TRUE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("exit while locked: destroy the heap", HeapDestroy(t.c.h), TRUE, LE_UNTOUCHED);
}

/* 6c. A thread's cache holds blocks of heap A; main holds HeapLock(A); the thread now uses a heap B whose
 * cache slot is A's: it must not wait for A. Heaps are made until two share a slot (handles 16 apart, 8
 * slots). */
struct evict {
    HANDLE a, b;
    int warmed, done;
    void *p;
};

static void *evict_thread(void *arg) {
    struct evict *e = arg;
    for (int i = 0; i < 8; i++) {
        void *q = HeapAlloc(e->a, 0, 64);
        if (q != NULL) HeapFree(e->a, 0, q);
    }
    store_flag(&e->warmed, 1);
    while (load_flag(&e->warmed) != 2) sleep_ms(1);
    e->p = HeapAlloc(e->b, 0, 64);
    if (e->p != NULL) HeapFree(e->b, 0, e->p);
    store_flag(&e->done, 1);
    return NULL;
}

static void test_evict_while_locked(void) {
    char nm[256];
    HANDLE hs[9];
    int n = 0, ia = -1, ib = -1;
    for (; n < 9; n++) {
        hs[n] = HeapCreate(0, 0, 0);
        if (hs[n] == NULL) break;
        for (int j = 0; j < n && ia < 0; j++)
            if (((U64(hs[j]) >> 4) & 7) == ((U64(hs[n]) >> 4) & 7)) ia = j, ib = n;
        if (ia >= 0) {
            n++;
            break;
        }
    }
    CHECK(NM("evict: two of %d heaps share a cache slot", n), ia >= 0);
    if (ia >= 0) {
        struct evict e = {hs[ia], hs[ib], 0, 0, NULL};
        pthread_t th;
        int started = pthread_create(&th, NULL, evict_thread, &e) == 0;
        if (started) wait_flag(&e.warmed, 2000);
        CHECK_RET_ERR("evict: main HeapLock(A)", HeapLock(e.a), TRUE, LE_UNTOUCHED);
        store_flag(&e.warmed, 2);
        int done = started && wait_flag(&e.done, 2000);
        CHECK("evict: the thread's HeapAlloc/HeapFree on B returns while main holds HeapLock(A)", done);
        CHECK("evict: ... with a block", e.p != NULL);
        CHECK_RET_ERR("evict: HeapUnlock(A)", HeapUnlock(e.a), TRUE, LE_UNTOUCHED);
        if (started) pthread_join(th, NULL);
        CHECK_RET_ERR("evict: HeapValidate(A, 0, NULL) -> TRUE", HeapValidate(e.a, 0, NULL), TRUE, LE_UNTOUCHED);
        CHECK_RET_ERR("evict: HeapValidate(B, 0, NULL) -> TRUE", HeapValidate(e.b, 0, NULL), TRUE, LE_UNTOUCHED);
    }
    for (int i = 0; i < n; i++) HeapDestroy(hs[i]);
}

/* 3b. Two threads free the same block at the same moment (a double free): the heap is serialized, so
 * exactly one HeapFree succeeds, and the block is never handed out twice. */
#define RACE_ROUNDS 20000

struct race {
    HANDLE h;
    void *volatile target;
    int round, done;
    BOOL res[2];
};

static void *race_thread(void *arg) {
    struct race *r = *(struct race **)arg;
    int me = ((struct race **)arg)[1] != NULL;
    for (int k = 1; k <= RACE_ROUNDS; k++) {
        while (load_flag(&r->round) != k) sched_yield();
        r->res[me] = HeapFree(r->h, 0, r->target);
        __atomic_add_fetch(&r->done, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static void test_racing_double_free(void) {
    char nm[256];
    static struct race r;
    r.h = HeapCreate(0, 0, 0);
    CHECK_NE_U("racing double free: fresh heap", r.h, NULL);
    if (r.h == NULL) return;
    struct race *args[2][2] = {{&r, NULL}, {&r, &r}};
    pthread_t t[2];
    int started = pthread_create(&t[0], NULL, race_thread, args[0]) == 0;
    started = started && pthread_create(&t[1], NULL, race_thread, args[1]) == 0;
    CHECK("racing double free: two threads", started);
    if (!started) return;
    int both = 0, none = 0;
    for (int k = 1; k <= RACE_ROUNDS; k++) {
        r.target = HeapAlloc(r.h, 0, 48);
        store_flag(&r.done, 0);
        store_flag(&r.round, k);
        while (load_flag(&r.done) != 2) sched_yield();
        both += r.res[0] && r.res[1];
        none += !r.res[0] && !r.res[1];
    }
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    CHECK(NM("racing double free: never both HeapFree TRUE (%d of %d rounds)", both, RACE_ROUNDS), both == 0);
    CHECK(NM("racing double free: never both FALSE (%d rounds)", none), none == 0);
    /* Whatever the threads' caches gave back, no block comes out twice. */
    enum { NB = 400 };
    static void *b[NB];
    int dup = 0;
    for (int i = 0; i < NB; i++) {
        b[i] = HeapAlloc(r.h, 0, 48);
        for (int j = 0; j < i; j++) dup += b[i] != NULL && b[i] == b[j];
    }
    CHECK_EQ_U("racing double free: 400 blocks of 48 B afterwards are all different", dup, 0);
    CHECK_RET_ERR("racing double free: HeapValidate(h, 0, NULL) -> TRUE", HeapValidate(r.h, 0, NULL), TRUE,
                  LE_UNTOUCHED);
    HeapDestroy(r.h);
}

/* ============================ 7. HeapDestroy while another thread caches ============================ */

struct destroyer {
    HANDLE h, h2;
    sem_t cached, destroyed;
    int warm_ok;
    void *old;
    void *alloc_r;
    DWORD alloc_err;
    BOOL free_r;
    DWORD free_err;
    int h2_ok;
};

static void *destroy_b(void *arg) {
    struct destroyer *d = arg;
    char *b[50];
    int ok = 1;
    for (int i = 0; i < 50; i++) {
        b[i] = HeapAlloc(d->h, 0, 64);
        ok &= b[i] != NULL && fill(b[i], 0x77, 64);
    }
    for (int i = 0; i < 50; i++) ok &= b[i] != NULL && HeapFree(d->h, 0, b[i]) == TRUE;
    d->warm_ok = ok;
    d->old = b[49]; /* the last freed: in B's cache */
    sem_post(&d->cached);
    sem_wait(&d->destroyed);
    SetLastError(CHECK_SENTINEL);
    d->alloc_r = HeapAlloc(d->h, 0, 64);
    d->alloc_err = GetLastError();
    SetLastError(CHECK_SENTINEL);
    d->free_r = HeapFree(d->h, 0, d->old);
    d->free_err = GetLastError();
    /* 1000 blocks on H2, contents checked. */
    static char *c[1000];
    ok = 1;
    for (int i = 0; i < 1000; i++) {
        DWORD n = 1 + (DWORD)(i * 37 % 1024);
        c[i] = HeapAlloc(d->h2, 0, n);
        ok &= c[i] != NULL && pat_fill(c[i], r8(n), 5000 + (uint64_t)i);
    }
    for (int i = 0; i < 1000; i++) {
        DWORD n = 1 + (DWORD)(i * 37 % 1024);
        ok &= c[i] != NULL && pat_ok(c[i], r8(n), 5000 + (uint64_t)i) && HeapSize(d->h2, 0, c[i]) == r8(n);
    }
    for (int i = 0; i < 1000; i++) ok &= c[i] != NULL && HeapFree(d->h2, 0, c[i]) == TRUE;
    d->h2_ok = ok;
    return NULL;
}

static void test_destroy(void) {
    static struct destroyer d;
    memset(&d, 0, sizeof d);
    d.h = HeapCreate(0, 0, 0);
    CHECK_NE_U("destroy: heap H created", d.h, NULL);
    if (d.h == NULL) return;
    sem_init(&d.cached, 0, 0);
    sem_init(&d.destroyed, 0, 0);
    pthread_t t;
    int started = pthread_create(&t, NULL, destroy_b, &d) == 0;
    CHECK("destroy: thread B started", started);
    if (!started) return;
    sem_wait(&d.cached);
    CHECK("destroy: B allocated and freed 50 blocks of 64 B of H", d.warm_ok);
    CHECK_RET_ERR("destroy: main's HeapDestroy(H) while B caches blocks of it -> TRUE", HeapDestroy(d.h), TRUE,
                  LE_UNTOUCHED);
    d.h2 = HeapCreate(0, 0, 0);
    CHECK_NE_U("destroy: H2 = HeapCreate(0, 0, 0) afterwards", d.h2, NULL);
    sem_post(&d.destroyed);
    pthread_join(t, NULL);
    CHECK("destroy: B's HeapAlloc(H (destroyed), 64) -> NULL, ERROR_INVALID_PARAMETER",
          d.alloc_r == NULL && d.alloc_err == ERROR_INVALID_PARAMETER);
    if (d.alloc_r != NULL || d.alloc_err != ERROR_INVALID_PARAMETER)
        printf("       returned %p, GetLastError %u\n", d.alloc_r, (unsigned)d.alloc_err);
    CHECK("destroy: B's HeapFree(H (destroyed), a block it had cached) -> FALSE, ERROR_INVALID_PARAMETER",
          d.free_r == FALSE && d.free_err == ERROR_INVALID_PARAMETER);
    if (d.free_r != FALSE || d.free_err != ERROR_INVALID_PARAMETER)
        printf("       returned %d, GetLastError %u\n", (int)d.free_r, (unsigned)d.free_err);
    CHECK("destroy: B allocates, checks and frees 1000 blocks of H2 (patterns, sizes, TRUE)", d.h2_ok);
    if (d.h2 != NULL) {
        CHECK_RET_ERR("destroy: HeapValidate(H2, 0, NULL) after B exited -> TRUE", HeapValidate(d.h2, 0, NULL), TRUE,
                      LE_UNTOUCHED);
        heap_walk(d.h2, &W);
        CHECK_EQ_U("destroy: H2 shows no busy entry after B exited", n_busy(&W), 0);
        CHECK_RET_ERR("destroy: destroy H2", HeapDestroy(d.h2), TRUE, LE_UNTOUCHED);
    }
    sem_destroy(&d.cached);
    sem_destroy(&d.destroyed);
}

/* ============================ 8. HeapLock on a cached size ============================ */

struct locker {
    HANDLE h;
    int op; /* 0: HeapAlloc(64), 1: HeapFree(held) */
    sem_t warmed, go;
    int warm_ok;
    char *held;
    int done;
    void *p;
    BOOL r;
    DWORD err;
};

static void *lock_b(void *arg) {
    struct locker *l = arg;
    int ok = 1;
    for (int i = 0; i < 8; i++) {
        char *p = HeapAlloc(l->h, 0, 64);
        ok &= p != NULL && HeapFree(l->h, 0, p) == TRUE;
    }
    l->held = HeapAlloc(l->h, 0, 64);
    ok &= l->held != NULL;
    char *p = HeapAlloc(l->h, 0, 64); /* and one more in the cache */
    ok &= p != NULL && HeapFree(l->h, 0, p) == TRUE;
    l->warm_ok = ok;
    sem_post(&l->warmed);
    sem_wait(&l->go);
    SetLastError(CHECK_SENTINEL);
    if (l->op == 0)
        l->p = HeapAlloc(l->h, 0, 64);
    else
        l->r = HeapFree(l->h, 0, l->held);
    l->err = GetLastError();
    store_flag(&l->done, 1);
    return NULL;
}

static void lock_case(HANDLE h, int op) {
    const char *what = op == 0 ? "HeapAlloc(h, 0, 64)" : "HeapFree(h, 0, a 64-byte block B holds)";
    char nm[256];
    static struct locker l;
    memset(&l, 0, sizeof l);
    l.h = h;
    l.op = op;
    sem_init(&l.warmed, 0, 0);
    sem_init(&l.go, 0, 0);
    pthread_t t;
    int started = pthread_create(&t, NULL, lock_b, &l) == 0;
    CHECK(NM("HeapLock, %s: thread B started", what), started);
    if (!started) return;
    sem_wait(&l.warmed);
    CHECK(NM("HeapLock, %s: B warmed its cache (64-byte blocks allocated and freed)", what), l.warm_ok);
    CHECK_RET_ERR(NM("HeapLock, %s: main's HeapLock(h) -> TRUE", what), HeapLock(h), TRUE, LE_UNTOUCHED);
    sem_post(&l.go);
    sleep_ms(200);
    CHECK(NM("HeapLock, %s: B's call has not returned while main holds the lock (200 ms)", what), !load_flag(&l.done));
    CHECK_RET_ERR(NM("HeapLock, %s: main's HeapUnlock(h) -> TRUE", what), HeapUnlock(h), TRUE, LE_UNTOUCHED);
    int fin = wait_flag(&l.done, 5000);
    if (fin) pthread_join(t, NULL);
    else pthread_detach(t);
    CHECK(NM("HeapLock, %s: B's call returns after the unlock", what), fin);
    if (op == 0) {
        CHECK(NM("HeapLock, %s: B's block is valid (HeapValidate(h, 0, p) TRUE), last error untouched", what),
              l.p != NULL && l.err == CHECK_SENTINEL && HeapValidate(h, 0, l.p));
        if (l.p != NULL) HeapFree(h, 0, l.p);
        if (l.held != NULL) HeapFree(h, 0, l.held);
    } else {
        CHECK(NM("HeapLock, %s: B's HeapFree -> TRUE, last error untouched", what),
              l.r == TRUE && l.err == CHECK_SENTINEL);
        CHECK_RET_ERR(NM("HeapLock, %s: the block is freed (HeapValidate(h, 0, p) FALSE)", what),
                      HeapValidate(h, 0, l.held), FALSE, LE_UNTOUCHED);
    }
    CHECK_RET_ERR(NM("HeapLock, %s: HeapValidate(h, 0, NULL) -> TRUE", what), HeapValidate(h, 0, NULL), TRUE,
                  LE_UNTOUCHED);
    sem_destroy(&l.warmed);
    sem_destroy(&l.go);
}

static void test_lock(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    CHECK_NE_U("HeapLock: heap created", h, NULL);
    if (h == NULL) return;
    lock_case(h, 0);
    lock_case(h, 1);
    CHECK_RET_ERR("HeapLock: destroy the heap", HeapDestroy(h), TRUE, LE_UNTOUCHED);
}

/* ============================ 9. out of memory (re-run under COREDLL_RAM=1M) ============================ */

#define MAXB (1 << 16)

static int oom_run(void) {
    char nm[256];
    HANDLE h = HeapCreate(0, 0, 0);
    CHECK_NE_U("oom: heap created under COREDLL_RAM=1M", h, NULL);
    if (h == NULL) return check_summary();
    static void *b[MAXB];
    int n = 0;
    DWORD err = 0;
    void *p = NULL;
    while (n < MAXB) {
        SetLastError(CHECK_SENTINEL);
        p = HeapAlloc(h, 0, 64);
        if (p == NULL) {
            err = GetLastError();
            break;
        }
        b[n++] = p;
    }
    CHECK(NM("oom: 64-byte blocks run out with NULL, ERROR_NOT_ENOUGH_MEMORY (%d blocks, last error %u)", n,
             (unsigned)err),
          p == NULL && err == ERROR_NOT_ENOUGH_MEMORY);
    CHECK(NM("oom: a fair share of the 1 MB budget went to 64-byte blocks (%d > 1000)", n), n > 1000);
    int freed = 0;
    for (int i = 0; i < n; i++) freed += HeapFree(h, 0, b[i]) == TRUE;
    CHECK(NM("oom: every 64-byte block frees (TRUE), %d of %d", freed, n), freed == n);
    int m = 0;
    err = 0;
    p = NULL;
    while (m < MAXB) {
        SetLastError(CHECK_SENTINEL);
        p = HeapAlloc(h, 0, 900);
        if (p == NULL) {
            err = GetLastError();
            break;
        }
        b[m++] = p;
    }
    int want = n * 64 / 4096 / 2;
    CHECK(NM("oom: after freeing them, at least %d 900-byte blocks succeed (got %d)", want, m), m >= want);
    CHECK(NM("oom: the 900-byte blocks run out with ERROR_NOT_ENOUGH_MEMORY (last error %u)", (unsigned)err),
          p == NULL && err == ERROR_NOT_ENOUGH_MEMORY);
    CHECK_RET_ERR("oom: HeapValidate(h, 0, NULL) -> TRUE", HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);
    freed = 0;
    for (int i = 0; i < m; i++) freed += HeapFree(h, 0, b[i]) == TRUE;
    CHECK(NM("oom: every 900-byte block frees (TRUE), %d of %d", freed, m), freed == m);
    CHECK("oom: the heap allocates again", HeapAlloc(h, 0, 64) != NULL);
    CHECK_RET_ERR("oom: destroy the heap", HeapDestroy(h), TRUE, LE_UNTOUCHED);

    /* The same point with nothing but the cache in the way: fill a fresh heap with 256-byte blocks (16 to a
     * one-page slab) until it is out of memory, free the 16 blocks of one full page, which then all sit in this
     * thread's cache (a stack of 256-byte blocks holds up to 32; their page stays in use in the heap's tables),
     * and ask for a 900-byte block, which needs a page: the heap is out of memory, gives back the caller's
     * cached blocks, and tries again. */
    h = HeapCreate(0, 0, 0);
    CHECK_NE_U("oom, cached page: a fresh heap after the first one was destroyed", h, NULL);
    if (h == NULL) return check_summary();
    n = 0;
    err = 0;
    p = NULL;
    while (n < MAXB) {
        SetLastError(CHECK_SENTINEL);
        p = HeapAlloc(h, 0, 256);
        if (p == NULL) {
            err = GetLastError();
            break;
        }
        b[n++] = p;
    }
    CHECK(NM("oom, cached page: 256-byte blocks run out with ERROR_NOT_ENOUGH_MEMORY (%d blocks, last error %u)", n,
             (unsigned)err),
          p == NULL && err == ERROR_NOT_ENOUGH_MEMORY && n > 100);
    /* A page holding 16 of the blocks (the first such page found). */
    uint64_t page = 0;
    for (int i = 0; i < n && page == 0; i++) {
        uint64_t pg = U64(b[i]) & ~(uint64_t)(PG - 1);
        int k = 0;
        for (int j = 0; j < n; j++) k += (U64(b[j]) & ~(uint64_t)(PG - 1)) == pg;
        if (k == 16) page = pg;
    }
    int in_page = 0, freed_page = 0;
    for (int i = 0; i < n && page != 0; i++) {
        if ((U64(b[i]) & ~(uint64_t)(PG - 1)) != page) continue;
        in_page++;
        SetLastError(CHECK_SENTINEL);
        freed_page += HeapFree(h, 0, b[i]) == TRUE && GetLastError() == CHECK_SENTINEL;
        b[i] = NULL;
    }
    CHECK(NM("oom, cached page: a page held 16 of the blocks (%d freed)", in_page), page != 0 && in_page == 16);
    CHECK(NM("oom, cached page: its %d blocks free (TRUE each)", in_page), freed_page == in_page);
    void *big = CALL(HeapAlloc(h, 0, 900));
    CHECK(NM("oom, cached page: HeapAlloc(900) succeeds although the only free page was held by the caller's cache "
             "(got %p, last error %u)",
             big, (unsigned)GetLastError()),
          big != NULL && GetLastError() == CHECK_SENTINEL);
    CHECK("oom, cached page: the 900-byte block is writable", big != NULL && fill(big, 0x90, 900));
    CHECK_RET_ERR("oom, cached page: HeapValidate(h, 0, NULL) -> TRUE", HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("oom, cached page: destroy the heap", HeapDestroy(h), TRUE, LE_UNTOUCHED);
    return check_summary();
}

static void test_oom(void) {
    static char out[1 << 16], err[1 << 12];
    char *argv[] = {"test_heap_cache", "--oom", NULL};
    const char *env[] = {"COREDLL_RAM=1M", "COREDLL_AUTOCOMMIT", NULL};
    int st = check_run_self(argv, env, out, sizeof out, err, sizeof err);
    /* The child's lines, indented; its summary is its last non-empty line. */
    char *last = NULL;
    for (char *line = out; *line != '\0';) {
        char *nl = strchr(line, '\n');
        int len = nl != NULL ? (int)(nl - line) : (int)strlen(line);
        printf("       | %.*s\n", len, line);
        if (len > 0) last = line;
        if (nl == NULL) break;
        line = nl + 1;
    }
    if (err[0] != '\0') printf("       child stderr: %s\n", err);
    int passed = -1, failed = -1;
    if (last != NULL && sscanf(last, "%d passed, %d failed", &passed, &failed) != 2) passed = failed = -1;
    char d[200];
    snprintf(d, sizeof d, "wait status 0x%x, summary %d passed, %d failed", (unsigned)st, passed, failed);
    check_record(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && passed > 0 && failed == 0,
                 "oom: the run under COREDLL_RAM=1M exits 0 with `N passed, 0 failed`", __FILE__, __LINE__,
                 "check_run_self(--oom)", d);
}

/* ============================ 10. fixed heaps are not cached ============================ */

static void test_fixed(void) {
    HANDLE f = HeapCreate(0, 0, 0x10000);
    CHECK_NE_U("fixed: HeapCreate(0, 0, 0x10000)", f, NULL);
    if (f == NULL) return;
    void *p = HeapAlloc(f, 0, 8);
    CHECK("fixed: an 8-byte block", p != NULL);
    CHECK_RET_ERR("fixed: HeapFree -> TRUE", HeapFree(f, 0, p), TRUE, LE_UNTOUCHED);
    void *w = CALL(HeapAlloc(f, 0, 0x10000));
    CHECK("fixed: HeapAlloc(0x10000) then succeeds (the freed block is not held in a cache)",
          w != NULL && GetLastError() == LE_UNTOUCHED);
    CHECK("fixed: the whole-heap block is writable", w != NULL && fill(w, 0xCD, 0x10000));
    CHECK_RET_ERR("fixed: destroy the heap", HeapDestroy(f), TRUE, LE_UNTOUCHED);
}

/* ---- children (crash isolation) ---- */

static void double_free_child(void *a) { (void)a; test_double_free(); }
static void exact_child(void *a) { (void)a; test_exact_sizes(); }
static void cross_child(void *a) { (void)a; test_cross_thread(); }
static void walk_child(void *a) { (void)a; test_walk(); }
static void exit_child(void *a) { (void)a; test_thread_exit(); }
static void race_child(void *a) { (void)a; test_racing_double_free(); }
static void exit_locked_child(void *a) { (void)a; test_exit_while_locked(); }
static void evict_child(void *a) { (void)a; test_evict_while_locked(); }
static void destroy_child(void *a) { (void)a; test_destroy(); }
static void lock_child(void *a) { (void)a; test_lock(); }
static void fixed_child(void *a) { (void)a; test_fixed(); }

/* ==================== 11. pages and regions made again where others were ==================== */

/* A free finds a block's size record and its page's class by address, in tables that every region
 * made at that address shares: what an earlier slab or region left there must count for nothing.
 * 48-byte blocks fill several regions and are freed; HeapCompact takes them back and gives the
 * pages and the secondary regions back; 64-byte blocks then fill the same addresses. An old
 * address inside a 64-byte block is refused by HeapFree, HeapSize and HeapValidate, the blocks
 * there keep their sizes, and the heap stays valid. */
enum { AGAIN_N = 4000 };
static uintptr_t again_old[AGAIN_N], again_new[AGAIN_N];

static int cmp_uptr(const void *x, const void *y) {
    uintptr_t a = *(const uintptr_t *)x, b = *(const uintptr_t *)y;
    return a < b ? -1 : a > b;
}

/* Fills again_new with AGAIN_N blocks of 64 bytes (sorted, contents 0x5A), then checks that every
 * address of again_old inside one of them is refused, and the heap stays sound. */
static void again_check(HANDLE h, const char *what) {
    char nm[256];
    int ok = 1;
    for (int i = 0; i < AGAIN_N; i++) {
        again_new[i] = (uintptr_t)HeapAlloc(h, 0, 64);
        ok &= again_new[i] != 0;
        if (again_new[i] != 0) memset((void *)again_new[i], 0x5A, 64);
    }
    CHECK(NM("%s: 4000 blocks of 64 bytes", what), ok);
    qsort(again_new, AGAIN_N, sizeof again_new[0], cmp_uptr);
    int inside = 0, refused = 0;
    for (int i = 0; i < AGAIN_N; i++) {
        uintptr_t p = again_old[i];
        /* The new block holding p, if any (the last one starting at or below it). */
        size_t lo = 0, hi = AGAIN_N;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (again_new[mid] <= p) lo = mid + 1;
            else hi = mid;
        }
        if (lo == 0 || again_new[lo - 1] == p || p >= again_new[lo - 1] + 64) continue;
        inside++;
        SetLastError(CHECK_SENTINEL);
        BOOL f = HeapFree(h, 0, (void *)p);
        DWORD e = GetLastError();
        if (!f && e == ERROR_INVALID_PARAMETER && HeapSize(h, 0, (void *)p) == (DWORD)-1 &&
            !HeapValidate(h, 0, (void *)p))
            refused++;
    }
    CHECK(NM("%s: old addresses inside new blocks: %d (the test needs some)", what, inside),
          inside > 100);
    CHECK_EQ_U(NM("%s: ... every one refused with ERROR_INVALID_PARAMETER", what), refused, inside);
    for (int i = 0; i < AGAIN_N; i++) {
        const unsigned char *q = (const unsigned char *)again_new[i];
        ok &= HeapSize(h, 0, q) == 64 && q[0] == 0x5A && q[63] == 0x5A;
    }
    CHECK(NM("%s: the new blocks keep their sizes and contents", what), ok);
    CHECK(NM("%s: HeapValidate(h, 0, NULL)", what), HeapValidate(h, 0, NULL));
    for (int i = 0; i < AGAIN_N; i++) ok &= HeapFree(h, 0, (void *)again_new[i]) == TRUE;
    CHECK(NM("%s: the new blocks free", what), ok);
}

static int again_fill(HANDLE h) {
    int ok = 1;
    for (int i = 0; i < AGAIN_N; i++) {
        again_old[i] = (uintptr_t)HeapAlloc(h, 0, 48);
        ok &= again_old[i] != 0;
    }
    return ok;
}

static void test_region_again(void) {
    /* The same heap: the 48-byte blocks freed, their pages and regions given back. */
    HANDLE h = HeapCreate(0, 0, 0);
    CHECK_NE_U("again: HeapCreate", h, NULL);
    if (h == NULL) return;
    CHECK("again: 4000 blocks of 48 bytes (several regions)", again_fill(h));
    int ok = 1;
    for (int i = 0; i < AGAIN_N; i++) ok &= HeapFree(h, 0, (void *)again_old[i]) == TRUE;
    CHECK("again: all freed", ok);
    HeapCompact(h, 0);
    again_check(h, "again, same heap");
    CHECK("again: HeapDestroy", HeapDestroy(h));
    /* A heap destroyed with its 48-byte blocks live, another made in its place. */
    HANDLE h1 = HeapCreate(0, 0, 0);
    CHECK("again: a heap with 4000 live blocks of 48 bytes", h1 != NULL && again_fill(h1));
    CHECK("again: ... destroyed", HeapDestroy(h1));
    HANDLE h2 = HeapCreate(0, 0, 0);
    CHECK_NE_U("again: a new heap", h2, NULL);
    if (h2 == NULL) return;
    again_check(h2, "again, new heap");
    CHECK("again: HeapDestroy of the new heap", HeapDestroy(h2));
}
static void again_child(void *a) { (void)a; test_region_again(); }

/* A growable heap's region (60 KB) ends before its 64 KB granule does: the tables of the last
 * page, which a fixed heap's region (64 KB) made there before used, must hold nothing either. */
static void test_granule_tail(void) {
    HANDLE f = HeapCreate(0, 0x10000, 0x10000);
    CHECK_NE_U("tail: a fixed heap of 64 KB", f, NULL);
    if (f == NULL) return;
    uintptr_t last = 0;
    for (int i = 0; i < 16; i++) {
        uintptr_t p = (uintptr_t)HeapAlloc(f, 0, 4000);
        if (p > last) last = p;
    }
    CHECK("tail: its blocks of 4000 bytes reach its last page", (last & 0xFFFF) == 0xF000);
    CHECK("tail: destroyed with its blocks live", HeapDestroy(f));
    HANDLE g = HeapCreate(0, 0, 0);
    CHECK_NE_U("tail: a growable heap", g, NULL);
    if (g == NULL) return;
    void *q = HeapAlloc(g, 0, 16);
    CHECK("tail: ... whose region is where the fixed heap was (the test needs it)",
          ((uintptr_t)q & ~(uintptr_t)0xFFFF) == (last & ~(uintptr_t)0xFFFF));
    CHECK("tail: a free through the cache", HeapFree(g, 0, q));
    CHECK_RET_ERR("tail: HeapFree of the old block in the granule's last page", HeapFree(g, 0, (void *)last),
                  FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("tail: ... HeapSize", HeapSize(g, 0, (void *)last), (DWORD)-1, ERROR_INVALID_PARAMETER);
    void *x = HeapAlloc(g, 0, 4000);
    CHECK("tail: a block of 4000 bytes", x != NULL);
    if (x != NULL) memset(x, 0xAB, 4000);
    CHECK("tail: HeapValidate(g, 0, NULL)", HeapValidate(g, 0, NULL));
    CHECK("tail: HeapDestroy", HeapDestroy(g));
}
static void tail_child(void *a) { (void)a; test_granule_tail(); }

/* A heap's number comes back when its registry slot is used again: what a destroyed heap's pages
 * say about their owner must not speak for the new heap. A heap is destroyed with 4000 blocks of
 * 48 bytes live; its granules are reserved by the application at once, so that no region is made
 * there; heaps are made and destroyed until one gets the old handle. Every old block is refused by
 * the new heap, and its blocks work. */
enum { RENUMBER_MAX = 20000, RENUMBER_GRANULES = 64 };
static void test_heap_renumbered(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    CHECK("renumbered: a heap with 4000 live blocks of 48 bytes", h != NULL && again_fill(h));
    if (h == NULL) return;
    CHECK("renumbered: ... destroyed", HeapDestroy(h));
    void *kept[RENUMBER_GRANULES];
    int nkept = 0;
    for (int i = 0; i < AGAIN_N && nkept < RENUMBER_GRANULES; i++) {
        uintptr_t g = again_old[i] & ~(uintptr_t)0xFFFF;
        int seen = 0;
        for (int k = 0; k < nkept; k++) seen |= (uintptr_t)kept[k] == g;
        if (seen) continue;
        void *r = VirtualAlloc((void *)g, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
        if (r != NULL) kept[nkept++] = r;
    }
    CHECK("renumbered: its granules reserved by the application", nkept >= 3);
    HANDLE h2 = NULL;
    for (int i = 0; i < RENUMBER_MAX && h2 != h; i++) {
        if (h2 != NULL) HeapDestroy(h2);
        h2 = HeapCreate(0, 0, 0);
        if (h2 == NULL) break;
    }
    CHECK_EQ_U("renumbered: a new heap with the old handle (the test needs it)", h2, h);
    if (h2 != h) return;
    void *q = HeapAlloc(h2, 0, 48);
    CHECK("renumbered: the new heap's first block", q != NULL);
    int refused = 0;
    for (int i = 0; i < AGAIN_N; i++) {
        SetLastError(CHECK_SENTINEL);
        BOOL f = HeapFree(h2, 0, (void *)again_old[i]);
        if (!f && GetLastError() == ERROR_INVALID_PARAMETER) refused++;
    }
    CHECK_EQ_U("renumbered: every old block refused by HeapFree with ERROR_INVALID_PARAMETER", refused,
               AGAIN_N);
    int ok = 1;
    for (int i = 0; i < 200; i++) {
        unsigned char *p = HeapAlloc(h2, 0, 48);
        ok &= p != NULL;
        if (p != NULL) memset(p, 0x3C, 48);
    }
    CHECK("renumbered: 200 new blocks of 48 bytes, written", ok);
    CHECK("renumbered: HeapValidate(h2, 0, NULL)", HeapValidate(h2, 0, NULL));
    CHECK("renumbered: HeapDestroy", HeapDestroy(h2));
    for (int k = 0; k < nkept; k++) VirtualFree(kept[k], 0, MEM_RELEASE);
}
static void renumber_child(void *a) { (void)a; test_heap_renumbered(); }

/* ==================== 12. a guard-exception handler's heap calls ==================== */

/* The application may guard a heap page; the cache's own touch of a block there (a free's tag, an
 * allocation's check of it, a flush at HeapCompact) then raises the guard exception on the thread
 * in the middle of its cache call, and the application's handler may call the heap. Its calls must
 * not find that thread's cache half changed: no block is handed out twice, the heap stays valid,
 * and a handler's call either succeeds or fails with ERROR_INVALID_PARAMETER (when the thread
 * holds the heap's lock at the time). */
static HANDLE gh_heap;
static void *gh_got;
static int gh_calls, gh_bad_error;
static LONG gh_handler(const coredll_exception_info *info) {
    (void)info;
    gh_calls++;
    SetLastError(CHECK_SENTINEL);
    gh_got = HeapAlloc(gh_heap, 0, 48);
    if (gh_got == NULL && GetLastError() != ERROR_INVALID_PARAMETER) gh_bad_error++;
    if (gh_got != NULL) memset(gh_got, 0x77, 48);
    return EXCEPTION_CONTINUE_EXECUTION;
}

/* op 0: HeapFree of a block on the guarded page (the free writes its tag); 1: HeapAlloc that takes
 * a cached block from there (it reads the tag); 2: HeapCompact (it gives the cached blocks back). */
static void guard_case(int op) {
    static const char *const names[] = {"free", "alloc", "HeapCompact"};
    char nm[256];
    gh_heap = HeapCreate(0, 0, 0);
    gh_got = NULL;
    gh_calls = gh_bad_error = 0;
    unsigned char *a[8];
    for (int i = 0; i < 8; i++) {
        a[i] = HeapAlloc(gh_heap, 0, 48);
        memset(a[i], i, 48);
    }
    int same_page = 1;
    for (int i = 1; i < 8; i++) same_page &= ((uintptr_t)a[i] >> 12) == ((uintptr_t)a[0] >> 12);
    CHECK(NM("guard %s: 8 blocks on one page (the test needs it)", names[op]), same_page);
    for (int i = 0; i < 4; i++) HeapFree(gh_heap, 0, a[i]);
    coredll_set_exception_handler(gh_handler);
    DWORD old;
    CHECK(NM("guard %s: the heap page guarded", names[op]),
          VirtualProtect((void *)((uintptr_t)a[0] & ~(uintptr_t)0xFFF), 0x1000, PAGE_READWRITE | PAGE_GUARD, &old));
    unsigned char *mine[16] = {0};
    int n = 0;
    if (op == 0) CHECK(NM("guard %s: HeapFree succeeds", names[op]), HeapFree(gh_heap, 0, a[7]));
    if (op == 1) CHECK(NM("guard %s: HeapAlloc succeeds", names[op]), (mine[n++] = HeapAlloc(gh_heap, 0, 48)) != NULL);
    if (op == 2) HeapCompact(gh_heap, 0);
    coredll_set_exception_handler(NULL);
    CHECK_EQ_U(NM("guard %s: the handler ran once", names[op]), gh_calls, 1);
    CHECK_EQ_U(NM("guard %s: its call failed, if at all, with ERROR_INVALID_PARAMETER", names[op]), gh_bad_error, 0);
    while (n < 8) mine[n++] = HeapAlloc(gh_heap, 0, 48);
    if (gh_got != NULL) mine[n++] = gh_got;
    for (int i = 4; i < 8; i++)
        if (op != 0 || i != 7) mine[n++] = a[i];
    int dup = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) dup += mine[i] != NULL && mine[i] == mine[j];
    CHECK_EQ_U(NM("guard %s: no block handed out twice", names[op]), dup, 0);
    for (int i = 0; i < n; i++)
        if (mine[i] != NULL && mine[i] != gh_got) memset(mine[i], 0x40 + i, 48);
    int ok = gh_got == NULL || ((unsigned char *)gh_got)[0] == 0x77;
    CHECK(NM("guard %s: the handler's block keeps its contents", names[op]), ok);
    CHECK(NM("guard %s: HeapValidate(h, 0, NULL)", names[op]), HeapValidate(gh_heap, 0, NULL));
    CHECK(NM("guard %s: HeapDestroy", names[op]), HeapDestroy(gh_heap));
}
static void guard_child(void *a) { guard_case((int)(intptr_t)a); }

/* A guard handler that leaves by longjmp: on a page of the application's own, the thread keeps
 * its cache (a block freed into it before comes back at HeapCompact); on a heap's page, which
 * sets the thread's cache aside while the handler runs, the cache still goes back when the
 * thread exits. */
static sigjmp_buf gj_jump;
static LONG gj_handler(const coredll_exception_info *info) {
    (void)info;
    siglongjmp(gj_jump, 1);
}
static HANDLE gj_heap;
static unsigned char *gj_block;
static void *gj_body(void *arg) {
    int heap_page = arg != NULL;
    gj_block = HeapAlloc(gj_heap, 0, 48);
    unsigned char *other = HeapAlloc(gj_heap, 0, 48);
    HeapFree(gj_heap, 0, gj_block); /* into this thread's cache */
    unsigned char *g = heap_page ? other : VirtualAlloc(NULL, 4096, MEM_COMMIT, PAGE_READWRITE);
    DWORD old;
    VirtualProtect((void *)((uintptr_t)g & ~(uintptr_t)0xFFF), 0x1000, PAGE_READWRITE | PAGE_GUARD, &old);
    coredll_set_exception_handler(gj_handler);
    if (sigsetjmp(gj_jump, 1) == 0) *(volatile unsigned char *)g = 1;
    coredll_set_exception_handler(NULL);
    return NULL;
}
static void guard_jump_case(int heap_page) {
    char nm[256];
    const char *where = heap_page ? "a heap's page, in a thread that exits" : "an application page";
    gj_heap = HeapCreate(0, 0, 0);
    if (heap_page) {
        pthread_t t;
        pthread_create(&t, NULL, gj_body, (void *)1);
        pthread_join(t, NULL);
    } else {
        gj_body(NULL);
        HeapCompact(gj_heap, 0);
    }
    int found = 0;
    for (int i = 0; i < 5000 && !found; i++) found = HeapAlloc(gj_heap, 0, 48) == gj_block;
    CHECK(NM("guard longjmp, %s: the block cached before comes back", where), found);
    CHECK(NM("guard longjmp, %s: HeapValidate", where), HeapValidate(gj_heap, 0, NULL));
}
static void guard_jump_child(void *a) { guard_jump_case((int)(intptr_t)a); }

/* 13. A thread's cache costs little memory: it is made whole (eight heaps' ways) but only the pages of
 * what the thread uses get touched. Threads that allocate and free two sizes on a heap and on the
 * process heap, then wait, against threads that only wait: the difference in RSS per thread stays
 * small (about 60 KB here; a cache that touched every stack of every way made it over 700 KB), also
 * in later rounds, once caches of exited threads have been freed (allocated with calloc, a new cache
 * then came from glibc's arenas, which cleared all of its 1 MB). */
enum { RSS_THREADS = 32 };

static HANDLE rss_heap;
static pthread_barrier_t rss_ready, rss_done;

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

static void *rss_thread(void *use_heap) {
    if (use_heap) {
        HeapFree(rss_heap, 0, HeapAlloc(rss_heap, 0, 64));
        HeapFree(rss_heap, 0, HeapAlloc(rss_heap, 0, 200));
        LocalFree(LocalAlloc(LMEM_FIXED, 32));
    }
    pthread_barrier_wait(&rss_ready);
    pthread_barrier_wait(&rss_done);
    return NULL;
}

/* RSS growth in KB per thread while RSS_THREADS threads that do (or not) use the heaps wait. */
static long rss_per_thread(int use_heap) {
    pthread_t th[RSS_THREADS];
    pthread_barrier_init(&rss_ready, NULL, RSS_THREADS + 1);
    pthread_barrier_init(&rss_done, NULL, RSS_THREADS + 1);
    long before = rss_kb();
    for (int i = 0; i < RSS_THREADS; i++)
        if (pthread_create(&th[i], NULL, rss_thread, use_heap ? (void *)1 : NULL) != 0) abort();
    pthread_barrier_wait(&rss_ready);
    long during = rss_kb();
    pthread_barrier_wait(&rss_done);
    for (int i = 0; i < RSS_THREADS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&rss_ready);
    pthread_barrier_destroy(&rss_done);
    return (during - before) / RSS_THREADS;
}

static void test_cache_rss(void) {
    char nm[256];
    rss_heap = HeapCreate(0, 0, 0);
    CHECK_NE_U("cache RSS: fresh heap", rss_heap, NULL);
    if (rss_heap == NULL) return;
    HeapFree(rss_heap, 0, HeapAlloc(rss_heap, 0, 64));
    for (int round = 1; round <= 3; round++) {
        long plain = rss_per_thread(0), cached = rss_per_thread(1);
        CHECK(NM("cache RSS, round %d: a thread that uses two heaps costs < 160 KB more than one that "
                 "does not (%ld KB against %ld KB)",
                 round, cached, plain),
              plain >= 0 && cached - plain < 160);
    }
    HeapDestroy(rss_heap);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--oom") == 0) return oom_run();
    check_child("1. double free: never a crash", double_free_child, NULL);
    check_child("2. exact sizes: never a crash", exact_child, NULL);
    check_child("3. cross-thread: never a crash", cross_child, NULL);
    check_child("3b. racing double free: never a crash", race_child, NULL);
    check_child("4. HeapWalk/toolhelp: never a crash", walk_child, NULL);
    check_child("5a. use after free in main: never a crash", uaf_main_child, NULL);
    check_child("5b. use after free in a thread: never a crash", uaf_thread_child, NULL);
    check_child("6. thread exit: never a crash", exit_child, NULL);
    check_child("6b. thread exit while the heap is locked: never a crash", exit_locked_child, NULL);
    check_child("6c. another heap's slot while that heap is locked: never a crash", evict_child, NULL);
    check_child("7. HeapDestroy meanwhile: never a crash", destroy_child, NULL);
    check_child("8. HeapLock: never a crash", lock_child, NULL);
    test_oom();
    check_child("10. fixed heap: never a crash", fixed_child, NULL);
    check_child("11. pages and regions made again: never a crash", again_child, NULL);
    check_child("11b. a region's granule past its end: never a crash", tail_child, NULL);
    check_child("11c. a heap's number used again: never a crash", renumber_child, NULL);
    check_child("12a. a guard handler's heap call during a free: never a crash", guard_child, (void *)0);
    check_child("12b. ... during an allocation: never a crash", guard_child, (void *)1);
    check_child("12c. ... during HeapCompact: never a crash", guard_child, (void *)2);
    check_child("12d. a guard handler's longjmp: never a crash", guard_jump_child, (void *)0);
    check_child("12e. ... on a heap's page: never a crash", guard_jump_child, (void *)1);
    test_cache_rss();
    return check_summary();
}
