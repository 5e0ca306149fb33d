//! Model-based tests of the block allocator: random HeapAlloc/HeapReAlloc/HeapFree against a map
//! of live blocks, checking results, sizes, contents, zeroing, no overlap and HeapValidate after
//! every step.

use std::collections::BTreeMap;

use super::*;
use crate::test_rng::Rng;

fn new_heap(maximum: usize) -> usize {
    create(Options {
        initial: 0,
        maximum,
        backend: Backend::Vm,
        process: false,
    })
    .expect("HeapCreate")
}

/// A live block: rounded size and the byte it is filled with.
type Live = BTreeMap<usize, (usize, u8)>;

fn bytes(p: usize, n: usize) -> &'static mut [u8] {
    // SAFETY: the tests only pass live blocks of `n` bytes.
    unsafe { core::slice::from_raw_parts_mut(p as *mut u8, n) }
}

fn overlaps(live: &Live, p: usize, size: usize) -> bool {
    if let Some((&q, &(qs, _))) = live.range(..=p).next_back()
        && q + qs > p
    {
        return true;
    }
    live.range(p..p + size).next().is_some()
}

fn random_size(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=79 => rng.below(600),
        80..=94 => 2000 + rng.below(18_000),
        _ => 20_000 + rng.below(300_000),
    }
}

fn check_all(h: usize, live: &Live) {
    with(h, |st| {
        for (&p, &(size, fill)) in live {
            assert_eq!(st.size(p), Ok(size), "size of {p:#x}");
            assert!(
                bytes(p, size).iter().all(|&b| b == fill),
                "contents of {p:#x}"
            );
        }
        let busy: Vec<(usize, usize)> = st
            .entries()
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::Busy | EntryKind::Big))
            .map(|e| (e.addr, e.size))
            .collect();
        let mut busy_sorted = busy.clone();
        busy_sorted.sort();
        let model: Vec<(usize, usize)> = live.iter().map(|(&p, &(s, _))| (p, s)).collect();
        assert_eq!(busy_sorted, model, "the walk shows exactly the live blocks");
        Ok(())
    })
    .unwrap();
}

fn run_model(seed: u64, maximum: usize, steps: usize) {
    let h = new_heap(maximum);
    let mut rng = Rng(seed);
    let mut live: Live = BTreeMap::new();
    let mut freed: Vec<usize> = Vec::new();
    let mut fill: u8 = 1;
    for step in 0..steps {
        fill = fill.wrapping_add(1).max(1);
        let op = rng.below(10);
        if op < 5 || live.is_empty() {
            let n = random_size(&mut rng);
            let zero = rng.below(4) == 0;
            match with(h, |st| st.alloc(n, zero)) {
                Ok(p) => {
                    let size = round8(n);
                    assert_eq!(p % 16, 0);
                    assert!(p < 1 << 32, "fits a DWORD");
                    assert!(!overlaps(&live, p, size), "step {step}: {p:#x} overlaps");
                    if zero {
                        assert!(bytes(p, size).iter().all(|&b| b == 0), "zeroed");
                    }
                    bytes(p, size).fill(fill);
                    live.insert(p, (size, fill));
                    freed.retain(|&f| f != p);
                }
                Err(e) => {
                    assert_eq!(e, Win32Error::NotEnoughMemory);
                    assert!(maximum != 0 || n >= 20_000, "a growable heap ran out");
                }
            }
        } else if op < 7 {
            let k = rng.below(live.len());
            let (&p, &(size, f)) = live.iter().nth(k).unwrap();
            assert!(bytes(p, size).iter().all(|&b| b == f));
            assert_eq!(with(h, |st| st.free(p)), Ok(()));
            live.remove(&p);
            freed.push(p);
        } else if op < 9 {
            let k = rng.below(live.len());
            let (&p, &(old, f)) = live.iter().nth(k).unwrap();
            let n = random_size(&mut rng);
            let in_place = rng.below(3) == 0;
            let zero = rng.below(2) == 0;
            match with(h, |st| st.realloc(p, n, in_place, zero)) {
                Ok(q) => {
                    let size = round8(n);
                    if in_place {
                        assert_eq!(q, p);
                    }
                    live.remove(&p);
                    assert!(!overlaps(&live, q, size), "step {step}: realloc overlaps");
                    assert!(bytes(q, old.min(size)).iter().all(|&b| b == f), "kept");
                    if zero && size > old {
                        assert!(bytes(q + old, size - old).iter().all(|&b| b == 0));
                    }
                    bytes(q, size).fill(fill);
                    live.insert(q, (size, fill));
                    if q != p {
                        freed.push(p);
                    }
                }
                Err(e) => {
                    assert_eq!(e, Win32Error::NotEnoughMemory);
                    assert_eq!(with(h, |st| st.size(p)), Ok(old), "untouched");
                    assert!(bytes(p, old).iter().all(|&b| b == f), "untouched");
                }
            }
        } else {
            // Misuse: a freed block, an interior pointer, a wild one.
            if let Some(&p) = freed.last()
                && !live.contains_key(&p)
            {
                assert_eq!(with(h, |st| st.free(p)), Err(Win32Error::InvalidParameter));
            }
            let (&p, &(size, _)) = live.iter().next().unwrap();
            if size >= 32 {
                assert_eq!(
                    with(h, |st| st.free(p + 16)),
                    Err(Win32Error::InvalidParameter)
                );
            }
            assert_eq!(
                with(h, |st| st.size(0x7fff_0000_0000)),
                Err(Win32Error::InvalidParameter)
            );
        }
        assert_eq!(with(h, |st| Ok(st.validate())), Ok(true), "step {step}");
        if step % 200 == 0 {
            check_all(h, &live);
        }
    }
    check_all(h, &live);
    destroy(h).unwrap();
}

#[test]
fn random_operations_match_the_model_growable() {
    for seed in [1, 2] {
        run_model(seed * 0x9E37_79B9, 0, 1500);
    }
}

#[test]
fn random_operations_match_the_model_fixed() {
    run_model(4 * 0x9E37_79B9, 2 << 20, 2000);
}

#[test]
fn a_trampled_free_block_is_detected_and_never_handed_out_twice() {
    let h = new_heap(0);
    let blocks: Vec<usize> = (0..64)
        .map(|_| with(h, |st| st.alloc(16, false)).unwrap())
        .collect();
    // Free every other block, then overrun each live one into its freed neighbour.
    for &p in blocks.iter().skip(1).step_by(2) {
        with(h, |st| st.free(p)).unwrap();
    }
    for &p in blocks.iter().step_by(2) {
        bytes(p, 32).fill(0x41);
    }
    assert_eq!(with(h, |st| Ok(st.validate())), Ok(false));
    let mut live: Live = blocks.iter().step_by(2).map(|&p| (p, (16, 0x41))).collect();
    for i in 0..5000 {
        let n = 8 + (i % 7) * 8;
        let p = with(h, |st| st.alloc(n, false)).unwrap();
        assert!(!overlaps(&live, p, round8(n)), "handed out twice");
        live.insert(p, (round8(n), 0));
    }
    destroy(h).unwrap();
}

#[test]
fn whole_free_pages_go_back_without_compaction() {
    let h = new_heap(0);
    let blocks: Vec<usize> = (0..200_000)
        .map(|_| with(h, |st| st.alloc(64, false)).unwrap())
        .collect();
    let committed = |h| {
        with(h, |st| {
            Ok(st.region_infos().iter().map(|r| r.committed).sum::<usize>())
        })
        .unwrap()
    };
    let peak = committed(h);
    assert!(peak >= 200_000 * 64);
    for p in blocks {
        with(h, |st| st.free(p)).unwrap();
    }
    let after = committed(h);
    assert!(
        after <= (1 << 20).max(peak / 4),
        "{after} of {peak} bytes still committed"
    );
    assert!(with(h, |st| Ok(st.compact())).unwrap() > 0);
    assert!(committed(h) <= 64 << 10);
    destroy(h).unwrap();
}

/// Through the exported functions, so the thread caches take part: random HeapAlloc/HeapReAlloc/
/// HeapFree of small and page-class blocks against a map of live blocks (contents, exact sizes, no
/// overlap), with a freed block refused by HeapFree/HeapSize/HeapReAlloc/HeapValidate (double free
/// caught while it sits in a cache), HeapValidate(h, 0, NULL) and the walk's busy blocks equal to
/// the model every few steps.
fn run_api_model(h: usize, seed: u64, steps: usize, shared: bool) {
    use crate::api::heap::{HeapAlloc, HeapFree, HeapReAlloc, HeapSize, HeapValidate};
    use crate::api::last_error::GetLastError;
    let hh = h as HANDLE;
    let mut rng = Rng(seed);
    let mut live = Live::new();
    let mut freed: Vec<usize> = Vec::new();
    for step in 0..steps {
        match rng.below(10) {
            0..=4 => {
                let n = match rng.below(10) {
                    0 => 1025 + rng.below(3072),
                    _ => rng.below(1025),
                };
                let zero = rng.below(4) == 0;
                let flags = if zero { HEAP_ZERO_MEMORY } else { 0 };
                let p = HeapAlloc(hh, flags, n as DWORD) as usize;
                assert_ne!(p, 0, "step {step}: HeapAlloc({n})");
                let size = round8(n);
                assert_eq!(HeapSize(hh, 0, p as LPCVOID) as usize, size, "step {step}");
                assert!(!overlaps(&live, p, size), "step {step}: {p:#x} overlaps");
                if zero {
                    assert!(
                        bytes(p, size).iter().all(|&b| b == 0),
                        "step {step}: not zeroed"
                    );
                }
                let fill = rng.next() as u8;
                bytes(p, size).fill(fill);
                live.insert(p, (size, fill));
                freed.retain(|&q| q != p);
            }
            5..=7 if !live.is_empty() => {
                let k = rng.below(live.len());
                let (&p, &(size, fill)) = live.iter().nth(k).unwrap();
                assert!(
                    bytes(p, size).iter().all(|&b| b == fill),
                    "step {step}: contents"
                );
                assert_eq!(HeapFree(hh, 0, p as LPVOID), 1, "step {step}: HeapFree");
                live.remove(&p);
                freed.push(p);
            }
            8 if !live.is_empty() => {
                let k = rng.below(live.len());
                let (&p, &(size, fill)) = live.iter().nth(k).unwrap();
                let n = rng.below(4097);
                let q = HeapReAlloc(hh, 0, p as LPVOID, n as DWORD) as usize;
                assert_ne!(q, 0, "step {step}: HeapReAlloc({n})");
                let keep = size.min(round8(n));
                assert!(
                    bytes(q, keep).iter().all(|&b| b == fill),
                    "step {step}: realloc kept"
                );
                live.remove(&p);
                let new = round8(n);
                assert!(!overlaps(&live, q, new), "step {step}: realloc overlaps");
                bytes(q, new).fill(fill);
                live.insert(q, (new, fill));
                if q != p {
                    freed.push(p);
                }
                freed.retain(|&r| r != q);
            }
            _ => {
                // A block freed earlier and not handed out again: every call refuses it. (Not
                // with other threads on the heap: one of them may hold it now.)
                if let Some(&p) = freed.last()
                    && !shared
                    && !live.contains_key(&p)
                {
                    assert_eq!(HeapFree(hh, 0, p as LPVOID), 0, "step {step}: double free");
                    assert_eq!(GetLastError(), ERROR_INVALID_PARAMETER);
                    assert_eq!(HeapSize(hh, 0, p as LPCVOID), DWORD::MAX, "step {step}");
                    assert_eq!(
                        HeapReAlloc(hh, 0, p as LPVOID, 8) as usize,
                        0,
                        "step {step}"
                    );
                    assert_eq!(HeapValidate(hh, 0, p as LPCVOID), 0, "step {step}");
                }
            }
        }
        if step % 500 == 0 {
            let busy: Vec<(usize, usize)> = with(h, |st| {
                Ok(st
                    .entries()
                    .into_iter()
                    .filter(|e| matches!(e.kind, EntryKind::Busy | EntryKind::Big))
                    .map(|e| (e.addr, e.size))
                    .collect())
            })
            .unwrap();
            let model: Vec<(usize, usize)> = live.iter().map(|(&p, &(s, _))| (p, s)).collect();
            if shared {
                // Other threads' blocks are busy too: this thread's are among them.
                assert!(model.iter().all(|b| busy.contains(b)), "step {step}: walk");
            } else {
                let extra: Vec<_> = busy.iter().filter(|b| !model.contains(b)).collect();
                let missing: Vec<_> = model.iter().filter(|b| !busy.contains(b)).collect();
                assert!(
                    extra.is_empty() && missing.is_empty(),
                    "step {step}: the walk's busy blocks are the live ones: extra {extra:x?}, \
                     missing {missing:x?}"
                );
            }
            assert_eq!(HeapValidate(hh, 0, core::ptr::null()), 1, "step {step}");
        }
    }
    for (&p, &(size, fill)) in &live {
        assert!(bytes(p, size).iter().all(|&b| b == fill));
        assert_eq!(HeapFree(hh, 0, p as LPVOID), 1);
    }
    assert_eq!(HeapValidate(hh, 0, core::ptr::null()), 1);
}

#[test]
fn api_operations_with_thread_caches_match_the_model() {
    let h = new_heap(0);
    run_api_model(h, 0x5EED_CAFE, 20_000, false);
    assert!(destroy(h).is_ok());
}

#[test]
fn api_operations_in_four_threads_on_one_heap_match_their_models() {
    let h = new_heap(0);
    let threads: Vec<_> = (0..4u64)
        .map(|t| std::thread::spawn(move || run_api_model(h, 0xA11CE + t, 8_000, true)))
        .collect();
    for t in threads {
        t.join().expect("a thread's model failed");
    }
    // The exited threads' caches went back: nothing is busy.
    let busy = with(h, |st| {
        Ok(st
            .entries()
            .iter()
            .filter(|e| e.kind == EntryKind::Busy)
            .count())
    })
    .unwrap();
    assert_eq!(busy, 0);
    assert!(destroy(h).is_ok());
}

#[test]
#[ignore]
fn api_model_stress_parallel_heaps() {
    for round in 0..20u64 {
        let threads: Vec<_> = (0..3u64)
            .map(|t| {
                std::thread::spawn(move || {
                    let h = new_heap(0);
                    run_api_model(h, round * 7 + t, 20_000, false);
                    assert!(destroy(h).is_ok());
                })
            })
            .collect();
        let h = new_heap(0);
        let shared: Vec<_> = (0..3u64)
            .map(|t| std::thread::spawn(move || run_api_model(h, 99 + round + t, 5_000, true)))
            .collect();
        for t in threads.into_iter().chain(shared) {
            t.join().expect("model");
        }
        assert!(destroy(h).is_ok());
    }
}
