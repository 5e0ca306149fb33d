/* Heap misuse never crashes (ce6 profile): spec3.md "Validation and errors", CONTRACT.md "Heaps"
 * ("never a crash"). Wild/interior/freed/foreign pointers and bad heap handles for every API, double
 * frees, an overrun that tramples a free neighbour, and a random alloc/realloc/free torture. */
#include "check.h"
#include "heap_util.h"


static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void) {
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static int static_var[64];
static void some_function(void) {}

/* ---- wild pointers ---------------------------------------------------------------------------- */

struct wild {
    void *p;
    const char *name;
};

/* Pointers that are not a live block start of heap h: NULL, low, odd, interior, freed, another heap's,
 * stack, static, malloc'd, code, unmapped, reserved, plain VirtualAlloc'd. `live`/`big` are live blocks of h,
 * `freed`/`freed_big` freed ones, `other` a block of another heap. */
static int make_wild(struct wild *w, char *live, char *big, char *freed, char *freed_big, char *other, void *stack,
                     void *mallocd, char *reserved, char *committed, HANDLE h) {
    int n = 0;
#define W(ptr, nm) (w[n].p = (void *)(ptr), w[n].name = (nm), n++)
    W(NULL, "NULL");
    W(1, "(void*)1");
    W(0x8000, "(void*)0x8000");
    W(0xFFFF, "(void*)0xFFFF");
    W(live + 1, "odd: live+1");
    W(live + 3, "odd: live+3");
    W(live + 7, "odd: live+7");
    W(live + 8, "interior: live+8");
    W(live + 16, "interior: live+16");
    W(live + 48, "interior: live+48");
    W(live - 16, "just before a live block");
    W(big + 8, "interior of a big block +8");
    W(big + 16, "interior of a big block +16");
    W(big + 4096, "interior of a big block +4096");
    W(freed, "freed block");
    W(freed_big, "freed big block");
    W(other, "block of another heap");
    W(stack, "stack address");
    W(static_var, "static array");
    W(mallocd, "malloc'd pointer");
    W((void *)(uintptr_t)some_function, "code address");
    W(0x7fff00000000ull, "unmapped (void*)0x7fff00000000");
    W(0xFFFFFFF0ull, "(void*)0xFFFFFFF0");
    W(UINTPTR_MAX - 15, "(void*)UINTPTR_MAX-15");
    W(UINTPTR_MAX, "(void*)UINTPTR_MAX");
    W(0xffff800000000000ull, "kernel address");
    W(reserved, "reserved, uncommitted window page");
    W(reserved + 0x1010, "inside a reserved range");
    W(committed, "committed VirtualAlloc page (not heap)");
    W(committed + 16, "committed VirtualAlloc page + 16");
    W(h, "the heap handle value");
    W((char *)h + 16, "heap handle + 16");
#undef W
    return n;
}

struct wild_ctx {
    HANDLE h;
    char *live, *big, *freed, *freed_big, *other;
    char *llive, *lbig, *lfreed, *lfreed_big, *lother; /* process heap (Local*) set */
    char *reserved, *committed;
    void *mallocd;
};

static void wild_batch(void *arg) {
    struct wild_ctx *c = arg;
    int stack_var[16];
    memset(stack_var, 0x11, sizeof stack_var);
    struct wild w[64];
    char nm[200];
    int n = make_wild(w, c->live, c->big, c->freed, c->freed_big, c->other, stack_var, c->mallocd, c->reserved,
                      c->committed, c->h);
    for (int i = 0; i < n; i++) {
        snprintf(nm, sizeof nm, "HeapFree(%s) -> FALSE, ERROR_INVALID_PARAMETER", w[i].name);
        CHECK_RET_ERR(nm, HeapFree(c->h, 0, w[i].p), FALSE, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "HeapSize(%s) -> -1, ERROR_INVALID_PARAMETER", w[i].name);
        CHECK_RET_ERR(nm, HeapSize(c->h, 0, w[i].p), (DWORD)-1, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "HeapReAlloc(%s, 32) -> NULL, ERROR_INVALID_PARAMETER", w[i].name);
        CHECK_RET_ERR(nm, HeapReAlloc(c->h, 0, w[i].p, 32), NULL, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "HeapReAlloc(IN_PLACE_ONLY|ZERO, %s, 8) -> NULL, ERROR_INVALID_PARAMETER", w[i].name);
        CHECK_RET_ERR(nm, HeapReAlloc(c->h, HEAP_REALLOC_IN_PLACE_ONLY | HEAP_ZERO_MEMORY, w[i].p, 8), NULL,
                      ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "HeapValidate(%s) -> FALSE, last error untouched", w[i].name);
        if (w[i].p != NULL) CHECK_RET_ERR(nm, HeapValidate(c->h, 0, w[i].p), FALSE, LE_UNTOUCHED);
    }
    n = make_wild(w, c->llive, c->lbig, c->lfreed, c->lfreed_big, c->lother, stack_var, c->mallocd, c->reserved,
                  c->committed, GetProcessHeap());
    for (int i = 0; i < n; i++) {
        if (w[i].p == NULL) {
            CHECK_RET_ERR("LocalFree(NULL) -> NULL, last error untouched", LocalFree(NULL), NULL, LE_UNTOUCHED);
        } else {
            snprintf(nm, sizeof nm, "LocalFree(%s) -> the pointer, ERROR_INVALID_PARAMETER", w[i].name);
            CHECK_RET_ERR(nm, LocalFree(w[i].p), w[i].p, ERROR_INVALID_PARAMETER);
        }
        snprintf(nm, sizeof nm, "LocalSize(%s) -> 0, ERROR_INVALID_PARAMETER", w[i].name);
        CHECK_RET_ERR(nm, LocalSize(w[i].p), 0, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "LocalReAlloc(%s, 32, LMEM_MOVEABLE) -> NULL, ERROR_INVALID_PARAMETER", w[i].name);
        CHECK_RET_ERR(nm, LocalReAlloc(w[i].p, 32, LMEM_MOVEABLE), NULL, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "LocalReAlloc(%s, 8, 0) -> NULL, ERROR_INVALID_PARAMETER", w[i].name);
        CHECK_RET_ERR(nm, LocalReAlloc(w[i].p, 8, 0), NULL, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "HeapFree(GetProcessHeap(), %s) -> FALSE, ERROR_INVALID_PARAMETER", w[i].name);
        CHECK_RET_ERR(nm, HeapFree(GetProcessHeap(), 0, w[i].p), FALSE, ERROR_INVALID_PARAMETER);
    }
    /* Nothing was harmed. */
    CHECK("the live blocks of h keep size and contents after the wild batch",
          HeapSize(c->h, 0, c->live) == 64 && pat_ok(c->live, 64, 1) && HeapSize(c->h, 0, c->big) == 20000 &&
              pat_ok(c->big, 20000, 2));
    CHECK("the live LocalAlloc blocks keep size and contents after the wild batch",
          LocalSize(c->llive) == 64 && pat_ok(c->llive, 64, 3) && LocalSize(c->lbig) == 20000 && pat_ok(c->lbig, 20000, 4));
    CHECK_RET_ERR("HeapValidate(h, 0, NULL) TRUE after the wild batch", HeapValidate(c->h, 0, NULL), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("HeapValidate(process heap, 0, NULL) TRUE after the wild batch",
                  HeapValidate(GetProcessHeap(), 0, NULL), TRUE, LE_UNTOUCHED);
    CHECK("the stack, static, malloc'd and VirtualAlloc'd memory is untouched",
          stack_var[3] == 0x11111111 && static_var[5] == 0x22222222 && ((int *)c->mallocd)[2] == 0x33333333 &&
              check_bytes_are(c->committed, 4096, 0x44));
    int ok = 1;
    char *q[100];
    for (int i = 0; i < 100; i++) {
        q[i] = HeapAlloc(c->h, 0, (DWORD)(i * 37 % 3000));
        ok &= q[i] != NULL && pat_fill(q[i], r8((DWORD)(i * 37 % 3000)), 50 + (uint64_t)i);
    }
    for (int i = 0; i < 100; i++) ok &= pat_ok(q[i], r8((DWORD)(i * 37 % 3000)), 50 + (uint64_t)i);
    for (int i = 0; i < 100; i++) ok &= HeapFree(c->h, 0, q[i]) == TRUE;
    CHECK("h is fully usable after the wild batch (100 alloc/fill/verify/free)", ok);
    char *l = LocalAlloc(LPTR, 500);
    CHECK("the process heap is fully usable after the wild batch", l != NULL && check_bytes_are(l, 504, 0) &&
                                                                     LocalFree(l) == NULL);
}

static void test_wild(void) {
    struct wild_ctx c;
    memset(&c, 0, sizeof c);
    c.h = HeapCreate(0, 0, 0);
    HANDLE h2 = HeapCreate(0, 0, 0);
    CHECK("heaps for the wild-pointer batch", c.h != NULL && h2 != NULL);
    if (c.h == NULL || h2 == NULL) return;
    c.live = HeapAlloc(c.h, 0, 64);
    c.big = HeapAlloc(c.h, 0, 20000);
    c.freed = HeapAlloc(c.h, 0, 64);
    c.freed_big = HeapAlloc(c.h, 0, 30000);
    c.other = HeapAlloc(h2, 0, 64);
    c.llive = LocalAlloc(0, 64);
    c.lbig = LocalAlloc(0, 20000);
    c.lfreed = LocalAlloc(0, 64);
    c.lfreed_big = LocalAlloc(0, 30000);
    c.lother = HeapAlloc(h2, 0, 64);
    c.reserved = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    c.committed = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    c.mallocd = malloc(256);
    CHECK("blocks for the wild-pointer batch",
          c.live && c.big && c.freed && c.freed_big && c.other && c.llive && c.lbig && c.lfreed && c.lfreed_big &&
              c.lother && c.reserved && c.committed && c.mallocd);
    if (!(c.live && c.big && c.freed && c.freed_big && c.other && c.llive && c.lbig && c.lfreed && c.lfreed_big &&
          c.lother && c.reserved && c.committed && c.mallocd))
        return;
    pat_fill(c.live, 64, 1);
    pat_fill(c.big, 20000, 2);
    pat_fill(c.llive, 64, 3);
    pat_fill(c.lbig, 20000, 4);
    for (int i = 0; i < 64; i++) static_var[i] = 0x22222222;
    for (int i = 0; i < 64; i++) ((int *)c.mallocd)[i] = 0x33333333;
    fill(c.committed, 0x44, 4096);
    CHECK_RET_ERR("free the block that becomes the 'freed' pointer", HeapFree(c.h, 0, c.freed), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("free the big block that becomes the 'freed big' pointer", HeapFree(c.h, 0, c.freed_big), TRUE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("LocalFree the 'freed' LocalAlloc block", LocalFree(c.lfreed), NULL, LE_UNTOUCHED);
    CHECK_RET_ERR("LocalFree the 'freed big' LocalAlloc block", LocalFree(c.lfreed_big), NULL, LE_UNTOUCHED);
    int before = check_failed_;
    check_child("wild-pointer batch in a child: never a crash", wild_batch, &c);
    if (check_failed_ == before)
        wild_batch(&c); /* and once more in this process, now that the child proved it does not crash */
    else
        CHECK("wild-pointer batch skipped in the parent because the child failed", 0);
    free(c.mallocd);
    VirtualFree(c.reserved, 0, MEM_RELEASE);
    VirtualFree(c.committed, 0, MEM_RELEASE);
    LocalFree(c.llive);
    LocalFree(c.lbig);
    HeapDestroy(c.h);
    HeapDestroy(h2);
}

/* ---- bad heap handles ------------------------------------------------------------------------- */

struct bad_ctx {
    HANDLE good;
    char *block;
};

static void bad_handles_batch(void *arg) {
    struct bad_ctx *c = arg;
    HANDLE dead = HeapCreate(0, 0, 0);
    char *dead_block = dead != NULL ? HeapAlloc(dead, 0, 100) : NULL;
    CHECK("a heap to destroy", dead != NULL && dead_block != NULL);
    CHECK_RET_ERR("destroy it", HeapDestroy(dead), TRUE, LE_UNTOUCHED);
    /* A block holding a copy of the real heap handle's first bytes, used as a handle. */
    char *mimic = HeapAlloc(c->good, 0, 512);
    char copy[512];
    memset(copy, 0, sizeof copy);
    if (!safe_read(copy, c->good, sizeof copy)) memset(copy, 0, sizeof copy);
    if (mimic != NULL) safe_write(mimic, copy, sizeof copy);
    int stack_var = 5;
    void *m = malloc(512);
    if (m != NULL) memcpy(m, copy, sizeof copy);
    struct {
        HANDLE h;
        const char *name;
    } bad[] = {
        {NULL, "NULL"},
        {(HANDLE)1, "(HANDLE)1"},
        {(HANDLE)0x1234, "(HANDLE)0x1234"},
        {INVALID_HANDLE_VALUE, "INVALID_HANDLE_VALUE"},
        {dead, "destroyed heap"},
        {(HANDLE)c->block, "a live block of a heap"},
        {(HANDLE)mimic, "a block holding a copy of a heap handle's bytes"},
        {(HANDLE)m, "malloc'd copy of a heap handle's bytes"},
        {(HANDLE)&stack_var, "stack address"},
        {(HANDLE)static_var, "static array"},
        {(HANDLE)0x7fff00000000ull, "unmapped (HANDLE)0x7fff00000000"},
        {(HANDLE)((char *)c->good + 1), "heap handle + 1"},
        {(HANDLE)((char *)c->good + 8), "heap handle + 8"},
        {(HANDLE)((char *)c->good - 16), "heap handle - 16"},
        {(HANDLE)(uintptr_t)some_function, "code address"},
        {(HANDLE)(UINTPTR_MAX - 7), "(HANDLE)UINTPTR_MAX-7"},
    };
    char nm[200];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        HANDLE h = bad[i].h;
        const char *s = bad[i].name;
#define BADCHK(fmt, expr, ret, err)                    \
    do {                                               \
        snprintf(nm, sizeof nm, fmt, s);               \
        CHECK_RET_ERR(nm, expr, ret, err);             \
    } while (0)
        BADCHK("HeapAlloc(%s) -> NULL, ERROR_INVALID_PARAMETER", HeapAlloc(h, 0, 10), NULL, ERROR_INVALID_PARAMETER);
        BADCHK("HeapAlloc(%s, HEAP_ZERO_MEMORY, 20000) -> NULL, ERROR_INVALID_PARAMETER",
               HeapAlloc(h, HEAP_ZERO_MEMORY, 20000), NULL, ERROR_INVALID_PARAMETER);
        BADCHK("HeapAllocTrace(%s) -> NULL, ERROR_INVALID_PARAMETER", HeapAllocTrace(h, 0, 10, 1, NULL), NULL,
               ERROR_INVALID_PARAMETER);
        BADCHK("HeapReAlloc(%s, good block) -> NULL, ERROR_INVALID_PARAMETER", HeapReAlloc(h, 0, c->block, 32), NULL,
               ERROR_INVALID_PARAMETER);
        BADCHK("HeapFree(%s, good block) -> FALSE, ERROR_INVALID_PARAMETER", HeapFree(h, 0, c->block), FALSE,
               ERROR_INVALID_PARAMETER);
        BADCHK("HeapSize(%s, good block) -> -1, ERROR_INVALID_PARAMETER", HeapSize(h, 0, c->block), (DWORD)-1,
               ERROR_INVALID_PARAMETER);
        BADCHK("HeapValidate(%s, NULL) -> FALSE, last error untouched", HeapValidate(h, 0, NULL), FALSE, LE_UNTOUCHED);
        BADCHK("HeapValidate(%s, good block) -> FALSE, last error untouched", HeapValidate(h, 0, c->block), FALSE,
               LE_UNTOUCHED);
        BADCHK("HeapCompact(%s) -> 0, ERROR_INVALID_PARAMETER", HeapCompact(h, 0), 0, ERROR_INVALID_PARAMETER);
        BADCHK("HeapLock(%s) -> FALSE, ERROR_INVALID_PARAMETER", HeapLock(h), FALSE, ERROR_INVALID_PARAMETER);
        BADCHK("HeapUnlock(%s) -> FALSE, ERROR_INVALID_PARAMETER", HeapUnlock(h), FALSE, ERROR_INVALID_PARAMETER);
        PROCESS_HEAP_ENTRY e;
        memset(&e, 0, sizeof e);
        BADCHK("HeapWalk(%s) -> FALSE, ERROR_INVALID_PARAMETER", HeapWalk(h, &e), FALSE, ERROR_INVALID_PARAMETER);
        BADCHK("HeapDestroy(%s) -> FALSE, ERROR_INVALID_PARAMETER", HeapDestroy(h), FALSE, ERROR_INVALID_PARAMETER);
#undef BADCHK
    }
    CHECK("the good heap's block is untouched after the bad-handle batch",
          HeapSize(c->good, 0, c->block) == 64 && pat_ok(c->block, 64, 77) && HeapValidate(c->good, 0, c->block) == TRUE);
    CHECK("the mimic block is untouched", mimic != NULL && mem_equals(mimic, copy, sizeof copy));
    CHECK_RET_ERR("the good heap is healthy", HeapValidate(c->good, 0, NULL), TRUE, LE_UNTOUCHED);
    char *x = HeapAlloc(c->good, 0, 100);
    CHECK("the good heap still allocates and frees", x != NULL && HeapFree(c->good, 0, x) == TRUE);
    HeapFree(c->good, 0, mimic);
    free(m);
}

static void test_bad_handles(void) {
    struct bad_ctx c;
    c.good = HeapCreate(0, 0, 0);
    c.block = c.good != NULL ? HeapAlloc(c.good, 0, 64) : NULL;
    CHECK("a good heap and block", c.good != NULL && c.block != NULL);
    if (c.block == NULL) return;
    pat_fill(c.block, 64, 77);
    int before = check_failed_;
    check_child("bad heap handles in a child: never a crash", bad_handles_batch, &c);
    if (check_failed_ == before) bad_handles_batch(&c);
    HeapDestroy(c.good);
}

/* ---- flags on the pointer APIs, double frees --------------------------------------------------- */

static void test_double_free(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    if (h == NULL) return;
    char *a = HeapAlloc(h, 0, 40), *n1 = HeapAlloc(h, 0, 40), *b = HeapAlloc(h, 0, 50000);
    pat_fill(n1, 40, 9);
    CHECK_RET_ERR("HeapFree(HEAP_ZERO_MEMORY flag) -> FALSE, ERROR_INVALID_PARAMETER", HeapFree(h, HEAP_ZERO_MEMORY, a),
                  FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapFree(HEAP_GENERATE_EXCEPTIONS) -> FALSE, ERROR_INVALID_PARAMETER",
                  HeapFree(h, HEAP_GENERATE_EXCEPTIONS, a), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("the block is still live after the refused frees", HeapValidate(h, 0, a), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("HeapSize(HEAP_ZERO_MEMORY flag) -> -1, ERROR_INVALID_PARAMETER", HeapSize(h, HEAP_ZERO_MEMORY, a),
                  (DWORD)-1, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapSize(HEAP_NO_SERIALIZE) -> 40", HeapSize(h, HEAP_NO_SERIALIZE, a), 40, LE_UNTOUCHED);
    CHECK_RET_ERR("HeapValidate(HEAP_ZERO_MEMORY flag, live block) -> FALSE, last error untouched",
                  HeapValidate(h, HEAP_ZERO_MEMORY, a), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("HeapValidate(0x80000000 flag, NULL) -> FALSE", HeapValidate(h, 0x80000000u, NULL), FALSE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("HeapValidate(HEAP_NO_SERIALIZE, live block) -> TRUE", HeapValidate(h, HEAP_NO_SERIALIZE, a), TRUE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("HeapFree(HEAP_NO_SERIALIZE) -> TRUE", HeapFree(h, HEAP_NO_SERIALIZE, a), TRUE, LE_UNTOUCHED);
    for (int i = 0; i < 3; i++)
        CHECK_RET_ERR("double free of a small block -> FALSE, ERROR_INVALID_PARAMETER", HeapFree(h, 0, a), FALSE,
                      ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapFree(big) -> TRUE", HeapFree(h, 0, b), TRUE, LE_UNTOUCHED);
    for (int i = 0; i < 3; i++)
        CHECK_RET_ERR("double free of a big block -> FALSE, ERROR_INVALID_PARAMETER", HeapFree(h, 0, b), FALSE,
                      ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapSize of the freed big block -> -1, ERROR_INVALID_PARAMETER", HeapSize(h, 0, b), (DWORD)-1,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapValidate(h, 0, NULL) TRUE after the double frees", HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);
    CHECK("the neighbour survived", HeapValidate(h, 0, n1) == TRUE && pat_ok(n1, 40, 9));
    /* No block is handed out twice after double frees. */
    enum { N = 200 };
    struct blk bl[N + 1];
    char *p[N];
    int ok = 1;
    for (int i = 0; i < N; i++) {
        p[i] = HeapAlloc(h, 0, 40);
        ok &= p[i] != NULL;
        bl[i].a = U64(p[i]);
        bl[i].n = 40;
    }
    bl[N].a = U64(n1);
    bl[N].n = 40;
    CHECK("200 allocations after the double frees", ok);
    CHECK("no two live blocks overlap after the double frees", first_overlap(bl, N + 1) < 0);
    char *l = LocalAlloc(0, 10);
    CHECK_RET_ERR("LocalFree -> NULL", LocalFree(l), NULL, LE_UNTOUCHED);
    CHECK_RET_ERR("LocalFree again -> the pointer, ERROR_INVALID_PARAMETER", LocalFree(l), l, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapFree(GetProcessHeap()) of the LocalFree'd block -> FALSE, ERROR_INVALID_PARAMETER",
                  HeapFree(GetProcessHeap(), 0, l), FALSE, ERROR_INVALID_PARAMETER);
    HeapDestroy(h);
}

/* ---- overrun ---------------------------------------------------------------------------------- */

static void overrun_child(void *arg) {
    (void)arg;
    HANDLE h = HeapCreate(0, 0, 0);
    CHECK("heap for the overrun test", h != NULL);
    if (h == NULL) return;
    enum { M = 64 };
    char *b[M];
    for (int i = 0; i < M; i++) b[i] = HeapAlloc(h, 0, 16);
    /* Find a block followed by four more of ours, contiguous. */
    int at = -1, nb[4] = {-1, -1, -1, -1};
    for (int i = 0; i < M && at < 0; i++) {
        int found = 1;
        for (int k = 0; k < 4 && found; k++) {
            nb[k] = -1;
            for (int j = 0; j < M; j++)
                if (b[j] != NULL && b[i] != NULL && U64(b[j]) == U64(b[i]) + 16u * (unsigned)(k + 1)) nb[k] = j;
            found = nb[k] >= 0;
        }
        if (found) at = i;
    }
    CHECK("found a 16-byte block followed by four contiguous 16-byte blocks of ours", at >= 0);
    if (at < 0) return;
    for (int i = 0; i < M; i++) pat_fill(b[i], 16, (uint64_t)i);
    for (int k = 0; k < 4; k++) {
        HeapFree(h, 0, b[nb[k]]);
        b[nb[k]] = NULL;
    }
    CHECK_RET_ERR("before the overrun HeapValidate(h, 0, NULL) is TRUE", HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);
    /* The application writes 64 bytes of 0x41 past the end of b[at]: into its freed neighbours. */
    CHECK("overrun written", fill(b[at] + 16, 0x41, 64));
    CHECK_RET_ERR("after trampling a free neighbour HeapValidate(h, 0, NULL) is FALSE", HeapValidate(h, 0, NULL), FALSE,
                  LE_UNTOUCHED);
    /* Keep going: thousands of blocks of mixed sizes, never overlapping, patterns intact. */
    enum { K = 6000 };
    static char *q[K];
    static DWORD qs[K];
    static struct blk bl[K + M];
    int got = 0, fail_err = 0;
    for (int i = 0; i < K; i++) {
        DWORD n = (DWORD)(rnd() % 4 == 0 ? 16 : 1 + rnd() % 700);
        if (i % 500 == 0) n = 20000 + (DWORD)(rnd() % 30000);
        q[i] = CALL(HeapAlloc(h, 0, n));
        qs[i] = r8(n);
        if (q[i] == NULL) {
            if (GetLastError() != ERROR_NOT_ENOUGH_MEMORY) fail_err++;
            continue;
        }
        got++;
        pat_fill(q[i], qs[i], 1000 + (uint64_t)i);
        if (i % 3 == 0 && i > 0 && q[i - 1] != NULL) { /* free some along the way */
            HeapFree(h, 0, q[i - 1]);
            q[i - 1] = NULL;
        }
    }
    char nm[200];
    snprintf(nm, sizeof nm, "after the overrun the heap keeps allocating (%d of %d)", got, K);
    CHECK(nm, got >= K * 9 / 10);
    CHECK_EQ_U("failed allocations (if any) say ERROR_NOT_ENOUGH_MEMORY", fail_err, 0);
    size_t k = 0;
    int kept = 1;
    for (int i = 0; i < K; i++)
        if (q[i] != NULL) {
            bl[k].a = U64(q[i]);
            bl[k].n = qs[i];
            k++;
            kept &= pat_ok(q[i], qs[i], 1000 + (uint64_t)i);
        }
    for (int i = 0; i < M; i++)
        if (b[i] != NULL) {
            bl[k].a = U64(b[i]);
            bl[k].n = 16;
            k++;
            if (i != at) kept &= pat_ok(b[i], 16, (uint64_t)i);
        }
    long ov = first_overlap(bl, k);
    snprintf(nm, sizeof nm, "after the overrun no two of the %zu live blocks overlap (first overlap at %ld)", k, ov);
    CHECK(nm, ov < 0);
    CHECK("every live block kept its pattern (nothing handed out twice)", kept);
    int freed = 0, live = 0;
    for (int i = 0; i < K; i++)
        if (q[i] != NULL) {
            live++;
            freed += HeapFree(h, 0, q[i]) == TRUE;
        }
    CHECK("every block allocated after the overrun frees", freed == live);
    CHECK_RET_ERR("HeapDestroy of the damaged heap -> TRUE", HeapDestroy(h), TRUE, LE_UNTOUCHED);
}

/* ---- random torture --------------------------------------------------------------------------- */

static int tort_fails;
static void tort_fail(const char *what, long step, const void *p, DWORD a, DWORD b) {
    if (tort_fails++ < 15) printf("       torture step %ld: %s (ptr %p, %u, %u)\n", step, what, p, (unsigned)a, (unsigned)b);
}

struct slot {
    uint64_t *p;
    DWORD size; /* HeapSize */
    uint64_t seed;
};

static int words_ok(const uint64_t *p, size_t from, size_t to, uint64_t seed) {
    for (size_t i = from; i < to; i++)
        if (p[i] != pw(seed, i)) return 0;
    return 1;
}

static void words_fill(uint64_t *p, size_t from, size_t to, uint64_t seed) {
    for (size_t i = from; i < to; i++) p[i] = pw(seed, i);
}

static int words_zero(const uint64_t *p, size_t from, size_t to) {
    for (size_t i = from; i < to; i++)
        if (p[i] != 0) return 0;
    return 1;
}

static DWORD tort_size(void) {
    uint64_t r = rnd() % 100;
    if (r < 75) return (DWORD)(rnd() % 257);
    if (r < 96) return 257 + (DWORD)(rnd() % 8000);
    return 8193 + (DWORD)(rnd() % 72000);
}

static void torture_child(void *arg) {
    (void)arg;
    HANDLE hs[2] = {HeapCreate(0, 0, 0), HeapCreate(0, 0, 0x800000)};
    CHECK("heaps for the torture (growable, fixed 8 MB)", hs[0] != NULL && hs[1] != NULL);
    if (hs[0] == NULL || hs[1] == NULL) return;
    enum { S = 1200, STEPS = 200000 };
    static struct slot sl[2][S];
    long nalloc = 0, nfree = 0, nre = 0, nre_move = 0, nfixed_full = 0, nvalidate = 0;
    rng_state = 0x9E3779B97F4A7C15ull;
    for (long step = 1; step <= STEPS; step++) {
        int hi = (int)(rnd() & 1);
        HANDLE h = hs[hi];
        struct slot *s = &sl[hi][rnd() % S];
        if (s->p == NULL) {
            DWORD n = tort_size();
            DWORD fl = rnd() % 4 == 0 ? HEAP_ZERO_MEMORY : 0;
            void *p = CALL(HeapAlloc(h, fl, n));
            if (p == NULL) {
                if (hi == 1 && GetLastError() == ERROR_NOT_ENOUGH_MEMORY)
                    nfixed_full++;
                else
                    tort_fail("HeapAlloc failed", step, p, n, GetLastError());
                continue;
            }
            nalloc++;
            DWORD hsz = HeapSize(h, 0, p);
            if (hsz != r8(n) || (U64(p) & 15) != 0 || U64(p) + hsz > FOUR_GB) tort_fail("bad HeapSize/alignment", step, p, n, hsz);
            if (GetLastError() != LE_UNTOUCHED) tort_fail("HeapAlloc success touched the last error", step, p, n, 0);
            if (fl && !words_zero(p, 0, r8(n) / 8)) tort_fail("HEAP_ZERO_MEMORY block not zero", step, p, n, 0);
            s->p = p;
            s->size = r8(n);
            s->seed = (uint64_t)step;
            words_fill(s->p, 0, s->size / 8, s->seed);
        } else if (rnd() % 2 == 0) {
            if (!words_ok(s->p, 0, s->size / 8, s->seed)) tort_fail("contents changed before free", step, s->p, s->size, 0);
            if (HeapFree(h, 0, s->p) != TRUE) tort_fail("HeapFree failed", step, s->p, s->size, GetLastError());
            nfree++;
            s->p = NULL;
        } else {
            if (!words_ok(s->p, 0, s->size / 8, s->seed)) tort_fail("contents changed before realloc", step, s->p, s->size, 0);
            DWORD n = rnd() % 3 == 0 ? (DWORD)(rnd() % (s->size + 1)) : tort_size();
            uint64_t fr = rnd() % 4;
            DWORD fl = (fr & 1 ? HEAP_ZERO_MEMORY : 0) | (fr & 2 ? HEAP_REALLOC_IN_PLACE_ONLY : 0);
            uint64_t *r = CALL(HeapReAlloc(h, fl, s->p, n));
            DWORD ns = r8(n);
            if (r == NULL) {
                DWORD e = GetLastError();
                if (ns <= s->size) tort_fail("shrinking realloc failed", step, s->p, s->size, ns);
                else if (e != ERROR_NOT_ENOUGH_MEMORY) tort_fail("failed realloc: wrong error", step, s->p, ns, e);
                else if (!(fl & HEAP_REALLOC_IN_PLACE_ONLY) && hi == 0)
                    tort_fail("movable realloc failed on the growable heap", step, s->p, ns, e);
                if (HeapSize(h, 0, s->p) != s->size || !words_ok(s->p, 0, s->size / 8, s->seed))
                    tort_fail("failed realloc touched the block", step, s->p, s->size, 0);
                if (hi == 1) nfixed_full++;
                continue;
            }
            nre++;
            if (GetLastError() != LE_UNTOUCHED) tort_fail("HeapReAlloc success touched the last error", step, r, ns, 0);
            if ((fl & HEAP_REALLOC_IN_PLACE_ONLY || ns <= s->size) && r != s->p)
                tort_fail("in-place/shrinking realloc moved the block", step, r, s->size, ns);
            if (r != s->p) nre_move++;
            DWORD got = HeapSize(h, 0, r);
            if (got != ns || (U64(r) & 15) != 0) tort_fail("bad HeapSize after realloc", step, r, ns, got);
            DWORD keep = ns < s->size ? ns : s->size;
            if (!words_ok(r, 0, keep / 8, s->seed)) tort_fail("realloc lost contents", step, r, s->size, ns);
            if ((fl & HEAP_ZERO_MEMORY) && ns > s->size && !words_zero(r, s->size / 8, ns / 8))
                tort_fail("HEAP_ZERO_MEMORY realloc growth not zero", step, r, s->size, ns);
            if (r != s->p && HeapValidate(h, 0, s->p) == TRUE && !(U64(s->p) >= U64(r) && U64(s->p) < U64(r) + ns)) {
                /* the old block must be gone unless its address was reused by the new block */
                tort_fail("old block still valid after a moving realloc", step, s->p, s->size, ns);
            }
            s->p = r;
            s->size = ns;
            s->seed = (uint64_t)step;
            words_fill(s->p, 0, s->size / 8, s->seed);
        }
        if (step % 1000 == 0) {
            nvalidate++;
            for (int k = 0; k < 2; k++)
                if (HeapValidate(hs[k], 0, NULL) != TRUE) tort_fail("HeapValidate(h, 0, NULL) FALSE", step, hs[k], k, 0);
        }
        if (step % 25000 == 0) {
            for (int k = 0; k < 2; k++)
                for (int i = 0; i < S; i++)
                    if (sl[k][i].p != NULL && (!words_ok(sl[k][i].p, 0, sl[k][i].size / 8, sl[k][i].seed) ||
                                               HeapSize(hs[k], 0, sl[k][i].p) != sl[k][i].size))
                        tort_fail("live block damaged (full sweep)", step, sl[k][i].p, sl[k][i].size, 0);
        }
    }
    char nm[512];
    snprintf(nm, sizeof nm, "torture: 200000 random steps consistent (%ld allocs, %ld frees, %ld reallocs of which %ld "
                            "moved, %ld fixed-heap ENOMEM, %ld validations); %d inconsistencies",
             nalloc, nfree, nre, nre_move, nfixed_full, nvalidate, tort_fails);
    CHECK(nm, tort_fails == 0);
    CHECK("torture exercised every operation", nalloc > 30000 && nfree > 20000 && nre > 20000 && nre_move > 1000);
    /* Final: no overlaps, free everything. */
    static struct blk bl[2 * S];
    size_t k = 0;
    for (int hk = 0; hk < 2; hk++)
        for (int i = 0; i < S; i++)
            if (sl[hk][i].p != NULL) {
                bl[k].a = U64(sl[hk][i].p);
                bl[k].n = sl[hk][i].size;
                k++;
            }
    CHECK("torture: no two live blocks of the two heaps overlap", first_overlap(bl, k) < 0);
    int ok = 1;
    for (int hk = 0; hk < 2; hk++)
        for (int i = 0; i < S; i++)
            if (sl[hk][i].p != NULL) ok &= HeapFree(hs[hk], 0, sl[hk][i].p) == TRUE;
    CHECK("torture: every remaining block frees", ok);
    CHECK("torture: both heaps validate at the end", HeapValidate(hs[0], 0, NULL) == TRUE && HeapValidate(hs[1], 0, NULL) == TRUE);
    char *all = HeapAlloc(hs[1], 0, 0x800000);
    CHECK("torture: the emptied fixed 8 MB heap gives its whole 8 MB again", all != NULL);
    CHECK("torture: both heaps destroy", HeapDestroy(hs[0]) == TRUE && HeapDestroy(hs[1]) == TRUE);
}

int main(void) {
    test_wild();
    test_bad_handles();
    test_double_free();
    check_child("overrun into a freed neighbour: never a crash", overrun_child, NULL);
    check_child("random torture on two heaps: never a crash", torture_child, NULL);
    return check_summary();
}
