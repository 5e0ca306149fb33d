//! A heap region: a reservation whose pages are carved into spans. A span is either a slab of
//! equal blocks of one size class or a run of whole pages holding one block. Everything the
//! allocator trusts lives here, outside the heap's memory: which pages belong to which span, which
//! 16-byte units start a live block or a free one, and each small block's exact size. The only
//! metadata inside the heap's memory are the links of free small blocks, and those are checked
//! against these tables before they are followed.

use core::sync::atomic::{
    AtomicU16, AtomicU32,
    Ordering::{AcqRel, Relaxed, Release},
};

/// Blocks start on 16-byte units.
pub(super) const UNIT: usize = 16;
pub(super) const PAGE: usize = 0x1000;
pub(super) const UNITS_PER_PAGE: usize = PAGE / UNIT;

/// The largest slab block; bigger blocks are runs of pages.
pub(super) const SMALL_MAX: usize = 4096;

/// Size classes: every 16 bytes up to 256, then 8 per doubling up to 2 KB, then whole pages.
/// A class's blocks hold any size between the previous class and it, and may shrink in place to 8
/// bytes: the size below the class, in 8-byte steps, fits in 9 bits ((4096 - 8) / 8 = 511).
pub(super) const CLASSES: usize = 41;
/// The class of page-sized blocks (2 KB to 4 KB).
pub(super) const PAGE_CLASS: usize = 40;

pub(super) const fn class_size(c: usize) -> usize {
    if c == PAGE_CLASS {
        PAGE
    } else if c < 16 {
        (c + 1) * 16
    } else {
        let k = c - 16; // 0..24: 8 steps per doubling from 256
        let base = 256 << (k / 8);
        base + (k % 8 + 1) * (base / 8)
    }
}

/// Class of a block of `units` 16-byte units (1..=128).
const CLASS_OF_UNITS: [u8; SMALL_MAX / UNIT + 1] = {
    let mut t = [0u8; SMALL_MAX / UNIT + 1];
    let mut u = 1;
    let mut c = 0;
    while u <= SMALL_MAX / UNIT {
        while class_size(c) < u * UNIT {
            c += 1;
        }
        t[u] = c as u8;
        u += 1;
    }
    t
};

/// The class for a rounded size (8..=SMALL_MAX bytes).
#[inline]
pub(super) fn class_of(size: usize) -> usize {
    CLASS_OF_UNITS[size.div_ceil(UNIT)] as usize
}

/// Pages per slab: one, so a page with no live block is always a free page the heap can give
/// back (a slab with no live block goes back to its region).
pub(super) const SLAB_PAGES: usize = 1;

/// A span's class for runs of pages.
pub(super) const RUN: u8 = u8::MAX;
/// A page's tag when it is in no span (no owner, no class: no free's check passes).
pub(super) const NO_TAG: u32 = 0;
/// `page_span` value of a page that belongs to no span.
pub(super) const NO_SPAN: u32 = u32::MAX;

/// Where a span is: (region index, first page). Packed for the class lists.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct SpanRef {
    pub region: u32,
    pub page: u32,
}

pub(super) const NO_REF: SpanRef = SpanRef {
    region: u32::MAX,
    page: u32::MAX,
};

#[derive(Clone, Copy, Debug)]
pub(super) struct Span {
    /// Size class, or RUN.
    pub class: u8,
    /// Pages the span covers.
    pub pages: u32,
    /// Live blocks.
    pub used: u32,
    /// Blocks a slab holds.
    pub cap: u32,
    /// Blocks of a slab handed out at least once; the rest are carved on demand.
    pub carved: u32,
    /// First free block of the slab's list (an address), 0 for none.
    pub free_head: usize,
    /// A run's block size in bytes (a multiple of 8).
    pub run_size: usize,
    /// Links of the class's list of slabs with free blocks (descriptors stay put: a region's
    /// span table never grows and regions are boxed).
    pub next: *mut Span,
    pub prev: *mut Span,
    pub listed: bool,
    /// The region holding the span, and where the span is.
    pub region: *mut Region,
    pub at: SpanRef,
}

impl Span {
    /// `run_size`.
    #[inline]
    pub fn size(&self) -> usize {
        self.run_size
    }

    #[inline]
    pub fn set_size(&mut self, n: usize) {
        self.run_size = n
    }

    pub fn empty() -> Span {
        Span {
            class: 0,
            pages: 0,
            used: 0,
            cap: 0,
            carved: 0,
            free_head: 0,
            run_size: 0,
            next: core::ptr::null_mut(),
            prev: core::ptr::null_mut(),
            listed: false,
            region: core::ptr::null_mut(),
            at: NO_REF,
        }
    }
}

/// A small block's size record: its entry in `short` (a page-class slab's one block starts at
/// the page's first unit). It also says whether the application holds the block: HELD set (in
/// no other entry: a unit where no live block starts never has it). Every free claims the record
/// by clearing HELD atomically, so of two frees of one block (two threads, or a cache and the
/// heap) exactly one wins, with no lock on the caches' side; handing the block out again stores
/// its size with HELD (`held`).
#[derive(Clone, Copy)]
pub(super) struct Rec<'a>(pub &'a AtomicU16);

/// (Just above STEPS, which takes the nine bits below it.)
pub(super) const HELD: u16 = 0x200;
/// The 8-byte steps the size is below the class in a `short` entry (up to 511: a page-class
/// block may shrink in place to 8 bytes).
pub(super) const STEPS: u16 = 0x01FF;

/// A `short` entry for a block the application holds, `steps` 8-byte steps below its class.
#[inline(always)]
pub(super) const fn held(steps: u16) -> u16 {
    steps | HELD
}

impl Rec<'_> {
    /// A live block's record says it was freed: it is claimed (a thread cache holds it, or a
    /// free or reallocation is taking it).
    #[inline(always)]
    pub fn marked(self) -> bool {
        self.0.load(Relaxed) & HELD == 0
    }

    /// Marks the block as freed: its previous record, or None when it was marked already.
    #[inline(always)]
    pub fn claim(self) -> Option<usize> {
        // A compare-exchange, so the record returned (for `restore`) is exactly the one taken.
        let mut v = self.0.load(Relaxed);
        loop {
            if v & HELD == 0 {
                return None;
            }
            match self.0.compare_exchange_weak(v, v & !HELD, AcqRel, Relaxed) {
                Ok(_) => return Some(v as usize),
                Err(now) => v = now,
            }
        }
    }

    /// Puts back the record `claim` returned (the free did not happen after all).
    pub fn restore(self, v: usize) {
        self.0.store(v as u16, Release);
    }

    /// Replaces a held record with `steps`; false when the block is marked (freed meanwhile).
    pub fn replace(self, steps: usize) -> bool {
        let mut cur = self.0.load(Relaxed);
        loop {
            if cur & HELD == 0 {
                return false;
            }
            match self
                .0
                .compare_exchange_weak(cur, held(steps as u16), AcqRel, Relaxed)
            {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }
}

/// A bitmap over units or pages.
#[derive(Clone, Debug, Default)]
pub(super) struct Bits(pub Vec<u64>);

impl Bits {
    pub fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    #[inline(always)]
    fn word(&self, w: usize) -> u64 {
        self.0[w]
    }
    #[inline(always)]
    fn put(&mut self, w: usize, v: u64) {
        self.0[w] = v
    }
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        self.word(i / 64) >> (i % 64) & 1 != 0
    }
    #[inline]
    pub fn set(&mut self, i: usize) {
        self.put(i / 64, self.word(i / 64) | 1 << (i % 64));
    }
    #[inline]
    pub fn clear(&mut self, i: usize) {
        self.put(i / 64, self.word(i / 64) & !(1 << (i % 64)));
    }
    /// # Safety
    /// `i` is below the bitmap's length in bits.
    #[inline(always)]
    pub unsafe fn get_unchecked(&self, i: usize) -> bool {
        // SAFETY: per the contract.
        unsafe { *self.0.get_unchecked(i / 64) >> (i % 64) & 1 != 0 }
    }
    /// # Safety
    /// `i` is below the bitmap's length in bits.
    #[inline(always)]
    pub unsafe fn flip_unchecked(&mut self, i: usize) {
        // SAFETY: per the contract.
        unsafe { *self.0.get_unchecked_mut(i / 64) ^= 1 << (i % 64) };
    }
    pub fn set_range(&mut self, from: usize, to: usize, on: bool) {
        let mut i = from;
        while i < to {
            let w = i / 64;
            let lo = i % 64;
            let hi = (to - w * 64).min(64);
            let mask = if hi - lo == 64 {
                u64::MAX
            } else {
                ((1u64 << (hi - lo)) - 1) << lo
            };
            let v = self.word(w);
            self.put(w, if on { v | mask } else { v & !mask });
            i = w * 64 + hi;
        }
    }
    /// Set bits in [from, to).
    pub fn count(&self, from: usize, to: usize) -> usize {
        let mut n = 0;
        let mut i = from;
        while i < to {
            let w = i / 64;
            let lo = i % 64;
            let hi = (to - w * 64).min(64);
            let word = self.word(w) >> lo;
            let word = if hi - lo == 64 {
                word
            } else {
                word & ((1u64 << (hi - lo)) - 1)
            };
            n += word.count_ones() as usize;
            i = w * 64 + hi;
        }
        n
    }
    /// First set bit at or after `from`, below `to`.
    pub fn next_set(&self, from: usize, to: usize) -> Option<usize> {
        let mut i = from;
        while i < to {
            let w = self.word(i / 64) >> (i % 64);
            if w != 0 {
                let j = i + w.trailing_zeros() as usize;
                return (j < to).then_some(j);
            }
            i = (i / 64 + 1) * 64;
        }
        None
    }
}

pub(super) struct Region {
    pub base: usize,
    /// Usable pages, and their bytes.
    pub pages: usize,
    pub bytes: usize,
    /// Bytes reserved (what release gives back).
    pub reserved: usize,
    /// The reservation's user data (CeHeapCreate callbacks).
    pub user_data: u32,
    /// Per page: the first page of its span, or NO_SPAN.
    pub page_span: Vec<u32>,
    /// Spans, indexed by their first page.
    pub spans: Vec<Span>,
    /// Pages in no span.
    pub free_pages: Bits,
    pub free_count: usize,
    pub committed: Bits,
    /// Units where a live block starts.
    pub live: Bits,
    /// Units where a free slab block (in its slab's list) starts.
    pub free: Bits,
    /// Per unit: how many 8-byte steps a small block's size is below its class size (STEPS),
    /// and HELD while the application holds it (see `Rec`). Atomics: the caches write them
    /// without the lock.
    pub short: Table<AtomicU16>,
    /// Per page: its tag (`page_tag`) naming its heap and its span's class (RUN for a run),
    /// NO_TAG in no span. The thread caches read it without the lock: one load says whose page
    /// and what class.
    pub tags: Table<AtomicU32>,
    /// The heap's owner number in page tags (`page_tag`).
    pub owner: u32,
}

/// A page's tag: the owning heap's number (below 2^15) shifted by TAG_OWNER_SHIFT, below it its
/// span's class c as c × TAG_CLASS_STRIDE, which is where a thread cache keeps the class's stack
/// (RUN: all ones, beyond any class). So a tag minus `page_tag(owner, 0)` is at most
/// `PAGE_CLASS × TAG_CLASS_STRIDE` only for that owner's slabs; any other tag, NO_TAG included,
/// gives more or wraps around.
#[inline]
pub(super) const fn page_tag(owner: u32, class: u8) -> u32 {
    let low = if class == RUN {
        TAG_RUN
    } else {
        class as u32 * TAG_CLASS_STRIDE
    };
    owner << TAG_OWNER_SHIFT | low
}

/// See `page_tag`: 33 cache lines, an odd number, so that the stacks' first lines fall in
/// different sets of the caches (a power of two would put them all in a few).
pub(super) const TAG_CLASS_STRIDE: u32 = 33 * 64;
/// See `page_tag`.
pub(super) const TAG_OWNER_SHIFT: u32 = 17;
const TAG_RUN: u32 = (1 << TAG_OWNER_SHIFT) - 1;
const _: () = assert!((PAGE_CLASS as u32) * TAG_CLASS_STRIDE < TAG_RUN);

/// A region's table of `short` entries or page tags: its own, or (a region of a heap in the
/// first window) its stretch of the window-wide one the thread caches index by address (see
/// `map::GranuleMap`), which is never freed.
pub(super) struct Table<T: 'static> {
    items: *const [T],
    owned: bool,
}

// SAFETY: a table of atomics, shared like a Box<[T]> of them.
unsafe impl<T: Sync> Send for Table<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for Table<T> {}

impl<T> Table<T> {
    fn own(items: Vec<T>) -> Table<T> {
        Table {
            items: Box::into_raw(items.into_boxed_slice()),
            owned: true,
        }
    }

    fn shared(items: &'static [T]) -> Table<T> {
        Table {
            items,
            owned: false,
        }
    }
}

impl<T> core::ops::Deref for Table<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: a leaked Box this table owns, or a static table.
        unsafe { &*self.items }
    }
}

impl<T> Drop for Table<T> {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: made by Box::into_raw in `own`, dropped once.
            drop(unsafe { Box::from_raw(self.items as *mut [T]) });
        }
    }
}

/// The stretches of the window-wide tables for a region: `short` (one entry per unit) and page
/// tags (one per page).
pub(super) type SharedTables = (&'static [AtomicU16], &'static [AtomicU32]);

impl Region {
    /// `owner`: the heap's number in page tags (never 0); `shared`: the region's stretches of the
    /// window-wide tables, if it uses them, cleared beforehand (`map::GranuleMap::clear_tables`).
    pub fn new(
        base: usize,
        pages: usize,
        reserved: usize,
        user_data: u32,
        owner: u32,
        shared: Option<SharedTables>,
    ) -> Region {
        let units = pages * UNITS_PER_PAGE;
        let (short, tags) = match shared {
            Some((short, tags)) => {
                debug_assert!(short.len() == units && tags.len() == pages);
                (Table::shared(short), Table::shared(tags))
            }
            None => (
                Table::own((0..units).map(|_| AtomicU16::new(0)).collect()),
                Table::own((0..pages).map(|_| AtomicU32::new(NO_TAG)).collect()),
            ),
        };
        let mut free_pages = Bits::new(pages);
        free_pages.set_range(0, pages, true);
        Region {
            base,
            pages,
            bytes: pages * PAGE,
            reserved,
            user_data,
            page_span: vec![NO_SPAN; pages],
            spans: vec![Span::empty(); pages],
            free_pages,
            free_count: pages,
            committed: Bits::new(pages),
            live: Bits::new(units),
            free: Bits::new(units),
            short,
            tags,
            owner,
        }
    }

    /// Tags page `p` with its span's class (a release, so that a thread cache that reads the tag
    /// sees the tables as they were made before it).
    #[inline]
    pub fn tag_page(&self, p: usize, class: u8) {
        self.tags[p].store(page_tag(self.owner, class), Release);
    }

    #[inline]
    pub fn contains(&self, addr: usize) -> bool {
        addr >= self.base && addr < self.base + self.pages * PAGE
    }

    #[inline]
    pub fn page_addr(&self, page: usize) -> usize {
        self.base + page * PAGE
    }

    /// The size of the live slab block at `unit` of the slab starting at page `first` (never
    /// more than its class: a size record a thread cache marked meanwhile reads as garbage, not
    /// as a panic).
    pub fn small_size(&self, first: usize, unit: usize) -> usize {
        let class_bytes = class_size(self.spans[first].class as usize);
        class_bytes.saturating_sub(8 * (self.short[unit].load(Relaxed) & STEPS) as usize)
    }

    /// The size record of the live block at `unit` of the slab at page `first` if its class is
    /// one the thread caches hold (see `Rec`).
    #[inline(always)]
    pub fn rec(&self, first: usize, unit: usize) -> Option<Rec<'_>> {
        (self.spans[first].class as usize <= PAGE_CLASS).then(|| Rec(&self.short[unit]))
    }

    /// The first `n` consecutive free pages, first fit.
    pub fn find_pages(&self, n: usize) -> Option<usize> {
        if self.free_count < n {
            return None;
        }
        let mut start = self.free_pages.next_set(0, self.pages)?;
        loop {
            let mut end = start;
            while end < self.pages && end - start < n && self.free_pages.get(end) {
                end += 1;
            }
            if end - start == n {
                return Some(start);
            }
            start = self.free_pages.next_set(end, self.pages)?;
        }
    }

    /// Marks pages [first, first+n) as one span; `index` is the region's index in its heap.
    pub fn take_pages(&mut self, index: usize, first: usize, n: usize, span: Span) {
        for p in first..first + n {
            self.page_span[p] = first as u32;
            self.tag_page(p, span.class);
            self.free_pages.clear(p);
        }
        self.free_count -= n;
        let region: *mut Region = self;
        self.spans[first] = Span {
            region,
            at: SpanRef {
                region: index as u32,
                page: first as u32,
            },
            ..span
        };
    }

    /// Gives pages [first, first+n) back to the region (still committed).
    pub fn put_pages(&mut self, first: usize, n: usize) {
        for p in first..first + n {
            self.page_span[p] = NO_SPAN;
            self.tags[p].store(NO_TAG, Relaxed);
            self.free_pages.set(p);
        }
        self.free_count += n;
    }

    /// Committed pages that belong to no span.
    pub fn committed_free(&self) -> usize {
        (0..self.pages)
            .filter(|&p| self.free_pages.get(p) && self.committed.get(p))
            .count()
    }

    /// Largest run of free pages.
    pub fn largest_free_run(&self) -> usize {
        let (mut best, mut cur) = (0, 0);
        for p in 0..self.pages {
            if self.free_pages.get(p) {
                cur += 1;
                best = best.max(cur);
            } else {
                cur = 0;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_ranges_match_bit_by_bit() {
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..2000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let (a, b) = ((rng % 300) as usize, ((rng >> 20) % 300) as usize);
            let (from, to) = (a.min(b), a.max(b));
            let mut fast = Bits::new(300);
            fast.0.fill(rng.rotate_left(7));
            let mut slow = fast.clone();
            let on = rng & 1 == 1;
            fast.set_range(from, to, on);
            for i in from..to {
                if on { slow.set(i) } else { slow.clear(i) }
            }
            assert_eq!(fast.0, slow.0);
            assert_eq!(
                fast.count(from, to),
                (from..to).filter(|&i| slow.get(i)).count()
            );
        }
    }

    #[test]
    fn classes_are_ordered_and_cover_every_small_size() {
        for c in 1..CLASSES {
            assert!(class_size(c) > class_size(c - 1));
            assert_eq!(class_size(c) % UNIT, 0);
            // The size below the class always fits the byte of 8-byte steps.
            assert!((class_size(c) - 8) / 8 <= STEPS as usize);
        }
        assert_eq!(class_size(CLASSES - 1), SMALL_MAX);
        for size in (8..=SMALL_MAX).step_by(8) {
            let c = class_of(size);
            assert!(class_size(c) >= size);
            assert!(c == 0 || class_size(c - 1) < size);
            assert!(SLAB_PAGES * PAGE / class_size(c) >= 1);
        }
    }
}
