//! Win32 error codes as engine results, and the thread-local last error behind
//! `GetLastError`/`SetLastError`.

use core::cell::Cell;

use crate::types::*;

/// A failure the engine reports; the API layer turns it into a failure return plus SetLastError.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Win32Error {
    FileNotFound = ERROR_FILE_NOT_FOUND,
    PathNotFound = ERROR_PATH_NOT_FOUND,
    AccessDenied = ERROR_ACCESS_DENIED,
    InvalidHandle = ERROR_INVALID_HANDLE,
    NotEnoughMemory = ERROR_NOT_ENOUGH_MEMORY,
    BadLength = ERROR_BAD_LENGTH,
    FileExists = ERROR_FILE_EXISTS,
    InvalidParameter = ERROR_INVALID_PARAMETER,
    DiskFull = ERROR_DISK_FULL,
    InvalidAddress = ERROR_INVALID_ADDRESS,
    NotSupported = ERROR_NOT_SUPPORTED,
    NoMoreFiles = ERROR_NO_MORE_FILES,
    NoMoreItems = ERROR_NO_MORE_ITEMS,
    NotOwner = ERROR_NOT_OWNER,
}

impl Win32Error {
    pub fn code(self) -> DWORD {
        self as DWORD
    }
}

pub type Win32Result<T> = Result<T, Win32Error>;

thread_local! {
    // Const-initialised and without a destructor: no allocation, safe in any thread.
    static LAST_ERROR: Cell<DWORD> = const { Cell::new(0) };
}

pub fn set_last_error(code: DWORD) {
    LAST_ERROR.with(|e| e.set(code));
}

pub fn last_error() -> DWORD {
    LAST_ERROR.with(|e| e.get())
}

/// Turns an engine result into a C return value, setting the last error on failure only.
pub trait ResultExt<T> {
    /// The value, or `fail` with the error recorded.
    fn or_fail(self, fail: T) -> T;
}

impl<T> ResultExt<T> for Win32Result<T> {
    fn or_fail(self, fail: T) -> T {
        match self {
            Ok(v) => v,
            Err(e) => {
                set_last_error(e.code());
                fail
            }
        }
    }
}

/// Maps a success flag to CE's BOOL.
pub fn to_bool(r: Win32Result<()>) -> BOOL {
    r.map(|()| 1).or_fail(0)
}
