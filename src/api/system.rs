//! GetSystemInfo, GlobalMemoryStatus, the IsBad*Ptr family, the current-process helpers and the
//! `coredll_window` extension.

use core::ptr::null_mut;

use super::user;
use crate::config::Profile;
use crate::error::{Win32Error, set_last_error};
use crate::types::*;
use crate::vm::{self, GRANULE, PAGE, os, os::Access};

/// Fills `*lpSystemInfo` with CE's view of the machine; a bad pointer gets nothing.
#[unsafe(no_mangle)]
pub extern "C" fn GetSystemInfo(lpSystemInfo: LPSYSTEM_INFO) {
    let (low, high) = vm::space().application_range();
    let (arch, cpu_type) = if cfg!(target_arch = "arm") || cfg!(target_arch = "aarch64") {
        (PROCESSOR_ARCHITECTURE_ARM, PROCESSOR_STRONGARM)
    } else {
        (PROCESSOR_ARCHITECTURE_INTEL, PROCESSOR_INTEL_PENTIUM)
    };
    let info = SYSTEM_INFO {
        wProcessorArchitecture: arch,
        wReserved: 0,
        dwPageSize: PAGE as DWORD,
        lpMinimumApplicationAddress: low as LPVOID,
        lpMaximumApplicationAddress: high as LPVOID,
        dwActiveProcessorMask: 1,
        dwNumberOfProcessors: 1,
        dwProcessorType: cpu_type,
        dwAllocationGranularity: GRANULE as DWORD,
        wProcessorLevel: if arch == PROCESSOR_ARCHITECTURE_INTEL {
            5
        } else {
            0
        },
        wProcessorRevision: 0,
    };
    user::store(lpSystemInfo, info);
}

/// Fills `*lpBuffer` with memory figures as CE computes them; a bad pointer gets nothing.
#[unsafe(no_mangle)]
pub extern "C" fn GlobalMemoryStatus(lpBuffer: LPMEMORYSTATUS) {
    let space = vm::space();
    // Physical figures are the host's, clamped to what a DWORD can say.
    let clamp = |bytes: u64| bytes.min(0xFFFF_F000) as DWORD;
    let (total, avail) = os::physical_memory();
    let load = (avail.min(total) * 100)
        .checked_div(total)
        .map_or(0, |f| 100 - f as DWORD);
    let status = MEMORYSTATUS {
        dwLength: size_of::<MEMORYSTATUS>() as DWORD,
        dwMemoryLoad: load,
        dwTotalPhys: clamp(total),
        dwAvailPhys: clamp(avail),
        dwTotalPageFile: 0,
        dwAvailPageFile: 0,
        dwTotalVirtual: space.profile().total_virtual(),
        dwAvailVirtual: space.available_virtual() as DWORD,
    };
    user::store(lpBuffer, status);
}

/// The error CE sets when an IsBad*Ptr answer is "bad".
fn bad_pointer() -> BOOL {
    let code = match crate::config::profile() {
        Profile::Ce5 => Win32Error::InvalidAddress,
        Profile::Ce6 => Win32Error::InvalidParameter,
    };
    set_last_error(code.code());
    1
}

fn is_bad(addr: usize, ucb: UINT, access: Access) -> BOOL {
    if ucb == 0 {
        return 0;
    }
    if ucb >= 0x8000_0000 || !user::accessible(addr, ucb as usize, access) {
        return bad_pointer();
    }
    0
}

/// TRUE when some byte of `[lp, lp+ucb)` cannot be read. Never touches the memory.
#[unsafe(no_mangle)]
pub extern "C" fn IsBadReadPtr(lp: *const core::ffi::c_void, ucb: UINT) -> BOOL {
    is_bad(lp as usize, ucb, Access::Read)
}

/// TRUE when some byte of `[lp, lp+ucb)` cannot be written. Never touches the memory.
#[unsafe(no_mangle)]
pub extern "C" fn IsBadWritePtr(lp: LPVOID, ucb: UINT) -> BOOL {
    is_bad(lp as usize, ucb, Access::Write)
}

/// TRUE when the process cannot read the memory at `lpfn` (CE's definition).
#[unsafe(no_mangle)]
pub extern "C" fn IsBadCodePtr(lpfn: FARPROC) -> BOOL {
    let addr = lpfn.map_or(0, |f| f as usize);
    if !user::accessible(addr, 1, Access::Read) {
        return bad_pointer();
    }
    0
}

/// CE's pseudo-handle for the current process, `(HANDLE)0x42`.
#[unsafe(no_mangle)]
pub extern "C" fn GetCurrentProcess() -> HANDLE {
    super::virtual_mem::CURRENT_PROCESS as HANDLE
}

/// The current process's id (the host's).
#[unsafe(no_mangle)]
pub extern "C" fn GetCurrentProcessId() -> DWORD {
    os::process_id()
}

/// Extension: where window `dwIndex` of the emulated address space is. Window 0 is the process
/// space (ce6: 1 GB; ce5: the 32 MB slot), window 1 on ce5 the large-memory area. Returns its base
/// and stores its size in `*lpdwSize` (may be NULL); NULL with ERROR_INVALID_PARAMETER when there
/// is no such window.
#[unsafe(no_mangle)]
pub extern "C" fn coredll_window(dwIndex: DWORD, lpdwSize: LPDWORD) -> LPVOID {
    let Some((base, size)) = vm::space().window(dwIndex as usize) else {
        set_last_error(Win32Error::InvalidParameter.code());
        return null_mut();
    };
    if !lpdwSize.is_null() && !user::store(lpdwSize, size as DWORD) {
        set_last_error(Win32Error::InvalidParameter.code());
        return null_mut();
    }
    base as LPVOID
}

/// Extension: sets the process-wide handler for guard exceptions (STATUS_GUARD_PAGE_VIOLATION)
/// and returns the previous one (NULL at start). The handler runs inside the library's SIGSEGV
/// handler on the faulting thread; returning EXCEPTION_CONTINUE_EXECUTION resumes the access,
/// anything else (or no handler) ends the process with a message, as an unhandled exception
/// ends a CE process.
#[unsafe(no_mangle)]
pub extern "C" fn coredll_set_exception_handler(
    handler: coredll_exception_handler,
) -> coredll_exception_handler {
    vm::set_exception_handler(handler)
}

/// Extension: how many calls `COREDLL_FAIL` has made fail so far.
#[unsafe(no_mangle)]
pub extern "C" fn coredll_failures_injected() -> DWORD {
    crate::inject::injected().min(u64::from(DWORD::MAX)) as DWORD
}
