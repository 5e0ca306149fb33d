/* Memory-mapped files under COREDLL_PROFILE=ce5: the rules that differ from ce6 (issue 6,
 * CE-SEMANTICS.md §15, README "File mappings and shared memory"): UnmapViewOfFile of an address
 * that is not a view fails with ERROR_INVALID_ADDRESS, and views live in the large-memory area
 * (coredll_window(1)), as on CE 5, not in the 32 MB slot. Everything else is as in ce6. */
#include "check.h"

#define BAD_HANDLE ((HANDLE)(uintptr_t)0x12345678u)

static void do_write(void *p) {
    volatile char *c = p;
    *c = 1;
}

int main(void) {
    DWORD slot_size = 0, large_size = 0;
    char *slot = window_base(0, &slot_size);
    char *large = window_base(1, &large_size);
    CHECK("setup: ce5 has the 32 MB slot and the large-memory area", slot != NULL && large != NULL);

    HANDLE m = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x4000000, NULL));
    CHECK_NE_U("64 MB pagefile mapping (twice the slot)", m, NULL);
    CHECK_LE("... last error 0", 0);
    if (m == NULL) return check_summary();

    char *v = CALL(MapViewOfFile(m, FILE_MAP_ALL_ACCESS, 0, 0, 0));
    CHECK_NE_U("a 64 MB view (does not need the 32 MB slot)", v, NULL);
    if (v != NULL) {
        CHECK("... lies in the large-memory area (coredll_window(1)), below 4 GB",
              in_window(1, v, 0x4000000) && U64(v) + 0x4000000 <= 0x100000000ull);
        CHECK("... not in the slot", !in_window(0, v, 1));
        CHECK_QUERY("... VirtualQuery: MEM_COMMIT/PAGE_READWRITE/MEM_MAPPED", v, v, v, 0x4000000, MEM_COMMIT,
                    PAGE_READWRITE, MEM_MAPPED);
        CHECK("... its first and last pages are usable",
              fill(v, 0x21, 0x1000) && fill(v + 0x3FFF000, 0x22, 0x1000) && check_bytes_are(v, 0x1000, 0x21));
    }
    char *r = CALL(MapViewOfFile(m, FILE_MAP_READ, 0, 0x3FFF123, 0x10));
    CHECK_NE_U("a read-only view at an unaligned offset", r, NULL);
    if (r != NULL) {
        CHECK_EQ_U("... the pointer is offset into its 64 KB view", U64(r) & 0xFFFF, 0xF123);
        CHECK("... and in the large-memory area", in_window(1, r, 0x10));
        CHECK("... shows the other view's data", v == NULL || check_bytes_are(r, 0x10, 0x22));
        check_expect_signal("write through the read-only view -> SIGSEGV", do_write, r, SIGSEGV);
    }

    /* UnmapViewOfFile: ce5's error code. */
    char *va = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    CHECK_RET_ERR("ce5: UnmapViewOfFile(NULL) -> ERROR_INVALID_ADDRESS", UnmapViewOfFile(NULL), FALSE,
                  ERROR_INVALID_ADDRESS);
    if (v != NULL) {
        CHECK_RET_ERR("ce5: UnmapViewOfFile(view + 1) -> ERROR_INVALID_ADDRESS", UnmapViewOfFile(v + 1), FALSE,
                      ERROR_INVALID_ADDRESS);
        CHECK_RET_ERR("ce5: UnmapViewOfFile(view + 0x10000) -> ERROR_INVALID_ADDRESS", UnmapViewOfFile(v + 0x10000),
                      FALSE, ERROR_INVALID_ADDRESS);
    }
    if (r != NULL)
        CHECK_RET_ERR("ce5: UnmapViewOfFile(64 KB base of the unaligned view) -> ERROR_INVALID_ADDRESS",
                      UnmapViewOfFile((void *)(uintptr_t)(U64(r) & ~0xFFFFull)), FALSE, ERROR_INVALID_ADDRESS);
    if (va != NULL)
        CHECK_RET_ERR("ce5: UnmapViewOfFile(VirtualAlloc memory) -> ERROR_INVALID_ADDRESS", UnmapViewOfFile(va), FALSE,
                      ERROR_INVALID_ADDRESS);
    CHECK_RET_ERR("ce5: UnmapViewOfFile(0x12345678) -> ERROR_INVALID_ADDRESS",
                  UnmapViewOfFile((void *)(uintptr_t)0x12345678u), FALSE, ERROR_INVALID_ADDRESS);

    /* The other calls keep their ce6 codes. */
    if (v != NULL) {
        CHECK_RET_ERR("FlushViewOfFile past the view -> ERROR_INVALID_PARAMETER", FlushViewOfFile(v, 0x4000001), FALSE,
                      ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("VirtualFree(view, 0, MEM_RELEASE) -> ERROR_INVALID_PARAMETER", VirtualFree(v, 0, MEM_RELEASE),
                      FALSE, ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("VirtualAlloc(view, MEM_COMMIT) -> ERROR_INVALID_PARAMETER",
                      VirtualAlloc(v, 0x1000, MEM_COMMIT, PAGE_READWRITE), NULL, ERROR_INVALID_PARAMETER);
    }
    if (va != NULL) {
        CHECK_RET_ERR("FlushViewOfFile(VirtualAlloc memory) -> ERROR_INVALID_PARAMETER", FlushViewOfFile(va, 1), FALSE,
                      ERROR_INVALID_PARAMETER);
        VirtualFree(va, 0, MEM_RELEASE);
    }
    CHECK_RET_ERR("MapViewOfFile(0x12345678) -> ERROR_INVALID_HANDLE", MapViewOfFile(BAD_HANDLE, FILE_MAP_READ, 0, 0, 0),
                  NULL, ERROR_INVALID_HANDLE);
    CHECK_RET_ERR("MapViewOfFile access 0x1 -> ERROR_INVALID_PARAMETER", MapViewOfFile(m, 1, 0, 0, 0), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("pagefile mapping, PAGE_READONLY -> ERROR_INVALID_PARAMETER",
                  CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READONLY, 0, 0x1000, NULL), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("CloseHandle(0x12345678) -> ERROR_INVALID_HANDLE", CloseHandle(BAD_HANDLE), FALSE,
                  ERROR_INVALID_HANDLE);

    if (r != NULL) CHECK_RET_ERR("UnmapViewOfFile of the unaligned view", UnmapViewOfFile(r), TRUE, LE_UNTOUCHED);
    if (v != NULL) {
        CHECK_RET_ERR("UnmapViewOfFile of the 64 MB view", UnmapViewOfFile(v), TRUE, LE_UNTOUCHED);
        CHECK_QUERY("its range is MEM_FREE (ce5: free Type 0)", v, v, NULL, Q_ANY, MEM_FREE, PAGE_NOACCESS, 0);
        CHECK_RET_ERR("ce5: UnmapViewOfFile of it again -> ERROR_INVALID_ADDRESS", UnmapViewOfFile(v), FALSE,
                      ERROR_INVALID_ADDRESS);
    }
    CHECK_RET_ERR("CloseHandle of the mapping", CloseHandle(m), TRUE, LE_UNTOUCHED);
    return check_summary();
}
