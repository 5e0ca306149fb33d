//! coredll: the memory half of Windows CE's coredll.dll for Linux hosts.
//!
//! CE's virtual-memory API (64 KB reservations, 4 KB pages, CE's error codes) over a pure-Rust page
//! manager that emulates one CE process address space below 4 GB. The C API lives in [`api`]; the
//! engines below it return `Result<_, Win32Error>` and never see caller pointers or the last error.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod api;
mod config;
mod error;
mod fork;
mod heap;
mod inject;
mod mapping;
mod report;
#[cfg(test)]
mod test_rng;
pub mod types;
mod vm;
