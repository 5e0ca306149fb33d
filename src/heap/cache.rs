//! Thread caches: the heaps' front end. Each thread keeps, per heap it uses, a stack of freed
//! small blocks per size class (up to 4 KB), so most HeapAlloc/HeapFree pairs take no lock: an
//! allocation from a stack takes no atomic read-modify-write, a free one (the claim below).
//!
//! What a cache holds is, to the heap's tables, still live (its slab stays in use), and marked
//! as freed in its size record, outside the heap's memory (see `Rec`): every free claims that
//! record atomically, so of two frees of one block exactly one wins, whatever threads and paths
//! they take. Every other operation sees a marked block as freed: HeapFree/HeapSize/HeapReAlloc/
//! HeapValidate reject it with ERROR_INVALID_PARAMETER (a double free is caught, also after the
//! application wrote into the freed block), HeapWalk and toolhelp list it as free. The stacks
//! live outside the heap's memory too; the block's first word gets a tag (`cache_tag`, from its
//! address) that is checked when the block leaves the cache, so a write into a freed block makes
//! HeapValidate(h, 0, NULL) FALSE. A pointer is checked here against the heap's tables (atomics
//! readable without the lock) before anything of the block is touched: the window-wide page tags
//! (owner and class) and `short` table, read by address alone, and the claim, which is the check
//! that a live block starts there (only such a unit's entry is HELD).
//!
//! A block freed into a full stack sends half the stack back to the heap first. A cache goes back
//! to its heap at thread exit, and for the calling thread at HeapCompact, HeapValidate(h, 0, NULL)
//! and when the heap runs out of memory; a heap destroyed meanwhile is seen from its generation,
//! and its blocks are simply forgotten. The careful paths (fault injection, the report, the page
//! heap), fixed heaps, heaps with callbacks and a heap held by HeapLock are never cached.
//!
//! Reentry: nothing but application code can call into a thread's cache while a call of that
//! thread is using it, and the only application code that can run in the middle of a cache call
//! is the guard-exception handler, raised when the cache touches a block whose page the
//! application guarded: that handler runs with the thread's cache parked (`park`), so its heap
//! calls go to the heap itself. (The hibernate handler runs after a cache call is done with the
//! cache; heaps with callbacks are never cached.) Signal handlers are another matter: like malloc,
//! the heap functions are not async-signal-safe (CE has no signals). A handler's call could come
//! while its thread is in the middle of a change to its cache or holds a heap's lock; no guard is
//! kept against that, since one on the cache alone would not make the heaps safe (the lock's own
//! hold is not), and it cost about a tenth of a cached pair.

use core::sync::atomic::{
    AtomicU16, AtomicU32, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};

use super::region::{
    CLASSES, HELD, PAGE, PAGE_CLASS, Region, SLAB_PAGES, SMALL_MAX, TAG_CLASS_STRIDE,
    TAG_OWNER_SHIFT, UNIT, class_size, held,
};
use super::{Heap, cache_tag, read_tag, registry, round8};

// `quick` agrees with the heap's own rounding and classes.
const _: () = {
    let mut n = 0;
    while n <= CACHE_MAX {
        let size = if n == 0 { 8 } else { n.div_ceil(8) * 8 };
        let e = QUICK[n.div_ceil(8)];
        assert!((e & QUICK_OFF) as usize == class_of_const(size) * STACK_BYTES);
        n += 1;
    }
};

/// Every class of small blocks (up to 4 KB) is cached.
pub(super) const CACHED_CLASSES: usize = CLASSES;
/// The largest request a cache serves.
pub(crate) const CACHE_MAX: usize = class_size(CACHED_CLASSES - 1);
/// Heaps a thread caches at once (by handle slot, direct-mapped).
const WAYS: usize = 8;
/// Bytes of a class's stack: its offset in a way is the class times this, as page tags give it
/// (see `region::page_tag`).
const STACK_BYTES: usize = TAG_CLASS_STRIDE as usize;
/// Blocks a stack holds at most (its first 16 bytes hold its count and limit).
const CAP: usize = STACK_BYTES / size_of::<Item>() - 1;
/// Bytes of a way's cache (a power of two, so that a way's index is a shift).
const WAY_BYTES: usize = 131072;

/// Per class: the stack's limit, about 16 KB of blocks (at least 16, at most CAP) up to 1 KB,
/// 8 blocks above. An empty stack takes half of it from the heap at once, and a full one gives
/// half back, so a program that frees and allocates at random meets the heap's lock about once
/// per (limit / 2)² calls of a size (a random walk from the middle to either end), while a
/// thread's cache holds about 590 KB per heap at the very most. (A stack holds up to 131 blocks,
/// so that a program that allocates a hundred blocks of a small size and then frees them all
/// takes no lock.)
const LIMIT: [u8; CACHED_CLASSES] = {
    let mut t = [0u8; CACHED_CLASSES];
    let mut c = 0;
    while c < CACHED_CLASSES {
        let n = 16384 / class_size(c);
        t[c] = if class_size(c) > 1024 {
            8
        } else if n > CAP {
            CAP
        } else if n < 16 {
            16
        } else {
            n
        } as u8;
        c += 1;
    }
    t
};

/// Per request size in 8-byte steps ((n + 7) / 8, n <= CACHE_MAX): its class c as its stack's
/// offset in a way (c × STACK_BYTES, in QUICK_OFF), and above it the block's `short` entry once
/// handed out (HELD, and how many 8-byte steps the rounded size is below the class size).
const QUICK: [u32; CACHE_MAX / 8 + 1] = {
    let mut t = [0u32; CACHE_MAX / 8 + 1];
    let mut q = 0;
    while q <= CACHE_MAX / 8 {
        let size = if q == 0 { 8 } else { q * 8 };
        let c = class_of_const(size);
        t[q] = (c * STACK_BYTES) as u32
            | (held(((class_size(c) - size) / 8) as u16) as u32) << QUICK_SHORT_SHIFT;
        q += 1;
    }
    t
};

const fn class_of_const(size: usize) -> usize {
    let mut c = 0;
    while class_size(c) < size {
        c += 1;
    }
    c
}

/// A request's class's stack offset and its `short` entry (n <= CACHE_MAX; see QUICK).
#[inline(always)]
fn quick(n: usize) -> (usize, u16) {
    // SAFETY: (n + 7) / 8 <= CACHE_MAX / 8 for n <= CACHE_MAX.
    let e = unsafe { *QUICK.get_unchecked(n.div_ceil(8)) };
    ((e & QUICK_OFF) as usize, (e >> QUICK_SHORT_SHIFT) as u16)
}

/// The bits of a QUICK entry that hold the stack's offset, and where the `short` entry starts.
const QUICK_SHORT_SHIFT: u32 = TAG_OWNER_SHIFT;
const QUICK_OFF: u32 = (1 << QUICK_SHORT_SHIFT) - 1;
// (A `short` entry is below 2 × HELD.)
const _: () = assert!(
    CACHED_CLASSES * STACK_BYTES <= QUICK_OFF as usize
        && 2 * HELD as u32 <= 1 << (32 - QUICK_SHORT_SHIFT)
);

const _: () =
    assert!(CACHED_CLASSES == PAGE_CLASS + 1 && CACHE_MAX == SMALL_MAX && SLAB_PAGES == 1);

/// A cached block, and its size record (see `Rec`): its entry in the region's `short` table.
#[derive(Clone, Copy)]
pub(super) struct Item {
    pub p: usize,
    pub size_at: *const AtomicU16,
}

/// What a cache needs of its heap to check a pointer without the lock (fixed for the heap's life).
#[derive(Clone, Copy)]
pub(super) struct View {
    /// The heap's page tag with class 0 (see `region::page_tag`): a page of its slabs of class c
    /// is tagged owner + c × STACK_BYTES.
    pub owner: u32,
    pub win_base: usize,
    /// The first window's size in 16-byte units.
    pub win_units: usize,
    /// The window-wide `short` entries and page tags (see `map::GranuleMap`).
    pub shorts: *const AtomicU16,
    pub tags: *const AtomicU32,
}

/// What an unbound way points at: a heap that never exists, whose stamp (0) no way expects.
static NOWHERE: Heap = Heap::new();

/// Per way index (`way_of`): moves on whenever the stamp of a heap whose handle has that index
/// changes (`stamps_changed`). A way whose `epoch` is still its index's knows its heap's stamp is
/// as bound without reading it, so the leaf paths read one word here instead of two dependent
/// ones in the heap. (A change to one heap sends the ways of that index, in every thread, through
/// `bind` once, which finds other heaps' stamps unchanged; heaps of other indexes are not
/// disturbed.) Each on a cache line of its own, which only such changes write. Starts at 1:
/// UNBOUND's 0 never matches.
pub(crate) static EPOCHS: [Epoch; WAYS] = [const { Epoch(AtomicU64::new(1)) }; WAYS];

#[repr(C, align(64))]
pub(crate) struct Epoch(AtomicU64);

/// The stamp of heap `h` has changed (a new generation or HeapLock depth).
pub(super) fn stamps_changed(h: usize) {
    // Release: a `bind` that reads the new epoch (acquire) then reads the new stamp.
    EPOCHS[way_of(h)].0.fetch_add(1, Release);
}

/// One heap's binding in a thread (`UNBOUND` when it has none).
#[derive(Clone, Copy)]
struct Way {
    handle: usize,
    /// Its index's EPOCHS entry when the heap's stamp was last found to be `stamp`.
    epoch: u64,
    heap: *const Heap,
    /// The heap's stamp when bound: its generation, with no HeapLock held.
    stamp: u64,
    view: View,
}

/// A class's cached blocks, last in first out. Its count and limit are kept as 16 × the number
/// of blocks, which is the top block's offset in the stack: a fast path finds it with one add.
#[repr(C)]
struct Stack {
    /// 16 × the blocks held.
    top: u16,
    /// 16 × LIMIT (kept here for one load on the free path); 0 until the class is first used
    /// (`ready`), so that a thread's cache touches the pages of the classes it uses alone.
    limit: u16,
    _pad: [u16; 6],
    items: [Item; CAP],
}

const _: () = assert!(
    size_of::<Stack>() == STACK_BYTES
        && size_of::<Item>() == 16
        && core::mem::offset_of!(Stack, items) == size_of::<Item>()
);

impl Stack {
    /// Blocks held.
    #[inline(always)]
    fn len(&self) -> usize {
        self.top as usize / size_of::<Item>()
    }

    #[inline(always)]
    fn set_len(&mut self, n: usize) {
        self.top = (n * size_of::<Item>()) as u16;
    }

    /// The entry `off` bytes from the stack's start: entry off / 16 - 1, so `top` names the top
    /// one (the leaf paths work in these offsets, as the assembly ones do).
    ///
    /// # Safety
    /// `off` is a multiple of 16 from 16 to 16 × CAP.
    #[inline(always)]
    unsafe fn entry_at(&self, off: usize) -> Item {
        // SAFETY: per the contract, an entry of `items`.
        unsafe {
            (self as *const Self)
                .cast::<u8>()
                .add(off)
                .cast::<Item>()
                .read()
        }
    }

    /// # Safety
    /// As `entry_at`.
    #[inline(always)]
    unsafe fn set_entry_at(&mut self, off: usize, it: Item) {
        // SAFETY: as above.
        unsafe {
            (self as *mut Self)
                .cast::<u8>()
                .add(off)
                .cast::<Item>()
                .write(it)
        }
    }

    #[inline(always)]
    fn limit(&self) -> usize {
        self.limit as usize / size_of::<Item>()
    }

    /// Sets the limit of class c's stack at its first use; whether it had none.
    fn ready(&mut self, c: usize) -> bool {
        let first = self.limit == 0;
        if first {
            self.limit = LIMIT[c] as u16 * size_of::<Item>() as u16;
        }
        first
    }

    /// The blocks held, oldest first.
    fn held(&self) -> &[Item] {
        &self.items[..self.len()]
    }
}

/// A way's stacks, one per class.
type Stacks = [Stack; CACHED_CLASSES];

/// A way bound to no heap: no handle passes `usable` (not even 0, a NULL handle), and nothing
/// is read through it but NOWHERE's stamp.
const UNBOUND: Way = Way {
    handle: 0,
    epoch: 0,
    heap: &NOWHERE,
    stamp: u64::MAX,
    view: View {
        owner: 0,
        win_base: 0,
        win_units: 0,
        shorts: core::ptr::null(),
        tags: core::ptr::null(),
    },
};

impl Way {
    /// Bound to `h`, whose heap is still the one bound and not held by HeapLock, as seen from
    /// EPOCHS alone.
    #[inline(always)]
    fn usable(&self, h: usize) -> bool {
        self.handle == h && EPOCHS[way_of(h)].0.load(Relaxed) == self.epoch
    }

    /// The heap a way points at: NOWHERE or a leaked (never freed) heap structure.
    fn heap(&self) -> &'static Heap {
        // SAFETY: see above.
        unsafe { &*self.heap }
    }
}

/// A way and its stacks together, so that a fast path finds all it touches from one base: the
/// binding, a stack's count and limit, and one stack entry.
#[repr(C)]
struct WayCache {
    stacks: Stacks,
    way: Way,
    _pad: [u8; WAY_PAD],
}

const WAY_PAD: usize = WAY_BYTES - size_of::<Stacks>() - size_of::<Way>();
const _: () = assert!(
    size_of::<WayCache>() == WAY_BYTES
        && WAY_BYTES.is_power_of_two()
        && core::mem::offset_of!(WayCache, stacks) == 0
);

impl WayCache {
    /// The stack `off` bytes into the way (how QUICK and page tags name a class's stack).
    ///
    /// # Safety
    /// `off` is c × STACK_BYTES for a class c.
    #[inline(always)]
    unsafe fn stack(&self, off: usize) -> &Stack {
        // SAFETY: per the contract, stack c (the stacks come first).
        unsafe { &*(self as *const Self).cast::<u8>().add(off).cast::<Stack>() }
    }

    /// # Safety
    /// As `stack`.
    #[inline(always)]
    unsafe fn stack_mut(&mut self, off: usize) -> &mut Stack {
        // SAFETY: as above.
        unsafe { &mut *(self as *mut Self).cast::<u8>().add(off).cast::<Stack>() }
    }
}

struct ThreadCache {
    ways: [WayCache; WAYS],
}

thread_local! {
    /// Gives the cache back at thread exit.
    static DRAIN: Drain = const { Drain };
}

/// This thread's cache, made at its first heap call; null before, and after thread exit.
///
/// On x86-64 a thread-local word of the initial-exec model (as allocators' thread caches are):
/// two instructions, where std's thread_local! in a shared library calls __tls_get_addr on every
/// access. The library is then for loading at start-up (linked, or LD_PRELOAD); a dlopen works
/// while glibc's spare static TLS has 16 bytes left, which it normally has. (The second word
/// keeps the cache while it is parked.)
#[cfg(target_arch = "x86_64")]
mod slot {
    use super::ThreadCache;

    core::arch::global_asm!(
        ".pushsection .tbss.coredll_thread_cache,\"awT\",@nobits",
        ".globl coredll_thread_cache",
        ".hidden coredll_thread_cache",
        ".type coredll_thread_cache,@object",
        ".size coredll_thread_cache,16",
        ".p2align 3",
        "coredll_thread_cache:",
        ".zero 16",
        ".popsection",
    );

    /// Word `OFF / 8` of this thread's TLS block.
    #[inline(always)]
    fn load<const OFF: usize>() -> *mut ThreadCache {
        let p: *mut ThreadCache;
        // SAFETY: reads this thread's word of the TLS block; no other effect.
        unsafe {
            core::arch::asm!(
                "mov {t}, qword ptr [rip + coredll_thread_cache@gottpoff]",
                "mov {p}, qword ptr fs:[{t} + {off}]",
                t = out(reg) _,
                p = out(reg) p,
                off = const OFF,
                options(nostack, preserves_flags, readonly),
            )
        };
        p
    }

    #[inline(always)]
    fn store<const OFF: usize>(p: *mut ThreadCache) {
        // SAFETY: writes this thread's word of the TLS block.
        unsafe {
            core::arch::asm!(
                "mov {t}, qword ptr [rip + coredll_thread_cache@gottpoff]",
                "mov qword ptr fs:[{t} + {off}], {p}",
                t = out(reg) _,
                p = in(reg) p,
                off = const OFF,
                options(nostack, preserves_flags),
            )
        };
    }

    #[inline(always)]
    pub fn get() -> *mut ThreadCache {
        load::<0>()
    }

    #[inline(always)]
    pub fn set(p: *mut ThreadCache) {
        store::<0>(p)
    }

    /// The cache while parked (the TLS block's second word; null when not parked).
    pub fn parked() -> *mut ThreadCache {
        load::<8>()
    }

    pub fn set_parked(p: *mut ThreadCache) {
        store::<8>(p)
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod slot {
    use super::ThreadCache;
    use core::cell::Cell;

    thread_local! {
        static CACHE: Cell<*mut ThreadCache> = const { Cell::new(core::ptr::null_mut()) };
        static PARKED: Cell<*mut ThreadCache> = const { Cell::new(core::ptr::null_mut()) };
    }

    #[inline(always)]
    pub fn get() -> *mut ThreadCache {
        CACHE.with(Cell::get)
    }

    #[inline(always)]
    pub fn set(p: *mut ThreadCache) {
        CACHE.with(|c| c.set(p))
    }

    pub fn parked() -> *mut ThreadCache {
        PARKED.with(Cell::get)
    }

    pub fn set_parked(p: *mut ThreadCache) {
        PARKED.with(|c| c.set(p))
    }
}

struct Drain;

impl Drop for Drain {
    fn drop(&mut self) {
        let mut tc = slot::get();
        slot::set(core::ptr::null_mut());
        if tc == PARKED {
            // A guard-exception handler left without returning (see `park`).
            tc = slot::parked();
            slot::set_parked(core::ptr::null_mut());
        }
        if tc.is_null() {
            return;
        }
        {
            // SAFETY: made by `make` for this thread, no longer reachable through the slot.
            let tc = unsafe { &mut *tc };
            for i in 0..WAYS {
                if !unbind(tc, i, false) {
                    orphan(&tc.ways[i]);
                }
            }
        }
        // SAFETY: `make`'s mapping, of this size, which nothing refers to any more.
        unsafe { libc::munmap(tc.cast(), size_of::<ThreadCache>()) };
    }
}

#[inline(always)]
fn way_of(h: usize) -> usize {
    // Handles are 16 apart from a base that is a multiple of 16 × WAYS.
    (h >> 4) % WAYS
}

/// This thread's cache, made if needed; None during thread exit and while it is parked.
#[cold]
fn make() -> Option<&'static mut ThreadCache> {
    let tc = slot::get();
    if tc == PARKED {
        return None;
    }
    if !tc.is_null() {
        // SAFETY: this thread's cache, used by one frame at a time (see the module's note on
        // reentry).
        return Some(unsafe { &mut *tc });
    }
    // Registers the destructor; fails once the thread's locals are being destroyed.
    DRAIN.try_with(|_| ()).ok()?;
    // Mapped, not allocated, so that only the pages of the ways and classes the thread uses get
    // touched: calloc leaves a block's pages untouched only while it maps the block itself, and
    // glibc's arenas serve a 1 MB calloc once a thread's cache has been freed (and then clear all
    // of it). None (no cache: the heap itself) when there is no memory.
    // SAFETY: a new private anonymous mapping, which nothing else refers to.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            size_of::<ThreadCache>(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    let tc = p.cast::<ThreadCache>();
    // SAFETY: page-aligned, zero-filled, which is a valid ThreadCache (integers, null pointers);
    // the ways are then made unbound.
    for wc in unsafe { &mut (*tc).ways } {
        wc.way = UNBOUND;
    }
    slot::set(tc);
    // SAFETY: just made, this thread's.
    Some(unsafe { &mut *tc })
}

/// Gives way `i`'s blocks back to its heap (if it is still the heap they came from) and unbinds
/// it. Without `wait`, only if the heap's lock is free: false (the way kept, maybe partly given
/// back) when it is not, so a thread never waits for a heap other than the one it calls.
fn unbind(tc: &mut ThreadCache, i: usize, wait: bool) -> bool {
    let wc = &mut tc.ways[i];
    if wc.way.stamp != UNBOUND.stamp {
        for c in 0..CACHED_CLASSES {
            let n = wc.stacks[c].len();
            if !flush(wc, c, n, wait) {
                return false;
            }
        }
    }
    wc.way = UNBOUND;
    true
}

/// Gives the `m` oldest blocks of the way's class `c` back to the heap (waiting for its lock, or
/// not: false when it would have to).
#[cold]
#[inline(never)]
fn flush(wc: &mut WayCache, c: usize, m: usize, wait: bool) -> bool {
    if m == 0 {
        return true;
    }
    let w = wc.way;
    let heap = w.heap();
    let items = &wc.stacks[c].items;
    let give_back = |st: &mut super::HeapState| {
        // A heap destroyed since took the blocks' memory with it: nothing to give back.
        if heap.stamp.load(Relaxed) as u32 == w.stamp as u32 {
            for it in &items[..m] {
                st.free_cached(it.p);
            }
        }
        Ok(())
    };
    if wait {
        let _ = heap.enter(w.handle, give_back);
    } else if heap.try_enter(w.handle, give_back).is_none() {
        return false;
    }
    let s = &mut wc.stacks[c];
    let n = s.len();
    s.items.copy_within(m..n, 0);
    s.set_len(n - m);
    true
}

/// Blocks of exiting threads whose heap was locked by another thread at the time: (heap, handle,
/// generation, block). Given back by a later call that finds the heap free.
type Orphan = (&'static Heap, usize, u32, usize);
static ORPHANS: std::sync::Mutex<Vec<Orphan>> = std::sync::Mutex::new(Vec::new());
static ORPHANED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Keeps a way's remaining blocks for `adopt` (thread exit, its heap locked elsewhere).
fn orphan(wc: &WayCache) {
    let w = &wc.way;
    // Never blocks for long (a fork child may have inherited the list locked): else the blocks
    // stay out of use, which is all that can be done.
    for _ in 0..1000 {
        if let Ok(mut list) = ORPHANS.try_lock() {
            for s in &wc.stacks {
                for it in s.held() {
                    list.push((w.heap(), w.handle, w.stamp as u32, it.p));
                }
            }
            ORPHANED.store(true, Relaxed);
            return;
        }
        std::thread::yield_now();
    }
}

/// Gives orphaned blocks back to their heaps: all of heap `h`'s, waiting for its lock (`Some`),
/// or any whose heap is free now (`None`). True if some went back.
#[cold]
#[inline(never)]
fn adopt(h: Option<usize>) -> bool {
    if !ORPHANED.load(Relaxed) {
        return false;
    }
    let Ok(mut list) = ORPHANS.try_lock() else {
        return false;
    };
    let before = list.len();
    list.retain(|&(heap, handle, generation, p)| {
        if h.is_some_and(|h| h != handle) {
            return true;
        }
        let give_back = |st: &mut super::HeapState| {
            if heap.stamp.load(Relaxed) as u32 == generation {
                st.free_cached(p);
            }
            Ok(())
        };
        if h.is_some() {
            let _ = heap.enter(handle, give_back);
            false
        } else {
            heap.try_enter(handle, give_back).is_none()
        }
    });
    ORPHANED.store(!list.is_empty(), Relaxed);
    list.len() < before
}

/// Binds the way for `h` (giving back what it held for another heap); false if `h` is not a heap
/// a cache may serve now.
#[cold]
#[inline(never)]
fn bind(tc: &mut ThreadCache, h: usize) -> bool {
    let i = way_of(h);
    let w = &mut tc.ways[i].way;
    if w.usable(h) {
        return true;
    }
    // Read before the stamp (acquire; see `stamps_changed`): a change after this read leaves
    // the way's epoch behind, to be looked at again on the next call.
    let epoch = EPOCHS[i].0.load(Acquire);
    if w.handle == h && w.heap().stamp.load(Relaxed) == w.stamp {
        // Another heap's stamp changed, or this one's and back (HeapLock, HeapUnlock).
        w.epoch = epoch;
        return true;
    }
    let Some(heap) = registry::resolve(h) else {
        return false;
    };
    if heap.foreign_code.load(Relaxed) || heap.user_locks() != 0 {
        return false;
    }
    // Under the lock: the stamp and the view belong to the same heap (none for a heap that is
    // never cached, which then leaves the way alone).
    let Ok(Some((view, stamp))) = heap.enter(h, |st| {
        Ok(st.cache_view().map(|v| (v, heap.stamp.load(Relaxed))))
    }) else {
        return false;
    };
    let _ = adopt(None);
    // The way's blocks go back to their heap first, without waiting for it.
    if !unbind(tc, i, false) {
        return false;
    }
    let w = &mut tc.ways[i].way;
    *w = Way {
        handle: h,
        epoch,
        heap,
        stamp,
        view,
    };
    // A HeapLock taken meanwhile (or any other change of a stamp of this way index) shows in
    // EPOCHS: the next call looks again.
    w.usable(h)
}

/// This thread's cache, if it has been made and is not parked.
#[inline(always)]
fn enter() -> Option<&'static mut ThreadCache> {
    let tc = slot::get();
    // SAFETY: this thread's cache, used by one frame at a time (see the module's note on
    // reentry).
    (tc.addr() > PARKED_ADDR).then(|| unsafe { &mut *tc })
}

/// The slot's value while the thread's cache is parked: no cache, and none is made.
const PARKED: *mut ThreadCache = core::ptr::without_provenance_mut(PARKED_ADDR);
const PARKED_ADDR: usize = 1;

/// What the slot held before `park`.
pub(crate) struct Parked(*mut ThreadCache);

/// Parks this thread's cache while application code runs in the middle of a heap call (the
/// guard-exception handler, for a guard page in a heap's memory): a heap call it makes goes to
/// the heap itself, and the cache call it interrupted finds the cache as it left it. Returns what
/// `unpark` puts back. A handler that leaves without returning (longjmp) leaves the cache parked:
/// the thread goes on without it, and its blocks go back at thread exit.
pub(crate) fn park() -> Parked {
    let tc = slot::get();
    if tc != PARKED {
        slot::set_parked(tc);
    }
    slot::set(PARKED);
    Parked(tc)
}

/// Ends `park`.
pub(crate) fn unpark(parked: Parked) {
    if parked.0 != PARKED {
        slot::set_parked(core::ptr::null_mut());
    }
    slot::set(parked.0);
}

/// What the x86-64 leaf paths of HeapAlloc and HeapFree (`api::heap`, in assembly, which follow
/// `alloc` and `free` step for step) need of the cache's layout.
#[cfg(target_arch = "x86_64")]
pub(crate) mod layout {
    use super::*;
    use core::mem::offset_of;

    /// A handle's way: (handle & WAY_MASK) << WAY_SHIFT is its offset in the thread's cache.
    pub(crate) const WAY_MASK: usize = (WAYS - 1) << 4;
    pub(crate) const WAY_SHIFT: u32 = WAY_BYTES.trailing_zeros() - 4;
    pub(crate) const HANDLE: usize = offset_of!(WayCache, way.handle);
    pub(crate) const WAY_EPOCH: usize = offset_of!(WayCache, way.epoch);
    /// Read by the leaf paths: EPOCHS[i] is at (handle & WAY_MASK) × EPOCH_SCALE.
    pub(crate) use super::EPOCHS;
    pub(crate) const EPOCH_SCALE: usize = size_of::<Epoch>() >> 4;
    pub(crate) const OWNER: usize = offset_of!(WayCache, way.view.owner);
    pub(crate) const WIN_BASE: usize = offset_of!(WayCache, way.view.win_base);
    pub(crate) const WIN_UNITS: usize = offset_of!(WayCache, way.view.win_units);
    pub(crate) const SHORTS: usize = offset_of!(WayCache, way.view.shorts);
    pub(crate) const TAGS: usize = offset_of!(WayCache, way.view.tags);
    /// Class c's stack is at c × STACK_BYTES in the way (QUICK's and a page tag's low 17 bits):
    /// at TOP its u16 count × 16, at TOP_LIMIT its limit × 16, and entry i at 16 + 16 × i (p, then
    /// size_at), so the top entry is at the count × 16 itself.
    pub(crate) const TOP: usize = offset_of!(WayCache, stacks) + offset_of!(Stack, top);
    pub(crate) const TOP_LIMIT: usize = offset_of!(WayCache, stacks) + offset_of!(Stack, limit);
    pub(crate) const ITEMS: usize = offset_of!(WayCache, stacks) + offset_of!(Stack, items);
    /// The last class's stack offset (the largest tag - owner of this heap's slabs).
    pub(crate) const LAST_STACK: usize = (CACHED_CLASSES - 1) * STACK_BYTES;
    /// Units per page: a unit's index shifted right by this is its page's.
    pub(crate) const UNIT_PAGE_SHIFT: u32 = (PAGE / UNIT).trailing_zeros();
    pub(crate) const MAX: usize = CACHE_MAX;
    /// A QUICK entry: the stack's offset in these bits, the `short` entry from this bit on.
    pub(crate) const QUICK_OFF_MASK: u32 = QUICK_OFF;
    pub(crate) const QUICK_SHORT: u32 = QUICK_SHORT_SHIFT;
    /// The slot's value while parked (a pointer at or below it is no cache).
    pub(crate) const NO_CACHE_MAX: usize = PARKED_ADDR;
    /// QUICK, where the assembly can address it.
    pub(crate) static QUICK_TABLE: [u32; CACHE_MAX / 8 + 1] = QUICK;

    const _: () = assert!(
        offset_of!(ThreadCache, ways) == 0
            && size_of::<ThreadCache>() == WAYS * WAY_BYTES
            && offset_of!(WayCache, stacks) == 0
            && size_of::<Epoch>() == 64
            && WAY_MASK == (WAYS - 1) << 4
            && size_of::<Item>() == 16
            && offset_of!(Item, p) == 0
            && offset_of!(Item, size_at) == 8
            && ITEMS == 16
            && HELD == 1 << 9
            && UNIT == 16
            && PAGE == 4096
            && size_of::<usize>() == 8
    );
}

/// The allocations' front end (LocalAlloc, HeapAllocTrace; on x86-64 HeapAlloc has it in
/// assembly, `api::heap`): a small block from this thread's cache, without a call; None (nothing
/// done) on any miss, for `alloc_refill`.
#[inline(always)]
pub(crate) fn alloc(h: usize, n: usize) -> Option<usize> {
    if n > CACHE_MAX {
        return None;
    }
    let tc = enter()?;
    let (off, short) = quick(n);
    let wc = &mut tc.ways[way_of(h)];
    let usable = wc.way.usable(h);
    // SAFETY: QUICK gives a stack's offset.
    let s = unsafe { wc.stack_mut(off) };
    let top = s.top as usize;
    if !usable || top == 0 {
        return None;
    }
    // SAFETY: 16 <= top <= 16 × CAP.
    let it = unsafe { s.entry_at(top) };
    // SAFETY: a cached block is live in its heap's tables: committed, at least 16 bytes.
    if unsafe { read_tag(it.p) } != cache_tag(it.p) {
        return None;
    }
    s.top = (top - size_of::<Item>()) as u16;
    hand_out(it, short);
    Some(it.p)
}

/// Makes a cached block the caller's: records the exact size. (The tag is left in the block,
/// whose contents are now the caller's: only a cached block's tag is ever checked.)
#[inline(always)]
fn hand_out(it: Item, short: u16) {
    // SAFETY: `size_at` is the block's `short` entry (regions' tables outlive their blocks).
    // This cache holds the block's claim (see `Rec`), so a plain store (which gives HELD back)
    // is all it takes; a release, for the owner and class a free reads after claiming it.
    unsafe { (*it.size_at).store(short, Release) };
}

/// The allocations' front end, second try: makes the cache or binds the heap, refills an empty
/// stack, notices a block written over while cached, zeroes. None sends the caller to the heap
/// itself.
#[inline(never)]
pub(crate) fn alloc_refill(h: usize, n: usize, zero: bool) -> Option<usize> {
    if n > CACHE_MAX {
        return None;
    }
    make()?;
    let tc = enter()?;
    if !bind(tc, h) {
        return None;
    }
    let (off, short) = quick(n);
    let c = off / STACK_BYTES;
    let wc = &mut tc.ways[way_of(h)];
    let w = wc.way;
    let s = &mut wc.stacks[c];
    if s.len() == 0 {
        s.ready(c);
        let want = s.limit() / 2;
        let items = &mut s.items;
        let got = w
            .heap()
            .enter(h, |st| Ok(st.take_for_cache(c, &mut items[..want])))
            .unwrap_or(0);
        s.set_len(got);
        if got == 0 {
            return None;
        }
    }
    let k = s.len() - 1;
    s.set_len(k);
    let it = s.items[k];
    // SAFETY: a cached block is live in its heap's tables: committed, at least 16 bytes.
    if unsafe { read_tag(it.p) } != cache_tag(it.p) {
        // The application wrote into it after freeing it: HeapValidate will say so.
        let _ = w.heap().enter(h, |st| {
            st.mark_corrupt();
            Ok(())
        });
    }
    hand_out(it, short);
    if zero {
        // SAFETY: the block holds at least the rounded request.
        unsafe { core::ptr::write_bytes(it.p as *mut u8, 0, round8(n)) };
    }
    // A refill may have committed pages past a memory-budget threshold.
    crate::api::system::fire_hibernate();
    Some(it.p)
}

/// What the frees' front end did.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freed {
    /// The block is in this thread's cache.
    Cached,
    /// Nothing done; `free_bind` may cache it (no cache or binding yet, or a full stack, of which
    /// it gives half back first).
    Retry,
    /// Nothing done; not a block the cache takes: the heap decides and reports.
    Heap,
}

/// The frees' front end (LocalFree; on x86-64 HeapFree has it in assembly, `api::heap`), without
/// a call.
#[inline(always)]
pub(crate) fn free(h: usize, p: usize) -> Freed {
    let Some(tc) = enter() else {
        return Freed::Retry;
    };
    let wc = &mut tc.ways[way_of(h)];
    if !wc.way.usable(h) {
        return Freed::Retry;
    }
    match claim(wc, p) {
        Claim::Got(off, rec, top) => {
            push(wc, off, p, rec, top);
            Freed::Cached
        }
        // Room is made in `free_bind`.
        Claim::Full(_) => Freed::Retry,
        // The heap says what it is.
        Claim::No => Freed::Heap,
    }
}

/// What `claim` found.
enum Claim {
    /// The block, claimed: its stack's offset in the way (see `WayCache::stack`), its size
    /// record and its stack's `top`.
    Got(usize, *const AtomicU16, usize),
    /// A block whose stack (at that offset) is full (nothing done).
    Full(usize),
    /// No block the cache takes now (nothing done, or a claim kept: see `claim`).
    No,
}

/// Checks `p` against the way's heap's tables, read by address (see `map::GranuleMap`), and
/// claims the block for this thread's free (see `Rec`): its stack, its size record and the
/// `top` of its stack. Nothing of the block is touched. Full: its stack has no room (nothing
/// done); No: no block the cache takes now, for the heap to free or refuse.
#[inline(always)]
fn claim(wc: &WayCache, p: usize) -> Claim {
    let v = &wc.way.view;
    // The unit's index in the first window, for a 16-byte-aligned pointer (the rotation puts any
    // other's low bits at the top, out of range).
    let unit = p
        .wrapping_sub(v.win_base)
        .rotate_right(UNIT.trailing_zeros());
    if unit >= v.win_units {
        return Claim::No;
    }
    // SAFETY: the unit is inside the first window, which both tables cover; they are never freed.
    let (tag, rec): (&AtomicU32, &'static AtomicU16) =
        unsafe { (&*v.tags.add(unit / (PAGE / UNIT)), &*v.shorts.add(unit)) };
    // Pairs with the region's tagging of the page, after its tables were cleared.
    let t = tag.load(Acquire);
    // A page of one of this heap's slabs of small blocks: t - owner is its class's stack offset
    // (another heap's tag, a run's or none gives more, or wraps around).
    let off = t.wrapping_sub(v.owner) as usize;
    if off > (CACHED_CLASSES - 1) * STACK_BYTES {
        return Claim::No;
    }
    // SAFETY: only this heap's page tags give such an offset, a class's.
    let s = unsafe { wc.stack(off) };
    // A full stack: `free_bind` gives half of it back first.
    let top = s.top;
    if top >= s.limit {
        return Claim::Full(off);
    }
    // The claim is the check that a live block starts here (only such a unit's entry is HELD).
    // Lost: no block starts here, or another free took it first (a double free).
    if !take_held(rec) {
        return Claim::No;
    }
    // The tag read before may be of a region released since and another made there (a stale
    // pointer's free racing both): the block claimed must be this heap's, of that class. While
    // claimed it stays live, so this read is settled. If it is not, the claim stays: that block
    // is lost to its owner (whose free of it then fails), which is safe, where giving HELD back
    // could put it on a unit that has changed hands again meanwhile.
    if tag.load(Relaxed) != t {
        return Claim::No;
    }
    Claim::Got(off, rec, top as usize)
}

/// Clears HELD in a `short` entry, atomically (acquire and release); whether it was set.
#[inline(always)]
fn take_held(rec: &AtomicU16) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        const _: () = assert!(HELD == 1 << 9);
        // SAFETY: a locked bit-test-and-reset of the entry, an atomic read-modify-write that is
        // a full barrier, as fetch_and is (which compiles to the same instruction followed by
        // three to rebuild the old value from the carry flag); the carry is the answer.
        unsafe {
            core::arch::asm!(
                "lock btr word ptr [{rec}], 9",
                "jc {was_held}",
                rec = in(reg) rec.as_ptr(),
                was_held = label { return true },
                options(nostack),
            )
        };
        false
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        rec.fetch_and(!HELD, core::sync::atomic::Ordering::AcqRel) & HELD != 0
    }
}

/// Caches a block `claim` got, on the stack (at `off`) whose `top` it gave.
#[inline(always)]
fn push(wc: &mut WayCache, off: usize, p: usize, size_at: *const AtomicU16, top: usize) {
    // SAFETY: `claim` found a live block; it is no longer the application's.
    unsafe { (p as *mut usize).write(cache_tag(p)) };
    let top = top + size_of::<Item>();
    // SAFETY: `claim` gave a stack's offset; top <= 16 × LIMIT <= 16 × CAP.
    unsafe {
        let s = wc.stack_mut(off);
        s.set_entry_at(top, Item { p, size_at });
        s.top = top as u16;
    }
}

/// The frees' front end, second try: makes the cache or binds the heap. False sends the caller to
/// the heap, which decides and reports.
#[inline(never)]
pub(crate) fn free_bind(h: usize, p: usize) -> bool {
    if make().is_none() {
        return false;
    }
    let Some(tc) = enter() else {
        return false;
    };
    if !bind(tc, h) {
        return false;
    }
    let wc = &mut tc.ways[way_of(h)];
    let mut got = claim(wc, p);
    if let Claim::Full(off) = got {
        let c = off / STACK_BYTES;
        if wc.stacks[c].ready(c) {
            // Its first use: it had no room before.
            got = claim(wc, p);
        } else {
            // Half the stack goes back to the heap at once, so that a thread that frees more of
            // a size than it allocates meets the lock once per half stack, not on every free.
            let half = wc.stacks[c].limit() / 2;
            // (The flush may have waited for the lock: the way must still be this heap's.)
            if flush(wc, c, half, true) && wc.way.usable(h) {
                got = claim(wc, p);
            }
        }
    }
    match got {
        Claim::Got(off, rec, top) => {
            push(wc, off, p, rec, top);
            true
        }
        Claim::Full(_) | Claim::No => false,
    }
}

/// Where the exact size of the small block at `uoff` in region `r` is kept (see `Item`).
#[inline(always)]
pub(super) fn size_record(r: &Region, uoff: usize) -> *const AtomicU16 {
    // SAFETY: uoff is inside the region, so its unit indexes its tables.
    unsafe { r.short.as_ptr().add(uoff / UNIT) }
}

/// Gives the calling thread's cached blocks of heap `h` back to it (HeapCompact, HeapValidate,
/// a heap out of memory); true if there were any.
pub(crate) fn flush_heap(h: usize) -> bool {
    let Some(tc) = enter() else {
        return false;
    };
    let i = way_of(h);
    let wc = &tc.ways[i];
    let any = wc.way.handle == h && wc.stacks.iter().any(|s| s.len() != 0);
    if wc.way.handle == h {
        unbind(tc, i, true);
    }
    let adopted = adopt(Some(h));
    any || adopted
}
