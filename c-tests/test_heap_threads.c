/* Heaps under threads (ce6 profile): spec3.md "every heap is serialized whatever the flags" (CONTRACT.md
 * "Heaps"). Four threads on one shared heap, on private heaps, and on the process heap through LocalAlloc;
 * random sizes (some big blocks), per-(thread, seq) patterns verified before every free and at the end,
 * blocks handed to other threads to free through mutex-protected queues. */
#include "check.h"

#include <pthread.h>

#define NT 4
#define LIVE 300
#define QCAP 4096
#define FOUR_GB 0x100000000ull

static DWORD r8(DWORD n) { return n == 0 ? 8u : (DWORD)(((uint64_t)n + 7) & ~7ull); }

static uint64_t pw(uint64_t seed, size_t i) {
    uint64_t x = (seed + 1) * 0x9E3779B97F4A7C15ull + (uint64_t)i * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 31;
    return x * 0x94D049BB133111EBull;
}

enum mode { SHARED, PRIVATE, LOCAL };

struct blk {
    uint64_t *p;
    DWORD size; /* HeapSize */
    HANDLE heap;
    uint64_t seed; /* (thread << 32) | seq */
};

struct queue {
    pthread_mutex_t mu;
    struct blk b[QCAP];
    int n;
};

struct thr {
    int id;
    enum mode mode;
    HANDLE heap; /* shared or private heap; unused for LOCAL */
    long ops;
    uint64_t rng;
    struct blk live[LIVE];
    int nlive;
    /* results */
    long errors, allocs, frees, handed, received, reallocs, bigs;
    char first_error[200];
};

static struct queue queues[NT];
static struct thr thr[NT];

static uint64_t trnd(struct thr *t) {
    uint64_t x = t->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return t->rng = x;
}

static void terr(struct thr *t, const char *what, const void *p, uint64_t a) {
    if (t->errors++ == 0)
        snprintf(t->first_error, sizeof t->first_error, "thread %d: %s (ptr %p, value %" PRIu64 ")", t->id, what, p, a);
}

static void pat_fill(const struct blk *b) {
    for (size_t i = 0; i < b->size / 8; i++) b->p[i] = pw(b->seed, i);
}

static int pat_ok(const struct blk *b) {
    for (size_t i = 0; i < b->size / 8; i++)
        if (b->p[i] != pw(b->seed, i)) return 0;
    return 1;
}

static DWORD size_of(enum mode m, HANDLE h, const void *p) { return m == LOCAL ? LocalSize((HLOCAL)p) : HeapSize(h, 0, p); }

static void free_blk(struct thr *t, const struct blk *b) {
    if (!pat_ok(b)) terr(t, "pattern damaged before free", b->p, b->seed);
    if (size_of(t->mode, b->heap, b->p) != b->size) terr(t, "HeapSize changed before free", b->p, b->size);
    if (t->mode == LOCAL) {
        if (LocalFree(b->p) != NULL) terr(t, "LocalFree failed", b->p, GetLastError());
    } else if (HeapFree(b->heap, 0, b->p) != TRUE) {
        terr(t, "HeapFree failed", b->p, GetLastError());
    }
    t->frees++;
}

static void drain(struct thr *t) {
    struct queue *q = &queues[t->id];
    struct blk local[64];
    for (;;) {
        int n = 0;
        pthread_mutex_lock(&q->mu);
        while (q->n > 0 && n < 64) local[n++] = q->b[--q->n];
        pthread_mutex_unlock(&q->mu);
        if (n == 0) break;
        for (int i = 0; i < n; i++) {
            free_blk(t, &local[i]);
            t->received++;
        }
    }
}

static void *worker(void *arg) {
    struct thr *t = arg;
    uint64_t seq = 0;
    for (long op = 0; op < t->ops; op++) {
        uint64_t r = trnd(t) % 100;
        if (t->nlive == 0 || (r < 50 && t->nlive < LIVE)) {
            DWORD n = trnd(t) % 100 == 0 ? 20000 + (DWORD)(trnd(t) % 180001) : 1 + (DWORD)(trnd(t) % 2000);
            int zero = trnd(t) % 4 == 0;
            void *p = t->mode == LOCAL ? LocalAlloc(zero ? LPTR : LMEM_FIXED, n)
                                       : HeapAlloc(t->heap, zero ? HEAP_ZERO_MEMORY : 0, n);
            if (p == NULL) {
                terr(t, "allocation failed", NULL, GetLastError());
                continue;
            }
            t->allocs++;
            if (n > 16384) t->bigs++;
            if ((U64(p) & 15) != 0 || U64(p) + n > FOUR_GB) terr(t, "misaligned or above 4 GB", p, n);
            struct blk *b = &t->live[t->nlive++];
            b->p = p;
            b->size = r8(n);
            b->heap = t->mode == LOCAL ? GetProcessHeap() : t->heap;
            b->seed = ((uint64_t)t->id << 32) | ++seq;
            DWORD s = size_of(t->mode, b->heap, p);
            if (s != b->size) terr(t, "HeapSize != n rounded up to 8", p, s);
            if (zero)
                for (size_t k = 0; k < b->size / 8; k++)
                    if (b->p[k] != 0) {
                        terr(t, "HEAP_ZERO_MEMORY/LPTR block not zero", p, k);
                        break;
                    }
            pat_fill(b);
        } else {
            int i = (int)(trnd(t) % (uint64_t)t->nlive);
            struct blk b = t->live[i];
            if (r < 60) { /* realloc */
                if (!pat_ok(&b)) terr(t, "pattern damaged before realloc", b.p, b.seed);
                DWORD n = 1 + (DWORD)(trnd(t) % 3000);
                void *np = t->mode == LOCAL ? LocalReAlloc(b.p, n, LMEM_MOVEABLE) : HeapReAlloc(b.heap, 0, b.p, n);
                if (np == NULL) {
                    terr(t, "realloc failed", b.p, GetLastError());
                    continue;
                }
                t->reallocs++;
                DWORD keep = r8(n) < b.size ? r8(n) : b.size;
                uint64_t *w = np;
                for (size_t k = 0; k < keep / 8; k++)
                    if (w[k] != pw(b.seed, k)) {
                        terr(t, "realloc lost contents", np, k);
                        break;
                    }
                b.p = np;
                b.size = r8(n);
                b.seed = ((uint64_t)t->id << 32) | ++seq;
                if (size_of(t->mode, b.heap, np) != b.size) terr(t, "HeapSize wrong after realloc", np, b.size);
                pat_fill(&b);
                t->live[i] = b;
                continue;
            }
            t->live[i] = t->live[--t->nlive];
            if (r < 75) { /* hand it to another thread */
                if (!pat_ok(&b)) terr(t, "pattern damaged before handing over", b.p, b.seed);
                int to = (t->id + 1 + (int)(trnd(t) % (NT - 1))) % NT;
                struct queue *q = &queues[to];
                pthread_mutex_lock(&q->mu);
                int ok = q->n < QCAP;
                if (ok) q->b[q->n++] = b;
                pthread_mutex_unlock(&q->mu);
                if (ok)
                    t->handed++;
                else
                    free_blk(t, &b);
            } else {
                free_blk(t, &b);
            }
        }
        if ((op & 63) == 0) drain(t);
    }
    drain(t);
    for (int i = 0; i < t->nlive; i++)
        if (!pat_ok(&t->live[i])) terr(t, "pattern damaged at the end", t->live[i].p, t->live[i].seed);
    return NULL;
}

static int cmp_blk(const void *x, const void *y) {
    const struct blk *a = x, *b = y;
    return U64(a->p) < U64(b->p) ? -1 : U64(a->p) > U64(b->p);
}

static void run_phase(enum mode mode, long ops, const char *name) {
    HANDLE shared = mode == SHARED ? HeapCreate(0, 0, 0) : NULL;
    char nm[300];
    for (int i = 0; i < NT; i++) {
        pthread_mutex_init(&queues[i].mu, NULL);
        queues[i].n = 0;
        memset(&thr[i], 0, sizeof thr[i]);
        thr[i].id = i;
        thr[i].mode = mode;
        thr[i].ops = ops;
        thr[i].rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1) + (uint64_t)mode;
        thr[i].heap = mode == SHARED ? shared : mode == PRIVATE ? HeapCreate(i % 2 ? HEAP_NO_SERIALIZE : 0, 0, 0) : NULL;
    }
    int heaps_ok = 1;
    for (int i = 0; i < NT; i++) heaps_ok &= mode == LOCAL || thr[i].heap != NULL;
    snprintf(nm, sizeof nm, "%s: heaps created", name);
    CHECK(nm, heaps_ok);
    if (!heaps_ok) return;
    pthread_t tid[NT];
    int started = 0;
    for (int i = 0; i < NT; i++) started += pthread_create(&tid[i], NULL, worker, &thr[i]) == 0;
    snprintf(nm, sizeof nm, "%s: %d threads started", name, NT);
    CHECK(nm, started == NT);
    for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
    long errors = 0, allocs = 0, frees = 0, handed = 0, received = 0, reallocs = 0, bigs = 0;
    for (int i = 0; i < NT; i++) {
        errors += thr[i].errors;
        allocs += thr[i].allocs;
        frees += thr[i].frees;
        handed += thr[i].handed;
        received += thr[i].received;
        reallocs += thr[i].reallocs;
        bigs += thr[i].bigs;
        if (thr[i].errors) printf("       %s: %s (%ld errors)\n", name, thr[i].first_error, thr[i].errors);
    }
    snprintf(nm, sizeof nm, "%s: no thread saw a wrong size, lost pattern or failed call (%ld allocs, %ld big, %ld "
                            "reallocs, %ld frees, %ld handed over)",
             name, allocs, bigs, reallocs, frees, handed);
    CHECK(nm, errors == 0);
    snprintf(nm, sizeof nm, "%s: every operation kind ran (cross-thread frees %ld)", name, received);
    CHECK(nm, allocs > 1000 && bigs > 10 && reallocs > 100 && received > 100);
    /* Whatever is left: still-queued blocks and each thread's live set, none overlapping. */
    static struct blk all[NT * (LIVE + QCAP)];
    size_t n = 0;
    for (int i = 0; i < NT; i++) {
        for (int k = 0; k < thr[i].nlive; k++) all[n++] = thr[i].live[k];
        for (int k = 0; k < queues[i].n; k++) all[n++] = queues[i].b[k];
    }
    qsort(all, n, sizeof all[0], cmp_blk);
    int overlap = 0, damaged = 0, freed = 0;
    for (size_t k = 0; k < n; k++) {
        if (k > 0 && U64(all[k - 1].p) + all[k - 1].size > U64(all[k].p)) overlap++;
        if (!pat_ok(&all[k])) damaged++;
    }
    snprintf(nm, sizeof nm, "%s: the %zu blocks left at the end do not overlap", name, n);
    CHECK(nm, overlap == 0);
    snprintf(nm, sizeof nm, "%s: the blocks left at the end keep their patterns", name);
    CHECK(nm, damaged == 0);
    for (size_t k = 0; k < n; k++)
        freed += mode == LOCAL ? LocalFree(all[k].p) == NULL : HeapFree(all[k].heap, 0, all[k].p) == TRUE;
    snprintf(nm, sizeof nm, "%s: the blocks left at the end free", name);
    CHECK(nm, (size_t)freed == n);
    for (int i = 0; i < NT; i++) {
        HANDLE h = mode == LOCAL ? GetProcessHeap() : thr[i].heap;
        if (mode == SHARED && i > 0) break;
        snprintf(nm, sizeof nm, "%s: HeapValidate(heap %d, 0, NULL) TRUE at the end", name, i);
        CHECK_RET_ERR(nm, HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);
        if (mode != LOCAL) {
            snprintf(nm, sizeof nm, "%s: HeapDestroy(heap %d)", name, i);
            CHECK_RET_ERR(nm, HeapDestroy(h), TRUE, LE_UNTOUCHED);
        }
        if (mode == LOCAL) break;
    }
    for (int i = 0; i < NT; i++) pthread_mutex_destroy(&queues[i].mu);
}

static void shared_child(void *arg) { run_phase(SHARED, *(long *)arg, "shared heap, 4 threads"); }
static void private_child(void *arg) { run_phase(PRIVATE, *(long *)arg, "private heaps, 4 threads, cross-thread frees"); }
static void local_child(void *arg) { run_phase(LOCAL, *(long *)arg, "LocalAlloc from 4 threads"); }

/* A heap releasing its big blocks while another thread reserves the same amount with
 * VirtualAlloc: the heap must never release or decommit memory that is no longer its own. */
static volatile int release_stop;
static void *release_loop(void *arg) {
    (void)arg;
    HANDLE h = HeapCreate(0, 0, 0);
    while (!release_stop) {
        char *p = HeapAlloc(h, 0, 5u << 20); /* too big for the heap's cache: every free releases */
        if (p != NULL) {
            p[0] = 1;
            HeapFree(h, 0, p);
        }
    }
    HeapDestroy(h);
    return NULL;
}
static void release_race_child(void *arg) {
    (void)arg;
    pthread_t t;
    pthread_create(&t, NULL, release_loop, NULL);
    int lost = 0, rounds = 0;
    for (int i = 0; i < 1500; i++) {
        unsigned char *q = VirtualAlloc(NULL, 5u << 20, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        if (q == NULL) continue;
        rounds++;
        q[0] = 0x5A;
        q[(5u << 20) - 1] = 0x5A;
        for (volatile int k = 0; k < 2000; k++) {
        }
        MEMORY_BASIC_INFORMATION mb;
        if (VirtualQuery(q, &mb, sizeof mb) != sizeof mb || mb.State != MEM_COMMIT ||
            mb.AllocationBase != q || q[0] != 0x5A || q[(5u << 20) - 1] != 0x5A)
            lost++;
        VirtualFree(q, 0, MEM_RELEASE);
    }
    release_stop = 1;
    pthread_join(t, NULL);
    CHECK("release race: VirtualAlloc ran", rounds > 100);
    CHECK_EQ_U("release race: no VirtualAlloc block taken away by a heap's release", lost, 0);
}

int main(void) {
    check_child("release race: never a crash", release_race_child, NULL);
    long ops = 25000;
    check_child("shared heap stress: never a crash", shared_child, &ops);
    check_child("private heaps stress: never a crash", private_child, &ops);
    check_child("LocalAlloc stress: never a crash", local_child, &ops);
    return check_summary();
}
