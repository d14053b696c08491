//! `azml-ssh doctor` against the mock ARM and a real sshd: an all-green setup passes, and each injected fault fails
//! its own item, with its own fix, and a non-zero exit.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
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
    let checks = crate::common::schema::doctor_checks(&out.stdout);
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
    // The real ssh on PATH (git's too, with nothing set) resolves the host to azml-ssh's ProxyCommand.
    let ssh = checks.iter().find(|c| c["item"].as_str().unwrap().starts_with("ssh (PATH")).expect("ssh item");
    assert!(ssh["detail"].as_str().unwrap().contains("resolves azmlci1 to azml-ssh's ProxyCommand"), "{ssh}");
    assert_eq!(checks.iter().filter(|c| c["item"].as_str().unwrap().starts_with("ssh (")).count(), 1, "{checks:#?}");
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
    let checks = crate::common::schema::doctor_checks(&out.stdout);
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
    assert!(banner["detail"].as_str().unwrap().contains("outside the Azure ML gateway domains"), "{banner}");
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
    let checks = crate::common::schema::doctor_checks(&out.stdout);
    checks
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

/// An instance whose sessions run `greeting` (a shell command) before the check, with `bashrc` as ~/.bashrc;
/// `doctor --remote --json` against it, with a download server that does not answer.
fn doctor_remote_after(greeting: &str, bashrc: &[u8], limit: Duration) -> crate::common::Outcome {
    let remote_home = tempfile::tempdir().unwrap();
    let home = remote_home.path();
    std::fs::write(home.join(".bashrc"), bashrc).unwrap();
    let force = format!("ForceCommand {greeting}; HOME={} exec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n", home.display());
    let setup = crate::common::instance::setup_instance("", &force, "Running");
    let config = setup.config.display().to_string();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut command = setup.env.command(crate::common::BIN);
    command.args(["doctor", "--remote", "azmlci1", "--json", "--ssh-config", &config]);
    run(command.env("AZML_SSH_VSCODE_UPDATE_URL", format!("http://127.0.0.1:{closed}/")), None, limit)
}

/// One byte that is not UTF-8 (Latin-1 `é`) in what the instance prints must not cost the rest of the output.
#[test]
fn doctor_remote_reads_output_that_is_not_utf8() {
    let greeting = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(greeting.path(), b"Willkommen, caf\xe9\n").unwrap();
    let out = doctor_remote_after(
        &format!("cat {}", greeting.path().display()),
        b"exec zsh # caf\xe9\n",
        Duration::from_secs(60),
    );
    let checks = remote_checks(&out);
    assert!(!checks.contains_key("remote shell"), "the check ran to its end: {checks:?}");
    let (verdict, detail, _) = &checks["shell output"];
    assert_eq!(verdict, "fail", "{checks:?}");
    assert!(detail.contains("Willkommen, caf\u{fffd}"), "{detail}");
    let (verdict, detail, _) = &checks["shell start-up"];
    assert_eq!(verdict, "fail", "{checks:?}");
    assert!(detail.contains(".bashrc:1:exec zsh # caf\u{fffd}"), "{detail}");
    assert_eq!(checks["VS Code download"].0, "fail", "{checks:?}");
}

/// A session that prints without end (`yes`) is cut off once the output bound is read, not at the 45 s limit.
#[test]
fn doctor_remote_stops_a_session_that_floods_its_output() {
    let out = doctor_remote_after("yes", b"", Duration::from_secs(20));
    let checks = remote_checks(&out);
    assert_eq!(checks["remote shell"].0, "fail", "{checks:?}");
    let (verdict, detail, _) = &checks["shell output"];
    assert_eq!(verdict, "fail", "{checks:?}");
    assert!(detail.contains("y y y"), "{detail}");
}

/// A fake ssh in `dir`: `-V` answers `version` on stderr (as ssh does), `-G` answers a config whose ProxyCommand is
/// `proxy`; every run appends its arguments (each followed by `|`) to `NAME.log`.
fn fake_ssh(dir: &Path, name: &str, version: &str, proxy: &str) -> PathBuf {
    let path = dir.join(name);
    let log = dir.join(format!("{name}.log"));
    let script = format!(
        "#!/bin/sh\nprintf '%s|' \"$@\" >> '{log}'\necho >> '{log}'\nfor a in \"$@\"; do\n  case \"$a\" in\n    -V) echo '{version}' >&2; exit 0 ;;\n    -G) printf 'user azureuser\\nport 22\\nproxycommand %s\\n' '{proxy}'; exit 0 ;;\n  esac\ndone\nexit 255\n",
        log = log.display()
    );
    crate::common::write_script(&path, &script);
    path
}

const DEBIAN: &str = "OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15";
const WINDOWS_77: &str = "OpenSSH_for_Windows_7.7p1, LibreSSL 2.6.5";

/// A configured host (the instance's SSH port closed: only the ssh items matter here) and a `bin` folder first
/// on PATH for fake programs.
fn with_fake_bin() -> (TestEnv, PathBuf, String) {
    let mut env = TestEnv::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    env.put_running("ci1", closed);
    let id = compute_id("ci1");
    let out = run(env.command(crate::common::BIN).args(["add", "azmlci1", &id]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    let bin = env.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = format!("{}:{}:{}", bin.display(), env.az_dir.display(), std::env::var("PATH").unwrap_or_default());
    env.extra_env.push(("PATH".into(), path));
    (env, bin, id)
}

fn vscode_ssh_path(env: &TestEnv, ssh: &Path) {
    let settings = env.path("home/.config/Code/User/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let text = json!({"remote.SSH.connectTimeout": 600, "remote.SSH.path": ssh}).to_string();
    std::fs::write(&settings, text).unwrap();
}

fn item<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks.iter().find(|c| c["item"] == name).unwrap_or_else(|| panic!("no {name}: {checks:#?}"))
}

fn text<'a>(check: &'a Value, key: &str) -> &'a str {
    check[key].as_str().unwrap_or_default()
}

/// The ssh on PATH, VS Code's remote.SSH.path and git's core.sshCommand are three programs, each checked on its
/// own line: its version (Windows' 7.7 with a quoted program fails with the fix; Debian's 9.2 may lack the host
/// name check) and what `-G ALIAS` resolves the host to. git's environment beats its config, and a program two
/// tools run is one line.
#[test]
fn every_ssh_a_tool_runs_is_checked_once_with_its_version_and_what_it_resolves() {
    let (env, bin, id) = with_fake_bin();
    let bin_path = crate::common::BIN;
    fake_ssh(&bin, "ssh", DEBIAN, &format!("{bin_path} proxy {id}"));
    let vscode = fake_ssh(&bin, "ssh77", WINDOWS_77, &format!("\"{bin_path}\" proxy {id}"));
    vscode_ssh_path(&env, &vscode);
    let git_ssh = fake_ssh(&bin, "gitssh", "OpenSSH_9.9p1, OpenSSL 3.2.3 3 Sep 2024", "nc %h %p");
    crate::common::write_script(
        &bin.join("git"),
        &format!(
            "#!/bin/sh\n[ \"$*\" = 'config --get core.sshCommand' ] && echo '{} -i \"my key\"' && exit 0\nexit 1\n",
            git_ssh.display()
        ),
    );

    let (ok, checks) = doctor(&env);
    assert!(!ok, "VS Code's ssh cannot start the ProxyCommand: {checks:#?}");
    let path = item(&checks, "ssh (PATH)");
    assert_eq!(path["verdict"], "warn", "{path}");
    assert!(text(path, "detail").starts_with(DEBIAN), "{path}");
    assert!(text(path, "detail").contains("CVE-2023-51385") && text(path, "fix").contains("upgrade OpenSSH"), "{path}");

    let code = item(&checks, "ssh (VS Code remote.SSH.path)");
    assert_eq!(code["verdict"], "fail", "{code}");
    assert!(text(code, "detail").contains("Windows OpenSSH 7.7 cannot start azmlci1's ProxyCommand"), "{code}");
    assert!(text(code, "detail").contains("double-quoted"), "{code}");
    assert!(text(code, "fix").contains("winget install Microsoft.OpenSSH.Beta"), "{code}");
    assert!(text(code, "fix").contains(r"Git\\usr\\bin\\ssh.exe"), "{code}");
    assert!(!text(code, "detail").contains("CVE"), "a Windows ssh is not flagged for the Unix shell's problem");

    let git = item(&checks, "ssh (git)");
    assert_eq!(git["verdict"], "warn", "git's ssh is not essential: {git}");
    assert!(text(git, "detail").contains("from git's core.sshCommand"), "{git}");
    assert!(text(git, "detail").contains("azmlci1 resolves to ProxyCommand nc %h %p, not azml-ssh's"), "{git}");
    let failing_ssh: Vec<_> = failed(&checks).into_iter().filter(|c| text(c, "item").starts_with("ssh (")).collect();
    assert_eq!(failing_ssh.len(), 1, "only VS Code's ssh fails: {checks:#?}");

    // Each program was asked with its tool's own words, then -F, -G and the alias last after `--`.
    let config = env.path("home/.ssh/config").display().to_string();
    let log = std::fs::read_to_string(bin.join("gitssh.log")).unwrap();
    assert!(log.lines().any(|l| l == format!("-F|{config}|-i|my key|-G|--|azmlci1|")), "{log}");
    let log = std::fs::read_to_string(bin.join("ssh.log")).unwrap();
    assert!(log.lines().any(|l| l == format!("-F|{config}|-G|--|azmlci1|")), "{log}");

    // GIT_SSH_COMMAND comes before core.sshCommand; naming the PATH ssh makes it one line, asked once.
    let mut env = env;
    env.extra_env.push(("GIT_SSH_COMMAND".into(), bin.join("ssh").display().to_string()));
    std::fs::remove_file(bin.join("ssh.log")).unwrap();
    let (_, checks) = doctor(&env);
    assert_eq!(item(&checks, "ssh (PATH, git)")["verdict"], "warn");
    assert!(!checks.iter().any(|c| c["item"] == "ssh (git)"), "{checks:#?}");
    let log = std::fs::read_to_string(bin.join("ssh.log")).unwrap();
    assert_eq!(log.lines().filter(|l| l.starts_with("-V")).count(), 1, "{log}");

    // The human form: one line per ssh, with its fix.
    let out = run(env.command(crate::common::BIN).args(["doctor", "azmlci1"]), None, LIMIT);
    let human = out.stdout_text();
    assert!(human.contains("✘ ssh (VS Code remote.SSH.path): OpenSSH_for_Windows_7.7p1, LibreSSL 2.6.5 ("), "{human}");
    assert!(human.contains("! ssh (PATH, git): OpenSSH_9.2p1"), "{human}");
}

/// Windows' 7.7 is flagged even when today's ProxyCommand suits it (unquoted, no token beyond %h %p %r), as a
/// warning; a token it does not know fails.
#[test]
fn windows_7_7_is_flagged_and_fails_on_tokens_it_does_not_know() {
    let (env, bin, id) = with_fake_bin();
    let bin_path = crate::common::BIN;
    fake_ssh(&bin, "ssh", WINDOWS_77, &format!("{bin_path} proxy {id}"));
    let (_, checks) = doctor(&env);
    let path = checks.iter().find(|c| text(c, "item").starts_with("ssh (PATH")).expect("ssh item");
    assert_eq!(path["verdict"], "warn", "{path}");
    assert!(text(path, "detail").contains("cannot start a double-quoted ProxyCommand program"), "{path}");
    assert!(text(path, "fix").contains("winget install Microsoft.OpenSSH.Beta"), "{path}");

    fake_ssh(&bin, "ssh", WINDOWS_77, &format!("{bin_path} proxy --wildcard azml -- %n"));
    let (_, checks) = doctor(&env);
    let path = checks.iter().find(|c| text(c, "item").starts_with("ssh (PATH")).expect("ssh item");
    assert_eq!(path["verdict"], "fail", "{path}");
    assert!(text(path, "detail").contains("it uses %n"), "{path}");
}

/// A VS Code ssh that never exits, and one that floods its output without end, cost doctor one time limit each
/// (it kills them), and each fails its own line; the other checks still run.
#[test]
fn an_ssh_that_hangs_or_floods_is_cut_off() {
    let (env, bin, _) = with_fake_bin();
    let hung = bin.join("hung-ssh");
    crate::common::write_script(&hung, "#!/bin/sh\nexec sleep 600\n");
    vscode_ssh_path(&env, &hung);
    let out = run(env.command(crate::common::BIN).args(["doctor", "azmlci1", "--json"]), None, LIMIT);
    let checks = crate::common::schema::doctor_checks(&out.stdout);
    let code = item(&checks, "ssh (VS Code remote.SSH.path)");
    assert_eq!(code["verdict"], "fail", "{code}");
    assert!(text(code, "detail").contains("did not finish within 5 s"), "{code}");
    assert!(checks.iter().any(|c| c["item"] == "azmlci1: effective config"), "{checks:#?}");

    // Output without end, on both streams, never finishing.
    let flood = bin.join("flood-ssh");
    crate::common::write_script(&flood, "#!/bin/sh\nyes 'OpenSSH_9.9p1 again and again' >&2 &\nexec yes\n");
    vscode_ssh_path(&env, &flood);
    let out = run(env.command(crate::common::BIN).args(["doctor", "azmlci1", "--json"]), None, LIMIT);
    let checks = crate::common::schema::doctor_checks(&out.stdout);
    let code = item(&checks, "ssh (VS Code remote.SSH.path)");
    assert_eq!(code["verdict"], "fail", "{code}");
    assert!(out.stdout.len() < 64 << 10, "{} bytes of output", out.stdout.len());

    // A huge first line that ends: cut to a readable length.
    let long = bin.join("long-ssh");
    crate::common::write_script(&long, "#!/bin/sh\nhead -c 50000000 /dev/zero | tr '\\0' x >&2\nexit 0\n");
    vscode_ssh_path(&env, &long);
    let (_, checks) = doctor(&env);
    let code = item(&checks, "ssh (VS Code remote.SSH.path)");
    assert!(text(code, "detail").len() < 2000, "{}", text(code, "detail").len());
    assert!(text(code, "detail").contains("which is not OpenSSH's version"), "{code}");
}

/// GIT_SSH_COMMAND is split into words and its program run with them as arguments: shell syntax in it is text.
#[test]
fn git_ssh_command_never_goes_through_a_shell() {
    let (mut env, bin, id) = with_fake_bin();
    let ssh = fake_ssh(&bin, "ssh", DEBIAN, &format!("{} proxy {id}", crate::common::BIN));
    let marks: Vec<PathBuf> = (1..=4).map(|i| env.path(&format!("pwned{i}"))).collect();
    let [m1, m2, m3, m4] = [0, 1, 2, 3].map(|i| marks[i].display().to_string());
    env.extra_env.push(("GIT_SSH_COMMAND".into(), format!("ssh; touch {m1}")));
    let (_, checks) = doctor(&env);
    let git = item(&checks, "ssh (git)");
    assert_eq!(git["verdict"], "warn", "{git}");
    assert!(text(git, "detail").contains("GIT_SSH_COMMAND names ssh;, which is not found"), "{git}");

    let command = format!("{} -o X=$(touch {m2}) `touch {m3}` | touch {m4} && touch {m1}", ssh.display());
    env.extra_env.push(("GIT_SSH_COMMAND".into(), command));
    let (_, checks) = doctor(&env);
    assert!(checks.iter().any(|c| text(c, "item").starts_with("ssh (")), "{checks:#?}");
    for mark in &marks {
        assert!(!mark.exists(), "{} was created", mark.display());
    }
    let log = std::fs::read_to_string(bin.join("ssh.log")).unwrap();
    assert!(
        log.contains(&format!("|-o|X=$(touch|{m2})|`touch|{m3}`|||touch|{m4}|&&|touch|{m1}|-G|--|azmlci1|")),
        "{log}"
    );
}

/// The real OpenSSH, through git's own `-F`: that config wins over the one doctor gives, and its host is not
/// azml-ssh's, which git's line says while the PATH ssh's passes.
#[test]
fn the_real_ssh_resolves_a_real_config_for_each_tool() {
    let setup = green();
    let mut env = setup.env;
    let other = env.path("home/other_config");
    std::fs::write(&other, "Host azmlci1\n    ProxyCommand nc %h %p\n").unwrap();
    env.extra_env.push(("GIT_SSH_COMMAND".into(), format!("ssh -F {}", other.display())));
    let (ok, checks) = doctor(&env);
    assert!(ok, "{checks:#?}");
    let path = item(&checks, "ssh (PATH)");
    assert!(text(path, "detail").starts_with("OpenSSH_"), "{path}");
    assert!(text(path, "detail").contains("(/"), "the program's path: {path}");
    let git = item(&checks, "ssh (git)");
    assert_eq!(git["verdict"], "warn", "{git}");
    assert!(text(git, "detail").contains("azmlci1 resolves to ProxyCommand nc %h %p, not azml-ssh's"), "{git}");
    assert!(text(git, "detail").contains(&format!("ssh -F {}", other.display())), "{git}");
}
