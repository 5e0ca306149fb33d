//! Stress test of fault-driven pages: threads first-touch shared auto-commit and guard pages
//! while another thread decommits and re-guards them; between rounds the kernel's protections
//! must equal the tables and every page must hold zero or a value a toucher wrote.

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use super::{PAGE, Space};
use crate::config::{AutoCommit, Profile};
use crate::types::*;

static GUARD_HITS: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn count_and_resume(info: *const coredll_exception_info) -> LONG {
    // SAFETY: the library passes a valid record.
    if unsafe { (*info).ExceptionCode } == STATUS_GUARD_PAGE_VIOLATION {
        GUARD_HITS.fetch_add(1, Relaxed);
    }
    EXCEPTION_CONTINUE_EXECUTION
}

const TOUCHERS: usize = 4;
const PAGES: usize = 64;
const ROUNDS: usize = 12;

fn stress(auto: AutoCommit) {
    let space = Space::new_anywhere(Profile::Ce6, auto);
    super::set_exception_handler(Some(count_and_resume));
    let size = (PAGES * PAGE) as DWORD;
    for round in 0..ROUNDS {
        // Two shared regions: one auto-commit, one committed read-write whose pages the mutator
        // keeps re-arming as guard pages.
        let auto_base = space
            .alloc(0, size, MEM_AUTO_COMMIT, PAGE_READWRITE)
            .unwrap();
        let guard_base = space
            .alloc(0, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE)
            .unwrap();
        let hits_before = GUARD_HITS.load(Relaxed);
        let armed = AtomicUsize::new(0);
        let done = AtomicBool::new(false);
        let start = Barrier::new(TOUCHERS + 1);
        std::thread::scope(|s| {
            for t in 0..TOUCHERS {
                let (start, done) = (&start, &done);
                s.spawn(move || {
                    start.wait();
                    let mut i = t;
                    while !done.load(Relaxed) {
                        for base in [auto_base, guard_base] {
                            let p = (base + (i % PAGES) * PAGE + t * 8) as *mut u64;
                            // SAFETY: both regions stay reserved this round; every page is
                            // auto-commit, committed, or a guard page resumed by the handler.
                            unsafe {
                                let seen = p.read_volatile();
                                assert!(seen == 0 || seen == t as u64 + 1, "page holds {seen:#x}");
                                p.write_volatile(t as u64 + 1);
                            }
                        }
                        i += 7;
                    }
                });
            }
            start.wait();
            for k in 0..400 {
                let page = (k * 13) % PAGES;
                let (a, g) = (auto_base + page * PAGE, guard_base + page * PAGE);
                assert_eq!(space.free(a, PAGE as DWORD, MEM_DECOMMIT), Ok(()));
                let guarded = PAGE_READWRITE | PAGE_GUARD;
                if space.protect(g, PAGE as DWORD, guarded, true).is_ok() {
                    armed.fetch_add(1, Relaxed);
                }
                // Some auto-commit pages get an explicit protection, once touched.
                let _ = space.protect(a, PAGE as DWORD, PAGE_READWRITE, true);
                if k % 2 == 0 {
                    let _ = space.protect(g, PAGE as DWORD, PAGE_READWRITE, true);
                }
            }
            done.store(true, Relaxed);
        });
        super::model_tests::check_kernel_matches_tables(&space, round);
        // A guard hit needs an armed page, and each armed page fires at most once.
        let hits = GUARD_HITS.load(Relaxed) - hits_before;
        assert!(
            hits <= armed.load(Relaxed),
            "{hits} hits for {} armings",
            armed.load(Relaxed)
        );
        assert_eq!(space.free(auto_base, 0, MEM_RELEASE), Ok(()));
        assert_eq!(space.free(guard_base, 0, MEM_RELEASE), Ok(()));
    }
    super::model_tests::check_kernel_matches_tables(&space, ROUNDS);
}

#[test]
fn first_touches_race_decommit_and_guards() {
    // One test runs both modes: the exception handler is process-wide.
    stress(AutoCommit::Strict);
    stress(AutoCommit::Lazy);
    assert!(GUARD_HITS.load(Relaxed) > 0, "no guard page ever fired");
}
