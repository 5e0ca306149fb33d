//! CE's types, constants and structures, as the C header shows them (LP64 host, CE field types).
//!
//! Values are those of the CE 5.0 SDK headers (`winnt.h`, `winbase.h`, `winerror.h`).

#![allow(non_camel_case_types, non_snake_case)]

use core::ffi::c_void;

pub type DWORD = u32;
pub type WORD = u16;
pub type BYTE = u8;
pub type BOOL = i32;
pub type UINT = u32;
pub type LONG = i32;
pub type SIZE_T = usize;
pub type LPVOID = *mut c_void;
pub type PVOID = *mut c_void;
pub type LPCVOID = *const c_void;
pub type HANDLE = *mut c_void;
pub type HLOCAL = HANDLE;
pub type HGLOBAL = HLOCAL;
pub type PDWORD = *mut DWORD;
/// CE's wide character: UTF-16, whatever the host's wchar_t.
pub type WCHAR = u16;
pub type LPCWSTR = *const WCHAR;
pub type LPWSTR = *mut WCHAR;
pub type LPCSTR = *const core::ffi::c_char;
pub type LPSTR = *mut core::ffi::c_char;
/// Accepted and ignored, as on CE.
pub type LPSECURITY_ATTRIBUTES = *mut c_void;
pub type LPDWORD = *mut DWORD;
/// A code pointer, as `IsBadCodePtr` takes it.
pub type FARPROC = Option<unsafe extern "C" fn() -> i32>;

// Allocation types and states.
pub const MEM_COMMIT: DWORD = 0x0000_1000;
pub const MEM_RESERVE: DWORD = 0x0000_2000;
pub const MEM_DECOMMIT: DWORD = 0x0000_4000;
pub const MEM_RELEASE: DWORD = 0x0000_8000;
pub const MEM_FREE: DWORD = 0x0001_0000;
pub const MEM_PRIVATE: DWORD = 0x0002_0000;
pub const MEM_MAPPED: DWORD = 0x0004_0000;
pub const MEM_RESET: DWORD = 0x0008_0000;
pub const MEM_TOP_DOWN: DWORD = 0x0010_0000;
/// CE only: pages commit themselves, zeroed and read-write, on first touch.
pub const MEM_AUTO_COMMIT: DWORD = 0x0020_0000;
pub const MEM_4MB_PAGES: DWORD = 0x8000_0000;
pub const MEM_IMAGE: DWORD = 0x0100_0000;
pub const SEC_FILE: DWORD = 0x0080_0000;
pub const SEC_IMAGE: DWORD = 0x0100_0000;
pub const SEC_VLM: DWORD = 0x0200_0000;
pub const SEC_RESERVE: DWORD = 0x0400_0000;
pub const SEC_COMMIT: DWORD = 0x0800_0000;
pub const SEC_NOCACHE: DWORD = 0x1000_0000;

// Page protections.
pub const PAGE_NOACCESS: DWORD = 0x01;
pub const PAGE_READONLY: DWORD = 0x02;
pub const PAGE_READWRITE: DWORD = 0x04;
pub const PAGE_WRITECOPY: DWORD = 0x08;
pub const PAGE_EXECUTE: DWORD = 0x10;
pub const PAGE_EXECUTE_READ: DWORD = 0x20;
pub const PAGE_EXECUTE_READWRITE: DWORD = 0x40;
pub const PAGE_EXECUTE_WRITECOPY: DWORD = 0x80;
pub const PAGE_GUARD: DWORD = 0x100;
pub const PAGE_NOCACHE: DWORD = 0x200;
pub const PAGE_PHYSICAL: DWORD = 0x400;
pub const PAGE_WRITECOMBINE: DWORD = 0x400;

// Heap options and flags (winnt.h; HEAP_SHARED_READONLY is CE's).
pub const HEAP_NO_SERIALIZE: DWORD = 0x0000_0001;
pub const HEAP_GROWABLE: DWORD = 0x0000_0002;
pub const HEAP_GENERATE_EXCEPTIONS: DWORD = 0x0000_0004;
pub const HEAP_ZERO_MEMORY: DWORD = 0x0000_0008;
pub const HEAP_REALLOC_IN_PLACE_ONLY: DWORD = 0x0000_0010;
pub const HEAP_TAIL_CHECKING_ENABLED: DWORD = 0x0000_0020;
pub const HEAP_FREE_CHECKING_ENABLED: DWORD = 0x0000_0040;
pub const HEAP_DISABLE_COALESCE_ON_FREE: DWORD = 0x0000_0080;
pub const HEAP_SHARED_READONLY: DWORD = 0x0000_1000;
pub const HEAP_CREATE_ALIGN_16: DWORD = 0x0001_0000;
pub const HEAP_CREATE_ENABLE_TRACING: DWORD = 0x0002_0000;

// Local memory flags (winbase.h); the GMEM_* twins are in the header's macros.
pub const LMEM_FIXED: UINT = 0x0000;
pub const LMEM_MOVEABLE: UINT = 0x0002;
pub const LMEM_NOCOMPACT: UINT = 0x0010;
pub const LMEM_NODISCARD: UINT = 0x0020;
pub const LMEM_ZEROINIT: UINT = 0x0040;
pub const LMEM_MODIFY: UINT = 0x0080;
pub const LMEM_DISCARDABLE: UINT = 0x0F00;
pub const LMEM_VALID_FLAGS: UINT = 0x0F72;
pub const LMEM_INVALID_HANDLE: UINT = 0x8000;
pub const LMEM_DISCARDED: UINT = 0x4000;
pub const LMEM_LOCKCOUNT: UINT = 0x00FF;
pub const LHND: UINT = LMEM_MOVEABLE | LMEM_ZEROINIT;
pub const LPTR: UINT = LMEM_FIXED | LMEM_ZEROINIT;
pub const NONZEROLHND: UINT = LMEM_MOVEABLE;
pub const NONZEROLPTR: UINT = LMEM_FIXED;

// Toolhelp (tlhelp32.h).
pub const TH32CS_SNAPHEAPLIST: DWORD = 0x0000_0001;
pub const TH32CS_SNAPPROCESS: DWORD = 0x0000_0002;
pub const TH32CS_SNAPTHREAD: DWORD = 0x0000_0004;
pub const TH32CS_SNAPMODULE: DWORD = 0x0000_0008;
pub const TH32CS_SNAPALL: DWORD = 0x0000_000F;
pub const TH32CS_GETALLMODS: DWORD = 0x8000_0000;
pub const HF32_DEFAULT: DWORD = 1;
pub const LF32_FIXED: DWORD = 0x0000_0001;
pub const LF32_FREE: DWORD = 0x0000_0002;
pub const LF32_MOVEABLE: DWORD = 0x0000_0004;
pub const LF32_DECOMMIT: DWORD = 0x0000_0008;
pub const LF32_BIGBLOCK: DWORD = 0x0000_0010;

// HeapWalk's entry flags (desktop extension).
pub const PROCESS_HEAP_REGION: WORD = 0x0001;
pub const PROCESS_HEAP_UNCOMMITTED_RANGE: WORD = 0x0002;
pub const PROCESS_HEAP_ENTRY_BUSY: WORD = 0x0004;
pub const PROCESS_HEAP_ENTRY_MOVEABLE: WORD = 0x0010;
pub const PROCESS_HEAP_ENTRY_DDESHARE: WORD = 0x0020;

// Processor architectures and types (SYSTEM_INFO).
pub const PROCESSOR_ARCHITECTURE_INTEL: WORD = 0;
pub const PROCESSOR_ARCHITECTURE_MIPS: WORD = 1;
pub const PROCESSOR_ARCHITECTURE_ALPHA: WORD = 2;
pub const PROCESSOR_ARCHITECTURE_PPC: WORD = 3;
pub const PROCESSOR_ARCHITECTURE_SHX: WORD = 4;
pub const PROCESSOR_ARCHITECTURE_ARM: WORD = 5;
pub const PROCESSOR_ARCHITECTURE_IA64: WORD = 6;
pub const PROCESSOR_ARCHITECTURE_ALPHA64: WORD = 7;
pub const PROCESSOR_ARCHITECTURE_UNKNOWN: WORD = 0xFFFF;
pub const PROCESSOR_INTEL_386: DWORD = 386;
pub const PROCESSOR_INTEL_486: DWORD = 486;
pub const PROCESSOR_INTEL_PENTIUM: DWORD = 586;
pub const PROCESSOR_STRONGARM: DWORD = 2577;
pub const PROCESSOR_ARM720: DWORD = 1824;
pub const PROCESSOR_ARM_7TDMI: DWORD = 70001;

// Error codes (winerror.h).
pub const ERROR_SUCCESS: DWORD = 0;
pub const NO_ERROR: DWORD = 0;
pub const ERROR_ACCESS_DENIED: DWORD = 5;
pub const ERROR_FILE_NOT_FOUND: DWORD = 2;
pub const ERROR_PATH_NOT_FOUND: DWORD = 3;
pub const ERROR_INVALID_HANDLE: DWORD = 6;
pub const ERROR_NOT_ENOUGH_MEMORY: DWORD = 8;
pub const ERROR_OUTOFMEMORY: DWORD = 14;
pub const ERROR_NO_MORE_FILES: DWORD = 18;
pub const ERROR_BAD_LENGTH: DWORD = 24;
pub const ERROR_SHARING_VIOLATION: DWORD = 32;
pub const ERROR_NOT_SUPPORTED: DWORD = 50;
pub const ERROR_FILE_EXISTS: DWORD = 80;
pub const ERROR_INVALID_PARAMETER: DWORD = 87;
pub const ERROR_DISK_FULL: DWORD = 112;
pub const ERROR_ALREADY_EXISTS: DWORD = 183;
pub const ERROR_NO_MORE_ITEMS: DWORD = 259;
pub const ERROR_NOT_OWNER: DWORD = 288;
pub const ERROR_PARTIAL_COPY: DWORD = 299;
pub const ERROR_INVALID_ADDRESS: DWORD = 487;
pub const ERROR_NOACCESS: DWORD = 998;
pub const ERROR_COMMITMENT_LIMIT: DWORD = 1455;

// File mappings and the files behind them.
pub const FILE_MAP_WRITE: DWORD = 0x0002;
pub const FILE_MAP_READ: DWORD = 0x0004;
pub const FILE_MAP_ALL_ACCESS: DWORD = 0x000F_001F;
pub const GENERIC_READ: DWORD = 0x8000_0000;
pub const GENERIC_WRITE: DWORD = 0x4000_0000;
pub const FILE_SHARE_READ: DWORD = 0x0000_0001;
pub const FILE_SHARE_WRITE: DWORD = 0x0000_0002;
pub const CREATE_NEW: DWORD = 1;
pub const CREATE_ALWAYS: DWORD = 2;
pub const OPEN_EXISTING: DWORD = 3;
pub const OPEN_ALWAYS: DWORD = 4;
pub const TRUNCATE_EXISTING: DWORD = 5;
pub const FILE_ATTRIBUTE_NORMAL: DWORD = 0x0000_0080;

// Exceptions (extension: coredll_set_exception_handler).
pub const STATUS_GUARD_PAGE_VIOLATION: DWORD = 0x8000_0001;
// The EXCEPTION_* dispositions are defined in the header by hand, (-1) parenthesised.
pub(crate) const EXCEPTION_CONTINUE_EXECUTION: LONG = -1;

/// Extension: what a guard exception reports to the handler set with
/// `coredll_set_exception_handler`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct _coredll_exception_info {
    /// STATUS_GUARD_PAGE_VIOLATION.
    pub ExceptionCode: DWORD,
    /// 0 read, 1 write, 8 execute (NT's ExceptionInformation[0]).
    pub AccessType: DWORD,
    /// The data address that was touched.
    pub Address: PVOID,
    /// The faulting instruction, NULL when unknown.
    pub InstructionAddress: PVOID,
}
pub type coredll_exception_info = _coredll_exception_info;

/// Extension: a guard-exception handler. It runs inside the SIGSEGV handler on the faulting
/// thread; returning EXCEPTION_CONTINUE_EXECUTION resumes the access (the page then has its base
/// protection), anything else leaves the exception unhandled and the process ends.
pub type coredll_exception_handler =
    Option<unsafe extern "C" fn(info: *const coredll_exception_info) -> LONG>;

/// CeHeapCreate's memory callback: reserves (`MEM_RESERVE`, storing its own value in
/// `*pdwUserData`) or commits (`MEM_COMMIT`, inside a reservation) and returns the address, or
/// NULL on failure.
pub type PFN_AllocHeapMem = Option<
    unsafe extern "C" fn(
        pAddr: LPVOID,
        cbSize: DWORD,
        fdwAction: DWORD,
        pdwUserData: LPDWORD,
    ) -> LPVOID,
>;
/// CeHeapCreate's release callback: `MEM_DECOMMIT` of pages, or `MEM_RELEASE` (size 0) of a whole
/// reservation, with the value its reserve stored.
pub type PFN_FreeHeapMem = Option<
    unsafe extern "C" fn(pAddr: LPVOID, cbSize: DWORD, fdwAction: DWORD, dwUserData: DWORD) -> BOOL,
>;

pub type PHANDLE = *mut HANDLE;
pub type LPHANDLE = *mut HANDLE;
pub type PCHAR = *mut core::ffi::c_char;

/// A heap in a toolhelp snapshot (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct tagHEAPLIST32 {
    pub dwSize: DWORD,
    pub th32ProcessID: DWORD,
    /// The heap's handle.
    pub th32HeapID: DWORD,
    /// HF32_DEFAULT for the process heap.
    pub dwFlags: DWORD,
}
pub type HEAPLIST32 = tagHEAPLIST32;
pub type LPHEAPLIST32 = *mut tagHEAPLIST32;
pub type PHEAPLIST32 = *mut tagHEAPLIST32;

/// A block or free run of a heap in a toolhelp snapshot (CE's field types: the address is a DWORD).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct tagHEAPENTRY32 {
    pub dwSize: DWORD,
    pub hHandle: HANDLE,
    pub dwAddress: DWORD,
    pub dwBlockSize: DWORD,
    /// LF32_FIXED, LF32_FREE (with LF32_DECOMMIT for uncommitted pages) or LF32_BIGBLOCK.
    pub dwFlags: DWORD,
    pub dwLockCount: DWORD,
    /// The walk's position (Heap32Next reads it back).
    pub dwResvd: DWORD,
    pub th32ProcessID: DWORD,
    pub th32HeapID: DWORD,
}
pub type HEAPENTRY32 = tagHEAPENTRY32;
pub type LPHEAPENTRY32 = *mut tagHEAPENTRY32;
pub type PHEAPENTRY32 = *mut tagHEAPENTRY32;

/// HeapWalk's entry (desktop layout). The C header declares it by hand with the anonymous union
/// of `Block` and `Region`; this is the same layout with the union named.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct _PROCESS_HEAP_ENTRY {
    pub lpData: PVOID,
    pub cbData: DWORD,
    pub cbOverhead: BYTE,
    pub iRegionIndex: BYTE,
    pub wFlags: WORD,
    pub u: PROCESS_HEAP_ENTRY_u,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub union PROCESS_HEAP_ENTRY_u {
    pub Block: PROCESS_HEAP_ENTRY_Block,
    pub Region: PROCESS_HEAP_ENTRY_Region,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct PROCESS_HEAP_ENTRY_Block {
    pub hMem: HANDLE,
    pub dwReserved: [DWORD; 3],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct PROCESS_HEAP_ENTRY_Region {
    pub dwCommittedSize: DWORD,
    pub dwUnCommittedSize: DWORD,
    pub lpFirstBlock: LPVOID,
    pub lpLastBlock: LPVOID,
}
pub type LPPROCESS_HEAP_ENTRY = *mut _PROCESS_HEAP_ENTRY;

/// Extension: the handler `coredll_set_hibernate_handler` registers.
pub type coredll_hibernate_handler = Option<unsafe extern "C" fn()>;

/// What `VirtualQuery` reports about a run of pages (CE field types, host pointers).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct _MEMORY_BASIC_INFORMATION {
    pub BaseAddress: PVOID,
    pub AllocationBase: PVOID,
    pub AllocationProtect: DWORD,
    pub RegionSize: DWORD,
    pub State: DWORD,
    pub Protect: DWORD,
    pub Type: DWORD,
}
pub type MEMORY_BASIC_INFORMATION = _MEMORY_BASIC_INFORMATION;
pub type PMEMORY_BASIC_INFORMATION = *mut _MEMORY_BASIC_INFORMATION;

/// `SYSTEM_INFO` in CE's field order. The C header declares it by hand with CE's anonymous union
/// (`dwOemId` over `wProcessorArchitecture`/`wReserved`), which cbindgen cannot write; the layout
/// test keeps the two in step.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct _SYSTEM_INFO {
    pub wProcessorArchitecture: WORD,
    pub wReserved: WORD,
    pub dwPageSize: DWORD,
    pub lpMinimumApplicationAddress: LPVOID,
    pub lpMaximumApplicationAddress: LPVOID,
    pub dwActiveProcessorMask: DWORD,
    pub dwNumberOfProcessors: DWORD,
    pub dwProcessorType: DWORD,
    pub dwAllocationGranularity: DWORD,
    pub wProcessorLevel: WORD,
    pub wProcessorRevision: WORD,
}
pub type SYSTEM_INFO = _SYSTEM_INFO;
pub type LPSYSTEM_INFO = *mut _SYSTEM_INFO;

/// `MEMORYSTATUS`: eight DWORDs, as on CE.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct _MEMORYSTATUS {
    pub dwLength: DWORD,
    pub dwMemoryLoad: DWORD,
    pub dwTotalPhys: DWORD,
    pub dwAvailPhys: DWORD,
    pub dwTotalPageFile: DWORD,
    pub dwAvailPageFile: DWORD,
    pub dwTotalVirtual: DWORD,
    pub dwAvailVirtual: DWORD,
}
pub type MEMORYSTATUS = _MEMORYSTATUS;
pub type LPMEMORYSTATUS = *mut _MEMORYSTATUS;

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn layouts_match_the_contract() {
        assert_eq!(size_of::<MEMORY_BASIC_INFORMATION>(), 40);
        assert_eq!(offset_of!(MEMORY_BASIC_INFORMATION, RegionSize), 20);
        assert_eq!(offset_of!(MEMORY_BASIC_INFORMATION, Type), 32);
        assert_eq!(size_of::<MEMORYSTATUS>(), 32);
        // CE order with host pointers: the union is 4 bytes, then padding before the pointers.
        assert_eq!(offset_of!(SYSTEM_INFO, dwPageSize), 4);
        assert_eq!(offset_of!(SYSTEM_INFO, lpMinimumApplicationAddress), 8);
        assert_eq!(offset_of!(SYSTEM_INFO, dwActiveProcessorMask), 24);
        assert_eq!(offset_of!(SYSTEM_INFO, wProcessorLevel), 40);
        assert_eq!(size_of::<SYSTEM_INFO>(), 48);
        assert_eq!(size_of::<HEAPLIST32>(), 16);
        assert_eq!(size_of::<HEAPENTRY32>(), 48);
        assert_eq!(offset_of!(HEAPENTRY32, dwAddress), 16);
        assert_eq!(offset_of!(HEAPENTRY32, th32HeapID), 40);
        assert_eq!(size_of::<_PROCESS_HEAP_ENTRY>(), 40);
        assert_eq!(offset_of!(_PROCESS_HEAP_ENTRY, wFlags), 14);
        assert_eq!(offset_of!(_PROCESS_HEAP_ENTRY, u), 16);
    }
}
