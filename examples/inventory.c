/*
 * inventory.c - a legacy-style Windows CE program with two bugs of the kind low memory finds:
 * it keeps a list of parts in LocalAlloc'd records, forgets to free one of them (a leak), and
 * never checks one of its allocations (a crash the day the device runs short of memory).
 * README.md shows how coredll-run finds both.
 */
#include <windows.h>
#include <stdio.h>
#include <string.h>

typedef struct PART {
    struct PART *pNext;
    DWORD dwCount;
    char szName[24];
} PART;

static PART *AddPart(PART *pHead, const char *pszName, DWORD dwCount)
{
    PART *p = (PART *)LocalAlloc(LPTR, sizeof(PART));
    p->pNext = pHead;                 /* bug: p is not checked for NULL */
    p->dwCount = dwCount;
    strncpy(p->szName, pszName, sizeof(p->szName) - 1);
    return p;
}

int main(void)
{
    static const char *aszNames[] = { "bolt", "nut", "washer", "gear", "spring" };
    PART *pList = NULL, *p;
    DWORD dwTotal = 0;
    int i;

    for (i = 0; i < 5; i++)
        pList = AddPart(pList, aszNames[i], (DWORD)(i + 1) * 10);
    for (p = pList; p != NULL; p = p->pNext)
        dwTotal += p->dwCount;
    printf("%d parts, %lu pieces\n", i, (unsigned long)dwTotal);

    while (pList != NULL && pList->pNext != NULL) {   /* bug: stops before the last record */
        p = pList->pNext;
        LocalFree(pList);
        pList = p;
    }
    return 0;
}
