/* Memory-mapped files (ce6 profile): issue 6, CE-SEMANTICS.md §15, README "File mappings and shared
 * memory". CreateFileForMappingW, CreateFileMappingW/A, MapViewOfFile, UnmapViewOfFile,
 * FlushViewOfFile and CloseHandle with their exact return values and last errors. Files live in a
 * fresh mkdtemp() directory that is removed at the end; mapping names carry the pid. */
#include "check.h"

#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pthread.h>
#include <sys/stat.h>

#define FOUR_GB 0x100000000ull
#define BAD_HANDLE ((HANDLE)(uintptr_t)0x12345678u)

static char g_dir[64]; /* the temp directory */

/* ---- names and paths ---- */

#define WMAX 512
typedef struct {
    WCHAR s[WMAX];
} wstr;

/* UTF-16 copy of an ASCII string (use `.s`; the temporary lives to the end of the full expression). */
static wstr W(const char *a) {
    wstr w;
    size_t i = 0;
    for (; a[i] != '\0' && i < WMAX - 1; i++) w.s[i] = (WCHAR)(unsigned char)a[i];
    w.s[i] = 0;
    return w;
}

/* "<g_dir>/<name>" as a C string (rotating buffers, so a few can be used in one expression). */
static const char *path(const char *name) {
    static char bufs[4][256];
    static int next;
    char *b = bufs[next++ & 3];
    snprintf(b, sizeof bufs[0], "%s/%s", g_dir, name);
    return b;
}

/* The same path in UTF-16. */
static wstr WP(const char *name) { return W(path(name)); }

/* A per-process mapping name: "coredll-test-mapping-<pid>-<tag>". */
static wstr MN(const char *tag) {
    char b[128];
    snprintf(b, sizeof b, "coredll-test-mapping-%d-%s", (int)getpid(), tag);
    return W(b);
}
static const char *MNA(const char *tag) {
    static char bufs[4][128];
    static int next;
    char *b = bufs[next++ & 3];
    snprintf(b, sizeof bufs[0], "coredll-test-mapping-%d-%s", (int)getpid(), tag);
    return b;
}

/* ---- plain POSIX file helpers (independent of the library) ---- */

static unsigned char pat(uint32_t i, unsigned seed) {
    uint32_t x = i * 2654435761u + seed * 0x9E3779B9u;
    return (unsigned char)((x >> 13) ^ (x >> 24) ^ seed);
}

static void pattern(unsigned char *buf, uint32_t off, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) buf[i] = pat(off + (uint32_t)i, seed);
}

/* Creates (or replaces) the file with n pattern bytes (seed); 1 on success. */
static int make_file(const char *name, size_t n, unsigned seed) {
    int fd = open(path(name), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0) return 0;
    unsigned char *buf = malloc(n ? n : 1);
    if (buf == NULL) {
        close(fd);
        return 0;
    }
    pattern(buf, 0, n, seed);
    int ok = write(fd, buf, n) == (ssize_t)n;
    free(buf);
    return close(fd) == 0 && ok;
}

/* The file's size, or -1 when it does not exist. */
static long long fsize(const char *name) {
    struct stat st;
    if (stat(path(name), &st) != 0) return -1;
    return (long long)st.st_size;
}

/* Reads n bytes at off with plain read() on a fresh descriptor; 1 on success. */
static int read_at(const char *name, off_t off, void *buf, size_t n) {
    int fd = open(path(name), O_RDONLY);
    if (fd < 0) return 0;
    int ok = lseek(fd, off, SEEK_SET) == off && read(fd, buf, n) == (ssize_t)n;
    close(fd);
    return ok;
}

/* The file holds pattern(seed) bytes at [off, off+n). */
static int file_has_pattern(const char *name, uint32_t off, size_t n, unsigned seed) {
    unsigned char *a = malloc(n), *b = malloc(n);
    int ok = a && b && read_at(name, off, a, n);
    if (ok) {
        pattern(b, off, n, seed);
        ok = memcmp(a, b, n) == 0;
    }
    free(a);
    free(b);
    return ok;
}

/* The view at p holds pattern(seed) bytes of mapping offset off..off+n (fault-safe). */
static int view_has_pattern(const void *p, uint32_t off, size_t n, unsigned seed) {
    unsigned char *b = malloc(n);
    if (b == NULL) return 0;
    pattern(b, off, n, seed);
    int ok = mem_equals(p, b, n);
    free(b);
    return ok;
}

/* Writes pattern(seed) bytes of offsets off..off+n to the view at p (fault-safe). */
static int view_write_pattern(void *p, uint32_t off, size_t n, unsigned seed) {
    unsigned char *b = malloc(n);
    if (b == NULL) return 0;
    pattern(b, off, n, seed);
    int ok = safe_write(p, b, n);
    free(b);
    return ok;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* Opens an existing file of the temp directory for mapping (setup helper; not a check). */
static HANDLE open_for_map(const char *name, DWORD access, DWORD disposition) {
    return CreateFileForMappingW(WP(name).s, access, 0, NULL, disposition, FILE_ATTRIBUTE_NORMAL, NULL);
}

static HANDLE anon(DWORD size) { return CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, size, NULL); }

static void do_write(void *p) {
    volatile char *c = p;
    *c = 1;
}

static void do_read_write(void *p) {
    volatile char *c = p;
    char v = *c;
    *c = (char)(v + 1);
}

/* ======================= CreateFileForMappingW ======================= */

static void test_create_file(void) {
    const DWORD RW = GENERIC_READ | GENERIC_WRITE;
    HANDLE h;

    /* Missing files and directories. */
    CHECK_RET_ERR("OPEN_EXISTING of a missing file -> ERROR_FILE_NOT_FOUND",
                  CreateFileForMappingW(WP("a.bin").s, GENERIC_READ, 0, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL),
                  INVALID_HANDLE_VALUE, ERROR_FILE_NOT_FOUND);
    CHECK_RET_ERR("TRUNCATE_EXISTING of a missing file -> ERROR_FILE_NOT_FOUND",
                  CreateFileForMappingW(WP("a.bin").s, RW, 0, NULL, TRUNCATE_EXISTING, 0, NULL), INVALID_HANDLE_VALUE,
                  ERROR_FILE_NOT_FOUND);
    CHECK_EQ_U("failed opens created nothing", fsize("a.bin"), -1);
    static const struct named DISPS[] = {{CREATE_NEW, "CREATE_NEW"},
                                         {CREATE_ALWAYS, "CREATE_ALWAYS"},
                                         {OPEN_EXISTING, "OPEN_EXISTING"},
                                         {OPEN_ALWAYS, "OPEN_ALWAYS"},
                                         {TRUNCATE_EXISTING, "TRUNCATE_EXISTING"}};
    for (size_t i = 0; i < sizeof DISPS / sizeof DISPS[0]; i++) {
        char name[160];
        snprintf(name, sizeof name, "%s in a missing directory -> ERROR_PATH_NOT_FOUND", DISPS[i].name);
        CHECK_RET_ERR(name, CreateFileForMappingW(WP("nodir/a.bin").s, RW, 0, NULL, DISPS[i].v, 0, NULL),
                      INVALID_HANDLE_VALUE, ERROR_PATH_NOT_FOUND);
    }

    /* CREATE_NEW. */
    h = CALL(CreateFileForMappingW(WP("a.bin").s, RW, 0, NULL, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, NULL));
    CHECK("CREATE_NEW of a missing file succeeds", h != INVALID_HANDLE_VALUE && h != NULL);
    CHECK_EQ_U("CREATE_NEW created an empty file", fsize("a.bin"), 0);
    if (h != INVALID_HANDLE_VALUE) CHECK_RET_ERR("close it", CloseHandle(h), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("CREATE_NEW of an existing file -> ERROR_FILE_EXISTS",
                  CreateFileForMappingW(WP("a.bin").s, RW, 0, NULL, CREATE_NEW, 0, NULL), INVALID_HANDLE_VALUE,
                  ERROR_FILE_EXISTS);
    CHECK_RET_ERR("CREATE_NEW of an existing file, read-only access -> ERROR_FILE_EXISTS",
                  CreateFileForMappingW(WP("a.bin").s, GENERIC_READ, 0, NULL, CREATE_NEW, 0, NULL),
                  INVALID_HANDLE_VALUE, ERROR_FILE_EXISTS);

    /* OPEN_EXISTING / OPEN_ALWAYS keep the contents. */
    CHECK("setup: a.bin with 100 bytes", make_file("a.bin", 100, 1));
    h = CALL(CreateFileForMappingW(WP("a.bin").s, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL));
    CHECK("OPEN_EXISTING GENERIC_READ of an existing file succeeds", h != INVALID_HANDLE_VALUE && h != NULL);
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
    h = CALL(CreateFileForMappingW(WP("a.bin").s, RW, 0, NULL, OPEN_EXISTING, 0, NULL));
    CHECK("OPEN_EXISTING read+write of an existing file succeeds", h != INVALID_HANDLE_VALUE && h != NULL);
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
    h = CALL(CreateFileForMappingW(WP("a.bin").s, GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL));
    CHECK("OPEN_EXISTING GENERIC_WRITE alone succeeds", h != INVALID_HANDLE_VALUE && h != NULL);
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
    h = CALL(CreateFileForMappingW(WP("a.bin").s, RW, 0, NULL, OPEN_ALWAYS, 0, NULL));
    CHECK("OPEN_ALWAYS of an existing file succeeds", h != INVALID_HANDLE_VALUE && h != NULL);
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
    CHECK("OPEN_EXISTING/OPEN_ALWAYS kept the file's 100 bytes",
          fsize("a.bin") == 100 && file_has_pattern("a.bin", 0, 100, 1));

    h = CALL(CreateFileForMappingW(WP("b.bin").s, RW, 0, NULL, OPEN_ALWAYS, 0, NULL));
    CHECK("OPEN_ALWAYS of a missing file succeeds", h != INVALID_HANDLE_VALUE && h != NULL);
    CHECK_EQ_U("OPEN_ALWAYS created an empty file", fsize("b.bin"), 0);
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);

    /* CREATE_ALWAYS / TRUNCATE_EXISTING truncate. */
    h = CALL(CreateFileForMappingW(WP("a.bin").s, RW, 0, NULL, CREATE_ALWAYS, 0, NULL));
    CHECK("CREATE_ALWAYS of an existing file succeeds", h != INVALID_HANDLE_VALUE && h != NULL);
    CHECK_EQ_U("CREATE_ALWAYS truncated the existing file", fsize("a.bin"), 0);
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
    h = CALL(CreateFileForMappingW(WP("c.bin").s, RW, 0, NULL, CREATE_ALWAYS, 0, NULL));
    CHECK("CREATE_ALWAYS of a missing file succeeds", h != INVALID_HANDLE_VALUE && h != NULL);
    CHECK_EQ_U("CREATE_ALWAYS created an empty file", fsize("c.bin"), 0);
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
    CHECK("setup: a.bin with 100 bytes again", make_file("a.bin", 100, 1));
    h = CALL(CreateFileForMappingW(WP("a.bin").s, RW, 0, NULL, TRUNCATE_EXISTING, 0, NULL));
    CHECK("TRUNCATE_EXISTING of an existing file succeeds", h != INVALID_HANDLE_VALUE && h != NULL);
    CHECK_EQ_U("TRUNCATE_EXISTING truncated the file", fsize("a.bin"), 0);
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);

    /* Parameter validation (on an existing file, so nothing else can fail). */
    CHECK("setup: a.bin with 100 bytes once more", make_file("a.bin", 100, 1));
    CHECK_RET_ERR("NULL file name -> ERROR_INVALID_PARAMETER",
                  CreateFileForMappingW(NULL, RW, 0, NULL, OPEN_ALWAYS, 0, NULL), INVALID_HANDLE_VALUE,
                  ERROR_INVALID_PARAMETER);
    static const struct named BAD_ACCESS[] = {
        {0, "0"},
        {GENERIC_READ | 1u, "GENERIC_READ|1"},
        {GENERIC_READ | GENERIC_WRITE | 0x20000000u, "GENERIC_READ|GENERIC_WRITE|GENERIC_EXECUTE"},
        {0x20000000u, "GENERIC_EXECUTE"},
        {0x10000000u, "GENERIC_ALL"},
        {1u, "1"},
        {0x00010000u, "DELETE"},
        {0xFFFFFFFFu, "0xFFFFFFFF"},
    };
    for (size_t i = 0; i < sizeof BAD_ACCESS / sizeof BAD_ACCESS[0]; i++) {
        char name[160];
        snprintf(name, sizeof name, "access %s -> ERROR_INVALID_PARAMETER", BAD_ACCESS[i].name);
        CHECK_RET_ERR(name, CreateFileForMappingW(WP("a.bin").s, BAD_ACCESS[i].v, 0, NULL, OPEN_EXISTING, 0, NULL),
                      INVALID_HANDLE_VALUE, ERROR_INVALID_PARAMETER);
    }
    static const struct named BAD_DISP[] = {
        {0, "0"}, {6, "6"}, {0x80000000u, "0x80000000"}, {0xFFFFFFFFu, "0xFFFFFFFF"}};
    for (size_t i = 0; i < sizeof BAD_DISP / sizeof BAD_DISP[0]; i++) {
        char name[160];
        snprintf(name, sizeof name, "disposition %s -> ERROR_INVALID_PARAMETER", BAD_DISP[i].name);
        CHECK_RET_ERR(name, CreateFileForMappingW(WP("a.bin").s, RW, 0, NULL, BAD_DISP[i].v, 0, NULL),
                      INVALID_HANDLE_VALUE, ERROR_INVALID_PARAMETER);
    }
    CHECK_RET_ERR("access 0 with CREATE_NEW of a missing file -> ERROR_INVALID_PARAMETER",
                  CreateFileForMappingW(WP("x.bin").s, 0, 0, NULL, CREATE_NEW, 0, NULL), INVALID_HANDLE_VALUE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("bad disposition 0 on a missing file -> ERROR_INVALID_PARAMETER",
                  CreateFileForMappingW(WP("x.bin").s, RW, 0, NULL, 0, 0, NULL), INVALID_HANDLE_VALUE,
                  ERROR_INVALID_PARAMETER);
    CHECK_EQ_U("refused calls created no file", fsize("x.bin"), -1);
    CHECK("refused calls left a.bin alone", fsize("a.bin") == 100 && file_has_pattern("a.bin", 0, 100, 1));

    /* Share mode, security attributes, flags and template are accepted (ignored). */
    char junk[64];
    memset(junk, 0x5A, sizeof junk);
    h = CALL(CreateFileForMappingW(WP("a.bin").s, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, junk, OPEN_EXISTING,
                                   FILE_ATTRIBUTE_NORMAL, NULL));
    CHECK("share mode and a non-NULL security-attributes pointer are accepted", h != INVALID_HANDLE_VALUE && h != NULL);
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
}


/* ERROR_ACCESS_DENIED needs an unprivileged process (root bypasses file permissions): this runs in
 * a child that drops to uid/gid 65534 when it is root. */
static void access_denied_child(void *arg) {
    (void)arg;
    const DWORD RW = GENERIC_READ | GENERIC_WRITE;
    if (geteuid() == 0) {
        int ok = setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(65534) == 0;
        CHECK("setup: drop root privileges to uid/gid 65534", ok && geteuid() != 0);
        if (!ok) return;
    }
    CHECK_RET_ERR("OPEN_EXISTING GENERIC_WRITE of a mode-0444 file -> ERROR_ACCESS_DENIED",
                  CreateFileForMappingW(WP("ro.bin").s, GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL),
                  INVALID_HANDLE_VALUE, ERROR_ACCESS_DENIED);
    CHECK_RET_ERR("OPEN_EXISTING read+write of a mode-0444 file -> ERROR_ACCESS_DENIED",
                  CreateFileForMappingW(WP("ro.bin").s, RW, 0, NULL, OPEN_EXISTING, 0, NULL), INVALID_HANDLE_VALUE,
                  ERROR_ACCESS_DENIED);
    CHECK_RET_ERR("OPEN_ALWAYS read+write of a mode-0444 file -> ERROR_ACCESS_DENIED",
                  CreateFileForMappingW(WP("ro.bin").s, RW, 0, NULL, OPEN_ALWAYS, 0, NULL), INVALID_HANDLE_VALUE,
                  ERROR_ACCESS_DENIED);
    CHECK_RET_ERR("CREATE_ALWAYS over a mode-0444 file -> ERROR_ACCESS_DENIED",
                  CreateFileForMappingW(WP("ro.bin").s, RW, 0, NULL, CREATE_ALWAYS, 0, NULL), INVALID_HANDLE_VALUE,
                  ERROR_ACCESS_DENIED);
    CHECK_RET_ERR("TRUNCATE_EXISTING of a mode-0444 file -> ERROR_ACCESS_DENIED",
                  CreateFileForMappingW(WP("ro.bin").s, RW, 0, NULL, TRUNCATE_EXISTING, 0, NULL), INVALID_HANDLE_VALUE,
                  ERROR_ACCESS_DENIED);
    CHECK("the refused opens left the mode-0444 file's 100 bytes", fsize("ro.bin") == 100);
    CHECK_RET_ERR("CREATE_NEW in a mode-0555 directory -> ERROR_ACCESS_DENIED",
                  CreateFileForMappingW(WP("rodir/n.bin").s, RW, 0, NULL, CREATE_NEW, 0, NULL), INVALID_HANDLE_VALUE,
                  ERROR_ACCESS_DENIED);
    CHECK_RET_ERR("OPEN_ALWAYS of a missing file in a mode-0555 directory -> ERROR_ACCESS_DENIED",
                  CreateFileForMappingW(WP("rodir/n.bin").s, RW, 0, NULL, OPEN_ALWAYS, 0, NULL), INVALID_HANDLE_VALUE,
                  ERROR_ACCESS_DENIED);
    CHECK_EQ_U("nothing was created in the mode-0555 directory", fsize("rodir/n.bin"), -1);
    HANDLE h = CALL(CreateFileForMappingW(WP("ro.bin").s, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL));
    CHECK("control: OPEN_EXISTING GENERIC_READ of the mode-0444 file succeeds", h != INVALID_HANDLE_VALUE && h != NULL);
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
}

static void test_access_denied(void) {
    int ok = chmod(g_dir, 0755) == 0 && make_file("ro.bin", 100, 2) && chmod(path("ro.bin"), 0444) == 0 &&
             mkdir(path("rodir"), 0555) == 0 && chmod(path("rodir"), 0555) == 0;
    CHECK("setup: mode-0444 file and mode-0555 directory", ok);
    if (ok) check_child("ERROR_ACCESS_DENIED cases (unprivileged child)", access_denied_child, NULL);
}

/* ======================= CreateFileMappingW: parameters ======================= */

static const struct named BAD_MAP_PROTECT[] = {
    {0, "0"},
    {PAGE_NOACCESS, "PAGE_NOACCESS"},
    {PAGE_WRITECOPY, "PAGE_WRITECOPY"},
    {PAGE_EXECUTE, "PAGE_EXECUTE"},
    {PAGE_EXECUTE_READ, "PAGE_EXECUTE_READ"},
    {PAGE_EXECUTE_READWRITE, "PAGE_EXECUTE_READWRITE"},
    {PAGE_EXECUTE_WRITECOPY, "PAGE_EXECUTE_WRITECOPY"},
    {PAGE_READONLY | PAGE_READWRITE, "PAGE_READONLY|PAGE_READWRITE"},
    {PAGE_READWRITE | PAGE_GUARD, "PAGE_READWRITE|PAGE_GUARD"},
    {PAGE_READWRITE | PAGE_NOCACHE, "PAGE_READWRITE|PAGE_NOCACHE"},
    {PAGE_READWRITE | SEC_RESERVE, "PAGE_READWRITE|SEC_RESERVE"},
    {PAGE_READWRITE | SEC_IMAGE, "PAGE_READWRITE|SEC_IMAGE"},
    {PAGE_READWRITE | SEC_NOCACHE, "PAGE_READWRITE|SEC_NOCACHE"},
    {PAGE_READWRITE | SEC_COMMIT | SEC_RESERVE, "PAGE_READWRITE|SEC_COMMIT|SEC_RESERVE"},
    {SEC_COMMIT, "SEC_COMMIT alone"},
    {PAGE_READWRITE | 0x80000000u, "PAGE_READWRITE|0x80000000"},
    {0xFFFFFFFFu, "0xFFFFFFFF"},
};
#define N_BAD_MAP_PROTECT (sizeof BAD_MAP_PROTECT / sizeof BAD_MAP_PROTECT[0])

static void test_mapping_params(void) {
    char name[200];
    HANDLE m;

    /* flProtect, pagefile-backed. */
    for (size_t i = 0; i < N_BAD_MAP_PROTECT; i++) {
        snprintf(name, sizeof name, "pagefile mapping, flProtect %s -> ERROR_INVALID_PARAMETER", BAD_MAP_PROTECT[i].name);
        CHECK_RET_ERR(name, CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, BAD_MAP_PROTECT[i].v, 0, 0x10000, NULL), NULL,
                      ERROR_INVALID_PARAMETER);
    }
    /* flProtect, named pagefile-backed: refused, and the name is not created. */
    CHECK_RET_ERR("named pagefile mapping, flProtect PAGE_EXECUTE_READWRITE -> ERROR_INVALID_PARAMETER",
                  CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_EXECUTE_READWRITE, 0, 0x10000, MN("refused").s),
                  NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("named pagefile mapping, size 0 -> ERROR_INVALID_PARAMETER",
                  CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0, MN("refused").s), NULL,
                  ERROR_INVALID_PARAMETER);
    m = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x1000, MN("refused").s));
    CHECK_NE_U("the refused name can then be created", m, NULL);
    CHECK_LE("refused creates did not create the name (last error 0, not ERROR_ALREADY_EXISTS)", 0);
    if (m != NULL) CloseHandle(m);

    /* flProtect, file-backed. */
    CHECK("setup: fm.bin with 0x1000 bytes", make_file("fm.bin", 0x1000, 3));
    HANDLE f = open_for_map("fm.bin", GENERIC_READ | GENERIC_WRITE, OPEN_EXISTING);
    CHECK("setup: open fm.bin read+write", f != INVALID_HANDLE_VALUE);
    if (f != INVALID_HANDLE_VALUE) {
        for (size_t i = 0; i < N_BAD_MAP_PROTECT; i++) {
            snprintf(name, sizeof name, "file mapping, flProtect %s -> ERROR_INVALID_PARAMETER", BAD_MAP_PROTECT[i].name);
            CHECK_RET_ERR(name, CreateFileMappingW(f, NULL, BAD_MAP_PROTECT[i].v, 0, 0, NULL), NULL,
                          ERROR_INVALID_PARAMETER);
        }
        static const struct named GOOD[] = {{PAGE_READONLY, "PAGE_READONLY"},
                                            {PAGE_READWRITE, "PAGE_READWRITE"},
                                            {PAGE_READONLY | SEC_COMMIT, "PAGE_READONLY|SEC_COMMIT"},
                                            {PAGE_READWRITE | SEC_COMMIT, "PAGE_READWRITE|SEC_COMMIT"}};
        for (size_t i = 0; i < sizeof GOOD / sizeof GOOD[0]; i++) {
            m = CALL(CreateFileMappingW(f, NULL, GOOD[i].v, 0, 0, NULL));
            snprintf(name, sizeof name, "file mapping, flProtect %s succeeds", GOOD[i].name);
            CHECK_NE_U(name, m, NULL);
            snprintf(name, sizeof name, "file mapping, flProtect %s: last error 0", GOOD[i].name);
            CHECK_LE(name, 0);
            if (m != NULL) CloseHandle(m);
        }
        CHECK_EQ_U("mappings of size 0 left the file's size alone", fsize("fm.bin"), 0x1000);
        CloseHandle(f);
    }

    /* Pagefile-backed sizes and protection. */
    CHECK_RET_ERR("pagefile mapping, size 0 -> ERROR_INVALID_PARAMETER",
                  CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0, NULL), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("pagefile mapping, size high 1 -> ERROR_INVALID_PARAMETER",
                  CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 1, 0x1000, NULL), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("pagefile mapping, size high 0xFFFFFFFF -> ERROR_INVALID_PARAMETER",
                  CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0xFFFFFFFFu, 0x1000, NULL), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("pagefile mapping, size 0x80000000 -> ERROR_INVALID_PARAMETER",
                  CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x80000000u, NULL), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("pagefile mapping, size 0xFFFFFFFF -> ERROR_INVALID_PARAMETER",
                  CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0xFFFFFFFFu, NULL), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("pagefile mapping, PAGE_READONLY -> ERROR_INVALID_PARAMETER",
                  CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READONLY, 0, 0x1000, NULL), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("pagefile mapping, PAGE_READONLY|SEC_COMMIT -> ERROR_INVALID_PARAMETER",
                  CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READONLY | SEC_COMMIT, 0, 0x1000, NULL), NULL,
                  ERROR_INVALID_PARAMETER);
    static const struct named GOOD_SIZES[] = {
        {1, "1 byte"}, {0x1000, "0x1000"}, {0x12345, "0x12345"}, {0x7FFFFFFFu, "0x7FFFFFFF"}};
    for (size_t i = 0; i < sizeof GOOD_SIZES / sizeof GOOD_SIZES[0]; i++) {
        m = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, GOOD_SIZES[i].v, NULL));
        snprintf(name, sizeof name, "pagefile mapping of %s succeeds", GOOD_SIZES[i].name);
        CHECK_NE_U(name, m, NULL);
        snprintf(name, sizeof name, "pagefile mapping of %s: last error 0", GOOD_SIZES[i].name);
        CHECK_LE(name, 0);
        if (m != NULL) CHECK_RET_ERR("close it", CloseHandle(m), TRUE, LE_UNTOUCHED);
    }
    m = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE | SEC_COMMIT, 0, 0x1000, NULL));
    CHECK_NE_U("pagefile mapping with PAGE_READWRITE|SEC_COMMIT succeeds", m, NULL);
    CHECK_LE("... last error 0", 0);
    if (m != NULL) CloseHandle(m);

    /* The last error is set to 0 on success even when it held something else before. */
    SetLastError(ERROR_ALREADY_EXISTS);
    m = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x1000, NULL);
    CHECK_LE("anonymous create after SetLastError(ERROR_ALREADY_EXISTS): last error 0", 0);
    if (m != NULL) CloseHandle(m);

    /* lpsa is ignored. */
    char junk[64];
    memset(junk, 0x5A, sizeof junk);
    m = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, junk, PAGE_READWRITE, 0, 0x1000, NULL));
    CHECK_NE_U("a non-NULL lpsa is accepted (ignored)", m, NULL);
    CHECK_LE("... last error 0", 0);
    if (m != NULL) CloseHandle(m);

    /* hFile: only INVALID_HANDLE_VALUE or a CreateFileForMappingW handle. */
    HANDLE other = anon(0x1000);
    HANDLE closed = open_for_map("fm.bin", GENERIC_READ | GENERIC_WRITE, OPEN_EXISTING);
    CHECK("setup: a mapping handle and a file handle to close", other != NULL && closed != INVALID_HANDLE_VALUE);
    if (closed != INVALID_HANDLE_VALUE) CloseHandle(closed);
    struct {
        HANDLE h;
        const char *name;
    } bad_files[] = {
        {NULL, "NULL"},
        {BAD_HANDLE, "0x12345678"},
        {(HANDLE)(intptr_t)-2, "(HANDLE)-2"},
        {GetCurrentProcess(), "GetCurrentProcess()"},
        {other, "a file-mapping handle"},
        {closed, "a closed file handle"},
    };
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
        snprintf(name, sizeof name, "hFile %s -> ERROR_INVALID_HANDLE (PAGE_READONLY)", bad_files[i].name);
        CHECK_RET_ERR(name, CreateFileMappingW(bad_files[i].h, NULL, PAGE_READONLY, 0, 0x1000, NULL), NULL,
                      ERROR_INVALID_HANDLE);
        snprintf(name, sizeof name, "hFile %s -> ERROR_INVALID_HANDLE (PAGE_READWRITE)", bad_files[i].name);
        CHECK_RET_ERR(name, CreateFileMappingW(bad_files[i].h, NULL, PAGE_READWRITE, 0, 0x1000, NULL), NULL,
                      ERROR_INVALID_HANDLE);
    }
    if (other != NULL) CloseHandle(other);
    CHECK_EQ_U("the closed file handle did not extend fm.bin", fsize("fm.bin"), 0x1000);
}

/* ======================= named mappings and CreateFileMappingA ======================= */

static void test_named(void) {
    const DWORD SZ = 0x20000;
    HANDLE h1 = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, SZ, MN("a").s));
    CHECK_NE_U("fresh named mapping", h1, NULL);
    CHECK_LE("fresh named mapping: last error 0 (was 0xDEADBEEF)", 0);
    if (h1 == NULL) return;
    char *v1 = MapViewOfFile(h1, FILE_MAP_ALL_ACCESS, 0, 0, 0);
    CHECK_NE_U("view of it", v1, NULL);
    CHECK("a fresh pagefile mapping reads zero", v1 != NULL && check_bytes_are(v1, SZ, 0));
    CHECK("write a pattern through the first view", v1 != NULL && view_write_pattern(v1, 0, SZ, 11));

    HANDLE h2 = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, SZ, MN("a").s));
    CHECK_NE_U("second create of the same name succeeds", h2, NULL);
    CHECK_LE("second create of the same name: ERROR_ALREADY_EXISTS", ERROR_ALREADY_EXISTS);
    CHECK("... with a new handle", h2 != NULL && h2 != h1);
    char *v2 = h2 != NULL ? MapViewOfFile(h2, FILE_MAP_ALL_ACCESS, 0, 0, 0) : NULL;
    CHECK_NE_U("view through the second handle", v2, NULL);
    CHECK("second handle's view sees the pattern", v2 != NULL && view_has_pattern(v2, 0, SZ, 11));
    CHECK("write through the second view", v2 != NULL && fill(v2 + 0x8000, 0x77, 0x100));
    CHECK("first view sees the second view's write", v1 != NULL && check_bytes_are(v1 + 0x8000, 0x100, 0x77));

    /* An existing name: parameters are not validated, the existing mapping (and size) is used. */
    HANDLE h3 = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x1000, MN("a").s));
    CHECK_NE_U("existing name with a smaller size succeeds", h3, NULL);
    CHECK_LE("... ERROR_ALREADY_EXISTS", ERROR_ALREADY_EXISTS);
    if (h3 != NULL) {
        char *v3 = CALL(MapViewOfFile(h3, FILE_MAP_READ, 0, SZ - 0x1000, 0x1000));
        CHECK_NE_U("... the mapping keeps its original size (view of its last page)", v3, NULL);
        CHECK("... and its data", v3 != NULL && view_has_pattern(v3, SZ - 0x1000, 0x1000, 11));
        if (v3 != NULL) UnmapViewOfFile(v3);
        CHECK_RET_ERR("... a view past the original size -> ERROR_INVALID_PARAMETER",
                      MapViewOfFile(h3, FILE_MAP_READ, 0, SZ, 0x1000), NULL, ERROR_INVALID_PARAMETER);
        CloseHandle(h3);
    }
    struct {
        DWORD prot, hi, lo;
        const char *name;
    } unvalidated[] = {
        {PAGE_EXECUTE_READWRITE, 0, SZ, "PAGE_EXECUTE_READWRITE"},
        {PAGE_READONLY, 0, SZ, "PAGE_READONLY"},
        {0, 0, SZ, "flProtect 0"},
        {PAGE_READWRITE, 0, 0, "size 0"},
        {PAGE_READWRITE, 7, 0x1000, "size high 7"},
        {PAGE_READWRITE, 0, 0xFFFFFFFFu, "size 0xFFFFFFFF"},
    };
    for (size_t i = 0; i < sizeof unvalidated / sizeof unvalidated[0]; i++) {
        char name[200];
        HANDLE h = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, unvalidated[i].prot, unvalidated[i].hi,
                                           unvalidated[i].lo, MN("a").s));
        snprintf(name, sizeof name, "existing name, %s (not validated) succeeds", unvalidated[i].name);
        CHECK_NE_U(name, h, NULL);
        snprintf(name, sizeof name, "existing name, %s: ERROR_ALREADY_EXISTS", unvalidated[i].name);
        CHECK_LE(name, ERROR_ALREADY_EXISTS);
        if (h != NULL) CloseHandle(h);
    }

    /* CreateFileMappingA: the same namespace. */
    HANDLE ha = CALL(CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, SZ, MNA("a")));
    CHECK_NE_U("CreateFileMappingA of the W-created name succeeds", ha, NULL);
    CHECK_LE("... ERROR_ALREADY_EXISTS", ERROR_ALREADY_EXISTS);
    if (ha != NULL) {
        char *va = MapViewOfFile(ha, FILE_MAP_READ, 0, 0, 0);
        CHECK("... and its view sees the W mapping's data",
              va != NULL && view_has_pattern(va, 0, 0x8000, 11) && check_bytes_are(va + 0x8000, 0x100, 0x77));
        if (va != NULL) UnmapViewOfFile(va);
        CloseHandle(ha);
    }
    HANDLE hb = CALL(CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x10000, MNA("b")));
    CHECK_NE_U("CreateFileMappingA of a fresh name", hb, NULL);
    CHECK_LE("... last error 0", 0);
    char *vb = hb != NULL ? MapViewOfFile(hb, FILE_MAP_ALL_ACCESS, 0, 0, 0) : NULL;
    CHECK("a different name is a different mapping (fresh zeroes, not the other's data)",
          vb != NULL && check_bytes_are(vb, 0x10000, 0));
    CHECK("setup: write to mapping b", vb != NULL && fill(vb, 0x42, 0x10000));
    CHECK("... which mapping a does not see", v1 != NULL && view_has_pattern(v1, 0, 0x8000, 11));
    HANDLE hbw = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x10000, MN("b").s));
    CHECK_NE_U("CreateFileMappingW of the A-created name", hbw, NULL);
    CHECK_LE("... ERROR_ALREADY_EXISTS", ERROR_ALREADY_EXISTS);
    if (hbw != NULL) {
        char *vbw = MapViewOfFile(hbw, FILE_MAP_READ, 0, 0, 0);
        CHECK("... and sees the A mapping's data", vbw != NULL && check_bytes_are(vbw, 0x10000, 0x42));
        if (vbw != NULL) UnmapViewOfFile(vbw);
        CloseHandle(hbw);
    }
    HANDLE hn = CALL(CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x1000, NULL));
    CHECK_NE_U("CreateFileMappingA without a name", hn, NULL);
    CHECK_LE("... last error 0", 0);
    if (hn != NULL) CloseHandle(hn);
    CHECK_RET_ERR("CreateFileMappingA, flProtect PAGE_EXECUTE -> ERROR_INVALID_PARAMETER",
                  CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_EXECUTE, 0, 0x1000, MNA("c")), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("CreateFileMappingA, size 0 -> ERROR_INVALID_PARAMETER",
                  CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0, MNA("c")), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("CreateFileMappingA, hFile 0x12345678 -> ERROR_INVALID_HANDLE",
                  CreateFileMappingA(BAD_HANDLE, NULL, PAGE_READONLY, 0, 0x1000, MNA("c")), NULL, ERROR_INVALID_HANDLE);
    SetLastError(ERROR_ALREADY_EXISTS);
    hn = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x1000, MNA("c"));
    CHECK("CreateFileMappingA of a fresh name after SetLastError(ERROR_ALREADY_EXISTS): last error 0",
          hn != NULL && GetLastError() == 0);
    if (hn != NULL) CloseHandle(hn);

    /* Lifetime: a named mapping lives while a handle or a view exists, and its name goes with it. */
    if (vb != NULL) UnmapViewOfFile(vb);
    if (hb != NULL) CloseHandle(hb);
    hb = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x10000, MN("b").s));
    CHECK_NE_U("name b after its last handle and view were closed", hb, NULL);
    CHECK_LE("... is a fresh mapping (last error 0; README: the name goes away with its last user)", 0);
    vb = hb != NULL ? MapViewOfFile(hb, FILE_MAP_READ, 0, 0, 0) : NULL;
    CHECK("... with fresh zeroes", vb != NULL && check_bytes_are(vb, 0x10000, 0));
    if (vb != NULL) UnmapViewOfFile(vb);
    if (hb != NULL) CloseHandle(hb);

    CHECK_RET_ERR("close both handles of mapping a (views remain)", CloseHandle(h1) && CloseHandle(h2), TRUE,
                  LE_UNTOUCHED);
    HANDLE h4 = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, SZ, MN("a").s));
    CHECK_NE_U("name a with no handle but live views", h4, NULL);
    CHECK_LE("... still exists (ERROR_ALREADY_EXISTS): a mapping lives while views exist", ERROR_ALREADY_EXISTS);
    if (h4 != NULL) {
        char *v4 = MapViewOfFile(h4, FILE_MAP_READ, 0, 0, 0x1000);
        CHECK("... and keeps its data", v4 != NULL && view_has_pattern(v4, 0, 0x1000, 11));
        if (v4 != NULL) UnmapViewOfFile(v4);
        CloseHandle(h4);
    }
    if (v1 != NULL) UnmapViewOfFile(v1);
    if (v2 != NULL) UnmapViewOfFile(v2);

    /* A named file-backed mapping is found by name too. */
    CHECK("setup: named.bin with 0x3000 bytes", make_file("named.bin", 0x3000, 12));
    HANDLE f = open_for_map("named.bin", GENERIC_READ | GENERIC_WRITE, OPEN_EXISTING);
    HANDLE fm = f != INVALID_HANDLE_VALUE ? CALL(CreateFileMappingW(f, NULL, PAGE_READWRITE, 0, 0, MN("file").s)) : NULL;
    CHECK_NE_U("named file-backed mapping", fm, NULL);
    CHECK_LE("... last error 0", 0);
    if (fm != NULL) {
        HANDLE by_name = CALL(CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x1000, MN("file").s));
        CHECK_NE_U("opening its name with INVALID_HANDLE_VALUE succeeds", by_name, NULL);
        CHECK_LE("... ERROR_ALREADY_EXISTS", ERROR_ALREADY_EXISTS);
        if (by_name != NULL) {
            char *v = MapViewOfFile(by_name, FILE_MAP_READ, 0, 0, 0);
            CHECK("... its view shows the file (size 0x3000, the file's data)",
                  v != NULL && view_has_pattern(v, 0, 0x3000, 12));
            if (v != NULL) UnmapViewOfFile(v);
            CloseHandle(by_name);
        }
        CloseHandle(fm);
    }
    if (f != INVALID_HANDLE_VALUE) CloseHandle(f);
}

/* ======================= file-backed mappings ======================= */

static void disk_full_child(void *arg) {
    (void)arg;
    struct rlimit rl = {0x4000, 0x4000};
    signal(SIGXFSZ, SIG_IGN);
    CHECK("setup: RLIMIT_FSIZE 16 KB", setrlimit(RLIMIT_FSIZE, &rl) == 0);
    HANDLE f = open_for_map("big.bin", GENERIC_READ | GENERIC_WRITE, OPEN_EXISTING);
    CHECK("setup: open big.bin", f != INVALID_HANDLE_VALUE);
    if (f == INVALID_HANDLE_VALUE) return;
    CHECK_RET_ERR("extending a file past what the file system allows -> ERROR_DISK_FULL",
                  CreateFileMappingW(f, NULL, PAGE_READWRITE, 0, 0x100000, NULL), NULL, ERROR_DISK_FULL);
    CHECK("... the file was not extended to 1 MB", fsize("big.bin") < 0x100000);
    CloseHandle(f);
}

static void test_file_backed(void) {
    const DWORD RW = GENERIC_READ | GENERIC_WRITE;
    HANDLE f, m;
    char *v;

    /* Size 0 = the file's size. */
    CHECK("setup: fb.bin with 10000 bytes", make_file("fb.bin", 10000, 4));
    f = open_for_map("fb.bin", RW, OPEN_EXISTING);
    CHECK("setup: open fb.bin", f != INVALID_HANDLE_VALUE);
    if (f != INVALID_HANDLE_VALUE) {
        m = CALL(CreateFileMappingW(f, NULL, PAGE_READWRITE, 0, 0, NULL));
        CHECK_NE_U("file mapping of size 0", m, NULL);
        CHECK_LE("... last error 0", 0);
        if (m != NULL) {
            v = CALL(MapViewOfFile(m, FILE_MAP_READ, 0, 0, 0));
            CHECK_NE_U("view of the whole mapping", v, NULL);
            CHECK("the view shows the file's 10000 bytes", v != NULL && view_has_pattern(v, 0, 10000, 4));
            if (v != NULL) UnmapViewOfFile(v);
            v = CALL(MapViewOfFile(m, FILE_MAP_READ, 0, 0, 10000));
            CHECK_NE_U("view of exactly 10000 bytes (the file's size)", v, NULL);
            if (v != NULL) UnmapViewOfFile(v);
            v = CALL(MapViewOfFile(m, FILE_MAP_READ, 0, 9999, 1));
            CHECK_NE_U("view of the file's last byte", v, NULL);
            CHECK("... shows it", v != NULL && view_has_pattern(v, 9999, 1, 4));
            if (v != NULL) UnmapViewOfFile(v);
            CHECK_RET_ERR("view of 10001 bytes -> ERROR_INVALID_PARAMETER", MapViewOfFile(m, FILE_MAP_READ, 0, 0, 10001),
                          NULL, ERROR_INVALID_PARAMETER);
            CHECK_RET_ERR("view of 2 bytes at 9999 -> ERROR_INVALID_PARAMETER",
                          MapViewOfFile(m, FILE_MAP_READ, 0, 9999, 2), NULL, ERROR_INVALID_PARAMETER);
            CHECK_RET_ERR("view at offset 0x10000 (past the end), size 0 -> ERROR_INVALID_PARAMETER",
                          MapViewOfFile(m, FILE_MAP_READ, 0, 0x10000, 0), NULL, ERROR_INVALID_PARAMETER);
            CloseHandle(m);
        }
        /* Smaller than the file: the mapping has that size, the file keeps its own. */
        m = CALL(CreateFileMappingW(f, NULL, PAGE_READWRITE, 0, 0x1000, NULL));
        CHECK_NE_U("file mapping smaller than the file", m, NULL);
        CHECK_LE("... last error 0", 0);
        if (m != NULL) {
            CHECK_RET_ERR("... a view past its 0x1000 bytes -> ERROR_INVALID_PARAMETER",
                          MapViewOfFile(m, FILE_MAP_READ, 0, 0, 0x1001), NULL, ERROR_INVALID_PARAMETER);
            CloseHandle(m);
        }
        CHECK_EQ_U("the file keeps its size of 10000", fsize("fb.bin"), 10000);
        CloseHandle(f);
    }

    /* A 0-length file. */
    CHECK("setup: empty.bin with 0 bytes", make_file("empty.bin", 0, 0));
    f = open_for_map("empty.bin", RW, OPEN_EXISTING);
    CHECK("setup: open empty.bin", f != INVALID_HANDLE_VALUE);
    if (f != INVALID_HANDLE_VALUE) {
        CHECK_RET_ERR("size 0 of a 0-length file, PAGE_READWRITE -> ERROR_INVALID_PARAMETER",
                      CreateFileMappingW(f, NULL, PAGE_READWRITE, 0, 0, NULL), NULL, ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("size 0 of a 0-length file, PAGE_READONLY -> ERROR_INVALID_PARAMETER",
                      CreateFileMappingW(f, NULL, PAGE_READONLY, 0, 0, NULL), NULL, ERROR_INVALID_PARAMETER);
        m = CALL(CreateFileMappingW(f, NULL, PAGE_READWRITE, 0, 0x2000, NULL));
        CHECK_NE_U("0-length file, explicit size 0x2000, PAGE_READWRITE", m, NULL);
        CHECK_LE("... last error 0", 0);
        CHECK_EQ_U("... extended the file to 0x2000 bytes", fsize("empty.bin"), 0x2000);
        if (m != NULL) {
            v = MapViewOfFile(m, FILE_MAP_READ, 0, 0, 0);
            CHECK("... whose view reads zero", v != NULL && check_bytes_are(v, 0x2000, 0));
            if (v != NULL) UnmapViewOfFile(v);
            CloseHandle(m);
        }
        CloseHandle(f);
    }

    /* Growing extends the file; a read-only mapping cannot. */
    CHECK("setup: grow.bin with 100 bytes", make_file("grow.bin", 100, 5));
    f = open_for_map("grow.bin", RW, OPEN_EXISTING);
    CHECK("setup: open grow.bin", f != INVALID_HANDLE_VALUE);
    if (f != INVALID_HANDLE_VALUE) {
        CHECK_RET_ERR("PAGE_READONLY larger than the file -> ERROR_ACCESS_DENIED",
                      CreateFileMappingW(f, NULL, PAGE_READONLY, 0, 0x5000, NULL), NULL, ERROR_ACCESS_DENIED);
        CHECK_RET_ERR("PAGE_READONLY|SEC_COMMIT larger than the file -> ERROR_ACCESS_DENIED",
                      CreateFileMappingW(f, NULL, PAGE_READONLY | SEC_COMMIT, 0, 0x5000, NULL), NULL,
                      ERROR_ACCESS_DENIED);
        CHECK_EQ_U("... the file was not extended", fsize("grow.bin"), 100);
        m = CALL(CreateFileMappingW(f, NULL, PAGE_READWRITE, 0, 0x3000, NULL));
        CHECK_NE_U("PAGE_READWRITE mapping of 0x3000 bytes of a 100-byte file", m, NULL);
        CHECK_LE("... last error 0", 0);
        CHECK_EQ_U("... extended the file to 0x3000 bytes (stat)", fsize("grow.bin"), 0x3000);
        CHECK("... keeping its first 100 bytes", file_has_pattern("grow.bin", 0, 100, 5));
        if (m != NULL) {
            v = MapViewOfFile(m, FILE_MAP_ALL_ACCESS, 0, 0, 0);
            CHECK_NE_U("view of the grown mapping", v, NULL);
            CHECK("... shows the 100 bytes, then zeroes",
                  v != NULL && view_has_pattern(v, 0, 100, 5) && check_bytes_are(v + 100, 0x3000 - 100, 0));
            CHECK("write the grown mapping's last byte", v != NULL && fill(v + 0x2FFF, 0x9C, 1));
            if (v != NULL)
                CHECK_RET_ERR("unmap the view", UnmapViewOfFile(v), TRUE, LE_UNTOUCHED);
            unsigned char c = 0;
            CHECK("unmap wrote it back (plain read() of the file)", read_at("grow.bin", 0x2FFF, &c, 1) && c == 0x9C);
            CloseHandle(m);
        }
        m = CALL(CreateFileMappingW(f, NULL, PAGE_READONLY, 0, 0x3000, NULL));
        CHECK_NE_U("PAGE_READONLY of exactly the (grown) file size succeeds", m, NULL);
        if (m != NULL) CloseHandle(m);
        CloseHandle(f);
    }

    /* A file opened without GENERIC_WRITE. */
    CHECK("setup: rd.bin with 0x2000 bytes", make_file("rd.bin", 0x2000, 6));
    f = open_for_map("rd.bin", GENERIC_READ, OPEN_EXISTING);
    CHECK("setup: open rd.bin GENERIC_READ", f != INVALID_HANDLE_VALUE);
    if (f != INVALID_HANDLE_VALUE) {
        CHECK_RET_ERR("read-only file, PAGE_READWRITE -> ERROR_ACCESS_DENIED",
                      CreateFileMappingW(f, NULL, PAGE_READWRITE, 0, 0, NULL), NULL, ERROR_ACCESS_DENIED);
        CHECK_RET_ERR("read-only file, PAGE_READWRITE|SEC_COMMIT -> ERROR_ACCESS_DENIED",
                      CreateFileMappingW(f, NULL, PAGE_READWRITE | SEC_COMMIT, 0, 0x1000, NULL), NULL,
                      ERROR_ACCESS_DENIED);
        CHECK_RET_ERR("read-only file, PAGE_READWRITE larger than the file -> ERROR_ACCESS_DENIED",
                      CreateFileMappingW(f, NULL, PAGE_READWRITE, 0, 0x4000, NULL), NULL, ERROR_ACCESS_DENIED);
        CHECK_RET_ERR("read-only file, PAGE_READONLY larger than the file -> ERROR_ACCESS_DENIED",
                      CreateFileMappingW(f, NULL, PAGE_READONLY, 0, 0x4000, NULL), NULL, ERROR_ACCESS_DENIED);
        CHECK_EQ_U("... the file keeps its size", fsize("rd.bin"), 0x2000);
        m = CALL(CreateFileMappingW(f, NULL, PAGE_READONLY, 0, 0, NULL));
        CHECK_NE_U("read-only file, PAGE_READONLY", m, NULL);
        CHECK_LE("... last error 0", 0);
        if (m != NULL) {
            CHECK_RET_ERR("FILE_MAP_WRITE view of a read-only mapping -> ERROR_INVALID_PARAMETER",
                          MapViewOfFile(m, FILE_MAP_WRITE, 0, 0, 0), NULL, ERROR_INVALID_PARAMETER);
            CHECK_RET_ERR("FILE_MAP_READ|FILE_MAP_WRITE view of a read-only mapping -> ERROR_INVALID_PARAMETER",
                          MapViewOfFile(m, FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, 0), NULL, ERROR_INVALID_PARAMETER);
            CHECK_RET_ERR("FILE_MAP_ALL_ACCESS view of a read-only mapping -> ERROR_INVALID_PARAMETER",
                          MapViewOfFile(m, FILE_MAP_ALL_ACCESS, 0, 0, 0), NULL, ERROR_INVALID_PARAMETER);
            v = CALL(MapViewOfFile(m, FILE_MAP_READ, 0, 0, 0));
            CHECK_NE_U("FILE_MAP_READ view of a read-only mapping", v, NULL);
            if (v != NULL) {
                CHECK("... shows the file", view_has_pattern(v, 0, 0x2000, 6));
                CHECK_QUERY("... VirtualQuery: MEM_COMMIT, PAGE_READONLY, MEM_MAPPED", v, v, v, 0x2000, MEM_COMMIT,
                            PAGE_READONLY, MEM_MAPPED);
                check_expect_signal("write through a view of a read-only file mapping -> SIGSEGV", do_write, v + 0x10,
                                    SIGSEGV);
                CHECK("... the file is unchanged", file_has_pattern("rd.bin", 0, 0x2000, 6));
                UnmapViewOfFile(v);
            }
            CloseHandle(m);
        }
        CloseHandle(f);
    }

    /* Extension failure. */
    CHECK("setup: big.bin with 0x1000 bytes", make_file("big.bin", 0x1000, 8));
    check_child("ERROR_DISK_FULL (child with RLIMIT_FSIZE)", disk_full_child, NULL);

    /* Unaligned offsets. */
    CHECK("setup: off.bin with 0x30000 bytes", make_file("off.bin", 0x30000, 7));
    f = open_for_map("off.bin", RW, OPEN_EXISTING);
    m = f != INVALID_HANDLE_VALUE ? CreateFileMappingW(f, NULL, PAGE_READWRITE, 0, 0, NULL) : NULL;
    CHECK("setup: mapping of off.bin", m != NULL);
    if (m != NULL) {
        char *p = CALL(MapViewOfFile(m, FILE_MAP_READ, 0, 0x1234, 0x100));
        CHECK_NE_U("view at the unaligned offset 0x1234", p, NULL);
        if (p != NULL) {
            CHECK_EQ_U("... the pointer is 0x1234 into a 64 KB-aligned view", U64(p) & 0xFFFF, 0x1234);
            CHECK("... and shows the file's bytes at 0x1234", view_has_pattern(p, 0x1234, 0x100, 7));
            CHECK_QUERY("... VirtualQuery: its page, AllocationBase the 64 KB base, MEM_COMMIT/PAGE_READONLY/MEM_MAPPED",
                        p, U64(p) & ~0xFFFull, U64(p) & ~0xFFFFull, Q_ANY, MEM_COMMIT, PAGE_READONLY, MEM_MAPPED);
            CHECK_RET_ERR("UnmapViewOfFile of the view's 64 KB base (not the returned pointer) -> ERROR_INVALID_PARAMETER",
                          UnmapViewOfFile((void *)(uintptr_t)(U64(p) & ~0xFFFFull)), FALSE, ERROR_INVALID_PARAMETER);
            CHECK_RET_ERR("UnmapViewOfFile of the page of the returned pointer -> ERROR_INVALID_PARAMETER",
                          UnmapViewOfFile((void *)(uintptr_t)(U64(p) & ~0xFFFull)), FALSE, ERROR_INVALID_PARAMETER);
            CHECK_RET_ERR("UnmapViewOfFile of the returned (unaligned) pointer", UnmapViewOfFile(p), TRUE, LE_UNTOUCHED);
        }
        p = CALL(MapViewOfFile(m, FILE_MAP_ALL_ACCESS, 0, 0x11234, 0));
        CHECK_NE_U("view at offset 0x11234, size 0 (to the end)", p, NULL);
        if (p != NULL) {
            CHECK_EQ_U("... the pointer is 0x1234 into a 64 KB-aligned view", U64(p) & 0xFFFF, 0x1234);
            CHECK("... and shows the file from 0x11234 to its end", view_has_pattern(p, 0x11234, 0x30000 - 0x11234, 7));
            CHECK_QUERY("... VirtualQuery: MEM_COMMIT/PAGE_READWRITE/MEM_MAPPED", p, U64(p) & ~0xFFFull,
                        U64(p) & ~0xFFFFull, Q_ANY, MEM_COMMIT, PAGE_READWRITE, MEM_MAPPED);
            CHECK("... in the window, below 4 GB",
                  in_window(0, p, 0x30000 - 0x11234) && U64(p) + 0x30000 - 0x11234 <= FOUR_GB);
            CHECK("write 16 bytes at the pointer", fill(p, 0xE1, 16));
            CHECK_RET_ERR("FlushViewOfFile of them", FlushViewOfFile(p, 16), TRUE, LE_UNTOUCHED);
            unsigned char buf[16];
            CHECK("plain read() at file offset 0x11234 sees them",
                  read_at("off.bin", 0x11234, buf, 16) && buf[0] == 0xE1 && buf[15] == 0xE1);
            CHECK("... and the byte before is untouched", file_has_pattern("off.bin", 0x11233, 1, 7));
            CHECK_RET_ERR("unmap it", UnmapViewOfFile(p), TRUE, LE_UNTOUCHED);
        }
        p = CALL(MapViewOfFile(m, FILE_MAP_READ, 0, 0x2FFFF, 1));
        CHECK_NE_U("view of the last byte at the unaligned offset 0x2FFFF", p, NULL);
        if (p != NULL) {
            CHECK_EQ_U("... the pointer is 0xFFFF into its view", U64(p) & 0xFFFF, 0xFFFF);
            CHECK("... shows that byte", view_has_pattern(p, 0x2FFFF, 1, 7));
            UnmapViewOfFile(p);
        }
        CHECK_RET_ERR("2 bytes at 0x2FFFF -> ERROR_INVALID_PARAMETER", MapViewOfFile(m, FILE_MAP_READ, 0, 0x2FFFF, 2),
                      NULL, ERROR_INVALID_PARAMETER);
        CloseHandle(m);
    }
    if (f != INVALID_HANDLE_VALUE) CloseHandle(f);

    /* Flush writes back; the file handle can be closed once the mapping exists. */
    CHECK("setup: wb.bin with 0x3000 bytes", make_file("wb.bin", 0x3000, 9));
    f = open_for_map("wb.bin", RW, OPEN_EXISTING);
    m = f != INVALID_HANDLE_VALUE ? CreateFileMappingW(f, NULL, PAGE_READWRITE, 0, 0, NULL) : NULL;
    CHECK("setup: mapping of wb.bin", m != NULL);
    if (f != INVALID_HANDLE_VALUE)
        CHECK_RET_ERR("CloseHandle of the file handle while its mapping exists", CloseHandle(f), TRUE, LE_UNTOUCHED);
    if (m != NULL) {
        v = MapViewOfFile(m, FILE_MAP_WRITE, 0, 0, 0);
        CHECK_NE_U("FILE_MAP_WRITE view after the file handle was closed", v, NULL);
        if (v != NULL) {
            CHECK_QUERY("FILE_MAP_WRITE view: PAGE_READWRITE", v, v, v, 0x3000, MEM_COMMIT, PAGE_READWRITE, MEM_MAPPED);
            CHECK("... shows the file", view_has_pattern(v, 0, 0x3000, 9));
            CHECK("write at 0x10 and 0x1FF0", fill(v + 0x10, 0xA1, 8) && fill(v + 0x1FF0, 0xA2, 0x20));
            CHECK_RET_ERR("FlushViewOfFile(view, 0) (to the view's end)", FlushViewOfFile(v, 0), TRUE, LE_UNTOUCHED);
            unsigned char a[8], b[0x20];
            CHECK("plain read() sees the first write", read_at("wb.bin", 0x10, a, 8) && a[0] == 0xA1 && a[7] == 0xA1);
            CHECK("plain read() sees the second write (across a page boundary)",
                  read_at("wb.bin", 0x1FF0, b, 0x20) && b[0] == 0xA2 && b[0x1F] == 0xA2);
            CHECK("the bytes around them are unchanged",
                  file_has_pattern("wb.bin", 0, 0x10, 9) && file_has_pattern("wb.bin", 0x18, 0x1FF0 - 0x18, 9) &&
                      file_has_pattern("wb.bin", 0x2010, 0x3000 - 0x2010, 9));
            CHECK("write at 0x2800", fill(v + 0x2800, 0xA3, 4));
            CHECK_RET_ERR("FlushViewOfFile of 0x100 bytes inside the view", FlushViewOfFile(v + 0x2700, 0x100 + 4), TRUE,
                          LE_UNTOUCHED);
            CHECK("plain read() sees it", read_at("wb.bin", 0x2800, a, 4) && a[0] == 0xA3 && a[3] == 0xA3);
            CHECK_RET_ERR("FlushViewOfFile of the view's exact size", FlushViewOfFile(v, 0x3000), TRUE, LE_UNTOUCHED);
            CHECK_RET_ERR("FlushViewOfFile of its last byte", FlushViewOfFile(v + 0x2FFF, 1), TRUE, LE_UNTOUCHED);
            CHECK_RET_ERR("FlushViewOfFile one byte past the view -> ERROR_INVALID_PARAMETER", FlushViewOfFile(v, 0x3001),
                          FALSE, ERROR_INVALID_PARAMETER);
            CHECK_RET_ERR("FlushViewOfFile starting at the view's end -> ERROR_INVALID_PARAMETER",
                          FlushViewOfFile(v + 0x3000, 1), FALSE, ERROR_INVALID_PARAMETER);
            CHECK_RET_ERR("FlushViewOfFile(view's end, 0) -> ERROR_INVALID_PARAMETER", FlushViewOfFile(v + 0x3000, 0),
                          FALSE, ERROR_INVALID_PARAMETER);
            CHECK_RET_ERR("FlushViewOfFile starting just before the view -> ERROR_INVALID_PARAMETER",
                          FlushViewOfFile(v - 1, 2), FALSE, ERROR_INVALID_PARAMETER);
            CHECK_RET_ERR("FlushViewOfFile(view, 0xFFFFFFFF) -> ERROR_INVALID_PARAMETER",
                          FlushViewOfFile(v, 0xFFFFFFFFu), FALSE, ERROR_INVALID_PARAMETER);
            CHECK_RET_ERR("CloseHandle of the mapping while the view exists", CloseHandle(m), TRUE, LE_UNTOUCHED);
            m = NULL;
            CHECK("write through the view after both handles were closed", fill(v + 0x2F00, 0xA4, 4));
            CHECK_RET_ERR("unmap it", UnmapViewOfFile(v), TRUE, LE_UNTOUCHED);
            CHECK("unmap wrote it back", read_at("wb.bin", 0x2F00, a, 4) && a[0] == 0xA4 && a[3] == 0xA4);
            CHECK_EQ_U("the file keeps its size", fsize("wb.bin"), 0x3000);
        }
        if (m != NULL) CloseHandle(m);
    }
}

/* ======================= MapViewOfFile, VirtualQuery, Virtual* on views ======================= */

static void test_views(void) {
    const DWORD SZ = 0x40000;
    char name[200];
    HANDLE m = CALL(anon(SZ));
    CHECK_NE_U("setup: 256 KB anonymous mapping", m, NULL);
    if (m == NULL) return;

    /* Handles. */
    HANDLE closed = anon(0x1000);
    if (closed != NULL) CloseHandle(closed);
    CHECK("setup: write a file to map", make_file("v.bin", 0x1000, 10));
    HANDLE file = open_for_map("v.bin", GENERIC_READ | GENERIC_WRITE, OPEN_EXISTING);
    CHECK("setup: a closed mapping handle and a file handle", closed != NULL && file != INVALID_HANDLE_VALUE);
    struct {
        HANDLE h;
        const char *name;
    } bad[] = {
        {NULL, "NULL"},
        {BAD_HANDLE, "0x12345678"},
        {INVALID_HANDLE_VALUE, "INVALID_HANDLE_VALUE"},
        {GetCurrentProcess(), "GetCurrentProcess()"},
        {file, "a file handle (not a mapping)"},
        {closed, "a closed mapping handle"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(name, sizeof name, "MapViewOfFile(%s) -> ERROR_INVALID_HANDLE", bad[i].name);
        CHECK_RET_ERR(name, MapViewOfFile(bad[i].h, FILE_MAP_READ, 0, 0, 0x1000), NULL, ERROR_INVALID_HANDLE);
    }
    if (file != INVALID_HANDLE_VALUE) CloseHandle(file);

    /* Access. */
    static const struct named BAD_ACCESS[] = {
        {0, "0"},
        {1, "0x1 (FILE_MAP_COPY on the desktop)"},
        {FILE_MAP_READ | 1u, "FILE_MAP_READ|0x1"},
        {FILE_MAP_WRITE | 1u, "FILE_MAP_WRITE|0x1"},
        {8, "0x8 (SECTION_MAP_EXECUTE)"},
        {FILE_MAP_READ | 8u, "FILE_MAP_READ|0x8"},
        {0x10, "0x10"},
        {0x1F, "0x1F (FILE_MAP_ALL_ACCESS without the standard rights)"},
        {0xF0000u, "0xF0000 (STANDARD_RIGHTS_REQUIRED)"},
        {FILE_MAP_ALL_ACCESS | 0x20u, "FILE_MAP_ALL_ACCESS|0x20"},
        {FILE_MAP_READ | 0x80000000u, "FILE_MAP_READ|0x80000000"},
        {0xFFFFFFFFu, "0xFFFFFFFF"},
    };
    for (size_t i = 0; i < sizeof BAD_ACCESS / sizeof BAD_ACCESS[0]; i++) {
        snprintf(name, sizeof name, "MapViewOfFile access %s -> ERROR_INVALID_PARAMETER", BAD_ACCESS[i].name);
        CHECK_RET_ERR(name, MapViewOfFile(m, BAD_ACCESS[i].v, 0, 0, 0x1000), NULL, ERROR_INVALID_PARAMETER);
    }
    static const struct {
        DWORD access, protect;
        const char *name;
    } GOOD_ACCESS[] = {
        {FILE_MAP_READ, PAGE_READONLY, "FILE_MAP_READ -> PAGE_READONLY"},
        {FILE_MAP_WRITE, PAGE_READWRITE, "FILE_MAP_WRITE -> PAGE_READWRITE"},
        {FILE_MAP_READ | FILE_MAP_WRITE, PAGE_READWRITE, "FILE_MAP_READ|FILE_MAP_WRITE -> PAGE_READWRITE"},
        {FILE_MAP_ALL_ACCESS, PAGE_READWRITE, "FILE_MAP_ALL_ACCESS -> PAGE_READWRITE"},
    };
    for (size_t i = 0; i < sizeof GOOD_ACCESS / sizeof GOOD_ACCESS[0]; i++) {
        char *v = CALL(MapViewOfFile(m, GOOD_ACCESS[i].access, 0, 0x10000, 0x10000));
        snprintf(name, sizeof name, "view with %s", GOOD_ACCESS[i].name);
        CHECK_NE_U(name, v, NULL);
        if (v == NULL) continue;
        snprintf(name, sizeof name, "VirtualQuery of the view with %s: 64 KB base, MEM_COMMIT, MEM_MAPPED",
                 GOOD_ACCESS[i].name);
        CHECK_QUERY(name, v, v, v, 0x10000, MEM_COMMIT, GOOD_ACCESS[i].protect, MEM_MAPPED);
        snprintf(name, sizeof name, "view with %s: below 4 GB, inside coredll_window(0)", GOOD_ACCESS[i].name);
        CHECK(name, U64(v) + 0x10000 <= FOUR_GB && in_window(0, v, 0x10000));
        UnmapViewOfFile(v);
    }

    /* Offset and size. */
    CHECK_RET_ERR("dwFileOffsetHigh 1 -> ERROR_INVALID_PARAMETER", MapViewOfFile(m, FILE_MAP_READ, 1, 0, 0x1000), NULL,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("dwFileOffsetHigh 0x80000000 -> ERROR_INVALID_PARAMETER",
                  MapViewOfFile(m, FILE_MAP_READ, 0x80000000u, 0, 0), NULL, ERROR_INVALID_PARAMETER);
    struct {
        DWORD off, size;
        const char *name;
    } beyond[] = {
        {0, SZ + 1, "offset 0, size + 1"},
        {0, 0x80000000u, "offset 0, size 0x80000000"},
        {0x30000, 0x10001, "offset 0x30000, 0x10001 bytes"},
        {SZ, 1, "offset = size, 1 byte"},
        {SZ + 1, 0, "offset past the end, size 0"},
        {0x80000, 0, "offset 0x80000, size 0"},
        {0xFFFFF000u, 0x2000, "offset 0xFFFFF000, 0x2000 bytes (wraps)"},
        {0x1000, 0xFFFFF001u, "offset 0x1000, 0xFFFFF001 bytes (wraps)"},
        {0x1000, 0xFFFFFFFFu, "offset 0x1000, 0xFFFFFFFF bytes"},
    };
    for (size_t i = 0; i < sizeof beyond / sizeof beyond[0]; i++) {
        snprintf(name, sizeof name, "view beyond the mapping (%s) -> ERROR_INVALID_PARAMETER", beyond[i].name);
        CHECK_RET_ERR(name, MapViewOfFile(m, FILE_MAP_READ, 0, beyond[i].off, beyond[i].size), NULL,
                      ERROR_INVALID_PARAMETER);
    }

    char *a = CALL(MapViewOfFile(m, FILE_MAP_ALL_ACCESS, 0, 0, 0));
    CHECK_NE_U("view A: the whole mapping (size 0)", a, NULL);
    char *b = CALL(MapViewOfFile(m, FILE_MAP_ALL_ACCESS, 0, 0x30000, 0));
    CHECK_NE_U("view B: offset 0x30000, size 0 (to the end)", b, NULL);
    char *c = CALL(MapViewOfFile(m, FILE_MAP_READ, 0, 0x10000, 0x1000));
    CHECK_NE_U("view C: read-only, one page at 0x10000", c, NULL);
    if (a == NULL || b == NULL || c == NULL) {
        if (a) UnmapViewOfFile(a);
        if (b) UnmapViewOfFile(b);
        if (c) UnmapViewOfFile(c);
        CloseHandle(m);
        return;
    }
    CHECK("three views at three addresses", a != b && b != c && a != c);
    CHECK_QUERY("view A: 256 KB MEM_COMMIT/PAGE_READWRITE/MEM_MAPPED", a, a, a, SZ, MEM_COMMIT, PAGE_READWRITE,
                MEM_MAPPED);
    CHECK_QUERY("view A, an interior page", a + 0x23000, a + 0x23000, a, SZ - 0x23000, MEM_COMMIT, PAGE_READWRITE,
                MEM_MAPPED);
    CHECK_QUERY("view B: 64 KB to the mapping's end", b, b, b, 0x10000, MEM_COMMIT, PAGE_READWRITE, MEM_MAPPED);
    CHECK_QUERY("view C: one read-only page", c, c, c, 0x1000, MEM_COMMIT, PAGE_READONLY, MEM_MAPPED);
    CHECK("views A, B, C lie below 4 GB inside coredll_window(0)",
          in_window(0, a, SZ) && in_window(0, b, 0x10000) && in_window(0, c, 0x1000) && U64(a) + SZ <= FOUR_GB &&
              U64(b) + 0x10000 <= FOUR_GB && U64(c) + 0x1000 <= FOUR_GB);
    CHECK("views are 64 KB-aligned (offsets 0, 0x30000, 0x10000)",
          (U64(a) & 0xFFFF) == 0 && (U64(b) & 0xFFFF) == 0 && (U64(c) & 0xFFFF) == 0);
    CHECK("the fresh mapping reads zero through A", check_bytes_are(a, SZ, 0));

    CHECK("write a pattern through A", view_write_pattern(a, 0, SZ, 13));
    CHECK("B sees A's writes at offset 0x30000..", view_has_pattern(b, 0x30000, 0x10000, 13));
    CHECK("C sees A's writes at offset 0x10000", view_has_pattern(c, 0x10000, 0x1000, 13));
    CHECK("write through B", fill(b + 0x100, 0x5E, 0x200));
    CHECK("A sees B's write", check_bytes_are(a + 0x30100, 0x200, 0x5E));
    check_child("control: read+write through view A in a child", do_read_write, a + 0x20000);
    CHECK_EQ_U("the child's write through the inherited view reached the parent (MAP_SHARED)", peek_dword(a + 0x20000) & 0xFF,
               (unsigned char)(pat(0x20000, 13) + 1));
    CHECK("setup: restore that byte", view_write_pattern(a + 0x20000, 0x20000, 1, 13));
    check_expect_signal("write through read-only view C -> SIGSEGV", do_write, c + 0x10, SIGSEGV);
    check_expect_signal("write through read-only view C's last byte -> SIGSEGV", do_write, c + 0xFFF, SIGSEGV);
    CHECK("C's page is unchanged after the faulting writes", view_has_pattern(c, 0x10000, 0x1000, 13));

    /* Virtual* on views. */
    DWORD old = 0xAAAA;
    CHECK_RET_ERR("VirtualFree(view, 0, MEM_RELEASE) -> ERROR_INVALID_PARAMETER", VirtualFree(a, 0, MEM_RELEASE), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualFree(view, 0x1000, MEM_DECOMMIT) -> ERROR_INVALID_PARAMETER",
                  VirtualFree(a, 0x1000, MEM_DECOMMIT), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualFree(interior page, 0x1000, MEM_DECOMMIT) -> ERROR_INVALID_PARAMETER",
                  VirtualFree(a + 0x5000, 0x1000, MEM_DECOMMIT), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualFree(view, whole size, MEM_DECOMMIT) -> ERROR_INVALID_PARAMETER",
                  VirtualFree(a, SZ, MEM_DECOMMIT), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualFree(read-only view, 0, MEM_RELEASE) -> ERROR_INVALID_PARAMETER",
                  VirtualFree(c, 0, MEM_RELEASE), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualAlloc(view, MEM_COMMIT, PAGE_READWRITE) -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(a, 0x1000, MEM_COMMIT, PAGE_READWRITE), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualAlloc(read-only view, MEM_COMMIT, PAGE_READWRITE) -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(c, 0x1000, MEM_COMMIT, PAGE_READWRITE), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualAlloc(interior page, MEM_COMMIT, PAGE_READONLY) -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(a + 0x8000, 0x2000, MEM_COMMIT, PAGE_READONLY), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualAlloc(view, MEM_RESERVE) over a view -> ERROR_INVALID_PARAMETER",
                  VirtualAlloc(a, 0x10000, MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("VirtualProtect of a view -> ERROR_INVALID_PARAMETER (README)",
                  VirtualProtect(a, 0x1000, PAGE_READONLY, &old), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_QUERY("view A unchanged after the refused Virtual* calls", a, a, a, SZ, MEM_COMMIT, PAGE_READWRITE, MEM_MAPPED);
    CHECK_QUERY("view C unchanged after the refused Virtual* calls", c, c, c, 0x1000, MEM_COMMIT, PAGE_READONLY,
                MEM_MAPPED);
    CHECK("view A's data intact after the refused Virtual* calls",
          view_has_pattern(a, 0, 0x30100, 13) && check_bytes_are(a + 0x30100, 0x200, 0x5E));

    /* FlushViewOfFile on a pagefile view: accepted inside the view, refused outside. */
    char *va = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    CHECK_RET_ERR("FlushViewOfFile(pagefile view, 0)", FlushViewOfFile(b, 0), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("FlushViewOfFile(pagefile view, its size)", FlushViewOfFile(b, 0x10000), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("FlushViewOfFile(interior, 0)", FlushViewOfFile(b + 0x1234, 0), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("FlushViewOfFile(last byte, 1)", FlushViewOfFile(b + 0xFFFF, 1), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("FlushViewOfFile(view, size + 1) -> ERROR_INVALID_PARAMETER", FlushViewOfFile(b, 0x10001), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("FlushViewOfFile(last byte, 2) -> ERROR_INVALID_PARAMETER", FlushViewOfFile(b + 0xFFFF, 2), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("FlushViewOfFile(before the view, 2) -> ERROR_INVALID_PARAMETER", FlushViewOfFile(b - 1, 2), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("FlushViewOfFile(NULL, 0) -> ERROR_INVALID_PARAMETER", FlushViewOfFile(NULL, 0), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("FlushViewOfFile(NULL, 1) -> ERROR_INVALID_PARAMETER", FlushViewOfFile(NULL, 1), FALSE,
                  ERROR_INVALID_PARAMETER);
    if (va != NULL) {
        CHECK_RET_ERR("FlushViewOfFile(VirtualAlloc memory, 0x10) -> ERROR_INVALID_PARAMETER",
                      FlushViewOfFile(va, 0x10), FALSE, ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("FlushViewOfFile(VirtualAlloc memory, 0) -> ERROR_INVALID_PARAMETER", FlushViewOfFile(va, 0), FALSE,
                      ERROR_INVALID_PARAMETER);
    }
    CHECK_RET_ERR("FlushViewOfFile(0x12345678, 1) -> ERROR_INVALID_PARAMETER",
                  FlushViewOfFile((void *)(uintptr_t)0x12345678u, 1), FALSE, ERROR_INVALID_PARAMETER);

    /* UnmapViewOfFile: exactly the returned address. */
    int on_stack = 0;
    struct {
        const void *p;
        const char *name;
    } not_views[] = {
        {NULL, "NULL"},
        {a + 1, "view + 1"},
        {a + 0x1000, "view + 0x1000"},
        {a + 0x10000, "view + 0x10000"},
        {a + SZ - 1, "the view's last byte"},
        {c + 0x800, "the middle of a one-page view"},
        {va, "VirtualAlloc memory"},
        {&on_stack, "a stack address"},
        {(void *)(uintptr_t)0x12345678u, "0x12345678"},
    };
    for (size_t i = 0; i < sizeof not_views / sizeof not_views[0]; i++) {
        if (not_views[i].p == NULL && i != 0) continue;
        snprintf(name, sizeof name, "UnmapViewOfFile(%s) -> ERROR_INVALID_PARAMETER", not_views[i].name);
        CHECK_RET_ERR(name, UnmapViewOfFile(not_views[i].p), FALSE, ERROR_INVALID_PARAMETER);
    }
    CHECK_QUERY("view A still mapped after the refused unmaps", a, a, a, SZ, MEM_COMMIT, PAGE_READWRITE, MEM_MAPPED);
    if (va != NULL) VirtualFree(va, 0, MEM_RELEASE);

    CHECK_RET_ERR("UnmapViewOfFile(A)", UnmapViewOfFile(a), TRUE, LE_UNTOUCHED);
    CHECK_QUERY("A's range is MEM_FREE after the unmap", a, a, NULL, Q_ANY, MEM_FREE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("A's last page is MEM_FREE after the unmap", a + SZ - 0x1000, a + SZ - 0x1000, NULL, Q_ANY, MEM_FREE,
                PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_RET_ERR("UnmapViewOfFile(A) again -> ERROR_INVALID_PARAMETER", UnmapViewOfFile(a), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("FlushViewOfFile of the unmapped A -> ERROR_INVALID_PARAMETER", FlushViewOfFile(a, 0), FALSE,
                  ERROR_INVALID_PARAMETER);
    char *r = CALL(VirtualAlloc(a, SZ, MEM_RESERVE, PAGE_NOACCESS));
    CHECK_EQ_P("A's whole range can be reserved again at the same address", r, a);
    if (r != NULL) VirtualFree(r, 0, MEM_RELEASE);
    check_expect_signal("a write to the unmapped A faults (SIGSEGV)", do_write, a + 0x100, SIGSEGV);
    CHECK("B and C still see the data after A was unmapped",
          view_has_pattern(b + 0x1000, 0x31000, 0x1000, 13) && view_has_pattern(c, 0x10000, 0x1000, 13));

    /* The mapping stays usable through its views after its handle is closed. */
    CHECK_RET_ERR("CloseHandle of the mapping while B and C exist", CloseHandle(m), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("MapViewOfFile through the closed handle -> ERROR_INVALID_HANDLE",
                  MapViewOfFile(m, FILE_MAP_READ, 0, 0, 0), NULL, ERROR_INVALID_HANDLE);
    CHECK("B is still readable and writable", fill(b + 0x8000, 0x3C, 0x100) && check_bytes_are(b + 0x8000, 0x100, 0x3C));
    CHECK_QUERY("B is still a MEM_MAPPED view", b, b, b, 0x10000, MEM_COMMIT, PAGE_READWRITE, MEM_MAPPED);
    CHECK_RET_ERR("FlushViewOfFile(B) after the handle was closed", FlushViewOfFile(b, 0), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("UnmapViewOfFile(B)", UnmapViewOfFile(b), TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("UnmapViewOfFile(C)", UnmapViewOfFile(c), TRUE, LE_UNTOUCHED);
    CHECK_QUERY("B's range is MEM_FREE", b, b, NULL, Q_ANY, MEM_FREE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_QUERY("C's range is MEM_FREE", c, c, NULL, Q_ANY, MEM_FREE, PAGE_NOACCESS, MEM_PRIVATE);
}

/* ======================= CloseHandle and handle identity ======================= */

static void test_handles(void) {
    CHECK_RET_ERR("CloseHandle(NULL) -> ERROR_INVALID_HANDLE", CloseHandle(NULL), FALSE, ERROR_INVALID_HANDLE);
    CHECK_RET_ERR("CloseHandle(0x12345678) -> ERROR_INVALID_HANDLE", CloseHandle(BAD_HANDLE), FALSE,
                  ERROR_INVALID_HANDLE);
    CHECK_RET_ERR("CloseHandle(INVALID_HANDLE_VALUE) -> ERROR_INVALID_HANDLE", CloseHandle(INVALID_HANDLE_VALUE), FALSE,
                  ERROR_INVALID_HANDLE);
    char *va = VirtualAlloc(NULL, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (va != NULL) {
        CHECK_RET_ERR("CloseHandle(a VirtualAlloc pointer) -> ERROR_INVALID_HANDLE", CloseHandle(va), FALSE,
                      ERROR_INVALID_HANDLE);
        VirtualFree(va, 0, MEM_RELEASE);
    }

    HANDLE m = anon(0x1000);
    CHECK_NE_U("setup: mapping", m, NULL);
    if (m != NULL) {
        char *v = MapViewOfFile(m, FILE_MAP_READ, 0, 0, 0);
        if (v != NULL) {
            CHECK_RET_ERR("CloseHandle(a view address) -> ERROR_INVALID_HANDLE", CloseHandle(v), FALSE,
                          ERROR_INVALID_HANDLE);
            UnmapViewOfFile(v);
        }
        CHECK_RET_ERR("CloseHandle of a mapping handle", CloseHandle(m), TRUE, LE_UNTOUCHED);
        CHECK_RET_ERR("CloseHandle of it again -> ERROR_INVALID_HANDLE", CloseHandle(m), FALSE, ERROR_INVALID_HANDLE);
    }
    CHECK("setup: h.bin", make_file("h.bin", 0x1000, 14));
    HANDLE f = open_for_map("h.bin", GENERIC_READ, OPEN_EXISTING);
    CHECK("setup: file handle", f != INVALID_HANDLE_VALUE);
    if (f != INVALID_HANDLE_VALUE) {
        CHECK_RET_ERR("CloseHandle of a file handle", CloseHandle(f), TRUE, LE_UNTOUCHED);
        CHECK_RET_ERR("CloseHandle of it again -> ERROR_INVALID_HANDLE", CloseHandle(f), FALSE, ERROR_INVALID_HANDLE);
        CHECK_RET_ERR("CreateFileMappingW on the closed file handle -> ERROR_INVALID_HANDLE",
                      CreateFileMappingW(f, NULL, PAGE_READONLY, 0, 0, NULL), NULL, ERROR_INVALID_HANDLE);
    }

    /* Handles from different calls differ, and a closed handle's value is never handed out again. */
    enum { N = 64 };
    HANDLE seen[3 * N + 8];
    size_t n = 0;
    int all_ok = 1;
    for (int i = 0; i < N; i++) {
        HANDLE h = anon(0x1000);
        all_ok &= h != NULL;
        seen[n++] = h;
        if (h != NULL) CloseHandle(h);
        HANDLE g = open_for_map("h.bin", GENERIC_READ, OPEN_EXISTING);
        all_ok &= g != INVALID_HANDLE_VALUE;
        seen[n++] = g;
        if (g != INVALID_HANDLE_VALUE) CloseHandle(g);
        HANDLE k = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x1000, MN("ident").s);
        all_ok &= k != NULL;
        seen[n++] = k;
        if (k != NULL) CloseHandle(k);
    }
    /* Live at the same time: two opens of one file, two handles of one name, two anonymous mappings. */
    HANDLE live[6];
    live[0] = open_for_map("h.bin", GENERIC_READ, OPEN_EXISTING);
    live[1] = open_for_map("h.bin", GENERIC_READ, OPEN_EXISTING);
    live[2] = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x1000, MN("ident2").s);
    live[3] = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x1000, MN("ident2").s);
    live[4] = anon(0x1000);
    live[5] = anon(0x1000);
    for (int i = 0; i < 6; i++) {
        all_ok &= live[i] != NULL && live[i] != INVALID_HANDLE_VALUE;
        seen[n++] = live[i];
    }
    CHECK("setup: every create/open for the identity check succeeded", all_ok);
    int distinct = 1;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (seen[i] == seen[j]) distinct = 0;
    CHECK("198 handles from 198 calls (closed ones included) are all different", distinct && n == 3 * N + 6);
    for (int i = 0; i < 6; i++)
        if (live[i] != NULL && live[i] != INVALID_HANDLE_VALUE) CloseHandle(live[i]);
    CHECK_RET_ERR("an old closed handle is still invalid after all that", CloseHandle(seen[0]), FALSE,
                  ERROR_INVALID_HANDLE);
}


/* ======================= paths, names, sizes, the window, threads ======================= */

static void test_paths(void) {
    const DWORD RW = GENERIC_READ | GENERIC_WRITE;
    HANDLE h;
    CHECK("setup: plain.bin", make_file("plain.bin", 16, 15));
    CHECK_RET_ERR("a path through a regular file (plain.bin/x.bin) -> ERROR_PATH_NOT_FOUND",
                  CreateFileForMappingW(WP("plain.bin/x.bin").s, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL),
                  INVALID_HANDLE_VALUE, ERROR_PATH_NOT_FOUND);
    CHECK_RET_ERR("CREATE_NEW through a regular file (plain.bin/x.bin) -> ERROR_PATH_NOT_FOUND",
                  CreateFileForMappingW(WP("plain.bin/x.bin").s, RW, 0, NULL, CREATE_NEW, 0, NULL), INVALID_HANDLE_VALUE,
                  ERROR_PATH_NOT_FOUND);
    CHECK_RET_ERR("a path two missing directories deep -> ERROR_PATH_NOT_FOUND",
                  CreateFileForMappingW(WP("no1/no2/x.bin").s, RW, 0, NULL, OPEN_ALWAYS, 0, NULL), INVALID_HANDLE_VALUE,
                  ERROR_PATH_NOT_FOUND);
    CHECK("setup: a subdirectory", mkdir(path("sub"), 0755) == 0);
    h = CALL(CreateFileForMappingW(WP("sub").s, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL));
    CHECK_EQ_P("a directory, GENERIC_READ -> INVALID_HANDLE_VALUE (a directory is not a file to map)", h,
               INVALID_HANDLE_VALUE);
    CHECK_LE("... ERROR_ACCESS_DENIED", ERROR_ACCESS_DENIED);
    if (h != INVALID_HANDLE_VALUE && h != NULL) CloseHandle(h);
    CHECK_RET_ERR("a directory, read+write -> ERROR_ACCESS_DENIED",
                  CreateFileForMappingW(WP("sub").s, RW, 0, NULL, OPEN_EXISTING, 0, NULL), INVALID_HANDLE_VALUE,
                  ERROR_ACCESS_DENIED);

    /* Non-ASCII UTF-16 paths are the host's UTF-8 names. */
    wstr w = WP("x");
    size_t n = 0;
    while (w.s[n] != 0) n++;
    n--; /* overwrite the "x" */
    const WCHAR tail[] = {0x00E9, 0x4E2D, 0xD83D, 0xDE00, '.', 'b', 'i', 'n', 0}; /* é中😀.bin */
    memcpy(&w.s[n], tail, sizeof tail);
    h = CALL(CreateFileForMappingW(w.s, RW, 0, NULL, CREATE_NEW, 0, NULL));
    CHECK("CREATE_NEW of a non-ASCII UTF-16 name (with a surrogate pair)", h != INVALID_HANDLE_VALUE && h != NULL);
    CHECK_EQ_U("... is the UTF-8 file name on the host", fsize("\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80.bin"), 0);
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
    const WCHAR lone[] = {'/', 't', 'm', 'p', '/', 0xD800, 0};
    CHECK_RET_ERR("a path with a lone surrogate -> ERROR_INVALID_PARAMETER (not valid UTF-16)",
                  CreateFileForMappingW(lone, RW, 0, NULL, CREATE_NEW, 0, NULL), INVALID_HANDLE_VALUE,
                  ERROR_INVALID_PARAMETER);

    /* A relative path is relative to the working directory. */
    char cwd[512];
    if (getcwd(cwd, sizeof cwd) != NULL && chdir(g_dir) == 0) {
        h = CALL(CreateFileForMappingW(W("rel.bin").s, RW, 0, NULL, CREATE_NEW, 0, NULL));
        CHECK("CREATE_NEW of a relative path", h != INVALID_HANDLE_VALUE && h != NULL);
        if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
        CHECK_RET_ERR("a relative path in a missing directory -> ERROR_PATH_NOT_FOUND",
                      CreateFileForMappingW(W("nodir/rel.bin").s, RW, 0, NULL, CREATE_NEW, 0, NULL),
                      INVALID_HANDLE_VALUE, ERROR_PATH_NOT_FOUND);
        CHECK("setup: back to the old directory", chdir(cwd) == 0);
        CHECK_EQ_U("... created in the working directory", fsize("rel.bin"), 0);
    }
}

/* Opens (or creates) a named pagefile mapping; returns the handle and stores the last error. */
static HANDLE named(const WCHAR *name, DWORD size, DWORD *err) {
    SetLastError(CHECK_SENTINEL);
    HANDLE h = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, size, name);
    *err = GetLastError();
    return h;
}

static void test_odd_names(void) {
    char a[300];
    struct {
        const char *name;
        const char *tag;
    } odd[] = {
        {"with/slash", "a slash"},
        {"with\\backslash", "a backslash"},
        {"Global\\x/..", "backslash, slash, dots"},
        {"", "the empty string (CE: a named object)"},
        {" ", "one space"},
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        char label[200];
        snprintf(a, sizeof a, "coredll-test-mapping-%d-%s", (int)getpid(), odd[i].name);
        if (odd[i].name[0] == '\0') a[0] = '\0';
        DWORD e1 = 0, e2 = 0;
        HANDLE h1 = named(W(a).s, 0x1000, &e1);
        HANDLE h2 = named(W(a).s, 0x1000, &e2);
        snprintf(label, sizeof label, "name with %s: created (0), then found (ERROR_ALREADY_EXISTS)", odd[i].tag);
        CHECK(label, h1 != NULL && h2 != NULL && e1 == 0 && e2 == ERROR_ALREADY_EXISTS);
        if (h1 != NULL && h2 != NULL) {
            char *v1 = MapViewOfFile(h1, FILE_MAP_ALL_ACCESS, 0, 0, 0);
            char *v2 = MapViewOfFile(h2, FILE_MAP_READ, 0, 0, 0);
            snprintf(label, sizeof label, "name with %s: both handles reach one mapping", odd[i].tag);
            CHECK(label, v1 != NULL && v2 != NULL && fill(v1, (unsigned char)(0x30 + i), 0x1000) &&
                             check_bytes_are(v2, 0x1000, (unsigned char)(0x30 + i)));
            if (v1 != NULL) UnmapViewOfFile(v1);
            if (v2 != NULL) UnmapViewOfFile(v2);
        }
        if (h1 != NULL) CloseHandle(h1);
        if (h2 != NULL) CloseHandle(h2);
    }

    /* Non-ASCII names; names differing only in one character are different mappings. */
    wstr u = MN("u");
    size_t n = 0;
    while (u.s[n] != 0) n++;
    const WCHAR tail[] = {0x00E9, 0x4E2D, 0xD83D, 0xDE00, 0};
    memcpy(&u.s[n], tail, sizeof tail);
    DWORD e1 = 0, e2 = 0;
    HANDLE h1 = named(u.s, 0x1000, &e1);
    HANDLE h2 = named(u.s, 0x1000, &e2);
    CHECK("non-ASCII UTF-16 name: created (0), then found (ERROR_ALREADY_EXISTS)",
          h1 != NULL && h2 != NULL && e1 == 0 && e2 == ERROR_ALREADY_EXISTS);
    u.s[n + 1] = 0x4E2E;
    HANDLE h3 = named(u.s, 0x1000, &e2);
    CHECK("... a name differing in one non-ASCII character is another mapping (0)", h3 != NULL && e2 == 0);
    if (h1) CloseHandle(h1);
    if (h2) CloseHandle(h2);
    if (h3) CloseHandle(h3);

    /* Long names: 250 characters, differing only in the last one. */
    memset(a, 'L', 250);
    a[250] = '\0';
    snprintf(a, 40, "coredll-test-mapping-%d-", (int)getpid());
    a[strlen(a)] = 'L';
    h1 = named(W(a).s, 0x1000, &e1);
    h2 = named(W(a).s, 0x1000, &e2);
    CHECK("250-character name: created (0), then found (ERROR_ALREADY_EXISTS)",
          h1 != NULL && h2 != NULL && e1 == 0 && e2 == ERROR_ALREADY_EXISTS);
    a[249] = 'M';
    h3 = named(W(a).s, 0x1000, &e2);
    CHECK("... a 250-character name differing in its last character is another mapping (0)", h3 != NULL && e2 == 0);
    a[249] = 'L';
    a[120] = 'M';
    HANDLE h4 = named(W(a).s, 0x1000, &e2);
    CHECK("... and one differing in its middle character too (0)", h4 != NULL && e2 == 0);
    if (h1) CloseHandle(h1);
    if (h2) CloseHandle(h2);
    if (h3) CloseHandle(h3);
    if (h4) CloseHandle(h4);
}

static void test_sizes_and_window(void) {
    /* A mapping size that is not a page multiple. */
    HANDLE m = anon(0x1800);
    CHECK_NE_U("setup: 0x1800-byte mapping", m, NULL);
    if (m != NULL) {
        char *v = CALL(MapViewOfFile(m, FILE_MAP_ALL_ACCESS, 0, 0, 0));
        CHECK_NE_U("view of the whole 0x1800 bytes", v, NULL);
        if (v != NULL) {
            CHECK_QUERY("... VirtualQuery: 2 pages MEM_COMMIT/MEM_MAPPED", v, v, v, 0x2000, MEM_COMMIT, PAGE_READWRITE,
                        MEM_MAPPED);
            CHECK("... all 0x1800 bytes writable", fill(v, 0x11, 0x1800) && check_bytes_are(v, 0x1800, 0x11));
            UnmapViewOfFile(v);
        }
        CHECK_RET_ERR("view of 0x1801 bytes -> ERROR_INVALID_PARAMETER", MapViewOfFile(m, FILE_MAP_READ, 0, 0, 0x1801),
                      NULL, ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("view at offset 0x1800, 1 byte -> ERROR_INVALID_PARAMETER",
                      MapViewOfFile(m, FILE_MAP_READ, 0, 0x1800, 1), NULL, ERROR_INVALID_PARAMETER);
        v = CALL(MapViewOfFile(m, FILE_MAP_READ, 0, 0x17FF, 0));
        CHECK_NE_U("view of the last byte (offset 0x17FF, size 0)", v, NULL);
        CHECK("... shows it", v != NULL && check_bytes_are(v, 1, 0x11));
        if (v != NULL) UnmapViewOfFile(v);
        CloseHandle(m);
    }

    /* The largest pagefile mapping: its last byte can be viewed; the whole of it does not fit. */
    m = anon(0x7FFFFFFFu);
    CHECK_NE_U("setup: 0x7FFFFFFF-byte mapping", m, NULL);
    if (m != NULL) {
        char *v = CALL(MapViewOfFile(m, FILE_MAP_ALL_ACCESS, 0, 0x7FFFFFFEu, 1));
        CHECK_NE_U("view of its last byte (offset 0x7FFFFFFE, unaligned)", v, NULL);
        if (v != NULL) {
            CHECK_EQ_U("... 0xFFFE into its 64 KB view", U64(v) & 0xFFFF, 0xFFFE);
            CHECK("... reads zero and is writable", check_bytes_are(v, 1, 0) && fill(v, 0x77, 1));
            UnmapViewOfFile(v);
        }
        CHECK_RET_ERR("offset 0x7FFFFFFF, 1 byte -> ERROR_INVALID_PARAMETER",
                      MapViewOfFile(m, FILE_MAP_READ, 0, 0x7FFFFFFFu, 1), NULL, ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("a 2 GB view does not fit the 1 GB window -> ERROR_NOT_ENOUGH_MEMORY",
                      MapViewOfFile(m, FILE_MAP_READ, 0, 0, 0), NULL, ERROR_NOT_ENOUGH_MEMORY);

        /* Views count against the window. */
        DWORD wsize = 0;
        window_base(0, &wsize);
        DWORD big = wsize / 4 * 3 & ~(GRAN - 1); /* 3/4 of the window */
        DWORD rest = wsize / 2 & ~(GRAN - 1);    /* half of it */
        char *bv = CALL(MapViewOfFile(m, FILE_MAP_READ, 0, 0, big));
        CHECK_NE_U("a view of 3/4 of the window", bv, NULL);
        if (bv != NULL) {
            CHECK("... lies in the window", in_window(0, bv, big));
            CHECK_RET_ERR("a reservation of half the window no longer fits -> ERROR_NOT_ENOUGH_MEMORY",
                          VirtualAlloc(NULL, rest, MEM_RESERVE, PAGE_NOACCESS), NULL, ERROR_NOT_ENOUGH_MEMORY);
            CHECK_RET_ERR("a second view of half the window does not fit -> ERROR_NOT_ENOUGH_MEMORY",
                          MapViewOfFile(m, FILE_MAP_READ, 0, 0, rest), NULL, ERROR_NOT_ENOUGH_MEMORY);
            CHECK_RET_ERR("unmap the big view", UnmapViewOfFile(bv), TRUE, LE_UNTOUCHED);
            char *r = CALL(VirtualAlloc(NULL, rest, MEM_RESERVE, PAGE_NOACCESS));
            CHECK_NE_U("... then the half-window reservation fits", r, NULL);
            if (r != NULL) VirtualFree(r, 0, MEM_RELEASE);
        }
        CloseHandle(m);
    }

    /* Two mappings of one file see each other's writes. */
    CHECK("setup: two.bin", make_file("two.bin", 0x2000, 16));
    HANDLE f = open_for_map("two.bin", GENERIC_READ | GENERIC_WRITE, OPEN_EXISTING);
    HANDLE m1 = f != INVALID_HANDLE_VALUE ? CreateFileMappingW(f, NULL, PAGE_READWRITE, 0, 0, NULL) : NULL;
    HANDLE m2 = f != INVALID_HANDLE_VALUE ? CreateFileMappingW(f, NULL, PAGE_READONLY, 0, 0, NULL) : NULL;
    CHECK("setup: two mappings of two.bin", m1 != NULL && m2 != NULL && m1 != m2);
    if (m1 != NULL && m2 != NULL) {
        char *v1 = MapViewOfFile(m1, FILE_MAP_WRITE, 0, 0, 0);
        char *v2 = MapViewOfFile(m2, FILE_MAP_READ, 0, 0x1000, 0);
        CHECK("two mappings of one file: the read-only one sees the other's write",
              v1 != NULL && v2 != NULL && fill(v1 + 0x1800, 0xCD, 0x10) && check_bytes_are(v2 + 0x800, 0x10, 0xCD));
        if (v1 != NULL) UnmapViewOfFile(v1);
        if (v2 != NULL) UnmapViewOfFile(v2);
    }
    if (m1 != NULL) CloseHandle(m1);
    if (m2 != NULL) CloseHandle(m2);
    if (f != INVALID_HANDLE_VALUE) CloseHandle(f);
}

/* Threads creating, mapping, checking and closing mappings at the same time. */
#define T_THREADS 6
#define T_ROUNDS 300
struct thread_arg {
    int id;
    int failures;
    char first[200];
};

static void *thread_body(void *p) {
    struct thread_arg *t = p;
    char nm[128];
    snprintf(nm, sizeof nm, "coredll-test-mapping-%d-thr", (int)getpid());
    wstr shared = W(nm);
    for (int r = 0; r < T_ROUNDS; r++) {
        const char *what = NULL;
        DWORD size = 0x1000u * (DWORD)(1 + (r + t->id) % 5);
        HANDLE m = anon(size);
        HANDLE s = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0x2000, shared.s);
        DWORD se = GetLastError();
        char *v = m != NULL ? MapViewOfFile(m, FILE_MAP_ALL_ACCESS, 0, 0, 0) : NULL;
        char *sv = s != NULL ? MapViewOfFile(s, FILE_MAP_ALL_ACCESS, 0, 0, 0) : NULL;
        MEMORY_BASIC_INFORMATION mbi;
        if (m == NULL) what = "anonymous create";
        else if (s == NULL || (se != 0 && se != ERROR_ALREADY_EXISTS)) what = "named create";
        else if (v == NULL || sv == NULL) what = "map";
        else if (query(v, &mbi) != sizeof mbi || mbi.Type != MEM_MAPPED || mbi.RegionSize != size) what = "query";
        else if (!fill(v, (unsigned char)t->id, size) || !check_bytes_are(v, size, (unsigned char)t->id))
            what = "private data";
        else if (!fill(sv + 0x100 * t->id, (unsigned char)(r & 0xFF), 0x100) ||
                 !check_bytes_are(sv + 0x100 * t->id, 0x100, (unsigned char)(r & 0xFF)))
            what = "shared data";
        if (v != NULL && !UnmapViewOfFile(v) && what == NULL) what = "unmap";
        if (sv != NULL && !UnmapViewOfFile(sv) && what == NULL) what = "unmap named";
        if (m != NULL && !CloseHandle(m) && what == NULL) what = "close";
        if (s != NULL && !CloseHandle(s) && what == NULL) what = "close named";
        if (what != NULL) {
            if (t->failures++ == 0)
                snprintf(t->first, sizeof t->first, "thread %d round %d: %s (last error %u)", t->id, r, what,
                         (unsigned)GetLastError());
        }
    }
    return NULL;
}

static void test_threads(void) {
    pthread_t th[T_THREADS];
    struct thread_arg args[T_THREADS];
    int started = 0;
    for (int i = 0; i < T_THREADS; i++) {
        args[i] = (struct thread_arg){i, 0, ""};
        if (pthread_create(&th[i], NULL, thread_body, &args[i]) == 0) started++;
    }
    CHECK_EQ_U("setup: threads started", started, T_THREADS);
    int failures = 0;
    const char *first = "";
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        failures += args[i].failures;
        if (args[i].failures && first[0] == '\0') first = args[i].first;
    }
    check_record(failures == 0, "6 threads x 300 rounds of create/map/query/write/unmap/close, no failure", __FILE__,
                 __LINE__, "failures == 0", first);
}

/* Cases a review found: what CreateFileForMappingW reports for existing files, special files,
   and a name whose object is not one of ours. */
static void test_review_cases(void) {
    const DWORD RW = GENERIC_READ | GENERIC_WRITE;
    HANDLE h = CALL(CreateFileForMappingW(WP("exists.bin").s, RW, 0, NULL, CREATE_ALWAYS, 0, NULL));
    CHECK_LE("CREATE_ALWAYS of a new file: last error 0", 0);
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
    h = CALL(CreateFileForMappingW(WP("exists.bin").s, RW, 0, NULL, OPEN_ALWAYS, 0, NULL));
    CHECK("OPEN_ALWAYS of an existing file succeeds", h != INVALID_HANDLE_VALUE);
    CHECK_LE("OPEN_ALWAYS of an existing file: ERROR_ALREADY_EXISTS", ERROR_ALREADY_EXISTS);
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
    h = CALL(CreateFileForMappingW(WP("exists.bin").s, RW, 0, NULL, CREATE_ALWAYS, 0, NULL));
    CHECK_LE("CREATE_ALWAYS of an existing file: ERROR_ALREADY_EXISTS", ERROR_ALREADY_EXISTS);
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);

    CHECK("setup: a FIFO", mkfifo(path("fifo"), 0600) == 0);
    alarm(30); /* opening a FIFO must not block */
    CHECK_RET_ERR("a FIFO is no file to map -> ERROR_ACCESS_DENIED",
                  CreateFileForMappingW(WP("fifo").s, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL),
                  INVALID_HANDLE_VALUE, ERROR_ACCESS_DENIED);
    alarm(0);

    /* Something else (empty, not ours) sitting at a name's object path: refused, no SIGBUS. */
    char obj[256];
    int n = snprintf(obj, sizeof obj, "/dev/shm/coredll-%u-", (unsigned)geteuid());
    for (const char *c = MNA("foreign"); *c != '\0'; c++) n += snprintf(obj + n, sizeof obj - (size_t)n, "%02x", (unsigned char)*c);
    int fd = open(obj, O_CREAT | O_EXCL | O_WRONLY, 0600);
    CHECK("setup: an empty file at the object path", fd >= 0);
    if (fd >= 0) close(fd);
    CHECK_RET_ERR("an empty foreign object -> NULL, ERROR_ACCESS_DENIED",
                  CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 4096, MN("foreign").s), NULL,
                  ERROR_ACCESS_DENIED);
    unlink(obj);
}

int main(void) {
    strcpy(g_dir, "/tmp/coredll-test-mapping-XXXXXX");
    if (mkdtemp(g_dir) == NULL) {
        CHECK("setup: mkdtemp", 0);
        return check_summary();
    }
    test_create_file();
    test_access_denied();
    test_mapping_params();
    test_named();
    test_file_backed();
    test_views();
    test_handles();
    test_paths();
    test_odd_names();
    test_sizes_and_window();
    test_threads();
    test_review_cases();
    chmod(path("rodir"), 0755);
    nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return check_summary();
}
