/* CeHeapCreate (ce6 profile): spec3.md "CeHeapCreate", CE-SEMANTICS.md §9.11.
 * Recording callbacks backed by (a) VirtualAlloc/VirtualFree and (b) a static 4 MB buffer handed out
 * by a bump pointer (commit/decommit only record). A model of the reservations checks every callback:
 * the first is MEM_RESERVE, commits/decommits lie in a live reservation and carry its user data,
 * every reservation is released exactly once, nothing is called after HeapDestroy. */
#include "check.h"

#include <sys/mman.h>

#define BIG_MIN 16385u     /* ce6: n > 16384 is a big block */
#define REGION_ASK 0xF000u /* the size a growable heap reserves per region */

static DWORD round8(DWORD n) { return n == 0 ? 8 : (n + 7) & ~7u; }

/* ---- the log ---- */

enum { MAXLOG = 20000, MAXRES = 1024 };

struct logent {
    DWORD action;
    char *addr;
    DWORD size;
    DWORD ud;  /* reserve: the value stored; commit: *pdwUserData as passed; free: dwUserData */
    char *ret; /* alloc callbacks: what we returned */
};
static struct logent LOG[MAXLOG];
static int nlog, log_overflow;

struct res {
    char *base;
    DWORD size; /* as asked */
    DWORD ud;
    int live;
    int releases;
    int idx; /* log index of the reserve */
    unsigned char *committed; /* one byte per page */
};
static struct res RES[MAXRES];
static int nres;

/* Violations seen by the callbacks. */
static struct {
    int first_not_reserve, reserve_bad_args, commit_outside, commit_bad_ud, commit_unaligned, decommit_outside,
        decommit_bad_ud, decommit_unaligned, release_unknown, release_bad_ud, release_size_nonzero, null_ud_ptr,
        unknown_action, after_destroy;
} V;

static int use_arena;      /* 1: static buffer backend, 0: VirtualAlloc backend */
static int fail_reserve;   /* reserve callbacks return NULL */
static int fail_commit;    /* commit callbacks return NULL */
static int heap_destroyed; /* set once HeapDestroy returned */
static DWORD next_ud = 0x51DE0001;

#define ARENA_SIZE (4u << 20)
static char arena[ARENA_SIZE] __attribute__((aligned(4096)));
static size_t bump;

static void reset_model(void) {
    for (int i = 0; i < nres; i++) free(RES[i].committed);
    nres = 0;
    nlog = 0;
    log_overflow = 0;
    memset(&V, 0, sizeof V);
    fail_reserve = fail_commit = 0;
    heap_destroyed = 0;
    bump = 0;
}

static struct logent *log_add(DWORD action, void *addr, DWORD size, DWORD ud) {
    if (heap_destroyed) V.after_destroy++;
    if (nlog == 0 && action != MEM_RESERVE) V.first_not_reserve++;
    if (nlog >= MAXLOG) {
        log_overflow = 1;
        static struct logent scratch;
        return &scratch;
    }
    struct logent *l = &LOG[nlog++];
    l->action = action;
    l->addr = addr;
    l->size = size;
    l->ud = ud;
    l->ret = NULL;
    return l;
}

/* The live reservation holding [p, p+n), or NULL. */
static struct res *res_of(const void *p, uint64_t n) {
    for (int i = nres - 1; i >= 0; i--) {
        struct res *r = &RES[i];
        if (r->live && U64(p) >= U64(r->base) && U64(p) + n <= U64(r->base) + r->size && U64(p) + n >= U64(p))
            return r;
    }
    return NULL;
}

/* Every page of [p, p+n) is in a live reservation and committed (per the callbacks). */
static int committed_in_model(const void *p, uint64_t n) {
    if (n == 0) n = 1;
    struct res *r = res_of(p, n);
    if (r == NULL) return 0;
    for (uint64_t a = U64(p) & ~(uint64_t)(PG - 1); a < U64(p) + n; a += PG)
        if (!r->committed[(a - U64(r->base)) / PG]) return 0;
    return 1;
}

static int live_reservations(void) {
    int n = 0;
    for (int i = 0; i < nres; i++) n += RES[i].live;
    return n;
}

static LPVOID cb_alloc(LPVOID pAddr, DWORD cbSize, DWORD fdwAction, LPDWORD pdwUserData) {
    DWORD saved = GetLastError();
    char *ret = NULL;
    if (pdwUserData == NULL) V.null_ud_ptr++;
    if (fdwAction == MEM_RESERVE) {
        struct logent *l = log_add(MEM_RESERVE, pAddr, cbSize, 0);
        if (cbSize == 0) V.reserve_bad_args++;
        if (!fail_reserve && cbSize != 0 && pdwUserData != NULL && nres < MAXRES) {
            DWORD sz = (cbSize + PG - 1) & ~(PG - 1);
            if (use_arena) {
                if (bump + sz <= ARENA_SIZE) {
                    ret = arena + bump;
                    bump += sz;
                }
            } else {
                ret = VirtualAlloc(NULL, sz, MEM_RESERVE, PAGE_NOACCESS);
            }
            if (ret != NULL) {
                struct res *r = &RES[nres++];
                r->base = ret;
                r->size = sz;
                r->ud = next_ud++;
                r->live = 1;
                r->releases = 0;
                r->idx = nlog - 1;
                r->committed = calloc(sz / PG, 1);
                *pdwUserData = r->ud;
                l->ud = r->ud;
            }
        }
        l->ret = ret;
    } else if (fdwAction == MEM_COMMIT) {
        DWORD ud = pdwUserData != NULL ? *pdwUserData : 0;
        struct logent *l = log_add(MEM_COMMIT, pAddr, cbSize, ud);
        struct res *r = res_of(pAddr, cbSize);
        if (r == NULL || cbSize == 0) V.commit_outside++;
        else if (r->ud != ud) V.commit_bad_ud++;
        if (U64(pAddr) % PG != 0 || cbSize % PG != 0) V.commit_unaligned++;
        if (!fail_commit && r != NULL && cbSize != 0) {
            if (use_arena)
                ret = pAddr;
            else
                ret = VirtualAlloc(pAddr, cbSize, MEM_COMMIT, PAGE_READWRITE);
            if (ret != NULL)
                for (uint64_t a = U64(pAddr) & ~(uint64_t)(PG - 1); a < U64(pAddr) + cbSize; a += PG)
                    r->committed[(a - U64(r->base)) / PG] = 1;
        }
        l->ret = ret;
    } else {
        log_add(fdwAction, pAddr, cbSize, 0);
        V.unknown_action++;
    }
    SetLastError(saved);
    return ret;
}

static BOOL cb_free(LPVOID pAddr, DWORD cbSize, DWORD fdwAction, DWORD dwUserData) {
    DWORD saved = GetLastError();
    BOOL ok = FALSE;
    log_add(fdwAction, pAddr, cbSize, dwUserData);
    if (fdwAction == MEM_DECOMMIT) {
        struct res *r = res_of(pAddr, cbSize);
        if (r == NULL || cbSize == 0) V.decommit_outside++;
        else if (r->ud != dwUserData) V.decommit_bad_ud++;
        if (U64(pAddr) % PG != 0 || cbSize % PG != 0) V.decommit_unaligned++;
        if (r != NULL && cbSize != 0) {
            /* the static buffer keeps its bytes: decommit only records */
            ok = use_arena ? TRUE : VirtualFree(pAddr, cbSize, MEM_DECOMMIT);
            for (uint64_t a = U64(pAddr) & ~(uint64_t)(PG - 1); a < U64(pAddr) + cbSize; a += PG)
                r->committed[(a - U64(r->base)) / PG] = 0;
        }
    } else if (fdwAction == MEM_RELEASE) {
        struct res *r = NULL;
        for (int i = nres - 1; i >= 0 && r == NULL; i--)
            if (RES[i].live && RES[i].base == pAddr) r = &RES[i];
        if (cbSize != 0) V.release_size_nonzero++;
        if (r == NULL) {
            V.release_unknown++;
        } else {
            if (r->ud != dwUserData) V.release_bad_ud++;
            r->live = 0;
            r->releases++;
            memset(r->committed, 0, r->size / PG);
            ok = use_arena ? TRUE : VirtualFree(pAddr, 0, MEM_RELEASE);
        }
    } else {
        V.unknown_action++;
    }
    SetLastError(saved);
    return ok;
}

static int count_log(int from, DWORD action) {
    int n = 0;
    for (int i = from; i < nlog; i++) n += LOG[i].action == action;
    return n;
}

/* All callback rules so far, as checks named after the backend. */
static void check_callbacks(const char *be, const char *when) {
    char nm[220];
#define VCHK(field, text)                                                                      \
    snprintf(nm, sizeof nm, "%s, %s: %s", be, when, text);                                     \
    check_eq_(nm, __FILE__, __LINE__, "V." #field " == 0", (uint64_t)V.field, 0)
    VCHK(first_not_reserve, "the first callback is MEM_RESERVE");
    VCHK(reserve_bad_args, "MEM_RESERVE asks for a nonzero size");
    VCHK(null_ud_ptr, "pdwUserData is never NULL");
    VCHK(commit_outside, "every MEM_COMMIT lies in a live reservation reported earlier");
    VCHK(commit_bad_ud, "MEM_COMMIT passes the reservation's user data");
    VCHK(commit_unaligned, "MEM_COMMIT ranges are whole pages");
    VCHK(decommit_outside, "every MEM_DECOMMIT lies in a live reservation");
    VCHK(decommit_bad_ud, "MEM_DECOMMIT passes the reservation's user data");
    VCHK(decommit_unaligned, "MEM_DECOMMIT ranges are whole pages");
    VCHK(release_unknown, "MEM_RELEASE names the base of a live reservation (no double release)");
    VCHK(release_bad_ud, "MEM_RELEASE passes the reservation's user data");
    VCHK(release_size_nonzero, "MEM_RELEASE passes size 0");
    VCHK(unknown_action, "only MEM_RESERVE/MEM_COMMIT/MEM_DECOMMIT/MEM_RELEASE are used");
    VCHK(after_destroy, "no callback after HeapDestroy returned");
#undef VCHK
    snprintf(nm, sizeof nm, "%s, %s: the log did not overflow", be, when);
    CHECK(nm, !log_overflow);
}

/* A block is usable: 16-aligned, HeapSize right, in the heap's committed memory, writable. */
static int block_ok(HANDLE h, char *p, DWORD n, unsigned char pat) {
    if (p == NULL || U64(p) % 16 != 0) return 0;
    if (HeapSize(h, 0, p) != round8(n)) return 0;
    if (!committed_in_model(p, round8(n))) return 0;
    if (use_arena && (U64(p) < U64(arena) || U64(p) + round8(n) > U64(arena) + ARENA_SIZE)) return 0;
    return fill(p, pat, round8(n)) && check_bytes_are(p, round8(n), pat);
}

enum { NS = 80 };

static void scenario(const char *be) {
    char nm[240];
    reset_model();
    if (use_arena) memset(arena, 0xCD, ARENA_SIZE); /* memory from the callbacks need not be zero */

    HANDLE h = CALL(CeHeapCreate(0, 0, 0, cb_alloc, cb_free));
    snprintf(nm, sizeof nm, "%s: CeHeapCreate(0, 0, 0, cb, cb) succeeds, last error untouched", be);
    CHECK(nm, h != NULL && GetLastError() == CHECK_SENTINEL);
    if (h == NULL) return;

    /* Small blocks. */
    static char *p[NS];
    static DWORD n[NS];
    int ok = 1, zero_ok = 1;
    for (int i = 0; i < NS; i++) {
        n[i] = (DWORD)((i * 37) % 1500) + (DWORD)(i % 5);
        DWORD fl = i % 4 == 3 ? HEAP_ZERO_MEMORY : 0;
        p[i] = HeapAlloc(h, fl, n[i]);
        if (fl && p[i] != NULL && !check_bytes_are(p[i], round8(n[i]), 0)) zero_ok = 0;
        if (!block_ok(h, p[i], n[i], (unsigned char)(i + 1))) ok = 0;
    }
    snprintf(nm, sizeof nm, "%s: %d small blocks: 16-aligned, HeapSize = n rounded to 8, in committed callback memory, writable",
             be, NS);
    CHECK(nm, ok);
    snprintf(nm, sizeof nm, "%s: HEAP_ZERO_MEMORY blocks read zero (callback memory was not zero)", be);
    CHECK(nm, zero_ok);
    snprintf(nm, sizeof nm, "%s: the first callback is MEM_RESERVE of 0xF000 bytes (a growable region)", be);
    CHECK(nm, nlog > 0 && LOG[0].action == MEM_RESERVE && LOG[0].size == REGION_ASK);
    snprintf(nm, sizeof nm, "%s: pages were committed through the callback", be);
    CHECK(nm, count_log(0, MEM_COMMIT) > 0);
    int valid = 1;
    for (int i = 0; i < NS; i++)
        if (p[i] != NULL && !HeapValidate(h, 0, p[i])) valid = 0;
    snprintf(nm, sizeof nm, "%s: HeapValidate(h, 0, p) TRUE for every block", be);
    CHECK(nm, valid);
    snprintf(nm, sizeof nm, "%s: HeapValidate(h, 0, NULL) TRUE", be);
    CHECK_RET_ERR(nm, HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);

    /* Big blocks reserve through the callback; the pointer is the reservation base. */
    static const DWORD bigs[] = {20000, 40000, 100000};
    char *bp[3];
    for (int i = 0; i < 3; i++) {
        int r0 = nres;
        int l0 = nlog;
        bp[i] = CALL(HeapAlloc(h, i == 2 ? HEAP_ZERO_MEMORY : 0, bigs[i]));
        snprintf(nm, sizeof nm, "%s: big block %u succeeds, last error untouched", be, (unsigned)bigs[i]);
        CHECK(nm, bp[i] != NULL && GetLastError() == CHECK_SENTINEL);
        snprintf(nm, sizeof nm, "%s: big block %u made exactly one new reservation of >= %u bytes", be,
                 (unsigned)bigs[i], (unsigned)bigs[i]);
        CHECK(nm, nres == r0 + 1 && count_log(l0, MEM_RESERVE) == 1 && RES[nres - 1].size >= bigs[i]);
        snprintf(nm, sizeof nm, "%s: big block %u: pointer = that reservation's base", be, (unsigned)bigs[i]);
        CHECK(nm, nres == r0 + 1 && bp[i] == RES[nres - 1].base);
        snprintf(nm, sizeof nm, "%s: big block %u: usable (HeapSize, committed, writable)", be, (unsigned)bigs[i]);
        if (i == 2) {
            snprintf(nm, sizeof nm, "%s: big block %u with HEAP_ZERO_MEMORY reads zero (callback memory was not zero)",
                     be, (unsigned)bigs[i]);
            CHECK(nm, bp[i] != NULL && check_bytes_are(bp[i], round8(bigs[i]), 0));
            snprintf(nm, sizeof nm, "%s: big block %u: usable (HeapSize, committed, writable)", be, (unsigned)bigs[i]);
        }
        CHECK(nm, block_ok(h, bp[i], bigs[i], 0xB0 + (unsigned char)i));
        snprintf(nm, sizeof nm, "%s: big block %u: HeapValidate TRUE", be, (unsigned)bigs[i]);
        CHECK(nm, bp[i] != NULL && HeapValidate(h, 0, bp[i]));
    }

    /* HeapReAlloc. */
    {
        char *q = HeapAlloc(h, 0, 100);
        fill(q, 0x77, 104);
        char *q2 = HeapReAlloc(h, 0, q, 5000);
        snprintf(nm, sizeof nm, "%s: HeapReAlloc 100 -> 5000 keeps the contents, HeapSize 5000", be);
        CHECK(nm, q2 != NULL && check_bytes_are(q2, 104, 0x77) && HeapSize(h, 0, q2) == 5000 &&
                      committed_in_model(q2, 5000));
        char *q3 = q2 != NULL ? HeapReAlloc(h, 0, q2, 40) : NULL;
        snprintf(nm, sizeof nm, "%s: HeapReAlloc shrink 5000 -> 40 is in place, HeapSize 40", be);
        CHECK(nm, q3 == q2 && q3 != NULL && check_bytes_are(q3, 40, 0x77) && HeapSize(h, 0, q3) == 40);
        char *q4 = q3 != NULL ? HeapReAlloc(h, HEAP_ZERO_MEMORY, q3, 30000) : NULL;
        snprintf(nm, sizeof nm, "%s: HeapReAlloc 40 -> 30000 (big) keeps the contents and zeroes the growth", be);
        CHECK(nm, q4 != NULL && check_bytes_are(q4, 40, 0x77) && check_bytes_are(q4 + 40, 30000 - 40, 0) &&
                      HeapSize(h, 0, q4) == 30000 && committed_in_model(q4, 30000));
        char *q5 = q4 != NULL ? HeapReAlloc(h, 0, q4, 17000) : NULL;
        snprintf(nm, sizeof nm, "%s: HeapReAlloc big 30000 -> 17000 in place", be);
        CHECK(nm, q5 == q4 && q5 != NULL && HeapSize(h, 0, q5) == 17000 && check_bytes_are(q5, 40, 0x77));
        snprintf(nm, sizeof nm, "%s: free the realloc'd block", be);
        CHECK_RET_ERR(nm, HeapFree(h, 0, q5 != NULL ? q5 : q4), TRUE, LE_UNTOUCHED);
    }

    /* Foreign pointers. */
    {
        HANDLE other = HeapCreate(0, 0, 0);
        void *ob = HeapAlloc(other, 0, 64);
        void *pb = HeapAlloc(GetProcessHeap(), 0, 64);
        int stackvar = 0;
        char *unreserved = use_arena ? arena + ARENA_SIZE - 4096 : NULL; /* in the buffer, never reserved */
        char *vpage = VirtualAlloc(NULL, PG, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        const struct {
            void *q;
            const char *name;
        } foreign[] = {
            {ob, "a block of another heap"},
            {pb, "a process-heap block"},
            {p[1] != NULL ? p[1] + 16 : NULL, "an interior pointer"},
            {bp[0] != NULL ? bp[0] + 4096 : NULL, "an interior pointer of a big block"},
            {&stackvar, "a stack address"},
            {unreserved, "static-buffer memory never reserved"},
            {vpage, "a VirtualAlloc'd page"},
            {(void *)0x7fff00000000ull, "(void*)0x7fff00000000"},
            {NULL, "NULL"},
        };
        for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
            if (foreign[i].q == NULL && i + 1 != sizeof foreign / sizeof foreign[0]) continue;
            snprintf(nm, sizeof nm, "%s: HeapFree(ceheap, %s) -> FALSE, ERROR_INVALID_PARAMETER", be, foreign[i].name);
            CHECK_RET_ERR(nm, HeapFree(h, 0, foreign[i].q), FALSE, ERROR_INVALID_PARAMETER);
            snprintf(nm, sizeof nm, "%s: HeapSize(ceheap, %s) -> -1, ERROR_INVALID_PARAMETER", be, foreign[i].name);
            CHECK_RET_ERR(nm, HeapSize(h, 0, foreign[i].q), (DWORD)-1, ERROR_INVALID_PARAMETER);
            if (foreign[i].q != NULL) {
                snprintf(nm, sizeof nm, "%s: HeapValidate(ceheap, %s) -> FALSE", be, foreign[i].name);
                CHECK_RET_ERR(nm, HeapValidate(h, 0, foreign[i].q), FALSE, LE_UNTOUCHED);
            }
        }
        snprintf(nm, sizeof nm, "%s: HeapFree(other heap, a CeHeap block) -> FALSE, ERROR_INVALID_PARAMETER", be);
        CHECK_RET_ERR(nm, HeapFree(other, 0, p[0]), FALSE, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "%s: HeapFree(process heap, a CeHeap block) -> FALSE, ERROR_INVALID_PARAMETER", be);
        CHECK_RET_ERR(nm, HeapFree(GetProcessHeap(), 0, p[2]), FALSE, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "%s: LocalFree(a CeHeap block) returns it, ERROR_INVALID_PARAMETER", be);
        CHECK_RET_ERR(nm, LocalFree(p[3]), p[3], ERROR_INVALID_PARAMETER);
        char *victim = HeapAlloc(h, 0, 24);
        HeapFree(h, 0, victim);
        snprintf(nm, sizeof nm, "%s: double free -> FALSE, ERROR_INVALID_PARAMETER", be);
        CHECK_RET_ERR(nm, HeapFree(h, 0, victim), FALSE, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "%s: the foreign blocks are still fine", be);
        CHECK(nm, HeapValidate(other, 0, ob) && HeapValidate(GetProcessHeap(), 0, pb));
        HeapFree(GetProcessHeap(), 0, pb);
        HeapDestroy(other);
        if (vpage != NULL) VirtualFree(vpage, 0, MEM_RELEASE);
        int intact = 1;
        for (int i = 0; i < NS; i++)
            if (p[i] != NULL && !check_bytes_are(p[i], round8(n[i]), (unsigned char)(i + 1))) intact = 0;
        snprintf(nm, sizeof nm, "%s: after the rejected frees every block is intact and the heap validates", be);
        CHECK(nm, intact && HeapValidate(h, 0, NULL));
    }
    check_callbacks(be, "after allocating");

    /* Secondary regions: > 60 KB of small blocks, all freed again, then HeapCompact. */
    enum { NX = 120 };
    static char *x[NX];
    int r_before = nres;
    ok = 1;
    for (int i = 0; i < NX; i++) {
        x[i] = HeapAlloc(h, 0, 1000);
        if (!block_ok(h, x[i], 1000, 0x3C)) ok = 0;
    }
    int phase_reserves = nres - r_before;
    snprintf(nm, sizeof nm, "%s: 120 KB of 1000-byte blocks: all usable, at least one new region reserved", be);
    CHECK(nm, ok && phase_reserves >= 1);
    int regions_ok = 1;
    for (int i = r_before; i < nres; i++)
        if (RES[i].size != REGION_ASK) regions_ok = 0;
    snprintf(nm, sizeof nm, "%s: the new regions were asked as 0xF000 bytes", be);
    CHECK(nm, regions_ok);
    for (int i = 0; i < NX; i++) HeapFree(h, 0, x[i]);
    /* Free every other small block and the first big block too. */
    for (int i = 0; i < NS; i += 2) {
        HeapFree(h, 0, p[i]);
        p[i] = NULL;
    }
    HeapFree(h, 0, bp[0]);
    struct res *big0 = NULL;
    for (int i = 0; i < nres; i++)
        if (RES[i].base == bp[0]) big0 = &RES[i];
    int l0 = nlog;
    UINT largest = CALL(HeapCompact(h, 0));
    snprintf(nm, sizeof nm, "%s: HeapCompact after frees returns > 0 (largest free block)", be);
    CHECK(nm, largest > 0 && GetLastError() == CHECK_SENTINEL);
    snprintf(nm, sizeof nm, "%s: HeapCompact after frees produced MEM_DECOMMIT callbacks", be);
    CHECK(nm, count_log(l0, MEM_DECOMMIT) > 0);
    int released = 1;
    for (int i = r_before; i < r_before + phase_reserves; i++)
        if (RES[i].live) {
            released = 0;
            printf("       region %p (0x%x bytes, reserved in the phase) is still reserved\n", (void *)RES[i].base,
                   (unsigned)RES[i].size);
        }
    snprintf(nm, sizeof nm, "%s: HeapCompact released the emptied secondary regions", be);
    CHECK(nm, released);
    {
        /* HeapCompact decommits every free page: each page still committed holds part of a live block. */
        int orphans = 0;
        for (int ri = 0; ri < nres; ri++) {
            if (!RES[ri].live) continue;
            for (DWORD pg = 0; pg < RES[ri].size / PG; pg++) {
                if (!RES[ri].committed[pg]) continue;
                uint64_t lo = U64(RES[ri].base) + (uint64_t)pg * PG, hi = lo + PG;
                int used = 0;
                for (int i = 0; i < NS && !used; i++)
                    if (p[i] != NULL && U64(p[i]) < hi && U64(p[i]) + round8(n[i]) > lo) used = 1;
                for (int i = 1; i < 3 && !used; i++)
                    if (bp[i] != NULL && U64(bp[i]) < hi && U64(bp[i]) + round8(bigs[i]) > lo) used = 1;
                if (!used && orphans++ < 4)
                    printf("       page %p is still committed but holds no live block\n", (void *)(uintptr_t)lo);
            }
        }
        snprintf(nm, sizeof nm, "%s: after HeapCompact no committed page is entirely free (all were decommitted)", be);
        CHECK(nm, orphans == 0);
    }
    snprintf(nm, sizeof nm, "%s: the freed big block's reservation is released after HeapCompact", be);
    CHECK(nm, big0 != NULL && !big0->live && big0->releases == 1);
    snprintf(nm, sizeof nm, "%s: no reserve or commit during HeapCompact", be);
    CHECK(nm, count_log(l0, MEM_RESERVE) == 0 && count_log(l0, MEM_COMMIT) == 0);
    check_callbacks(be, "after HeapCompact");
    ok = 1;
    for (int i = 0; i < NS; i++)
        if (p[i] != NULL && !(committed_in_model(p[i], round8(n[i])) &&
                              check_bytes_are(p[i], round8(n[i]), (unsigned char)(i + 1))))
            ok = 0;
    if (!(committed_in_model(bp[1], 40000) && check_bytes_are(bp[1], 40000, 0xB1))) ok = 0;
    snprintf(nm, sizeof nm, "%s: after HeapCompact live blocks are still committed and intact", be);
    CHECK(nm, ok);

    /* Reuse after decommit: the heap commits again before handing memory out; zeroing still holds. */
    l0 = nlog;
    ok = 1;
    zero_ok = 1;
    for (int i = 0; i < NX / 2; i++) {
        x[i] = HeapAlloc(h, i % 2 ? HEAP_ZERO_MEMORY : 0, 900);
        if (i % 2 && x[i] != NULL && !check_bytes_are(x[i], 904, 0)) zero_ok = 0;
        if (!block_ok(h, x[i], 900, 0x4D)) ok = 0;
    }
    snprintf(nm, sizeof nm, "%s: after HeapCompact new blocks lie in recommitted memory (MEM_COMMIT again)", be);
    CHECK(nm, ok && count_log(l0, MEM_COMMIT) > 0);
    snprintf(nm, sizeof nm, "%s: after HeapCompact HEAP_ZERO_MEMORY blocks read zero (decommit kept the bytes)", be);
    CHECK(nm, zero_ok);
    for (int i = 0; i < NX / 2; i++) HeapFree(h, 0, x[i]);

    /* A failing reserve callback. */
    fail_reserve = 1;
    l0 = nlog;
    snprintf(nm, sizeof nm, "%s: reserve callback fails: big HeapAlloc -> NULL, ERROR_NOT_ENOUGH_MEMORY", be);
    CHECK_RET_ERR(nm, HeapAlloc(h, 0, 50000), NULL, ERROR_NOT_ENOUGH_MEMORY);
    snprintf(nm, sizeof nm, "%s: ... the reserve callback was asked", be);
    CHECK(nm, count_log(l0, MEM_RESERVE) >= 1);
    static char *fillb[600];
    int nf = 0;
    DWORD last_err = 0;
    while (nf < 600) {
        char *q = CALL(HeapAlloc(h, 0, 2000));
        if (q == NULL) {
            last_err = GetLastError();
            break;
        }
        fillb[nf++] = q;
    }
    snprintf(nm, sizeof nm, "%s: reserve callback fails: filling the region ends in NULL, ERROR_NOT_ENOUGH_MEMORY", be);
    CHECK(nm, nf < 600 && last_err == ERROR_NOT_ENOUGH_MEMORY);
    fail_reserve = 0;
    char *after = CALL(HeapAlloc(h, 0, 2000));
    snprintf(nm, sizeof nm, "%s: reserve callback works again: HeapAlloc 2000 succeeds", be);
    CHECK(nm, block_ok(h, after, 2000, 0x5E) && GetLastError() == CHECK_SENTINEL);
    char *afterbig = HeapAlloc(h, 0, 50000);
    snprintf(nm, sizeof nm, "%s: reserve callback works again: big HeapAlloc succeeds", be);
    CHECK(nm, block_ok(h, afterbig, 50000, 0x5F));
    snprintf(nm, sizeof nm, "%s: heap validates after the failed reserves", be);
    CHECK_RET_ERR(nm, HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);
    for (int i = 0; i < nf; i++) HeapFree(h, 0, fillb[i]);
    HeapFree(h, 0, after);
    HeapFree(h, 0, afterbig);
    HeapCompact(h, 0);

    /* A failing commit callback. */
    fail_commit = 1;
    l0 = nlog;
    snprintf(nm, sizeof nm, "%s: commit callback fails: big HeapAlloc -> NULL, ERROR_NOT_ENOUGH_MEMORY", be);
    CHECK_RET_ERR(nm, HeapAlloc(h, 0, 60000), NULL, ERROR_NOT_ENOUGH_MEMORY);
    nf = 0;
    last_err = 0;
    while (nf < 600) {
        char *q = CALL(HeapAlloc(h, 0, 3000));
        if (q == NULL) {
            last_err = GetLastError();
            break;
        }
        fillb[nf++] = q;
    }
    snprintf(nm, sizeof nm, "%s: commit callback fails: small allocations end in NULL, ERROR_NOT_ENOUGH_MEMORY", be);
    CHECK(nm, nf < 600 && last_err == ERROR_NOT_ENOUGH_MEMORY);
    snprintf(nm, sizeof nm, "%s: ... the commit callback was asked", be);
    CHECK(nm, count_log(l0, MEM_COMMIT) >= 1);
    ok = 1;
    for (int i = 0; i < nf; i++)
        if (!block_ok(h, fillb[i], 3000, 0x61)) ok = 0;
    snprintf(nm, sizeof nm, "%s: the blocks handed out while commits failed lie in committed memory", be);
    CHECK(nm, ok);
    fail_commit = 0;
    after = CALL(HeapAlloc(h, 0, 3000));
    snprintf(nm, sizeof nm, "%s: commit callback works again: HeapAlloc 3000 succeeds", be);
    CHECK(nm, block_ok(h, after, 3000, 0x62) && GetLastError() == CHECK_SENTINEL);
    afterbig = HeapAlloc(h, 0, 60000);
    snprintf(nm, sizeof nm, "%s: commit callback works again: big HeapAlloc succeeds", be);
    CHECK(nm, block_ok(h, afterbig, 60000, 0x63));
    snprintf(nm, sizeof nm, "%s: heap validates after the failed commits", be);
    CHECK_RET_ERR(nm, HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);
    ok = 1;
    for (int i = 0; i < NS; i++)
        if (p[i] != NULL && !check_bytes_are(p[i], round8(n[i]), (unsigned char)(i + 1))) ok = 0;
    snprintf(nm, sizeof nm, "%s: the first blocks survived all of it", be);
    CHECK(nm, ok);
    check_callbacks(be, "after the failing callbacks");

    /* HeapDestroy: one MEM_RELEASE per reservation, then silence. */
    l0 = nlog;
    int live_before = live_reservations();
    snprintf(nm, sizeof nm, "%s: HeapDestroy -> TRUE", be);
    CHECK_RET_ERR(nm, HeapDestroy(h), TRUE, LE_UNTOUCHED);
    heap_destroyed = 1;
    snprintf(nm, sizeof nm, "%s: HeapDestroy released every live reservation (%d) with one MEM_RELEASE each", be,
             live_before);
    CHECK(nm, count_log(l0, MEM_RELEASE) == live_before && live_reservations() == 0);
    int once = 1;
    for (int i = 0; i < nres; i++)
        if (RES[i].releases != 1) once = 0;
    snprintf(nm, sizeof nm, "%s: over the heap's life every reservation was released exactly once", be);
    CHECK(nm, once);
    snprintf(nm, sizeof nm, "%s: HeapDestroy makes no reserve/commit", be);
    CHECK(nm, count_log(l0, MEM_RESERVE) == 0 && count_log(l0, MEM_COMMIT) == 0);
    int l1 = nlog;
    snprintf(nm, sizeof nm, "%s: HeapAlloc on the destroyed heap -> NULL, ERROR_INVALID_PARAMETER", be);
    CHECK_RET_ERR(nm, HeapAlloc(h, 0, 100), NULL, ERROR_INVALID_PARAMETER);
    snprintf(nm, sizeof nm, "%s: HeapCompact on the destroyed heap -> 0, ERROR_INVALID_PARAMETER", be);
    CHECK_RET_ERR(nm, HeapCompact(h, 0), 0, ERROR_INVALID_PARAMETER);
    snprintf(nm, sizeof nm, "%s: HeapDestroy again -> FALSE, ERROR_INVALID_PARAMETER", be);
    CHECK_RET_ERR(nm, HeapDestroy(h), FALSE, ERROR_INVALID_PARAMETER);
    void *lp = LocalAlloc(0, 50000); /* other heaps keep working without calling back */
    LocalFree(lp);
    snprintf(nm, sizeof nm, "%s: no callback after HeapDestroy returned", be);
    CHECK(nm, nlog == l1);
    check_callbacks(be, "after HeapDestroy");
}

/* dwInitialSize is committed at creation; a fixed CeHeap makes no big blocks. */
static void scenario_sizes(const char *be) {
    char nm[200];
    reset_model();
    HANDLE h = CeHeapCreate(0, 3 * PG, 0, cb_alloc, cb_free);
    snprintf(nm, sizeof nm, "%s: CeHeapCreate(0, 12 KB, 0) succeeds", be);
    CHECK(nm, h != NULL);
    if (h != NULL) {
        int pages = 0;
        for (int i = 0; i < nres; i++)
            for (DWORD k = 0; k < RES[i].size / PG; k++) pages += RES[i].committed[k];
        snprintf(nm, sizeof nm, "%s: dwInitialSize 12 KB: >= 3 pages committed at creation (reserve first)", be);
        CHECK(nm, nlog >= 2 && LOG[0].action == MEM_RESERVE && pages >= 3);
        int l0 = nlog;
        HeapDestroy(h);
        heap_destroyed = 1;
        snprintf(nm, sizeof nm, "%s: destroy releases the reservation(s)", be);
        CHECK(nm, count_log(l0, MEM_RELEASE) == nres && live_reservations() == 0);
        check_callbacks(be, "dwInitialSize heap");
    }

    reset_model();
    h = CeHeapCreate(0, 0, 0x10000, cb_alloc, cb_free);
    snprintf(nm, sizeof nm, "%s: fixed CeHeapCreate(0, 0, 64 KB) succeeds", be);
    CHECK(nm, h != NULL);
    if (h == NULL) return;
    char *a = HeapAlloc(h, 0, 100);
    int r1 = nres;
    char *b = HeapAlloc(h, 0, 20000);
    snprintf(nm, sizeof nm, "%s: fixed CeHeap: one reservation of >= 64 KB", be);
    CHECK(nm, r1 == 1 && RES[0].size >= 0x10000);
    snprintf(nm, sizeof nm, "%s: fixed CeHeap: a 20000-byte block is no big block (no new reservation)", be);
    CHECK(nm, b != NULL && nres == 1 && block_ok(h, b, 20000, 0x21) && block_ok(h, a, 100, 0x22));
    static char *q[64];
    int nq = 0;
    DWORD err = 0;
    while (nq < 64) {
        q[nq] = CALL(HeapAlloc(h, 0, 4000));
        if (q[nq] == NULL) {
            err = GetLastError();
            break;
        }
        nq++;
    }
    snprintf(nm, sizeof nm, "%s: fixed CeHeap fills up: NULL, ERROR_NOT_ENOUGH_MEMORY, no further reservation", be);
    CHECK(nm, nq < 64 && nq >= 8 && err == ERROR_NOT_ENOUGH_MEMORY && nres == 1);
    for (int i = 0; i < nq; i++) HeapFree(h, 0, q[i]);
    snprintf(nm, sizeof nm, "%s: fixed CeHeap: after frees allocation works again", be);
    char *c = HeapAlloc(h, 0, 4000);
    CHECK(nm, block_ok(h, c, 4000, 0x23));
    int l0 = nlog;
    HeapDestroy(h);
    heap_destroyed = 1;
    snprintf(nm, sizeof nm, "%s: fixed CeHeap: destroy -> exactly one MEM_RELEASE", be);
    CHECK(nm, count_log(l0, MEM_RELEASE) == 1 && live_reservations() == 0);
    check_callbacks(be, "fixed heap");
}

static void test_bad_params(void) {
    reset_model();
    static const DWORD bad_opts[] = {HEAP_NO_SERIALIZE, HEAP_GROWABLE, HEAP_GENERATE_EXCEPTIONS, HEAP_ZERO_MEMORY,
                                     HEAP_SHARED_READONLY, 0x20000 /* CE7 HEAP_SUPPORT_FIX_BLKS */, 0x40000,
                                     0x80000000u, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof bad_opts / sizeof bad_opts[0]; i++) {
        char nm[160];
        snprintf(nm, sizeof nm, "CeHeapCreate(flOptions 0x%x) -> NULL, ERROR_INVALID_PARAMETER", (unsigned)bad_opts[i]);
        CHECK_RET_ERR(nm, CeHeapCreate(bad_opts[i], 0, 0, cb_alloc, cb_free), NULL, ERROR_INVALID_PARAMETER);
    }
    CHECK_RET_ERR("CeHeapCreate(pfnAlloc NULL) -> NULL, ERROR_INVALID_PARAMETER",
                  CeHeapCreate(0, 0, 0, NULL, cb_free), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("CeHeapCreate(pfnFree NULL) -> NULL, ERROR_INVALID_PARAMETER",
                  CeHeapCreate(0, 0, 0, cb_alloc, NULL), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("CeHeapCreate(both NULL) -> NULL, ERROR_INVALID_PARAMETER", CeHeapCreate(0, 0, 0, NULL, NULL),
                  NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("CeHeapCreate(flOptions 1, both NULL) -> NULL, ERROR_INVALID_PARAMETER",
                  CeHeapCreate(1, 0, 0, NULL, NULL), NULL, ERROR_INVALID_PARAMETER);
    CHECK_EQ_U("the refused CeHeapCreate calls made no callback", nlog, 0);
}

/* A callback that calls back into its own heap (to log, say) gets ERROR_INVALID_PARAMETER: the
 * heap is in the middle of an operation; the outer call completes and nothing is handed out twice. */
static HANDLE reenter_heap;
static int reenter_armed;
static void *reenter_inner;
static DWORD reenter_err;
static LPVOID reenter_alloc(LPVOID a, DWORD n, DWORD act, LPDWORD ud) {
    (void)ud;
    if (act == MEM_RESERVE) return VirtualAlloc(NULL, n, MEM_RESERVE, PAGE_NOACCESS);
    void *r = VirtualAlloc(a, n, MEM_COMMIT, PAGE_READWRITE);
    if (reenter_armed) {
        reenter_armed = 0;
        SetLastError(CHECK_SENTINEL);
        reenter_inner = HeapAlloc(reenter_heap, 0, 100);
        reenter_err = GetLastError();
    }
    return r;
}
static BOOL reenter_free(LPVOID a, DWORD n, DWORD act, DWORD ud) {
    (void)ud;
    return VirtualFree(a, act == MEM_RELEASE ? 0 : n, act);
}
static void test_reentry(void) {
    reenter_heap = CeHeapCreate(0, 0, 0, reenter_alloc, reenter_free);
    CHECK("reentry: CeHeapCreate", reenter_heap != NULL);
    if (reenter_heap == NULL) return;
    reenter_armed = 1;
    void *outer = HeapAlloc(reenter_heap, 0, 16);
    CHECK("reentry: the outer HeapAlloc succeeds", outer != NULL);
    CHECK("reentry: the callback's HeapAlloc on its own heap fails", reenter_inner == NULL);
    CHECK_EQ_U("reentry: ... with ERROR_INVALID_PARAMETER", reenter_err, ERROR_INVALID_PARAMETER);
    CHECK("reentry: HeapValidate(h, 0, NULL) stays TRUE", HeapValidate(reenter_heap, 0, NULL));
    CHECK("reentry: HeapFree of the outer block", HeapFree(reenter_heap, 0, outer));
    CHECK("reentry: HeapDestroy", HeapDestroy(reenter_heap));
}

int main(void) {
    test_reentry();
    test_bad_params();
    use_arena = 0;
    scenario("VirtualAlloc callbacks");
    scenario_sizes("VirtualAlloc callbacks");
    use_arena = 1;
    scenario("static-buffer callbacks");
    scenario_sizes("static-buffer callbacks");
    return check_summary();
}
