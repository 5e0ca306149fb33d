/* fault_util.h - helpers for the fault-driven page tests (issue 4: MEM_AUTO_COMMIT, PAGE_GUARD,
 * SIGSEGV chaining). Include after check.h. Only documented API and plain POSIX.
 *
 *  - maps_perms(addr, out): the kernel protection of addr from /proc/self/maps ("rw-p", "---p").
 *  - committed_pages(base, size, &runs_ok): walks VirtualQuery over [base, base+size) and returns
 *    the number of MEM_COMMIT pages; *runs_ok = 0 when the runs do not tile the range exactly
 *    (a run that overlaps the previous one, a zero RegionSize, a query failure, another AllocationBase).
 *  - run_captured(fn, arg, seconds, &status, err, errsz): runs fn(arg) in a fork()ed child whose
 *    stderr goes to a pipe (returned in err, NUL-terminated) and which an alarm kills after `seconds`
 *    (a hang shows up as SIGALRM, never as a stuck test); returns 1 when the wait status is in
 *    *status.
 *  - load8_ip / store32_ip: one load / one store instruction whose exact address is returned in *ip
 *    (x86-64 inline asm; elsewhere plain volatile accesses and *ip = NULL).
 *  - segv_action(&sa): the current SIGSEGV disposition.
 */
#ifndef COREDLL_FAULT_UTIL_H
#define COREDLL_FAULT_UTIL_H

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

/* 1 and the four permission characters of the mapping that holds addr, 0 if none. */
static inline int maps_perms(const void *addr, char out[5]) {
    out[0] = '\0';
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL) return 0;
    char line[512];
    int found = 0;
    uint64_t a = U64(addr);
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long lo, hi;
        char perms[8];
        if (sscanf(line, "%llx-%llx %7s", &lo, &hi, perms) != 3) continue;
        if (a >= lo && a < hi) {
            memcpy(out, perms, 4);
            out[4] = '\0';
            found = 1;
            break;
        }
    }
    fclose(f);
    return found;
}

/* CHECK that the kernel protection of addr is exactly `want` ("rw-p", "---p", "r--p"). */
static inline int check_perms_(const char *name, const char *file, int line, const void *addr,
                               const char *want) {
    char p[5];
    char d[160];
    int found = maps_perms(addr, p);
    snprintf(d, sizeof d, "/proc/self/maps: %p is %s, expected %s", addr, found ? p : "(not mapped)", want);
    return check_record(found && strcmp(p, want) == 0, name, file, line, "kernel protection", d);
}
#define CHECK_PERMS(name, addr, want) check_perms_((name), __FILE__, __LINE__, (addr), (want))

/* Number of MEM_COMMIT pages in [base, base+size) by VirtualQuery; see the file comment. */
static inline uint64_t committed_pages(const void *base, uint64_t size, int *runs_ok) {
    const char *p = base, *end = (const char *)base + size;
    uint64_t pages = 0;
    int ok = 1;
    while (p < end) {
        MEMORY_BASIC_INFORMATION m;
        memset(&m, 0, sizeof m);
        if (VirtualQuery(p, &m, sizeof m) != sizeof m || m.BaseAddress != (PVOID)p || m.RegionSize == 0 ||
            m.RegionSize % PG != 0 || m.AllocationBase != (PVOID)base) {
            ok = 0;
            break;
        }
        uint64_t n = m.RegionSize;
        if (U64(p) + n > U64(end)) n = U64(end) - U64(p);
        if (m.State == MEM_COMMIT) pages += n / PG;
        p += m.RegionSize;
    }
    if (runs_ok != NULL) *runs_ok = ok;
    return pages;
}

/* CHECK: VirtualQuery walk of [base, base+size) tiles it exactly and counts `want` committed pages. */
static inline int check_committed_(const char *name, const char *file, int line, const void *base,
                                   uint64_t size, uint64_t want) {
    int ok = 0;
    uint64_t n = committed_pages(base, size, &ok);
    char d[160];
    snprintf(d, sizeof d, "%" PRIu64 " MEM_COMMIT pages (expected %" PRIu64 ")%s", n, want,
             ok ? "" : ", and the VirtualQuery runs do not tile the reservation");
    return check_record(ok && n == want, name, file, line, "count of MEM_COMMIT pages", d);
}
#define CHECK_COMMITTED(name, base, size, want) \
    check_committed_((name), __FILE__, __LINE__, (base), (uint64_t)(size), (uint64_t)(want))

/* Runs fn(arg) in a child with stderr captured and an alarm; see the file comment. */
static inline int run_captured(void (*fn)(void *), void *arg, unsigned seconds, int *status, char *err,
                               size_t errsz) {
    int fds[2];
    err[0] = '\0';
    fflush(stdout);
    fflush(stderr);
    if (pipe(fds) != 0) return 0;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return 0;
    }
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        check_no_core_dumps();
        alarm(seconds);
        fn(arg);
        fflush(stdout);
        _exit(0);
    }
    close(fds[1]);
    size_t got = 0;
    for (;;) {
        char tmp[512];
        ssize_t r = read(fds[0], tmp, sizeof tmp);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        for (ssize_t i = 0; i < r && got + 1 < errsz; i++) err[got++] = tmp[i];
    }
    err[got] = '\0';
    close(fds[0]);
    while (waitpid(pid, status, 0) < 0) {
        if (errno != EINTR) return 0;
    }
    return 1;
}

/* "killed by SIGSEGV" / "exited 3" / "killed by SIGALRM" for check details. */
static inline void describe_status(int st, char *out, size_t n) {
    if (WIFSIGNALED(st))
        snprintf(out, n, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else if (WIFEXITED(st))
        snprintf(out, n, "exited with status %d", WEXITSTATUS(st));
    else
        snprintf(out, n, "wait status 0x%x", (unsigned)st);
}

/* One byte load from p; *ip = the address of the load instruction (x86-64), else NULL. */
static inline unsigned char load8_ip(const volatile void *p, void **ip) {
#if defined(__x86_64__)
    unsigned char v;
    void *l;
    __asm__ volatile("leaq 1f(%%rip), %1\n"
                     "1:\tmovb (%2), %0"
                     : "=&q"(v), "=&r"(l)
                     : "r"(p)
                     : "memory");
    if (ip != NULL) *ip = l;
    return v;
#else
    if (ip != NULL) *ip = NULL;
    return *(const volatile unsigned char *)p;
#endif
}

/* One 4-byte store of v to p; *ip = the address of the store instruction (x86-64), else NULL. */
static inline void store32_ip(volatile void *p, uint32_t v, void **ip) {
#if defined(__x86_64__)
    void *l;
    __asm__ volatile("leaq 1f(%%rip), %0\n"
                     "1:\tmovl %2, (%1)"
                     : "=&r"(l)
                     : "r"(p), "r"(v)
                     : "memory");
    if (ip != NULL) *ip = l;
#else
    if (ip != NULL) *ip = NULL;
    *(volatile uint32_t *)p = v;
#endif
}

static inline struct sigaction segv_action(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigaction(SIGSEGV, NULL, &sa);
    return sa;
}

/* 1 if the current SIGSEGV disposition is SIG_DFL. */
static inline int segv_is_default(void) {
    struct sigaction sa = segv_action();
    return !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL;
}

#define SEGV_FLAGS_WANTED (SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART)

#endif /* COREDLL_FAULT_UTIL_H */
