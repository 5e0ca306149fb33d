/* Desktop heap extensions (ce6 profile): HeapWalk, HeapLock, HeapUnlock, GetProcessHeaps.
 * spec3.md "Desktop extensions". */
#include "check.h"

#include "heap_util.h"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#define BIG_MIN 16385u /* ce6: n > 16384 is a big block */
#define REGION_USED 0xF000u

/* ---- wild pointers ---- */

static void *host_noaccess;
static char *win_reserved; /* page 0 committed RW, page 1 reserved */
static char *win_readonly;

static void make_wild_pointers(void) {
    host_noaccess = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (host_noaccess == MAP_FAILED) host_noaccess = NULL;
    win_reserved = VirtualAlloc(NULL, 2 * PG, MEM_RESERVE, PAGE_NOACCESS);
    if (win_reserved != NULL) VirtualAlloc(win_reserved, PG, MEM_COMMIT, PAGE_READWRITE);
    win_readonly = VirtualAlloc(NULL, PG, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (win_readonly != NULL) {
        DWORD old;
        VirtualProtect(win_readonly, PG, PAGE_READONLY, &old);
    }
}

/* ================================ GetProcessHeaps ================================ */

#define SENT_H ((HANDLE)(uintptr_t)0x5A5A5A5A5A5A5A5Aull)

static int all_sentinel(const HANDLE *b, int from, int to) {
    for (int i = from; i < to; i++)
        if (b[i] != SENT_H) return 0;
    return 1;
}

static void test_get_process_heaps(void) {
    HANDLE ph = GetProcessHeap();
    HANDLE buf[16];
    CHECK_RET_ERR("GetProcessHeaps(0, NULL) with no heap created -> 1", GetProcessHeaps(0, NULL), 1, LE_UNTOUCHED);
    for (int i = 0; i < 16; i++) buf[i] = SENT_H;
    CHECK_RET_ERR("GetProcessHeaps(16, buf) -> 1", GetProcessHeaps(16, buf), 1, LE_UNTOUCHED);
    CHECK_EQ_P("buf[0] is the process heap", buf[0], ph);
    CHECK("buf[1..15] untouched", all_sentinel(buf, 1, 16));

    HANDLE h1 = HeapCreate(0, 0, 0), h2 = HeapCreate(0, 0, 0x10000), h3 = HeapCreate(HEAP_NO_SERIALIZE, 0, 0);
    CHECK("three heaps created", h1 && h2 && h3);
    CHECK_RET_ERR("GetProcessHeaps(0, NULL) -> 4", GetProcessHeaps(0, NULL), 4, LE_UNTOUCHED);
    for (int i = 0; i < 16; i++) buf[i] = SENT_H;
    CHECK_RET_ERR("GetProcessHeaps(3, buf): no room -> 4", GetProcessHeaps(3, buf), 4, LE_UNTOUCHED);
    CHECK("no room: buf untouched", all_sentinel(buf, 0, 16));
    CHECK_RET_ERR("GetProcessHeaps(1, buf): no room -> 4", GetProcessHeaps(1, buf), 4, LE_UNTOUCHED);
    CHECK("no room (1): buf untouched", all_sentinel(buf, 0, 16));
    CHECK_RET_ERR("GetProcessHeaps(4, buf): exactly room -> 4", GetProcessHeaps(4, buf), 4, LE_UNTOUCHED);
    CHECK("exact room: process heap, h1, h2, h3 in creation order",
          buf[0] == ph && buf[1] == h1 && buf[2] == h2 && buf[3] == h3);
    CHECK("exact room: buf[4..] untouched", all_sentinel(buf, 4, 16));
    for (int i = 0; i < 16; i++) buf[i] = SENT_H;
    CHECK_RET_ERR("GetProcessHeaps(10, buf) -> 4", GetProcessHeaps(10, buf), 4, LE_UNTOUCHED);
    CHECK("more room: the 4 heaps, rest untouched",
          buf[0] == ph && buf[1] == h1 && buf[2] == h2 && buf[3] == h3 && all_sentinel(buf, 4, 16));

    CHECK_RET_ERR("destroy h2", HeapDestroy(h2), TRUE, LE_UNTOUCHED);
    HANDLE h4 = HeapCreate(0, 0, 0);
    CHECK_NE_U("h4 created", h4, NULL);
    for (int i = 0; i < 16; i++) buf[i] = SENT_H;
    CHECK_RET_ERR("after destroying h2 and creating h4 -> 4", GetProcessHeaps(16, buf), 4, LE_UNTOUCHED);
    CHECK("process heap, h1, h3, h4 (destroyed h2 gone, creation order)",
          buf[0] == ph && buf[1] == h1 && buf[2] == h3 && buf[3] == h4 && all_sentinel(buf, 4, 16));

    /* A wild buffer that is not needed is not touched. */
    CHECK_RET_ERR("GetProcessHeaps(0, wild) -> 4 (no room, buffer not used)",
                  GetProcessHeaps(0, (PHANDLE)host_noaccess), 4, LE_UNTOUCHED);
    CHECK_RET_ERR("GetProcessHeaps(3, NULL) -> 4 (no room, buffer not used)", GetProcessHeaps(3, NULL), 4,
                  LE_UNTOUCHED);

    HeapDestroy(h1);
    HeapDestroy(h3);
    HeapDestroy(h4);
    CHECK_RET_ERR("all created heaps destroyed -> 1", GetProcessHeaps(0, NULL), 1, LE_UNTOUCHED);
}

static void wild_heaps_buf_child(void *arg) {
    (void)arg;
    HANDLE a = HeapCreate(0, 0, 0), b = HeapCreate(0, 0, 0);
    DWORD n = GetProcessHeaps(0, NULL);
    CHECK_EQ_U("child: 3 heaps", n, 3);
    CHECK_RET_ERR("GetProcessHeaps(100, NULL) -> 0, ERROR_INVALID_PARAMETER", GetProcessHeaps(100, NULL), 0,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("GetProcessHeaps(n, NULL) -> 0, ERROR_INVALID_PARAMETER", GetProcessHeaps(n, NULL), 0,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("GetProcessHeaps(100, (PHANDLE)0x100) -> 0, ERROR_INVALID_PARAMETER",
                  GetProcessHeaps(100, (PHANDLE)0x100), 0, ERROR_INVALID_PARAMETER);
    if (host_noaccess != NULL)
        CHECK_RET_ERR("GetProcessHeaps(100, PROT_NONE host page) -> 0, ERROR_INVALID_PARAMETER",
                      GetProcessHeaps(100, (PHANDLE)host_noaccess), 0, ERROR_INVALID_PARAMETER);
    if (win_reserved != NULL) {
        CHECK_RET_ERR("GetProcessHeaps(100, reserved window page) -> 0, ERROR_INVALID_PARAMETER",
                      GetProcessHeaps(100, (PHANDLE)(win_reserved + PG)), 0, ERROR_INVALID_PARAMETER);
        /* room for 2 handles on the committed page, the third on the reserved one */
        CHECK_RET_ERR("GetProcessHeaps(3, buffer running into a reserved page) -> 0, ERROR_INVALID_PARAMETER",
                      GetProcessHeaps(3, (PHANDLE)(win_reserved + PG - 2 * sizeof(HANDLE))), 0,
                      ERROR_INVALID_PARAMETER);
    }
    if (win_readonly != NULL) {
        CHECK_RET_ERR("GetProcessHeaps(100, read-only page) -> 0, ERROR_INVALID_PARAMETER",
                      GetProcessHeaps(100, (PHANDLE)win_readonly), 0, ERROR_INVALID_PARAMETER);
        CHECK("the read-only page was not written", check_bytes_are(win_readonly, PG, 0));
    }
    HANDLE buf[4];
    CHECK_RET_ERR("GetProcessHeaps still works after the wild calls", GetProcessHeaps(4, buf), 3, LE_UNTOUCHED);
    HeapDestroy(a);
    HeapDestroy(b);
}

/* ==================================== HeapWalk ==================================== */

enum { MAXE = 8192 };

struct hw {
    DWORD end_err;
    int bad_call; /* a successful call set the last error */
    int n;
    PROCESS_HEAP_ENTRY e[MAXE];
};

static void heap_walk(HANDLE h, struct hw *w) {
    PROCESS_HEAP_ENTRY e;
    memset(&e, 0, sizeof e);
    e.lpData = NULL;
    w->n = 0;
    w->bad_call = 0;
    for (;;) {
        SetLastError(CHECK_SENTINEL);
        if (!HeapWalk(h, &e)) break;
        if (GetLastError() != CHECK_SENTINEL) w->bad_call = 1;
        if (w->n >= MAXE) break;
        w->e[w->n++] = e;
    }
    w->end_err = GetLastError();
}

/* Committed bytes of [p, p+n) by VirtualQuery. */
static uint64_t committed_bytes(const char *p, uint64_t n) {
    uint64_t sum = 0;
    const char *q = p;
    while (q < p + n) {
        MEMORY_BASIC_INFORMATION m;
        if (query(q, &m) != sizeof m || m.RegionSize == 0) return UINT64_MAX;
        uint64_t len = m.RegionSize;
        if (U64(q) + len > U64(p) + n) len = U64(p) + n - U64(q);
        if (m.State == MEM_COMMIT) sum += len;
        q += len;
    }
    return sum;
}

/* Structural checks of a HeapWalk: regions, their blocks, big blocks last. */
static void check_hw_shape(const char *what, const struct hw *w, int growable) {
    char nm[200];
    int flags_ok = 1, region_sizes = 1, region_bounds = 1, region_vq = 1, index_ok = 1, inside = 1, order = 1;
    int orphan = 0, big_last = 1, big_aligned = 1, distinct_idx = 1, uncommitted_sum = 1, uncommitted_vq = 1;
    int nregions = 0;
    const PROCESS_HEAP_ENTRY *reg = NULL;
    uint64_t prev_end = 0, unc_sum = 0;
    int in_bigs = 0;
    int seen_idx[256] = {0};
    for (int i = 0; i <= w->n; i++) {
        const PROCESS_HEAP_ENTRY *e = i < w->n ? &w->e[i] : NULL;
        if (e == NULL || e->wFlags == PROCESS_HEAP_REGION) {
            /* close the previous region */
            if (reg != NULL && unc_sum != reg->Region.dwUnCommittedSize) uncommitted_sum = 0;
            if (e == NULL) break;
            if (in_bigs) big_last = 0;
            reg = e;
            nregions++;
            prev_end = U64(e->lpData);
            unc_sum = 0;
            if (seen_idx[e->iRegionIndex]) distinct_idx = 0;
            seen_idx[e->iRegionIndex] = 1;
            if (growable && ((U64(e->lpData) & 0xFFFF) != 0 || e->cbData != REGION_USED)) region_sizes = 0;
            if ((uint64_t)e->Region.dwCommittedSize + e->Region.dwUnCommittedSize != e->cbData) region_sizes = 0;
            if (e->Region.dwCommittedSize % PG != 0) region_sizes = 0;
            uint64_t lo = U64(e->lpData), hi = lo + e->cbData;
            uint64_t f = U64(e->Region.lpFirstBlock), l = U64(e->Region.lpLastBlock);
            if (f < lo || f > hi || l < lo || l > hi || f > l) region_bounds = 0;
            if (committed_bytes(e->lpData, e->cbData) != e->Region.dwCommittedSize) {
                region_vq = 0;
                printf("       region %p: dwCommittedSize 0x%x, VirtualQuery says 0x%" PRIx64 "\n", e->lpData,
                       (unsigned)e->Region.dwCommittedSize, committed_bytes(e->lpData, e->cbData));
            }
            continue;
        }
        if (e->wFlags != PROCESS_HEAP_ENTRY_BUSY && e->wFlags != 0 && e->wFlags != PROCESS_HEAP_UNCOMMITTED_RANGE)
            flags_ok = 0;
        uint64_t a = U64(e->lpData);
        int in_reg = reg != NULL && a >= U64(reg->lpData) && a + e->cbData <= U64(reg->lpData) + reg->cbData;
        if (e->wFlags == PROCESS_HEAP_ENTRY_BUSY && !in_reg && growable) {
            /* a big block */
            in_bigs = 1;
            if ((a & 0xFFFF) != 0) big_aligned = 0;
            continue;
        }
        if (in_bigs) big_last = 0;
        if (reg == NULL) {
            orphan = 1;
            continue;
        }
        if (!in_reg) inside = 0;
        if (a < prev_end) order = 0;
        prev_end = a + e->cbData;
        if (e->wFlags == PROCESS_HEAP_ENTRY_BUSY && e->iRegionIndex != reg->iRegionIndex) index_ok = 0;
        if (e->wFlags == PROCESS_HEAP_UNCOMMITTED_RANGE) {
            unc_sum += e->cbData;
            MEMORY_BASIC_INFORMATION m;
            if (a % PG != 0 || e->cbData % PG != 0 || query(e->lpData, &m) != sizeof m || m.State != MEM_RESERVE)
                uncommitted_vq = 0;
        }
    }
    snprintf(nm, sizeof nm, "%s: every entry is a region, busy, free or uncommitted entry", what);
    CHECK(nm, flags_ok);
    snprintf(nm, sizeof nm, "%s: the walk has a region entry", what);
    CHECK(nm, nregions > 0);
    snprintf(nm, sizeof nm, "%s: regions: %scommitted + uncommitted == cbData, committed in pages", what,
             growable ? "64 KB aligned, cbData 60 KB, " : "");
    CHECK(nm, region_sizes);
    snprintf(nm, sizeof nm, "%s: regions: lpFirstBlock <= lpLastBlock, both inside the region", what);
    CHECK(nm, region_bounds);
    snprintf(nm, sizeof nm, "%s: regions: dwCommittedSize == committed bytes by VirtualQuery", what);
    CHECK(nm, region_vq);
    snprintf(nm, sizeof nm, "%s: regions have distinct iRegionIndex values", what);
    CHECK(nm, distinct_idx);
    snprintf(nm, sizeof nm, "%s: no block entry before the first region entry", what);
    CHECK(nm, !orphan);
    snprintf(nm, sizeof nm, "%s: a region's entries lie inside it", what);
    CHECK(nm, inside);
    snprintf(nm, sizeof nm, "%s: a region's entries ascend and do not overlap", what);
    CHECK(nm, order);
    snprintf(nm, sizeof nm, "%s: busy entries carry their region's iRegionIndex", what);
    CHECK(nm, index_ok);
    snprintf(nm, sizeof nm, "%s: uncommitted ranges sum to the region's dwUnCommittedSize", what);
    CHECK(nm, uncommitted_sum);
    snprintf(nm, sizeof nm, "%s: uncommitted ranges are page runs that VirtualQuery calls MEM_RESERVE", what);
    CHECK(nm, uncommitted_vq);
    if (growable) {
        snprintf(nm, sizeof nm, "%s: big blocks come after every region", what);
        CHECK(nm, big_last);
        snprintf(nm, sizeof nm, "%s: big blocks are 64 KB aligned", what);
        CHECK(nm, big_aligned);
    }
}

/* Index of the busy entry at p; -1 none, -2 several. */
static int find_busy(const struct hw *w, const void *p) {
    int k = -1;
    for (int i = 0; i < w->n; i++)
        if (w->e[i].lpData == p && w->e[i].wFlags == PROCESS_HEAP_ENTRY_BUSY) {
            if (k >= 0) return -2;
            k = i;
        }
    return k;
}

static int inside_region_entry(const struct hw *w, const void *p) {
    for (int i = 0; i < w->n; i++)
        if (w->e[i].wFlags == PROCESS_HEAP_REGION && U64(p) >= U64(w->e[i].lpData) &&
            U64(p) < U64(w->e[i].lpData) + w->e[i].cbData)
            return 1;
    return 0;
}

static const DWORD WS_[] = {0,    1,    7,    8,    9,    16,   17,   24,    31,    32,    33,    64,
                            100,  127,  128,  255,  256,  500,  512,  1000,  1024,  2000,  3000,  4000,
                            4096, 4097, 6000, 8000, 8192, 10000, 12000, 16000, 16384, 16385, 20000, 50000};
#define NWS_ (sizeof WS_ / sizeof WS_[0])
enum { NFILL = 250 };
#define NB (NWS_ + NFILL)

static struct hw W1, W2;

static void test_heap_walk(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    CHECK_NE_U("walk heap created", h, NULL);
    if (h == NULL) return;
    static char *p[NB];
    static DWORD hs[NB];
    static int live[NB];
    int nb = 0, ok = 1;
    for (size_t i = 0; i < NWS_; i++) {
        p[nb] = HeapAlloc(h, 0, WS_[i]);
        nb++;
    }
    for (int i = 0; i < NFILL; i++) {
        p[nb] = HeapAlloc(h, 0, 40 + (DWORD)(i % 7) * 56);
        nb++;
    }
    for (int i = 0; i < nb; i++) {
        if (p[i] == NULL) {
            ok = 0;
            continue;
        }
        hs[i] = HeapSize(h, 0, p[i]);
        live[i] = 1;
        memset(p[i], 0x11, hs[i]);
    }
    CHECK("all walk blocks allocated", ok);
    /* Free every 4th block and the 20000-byte big one; 16385 and 50000 stay. */
    int nbig = 0;
    for (int i = 0; i < nb; i++) {
        if (p[i] == NULL) continue;
        DWORD n = i < (int)NWS_ ? WS_[i] : 1;
        if (i % 4 == 2 || n == 20000) {
            HeapFree(h, 0, p[i]);
            live[i] = 0;
        } else if (n >= BIG_MIN) {
            nbig++;
        }
    }
    CHECK_EQ_U("two live big blocks", nbig, 2);

    heap_walk(h, &W1);
    CHECK_EQ_U("the walk ends with FALSE, ERROR_NO_MORE_ITEMS", W1.end_err, ERROR_NO_MORE_ITEMS);
    CHECK("successful HeapWalk calls leave the last error alone", !W1.bad_call);
    CHECK("the walk fits MAXE entries", W1.n < MAXE);
    CHECK("the first entry is a region entry", W1.n > 0 && W1.e[0].wFlags == PROCESS_HEAP_REGION);
    check_hw_shape("walk heap", &W1, 1);
    int nreg = 0;
    for (int i = 0; i < W1.n; i++) nreg += W1.e[i].wFlags == PROCESS_HEAP_REGION;
    CHECK("the walk heap has at least 2 regions (> 60 KB of small blocks)", nreg >= 2);

    int once = 1, sizes = 1, freed = 1, big_outside = 1, small_inside = 1, nlive = 0;
    for (int i = 0; i < nb; i++) {
        if (p[i] == NULL) continue;
        int k = find_busy(&W1, p[i]);
        if (!live[i]) {
            if (k != -1) freed = 0;
            continue;
        }
        nlive++;
        if (k < 0) {
            once = 0;
            printf("       live block %p appears %s\n", (void *)p[i], k == -1 ? "not at all" : "more than once");
            continue;
        }
        if (W1.e[k].cbData != hs[i]) sizes = 0;
        DWORD n = i < (int)NWS_ ? WS_[i] : 1;
        if (n >= BIG_MIN && inside_region_entry(&W1, p[i])) big_outside = 0;
        if (n < BIG_MIN && !inside_region_entry(&W1, p[i])) small_inside = 0;
    }
    int nbusy = 0;
    for (int i = 0; i < W1.n; i++) nbusy += W1.e[i].wFlags == PROCESS_HEAP_ENTRY_BUSY;
    CHECK("every live block is one busy entry", once);
    CHECK("busy entries have cbData == HeapSize", sizes);
    CHECK_EQ_U("number of busy entries == number of live blocks", nbusy, nlive);
    CHECK("freed blocks are not busy entries", freed);
    CHECK("big blocks are busy entries outside every region", big_outside);
    CHECK("small blocks lie inside a region entry", small_inside);
    int nfree = 0;
    for (int i = 0; i < W1.n; i++) nfree += W1.e[i].wFlags == 0;
    CHECK("the walk has free entries (wFlags 0)", nfree > 0);

    /* After the end it stays at the end; lpData = NULL restarts. */
    PROCESS_HEAP_ENTRY e = W1.e[W1.n > 0 ? W1.n - 1 : 0];
    CHECK_RET_ERR("HeapWalk with the last entry -> FALSE, ERROR_NO_MORE_ITEMS", HeapWalk(h, &e), FALSE,
                  ERROR_NO_MORE_ITEMS);
    memset(&e, 0xCC, sizeof e);
    e.lpData = NULL;
    CHECK_RET_ERR("HeapWalk restarts with lpData = NULL", HeapWalk(h, &e), TRUE, LE_UNTOUCHED);
    CHECK("... giving the first region again", e.lpData == W1.e[0].lpData && e.wFlags == PROCESS_HEAP_REGION &&
                                                   e.cbData == W1.e[0].cbData);
    heap_walk(h, &W2);
    int same = W2.n == W1.n && W2.end_err == ERROR_NO_MORE_ITEMS;
    for (int i = 0; same && i < W1.n; i++)
        same = W1.e[i].lpData == W2.e[i].lpData && W1.e[i].cbData == W2.e[i].cbData &&
               W1.e[i].wFlags == W2.e[i].wFlags;
    CHECK("a second walk of an unchanged heap gives the same entries", same);

    /* A block allocated now shows up in the next walk (HeapWalk is live). */
    char *nw = HeapAlloc(h, 0, 200);
    heap_walk(h, &W2);
    int k = nw != NULL ? find_busy(&W2, nw) : -1;
    CHECK("a new 200-byte block appears in the next walk as busy, cbData 200", k >= 0 && W2.e[k].cbData == 200);
    HeapFree(h, 0, nw);

    /* After HeapCompact, the regions' committed sizes still match VirtualQuery. */
    for (int i = 0; i < nb; i++)
        if (p[i] != NULL && live[i] && i % 3 == 0) {
            HeapFree(h, 0, p[i]);
            live[i] = 0;
        }
    HeapCompact(h, 0);
    heap_walk(h, &W2);
    CHECK_EQ_U("after HeapCompact: the walk ends with ERROR_NO_MORE_ITEMS", W2.end_err, ERROR_NO_MORE_ITEMS);
    check_hw_shape("after HeapCompact", &W2, 1);
    once = 1;
    nlive = 0;
    for (int i = 0; i < nb; i++) {
        if (p[i] == NULL) continue;
        int kk = find_busy(&W2, p[i]);
        if (live[i]) {
            nlive++;
            if (kk < 0 || W2.e[kk].cbData != hs[i]) once = 0;
        } else if (kk != -1) {
            once = 0;
        }
    }
    nbusy = 0;
    for (int i = 0; i < W2.n; i++) nbusy += W2.e[i].wFlags == PROCESS_HEAP_ENTRY_BUSY;
    CHECK("after HeapCompact: exactly the live blocks are busy", once && nbusy == nlive);
    int free_committed_pages = 0;
    for (int i = 0; i < W2.n; i++) {
        if (W2.e[i].wFlags != 0) continue;
        uint64_t lo = (U64(W2.e[i].lpData) + PG - 1) & ~(uint64_t)(PG - 1);
        for (uint64_t a = lo; a + PG <= U64(W2.e[i].lpData) + W2.e[i].cbData; a += PG) {
            MEMORY_BASIC_INFORMATION m;
            if (query((void *)(uintptr_t)a, &m) == sizeof m && m.State == MEM_COMMIT && free_committed_pages++ < 3)
                printf("       free entry %p+0x%x: page 0x%" PRIx64 " is still MEM_COMMIT\n", W2.e[i].lpData,
                       (unsigned)W2.e[i].cbData, a);
        }
    }
    CHECK("after HeapCompact: no whole page inside a free entry is still committed", free_committed_pages == 0);

    /* Contents untouched by walking. */
    int intact = 1;
    for (int i = 0; i < nb; i++)
        if (p[i] != NULL && live[i] && !check_bytes_are(p[i], hs[i], 0x11)) intact = 0;
    CHECK("walking did not touch the blocks", intact);

    /* Bad heap handles and entries. */
    memset(&e, 0, sizeof e);
    CHECK_RET_ERR("HeapWalk(NULL, &e) -> FALSE, ERROR_INVALID_PARAMETER", HeapWalk(NULL, &e), FALSE,
                  ERROR_INVALID_PARAMETER);
    memset(&e, 0, sizeof e);
    CHECK_RET_ERR("HeapWalk((HANDLE)0x1234, &e) -> FALSE, ERROR_INVALID_PARAMETER", HeapWalk((HANDLE)0x1234, &e),
                  FALSE, ERROR_INVALID_PARAMETER);
    memset(&e, 0, sizeof e);
    CHECK_RET_ERR("HeapWalk(a block pointer, &e) -> FALSE, ERROR_INVALID_PARAMETER", HeapWalk(p[0], &e), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapWalk(h, NULL) -> FALSE, ERROR_INVALID_PARAMETER", HeapWalk(h, NULL), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("destroy the walk heap", HeapDestroy(h), TRUE, LE_UNTOUCHED);
    memset(&e, 0, sizeof e);
    CHECK_RET_ERR("HeapWalk(destroyed heap, &e) -> FALSE, ERROR_INVALID_PARAMETER", HeapWalk(h, &e), FALSE,
                  ERROR_INVALID_PARAMETER);
}

static void test_heap_walk_other(void) {
    /* A fixed heap. */
    HANDLE f = HeapCreate(0, 0, 0x10000);
    CHECK_NE_U("fixed heap created", f, NULL);
    if (f != NULL) {
        char *a = HeapAlloc(f, 0, 100), *b = HeapAlloc(f, 0, 20000), *c = HeapAlloc(f, 0, 3000);
        CHECK("three fixed-heap blocks", a && b && c);
        HeapFree(f, 0, c);
        heap_walk(f, &W1);
        CHECK_EQ_U("fixed heap: the walk ends with ERROR_NO_MORE_ITEMS", W1.end_err, ERROR_NO_MORE_ITEMS);
        check_hw_shape("fixed heap", &W1, 0);
        int nreg = 0, nbusy = 0;
        for (int i = 0; i < W1.n; i++) {
            nreg += W1.e[i].wFlags == PROCESS_HEAP_REGION;
            nbusy += W1.e[i].wFlags == PROCESS_HEAP_ENTRY_BUSY;
        }
        CHECK_EQ_U("fixed heap: one region", nreg, 1);
        CHECK_EQ_U("fixed heap: two busy entries", nbusy, 2);
        int ka = find_busy(&W1, a), kb = find_busy(&W1, b);
        CHECK("fixed heap: the 100 and 20000-byte blocks are busy, cbData 104 and 20000, inside the region",
              ka >= 0 && kb >= 0 && W1.e[ka].cbData == 104 && W1.e[kb].cbData == 20000 &&
                  inside_region_entry(&W1, a) && inside_region_entry(&W1, b));
        CHECK("fixed heap: the region covers at least 64 KB",
              W1.n > 0 && W1.e[0].wFlags == PROCESS_HEAP_REGION && W1.e[0].cbData >= 0x10000);
        HeapDestroy(f);
    }

    /* The process heap. */
    HANDLE ph = GetProcessHeap();
    void *la = LocalAlloc(0, 10), *big = HeapAlloc(ph, 0, 30000);
    heap_walk(ph, &W1);
    CHECK_EQ_U("process heap: the walk ends with ERROR_NO_MORE_ITEMS", W1.end_err, ERROR_NO_MORE_ITEMS);
    check_hw_shape("process heap", &W1, 1);
    int k = la != NULL ? find_busy(&W1, la) : -1;
    CHECK("process heap: LocalAlloc(0,10) is a busy entry of 16 bytes", k >= 0 && W1.e[k].cbData == 16);
    k = big != NULL ? find_busy(&W1, big) : -1;
    CHECK("process heap: a 30000-byte block is a busy entry of 30000 bytes outside the regions",
          k >= 0 && W1.e[k].cbData == 30000 && !inside_region_entry(&W1, big));
    LocalFree(la);
    HeapFree(ph, 0, big);

    /* An empty heap: no busy entries. */
    HANDLE e = HeapCreate(0, 0, 0);
    void *t = HeapAlloc(e, 0, 100);
    HeapFree(e, 0, t);
    heap_walk(e, &W1);
    int nbusy = 0;
    for (int i = 0; i < W1.n; i++) nbusy += W1.e[i].wFlags == PROCESS_HEAP_ENTRY_BUSY;
    CHECK("empty heap: the walk ends with ERROR_NO_MORE_ITEMS and has no busy entry",
          W1.end_err == ERROR_NO_MORE_ITEMS && nbusy == 0);
    HeapDestroy(e);
}

static void wild_entry_child(void *arg) {
    (void)arg;
    HANDLE h = HeapCreate(0, 0, 0);
    void *blk = HeapAlloc(h, 0, 64);
    struct {
        void *p;
        const char *name;
    } wild[] = {
        {(void *)0x100, "(void*)0x100"},
        {host_noaccess, "a PROT_NONE host page"},
        {win_reserved != NULL ? win_reserved + PG : NULL, "a reserved window page"},
        {win_reserved != NULL ? win_reserved + PG - 16 : NULL, "an entry running into a reserved page"},
        {win_readonly, "a read-only page"},
    };
    for (size_t i = 0; i < sizeof wild / sizeof wild[0]; i++) {
        if (wild[i].p == NULL) continue;
        char nm[160];
        if (wild[i].p == win_reserved + PG - 16) memset(wild[i].p, 0, 16); /* lpData NULL: a start */
        snprintf(nm, sizeof nm, "HeapWalk(h, %s) -> FALSE, ERROR_INVALID_PARAMETER", wild[i].name);
        CHECK_RET_ERR(nm, HeapWalk(h, (LPPROCESS_HEAP_ENTRY)wild[i].p), FALSE, ERROR_INVALID_PARAMETER);
    }
    if (win_readonly != NULL) CHECK("the read-only page was not written", check_bytes_are(win_readonly, PG, 0));
    CHECK_RET_ERR("the heap still validates", HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("the block is still valid", HeapValidate(h, 0, blk), TRUE, LE_UNTOUCHED);
    HeapDestroy(h);
}

/* ============================== HeapLock / HeapUnlock ============================== */

struct worker {
    HANDLE h;
    int op; /* 0 HeapAlloc, 1 HeapUnlock, 2 LocalAlloc, 3 HeapAlloc(HEAP_NO_SERIALIZE) */
    int done;
    void *p;
    BOOL r;
    DWORD err;
};

static void *worker_fn(void *arg) {
    struct worker *w = arg;
    SetLastError(CHECK_SENTINEL);
    switch (w->op) {
    case 0: w->p = HeapAlloc(w->h, 0, 48); break;
    case 1: w->r = HeapUnlock(w->h); break;
    case 2: w->p = LocalAlloc(0, 48); break;
    case 3: w->p = HeapAlloc(w->h, HEAP_NO_SERIALIZE, 48); break;
    }
    w->err = GetLastError();
    store_flag(&w->done, 1);
    return NULL;
}

static int start_worker(pthread_t *t, struct worker *w, HANDLE h, int op) {
    memset(w, 0, sizeof *w);
    w->h = h;
    w->op = op;
    return pthread_create(t, NULL, worker_fn, w) == 0;
}

/* A thread that takes the lock, reports, then unlocks when told to. */
struct holder {
    HANDLE h;
    int locked, go, done;
    BOOL lock_r, unlock_r;
};

static void *holder_fn(void *arg) {
    struct holder *o = arg;
    o->lock_r = HeapLock(o->h);
    store_flag(&o->locked, 1);
    wait_flag(&o->go, 10000);
    o->unlock_r = HeapUnlock(o->h);
    store_flag(&o->done, 1);
    return NULL;
}

static void test_heap_lock(void) {
    HANDLE h = HeapCreate(0, 0, 0), h2 = HeapCreate(0, 0, 0);
    CHECK("two heaps for the lock tests", h != NULL && h2 != NULL);
    if (h == NULL || h2 == NULL) return;
    pthread_t t, t2;
    struct worker w, w2;

    /* Basic: B blocks while A holds the lock; finishes after the unlock. */
    CHECK_RET_ERR("HeapLock(h) -> TRUE", HeapLock(h), TRUE, LE_UNTOUCHED);
    void *mine = CALL(HeapAlloc(h, 0, 100));
    CHECK("the holder can allocate (reentrant)", mine != NULL && GetLastError() == CHECK_SENTINEL);
    CHECK_EQ_U("the holder can HeapSize", HeapSize(h, 0, mine), 104);
    CHECK_RET_ERR("the holder can HeapFree", HeapFree(h, 0, mine), TRUE, LE_UNTOUCHED);
    PROCESS_HEAP_ENTRY e;
    memset(&e, 0, sizeof e);
    CHECK_RET_ERR("the holder can HeapWalk", HeapWalk(h, &e), TRUE, LE_UNTOUCHED);
    int started = start_worker(&t, &w, h, 0);
    CHECK("thread B started", started);
    int started2 = start_worker(&t2, &w2, h2, 0);
    CHECK("thread C (other heap) finishes while A holds h's lock", started2 && wait_flag(&w2.done, 3000) &&
                                                                       w2.p != NULL);
    if (started2) pthread_join(t2, NULL);
    sleep_ms(300);
    CHECK("thread B's HeapAlloc(h) has not finished while A holds the lock (300 ms)", !load_flag(&w.done));
    CHECK_RET_ERR("HeapUnlock(h) -> TRUE", HeapUnlock(h), TRUE, LE_UNTOUCHED);
    CHECK("thread B finishes after the unlock", started && wait_flag(&w.done, 5000));
    CHECK("thread B's block is valid", w.p != NULL && HeapValidate(h, 0, w.p));
    if (started) pthread_join(t, NULL);

    /* Nested: two locks need two unlocks. */
    CHECK_RET_ERR("HeapLock(h) #1", HeapLock(h), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("HeapLock(h) #2 (nested)", HeapLock(h), TRUE, LE_UNTOUCHED);
    started = start_worker(&t, &w, h, 0);
    sleep_ms(150);
    CHECK_RET_ERR("HeapUnlock(h) #1", HeapUnlock(h), TRUE, LE_UNTOUCHED);
    sleep_ms(300);
    CHECK("after one of two unlocks thread B is still blocked", started && !load_flag(&w.done));
    CHECK_RET_ERR("HeapUnlock(h) #2", HeapUnlock(h), TRUE, LE_UNTOUCHED);
    CHECK("after the second unlock thread B finishes", started && wait_flag(&w.done, 5000) && w.p != NULL);
    if (started) pthread_join(t, NULL);
    CHECK_RET_ERR("a third HeapUnlock -> FALSE, ERROR_NOT_OWNER", HeapUnlock(h), FALSE, ERROR_NOT_OWNER);
    CHECK_RET_ERR("HeapUnlock on a heap never locked -> FALSE, ERROR_NOT_OWNER", HeapUnlock(h2), FALSE,
                  ERROR_NOT_OWNER);

    /* HEAP_NO_SERIALIZE does not bypass the lock (every heap is serialized). */
    CHECK_RET_ERR("HeapLock(h) for the NO_SERIALIZE check", HeapLock(h), TRUE, LE_UNTOUCHED);
    started = start_worker(&t, &w, h, 3);
    sleep_ms(300);
    CHECK("HeapAlloc(h, HEAP_NO_SERIALIZE) in thread B waits for the lock too", started && !load_flag(&w.done));
    CHECK_RET_ERR("HeapUnlock(h)", HeapUnlock(h), TRUE, LE_UNTOUCHED);
    CHECK("... and finishes after the unlock", started && wait_flag(&w.done, 5000) && w.p != NULL);
    if (started) pthread_join(t, NULL);

    /* HeapUnlock from a thread that does not hold the lock: FALSE, ERROR_NOT_OWNER, at once (a
     * non-owner must not wait for the owner: that can deadlock). */
    static struct worker wu;
    pthread_t tu;
    CHECK_RET_ERR("HeapLock(h) held by main", HeapLock(h), TRUE, LE_UNTOUCHED);
    int started_u = start_worker(&tu, &wu, h, 1);
    int fin = started_u && wait_flag(&wu.done, 1500);
    CHECK("HeapUnlock(h) in thread B returns without waiting for main's lock (1.5 s)", fin);
    started = start_worker(&t, &w, h, 0);
    sleep_ms(300);
    CHECK("main still holds the lock after the non-owner's unlock (B's HeapAlloc waits)",
          started && !load_flag(&w.done));
    CHECK_RET_ERR("main's HeapUnlock -> TRUE", HeapUnlock(h), TRUE, LE_UNTOUCHED);
    CHECK("B's HeapAlloc finishes", started && wait_flag(&w.done, 5000) && w.p != NULL);
    if (started) pthread_join(t, NULL);
    if (started_u) {
        wait_flag(&wu.done, 5000);
        CHECK_EQ_U("HeapUnlock by a non-owner -> FALSE", wu.r, FALSE);
        CHECK_EQ_U("HeapUnlock by a non-owner -> ERROR_NOT_OWNER", wu.err, ERROR_NOT_OWNER);
        if (load_flag(&wu.done)) pthread_join(tu, NULL);
        else pthread_detach(tu);
    }

    /* Another thread holds it: a third thread's HeapUnlock is refused at once; HeapAlloc waits. */
    struct holder o;
    memset(&o, 0, sizeof o);
    o.h = h;
    pthread_t th;
    started = pthread_create(&th, NULL, holder_fn, &o) == 0;
    CHECK("holder thread took the lock", started && wait_flag(&o.locked, 3000) && o.lock_r == TRUE);
    static struct worker wu2;
    started_u = start_worker(&tu, &wu2, h, 1);
    fin = started_u && wait_flag(&wu2.done, 1500);
    CHECK("HeapUnlock(h) from a thread that does not hold it returns at once while another holds it", fin);
    started2 = start_worker(&t2, &w2, h, 0);
    sleep_ms(300);
    CHECK("a third thread's HeapAlloc waits for the holder", started2 && !load_flag(&w2.done));
    store_flag(&o.go, 1);
    CHECK("the holder's HeapUnlock -> TRUE", started && wait_flag(&o.done, 5000) && o.unlock_r == TRUE);
    CHECK("the waiting HeapAlloc finishes", started2 && wait_flag(&w2.done, 5000) && w2.p != NULL);
    if (started) pthread_join(th, NULL);
    if (started2) pthread_join(t2, NULL);
    if (started_u) {
        wait_flag(&wu2.done, 5000);
        CHECK("... and says FALSE, ERROR_NOT_OWNER", wu2.r == FALSE && wu2.err == ERROR_NOT_OWNER);
        if (load_flag(&wu2.done)) pthread_join(tu, NULL);
        else pthread_detach(tu);
    }
    CHECK_RET_ERR("main can allocate after all that", HeapFree(h, 0, HeapAlloc(h, 0, 10)), TRUE, LE_UNTOUCHED);

    /* The process heap locks LocalAlloc. */
    HANDLE ph = GetProcessHeap();
    CHECK_RET_ERR("HeapLock(GetProcessHeap()) -> TRUE", HeapLock(ph), TRUE, LE_UNTOUCHED);
    started = start_worker(&t, &w, ph, 2);
    sleep_ms(300);
    CHECK("another thread's LocalAlloc waits while the process heap is locked", started && !load_flag(&w.done));
    void *lp = LocalAlloc(0, 20);
    CHECK("the holder's own LocalAlloc works", lp != NULL);
    LocalFree(lp);
    CHECK_RET_ERR("HeapUnlock(GetProcessHeap()) -> TRUE", HeapUnlock(ph), TRUE, LE_UNTOUCHED);
    CHECK("the LocalAlloc finishes after the unlock", started && wait_flag(&w.done, 5000) && w.p != NULL);
    if (started) pthread_join(t, NULL);
    LocalFree(w.p);

    /* Bad handles. */
    HANDLE dead = HeapCreate(0, 0, 0);
    HeapDestroy(dead);
    void *blk = HeapAlloc(h, 0, 32);
    const struct {
        HANDLE h;
        const char *name;
    } bad[] = {{NULL, "NULL"},
               {(HANDLE)0x1234, "(HANDLE)0x1234"},
               {INVALID_HANDLE_VALUE, "INVALID_HANDLE_VALUE"},
               {dead, "a destroyed heap"},
               {blk, "a block pointer"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char nm[160];
        snprintf(nm, sizeof nm, "HeapLock(%s) -> FALSE, ERROR_INVALID_PARAMETER", bad[i].name);
        CHECK_RET_ERR(nm, HeapLock(bad[i].h), FALSE, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "HeapUnlock(%s) -> FALSE, ERROR_INVALID_PARAMETER", bad[i].name);
        CHECK_RET_ERR(nm, HeapUnlock(bad[i].h), FALSE, ERROR_INVALID_PARAMETER);
    }
    HeapFree(h, 0, blk);
    CHECK_RET_ERR("destroy h", HeapDestroy(h), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("destroy h2", HeapDestroy(h2), TRUE, LE_UNTOUCHED);
}

int main(void) {
    make_wild_pointers();
    test_get_process_heaps(); /* first: no heap created yet */
    check_child("GetProcessHeaps with wild buffers never crashes", wild_heaps_buf_child, NULL);
    test_heap_walk();
    test_heap_walk_other();
    check_child("HeapWalk with wild entries never crashes", wild_entry_child, NULL);
    test_heap_lock();
    return check_summary();
}
