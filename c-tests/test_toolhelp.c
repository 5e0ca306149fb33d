/* Toolhelp heap enumeration (ce6 profile): spec3.md "Toolhelp (CE)", CE-SEMANTICS.md §9.12.
 * CreateToolhelp32Snapshot, Heap32ListFirst/Next, Heap32First/Next, CloseToolhelp32Snapshot and
 * CloseHandle on a snapshot; <tlhelp32.h> is included after check.h to prove the drop-in header. */
#include "check.h"

#include <tlhelp32.h>

#include <sys/mman.h>

#define HID(h) ((DWORD)(uintptr_t)(h))
#define PID ((DWORD)getpid())
#define BIG_MIN 16385u /* ce6: n > 16384 is a big block */
#define REGION_USED 0xF000u

/* Free-space entries: LF32_FREE, and decommitted free space, which may carry LF32_DECOMMIT too
 * (spec3.md names only LF32_FREE; the CE constant LF32_DECOMMIT is accepted on free runs). */
static int is_free_kind(DWORD f) {
    return f == LF32_FREE || f == (LF32_FREE | LF32_DECOMMIT) || f == LF32_DECOMMIT;
}

/* ---- wild pointers: a host PROT_NONE page, a reserved window page, a read-only window page ---- */

static void *host_noaccess;
static char *win_reserved; /* 2 pages: page 0 committed RW, page 1 reserved */
static char *win_readonly;

static void make_wild_pointers(void) {
    host_noaccess = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (host_noaccess == MAP_FAILED) host_noaccess = NULL;
    win_reserved = VirtualAlloc(NULL, 2 * PG, MEM_RESERVE, PAGE_NOACCESS);
    if (win_reserved != NULL) VirtualAlloc(win_reserved, PG, MEM_COMMIT, PAGE_READWRITE);
    win_readonly = VirtualAlloc(NULL, PG, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (win_readonly != NULL) {
        DWORD old;
        VirtualProtect(win_readonly, PG, PAGE_READONLY, &old);
    }
}

/* ---- collected walks ---- */

enum { MAXE = 8192 };

struct walk {
    int first_ok;  /* Heap32First returned TRUE */
    DWORD end_err; /* last error of the FALSE that ended the walk */
    int bad_call;  /* a call changed dwSize / th32HeapID / th32ProcessID or set an error on success */
    int n;
    HEAPENTRY32 e[MAXE];
};

static void walk_heap(HANDLE snap, DWORD heapid, struct walk *w) {
    HEAPENTRY32 he;
    memset(&he, 0xCC, sizeof he);
    he.dwSize = sizeof he;
    w->n = 0;
    w->bad_call = 0;
    SetLastError(CHECK_SENTINEL);
    BOOL ok = Heap32First(snap, &he, PID, heapid);
    w->first_ok = ok;
    while (ok) {
        if (GetLastError() != CHECK_SENTINEL) w->bad_call = 1;
        if (w->n < MAXE) w->e[w->n++] = he;
        SetLastError(CHECK_SENTINEL);
        ok = Heap32Next(snap, &he);
        if (w->n >= MAXE) break;
    }
    w->end_err = GetLastError();
}

/* Index of the entry at address a with one of the flags in `flags`, -1 if none, -2 if several. */
static int find_entry(const struct walk *w, DWORD a, DWORD flags) {
    int found = -1;
    for (int i = 0; i < w->n; i++) {
        if (w->e[i].dwAddress == a && (w->e[i].dwFlags & flags) != 0) {
            if (found >= 0) return -2;
            found = i;
        }
    }
    return found;
}

/* 1 if [a, a+1) lies inside an LF32_FREE entry. */
static int inside_free_entry(const struct walk *w, DWORD a) {
    for (int i = 0; i < w->n; i++)
        if (is_free_kind(w->e[i].dwFlags) && a >= w->e[i].dwAddress &&
            (uint64_t)a < (uint64_t)w->e[i].dwAddress + w->e[i].dwBlockSize)
            return 1;
    return 0;
}

static int cmp_entry_addr(const void *a, const void *b) {
    const HEAPENTRY32 *x = a, *y = b;
    return x->dwAddress < y->dwAddress ? -1 : x->dwAddress > y->dwAddress ? 1 : 0;
}

/* Structural checks every walk must pass: fields, flags, lock counts, region order, no overlap. */
static void check_walk_shape(const char *what, const struct walk *w, DWORD heapid, int growable) {
    char nm[200];
    int fields_ok = 1, flags_ok = 1, lock_ok = 1, sizes_ok = 1, in_region = 1, big_aligned = 1;
    int big_last = 1, region_contig = 1, region_order = 1;
    int seen_big = 0;
    DWORD prev_key = 0xFFFFFFFF, prev_end = 0;
    DWORD done_keys[512];
    int ndone = 0;
    for (int i = 0; i < w->n; i++) {
        const HEAPENTRY32 *e = &w->e[i];
        if (e->dwSize != sizeof(HEAPENTRY32) || e->th32HeapID != heapid || e->th32ProcessID != PID)
            fields_ok = 0;
        if (e->dwFlags != LF32_FIXED && !is_free_kind(e->dwFlags) && e->dwFlags != LF32_BIGBLOCK) {
            flags_ok = 0;
            printf("       entry %d: dwAddress 0x%x dwBlockSize 0x%x dwFlags 0x%x\n", i, (unsigned)e->dwAddress,
                   (unsigned)e->dwBlockSize, (unsigned)e->dwFlags);
        }
        if (e->dwLockCount != (is_free_kind(e->dwFlags) ? 0u : 1u)) lock_ok = 0;
        if (e->dwBlockSize == 0 || (!is_free_kind(e->dwFlags) && e->dwBlockSize % 8 != 0)) sizes_ok = 0;
        if (e->dwFlags == LF32_BIGBLOCK) {
            seen_big = 1;
            if ((e->dwAddress & 0xFFFF) != 0) big_aligned = 0;
            continue;
        }
        if (seen_big) big_last = 0;
        DWORD key = e->dwAddress >> 16;
        if (growable && (e->dwAddress & 0xFFFF) + (uint64_t)e->dwBlockSize > REGION_USED) in_region = 0;
        if (key != prev_key) {
            for (int k = 0; k < ndone; k++)
                if (done_keys[k] == key) region_contig = 0;
            if (prev_key != 0xFFFFFFFF && ndone < 512) done_keys[ndone++] = prev_key;
            prev_key = key;
        } else if (e->dwAddress < prev_end) {
            region_order = 0;
        }
        prev_end = e->dwAddress + e->dwBlockSize;
    }
    snprintf(nm, sizeof nm, "%s: every entry has dwSize, th32HeapID and th32ProcessID filled", what);
    CHECK(nm, fields_ok);
    snprintf(nm, sizeof nm, "%s: every entry is LF32_FIXED, LF32_FREE (maybe |LF32_DECOMMIT) or LF32_BIGBLOCK", what);
    CHECK(nm, flags_ok);
    snprintf(nm, sizeof nm, "%s: dwLockCount is 1 for blocks and 0 for free runs", what);
    CHECK(nm, lock_ok);
    snprintf(nm, sizeof nm, "%s: no empty entry; block sizes are multiples of 8", what);
    CHECK(nm, sizes_ok);
    if (growable) {
        snprintf(nm, sizeof nm, "%s: regular entries lie in the 60 KB used part of a 64 KB region", what);
        CHECK(nm, in_region);
    }
    snprintf(nm, sizeof nm, "%s: big blocks are 64 KB aligned", what);
    CHECK(nm, big_aligned);
    snprintf(nm, sizeof nm, "%s: big blocks come after every region entry", what);
    CHECK(nm, big_last);
    snprintf(nm, sizeof nm, "%s: the entries of a region are consecutive in the walk", what);
    CHECK(nm, region_contig);
    snprintf(nm, sizeof nm, "%s: entries of a region ascend and do not overlap", what);
    CHECK(nm, region_order);

    /* No two entries of the whole walk overlap. */
    static HEAPENTRY32 sorted[MAXE];
    memcpy(sorted, w->e, sizeof(HEAPENTRY32) * (size_t)w->n);
    qsort(sorted, (size_t)w->n, sizeof sorted[0], cmp_entry_addr);
    int overlap = 0;
    for (int i = 0; i + 1 < w->n; i++)
        if ((uint64_t)sorted[i].dwAddress + sorted[i].dwBlockSize > sorted[i + 1].dwAddress) overlap = 1;
    snprintf(nm, sizeof nm, "%s: no two entries overlap", what);
    CHECK(nm, !overlap);
}

/* ---- the header ---- */

static void test_header(void) {
    CHECK_EQ_U("sizeof(HEAPLIST32) == 16", sizeof(HEAPLIST32), 16);
    CHECK_EQ_U("sizeof(HEAPENTRY32) == 48 (x86-64)", sizeof(HEAPENTRY32), 48);
    CHECK_EQ_U("HEAPLIST32.th32HeapID at offset 8", offsetof(HEAPLIST32, th32HeapID), 8);
    CHECK_EQ_U("HEAPLIST32.dwFlags at offset 12", offsetof(HEAPLIST32, dwFlags), 12);
    CHECK_EQ_U("HEAPENTRY32.hHandle at offset 8", offsetof(HEAPENTRY32, hHandle), 8);
    CHECK_EQ_U("HEAPENTRY32.dwAddress at offset 16", offsetof(HEAPENTRY32, dwAddress), 16);
    CHECK_EQ_U("HEAPENTRY32.dwBlockSize at offset 20", offsetof(HEAPENTRY32, dwBlockSize), 20);
    CHECK_EQ_U("HEAPENTRY32.dwFlags at offset 24", offsetof(HEAPENTRY32, dwFlags), 24);
    CHECK_EQ_U("HEAPENTRY32.dwLockCount at offset 28", offsetof(HEAPENTRY32, dwLockCount), 28);
    CHECK_EQ_U("HEAPENTRY32.th32HeapID at offset 40", offsetof(HEAPENTRY32, th32HeapID), 40);
    CHECK_EQ_U("TH32CS_SNAPHEAPLIST", TH32CS_SNAPHEAPLIST, 1);
    CHECK_EQ_U("TH32CS_SNAPALL", TH32CS_SNAPALL, 0xF);
    CHECK_EQ_U("TH32CS_GETALLMODS", TH32CS_GETALLMODS, 0x80000000u);
    CHECK_EQ_U("HF32_DEFAULT", HF32_DEFAULT, 1);
    CHECK_EQ_U("LF32_FIXED", LF32_FIXED, 1);
    CHECK_EQ_U("LF32_FREE", LF32_FREE, 2);
    CHECK_EQ_U("LF32_MOVEABLE", LF32_MOVEABLE, 4);
    CHECK_EQ_U("LF32_DECOMMIT", LF32_DECOMMIT, 8);
    CHECK_EQ_U("LF32_BIGBLOCK", LF32_BIGBLOCK, 0x10);
    CHECK_EQ_U("ERROR_NO_MORE_FILES", ERROR_NO_MORE_FILES, 18);
    LPHEAPLIST32 lphl = NULL;
    LPHEAPENTRY32 lphe = NULL;
    CHECK("LPHEAPLIST32 / LPHEAPENTRY32 exist", lphl == NULL && lphe == NULL);
}

/* ---- the heap list ---- */

static void test_heap_list(void) {
    HANDLE ph = GetProcessHeap();
    HANDLE h1 = HeapCreate(0, 0, 0);
    HANDLE h2 = HeapCreate(0, 0, 0x10000);
    HANDLE h3 = HeapCreate(HEAP_NO_SERIALIZE, 0, 0);
    HANDLE gone = HeapCreate(0, 0, 0);
    CHECK("four heaps created", h1 != NULL && h2 != NULL && h3 != NULL && gone != NULL);
    CHECK_RET_ERR("destroy one before the snapshot", HeapDestroy(gone), TRUE, LE_UNTOUCHED);
    HANDLE h4 = HeapCreate(0, 0, 0); /* created last: listed last even if it reuses gone's value */
    CHECK_NE_U("fifth heap created", h4, NULL);

    HANDLE s = CALL(CreateToolhelp32Snapshot(TH32CS_SNAPHEAPLIST, 0));
    CHECK_LE("CreateToolhelp32Snapshot success leaves the last error alone", LE_UNTOUCHED);
    CHECK("snapshot is a handle (not INVALID_HANDLE_VALUE, not NULL)", s != INVALID_HANDLE_VALUE && s != NULL);
    HANDLE late = HeapCreate(0, 0, 0); /* after the snapshot: absent */
    CHECK_NE_U("heap created after the snapshot", late, NULL);

    HEAPLIST32 hl;
    memset(&hl, 0xCC, sizeof hl);
    hl.dwSize = sizeof hl;
    CHECK_RET_ERR("Heap32ListFirst -> TRUE", Heap32ListFirst(s, &hl), TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("first heap is the process heap", hl.th32HeapID, HID(ph));
    CHECK_EQ_U("process heap has dwFlags HF32_DEFAULT", hl.dwFlags, HF32_DEFAULT);
    CHECK_EQ_U("th32ProcessID = getpid()", hl.th32ProcessID, PID);
    CHECK_EQ_U("dwSize unchanged", hl.dwSize, sizeof hl);

    const HANDLE want[] = {h1, h2, h3, h4};
    const char *names[] = {"h1", "h2 (fixed)", "h3", "h4 (created after a destroy)"};
    for (int i = 0; i < 4; i++) {
        char nm[160];
        memset(&hl, 0xCC, sizeof hl);
        hl.dwSize = sizeof hl;
        snprintf(nm, sizeof nm, "Heap32ListNext #%d -> TRUE", i + 1);
        CHECK_RET_ERR(nm, Heap32ListNext(s, &hl), TRUE, LE_UNTOUCHED);
        snprintf(nm, sizeof nm, "list entry %d is %s (creation order, id = handle)", i + 1, names[i]);
        CHECK_EQ_U(nm, hl.th32HeapID, HID(want[i]));
        snprintf(nm, sizeof nm, "list entry %d: dwFlags 0, th32ProcessID getpid()", i + 1);
        CHECK(nm, hl.dwFlags == 0 && hl.th32ProcessID == PID);
    }
    memset(&hl, 0, sizeof hl);
    hl.dwSize = sizeof hl;
    CHECK_RET_ERR("after the last heap (heap created after the snapshot absent) -> ERROR_NO_MORE_FILES",
                  Heap32ListNext(s, &hl), FALSE, ERROR_NO_MORE_FILES);
    CHECK_RET_ERR("Heap32ListNext again -> still ERROR_NO_MORE_FILES", Heap32ListNext(s, &hl), FALSE,
                  ERROR_NO_MORE_FILES);

    /* ListFirst restarts. */
    memset(&hl, 0, sizeof hl);
    hl.dwSize = sizeof hl;
    CHECK_RET_ERR("Heap32ListFirst again restarts -> TRUE", Heap32ListFirst(s, &hl), TRUE, LE_UNTOUCHED);
    CHECK_EQ_U("restart gives the process heap", hl.th32HeapID, HID(ph));
    int n = 1;
    while (n < 100) {
        hl.dwSize = sizeof hl;
        if (!Heap32ListNext(s, &hl)) break;
        n++;
    }
    CHECK_EQ_U("the restarted list has 5 heaps", n, 5);

    /* A larger dwSize is accepted. */
    union {
        HEAPLIST32 hl;
        char pad[64];
    } big;
    memset(&big, 0, sizeof big);
    big.hl.dwSize = sizeof big;
    CHECK_RET_ERR("dwSize larger than sizeof(HEAPLIST32) is accepted", Heap32ListFirst(s, &big.hl), TRUE,
                  LE_UNTOUCHED);
    CHECK_EQ_U("... and filled", big.hl.th32HeapID, HID(ph));

    /* Heaps destroyed after the snapshot stay in it. */
    CHECK_RET_ERR("destroy h3 after the snapshot", HeapDestroy(h3), TRUE, LE_UNTOUCHED);
    HANDLE s2 = CreateToolhelp32Snapshot(TH32CS_SNAPHEAPLIST, GetCurrentProcessId());
    CHECK("second snapshot with pid = GetCurrentProcessId()", s2 != INVALID_HANDLE_VALUE && s2 != NULL);
    CHECK("second snapshot is a different handle", s2 != s);
    /* s2: ph, h1, h2, h4, late (h3 gone). */
    const HANDLE want2[] = {ph, h1, h2, h4, late};
    int n2 = 0, order_ok = 1;
    hl.dwSize = sizeof hl;
    BOOL ok = Heap32ListFirst(s2, &hl);
    while (ok && n2 < 100) {
        if (n2 >= 5 || hl.th32HeapID != HID(want2[n2])) order_ok = 0;
        n2++;
        hl.dwSize = sizeof hl;
        ok = Heap32ListNext(s2, &hl);
    }
    CHECK("new snapshot: process heap, h1, h2, h4, late (destroyed h3 gone)", order_ok && n2 == 5);
    n = 0;
    hl.dwSize = sizeof hl;
    ok = Heap32ListFirst(s, &hl);
    while (ok && n < 100) {
        n++;
        hl.dwSize = sizeof hl;
        ok = Heap32ListNext(s, &hl);
    }
    CHECK_EQ_U("the first snapshot still lists 5 heaps (taken at that moment)", n, 5);

    CHECK_RET_ERR("CloseToolhelp32Snapshot -> TRUE", CloseToolhelp32Snapshot(s), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("CloseToolhelp32Snapshot again -> ERROR_INVALID_HANDLE", CloseToolhelp32Snapshot(s), FALSE,
                  ERROR_INVALID_HANDLE);
    hl.dwSize = sizeof hl;
    CHECK_RET_ERR("Heap32ListFirst on a closed snapshot -> ERROR_INVALID_HANDLE", Heap32ListFirst(s, &hl), FALSE,
                  ERROR_INVALID_HANDLE);
    CHECK_RET_ERR("closing one snapshot leaves the other usable", Heap32ListFirst(s2, &hl), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("CloseHandle closes a snapshot -> TRUE", CloseHandle(s2), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("Heap32ListFirst after CloseHandle -> ERROR_INVALID_HANDLE", Heap32ListFirst(s2, &hl), FALSE,
                  ERROR_INVALID_HANDLE);
    CHECK_RET_ERR("CloseToolhelp32Snapshot after CloseHandle -> ERROR_INVALID_HANDLE",
                  CloseToolhelp32Snapshot(s2), FALSE, ERROR_INVALID_HANDLE);
    CHECK_RET_ERR("CloseHandle of a closed snapshot -> ERROR_INVALID_HANDLE", CloseHandle(s2), FALSE,
                  ERROR_INVALID_HANDLE);

    HeapDestroy(h1);
    HeapDestroy(h2);
    HeapDestroy(h4);
    HeapDestroy(late);
}

/* ---- CreateToolhelp32Snapshot errors and flags ---- */

static void test_snapshot_flags(void) {
    static const DWORD bad_flags[] = {0x10, 0x20, 0x100, 0x40000000u, 0x7FFFFFF0u, 0xFFFFFFFFu,
                                      TH32CS_SNAPHEAPLIST | 0x10, TH32CS_SNAPALL | 0x1000};
    for (size_t i = 0; i < sizeof bad_flags / sizeof bad_flags[0]; i++) {
        char nm[160];
        snprintf(nm, sizeof nm, "snapshot flags 0x%x (unknown bits) -> INVALID_HANDLE_VALUE, ERROR_INVALID_PARAMETER",
                 (unsigned)bad_flags[i]);
        CHECK_RET_ERR(nm, CreateToolhelp32Snapshot(bad_flags[i], 0), INVALID_HANDLE_VALUE, ERROR_INVALID_PARAMETER);
    }
    pid_t me = getpid();
    DWORD others[] = {(DWORD)me + 1, (DWORD)me + 12345, 0x7FFFFFF0u, 0xFFFFFFFEu};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        char nm[160];
        snprintf(nm, sizeof nm, "snapshot of another process (pid %u) -> INVALID_HANDLE_VALUE, ERROR_INVALID_PARAMETER",
                 (unsigned)others[i]);
        CHECK_RET_ERR(nm, CreateToolhelp32Snapshot(TH32CS_SNAPHEAPLIST, others[i]), INVALID_HANDLE_VALUE,
                      ERROR_INVALID_PARAMETER);
    }
    if (me != 1)
        CHECK_RET_ERR("snapshot of pid 1 -> INVALID_HANDLE_VALUE, ERROR_INVALID_PARAMETER",
                      CreateToolhelp32Snapshot(TH32CS_SNAPHEAPLIST, 1), INVALID_HANDLE_VALUE, ERROR_INVALID_PARAMETER);

    /* Known flags are accepted. */
    static const struct named good[] = {
        {TH32CS_SNAPALL, "TH32CS_SNAPALL"},
        {TH32CS_SNAPHEAPLIST | TH32CS_GETALLMODS, "TH32CS_SNAPHEAPLIST|TH32CS_GETALLMODS"},
        {TH32CS_SNAPHEAPLIST | TH32CS_SNAPPROCESS, "TH32CS_SNAPHEAPLIST|TH32CS_SNAPPROCESS"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char nm[160];
        HANDLE s = CALL(CreateToolhelp32Snapshot(good[i].v, 0));
        snprintf(nm, sizeof nm, "snapshot %s -> a handle, last error untouched", good[i].name);
        CHECK(nm, s != INVALID_HANDLE_VALUE && s != NULL && GetLastError() == CHECK_SENTINEL);
        HEAPLIST32 hl;
        memset(&hl, 0, sizeof hl);
        hl.dwSize = sizeof hl;
        snprintf(nm, sizeof nm, "snapshot %s lists the process heap first", good[i].name);
        CHECK(nm, Heap32ListFirst(s, &hl) && hl.th32HeapID == HID(GetProcessHeap()) && hl.dwFlags == HF32_DEFAULT);
        CloseToolhelp32Snapshot(s);
    }

    /* Without TH32CS_SNAPHEAPLIST there are no heaps in it. */
    static const struct named noheaps[] = {
        {TH32CS_SNAPPROCESS, "TH32CS_SNAPPROCESS"},
        {TH32CS_SNAPTHREAD | TH32CS_SNAPMODULE, "TH32CS_SNAPTHREAD|TH32CS_SNAPMODULE"},
        {TH32CS_SNAPMODULE | TH32CS_GETALLMODS, "TH32CS_SNAPMODULE|TH32CS_GETALLMODS"},
    };
    for (size_t i = 0; i < sizeof noheaps / sizeof noheaps[0]; i++) {
        char nm[180];
        HANDLE s = CALL(CreateToolhelp32Snapshot(noheaps[i].v, 0));
        snprintf(nm, sizeof nm, "snapshot %s -> a handle", noheaps[i].name);
        CHECK(nm, s != INVALID_HANDLE_VALUE && s != NULL);
        HEAPLIST32 hl;
        memset(&hl, 0, sizeof hl);
        hl.dwSize = sizeof hl;
        snprintf(nm, sizeof nm, "snapshot %s: Heap32ListFirst -> FALSE, ERROR_NO_MORE_FILES", noheaps[i].name);
        CHECK_RET_ERR(nm, Heap32ListFirst(s, &hl), FALSE, ERROR_NO_MORE_FILES);
        HEAPENTRY32 he;
        memset(&he, 0, sizeof he);
        he.dwSize = sizeof he;
        snprintf(nm, sizeof nm, "snapshot %s: Heap32First(process heap) -> FALSE, ERROR_NO_MORE_FILES",
                 noheaps[i].name);
        CHECK_RET_ERR(nm, Heap32First(s, &he, PID, HID(GetProcessHeap())), FALSE, ERROR_NO_MORE_FILES);
        snprintf(nm, sizeof nm, "snapshot %s: CloseToolhelp32Snapshot -> TRUE", noheaps[i].name);
        CHECK_RET_ERR(nm, CloseToolhelp32Snapshot(s), TRUE, LE_UNTOUCHED);
    }
}

/* ---- bad snapshot handles and dwSize ---- */

static void test_bad_handles(void) {
    HANDLE closed = CreateToolhelp32Snapshot(TH32CS_SNAPHEAPLIST, 0);
    CloseToolhelp32Snapshot(closed);
    HANDLE mapping = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 4096, NULL);
    int local_var = 0;
    const struct {
        HANDLE h;
        const char *name;
    } bad[] = {
        {NULL, "NULL"},
        {INVALID_HANDLE_VALUE, "INVALID_HANDLE_VALUE"},
        {(HANDLE)0x1234, "(HANDLE)0x1234"},
        {(HANDLE)(uintptr_t)0xDEADBEEFu, "(HANDLE)0xDEADBEEF"},
        {closed, "a closed snapshot"},
        {GetProcessHeap(), "the process heap handle"},
        {mapping, "a file-mapping handle"},
        {&local_var, "a stack address"},
    };
    HANDLE ph = GetProcessHeap();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (bad[i].h == NULL && i != 0) continue;
        char nm[180];
        HEAPLIST32 hl;
        memset(&hl, 0, sizeof hl);
        hl.dwSize = sizeof hl;
        HEAPENTRY32 he;
        memset(&he, 0, sizeof he);
        he.dwSize = sizeof he;
        snprintf(nm, sizeof nm, "Heap32ListFirst(%s) -> FALSE, ERROR_INVALID_HANDLE", bad[i].name);
        CHECK_RET_ERR(nm, Heap32ListFirst(bad[i].h, &hl), FALSE, ERROR_INVALID_HANDLE);
        snprintf(nm, sizeof nm, "Heap32ListNext(%s) -> FALSE, ERROR_INVALID_HANDLE", bad[i].name);
        CHECK_RET_ERR(nm, Heap32ListNext(bad[i].h, &hl), FALSE, ERROR_INVALID_HANDLE);
        snprintf(nm, sizeof nm, "Heap32First(%s) -> FALSE, ERROR_INVALID_HANDLE", bad[i].name);
        CHECK_RET_ERR(nm, Heap32First(bad[i].h, &he, PID, HID(ph)), FALSE, ERROR_INVALID_HANDLE);
        snprintf(nm, sizeof nm, "Heap32Next(%s) -> FALSE, ERROR_INVALID_HANDLE", bad[i].name);
        CHECK_RET_ERR(nm, Heap32Next(bad[i].h, &he), FALSE, ERROR_INVALID_HANDLE);
        snprintf(nm, sizeof nm, "CloseToolhelp32Snapshot(%s) -> FALSE, ERROR_INVALID_HANDLE", bad[i].name);
        CHECK_RET_ERR(nm, CloseToolhelp32Snapshot(bad[i].h), FALSE, ERROR_INVALID_HANDLE);
    }
    CHECK_NE_U("the process heap survived CloseToolhelp32Snapshot(process heap)", HeapAlloc(ph, 0, 8), NULL);
    if (mapping != NULL) {
        void *v = MapViewOfFile(mapping, FILE_MAP_WRITE, 0, 0, 0);
        CHECK("the mapping survived CloseToolhelp32Snapshot(mapping)", v != NULL);
        if (v != NULL) UnmapViewOfFile(v);
        CHECK_RET_ERR("CloseHandle(mapping) still works", CloseHandle(mapping), TRUE, LE_UNTOUCHED);
    }

    /* dwSize too small (every call), on a good snapshot. */
    HANDLE s = CreateToolhelp32Snapshot(TH32CS_SNAPHEAPLIST, 0);
    CHECK("snapshot for the dwSize checks", s != INVALID_HANDLE_VALUE);
    static const DWORD small_hl[] = {0, 4, sizeof(HEAPLIST32) - 1};
    for (size_t i = 0; i < 3; i++) {
        char nm[160];
        HEAPLIST32 hl;
        memset(&hl, 0, sizeof hl);
        hl.dwSize = small_hl[i];
        snprintf(nm, sizeof nm, "Heap32ListFirst dwSize %u -> FALSE, ERROR_INVALID_PARAMETER", (unsigned)small_hl[i]);
        CHECK_RET_ERR(nm, Heap32ListFirst(s, &hl), FALSE, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "... struct not filled (th32HeapID still 0)");
        CHECK_EQ_U(nm, hl.th32HeapID, 0);
    }
    {
        HEAPLIST32 hl;
        hl.dwSize = sizeof hl;
        CHECK_RET_ERR("Heap32ListFirst with a good dwSize", Heap32ListFirst(s, &hl), TRUE, LE_UNTOUCHED);
        hl.dwSize = sizeof(HEAPLIST32) - 1;
        CHECK_RET_ERR("Heap32ListNext dwSize sizeof-1 -> FALSE, ERROR_INVALID_PARAMETER", Heap32ListNext(s, &hl),
                      FALSE, ERROR_INVALID_PARAMETER);
        hl.dwSize = 0;
        CHECK_RET_ERR("Heap32ListNext dwSize 0 -> FALSE, ERROR_INVALID_PARAMETER", Heap32ListNext(s, &hl), FALSE,
                      ERROR_INVALID_PARAMETER);
    }
    static const DWORD small_he[] = {0, 36 /* the 32-bit CE size */, sizeof(HEAPENTRY32) - 1};
    for (size_t i = 0; i < 3; i++) {
        char nm[160];
        HEAPENTRY32 he;
        memset(&he, 0, sizeof he);
        he.dwSize = small_he[i];
        snprintf(nm, sizeof nm, "Heap32First dwSize %u -> FALSE, ERROR_INVALID_PARAMETER", (unsigned)small_he[i]);
        CHECK_RET_ERR(nm, Heap32First(s, &he, PID, HID(ph)), FALSE, ERROR_INVALID_PARAMETER);
    }
    {
        void *keep = HeapAlloc(ph, 0, 40); /* so the process heap has an entry */
        HANDLE s3 = CreateToolhelp32Snapshot(TH32CS_SNAPHEAPLIST, 0);
        HEAPENTRY32 he;
        memset(&he, 0, sizeof he);
        he.dwSize = sizeof he;
        CHECK_RET_ERR("Heap32First(process heap) with a good dwSize", Heap32First(s3, &he, PID, HID(ph)), TRUE,
                      LE_UNTOUCHED);
        he.dwSize = sizeof(HEAPENTRY32) - 1;
        CHECK_RET_ERR("Heap32Next dwSize sizeof-1 -> FALSE, ERROR_INVALID_PARAMETER", Heap32Next(s3, &he), FALSE,
                      ERROR_INVALID_PARAMETER);
        union {
            HEAPENTRY32 he;
            char pad[96];
        } big;
        memset(&big, 0, sizeof big);
        big.he.dwSize = sizeof big;
        CHECK_RET_ERR("Heap32First with dwSize larger than sizeof(HEAPENTRY32) is accepted",
                      Heap32First(s3, &big.he, PID, HID(ph)), TRUE, LE_UNTOUCHED);
        CHECK_EQ_U("... and filled (th32HeapID)", big.he.th32HeapID, HID(ph));
        CloseToolhelp32Snapshot(s3);
        HeapFree(ph, 0, keep);
    }
    CloseToolhelp32Snapshot(s);
}

/* ---- NULL / wild struct pointers (in a child: a crash is one failed check) ---- */

/* Puts the start of a valid struct where a wild pointer has readable (maybe read-only) bytes:
 * 8 bytes before the reserved page, the whole struct on the read-only page. */
static void set_struct(char *p, const void *src, size_t n) {
    if (win_reserved != NULL && p == win_reserved + PG - 8) memcpy(p, src, 8);
    if (win_readonly != NULL && p == win_readonly) {
        DWORD old;
        VirtualProtect(win_readonly, PG, PAGE_READWRITE, &old);
        memcpy(win_readonly, src, n);
        VirtualProtect(win_readonly, PG, PAGE_READONLY, &old);
    }
}

static void wild_structs_child(void *arg) {
    (void)arg;
    HANDLE ph = GetProcessHeap();
    void *keep = HeapAlloc(ph, 0, 24);
    HANDLE hx = HeapCreate(0, 0, 0); /* a second heap (so ListNext has a next) with several entries */
    void *xb[3];
    for (int i = 0; i < 3; i++) xb[i] = HeapAlloc(hx, 0, 64);
    HeapFree(hx, 0, xb[1]);
    HANDLE s = CreateToolhelp32Snapshot(TH32CS_SNAPHEAPLIST, 0);
    CHECK("snapshot for the wild-pointer checks", s != INVALID_HANDLE_VALUE);
    HEAPLIST32 hl0;
    memset(&hl0, 0, sizeof hl0);
    hl0.dwSize = sizeof hl0;
    CHECK_RET_ERR("Heap32ListFirst for the wild checks", Heap32ListFirst(s, &hl0), TRUE, LE_UNTOUCHED);
    HEAPENTRY32 first;
    memset(&first, 0, sizeof first);
    first.dwSize = sizeof first;
    CHECK_RET_ERR("Heap32First(hx) for the wild checks", Heap32First(s, &first, PID, HID(hx)), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("Heap32ListFirst(s, NULL) -> FALSE, ERROR_INVALID_PARAMETER", Heap32ListFirst(s, NULL), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("Heap32ListNext(s, NULL) -> FALSE, ERROR_INVALID_PARAMETER", Heap32ListNext(s, NULL), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("Heap32First(s, NULL, ...) -> FALSE, ERROR_INVALID_PARAMETER",
                  Heap32First(s, NULL, PID, HID(ph)), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("Heap32Next(s, NULL) -> FALSE, ERROR_INVALID_PARAMETER", Heap32Next(s, NULL), FALSE,
                  ERROR_INVALID_PARAMETER);

    struct {
        void *p;
        const char *name;
    } wild[6];
    int nw = 0;
    wild[nw].p = (void *)0x100;
    wild[nw++].name = "(void*)0x100";
    if (host_noaccess != NULL) {
        wild[nw].p = host_noaccess;
        wild[nw++].name = "a PROT_NONE host page";
    }
    if (win_reserved != NULL) {
        wild[nw].p = win_reserved + PG;
        wild[nw++].name = "a reserved (uncommitted) window page";
        /* dwSize readable, the rest of the struct on the reserved page */
        wild[nw].p = win_reserved + PG - 8;
        wild[nw++].name = "a struct straddling into a reserved page";
    }
    if (win_readonly != NULL) {
        wild[nw].p = win_readonly;
        wild[nw++].name = "a read-only page holding a valid struct";
    }
    for (int i = 0; i < nw; i++) {
        char nm[200];
        char *p = wild[i].p;
        HEAPLIST32 hl;
        hl.dwSize = sizeof hl;
        Heap32ListFirst(s, &hl); /* so that a next heap exists */
        set_struct(p, &hl0, sizeof hl0);
        snprintf(nm, sizeof nm, "Heap32ListFirst(s, %s) -> FALSE, ERROR_INVALID_PARAMETER", wild[i].name);
        CHECK_RET_ERR(nm, Heap32ListFirst(s, (LPHEAPLIST32)p), FALSE, ERROR_INVALID_PARAMETER);
        hl.dwSize = sizeof hl;
        Heap32ListFirst(s, &hl);
        snprintf(nm, sizeof nm, "Heap32ListNext(s, %s) with a next heap -> FALSE, ERROR_INVALID_PARAMETER",
                 wild[i].name);
        CHECK_RET_ERR(nm, Heap32ListNext(s, (LPHEAPLIST32)p), FALSE, ERROR_INVALID_PARAMETER);
        set_struct(p, &first, sizeof first);
        snprintf(nm, sizeof nm, "Heap32First(s, %s) -> FALSE, ERROR_INVALID_PARAMETER", wild[i].name);
        CHECK_RET_ERR(nm, Heap32First(s, (LPHEAPENTRY32)p, PID, HID(hx)), FALSE, ERROR_INVALID_PARAMETER);
        snprintf(nm, sizeof nm, "Heap32Next(s, %s) with a next entry -> FALSE, ERROR_INVALID_PARAMETER",
                 wild[i].name);
        CHECK_RET_ERR(nm, Heap32Next(s, (LPHEAPENTRY32)p), FALSE, ERROR_INVALID_PARAMETER);
    }
    if (win_readonly != NULL)
        CHECK("the read-only struct was not written",
              mem_equals(win_readonly, &first, sizeof first) &&
                  check_bytes_are(win_readonly + sizeof first, PG - sizeof first, 0));
    HEAPLIST32 hl;
    hl.dwSize = sizeof hl;
    CHECK_RET_ERR("the snapshot still works after the wild calls", Heap32ListFirst(s, &hl), TRUE, LE_UNTOUCHED);
    HEAPENTRY32 he = first;
    CHECK_RET_ERR("... and Heap32Next from a good entry", Heap32Next(s, &he), TRUE, LE_UNTOUCHED);
    CloseToolhelp32Snapshot(s);
    HeapFree(ph, 0, keep);
    HeapDestroy(hx);
}

/* ---- the walk of one heap against what was allocated ---- */

enum { NSMALL_A = 150, NSMALL_B = 60 };
static const DWORD WALK_SIZES[] = {0,    1,    7,    8,    9,     15,    16,    17,    24,    31,   32,
                                   33,   48,   63,   64,   65,    100,   127,   128,   200,   255,  256,
                                   257,  500,  512,  1000, 1024,  1500,  2048,  3000,  4000,  4096, 4097,
                                   6000, 8000, 8192, 10000, 12000, 16000, 16384, 16385, 20000, 40000};
#define NWS (sizeof WALK_SIZES / sizeof WALK_SIZES[0])
#define NBLK (NWS + NSMALL_A + NSMALL_B)

struct blk {
    char *p;
    DWORD n;
    DWORD hs; /* HeapSize right after allocation */
    int live; /* live at the snapshot */
};

static struct walk WA, WB, WC, WD;

static void test_walk(void) {
    HANDLE h = HeapCreate(0, 0, 0);
    CHECK_NE_U("walk heap created", h, NULL);
    if (h == NULL) return;
    static struct blk b[NBLK];
    int nb = 0, alloc_ok = 1;
    for (size_t i = 0; i < NWS; i++) b[nb++].n = WALK_SIZES[i];
    for (int i = 0; i < NSMALL_A; i++) b[nb++].n = 72;
    for (int i = 0; i < NSMALL_B; i++) b[nb++].n = 600;
    for (int i = 0; i < nb; i++) {
        b[i].p = HeapAlloc(h, 0, b[i].n);
        if (b[i].p == NULL) {
            alloc_ok = 0;
            continue;
        }
        b[i].hs = HeapSize(h, 0, b[i].p);
        b[i].live = 1;
        memset(b[i].p, (int)(i & 0xFF), b[i].hs);
    }
    CHECK("every walk block was allocated", alloc_ok);
    /* Free every third block and the 20000-byte big block (16385 and 40000 stay). */
    int nlive_big = 0, nfreed = 0;
    for (int i = 0; i < nb; i++) {
        if (b[i].p == NULL) continue;
        if ((i % 3 == 1 && b[i].n < BIG_MIN) || b[i].n == 20000) {
            if (!HeapFree(h, 0, b[i].p)) alloc_ok = 0;
            b[i].live = 0;
            nfreed++;
        } else if (b[i].n >= BIG_MIN) {
            nlive_big++;
        }
    }
    CHECK("frees succeeded", alloc_ok && nfreed > 50);
    CHECK_EQ_U("two live big blocks", nlive_big, 2);

    HANDLE other = HeapCreate(0, 0, 0); /* for the interleaved walks */
    void *ob[5];
    for (int i = 0; i < 5; i++) ob[i] = HeapAlloc(other, 0, 100 + 300 * (DWORD)i);
    void *ob_big = HeapAlloc(other, 0, 30000);

    HANDLE s = CreateToolhelp32Snapshot(TH32CS_SNAPHEAPLIST, 0);
    CHECK("snapshot for the walk", s != INVALID_HANDLE_VALUE && s != NULL);

    /* After the snapshot: new blocks (absent), one more free (still listed). */
    static const DWORD after_sizes[] = {8, 24, 100, 3000, 30000};
    char *after[5];
    for (int i = 0; i < 5; i++) after[i] = HeapAlloc(h, 0, after_sizes[i]);
    int late = -1;
    for (int i = 0; i < nb && late < 0; i++)
        if (b[i].p != NULL && b[i].live && b[i].n == 72) late = i;
    if (late >= 0) HeapFree(h, 0, b[late].p);

    walk_heap(s, HID(h), &WA);
    CHECK_EQ_U("Heap32First of the walk heap -> TRUE", WA.first_ok, TRUE);
    CHECK_EQ_U("the walk ends with FALSE, ERROR_NO_MORE_FILES", WA.end_err, ERROR_NO_MORE_FILES);
    CHECK("successful Heap32First/Next leave the last error alone", !WA.bad_call);
    CHECK("the walk has fewer than MAXE entries", WA.n < MAXE);
    check_walk_shape("walk heap", &WA, HID(h), 1);

    int once = 1, right_kind = 1, sizes = 1, nfixed = 0, nbig = 0, freed_absent = 1, freed_in_free = 1;
    for (int i = 0; i < nb; i++) {
        if (b[i].p == NULL) continue;
        DWORD a = (DWORD)(uintptr_t)b[i].p;
        int k = find_entry(&WA, a, LF32_FIXED | LF32_BIGBLOCK);
        if (b[i].live) {
            if (k < 0) {
                once = 0;
                printf("       live block %p (%u bytes) appears %s\n", (void *)b[i].p, (unsigned)b[i].n,
                       k == -1 ? "not at all" : "more than once");
                continue;
            }
            DWORD want = b[i].n >= BIG_MIN ? LF32_BIGBLOCK : LF32_FIXED;
            if (WA.e[k].dwFlags != want) right_kind = 0;
            if (WA.e[k].dwBlockSize != b[i].hs) sizes = 0;
        } else {
            if (k != -1) freed_absent = 0;
            if (b[i].n < 4096 && !inside_free_entry(&WA, a)) freed_in_free = 0;
        }
    }
    for (int i = 0; i < WA.n; i++) {
        if (WA.e[i].dwFlags == LF32_FIXED) nfixed++;
        if (WA.e[i].dwFlags == LF32_BIGBLOCK) nbig++;
    }
    int nlive = 0;
    for (int i = 0; i < nb; i++) nlive += b[i].p != NULL && b[i].live;
    CHECK("every live block appears exactly once (as LF32_FIXED or LF32_BIGBLOCK)", once);
    CHECK("live blocks <= 16384 bytes are LF32_FIXED, bigger ones LF32_BIGBLOCK", right_kind);
    CHECK("dwBlockSize == HeapSize for every live block", sizes);
    CHECK_EQ_U("number of block entries == number of live blocks", nfixed + nbig, nlive);
    CHECK_EQ_U("exactly the 2 live big blocks are LF32_BIGBLOCK", nbig, 2);
    CHECK("freed blocks do not appear as LF32_FIXED / LF32_BIGBLOCK", freed_absent);
    CHECK("freed blocks (< 4 KB) lie inside an LF32_FREE entry", freed_in_free);
    int nfree = 0;
    for (int i = 0; i < WA.n; i++) nfree += WA.e[i].dwFlags == LF32_FREE;
    CHECK("the walk has LF32_FREE entries", nfree > 0);
    if (late >= 0)
        CHECK("a block freed after the snapshot is still listed as LF32_FIXED",
              find_entry(&WA, (DWORD)(uintptr_t)b[late].p, LF32_FIXED) >= 0);
    int after_absent = 1;
    for (int i = 0; i < 5; i++)
        if (after[i] != NULL && find_entry(&WA, (DWORD)(uintptr_t)after[i], LF32_FIXED | LF32_BIGBLOCK) != -1)
            after_absent = 0;
    CHECK("blocks allocated after the snapshot are absent", after[0] != NULL && after[4] != NULL && after_absent);
    int dw_ok = 1;
    for (int i = 0; i < nb; i++)
        if (b[i].p != NULL && U64(b[i].p) >= 0x100000000ull) dw_ok = 0;
    CHECK("block addresses fit a DWORD (dwAddress is exact)", dw_ok);

    /* A second full walk of the same snapshot gives the same entries. */
    walk_heap(s, HID(h), &WB);
    int same = WB.n == WA.n && WB.first_ok && WB.end_err == ERROR_NO_MORE_FILES;
    for (int i = 0; same && i < WA.n; i++)
        same = WA.e[i].dwAddress == WB.e[i].dwAddress && WA.e[i].dwBlockSize == WB.e[i].dwBlockSize &&
               WA.e[i].dwFlags == WB.e[i].dwFlags;
    CHECK("walking the snapshot again gives the same entries", same);

    /* Heap32Next after the end keeps saying ERROR_NO_MORE_FILES. */
    HEAPENTRY32 he = WA.e[WA.n > 0 ? WA.n - 1 : 0];
    he.dwSize = sizeof he;
    CHECK_RET_ERR("Heap32Next after the last entry -> ERROR_NO_MORE_FILES", Heap32Next(s, &he), FALSE,
                  ERROR_NO_MORE_FILES);

    /* The other heap, walked alone. */
    walk_heap(s, HID(other), &WC);
    CHECK("other heap: walk TRUE ... ERROR_NO_MORE_FILES", WC.first_ok && WC.end_err == ERROR_NO_MORE_FILES);
    check_walk_shape("other heap", &WC, HID(other), 1);
    int other_ok = 1;
    for (int i = 0; i < 5; i++)
        if (ob[i] == NULL || find_entry(&WC, (DWORD)(uintptr_t)ob[i], LF32_FIXED) < 0) other_ok = 0;
    if (ob_big == NULL || find_entry(&WC, (DWORD)(uintptr_t)ob_big, LF32_BIGBLOCK) < 0) other_ok = 0;
    CHECK("other heap: its 5 small blocks are LF32_FIXED, its big block LF32_BIGBLOCK", other_ok);
    int cross = 0;
    for (int i = 0; i < nb; i++)
        if (b[i].p != NULL && find_entry(&WC, (DWORD)(uintptr_t)b[i].p, LF32_FIXED | LF32_BIGBLOCK) != -1) cross = 1;
    CHECK("other heap's walk lists none of the walk heap's blocks", !cross);

    /* Two interleaved walks of different heaps in one snapshot. */
    {
        HEAPENTRY32 ea, eb;
        memset(&ea, 0, sizeof ea);
        memset(&eb, 0, sizeof eb);
        ea.dwSize = eb.dwSize = sizeof ea;
        int ia = 0, ib = 0, match = 1;
        BOOL oka = Heap32First(s, &ea, PID, HID(h));
        BOOL okb = Heap32First(s, &eb, PID, HID(other));
        while ((oka || okb) && ia + ib < 2 * MAXE) {
            if (oka) {
                if (ia >= WA.n || ea.dwAddress != WA.e[ia].dwAddress || ea.dwBlockSize != WA.e[ia].dwBlockSize ||
                    ea.dwFlags != WA.e[ia].dwFlags || ea.th32HeapID != HID(h))
                    match = 0;
                ia++;
                oka = Heap32Next(s, &ea);
            }
            if (okb) {
                if (ib >= WC.n || eb.dwAddress != WC.e[ib].dwAddress || eb.dwBlockSize != WC.e[ib].dwBlockSize ||
                    eb.dwFlags != WC.e[ib].dwFlags || eb.th32HeapID != HID(other))
                    match = 0;
                ib++;
                okb = Heap32Next(s, &eb);
            }
        }
        CHECK("interleaved walks: each gives exactly its heap's entries in the same order",
              match && ia == WA.n && ib == WC.n);
    }

    /* Heap ids not in the snapshot. */
    HANDLE newer = HeapCreate(0, 0, 0);
    void *nblk = HeapAlloc(newer, 0, 64);
    memset(&he, 0, sizeof he);
    he.dwSize = sizeof he;
    CHECK_RET_ERR("Heap32First(heap created after the snapshot) -> FALSE, ERROR_NO_MORE_FILES",
                  Heap32First(s, &he, PID, HID(newer)), FALSE, ERROR_NO_MORE_FILES);
    CHECK_RET_ERR("Heap32First(heap id 0x1234) -> FALSE, ERROR_NO_MORE_FILES", Heap32First(s, &he, PID, 0x1234),
                  FALSE, ERROR_NO_MORE_FILES);
    CHECK_RET_ERR("Heap32First(heap id 0) -> FALSE, ERROR_NO_MORE_FILES", Heap32First(s, &he, PID, 0), FALSE,
                  ERROR_NO_MORE_FILES);
    CHECK_RET_ERR("Heap32First(heap id = a block address) -> FALSE, ERROR_NO_MORE_FILES",
                  Heap32First(s, &he, PID, (DWORD)(uintptr_t)b[0].p), FALSE, ERROR_NO_MORE_FILES);
    SetLastError(CHECK_SENTINEL);
    BOOL r = Heap32First(s, &he, PID + 1, HID(h));
    DWORD e = GetLastError();
    CHECK("Heap32First with another process id -> FALSE (ERROR_NO_MORE_FILES or ERROR_INVALID_PARAMETER)",
          r == FALSE && (e == ERROR_NO_MORE_FILES || e == ERROR_INVALID_PARAMETER));
    HeapFree(newer, 0, nblk);
    HeapDestroy(newer);

    /* The process heap: a LocalAlloc block and a big block, allocated before a new snapshot. */
    HANDLE ph = GetProcessHeap();
    void *la = LocalAlloc(0, 10);
    void *pbig = HeapAlloc(ph, 0, 20000);
    HANDLE s2 = CreateToolhelp32Snapshot(TH32CS_SNAPHEAPLIST, 0);
    walk_heap(s2, HID(ph), &WD);
    CHECK("process heap: walk TRUE ... ERROR_NO_MORE_FILES", WD.first_ok && WD.end_err == ERROR_NO_MORE_FILES);
    check_walk_shape("process heap", &WD, HID(ph), 1);
    int k = la != NULL ? find_entry(&WD, (DWORD)(uintptr_t)la, LF32_FIXED) : -1;
    CHECK("process heap: LocalAlloc(0,10) is one LF32_FIXED entry of 16 bytes", k >= 0 && WD.e[k].dwBlockSize == 16);
    k = pbig != NULL ? find_entry(&WD, (DWORD)(uintptr_t)pbig, LF32_BIGBLOCK) : -1;
    CHECK("process heap: a 20000-byte block is LF32_BIGBLOCK of 20000 bytes", k >= 0 && WD.e[k].dwBlockSize == 20000);
    LocalFree(la);
    HeapFree(ph, 0, pbig);

    /* A heap destroyed after the snapshot can still be walked in it. */
    HeapDestroy(other);
    walk_heap(s, HID(other), &WB);
    same = WB.first_ok && WB.n == WC.n;
    for (int i = 0; same && i < WC.n; i++)
        same = WB.e[i].dwAddress == WC.e[i].dwAddress && WB.e[i].dwFlags == WC.e[i].dwFlags;
    CHECK("a heap destroyed after the snapshot is still walked as it was", same);

    CHECK_RET_ERR("close the walk snapshot", CloseToolhelp32Snapshot(s), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("close the process-heap snapshot with CloseHandle", CloseHandle(s2), TRUE, LE_UNTOUCHED);
    memset(&he, 0, sizeof he);
    he.dwSize = sizeof he;
    CHECK_RET_ERR("Heap32First on the closed snapshot -> ERROR_INVALID_HANDLE", Heap32First(s, &he, PID, HID(h)),
                  FALSE, ERROR_INVALID_HANDLE);
    CHECK_RET_ERR("Heap32First on a snapshot closed by CloseHandle -> ERROR_INVALID_HANDLE",
                  Heap32First(s2, &he, PID, HID(ph)), FALSE, ERROR_INVALID_HANDLE);

    /* The walked blocks were not disturbed. */
    int intact = 1;
    for (int i = 0; i < nb; i++)
        if (b[i].p != NULL && b[i].live && i != late && !check_bytes_are(b[i].p, b[i].hs, (unsigned char)(i & 0xFF)))
            intact = 0;
    CHECK("walking did not change the blocks' contents", intact);
    CHECK_RET_ERR("the heap validates after the walks", HeapValidate(h, 0, NULL), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("destroy the walk heap", HeapDestroy(h), TRUE, LE_UNTOUCHED);
}

/* ---- a fixed heap and an empty heap ---- */

static void test_fixed_and_empty(void) {
    HANDLE f = HeapCreate(0, 0, 0x10000);
    CHECK_NE_U("fixed heap created", f, NULL);
    if (f == NULL) return;
    void *p1 = HeapAlloc(f, 0, 100), *p2 = HeapAlloc(f, 0, 20000), *p3 = HeapAlloc(f, 0, 3000);
    CHECK("three blocks in the fixed heap", p1 && p2 && p3);
    HeapFree(f, 0, p3);
    HANDLE s = CreateToolhelp32Snapshot(TH32CS_SNAPHEAPLIST, 0);
    walk_heap(s, HID(f), &WA);
    CHECK("fixed heap: walk TRUE ... ERROR_NO_MORE_FILES", WA.first_ok && WA.end_err == ERROR_NO_MORE_FILES);
    check_walk_shape("fixed heap", &WA, HID(f), 0);
    int k1 = find_entry(&WA, (DWORD)(uintptr_t)p1, LF32_FIXED | LF32_BIGBLOCK);
    int k2 = find_entry(&WA, (DWORD)(uintptr_t)p2, LF32_FIXED | LF32_BIGBLOCK);
    CHECK("fixed heap: the 100-byte block is LF32_FIXED, 104 bytes",
          k1 >= 0 && WA.e[k1].dwFlags == LF32_FIXED && WA.e[k1].dwBlockSize == 104);
    CHECK("fixed heap: the 20000-byte block is LF32_FIXED (fixed heaps make no big blocks)",
          k2 >= 0 && WA.e[k2].dwFlags == LF32_FIXED && WA.e[k2].dwBlockSize == 20000);
    CHECK("fixed heap: the freed block is not listed as a block",
          find_entry(&WA, (DWORD)(uintptr_t)p3, LF32_FIXED | LF32_BIGBLOCK) == -1);
    int nblocks = 0;
    for (int i = 0; i < WA.n; i++) nblocks += !is_free_kind(WA.e[i].dwFlags);
    CHECK_EQ_U("fixed heap: exactly 2 block entries", nblocks, 2);
    CloseToolhelp32Snapshot(s);
    HeapDestroy(f);

    /* A heap with nothing allocated lists no blocks. */
    HANDLE e = HeapCreate(0, 0, 0);
    void *t = HeapAlloc(e, 0, 500);
    HeapFree(e, 0, t);
    s = CreateToolhelp32Snapshot(TH32CS_SNAPHEAPLIST, 0);
    walk_heap(s, HID(e), &WA);
    int blocks = 0;
    for (int i = 0; i < WA.n; i++) blocks += !is_free_kind(WA.e[i].dwFlags);
    CHECK("empty heap: the walk ends with ERROR_NO_MORE_FILES", WA.end_err == ERROR_NO_MORE_FILES);
    CHECK_EQ_U("empty heap: no block entries", blocks, 0);
    CloseToolhelp32Snapshot(s);
    HeapDestroy(e);
}

int main(void) {
    make_wild_pointers();
    test_header();
    test_heap_list(); /* first: only the heaps it creates exist */
    test_snapshot_flags();
    test_bad_handles();
    check_child("NULL and wild HEAPLIST32/HEAPENTRY32 pointers never crash", wild_structs_child, NULL);
    test_walk();
    test_fixed_and_empty();
    return check_summary();
}
