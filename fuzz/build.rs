//! What src/cli.rs (included whole by the `cli` target) reads from azml-ssh's own build script: the target
//! and the commit, for `--version`.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=AZML_SSH_BUILD_TARGET={target}");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(std::path::Path::new(&out).join("commit.txt"), "fuzz").expect("OUT_DIR is writable");
}
