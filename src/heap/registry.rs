//! Heap handles: a fixed table of slots, so a handle is checked with one load and never
//! dereferenced before it is known to be a heap. Handles fit in a DWORD (toolhelp's th32HeapID).
//! Heap structures are never freed: a destroyed heap's structure is kept for a later HeapCreate,
//! so a thread still holding its address finds it dead (or reused under a new handle) and fails.

use std::any::Any;
use std::collections::VecDeque;
use std::ptr::null_mut;
use std::sync::atomic::AtomicPtr;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::{Mutex, MutexGuard, OnceLock};

use super::{Backend, Heap, HeapState, Options};
use crate::error::{Win32Error, Win32Result};

const MAX_HEAPS: usize = 16384;
// A heap's number in page tags is its slot + 1, which must fit above the class.
const _: () = assert!(MAX_HEAPS < 1 << (32 - super::region::TAG_OWNER_SHIFT));
/// Handles are HANDLE_BASE + 16 × slot: recognisable, below 4 GB, outside CE 6's user window.
const HANDLE_BASE: usize = 0x4850_0000;

/// The process heap's handle: it is made in slot 0, which no other heap ever gets, so a thread
/// cache may take this handle for it without asking whether it has been made (a cache binds only
/// a handle that names a live heap).
pub(crate) const PROCESS_HANDLE: usize = HANDLE_BASE;

static SLOTS: [AtomicPtr<Heap>; MAX_HEAPS] = [const { AtomicPtr::new(null_mut()) }; MAX_HEAPS];

struct Registry {
    /// Live heaps' slots in creation order.
    order: Vec<u32>,
    /// Slots never used yet come first; freed ones are reused oldest first.
    next: u32,
    freed: VecDeque<u32>,
    spare: Vec<&'static Heap>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    order: Vec::new(),
    next: 0,
    freed: VecDeque::new(),
    spare: Vec::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

fn handle_of(slot: u32) -> usize {
    HANDLE_BASE + 16 * slot as usize
}

#[inline]
pub(super) fn resolve(handle: usize) -> Option<&'static Heap> {
    let off = handle.wrapping_sub(HANDLE_BASE);
    if !off.is_multiple_of(16) || off / 16 >= MAX_HEAPS {
        return None;
    }
    let p = SLOTS[off / 16].load(Acquire);
    // SAFETY: slots hold only leaked (never freed) heaps.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Runs `f` on the heap `handle` under its lock; a handle that is not a live heap is
/// ERROR_INVALID_PARAMETER.
#[inline]
pub fn with<R>(handle: usize, f: impl FnOnce(&mut HeapState) -> Win32Result<R>) -> Win32Result<R> {
    resolve(handle)
        .ok_or(Win32Error::InvalidParameter)?
        .enter(handle, f)
}

/// Runs `f` on the heap `handle` if its lock is free right now and `f` succeeds; None (nothing
/// done) sends the caller to the careful path, which reports errors.
#[inline(always)]
pub fn quick<R>(handle: usize, f: impl FnOnce(&mut HeapState) -> Option<R>) -> Option<R> {
    let heap = resolve(handle)?;
    // Heaps that run callbacks take the careful path, which guards against reentry.
    if heap.foreign_code.load(Relaxed) || !heap.lock.try_lock_free(true) {
        return None;
    }
    // SAFETY: we took a free lock, so no frame of any thread borrows the state.
    let r = match unsafe { &mut *heap.state.get() } {
        Some(st) if st.alive && st.handle == handle => {
            // A guard-exception handler or a callback calling into this heap meanwhile finds it
            // busy.
            heap.busy.store(true, Relaxed);
            let r = f(st);
            heap.busy.store(false, Relaxed);
            r
        }
        _ => None,
    };
    // SAFETY: locked just above by this thread.
    unsafe { heap.lock.unlock() };
    r
}

/// HeapCreate / CeHeapCreate: a new heap's handle.
pub fn create(opts: Options) -> Win32Result<usize> {
    if !opts.process {
        // The process heap is the first heap of every process.
        process_heap();
    }
    let (slot, heap) = {
        let mut reg = registry();
        let slot = if opts.process {
            reg.next = reg.next.max(1);
            0
        } else if (reg.next as usize) < MAX_HEAPS {
            reg.next += 1;
            reg.next - 1
        } else {
            reg.freed.pop_front().ok_or(Win32Error::NotEnoughMemory)?
        };
        let heap = reg
            .spare
            .pop()
            .unwrap_or_else(|| Box::leak(Box::new(Heap::new())));
        (slot, heap)
    };
    let handle = handle_of(slot);
    // Made without any lock held: CeHeapCreate's callbacks run here.
    let mut st = HeapState::new(handle, slot, &opts);
    if let Err(e) = st.init(&opts) {
        let mut reg = registry();
        if !opts.process {
            reg.freed.push_back(slot);
        }
        reg.spare.push(heap);
        return Err(e);
    }
    heap.lock.lock(false);
    heap.foreign_code
        .store(!matches!(opts.backend, Backend::Vm), Relaxed);
    // SAFETY: we hold the heap's lock; the heap is not published, so nobody borrows its state.
    unsafe { *heap.state.get() = Some(st) };
    heap.take_user_locks(handle);
    heap.next_generation(handle);
    // SAFETY: locked above.
    unsafe { heap.lock.unlock() };
    let mut reg = registry();
    SLOTS[slot as usize].store(heap as *const Heap as *mut Heap, Release);
    reg.order.push(slot);
    Ok(handle)
}

/// HeapDestroy: releases all of the heap's memory; the process heap cannot be destroyed.
pub fn destroy(handle: usize) -> Win32Result<()> {
    let heap = resolve(handle).ok_or(Win32Error::InvalidParameter)?;
    heap.enter(handle, |st| {
        if st.is_process_heap() {
            return Err(Win32Error::InvalidParameter);
        }
        // The thread caches see the new generation before the memory goes.
        heap.next_generation(handle);
        st.release_everything();
        st.alive = false;
        Ok(st.index)
    })
    .map(|slot| {
        heap.lock.lock(false);
        // HeapLock levels the caller still holds go with the heap.
        for _ in 0..heap.take_user_locks(handle) {
            // SAFETY: each level was taken by this thread's HeapLock (only the holder can have any).
            unsafe { heap.lock.unlock() };
        }
        // SAFETY: we hold the lock and nobody borrows the dead state.
        unsafe { *heap.state.get() = None };
        // SAFETY: locked above.
        unsafe { heap.lock.unlock() };
        let mut reg = registry();
        SLOTS[slot as usize].store(null_mut(), Release);
        reg.order.retain(|&s| s != slot);
        reg.freed.push_back(slot);
        reg.spare.push(heap);
    })
}

static PROCESS: OnceLock<usize> = OnceLock::new();

/// The process heap if it has been made (the report does not make it).
pub fn process_heap_if_made() -> Option<usize> {
    PROCESS.get().copied()
}

/// GetProcessHeap: made at first use; 0 if the address space has no room even for that.
pub fn process_heap() -> usize {
    *PROCESS.get_or_init(|| {
        create(Options {
            initial: 0,
            maximum: 0,
            backend: Backend::Vm,
            process: true,
        })
        .unwrap_or(0)
    })
}

/// Live heaps' handles: the process heap first, then the others in creation order.
pub fn heaps() -> Vec<usize> {
    let process = process_heap();
    let reg = registry();
    let mut v: Vec<usize> = vec![process];
    v.extend(
        reg.order
            .iter()
            .map(|&s| handle_of(s))
            .filter(|&h| h != process),
    );
    v
}

/// HeapLock: takes the heap's lock and keeps it until HeapUnlock.
pub fn user_lock(handle: usize) -> Win32Result<()> {
    let heap = resolve(handle).ok_or(Win32Error::InvalidParameter)?;
    heap.lock.lock(false);
    let ok = !heap.busy.load(Relaxed)
        // SAFETY: we hold the lock and no frame of ours borrows the state (busy is clear).
        && matches!(unsafe { &*heap.state.get() }, Some(st) if st.alive && st.handle == handle);
    if ok {
        heap.count_user_lock(handle, true);
        Ok(())
    } else {
        // SAFETY: locked above.
        unsafe { heap.lock.unlock() };
        Err(Win32Error::InvalidParameter)
    }
}

/// HeapUnlock: gives back one HeapLock level this thread holds.
pub fn user_unlock(handle: usize) -> Win32Result<()> {
    let heap = resolve(handle).ok_or(Win32Error::InvalidParameter)?;
    // Asked first, without waiting: a thread that does not hold the lock must not block here.
    if !heap.lock.is_owned_by_current_thread() || heap.user_locks() == 0 {
        return Err(Win32Error::NotOwner);
    }
    heap.enter(handle, |_| Ok(()))?;
    heap.count_user_lock(handle, false);
    // SAFETY: this thread holds the lock through its HeapLock.
    unsafe { heap.lock.unlock() };
    Ok(())
}

/// Gives back every heap's cached big blocks (the address space ran out); skips heaps that are
/// busy rather than wait, so it can be called with any lock held. Returns the bytes released.
pub fn release_caches() -> usize {
    let Ok(reg) = REGISTRY.try_lock() else {
        return 0;
    };
    let mut n = 0;
    for &slot in &reg.order {
        let p = SLOTS[slot as usize].load(Acquire);
        if p.is_null() {
            continue;
        }
        // SAFETY: slots hold only leaked heaps.
        let heap = unsafe { &*p };
        if heap.lock.try_lock() {
            if !heap.busy.load(Relaxed) {
                // SAFETY: we hold the lock and nobody borrows the state (busy is clear).
                if let Some(st) = unsafe { &mut *heap.state.get() } {
                    n += st.release_big_cache();
                }
            }
            // SAFETY: locked just above.
            unsafe { heap.lock.unlock() };
        }
    }
    n
}

struct ForkGuard {
    _registry: MutexGuard<'static, Registry>,
    heaps: Vec<&'static Heap>,
}

impl Drop for ForkGuard {
    fn drop(&mut self) {
        for h in &self.heaps {
            // SAFETY: locked by this thread in lock_for_fork (in a child: by its only thread, the
            // copy of the forking one, whose thread id is the same).
            unsafe { h.lock.unlock() };
        }
    }
}

/// Takes every heap's lock, then the registry, across fork() (heaps first: a thread holding
/// HeapLock may go on to HeapCreate, which takes the registry).
pub fn lock_for_fork() -> Box<dyn Any> {
    loop {
        let live = |reg: &Registry| -> Vec<u32> { reg.order.clone() };
        let slots = live(&registry());
        let heaps: Vec<&'static Heap> = slots
            .iter()
            .filter_map(|&s| {
                let p = SLOTS[s as usize].load(Acquire);
                // SAFETY: slots hold only leaked heaps.
                (!p.is_null()).then(|| unsafe { &*p })
            })
            .collect();
        for h in &heaps {
            h.lock.lock(true);
        }
        let reg = registry();
        if live(&reg) == slots {
            return Box::new(ForkGuard {
                _registry: reg,
                heaps,
            });
        }
        // A heap was created or destroyed meanwhile: take the new set.
        drop(reg);
        for h in &heaps {
            // SAFETY: locked just above by this thread.
            unsafe { h.lock.unlock() };
        }
    }
}
