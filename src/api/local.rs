//! LocalAlloc and friends: HeapAlloc and company on the process heap, with LMEM_* flags. The
//! Global* functions are macros over these in the header, as in the CE SDK.

use super::heap::{alloc_heap, free_heap, realloc};
use crate::error::{ResultExt, set_last_error};
use crate::heap;
use crate::inject;
use crate::types::*;

/// A fixed block of the process heap. LMEM_MOVEABLE is accepted (the block is fixed anyway),
/// LMEM_ZEROINIT zeroes it; flags outside LMEM_VALID_FLAGS fail.
#[unsafe(no_mangle)]
// (Never inlined into Rust callers, the benchmarks among them: they see the call C code makes.)
#[inline(never)]
pub extern "C" fn LocalAlloc(uFlags: UINT, uBytes: UINT) -> HLOCAL {
    // The thread cache's leaf path (`heap::cache::alloc`), on the process heap's fixed
    // handle.
    if uFlags & (!LMEM_VALID_FLAGS | LMEM_ZEROINIT) == 0
        && let Some(p) = heap::cache::alloc(heap::PROCESS_HANDLE, uBytes as usize)
    {
        return p as HLOCAL;
    }
    local_alloc(uFlags, uBytes)
}

// (The leaf paths' tails are C functions, which cannot unwind, so that they stay tail calls when
// the crate is built to unwind, as the benchmarks are.)
#[inline(never)]
extern "C" fn local_alloc(uFlags: UINT, uBytes: UINT) -> HLOCAL {
    if uFlags & !LMEM_VALID_FLAGS != 0 {
        set_last_error(ERROR_INVALID_PARAMETER);
        return core::ptr::null_mut();
    }
    let flags = if uFlags & LMEM_ZEROINIT != 0 {
        HEAP_ZERO_MEMORY
    } else {
        0
    };
    alloc_heap(heap::process_heap(), flags, uBytes, inject::Api::LocalAlloc)
}

/// LocalAlloc with a caller-supplied return address (CE's debug builds call this one).
#[unsafe(no_mangle)]
pub extern "C" fn LocalAllocTrace(uFlags: UINT, uBytes: UINT, retAddress: UINT) -> HLOCAL {
    let _ = retAddress;
    LocalAlloc(uFlags, uBytes)
}

/// Resizes a block of the process heap: in place only, unless LMEM_MOVEABLE lets it move.
#[unsafe(no_mangle)]
pub extern "C" fn LocalReAlloc(hMem: HLOCAL, uBytes: UINT, uFlags: UINT) -> HLOCAL {
    if uFlags & !(LMEM_VALID_FLAGS | LMEM_MODIFY) != 0
        || (uFlags & LMEM_DISCARDABLE != 0 && uFlags & LMEM_MODIFY == 0)
    {
        set_last_error(ERROR_INVALID_PARAMETER);
        return core::ptr::null_mut();
    }
    let mut flags = 0;
    if uFlags & LMEM_ZEROINIT != 0 {
        flags |= HEAP_ZERO_MEMORY;
    }
    if uFlags & LMEM_MOVEABLE == 0 {
        flags |= HEAP_REALLOC_IN_PLACE_ONLY;
    }
    realloc(
        heap::process_heap(),
        flags,
        hMem as usize,
        uBytes,
        inject::Api::LocalReAlloc,
    )
}

/// The block's size (rounded up to 8), or 0 with ERROR_INVALID_PARAMETER.
#[unsafe(no_mangle)]
pub extern "C" fn LocalSize(hMem: HLOCAL) -> UINT {
    heap::with(heap::process_heap(), |st| st.size(hMem as usize))
        .map(|n| n as UINT)
        .or_fail(0)
}

/// Frees a block of the process heap: NULL on success (and for NULL), the pointer itself with
/// ERROR_INVALID_PARAMETER when it is not a live block.
#[unsafe(no_mangle)]
// (As LocalAlloc: never inlined.)
#[inline(never)]
pub extern "C" fn LocalFree(hMem: HLOCAL) -> HLOCAL {
    // The thread cache's leaf path (`heap::cache::free`), on the process heap's fixed
    // handle; NULL is no block it takes.
    match heap::cache::free(heap::PROCESS_HANDLE, hMem as usize) {
        heap::cache::Freed::Cached => core::ptr::null_mut(),
        heap::cache::Freed::Retry => local_free_retry(hMem),
        heap::cache::Freed::Heap => local_free(hMem, false),
    }
}

/// `local_free` when the cache may still take the block (a tail of its own, so that the leaf path
/// keeps no flag for it).
#[inline(never)]
extern "C" fn local_free_retry(hMem: HLOCAL) -> HLOCAL {
    local_free(hMem, true)
}

#[inline(never)]
extern "C" fn local_free(hMem: HLOCAL, retry: bool) -> HLOCAL {
    if hMem.is_null() {
        return hMem;
    }
    // HeapFree's rules (and error) on the process heap; only the failure return differs.
    if free_heap(heap::process_heap(), hMem as usize, retry) != 0 {
        core::ptr::null_mut()
    } else {
        hMem
    }
}
