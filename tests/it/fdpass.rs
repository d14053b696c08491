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
    env.scp_round_trip(&config, "azmlci1", 64 * 1024 * 1024, 5);
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

/// When ssh has gone and the gateway neither closes nor answers our close, the detached relay still leaves
/// promptly rather than after its grace periods.
#[test]
fn the_detached_relay_leaves_promptly_when_ssh_has_gone_and_the_gateway_is_silent() {
    let mut env = TestEnv::new();
    let sshd = env.start_sshd();
    let (gateway, id) = env.put_tunnel_instance("ci1", sshd.addr);
    gateway.silent_end();
    let config = env.ssh_config("azmlci1", &id, "--fdpass ");
    // The session itself takes well under a second here; the relay's grace periods would take seconds more.
    let start = std::time::Instant::now();
    let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "ok"]), None, LIMIT);
    assert_eq!(out.stdout_text(), "ok\n", "{}", out.stderr);
    let needle = format!("--relay-gateway\0localhost:{}", gateway.addr.port());
    let relays = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
            .filter(|cmdline| String::from_utf8_lossy(cmdline).contains(&needle))
            .count()
    };
    // ssh itself waits for the relay to close its socket, so the bound covers both.
    while relays() > 0 || start.elapsed() >= Duration::from_secs(4) {
        assert!(start.elapsed() < Duration::from_secs(4), "the session or the detached relay lingered");
        std::thread::sleep(Duration::from_millis(20));
    }
}
