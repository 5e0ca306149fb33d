/* Drop-in <tlhelp32.h>: CE's toolhelp heap enumeration (CreateToolhelp32Snapshot with
   TH32CS_SNAPHEAPLIST, Heap32ListFirst/Next, Heap32First/Next, CloseToolhelp32Snapshot,
   HEAPLIST32, HEAPENTRY32) lives in coredll.h. */
#ifndef COREDLL_TLHELP32_H
#define COREDLL_TLHELP32_H
#include "coredll.h"
#endif /* COREDLL_TLHELP32_H */
