//! Model-based tests of the page manager: random operation sequences run against the real space
//! and against a plain page-array model, comparing every result, error code and VirtualQuery
//! answer, and checking the kernel's protections inside the window against the tables.

use std::collections::BTreeMap;

use super::os;
use super::{GRANULE, MIN_ADDRESS, PAGE, PAGES_PER_GRANULE, Space};
use crate::config::{AutoCommit, Profile};
use crate::error::{Win32Error, Win32Result};
use crate::test_rng::Rng;
use crate::types::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ModelReservation {
    pages: usize,
    image: bool,
}

/// One window of the model: what every page is, in the plainest terms.
struct ModelWindow {
    base: usize,
    size: usize,
    /// Per page: the base page of the reservation it belongs to (None: free or a block's tail).
    owner: Vec<Option<usize>>,
    /// Per page: the Win32 protection when committed.
    committed: Vec<Option<DWORD>>,
    /// Per 64 KB block: whether a reservation uses it.
    block_used: Vec<bool>,
    reservations: BTreeMap<usize, ModelReservation>,
}

struct Model {
    profile: Profile,
    windows: Vec<ModelWindow>,
}

const VALID_BASES: [DWORD; 6] = [
    PAGE_NOACCESS,
    PAGE_READONLY,
    PAGE_READWRITE,
    PAGE_EXECUTE,
    PAGE_EXECUTE_READ,
    PAGE_EXECUTE_READWRITE,
];

fn valid_protection(p: DWORD) -> bool {
    let base = p & !(PAGE_GUARD | PAGE_NOCACHE);
    VALID_BASES.contains(&base) && !(base == PAGE_NOACCESS && p != PAGE_NOACCESS)
}

fn page_down(a: usize) -> usize {
    a & !(PAGE - 1)
}

fn page_up(a: usize) -> Option<usize> {
    a.checked_add(PAGE - 1).map(page_down)
}

impl Model {
    fn new(space: &Space) -> Model {
        let mut windows = Vec::new();
        let mut i = 0;
        while let Some((base, size)) = space.window(i) {
            windows.push(ModelWindow {
                base,
                size,
                owner: vec![None; size / PAGE],
                committed: vec![None; size / PAGE],
                block_used: vec![false; size / GRANULE],
                reservations: BTreeMap::new(),
            });
            i += 1;
        }
        Model {
            profile: space.profile(),
            windows,
        }
    }

    /// (window, first page, end page) of `[start, end)` if one window holds it.
    fn locate(&self, start: usize, end: usize) -> Option<(usize, usize, usize)> {
        let i = self
            .windows
            .iter()
            .position(|w| start >= w.base && end <= w.base + w.size && start < end)?;
        let w = &self.windows[i];
        Some((i, (start - w.base) / PAGE, (end - w.base) / PAGE))
    }

    /// The reservation base page owning every page of `[first, end)` of window `i`.
    fn owning(&self, i: usize, first: usize, end: usize) -> Option<usize> {
        let w = &self.windows[i];
        let owner = w.owner[first]?;
        (first..end)
            .all(|p| w.owner[p] == Some(owner))
            .then_some(owner)
    }

    fn alloc(&mut self, addr: usize, size: DWORD, ty: DWORD, prot: DWORD) -> Win32Result<usize> {
        use Win32Error::*;
        let kind = ty & !MEM_TOP_DOWN;
        let allowed = MEM_RESERVE | MEM_COMMIT | MEM_AUTO_COMMIT | MEM_IMAGE;
        if kind == 0 || kind & !allowed != 0 || size == 0 || size >= 0x8000_0000 {
            return Err(InvalidParameter);
        }
        if !valid_protection(prot) {
            return Err(InvalidParameter);
        }
        let ce5 = self.profile == Profile::Ce5;
        let size = size as usize;
        let large =
            ce5 && addr == 0 && ty == MEM_RESERVE && prot == PAGE_NOACCESS && size >= 2 << 20;
        if ce5 && size >= 32 << 20 && !large {
            return Err(InvalidParameter);
        }
        let reserve = addr == 0 || kind & (MEM_RESERVE | MEM_AUTO_COMMIT) != 0;
        let commit = kind & MEM_COMMIT != 0;
        if !reserve && !commit {
            return Err(InvalidParameter);
        }
        if !reserve {
            let end = page_up(addr + size).ok_or(InvalidParameter)?;
            let (i, first, end) = self.locate(page_down(addr), end).ok_or(InvalidParameter)?;
            self.owning(i, first, end).ok_or(InvalidParameter)?;
            for p in first..end {
                self.windows[i].committed[p] = Some(prot);
            }
            return Ok(self.windows[i].base + first * PAGE);
        }
        let (i, base_page, pages) = if addr == 0 {
            let i = usize::from(large);
            let pages = size.div_ceil(PAGE);
            let blocks = pages.div_ceil(PAGES_PER_GRANULE);
            let w = &self.windows[i];
            let n = w.block_used.len();
            let fits = |b: usize| b + blocks <= n && (b..b + blocks).all(|x| !w.block_used[x]);
            let found = if ce5 && ty & MEM_TOP_DOWN != 0 {
                (0..n).rev().find(|&b| fits(b))
            } else {
                (0..n).find(|&b| fits(b))
            };
            (i, found.ok_or(NotEnoughMemory)? * PAGES_PER_GRANULE, pages)
        } else {
            let base = addr & !(GRANULE - 1);
            let end = page_up(addr + size).ok_or(InvalidParameter)?;
            let (i, first, end) = self.locate(base, end).ok_or(InvalidParameter)?;
            let w = &self.windows[i];
            let blocks = first / PAGES_PER_GRANULE..end.div_ceil(PAGES_PER_GRANULE);
            if blocks.clone().any(|b| w.block_used[b]) {
                return Err(InvalidParameter);
            }
            (i, first, end - first)
        };
        let w = &mut self.windows[i];
        for b in base_page / PAGES_PER_GRANULE..(base_page + pages).div_ceil(PAGES_PER_GRANULE) {
            w.block_used[b] = true;
        }
        // Auto-commit pages stay reserved until touched, and this test never touches them.
        for p in base_page..base_page + pages {
            w.owner[p] = Some(base_page);
        }
        w.reservations.insert(
            base_page,
            ModelReservation {
                pages,
                image: kind & MEM_IMAGE != 0,
            },
        );
        let base = w.base + base_page * PAGE;
        if !commit {
            return Ok(base);
        }
        let (first, end) = if addr == 0 {
            (base_page, base_page + pages)
        } else {
            (
                (page_down(addr) - w.base) / PAGE,
                (page_up(addr + size).unwrap() - w.base) / PAGE,
            )
        };
        for p in first..end {
            w.committed[p] = Some(prot);
        }
        Ok(w.base + first * PAGE)
    }

    fn free(&mut self, addr: usize, size: DWORD, ty: DWORD) -> Win32Result<()> {
        use Win32Error::*;
        if ty == MEM_RELEASE && size == 0 {
            let (i, first, _) = self.locate(addr, addr + 1).ok_or(InvalidParameter)?;
            let w = &mut self.windows[i];
            if w.base + first * PAGE != addr {
                return Err(InvalidParameter);
            }
            let r = *w.reservations.get(&first).ok_or(InvalidParameter)?;
            let pages = first..first + r.pages;
            if self.profile == Profile::Ce5 {
                let state = w.committed[first].is_some();
                if pages.clone().any(|p| w.committed[p].is_some() != state) {
                    return Err(InvalidParameter);
                }
            }
            for p in pages {
                w.owner[p] = None;
                w.committed[p] = None;
            }
            for b in first / PAGES_PER_GRANULE..(first + r.pages).div_ceil(PAGES_PER_GRANULE) {
                w.block_used[b] = false;
            }
            w.reservations.remove(&first);
            return Ok(());
        }
        if ty == MEM_DECOMMIT && size != 0 && size < 0x8000_0000 {
            let end = page_up(addr + size as usize).ok_or(InvalidParameter)?;
            let (i, first, end) = self.locate(page_down(addr), end).ok_or(InvalidParameter)?;
            self.owning(i, first, end).ok_or(InvalidParameter)?;
            for p in first..end {
                self.windows[i].committed[p] = None;
            }
            return Ok(());
        }
        Err(InvalidParameter)
    }

    fn protect(&mut self, addr: usize, size: DWORD, prot: DWORD) -> Win32Result<DWORD> {
        use Win32Error::*;
        if size == 0 || size >= 0x8000_0000 || !valid_protection(prot) {
            return Err(InvalidParameter);
        }
        let end = page_up(addr + size as usize).ok_or(InvalidParameter)?;
        let (i, first, end) = self.locate(page_down(addr), end).ok_or(InvalidParameter)?;
        self.owning(i, first, end).ok_or(InvalidParameter)?;
        let w = &mut self.windows[i];
        if (first..end).any(|p| w.committed[p].is_none()) {
            return Err(InvalidParameter);
        }
        let old = w.committed[first].unwrap();
        for p in first..end {
            w.committed[p] = Some(prot);
        }
        Ok(old)
    }

    /// VirtualQuery for addresses inside the windows.
    fn query(&self, addr: usize) -> Win32Result<super::space::MemoryInfo> {
        let page = page_down(addr);
        if page < MIN_ADDRESS {
            return Err(Win32Error::InvalidParameter);
        }
        let (i, p, _) = self
            .locate(page, page + PAGE)
            .expect("model queries inside windows");
        let w = &self.windows[i];
        let mut info = super::space::MemoryInfo {
            base_address: page,
            allocation_base: 0,
            allocation_protect: PAGE_NOACCESS,
            region_size: 0,
            state: MEM_FREE,
            protect: PAGE_NOACCESS,
            kind: if self.profile == Profile::Ce5 {
                0
            } else {
                MEM_PRIVATE
            },
        };
        let Some(owner) = w.owner[p] else {
            let mut b = p / PAGES_PER_GRANULE + 1;
            while b < w.block_used.len() && !w.block_used[b] {
                b += 1;
            }
            info.region_size = b * GRANULE - p * PAGE;
            return Ok(info);
        };
        let mut q = p;
        while q < w.owner.len() && w.owner[q] == Some(owner) && w.committed[q] == w.committed[p] {
            q += 1;
        }
        info.allocation_base = w.base + owner * PAGE;
        info.region_size = (q - p) * PAGE;
        match w.committed[p] {
            Some(prot) => (info.state, info.protect, info.kind) = (MEM_COMMIT, prot, MEM_PRIVATE),
            None => {
                let image = w.reservations[&owner].image;
                info.state = MEM_RESERVE;
                info.kind = if image { MEM_IMAGE } else { MEM_PRIVATE };
            }
        }
        Ok(info)
    }

    fn available_virtual(&self) -> usize {
        self.windows[0].block_used.iter().filter(|u| !**u).count() * GRANULE
    }
}

/// Kernel protections of every page of `[base, base+size)`, from /proc/self/maps.
fn kernel_prots(base: usize, size: usize) -> Vec<Option<(bool, bool, bool)>> {
    let mut prots = vec![None; size / PAGE];
    for m in os::host_mappings() {
        let lo = m.start.max(base);
        let hi = m.end.min(base + size);
        for a in (lo..hi).step_by(PAGE) {
            prots[(a - base) / PAGE] = Some((m.read, m.write, m.exec));
        }
    }
    prots
}

pub(super) fn check_kernel_matches_tables(space: &Space, step: usize) {
    let mut i = 0;
    while let Some((base, size)) = space.window(i) {
        let expected = space.expected_host_prots(i);
        let actual = kernel_prots(base, size);
        for (p, (want, got)) in expected.iter().zip(actual).enumerate() {
            let want = (
                want & os::PROT_READ != 0,
                want & os::PROT_WRITE != 0,
                want & os::PROT_EXEC != 0,
            );
            assert_eq!(Some(want), got, "step {step}: page {:#x}", base + p * PAGE);
        }
        i += 1;
    }
}

/// Newly committed readable pages must read zero; writable ones get a mark that a later
/// re-commit must not show.
fn touch_new_pages(model: &Model, before: &[Vec<Option<DWORD>>], step: usize) {
    for (w, old) in model.windows.iter().zip(before) {
        for (p, (now, was)) in w.committed.iter().zip(old).enumerate() {
            let (Some(prot), None) = (now, was) else {
                continue;
            };
            let base = prot & !(PAGE_GUARD | PAGE_NOCACHE);
            if base == PAGE_NOACCESS || prot & PAGE_GUARD != 0 {
                continue;
            }
            let addr = (w.base + p * PAGE) as *mut u8;
            // SAFETY: the model and the space agree this page is committed and readable.
            let first = unsafe { addr.read_volatile() };
            assert_eq!(first, 0, "step {step}: fresh page {addr:p} is not zero");
            if matches!(base, PAGE_READWRITE | PAGE_EXECUTE_READWRITE) {
                // SAFETY: committed and writable.
                unsafe { addr.write_volatile(0xAB) };
            }
        }
    }
}

fn random_address(rng: &mut Rng, model: &Model) -> usize {
    let w = &model.windows[rng.below(model.windows.len())];
    match rng.below(10) {
        0..=4 if !w.reservations.is_empty() => {
            let nth = rng.below(w.reservations.len());
            let (&base, r) = w.reservations.iter().nth(nth).unwrap();
            let page = base + rng.below(r.pages + 20);
            let offset = if rng.below(4) == 0 {
                rng.below(PAGE)
            } else {
                0
            };
            w.base + page * PAGE + offset
        }
        5 => 0,
        6 => rng.pick(&[
            1,
            PAGE,
            MIN_ADDRESS - 1,
            w.base + w.size - PAGE,
            w.base + w.size - 1,
        ]),
        // Clustered low so reservations meet each other often.
        _ => w.base + rng.below(64) * GRANULE + rng.below(PAGES_PER_GRANULE) * PAGE,
    }
}

/// The base of a live reservation, when there is one.
fn random_reservation_base(rng: &mut Rng, model: &Model) -> Option<usize> {
    let w = &model.windows[rng.below(model.windows.len())];
    let nth = rng.below(w.reservations.len().max(1));
    w.reservations.keys().nth(nth).map(|p| w.base + p * PAGE)
}

/// A committed page of some live reservation, when there is one.
fn random_committed_page(rng: &mut Rng, model: &Model) -> Option<usize> {
    let w = &model.windows[rng.below(model.windows.len())];
    let committed: Vec<usize> = (0..w.committed.len())
        .filter(|&p| w.committed[p].is_some())
        .collect();
    (!committed.is_empty()).then(|| w.base + committed[rng.below(committed.len())] * PAGE)
}

/// A size of a few pages, the usual request inside a reservation.
fn small_size(rng: &mut Rng) -> DWORD {
    ((1 + rng.below(4)) * PAGE - rng.below(2)) as DWORD
}

fn random_size(rng: &mut Rng) -> DWORD {
    match rng.below(12) {
        0 => 0,
        1 => rng.pick(&[0x8000_0000, 0xFFFF_FFFF, 0x7FFF_FFFF]),
        2 => rng.pick(&[2 << 20, 3 << 20, 32 << 20]),
        3..=5 => rng.pick(&[1, 4096, 4097, 8192, 65535, 65536, 65537, 3 * 65536]),
        _ => 1 + rng.below(6 * GRANULE) as DWORD,
    }
}

fn random_protection(rng: &mut Rng) -> DWORD {
    match rng.below(10) {
        0 => rng.pick(&[
            0,
            PAGE_WRITECOPY,
            PAGE_NOACCESS | PAGE_GUARD,
            PAGE_READONLY | PAGE_READWRITE,
            0x400,
            PAGE_GUARD,
        ]),
        1 => PAGE_READWRITE | PAGE_GUARD,
        2 => PAGE_READONLY | PAGE_NOCACHE,
        _ => rng.pick(&VALID_BASES),
    }
}

fn run_model(profile: Profile, auto: AutoCommit, seed: u64, steps: usize) {
    let space = Space::new_anywhere(profile, auto);
    let mut model = Model::new(&space);
    assert!(!model.windows.is_empty(), "windows were placed");
    let mut rng = Rng(seed);
    let mut ok = [0usize; 4];
    let mut failed = [0usize; 4];
    for step in 0..steps {
        let addr = random_address(&mut rng, &model);
        match rng.below(10) {
            0..=3 => {
                let ty = rng.pick(&[
                    MEM_RESERVE,
                    MEM_RESERVE,
                    MEM_COMMIT,
                    MEM_COMMIT,
                    MEM_RESERVE | MEM_COMMIT,
                    MEM_RESERVE | MEM_TOP_DOWN,
                    MEM_AUTO_COMMIT,
                    MEM_RESERVE | MEM_IMAGE,
                    MEM_COMMIT | MEM_IMAGE,
                    MEM_IMAGE,
                    MEM_TOP_DOWN,
                    MEM_DECOMMIT,
                    MEM_RESERVE | MEM_RESET,
                    0,
                ]);
                let (size, prot) = (random_size(&mut rng), random_protection(&mut rng));
                let before: Vec<_> = model.windows.iter().map(|w| w.committed.clone()).collect();
                let addr = match random_reservation_base(&mut rng, &model) {
                    Some(base) if ty == MEM_COMMIT && rng.below(2) == 0 => {
                        base + rng.below(4) * PAGE
                    }
                    _ => addr,
                };
                let want = model.alloc(addr, size, ty, prot);
                let got = space.alloc(addr, size, ty, prot);
                assert_eq!(
                    got, want,
                    "step {step}: alloc({addr:#x}, {size:#x}, {ty:#x}, {prot:#x})"
                );
                tally(&mut ok, &mut failed, 0, got.is_ok());
                touch_new_pages(&model, &before, step);
            }
            4..=5 => {
                let size = if rng.below(2) == 0 {
                    0
                } else {
                    random_size(&mut rng)
                };
                let ty = rng.pick(&[
                    MEM_RELEASE,
                    MEM_RELEASE,
                    MEM_DECOMMIT,
                    MEM_DECOMMIT | MEM_RELEASE,
                    0,
                ]);
                // Releases aim at reservation bases most of the time.
                let addr = match random_reservation_base(&mut rng, &model) {
                    Some(base) if rng.below(3) > 0 => base,
                    _ => addr,
                };
                let size = if ty == MEM_DECOMMIT && rng.below(2) == 0 {
                    small_size(&mut rng)
                } else {
                    size
                };
                let want = model.free(addr, size, ty);
                let got = space.free(addr, size, ty);
                assert_eq!(
                    got, want,
                    "step {step}: free({addr:#x}, {size:#x}, {ty:#x})"
                );
                tally(&mut ok, &mut failed, 1, got.is_ok());
            }
            6 => {
                let size = if rng.below(2) == 0 {
                    small_size(&mut rng)
                } else {
                    random_size(&mut rng)
                };
                let prot = random_protection(&mut rng);
                let addr = match random_committed_page(&mut rng, &model) {
                    Some(page) if rng.below(3) > 0 => page,
                    _ => addr,
                };
                let want = model.protect(addr, size, prot);
                let got = space.protect(addr, size, prot, true);
                assert_eq!(
                    got, want,
                    "step {step}: protect({addr:#x}, {size:#x}, {prot:#x})"
                );
                tally(&mut ok, &mut failed, 2, got.is_ok());
            }
            _ => {
                let inside = model
                    .locate(page_down(addr), page_down(addr) + PAGE)
                    .is_some();
                if inside || addr < MIN_ADDRESS {
                    let got = space.query(addr);
                    assert_eq!(got, model.query(addr), "step {step}: query({addr:#x})");
                    tally(&mut ok, &mut failed, 3, got.is_ok());
                }
            }
        }
        assert_eq!(
            space.available_virtual(),
            model.available_virtual(),
            "step {step}"
        );
        if step % 50 == 49 {
            check_kernel_matches_tables(&space, step);
        }
    }
    check_kernel_matches_tables(&space, steps);
    // A sequence that never succeeds (or never fails) at something compares too little.
    for (op, (ok, failed)) in ["alloc", "free", "protect", "query"]
        .iter()
        .zip(ok.iter().zip(failed))
    {
        assert!(
            *ok >= 20 && failed >= 10,
            "{op}: {ok} succeeded, {failed} failed"
        );
    }
}

fn tally(ok: &mut [usize; 4], failed: &mut [usize; 4], op: usize, success: bool) {
    if success {
        ok[op] += 1
    } else {
        failed[op] += 1
    }
}

#[test]
fn ce6_space_matches_the_model() {
    for seed in [0x9E37_79B9_7F4A_7C15, 7] {
        run_model(Profile::Ce6, AutoCommit::Lazy, seed, 1500);
    }
    run_model(Profile::Ce6, AutoCommit::Strict, 42, 1500);
}

#[test]
fn ce5_space_matches_the_model() {
    run_model(Profile::Ce5, AutoCommit::Lazy, 0xD1B5_4A32_D192_ED03, 1500);
    run_model(Profile::Ce5, AutoCommit::Strict, 11, 1500);
}

#[test]
fn ce5_slot_runs_out_before_512_small_reservations() {
    let space = Space::new_anywhere(Profile::Ce5, AutoCommit::Lazy);
    let mut made = 0;
    let err = loop {
        match space.alloc(0, 4096, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE) {
            Ok(_) => made += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err, Win32Error::NotEnoughMemory);
    assert!(made < 512, "{made}");
    // A 2 MB no-access reservation goes to the large-memory area and commits there.
    let big = space.alloc(0, 2 << 20, MEM_RESERVE, PAGE_NOACCESS).unwrap();
    let (large_base, large_size) = space.window(1).unwrap();
    assert!(big >= large_base && big < large_base + large_size);
    assert_eq!(
        space.alloc(big, 2 << 20, MEM_COMMIT, PAGE_READWRITE),
        Ok(big)
    );
}

#[test]
fn queries_outside_the_windows() {
    let space = Space::new_anywhere(Profile::Ce6, AutoCommit::Lazy);
    assert_eq!(space.query(0), Err(Win32Error::InvalidParameter));
    assert_eq!(
        space.query(MIN_ADDRESS - 1),
        Err(Win32Error::InvalidParameter)
    );
    let info = space.query(MIN_ADDRESS).unwrap();
    assert_eq!(info.state, MEM_FREE);
    assert!(info.region_size > 0);
    let (base, size) = space.window(0).unwrap();
    let ceiling = (base + size).max(super::CE_CEILING);
    assert_eq!(space.query(ceiling), Err(Win32Error::InvalidParameter));
}

#[test]
fn threads_sharing_a_space_keep_it_consistent() {
    let space = Space::new_anywhere(Profile::Ce6, AutoCommit::Lazy);
    let total = space.available_virtual();
    std::thread::scope(|s| {
        for seed in [3u64, 5, 9] {
            let space = &space;
            s.spawn(move || {
                let mut rng = Rng(seed);
                let mut mine: Vec<(usize, usize)> = Vec::new();
                let mut committed = std::collections::HashSet::new();
                for _ in 0..3000 {
                    if mine.is_empty() || rng.below(3) == 0 {
                        let pages = 1 + rng.below(40);
                        let base = space
                            .alloc(0, (pages * PAGE) as DWORD, MEM_RESERVE, PAGE_NOACCESS)
                            .expect("room for every thread");
                        mine.push((base, pages));
                        continue;
                    }
                    let (base, pages) = mine[rng.below(mine.len())];
                    let page = base + rng.below(pages) * PAGE;
                    match rng.below(4) {
                        0 => {
                            let p = space.alloc(page, PAGE as DWORD, MEM_COMMIT, PAGE_READWRITE);
                            assert_eq!(p, Ok(page));
                            // SAFETY: just committed read-write, and only this thread uses it.
                            unsafe {
                                let first = (page as *const u8).read_volatile();
                                let want = if committed.insert(page) {
                                    0
                                } else {
                                    seed as u8
                                };
                                assert_eq!(first, want);
                                (page as *mut u8).write_volatile(seed as u8);
                            }
                        }
                        1 => {
                            assert_eq!(space.free(page, PAGE as DWORD, MEM_DECOMMIT), Ok(()));
                            committed.remove(&page);
                        }
                        2 => {
                            let info = space.query(page).unwrap();
                            assert_eq!(info.allocation_base, base);
                            assert_ne!(info.state, MEM_FREE);
                        }
                        _ => {
                            let i = mine.iter().position(|r| r.0 == base).unwrap();
                            mine.swap_remove(i);
                            assert_eq!(space.free(base, 0, MEM_RELEASE), Ok(()));
                            committed.retain(|&p| p < base || p >= base + pages * PAGE);
                        }
                    }
                }
                for (base, _) in mine {
                    assert_eq!(space.free(base, 0, MEM_RELEASE), Ok(()));
                }
            });
        }
    });
    assert_eq!(space.available_virtual(), total);
    check_kernel_matches_tables(&space, 0);
}
