//! Instances without public SSH, reached through a mock of the Azure ML WebSocket gateway (real TLS with a test
//! CA, the real path and Bearer check) bridged to a real sshd, with the real ssh, scp and git.

use std::time::{Duration, Instant};

use crate::common::connect_proxy::ConnectProxy;
use crate::common::gateway::Gateway;
use crate::common::sshd::Sshd;
use crate::common::{TestEnv, run};

const LIMIT: Duration = Duration::from_secs(90);

struct Tunnel {
    env: TestEnv,
    gateway: Gateway,
    _sshd: Sshd,
    id: String,
    config: std::path::PathBuf,
}

/// An instance with SSH public access disabled whose Jupyter endpoint is the mock gateway, in front of sshd.
fn tunnel_env(proxy_args: &str) -> Tunnel {
    let mut env = TestEnv::new();
    let sshd = env.start_sshd();
    let (gateway, id) = env.put_tunnel_instance("ci1", sshd.addr);
    let config = env.ssh_config("azmlci1", &id, proxy_args);
    Tunnel { env, gateway, _sshd: sshd, id, config }
}

#[test]
fn ssh_scp_and_git_work_through_the_tunnel() {
    let t = tunnel_env("");
    let env = &t.env;
    let out = run(&mut env.ssh(&t.config, "azmlci1", &["echo", "ok"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "ok\n");
    assert_eq!(t.gateway.handshakes(), 1);

    env.scp_round_trip(&t.config, "azmlci1", 64 * 1024 * 1024, 11);

    env.git_clone_works(&t.config, "azmlci1");
}

#[test]
fn consecutive_connects_fetch_the_token_once() {
    let t = tunnel_env("");
    for _ in 0..3 {
        let out = run(&mut t.env.ssh(&t.config, "azmlci1", &["true"]), None, LIMIT);
        assert!(out.status.success(), "{}", out.stderr);
    }
    assert_eq!(t.env.az_calls(), 1, "one token for three tunnel connections");
    assert_eq!(t.env.arm.count(&t.id), 1, "the gateway is cached like an address");
    assert_eq!(t.gateway.handshakes(), 3);
    // The token cache is private.
    use std::os::unix::fs::PermissionsExt;
    let tokens = t.env.cache_dir().join("azml-ssh/tokens.json");
    assert_eq!(std::fs::metadata(&tokens).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_corrupt_token_cache_is_ignored_and_replaced() {
    let t = tunnel_env("");
    let tokens = t.env.cache_dir().join("azml-ssh/tokens.json");
    std::fs::create_dir_all(tokens.parent().unwrap()).unwrap();
    std::fs::write(&tokens, b"{\"tokens\": [garbage").unwrap();
    let out = run(&mut t.env.ssh(&t.config, "azmlci1", &["true"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    let text = std::fs::read_to_string(&tokens).unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok(), "replaced with a valid file: {text}");
}

#[test]
fn direct_transport_is_refused_and_auto_picks_the_tunnel() {
    let t = tunnel_env("");
    let out = run(&mut t.env.proxy(&["--transport", "direct", &t.id]), None, Duration::from_secs(10));
    assert!(!out.status.success());
    assert!(out.stderr.contains("SSH public access disabled"), "{}", out.stderr);
    assert_eq!(t.gateway.handshakes(), 0);

    // ProxyCommand azml-ssh -v proxy ...: its debug lines reach ssh's stderr.
    let verbose = t.env.ssh_config("verbose", &t.id, "");
    let text = std::fs::read_to_string(&verbose).unwrap().replace(" proxy ", " -v proxy ");
    std::fs::write(&verbose, text).unwrap();
    std::fs::write(&t.env.known_hosts, format!("verbose {}\n", Sshd::host_public_key(&t.env.sshd_dir()))).unwrap();
    let out = run(&mut t.env.ssh(&verbose, "verbose", &["echo", "ok"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "ok\n");
    assert!(out.stderr.contains("transport=\"tunnel\""), "{}", out.stderr);
}

#[test]
fn handshake_502_twice_then_101_connects() {
    let t = tunnel_env("");
    t.gateway.refuse_next(&[502, 502]);
    let out = run(&mut t.env.ssh(&t.config, "azmlci1", &["echo", "ok"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "ok\n");
    assert_eq!(t.gateway.handshakes(), 3);
}

#[test]
fn handshake_401_is_explained_without_a_retry_storm() {
    let t = tunnel_env("");
    t.gateway.refuse_next(&[401; 10]);
    let started = Instant::now();
    let out = run(&mut t.env.proxy(&[&t.id]), None, Duration::from_secs(20));
    assert!(!out.status.success());
    let last = out.stderr.lines().last().unwrap_or_default().to_owned();
    assert!(last.contains("refused the sign-in (HTTP 401)") && last.contains("az login"), "{}", out.stderr);
    assert_eq!(t.gateway.handshakes(), 1, "a 401 from a freshly fetched token is not retried");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_gateway_dropping_mid_stream_ends_ssh_promptly_with_an_error() {
    let t = tunnel_env("");
    // Enough to pass the key exchange, then gone without a close frame.
    t.gateway.drop_after(64 * 1024);
    let started = Instant::now();
    let out = run(&mut t.env.ssh(&t.config, "azmlci1", &["head -c 10000000 /dev/zero"]), None, Duration::from_secs(30));
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());

    // The proxy itself exits non-zero with the reason: here sshd's banner and key exchange offer are all that is
    // relayed before the drop, while stdin stays open.
    t.gateway.drop_after(1);
    let mut proxy = t.env.proxy(&[&t.id]);
    let mut child = proxy
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // stdin stays open: the end must come from the dropped tunnel alone.
    let _stdin = child.stdin.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the proxy did not exit after the tunnel dropped");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let out = (status, stderr);
    assert!(!out.0.success());
    let out = crate::common::Outcome { status: out.0, stdout: Vec::new(), stderr: out.1, elapsed: started.elapsed() };
    assert!(out.stderr.contains("dropped the connection without closing it"), "{}", out.stderr);
}

#[test]
fn a_dropped_tunnel_says_why_before_ssh_sees_the_end() {
    // ssh kills its ProxyCommand (SIGHUP) as soon as the proxy's output ends; the reason must be on stderr by then.
    // Found by the fault soak: a drop left ssh with only "Connection closed by remote host".
    let t = tunnel_env("");
    t.gateway.drop_after(1);
    for attempt in 0..5 {
        let mut proxy = t.env.proxy(&[&t.id]);
        let mut child = proxy
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let _stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        // As ssh does: read until the end, then hang up on the proxy at once.
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut sink);
        let _ = std::process::Command::new("kill").args(["-HUP", &child.id().to_string()]).status();
        let _ = child.wait();
        let stderr = reader.join().unwrap();
        assert!(stderr.contains("dropped the connection without closing it"), "attempt {attempt}: {stderr:?}");
    }
}

#[test]
fn the_tunnel_goes_through_an_https_proxy() {
    let mut t = tunnel_env("");
    let proxy = ConnectProxy::start();
    t.env.extra_env.push(("HTTPS_PROXY".into(), proxy.url()));
    let out = run(&mut t.env.ssh(&t.config, "azmlci1", &["echo", "ok"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(proxy.targets(), [format!("localhost:{}", t.gateway.addr.port())]);

    t.env.extra_env.push(("NO_PROXY".into(), "localhost".into()));
    let out = run(&mut t.env.ssh(&t.config, "azmlci1", &["echo", "ok"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(proxy.targets().len(), 1, "NO_PROXY bypasses the proxy");
}

/// An HTTPS proxy that answers with a head that never ends (a line without end, then endless headers): the
/// proxy gives up after 16 KiB with one line, instead of reading on and growing its memory with it.
#[test]
fn a_proxy_whose_answer_never_ends_is_refused_after_a_bounded_read() {
    use std::io::{Read, Write};
    let mut t = tunnel_env("");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = sent.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let counted = counted.clone();
            std::thread::spawn(move || {
                let mut request = [0u8; 1024];
                let _ = client.read(&mut request);
                let _ = client.write_all(b"HTTP/1.1 200 ");
                let chunk = [b'x'; 4096];
                // Bounded, so the test ends whatever happens: 64 MiB, unless the proxy closes first.
                for _ in 0..16 * 1024 {
                    if client.write_all(&chunk).is_err() {
                        break;
                    }
                    counted.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    t.env.extra_env.push(("HTTPS_PROXY".into(), format!("http://127.0.0.1:{port}")));
    let out = run(&mut t.env.ssh(&t.config, "azmlci1", &["echo", "ok"]), None, LIMIT);
    assert!(!out.status.success());
    let ours: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("azml-ssh:")).collect();
    assert_eq!(ours.len(), 1, "{}", out.stderr);
    assert!(ours[0].contains("its answer's head is over 16 KiB"), "{}", out.stderr);
    let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(sent < 64 * 1024 * 1024, "the proxy stopped reading and closed ({sent} bytes sent)");
}
