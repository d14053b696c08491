//! `azml-ssh code` and `azml-ssh jupyter`: the instance is started before anything else, then the editor runs
//! with exactly the right arguments, or the instance's Jupyter is forwarded to 127.0.0.1 until Ctrl-C.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::instance::{jupyter_setup, jupyter_setup_with, setup_instance};
use crate::common::mock_arm::Machine;
use crate::common::{BIN, TestEnv, cache_key, compute_id, run, write_script};

const LIMIT: Duration = Duration::from_secs(60);

/// A fake program in the fake `az`'s directory (first on PATH) that logs its arguments, one per line, and
/// whether the endpoint cache was warm when it ran.
pub(crate) fn fake_editor(env: &TestEnv, name: &str, cache_file: &std::path::Path) -> std::path::PathBuf {
    let log = env.path(&format!("{name}.log"));
    let script = format!(
        "#!/bin/sh\n[ -e '{cache}' ] && echo warm >> '{log}'\nfor a in \"$@\"; do echo \"$a\" >> '{log}'; done\n",
        cache = cache_file.display(),
        log = log.display()
    );
    write_script(&env.az_dir.join(name), &script);
    log
}

#[test]
fn code_starts_a_stopped_instance_first_then_opens_the_editor() {
    let env = TestEnv::new();
    let id = compute_id("ci1");
    env.arm.put_machine(&id, "Stopped", Machine::new(22));
    let out = run(env.command(BIN).args(["add", "azmlci1", &id]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    let cache = env.cache_dir().join(format!("azml-ssh/endpoints/{}.json", cache_key(&id)));
    let code_log = fake_editor(&env, "code", &cache);

    let out = run(env.command(BIN).args(["code", "azmlci1"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains("ci1 was stopped") || out.stderr.contains("ci1 is stopped"), "{}", out.stderr);
    assert_eq!(env.arm.count_method("POST", &format!("{id}/start")), 1);
    assert_eq!(
        std::fs::read_to_string(&code_log).unwrap(),
        "warm\n--folder-uri\nvscode-remote://ssh-remote+azmlci1/home/azureuser\n",
        "started, cache warm, then exactly these arguments"
    );

    let cursor_log = fake_editor(&env, "cursor", &cache);
    let out = run(env.command(BIN).args(["code", "azmlci1", "cloudfiles/code", "--editor", "cursor"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    let args = std::fs::read_to_string(&cursor_log).unwrap();
    assert!(
        args.ends_with("--folder-uri\nvscode-remote://ssh-remote+azmlci1/home/azureuser/cloudfiles/code\n"),
        "{args}"
    );

    let out = run(env.command(BIN).args(["code", "azmlci1", "--dry-run"]), None, LIMIT);
    assert_eq!(out.stdout_text(), "code --folder-uri vscode-remote://ssh-remote+azmlci1/home/azureuser\n");
    // A `#` (or `?`, `%`, a space) in the folder's name stays in the path, not a fragment of the URI.
    let out = run(env.command(BIN).args(["code", "azmlci1", "data/run#3", "--dry-run"]), None, LIMIT);
    let uri = "vscode-remote://ssh-remote+azmlci1/home/azureuser/data/run%233";
    assert_eq!(out.stdout_text(), format!("code --folder-uri {uri}\n"), "{}", out.stderr);
    let out = run(env.command(BIN).args(["code", "azmlci1", "my runs/50%?", "--dry-run"]), None, LIMIT);
    let uri = "vscode-remote://ssh-remote+azmlci1/home/azureuser/my%20runs/50%25%3F";
    assert_eq!(out.stdout_text(), format!("code --folder-uri {uri}\n"), "{}", out.stderr);

    let out = run(env.command(BIN).args(["code", "azmlci1", "--editor", "no-such-editor"]), None, LIMIT);
    assert!(!out.status.success());
    assert!(out.stderr.contains("`no-such-editor` is not on PATH"), "{}", out.stderr);
    let out = run(env.command(BIN).args(["code", "nope"]), None, LIMIT);
    assert!(out.stderr.contains("\"nope\" is neither a resource ID nor a host"), "{}", out.stderr);
}

/// An HTTP server standing in for the instance's Jupyter: 200 with the right token, 403 without.
pub(crate) fn fake_jupyter_server(token: &'static str) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            if BufReader::new(&stream).read_line(&mut line).is_err() {
                continue;
            }
            let reply = if line.contains(&format!("token={token}")) {
                "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\njupyter ok"
            } else {
                "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            };
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    port
}

fn ssh_processes_forwarding(port: u16) -> usize {
    let needle = format!("127.0.0.1:{port}:localhost:");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|cmdline| String::from_utf8_lossy(cmdline).contains(&needle))
        .count()
}

#[test]
fn jupyter_forwards_the_server_with_its_token_until_ctrl_c() {
    let remote = fake_jupyter_server("s3cr3t");
    let other = r#"{"port": 1, "token": "wrong", "base_url": "/", "url": "http://localhost:1/"}"#;
    let servers = format!(
        "{other}\n{{\"base_url\": \"/\", \"hostname\": \"localhost\", \"password\": false, \"pid\": 42, \"port\": {remote}, \"root_dir\": \"/home/u\", \"secure\": false, \"sock\": \"\", \"token\": \"s3cr3t\", \"url\": \"http://localhost:{remote}/\", \"version\": \"2.14.2\"}}"
    );
    // Not on the default port, so the first listed would be taken: make ours first.
    let servers = servers.lines().rev().collect::<Vec<_>>().join("\n");
    let setup = jupyter_setup(&servers);
    let config = setup.config.display().to_string();
    let (child, lines) = spawn_until_lines(&setup.env, &["jupyter", "azmlci1", "--ssh-config", &config], 1);
    let url = lines[0].clone();
    let local = local_port_of(&url);
    assert_eq!(url, format!("http://127.0.0.1:{local}/lab?token=s3cr3t"));

    // The URL answers through the forward, token and all.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", local)).unwrap();
    let path = url.trim_start_matches(&format!("http://127.0.0.1:{local}"));
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("jupyter ok"), "{answer}");
    assert_eq!(ssh_processes_forwarding(local), 1);

    let stderr = interrupt_and_check(child, &[local]);
    assert!(stderr.contains("Ctrl-C ends the forward"), "{stderr}");
}

fn nix_kill(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().unwrap();
    assert!(status.success());
}

#[test]
fn jupyter_errors_say_what_to_do() {
    let setup = jupyter_setup("");
    let config = setup.config.display().to_string();
    let out = run(setup.env.command(BIN).args(["jupyter", "azmlci1", "--ssh-config", &config]), None, LIMIT);
    assert!(!out.status.success());
    assert!(out.stderr.contains("no Jupyter server is running on azmlci1; start one there"), "{}", out.stderr);

    let remote = fake_jupyter_server("t");
    let setup = jupyter_setup(&format!(r#"{{"port": {remote}, "token": "t", "base_url": "/"}}"#));
    let config = setup.config.display().to_string();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = run(
        setup.env.command(BIN).args(["jupyter", "azmlci1", "--ssh-config", &config, "--local-port", &port]),
        None,
        LIMIT,
    );
    assert!(!out.status.success());
    assert!(out.stderr.contains(&format!("local port {port} is in use")), "{}", out.stderr);

    let out = run(setup.env.command(BIN).args(["jupyter", "not-a-host", "--ssh-config", &config]), None, LIMIT);
    assert!(out.stderr.contains("\"not-a-host\" is neither a resource ID nor a host"), "{}", out.stderr);

    let setup = jupyter_setup_with(
        &format!(r#"{{"port": {remote}, "token": "t", "base_url": "/"}}"#),
        "AllowTcpForwarding no\n",
    );
    let config = setup.config.display().to_string();
    let out = run(setup.env.command(BIN).args(["jupyter", "azmlci1", "--ssh-config", &config]), None, LIMIT);
    assert!(!out.status.success());
    assert!(out.stderr.contains("the forward was refused"), "{}", out.stderr);
    assert_eq!(ssh_processes_forwarding(remote), 0, "no ssh left behind");
}

/// Runs `azml-ssh ARGS` until it has printed `lines` lines on stdout; returns the child and those lines.
pub(crate) fn spawn_until_lines(env: &TestEnv, args: &[&str], lines: usize) -> (std::process::Child, Vec<String>) {
    let mut child =
        env.command(BIN).args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut got = Vec::new();
    for _ in 0..lines {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        got.push(line.trim().to_owned());
    }
    (child, got)
}

/// The port of a `http://127.0.0.1:PORT/…` URL.
pub(crate) fn local_port_of(url: &str) -> u16 {
    url.strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("not a local URL: {url:?}"))
}

/// What `GET /?token=t` through a local port answers.
pub(crate) fn get(port: u16) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET /?token=t HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Sends Ctrl-C and checks the command ends well within a few seconds, successfully, with no ssh left forwarding.
pub(crate) fn interrupt_and_check(mut child: std::process::Child, locals: &[u16]) -> String {
    nix_kill(child.id(), "INT");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "still running after Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    for &local in locals {
        assert_eq!(ssh_processes_forwarding(local), 0, "no ssh left behind");
    }
    stderr
}

#[test]
fn forward_starts_the_instance_then_reaches_every_port_until_ctrl_c() {
    let (tensorboard, mlflow) = (fake_jupyter_server("t"), fake_jupyter_server("t"));
    let wanted = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let setup = setup_instance("", "", "Stopped");
    let config = setup.config.display().to_string();
    let id = compute_id("ci1");
    // TensorBoard's own port is taken here (the stand-in listens on it), so it gets the next free one.
    let (child, urls) = spawn_until_lines(
        &setup.env,
        &["forward", "azmlci1", &tensorboard.to_string(), &format!("{mlflow}:{wanted}"), "--ssh-config", &config],
        2,
    );
    assert_eq!(setup.env.arm.count_method("POST", &format!("{id}/start")), 1, "started before forwarding");
    let locals: Vec<u16> = urls.iter().map(|u| local_port_of(u)).collect();
    assert_eq!(urls, locals.iter().map(|l| format!("http://127.0.0.1:{l}/")).collect::<Vec<_>>());
    assert_ne!(locals[0], tensorboard, "a taken local port is not reused");
    assert_eq!(locals[1], wanted);
    for &local in &locals {
        let answer = get(local);
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("jupyter ok"), "{answer}");
    }
    // One ssh, and its forwards bound to 127.0.0.1 only (the bind address is in its -L arguments).
    for &local in &locals {
        assert_eq!(ssh_processes_forwarding(local), 1, "127.0.0.1:{local} forwarded by one ssh");
    }
    let stderr = interrupt_and_check(child, &locals);
    assert!(stderr.contains("Ctrl-C ends the forwards"), "{stderr}");
}

#[test]
fn forward_says_what_it_cannot_do() {
    let setup = setup_instance("", "", "Running");
    let config = setup.config.display().to_string();
    // The "instance" is this machine: the local port must differ, or the forward would reach its own listener.
    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (nothing, local) = (free(), free());
    let out = run(
        setup.env.command(BIN).args(["forward", "azmlci1", &format!("{nothing}:{local}"), "--ssh-config", &config]),
        None,
        LIMIT,
    );
    assert!(!out.status.success());
    assert!(out.stderr.contains(&format!("to port {nothing} on azmlci1: the forward was refused")), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "", "no URL for a forward that does not work");
    assert_eq!(ssh_processes_forwarding(local), 0, "no ssh left behind");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = run(
        setup.env.command(BIN).args(["forward", "azmlci1", &format!("80:{port}"), "--ssh-config", &config]),
        None,
        LIMIT,
    );
    assert!(
        out.stderr.contains(&format!("local port {port} is in use; choose another (PORT:LOCAL_PORT)")),
        "{}",
        out.stderr
    );
    for bad in ["0", "http", "80:99999"] {
        let out = run(setup.env.command(BIN).args(["forward", "azmlci1", bad]), None, LIMIT);
        assert!(!out.status.success());
        assert!(out.stderr.contains("write PORT or PORT:LOCAL_PORT"), "{bad}: {}", out.stderr);
    }
}
