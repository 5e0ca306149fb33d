/* Drop-in <winbase.h>: CE declares the memory API here; coredll.h has all of it. */
#ifndef COREDLL_WINBASE_H
#define COREDLL_WINBASE_H
#include "windows.h"
#endif /* COREDLL_WINBASE_H */
