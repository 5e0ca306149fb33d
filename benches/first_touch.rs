//! First-touch cost per page of MEM_AUTO_COMMIT memory in both modes, beside a plain anonymous
//! mapping's, in one run:
//!
//!   cargo bench --bench first_touch                 7 rounds, median ns per page
//!   cargo bench --bench first_touch -- --rounds 11
//!
//! The auto-commit mode is chosen once per process (COREDLL_AUTOCOMMIT), so each round runs this
//! program three times as children: lazy, strict, and raw mmap. Each child maps 16 MB, writes one
//! byte to every page, times that loop only, and gives the memory back; the order rotates from
//! round to round, and each cell is the median over rounds.

use std::process::Command;
use std::time::Instant;

use coredll::api::virtual_mem::{VirtualAlloc, VirtualFree};
use coredll::types::*;

const SIZE: usize = 16 << 20;
const PAGE: usize = 4096;

/// One measurement in this process: ns per page for first touches of `mode`'s memory.
fn measure(mode: &str) -> f64 {
    let p = if mode == "raw" {
        // SAFETY: a fresh private anonymous mapping, unmapped below.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        p.cast::<u8>()
    } else {
        let p = VirtualAlloc(
            core::ptr::null_mut(),
            SIZE as DWORD,
            MEM_AUTO_COMMIT,
            PAGE_READWRITE,
        );
        assert!(!p.is_null(), "VirtualAlloc(MEM_AUTO_COMMIT) failed");
        p.cast::<u8>()
    };
    let t = Instant::now();
    for off in (0..SIZE).step_by(PAGE) {
        // SAFETY: inside the mapping; auto-commit pages commit themselves on this write.
        unsafe { p.add(off).write_volatile(1) };
    }
    let ns = t.elapsed().as_nanos() as f64 / (SIZE / PAGE) as f64;
    if mode == "raw" {
        // SAFETY: the mapping made above.
        unsafe { libc::munmap(p.cast(), SIZE) };
    } else {
        assert_ne!(VirtualFree(p.cast(), 0, MEM_RELEASE), 0);
    }
    ns
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        println!("{}", measure(&args[i + 1]));
        return;
    }
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(7usize);
    let exe = std::env::current_exe().expect("current_exe");
    let modes = ["lazy", "strict", "raw"];
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    for round in 0..rounds {
        for k in 0..modes.len() {
            let m = (round + k) % modes.len();
            let mut cmd = Command::new(&exe);
            cmd.args(["--child", modes[m]]);
            if modes[m] != "raw" {
                cmd.env("COREDLL_AUTOCOMMIT", modes[m]);
            }
            let out = cmd.output().expect("run a child");
            assert!(out.status.success(), "{} child failed", modes[m]);
            let ns: f64 = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("ns");
            results[m].push(ns);
        }
    }
    let raw = median(results[2].clone());
    println!("first touch of a 16 MB region, one write per 4 KB page; median of {rounds} rounds");
    println!(
        "{:<34} {:>12} {:>14}",
        "memory", "ns per page", "vs raw mmap"
    );
    for (m, label) in [
        "MEM_AUTO_COMMIT, lazy (default)",
        "MEM_AUTO_COMMIT, strict (SIGSEGV)",
        "mmap(PROT_READ|PROT_WRITE), raw",
    ]
    .iter()
    .enumerate()
    {
        let ns = median(results[m].clone());
        println!("{label:<34} {ns:>12.0} {:>13.2}x", ns / raw);
    }
}
