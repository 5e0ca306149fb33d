/* SIGSEGV chaining (ce6 profile, default auto-commit mode): spec4.md "SIGSEGV handler", issue 4
 * item 1, PAGE-MANAGER.md §6.5 "Chaining" and "Handlers the host installs later".
 *
 * Each scenario runs in a fork()ed child that starts with SIGSEGV at SIG_DFL and no guard page (the
 * parent never creates one), so the program's own handler can be installed before or after the
 * library's. The program's "own" faults are on a PROT_NONE page it mmapped itself, outside the
 * library's window. Scenarios that must die run in a grandchild with an alarm (a hang is SIGALRM,
 * not a stuck suite). */
#include "check.h"
#include "fault_util.h"

#include <setjmp.h>

static char *own; /* one PROT_NONE page of the program's own */

static atomic_int guard_calls;
static LONG guard_handler(const coredll_exception_info *i) {
    (void)i;
    atomic_fetch_add(&guard_calls, 1);
    return EXCEPTION_CONTINUE_EXECUTION;
}

static atomic_int my_calls;
static void *volatile my_addr;
static volatile int my_code, my_signo, my_uc;
static volatile int my_longjmp; /* 1: escape with siglongjmp instead of fixing the page */
static sigjmp_buf my_env;
static struct sigaction prev_sa; /* what was installed before the program's handler (after case) */
static atomic_int chained;       /* faults the after-handler passed on */

static int is_own(const void *a) { return (const char *)a >= own && (const char *)a < own + 4096; }

static void note(const char *s) {
    ssize_t w = write(2, s, strlen(s));
    (void)w;
}

/* (a) the program's SA_SIGINFO handler, installed before the library's. */
static void before_handler(int sig, siginfo_t *si, void *uc) {
    if (sig == SIGSEGV && si != NULL && is_own(si->si_addr)) {
        atomic_fetch_add(&my_calls, 1);
        my_addr = si->si_addr;
        my_code = si->si_code;
        my_signo = si->si_signo;
        my_uc = uc != NULL;
        if (my_longjmp) siglongjmp(my_env, 1);
        mprotect(own, 4096, PROT_READ | PROT_WRITE);
        return;
    }
    note("[program handler: not mine]\n");
    signal(SIGSEGV, SIG_DFL); /* not ours: let it fault again under the default action */
}

/* (b) the program's handler installed after the library's: handles its own page, chains the rest. */
static void after_handler(int sig, siginfo_t *si, void *uc) {
    if (sig == SIGSEGV && si != NULL && is_own(si->si_addr)) {
        atomic_fetch_add(&my_calls, 1);
        my_addr = si->si_addr;
        mprotect(own, 4096, PROT_READ | PROT_WRITE);
        return;
    }
    atomic_fetch_add(&chained, 1);
    if (prev_sa.sa_flags & SA_SIGINFO) {
        prev_sa.sa_sigaction(sig, si, uc);
    } else if (prev_sa.sa_handler == SIG_DFL || prev_sa.sa_handler == SIG_IGN) {
        signal(SIGSEGV, SIG_DFL);
    } else {
        prev_sa.sa_handler(sig);
    }
}

/* (c) a plain handler installed before the library's. */
static void plain_handler(int sig) {
    (void)sig;
    atomic_fetch_add(&my_calls, 1);
    mprotect(own, 4096, PROT_READ | PROT_WRITE);
}

static unsigned char rd(const void *p) { return *(const volatile unsigned char *)p; }
static void wr(void *p, unsigned char v) { *(volatile unsigned char *)p = v; }

static int map_own(void) {
    own = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int ok = own != MAP_FAILED;
    CHECK("setup: the program's own PROT_NONE page (outside the window)", ok && !in_window(0, own, 4096));
    if (!ok) own = NULL;
    return ok;
}

static char *new_guard(void) {
    char *g = VirtualAlloc(NULL, 0x2000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD);
    CHECK("setup: two guard pages", g != NULL);
    return g;
}

/* Two guard pages: each fires once (a read, then a write that lands), nothing reaches `mine`. */
static void check_guards_work(const char *what, char *g) {
    char nm[200];
    atomic_store(&guard_calls, 0);
    int before = atomic_load(&my_calls);
    unsigned char v = rd(g + 0x10);
    wr(g + 0x1010, 0x7E);
    snprintf(nm, sizeof nm, "%s: guard pages fire once each (2 calls)", what);
    CHECK_EQ_U(nm, atomic_load(&guard_calls), 2);
    snprintf(nm, sizeof nm, "%s: the guarded read reads zero and the guarded write lands", what);
    CHECK(nm, v == 0 && rd(g + 0x1010) == 0x7E);
    snprintf(nm, sizeof nm, "%s: guard faults did not reach the program's own handler", what);
    CHECK_EQ_U(nm, atomic_load(&my_calls), before);
    snprintf(nm, sizeof nm, "%s: the guard pages are PAGE_READWRITE afterwards", what);
    CHECK_QUERY(nm, g, g, g, 0x2000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
}

/* Grandchild bodies: an access the library does not own; must end by SIGSEGV. */
static void stray_read(void *p) { (void)rd(p); }
static void stray_write(void *p) { wr(p, 1); }
static void stray_kill(void *p) {
    (void)p;
    kill(getpid(), SIGSEGV);
    sleep(30); /* the alarm (20 s) ends a survivor */
}

/* Runs body(p) in a grandchild; CHECKs it died by SIGSEGV; returns its stderr in err. */
static void expect_segv(const char *name, void (*body)(void *), void *p, char *err, size_t errsz) {
    int st = 0;
    char d[300];
    int ran = run_captured(body, p, 20, &st, err, errsz);
    describe_status(st, d, sizeof d);
    check_record(ran && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, name, __FILE__, __LINE__,
                 "WIFSIGNALED && WTERMSIG == SIGSEGV", d);
}

/* ---- (a) SA_SIGINFO handler installed before the library's ---- */

static void before_child(void *arg) {
    (void)arg;
    if (!map_own()) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = before_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    CHECK("setup: install the program's SA_SIGINFO handler", sigaction(SIGSEGV, &sa, NULL) == 0);

    char *rw = VirtualAlloc(NULL, 0x10000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    char *rs = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    char *ac = VirtualAlloc(NULL, 0x10000, MEM_RESERVE | MEM_AUTO_COMMIT, PAGE_READWRITE);
    CHECK("setup: reservations", rw != NULL && rs != NULL && ac != NULL);
    struct sigaction cur = segv_action();
    CHECK("no guard page yet (lazy auto-commit): the program's handler is still the installed one",
          (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == before_handler);

    wr(own + 0x20, 1);
    CHECK_EQ_U("before the library's handler: the program's own fault reaches it", atomic_load(&my_calls), 1);
    mprotect(own, 4096, PROT_NONE);

    coredll_set_exception_handler(guard_handler);
    char *g = new_guard();
    if (g == NULL) return;
    cur = segv_action();
    CHECK("the first guard page installs the library's handler over the program's",
          (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction != before_handler);

    atomic_store(&my_calls, 0);
    wr(own + 0x123, 0x55);
    CHECK_EQ_U("write to the program's PROT_NONE page still reaches its handler (once)", atomic_load(&my_calls), 1);
    CHECK_EQ_P("...with the exact si_addr", my_addr, own + 0x123);
    CHECK("...si_signo SIGSEGV, si_code SEGV_ACCERR, a ucontext", my_signo == SIGSEGV && my_code == SEGV_ACCERR && my_uc);
    CHECK_EQ_U("...and the access completed after the handler fixed the page", rd(own + 0x123), 0x55);

    check_guards_work("handler installed before", g);

    /* The program's handler escapes with siglongjmp (no fix): both handlers are left for good. */
    mprotect(own, 4096, PROT_NONE);
    atomic_store(&my_calls, 0);
    my_longjmp = 1;
    volatile int escaped = 0;
    if (sigsetjmp(my_env, 1) == 0) {
        (void)rd(own + 8);
    } else {
        escaped = 1;
    }
    my_longjmp = 0;
    CHECK("the program's handler can siglongjmp out of the chain", escaped == 1 && atomic_load(&my_calls) == 1);
    char *g2 = new_guard();
    if (g2 != NULL) check_guards_work("after a siglongjmp out of the chain", g2);

    /* A fault on a library page it does not own (reserved, not auto-commit) goes to the program's
     * handler, which here gives it the default action. */
    char err[1024];
    expect_segv("reserved window page with the program's handler before: SIGSEGV", stray_read, rs + 0x100, err,
                sizeof err);
    char d[300];
    snprintf(d, sizeof d, "stderr: \"%.200s\"", err);
    check_record(strstr(err, "[program handler: not mine]") != NULL,
                 "...the reserved-page fault was passed to the program's handler", __FILE__, __LINE__,
                 "program handler note", d);
}

/* ---- (b) handler installed after the library's, chaining ---- */

static void after_child(void *arg) {
    (void)arg;
    if (!map_own()) return;
    coredll_set_exception_handler(guard_handler);
    char *g = new_guard();
    char *rs = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    if (g == NULL || rs == NULL) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = after_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    CHECK("setup: install the program's handler after the library's (saving the previous one)",
          sigaction(SIGSEGV, &sa, &prev_sa) == 0);
    CHECK("the previous handler was the library's (SA_SIGINFO)", (prev_sa.sa_flags & SA_SIGINFO) &&
                                                                  prev_sa.sa_sigaction != NULL &&
                                                                  prev_sa.sa_sigaction != after_handler);

    atomic_store(&chained, 0);
    check_guards_work("handler installed after, chaining", g);
    CHECK_EQ_U("...both guard faults went through the program's handler first", atomic_load(&chained), 2);

    atomic_store(&my_calls, 0);
    wr(own + 0x200, 0x66);
    CHECK_EQ_U("the program's own fault reaches its handler", atomic_load(&my_calls), 1);
    CHECK_EQ_P("...with the exact si_addr", my_addr, own + 0x200);
    CHECK_EQ_U("...and the access completed", rd(own + 0x200), 0x66);

    char *g2 = new_guard();
    struct sigaction cur = segv_action();
    CHECK("a later guard page does not reinstall the library's handler over the program's",
          (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == after_handler);
    if (g2 != NULL) check_guards_work("guard pages made after the program's handler", g2);

    char err[512];
    expect_segv("program handler -> library handler -> SIG_DFL: stray read of a reserved page dies by SIGSEGV",
                stray_read, rs, err, sizeof err);
    expect_segv("...and a stray write", stray_write, rs + 0x2000, err, sizeof err);
}

/* ---- (c) plain handler installed before the library's ---- */

static void plain_child(void *arg) {
    (void)arg;
    if (!map_own()) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = plain_handler;
    sigemptyset(&sa.sa_mask);
    CHECK("setup: install a plain (non-SA_SIGINFO) handler", sigaction(SIGSEGV, &sa, NULL) == 0);
    coredll_set_exception_handler(guard_handler);
    char *g = new_guard();
    if (g == NULL) return;
    struct sigaction cur = segv_action();
    CHECK("the library's handler is installed over the plain one", (cur.sa_flags & SA_SIGINFO) != 0);
    atomic_store(&my_calls, 0);
    wr(own + 0x40, 0x31);
    CHECK_EQ_U("plain prior handler: the program's fault reaches it (once)", atomic_load(&my_calls), 1);
    CHECK_EQ_U("...and the access completed", rd(own + 0x40), 0x31);
    check_guards_work("plain handler before", g);
    mprotect(own, 4096, PROT_NONE);
    CHECK_EQ_U("a second own fault reaches the plain handler too", (rd(own), atomic_load(&my_calls)), 2);
}

/* ---- (d) SIG_DFL / SIG_IGN before: stray accesses die honestly ---- */

static void dfl_child(void *arg) {
    (void)arg;
    if (!map_own()) return;
    coredll_set_exception_handler(guard_handler);
    char *g = new_guard();
    char *rs = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    char *ro = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READONLY);
    if (g == NULL || rs == NULL || ro == NULL) return;
    struct sigaction cur = segv_action();
    CHECK("SIG_DFL before: the library's handler is installed", (cur.sa_flags & SA_SIGINFO) != 0);
    check_guards_work("SIG_DFL before", g);
    char err[512];
    expect_segv("SIG_DFL before: stray read of a reserved page -> SIGSEGV", stray_read, rs + 0x1000, err, sizeof err);
    expect_segv("SIG_DFL before: stray write to a reserved page -> SIGSEGV", stray_write, rs, err, sizeof err);
    expect_segv("SIG_DFL before: write to a PAGE_READONLY page -> SIGSEGV", stray_write, ro, err, sizeof err);
    expect_segv("SIG_DFL before: read of the free tail of a guard reservation's block -> SIGSEGV", stray_read,
                g + 0x2000, err, sizeof err);
    expect_segv("SIG_DFL before: fault outside the window -> SIGSEGV", stray_read, own, err, sizeof err);
    expect_segv("SIG_DFL before: kill(getpid(), SIGSEGV) still kills by SIGSEGV", stray_kill, NULL, err, sizeof err);
}

static void ign_body(void *p) {
    signal(SIGSEGV, SIG_IGN);
    coredll_set_exception_handler(guard_handler);
    char *g = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD);
    if (g == NULL) _exit(5);
    (void)rd(g);
    if (atomic_load(&guard_calls) != 1) _exit(6);
    (void)rd(p);
}

static void ign_child(void *arg) {
    (void)arg;
    char *rs = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    if (rs == NULL) return;
    char err[512];
    expect_segv("SIG_IGN before: the guard works, then a stray read of a reserved page -> SIGSEGV (no hang)", ign_body,
                rs, err, sizeof err);
}

/* A SIGSEGV sent with kill() is not a fault: under SIG_IGN before, it is ignored, and the library's
 * handler stays in place for the guard pages that come after it. Exit 0 = all as expected. */
static void ign_kill_body(void *p) {
    (void)p;
    signal(SIGSEGV, SIG_IGN);
    coredll_set_exception_handler(guard_handler);
    char *g = VirtualAlloc(NULL, 0x2000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD);
    if (g == NULL) _exit(5);
    (void)rd(g);
    kill(getpid(), SIGSEGV); /* ignored */
    (void)rd(g + 0x1000);
    _exit(atomic_load(&guard_calls) == 2 ? 0 : 6);
}

static void ign_kill_child(void *arg) {
    (void)arg;
    int st = 0;
    char err[512], d[300];
    int ran = run_captured(ign_kill_body, NULL, 20, &st, err, sizeof err);
    describe_status(st, d, sizeof d);
    check_record(ran && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                 "SIG_IGN before: kill(getpid(), SIGSEGV) is ignored and later guard pages still work", __FILE__,
                 __LINE__, "exit status 0", d);
}

/* (f) kill()-sent SIGSEGV reaches a prior SA_SIGINFO handler as SI_USER; guard pages keep working. */
static atomic_int user_calls;
static volatile int user_pid;
static void user_handler(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    if (sig == SIGSEGV && si != NULL && si->si_code == SI_USER) {
        atomic_fetch_add(&user_calls, 1);
        user_pid = si->si_pid;
        return;
    }
    signal(SIGSEGV, SIG_DFL);
}

static void sent_child(void *arg) {
    (void)arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = user_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    CHECK("setup: install the program's SA_SIGINFO handler", sigaction(SIGSEGV, &sa, NULL) == 0);
    coredll_set_exception_handler(guard_handler);
    char *g = new_guard();
    if (g == NULL) return;
    kill(getpid(), SIGSEGV);
    CHECK_EQ_U("kill(getpid(), SIGSEGV) reaches the program's prior handler once", atomic_load(&user_calls), 1);
    CHECK("...as SI_USER from this pid", user_pid == getpid());
    check_guards_work("after a kill()-sent SIGSEGV", g);
}

int main(void) {
    CHECK("the test starts with SIGSEGV at SIG_DFL", segv_is_default());
    check_child("(a) SA_SIGINFO handler installed before the library's", before_child, NULL);
    check_child("(b) handler installed after the library's, chaining", after_child, NULL);
    check_child("(c) plain handler installed before the library's", plain_child, NULL);
    check_child("(d) SIG_DFL before", dfl_child, NULL);
    check_child("(e) SIG_IGN before", ign_child, NULL);
    check_child("(e) SIG_IGN before, kill()-sent SIGSEGV", ign_kill_child, NULL);
    check_child("(f) kill()-sent SIGSEGV with a prior SA_SIGINFO handler", sent_child, NULL);
    return check_summary();
}
