/* A stand-in for coredll that gets the API wrong: every call fails or returns a wrong value.
 * tests/preload/app.c is linked against it, so the app fails when run on its own and passes
 * only when the real library is interposed with LD_PRELOAD (CTest: preload_stub_only,
 * preload_coredll; cargo: tests/ld_preload.rs). */
#include <windows.h>

DWORD GetLastError(void)
{
    return 0xDEADBEEFu;
}

void SetLastError(DWORD dwErrCode)
{
    (void)dwErrCode;
}

LPVOID VirtualAlloc(LPVOID lpAddress, DWORD dwSize, DWORD flAllocationType, DWORD flProtect)
{
    (void)lpAddress;
    (void)dwSize;
    (void)flAllocationType;
    (void)flProtect;
    return NULL;
}

BOOL VirtualFree(LPVOID lpAddress, DWORD dwSize, DWORD dwFreeType)
{
    (void)lpAddress;
    (void)dwSize;
    (void)dwFreeType;
    return TRUE; /* wrong for the NULL address the app passes */
}

DWORD VirtualQuery(LPCVOID lpAddress, PMEMORY_BASIC_INFORMATION lpBuffer, DWORD dwLength)
{
    (void)lpAddress;
    (void)lpBuffer;
    (void)dwLength;
    return 0;
}
