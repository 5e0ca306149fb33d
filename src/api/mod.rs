//! The C API: the only home of exported functions. Each converts raw arguments, calls an engine
//! and turns its `Result` into CE's failure return plus SetLastError.

#![allow(non_snake_case)]

pub mod heap;
pub mod last_error;
pub mod local;
pub mod mapping;
pub mod system;
pub mod toolhelp;
mod user;
pub mod virtual_mem;
