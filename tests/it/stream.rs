//! The proxy as a byte pipe: whatever goes in on stdin comes back from an echo server on stdout, exactly, and
//! nothing else ever appears on stdout — not even with debug logging on.

use std::time::Duration;

use crate::common::{TestEnv, run};

const LIMIT: Duration = Duration::from_secs(30);

fn echo_env() -> (TestEnv, String) {
    let env = TestEnv::new();
    let id = env.put_echo_instance("ci1");
    (env, id)
}

#[test]
fn echo_returns_exactly_the_bytes_sent() {
    let (env, id) = echo_env();
    let data = crate::common::random_bytes(8 * 1024 * 1024 + 3, 99);
    let out = run(&mut env.proxy(&[&id]), Some(data.clone()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data, "bytes differ");
}

#[test]
fn debug_logging_goes_to_stderr_only() {
    let (env, id) = echo_env();
    let data = b"SSH-2.0-OpenSSH_test\r\n".repeat(1000);
    let by_flag = env.proxy(&["-vv", &id]);
    let mut by_env = env.proxy(&[&id]);
    by_env.env("AZML_SSH_LOG", "debug");
    for mut cmd in [by_flag, by_env] {
        std::fs::remove_dir_all(env.cache_dir()).ok();
        let out = run(&mut cmd, Some(data.clone()), LIMIT);
        assert!(out.status.success(), "{}", out.stderr);
        assert!(out.stdout == data, "stdout carried something besides the stream");
        assert!(out.stderr.contains("resolved endpoint"), "debug log expected on stderr: {}", out.stderr);
        assert!(!out.stderr.contains(crate::common::TOKEN), "the token must never be logged");
    }
}

#[test]
fn stdin_from_a_file_and_empty_stdin_both_end_cleanly() {
    let (env, id) = echo_env();
    let file = env.path("input.bin");
    let data = crate::common::random_bytes(1024 * 1024, 5);
    std::fs::write(&file, &data).unwrap();
    let mut cmd = env.proxy(&[&id]);
    cmd.stdin(std::fs::File::open(&file).unwrap());
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout == data);

    let out = run(&mut env.proxy(&[&id]), Some(Vec::new()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}

#[test]
fn cache_can_be_disabled() {
    let (env, id) = echo_env();
    for _ in 0..2 {
        let out = run(&mut env.proxy(&["--cache-max-age", "0", &id]), Some(b"x".to_vec()), LIMIT);
        assert!(out.status.success(), "{}", out.stderr);
    }
    assert_eq!(env.arm.count(&id), 2, "every connect looks up when the cache is off");
    assert!(!env.cache_dir().join("azml-ssh/endpoints").exists(), "nothing cached when disabled");
}

#[test]
fn a_stale_cache_entry_is_looked_up_again() {
    let (env, id) = echo_env();
    let out = run(&mut env.proxy(&[&id]), Some(b"x".to_vec()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    // Age the entry past the limit by rewriting its timestamp.
    let dir = env.cache_dir().join("azml-ssh/endpoints");
    let entry = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
    json["resolved_at"] = serde_json::json!(json["resolved_at"].as_u64().unwrap() - 7200);
    std::fs::write(&entry, serde_json::to_vec(&json).unwrap()).unwrap();

    let out = run(&mut env.proxy(&[&id]), Some(b"y".to_vec()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(env.arm.count(&id), 2, "a 2-hour-old entry is stale under the 1h default");
}

#[test]
fn stdin_and_stdout_as_one_socket_end_cleanly() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let (env, id) = echo_env();
    let (ours, theirs) = UnixStream::pair().unwrap();
    let mut cmd = env.proxy(&[&id]);
    cmd.stdin(std::os::fd::OwnedFd::from(theirs.try_clone().unwrap()))
        .stdout(std::os::fd::OwnedFd::from(theirs))
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let data = crate::common::random_bytes(2 * 1024 * 1024 + 1, 77);
    let mut writer = ours.try_clone().unwrap();
    let sent = data.clone();
    let feeder = std::thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut received = Vec::new();
    let mut reader = ours;
    reader.read_to_end(&mut received).unwrap();
    feeder.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert!(received == data, "every byte back, then EOF through the shared socket");
}

#[test]
fn the_copying_relay_is_byte_exact_too() {
    let (env, id) = echo_env();
    let data = crate::common::random_bytes(4 * 1024 * 1024 + 5, 123);
    let mut cmd = env.proxy(&[&id]);
    cmd.env("AZML_SSH_NO_SPLICE", "1");
    let out = run(&mut cmd, Some(data.clone()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout == data);
}
