//! Reading and writing caller memory without ever faulting. The page tables (for the window) or
//! the host's mapping list decide what is allowed; the copy itself is made by the kernel
//! (process_vm_readv/writev), which reports an address that went bad meanwhile as an error
//! instead of a signal. Only out-buffers in the live part of the caller's stack are written
//! directly.

use core::cell::Cell;
use core::mem::size_of;

use crate::error::{Win32Error, Win32Result};
use crate::vm::{self, os, os::Access};

thread_local! {
    // This thread's stack, found once: (low, high), or (0, 0) before.
    static STACK: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Whether `[addr, addr+len)` lies in the calling thread's stack above this frame, which is
/// mapped and writable (a stale pointer there hits live frames, the caller's own doing). False
/// when this frame is not on the thread's own stack (a coroutine or signal stack), whose bounds
/// are unknown.
fn on_live_stack(addr: usize, len: usize) -> bool {
    let here = &len as *const usize as usize;
    let (low, high) = STACK.with(|s| {
        if s.get().1 == 0 {
            s.set(os::current_thread_stack().unwrap_or((0, 1)));
        }
        s.get()
    });
    here >= low
        && here < high
        && addr > here
        && addr.checked_add(len).is_some_and(|end| end <= high)
}

/// Whether the caller's `[addr, addr+len)` (len > 0) allows `access` right now.
pub fn accessible(addr: usize, len: usize, access: Access) -> bool {
    if addr == 0 {
        return false;
    }
    match vm::space().access(addr, len, access) {
        Some(answer) => answer,
        None if on_live_stack(addr, len) => true,
        None => match access {
            Access::Read => os::host_readable(addr, len),
            Access::Write => os::host_range_allows(addr, len, Access::Write),
        },
    }
}

/// Copies `len` bytes between `buf` and the caller's window memory at `addr`, which the page
/// tables allowed: strict auto-commit pages are committed first, and a range with a guard page
/// goes through /proc/self/mem, so the copy neither faults nor fires the guard.
///
/// # Safety
/// `buf` is valid for `len` bytes (written when reading from the window).
unsafe fn copy_window(addr: usize, buf: *mut u8, len: usize, write: bool) -> bool {
    if vm::space().prepare_access(addr, len) {
        let access = if write { Access::Write } else { Access::Read };
        return vm::space().copy_forced(addr, buf, len, access);
    }
    if write {
        // SAFETY: `buf` is readable for `len` bytes (caller).
        unsafe { os::write_unfaulting(addr, buf, len) }
    } else {
        // SAFETY: `buf` is writable for `len` bytes (caller).
        os::read_unfaulting(addr, unsafe { core::slice::from_raw_parts_mut(buf, len) })
    }
}

/// Stores `value` at the caller's `ptr`; false, with nothing written, if it is not writable.
pub fn store<T: Copy>(ptr: *mut T, value: T) -> bool {
    let addr = ptr as usize;
    let len = size_of::<T>();
    if addr == 0 {
        return false;
    }
    // The common case first (VirtualQuery's buffer, VirtualProtect's old protection): an
    // out-buffer in the caller's live frame needs no window lookup.
    if on_live_stack(addr, len) {
        // SAFETY: the live part of this thread's stack is mapped and writable.
        unsafe { ptr.write_unaligned(value) };
        return true;
    }
    match vm::space().access(addr, len, Access::Write) {
        Some(false) => false,
        // SAFETY: `value` is a live local of `len` bytes, only read.
        Some(true) => unsafe {
            copy_window(addr, (&value as *const T).cast_mut().cast(), len, true)
        },
        // SAFETY: `value` is a live local of `len` bytes.
        None => unsafe { os::write_unfaulting(addr, (&value as *const T).cast(), len) },
    }
}

/// A zeroed buffer, or None when the host cannot provide it (instead of aborting).
fn zeroed_buffer(len: usize) -> Option<Vec<u8>> {
    if len == 0 {
        return Some(Vec::new());
    }
    let layout = std::alloc::Layout::array::<u8>(len).ok()?;
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { std::alloc::alloc_zeroed(layout) };
    // SAFETY: `p` came from the global allocator with this exact layout and holds `len`
    // initialised (zero) bytes.
    (!p.is_null()).then(|| unsafe { Vec::from_raw_parts(p, len, len) })
}

/// Copies the caller's `[addr, addr+len)` out: Ok(None) if some byte is not readable.
pub fn read_bytes(addr: usize, len: usize) -> Win32Result<Option<Vec<u8>>> {
    let mut buf = zeroed_buffer(len).ok_or(Win32Error::NotEnoughMemory)?;
    if len == 0 {
        return Ok(Some(buf));
    }
    Ok(match vm::space().access(addr, len, Access::Read) {
        Some(false) => None,
        // SAFETY: `buf` holds `len` bytes.
        Some(true) => unsafe { copy_window(addr, buf.as_mut_ptr(), len, false) }.then_some(buf),
        None => os::read_unfaulting(addr, &mut buf).then_some(buf),
    })
}

/// Copies `bytes` to the caller's `addr` only if every destination byte is writable: nothing is
/// written otherwise.
pub fn write_bytes(addr: usize, bytes: &[u8]) -> bool {
    let len = bytes.len();
    if len == 0 {
        return true;
    }
    if addr == 0 {
        return false;
    }
    match vm::space().access(addr, len, Access::Write) {
        Some(false) => false,
        // SAFETY: `bytes` is a live slice of `len` bytes, only read.
        Some(true) => unsafe { copy_window(addr, bytes.as_ptr().cast_mut(), len, true) },
        None if on_live_stack(addr, len) => {
            // SAFETY: the live part of this thread's stack is mapped and writable.
            unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, len) };
            true
        }
        // The mapping list first, so a partly writable target gets no byte; the kernel still
        // copies, so a mapping that changed since cannot fault us.
        None => {
            os::host_range_allows(addr, len, Access::Write)
                // SAFETY: `bytes` is a live slice of `len` bytes.
                && unsafe { os::write_unfaulting(addr, bytes.as_ptr(), len) }
        }
    }
}

/// Reads a NUL-terminated string of `T` units from the caller, a page at a time so that no
/// read crosses into a page the string does not reach: None if some unit is unreadable or no NUL
/// comes within `max` units.
fn read_units<T: Copy + Default + PartialEq>(addr: usize, max: usize) -> Option<Vec<T>> {
    let unit = size_of::<T>();
    let mut units = Vec::new();
    let mut at = addr;
    while units.len() < max {
        let to_page_end = os::host_page_size() - at % os::host_page_size();
        let n = (to_page_end / unit).clamp(1, max - units.len());
        let bytes = read_bytes(at, n * unit).ok()??;
        for chunk in bytes.chunks_exact(unit) {
            // SAFETY: `chunk` holds exactly one T's bytes, and T is a plain integer type.
            let u = unsafe { core::ptr::read_unaligned(chunk.as_ptr() as *const T) };
            if u == T::default() {
                return Some(units);
            }
            units.push(u);
        }
        at += n * unit;
    }
    None
}

/// The longest name or path accepted, in characters (CE's paths are far shorter).
const MAX_STRING: usize = 32 * 1024;

/// A caller's UTF-16 string (LPCWSTR): Ok(None) for NULL, Err for an unreadable or unterminated
/// one or one that is not UTF-16.
pub fn read_wide_string(ptr: *const u16) -> Win32Result<Option<String>> {
    if ptr.is_null() {
        return Ok(None);
    }
    let units = read_units::<u16>(ptr as usize, MAX_STRING).ok_or(Win32Error::InvalidParameter)?;
    String::from_utf16(&units)
        .map(Some)
        .map_err(|_| Win32Error::InvalidParameter)
}

/// A caller's 8-bit string (LPCSTR), taken as UTF-8 (bytes that are not become U+FFFD).
pub fn read_narrow_string(ptr: *const core::ffi::c_char) -> Win32Result<Option<String>> {
    if ptr.is_null() {
        return Ok(None);
    }
    let bytes = read_units::<u8>(ptr as usize, MAX_STRING).ok_or(Win32Error::InvalidParameter)?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Reads a `T` from the caller's `ptr`; None if some byte is not readable.
pub fn load<T: Copy>(ptr: *const T) -> Option<T> {
    let addr = ptr as usize;
    if addr == 0 {
        return None;
    }
    let bytes = read_bytes(addr, size_of::<T>()).ok()??;
    // SAFETY: `bytes` holds size_of::<T>() bytes copied from a `T` the caller owns; the types read
    // this way (CE structs of integers and pointers) are valid for any bit pattern.
    Some(unsafe { bytes.as_ptr().cast::<T>().read_unaligned() })
}
