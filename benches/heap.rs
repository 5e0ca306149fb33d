//! The heap API (HeapAlloc/HeapFree/HeapReAlloc on a HeapCreate heap, LocalAlloc/LocalFree on the
//! process heap) against glibc malloc, "glibc + a pthread mutex" (a serialized heap built on
//! glibc), and mimalloc / jemalloc when their shared libraries are installed, on the workloads of
//! PERFORMANCE.md §3, in one process. Targets (issue 3): pairs of 16–256 B ≤ 0.8× glibc;
//! b_steady ≤ 0.6× glibc; c_realloc ≤ 1.5× glibc; e_large makes no syscall in the steady state;
//! two threads on one heap ≤ glibc+mutex; mem16 ≤ 24 B of RSS per 16-byte block.
//!
//!   cargo bench --bench heap                    timed rounds (default 9), mem16, e_large syscalls
//!   cargo bench --bench heap -- --rounds 15     more rounds
//!   cargo bench --bench heap -- --quick         short loops, 5 rounds (a smoke run, ~20 s)
//!   cargo bench --bench heap -- --ir            instructions per op under callgrind
//!   cargo bench --bench heap -- --syscalls      only the e_large syscall/page-fault check
//!   cargo bench --bench heap -- --only pair     cases whose name contains "pair" (also mem16,
//!                                               e_large for the syscall check)
//!   cargo bench --bench heap -- --list          case numbers, for profiling one (case, side)
//!
//! Profiling one (case, side) (the release profile strips debuginfo, so override both settings):
//!   CARGO_PROFILE_RELEASE_DEBUG=true CARGO_PROFILE_RELEASE_STRIP=none \
//!       cargo bench --bench heap --no-run          prints the executable's path
//!   valgrind --tool=callgrind --callgrind-out-file=cg.out EXE --single CASE ours N
//!   callgrind_annotate --auto=yes cg.out            (diff two N to drop the set-up)
//! (for SIDE jemalloc, also set GLIBC_TUNABLES=glibc.rtld.optional_static_tls=16384 and
//! COREDLL_HEAP_BENCH_TLS=1, see `reexec_for_static_tls`).
//!
//! Sides: `ours` = HeapAlloc/HeapFree/HeapReAlloc on one HeapCreate(0, 0, 0) heap per case (kept
//! for the whole run, so it is as warm as glibc's arena), or LocalAlloc(LMEM_FIXED)/LocalFree for
//! the l_ cases; `glibc` = libc malloc/free/realloc; `glibc+mutex` = the same inside one default
//! pthread mutex; `mimalloc` = mi_malloc/mi_free/mi_realloc from libmimalloc.so.2; `jemalloc` =
//! malloc/free/realloc looked up on a RTLD_LOCAL handle of libjemalloc.so.2 (so it does not replace
//! the process's malloc). Both are dlopen'ed; a missing library is reported and skipped.
//!
//! Workloads (op = the unit of ns/op and Ir/op): a_pairS alloc S bytes, write 1 byte, free (op =
//! pair); l_pairS the same through LocalAlloc/LocalFree; a_batch64 100 allocs of 64 B then 100
//! frees in allocation order (op = pair); b_lifo rounds of 10,000 allocs of random 8..512 B freed
//! in reverse (op = pair); b_rndfree the same freed in a fixed random permutation; b_steady 10,000
//! live blocks of random 8..512 B, then free a random slot and allocate a new random size (op =
//! pair; the fill is outside the timed loop); c_realloc alloc 16 B, realloc doubling up to 1 MB
//! (16 reallocs, a byte written at s/2 and s−1 each time), free (op = chain); e_large a random
//! 64 KB..1 MB alloc + 1-byte write + free; e_large_touch the same writing every 4 KB page;
//! d_pair64_shared_2t / d_mix_shared_2t two threads on ONE heap (ours: one HeapCreate heap; glibc:
//! one mutex; raw glibc/mimalloc/jemalloc: the allocator's own threading), pairs of 64 B or
//! a_steady-like replacement over a private 2,000-block working set per thread; ns/op = wall time
//! / total ops of both threads. Random sizes and indices come from tables made before any timing.
//!
//! Timing: one warm-up pass per config (case × side) calibrates the op count per case (the slowest
//! side's loop takes about 200 ms, 40 ms with --quick; every side does the same count); then every
//! round runs each config once, in an order that rotates from round to round. Instant is read
//! around the core loop only. A cell is the median over rounds; a ratio is the median of the per-round ratios
//! side/baseline, so drift hits both sides of a ratio. The baseline is glibc, and glibc+mutex for
//! the shared-heap 2-thread cases.
//!
//! Ir mode: each (case, side) runs in its own process under `valgrind --tool=callgrind` at two op
//! counts, Ir/op = (Ir(N2) − Ir(N1)) / (N2 − N1): start-up and set-up cancel. Callgrind does not
//! see kernel work (syscalls, page faults) and runs threads one at a time, so the 2-thread rows are
//! the uncontended instruction cost. About 10 Ir/op of loop and table lookups are included.
//!
//! mem16: a fresh child process per side allocates 100,000 blocks of 16 B (1 byte written each)
//! and reports the growth of its RSS (/proc/self/statm) per block; the pointer array is written
//! before the first reading. Median of 3 children.
//!
//! e_large syscalls: the ours (and glibc) e_large / e_large_touch loops run in a child under
//! `strace -c -f` at two op counts; syscalls/op is the difference of the totals over the
//! difference of the op counts (steady state). Minor page faults/op come from getrusage around
//! the loop in a child run without strace, differenced the same way.

#[path = "common/mod.rs"]
mod common;
use common::{callgrind_ir, fmt_ns, median, min_max, round_order};

use std::cell::UnsafeCell;
use std::collections::BTreeMap;
use std::ffi::{CStr, c_void};
use std::hint::black_box;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, OnceLock};
use std::time::Instant;

use coredll::api::heap::{
    GetProcessHeap, HeapAlloc, HeapCreate, HeapDestroy, HeapFree, HeapReAlloc, HeapSize,
};
use coredll::api::local::{LocalAlloc, LocalFree};
use coredll::types::*;

/// Random tables: 64 K entries, indexed with `& TMASK` (no bounds check on a boxed array).
const TLEN: usize = 1 << 16;
const TMASK: usize = TLEN - 1;
/// Large sizes: 4 K entries.
const LLEN: usize = 1 << 12;
const LMASK: usize = LLEN - 1;
/// Live blocks of the b_ cases.
const LIVE: usize = 10_000;
/// Live blocks per thread of d_mix.
const MIX_LIVE: usize = 2_000;
const PAGE: usize = 4096;

// ---------------------------------------------------------------------------------------------
// Cases

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wl {
    Pair(usize),
    Batch64,
    Lifo,
    RndFree,
    Steady,
    Realloc,
    Large,
    LargeTouch,
    Pair2t,
    Mix2t,
}

impl Wl {
    /// Op counts are multiples of this.
    fn unit(self) -> u64 {
        match self {
            Wl::Batch64 => 100,
            Wl::Lifo | Wl::RndFree => LIVE as u64,
            Wl::Pair2t | Wl::Mix2t => 2,
            _ => 1,
        }
    }

    fn two_threads(self) -> bool {
        matches!(self, Wl::Pair2t | Wl::Mix2t)
    }
}

/// The bound printed beside a case (on the ratio of ours to the baseline unless stated).
#[derive(Clone, Copy, Debug)]
enum Target {
    /// ours/glibc ≤ x.
    Glibc(f64, &'static str),
    /// ours/glibc+mutex ≤ x.
    Mutex(f64, &'static str),
    None,
}

#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    wl: Wl,
    /// The ours side is LocalAlloc/LocalFree (process heap) instead of a HeapCreate heap.
    local: bool,
    target: Target,
    /// Ops of the calibration pass (and floor of the timed op count).
    warm: u64,
    /// Op counts of the Ir mode.
    ir: (u64, u64),
}

const fn case(name: &'static str, wl: Wl, target: Target, warm: u64, ir: (u64, u64)) -> Case {
    Case {
        name,
        wl,
        local: false,
        target,
        warm,
        ir,
    }
}

const fn local(name: &'static str, size: usize) -> Case {
    Case {
        name,
        wl: Wl::Pair(size),
        local: true,
        target: PAIR_T,
        warm: W,
        ir: PAIRS_IR,
    }
}

const PAIRS_IR: (u64, u64) = (100_000, 300_000);
/// The bound for pairs of 16–256 B.
const PAIR_T: Target = Target::Glibc(0.8, "issue");
/// PERFORMANCE.md §8.1's "must" tier, for the cases the issue gives no bound for.
const MUST_1: Target = Target::Glibc(1.0, "§8.1 must");
/// The bound for two threads on one heap.
const SHARED_T: Target = Target::Mutex(1.0, "issue");
const W: u64 = 20_000;

const CASES: &[Case] = &[
    case("a_pair16", Wl::Pair(16), PAIR_T, W, PAIRS_IR),
    case("a_pair64", Wl::Pair(64), PAIR_T, W, PAIRS_IR),
    case("a_pair256", Wl::Pair(256), PAIR_T, W, PAIRS_IR),
    case("a_pair4096", Wl::Pair(4096), MUST_1, W, PAIRS_IR),
    local("l_pair16", 16),
    local("l_pair64", 64),
    local("l_pair256", 256),
    case("a_batch64", Wl::Batch64, Target::None, W, PAIRS_IR),
    case("b_lifo", Wl::Lifo, MUST_1, W, PAIRS_IR),
    case("b_rndfree", Wl::RndFree, MUST_1, W, PAIRS_IR),
    case(
        "b_steady",
        Wl::Steady,
        Target::Glibc(0.6, "issue"),
        W,
        PAIRS_IR,
    ),
    case(
        "c_realloc",
        Wl::Realloc,
        Target::Glibc(1.5, "issue"),
        40,
        (20, 60),
    ),
    case(
        "e_large",
        Wl::Large,
        Target::Glibc(10.0, "§8.1 must"),
        2_000,
        (10_000, 30_000),
    ),
    case(
        "e_large_touch",
        Wl::LargeTouch,
        Target::Glibc(1.5, "§8.1 must"),
        1_000,
        (2_000, 6_000),
    ),
    case("d_pair64_shared_2t", Wl::Pair2t, SHARED_T, 2 * W, PAIRS_IR),
    case("d_mix_shared_2t", Wl::Mix2t, SHARED_T, 2 * W, PAIRS_IR),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Side {
    Ours,
    Glibc,
    GlibcMx,
    Mimalloc,
    Jemalloc,
}

const SIDES: [Side; 5] = [
    Side::Ours,
    Side::Glibc,
    Side::GlibcMx,
    Side::Mimalloc,
    Side::Jemalloc,
];

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Ours => "ours",
            Side::Glibc => "glibc",
            Side::GlibcMx => "glibc+mutex",
            Side::Mimalloc => "mimalloc",
            Side::Jemalloc => "jemalloc",
        }
    }

    fn parse(s: &str) -> Side {
        SIDES
            .into_iter()
            .find(|x| x.name() == s)
            .unwrap_or_else(|| panic!("unknown side {s:?}"))
    }

    fn available(self) -> bool {
        match self {
            Side::Mimalloc => mimalloc().is_some(),
            Side::Jemalloc => jemalloc().is_some(),
            _ => true,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Random tables

struct Rng(u64);

impl Rng {
    /// splitmix64.
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in lo..=hi.
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (((self.next() >> 32) * u64::from(hi - lo + 1)) >> 32) as u32
    }
}

struct Tables {
    /// Sizes 8..=512.
    small: Box<[u32; TLEN]>,
    /// Slot indices 0..LIVE.
    slot: Box<[u32; TLEN]>,
    /// Slot indices 0..MIX_LIVE.
    slot2k: Box<[u32; TLEN]>,
    /// A permutation of 0..LIVE.
    perm: Vec<u32>,
    /// Sizes 64 KB..=1 MB.
    large: Box<[u32; LLEN]>,
}

fn table<const N: usize>(rng: &mut Rng, lo: u32, hi: u32) -> Box<[u32; N]> {
    let v: Vec<u32> = (0..N).map(|_| rng.range(lo, hi)).collect();
    v.into_boxed_slice().try_into().unwrap()
}

impl Tables {
    fn new() -> Tables {
        let mut rng = Rng(0x00C0_4ED1_1000_0003);
        let small = table(&mut rng, 8, 512);
        let slot = table(&mut rng, 0, LIVE as u32 - 1);
        let slot2k = table(&mut rng, 0, MIX_LIVE as u32 - 1);
        let large = table(&mut rng, 64 << 10, 1 << 20);
        let mut perm: Vec<u32> = (0..LIVE as u32).collect();
        for i in (1..LIVE).rev() {
            let j = rng.range(0, i as u32) as usize;
            perm.swap(i, j);
        }
        Tables {
            small,
            slot,
            slot2k,
            perm,
            large,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The allocators

trait Alloc: Copy + Send + Sync {
    fn alloc(self, n: usize) -> *mut u8;
    fn free(self, p: *mut u8);
    fn realloc(self, p: *mut u8, n: usize) -> *mut u8;
}

#[cold]
#[inline(never)]
fn fail(what: &str) -> ! {
    panic!("{what} failed")
}

/// Ours: a HeapCreate heap (the handle as an integer, so the side is Send).
#[derive(Clone, Copy)]
struct Ours(usize);

impl Alloc for Ours {
    #[inline(always)]
    fn alloc(self, n: usize) -> *mut u8 {
        HeapAlloc(self.0 as HANDLE, 0, n as DWORD).cast()
    }
    #[inline(always)]
    fn free(self, p: *mut u8) {
        if HeapFree(self.0 as HANDLE, 0, p.cast()) == 0 {
            fail("HeapFree");
        }
    }
    #[inline(always)]
    fn realloc(self, p: *mut u8, n: usize) -> *mut u8 {
        HeapReAlloc(self.0 as HANDLE, 0, p.cast(), n as DWORD).cast()
    }
}

/// Ours through LocalAlloc/LocalFree (the process heap).
#[derive(Clone, Copy)]
struct Local;

impl Alloc for Local {
    #[inline(always)]
    fn alloc(self, n: usize) -> *mut u8 {
        LocalAlloc(LMEM_FIXED, n as UINT).cast()
    }
    #[inline(always)]
    fn free(self, p: *mut u8) {
        if !LocalFree(p.cast()).is_null() {
            fail("LocalFree");
        }
    }
    #[inline(always)]
    fn realloc(self, p: *mut u8, n: usize) -> *mut u8 {
        HeapReAlloc(GetProcessHeap(), 0, p.cast(), n as DWORD).cast()
    }
}

#[derive(Clone, Copy)]
struct Glibc;

impl Alloc for Glibc {
    #[inline(always)]
    fn alloc(self, n: usize) -> *mut u8 {
        // SAFETY: plain malloc.
        unsafe { libc::malloc(n) }.cast()
    }
    #[inline(always)]
    fn free(self, p: *mut u8) {
        // SAFETY: `p` came from this allocator's malloc/realloc and is freed once.
        unsafe { libc::free(p.cast()) }
    }
    #[inline(always)]
    fn realloc(self, p: *mut u8, n: usize) -> *mut u8 {
        // SAFETY: `p` came from this allocator and is not used after the call.
        unsafe { libc::realloc(p.cast(), n) }.cast()
    }
}

struct PMutex(UnsafeCell<libc::pthread_mutex_t>);

// SAFETY: the mutex is only used through pthread_mutex_lock/unlock, which synchronise.
unsafe impl Sync for PMutex {}

/// The one lock of the glibc+mutex side (a default, non-adaptive pthread mutex).
static MX: PMutex = PMutex(UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER));

/// glibc inside a pthread mutex: a serialized heap built on glibc.
#[derive(Clone, Copy)]
struct GlibcMx;

impl GlibcMx {
    #[inline(always)]
    fn locked<R>(f: impl FnOnce() -> R) -> R {
        // SAFETY: a static, initialised mutex; every lock is paired with the unlock below.
        unsafe { libc::pthread_mutex_lock(MX.0.get()) };
        let r = f();
        // SAFETY: this thread holds the mutex.
        unsafe { libc::pthread_mutex_unlock(MX.0.get()) };
        r
    }
}

impl Alloc for GlibcMx {
    #[inline(always)]
    fn alloc(self, n: usize) -> *mut u8 {
        GlibcMx::locked(|| Glibc.alloc(n))
    }
    #[inline(always)]
    fn free(self, p: *mut u8) {
        GlibcMx::locked(|| Glibc.free(p))
    }
    #[inline(always)]
    fn realloc(self, p: *mut u8, n: usize) -> *mut u8 {
        GlibcMx::locked(|| Glibc.realloc(p, n))
    }
}

type MallocFn = unsafe extern "C" fn(usize) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;

/// An allocator from a dlopen'ed library.
#[derive(Clone, Copy)]
struct Dl {
    malloc: MallocFn,
    free: FreeFn,
    realloc: ReallocFn,
}

impl Alloc for Dl {
    #[inline(always)]
    fn alloc(self, n: usize) -> *mut u8 {
        // SAFETY: the library's malloc.
        unsafe { (self.malloc)(n) }.cast()
    }
    #[inline(always)]
    fn free(self, p: *mut u8) {
        // SAFETY: `p` came from this library's malloc/realloc and is freed once.
        unsafe { (self.free)(p.cast()) }
    }
    #[inline(always)]
    fn realloc(self, p: *mut u8, n: usize) -> *mut u8 {
        // SAFETY: `p` came from this library and is not used after the call.
        unsafe { (self.realloc)(p.cast(), n) }.cast()
    }
}

/// dlopen(lib, RTLD_NOW | RTLD_LOCAL) and the three functions looked up on that handle; the
/// handle is never closed.
fn dl_load(lib: &CStr, names: [&CStr; 3]) -> Option<Dl> {
    // SAFETY: loading a system allocator library by name; RTLD_LOCAL keeps its malloc from
    // replacing the process's.
    let h = unsafe { libc::dlopen(lib.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if h.is_null() {
        return None;
    }
    let sym = |n: &CStr| {
        // SAFETY: a lookup on a live handle.
        let p = unsafe { libc::dlsym(h, n.as_ptr()) };
        (!p.is_null()).then_some(p)
    };
    let (m, f, r) = (sym(names[0])?, sym(names[1])?, sym(names[2])?);
    // SAFETY: these symbols are the library's malloc, free and realloc, with C's signatures.
    unsafe {
        Some(Dl {
            malloc: std::mem::transmute::<*mut c_void, MallocFn>(m),
            free: std::mem::transmute::<*mut c_void, FreeFn>(f),
            realloc: std::mem::transmute::<*mut c_void, ReallocFn>(r),
        })
    }
}

fn mimalloc() -> Option<Dl> {
    static MI: OnceLock<Option<Dl>> = OnceLock::new();
    *MI.get_or_init(|| {
        dl_load(
            c"libmimalloc.so.2",
            [c"mi_malloc", c"mi_free", c"mi_realloc"],
        )
    })
}

fn jemalloc() -> Option<Dl> {
    static JE: OnceLock<Option<Dl>> = OnceLock::new();
    *JE.get_or_init(|| dl_load(c"libjemalloc.so.2", [c"malloc", c"free", c"realloc"]))
}

// ---------------------------------------------------------------------------------------------
// The core loops

#[inline(always)]
fn ok(p: *mut u8) -> *mut u8 {
    if p.is_null() {
        fail("allocation");
    }
    p
}

/// Writes one byte at `p + at` (the block is at least `at + 1` bytes).
#[inline(always)]
fn touch(p: *mut u8, at: usize) {
    // SAFETY: callers pass an offset inside the block they just allocated.
    unsafe { p.add(at).write_volatile(1) }
}

fn elapsed(t: Instant) -> u64 {
    t.elapsed().as_nanos() as u64
}

/// Runs `n` ops of a single-thread workload; returns the nanoseconds of the core loop.
#[inline(never)]
fn run_1t<A: Alloc>(a: A, wl: Wl, n: u64, t: &Tables) -> u64 {
    let n = n as usize;
    match wl {
        Wl::Pair(s) => {
            let s = black_box(s);
            let t0 = Instant::now();
            for _ in 0..n {
                let p = ok(a.alloc(s));
                touch(p, 0);
                a.free(black_box(p));
            }
            elapsed(t0)
        }
        Wl::Batch64 => {
            let mut ptrs = [core::ptr::null_mut::<u8>(); 100];
            let s = black_box(64);
            let t0 = Instant::now();
            for _ in 0..n / 100 {
                for q in ptrs.iter_mut() {
                    let p = ok(a.alloc(s));
                    touch(p, 0);
                    *q = p;
                }
                for &p in ptrs.iter() {
                    a.free(black_box(p));
                }
            }
            let ns = elapsed(t0);
            black_box(&ptrs);
            ns
        }
        Wl::Lifo | Wl::RndFree => {
            let mut slots = vec![core::ptr::null_mut::<u8>(); LIVE];
            let perm = &t.perm[..];
            let lifo = wl == Wl::Lifo;
            let mut k = 0usize;
            let t0 = Instant::now();
            for _ in 0..n / LIVE {
                for q in slots.iter_mut() {
                    let p = ok(a.alloc(t.small[k & TMASK] as usize));
                    touch(p, 0);
                    *q = p;
                    k += 1;
                }
                if lifo {
                    for &p in slots.iter().rev() {
                        a.free(black_box(p));
                    }
                } else {
                    for &i in perm {
                        a.free(black_box(slots[i as usize]));
                    }
                }
            }
            let ns = elapsed(t0);
            black_box(&slots);
            ns
        }
        Wl::Steady => {
            let mut slots: Vec<*mut u8> = (0..LIVE)
                .map(|j| {
                    let p = ok(a.alloc(t.small[(j * 7 + 3) & TMASK] as usize));
                    touch(p, 0);
                    p
                })
                .collect();
            let t0 = Instant::now();
            for i in 0..n {
                let j = t.slot[i & TMASK] as usize;
                a.free(slots[j]);
                let p = ok(a.alloc(t.small[(i + 12_345) & TMASK] as usize));
                touch(p, 0);
                slots[j] = p;
            }
            let ns = elapsed(t0);
            for &p in &slots {
                a.free(p);
            }
            ns
        }
        Wl::Realloc => {
            let t0 = Instant::now();
            for _ in 0..n {
                let mut p = ok(a.alloc(black_box(16)));
                touch(p, 15);
                let mut s = 32;
                while s <= 1 << 20 {
                    p = ok(a.realloc(p, s));
                    touch(p, s / 2);
                    touch(p, s - 1);
                    s <<= 1;
                }
                a.free(black_box(p));
            }
            elapsed(t0)
        }
        Wl::Large | Wl::LargeTouch => {
            let all = wl == Wl::LargeTouch;
            let t0 = Instant::now();
            for i in 0..n {
                let s = t.large[i & LMASK] as usize;
                let p = ok(a.alloc(s));
                if all {
                    let mut off = 0;
                    while off < s {
                        touch(p, off);
                        off += PAGE;
                    }
                } else {
                    touch(p, 0);
                }
                a.free(black_box(p));
            }
            elapsed(t0)
        }
        Wl::Pair2t | Wl::Mix2t => unreachable!(),
    }
}

/// One thread of a 2-thread case: set-up, the start barrier, `n` ops, the end barrier, tear-down.
/// Returns the clock before and after its loop.
fn worker<A: Alloc>(
    a: A,
    wl: Wl,
    n: usize,
    k: usize,
    t: &Tables,
    bar: &Barrier,
) -> (Instant, Instant) {
    // Give the thread's allocator state (tcache, thread heap) a start before the clock does.
    for _ in 0..1000 {
        let p = ok(a.alloc(black_box(64)));
        touch(p, 0);
        a.free(black_box(p));
    }
    match wl {
        Wl::Pair2t => {
            let s = black_box(64);
            bar.wait();
            let t0 = Instant::now();
            for _ in 0..n {
                let p = ok(a.alloc(s));
                touch(p, 0);
                a.free(black_box(p));
            }
            let t1 = Instant::now();
            bar.wait();
            (t0, t1)
        }
        Wl::Mix2t => {
            let off = k * (TLEN / 2);
            let mut slots: Vec<*mut u8> = (0..MIX_LIVE)
                .map(|j| {
                    let p = ok(a.alloc(t.small[(j * 7 + off + 3) & TMASK] as usize));
                    touch(p, 0);
                    p
                })
                .collect();
            bar.wait();
            let t0 = Instant::now();
            for i in 0..n {
                let j = t.slot2k[(i + off) & TMASK] as usize;
                a.free(slots[j]);
                let p = ok(a.alloc(t.small[(i + off + 12_345) & TMASK] as usize));
                touch(p, 0);
                slots[j] = p;
            }
            let t1 = Instant::now();
            bar.wait();
            for &p in &slots {
                a.free(p);
            }
            (t0, t1)
        }
        _ => unreachable!(),
    }
}

/// Runs `n` ops in total on two threads sharing `a`; returns the wall nanoseconds from the
/// first thread's start to the last thread's end. The threads read the clock themselves: with 2
/// vCPUs a third (timing) thread may not be running when the loops start or end.
#[inline(never)]
fn run_2t<A: Alloc>(a: A, wl: Wl, n: u64, t: &Tables) -> u64 {
    let per = (n / 2) as usize;
    let bar = Barrier::new(2);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..2)
            .map(|k| {
                let bar = &bar;
                sc.spawn(move || worker(a, wl, per, k, t, bar))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let start = spans.iter().map(|s| s.0).min().unwrap();
    let end = spans.iter().map(|s| s.1).max().unwrap();
    (end - start).as_nanos() as u64
}

fn go<A: Alloc>(a: A, wl: Wl, n: u64, t: &Tables) -> u64 {
    if wl.two_threads() {
        run_2t(a, wl, n, t)
    } else {
        run_1t(a, wl, n, t)
    }
}

/// Runs `n` ops of `case` on `side` (ours on `heap`); returns the core loop's nanoseconds.
fn run_side(case: &Case, side: Side, heap: usize, n: u64, t: &Tables) -> u64 {
    match side {
        Side::Ours if case.local => go(Local, case.wl, n, t),
        Side::Ours => go(Ours(heap), case.wl, n, t),
        Side::Glibc => go(Glibc, case.wl, n, t),
        Side::GlibcMx => go(GlibcMx, case.wl, n, t),
        Side::Mimalloc => go(mimalloc().expect("mimalloc"), case.wl, n, t),
        Side::Jemalloc => go(jemalloc().expect("jemalloc"), case.wl, n, t),
    }
}

fn new_heap() -> usize {
    let h = HeapCreate(0, 0, 0);
    assert!(!h.is_null(), "HeapCreate(0, 0, 0) failed");
    h as usize
}

/// A few calls whose results the spec fixes, so a broken heap fails here and not as a wild
/// timing.
fn sanity() {
    let h = HeapCreate(0, 0, 0);
    assert!(!h.is_null(), "HeapCreate(0, 0, 0) failed");
    let p = HeapAlloc(h, 0, 10);
    assert!(!p.is_null(), "HeapAlloc(10) failed");
    assert_eq!(p as usize % 16, 0, "HeapAlloc pointer not 16-byte aligned");
    assert_eq!(HeapSize(h, 0, p), 16, "HeapSize of a 10-byte block");
    let q = HeapReAlloc(h, 0, p, 100_000);
    assert!(!q.is_null(), "HeapReAlloc to 100,000 failed");
    assert_eq!(HeapSize(h, 0, q), 100_000, "HeapSize after HeapReAlloc");
    assert_eq!(HeapFree(h, 0, q), 1, "HeapFree");
    let z = HeapAlloc(h, HEAP_ZERO_MEMORY, 64);
    assert!(!z.is_null(), "HeapAlloc(HEAP_ZERO_MEMORY) failed");
    assert_eq!(HeapFree(h, 0, z), 1, "HeapFree");
    assert_eq!(HeapDestroy(h), 1, "HeapDestroy");
    let l = LocalAlloc(LMEM_FIXED, 10);
    assert!(!l.is_null(), "LocalAlloc failed");
    assert_eq!(
        HeapSize(GetProcessHeap(), 0, l),
        16,
        "HeapSize of a LocalAlloc block"
    );
    assert!(LocalFree(l).is_null(), "LocalFree");
}

// ---------------------------------------------------------------------------------------------
// Statistics and printing

fn fmt_ratio(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else if r >= 10.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.2}")
    }
}

fn target_text(t: Target) -> String {
    match t {
        Target::Glibc(x, src) => format!("<={x:.2}x glibc ({src})"),
        Target::Mutex(x, src) => format!("<={x:.2}x glibc+mx ({src})"),
        Target::None => "-".to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Options

struct Opts {
    rounds: usize,
    quick: bool,
    ir: bool,
    syscalls: bool,
    only: Option<String>,
    single: Option<(usize, Side, u64)>,
    mem16: Option<String>,
}

fn parse_args() -> Opts {
    let mut o = Opts {
        rounds: 9,
        quick: false,
        ir: false,
        syscalls: false,
        only: None,
        single: None,
        mem16: None,
    };
    let mut rounds_given = false;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            // cargo bench appends --bench for harness = false targets.
            "--bench" => {}
            "--ir" => o.ir = true,
            "--syscalls" => o.syscalls = true,
            "--list" => {
                for (k, c) in CASES.iter().enumerate() {
                    println!(
                        "{k}: {} ({:?}; ours = {}; target {})",
                        c.name,
                        c.wl,
                        if c.local {
                            "LocalAlloc/LocalFree"
                        } else {
                            "HeapAlloc/HeapFree on HeapCreate(0,0,0)"
                        },
                        target_text(c.target)
                    );
                }
                println!("sides: {}", SIDES.map(Side::name).join(", "));
                std::process::exit(0);
            }
            "--quick" => o.quick = true,
            "--rounds" => {
                i += 1;
                o.rounds = args[i].parse().expect("--rounds N");
                rounds_given = true;
            }
            "--only" => {
                i += 1;
                o.only = Some(args[i].clone());
            }
            // Internal: one (case, side) for n ops, for the Ir and syscall modes' children.
            "--single" => {
                let case: usize = args[i + 1].parse().expect("--single CASE SIDE N");
                let side = Side::parse(&args[i + 2]);
                let n: u64 = args[i + 3].parse().expect("--single CASE SIDE N");
                o.single = Some((case, side, n));
                i += 3;
            }
            // Internal: one mem16 measurement.
            "--mem16" => {
                i += 1;
                o.mem16 = Some(args[i].clone());
            }
            a => panic!(
                "unknown argument {a:?} (use --rounds N, --quick, --ir, --syscalls, --only SUBSTR, \
                 --list)"
            ),
        }
        i += 1;
    }
    if o.quick && !rounds_given {
        o.rounds = 5;
    }
    o
}

fn wanted(o: &Opts, name: &str) -> bool {
    o.only.as_deref().is_none_or(|s| name.contains(s))
}

fn selected(o: &Opts) -> Vec<usize> {
    (0..CASES.len())
        .filter(|&i| wanted(o, CASES[i].name))
        .collect()
}

fn sides() -> Vec<Side> {
    SIDES.into_iter().filter(|s| s.available()).collect()
}

fn report_missing() {
    if mimalloc().is_none() {
        eprintln!("mimalloc: libmimalloc.so.2 not installed, skipped");
    }
    if jemalloc().is_none() {
        eprintln!("jemalloc: libjemalloc.so.2 not installed, skipped");
    }
}

// ---------------------------------------------------------------------------------------------
// Timed mode

fn timed(o: &Opts) {
    let cases = selected(o);
    if cases.is_empty() {
        return;
    }
    let t = Tables::new();
    let sides = sides();
    let target_ms = if o.quick { 40.0 } else { 200.0 };
    let configs: Vec<(usize, Side)> = cases
        .iter()
        .flat_map(|&c| sides.iter().map(move |&s| (c, s)))
        .collect();
    let heaps: Vec<usize> = CASES
        .iter()
        .map(|c| if c.local { 0 } else { new_heap() })
        .collect();

    // Warm-up and calibration: per case, the slowest side's loop takes about target_ms.
    let started = Instant::now();
    let mut slowest = vec![0f64; CASES.len()];
    for &(c, s) in &configs {
        let case = &CASES[c];
        let w = if o.quick { case.warm / 4 } else { case.warm };
        let w = w.div_ceil(case.wl.unit()).max(1) * case.wl.unit();
        run_side(case, s, heaps[c], w, &t);
        // The faster of two passes: a preempted pass would shrink the loops of the whole case.
        let a = run_side(case, s, heaps[c], w, &t);
        let ns = a.min(run_side(case, s, heaps[c], w, &t)) as f64 / w as f64;
        slowest[c] = slowest[c].max(ns);
    }
    let ops: Vec<u64> = (0..CASES.len())
        .map(|c| {
            let case = &CASES[c];
            let u = case.wl.unit();
            let n = if slowest[c] > 0.0 {
                (target_ms * 1e6 / slowest[c]) as u64
            } else {
                0
            };
            let floor = if o.quick { case.warm / 4 } else { case.warm };
            n.max(floor).div_ceil(u).max(1) * u
        })
        .collect();
    eprintln!(
        "heap bench: {} configs ({} cases x {} sides), {} rounds, ~{target_ms} ms per loop for the \
         slowest side; calibration took {:.1} s",
        configs.len(),
        cases.len(),
        sides.len(),
        o.rounds,
        started.elapsed().as_secs_f64()
    );

    let mut ns = vec![Vec::<f64>::new(); configs.len()];
    let started = Instant::now();
    for r in 0..o.rounds {
        let n = configs.len();
        let order = round_order(n, r, 7);
        for k in order {
            let (c, s) = configs[k];
            let tns = run_side(&CASES[c], s, heaps[c], ops[c], &t);
            ns[k].push(tns as f64 / ops[c] as f64);
        }
        eprintln!(
            "  round {}/{} done ({:.1} s)",
            r + 1,
            o.rounds,
            started.elapsed().as_secs_f64()
        );
    }
    for &h in &heaps {
        if h != 0 {
            assert_eq!(HeapDestroy(h as HANDLE), 1, "HeapDestroy");
        }
    }

    let at = |c: usize, s: Side| configs.iter().position(|&x| x == (c, s));
    let ratios =
        |k: usize, b: usize| -> Vec<f64> { ns[k].iter().zip(&ns[b]).map(|(x, y)| x / y).collect() };

    println!();
    println!(
        "Heap API vs allocators: median ns/op over {} rounds; ratio = median of per-round \
         side/baseline (min..max)",
        o.rounds
    );
    let mut head = format!("{:<19} {:>9}", "case", "ops/loop");
    for s in &sides {
        head += &format!(" {:>11}", s.name());
    }
    head += &format!(
        " {:>19} {:>19} {:>8} {:>8}  {:<27} {}",
        "ours/glibc", "ours/glibc+mx", "mi/glibc", "je/glibc", "target", "verdict"
    );
    println!("{head}");
    let mut misses = Vec::new();
    for &c in &cases {
        let case = &CASES[c];
        let mut line = format!("{:<19} {:>9}", case.name, ops[c]);
        for &s in &sides {
            let k = at(c, s).unwrap();
            line += &format!(" {:>11}", fmt_ns(median(&ns[k])));
        }
        let ours = at(c, Side::Ours).unwrap();
        let glibc = at(c, Side::Glibc).unwrap();
        let mx = at(c, Side::GlibcMx).unwrap();
        let spread = |v: &[f64]| {
            let (lo, hi) = min_max(v);
            format!(
                "{} ({}..{})",
                fmt_ratio(median(v)),
                fmt_ratio(lo),
                fmt_ratio(hi)
            )
        };
        let r_glibc = ratios(ours, glibc);
        let r_mx = ratios(ours, mx);
        line += &format!(" {:>19} {:>19}", spread(&r_glibc), spread(&r_mx));
        for s in [Side::Mimalloc, Side::Jemalloc] {
            let cell = at(c, s).map_or("-".to_string(), |k| fmt_ratio(median(&ratios(k, glibc))));
            line += &format!(" {cell:>8}");
        }
        let (verdict, bound, got) = match case.target {
            Target::Glibc(x, _) => (median(&r_glibc) <= x, x, median(&r_glibc)),
            Target::Mutex(x, _) => (median(&r_mx) <= x, x, median(&r_mx)),
            Target::None => (true, f64::NAN, f64::NAN),
        };
        let v = match case.target {
            Target::None => "",
            _ if verdict => "ok",
            _ => "MISS",
        };
        if !verdict {
            misses.push(format!(
                "{}: {} against {}",
                case.name,
                fmt_ratio(got),
                fmt_ratio(bound)
            ));
        }
        line += &format!("  {:<27} {v}", target_text(case.target));
        println!("{line}");
    }
    println!();
    println!("ns/op spread over rounds (min..max)");
    let mut head = format!("{:<19}", "case");
    for s in &sides {
        head += &format!(" {:>19}", s.name());
    }
    println!("{head}");
    for &c in &cases {
        let mut line = format!("{:<19}", CASES[c].name);
        for &s in &sides {
            let (lo, hi) = min_max(&ns[at(c, s).unwrap()]);
            line += &format!(" {:>19}", format!("{}..{}", fmt_ns(lo), fmt_ns(hi)));
        }
        println!("{line}");
    }
    println!(
        "ours = HeapAlloc/HeapFree/HeapReAlloc on a HeapCreate(0,0,0) heap (l_: LocalAlloc/LocalFree); \
         glibc+mutex = malloc/free inside one pthread mutex; 2t rows: ns = wall / total ops"
    );
    if !misses.is_empty() {
        println!("targets missed: {}", misses.join("; "));
    }
}

// ---------------------------------------------------------------------------------------------
// Child modes

fn minflt() -> u64 {
    // SAFETY: getrusage fills the zeroed struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    ru.ru_minflt as u64
}

/// The child of the Ir and syscall modes: `n` ops of (case, side) from a fresh process; prints
/// the loop's nanoseconds and minor page faults.
fn single(c: usize, side: Side, n: u64) {
    let case = &CASES[c];
    let t = Tables::new();
    let heap = if side == Side::Ours && !case.local {
        new_heap()
    } else {
        0
    };
    let f0 = minflt();
    let ns = run_side(case, side, heap, n, &t);
    let f1 = minflt();
    println!("ns {ns} minflt {}", f1 - f0);
}

fn rss_bytes() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

const MEM_N: usize = 100_000;

#[inline(never)]
fn fill16<A: Alloc>(a: A, ptrs: &mut [*mut u8]) -> f64 {
    let p = ok(a.alloc(16));
    touch(p, 0);
    a.free(p);
    let before = rss_bytes();
    for q in ptrs.iter_mut() {
        let p = ok(a.alloc(16));
        touch(p, 0);
        *q = p;
    }
    let after = rss_bytes();
    black_box(&ptrs);
    (after as f64 - before as f64) / ptrs.len() as f64
}

/// The child of mem16: RSS growth per live 16-byte block; prints it.
fn mem16_child(side: &str) {
    let mut ptrs = vec![core::ptr::null_mut::<u8>(); MEM_N];
    // Write every element so the array's pages are resident before the first reading.
    ptrs.fill(core::ptr::dangling_mut());
    black_box(&mut ptrs);
    let b = match side {
        "ours" => fill16(Ours(new_heap()), &mut ptrs),
        "local" => fill16(Local, &mut ptrs),
        "glibc" => fill16(Glibc, &mut ptrs),
        "mimalloc" => fill16(mimalloc().expect("mimalloc"), &mut ptrs),
        "jemalloc" => fill16(jemalloc().expect("jemalloc"), &mut ptrs),
        s => panic!("unknown mem16 side {s:?}"),
    };
    println!("{b:.2}");
}

fn mem16(o: &Opts) {
    let exe = std::env::current_exe().unwrap();
    let mut rows: Vec<(&str, &str)> = vec![
        ("ours", "ours (HeapCreate heap)"),
        ("local", "ours (LocalAlloc)"),
        ("glibc", "glibc"),
    ];
    if mimalloc().is_some() {
        rows.push(("mimalloc", "mimalloc"));
    }
    if jemalloc().is_some() {
        rows.push(("jemalloc", "jemalloc"));
    }
    let reps = if o.quick { 1 } else { 3 };
    println!();
    println!(
        "mem16: RSS growth per live 16-byte block, {MEM_N} blocks, fresh child per run (median \
         of {reps}); target ours <= 24 B/block"
    );
    for (arg, label) in rows {
        let mut v = Vec::new();
        for _ in 0..reps {
            let out = Command::new(&exe)
                .args(["--mem16", arg])
                .stderr(Stdio::inherit())
                .output()
                .expect("run mem16 child");
            if let Some(x) = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|_| out.status.success())
            {
                v.push(x);
            }
        }
        let cell = if v.is_empty() {
            "failed".to_string()
        } else {
            format!("{:.1} B/block", median(&v))
        };
        let verdict = if arg == "ours" || arg == "local" {
            if !v.is_empty() && median(&v) <= 24.0 {
                "  ok"
            } else {
                "  MISS"
            }
        } else {
            ""
        };
        println!("  {label:<24} {cell:>16}{verdict}");
    }
}

// ---------------------------------------------------------------------------------------------
// Syscall mode

/// Runs `args` of this executable; returns its stdout when it succeeded.
fn run_child(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::piped()).output().ok()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(3).collect();
        eprintln!("child failed: {tail:?}");
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Per-syscall counts of `strace -c -f` on `--single case side n`.
fn strace_counts(
    exe: &std::path::Path,
    dir: &std::path::Path,
    c: usize,
    side: Side,
    n: u64,
) -> Option<BTreeMap<String, u64>> {
    let out = dir.join(format!("strace.{c}.{}.{n}", side.name()));
    run_child(
        Command::new("strace")
            .args(["-c", "-f", "-o"])
            .arg(&out)
            .arg(exe)
            .args(["--single", &c.to_string(), side.name(), &n.to_string()]),
    )?;
    let text = std::fs::read_to_string(&out).ok()?;
    let _ = std::fs::remove_file(&out);
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        // "% time  seconds  usecs/call  calls  [errors]  syscall"
        if w.len() >= 5
            && w[0].parse::<f64>().is_ok()
            && let Ok(calls) = w[3].parse::<u64>()
        {
            m.insert(w[w.len() - 1].to_string(), calls);
        }
    }
    m.contains_key("total").then_some(m)
}

fn faults(exe: &std::path::Path, c: usize, side: Side, n: u64) -> Option<u64> {
    let out = run_child(Command::new(exe).args([
        "--single",
        &c.to_string(),
        side.name(),
        &n.to_string(),
    ]))?;
    let w: Vec<&str> = out.split_whitespace().collect();
    w.iter()
        .position(|&x| x == "minflt")
        .and_then(|i| w.get(i + 1)?.parse().ok())
}

fn syscall_check(o: &Opts) {
    let cases: Vec<usize> = (0..CASES.len())
        .filter(|&c| matches!(CASES[c].wl, Wl::Large | Wl::LargeTouch) && wanted(o, CASES[c].name))
        .collect();
    if cases.is_empty() {
        return;
    }
    let have_strace = Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let exe = std::env::current_exe().unwrap();
    let dir = std::env::temp_dir().join(format!("coredll-heap-sys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (n1, n2) = (1_000u64, 3_000u64);
    println!();
    println!(
        "Steady-state syscalls and minor page faults per op = (count(N2) - count(N1)) / (N2 - N1), \
         N1/N2 = {n1}/{n2}, fresh child each; target e_large ours: 0 syscalls/op"
    );
    if !have_strace {
        println!("  strace not installed: syscall counts skipped (page faults only)");
    }
    println!(
        "{:<15} {:<7} {:>13} {:>13}  syscalls/op by name (top)",
        "case", "side", "syscalls/op", "minflt/op"
    );
    for &c in &cases {
        for side in [Side::Ours, Side::Glibc] {
            let sys = if have_strace {
                strace_counts(&exe, &dir, c, side, n1).zip(strace_counts(&exe, &dir, c, side, n2))
            } else {
                None
            };
            let flt = faults(&exe, c, side, n1).zip(faults(&exe, c, side, n2));
            let per = |a: u64, b: u64| (b as f64 - a as f64) / (n2 - n1) as f64;
            let (total, names) = match &sys {
                Some((a, b)) => {
                    let mut v: Vec<(String, f64)> = b
                        .iter()
                        .filter(|(k, _)| k.as_str() != "total")
                        .map(|(k, &nb)| (k.clone(), per(a.get(k).copied().unwrap_or(0), nb)))
                        .filter(|(_, x)| *x >= 0.01)
                        .collect();
                    v.sort_by(|x, y| y.1.total_cmp(&x.1));
                    let names: Vec<String> = v
                        .iter()
                        .take(4)
                        .map(|(k, x)| format!("{k} {x:.2}"))
                        .collect();
                    (
                        format!("{:.3}", per(a["total"], b["total"])),
                        names.join(", "),
                    )
                }
                None if have_strace => ("failed".to_string(), String::new()),
                None => ("-".to_string(), String::new()),
            };
            let flt = flt.map_or("failed".to_string(), |(a, b)| format!("{:.2}", per(a, b)));
            println!(
                "{:<15} {:<7} {:>13} {:>13}  {}",
                CASES[c].name,
                side.name(),
                total,
                flt,
                names
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Ir mode

fn ir_mode(o: &Opts) {
    let exe = std::env::current_exe().unwrap();
    let dir = std::env::temp_dir().join(format!("coredll-heap-ir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = selected(o);
    let sides = sides();
    // Jobs: (case, side, n); Ir is deterministic, so they run two at a time.
    let jobs: Vec<(usize, Side, u64)> = cases
        .iter()
        .flat_map(|&c| {
            let (n1, n2) = CASES[c].ir;
            sides.iter().flat_map(move |&s| [(c, s, n1), (c, s, n2)])
        })
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<BTreeMap<(usize, Side, u64), Option<u64>>> = Mutex::new(BTreeMap::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4));
    let started = Instant::now();
    eprintln!(
        "heap bench --ir: {} callgrind runs, {workers} at a time",
        jobs.len()
    );
    std::thread::scope(|sc| {
        for _ in 0..workers {
            sc.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(c, s, n)) = jobs.get(i) else { break };
                    let ir = callgrind_ir(&exe, &dir, c, s.name(), n);
                    results.lock().unwrap().insert((c, s, n), ir);
                    if (i + 1).is_multiple_of(20) {
                        eprintln!(
                            "  {}/{} runs ({:.0} s)",
                            i + 1,
                            jobs.len(),
                            started.elapsed().as_secs_f64()
                        );
                    }
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    println!();
    println!(
        "Ir/op under callgrind = (Ir(N2) - Ir(N1)) / (N2 - N1); kernel work is invisible; 2t rows \
         run one thread at a time (uncontended)"
    );
    let mut head = format!("{:<19} {:>15}", "case", "N1 / N2");
    for s in &sides {
        head += &format!(" {:>11}", s.name());
    }
    head += &format!(" {:>12}", "ours-glibc");
    println!("{head}");
    for &c in &cases {
        let (n1, n2) = CASES[c].ir;
        let per = |s: Side| {
            let a = results.get(&(c, s, n1)).copied().flatten()?;
            let b = results.get(&(c, s, n2)).copied().flatten()?;
            Some((b as f64 - a as f64) / (n2 - n1) as f64)
        };
        let cell = |v: Option<f64>| {
            v.map_or("failed".to_string(), |v| {
                if v.abs() >= 1000.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.1}")
                }
            })
        };
        let mut line = format!("{:<19} {:>15}", CASES[c].name, format!("{n1}/{n2}"));
        for &s in &sides {
            line += &format!(" {:>11}", cell(per(s)));
        }
        line += &format!(
            " {:>12}",
            cell(per(Side::Ours).zip(per(Side::Glibc)).map(|(a, b)| a - b))
        );
        println!("{line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "ours: HeapAlloc/HeapFree (l_: LocalAlloc/LocalFree); the loop, table lookups and the \
         1-byte write are included on every side"
    );
}

/// libjemalloc.so.2 has 2.6 KB of initial-exec TLS, more than glibc keeps spare for dlopen, so
/// dlopen fails with "cannot allocate memory in static TLS block". Such a process re-executes
/// itself once with more optional static TLS (a start-up tunable); the children inherit it.
fn reexec_for_static_tls() {
    const MARK: &str = "COREDLL_HEAP_BENCH_TLS";
    if std::env::var_os(MARK).is_some() {
        return;
    }
    // SAFETY: dlopen by name; a failure leaves nothing loaded, a success is kept for jemalloc().
    let h = unsafe {
        libc::dlopen(
            c"libjemalloc.so.2".as_ptr(),
            libc::RTLD_NOW | libc::RTLD_LOCAL,
        )
    };
    if !h.is_null() {
        return;
    }
    // SAFETY: dlerror returns NULL or a NUL-terminated message valid until the next dl call.
    let err = unsafe { libc::dlerror() };
    // SAFETY: see above; copied at once.
    if err.is_null()
        || !unsafe { CStr::from_ptr(err) }
            .to_string_lossy()
            .contains("static TLS")
    {
        return;
    }
    let more = "glibc.rtld.optional_static_tls=16384";
    let tunables = match std::env::var("GLIBC_TUNABLES") {
        Ok(t) if !t.is_empty() => format!("{t}:{more}"),
        _ => more.to_string(),
    };
    use std::os::unix::process::CommandExt;
    let e = Command::new(std::env::current_exe().unwrap())
        .args(std::env::args_os().skip(1))
        .env("GLIBC_TUNABLES", tunables)
        .env(MARK, "1")
        .exec();
    eprintln!("re-exec with more static TLS for jemalloc failed: {e}");
}

fn main() {
    let o = parse_args();
    // Only where jemalloc is used: a child that re-executes itself would escape valgrind.
    let child_side = match (&o.single, &o.mem16) {
        (Some((_, side, _)), _) => Some(side.name()),
        (None, Some(side)) => Some(side.as_str()),
        (None, None) => None,
    };
    if child_side.is_none_or(|s| s == "jemalloc") {
        reexec_for_static_tls();
    }
    if let Some((c, side, n)) = o.single {
        single(c, side, n);
        return;
    }
    if let Some(side) = &o.mem16 {
        mem16_child(side);
        return;
    }
    sanity();
    report_missing();
    if o.ir {
        ir_mode(&o);
    } else if o.syscalls {
        syscall_check(&o);
    } else {
        timed(&o);
        if wanted(&o, "mem16") {
            mem16(&o);
        }
        syscall_check(&o);
    }
}
