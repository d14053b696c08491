//! `ProxyUseFdpass yes` with `azml-ssh proxy --fdpass`: ssh gets the connected socket and the proxy is gone
//! before the session starts — for direct connections and, through a detached relay, for the tunnel.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Duration;

use crate::common::{TestEnv, compute_id, run};

const LIMIT: Duration = Duration::from_secs(90);

/// Processes whose command line mentions `needle` (an `azml-ssh proxy` for one test's compute).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains("azml-ssh") && text.contains(" proxy ") && text.contains(needle) {
            found.push(text);
        }
    }
    found
}

#[test]
fn fdpass_hands_ssh_the_socket_and_the_proxy_is_gone_during_the_session() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    env.put_running("fdpassci", sshd.port());
    let config = env.ssh_config("azmlci1", &compute_id("fdpassci"), "--fdpass ");

    let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "ok"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "ok\n");

    // A session that stays open until we say so.
    let mut ssh = env.ssh(&config, "azmlci1", &["echo ready; read line; echo got $line"]);
    let mut child = ssh.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    assert_eq!(processes_mentioning("fdpassci"), Vec::<String>::new(), "the proxy must have exited");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"bye\n").unwrap();
    drop(stdin);
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "got bye\n");
    assert!(child.wait().unwrap().success());
}

#[test]
fn fdpass_scp_64_mib_is_byte_exact() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.port());
    let config = env.ssh_config("azmlci1", &compute_id("ci1"), "--fdpass ");
    let local = env.path("local.bin");
    std::fs::write(&local, crate::common::random_bytes(64 * 1024 * 1024, 5)).unwrap();
    let (remote, back) = (env.path("remote.bin"), env.path("back.bin"));
    for (from, to) in [
        (local.display().to_string(), format!("azmlci1:{}", remote.display())),
        (format!("azmlci1:{}", remote.display()), back.display().to_string()),
    ] {
        let mut scp = env.command("scp");
        scp.arg("-F").arg(&config).arg(&from).arg(&to);
        let out = run(&mut scp, None, LIMIT);
        assert!(out.status.success(), "{}", out.stderr);
    }
    let expected = crate::common::sha256_file(&local);
    assert_eq!(crate::common::sha256_file(&remote), expected);
    assert_eq!(crate::common::sha256_file(&back), expected);
}

#[test]
fn fdpass_through_the_tunnel_uses_a_detached_relay() {
    let mut env = TestEnv::new();
    let sshd = env.start_sshd();
    let (gateway, id) = env.put_tunnel_instance("ci1", sshd.addr);
    let config = env.ssh_config("azmlci1", &id, "--fdpass ");
    for _ in 0..2 {
        let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "ok"]), None, LIMIT);
        assert!(out.status.success(), "{}", out.stderr);
        assert_eq!(out.stdout_text(), "ok\n");
    }
    assert_eq!(gateway.handshakes(), 2);
    assert_eq!(env.az_calls(), 1, "the detached relay reuses the cached token");
}

#[test]
fn fdpass_without_proxyusefdpass_explains_itself() {
    let env = TestEnv::new();
    let id = env.put_echo_instance("ci1");
    let out = run(&mut env.proxy(&["--fdpass", &id]), Some(Vec::new()), Duration::from_secs(10));
    assert!(!out.status.success());
    assert!(out.stderr.contains("ProxyUseFdpass yes"), "{}", out.stderr);
}
