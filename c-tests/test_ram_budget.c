/* COREDLL_RAM: committed pages count against an emulated RAM budget; GlobalMemoryStatus reports
 * it; a commit beyond it fails with ERROR_NOT_ENOUGH_MEMORY; CE's low-memory rules (below 32 free
 * pages only commits of up to 16 KB, below 20 only up to 8 KB; SetOOMEvent changes them); the
 * hibernate handler; heaps run out and recover. The program re-executes itself with --run under
 * COREDLL_RAM=2M (512 pages). */
#include "check.h"

#include <pthread.h>

#define BUDGET_PAGES 512u

static DWORD free_pages(void) {
    MEMORYSTATUS ms;
    GlobalMemoryStatus(&ms);
    return ms.dwAvailPhys / PG;
}

static int hibernations;
static void on_hibernate(void) { hibernations++; }

/* Commits one page at a time in [base, base + size) from *next until free pages == target. */
static int commit_down_to(char *base, DWORD size, DWORD *next, DWORD target) {
    while (free_pages() > target) {
        if (*next >= size || VirtualAlloc(base + *next, PG, MEM_COMMIT, PAGE_READWRITE) == NULL) return 0;
        *next += PG;
    }
    return free_pages() == target;
}

/* --race (strict auto-commit): threads touch pages of an auto-commit reservation while another
 * commits the same pages; afterwards every page is given back and the count must be exact. */
static char *race_base;
static volatile int race_stop;
static void *toucher(void *arg) {
    (void)arg;
    while (!race_stop)
        for (int i = 0; i < 16; i++) race_base[i * PG] = 1;
    return NULL;
}
static int race(void) {
    DWORD before = free_pages();
    pthread_t t;
    race_base = VirtualAlloc(NULL, 16 * PG, MEM_RESERVE | MEM_AUTO_COMMIT, PAGE_READWRITE);
    pthread_create(&t, NULL, toucher, NULL);
    for (int i = 0; i < 3000; i++) {
        VirtualAlloc(race_base, 16 * PG, MEM_COMMIT, PAGE_READWRITE);
        VirtualFree(race_base, 16 * PG, MEM_DECOMMIT);
    }
    race_stop = 1;
    pthread_join(t, NULL);
    VirtualFree(race_base, 0, MEM_RELEASE);
    CHECK_EQ_U("strict auto-commit: commits racing first touches leave the count exact", free_pages(), before);
    return check_summary();
}

/* A CeHeapCreate heap whose callbacks use VirtualAlloc: the hibernate handler, which frees blocks
 * of that heap, runs after the heap call, not inside the callback (where the heap is locked). */
static HANDLE cb_heap;
static void *cb_blocks[2048];
static int cb_count, cb_freed, cb_refused;
static LPVOID cb_alloc(LPVOID a, DWORD n, DWORD act, LPDWORD ud) {
    (void)ud;
    return act == MEM_RESERVE ? VirtualAlloc(NULL, n, MEM_RESERVE, PAGE_NOACCESS)
                              : VirtualAlloc(a, n, MEM_COMMIT, PAGE_READWRITE);
}
static BOOL cb_free(LPVOID a, DWORD n, DWORD act, DWORD ud) {
    (void)ud;
    return VirtualFree(a, act == MEM_RELEASE ? 0 : n, act);
}
static void release_cache(void) {
    while (cb_count > 0) {
        if (HeapFree(cb_heap, 0, cb_blocks[--cb_count]))
            cb_freed++;
        else
            cb_refused++;
    }
}

static int run(void) {
    MEMORYSTATUS ms;
    GlobalMemoryStatus(&ms);
    DWORD start_free = free_pages();
    CHECK_EQ_U("GlobalMemoryStatus: dwTotalPhys is the budget", ms.dwTotalPhys, BUDGET_PAGES * PG);
    CHECK("GlobalMemoryStatus: nearly all of it free at start", start_free > BUDGET_PAGES - 16);
    CHECK_EQ_U("GlobalMemoryStatus: dwMemoryLoad = 100 - free * 100 / total", ms.dwMemoryLoad,
               100 - start_free * 100 / BUDGET_PAGES);

    /* The hibernate moment: free memory first drops below 300 pages. */
    coredll_set_hibernate_handler(on_hibernate, 300);

    const DWORD size = 8u << 20;
    char *base = VirtualAlloc(NULL, size, MEM_RESERVE, PAGE_NOACCESS);
    CHECK("a reservation larger than the budget costs nothing", base != NULL);
    if (base == NULL) return 1;
    DWORD next = 0;
    int fail64 = 0;
    while (next + 0x10000 <= size) {
        SetLastError(0);
        if (VirtualAlloc(base + next, 0x10000, MEM_COMMIT, PAGE_READWRITE) == NULL) {
            fail64 = GetLastError() == ERROR_NOT_ENOUGH_MEMORY;
            break;
        }
        next += 0x10000;
    }
    CHECK("64 KB commits run out with ERROR_NOT_ENOUGH_MEMORY", fail64);
    DWORD f = free_pages();
    CHECK("... when 16 pages no longer fit above the low threshold (32 free)", f < 16 + 32 && f >= 32);
    CHECK_EQ_U("the hibernate handler ran once on the way down", hibernations, 1);

    /* Below the low threshold (30 free): 16 KB still goes, 20 KB does not. */
    CHECK("commit down to 30 free pages", commit_down_to(base, size, &next, 30));
    CHECK_RET_ERR("30 free: a 20 KB commit fails",
                  VirtualAlloc(base + next, 0x5000, MEM_COMMIT, PAGE_READWRITE), NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK("30 free: a 16 KB commit succeeds", VirtualAlloc(base + next, 0x4000, MEM_COMMIT, PAGE_READWRITE) != NULL);
    next += 0x4000;
    CHECK_EQ_U("... leaving 26", free_pages(), 26);

    /* Below the critical threshold (18 free): 8 KB still goes, 12 KB does not. */
    CHECK("commit down to 18 free pages", commit_down_to(base, size, &next, 18));
    CHECK_RET_ERR("18 free: a 12 KB commit fails",
                  VirtualAlloc(base + next, 0x3000, MEM_COMMIT, PAGE_READWRITE), NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK("18 free: an 8 KB commit succeeds", VirtualAlloc(base + next, 0x2000, MEM_COMMIT, PAGE_READWRITE) != NULL);
    next += 0x2000;

    /* The last page, then nothing. */
    CHECK("commit down to 0 free pages", commit_down_to(base, size, &next, 0));
    CHECK_RET_ERR("0 free: a 4 KB commit fails",
                  VirtualAlloc(base + next, PG, MEM_COMMIT, PAGE_READWRITE), NULL, ERROR_NOT_ENOUGH_MEMORY);
    GlobalMemoryStatus(&ms);
    CHECK_EQ_U("0 free: dwAvailPhys 0, dwMemoryLoad 100", ms.dwAvailPhys + (100 - ms.dwMemoryLoad), 0);
    CHECK_RET_ERR("0 free: LocalAlloc of a new page's worth fails", LocalAlloc(LMEM_FIXED, 3000), NULL,
                  ERROR_NOT_ENOUGH_MEMORY);
    CHECK("0 free: the process heap stays valid", HeapValidate(GetProcessHeap(), 0, NULL));
    CHECK_EQ_U("still one hibernate call", hibernations, 1);

    /* Recovery after VirtualFree. */
    CHECK("decommit everything", VirtualFree(base, next, MEM_DECOMMIT));
    CHECK_EQ_U("the budget is back", free_pages(), start_free);
    CHECK("64 KB commits work again", VirtualAlloc(base, 0x10000, MEM_COMMIT, PAGE_READWRITE) != NULL);
    CHECK("release", VirtualFree(base, 0, MEM_RELEASE));
    CHECK_EQ_U("released pages go back too", free_pages(), start_free);

    /* A heap runs out and recovers. */
    HANDLE h = HeapCreate(0, 0, 0);
    static void *blocks[4096];
    int n = 0, heap_oom = 0;
    while (n < 4096) {
        SetLastError(0);
        blocks[n] = HeapAlloc(h, 0, 1000);
        if (blocks[n] == NULL) {
            heap_oom = GetLastError() == ERROR_NOT_ENOUGH_MEMORY;
            break;
        }
        n++;
    }
    CHECK("a heap runs out of the budget with ERROR_NOT_ENOUGH_MEMORY", heap_oom && n > 500);
    CHECK("... and stays valid", HeapValidate(h, 0, NULL));
    CHECK_EQ_U("the hibernate handler ran again (free memory had risen above 300)", hibernations, 2);
    for (int i = 0; i < n; i++) HeapFree(h, 0, blocks[i]);
    HeapCompact(h, 0);
    CHECK("after HeapFree and HeapCompact the pages are free again", free_pages() + 16 >= start_free);
    CHECK("the heap allocates again", HeapAlloc(h, 0, 1000) != NULL);
    HeapDestroy(h);

    /* SetOOMEvent changes the thresholds: low 100 pages, 8-page blocks below it. */
    SetOOMEvent(NULL, 100, 50, 8, 4);
    coredll_set_hibernate_handler(NULL, 0);
    base = VirtualAlloc(NULL, size, MEM_RESERVE, PAGE_NOACCESS);
    next = 0;
    CHECK("SetOOMEvent: commit down to 90 free pages", commit_down_to(base, size, &next, 90));
    CHECK_RET_ERR("SetOOMEvent: 90 free: a 9-page commit fails",
                  VirtualAlloc(base + next, 9 * PG, MEM_COMMIT, PAGE_READWRITE), NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK("SetOOMEvent: 90 free: an 8-page commit succeeds",
          VirtualAlloc(base + next, 8 * PG, MEM_COMMIT, PAGE_READWRITE) != NULL);
    VirtualFree(base, 0, MEM_RELEASE);

    SetOOMEvent(NULL, 32, 20, 4, 2);
    cb_heap = CeHeapCreate(0, 0, 0, cb_alloc, cb_free);
    coredll_set_hibernate_handler(release_cache, 300);
    while (cb_count < 2048 && free_pages() > 250) {
        void *p = HeapAlloc(cb_heap, 0, 1000);
        if (p == NULL) break;
        cb_blocks[cb_count++] = p;
    }
    CHECK("callback heap: the hibernate handler ran and freed blocks of that heap",
          cb_freed > 0 && cb_refused == 0);
    coredll_set_hibernate_handler(NULL, 0);
    HeapDestroy(cb_heap);
    return check_summary();
}

static int run_child(const char *mode, const char *autocommit) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("COREDLL_RAM", "2M", 1);
        if (autocommit != NULL) setenv("COREDLL_AUTOCOMMIT", autocommit, 1);
        alarm(120);
        char *args[] = {"test_ram_budget", (char *)mode, NULL};
        execv("/proc/self/exe", args);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--run") == 0) return run();
    if (argc > 1 && strcmp(argv[1], "--race") == 0) return race();
    CHECK("the run under COREDLL_RAM=2M and strict auto-commit passed", run_child("--race", "strict"));
    /* Re-run under the budget, in a child, and count its checks as ours. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("COREDLL_RAM", "2M", 1);
        alarm(120);
        char *args[] = {"test_ram_budget", "--run", NULL};
        execv("/proc/self/exe", args);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK("the run under COREDLL_RAM=2M passed every check", WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return check_summary();
}
