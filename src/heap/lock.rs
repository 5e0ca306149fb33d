//! A heap's lock: reentrant (HeapLock holds it across calls, and the holder may still allocate),
//! on parking_lot's raw mutex. While the process has a single thread nobody can contend, so the
//! heap's own calls skip the atomic instructions; holds that can outlive the call (HeapLock) or
//! run foreign code (CeHeapCreate callbacks, which could start a thread) always take the mutex.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use parking_lot::RawMutex;
use parking_lot::lock_api::RawMutex as _;

use crate::vm::os;

pub(super) struct HeapMutex {
    raw: RawMutex,
    /// The holder's thread id, 0 when free.
    owner: AtomicUsize,
    /// Holds by the owner (only the owner reads or writes it).
    count: Cell<u32>,
    /// The current hold did not take `raw` (single-threaded process).
    plain: Cell<bool>,
}

// SAFETY: `count` and `plain` are only touched by the thread recorded in `owner` (which set it).
unsafe impl Sync for HeapMutex {}

impl HeapMutex {
    pub const fn new() -> HeapMutex {
        HeapMutex {
            raw: RawMutex::INIT,
            owner: AtomicUsize::new(0),
            count: Cell::new(0),
            plain: Cell::new(false),
        }
    }

    /// Locks; `may_skip` allows the atomic-free hold when the process has one thread.
    #[inline]
    pub fn lock(&self, may_skip: bool) {
        let me = os::thread_id();
        if self.owner.load(Relaxed) == me {
            self.count.set(self.count.get() + 1);
            return;
        }
        let plain = may_skip && os::single_threaded();
        if !plain {
            self.raw.lock();
        }
        self.owner.store(me, Relaxed);
        self.count.set(1);
        self.plain.set(plain);
    }

    /// Locks if that needs no waiting.
    pub fn try_lock(&self) -> bool {
        let me = os::thread_id();
        if self.owner.load(Relaxed) == me {
            self.count.set(self.count.get() + 1);
            return true;
        }
        if !self.raw.try_lock() {
            return false;
        }
        self.owner.store(me, Relaxed);
        self.count.set(1);
        self.plain.set(false);
        true
    }

    /// # Safety
    /// The calling thread holds the lock.
    #[inline]
    pub unsafe fn unlock(&self) {
        let n = self.count.get() - 1;
        self.count.set(n);
        if n == 0 {
            self.owner.store(0, Relaxed);
            if !self.plain.get() {
                // SAFETY: this thread took `raw` in lock/try_lock.
                unsafe { self.raw.unlock() };
            }
        }
    }

    pub fn is_owned_by_current_thread(&self) -> bool {
        self.owner.load(Relaxed) == os::thread_id()
    }
}
