/* Fault-driven pages at their edges (strict mode): a signal handler touching an auto-commit
 * page while its own thread is inside VirtualFree on that page, and the library's own copies
 * after the main thread has exited. */
#include "check.h"

#include <pthread.h>
#include <sys/time.h>

#define REGION (4u << 20)

static char *volatile region;
static volatile long ticks;

static void on_alarm(int sig) {
    (void)sig;
    region[REGION - PG] = 1; /* an auto-commit page this thread keeps decommitting */
    ticks++;
}

/* Without asynchronous signals blocked around the page's BUSY bit, the handler's fault would wait
   for the interrupted VirtualFree forever. */
static void signal_during_decommit_child(void *arg) {
    (void)arg;
    alarm(60); /* a hang fails as SIGALRM's default action */
    region = VirtualAlloc(NULL, REGION, MEM_RESERVE | MEM_AUTO_COMMIT, PAGE_READWRITE);
    CHECK("auto-commit region reserved", region != NULL);
    if (region == NULL) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    struct itimerval every = {{0, 200}, {0, 200}};
    setitimer(ITIMER_PROF, &every, NULL);
    sigaction(SIGPROF, &sa, NULL);
    int ok = 1;
    for (int i = 0; i < 300 && ok; i++) {
        for (size_t off = 0; off < REGION; off += PG) region[off] = 1;
        ok = VirtualFree(region, REGION, MEM_DECOMMIT);
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    CHECK("300 decommits of touched pages, interrupted by a handler touching them", ok);
    CHECK("the handler ran meanwhile", ticks > 0);
    CHECK("release", VirtualFree(region, 0, MEM_RELEASE));
}

static char *guard_page;

static void *after_main_exit(void *arg) {
    (void)arg;
    usleep(100 * 1000);
    char text[16] = "after main";
    DWORD n = 0;
    int wrote = WriteProcessMemory(GetCurrentProcess(), guard_page, text, sizeof text, &n);
    MEMORY_BASIC_INFORMATION m;
    int queried = VirtualQuery(guard_page, &m, sizeof m) == sizeof m;
    char back[16] = {0};
    int read = ReadProcessMemory(GetCurrentProcess(), guard_page, back, sizeof back, NULL);
    /* The main thread is gone: report through the exit status. */
    _exit(wrote && n == sizeof text && queried && (m.Protect & PAGE_GUARD) && read &&
                  memcmp(back, text, sizeof text) == 0
              ? 0
              : 1);
}

static void main_thread_exits(void) {
    guard_page = VirtualAlloc(NULL, PG, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD);
    if (guard_page == NULL) _exit(2);
    pthread_t t;
    pthread_create(&t, NULL, after_main_exit, NULL);
    pthread_exit(NULL);
}

int main(void) {
    check_child("a signal handler touching pages its thread is decommitting does not hang",
                signal_during_decommit_child, NULL);
    /* The child's main thread exits, so it reports through its exit status alone. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(60);
        main_thread_exits();
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK("copies to and from a guard page work after the main thread has exited",
          pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return check_summary();
}
