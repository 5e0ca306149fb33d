//! Emulated physical RAM (`COREDLL_RAM`): committed pages counted against a budget, with CE's
//! low-memory rules (CE-SEMANTICS §18: below the low threshold only commits of a few pages
//! succeed, below the critical one fewer) and the hibernate moment, when free memory first drops
//! below a level and the application is asked to release what it can.
//!
//! Pages count when committed explicitly (VirtualAlloc, heaps) or, in strict auto-commit mode,
//! on first touch; lazy auto-commit pages are not seen when touched, so they do not count.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use crate::error::{Win32Error, Win32Result};

use super::PAGE;

pub struct Ram {
    /// The budget in pages; None: unlimited (the host's memory).
    budget: Option<usize>,
    committed: AtomicUsize,
    peak: AtomicUsize,
    /// SetOOMEvent's cpLow, cpCritical, cpLowBlockSize, cpCriticalBlockSize (pages).
    low: AtomicUsize,
    critical: AtomicUsize,
    low_block: AtomicUsize,
    critical_block: AtomicUsize,
    /// The hibernate level (pages free) and handler; `armed` while free memory is above it.
    hibernate_level: AtomicUsize,
    hibernate: AtomicUsize,
    armed: AtomicBool,
    pending: AtomicBool,
}

impl Ram {
    fn from_env() -> Ram {
        let budget = std::env::var("COREDLL_RAM").ok().and_then(|v| {
            if v.trim().is_empty() {
                return None;
            }
            match crate::config::parse_size(&v) {
                Some(b) if b >= PAGE as u64 => Some((b / PAGE as u64) as usize),
                _ => {
                    eprintln!("coredll: COREDLL_RAM={v:?} is not a size such as 64M; unlimited");
                    None
                }
            }
        });
        Ram {
            budget,
            committed: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            low: AtomicUsize::new(32),
            critical: AtomicUsize::new(20),
            low_block: AtomicUsize::new(4),
            critical_block: AtomicUsize::new(2),
            hibernate_level: AtomicUsize::new(40),
            hibernate: AtomicUsize::new(0),
            armed: AtomicBool::new(true),
            pending: AtomicBool::new(false),
        }
    }

    /// The budget in pages, if one is set.
    pub fn budget(&self) -> Option<usize> {
        self.budget
    }

    pub fn committed(&self) -> usize {
        self.committed.load(Relaxed)
    }

    /// The most pages committed at once so far.
    pub fn peak(&self) -> usize {
        self.peak.load(Relaxed)
    }

    fn free(&self) -> Option<usize> {
        Some(self.budget?.saturating_sub(self.committed()))
    }

    /// Whether `n` more pages may be committed now (CE 5's HoldPages rule).
    pub fn admit(&self, n: usize) -> Win32Result<()> {
        let Some(free) = self.free() else {
            return Ok(());
        };
        if n == 0 {
            return Ok(());
        }
        let (low, critical) = (self.low.load(Relaxed), self.critical.load(Relaxed));
        let refused = n > free
            || (n + low > free
                && ((n > self.low_block.load(Relaxed) && n + low > free)
                    || (n > self.critical_block.load(Relaxed) && n + critical > free)));
        if refused {
            Err(Win32Error::NotEnoughMemory)
        } else {
            Ok(())
        }
    }

    /// `n` pages were committed. Async-signal-safe (the strict auto-commit handler calls it).
    pub fn add(&self, n: usize) {
        if n == 0 {
            return;
        }
        let now = self.committed.fetch_add(n, Relaxed) + n;
        self.peak.fetch_max(now, Relaxed);
        if let Some(budget) = self.budget
            && budget.saturating_sub(now) < self.hibernate_level.load(Relaxed)
            && self.armed.swap(false, Relaxed)
        {
            self.pending.store(true, Relaxed);
        }
    }

    /// `n` pages were decommitted or released.
    pub fn sub(&self, n: usize) {
        if n == 0 {
            return;
        }
        let now = self.committed.fetch_sub(n, Relaxed).saturating_sub(n);
        if let Some(budget) = self.budget
            && budget.saturating_sub(now) >= self.hibernate_level.load(Relaxed)
        {
            self.armed.store(true, Relaxed);
        }
    }

    /// SetOOMEvent's thresholds.
    pub fn set_thresholds(
        &self,
        low: usize,
        critical: usize,
        low_block: usize,
        critical_block: usize,
    ) {
        self.low.store(low, Relaxed);
        self.critical.store(critical, Relaxed);
        self.low_block.store(low_block, Relaxed);
        self.critical_block.store(critical_block, Relaxed);
    }

    /// The hibernate handler (a C function pointer as usize, 0 for none) and level in pages.
    pub fn set_hibernate(&self, handler: usize, level: usize) {
        self.hibernate_level.store(level, Relaxed);
        self.hibernate.store(handler, Relaxed);
        let free = self.free().unwrap_or(usize::MAX);
        self.armed.store(free >= level, Relaxed);
        self.pending.store(false, Relaxed);
    }

    /// Whether a hibernate call is due (cheap: one load).
    #[inline(always)]
    pub fn hibernate_pending(&self) -> bool {
        self.pending.load(Relaxed)
    }

    /// The hibernate handler to call now, once, if free memory has just dropped below its level.
    /// Callers run it with no lock held.
    pub fn take_hibernate(&self) -> Option<usize> {
        if !self.pending.load(Relaxed) || !self.pending.swap(false, Relaxed) {
            return None;
        }
        let h = self.hibernate.load(Relaxed);
        (h != 0).then_some(h)
    }
}

static RAM: OnceLock<Ram> = OnceLock::new();

/// The process's RAM accounting, set up at first use (the address space sets it up first).
pub fn ram() -> &'static Ram {
    RAM.get_or_init(Ram::from_env)
}

/// The accounting if it is set up: for the fault handler, which must not initialise anything.
pub fn ram_if_ready() -> Option<&'static Ram> {
    RAM.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_budget(pages: usize) -> Ram {
        Ram {
            budget: Some(pages),
            ..Ram::from_env()
        }
    }

    #[test]
    fn low_memory_rules_as_ce() {
        let r = with_budget(100);
        r.add(100 - 40); // 40 free: above low (32)
        assert!(r.admit(8).is_ok());
        assert!(
            r.admit(9).is_err(),
            "8 + 32 = 40 is the last that fits normally"
        );
        r.add(10); // 30 free: below low, above critical
        assert!(r.admit(4).is_ok(), "16 KB still goes");
        assert!(r.admit(5).is_err(), "more than 16 KB does not");
        r.add(12); // 18 free: below critical
        assert!(r.admit(2).is_ok(), "8 KB still goes");
        assert!(r.admit(3).is_err(), "more than 8 KB does not");
        r.sub(82);
        assert!(r.admit(60).is_ok());
        assert!(r.admit(101).is_err());
        assert!(with_budget(1).admit(0).is_ok());
    }

    #[test]
    fn hibernate_fires_once_per_crossing() {
        let r = with_budget(100);
        r.set_hibernate(0x1234, 40);
        r.add(50);
        assert_eq!(r.take_hibernate(), None);
        r.add(20); // 30 free
        assert_eq!(r.take_hibernate(), Some(0x1234));
        assert_eq!(r.take_hibernate(), None);
        r.add(5);
        assert_eq!(r.take_hibernate(), None, "still below: not again");
        r.sub(40); // 75 free: re-armed
        r.add(40);
        assert_eq!(r.take_hibernate(), Some(0x1234));
        assert_eq!(crate::config::parse_size("64M"), Some(64 << 20));
        assert_eq!(crate::config::parse_size("512k"), Some(512 << 10));
        assert_eq!(crate::config::parse_size("x"), None);
    }
}
