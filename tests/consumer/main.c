/* A downstream program: built against the installed coredll (CMake package, shared and static,
 * and pkg-config).  Prints `N passed, M failed`, exits non-zero on a failure. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <windows.h>

static int passed, failed;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (cond) {                                                                   \
            passed++;                                                                 \
        } else {                                                                      \
            failed++;                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                             \
    } while (0)

int main(void)
{
    SYSTEM_INFO si;
    memset(&si, 0, sizeof si);
    GetSystemInfo(&si);
    CHECK(si.dwPageSize == 4096);
    CHECK(si.dwAllocationGranularity == 0x10000);

    DWORD window_size = 0;
    LPVOID window = coredll_window(0, &window_size);
    CHECK(window != NULL);
    CHECK(window_size != 0);

    CHECK(GetCurrentProcess() == (HANDLE)0x42);

    char *p = (char *)VirtualAlloc(NULL, 3 * 4096, MEM_COMMIT, PAGE_READWRITE);
    CHECK(p != NULL);
    if (p != NULL) {
        CHECK((uintptr_t)p >= (uintptr_t)window &&
              (uintptr_t)p < (uintptr_t)window + window_size);
        strcpy(p + 4096, "coredll");
        CHECK(strcmp(p + 4096, "coredll") == 0);

        DWORD old = 0;
        CHECK(VirtualProtect(p, 4096, PAGE_READONLY, &old));
        CHECK(old == PAGE_READWRITE);
        CHECK(IsBadWritePtr(p, 1));
        CHECK(!IsBadReadPtr(p, 1));
        CHECK(VirtualFree(p, 0, MEM_RELEASE));
    }

    SetLastError(0);
    CHECK(VirtualAlloc(NULL, 0, MEM_COMMIT, PAGE_READWRITE) == NULL);
    CHECK(GetLastError() == ERROR_INVALID_PARAMETER);

    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
