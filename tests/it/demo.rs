//! The newcomer's demo (`contrib/demo/run.sh`) runs start to finish: add, connect, move, connect, auto-start.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn the_demo_script_succeeds() {
    let root = env!("CARGO_MANIFEST_DIR");
    let bin = env!("CARGO_BIN_EXE_azml-ssh");
    // cargo test builds the examples next to the binary's directory.
    let demo_arm = std::path::Path::new(bin).parent().unwrap().join("examples/demo_arm");
    assert!(demo_arm.exists(), "{} was not built", demo_arm.display());
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(format!("{root}/contrib/demo/run.sh"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AZML_SSH_BIN", bin)
        .env("DEMO_ARM_BIN", &demo_arm)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    for expected in
        ["hello from the instance", "hello again", "hello after the automatic start", "ci1 is Running after"]
    {
        assert!(stdout.contains(expected) || stderr.contains(expected), "{expected:?} missing:\n{stdout}\n{stderr}");
    }
    assert!(started.elapsed() < Duration::from_secs(120));
    assert!(!stderr.contains("warning"), "the demo shows no warning that does not apply: {stderr}");
    // It cleaned up after itself.
    let work = stdout
        .lines()
        .find_map(|l| l.split("everything ran in ").nth(1))
        .map(|s| s.trim_end_matches(", which is removed now.\u{1b}[0m"));
    let work = work.and_then(|w| w.split(',').next()).expect("the demo names its directory");
    assert!(!std::path::Path::new(work).exists(), "{work} was left behind");
}

/// From a checkout whose build directory is elsewhere (CARGO_TARGET_DIR), the demo finds its programs, and a
/// missing program stops it at once instead of carrying on.
#[test]
fn the_demo_stops_at_a_missing_program() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(format!("{root}/contrib/demo/run.sh"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AZML_SSH_BIN", env!("CARGO_BIN_EXE_azml-ssh"))
        .env("DEMO_ARM_BIN", "/nonexistent/demo_arm")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("/nonexistent/demo_arm is missing"), "{stderr}");
    assert!(!stdout.contains("=="), "no step was shown: {stdout}");
}
