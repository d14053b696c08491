//! The command line itself: completions for every shell, --version, help, and the log file.

use std::time::Duration;

use crate::common::{TestEnv, compute_id, run};

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn completions_generate_for_every_shell() {
    let env = TestEnv::new();
    for (shell, marker) in [
        ("bash", "complete"),
        ("zsh", "#compdef azml-ssh"),
        ("fish", "complete -c azml-ssh"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = run(env.command(crate::common::BIN).args(["completions", shell]), None, LIMIT);
        assert!(out.status.success(), "{shell}: {}", out.stderr);
        let script = out.stdout_text();
        assert!(script.contains(marker), "{shell} script lacks {marker:?}");
        for sub in ["proxy", "config", "status", "idle"] {
            assert!(script.contains(sub), "{shell} script does not know {sub}");
        }
    }
    let out = run(env.command(crate::common::BIN).args(["completions", "tcsh"]), None, LIMIT);
    assert!(!out.status.success());
}

#[test]
fn version_and_help_with_examples() {
    let env = TestEnv::new();
    let out = run(env.command(crate::common::BIN).arg("--version"), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    let target = env!("AZML_SSH_BUILD_TARGET");
    assert!(target.starts_with(std::env::consts::ARCH) && target.contains(std::env::consts::OS), "{target}");
    let commit = expected_commit();
    assert_eq!(out.stdout_text(), format!("azml-ssh {} (commit {commit}, {target})\n", env!("CARGO_PKG_VERSION")));
    for sub in ["proxy", "config", "add", "remove", "list", "status", "start", "stop", "idle", "doctor", "completions"]
    {
        let out = run(env.command(crate::common::BIN).args([sub, "--help"]), None, LIMIT);
        assert!(out.status.success(), "{sub}");
        let help = out.stdout_text();
        assert!(help.contains("Usage: azml-ssh"), "{sub}: {help}");
        {
            assert!(help.contains("xample") || help.contains("Install"), "{sub} help has no example:\n{help}");
        }
    }
}

/// The commit `--version` must name: `AZML_SSH_COMMIT` when the build was given one, else the checkout's HEAD
/// (build.rs reruns when HEAD moves, so the binary under test is always HEAD's), abbreviated to 12 digits.
fn expected_commit() -> String {
    let manifest_dir = env!("CARGO_MANIFEST_DIR");
    let full = match std::env::var("AZML_SSH_COMMIT") {
        Ok(commit) if !commit.trim().is_empty() => commit.trim().to_owned(),
        _ if std::path::Path::new(manifest_dir).join(".git").exists() => {
            let out = std::process::Command::new("git")
                .args(["-C", manifest_dir, "rev-parse", "HEAD"])
                .output()
                .expect("git runs");
            assert!(out.status.success(), "git rev-parse HEAD: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        }
        // A tree without .git: nothing to compare with but what build.rs found.
        _ => return include_str!(concat!(env!("OUT_DIR"), "/commit.txt")).to_owned(),
    };
    assert_eq!(full.len(), 40, "{full}");
    full[..12].to_owned()
}

#[test]
fn the_log_file_gets_debug_lines_and_the_error_while_stderr_stays_one_line() {
    let mut env = TestEnv::new();
    env.az_logged_out();
    let log = env.path("proxy.log");
    let out = run(&mut env.proxy(&["--log-file", log.to_str().unwrap(), &compute_id("ci1")]), None, LIMIT);
    assert!(!out.status.success());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("DEBUG"), "debug lines go to the file: {text}");
    assert!(text.contains("ERROR") && text.contains("not signed in to Azure"), "{text}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&log).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "the log file is created private, not {mode:o}");

    // The environment variable works the same, and appends.
    env.extra_env.push(("AZML_SSH_LOG_FILE".into(), log.display().to_string()));
    let out = run(&mut env.proxy(&[&compute_id("ci1")]), None, LIMIT);
    assert!(!out.status.success());
    let again = std::fs::read_to_string(&log).unwrap();
    assert_eq!(again.matches("not signed in to Azure").count(), 2, "{again}");
}

#[test]
fn the_python_package_builds_with_the_tested_lock_file() {
    let pyproject = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pyproject.toml")).unwrap();
    let maturin = pyproject.split("[tool.maturin]").nth(1).expect("a [tool.maturin] table");
    let table = maturin.split("\n[").next().unwrap();
    assert!(table.lines().any(|l| l.trim() == "locked = true"), "[tool.maturin] has no `locked = true`:{table}");
}

#[test]
fn absurd_durations_are_refused_with_one_line_not_a_crash() {
    let env = TestEnv::new();
    let id = compute_id("ci1");
    for option in ["--start-timeout", "--cache-max-age", "--direct-timeout"] {
        for value in ["18446744073709551615", "18446744073709551615d", "31d", "5w"] {
            let out = run(&mut env.proxy(&[option, value, &id]), None, LIMIT);
            assert_eq!(out.status.code(), Some(2), "{option} {value}: {}", out.stderr);
            assert!(out.stderr.contains(value), "{option} {value}: {}", out.stderr);
        }
    }
    let out =
        run(env.command(crate::common::BIN).args(["start", "ci1", "--wait-timeout", "99999999999h"]), None, LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
}

#[test]
fn a_reader_that_stops_early_ends_the_output_quietly() {
    let env = TestEnv::new();
    let config = env.path("home/.ssh/config");
    for i in 0..50 {
        let out = run(
            env.command(crate::common::BIN).args(["add", &format!("ci{i}"), &compute_id(&format!("ci{i}"))]),
            None,
            LIMIT,
        );
        assert!(out.status.success(), "{}", out.stderr);
    }
    assert!(config.exists());
    // `azml-ssh list | head -0`: the pipe is closed before the first line is written.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = env
        .command(crate::common::BIN)
        .arg("list")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "exit {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}
