/* COREDLL_REPORT: at exit, the report lists exactly the heap blocks still live (address, size,
 * allocation sequence number), the failures injected, the peaks and a map of the address space;
 * coredll_report() writes one on demand. The program re-executes itself with --run. */
#include "check.h"

/* --run: allocations with known leaks; prints the expected leak lines on stdout. */
static int run(const char *mid_report) {
    HANDLE h = HeapCreate(0, 0, 0);
    char *a = HeapAlloc(h, 0, 100);           /* seq 1, moved by the realloc below */
    void *b = HeapAlloc(h, 0, 200);           /* seq 2, freed */
    void *c = LocalAlloc(LPTR, 33);           /* seq 3, leaked (40 bytes) */
    void *d = LocalAlloc(LMEM_FIXED, 50);     /* seq 4, freed */
    char *e = HeapReAlloc(h, 0, a, 300);      /* seq 5, leaked (304 bytes) */
    HANDLE h2 = HeapCreate(0, 0, 0);
    void *f = HeapAlloc(h2, 0, 20);           /* seq 6, goes with HeapDestroy */
    void *g = HeapAlloc(h, 0, 70000);         /* seq 7, leaked big block */
    HeapFree(h, 0, b);
    LocalFree(d);
    HeapDestroy(h2);
    (void)f;
    void *v = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS); /* made to fail */
    if (a == NULL || b == NULL || c == NULL || d == NULL || e == NULL || e == a || g == NULL || v != NULL) {
        printf("set-up went wrong\n");
        return 1;
    }
    if (!coredll_report(mid_report)) {
        printf("coredll_report failed %u\n", (unsigned)GetLastError());
        return 1;
    }
    printf("leak %#010lx size 40 seq 3\n", (unsigned long)(uintptr_t)c);
    printf("leak %#010lx size 304 seq 5\n", (unsigned long)(uintptr_t)e);
    printf("leak %#010lx size 70000 seq 7\n", (unsigned long)(uintptr_t)g);
    return 0; /* the report is written at exit */
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int count_lines_with(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++) n++;
    return n;
}

/* --vm: a program that uses no heap still gets its report; a fork child exiting after it does
 * not write over it. */
static int run_vm(void) {
    void *p = VirtualAlloc(NULL, 0x10000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    fflush(stdout);
    if (fork() == 0) {
        usleep(100000);
        exit(0); /* runs the exit handlers too, after the parent's */
    }
    return p != NULL ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "--run") == 0) return run(argv[2]);
    if (argc > 1 && strcmp(argv[1], "--vm") == 0) return run_vm();

    char at_exit[64], mid[64];
    snprintf(at_exit, sizeof at_exit, "/tmp/coredll-report-%d.txt", (int)getpid());
    snprintf(mid, sizeof mid, "/tmp/coredll-report-mid-%d.txt", (int)getpid());
    int po[2];
    CHECK("pipe", pipe(po) == 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(po[1], 1);
        close(po[0]);
        setenv("COREDLL_REPORT", at_exit, 1);
        setenv("COREDLL_FAIL", "nth:1,apis:VirtualAlloc", 1);
        alarm(60);
        char *args[] = {"test_report", "--run", mid, NULL};
        execv("/proc/self/exe", args);
        _exit(127);
    }
    close(po[1]);
    static char expected[4096];
    size_t got = 0;
    ssize_t r;
    while ((r = read(po[0], expected + got, sizeof expected - 1 - got)) > 0) got += (size_t)r;
    expected[got] = '\0';
    close(po[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK("the program ran", WIFEXITED(status) && WEXITSTATUS(status) == 0);

    char *text = slurp(at_exit);
    CHECK("COREDLL_REPORT=<file>: the report was written at exit", text != NULL);
    if (text != NULL) {
        char line[128];
        const char *p = expected;
        int found = 0, lines = 0;
        while (sscanf(p, "%127[^\n]\n", line) == 1) {
            lines++;
            found += strstr(text, line) != NULL;
            p = strchr(p, '\n') + 1;
        }
        CHECK_EQ_U("every leaked block is listed with its size and sequence number", found, 3);
        CHECK_EQ_U("... three of them", lines, 3);
        CHECK_EQ_U("and nothing else is listed as a leak", count_lines_with(text, "  leak "), 3);
        CHECK("the total: 3 blocks, 70344 bytes", strstr(text, "leaks: 3 blocks, 70344 bytes") != NULL);
        CHECK("the failures injected: 1", strstr(text, "failures injected: 1") != NULL);
        CHECK("the process heap is named", strstr(text, "(process heap): 1 live blocks, 40 bytes") != NULL);
        CHECK("peak heap bytes", strstr(text, " peak\n") != NULL && strstr(text, "heap bytes: 70344 live") != NULL);
        CHECK("committed memory", strstr(text, "committed: ") != NULL);
        CHECK("a map of the address space with committed runs",
              strstr(text, "address space:\n") != NULL && strstr(text, " commit ") != NULL);
    }
    char *midtext = slurp(mid);
    CHECK("coredll_report(path) wrote a report on demand", midtext != NULL && strstr(midtext, "leaks: 3 blocks") != NULL);
    unlink(at_exit);
    unlink(mid);

    pid = fork();
    if (pid == 0) {
        setenv("COREDLL_REPORT", at_exit, 1);
        unsetenv("COREDLL_FAIL");
        char *args[] = {"test_report", "--vm", NULL};
        execv("/proc/self/exe", args);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    usleep(400000); /* the forked grandchild exits after its parent */
    text = slurp(at_exit);
    char want[64];
    snprintf(want, sizeof want, "(process %d,", (int)pid);
    CHECK("a program without heaps gets its report, with the map",
          text != NULL && strstr(text, "leaks: 0 blocks, 0 bytes") != NULL && strstr(text, " commit ") != NULL);
    CHECK("a fork child exiting later does not write over its parent's report",
          text != NULL && strstr(text, want) != NULL);
    unlink(at_exit);
    return check_summary();
}
