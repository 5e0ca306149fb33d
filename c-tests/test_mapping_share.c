/* Named pagefile-backed mappings shared between processes (ce6 profile): issue 6, CE-SEMANTICS.md
 * §15, README "File mappings and shared memory". The program re-executes itself (/proc/self/exe)
 * with a role argument, so each child is a separate process with its own copy of the library:
 *   1. the parent creates "coredll-test-<pid>" and writes a pattern; a child opens the name
 *      (ERROR_ALREADY_EXISTS), checks the pattern and writes a reply the parent then sees;
 *   2. a child creates "coredll-test-<pid>-c" first (last error 0) and writes a pattern; the parent
 *      opens it (ERROR_ALREADY_EXISTS) while the child still holds it, checks it and replies; the
 *      child sees the reply live.
 * A child reports its check counts through a pipe whose descriptor it gets on the command line. */
#include "check.h"

#include <poll.h>

#define SZ 0x20000u   /* mapping size */
#define HALF 0x10000u /* the reply goes to [HALF, SZ) */

typedef struct {
    WCHAR s[128];
} wstr;

static wstr W(const char *a) {
    wstr w;
    size_t i = 0;
    for (; a[i] != '\0' && i < 127; i++) w.s[i] = (WCHAR)(unsigned char)a[i];
    w.s[i] = 0;
    return w;
}

static unsigned char pat(uint32_t i, unsigned seed) {
    uint32_t x = i * 2654435761u + seed * 0x9E3779B9u;
    return (unsigned char)((x >> 13) ^ (x >> 24) ^ seed);
}

static int write_pat(void *p, uint32_t off, size_t n, unsigned seed) {
    unsigned char *b = malloc(n);
    if (b == NULL) return 0;
    for (size_t i = 0; i < n; i++) b[i] = pat(off + (uint32_t)i, seed);
    int ok = safe_write(p, b, n);
    free(b);
    return ok;
}

static int has_pat(const void *p, uint32_t off, size_t n, unsigned seed) {
    unsigned char *b = malloc(n);
    if (b == NULL) return 0;
    for (size_t i = 0; i < n; i++) b[i] = pat(off + (uint32_t)i, seed);
    int ok = mem_equals(p, b, n);
    free(b);
    return ok;
}

/* ---------------- child side ---------------- */

static int report_and_exit(int fd) {
    int counts[2] = {check_passed_, check_failed_};
    fflush(stdout);
    ssize_t w = write(fd, counts, sizeof counts);
    close(fd);
    return w == (ssize_t)sizeof counts ? 0 : 3;
}

static void wait_byte(int fd, const char *what) {
    char c;
    ssize_t r;
    do r = read(fd, &c, 1);
    while (r < 0 && errno == EINTR);
    CHECK(what, r == 1);
}

/* argv: --open <name> <report fd> */
static int child_open(const char *name, int report) {
    HANDLE h = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, SZ, W(name).s));
    CHECK_NE_U("child: open the parent's name", h, NULL);
    CHECK_LE("child: the name exists -> ERROR_ALREADY_EXISTS", ERROR_ALREADY_EXISTS);
    if (h == NULL) return report_and_exit(report);
    char *v = CALL(MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, 0));
    CHECK_NE_U("child: map the whole mapping (size 0 = the parent's size)", v, NULL);
    if (v != NULL) {
        CHECK_QUERY("child: the view is MEM_COMMIT/PAGE_READWRITE/MEM_MAPPED, the parent's size", v, v, v, SZ,
                    MEM_COMMIT, PAGE_READWRITE, MEM_MAPPED);
        CHECK("child: the view lies below 4 GB in coredll_window(0)", in_window(0, v, SZ));
        CHECK("child: sees the parent's pattern", has_pat(v, 0, SZ, 1));
        CHECK("child: write the reply", write_pat(v + HALF, HALF, SZ - HALF, 2));
        CHECK_RET_ERR("child: unmap", UnmapViewOfFile(v), TRUE, LE_UNTOUCHED);
    }
    /* The 8-bit name reaches the same object. */
    HANDLE ha = CALL(CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, SZ, name));
    CHECK_NE_U("child: CreateFileMappingA of the same name", ha, NULL);
    CHECK_LE("child: ... ERROR_ALREADY_EXISTS", ERROR_ALREADY_EXISTS);
    if (ha != NULL) {
        char *va = MapViewOfFile(ha, FILE_MAP_READ, 0, HALF, 0);
        CHECK("child: its read-only view at offset 0x10000 shows the reply", va != NULL && has_pat(va, HALF, SZ - HALF, 2));
        if (va != NULL) UnmapViewOfFile(va);
        CloseHandle(ha);
    }
    CHECK_RET_ERR("child: close", CloseHandle(h), TRUE, LE_UNTOUCHED);
    return report_and_exit(report);
}

/* argv: --create <name> <report fd> <ready fd (child writes)> <go fd (child reads)> */
static int child_create(const char *name, int report, int ready, int go) {
    HANDLE h = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, SZ, W(name).s));
    CHECK_NE_U("child: create a fresh name", h, NULL);
    CHECK_LE("child: fresh name -> last error 0", 0);
    char *v = h != NULL ? MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, 0) : NULL;
    CHECK_NE_U("child: map it", v, NULL);
    CHECK("child: a fresh mapping reads zero", v != NULL && check_bytes_are(v, SZ, 0));
    CHECK("child: write a pattern", v != NULL && write_pat(v, 0, SZ, 3));
    char c = 'R';
    CHECK("child: tell the parent", write(ready, &c, 1) == 1);
    close(ready);
    wait_byte(go, "child: the parent answered");
    CHECK("child: sees the parent's reply while both hold the mapping", v != NULL && has_pat(v + HALF, HALF, SZ - HALF, 4));
    CHECK("child: its own first half is intact", v != NULL && has_pat(v, 0, HALF, 3));
    if (v != NULL) CHECK_RET_ERR("child: unmap", UnmapViewOfFile(v), TRUE, LE_UNTOUCHED);
    if (h != NULL) CHECK_RET_ERR("child: close", CloseHandle(h), TRUE, LE_UNTOUCHED);
    return report_and_exit(report);
}

/* An existing name: the parameters are not validated, in another process as well. */
static const struct {
    DWORD prot, hi, lo;
    const char *what;
} UNVALIDATED[] = {
    {PAGE_READWRITE, 0, 0, "another process's name, size 0 (not validated) -> ERROR_ALREADY_EXISTS"},
    {PAGE_READONLY, 0, SZ, "another process's name, PAGE_READONLY (not validated) -> ERROR_ALREADY_EXISTS"},
    {PAGE_EXECUTE_READWRITE, 0, SZ, "another process's name, PAGE_EXECUTE_READWRITE (not validated) -> ERROR_ALREADY_EXISTS"},
    {PAGE_READWRITE, 1, 0, "another process's name, size high 1 (not validated) -> ERROR_ALREADY_EXISTS"},
    {PAGE_READWRITE, 0, 0x1000, "another process's name, a smaller size -> ERROR_ALREADY_EXISTS, the creator's size"},
};
#define N_UNVALIDATED (sizeof UNVALIDATED / sizeof UNVALIDATED[0])

/* argv: --open-first <name> <case> <report fd>: the process's first call opens the name with the
 * parameters of UNVALIDATED[case]. */
static int child_open_first(const char *name, size_t i, int report) {
    if (i >= N_UNVALIDATED) return 9;
    HANDLE u = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, UNVALIDATED[i].prot, UNVALIDATED[i].hi,
                                       UNVALIDATED[i].lo, W(name).s));
    DWORD e = GetLastError();
    char *uv = u != NULL ? MapViewOfFile(u, FILE_MAP_READ, 0, 0, 0) : NULL;
    MEMORY_BASIC_INFORMATION m;
    int size_ok = uv != NULL && query(uv, &m) == sizeof m && m.RegionSize == SZ;
    char d[200];
    snprintf(d, sizeof d, "returned %p, last error %u; view %p%s", u, (unsigned)e, (void *)uv,
             uv != NULL && !size_ok ? " of the wrong size" : "");
    check_record(u != NULL && e == ERROR_ALREADY_EXISTS && size_ok && has_pat(uv, 0, SZ, 1), UNVALIDATED[i].what,
                 __FILE__, __LINE__, "non-NULL, ERROR_ALREADY_EXISTS, a view of all the creator's data", d);
    if (uv != NULL) UnmapViewOfFile(uv);
    if (u != NULL) CloseHandle(u);
    return report_and_exit(report);
}

/* argv: --check <name> <report fd>: the name exists and holds pattern 5 (the parent's). */
static int child_check(const char *name, int report) {
    HANDLE h = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, SZ, W(name).s));
    CHECK_NE_U("child: open the parent's name", h, NULL);
    CHECK_LE("child: the parent still holds it -> ERROR_ALREADY_EXISTS", ERROR_ALREADY_EXISTS);
    char *v = h != NULL ? MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0) : NULL;
    CHECK("child: sees the parent's data", v != NULL && has_pat(v, 0, SZ, 5));
    if (v != NULL) UnmapViewOfFile(v);
    if (h != NULL) CloseHandle(h);
    return report_and_exit(report);
}

/* argv: --create-die <name> <how>: creates the name, writes into it, then ends without closing:
 * "kill" by SIGKILL, "exit" by returning from main. */
static int child_create_die(const char *name, const char *how) {
    HANDLE h = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, SZ, W(name).s);
    if (h == NULL || GetLastError() != 0) return 10;
    char *v = MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, 0);
    if (v == NULL || !write_pat(v, 0, SZ, 6)) return 11;
    if (strcmp(how, "kill") == 0) raise(SIGKILL);
    return 0;
}

/* argv: --stress <name> <rounds> <report fd>: the create/map/write/unmap/close loop. */
static int stress_loop(const char *name, int rounds, unsigned char tag, char *first, size_t first_len) {
    int failures = 0;
    for (int r = 0; r < rounds; r++) {
        const char *what = NULL;
        HANDLE h = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x2000, W(name).s));
        DWORD e = GetLastError();
        char *v = h != NULL ? MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, 0) : NULL;
        MEMORY_BASIC_INFORMATION m;
        if (h == NULL || (e != 0 && e != ERROR_ALREADY_EXISTS)) what = "create/open";
        else if (v == NULL) what = "map";
        else if (query(v, &m) != sizeof m || m.RegionSize != 0x2000 || m.Type != MEM_MAPPED) what = "view size";
        else if (!fill(v + (tag ? 0x1000 : 0), tag, 0x1000) || !check_bytes_are(v + (tag ? 0x1000 : 0), 0x1000, tag))
            what = "data";
        if (v != NULL && !UnmapViewOfFile(v) && what == NULL) what = "unmap";
        if (h != NULL && !CloseHandle(h) && what == NULL) what = "close";
        if (what != NULL && failures++ == 0)
            snprintf(first, first_len, "round %d: %s (create's last error %u, now %u)", r, what, (unsigned)e,
                     (unsigned)GetLastError());
    }
    return failures;
}

static int child_stress(const char *name, int rounds, int report) {
    char first[200] = "";
    int f = stress_loop(name, rounds, (unsigned char)(getpid() & 1 ? 0xC1 : 0), first, sizeof first);
    check_record(f == 0, "child: concurrent create/open/map/unmap/close of one name, no failure", __FILE__, __LINE__,
                 "failures == 0", first);
    return report_and_exit(report);
}

/* ---------------- parent side ---------------- */

/* Starts this program again with the given arguments (fds stay open across exec). */
static pid_t spawn(char *const args[]) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        execv("/proc/self/exe", args);
        _exit(127);
    }
    return pid;
}

/* Collects a child's counts from the report pipe and its exit, like check_child. */
static void collect(const char *name, pid_t pid, int report) {
    int counts[2] = {0, 0};
    ssize_t got = 0;
    while (got < (ssize_t)sizeof counts) {
        ssize_t r = read(report, (char *)counts + got, sizeof counts - (size_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += r;
    }
    close(report);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    int ok = got == (ssize_t)sizeof counts && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    char d[160] = "";
    if (ok) {
        check_passed_ += counts[0];
        check_failed_ += counts[1];
    } else if (WIFSIGNALED(status)) {
        snprintf(d, sizeof d, "child killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else {
        snprintf(d, sizeof d, "child exited with status %d without reporting", WEXITSTATUS(status));
    }
    check_record(ok, name, __FILE__, __LINE__, "child (exec'd) ran to completion and reported", d);
}

static void parent_creates(void) {
    char name[64];
    snprintf(name, sizeof name, "coredll-test-%d", (int)getpid());
    HANDLE h = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, SZ, W(name).s));
    CHECK_NE_U("parent: create coredll-test-<pid>", h, NULL);
    CHECK_LE("parent: fresh name -> last error 0", 0);
    if (h == NULL) return;
    char *v = MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, 0);
    CHECK_NE_U("parent: map it", v, NULL);
    if (v == NULL) {
        CloseHandle(h);
        return;
    }
    CHECK("parent: write the pattern", write_pat(v, 0, SZ, 1));

    int rp[2];
    if (pipe(rp) != 0) {
        CHECK("pipe()", 0);
        return;
    }
    char fd[16];
    snprintf(fd, sizeof fd, "%d", rp[1]);
    char *args[] = {"test_mapping_share", "--open", name, fd, NULL};
    pid_t pid = spawn(args);
    close(rp[1]);
    CHECK("parent: fork", pid > 0);
    if (pid > 0) collect("child opening the parent's name", pid, rp[0]);
    else close(rp[0]);

    CHECK("parent: sees the child's reply", has_pat(v + HALF, HALF, SZ - HALF, 2));
    CHECK("parent: its own pattern is intact", has_pat(v, 0, HALF, 1));

    CHECK("setup: restore the parent's pattern", write_pat(v, 0, SZ, 1));
    for (size_t i = 0; i < N_UNVALIDATED; i++) {
        int p2[2];
        if (pipe(p2) != 0) break;
        char f2[16], idx[16];
        snprintf(f2, sizeof f2, "%d", p2[1]);
        snprintf(idx, sizeof idx, "%zu", i);
        char *a2[] = {"test_mapping_share", "--open-first", name, idx, f2, NULL};
        pid_t c2 = spawn(a2);
        close(p2[1]);
        if (c2 > 0) collect("child opening the name with unvalidated parameters", c2, p2[0]);
        else close(p2[0]);
    }
    CHECK_RET_ERR("parent: unmap", UnmapViewOfFile(v), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("parent: close", CloseHandle(h), TRUE, LE_UNTOUCHED);

    /* Every user of the name (the child exited) has closed it: the name is gone (README). */
    h = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, SZ, W(name).s));
    CHECK_NE_U("parent: create the name again after every user closed it", h, NULL);
    CHECK_LE("parent: ... a fresh mapping (last error 0)", 0);
    if (h != NULL) {
        v = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0);
        CHECK("parent: ... with fresh zeroes", v != NULL && check_bytes_are(v, SZ, 0));
        if (v != NULL) UnmapViewOfFile(v);
        CloseHandle(h);
    }
}

static void child_creates(void) {
    char name[64];
    snprintf(name, sizeof name, "coredll-test-%d-c", (int)getpid());
    int rp[2], ready[2], go[2];
    if (pipe(rp) != 0 || pipe(ready) != 0 || pipe(go) != 0) {
        CHECK("pipe()", 0);
        return;
    }
    char f1[16], f2[16], f3[16];
    snprintf(f1, sizeof f1, "%d", rp[1]);
    snprintf(f2, sizeof f2, "%d", ready[1]);
    snprintf(f3, sizeof f3, "%d", go[0]);
    char *args[] = {"test_mapping_share", "--create", name, f1, f2, f3, NULL};
    pid_t pid = spawn(args);
    close(rp[1]);
    close(ready[1]);
    close(go[0]);
    CHECK("parent: fork", pid > 0);
    if (pid <= 0) return;

    struct pollfd pfd = {ready[0], POLLIN, 0};
    int pr = poll(&pfd, 1, 30000);
    char c = 0;
    int is_ready = pr == 1 && read(ready[0], &c, 1) == 1 && c == 'R';
    close(ready[0]);
    CHECK("parent: the child created the name and wrote its pattern (within 30 s)", is_ready);

    HANDLE h = NULL;
    char *v = NULL;
    if (is_ready) {
        h = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, SZ, W(name).s));
        CHECK_NE_U("parent: open the child's name", h, NULL);
        CHECK_LE("parent: ... ERROR_ALREADY_EXISTS", ERROR_ALREADY_EXISTS);
        v = h != NULL ? MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, 0) : NULL;
        CHECK_NE_U("parent: map it", v, NULL);
        if (v != NULL) {
            CHECK_QUERY("parent: a MEM_MAPPED view of the child's size", v, v, v, SZ, MEM_COMMIT, PAGE_READWRITE,
                        MEM_MAPPED);
            CHECK("parent: sees the child's pattern while the child is alive", has_pat(v, 0, SZ, 3));
            CHECK("parent: write the reply", write_pat(v + HALF, HALF, SZ - HALF, 4));
        }
    }
    c = 'G';
    CHECK("parent: tell the child", write(go[1], &c, 1) == 1);
    close(go[1]);
    collect("child creating the name first", pid, rp[0]);

    if (v != NULL) {
        CHECK("parent: after the child closed and exited, the mapping lives on through the parent's view",
              has_pat(v, 0, HALF, 3) && has_pat(v + HALF, HALF, SZ - HALF, 4));
        HANDLE h2 = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, SZ, W(name).s));
        CHECK_NE_U("parent: the name still exists while the parent holds it", h2, NULL);
        CHECK_LE("parent: ... ERROR_ALREADY_EXISTS", ERROR_ALREADY_EXISTS);
        if (h2 != NULL) CloseHandle(h2);
        CHECK_RET_ERR("parent: unmap", UnmapViewOfFile(v), TRUE, LE_UNTOUCHED);
    }
    if (h != NULL) CHECK_RET_ERR("parent: close", CloseHandle(h), TRUE, LE_UNTOUCHED);

    h = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, SZ, W(name).s));
    CHECK_NE_U("parent: create the child's name again after both closed it", h, NULL);
    CHECK_LE("parent: ... a fresh mapping (last error 0)", 0);
    if (h != NULL) {
        v = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0);
        CHECK("parent: ... with fresh zeroes", v != NULL && check_bytes_are(v, SZ, 0));
        if (v != NULL) UnmapViewOfFile(v);
        CloseHandle(h);
    }
}

/* A shared-memory object left behind by a process that died is removed here so that runs do
 * not pile them up; this needs the library's object-name scheme (README: names are per user;
 * src/mapping.rs: "/coredll-<euid>-<hex bytes of the UTF-8 name>"). Test hygiene only. */
static void remove_stale_object(const char *name) {
    char p[512];
    int n = snprintf(p, sizeof p, "/dev/shm/coredll-%u-", (unsigned)geteuid());
    for (const char *c = name; *c && n < (int)sizeof p - 3; c++) n += snprintf(p + n, sizeof p - (size_t)n, "%02x", (unsigned char)*c);
    unlink(p);
}

/* Spawns `--check name` and collects it. */
static void check_from_other_process(const char *what, const char *name) {
    int rp[2];
    if (pipe(rp) != 0) {
        CHECK("pipe()", 0);
        return;
    }
    char fd[16];
    snprintf(fd, sizeof fd, "%d", rp[1]);
    char *args[] = {"test_mapping_share", "--check", (char *)name, fd, NULL};
    pid_t pid = spawn(args);
    close(rp[1]);
    if (pid > 0) collect(what, pid, rp[0]);
    else close(rp[0]);
}

static void fork_child_exits(void *unused) {
    (void)unused;
    /* A forked child that ends with exit() (atexit handlers run) without ever having opened the
     * name itself: it must not count the parent out. */
    exit(0);
}

/* A fork()ed child (no exec) that ends normally does not end the parent's named mapping. */
static void forked_child_exit(void) {
    char name[64];
    snprintf(name, sizeof name, "coredll-test-%d-f", (int)getpid());
    HANDLE h = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, SZ, W(name).s));
    CHECK_NE_U("parent: create coredll-test-<pid>-f", h, NULL);
    char *v = h != NULL ? MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, 0) : NULL;
    CHECK("parent: write pattern 5", v != NULL && write_pat(v, 0, SZ, 5));
    if (v == NULL) return;
    check_from_other_process("another process sees the name (control)", name);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) fork_child_exits(NULL);
    int st = 0;
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    CHECK("setup: a fork()ed child ended with exit(0)", pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    check_from_other_process("after a fork()ed child's exit(), another process still finds the parent's mapping", name);
    UnmapViewOfFile(v);
    CloseHandle(h);
    remove_stale_object(name);
}

/* A process that ends without closing: by returning from main, or killed. */
static void creator_dies(const char *how, const char *label_ok, const char *label_fresh) {
    char name[64];
    snprintf(name, sizeof name, "coredll-test-%d-%s", (int)getpid(), how);
    char *args[] = {"test_mapping_share", "--create-die", name, (char *)how, NULL};
    pid_t pid = spawn(args);
    int st = 0;
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    int ended = strcmp(how, "kill") == 0 ? WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL
                                         : WIFEXITED(st) && WEXITSTATUS(st) == 0;
    char d[96];
    snprintf(d, sizeof d, "wait status 0x%x", (unsigned)st);
    check_record(pid > 0 && ended, label_ok, __FILE__, __LINE__, "child created the name and ended as planned", d);
    HANDLE h = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, SZ, W(name).s));
    DWORD e = GetLastError();
    char *v = h != NULL ? MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0) : NULL;
    snprintf(d, sizeof d, "handle %p, last error %u, view %s", h, (unsigned)e,
             v == NULL ? "NULL" : check_bytes_are(v, SZ, 0) ? "zeroes" : "old data");
    check_record(h != NULL && e == 0 && v != NULL && check_bytes_are(v, SZ, 0), label_fresh, __FILE__, __LINE__,
                 "fresh create: last error 0, zeroes", d);
    if (v != NULL) UnmapViewOfFile(v);
    if (h != NULL) CloseHandle(h);
    remove_stale_object(name);
}

/* Two processes (both exec'd children, so that a crash in either is one failed check) create,
 * open, map and close one name as fast as they can. */
static void concurrent_stress(void) {
    char name[64];
    snprintf(name, sizeof name, "coredll-test-%d-s", (int)getpid());
    int rp[2][2];
    pid_t pid[2];
    for (int i = 0; i < 2; i++) {
        if (pipe(rp[i]) != 0) {
            CHECK("pipe()", 0);
            return;
        }
        char fd[16];
        snprintf(fd, sizeof fd, "%d", rp[i][1]);
        char *args[] = {"test_mapping_share", "--stress", name, "3000", fd, NULL};
        pid[i] = spawn(args);
        close(rp[i][1]);
    }
    for (int i = 0; i < 2; i++) {
        if (pid[i] > 0) collect("stress child (2 processes x 3000 rounds on one name)", pid[i], rp[i][0]);
        else close(rp[i][0]);
    }
    HANDLE h = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x2000, W(name).s));
    CHECK("after both processes are done with the name it is gone (fresh create: last error 0)",
          h != NULL && GetLastError() == 0);
    if (h != NULL) CloseHandle(h);
    remove_stale_object(name);
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--open") == 0) {
        alarm(60);
        return child_open(argv[2], atoi(argv[3]));
    }
    if (argc == 6 && strcmp(argv[1], "--create") == 0) {
        alarm(60);
        return child_create(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    }
    if (argc == 5 && strcmp(argv[1], "--open-first") == 0) {
        alarm(60);
        return child_open_first(argv[2], (size_t)atoi(argv[3]), atoi(argv[4]));
    }
    if (argc == 4 && strcmp(argv[1], "--check") == 0) {
        alarm(60);
        return child_check(argv[2], atoi(argv[3]));
    }
    if (argc == 4 && strcmp(argv[1], "--create-die") == 0) {
        alarm(60);
        return child_create_die(argv[2], argv[3]);
    }
    if (argc == 5 && strcmp(argv[1], "--stress") == 0) {
        alarm(120);
        return child_stress(argv[2], atoi(argv[3]), atoi(argv[4]));
    }
    signal(SIGPIPE, SIG_IGN); /* a dead child must fail a check, not kill the parent */
    parent_creates();
    child_creates();
    forked_child_exit();
    creator_dies("exit", "a child created a name and returned from main without closing it",
                 "... the name is gone with it (fresh create: last error 0, zeroes)");
    creator_dies("kill", "a child created a name and was killed by SIGKILL without closing it",
                 "... the name is gone with it (fresh create: last error 0, zeroes)");
    concurrent_stress();
    return check_summary();
}
