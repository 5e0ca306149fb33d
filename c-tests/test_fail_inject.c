/* COREDLL_FAIL fault injection: each policy fails exactly the calls it names, the same calls in
 * every run, as a real out-of-memory (NULL + ERROR_NOT_ENOUGH_MEMORY, nothing changed), and the
 * heaps stay consistent. The program re-executes itself with --run under each setting. */
#include "check.h"

#define CALLS 200

/* --run: a fixed sequence of allocation calls; prints one letter per call (S success, F failed
 * with ERROR_NOT_ENOUGH_MEMORY, E anything else), then the injected count and two health checks. */
static int run(void) {
    /* Set-up: two counted calls when nothing fails (HeapCreate, HeapAlloc), retried if made to. */
    unsigned setup_failed = 0;
    HANDLE h;
    while ((h = HeapCreate(0, 0, 0)) == NULL && setup_failed < 50) setup_failed++;
    void *grow = NULL;
    while (h != NULL && (grow = HeapAlloc(h, 0, 16)) == NULL && setup_failed < 100) setup_failed++;
    if (grow == NULL) {
        printf("set-up failed %u\n", (unsigned)GetLastError());
        return 1;
    }
    char out[CALLS + 1];
    static void *keep[CALLS];
    int untouched = 1;
    for (int i = 0; i < CALLS; i++) {
        DWORD size = (DWORD)(16 + (i * 977) % 100000);
        void *p = NULL;
        SetLastError(0);
        switch (i % 4) {
        case 0: p = HeapAlloc(h, 0, size); break;
        case 1: p = LocalAlloc(LMEM_FIXED, size); break;
        case 2: p = VirtualAlloc(NULL, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE); break;
        case 3: {
            DWORD before = HeapSize(h, 0, grow);
            p = HeapReAlloc(h, 0, grow, before + 64);
            if (p != NULL)
                grow = p;
            else if (HeapSize(h, 0, grow) != before)
                untouched = 0;
            break;
        }
        }
        out[i] = p != NULL ? 'S' : GetLastError() == ERROR_NOT_ENOUGH_MEMORY ? 'F' : 'E';
        keep[i] = (i % 4 == 3) ? NULL : p;
    }
    out[CALLS] = '\0';
    /* Calls that are not counted: a bad parameter fails with its own error, a shrink succeeds. */
    SetLastError(0);
    void *bad = VirtualAlloc(NULL, 0, MEM_RESERVE, PAGE_READWRITE);
    DWORD bad_err = GetLastError();
    void *shrunk = HeapReAlloc(h, 0, grow, 8);
    int valid = HeapValidate(h, 0, NULL) && HeapValidate(GetProcessHeap(), 0, NULL);
    for (int i = 0; i < CALLS; i++) {
        if (keep[i] == NULL) continue;
        if (i % 4 == 0) HeapFree(h, 0, keep[i]);
        if (i % 4 == 1) LocalFree(keep[i]);
        if (i % 4 == 2) VirtualFree(keep[i], 0, MEM_RELEASE);
    }
    printf("%s injected=%u setup=%u valid=%d untouched=%d bad=%d shrink=%d\n", out,
           (unsigned)coredll_failures_injected(), setup_failed, valid, untouched,
           bad == NULL && bad_err == ERROR_INVALID_PARAMETER, shrunk == grow);
    return 0;
}

/* Runs --run with COREDLL_FAIL=value; out gets stdout, err stderr. */
static int spawn(const char *value, char *out, size_t on, char *err, size_t en) {
    char setting[160];
    snprintf(setting, sizeof setting, "COREDLL_FAIL=%s", value);
    const char *env[] = {setting, NULL};
    char *argv[] = {"test_fail_inject", "--run", NULL};
    int st = check_run_self(argv, env, out, on, err, en);
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

struct result {
    char calls[CALLS + 1];
    unsigned injected, setup;
    int valid, untouched, bad, shrink;
    char err[512];
};

static int get(const char *value, struct result *r) {
    char out[1024];
    memset(r, 0, sizeof *r);
    if (!spawn(value, out, sizeof out, r->err, sizeof r->err)) return 0;
    return sscanf(out, "%200s injected=%u setup=%u valid=%d untouched=%d bad=%d shrink=%d", r->calls,
                  &r->injected, &r->setup, &r->valid, &r->untouched, &r->bad, &r->shrink) == 7 &&
           strlen(r->calls) == CALLS;
}

static int count(const char *s, char c) {
    int n = 0;
    for (; *s; s++) n += *s == c;
    return n;
}

/* Common checks for one run. */
static void healthy(const char *what, const struct result *r) {
    char nm[200];
    snprintf(nm, sizeof nm, "%s: no call failed with another error", what);
    CHECK(nm, count(r->calls, 'E') == 0);
    snprintf(nm, sizeof nm, "%s: the injected count is the number of failed calls", what);
    CHECK_EQ_U(nm, r->injected, (unsigned)count(r->calls, 'F') + r->setup);
    snprintf(nm, sizeof nm, "%s: HeapValidate stays TRUE", what);
    CHECK(nm, r->valid);
    snprintf(nm, sizeof nm, "%s: a failed HeapReAlloc leaves the block as it was", what);
    CHECK(nm, r->untouched);
    snprintf(nm, sizeof nm, "%s: a bad parameter still gets ERROR_INVALID_PARAMETER; a shrink succeeds", what);
    CHECK(nm, r->bad && r->shrink);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--run") == 0) return run();

    struct result r, r2;
    CHECK("no injection: the run works", get("", &r));
    CHECK("no injection: every call succeeds", count(r.calls, 'S') == CALLS);
    CHECK_EQ_U("no injection: nothing injected", r.injected, 0);

    CHECK("nth:7: the run works", get("nth:7", &r));
    healthy("nth:7", &r);
    /* Counted calls: HeapCreate #1 and HeapAlloc #2 of the set-up, then call i of the run is #i+3. */
    CHECK("nth:7: only the 7th counted call (run call 4) fails",
          r.setup == 0 && count(r.calls, 'F') == 1 && r.calls[4] == 'F');

    CHECK("every:3: the run works", get("every:3", &r));
    healthy("every:3", &r);
    int every_ok = 1;
    for (int i = 0; i < CALLS; i++) every_ok &= (r.calls[i] == 'F') == ((i + 3) % 3 == 0);
    CHECK("every:3: counted calls 3, 6, 9, ... fail and no other", r.setup == 0 && every_ok);

    CHECK("min:50000: the run works", get("min:50000", &r));
    healthy("min:50000", &r);
    int min_ok = 1;
    for (int i = 0; i < CALLS; i++) {
        if (i % 4 == 3) continue; /* the growing block's size is not the table's */
        DWORD size = (DWORD)(16 + (i * 977) % 100000);
        min_ok &= (r.calls[i] == 'F') == (size >= 50000);
    }
    CHECK("min:50000: exactly the requests of 50,000 bytes or more fail", min_ok);

    CHECK("apis + every: the run works", get("every:2,apis:HeapAlloc+HeapReAlloc", &r));
    healthy("apis + every", &r);
    int apis_ok = r.setup == 0, counted = 1; /* the set-up HeapAlloc was #1 */
    for (int i = 0; i < CALLS; i++) {
        if (i % 4 == 1 || i % 4 == 2) {
            apis_ok &= r.calls[i] == 'S';
        } else {
            counted++;
            apis_ok &= (r.calls[i] == 'F') == (counted % 2 == 0);
        }
    }
    CHECK("apis:HeapAlloc+HeapReAlloc: LocalAlloc and VirtualAlloc never fail, the others every 2nd",
          apis_ok);

    CHECK("apis:VirtualAlloc, nth:1: the run works", get("nth:1,apis:VirtualAlloc", &r));
    healthy("VirtualAlloc nth:1", &r);
    CHECK("apis:VirtualAlloc, nth:1: only the first VirtualAlloc (call 3) fails",
          count(r.calls, 'F') == 1 && r.calls[2] == 'F');

    CHECK("prob:0.25,seed:9: the run works", get("prob:0.25,seed:9", &r));
    healthy("prob", &r);
    CHECK("prob:0.25,seed:9: again", get("prob:0.25,seed:9", &r2));
    CHECK("prob:0.25,seed:9: the same set-up failures", r.setup == r2.setup);
    CHECK("prob:0.25,seed:9: the same calls fail in both runs", strcmp(r.calls, r2.calls) == 0);
    int f = count(r.calls, 'F');
    CHECK("prob:0.25: between 10% and 40% of the calls fail", f >= CALLS / 10 && f <= CALLS * 4 / 10);
    CHECK("prob:0.25,seed:10: the run works", get("prob:0.25,seed:10", &r2));
    CHECK("another seed fails other calls", strcmp(r.calls, r2.calls) != 0);

    /* Every policy fails the same calls run after run. */
    static const char *const policies[] = {"nth:7", "every:3", "min:50000", "every:2,apis:HeapAlloc+HeapReAlloc",
                                           "prob:0.1,seed:3,min:90000"};
    for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++) {
        char nm[160];
        int same = get(policies[i], &r) && get(policies[i], &r2) && strcmp(r.calls, r2.calls) == 0 &&
                   r.injected == r2.injected;
        snprintf(nm, sizeof nm, "%s: two runs fail the same calls", policies[i]);
        CHECK(nm, same);
    }

    CHECK("a setting it does not understand: the run works", get("sometimes", &r));
    CHECK("... nothing is injected", count(r.calls, 'S') == CALLS && r.injected == 0);
    CHECK("... with one line on stderr naming it",
          strstr(r.err, "COREDLL_FAIL") != NULL && count(r.err, '\n') == 1);
    return check_summary();
}
