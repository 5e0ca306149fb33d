/* autocommit_body.h - the MEM_AUTO_COMMIT checks shared by test_autocommit.c (AC_STRICT 0, run with
 * COREDLL_AUTOCOMMIT removed: lazy) and test_autocommit_strict.c (AC_STRICT 1, run with
 * COREDLL_AUTOCOMMIT=strict). Source: spec4.md "Configuration" and "The library's own accesses to
 * caller memory", CONTRACT.md "MEM_AUTO_COMMIT", PAGE-MANAGER.md §6.5-6.6.
 *
 * Auto-commit pages are touched with plain loads and stores (that is the feature under test); every
 * scenario runs in a fork()ed child (check_child), so a library bug that kills the process is one
 * failed check and the other scenarios still run. check_bytes_are/safe_read go through the kernel
 * (process_vm_readv), which commits nothing in strict mode and so is used only on pages that must
 * already be committed. */
#ifndef AC_STRICT
#error "define AC_STRICT before including autocommit_body.h"
#endif

#include "fault_util.h"

#define UNTOUCHED_PERMS (AC_STRICT ? "---p" : "rw-p")
#define SELF GetCurrentProcess()

static unsigned char rd(const void *p) { return *(const volatile unsigned char *)p; }
static void wr(void *p, unsigned char v) { *(volatile unsigned char *)p = v; }
static uint32_t rd32(const void *p) { return *(const volatile uint32_t *)p; }
static void wr32(void *p, uint32_t v) { *(volatile uint32_t *)p = v; }

/* All n bytes at p are zero, read with plain loads (commits the pages it reads). */
static int all_zero_plain(const void *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (rd((const char *)p + i) != 0) return 0;
    return 1;
}

/* Fault targets for check_expect_signal: an alarm turns a hang (a handler that retries forever)
 * into SIGALRM, which fails the check instead of stalling the suite. */
static void do_read(void *p) {
    alarm(10);
    (void)rd(p);
}
static void do_write(void *p) {
    alarm(10);
    wr(p, 1);
}

static char *auto_reserve(DWORD size) {
    char *a = CALL(VirtualAlloc(NULL, size, MEM_RESERVE | MEM_AUTO_COMMIT, PAGE_READWRITE));
    CHECK("setup: MEM_RESERVE|MEM_AUTO_COMMIT reservation, last error 0", a != NULL && GetLastError() == 0);
    return a;
}

/* ---- the SIGSEGV handler is installed only when needed (spec4.md "SIGSEGV handler") ---- */

static void test_handler_installation(void) {
    CHECK("at start (before any coredll call) SIGSEGV is SIG_DFL", segv_is_default());
    char *p = VirtualAlloc(NULL, 0x2000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    CHECK("plain VirtualAlloc reserve+commit does not install a SIGSEGV handler", p != NULL && segv_is_default());
    char *a = auto_reserve(0x2000);
    if (a == NULL) return;
    struct sigaction sa = segv_action();
    (void)sa;
#if AC_STRICT
    CHECK("strict: the first auto-commit reservation installs an SA_SIGINFO SIGSEGV handler",
          (sa.sa_flags & SA_SIGINFO) && sa.sa_sigaction != NULL);
    CHECK_EQ_U("strict: handler flags include SA_SIGINFO|SA_ONSTACK|SA_NODEFER|SA_RESTART",
               (unsigned)sa.sa_flags & SEGV_FLAGS_WANTED, SEGV_FLAGS_WANTED);
#else
    CHECK("lazy: an auto-commit reservation installs no SIGSEGV handler", segv_is_default());
    CHECK_EQ_U("lazy: first touch of an auto-commit page reads zero", rd(a), 0);
    CHECK("lazy: ...and still no SIGSEGV handler after touching it", segv_is_default());
#endif
    CHECK_PERMS("untouched auto-commit page: kernel protection of the mode", a + 0x1000, UNTOUCHED_PERMS);
    /* The mode is read once, at first use: changing the variable now changes nothing. */
    setenv("COREDLL_AUTOCOMMIT", AC_STRICT ? "lazy" : "strict", 1);
    char *b = auto_reserve(0x2000);
    if (b != NULL) CHECK_PERMS("COREDLL_AUTOCOMMIT changed after first use is ignored", b, UNTOUCHED_PERMS);
    if (AC_STRICT)
        setenv("COREDLL_AUTOCOMMIT", "strict", 1);
    else
        unsetenv("COREDLL_AUTOCOMMIT");
    VirtualFree(a, 0, MEM_RELEASE);
    if (b != NULL) VirtualFree(b, 0, MEM_RELEASE);
    if (p != NULL) VirtualFree(p, 0, MEM_RELEASE);
}

/* ---- first touch: read and write, counts and runs ---- */

static void first_touch_child(void *arg) {
    (void)arg;
    char *a = auto_reserve(0x10000);
    if (a == NULL) return;
    CHECK_EQ_U("auto-commit reservation is 64 KB aligned", U64(a) & 0xFFFF, 0);
    CHECK("auto-commit reservation lies inside window 0", in_window(0, a, 0x10000));
    CHECK_QUERY("untouched: the whole reservation is one MEM_RESERVE/PAGE_NOACCESS run", a, a, a, 0x10000,
                MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("untouched: query at an interior address", a + 0x5432, a + 0x5000, a, 0xB000, MEM_RESERVE,
                PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_COMMITTED("untouched: 0 MEM_COMMIT pages", a, 0x10000, 0);
    CHECK_PERMS("untouched page: kernel protection of the mode", a + 0x1000, UNTOUCHED_PERMS);

    /* First read. */
    CHECK_EQ_U("first read of page 1 reads zero", rd(a + 0x1007), 0);
    CHECK_QUERY("after reading page 1: page 0 still MEM_RESERVE, 1-page run", a, a, a, 0x1000, MEM_RESERVE,
                PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("after reading page 1: page 1 MEM_COMMIT PAGE_READWRITE, 1-page run", a + 0x1000, a + 0x1000, a,
                0x1000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    CHECK_QUERY("after reading page 1: pages 2..15 MEM_RESERVE", a + 0x2000, a + 0x2000, a, 0xE000, MEM_RESERVE,
                PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_COMMITTED("one page read: exactly 1 MEM_COMMIT page", a, 0x10000, 1);
    CHECK_PERMS("a page committed by a read is read-write for the kernel", a + 0x1000, "rw-p");
    CHECK("the whole page committed by a read reads zero", all_zero_plain(a + 0x1000, PG));
    CHECK_COMMITTED("reading the rest of page 1 commits nothing more", a, 0x10000, 1);

    /* First write. */
    wr32(a + 0x3010, 0xC0FFEE01u);
    CHECK_EQ_U("first write to page 3 is read back", rd32(a + 0x3010), 0xC0FFEE01u);
    CHECK("rest of page 3 reads zero", all_zero_plain(a + 0x3000, 0x10) && all_zero_plain(a + 0x3014, PG - 0x14));
    CHECK_QUERY("after writing page 3: page 2 MEM_RESERVE, 1-page run", a + 0x2000, a + 0x2000, a, 0x1000,
                MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("after writing page 3: page 3 MEM_COMMIT PAGE_READWRITE, 1-page run", a + 0x3000, a + 0x3000, a,
                0x1000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    CHECK_QUERY("after writing page 3: pages 4..15 MEM_RESERVE", a + 0x4000, a + 0x4000, a, 0xC000, MEM_RESERVE,
                PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_COMMITTED("one page read, one written: exactly 2 MEM_COMMIT pages", a, 0x10000, 2);
    CHECK("the kernel sees the written value (process_vm_readv)", peek_dword(a + 0x3010) == 0xC0FFEE01u);

    /* Filling the gap merges the runs. */
    wr(a + 0x2FFF, 0x5A);
    CHECK_QUERY("pages 1..3 touched: one MEM_COMMIT run of 3 pages", a + 0x1000, a + 0x1000, a, 0x3000, MEM_COMMIT,
                PAGE_READWRITE, MEM_PRIVATE);
    CHECK_QUERY("interior address of the committed run: run from its page", a + 0x2345, a + 0x2000, a, 0x2000,
                MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    CHECK_COMMITTED("3 pages touched: exactly 3 MEM_COMMIT pages", a, 0x10000, 3);

    /* Last byte of the reservation. */
    CHECK_EQ_U("first read of the reservation's last byte reads zero", rd(a + 0xFFFF), 0);
    CHECK_QUERY("last page MEM_COMMIT, 1-page run clamped to the reservation", a + 0xF000, a + 0xF000, a, 0x1000,
                MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    CHECK_QUERY("pages 4..14 MEM_RESERVE", a + 0x4000, a + 0x4000, a, 0xB000, MEM_RESERVE, PAGE_NOACCESS,
                MEM_PRIVATE);
    CHECK_COMMITTED("4 pages touched: exactly 4 MEM_COMMIT pages", a, 0x10000, 4);

    /* A first touch is invisible to errno and to the last error. */
    errno = 4242;
    SetLastError(0x1234);
    (void)rd(a + 0x9000);
    int e = errno;
    DWORD le = GetLastError();
    CHECK_EQ_U("a first touch leaves errno alone", e, 4242);
    CHECK_EQ_U("a first touch leaves the last error alone", le, 0x1234);
    /* One unaligned 8-byte store over two untouched pages commits both. */
    *(volatile uint64_t *)(a + 0xAFFC) = 0x1122334455667788ull;
    CHECK_EQ_U("a store straddling two untouched pages lands whole", *(volatile uint64_t *)(a + 0xAFFC),
               0x1122334455667788ull);
    CHECK_QUERY("...both pages it straddles are MEM_COMMIT", a + 0xA000, a + 0xA000, a, 0x2000, MEM_COMMIT,
                PAGE_READWRITE, MEM_PRIVATE);
    CHECK_COMMITTED("4 + 1 read + 2 straddled = 7 MEM_COMMIT pages", a, 0x10000, 7);
    CHECK_RET_ERR("decommit pages 9..11 again", VirtualFree(a + 0x9000, 0x3000, MEM_DECOMMIT), TRUE, LE_UNTOUCHED);
    CHECK_COMMITTED("back to 4 MEM_COMMIT pages", a, 0x10000, 4);

    /* Touching committed pages again changes nothing. */
    (void)rd(a + 0x1000);
    wr(a + 0x3000, 0);
    (void)rd(a + 0xF000);
    CHECK_COMMITTED("touching the same 4 pages again: still 4", a, 0x10000, 4);
    CHECK_EQ_U("page 3's value survives", rd32(a + 0x3010), 0xC0FFEE01u);
    CHECK_EQ_U("page 2's value survives", rd(a + 0x2FFF), 0x5A);
    CHECK_PERMS("page 0 (untouched) still has the mode's kernel protection", a, UNTOUCHED_PERMS);
    CHECK_RET_ERR("MEM_RELEASE of a partly touched auto-commit reservation", VirtualFree(a, 0, MEM_RELEASE), TRUE,
                  LE_UNTOUCHED);
}

/* MEM_AUTO_COMMIT alone implies a reservation; at a given address; multi-block. */
static void shapes_child(void *arg) {
    (void)arg;
    char *f = find_free(0x30000);
    if (f == NULL) {
        CHECK("setup: a free 192 KB range", 0);
        return;
    }
    CHECK_RET_ERR("MEM_AUTO_COMMIT alone at a free address -> that address, last error 0",
                  VirtualAlloc(f + 0x1234, 0x20000, MEM_AUTO_COMMIT, PAGE_READWRITE), f, 0);
    /* [f+0x1234, f+0x21234) -> pages f..f+0x22000 (34 pages) */
    CHECK_QUERY("untouched multi-block auto-commit reservation: one MEM_RESERVE run", f, f, f, 0x22000, MEM_RESERVE,
                PAGE_NOACCESS, MEM_PRIVATE);
    wr(f + 0x10000, 7); /* first page of the second 64 KB block */
    CHECK_QUERY("write to the second block's first page commits it alone", f + 0x10000, f + 0x10000, f, 0x1000,
                MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    CHECK_QUERY("...the first block stays MEM_RESERVE", f, f, f, 0x10000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_EQ_U("last page of the reservation reads zero", rd(f + 0x21FFF), 0);
    CHECK_COMMITTED("2 pages touched in a 34-page reservation", f, 0x22000, 2);
    CHECK_QUERY("page past the reservation's last page is free (block tail)", f + 0x22000, f + 0x22000, NULL, Q_ANY,
                MEM_FREE, PAGE_NOACCESS, MEM_PRIVATE);
    check_expect_signal("read of the block tail past an auto-commit reservation -> SIGSEGV", do_read, f + 0x22000,
                        SIGSEGV);
    CHECK_RET_ERR("release", VirtualFree(f, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);
}

/* ---- VirtualFree(MEM_DECOMMIT) makes pages auto-commit again ---- */

static void decommit_child(void *arg) {
    (void)arg;
    char *a = auto_reserve(0x10000);
    if (a == NULL) return;
    memset(a, 0xAB, 0x4000); /* plain stores: commits pages 0..3 */
    CHECK_COMMITTED("setup: 4 pages written", a, 0x10000, 4);
    CHECK_RET_ERR("MEM_DECOMMIT of untouched pages 8..9 succeeds", VirtualFree(a + 0x8000, 0x2000, MEM_DECOMMIT),
                  TRUE, LE_UNTOUCHED);
    CHECK_COMMITTED("decommitting untouched pages changes no count", a, 0x10000, 4);
    CHECK_RET_ERR("MEM_DECOMMIT of touched pages 1..2", VirtualFree(a + 0x1000, 0x2000, MEM_DECOMMIT), TRUE,
                  LE_UNTOUCHED);
    CHECK_QUERY("decommitted pages 1..2: MEM_RESERVE run of 2 pages", a + 0x1000, a + 0x1000, a, 0x2000, MEM_RESERVE,
                PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("page 0 still MEM_COMMIT", a, a, a, 0x1000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    CHECK_QUERY("page 3 still MEM_COMMIT", a + 0x3000, a + 0x3000, a, 0x1000, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);
    CHECK_COMMITTED("after decommitting 2 of 4: 2 MEM_COMMIT pages", a, 0x10000, 2);
    CHECK_PERMS("decommitted auto-commit page: kernel protection of the mode", a + 0x1000, UNTOUCHED_PERMS);
    CHECK("pages 0 and 3 keep their contents", check_bytes_are(a, PG, 0xAB) && check_bytes_are(a + 0x3000, PG, 0xAB));

    CHECK_EQ_U("decommitted page 1 reads zero on the next touch", rd(a + 0x1800), 0);
    CHECK("...the whole of page 1 reads zero", all_zero_plain(a + 0x1000, PG));
    CHECK_QUERY("page 1 committed again by the read", a + 0x1000, a + 0x1000, a, 0x1000, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);
    wr(a + 0x2000, 0x11);
    CHECK("decommitted page 2 after a write: the written byte, the rest zero",
          rd(a + 0x2000) == 0x11 && all_zero_plain(a + 0x2001, PG - 1));
    CHECK_COMMITTED("pages 1 and 2 re-touched: 4 MEM_COMMIT pages", a, 0x10000, 4);
    CHECK_QUERY("pages 0..3 one committed run again", a, a, a, 0x4000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);

    CHECK_RET_ERR("MEM_DECOMMIT of the whole reservation", VirtualFree(a, 0x10000, MEM_DECOMMIT), TRUE, LE_UNTOUCHED);
    CHECK_QUERY("whole reservation MEM_RESERVE again", a, a, a, 0x10000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_COMMITTED("whole reservation decommitted: 0 MEM_COMMIT pages", a, 0x10000, 0);
    CHECK_EQ_U("page 0 (was 0xAB) reads zero after the decommit", rd(a + 0x10), 0);
    CHECK_EQ_U("page 3 (was 0xAB) reads zero after the decommit", rd(a + 0x3FFF), 0);
    CHECK_COMMITTED("2 pages touched after the full decommit", a, 0x10000, 2);
    CHECK_RET_ERR("release", VirtualFree(a, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);
}

/* ---- VirtualProtect: untouched pages are not committed ---- */

static void protect_child(void *arg) {
    (void)arg;
    char *a = auto_reserve(0x4000);
    if (a == NULL) return;
    DWORD old = 0;
    CHECK_RET_ERR("VirtualProtect of an untouched auto-commit page -> FALSE, ERROR_INVALID_PARAMETER",
                  VirtualProtect(a, 0x1000, PAGE_READONLY, &old), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_QUERY("the failed VirtualProtect left the page untouched", a, a, a, 0x4000, MEM_RESERVE, PAGE_NOACCESS,
                MEM_PRIVATE);
    CHECK_PERMS("the failed VirtualProtect left the kernel protection alone", a, UNTOUCHED_PERMS);

    wr(a, 0x5A);
    old = 0;
    CHECK_RET_ERR("VirtualProtect of the touched page to PAGE_READONLY", VirtualProtect(a, 0x1000, PAGE_READONLY, &old),
                  TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("*old of a touched auto-commit page = PAGE_READWRITE", old, PAGE_READWRITE);
    CHECK_QUERY("touched page now MEM_COMMIT PAGE_READONLY", a, a, a, 0x1000, MEM_COMMIT, PAGE_READONLY, MEM_PRIVATE);
    CHECK_PERMS("PAGE_READONLY page is r-- for the kernel", a, "r--p");
    CHECK_EQ_U("its contents are still readable", rd(a), 0x5A);
    check_expect_signal("write to the auto-commit page made PAGE_READONLY -> SIGSEGV", do_write, a, SIGSEGV);

    old = 0;
    CHECK_RET_ERR("VirtualProtect over a touched and an untouched page -> FALSE, ERROR_INVALID_PARAMETER",
                  VirtualProtect(a, 0x2000, PAGE_READWRITE, &old), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_QUERY("the failed two-page VirtualProtect changed nothing on page 0", a, a, a, 0x1000, MEM_COMMIT,
                PAGE_READONLY, MEM_PRIVATE);
    CHECK_QUERY("...nor on page 1", a + 0x1000, a + 0x1000, a, 0x3000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);

    wr(a + 0x1000, 1);
    old = 0;
    CHECK_RET_ERR("both pages touched: the two-page VirtualProtect works",
                  VirtualProtect(a, 0x2000, PAGE_NOACCESS, &old), TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("*old = first page's PAGE_READONLY", old, PAGE_READONLY);
    CHECK_QUERY("pages 0..1 MEM_COMMIT PAGE_NOACCESS", a, a, a, 0x2000, MEM_COMMIT, PAGE_NOACCESS, MEM_PRIVATE);
    /* A committed PAGE_NOACCESS page inside an auto-commit region is not auto-commit any more. */
    check_expect_signal("read of a touched auto-commit page made PAGE_NOACCESS -> SIGSEGV (not re-committed)",
                        do_read, a + 0x1000, SIGSEGV);
    CHECK_QUERY("still MEM_COMMIT PAGE_NOACCESS", a + 0x1000, a + 0x1000, a, 0x1000, MEM_COMMIT, PAGE_NOACCESS,
                MEM_PRIVATE);

    CHECK_RET_ERR("decommit the PAGE_NOACCESS pages", VirtualFree(a, 0x2000, MEM_DECOMMIT), TRUE, LE_UNTOUCHED);
    CHECK_QUERY("decommitted: auto-commit again (MEM_RESERVE)", a, a, a, 0x4000, MEM_RESERVE, PAGE_NOACCESS,
                MEM_PRIVATE);
    CHECK_PERMS("decommitted: the mode's kernel protection again", a, UNTOUCHED_PERMS);
    CHECK_EQ_U("decommitted PAGE_NOACCESS page: the next read commits and reads zero", rd(a + 0x1004), 0);
    wr(a + 4, 9);
    CHECK_EQ_U("decommitted PAGE_READONLY page: the next write commits read-write", rd(a + 4), 9);
    CHECK_QUERY("pages 0..1 MEM_COMMIT PAGE_READWRITE again", a, a, a, 0x2000, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);
    CHECK_RET_ERR("release", VirtualFree(a, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);
}

/* ---- explicit MEM_COMMIT inside an auto-commit reservation ---- */

static void explicit_commit_child(void *arg) {
    (void)arg;
    char *a = auto_reserve(0x10000);
    if (a == NULL) return;
    CHECK_RET_ERR("explicit MEM_COMMIT of pages 2..3 PAGE_READWRITE", VirtualAlloc(a + 0x2000, 0x2000, MEM_COMMIT,
                                                                                   PAGE_READWRITE),
                  a + 0x2000, 0);
    CHECK_QUERY("explicitly committed pages 2..3", a + 0x2000, a + 0x2000, a, 0x2000, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);
    CHECK_QUERY("pages 0..1 untouched", a, a, a, 0x2000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("pages 4..15 untouched", a + 0x4000, a + 0x4000, a, 0xC000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_COMMITTED("explicit commit of 2 pages: 2 MEM_COMMIT pages", a, 0x10000, 2);
    CHECK("explicitly committed pages read zero (kernel)", check_bytes_are(a + 0x2000, 0x2000, 0));
    CHECK_PERMS("explicitly committed page is rw for the kernel", a + 0x2000, "rw-p");

    CHECK_RET_ERR("explicit MEM_COMMIT of page 6 PAGE_READONLY", VirtualAlloc(a + 0x6000, 0x1000, MEM_COMMIT,
                                                                              PAGE_READONLY),
                  a + 0x6000, 0);
    CHECK_QUERY("page 6 MEM_COMMIT PAGE_READONLY", a + 0x6000, a + 0x6000, a, 0x1000, MEM_COMMIT, PAGE_READONLY,
                MEM_PRIVATE);
    CHECK_EQ_U("page 6 reads zero", rd(a + 0x6100), 0);
    check_expect_signal("write to the explicitly PAGE_READONLY page -> SIGSEGV", do_write, a + 0x6100, SIGSEGV);
    CHECK_QUERY("page 6 still PAGE_READONLY after the faulting child", a + 0x6000, a + 0x6000, a, 0x1000, MEM_COMMIT,
                PAGE_READONLY, MEM_PRIVATE);

    wr(a + 0x8000, 0x77);
    CHECK_RET_ERR("explicit MEM_COMMIT over a touched page", VirtualAlloc(a + 0x8000, 0x1000, MEM_COMMIT,
                                                                          PAGE_READWRITE),
                  a + 0x8000, 0);
    CHECK_EQ_U("re-commit of a touched auto-commit page keeps its contents", rd(a + 0x8000), 0x77);
    CHECK_COMMITTED("2 + 1 explicit + 1 touched = 4 MEM_COMMIT pages", a, 0x10000, 4);
    CHECK_RET_ERR("decommit the explicitly committed pages 2..3", VirtualFree(a + 0x2000, 0x2000, MEM_DECOMMIT), TRUE,
                  LE_UNTOUCHED);
    /* pages 2..5 untouched now (page 6 is the explicit PAGE_READONLY one) */
    CHECK_QUERY("explicitly committed then decommitted: MEM_RESERVE (run of pages 2..5)", a + 0x2000, a + 0x2000, a,
                0x4000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_EQ_U("...and auto-commit: a write commits it", (wr(a + 0x3000, 3), rd(a + 0x3000)), 3);
    CHECK_QUERY("page 3 committed by the write", a + 0x3000, a + 0x3000, a, 0x1000, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);
    CHECK_RET_ERR("release", VirtualFree(a, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);
}

/* ---- MEM_RELEASE ---- */

static void release_child(void *arg) {
    (void)arg;
    char *a = auto_reserve(0x20000);
    if (a == NULL) return;
    wr(a + 0x1000, 0x42);
    wr(a + 0x11000, 0x43);
    CHECK_RET_ERR("MEM_RELEASE of an auto-commit reservation with touched pages", VirtualFree(a, 0, MEM_RELEASE), TRUE,
                  LE_UNTOUCHED);
    CHECK_QUERY("released: MEM_FREE", a, a, NULL, Q_ANY, MEM_FREE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_PERMS("released touched page: no access for the kernel", a + 0x1000, "---p");
    CHECK_PERMS("released untouched page: no access for the kernel", a + 0x2000, "---p");
    check_expect_signal("read of a released (formerly touched) auto-commit page -> SIGSEGV", do_read, a + 0x1000,
                        SIGSEGV);
    check_expect_signal("read of a released (never touched) auto-commit page -> SIGSEGV", do_read, a + 0x3000,
                        SIGSEGV);
    CHECK_RET_ERR("plain MEM_RESERVE at the released address", VirtualAlloc(a, 0x20000, MEM_RESERVE, PAGE_NOACCESS), a,
                  0);
    check_expect_signal("a plain reservation there is not auto-commit: read -> SIGSEGV", do_read, a + 0x2000, SIGSEGV);
    CHECK_RET_ERR("release the plain reservation", VirtualFree(a, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("auto-commit reservation again at the same address",
                  VirtualAlloc(a, 0x20000, MEM_RESERVE | MEM_AUTO_COMMIT, PAGE_READWRITE), a, 0);
    CHECK_QUERY("re-reserved: untouched", a, a, a, 0x20000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_EQ_U("re-reserved: old data is gone (page 1 reads zero)", rd(a + 0x1000), 0);
    CHECK_EQ_U("re-reserved: old data is gone (page 17 reads zero)", rd(a + 0x11000), 0);
    CHECK_COMMITTED("re-reserved: 2 pages touched", a, 0x20000, 2);
    CHECK_RET_ERR("MEM_RELEASE of an untouched-and-touched region", VirtualFree(a, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);
    char *u = auto_reserve(0x8000);
    if (u != NULL)
        CHECK_RET_ERR("MEM_RELEASE of a never-touched auto-commit reservation", VirtualFree(u, 0, MEM_RELEASE), TRUE,
                      LE_UNTOUCHED);
}

/* ---- a plain reservation next to an auto-commit one is not auto-commit ---- */

static void neighbours_child(void *arg) {
    (void)arg;
    char *r = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    char *a = auto_reserve(0x10000);
    CHECK("setup: a plain reservation", r != NULL);
    if (r == NULL || a == NULL) return;
    CHECK_EQ_U("touching the auto-commit reservation works", (wr(a, 5), rd(a)), 5);
    check_expect_signal("read of a plain reserved page (auto-commit region exists) -> SIGSEGV", do_read, r + 0x1000,
                        SIGSEGV);
    check_expect_signal("write to a plain reserved page (auto-commit region exists) -> SIGSEGV", do_write, r, SIGSEGV);
    char *ro = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READONLY);
    if (ro != NULL)
        check_expect_signal("write to an ordinary PAGE_READONLY page -> SIGSEGV", do_write, ro, SIGSEGV);
    CHECK_QUERY("the plain reservation stayed reserved", r, r, r, 0x10000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
}

/* ---- the library's own accesses: Read/WriteProcessMemory ---- */

static void process_memory_child(void *arg) {
    (void)arg;
    char *a = auto_reserve(0x10000);
    if (a == NULL) return;
    unsigned char pat[0x2000], buf[0x200];
    for (size_t i = 0; i < sizeof pat; i++) pat[i] = (unsigned char)(i * 13 + 5);
    DWORD n;

    n = 0;
    CHECK_RET_ERR("ReadProcessMemory into an untouched auto-commit page (target)",
                  ReadProcessMemory(SELF, pat, a + 0x1000 + 0x10, 0x100, &n), TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("...*lpNumberOfBytesRead", n, 0x100);
    CHECK_QUERY("...the target page is MEM_COMMIT afterwards", a + 0x1000, a + 0x1000, a, 0x1000, MEM_COMMIT,
                PAGE_READWRITE, MEM_PRIVATE);
    CHECK("...the bytes arrived, the rest of the page is zero",
          memcmp(a + 0x1010, pat, 0x100) == 0 && all_zero_plain(a + 0x1000, 0x10) &&
              all_zero_plain(a + 0x1110, PG - 0x110));

    n = 0;
    CHECK_RET_ERR("ReadProcessMemory into 3 untouched auto-commit pages", ReadProcessMemory(SELF, pat, a + 0x2800,
                                                                                            0x2000, &n),
                  TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("...*lpNumberOfBytesRead", n, 0x2000);
    CHECK("...the bytes arrived", memcmp(a + 0x2800, pat, 0x2000) == 0);
    CHECK_QUERY("...pages 1..4 one MEM_COMMIT run", a + 0x1000, a + 0x1000, a, 0x4000, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);
    CHECK_COMMITTED("...exactly 4 MEM_COMMIT pages", a, 0x10000, 4);

    n = 0;
    CHECK_RET_ERR("WriteProcessMemory to an untouched auto-commit page (target)",
                  WriteProcessMemory(SELF, a + 0x6000, pat, 0x100, &n), TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("...*lpNumberOfBytesWritten", n, 0x100);
    CHECK("...the bytes arrived", memcmp(a + 0x6000, pat, 0x100) == 0);
    CHECK_QUERY("...the target page is MEM_COMMIT afterwards", a + 0x6000, a + 0x6000, a, 0x1000, MEM_COMMIT,
                PAGE_READWRITE, MEM_PRIVATE);

    memset(buf, 0xEE, sizeof buf);
    n = 0;
    CHECK_RET_ERR("ReadProcessMemory from an untouched auto-commit page (source)",
                  ReadProcessMemory(SELF, a + 0x8000, buf, sizeof buf, &n), TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("...*lpNumberOfBytesRead", n, sizeof buf);
    int z = 1;
    for (size_t i = 0; i < sizeof buf; i++) z &= buf[i] == 0;
    CHECK("...the source reads zero", z);
#if AC_STRICT
    CHECK_QUERY("strict: ...the source page is MEM_COMMIT afterwards", a + 0x8000, a + 0x8000, a, 0x1000, MEM_COMMIT,
                PAGE_READWRITE, MEM_PRIVATE);
#endif

    memset(buf, 0xEE, sizeof buf);
    n = 0;
    CHECK_RET_ERR("WriteProcessMemory from an untouched auto-commit page (source)",
                  WriteProcessMemory(SELF, buf, a + 0x9000, sizeof buf, &n), TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("...*lpNumberOfBytesWritten", n, sizeof buf);
    z = 1;
    for (size_t i = 0; i < sizeof buf; i++) z &= buf[i] == 0;
    CHECK("...the target got zeros", z);
#if AC_STRICT
    CHECK_QUERY("strict: ...the source page is MEM_COMMIT afterwards", a + 0x9000, a + 0x9000, a, 0x1000, MEM_COMMIT,
                PAGE_READWRITE, MEM_PRIVATE);
#endif

    n = 0;
    CHECK_RET_ERR("ReadProcessMemory from one untouched auto-commit page into another",
                  ReadProcessMemory(SELF, a + 0xA000, a + 0xB000, 0x800, &n), TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("...*lpNumberOfBytesRead", n, 0x800);
    CHECK_QUERY("...the target page is MEM_COMMIT afterwards", a + 0xB000, a + 0xB000, a, 0x1000, MEM_COMMIT,
                PAGE_READWRITE, MEM_PRIVATE);
    CHECK("...the target reads zero", all_zero_plain(a + 0xB000, PG));

    /* read() into a buffer, then ReadProcessMemory into an untouched auto-commit page (the way a
     * program gets file or pipe data into such a page in strict mode without the EFAULT pitfall). */
    int fds[2];
    if (pipe(fds) == 0) {
        unsigned char got[0x300];
        ssize_t w = write(fds[1], pat + 0x100, sizeof got);
        ssize_t r = read(fds[0], got, sizeof got);
        CHECK("setup: pipe write and read", w == (ssize_t)sizeof got && r == (ssize_t)sizeof got);
        n = 0;
        CHECK_RET_ERR("pipe data -> ReadProcessMemory into an untouched auto-commit page",
                      ReadProcessMemory(SELF, got, a + 0xC000 + 0xF00, sizeof got, &n), TRUE, LE_UNTOUCHED);
        CHECK("...the pipe data is in the auto-commit pages", n == sizeof got && memcmp(a + 0xCF00, pat + 0x100,
                                                                                        sizeof got) == 0);
        CHECK_QUERY("...both pages it spans are MEM_COMMIT", a + 0xC000, a + 0xC000, a, 0x2000, MEM_COMMIT,
                    PAGE_READWRITE, MEM_PRIVATE);
        /* Once committed, a page is ordinary read-write memory for the kernel too. */
        w = write(fds[1], pat, 64);
        r = read(fds[0], a + 0xC000, 64);
        CHECK("read() into an auto-commit page that the library committed works",
              w == 64 && r == 64 && memcmp(a + 0xC000, pat, 64) == 0);
        close(fds[0]);
        close(fds[1]);
    }
    CHECK_RET_ERR("release", VirtualFree(a, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);

    char *s = auto_reserve(0x2000); /* pages 2..15 of its block are free */
    if (s == NULL) return;
    n = 0x5555;
    CHECK_RET_ERR("WriteProcessMemory from an auto-commit page on into free memory -> FALSE, ERROR_INVALID_PARAMETER",
                  WriteProcessMemory(SELF, s + 0x1FF8, pat, 16, &n), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_EQ_U("...*lpNumberOfBytesWritten untouched", n, 0x5555);
    CHECK("...no byte written to the auto-commit page", all_zero_plain(s + 0x1FF8, 8));
    CHECK_RET_ERR("ReadProcessMemory into an auto-commit page on into free memory -> FALSE, ERROR_INVALID_PARAMETER",
                  ReadProcessMemory(SELF, pat, s + 0x1000 - 8, 0x1010, NULL), FALSE, ERROR_INVALID_PARAMETER);
    CHECK("...no byte written", all_zero_plain(s + 0xFF8, 0x1008));
    VirtualFree(s, 0, MEM_RELEASE);
}

/* ---- the library's own accesses: output buffers inside untouched auto-commit pages ---- */

static void out_buffers_child(void *arg) {
    (void)arg;
    char *a = auto_reserve(0x10000);
    char *rw = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    CHECK("setup: a committed RW page", rw != NULL);
    if (a == NULL || rw == NULL) return;

    MEMORY_BASIC_INFORMATION *m = (MEMORY_BASIC_INFORMATION *)(a + 0x1100);
    CHECK_RET_ERR("VirtualQuery with its output buffer in an untouched auto-commit page",
                  VirtualQuery(a + 0x5000, m, sizeof *m), sizeof(MEMORY_BASIC_INFORMATION), LE_UNTOUCHED);
    CHECK("...the answer is right (page 5: MEM_RESERVE run of pages 5..15)",
          m->BaseAddress == a + 0x5000 && m->AllocationBase == a && m->RegionSize == 0xB000 &&
              m->State == MEM_RESERVE && m->Protect == PAGE_NOACCESS && m->Type == MEM_PRIVATE);
    CHECK_QUERY("...the buffer's page is MEM_COMMIT afterwards", a + 0x1000, a + 0x1000, a, 0x1000, MEM_COMMIT,
                PAGE_READWRITE, MEM_PRIVATE);

    MEMORY_BASIC_INFORMATION *m2 = (MEMORY_BASIC_INFORMATION *)(a + 0x3000 - 16);
    CHECK_RET_ERR("VirtualQuery with its output buffer straddling two untouched pages",
                  VirtualQuery(rw, m2, sizeof *m2), sizeof(MEMORY_BASIC_INFORMATION), LE_UNTOUCHED);
    CHECK("...the answer is right", m2->BaseAddress == rw && m2->State == MEM_COMMIT && m2->RegionSize == 0x1000 &&
                                        m2->Protect == PAGE_READWRITE);
    CHECK_QUERY("...both pages are MEM_COMMIT afterwards", a + 0x2000, a + 0x2000, a, 0x2000, MEM_COMMIT,
                PAGE_READWRITE, MEM_PRIVATE);

    DWORD *old = (DWORD *)(a + 0x7000 + 0x40);
    CHECK_RET_ERR("VirtualProtect with *old in an untouched auto-commit page",
                  VirtualProtect(rw, 0x1000, PAGE_READONLY, old), TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("...*old = PAGE_READWRITE", *old, PAGE_READWRITE);
    CHECK_QUERY("...the protection changed", rw, rw, rw, 0x1000, MEM_COMMIT, PAGE_READONLY, MEM_PRIVATE);
    CHECK_QUERY("...the *old page is MEM_COMMIT afterwards", a + 0x7000, a + 0x7000, a, 0x1000, MEM_COMMIT,
                PAGE_READWRITE, MEM_PRIVATE);

    SYSTEM_INFO *si = (SYSTEM_INFO *)(a + 0x9000);
    GetSystemInfo(si);
    CHECK("GetSystemInfo into an untouched auto-commit page fills it",
          si->dwPageSize == 4096 && si->dwAllocationGranularity == 0x10000);
    CHECK_QUERY("...the page is MEM_COMMIT afterwards", a + 0x9000, a + 0x9000, a, 0x1000, MEM_COMMIT,
                PAGE_READWRITE, MEM_PRIVATE);

    MEMORYSTATUS *ms = (MEMORYSTATUS *)(a + 0xB000);
    GlobalMemoryStatus(ms);
    CHECK_EQ_U("GlobalMemoryStatus into an untouched auto-commit page: dwLength", ms->dwLength, sizeof(MEMORYSTATUS));
    CHECK_QUERY("...the page is MEM_COMMIT afterwards", a + 0xB000, a + 0xB000, a, 0x1000, MEM_COMMIT,
                PAGE_READWRITE, MEM_PRIVATE);
    CHECK_COMMITTED("exactly the 6 pages the library wrote are MEM_COMMIT", a, 0x10000, 6);
    VirtualFree(rw, 0, MEM_RELEASE);
    CHECK_RET_ERR("release", VirtualFree(a, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);
}

/* ---- IsBad*Ptr: only looks ---- */

static void isbad_child(void *arg) {
    (void)arg;
    char *a = auto_reserve(0x10000);
    if (a == NULL) return;
    CHECK_RET_ERR("IsBadReadPtr on an untouched auto-commit page -> FALSE", IsBadReadPtr(a + 0x1000, 1), FALSE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadWritePtr on an untouched auto-commit page -> FALSE", IsBadWritePtr(a + 0x1000, 1), FALSE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadReadPtr over the whole untouched reservation -> FALSE", IsBadReadPtr(a, 0x10000), FALSE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadWritePtr over the whole untouched reservation -> FALSE", IsBadWritePtr(a, 0x10000), FALSE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadCodePtr on an untouched auto-commit page (readable) -> FALSE",
                  IsBadCodePtr((FARPROC)(uintptr_t)(a + 0x2000)), FALSE, LE_UNTOUCHED);
    CHECK_QUERY("IsBad*Ptr committed nothing", a, a, a, 0x10000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_COMMITTED("IsBad*Ptr committed nothing (count)", a, 0x10000, 0);
    CHECK_PERMS("IsBad*Ptr left the kernel protection alone", a + 0x1000, UNTOUCHED_PERMS);
    wr(a + 0x4000, 1);
    CHECK_RET_ERR("IsBadWritePtr over touched and untouched pages -> FALSE", IsBadWritePtr(a, 0x10000), FALSE,
                  LE_UNTOUCHED);
    CHECK_COMMITTED("still exactly the 1 touched page", a, 0x10000, 1);
    CHECK_RET_ERR("release", VirtualFree(a, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);

    char *s = auto_reserve(0x3000); /* pages 3..15 of its block are free */
    if (s == NULL) return;
    CHECK_RET_ERR("IsBadReadPtr running past an auto-commit reservation into free -> TRUE",
                  IsBadReadPtr(s + 0x2000, 0x2000), TRUE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("IsBadWritePtr on the free tail of an auto-commit reservation's block -> TRUE",
                  IsBadWritePtr(s + 0x3000, 1), TRUE, ERROR_INVALID_PARAMETER);
    CHECK_COMMITTED("the failing IsBad*Ptr committed nothing", s, 0x3000, 0);
    VirtualFree(s, 0, MEM_RELEASE);
}

/* ---- other protections: auto-commit pages always commit read-write ---- */

static void protections_child(void *arg) {
    (void)arg;
    static const DWORD prots[] = {PAGE_NOACCESS, PAGE_READONLY, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE};
    for (size_t i = 0; i < sizeof prots / sizeof prots[0]; i++) {
        char nm[160];
        char *a = CALL(VirtualAlloc(NULL, 0x2000, MEM_RESERVE | MEM_AUTO_COMMIT, prots[i]));
        snprintf(nm, sizeof nm, "MEM_AUTO_COMMIT with protection 0x%x accepted, last error 0", (unsigned)prots[i]);
        CHECK(nm, a != NULL && GetLastError() == 0);
        if (a == NULL) continue;
        snprintf(nm, sizeof nm, "protection 0x%x: untouched pages MEM_RESERVE", (unsigned)prots[i]);
        CHECK_QUERY(nm, a, a, a, 0x2000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
        wr(a + 0x1000, 0x3C);
        snprintf(nm, sizeof nm, "protection 0x%x: a first write commits the page, read back", (unsigned)prots[i]);
        CHECK(nm, rd(a + 0x1000) == 0x3C);
        snprintf(nm, sizeof nm, "protection 0x%x: the touched page is MEM_COMMIT PAGE_READWRITE", (unsigned)prots[i]);
        CHECK_QUERY(nm, a + 0x1000, a + 0x1000, a, 0x1000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
        snprintf(nm, sizeof nm, "protection 0x%x: page 0 still MEM_RESERVE", (unsigned)prots[i]);
        CHECK_QUERY(nm, a, a, a, 0x1000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
        VirtualFree(a, 0, MEM_RELEASE);
    }
}

/* ---- many pages, big regions ---- */

static void large_child(void *arg) {
    (void)arg;
    /* 8 MB holds whole 2 MB-aligned ranges: a transparent huge page or any fault-around on the first
     * touch would commit far more than one page. */
    char *a = auto_reserve(0x800000);
    if (a == NULL) return;
    CHECK_EQ_U("8 MB: first read of page 0 reads zero", rd(a), 0);
    wr32(a + 0x300000 + 8, 0xA5A5A5A5u);
    CHECK_EQ_U("8 MB: first read of the last byte reads zero", rd(a + 0x7FFFFF), 0);
    CHECK_COMMITTED("8 MB: 3 pages touched -> exactly 3 MEM_COMMIT pages", a, 0x800000, 3);
    CHECK_QUERY("8 MB: run after page 0", a + 0x1000, a + 0x1000, a, 0x2FF000, MEM_RESERVE, PAGE_NOACCESS,
                MEM_PRIVATE);
    CHECK_QUERY("8 MB: the written page", a + 0x300000, a + 0x300000, a, 0x1000, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);
    CHECK_QUERY("8 MB: run before the last page", a + 0x301000, a + 0x301000, a, 0x4FE000, MEM_RESERVE, PAGE_NOACCESS,
                MEM_PRIVATE);

    /* Touch every other page of the first 1 MB. */
    for (int i = 0; i < 256; i += 2) wr(a + 0x100000 + (size_t)i * PG + 1, (unsigned char)i);
    CHECK_COMMITTED("8 MB: 3 + 128 touched pages", a, 0x800000, 131);
    int ok = 1;
    for (int i = 0; i < 255; i++) { /* page 255's run goes on into the untouched pages after it */
        MEMORY_BASIC_INFORMATION m;
        query(a + 0x100000 + (size_t)i * PG, &m);
        ok &= m.RegionSize == PG && m.State == (DWORD)((i & 1) ? MEM_RESERVE : MEM_COMMIT);
    }
    CHECK("8 MB: alternating touched pages give one-page runs, alternating state", ok);
    CHECK_RET_ERR("release 8 MB", VirtualFree(a, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);
}

/* ---- threads first-touching the same pages ---- */

enum { TH = 4, TH_PAGES = 256 };
struct touch_arg {
    char *a;
    int id;
    int write;
    pthread_barrier_t *bar;
    int bad;
};

static void *toucher(void *p) {
    struct touch_arg *t = p;
    pthread_barrier_wait(t->bar);
    for (int k = 0; k < TH_PAGES; k++) {
        int i = (t->id & 1) ? TH_PAGES - 1 - k : k; /* two threads go up, two go down */
        char *b = t->a + (size_t)i * PG + (size_t)t->id * 8;
        if (t->write)
            wr32(b, 0x1000u * (unsigned)(t->id + 1) + (unsigned)i);
        else if (rd32(b) != 0)
            t->bad++;
    }
    return NULL;
}

static void threads_child(void *arg) {
    (void)arg;
    for (int write = 0; write <= 1; write++) {
        char *a = auto_reserve(TH_PAGES * PG);
        if (a == NULL) return;
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, TH);
        pthread_t th[TH];
        struct touch_arg ta[TH];
        for (int i = 0; i < TH; i++) {
            ta[i] = (struct touch_arg){a, i, write, &bar, 0};
            pthread_create(&th[i], NULL, toucher, &ta[i]);
        }
        int bad = 0;
        for (int i = 0; i < TH; i++) {
            pthread_join(th[i], NULL);
            bad += ta[i].bad;
        }
        pthread_barrier_destroy(&bar);
        if (write) {
            for (int i = 0; i < TH_PAGES; i++)
                for (int t = 0; t < TH; t++)
                    if (rd32(a + (size_t)i * PG + (size_t)t * 8) != 0x1000u * (unsigned)(t + 1) + (unsigned)i) bad++;
            CHECK_EQ_U("4 threads first-writing the same 256 pages: every write is kept", bad, 0);
        } else {
            CHECK_EQ_U("4 threads first-reading the same 256 pages: all read zero", bad, 0);
        }
        CHECK_COMMITTED(write ? "4 threads writing: exactly 256 MEM_COMMIT pages"
                              : "4 threads reading: exactly 256 MEM_COMMIT pages",
                        a, TH_PAGES * PG, TH_PAGES);
        CHECK_QUERY(write ? "4 threads writing: one committed run" : "4 threads reading: one committed run", a, a, a,
                    TH_PAGES * PG, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
        VirtualFree(a, 0, MEM_RELEASE);
    }
}

/* ---- strict mode is really PROT_NONE for the kernel; lazy mode is really read-write ---- */

static void kernel_view_child(void *arg) {
    (void)arg;
    char *a = auto_reserve(0x4000);
    if (a == NULL) return;
    unsigned char b[16];
    memset(b, 0xEE, sizeof b);
#if AC_STRICT
    /* The EFAULT pitfall (PAGE-MANAGER.md §6.5): the kernel does not fault pages in for us. */
    if (check_vm_available()) /* without process_vm_readv, safe_read is a plain memcpy */
        CHECK("strict: process_vm_readv of an untouched auto-commit page fails (PROT_NONE)",
              !safe_read(b, a + 0x1000, sizeof b));
    CHECK_QUERY("strict: the failed kernel access committed nothing", a, a, a, 0x4000, MEM_RESERVE, PAGE_NOACCESS,
                MEM_PRIVATE);
#else
    CHECK("lazy: process_vm_readv of an untouched auto-commit page works and reads zero",
          safe_read(b, a + 0x1000, sizeof b) && b[0] == 0 && b[15] == 0);
    int fds[2];
    if (pipe(fds) == 0) {
        ssize_t w = write(fds[1], "lazy", 4);
        ssize_t r = read(fds[0], a + 0x2000, 4);
        CHECK("lazy: read() from a pipe into an untouched auto-commit page works",
              w == 4 && r == 4 && memcmp(a + 0x2000, "lazy", 4) == 0);
        CHECK_QUERY("lazy: ...and the page is MEM_COMMIT afterwards", a + 0x2000, a + 0x2000, a, 0x1000, MEM_COMMIT,
                    PAGE_READWRITE, MEM_PRIVATE);
        close(fds[0]);
        close(fds[1]);
    }
#endif
    VirtualFree(a, 0, MEM_RELEASE);
}

/* ---- PAGE_GUARD on auto-commit pages once they are committed ---- */

static atomic_int ac_guard_calls;
static LONG ac_guard_handler(const coredll_exception_info *i) {
    (void)i;
    atomic_fetch_add(&ac_guard_calls, 1);
    return EXCEPTION_CONTINUE_EXECUTION;
}

static void guard_in_auto_child(void *arg) {
    (void)arg;
    coredll_set_exception_handler(ac_guard_handler);
    char *a = auto_reserve(0x4000);
    if (a == NULL) return;
    DWORD old = 0;
    CHECK_RET_ERR("PAGE_GUARD on an untouched auto-commit page -> FALSE, ERROR_INVALID_PARAMETER",
                  VirtualProtect(a, 0x1000, PAGE_READWRITE | PAGE_GUARD, &old), FALSE, ERROR_INVALID_PARAMETER);
    wr(a + 0x10, 0x21);
    CHECK_RET_ERR("PAGE_GUARD on a touched auto-commit page", VirtualProtect(a, 0x1000, PAGE_READWRITE | PAGE_GUARD,
                                                                             &old),
                  TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("...*old = PAGE_READWRITE", old, PAGE_READWRITE);
    CHECK_QUERY("...reported PAGE_READWRITE|PAGE_GUARD", a, a, a, 0x1000, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD,
                MEM_PRIVATE);
    CHECK_EQ_U("...the next read fires the guard once and reads the old value",
               (rd(a + 0x10) == 0x21) + 10 * atomic_load(&ac_guard_calls), 11);
    CHECK_QUERY("...then PAGE_READWRITE", a, a, a, 0x1000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    CHECK("setup: PAGE_GUARD again", VirtualProtect(a, 0x1000, PAGE_READWRITE | PAGE_GUARD, &old) == TRUE);
    CHECK_RET_ERR("decommit the unfired guard page", VirtualFree(a, 0x1000, MEM_DECOMMIT), TRUE, LE_UNTOUCHED);
    CHECK_QUERY("...auto-commit again: MEM_RESERVE", a, a, a, 0x4000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    atomic_store(&ac_guard_calls, 0);
    CHECK_EQ_U("...the next touch commits a zero page and fires no guard",
               rd(a + 0x10) + 10 * atomic_load(&ac_guard_calls), 0);
    CHECK_RET_ERR("explicit MEM_COMMIT PAGE_READWRITE|PAGE_GUARD of an untouched auto-commit page",
                  VirtualAlloc(a + 0x2000, 0x1000, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD), a + 0x2000, 0);
    CHECK_QUERY("...reported PAGE_READWRITE|PAGE_GUARD", a + 0x2000, a + 0x2000, a, 0x1000, MEM_COMMIT,
                PAGE_READWRITE | PAGE_GUARD, MEM_PRIVATE);
    wr(a + 0x2008, 0x4B);
    CHECK_EQ_U("...a write fires the guard once and lands", rd(a + 0x2008) + 0x100 * atomic_load(&ac_guard_calls),
               0x14B);
    CHECK_QUERY("...then PAGE_READWRITE", a + 0x2000, a + 0x2000, a, 0x1000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    VirtualFree(a, 0, MEM_RELEASE);
}

static void run_autocommit_suite(void) {
    test_handler_installation();
    check_child("first touch: reads, writes, counts, runs", first_touch_child, NULL);
    check_child("MEM_AUTO_COMMIT alone, at an address, over two blocks", shapes_child, NULL);
    check_child("MEM_DECOMMIT makes pages auto-commit again", decommit_child, NULL);
    check_child("VirtualProtect on untouched and touched pages", protect_child, NULL);
    check_child("explicit MEM_COMMIT inside an auto-commit reservation", explicit_commit_child, NULL);
    check_child("MEM_RELEASE of auto-commit reservations", release_child, NULL);
    check_child("plain reservations next to auto-commit ones still fault", neighbours_child, NULL);
    check_child("Read/WriteProcessMemory with auto-commit pages", process_memory_child, NULL);
    check_child("VirtualQuery/VirtualProtect/GetSystemInfo/GlobalMemoryStatus buffers in auto-commit pages",
                out_buffers_child, NULL);
    check_child("IsBad*Ptr on auto-commit pages", isbad_child, NULL);
    check_child("auto-commit with other protections commits read-write", protections_child, NULL);
    check_child("8 MB auto-commit reservation", large_child, NULL);
    check_child("4 threads first-touching the same pages", threads_child, NULL);
    check_child("the kernel's view of untouched auto-commit pages", kernel_view_child, NULL);
    check_child("PAGE_GUARD on committed auto-commit pages", guard_in_auto_child, NULL);
}
