//! Keeps the library's locks usable in a child of fork(). Each lock registers fork handlers when
//! it is first made: the forking thread takes it just before the fork and releases it in parent
//! and child just after, so a child never inherits a lock held by a thread it does not have.
//! (pthread_atfork runs prepare handlers in reverse order of registration; the page manager's
//! lock is always made before the mapping objects' lock, so they are taken in the library's
//! order: objects, then tables.)

use std::any::Any;
use std::cell::RefCell;

thread_local! {
    // The guards the forking thread holds across fork().
    static HELD: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// Holds `guard` until the fork is done.
pub fn hold(guard: Box<dyn Any>) {
    HELD.with(|held| held.borrow_mut().push(guard));
}

/// Releases everything held across the fork (in parent and child).
pub extern "C" fn release() {
    HELD.with(|held| held.borrow_mut().clear());
}
