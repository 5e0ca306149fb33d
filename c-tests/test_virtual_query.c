/* VirtualQuery conformance (ce6 profile): CONTRACT.md "VirtualQuery", spec.md "VirtualQuery",
 * CE-SEMANTICS.md §7.2-7.3. */
#include "check.h"

#include <sys/mman.h>
#include <ucontext.h>

static char *W;
static DWORD WS;

static void test_struct(void) {
    CHECK_EQ_U("sizeof(MEMORY_BASIC_INFORMATION) is 40 on LP64", sizeof(MEMORY_BASIC_INFORMATION), 40);
    MEMORY_BASIC_INFORMATION m;
    char *p = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    CHECK_RET_ERR("VirtualQuery returns sizeof(MEMORY_BASIC_INFORMATION), last error untouched",
                  VirtualQuery(p, &m, sizeof m), sizeof(MEMORY_BASIC_INFORMATION), LE_UNTOUCHED);
    if (p != NULL) VirtualFree(p, 0, MEM_RELEASE);
}

/* Douglas Boling's example (Programming Windows CE): reserve 16 pages PAGE_NOACCESS, commit 9
 * pages from page 2 (PAGE_READWRITE) and query page 3. */
static void test_boling(void) {
    char *r = VirtualAlloc(NULL, 16 * PG, MEM_RESERVE, PAGE_NOACCESS);
    CHECK_NE_U("Boling: reserve 16 pages PAGE_NOACCESS", r, NULL);
    if (r == NULL) return;
    CHECK_RET_ERR("Boling: commit 9 pages from page 2", VirtualAlloc(r + 2 * PG, 9 * PG, MEM_COMMIT, PAGE_READWRITE),
                  r + 2 * PG, 0);
    /* Pages 2..10 are committed, so the run from page 3 is pages 3..10 = 8 pages (CONTRACT.md:
     * RegionSize = run of pages with the same state and protection). */
    CHECK_QUERY("Boling: page 3 -> BaseAddress page 3, run to page 10 (8 pages), MEM_COMMIT, AllocationBase = base, "
                "AllocationProtect PAGE_NOACCESS",
                r + 3 * PG, r + 3 * PG, r, 8 * PG, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    CHECK_QUERY("Boling: page 4 -> 7 pages", r + 4 * PG, r + 4 * PG, r, 7 * PG, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);
    CHECK_QUERY("Boling: interior address of page 3 rounds down to page 3", r + 3 * PG + 0x123, r + 3 * PG, r, 8 * PG,
                MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    CHECK_QUERY("Boling: page 0 -> 2 reserved pages", r, r, r, 2 * PG, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("Boling: page 11 -> 5 reserved pages to the reservation end", r + 11 * PG, r + 11 * PG, r, 5 * PG,
                MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("Boling: last byte of page 15", r + 16 * PG - 1, r + 15 * PG, r, PG, MEM_RESERVE, PAGE_NOACCESS,
                MEM_PRIVATE);
    VirtualFree(r, 0, MEM_RELEASE);
}

static void test_runs(void) {
    /* f: three free blocks bounded by a fence at f+0x30000. */
    char *f = find_free(0x40000);
    CHECK_NE_U("found 4 free blocks", f, NULL);
    if (f == NULL) return;
    char *fence = VirtualAlloc(f + 0x30000, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    CHECK_EQ_P("fence at f+0x30000", fence, f + 0x30000);

    CHECK_QUERY("free run from a block start stops at the next used block", f, f, NULL, 0x30000, MEM_FREE,
                PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("free run from inside a free block", f + 0x1000, f + 0x1000, NULL, 0x2F000, MEM_FREE, PAGE_NOACCESS,
                MEM_PRIVATE);
    CHECK_QUERY("free run from the last page before the fence", f + 0x2F000, f + 0x2F000, NULL, 0x1000, MEM_FREE,
                PAGE_NOACCESS, MEM_PRIVATE);

    /* Tails: a 3-page reservation at f; block f+0x10000 stays free, f+0x20000 gets a 1-page one. */
    char *t = VirtualAlloc(f, 0x3000, MEM_RESERVE, PAGE_NOACCESS);
    char *t2 = VirtualAlloc(f + 0x20000, 0x1000, MEM_RESERVE, PAGE_NOACCESS);
    CHECK("two reservations at f and f+0x20000", t == f && t2 == f + 0x20000);
    CHECK_QUERY("tail page: MEM_FREE to the block end + the following free block", f + 0x3000, f + 0x3000, NULL,
                0xD000 + 0x10000, MEM_FREE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("unaligned address in the tail", f + 0x5FFF, f + 0x5000, NULL, 0xB000 + 0x10000, MEM_FREE,
                PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("tail of a 1-page reservation before the fence", f + 0x21000, f + 0x21000, NULL, 0xF000, MEM_FREE,
                PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("free block between two reservations", f + 0x10000, f + 0x10000, NULL, 0x10000, MEM_FREE,
                PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("3 reserved pages", f + 0x1000, f + 0x1000, f, 0x2000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    if (t != NULL) VirtualFree(t, 0, MEM_RELEASE);
    if (t2 != NULL) VirtualFree(t2, 0, MEM_RELEASE);

    /* Runs are clamped to the reservation: two adjacent identical reservations. */
    char *a = VirtualAlloc(f, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    char *b = VirtualAlloc(f + 0x10000, 0x20000, MEM_RESERVE, PAGE_NOACCESS);
    CHECK("adjacent reservations at f (1 block) and f+0x10000 (2 blocks)", a == f && b == f + 0x10000);
    if (a != NULL && b != NULL) {
        CHECK_QUERY("reserved run clamped to its reservation", a, a, a, 0x10000, MEM_RESERVE, PAGE_NOACCESS,
                    MEM_PRIVATE);
        CHECK_QUERY("next reservation's run", b + 0x8000, b + 0x8000, b, 0x18000, MEM_RESERVE, PAGE_NOACCESS,
                    MEM_PRIVATE);
        VirtualAlloc(a, 0x10000, MEM_COMMIT, PAGE_READWRITE);
        VirtualAlloc(b, 0x20000, MEM_COMMIT, PAGE_READWRITE);
        CHECK_QUERY("committed run clamped to its reservation", a + 0x4000, a + 0x4000, a, 0xC000, MEM_COMMIT,
                    PAGE_READWRITE, MEM_PRIVATE);
        CHECK_QUERY("multi-block committed run", b, b, b, 0x20000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
        DWORD old;
        VirtualProtect(b + 0x2000, 0x1000, PAGE_READWRITE | PAGE_GUARD, &old);
        VirtualProtect(b + 0x3000, 0x1000, PAGE_READWRITE | PAGE_NOCACHE, &old);
        VirtualProtect(b + 0x5000, 0x2000, PAGE_READONLY, &old);
        VirtualFree(b + 0x7000, 0x1000, MEM_DECOMMIT);
        CHECK_QUERY("run stops at a PAGE_GUARD page", b, b, b, 0x2000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
        CHECK_QUERY("guard page is its own run", b + 0x2000, b + 0x2000, b, 0x1000, MEM_COMMIT,
                    PAGE_READWRITE | PAGE_GUARD, MEM_PRIVATE);
        CHECK_QUERY("nocache page is its own run", b + 0x3000, b + 0x3000, b, 0x1000, MEM_COMMIT,
                    PAGE_READWRITE | PAGE_NOCACHE, MEM_PRIVATE);
        CHECK_QUERY("plain RW page between", b + 0x4000, b + 0x4000, b, 0x1000, MEM_COMMIT, PAGE_READWRITE,
                    MEM_PRIVATE);
        CHECK_QUERY("read-only run", b + 0x5000, b + 0x5000, b, 0x2000, MEM_COMMIT, PAGE_READONLY, MEM_PRIVATE);
        CHECK_QUERY("decommitted page inside a committed run", b + 0x7000, b + 0x7000, b, 0x1000, MEM_RESERVE,
                    PAGE_NOACCESS, MEM_PRIVATE);
        CHECK_QUERY("rest of the committed reservation", b + 0x8000, b + 0x8000, b, 0x18000, MEM_COMMIT,
                    PAGE_READWRITE, MEM_PRIVATE);
    }
    if (a != NULL) VirtualFree(a, 0, MEM_RELEASE);
    if (b != NULL) VirtualFree(b, 0, MEM_RELEASE);

    /* A reservation of 0x11000 bytes: 17 pages over two blocks, the rest of the second block free. */
    char *two = VirtualAlloc(f, 0x11000, MEM_RESERVE, PAGE_NOACCESS);
    CHECK_EQ_P("0x11000-byte reservation at f", two, f);
    if (two != NULL) {
        CHECK_QUERY("0x11000-byte reservation: 17 reserved pages", f, f, f, 0x11000, MEM_RESERVE, PAGE_NOACCESS,
                    MEM_PRIVATE);
        CHECK_QUERY("0x11000-byte reservation: tail of its second block + the free third block", f + 0x11000,
                    f + 0x11000, NULL, 0xF000 + 0x10000, MEM_FREE, PAGE_NOACCESS, MEM_PRIVATE);
        VirtualFree(two, 0, MEM_RELEASE);
    }

    /* AllocationBase of a reservation made at an unaligned address is its 64 KB base. */
    char *u = VirtualAlloc(f + 0x1800, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    CHECK_EQ_P("reserve+commit at f+0x1800 returns f+0x1000", u, f + 0x1000);
    CHECK_QUERY("unaligned reservation: reserved page 0 has AllocationBase = 64 KB base", f, f, f, 0x1000,
                MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("unaligned reservation: committed pages have AllocationBase = 64 KB base", f + 0x1000, f + 0x1000, f,
                0x2000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    VirtualFree(f, 0, MEM_RELEASE);
    if (fence != NULL) VirtualFree(fence, 0, MEM_RELEASE);
}

static void test_window_edges(void) {
    MEMORY_BASIC_INFORMATION m;
    int last_free = query(W + WS - GRAN, &m) == sizeof m && m.State == MEM_FREE;
    CHECK("last block of window 0 is free (setup)", last_free);
    CHECK_QUERY("free run stops at the window end", W + WS - GRAN, W + WS - GRAN, NULL, GRAN, MEM_FREE, PAGE_NOACCESS,
                MEM_PRIVATE);
    CHECK_QUERY("last page of the window", W + WS - 1, W + WS - PG, NULL, PG, MEM_FREE, PAGE_NOACCESS, MEM_PRIVATE);

    /* Walk the whole window: regions are contiguous, maximal and end exactly at the window end. */
    char *p = W;
    int steps = 0, ok = 1, contiguous = 1, maximal = 1, freebase = 1;
    MEMORY_BASIC_INFORMATION prev;
    memset(&prev, 0, sizeof prev);
    while (p < W + WS && steps < 200000) {
        DWORD r = query(p, &m);
        if (r != sizeof m || m.RegionSize == 0 || m.RegionSize % PG != 0) {
            ok = 0;
            printf("       walk: bad answer at %p: ret %u RegionSize 0x%x\n", (void *)p, (unsigned)r,
                   (unsigned)m.RegionSize);
            break;
        }
        if ((char *)m.BaseAddress != p) contiguous = 0;
        if (m.State == MEM_FREE && m.AllocationBase != NULL) freebase = 0;
        if (steps > 0) {
            if (m.State == MEM_FREE && prev.State == MEM_FREE) maximal = 0;
            if (m.State != MEM_FREE && m.State == prev.State && m.Protect == prev.Protect &&
                m.AllocationBase == prev.AllocationBase && m.Type == prev.Type)
                maximal = 0;
        }
        prev = m;
        p += m.RegionSize;
        steps++;
    }
    CHECK("window walk: every query succeeds with a page-multiple RegionSize", ok);
    CHECK("window walk: each BaseAddress is the previous end", contiguous);
    CHECK("window walk: no two consecutive regions could have been one (maximal runs)", maximal);
    CHECK("window walk: free regions have AllocationBase NULL", freebase);
    CHECK_EQ_P("window walk ends exactly at the window end", p, W + WS);

    /* Outside every window (only meaningful at the CE placement). */
    if (W == (char *)(uintptr_t)0x10000 && WS == 0x3FFF0000) {
        CHECK_QUERY("CE layout: 0x40000000 is MEM_FREE up to the 0x80000000 ceiling",
                    (void *)(uintptr_t)0x40000000u, 0x40000000u, NULL, 0x40000000u, MEM_FREE, PAGE_NOACCESS,
                    MEM_PRIVATE);
        CHECK_QUERY("CE layout: 0x7FFFF000 is the last free page", (void *)(uintptr_t)0x7FFFF000u, 0x7FFFF000u, NULL,
                    0x1000, MEM_FREE, PAGE_NOACCESS, MEM_PRIVATE);
        CHECK_QUERY("CE layout: 0x7FFFFFFF rounds down to 0x7FFFF000", (void *)(uintptr_t)0x7FFFFFFFu, 0x7FFFF000u, NULL,
                    0x1000, MEM_FREE, PAGE_NOACCESS, MEM_PRIVATE);
        CHECK_RET_ERR("CE layout: 0x80000000 -> 0, ERROR_INVALID_PARAMETER",
                      VirtualQuery((void *)(uintptr_t)0x80000000u, &m, sizeof m), 0, ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("CE layout: 0xFFFFFFFF -> 0, ERROR_INVALID_PARAMETER",
                      VirtualQuery((void *)(uintptr_t)0xFFFFFFFFu, &m, sizeof m), 0, ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("CE layout: address above 4 GB -> 0, ERROR_INVALID_PARAMETER",
                      VirtualQuery((void *)(uintptr_t)0x100000000ull, &m, sizeof m), 0, ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("CE layout: 0x80000000 with a short length -> address error first",
                      VirtualQuery((void *)(uintptr_t)0x80000000u, &m, 10), 0, ERROR_INVALID_PARAMETER);
    } else {
        CHECK("window 0 at the CE placement (needed for the outside-window checks)", 0);
    }
    int local = 0;
    CHECK_RET_ERR("stack address (above the CE ceiling) -> 0, ERROR_INVALID_PARAMETER",
                  VirtualQuery(&local, &m, sizeof m), 0, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("NULL -> 0, ERROR_INVALID_PARAMETER", VirtualQuery(NULL, &m, sizeof m), 0, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("0xFFFF (below 0x10000) -> 0, ERROR_INVALID_PARAMETER",
                  VirtualQuery((void *)(uintptr_t)0xFFFF, &m, sizeof m), 0, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("0x1000 -> 0, ERROR_INVALID_PARAMETER", VirtualQuery((void *)(uintptr_t)0x1000, &m, sizeof m), 0,
                  ERROR_INVALID_PARAMETER);
}

static void test_lengths(void) {
    char *p = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    CHECK_NE_U("page for length tests", p, NULL);
    if (p == NULL) return;
    unsigned char buf[64];
    static const DWORD shorts[] = {0, 1, 28, 32, 39};
    for (size_t i = 0; i < sizeof shorts / sizeof shorts[0]; i++) {
        char nm[96];
        memset(buf, 0xAA, sizeof buf);
        snprintf(nm, sizeof nm, "dwLength %u -> 0, ERROR_BAD_LENGTH", (unsigned)shorts[i]);
        CHECK_RET_ERR(nm, VirtualQuery(p, (PMEMORY_BASIC_INFORMATION)buf, shorts[i]), 0, ERROR_BAD_LENGTH);
        snprintf(nm, sizeof nm, "dwLength %u: buffer untouched", (unsigned)shorts[i]);
        CHECK(nm, check_bytes_are(buf, sizeof buf, 0xAA));
    }
    memset(buf, 0xAA, sizeof buf);
    CHECK_RET_ERR("dwLength 64 -> returns 40", VirtualQuery(p, (PMEMORY_BASIC_INFORMATION)buf, 64), 40, LE_UNTOUCHED);
    CHECK("dwLength 64: bytes 40..63 untouched", check_bytes_are(buf + 40, 24, 0xAA));
    CHECK_RET_ERR("dwLength 0xFFFFFFFF -> returns 40", VirtualQuery(p, (PMEMORY_BASIC_INFORMATION)buf, 0xFFFFFFFFu), 40,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("NULL address + short length -> ERROR_INVALID_PARAMETER (address checked first)",
                  VirtualQuery(NULL, (PMEMORY_BASIC_INFORMATION)buf, 10), 0, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("NULL buffer + short length -> ERROR_BAD_LENGTH (length before buffer)",
                  VirtualQuery(p, NULL, 10), 0, ERROR_BAD_LENGTH);
    CHECK_RET_ERR("NULL buffer -> 0, ERROR_INVALID_PARAMETER", VirtualQuery(p, NULL, 40), 0, ERROR_INVALID_PARAMETER);
    VirtualFree(p, 0, MEM_RELEASE);
}

struct bufctx {
    char *p, *ro, *rs, *na, *rw;
};

static const MEMORY_BASIC_INFORMATION ro_mbi; /* .rodata (zero) */

static void wild_buffers_child(void *arg) {
    struct bufctx *c = arg;
    CHECK_RET_ERR("buffer (void*)0x10 -> 0, ERROR_INVALID_PARAMETER",
                  VirtualQuery(c->p, (PMEMORY_BASIC_INFORMATION)(uintptr_t)0x10, 40), 0, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("buffer (void*)0xdead0000 -> 0, ERROR_INVALID_PARAMETER",
                  VirtualQuery(c->p, (PMEMORY_BASIC_INFORMATION)(uintptr_t)0xdead0000u, 40), 0,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("buffer in .rodata -> 0, ERROR_INVALID_PARAMETER",
                  VirtualQuery(c->p, (PMEMORY_BASIC_INFORMATION)(uintptr_t)&ro_mbi, 40), 0, ERROR_INVALID_PARAMETER);
    CHECK("rodata buffer untouched", check_bytes_are(&ro_mbi, sizeof ro_mbi, 0));
    if (c->ro != NULL) {
        CHECK_RET_ERR("buffer on a PAGE_READONLY page -> 0, ERROR_INVALID_PARAMETER",
                      VirtualQuery(c->p, (PMEMORY_BASIC_INFORMATION)c->ro, 40), 0, ERROR_INVALID_PARAMETER);
        CHECK("read-only buffer page untouched", check_bytes_are(c->ro, PG, 0));
    }
    if (c->rs != NULL)
        CHECK_RET_ERR("buffer on a reserved page -> 0, ERROR_INVALID_PARAMETER",
                      VirtualQuery(c->p, (PMEMORY_BASIC_INFORMATION)c->rs, 40), 0, ERROR_INVALID_PARAMETER);
    if (c->na != NULL)
        CHECK_RET_ERR("buffer on a committed PAGE_NOACCESS page -> 0, ERROR_INVALID_PARAMETER",
                      VirtualQuery(c->p, (PMEMORY_BASIC_INFORMATION)c->na, 40), 0, ERROR_INVALID_PARAMETER);
    if (c->rw != NULL)
        CHECK_RET_ERR("buffer straddling RW page -> reserved page -> 0, ERROR_INVALID_PARAMETER",
                      VirtualQuery(c->p, (PMEMORY_BASIC_INFORMATION)(c->rw + PG - 20), 40), 0, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("free address with buffer 0x10 -> 0, ERROR_INVALID_PARAMETER",
                  VirtualQuery(c->rs + 0x8000, (PMEMORY_BASIC_INFORMATION)(uintptr_t)0x10, 40), 0,
                  ERROR_INVALID_PARAMETER);
}

/* Addresses at the very top of the host address space (page + 4096 overflows). */
static void top_of_address_space_child(void *arg) {
    (void)arg;
    MEMORY_BASIC_INFORMATION m;
    CHECK_RET_ERR("VirtualQuery((void*)UINTPTR_MAX) -> 0, ERROR_INVALID_PARAMETER",
                  VirtualQuery((void *)UINTPTR_MAX, &m, sizeof m), 0, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualQuery(top page of the address space) -> 0, ERROR_INVALID_PARAMETER",
                  VirtualQuery((void *)(UINTPTR_MAX - 0xFFF), &m, sizeof m), 0, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualQueryEx(0x42, (void*)UINTPTR_MAX) -> 0, ERROR_INVALID_PARAMETER",
                  VirtualQueryEx((HANDLE)(uintptr_t)0x42, (void *)UINTPTR_MAX, &m, sizeof m), 0,
                  ERROR_INVALID_PARAMETER);
}

/* On a coroutine stack (here below the thread's own stack) the library cannot tell which
   addresses above its frame are stack: a wild buffer there must still fail, not crash. */
static ucontext_t main_ctx, coro_ctx;
static void *coro_wild;

static void coroutine(void) {
    MEMORY_BASIC_INFORMATION m;
    CHECK_RET_ERR("coroutine: buffer on the coroutine's own stack works", VirtualQuery(W, &m, sizeof m),
                  sizeof m, LE_UNTOUCHED);
    CHECK_EQ_P("coroutine: the result was written", m.BaseAddress, W);
    CHECK_RET_ERR("coroutine: wild unmapped buffer -> 0, ERROR_INVALID_PARAMETER",
                  VirtualQuery(W, (PMEMORY_BASIC_INFORMATION)coro_wild, sizeof m), 0,
                  ERROR_INVALID_PARAMETER);
    DWORD old;
    CHECK_RET_ERR("coroutine: VirtualProtect with a wild old pointer -> FALSE",
                  VirtualProtect(W, 1, PAGE_READWRITE, (PDWORD)coro_wild), FALSE, ERROR_INVALID_PARAMETER);
    (void)old;
}

static void coroutine_child(void *arg) {
    (void)arg;
    size_t size = 256 * 1024;
    char *stack = malloc(size);
    /* An address that is certainly unmapped and lies between the heap and the thread's stack. */
    void *hole = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK("coroutine setup", stack != NULL && hole != MAP_FAILED && getcontext(&coro_ctx) == 0);
    if (stack == NULL || hole == MAP_FAILED) return;
    munmap(hole, 0x2000);
    coro_wild = (char *)hole + 0x100;
    coro_ctx.uc_stack.ss_sp = stack;
    coro_ctx.uc_stack.ss_size = size;
    coro_ctx.uc_link = &main_ctx;
    makecontext(&coro_ctx, coroutine, 0);
    CHECK("swapcontext into the coroutine", swapcontext(&main_ctx, &coro_ctx) == 0);
    free(stack);
}

static void test_wild_buffers(void) {
    /* W's first page must be committed for the VirtualProtect case to reach the pointer. */
    char *first = VirtualAlloc(W, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    check_child("wild buffers from a coroutine stack do not crash", coroutine_child, NULL);
    if (first != NULL) VirtualFree(first, 0, MEM_RELEASE);
    check_child("VirtualQuery at the top of the address space does not crash", top_of_address_space_child, NULL);
    struct bufctx c;
    c.p = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    c.ro = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READONLY);
    c.rs = VirtualAlloc(NULL, 0x1000, MEM_RESERVE, PAGE_NOACCESS);
    c.na = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_NOACCESS);
    c.rw = VirtualAlloc(NULL, 0x2000, MEM_RESERVE, PAGE_NOACCESS);
    if (c.rw != NULL) VirtualAlloc(c.rw, 0x1000, MEM_COMMIT, PAGE_READWRITE);
    CHECK("setup for wild buffer tests", c.p && c.ro && c.rs && c.na && c.rw);
    check_child("wild VirtualQuery buffers do not crash", wild_buffers_child, &c);
    VirtualFree(c.p, 0, MEM_RELEASE);
    VirtualFree(c.ro, 0, MEM_RELEASE);
    VirtualFree(c.rs, 0, MEM_RELEASE);
    VirtualFree(c.na, 0, MEM_RELEASE);
    VirtualFree(c.rw, 0, MEM_RELEASE);

    /* A buffer in committed window memory works. */
    char *q = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (q != NULL) {
        PMEMORY_BASIC_INFORMATION mb = (PMEMORY_BASIC_INFORMATION)(q + 0x100);
        CHECK_RET_ERR("buffer inside committed window memory works", VirtualQuery(q, mb, 40), 40, LE_UNTOUCHED);
        MEMORY_BASIC_INFORMATION copy;
        CHECK("result written into window memory", safe_read(&copy, mb, sizeof copy) && copy.BaseAddress == q &&
                                                       copy.State == MEM_COMMIT && copy.RegionSize == 0x1000);
        VirtualFree(q, 0, MEM_RELEASE);
    }
}

int main(void) {
    W = window_base(0, &WS);
    CHECK("window 0 exists", W != NULL && WS != 0);
    if (W == NULL) return check_summary();
    test_struct();
    test_boling();
    test_runs();
    test_window_edges();
    test_lengths();
    test_wild_buffers();
    return check_summary();
}
