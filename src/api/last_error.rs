//! GetLastError / SetLastError.

use crate::error;
use crate::types::*;

/// Returns the calling thread's last-error code.
#[unsafe(no_mangle)]
pub extern "C" fn GetLastError() -> DWORD {
    error::last_error()
}

/// Sets the calling thread's last-error code, verbatim.
#[unsafe(no_mangle)]
pub extern "C" fn SetLastError(dwErrCode: DWORD) {
    error::set_last_error(dwErrCode)
}
