//! `azml-ssh doctor` against the mock ARM and a real sshd: an all-green setup passes, and each injected fault fails
//! its own item, with its own fix, and a non-zero exit.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::common::mock_arm::{Reply, compute_instance};
use crate::common::sshd::{Sshd, current_user};
use crate::common::{TestEnv, compute_id, run};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(30);

struct Setup {
    env: TestEnv,
    _sshd: Sshd,
    id: String,
}

/// A working setup: `azml-ssh add` wrote the host and Include, the key matches adminPublicKey, the instance runs.
fn green() -> Setup {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    let id = compute_id("ci1");
    let mut doc = compute_instance(&id, "Running", true, Some("127.0.0.1"), Some(sshd.port()));
    let public = std::fs::read_to_string(env.user_key.with_extension("pub")).unwrap();
    doc["properties"]["properties"]["sshSettings"]["adminPublicKey"] = json!(public.trim());
    env.arm.put_compute(&id, doc);
    let key = env.user_key.display().to_string();
    let out = run(
        env.command(crate::common::BIN).args([
            "add",
            "azmlci1",
            &id,
            "--identity-file",
            &key,
            "--user",
            &current_user(),
        ]),
        None,
        LIMIT,
    );
    assert!(out.status.success(), "{}", out.stderr);
    let known_hosts = env.path("home/.ssh/known_hosts");
    std::fs::write(&known_hosts, format!("azmlci1 {}\n", Sshd::host_public_key(&env.sshd_dir()))).unwrap();
    Setup { env, _sshd: sshd, id }
}

/// Runs doctor --json; returns (success, checks).
fn doctor(env: &TestEnv) -> (bool, Vec<Value>) {
    let out = run(env.command(crate::common::BIN).args(["doctor", "azmlci1", "--json"]), None, LIMIT);
    let checks: Vec<Value> =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout_text()));
    (out.status.success(), checks)
}

fn failed(checks: &[Value]) -> Vec<&Value> {
    checks.iter().filter(|c| c["verdict"] == "fail").collect()
}

/// Exactly one item fails: the one named, with a fix mentioning `fix`.
fn assert_only_failure(setup: &Setup, item: &str, fix: &str) {
    let (ok, checks) = doctor(&setup.env);
    assert!(!ok, "doctor passed: {checks:#?}");
    let failures = failed(&checks);
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert_eq!(failures[0]["item"], item, "{failures:#?}");
    assert!(failures[0]["fix"].as_str().unwrap_or_default().contains(fix), "{:#?}", failures[0]);
}

#[test]
fn an_all_green_setup_passes() {
    let setup = green();
    let (ok, checks) = doctor(&setup.env);
    assert!(ok, "{checks:#?}");
    let items: Vec<&str> = checks.iter().map(|c| c["item"].as_str().unwrap()).collect();
    for item in [
        "ssh client",
        "Include",
        "sign-in",
        "azmlci1: effective config",
        "azmlci1: program",
        "azmlci1: instance",
        "azmlci1: SSH banner",
        "azmlci1: key",
        "azmlci1: known_hosts",
    ] {
        assert!(items.contains(&item), "{item} missing from {items:?}");
    }
    let sign_in = checks.iter().find(|c| c["item"] == "sign-in").unwrap();
    let detail = sign_in["detail"].as_str().unwrap();
    assert!(detail.contains("Azure CLI") && detail.contains("tenant 99999999-8888-7777-6666-555555555555"), "{detail}");
    assert!(!detail.contains(crate::common::TOKEN), "no token in the output");
    let banner = checks.iter().find(|c| c["item"] == "azmlci1: SSH banner").unwrap();
    assert!(banner["detail"].as_str().unwrap().contains("SSH-2.0-"), "{banner}");
    // The human form marks each item.
    let out = run(setup.env.command(crate::common::BIN).args(["doctor", "azmlci1"]), None, LIMIT);
    assert!(out.status.success());
    assert!(
        out.stdout_text().lines().all(|l| l.starts_with("✔ ") || l.starts_with("! ") || l.starts_with("    fix:")),
        "{}",
        out.stdout_text()
    );
}

#[test]
fn no_include() {
    let setup = green();
    std::fs::write(setup.env.path("home/.ssh/config"), "# my own config\n").unwrap();
    let (ok, checks) = doctor(&setup.env);
    assert!(!ok);
    let failures = failed(&checks);
    assert!(
        failures.iter().any(|c| c["item"] == "Include" && c["fix"].as_str().unwrap().contains("azml-ssh config")),
        "{failures:#?}"
    );
}

#[test]
fn an_earlier_host_star_overrides_the_proxycommand() {
    let setup = green();
    let config = setup.env.path("home/.ssh/config");
    let ours = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("Host *\n    ProxyCommand nc %h %p\n{ours}")).unwrap();
    assert_only_failure(&setup, "azmlci1: effective config", "Host *");
}

#[test]
fn missing_key() {
    let setup = green();
    std::fs::remove_file(&setup.env.user_key).unwrap();
    assert_only_failure(&setup, "azmlci1: key", "--identity-file");
}

#[test]
fn key_readable_by_others() {
    let setup = green();
    std::fs::set_permissions(&setup.env.user_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_only_failure(&setup, "azmlci1: key", "chmod 600");
}

#[test]
fn key_not_matching_admin_public_key() {
    let setup = green();
    let other = setup.env.path("other_key");
    crate::common::sshd::keygen(&other);
    let public = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    setup.env.arm.patch_instance(&setup.id, "sshSettings", json!({"sshPublicAccess": "Enabled", "adminUserName": "azureuser", "sshPort": 1, "adminPublicKey": public.trim()}));
    // Keep the endpoint working: only the key is wrong.
    let (ok, checks) = doctor(&setup.env);
    assert!(!ok);
    let failures = failed(&checks);
    assert!(
        failures
            .iter()
            .any(|c| c["item"] == "azmlci1: key" && c["detail"].as_str().unwrap().contains("adminPublicKey")),
        "{failures:#?}"
    );
}

#[test]
fn not_logged_in() {
    let setup = green();
    setup.env.az_logged_out();
    let (ok, checks) = doctor(&setup.env);
    assert!(!ok);
    let failures = failed(&checks);
    assert!(
        failures.iter().any(|c| c["item"] == "sign-in" && c["fix"].as_str().unwrap().contains("az login")),
        "{failures:#?}"
    );
}

#[test]
fn instance_stopped() {
    let setup = green();
    setup.env.arm.patch_instance(&setup.id, "state", json!("Stopped"));
    assert_only_failure(&setup, "azmlci1: instance", "azml-ssh start azmlci1");
}

#[test]
fn no_ssh_banner() {
    let setup = green();
    // Something else answers on the SSH port.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = std::io::Write::write_all(&mut &stream, b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let public = std::fs::read_to_string(setup.env.user_key.with_extension("pub")).unwrap();
    setup.env.arm.patch_instance(&setup.id, "sshSettings", json!({"sshPublicAccess": "Enabled", "adminUserName": "azureuser", "sshPort": port, "adminPublicKey": public.trim()}));
    assert_only_failure(&setup, "azmlci1: SSH banner", "sshd on the instance");
}

#[test]
fn a_host_whose_sshd_never_greets_is_reported_silent_and_the_others_are_still_checked() {
    let setup = green();
    // A second instance whose SSH port accepts connections and then says nothing, holding them open.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    setup.env.put_running("ci0", port);
    let id = compute_id("ci0");
    let out = run(setup.env.command(crate::common::BIN).args(["add", "azmlci0", &id]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);

    let out = run(setup.env.command(crate::common::BIN).args(["doctor", "--json"]), None, LIMIT);
    assert!(!out.status.success(), "a silent sshd fails doctor");
    let checks: Vec<Value> =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout_text()));
    let banner = |alias: &str| {
        let item = format!("{alias}: SSH banner");
        let position = checks.iter().position(|c| c["item"] == item.as_str());
        (position.unwrap_or_else(|| panic!("{item} missing: {checks:#?}")), &checks[position.unwrap_or_default()])
    };
    let (silent_at, silent) = banner("azmlci0");
    let (healthy_at, healthy) = banner("azmlci1");
    assert!(silent_at < healthy_at, "the silent host is checked first: {checks:#?}");
    assert_eq!(silent["verdict"], "fail", "{silent}");
    let detail = silent["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with(&format!("127.0.0.1:{port}: the SSH greeting took longer than 5 s")), "{detail}");
    assert_eq!(healthy["verdict"], "pass", "{healthy}");
    assert!(healthy["detail"].as_str().unwrap_or_default().contains("says SSH-2.0-"), "{healthy}");
}

#[test]
fn a_short_vscode_connect_timeout_is_flagged_without_failing() {
    let setup = green();
    let settings = setup.env.path("home/.config/Code/User/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(
        &settings,
        "{\n  // mine\n  \"remote.SSH.connectTimeout\": 15, /* default */\n  \"editor.fontSize\": 14,\n}\n",
    )
    .unwrap();
    let (ok, checks) = doctor(&setup.env);
    assert!(ok, "a warning does not fail doctor: {checks:#?}");
    let vscode = checks.iter().find(|c| c["item"] == "VS Code").expect("VS Code item");
    assert_eq!(vscode["verdict"], "warn");
    assert!(vscode["fix"].as_str().unwrap().contains("\"remote.SSH.connectTimeout\": 600"), "{vscode}");
}

#[test]
fn the_banner_is_probed_through_the_tunnel_too() {
    let mut env = TestEnv::new();
    let sshd = env.start_sshd();
    let (_gateway, id) = env.put_tunnel_instance("ci1", sshd.addr);
    let out = run(env.command(crate::common::BIN).args(["add", "azmlci1", &id]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    let (_, checks) = doctor(&env);
    let banner = checks.iter().find(|c| c["item"] == "azmlci1: SSH banner").expect("banner item");
    assert_eq!(banner["verdict"], "pass", "{banner}");
    assert!(banner["detail"].as_str().unwrap().contains("the tunnel at localhost:"), "{banner}");
    assert!(banner["detail"].as_str().unwrap().contains("says SSH-2.0-"), "{banner}");
}

#[test]
fn a_blocked_ssh_port_is_reported_with_the_tunnel_that_works() {
    let mut env = TestEnv::new();
    let sshd = env.start_sshd();
    let (_gateway, id) = env.put_tunnel_instance("ci1", sshd.addr);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    env.arm.patch_instance(&id, "sshSettings", json!({"sshPublicAccess": "Enabled", "sshPort": closed}));
    env.arm.patch_instance(&id, "connectivityEndpoints", json!({"publicIpAddress": "127.0.0.1"}));
    let out = run(env.command(crate::common::BIN).args(["add", "azmlci1", &id]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    let (_, checks) = doctor(&env);
    let banner = checks.iter().find(|c| c["item"] == "azmlci1: SSH banner").expect("banner item");
    assert_eq!(banner["verdict"], "warn", "{banner}");
    let detail = banner["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("127.0.0.1:{closed} does not answer directly")), "{detail}");
    assert!(detail.contains("says SSH-2.0-") && detail.contains("connections use the tunnel"), "{detail}");
}

#[test]
fn a_gateway_outside_the_allowed_domains_is_never_probed_with_the_token() {
    let mut env = TestEnv::new();
    let sshd = env.start_sshd();
    let (gateway, id) = env.put_tunnel_instance("ci1", sshd.addr);
    let out = run(env.command(crate::common::BIN).args(["add", "azmlci1", &id]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    // The gateway is on localhost; only Azure ML's own domain is allowed now.
    env.extra_env.push(("AZML_SSH_GATEWAY_DOMAINS".into(), "instances.azureml.ms".into()));
    let (_, checks) = doctor(&env);
    let banner = checks.iter().find(|c| c["item"] == "azmlci1: SSH banner").expect("banner item");
    assert_eq!(banner["verdict"], "fail", "{banner}");
    assert!(banner["detail"].as_str().unwrap().contains("outside the Azure ML instance domains"), "{banner}");
    assert_eq!(gateway.handshakes(), 0, "the token went to a gateway outside the allow-list");

    // The same when the tunnel is only the fallback for a blocked SSH port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    env.arm.patch_instance(&id, "sshSettings", json!({"sshPublicAccess": "Enabled", "sshPort": closed}));
    env.arm.patch_instance(&id, "connectivityEndpoints", json!({"publicIpAddress": "127.0.0.1"}));
    let (_, checks) = doctor(&env);
    let banner = checks.iter().find(|c| c["item"] == "azmlci1: SSH banner").expect("banner item");
    assert_eq!(banner["verdict"], "fail", "{banner}");
    assert_eq!(gateway.handshakes(), 0, "the fallback probe sent the token too");
}

#[test]
fn a_servers_banner_and_arms_messages_reach_the_terminal_with_control_characters_escaped() {
    let env = TestEnv::new();
    // An "instance" whose sshd greets with escape sequences and a bell.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = std::io::Write::write_all(&mut stream, b"SSH-2.0-evil\x1b]0;owned\x07\x1b[2J\r\n");
        }
    });
    env.put_running("ci1", port);
    let id = crate::common::compute_id("ci1");
    let out = run(env.command(crate::common::BIN).args(["add", "azmlci1", &id]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    let out = run(env.command(crate::common::BIN).args(["doctor", "azmlci1"]), None, LIMIT);
    let text = out.stdout_text();
    assert!(text.contains(r"says SSH-2.0-evil\u{1b}]0;owned\u{7}\u{1b}[2J"), "{text}");
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");

    // An ARM error message with the same.
    let other = crate::common::compute_id("ci2");
    env.arm.script(&other, vec![Reply::error(400, "BadRequest", "no\x1b[31m way\x07")]);
    let out = run(&mut env.proxy(&["--timeout", "5", &other]), None, LIMIT);
    assert!(!out.status.success());
    assert!(out.stderr.contains(r"no\u{1b}[31m way\u{7}"), "{}", out.stderr);
    assert!(!out.stderr.contains('\x1b') && !out.stderr.contains('\x07'), "{:?}", out.stderr);
}

/// The checks of `doctor --remote`, by item (without the alias), as `(verdict, detail, fix)`.
fn remote_checks(out: &crate::common::Outcome) -> std::collections::HashMap<String, (String, String, String)> {
    let checks: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("not JSON: {}", out.stderr));
    checks
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (text("item").trim_start_matches("azmlci1: ").to_owned(), (text("verdict"), text("detail"), text("fix")))
        })
        .collect()
}

/// `doctor --remote` runs its read-only check over the real ssh, in a session whose HOME is a prepared one: output
/// before the command runs, a `.bashrc` with a shell switch, a half-downloaded server and a download server it
/// cannot reach are each found with their fix, and VS Code's local download setting turns the last into a pass.
#[test]
fn doctor_remote_finds_what_breaks_vs_codes_server() {
    let remote_home = tempfile::tempdir().unwrap();
    let home = remote_home.path();
    std::fs::write(home.join(".bashrc"), "alias ll='ls -l'\nif false; then\n  exec zsh\nfi\n").unwrap();
    std::fs::create_dir_all(home.join(".vscode-server/bin/0123abcd")).unwrap();
    std::fs::write(home.join(".vscode-server/vscode-server.tar.gz"), b"partial").unwrap();
    // A complete server and an extension's own archive are not findings.
    std::fs::create_dir_all(home.join(".vscode-server/bin/fine")).unwrap();
    std::fs::write(home.join(".vscode-server/bin/fine/node"), b"\x7fELF").unwrap();
    std::fs::create_dir_all(home.join(".vscode-server/extensions/ms-x.y/dist")).unwrap();
    std::fs::write(home.join(".vscode-server/extensions/ms-x.y/dist/data.tar.gz"), b"fine").unwrap();
    // sshd sets HOME from the password database; the session's command sets it to the prepared home, after a
    // greeting printed the way a noisy start-up file prints it: before the command runs.
    let force = format!(
        "ForceCommand echo Welcome to the instance; HOME={} exec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n",
        home.display()
    );
    let setup = crate::common::instance::setup_instance("", &force, "Running");
    let config = setup.config.display().to_string();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let doctor = |url: String| {
        let mut command = setup.env.command(crate::common::BIN);
        command.args(["doctor", "--remote", "azmlci1", "--json", "--ssh-config", &config]);
        run(command.env("AZML_SSH_VSCODE_UPDATE_URL", url), None, Duration::from_secs(60))
    };

    let out = doctor(format!("http://127.0.0.1:{closed}/"));
    assert!(!out.status.success(), "a failing finding fails the command");
    let checks = remote_checks(&out);
    let (verdict, detail, fix) = &checks["shell output"];
    assert_eq!(verdict, "fail", "{checks:?}");
    assert!(detail.contains("Welcome to the instance") && fix.contains("case $- in"), "{detail} / {fix}");
    let (verdict, detail, _) = &checks["shell start-up"];
    assert_eq!(verdict, "fail");
    assert!(detail.contains(".bashrc:3: exec zsh"), "{detail}");
    let (verdict, detail, fix) = &checks["VS Code server"];
    assert_eq!(verdict, "warn");
    assert!(detail.contains("bin/0123abcd") && detail.contains("vscode-server.tar.gz"), "{detail}");
    assert!(!detail.contains("bin/fine") && !detail.contains("extensions"), "{detail}");
    assert!(fix.contains("ssh azmlci1 rm -rf"), "{fix}");
    let (verdict, _, fix) = &checks["VS Code download"];
    assert_eq!(verdict, "fail");
    assert!(fix.contains("\"remote.SSH.localServerDownload\": \"always\""), "{fix}");
    assert!(["pass", "warn", "fail"].contains(&checks["free space in ~"].0.as_str()));
    assert!(home.join(".vscode-server/vscode-server.tar.gz").exists(), "read-only: nothing removed");

    // VS Code here downloads the server itself: the instance needs no internet for it.
    let settings = setup.env.path("home/.config/Code/User");
    std::fs::create_dir_all(&settings).unwrap();
    std::fs::write(
        settings.join("settings.json"),
        "{\n  // ours\n  \"remote.SSH.localServerDownload\": \"always\",\n}\n",
    )
    .unwrap();
    let out = doctor(format!("http://127.0.0.1:{closed}/"));
    assert_eq!(remote_checks(&out)["VS Code download"].0, "pass");

    // A download server that answers (even 403) is reached.
    let reachable = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = reachable.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut stream in reachable.incoming().flatten() {
            let _ = stream.read(&mut [0u8; 1024]);
            let _ = stream.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    std::fs::remove_file(settings.join("settings.json")).unwrap();
    let out = doctor(format!("http://127.0.0.1:{port}/"));
    assert_eq!(remote_checks(&out)["VS Code download"].0, "pass", "{}", out.stderr);

    let out = run(
        setup.env.command(crate::common::BIN).args(["doctor", "--remote", "nope", "--ssh-config", &config]),
        None,
        LIMIT,
    );
    assert!(out.stderr.contains("\"nope\" is neither a resource ID nor a host"), "{}", out.stderr);
    let out = doctor("http://x/$(touch /tmp/pwned)".into());
    assert!(out.stderr.contains("is not an http(s) URL of plain characters"), "{}", out.stderr);
}
