/* GetLastError / SetLastError (ce6 profile): CONTRACT.md "Last error", CE-SEMANTICS.md §16. */
#include "check.h"

#include <pthread.h>

static pthread_barrier_t barrier;

struct tres {
    DWORD at_start;
    DWORD after_set;
    DWORD after_barrier;
    DWORD after_fail;
    DWORD after_success;
    DWORD mine;
};

/* Sees 0 at start, keeps its own value while main sets a different one. */
static void *thread_own_value(void *arg) {
    struct tres *r = arg;
    r->at_start = GetLastError();
    SetLastError(r->mine);
    r->after_set = GetLastError();
    pthread_barrier_wait(&barrier); /* main sets its own value now */
    pthread_barrier_wait(&barrier); /* main has set it */
    r->after_barrier = GetLastError();
    VirtualAlloc(NULL, 0, MEM_RESERVE, PAGE_NOACCESS); /* fails: ERROR_INVALID_PARAMETER in this thread */
    r->after_fail = GetLastError();
    void *p = VirtualAlloc(NULL, 4096, MEM_RESERVE, PAGE_NOACCESS); /* succeeds: 0 in this thread (ce6) */
    r->after_success = GetLastError();
    if (p != NULL) VirtualFree(p, 0, MEM_RELEASE);
    pthread_barrier_wait(&barrier); /* main checks its own value */
    return NULL;
}

static void *thread_start_value(void *arg) {
    *(DWORD *)arg = GetLastError();
    return NULL;
}

enum { NSTRESS = 8, ITER = 20000 };

static void *thread_stress(void *arg) {
    uintptr_t id = (uintptr_t)arg;
    uintptr_t bad = 0;
    for (DWORD i = 0; i < ITER; i++) {
        DWORD v = (DWORD)(id << 24) | i;
        SetLastError(v);
        if ((i & 63) == 0) sched_yield();
        if (GetLastError() != v) bad++;
    }
    return (void *)bad;
}

int main(void) {
    /* Must be the first coredll call of the process. */
    CHECK_EQ_U("main thread's last error is 0 at start", GetLastError(), 0);

    static const DWORD values[] = {0xDEADBEEFu, 0xFFFFFFFFu, 0, 0x80000000u, 87, 0x20000001u, 1, 0x7FFFFFFFu};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char nm[80];
        SetLastError(values[i]);
        snprintf(nm, sizeof nm, "SetLastError(0x%x) is returned verbatim", (unsigned)values[i]);
        CHECK_EQ_U(nm, GetLastError(), values[i]);
        snprintf(nm, sizeof nm, "GetLastError() does not change 0x%x", (unsigned)values[i]);
        CHECK_EQ_U(nm, GetLastError(), values[i]);
    }

    /* A thread sees 0 at its start and its own value afterwards. */
    pthread_barrier_init(&barrier, NULL, 2);
    SetLastError(0x11111111u);
    struct tres r = {0, 0, 0, 0, 0, 0x22222222u};
    r.at_start = 0xFFFFFFFFu;
    pthread_t t;
    CHECK_EQ_U("pthread_create", pthread_create(&t, NULL, thread_own_value, &r), 0);
    pthread_barrier_wait(&barrier);
    SetLastError(0x33333333u);
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier);
    CHECK_EQ_U("main keeps its own value while the thread sets and fails and succeeds", GetLastError(), 0x33333333u);
    pthread_join(t, NULL);
    CHECK_EQ_U("new thread sees 0 at start (main had 0x11111111)", r.at_start, 0);
    CHECK_EQ_U("thread reads back its own SetLastError", r.after_set, 0x22222222u);
    CHECK_EQ_U("thread keeps its value while main sets another", r.after_barrier, 0x22222222u);
    CHECK_EQ_U("a failure in the thread sets the thread's last error", r.after_fail, ERROR_INVALID_PARAMETER);
    CHECK_EQ_U("a successful VirtualAlloc in the thread sets the thread's last error to 0", r.after_success, 0);
    CHECK_EQ_U("main unaffected after join", GetLastError(), 0x33333333u);
    pthread_barrier_destroy(&barrier);

    /* Every new thread starts at 0, whatever the creating thread holds. */
    for (int i = 0; i < 4; i++) {
        DWORD v = 0xABCDEF00u;
        SetLastError(0x55555555u + (DWORD)i);
        pthread_create(&t, NULL, thread_start_value, &v);
        pthread_join(t, NULL);
        char nm[64];
        snprintf(nm, sizeof nm, "thread #%d starts with last error 0", i);
        CHECK_EQ_U(nm, v, 0);
    }

    /* Concurrent threads never see each other's values. */
    pthread_t ts[NSTRESS];
    for (uintptr_t i = 0; i < NSTRESS; i++) pthread_create(&ts[i], NULL, thread_stress, (void *)(i + 1));
    uintptr_t total_bad = 0;
    for (int i = 0; i < NSTRESS; i++) {
        void *bad = NULL;
        pthread_join(ts[i], &bad);
        total_bad += (uintptr_t)bad;
    }
    CHECK_EQ_U("8 threads x 20000 Set/Get: no cross-thread interference", total_bad, 0);

    /* Success leaves it alone (except VirtualAlloc, which sets 0 in ce6); failure always sets it. */
    char *p = CALL(VirtualAlloc(NULL, 0x2000, MEM_RESERVE, PAGE_NOACCESS));
    CHECK_LE("VirtualAlloc success sets 0 (ce6)", 0);
    if (p != NULL) {
        MEMORY_BASIC_INFORMATION m;
        DWORD old, n;
        char buf[8];
        MEMORYSTATUS ms;
        SYSTEM_INFO si;
        CHECK_RET_ERR("commit success sets 0 (ce6)", VirtualAlloc(p, 0x1000, MEM_COMMIT, PAGE_READWRITE), p, 0);
        CHECK_RET_ERR("VirtualQuery success leaves it alone", VirtualQuery(p, &m, sizeof m), 40, LE_UNTOUCHED);
        CHECK_RET_ERR("VirtualProtect success leaves it alone", VirtualProtect(p, 0x1000, PAGE_READONLY, &old), TRUE,
                      LE_UNTOUCHED);
        CHECK_RET_ERR("ReadProcessMemory success leaves it alone",
                      ReadProcessMemory(GetCurrentProcess(), p, buf, 8, &n), TRUE, LE_UNTOUCHED);
        CHECK_RET_ERR("IsBadReadPtr FALSE leaves it alone", IsBadReadPtr(p, 8), FALSE, LE_UNTOUCHED);
        CHECK_RET_ERR("IsBadWritePtr TRUE sets it", IsBadWritePtr(p, 8), TRUE, ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("VirtualFree MEM_DECOMMIT success leaves it alone", VirtualFree(p, 0x1000, MEM_DECOMMIT), TRUE,
                      LE_UNTOUCHED);
        CHECK_RET_ERR("coredll_window success leaves it alone", coredll_window(0, NULL) != NULL, 1, LE_UNTOUCHED);
        SetLastError(CHECK_SENTINEL);
        GlobalMemoryStatus(&ms);
        GetSystemInfo(&si);
        GetCurrentProcess();
        GetCurrentProcessId();
        CHECK_LE("GlobalMemoryStatus/GetSystemInfo/GetCurrentProcess(Id) leave it alone", LE_UNTOUCHED);
        CHECK_RET_ERR("VirtualFree MEM_RELEASE success leaves it alone", VirtualFree(p, 0, MEM_RELEASE), TRUE,
                      LE_UNTOUCHED);
        CHECK_RET_ERR("failure overwrites whatever was there", VirtualFree(p, 0, MEM_RELEASE), FALSE,
                      ERROR_INVALID_PARAMETER);
        SetLastError(0);
        VirtualQuery(NULL, &m, sizeof m);
        CHECK_LE("failure overwrites 0 too", ERROR_INVALID_PARAMETER);
    }
    return check_summary();
}
