//! VirtualAlloc / VirtualFree / VirtualQuery against the raw syscalls they stand in for, in one
//! process. Targets: VirtualAlloc+VirtualFree within 1.10x of mmap+munmap; VirtualQuery at most
//! 50 ns at 1,000 live reservations and 200 ns beyond.
//!
//!   cargo bench --bench vm                      timed rounds (default 11), median ns/op and ratios
//!   cargo bench --bench vm -- --rounds 15       more rounds (at least 7)
//!   cargo bench --bench vm -- --quick           short loops (a smoke run, a few seconds)
//!   cargo bench --bench vm -- --ir              instructions per op under callgrind
//!   cargo bench --bench vm -- --only vq         cases whose label contains "vq"
//!   cargo bench --bench vm -- --list            case numbers, for profiling one (case, side)
//!
//! Profiling one case (the release profile strips debuginfo, so override both settings):
//!   CARGO_PROFILE_RELEASE_DEBUG=true CARGO_PROFILE_RELEASE_STRIP=none \
//!       cargo bench --bench vm --no-run            prints the executable's path
//!   valgrind --tool=callgrind --callgrind-out-file=cg.out EXE --single CASE ours N
//!   callgrind_annotate --auto=yes cg.out            (diff two N to drop the set-up)
//!
//! Timing: one warm-up pass calibrates each config's op count to a fixed loop time; then every
//! round runs each config (case × side) once, in an order that rotates from round to round.
//! std::time::Instant is read around the core loop only. A cell is the median over rounds; a ratio
//! is the median of the per-round ratios ours/raw, so drift hits both sides of a ratio.
//!
//! Ir mode: each (case, side) runs in its own process under `valgrind --tool=callgrind` at two op
//! counts, and Ir/op = (Ir(N2) − Ir(N1)) / (N2 − N1): start-up and set-up cancel. Callgrind does
//! not see kernel work, so for syscall cases this is the user-space bookkeeping (ours) against the
//! libc syscall wrappers (raw). The loop itself costs a few Ir per op on both sides. Under
//! callgrind the live reservations' committed runs are PAGE_NOACCESS (see `Live`).
//!
//! Live reservations: the 1,000 / 16,000 cases first make that many 64 KB reservations, each with
//! one committed run of 2–6 pages at offset 1–5 (so a reservation is three regions of a few pages,
//! and the host sees two VMAs per reservation: 32,000 at 16,000, below vm.max_map_count). They are
//! made first-fit from the bottom of the window, so a new 64 KB reservation has to be searched for
//! past all of them. The raw side runs in the same process state.

#[path = "common/mod.rs"]
mod common;
use common::{callgrind_ir, fmt_ns, median, min_max, round_order};

use std::hint::black_box;
use std::time::Instant;

use coredll::api::virtual_mem::{VirtualAlloc, VirtualFree, VirtualQuery};
use coredll::types::*;

const SIZE: usize = 64 << 10;
const PAGE: usize = 4096;
const MBI: u32 = size_of::<MEMORY_BASIC_INFORMATION>() as u32;

/// What one side of a case does per op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// VirtualAlloc(NULL, 64 KB, MEM_RESERVE|MEM_COMMIT, PAGE_READWRITE) + VirtualFree(RELEASE).
    VaRcr,
    /// mmap(NULL, 64 KB, RW, PRIVATE|ANONYMOUS) + munmap.
    RawRcr,
    /// VaRcr with one byte written between the calls.
    VaRcrTouch,
    /// RawRcr with one byte written between the calls.
    RawRcrTouch,
    /// VirtualAlloc(NULL, 64 KB, MEM_RESERVE, PAGE_READWRITE) + VirtualFree(RELEASE).
    VaRr,
    /// mmap(NULL, 64 KB, PROT_NONE, PRIVATE|ANONYMOUS) + munmap.
    RawRr,
    /// VirtualQuery of a random page of a random live reservation, buffer on the stack.
    Vq,
    /// The same loop without the call (random address, a store to the stack buffer).
    VqLoop,
}

impl Op {
    fn is_syscall(self) -> bool {
        !matches!(self, Op::Vq | Op::VqLoop)
    }
}

#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    live: usize,
    ours: Op,
    raw: Op,
    /// The §8.3 "must" bound, as text for the table.
    target: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "va_reserve_commit_release_64k",
        live: 0,
        ours: Op::VaRcr,
        raw: Op::RawRcr,
        target: "<=1.10x",
    },
    Case {
        name: "va_reserve_commit_touch1_release_64k",
        live: 0,
        ours: Op::VaRcrTouch,
        raw: Op::RawRcrTouch,
        target: "<=1.10x",
    },
    Case {
        name: "va_reserve_release_64k",
        live: 0,
        ours: Op::VaRr,
        raw: Op::RawRr,
        target: "<=1.10x",
    },
    Case {
        name: "va_reserve_commit_release_64k",
        live: 1000,
        ours: Op::VaRcr,
        raw: Op::RawRcr,
        target: "<=1.10x",
    },
    Case {
        name: "va_reserve_release_64k",
        live: 1000,
        ours: Op::VaRr,
        raw: Op::RawRr,
        target: "<=1.10x",
    },
    Case {
        name: "vq_1000",
        live: 1000,
        ours: Op::Vq,
        raw: Op::VqLoop,
        target: "<=50ns",
    },
    Case {
        name: "va_reserve_commit_release_64k",
        live: 16000,
        ours: Op::VaRcr,
        raw: Op::RawRcr,
        target: "<=1.10x",
    },
    Case {
        name: "va_reserve_release_64k",
        live: 16000,
        ours: Op::VaRr,
        raw: Op::RawRr,
        target: "<=1.10x",
    },
    Case {
        name: "vq_16000",
        live: 16000,
        ours: Op::Vq,
        raw: Op::VqLoop,
        target: "<=200ns",
    },
];

// ---------------------------------------------------------------------------------------------
// Live reservations

/// The live 64 KB reservations, in the order they were made (first-fit: lowest first).
struct Live {
    bases: Vec<usize>,
    /// The committed runs' protection: PAGE_READWRITE when timing (two host VMAs per
    /// reservation, as a real program has); PAGE_NOACCESS under callgrind, whose address-space
    /// manager (valgrind 3.19) stops at a few thousand segments. Committed no-access pages are
    /// regions of their own, so VirtualQuery does the same work; only the host VMAs differ.
    commit_protect: DWORD,
}

impl Live {
    /// One reservation with one committed run; its pages are three regions.
    fn make(i: usize, commit_protect: DWORD) -> usize {
        let p = VirtualAlloc(
            core::ptr::null_mut(),
            SIZE as u32,
            MEM_RESERVE,
            PAGE_READWRITE,
        );
        assert!(
            !p.is_null(),
            "VirtualAlloc(MEM_RESERVE) failed at live reservation {i}"
        );
        let first = 1 + (i * 7) % 5;
        let pages = 2 + (i * 3) % 5;
        let at = (p as usize + first * PAGE) as LPVOID;
        let c = VirtualAlloc(at, (pages * PAGE) as u32, MEM_COMMIT, commit_protect);
        assert_eq!(
            c, at,
            "VirtualAlloc(MEM_COMMIT) failed at live reservation {i}"
        );
        p as usize
    }

    /// Grows or shrinks to `n` reservations (the newest go first).
    fn set(&mut self, n: usize) {
        while self.bases.len() < n {
            let b = Live::make(self.bases.len(), self.commit_protect);
            self.bases.push(b);
        }
        while self.bases.len() > n {
            let b = self.bases.pop().unwrap();
            assert_eq!(
                VirtualFree(b as LPVOID, 0, MEM_RELEASE),
                1,
                "release of live {b:#x}"
            );
        }
    }

    /// Checks that queries inside the live set see what was made.
    fn check(&self) {
        for (i, &b) in self.bases.iter().enumerate().step_by(97) {
            let mut mbi = zeroed_mbi();
            let first = 1 + (i * 7) % 5;
            let pages = 2 + (i * 3) % 5;
            assert_eq!(
                VirtualQuery((b + first * PAGE) as LPCVOID, &mut mbi, MBI),
                MBI
            );
            assert_eq!(mbi.State, MEM_COMMIT);
            assert_eq!(mbi.RegionSize as usize, pages * PAGE);
            assert_eq!(VirtualQuery(b as LPCVOID, &mut mbi, MBI), MBI);
            assert_eq!(mbi.State, MEM_RESERVE);
            assert_eq!(mbi.RegionSize as usize, first * PAGE);
        }
    }
}

fn zeroed_mbi() -> MEMORY_BASIC_INFORMATION {
    MEMORY_BASIC_INFORMATION {
        BaseAddress: core::ptr::null_mut(),
        AllocationBase: core::ptr::null_mut(),
        AllocationProtect: 0,
        RegionSize: 0,
        State: 0,
        Protect: 0,
        Type: 0,
    }
}

// ---------------------------------------------------------------------------------------------
// The core loops

fn raw_mmap(prot: i32) -> *mut u8 {
    // SAFETY: a fresh anonymous mapping at a kernel-chosen address.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            SIZE,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED, "mmap failed");
    p.cast()
}

fn raw_munmap(p: *mut u8) {
    // SAFETY: `p` is a mapping of SIZE bytes this loop made and nobody else uses.
    let r = unsafe { libc::munmap(p.cast(), SIZE) };
    debug_assert_eq!(r, 0);
    black_box(r);
}

/// Runs `n` ops of `op`; returns the nanoseconds of the loop alone.
#[inline(never)]
fn run(op: Op, n: u64, live: &[usize]) -> u64 {
    match op {
        Op::VaRcr | Op::VaRcrTouch => {
            let touch = op == Op::VaRcrTouch;
            let t = Instant::now();
            for _ in 0..n {
                let p = VirtualAlloc(
                    black_box(core::ptr::null_mut()),
                    SIZE as u32,
                    MEM_RESERVE | MEM_COMMIT,
                    PAGE_READWRITE,
                );
                assert!(!p.is_null(), "VirtualAlloc(RESERVE|COMMIT) failed");
                if touch {
                    // SAFETY: the first page was just committed read-write.
                    unsafe { (p as *mut u8).write_volatile(1) };
                }
                let ok = VirtualFree(p, 0, MEM_RELEASE);
                debug_assert_eq!(ok, 1);
                black_box(ok);
            }
            t.elapsed().as_nanos() as u64
        }
        Op::VaRr => {
            let t = Instant::now();
            for _ in 0..n {
                let p = VirtualAlloc(
                    black_box(core::ptr::null_mut()),
                    SIZE as u32,
                    MEM_RESERVE,
                    PAGE_READWRITE,
                );
                assert!(!p.is_null(), "VirtualAlloc(RESERVE) failed");
                let ok = VirtualFree(p, 0, MEM_RELEASE);
                debug_assert_eq!(ok, 1);
                black_box(ok);
            }
            t.elapsed().as_nanos() as u64
        }
        Op::RawRcr | Op::RawRcrTouch => {
            let touch = op == Op::RawRcrTouch;
            let t = Instant::now();
            for _ in 0..n {
                let p = raw_mmap(libc::PROT_READ | libc::PROT_WRITE);
                if touch {
                    // SAFETY: a fresh read-write mapping.
                    unsafe { p.write_volatile(1) };
                }
                raw_munmap(p);
            }
            t.elapsed().as_nanos() as u64
        }
        Op::RawRr => {
            let t = Instant::now();
            for _ in 0..n {
                raw_munmap(raw_mmap(libc::PROT_NONE));
            }
            t.elapsed().as_nanos() as u64
        }
        Op::Vq | Op::VqLoop => {
            assert!(!live.is_empty());
            let len = live.len() as u64;
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            let mut mbi = zeroed_mbi();
            let mut sum = 0u64;
            let query = op == Op::Vq;
            let t = Instant::now();
            for _ in 0..n {
                // xorshift64; index by multiply-high (no division in the loop).
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let i = (((x >> 32) * len) >> 32) as usize;
                let addr = live[i] + (x as usize & 15) * PAGE + (x as usize >> 20 & 0xff8);
                if query {
                    let r = VirtualQuery(addr as LPCVOID, &mut mbi, MBI);
                    debug_assert_eq!(r, MBI);
                } else {
                    mbi.BaseAddress = addr as PVOID;
                    black_box(&mut mbi);
                }
                sum = sum.wrapping_add(mbi.RegionSize as u64);
            }
            let ns = t.elapsed().as_nanos() as u64;
            black_box(sum);
            ns
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics and printing

fn case_label(c: &Case) -> String {
    if c.name.starts_with("vq") {
        c.name.to_string()
    } else {
        format!("{} @{}", c.name, c.live)
    }
}

// ---------------------------------------------------------------------------------------------
// Timed mode

struct Opts {
    rounds: usize,
    quick: bool,
    ir: bool,
    only: Option<String>,
    single: Option<(usize, Op, u64)>,
}

fn parse_args() -> Opts {
    let mut o = Opts {
        rounds: 11,
        quick: false,
        ir: false,
        only: None,
        single: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            // cargo bench appends --bench for harness = false targets.
            "--bench" => {}
            "--ir" => o.ir = true,
            "--list" => {
                for (k, c) in CASES.iter().enumerate() {
                    println!(
                        "{k}: {} (ours {:?}, raw {:?})",
                        case_label(c),
                        c.ours,
                        c.raw
                    );
                }
                std::process::exit(0);
            }
            "--quick" => o.quick = true,
            "--rounds" => {
                i += 1;
                o.rounds = args[i].parse().expect("--rounds N");
            }
            "--only" => {
                i += 1;
                o.only = Some(args[i].clone());
            }
            // Internal: one (case, side) for n ops, for the Ir mode's children.
            "--single" => {
                let case: usize = args[i + 1].parse().unwrap();
                let side = args[i + 2].as_str();
                let n: u64 = args[i + 3].parse().unwrap();
                let c = CASES[case];
                o.single = Some((case, if side == "ours" { c.ours } else { c.raw }, n));
                i += 3;
            }
            a => panic!(
                "unknown argument {a:?} (use --rounds N, --quick, --ir, --only SUBSTR, --list)"
            ),
        }
        i += 1;
    }
    o
}

fn selected(o: &Opts) -> Vec<usize> {
    (0..CASES.len())
        .filter(|&i| {
            o.only
                .as_deref()
                .is_none_or(|s| case_label(&CASES[i]).contains(s))
        })
        .collect()
}

fn timed(o: &Opts) {
    let cases = selected(o);
    // Loop time per config: long enough for the clock and the noise, short enough for 11 rounds
    // of 18 configs (with the live-set changes between them) to take about 20 s.
    let (target_ms, warm_n_sys, warm_n_vq) = if o.quick {
        (5.0, 200, 20_000)
    } else {
        (80.0, 2_000, 200_000)
    };
    let mut live = Live {
        bases: Vec::new(),
        commit_protect: PAGE_READWRITE,
    };
    // Configs: (case, side 0 = ours / 1 = raw).
    let configs: Vec<(usize, usize)> = cases.iter().flat_map(|&c| [(c, 0), (c, 1)]).collect();
    let op_of = |(c, s): (usize, usize)| if s == 0 { CASES[c].ours } else { CASES[c].raw };

    // Warm-up and calibration.
    let mut ops = vec![0u64; configs.len()];
    for (k, &cfg) in configs.iter().enumerate() {
        let case = &CASES[cfg.0];
        live.set(case.live);
        let op = op_of(cfg);
        let n = if op.is_syscall() {
            warm_n_sys
        } else {
            warm_n_vq
        };
        run(op, n / 4, &live.bases);
        let ns = run(op, n, &live.bases) as f64 / n as f64;
        ops[k] = ((target_ms * 1e6 / ns) as u64).clamp(100, 20_000_000);
    }
    // Use one op count per case (the smaller of the two sides') so both sides do the same work.
    for k in (0..configs.len()).step_by(2) {
        let n = ops[k]
            .min(ops[k + 1])
            .max(if op_of(configs[k]).is_syscall() {
                1_000
            } else {
                100_000
            });
        ops[k] = n;
        ops[k + 1] = n;
    }
    live.set(1000);
    live.check();
    live.set(16000);
    live.check();

    eprintln!(
        "vm bench: {} configs, {} rounds, ~{target_ms} ms per loop; window ops on the CE 6 window",
        configs.len(),
        o.rounds
    );
    let mut ns = vec![Vec::<f64>::new(); configs.len()];
    let started = Instant::now();
    for r in 0..o.rounds {
        let n = configs.len();
        let order = round_order(n, r, 3);
        for k in order {
            let cfg = configs[k];
            live.set(CASES[cfg.0].live);
            let t = run(op_of(cfg), ops[k], &live.bases);
            ns[k].push(t as f64 / ops[k] as f64);
        }
        eprintln!(
            "  round {}/{} done ({:.1} s)",
            r + 1,
            o.rounds,
            started.elapsed().as_secs_f64()
        );
    }
    live.set(0);

    println!();
    println!(
        "VM API vs raw syscalls: median ns/op over {} rounds (min..max); ratio = median of per-round ours/raw",
        o.rounds
    );
    println!(
        "{:<44} {:>9} {:>22} {:>22} {:>22} {:>9}",
        "case @live", "ops/loop", "ours ns/op", "raw ns/op", "ratio ours/raw", "target"
    );
    for k in (0..configs.len()).step_by(2) {
        let c = &CASES[configs[k].0];
        let (a, b) = (&ns[k], &ns[k + 1]);
        let ratios: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
        let (amin, amax) = min_max(a);
        let (bmin, bmax) = min_max(b);
        let cell =
            |m: f64, lo: f64, hi: f64| format!("{} ({}..{})", fmt_ns(m), fmt_ns(lo), fmt_ns(hi));
        let third = if c.ours == Op::Vq {
            // The raw side is the loop alone: report the call's own cost.
            let net: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
            let (lo, hi) = min_max(&net);
            format!("net {}", cell(median(&net), lo, hi))
        } else {
            let (lo, hi) = min_max(&ratios);
            format!("{:.3}x ({:.2}..{:.2})", median(&ratios), lo, hi)
        };
        println!(
            "{:<44} {:>9} {:>22} {:>22} {:>22} {:>9}",
            case_label(c),
            ops[k],
            cell(median(a), amin, amax),
            if c.ours == Op::Vq {
                format!("loop {}", cell(median(b), bmin, bmax))
            } else {
                cell(median(b), bmin, bmax)
            },
            third,
            c.target
        );
    }
    println!(
        "raw: mmap(NULL,64K,RW or NONE,PRIVATE|ANON)+munmap; vq raw side = the same loop without \
         the call, net = median of per-round (ours - loop)"
    );
}

// ---------------------------------------------------------------------------------------------
// Ir mode

/// The child: build the live set, run `n` ops, exit.
fn single(case: usize, op: Op, n: u64) {
    let mut live = Live {
        bases: Vec::new(),
        commit_protect: PAGE_NOACCESS,
    };
    live.set(CASES[case].live);
    black_box(run(op, n, &live.bases));
}

fn ir_mode(o: &Opts) {
    let exe = std::env::current_exe().unwrap();
    let dir = std::env::temp_dir().join(format!("coredll-vm-ir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!("Ir/op under callgrind = (Ir(N2) - Ir(N1)) / (N2 - N1); kernel work is invisible");
    println!(
        "{:<44} {:>13} {:>11} {:>11} {:>13}",
        "case @live", "N1 / N2", "ours Ir/op", "raw Ir/op", "ours - raw"
    );
    for c in selected(o) {
        let case = &CASES[c];
        let (n1, n2) = if case.ours.is_syscall() {
            (1_000, 3_000)
        } else {
            (20_000, 60_000)
        };
        let per_op = |side: &str| {
            let a = callgrind_ir(&exe, &dir, c, side, n1)?;
            let b = callgrind_ir(&exe, &dir, c, side, n2)?;
            Some((b as f64 - a as f64) / (n2 - n1) as f64)
        };
        let ours = per_op("ours");
        let raw = per_op("raw");
        let cell = |v: Option<f64>| v.map_or("failed".to_string(), |v| format!("{v:.1}"));
        println!(
            "{:<44} {:>13} {:>11} {:>11} {:>13}",
            case_label(case),
            format!("{n1}/{n2}"),
            cell(ours),
            cell(raw),
            cell(ours.zip(raw).map(|(a, b)| a - b))
        );
    }
    let _ = std::fs::remove_dir(&dir);
    println!("raw side: libc mmap/munmap wrappers + loop; vq raw side: the loop alone");
}

fn main() {
    let o = parse_args();
    if let Some((case, op, n)) = o.single {
        single(case, op, n);
    } else if o.ir {
        ir_mode(&o);
    } else {
        timed(&o);
    }
}
