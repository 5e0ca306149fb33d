/* The ce5 profile (run with COREDLL_PROFILE=ce5): CONTRACT.md "Address space" and the ce5
 * deviations, spec.md (ce5 items), CE-SEMANTICS.md §5.2, §6.2, §7.2, §11, §13, §17.1. */
#include "check.h"

static char *W0, *W1;
static DWORD S0, S1;

static DWORD avail_virtual(void) {
    MEMORYSTATUS ms;
    GlobalMemoryStatus(&ms);
    return ms.dwAvailVirtual;
}

static void test_windows(void) {
    DWORD s = 0;
    W0 = CALL(coredll_window(0, &s));
    CHECK_LE("coredll_window(0) leaves the last error alone", LE_UNTOUCHED);
    S0 = s;
    CHECK_NE_U("ce5 window 0 exists", W0, NULL);
    CHECK_EQ_P("ce5 window 0 (the slot) at the CE base 0x10000", W0, 0x10000);
    CHECK_EQ_U("ce5 window 0 is the 32 MB slot less its first 64 KB", S0, 0x01FF0000);
    s = 0;
    W1 = CALL(coredll_window(1, &s));
    S1 = s;
    CHECK_NE_U("ce5 window 1 (large-memory area) exists", W1, NULL);
    CHECK_LE("coredll_window(1) leaves the last error alone", LE_UNTOUCHED);
    CHECK_EQ_P("ce5 window 1 at 0x42000000", W1, 0x42000000);
    CHECK_EQ_U("ce5 window 1 size 0x3A000000 (to 0x7C000000)", S1, 0x3A000000);
    CHECK("both windows below 4 GB", U64(W0) + S0 <= 0x100000000ull && U64(W1) + S1 <= 0x100000000ull);
    CHECK("windows do not overlap", U64(W0) + S0 <= U64(W1) || U64(W1) + S1 <= U64(W0));
    CHECK_RET_ERR("ce5 has no window 2", coredll_window(2, NULL), NULL, ERROR_INVALID_PARAMETER);
}

static void test_slot_exhaustion(void) {
    enum { N = 512 };
    static char *ps[N];
    DWORD blocks_free = avail_virtual() / GRAN;
    int n = 0, aligned = 1, inside = 1, untouched = 1;
    DWORD err = 0;
    for (int i = 0; i < N; i++) {
        SetLastError(CHECK_SENTINEL);
        char *p = VirtualAlloc(NULL, 4096, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        if (p == NULL) {
            err = GetLastError();
            break;
        }
        if (GetLastError() != CHECK_SENTINEL) untouched = 0;
        if ((U64(p) & 0xFFFF) != 0) aligned = 0;
        if (!in_window(0, p, 4096)) inside = 0;
        ps[n++] = p;
    }
    CHECK("512 x VirtualAlloc(NULL, 4096, MEM_RESERVE|MEM_COMMIT) runs out before 512", n < N);
    CHECK_EQ_U("the slot runs out with ERROR_NOT_ENOUGH_MEMORY", err, ERROR_NOT_ENOUGH_MEMORY);
    CHECK_EQ_U("one 64 KB block per page: successes = free blocks before the loop", n, blocks_free);
    CHECK("every one-page allocation is 64 KB aligned", aligned);
    CHECK("every one-page allocation lies in the slot (window 0)", inside);
    CHECK("ce5: successful VirtualAlloc leaves the last error alone", untouched);
    CHECK_EQ_U("full slot: dwAvailVirtual is 0", avail_virtual(), 0);
    CHECK_RET_ERR("full slot: a reservation of 64 KB fails too",
                  VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_READWRITE), NULL, ERROR_NOT_ENOUGH_MEMORY);
    char *big = CALL(VirtualAlloc(NULL, 0x200000, MEM_RESERVE, PAGE_NOACCESS));
    CHECK("full slot: a 2 MB NOACCESS reservation still succeeds (large-memory area)",
          big != NULL && in_window(1, big, 0x200000));
    if (big != NULL) VirtualFree(big, 0, MEM_RELEASE);
    int freed = 0;
    for (int i = 0; i < n; i++) freed += VirtualFree(ps[i], 0, MEM_RELEASE) == TRUE;
    CHECK_EQ_U("all one-page allocations released (all committed: uniform state)", freed, n);
    CHECK_EQ_U("dwAvailVirtual back to its value before the loop", avail_virtual(), blocks_free * GRAN);
    char *p = CALL(VirtualAlloc(NULL, 4096, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));
    CHECK("after freeing, allocation works again", p != NULL && GetLastError() == CHECK_SENTINEL);
    if (p != NULL) VirtualFree(p, 0, MEM_RELEASE);
}

static void test_large_area(void) {
    DWORD before = avail_virtual();
    char *h = CALL(VirtualAlloc(NULL, 0x200000, MEM_RESERVE, PAGE_NOACCESS));
    CHECK_NE_U("2 MB NULL/MEM_RESERVE/PAGE_NOACCESS succeeds", h, NULL);
    CHECK_LE("ce5: success leaves the last error alone", LE_UNTOUCHED);
    if (h == NULL) return;
    CHECK("2 MB NOACCESS reservation lands in the large-memory area (window 1)", in_window(1, h, 0x200000));
    CHECK_EQ_U("large-area reservation is 64 KB aligned", U64(h) & 0xFFFF, 0);
    CHECK_EQ_U("large-area reservation does not use the slot (dwAvailVirtual unchanged)", avail_virtual(), before);
    CHECK_QUERY("large-area reservation: 512 reserved pages", h, h, h, 0x200000, MEM_RESERVE, PAGE_NOACCESS,
                MEM_PRIVATE);
    CHECK_RET_ERR("commit all 512 pages of the large-area reservation, last error untouched",
                  VirtualAlloc(h, 0x200000, MEM_COMMIT, PAGE_READWRITE), h, LE_UNTOUCHED);
    CHECK_QUERY("large-area reservation: 512 committed pages", h, h, h, 0x200000, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);
    CHECK("large-area pages read zero", check_bytes_are(h, 0x200000, 0));
    CHECK("large-area pages are writable", fill(h, 1, 1) && fill(h + 0x1FFFFF, 2, 1) && check_bytes_are(h, 1, 1) &&
                                               check_bytes_are(h + 0x1FFFFF, 1, 2));
    CHECK_RET_ERR("decommit page 0", VirtualFree(h, 0x1000, MEM_DECOMMIT), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("ce5: MEM_RELEASE of a partly committed large-area region -> ERROR_INVALID_PARAMETER",
                  VirtualFree(h, 0, MEM_RELEASE), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("decommit the rest", VirtualFree(h, 0x200000, MEM_DECOMMIT), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("MEM_RELEASE of the all-reserved large-area region", VirtualFree(h, 0, MEM_RELEASE), TRUE,
                  LE_UNTOUCHED);
    CHECK_QUERY("released large-area region is MEM_FREE with Type 0", h, h, NULL, Q_ANY, MEM_FREE, PAGE_NOACCESS, 0);

    char *h32 = CALL(VirtualAlloc(NULL, 0x2000000, MEM_RESERVE, PAGE_NOACCESS));
    CHECK("32 MB NULL/MEM_RESERVE/PAGE_NOACCESS goes to the large-memory area",
          h32 != NULL && in_window(1, h32, 0x2000000) && GetLastError() == LE_UNTOUCHED);
    if (h32 != NULL) VirtualFree(h32, 0, MEM_RELEASE);
    CHECK_RET_ERR("ce5: 32 MB MEM_RESERVE with PAGE_READWRITE -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(NULL, 0x2000000, MEM_RESERVE, PAGE_READWRITE), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("ce5: 32 MB MEM_RESERVE|MEM_COMMIT PAGE_NOACCESS -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(NULL, 0x2000000, MEM_RESERVE | MEM_COMMIT, PAGE_NOACCESS), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("ce5: 48 MB MEM_RESERVE|MEM_TOP_DOWN PAGE_NOACCESS -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(NULL, 0x3000000, MEM_RESERVE | MEM_TOP_DOWN, PAGE_NOACCESS), NULL,
                  ERROR_INVALID_PARAMETER);

    /* Requests that are not exactly NULL + MEM_RESERVE + PAGE_NOACCESS + >= 2 MB stay in the slot. */
    struct {
        DWORD size, type, prot;
        const char *name;
    } slot[] = {
        {0x1FF000, MEM_RESERVE, PAGE_NOACCESS, "2 MB - 4 KB MEM_RESERVE PAGE_NOACCESS"},
        {0x200000, MEM_RESERVE, PAGE_READWRITE, "2 MB MEM_RESERVE PAGE_READWRITE"},
        {0x200000, MEM_RESERVE | MEM_COMMIT, PAGE_NOACCESS, "2 MB MEM_RESERVE|MEM_COMMIT PAGE_NOACCESS"},
        {0x200000, MEM_RESERVE | MEM_TOP_DOWN, PAGE_NOACCESS, "2 MB MEM_RESERVE|MEM_TOP_DOWN PAGE_NOACCESS"},
    };
    for (size_t i = 0; i < sizeof slot / sizeof slot[0]; i++) {
        char nm[128];
        char *p = CALL(VirtualAlloc(NULL, slot[i].size, slot[i].type, slot[i].prot));
        snprintf(nm, sizeof nm, "%s stays in the slot (window 0)", slot[i].name);
        CHECK(nm, p != NULL && in_window(0, p, slot[i].size));
        if (p != NULL) VirtualFree(p, 0, MEM_RELEASE);
    }

    /* Reserve once in the slot with a non-NOACCESS protection, then commit 512 pages. */
    char *s = CALL(VirtualAlloc(NULL, 0x200000, MEM_RESERVE, PAGE_READWRITE));
    CHECK("2 MB MEM_RESERVE PAGE_READWRITE reservation in the slot", s != NULL && in_window(0, s, 0x200000));
    if (s != NULL) {
        CHECK_EQ_U("2 MB slot reservation takes 32 blocks of dwAvailVirtual", avail_virtual(), before - 0x200000);
        CHECK_RET_ERR("commit 512 pages in the 2 MB slot reservation, last error untouched",
                      VirtualAlloc(s, 0x200000, MEM_COMMIT, PAGE_READWRITE), s, LE_UNTOUCHED);
        CHECK_QUERY("512 committed pages in the slot", s, s, s, 0x200000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
        CHECK("last committed byte writable", fill(s + 0x1FFFFF, 7, 1) && check_bytes_are(s + 0x1FFFFF, 1, 7));
        CHECK_RET_ERR("MEM_RELEASE of the fully committed slot region", VirtualFree(s, 0, MEM_RELEASE), TRUE,
                      LE_UNTOUCHED);
    }
}

static void test_release_rules(void) {
    char *r = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    CHECK_NE_U("16-page slot reservation", r, NULL);
    if (r == NULL) return;
    CHECK_RET_ERR("commit 1 page (last error untouched in ce5)", VirtualAlloc(r + 0x3000, 0x1000, MEM_COMMIT,
                                                                              PAGE_READWRITE),
                  r + 0x3000, LE_UNTOUCHED);
    CHECK_RET_ERR("ce5: MEM_RELEASE of a partly committed region -> ERROR_INVALID_PARAMETER",
                  VirtualFree(r, 0, MEM_RELEASE), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_QUERY("the refused release changed nothing", r + 0x3000, r + 0x3000, r, 0x1000, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);
    CHECK_RET_ERR("commit the other 15 pages", VirtualAlloc(r, 0x10000, MEM_COMMIT, PAGE_READWRITE), r, LE_UNTOUCHED);
    DWORD old;
    CHECK_RET_ERR("mixed protections are still one state", VirtualProtect(r, 0x1000, PAGE_READONLY, &old), TRUE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("ce5: MEM_RELEASE of an all-committed region succeeds", VirtualFree(r, 0, MEM_RELEASE), TRUE,
                  LE_UNTOUCHED);
    r = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    if (r != NULL) {
        VirtualAlloc(r, 0x2000, MEM_COMMIT, PAGE_READWRITE);
        CHECK_RET_ERR("decommit everything committed", VirtualFree(r, 0x2000, MEM_DECOMMIT), TRUE, LE_UNTOUCHED);
        CHECK_RET_ERR("ce5: MEM_RELEASE after decommitting (all reserved) succeeds", VirtualFree(r, 0, MEM_RELEASE),
                      TRUE, LE_UNTOUCHED);
    }
    CHECK_RET_ERR("ce5: MEM_DECOMMIT size 0 -> ERROR_INVALID_PARAMETER", VirtualFree(W0, 0, MEM_DECOMMIT), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("ce5: NULL MEM_RELEASE -> ERROR_INVALID_PARAMETER", VirtualFree(NULL, 0, MEM_RELEASE), FALSE,
                  ERROR_INVALID_PARAMETER);
}

static void test_query_and_misc(void) {
    /* Free pages have Type 0 in ce5. */
    char *f = find_free(0x20000);
    char *fence = f != NULL ? VirtualAlloc(f + 0x10000, 0x1000, MEM_RESERVE, PAGE_NOACCESS) : NULL;
    CHECK_EQ_P("fence reservation", fence, f + 0x10000);
    CHECK_QUERY("ce5: free block has Type 0", f, f, NULL, 0x10000, MEM_FREE, PAGE_NOACCESS, 0);
    CHECK_QUERY("ce5: tail page has Type 0", f + 0x11000, f + 0x11000, NULL, Q_ANY, MEM_FREE, PAGE_NOACCESS, 0);
    if (fence != NULL) VirtualFree(fence, 0, MEM_RELEASE);
    MEMORY_BASIC_INFORMATION m;
    int last_free = query(W0 + S0 - GRAN, &m) == sizeof m && m.State == MEM_FREE;
    CHECK("last block of the slot is free (setup)", last_free);
    CHECK_QUERY("ce5: free run stops at the slot end", W0 + S0 - GRAN, W0 + S0 - GRAN, NULL, GRAN, MEM_FREE,
                PAGE_NOACCESS, 0);
    CHECK_QUERY("ce5: free run in the large-memory area stops at its end", W1 + S1 - GRAN, W1 + S1 - GRAN, NULL, GRAN,
                MEM_FREE, PAGE_NOACCESS, 0);

    /* MEM_TOP_DOWN is honoured for slot reservations in ce5. */
    char *t = CALL(VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_TOP_DOWN, PAGE_NOACCESS));
    CHECK_EQ_P("ce5: MEM_TOP_DOWN takes the highest free block of the slot", t, W0 + S0 - GRAN);
    CHECK_LE("ce5: MEM_TOP_DOWN success leaves the last error alone", LE_UNTOUCHED);
    if (t != NULL) VirtualFree(t, 0, MEM_RELEASE);

    /* CE placement: the space between and after the windows. */
    if (W0 == (char *)(uintptr_t)0x10000 && W1 == (char *)(uintptr_t)0x42000000u) {
        CHECK_QUERY("ce5: 0x02000000 is free up to the large-memory area", (void *)(uintptr_t)0x02000000u,
                    0x02000000u, NULL, 0x40000000u, MEM_FREE, PAGE_NOACCESS, 0);
        CHECK_QUERY("ce5: 0x7C000000 is free up to the 0x80000000 ceiling", (void *)(uintptr_t)0x7C000000u,
                    0x7C000000u, NULL, 0x04000000u, MEM_FREE, PAGE_NOACCESS, 0);
        CHECK_RET_ERR("ce5: 0x80000000 -> 0, ERROR_INVALID_PARAMETER",
                      VirtualQuery((void *)(uintptr_t)0x80000000u, &m, sizeof m), 0, ERROR_INVALID_PARAMETER);
        SYSTEM_INFO si;
        GetSystemInfo(&si);
        CHECK_EQ_P("ce5: lpMinimumApplicationAddress 0x10000", si.lpMinimumApplicationAddress, 0x10000);
        CHECK_EQ_P("ce5: lpMaximumApplicationAddress 0x7FFFFFFF (as every CE version)",
                   si.lpMaximumApplicationAddress, 0x7FFFFFFF);
    } else {
        CHECK("ce5 windows at the CE placement (for the outside-window checks)", 0);
    }

    /* dwAvailVirtual = whole free 64 KB blocks of window 0 only. */
    uint64_t blocks = 0;
    char *w = W0;
    while (w < W0 + S0) {
        if (query(w, &m) != sizeof m || m.RegionSize == 0) break;
        if (m.State == MEM_FREE) {
            uint64_t lo = (U64(w) + GRAN - 1) & ~(uint64_t)(GRAN - 1);
            uint64_t hi = (U64(w) + m.RegionSize) & ~(uint64_t)(GRAN - 1);
            if (hi > lo) blocks += (hi - lo) / GRAN;
        }
        w += m.RegionSize;
    }
    CHECK_EQ_P("ce5: a VirtualQuery walk of the slot ends at the slot end", w, W0 + S0);
    MEMORYSTATUS ms;
    GlobalMemoryStatus(&ms);
    CHECK_EQ_U("ce5: dwAvailVirtual = whole free 64 KB blocks of the slot", ms.dwAvailVirtual, blocks * GRAN);
    CHECK_EQ_U("ce5: dwTotalVirtual = 32 MB", ms.dwTotalVirtual, 0x2000000);
    CHECK("ce5: dwAvailVirtual <= 32 MB - 64 KB", ms.dwAvailVirtual <= 0x1FF0000);
    CHECK_EQ_U("dwLength 32", ms.dwLength, 32);

    /* Last error in ce5: success leaves it, failure sets it. */
    char *p = CALL(VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));
    CHECK("ce5: reserve+commit succeeds", p != NULL);
    CHECK_LE("ce5: VirtualAlloc success does NOT reset the last error to 0", LE_UNTOUCHED);
    SetLastError(0x1234);
    char *p2 = VirtualAlloc(NULL, 0x1000, MEM_RESERVE, PAGE_NOACCESS);
    CHECK_LE("ce5: a stale error survives a successful VirtualAlloc", 0x1234);
    if (p2 != NULL && p != NULL) {
        CHECK_RET_ERR("ce5: commit success leaves the last error alone",
                      VirtualAlloc(p2, 0x1000, MEM_COMMIT, PAGE_READWRITE), p2, LE_UNTOUCHED);
    }
    CHECK_RET_ERR("ce5: VirtualAlloc failure sets the error", VirtualAlloc(NULL, 0, MEM_RESERVE, PAGE_NOACCESS), NULL,
                  ERROR_INVALID_PARAMETER);
    /* CONTRACT.md lists no ce5 deviation for WRITECOPY: ERROR_INVALID_PARAMETER in every profile
     * (CE 5's own kernel said ERROR_NOT_SUPPORTED). */
    CHECK_RET_ERR("PAGE_WRITECOPY -> ERROR_INVALID_PARAMETER (no ce5 deviation in CONTRACT.md)",
                  VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_WRITECOPY), NULL, ERROR_INVALID_PARAMETER);

    /* IsBad*Ptr: ce5 reports ERROR_INVALID_ADDRESS. */
    char *rs = VirtualAlloc(NULL, 0x1000, MEM_RESERVE, PAGE_NOACCESS);
    if (rs != NULL) {
        CHECK_RET_ERR("ce5: IsBadReadPtr TRUE sets ERROR_INVALID_ADDRESS", IsBadReadPtr(rs, 1), TRUE,
                      ERROR_INVALID_ADDRESS);
        CHECK_RET_ERR("ce5: IsBadWritePtr TRUE sets ERROR_INVALID_ADDRESS", IsBadWritePtr(rs, 1), TRUE,
                      ERROR_INVALID_ADDRESS);
        CHECK_RET_ERR("ce5: IsBadCodePtr TRUE sets ERROR_INVALID_ADDRESS", IsBadCodePtr((FARPROC)(uintptr_t)rs), TRUE,
                      ERROR_INVALID_ADDRESS);
        CHECK_RET_ERR("ce5: IsBadReadPtr NULL sets ERROR_INVALID_ADDRESS", IsBadReadPtr(NULL, 1), TRUE,
                      ERROR_INVALID_ADDRESS);
        VirtualFree(rs, 0, MEM_RELEASE);
    }
    if (p != NULL) {
        CHECK_RET_ERR("ce5: IsBadWritePtr FALSE leaves the error alone", IsBadWritePtr(p, 16), FALSE, LE_UNTOUCHED);
        VirtualFree(p, 0, MEM_RELEASE);
    }
    if (p2 != NULL) VirtualFree(p2, 0, MEM_RELEASE);
}

int main(void) {
    test_windows();
    if (W0 == NULL || W1 == NULL) return check_summary();
    test_query_and_misc();
    test_release_rules();
    test_large_area();
    test_slot_exhaustion();
    return check_summary();
}
