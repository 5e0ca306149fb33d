//! The only file that calls the kernel's memory syscalls. Addresses and lengths given here are
//! page-aligned and lie in memory the page manager owns, unless a function says otherwise.

use std::io;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32};

/// Host protections as `mprotect` takes them.
pub(crate) type Prot = i32;
pub const PROT_NONE: Prot = libc::PROT_NONE;
pub const PROT_READ: Prot = libc::PROT_READ;
pub const PROT_WRITE: Prot = libc::PROT_WRITE;
pub const PROT_EXEC: Prot = libc::PROT_EXEC;

// The window's own flags: decommitted ranges are mapped again with the same ones, so the kernel
// merges them back into one VMA with their neighbours.
const WINDOW_FLAGS: i32 = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;

pub fn host_page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// Reserves `[addr, addr+len)` as inaccessible memory, failing if anything is mapped there.
pub fn reserve_at(addr: usize, len: usize) -> io::Result<()> {
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            libc::PROT_NONE,
            WINDOW_FLAGS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    if p as usize != addr {
        // Kernels before 4.17 take the flag as a hint: give back what they placed elsewhere.
        // SAFETY: `p` is the mapping this call just created and nobody else knows of it.
        unsafe { libc::munmap(p, len) };
        return Err(io::Error::from_raw_os_error(libc::EEXIST));
    }
    Ok(())
}

#[cfg(test)]
/// Reserves `len` inaccessible bytes wherever the kernel likes (windows for tests).
pub fn reserve_anywhere(len: usize) -> io::Result<usize> {
    // Over-reserve by one 64 KB block so the window can start on a block boundary.
    let granule = 0x1_0000;
    // SAFETY: a fresh mapping at a kernel-chosen address touches nothing else.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len + granule,
            libc::PROT_NONE,
            WINDOW_FLAGS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let start = p as usize;
    let base = start.next_multiple_of(granule);
    // SAFETY: the slack on either side is part of the mapping just made and nobody else's.
    unsafe {
        if base > start {
            libc::munmap(p, base - start);
        }
        if start + granule > base {
            libc::munmap((base + len) as *mut libc::c_void, start + granule - base);
        }
    }
    Ok(base)
}

/// Sets the host protection of a range inside a window.
pub fn protect(addr: usize, len: usize, prot: Prot) -> io::Result<()> {
    // SAFETY: the range lies inside a window this library owns; no Rust object lives there.
    let r = unsafe { libc::mprotect(addr as *mut libc::c_void, len, prot) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Drops the pages of a range inside a window and maps them afresh with `prot`: the pages read
/// zero, the commit charge is returned, and the addresses stay ours (no munmap). PROT_NONE for
/// decommitted pages; read-write for lazy auto-commit pages, which the next touch commits.
pub fn reset(addr: usize, len: usize, prot: Prot) -> io::Result<()> {
    // SAFETY: MAP_FIXED replaces only memory inside a window this library owns.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            prot,
            WINDOW_FLAGS | libc::MAP_FIXED,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Maps `len` bytes of `fd` from `offset` over a range inside a window, shared (a file view).
pub fn map_shared(addr: usize, len: usize, prot: Prot, fd: i32, offset: u64) -> io::Result<()> {
    // SAFETY: MAP_FIXED replaces only memory inside a window this library owns.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            prot,
            libc::MAP_SHARED | libc::MAP_FIXED,
            fd,
            offset as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Writes a shared view's dirty pages back to its file.
pub fn sync(addr: usize, len: usize) -> io::Result<()> {
    // SAFETY: msync only writes back pages of a view inside a window.
    let r = unsafe { libc::msync(addr as *mut libc::c_void, len, libc::MS_SYNC) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Anonymous shared memory (an unnamed pagefile-backed mapping).
pub fn anonymous_file() -> io::Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    // SAFETY: a static NUL-terminated name; the descriptor returned is owned by the File.
    let fd = unsafe { libc::memfd_create(c"coredll-mapping".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(unsafe { std::fs::File::from_raw_fd(fd) })
    }
}

/// Takes a shared lock on `file` (waiting for an exclusive holder), the mark of a process using a
/// named mapping's object. The kernel drops it when the process dies.
pub fn lock_shared(file: &std::fs::File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Tries to make the lock on `file` exclusive without waiting: true when no other process holds
/// it (the object's only user).
pub fn try_lock_exclusive(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor we own.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// An unnamed file in `dir` (O_TMPFILE), to be linked in once complete.
pub fn unnamed_file_in(dir: &str) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .open(dir)
}

/// Gives an unnamed file the name `path`; fails with AlreadyExists when the name is taken.
pub fn link_file(file: &std::fs::File, path: &std::path::Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let from = std::ffi::CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .expect("no NUL in a number");
    let to = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: two NUL-terminated paths.
    let r = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Registers fork handlers: `prepare` runs in the forking thread just before fork(), `after` in
/// both parent and child just after.
pub fn at_fork(prepare: extern "C" fn(), after: extern "C" fn()) {
    // SAFETY: plain functions with no captured state.
    unsafe { libc::pthread_atfork(Some(prepare), Some(after), Some(after)) };
}

/// The effective user id (names of shared mappings are per user).
pub fn user_id() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Which pages of `[addr, addr + resident.len() * page)` are resident (the kernel's mincore);
/// false when it cannot say.
pub fn resident_pages(addr: usize, resident: &mut [u8]) -> bool {
    // SAFETY: the kernel writes one byte per page into `resident`, which is exactly that long.
    let r = unsafe {
        libc::mincore(
            addr as *mut libc::c_void,
            resident.len() * host_page_size(),
            resident.as_mut_ptr(),
        )
    };
    r == 0
}

/// Copies between `buf` and window memory at `addr` through /proc/self/mem, which the kernel
/// serves whatever the pages' protection (the way a debugger reads): for pages the library must
/// read or write without firing their guard. False when the kernel refuses.
pub fn copy_ignoring_protection(addr: usize, buf: *mut u8, len: usize, write: bool) -> bool {
    // Opened per call: a descriptor kept across fork() would name the parent's memory. The
    // thread's own entry first: /proc/self names the main thread, whose memory is gone once it
    // has exited.
    // SAFETY: plain file calls on a descriptor we own; `buf` is valid for `len` bytes (caller).
    unsafe {
        let mut fd = libc::open(
            c"/proc/thread-self/mem".as_ptr(),
            libc::O_RDWR | libc::O_CLOEXEC,
        );
        if fd < 0 {
            fd = libc::open(c"/proc/self/mem".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        }
        if fd < 0 {
            return false;
        }
        let n = if write {
            libc::pwrite(fd, buf as *const libc::c_void, len, addr as libc::off_t)
        } else {
            libc::pread(fd, buf as *mut libc::c_void, len, addr as libc::off_t)
        };
        libc::close(fd);
        n == len as isize
    }
}

/// Asks the kernel not to back `[addr, addr+len)` with huge pages: lazy auto-commit pages count as
/// committed once resident, and one touch must make one 4 KB page resident, not 512.
pub fn no_huge_pages(addr: usize, len: usize) {
    // SAFETY: advice only, on memory inside a window; failure leaves residency coarser.
    unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_NOHUGEPAGE) };
}

/// The signals that can arrive at any instruction; the synchronous ones (faults) stay open.
pub fn async_signals() -> libc::sigset_t {
    // SAFETY: the set is initialised by sigfillset before use.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut set);
        for sig in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGILL,
            libc::SIGFPE,
            libc::SIGTRAP,
        ] {
            libc::sigdelset(&mut set, sig);
        }
        set
    }
}

/// Asynchronous signals blocked on this thread until dropped (see `async_signals`).
pub struct AsyncSignalsBlocked(libc::sigset_t);

pub fn block_async_signals() -> AsyncSignalsBlocked {
    let set = async_signals();
    // SAFETY: both sets are valid; pthread_sigmask only changes this thread's mask.
    unsafe {
        let mut old: libc::sigset_t = core::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        AsyncSignalsBlocked(old)
    }
}

impl Drop for AsyncSignalsBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by block_async_signals.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, core::ptr::null_mut()) };
    }
}

/// Gives back the memory of whole pages of a mapping made by `zeroed_mapping` (a table): they
/// read zero afterwards. Best effort: the pages merely stay if the kernel refuses.
pub fn drop_pages(addr: usize, len: usize) {
    // SAFETY: the range is whole pages of a private anonymous table mapping of this library, read
    // and written only through atomics, which see zero afterwards.
    unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED) };
}

/// `bytes` zeroed bytes, readable and writable, at a fixed address, never freed; mapped without
/// reserve, so only the pages written take memory.
fn zeroed_mapping(bytes: usize) -> io::Result<*mut libc::c_void> {
    // SAFETY: a fresh anonymous mapping.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            bytes.max(1),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p)
}

/// A zeroed table of `len` page bytes at a fixed address, never freed and never touched by
/// malloc, so that a signal handler may read it.
pub fn byte_table(len: usize) -> io::Result<&'static [AtomicU8]> {
    let p = zeroed_mapping(len)?;
    // SAFETY: the mapping is `len` zeroed bytes, valid forever; AtomicU8 has the size and
    // alignment of u8 and zero is a valid value.
    Ok(unsafe { core::slice::from_raw_parts(p as *const AtomicU8, len) })
}

/// A zeroed table of `len` 16-bit atomics, like `byte_table`.
pub fn u16_table(len: usize) -> io::Result<&'static [AtomicU16]> {
    let p = zeroed_mapping(len * 2)?;
    // SAFETY: the mapping is 2 × `len` zeroed bytes, page-aligned, valid forever; zero is a
    // valid AtomicU16.
    Ok(unsafe { core::slice::from_raw_parts(p as *const AtomicU16, len) })
}

/// A zeroed table of `len` 32-bit atomics, like `byte_table`.
pub fn u32_table(len: usize) -> io::Result<&'static [AtomicU32]> {
    let p = zeroed_mapping(len * 4)?;
    // SAFETY: the mapping is 4 × `len` zeroed bytes, page-aligned, valid forever; zero is a
    // valid AtomicU32.
    Ok(unsafe { core::slice::from_raw_parts(p as *const AtomicU32, len) })
}

/// One line of `/proc/self/maps`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostMapping {
    pub start: usize,
    pub end: usize,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

/// The host's mappings, sorted by address.
pub fn host_mappings() -> Vec<HostMapping> {
    let Ok(text) = std::fs::read_to_string("/proc/self/maps") else {
        return Vec::new();
    };
    text.lines().filter_map(parse_maps_line).collect()
}

fn parse_maps_line(line: &str) -> Option<HostMapping> {
    let mut fields = line.split_ascii_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let perms = fields.next()?.as_bytes();
    Some(HostMapping {
        start: usize::from_str_radix(start, 16).ok()?,
        end: usize::from_str_radix(end, 16).ok()?,
        read: perms.first() == Some(&b'r'),
        write: perms.get(1) == Some(&b'w'),
        exec: perms.get(2) == Some(&b'x'),
    })
}

/// The lowest address the kernel lets a process map.
pub fn mmap_min_addr() -> usize {
    std::fs::read_to_string("/proc/sys/vm/mmap_min_addr")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0x10000)
}

/// How a caller's memory outside the windows may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Whether every byte of `[addr, addr+len)` of host memory allows `access`, decided from the
/// host's mapping list, never by touching the memory. `len` > 0.
pub fn host_range_allows(addr: usize, len: usize, access: Access) -> bool {
    let Some(end) = addr.checked_add(len) else {
        return false;
    };
    let mut at = addr;
    for m in host_mappings() {
        if m.end <= at {
            continue;
        }
        if m.start > at {
            return false;
        }
        let ok = match access {
            Access::Read => m.read,
            Access::Write => m.write,
        };
        if !ok {
            return false;
        }
        at = m.end;
        if at >= end {
            return true;
        }
    }
    false
}

/// Copies host memory at `src` into `dst` without faulting: false (and `dst` in an unspecified
/// state) when some source byte is not readable. `src` may be any address.
pub fn read_unfaulting(src: usize, dst: &mut [u8]) -> bool {
    if dst.is_empty() {
        return true;
    }
    let local = libc::iovec {
        iov_base: dst.as_mut_ptr().cast(),
        iov_len: dst.len(),
    };
    let remote = libc::iovec {
        iov_base: src as *mut libc::c_void,
        iov_len: dst.len(),
    };
    // SAFETY: the kernel copies into `dst`, which we own, and reports a bad `src` as a short count
    // or EFAULT instead of a signal.
    let n = unsafe { libc::process_vm_readv(self_tid(), &local, 1, &remote, 1, 0) };
    if n >= 0 {
        return n as usize == dst.len();
    }
    // Only without process_vm_readv (seccomp, old kernels) decide from the mapping list; EFAULT
    // is an answer (a mapping the list calls readable can still fault: past a file's end).
    if kernel_copy_unavailable() && host_range_allows(src, dst.len(), Access::Read) {
        // SAFETY: every byte of the source lies in a readable mapping.
        unsafe { core::ptr::copy_nonoverlapping(src as *const u8, dst.as_mut_ptr(), dst.len()) };
        return true;
    }
    false
}

/// Copies `len` bytes from `src` to host memory at `dst` without faulting: false when some
/// destination byte is not writable (bytes before it may have been written). `dst` may be any
/// address.
///
/// # Safety
/// `src` must be readable for `len` bytes (they may include padding, which is copied as it is
/// and never read by Rust).
pub unsafe fn write_unfaulting(dst: usize, src: *const u8, len: usize) -> bool {
    if len == 0 {
        return true;
    }
    let local = libc::iovec {
        iov_base: src as *mut libc::c_void,
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: dst as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: the kernel reads only `src` and reports a bad `dst` as a short count or EFAULT.
    let n = unsafe { libc::process_vm_writev(self_tid(), &local, 1, &remote, 1, 0) };
    if n >= 0 {
        return n as usize == len;
    }
    if kernel_copy_unavailable() && host_range_allows(dst, len, Access::Write) {
        // SAFETY: every byte of the destination lies in a writable mapping.
        unsafe { core::ptr::copy_nonoverlapping(src, dst as *mut u8, len) };
        return true;
    }
    false
}

/// The calling thread's stack: `[low, high)`.
pub fn current_thread_stack() -> Option<(usize, usize)> {
    // SAFETY: the attribute object is initialised by pthread_getattr_np before use and
    // destroyed after; the out-pointers are locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr = core::ptr::null_mut();
        let mut size = 0;
        let r = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        (r == 0).then(|| (addr as usize, addr as usize + size))
    }
}

/// This thread's id, which process_vm_readv/writev take for "this process": the process id names
/// the main thread, whose memory is gone once it has exited while others run on.
fn self_tid() -> libc::pid_t {
    // SAFETY: gettid cannot fail.
    unsafe { libc::gettid() }
}

/// Whether the last process_vm_* call failed because the call itself is unavailable here
/// (rather than because of the addresses).
fn kernel_copy_unavailable() -> bool {
    matches!(
        io::Error::last_os_error().raw_os_error(),
        Some(libc::ENOSYS | libc::EPERM)
    )
}

/// Whether one byte in each host page of `[addr, addr+len)` can be read, without touching them:
/// one kernel copy of a byte per page, up to 1,024 pages a call.
pub fn host_readable(addr: usize, len: usize) -> bool {
    const BATCH: usize = 1024;
    let Some(end) = addr.checked_add(len) else {
        return false;
    };
    let page = host_page_size();
    let mut sink = [0u8; BATCH];
    let mut remote = [libc::iovec {
        iov_base: core::ptr::null_mut(),
        iov_len: 1,
    }; BATCH];
    let mut at = addr;
    while at < end {
        let mut n = 0;
        while n < BATCH && at < end {
            remote[n].iov_base = at as *mut libc::c_void;
            n += 1;
            at = (at / page + 1) * page;
        }
        let local = libc::iovec {
            iov_base: sink.as_mut_ptr().cast(),
            iov_len: n,
        };
        // SAFETY: the kernel writes at most `n` bytes into `sink` and reports unreadable remote
        // bytes as a short count or EFAULT.
        let got =
            unsafe { libc::process_vm_readv(self_tid(), &local, 1, remote.as_ptr(), n as _, 0) };
        if got < 0 && kernel_copy_unavailable() {
            return host_range_allows(addr, len, Access::Read);
        }
        if got != n as isize {
            return false;
        }
    }
    true
}

/// Physical memory of the host: (total, available) bytes.
pub fn physical_memory() -> (u64, u64) {
    // SAFETY: sysinfo fills the struct we hand it.
    let mut si: libc::sysinfo = unsafe { core::mem::zeroed() };
    if unsafe { libc::sysinfo(&mut si) } != 0 {
        return (0, 0);
    }
    let unit = u64::from(si.mem_unit.max(1));
    (
        si.totalram as u64 * unit,
        (si.freeram as u64 + si.bufferram as u64) * unit,
    )
}

pub fn process_id() -> u32 {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() as u32 }
}

/// The calling thread's identity, never 0 (cheaper than a thread-local in a shared library).
#[inline]
pub fn thread_id() -> usize {
    // SAFETY: pthread_self cannot fail.
    unsafe { libc::pthread_self() as usize }
}

/// Sleeps while `word` holds `expected` (or until woken; spurious returns are fine).
pub fn futex_wait(word: &core::sync::atomic::AtomicU32, expected: u32) {
    // SAFETY: FUTEX_WAIT on a live, aligned u32 of this process; no timeout.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            core::ptr::null::<libc::timespec>(),
        )
    };
}

/// Wakes one thread sleeping in `futex_wait` on `word`.
pub fn futex_wake_one(word: &core::sync::atomic::AtomicU32) {
    // SAFETY: FUTEX_WAKE on a live, aligned u32 of this process.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        )
    };
}

unsafe extern "C" {
    // glibc (2.32+): true while the process has never had a second thread (and in a fork child).
    static __libc_single_threaded: core::ffi::c_char;
}

/// Whether no other thread exists, so a lock needs no atomic instruction.
#[inline]
pub fn single_threaded() -> bool {
    // SAFETY: a plain char glibc exports for exactly this question; read with a volatile load.
    unsafe { core::ptr::read_volatile(&raw const __libc_single_threaded) != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_maps_lines() {
        let m = parse_maps_line("00400000-0040b000 r-xp 00000000 fd:01 123  /bin/cat").unwrap();
        assert_eq!(
            (m.start, m.end, m.read, m.write, m.exec),
            (0x400000, 0x40b000, true, false, true)
        );
        assert!(parse_maps_line("garbage").is_none());
    }

    #[test]
    fn unfaulting_copies_refuse_bad_addresses() {
        let mut buf = [0u8; 8];
        assert!(!read_unfaulting(0x10, &mut buf));
        // SAFETY: `buf` is a readable local.
        assert!(!unsafe { write_unfaulting(0x10, buf.as_ptr(), buf.len()) });
        let src = [7u8; 8];
        assert!(read_unfaulting(src.as_ptr() as usize, &mut buf));
        assert_eq!(buf, src);
        let ro = b"read-only literal";
        // SAFETY: as above.
        assert!(!unsafe { write_unfaulting(ro.as_ptr() as usize, buf.as_ptr(), buf.len()) });
        assert!(host_readable(ro.as_ptr() as usize, ro.len()));
        assert!(!host_range_allows(ro.as_ptr() as usize, 1, Access::Write));
    }
}
