/* Drop-in <kfuncs.h>: CE's GetCurrentProcess/GetCurrentProcessId live in coredll.h. */
#ifndef COREDLL_KFUNCS_H
#define COREDLL_KFUNCS_H
#include "windows.h"
#endif /* COREDLL_KFUNCS_H */
