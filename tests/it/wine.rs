//! The Windows build, `azml-ssh.exe`, under Wine: the files it writes in a Windows profile, and connections made
//! by the real Linux OpenSSH client through it as ProxyCommand — cold and warm, large transfers, exit status,
//! half-close, ssh going away, a cold burst, an automatic start, the tunnel — against the suite's mock ARM,
//! mock gateway and throwaway sshd. Sign-in runs the real azure_identity code, which on Windows runs a fake
//! `az.cmd` through `cmd /C`.
//!
//! These need the Windows build and a prepared Wine prefix, so `cargo test` alone lists them as ignored;
//! `contrib/test.sh` (the README's test command) builds both and runs them with `--ignored`. What Wine cannot
//! show — Windows OpenSSH launching the ProxyCommand itself, NTFS enforcing the ACLs, Ctrl-C in a console — is
//! listed in docs/windows.md.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::mock_arm::Machine;
use crate::common::wine::{Wine, processes_mentioning, win, write_fake_az_cmd};
use azml_ssh::sshconf::include::MARKER;

use crate::common::{TOKEN, TestEnv, cache_key, compute_id, random_bytes, run, sha256_file};

const LIMIT: Duration = Duration::from_secs(90);

fn setup() -> (Wine, TestEnv) {
    let wine = Wine::get();
    let env = TestEnv::new();
    write_fake_az_cmd(&env, TOKEN);
    (wine, env)
}

/// Nobody else may read or write what azml-ssh wrote. Wine gives a file the Unix mode its DACL implies, with
/// Everyone as "other": an owner-only DACL (owner and SYSTEM) shows as no "other" bits, an inherited or open one
/// as some (Wine's default for new files is 0644-like).
fn assert_private(path: &std::path::Path) {
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode & 0o007, 0, "{} has mode {mode:o}", path.display());
}

/// Through an echo instance: one byte there and back while our input is open (a cold lookup happens then; on
/// Windows, input that ends before the connection is made means ssh has gone), then more after which our end
/// closes — and the echo of that still arrives.
fn echo_with_input_open(mut cmd: std::process::Command) {
    let mut proxy = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (mut input, mut output) = (proxy.stdin.take().unwrap(), proxy.stdout.take().unwrap());
    input.write_all(b"a").unwrap();
    let mut byte = [0u8; 1];
    if let Err(e) = output.read_exact(&mut byte) {
        panic!("no echo ({e}); {}", said(&mut proxy));
    }
    assert_eq!(&byte, b"a");
    input.write_all(b"after").unwrap();
    drop(input);
    let mut rest = Vec::new();
    output.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"after", "{}", said(&mut proxy));
    let end = said(&mut proxy);
    assert!(end.starts_with("the proxy ended with exit status: 0;"), "{end}");
}

/// How the proxy ended and what it said on stderr, for a failure's message (read once it has ended, so that its
/// stderr has closed).
fn said(proxy: &mut std::process::Child) -> String {
    let status = proxy.wait().unwrap();
    let mut text = String::new();
    proxy.stderr.take().unwrap().read_to_string(&mut text).unwrap();
    format!("the proxy ended with {status}; its stderr: {text}")
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn add_writes_a_windows_ssh_config_and_keeps_the_users_crlf_file() {
    let (wine, env) = setup();
    let (_profile, ssh_dir) = wine.profile_ssh();
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let user_config = ssh_dir.join("config");
    let original = b"# my hosts\r\nHost build\r\n    HostName 10.0.0.5\r\n    User me\r\n".to_vec();
    std::fs::write(&user_config, &original).unwrap();
    std::fs::set_permissions(&env.user_key, std::fs::Permissions::from_mode(0o600)).unwrap();

    let id = compute_id("ci1");
    let key = win(&env.user_key);
    let out = run(&mut wine.command(&env, &["add", "azmlci1", &id, "--identity-file", &key]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);

    // %USERPROFILE%\.ssh\azml-ssh\config: the console-less twin beside the program, unquoted (its path has no
    // spaces: Windows' OpenSSH 7.7 cannot start a quoted one), forward slashes, no verbatim prefix, no fd passing.
    let include_file = ssh_dir.join("azml-ssh/config");
    let text = std::fs::read_to_string(&include_file).unwrap();
    let twin = win(&wine.twin()).replace('\\', "/");
    assert!(text.contains(&format!("    ProxyCommand {twin} proxy {id}\n")), "{text}");
    assert!(!text.contains("ProxyUseFdpass"), "Windows OpenSSH has no fd passing: {text}");
    assert!(!text.contains(r"\\?\"), "no verbatim prefix: {text}");
    let key_line = format!("    IdentityFile {}\n", key.replace('\\', "/"));
    assert!(text.contains(&key_line), "{text}");
    assert_private(&include_file);

    // The user's CRLF file: every byte kept, our Include (relative, which every ssh reads) before the first
    // directive.
    let after = std::fs::read(&user_config).unwrap();
    let with_include = |include: &str| {
        [
            b"# my hosts\r\n".as_slice(),
            format!("{MARKER}\r\n{include}\r\n\r\n").as_bytes(),
            &original[b"# my hosts\r\n".len()..],
        ]
        .concat()
    };
    let expected = with_include("Include azml-ssh/config");
    assert_eq!(String::from_utf8_lossy(&after), String::from_utf8_lossy(&expected));

    // An ssh that follows upstream's Include rule, as Git for Windows' ssh and Windows' OpenSSH 7.7 do (only `/…`
    // and `~…` are absolute), reads the hosts through it: Linux's OpenSSH with the profile as its home.
    let resolved = ssh_g_with_home(&wine.profile(), "azmlci1");
    assert!(resolved.contains(&format!("\nproxycommand {twin} proxy {id}\n")), "{resolved}");

    // What an earlier version wrote, a drive path those ssh programs never read, is replaced in place.
    let name = wine.profile().file_name().unwrap().to_string_lossy().into_owned();
    let earlier = with_include(&format!("Include C:/users/{name}/.ssh/azml-ssh/config"));
    std::fs::write(&user_config, &earlier).unwrap();
    let out = run(&mut wine.command(&env, &["add", "azmlci1", &id, "--identity-file", &key]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(String::from_utf8_lossy(&std::fs::read(&user_config).unwrap()), String::from_utf8_lossy(&expected));

    // Removing the host and the Include gives the user's file back byte for byte.
    let out = run(&mut wine.command(&env, &["config", "--remove"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(std::fs::read(&user_config).unwrap(), original);
}

/// `ssh -G HOST` by Linux's OpenSSH reading `~/.ssh/config` with `home` as its `~`: OpenSSH takes `~` from the
/// password database, so `home` is bind-mounted over the real home in a mount namespace of its own (root only,
/// as CI runs; nothing outside the namespace sees the mount).
fn ssh_g_with_home(home: &std::path::Path, host: &str) -> String {
    let user = crate::common::sshd::current_user();
    let passwd = std::process::Command::new("getent").args(["passwd", &user]).output().unwrap();
    let real_home = String::from_utf8_lossy(&passwd.stdout).trim().split(':').nth(5).unwrap().to_owned();
    let script = r#"mount --bind "$1" "$2" && exec ssh -G "$3""#;
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", script, "sh"]).arg(home).arg(&real_home).arg(host);
    let out = run(&mut cmd, None, LIMIT);
    assert!(out.status.success(), "unshare -m (needs root): {}", out.stderr);
    out.stdout_text()
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn a_private_user_config_stays_private_through_rewrites_and_local_app_data_is_private() {
    let (wine, env) = setup();
    let (_profile, ssh_dir) = wine.profile_ssh();
    std::fs::create_dir_all(&ssh_dir).unwrap();
    // The folder hands down an ACL that lets Everyone read (Wine's rendering of a 0755 directory), so a rewrite that
    // took the folder's ACL would show.
    std::fs::set_permissions(&ssh_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let user_config = ssh_dir.join("config");
    std::fs::write(&user_config, "Host build\r\n    HostName 10.0.0.5\r\n").unwrap();
    // Owner-only, as `icacls config /inheritance:r /grant:r me:F` leaves it (Wine shows that as no "other" bits).
    std::fs::set_permissions(&user_config, std::fs::Permissions::from_mode(0o600)).unwrap();
    // No XDG_CACHE_HOME: azml-ssh's folder in %LOCALAPPDATA% (where the lock for `.ssh` lives) is made afresh.
    let local = wine.profile().join("AppData/Local/azml-ssh");
    let _ = std::fs::remove_dir_all(&local);

    let id = env.put_echo_instance("ci1");
    let mut add = wine.command(&env, &["add", "azmlci1", &id]);
    let out = run(add.env_remove("XDG_CACHE_HOME"), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(std::fs::read_to_string(&user_config).unwrap().contains("Include "), "the config was rewritten");
    assert_private(&user_config);
    assert_private(&local);

    let mut remove = wine.command(&env, &["config", "--remove"]);
    let out = run(remove.env_remove("XDG_CACHE_HOME"), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!std::fs::read_to_string(&user_config).unwrap().contains("Include "), "the config was rewritten");
    assert_private(&user_config);
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn a_key_others_can_read_is_refused_with_the_icacls_fix() {
    let (wine, env) = setup();
    std::fs::set_permissions(&env.user_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let id = compute_id("ci1");
    let out =
        run(&mut wine.command(&env, &["add", "azmlci1", &id, "--identity-file", &win(&env.user_key)]), None, LIMIT);
    assert!(!out.status.success());
    let err = out.stderr.trim();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("Everyone can read it"), "{err}");
    assert!(err.contains(&format!("icacls \"{}\" /inheritance:r /grant:r", win(&env.user_key))), "{err}");
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn cold_lookup_through_az_cmd_then_a_warm_connection_with_no_azure_call() {
    let (wine, env) = setup();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.port());
    let config = wine.ssh_config(&env, "azmlci1", &compute_id("ci1"), "");

    let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "cold"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "cold\n");
    assert_eq!(env.az_calls(), 1, "one token from az.cmd");
    assert!(env.az_call_lines()[0].starts_with("account get-access-token"), "{:?}", env.az_call_lines());
    let arm_requests = env.arm.request_count();

    let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "warm"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "warm\n");
    assert_eq!(env.az_calls(), 1, "no token for a warm connection");
    assert_eq!(env.arm.request_count(), arm_requests, "no ARM call for a warm connection");

    // Cache and tokens are where XDG_CACHE_HOME says (LOCALAPPDATA otherwise), private to the user.
    let root = env.cache_dir().join("azml-ssh");
    assert_private(&root.join("endpoints").join(format!("{}.json", cache_key(&compute_id("ci1")))));
    assert_private(&root.join("tokens.json"));
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn a_cache_entry_others_may_write_is_not_trusted() {
    let (wine, env) = setup();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.port());
    let id = compute_id("ci1");
    let config = wine.ssh_config(&env, "azmlci1", &id, "");
    assert!(run(&mut env.ssh(&config, "azmlci1", &["true"]), None, LIMIT).status.success());
    let requests = env.arm.request_count();

    // Everyone may write it now (Wine turns "other" mode bits into an Everyone entry in the DACL).
    let entry = env.cache_dir().join("azml-ssh/endpoints").join(format!("{}.json", cache_key(&id)));
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "ok"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains("Everyone may write it"), "{}", out.stderr);
    assert!(env.arm.request_count() > requests, "the untrusted entry was used instead of asking ARM");
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn large_transfers_both_ways_and_the_exit_status_come_through() {
    let (wine, env) = setup();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.port());
    let config = wine.ssh_config(&env, "azmlci1", &compute_id("ci1"), "");

    let up = env.path("up.bin");
    std::fs::write(&up, random_bytes(24 << 20, 7)).unwrap();
    let out = run(&mut env.ssh(&config, "azmlci1", &["sha256sum"]), Some(std::fs::read(&up).unwrap()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text().split_whitespace().next().unwrap(), sha256_file(&up));

    // sshd runs on this machine, so the file it sends is right here to compare with.
    let down = env.path("down.bin");
    std::fs::write(&down, random_bytes(24 << 20, 11)).unwrap();
    let out = run(&mut env.ssh(&config, "azmlci1", &["cat", &down.display().to_string()]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout == std::fs::read(&down).unwrap(), "the download differs");

    let out = run(&mut env.ssh(&config, "azmlci1", &["exit", "3"]), None, LIMIT);
    assert_eq!(out.status.code(), Some(3), "{}", out.stderr);
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn output_after_stdins_end_is_delivered() {
    let (wine, env) = setup();
    let id = env.put_echo_instance("ci1");

    // Cold: the lookup happens while our input is open (on Windows, input that ends before the connection is
    // made means ssh has gone). One byte there and back, then our end closes and the echo still arrives.
    echo_with_input_open(wine.command(&env, &["proxy", &id]));

    // Warm, as a byte pipe: send, close our end, and still get everything back.
    let data = random_bytes(3 << 20, 5);
    let out = run(&mut wine.command(&env, &["proxy", &id]), Some(data.clone()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout == data, "got {} of {} bytes back", out.stdout.len(), data.len());
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn the_proxy_leaves_when_ssh_is_killed_during_a_start() {
    let (wine, env) = setup();
    let sshd = env.start_sshd();
    let id = compute_id("ci1");
    env.arm.put_machine(&id, "Stopped", Machine::new(sshd.port()));
    env.arm.delay_next_start(Duration::from_secs(120));
    let config = wine.ssh_config(&env, "azmlci1", &id, "");
    let mut ssh = env.ssh(&config, "azmlci1", &["true"]);
    let mut ssh = ssh.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();

    // Its XDG_CACHE_HOME names this test's folder: the Windows process of this proxy and no other.
    let marker = format!("XDG_CACHE_HOME={}", win(&env.cache_dir()));
    let deadline = Instant::now() + LIMIT;
    while env.arm.delayed_starts() == 0 {
        assert!(Instant::now() < deadline, "the proxy never sent its start");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!processes_mentioning(&marker).is_empty(), "the proxy is not running");
    ssh.kill().unwrap();
    ssh.wait().unwrap();
    let gone_by = Instant::now() + Duration::from_secs(10);
    while !processes_mentioning(&marker).is_empty() {
        assert!(Instant::now() < gone_by, "the proxy is still running 10 s after ssh went away");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn a_cold_burst_shares_one_lookup_and_a_stopped_instance_starts_once() {
    let (wine, env) = setup();
    let sshd = env.start_sshd();
    let id = compute_id("ci1");
    env.arm.put_machine(&id, "Stopped", Machine { polls_to_running: 3, ..Machine::new(sshd.port()) });
    let config = wine.ssh_config(&env, "azmlci1", &id, "");

    env.concurrent_echoes(&config, "azmlci1", 5, LIMIT);
    assert_eq!(env.arm.count_method("POST", &format!("{id}/start")), 1, "exactly one start across processes");
    assert_eq!(env.az_calls(), 1, "one token for the whole burst");
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn a_cold_burst_by_name_makes_one_search_through_the_exe() {
    let (wine, env) = setup();
    let sshd = env.start_sshd();
    env.arm.set_subscriptions(&[(crate::common::SUB, "Enabled")]);
    env.put_running("ci7", sshd.port());
    // The wildcard host's ProxyCommand (`proxy --wildcard azml -- %h`) with no name index: the name is searched for.
    let config = wine.ssh_config(&env, "ci7.azml", "'%h'", "--wildcard azml -- ");

    env.concurrent_echoes(&config, "ci7.azml", 4, LIMIT);
    let lists = format!("/subscriptions/{}/providers/Microsoft.MachineLearningServices/workspaces", crate::common::SUB);
    assert_eq!(env.arm.count_method("GET", &lists), 1, "one search for the burst");
    assert_eq!(env.arm.count_method("GET", &compute_id("ci7")), 2, "the search's GET, then one lookup");
    let requests = env.arm.request_count();
    let out = run(&mut env.ssh(&config, "ci7.azml", &["echo", "warm"]), None, LIMIT);
    assert_eq!(out.stdout_text(), "warm\n", "{}", out.stderr);
    assert_eq!(env.arm.request_count(), requests, "a known name and a cached endpoint cost Azure nothing");
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn progress_of_an_automatic_start_reaches_sshs_stderr() {
    let (wine, env) = setup();
    let sshd = env.start_sshd();
    let id = compute_id("ci1");
    env.arm.put_machine(&id, "Stopped", Machine::new(sshd.port()));
    let config = wine.ssh_config(&env, "azmlci1", &id, "");
    let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "ok"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "ok\n");
    assert!(out.stderr.contains("azml-ssh: ci1 is Running after 0:0"), "{}", out.stderr);
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn without_xdg_variables_the_profile_and_local_app_data_are_used() {
    let (wine, env) = setup();
    let (_profile, ssh_dir) = wine.profile_ssh();
    let id = env.put_echo_instance(&format!("noxdg{}", std::process::id()));
    let out = run(&mut wine.command(&env, &["add", "azmlci-noxdg", &id]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout_text().contains(r"\.ssh\azml-ssh\config"), "{}", out.stdout_text());
    assert!(std::fs::read_to_string(ssh_dir.join("azml-ssh/config")).unwrap().contains("Host azmlci-noxdg\n"));
    assert!(std::fs::read_to_string(ssh_dir.join("config")).unwrap().starts_with(MARKER));

    // The endpoint cache goes to %LOCALAPPDATA%\azml-ssh.
    let mut cmd = wine.command(&env, &["proxy", &id]);
    cmd.env_remove("XDG_CACHE_HOME");
    echo_with_input_open(cmd);
    let entry = wine.profile().join("AppData/Local/azml-ssh/endpoints").join(format!("{}.json", cache_key(&id)));
    assert!(entry.is_file(), "no cache entry at {}", entry.display());
    assert_private(&entry);
    std::fs::remove_file(entry).unwrap();
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn the_tunnel_works_through_windows_trust_with_no_extra_roots() {
    let (wine, mut env) = setup();
    let sshd = env.start_sshd();
    // The gateway's CA goes into the prefix's Root store, as a corporate or public CA is on a Windows machine; no
    // SSL_CERT_FILE, so the platform verifier asks Windows alone.
    let ca = crate::common::tls::TestCa::for_wine(&env.path(""));
    let out = run(wine.tool("addroot").arg(win(&ca.pem_path)), None, LIMIT);
    assert!(out.status.success(), "addroot: {}{}", out.stderr, out.stdout_text());
    let target = std::net::SocketAddr::from(([127, 0, 0, 1], sshd.port()));
    let gateway = crate::common::gateway::Gateway::start(&ca, TOKEN, target);
    let id = compute_id("ci1");
    let mut doc = crate::common::mock_arm::compute_instance(&id, "Running", false, None, None);
    doc["properties"]["properties"]["applications"] =
        serde_json::json!([{"displayName": "Jupyter", "endpointUri": gateway.jupyter_uri()}]);
    env.arm.put_compute(&id, doc);
    env.extra_env.retain(|(k, _)| k != "SSL_CERT_FILE");
    let config = wine.ssh_config(&env, "azmlci1", &id, "");

    let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "tunnel"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "tunnel\n");
    assert_eq!(gateway.handshakes(), 1);

    // Warm: the cached gateway and token, no Azure call; a transfer both ways through TLS and WebSocket.
    let requests = env.arm.request_count();
    let data = random_bytes(8 << 20, 13);
    let out = run(&mut env.ssh(&config, "azmlci1", &["cat"]), Some(data.clone()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout == data, "got {} of {} bytes back", out.stdout.len(), data.len());
    assert_eq!(env.arm.request_count(), requests);
    assert_eq!(env.az_calls(), 1);
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn sign_in_through_azd_cmd_and_one_line_when_there_is_none() {
    let (wine, mut env) = setup();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.port());
    // A PATH with neither az.cmd nor azd.cmd: one line that says what to install.
    let empty = env.path("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    env.extra_env.push(("WINEPATH".into(), win(&empty)));
    let config = wine.ssh_config(&env, "azmlci1", &compute_id("ci1"), "");
    let out = run(&mut env.ssh(&config, "azmlci1", &["true"]), None, LIMIT);
    assert!(!out.status.success());
    let ours: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("azml-ssh:")).collect();
    assert_eq!(ours.len(), 1, "{}", out.stderr);
    assert!(ours[0].contains("the Azure CLI (`az`) is not on PATH; install it and run `az login`"), "{}", ours[0]);

    // azd.cmd alone: azure_identity runs it through `cmd /C`, and the connection goes through.
    env.extra_env.pop();
    std::fs::remove_file(env.az_dir.join("az.cmd")).unwrap();
    crate::common::wine::write_fake_azd_cmd(&env, TOKEN);
    let config = wine.ssh_config(&env, "azmlci1", &compute_id("ci1"), "");
    let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "azd"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "azd\n");
    assert_eq!(env.azd_calls(), 1);
    assert!(std::fs::read_to_string(env.az_dir.join("azd-calls.log")).unwrap().starts_with("auth token -o json"));
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn doctor_reads_vs_codes_settings_in_appdata_and_names_the_windows_fixes() {
    let (wine, env) = setup();
    let (_profile, _ssh_dir) = wine.profile_ssh();
    let settings_dir = wine.profile().join("AppData/Roaming/Code/User");
    std::fs::create_dir_all(&settings_dir).unwrap();
    let missing_ssh = r"C:\\Program Files\\NoSuch\\ssh.exe";
    let settings = format!(
        "{{\r\n  // mine\r\n  \"remote.SSH.connectTimeout\": 30,\r\n  \"remote.SSH.path\": \"{missing_ssh}\",\r\n}}\r\n"
    );
    std::fs::write(settings_dir.join("settings.json"), settings).unwrap();

    let out = run(&mut wine.command(&env, &["doctor", "--timeout", "10"]), None, LIMIT);
    let _ = std::fs::remove_dir_all(wine.profile().join("AppData/Roaming/Code"));
    let text = out.stdout_text();
    assert!(!out.status.success(), "{text}");
    // Wine has no Windows OpenSSH: the fix is Windows' own.
    assert!(text.contains("✘ ssh (PATH): no `ssh` on PATH"), "{text}");
    assert!(text.contains("Optional features → OpenSSH Client"), "{text}");
    assert!(text.contains(r"remote.SSH.connectTimeout is 30 s in C:\users\"), "{text}");
    assert!(text.contains(r"AppData\Roaming\Code\User\settings.json"), "{text}");
    assert!(text.contains(r"✘ ssh (VS Code remote.SSH.path): remote.SSH.path in C:\users\"), "{text}");
    assert!(text.contains(r"names C:\Program Files\NoSuch\ssh.exe, which does not exist"), "{text}");
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn config_discovers_my_instances_and_scp_and_git_go_through_the_exe() {
    let (wine, env) = setup();
    let (_profile, ssh_dir) = wine.profile_ssh();
    let sshd = env.start_sshd();
    let (mine, theirs) = (compute_id("ci1"), compute_id("ci2"));
    env.arm.set_subscriptions(&[(crate::common::SUB, "Enabled")]);
    env.put_running("ci1", sshd.port());
    let mut other = crate::common::mock_arm::compute_instance(&theirs, "Running", true, Some("127.0.0.1"), Some(1));
    other["properties"]["properties"]["personalComputeInstanceSettings"]["assignedUser"]["objectId"] =
        serde_json::json!("99999999-0000-0000-0000-000000000000");
    env.arm.put_compute(&theirs, other);

    let out = run(&mut wine.command(&env, &["config", "--user", &crate::common::sshd::current_user()]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    let hosts = std::fs::read_to_string(ssh_dir.join("azml-ssh/config")).unwrap();
    assert!(
        hosts.contains("Host ci1\n") && !hosts.contains("Host ci2\n"),
        "{hosts}\n{}\n{}",
        out.stdout_text(),
        out.stderr
    );
    assert!(hosts.contains(&format!("proxy {mine}\n")), "{hosts}");
    let out = run(&mut wine.command(&env, &["config", "--remove"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!ssh_dir.join("azml-ssh/config").exists());

    // scp and git over ssh, with the .exe as ProxyCommand.
    let config = wine.ssh_config(&env, "ci1", &mine, "");
    let local = env.path("payload.bin");
    std::fs::write(&local, random_bytes(2 << 20, 3)).unwrap();
    let remote = env.path("copied.bin");
    env.scp(&config, &local.display().to_string(), &format!("ci1:{}", remote.display()));
    assert_eq!(sha256_file(&remote), sha256_file(&local));

    env.git_clone_works(&config, "ci1");
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn the_proxy_programs_twin_never_gets_a_console_window() {
    let wine = Wine::get();
    // The PE header's Subsystem field (optional header + 68): 3 is a console program, which Windows gives a new
    // console window when its parent has none; 2 is a GUI program, which never gets one.
    let subsystem = |path: &std::path::Path| {
        let data = std::fs::read(path).unwrap();
        let pe = u32::from_le_bytes(data[0x3c..0x40].try_into().unwrap()) as usize;
        assert_eq!(&data[pe..pe + 4], b"PE\0\0", "{}", path.display());
        u16::from_le_bytes(data[pe + 24 + 68..pe + 24 + 70].try_into().unwrap())
    };
    assert_eq!(subsystem(&wine.exe), 3, "azml-ssh.exe is the console program");
    assert_eq!(subsystem(&wine.twin()), 2, "azml-sshw.exe, which ssh starts, is a GUI program");
    // The same program all the same: its output still reaches the pipes it is given.
    let env = TestEnv::new();
    let version = |exe: &std::path::Path| run(&mut wine.command_of(exe, &env, &["--version"]), None, LIMIT);
    let (console, gui) = (version(&wine.exe), version(&wine.twin()));
    assert!(console.status.success() && gui.status.success(), "{} {}", console.stderr, gui.stderr);
    assert!(console.stdout_text().starts_with("azml-ssh "), "{}", console.stdout_text());
    assert_eq!(gui.stdout_text(), console.stdout_text());
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn a_program_in_a_folder_with_spaces_is_named_by_its_short_name_unquoted() {
    let (wine, env) = setup();
    let (_profile, _ssh_dir) = wine.profile_ssh();
    // Installed where the path has spaces, as under `C:\Program Files`.
    let folder = env.path("Program Files/azml ssh");
    std::fs::create_dir_all(&folder).unwrap();
    for program in [&wine.exe, &wine.twin()] {
        std::fs::copy(program, folder.join(program.file_name().unwrap())).unwrap();
    }
    let installed = folder.join("azml-ssh.exe");
    let id = compute_id("ci1");
    let out = run(&mut wine.command_of(&installed, &env, &["add", "azmlci1", &id]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    let text = std::fs::read_to_string(wine.profile().join(".ssh/azml-ssh/config")).unwrap();
    let line = text.lines().find_map(|l| l.trim_start().strip_prefix("ProxyCommand ")).unwrap();
    let program = line.split(' ').next().unwrap();
    // 7.7 starts it: no quotes and no spaces, the folder's 8.3 name, and the twin's own name kept (ssh finds
    // where the program ends by `.exe`).
    assert!(!program.starts_with('"') && program.ends_with("/azml-sshw.exe"), "{line}");
    assert!(!program.contains("Program Files") && program.contains('~'), "a short name: {line}");
    assert_eq!(line, format!("{program} proxy {id}"));
    // And that name reaches the very program.
    let version = run(&mut wine.command_at(program, &env, &["--version"]), None, LIMIT);
    assert!(version.status.success() && version.stdout_text().starts_with("azml-ssh "), "{}", version.stderr);
}

#[test]
#[ignore = "needs the Windows build under Wine: contrib/test.sh runs it"]
fn a_job_node_is_reached_by_name_through_the_exe() {
    use crate::common::mock_jobs::{JobScript, command_job, ssh_service};

    let (wine, env) = setup();
    let sshd = env.start_sshd();
    // The node gateway's CA in the prefix's Root store, as for the instances' tunnel.
    let ca = crate::common::tls::TestCa::for_wine(&env.path(""));
    let out = run(wine.tool("addroot").arg(win(&ca.pem_path)), None, LIMIT);
    assert!(out.status.success(), "addroot: {}{}", out.stderr, out.stdout_text());
    let target = std::net::SocketAddr::from(([127, 0, 0, 1], sshd.port()));
    let (node0, node1) = (
        crate::common::gateway::Gateway::start_job_node(&ca, TOKEN, target),
        crate::common::gateway::Gateway::start_job_node(&ca, TOKEN, target),
    );
    env.arm.set_subscriptions(&[(crate::common::SUB, "Enabled")]);
    // Run history on loopback under the allowed name (plain http is accepted there only).
    env.arm.set_discovery_api(&format!("http://localhost:{}", env.arm.addr.port()));
    let workspace = compute_id("x").rsplit_once("/computes/").unwrap().0.to_owned();
    let services = [(0, node0.proxy_endpoint()), (1, node1.proxy_endpoint())]
        .into_iter()
        .map(|(node, endpoint)| (node, std::collections::VecDeque::from([ssh_service("Running", &endpoint)])))
        .collect();
    let document = command_job(&workspace, "Train_Job1", 2, Some(true), "test.user@contoso.com");
    let script = JobScript { statuses: ["Running".to_owned()].into(), services, document, ..JobScript::default() };
    env.arm.put_job(&workspace, "Train_Job1", script);

    for (host, gateway) in [("train_job1.job.azml", &node0), ("1.train_job1.job.azml", &node1)] {
        let config = wine.ssh_config(&env, host, "'%h'", "--wildcard azml -- ");
        let out = run(&mut env.ssh(&config, host, &["echo", host]), None, LIMIT);
        assert!(out.status.success(), "{host}: {}", out.stderr);
        assert_eq!(out.stdout_text(), format!("{host}\n"));
        assert_eq!(gateway.handshakes(), 1, "{host}");
    }
    // Warm: the cached node gateway and token, no Azure call; scp both ways through the exe's relay.
    let config = wine.ssh_config(&env, "train_job1.job.azml", "'%h'", "--wildcard azml -- ");
    let requests = env.arm.request_count();
    env.scp_round_trip(&config, "train_job1.job.azml", 2 << 20, 17);
    assert_eq!(env.arm.request_count(), requests);
}
