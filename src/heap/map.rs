//! Which heap owns a 64 KB granule of the window: one atomic word per granule, so HeapFree can
//! tell a pointer of its heap from a wild one with a single table read, before touching memory.
//!
//! An entry is written by the owning heap under its lock; another heap reading it may see a stale
//! value, and then finds that the entry names a different heap (or a slot it does not use) and
//! rejects the pointer, which is right: the granule is not its own.

use std::sync::OnceLock;
use std::sync::atomic::{
    AtomicU16, AtomicU32, AtomicU64,
    Ordering::{Relaxed, Release},
};

use super::region::{HELD, NO_TAG, PAGE, SharedTables, UNIT};

use crate::vm::{self, GRANULE};

/// What an entry points at.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Owner {
    Region(u32),
    Big(u32),
}

pub(super) struct GranuleMap {
    windows: Vec<(usize, usize, Box<[AtomicU64]>)>,
    /// Per unit and per page of the first window: the `short` entries and page tags of the heap
    /// regions there, so that a thread cache finds them from a block's address alone. Mapped
    /// without reserve (only the pages written take memory); empty if that failed.
    shorts: &'static [AtomicU16],
    tags: &'static [AtomicU32],
}

static MAP: OnceLock<GranuleMap> = OnceLock::new();

/// Whether a heap owns the granule of `addr` (a region's or a big block's). Reads atomics only
/// (no lock, no allocation), for the guard-exception path.
pub(crate) fn heap_owns(addr: usize) -> bool {
    MAP.get()
        .and_then(|m| m.slot(addr))
        .is_some_and(|e| e.load(Relaxed) != 0)
}

pub(super) fn map() -> &'static GranuleMap {
    MAP.get_or_init(|| {
        let space = vm::space();
        let windows = (0..)
            .map_while(|i| space.window(i))
            .map(|(base, size)| {
                let n = size.div_ceil(GRANULE);
                (base, size, (0..n).map(|_| AtomicU64::new(0)).collect())
            })
            .collect::<Vec<_>>();
        let first = windows
            .first()
            .map_or(0, |w: &(usize, usize, Box<[AtomicU64]>)| w.1);
        // The small table first: if the big one cannot be had, only the small one is lost.
        let (shorts, tags) = match vm::os::u32_table(first / PAGE)
            .and_then(|t| Ok((vm::os::u16_table(first / UNIT)?, t)))
        {
            Ok(t) => t,
            Err(_) => (&[][..], &[][..]),
        };
        GranuleMap {
            windows,
            shorts,
            tags,
        }
    })
}

/// An entry's owner if it names heap `heap`.
#[inline(always)]
pub(super) fn decode(heap: u32, e: u64) -> Option<Owner> {
    if e >> 33 != u64::from(heap) + 1 {
        return None;
    }
    let idx = e as u32;
    Some(if e >> 32 & 1 == 0 {
        Owner::Region(idx)
    } else {
        Owner::Big(idx)
    })
}

fn encode(heap: u32, owner: Owner) -> u64 {
    let (kind, idx) = match owner {
        Owner::Region(i) => (0u64, i),
        Owner::Big(i) => (1u64, i),
    };
    (u64::from(heap) + 1) << 33 | kind << 32 | u64::from(idx)
}

impl GranuleMap {
    #[inline]
    fn slot(&self, addr: usize) -> Option<&AtomicU64> {
        // The first window is the one almost every pointer is in (CE 6's only one).
        let (b, s, t) = &self.windows[0];
        let off = addr.wrapping_sub(*b);
        if off < *s {
            return t.get(off / GRANULE);
        }
        self.windows[1..].iter().find_map(|(b, s, t)| {
            let off = addr.wrapping_sub(*b);
            (off < *s).then(|| &t[off / GRANULE])
        })
    }

    /// The owner of `addr` if heap `heap` owns its granule.
    #[inline]
    pub fn lookup(&self, heap: u32, addr: usize) -> Option<Owner> {
        decode(heap, self.slot(addr)?.load(Relaxed))
    }

    /// The first window: (base, size, its table), for a lookup without indirections.
    pub fn first(&self) -> (usize, usize, &'static [AtomicU64]) {
        let (b, s, t) = &self.windows[0];
        // SAFETY: the map lives in a static OnceLock and is never dropped or changed in shape.
        (*b, *s, unsafe { &*(&**t as *const [AtomicU64]) })
    }

    /// The window-wide `short` and page-tag tables, indexed by (address - base) / UNIT and
    /// / PAGE (empty when they could not be mapped).
    pub fn first_tables(&self) -> SharedTables {
        (self.shorts, self.tags)
    }

    /// The stretches of the window-wide tables for a region of `pages` pages at `base`, if it lies
    /// in the first window and the tables exist.
    pub fn tables_for(&self, base: usize, pages: usize) -> Option<SharedTables> {
        let (b, s, _) = self.windows.first()?;
        let off = base.checked_sub(*b)?;
        if off + pages * PAGE > *s || self.tags.is_empty() {
            return None;
        }
        let (u, p) = (off / UNIT, off / PAGE);
        Some((
            &self.shorts[u..u + pages * PAGE / UNIT],
            &self.tags[p..p + pages],
        ))
    }

    /// Clears the window-wide tables over the granules of a reservation a region is made in
    /// (nothing held, no span), whatever was there before: the whole granules, since the granule
    /// map names this heap's region for all of them (a region may end before its last granule
    /// does, and a reservation made there earlier may not have).
    pub fn clear_tables(&self, base: usize, len: usize) {
        // (Reservations start on a granule, and the window ends on one.)
        if let Some((short, tags)) = self.tables_for(base, len.next_multiple_of(GRANULE) / PAGE) {
            short.iter().for_each(|e| e.store(0, Relaxed));
            tags.iter().for_each(|t| t.store(NO_TAG, Relaxed));
        }
    }

    /// Whether the tables past a region's pages to the end of its last granule hold nothing (no
    /// class, nothing held), as `clear_tables` left them: a free's check relies on it there too.
    pub fn tail_is_clear(&self, base: usize, pages: usize) -> bool {
        let end = (pages * PAGE).next_multiple_of(GRANULE) / PAGE;
        self.tables_for(base + pages * PAGE, end - pages)
            .is_none_or(|(short, tags)| {
                short.iter().all(|e| e.load(Relaxed) & HELD == 0)
                    && tags.iter().all(|t| t.load(Relaxed) == NO_TAG)
            })
    }

    /// For a region being released: clears its page tags over its whole granules (so that no
    /// free takes a block there any more, whatever its `short` entries still say), and gives back
    /// the memory of the whole pages of its stretch of the `short` table (they read zero
    /// afterwards: nothing held, as in a stretch never used).
    pub fn drop_tables(&self, base: usize, pages: usize) {
        let granules = (pages * PAGE).next_multiple_of(GRANULE) / PAGE;
        if let Some((_, tags)) = self.tables_for(base, granules) {
            tags.iter().for_each(|t| t.store(NO_TAG, Relaxed));
        }
        let Some((short, _)) = self.tables_for(base, pages) else {
            return;
        };
        let page = vm::os::host_page_size();
        let start = (short.as_ptr() as usize).next_multiple_of(page);
        let end = (short.as_ptr() as usize + core::mem::size_of_val(short)) & !(page - 1);
        if end > start {
            vm::os::drop_pages(start, end - start);
        }
    }

    /// Records (or with `None` forgets) the owner of every granule of [addr, addr+len).
    pub fn set(&self, heap: u32, addr: usize, len: usize, owner: Option<Owner>) {
        let value = owner.map_or(0, |o| encode(heap, o));
        let mut a = addr & !(GRANULE - 1);
        while a < addr + len {
            if let Some(s) = self.slot(a) {
                // Publishes what the heap wrote before (a new region's cleared tables) to a
                // thread cache reading the entry without the lock (an acquire).
                s.store(value, Release);
            }
            a += GRANULE;
        }
    }
}
