/* Heap API, ce5 profile (COREDLL_PROFILE=ce5): spec3.md "Behaviour" ce5 notes, CONTRACT.md "Heaps",
 * CE-SEMANTICS.md §9.1-9.2: big blocks from 98,280 bytes, 188 KB regions in 192 KB of address space,
 * sizes > 1 GB fail with ERROR_NOT_ENOUGH_MEMORY, a growable heap can fill the 32 MB slot. */
#include "check.h"
#include "heap_util.h"

#define CE5_REGION_USED 0x2F000u /* 188 KB */
#define CE5_REGION_VA 0x30000u   /* 192 KB of address space */
#define CE5_BIG_MIN 98280u

/* Bytes from base that belong to the reservation at base (walk while AllocationBase == base). */
static uint64_t reservation_extent(const char *base, uint64_t limit) {
    const char *a = base;
    while (U64(a) < U64(base) + limit) {
        MEMORY_BASIC_INFORMATION m;
        if (query(a, &m) != sizeof m || m.RegionSize == 0 || m.AllocationBase != base) break;
        a += m.RegionSize;
    }
    return U64(a) - U64(base);
}

static void test_profile(void) {
    DWORD s = 0;
    char *w = window_base(0, &s);
    CHECK("ce5: window 0 is the 32 MB slot", w != NULL && s <= 0x2000000u && s >= 0x1F00000u);
}

static void test_threshold(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    CHECK("ce5: HeapCreate growable", h != NULL);
    if (h == NULL) return;
    char *s = HeapAlloc(h, 0, 16);
    char *a = HeapAlloc(h, 0, CE5_BIG_MIN - 1);
    char *b = HeapAlloc(h, 0, CE5_BIG_MIN);
    CHECK("ce5: allocations 16, 98279, 98280 succeed", s != NULL && a != NULL && b != NULL);
    if (s == NULL || a == NULL || b == NULL) return;
    CHECK("ce5: pointers 16-byte aligned, below 4 GB, inside a window", good_ptr(s, 16) && good_ptr(a, 98280) &&
                                                                            good_ptr(b, 98280));
    char *rs = alloc_base(s);
    CHECK("ce5 region: AllocationBase 64 KB aligned", rs != NULL && (U64(rs) & 0xFFFF) == 0);
    CHECK_QUERY("ce5 region block: MEM_COMMIT/PAGE_READWRITE/MEM_PRIVATE", s, U64(s) & ~(uint64_t)(PG - 1), rs, Q_ANY,
                MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    uint64_t ext = reservation_extent(rs, 0x100000);
    char nm[200];
    snprintf(nm, sizeof nm, "ce5 region reservation covers 188 KB..192 KB (0x%" PRIx64 ")", ext);
    CHECK(nm, ext >= CE5_REGION_USED && ext <= CE5_REGION_VA);
    CHECK("ce5 region: the next 64 KB after the 192 KB is not part of it", alloc_base(rs + CE5_REGION_VA) != rs);
    CHECK_EQ_P("ce5: 98279 bytes is a region block (shares the 16-byte block's region)", alloc_base(a), rs);
    CHECK("ce5: the 98279-byte block lies inside the region's 188 KB", a >= rs && a + 98280 <= rs + CE5_REGION_USED);
    CHECK_EQ_U("ce5: HeapSize(98279) = 98280", HeapSize(h, 0, a), 98280);
    CHECK_EQ_U("ce5: 98280 bytes is a big block: pointer 64 KB aligned", U64(b) & 0xFFFF, 0);
    CHECK_QUERY("ce5 big block: own reservation, committed RW private", b, b, b, Q_ANY, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);
    CHECK("ce5 big block: not in the region", alloc_base(b) != rs);
    snprintf(nm, sizeof nm, "ce5 big block 98280: reservation smaller than a region (0x%" PRIx64 ")",
             reservation_extent(b, 0x100000));
    CHECK(nm, reservation_extent(b, 0x100000) <= 0x20000);
    CHECK_EQ_U("ce5: HeapSize(98280) = 98280", HeapSize(h, 0, b), 98280);
    /* 16385..98279 are region blocks in ce5. */
    char *m = HeapAlloc(h, 0, 16385);
    CHECK("ce5: 16385 bytes is a region block (in a region-sized reservation), HeapSize 16392",
          m != NULL && reservation_extent(alloc_base(m), 0x100000) >= CE5_REGION_USED && HeapSize(h, 0, m) == 16392);
    char *m2 = HeapAlloc(h, 0, 50000);
    CHECK("ce5: 50000 bytes is a region block (in a region-sized reservation), HeapSize 50000",
          m2 != NULL && reservation_extent(alloc_base(m2), 0x100000) >= CE5_REGION_USED && HeapSize(h, 0, m2) == 50000);
    static const DWORD sizes[] = {98281, 100000, 131072, 200001, 1000000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *p = CALL(HeapAlloc(h, 0, sizes[i]));
        snprintf(nm, sizeof nm, "ce5: HeapAlloc(%u) is a big block: 64 KB aligned own reservation, HeapSize %u",
                 (unsigned)sizes[i], (unsigned)r8(sizes[i]));
        CHECK(nm, p != NULL && GetLastError() == LE_UNTOUCHED && (U64(p) & 0xFFFF) == 0 && alloc_base(p) == p &&
                      HeapSize(h, 0, p) == r8(sizes[i]) && good_ptr(p, sizes[i]));
        HANDLE hf = HeapCreate(0, 0, 0); /* a new heap has nothing to recycle */
        char *f = hf != NULL ? HeapAlloc(hf, 0, sizes[i]) : NULL;
        snprintf(nm, sizeof nm, "ce5: fresh big block %u of a new heap reads zero at both ends", (unsigned)sizes[i]);
        CHECK(nm, f != NULL && check_bytes_are(f, 4096, 0) && check_bytes_are(f + r8(sizes[i]) - 4096, 4096, 0));
        if (hf != NULL) HeapDestroy(hf);
        if (p != NULL) {
            fill(p, 0x5C, r8(sizes[i]));
            HeapFree(h, 0, p);
        }
    }
    /* Recycled big block: HEAP_ZERO_MEMORY zeroes. */
    char *z = HeapAlloc(h, HEAP_ZERO_MEMORY, 100000);
    CHECK("ce5: HEAP_ZERO_MEMORY big 100000 after freed dirty ones reads zero",
          z != NULL && check_bytes_are(z, 100000, 0));
    if (z != NULL) HeapFree(h, 0, z);
    /* The big block cache is bounded by 1 MB in ce5. */
    char *c[6];
    for (int i = 0; i < 6; i++) c[i] = HeapAlloc(h, 0, 300000); /* 320 KB reservations */
    for (int i = 0; i < 6; i++)
        if (c[i] != NULL) HeapFree(h, 0, c[i]);
    uint64_t held = 0;
    for (int i = 0; i < 6; i++)
        if (c[i] != NULL && state_of(c[i]) != MEM_FREE) held += 300000;
    snprintf(nm, sizeof nm, "ce5: after freeing six 300000-byte big blocks at most 1 MB stays cached (%" PRIu64 ")",
             held);
    CHECK(nm, held <= 0x100000);
    UINT r = CALL(HeapCompact(h, 0));
    CHECK("ce5: HeapCompact nonzero with last error untouched, or 0 with last error 0",
          (r != 0 && GetLastError() == LE_UNTOUCHED) || (r == 0 && GetLastError() == 0));
    int released = 1;
    for (int i = 0; i < 6; i++)
        if (c[i] != NULL) released &= state_of(c[i]) == MEM_FREE;
    CHECK("ce5: HeapCompact released the cached big blocks", released);
    /* Region blocks grow in place, big ones keep their contents across realloc. */
    char *g = HeapAlloc(h, 0, 8);
    CHECK_RET_ERR("ce5: 8 -> 16 IN_PLACE_ONLY -> same pointer", HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY, g, 16), g,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("ce5: IN_PLACE_ONLY 16 -> 200000 (beyond a region) -> NULL, ERROR_NOT_ENOUGH_MEMORY",
                  HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY, g, 200000), NULL, ERROR_NOT_ENOUGH_MEMORY);
    fill(g, 0x61, 16);
    char *g2 = HeapReAlloc(h, HEAP_ZERO_MEMORY, g, 150000);
    CHECK("ce5: 16 -> 150000 (region -> big): contents kept, growth zeroed, big block",
          g2 != NULL && HeapSize(h, 0, g2) == 150000 && check_bytes_are(g2, 16, 0x61) &&
              check_bytes_are(g2 + 16, 150000 - 16, 0) && (U64(g2) & 0xFFFF) == 0);
    CHECK_RET_ERR("ce5: big shrink 150000 -> 1000 in place", HeapReAlloc(h, 0, g2, 1000), g2, LE_UNTOUCHED);
    CHECK("ce5: after the shrink HeapSize 1000, first 16 bytes kept", HeapSize(h, 0, g2) == 1000 &&
                                                                         check_bytes_are(g2, 16, 0x61));
    CHECK_RET_ERR("ce5 heap healthy", HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("ce5: HeapDestroy", HeapDestroy(h), TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("ce5: the region is released by HeapDestroy", state_of(rs), MEM_FREE);
    CHECK_EQ_U("ce5: the live big block is released by HeapDestroy", state_of(b), MEM_FREE);
}

static void test_sizes_ce5(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    if (h == NULL) return;
    int bad = -1;
    for (DWORD n = 0; n <= 300; n++) {
        void *p = HeapAlloc(h, 0, n);
        if ((!good_ptr(p, r8(n)) || HeapSize(h, 0, p) != r8(n)) && bad < 0) bad = (int)n;
    }
    char nm[160];
    snprintf(nm, sizeof nm, "ce5: HeapSize of n = 0..300 is n rounded up to 8, 16-aligned; first bad n %d", bad);
    CHECK(nm, bad < 0);
    /* > 1 GB: ERROR_NOT_ENOUGH_MEMORY in ce5 (ERROR_INVALID_PARAMETER in ce6). */
    static const DWORD big[] = {ONE_GB + 1, 0x80000000u, 0xFFFFFFFFu};
    char *p = HeapAlloc(h, 0, 64);
    for (size_t i = 0; i < 3; i++) {
        snprintf(nm, sizeof nm, "ce5: HeapAlloc(0x%x > 1 GB) -> NULL, ERROR_NOT_ENOUGH_MEMORY", (unsigned)big[i]);
        CHECK_RET_ERR(nm, HeapAlloc(h, 0, big[i]), NULL, ERROR_NOT_ENOUGH_MEMORY);
        snprintf(nm, sizeof nm, "ce5: HeapReAlloc(64 -> 0x%x > 1 GB) -> NULL, ERROR_NOT_ENOUGH_MEMORY", (unsigned)big[i]);
        CHECK_RET_ERR(nm, HeapReAlloc(h, 0, p, big[i]), NULL, ERROR_NOT_ENOUGH_MEMORY);
        snprintf(nm, sizeof nm, "ce5: LocalAlloc(0x%x > 1 GB) -> NULL, ERROR_NOT_ENOUGH_MEMORY", (unsigned)big[i]);
        CHECK_RET_ERR(nm, LocalAlloc(LMEM_FIXED, big[i]), NULL, ERROR_NOT_ENOUGH_MEMORY);
        snprintf(nm, sizeof nm, "ce5: LocalReAlloc(0x%x > 1 GB, LMEM_MOVEABLE) -> NULL, ERROR_NOT_ENOUGH_MEMORY",
                 (unsigned)big[i]);
        void *l = LocalAlloc(0, 32);
        CHECK_RET_ERR(nm, LocalReAlloc(l, big[i], LMEM_MOVEABLE), NULL, ERROR_NOT_ENOUGH_MEMORY);
        LocalFree(l);
    }
    CHECK("ce5: the block survived the failed reallocs", HeapSize(h, 0, p) == 64 && HeapValidate(h, 0, p) == TRUE);
    CHECK_RET_ERR("ce5: HeapAlloc(1 GB exactly) -> NULL, ERROR_NOT_ENOUGH_MEMORY", HeapAlloc(h, 0, ONE_GB), NULL,
                  ERROR_NOT_ENOUGH_MEMORY);
    /* Flag rules are the same as ce6. */
    CHECK_RET_ERR("ce5: HeapAlloc(HEAP_GENERATE_EXCEPTIONS) -> NULL, ERROR_INVALID_PARAMETER",
                  HeapAlloc(h, HEAP_GENERATE_EXCEPTIONS, 10), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("ce5: HeapCreate(HEAP_GROWABLE) -> NULL, ERROR_INVALID_PARAMETER", HeapCreate(HEAP_GROWABLE, 0, 0),
                  NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("ce5: HeapCreate initial > max -> NULL, ERROR_INVALID_PARAMETER", HeapCreate(0, 0x20000, 0x10000),
                  NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("ce5: HeapCreate max > 1 GB -> NULL, ERROR_INVALID_PARAMETER", HeapCreate(0, 0, ONE_GB + 1), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("ce5: HeapFree(h, 0, NULL) -> FALSE, ERROR_INVALID_PARAMETER", HeapFree(h, 0, NULL), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("ce5: HeapReAlloc(HEAP_GENERATE_EXCEPTIONS) -> NULL, ERROR_NOT_SUPPORTED",
                  HeapReAlloc(h, HEAP_GENERATE_EXCEPTIONS, p, 16), NULL, ERROR_NOT_SUPPORTED);
    HeapDestroy(h);
    /* Fixed heaps: never big blocks. */
    h = HeapCreate(0, 0, 0x40000);
    if (h != NULL) {
        char *a = HeapAlloc(h, 0, 150000), *b = HeapAlloc(h, 0, 16);
        CHECK("ce5 fixed heap: a 150000-byte block is no big block (same reservation as a 16-byte one)",
              a != NULL && b != NULL && alloc_base(a) == alloc_base(b) && HeapSize(h, 0, a) == 150000);
        CHECK_RET_ERR("ce5 fixed 256 KB heap: HeapAlloc(200000) -> NULL, ERROR_NOT_ENOUGH_MEMORY",
                      HeapAlloc(h, 0, 200000), NULL, ERROR_NOT_ENOUGH_MEMORY);
        HeapDestroy(h);
    }
}

/* A growable heap fills the 32 MB slot, fails with NULL + ERROR_NOT_ENOUGH_MEMORY, recovers after frees. */
static void test_fill_slot(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    CHECK("ce5: heap for the slot-filling test", h != NULL);
    if (h == NULL) return;
    enum { MAXB = 20000 };
    static char *p[MAXB];
    int n = 0;
    DWORD err = 0;
    while (n < MAXB) {
        p[n] = CALL(HeapAlloc(h, 0, 4000));
        if (p[n] == NULL) {
            err = GetLastError();
            break;
        }
        p[n][0] = (char)n;
        p[n][3999] = (char)(n >> 8);
        n++;
    }
    char nm[200];
    snprintf(nm, sizeof nm, "ce5: a growable heap fills the slot with 4000-byte blocks (%d blocks, ~%d MB)", n,
             n * 4000 >> 20);
    CHECK(nm, n < MAXB && n > 4000);
    CHECK_EQ_U("ce5: the slot is full: HeapAlloc -> NULL + ERROR_NOT_ENOUGH_MEMORY", err, ERROR_NOT_ENOUGH_MEMORY);
    int inside = 1;
    for (int i = 0; i < n; i++) inside &= in_window(0, p[i], 4000);
    CHECK("ce5: every region block lies in the slot (window 0)", inside);
    CHECK_RET_ERR("ce5: full slot: HeapAlloc(300000) (a big block) -> NULL, ERROR_NOT_ENOUGH_MEMORY",
                  HeapAlloc(h, 0, 300000), NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK_RET_ERR("ce5: full slot: HeapAlloc(4000) again -> NULL, ERROR_NOT_ENOUGH_MEMORY", HeapAlloc(h, 0, 4000), NULL,
                  ERROR_NOT_ENOUGH_MEMORY);
    if (n > 10) {
        CHECK_RET_ERR("ce5: full slot: HeapReAlloc 4000 -> 300000 -> NULL, ERROR_NOT_ENOUGH_MEMORY",
                      HeapReAlloc(h, 0, p[5], 300000), NULL, ERROR_NOT_ENOUGH_MEMORY);
        CHECK("ce5: the block survived", HeapSize(h, 0, p[5]) == 4000 && p[5][0] == (char)5);
    }
    CHECK_RET_ERR("ce5: full heap is healthy", HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);
    int kept = 1;
    for (int i = 0; i < n; i++) kept &= p[i][0] == (char)i && p[i][3999] == (char)(i >> 8);
    CHECK("ce5: every block of the full slot kept its bytes", kept);
    /* Free ten, allocate ten again. */
    for (int i = 0; i < 10 && i < n; i++) HeapFree(h, 0, p[n - 1 - i]);
    int again = 0;
    for (int i = 0; i < 10 && i < n; i++) {
        p[n - 1 - i] = HeapAlloc(h, 0, 4000);
        again += p[n - 1 - i] != NULL;
    }
    CHECK_EQ_U("ce5: after 10 frees, 10 allocations succeed again", again, 10);
    for (int i = 0; i < n; i++)
        if (p[i] != NULL) HeapFree(h, 0, p[i]);
    char *q = CALL(HeapAlloc(h, 0, 4000));
    CHECK("ce5: after freeing everything, HeapAlloc succeeds", q != NULL && GetLastError() == LE_UNTOUCHED);
    CHECK_RET_ERR("ce5: HeapDestroy of the slot-filling heap", HeapDestroy(h), TRUE, LE_UNTOUCHED);
    char *v = CALL(VirtualAlloc(NULL, 0x100000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));
    CHECK("ce5: after HeapDestroy the slot has room again (1 MB VirtualAlloc)", v != NULL);
    if (v != NULL) VirtualFree(v, 0, MEM_RELEASE);
    h = HeapCreate(0, 0, 0);
    char *bb = h != NULL ? HeapAlloc(h, 0, 300000) : NULL;
    CHECK("ce5: a new heap gets a big block again", bb != NULL);
    if (h != NULL) HeapDestroy(h);
}

/* A bad handle or block is ERROR_INVALID_PARAMETER even with a size over 1 GB (CE 5's
 * ERROR_NOT_ENOUGH_MEMORY for the size comes from the allocation, after the checks). */
static void test_error_order_ce5(void) {
    HANDLE ph = GetProcessHeap();
    void *p = HeapAlloc(ph, 0, 10);
    CHECK_RET_ERR("ce5: HeapAlloc bad heap, 2 GB", HeapAlloc((HANDLE)0x1234, 0, 0x80000000u),
                  NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("ce5: HeapAlloc NULL heap, 2 GB", HeapAlloc(NULL, 0, 0x80000000u), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("ce5: HeapReAlloc wild block, 2 GB",
                  HeapReAlloc(ph, 0, (void *)0x1234, 0x80000000u), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("ce5: LocalReAlloc wild block, 2 GB",
                  LocalReAlloc((HLOCAL)0x1234, 0x80000000u, LMEM_MOVEABLE), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("ce5: HeapReAlloc good block, 2 GB", HeapReAlloc(ph, 0, p, 0x80000000u), NULL,
                  ERROR_NOT_ENOUGH_MEMORY);
    CHECK_RET_ERR("ce5: LocalAlloc 2 GB", LocalAlloc(LMEM_FIXED, 0x80000000u), NULL,
                  ERROR_NOT_ENOUGH_MEMORY);
    CHECK_EQ_U("ce5: the block is untouched", HeapSize(ph, 0, p), 16);
    HeapFree(ph, 0, p);
}

int main(void) {
    test_error_order_ce5();
    test_profile();
    test_threshold();
    test_sizes_ce5();
    test_fill_slot();
    return check_summary();
}
