//! One emulated CE address space: the windows, their tables, and the Virtual* operations.
//!
//! Writers hold one mutex. Reserving is table work only; committing is `mprotect`; decommitting
//! and releasing map fresh inaccessible memory over the range, so uncommitted pages are always
//! pristine and a new commit reads zero.

use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::window::{Placement, Window, place};
use super::*;
use crate::config::{AutoCommit, Profile};
use crate::error::{Win32Error, Win32Result};

/// What VirtualQuery reports, with host addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryInfo {
    pub base_address: usize,
    pub allocation_base: usize,
    pub allocation_protect: DWORD,
    pub region_size: usize,
    pub state: DWORD,
    pub protect: DWORD,
    pub kind: DWORD,
}

/// A reservation's kind, recorded at its base granule.
const KIND_IMAGE: u8 = 1;
const KIND_AUTO: u8 = 2;
/// A view of a file mapping: shared pages the Virtual* calls may only query.
const KIND_VIEW: u8 = 4;

/// Writer-side tables of one window (under the space's mutex).
struct Tables {
    /// Per granule: 0 when free, else the owning reservation's base granule + 1.
    owner: Vec<u32>,
    /// At a reservation's base granule: its length in pages.
    resv_pages: Vec<u32>,
    /// At a reservation's base granule: its KIND_* bits.
    resv_kind: Vec<u8>,
    /// At a reservation's base granule: the byte its uncommitted pages hold.
    resv_byte: Vec<u8>,
    /// One bit per granule, set while in use: first-fit search skips whole used words.
    used: Vec<u64>,
    /// Every granule below this one is in use (bottom-up first-fit starts here).
    low_free: usize,
}

impl Tables {
    fn new(granules: usize) -> Tables {
        Tables {
            owner: vec![0; granules],
            resv_pages: vec![0; granules],
            resv_kind: vec![0; granules],
            resv_byte: vec![0; granules],
            used: vec![0; granules.div_ceil(64)],
            low_free: 0,
        }
    }

    fn is_used(&self, g: usize) -> bool {
        self.used[g / 64] & (1 << (g % 64)) != 0
    }

    fn set_used(&mut self, g: usize, used: bool) {
        if used {
            self.used[g / 64] |= 1 << (g % 64);
            if g == self.low_free {
                self.low_free = g + 1;
            }
        } else {
            self.used[g / 64] &= !(1 << (g % 64));
            self.low_free = self.low_free.min(g);
        }
    }

    /// The first run of `n` free granules, from the bottom or the top.
    fn find_free(&self, n: usize, top_down: bool) -> Option<usize> {
        let total = self.owner.len();
        if n == 0 || n > total {
            return None;
        }
        let mut run = 0;
        if top_down {
            let mut g = total;
            while g > 0 {
                g -= 1;
                if g % 64 == 63 && self.used[g / 64] == u64::MAX {
                    run = 0;
                    g -= 63;
                    continue;
                }
                run = if self.is_used(g) { 0 } else { run + 1 };
                if run == n {
                    return Some(g);
                }
            }
        } else {
            // Runs of equal bits at a time: trailing_zeros/ones jump over whole runs.
            let mut g = self.low_free;
            while g < total {
                let bit = g % 64;
                let word = self.used[g / 64] >> bit;
                let left = (64 - bit).min(total - g);
                if word & 1 != 0 {
                    run = 0;
                    g += ((!word).trailing_zeros() as usize).min(left);
                } else {
                    let zeros = (word.trailing_zeros() as usize).min(left);
                    if run + zeros >= n {
                        return Some(g - run);
                    }
                    run += zeros;
                    g += zeros;
                }
            }
        }
        None
    }

    fn free_granules(&self) -> usize {
        self.owner.len()
            - self
                .used
                .iter()
                .map(|w| w.count_ones() as usize)
                .sum::<usize>()
    }
}

/// A reservation found by address: window index, base granule and pages.
#[derive(Clone, Copy, Debug)]
struct Reservation {
    window: usize,
    base_granule: usize,
    pages: usize,
}

impl Reservation {
    fn first_page(&self) -> usize {
        self.base_granule * PAGES_PER_GRANULE
    }

    fn end_page(&self) -> usize {
        self.first_page() + self.pages
    }
}

/// A range of pages of one window: `[first, end)`.
#[derive(Clone, Copy, Debug)]
struct PageRange {
    window: usize,
    first: usize,
    end: usize,
}

pub struct Space {
    profile: Profile,
    auto: AutoCommit,
    windows: Vec<Window>,
    tables: Mutex<Vec<Tables>>,
}

impl Space {
    /// The process's space, at the CE addresses of `profile` when the host allows.
    pub fn new(profile: Profile, auto: AutoCommit) -> Space {
        Space::with_placement(profile, auto, Placement::CeAddresses)
    }

    #[cfg(test)]
    /// An independent space at host-chosen addresses (for tests that need several).
    pub fn new_anywhere(profile: Profile, auto: AutoCommit) -> Space {
        Space::with_placement(profile, auto, Placement::Anywhere)
    }

    fn with_placement(profile: Profile, auto: AutoCommit, placement: Placement) -> Space {
        let windows = place(profile.areas(), placement);
        for w in &windows {
            super::fault::register(w.base, w.pages);
        }
        let tables = windows
            .iter()
            .map(|w| Tables::new(w.size / GRANULE))
            .collect();
        Space {
            profile,
            auto,
            windows,
            tables: Mutex::new(tables),
        }
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Base and size of window `index` (0: the process space; 1 on ce5: the large-memory area).
    pub fn window(&self, index: usize) -> Option<(usize, usize)> {
        self.windows.get(index).map(|w| (w.base, w.size))
    }

    /// The lowest and highest addresses applications may be given (GetSystemInfo).
    pub fn application_range(&self) -> (usize, usize) {
        let lo = self
            .windows
            .iter()
            .map(|w| w.base)
            .min()
            .unwrap_or(MIN_ADDRESS);
        (lo, self.ceiling() - 1)
    }

    /// Everything at or above this is a kernel address to CE.
    fn ceiling(&self) -> usize {
        self.windows
            .iter()
            .map(|w| w.base + w.size)
            .fold(CE_CEILING, usize::max)
    }

    /// The writers' lock, held across a fork() (see `crate::fork`).
    pub fn lock_for_fork(&'static self) -> Box<dyn std::any::Any> {
        Box::new(self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Tables>> {
        // panic = "abort": a poisoned lock cannot be observed, only a test's unwinding could.
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The window holding `[start, end)`, with `start`'s offset.
    fn window_of(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        self.windows
            .iter()
            .position(|w| start >= w.base && end <= w.base + w.size && start < end)
            .map(|i| (i, start - self.windows[i].base))
    }

    /// The pages touched by `[addr, addr+size)` when they all lie in one window.
    fn page_range(&self, addr: usize, size: usize) -> Option<PageRange> {
        let start = addr & !(PAGE - 1);
        let end = addr.checked_add(size)?.checked_next_multiple_of(PAGE)?;
        let (window, offset) = self.window_of(start, end)?;
        Some(PageRange {
            window,
            first: offset / PAGE,
            end: (end - self.windows[window].base) / PAGE,
        })
    }

    /// The reservation owning every page of `range`, if one does.
    fn reservation_of(&self, tables: &[Tables], range: PageRange) -> Option<Reservation> {
        let t = &tables[range.window];
        let owner = t.owner[range.first / PAGES_PER_GRANULE] as usize;
        if owner == 0 {
            return None;
        }
        let r = Reservation {
            window: range.window,
            base_granule: owner - 1,
            pages: t.resv_pages[owner - 1] as usize,
        };
        (range.end <= r.end_page()).then_some(r)
    }

    /// The reservation owning `range`, unless it is a file view, whose pages the Virtual* calls
    /// may not commit, decommit, protect or release.
    fn plain_reservation_of(
        &self,
        tables: &[Tables],
        range: PageRange,
    ) -> Win32Result<Reservation> {
        match self.reservation_of(tables, range) {
            Some(r) if tables[r.window].resv_kind[r.base_granule] & KIND_VIEW == 0 => Ok(r),
            _ => Err(Win32Error::InvalidParameter),
        }
    }

    /// Maps `len` bytes of `file` from `offset` (a multiple of 64 KB) as a shared view at a free
    /// place of window `window` (the last one there is when it does not exist): returns its base.
    pub fn map_view(
        &self,
        window: usize,
        file: &std::fs::File,
        offset: u64,
        len: usize,
        writable: bool,
    ) -> Win32Result<usize> {
        use std::os::fd::AsRawFd;
        let protection = if writable {
            Protection::READWRITE
        } else {
            Protection::READONLY
        };
        let mut tables = self.lock();
        let window = window.min(
            self.windows
                .len()
                .checked_sub(1)
                .ok_or(Win32Error::NotEnoughMemory)?,
        );
        let pages = len.div_ceil(PAGE);
        let g = tables[window]
            .find_free(pages.div_ceil(PAGES_PER_GRANULE), false)
            .ok_or(Win32Error::NotEnoughMemory)?;
        let r = Reservation {
            window,
            base_granule: g,
            pages,
        };
        let base = self.page_address(window, r.first_page());
        os::map_shared(
            base,
            pages * PAGE,
            protection.host(),
            file.as_raw_fd(),
            offset,
        )
        .map_err(|_| Win32Error::NotEnoughMemory)?;
        self.record(&mut tables[window], r, protection, KIND_VIEW)?;
        Ok(base)
    }

    /// Gives a view's address range back (its pages are already in the file or shared memory).
    pub fn unmap_view(&self, base: usize) -> Win32Result<()> {
        let mut tables = self.lock();
        let range = self
            .page_range(base, 1)
            .ok_or(Win32Error::InvalidParameter)?;
        match self.reservation_of(&tables, range) {
            Some(r)
                if tables[r.window].resv_kind[r.base_granule] & KIND_VIEW != 0
                    && self.page_address(r.window, r.first_page()) == base =>
            {
                self.release_reservation(&mut tables[r.window], r, true)
            }
            _ => Err(Win32Error::InvalidParameter),
        }
    }

    fn page(&self, window: usize, page: usize) -> u8 {
        self.windows[window].pages[page].load(Acquire)
    }

    fn page_address(&self, window: usize, page: usize) -> usize {
        self.windows[window].base + page * PAGE
    }

    fn pages(&self, range: PageRange) -> &'static [AtomicU8] {
        &self.windows[range.window].pages[range.first..range.end]
    }

    /// The host protection a page byte stands for.
    fn host_prot(&self, byte: u8) -> os::Prot {
        if byte & COMMITTED != 0 {
            Protection::from_bits(byte).host()
        } else if byte & AUTO != 0 && self.auto == AutoCommit::Lazy {
            os::PROT_READ | os::PROT_WRITE
        } else {
            os::PROT_NONE
        }
    }

    /// Whether each page of `range` is resident: lazy auto-commit pages are committed once
    /// touched. Pages the kernel cannot answer for count as untouched.
    fn resident(&self, range: PageRange) -> Vec<bool> {
        let mut v = vec![0u8; range.end - range.first];
        if !os::resident_pages(self.page_address(range.window, range.first), &mut v) {
            v.fill(0);
        }
        v.into_iter().map(|b| b & 1 != 0).collect()
    }

    /// Takes the BUSY bit of every page of `pages` (see `fault`), waiting out the fault
    /// handler's one-syscall holds. The writer stores each byte back without BUSY when done.
    ///
    /// While this thread holds BUSY on a guard or auto-commit page, a signal handler on it that
    /// touched the page would fault into our handler and wait for this thread forever; so the
    /// asynchronous signals stay blocked until the returned value is dropped. Plain pages need
    /// no such care (touching them never enters the handler), which keeps the common paths
    /// free of the two extra system calls.
    #[must_use]
    fn claim(pages: &[AtomicU8], arming_guard: bool) -> Option<os::AsyncSignalsBlocked> {
        let blocked = (arming_guard || pages.iter().any(|b| b.load(Relaxed) & (GUARD | AUTO) != 0))
            .then(os::block_async_signals);
        for b in pages {
            loop {
                let v = b.load(Acquire);
                if v & BUSY != 0 {
                    std::thread::yield_now();
                } else if b
                    .compare_exchange_weak(v, v | BUSY, AcqRel, Acquire)
                    .is_ok()
                {
                    break;
                }
            }
        }
        blocked
    }

    fn unclaim(pages: &[AtomicU8]) {
        for b in pages {
            b.fetch_and(!BUSY, Release);
        }
    }

    /// VirtualAlloc. `addr` 0 means "anywhere".
    pub fn alloc(
        &self,
        addr: usize,
        size: DWORD,
        alloc_type: DWORD,
        protect: DWORD,
    ) -> Win32Result<usize> {
        self.alloc_admitted(addr, size, alloc_type, protect, &|_| true)
    }

    /// VirtualAlloc that asks `admit` (with the size) once the request is known to be valid and
    /// possible, just before it is carried out: false fails it as out of memory, with nothing
    /// changed (fault injection).
    pub fn alloc_admitted(
        &self,
        addr: usize,
        size: DWORD,
        alloc_type: DWORD,
        protect: DWORD,
        admit: &dyn Fn(usize) -> bool,
    ) -> Win32Result<usize> {
        let kind = alloc_type & !MEM_TOP_DOWN;
        const ALLOWED: DWORD = MEM_RESERVE | MEM_COMMIT | MEM_AUTO_COMMIT | MEM_IMAGE;
        if kind == 0 || kind & !ALLOWED != 0 || size == 0 || size >= 0x8000_0000 {
            return Err(Win32Error::InvalidParameter);
        }
        let protection = Protection::from_win32(protect).ok_or(Win32Error::InvalidParameter)?;
        let size = size as usize;
        // MEM_IMAGE only types a reservation; auto-commit pages exist only as one.
        let reserve = addr == 0 || kind & (MEM_RESERVE | MEM_AUTO_COMMIT) != 0;
        let commit = kind & MEM_COMMIT != 0;
        if !reserve && !commit {
            return Err(Win32Error::InvalidParameter);
        }
        // CE 5 sends big plain reservations to the shared large-memory area, and nothing else
        // of 32 MB or more fits its slot.
        let large_area = self.profile == Profile::Ce5
            && addr == 0
            && alloc_type == MEM_RESERVE
            && protect == PAGE_NOACCESS
            && size >= 2 << 20;
        if self.profile == Profile::Ce5 && size >= 32 << 20 && !large_area {
            return Err(Win32Error::InvalidParameter);
        }

        let mut tables = self.lock();
        if !reserve {
            let range = self
                .page_range(addr, size)
                .ok_or(Win32Error::InvalidParameter)?;
            self.plain_reservation_of(&tables, range)?;
            if !admit(size) {
                return Err(Win32Error::NotEnoughMemory);
            }
            self.commit(range, protection)?;
            return Ok(self.page_address(range.window, range.first));
        }

        let resv = if addr == 0 {
            let window = usize::from(large_area);
            if window >= self.windows.len() {
                return Err(Win32Error::NotEnoughMemory);
            }
            let pages = size.div_ceil(PAGE);
            let top_down = self.profile == Profile::Ce5 && alloc_type & MEM_TOP_DOWN != 0;
            let g = tables[window]
                .find_free(pages.div_ceil(PAGES_PER_GRANULE), top_down)
                .ok_or(Win32Error::NotEnoughMemory)?;
            Reservation {
                window,
                base_granule: g,
                pages,
            }
        } else {
            // Every page from the start of the 64 KB block to the end of the request.
            let offset = addr % GRANULE;
            let span = self
                .page_range(addr - offset, offset + size)
                .ok_or(Win32Error::InvalidParameter)?;
            let r = Reservation {
                window: span.window,
                base_granule: span.first / PAGES_PER_GRANULE,
                pages: span.end - span.first,
            };
            let t = &tables[r.window];
            let granules = r.pages.div_ceil(PAGES_PER_GRANULE);
            if (r.base_granule..r.base_granule + granules).any(|g| t.is_used(g)) {
                return Err(Win32Error::InvalidParameter);
            }
            r
        };
        if !admit(size) {
            return Err(Win32Error::NotEnoughMemory);
        }
        let mut kind_bits = 0;
        if kind & MEM_IMAGE != 0 {
            kind_bits |= KIND_IMAGE;
        }
        if kind & MEM_AUTO_COMMIT != 0 {
            kind_bits |= KIND_AUTO;
        }
        self.record(&mut tables[resv.window], resv, protection, kind_bits)?;
        let result = (|| {
            if !commit {
                return Ok(self.page_address(resv.window, resv.first_page()));
            }
            // From the page of `addr` (windows start on 64 KB blocks) to the reservation's end.
            let range = PageRange {
                window: resv.window,
                first: resv.first_page() + addr % GRANULE / PAGE,
                end: resv.end_page(),
            };
            self.commit(range, protection)?;
            Ok(self.page_address(range.window, range.first))
        })();
        if result.is_err() {
            // Should this fail too, the reservation stays recorded: leaked, but never
            // inconsistent with the memory.
            let _ = self.release_reservation(&mut tables[resv.window], resv, true);
        }
        result
    }

    fn record(
        &self,
        t: &mut Tables,
        r: Reservation,
        protection: Protection,
        kind_bits: u8,
    ) -> Win32Result<()> {
        // Auto-commit pages become committed read-write, whatever the reservation's protection.
        let reserved = if kind_bits & KIND_AUTO != 0 {
            let start = self.page_address(r.window, r.first_page());
            match self.auto {
                AutoCommit::Lazy => {
                    os::protect(start, r.pages * PAGE, self.host_prot(AUTO))
                        .map_err(|_| Win32Error::NotEnoughMemory)?;
                    os::no_huge_pages(start, r.pages * PAGE);
                }
                AutoCommit::Strict => super::fault::ensure_handler(),
            }
            Protection::READWRITE.bits() | AUTO
        } else if kind_bits & KIND_VIEW != 0 {
            // A view's pages are the mapping's, committed from the start.
            protection.bits() | COMMITTED
        } else {
            protection.bits()
        };
        let granules = r.pages.div_ceil(PAGES_PER_GRANULE);
        for g in r.base_granule..r.base_granule + granules {
            t.owner[g] = (r.base_granule + 1) as u32;
            t.set_used(g, true);
        }
        t.resv_pages[r.base_granule] = r.pages as u32;
        t.resv_kind[r.base_granule] = kind_bits;
        t.resv_byte[r.base_granule] = reserved;
        for b in &self.windows[r.window].pages[r.first_page()..r.end_page()] {
            b.store(reserved, Release);
        }
        Ok(())
    }

    /// Commits `range` (inside one reservation) with `protection`: new pages read zero,
    /// committed pages keep their contents and take the new protection.
    fn commit(&self, range: PageRange, protection: Protection) -> Win32Result<()> {
        if protection.is_guard() {
            // Before any guard page exists, or its first touch would kill the process.
            super::fault::ensure_handler();
        }
        let bits = protection.bits() | COMMITTED;
        let host = protection.host();
        let pages = self.pages(range);
        // Pages not committed yet count against the emulated RAM (COREDLL_RAM): admitted on this
        // count, counted again once claimed (a first touch may commit one meanwhile).
        let uncommitted = || {
            pages
                .iter()
                .filter(|b| b.load(Relaxed) & COMMITTED == 0)
                .count()
        };
        super::ram::ram().admit(uncommitted())?;
        let _signals = Self::claim(pages, protection.is_guard());
        let new = uncommitted();
        if pages
            .iter()
            .any(|b| self.host_prot(b.load(Relaxed) & !BUSY) != host)
        {
            let start = self.page_address(range.window, range.first);
            if os::protect(start, (range.end - range.first) * PAGE, host).is_err() {
                // The kernel is out of mappings or commit charge: put back what changed. The
                // page bytes still hold the old states.
                self.restore_host_prots(range);
                Self::unclaim(pages);
                return Err(Win32Error::NotEnoughMemory);
            }
        }
        for b in pages {
            b.store(bits | (b.load(Relaxed) & AUTO), Release);
        }
        super::ram::ram().add(new);
        Ok(())
    }

    fn restore_host_prots(&self, range: PageRange) {
        let prot_of = |p: usize| self.host_prot(self.page(range.window, p) & !BUSY);
        let mut p = range.first;
        while p < range.end {
            let prot = prot_of(p);
            let run_end = (p..range.end).find(|&q| prot_of(q) != prot);
            let run_end = run_end.unwrap_or(range.end);
            // Best effort: the range was consistent before the failed call.
            let _ = os::protect(
                self.page_address(range.window, p),
                (run_end - p) * PAGE,
                prot,
            );
            p = run_end;
        }
    }

    /// Returns the pages of `range` to their reserved state, pristine: committed pages are
    /// mapped afresh inaccessible, auto-commit pages of a lazy space afresh read-write.
    fn decommit(&self, range: PageRange, reserved: u8) -> Win32Result<()> {
        let pages = self.pages(range);
        let _signals = Self::claim(pages, false);
        let mut released = 0;
        let reset_kind = |b: u8| {
            if b & AUTO != 0 && self.auto == AutoCommit::Lazy {
                2
            } else if b & COMMITTED != 0 {
                1
            } else {
                0
            }
        };
        let mut i = 0;
        while i < pages.len() {
            let kind = reset_kind(pages[i].load(Relaxed));
            let run = pages[i..]
                .iter()
                .position(|b| reset_kind(b.load(Relaxed)) != kind)
                .unwrap_or(pages.len() - i);
            let start = self.page_address(range.window, range.first + i);
            let done = match kind {
                2 => os::reset(start, run * PAGE, self.host_prot(AUTO))
                    .map(|()| os::no_huge_pages(start, run * PAGE)),
                1 => os::reset(start, run * PAGE, os::PROT_NONE),
                _ => Ok(()),
            };
            if done.is_err() {
                Self::unclaim(&pages[i..]);
                super::ram::ram().sub(released);
                return Err(Win32Error::NotEnoughMemory);
            }
            released += pages[i..i + run]
                .iter()
                .filter(|b| b.load(Relaxed) & COMMITTED != 0)
                .count();
            for b in &pages[i..i + run] {
                b.store(reserved, Release);
            }
            i += run;
        }
        super::ram::ram().sub(released);
        Ok(())
    }

    /// Gives a whole reservation back. Fails, changing nothing, only when the kernel cannot map
    /// the pages afresh (out of mappings), so the tables never call dirty memory free.
    ///
    /// `after_failure`: a failed commit may have left host protections the bytes do not show,
    /// so the pages are mapped afresh whatever the bytes say.
    fn release_reservation(
        &self,
        t: &mut Tables,
        r: Reservation,
        after_failure: bool,
    ) -> Win32Result<()> {
        let range = PageRange {
            window: r.window,
            first: r.first_page(),
            end: r.end_page(),
        };
        let pages = self.pages(range);
        let _signals = Self::claim(pages, false);
        // A view's pages are the mapping's and never counted as RAM.
        let counted = if t.resv_kind[r.base_granule] & KIND_VIEW != 0 {
            0
        } else {
            pages
                .iter()
                .filter(|b| b.load(Relaxed) & COMMITTED != 0)
                .count()
        };
        // Committed pages (guarded ones included) and lazy auto-commit pages may hold data.
        if after_failure
            || pages
                .iter()
                .any(|b| b.load(Relaxed) & (COMMITTED | AUTO) != 0)
        {
            let start = self.page_address(r.window, range.first);
            if os::reset(start, r.pages * PAGE, os::PROT_NONE).is_err() {
                Self::unclaim(pages);
                return Err(Win32Error::NotEnoughMemory);
            }
        }
        for b in pages {
            b.store(0, Release);
        }
        for g in r.base_granule..r.base_granule + r.pages.div_ceil(PAGES_PER_GRANULE) {
            t.owner[g] = 0;
            t.set_used(g, false);
        }
        t.resv_pages[r.base_granule] = 0;
        t.resv_kind[r.base_granule] = 0;
        t.resv_byte[r.base_granule] = 0;
        super::ram::ram().sub(counted);
        Ok(())
    }

    /// VirtualFree.
    pub fn free(&self, addr: usize, size: DWORD, free_type: DWORD) -> Win32Result<()> {
        let mut tables = self.lock();
        match free_type {
            MEM_RELEASE if size == 0 => {
                let range = self
                    .page_range(addr, 1)
                    .ok_or(Win32Error::InvalidParameter)?;
                let r = self.plain_reservation_of(&tables, range)?;
                if self.page_address(r.window, r.first_page()) != addr {
                    return Err(Win32Error::InvalidParameter);
                }
                if self.profile == Profile::Ce5 {
                    // CE 5 releases only regions whose pages are all reserved or all committed.
                    let committed = self.committed(PageRange {
                        window: r.window,
                        first: r.first_page(),
                        end: r.end_page(),
                    });
                    if committed.iter().any(|&c| c != committed[0]) {
                        return Err(Win32Error::InvalidParameter);
                    }
                }
                self.release_reservation(&mut tables[r.window], r, false)
            }
            MEM_DECOMMIT if size != 0 && size < 0x8000_0000 => {
                let range = self
                    .page_range(addr, size as usize)
                    .ok_or(Win32Error::InvalidParameter)?;
                let r = self.plain_reservation_of(&tables, range)?;
                self.decommit(range, tables[r.window].resv_byte[r.base_granule])
            }
            _ => Err(Win32Error::InvalidParameter),
        }
    }

    /// VirtualProtect: validates the request and returns the first page's previous protection;
    /// changes the pages only when `apply` (so the caller can first prove its out-pointer).
    pub fn protect(
        &self,
        addr: usize,
        size: DWORD,
        protect: DWORD,
        apply: bool,
    ) -> Win32Result<DWORD> {
        if size == 0 || size >= 0x8000_0000 {
            return Err(Win32Error::InvalidParameter);
        }
        let protection = Protection::from_win32(protect).ok_or(Win32Error::InvalidParameter)?;
        let tables = self.lock();
        let range = self
            .page_range(addr, size as usize)
            .ok_or(Win32Error::InvalidParameter)?;
        self.plain_reservation_of(&tables, range)?;
        let committed = self.committed(range);
        if !committed.iter().all(|&c| c) {
            return Err(Win32Error::InvalidParameter);
        }
        let first = self.page(range.window, range.first);
        let old = if first & COMMITTED != 0 {
            Protection::from_bits(first).to_win32()
        } else {
            PAGE_READWRITE // a touched lazy auto-commit page
        };
        if apply {
            self.commit(range, protection)?;
        }
        Ok(old)
    }

    /// Whether each page of `range` is committed: by the tables, or, for auto-commit pages of a
    /// lazy space, by having been touched.
    fn committed(&self, range: PageRange) -> Vec<bool> {
        let pages = self.pages(range);
        let lazy_auto =
            |b: u8| b & AUTO != 0 && b & COMMITTED == 0 && self.auto == AutoCommit::Lazy;
        let resident = if pages.iter().any(|b| lazy_auto(b.load(Relaxed))) {
            self.resident(range)
        } else {
            vec![false; pages.len()]
        };
        pages
            .iter()
            .zip(resident)
            .map(|(b, r)| {
                let b = b.load(Relaxed);
                b & COMMITTED != 0 || (lazy_auto(b) && r)
            })
            .collect()
    }

    /// VirtualQuery.
    pub fn query(&self, addr: usize) -> Win32Result<MemoryInfo> {
        let page_addr = addr & !(PAGE - 1);
        if page_addr < MIN_ADDRESS {
            return Err(Win32Error::InvalidParameter);
        }
        let free_kind = if self.profile == Profile::Ce5 {
            0
        } else {
            MEM_PRIVATE
        };
        let free = |region_size| MemoryInfo {
            base_address: page_addr,
            allocation_base: 0,
            allocation_protect: PAGE_NOACCESS,
            region_size,
            state: MEM_FREE,
            protect: PAGE_NOACCESS,
            kind: free_kind,
        };
        let window = page_addr
            .checked_add(PAGE)
            .and_then(|end| self.window_of(page_addr, end));
        let Some((wi, offset)) = window else {
            let ceiling = self.ceiling();
            if page_addr >= ceiling {
                return Err(Win32Error::InvalidParameter);
            }
            let next = self
                .windows
                .iter()
                .map(|w| w.base)
                .filter(|&b| b > page_addr)
                .min();
            return Ok(free(next.unwrap_or(ceiling).min(ceiling) - page_addr));
        };
        let tables = self.lock();
        let t = &tables[wi];
        let page = offset / PAGE;
        let range = PageRange {
            window: wi,
            first: page,
            end: page + 1,
        };
        let Some(r) = self.reservation_of(&tables, range) else {
            // Free, or the unusable tail of a reservation's last block: up to the end of this
            // block and every wholly free block after it.
            let mut g = page / PAGES_PER_GRANULE + 1;
            while g < t.owner.len() && !t.is_used(g) {
                g += 1;
            }
            return Ok(free(g * GRANULE - offset));
        };
        let lazy_auto =
            self.auto == AutoCommit::Lazy && t.resv_kind[r.base_granule] & KIND_AUTO != 0;
        let (first, end) = if lazy_auto {
            self.lazy_auto_run(wi, page, r.end_page())
        } else {
            let key = |b: u8| if b & COMMITTED != 0 { b & REPORTED } else { 0 };
            let first = key(self.page(wi, page));
            (first, self.run_end(wi, page, r.end_page(), key))
        };
        let view = t.resv_kind[r.base_granule] & KIND_VIEW != 0;
        let (state, protect, kind) = if first & COMMITTED != 0 {
            (
                MEM_COMMIT,
                Protection::from_bits(first).to_win32(),
                if view { MEM_MAPPED } else { MEM_PRIVATE },
            )
        } else {
            let image = t.resv_kind[r.base_granule] & KIND_IMAGE != 0;
            (
                MEM_RESERVE,
                PAGE_NOACCESS,
                if image { MEM_IMAGE } else { MEM_PRIVATE },
            )
        };
        Ok(MemoryInfo {
            base_address: page_addr,
            allocation_base: self.page_address(wi, r.first_page()),
            allocation_protect: PAGE_NOACCESS,
            region_size: (end - page) * PAGE,
            state,
            protect,
            kind,
        })
    }

    /// For a lazy auto-commit reservation, where an untouched page is reserved and a touched one
    /// committed read-write: the first page's key (REPORTED bits) and the end of its run.
    /// Residency is asked for in chunks, only as far as the run goes.
    fn lazy_auto_run(&self, wi: usize, page: usize, limit: usize) -> (u8, usize) {
        const CHUNK: usize = 256;
        let key = |b: u8, resident: bool| {
            if b & COMMITTED != 0 {
                b & REPORTED
            } else if resident {
                Protection::READWRITE.bits() | COMMITTED
            } else {
                0
            }
        };
        let mut want = None;
        let mut p = page;
        while p < limit {
            let range = PageRange {
                window: wi,
                first: p,
                end: (p + CHUNK).min(limit),
            };
            let resident = self.resident(range);
            for (i, b) in self.pages(range).iter().enumerate() {
                let k = key(b.load(Relaxed), resident[i]);
                match want {
                    None => want = Some(k),
                    Some(w) if w != k => return (w, p + i),
                    Some(_) => {}
                }
            }
            p = range.end;
        }
        (want.unwrap_or(0), limit)
    }

    /// The first page in `[page, limit)` whose key differs from the key of `page`.
    fn run_end(&self, wi: usize, page: usize, limit: usize, key: impl Fn(u8) -> u8) -> usize {
        let pages = &self.windows[wi].pages[..limit];
        let first_raw = pages[page].load(Relaxed);
        let want = key(first_raw);
        let mut p = page + 1;
        // Fast path: raw bytes equal to the first page's raw byte have its key.
        while p < limit && pages[p].load(Relaxed) == first_raw {
            p += 1;
        }
        while p < limit && key(pages[p].load(Relaxed)) == want {
            p += 1;
        }
        p
    }

    /// Whether `[addr, addr+len)` (len > 0) allows `access`: `None` when the range lies wholly
    /// outside the windows (host memory), else the answer from the page bytes. Auto-commit
    /// pages count as committed read-write and guard pages as their base protection: the
    /// library's own accesses commit the former and never fire the latter. Takes no lock.
    pub fn access(&self, addr: usize, len: usize, access: os::Access) -> Option<bool> {
        let end = addr.checked_add(len)?;
        let overlaps = self
            .windows
            .iter()
            .any(|w| addr < w.base + w.size && end > w.base);
        if !overlaps {
            return None;
        }
        let Some(range) = self.page_range(addr, len) else {
            return Some(false);
        };
        Some(self.pages(range).iter().all(|b| {
            let b = b.load(Acquire);
            if b & COMMITTED != 0 {
                Protection::from_bits(b).allows(access)
            } else {
                b & AUTO != 0
            }
        }))
    }

    /// Copies between `buf` and `[addr, addr+len)` whatever the pages' protection (guard pages),
    /// holding the writers' lock so the pages cannot be decommitted or re-protected between the
    /// check and the copy: false, with nothing copied, if `access` no longer allows it.
    pub fn copy_forced(&self, addr: usize, buf: *mut u8, len: usize, access: os::Access) -> bool {
        let _tables = self.lock();
        self.access(addr, len, access) == Some(true)
            && os::copy_ignoring_protection(addr, buf, len, access == os::Access::Write)
    }

    /// Readies in-window `[addr, addr+len)`, which `access` allowed, for the library's own copy:
    /// commits strict auto-commit pages, as the application's touch would. Returns whether some
    /// page is still inaccessible to a plain copy (a guard page, which the copy must not fire),
    /// in which case the copy must go through the kernel.
    pub fn prepare_access(&self, addr: usize, len: usize) -> bool {
        let Some(range) = self.page_range(addr, len) else {
            return true;
        };
        let pages = self.pages(range);
        let untouched = |b: &AtomicU8| {
            let b = b.load(Acquire);
            b & AUTO != 0 && b & COMMITTED == 0
        };
        if self.auto == AutoCommit::Strict && pages.iter().any(untouched) {
            let _tables = self.lock();
            let mut i = 0;
            while i < pages.len() {
                if !untouched(&pages[i]) {
                    i += 1;
                    continue;
                }
                let run = pages[i..]
                    .iter()
                    .position(|b| !untouched(b))
                    .unwrap_or(pages.len() - i);
                let first = range.first + i;
                let run_range = PageRange {
                    window: range.window,
                    first,
                    end: first + run,
                };
                // On failure the page stays untouched and the kernel copy below serves it.
                let _ = self.commit(run_range, Protection::READWRITE);
                i += run;
            }
        }
        pages
            .iter()
            .any(|b| self.host_prot(b.load(Acquire) & !BUSY) == os::PROT_NONE)
    }

    /// Bytes of window 0 in wholly free 64 KB blocks (GlobalMemoryStatus' dwAvailVirtual).
    pub fn available_virtual(&self) -> usize {
        self.lock()
            .first()
            .map_or(0, |t| t.free_granules() * GRANULE)
    }

    /// Host protection of every page of window `wi` as the tables say it must be.
    #[cfg(test)]
    pub fn expected_host_prots(&self, wi: usize) -> Vec<os::Prot> {
        let _tables = self.lock();
        self.windows[wi]
            .pages
            .iter()
            .map(|b| self.host_prot(b.load(Relaxed)))
            .collect()
    }
}
