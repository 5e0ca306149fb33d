//! The emulated CE version, chosen once per process from `COREDLL_PROFILE`.

use std::sync::OnceLock;

/// Which CE's address space and rules a process gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// CE 5.0: one 32 MB slot plus the shared large-memory area.
    Ce5,
    /// CE 6.0 / 7: a 1 GB user space (the default).
    Ce6,
}

/// A range of emulated CE addresses the page manager places a window at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Area {
    pub base: usize,
    pub end: usize,
}

impl Profile {
    /// Reads `COREDLL_PROFILE`; an unknown value is reported once and the default used.
    fn from_env() -> Profile {
        match std::env::var("COREDLL_PROFILE") {
            Err(_) => Profile::Ce6,
            Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                "" | "ce6" | "ce7" => Profile::Ce6,
                "ce5" => Profile::Ce5,
                other => {
                    eprintln!("coredll: COREDLL_PROFILE={other:?} is not ce5 or ce6; using ce6");
                    Profile::Ce6
                }
            },
        }
    }

    /// The CE address ranges of this profile's windows; the first is the process space.
    pub fn areas(self) -> &'static [Area] {
        match self {
            Profile::Ce6 => &[Area {
                base: 0x0001_0000,
                end: 0x4000_0000,
            }],
            Profile::Ce5 => &[
                Area {
                    base: 0x0001_0000,
                    end: 0x0200_0000,
                },
                // The large-memory area shared by all CE 5 processes (huge reservations).
                Area {
                    base: 0x4200_0000,
                    end: 0x7C00_0000,
                },
            ],
        }
    }

    /// GlobalMemoryStatus' dwTotalVirtual.
    pub fn total_virtual(self) -> u32 {
        match self {
            Profile::Ce5 => 32 << 20,
            Profile::Ce6 => 1 << 30,
        }
    }
}

/// How MEM_AUTO_COMMIT pages commit themselves, from `COREDLL_AUTOCOMMIT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoCommit {
    /// Mapped read-write up front; a page is committed once resident. No signal handling, and
    /// kernel accesses (read() into the buffer) just work.
    Lazy,
    /// Inaccessible until touched; the SIGSEGV handler commits each page, so accounting is exact.
    Strict,
}

impl AutoCommit {
    fn from_env() -> AutoCommit {
        match std::env::var("COREDLL_AUTOCOMMIT") {
            Err(_) => AutoCommit::Lazy,
            Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                "" | "lazy" => AutoCommit::Lazy,
                "strict" => AutoCommit::Strict,
                other => {
                    eprintln!(
                        "coredll: COREDLL_AUTOCOMMIT={other:?} is not lazy or strict; using lazy"
                    );
                    AutoCommit::Lazy
                }
            },
        }
    }
}

/// The process's auto-commit mode, read at first use.
pub fn auto_commit() -> AutoCommit {
    static MODE: OnceLock<AutoCommit> = OnceLock::new();
    *MODE.get_or_init(AutoCommit::from_env)
}

/// The process's profile, read at first use.
pub fn profile() -> Profile {
    static PROFILE: OnceLock<Profile> = OnceLock::new();
    *PROFILE.get_or_init(Profile::from_env)
}

/// Bytes from a setting such as "64M", "512K", "1G" or a plain number.
pub fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim();
    let (digits, unit) = match v.char_indices().last()? {
        (i, 'k' | 'K') => (&v[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&v[..i], 1 << 20),
        (i, 'g' | 'G') => (&v[..i], 1 << 30),
        _ => (v, 1),
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(unit)
}
