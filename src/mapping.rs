//! File mappings: the objects behind CreateFileForMapping/CreateFileMapping handles and the views
//! MapViewOfFile places in the emulated address space.
//!
//! A mapping is backed by a file descriptor: a memfd for an unnamed pagefile mapping, a POSIX
//! shared-memory object for a named one (so processes of the same user share it), or the file of
//! a CreateFileForMapping handle. A named object starts with one header page holding the count of
//! processes using it; the last one to let go unlinks the name.

use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak};

use crate::config::Profile;
use crate::error::{Win32Error, Win32Result};
use crate::types::*;
use crate::vm::{self, GRANULE, PAGE};

/// The header page of a named mapping's shared-memory object.
const HEADER: u64 = PAGE as u64;

struct Mapping {
    file: File,
    /// Where the mapping's bytes start in `file` (past the header of a named object).
    start: u64,
    size: u64,
    writable: bool,
    /// For a named mapping: its name, and its shared-memory object's name.
    name: Option<(String, CString)>,
    /// A named object's header page, mapped while this process uses the object.
    header: Option<vm::os::SharedHeader>,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if let (Some(header), Some((_, shm))) = (self.header.take(), &self.name)
            && header.leave()
        {
            vm::os::shm_unlink(shm);
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
    /// Keeps the mapping (and a named object's users count) alive while the view exists.
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
    OBJECTS.lock().unwrap_or_else(PoisonError::into_inner)
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

/// CreateFileForMappingW: a handle to an open file.
pub fn open_file(req: &OpenRequest) -> Win32Result<usize> {
    if req.access == 0 || req.access & !(GENERIC_READ | GENERIC_WRITE) != 0 || req.path.is_empty() {
        return Err(Win32Error::InvalidParameter);
    }
    let writable = req.access & GENERIC_WRITE != 0;
    let mut options = std::fs::OpenOptions::new();
    // Always readable at the system level: a shared mapping needs it, even for a view only written.
    options
        .read(true)
        .write(writable)
        .custom_flags(libc::O_CLOEXEC);
    match req.disposition {
        CREATE_NEW => options.create_new(true),
        CREATE_ALWAYS => options.create(true).truncate(true),
        OPEN_EXISTING => &mut options,
        OPEN_ALWAYS => options.create(true),
        TRUNCATE_EXISTING => options.truncate(true),
        _ => return Err(Win32Error::InvalidParameter),
    };
    if !writable
        && matches!(
            req.disposition,
            CREATE_NEW | CREATE_ALWAYS | OPEN_ALWAYS | TRUNCATE_EXISTING
        )
    {
        // Creating or truncating needs write access at the system level.
        options.write(true);
    }
    let file = options.open(req.path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => {
            let parent = std::path::Path::new(req.path).parent();
            if parent.is_some_and(|p| !p.as_os_str().is_empty() && !p.exists()) {
                Win32Error::PathNotFound
            } else {
                Win32Error::FileNotFound
            }
        }
        ErrorKind::AlreadyExists => Win32Error::FileExists,
        ErrorKind::PermissionDenied => Win32Error::AccessDenied,
        _ => Win32Error::InvalidParameter,
    })?;
    Ok(objects().insert(Object::File { file, writable }))
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
    let writable = match protect & !SEC_COMMIT {
        PAGE_READONLY => false,
        PAGE_READWRITE => true,
        _ => return Err(Win32Error::InvalidParameter),
    };
    let requested = (u64::from(size_high) << 32) | u64::from(size_low);
    let (mapping, existed) = if file_handle == NO_FILE {
        if size_high != 0 || size_low == 0 || size_low >= 0x8000_0000 || !writable {
            return Err(Win32Error::InvalidParameter);
        }
        match name {
            None => {
                let file = vm::os::anonymous_file().map_err(|_| Win32Error::NotEnoughMemory)?;
                file.set_len(requested)
                    .map_err(|_| Win32Error::NotEnoughMemory)?;
                let mapping = Mapping {
                    file,
                    start: 0,
                    size: requested,
                    writable,
                    name: None,
                    header: None,
                };
                (mapping, false)
            }
            Some(name) => open_named(name, requested)?,
        }
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
        let file = file.try_clone().map_err(|_| Win32Error::NotEnoughMemory)?;
        (
            Mapping {
                file,
                start: 0,
                size,
                writable,
                name: None,
                header: None,
            },
            false,
        )
    };
    let mapping = Arc::new(mapping);
    if let Some(name) = name {
        objects
            .names
            .insert(name.to_owned(), Arc::downgrade(&mapping));
    }
    Ok((objects.insert(Object::Mapping(mapping)), existed))
}

/// The shared-memory object of a named pagefile mapping: created with `size` bytes, or the one
/// another process made (then its size wins).
fn open_named(name: &str, size: u64) -> Win32Result<(Mapping, bool)> {
    // A process that exits without closing its handles must still count itself out, or the
    // name would outlive every process using it (as it never does on CE).
    static AT_EXIT: std::sync::Once = std::sync::Once::new();
    AT_EXIT.call_once(|| vm::os::at_exit(release_all_at_exit));
    let shm = shm_name(name);
    let (file, existed) = match vm::os::shm_open(&shm, true) {
        Ok(file) => {
            if file.set_len(HEADER + size).is_err() {
                vm::os::shm_unlink(&shm);
                return Err(Win32Error::NotEnoughMemory);
            }
            (file, false)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => (
            vm::os::shm_open(&shm, false).map_err(|_| Win32Error::AccessDenied)?,
            true,
        ),
        Err(_) => return Err(Win32Error::NotEnoughMemory),
    };
    let total = file
        .metadata()
        .map_err(|_| Win32Error::NotEnoughMemory)?
        .len();
    let header = vm::os::SharedHeader::join(&file).map_err(|_| Win32Error::NotEnoughMemory)?;
    let mapping = Mapping {
        file,
        start: HEADER,
        size: total.saturating_sub(HEADER),
        writable: true,
        name: Some((name.to_owned(), shm)),
        header: Some(header),
    };
    Ok((mapping, existed))
}

/// Drops every handle and view of this process, so named objects count it out.
extern "C" fn release_all_at_exit() {
    let mut objects = objects();
    objects.handles.clear();
    objects.views.clear();
}

/// A shared-memory name for a mapping name: per user, and safe whatever the name's characters.
fn shm_name(name: &str) -> CString {
    let mut s = format!("/coredll-{}-", vm::os::user_id());
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
    CString::new(s).expect("no NUL in a hex name")
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
    let base = vm::space().map_view(
        window,
        &mapping.file,
        mapping.start + block,
        view_len,
        write,
    )?;
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
