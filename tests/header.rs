//! The committed C header must be what the pinned cbindgen makes of the crate today.
//! `COREDLL_UPDATE_HEADER=1 cargo test --test header` rewrites it.

#[test]
fn committed_header_is_current() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let config =
        cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).expect("cbindgen.toml");
    let mut fresh = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen parses the crate")
        .write(&mut fresh);
    let path = format!("{dir}/include/coredll.h");
    let committed = std::fs::read(&path).unwrap_or_default();
    if committed == fresh {
        return;
    }
    if std::env::var_os("COREDLL_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &fresh).expect("write include/coredll.h");
        return;
    }
    panic!("include/coredll.h is stale: run `COREDLL_UPDATE_HEADER=1 cargo test --test header`");
}

/// Legacy CE code compiles unchanged against the drop-in headers, as C and as C++, with every
/// warning an error (`tests/headers/legacy.c`: SDK macros used as statements, toolhelp and
/// HeapWalk structures, pointer typedefs).
#[test]
fn legacy_code_compiles_as_c_and_cpp() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let compiler = |cpp: bool| {
        cc::Build::new()
            .cpp(cpp)
            .target(&triple)
            .host(&triple)
            .opt_level(0)
            .cargo_metadata(false)
            .get_compiler()
    };
    let src = format!("{dir}/tests/headers/legacy.c");
    let include = format!("{dir}/include");
    for (cpp, std) in [
        (false, "-std=gnu11"),
        (false, "-std=c11"),
        (true, "-std=c++17"),
    ] {
        let mut cmd = compiler(cpp).to_command();
        cmd.args([
            std,
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fsyntax-only",
            "-I",
            &include,
        ]);
        if cpp {
            cmd.args(["-x", "c++"]);
        }
        let out = cmd.arg(&src).output().expect("run the compiler");
        assert!(
            out.status.success(),
            "{std}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
