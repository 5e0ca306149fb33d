/* PAGE_GUARD (ce6 profile, default auto-commit mode): spec4.md "Configuration" (PAGE_GUARD),
 * "Header additions", "The library's own accesses to caller memory", "SIGSEGV handler";
 * CONTRACT.md "PAGE_GUARD"; issue 4 items 3-4.
 *
 * The parent process never creates a guard page and never registers a handler: every scenario runs
 * in a fork()ed child (check_child), so each starts with no SIGSEGV handler installed and a library
 * bug that kills the process costs one check. Scenarios that must end the process (unhandled guard
 * exceptions) run in a grandchild whose stderr is captured (run_captured). */
#include "check.h"
#include "fault_util.h"

#define SELF GetCurrentProcess()

/* ---- the recording handler ---- */

static atomic_int h_calls;
static coredll_exception_info h_info;
static LONG h_ret = EXCEPTION_CONTINUE_EXECUTION;
static pthread_t h_thread;
static char *h_alt_lo, *h_alt_hi;
static int h_on_alt;
static int h_note; /* write "[guard-handler N]\n" (N = AccessType) to stderr on each call */

static LONG recorder(const coredll_exception_info *i) {
    char local = 0;
    h_info = *i;
    h_thread = pthread_self();
    h_on_alt = h_alt_lo != NULL && &local >= h_alt_lo && &local < h_alt_hi;
    if (h_note) {
        char msg[] = "[guard-handler ?]\n";
        msg[15] = (char)('0' + (i->AccessType % 10));
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
    }
    atomic_fetch_add(&h_calls, 1);
    return h_ret;
}

static LONG other_handler(const coredll_exception_info *i) {
    (void)i;
    return EXCEPTION_CONTINUE_EXECUTION;
}

static void reset_recorder(void) {
    atomic_store(&h_calls, 0);
    memset(&h_info, 0, sizeof h_info);
    h_ret = EXCEPTION_CONTINUE_EXECUTION;
}

static int calls(void) { return atomic_load(&h_calls); }

/* The handler's record of the last call: one check, every mismatch printed. */
static void check_info_(const char *name, int line, DWORD access, const void *addr, const void *ip) {
    char d[400];
    int ok = h_info.ExceptionCode == STATUS_GUARD_PAGE_VIOLATION && h_info.AccessType == access &&
             h_info.Address == addr && h_info.InstructionAddress != NULL;
#if defined(__x86_64__)
    ok = ok && h_info.InstructionAddress == ip;
#else
    (void)ip;
#endif
    snprintf(d, sizeof d,
             "ExceptionCode 0x%x (want 0x80000001), AccessType %u (want %u), Address %p (want %p), "
             "InstructionAddress %p (want %p)",
             (unsigned)h_info.ExceptionCode, (unsigned)h_info.AccessType, (unsigned)access, h_info.Address, addr,
             h_info.InstructionAddress, ip);
    check_record(ok, name, __FILE__, line, "coredll_exception_info", d);
}
#define CHECK_INFO(name, access, addr, ip) check_info_((name), __LINE__, (access), (addr), (ip))

static unsigned char rd(const void *p) { return *(const volatile unsigned char *)p; }
static void wr(void *p, unsigned char v) { *(volatile unsigned char *)p = v; }
static uint32_t rd32(const void *p) { return *(const volatile uint32_t *)p; }

static char *guard_alloc(DWORD size, DWORD prot) {
    char *g = CALL(VirtualAlloc(NULL, size, MEM_RESERVE | MEM_COMMIT, prot));
    CHECK("setup: committed guard allocation, last error 0", g != NULL && GetLastError() == 0);
    return g;
}

/* ---- API: header constants, coredll_set_exception_handler, handler installation ---- */

static void api_child(void *arg) {
    (void)arg;
    CHECK_EQ_U("STATUS_GUARD_PAGE_VIOLATION", STATUS_GUARD_PAGE_VIOLATION, 0x80000001u);
    CHECK_EQ_U("EXCEPTION_EXECUTE_HANDLER", (int64_t)EXCEPTION_EXECUTE_HANDLER, 1);
    CHECK_EQ_U("EXCEPTION_CONTINUE_SEARCH", (int64_t)EXCEPTION_CONTINUE_SEARCH, 0);
    CHECK_EQ_U("EXCEPTION_CONTINUE_EXECUTION", (int64_t)EXCEPTION_CONTINUE_EXECUTION, (int64_t)-1);
    CHECK_EQ_U("sizeof(coredll_exception_info)", sizeof(coredll_exception_info), 24);
    CHECK("coredll_exception_info field offsets 0/4/8/16",
          offsetof(coredll_exception_info, ExceptionCode) == 0 && offsetof(coredll_exception_info, AccessType) == 4 &&
              offsetof(coredll_exception_info, Address) == 8 &&
              offsetof(coredll_exception_info, InstructionAddress) == 16);

    CHECK_EQ_P("first coredll_set_exception_handler returns NULL", coredll_set_exception_handler(recorder), NULL);
    CHECK_EQ_P("second returns the first handler", coredll_set_exception_handler(other_handler), recorder);
    CHECK_EQ_P("setting NULL returns the second handler", coredll_set_exception_handler(NULL), other_handler);
    CHECK_EQ_P("after NULL, the previous one is NULL", coredll_set_exception_handler(recorder), NULL);
    CHECK_EQ_P("setting the same handler again returns it", coredll_set_exception_handler(recorder), recorder);
    CHECK("registering a handler installs no SIGSEGV handler", segv_is_default());
    char *p = VirtualAlloc(NULL, 0x2000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    CHECK("an ordinary commit installs no SIGSEGV handler", p != NULL && segv_is_default());

    char *g = guard_alloc(0x1000, PAGE_READWRITE | PAGE_GUARD);
    struct sigaction sa = segv_action();
    CHECK("the first guard page commit installs an SA_SIGINFO SIGSEGV handler",
          (sa.sa_flags & SA_SIGINFO) && sa.sa_sigaction != NULL);
    CHECK_EQ_U("its flags include SA_SIGINFO|SA_ONSTACK|SA_NODEFER|SA_RESTART",
               (unsigned)sa.sa_flags & SEGV_FLAGS_WANTED, SEGV_FLAGS_WANTED);
    (void)g;
}

static void install_by_protect_child(void *arg) {
    (void)arg;
    char *p = VirtualAlloc(NULL, 0x2000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    CHECK("setup: committed page, no SIGSEGV handler yet", p != NULL && segv_is_default());
    if (p == NULL) return;
    DWORD old = 0;
    CHECK_RET_ERR("VirtualProtect adds PAGE_GUARD", VirtualProtect(p, 0x1000, PAGE_READWRITE | PAGE_GUARD, &old), TRUE,
                  LE_UNTOUCHED);
    struct sigaction sa = segv_action();
    CHECK("the first VirtualProtect to PAGE_GUARD installs an SA_SIGINFO SIGSEGV handler",
          (sa.sa_flags & SA_SIGINFO) && sa.sa_sigaction != NULL);
    coredll_set_exception_handler(recorder);
    reset_recorder();
    CHECK_EQ_U("...and the guard works: read reads zero", rd(p + 0x10), 0);
    CHECK_EQ_U("...handler called once", calls(), 1);
}

/* ---- one-shot read and write, exact record, resume ---- */

static void fire_child(void *arg) {
    (void)arg;
    CHECK_EQ_P("register the recording handler (previous NULL)", coredll_set_exception_handler(recorder), NULL);
    reset_recorder();
    char *g = guard_alloc(0x3000, PAGE_READWRITE | PAGE_GUARD);
    if (g == NULL) return;
    CHECK_QUERY("fresh guard pages: MEM_COMMIT PAGE_READWRITE|PAGE_GUARD", g, g, g, 0x3000, MEM_COMMIT,
                PAGE_READWRITE | PAGE_GUARD, MEM_PRIVATE);
    CHECK_PERMS("an untouched guard page is inaccessible for the kernel", g, "---p");
    CHECK_EQ_U("VirtualQuery does not fire the guard", calls(), 0);

    void *ip = NULL;
    unsigned char v = load8_ip(g + 0x123, &ip);
    CHECK_EQ_U("read of a guard page: the handler is called exactly once", calls(), 1);
    CHECK_INFO("read: STATUS_GUARD_PAGE_VIOLATION, AccessType 0, exact address and instruction", 0, g + 0x123, ip);
    CHECK("read: the handler ran on the faulting thread", pthread_equal(h_thread, pthread_self()));
    CHECK_EQ_U("read: the access completes and reads zero", v, 0);
    CHECK_QUERY("after the read: page 0 is PAGE_READWRITE without PAGE_GUARD", g, g, g, 0x1000, MEM_COMMIT,
                PAGE_READWRITE, MEM_PRIVATE);
    CHECK_QUERY("after the read: pages 1..2 still PAGE_GUARD", g + 0x1000, g + 0x1000, g, 0x2000, MEM_COMMIT,
                PAGE_READWRITE | PAGE_GUARD, MEM_PRIVATE);
    CHECK_PERMS("after the read: page 0 is rw for the kernel", g, "rw-p");
    CHECK_PERMS("after the read: page 1 still inaccessible", g + 0x1000, "---p");

    (void)rd(g + 0x124);
    wr(g + 0x10, 0x61);
    CHECK_EQ_U("second read and a write of the fired page: no further call", calls(), 1);
    CHECK_EQ_U("the write to the fired page is there", rd(g + 0x10), 0x61);

    DWORD old = 0;
    CHECK_RET_ERR("VirtualProtect of an unfired guard page", VirtualProtect(g + 0x1000, 0x1000, PAGE_READWRITE, &old),
                  TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("...*old reports PAGE_READWRITE|PAGE_GUARD until it fires", old, PAGE_READWRITE | PAGE_GUARD);
    (void)rd(g + 0x1000);
    CHECK_EQ_U("a guard removed by VirtualProtect does not fire", calls(), 1);

    reset_recorder();
    store32_ip(g + 0x2FFC, 0xFEEDF00Du, &ip);
    CHECK_EQ_U("write to a guard page: the handler is called exactly once", calls(), 1);
    CHECK_INFO("write: STATUS_GUARD_PAGE_VIOLATION, AccessType 1, exact address and instruction", 1, g + 0x2FFC, ip);
    CHECK_EQ_U("write: the access completes (value present)", rd32(g + 0x2FFC), 0xFEEDF00Du);
    CHECK_EQ_U("write: the kernel sees the value too", peek_dword(g + 0x2FFC), 0xFEEDF00Du);
    CHECK("write: the rest of the page reads zero", check_bytes_are(g + 0x2000, 0xFFC, 0));
    CHECK_EQ_U("reads after the write call nothing", calls(), 1);
    CHECK_QUERY("all three pages PAGE_READWRITE: one run", g, g, g, 0x3000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    old = 0;
    CHECK_RET_ERR("VirtualProtect of a fired guard page", VirtualProtect(g + 0x2000, 0x1000, PAGE_READWRITE, &old),
                  TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("...*old = the base protection, without PAGE_GUARD", old, PAGE_READWRITE);
    CHECK_RET_ERR("release", VirtualFree(g, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);
}

/* errno and the last error survive a guard exception; a store straddling two guard pages. */
static void state_child(void *arg) {
    (void)arg;
    coredll_set_exception_handler(recorder);
    reset_recorder();
    char *g = guard_alloc(0x3000, PAGE_READWRITE | PAGE_GUARD);
    if (g == NULL) return;
    errno = 4242;
    SetLastError(0x1234);
    (void)rd(g);
    int e = errno;
    DWORD le = GetLastError();
    CHECK_EQ_U("setup: one guard call", calls(), 1);
    CHECK_EQ_U("a guard exception leaves errno alone", e, 4242);
    CHECK_EQ_U("a guard exception leaves the last error alone", le, 0x1234);
    reset_recorder();
    *(volatile uint64_t *)(g + 0x1FFC) = 0x1122334455667788ull;
    CHECK_EQ_U("a store straddling two guard pages: one call per page", calls(), 2);
    CHECK_EQ_U("...the store lands whole", *(volatile uint64_t *)(g + 0x1FFC), 0x1122334455667788ull);
    CHECK_QUERY("...all three pages PAGE_READWRITE", g, g, g, 0x3000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
}

/* CE's stack-growth pattern: the handler moves the guard to the next page with VirtualProtect. */
static char *mv_base;
static atomic_int mv_calls, mv_protect_ok;
static LONG mover(const coredll_exception_info *i) {
    atomic_fetch_add(&mv_calls, 1);
    char *page = (char *)((uintptr_t)i->Address & ~(uintptr_t)0xFFF);
    DWORD old = 0;
    if (page + 0x1000 < mv_base + 0x8000 &&
        VirtualProtect(page + 0x1000, 0x1000, PAGE_READWRITE | PAGE_GUARD, &old) && old == PAGE_READWRITE)
        atomic_fetch_add(&mv_protect_ok, 1);
    return EXCEPTION_CONTINUE_EXECUTION;
}

static void mover_child(void *arg) {
    (void)arg;
    alarm(20); /* a deadlock between the handler and VirtualProtect ends as SIGALRM */
    coredll_set_exception_handler(mover);
    mv_base = VirtualAlloc(NULL, 0x8000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    CHECK("setup: 8 pages", mv_base != NULL);
    if (mv_base == NULL) return;
    DWORD old = 0;
    CHECK("setup: guard on page 0", VirtualProtect(mv_base, 0x1000, PAGE_READWRITE | PAGE_GUARD, &old) == TRUE);
    for (int i = 0; i < 8; i++) wr(mv_base + (size_t)i * 0x1000 + 0x10, (unsigned char)(i + 1));
    CHECK_EQ_U("touching 8 pages in order: the moving guard fires on each", atomic_load(&mv_calls), 8);
    CHECK_EQ_U("...VirtualProtect from inside the handler worked 7 times", atomic_load(&mv_protect_ok), 7);
    int ok = 1;
    for (int i = 0; i < 8; i++) ok &= rd(mv_base + (size_t)i * 0x1000 + 0x10) == i + 1;
    CHECK("...every write landed", ok);
    CHECK_QUERY("...no guard left", mv_base, mv_base, mv_base, 0x8000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    alarm(0);
}

/* memcpy over two guard pages: one call per page. */
static void two_pages_child(void *arg) {
    (void)arg;
    coredll_set_exception_handler(recorder);
    reset_recorder();
    char *g = guard_alloc(0x2000, PAGE_READWRITE | PAGE_GUARD);
    if (g == NULL) return;
    static char src[0x2000];
    memset(src, 0x3E, sizeof src);
    memcpy(g, src, sizeof src);
    CHECK_EQ_U("memcpy over two guard pages: two handler calls, one per page", calls(), 2);
    CHECK("memcpy over two guard pages: all bytes arrived", check_bytes_are(g, 0x2000, 0x3E));
    CHECK_QUERY("both pages PAGE_READWRITE", g, g, g, 0x2000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
}

/* ---- PAGE_GUARD added by VirtualProtect, and other base protections ---- */

static void protect_guard_child(void *arg) {
    (void)arg;
    coredll_set_exception_handler(recorder);
    reset_recorder();
    char *p = VirtualAlloc(NULL, 0x3000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    CHECK("setup: 3 committed pages", p != NULL);
    if (p == NULL) return;
    memset(p, 0x5C, 0x3000);
    DWORD old = 0;
    CHECK_RET_ERR("VirtualProtect page 1 to PAGE_READWRITE|PAGE_GUARD",
                  VirtualProtect(p + 0x1000, 0x1000, PAGE_READWRITE | PAGE_GUARD, &old), TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("...*old = PAGE_READWRITE", old, PAGE_READWRITE);
    CHECK_QUERY("page 1 reports PAGE_READWRITE|PAGE_GUARD", p + 0x1000, p + 0x1000, p, 0x1000, MEM_COMMIT,
                PAGE_READWRITE | PAGE_GUARD, MEM_PRIVATE);
    CHECK_PERMS("page 1 inaccessible for the kernel", p + 0x1000, "---p");
    CHECK_EQ_U("adding PAGE_GUARD fires nothing", calls(), 0);
    void *ip = NULL;
    unsigned char v = load8_ip(p + 0x1800, &ip);
    CHECK_EQ_U("read: one handler call", calls(), 1);
    CHECK_INFO("read of the VirtualProtect guard page: record", 0, p + 0x1800, ip);
    CHECK_EQ_U("read: the page kept its contents", v, 0x5C);
    CHECK_QUERY("after firing: pages 0..2 one PAGE_READWRITE run", p, p, p, 0x3000, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);

    /* Committing committed pages with PAGE_GUARD replaces the protection: a guard again. */
    CHECK_RET_ERR("MEM_COMMIT over committed page 2 with PAGE_READWRITE|PAGE_GUARD",
                  VirtualAlloc(p + 0x2000, 0x1000, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD), p + 0x2000, 0);
    CHECK_QUERY("page 2 reports PAGE_GUARD", p + 0x2000, p + 0x2000, p, 0x1000, MEM_COMMIT,
                PAGE_READWRITE | PAGE_GUARD, MEM_PRIVATE);
    reset_recorder();
    store32_ip(p + 0x2008, 0x12345678u, &ip);
    CHECK_EQ_U("write to the re-committed guard page: one call", calls(), 1);
    CHECK_INFO("write to the re-committed guard page: record", 1, p + 0x2008, ip);
    CHECK_EQ_U("...the write went through", rd32(p + 0x2008), 0x12345678u);
    CHECK_EQ_U("...the rest of the page kept its contents", rd(p + 0x2FFF), 0x5C);
    VirtualFree(p, 0, MEM_RELEASE);
}

/* Guard on PAGE_READONLY: read fires, then the page is readable and still not writable. */
static void ro_write_child(void *arg) {
    char *g = arg;
    h_note = 1;
    h_ret = EXCEPTION_CONTINUE_EXECUTION;
    coredll_set_exception_handler(recorder);
    wr(g, 1); /* guard fires (write), then the page is PAGE_READONLY: the write faults again */
}

static void readonly_child(void *arg) {
    (void)arg;
    coredll_set_exception_handler(recorder);
    reset_recorder();
    char *g = guard_alloc(0x2000, PAGE_READONLY | PAGE_GUARD);
    if (g == NULL) return;
    CHECK_QUERY("PAGE_READONLY|PAGE_GUARD reported", g, g, g, 0x2000, MEM_COMMIT, PAGE_READONLY | PAGE_GUARD,
                MEM_PRIVATE);
    void *ip = NULL;
    unsigned char v = load8_ip(g + 8, &ip);
    CHECK_EQ_U("read of a read-only guard page: one call", calls(), 1);
    CHECK_INFO("read of a read-only guard page: record", 0, g + 8, ip);
    CHECK_EQ_U("...reads zero", v, 0);
    CHECK_QUERY("...then PAGE_READONLY without PAGE_GUARD", g, g, g, 0x1000, MEM_COMMIT, PAGE_READONLY, MEM_PRIVATE);
    CHECK_PERMS("...then r-- for the kernel", g, "r--p");
    (void)rd(g + 0xFFF);
    CHECK_EQ_U("...then readable without a further call", calls(), 1);
    check_expect_signal("write to the fired read-only guard page -> SIGSEGV", ro_write_child, g, SIGSEGV);

    /* First access a write: the guard fires (AccessType 1), the write is retried on the read-only
     * page and faults as an ordinary access violation. */
    int st = 0;
    char err[2048], d[300];
    int ran = run_captured(ro_write_child, g + 0x1000, 20, &st, err, sizeof err);
    describe_status(st, d, sizeof d);
    check_record(ran && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
                 "first access a write to a read-only guard page: the guard fires, then SIGSEGV", __FILE__, __LINE__,
                 "WTERMSIG == SIGSEGV", d);
    int n1 = 0;
    for (const char *s = err; (s = strstr(s, "[guard-handler ")) != NULL; s++) n1++;
    snprintf(d, sizeof d, "stderr: \"%.250s\"", err);
    check_record(n1 == 1 && strstr(err, "[guard-handler 1]") != NULL,
                 "...the handler was called exactly once, with AccessType 1", __FILE__, __LINE__, "one handler call",
                 d);
    CHECK_QUERY("the parent's page 1 is untouched by the child's access", g + 0x1000, g + 0x1000, g, 0x1000,
                MEM_COMMIT, PAGE_READONLY | PAGE_GUARD, MEM_PRIVATE);
}

#if defined(__x86_64__)
/* Execute access: AccessType 8, the address and the instruction are the fetched byte. */
static void execute_child(void *arg) {
    (void)arg;
    coredll_set_exception_handler(recorder);
    reset_recorder();
    char *x = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_EXECUTE_READWRITE);
    CHECK("setup: PAGE_EXECUTE_READWRITE page", x != NULL);
    if (x == NULL) return;
    x[0] = (char)0xB8; /* mov eax, 0x2A */
    x[1] = 0x2A;
    x[2] = x[3] = x[4] = 0;
    x[5] = (char)0xC3; /* ret */
    DWORD old = 0;
    CHECK_RET_ERR("VirtualProtect to PAGE_EXECUTE_READ|PAGE_GUARD",
                  VirtualProtect(x, 0x1000, PAGE_EXECUTE_READ | PAGE_GUARD, &old), TRUE, LE_UNTOUCHED);
    int (*fn)(void) = (int (*)(void))(uintptr_t)x;
    int r = fn();
    CHECK_EQ_U("calling into an execute guard page: one handler call", calls(), 1);
    CHECK_INFO("execute: AccessType 8, Address and InstructionAddress = the fetched byte", 8, x, x);
    CHECK_EQ_U("execute: the code ran after the handler resumed", r, 0x2A);
    CHECK_QUERY("execute: PAGE_EXECUTE_READ without PAGE_GUARD", x, x, x, 0x1000, MEM_COMMIT, PAGE_EXECUTE_READ,
                MEM_PRIVATE);
}
#endif

/* ---- unhandled guard exceptions end the process ---- */

struct unhandled_arg {
    char *addr;
    int write;
    int set; /* 0: no handler; 1: recorder returning h_ret */
    LONG ret;
};

static void unhandled_grandchild(void *arg) {
    struct unhandled_arg *u = arg;
    if (u->set) {
        h_note = 1;
        h_ret = u->ret;
        coredll_set_exception_handler(recorder);
    } else {
        coredll_set_exception_handler(NULL);
    }
    if (u->write)
        wr(u->addr, 1);
    else
        (void)rd(u->addr);
}

/* The child died of SIGSEGV, its stderr has exactly one line starting with the unhandled-exception
 * prefix, naming the address as "at 0x<hex>", and (when a handler is set) one handler call. */
static void check_unhandled(const char *what, struct unhandled_arg *u) {
    int st = 0;
    char err[4096], d[700], nm[200];
    int ran = run_captured(unhandled_grandchild, u, 20, &st, err, sizeof err);
    describe_status(st, d, sizeof d);
    snprintf(nm, sizeof nm, "%s: the process is killed by SIGSEGV", what);
    check_record(ran && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, nm, __FILE__, __LINE__, "WTERMSIG == SIGSEGV", d);

    static const char prefix[] = "coredll: unhandled exception 0x80000001 (STATUS_GUARD_PAGE_VIOLATION)";
    int lines = 0, addr_ok = 0;
    const char *s = err;
    while (*s != '\0') {
        const char *eol = strchr(s, '\n');
        size_t len = eol != NULL ? (size_t)(eol - s) : strlen(s);
        if (len >= sizeof prefix - 1 && memcmp(s, prefix, sizeof prefix - 1) == 0) {
            lines++;
            char line[512];
            size_t k = len < sizeof line - 1 ? len : sizeof line - 1;
            memcpy(line, s, k);
            line[k] = '\0';
            const char *at = strstr(line, "at 0x");
            if (at != NULL) {
                char *end = NULL;
                unsigned long long v = strtoull(at + 5, &end, 16);
                addr_ok = end != at + 5 && v == (unsigned long long)U64(u->addr);
            }
        }
        s += len + (eol != NULL);
    }
    snprintf(d, sizeof d, "address %p; stderr: \"%.500s\"", (void *)u->addr, err);
    snprintf(nm, sizeof nm, "%s: exactly one \"%s\" line on stderr", what, prefix);
    check_record(lines == 1, nm, __FILE__, __LINE__, "message line", d);
    snprintf(nm, sizeof nm, "%s: the message names the address as \"at 0x<hex>\"", what);
    check_record(addr_ok, nm, __FILE__, __LINE__, "address in the message", d);
    if (u->set) {
        int n = 0;
        for (const char *q = err; (q = strstr(q, "[guard-handler ")) != NULL; q++) n++;
        snprintf(nm, sizeof nm, "%s: the handler was called exactly once", what);
        check_record(n == 1, nm, __FILE__, __LINE__, "one handler call", d);
    }
}

static void unhandled_child(void *arg) {
    (void)arg;
    char *g = guard_alloc(0x4000, PAGE_READWRITE | PAGE_GUARD);
    if (g == NULL) return;
    struct unhandled_arg u;
    u = (struct unhandled_arg){g + 0x40, 0, 0, 0};
    check_unhandled("no handler, read", &u);
    u = (struct unhandled_arg){g + 0x1FFF, 1, 0, 0};
    check_unhandled("no handler, write", &u);
    u = (struct unhandled_arg){g + 0x2468, 0, 1, EXCEPTION_CONTINUE_SEARCH};
    check_unhandled("handler returns EXCEPTION_CONTINUE_SEARCH", &u);
    u = (struct unhandled_arg){g + 0x3004, 1, 1, EXCEPTION_EXECUTE_HANDLER};
    check_unhandled("handler returns EXCEPTION_EXECUTE_HANDLER", &u);
    CHECK_QUERY("the grandchildren's accesses did not fire the guard here", g, g, g, 0x4000, MEM_COMMIT,
                PAGE_READWRITE | PAGE_GUARD, MEM_PRIVATE);
}

/* ---- two threads touching one guard page at once ---- */

enum { ROUNDS = 100 };
struct racer {
    char *p;
    int id, round, write;
    pthread_barrier_t *bar;
    int bad;
};

static void *racer_fn(void *arg) {
    struct racer *r = arg;
    pthread_barrier_wait(r->bar);
    char *slot = r->p + 64 * (size_t)(r->id + 1);
    if (r->write) {
        uint32_t v = (uint32_t)(r->round << 8 | r->id);
        *(volatile uint32_t *)slot = v;
        if (rd32(slot) != v) r->bad++;
    } else if (rd32(r->p) != (uint32_t)r->round) {
        r->bad++;
    }
    return NULL;
}

static void race(int nthreads) {
    coredll_set_exception_handler(recorder);
    char *p = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    CHECK("setup: committed page", p != NULL);
    if (p == NULL) return;
    int not_once = 0, bad = 0, prot_fail = 0, still_guard = 0;
    char first_bad[200] = "";
    for (int round = 0; round < ROUNDS; round++) {
        *(volatile uint32_t *)p = (uint32_t)round;
        DWORD old = 0;
        if (!VirtualProtect(p, 0x1000, PAGE_READWRITE | PAGE_GUARD, &old) || old != PAGE_READWRITE) prot_fail++;
        reset_recorder();
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, (unsigned)nthreads);
        pthread_t th[8];
        struct racer rs[8];
        for (int i = 0; i < nthreads; i++) {
            rs[i] = (struct racer){p, i, round, round & 1, &bar, 0};
            pthread_create(&th[i], NULL, racer_fn, &rs[i]);
        }
        for (int i = 0; i < nthreads; i++) {
            pthread_join(th[i], NULL);
            bad += rs[i].bad;
        }
        pthread_barrier_destroy(&bar);
        int c = calls();
        if (c != 1) {
            if (not_once == 0) snprintf(first_bad, sizeof first_bad, "round %d: %d handler calls", round, c);
            not_once++;
        }
        MEMORY_BASIC_INFORMATION m;
        if (query(p, &m) != sizeof m || m.Protect != PAGE_READWRITE) still_guard++;
        if (round & 1)
            for (int i = 0; i < nthreads; i++)
                if (rd32(p + 64 * (i + 1)) != (uint32_t)(round << 8 | i)) bad++;
    }
    char nm[160], d[260];
    snprintf(nm, sizeof nm, "%d threads x %d rounds on one guard page: exactly one handler call each round", nthreads,
             ROUNDS);
    snprintf(d, sizeof d, "%d round(s) without exactly one call; first: %s", not_once, first_bad);
    check_record(not_once == 0, nm, __FILE__, __LINE__, "one call per round", d);
    snprintf(nm, sizeof nm, "%d threads racing: every read and write completed with the right value", nthreads);
    CHECK_EQ_U(nm, bad, 0);
    snprintf(nm, sizeof nm, "%d threads racing: re-arming the guard each round works (old = PAGE_READWRITE)",
             nthreads);
    CHECK_EQ_U(nm, prot_fail, 0);
    snprintf(nm, sizeof nm, "%d threads racing: after each round the page is PAGE_READWRITE", nthreads);
    CHECK_EQ_U(nm, still_guard, 0);
    VirtualFree(p, 0, MEM_RELEASE);
}

static void race2_child(void *arg) {
    (void)arg;
    race(2);
}
static void race4_child(void *arg) {
    (void)arg;
    race(4);
}

/* ---- the library's own accesses never fire the guard ---- */

static void library_access_child(void *arg) {
    (void)arg;
    coredll_set_exception_handler(recorder);
    reset_recorder();
    char *g = VirtualAlloc(NULL, 0x4000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    char *ro = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    char *other = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    CHECK("setup: allocations", g != NULL && ro != NULL && other != NULL);
    if (g == NULL || ro == NULL || other == NULL) return;
    unsigned char pat[0x4000];
    for (size_t i = 0; i < sizeof pat; i++) pat[i] = (unsigned char)(i * 31 + 7);
    memcpy(g, pat, sizeof pat);
    memset(ro, 0x4F, 0x1000);
    DWORD old = 0;
    CHECK("setup: PAGE_GUARD on 4 RW pages and on a read-only page",
          VirtualProtect(g, 0x4000, PAGE_READWRITE | PAGE_GUARD, &old) &&
              VirtualProtect(ro, 0x1000, PAGE_READONLY | PAGE_GUARD, &old));

    CHECK_RET_ERR("IsBadReadPtr on RW guard pages -> FALSE", IsBadReadPtr(g, 0x4000), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadWritePtr on a RW guard page -> FALSE", IsBadWritePtr(g + 0x1000, 0x10), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadCodePtr on a RW guard page (readable) -> FALSE", IsBadCodePtr((FARPROC)(uintptr_t)g), FALSE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadReadPtr on a read-only guard page -> FALSE", IsBadReadPtr(ro, 1), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadWritePtr on a read-only guard page -> TRUE (base protection)", IsBadWritePtr(ro, 1), TRUE,
                  ERROR_INVALID_PARAMETER);
    CHECK_EQ_U("IsBad*Ptr fired no guard", calls(), 0);
    CHECK_QUERY("IsBad*Ptr: still PAGE_GUARD", g, g, g, 0x4000, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD, MEM_PRIVATE);

    unsigned char buf[0x200];
    DWORD n = 0;
    CHECK_RET_ERR("ReadProcessMemory from a guard page", ReadProcessMemory(SELF, g + 0x100, buf, sizeof buf, &n), TRUE,
                  LE_UNTOUCHED);
    CHECK("...*lpNumberOfBytesRead and the bytes", n == sizeof buf && memcmp(buf, pat + 0x100, sizeof buf) == 0);
    n = 0;
    CHECK_RET_ERR("ReadProcessMemory from a read-only guard page", ReadProcessMemory(SELF, ro, buf, 16, &n), TRUE,
                  LE_UNTOUCHED);
    CHECK("...the bytes", n == 16 && buf[0] == 0x4F && buf[15] == 0x4F);
    unsigned char src[0x100];
    memset(src, 0xD2, sizeof src);
    n = 0;
    CHECK_RET_ERR("WriteProcessMemory to a guard page", WriteProcessMemory(SELF, g + 0x1100, src, sizeof src, &n), TRUE,
                  LE_UNTOUCHED);
    CHECK_EQ_U("...*lpNumberOfBytesWritten", n, sizeof src);
    n = 0;
    CHECK_RET_ERR("WriteProcessMemory from a guard page (source)", WriteProcessMemory(SELF, buf, g, 0x40, &n), TRUE,
                  LE_UNTOUCHED);
    CHECK("...the bytes", n == 0x40 && memcmp(buf, pat, 0x40) == 0);
    CHECK_RET_ERR("WriteProcessMemory to a read-only guard page -> FALSE, ERROR_INVALID_PARAMETER",
                  WriteProcessMemory(SELF, ro, src, 1, NULL), FALSE, ERROR_INVALID_PARAMETER);

    CHECK_RET_ERR("VirtualQuery with its output buffer in a guard page",
                  VirtualQuery(other, (MEMORY_BASIC_INFORMATION *)(g + 0x2000), sizeof(MEMORY_BASIC_INFORMATION)),
                  sizeof(MEMORY_BASIC_INFORMATION), LE_UNTOUCHED);
    CHECK_RET_ERR("VirtualProtect with *old in a guard page",
                  VirtualProtect(other, 0x1000, PAGE_READONLY, (PDWORD)(g + 0x3000)), TRUE, LE_UNTOUCHED);
    GetSystemInfo((SYSTEM_INFO *)(g + 0x3100));
    GlobalMemoryStatus((MEMORYSTATUS *)(g + 0x3200));
    CHECK_EQ_U("Read/WriteProcessMemory and output buffers in guard pages fired no guard", calls(), 0);
    CHECK_QUERY("...the pages still report PAGE_GUARD", g, g, g, 0x4000, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD,
                MEM_PRIVATE);
    CHECK_QUERY("...the read-only page still reports PAGE_GUARD", ro, ro, ro, 0x1000, MEM_COMMIT,
                PAGE_READONLY | PAGE_GUARD, MEM_PRIVATE);
    CHECK_PERMS("...and stays inaccessible for the kernel", g + 0x2000, "---p");

    /* Now fire them and look at what the library wrote. */
    CHECK("the WriteProcessMemory bytes are in the guard page",
          rd(g + 0x1100) == 0xD2 && rd(g + 0x11FF) == 0xD2 && rd(g + 0x1200) == pat[0x1200] &&
              rd(g + 0x10FF) == pat[0x10FF]);
    const MEMORY_BASIC_INFORMATION *m = (const MEMORY_BASIC_INFORMATION *)(g + 0x2000);
    CHECK("the VirtualQuery answer is in the guard page", m->BaseAddress == other && m->State == MEM_COMMIT &&
                                                              m->RegionSize == 0x1000 && m->Protect == PAGE_READWRITE);
    CHECK_EQ_U("the VirtualProtect *old is in the guard page", *(const DWORD *)(g + 0x3000), PAGE_READWRITE);
    CHECK_EQ_U("the GetSystemInfo answer is in the guard page", ((const SYSTEM_INFO *)(g + 0x3100))->dwPageSize, 4096);
    CHECK_EQ_U("the GlobalMemoryStatus answer is in the guard page", ((const MEMORYSTATUS *)(g + 0x3200))->dwLength,
               sizeof(MEMORYSTATUS));
    CHECK_EQ_U("touching pages 1..3 fired exactly three guards", calls(), 3);
    CHECK_EQ_U("page 0 untouched by the program: its guard fires now", (reset_recorder(), rd(g)), pat[0]);
    CHECK_EQ_U("...one call", calls(), 1);
}

/* ---- decommit, re-protect and release clear the guard ---- */

static void clear_child(void *arg) {
    (void)arg;
    coredll_set_exception_handler(recorder);
    reset_recorder();
    char *g = guard_alloc(0x3000, PAGE_READWRITE | PAGE_GUARD);
    if (g == NULL) return;
    CHECK_RET_ERR("decommit guard page 0", VirtualFree(g, 0x1000, MEM_DECOMMIT), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("re-commit it PAGE_READWRITE", VirtualAlloc(g, 0x1000, MEM_COMMIT, PAGE_READWRITE), g, 0);
    CHECK_QUERY("re-committed page has no PAGE_GUARD", g, g, g, 0x1000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    CHECK_EQ_U("re-committed page reads zero", rd(g + 5), 0);
    CHECK_EQ_U("...without a handler call", calls(), 0);
    CHECK_RET_ERR("release the region with 2 unfired guard pages", VirtualFree(g, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("reserve+commit PAGE_READWRITE at the same address",
                  VirtualAlloc(g, 0x3000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE), g, 0);
    CHECK_QUERY("no PAGE_GUARD left over", g, g, g, 0x3000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    wr(g + 0x1000, 1);
    wr(g + 0x2000, 1);
    CHECK_EQ_U("touching the new pages calls nothing", calls(), 0);
    VirtualFree(g, 0, MEM_RELEASE);
}

/* ---- SA_ONSTACK: the handler runs on the thread's alternate signal stack ---- */

static void *altstack_thread(void *arg) {
    char *g = arg;
    size_t sz = 64 * 1024;
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = malloc(sz);
    ss.ss_size = sz;
    if (ss.ss_sp == NULL || sigaltstack(&ss, NULL) != 0) return (void *)1;
    h_alt_lo = ss.ss_sp;
    h_alt_hi = (char *)ss.ss_sp + sz;
    (void)rd(g);
    stack_t off;
    memset(&off, 0, sizeof off);
    off.ss_flags = SS_DISABLE;
    sigaltstack(&off, NULL);
    return NULL;
}

static void altstack_child(void *arg) {
    (void)arg;
    coredll_set_exception_handler(recorder);
    reset_recorder();
    char *g = guard_alloc(0x1000, PAGE_READWRITE | PAGE_GUARD);
    if (g == NULL) return;
    pthread_t t;
    void *r = (void *)2;
    pthread_create(&t, NULL, altstack_thread, g);
    pthread_join(t, &r);
    CHECK("setup: the thread set an alternate signal stack", r == NULL);
    CHECK_EQ_U("guard touched on a thread with an altstack: one call", calls(), 1);
    CHECK("the handler ran on the alternate signal stack (SA_ONSTACK)", h_on_alt);
    CHECK("the handler ran on the faulting thread", pthread_equal(h_thread, t));
}

int main(void) {
    check_child("header constants, coredll_set_exception_handler, handler installation", api_child, NULL);
    check_child("VirtualProtect to PAGE_GUARD installs the handler", install_by_protect_child, NULL);
    check_child("guard pages fire once on read and write, with the exact record", fire_child, NULL);
    check_child("memcpy over two guard pages", two_pages_child, NULL);
    check_child("errno, last error, a store over two guard pages", state_child, NULL);
    check_child("a handler that moves the guard with VirtualProtect", mover_child, NULL);
    check_child("PAGE_GUARD added by VirtualProtect and by re-commit", protect_guard_child, NULL);
    check_child("PAGE_READONLY|PAGE_GUARD", readonly_child, NULL);
#if defined(__x86_64__)
    check_child("PAGE_EXECUTE_READ|PAGE_GUARD", execute_child, NULL);
#endif
    check_child("unhandled guard exceptions kill the process with a message", unhandled_child, NULL);
    check_child("2 threads racing on one guard page", race2_child, NULL);
    check_child("4 threads racing on one guard page", race4_child, NULL);
    check_child("the library's own accesses do not fire guards", library_access_child, NULL);
    check_child("decommit and release clear PAGE_GUARD", clear_child, NULL);
    check_child("the handler runs on the alternate signal stack", altstack_child, NULL);
    CHECK("the parent never installed a SIGSEGV handler", segv_is_default());
    return check_summary();
}
