/* LocalAlloc family, LocalAllocTrace/HeapAllocTrace and the Global and Local SDK macros (ce6 profile):
 * spec3.md "Local*" and "Macros", CONTRACT.md "Heaps", CE-SEMANTICS.md section 8. */
#include "check.h"
#include "heap_util.h"


static void test_constants(void) {
    CHECK_EQ_U("LMEM_FIXED", LMEM_FIXED, 0);
    CHECK_EQ_U("LMEM_MOVEABLE", LMEM_MOVEABLE, 2);
    CHECK_EQ_U("LMEM_NOCOMPACT", LMEM_NOCOMPACT, 0x10);
    CHECK_EQ_U("LMEM_NODISCARD", LMEM_NODISCARD, 0x20);
    CHECK_EQ_U("LMEM_ZEROINIT", LMEM_ZEROINIT, 0x40);
    CHECK_EQ_U("LMEM_MODIFY", LMEM_MODIFY, 0x80);
    CHECK_EQ_U("LMEM_DISCARDABLE", LMEM_DISCARDABLE, 0xF00);
    CHECK_EQ_U("LMEM_VALID_FLAGS", LMEM_VALID_FLAGS, 0xF72);
    CHECK_EQ_U("LMEM_INVALID_HANDLE", LMEM_INVALID_HANDLE, 0x8000);
    CHECK_EQ_U("LMEM_DISCARDED", LMEM_DISCARDED, 0x4000);
    CHECK_EQ_U("LMEM_LOCKCOUNT", LMEM_LOCKCOUNT, 0xFF);
    CHECK_EQ_U("LHND", LHND, 0x42);
    CHECK_EQ_U("LPTR", LPTR, 0x40);
    CHECK_EQ_U("NONZEROLHND", NONZEROLHND, 2);
    CHECK_EQ_U("NONZEROLPTR", NONZEROLPTR, 0);
    CHECK_EQ_U("GMEM_FIXED", GMEM_FIXED, 0);
    CHECK_EQ_U("GMEM_MOVEABLE", GMEM_MOVEABLE, 2);
    CHECK_EQ_U("GMEM_ZEROINIT", GMEM_ZEROINIT, 0x40);
    CHECK_EQ_U("GMEM_MODIFY", GMEM_MODIFY, 0x80);
    CHECK_EQ_U("GMEM_DISCARDABLE", GMEM_DISCARDABLE, 0xF00);
    CHECK_EQ_U("GPTR", GPTR, 0x40);
    CHECK_EQ_U("GHND", GHND, 0x42);
}

static void test_local_alloc(void) {
    char *p = CALL(LocalAlloc(LMEM_FIXED, 10));
    CHECK("LocalAlloc(LMEM_FIXED, 10) succeeds, last error untouched", good_ptr(p, 16) && GetLastError() == LE_UNTOUCHED);
    CHECK_RET_ERR("LocalSize = 16", LocalSize(p), 16, LE_UNTOUCHED);
    CHECK_RET_ERR("LocalAlloc memory belongs to the process heap: HeapSize(GetProcessHeap()) = 16",
                  HeapSize(GetProcessHeap(), 0, p), 16, LE_UNTOUCHED);
    CHECK_RET_ERR("HeapValidate(GetProcessHeap(), LocalAlloc block) TRUE", HeapValidate(GetProcessHeap(), 0, p), TRUE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("HeapFree(GetProcessHeap(), LocalAlloc block) -> TRUE", HeapFree(GetProcessHeap(), 0, p), TRUE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("the block freed by HeapFree is gone for LocalSize -> 0, ERROR_INVALID_PARAMETER", LocalSize(p), 0,
                  ERROR_INVALID_PARAMETER);
    char *q = HeapAlloc(GetProcessHeap(), 0, 40);
    CHECK_RET_ERR("LocalSize(HeapAlloc(GetProcessHeap(), 40)) = 40", LocalSize(q), 40, LE_UNTOUCHED);
    CHECK_RET_ERR("LocalFree(HeapAlloc(GetProcessHeap()) block) -> NULL", LocalFree(q), NULL, LE_UNTOUCHED);

    /* Flags. */
    static const struct named good[] = {
        {LMEM_FIXED, "LMEM_FIXED"},
        {LMEM_MOVEABLE, "LMEM_MOVEABLE"},
        {LMEM_NOCOMPACT, "LMEM_NOCOMPACT"},
        {LMEM_NODISCARD, "LMEM_NODISCARD"},
        {LMEM_ZEROINIT, "LMEM_ZEROINIT"},
        {LMEM_DISCARDABLE, "LMEM_DISCARDABLE"},
        {0x100, "0x100 (a discardable bit)"},
        {LHND, "LHND"},
        {LPTR, "LPTR"},
        {NONZEROLHND, "NONZEROLHND"},
        {NONZEROLPTR, "NONZEROLPTR"},
        {GHND, "GHND"},
        {GPTR, "GPTR"},
        {LMEM_VALID_FLAGS, "LMEM_VALID_FLAGS (0xF72)"},
    };
    static const struct named bad[] = {
        {LMEM_MODIFY, "LMEM_MODIFY"},
        {LMEM_MODIFY | LMEM_MOVEABLE, "LMEM_MODIFY|LMEM_MOVEABLE"},
        {1, "1"},
        {4, "4"},
        {8, "8"},
        {0x1000, "0x1000"},
        {LMEM_DISCARDED, "LMEM_DISCARDED (0x4000)"},
        {LMEM_INVALID_HANDLE, "LMEM_INVALID_HANDLE (0x8000)"},
        {LPTR | 1, "LPTR|1"},
        {0x10000, "0x10000"},
        {0x80000000u, "0x80000000"},
        {0xFFFFFFFFu, "0xFFFFFFFF"},
    };
    char nm[200];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char *a = CALL(LocalAlloc(good[i].v, 100));
        snprintf(nm, sizeof nm, "LocalAlloc(%s, 100) succeeds with a fixed pointer, last error untouched", good[i].name);
        CHECK(nm, good_ptr(a, 104) && GetLastError() == LE_UNTOUCHED);
        if (a == NULL) continue;
        snprintf(nm, sizeof nm, "LocalAlloc(%s, 100): LocalSize 104, memory usable through the pointer itself",
                 good[i].name);
        CHECK(nm, LocalSize(a) == 104 && fill(a, 0x3D, 104) && check_bytes_are(a, 104, 0x3D));
        snprintf(nm, sizeof nm, "LocalAlloc(%s): LocalLock(h) is the pointer", good[i].name);
        CHECK_EQ_P(nm, LocalLock(a), a);
        snprintf(nm, sizeof nm, "LocalFree of LocalAlloc(%s) -> NULL", good[i].name);
        CHECK_RET_ERR(nm, LocalFree(a), NULL, LE_UNTOUCHED);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(nm, sizeof nm, "LocalAlloc(%s, 100) -> NULL, ERROR_INVALID_PARAMETER", bad[i].name);
        CHECK_RET_ERR(nm, LocalAlloc(bad[i].v, 100), NULL, ERROR_INVALID_PARAMETER);
    }
    /* Sizes. */
    static const UINT too_big[] = {ONE_GB + 1, 0x80000000u, 0xFFFFFFFFu};
    for (size_t i = 0; i < 3; i++) {
        snprintf(nm, sizeof nm, "LocalAlloc(0, 0x%x > 1 GB) -> NULL, ERROR_INVALID_PARAMETER", (unsigned)too_big[i]);
        CHECK_RET_ERR(nm, LocalAlloc(0, too_big[i]), NULL, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "LocalAlloc(LPTR, 0x%x > 1 GB) -> NULL, ERROR_INVALID_PARAMETER", (unsigned)too_big[i]);
        CHECK_RET_ERR(nm, LocalAlloc(LPTR, too_big[i]), NULL, ERROR_INVALID_PARAMETER);
    }
    CHECK_RET_ERR("LocalAlloc(0, exactly 1 GB) -> no room: NULL, ERROR_NOT_ENOUGH_MEMORY", LocalAlloc(0, ONE_GB), NULL,
                  ERROR_NOT_ENOUGH_MEMORY);
    enum { N = 301 };
    static char *b[N];
    int bad_n = -1;
    for (UINT n = 0; n < N; n++) {
        b[n] = LocalAlloc(0, n);
        if ((!good_ptr(b[n], r8(n)) || LocalSize(b[n]) != r8(n)) && bad_n < 0) bad_n = (int)n;
    }
    snprintf(nm, sizeof nm, "LocalSize of LocalAlloc(n) for n = 0..300 is n rounded up to 8, 16-aligned; first bad %d",
             bad_n);
    CHECK(nm, bad_n < 0);
    int distinct = 1;
    for (UINT n = 1; n < N; n++) distinct &= b[n] != b[n - 1] && b[n] != b[0];
    CHECK("LocalAlloc pointers are distinct (LocalAlloc(0, 0) gives a unique block)", distinct);
    for (UINT n = 0; n < N; n++) fill(b[n], (unsigned char)n, r8(n));
    int kept = 1;
    for (UINT n = 0; n < N; n++) kept &= check_bytes_are(b[n], r8(n), (unsigned char)n);
    CHECK("301 LocalAlloc blocks keep their contents (no overlap)", kept);
    /* Dirty memory for the zero-init checks. */
    for (UINT n = 0; n < N; n++) fill(b[n], 0xA7, r8(n));
    for (UINT n = 0; n < N; n++) LocalFree(b[n]);
    int zero = 1;
    for (UINT n = 0; n < N; n++) {
        UINT f = n % 3 == 0 ? LMEM_ZEROINIT : n % 3 == 1 ? LPTR : LHND;
        b[n] = LocalAlloc(f, N - 1 - n);
        zero &= b[n] != NULL && check_bytes_are(b[n], r8(N - 1 - n), 0);
    }
    CHECK("LMEM_ZEROINIT/LPTR/LHND zero the whole LocalSize on dirty memory", zero);
    for (UINT n = 0; n < N; n++) LocalFree(b[n]);
    /* Big blocks through LocalAlloc. */
    char *big = CALL(LocalAlloc(LMEM_FIXED, 16385));
    CHECK("LocalAlloc(16385): a big block of the process heap (64 KB aligned), LocalSize 16392",
          big != NULL && (U64(big) & 0xFFFF) == 0 && LocalSize(big) == 16392 && GetLastError() == LE_UNTOUCHED);
    if (big != NULL) fill(big, 0x4E, 16392);
    LocalFree(big);
    big = LocalAlloc(LPTR, 16385);
    CHECK("LocalAlloc(LPTR, 16385) after a freed dirty big block reads zero", big != NULL && check_bytes_are(big, 16392, 0));
    LocalFree(big);
    char *mid = LocalAlloc(LMEM_FIXED, 16384);
    CHECK("LocalAlloc(16384) is a region block, LocalSize 16384", mid != NULL && LocalSize(mid) == 16384);
    LocalFree(mid);
}

static void test_local_realloc(void) {
    char nm[200];
    char *p = LocalAlloc(0, 200);
    CHECK("LocalAlloc(0, 200) for the realloc tests", p != NULL && fill(p, 0x21, 200));
    if (p == NULL) return;
    static const struct named bad[] = {
        {1, "1"},
        {4, "4"},
        {8, "8"},
        {0x1000, "0x1000"},
        {0x4000, "0x4000"},
        {0x8000, "0x8000"},
        {0x80000000u, "0x80000000"},
        {LMEM_DISCARDABLE, "LMEM_DISCARDABLE without LMEM_MODIFY"},
        {0x100, "0x100 (a discardable bit) without LMEM_MODIFY"},
        {0x800 | LMEM_MOVEABLE, "0x800|LMEM_MOVEABLE without LMEM_MODIFY"},
        {LMEM_MODIFY | 1, "LMEM_MODIFY|1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(nm, sizeof nm, "LocalReAlloc(200 -> 100, %s) -> NULL, ERROR_INVALID_PARAMETER", bad[i].name);
        CHECK_RET_ERR(nm, LocalReAlloc(p, 100, bad[i].v), NULL, ERROR_INVALID_PARAMETER);
    }
    static const UINT too_big[] = {ONE_GB + 1, 0x80000000u, 0xFFFFFFFFu};
    for (size_t i = 0; i < 3; i++) {
        snprintf(nm, sizeof nm, "LocalReAlloc(0x%x > 1 GB, LMEM_MOVEABLE) -> NULL, ERROR_INVALID_PARAMETER",
                 (unsigned)too_big[i]);
        CHECK_RET_ERR(nm, LocalReAlloc(p, too_big[i], LMEM_MOVEABLE), NULL, ERROR_INVALID_PARAMETER);
    }
    CHECK("failed LocalReAllocs left the block untouched", LocalSize(p) == 200 && check_bytes_are(p, 200, 0x21));
    /* LMEM_MODIFY does not ignore the size. */
    CHECK_RET_ERR("LocalReAlloc(200 -> 120, LMEM_MODIFY) -> same pointer", LocalReAlloc(p, 120, LMEM_MODIFY), p,
                  LE_UNTOUCHED);
    CHECK_EQ_U("LMEM_MODIFY did not ignore the size: LocalSize 120", LocalSize(p), 120);
    CHECK_RET_ERR("LocalReAlloc(120 -> 104, LMEM_MODIFY|LMEM_DISCARDABLE) accepted -> same pointer",
                  LocalReAlloc(p, 100, LMEM_MODIFY | LMEM_DISCARDABLE), p, LE_UNTOUCHED);
    CHECK_EQ_U("LocalSize 104 after LMEM_MODIFY|LMEM_DISCARDABLE", LocalSize(p), 104);
    CHECK("contents kept across the LMEM_MODIFY shrinks", check_bytes_are(p, 104, 0x21));
    /* Without LMEM_MOVEABLE: in place only. */
    CHECK_RET_ERR("LocalReAlloc(104 -> 40, 0) shrinks in place", LocalReAlloc(p, 40, 0), p, LE_UNTOUCHED);
    CHECK_RET_ERR("LocalReAlloc(40 -> 48, 0) grows in place to the next 16 multiple", LocalReAlloc(p, 48, 0), p,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("LocalReAlloc(48 -> 70000, 0): cannot grow in place -> NULL, ERROR_NOT_ENOUGH_MEMORY",
                  LocalReAlloc(p, 70000, 0), NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK_RET_ERR("LocalReAlloc(48 -> 70000, LMEM_ZEROINIT): in place only -> NULL, ERROR_NOT_ENOUGH_MEMORY",
                  LocalReAlloc(p, 70000, LMEM_ZEROINIT), NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK("the block is untouched after the failed in-place growths", LocalSize(p) == 48 && check_bytes_are(p, 40, 0x21));
    fill(p, 0x21, 48);
    /* With LMEM_MOVEABLE it may move. */
    char *q = CALL(LocalReAlloc(p, 70000, LMEM_MOVEABLE));
    CHECK("LocalReAlloc(48 -> 70000, LMEM_MOVEABLE) succeeds, contents kept",
          q != NULL && GetLastError() == LE_UNTOUCHED && LocalSize(q) == 70000 && check_bytes_are(q, 48, 0x21));
    if (q != NULL) {
        CHECK_RET_ERR("the old pointer is gone after the move", LocalSize(p), 0, ERROR_INVALID_PARAMETER);
        p = q;
    }
    CHECK_RET_ERR("LocalReAlloc(size 0, LMEM_MOVEABLE) shrinks in place", LocalReAlloc(p, 0, LMEM_MOVEABLE), p,
                  LE_UNTOUCHED);
    CHECK_EQ_U("LocalSize after realloc to 0 is 8", LocalSize(p), 8);
    CHECK_RET_ERR("LocalFree after the reallocs -> NULL", LocalFree(p), NULL, LE_UNTOUCHED);

    /* LMEM_ZEROINIT zeroes the growth. */
    p = LocalAlloc(0, 16);
    fill(p, 0xCC, 16);
    CHECK_RET_ERR("LocalReAlloc(16 -> 8, 0) in place", LocalReAlloc(p, 8, 0), p, LE_UNTOUCHED);
    CHECK_RET_ERR("LocalReAlloc(8 -> 16, LMEM_ZEROINIT) in place", LocalReAlloc(p, 16, LMEM_ZEROINIT), p, LE_UNTOUCHED);
    CHECK("LMEM_ZEROINIT in-place growth: 8 bytes kept, bytes 8..16 zero",
          check_bytes_are(p, 8, 0xCC) && check_bytes_are(p + 8, 8, 0));
    /* dirty memory, then a moving ZEROINIT growth */
    char *d[40];
    for (int i = 0; i < 40; i++) {
        d[i] = LocalAlloc(0, 5000);
        if (d[i] != NULL) fill(d[i], 0xDD, 5000);
    }
    for (int i = 0; i < 40; i++) LocalFree(d[i]);
    fill(p, 0x31, 16);
    q = LocalReAlloc(p, 5000, LMEM_MOVEABLE | LMEM_ZEROINIT);
    CHECK("LocalReAlloc(16 -> 5000, LHND): 16 bytes kept, bytes 16..5000 zero",
          q != NULL && LocalSize(q) == 5000 && check_bytes_are(q, 16, 0x31) && check_bytes_are(q + 16, 5000 - 16, 0));
    if (q != NULL) p = q;
    q = LocalReAlloc(p, 40000, LHND);
    CHECK("LocalReAlloc(5000 -> 40000, LHND): 5000 bytes kept, rest zero",
          q != NULL && LocalSize(q) == 40000 && check_bytes_are(q, 16, 0x31) && check_bytes_are(q + 16, 4984, 0) &&
              check_bytes_are(q + 5000, 35000, 0));
    if (q != NULL) p = q;
    LocalFree(p);

    /* Bad handles. */
    char *f = LocalAlloc(0, 64);
    char *live = LocalAlloc(0, 64); /* allocated before f is freed, so it cannot reuse f's address */
    LocalFree(f);
    HANDLE h = HeapCreate(0, 0, 0);
    char *other = h != NULL ? HeapAlloc(h, 0, 64) : NULL;
    CHECK_RET_ERR("LocalReAlloc(NULL) -> NULL, ERROR_INVALID_PARAMETER", LocalReAlloc(NULL, 10, LMEM_MOVEABLE), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("LocalReAlloc(freed) -> NULL, ERROR_INVALID_PARAMETER", LocalReAlloc(f, 10, LMEM_MOVEABLE), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("LocalReAlloc(interior) -> NULL, ERROR_INVALID_PARAMETER", LocalReAlloc(live + 16, 10, LMEM_MOVEABLE),
                  NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("LocalReAlloc(block of another heap) -> NULL, ERROR_INVALID_PARAMETER",
                  LocalReAlloc(other, 10, LMEM_MOVEABLE), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("LocalReAlloc((HLOCAL)0x1234) -> NULL, ERROR_INVALID_PARAMETER",
                  LocalReAlloc((HLOCAL)0x1234, 10, 0), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("LocalSize(NULL) -> 0, ERROR_INVALID_PARAMETER", LocalSize(NULL), 0, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("LocalSize(freed) -> 0, ERROR_INVALID_PARAMETER", LocalSize(f), 0, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("LocalSize(interior) -> 0, ERROR_INVALID_PARAMETER", LocalSize(live + 8), 0, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("LocalSize(block of another heap) -> 0, ERROR_INVALID_PARAMETER", LocalSize(other), 0,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("LocalSize((HLOCAL)0x1234) -> 0, ERROR_INVALID_PARAMETER", LocalSize((HLOCAL)0x1234), 0,
                  ERROR_INVALID_PARAMETER);
    /* LocalFree. */
    CHECK_RET_ERR("LocalFree(NULL) -> NULL, last error untouched", LocalFree(NULL), NULL, LE_UNTOUCHED);
    CHECK_RET_ERR("LocalFree(freed) -> the pointer, ERROR_INVALID_PARAMETER", LocalFree(f), f, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("LocalFree(interior) -> the pointer, ERROR_INVALID_PARAMETER", LocalFree(live + 16), live + 16,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("LocalFree(block of another heap) -> the pointer, ERROR_INVALID_PARAMETER", LocalFree(other), other,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("LocalFree((HLOCAL)0x1234) -> the pointer, ERROR_INVALID_PARAMETER", LocalFree((HLOCAL)0x1234),
                  (HLOCAL)0x1234, ERROR_INVALID_PARAMETER);
    CHECK("the other heap's block survived LocalFree", h != NULL && HeapValidate(h, 0, other) == TRUE);
    CHECK_RET_ERR("LocalFree(live) -> NULL", LocalFree(live), NULL, LE_UNTOUCHED);
    CHECK_RET_ERR("LocalFree(live) again (double free) -> the pointer, ERROR_INVALID_PARAMETER", LocalFree(live), live,
                  ERROR_INVALID_PARAMETER);
    if (h != NULL) HeapDestroy(h);
    CHECK_RET_ERR("process heap healthy after the Local* misuse", HeapValidate(GetProcessHeap(), 0, NULL), TRUE,
                  LE_UNTOUCHED);
}

static void test_trace(void) {
    char nm[200];
    char *p = CALL(LocalAllocTrace(LMEM_FIXED, 10, 0x12345678));
    CHECK("LocalAllocTrace(LMEM_FIXED, 10) succeeds, last error untouched", good_ptr(p, 16) && GetLastError() == LE_UNTOUCHED);
    CHECK_RET_ERR("LocalSize(LocalAllocTrace(10)) = 16", LocalSize(p), 16, LE_UNTOUCHED);
    CHECK_RET_ERR("LocalFree(LocalAllocTrace block) -> NULL", LocalFree(p), NULL, LE_UNTOUCHED);
    CHECK_RET_ERR("LocalAllocTrace(LMEM_MODIFY) -> NULL, ERROR_INVALID_PARAMETER", LocalAllocTrace(LMEM_MODIFY, 10, 0),
                  NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("LocalAllocTrace(0x1000) -> NULL, ERROR_INVALID_PARAMETER", LocalAllocTrace(0x1000, 10, 0), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("LocalAllocTrace(> 1 GB) -> NULL, ERROR_INVALID_PARAMETER", LocalAllocTrace(0, ONE_GB + 1, 0), NULL,
                  ERROR_INVALID_PARAMETER);
    /* zeroing on dirty memory */
    char *d = LocalAllocTrace(0, 3000, 0);
    if (d != NULL) fill(d, 0xEF, 3000);
    LocalFree(d);
    p = LocalAllocTrace(LPTR, 3000, 0);
    CHECK("LocalAllocTrace(LPTR, 3000) reads zero", p != NULL && check_bytes_are(p, 3000, 0) && LocalSize(p) == 3000);
    LocalFree(p);
    p = LocalAllocTrace(LHND, 0, 0);
    CHECK("LocalAllocTrace(LHND, 0): valid, LocalSize 8", good_ptr(p, 8) && LocalSize(p) == 8);
    LocalFree(p);

    HANDLE h = HeapCreate(0, 0, 0);
    if (h == NULL) return;
    char file[] = "test_local.c";
    p = CALL(HeapAllocTrace(h, 0, 100, __LINE__, file));
    CHECK("HeapAllocTrace(h, 0, 100) succeeds, last error untouched", good_ptr(p, 104) && GetLastError() == LE_UNTOUCHED);
    CHECK_RET_ERR("HeapSize(HeapAllocTrace(100)) = 104", HeapSize(h, 0, p), 104, LE_UNTOUCHED);
    if (p != NULL) fill(p, 0x9A, 104);
    CHECK_RET_ERR("HeapFree(HeapAllocTrace block) -> TRUE", HeapFree(h, 0, p), TRUE, LE_UNTOUCHED);
    p = HeapAllocTrace(h, HEAP_ZERO_MEMORY, 100, __LINE__, file);
    CHECK("HeapAllocTrace(HEAP_ZERO_MEMORY) zeroes", p != NULL && check_bytes_are(p, 104, 0));
    p = HeapAllocTrace(h, 0, 20000, __LINE__, NULL);
    CHECK("HeapAllocTrace(20000, file NULL) is a big block", p != NULL && (U64(p) & 0xFFFF) == 0 && HeapSize(h, 0, p) == 20000);
    static const struct named bad[] = {
        {HEAP_GENERATE_EXCEPTIONS, "HEAP_GENERATE_EXCEPTIONS"},
        {HEAP_REALLOC_IN_PLACE_ONLY, "HEAP_REALLOC_IN_PLACE_ONLY"},
        {HEAP_GROWABLE, "HEAP_GROWABLE"},
        {0x80000000u, "0x80000000"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(nm, sizeof nm, "HeapAllocTrace(%s) -> NULL, ERROR_INVALID_PARAMETER", bad[i].name);
        CHECK_RET_ERR(nm, HeapAllocTrace(h, bad[i].v, 10, 1, file), NULL, ERROR_INVALID_PARAMETER);
    }
    CHECK_RET_ERR("HeapAllocTrace(> 1 GB) -> NULL, ERROR_INVALID_PARAMETER", HeapAllocTrace(h, 0, ONE_GB + 1, 1, file),
                  NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapAllocTrace(NULL heap) -> NULL, ERROR_INVALID_PARAMETER", HeapAllocTrace(NULL, 0, 10, 1, file),
                  NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("HeapAllocTrace((HANDLE)0x1234) -> NULL, ERROR_INVALID_PARAMETER",
                  HeapAllocTrace((HANDLE)0x1234, 0, 10, 1, file), NULL, ERROR_INVALID_PARAMETER);
    HeapDestroy(h);
    CHECK_RET_ERR("HeapAllocTrace(destroyed heap) -> NULL, ERROR_INVALID_PARAMETER", HeapAllocTrace(h, 0, 10, 1, file),
                  NULL, ERROR_INVALID_PARAMETER);
    HANDLE fx = HeapCreate(0, 0, 0x1000);
    if (fx != NULL) {
        CHECK("HeapAllocTrace on a fixed one-page heap: 4096 fits", HeapAllocTrace(fx, 0, 4096, 1, file) != NULL);
        CHECK_RET_ERR("HeapAllocTrace on the full heap -> NULL, ERROR_NOT_ENOUGH_MEMORY",
                      HeapAllocTrace(fx, 0, 1, 1, file), NULL, ERROR_NOT_ENOUGH_MEMORY);
        HeapDestroy(fx);
    }
}

static void test_macros(void) {
    char *p = CALL(GlobalAlloc(GMEM_FIXED, 100));
    CHECK("GlobalAlloc(GMEM_FIXED, 100) succeeds", good_ptr(p, 104) && GetLastError() == LE_UNTOUCHED);
    CHECK_RET_ERR("GlobalSize = 104", GlobalSize(p), 104, LE_UNTOUCHED);
    CHECK_RET_ERR("GlobalLock(p) = p", GlobalLock(p), p, LE_UNTOUCHED);
    CHECK_RET_ERR("GlobalUnlock(p) = 0", GlobalUnlock(p), 0, LE_UNTOUCHED);
    CHECK_RET_ERR("GlobalHandle(p) = p", GlobalHandle(p), p, LE_UNTOUCHED);
    CHECK_RET_ERR("GlobalFlags(p) = 0", GlobalFlags(p), 0, LE_UNTOUCHED);
    CHECK_RET_ERR("LocalLock(p) = p", LocalLock(p), p, LE_UNTOUCHED);
    CHECK_RET_ERR("LocalUnlock(p) = 0", LocalUnlock(p), 0, LE_UNTOUCHED);
    CHECK_RET_ERR("LocalHandle(p) = p", LocalHandle(p), p, LE_UNTOUCHED);
    CHECK_RET_ERR("LocalFlags(p) = 0", LocalFlags(p), 0, LE_UNTOUCHED);
    CHECK_RET_ERR("GlobalLock(NULL) = NULL", GlobalLock(NULL), NULL, LE_UNTOUCHED);
    fill(p, 0x47, 104);
    /* GlobalReAlloc always passes LMEM_MOVEABLE and discards its flags. */
    char *q = CALL(GlobalReAlloc(p, 70000, 0));
    CHECK("GlobalReAlloc(p, 70000, 0) may move (LMEM_MOVEABLE passed): succeeds, contents kept",
          q != NULL && GetLastError() == LE_UNTOUCHED && GlobalSize(q) == 70000 && check_bytes_are(q, 104, 0x47));
    if (q != NULL) p = q;
    q = CALL(GlobalReAlloc(p, 64, 0xFFFFFFFFu));
    CHECK("GlobalReAlloc(p, 64, 0xFFFFFFFF): the flags are discarded, the shrink succeeds in place",
          q == p && GetLastError() == LE_UNTOUCHED && GlobalSize(p) == 64 && check_bytes_are(p, 64, 0x47));
    q = CALL(GlobalReAlloc(p, 3000, GMEM_MODIFY | 1));
    CHECK("GlobalReAlloc(p, 3000, GMEM_MODIFY|1) succeeds (flags discarded), contents kept",
          q != NULL && GlobalSize(q) == 3000 && check_bytes_are(q, 64, 0x47));
    if (q != NULL) p = q;
    CHECK_RET_ERR("GlobalFree(p) -> NULL", GlobalFree(p), NULL, LE_UNTOUCHED);
    CHECK_RET_ERR("GlobalFree(p) again -> p, ERROR_INVALID_PARAMETER", GlobalFree(p), p, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("GlobalSize(freed) -> 0, ERROR_INVALID_PARAMETER", GlobalSize(p), 0, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("GlobalReAlloc(freed) -> NULL, ERROR_INVALID_PARAMETER", GlobalReAlloc(p, 10, 0), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("GlobalAlloc(GMEM_MODIFY) -> NULL, ERROR_INVALID_PARAMETER", GlobalAlloc(GMEM_MODIFY, 10), NULL,
                  ERROR_INVALID_PARAMETER);
    /* GPTR / GHND zero. */
    char *d = GlobalAlloc(GMEM_FIXED, 500);
    if (d != NULL) fill(d, 0x88, 504);
    GlobalFree(d);
    p = GlobalAlloc(GPTR, 500);
    CHECK("GlobalAlloc(GPTR, 500) zeroed, GlobalSize 504", p != NULL && check_bytes_are(p, 504, 0) && GlobalSize(p) == 504);
    if (p != NULL) fill(p, 0x88, 504);
    GlobalFree(p);
    p = GlobalAlloc(GHND, 500);
    CHECK("GlobalAlloc(GHND, 500) zeroed and a plain pointer (GlobalLock = itself)",
          p != NULL && check_bytes_are(p, 504, 0) && GlobalLock(p) == p);
    GlobalFree(p);
    p = LocalAlloc(LHND, 77);
    CHECK("LocalAlloc(LHND, 77): zeroed, LocalLock(h) = h, LocalHandle(ptr) = ptr",
          p != NULL && check_bytes_are(p, 80, 0) && LocalLock(p) == p && LocalHandle(p) == p);
    CHECK_RET_ERR("LocalFree(LHND block) -> NULL", LocalFree(p), NULL, LE_UNTOUCHED);
}

int main(void) {
    test_constants();
    test_local_alloc();
    test_local_realloc();
    test_trace();
    test_macros();
    return check_summary();
}
