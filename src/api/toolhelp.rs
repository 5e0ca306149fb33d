//! CE's toolhelp heap enumeration: CreateToolhelp32Snapshot(TH32CS_SNAPHEAPLIST),
//! Heap32ListFirst/Next, Heap32First/Next (CE's forms, with the snapshot handle) and
//! CloseToolhelp32Snapshot.

use core::mem::size_of;

use super::user;
use super::virtual_mem::CURRENT_PROCESS;
use crate::error::{ResultExt, Win32Error, Win32Result, to_bool};
use crate::heap::snapshot::{self, Snapshot};
use crate::types::*;

fn own_process(pid: DWORD) -> bool {
    pid == 0 || pid as usize == CURRENT_PROCESS || pid == crate::vm::os::process_id()
}

/// A snapshot of this process's heaps (the only lists coredll has); another process's id fails.
#[unsafe(no_mangle)]
pub extern "C" fn CreateToolhelp32Snapshot(dwFlags: DWORD, th32ProcessID: DWORD) -> HANDLE {
    let r = if dwFlags & !(TH32CS_SNAPALL | TH32CS_GETALLMODS) != 0 || !own_process(th32ProcessID) {
        Err(Win32Error::InvalidParameter)
    } else {
        Ok(snapshot::take(dwFlags & TH32CS_SNAPHEAPLIST != 0) as HANDLE)
    };
    r.or_fail(INVALID_HANDLE_VALUE)
}

const INVALID_HANDLE_VALUE: HANDLE = usize::MAX as HANDLE;

/// Closes a snapshot.
#[unsafe(no_mangle)]
pub extern "C" fn CloseToolhelp32Snapshot(hSnapshot: HANDLE) -> BOOL {
    to_bool(if snapshot::close(hSnapshot as usize) {
        Ok(())
    } else {
        Err(Win32Error::InvalidHandle)
    })
}

/// Checks the caller's structure size field (`dwSize` first) against `T`.
fn checked_size<T>(p: *const DWORD) -> Win32Result<()> {
    match user::load(p) {
        Some(n) if n as usize >= size_of::<T>() => Ok(()),
        _ => Err(Win32Error::InvalidParameter),
    }
}

fn snapshot<R>(h: HANDLE, f: impl FnOnce(&mut Snapshot) -> Win32Result<R>) -> Win32Result<R> {
    snapshot::with_snapshot(h as usize, f).unwrap_or(Err(Win32Error::InvalidHandle))
}

fn list_entry(hSnapshot: HANDLE, lphl: LPHEAPLIST32, first: bool) -> BOOL {
    let r = (|| {
        checked_size::<HEAPLIST32>(lphl.cast())?;
        let hl = snapshot(hSnapshot, |s| {
            if first {
                s.list_pos = 0;
            }
            let h = s.heaps.get(s.list_pos).ok_or(Win32Error::NoMoreFiles)?;
            s.list_pos += 1;
            Ok(HEAPLIST32 {
                dwSize: size_of::<HEAPLIST32>() as DWORD,
                th32ProcessID: crate::vm::os::process_id(),
                th32HeapID: h.handle as DWORD,
                dwFlags: h.flags,
            })
        })?;
        if !user::store(lphl, hl) {
            return Err(Win32Error::InvalidParameter);
        }
        Ok(())
    })();
    to_bool(r)
}

/// The snapshot's first heap (the process heap, flagged HF32_DEFAULT).
#[unsafe(no_mangle)]
pub extern "C" fn Heap32ListFirst(hSnapshot: HANDLE, lphl: LPHEAPLIST32) -> BOOL {
    list_entry(hSnapshot, lphl, true)
}

/// The snapshot's next heap; FALSE with ERROR_NO_MORE_FILES after the last.
#[unsafe(no_mangle)]
pub extern "C" fn Heap32ListNext(hSnapshot: HANDLE, lphl: LPHEAPLIST32) -> BOOL {
    list_entry(hSnapshot, lphl, false)
}

/// Fills the caller's entry with entry `index` of heap `heap_id`; the position is kept in
/// `dwResvd` so that walks of different heaps do not disturb each other.
fn heap_entry(hSnapshot: HANDLE, lphe: LPHEAPENTRY32, heap_id: DWORD, index: usize) -> BOOL {
    let r = (|| {
        let he = snapshot(hSnapshot, |s| {
            let h = s
                .heaps
                .iter()
                .find(|h| h.handle as DWORD == heap_id)
                .ok_or(Win32Error::NoMoreFiles)?;
            let e = h.entries.get(index).ok_or(Win32Error::NoMoreFiles)?;
            Ok(HEAPENTRY32 {
                dwSize: size_of::<HEAPENTRY32>() as DWORD,
                hHandle: e.addr as HANDLE,
                dwAddress: e.addr as DWORD,
                dwBlockSize: e.size as DWORD,
                dwFlags: e.flags,
                dwLockCount: e.lock_count,
                dwResvd: (index + 1) as DWORD,
                th32ProcessID: crate::vm::os::process_id(),
                th32HeapID: heap_id,
            })
        })?;
        if !user::store(lphe, he) {
            return Err(Win32Error::InvalidParameter);
        }
        Ok(())
    })();
    to_bool(r)
}

/// The first entry of heap `th32HeapID` in the snapshot.
#[unsafe(no_mangle)]
pub extern "C" fn Heap32First(
    hSnapshot: HANDLE,
    lphe: LPHEAPENTRY32,
    th32ProcessID: DWORD,
    th32HeapID: DWORD,
) -> BOOL {
    if let Err(e) = checked_size::<HEAPENTRY32>(lphe.cast()) {
        return to_bool(Err(e));
    }
    if !own_process(th32ProcessID) {
        return to_bool(Err(Win32Error::NoMoreFiles));
    }
    heap_entry(hSnapshot, lphe, th32HeapID, 0)
}

/// The next entry of the heap the caller's entry belongs to; FALSE with ERROR_NO_MORE_FILES after
/// the last.
#[unsafe(no_mangle)]
pub extern "C" fn Heap32Next(hSnapshot: HANDLE, lphe: LPHEAPENTRY32) -> BOOL {
    let cur = match checked_size::<HEAPENTRY32>(lphe.cast())
        .and_then(|()| user::load(lphe.cast_const()).ok_or(Win32Error::InvalidParameter))
    {
        Ok(c) => c,
        Err(e) => return to_bool(Err(e)),
    };
    heap_entry(hSnapshot, lphe, cur.th32HeapID, cur.dwResvd as usize)
}
