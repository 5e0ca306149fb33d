/* Drop-in <windows.h> for CE sources built against coredll on Linux: the CE memory API of
   coredll.h plus the basic CE types and macros legacy code expects next to it. */
#ifndef COREDLL_WINDOWS_H
#define COREDLL_WINDOWS_H

#include <string.h>
#include "coredll.h"

#ifndef VOID
#define VOID void
#endif
#ifndef CONST
#define CONST const
#endif
typedef char CHAR;
typedef unsigned char UCHAR;
typedef short SHORT;
typedef unsigned short USHORT;
typedef int INT;
typedef uint32_t ULONG;
typedef unsigned char BOOLEAN;
typedef BYTE *PBYTE, *LPBYTE;
typedef BOOL *PBOOL, *LPBOOL;
typedef LONG *PLONG, *LPLONG;
typedef WORD *PWORD, *LPWORD;
typedef uintptr_t UINT_PTR, ULONG_PTR, DWORD_PTR;
typedef intptr_t INT_PTR, LONG_PTR;

#define MAKEWORD(a, b) ((WORD)(((BYTE)(a)) | ((WORD)((BYTE)(b))) << 8))
#define LOWORD(l) ((WORD)((DWORD)(l) & 0xFFFF))
#define HIWORD(l) ((WORD)(((DWORD)(l) >> 16) & 0xFFFF))

#define ZeroMemory(p, n) memset((p), 0, (n))
#define FillMemory(p, n, v) memset((p), (v), (n))
#define CopyMemory(d, s, n) memcpy((d), (s), (n))
#define MoveMemory(d, s, n) memmove((d), (s), (n))

#endif /* COREDLL_WINDOWS_H */
