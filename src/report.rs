//! `COREDLL_REPORT`: what the program did with memory, at exit (or on demand through
//! `coredll_report`): each heap's live blocks (the leaks, with their allocation sequence numbers),
//! the peaks of committed memory and heap bytes, the failures injected, and a map of the address
//! space. `COREDLL_REPORT=1` writes to stderr; any other value is a file to write.
//!
//! While reporting is on, every heap block is recorded (address, size, sequence number) as the
//! API hands it out and forgotten when it is freed; the heaps' fast paths step aside.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

use crate::types::*;

/// Where the report goes, if reporting is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Stderr,
    File(String),
}

fn target() -> Option<&'static Target> {
    static TARGET: OnceLock<Option<Target>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let v = std::env::var("COREDLL_REPORT").ok()?;
            let t = match v.trim() {
                "" | "0" => return None,
                "1" => Target::Stderr,
                path => Target::File(path.to_string()),
            };
            REPORTER.store(crate::vm::os::process_id(), Relaxed);
            // SAFETY: registering a plain function to run at exit.
            unsafe { libc::atexit(at_exit) };
            Some(t)
        })
        .as_ref()
}

/// Whether blocks are being recorded.
#[inline]
pub fn active() -> bool {
    target().is_some()
}

/// A live block: size and sequence number.
type Blocks = BTreeMap<usize, (usize, u64)>;

struct Book {
    /// Per heap handle, its live blocks.
    heaps: BTreeMap<usize, Blocks>,
}

static BOOK: Mutex<Book> = Mutex::new(Book {
    heaps: BTreeMap::new(),
});
static SEQ: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);

fn book() -> std::sync::MutexGuard<'static, Book> {
    BOOK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes the book across fork() (any thread may be recording a block).
pub fn lock_for_fork() -> Box<dyn std::any::Any> {
    Box::new(book())
}

/// Heap `heap` handed out `p` of `size` bytes.
pub fn allocated(heap: usize, p: usize, size: usize) {
    let seq = SEQ.fetch_add(1, Relaxed) + 1;
    book().heaps.entry(heap).or_default().insert(p, (size, seq));
    let now = LIVE_BYTES.fetch_add(size, Relaxed) + size;
    PEAK_BYTES.fetch_max(now, Relaxed);
}

/// Heap `heap` took `p` back.
pub fn freed(heap: usize, p: usize) {
    if let Some((size, _)) = book().heaps.get_mut(&heap).and_then(|b| b.remove(&p)) {
        LIVE_BYTES.fetch_sub(size, Relaxed);
    }
}

/// Heap `heap` was destroyed: its blocks went with it.
pub fn destroyed(heap: usize) {
    if let Some(blocks) = book().heaps.remove(&heap) {
        let bytes: usize = blocks.values().map(|&(s, _)| s).sum();
        LIVE_BYTES.fetch_sub(bytes, Relaxed);
    }
}

fn kb(pages: usize) -> usize {
    pages * crate::vm::PAGE / 1024
}

/// The report's text.
pub fn text() -> String {
    let mut s = String::new();
    let ram = crate::vm::ram::ram();
    let _ = writeln!(
        s,
        "coredll report (process {}, profile {})",
        crate::vm::os::process_id(),
        match crate::config::profile() {
            crate::config::Profile::Ce5 => "ce5",
            crate::config::Profile::Ce6 => "ce6",
        }
    );
    let _ = writeln!(s, "failures injected: {}", crate::inject::injected());
    let _ = match ram.budget() {
        Some(b) => writeln!(
            s,
            "committed: {} KB now, {} KB peak, of {} KB (COREDLL_RAM)",
            kb(ram.committed()),
            kb(ram.peak()),
            kb(b)
        ),
        None => writeln!(
            s,
            "committed: {} KB now, {} KB peak",
            kb(ram.committed()),
            kb(ram.peak())
        ),
    };
    let _ = writeln!(
        s,
        "heap bytes: {} live, {} peak",
        LIVE_BYTES.load(Relaxed),
        PEAK_BYTES.load(Relaxed)
    );
    let process = crate::heap::process_heap_if_made().unwrap_or(0);
    {
        let book = book();
        let mut total = (0usize, 0usize);
        for (&h, blocks) in &book.heaps {
            let bytes: usize = blocks.values().map(|&(sz, _)| sz).sum();
            total = (total.0 + blocks.len(), total.1 + bytes);
            let _ = writeln!(
                s,
                "heap {h:#010x}{}: {} live blocks, {bytes} bytes",
                if h == process { " (process heap)" } else { "" },
                blocks.len()
            );
            for (&p, &(size, seq)) in blocks {
                let _ = writeln!(s, "  leak {p:#010x} size {size} seq {seq}");
            }
        }
        let _ = writeln!(s, "leaks: {} blocks, {} bytes", total.0, total.1);
    }
    let _ = writeln!(s, "address space:");
    let space = crate::vm::space();
    for w in 0.. {
        let Some((base, size)) = space.window(w) else {
            break;
        };
        let mut a = base.max(crate::vm::MIN_ADDRESS);
        while a < base + size {
            let Ok(m) = space.query(a) else { break };
            if m.state != MEM_FREE {
                let state = match m.state {
                    MEM_COMMIT => "commit ",
                    MEM_RESERVE => "reserve",
                    _ => "?",
                };
                let _ = writeln!(
                    s,
                    "  {:#010x} {:>8} KB {state} protect {:#05x} base {:#010x}",
                    m.base_address,
                    m.region_size / 1024,
                    m.protect,
                    m.allocation_base
                );
            }
            a = m.base_address + m.region_size.max(crate::vm::PAGE);
        }
    }
    s
}

/// Writes the report to `target`; false if the file cannot be written.
pub fn write(target: &Target) -> bool {
    let text = text();
    match target {
        Target::Stderr => {
            eprint!("{text}");
            true
        }
        Target::File(path) => std::fs::write(path, text).is_ok(),
    }
}

/// The process that turned reporting on: a fork child exiting does not write its parent's
/// report over it.
static REPORTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

extern "C" fn at_exit() {
    if let Some(t) = target()
        && REPORTER.load(Relaxed) == crate::vm::os::process_id()
    {
        write(t);
    }
}
