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
    // Physical figures are the emulated RAM's (COREDLL_RAM) or the host's, clamped to what a
    // DWORD can say.
    let clamp = |bytes: u64| bytes.min(0xFFFF_F000) as DWORD;
    let ram = vm::ram::ram();
    let (total, avail) = match ram.budget() {
        Some(pages) => {
            let page = crate::vm::PAGE as u64;
            let free = pages.saturating_sub(ram.committed()) as u64;
            (pages as u64 * page, free * page)
        }
        None => os::physical_memory(),
    };
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
/// ends a CE process. The handler may call the heap functions, also when the guarded page is a
/// heap's and the exception came from inside one of them (a call that then finds the heap's lock
/// held by that very call fails with ERROR_INVALID_PARAMETER). For an exception on a heap's page
/// it should return or end the process: leaving by longjmp would leave a heap call it interrupted
/// unfinished, and it leaves the thread's heap cache set aside (the thread's later heap calls take
/// the heap's lock; the cached blocks go back at thread exit).
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

/// CE's SetOOMEvent: the low-memory thresholds of the emulated RAM (`COREDLL_RAM`), in pages.
/// Below `cpLow` free pages only commits of up to `cpLowBlockSize` pages succeed, below
/// `cpCritical` only up to `cpCriticalBlockSize`. The event is not used (coredll has no events;
/// see `coredll_set_hibernate_handler` for the moment memory runs low).
#[unsafe(no_mangle)]
pub extern "C" fn SetOOMEvent(
    hEvent: HANDLE,
    cpLow: DWORD,
    cpCritical: DWORD,
    cpLowBlockSize: DWORD,
    cpCriticalBlockSize: DWORD,
) {
    let _ = hEvent;
    vm::ram::ram().set_thresholds(
        cpLow as usize,
        cpCritical as usize,
        cpLowBlockSize as usize,
        cpCriticalBlockSize as usize,
    );
}

/// Extension: a function called (on the allocating thread, with no lock held) when the free pages
/// of the emulated RAM (`COREDLL_RAM`) first drop below `dwPages` (CE's WM_HIBERNATE moment:
/// release caches), and again each time after they have risen back above it. NULL removes it.
#[unsafe(no_mangle)]
pub extern "C" fn coredll_set_hibernate_handler(
    handler: coredll_hibernate_handler,
    dwPages: DWORD,
) {
    vm::ram::ram().set_hibernate(handler.map_or(0, |f| f as usize), dwPages as usize);
}

/// Calls the hibernate handler if free memory has just dropped below its level. The API calls
/// that commit memory run this last, with no lock held.
#[inline(always)]
pub(crate) fn fire_hibernate() {
    let ram = vm::ram::ram();
    // One load when nothing is pending (every heap allocation asks). Not inside a CeHeapCreate
    // callback (its heap is locked): the heap call that ran it fires.
    if !ram.hibernate_pending() || crate::heap::in_callback() {
        return;
    }
    if let Some(h) = ram.take_hibernate() {
        // SAFETY: the value was stored from a `coredll_hibernate_handler` by
        // coredll_set_hibernate_handler.
        let f: unsafe extern "C" fn() = unsafe { core::mem::transmute(h) };
        // SAFETY: the application's handler, called as registered.
        unsafe { f() };
    }
}

/// Extension: writes the `COREDLL_REPORT` report now (live heap blocks, peaks, failures
/// injected, the address-space map) to the file `path`, or to stderr when `path` is NULL.
/// Heap blocks are listed only while `COREDLL_REPORT` is set. FALSE with
/// ERROR_INVALID_PARAMETER for an unreadable name, ERROR_ACCESS_DENIED if the file cannot be
/// written.
#[unsafe(no_mangle)]
pub extern "C" fn coredll_report(path: LPCSTR) -> BOOL {
    let target = if path.is_null() {
        crate::report::Target::Stderr
    } else {
        match super::user::read_narrow_string(path) {
            Ok(Some(p)) => crate::report::Target::File(p),
            _ => {
                set_last_error(ERROR_INVALID_PARAMETER);
                return 0;
            }
        }
    };
    if crate::report::write(&target) {
        1
    } else {
        set_last_error(ERROR_ACCESS_DENIED);
        0
    }
}
