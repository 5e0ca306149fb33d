/* VirtualFree conformance (ce6 profile): CONTRACT.md "VirtualFree", spec.md "VirtualFree",
 * CE-SEMANTICS.md §6.1. */
#include "check.h"

static void test_release(void) {
    char *r = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    CHECK_NE_U("16-page reservation", r, NULL);
    if (r == NULL) return;
    CHECK_RET_ERR("MEM_RELEASE with dwSize != 0 -> ERROR_INVALID_PARAMETER", VirtualFree(r, 0x1000, MEM_RELEASE),
                  FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("MEM_RELEASE with dwSize = whole region -> ERROR_INVALID_PARAMETER",
                  VirtualFree(r, 0x10000, MEM_RELEASE), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("MEM_RELEASE of an interior page -> ERROR_INVALID_PARAMETER", VirtualFree(r + 0x1000, 0, MEM_RELEASE),
                  FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("MEM_RELEASE of base+1 -> ERROR_INVALID_PARAMETER", VirtualFree(r + 1, 0, MEM_RELEASE), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_QUERY("failed releases left the reservation alone", r, r, r, 0x10000, MEM_RESERVE, PAGE_NOACCESS,
                MEM_PRIVATE);
    CHECK_RET_ERR("MEM_RELEASE of the base with size 0 succeeds, last error untouched", VirtualFree(r, 0, MEM_RELEASE),
                  TRUE, LE_UNTOUCHED);
    CHECK_QUERY("released region is MEM_FREE", r, r, NULL, Q_ANY, MEM_FREE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_RET_ERR("second MEM_RELEASE -> ERROR_INVALID_PARAMETER", VirtualFree(r, 0, MEM_RELEASE), FALSE,
                  ERROR_INVALID_PARAMETER);
    char *again = CALL(VirtualAlloc(r, 0x10000, MEM_RESERVE, PAGE_NOACCESS));
    CHECK_EQ_P("a released range can be reserved again at the same address", again, r);
    if (again != NULL) VirtualFree(again, 0, MEM_RELEASE);

    /* Mixed reserved/committed regions release in ce6. */
    char *m = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    CHECK_NE_U("second reservation", m, NULL);
    if (m != NULL) {
        CHECK_RET_ERR("commit 3 pages of it", VirtualAlloc(m + 0x4000, 0x3000, MEM_COMMIT, PAGE_READWRITE),
                      m + 0x4000, 0);
        CHECK("setup: fill the committed pages", fill(m + 0x4000, 0x33, 0x3000));
        CHECK_RET_ERR("ce6: MEM_RELEASE of a partly committed region succeeds", VirtualFree(m, 0, MEM_RELEASE), TRUE,
                      LE_UNTOUCHED);
        CHECK_QUERY("partly committed region released", m + 0x4000, m + 0x4000, NULL, Q_ANY, MEM_FREE, PAGE_NOACCESS,
                    MEM_PRIVATE);
        char *m2 = VirtualAlloc(m, 0x10000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        CHECK_EQ_P("re-reserve+commit the released range", m2, m);
        if (m2 != NULL) {
            CHECK("memory of a released region reads zero when committed again", check_bytes_are(m2, 0x10000, 0));
            CHECK_RET_ERR("MEM_RELEASE of a fully committed region", VirtualFree(m2, 0, MEM_RELEASE), TRUE,
                          LE_UNTOUCHED);
        }
    }

    /* A reservation made at an unaligned address is released by its 64 KB base. */
    char *f = find_free(0x10000);
    char *u = VirtualAlloc(f + 0x3456, 0x100, MEM_RESERVE, PAGE_NOACCESS);
    CHECK_EQ_P("reservation at an unaligned address", u, f);
    if (u != NULL) {
        CHECK_RET_ERR("MEM_RELEASE by the unaligned address asked for -> ERROR_INVALID_PARAMETER",
                      VirtualFree(f + 0x3456, 0, MEM_RELEASE), FALSE, ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("MEM_RELEASE of its page-aligned address -> ERROR_INVALID_PARAMETER",
                      VirtualFree(f + 0x3000, 0, MEM_RELEASE), FALSE, ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("MEM_RELEASE by the returned base", VirtualFree(u, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);
    }

    /* Multi-block reservation: only the base releases, and the whole of it. */
    char *b = VirtualAlloc(NULL, 0x30000, MEM_RESERVE, PAGE_NOACCESS);
    CHECK_NE_U("3-block reservation", b, NULL);
    if (b != NULL) {
        CHECK_RET_ERR("MEM_RELEASE at the second block -> ERROR_INVALID_PARAMETER",
                      VirtualFree(b + 0x10000, 0, MEM_RELEASE), FALSE, ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("MEM_RELEASE of the 3-block base", VirtualFree(b, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);
        CHECK_QUERY("all 3 blocks are free again", b + 0x20000, b + 0x20000, NULL, Q_ANY, MEM_FREE, PAGE_NOACCESS,
                    MEM_PRIVATE);
        char *b2 = VirtualAlloc(b + 0x20000, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
        CHECK_EQ_P("the third block can be reserved on its own after the release", b2, b + 0x20000);
        if (b2 != NULL) VirtualFree(b2, 0, MEM_RELEASE);
    }
}

static void test_decommit(void) {
    char *r = VirtualAlloc(NULL, 0x10000, MEM_RESERVE, PAGE_NOACCESS);
    CHECK_NE_U("reservation", r, NULL);
    if (r == NULL) return;
    CHECK_RET_ERR("commit pages 0..3", VirtualAlloc(r, 0x4000, MEM_COMMIT, PAGE_READWRITE), r, 0);
    CHECK("setup: fill pages 0..3", fill(r, 0x11, 0x4000));

    CHECK_RET_ERR("MEM_DECOMMIT with dwSize 0 -> ERROR_INVALID_PARAMETER", VirtualFree(r, 0, MEM_DECOMMIT), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("MEM_DECOMMIT with dwSize 0x80000000 -> ERROR_INVALID_PARAMETER",
                  VirtualFree(r, 0x80000000u, MEM_DECOMMIT), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("MEM_DECOMMIT with dwSize 0xFFFFFFFF -> ERROR_INVALID_PARAMETER",
                  VirtualFree(r, 0xFFFFFFFFu, MEM_DECOMMIT), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_QUERY("failed decommits left pages 0..3 committed", r, r, r, 0x4000, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);

    CHECK_RET_ERR("MEM_DECOMMIT pages 1..2 succeeds, last error untouched",
                  VirtualFree(r + 0x1000, 0x2000, MEM_DECOMMIT), TRUE, LE_UNTOUCHED);
    CHECK_QUERY("page 0 still committed", r, r, r, 0x1000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE);
    CHECK_QUERY("pages 1..2 back to MEM_RESERVE", r + 0x1000, r + 0x1000, r, 0x2000, MEM_RESERVE, PAGE_NOACCESS,
                MEM_PRIVATE);
    CHECK_QUERY("page 3 still committed", r + 0x3000, r + 0x3000, r, 0x1000, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);
    CHECK("decommit kept the neighbours' contents",
          check_bytes_are(r, 0x1000, 0x11) && check_bytes_are(r + 0x3000, 0x1000, 0x11));

    CHECK_RET_ERR("MEM_DECOMMIT of already decommitted pages succeeds", VirtualFree(r + 0x1000, 0x2000, MEM_DECOMMIT),
                  TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("MEM_DECOMMIT of never-committed pages succeeds", VirtualFree(r + 0x8000, 0x8000, MEM_DECOMMIT),
                  TRUE, LE_UNTOUCHED);
    CHECK_RET_ERR("MEM_DECOMMIT of 2 bytes straddling pages 2/3 succeeds", VirtualFree(r + 0x2FFF, 2, MEM_DECOMMIT),
                  TRUE, LE_UNTOUCHED);
    CHECK_QUERY("straddling decommit took page 3 too", r + 0x1000, r + 0x1000, r, 0xF000, MEM_RESERVE, PAGE_NOACCESS,
                MEM_PRIVATE);

    CHECK_RET_ERR("re-commit pages 1..3", VirtualAlloc(r + 0x1000, 0x3000, MEM_COMMIT, PAGE_READWRITE), r + 0x1000, 0);
    CHECK("re-committed pages read zero", check_bytes_are(r + 0x1000, 0x3000, 0));
    CHECK("page 0 kept its contents through it all", check_bytes_are(r, 0x1000, 0x11));

    CHECK_RET_ERR("MEM_DECOMMIT past the reservation end -> ERROR_INVALID_PARAMETER",
                  VirtualFree(r + 0xF000, 0x2000, MEM_DECOMMIT), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("MEM_DECOMMIT of the whole reservation", VirtualFree(r, 0x10000, MEM_DECOMMIT), TRUE, LE_UNTOUCHED);
    CHECK_QUERY("whole reservation decommitted", r, r, r, 0x10000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
    CHECK_RET_ERR("release after decommit", VirtualFree(r, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);

    /* Tails and neighbours. */
    char *f = find_free(0x30000);
    char *t = VirtualAlloc(f, 0x3000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    char *n = VirtualAlloc(f + 0x10000, 0x10000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    CHECK("two adjacent reservations (3 pages + 16 pages)", t == f && n == f + 0x10000);
    if (t != NULL && n != NULL) {
        CHECK_RET_ERR("MEM_DECOMMIT of a tail page -> ERROR_INVALID_PARAMETER",
                      VirtualFree(t + 0x3000, 0x1000, MEM_DECOMMIT), FALSE, ERROR_INVALID_PARAMETER);
        CHECK_RET_ERR("MEM_DECOMMIT reaching into the tail -> ERROR_INVALID_PARAMETER",
                      VirtualFree(t, 0x4000, MEM_DECOMMIT), FALSE, ERROR_INVALID_PARAMETER);
        CHECK_QUERY("failed tail decommit left the 3 pages committed", t, t, t, 0x3000, MEM_COMMIT, PAGE_READWRITE,
                    MEM_PRIVATE);
        CHECK_RET_ERR("MEM_DECOMMIT spanning two reservations -> ERROR_INVALID_PARAMETER",
                      VirtualFree(f + 0xF000, 0x2000, MEM_DECOMMIT), FALSE, ERROR_INVALID_PARAMETER);
        CHECK_QUERY("failed spanning decommit left the neighbour committed", n, n, n, 0x10000, MEM_COMMIT,
                    PAGE_READWRITE, MEM_PRIVATE);
        CHECK_RET_ERR("MEM_DECOMMIT of exactly the 3 reserved pages", VirtualFree(t, 0x3000, MEM_DECOMMIT), TRUE,
                      LE_UNTOUCHED);
        VirtualFree(t, 0, MEM_RELEASE);
        VirtualFree(n, 0, MEM_RELEASE);
    }
    char *raw = VirtualAlloc(NULL, 5000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (raw != NULL) {
        CHECK_RET_ERR("MEM_DECOMMIT 8192 bytes of a 5000-byte reservation (page-rounded) succeeds",
                      VirtualFree(raw, 8192, MEM_DECOMMIT), TRUE, LE_UNTOUCHED);
        CHECK_QUERY("both pages decommitted", raw, raw, raw, 0x2000, MEM_RESERVE, PAGE_NOACCESS, MEM_PRIVATE);
        VirtualFree(raw, 0, MEM_RELEASE);
    }
    char *fr = find_free(0x10000);
    CHECK_RET_ERR("MEM_DECOMMIT in free memory -> ERROR_INVALID_PARAMETER", VirtualFree(fr, 0x1000, MEM_DECOMMIT),
                  FALSE, ERROR_INVALID_PARAMETER);
}

static void test_bad_args(void) {
    char *r = VirtualAlloc(NULL, 0x10000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    CHECK_NE_U("committed region", r, NULL);
    if (r == NULL) return;
    CHECK("setup: fill the committed region", fill(r, 0x44, 0x10000));
    CHECK_RET_ERR("NULL address MEM_RELEASE -> ERROR_INVALID_PARAMETER", VirtualFree(NULL, 0, MEM_RELEASE), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("NULL address MEM_DECOMMIT -> ERROR_INVALID_PARAMETER", VirtualFree(NULL, 0x1000, MEM_DECOMMIT),
                  FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("MEM_RELEASE|MEM_DECOMMIT, size 0 -> ERROR_INVALID_PARAMETER",
                  VirtualFree(r, 0, MEM_RELEASE | MEM_DECOMMIT), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("MEM_RELEASE|MEM_DECOMMIT, size 4096 -> ERROR_INVALID_PARAMETER",
                  VirtualFree(r, 0x1000, MEM_RELEASE | MEM_DECOMMIT), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("dwFreeType 0 -> ERROR_INVALID_PARAMETER", VirtualFree(r, 0, 0), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("dwFreeType 0 with a size -> ERROR_INVALID_PARAMETER", VirtualFree(r, 0x1000, 0), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("dwFreeType MEM_FREE -> ERROR_INVALID_PARAMETER", VirtualFree(r, 0, MEM_FREE), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("dwFreeType MEM_RESERVE -> ERROR_INVALID_PARAMETER", VirtualFree(r, 0, MEM_RESERVE), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("dwFreeType MEM_COMMIT -> ERROR_INVALID_PARAMETER", VirtualFree(r, 0x1000, MEM_COMMIT), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("dwFreeType MEM_RELEASE|0x80000000 -> ERROR_INVALID_PARAMETER",
                  VirtualFree(r, 0, MEM_RELEASE | 0x80000000u), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("dwFreeType MEM_DECOMMIT|MEM_RESET -> ERROR_INVALID_PARAMETER",
                  VirtualFree(r, 0x1000, MEM_DECOMMIT | MEM_RESET), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("dwFreeType 0xFFFFFFFF -> ERROR_INVALID_PARAMETER", VirtualFree(r, 0, 0xFFFFFFFFu), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_QUERY("rejected frees left the region committed", r, r, r, 0x10000, MEM_COMMIT, PAGE_READWRITE,
                MEM_PRIVATE);
    CHECK("rejected frees left the contents", check_bytes_are(r, 0x10000, 0x44));

    int local = 7;
    void *heap = malloc(100);
    CHECK_RET_ERR("MEM_RELEASE of a stack address -> ERROR_INVALID_PARAMETER", VirtualFree(&local, 0, MEM_RELEASE),
                  FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("MEM_DECOMMIT of a stack address -> ERROR_INVALID_PARAMETER", VirtualFree(&local, 4, MEM_DECOMMIT),
                  FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("MEM_RELEASE of a malloc block -> ERROR_INVALID_PARAMETER", VirtualFree(heap, 0, MEM_RELEASE), FALSE,
                  ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("MEM_RELEASE of 0xdead0000 -> ERROR_INVALID_PARAMETER",
                  VirtualFree((void *)(uintptr_t)0xdead0000u, 0, MEM_RELEASE), FALSE, ERROR_INVALID_PARAMETER);
    CHECK_RET_ERR("MEM_DECOMMIT of (void*)0x10 -> ERROR_INVALID_PARAMETER",
                  VirtualFree((void *)(uintptr_t)0x10, 0x1000, MEM_DECOMMIT), FALSE, ERROR_INVALID_PARAMETER);
    CHECK("stack variable untouched", local == 7);
    memset(heap, 1, 100);
    CHECK("malloc block still usable", check_bytes_are(heap, 100, 1));
    free(heap);
    CHECK_RET_ERR("release the committed region", VirtualFree(r, 0, MEM_RELEASE), TRUE, LE_UNTOUCHED);
}

int main(void) {
    test_release();
    test_decommit();
    test_bad_args();
    return check_summary();
}
