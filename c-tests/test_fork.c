/* fork() while other threads are inside the library: the child must find every lock free, and
 * its calls (and exit) must work. */
#include "check.h"

#include <pthread.h>

static volatile int stop;

static void *busy(void *arg) {
    (void)arg;
    while (!stop) {
        char *p = VirtualAlloc(NULL, 0x10000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        if (p != NULL) VirtualFree(p, 0, MEM_RELEASE);
        HANDLE h = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x1000, NULL);
        if (h != NULL) {
            void *v = MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, 0);
            if (v != NULL) UnmapViewOfFile(v);
            CloseHandle(h);
        }
    }
    return NULL;
}

int main(void) {
    pthread_t threads[2];
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
            int ok = p != NULL && v != NULL && VirtualFree(p, 0, MEM_RELEASE) && UnmapViewOfFile(v) &&
                     CloseHandle(h);
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
