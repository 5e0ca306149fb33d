//! `coredll-run [options] -- program [args...]`: runs a program with coredll preloaded (added
//! to any LD_PRELOAD it already has) and the device settings given as flags, and exits with the
//! program's status (128 + the signal if a signal ended it).
//!
//! Options (each sets the environment variable in brackets):
//!   --profile ce5|ce6        the CE version emulated        [COREDLL_PROFILE]
//!   --ram SIZE               emulated RAM, e.g. 16M         [COREDLL_RAM]
//!   --fail SPEC              fault injection, e.g. nth:100  [COREDLL_FAIL]
//!   --report[=FILE]          the report at exit (stderr)    [COREDLL_REPORT]
//!   --autocommit lazy|strict MEM_AUTO_COMMIT mode           [COREDLL_AUTOCOMMIT]
//!   --pageheap               every heap block before a guard page [COREDLL_PAGEHEAP]
//!   --lib PATH               the coredll library to preload (default: next to this program,
//!                            or ../lib/libcoredll.so.0 from it)

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: coredll-run [--profile ce5|ce6] [--ram SIZE] [--fail SPEC] \
[--report[=FILE]] [--autocommit lazy|strict] [--pageheap] [--lib PATH] -- program [args...]";

fn usage(msg: &str) -> ExitCode {
    eprintln!("coredll-run: {msg}\n{USAGE}");
    ExitCode::from(2)
}

/// The library next to this program (a cargo build) or in the lib directory beside its bin
/// directory (an installation).
fn default_lib() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    let multiarch = format!(
        "../lib/{}-linux-gnu/libcoredll.so.0",
        std::env::consts::ARCH
    );
    [
        dir.join("libcoredll.so"),
        // `cargo test` builds the library here without copying it up.
        dir.join("deps/libcoredll.so"),
        dir.join("../lib/libcoredll.so.0"),
        dir.join("../lib64/libcoredll.so.0"),
        dir.join(multiarch),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let mut env: Vec<(&str, OsString)> = Vec::new();
    let mut lib: Option<PathBuf> = None;
    let mut program: Vec<OsString> = Vec::new();
    while let Some(a) = args.next() {
        let Some(s) = a.to_str() else {
            return usage(&format!("unknown option {a:?}"));
        };
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let set = match s {
            "--" => {
                program.extend(args.by_ref());
                break;
            }
            "--profile" => value(s).map(|v| env.push(("COREDLL_PROFILE", v))),
            "--ram" => value(s).map(|v| env.push(("COREDLL_RAM", v))),
            "--fail" => value(s).map(|v| env.push(("COREDLL_FAIL", v))),
            "--autocommit" => value(s).map(|v| env.push(("COREDLL_AUTOCOMMIT", v))),
            "--lib" => value(s).map(|v| lib = Some(PathBuf::from(v))),
            "--pageheap" => {
                env.push(("COREDLL_PAGEHEAP", "1".into()));
                Ok(())
            }
            "--report" => {
                env.push(("COREDLL_REPORT", "1".into()));
                Ok(())
            }
            _ if s.starts_with("--report=") => {
                env.push(("COREDLL_REPORT", s["--report=".len()..].into()));
                Ok(())
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => Err(format!("unknown option {s:?}")),
        };
        if let Err(msg) = set {
            return usage(&msg);
        }
    }
    if program.is_empty() {
        return usage("no program to run");
    }
    let Some(lib) = lib.or_else(default_lib) else {
        return usage("cannot find libcoredll.so next to coredll-run; give --lib");
    };
    if !lib.is_file() {
        return usage(&format!("no library at {}", lib.display()));
    }
    let lib = std::fs::canonicalize(&lib).unwrap_or(lib);
    let mut preload = std::env::var_os("LD_PRELOAD").unwrap_or_default();
    if !preload.is_empty() {
        preload.push(":");
    }
    preload.push(lib.as_os_str());
    let mut cmd = Command::new(&program[0]);
    cmd.args(&program[1..]).env("LD_PRELOAD", preload);
    for (k, v) in env {
        cmd.env(k, v);
    }
    match cmd.status() {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => ExitCode::from(code as u8),
            (None, Some(sig)) => ExitCode::from((128 + sig) as u8),
            _ => ExitCode::FAILURE,
        },
        Err(e) => {
            eprintln!("coredll-run: cannot run {:?}: {e}", program[0]);
            ExitCode::from(127)
        }
    }
}
