/* Not linked against coredll: finds the CE functions at run time, so it sees coredll only when
 * coredll-run preloads it. Prints what the settings change; exits with its argument. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t dwLength, dwMemoryLoad, dwTotalPhys, dwAvailPhys, dwTotalPageFile, dwAvailPageFile,
        dwTotalVirtual, dwAvailVirtual;
} MEMORYSTATUS;

int main(int argc, char **argv) {
    void (*status)(MEMORYSTATUS *) = (void (*)(MEMORYSTATUS *))dlsym(RTLD_DEFAULT, "GlobalMemoryStatus");
    void *(*local_alloc)(uint32_t, uint32_t) = (void *(*)(uint32_t, uint32_t))dlsym(RTLD_DEFAULT, "LocalAlloc");
    uint32_t (*last_error)(void) = (uint32_t(*)(void))dlsym(RTLD_DEFAULT, "GetLastError");
    void *(*window)(uint32_t, size_t *) = (void *(*)(uint32_t, size_t *))dlsym(RTLD_DEFAULT, "coredll_window");
    if (status == NULL || local_alloc == NULL || last_error == NULL || window == NULL) {
        printf("no coredll\n");
        return 10;
    }
    MEMORYSTATUS ms;
    status(&ms);
    size_t size = 0;
    window(0, &size);
    if (argc > 1 && strcmp(argv[1], "overrun") == 0) {
        char *q = local_alloc(0, 32);
        q[32] = 1; /* one byte past the end: faults only under the page heap */
        return 0;
    }
    void *p = local_alloc(0, 10); /* left allocated: a leak for --report */
    printf("total=%u window=%#zx local=%s err=%u preload=%s autocommit=%s\n", ms.dwTotalPhys, size,
           p != NULL ? "ok" : "fail", p != NULL ? 0u : last_error(), getenv("LD_PRELOAD"),
           getenv("COREDLL_AUTOCOMMIT"));
    return argc > 1 ? atoi(argv[1]) : 0;
}
