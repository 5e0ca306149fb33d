/* The *Ex forms and Read/WriteProcessMemory (ce6 profile): spec.md "VirtualAllocEx & co" and
 * "ReadProcessMemory/WriteProcessMemory", CE-SEMANTICS.md §1, §5.1 (15), §14. */
#include "check.h"

#define SELF ((HANDLE)(uintptr_t)0x42)
#define PIDH ((HANDLE)(uintptr_t)getpid())

struct named_handle {
    HANDLE h;
    const char *name;
};

static struct named_handle bad_handles[6];
static int n_bad;

static void setup_bad_handles(void) {
    bad_handles[n_bad++] = (struct named_handle){NULL, "NULL"};
    bad_handles[n_bad++] = (struct named_handle){INVALID_HANDLE_VALUE, "INVALID_HANDLE_VALUE"};
    bad_handles[n_bad++] = (struct named_handle){(HANDLE)(uintptr_t)0x41, "0x41"};
    bad_handles[n_bad++] = (struct named_handle){(HANDLE)(uintptr_t)0x43, "0x43"};
    bad_handles[n_bad++] = (struct named_handle){(HANDLE)(uintptr_t)(getpid() + 1), "getpid()+1"};
    bad_handles[n_bad++] = (struct named_handle){(HANDLE)(uintptr_t)0xdead0000u, "0xdead0000"};
}

static void test_process_identity(void) {
    CHECK_RET_ERR("GetCurrentProcess() is the pseudo-handle 0x42", GetCurrentProcess(), SELF, LE_UNTOUCHED);
    CHECK_RET_ERR("GetCurrentProcessId() is getpid()", GetCurrentProcessId(), (DWORD)getpid(), LE_UNTOUCHED);
}

static void test_virtual_ex(void) {
    HANDLE good[3] = {SELF, PIDH, GetCurrentProcess()};
    const char *gname[3] = {"0x42", "getpid()", "GetCurrentProcess()"};
    for (int i = 0; i < 3; i++) {
        char nm[128];
        char *p = CALL(VirtualAllocEx(good[i], NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS));
        snprintf(nm, sizeof nm, "VirtualAllocEx(%s) reserve succeeds, last error 0", gname[i]);
        CHECK(nm, p != NULL && GetLastError() == 0 && in_window(0, p, 0x10000));
        if (p == NULL) continue;
        snprintf(nm, sizeof nm, "VirtualAllocEx(%s) commit", gname[i]);
        CHECK_RET_ERR(nm, VirtualAllocEx(good[i], p + 0x1000, 0x2000, MEM_COMMIT, PAGE_READWRITE), p + 0x1000, 0);
        MEMORY_BASIC_INFORMATION m;
        memset(&m, 0, sizeof m);
        snprintf(nm, sizeof nm, "VirtualQueryEx(%s) returns 40", gname[i]);
        CHECK_RET_ERR(nm, VirtualQueryEx(good[i], p + 0x1000, &m, sizeof m), 40, LE_UNTOUCHED);
        snprintf(nm, sizeof nm, "VirtualQueryEx(%s) result", gname[i]);
        CHECK(nm, m.BaseAddress == p + 0x1000 && m.AllocationBase == p && m.RegionSize == 0x2000 &&
                      m.State == MEM_COMMIT && m.Protect == PAGE_READWRITE && m.Type == MEM_PRIVATE &&
                      m.AllocationProtect == PAGE_NOACCESS);
        DWORD old = 0;
        snprintf(nm, sizeof nm, "VirtualProtectEx(%s)", gname[i]);
        CHECK_RET_ERR(nm, VirtualProtectEx(good[i], p + 0x1000, 0x1000, PAGE_READONLY, &old), TRUE, LE_UNTOUCHED);
        snprintf(nm, sizeof nm, "VirtualProtectEx(%s) *old", gname[i]);
        CHECK_EQ_U(nm, old, PAGE_READWRITE);
        snprintf(nm, sizeof nm, "VirtualProtectEx(%s) took effect", gname[i]);
        CHECK_QUERY(nm, p + 0x1000, p + 0x1000, p, 0x1000, MEM_COMMIT, PAGE_READONLY, MEM_PRIVATE);
        snprintf(nm, sizeof nm, "VirtualFreeEx(%s) MEM_DECOMMIT", gname[i]);
        CHECK_RET_ERR(nm, VirtualFreeEx(good[i], p + 0x1000, 0x1000, MEM_DECOMMIT), TRUE, LE_UNTOUCHED);
        snprintf(nm, sizeof nm, "VirtualFreeEx(%s) MEM_DECOMMIT took effect", gname[i]);
        CHECK_QUERY(nm, p + 0x1000, p + 0x1000, p, 0x1000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
        snprintf(nm, sizeof nm, "VirtualFreeEx(%s) MEM_RELEASE", gname[i]);
        CHECK_RET_ERR(nm, VirtualFreeEx(good[i], p, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);
        snprintf(nm, sizeof nm, "VirtualFreeEx(%s) MEM_RELEASE took effect", gname[i]);
        CHECK_QUERY(nm, p, p, NULL, Q_ANY, MEM_FREE, PAGE_NOACCESS, MEM_PRIVATE);
    }

    /* The Ex forms apply the same rules as the plain ones. */
    MEMORY_BASIC_INFORMATION m;
    DWORD old;
    char *r = VirtualAllocEx(SELF, NULL, 0x10000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    CHECK_NE_U("committed region for Ex rule checks", r, NULL);
    if (r == NULL) return;
    CHECK_RET_ERR("VirtualAllocEx size 0 -> ERROR_INVALID_PARAMETER",
                  VirtualAllocEx(SELF, NULL, 0, MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualAllocEx bad protection -> ERROR_INVALID_PARAMETER",
                  VirtualAllocEx(SELF, NULL, 0x1000, MEM_RESERVE, PAGE_WRITECOPY), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualAllocEx(pid) no room -> ERROR_NOT_ENOUGH_MEMORY",
                  VirtualAllocEx(PIDH, NULL, 0x7FFFFFFF, MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_NOT_ENOUGH_MEMORY);
    CHECK_RET_ERR("VirtualFreeEx MEM_RELEASE with size -> ERROR_INVALID_PARAMETER",
                  VirtualFreeEx(SELF, r, 0x1000, MEM_RELEASE), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualProtectEx NULL old -> ERROR_INVALID_PARAMETER",
                  VirtualProtectEx(SELF, r, 0x1000, PAGE_READONLY, NULL), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualQueryEx NULL address -> ERROR_INVALID_PARAMETER", VirtualQueryEx(SELF, NULL, &m, sizeof m),
                  0, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualQueryEx short length -> ERROR_BAD_LENGTH", VirtualQueryEx(PIDH, r, &m, 39), 0,
                  ERROR_BAD_LENGTH);

    /* Bad handles: ERROR_INVALID_HANDLE and nothing changes. */
    for (int i = 0; i < n_bad; i++) {
        char nm[128];
        HANDLE h = bad_handles[i].h;
        const char *hn = bad_handles[i].name;
        snprintf(nm, sizeof nm, "VirtualAllocEx(%s) -> NULL, ERROR_INVALID_HANDLE", hn);
        CHECK_RET_ERR(nm, VirtualAllocEx(h, NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE), NULL,
                      ERROR_INVALID_HANDLE);
        snprintf(nm, sizeof nm, "VirtualFreeEx(%s) MEM_RELEASE -> FALSE, ERROR_INVALID_HANDLE", hn);
        CHECK_RET_ERR(nm, VirtualFreeEx(h, r, 0, MEM_RELEASE), FALSE, ERROR_INVALID_HANDLE);
        snprintf(nm, sizeof nm, "VirtualFreeEx(%s) MEM_DECOMMIT -> FALSE, ERROR_INVALID_HANDLE", hn);
        CHECK_RET_ERR(nm, VirtualFreeEx(h, r, 0x1000, MEM_DECOMMIT), FALSE, ERROR_INVALID_HANDLE);
        old = 0x12345678;
        snprintf(nm, sizeof nm, "VirtualProtectEx(%s) -> FALSE, ERROR_INVALID_HANDLE", hn);
        CHECK_RET_ERR(nm, VirtualProtectEx(h, r, 0x1000, PAGE_READONLY, &old), FALSE, ERROR_INVALID_HANDLE);
        snprintf(nm, sizeof nm, "VirtualQueryEx(%s) -> 0, ERROR_INVALID_HANDLE", hn);
        CHECK_RET_ERR(nm, VirtualQueryEx(h, r, &m, sizeof m), 0, ERROR_INVALID_HANDLE);
    }
    CHECK_QUERY("bad-handle calls changed nothing", r, r, r, 0x10000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    CHECK_RET_ERR("release Ex region", VirtualFreeEx(SELF, r, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);
}

/* ---- Read/WriteProcessMemory ---- */

static char *rw, *ro, *rsv, *na, *xr, *xrw; /* committed RW; RO; reserved; NOACCESS; EXEC_READ; EXEC_RW */
static char *rw_then_rsv;                     /* page 0 RW, page 1 reserved */
static char *rw_then_ro;                      /* page 0 RW, page 1 RO */
static unsigned char global_src[256];

static void setup_rpm(void) {
    rw = VirtualAlloc(NULL, 0x2000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    ro = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READONLY);
    rsv = VirtualAlloc(NULL, 0x1000, MEM_RESERVE, PAGE_NOACCESS);
    na = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_NOACCESS);
    xr = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_EXECUTE_READ);
    xrw = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_EXECUTE_READWRITE);
    rw_then_rsv = VirtualAlloc(NULL, 0x2000, MEM_RESERVE, PAGE_NOACCESS);
    if (rw_then_rsv != NULL) VirtualAlloc(rw_then_rsv, 0x1000, MEM_COMMIT, PAGE_READWRITE);
    rw_then_ro = VirtualAlloc(NULL, 0x2000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    DWORD old;
    if (rw_then_ro != NULL) VirtualProtect(rw_then_ro + 0x1000, 0x1000, PAGE_READONLY, &old);
    CHECK("Read/WriteProcessMemory setup", rw && ro && rsv && na && xr && xrw && rw_then_rsv && rw_then_ro);
    static unsigned char pattern[0x2000];
    for (int i = 0; i < 0x2000; i++) pattern[i] = (unsigned char)(i * 7 + 1);
    CHECK("setup: fill the RW region", rw != NULL && safe_write(rw, pattern, sizeof pattern));
    for (int i = 0; i < 256; i++) global_src[i] = (unsigned char)(255 - i);
}

static void test_read(void) {
    unsigned char buf[512];
    DWORD n;

    memset(buf, 0, sizeof buf);
    n = 0x12345678;
    CHECK_RET_ERR("ReadProcessMemory(0x42) of committed RW memory", ReadProcessMemory(SELF, rw + 100, buf, 300, &n),
                  TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("ReadProcessMemory sets *lpNumberOfBytesRead = nSize", n, 300);
    CHECK("ReadProcessMemory copied the bytes", mem_equals(rw + 100, buf, 300) && buf[300] == 0);
    memset(buf, 0, sizeof buf);
    n = 0;
    CHECK_RET_ERR("ReadProcessMemory(getpid()) across two committed pages",
                  ReadProcessMemory(PIDH, rw + 0x1000 - 50, buf, 100, &n), TRUE, LE_UNTOUCHED);
    CHECK("ReadProcessMemory(getpid()) copied the bytes", n == 100 && mem_equals(rw + 0x1000 - 50, buf, 100));
    CHECK_RET_ERR("ReadProcessMemory with lpNumberOfBytesRead NULL", ReadProcessMemory(SELF, rw, buf, 16, NULL), TRUE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("ReadProcessMemory of a PAGE_READONLY page", ReadProcessMemory(SELF, ro, buf, 64, &n), TRUE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("ReadProcessMemory of a PAGE_EXECUTE_READ page", ReadProcessMemory(SELF, xr, buf, 64, &n), TRUE,
                  LE_UNTOUCHED);
    memset(buf, 0, sizeof buf);
    CHECK_RET_ERR("ReadProcessMemory of host globals", ReadProcessMemory(SELF, global_src, buf, 256, &n), TRUE,
                  LE_UNTOUCHED);
    CHECK("ReadProcessMemory of host globals copied the bytes", memcmp(buf, global_src, 256) == 0);
    char *into = rw_then_ro; /* read into committed window memory */
    CHECK_RET_ERR("ReadProcessMemory into window memory", ReadProcessMemory(SELF, global_src, into, 256, &n), TRUE,
                  LE_UNTOUCHED);
    CHECK("ReadProcessMemory into window memory copied", mem_equals(into, global_src, 256));
    n = 0x12345678;
    CHECK_RET_ERR("ReadProcessMemory nSize 0 -> TRUE", ReadProcessMemory(SELF, rw, buf, 0, &n), TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("ReadProcessMemory nSize 0 sets *lpNumberOfBytesRead = 0", n, 0);
    CHECK_RET_ERR("ReadProcessMemory nSize 0 with a reserved source -> TRUE", ReadProcessMemory(SELF, rsv, buf, 0, NULL),
                  TRUE, LE_UNTOUCHED);

    struct {
        const void *src;
        DWORD size;
        const char *name;
    } bad[] = {
        {rsv, 16, "reserved page"},
        {na, 16, "committed PAGE_NOACCESS page"},
        {rw_then_rsv + 0x1000 - 16, 32, "RW page running into a reserved page"},
        {rsv + 0x8000, 16, "free (tail) memory"},
        {NULL, 16, "NULL"},
        {(void *)(uintptr_t)0x10, 16, "(void*)0x10"},
        {(void *)(uintptr_t)0xdead0000u, 16, "(void*)0xdead0000"},
        {(void *)(UINTPTR_MAX - 15), 32, "a range wrapping the address space"},
        {rw, 0x80000000u, "nSize 0x80000000"},
        {rw, 0xFFFFFFFFu, "nSize 0xFFFFFFFF"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char nm[128];
        memset(buf, 0xAB, sizeof buf);
        n = 0x12345678;
        snprintf(nm, sizeof nm, "ReadProcessMemory from %s -> FALSE, ERROR_INVALID_PARAMETER", bad[i].name);
        /* nSize >= 0x80000000 must be refused before any copy, so buf cannot overflow */
        CHECK_RET_ERR(nm, ReadProcessMemory(SELF, bad[i].src, buf, bad[i].size, &n), FALSE, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "ReadProcessMemory from %s: no byte written, count untouched", bad[i].name);
        CHECK(nm, check_bytes_are(buf, sizeof buf, 0xAB) && n == 0x12345678);
    }

    /* Unwritable destination buffers. */
    n = 0x12345678;
    CHECK_RET_ERR("ReadProcessMemory into a PAGE_READONLY page -> FALSE, ERROR_INVALID_PARAMETER",
                  ReadProcessMemory(SELF, rw, ro, 64, &n), FALSE, ERROR_INVALID_PARAMETER);
    CHECK("read-only destination unchanged, count untouched", check_bytes_are(ro, PG, 0) && n == 0x12345678);
    CHECK_RET_ERR("ReadProcessMemory into a reserved page -> FALSE, ERROR_INVALID_PARAMETER",
                  ReadProcessMemory(SELF, rw, rsv, 64, &n), FALSE, ERROR_INVALID_PARAMETER);
    CHECK("setup: fill the RW page", fill(rw_then_ro, 0x5E, 0x1000));
    CHECK_RET_ERR("ReadProcessMemory into RW running into RO -> FALSE, ERROR_INVALID_PARAMETER",
                  ReadProcessMemory(SELF, global_src, rw_then_ro + 0x1000 - 128, 256, &n), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK("RW part of the destination unchanged (all or nothing)", check_bytes_are(rw_then_ro, 0x1000, 0x5E));
    CHECK_RET_ERR("ReadProcessMemory bad handle -> FALSE, ERROR_INVALID_HANDLE",
                  ReadProcessMemory((HANDLE)(uintptr_t)0x43, rw, buf, 16, &n), FALSE, ERROR_INVALID_HANDLE);
    CHECK_RET_ERR("ReadProcessMemory NULL handle -> FALSE, ERROR_INVALID_HANDLE",
                  ReadProcessMemory(NULL, rw, buf, 16, &n), FALSE, ERROR_INVALID_HANDLE);
    CHECK_EQ_U("bad-handle read left the count untouched", n, 0x12345678);
}

static void test_write(void) {
    unsigned char src[512];
    DWORD n;
    for (int i = 0; i < 512; i++) src[i] = (unsigned char)(i ^ 0x5A);

    char *dst = rw_then_rsv; /* page 0 committed RW (zero) */
    n = 0;
    CHECK_RET_ERR("WriteProcessMemory(0x42) into committed RW memory",
                  WriteProcessMemory(SELF, dst + 10, src, 300, &n), TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("WriteProcessMemory sets *lpNumberOfBytesWritten = nSize", n, 300);
    CHECK("WriteProcessMemory wrote exactly the bytes",
          mem_equals(dst + 10, src, 300) && check_bytes_are(dst, 10, 0) && check_bytes_are(dst + 310, 100, 0));
    CHECK_RET_ERR("WriteProcessMemory(getpid()) with count NULL", WriteProcessMemory(PIDH, dst, src, 8, NULL), TRUE,
                  LE_UNTOUCHED);
    CHECK_RET_ERR("WriteProcessMemory into PAGE_EXECUTE_READWRITE", WriteProcessMemory(SELF, xrw, src, 64, &n), TRUE,
                  LE_UNTOUCHED);
    CHECK("PAGE_EXECUTE_READWRITE page written", mem_equals(xrw, src, 64));
    static unsigned char host_dst[64];
    CHECK_RET_ERR("WriteProcessMemory into host globals", WriteProcessMemory(SELF, host_dst, src, 64, &n), TRUE,
                  LE_UNTOUCHED);
    CHECK("host globals written", memcmp(host_dst, src, 64) == 0);
    n = 0x12345678;
    CHECK_RET_ERR("WriteProcessMemory nSize 0 -> TRUE", WriteProcessMemory(SELF, ro, src, 0, &n), TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("WriteProcessMemory nSize 0 sets *lpNumberOfBytesWritten = 0", n, 0);

    struct {
        void *dst;
        DWORD size;
        const char *name;
    } bad[] = {
        {ro, 16, "a PAGE_READONLY page"},
        {xr, 16, "a PAGE_EXECUTE_READ page"},
        {rsv, 16, "a reserved page"},
        {na, 16, "a committed PAGE_NOACCESS page"},
        {rw_then_ro + 0x1000 - 16, 32, "RW running into PAGE_READONLY"},
        {rw_then_rsv + 0x1000 - 16, 32, "RW running into a reserved page"},
        {rsv + 0x8000, 16, "free (tail) memory"},
        {NULL, 16, "NULL"},
        {(void *)(uintptr_t)0xdead0000u, 16, "(void*)0xdead0000"},
        {(void *)(UINTPTR_MAX - 15), 32, "a range wrapping the address space"},
        {dst, 0x80000000u, "nSize 0x80000000"},
    };
    CHECK("setup: fill the RW pages", fill(rw_then_ro, 0x3C, 0x1000) && fill(rw_then_rsv, 0x3C, 0x1000));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char nm[128];
        n = 0x12345678;
        snprintf(nm, sizeof nm, "WriteProcessMemory into %s -> FALSE, ERROR_INVALID_PARAMETER", bad[i].name);
        CHECK_RET_ERR(nm, WriteProcessMemory(SELF, bad[i].dst, src, bad[i].size, &n), FALSE, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "WriteProcessMemory into %s: count untouched", bad[i].name);
        CHECK_EQ_U(nm, n, 0x12345678);
    }
    CHECK("no byte written into the read-only page", check_bytes_are(ro, PG, 0));
    CHECK("no byte written into the PAGE_EXECUTE_READ page", check_bytes_are(xr, PG, 0));
    CHECK("all or nothing: RW part before a read-only page unchanged", check_bytes_are(rw_then_ro, 0x1000, 0x3C));
    CHECK("all or nothing: RW part before a reserved page unchanged", check_bytes_are(rw_then_rsv, 0x1000, 0x3C));
    CHECK_QUERY("read-only target still PAGE_READONLY", ro, ro, ro, PG, MEM_COMMIT, PAGE_READONLY, MEM_PRIVATE);

    /* Unreadable source buffer. */
    n = 0x12345678;
    CHECK_RET_ERR("WriteProcessMemory from a reserved source -> FALSE, ERROR_INVALID_PARAMETER",
                  WriteProcessMemory(SELF, rw_then_rsv, rsv, 16, &n), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("WriteProcessMemory from (void*)0xdead0000 -> FALSE, ERROR_INVALID_PARAMETER",
                  WriteProcessMemory(SELF, rw_then_rsv, (void *)(uintptr_t)0xdead0000u, 16, &n), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK("target unchanged after unreadable sources", check_bytes_are(rw_then_rsv, 0x1000, 0x3C) && n == 0x12345678);
    CHECK_RET_ERR("WriteProcessMemory bad handle -> FALSE, ERROR_INVALID_HANDLE",
                  WriteProcessMemory((HANDLE)(uintptr_t)0x43, rw_then_rsv, src, 16, &n), FALSE, ERROR_INVALID_HANDLE);
    CHECK_RET_ERR("WriteProcessMemory INVALID_HANDLE_VALUE -> FALSE, ERROR_INVALID_HANDLE",
                  WriteProcessMemory(INVALID_HANDLE_VALUE, rw_then_rsv, src, 16, &n), FALSE, ERROR_INVALID_HANDLE);
    CHECK("bad-handle writes wrote nothing", check_bytes_are(rw_then_rsv, 0x1000, 0x3C) && n == 0x12345678);
}

static void wild_count_child(void *arg) {
    (void)arg;
    unsigned char buf[16];
    /* Return value unspecified; the process must survive. */
    BOOL a = ReadProcessMemory(SELF, rw, buf, 16, (LPDWORD)(uintptr_t)0xdead0000u);
    BOOL b = WriteProcessMemory(SELF, rw, buf, 16, (LPDWORD)(uintptr_t)0x10);
    BOOL c = ReadProcessMemory(SELF, rw, buf, 16, (LPDWORD)ro);
    CHECK("wild count pointers: calls returned", (a == TRUE || a == FALSE) && (b == TRUE || b == FALSE) &&
                                                     (c == TRUE || c == FALSE));
    CHECK("read-only count target not written", check_bytes_are(ro, PG, 0));
}

int main(void) {
    setup_bad_handles();
    test_process_identity();
    test_virtual_ex();
    setup_rpm();
    if (rw && ro && rsv && na && xr && xrw && rw_then_rsv && rw_then_ro) {
        test_read();
        test_write();
        check_child("wild lpNumberOfBytes pointers do not crash", wild_count_child, NULL);
    }
    return check_summary();
}
