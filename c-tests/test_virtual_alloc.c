/* VirtualAlloc conformance (ce6 profile): CONTRACT.md "VirtualAlloc", spec.md "VirtualAlloc",
 * CE-SEMANTICS.md §5. */
#include "check.h"

#include <pthread.h>
#include <sched.h>

static char *W;  /* window 0 */
static DWORD WS; /* its size */

static DWORD pageup(uint64_t n) { return (DWORD)((n + PG - 1) & ~(uint64_t)(PG - 1)); }

static void top_of_address_space_child(void *arg) {
    (void)arg;
    CHECK_RET_ERR("reserve at the top page of the address space -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc((void *)(UINTPTR_MAX - 0xFFF), 0x1000, MEM_RESERVE, PAGE_NOACCESS), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("commit at (void*)UINTPTR_MAX -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc((void *)UINTPTR_MAX, 1, MEM_COMMIT, PAGE_READWRITE), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualFree MEM_RELEASE (void*)UINTPTR_MAX -> ERROR_INVALID_PARAMETER",
                  VirtualFree((void *)UINTPTR_MAX, 0, MEM_RELEASE), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualFree MEM_DECOMMIT top page -> ERROR_INVALID_PARAMETER",
                  VirtualFree((void *)(UINTPTR_MAX - 0xFFF), 0x1000, MEM_DECOMMIT), FALSE, ERROR_INVALID_PARAMETER);
}

static void test_window(void) {
    DWORD s = 0x12345678;
    char *b = CALL(coredll_window(0, &s));
    CHECK_LE("coredll_window(0) success leaves the last error alone", LE_UNTOUCHED);
    CHECK_NE_U("window 0 exists", b, NULL);
    CHECK_EQ_P("ce6 window 0 is placed at the CE base 0x10000 (PIE program)", b, 0x10000);
    CHECK_EQ_U("ce6 window 0 size is 1 GB - 64 KB", s, 0x3FFF0000);
    CHECK("window 0 ends below 4 GB", U64(b) + s <= 0x100000000ull);
    CHECK_RET_ERR("coredll_window(0, NULL) returns the same base", coredll_window(0, NULL), b, LE_UNTOUCHED);
    W = b;
    WS = b != NULL ? s : 0;
    DWORD s1 = 0;
    CHECK_RET_ERR("ce6 has no window 1", coredll_window(1, &s1), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("no window 0xFFFFFFFF", coredll_window(0xFFFFFFFF, NULL), NULL, ERROR_INVALID_PARAMETER);
}

static void test_basic(void) {
    char *p = CALL(VirtualAlloc(NULL, 4096, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));
    CHECK_NE_U("reserve+commit one page succeeds", p, NULL);
    CHECK_LE("successful VirtualAlloc sets last error 0 (ce6)", 0);
    if (p == NULL) return;
    CHECK_EQ_U("NULL-address result is 64 KB aligned", U64(p) & 0xFFFF, 0);
    CHECK("result lies inside coredll_window(0)", in_window(0, p, 4096));
    CHECK("result is below 4 GB", U64(p) + 4096 <= 0x100000000ull);
    CHECK("fresh page reads zero", check_bytes_are(p, 4096, 0));
    CHECK("committed RW page is writable", fill(p, 0x5A, 4096) && check_bytes_are(p, 4096, 0x5A));
    CHECK_QUERY("reserve+commit: one committed RW page", p, p, p, 4096, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    MEMORY_BASIC_INFORMATION m;
    CHECK_EQ_U("query of the block tail succeeds", query(p + 4096, &m), sizeof m);
    CHECK_EQ_U("rest of the 64 KB block is MEM_FREE (tail)", m.State, MEM_FREE);
    CHECK_EQ_P("tail AllocationBase is NULL", m.AllocationBase, NULL);
    CHECK("tail RegionSize = block rest + whole free blocks",
          m.RegionSize >= 0xF000 && (m.RegionSize - 0xF000) % GRAN == 0);
    CHECK_RET_ERR("release", VirtualFree(p, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);

    /* NULL address implies reserve: MEM_COMMIT alone reserves and commits. */
    p = CALL(VirtualAlloc(NULL, 8192, MEM_COMMIT, PAGE_READWRITE));
    CHECK_NE_U("NULL + MEM_COMMIT alone reserves and commits", p, NULL);
    CHECK_LE("NULL + MEM_COMMIT: last error 0", 0);
    if (p != NULL) {
        CHECK_QUERY("NULL + MEM_COMMIT: 2 committed pages", p, p, p, 8192, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
        CHECK("NULL + MEM_COMMIT: pages read zero", check_bytes_are(p, 8192, 0));
        VirtualFree(p, 0, MEM_RELEASE);
    }

    /* Reserve only. */
    p = CALL(VirtualAlloc(NULL, 5000, MEM_RESERVE, PAGE_READWRITE));
    CHECK_NE_U("reserve 5000 bytes succeeds", p, NULL);
    CHECK_LE("reserve: last error 0", 0);
    if (p != NULL) {
        CHECK_QUERY("reserve 5000: ceil(5000/4096)=2 reserved pages, Protect NOACCESS", p, p, p, 0x2000,
                    MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
        CHECK_QUERY("reserve 5000: page 2 is a free tail page", p + 0x2000, p + 0x2000, NULL, Q_ANY, MEM_FREE,
                    PAGE_NOACCESS, MEM_PRIVATE);
        VirtualFree(p, 0, MEM_RELEASE);
    }
}

static void test_sizes(void) {
    static const DWORD sizes[] = {1, 4095, 4096, 4097, 0xFFFF, 0x10000, 0x10001, 0x123456, 0x4000000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        DWORD sz = sizes[i];
        char nm[128];
        char *p = CALL(VirtualAlloc(NULL, sz, MEM_RESERVE, PAGE_NOACCESS));
        snprintf(nm, sizeof nm, "reserve size 0x%x succeeds, last error 0", (unsigned)sz);
        CHECK(nm, p != NULL && GetLastError() == 0);
        if (p == NULL) continue;
        snprintf(nm, sizeof nm, "reserve size 0x%x: 64 KB aligned, inside window 0, below 4 GB", (unsigned)sz);
        CHECK(nm, (U64(p) & 0xFFFF) == 0 && in_window(0, p, sz) && U64(p) + sz <= 0x100000000ull);
        snprintf(nm, sizeof nm, "reserve size 0x%x: RegionSize = size rounded up to pages", (unsigned)sz);
        CHECK_QUERY(nm, p, p, p, pageup(sz), MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
        snprintf(nm, sizeof nm, "commit all of size 0x%x returns the base", (unsigned)sz);
        CHECK_RET_ERR(nm, VirtualAlloc(p, sz, MEM_COMMIT, PAGE_READWRITE), p, 0);
        snprintf(nm, sizeof nm, "commit all of size 0x%x: one committed run", (unsigned)sz);
        CHECK_QUERY(nm, p, p, p, pageup(sz), MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
        snprintf(nm, sizeof nm, "size 0x%x: first and last page read zero", (unsigned)sz);
        CHECK(nm, check_bytes_are(p, PG, 0) && check_bytes_are(p + pageup(sz) - PG, PG, 0));
        snprintf(nm, sizeof nm, "size 0x%x: release", (unsigned)sz);
        CHECK_RET_ERR(nm, VirtualFree(p, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);
    }

    /* Invalid sizes: 0 and >= 0x80000000, for every kind of request. */
    static const DWORD bad[] = {0, 0x80000000u, 0x80001000u, 0xFFFFFFFFu};
    char *r = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    CHECK_NE_U("reservation for size tests", r, NULL);
    char *f = find_free(0x10000);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char nm[128];
        snprintf(nm, sizeof nm, "size 0x%x: NULL reserve -> ERROR_INVALID_PARAMETER", (unsigned)bad[i]);
        CHECK_RET_ERR(nm, VirtualAlloc(NULL, bad[i], MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "size 0x%x: NULL reserve+commit -> ERROR_INVALID_PARAMETER", (unsigned)bad[i]);
        CHECK_RET_ERR(nm, VirtualAlloc(NULL, bad[i], MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE), NULL,
                      ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "size 0x%x: commit in a reservation -> ERROR_INVALID_PARAMETER", (unsigned)bad[i]);
        CHECK_RET_ERR(nm, VirtualAlloc(r, bad[i], MEM_COMMIT, PAGE_READWRITE), NULL, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "size 0x%x: reserve at a free address -> ERROR_INVALID_PARAMETER", (unsigned)bad[i]);
        CHECK_RET_ERR(nm, VirtualAlloc(f, bad[i], MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_INVALID_PARAMETER);
    }
    CHECK_QUERY("failed commits left the reservation untouched", r, r, r, 0x10000, MEM_RESERVE, PAGE_NOACCESS,
                MEM_PRIVATE);
    VirtualFree(r, 0, MEM_RELEASE);

    /* Valid sizes that do not fit. */
    CHECK_RET_ERR("NULL reserve 0x7FFFFFFF (no room) -> ERROR_NOT_ENOUGH_MEMORY",
                  VirtualAlloc(NULL, 0x7FFFFFFF, MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK_RET_ERR("NULL reserve 1 GB (window is 1 GB - 64 KB) -> ERROR_NOT_ENOUGH_MEMORY",
                  VirtualAlloc(NULL, 0x40000000, MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK_RET_ERR("NULL reserve window size + 64 KB -> ERROR_NOT_ENOUGH_MEMORY",
                  VirtualAlloc(NULL, WS + GRAN, MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK_RET_ERR("reserve 1 GB at the window base (given address) -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(W, 0x40000000, MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_INVALID_PARAMETER);
    char *big = CALL(VirtualAlloc(NULL, 0x10000000, MEM_RESERVE, PAGE_NOACCESS));
    CHECK("NULL reserve of 256 MB succeeds", big != NULL && GetLastError() == 0 && in_window(0, big, 0x10000000));
    if (big != NULL) VirtualFree(big, 0, MEM_RELEASE);
}

/* Fill the window, check the "no room" errors, then free everything again. */
static void test_exhaustion(void) {
    enum { MAXR = 4096 };
    static char *res[MAXR];
    int n = 0;
    DWORD last_err = 0;
    DWORD chunk = 0x4000000; /* 64 MB, then 64 KB */
    while (n < MAXR) {
        char *p = CALL(VirtualAlloc(NULL, chunk, MEM_RESERVE, PAGE_NOACCESS));
        if (p == NULL) {
            last_err = GetLastError();
            if (chunk == GRAN) break;
            chunk = GRAN;
            continue;
        }
        res[n++] = p;
    }
    CHECK("window filled before the test's reservation limit", n < MAXR);
    CHECK_EQ_U("no room for a NULL reservation -> ERROR_NOT_ENOUGH_MEMORY", last_err, ERROR_NOT_ENOUGH_MEMORY);
    CHECK_RET_ERR("full window: NULL reserve+commit of one page -> ERROR_NOT_ENOUGH_MEMORY",
                  VirtualAlloc(NULL, 4096, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE), NULL, ERROR_NOT_ENOUGH_MEMORY);
    if (n > 0)
        CHECK_RET_ERR("full window: reserve at a used address -> ERROR_INVALID_PARAMETER",
                      VirtualAlloc(res[n - 1], 4096, MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_INVALID_PARAMETER);
    MEMORYSTATUS ms;
    GlobalMemoryStatus(&ms);
    CHECK_EQ_U("full window: dwAvailVirtual is 0", ms.dwAvailVirtual, 0);
    int freed = 0;
    for (int i = 0; i < n; i++) freed += VirtualFree(res[i], 0, MEM_RELEASE) == TRUE;
    CHECK_EQ_U("every exhaustion reservation released", freed, n);
    char *p = CALL(VirtualAlloc(NULL, 4096, MEM_RESERVE, PAGE_NOACCESS));
    CHECK("after releasing, a NULL reservation succeeds again", p != NULL && GetLastError() == 0);
    if (p != NULL) VirtualFree(p, 0, MEM_RELEASE);
}

static void test_alloc_types(void) {
    static const struct named good[] = {
        {MEM_RESERVE, "MEM_RESERVE"},
        {MEM_COMMIT, "MEM_COMMIT"},
        {MEM_RESERVE | MEM_COMMIT, "MEM_RESERVE|MEM_COMMIT"},
        {MEM_AUTO_COMMIT, "MEM_AUTO_COMMIT"},
        {MEM_RESERVE | MEM_AUTO_COMMIT, "MEM_RESERVE|MEM_AUTO_COMMIT"},
        {MEM_RESERVE | MEM_TOP_DOWN, "MEM_RESERVE|MEM_TOP_DOWN"},
        {MEM_RESERVE | MEM_COMMIT | MEM_TOP_DOWN, "MEM_RESERVE|MEM_COMMIT|MEM_TOP_DOWN"},
        {MEM_RESERVE | MEM_IMAGE, "MEM_RESERVE|MEM_IMAGE"},
    };
    static const struct named bad[] = {
        {0, "0"},
        {MEM_DECOMMIT, "MEM_DECOMMIT"},
        {MEM_RELEASE, "MEM_RELEASE"},
        {MEM_RESET, "MEM_RESET"},
        {MEM_RESERVE | MEM_RESET, "MEM_RESERVE|MEM_RESET"},
        {MEM_RESERVE | MEM_DECOMMIT, "MEM_RESERVE|MEM_DECOMMIT"},
        {MEM_RESERVE | MEM_RELEASE, "MEM_RESERVE|MEM_RELEASE"},
        {MEM_COMMIT | MEM_DECOMMIT, "MEM_COMMIT|MEM_DECOMMIT"},
        {MEM_RESERVE | MEM_MAPPED, "MEM_RESERVE|MEM_MAPPED"},
        {MEM_RESERVE | MEM_FREE, "MEM_RESERVE|MEM_FREE"},
        {MEM_RESERVE | MEM_PRIVATE, "MEM_RESERVE|MEM_PRIVATE"},
        {MEM_RESERVE | 0x00400000u, "MEM_RESERVE|MEM_PHYSICAL(0x400000)"},
        {MEM_RESERVE | 0x80000000u, "MEM_RESERVE|MEM_4MB_PAGES(0x80000000)"},
        {MEM_RESERVE | 0x00800000u, "MEM_RESERVE|SEC_FILE(0x800000)"},
        {MEM_RESERVE | 0x08000000u, "MEM_RESERVE|SEC_COMMIT(0x8000000)"},
        {MEM_RESERVE | 0x1u, "MEM_RESERVE|0x1"},
        {0xFFFFFFFFu, "0xFFFFFFFF"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char nm[128];
        char *p = CALL(VirtualAlloc(NULL, 4096, good[i].v, PAGE_READWRITE));
        snprintf(nm, sizeof nm, "flAllocationType %s accepted, last error 0", good[i].name);
        CHECK(nm, p != NULL && GetLastError() == 0);
        if (p != NULL) VirtualFree(p, 0, MEM_RELEASE);
    }
    char *r = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char nm[128];
        snprintf(nm, sizeof nm, "flAllocationType %s (NULL address) -> ERROR_INVALID_PARAMETER", bad[i].name);
        CHECK_RET_ERR(nm, VirtualAlloc(NULL, 4096, bad[i].v, PAGE_READWRITE), NULL, ERROR_INVALID_PARAMETER);
        if (bad[i].v != 0 && (bad[i].v & MEM_RESERVE) == 0) {
            snprintf(nm, sizeof nm, "flAllocationType %s (in a reservation) -> ERROR_INVALID_PARAMETER", bad[i].name);
            CHECK_RET_ERR(nm, VirtualAlloc(r, 4096, bad[i].v, PAGE_READWRITE), NULL, ERROR_INVALID_PARAMETER);
        }
    }
    CHECK_RET_ERR("flAllocationType 0 at a reserved address -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(r, 4096, 0, PAGE_READWRITE), NULL, ERROR_INVALID_PARAMETER);
    CHECK_QUERY("rejected types left the reservation untouched", r, r, r, 0x10000, MEM_RESERVE, PAGE_NOACCESS,
                MEM_PRIVATE);
    VirtualFree(r, 0, MEM_RELEASE);

    /* ce6 ignores MEM_TOP_DOWN: the result is the same first-fit lowest block as without it. */
    char *lowest = find_free(0x1000);
    char *p = CALL(VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_TOP_DOWN, PAGE_NOACCESS));
    CHECK_EQ_P("ce6: MEM_TOP_DOWN is ignored (first fit from the bottom)", p, lowest);
    if (p != NULL) VirtualFree(p, 0, MEM_RELEASE);

    /* First fit from the lowest address. */
    char *a = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    char *b = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    char *c = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    CHECK("three 64 KB reservations", a != NULL && b != NULL && c != NULL);
    CHECK("successive NULL reservations go upwards", a < b && b < c);
    if (b != NULL) VirtualFree(b, 0, MEM_RELEASE);
    p = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    CHECK_EQ_P("a released block is the lowest free one and is reused first", p, b);
    if (p != NULL) VirtualFree(p, 0, MEM_RELEASE);
    if (a != NULL) VirtualFree(a, 0, MEM_RELEASE);
    if (c != NULL) VirtualFree(c, 0, MEM_RELEASE);

    /* MEM_IMAGE: Type MEM_IMAGE while reserved, committed pages report MEM_PRIVATE. */
    char *im = CALL(VirtualAlloc(NULL, 0x10000, MEM_RESERVE | MEM_IMAGE, PAGE_NOACCESS));
    CHECK("MEM_RESERVE|MEM_IMAGE succeeds", im != NULL && GetLastError() == 0);
    if (im != NULL) {
        CHECK_QUERY("MEM_IMAGE reservation reports Type MEM_IMAGE", im, im, im, 0x10000, MEM_RESERVE,
                    PAGE_NOACCESS, MEM_IMAGE);
        CHECK_RET_ERR("commit one page of a MEM_IMAGE reservation", VirtualAlloc(im, 4096, MEM_COMMIT, PAGE_READWRITE),
                      im, 0);
        CHECK_QUERY("committed page of a MEM_IMAGE reservation reports MEM_PRIVATE", im, im, im, 0x1000, MEM_COMMIT,
                    PAGE_READWRITE, MEM_PRIVATE);
        CHECK_QUERY("still-reserved pages of it report MEM_IMAGE", im + 0x1000, im + 0x1000, im, 0xF000,
                    MEM_RESERVE, PAGE_NOACCESS, MEM_IMAGE);
        /* spec.md: fReserve = NULL address || MEM_RESERVE || MEM_AUTO_COMMIT, so MEM_COMMIT|MEM_IMAGE at
         * an address inside a reservation is a commit (a valid type per CONTRACT.md). */
        CHECK_RET_ERR("MEM_COMMIT|MEM_IMAGE inside a reservation commits (MEM_IMAGE does not imply reserve)",
                      VirtualAlloc(im + 0x2000, 0x1000, MEM_COMMIT | MEM_IMAGE, PAGE_READWRITE), im + 0x2000, 0);
        CHECK_QUERY("MEM_COMMIT|MEM_IMAGE: the page is committed", im + 0x2000, im + 0x2000, im, 0x1000, MEM_COMMIT,
                    PAGE_READWRITE, MEM_PRIVATE);
        CHECK_RET_ERR("release MEM_IMAGE reservation", VirtualFree(im, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);
    }
}

static void test_protections(void) {
    static const struct named good[] = {
        {PAGE_NOACCESS, "PAGE_NOACCESS"},
        {PAGE_READONLY, "PAGE_READONLY"},
        {PAGE_READWRITE, "PAGE_READWRITE"},
        {PAGE_EXECUTE, "PAGE_EXECUTE"},
        {PAGE_EXECUTE_READ, "PAGE_EXECUTE_READ"},
        {PAGE_EXECUTE_READWRITE, "PAGE_EXECUTE_READWRITE"},
        {PAGE_READONLY | PAGE_GUARD, "PAGE_READONLY|PAGE_GUARD"},
        {PAGE_READWRITE | PAGE_NOCACHE, "PAGE_READWRITE|PAGE_NOCACHE"},
        {PAGE_READWRITE | PAGE_GUARD | PAGE_NOCACHE, "PAGE_READWRITE|PAGE_GUARD|PAGE_NOCACHE"},
        {PAGE_EXECUTE_READWRITE | PAGE_GUARD, "PAGE_EXECUTE_READWRITE|PAGE_GUARD"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char nm[160];
        char *p = CALL(VirtualAlloc(NULL, 4096, MEM_RESERVE | MEM_COMMIT, good[i].v));
        snprintf(nm, sizeof nm, "protection %s accepted by reserve+commit, last error 0", good[i].name);
        CHECK(nm, p != NULL && GetLastError() == 0);
        if (p == NULL) continue;
        snprintf(nm, sizeof nm, "protection %s reported exactly by VirtualQuery", good[i].name);
        CHECK_QUERY(nm, p, p, p, 0x1000, MEM_COMMIT, good[i].v, MEM_PRIVATE);
        VirtualFree(p, 0, MEM_RELEASE);
        p = CALL(VirtualAlloc(NULL, 4096, MEM_RESERVE, good[i].v));
        snprintf(nm, sizeof nm, "protection %s accepted by reserve only; reserved page reports PAGE_NOACCESS",
                 good[i].name);
        CHECK(nm, p != NULL && GetLastError() == 0);
        if (p != NULL) {
            CHECK_QUERY(nm, p, p, p, 0x1000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
            VirtualFree(p, 0, MEM_RELEASE);
        }
    }
    char *r = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    for (size_t i = 0; i < N_BAD_PROTECTIONS; i++) {
        char nm[160];
        snprintf(nm, sizeof nm, "protection %s: reserve+commit -> ERROR_INVALID_PARAMETER", BAD_PROTECTIONS[i].name);
        CHECK_RET_ERR(nm, VirtualAlloc(NULL, 4096, MEM_RESERVE | MEM_COMMIT, BAD_PROTECTIONS[i].v), NULL, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "protection %s: reserve only -> ERROR_INVALID_PARAMETER", BAD_PROTECTIONS[i].name);
        CHECK_RET_ERR(nm, VirtualAlloc(NULL, 4096, MEM_RESERVE, BAD_PROTECTIONS[i].v), NULL, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "protection %s: commit in a reservation -> ERROR_INVALID_PARAMETER", BAD_PROTECTIONS[i].name);
        CHECK_RET_ERR(nm, VirtualAlloc(r, 4096, MEM_COMMIT, BAD_PROTECTIONS[i].v), NULL, ERROR_INVALID_PARAMETER);
    }
    CHECK_QUERY("rejected protections left the reservation reserved", r, r, r, 0x10000, MEM_RESERVE, PAGE_NOACCESS,
                MEM_PRIVATE);
    VirtualFree(r, 0, MEM_RELEASE);
}

static void test_address_reservations(void) {
    /* f .. f+0x30000: three free blocks, bounded by a fence reservation at f+0x30000, so that free
     * RegionSizes are known exactly. */
    char *f = find_free(0x40000);
    CHECK_NE_U("found 256 KB of free blocks", f, NULL);
    if (f == NULL) return;
    char *fence = VirtualAlloc(f + 0x30000, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    CHECK_EQ_P("fence reservation at f+0x30000", fence, f + 0x30000);

    char *p = CALL(VirtualAlloc(f + 0x1234, 0x100, MEM_RESERVE, PAGE_NOACCESS));
    CHECK_EQ_P("reserve at an unaligned address returns the 64 KB-aligned base", p, f);
    CHECK_LE("reserve at an address: last error 0", 0);
    CHECK_QUERY("reservation covers [base, pageup(addr+size)) = 2 pages", f, f, f, 0x2000, MEM_RESERVE,
                PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("page after pageup(addr+size) is a free tail page (block rest + 2 free blocks)", f + 0x2000,
                f + 0x2000, NULL, 0xE000 + 0x20000, MEM_FREE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_RET_ERR("reserve in the used block's tail -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(f + 0x8000, 0x1000, MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("reserve at the used block's base -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(f, 0x1000, MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("reserve+commit over a used block -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(f + 0x1000, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("reserve touching a used block and a free one -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(f + 0xFF00, 0x200, MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_INVALID_PARAMETER);
    CHECK_QUERY("the free blocks after a failed reservation are still free", f + 0x10000, f + 0x10000, NULL,
                0x20000, MEM_FREE, PAGE_NOACCESS, MEM_PRIVATE);

    char *q = CALL(VirtualAlloc(f + 0x10000, 0x10000, MEM_RESERVE, PAGE_NOACCESS));
    CHECK_EQ_P("reserve the adjacent block at its aligned address", q, f + 0x10000);
    CHECK_QUERY("adjacent reservations are separate regions", f + 0x10000, f + 0x10000, f + 0x10000, 0x10000,
                MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_RET_ERR("commit spanning two reservations -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(f + 0xF000, 0x2000, MEM_COMMIT, PAGE_READWRITE), NULL, ERROR_INVALID_PARAMETER);

    /* Reserve+commit at an address: returns the page-aligned address; commits the touched pages. */
    char *g = f + 0x20000;
    char *rc = CALL(VirtualAlloc(g + 0x1800, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));
    CHECK_EQ_P("reserve+commit at an address returns the page-aligned address", rc, g + 0x1000);
    CHECK_LE("reserve+commit at an address: last error 0", 0);
    CHECK_QUERY("reserve+commit at an address: page 0 of the block reserved", g, g, g, 0x1000, MEM_RESERVE,
                PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("reserve+commit at an address: the 2 touched pages committed", g + 0x1000, g + 0x1000, g, 0x2000,
                MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    CHECK_QUERY("reserve+commit at an address: the rest of the block is a free tail", g + 0x3000, g + 0x3000, NULL,
                0xD000, MEM_FREE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK("reserve+commit at an address: pages read zero", check_bytes_are(g + 0x1000, 0x2000, 0));

    CHECK_RET_ERR("release unaligned-address reservation by its base", VirtualFree(f, 0, MEM_RELEASE), TRUE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("release adjacent reservation", VirtualFree(q, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("release reserve+commit reservation", VirtualFree(g, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);

    /* Reserve+commit at an unaligned address whose range crosses into the next block: the
     * reservation covers both blocks, from the 64 KB base. */
    char *x = CALL(VirtualAlloc(f + 0xF800, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));
    CHECK_EQ_P("reserve+commit crossing a block boundary returns the page-aligned address", x, f + 0xF000);
    CHECK_QUERY("crossing reserve+commit: pages before it reserved from the 64 KB base", f, f, f, 0xF000, MEM_RESERVE,
                PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("crossing reserve+commit: both touched pages committed", f + 0xF000, f + 0xF000, f, 0x2000,
                MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    CHECK_QUERY("crossing reserve+commit: the second block's tail is free", f + 0x11000, f + 0x11000, NULL,
                0xF000 + 0x10000, MEM_FREE, PAGE_NOACCESS, MEM_PRIVATE);
    if (x != NULL) CHECK_RET_ERR("release the crossing reservation by its base", VirtualFree(f, 0, MEM_RELEASE), TRUE,
                                 LE_UNTOUCHED);
    if (fence != NULL) VirtualFree(fence, 0, MEM_RELEASE);
    CHECK_RET_ERR("reserve 0x7FFFFFFF at a window address -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(f, 0x7FFFFFFF, MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_INVALID_PARAMETER);

    p = CALL(VirtualAlloc(f, 0x30000, MEM_RESERVE, PAGE_READWRITE));
    CHECK_EQ_P("reserve 3 blocks at an aligned free address", p, f);
    CHECK_QUERY("3-block reservation is one region", f, f, f, 0x30000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    if (p != NULL) VirtualFree(p, 0, MEM_RELEASE);

    /* Addresses outside every window. */
    int local = 0;
    void *heap = malloc(64);
    CHECK_RET_ERR("reserve at the window end -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(W + WS, 0x1000, MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_INVALID_PARAMETER);
    MEMORY_BASIC_INFORMATION m;
    int last_free = query(W + WS - GRAN, &m) == sizeof m && m.State == MEM_FREE;
    CHECK("last block of the window is free (setup)", last_free);
    CHECK_RET_ERR("reserve straddling the window end -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(W + WS - GRAN, 2 * GRAN, MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_INVALID_PARAMETER);
    CHECK_QUERY("last block still free after the failed straddling reservation", W + WS - GRAN, W + WS - GRAN, NULL,
                GRAN, MEM_FREE, PAGE_NOACCESS, MEM_PRIVATE);
    p = CALL(VirtualAlloc(W + WS - GRAN, GRAN, MEM_RESERVE, PAGE_NOACCESS));
    CHECK_EQ_P("the very last block of the window can be reserved by address", p, W + WS - GRAN);
    if (p != NULL) VirtualFree(p, 0, MEM_RELEASE);
    CHECK_RET_ERR("reserve below the window -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(W - 0x8000, 0x1000, MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("reserve at a stack address -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(&local, 0x1000, MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("reserve+commit at a malloc address -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(heap, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("commit at a stack address -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(&local, 4, MEM_COMMIT, PAGE_READWRITE), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("reserve at 0xFFFF0000 -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc((void *)(uintptr_t)0xFFFF0000u, 0x1000, MEM_RESERVE, PAGE_NOACCESS), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_EQ_U("stack variable untouched", local, 0);
    free(heap);
}

static void test_commit_rules(void) {
    char *r = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    CHECK_NE_U("16-page reservation", r, NULL);
    if (r == NULL) return;
    char *c = CALL(VirtualAlloc(r + 0x2010, 0x1000, MEM_COMMIT, PAGE_READWRITE));
    CHECK_EQ_P("commit returns the page-aligned lpAddress", c, r + 0x2000);
    CHECK_LE("commit: last error 0", 0);
    CHECK_QUERY("commit covers every page touched by [addr, addr+size)", r + 0x2000, r + 0x2000, r, 0x2000,
                MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    CHECK_QUERY("pages before the commit stay reserved", r, r, r, 0x2000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("pages after the commit stay reserved", r + 0x4000, r + 0x4000, r, 0xC000, MEM_RESERVE,
                PAGE_NOACCESS, MEM_PRIVATE);
    CHECK("committed pages read zero", check_bytes_are(r + 0x2000, 0x2000, 0));
    CHECK("committed pages are writable", fill(r + 0x2000, 0x77, 0x2000));

    /* Re-commit replaces the protection and keeps the contents. */
    CHECK_RET_ERR("re-commit a committed page with PAGE_READONLY succeeds, last error 0",
                  VirtualAlloc(r + 0x3000, 0x1000, MEM_COMMIT, PAGE_READONLY), r + 0x3000, 0);
    CHECK_QUERY("re-commit: page 2 keeps PAGE_READWRITE", r + 0x2000, r + 0x2000, r, 0x1000, MEM_COMMIT,
                PAGE_READWRITE, MEM_PRIVATE);
    CHECK_QUERY("re-commit: page 3 now PAGE_READONLY", r + 0x3000, r + 0x3000, r, 0x1000, MEM_COMMIT, PAGE_READONLY,
                MEM_PRIVATE);
    CHECK("re-commit keeps the page contents", check_bytes_are(r + 0x2000, 0x2000, 0x77));
    CHECK_RET_ERR("re-commit over committed + reserved pages succeeds",
                  VirtualAlloc(r + 0x3000, 0x2000, MEM_COMMIT, PAGE_READWRITE), r + 0x3000, 0);
    CHECK_QUERY("re-commit: pages 2..4 one PAGE_READWRITE run", r + 0x2000, r + 0x2000, r, 0x3000, MEM_COMMIT,
                PAGE_READWRITE, MEM_PRIVATE);
    CHECK("re-commit: old page kept, new page zero",
          check_bytes_are(r + 0x3000, 0x1000, 0x77) && check_bytes_are(r + 0x4000, 0x1000, 0));
    CHECK_RET_ERR("commit with PAGE_NOACCESS succeeds", VirtualAlloc(r + 0x6000, 0x1000, MEM_COMMIT, PAGE_NOACCESS),
                  r + 0x6000, 0);
    CHECK_QUERY("committed PAGE_NOACCESS page is MEM_COMMIT/PAGE_NOACCESS", r + 0x6000, r + 0x6000, r, 0x1000,
                MEM_COMMIT, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_RET_ERR("commit 2 bytes straddling pages 8/9 returns page 8",
                  VirtualAlloc(r + 0x8FFF, 2, MEM_COMMIT, PAGE_READWRITE), r + 0x8000, 0);
    CHECK_QUERY("commit of 2 bytes straddling commits both pages", r + 0x8000, r + 0x8000, r, 0x2000, MEM_COMMIT,
                PAGE_READWRITE, MEM_PRIVATE);

    /* Commits that leave the reservation. */
    CHECK_RET_ERR("commit past the reservation end -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(r + 0xF000, 0x2000, MEM_COMMIT, PAGE_READWRITE), NULL, ERROR_INVALID_PARAMETER);
    CHECK_QUERY("failed commit left the last page reserved", r + 0xF000, r + 0xF000, r, 0x1000, MEM_RESERVE,
                PAGE_NOACCESS, MEM_PRIVATE);
    char *t = VirtualAlloc(NULL, 0x3000, MEM_RESERVE, PAGE_NOACCESS);
    CHECK_NE_U("3-page reservation", t, NULL);
    if (t != NULL) {
        CHECK_RET_ERR("commit a tail page -> ERROR_INVALID_PARAMETER",
                      VirtualAlloc(t + 0x3000, 0x1000, MEM_COMMIT, PAGE_READWRITE), NULL, ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("commit reaching into the tail -> ERROR_INVALID_PARAMETER",
                      VirtualAlloc(t + 0x2000, 0x2000, MEM_COMMIT, PAGE_READWRITE), NULL, ERROR_INVALID_PARAMETER);
        CHECK_QUERY("failed tail commit left page 2 reserved", t + 0x2000, t + 0x2000, t, 0x1000, MEM_RESERVE,
                    PAGE_NOACCESS, MEM_PRIVATE);
        CHECK_RET_ERR("commit the last reserved byte commits its page",
                      VirtualAlloc(t + 0x2FFF, 1, MEM_COMMIT, PAGE_READWRITE), t + 0x2000, 0);
        CHECK_RET_ERR("commit all 3 reserved pages", VirtualAlloc(t, 0x3000, MEM_COMMIT, PAGE_READWRITE), t, 0);
        VirtualFree(t, 0, MEM_RELEASE);
    }
    /* The reservation's pages are page-rounded (spec.md), not CE 6's raw dwSize. */
    char *raw = VirtualAlloc(NULL, 5000, MEM_RESERVE, PAGE_NOACCESS);
    if (raw != NULL) {
        CHECK_RET_ERR("commit 8192 bytes of a 5000-byte reservation (2 pages) succeeds",
                      VirtualAlloc(raw, 8192, MEM_COMMIT, PAGE_READWRITE), raw, 0);
        CHECK_RET_ERR("commit 8193 bytes of a 5000-byte reservation -> ERROR_INVALID_PARAMETER",
                      VirtualAlloc(raw, 8193, MEM_COMMIT, PAGE_READWRITE), NULL, ERROR_INVALID_PARAMETER);
        VirtualFree(raw, 0, MEM_RELEASE);
    }
    char *f = find_free(0x10000);
    CHECK_RET_ERR("commit in free memory -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(f, 0x1000, MEM_COMMIT, PAGE_READWRITE), NULL, ERROR_INVALID_PARAMETER);
    CHECK_QUERY("free memory stays free after the failed commit", f, f, NULL, Q_ANY, MEM_FREE, PAGE_NOACCESS,
                MEM_PRIVATE);
    char *big = VirtualAlloc(NULL, 0x400000, MEM_RESERVE, PAGE_NOACCESS);
    if (big != NULL) {
        CHECK_RET_ERR("commit 1024 pages at once", VirtualAlloc(big, 0x400000, MEM_COMMIT, PAGE_READWRITE), big, 0);
        CHECK("1024 fresh pages read zero", check_bytes_are(big, 0x400000, 0));
        VirtualFree(big, 0, MEM_RELEASE);
    }
    VirtualFree(r, 0, MEM_RELEASE);
}

/* ---- MEM_AUTO_COMMIT and PAGE_GUARD ---- */

/* Plain loads and stores on purpose: run in a child, a fault is a failed check. */
static void touch_child(void *arg) {
    volatile char *p = arg;
    CHECK("first byte reads zero", p[0] == 0);
    CHECK("last byte of page 2 reads zero", p[0x2FFF] == 0);
    p[0x1000] = 42;
    CHECK("write then read back", p[0x1000] == 42);
}

/* Runs in a child that must die: the alarm turns a hang into SIGALRM (a failed check). */
static void touch_guard_child(void *arg) {
    volatile char *p = arg;
    alarm(10);
    (void)p[0];
}

static void test_auto_commit_guard(void) {
    char *a = CALL(VirtualAlloc(NULL, 0x3000, MEM_RESERVE | MEM_AUTO_COMMIT, PAGE_READWRITE));
    CHECK("MEM_RESERVE|MEM_AUTO_COMMIT accepted, last error 0", a != NULL && GetLastError() == 0);
    char *a2 = CALL(VirtualAlloc(NULL, 0x3000, MEM_AUTO_COMMIT, PAGE_READWRITE));
    CHECK("MEM_AUTO_COMMIT alone (implies reserve) accepted, last error 0", a2 != NULL && GetLastError() == 0);
    if (a != NULL) {
        CHECK_EQ_U("MEM_AUTO_COMMIT result is 64 KB aligned", U64(a) & 0xFFFF, 0);
        /* Fault-driven pages (spec4.md): untouched auto-commit pages are MEM_RESERVE; the first touch
         * commits each one (test_autocommit*.c has the details). */
        CHECK_QUERY("MEM_AUTO_COMMIT pages are MEM_RESERVE until touched", a, a, a, 0x3000, MEM_RESERVE,
                    PAGE_NOACCESS, MEM_PRIVATE);
        check_child("MEM_AUTO_COMMIT pages read zero and are writable", touch_child, a);
        VirtualFree(a, 0, MEM_RELEASE);
    }
    if (a2 != NULL) {
        CHECK_QUERY("MEM_AUTO_COMMIT alone: pages are MEM_RESERVE until touched", a2, a2, a2, 0x3000, MEM_RESERVE,
                    PAGE_NOACCESS, MEM_PRIVATE);
        VirtualFree(a2, 0, MEM_RELEASE);
    }

    static const DWORD auto_prots[] = {PAGE_NOACCESS, PAGE_READONLY, PAGE_EXECUTE_READ};
    for (size_t i = 0; i < sizeof auto_prots / sizeof auto_prots[0]; i++) {
        char nm[160];
        char *ap = CALL(VirtualAlloc(NULL, 0x2000, MEM_RESERVE | MEM_AUTO_COMMIT, auto_prots[i]));
        snprintf(nm, sizeof nm, "MEM_AUTO_COMMIT with protection 0x%x accepted", (unsigned)auto_prots[i]);
        CHECK(nm, ap != NULL && GetLastError() == 0);
        if (ap == NULL) continue;
        snprintf(nm, sizeof nm, "MEM_AUTO_COMMIT (protection 0x%x) pages are MEM_RESERVE until touched",
                 (unsigned)auto_prots[i]);
        CHECK_QUERY(nm, ap, ap, ap, 0x2000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
        VirtualFree(ap, 0, MEM_RELEASE);
    }

    char *g = CALL(VirtualAlloc(NULL, 0x3000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD));
    CHECK("PAGE_READWRITE|PAGE_GUARD accepted, last error 0", g != NULL && GetLastError() == 0);
    if (g != NULL) {
        CHECK_QUERY("guard pages report PAGE_READWRITE|PAGE_GUARD", g, g, g, 0x3000, MEM_COMMIT,
                    PAGE_READWRITE | PAGE_GUARD, MEM_PRIVATE);
        /* Fault-driven pages (spec4.md): with no exception handler registered, the first touch of a
         * guard page is an unhandled exception that ends the process by SIGSEGV (test_guard.c has the
         * handler, the message and the one-shot rule). */
        check_expect_signal("PAGE_GUARD page, no exception handler: the first touch kills by SIGSEGV",
                            touch_guard_child, g, SIGSEGV);
        CHECK_QUERY("the child's touch left the parent's guard pages alone", g, g, g, 0x3000, MEM_COMMIT,
                    PAGE_READWRITE | PAGE_GUARD, MEM_PRIVATE);
        VirtualFree(g, 0, MEM_RELEASE);
    }
    char *n = CALL(VirtualAlloc(NULL, 0x3000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE | PAGE_NOCACHE));
    CHECK("PAGE_READWRITE|PAGE_NOCACHE accepted", n != NULL && GetLastError() == 0);
    if (n != NULL) {
        check_child("PAGE_NOCACHE pages behave as plain PAGE_READWRITE", touch_child, n);
        VirtualFree(n, 0, MEM_RELEASE);
    }
}

static void test_many_below_4g(void) {
    enum { N = 64 };
    char *ps[N];
    int ok = 1, distinct = 1;
    for (int i = 0; i < N; i++) {
        DWORD sz = (DWORD)(1 + (i * 7919u) % 0x30000u);
        ps[i] = VirtualAlloc(NULL, sz, (i & 1) ? MEM_RESERVE : (MEM_RESERVE | MEM_COMMIT), PAGE_READWRITE);
        if (ps[i] == NULL || !in_window(0, ps[i], sz) || U64(ps[i]) + sz > 0x100000000ull ||
            (U64(ps[i]) & 0xFFFF) != 0)
            ok = 0;
        for (int j = 0; j < i; j++)
            if (ps[j] == ps[i]) distinct = 0;
    }
    CHECK("64 mixed allocations all inside window 0, 64 KB aligned, below 4 GB", ok);
    CHECK("64 mixed allocations are all distinct", distinct);
    int rel = 0;
    for (int i = 0; i < N; i++) rel += ps[i] != NULL && VirtualFree(ps[i], 0, MEM_RELEASE) == TRUE;
    CHECK_EQ_U("64 mixed allocations released", rel, N);
}

/* Concurrent VirtualAlloc/VirtualFree from several threads: every allocation is distinct and
 * private to its thread. */
enum { NTHREADS = 4, ROUNDS = 300 };
static void *alloc_thread(void *arg) {
    uintptr_t id = (uintptr_t)arg, bad = 0;
    for (int i = 0; i < ROUNDS; i++) {
        DWORD sz = (DWORD)(0x1000 * (1 + (i + id) % 5));
        char *p = VirtualAlloc(NULL, sz, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        if (p == NULL || !check_bytes_are(p, sz, 0) || !fill(p, (unsigned char)id, sz)) {
            bad++;
            continue;
        }
        sched_yield();
        if (!check_bytes_are(p, sz, (unsigned char)id)) bad++;
        if (VirtualFree(p, 0, MEM_RELEASE) != TRUE) bad++;
    }
    return (void *)bad;
}

static void test_threads(void) {
    pthread_t t[NTHREADS];
    for (uintptr_t i = 0; i < NTHREADS; i++) pthread_create(&t[i], NULL, alloc_thread, (void *)(i + 1));
    uintptr_t bad = 0;
    for (int i = 0; i < NTHREADS; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        bad += (uintptr_t)r;
    }
    CHECK_EQ_U("4 threads x 300 alloc/fill/verify/free: no overlap, no failure", bad, 0);
}

int main(void) {
    test_window();
    if (W == NULL || WS == 0) {
        CHECK("window 0 is usable; cannot continue", 0);
        return check_summary();
    }
    test_basic();
    test_sizes();
    test_alloc_types();
    test_protections();
    test_address_reservations();
    check_child("VirtualAlloc/VirtualFree at the top of the address space do not crash", top_of_address_space_child,
                NULL);
    test_commit_rules();
    test_auto_commit_guard();
    test_many_below_4g();
    test_threads();
    test_exhaustion();
    return check_summary();
}
