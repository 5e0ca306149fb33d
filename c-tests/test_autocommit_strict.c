/* MEM_AUTO_COMMIT in strict mode (ce6 profile, COREDLL_AUTOCOMMIT=strict set by both runners for
 * *_strict.c): spec4.md "Configuration", "The library's own accesses to caller memory" (the EFAULT
 * pitfall: the library commits before it copies), "SIGSEGV handler". The checks are those of
 * autocommit_body.h with AC_STRICT = 1. */
#include "check.h"

#define AC_STRICT 1
#include "autocommit_body.h"

int main(void) {
    const char *mode = getenv("COREDLL_AUTOCOMMIT");
    if (mode == NULL || strcmp(mode, "strict") != 0) {
        CHECK("this program runs with COREDLL_AUTOCOMMIT=strict (runner convention for *_strict.c)", 0);
        return check_summary();
    }
    run_autocommit_suite();
    return check_summary();
}
