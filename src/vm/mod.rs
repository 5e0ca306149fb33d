//! The page manager: one emulated CE process address space, reserved once as inaccessible host
//! memory below 4 GB and sub-allocated with CE's 64 KB granules and 4 KB pages.

mod fault;
pub mod os;
pub mod ram;
mod space;
mod window;

#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod model_tests;

use std::sync::LazyLock;

pub use fault::set_exception_handler;
pub use space::Space;

use crate::types::*;

/// CE's page size, whatever the host's.
pub(crate) const PAGE: usize = 0x1000;
/// CE's allocation granularity: reservations start on and cover whole 64 KB blocks.
pub(crate) const GRANULE: usize = 0x1_0000;
pub(crate) const PAGES_PER_GRANULE: usize = GRANULE / PAGE;
/// The lowest address CE hands out or queries.
pub(crate) const MIN_ADDRESS: usize = 0x1_0000;
/// The top of CE's user space: addresses at or above it are kernel addresses.
pub(crate) const CE_CEILING: usize = 0x8000_0000;

/// The process's address space, placed at first use.
pub fn space() -> &'static Space {
    static SPACE: LazyLock<Space> = LazyLock::new(|| {
        // Before any page can fault: the fault handler counts pages but may not set things up.
        ram::ram();
        // The exit report covers programs that never use a heap too.
        crate::report::active();
        Space::new(crate::config::profile(), crate::config::auto_commit())
    });
    crate::fork::register();
    &SPACE
}

/// A CE page protection: one base value plus the GUARD and NOCACHE modifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Protection {
    base: Base,
    guard: bool,
    nocache: bool,
}

/// The base protections VirtualAlloc and VirtualProtect accept (no WRITECOPY on CE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Base {
    NoAccess = 0,
    ReadOnly = 1,
    ReadWrite = 2,
    Execute = 3,
    ExecuteRead = 4,
    ExecuteReadWrite = 5,
}

const BASES: [(Base, DWORD); 6] = [
    (Base::NoAccess, PAGE_NOACCESS),
    (Base::ReadOnly, PAGE_READONLY),
    (Base::ReadWrite, PAGE_READWRITE),
    (Base::Execute, PAGE_EXECUTE),
    (Base::ExecuteRead, PAGE_EXECUTE_READ),
    (Base::ExecuteReadWrite, PAGE_EXECUTE_READWRITE),
];

// The page state byte. For reserved pages the protection bits hold the reservation's
// protection, so an auto-commit page knows what it becomes without another table.
pub(crate) const PROT_BITS: u8 = 0x07;
pub(crate) const COMMITTED: u8 = 0x08;
pub(crate) const GUARD: u8 = 0x10;
pub(crate) const NOCACHE: u8 = 0x20;
/// The page belongs to a MEM_AUTO_COMMIT reservation.
pub(crate) const AUTO: u8 = 0x40;
/// Transitional ownership of a page between a writer and the fault handler (see `fault`).
pub(crate) const BUSY: u8 = 0x80;
/// What VirtualQuery compares to split regions.
pub(crate) const REPORTED: u8 = PROT_BITS | COMMITTED | GUARD | NOCACHE;

impl Protection {
    pub const READWRITE: Protection = Protection {
        base: Base::ReadWrite,
        guard: false,
        nocache: false,
    };
    pub const READONLY: Protection = Protection {
        base: Base::ReadOnly,
        guard: false,
        nocache: false,
    };

    /// CE's rule: exactly one base value, optionally with PAGE_GUARD and/or PAGE_NOCACHE, which
    /// PAGE_NOACCESS takes neither of. Anything else is not a protection.
    pub fn from_win32(flags: DWORD) -> Option<Protection> {
        let guard = flags & PAGE_GUARD != 0;
        let nocache = flags & PAGE_NOCACHE != 0;
        let base_flags = flags & !(PAGE_GUARD | PAGE_NOCACHE);
        let base = BASES.iter().find(|&&(_, f)| f == base_flags)?.0;
        if base == Base::NoAccess && (guard || nocache) {
            return None;
        }
        Some(Protection {
            base,
            guard,
            nocache,
        })
    }

    pub fn to_win32(self) -> DWORD {
        let mut flags = BASES[self.base as usize].1;
        if self.guard {
            flags |= PAGE_GUARD;
        }
        if self.nocache {
            flags |= PAGE_NOCACHE;
        }
        flags
    }

    pub(crate) fn bits(self) -> u8 {
        self.base as u8
            | if self.guard { GUARD } else { 0 }
            | if self.nocache { NOCACHE } else { 0 }
    }

    pub(crate) fn from_bits(byte: u8) -> Protection {
        Protection {
            base: BASES[usize::from(byte & PROT_BITS).min(BASES.len() - 1)].0,
            guard: byte & GUARD != 0,
            nocache: byte & NOCACHE != 0,
        }
    }

    /// The host protection of a committed page: a guard page is inaccessible until it fires.
    pub(crate) fn host(self) -> os::Prot {
        if self.guard {
            return os::PROT_NONE;
        }
        match self.base {
            Base::NoAccess => os::PROT_NONE,
            Base::ReadOnly => os::PROT_READ,
            Base::ReadWrite => os::PROT_READ | os::PROT_WRITE,
            // x86 cannot map execute-only pages, and CE on x86 reads PAGE_EXECUTE as EXECUTE_READ.
            Base::Execute | Base::ExecuteRead => os::PROT_READ | os::PROT_EXEC,
            Base::ExecuteReadWrite => os::PROT_READ | os::PROT_WRITE | os::PROT_EXEC,
        }
    }

    /// Whether a committed page with this base protection allows `access` (PAGE_GUARD aside:
    /// the library's own accesses never fire it).
    pub fn allows(self, access: os::Access) -> bool {
        match access {
            os::Access::Read => self.base != Base::NoAccess,
            os::Access::Write => matches!(self.base, Base::ReadWrite | Base::ExecuteReadWrite),
        }
    }

    pub fn allows_execute(self) -> bool {
        matches!(
            self.base,
            Base::Execute | Base::ExecuteRead | Base::ExecuteReadWrite
        )
    }

    pub fn is_guard(self) -> bool {
        self.guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protection_validation_follows_ce() {
        for (_, f) in BASES {
            assert_eq!(Protection::from_win32(f).unwrap().to_win32(), f);
        }
        let rw_guard = PAGE_READWRITE | PAGE_GUARD | PAGE_NOCACHE;
        assert_eq!(
            Protection::from_win32(rw_guard).unwrap().to_win32(),
            rw_guard
        );
        for bad in [
            0,
            PAGE_WRITECOPY,
            PAGE_EXECUTE_WRITECOPY,
            PAGE_READONLY | PAGE_READWRITE,
            PAGE_NOACCESS | PAGE_GUARD,
            PAGE_NOACCESS | PAGE_NOCACHE,
            PAGE_GUARD,
            PAGE_READWRITE | PAGE_PHYSICAL,
            PAGE_READWRITE | 0x4000_0000,
        ] {
            assert_eq!(Protection::from_win32(bad), None, "{bad:#x}");
        }
    }

    #[test]
    fn bits_round_trip() {
        let p = Protection::from_win32(PAGE_EXECUTE_READ | PAGE_GUARD).unwrap();
        assert_eq!(Protection::from_bits(p.bits() | COMMITTED | AUTO), p);
    }
}
