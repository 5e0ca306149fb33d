/* GetSystemInfo, GlobalMemoryStatus, IsBad*Ptr, type sizes and struct layouts (ce6 profile):
 * CONTRACT.md "Types", spec.md, CE-SEMANTICS.md §3, §4, §10, §11, §13. */
#include "check.h"

#include <sys/mman.h>

static char *W;
static DWORD WS;

#define TYPE_IS(x, T) _Generic((x), T: 1, default: 0)

static void test_types(void) {
    CHECK("DWORD is uint32_t", TYPE_IS((DWORD)0, uint32_t));
    CHECK("WORD is uint16_t", TYPE_IS((WORD)0, uint16_t));
    CHECK("BYTE is uint8_t", TYPE_IS((BYTE)0, uint8_t));
    CHECK("BOOL is int32_t", TYPE_IS((BOOL)0, int32_t));
    CHECK("UINT is uint32_t", TYPE_IS((UINT)0, uint32_t));
    CHECK("LONG is int32_t", TYPE_IS((LONG)0, int32_t));
    CHECK("SIZE_T is size_t", TYPE_IS((SIZE_T)0, size_t));
    CHECK("HANDLE is void *", TYPE_IS((HANDLE)0, void *));
    CHECK("LPVOID is void *", TYPE_IS((LPVOID)0, void *));
    CHECK("LPCVOID is const void *", TYPE_IS((LPCVOID)0, const void *));
    CHECK("HLOCAL is HANDLE", TYPE_IS((HLOCAL)0, void *));
    CHECK("LPDWORD is DWORD *", TYPE_IS((LPDWORD)0, uint32_t *));
    CHECK("PDWORD is DWORD *", TYPE_IS((PDWORD)0, uint32_t *));
    CHECK_EQ_U("TRUE is 1", TRUE, 1);
    CHECK_EQ_U("FALSE is 0", FALSE, 0);
    CHECK_EQ_P("INVALID_HANDLE_VALUE is (HANDLE)-1", INVALID_HANDLE_VALUE, (HANDLE)(intptr_t)-1);

    /* MEMORY_BASIC_INFORMATION: CE field types with host pointers, 40 bytes. */
    CHECK_EQ_U("sizeof(MEMORY_BASIC_INFORMATION)", sizeof(MEMORY_BASIC_INFORMATION), 40);
    CHECK_EQ_U("MBI.BaseAddress offset", offsetof(MEMORY_BASIC_INFORMATION, BaseAddress), 0);
    CHECK_EQ_U("MBI.AllocationBase offset", offsetof(MEMORY_BASIC_INFORMATION, AllocationBase), 8);
    CHECK_EQ_U("MBI.AllocationProtect offset", offsetof(MEMORY_BASIC_INFORMATION, AllocationProtect), 16);
    CHECK_EQ_U("MBI.RegionSize offset", offsetof(MEMORY_BASIC_INFORMATION, RegionSize), 20);
    CHECK_EQ_U("MBI.State offset", offsetof(MEMORY_BASIC_INFORMATION, State), 24);
    CHECK_EQ_U("MBI.Protect offset", offsetof(MEMORY_BASIC_INFORMATION, Protect), 28);
    CHECK_EQ_U("MBI.Type offset", offsetof(MEMORY_BASIC_INFORMATION, Type), 32);
    MEMORY_BASIC_INFORMATION mbi;
    CHECK_EQ_U("MBI.RegionSize is a DWORD", sizeof mbi.RegionSize, 4);
    CHECK("MBI.BaseAddress is PVOID", TYPE_IS(mbi.BaseAddress, void *));

    /* SYSTEM_INFO: CE order, anonymous union, DWORD processor mask; LP64 padding. */
    CHECK_EQ_U("sizeof(SYSTEM_INFO)", sizeof(SYSTEM_INFO), 48);
    CHECK_EQ_U("SI.dwOemId offset", offsetof(SYSTEM_INFO, dwOemId), 0);
    CHECK_EQ_U("SI.wProcessorArchitecture offset", offsetof(SYSTEM_INFO, wProcessorArchitecture), 0);
    CHECK_EQ_U("SI.wReserved offset", offsetof(SYSTEM_INFO, wReserved), 2);
    CHECK_EQ_U("SI.dwPageSize offset", offsetof(SYSTEM_INFO, dwPageSize), 4);
    CHECK_EQ_U("SI.lpMinimumApplicationAddress offset", offsetof(SYSTEM_INFO, lpMinimumApplicationAddress), 8);
    CHECK_EQ_U("SI.lpMaximumApplicationAddress offset", offsetof(SYSTEM_INFO, lpMaximumApplicationAddress), 16);
    CHECK_EQ_U("SI.dwActiveProcessorMask offset", offsetof(SYSTEM_INFO, dwActiveProcessorMask), 24);
    CHECK_EQ_U("SI.dwNumberOfProcessors offset", offsetof(SYSTEM_INFO, dwNumberOfProcessors), 28);
    CHECK_EQ_U("SI.dwProcessorType offset", offsetof(SYSTEM_INFO, dwProcessorType), 32);
    CHECK_EQ_U("SI.dwAllocationGranularity offset", offsetof(SYSTEM_INFO, dwAllocationGranularity), 36);
    CHECK_EQ_U("SI.wProcessorLevel offset", offsetof(SYSTEM_INFO, wProcessorLevel), 40);
    CHECK_EQ_U("SI.wProcessorRevision offset", offsetof(SYSTEM_INFO, wProcessorRevision), 42);
    SYSTEM_INFO si;
    CHECK_EQ_U("SI.dwActiveProcessorMask is a DWORD", sizeof si.dwActiveProcessorMask, 4);
    CHECK_EQ_U("SI.wProcessorArchitecture is a WORD", sizeof si.wProcessorArchitecture, 2);

    /* MEMORYSTATUS: 8 DWORDs. */
    CHECK_EQ_U("sizeof(MEMORYSTATUS)", sizeof(MEMORYSTATUS), 32);
    CHECK_EQ_U("MS.dwLength offset", offsetof(MEMORYSTATUS, dwLength), 0);
    CHECK_EQ_U("MS.dwMemoryLoad offset", offsetof(MEMORYSTATUS, dwMemoryLoad), 4);
    CHECK_EQ_U("MS.dwTotalPhys offset", offsetof(MEMORYSTATUS, dwTotalPhys), 8);
    CHECK_EQ_U("MS.dwAvailPhys offset", offsetof(MEMORYSTATUS, dwAvailPhys), 12);
    CHECK_EQ_U("MS.dwTotalPageFile offset", offsetof(MEMORYSTATUS, dwTotalPageFile), 16);
    CHECK_EQ_U("MS.dwAvailPageFile offset", offsetof(MEMORYSTATUS, dwAvailPageFile), 20);
    CHECK_EQ_U("MS.dwTotalVirtual offset", offsetof(MEMORYSTATUS, dwTotalVirtual), 24);
    CHECK_EQ_U("MS.dwAvailVirtual offset", offsetof(MEMORYSTATUS, dwAvailVirtual), 28);
}

/* Constant values (CE-SEMANTICS.md §3, §4). A missing macro is a failed check, not a build error. */
#define CONST_CHECK(macro, value) CHECK_EQ_U(#macro " = " #value, (uint64_t)(macro), (uint64_t)(value))

static void test_constants(void) {
    CONST_CHECK(MEM_COMMIT, 0x00001000);
    CONST_CHECK(MEM_RESERVE, 0x00002000);
    CONST_CHECK(MEM_DECOMMIT, 0x00004000);
    CONST_CHECK(MEM_RELEASE, 0x00008000);
    CONST_CHECK(MEM_FREE, 0x00010000);
    CONST_CHECK(MEM_PRIVATE, 0x00020000);
    CONST_CHECK(MEM_MAPPED, 0x00040000);
    CONST_CHECK(MEM_RESET, 0x00080000);
    CONST_CHECK(MEM_TOP_DOWN, 0x00100000);
    CONST_CHECK(MEM_AUTO_COMMIT, 0x00200000);
    CONST_CHECK(MEM_IMAGE, 0x01000000);
    CONST_CHECK(PAGE_NOACCESS, 0x01);
    CONST_CHECK(PAGE_READONLY, 0x02);
    CONST_CHECK(PAGE_READWRITE, 0x04);
    CONST_CHECK(PAGE_WRITECOPY, 0x08);
    CONST_CHECK(PAGE_EXECUTE, 0x10);
    CONST_CHECK(PAGE_EXECUTE_READ, 0x20);
    CONST_CHECK(PAGE_EXECUTE_READWRITE, 0x40);
    CONST_CHECK(PAGE_EXECUTE_WRITECOPY, 0x80);
    CONST_CHECK(PAGE_GUARD, 0x100);
    CONST_CHECK(PAGE_NOCACHE, 0x200);
    CONST_CHECK(ERROR_SUCCESS, 0);
    CONST_CHECK(ERROR_INVALID_HANDLE, 6);
    CONST_CHECK(ERROR_NOT_ENOUGH_MEMORY, 8);
    CONST_CHECK(ERROR_OUTOFMEMORY, 14);
    CONST_CHECK(ERROR_BAD_LENGTH, 24);
    CONST_CHECK(ERROR_NOT_SUPPORTED, 50);
    CONST_CHECK(ERROR_INVALID_PARAMETER, 87);
    CONST_CHECK(ERROR_INVALID_ADDRESS, 487);
    CONST_CHECK(PROCESSOR_ARCHITECTURE_INTEL, 0);
    CONST_CHECK(PROCESSOR_ARCHITECTURE_ARM, 5);
    CONST_CHECK(PROCESSOR_INTEL_PENTIUM, 586);
}

static void test_system_info(void) {
    unsigned char buf[sizeof(SYSTEM_INFO) + 16];
    memset(buf, 0xCC, sizeof buf);
    SYSTEM_INFO *si = (SYSTEM_INFO *)buf;
    SetLastError(CHECK_SENTINEL);
    GetSystemInfo(si);
    CHECK_LE("GetSystemInfo leaves the last error alone", LE_UNTOUCHED);
#if defined(__x86_64__)
    CHECK_EQ_U("wProcessorArchitecture = PROCESSOR_ARCHITECTURE_INTEL on x86-64", si->wProcessorArchitecture,
               PROCESSOR_ARCHITECTURE_INTEL);
    CHECK_EQ_U("dwProcessorType = 586 on x86-64", si->dwProcessorType, 586);
    CHECK_EQ_U("wProcessorLevel = 5 on x86-64", si->wProcessorLevel, 5);
    CHECK_EQ_U("wProcessorRevision = 0 on x86-64", si->wProcessorRevision, 0);
    CHECK_EQ_U("dwOemId = 0 (the union of architecture 0 and wReserved 0)", si->dwOemId, 0);
#endif
    CHECK_EQ_U("wReserved = 0", si->wReserved, 0);
    CHECK_EQ_U("dwPageSize = 4096", si->dwPageSize, 4096);
    CHECK_EQ_U("dwAllocationGranularity = 0x10000", si->dwAllocationGranularity, 0x10000);
    CHECK_EQ_U("dwActiveProcessorMask = 1", si->dwActiveProcessorMask, 1);
    CHECK_EQ_U("dwNumberOfProcessors = 1", si->dwNumberOfProcessors, 1);
    if (W == (char *)(uintptr_t)0x10000) {
        CHECK_EQ_P("CE placement: lpMinimumApplicationAddress = 0x10000", si->lpMinimumApplicationAddress, 0x10000);
        CHECK_EQ_P("CE placement: lpMaximumApplicationAddress = 0x7FFFFFFF", si->lpMaximumApplicationAddress,
                   0x7FFFFFFF);
    } else {
        CHECK("window 0 at the CE placement (for the lpMinimum/lpMaximum checks)", 0);
    }
    CHECK("lpMinimum <= window base and lpMaximum >= window end - 1",
          (char *)si->lpMinimumApplicationAddress <= W &&
              U64(si->lpMaximumApplicationAddress) >= U64(W) + WS - 1);
    CHECK("nothing written past sizeof(SYSTEM_INFO)", check_bytes_are(buf + sizeof(SYSTEM_INFO), 16, 0xCC));
    CHECK("padding aside, every field was written",
          si->dwPageSize != 0xCCCCCCCCu && si->dwProcessorType != 0xCCCCCCCCu && si->wProcessorRevision != 0xCCCC);
}

static void test_memory_status(void) {
    MEMORYSTATUS ms;
    memset(&ms, 0xCC, sizeof ms);
    ms.dwLength = 0;
    SetLastError(CHECK_SENTINEL);
    GlobalMemoryStatus(&ms);
    CHECK_LE("GlobalMemoryStatus leaves the last error alone", LE_UNTOUCHED);
    CHECK_EQ_U("dwLength written as 32 (input 0 ignored)", ms.dwLength, 32);
    CHECK_EQ_U("dwTotalPageFile = 0", ms.dwTotalPageFile, 0);
    CHECK_EQ_U("dwAvailPageFile = 0", ms.dwAvailPageFile, 0);
    CHECK_EQ_U("ce6: dwTotalVirtual = 1 GB", ms.dwTotalVirtual, 0x40000000);
    CHECK("dwAvailVirtual <= dwTotalVirtual", ms.dwAvailVirtual <= ms.dwTotalVirtual);
    CHECK_EQ_U("dwAvailVirtual is whole 64 KB blocks", ms.dwAvailVirtual % GRAN, 0);
    CHECK("dwTotalPhys > 0 and <= 0xFFFFF000", ms.dwTotalPhys > 0 && ms.dwTotalPhys <= 0xFFFFF000u);
    CHECK("dwAvailPhys <= dwTotalPhys", ms.dwAvailPhys <= ms.dwTotalPhys);
    CHECK("dwMemoryLoad <= 100", ms.dwMemoryLoad <= 100);
    if (ms.dwTotalPhys < 0xFFFFF000u && ms.dwAvailPhys < 0xFFFFF000u && ms.dwTotalPhys > 0)
        CHECK_EQ_U("dwMemoryLoad = 100 - avail*100/total", ms.dwMemoryLoad,
                   100 - (uint64_t)ms.dwAvailPhys * 100 / ms.dwTotalPhys);

    memset(&ms, 0xCC, sizeof ms);
    GlobalMemoryStatus(&ms);
    CHECK_EQ_U("dwLength written as 32 (garbage input ignored)", ms.dwLength, 32);

    /* dwAvailVirtual = the whole free 64 KB blocks of window 0 (cross-checked with a VirtualQuery walk). */
    uint64_t blocks = 0;
    char *p = W;
    MEMORY_BASIC_INFORMATION m;
    while (p < W + WS) {
        if (query(p, &m) != sizeof m || m.RegionSize == 0) break;
        if (m.State == MEM_FREE) {
            uint64_t lo = (U64(p) + GRAN - 1) & ~(uint64_t)(GRAN - 1);
            uint64_t hi = (U64(p) + m.RegionSize) & ~(uint64_t)(GRAN - 1);
            if (hi > lo) blocks += (hi - lo) / GRAN;
        }
        p += m.RegionSize;
    }
    GlobalMemoryStatus(&ms);
    CHECK_EQ_U("dwAvailVirtual = whole free 64 KB blocks found by VirtualQuery", ms.dwAvailVirtual, blocks * GRAN);

    DWORD before = ms.dwAvailVirtual;
    char *r = VirtualAlloc(NULL, 4096, MEM_RESERVE, PAGE_NOACCESS);
    GlobalMemoryStatus(&ms);
    CHECK_EQ_U("dwAvailVirtual drops by 64 KB after a one-page reservation", ms.dwAvailVirtual, before - GRAN);
    char *r2 = VirtualAlloc(NULL, 0x10001, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    GlobalMemoryStatus(&ms);
    CHECK_EQ_U("dwAvailVirtual drops by 128 KB more after a 0x10001-byte reservation", ms.dwAvailVirtual,
               before - 3 * GRAN);
    if (r != NULL) VirtualFree(r, 0, MEM_RELEASE);
    if (r2 != NULL) VirtualFree(r2, 0, MEM_RELEASE);
    GlobalMemoryStatus(&ms);
    CHECK_EQ_U("dwAvailVirtual back after releasing", ms.dwAvailVirtual, before);
}

static const char ro_bytes[64] = "read-only";
static char rw_global[64];

static void system_bad_buffers_child(void *arg) {
    char *ro = arg;
    GetSystemInfo(NULL);
    GetSystemInfo((LPSYSTEM_INFO)(uintptr_t)0x10);
    GetSystemInfo((LPSYSTEM_INFO)(uintptr_t)0xdead0000u);
    GetSystemInfo((LPSYSTEM_INFO)ro);
    GetSystemInfo((LPSYSTEM_INFO)(uintptr_t)ro_bytes);
    CHECK("GetSystemInfo into a read-only page wrote nothing", check_bytes_are(ro, PG, 0));
    GlobalMemoryStatus(NULL);
    GlobalMemoryStatus((LPMEMORYSTATUS)(uintptr_t)0x10);
    GlobalMemoryStatus((LPMEMORYSTATUS)(uintptr_t)0xdead0000u);
    GlobalMemoryStatus((LPMEMORYSTATUS)ro);
    GlobalMemoryStatus((LPMEMORYSTATUS)(uintptr_t)ro_bytes);
    CHECK("GlobalMemoryStatus into a read-only page wrote nothing", check_bytes_are(ro, PG, 0));
    CHECK("rodata untouched", strcmp(ro_bytes, "read-only") == 0);
}

static int a_function(int x) { return x + 1; }
int main(void);

static void test_is_bad(void) {
    char *rw = VirtualAlloc(NULL, 0x2000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    char *ro = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READONLY);
    char *rs = VirtualAlloc(NULL, 0x2000, MEM_RESERVE, PAGE_NOACCESS);
    char *na = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_NOACCESS);
    char *xr = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_EXECUTE_READ);
    char *xrw = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_EXECUTE_READWRITE);
    char *fr = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (fr != NULL) VirtualFree(fr, 0, MEM_RELEASE);
    if (rs != NULL) VirtualAlloc(rs, 0x1000, MEM_COMMIT, PAGE_READWRITE); /* page 0 RW, page 1 reserved */
    CHECK("IsBad*Ptr setup", rw && ro && rs && na && xr && xrw && fr);
    if (!(rw && ro && rs && na && xr && xrw && fr)) return;
    const DWORD BAD = ERROR_INVALID_PARAMETER; /* ce6 */

    CHECK_RET_ERR("IsBadReadPtr committed RW -> FALSE", IsBadReadPtr(rw, 0x2000), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadWritePtr committed RW -> FALSE", IsBadWritePtr(rw, 0x2000), FALSE, LE_UNTOUCHED);
    /* IsBadCodePtr tests READ access at one address (CE docs: "whether the calling process has read
     * access to the memory at the specified address"). */
    CHECK_RET_ERR("IsBadCodePtr committed RW (readable) -> FALSE", IsBadCodePtr((FARPROC)(uintptr_t)rw), FALSE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadReadPtr read-only -> FALSE", IsBadReadPtr(ro, 0x1000), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadWritePtr read-only -> TRUE", IsBadWritePtr(ro, 1), TRUE, BAD);
    CHECK_RET_ERR("IsBadReadPtr reserved -> TRUE", IsBadReadPtr(rs + 0x1000, 1), TRUE, BAD);
    CHECK_RET_ERR("IsBadWritePtr reserved -> TRUE", IsBadWritePtr(rs + 0x1000, 1), TRUE, BAD);
    CHECK_RET_ERR("IsBadCodePtr reserved -> TRUE", IsBadCodePtr((FARPROC)(uintptr_t)(rs + 0x1000)), TRUE, BAD);
    CHECK_RET_ERR("IsBadReadPtr committed RW running into reserved -> TRUE", IsBadReadPtr(rs + 0xFF0, 0x20), TRUE, BAD);
    CHECK_RET_ERR("IsBadWritePtr committed RW running into reserved -> TRUE", IsBadWritePtr(rs + 0xFF0, 0x20), TRUE,
                  BAD);
    CHECK_RET_ERR("IsBadReadPtr last byte of the RW page -> FALSE", IsBadReadPtr(rs + 0xFFF, 1), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadReadPtr committed PAGE_NOACCESS -> TRUE", IsBadReadPtr(na, 1), TRUE, BAD);
    CHECK_RET_ERR("IsBadWritePtr committed PAGE_NOACCESS -> TRUE", IsBadWritePtr(na, 1), TRUE, BAD);
    CHECK_RET_ERR("IsBadCodePtr committed PAGE_NOACCESS -> TRUE", IsBadCodePtr((FARPROC)(uintptr_t)na), TRUE, BAD);
    CHECK_RET_ERR("IsBadCodePtr read-only -> FALSE", IsBadCodePtr((FARPROC)(uintptr_t)ro), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadReadPtr released -> TRUE", IsBadReadPtr(fr, 1), TRUE, BAD);
    CHECK_RET_ERR("IsBadWritePtr released -> TRUE", IsBadWritePtr(fr, 1), TRUE, BAD);
    CHECK_RET_ERR("IsBadCodePtr released -> TRUE", IsBadCodePtr((FARPROC)(uintptr_t)fr), TRUE, BAD);
    CHECK_RET_ERR("IsBadReadPtr tail page -> TRUE", IsBadReadPtr(rs + 0x2000, 1), TRUE, BAD);
    CHECK_RET_ERR("IsBadReadPtr PAGE_EXECUTE_READ -> FALSE", IsBadReadPtr(xr, 16), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadWritePtr PAGE_EXECUTE_READ -> TRUE", IsBadWritePtr(xr, 16), TRUE, BAD);
    CHECK_RET_ERR("IsBadCodePtr PAGE_EXECUTE_READ -> FALSE", IsBadCodePtr((FARPROC)(uintptr_t)xr), FALSE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadWritePtr PAGE_EXECUTE_READWRITE -> FALSE", IsBadWritePtr(xrw, 16), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadCodePtr PAGE_EXECUTE_READWRITE -> FALSE", IsBadCodePtr((FARPROC)(uintptr_t)xrw), FALSE,
                  LE_UNTOUCHED);

    /* ucb edge cases. */
    CHECK_RET_ERR("IsBadReadPtr ucb 0 -> FALSE", IsBadReadPtr(rw, 0), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadWritePtr ucb 0 -> FALSE", IsBadWritePtr(rw, 0), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadReadPtr ucb 0 on a reserved page -> FALSE", IsBadReadPtr(rs + 0x1000, 0), FALSE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadReadPtr ucb 0x80000000 -> TRUE", IsBadReadPtr(rw, 0x80000000u), TRUE, BAD);
    CHECK_RET_ERR("IsBadWritePtr ucb 0x80000000 -> TRUE", IsBadWritePtr(rw, 0x80000000u), TRUE, BAD);
    CHECK_RET_ERR("IsBadReadPtr ucb 0xFFFFFFFF -> TRUE", IsBadReadPtr(rw, 0xFFFFFFFFu), TRUE, BAD);
    CHECK_RET_ERR("IsBadWritePtr ucb 0xFFFFFFFF on the stack -> TRUE", IsBadWritePtr(&rw, 0xFFFFFFFFu), TRUE, BAD);
    CHECK_RET_ERR("IsBadReadPtr ucb 0x7FFFFFFF past the RW region -> TRUE", IsBadReadPtr(rw, 0x7FFFFFFF), TRUE, BAD);

    /* NULL and wild. */
    CHECK_RET_ERR("IsBadReadPtr NULL -> TRUE", IsBadReadPtr(NULL, 1), TRUE, BAD);
    CHECK_RET_ERR("IsBadWritePtr NULL -> TRUE", IsBadWritePtr(NULL, 1), TRUE, BAD);
    CHECK_RET_ERR("IsBadCodePtr NULL -> TRUE", IsBadCodePtr(NULL), TRUE, BAD);
    CHECK_RET_ERR("IsBadReadPtr NULL with ucb 0 -> FALSE", IsBadReadPtr(NULL, 0), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadReadPtr (void*)0x10 -> TRUE", IsBadReadPtr((void *)(uintptr_t)0x10, 4), TRUE, BAD);
    CHECK_RET_ERR("IsBadReadPtr (void*)0xdead0000 -> TRUE", IsBadReadPtr((void *)(uintptr_t)0xdead0000u, 4), TRUE,
                  BAD);
    CHECK_RET_ERR("IsBadWritePtr (void*)0xdead0000 -> TRUE", IsBadWritePtr((void *)(uintptr_t)0xdead0000u, 4), TRUE,
                  BAD);
    CHECK_RET_ERR("IsBadReadPtr range wrapping the address space -> TRUE",
                  IsBadReadPtr((void *)(UINTPTR_MAX - 10), 100), TRUE, BAD);
    CHECK_RET_ERR("IsBadWritePtr range wrapping the address space -> TRUE",
                  IsBadWritePtr((void *)(UINTPTR_MAX - 10), 100), TRUE, BAD);
    CHECK_RET_ERR("IsBadCodePtr (void*)0xdead0000 -> TRUE", IsBadCodePtr((FARPROC)(uintptr_t)0xdead0000u), TRUE, BAD);

    /* Host memory outside the window. */
    char stack_buf[256];
    memset(stack_buf, 0, sizeof stack_buf);
    CHECK_RET_ERR("IsBadReadPtr stack -> FALSE", IsBadReadPtr(stack_buf, sizeof stack_buf), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadWritePtr stack -> FALSE", IsBadWritePtr(stack_buf, sizeof stack_buf), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadReadPtr global -> FALSE", IsBadReadPtr(rw_global, sizeof rw_global), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadWritePtr global -> FALSE", IsBadWritePtr(rw_global, sizeof rw_global), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadReadPtr rodata -> FALSE", IsBadReadPtr(ro_bytes, sizeof ro_bytes), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadWritePtr rodata -> TRUE", IsBadWritePtr((void *)(uintptr_t)ro_bytes, 1), TRUE, BAD);
    CHECK_RET_ERR("IsBadCodePtr rodata (readable) -> FALSE", IsBadCodePtr((FARPROC)(uintptr_t)ro_bytes), FALSE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadCodePtr global data (readable) -> FALSE", IsBadCodePtr((FARPROC)(uintptr_t)rw_global), FALSE,
                  LE_UNTOUCHED);
    void *heap = malloc(1000);
    CHECK_RET_ERR("IsBadReadPtr malloc -> FALSE", IsBadReadPtr(heap, 1000), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadWritePtr malloc -> FALSE", IsBadWritePtr(heap, 1000), FALSE, LE_UNTOUCHED);
    free(heap);
    FARPROC fn = (FARPROC)(uintptr_t)a_function;
    CHECK_RET_ERR("IsBadCodePtr on a function -> FALSE", IsBadCodePtr(fn), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadCodePtr on main -> FALSE", IsBadCodePtr((FARPROC)(uintptr_t)main), FALSE, LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadCodePtr on a libc function -> FALSE", IsBadCodePtr((FARPROC)(uintptr_t)memcpy), FALSE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadReadPtr on code -> FALSE", IsBadReadPtr((const void *)(uintptr_t)a_function, 16), FALSE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("IsBadWritePtr on code -> TRUE", IsBadWritePtr((void *)(uintptr_t)a_function, 1), TRUE, BAD);
    /* Host pages outside the window: [PROT_READ][PROT_NONE][unmapped]. */
    long hp = sysconf(_SC_PAGESIZE);
    char *host = mmap(NULL, (size_t)hp * 3, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (host != MAP_FAILED && mprotect(host + hp, (size_t)hp, PROT_NONE) == 0 &&
        munmap(host + 2 * hp, (size_t)hp) == 0) {
        CHECK_RET_ERR("IsBadReadPtr host PROT_READ mapping -> FALSE", IsBadReadPtr(host, (UINT)hp), FALSE,
                      LE_UNTOUCHED);
        CHECK_RET_ERR("IsBadWritePtr host PROT_READ mapping -> TRUE", IsBadWritePtr(host, 1), TRUE, BAD);
        CHECK_RET_ERR("IsBadCodePtr host PROT_READ mapping -> FALSE", IsBadCodePtr((FARPROC)(uintptr_t)host), FALSE,
                      LE_UNTOUCHED);
        CHECK_RET_ERR("IsBadCodePtr host PROT_NONE mapping -> TRUE", IsBadCodePtr((FARPROC)(uintptr_t)(host + hp)), TRUE,
                      BAD);
        CHECK_RET_ERR("IsBadReadPtr host PROT_NONE mapping -> TRUE", IsBadReadPtr(host + hp, 1), TRUE, BAD);
        CHECK_RET_ERR("IsBadWritePtr host PROT_NONE mapping -> TRUE", IsBadWritePtr(host + hp, 1), TRUE, BAD);
        CHECK_RET_ERR("IsBadReadPtr host PROT_READ running into PROT_NONE -> TRUE", IsBadReadPtr(host + hp - 8, 16),
                      TRUE, BAD);
        CHECK_RET_ERR("IsBadReadPtr host unmapped page -> TRUE", IsBadReadPtr(host + 2 * hp, 1), TRUE, BAD);
        munmap(host, (size_t)hp * 2);
    } else {
        CHECK("host mmap/mprotect/munmap for the IsBad*Ptr checks", 0);
    }
    CHECK_EQ_U("a_function still works", a_function(1), 2);

    check_child("GetSystemInfo/GlobalMemoryStatus with bad buffers do not crash", system_bad_buffers_child, ro);

    VirtualFree(rw, 0, MEM_RELEASE);
    VirtualFree(ro, 0, MEM_RELEASE);
    VirtualFree(rs, 0, MEM_RELEASE);
    VirtualFree(na, 0, MEM_RELEASE);
    VirtualFree(xr, 0, MEM_RELEASE);
    VirtualFree(xrw, 0, MEM_RELEASE);
}

int main(void) {
    W = window_base(0, &WS);
    CHECK("window 0 exists", W != NULL && WS != 0);
    if (W == NULL) return check_summary();
    test_types();
    test_constants();
    test_system_info();
    test_memory_status();
    test_is_bad();
    return check_summary();
}
