//! Toolhelp snapshots: the heap list and every heap's entries, copied at CreateToolhelp32Snapshot.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{EntryKind, heaps, process_heap, with};
use crate::types::*;

/// One entry as HEAPENTRY32 shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapEntry {
    pub addr: usize,
    pub size: usize,
    pub flags: DWORD,
    pub lock_count: DWORD,
}

pub struct SnapHeap {
    pub handle: usize,
    pub flags: DWORD,
    pub entries: Vec<SnapEntry>,
}

pub struct Snapshot {
    pub heaps: Vec<SnapHeap>,
    /// Heap32ListNext's position.
    pub list_pos: usize,
}

/// Snapshot handles: SNAP_BASE + 4 × n, never reused.
const SNAP_BASE: usize = 0x5348_0000;

struct Table {
    next: usize,
    open: BTreeMap<usize, Snapshot>,
}

static SNAPSHOTS: Mutex<Table> = Mutex::new(Table {
    next: 0,
    open: BTreeMap::new(),
});

fn table() -> std::sync::MutexGuard<'static, Table> {
    SNAPSHOTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes a snapshot (with the heaps when `with_heaps`) and returns its handle.
pub fn take(with_heaps: bool) -> usize {
    let mut list = Vec::new();
    if with_heaps {
        let process = process_heap();
        for h in heaps() {
            // A heap destroyed meanwhile is simply not in the snapshot.
            let Ok(entries) = with(h, |st| Ok(st.entries())) else {
                continue;
            };
            let entries = entries
                .iter()
                .map(|e| {
                    let (flags, lock_count) = match e.kind {
                        EntryKind::Busy => (LF32_FIXED, 1),
                        EntryKind::Big => (LF32_BIGBLOCK, 1),
                        EntryKind::Free => (LF32_FREE, 0),
                        EntryKind::Uncommitted => (LF32_FREE | LF32_DECOMMIT, 0),
                    };
                    SnapEntry {
                        addr: e.addr,
                        size: e.size,
                        flags,
                        lock_count,
                    }
                })
                .collect();
            list.push(SnapHeap {
                handle: h,
                flags: if h == process { HF32_DEFAULT } else { 0 },
                entries,
            });
        }
    }
    let mut t = table();
    let h = SNAP_BASE + 4 * t.next;
    t.next += 1;
    t.open.insert(
        h,
        Snapshot {
            heaps: list,
            list_pos: 0,
        },
    );
    h
}

/// Runs `f` on an open snapshot; None if `h` is not one.
pub fn with_snapshot<R>(h: usize, f: impl FnOnce(&mut Snapshot) -> R) -> Option<R> {
    table().open.get_mut(&h).map(f)
}

/// Takes the snapshot table across fork() (CloseHandle reaches it from any thread).
pub fn lock_for_fork() -> Box<dyn std::any::Any> {
    Box::new(table())
}

/// Closes a snapshot; false if `h` is not one.
pub fn close(h: usize) -> bool {
    table().open.remove(&h).is_some()
}
