//! File mappings: the objects behind CreateFileForMapping/CreateFileMapping handles and the views
//! MapViewOfFile places in the emulated address space.
//!
//! A mapping is backed by a file descriptor: a memfd for an unnamed pagefile mapping, a POSIX
//! shared-memory object (a file in /dev/shm) for a named one, so processes of the same user share
//! it, or the file of a CreateFileForMapping handle.
//!
//! A process using a named object holds a shared flock on it, which the kernel drops when the
//! process dies. Whoever can turn that lock exclusive is the only user left and removes the name
//! (at its last close, or, for a name whose users all died, at the next open); an opener that
//! then gets its shared lock sees the object unlinked and starts again. Objects are made unnamed
//! (O_TMPFILE) and linked in complete, so nobody ever sees one half made.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak};

use crate::config::Profile;
use crate::error::{Win32Error, Win32Result};
use crate::types::*;
use crate::vm::{self, GRANULE, PAGE};

struct Mapping {
    file: File,
    size: u64,
    writable: bool,
    /// For a named mapping: its shared-memory object's path (`file` holds the shared lock).
    object: Option<PathBuf>,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // The last user (the lock turns exclusive) removes the name; closing `file` next drops
        // the lock, and any opener waiting on it finds the object unlinked.
        if let Some(path) = &self.object
            && vm::os::try_lock_exclusive(&self.file)
        {
            remove_if_same(path, &self.file);
        }
    }
}

enum Object {
    File { file: File, writable: bool },
    Mapping(Arc<Mapping>),
}

struct View {
    /// The 64 KB-aligned start of the view's reservation, and its length.
    base: usize,
    len: usize,
    /// Keeps the mapping (and a named object's lock) alive while the view exists.
    _mapping: Arc<Mapping>,
}

#[derive(Default)]
struct Objects {
    next_handle: usize,
    handles: HashMap<usize, Object>,
    /// Named mappings of this process, so a second create finds the first.
    names: HashMap<String, Weak<Mapping>>,
    /// Views by the address MapViewOfFile returned.
    views: BTreeMap<usize, View>,
}

fn objects() -> MutexGuard<'static, Objects> {
    static OBJECTS: LazyLock<Mutex<Objects>> = LazyLock::new(|| {
        Mutex::new(Objects {
            // Handle values stay clear of NULL, CE's pseudo-handles and small integers.
            next_handle: 0x1_0000,
            ..Objects::default()
        })
    });
    // The fork handlers exist before this lock is first made (see `crate::fork`).
    crate::fork::register();
    OBJECTS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The objects' lock, held across a fork() (see `crate::fork`).
pub fn lock_for_fork() -> Box<dyn std::any::Any> {
    Box::new(objects())
}

impl Objects {
    fn insert(&mut self, object: Object) -> usize {
        // Never reused: a closed handle stays invalid.
        self.next_handle += 4;
        self.handles.insert(self.next_handle, object);
        self.next_handle
    }
}

/// How CreateFileForMapping opens a file.
pub struct OpenRequest<'a> {
    pub path: &'a str,
    pub access: DWORD,
    pub disposition: DWORD,
}

/// CreateFileForMappingW: a handle to an open file, and whether CREATE_ALWAYS/OPEN_ALWAYS found
/// the file already there (CE then reports ERROR_ALREADY_EXISTS on success).
pub fn open_file(req: &OpenRequest) -> Win32Result<(usize, bool)> {
    if req.access == 0 || req.access & !(GENERIC_READ | GENERIC_WRITE) != 0 || req.path.is_empty() {
        return Err(Win32Error::InvalidParameter);
    }
    let writable = req.access & GENERIC_WRITE != 0;
    // Creation flags are passed as they are, so creating a file does not demand write access to
    // an existing one; truncating does. Never blocking: a FIFO must not hang the call.
    let disposition = match req.disposition {
        CREATE_NEW => libc::O_CREAT | libc::O_EXCL,
        CREATE_ALWAYS => libc::O_CREAT | libc::O_TRUNC,
        OPEN_EXISTING => 0,
        OPEN_ALWAYS => libc::O_CREAT,
        TRUNCATE_EXISTING => libc::O_TRUNC,
        _ => return Err(Win32Error::InvalidParameter),
    };
    let truncates = disposition & libc::O_TRUNC != 0;
    let existed = matches!(req.disposition, CREATE_ALWAYS | OPEN_ALWAYS)
        && std::path::Path::new(req.path).exists();
    // Always readable at the system level: a shared mapping needs it, even for a view only written.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(writable || truncates)
        .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK | disposition)
        .open(req.path)
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => {
                let parent = std::path::Path::new(req.path).parent();
                if parent.is_some_and(|p| !p.as_os_str().is_empty() && !p.exists()) {
                    Win32Error::PathNotFound
                } else {
                    Win32Error::FileNotFound
                }
            }
            ErrorKind::NotADirectory => Win32Error::PathNotFound,
            ErrorKind::AlreadyExists => Win32Error::FileExists,
            ErrorKind::IsADirectory => Win32Error::AccessDenied,
            ErrorKind::PermissionDenied => Win32Error::AccessDenied,
            _ => Win32Error::InvalidParameter,
        })?;
    // A directory (or device, FIFO...) opens on Linux, but is no file to map.
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(Win32Error::AccessDenied);
    }
    Ok((objects().insert(Object::File { file, writable }), existed))
}

/// The value meaning "no file: pagefile-backed" (INVALID_HANDLE_VALUE).
pub const NO_FILE: usize = usize::MAX;

/// CreateFileMapping. Returns the handle and whether the name already existed.
pub fn create_mapping(
    file_handle: usize,
    protect: DWORD,
    size_high: DWORD,
    size_low: DWORD,
    name: Option<&str>,
) -> Win32Result<(usize, bool)> {
    let mut objects = objects();
    // An existing name: parameters are not checked, another handle to it is returned.
    if let Some(existing) = name.and_then(|n| objects.names.get(n)?.upgrade()) {
        return Ok((objects.insert(Object::Mapping(existing)), true));
    }
    if let Some(name) = name {
        let path = shm_path(name);
        // Other processes may create and remove the name between our open and our create, each
        // time making progress themselves: retrying settles it (bounded, in case it does not).
        for round in 0..1024 {
            if round > 0 {
                std::thread::yield_now();
            }
            if let Some(mapping) = open_named(&path)? {
                return Ok((objects.publish(name, mapping), true));
            }
            if file_handle != NO_FILE {
                break; // a named file mapping is this process's own
            }
            check_pagefile(protect, size_high, size_low)?;
            if let Some(mapping) = create_named(&path, u64::from(size_low))? {
                return Ok((objects.publish(name, mapping), false));
            }
        }
        if file_handle == NO_FILE {
            return Err(Win32Error::NotEnoughMemory);
        }
    }
    let writable = match protect & !SEC_COMMIT {
        PAGE_READONLY => false,
        PAGE_READWRITE => true,
        _ => return Err(Win32Error::InvalidParameter),
    };
    let requested = (u64::from(size_high) << 32) | u64::from(size_low);
    let (file, size) = if file_handle == NO_FILE {
        check_pagefile(protect, size_high, size_low)?;
        let file = vm::os::anonymous_file().map_err(|_| Win32Error::NotEnoughMemory)?;
        file.set_len(requested)
            .map_err(|_| Win32Error::NotEnoughMemory)?;
        (file, requested)
    } else {
        let Some(Object::File {
            file,
            writable: file_writable,
        }) = objects.handles.get(&file_handle)
        else {
            return Err(Win32Error::InvalidHandle);
        };
        if writable && !file_writable {
            return Err(Win32Error::AccessDenied);
        }
        let length = file
            .metadata()
            .map_err(|_| Win32Error::InvalidHandle)?
            .len();
        let size = match requested {
            0 if length == 0 => return Err(Win32Error::InvalidParameter),
            0 => length,
            n if n > length && !writable => return Err(Win32Error::AccessDenied),
            n if n > length => {
                file.set_len(n).map_err(|_| Win32Error::DiskFull)?;
                n
            }
            n => n,
        };
        (
            file.try_clone().map_err(|_| Win32Error::NotEnoughMemory)?,
            size,
        )
    };
    let mapping = Mapping {
        file,
        size,
        writable,
        object: None,
    };
    Ok(match name {
        Some(name) => objects.publish(name, mapping),
        None => objects.insert(Object::Mapping(Arc::new(mapping))),
    })
    .map(|h| (h, false))
}

/// CE's rules for a pagefile-backed mapping being created.
fn check_pagefile(protect: DWORD, size_high: DWORD, size_low: DWORD) -> Win32Result<()> {
    if protect & !SEC_COMMIT != PAGE_READWRITE
        || size_high != 0
        || size_low == 0
        || size_low >= 0x8000_0000
    {
        return Err(Win32Error::InvalidParameter);
    }
    Ok(())
}

impl Objects {
    /// A handle to a named mapping, which later creates in this process find by name.
    fn publish(&mut self, name: &str, mapping: Mapping) -> usize {
        let mapping = Arc::new(mapping);
        self.names.insert(name.to_owned(), Arc::downgrade(&mapping));
        self.insert(Object::Mapping(mapping))
    }
}

/// Where named mappings' objects live: POSIX shared memory's directory.
const SHM_DIR: &str = "/dev/shm";

/// The object of an existing named mapping, with this process counted in; None when there is
/// none, or only one whose users all died (which is removed).
fn open_named(path: &Path) -> Win32Result<Option<Mapping>> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(_) => return Err(Win32Error::AccessDenied),
    };
    // Only our own kind of object: a regular file of this user (the directory is shared).
    let meta = file.metadata().map_err(|_| Win32Error::AccessDenied)?;
    if !meta.is_file() || meta.uid() != vm::os::user_id() || meta.len() == 0 {
        return Err(Win32Error::AccessDenied);
    }
    if vm::os::try_lock_exclusive(&file) {
        // Nobody uses it: its users died without closing. It goes, and the caller creates anew.
        remove_if_same(path, &file);
        return Ok(None);
    }
    vm::os::lock_shared(&file).map_err(|_| Win32Error::AccessDenied)?;
    // The last user may have removed it while we waited for the lock.
    let meta = file.metadata().map_err(|_| Win32Error::AccessDenied)?;
    if meta.nlink() == 0 {
        return Ok(None);
    }
    Ok(Some(Mapping {
        file,
        size: meta.len(),
        writable: true,
        object: Some(path.to_owned()),
    }))
}

/// A new named object of `size` bytes, made unnamed and linked in whole; None when another
/// process linked one there first.
fn create_named(path: &Path, size: u64) -> Win32Result<Option<Mapping>> {
    let file = vm::os::unnamed_file_in(SHM_DIR).map_err(|_| Win32Error::NotEnoughMemory)?;
    file.set_len(size)
        .map_err(|_| Win32Error::NotEnoughMemory)?;
    vm::os::lock_shared(&file).map_err(|_| Win32Error::NotEnoughMemory)?;
    match vm::os::link_file(&file, path) {
        Ok(()) => Ok(Some(Mapping {
            file,
            size,
            writable: true,
            object: Some(path.to_owned()),
        })),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(None),
        Err(_) => Err(Win32Error::NotEnoughMemory),
    }
}

/// Removes `path` if it still names `file` (not a newer object made since).
fn remove_if_same(path: &Path, file: &File) {
    let same =
        |p: &std::fs::Metadata, f: &std::fs::Metadata| p.ino() == f.ino() && p.dev() == f.dev();
    if let (Ok(p), Ok(f)) = (std::fs::symlink_metadata(path), file.metadata())
        && same(&p, &f)
    {
        let _ = std::fs::remove_file(path);
    }
}

/// The object path for a mapping name: per user, and safe whatever the name's characters.
fn shm_path(name: &str) -> PathBuf {
    let mut s = format!("{SHM_DIR}/coredll-{}-", vm::os::user_id());
    if name.len() <= 100 {
        for b in name.bytes() {
            s.push_str(&format!("{b:02x}"));
        }
    } else {
        // FNV-1a: names too long for the file system are hashed.
        let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        s.push_str(&format!("h{h:016x}-{}", name.len()));
    }
    PathBuf::from(s)
}

/// MapViewOfFile: the address of the view (the offset's distance into its 64 KB block past the
/// view's base).
pub fn map_view(
    handle: usize,
    access: DWORD,
    offset_high: DWORD,
    offset: DWORD,
    len: DWORD,
) -> Win32Result<usize> {
    let mut objects = objects();
    let Some(Object::Mapping(mapping)) = objects.handles.get(&handle) else {
        return Err(Win32Error::InvalidHandle);
    };
    let mapping = Arc::clone(mapping);
    let write = match access {
        FILE_MAP_ALL_ACCESS => true,
        a if a == 0 || a & !(FILE_MAP_READ | FILE_MAP_WRITE) != 0 => {
            return Err(Win32Error::InvalidParameter);
        }
        a => a & FILE_MAP_WRITE != 0,
    };
    if (write && !mapping.writable) || offset_high != 0 {
        return Err(Win32Error::InvalidParameter);
    }
    let offset = u64::from(offset);
    let len = match u64::from(len) {
        0 if offset < mapping.size => mapping.size - offset,
        0 => return Err(Win32Error::InvalidParameter),
        n if offset + n > mapping.size => return Err(Win32Error::InvalidParameter),
        n => n,
    };
    let block = offset & !(GRANULE as u64 - 1);
    let delta = (offset - block) as usize;
    let window = usize::from(vm::space().profile() == Profile::Ce5);
    let view_len = delta + len as usize;
    let base = vm::space().map_view(window, &mapping.file, block, view_len, write)?;
    objects.views.insert(
        base + delta,
        View {
            base,
            len: view_len,
            _mapping: mapping,
        },
    );
    Ok(base + delta)
}

/// UnmapViewOfFile: `addr` must be what MapViewOfFile returned.
pub fn unmap_view(addr: usize) -> Win32Result<()> {
    let mut objects = objects();
    let view = objects
        .views
        .get(&addr)
        .ok_or(Win32Error::InvalidParameter)?;
    vm::space().unmap_view(view.base)?;
    objects.views.remove(&addr);
    Ok(())
}

/// FlushViewOfFile: `[addr, addr+len)` inside one view (`len` 0: to its end).
pub fn flush_view(addr: usize, len: DWORD) -> Win32Result<()> {
    let objects = objects();
    let view = objects
        .views
        .values()
        .find(|v| addr >= v.base && addr < v.base + v.len)
        .ok_or(Win32Error::InvalidParameter)?;
    let end = match len {
        0 => view.base + view.len,
        n => addr
            .checked_add(n as usize)
            .ok_or(Win32Error::InvalidParameter)?,
    };
    if end > view.base + view.len {
        return Err(Win32Error::InvalidParameter);
    }
    let start = addr & !(PAGE - 1);
    // The view stays mapped while its entry exists; a concurrent unmap makes msync fail (ENOMEM),
    // which is the caller's race. No lock is held through the write-back.
    drop(objects);
    vm::os::sync(start, end - start).map_err(|_| Win32Error::InvalidParameter)
}

/// CloseHandle.
pub fn close(handle: usize) -> Win32Result<()> {
    let object = objects()
        .handles
        .remove(&handle)
        .ok_or(Win32Error::InvalidHandle)?;
    drop(object);
    Ok(())
}
