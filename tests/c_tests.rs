//! Runs the C conformance suite in `c-tests/`.
//!
//! Each `c-tests/*.c` is compiled with the `cc` crate's compiler (`-std=gnu11 -Wall -Wextra -Werror
//! -I include -pthread`), linked against the `libcoredll.so` that cargo built next to this test
//! binary (`target/<profile>/deps`, found through `current_exe()`, with an rpath to it), and run.
//! A file named `*_ce5.c` runs with `COREDLL_PROFILE=ce5`; every other file runs with
//! `COREDLL_PROFILE` removed from the environment (the default profile, ce6). A file named
//! `*_strict.c` runs with `COREDLL_AUTOCOMMIT=strict`; every other file runs with
//! `COREDLL_AUTOCOMMIT` removed from the environment (the default mode, lazy).
//!
//! A program passes when it exits with status 0 and its last line is exactly `N passed, M failed`
//! with M = 0. There is one `#[test]` per C file (they run in parallel: each compiles to its own
//! executable in `CARGO_TARGET_TMPDIR`), plus `every_c_test_is_run`, which fails when a
//! `c-tests/*.c` has no `#[test]` here, and `all_c_tests`, ignored by default, which runs every
//! file found and lists the failing ones (`cargo test --test c_tests -- --ignored`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a single C test program may run before it is killed and counted as failed.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>/deps`, which holds `libcoredll.so` built for this test run.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .expect("test binary has a parent directory")
        .to_path_buf()
}

fn target_triple() -> String {
    format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
}

/// Every `c-tests/*.c`, sorted.
fn c_files() -> Vec<PathBuf> {
    let dir = manifest_dir().join("c-tests");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    v.sort();
    v
}

/// What happened to one C program.
struct Outcome {
    ok: bool,
    /// One-line reason when not ok.
    reason: String,
}

fn compile(src: &Path, exe: &Path) -> Result<(), String> {
    let t = target_triple();
    let mut cmd = cc::Build::new()
        .target(&t)
        .host(&t)
        .opt_level(0)
        .cargo_metadata(false)
        .warnings(true)
        .get_compiler()
        .to_command();
    let lib = lib_dir();
    if !lib.join("libcoredll.so").exists() {
        return Err(format!(
            "{} does not exist (cdylib not built?)",
            lib.join("libcoredll.so").display()
        ));
    }
    cmd.arg("-std=gnu11")
        .args(["-Wall", "-Wextra", "-Werror"])
        .arg("-I")
        .arg(manifest_dir().join("include"))
        .arg("-pthread")
        .arg(src)
        .arg("-o")
        .arg(exe)
        .arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lcoredll");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run the C compiler: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "compile failed ({:?}):\n{}{}",
            cmd,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// The environment a C program runs with, from its file stem: `(variable, Some(value))` to set,
/// `(variable, None)` to remove. `*_ce5` sets `COREDLL_PROFILE=ce5` and `*_strict` sets
/// `COREDLL_AUTOCOMMIT=strict`; otherwise the variable is removed (the default).
fn run_env(stem: &str) -> [(&'static str, Option<&'static str>); 2] {
    [
        ("COREDLL_PROFILE", stem.ends_with("_ce5").then_some("ce5")),
        (
            "COREDLL_AUTOCOMMIT",
            stem.ends_with("_strict").then_some("strict"),
        ),
    ]
}

/// Parses `N passed, M failed`.
fn parse_summary(line: &str) -> Option<(u64, u64)> {
    let (p, rest) = line.split_once(" passed, ")?;
    let f = rest.strip_suffix(" failed")?;
    let p: u64 = p.parse().ok()?;
    let f: u64 = f.parse().ok()?;
    if line != format!("{p} passed, {f} failed") {
        return None;
    }
    Some((p, f))
}

fn run_one(src: &Path) -> Outcome {
    let stem = src.file_stem().unwrap().to_string_lossy().into_owned();
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("c-tests");
    std::fs::create_dir_all(&out_dir).expect("create CARGO_TARGET_TMPDIR/c-tests");
    let exe = out_dir.join(&stem);
    if let Err(e) = compile(src, &exe) {
        println!("{e}");
        return Outcome {
            ok: false,
            reason: "does not compile".into(),
        };
    }

    let env = run_env(&stem);
    let mut cmd = Command::new(&exe);
    // cargo's LD_LIBRARY_PATH also lists target/<profile>, where a `cargo build` may have left an
    // older libcoredll.so; the program must load the one it was linked against (its rpath).
    cmd.current_dir(&out_dir)
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (var, value) in env {
        match value {
            Some(v) => cmd.env(var, v),
            None => cmd.env_remove(var),
        };
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                ok: false,
                reason: format!("cannot start: {e}"),
            };
        }
    };
    // Drain the pipes on threads so a chatty program cannot block on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut so, &mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut se, &mut s);
        s
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if start.elapsed() > RUN_TIMEOUT => {
                let _ = child.kill(); // our own child, by its id
                timed_out = true;
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
    let env_note: Vec<String> = env
        .iter()
        .map(|(var, value)| match value {
            Some(v) => format!("{var}={v}"),
            None => format!("{var} unset"),
        })
        .collect();
    println!("---- {} ({}) ----\n{}", stem, env_note.join(", "), stdout);
    if !stderr.is_empty() {
        println!("---- {stem} stderr ----\n{stderr}");
    }

    let summary = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(parse_summary);
    let mut reasons = Vec::new();
    if timed_out {
        reasons.push(format!("killed after {RUN_TIMEOUT:?}"));
    }
    match status {
        Some(st) if st.success() => {}
        Some(st) => reasons.push(format!("exit status {st}")),
        None => reasons.push("could not be waited for".into()),
    }
    match summary {
        None => reasons.push("no final `N passed, M failed` line".into()),
        Some((_, f)) if f > 0 => reasons.push(format!("{f} check(s) failed")),
        Some(_) => {}
    }
    if let Some((p, f)) = summary {
        println!("{stem}: {p} passed, {f} failed");
    }
    Outcome {
        ok: reasons.is_empty(),
        reason: reasons.join("; "),
    }
}

fn run_named(stem: &str) {
    let src = manifest_dir().join("c-tests").join(format!("{stem}.c"));
    assert!(src.exists(), "{} is missing", src.display());
    let o = run_one(&src);
    assert!(o.ok, "C test program failed: {stem}: {}", o.reason);
}

macro_rules! c_tests {
    ($($name:ident),* $(,)?) => {
        const LISTED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                run_named(stringify!($name));
            }
        )*
    };
}

c_tests!(
    test_virtual_alloc,
    test_virtual_free,
    test_virtual_protect,
    test_virtual_query,
    test_virtual_ex,
    test_system,
    test_last_error,
    test_fail_inject,
    test_ram_budget,
    test_pageheap,
    test_report,
    test_faults,
    test_slot_ce5,
    test_autocommit,
    test_autocommit_strict,
    test_guard,
    test_sigchain,
    test_fault_edges_strict,
    test_mapping,
    test_mapping_share,
    test_mapping_ce5,
    test_fork,
    test_ceheap,
    test_heap,
    test_heap_cache,
    test_heap_ce5,
    test_heap_safety,
    test_heap_threads,
    test_heapwalk,
    test_local,
    test_toolhelp,
);

/// Every `c-tests/*.c` has a `#[test]` above.
#[test]
fn every_c_test_is_run() {
    let missing: Vec<String> = c_files()
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|s| !LISTED.contains(&s.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "c-tests without a #[test] in tests/c_tests.rs: {missing:?}"
    );
}

/// Runs every `c-tests/*.c` found (whether listed or not) and lists the failing programs.
#[test]
#[ignore = "duplicates the per-file tests; run with --ignored"]
fn all_c_tests() {
    let failed: Vec<String> = c_files()
        .iter()
        .filter_map(|src| {
            let o = run_one(src);
            (!o.ok).then(|| {
                format!(
                    "{}: {}",
                    src.file_name().unwrap().to_string_lossy(),
                    o.reason
                )
            })
        })
        .collect();
    assert!(
        failed.is_empty(),
        "failing C test programs:\n  {}",
        failed.join("\n  ")
    );
}

#[test]
fn file_name_convention() {
    assert_eq!(
        run_env("test_virtual_alloc"),
        [("COREDLL_PROFILE", None), ("COREDLL_AUTOCOMMIT", None)]
    );
    assert_eq!(
        run_env("test_slot_ce5"),
        [
            ("COREDLL_PROFILE", Some("ce5")),
            ("COREDLL_AUTOCOMMIT", None)
        ]
    );
    assert_eq!(
        run_env("test_autocommit_strict"),
        [
            ("COREDLL_PROFILE", None),
            ("COREDLL_AUTOCOMMIT", Some("strict"))
        ]
    );
    assert_eq!(
        run_env("test_strictness"),
        [("COREDLL_PROFILE", None), ("COREDLL_AUTOCOMMIT", None)]
    );
}

#[test]
fn summary_line_parser() {
    assert_eq!(parse_summary("12 passed, 0 failed"), Some((12, 0)));
    assert_eq!(parse_summary("3 passed, 2 failed"), Some((3, 2)));
    assert_eq!(parse_summary("3 passed, 2 failed "), None);
    assert_eq!(parse_summary("x passed, 2 failed"), None);
    assert_eq!(parse_summary("+3 passed, 2 failed"), None);
    assert_eq!(parse_summary("passed, failed"), None);
}

/// The README's first command: the bundled legacy-style example builds without warnings and runs
/// to its "OK" line against the library.
#[test]
fn example_address_map() {
    let src = manifest_dir().join("examples").join("address_map.c");
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("examples");
    std::fs::create_dir_all(&out_dir).expect("create CARGO_TARGET_TMPDIR/examples");
    let exe = out_dir.join("address_map");
    compile(&src, &exe).unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(&exe)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("COREDLL_PROFILE")
        .env_remove("COREDLL_AUTOCOMMIT")
        .stdin(Stdio::null())
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "example exited with {}", out.status);
    assert!(
        stdout.contains("\nOK: "),
        "example did not reach its OK line"
    );
}
