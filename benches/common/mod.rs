//! What the benchmarks share: medians, number formatting, and one callgrind run of a
//! `--single CASE SIDE N` child.

use std::process::{Command, Stdio};

/// The order configs run in during round `r`: rotated by `stride` each round and reversed every
/// other one, so no config always runs first or right after the same neighbour.
pub fn round_order(n: usize, r: usize, stride: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).map(|i| (i + r * stride) % n).collect();
    if r % 2 == 1 {
        order.reverse();
    }
    order
}

pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

pub fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        })
}

pub fn fmt_ns(ns: f64) -> String {
    if ns >= 100.0 {
        format!("{ns:.0}")
    } else {
        format!("{ns:.1}")
    }
}

/// Instructions of `exe --single CASE SIDE N` under callgrind, or None (with a line on stderr)
/// if the run failed.
pub fn callgrind_ir(
    exe: &std::path::Path,
    dir: &std::path::Path,
    case: usize,
    side: &str,
    n: u64,
) -> Option<u64> {
    let out = dir.join(format!("cg.{case}.{side}.{n}"));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(exe)
        .args(["--single", &case.to_string(), side, &n.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("cannot run valgrind (is it installed?)");
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    if !status.status.success() {
        let err = String::from_utf8_lossy(&status.stderr);
        let tail: Vec<&str> = err.lines().rev().take(3).collect();
        eprintln!("callgrind run failed: case {case} {side} n={n}: {tail:?}");
        return None;
    }
    ["totals:", "summary:"].iter().find_map(|key| {
        let line = text.lines().find(|l| l.starts_with(key))?;
        line[key.len()..].split_whitespace().next()?.parse().ok()
    })
}
