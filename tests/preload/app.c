/* Linked against the stub library of stub.c; run with LD_PRELOAD=libcoredll.so.0 it must get
 * coredll's real implementation.  Prints `N passed, M failed`, exits non-zero on a failure. */
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
    /* The last error round-trips. */
    SetLastError(12345);
    CHECK(GetLastError() == 12345);
    SetLastError(0);
    CHECK(GetLastError() == 0);

    /* Reserve and commit 64 KB, use it, query it, release it. */
    BYTE *p = (BYTE *)VirtualAlloc(NULL, 65536, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    CHECK(p != NULL);
    if (p != NULL) {
        CHECK(((uintptr_t)p & 0xFFFF) == 0);
        CHECK((uintptr_t)p < ((uintptr_t)1 << 32));
        CHECK(p[0] == 0 && p[65535] == 0);
        memset(p, 0xA5, 65536);
        CHECK(p[0] == 0xA5 && p[65535] == 0xA5);

        MEMORY_BASIC_INFORMATION mbi;
        memset(&mbi, 0xCC, sizeof mbi);
        CHECK(VirtualQuery(p + 4096, &mbi, sizeof mbi) == sizeof mbi);
        CHECK(mbi.BaseAddress == (PVOID)(p + 4096));
        CHECK(mbi.AllocationBase == (PVOID)p);
        CHECK(mbi.RegionSize == 65536 - 4096);
        CHECK(mbi.State == MEM_COMMIT);
        CHECK(mbi.Protect == PAGE_READWRITE);

        CHECK(VirtualFree(p, 0, MEM_RELEASE));
        memset(&mbi, 0xCC, sizeof mbi);
        CHECK(VirtualQuery(p, &mbi, sizeof mbi) == sizeof mbi);
        CHECK(mbi.State == MEM_FREE);
    }

    /* A failure sets the last error. */
    SetLastError(0);
    CHECK(!VirtualFree(NULL, 0, MEM_RELEASE));
    CHECK(GetLastError() == ERROR_INVALID_PARAMETER);

    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
