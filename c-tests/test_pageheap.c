/* COREDLL_PAGEHEAP=1: every heap block ends on the page before an inaccessible one, so an
 * overrun by one byte faults at the write; freed blocks stay inaccessible, so a use after free
 * faults; damage to the few bytes between a block's end and the guard page stops the process
 * when the block is freed; the heap's rules stay the same. The program re-executes itself with
 * --run MODE under COREDLL_PAGEHEAP=1. */
#include "check.h"

static volatile char sink;

static int run(const char *mode) {
    HANDLE h = HeapCreate(0, 0, 0);
    if (strcmp(mode, "overrun") == 0) {
        char *p = HeapAlloc(h, 0, 32);
        p[31] = 1;  /* the last byte is fine */
        p[32] = 1;  /* one past the end: the guard page */
        return 0;
    }
    if (strcmp(mode, "overrun-local") == 0) {
        char *p = LocalAlloc(LMEM_FIXED, 4096);
        p[4096] = 1;
        return 0;
    }
    if (strcmp(mode, "uaf") == 0) {
        char *p = HeapAlloc(h, 0, 100);
        p[0] = 1;
        HeapFree(h, 0, p);
        sink = p[0]; /* freed: inaccessible */
        return 0;
    }
    if (strcmp(mode, "stale-after-realloc") == 0) {
        char *p = HeapAlloc(h, 0, 64);
        char *q = HeapReAlloc(h, 0, p, 128);
        if (q == p) return 3;
        sink = p[0]; /* the old place of a moved block */
        return 0;
    }
    if (strcmp(mode, "slack") == 0) {
        char *p = HeapAlloc(h, 0, 13); /* 13 bytes, 3 more to the 16-byte boundary and the guard */
        p[13] = 1;                     /* no fault: HeapValidate sees it, HeapFree stops */
        if (HeapValidate(h, 0, NULL)) return 4;
        HeapFree(h, 0, p);
        return 0;
    }
    if (strcmp(mode, "cycles") == 0) {
        /* Freed blocks wait in quarantine, but never so many that the address space runs out. */
        for (int i = 0; i < 3000; i++) {
            void *p = HeapAlloc(h, 0, 100);
            if (p == NULL) return 5;
            HeapFree(h, 0, p);
        }
        HANDLE f = HeapCreate(0, 0x10000, 0x10000); /* a fixed heap holds no more than its size */
        int n = 0;
        while (n < 100 && HeapAlloc(f, 0, 4000) != NULL) n++;
        printf("fixed heap blocks %d\n", n);
        return n >= 1 && n <= 16 ? 0 : 6;
    }
    /* "rules": the heap API behaves as without the page heap. */
    int ok = 1;
    char *p = HeapAlloc(h, HEAP_ZERO_MEMORY, 32); /* HeapSize is exact: CE's sentinel heap */
    ok &= p != NULL && ((uintptr_t)p & 15) == 0 && (((uintptr_t)p + 32) & 0xFFF) == 0;
    ok &= HeapSize(h, 0, p) == 32 && HeapValidate(h, 0, p) && p[0] == 0 && p[31] == 0;
    memset(p, 7, 32);
    char *q = HeapReAlloc(h, 0, p, 5000);
    ok &= q != NULL && q != p && q[31] == 7 && HeapSize(h, 0, q) == 5000;
    ok &= HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY, q, 6000) == NULL && GetLastError() == ERROR_NOT_ENOUGH_MEMORY;
    ok &= HeapReAlloc(h, 0, q, 100) == q && HeapSize(h, 0, q) == 100;
    ok &= HeapReAlloc(h, HEAP_REALLOC_IN_PLACE_ONLY, q, 110) == q && HeapSize(h, 0, q) == 110;
    ok &= HeapFree(h, 0, q) && !HeapFree(h, 0, q) && GetLastError() == ERROR_INVALID_PARAMETER;
    ok &= HeapSize(h, 0, (char *)p + 16) == (DWORD)-1;
    void *l = LocalAlloc(LPTR, 10);
    ok &= l != NULL && LocalSize(l) == 10 && LocalFree(l) == NULL;
    ok &= HeapValidate(h, 0, NULL) && HeapDestroy(h);
    printf("rules %s\n", ok ? "ok" : "BROKEN");
    return ok ? 0 : 1;
}

/* Runs --run mode under COREDLL_PAGEHEAP=1 (and COREDLL_PROFILE=profile unless NULL); the wait
 * status, stderr in err. */
static const char *profile;
static int spawn(const char *mode, char *err, size_t en) {
    char prof[64];
    snprintf(prof, sizeof prof, "COREDLL_PROFILE=%s", profile != NULL ? profile : "");
    const char *env[] = {"COREDLL_PAGEHEAP=1", profile != NULL ? prof : "COREDLL_PROFILE", NULL};
    char *argv[] = {"test_pageheap", "--run", (char *)mode, NULL};
    return check_run_self(argv, env, NULL, 0, err, en);
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "--run") == 0) return run(argv[2]);
    char err[2048];
    int st = spawn("overrun", err, sizeof err);
    CHECK("an overrun by one byte faults at the write (SIGSEGV)", WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    st = spawn("overrun-local", err, sizeof err);
    CHECK("LocalAlloc blocks have the guard page too", WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    st = spawn("uaf", err, sizeof err);
    CHECK("a use after free faults (SIGSEGV)", WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    st = spawn("stale-after-realloc", err, sizeof err);
    CHECK("the old place of a block HeapReAlloc moved faults", WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    st = spawn("slack", err, sizeof err);
    CHECK("damage right after a 13-byte block: HeapValidate FALSE, then HeapFree stops the process",
          WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    CHECK("... with a message naming the block", strstr(err, "written past its end") != NULL);
    st = spawn("cycles", err, sizeof err);
    CHECK("3000 alloc/free pairs; a fixed heap still fills up", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    profile = "ce5";
    st = spawn("cycles", err, sizeof err);
    CHECK("ce5: the quarantine leaves the 32 MB slot room; a fixed heap still fills up",
          WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st = spawn("overrun", err, sizeof err);
    CHECK("ce5: an overrun by one byte faults", WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    profile = NULL;
    st = spawn("rules", err, sizeof err);
    CHECK("the heap's rules are unchanged under the page heap", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return check_summary();
}
