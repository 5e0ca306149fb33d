//! LD_PRELOAD interposition, without CMake.
//!
//! `tests/preload/app.c` is linked against `tests/preload/stub.c`, a library that gets the API
//! wrong: on its own the app must fail; with the `libcoredll.so` that cargo built for this test
//! run preloaded it must pass. CTest runs the same sources (tests `preload_stub_only` and
//! `preload_coredll`) against the CMake-built `libcoredll.so.0`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The C compiler the `cc` crate picks for this host. There is no build script to hand cc its
/// TARGET/HOST, so the triple is spelled out (Linux/glibc is the only supported host).
fn c_compiler() -> Command {
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    cc::Build::new()
        .target(&triple)
        .host(&triple)
        .opt_level(0)
        .cargo_metadata(false)
        .warnings(true)
        .get_compiler()
        .to_command()
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The cdylib cargo built for this run: `target/<profile>/deps/libcoredll.so`, next to the test
/// binary (`cargo build` also copies it to `target/<profile>/`).
fn coredll_cdylib() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test binary directory");
    let candidates = [
        deps.join("libcoredll.so"),
        deps.parent()
            .map(|d| d.join("libcoredll.so"))
            .unwrap_or_default(),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| panic!("libcoredll.so not found; looked at {candidates:?}"))
}

fn run_checked(mut cmd: Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{cmd:?}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds `libcoredllstub.so` and `app` (linked against it, rpath to it) into `dir`.
fn build_app(dir: &Path) -> PathBuf {
    let src = manifest_dir().join("tests").join("preload");
    let include = manifest_dir().join("include");
    let flags = ["-std=gnu11", "-Wall", "-Wextra", "-Werror"];

    let mut stub = c_compiler();
    stub.args(flags)
        .arg("-I")
        .arg(&include)
        .args(["-shared", "-fPIC"])
        .arg(src.join("stub.c"))
        .arg("-o")
        .arg(dir.join("libcoredllstub.so"));
    run_checked(stub, "compiling tests/preload/stub.c");

    let app_path = dir.join("app");
    let mut app = c_compiler();
    app.args(flags)
        .arg("-I")
        .arg(&include)
        .arg(src.join("app.c"))
        .arg("-o")
        .arg(&app_path)
        .arg("-L")
        .arg(dir)
        .arg("-lcoredllstub")
        .arg(format!("-Wl,-rpath,{}", dir.display()));
    run_checked(app, "compiling tests/preload/app.c");
    app_path
}

fn run_app(app: &Path, preload: Option<&Path>) -> Output {
    let mut cmd = Command::new(app);
    cmd.env_remove("COREDLL_PROFILE")
        .env_remove("COREDLL_AUTOCOMMIT")
        .env_remove("LD_PRELOAD");
    if let Some(lib) = preload {
        cmd.env("LD_PRELOAD", lib);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", app.display()))
}

fn summary(out: &Output) -> String {
    format!(
        "{}\nstdout:\n{}stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn ld_preload_interposes_the_stub() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ld_preload");
    std::fs::create_dir_all(&dir).expect("create CARGO_TARGET_TMPDIR/ld_preload");
    let app = build_app(&dir);
    let coredll = coredll_cdylib();

    let plain = run_app(&app, None);
    assert!(
        !plain.status.success(),
        "the app passed against the stub alone:\n{}",
        summary(&plain)
    );

    let preloaded = run_app(&app, Some(&coredll));
    let stdout = String::from_utf8_lossy(&preloaded.stdout);
    assert!(
        preloaded.status.success() && stdout.lines().any(|l| l.ends_with(" passed, 0 failed")),
        "the app failed with LD_PRELOAD={}:\n{}",
        coredll.display(),
        summary(&preloaded)
    );
}
