//! CreateFileForMappingW, CreateFileMappingW/A, MapViewOfFile, UnmapViewOfFile, FlushViewOfFile,
//! CloseHandle.

use core::ptr::null_mut;

use super::user;
use crate::config::Profile;
use crate::error::{ResultExt, Win32Error, Win32Result, set_last_error, to_bool};
use crate::mapping::{self, NO_FILE, OpenRequest};
use crate::types::*;

/// Opens or creates a file (UTF-16 path) for CreateFileMapping; INVALID_HANDLE_VALUE on failure.
/// On success the last error is 0, or ERROR_ALREADY_EXISTS when CREATE_ALWAYS or OPEN_ALWAYS
/// found the file there.
#[unsafe(no_mangle)]
pub extern "C" fn CreateFileForMappingW(
    lpFileName: LPCWSTR,
    dwDesiredAccess: DWORD,
    _dwShareMode: DWORD,
    _lpSecurityAttributes: LPSECURITY_ATTRIBUTES,
    dwCreationDisposition: DWORD,
    _dwFlagsAndAttributes: DWORD,
    _hTemplateFile: HANDLE,
) -> HANDLE {
    let opened = user::read_wide_string(lpFileName).and_then(|path| {
        let path = path.ok_or(Win32Error::InvalidParameter)?;
        mapping::open_file(&OpenRequest {
            path: &path,
            access: dwDesiredAccess,
            disposition: dwCreationDisposition,
        })
    });
    match opened {
        Ok((handle, existed)) => {
            // As CE's CreateFile: an existing file under CREATE_ALWAYS/OPEN_ALWAYS is reported.
            set_last_error(if existed {
                ERROR_ALREADY_EXISTS
            } else {
                ERROR_SUCCESS
            });
            handle as HANDLE
        }
        Err(e) => Err::<HANDLE, _>(e).or_fail(usize::MAX as HANDLE),
    }
}

fn create_mapping(
    file: HANDLE,
    protect: DWORD,
    high: DWORD,
    low: DWORD,
    name: Win32Result<Option<String>>,
) -> HANDLE {
    let file = if file as usize == usize::MAX {
        NO_FILE
    } else {
        file as usize
    };
    match name.and_then(|name| mapping::create_mapping(file, protect, high, low, name.as_deref())) {
        Ok((handle, existed)) => {
            // CE sets the last error on success too.
            set_last_error(if existed {
                ERROR_ALREADY_EXISTS
            } else {
                ERROR_SUCCESS
            });
            handle as HANDLE
        }
        Err(e) => {
            set_last_error(e.code());
            null_mut()
        }
    }
}

/// Creates or opens a file mapping: pagefile-backed when `hFile` is INVALID_HANDLE_VALUE
/// (named ones are shared between processes of the same user), else of a file opened with
/// CreateFileForMappingW. Sets the last error to 0, or ERROR_ALREADY_EXISTS for an existing
/// name, on success.
#[unsafe(no_mangle)]
pub extern "C" fn CreateFileMappingW(
    hFile: HANDLE,
    _lpFileMappingAttributes: LPSECURITY_ATTRIBUTES,
    flProtect: DWORD,
    dwMaximumSizeHigh: DWORD,
    dwMaximumSizeLow: DWORD,
    lpName: LPCWSTR,
) -> HANDLE {
    let name = user::read_wide_string(lpName);
    create_mapping(hFile, flProtect, dwMaximumSizeHigh, dwMaximumSizeLow, name)
}

/// CreateFileMappingW with an 8-bit name (a convenience; CE exports only the W form).
#[unsafe(no_mangle)]
pub extern "C" fn CreateFileMappingA(
    hFile: HANDLE,
    _lpFileMappingAttributes: LPSECURITY_ATTRIBUTES,
    flProtect: DWORD,
    dwMaximumSizeHigh: DWORD,
    dwMaximumSizeLow: DWORD,
    lpName: LPCSTR,
) -> HANDLE {
    let name = user::read_narrow_string(lpName);
    create_mapping(hFile, flProtect, dwMaximumSizeHigh, dwMaximumSizeLow, name)
}

/// Maps a view of a file mapping into the emulated address space; NULL on failure.
#[unsafe(no_mangle)]
pub extern "C" fn MapViewOfFile(
    hFileMappingObject: HANDLE,
    dwDesiredAccess: DWORD,
    dwFileOffsetHigh: DWORD,
    dwFileOffsetLow: DWORD,
    dwNumberOfBytesToMap: DWORD,
) -> LPVOID {
    mapping::map_view(
        hFileMappingObject as usize,
        dwDesiredAccess,
        dwFileOffsetHigh,
        dwFileOffsetLow,
        dwNumberOfBytesToMap,
    )
    .map(|p| p as LPVOID)
    .or_fail(null_mut())
}

/// Unmaps a view; `lpBaseAddress` must be exactly what MapViewOfFile returned.
#[unsafe(no_mangle)]
pub extern "C" fn UnmapViewOfFile(lpBaseAddress: LPCVOID) -> BOOL {
    to_bool(mapping::unmap_view(lpBaseAddress as usize).map_err(|e| {
        // CE 5 reports a non-view address as ERROR_INVALID_ADDRESS.
        match crate::config::profile() {
            Profile::Ce5 if e == Win32Error::InvalidParameter => Win32Error::InvalidAddress,
            _ => e,
        }
    }))
}

/// Writes a view's dirty pages back to its file; the range must lie in one view (0: to its end).
#[unsafe(no_mangle)]
pub extern "C" fn FlushViewOfFile(lpBaseAddress: LPCVOID, dwNumberOfBytesToFlush: DWORD) -> BOOL {
    to_bool(mapping::flush_view(
        lpBaseAddress as usize,
        dwNumberOfBytesToFlush,
    ))
}

/// Closes a file or file-mapping handle (a mapping lives on while views of it exist).
#[unsafe(no_mangle)]
pub extern "C" fn CloseHandle(hObject: HANDLE) -> BOOL {
    // Toolhelp snapshots are handles too.
    if crate::heap::snapshot::close(hObject as usize) {
        return 1;
    }
    to_bool(mapping::close(hObject as usize))
}
