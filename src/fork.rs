//! Keeps the library's locks usable in a child of fork(): the forking thread takes them all, in
//! the library's own order (heaps and their registry, the report's book, toolhelp snapshots,
//! mapping objects, then the page manager's tables), just before the
//! fork and releases them in parent and child just after, so a child never inherits a lock held
//! by a thread it does not have. Taking a lock also waits out another thread's first use of it
//! (its lazy initialisation), which a child could otherwise inherit half done.
//!
//! The handlers are registered on the first call into the library, before any of its locks is
//! made; a child forked while that registration was under way does it again for itself.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    // The guards the forking thread holds across fork().
    static HELD: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// 0 before registration; else (id of the registering process << 1) | 1 once done. Not a Once:
/// a child forked during a registration would inherit the Once running and wait on it forever.
/// Here a child that inherits a registration in progress (the handlers not yet in the list, or
/// `release` would have marked it done) registers for itself.
static STATE: AtomicU64 = AtomicU64::new(0);

/// Registers the fork handlers, once per process, before any of the library's locks is made;
/// other threads of the process wait until it is done.
pub fn register() {
    // The common case, on every call: done, one load.
    if STATE.load(Ordering::Acquire) & 1 == 1 {
        return;
    }
    let me = u64::from(crate::vm::os::process_id()) << 1;
    loop {
        let s = STATE.load(Ordering::Acquire);
        if s & 1 == 1 {
            return;
        }
        if s == me {
            std::thread::yield_now(); // another thread of ours is registering
            continue;
        }
        if STATE
            .compare_exchange(s, me, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            crate::vm::os::at_fork(prepare, release);
            STATE.store(me | 1, Ordering::Release);
            return;
        }
    }
}

extern "C" fn prepare() {
    let heaps = crate::heap::lock_for_fork();
    let book = crate::report::lock_for_fork();
    let snapshots = crate::heap::snapshot::lock_for_fork();
    let objects = crate::mapping::lock_for_fork();
    let tables = crate::vm::space().lock_for_fork();
    HELD.with(|held| {
        held.borrow_mut()
            .extend([heaps, book, snapshots, objects, tables])
    });
}

extern "C" fn release() {
    // The handlers ran, so they are registered, in parent and child alike.
    STATE.fetch_or(1, Ordering::AcqRel);
    HELD.with(|held| held.borrow_mut().clear());
}
