/*
 * address_map.c - a legacy-style Windows CE program, unchanged from what a device would run:
 * it builds a small address-space layout with VirtualAlloc/VirtualProtect/VirtualFree and
 * prints the map that VirtualQuery reports for it, the way a CE memory-viewer tool would.
 */
#include <windows.h>
#include <stdio.h>

#define PAGE_COUNT 16

static const char *StateName(DWORD dwState)
{
    switch (dwState) {
    case MEM_COMMIT:  return "Commit ";
    case MEM_RESERVE: return "Reserve";
    case MEM_FREE:    return "Free   ";
    default:          return "?      ";
    }
}

static void ProtectName(DWORD dwProtect, char *pszOut, size_t cch)
{
    const char *pszBase = "";
    switch (dwProtect & 0xFF) {
    case PAGE_NOACCESS:          pszBase = "NoAccess"; break;
    case PAGE_READONLY:          pszBase = "ReadOnly"; break;
    case PAGE_READWRITE:         pszBase = "ReadWrite"; break;
    case PAGE_EXECUTE:           pszBase = "Execute"; break;
    case PAGE_EXECUTE_READ:      pszBase = "ExecuteRead"; break;
    case PAGE_EXECUTE_READWRITE: pszBase = "ExecuteReadWrite"; break;
    }
    snprintf(pszOut, cch, "%s%s%s", pszBase, (dwProtect & PAGE_GUARD) ? "+Guard" : "",
             (dwProtect & PAGE_NOCACHE) ? "+NoCache" : "");
}

/* Prints every region from lpStart up to lpEnd. */
static int DumpMap(LPBYTE lpStart, LPBYTE lpEnd)
{
    MEMORY_BASIC_INFORMATION mbi;
    LPBYTE lp = lpStart;
    int nRegions = 0;

    printf("  %-10s %-10s %-7s %-10s %s\n", "Address", "Size", "State", "AllocBase", "Protect");
    while (lp < lpEnd) {
        char szProtect[48];
        if (VirtualQuery(lp, &mbi, sizeof(mbi)) != sizeof(mbi)) {
            printf("VirtualQuery(%p) failed: %u\n", (void *)lp, GetLastError());
            return -1;
        }
        ProtectName(mbi.Protect, szProtect, sizeof(szProtect));
        printf("  %08lX   %-10u %s %08lX   %s\n", (unsigned long)(UINT_PTR)mbi.BaseAddress,
               mbi.RegionSize, StateName(mbi.State),
               (unsigned long)(UINT_PTR)mbi.AllocationBase,
               mbi.State == MEM_COMMIT ? szProtect : "-");
        lp = (LPBYTE)mbi.BaseAddress + mbi.RegionSize;
        nRegions++;
    }
    return nRegions;
}

int main(void)
{
    SYSTEM_INFO si;
    MEMORYSTATUS ms;
    LPBYTE lpRegion, lpCode, lpData;
    DWORD dwOld, i;
    int nRegions;

    GetSystemInfo(&si);
    ms.dwLength = sizeof(ms);
    GlobalMemoryStatus(&ms);
    printf("Page size %u, allocation granularity %u KB, application space %08lX-%08lX\n",
           si.dwPageSize, si.dwAllocationGranularity / 1024,
           (unsigned long)(UINT_PTR)si.lpMinimumApplicationAddress,
           (unsigned long)(UINT_PTR)si.lpMaximumApplicationAddress);
    printf("Virtual memory: %u KB total, %u KB free\n", ms.dwTotalVirtual / 1024,
           ms.dwAvailVirtual / 1024);

    /* Reserve 16 pages, then commit the middle as data and a read-only "code" page. */
    lpRegion = (LPBYTE)VirtualAlloc(NULL, PAGE_COUNT * si.dwPageSize, MEM_RESERVE, PAGE_NOACCESS);
    if (lpRegion == NULL) {
        printf("VirtualAlloc(MEM_RESERVE) failed: %u\n", GetLastError());
        return 1;
    }
    lpData = (LPBYTE)VirtualAlloc(lpRegion + 2 * si.dwPageSize, 9 * si.dwPageSize, MEM_COMMIT,
                                  PAGE_READWRITE);
    lpCode = (LPBYTE)VirtualAlloc(lpRegion + 12 * si.dwPageSize, si.dwPageSize, MEM_COMMIT,
                                  PAGE_READWRITE);
    if (lpData == NULL || lpCode == NULL) {
        printf("VirtualAlloc(MEM_COMMIT) failed: %u\n", GetLastError());
        return 1;
    }
    for (i = 0; i < 9 * si.dwPageSize; i++)
        lpData[i] = (BYTE)i;
    lpCode[0] = 0xC3;
    if (!VirtualProtect(lpCode, si.dwPageSize, PAGE_EXECUTE_READ, &dwOld) ||
        !VirtualProtect(lpData + 8 * si.dwPageSize, si.dwPageSize, PAGE_READWRITE | PAGE_GUARD,
                        &dwOld)) {
        printf("VirtualProtect failed: %u\n", GetLastError());
        return 1;
    }
    /* Give back two data pages in the middle: they read as zero if committed again. */
    if (!VirtualFree(lpData + 3 * si.dwPageSize, 2 * si.dwPageSize, MEM_DECOMMIT)) {
        printf("VirtualFree(MEM_DECOMMIT) failed: %u\n", GetLastError());
        return 1;
    }

    printf("\nRegion at %08lX (%u pages reserved):\n", (unsigned long)(UINT_PTR)lpRegion,
           PAGE_COUNT);
    nRegions = DumpMap(lpRegion, lpRegion + 0x10000);
    if (nRegions != 8) {
        printf("expected 8 regions, VirtualQuery reported %d\n", nRegions);
        return 1;
    }

    if (!IsBadWritePtr(lpCode, 1) || IsBadReadPtr(lpData, si.dwPageSize) ||
        !IsBadReadPtr(lpRegion, 1)) {
        printf("IsBad*Ptr disagrees with the map\n");
        return 1;
    }
    if (VirtualFree(lpData, 0, MEM_RELEASE) || GetLastError() != ERROR_INVALID_PARAMETER) {
        printf("releasing from inside a reservation must fail\n");
        return 1;
    }
    if (!VirtualFree(lpRegion, 0, MEM_RELEASE)) {
        printf("VirtualFree(MEM_RELEASE) failed: %u\n", GetLastError());
        return 1;
    }
    printf("\nReleased; the same 64 KB block now reads:\n");
    DumpMap(lpRegion, lpRegion + 0x10000);
    printf("\nOK: the CE address-space map above was built and checked.\n");
    return 0;
}
