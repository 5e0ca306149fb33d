//! Deterministic fault injection, `COREDLL_FAIL`: chosen allocation calls fail exactly as a real
//! out-of-memory does (NULL or FALSE, ERROR_NOT_ENOUGH_MEMORY, nothing changed), so a program's
//! low-memory paths can be run on the desktop, the same way every run.
//!
//! `COREDLL_FAIL` is a comma-separated list (read once, at first use):
//!
//! | item | fails |
//! |---|---|
//! | `nth:N` | the Nth counted call (1-based), once |
//! | `every:N` | every Nth counted call |
//! | `prob:P` | each counted call with probability P (0 to 1), from a fixed sequence |
//! | `seed:S` | picks the sequence `prob` draws from (default 1) |
//! | `min:N` | every counted call asking for at least N bytes (`K`/`M`/`G` suffixes) |
//! | `apis:A+B` | which calls are counted: VirtualAlloc, HeapCreate, HeapAlloc, HeapReAlloc, LocalAlloc, LocalReAlloc (default: all) |
//!
//! A call fails when any of the policies says so. Only calls that would otherwise be attempted
//! are counted (bad parameters fail first with their own error, and a block that shrinks never
//! fails, as on CE), so the Nth call is the same call in every run of a deterministic program.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The calls fault injection can make fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    VirtualAlloc = 1,
    HeapCreate = 2,
    HeapAlloc = 4,
    HeapReAlloc = 8,
    LocalAlloc = 16,
    LocalReAlloc = 32,
}

const ALL_APIS: u32 = 63;

const NAMES: [(&str, Api); 6] = [
    ("virtualalloc", Api::VirtualAlloc),
    ("heapcreate", Api::HeapCreate),
    ("heapalloc", Api::HeapAlloc),
    ("heaprealloc", Api::HeapReAlloc),
    ("localalloc", Api::LocalAlloc),
    ("localrealloc", Api::LocalReAlloc),
];

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Policy {
    nth: Option<u64>,
    every: Option<u64>,
    /// Probability as a threshold on a 64-bit draw.
    prob: Option<u64>,
    seed: u64,
    min: Option<u64>,
    apis: u32,
}

/// Parses a `COREDLL_FAIL` value; Err names the first item it does not understand.
pub fn parse(spec: &str) -> Result<Policy, String> {
    let mut p = Policy {
        seed: 1,
        apis: ALL_APIS,
        ..Policy::default()
    };
    let mut any = false;
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (key, value) = item.split_once(':').ok_or_else(|| item.to_string())?;
        let bad = || item.to_string();
        match key.trim().to_ascii_lowercase().as_str() {
            "nth" => {
                p.nth = Some(
                    crate::config::parse_size(value)
                        .filter(|&n| n > 0)
                        .ok_or_else(bad)?,
                )
            }
            "every" => {
                p.every = Some(
                    crate::config::parse_size(value)
                        .filter(|&n| n > 0)
                        .ok_or_else(bad)?,
                )
            }
            "min" => p.min = Some(crate::config::parse_size(value).ok_or_else(bad)?),
            "seed" => p.seed = value.trim().parse().map_err(|_| bad())?,
            "prob" => {
                let f: f64 = value.trim().parse().map_err(|_| bad())?;
                if !(0.0..=1.0).contains(&f) {
                    return Err(bad());
                }
                p.prob = Some(if f >= 1.0 {
                    u64::MAX
                } else {
                    (f * u64::MAX as f64) as u64
                });
            }
            "apis" => {
                let mut mask = 0;
                for name in value.split(['+', '|']).map(str::trim) {
                    let api = NAMES
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(name))
                        .ok_or_else(bad)?;
                    mask |= api.1 as u32;
                }
                p.apis = mask;
                continue;
            }
            _ => return Err(bad()),
        }
        any = true;
    }
    if !any {
        return Err(spec.to_string());
    }
    Ok(p)
}

fn policy() -> Option<&'static Policy> {
    static POLICY: OnceLock<Option<Policy>> = OnceLock::new();
    POLICY
        .get_or_init(|| {
            let spec = std::env::var("COREDLL_FAIL").ok()?;
            if spec.trim().is_empty() {
                return None;
            }
            match parse(&spec) {
                Ok(p) => Some(p),
                Err(item) => {
                    eprintln!(
                        "coredll: COREDLL_FAIL: {item:?} is not understood; nothing is injected"
                    );
                    None
                }
            }
        })
        .as_ref()
}

/// Calls counted so far, and failures injected.
static COUNTED: AtomicU64 = AtomicU64::new(0);
static INJECTED: AtomicU64 = AtomicU64::new(0);

/// Whether fault injection is on (the heaps' fast paths step aside when it is).
#[inline]
pub fn active() -> bool {
    policy().is_some()
}

/// Counts a call to `api` asking for `bytes` and says whether it must fail.
pub fn should_fail(api: Api, bytes: usize) -> bool {
    let Some(p) = policy() else {
        return false;
    };
    let fail = decide(p, api, bytes, &COUNTED);
    if fail {
        INJECTED.fetch_add(1, Relaxed);
    }
    fail
}

fn decide(p: &Policy, api: Api, bytes: usize, counter: &AtomicU64) -> bool {
    if p.apis & api as u32 == 0 {
        return false;
    }
    let k = counter.fetch_add(1, Relaxed) + 1;
    p.nth == Some(k)
        || p.every.is_some_and(|e| k.is_multiple_of(e))
        || p.prob.is_some_and(|t| draw(p.seed, k) < t)
        || p.min.is_some_and(|m| bytes as u64 >= m)
}

/// The k-th number of the sequence `seed` picks (splitmix64).
fn draw(seed: u64, k: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(k.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Failures injected so far.
pub fn injected() -> u64 {
    INJECTED.load(Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_policies_and_rejects_nonsense() {
        let p = parse("nth:3, every:10,min:64K,prob:0.5,seed:7,apis:HeapAlloc+LocalAlloc").unwrap();
        assert_eq!(p.nth, Some(3));
        assert_eq!(p.every, Some(10));
        assert_eq!(p.min, Some(64 << 10));
        assert_eq!(p.seed, 7);
        assert_eq!(p.apis, Api::HeapAlloc as u32 | Api::LocalAlloc as u32);
        for bad in [
            "",
            "nth",
            "nth:0",
            "every:x",
            "prob:2",
            "apis:malloc",
            "apis:HeapAlloc",
            "x:1",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn decisions_follow_the_policy_and_repeat() {
        let run = |spec: &str, calls: &[(Api, usize)]| -> Vec<bool> {
            let p = parse(spec).unwrap();
            let counter = AtomicU64::new(0);
            calls
                .iter()
                .map(|&(a, n)| decide(&p, a, n, &counter))
                .collect()
        };
        let calls: Vec<(Api, usize)> = (0..200)
            .map(|i| {
                let api = if i % 3 == 0 {
                    Api::VirtualAlloc
                } else {
                    Api::HeapAlloc
                };
                (api, i * 100)
            })
            .collect();
        let nth = run("nth:5", &calls);
        assert_eq!(nth.iter().filter(|&&f| f).count(), 1);
        assert!(nth[4]);
        let every = run("every:4,apis:HeapAlloc", &calls);
        // Only HeapAlloc calls count: the 4th, 8th, ... of them fail.
        let heap_calls: Vec<usize> = (0..200).filter(|i| i % 3 != 0).collect();
        for (k, &i) in heap_calls.iter().enumerate() {
            assert_eq!(every[i], (k + 1) % 4 == 0, "call {i}");
        }
        assert!((0..200).filter(|i| i % 3 == 0).all(|i| !every[i]));
        let min = run("min:10000", &calls);
        assert!(
            min.iter()
                .enumerate()
                .all(|(i, &f)| f == (i * 100 >= 10000))
        );
        let a = run("prob:0.3,seed:42", &calls);
        assert_eq!(
            a,
            run("prob:0.3,seed:42", &calls),
            "the same seed, the same failures"
        );
        assert_ne!(a, run("prob:0.3,seed:43", &calls));
        let n = a.iter().filter(|&&f| f).count();
        assert!((30..=90).contains(&n), "{n} of 200 at p = 0.3");
    }
}
