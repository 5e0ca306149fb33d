/* fork() while other threads are inside the library (page manager, mappings, heaps, toolhelp):
 * the child must find every lock free, and its calls (and exit) must work. */
#include "check.h"

#include <pthread.h>

static volatile int stop;
static HANDLE shared_heap;

static void *busy(void *arg) {
    (void)arg;
    while (!stop) {
        char *p = VirtualAlloc(NULL, 0x10000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        if (p != NULL) VirtualFree(p, 0, MEM_RELEASE);
        void *b = HeapAlloc(shared_heap, 0, 100);
        if (b != NULL) HeapFree(shared_heap, 0, b);
        LocalFree(LocalAlloc(LMEM_FIXED, 40000));
        HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPHEAPLIST, 0);
        if (snap != INVALID_HANDLE_VALUE) CloseHandle(snap);
        HANDLE h = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x1000, NULL);
        if (h != NULL) {
            void *v = MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, 0);
            if (v != NULL) UnmapViewOfFile(v);
            CloseHandle(h);
        }
    }
    return NULL;
}

/* A thread holding HeapLock goes on to HeapCreate while another thread forks: fork's handlers
 * take the heap locks before the registry, as HeapCreate's caller does, so neither waits forever. */
static HANDLE locked_heap;
static volatile int heap_locked;
static void *lock_then_create(void *arg) {
    (void)arg;
    HeapLock(locked_heap);
    heap_locked = 1;
    usleep(200000); /* the main thread is in fork's prepare meanwhile */
    HANDLE h2 = HeapCreate(0, 0, 0);
    if (h2 != NULL) HeapDestroy(h2);
    HeapUnlock(locked_heap);
    return NULL;
}
static void heaplock_fork_child(void *arg) {
    (void)arg;
    alarm(10); /* a deadlock ends this child with SIGALRM, one failed check */
    locked_heap = HeapCreate(0, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, lock_then_create, NULL);
    while (!heap_locked) usleep(1000);
    usleep(50000);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        void *p = HeapAlloc(locked_heap, 0, 10);
        _exit(p != NULL && HeapFree(locked_heap, 0, p) ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    pthread_join(t, NULL);
    CHECK("HeapLock + HeapCreate in one thread, fork in another: the child's heap works",
          WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
    check_child("HeapLock + HeapCreate against fork: no deadlock", heaplock_fork_child, NULL);
    pthread_t threads[2];
    shared_heap = HeapCreate(0, 0, 0);
    for (int i = 0; i < 2; i++) pthread_create(&threads[i], NULL, busy, NULL);
    int stuck = 0, failed = 0;
    for (int i = 0; i < 150; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(10); /* a lock inherited held would hang the child: SIGALRM ends it */
            char *p = VirtualAlloc(NULL, 0x10000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
            HANDLE h = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x1000, NULL);
            void *v = h != NULL ? MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, 0) : NULL;
            void *b = HeapAlloc(shared_heap, 0, 100);
            void *l = LocalAlloc(LPTR, 50000);
            int ok = p != NULL && v != NULL && VirtualFree(p, 0, MEM_RELEASE) && UnmapViewOfFile(v) &&
                     CloseHandle(h) && b != NULL && HeapFree(shared_heap, 0, b) && l != NULL &&
                     LocalFree(l) == NULL && HeapValidate(shared_heap, 0, NULL);
            exit(ok ? 0 : 1);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) stuck++;
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;
    }
    stop = 1;
    for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    CHECK_EQ_U("children forked while other threads were inside the library: none hung", stuck, 0);
    CHECK_EQ_U("children forked while other threads were inside the library: all calls worked", failed, 0);
    return check_summary();
}
