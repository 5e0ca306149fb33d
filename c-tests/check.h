/* check.h - the tiny harness of the coredll C conformance suite.
 *
 * Every check has a name, a failing check prints its
 * expression with file:line (and the actual and expected values where that helps), and the program
 * ends with check_summary(), which prints exactly `N passed, M failed` as its final line and returns
 * the exit code (0 only when M == 0).
 *
 * Last-error checks: CHECK_RET_ERR sets the last error to CHECK_SENTINEL (0xDEADBEEF)
 * just before the call, evaluates the call once and then compares BOTH the return value and the exact
 * GetLastError(). "Left alone" is spelled LE_UNTOUCHED (== CHECK_SENTINEL). When a test needs the
 * returned value, use CALL(expr), which does the same SetLastError(CHECK_SENTINEL) first, and then
 * CHECK_LE(name, expected) right after it (nothing in this harness touches the last error).
 *
 * Crash isolation: check_child(name, fn, arg) runs fn in a fork()ed child whose checks are counted
 * in the parent; a child killed by a signal is one failed check. check_expect_signal(name, fn, arg,
 * sig) passes only if fn kills the child with that signal.
 *
 * Set CHECK_VERBOSE=1 in the environment to also print the passing checks.
 */
#ifndef COREDLL_CHECK_H
#define COREDLL_CHECK_H

/* process_vm_readv/writev, strsignal; check.h must be the first include of a test file. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <windows.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK_SENTINEL 0xDEADBEEFu /* the last error set before every call under test */
#define LE_UNTOUCHED CHECK_SENTINEL /* "the call left the last error alone" */

#define PG 0x1000u    /* CE page */
#define GRAN 0x10000u /* CE allocation granularity */
#define AT(p, off) ((void *)((char *)(p) + (off)))
#define U64(x) ((uint64_t)(uintptr_t)(x))
#define Q_ANY UINT64_MAX /* CHECK_QUERY: do not compare this field */

static int check_passed_;
static int check_failed_;
static int check_verbose_ = -1;

static inline int check_verbose(void) {
    if (check_verbose_ < 0) {
        const char *v = getenv("CHECK_VERBOSE");
        check_verbose_ = (v != NULL && v[0] != '\0' && v[0] != '0');
    }
    return check_verbose_;
}

/* Records one check. `detail` (may be NULL) is printed on a second line when the check fails. */
static inline int check_record(int ok, const char *name, const char *file, int line,
                               const char *expr, const char *detail) {
    if (ok) {
        check_passed_++;
        if (check_verbose()) printf("ok   [%s]\n", name);
    } else {
        check_failed_++;
        printf("FAIL [%s] %s:%d: %s\n", name, file, line, expr);
        if (detail != NULL && detail[0] != '\0') printf("       %s\n", detail);
    }
    fflush(stdout);
    return ok;
}

static inline int check_eq_(const char *name, const char *file, int line, const char *expr,
                            uint64_t actual, uint64_t expected) {
    char d[160];
    snprintf(d, sizeof d, "actual 0x%" PRIx64 " (%" PRIu64 "), expected 0x%" PRIx64 " (%" PRIu64 ")",
             actual, actual, expected, expected);
    return check_record(actual == expected, name, file, line, expr, d);
}

static inline int check_ne_(const char *name, const char *file, int line, const char *expr,
                            uint64_t actual, uint64_t unwanted) {
    char d[160];
    snprintf(d, sizeof d, "actual 0x%" PRIx64 ", must differ from 0x%" PRIx64, actual, unwanted);
    return check_record(actual != unwanted, name, file, line, expr, d);
}

static inline int check_ret_err_(const char *name, const char *file, int line, const char *expr,
                                 uint64_t ret, uint64_t want_ret, DWORD err, DWORD want_err) {
    char d[240];
    snprintf(d, sizeof d,
             "returned 0x%" PRIx64 " (expected 0x%" PRIx64 "%s), GetLastError %u/0x%x (expected %u/0x%x%s)",
             ret, want_ret, ret == want_ret ? ", ok" : ", WRONG", (unsigned)err, (unsigned)err,
             (unsigned)want_err, (unsigned)want_err, err == want_err ? ", ok" : ", WRONG");
    return check_record(ret == want_ret && err == want_err, name, file, line, expr, d);
}

/* The expression is true. */
#define CHECK(name, expr) check_record((expr) ? 1 : 0, (name), __FILE__, __LINE__, #expr, NULL)
/* Both sides are integers or pointers; printed in hex and decimal on failure. */
#define CHECK_EQ_U(name, actual, expected) \
    check_eq_((name), __FILE__, __LINE__, #actual " == " #expected, U64(actual), U64(expected))
#define CHECK_EQ_P(name, actual, expected) CHECK_EQ_U(name, actual, expected)
#define CHECK_NE_U(name, actual, unwanted) \
    check_ne_((name), __FILE__, __LINE__, #actual " != " #unwanted, U64(actual), U64(unwanted))
/* The last error right now (use straight after CALL(...)). */
#define CHECK_LE(name, expected) \
    check_eq_((name), __FILE__, __LINE__, "GetLastError() == " #expected, (uint64_t)GetLastError(), \
              (uint64_t)(DWORD)(expected))
/* Sets the last error to CHECK_SENTINEL, then evaluates expr (a comma expression). */
#define CALL(expr) (SetLastError(CHECK_SENTINEL), (expr))
/* One check: expr (evaluated once, after SetLastError(CHECK_SENTINEL)) returns want_ret AND the last
 * error afterwards is exactly want_err (LE_UNTOUCHED = the call must not touch it). */
#define CHECK_RET_ERR(name, expr, want_ret, want_err)                                               \
    do {                                                                                           \
        SetLastError(CHECK_SENTINEL);                                                              \
        uint64_t check_r_ = U64(expr);                                                             \
        DWORD check_e_ = GetLastError();                                                           \
        check_ret_err_((name), __FILE__, __LINE__, #expr, check_r_, U64(want_ret), check_e_,       \
                       (DWORD)(want_err));                                                         \
    } while (0)

/* VirtualQuery(addr) returns sizeof(MEMORY_BASIC_INFORMATION) and every field not given as Q_ANY
 * equals the expected value; one check, all mismatching fields are printed. */
static inline int check_query_(const char *name, const char *file, int line, const char *expr,
                               const void *addr, uint64_t base, uint64_t alloc_base,
                               uint64_t region, uint64_t state, uint64_t protect, uint64_t type) {
    MEMORY_BASIC_INFORMATION m;
    memset(&m, 0xA5, sizeof m);
    DWORD r = VirtualQuery(addr, &m, sizeof m);
    char d[600];
    size_t n = 0;
    int ok = 1;
    d[0] = '\0';
#define CHECK_QF_(field, want)                                                                    \
    if ((want) != Q_ANY && U64(m.field) != (want)) {                                              \
        ok = 0;                                                                                   \
        n += (size_t)snprintf(d + n, sizeof d - n, "%s 0x%" PRIx64 " (expected 0x%" PRIx64 ") ",   \
                              #field, U64(m.field), (uint64_t)(want));                            \
    }
    if (r != sizeof m) {
        ok = 0;
        n += (size_t)snprintf(d + n, sizeof d - n, "VirtualQuery returned %u, GetLastError %u ",
                              (unsigned)r, (unsigned)GetLastError());
    } else {
        CHECK_QF_(BaseAddress, base)
        CHECK_QF_(AllocationBase, alloc_base)
        CHECK_QF_(AllocationProtect, (uint64_t)PAGE_NOACCESS)
        CHECK_QF_(RegionSize, region)
        CHECK_QF_(State, state)
        CHECK_QF_(Protect, protect)
        CHECK_QF_(Type, type)
    }
#undef CHECK_QF_
    (void)n;
    return check_record(ok, name, file, line, expr, d);
}
/* AllocationProtect is always compared with PAGE_NOACCESS (CE hard-codes it; CONTRACT.md). */
#define CHECK_QUERY(name, addr, base, alloc_base, region, state, protect, type)                    \
    check_query_((name), __FILE__, __LINE__, "VirtualQuery(" #addr ")", (addr), U64(base),          \
                 U64(alloc_base), U64(region), U64(state), U64(protect), U64(type))

/* Fault-safe access to memory the library handed out: a library bug (a "committed" page that is
 * not accessible) must fail a check, not kill the test program. process_vm_readv/writev on our own
 * pid copy through the kernel, which honours page protections and returns EFAULT instead of
 * raising SIGSEGV. If the host forbids these calls, plain loads/stores are used. */
static int check_vm_ok_ = -1;

static inline int check_vm_available(void) {
    if (check_vm_ok_ < 0) {
        char a = 1, b = 0;
        struct iovec l = {&b, 1}, r = {&a, 1};
        check_vm_ok_ = process_vm_readv(getpid(), &l, 1, &r, 1, 0) == 1 && b == 1;
    }
    return check_vm_ok_;
}

/* Copies n bytes from p (maybe inaccessible) to the local buffer dst; 1 on success. */
static inline int safe_read(void *dst, const void *p, size_t n) {
    if (n == 0) return 1;
    if (!check_vm_available()) {
        memcpy(dst, p, n);
        return 1;
    }
    struct iovec l = {dst, n}, r = {(void *)(uintptr_t)p, n};
    return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == (ssize_t)n;
}

/* Copies n bytes from the local buffer src to p (maybe not writable); 1 on success. */
static inline int safe_write(void *p, const void *src, size_t n) {
    if (n == 0) return 1;
    if (!check_vm_available()) {
        memcpy(p, src, n);
        return 1;
    }
    struct iovec l = {(void *)(uintptr_t)src, n}, r = {p, n};
    return process_vm_writev(getpid(), &l, 1, &r, 1, 0) == (ssize_t)n;
}

/* memset that fails (returns 0) instead of faulting. */
static inline int fill(void *p, unsigned char v, size_t n) {
    unsigned char buf[4096];
    memset(buf, v, sizeof buf);
    for (size_t off = 0; off < n; off += sizeof buf) {
        size_t k = n - off < sizeof buf ? n - off : sizeof buf;
        if (!safe_write((char *)p + off, buf, k)) return 0;
    }
    return 1;
}

/* All n bytes at p equal v (0 if any byte is unreadable). */
static inline int check_bytes_are(const void *p, size_t n, unsigned char v) {
    unsigned char buf[4096];
    for (size_t off = 0; off < n; off += sizeof buf) {
        size_t k = n - off < sizeof buf ? n - off : sizeof buf;
        if (!safe_read(buf, (const char *)p + off, k)) return 0;
        for (size_t i = 0; i < k; i++)
            if (buf[i] != v) return 0;
    }
    return 1;
}

/* The n bytes at p (maybe unreadable) equal the local bytes at q. */
static inline int mem_equals(const void *p, const void *q, size_t n) {
    unsigned char buf[4096];
    for (size_t off = 0; off < n; off += sizeof buf) {
        size_t k = n - off < sizeof buf ? n - off : sizeof buf;
        if (!safe_read(buf, (const char *)p + off, k)) return 0;
        if (memcmp(buf, (const char *)q + off, k) != 0) return 0;
    }
    return 1;
}

/* The DWORD at p, or 0xFFFFFFFF... marker when unreadable. */
static inline uint64_t peek_dword(const void *p) {
    DWORD v;
    return safe_read(&v, p, sizeof v) ? v : UINT64_MAX;
}

static inline void check_no_core_dumps(void) {
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
}

/* Runs fn(arg) in a fork()ed child. The child's checks are printed by the child and added to the
 * parent's counts; the child dying (signal or exit without reporting) is one failed check. */
static inline void check_child_(const char *name, const char *file, int line, void (*fn)(void *),
                                void *arg) {
    int fds[2];
    fflush(stdout);
    fflush(stderr);
    if (pipe(fds) != 0) {
        check_record(0, name, file, line, "pipe()", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        check_record(0, name, file, line, "fork()", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        check_no_core_dumps();
        check_passed_ = 0;
        check_failed_ = 0;
        fn(arg);
        int counts[2] = {check_passed_, check_failed_};
        ssize_t w = write(fds[1], counts, sizeof counts);
        fflush(stdout);
        _exit(w == (ssize_t)sizeof counts ? 0 : 3);
    }
    close(fds[1]);
    int counts[2] = {0, 0};
    ssize_t got = 0;
    while (got < (ssize_t)sizeof counts) {
        ssize_t r = read(fds[0], (char *)counts + got, sizeof counts - (size_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += r;
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    char d[160];
    int ok = got == (ssize_t)sizeof counts && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok) {
        check_passed_ += counts[0];
        check_failed_ += counts[1];
        d[0] = '\0';
    } else if (WIFSIGNALED(status)) {
        snprintf(d, sizeof d, "child killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else {
        snprintf(d, sizeof d, "child exited with status %d without reporting", WEXITSTATUS(status));
    }
    check_record(ok, name, file, line, "child ran to completion (no crash)", d);
}
#define check_child(name, fn, arg) check_child_((name), __FILE__, __LINE__, (fn), (arg))

/* Passes only if fn(arg), run in a fork()ed child, kills it with signal sig. */
static inline void check_expect_signal_(const char *name, const char *file, int line,
                                        void (*fn)(void *), void *arg, int sig) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        check_record(0, name, file, line, "fork()", strerror(errno));
        return;
    }
    if (pid == 0) {
        check_no_core_dumps();
        fn(arg);
        _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    char d[160];
    if (WIFSIGNALED(status))
        snprintf(d, sizeof d, "child killed by signal %d (%s), expected %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)), sig, strsignal(sig));
    else
        snprintf(d, sizeof d, "child exited normally with status %d, expected signal %d (%s)",
                 WEXITSTATUS(status), sig, strsignal(sig));
    check_record(WIFSIGNALED(status) && WTERMSIG(status) == sig, name, file, line,
                 "WIFSIGNALED && WTERMSIG == expected", d);
}
#define check_expect_signal(name, fn, arg, sig) \
    check_expect_signal_((name), __FILE__, __LINE__, (fn), (arg), (sig))

/* Prints the final line `N passed, M failed`; returns the exit code. */
static inline int check_summary(void) {
    fflush(stderr);
    printf("%d passed, %d failed\n", check_passed_, check_failed_);
    fflush(stdout);
    return check_failed_ == 0 ? 0 : 1;
}

/* ---- small helpers shared by the test files (documented API only) ---- */

/* Window #idx as (base, size); base NULL when there is none. */
static inline char *window_base(DWORD idx, DWORD *size) {
    DWORD s = 0;
    DWORD saved = GetLastError();
    char *b = (char *)coredll_window(idx, &s);
    SetLastError(saved);
    if (size != NULL) *size = b != NULL ? s : 0;
    return b;
}

/* 1 if [p, p+n) lies inside window #idx. */
static inline int in_window(DWORD idx, const void *p, uint64_t n) {
    DWORD s;
    char *b = window_base(idx, &s);
    if (b == NULL) return 0;
    uint64_t a = U64(p), lo = U64(b), hi = U64(b) + s;
    return a >= lo && a + n <= hi && a + n >= a;
}

/* A free, 64 KB-aligned range of `size` bytes (found by a NULL reservation that is then released).
 * It stays free as long as the test makes no other reservation before using it. */
static inline char *find_free(DWORD size) {
    DWORD saved = GetLastError();
    char *p = (char *)VirtualAlloc(NULL, size, MEM_RESERVE, PAGE_NOACCESS);
    if (p != NULL) VirtualFree(p, 0, MEM_RELEASE);
    SetLastError(saved);
    return p;
}

/* VirtualQuery into *m; returns its return value. */
static inline DWORD query(const void *p, MEMORY_BASIC_INFORMATION *m) {
    memset(m, 0, sizeof *m);
    return VirtualQuery(p, m, sizeof *m);
}

/* Runs this program again (/proc/self/exe) with `argv`, under the environment changes `env`
 * (NULL-terminated; "NAME=value" sets, "NAME" removes), a 60 s alarm, stdout and stderr captured
 * into out[on] and err[en] (each may be NULL). Returns the wait status, or -1 if it could not run. */
static inline void check_read_all_(int fd, char *buf, size_t n) {
    size_t got = 0;
    char sink[256];
    for (;;) {
        char *dst = buf != NULL && got + 1 < n ? buf + got : sink;
        size_t room = buf != NULL && got + 1 < n ? n - 1 - got : sizeof sink;
        ssize_t r = read(fd, dst, room);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (dst != sink) got += (size_t)r;
    }
    if (buf != NULL && n > 0) buf[got] = '\0';
    close(fd);
}

static inline int check_run_self(char *const argv[], const char *const env[], char *out, size_t on,
                                 char *err, size_t en) {
    int po[2], pe[2];
    if (pipe(po) != 0) return -1;
    if (pipe(pe) != 0) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(po[1]);
        close(pe[0]);
        close(pe[1]);
        for (const char *const *e = env; e != NULL && *e != NULL; e++) {
            const char *eq = strchr(*e, '=');
            if (eq == NULL) {
                unsetenv(*e);
            } else {
                char name[128];
                size_t len = (size_t)(eq - *e) < sizeof name - 1 ? (size_t)(eq - *e) : sizeof name - 1;
                memcpy(name, *e, len);
                name[len] = '\0';
                setenv(name, eq + 1, 1);
            }
        }
        alarm(60);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    check_read_all_(po[0], out, on);
    check_read_all_(pe[0], err, en);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return status;
}

/* A flag value with its name, for tables of cases. */
struct named {
    DWORD v;
    const char *name;
};

/* Every protection VirtualAlloc and VirtualProtect must refuse with ERROR_INVALID_PARAMETER. */
__attribute__((unused)) static const struct named BAD_PROTECTIONS[] = {
    {0, "0"},
    {PAGE_WRITECOPY, "PAGE_WRITECOPY"},
    {PAGE_EXECUTE_WRITECOPY, "PAGE_EXECUTE_WRITECOPY"},
    {PAGE_NOACCESS | PAGE_GUARD, "PAGE_NOACCESS|PAGE_GUARD"},
    {PAGE_NOACCESS | PAGE_NOCACHE, "PAGE_NOACCESS|PAGE_NOCACHE"},
    {PAGE_READONLY | PAGE_READWRITE, "PAGE_READONLY|PAGE_READWRITE"},
    {PAGE_READWRITE | PAGE_EXECUTE, "PAGE_READWRITE|PAGE_EXECUTE"},
    {PAGE_NOACCESS | PAGE_READONLY, "PAGE_NOACCESS|PAGE_READONLY"},
    {PAGE_GUARD, "PAGE_GUARD alone"},
    {PAGE_NOCACHE, "PAGE_NOCACHE alone"},
    {PAGE_GUARD | PAGE_NOCACHE, "PAGE_GUARD|PAGE_NOCACHE"},
    {PAGE_READWRITE | 0x400u, "PAGE_READWRITE|0x400 (PAGE_PHYSICAL/WRITECOMBINE)"},
    {PAGE_READWRITE | 0x800u, "PAGE_READWRITE|0x800"},
    {PAGE_READWRITE | 0x1000u, "PAGE_READWRITE|0x1000"},
    {PAGE_READWRITE | 0x40000000u, "PAGE_READWRITE|0x40000000 (x86 WRITETHRU, not in the contract)"},
    {PAGE_READWRITE | 0x80000000u, "PAGE_READWRITE|0x80000000"},
    {0xFFu, "0xFF"},
    {0xFFFFFFFFu, "0xFFFFFFFF"},
};
#define N_BAD_PROTECTIONS (sizeof BAD_PROTECTIONS / sizeof BAD_PROTECTIONS[0])

#endif /* COREDLL_CHECK_H */
