//! The `coredll-run` launcher: it preloads coredll into a program that is not linked against it
//! (`tests/launcher/probe.c` looks the CE functions up at run time), passes each setting, keeps
//! an existing LD_PRELOAD, and exits with the program's status.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Built once per run (tests run in parallel and must not rewrite it while another runs it).
fn probe() -> PathBuf {
    static PROBE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PROBE.get_or_init(build_probe).clone()
}

fn build_probe() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("launcher");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("probe");
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let mut cmd = cc::Build::new()
        .target(&triple)
        .host(&triple)
        .opt_level(0)
        .cargo_metadata(false)
        .get_compiler()
        .to_command();
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/launcher/probe.c");
    let out = cmd
        .args(["-std=gnu11", "-Wall", "-Wextra", "-Werror"])
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .arg("-ldl")
        .output()
        .expect("run the C compiler");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

fn launch(args: &[&str], probe_args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coredll-run"))
        .args(args)
        .arg("--")
        .arg(probe())
        .args(probe_args)
        .env_remove("LD_PRELOAD")
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("COREDLL_PROFILE")
        .env_remove("COREDLL_RAM")
        .env_remove("COREDLL_FAIL")
        .env_remove("COREDLL_REPORT")
        .env_remove("COREDLL_PAGEHEAP")
        .env_remove("COREDLL_AUTOCOMMIT")
        .output()
        .expect("run coredll-run")
}

/// The library cargo built for this run: next to the launcher, or (a `cargo test` in a fresh
/// tree) in `deps/`.
fn cdylib() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_coredll-run"))
        .parent()
        .unwrap()
        .to_path_buf();
    [dir.join("libcoredll.so"), dir.join("deps/libcoredll.so")]
        .into_iter()
        .find(|p| p.is_file())
        .expect("libcoredll.so built")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_probe_alone_has_no_coredll() {
    let o = Command::new(probe())
        .env_remove("LD_PRELOAD")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(10));
    assert_eq!(stdout(&o), "no coredll\n");
}

#[test]
fn preloads_coredll_and_returns_the_status() {
    let o = launch(&[], &["3"]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let s = stdout(&o);
    assert!(s.contains("window=0x3fff0000 local=ok"), "{s}");
}

#[test]
fn sets_the_profile_ram_and_fault_injection() {
    let s = stdout(&launch(&["--profile", "ce5"], &[]));
    assert!(s.contains("window=0x1ff0000"), "ce5's 32 MB slot: {s}");
    let s = stdout(&launch(&["--ram", "8M"], &[]));
    assert!(s.contains("total=8388608"), "{s}");
    let s = stdout(&launch(&["--fail", "nth:1,apis:LocalAlloc"], &[]));
    assert!(s.contains("local=fail err=8"), "{s}");
}

#[test]
fn sets_the_page_heap_autocommit_and_library() {
    assert_eq!(launch(&[], &["overrun"]).status.code(), Some(0));
    let o = launch(&["--pageheap"], &["overrun"]);
    assert_eq!(o.status.code(), Some(128 + 11), "the overrun faults: {o:?}");
    let s = stdout(&launch(&["--autocommit", "strict"], &[]));
    assert!(s.contains("autocommit=strict"), "{s}");
    let lib = cdylib();
    let s = stdout(&launch(&["--lib", lib.to_str().unwrap()], &[]));
    assert!(s.contains("local=ok"), "{s}");
    let o = launch(&["--lib", "/nonexistent/libcoredll.so"], &[]);
    assert_eq!(o.status.code(), Some(2), "no library there: {o:?}");
}

#[test]
fn the_report_names_the_leak() {
    let o = launch(&["--report"], &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("coredll report"), "{err}");
    assert!(
        err.contains("(process heap): 1 live blocks, 16 bytes"),
        "{err}"
    );
}

#[test]
fn keeps_an_existing_preload_and_rejects_bad_options() {
    let o = Command::new(env!("CARGO_BIN_EXE_coredll-run"))
        .arg("--")
        .arg(probe())
        .env("LD_PRELOAD", "libm.so.6")
        .output()
        .unwrap();
    let s = stdout(&o);
    assert!(s.contains("preload=libm.so.6:/"), "{s}");
    assert!(s.contains("local=ok"), "{s}");
    let o = launch(&["--bogus"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let o = Command::new(env!("CARGO_BIN_EXE_coredll-run"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// README's worked example: `examples/inventory.c` under coredll-run shows its leak with
/// `--report` and crashes on the allocation it never checks with `--fail`.
#[test]
fn readme_example_finds_the_leak_and_the_unchecked_allocation() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("launcher");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("inventory");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let lib_dir = cdylib().parent().unwrap().to_path_buf();
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let out = cc::Build::new()
        .target(&triple)
        .host(&triple)
        .opt_level(0)
        .cargo_metadata(false)
        .get_compiler()
        .to_command()
        .args(["-std=gnu11", "-Wall", "-Werror", "-I"])
        .arg(root.join("include"))
        .arg(root.join("examples/inventory.c"))
        .arg("-L")
        .arg(&lib_dir)
        .arg("-lcoredll")
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_coredll-run"))
            .args(args)
            .arg("--")
            .arg(&exe)
            .env_remove("LD_PRELOAD")
            .env_remove("COREDLL_FAIL")
            .env_remove("COREDLL_REPORT")
            .output()
            .unwrap()
    };
    let o = run(&["--report"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "5 parts, 150 pieces\n");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("leaks: 1 blocks, 40 bytes"), "{err}");
    assert!(
        err.contains("size 40 seq 1\n"),
        "the first record is the one leaked: {err}"
    );
    let o = run(&["--fail", "nth:3,apis:LocalAlloc"]);
    assert_eq!(
        o.status.code(),
        Some(128 + 11),
        "SIGSEGV on the unchecked NULL: {o:?}"
    );
}
