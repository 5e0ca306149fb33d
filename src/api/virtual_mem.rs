//! VirtualAlloc, VirtualFree, VirtualProtect, VirtualQuery, their *Ex forms, and
//! Read/WriteProcessMemory on the current process.

use core::ptr::null_mut;

use super::user;
use crate::config::Profile;
use crate::error::{ResultExt, Win32Error, Win32Result, set_last_error, to_bool};
use crate::inject;
use crate::types::*;
use crate::vm::{self, os::Access};

/// CE's pseudo-handle for the current process, `GetCurrentProcess()`.
pub(crate) const CURRENT_PROCESS: usize = 0x42;

/// The *Ex functions act on the current process only: its pseudo-handle or its id.
fn current_process(h: HANDLE) -> Win32Result<()> {
    let h = h as usize;
    if h == CURRENT_PROCESS || h == crate::vm::os::process_id() as usize {
        Ok(())
    } else {
        Err(Win32Error::InvalidHandle)
    }
}

/// Reserves and/or commits pages. CE 6 sets the last error to 0 on success.
#[unsafe(no_mangle)]
pub extern "C" fn VirtualAlloc(
    lpAddress: LPVOID,
    dwSize: DWORD,
    flAllocationType: DWORD,
    flProtect: DWORD,
) -> LPVOID {
    let space = vm::space();
    // Asked once per call, even when the call is retried below.
    let decided: core::cell::Cell<Option<bool>> = core::cell::Cell::new(None);
    let injected = || decided.get() == Some(true);
    let admit = |size: usize| {
        let fail = decided
            .get()
            .unwrap_or_else(|| inject::should_fail(inject::Api::VirtualAlloc, size));
        decided.set(Some(fail));
        !fail
    };
    let call = || {
        space.alloc_admitted(
            lpAddress as usize,
            dwSize,
            flAllocationType,
            flProtect,
            &admit,
        )
    };
    let mut r = call();
    // Heaps keep freed big blocks for reuse; when the address space runs out they give them back.
    if r == Err(Win32Error::NotEnoughMemory) && !injected() && crate::heap::release_caches() > 0 {
        r = call();
    }
    super::system::fire_hibernate();
    match r {
        Ok(p) => {
            if space.profile() != Profile::Ce5 {
                set_last_error(ERROR_SUCCESS);
            }
            p as LPVOID
        }
        Err(e) => {
            set_last_error(e.code());
            null_mut()
        }
    }
}

/// Decommits pages or releases a whole reservation.
#[unsafe(no_mangle)]
pub extern "C" fn VirtualFree(lpAddress: LPVOID, dwSize: DWORD, dwFreeType: DWORD) -> BOOL {
    to_bool(vm::space().free(lpAddress as usize, dwSize, dwFreeType))
}

/// Changes the protection of committed pages of one reservation; `*lpflOldProtect` receives the
/// first page's previous protection.
#[unsafe(no_mangle)]
pub extern "C" fn VirtualProtect(
    lpAddress: LPVOID,
    dwSize: DWORD,
    flNewProtect: DWORD,
    lpflOldProtect: PDWORD,
) -> BOOL {
    to_bool(protect(
        lpAddress as usize,
        dwSize,
        flNewProtect,
        lpflOldProtect,
    ))
}

fn protect(addr: usize, size: DWORD, new: DWORD, old_out: PDWORD) -> Win32Result<()> {
    // Validate, then store the old protection, then change the pages: a bad out-pointer fails
    // the call without side effects. (Should another thread change the pages in between, the
    // second validation can still fail, after `*old_out` was written.)
    let space = vm::space();
    let old = space.protect(addr, size, new, false)?;
    if !user::store(old_out, old) {
        return Err(Win32Error::InvalidParameter);
    }
    let now = space.protect(addr, size, new, true)?;
    // Another thread changed the first page in between (or its guard fired): report the truth.
    if now != old && !user::store(old_out, now) {
        return Err(Win32Error::InvalidParameter);
    }
    Ok(())
}

/// Describes the run of pages at `lpAddress`; returns sizeof(MEMORY_BASIC_INFORMATION) or 0.
#[unsafe(no_mangle)]
pub extern "C" fn VirtualQuery(
    lpAddress: LPCVOID,
    lpBuffer: PMEMORY_BASIC_INFORMATION,
    dwLength: DWORD,
) -> DWORD {
    query(lpAddress as usize, lpBuffer, dwLength).or_fail(0)
}

fn query(addr: usize, out: PMEMORY_BASIC_INFORMATION, len: DWORD) -> Win32Result<DWORD> {
    let info = vm::space().query(addr)?;
    const SIZE: usize = size_of::<MEMORY_BASIC_INFORMATION>();
    if (len as usize) < SIZE {
        return Err(Win32Error::BadLength);
    }
    let mbi = MEMORY_BASIC_INFORMATION {
        BaseAddress: info.base_address as PVOID,
        AllocationBase: info.allocation_base as PVOID,
        AllocationProtect: info.allocation_protect,
        RegionSize: info.region_size as DWORD,
        State: info.state,
        Protect: info.protect,
        Type: info.kind,
    };
    if !user::store(out, mbi) {
        return Err(Win32Error::InvalidParameter);
    }
    Ok(SIZE as DWORD)
}

/// VirtualAlloc in the current process (its pseudo-handle or id).
#[unsafe(no_mangle)]
pub extern "C" fn VirtualAllocEx(
    hProcess: HANDLE,
    lpAddress: LPVOID,
    dwSize: DWORD,
    flAllocationType: DWORD,
    flProtect: DWORD,
) -> LPVOID {
    match current_process(hProcess) {
        Ok(()) => VirtualAlloc(lpAddress, dwSize, flAllocationType, flProtect),
        Err(e) => Err::<LPVOID, _>(e).or_fail(null_mut()),
    }
}

/// VirtualFree in the current process.
#[unsafe(no_mangle)]
pub extern "C" fn VirtualFreeEx(
    hProcess: HANDLE,
    lpAddress: LPVOID,
    dwSize: DWORD,
    dwFreeType: DWORD,
) -> BOOL {
    to_bool(
        current_process(hProcess)
            .and_then(|()| vm::space().free(lpAddress as usize, dwSize, dwFreeType)),
    )
}

/// VirtualProtect in the current process.
#[unsafe(no_mangle)]
pub extern "C" fn VirtualProtectEx(
    hProcess: HANDLE,
    lpAddress: LPVOID,
    dwSize: DWORD,
    flNewProtect: DWORD,
    lpflOldProtect: PDWORD,
) -> BOOL {
    to_bool(
        current_process(hProcess)
            .and_then(|()| protect(lpAddress as usize, dwSize, flNewProtect, lpflOldProtect)),
    )
}

/// VirtualQuery in the current process.
#[unsafe(no_mangle)]
pub extern "C" fn VirtualQueryEx(
    hProcess: HANDLE,
    lpAddress: LPCVOID,
    lpBuffer: PMEMORY_BASIC_INFORMATION,
    dwLength: DWORD,
) -> DWORD {
    current_process(hProcess)
        .and_then(|()| query(lpAddress as usize, lpBuffer, dwLength))
        .or_fail(0)
}

/// Copies `nSize` bytes of the current process at `lpBaseAddress` to `lpBuffer`, all or nothing.
#[unsafe(no_mangle)]
pub extern "C" fn ReadProcessMemory(
    hProcess: HANDLE,
    lpBaseAddress: LPCVOID,
    lpBuffer: LPVOID,
    nSize: DWORD,
    lpNumberOfBytesRead: LPDWORD,
) -> BOOL {
    to_bool(copy_process_memory(
        hProcess,
        lpBaseAddress as usize,
        lpBuffer as usize,
        nSize,
        lpNumberOfBytesRead,
    ))
}

/// Copies `nSize` bytes from `lpBuffer` into the current process at `lpBaseAddress`, all or
/// nothing: a target that is not wholly writable (read-only, reserved, free) gets no byte.
#[unsafe(no_mangle)]
pub extern "C" fn WriteProcessMemory(
    hProcess: HANDLE,
    lpBaseAddress: LPVOID,
    lpBuffer: LPVOID,
    nSize: DWORD,
    lpNumberOfBytesWritten: LPDWORD,
) -> BOOL {
    to_bool(copy_process_memory(
        hProcess,
        lpBuffer as usize,
        lpBaseAddress as usize,
        nSize,
        lpNumberOfBytesWritten,
    ))
}

fn copy_process_memory(
    h: HANDLE,
    from: usize,
    to: usize,
    n: DWORD,
    count: LPDWORD,
) -> Win32Result<()> {
    current_process(h)?;
    if n >= 0x8000_0000 {
        return Err(Win32Error::InvalidParameter);
    }
    // The count is set on success only, so prove it writable before copying.
    if !count.is_null() && !user::accessible(count as usize, size_of::<DWORD>(), Access::Write) {
        return Err(Win32Error::InvalidParameter);
    }
    let bytes = user::read_bytes(from, n as usize)?.ok_or(Win32Error::InvalidParameter)?;
    if !user::write_bytes(to, &bytes) {
        return Err(Win32Error::InvalidParameter);
    }
    if !count.is_null() && !user::store(count, n) {
        return Err(Win32Error::InvalidParameter);
    }
    Ok(())
}
