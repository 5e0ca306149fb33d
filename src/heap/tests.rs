//! Model-based tests of the block allocator: random HeapAlloc/HeapReAlloc/HeapFree against a map
//! of live blocks, checking results, sizes, contents, zeroing, no overlap and HeapValidate after
//! every step.

use std::collections::BTreeMap;

use super::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

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
        0..=79 => rng.below(600) as usize,
        80..=94 => 2000 + rng.below(18_000) as usize,
        _ => 20_000 + rng.below(300_000) as usize,
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
            let k = rng.below(live.len() as u64) as usize;
            let (&p, &(size, f)) = live.iter().nth(k).unwrap();
            assert!(bytes(p, size).iter().all(|&b| b == f));
            assert_eq!(with(h, |st| st.free(p)), Ok(()));
            live.remove(&p);
            freed.push(p);
        } else if op < 9 {
            let k = rng.below(live.len() as u64) as usize;
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
