//! The SIGSEGV handler behind fault-driven pages: strict auto-commit pages commit themselves on
//! first touch, guard pages raise one guard exception and take their base protection.
//!
//! The handler is async-signal-safe: it allocates nothing, takes no lock and formats nothing. It
//! reads only the window registry below and the page bytes, and coordinates with writers through
//! the page byte's BUSY bit: whoever sets BUSY (by compare-and-swap) owns the page until it stores
//! the byte back without it. The handler holds BUSY across one `mprotect` only; writers never
//! touch application memory while they hold it, so neither side can wait on the other forever.

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_void};
use core::sync::atomic::Ordering::{AcqRel, Acquire, Release};
use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize};
use std::sync::Once;

use super::{AUTO, BUSY, COMMITTED, GUARD, PAGE, Protection, os};
use crate::types::*;

/// Windows the handler knows; spaces made for tests take a few each.
const MAX_WINDOWS: usize = 64;

struct Slot {
    base: AtomicUsize,
    size: AtomicUsize,
    pages: AtomicPtr<AtomicU8>,
}

static SLOTS: [Slot; MAX_WINDOWS] = [const {
    Slot {
        base: AtomicUsize::new(0),
        size: AtomicUsize::new(0),
        pages: AtomicPtr::new(core::ptr::null_mut()),
    }
}; MAX_WINDOWS];
static SLOTS_USED: AtomicUsize = AtomicUsize::new(0);

/// Makes a window's pages visible to the handler. Windows are never unmapped and their page
/// tables never freed, so a slot stays valid for the life of the process.
pub fn register(base: usize, pages: &'static [AtomicU8]) {
    let i = SLOTS_USED.fetch_add(1, AcqRel);
    if i >= MAX_WINDOWS {
        return;
    }
    let slot = &SLOTS[i];
    slot.pages.store(pages.as_ptr() as *mut AtomicU8, Release);
    slot.size.store(pages.len() * PAGE, Release);
    slot.base.store(base, Release);
}

/// The page byte of `addr`, if a registered window holds it.
fn page_byte(addr: usize) -> Option<(&'static AtomicU8, usize)> {
    let used = SLOTS_USED.load(Acquire).min(MAX_WINDOWS);
    SLOTS[..used].iter().find_map(|slot| {
        let base = slot.base.load(Acquire);
        let offset = addr.wrapping_sub(base);
        if base == 0 || offset >= slot.size.load(Acquire) {
            return None;
        }
        let pages = slot.pages.load(Acquire);
        // SAFETY: `pages` has size/PAGE entries, published before `base`, and lives forever.
        Some((
            unsafe { &*pages.add(offset / PAGE) },
            base + offset / PAGE * PAGE,
        ))
    })
}

/// The handler that was installed before ours.
struct PreviousAction(UnsafeCell<libc::sigaction>);
// SAFETY: written once, inside `INSTALL`, before our handler can run; read-only afterwards.
unsafe impl Sync for PreviousAction {}
// SAFETY: an all-zero sigaction is SIG_DFL with no flags.
static PREVIOUS: PreviousAction = PreviousAction(UnsafeCell::new(unsafe { core::mem::zeroed() }));
static INSTALL: Once = Once::new();

/// Installs the SIGSEGV handler, once, before the first page that needs it exists.
pub fn ensure_handler() {
    INSTALL.call_once(|| {
        // SAFETY: PREVIOUS is written here only, before our handler is installed; the sigaction
        // struct for ours is fully initialised.
        unsafe {
            libc::sigaction(libc::SIGSEGV, core::ptr::null(), PREVIOUS.0.get());
            let mut ours: libc::sigaction = core::mem::zeroed();
            ours.sa_sigaction = on_sigsegv as *const () as usize;
            ours.sa_flags =
                libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER | libc::SA_RESTART;
            // No asynchronous signal may interrupt us while we hold a page's BUSY bit: its
            // handler touching that page would wait for us forever.
            ours.sa_mask = os::async_signals();
            libc::sigaction(libc::SIGSEGV, &ours, core::ptr::null_mut());
            pin_library();
        }
    });
}

/// Keeps this library mapped for the life of the process: once the SIGSEGV disposition points
/// at our handler, a dlclose() would leave it pointing at unmapped code.
///
/// # Safety
/// Plain dynamic-loader calls.
unsafe fn pin_library() {
    // SAFETY: dladdr fills `info` for an address of ours; dlopen with RTLD_NOLOAD only takes a
    // reference (marked never to be dropped) on an object already loaded.
    unsafe {
        let mut info: libc::Dl_info = core::mem::zeroed();
        if libc::dladdr(ensure_handler as *const () as *const c_void, &mut info) != 0
            && !info.dli_fname.is_null()
        {
            libc::dlopen(
                info.dli_fname,
                libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
            );
        }
    }
}

/// The application's guard-exception handler (0: none).
static EXCEPTION_HANDLER: AtomicUsize = AtomicUsize::new(0);

/// Sets the guard-exception handler and returns the previous one.
pub fn set_exception_handler(handler: coredll_exception_handler) -> coredll_exception_handler {
    let new = handler.map_or(0, |f| f as usize);
    let old = EXCEPTION_HANDLER.swap(new, AcqRel);
    // SAFETY: non-zero values were stored from this same function-pointer type.
    (old != 0).then(|| unsafe { core::mem::transmute::<usize, _>(old) })
}

extern "C" fn on_sigsegv(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: the kernel hands a valid siginfo and context; errno is this thread's.
    unsafe {
        let errno = *libc::__errno_location();
        if !resolve(info, ctx) {
            chain(sig, info, ctx);
        }
        *libc::__errno_location() = errno;
    }
}

/// Whether the faulting access was a write or an instruction fetch (x86-64 page-fault error code).
fn access_type(ctx: *mut c_void) -> DWORD {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: for SIGSEGV the third handler argument is the thread's ucontext.
        let err = unsafe {
            (*(ctx as *const libc::ucontext_t)).uc_mcontext.gregs[libc::REG_ERR as usize]
        };
        if err & 0x10 != 0 {
            return ACCESS_EXECUTE;
        }
        if err & 0x2 != 0 {
            return ACCESS_WRITE;
        }
    }
    let _ = ctx;
    ACCESS_READ
}

fn instruction_address(ctx: *mut c_void) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: as in `access_type`.
        return unsafe {
            (*(ctx as *const libc::ucontext_t)).uc_mcontext.gregs[libc::REG_RIP as usize]
        } as usize;
    }
    #[allow(unreachable_code)]
    {
        let _ = ctx;
        0
    }
}

pub(crate) const ACCESS_READ: DWORD = 0;
pub(crate) const ACCESS_WRITE: DWORD = 1;
pub(crate) const ACCESS_EXECUTE: DWORD = 8;

/// Claims the fault if it is ours to resolve; false sends it on to the previous handler.
///
/// # Safety
/// `info` and `ctx` are the handler's arguments.
unsafe fn resolve(info: *mut libc::siginfo_t, ctx: *mut c_void) -> bool {
    // SAFETY: the kernel's siginfo.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    if code <= 0 {
        return false; // sent by kill/tgkill: not a fault
    }
    let Some((byte, page)) = page_byte(addr) else {
        return false;
    };
    let access = access_type(ctx);
    loop {
        let v = byte.load(Acquire);
        if v & BUSY != 0 {
            // A writer (or another thread's fault) is changing this page for one syscall.
            // SAFETY: sched_yield is async-signal-safe.
            unsafe { libc::sched_yield() };
            continue;
        }
        let guard = v & COMMITTED != 0 && v & GUARD != 0;
        let auto = v & AUTO != 0 && v & COMMITTED == 0;
        if !guard && !auto {
            // Another thread resolved it first, or it is a genuine violation.
            let p = Protection::from_bits(v);
            let allowed = v & COMMITTED != 0
                && match access {
                    ACCESS_WRITE => p.allows(os::Access::Write),
                    ACCESS_EXECUTE => p.allows_execute(),
                    _ => p.allows(os::Access::Read),
                };
            return allowed;
        }
        if byte.compare_exchange(v, v | BUSY, AcqRel, Acquire).is_err() {
            continue;
        }
        let new = if guard {
            v & !GUARD
        } else {
            Protection::READWRITE.bits() | COMMITTED | AUTO
        };
        // mprotect is not on the async-signal-safe list, but it is a plain system call with no
        // user-space state. Failure (out of mappings) leaves the page as it was and the fault
        // goes on to the previous handler (by default: death by SIGSEGV).
        let ok = os::protect(page, PAGE, Protection::from_bits(new).host()).is_ok();
        byte.store(if ok { new } else { v }, Release);
        if !ok {
            return false;
        }
        if guard {
            raise_guard(addr, access, ctx);
        } else if let Some(ram) = super::ram::ram_if_ready() {
            ram.add(1);
        }
        return true;
    }
}

/// Delivers a guard exception; returns only if the application's handler resumes execution.
fn raise_guard(addr: usize, access: DWORD, ctx: *mut c_void) {
    let info = coredll_exception_info {
        ExceptionCode: STATUS_GUARD_PAGE_VIOLATION,
        AccessType: access,
        Address: addr as PVOID,
        InstructionAddress: instruction_address(ctx) as PVOID,
    };
    let handler = EXCEPTION_HANDLER.load(Acquire);
    if handler != 0 {
        // The application's handler runs with the signal mask of the interrupted code, as if
        // called from it (ours blocks asynchronous signals, which the handler may rely on).
        // SAFETY: the context is the kernel's ucontext; pthread_sigmask is async-signal-safe.
        unsafe {
            let uc = ctx as *const libc::ucontext_t;
            libc::pthread_sigmask(libc::SIG_SETMASK, &(*uc).uc_sigmask, core::ptr::null_mut());
        }
        // SAFETY: stored by set_exception_handler from this function-pointer type.
        let f: unsafe extern "C" fn(*const coredll_exception_info) -> LONG =
            unsafe { core::mem::transmute(handler) };
        // On a heap's page the fault may come from a heap call's own touch of a block (the
        // application guarded it): the handler's heap calls must not find that call's thread
        // cache in the middle of a change.
        let parked = crate::heap::heap_owns(addr).then(crate::heap::cache::park);
        // SAFETY: the application's handler, given a valid record on our stack.
        let r = unsafe { f(&info) };
        if let Some(parked) = parked {
            crate::heap::cache::unpark(parked);
        }
        if r == EXCEPTION_CONTINUE_EXECUTION {
            return;
        }
    }
    unhandled(&info);
}

/// An unhandled exception ends the process, as on CE: one line on stderr, then SIGSEGV under
/// the default action.
fn unhandled(info: &coredll_exception_info) -> ! {
    let mut line = [0u8; 160];
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        for &b in bytes {
            if n < line.len() {
                line[n] = b;
                n += 1;
            }
        }
    };
    put(b"coredll: unhandled exception 0x80000001 (STATUS_GUARD_PAGE_VIOLATION) at 0x");
    let (digits, first) = hex(info.Address as usize);
    put(&digits[first..]);
    put(match info.AccessType {
        ACCESS_WRITE => b" (write)".as_slice(),
        ACCESS_EXECUTE => b" (execute)".as_slice(),
        _ => b" (read)".as_slice(),
    });
    put(b"; the process ends\n");
    // SAFETY: write, sigaction and raise are async-signal-safe; the buffer is ours.
    unsafe {
        libc::write(2, line.as_ptr().cast(), n);
        let mut dfl: libc::sigaction = core::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(libc::SIGSEGV, &dfl, core::ptr::null_mut());
        libc::raise(libc::SIGSEGV);
        libc::_exit(128 + libc::SIGSEGV)
    }
}

/// `value` in hexadecimal with at least eight digits, without allocating.
fn hex(value: usize) -> ([u8; 16], usize) {
    let mut out = [b'0'; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = b"0123456789ABCDEF"[(value >> ((15 - i) * 4)) & 0xF];
    }
    let first = out[..8].iter().position(|&d| d != b'0').unwrap_or(8);
    (out, first)
}

/// Hands a fault that is not ours to the handler installed before ours.
///
/// # Safety
/// The handler's arguments.
unsafe fn chain(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: PREVIOUS was written before our handler was installed.
    let prev = unsafe { &*PREVIOUS.0.get() };
    let action = prev.sa_sigaction;
    // SAFETY: the kernel's siginfo.
    let sent = unsafe { (*info).si_code } <= 0;
    if action == libc::SIG_IGN && sent {
        // An ignored SIGSEGV sent with kill(): nothing happens, as before we were installed.
    } else if action == libc::SIG_DFL || action == libc::SIG_IGN {
        // Put the default back: a fault then happens again on return and the process dies of
        // SIGSEGV with an honest exit status (an ignored synchronous SIGSEGV would loop); a
        // signal sent with kill() is raised again. The process ends either way.
        // SAFETY: sigaction and raise are async-signal-safe; SA_NODEFER leaves SIGSEGV unblocked.
        unsafe {
            let mut dfl: libc::sigaction = core::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &dfl, core::ptr::null_mut());
            if sent {
                libc::raise(sig);
            }
        }
    } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler declared the three-argument form.
        let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
            unsafe { core::mem::transmute(action) };
        f(sig, info, ctx);
    } else {
        // SAFETY: the previous handler declared the one-argument form.
        let f: extern "C" fn(c_int) = unsafe { core::mem::transmute(action) };
        f(sig);
    }
}
