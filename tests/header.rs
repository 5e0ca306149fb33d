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
