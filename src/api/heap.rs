//! HeapCreate and friends, CeHeapCreate, and the desktop extensions HeapLock, HeapUnlock,
//! HeapWalk and GetProcessHeaps.

use core::ptr::null_mut;

use super::user;
use crate::config::Profile;
use crate::error::{ResultExt, Win32Error, Win32Result, set_last_error, to_bool};
use crate::heap::{self, Backend, EntryKind, MAX_BLOCK, Options};
use crate::inject;
use crate::report;
use crate::types::*;

fn ce5() -> bool {
    crate::config::profile() == Profile::Ce5
}

/// A request size: CE 6 rejects more than 1 GB as a bad parameter, CE 5 as out of memory.
#[inline]
pub(super) fn check_size(n: DWORD) -> Win32Result<usize> {
    let n = n as usize;
    if n <= MAX_BLOCK {
        Ok(n)
    } else if ce5() {
        Err(Win32Error::NotEnoughMemory)
    } else {
        Err(Win32Error::InvalidParameter)
    }
}

/// Whether the heaps' fast paths must step aside: fault injection, the report or the page heap
/// is on (read once; one load on the fast path).
#[inline(always)]
fn careful_only() -> bool {
    static CAREFUL: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
    match CAREFUL.load(std::sync::atomic::Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let on = inject::active() || report::active() || heap::page_heap();
            CAREFUL.store(if on { 2 } else { 1 }, std::sync::atomic::Ordering::Relaxed);
            on
        }
    }
}

#[inline]
fn ptr<T>(p: usize) -> *mut T {
    p as *mut T
}

/// The process heap (never destroyed).
#[unsafe(no_mangle)]
pub extern "C" fn GetProcessHeap() -> HANDLE {
    ptr(heap::process_heap())
}

fn create(flOptions: DWORD, initial: DWORD, maximum: DWORD, backend: Backend) -> HANDLE {
    let r = (|| {
        if maximum as usize > MAX_BLOCK || (maximum != 0 && initial > maximum) {
            return Err(Win32Error::InvalidParameter);
        }
        let _ = flOptions;
        if inject::should_fail(inject::Api::HeapCreate, initial.max(maximum) as usize) {
            return Err(Win32Error::NotEnoughMemory);
        }
        heap::create(Options {
            initial: initial as usize,
            maximum: maximum as usize,
            backend,
            process: false,
        })
    })();
    ptr(r.or_fail(0))
}

/// A private heap: growable in 60 KB regions when `dwMaximumSize` is 0, else fixed at that size.
/// HEAP_NO_SERIALIZE is accepted and ignored (CE heaps are always serialized).
#[unsafe(no_mangle)]
pub extern "C" fn HeapCreate(
    flOptions: DWORD,
    dwInitialSize: DWORD,
    dwMaximumSize: DWORD,
) -> HANDLE {
    if flOptions & !(HEAP_NO_SERIALIZE | HEAP_SHARED_READONLY) != 0 {
        set_last_error(ERROR_INVALID_PARAMETER);
        return null_mut();
    }
    create(flOptions, dwInitialSize, dwMaximumSize, Backend::Vm)
}

/// A heap whose memory comes from the caller's callbacks (reserve/commit through `pfnAlloc`,
/// decommit/release through `pfnFree`).
#[unsafe(no_mangle)]
pub extern "C" fn CeHeapCreate(
    flOptions: DWORD,
    dwInitialSize: DWORD,
    dwMaximumSize: DWORD,
    pfnAlloc: PFN_AllocHeapMem,
    pfnFree: PFN_FreeHeapMem,
) -> HANDLE {
    match (flOptions, pfnAlloc, pfnFree) {
        (0, Some(alloc), Some(free)) => create(
            0,
            dwInitialSize,
            dwMaximumSize,
            Backend::Callbacks { alloc, free },
        ),
        _ => {
            set_last_error(ERROR_INVALID_PARAMETER);
            null_mut()
        }
    }
}

/// Releases the heap and all its memory; the process heap cannot be destroyed.
#[unsafe(no_mangle)]
pub extern "C" fn HeapDestroy(hHeap: HANDLE) -> BOOL {
    let r = heap::destroy(hHeap as usize);
    if r.is_ok() && report::active() {
        report::destroyed(hHeap as usize);
    }
    to_bool(r)
}

#[inline(always)]
pub(super) fn alloc(h: usize, flags: DWORD, n: DWORD, api: inject::Api) -> LPVOID {
    // The thread cache's leaf path; everything else (and the first call) goes to alloc_heap.
    // (No careful test here: a cache is only ever bound below, once careful_only() said no.)
    if flags & !HEAP_NO_SERIALIZE == 0 {
        if let Some(p) = heap::cache::alloc(h, n as usize) {
            return ptr(p);
        }
        // (HEAP_NO_SERIALIZE changes nothing, so the miss need not carry the flags.)
        return alloc_heap(h, 0, n, api);
    }
    alloc_heap(h, flags, n, api)
}

/// HeapAlloc past the thread cache: the heap's own fast path, else the careful one.
#[inline(never)]
pub(super) fn alloc_heap(h: usize, flags: DWORD, n: DWORD, api: inject::Api) -> LPVOID {
    let careful = careful_only();
    if flags & !(HEAP_NO_SERIALIZE | HEAP_ZERO_MEMORY) == 0
        && n as usize <= heap::cache::CACHE_MAX
        && !careful
        && let Some(p) = heap::cache::alloc_refill(h, n as usize, flags & HEAP_ZERO_MEMORY != 0)
    {
        return ptr(p);
    }
    if flags & !HEAP_NO_SERIALIZE == 0
        && !careful
        && let Some(p) = heap::quick(
            h,
            #[inline(always)]
            |st| st.alloc_quick(n as usize),
        )
    {
        super::system::fire_hibernate();
        return ptr(p);
    }
    let attempt = || {
        if flags & !(HEAP_NO_SERIALIZE | HEAP_ZERO_MEMORY) != 0 {
            return Err(Win32Error::InvalidParameter);
        }
        // The handle first: CE 5's error for a size over 1 GB comes from the allocation itself.
        heap::with(h, |st| {
            let n = check_size(n)?;
            if inject::should_fail(api, n) {
                return Err(Win32Error::NotEnoughMemory);
            }
            let p = st.alloc(n, flags & HEAP_ZERO_MEMORY != 0)?;
            if report::active() {
                report::allocated(h, p, st.size(p)?);
            }
            Ok(p)
        })
    };
    let r = again_if_cached(h, attempt(), attempt);
    super::system::fire_hibernate();
    ptr(r.or_fail(0))
}

/// A heap out of memory may have it in this thread's cache: give that back and try once more.
/// (Never with fault injection on: its careful mode keeps the caches empty, so a failure is
/// counted once.)
fn again_if_cached<R>(
    h: usize,
    r: Win32Result<R>,
    attempt: impl FnOnce() -> Win32Result<R>,
) -> Win32Result<R> {
    if matches!(r, Err(Win32Error::NotEnoughMemory)) && heap::cache::flush_heap(h) {
        attempt()
    } else {
        r
    }
}

/// A block of at least `dwBytes` (HeapSize: rounded up to 8), 16-byte aligned.
#[unsafe(no_mangle)]
#[cfg_attr(target_arch = "x86_64", unsafe(naked))]
pub extern "C" fn HeapAlloc(hHeap: HANDLE, dwFlags: DWORD, dwBytes: DWORD) -> LPVOID {
    // On x86-64 the thread cache's leaf path is written out in assembly, step for step as
    // `heap::cache::alloc` (which LocalAlloc uses): it saves the compiler's register spills, about
    // a tenth of a cached pair. Every miss goes on to the same Rust code as elsewhere.
    #[cfg(target_arch = "x86_64")]
    core::arch::naked_asm!(
        // (Unwind information, for debuggers and profilers: no frame, nothing saved.)
        ".cfi_startproc",
        // Flags other than HEAP_NO_SERIALIZE (which changes nothing), or a size no cache serves.
        "cmp esi, 1",
        "ja {with_flags}",
        "cmp edx, {max}",
        "ja 2f",
        // This thread's cache (none, or parked: the Rust path).
        "mov rax, qword ptr [rip + coredll_thread_cache@gottpoff]",
        "mov rcx, qword ptr fs:[rax]",
        "cmp rcx, {no_cache}",
        "jbe 2f",
        // rcx: the handle's way, bound to it, its heap's stamp unchanged (its EPOCHS entry
        // unchanged; r8 is free again after).
        "mov eax, edi",
        "and eax, {way_mask}",
        "lea r8, [rip + {epochs}]",
        "mov r8, qword ptr [r8 + rax*{epoch_scale}]",
        "shl eax, {way_shift}",
        "add rcx, rax",
        "cmp qword ptr [rcx + {handle}], rdi",
        "jne 2f",
        "cmp r8, qword ptr [rcx + {way_epoch}]",
        "jne 2f",
        // r8: the class's stack offset | the `short` entry above it (QUICK); r9: the stack;
        // r10: 16 × (its count - 1).
        "lea eax, [rdx + 7]",
        "shr eax, 3",
        "lea r8, [rip + {quick}]",
        "mov r8d, dword ptr [r8 + rax*4]",
        "mov r9d, r8d",
        "and r9d, {quick_off}",
        "add r9, rcx",
        "movzx r10d, word ptr [r9 + {top}]",
        "sub r10d, 16",
        "jb 2f",
        // The top entry: r11 the block, rsi its size record.
        "mov r11, qword ptr [r9 + r10 + {items}]",
        "mov rsi, qword ptr [r9 + r10 + {items} + 8]",
        // Its tag intact (else the Rust path takes it and reports the damage).
        "mov rax, qword ptr [r11]",
        "xor rax, r11",
        "cmp rax, {key}",
        "jne 2f",
        // Popped, its exact size recorded with HELD (the tag stays, see `cache::hand_out`).
        "mov word ptr [r9 + {top}], r10w",
        "shr r8d, {quick_short}",
        "mov word ptr [rsi], r8w",
        "mov rax, r11",
        "ret",
        "2:",
        "mov esi, edx",
        "jmp {miss}",
        ".cfi_endproc",
        with_flags = sym heap_alloc_with_flags,
        miss = sym heap_alloc_miss,
        quick = sym heap::cache::layout::QUICK_TABLE,
        max = const heap::cache::layout::MAX,
        quick_off = const heap::cache::layout::QUICK_OFF_MASK,
        quick_short = const heap::cache::layout::QUICK_SHORT,
        no_cache = const heap::cache::layout::NO_CACHE_MAX,
        way_mask = const heap::cache::layout::WAY_MASK,
        way_shift = const heap::cache::layout::WAY_SHIFT,
        handle = const heap::cache::layout::HANDLE,
        epochs = sym heap::cache::layout::EPOCHS,
        epoch_scale = const heap::cache::layout::EPOCH_SCALE,
        way_epoch = const heap::cache::layout::WAY_EPOCH,
        top = const heap::cache::layout::TOP,
        items = const heap::cache::layout::ITEMS,
        key = const heap::TAG_KEY as i32,
    );
    #[cfg(not(target_arch = "x86_64"))]
    return alloc(hHeap as usize, dwFlags, dwBytes, inject::Api::HeapAlloc);
}

/// HeapAlloc with flags other than HEAP_NO_SERIALIZE (x86-64 leaf path's tail).
#[cfg(target_arch = "x86_64")]
extern "C" fn heap_alloc_with_flags(hHeap: HANDLE, dwFlags: DWORD, dwBytes: DWORD) -> LPVOID {
    alloc_heap(hHeap as usize, dwFlags, dwBytes, inject::Api::HeapAlloc)
}

/// HeapAlloc past the thread cache's leaf (x86-64 leaf path's tail).
#[cfg(target_arch = "x86_64")]
extern "C" fn heap_alloc_miss(hHeap: HANDLE, dwBytes: DWORD) -> LPVOID {
    alloc_heap(hHeap as usize, 0, dwBytes, inject::Api::HeapAlloc)
}

/// HeapAlloc with the caller's source position (CE's debug builds call this one).
#[unsafe(no_mangle)]
pub extern "C" fn HeapAllocTrace(
    hHeap: HANDLE,
    dwFlags: DWORD,
    dwBytes: DWORD,
    dwLineNum: DWORD,
    szFilename: PCHAR,
) -> LPVOID {
    let _ = (dwLineNum, szFilename);
    alloc(hHeap as usize, dwFlags, dwBytes, inject::Api::HeapAlloc)
}

pub(super) fn realloc(h: usize, flags: DWORD, p: usize, n: DWORD, api: inject::Api) -> LPVOID {
    const ALLOWED: DWORD = HEAP_GENERATE_EXCEPTIONS
        | HEAP_NO_SERIALIZE
        | HEAP_REALLOC_IN_PLACE_ONLY
        | HEAP_ZERO_MEMORY;
    let attempt = || {
        if flags & !ALLOWED != 0 {
            return Err(Win32Error::InvalidParameter);
        }
        if flags & HEAP_GENERATE_EXCEPTIONS != 0 {
            return Err(Win32Error::NotSupported);
        }
        heap::with(h, |st| {
            // The handle and the block first (see `alloc`).
            let old = st.size(p)?;
            let n = check_size(n)?;
            // A block that shrinks never fails, as on CE: only growth is counted.
            if heap::size_for(n) > old && inject::should_fail(api, n) {
                return Err(Win32Error::NotEnoughMemory);
            }
            let q = st.realloc(
                p,
                n,
                flags & HEAP_REALLOC_IN_PLACE_ONLY != 0,
                flags & HEAP_ZERO_MEMORY != 0,
            )?;
            if report::active() {
                report::freed(h, p);
                report::allocated(h, q, st.size(q)?);
            }
            Ok(q)
        })
    };
    // A block that may not move fails to grow for want of the memory right after it, which the
    // caller's cache seldom holds; a second try would flush the cache on every such call
    // (LocalReAlloc without LMEM_MOVEABLE makes many).
    let r = if flags & HEAP_REALLOC_IN_PLACE_ONLY != 0 {
        attempt()
    } else {
        again_if_cached(h, attempt(), attempt)
    };
    super::system::fire_hibernate();
    ptr(r.or_fail(0))
}

/// Resizes a block: in place when it can (always when shrinking), else (unless
/// HEAP_REALLOC_IN_PLACE_ONLY) by moving it.
#[unsafe(no_mangle)]
pub extern "C" fn HeapReAlloc(
    hHeap: HANDLE,
    dwFlags: DWORD,
    lpMem: LPVOID,
    dwBytes: DWORD,
) -> LPVOID {
    realloc(
        hHeap as usize,
        dwFlags,
        lpMem as usize,
        dwBytes,
        inject::Api::HeapReAlloc,
    )
}

/// Frees a block. NULL, freed, interior, foreign and wild pointers fail with
/// ERROR_INVALID_PARAMETER (`HeapFree(h, 0, NULL)` fails on CE).
#[unsafe(no_mangle)]
#[cfg_attr(target_arch = "x86_64", unsafe(naked))]
pub extern "C" fn HeapFree(hHeap: HANDLE, dwFlags: DWORD, lpMem: LPVOID) -> BOOL {
    // On x86-64 the thread cache's leaf path is written out in assembly, step for step as
    // `heap::cache::free` with its `claim` and `push` (which LocalFree uses; see HeapAlloc).
    #[cfg(target_arch = "x86_64")]
    core::arch::naked_asm!(
        ".cfi_startproc",
        "cmp esi, 1",
        "ja {bad_flags}",
        // This thread's cache (none, or parked: the Rust path, which may make or bind it).
        "mov rax, qword ptr [rip + coredll_thread_cache@gottpoff]",
        "mov rcx, qword ptr fs:[rax]",
        "cmp rcx, {no_cache}",
        "jbe 3f",
        // rcx: the handle's way, bound to it, its heap's stamp unchanged (its EPOCHS entry
        // unchanged; r8 is free again after).
        "mov eax, edi",
        "and eax, {way_mask}",
        "lea r8, [rip + {epochs}]",
        "mov r8, qword ptr [r8 + rax*{epoch_scale}]",
        "shl eax, {way_shift}",
        "add rcx, rax",
        "cmp qword ptr [rcx + {handle}], rdi",
        "jne 3f",
        "cmp r8, qword ptr [rcx + {way_epoch}]",
        "jne 3f",
        // rax: the unit's index in the first window, for a 16-byte-aligned pointer (the rotation
        // puts any other's low bits at the top, out of range).
        "mov rax, rdx",
        "sub rax, qword ptr [rcx + {win_base}]",
        "ror rax, 4",
        "cmp rax, qword ptr [rcx + {win_units}]",
        "jae 2f",
        // r8: its page's tag, r9d the tag read; r10: tag - owner, the stack offset of the class
        // of this heap's slab.
        "mov r8, rax",
        "shr r8, {unit_page_shift}",
        "mov r9, qword ptr [rcx + {tags}]",
        "lea r8, [r9 + r8*4]",
        "mov r9d, dword ptr [r8]",
        "mov r10d, r9d",
        "sub r10d, dword ptr [rcx + {owner}]",
        "cmp r10d, {last_stack}",
        "ja 2f",
        // r10: the stack; r11: its count × 16. A full stack goes to the Rust path, which gives
        // half back.
        "add r10, rcx",
        "movzx r11d, word ptr [r10 + {top}]",
        "cmp r11w, word ptr [r10 + {top_limit}]",
        "jae 3f",
        // rax: the unit's `short` entry; the claim (clearing HELD) says a live block starts here.
        "mov rsi, qword ptr [rcx + {shorts}]",
        "lea rax, [rsi + rax*2]",
        "lock btr word ptr [rax], 9",
        "jnc 2f",
        // The tag again (a region released and made again meanwhile: the claim stays).
        "cmp dword ptr [r8], r9d",
        "jne 2f",
        // Tagged and pushed.
        "mov rsi, rdx",
        "xor rsi, {key}",
        "mov qword ptr [rdx], rsi",
        "mov qword ptr [r10 + r11 + {items}], rdx",
        "mov qword ptr [r10 + r11 + {items} + 8], rax",
        "add r11d, 16",
        "mov word ptr [r10 + {top}], r11w",
        "mov eax, 1",
        "ret",
        // The heap decides and reports.
        "2:",
        "mov rsi, rdx",
        "jmp {heap_free}",
        // The cache may still take it.
        "3:",
        "mov rsi, rdx",
        "jmp {retry}",
        ".cfi_endproc",
        bad_flags = sym heap_free_bad_flags,
        heap_free = sym heap_free_miss,
        retry = sym heap_free_retry,
        no_cache = const heap::cache::layout::NO_CACHE_MAX,
        way_mask = const heap::cache::layout::WAY_MASK,
        way_shift = const heap::cache::layout::WAY_SHIFT,
        handle = const heap::cache::layout::HANDLE,
        epochs = sym heap::cache::layout::EPOCHS,
        epoch_scale = const heap::cache::layout::EPOCH_SCALE,
        way_epoch = const heap::cache::layout::WAY_EPOCH,
        win_base = const heap::cache::layout::WIN_BASE,
        win_units = const heap::cache::layout::WIN_UNITS,
        unit_page_shift = const heap::cache::layout::UNIT_PAGE_SHIFT,
        tags = const heap::cache::layout::TAGS,
        owner = const heap::cache::layout::OWNER,
        last_stack = const heap::cache::layout::LAST_STACK,
        top = const heap::cache::layout::TOP,
        top_limit = const heap::cache::layout::TOP_LIMIT,
        shorts = const heap::cache::layout::SHORTS,
        key = const heap::TAG_KEY as i32,
        items = const heap::cache::layout::ITEMS,
    );
    #[cfg(not(target_arch = "x86_64"))]
    {
        if dwFlags & !HEAP_NO_SERIALIZE != 0 {
            return bad_flags();
        }
        return free(hHeap as usize, lpMem as usize);
    }
}

#[cfg_attr(not(target_arch = "x86_64"), cold, inline(never))]
fn bad_flags() -> BOOL {
    set_last_error(ERROR_INVALID_PARAMETER);
    0
}

/// HeapFree with flags other than HEAP_NO_SERIALIZE (x86-64 leaf path's tail).
#[cfg(target_arch = "x86_64")]
#[cold]
extern "C" fn heap_free_bad_flags() -> BOOL {
    bad_flags()
}

/// HeapFree of a block the cache does not take (x86-64 leaf path's tail).
#[cfg(target_arch = "x86_64")]
extern "C" fn heap_free_miss(hHeap: HANDLE, lpMem: LPVOID) -> BOOL {
    free_heap(hHeap as usize, lpMem as usize, false)
}

/// HeapFree when the cache may still take the block (x86-64 leaf path's tail).
#[cfg(target_arch = "x86_64")]
extern "C" fn heap_free_retry(hHeap: HANDLE, lpMem: LPVOID) -> BOOL {
    free_heap(hHeap as usize, lpMem as usize, true)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn free(h: usize, p: usize) -> BOOL {
    // As in `alloc`: no careful test, a cache is bound only when the careful paths are off.
    match heap::cache::free(h, p) {
        heap::cache::Freed::Cached => 1,
        heap::cache::Freed::Retry => free_heap(h, p, true),
        heap::cache::Freed::Heap => free_heap(h, p, false),
    }
}

/// HeapFree past the thread cache's leaf path (`retry`: the cache may still take the block).
#[inline(never)]
pub(super) fn free_heap(h: usize, p: usize, retry: bool) -> BOOL {
    if careful_only() {
        return free_careful(h, p);
    }
    if (retry && heap::cache::free_bind(h, p))
        || heap::quick(
            h,
            #[inline(always)]
            |st| st.free_quick(p).then_some(()),
        )
        .is_some()
    {
        return 1;
    }
    free_careful(h, p)
}

fn free_careful(h: usize, p: usize) -> BOOL {
    to_bool(heap::with(h, |st| {
        st.free(p)?;
        if report::active() {
            report::freed(h, p);
        }
        Ok(())
    }))
}

/// The block's size: what was asked, rounded up to 8; (DWORD)-1 for anything else.
#[unsafe(no_mangle)]
pub extern "C" fn HeapSize(hHeap: HANDLE, dwFlags: DWORD, lpMem: LPCVOID) -> DWORD {
    let r = (|| {
        if dwFlags & !HEAP_NO_SERIALIZE != 0 {
            return Err(Win32Error::InvalidParameter);
        }
        heap::with(hHeap as usize, |st| st.size(lpMem as usize))
    })();
    r.map(|n| n as DWORD).or_fail(DWORD::MAX)
}

/// TRUE if `lpMem` is a live block of the heap, or (NULL) if the heap is intact. Never sets the
/// last error.
#[unsafe(no_mangle)]
pub extern "C" fn HeapValidate(hHeap: HANDLE, dwFlags: DWORD, lpMem: LPCVOID) -> BOOL {
    if dwFlags & !HEAP_NO_SERIALIZE != 0 {
        return 0;
    }
    let p = lpMem as usize;
    if p == 0 {
        // The calling thread's cached blocks are checked on the way back to the heap.
        heap::cache::flush_heap(hHeap as usize);
    }
    let ok = heap::with(hHeap as usize, |st| {
        Ok(if p == 0 {
            st.validate()
        } else {
            st.is_block(p)
        })
    });
    BOOL::from(ok == Ok(true))
}

/// Gives the heap's free pages back and returns its largest free block (0 sets the last error
/// to 0).
#[unsafe(no_mangle)]
pub extern "C" fn HeapCompact(hHeap: HANDLE, dwFlags: DWORD) -> UINT {
    let r = (|| {
        if dwFlags & !HEAP_NO_SERIALIZE != 0 {
            return Err(Win32Error::InvalidParameter);
        }
        heap::cache::flush_heap(hHeap as usize);
        heap::with(hHeap as usize, |st| Ok(st.compact()))
    })();
    match r {
        Ok(n) => {
            if n == 0 {
                set_last_error(ERROR_SUCCESS);
            }
            n.min(UINT::MAX as usize) as UINT
        }
        Err(e) => {
            set_last_error(e.code());
            0
        }
    }
}

/// Extension (desktop): holds the heap's lock until HeapUnlock; other threads' calls on the heap
/// wait meanwhile.
#[unsafe(no_mangle)]
pub extern "C" fn HeapLock(hHeap: HANDLE) -> BOOL {
    to_bool(heap::user_lock(hHeap as usize))
}

/// Extension (desktop): releases one HeapLock of the calling thread (ERROR_NOT_OWNER otherwise).
#[unsafe(no_mangle)]
pub extern "C" fn HeapUnlock(hHeap: HANDLE) -> BOOL {
    to_bool(heap::user_unlock(hHeap as usize))
}

/// Extension (desktop): the number of heaps; fills `ProcessHeaps` (process heap first) when it
/// has room for all.
#[unsafe(no_mangle)]
pub extern "C" fn GetProcessHeaps(NumberOfHeaps: DWORD, ProcessHeaps: PHANDLE) -> DWORD {
    let heaps = heap::heaps();
    if heaps.len() <= NumberOfHeaps as usize {
        let bytes: Vec<u8> = heaps.iter().flat_map(|h| h.to_ne_bytes()).collect();
        if !user::write_bytes(ProcessHeaps as usize, &bytes) {
            set_last_error(ERROR_INVALID_PARAMETER);
            return 0;
        }
    }
    heaps.len() as DWORD
}

/// Extension (desktop): walks the heap one entry per call, starting with `lpData` NULL: per
/// region a PROCESS_HEAP_REGION entry, then its blocks, free runs and uncommitted ranges in
/// address order; then the big blocks. FALSE with ERROR_NO_MORE_ITEMS at the end.
#[unsafe(no_mangle)]
pub extern "C" fn HeapWalk(hHeap: HANDLE, lpEntry: LPPROCESS_HEAP_ENTRY) -> BOOL {
    let r = (|| {
        let cur = user::load(lpEntry).ok_or(Win32Error::InvalidParameter)?;
        let next = heap::with(hHeap as usize, |st| walk_next(st, &cur))?;
        if !user::store(lpEntry, next) {
            return Err(Win32Error::InvalidParameter);
        }
        Ok(())
    })();
    to_bool(r)
}

fn region_entry(info: &heap::RegionInfo) -> _PROCESS_HEAP_ENTRY {
    _PROCESS_HEAP_ENTRY {
        lpData: ptr(info.base),
        cbData: info.size as DWORD,
        cbOverhead: 0,
        iRegionIndex: info.index as BYTE,
        wFlags: PROCESS_HEAP_REGION,
        u: PROCESS_HEAP_ENTRY_u {
            Region: PROCESS_HEAP_ENTRY_Region {
                dwCommittedSize: info.committed as DWORD,
                dwUnCommittedSize: (info.size - info.committed) as DWORD,
                lpFirstBlock: ptr(info.base),
                lpLastBlock: ptr(info.base + info.size),
            },
        },
    }
}

fn block_entry(e: &heap::Entry) -> _PROCESS_HEAP_ENTRY {
    let wFlags = match e.kind {
        EntryKind::Busy | EntryKind::Big => PROCESS_HEAP_ENTRY_BUSY,
        EntryKind::Free => 0,
        EntryKind::Uncommitted => PROCESS_HEAP_UNCOMMITTED_RANGE,
    };
    _PROCESS_HEAP_ENTRY {
        lpData: ptr(e.addr),
        cbData: e.size as DWORD,
        cbOverhead: e.overhead.min(255) as BYTE,
        iRegionIndex: e.region as BYTE,
        wFlags,
        u: PROCESS_HEAP_ENTRY_u {
            Block: PROCESS_HEAP_ENTRY_Block {
                hMem: ptr(e.addr),
                dwReserved: [0; 3],
            },
        },
    }
}

/// The entry after `cur` (found again from its address and kind).
fn walk_next(st: &heap::HeapState, cur: &_PROCESS_HEAP_ENTRY) -> Win32Result<_PROCESS_HEAP_ENTRY> {
    let regions = st.region_infos();
    let addr = cur.lpData as usize;
    // The first entry of the region at `k` in `regions`, else the first big block.
    let from_region = |k: usize| -> Win32Result<_PROCESS_HEAP_ENTRY> {
        if let Some(info) = regions.get(k) {
            return Ok(region_entry(info));
        }
        st.big_entries()
            .first()
            .map(block_entry)
            .ok_or(Win32Error::NoMoreItems)
    };
    if addr == 0 {
        return from_region(0);
    }
    if cur.wFlags & PROCESS_HEAP_REGION != 0 {
        let k = regions
            .iter()
            .position(|i| i.base == addr)
            .ok_or(Win32Error::InvalidParameter)?;
        return match st.region_entries(regions[k].index).first() {
            Some(e) => Ok(block_entry(e)),
            None => from_region(k + 1),
        };
    }
    if let Some(ri) = st.region_at(addr) {
        let entries = st.region_entries(ri);
        let at = entries
            .iter()
            .position(|e| e.addr == addr)
            .ok_or(Win32Error::InvalidParameter)?;
        if let Some(e) = entries.get(at + 1) {
            return Ok(block_entry(e));
        }
        let k = regions
            .iter()
            .position(|i| i.index == ri)
            .expect("live region");
        return from_region(k + 1);
    }
    let bigs = st.big_entries();
    let at = bigs
        .iter()
        .position(|e| e.addr == addr)
        .ok_or(Win32Error::InvalidParameter)?;
    bigs.get(at + 1)
        .map(block_entry)
        .ok_or(Win32Error::NoMoreItems)
}
