/* MEM_AUTO_COMMIT in the default (lazy) mode (ce6 profile, COREDLL_AUTOCOMMIT removed by the
 * runners): spec4.md "Configuration", "The library's own accesses to caller memory", CONTRACT.md
 * "MEM_AUTO_COMMIT". The checks shared with the strict mode are in autocommit_body.h; this file adds
 * the COREDLL_AUTOCOMMIT parsing (a re-exec of itself with --probe under each value). */
#include "check.h"

#define AC_STRICT 0
#include "autocommit_body.h"

/* --probe: two auto-commit reservations, then "perms=<kernel protection of an untouched page>
 * handler=<1 if a SIGSEGV handler is installed>" on stdout. */
static int probe(void) {
    char *a = VirtualAlloc(NULL, 0x2000, MEM_RESERVE | MEM_AUTO_COMMIT, PAGE_READWRITE);
    char *b = VirtualAlloc(NULL, 0x2000, MEM_RESERVE | MEM_AUTO_COMMIT, PAGE_READWRITE);
    char p[5] = "none";
    if (a != NULL && b != NULL) maps_perms(b + 0x1000, p);
    printf("perms=%s handler=%d\n", p, !segv_is_default());
    fflush(stdout);
    return a != NULL && b != NULL ? 0 : 2;
}

/* Runs this program with --probe and COREDLL_AUTOCOMMIT=value (NULL: removed). */
static int run_probe(const char *value, char *out, size_t on, char *err, size_t en, int *status) {
    char setting[96];
    snprintf(setting, sizeof setting, "COREDLL_AUTOCOMMIT=%s", value != NULL ? value : "");
    const char *env[] = {value != NULL ? setting : "COREDLL_AUTOCOMMIT", NULL};
    char *argv[] = {"test_autocommit", "--probe", NULL};
    *status = check_run_self(argv, env, out, on, err, en);
    return *status != -1;
}

static void test_mode_parsing(void) {
    static const struct {
        const char *value, *want_out;
        int warns;
    } cases[] = {
        {NULL, "perms=rw-p handler=0\n", 0},
        {"lazy", "perms=rw-p handler=0\n", 0},
        {"strict", "perms=---p handler=1\n", 0},
        {"bogus", "perms=rw-p handler=0\n", 1},
        {"stricter", "perms=rw-p handler=0\n", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256], err[1024], nm[200], d[200];
        int st = 0;
        const char *v = cases[i].value != NULL ? cases[i].value : "(unset)";
        int ran = run_probe(cases[i].value, out, sizeof out, err, sizeof err, &st);
        describe_status(st, d, sizeof d);
        snprintf(nm, sizeof nm, "COREDLL_AUTOCOMMIT=%s: probe runs to completion", v);
        check_record(ran && WIFEXITED(st) && WEXITSTATUS(st) == 0, nm, __FILE__, __LINE__, "exit status 0", d);
        snprintf(nm, sizeof nm, "COREDLL_AUTOCOMMIT=%s: mode %s", v, cases[i].want_out);
        snprintf(d, sizeof d, "probe printed \"%.150s\"", out);
        check_record(strcmp(out, cases[i].want_out) == 0, nm, __FILE__, __LINE__, "probe output", d);
        size_t len = strlen(err), lines = 0;
        for (size_t k = 0; k < len; k++) lines += err[k] == '\n';
        snprintf(d, sizeof d, "stderr: \"%.150s\"", err);
        if (cases[i].warns) {
            snprintf(nm, sizeof nm, "COREDLL_AUTOCOMMIT=%s: exactly one warning line on stderr (read once)", v);
            check_record(lines == 1 && len > 1 && err[len - 1] == '\n', nm, __FILE__, __LINE__, "one stderr line", d);
        } else {
            snprintf(nm, sizeof nm, "COREDLL_AUTOCOMMIT=%s: nothing on stderr", v);
            check_record(len == 0, nm, __FILE__, __LINE__, "empty stderr", d);
        }
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--probe") == 0) return probe();
    run_autocommit_suite();
    test_mode_parsing();
    return check_summary();
}
