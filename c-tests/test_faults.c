/* Access faults (ce6 profile): memory that is not accessible per the tables really faults, in a
 * fork()ed child that must die of SIGSEGV; accessible memory really works (control cases, so that
 * the harness itself is known to tell the two apart). */
#include "check.h"

static void do_read(void *p) {
    volatile char *c = p;
    char v = *c;
    (void)v;
}

static void do_write(void *p) {
    volatile char *c = p;
    *c = 1;
}

static void do_read_write(void *p) {
    volatile char *c = p;
    char v = *c;
    *c = (char)(v + 1);
}

int main(void) {
    /* Accessible memory: the child runs to completion. */
    char *rw = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    char *ro = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READONLY);
    char *xrw = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_EXECUTE_READWRITE);
    char *xr = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_EXECUTE_READ);
    CHECK("control allocations", rw && ro && xrw && xr);
    if (!(rw && ro && xrw && xr)) return check_summary();
    check_child("control: read+write a committed PAGE_READWRITE page", do_read_write, rw);
    check_child("control: read a committed PAGE_READONLY page", do_read, ro);
    check_child("control: read+write a PAGE_EXECUTE_READWRITE page", do_read_write, xrw);
    check_child("control: read a PAGE_EXECUTE_READ page", do_read, xr);

    /* Reserved page. */
    char *rs = VirtualAlloc(NULL, 0x2000, MEM_RESERVE, PAGE_READWRITE);
    CHECK_NE_U("reservation", rs, NULL);
    if (rs != NULL) {
        check_expect_signal("read of a reserved page -> SIGSEGV", do_read, rs, SIGSEGV);
        check_expect_signal("write to a reserved page -> SIGSEGV", do_write, rs + 0x1000, SIGSEGV);
        check_expect_signal("read of a tail page of the reservation's block -> SIGSEGV", do_read, rs + 0x2000, SIGSEGV);
    }

    /* Committed PAGE_NOACCESS page. */
    char *na = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_NOACCESS);
    CHECK_NE_U("committed PAGE_NOACCESS page", na, NULL);
    if (na != NULL) {
        check_expect_signal("read of a committed PAGE_NOACCESS page -> SIGSEGV", do_read, na, SIGSEGV);
        check_expect_signal("write to a committed PAGE_NOACCESS page -> SIGSEGV", do_write, na, SIGSEGV);
    }

    /* Read-only pages, by VirtualAlloc and by VirtualProtect. */
    check_expect_signal("write to a PAGE_READONLY page -> SIGSEGV", do_write, ro, SIGSEGV);
    check_expect_signal("write to a PAGE_EXECUTE_READ page -> SIGSEGV", do_write, xr, SIGSEGV);
    DWORD old;
    char *pr = VirtualAlloc(NULL, 0x2000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (pr != NULL && VirtualProtect(pr, 0x1000, PAGE_READONLY, &old) &&
        VirtualProtect(pr + 0x1000, 0x1000, PAGE_NOACCESS, &old)) {
        check_child("control: read of a page made PAGE_READONLY by VirtualProtect", do_read, pr);
        check_expect_signal("write to a page made PAGE_READONLY by VirtualProtect -> SIGSEGV", do_write, pr, SIGSEGV);
        check_expect_signal("read of a page made PAGE_NOACCESS by VirtualProtect -> SIGSEGV", do_read, pr + 0x1000,
                            SIGSEGV);
        if (VirtualProtect(pr, 0x2000, PAGE_READWRITE, &old))
            check_child("control: both pages back to PAGE_READWRITE", do_read_write, pr + 0x1000);
    } else {
        CHECK("VirtualProtect setup", 0);
    }

    /* Decommitted page. */
    char *dc = VirtualAlloc(NULL, 0x2000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (dc != NULL) {
        CHECK("setup: fill 2 committed pages", fill(dc, 0x66, 0x2000));
        CHECK("decommit page 1", VirtualFree(dc + 0x1000, 0x1000, MEM_DECOMMIT) == TRUE);
        check_child("control: page 0 still accessible after decommitting page 1", do_read_write, dc);
        check_expect_signal("read of a decommitted page -> SIGSEGV", do_read, dc + 0x1000, SIGSEGV);
        check_expect_signal("write to a decommitted page -> SIGSEGV", do_write, dc + 0x1000, SIGSEGV);
    }

    /* Released region. */
    char *rl = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (rl != NULL) {
        CHECK("setup: write the page before releasing it", fill(rl, 1, 1));
        CHECK("release", VirtualFree(rl, 0, MEM_RELEASE) == TRUE);
        check_expect_signal("read of a released page -> SIGSEGV", do_read, rl, SIGSEGV);
        check_expect_signal("write to a released page -> SIGSEGV", do_write, rl, SIGSEGV);
    }

    /* A free block of the window that was never used. */
    char *never = find_free(0x10000);
    if (never != NULL) check_expect_signal("read of a never-reserved window block -> SIGSEGV", do_read, never, SIGSEGV);

    return check_summary();
}
