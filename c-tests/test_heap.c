/* Heap API conformance (ce6 profile): spec3.md "Behaviour", CONTRACT.md "Heaps", CE-SEMANTICS.md §9.
 * HeapCreate/HeapAlloc/HeapReAlloc/HeapFree/HeapSize/HeapValidate/HeapDestroy/HeapCompact/GetProcessHeap. */
#include "check.h"
#include "heap_util.h"

#define REGION_USED 0xF000u /* a growable heap uses 60 KB of each 64 KB region */
#define BIG_MIN 16385u      /* smallest big block (n > 16384) */

/* Committed bytes of the pages in [base, base + span) that belong to the reservation at base. */
static uint64_t committed_in(const char *base, DWORD span) {
    uint64_t sum = 0;
    const char *a = base;
    while (a < base + span) {
        MEMORY_BASIC_INFORMATION m;
        if (query(a, &m) != sizeof m || m.RegionSize == 0) break;
        if (m.AllocationBase != base) break;
        uint64_t len = m.RegionSize;
        if (U64(a) + len > U64(base) + span) len = U64(base) + span - U64(a);
        if (m.State == MEM_COMMIT) sum += len;
        a += len;
    }
    return sum;
}

/* ------------------------------------------------------------------------------------------ */

static void test_process_heap(void) {
    HANDLE ph = CALL(GetProcessHeap());
    CHECK_NE_U("GetProcessHeap is never NULL", ph, NULL);
    CHECK_LE("GetProcessHeap leaves the last error alone", LE_UNTOUCHED);
    for (int i = 0; i < 3; i++)
        CHECK_RET_ERR("GetProcessHeap returns the same value every call", GetProcessHeap(), ph, LE_UNTOUCHED);
    char *p = CALL(HeapAlloc(ph, 0, 10));
    CHECK("HeapAlloc(process heap, 10) succeeds, 16-byte aligned, below 4 GB, in window 0", good_ptr(p, 16));
    CHECK_LE("successful HeapAlloc leaves the last error alone", LE_UNTOUCHED);
    CHECK_RET_ERR("HeapSize(process heap, 10-byte block) = 16", HeapSize(ph, 0, p), 16, LE_UNTOUCHED);
    CHECK_RET_ERR("HeapValidate(process heap, block) TRUE", HeapValidate(ph, 0, p), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("HeapValidate(process heap, NULL) TRUE", HeapValidate(ph, 0, NULL), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("HeapFree(process heap, block) TRUE, last error untouched", HeapFree(ph, 0, p), TRUE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("HeapDestroy(process heap) -> FALSE, ERROR_INVALID_PARAMETER", HeapDestroy(ph), FALSE,
                  ERROR_INVALID_PARAMETER);
    p = CALL(HeapAlloc(ph, 0, 100));
    CHECK("process heap still usable after the refused HeapDestroy", good_ptr(p, 104) && GetLastError() == LE_UNTOUCHED);
    if (p != NULL) HeapFree(ph, 0, p);
    UINT c = CALL(HeapCompact(ph, 0));
    CHECK("HeapCompact(process heap): nonzero with last error untouched, or 0 with last error 0",
          (c != 0 && GetLastError() == LE_UNTOUCHED) || (c == 0 && GetLastError() == 0));
}

static void test_create(void) {
    static const struct named good[] = {
        {0, "0"},
        {HEAP_NO_SERIALIZE, "HEAP_NO_SERIALIZE"},
        {HEAP_SHARED_READONLY, "HEAP_SHARED_READONLY"},
        {HEAP_NO_SERIALIZE | HEAP_SHARED_READONLY, "HEAP_NO_SERIALIZE|HEAP_SHARED_READONLY"},
    };
    static const struct named bad[] = {
        {HEAP_GROWABLE, "HEAP_GROWABLE"},
        {HEAP_GENERATE_EXCEPTIONS, "HEAP_GENERATE_EXCEPTIONS"},
        {HEAP_ZERO_MEMORY, "HEAP_ZERO_MEMORY"},
        {HEAP_REALLOC_IN_PLACE_ONLY, "HEAP_REALLOC_IN_PLACE_ONLY"},
        {HEAP_TAIL_CHECKING_ENABLED, "HEAP_TAIL_CHECKING_ENABLED"},
        {HEAP_FREE_CHECKING_ENABLED, "HEAP_FREE_CHECKING_ENABLED"},
        {HEAP_DISABLE_COALESCE_ON_FREE, "HEAP_DISABLE_COALESCE_ON_FREE"},
        {HEAP_CREATE_ALIGN_16, "HEAP_CREATE_ALIGN_16"},
        {HEAP_CREATE_ENABLE_TRACING, "HEAP_CREATE_ENABLE_TRACING"},
        {0x40000u, "0x40000 (HEAP_CREATE_ENABLE_EXECUTE, CE7 only)"},
        {HEAP_NO_SERIALIZE | HEAP_GROWABLE, "HEAP_NO_SERIALIZE|HEAP_GROWABLE"},
        {HEAP_SHARED_READONLY | HEAP_GENERATE_EXCEPTIONS, "HEAP_SHARED_READONLY|HEAP_GENERATE_EXCEPTIONS"},
        {0x80000000u, "0x80000000"},
        {0xFFFFFFFFu, "0xFFFFFFFF"},
    };
    char nm[160];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        for (int fixed = 0; fixed < 2; fixed++) {
            DWORD max = fixed ? 0x10000u : 0;
            HANDLE h = CALL(HeapCreate(good[i].v, 0, max));
            snprintf(nm, sizeof nm, "HeapCreate(%s, 0, 0x%x) succeeds, last error untouched", good[i].name,
                     (unsigned)max);
            CHECK(nm, h != NULL && GetLastError() == LE_UNTOUCHED);
            if (h == NULL) continue;
            char *p = HeapAlloc(h, 0, 100);
            snprintf(nm, sizeof nm, "heap from HeapCreate(%s, 0, 0x%x) allocates and frees", good[i].name,
                     (unsigned)max);
            CHECK(nm, good_ptr(p, 104) && pat_fill(p, 104, i) && pat_ok(p, 104, i) && HeapFree(h, 0, p) == TRUE);
            snprintf(nm, sizeof nm, "HeapDestroy of HeapCreate(%s, 0, 0x%x) -> TRUE, last error untouched",
                     good[i].name, (unsigned)max);
            CHECK_RET_ERR(nm, HeapDestroy(h), TRUE, LE_UNTOUCHED);
        }
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(nm, sizeof nm, "HeapCreate(%s, 0, 0) -> NULL, ERROR_INVALID_PARAMETER", bad[i].name);
        CHECK_RET_ERR(nm, HeapCreate(bad[i].v, 0, 0), NULL, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "HeapCreate(%s, 0, 64 KB) -> NULL, ERROR_INVALID_PARAMETER", bad[i].name);
        CHECK_RET_ERR(nm, HeapCreate(bad[i].v, 0, 0x10000), NULL, ERROR_INVALID_PARAMETER);
    }
    /* Sizes. */
    CHECK_RET_ERR("HeapCreate max 0x40000001 (> 1 GB) -> ERROR_INVALID_PARAMETER", HeapCreate(0, 0, 0x40000001), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapCreate max 0x80000000 -> ERROR_INVALID_PARAMETER", HeapCreate(0, 0, 0x80000000u), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapCreate max 0xFFFFFFFF -> ERROR_INVALID_PARAMETER", HeapCreate(0, 0, 0xFFFFFFFFu), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapCreate initial 128 KB > max 64 KB -> ERROR_INVALID_PARAMETER", HeapCreate(0, 0x20000, 0x10000),
                  NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapCreate initial 0x10001 > max 0x10000 -> ERROR_INVALID_PARAMETER",
                  HeapCreate(0, 0x10001, 0x10000), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapCreate initial 2 > max 1 -> ERROR_INVALID_PARAMETER", HeapCreate(0, 2, 1), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapCreate max exactly 1 GB (window is 1 GB - 64 KB) -> NULL, ERROR_NOT_ENOUGH_MEMORY",
                  HeapCreate(0, 0, ONE_GB), NULL, ERROR_NOT_ENOUGH_MEMORY);
    HANDLE h = CALL(HeapCreate(0, 0x10000, 0x10000));
    CHECK("HeapCreate initial == max (64 KB) succeeds, last error untouched", h != NULL && GetLastError() == LE_UNTOUCHED);
    if (h != NULL) HeapDestroy(h);
    h = CALL(HeapCreate(0, 0x100000, 0));
    CHECK("HeapCreate growable with initial 1 MB succeeds", h != NULL && GetLastError() == LE_UNTOUCHED);
    if (h != NULL) {
        char *p = HeapAlloc(h, 0, 5000);
        CHECK("growable heap with an initial size allocates", good_ptr(p, 5000) && HeapSize(h, 0, p) == 5000);
        HeapDestroy(h);
    }
    /* Two heaps are different handles with separate blocks. */
    HANDLE a = HeapCreate(0, 0, 0), b = HeapCreate(0, 0, 0);
    CHECK("two HeapCreate calls give two distinct non-NULL handles", a != NULL && b != NULL && a != b &&
                                                                          a != GetProcessHeap() && b != GetProcessHeap());
    if (a != NULL && b != NULL) {
        char *pa = HeapAlloc(a, 0, 32), *pb = HeapAlloc(b, 0, 32);
        CHECK_RET_ERR("block of heap A is not valid in heap B", HeapValidate(b, 0, pa), FALSE, LE_UNTOUCHED);
        CHECK_RET_ERR("HeapFree(B, block of A) -> FALSE, ERROR_INVALID_PARAMETER", HeapFree(b, 0, pa), FALSE,
                      ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("HeapSize(A, block of B) -> -1, ERROR_INVALID_PARAMETER", HeapSize(a, 0, pb), (DWORD)-1,
                      ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("block of A still valid in A", HeapValidate(a, 0, pa), TRUE, LE_UNTOUCHED);
    }
    if (a != NULL) HeapDestroy(a);
    if (b != NULL) HeapDestroy(b);
}

static void test_alloc_flags(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    HANDLE fx = HeapCreate(0, 0, 0x10000);
    CHECK("growable and fixed heap for flag tests", h != NULL && fx != NULL);
    if (h == NULL || fx == NULL) return;
    static const struct named good[] = {
        {0, "0"},
        {HEAP_NO_SERIALIZE, "HEAP_NO_SERIALIZE"},
        {HEAP_ZERO_MEMORY, "HEAP_ZERO_MEMORY"},
        {HEAP_NO_SERIALIZE | HEAP_ZERO_MEMORY, "HEAP_NO_SERIALIZE|HEAP_ZERO_MEMORY"},
    };
    static const struct named bad[] = {
        {HEAP_GENERATE_EXCEPTIONS, "HEAP_GENERATE_EXCEPTIONS"},
        {HEAP_GENERATE_EXCEPTIONS | HEAP_ZERO_MEMORY, "HEAP_GENERATE_EXCEPTIONS|HEAP_ZERO_MEMORY"},
        {HEAP_GROWABLE, "HEAP_GROWABLE"},
        {HEAP_REALLOC_IN_PLACE_ONLY, "HEAP_REALLOC_IN_PLACE_ONLY"},
        {HEAP_TAIL_CHECKING_ENABLED, "HEAP_TAIL_CHECKING_ENABLED"},
        {HEAP_FREE_CHECKING_ENABLED, "HEAP_FREE_CHECKING_ENABLED"},
        {HEAP_DISABLE_COALESCE_ON_FREE, "HEAP_DISABLE_COALESCE_ON_FREE"},
        {0x100u, "0x100"},
        {HEAP_SHARED_READONLY, "HEAP_SHARED_READONLY"},
        {HEAP_CREATE_ALIGN_16, "HEAP_CREATE_ALIGN_16"},
        {0x80000000u, "0x80000000"},
        {0xFFFFFFFFu, "0xFFFFFFFF"},
    };
    char nm[160];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char *p = CALL(HeapAlloc(h, good[i].v, 24));
        snprintf(nm, sizeof nm, "HeapAlloc(%s, 24) succeeds, last error untouched", good[i].name);
        CHECK(nm, good_ptr(p, 24) && GetLastError() == LE_UNTOUCHED);
        snprintf(nm, sizeof nm, "HeapAlloc(%s, 24): HeapSize 24", good[i].name);
        CHECK_RET_ERR(nm, HeapSize(h, good[i].v & HEAP_NO_SERIALIZE, p), 24, LE_UNTOUCHED);
        snprintf(nm, sizeof nm, "HeapFree(h, %s, p) -> TRUE", good[i].v & HEAP_NO_SERIALIZE ? "HEAP_NO_SERIALIZE" : "0");
        CHECK_RET_ERR(nm, HeapFree(h, good[i].v & HEAP_NO_SERIALIZE, p), TRUE, LE_UNTOUCHED);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(nm, sizeof nm, "HeapAlloc(growable, %s, 24) -> NULL, ERROR_INVALID_PARAMETER", bad[i].name);
        CHECK_RET_ERR(nm, HeapAlloc(h, bad[i].v, 24), NULL, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "HeapAlloc(fixed, %s, 24) -> NULL, ERROR_INVALID_PARAMETER", bad[i].name);
        CHECK_RET_ERR(nm, HeapAlloc(fx, bad[i].v, 24), NULL, ERROR_INVALID_PARAMETER);
    }
    static const DWORD too_big[] = {ONE_GB + 1, ONE_GB + 0x1000, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFF8u, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof too_big / sizeof too_big[0]; i++) {
        snprintf(nm, sizeof nm, "HeapAlloc(growable, 0, 0x%x > 1 GB) -> NULL, ERROR_INVALID_PARAMETER",
                 (unsigned)too_big[i]);
        CHECK_RET_ERR(nm, HeapAlloc(h, 0, too_big[i]), NULL, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "HeapAlloc(fixed 64 KB, ZERO, 0x%x > 1 GB) -> NULL, ERROR_INVALID_PARAMETER",
                 (unsigned)too_big[i]);
        CHECK_RET_ERR(nm, HeapAlloc(fx, HEAP_ZERO_MEMORY, too_big[i]), NULL, ERROR_INVALID_PARAMETER);
    }
    CHECK_RET_ERR("HeapAlloc(growable, exactly 1 GB) -> no room: NULL, ERROR_NOT_ENOUGH_MEMORY",
                  HeapAlloc(h, 0, ONE_GB), NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK_RET_ERR("HeapAlloc(growable, 1 GB - 7) -> no room: NULL, ERROR_NOT_ENOUGH_MEMORY",
                  HeapAlloc(h, HEAP_ZERO_MEMORY, ONE_GB - 7), NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK_RET_ERR("HeapAlloc(fixed 64 KB, 64 KB + 1) -> NULL, ERROR_NOT_ENOUGH_MEMORY (never a big block)",
                  HeapAlloc(fx, 0, 0x10001), NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK_RET_ERR("HeapAlloc(fixed 64 KB, 1 GB) -> NULL, ERROR_NOT_ENOUGH_MEMORY", HeapAlloc(fx, 0, ONE_GB), NULL,
                  ERROR_NOT_ENOUGH_MEMORY);
    CHECK_RET_ERR("failed allocations left the growable heap healthy", HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("failed allocations left the fixed heap healthy", HeapValidate(fx, 0, NULL), TRUE, LE_UNTOUCHED);
    char *p = HeapAlloc(fx, 0, 0x10000);
    CHECK("after the failures the fixed 64 KB heap still gives its whole 64 KB", p != NULL);
    HeapDestroy(h);
    HeapDestroy(fx);
}

/* HeapSize for n = 0..300 on a growable, the process and a fixed heap; alignment; no overlap. */
static void sizes_on(HANDLE h, const char *what) {
    enum { N = 301 };
    static char *p[N];
    static struct blk b[N];
    char nm[200];
    int bad_size = -1, bad_ptr = -1, bad_le = -1;
    for (DWORD n = 0; n < N; n++) {
        p[n] = CALL(HeapAlloc(h, 0, n));
        if (GetLastError() != LE_UNTOUCHED && bad_le < 0) bad_le = (int)n;
        if (!good_ptr(p[n], r8(n)) && bad_ptr < 0) bad_ptr = (int)n;
        DWORD s = p[n] != NULL ? HeapSize(h, 0, p[n]) : 0;
        if (s != r8(n) && bad_size < 0) {
            bad_size = (int)n;
            printf("       %s: HeapAlloc(%u) -> %p, HeapSize %u, expected %u\n", what, (unsigned)n, (void *)p[n],
                   (unsigned)s, (unsigned)r8(n));
        }
        b[n].a = U64(p[n]);
        b[n].n = r8(n);
    }
    snprintf(nm, sizeof nm, "%s: HeapSize of every n = 0..300 is n rounded up to 8 (0 -> 8); first bad n %d", what,
             bad_size);
    CHECK(nm, bad_size < 0);
    snprintf(nm, sizeof nm, "%s: every pointer 16-byte aligned, below 4 GB, in window 0; first bad n %d", what,
             bad_ptr);
    CHECK(nm, bad_ptr < 0);
    snprintf(nm, sizeof nm, "%s: every successful HeapAlloc left the last error alone; first bad n %d", what, bad_le);
    CHECK(nm, bad_le < 0);
    int filled = 1;
    for (DWORD n = 0; n < N; n++)
        if (p[n] != NULL) filled &= pat_fill(p[n], r8(n), n + 1000);
    int kept = 1;
    for (DWORD n = 0; n < N; n++)
        if (p[n] != NULL) kept &= pat_ok(p[n], r8(n), n + 1000);
    snprintf(nm, sizeof nm, "%s: all 301 blocks writable over their HeapSize and keep distinct patterns", what);
    CHECK(nm, filled && kept);
    snprintf(nm, sizeof nm, "%s: no two of the 301 blocks overlap", what);
    CHECK(nm, first_overlap(b, N) < 0);
    int freed = 0;
    for (DWORD n = 0; n < N; n++) freed += p[n] != NULL && HeapFree(h, 0, p[n]) == TRUE;
    snprintf(nm, sizeof nm, "%s: all 301 blocks freed", what);
    CHECK_EQ_U(nm, freed, N);
}

static void test_sizes(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    HANDLE fx = HeapCreate(0, 0, 0x100000);
    CHECK("heaps for the size tests", h != NULL && fx != NULL);
    if (h == NULL || fx == NULL) return;
    sizes_on(h, "growable heap");
    sizes_on(GetProcessHeap(), "process heap");
    sizes_on(fx, "fixed 1 MB heap");

    /* One check per n on a fresh heap, so a failure names its n. */
    HANDLE h2 = HeapCreate(0, 0, 0);
    char nm[160];
    for (DWORD n = 0; n <= 300; n++) {
        void *p = HeapAlloc(h2, 0, n);
        snprintf(nm, sizeof nm, "HeapSize(HeapAlloc(%u)) = %u", (unsigned)n, (unsigned)r8(n));
        CHECK_RET_ERR(nm, HeapSize(h2, 0, p), r8(n), LE_UNTOUCHED);
    }
    HeapDestroy(h2);

    /* Large values on the growable heap. */
    static const DWORD large[] = {1000,  4095,   4096,   4097,   8191,    8192,    12345,      16376,
                                  16377, 16383,  16384,  16385,  16392,   16393,   20000,      32768,
                                  61440, 65535,  65536,  65537,  100000,  131072,  1000000,    1048576,
                                  4194305, 67108865};
    for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) {
        DWORD n = large[i];
        char *p = CALL(HeapAlloc(h, 0, n));
        snprintf(nm, sizeof nm, "HeapAlloc(growable, %u) succeeds, last error untouched", (unsigned)n);
        CHECK(nm, p != NULL && GetLastError() == LE_UNTOUCHED);
        if (p == NULL) continue;
        snprintf(nm, sizeof nm, "HeapSize(%u-byte block) = %u", (unsigned)n, (unsigned)r8(n));
        CHECK_RET_ERR(nm, HeapSize(h, 0, p), r8(n), LE_UNTOUCHED);
        snprintf(nm, sizeof nm, "%u-byte block: 16-byte aligned, below 4 GB, inside window 0", (unsigned)n);
        CHECK(nm, good_ptr(p, r8(n)));
        if (n >= BIG_MIN) {
            snprintf(nm, sizeof nm, "%u-byte block is a big block: pointer 64 KB aligned", (unsigned)n);
            CHECK_EQ_U(nm, U64(p) & 0xFFFF, 0);
            snprintf(nm, sizeof nm, "%u-byte big block: committed RW private, AllocationBase = the pointer",
                     (unsigned)n);
            CHECK_QUERY(nm, p, p, p, Q_ANY, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
            MEMORY_BASIC_INFORMATION m;
            query(p, &m);
            snprintf(nm, sizeof nm, "%u-byte big block: the committed run covers the block", (unsigned)n);
            CHECK(nm, m.RegionSize >= r8(n));
            /* A fresh big block (first one of a new heap, so none can be recycled) reads zero. */
            HANDLE hf = HeapCreate(0, 0, 0);
            char *f = hf != NULL ? HeapAlloc(hf, 0, n) : NULL;
            DWORD k = r8(n) < 0x10000 ? r8(n) : 0x10000;
            snprintf(nm, sizeof nm, "fresh %u-byte big block of a new heap reads zero (first and last 64 KB)",
                     (unsigned)n);
            CHECK(nm, f != NULL && check_bytes_are(f, k, 0) && check_bytes_are(f + r8(n) - k, k, 0));
            if (hf != NULL) HeapDestroy(hf);
        } else {
            char *base = alloc_base(p);
            snprintf(nm, sizeof nm, "%u-byte block is a region block: region base 64 KB aligned, block inside "
                                    "its first 60 KB",
                     (unsigned)n);
            CHECK(nm, base != NULL && (U64(base) & 0xFFFF) == 0 && p >= base && p + r8(n) <= base + REGION_USED);
            snprintf(nm, sizeof nm, "%u-byte region block: VirtualQuery MEM_COMMIT/PAGE_READWRITE/MEM_PRIVATE",
                     (unsigned)n);
            CHECK_QUERY(nm, p, U64(p) & ~(uint64_t)(PG - 1), base, Q_ANY, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
        }
        snprintf(nm, sizeof nm, "%u-byte block: first and last 8 bytes writable", (unsigned)n);
        CHECK(nm, pat_fill(p, 8, n) && pat_fill(p + r8(n) - 8, 8, n + 1) && pat_ok(p, 8, n) &&
                      pat_ok(p + r8(n) - 8, 8, n + 1));
        snprintf(nm, sizeof nm, "HeapValidate(%u-byte block) TRUE, interior +16 FALSE", (unsigned)n);
        CHECK(nm, HeapValidate(h, 0, p) == TRUE && HeapValidate(h, 0, p + 16) == FALSE);
        snprintf(nm, sizeof nm, "HeapFree(%u-byte block) -> TRUE, last error untouched", (unsigned)n);
        CHECK_RET_ERR(nm, HeapFree(h, 0, p), TRUE, LE_UNTOUCHED);
    }
    /* Same large values on the fixed heap where they fit: never big blocks. */
    static const DWORD fl[] = {16384, 16385, 20000, 65536, 100000, 500000};
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) {
        char *p = CALL(HeapAlloc(fx, 0, fl[i]));
        snprintf(nm, sizeof nm, "fixed heap: HeapAlloc(%u) succeeds, HeapSize %u, in the heap's reservation",
                 (unsigned)fl[i], (unsigned)r8(fl[i]));
        CHECK(nm, good_ptr(p, fl[i]) && HeapSize(fx, 0, p) == r8(fl[i]) && alloc_base(p) != NULL &&
                      alloc_base(p) + 0x100000 >= p + r8(fl[i]));
        if (p != NULL) HeapFree(fx, 0, p);
    }
    HeapDestroy(h);
    HeapDestroy(fx);
}

static void test_zero_size(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    if (h == NULL) return;
    enum { N = 100 };
    char *p[N];
    struct blk b[N];
    int ok = 1, sizes = 1, writable = 1;
    for (int i = 0; i < N; i++) {
        p[i] = HeapAlloc(h, 0, 0);
        ok &= good_ptr(p[i], 8);
        sizes &= p[i] != NULL && HeapSize(h, 0, p[i]) == 8;
        writable &= p[i] != NULL && pat_fill(p[i], 8, (uint64_t)i);
        b[i].a = U64(p[i]);
        b[i].n = 8;
    }
    for (int i = 0; i < N; i++) writable &= p[i] != NULL && pat_ok(p[i], 8, (uint64_t)i);
    CHECK("HeapAlloc(h, 0, 0) x100: valid 16-aligned pointers", ok);
    CHECK("HeapAlloc(h, 0, 0): HeapSize 8", sizes);
    CHECK("HeapAlloc(h, 0, 0): 8 writable bytes each, patterns kept", writable);
    CHECK("HeapAlloc(h, 0, 0) x100: unique, non-overlapping", first_overlap(b, N) < 0);
    HeapDestroy(h);
}

static void test_zero_memory(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    if (h == NULL) return;
    enum { N = 400 };
    char *p[N];
    /* Dirty the heap: blocks of 1..400 bytes filled with 0xAA, all freed. */
    for (int i = 0; i < N; i++) {
        p[i] = HeapAlloc(h, 0, (DWORD)i + 1);
        if (p[i] != NULL) fill(p[i], 0xAA, r8((DWORD)i + 1));
    }
    for (int i = 0; i < N; i++)
        if (p[i] != NULL) HeapFree(h, 0, p[i]);
    int bad = -1;
    for (int i = 0; i < N; i++) {
        DWORD n = (DWORD)(N - i); /* reverse order: lands on differently sized dirty memory */
        p[i] = HeapAlloc(h, HEAP_ZERO_MEMORY, n);
        if ((p[i] == NULL || !check_bytes_are(p[i], r8(n), 0)) && bad < 0) bad = (int)n;
        if (p[i] != NULL) fill(p[i], 0xAA, r8(n));
    }
    char nm[160];
    snprintf(nm, sizeof nm, "HEAP_ZERO_MEMORY zeroes the whole HeapSize on dirty memory (n = 1..400); first bad n %d",
             bad);
    CHECK(nm, bad < 0);
    for (int i = 0; i < N; i++)
        if (p[i] != NULL) HeapFree(h, 0, p[i]);
    /* Big blocks: a recycled one must be zeroed by HEAP_ZERO_MEMORY. */
    char *b = HeapAlloc(h, 0, 30000);
    CHECK("big block 30000 reads zero when fresh", b != NULL && check_bytes_are(b, 30000, 0));
    if (b != NULL) {
        fill(b, 0x77, 30000);
        HeapFree(h, 0, b);
    }
    for (int round = 0; round < 3; round++) {
        char *z = HeapAlloc(h, HEAP_ZERO_MEMORY, 30000);
        CHECK("HEAP_ZERO_MEMORY 30000 (maybe a recycled big block) reads zero", z != NULL && check_bytes_are(z, 30000, 0));
        if (z != NULL) {
            fill(z, 0x77, 30000);
            HeapFree(h, 0, z);
        }
        z = HeapAlloc(h, HEAP_ZERO_MEMORY, 29000);
        CHECK("HEAP_ZERO_MEMORY 29000 after a freed dirty 30000 big block reads zero",
              z != NULL && HeapSize(h, 0, z) == 29000 && check_bytes_are(z, 29000, 0));
        if (z != NULL) {
            fill(z, 0x77, 29000);
            HeapFree(h, 0, z);
        }
    }
    HeapDestroy(h);
    /* Fixed heap. */
    HANDLE fx = HeapCreate(0, 0, 0x10000);
    if (fx == NULL) return;
    char *w = HeapAlloc(fx, 0, 0x10000);
    CHECK("fixed 64 KB heap: whole-heap block", w != NULL && fill(w, 0xAB, 0x10000));
    if (w != NULL) HeapFree(fx, 0, w);
    char *z1 = HeapAlloc(fx, HEAP_ZERO_MEMORY, 1000), *z2 = HeapAlloc(fx, HEAP_ZERO_MEMORY, 13);
    CHECK("fixed heap: HEAP_ZERO_MEMORY 1000 on dirty memory reads zero", z1 != NULL && check_bytes_are(z1, 1000, 0));
    CHECK("fixed heap: HEAP_ZERO_MEMORY 13 zeroes all 16 bytes of HeapSize",
          z2 != NULL && HeapSize(fx, 0, z2) == 16 && check_bytes_are(z2, 16, 0));
    HeapDestroy(fx);
}

static void test_realloc_flags(void) {
    HANDLE h = HeapCreate(0, 0, 0), h2 = HeapCreate(0, 0, 0);
    if (h == NULL || h2 == NULL) return;
    char *p = HeapAlloc(h, 0, 64);
    char *o = HeapAlloc(h2, 0, 64);
    CHECK("blocks for the HeapReAlloc flag tests", p != NULL && o != NULL && pat_fill(p, 64, 7));
    if (p == NULL || o == NULL) return;
    static const struct named bad[] = {
        {HEAP_GROWABLE, "HEAP_GROWABLE"},
        {HEAP_TAIL_CHECKING_ENABLED, "HEAP_TAIL_CHECKING_ENABLED"},
        {HEAP_FREE_CHECKING_ENABLED, "HEAP_FREE_CHECKING_ENABLED"},
        {HEAP_DISABLE_COALESCE_ON_FREE, "HEAP_DISABLE_COALESCE_ON_FREE"},
        {0x100u, "0x100"},
        {HEAP_SHARED_READONLY, "HEAP_SHARED_READONLY"},
        {0x80000000u, "0x80000000"},
        {HEAP_GENERATE_EXCEPTIONS | HEAP_TAIL_CHECKING_ENABLED, "HEAP_GENERATE_EXCEPTIONS|0x20 (set checked first)"},
        {0xFFFFFFFFu, "0xFFFFFFFF"},
    };
    char nm[200];
    DWORD sizes[] = {32, 64, 200};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (size_t k = 0; k < 3; k++) {
            snprintf(nm, sizeof nm, "HeapReAlloc(%s, 64 -> %u) -> NULL, ERROR_INVALID_PARAMETER", bad[i].name,
                     (unsigned)sizes[k]);
            CHECK_RET_ERR(nm, HeapReAlloc(h, bad[i].v, p, sizes[k]), NULL, ERROR_INVALID_PARAMETER);
        }
    static const struct named gex[] = {
        {HEAP_GENERATE_EXCEPTIONS, "HEAP_GENERATE_EXCEPTIONS"},
        {HEAP_GENERATE_EXCEPTIONS | HEAP_ZERO_MEMORY, "HEAP_GENERATE_EXCEPTIONS|HEAP_ZERO_MEMORY"},
        {HEAP_GENERATE_EXCEPTIONS | HEAP_NO_SERIALIZE | HEAP_REALLOC_IN_PLACE_ONLY,
         "HEAP_GENERATE_EXCEPTIONS|HEAP_NO_SERIALIZE|HEAP_REALLOC_IN_PLACE_ONLY"},
    };
    for (size_t i = 0; i < sizeof gex / sizeof gex[0]; i++)
        for (size_t k = 0; k < 3; k++) {
            snprintf(nm, sizeof nm, "HeapReAlloc(%s, 64 -> %u) -> NULL, ERROR_NOT_SUPPORTED", gex[i].name,
                     (unsigned)sizes[k]);
            CHECK_RET_ERR(nm, HeapReAlloc(h, gex[i].v, p, sizes[k]), NULL, ERROR_NOT_SUPPORTED);
        }
    static const DWORD too_big[] = {ONE_GB + 1, 0x80000000u, 0xFFFFFFFFu};
    for (size_t i = 0; i < 3; i++) {
        snprintf(nm, sizeof nm, "HeapReAlloc(0, 0x%x > 1 GB) -> NULL, ERROR_INVALID_PARAMETER", (unsigned)too_big[i]);
        CHECK_RET_ERR(nm, HeapReAlloc(h, 0, p, too_big[i]), NULL, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "HeapReAlloc(IN_PLACE_ONLY, 0x%x > 1 GB) -> NULL, ERROR_INVALID_PARAMETER",
                 (unsigned)too_big[i]);
        CHECK_RET_ERR(nm, HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY, p, too_big[i]), NULL, ERROR_INVALID_PARAMETER);
    }
    CHECK_RET_ERR("HeapReAlloc(0, exactly 1 GB) -> no room: NULL, ERROR_NOT_ENOUGH_MEMORY", HeapReAlloc(h, 0, p, ONE_GB),
                  NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK_RET_ERR("HeapReAlloc(NULL block) -> NULL, ERROR_INVALID_PARAMETER", HeapReAlloc(h, 0, NULL, 32), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapReAlloc(interior p+16) -> NULL, ERROR_INVALID_PARAMETER", HeapReAlloc(h, 0, p + 16, 32), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapReAlloc(block of another heap) -> NULL, ERROR_INVALID_PARAMETER", HeapReAlloc(h, 0, o, 32), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK("all failed reallocs left the block untouched (HeapSize 64, contents, valid)",
          HeapSize(h, 0, p) == 64 && pat_ok(p, 64, 7) && HeapValidate(h, 0, p) == TRUE);
    CHECK("the other heap's block is untouched", HeapSize(h2, 0, o) == 64 && HeapValidate(h2, 0, o) == TRUE);
    /* Accepted flag combinations (shrinks, always in place). */
    static const struct named good[] = {
        {0, "0"},
        {HEAP_NO_SERIALIZE, "HEAP_NO_SERIALIZE"},
        {HEAP_REALLOC_IN_PLACE_ONLY, "HEAP_REALLOC_IN_PLACE_ONLY"},
        {HEAP_ZERO_MEMORY, "HEAP_ZERO_MEMORY"},
        {HEAP_NO_SERIALIZE | HEAP_REALLOC_IN_PLACE_ONLY | HEAP_ZERO_MEMORY, "NO_SERIALIZE|IN_PLACE_ONLY|ZERO_MEMORY"},
    };
    DWORD sz = 64;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        sz -= 8;
        snprintf(nm, sizeof nm, "HeapReAlloc(%s) shrink to %u -> same pointer, last error untouched", good[i].name,
                 (unsigned)sz);
        CHECK_RET_ERR(nm, HeapReAlloc(h, good[i].v, p, sz), p, LE_UNTOUCHED);
        snprintf(nm, sizeof nm, "after HeapReAlloc(%s): HeapSize %u, contents kept", good[i].name, (unsigned)sz);
        CHECK(nm, HeapSize(h, 0, p) == sz && pat_ok(p, sz, 7));
    }
    HeapFree(h, 0, p);
    CHECK_RET_ERR("HeapReAlloc(freed block) -> NULL, ERROR_INVALID_PARAMETER", HeapReAlloc(h, 0, p, 32), NULL,
                  ERROR_INVALID_PARAMETER);
    HeapDestroy(h);
    HeapDestroy(h2);
}

static void test_realloc(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    if (h == NULL) return;
    char nm[200];
    /* Same size, shrink. */
    char *p = HeapAlloc(h, 0, 200);
    pat_fill(p, 200, 1);
    CHECK_RET_ERR("HeapReAlloc(IN_PLACE_ONLY, same size 200) -> same pointer", HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY, p, 200),
                  p, LE_UNTOUCHED);
    CHECK_RET_ERR("HeapReAlloc(0, same size 200) -> same pointer", HeapReAlloc(h, 0, p, 200), p, LE_UNTOUCHED);
    CHECK_RET_ERR("shrink 200 -> 50 -> same pointer", HeapReAlloc(h, 0, p, 50), p, LE_UNTOUCHED);
    CHECK("after shrink to 50: HeapSize 56, first 56 bytes kept", HeapSize(h, 0, p) == 56 && pat_ok(p, 56, 1));
    CHECK_RET_ERR("shrink 56 -> 0 (IN_PLACE_ONLY) -> same pointer", HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY, p, 0), p,
                  LE_UNTOUCHED);
    CHECK("after shrink to 0: HeapSize 8, first 8 bytes kept", HeapSize(h, 0, p) == 8 && pat_ok(p, 8, 1));
    HeapFree(h, 0, p);

    /* Minimal in-place growth: up to the next multiple of 16, with live neighbours all around. */
    enum { M = 64 };
    char *q[M];
    DWORD qn[M];
    for (int i = 0; i < M; i++) {
        qn[i] = (DWORD)(1 + (i * 7) % 120);
        q[i] = HeapAlloc(h, 0, qn[i]);
        if (q[i] != NULL) pat_fill(q[i], r8(qn[i]), 100 + (uint64_t)i);
    }
    int bad = -1, tested = 0;
    for (int i = 0; i < M; i++) {
        if (q[i] == NULL) continue;
        DWORD s = r8(qn[i]);
        DWORD up = (s + 15) & ~15u;
        if (up == s) continue;
        tested++;
        void *r = HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY, q[i], up);
        if ((r != q[i] || HeapSize(h, 0, q[i]) != up || !pat_ok(q[i], s, 100 + (uint64_t)i)) && bad < 0) bad = (int)qn[i];
        qn[i] = up;
        pat_fill(q[i], up, 100 + (uint64_t)i);
    }
    snprintf(nm, sizeof nm, "IN_PLACE_ONLY growth of a small block to the next multiple of 16 succeeds in place "
                            "(%d blocks, live neighbours); first bad n %d",
             tested, bad);
    CHECK(nm, tested > 10 && bad < 0);
    int kept = 1;
    for (int i = 0; i < M; i++)
        if (q[i] != NULL) kept &= pat_ok(q[i], qn[i], 100 + (uint64_t)i);
    CHECK("neighbours kept their contents after the in-place growths", kept);
    /* 8 -> 16 and 24 -> 32 exactly as the spec's examples. */
    char *e8 = HeapAlloc(h, 0, 8), *e8n = HeapAlloc(h, 0, 8);
    char *e24 = HeapAlloc(h, 0, 24), *e24n = HeapAlloc(h, 0, 24);
    CHECK_RET_ERR("8 -> 16 with IN_PLACE_ONLY -> same pointer", HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY, e8, 16), e8,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("24 -> 32 with IN_PLACE_ONLY -> same pointer", HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY, e24, 32),
                  e24, LE_UNTOUCHED);
    CHECK("HeapSize 16 and 32 after the minimal growths", HeapSize(h, 0, e8) == 16 && HeapSize(h, 0, e24) == 32);
    CHECK("neighbours still valid", HeapValidate(h, 0, e8n) == TRUE && HeapValidate(h, 0, e24n) == TRUE);

    /* small -> small (may move): contents kept, old block gone if moved. */
    p = HeapAlloc(h, 0, 100);
    char *blocker = HeapAlloc(h, 0, 100);
    pat_fill(p, 104, 2);
    char *r = CALL(HeapReAlloc(h, 0, p, 3000));
    CHECK("grow 100 -> 3000 succeeds, last error untouched", r != NULL && GetLastError() == LE_UNTOUCHED);
    if (r != NULL) {
        CHECK("grow 100 -> 3000: HeapSize 3000, first 104 bytes kept, 16-aligned",
              HeapSize(h, 0, r) == 3000 && pat_ok(r, 104, 2) && good_ptr(r, 3000));
        if (r != p) {
            CHECK_RET_ERR("moved: the old pointer is no longer a block (HeapValidate)", HeapValidate(h, 0, p), FALSE,
                          LE_UNTOUCHED);
            CHECK_RET_ERR("moved: the old pointer is no longer a block (HeapSize)", HeapSize(h, 0, p), (DWORD)-1,
                          ERROR_INVALID_PARAMETER);
        }
        CHECK("grow 100 -> 3000: the whole new size is writable", pat_fill(r, 3000, 3) && pat_ok(r, 3000, 3));
        p = r;
    }
    CHECK("the blocker next to it is intact", HeapValidate(h, 0, blocker) == TRUE && HeapSize(h, 0, blocker) == 104);
    /* shrink it back, contents kept */
    CHECK_RET_ERR("shrink 3000 -> 1000 in place", HeapReAlloc(h, 0, p, 1000), p, LE_UNTOUCHED);
    CHECK("after shrink: HeapSize 1000, contents kept", HeapSize(h, 0, p) == 1000 && pat_ok(p, 1000, 3));

    /* small -> big */
    r = CALL(HeapReAlloc(h, 0, p, 100000));
    CHECK("grow 1000 -> 100000 (small -> big) succeeds", r != NULL && GetLastError() == LE_UNTOUCHED);
    if (r != NULL) {
        CHECK("small -> big: HeapSize 100000, first 1000 bytes kept",
              HeapSize(h, 0, r) == 100000 && pat_ok(r, 1000, 3));
        CHECK("small -> big: moved (a 60 KB region cannot hold it)", r != p);
        CHECK_EQ_U("small -> big: the new block is a big block (64 KB aligned)", U64(r) & 0xFFFF, 0);
        CHECK_RET_ERR("small -> big: the old block is freed", HeapValidate(h, 0, p), FALSE, LE_UNTOUCHED);
        pat_fill(r, 100000, 4);
        p = r;
    }
    /* big -> big grow, shrink */
    r = CALL(HeapReAlloc(h, 0, p, 300000));
    CHECK("big grow 100000 -> 300000 succeeds", r != NULL && GetLastError() == LE_UNTOUCHED);
    if (r != NULL) {
        CHECK("big grow: HeapSize 300000, first 100000 bytes kept", HeapSize(h, 0, r) == 300000 && pat_ok(r, 100000, 4));
        pat_fill(r, 300000, 5);
        p = r;
    }
    CHECK_RET_ERR("big shrink 300000 -> 50000 -> same pointer", HeapReAlloc(h, 0, p, 50000), p, LE_UNTOUCHED);
    CHECK("big shrink: HeapSize 50000, contents kept", HeapSize(h, 0, p) == 50000 && pat_ok(p, 50000, 5));
    CHECK_RET_ERR("big shrink 50000 -> 100 -> same pointer", HeapReAlloc(h, 0, p, 100), p, LE_UNTOUCHED);
    CHECK("big shrunk to 100: HeapSize 104, first 104 bytes kept, still valid",
          HeapSize(h, 0, p) == 104 && pat_ok(p, 104, 5) && HeapValidate(h, 0, p) == TRUE);
    r = CALL(HeapReAlloc(h, 0, p, 40000));
    CHECK("grow it back 104 -> 40000: succeeds, first 104 bytes kept",
          r != NULL && HeapSize(h, 0, r) == 40000 && pat_ok(r, 104, 5));
    if (r != NULL) p = r;
    pat_fill(p, 40000, 6);
    r = CALL(HeapReAlloc(h, 0, p, 20000));
    CHECK("big shrink 40000 -> 20000 in place, contents kept", r == p && HeapSize(h, 0, p) == 20000 && pat_ok(p, 20000, 6));
    HeapFree(h, 0, p);

    /* big -> big growth from 20000 to 60000 keeps everything */
    p = HeapAlloc(h, 0, 20000);
    pat_fill(p, 20000, 8);
    r = HeapReAlloc(h, 0, p, 60000);
    CHECK("big 20000 -> 60000: HeapSize 60000, contents kept", r != NULL && HeapSize(h, 0, r) == 60000 && pat_ok(r, 20000, 8));
    if (r != NULL) HeapFree(h, 0, r);

    /* IN_PLACE_ONLY growth that cannot be done: NULL, ERROR_NOT_ENOUGH_MEMORY, block untouched. */
    p = HeapAlloc(h, 0, 100);
    char *nb = HeapAlloc(h, 0, 100);
    pat_fill(p, 104, 9);
    CHECK_RET_ERR("IN_PLACE_ONLY 104 -> 70000 (beyond any region) -> NULL, ERROR_NOT_ENOUGH_MEMORY",
                  HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY, p, 70000), NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK_RET_ERR("IN_PLACE_ONLY|ZERO 104 -> 70000 -> NULL, ERROR_NOT_ENOUGH_MEMORY",
                  HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY | HEAP_ZERO_MEMORY, p, 70000), NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK("failed IN_PLACE_ONLY: same HeapSize 104, same contents, still valid",
          HeapSize(h, 0, p) == 104 && pat_ok(p, 104, 9) && HeapValidate(h, 0, p) == TRUE);
    CHECK("failed IN_PLACE_ONLY: the heap stays healthy, neighbour intact",
          HeapValidate(h, 0, NULL) == TRUE && HeapValidate(h, 0, nb) == TRUE);
    char *bb = HeapAlloc(h, 0, 20000);
    pat_fill(bb, 20000, 10);
    CHECK_RET_ERR("IN_PLACE_ONLY big 20000 -> 0x3FFF0000 -> NULL, ERROR_NOT_ENOUGH_MEMORY",
                  HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY, bb, 0x3FFF0000), NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK_RET_ERR("movable big 20000 -> 0x3FFF0000 (no room) -> NULL, ERROR_NOT_ENOUGH_MEMORY",
                  HeapReAlloc(h, 0, bb, 0x3FFF0000), NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK("failed big growth: block untouched (HeapSize 20000, contents, valid)",
          HeapSize(h, 0, bb) == 20000 && pat_ok(bb, 20000, 10) && HeapValidate(h, 0, bb) == TRUE);
    HeapFree(h, 0, bb);
    HeapFree(h, 0, p);
    HeapFree(h, 0, nb);
    CHECK_RET_ERR("heap healthy after the realloc tests", HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);
    HeapDestroy(h);
}

static void test_realloc_zero(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    if (h == NULL) return;
    /* Dirty memory. */
    char *d[60];
    for (int i = 0; i < 60; i++) {
        d[i] = HeapAlloc(h, 0, 900);
        if (d[i] != NULL) fill(d[i], 0xEE, 904);
    }
    for (int i = 0; i < 60; i++)
        if (d[i] != NULL) HeapFree(h, 0, d[i]);
    /* In place: shrink 16 -> 8 keeps the old bytes physically there; ZERO growth back must zero them. */
    char *p = HeapAlloc(h, 0, 16);
    fill(p, 0xCC, 16);
    CHECK_RET_ERR("shrink 16 -> 8 in place", HeapReAlloc(h, 0, p, 8), p, LE_UNTOUCHED);
    CHECK_RET_ERR("IN_PLACE_ONLY|ZERO 8 -> 16 -> same pointer",
                  HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY | HEAP_ZERO_MEMORY, p, 16), p, LE_UNTOUCHED);
    CHECK("ZERO in-place growth: old 8 bytes kept, bytes 8..16 zero",
          check_bytes_are(p, 8, 0xCC) && check_bytes_are(p + 8, 8, 0));
    /* Moving small growth. */
    fill(p, 0x11, 16);
    char *r = CALL(HeapReAlloc(h, HEAP_ZERO_MEMORY, p, 4000));
    CHECK("ZERO growth 16 -> 4000: old 16 bytes kept, bytes 16..4000 zero",
          r != NULL && HeapSize(h, 0, r) == 4000 && check_bytes_are(r, 16, 0x11) && check_bytes_are(r + 16, 4000 - 16, 0));
    if (r != NULL) p = r;
    /* Non-multiple sizes: zero from old HeapSize (not old n). */
    CHECK_RET_ERR("shrink 4000 -> 13", HeapReAlloc(h, 0, p, 13), p, LE_UNTOUCHED);
    fill(p, 0x22, 16);
    r = HeapReAlloc(h, HEAP_ZERO_MEMORY, p, 1001);
    CHECK("ZERO growth from HeapSize 16 to 1001: 16 bytes kept, bytes 16..1008 zero",
          r != NULL && HeapSize(h, 0, r) == 1008 && check_bytes_are(r, 16, 0x22) && check_bytes_are(r + 16, 1008 - 16, 0));
    if (r != NULL) p = r;
    /* small -> big with ZERO. */
    fill(p, 0x33, 1008);
    r = HeapReAlloc(h, HEAP_ZERO_MEMORY, p, 50000);
    CHECK("ZERO small -> big 1008 -> 50000: 1008 bytes kept, rest zero",
          r != NULL && HeapSize(h, 0, r) == 50000 && check_bytes_are(r, 1008, 0x33) &&
              check_bytes_are(r + 1008, 50000 - 1008, 0));
    if (r != NULL) p = r;
    /* big: shrink keeps the bytes, ZERO growth must clear them. */
    fill(p, 0x44, 50000);
    CHECK_RET_ERR("big shrink 50000 -> 20000 in place", HeapReAlloc(h, 0, p, 20000), p, LE_UNTOUCHED);
    r = HeapReAlloc(h, HEAP_ZERO_MEMORY, p, 60000);
    CHECK("ZERO big growth 20000 -> 60000: 20000 bytes kept, bytes 20000..60000 zero",
          r != NULL && HeapSize(h, 0, r) == 60000 && check_bytes_are(r, 20000, 0x44) &&
              check_bytes_are(r + 20000, 40000, 0));
    if (r != NULL) p = r;
    fill(p, 0x55, 60000);
    r = HeapReAlloc(h, HEAP_ZERO_MEMORY, p, 200000);
    CHECK("ZERO big growth 60000 -> 200000: 60000 kept, rest zero",
          r != NULL && HeapSize(h, 0, r) == 200000 && check_bytes_are(r, 60000, 0x55) &&
              check_bytes_are(r + 60000, 140000, 0));
    if (r != NULL) HeapFree(h, 0, r);
    HeapDestroy(h);
}

static void test_big_blocks(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    if (h == NULL) return;
    char *s = HeapAlloc(h, 0, 16);
    char *a = HeapAlloc(h, 0, 16384);
    char *b = HeapAlloc(h, 0, 16385);
    CHECK("allocations 16, 16384, 16385 succeed", s != NULL && a != NULL && b != NULL);
    if (s == NULL || a == NULL || b == NULL) return;
    char *rs = alloc_base(s), *ra = alloc_base(a);
    CHECK("region block: AllocationBase 64 KB aligned", rs != NULL && (U64(rs) & 0xFFFF) == 0);
    CHECK_QUERY("region block: MEM_COMMIT/PAGE_READWRITE/MEM_PRIVATE", s, U64(s) & ~(uint64_t)(PG - 1), rs, Q_ANY,
                MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    CHECK_EQ_P("16384 bytes is not a big block: it shares the 16-byte block's region", ra, rs);
    CHECK("16384-byte block lies inside the region's 60 KB", a >= rs && a + 16384 <= rs + REGION_USED);
    CHECK_EQ_U("HeapSize(16384) = 16384", HeapSize(h, 0, a), 16384);
    CHECK_EQ_U("16385 bytes is a big block: pointer 64 KB aligned", U64(b) & 0xFFFF, 0);
    CHECK_QUERY("big block: its own reservation, committed RW private", b, b, b, Q_ANY, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);
    CHECK("big block is not in the small blocks' region", alloc_base(b) != rs);
    CHECK_EQ_U("HeapSize(16385) = 16392", HeapSize(h, 0, b), 16392);
    CHECK("the region's 16th page is never committed", state_of(rs + REGION_USED) != MEM_COMMIT);
    CHECK_RET_ERR("HeapValidate(big block) TRUE", HeapValidate(h, 0, b), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("HeapValidate(big block + 8) FALSE", HeapValidate(h, 0, b + 8), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("HeapValidate(big block + 4096) FALSE", HeapValidate(h, 0, b + 4096), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("HeapSize(big block + 16) -> -1, ERROR_INVALID_PARAMETER", HeapSize(h, 0, b + 16), (DWORD)-1,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapFree(big block + 16) -> FALSE, ERROR_INVALID_PARAMETER", HeapFree(h, 0, b + 16), FALSE,
                  ERROR_INVALID_PARAMETER);
    /* Several 16384 blocks share regions; several big blocks each have their own reservation. */
    char *bs[6];
    int distinct = 1, aligned = 1;
    for (int i = 0; i < 6; i++) {
        bs[i] = HeapAlloc(h, 0, 16385 + (DWORD)i * 10000);
        aligned &= bs[i] != NULL && (U64(bs[i]) & 0xFFFF) == 0 && alloc_base(bs[i]) == bs[i];
        for (int j = 0; j < i; j++) distinct &= bs[i] != bs[j];
    }
    CHECK("six big blocks: each at its own 64 KB-aligned reservation base", aligned && distinct);
    for (int i = 0; i < 6; i++)
        if (bs[i] != NULL) HeapFree(h, 0, bs[i]);
    HeapFree(h, 0, b);
    HeapFree(h, 0, a);
    HeapFree(h, 0, s);

    /* The big block cache is bounded (4 MB per heap), and HeapCompact releases it. */
    enum { NB = 10 };
    char *c[NB];
    int ok = 1;
    for (int i = 0; i < NB; i++) {
        c[i] = HeapAlloc(h, 0, 1000000);
        ok &= c[i] != NULL && (U64(c[i]) & 0xFFFF) == 0;
    }
    CHECK("ten 1,000,000-byte big blocks", ok);
    for (int i = 0; i < NB; i++)
        if (c[i] != NULL) HeapFree(h, 0, c[i]);
    uint64_t held = 0;
    for (int i = 0; i < NB; i++)
        if (c[i] != NULL && state_of(c[i]) != MEM_FREE) held += 0x100000; /* 1,000,000 -> 1 MB reservation */
    char nm[160];
    snprintf(nm, sizeof nm, "after freeing ten 1 MB big blocks at most 4 MB stay cached (held %" PRIu64 " KB)",
             held / 1024);
    CHECK(nm, held <= 4u * 0x100000);
    UINT r = CALL(HeapCompact(h, 0));
    CHECK("HeapCompact after the frees: nonzero and last error untouched, or 0 and last error 0",
          (r != 0 && GetLastError() == LE_UNTOUCHED) || (r == 0 && GetLastError() == 0));
    int released = 1;
    for (int i = 0; i < NB; i++)
        if (c[i] != NULL) released &= state_of(c[i]) == MEM_FREE;
    CHECK("HeapCompact released every cached big block (MEM_FREE at each base)", released);
    /* A recycled big block comes back with the right size and HEAP_ZERO_MEMORY zeroes it. */
    char *x = HeapAlloc(h, 0, 40000);
    if (x != NULL) {
        fill(x, 0x5A, 40000);
        HeapFree(h, 0, x);
    }
    char *y = HeapAlloc(h, HEAP_ZERO_MEMORY, 36000);
    CHECK("big block after a freed dirty one: HeapSize 36000, zeroed by HEAP_ZERO_MEMORY",
          y != NULL && HeapSize(h, 0, y) == 36000 && check_bytes_are(y, 36000, 0));
    HeapDestroy(h);
}

static void test_fixed(void) {
    char nm[200];
    /* 64 KB: the whole heap is one block only when nothing else is allocated. */
    HANDLE h = CALL(HeapCreate(0, 0, 0x10000));
    CHECK("HeapCreate(0, 0, 64 KB) succeeds", h != NULL && GetLastError() == LE_UNTOUCHED);
    if (h == NULL) return;
    char *s = HeapAlloc(h, 0, 8);
    CHECK("fixed 64 KB: an 8-byte block", s != NULL);
    CHECK_RET_ERR("fixed 64 KB with a live 8-byte block: HeapAlloc(64 KB) -> NULL, ERROR_NOT_ENOUGH_MEMORY",
                  HeapAlloc(h, 0, 0x10000), NULL, ERROR_NOT_ENOUGH_MEMORY);
    HeapFree(h, 0, s);
    char *w = CALL(HeapAlloc(h, 0, 0x10000));
    CHECK("fixed 64 KB, empty: HeapAlloc(64 KB) succeeds", w != NULL && GetLastError() == LE_UNTOUCHED);
    if (w != NULL) {
        CHECK_EQ_U("the whole-heap block: HeapSize 64 KB", HeapSize(h, 0, w), 0x10000);
        CHECK("the whole-heap block is the 64 KB-aligned reservation", alloc_base(w) == w && (U64(w) & 0xFFFF) == 0);
        CHECK_QUERY("the whole-heap block: 16 committed RW pages", w, w, w, 0x10000, MEM_COMMIT, PAGE_READWRITE,
                    MEM_PRIVATE);
        CHECK("the whole-heap block is writable", pat_fill(w, 0x10000, 11) && pat_ok(w, 0x10000, 11));
        CHECK_RET_ERR("full heap: HeapAlloc(0) -> NULL, ERROR_NOT_ENOUGH_MEMORY", HeapAlloc(h, 0, 0), NULL,
                      ERROR_NOT_ENOUGH_MEMORY);
        CHECK_RET_ERR("full heap: HeapAlloc(ZERO, 16385) -> NULL, ERROR_NOT_ENOUGH_MEMORY (no big block)",
                      HeapAlloc(h, HEAP_ZERO_MEMORY, 16385), NULL, ERROR_NOT_ENOUGH_MEMORY);
        CHECK_RET_ERR("full heap: IN_PLACE_ONLY growth -> NULL, ERROR_NOT_ENOUGH_MEMORY",
                      HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY, w, 0x10008), NULL, ERROR_NOT_ENOUGH_MEMORY);
        CHECK_RET_ERR("full heap: movable growth -> NULL, ERROR_NOT_ENOUGH_MEMORY", HeapReAlloc(h, 0, w, 0x10008),
                      NULL, ERROR_NOT_ENOUGH_MEMORY);
        CHECK("full heap: the block is untouched by the failed growths",
              HeapSize(h, 0, w) == 0x10000 && pat_ok(w, 0x10000, 11));
        UINT r = CALL(HeapCompact(h, 0));
        CHECK("HeapCompact of a full fixed heap -> 0, last error 0 (ERROR_SUCCESS)", r == 0 && GetLastError() == 0);
        HeapFree(h, 0, w);
    }
    UINT r = CALL(HeapCompact(h, 0));
    CHECK("HeapCompact of an empty fixed 64 KB heap -> 65536 (its largest free block)", r == 0x10000);
    CHECK_LE("HeapCompact returning nonzero leaves the last error alone", LE_UNTOUCHED);
    HeapDestroy(h);

    /* Fill a 1 MB fixed heap with 96-byte blocks. */
    h = HeapCreate(0, 0, 0x100000);
    if (h == NULL) return;
    enum { MAXB = 12000 };
    static char *p[MAXB];
    static struct blk bl[MAXB];
    int n = 0;
    DWORD err = 0;
    while (n < MAXB) {
        p[n] = CALL(HeapAlloc(h, 0, 96));
        if (p[n] == NULL) {
            err = GetLastError();
            break;
        }
        n++;
    }
    snprintf(nm, sizeof nm, "fixed 1 MB heap fills up with 96-byte blocks (%d blocks, at least 90%% of 10922)", n);
    CHECK(nm, n < MAXB && n >= 9830);
    CHECK_EQ_U("filling ends with NULL + ERROR_NOT_ENOUGH_MEMORY", err, ERROR_NOT_ENOUGH_MEMORY);
    char *base = n > 0 ? alloc_base(p[0]) : NULL;
    int inside = 1;
    for (int i = 0; i < n; i++) {
        inside &= alloc_base(p[i]) == base && p[i] >= base && p[i] + 96 <= base + 0x100000;
        bl[i].a = U64(p[i]);
        bl[i].n = 96;
        pat_fill(p[i], 96, 20000 + (uint64_t)i);
    }
    CHECK("every block of the fixed heap lies inside its one 1 MB reservation", n > 0 && inside);
    CHECK_RET_ERR("full fixed heap: HeapAlloc(16385) -> NULL, ERROR_NOT_ENOUGH_MEMORY (never a big block)",
                  HeapAlloc(h, 0, 16385), NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK_RET_ERR("full fixed heap: HeapAlloc(200000) -> NULL, ERROR_NOT_ENOUGH_MEMORY", HeapAlloc(h, 0, 200000), NULL,
                  ERROR_NOT_ENOUGH_MEMORY);
    int kept = 1;
    for (int i = 0; i < n; i++) kept &= pat_ok(p[i], 96, 20000 + (uint64_t)i);
    CHECK("all blocks of the full fixed heap keep their patterns", kept);
    CHECK("no two blocks of the full fixed heap overlap", first_overlap(bl, (size_t)n) < 0);
    /* Free every other block in address order (bl is sorted now): only 96-byte holes. */
    int freed = 0;
    for (int i = 0; i < n; i += 2) freed += HeapFree(h, 0, (void *)(uintptr_t)bl[i].a) == TRUE;
    CHECK_EQ_U("every other block freed", freed, (n + 1) / 2);
    CHECK_RET_ERR("only 96-byte holes: HeapAlloc(200) -> NULL, ERROR_NOT_ENOUGH_MEMORY", HeapAlloc(h, 0, 200), NULL,
                  ERROR_NOT_ENOUGH_MEMORY);
    if (n > 3) {
        char *live = (char *)(uintptr_t)bl[1].a;
        CHECK_RET_ERR("only 96-byte holes: IN_PLACE_ONLY 96 -> 400 -> NULL, ERROR_NOT_ENOUGH_MEMORY",
                      HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY, live, 400), NULL, ERROR_NOT_ENOUGH_MEMORY);
        CHECK_RET_ERR("only 96-byte holes: movable 96 -> 400 -> NULL, ERROR_NOT_ENOUGH_MEMORY",
                      HeapReAlloc(h, 0, live, 400), NULL, ERROR_NOT_ENOUGH_MEMORY);
        CHECK("failed growths left the block untouched", HeapSize(h, 0, live) == 96 && HeapValidate(h, 0, live) == TRUE);
    }
    int again = 0;
    for (int i = 0; i < n; i += 2) {
        char *q = HeapAlloc(h, 0, 90);
        if (q == NULL) break;
        bl[i].a = U64(q);
        again++;
    }
    snprintf(nm, sizeof nm, "after the frees, 90-byte allocations succeed again in the holes (%d of %d)", again,
             (n + 1) / 2);
    CHECK(nm, again == (n + 1) / 2);
    CHECK_RET_ERR("refilled: the next one fails with ERROR_NOT_ENOUGH_MEMORY", HeapAlloc(h, 0, 90), NULL,
                  ERROR_NOT_ENOUGH_MEMORY);
    for (int i = 0; i < n; i++) HeapFree(h, 0, (void *)(uintptr_t)bl[i].a);
    CHECK_RET_ERR("emptied fixed heap is healthy", HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);
    char *all = CALL(HeapAlloc(h, 0, 0x100000));
    CHECK("emptied fixed 1 MB heap gives one 1 MB block again (free space coalesced)",
          all != NULL && GetLastError() == LE_UNTOUCHED && HeapSize(h, 0, all) == 0x100000);
    HeapDestroy(h);

    /* Maximum rounded up to pages; never grows beyond. */
    h = HeapCreate(0, 0, 5000);
    CHECK("HeapCreate(0, 0, 5000) succeeds", h != NULL);
    if (h != NULL) {
        char *q = CALL(HeapAlloc(h, 0, 8192));
        CHECK("max 5000 rounds up to 2 pages: HeapAlloc(8192) succeeds", q != NULL && HeapSize(h, 0, q) == 8192);
        CHECK_RET_ERR("then HeapAlloc(1) -> NULL, ERROR_NOT_ENOUGH_MEMORY", HeapAlloc(h, 0, 1), NULL,
                      ERROR_NOT_ENOUGH_MEMORY);
        HeapDestroy(h);
    }
    h = HeapCreate(0, 0, 1);
    CHECK("HeapCreate(0, 0, 1) succeeds (one page)", h != NULL);
    if (h != NULL) {
        CHECK_RET_ERR("max 1: HeapAlloc(4097) -> NULL, ERROR_NOT_ENOUGH_MEMORY", HeapAlloc(h, 0, 4097), NULL,
                      ERROR_NOT_ENOUGH_MEMORY);
        char *q = HeapAlloc(h, 0, 4096);
        CHECK("max 1: HeapAlloc(4096) succeeds", q != NULL && HeapSize(h, 0, q) == 4096);
        HeapDestroy(h);
    }
    /* Fixed heaps never make big blocks. */
    h = HeapCreate(0, 0, 0x100000);
    if (h != NULL) {
        char *a = HeapAlloc(h, 0, 100000), *b = HeapAlloc(h, 0, 200000), *c = HeapAlloc(h, 0, 16);
        CHECK("fixed heap: 100000, 200000 and 16 bytes all live in the heap's one reservation",
              a != NULL && b != NULL && c != NULL && alloc_base(a) == alloc_base(b) && alloc_base(b) == alloc_base(c));
        CHECK("fixed heap: HeapSize of the large blocks exact", HeapSize(h, 0, a) == 100000 && HeapSize(h, 0, b) == 200000);
        HeapDestroy(h);
    }
}

static void test_destroy(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    if (h == NULL) return;
    /* Small blocks over several regions, a live big block and a freed (maybe cached) one. */
    enum { NS = 200 };
    char *s[NS];
    char *regions[NS];
    int nr = 0;
    for (int i = 0; i < NS; i++) {
        s[i] = HeapAlloc(h, 0, 1000);
        char *rb = s[i] != NULL ? alloc_base(s[i]) : NULL;
        int seen = 0;
        for (int j = 0; j < nr; j++) seen |= regions[j] == rb;
        if (!seen && rb != NULL) regions[nr++] = rb;
    }
    char nm[160];
    snprintf(nm, sizeof nm, "200 KB of 1000-byte blocks use at least 4 regions (%d)", nr);
    CHECK(nm, nr >= 4);
    char *big = HeapAlloc(h, 0, 100000), *gone = HeapAlloc(h, 0, 50000);
    CHECK("big blocks for the destroy test", big != NULL && gone != NULL);
    if (gone != NULL) HeapFree(h, 0, gone);
    CHECK_RET_ERR("HeapDestroy -> TRUE, last error untouched", HeapDestroy(h), TRUE, LE_UNTOUCHED);
    int freed = 1;
    for (int j = 0; j < nr; j++) freed &= state_of(regions[j]) == MEM_FREE;
    snprintf(nm, sizeof nm, "after HeapDestroy every region base (%d) is MEM_FREE", nr);
    CHECK(nm, freed);
    CHECK_QUERY("after HeapDestroy the live big block's base is MEM_FREE", big, big, NULL, Q_ANY, MEM_FREE,
                PAGE_NOACCESS, Q_ANY);
    CHECK_EQ_U("after HeapDestroy the freed (cached) big block's base is MEM_FREE", state_of(gone), MEM_FREE);
    /* The handle is invalid now (nothing has been created since). */
    CHECK_RET_ERR("destroyed heap: HeapAlloc -> NULL, ERROR_INVALID_PARAMETER", HeapAlloc(h, 0, 10), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("destroyed heap: HeapReAlloc -> NULL, ERROR_INVALID_PARAMETER", HeapReAlloc(h, 0, s[0], 10), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("destroyed heap: HeapFree -> FALSE, ERROR_INVALID_PARAMETER", HeapFree(h, 0, s[1]), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("destroyed heap: HeapSize -> -1, ERROR_INVALID_PARAMETER", HeapSize(h, 0, s[2]), (DWORD)-1,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("destroyed heap: HeapValidate(NULL) -> FALSE, last error untouched", HeapValidate(h, 0, NULL), FALSE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("destroyed heap: HeapValidate(block) -> FALSE", HeapValidate(h, 0, s[3]), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("destroyed heap: HeapCompact -> 0, ERROR_INVALID_PARAMETER", HeapCompact(h, 0), 0,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("destroyed heap: HeapDestroy again -> FALSE, ERROR_INVALID_PARAMETER", HeapDestroy(h), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapDestroy(NULL) -> FALSE, ERROR_INVALID_PARAMETER", HeapDestroy(NULL), FALSE,
                  ERROR_INVALID_PARAMETER);

    /* A fixed heap releases its reservation. */
    h = HeapCreate(0, 0, 0x30000);
    if (h != NULL) {
        char *a = HeapAlloc(h, 0, 100);
        char *rb = a != NULL ? alloc_base(a) : NULL;
        CHECK("fixed heap block has a reservation", rb != NULL);
        CHECK_RET_ERR("HeapDestroy(fixed) -> TRUE", HeapDestroy(h), TRUE, LE_UNTOUCHED);
        if (rb != NULL) CHECK_EQ_U("after HeapDestroy the fixed heap's reservation is MEM_FREE", state_of(rb), MEM_FREE);
    }
    /* Destroying heaps gives their address space back: 300 create/fill/destroy rounds. */
    int ok = 1;
    for (int round = 0; round < 300 && ok; round++) {
        HANDLE g = HeapCreate(0, 0, round % 2 ? 0x200000 : 0);
        ok &= g != NULL;
        if (g == NULL) break;
        for (int i = 0; i < 20; i++) ok &= HeapAlloc(g, 0, 1000 + (DWORD)i * 1000) != NULL;
        ok &= HeapDestroy(g) == TRUE;
    }
    CHECK("300 rounds of HeapCreate + 20 allocations (incl. big blocks) + HeapDestroy never run out", ok);
}

static void test_compact(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    if (h == NULL) return;
    static const struct named bad[] = {
        {HEAP_GENERATE_EXCEPTIONS, "HEAP_GENERATE_EXCEPTIONS"},
        {HEAP_ZERO_MEMORY, "HEAP_ZERO_MEMORY"},
        {HEAP_GROWABLE, "HEAP_GROWABLE"},
        {HEAP_REALLOC_IN_PLACE_ONLY, "HEAP_REALLOC_IN_PLACE_ONLY"},
        {0x80000000u, "0x80000000"},
        {0xFFFFFFFFu, "0xFFFFFFFF"},
    };
    char nm[200];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(nm, sizeof nm, "HeapCompact(%s) -> 0, ERROR_INVALID_PARAMETER", bad[i].name);
        CHECK_RET_ERR(nm, HeapCompact(h, bad[i].v), 0, ERROR_INVALID_PARAMETER);
    }
    CHECK_RET_ERR("HeapCompact(NULL heap) -> 0, ERROR_INVALID_PARAMETER", HeapCompact(NULL, 0), 0,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapCompact((HANDLE)0x1234) -> 0, ERROR_INVALID_PARAMETER", HeapCompact((HANDLE)0x1234, 0), 0,
                  ERROR_INVALID_PARAMETER);
    UINT r = CALL(HeapCompact(h, 0));
    snprintf(nm, sizeof nm, "HeapCompact of a fresh growable heap > 0 (got %u), at most a region's 60 KB", (unsigned)r);
    CHECK(nm, r > 0 && r <= REGION_USED);
    CHECK_LE("HeapCompact returning nonzero leaves the last error alone", LE_UNTOUCHED);
    r = CALL(HeapCompact(h, HEAP_NO_SERIALIZE));
    CHECK("HeapCompact(HEAP_NO_SERIALIZE) accepted, > 0", r > 0 && GetLastError() == LE_UNTOUCHED);

    /* Decommit: 40 x 1 KB blocks, free all but the first and the last, compact. */
    enum { NB = 40 };
    char *b[NB];
    for (int i = 0; i < NB; i++) {
        b[i] = HeapAlloc(h, 0, 1024);
        if (b[i] != NULL) pat_fill(b[i], 1024, 300 + (uint64_t)i);
    }
    for (int i = 1; i < NB - 1; i++)
        if (b[i] != NULL) HeapFree(h, 0, b[i]);
    r = CALL(HeapCompact(h, 0));
    CHECK("HeapCompact after freeing 38 KB of blocks > 0, last error untouched", r > 0 && GetLastError() == LE_UNTOUCHED);
    snprintf(nm, sizeof nm, "HeapCompact's largest free block (%u) covers at least one freed 1 KB block", (unsigned)r);
    CHECK(nm, r >= 1024);
    /* Merge the freed blocks into runs; every page inside a run (keeping 64 bytes at each end of the
     * run for in-band bookkeeping) must be MEM_RESERVE now. */
    struct blk fr[NB];
    int nf = 0;
    for (int i = 1; i < NB - 1; i++)
        if (b[i] != NULL) {
            fr[nf].a = U64(b[i]);
            fr[nf].n = 1024;
            nf++;
        }
    qsort(fr, (size_t)nf, sizeof fr[0], blk_cmp);
    int pages = 0, decommitted = 0;
    for (int i = 0; i < nf;) {
        uint64_t lo = fr[i].a, hi = fr[i].a + fr[i].n;
        int j = i + 1;
        while (j < nf && fr[j].a <= hi) {
            if (fr[j].a + fr[j].n > hi) hi = fr[j].a + fr[j].n;
            j++;
        }
        for (uint64_t pg = (lo + 64 + PG - 1) & ~(uint64_t)(PG - 1); pg + PG + 64 <= hi; pg += PG) {
            pages++;
            decommitted += state_of((void *)(uintptr_t)pg) == MEM_RESERVE;
        }
        i = j;
    }
    snprintf(nm, sizeof nm, "HeapCompact decommitted every whole free page (%d of %d pages MEM_RESERVE)", decommitted,
             pages);
    CHECK(nm, pages >= 4 && decommitted == pages);
    CHECK("the live blocks keep their contents after HeapCompact",
          b[0] != NULL && b[NB - 1] != NULL && pat_ok(b[0], 1024, 300) && pat_ok(b[NB - 1], 1024, 300 + NB - 1));
    int reuse = 1;
    for (int i = 1; i < NB - 1; i++) {
        b[i] = HeapAlloc(h, 0, 1024);
        reuse &= b[i] != NULL && pat_fill(b[i], 1024, 600 + (uint64_t)i);
    }
    for (int i = 1; i < NB - 1; i++) reuse &= pat_ok(b[i], 1024, 600 + (uint64_t)i);
    CHECK("after HeapCompact the freed space is allocated and written again", reuse);
    CHECK_RET_ERR("heap healthy after compact + reuse", HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);
    for (int i = 0; i < NB; i++)
        if (b[i] != NULL) HeapFree(h, 0, b[i]);

    /* Empty secondary regions are released; what stays holds (almost) no committed pages. */
    enum { NS = 300 };
    char *s[NS];
    char *regions[NS];
    int nr = 0;
    for (int i = 0; i < NS; i++) {
        s[i] = HeapAlloc(h, 0, 1000);
        char *rb = s[i] != NULL ? alloc_base(s[i]) : NULL;
        int seen = 0;
        for (int j = 0; j < nr; j++) seen |= regions[j] == rb;
        if (!seen && rb != NULL) regions[nr++] = rb;
        if (s[i] != NULL) fill(s[i], 0x99, 1000);
    }
    for (int i = 0; i < NS; i++)
        if (s[i] != NULL) HeapFree(h, 0, s[i]);
    r = CALL(HeapCompact(h, 0));
    CHECK("HeapCompact of an emptied multi-region heap > 0", r > 0 && GetLastError() == LE_UNTOUCHED);
    int left = 0;
    uint64_t committed = 0;
    for (int j = 0; j < nr; j++)
        if (state_of(regions[j]) != MEM_FREE) {
            left++;
            committed += committed_in(regions[j], 0x10000);
        }
    snprintf(nm, sizeof nm, "HeapCompact released the empty secondary regions (%d of %d regions left)", left, nr);
    CHECK(nm, nr >= 4 && left <= 1);
    snprintf(nm, sizeof nm, "the regions left hold at most 4 committed pages (%" PRIu64 " bytes)", committed);
    CHECK(nm, committed <= 4 * PG);
    char *again = HeapAlloc(h, 0, 1000);
    CHECK("the compacted heap allocates again", again != NULL && pat_fill(again, 1000, 1) && pat_ok(again, 1000, 1));
    HeapDestroy(h);

    /* Fixed heap: exact largest free block, all free pages decommitted. */
    h = HeapCreate(0, 0, 0x40000);
    if (h == NULL) return;
    struct blk q[4];
    int ok = 1;
    for (int i = 0; i < 4; i++) {
        char *x = HeapAlloc(h, 0, 0x10000);
        ok &= x != NULL && fill(x, 0x66, 0x10000);
        q[i].a = U64(x);
        q[i].n = 0x10000;
    }
    CHECK("fixed 256 KB heap holds exactly four 64 KB blocks", ok && HeapAlloc(h, 0, 1) == NULL);
    if (!ok) return;
    qsort(q, 4, sizeof q[0], blk_cmp);
    r = CALL(HeapCompact(h, 0));
    CHECK("full fixed heap: HeapCompact -> 0, last error 0", r == 0 && GetLastError() == 0);
    HeapFree(h, 0, (void *)(uintptr_t)q[1].a);
    HeapFree(h, 0, (void *)(uintptr_t)q[2].a);
    r = CALL(HeapCompact(h, 0));
    snprintf(nm, sizeof nm, "two adjacent freed 64 KB blocks: HeapCompact returns 131072 (got %u)", (unsigned)r);
    CHECK(nm, r == 0x20000 && GetLastError() == LE_UNTOUCHED);
    CHECK_QUERY("the freed 128 KB are decommitted (MEM_RESERVE)", (void *)(uintptr_t)q[1].a, q[1].a, Q_ANY, 0x20000,
                MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("the live first block stays committed", (void *)(uintptr_t)q[0].a, q[0].a, Q_ANY, 0x10000, MEM_COMMIT,
                PAGE_READWRITE, MEM_PRIVATE);
    CHECK("live blocks keep their contents", check_bytes_are((void *)(uintptr_t)q[0].a, 0x10000, 0x66) &&
                                                 check_bytes_are((void *)(uintptr_t)q[3].a, 0x10000, 0x66));
    char *z = CALL(HeapAlloc(h, 0, 0x20000));
    CHECK("HeapAlloc of the reported largest free block (128 KB) succeeds there",
          z != NULL && U64(z) == q[1].a && fill(z, 0x12, 0x20000) && check_bytes_are(z, 0x20000, 0x12));
    HeapDestroy(h);
}

/* ~40 MB of 64-byte blocks, all freed: committed pages of the regions drop below max(1 MB, 25% of peak)
 * without HeapCompact. Runs in a child (plain loads/stores for speed). */
static void page_return_child(void *arg) {
    (void)arg;
    HANDLE h = HeapCreate(0, 0, 0);
    CHECK("heap for the page-return test", h != NULL);
    if (h == NULL) return;
    enum { N = (40 << 20) / 64 };
    char **p = malloc(sizeof(char *) * N);
    static unsigned char region_seen[0x10000]; /* one byte per 64 KB of the 4 GB space */
    static uint32_t regions[0x10000];
    int nr = 0, n = 0, bad = 0;
    for (n = 0; n < N; n++) {
        p[n] = HeapAlloc(h, 0, 64);
        if (p[n] == NULL) break;
        if ((U64(p[n]) & 15) != 0 || U64(p[n]) >= FOUR_GB) {
            bad++;
            continue;
        }
        memset(p[n], (int)(n & 0xFF), 64);
        uint32_t r = (uint32_t)(U64(p[n]) >> 16);
        if (!region_seen[r]) {
            region_seen[r] = 1;
            regions[nr++] = r;
        }
    }
    CHECK_EQ_U("40 MB of 64-byte blocks allocated", n, N);
    CHECK_EQ_U("every pointer 16-aligned below 4 GB", bad, 0);
    uint64_t peak = 0;
    for (int j = 0; j < nr; j++) peak += committed_in((char *)((uintptr_t)regions[j] << 16), 0x10000);
    char nm[200];
    snprintf(nm, sizeof nm, "peak committed bytes of the heap's %d regions (%" PRIu64 " KB) >= 40 MB", nr, peak >> 10);
    CHECK(nm, peak >= (40u << 20));
    int corrupt = 0;
    for (int i = 0; i < n; i++) {
        if ((U64(p[i]) & 15) != 0) continue;
        unsigned char c = (unsigned char)(i & 0xFF);
        if ((unsigned char)p[i][0] != c || (unsigned char)p[i][63] != c) corrupt++;
    }
    CHECK_EQ_U("all 655360 blocks kept their bytes", corrupt, 0);
    int freed = 0;
    for (int i = 1; i < n; i += 2) freed += HeapFree(h, 0, p[i]) == TRUE;
    for (int i = 0; i < n; i += 2) freed += HeapFree(h, 0, p[i]) == TRUE;
    CHECK_EQ_U("every block freed", freed, n);
    uint64_t after = 0;
    for (int j = 0; j < nr; j++) after += committed_in((char *)((uintptr_t)regions[j] << 16), 0x10000);
    uint64_t limit = peak / 4 > (1u << 20) ? peak / 4 : (1u << 20);
    snprintf(nm, sizeof nm, "without HeapCompact, committed bytes drop below max(1 MB, 25%% of peak): %" PRIu64
                            " KB after, limit %" PRIu64 " KB",
             after >> 10, limit >> 10);
    CHECK(nm, after < limit);
    CHECK_RET_ERR("heap healthy after the mass free", HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);
    /* It still works afterwards. */
    int ok = 1;
    for (int i = 0; i < 10000; i++) {
        p[i] = HeapAlloc(h, 0, 64);
        ok &= p[i] != NULL;
        if (p[i] != NULL) memset(p[i], 0x3C, 64);
    }
    CHECK("10000 allocations after the page return succeed and are writable", ok);
    free(p);
    CHECK_RET_ERR("HeapDestroy of the 40 MB heap", HeapDestroy(h), TRUE, LE_UNTOUCHED);
}

int main(void) {
    test_process_heap();
    test_create();
    test_alloc_flags();
    test_sizes();
    test_zero_size();
    test_zero_memory();
    test_realloc_flags();
    test_realloc();
    test_realloc_zero();
    test_big_blocks();
    test_fixed();
    test_destroy();
    test_compact();
    check_child("page return without HeapCompact (40 MB of 64-byte blocks) runs to completion", page_return_child,
                NULL);
    return check_summary();
}
