//! Placing the windows: one inaccessible host mapping per emulated CE address range, made once
//! and never unmapped, at the CE addresses when the host leaves them free (PIE programs), else at
//! another free range below 4 GB (non-PIE programs, whose image and brk heap sit low).

use std::sync::atomic::AtomicU8;

use super::{GRANULE, MIN_ADDRESS, PAGE, os};
use crate::config::Area;

/// One window: a fixed host range plus its page bytes. Immutable once made.
pub struct Window {
    pub base: usize,
    pub size: usize,
    /// One state byte per 4 KB page (see the constants in `vm`).
    pub pages: &'static [AtomicU8],
}

/// Where the windows go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The CE addresses, or failing that free ranges below 4 GB (the process's space).
    CeAddresses,
    /// Wherever the kernel likes (independent spaces in tests).
    #[cfg(test)]
    Anywhere,
}

/// Room left above each low host mapping, so a non-PIE program's brk heap can still grow.
const BRK_ROOM: usize = 256 << 20;
const LOW_4GB: usize = 0x1_0000_0000;

/// Reserves one window per area, in order. When one cannot be placed (one line on stderr), it
/// and the ones after it are left out, so a window's index always names its area; allocations
/// then fail as on an exhausted device.
pub fn place(areas: &[Area], placement: Placement) -> Vec<Window> {
    let mut windows = Vec::new();
    if os::host_page_size() != PAGE {
        eprintln!("coredll: host pages are not 4 KB; no CE address space is available");
        return windows;
    }
    for area in areas {
        let size = area.end - area.base;
        let base = match placement {
            #[cfg(test)]
            Placement::Anywhere => os::reserve_anywhere(size).ok(),
            Placement::CeAddresses => match os::reserve_at(area.base, size) {
                Ok(()) => Some(area.base),
                Err(_) => place_low(size),
            },
        };
        let Some(base) = base else {
            eprintln!("coredll: cannot reserve {size:#x} bytes of address space below 4 GB");
            break;
        };
        debug_assert_eq!(base % GRANULE, 0, "windows start on a 64 KB block");
        match os::byte_table(size / PAGE) {
            Ok(pages) => windows.push(Window { base, size, pages }),
            Err(e) => {
                eprintln!("coredll: cannot map page tables: {e}");
                break;
            }
        }
    }
    windows
}

/// The highest free range of `size` bytes below 2 GB, else below 4 GB, reserved.
fn place_low(size: usize) -> Option<usize> {
    let lo = os::mmap_min_addr()
        .max(MIN_ADDRESS)
        .next_multiple_of(GRANULE);
    for ceiling in [super::CE_CEILING, LOW_4GB] {
        for (gap_lo, gap_hi) in free_gaps(lo, ceiling).into_iter().rev() {
            if gap_hi - gap_lo < size {
                continue;
            }
            let base = (gap_hi - size) & !(GRANULE - 1);
            if base >= gap_lo && os::reserve_at(base, size).is_ok() {
                return Some(base);
            }
        }
    }
    None
}

/// Gaps between host mappings inside `[lo, hi)`, lowest first, each mapping padded by BRK_ROOM.
fn free_gaps(lo: usize, hi: usize) -> Vec<(usize, usize)> {
    let mut gaps = Vec::new();
    let mut at = lo;
    for m in os::host_mappings() {
        if m.start >= hi {
            break;
        }
        if m.start > at {
            gaps.push((at, m.start));
        }
        at = at.max(m.end.saturating_add(BRK_ROOM).next_multiple_of(GRANULE));
    }
    if at < hi {
        gaps.push((at, hi));
    }
    gaps
}
