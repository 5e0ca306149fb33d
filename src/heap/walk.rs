//! The heap as a list of entries in address order, for HeapWalk and the toolhelp snapshot: per
//! region its blocks, free runs and uncommitted ranges, then the big blocks.

use super::region::*;
use super::{HeapState, PAGE};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EntryKind {
    /// A live block of a region.
    Busy,
    /// Committed memory no block uses (adjacent free blocks and pages merged).
    Free,
    /// Reserved pages of a region not committed.
    Uncommitted,
    /// A live big block.
    Big,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Entry {
    pub addr: usize,
    /// Busy/big: the block's size (HeapSize); others: the range's bytes.
    pub size: usize,
    /// Bytes the block occupies beyond its size.
    pub overhead: usize,
    pub kind: EntryKind,
    /// Index of the region (0 for big blocks).
    pub region: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RegionInfo {
    pub index: usize,
    pub base: usize,
    pub size: usize,
    pub committed: usize,
}

impl HeapState {
    /// The live regions, in index order.
    pub fn region_infos(&self) -> Vec<RegionInfo> {
        self.regions
            .iter()
            .enumerate()
            .filter_map(|(index, r)| {
                let r = r.as_ref()?;
                Some(RegionInfo {
                    index,
                    base: r.base,
                    size: r.pages * PAGE,
                    committed: r.committed.count(0, r.pages) * PAGE,
                })
            })
            .collect()
    }

    /// The region whose pages hold `addr`.
    pub fn region_at(&self, addr: usize) -> Option<usize> {
        self.regions
            .iter()
            .position(|r| r.as_ref().is_some_and(|r| r.contains(addr)))
    }

    /// A region's entries in address order.
    pub fn region_entries(&self, ri: usize) -> Vec<Entry> {
        let Some(Some(r)) = self.regions.get(ri) else {
            return Vec::new();
        };
        let mut v: Vec<Entry> = Vec::new();
        let mut push = |addr: usize, size: usize, overhead: usize, kind: EntryKind| {
            if let Some(last) = v.last_mut()
                && kind != EntryKind::Busy
                && last.kind == kind
                && last.addr + last.size == addr
            {
                last.size += size;
                return;
            }
            v.push(Entry {
                addr,
                size,
                overhead,
                kind,
                region: ri,
            });
        };
        let mut page = 0;
        while page < r.pages {
            let addr = r.page_addr(page);
            if r.page_span[page] == NO_SPAN {
                let kind = if r.committed.get(page) {
                    EntryKind::Free
                } else {
                    EntryKind::Uncommitted
                };
                push(addr, PAGE, 0, kind);
                page += 1;
                continue;
            }
            let span = &r.spans[page];
            let bytes = span.pages as usize * PAGE;
            if span.class == RUN {
                push(addr, span.size(), bytes - span.size(), EntryKind::Busy);
            } else {
                let class_bytes = class_size(span.class as usize);
                for k in 0..span.cap as usize {
                    let b = addr + k * class_bytes;
                    let unit = (b - r.base) / UNIT;
                    // A block in a thread cache was freed by the application.
                    if r.live.get(unit) && !self.is_cached(r, page, unit) {
                        let size = r.small_size(page, unit);
                        push(b, size, class_bytes - size, EntryKind::Busy);
                    } else {
                        push(b, class_bytes, 0, EntryKind::Free);
                    }
                }
                let tail = bytes - span.cap as usize * class_bytes;
                if tail > 0 {
                    push(addr + bytes - tail, tail, 0, EntryKind::Free);
                }
            }
            page += span.pages as usize;
        }
        v
    }

    /// The live big blocks, in address order.
    pub fn big_entries(&self) -> Vec<Entry> {
        let mut v: Vec<Entry> = self
            .bigs
            .iter()
            .flatten()
            .filter(|b| b.live)
            .map(|b| Entry {
                addr: b.ptr,
                size: b.size,
                overhead: b.committed - b.size.min(b.committed),
                kind: EntryKind::Big,
                region: 0,
            })
            .collect();
        v.sort_by_key(|e| e.addr);
        v
    }

    /// Every entry: the regions' in index order, then the big blocks.
    pub fn entries(&self) -> Vec<Entry> {
        let mut v = Vec::new();
        for ri in 0..self.regions.len() {
            v.extend(self.region_entries(ri));
        }
        v.extend(self.big_entries());
        v
    }
}
