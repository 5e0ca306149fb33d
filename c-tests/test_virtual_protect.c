/* VirtualProtect conformance (ce6 profile): CONTRACT.md "VirtualProtect", spec.md "VirtualProtect",
 * CE-SEMANTICS.md §7.1. */
#include "check.h"

static const DWORD ro_dword = 5; /* in .rodata: a non-writable old-protect pointer */

static void test_basic(void) {
    char *r = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    CHECK_NE_U("reservation", r, NULL);
    if (r == NULL) return;
    CHECK_RET_ERR("commit pages 0..3 RW", VirtualAlloc(r, 0x4000, MEM_COMMIT, PAGE_READWRITE), r, 0);
    CHECK("setup: fill pages 0..3", fill(r, 0x5C, 0x4000));
    DWORD old = 0x12345678;

    CHECK_RET_ERR("protect page 0 PAGE_READONLY succeeds, last error untouched",
                  VirtualProtect(r, 0x1000, PAGE_READONLY, &old), TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("old protection of page 0 was PAGE_READWRITE", old, PAGE_READWRITE);
    CHECK_QUERY("page 0 now PAGE_READONLY", r, r, r, 0x1000, MEM_COMMIT, PAGE_READONLY, MEM_PRIVATE);
    CHECK_QUERY("pages 1..3 still PAGE_READWRITE", r + 0x1000, r + 0x1000, r, 0x3000, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);
    CHECK("contents survive a protection change", check_bytes_are(r, 0x4000, 0x5C));
    CHECK_EQ_U("IsBadWritePtr sees the new PAGE_READONLY", IsBadWritePtr(r, 1), TRUE);
    CHECK_EQ_U("IsBadReadPtr: PAGE_READONLY page is readable", IsBadReadPtr(r, 1), FALSE);

    old = 0;
    CHECK_RET_ERR("protect pages 0..1 PAGE_EXECUTE_READ", VirtualProtect(r, 0x2000, PAGE_EXECUTE_READ, &old), TRUE,
                  LE_UNTOUCHED);
    CHECK_EQ_U("*old is the FIRST page's protection (PAGE_READONLY)", old, PAGE_READONLY);
    CHECK_QUERY("pages 0..1 now PAGE_EXECUTE_READ", r, r, r, 0x2000, MEM_COMMIT, PAGE_EXECUTE_READ, MEM_PRIVATE);

    old = 0;
    CHECK_RET_ERR("protect 2 bytes straddling pages 0/1", VirtualProtect(r + 0xFFF, 2, PAGE_READWRITE, &old), TRUE,
                  LE_UNTOUCHED);
    CHECK_EQ_U("straddling protect: *old = page 0's PAGE_EXECUTE_READ", old, PAGE_EXECUTE_READ);
    CHECK_QUERY("straddling protect changed both pages", r, r, r, 0x4000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);

    old = 0;
    CHECK_RET_ERR("protect page 3 PAGE_READWRITE|PAGE_GUARD|PAGE_NOCACHE",
                  VirtualProtect(r + 0x3000, 0x1000, PAGE_READWRITE | PAGE_GUARD | PAGE_NOCACHE, &old), TRUE,
                  LE_UNTOUCHED);
    CHECK_QUERY("VirtualQuery reports GUARD|NOCACHE", r + 0x3000, r + 0x3000, r, 0x1000, MEM_COMMIT,
                PAGE_READWRITE | PAGE_GUARD | PAGE_NOCACHE, MEM_PRIVATE);
    old = 0;
    CHECK_RET_ERR("protect page 3 back to PAGE_READWRITE", VirtualProtect(r + 0x3000, 0x1000, PAGE_READWRITE, &old),
                  TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("*old includes the PAGE_GUARD and PAGE_NOCACHE bits", old, PAGE_READWRITE | PAGE_GUARD | PAGE_NOCACHE);

    /* No normalisation: PAGE_EXECUTE comes back as PAGE_EXECUTE. */
    CHECK_RET_ERR("protect page 2 PAGE_EXECUTE", VirtualProtect(r + 0x2000, 0x1000, PAGE_EXECUTE, &old), TRUE,
                  LE_UNTOUCHED);
    CHECK_QUERY("PAGE_EXECUTE reported exactly as set", r + 0x2000, r + 0x2000, r, 0x1000, MEM_COMMIT, PAGE_EXECUTE,
                MEM_PRIVATE);
    old = 0;
    CHECK_RET_ERR("protect page 2 PAGE_NOACCESS", VirtualProtect(r + 0x2000, 0x1000, PAGE_NOACCESS, &old), TRUE,
                  LE_UNTOUCHED);
    CHECK_EQ_U("*old = PAGE_EXECUTE exactly as set", old, PAGE_EXECUTE);
    CHECK_QUERY("committed PAGE_NOACCESS page stays MEM_COMMIT", r + 0x2000, r + 0x2000, r, 0x1000, MEM_COMMIT,
                PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_EQ_U("IsBadReadPtr on the PAGE_NOACCESS page", IsBadReadPtr(r + 0x2000, 1), TRUE);
    old = 0;
    CHECK_RET_ERR("protect all 4 pages PAGE_READWRITE", VirtualProtect(r, 0x4000, PAGE_READWRITE, &old), TRUE,
                  LE_UNTOUCHED);
    CHECK_EQ_U("*old of the 4-page protect = page 0's PAGE_READWRITE", old, PAGE_READWRITE);
    CHECK("data intact after NOACCESS and back", check_bytes_are(r, 0x4000, 0x5C));

    static const DWORD every[] = {PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE, PAGE_EXECUTE, PAGE_EXECUTE_READ,
                                  PAGE_EXECUTE_READWRITE, PAGE_READONLY | PAGE_NOCACHE, PAGE_EXECUTE_READ | PAGE_GUARD};
    DWORD prev = PAGE_READWRITE;
    for (size_t i = 0; i < sizeof every / sizeof every[0]; i++) {
        char nm[128];
        old = 0;
        snprintf(nm, sizeof nm, "protect to 0x%x succeeds and *old = previous 0x%x", (unsigned)every[i],
                 (unsigned)prev);
        SetLastError(CHECK_SENTINEL);
        BOOL ok = VirtualProtect(r, 0x1000, every[i], &old);
        CHECK(nm, ok == TRUE && old == prev && GetLastError() == LE_UNTOUCHED);
        snprintf(nm, sizeof nm, "protection 0x%x reported exactly", (unsigned)every[i]);
        /* pages 1..3 are PAGE_READWRITE: with page 0 RW too the run is 4 pages */
        CHECK_QUERY(nm, r, r, r, every[i] == PAGE_READWRITE ? 0x4000 : 0x1000, MEM_COMMIT, every[i], MEM_PRIVATE);
        prev = every[i];
    }
    VirtualFree(r, 0, MEM_RELEASE);
}

struct bad_old_ctx {
    char *r, *ro, *rs;
};

/* Run in a child: a library that writes through these pointers kills only the child. */
static void bad_old_child(void *arg) {
    struct bad_old_ctx *c = arg;
    char *r = c->r, *ro = c->ro, *rs = c->rs;
    CHECK_RET_ERR("lpflOldProtect in .rodata -> ERROR_INVALID_PARAMETER",
                  VirtualProtect(r, 0x1000, PAGE_READONLY, (PDWORD)(uintptr_t)&ro_dword), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_EQ_U("rodata old-protect target unchanged", ro_dword, 5);
    CHECK_RET_ERR("lpflOldProtect (PDWORD)0x10 -> ERROR_INVALID_PARAMETER",
                  VirtualProtect(r, 0x1000, PAGE_READONLY, (PDWORD)(uintptr_t)0x10), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("lpflOldProtect 0xdead0000 -> ERROR_INVALID_PARAMETER",
                  VirtualProtect(r, 0x1000, PAGE_READONLY, (PDWORD)(uintptr_t)0xdead0000u), FALSE,
                  ERROR_INVALID_PARAMETER);
    if (ro != NULL)
        CHECK_RET_ERR("lpflOldProtect on a PAGE_READONLY page -> ERROR_INVALID_PARAMETER",
                      VirtualProtect(r, 0x1000, PAGE_READONLY, (PDWORD)ro), FALSE, ERROR_INVALID_PARAMETER);
    if (rs != NULL)
        CHECK_RET_ERR("lpflOldProtect on a reserved page -> ERROR_INVALID_PARAMETER",
                      VirtualProtect(r, 0x1000, PAGE_READONLY, (PDWORD)rs), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_QUERY("calls with a bad old pointer changed no protection", r, r, r, 0x4000, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);
}

static void top_of_address_space_child(void *arg) {
    (void)arg;
    DWORD old = 0;
    CHECK_RET_ERR("VirtualProtect((void*)UINTPTR_MAX, 1) -> FALSE, ERROR_INVALID_PARAMETER",
                  VirtualProtect((void *)UINTPTR_MAX, 1, PAGE_READONLY, &old), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualProtect(top page of the address space) -> FALSE, ERROR_INVALID_PARAMETER",
                  VirtualProtect((void *)(UINTPTR_MAX - 0xFFF), 0x1000, PAGE_READONLY, &old), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualProtectEx(0x42, (void*)UINTPTR_MAX) -> FALSE, ERROR_INVALID_PARAMETER",
                  VirtualProtectEx((HANDLE)(uintptr_t)0x42, (void *)UINTPTR_MAX, 1, PAGE_READONLY, &old), FALSE,
                  ERROR_INVALID_PARAMETER);
}

static void test_failures(void) {
    check_child("VirtualProtect at the top of the address space does not crash", top_of_address_space_child, NULL);
    char *r = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    CHECK_NE_U("reservation", r, NULL);
    if (r == NULL) return;
    CHECK_RET_ERR("commit pages 0..3 RW", VirtualAlloc(r, 0x4000, MEM_COMMIT, PAGE_READWRITE), r, 0);
    char *ro = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READONLY);
    char *rs = VirtualAlloc(NULL, 0x1000, MEM_RESERVE, PAGE_NOACCESS);
    DWORD old = 0x12345678;

    CHECK_RET_ERR("lpflOldProtect NULL -> ERROR_INVALID_PARAMETER", VirtualProtect(r, 0x1000, PAGE_READONLY, NULL),
                  FALSE, ERROR_INVALID_PARAMETER);
    CHECK_QUERY("call with a NULL old pointer changed no protection", r, r, r, 0x4000, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);
    struct bad_old_ctx ctx = {r, ro, rs};
    check_child("bad lpflOldProtect pointers do not crash", bad_old_child, &ctx);
    CHECK_RET_ERR("lpflOldProtect in committed window memory works",
                  VirtualProtect(r, 0x1000, PAGE_READONLY, (PDWORD)(r + 0x1000)), TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("*old written into committed window memory", peek_dword(r + 0x1000), PAGE_READWRITE);
    CHECK_RET_ERR("restore page 0 RW", VirtualProtect(r, 0x1000, PAGE_READWRITE, &old), TRUE, LE_UNTOUCHED);

    CHECK_RET_ERR("dwSize 0 -> ERROR_INVALID_PARAMETER", VirtualProtect(r, 0, PAGE_READONLY, &old), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("dwSize 0x80000000 -> ERROR_INVALID_PARAMETER", VirtualProtect(r, 0x80000000u, PAGE_READONLY, &old),
                  FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("dwSize 0xFFFFFFFF -> ERROR_INVALID_PARAMETER", VirtualProtect(r, 0xFFFFFFFFu, PAGE_READONLY, &old),
                  FALSE, ERROR_INVALID_PARAMETER);

    for (size_t i = 0; i < N_BAD_PROTECTIONS; i++) {
        char nm[128];
        snprintf(nm, sizeof nm, "protection %s -> ERROR_INVALID_PARAMETER", BAD_PROTECTIONS[i].name);
        CHECK_RET_ERR(nm, VirtualProtect(r, 0x1000, BAD_PROTECTIONS[i].v, &old), FALSE, ERROR_INVALID_PARAMETER);
    }

    CHECK_RET_ERR("range with a reserved page -> ERROR_INVALID_PARAMETER",
                  VirtualProtect(r + 0x3000, 0x2000, PAGE_READONLY, &old), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("range of reserved pages only -> ERROR_INVALID_PARAMETER",
                  VirtualProtect(r + 0x8000, 0x1000, PAGE_READONLY, &old), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("range past the reservation end -> ERROR_INVALID_PARAMETER",
                  VirtualProtect(r + 0xF000, 0x2000, PAGE_READONLY, &old), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_QUERY("failed calls left pages 0..3 PAGE_READWRITE", r, r, r, 0x4000, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);

    char *raw = VirtualAlloc(NULL, 5000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (raw != NULL) {
        CHECK_RET_ERR("protect 8192 bytes of a 5000-byte reservation (2 pages, page-rounded) succeeds",
                      VirtualProtect(raw, 8192, PAGE_READONLY, &old), TRUE, LE_UNTOUCHED);
        CHECK_QUERY("both pages of the 5000-byte reservation protected", raw, raw, raw, 0x2000, MEM_COMMIT,
                    PAGE_READONLY, MEM_PRIVATE);
        VirtualFree(raw, 0, MEM_RELEASE);
    }
    char *t = VirtualAlloc(NULL, 0x3000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (t != NULL) {
        CHECK_RET_ERR("range reaching a tail page -> ERROR_INVALID_PARAMETER",
                      VirtualProtect(t + 0x2000, 0x2000, PAGE_READONLY, &old), FALSE, ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("range in the tail -> ERROR_INVALID_PARAMETER",
                      VirtualProtect(t + 0x4000, 0x1000, PAGE_READONLY, &old), FALSE, ERROR_INVALID_PARAMETER);
        CHECK_QUERY("failed tail protect left the pages RW", t, t, t, 0x3000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
        VirtualFree(t, 0, MEM_RELEASE);
    }
    char *f = find_free(0x20000);
    char *a = VirtualAlloc(f, 0x10000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    char *b = VirtualAlloc(f + 0x10000, 0x10000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    CHECK("two adjacent committed reservations", a == f && b == f + 0x10000);
    if (a != NULL && b != NULL) {
        CHECK_RET_ERR("range spanning two reservations -> ERROR_INVALID_PARAMETER",
                      VirtualProtect(f + 0xF000, 0x2000, PAGE_READONLY, &old), FALSE, ERROR_INVALID_PARAMETER);
        CHECK_QUERY("failed spanning protect left the first reservation RW", a, a, a, 0x10000, MEM_COMMIT,
                    PAGE_READWRITE, MEM_PRIVATE);
        CHECK_QUERY("failed spanning protect left the second reservation RW", b, b, b, 0x10000, MEM_COMMIT,
                    PAGE_READWRITE, MEM_PRIVATE);
    }
    if (a != NULL) VirtualFree(a, 0, MEM_RELEASE);
    if (b != NULL) VirtualFree(b, 0, MEM_RELEASE);
    char *fr = find_free(0x10000);
    CHECK_RET_ERR("range in free memory -> ERROR_INVALID_PARAMETER", VirtualProtect(fr, 0x1000, PAGE_READONLY, &old),
                  FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("NULL address -> ERROR_INVALID_PARAMETER", VirtualProtect(NULL, 0x1000, PAGE_READONLY, &old), FALSE,
                  ERROR_INVALID_PARAMETER);

    /* Host memory outside the window must never be mprotect()ed. */
    static char global_buf[8192];
    char stack_buf[64];
    memset(stack_buf, 3, sizeof stack_buf);
    CHECK_RET_ERR("stack address -> ERROR_INVALID_PARAMETER",
                  VirtualProtect(stack_buf, sizeof stack_buf, PAGE_READONLY, &old), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("global address -> ERROR_INVALID_PARAMETER",
                  VirtualProtect(global_buf, sizeof global_buf, PAGE_NOACCESS, &old), FALSE, ERROR_INVALID_PARAMETER);
    stack_buf[0] = 4;
    global_buf[0] = 4;
    global_buf[4096] = 4;
    CHECK("stack and globals still writable", stack_buf[0] == 4 && global_buf[0] == 4 && global_buf[4096] == 4);

    if (ro != NULL) VirtualFree(ro, 0, MEM_RELEASE);
    if (rs != NULL) VirtualFree(rs, 0, MEM_RELEASE);
    VirtualFree(r, 0, MEM_RELEASE);
}

int main(void) {
    test_basic();
    test_failures();
    return check_summary();
}
