//! A heap's lock: reentrant (HeapLock holds it across calls, and the holder may still allocate),
//! on a futex mutex. While the process has a single thread nobody can contend, so the heap's own
//! calls skip the atomic instructions; holds that can outlive the call (HeapLock) or run foreign
//! code (CeHeapCreate callbacks, which could start a thread) always take the mutex.
//!
//! Not parking_lot's mutex: its waiters queue in user space, and unlocking hands the lock to a
//! queued thread, so a fork child (whose prepare handler held every heap lock while other threads
//! waited) would give its heaps to threads it does not have and hang. The kernel keeps a futex's
//! waiters, and a child has none.

use std::cell::Cell;
use std::sync::atomic::{
    AtomicU32, AtomicUsize, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};

use crate::vm::os;

/// 0 free, 1 held, 2 held with (possible) sleepers.
struct RawMutex(AtomicU32);

impl RawMutex {
    const fn new() -> RawMutex {
        RawMutex(AtomicU32::new(0))
    }

    #[inline]
    fn try_lock(&self) -> bool {
        self.0.compare_exchange(0, 1, Acquire, Relaxed).is_ok()
    }

    #[inline]
    fn lock(&self) {
        if !self.try_lock() {
            self.lock_contended();
        }
    }

    #[cold]
    fn lock_contended(&self) {
        // A short spin first: heap calls hold the lock for a few hundred instructions.
        for _ in 0..100 {
            if self.0.load(Relaxed) == 0 && self.try_lock() {
                return;
            }
            core::hint::spin_loop();
        }
        while self.0.swap(2, Acquire) != 0 {
            os::futex_wait(&self.0, 2);
        }
    }

    /// # Safety
    /// The calling thread holds the mutex.
    #[inline(always)]
    unsafe fn unlock(&self) {
        if self.0.swap(0, Release) == 2 {
            os::futex_wake_one(&self.0);
        }
    }
}

/// `owner` of a hold taken without the mutex: only while the process has one thread, so whoever
/// sees it is that thread (no thread id needed, which saves a call on every heap call).
const PLAIN_OWNER: usize = 1;

pub(super) struct HeapMutex {
    raw: RawMutex,
    /// The holder's thread id, PLAIN_OWNER, or 0 when free.
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
            raw: RawMutex::new(),
            owner: AtomicUsize::new(0),
            count: Cell::new(0),
            plain: Cell::new(false),
        }
    }

    /// Locks; `may_skip` allows the atomic-free hold when the process has one thread.
    #[inline]
    pub fn lock(&self, may_skip: bool) {
        if self.held_here() {
            self.count.set(self.count.get() + 1);
            return;
        }
        let plain = may_skip && os::single_threaded();
        if !plain {
            self.raw.lock();
        }
        self.owner
            .store(if plain { PLAIN_OWNER } else { os::thread_id() }, Relaxed);
        self.count.set(1);
        self.plain.set(plain);
    }

    /// The fast paths' lock: takes a free lock without waiting; false (nothing taken) when the
    /// lock is held by anyone, the caller included, so reentrant calls take the careful path.
    #[inline(always)]
    pub fn try_lock_free(&self, may_skip: bool) -> bool {
        if self.owner.load(Relaxed) != 0 {
            return false;
        }
        let plain = may_skip && os::single_threaded();
        if !plain && !self.raw.try_lock() {
            return false;
        }
        self.owner
            .store(if plain { PLAIN_OWNER } else { os::thread_id() }, Relaxed);
        self.count.set(1);
        self.plain.set(plain);
        true
    }

    /// Locks if that needs no waiting.
    pub fn try_lock(&self) -> bool {
        if self.held_here() {
            self.count.set(self.count.get() + 1);
            return true;
        }
        if !self.raw.try_lock() {
            return false;
        }
        self.owner.store(os::thread_id(), Relaxed);
        self.count.set(1);
        self.plain.set(false);
        true
    }

    /// # Safety
    /// The calling thread holds the lock.
    #[inline(always)]
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
        self.held_here()
    }

    /// Whether the calling thread holds the lock (a plain hold can only be its own).
    #[inline]
    fn held_here(&self) -> bool {
        match self.owner.load(Relaxed) {
            0 => false,
            PLAIN_OWNER => true,
            o => o == os::thread_id(),
        }
    }
}
