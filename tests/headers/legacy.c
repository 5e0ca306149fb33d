/* Legacy CE source as it is written for a device: compiled (not run) by tests/header.rs as C
 * (gnu11, c11) and C++ (c++17), with -Wall -Wextra -Werror, to prove the drop-in headers
 * take it unchanged: SDK macros used as statements, pointer typedefs, the toolhelp and
 * HeapWalk structures. */
#include <windows.h>
#include <tlhelp32.h>
#include <kfuncs.h>

static DWORD WalkHeaps(void)
{
    DWORD dwBlocks = 0;
    HANDLE hSnap = CreateToolhelp32Snapshot(TH32CS_SNAPHEAPLIST, 0);
    HEAPLIST32 hl;
    PHEAPENTRY32 phe;
    HEAPENTRY32 he;

    if (hSnap == INVALID_HANDLE_VALUE)
        return 0;
    hl.dwSize = sizeof(hl);
    phe = &he;
    if (Heap32ListFirst(hSnap, &hl)) {
        do {
            phe->dwSize = sizeof(HEAPENTRY32);
            if (Heap32First(hSnap, phe, hl.th32ProcessID, hl.th32HeapID)) {
                do {
                    if (phe->dwFlags & (LF32_FIXED | LF32_BIGBLOCK))
                        dwBlocks++;
                } while (Heap32Next(hSnap, phe));
            }
        } while (Heap32ListNext(hSnap, &hl));
    }
    CloseToolhelp32Snapshot(hSnap);
    return dwBlocks;
}

static DWORD CommittedBytes(HANDLE hHeap)
{
    PROCESS_HEAP_ENTRY entry;
    DWORD cb = 0;
    entry.lpData = NULL;
    while (HeapWalk(hHeap, &entry)) {
        if (entry.wFlags & PROCESS_HEAP_REGION)
            cb += entry.Region.dwCommittedSize;
        else if ((entry.wFlags & PROCESS_HEAP_ENTRY_BUSY) && entry.Block.hMem == NULL)
            cb += 0;
    }
    return cb;
}

int LegacyMain(void)
{
    HLOCAL hl = LocalAlloc(LHND, 64);
    HGLOBAL hg = GlobalAlloc(GHND, 128);
    LPHANDLE phHeaps;
    HANDLE ahHeaps[4];
    HANDLE hHeap;
    LPBYTE pb;
    char *psz;
    int i = 0;
    HLOCAL arr[2];

    pb = (LPBYTE)LocalLock(hl);
    pb[0] = 1;
    LocalUnlock(hl);
    psz = (char *)GlobalLock(hg);
    psz[0] = 'x';
    GlobalUnlock(hg);
    if (GlobalFlags(hg) & GMEM_DISCARDED)
        return 1;
    hg = GlobalReAlloc(hg, 256, GMEM_MOVEABLE | GMEM_ZEROINIT);
    if (GlobalSize(hg) < 256 || LocalSize(hl) < 64)
        return 2;
    arr[0] = hl;
    arr[1] = hg;
    LocalUnlock(arr[i++]);
    if (i != 1)
        return 3;
    GlobalFree(GlobalHandle(psz));
    LocalFree(LocalHandle(pb));

    pb = (LPBYTE)LocalAlloc(LPTR, 32);
    LocalLockPtr(pb);
    LocalUnlockPtr(pb);
    LocalFreePtr(pb);
    pb = (LPBYTE)LocalAlloc(NONZEROLPTR, 8);
    LocalFree(pb);
    pb = (LPBYTE)LocalAlloc(NONZEROLHND, 8);
    LocalFree(pb);

    hHeap = HeapCreate(HEAP_NO_SERIALIZE, 0, 0);
    pb = (LPBYTE)HeapAlloc(hHeap, HEAP_ZERO_MEMORY, 100);
    pb = (LPBYTE)HeapReAlloc(hHeap, HEAP_REALLOC_IN_PLACE_ONLY, pb, 40);
    HeapSize(hHeap, 0, pb);
    HeapValidate(hHeap, 0, NULL);
    HeapCompact(hHeap, 0);
    HeapLock(hHeap);
    HeapUnlock(hHeap);
    phHeaps = ahHeaps;
    GetProcessHeaps(4, phHeaps);
    HeapFree(hHeap, 0, pb);
    HeapDestroy(hHeap);
    return (int)(WalkHeaps() + CommittedBytes(GetProcessHeap()));
}
