//! CE heaps: HeapCreate's growable and fixed heaps, the process heap, CeHeapCreate's heaps over
//! the caller's memory callbacks.
//!
//! A heap is a set of regions (reservations of 60 KB; CE 5: 188 KB; a fixed heap has one region of
//! its maximum size) plus big blocks (growable heaps: blocks over 16 KB; CE 5: from 98,280 bytes),
//! each a reservation of its own. Regions are carved into one-page slabs of one size class (16 B to
//! 4 KB) and runs of whole pages (bigger blocks). Every table the allocator trusts is kept outside the
//! heap's memory (region.rs); a pointer handed back is recognised through the granule map and those
//! tables before anything is read from it.
//!
//! Each heap has a reentrant lock (CE heaps are always serialized, and HeapLock holds the lock
//! across calls). Lock order: heaps, then the registry, then the page manager.

pub(crate) mod cache;
mod lock;
mod map;
mod region;
mod registry;
pub mod snapshot;
#[cfg(test)]
mod tests;
mod walk;

use std::cell::UnsafeCell;
use std::sync::atomic::{
    AtomicBool, AtomicU64,
    Ordering::{Relaxed, Release},
};

use crate::config::Profile;
use crate::error::{Win32Error, Win32Result};
use crate::types::*;
use crate::vm::{self, GRANULE};
use lock::HeapMutex;
use map::{GranuleMap, Owner, map};
use region::*;

pub(crate) use map::heap_owns;
pub(crate) use registry::PROCESS_HANDLE;
pub use registry::{
    create, destroy, heaps, lock_for_fork, process_heap, process_heap_if_made, quick,
    release_caches, user_lock, user_unlock, with,
};
pub use walk::{Entry, EntryKind, RegionInfo};

/// The largest block HeapAlloc accepts (1 GB).
pub(crate) const MAX_BLOCK: usize = 0x4000_0000;

/// Where a heap's memory comes from.
#[derive(Clone, Copy)]
pub enum Backend {
    /// The page manager: ordinary reservations of the emulated address space.
    Vm,
    /// CeHeapCreate's callbacks.
    Callbacks {
        alloc: unsafe extern "C" fn(LPVOID, DWORD, DWORD, LPDWORD) -> LPVOID,
        free: unsafe extern "C" fn(LPVOID, DWORD, DWORD, DWORD) -> BOOL,
    },
}

thread_local! {
    // How deep this thread is in CeHeapCreate callbacks (their heap is locked meanwhile).
    static IN_CALLBACK: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
}

/// Whether this thread is running a CeHeapCreate callback (and so holds that heap's lock).
pub fn in_callback() -> bool {
    IN_CALLBACK.with(|d| d.get() > 0)
}

/// Runs a callback, marked as one.
fn callback<R>(f: impl FnOnce() -> R) -> R {
    IN_CALLBACK.with(|d| d.set(d.get() + 1));
    let r = f();
    IN_CALLBACK.with(|d| d.set(d.get() - 1));
    r
}

impl Backend {
    /// Reserves `len` bytes: (base, user data).
    fn reserve(&self, len: usize) -> Option<(usize, u32)> {
        match *self {
            Backend::Vm => vm::space()
                .alloc(0, len as DWORD, MEM_RESERVE, PAGE_NOACCESS)
                .ok()
                .map(|b| (b, 0)),
            Backend::Callbacks { alloc, .. } => {
                let mut ud: DWORD = 0;
                // SAFETY: the caller of CeHeapCreate promised a callback with this contract.
                let p = callback(|| unsafe {
                    alloc(core::ptr::null_mut(), len as DWORD, MEM_RESERVE, &mut ud)
                });
                let p = p as usize;
                if p == 0 {
                    return None;
                }
                if !p.is_multiple_of(PAGE) {
                    // Not usable: the heap needs page-aligned memory it can commit by pages.
                    // SAFETY: as above; the reservation goes back to its owner.
                    unsafe { self.release_raw(p, ud) };
                    return None;
                }
                Some((p, ud))
            }
        }
    }

    fn commit(&self, addr: usize, len: usize, ud: u32) -> bool {
        match *self {
            Backend::Vm => vm::space()
                .alloc(addr, len as DWORD, MEM_COMMIT, PAGE_READWRITE)
                .is_ok(),
            Backend::Callbacks { alloc, .. } => {
                let mut d = ud;
                // SAFETY: the callback's contract (CeHeapCreate); it must not change the user data.
                let p =
                    callback(|| unsafe { alloc(addr as LPVOID, len as DWORD, MEM_COMMIT, &mut d) });
                p as usize == addr
            }
        }
    }

    fn decommit(&self, addr: usize, len: usize, ud: u32) {
        match *self {
            Backend::Vm => {
                let _ = vm::space().free(addr, len as DWORD, MEM_DECOMMIT);
            }
            Backend::Callbacks { free, .. } => {
                // SAFETY: the callback's contract (CeHeapCreate).
                callback(|| unsafe { free(addr as LPVOID, len as DWORD, MEM_DECOMMIT, ud) });
            }
        }
    }

    fn release(&self, base: usize, len: usize, ud: u32) {
        if let Backend::Vm = self {
            let space = vm::space();
            if space.free(base, 0, MEM_RELEASE).is_err() {
                // CE 5 releases only reservations whose pages are all in one state. Asked only
                // when the release failed, so the reservation is still ours.
                let _ = space.free(base, len as DWORD, MEM_DECOMMIT);
                let _ = space.free(base, 0, MEM_RELEASE);
            }
            return;
        }
        // SAFETY: the reservation was made by this backend and is no longer used.
        unsafe { self.release_raw(base, ud) };
    }

    /// # Safety
    /// `base` is a reservation this backend made.
    unsafe fn release_raw(&self, base: usize, ud: u32) {
        match *self {
            Backend::Vm => {
                let _ = vm::space().free(base, 0, MEM_RELEASE);
            }
            Backend::Callbacks { free, .. } => {
                // SAFETY: the callback's contract (CeHeapCreate).
                callback(|| unsafe { free(base as LPVOID, 0, MEM_RELEASE, ud) });
            }
        }
    }

    fn is_vm(&self) -> bool {
        matches!(self, Backend::Vm)
    }
}

/// What HeapCreate/CeHeapCreate asked for.
#[derive(Clone, Copy)]
pub struct Options {
    pub initial: usize,
    /// 0: growable.
    pub maximum: usize,
    pub backend: Backend,
    pub process: bool,
}

/// A block handed out, located from the tables.
#[derive(Clone, Copy, Debug)]
enum Block {
    Small {
        region: usize,
        unit: usize,
        span: usize,
    },
    Run {
        region: usize,
        span: usize,
    },
    Big {
        index: usize,
    },
}

struct Big {
    base: usize,
    /// Where the block starts: the base, or for a page-heap block the place that makes it end
    /// on the page before the guard page.
    ptr: usize,
    reserved: usize,
    committed: usize,
    size: usize,
    user_data: u32,
    live: bool,
    /// A page-heap block (COREDLL_PAGEHEAP): its data pages end at `guard`, an inaccessible page.
    guard: Option<usize>,
}

/// Bytes between a page-heap block's end and its guard page hold this, checked when it is freed.
const PAGE_HEAP_FILL: u8 = 0xD0;
/// Freed page-heap blocks stay inaccessible (decommitted) until this many bytes of their
/// reservations wait (CE 5: the slot is 32 MB).
fn page_heap_quarantine() -> usize {
    if crate::config::profile() == Profile::Ce5 {
        4 << 20
    } else {
        64 << 20
    }
}

/// Whether `COREDLL_PAGEHEAP` is on: every block gets reservation of its own ending at a guard
/// page, and freed blocks stay inaccessible for a while (Application Verifier's full page heap).
pub fn page_heap() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var("COREDLL_PAGEHEAP").is_ok_and(|v| !matches!(v.trim(), "" | "0"))
    })
}

/// A size class's slabs: the one allocations come from, and the others that have free blocks.
/// The current slab's region and descriptor are cached as pointers for the fast path; they stay
/// valid while the slab is current (regions are boxed, a region's span table never grows, and a
/// region holding a current slab is never released).
#[derive(Clone, Copy)]
struct Class {
    current: SpanRef,
    /// The first listed slab with free blocks.
    partial: *mut Span,
    region: *mut Region,
    span: *mut Span,
    /// The slab's first block and its blocks' extent in bytes.
    start: usize,
    len: usize,
}

const NO_CLASS: Class = Class {
    current: NO_REF,
    partial: core::ptr::null_mut(),
    region: core::ptr::null_mut(),
    span: core::ptr::null_mut(),
    start: 0,
    len: 0,
};

/// Pages of free committed memory a heap keeps at least before it gives pages back.
const TRIM_FLOOR_PAGES: usize = 64;
/// How long free pages over the limit are kept before they go back.
const TRIM_AFTER: std::time::Duration = std::time::Duration::from_secs(1);
/// Freed big blocks a heap keeps for reuse.
const BIG_CACHE_ENTRIES: usize = 8;

pub struct HeapState {
    handle: usize,
    index: u32,
    alive: bool,
    process: bool,
    growable: bool,
    backend: Backend,
    /// The granule map, for heaps in the emulated address space (None: callback heaps).
    map: Option<&'static GranuleMap>,
    /// Its first window, where almost every pointer is: base, size, table (empty for callback
    /// heaps, so every lookup takes the general path).
    win_base: usize,
    win_size: usize,
    win_table: &'static [core::sync::atomic::AtomicU64],
    /// Pages of each new region of a growable heap.
    region_pages: usize,
    /// Blocks of at least this many bytes are big blocks (growable heaps).
    big_from: usize,
    big_cache_bytes: usize,
    /// Boxed, so the current slabs' cached pointers stay valid while the vector grows.
    regions: Vec<Option<Box<Region>>>,
    /// Callback heaps: (start, end, owner) sorted by start; their memory may lie anywhere.
    foreign: Vec<(usize, usize, Owner)>,
    classes: [Class; CLASSES],
    bigs: Vec<Option<Big>>,
    big_cache: Vec<usize>,
    cached_bytes: usize,
    /// Page-heap blocks freed and kept inaccessible, oldest first, and their bytes.
    quarantine: std::collections::VecDeque<usize>,
    quarantined: usize,
    /// Link words of free blocks are stored XORed with this, so stray data rarely looks valid.
    key: usize,
    /// The application damaged a free block.
    corrupt: bool,
    /// Committed pages in no span, and pages in spans.
    free_committed: usize,
    span_pages: usize,
    /// Free committed pages beyond which trimming does not wait.
    trim_at_once: usize,
    /// Since when the free committed pages have been over the limit.
    over_since: Option<std::time::Instant>,
    /// The region the last span came from: the first one searched for the next.
    region_hint: usize,
}

impl HeapState {
    fn new(handle: usize, index: u32, opts: &Options) -> HeapState {
        let ce5 = crate::config::profile() == Profile::Ce5;
        let mut st = HeapState::blank(handle, index, opts, ce5);
        if let Some(m) = st.map {
            (st.win_base, st.win_size, st.win_table) = m.first();
        }
        st
    }

    fn blank(handle: usize, index: u32, opts: &Options, ce5: bool) -> HeapState {
        HeapState {
            handle,
            index,
            alive: true,
            process: opts.process,
            growable: opts.maximum == 0,
            backend: opts.backend,
            map: opts.backend.is_vm().then(map),
            win_base: 0,
            win_size: 0,
            win_table: &[],
            region_pages: if ce5 { 0x2F000 / PAGE } else { 0xF000 / PAGE },
            big_from: if ce5 { 98_280 } else { 16_385 },
            big_cache_bytes: if ce5 { 1 << 20 } else { 4 << 20 },
            regions: Vec::new(),
            foreign: Vec::new(),
            classes: [NO_CLASS; CLASSES],
            bigs: Vec::new(),
            big_cache: Vec::new(),
            cached_bytes: 0,
            quarantine: std::collections::VecDeque::new(),
            quarantined: 0,
            key: key_for(handle),
            corrupt: false,
            free_committed: 0,
            span_pages: 0,
            trim_at_once: if ce5 { 256 } else { 1024 },
            over_since: None,
            region_hint: 0,
        }
    }

    /// Makes the heap's first region (and commits the initial size of fixed and callback heaps).
    fn init(&mut self, opts: &Options) -> Win32Result<()> {
        let pages = if self.growable {
            self.region_pages
        } else {
            opts.maximum.div_ceil(PAGE)
        };
        let ri = self.add_region(pages)?;
        let initial = opts.initial.div_ceil(PAGE).min(pages);
        let commit_initial = !self.growable || !self.backend.is_vm();
        if commit_initial && initial > 0 && !self.commit_pages(ri, 0, initial) {
            self.release_everything();
            return Err(Win32Error::NotEnoughMemory);
        }
        Ok(())
    }

    // ---- regions and pages -------------------------------------------------------------------

    fn add_region(&mut self, pages: usize) -> Win32Result<usize> {
        let len = pages * PAGE;
        let (base, ud) = match self.backend.reserve(len) {
            Some(r) => r,
            None => {
                // Cached big blocks may hold the address space a region needs.
                if self.release_big_cache() == 0 {
                    return Err(Win32Error::NotEnoughMemory);
                }
                self.backend
                    .reserve(len)
                    .ok_or(Win32Error::NotEnoughMemory)?
            }
        };
        let ri = match self.regions.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.regions.push(None);
                self.regions.len() - 1
            }
        };
        let shared = self.map.and_then(|m| {
            m.clear_tables(base, len);
            m.tables_for(base, pages)
        });
        self.regions[ri] = Some(Box::new(Region::new(
            base,
            pages,
            len,
            ud,
            self.page_owner(),
            shared,
        )));
        self.own(base, len, Owner::Region(ri as u32));
        Ok(ri)
    }

    fn release_region(&mut self, ri: usize) {
        let r = self.regions[ri].take().expect("live region");
        self.free_committed -= r.committed_free();
        self.disown(r.base, r.reserved);
        if let Some(map) = self.map {
            // Its stretch of the window-wide tables gives its memory back until a region is made
            // there again (which clears it anyway); done while the range is still this heap's.
            map.drop_tables(r.base, r.pages);
        }
        // (After the map forgets it: another heap may take the range at once.)
        self.backend.release(r.base, r.reserved, r.user_data);
    }

    /// Records who owns [base, base+len) so pointers into it can be recognised.
    fn own(&mut self, base: usize, len: usize, owner: Owner) {
        if let Some(map) = self.map {
            map.set(self.index, base, len, Some(owner));
        } else {
            let at = self.foreign.partition_point(|e| e.0 < base);
            self.foreign.insert(at, (base, base + len, owner));
        }
    }

    fn disown(&mut self, base: usize, len: usize) {
        if let Some(map) = self.map {
            map.set(self.index, base, len, None);
        } else if let Some(i) = self.foreign.iter().position(|e| e.0 == base) {
            self.foreign.remove(i);
        }
    }

    #[inline(always)]
    fn owner_of(&self, addr: usize) -> Option<Owner> {
        let off = addr.wrapping_sub(self.win_base);
        if off < self.win_size {
            let e = self.win_table.get(off / GRANULE)?;
            return map::decode(self.index, e.load(core::sync::atomic::Ordering::Relaxed));
        }
        self.owner_elsewhere(addr)
    }

    #[inline(never)]
    fn owner_elsewhere(&self, addr: usize) -> Option<Owner> {
        if let Some(map) = self.map {
            map.lookup(self.index, addr)
        } else {
            let i = self.foreign.partition_point(|e| e.0 <= addr);
            let e = self.foreign.get(i.checked_sub(1)?)?;
            (addr < e.1).then_some(e.2)
        }
    }

    fn region(&mut self, ri: usize) -> &mut Region {
        self.regions[ri].as_mut().expect("live region")
    }

    /// Commits the uncommitted pages of [first, first+n) of a region, stretching the last commit
    /// a few pages further over free uncommitted pages so small spans do not each cost a syscall.
    /// Newly committed pages count as free until a span takes them.
    fn commit_pages(&mut self, ri: usize, first: usize, n: usize) -> bool {
        const BATCH: usize = 4;
        let backend = self.backend;
        let r = self.regions[ri].as_mut().expect("live region");
        let to = first + n;
        let mut s = first;
        while s < to {
            if r.committed.get(s) {
                s += 1;
                continue;
            }
            // The uncommitted run from s, inside the range, then on over free pages.
            let mut end = s;
            while end < to && !r.committed.get(end) {
                end += 1;
            }
            while end < r.pages && end - s < BATCH && r.free_pages.get(end) && !r.committed.get(end)
            {
                end += 1;
            }
            // The stretch is only a saving: when memory is short, commit just what is needed.
            let mut end_ok = end;
            if !backend.commit(r.page_addr(s), (end - s) * PAGE, r.user_data) {
                end_ok = end.min(to);
                if end_ok == end
                    || !backend.commit(r.page_addr(s), (end_ok - s) * PAGE, r.user_data)
                {
                    return false;
                }
            }
            let end = end_ok;
            r.committed.set_range(s, end, true);
            self.free_committed += end - s;
            s = end;
        }
        true
    }

    /// Finds `n` free pages in some region (a new one if the heap may grow), committed.
    fn take_span(&mut self, n: usize, span: Span) -> Win32Result<SpanRef> {
        // From the region that served last, round the heap once.
        let count = self.regions.len();
        let hint = self.region_hint.min(count.saturating_sub(1));
        let found = (0..count).map(|k| (hint + k) % count).find_map(|ri| {
            let r = self.regions[ri].as_ref()?;
            r.find_pages(n).map(|first| (ri, first))
        });
        let (ri, first) = match found {
            Some(f) => f,
            None if self.growable && n <= self.region_pages => {
                (self.add_region(self.region_pages)?, 0)
            }
            // Empty slabs kept as their class's current one may be what is missing.
            None if self.drop_empty_slabs() => return self.take_span(n, span),
            None => return Err(Win32Error::NotEnoughMemory),
        };
        let (ri, first) = if self.commit_pages(ri, first, n) {
            (ri, first)
        } else {
            // Out of memory to commit: pages already committed and free anywhere in the heap
            // still serve.
            self.committed_free_run(n)
                .ok_or(Win32Error::NotEnoughMemory)?
        };
        self.region(ri).take_pages(ri, first, n, span);
        self.region_hint = ri;
        self.free_committed -= n;
        self.span_pages += n;
        Ok(SpanRef {
            region: ri as u32,
            page: first as u32,
        })
    }

    /// The first `n` consecutive free and committed pages of any region.
    fn committed_free_run(&self, n: usize) -> Option<(usize, usize)> {
        self.regions.iter().enumerate().find_map(|(ri, r)| {
            let r = r.as_ref()?;
            let mut run = 0;
            for p in 0..r.pages {
                if r.free_pages.get(p) && r.committed.get(p) {
                    run += 1;
                    if run == n {
                        return Some((ri, p + 1 - n));
                    }
                } else {
                    run = 0;
                }
            }
            None
        })
    }

    /// Gives a span's pages back to its region; whole free pages go back to the system lazily.
    fn put_span(&mut self, s: SpanRef) {
        let r = self.region(s.region as usize);
        let first = s.page as usize;
        let pages = r.spans[first].pages as usize;
        r.free.set_range(
            first * UNITS_PER_PAGE,
            (first + pages) * UNITS_PER_PAGE,
            false,
        );
        r.spans[first] = Span::empty();
        r.put_pages(first, pages);
        self.free_committed += pages;
        self.span_pages -= pages;
        self.maybe_trim();
    }

    /// Hysteresis: free committed pages may reach a quarter of the pages in use (at least 256 KB).
    /// Beyond that they are decommitted down to half that, at once when the excess is large (more
    /// than 4 MB; CE 5: 1 MB), else once it has lasted a second, so a program that frees and
    /// allocates the same memory over and over does not pay a page fault per page each time.
    fn maybe_trim(&mut self) {
        let limit = TRIM_FLOOR_PAGES.max(self.span_pages / 4);
        if self.free_committed <= limit {
            self.over_since = None;
            return;
        }
        let now = std::time::Instant::now();
        let lasted = self
            .over_since
            .is_some_and(|t| now.duration_since(t) >= TRIM_AFTER);
        if self.free_committed > limit.max(self.trim_at_once) || lasted {
            self.trim(limit / 2);
            self.over_since = None;
        } else if self.over_since.is_none() {
            self.over_since = Some(now);
        }
    }

    /// Decommits free pages (and releases empty secondary regions) until at most `keep` free
    /// committed pages remain, newest regions first.
    fn trim(&mut self, keep: usize) {
        for ri in (0..self.regions.len()).rev() {
            if self.free_committed <= keep {
                break;
            }
            let Some(r) = &self.regions[ri] else { continue };
            let empty = r.free_count == r.pages;
            if ri != 0 && empty {
                self.release_region(ri);
                continue;
            }
            let backend = self.backend;
            let r = self.regions[ri].as_mut().expect("live region");
            let mut p = 0;
            while p < r.pages && self.free_committed > keep {
                if !(r.free_pages.get(p) && r.committed.get(p)) {
                    p += 1;
                    continue;
                }
                let s = p;
                while p < r.pages && r.free_pages.get(p) && r.committed.get(p) {
                    p += 1;
                }
                backend.decommit(r.page_addr(s), (p - s) * PAGE, r.user_data);
                r.committed.set_range(s, p, false);
                self.free_committed -= p - s;
            }
        }
    }

    // ---- small blocks -----------------------------------------------------------------------

    fn span(&mut self, s: SpanRef) -> &mut Span {
        &mut self.region(s.region as usize).spans[s.page as usize]
    }

    /// Takes a slab off its class's list.
    fn unlink(&mut self, c: usize, sp: *mut Span) {
        // SAFETY: listed slabs are live descriptors (a slab leaves the list before its region
        // can be released), and the heap's lock gives this frame exclusive use of them.
        unsafe {
            let s = &mut *sp;
            s.listed = false;
            if s.prev.is_null() {
                self.classes[c].partial = s.next;
            } else {
                (*s.prev).next = s.next;
            }
            if !s.next.is_null() {
                (*s.next).prev = s.prev;
            }
        }
    }

    /// Puts a slab with free blocks at the head of its class's list.
    fn link(&mut self, c: usize, sp: *mut Span) {
        let head = self.classes[c].partial;
        // SAFETY: as in `unlink`; `sp` is a live slab of this heap.
        unsafe {
            let s = &mut *sp;
            s.listed = true;
            s.next = head;
            s.prev = core::ptr::null_mut();
            if !head.is_null() {
                (*head).prev = sp;
            }
        }
        self.classes[c].partial = sp;
    }

    /// The slow path of a small allocation: the current slab is full (or there is none), so take
    /// one with free blocks, or make one.
    #[inline(never)]
    fn alloc_small(&mut self, c: usize, size: usize) -> Win32Result<usize> {
        let partial = self.classes[c].partial;
        if !partial.is_null() {
            self.unlink(c, partial);
            self.set_current(c, partial);
        } else {
            let pages = SLAB_PAGES;
            let span = Span {
                class: c as u8,
                pages: pages as u32,
                cap: (pages * PAGE / class_size(c)) as u32,
                ..Span::empty()
            };
            let s = self.take_span(pages, span)?;
            let sp: *mut Span = self.span(s);
            self.set_current(c, sp);
        }
        match self.pop_fast(c, size) {
            Some(p) => Ok(p),
            // Only a listed slab whose list turned out damaged can have no room: try another.
            None => self.alloc_small(c, size),
        }
    }

    /// A slab's free list failed its check (the application wrote over a free block): the rest
    /// of the list stays out of use, so no block can be handed out twice, and HeapValidate says so.
    #[cold]
    #[inline(never)]
    fn damaged(span: &mut Span, corrupt: &mut bool) {
        span.free_head = 0;
        *corrupt = true;
    }

    /// Gives back the slabs kept as their class's current one while they hold no block; true if
    /// there was one.
    fn drop_empty_slabs(&mut self) -> bool {
        let mut any = false;
        for c in 0..CLASSES {
            let s = self.classes[c].current;
            if s != NO_REF && self.span(s).used == 0 {
                self.classes[c] = Class {
                    partial: self.classes[c].partial,
                    ..NO_CLASS
                };
                self.put_span(s);
                any = true;
            }
        }
        any
    }

    /// Makes a live slab its class's current one.
    fn set_current(&mut self, c: usize, sp: *mut Span) {
        // SAFETY: `sp` is a live slab descriptor of this heap and its region pointer is its
        // (boxed) region's; the heap's lock gives this frame exclusive use of both.
        let (at, region, cap, start) = unsafe {
            let s = &*sp;
            let start = (*s.region).page_addr(s.at.page as usize);
            (s.at, s.region, s.cap as usize, start)
        };
        self.classes[c] = Class {
            current: at,
            partial: self.classes[c].partial,
            region,
            span: sp,
            start,
            len: cap * class_size(c),
        };
    }

    /// The fast path of HeapAlloc for a small block: the current slab's next free block, its
    /// link checked; None sends the caller to `alloc_small` for everything else.
    #[inline(always)]
    fn pop_fast(&mut self, c: usize, size: usize) -> Option<usize> {
        let cls = &self.classes[c];
        if cls.span.is_null() {
            return None;
        }
        // SAFETY: the cached pointers of a current slab are valid (see `Class`), and the heap's
        // lock gives this frame exclusive use of the state.
        let (span, r) = unsafe { (&mut *cls.span, &mut *cls.region) };
        let head = span.free_head;
        let mut next = 0;
        if head != 0 {
            // SAFETY: `head` is a free block of this slab (only this heap sets free_head).
            let (w0, w1) = unsafe { read_link(head) };
            next = w0 ^ self.key;
            // SAFETY: a unit inside the slab is inside the region's bitmaps.
            let ok_next = next == 0
                || (next.wrapping_sub(cls.start) < cls.len
                    && next.is_multiple_of(UNIT)
                    && unsafe { r.free.get_unchecked((next - r.base) / UNIT) });
            if w1 != !w0 ^ head || !ok_next {
                Self::damaged(span, &mut self.corrupt);
            }
        }
        let head = span.free_head;
        let p = if head != 0 {
            span.free_head = next;
            // SAFETY: as above; the bit is set (it was checked when `head` became the head).
            unsafe { r.free.flip_unchecked((head - r.base) / UNIT) };
            head
        } else if span.carved < span.cap {
            span.carved += 1;
            cls.start + (span.carved as usize - 1) * class_size(c)
        } else {
            return None;
        };
        span.used += 1;
        let unit = (p - r.base) / UNIT;
        // SAFETY: `p` is a block of the slab, so its unit is inside the region's tables; a free
        // or uncarved block's live bit is clear. The size record (HELD: the application's) is a
        // release, so a free claiming it without the lock also sees the slab's class.
        unsafe {
            r.short
                .get_unchecked(unit)
                .store(held(((class_size(c) - size) / 8) as u16), Release);
            r.live.flip_unchecked(unit);
        }
        Some(p)
    }

    /// Frees a small block `find` located (so `unit` and `first` are inside the region).
    #[inline(always)]
    fn free_small(&mut self, ri: usize, unit: usize, first: usize) {
        let key = self.key;
        // SAFETY: `find` got `ri` from a live region of this heap.
        let r: &mut Region = unsafe {
            self.regions
                .get_unchecked_mut(ri)
                .as_mut()
                .unwrap_unchecked()
        };
        let p = r.base + unit * UNIT;
        // SAFETY: `find` checked the unit is inside the region and its live bit set; a live
        // block's free bit is clear; `first` is a page of the region.
        let span = unsafe {
            r.live.flip_unchecked(unit);
            r.free.flip_unchecked(unit);
            r.spans.get_unchecked_mut(first)
        };
        let w0 = span.free_head ^ key;
        // SAFETY: p is a live block of this slab (checked by the caller through the tables).
        unsafe { write_link(p, w0, !w0 ^ p) };
        span.free_head = p;
        span.used -= 1;
        let (c, used, listed) = (span.class as usize, span.used, span.listed);
        let sp: *mut Span = span;
        if self.classes[c].span == sp {
            return;
        }
        if used == 0 {
            if listed {
                self.unlink(c, sp);
            }
            self.put_span(SpanRef {
                region: ri as u32,
                page: first as u32,
            });
        } else if !listed {
            self.link(c, sp);
        }
    }

    // ---- runs and big blocks ----------------------------------------------------------------

    fn alloc_run(&mut self, size: usize) -> Win32Result<usize> {
        let pages = size.div_ceil(PAGE);
        let span = Span {
            class: RUN,
            pages: pages as u32,
            used: 1,
            cap: 1,
            carved: 1,
            run_size: size,
            ..Span::empty()
        };
        let s = self.take_span(pages, span)?;
        let r = self.region(s.region as usize);
        let first = s.page as usize;
        r.live.set(first * UNITS_PER_PAGE);
        Ok(r.page_addr(first))
    }

    /// A big block of `size` bytes (and whether its memory is known to read zero). A block that
    /// `growing` (HeapReAlloc moving a block that outgrew its place) takes the largest cached
    /// reservation, or a new one with room to double, so that further growth stays in place.
    fn alloc_big(&mut self, size: usize, growing: bool) -> Win32Result<(usize, bool)> {
        let need = size.div_ceil(PAGE) * PAGE;
        let fits = self
            .big_cache
            .iter()
            .copied()
            .enumerate()
            .filter(|&(_, i)| self.bigs[i].as_ref().is_some_and(|b| b.reserved >= size));
        let reserved_of = |i: usize| self.bigs[i].as_ref().map_or(0, |b| b.reserved);
        let cached = if growing {
            fits.max_by_key(|&(_, i)| reserved_of(i))
        } else {
            fits.min_by_key(|&(_, i)| reserved_of(i))
        };
        if let Some((at, i)) = cached {
            let backend = self.backend;
            let b = self.bigs[i].as_mut().expect("cached big block");
            if b.committed < need {
                if !backend.commit(b.base + b.committed, need - b.committed, b.user_data) {
                    return Err(Win32Error::NotEnoughMemory);
                }
                b.committed = need;
            }
            b.size = size;
            b.live = true;
            let base = b.base;
            self.cached_bytes -= b.reserved;
            self.big_cache.swap_remove(at);
            return Ok((base, false));
        }
        // Room to double costs address space only; CE 5's 32 MB slot has none to spare.
        let want = if growing && self.big_cache_bytes > (1 << 20) {
            size.saturating_mul(2).min(MAX_BLOCK)
        } else {
            size
        };
        let reserved = want.div_ceil(GRANULE) * GRANULE;
        if reserved > u32::MAX as usize {
            return Err(Win32Error::NotEnoughMemory);
        }
        let (base, ud) = self.reserve_block(reserved, need)?;
        self.add_big(Big {
            base,
            ptr: base,
            reserved,
            committed: need,
            size,
            user_data: ud,
            live: true,
            guard: None,
        });
        // Committed pages of the page manager read zero; a callback's memory may not.
        Ok((base, self.backend.is_vm()))
    }

    /// A reservation of `reserved` bytes with its first `commit` bytes committed, for a big or
    /// page-heap block; cached blocks are given back first if the address space is short.
    fn reserve_block(&mut self, reserved: usize, commit: usize) -> Win32Result<(usize, u32)> {
        let (base, ud) = match self.backend.reserve(reserved) {
            Some(r) => r,
            None => {
                if self.release_big_cache() == 0 {
                    return Err(Win32Error::NotEnoughMemory);
                }
                self.backend
                    .reserve(reserved)
                    .ok_or(Win32Error::NotEnoughMemory)?
            }
        };
        if !self.backend.commit(base, commit, ud) {
            self.backend.release(base, reserved, ud);
            return Err(Win32Error::NotEnoughMemory);
        }
        Ok((base, ud))
    }

    /// Records a new big or page-heap block and the granules it owns.
    fn add_big(&mut self, big: Big) {
        let (base, reserved) = (big.base, big.reserved);
        let i = match self.bigs.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.bigs.push(None);
                self.bigs.len() - 1
            }
        };
        self.bigs[i] = Some(big);
        self.own(base, reserved, Owner::Big(i as u32));
    }

    /// A page-heap block: its own reservation, the block at the end of its data pages, an
    /// inaccessible page after them; the bytes between the block's end and that page filled.
    /// `size` is the exact request: HeapSize says it, and the bytes after it are checked (as in
    /// CE's heap-sentinel build).
    fn alloc_guarded(&mut self, size: usize) -> Win32Result<usize> {
        let span = size.div_ceil(UNIT) * UNIT;
        let data = span.div_ceil(PAGE) * PAGE;
        let reserved = (data + PAGE).div_ceil(GRANULE) * GRANULE;
        if reserved > MAX_BLOCK + GRANULE {
            return Err(Win32Error::NotEnoughMemory);
        }
        if !self.growable {
            // A fixed heap still holds no more than its size.
            let max = self
                .regions
                .iter()
                .flatten()
                .map(|r| r.bytes)
                .sum::<usize>();
            let used: usize = self
                .bigs
                .iter()
                .flatten()
                .filter(|b| b.live && b.guard.is_some())
                .map(|b| b.committed)
                .sum();
            if used + data > max {
                return Err(Win32Error::NotEnoughMemory);
            }
        }
        let (base, ud) = self.reserve_block(reserved, data)?;
        let guard = base + data;
        let ptr = guard - span;
        // SAFETY: [ptr + size, guard) lies in the data pages just committed.
        unsafe {
            core::ptr::write_bytes((ptr + size) as *mut u8, PAGE_HEAP_FILL, guard - ptr - size)
        };
        self.add_big(Big {
            base,
            ptr,
            reserved,
            committed: data,
            size,
            user_data: ud,
            live: true,
            guard: Some(guard),
        });
        Ok(ptr)
    }

    /// Frees a page-heap block: the bytes after it must be untouched (else the process stops, as
    /// under Application Verifier), and its pages become inaccessible until it leaves quarantine.
    fn free_guarded(&mut self, i: usize) {
        let backend = self.backend;
        let b = self.bigs[i].as_mut().expect("live big block");
        let guard = b.guard.expect("a page-heap block");
        // SAFETY: the block's data pages are committed until now.
        let tail = unsafe {
            core::slice::from_raw_parts((b.ptr + b.size) as *const u8, guard - b.ptr - b.size)
        };
        if tail.iter().any(|&x| x != PAGE_HEAP_FILL) {
            eprintln!(
                "coredll: page heap: the heap block at {:#x} ({} bytes) was written past its end",
                b.ptr, b.size
            );
            std::process::abort();
        }
        b.live = false;
        backend.decommit(b.base, b.committed, b.user_data);
        let reserved = b.reserved;
        self.quarantine.push_back(i);
        self.quarantined += reserved;
        while self.quarantined > page_heap_quarantine() {
            let old = self.quarantine.pop_front().expect("quarantined");
            self.quarantined -= self.bigs[old].as_ref().expect("quarantined").reserved;
            self.release_big(old);
        }
    }

    fn free_big(&mut self, i: usize) {
        if self.bigs[i].as_ref().is_some_and(|b| b.guard.is_some()) {
            self.free_guarded(i);
            return;
        }
        let b = self.bigs[i].as_mut().expect("live big block");
        b.live = false;
        let reserved = b.reserved;
        if reserved > self.big_cache_bytes {
            self.release_big(i);
            return;
        }
        self.big_cache.push(i);
        self.cached_bytes += reserved;
        // Over budget: the oldest cached blocks go.
        while self.cached_bytes > self.big_cache_bytes || self.big_cache.len() > BIG_CACHE_ENTRIES {
            let old = self.big_cache.remove(0);
            self.cached_bytes -= self.bigs[old].as_ref().expect("cached").reserved;
            self.release_big(old);
        }
    }

    fn release_big(&mut self, i: usize) {
        let b = self.bigs[i].take().expect("big block");
        self.disown(b.base, b.reserved);
        self.backend.release(b.base, b.reserved, b.user_data);
    }

    /// Releases every cached big block; returns how many bytes went back.
    fn release_big_cache(&mut self) -> usize {
        let n = self.cached_bytes + self.quarantined;
        for i in std::mem::take(&mut self.big_cache) {
            self.release_big(i);
        }
        for i in std::mem::take(&mut self.quarantine) {
            self.release_big(i);
        }
        self.cached_bytes = 0;
        self.quarantined = 0;
        n
    }

    // ---- the operations ---------------------------------------------------------------------

    /// Finds the live block that starts at `p`, from the tables alone; a block a thread cache
    /// holds (freed by the application) is not one.
    #[inline(always)]
    fn find(&self, p: usize) -> Option<Block> {
        let b = self.find_raw(p)?;
        if let Block::Small { region, unit, span } = b
            // SAFETY: find_raw's indices are inside the live region's tables.
            && self.is_cached(unsafe { self.regions.get_unchecked(region).as_ref().unwrap_unchecked() }, span, unit)
        {
            return None;
        }
        Some(b)
    }

    /// Whether the live small block at `unit` (of the slab at page `first`) was freed: a thread
    /// cache holds it, or another free is taking it (its size record is claimed, see `Rec`).
    #[inline(always)]
    fn is_cached(&self, r: &Region, first: usize, unit: usize) -> bool {
        r.rec(first, unit).is_some_and(Rec::marked)
    }

    /// Claims the small block `find_raw` located for a free (see `Rec`); false when a thread
    /// cache holds it (the application freed it already, maybe in another thread just now).
    #[inline(always)]
    fn claim_small(&self, ri: usize, unit: usize, first: usize) -> bool {
        // SAFETY: `find_raw` got `ri` from a live region of this heap.
        let r = unsafe { self.regions.get_unchecked(ri).as_ref().unwrap_unchecked() };
        r.rec(first, unit).is_none_or(|rec| rec.claim().is_some())
    }

    /// `find` without the thread-cache check: the block is live in the tables.
    #[inline(always)]
    fn find_raw(&self, p: usize) -> Option<Block> {
        if !p.is_multiple_of(UNIT) || p < vm::MIN_ADDRESS {
            return None;
        }
        match self.owner_of(p)? {
            Owner::Region(ri) => {
                let ri = ri as usize;
                let r = self.regions.get(ri)?.as_ref()?;
                let off = p.wrapping_sub(r.base);
                if off >= r.bytes {
                    return None;
                }
                let unit = off / UNIT;
                // SAFETY: off < the region's bytes, so the unit and page are inside its tables;
                // a live block's page belongs to a span whose first page is a page of the region.
                let (live, first) = unsafe {
                    (
                        r.live.get_unchecked(unit),
                        *r.page_span.get_unchecked(off / PAGE) as usize,
                    )
                };
                if !live {
                    return None;
                }
                // SAFETY: as above.
                let class = unsafe { r.spans.get_unchecked(first).class };
                Some(if class == RUN {
                    Block::Run {
                        region: ri,
                        span: first,
                    }
                } else {
                    Block::Small {
                        region: ri,
                        unit,
                        span: first,
                    }
                })
            }
            Owner::Big(i) => {
                let b = self.bigs.get(i as usize)?.as_ref()?;
                (b.live && b.ptr == p).then_some(Block::Big { index: i as usize })
            }
        }
    }

    fn block_size(&self, b: Block) -> usize {
        match b {
            Block::Small { region, unit, span } => {
                let r = self.regions[region].as_ref().expect("live region");
                r.small_size(span, unit)
            }
            Block::Run { region, span } => {
                self.regions[region].as_ref().expect("live region").spans[span].size()
            }
            Block::Big { index } => self.bigs[index].as_ref().expect("big").size,
        }
    }

    /// HeapAlloc: `n` bytes (the caller checked n <= MAX_BLOCK).
    #[inline]
    pub fn alloc(&mut self, n: usize, zero: bool) -> Win32Result<usize> {
        if page_heap() {
            return self.alloc_guarded(n.max(1));
        }
        let size = round8(n);
        let (p, fresh) = if size <= SMALL_MAX {
            let c = class_of(size);
            match self.pop_fast(c, size) {
                Some(p) => (p, false),
                None => (self.alloc_small(c, size)?, false),
            }
        } else if self.growable && n >= self.big_from {
            self.alloc_big(size, false)?
        } else {
            (self.alloc_run(size)?, false)
        };
        if zero && !fresh {
            // SAFETY: [p, p+size) is the block just allocated, in committed memory.
            unsafe { core::ptr::write_bytes(p as *mut u8, 0, size) };
        }
        Ok(p)
    }

    /// HeapAlloc's fast path: a small block, unzeroed; None (nothing done) when the heap has to
    /// grow and cannot, which the careful path reports.
    #[inline(always)]
    pub fn alloc_quick(&mut self, n: usize) -> Option<usize> {
        let size = round8(n);
        if size > SMALL_MAX {
            return None;
        }
        let c = class_of(size);
        match self.pop_fast(c, size) {
            Some(p) => Some(p),
            None => self.alloc_small(c, size).ok(),
        }
    }

    /// HeapFree's fast path: a small block; false (nothing done) for anything else.
    #[inline(always)]
    pub fn free_quick(&mut self, p: usize) -> bool {
        // A claim that fails is a block a thread cache holds: `find` need not look first.
        match self.find_raw(p) {
            Some(Block::Small { region, unit, span }) if self.claim_small(region, unit, span) => {
                self.free_small(region, unit, span);
                true
            }
            _ => false,
        }
    }

    /// HeapFree.
    #[inline]
    pub fn free(&mut self, p: usize) -> Win32Result<()> {
        // As in `free_quick`, the claim also tells a block a thread cache holds.
        let b = self.find_raw(p).ok_or(Win32Error::InvalidParameter)?;
        if let Block::Small { region, unit, span } = b
            && !self.claim_small(region, unit, span)
        {
            return Err(Win32Error::InvalidParameter);
        }
        self.free_block(b);
        Ok(())
    }

    fn free_block(&mut self, b: Block) {
        match b {
            Block::Small { region, unit, span } => self.free_small(region, unit, span),
            Block::Run { region, span } => {
                let r = self.region(region);
                r.live.clear(span * UNITS_PER_PAGE);
                self.put_span(SpanRef {
                    region: region as u32,
                    page: span as u32,
                });
            }
            Block::Big { index } => self.free_big(index),
        }
    }

    // ---- the thread caches' side (under the lock) ---------------------------------------------

    /// This heap's number in its regions' page tags (never 0, fits in 15 bits).
    fn page_owner(&self) -> u32 {
        self.index + 1
    }

    /// What a thread cache needs to check pointers of this heap without its lock; None for the
    /// heaps never cached: fixed-size ones and those outside the emulated address space.
    fn cache_view(&self) -> Option<cache::View> {
        // A fixed-size heap is all the memory its users have: none of it waits in a cache.
        if !self.growable {
            return None;
        }
        let map = self.map?;
        let (shorts, tags) = map.first_tables();
        if tags.is_empty() {
            return None;
        }
        Some(cache::View {
            owner: page_tag(self.page_owner(), 0),
            win_base: self.win_base,
            win_units: self.win_size / UNIT,
            shorts: shorts.as_ptr(),
            tags: tags.as_ptr(),
        })
    }

    /// Takes up to `out.len()` blocks of class `c` for a thread cache (tagged, live in the
    /// tables), from the class's slabs with free blocks; a new slab only for the first block.
    /// Returns how many.
    fn take_for_cache(&mut self, c: usize, out: &mut [cache::Item]) -> usize {
        let size = class_size(c);
        let mut k = 0;
        while k < out.len() {
            let p = match self.pop_fast(c, size) {
                Some(p) => p,
                None if k > 0 && self.classes[c].partial.is_null() => break,
                None => match self.alloc_small(c, size) {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            // SAFETY: `p` came from the class's current slab, whose region pointer is valid.
            let r = unsafe { &*self.classes[c].region };
            let unit = (p - r.base) / UNIT;
            // The block is live from here: a free of a stale pointer to it may have claimed it
            // already, and then it is that thread's.
            if r.rec(unit / UNITS_PER_PAGE, unit)
                .is_some_and(|rec| rec.claim().is_none())
            {
                continue;
            }
            // SAFETY: a live block of the slab, nobody else's.
            unsafe { (p as *mut usize).write(cache_tag(p)) };
            out[k] = cache::Item {
                p,
                size_at: cache::size_record(r, p - r.base),
            };
            k += 1;
        }
        k
    }

    /// Takes back a block a thread cache held. A tag that is no longer intact means the
    /// application wrote into the freed block: HeapValidate will say so.
    fn free_cached(&mut self, p: usize) {
        match self.find_raw(p) {
            Some(Block::Small { region, unit, span }) => {
                // SAFETY: a live block of a slab, at least 16 bytes, committed.
                if unsafe { read_tag(p) } != cache_tag(p) {
                    self.corrupt = true;
                }
                self.free_small(region, unit, span);
            }
            // Not expected (a cached block stays live): reported as damage, nothing freed.
            _ => self.corrupt = true,
        }
    }

    /// A thread cache found a block it held written over.
    fn mark_corrupt(&mut self) {
        self.corrupt = true;
    }

    /// HeapSize.
    pub fn size(&self, p: usize) -> Win32Result<usize> {
        let b = self.find(p).ok_or(Win32Error::InvalidParameter)?;
        Ok(self.block_size(b))
    }

    /// HeapValidate of one block.
    pub fn is_block(&self, p: usize) -> bool {
        self.find(p).is_some()
    }

    /// HeapReAlloc.
    pub fn realloc(
        &mut self,
        p: usize,
        n: usize,
        in_place_only: bool,
        zero: bool,
    ) -> Win32Result<usize> {
        let b = self.find(p).ok_or(Win32Error::InvalidParameter)?;
        let old = self.block_size(b);
        // Page-heap blocks keep their exact size (see `alloc_guarded`).
        let new = size_for(n);
        if self.resize_in_place(b, new)? {
            if zero && new > old {
                // SAFETY: [p, p+new) is the resized block.
                unsafe { core::ptr::write_bytes((p + old) as *mut u8, 0, new - old) };
            }
            return Ok(p);
        }
        if in_place_only {
            return Err(Win32Error::NotEnoughMemory);
        }
        // The old block is claimed for its free first: a thread cache that takes it meanwhile
        // (another thread freed it) wins, and this call fails as if it had come after.
        let claimed = match b {
            Block::Small { region, unit, span } => {
                let r = self.regions[region].as_ref().expect("live region");
                match r.rec(span, unit) {
                    Some(rec) => Some((
                        region,
                        span,
                        unit,
                        rec.claim().ok_or(Win32Error::InvalidParameter)?,
                    )),
                    None => None,
                }
            }
            _ => None,
        };
        let q = if self.growable && n >= self.big_from && !page_heap() {
            self.alloc_big(new, true).map(|x| x.0)
        } else {
            self.alloc(n, false)
        };
        let q = match q {
            Ok(q) => q,
            Err(e) => {
                if let Some((region, span, unit, v)) = claimed {
                    let r = self.regions[region].as_ref().expect("live region");
                    r.rec(span, unit).expect("small").restore(v);
                }
                return Err(e);
            }
        };
        // SAFETY: both are live blocks of this heap, distinct, at least min(old, new) long.
        unsafe {
            core::ptr::copy_nonoverlapping(p as *const u8, q as *mut u8, old.min(new));
            if zero && new > old {
                core::ptr::write_bytes((q + old) as *mut u8, 0, new - old);
            }
        }
        // Claimed above (a small block), so `find` would not see it.
        let b = self.find_raw(p).expect("the old block is still live");
        self.free_block(b);
        Ok(q)
    }

    /// Resizes a block where it is, if it can be; Ok(false) when it would have to move.
    fn resize_in_place(&mut self, b: Block, new: usize) -> Win32Result<bool> {
        match b {
            Block::Small { region, unit, span } => {
                let r = self.region(region);
                let class_bytes = class_size(r.spans[span].class as usize);
                if new > class_bytes {
                    return Ok(false);
                }
                // A thread cache that took the block meanwhile (another thread freed it) wins.
                let rec = r.rec(span, unit).expect("a small block has a size record");
                if !rec.replace((class_bytes - new) / 8) {
                    return Err(Win32Error::InvalidParameter);
                }
                Ok(true)
            }
            Block::Run { region, span } => {
                let new_pages = new.div_ceil(PAGE);
                let r = self.region(region);
                let pages = r.spans[span].pages as usize;
                if new_pages <= pages {
                    r.spans[span].set_size(new);
                    if new_pages < pages {
                        r.spans[span].pages = new_pages as u32;
                        r.put_pages(span + new_pages, pages - new_pages);
                        self.free_committed += pages - new_pages;
                        self.span_pages -= pages - new_pages;
                        self.maybe_trim();
                    }
                    return Ok(true);
                }
                let end = span + new_pages;
                if end > r.pages || (span + pages..end).any(|pg| !r.free_pages.get(pg)) {
                    return Ok(false);
                }
                if !self.commit_pages(region, span + pages, new_pages - pages) {
                    return Ok(false);
                }
                let r = self.region(region);
                for pg in span + pages..end {
                    r.page_span[pg] = span as u32;
                    r.tag_page(pg, RUN);
                    r.free_pages.clear(pg);
                }
                r.free_count -= new_pages - pages;
                r.spans[span].pages = new_pages as u32;
                r.spans[span].set_size(new);
                self.free_committed -= new_pages - pages;
                self.span_pages += new_pages - pages;
                Ok(true)
            }
            Block::Big { index } => {
                let backend = self.backend;
                let b = self.bigs[index].as_mut().expect("big");
                if let Some(guard) = b.guard {
                    // A page-heap block grows in place only into its 16-byte slack, else moves
                    // (so stale pointers to it fault); the bytes after it are filled again.
                    if b.ptr + new > guard {
                        return Ok(false);
                    }
                    // SAFETY: [ptr + new, guard) lies in the block's committed data pages.
                    unsafe {
                        core::ptr::write_bytes(
                            (b.ptr + new) as *mut u8,
                            PAGE_HEAP_FILL,
                            guard - b.ptr - new,
                        )
                    };
                    b.size = new;
                    return Ok(true);
                }
                if new > b.reserved {
                    return Ok(false);
                }
                let need = new.div_ceil(PAGE) * PAGE;
                if need > b.committed {
                    if !backend.commit(b.base + b.committed, need - b.committed, b.user_data) {
                        return Err(Win32Error::NotEnoughMemory);
                    }
                    b.committed = need;
                } else if new < b.size && b.committed - need >= GRANULE {
                    // As CE 6, a shrunk big block gives its tail pages back (only a real shrink,
                    // and only 64 KB or more: a recycled block grows into pages it has).
                    backend.decommit(b.base + need, b.committed - need, b.user_data);
                    b.committed = need;
                }
                b.size = new;
                Ok(true)
            }
        }
    }

    /// HeapValidate(h, 0, NULL): the tables agree with each other and every free list is intact.
    pub fn validate(&self) -> bool {
        if self.corrupt {
            return false;
        }
        // Page-heap blocks: the bytes between each block and its guard page are intact.
        for b in self.bigs.iter().flatten().filter(|b| b.live) {
            if let Some(guard) = b.guard {
                // SAFETY: a live page-heap block's data pages are committed.
                let tail = unsafe {
                    core::slice::from_raw_parts(
                        (b.ptr + b.size) as *const u8,
                        guard - b.ptr - b.size,
                    )
                };
                if tail.iter().any(|&x| x != PAGE_HEAP_FILL) {
                    return false;
                }
            }
        }
        for (ri, r) in self.regions.iter().enumerate() {
            let Some(r) = r else { continue };
            if !tables_agree(r) || self.map.is_some_and(|m| !m.tail_is_clear(r.base, r.pages)) {
                return false;
            }
            let mut page = 0;
            while page < r.pages {
                if r.page_span[page] == NO_SPAN {
                    let units = page * UNITS_PER_PAGE..(page + 1) * UNITS_PER_PAGE;
                    if r.live.next_set(units.start, units.end).is_some()
                        || r.free.next_set(units.start, units.end).is_some()
                    {
                        return false;
                    }
                    page += 1;
                    continue;
                }
                if r.page_span[page] as usize != page {
                    return false;
                }
                let span = &r.spans[page];
                if span.pages == 0 || page + span.pages as usize > r.pages {
                    return false;
                }
                let u0 = page * UNITS_PER_PAGE;
                let u1 = u0 + span.pages as usize * UNITS_PER_PAGE;
                if span.class == RUN {
                    if !r.live.get(u0) || r.live.count(u0 + 1, u1) != 0 || r.free.count(u0, u1) != 0
                    {
                        return false;
                    }
                } else if !self.slab_is_intact(ri, r, page) {
                    return false;
                }
                page += span.pages as usize;
            }
        }
        true
    }

    fn slab_is_intact(&self, ri: usize, r: &Region, first: usize) -> bool {
        let span = &r.spans[first];
        let class_bytes = class_size(span.class as usize);
        let start = r.page_addr(first);
        let end = start + span.cap as usize * class_bytes;
        let u0 = (start - r.base) / UNIT;
        let u1 = u0 + span.pages as usize * UNITS_PER_PAGE;
        let live = r.live.count(u0, u1);
        let free = r.free.count(u0, u1);
        if live != span.used as usize || live + free > span.carved as usize {
            return false;
        }
        let s = SpanRef {
            region: ri as u32,
            page: first as u32,
        };
        let has_room = free > 0 || span.carved < span.cap;
        if self.classes[span.class as usize].current == s {
            if span.listed {
                return false;
            }
        } else if span.used == 0 || span.listed != has_room {
            // An empty slab that is not current goes back to the region; a listed one has room.
            return false;
        }
        let (mut p, mut n) = (span.free_head, 0);
        while p != 0 {
            if p < start
                || p >= end
                || !(p - start).is_multiple_of(class_bytes)
                || !r.free.get((p - r.base) / UNIT)
                || n > free
            {
                return false;
            }
            // SAFETY: p is a block of this slab, in committed memory.
            let (w0, w1) = unsafe { read_link(p) };
            if w1 != !w0 ^ p {
                return false;
            }
            n += 1;
            p = w0 ^ self.key;
        }
        n == free
    }

    /// HeapCompact: decommits every free page, releases empty secondary regions and cached big
    /// blocks; returns the largest free block the heap has without growing.
    pub fn compact(&mut self) -> usize {
        self.release_big_cache();
        // Empty current slabs go back too, so their pages (and regions) can.
        self.drop_empty_slabs();
        self.trim(0);
        let pages = self
            .regions
            .iter()
            .flatten()
            .map(|r| r.largest_free_run())
            .max()
            .unwrap_or(0);
        if pages > 0 {
            return pages * PAGE;
        }
        // No free page: the largest free slab block.
        let mut best = 0;
        for r in self.regions.iter().flatten() {
            for (first, span) in r.spans.iter().enumerate() {
                if span.pages != 0
                    && span.class != RUN
                    && r.page_span[first] as usize == first
                    && (span.free_head != 0 || span.carved < span.cap)
                {
                    best = best.max(class_size(span.class as usize));
                }
            }
        }
        best
    }

    /// Takes everything back from the system: HeapDestroy.
    fn release_everything(&mut self) {
        for i in 0..self.bigs.len() {
            if self.bigs[i].is_some() {
                self.release_big(i);
            }
        }
        self.big_cache.clear();
        self.cached_bytes = 0;
        self.quarantine.clear();
        self.quarantined = 0;
        for ri in 0..self.regions.len() {
            if self.regions[ri].is_some() {
                self.release_region(ri);
            }
        }
        self.regions.clear();
        self.classes = [NO_CLASS; CLASSES];
        self.free_committed = 0;
        self.span_pages = 0;
    }

    pub fn is_process_heap(&self) -> bool {
        self.process
    }
}

/// What HeapSize says of a block asked for `n` bytes: `n` rounded up to 8 (at least 8), or
/// under the page heap `n` itself (at least 1).
pub fn size_for(n: usize) -> usize {
    if page_heap() { n.max(1) } else { round8(n) }
}

/// Bytes a request of `n` gets: a multiple of 8, at least 8.
#[inline]
pub fn round8(n: usize) -> usize {
    (n.max(1) + 7) & !7
}

/// The word a thread cache writes at the start of a block it holds: its address XOR TAG_KEY, so
/// application data practically never matches by chance. (A fixed key, not the heap's secret
/// one: a secret gives nothing against an application's own stray writes, and the cached paths
/// would load it on every call.)
#[inline(always)]
pub(super) fn cache_tag(p: usize) -> usize {
    p ^ TAG_KEY
}

/// See `cache_tag`: all ones in the high half (no address in the emulated space, nor a small
/// number), and a 32-bit immediate, sign-extended, for the assembly leaf paths.
pub(crate) const TAG_KEY: usize = 0x9A3C_65D3_u32 as i32 as isize as usize;
// The assembly leaf paths use it as `TAG_KEY as i32`.
const _: () = assert!(TAG_KEY as i32 as isize as usize == TAG_KEY);

/// # Safety
/// `p` is the start of a live slab block in committed memory.
#[inline(always)]
unsafe fn read_tag(p: usize) -> usize {
    // SAFETY: per the contract, an aligned word inside the block.
    unsafe { (p as *const usize).read() }
}

/// What the thread caches rely on in a region's tables without the lock: each page's tag names
/// this heap and its span's class (RUN for a run; NO_TAG for a page in no span), and only a unit
/// where a live small block starts has HELD (a free's claim is its check that a block starts
/// there).
fn tables_agree(r: &Region) -> bool {
    (0..r.pages).all(|page| {
        let tag = r.tags[page].load(Relaxed);
        let class = match r.page_span[page] {
            NO_SPAN => None,
            first => Some(r.spans[first as usize].class),
        };
        tag == class.map_or(NO_TAG, |c| page_tag(r.owner, c))
            && (page * UNITS_PER_PAGE..(page + 1) * UNITS_PER_PAGE).all(|u| {
                r.short[u].load(Relaxed) & HELD == 0
                    || (r.live.get(u) && class.is_some_and(|c| c as usize <= PAGE_CLASS))
            })
    })
}

fn key_for(handle: usize) -> usize {
    // Differs per heap and per process run; never 0.
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as usize);
    (t ^ handle.rotate_left(29) ^ 0x9E37_79B9_7F4A_7C15) | 1
}

/// # Safety
/// `p` is the start of a free slab block (at least 16 bytes) in committed memory.
#[inline]
unsafe fn read_link(p: usize) -> (usize, usize) {
    let w = p as *const usize;
    // SAFETY: per the contract, two aligned words inside the block.
    unsafe { (w.read(), w.add(1).read()) }
}

/// # Safety
/// `p` is the start of a slab block (at least 16 bytes) in committed memory that nobody uses.
#[inline]
unsafe fn write_link(p: usize, w0: usize, w1: usize) {
    let w = p as *mut usize;
    // SAFETY: per the contract.
    unsafe {
        w.write(w0);
        w.add(1).write(w1);
    }
}

/// A heap: its lock and its state.
pub struct Heap {
    lock: HeapMutex,
    /// Low half: the generation, which changes when the heap is created and destroyed; high half:
    /// the HeapLock depth (owned by the lock's holder). Written under the lock; tells a thread
    /// cache that its heap is still the one it bound and is not held by HeapLock (every change
    /// moves its handle's `cache::EPOCHS` entry on, which the caches' fast paths read instead).
    stamp: AtomicU64,
    /// The state is borrowed by a frame of the lock's owner (a CeHeapCreate callback calling back
    /// into its own heap must not get a second borrow).
    busy: AtomicBool,
    /// The heap runs foreign code under its lock (CeHeapCreate callbacks): never skip the mutex.
    foreign_code: AtomicBool,
    state: UnsafeCell<Option<HeapState>>,
}

// SAFETY: the state is only touched by the holder of `lock`, one frame at a time (`busy`).
unsafe impl Sync for Heap {}

impl Heap {
    const fn new() -> Heap {
        Heap {
            lock: HeapMutex::new(),
            stamp: AtomicU64::new(0),
            busy: AtomicBool::new(false),
            foreign_code: AtomicBool::new(false),
            state: UnsafeCell::new(None),
        }
    }

    /// The HeapLock depth.
    fn user_locks(&self) -> u32 {
        (self.stamp.load(Relaxed) >> 32) as u32
    }

    /// Changes the HeapLock depth by one (the caller holds the lock; `handle` is the heap's).
    fn count_user_lock(&self, handle: usize, up: bool) {
        let s = self.stamp.load(Relaxed);
        self.stamp
            .store(if up { s + (1 << 32) } else { s - (1 << 32) }, Relaxed);
        cache::stamps_changed(handle);
    }

    /// Forgets the HeapLock depth, returning it (as `count_user_lock`).
    fn take_user_locks(&self, handle: usize) -> u32 {
        let s = self.stamp.load(Relaxed);
        self.stamp.store(s & 0xFFFF_FFFF, Relaxed);
        cache::stamps_changed(handle);
        (s >> 32) as u32
    }

    /// A new generation: the heap was created or destroyed (as `count_user_lock`).
    fn next_generation(&self, handle: usize) {
        let s = self.stamp.load(Relaxed);
        self.stamp.store(
            s & !0xFFFF_FFFF | u64::from((s as u32).wrapping_add(1)),
            Relaxed,
        );
        cache::stamps_changed(handle);
    }

    /// Runs `f` on the state of the heap whose handle is `handle`, under the heap's lock.
    #[inline]
    fn enter<R>(
        &self,
        handle: usize,
        f: impl FnOnce(&mut HeapState) -> Win32Result<R>,
    ) -> Win32Result<R> {
        self.lock.lock(!self.foreign_code.load(Relaxed));
        self.entered(handle, f)
    }

    /// `enter` if that needs no waiting (None: the lock is another thread's).
    fn try_enter<R>(
        &self,
        handle: usize,
        f: impl FnOnce(&mut HeapState) -> Win32Result<R>,
    ) -> Option<Win32Result<R>> {
        self.lock.try_lock().then(|| self.entered(handle, f))
    }

    /// The rest of `enter`, with the lock just taken.
    fn entered<R>(
        &self,
        handle: usize,
        f: impl FnOnce(&mut HeapState) -> Win32Result<R>,
    ) -> Win32Result<R> {
        let r = if self.busy.load(Relaxed) {
            Err(Win32Error::InvalidParameter)
        } else {
            // SAFETY: we hold the lock and no other frame of this thread borrows the state.
            match unsafe { &mut *self.state.get() } {
                Some(st) if st.alive && st.handle == handle => {
                    self.busy.store(true, Relaxed);
                    let r = f(st);
                    self.busy.store(false, Relaxed);
                    r
                }
                _ => Err(Win32Error::InvalidParameter),
            }
        };
        // SAFETY: locked above by this thread.
        unsafe { self.lock.unlock() };
        r
    }
}
