//! Faults and hostile answers: nothing hangs, nothing panics, nothing the user owns is lost.

use std::time::Duration;

use serde_json::json;

use crate::common::mock_arm::{Machine, Reply, compute_instance};
use crate::common::{BIN, SUB, TestEnv, compute_id, compute_id_in, run};

const LIMIT: Duration = Duration::from_secs(60);

fn azml(env: &TestEnv, args: &[&str]) -> crate::common::Outcome {
    run(env.command(BIN).args(args), None, LIMIT)
}

fn include(env: &TestEnv) -> String {
    std::fs::read_to_string(env.path("home/.ssh/azml-ssh/config")).unwrap()
}

/// The block of `alias` in the include file.
fn block(text: &str, alias: &str) -> String {
    let start = text.find(&format!("Host {alias}\n")).unwrap_or_else(|| panic!("no host {alias}: {text}"));
    let rest = &text[start..];
    let end = rest[1..].find("\nHost ").map_or(rest.len(), |i| i + 1);
    rest[..end].to_owned()
}

#[test]
fn a_failed_listing_keeps_its_hosts_and_their_settings() {
    let env = TestEnv::new();
    env.arm.set_subscriptions(&[(SUB, "Enabled")]);
    let (ci1, ci3) = (compute_id("ci1"), compute_id_in(SUB, "rg-two", "ws-two", "ci3"));
    for id in [&ci1, &ci3] {
        env.arm.put_compute(id, compute_instance(id, "Running", true, Some("127.0.0.1"), Some(22)));
    }
    let key = env.user_key.display().to_string();
    let out = azml(&env, &["config", "--identity-file", &key, "--ssh-option", "LocalForward=8888 localhost:8888"]);
    assert!(out.status.success(), "{}", out.stderr);
    let before = block(&include(&env), "ci3");
    assert!(before.contains("IdentityFile") && before.contains("LocalForward"), "{before}");

    let computes = format!("{}/computes", ci3.rsplit_once("/computes/").unwrap().0);
    let failing = || vec![Reply::error(500, "InternalServerError", "Something went wrong."); 10];
    env.arm.script(&computes, failing());
    let out = azml(&env, &["config"]);
    assert!(!out.status.success(), "a partial result is not a success");
    assert!(out.stderr.contains("could not list the computes of workspace ws-two"), "{}", out.stderr);
    assert!(out.stderr.contains("--keep-going"), "{}", out.stderr);
    assert_eq!(block(&include(&env), "ci3"), before, "kept, settings and all");
    assert!(include(&env).contains("Host ci1\n"));

    env.arm.script(&computes, failing());
    let out = azml(&env, &["config", "--keep-going"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(block(&include(&env), "ci3"), before);
}

#[test]
fn a_start_request_that_never_answers_ends_within_the_timeout() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    let id = compute_id("ci1");
    env.arm.put_machine(&id, "Stopped", Machine::new(sshd.port()));
    env.arm.delay_next_start(Duration::from_secs(600));
    // The start request belongs to the wait for the start, so the start's budget is what bounds it.
    let config = env.ssh_config("azmlci1", &id, "--timeout 30 --start-timeout 4s ");
    let out = run(&mut env.ssh(&config, "azmlci1", &["true"]), None, LIMIT);
    assert!(!out.status.success());
    assert!(out.stderr.contains("starting compute ci1 took longer than 4 s (--start-timeout)"), "{}", out.stderr);
}

#[test]
fn status_with_a_silent_server_ends_within_the_timeout() {
    let env = TestEnv::new();
    let id = compute_id("ci1");
    env.arm.put_compute(&id, compute_instance(&id, "Running", true, Some("127.0.0.1"), Some(22)));
    env.arm.delay_gets(&id, Duration::from_secs(600));
    let out = azml(&env, &["status", &id, "--timeout", "2", "--json"]);
    let status = crate::common::schema::status_instances(&out.stdout).pop().unwrap_or(json!({}));
    let error = status["error"].as_str().unwrap_or(&out.stderr).to_owned();
    assert!(!out.status.success());
    assert!(error.contains("2 s (--timeout)"), "{error} / {}", out.stderr);
}

#[test]
fn hostile_answers_fail_cleanly() {
    let env = TestEnv::new();
    let id = compute_id("ci1");
    env.arm.put_compute(&id, compute_instance(&id, "Running", true, Some("127.0.0.1"), Some(22)));
    let cases: Vec<(Reply, &str)> = vec![
        (
            Reply::error(429, "TooManyRequests", "slow down").with_header("Retry-After", "18446744073709551615"),
            "kept throttling",
        ),
        (Reply::raw(200, &" ".repeat(9 << 20)), "larger than 8 MiB"),
        (Reply::raw(302, "").with_header("Location", &format!("{}/elsewhere", env.arm.url)), "HTTP 302"),
    ];
    for (reply, expected) in cases {
        env.arm.script(&id, vec![reply]);
        let out = run(&mut env.proxy(&["--cache-max-age", "0", &id]), None, LIMIT);
        assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
        assert!(out.stderr.contains(expected), "{expected}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    }
    assert_eq!(env.arm.count("/elsewhere"), 0, "redirects are not followed");
}

#[test]
fn a_host_the_user_already_has_is_never_taken_over() {
    let env = TestEnv::new();
    env.arm.set_subscriptions(&[(SUB, "Enabled")]);
    // The manual recipe leaves exactly this behind; an instance of that name must not silently replace it.
    std::fs::create_dir_all(env.path("home/.ssh/conf.d")).unwrap();
    let users = "Include conf.d/*.conf\nHost other\n    User me\n";
    std::fs::write(env.path("home/.ssh/config"), users).unwrap();
    std::fs::write(env.path("home/.ssh/conf.d/azml.conf"), "Host azmlci1\n    HostName 20.1.2.3\n    Port 50000\n")
        .unwrap();
    for name in ["azmlci1", "ci2"] {
        let id = compute_id(name);
        env.arm.put_compute(&id, compute_instance(&id, "Running", true, Some("127.0.0.1"), Some(22)));
    }

    let out = azml(&env, &["config"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stderr.contains("skipped azmlci1:") && out.stderr.contains("conf.d/azml.conf line 1"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--prefix"), "{}", out.stderr);
    assert!(!include(&env).contains("Host azmlci1\n") && include(&env).contains("Host ci2\n"));

    let out = azml(&env, &["add", "azmlci1", &compute_id("azmlci1")]);
    assert!(!out.status.success());
    assert!(out.stderr.contains("Host azmlci1") && out.stderr.contains("--force"), "{}", out.stderr);
    let out = azml(&env, &["add", "azmlci1", &compute_id("azmlci1"), "--force"]);
    assert!(out.status.success(), "{}", out.stderr);

    let out = azml(&env, &["doctor", "azmlci1", "--json"]);
    let checks = crate::common::schema::doctor_checks(&out.stdout);
    let name = checks.iter().find(|c| c["item"] == "azmlci1: name").expect("shadowing is flagged");
    assert_eq!(name["verdict"], "warn", "{name}");
    let ours = std::fs::read_to_string(env.path("home/.ssh/conf.d/azml.conf")).unwrap();
    assert!(ours.contains("HostName 20.1.2.3"), "the user's file is untouched");
}

/// Polls `condition` until it holds, failing the test after `limit`.
fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !condition() {
        assert!(start.elapsed() < limit, "{what} did not happen within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_proxy_leaves_when_ssh_goes_away_during_a_start_and_leaves_the_start_alone() {
    use std::process::Stdio;
    let env = TestEnv::new();
    let id = compute_id("ci1");
    env.arm.put_machine(&id, "Stopped", Machine { polls_to_running: 100_000, ..Machine::new(22) });
    let mut proxy = env.proxy(&["--start-timeout", "10m", &id]);
    let mut child = proxy.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let start = format!("{id}/start");
    wait_for("the start request", LIMIT, || env.arm.count_method("POST", &start) == 1);

    // ssh gives up (VS Code's connect timeout, Ctrl-C): both of its ends close.
    drop(child.stdin.take());
    drop(child.stdout.take());
    let mut status = None;
    wait_for("the proxy's exit", Duration::from_secs(5), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    assert!(!status.unwrap().success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("ssh went away while ci1 was being looked up or started"), "{stderr}");
    assert_eq!(env.arm.state_of(&id), "Starting", "the start goes on for the next connection");
    assert_eq!(env.arm.count_method("POST", &format!("{id}/stop")), 0);
}

#[test]
fn a_failed_hand_over_says_why_and_leaves_no_relay_behind() {
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixStream;
    use std::process::Stdio;

    // stdout is not a socket: the config lacks ProxyUseFdpass. For a tunnel, no detached relay may be left.
    let mut env = TestEnv::new();
    let (gateway, id) = env.put_tunnel_instance("ci1", crate::common::echo_server());
    let out = run(&mut env.proxy(&["--fdpass", &id]), None, LIMIT);
    assert!(!out.status.success());
    assert!(out.stderr.contains("ProxyUseFdpass yes"), "{}", out.stderr);
    let relays = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|cmdline| {
            String::from_utf8_lossy(cmdline).contains(&format!("--relay-gateway\0localhost:{}", gateway.addr.port()))
        })
        .count();
    assert_eq!(relays, 0, "a relay was started for a hand-over that failed");
    assert_eq!(gateway.handshakes(), 0);

    // ssh already gone (its end of the socket closed): say that, not the ProxyUseFdpass hint.
    let env = TestEnv::new();
    let id = env.put_echo_instance("ci2");
    let warm = run(&mut env.proxy(&[&id]), Some(b"x".to_vec()), LIMIT);
    assert!(warm.status.success(), "{}", warm.stderr);
    let (ours, theirs) = UnixStream::pair().unwrap();
    drop(theirs);
    let out = env
        .proxy(&["--fdpass", &id])
        .stdin(Stdio::null())
        .stdout(Stdio::from(OwnedFd::from(ours)))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("ssh went away"), "{stderr}");
    assert!(!stderr.contains("ProxyUseFdpass"), "{stderr}");
}

#[test]
fn planted_cache_entries_are_not_trusted() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let id = env.put_echo_instance("ci1");
    let warm = run(&mut env.proxy(&[&id]), Some(b"x".to_vec()), LIMIT);
    assert!(warm.status.success(), "{}", warm.stderr);
    let entry = env.cache_dir().join(format!("azml-ssh/endpoints/{}.json", crate::common::cache_key(&id)));
    // Another user's endpoint: a server that is not the instance.
    let impostor = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let impostor_addr = impostor.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in impostor.incoming() {
            let _ = std::io::Write::write_all(&mut stream.unwrap(), b"impostor");
        }
    });
    let direct = json!({"resource_id": id.to_ascii_lowercase(),
        "endpoint": {"transport": "direct", "address": impostor_addr.to_string()}, "resolved_at": now()});
    // The control: the same entry, private and ours, is used — so the plants below would be too if trusted.
    std::fs::write(&entry, direct.to_string()).unwrap();
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(&mut env.proxy(&[&id]), Some(b"ping".to_vec()), LIMIT);
    assert_eq!(out.stdout, b"impostor", "{}", out.stderr);

    type Plant = fn(&std::path::Path);
    let plants: [(&str, Plant); 3] = [
        ("open to other users", |p| std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap()),
        ("a symbolic link", |p| {
            let target = p.with_extension("elsewhere");
            std::fs::rename(p, &target).unwrap();
            std::os::unix::fs::symlink(&target, p).unwrap();
        }),
        ("someone else's", |p| std::os::unix::fs::chown(p, Some(65534), None).unwrap()),
    ];
    // Only root can give a file away (CI runs as root); elsewhere the last plant cannot be made.
    let root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&entry).unwrap()) == 0;
    for (what, plant) in plants.into_iter().filter(|(what, _)| root || *what != "someone else's") {
        std::fs::write(&entry, direct.to_string()).unwrap();
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o600)).unwrap();
        plant(&entry);
        let lookups = env.arm.count(&id);
        let out = run(&mut env.proxy(&[&id]), Some(b"ping".to_vec()), LIMIT);
        assert!(out.status.success(), "{what}: {}", out.stderr);
        assert_eq!(out.stdout, b"ping", "{what}: the instance, not the planted endpoint");
        assert_eq!(env.arm.count(&id), lookups + 1, "{what}: ARM was asked instead");
        assert!(out.stderr.contains("ignoring the cached endpoint"), "{what}: {}", out.stderr);
        let _ = std::fs::remove_file(&entry);
    }

    // Even a private file of ours never sends the token to a gateway outside Azure ML's domain.
    let gateway = json!({"resource_id": id.to_ascii_lowercase(),
        "endpoint": {"transport": "tunnel", "gateway": {"host": "127.0.0.2", "port": 443}}, "resolved_at": now()});
    std::fs::write(&entry, gateway.to_string()).unwrap();
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(&mut env.proxy(&[&id]), Some(b"ping".to_vec()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains("ignoring a cached gateway outside the Azure ML instance domain"), "{}", out.stderr);
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn a_gateway_outside_azure_ml_gets_no_token() {
    let mut env = TestEnv::new();
    let (gateway, id) = env.put_tunnel_instance("ci1", crate::common::echo_server());
    let mut proxy = env.proxy(&["--transport", "tunnel", &id]);
    proxy.env_remove("AZML_SSH_GATEWAY_DOMAINS");
    let out = run(&mut proxy, None, LIMIT);
    assert!(!out.status.success());
    assert!(out.stderr.contains("is not under instances.azureml.ms"), "{}", out.stderr);
    assert_eq!(gateway.handshakes(), 0);
}

/// A start marker says "a start was sent lately; wait for it". One planted by someone else (or open to them) would
/// hold every connection waiting for a start that never comes; a planted lock file would block the lookups.
#[test]
fn planted_start_markers_and_lock_files_are_not_trusted() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    let config_for = |name: &str| {
        let id = compute_id(name);
        env.arm.put_machine(&id, "Stopped", Machine::new(sshd.port()));
        (id.clone(), env.ssh_config("azmlci1", &id, ""))
    };
    let starts = env.cache_dir().join("azml-ssh/starts");
    std::fs::create_dir_all(&starts).unwrap();
    std::fs::set_permissions(&starts, std::fs::Permissions::from_mode(0o700)).unwrap();
    let root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&starts).unwrap()) == 0;

    // The control: a fresh marker of ours is believed, so no start is sent (and, the instance never starting,
    // the connection gives up at --start-timeout).
    let (id, _) = config_for("ci1");
    let marker = starts.join(format!("{}.started", crate::common::cache_key(&id)));
    std::fs::write(&marker, now().to_string()).unwrap();
    std::fs::set_permissions(&marker, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(&mut env.proxy(&["--start-timeout", "2s", &id]), Some(Vec::new()), LIMIT);
    assert!(!out.status.success());
    assert_eq!(env.arm.count_method("POST", &format!("{id}/start")), 0, "our own marker was not believed");

    type Plant = fn(&std::path::Path);
    let mut plants: Vec<(&str, Plant)> =
        vec![("open to other users", |p| std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o666)).unwrap())];
    if root {
        plants.push(("someone else's", |p| std::os::unix::fs::chown(p, Some(65534), None).unwrap()));
    }
    for (i, (what, plant)) in plants.into_iter().enumerate() {
        let (id, config) = config_for(&format!("cx{i}"));
        let key = crate::common::cache_key(&id);
        let marker = starts.join(format!("{key}.started"));
        std::fs::write(&marker, now().to_string()).unwrap();
        std::fs::set_permissions(&marker, std::fs::Permissions::from_mode(0o600)).unwrap();
        plant(&marker);
        let lock = starts.join(format!("{key}.lock"));
        std::fs::write(&lock, "").unwrap();
        plant(&lock);
        let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "ok"]), None, LIMIT);
        assert!(out.status.success(), "{what}: {}", out.stderr);
        assert_eq!(
            env.arm.count_method("POST", &format!("{id}/start")),
            1,
            "{what}: the planted marker held the start"
        );
        assert!(out.stderr.contains("ignoring the start marker"), "{what}: {}", out.stderr);
        assert!(out.stderr.contains("no single-flight lock"), "{what}: {}", out.stderr);
    }
}

/// A user's `Host dev-*` with `ForwardAgent yes` (or a `Match host …` block) would be combined with a discovered
/// instance named `dev-db`: whoever can create an instance assigned to you would get your agent. Such names are the
/// user's, as literal ones are.
#[test]
fn pattern_hosts_and_match_blocks_of_the_users_claim_their_names() {
    let env = TestEnv::new();
    env.arm.set_subscriptions(&[(SUB, "Enabled")]);
    let users = "Host *\n    ServerAliveInterval 30\nHost dev-* !dev-test\n    ForwardAgent yes\nMatch host db,web? user *\n    User admin\n";
    std::fs::create_dir_all(env.path("home/.ssh")).unwrap();
    std::fs::write(env.path("home/.ssh/config"), users).unwrap();
    for name in ["dev-db", "dev-test", "db", "web1", "other"] {
        let id = compute_id(name);
        env.arm.put_compute(&id, compute_instance(&id, "Running", true, Some("127.0.0.1"), Some(22)));
    }

    let out = azml(&env, &["config"]);
    assert!(out.status.success(), "{}", out.stderr);
    let hosts = include(&env);
    for (name, ours) in [("dev-db", false), ("db", false), ("web1", false), ("dev-test", true), ("other", true)] {
        assert_eq!(hosts.contains(&format!("Host {name}\n")), ours, "{name}:\n{hosts}\n{}", out.stderr);
    }
    assert!(
        out.stderr.contains("skipped dev-db: ") && out.stderr.contains("line 3 has `Host dev-* !dev-test`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("skipped db: ") && out.stderr.contains("`Match host db,web? user *`"),
        "{}",
        out.stderr
    );

    let out = azml(&env, &["add", "dev-x", &compute_id("dev-db")]);
    assert!(!out.status.success());
    assert!(out.stderr.contains("`Host dev-* !dev-test`") && out.stderr.contains("--force"), "{}", out.stderr);
    let out = azml(&env, &["add", "dev-x", &compute_id("dev-db"), "--force"]);
    assert!(out.status.success(), "{}", out.stderr);

    let out = run(env.command(BIN).args(["doctor", "dev-x", "--json"]), None, LIMIT);
    let checks = crate::common::schema::doctor_checks(&out.stdout);
    let name = checks.iter().find(|c| c["item"] == "dev-x: name").expect("a name check");
    assert_eq!(name["verdict"], "warn", "{name}");
    assert!(name["detail"].as_str().unwrap().contains("ssh combines that block"), "{name}");
}

/// The user setting `ssh -G ALIAS` shows, as ssh reads `config` (ssh itself is the reference for what an Include
/// takes in).
fn ssh_user(env: &TestEnv, config: &std::path::Path, alias: &str) -> String {
    let out = run(env.command("ssh").arg("-F").arg(config).args(["-G", alias]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    out.stdout_text().lines().find_map(|l| l.strip_prefix("user ")).unwrap_or_default().to_owned()
}

/// ssh expands an Include with glob(3): `**` is `*`, nothing recurses, and `*` skips names that start with a `.`.
/// Two links back to `..` once sent the walk over the user's config round in circles until memory ran out.
#[test]
fn includes_are_globbed_as_ssh_globs_them_even_through_link_loops() {
    let env = TestEnv::new();
    let ssh_dir = env.path("home/.ssh");
    std::fs::create_dir_all(ssh_dir.join("conf.d/sub")).unwrap();
    std::fs::write(ssh_dir.join("config"), "Include ~/.ssh/conf.d/**\n").unwrap();
    for link in ["up", "up-again"] {
        std::os::unix::fs::symlink("..", ssh_dir.join("conf.d").join(link)).unwrap();
    }
    std::fs::write(ssh_dir.join("conf.d/top.conf"), "Host azmlci2\n    User top\n").unwrap();
    std::fs::write(ssh_dir.join("conf.d/sub/deep.conf"), "Host azmlci1\n    User deep\n").unwrap();
    std::fs::write(ssh_dir.join("conf.d/.hidden.conf"), "Host azmlci1\n    User hidden\n").unwrap();
    let config = ssh_dir.join("config");
    assert_eq!(ssh_user(&env, &config, "azmlci2"), "top");
    assert!(!["deep", "hidden"].contains(&ssh_user(&env, &config, "azmlci1").as_str()));

    let quick = Duration::from_secs(20);
    let out = run(env.command(BIN).args(["add", "azmlci1", &compute_id("ci1"), "--dry-run"]), None, quick);
    assert!(out.status.success(), "ssh reads neither sub/deep.conf nor .hidden.conf: {}", out.stderr);
    assert!(out.stdout_text().contains("+Host azmlci1"), "{}", out.stdout_text());
    let out = run(env.command(BIN).args(["add", "azmlci2", &compute_id("ci2"), "--dry-run"]), None, quick);
    assert!(!out.status.success());
    assert!(out.stderr.contains("conf.d/top.conf line 1 has `Host azmlci2`"), "{}", out.stderr);
}

/// `Include /usr/**/*.conf` is `/usr/*/*.conf` to ssh, however much lies deeper; over more entries than the walk
/// may read, it stops at its bound, keeping the first in ssh's order.
#[test]
fn a_wide_include_reads_one_level_per_part_and_stays_bounded() {
    let env = TestEnv::new();
    let ssh_dir = env.path("home/.ssh");
    let wide = env.path("home/wide");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    for dir in 0..4 {
        let deep = wide.join(format!("d{dir:02}/deeper"));
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("x.conf"), "Host azmlci1\n    User deep\n").unwrap();
        for file in 0..400 {
            std::fs::write(wide.join(format!("d{dir:02}/f{file:04}.conf")), format!("Host h{dir}-{file}\n")).unwrap();
        }
    }
    let config = ssh_dir.join("config");
    std::fs::write(&config, format!("Include {}/**/*.conf\n", wide.display())).unwrap();
    assert_ne!(ssh_user(&env, &config, "azmlci1"), "deep");

    let out = azml(&env, &["add", "azmlci1", &compute_id("ci1"), "--dry-run"]);
    assert!(out.status.success(), "nothing below wide/*/ is read: {}", out.stderr);
    let out = azml(&env, &["add", "h0-0", &compute_id("ci1"), "--dry-run"]);
    assert!(out.stderr.contains("wide/d00/f0000.conf line 1 has `Host h0-0`"), "{}", out.stderr);
    let out = azml(&env, &["add", "h3-399", &compute_id("ci1"), "--dry-run"]);
    assert!(out.status.success(), "1,600 files are more than the walk reads: {}", out.stderr);
}

fn mkfifo(path: &std::path::Path) {
    let out = std::process::Command::new("mkfifo").args(["-m", "600"]).arg(path).output().unwrap();
    assert!(out.status.success(), "mkfifo {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
}

/// A FIFO where a cache file goes is no file of ours, and opening it to read would wait for a writer for ever: the
/// proxy passes it by, by ID (the endpoint cache) and by name (the name index), and asks ARM instead.
#[test]
fn a_fifo_in_the_cache_is_passed_by_not_waited_on() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    env.arm.set_subscriptions(&[(SUB, "Enabled")]);
    let id = env.put_echo_instance("ci1");
    let warm = run(&mut env.proxy(&[&id]), Some(b"x".to_vec()), LIMIT);
    assert!(warm.status.success(), "{}", warm.stderr);
    let quick = Duration::from_secs(20);

    let entry = env.cache_dir().join(format!("azml-ssh/endpoints/{}.json", crate::common::cache_key(&id)));
    std::fs::remove_file(&entry).unwrap();
    mkfifo(&entry);
    let lookups = env.arm.count(&id);
    let out = run(&mut env.proxy(&[&id]), Some(b"ping".to_vec()), quick);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, b"ping");
    assert_eq!(env.arm.count(&id), lookups + 1, "ARM was asked instead");
    assert!(out.stderr.contains("ignoring the cached endpoint") && out.stderr.contains("not a regular file"));

    // A private directory of ours, so that only the FIFO itself is in question.
    let names = env.cache_dir().join("azml-ssh/names");
    std::fs::create_dir_all(&names).unwrap();
    std::fs::set_permissions(&names, std::fs::Permissions::from_mode(0o700)).unwrap();
    mkfifo(&names.join("index.json"));
    let out =
        run(env.command(BIN).args(["proxy", "--wildcard", "azml", "--", "ci1.azml"]), Some(b"ping".to_vec()), quick);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, b"ping");
    assert!(
        out.stderr.contains("ignoring the name index") && out.stderr.contains("not a regular file"),
        "{}",
        out.stderr
    );
}

/// A FIFO among the files the user's config includes adds nothing, as an unreadable file adds nothing to ssh; a
/// FIFO in place of the config itself is a clear error. Neither is waited on.
#[test]
fn a_fifo_in_the_users_ssh_config_is_not_waited_on() {
    let env = TestEnv::new();
    let ssh_dir = env.path("home/.ssh");
    std::fs::create_dir_all(ssh_dir.join("conf.d")).unwrap();
    std::fs::write(ssh_dir.join("config"), "Include conf.d/*\n").unwrap();
    mkfifo(&ssh_dir.join("conf.d/a-fifo"));
    std::fs::write(ssh_dir.join("conf.d/b.conf"), "Host azmlci2\n").unwrap();
    let quick = Duration::from_secs(20);
    let add = |alias: &str| run(env.command(BIN).args(["add", alias, &compute_id("ci1"), "--dry-run"]), None, quick);
    let out = add("azmlci2");
    assert!(out.stderr.contains("conf.d/b.conf line 1 has `Host azmlci2`"), "read past the FIFO: {}", out.stderr);
    assert!(add("azmlci1").status.success());

    std::fs::remove_file(ssh_dir.join("config")).unwrap();
    mkfifo(&ssh_dir.join("config"));
    let out = add("azmlci1");
    assert!(!out.status.success());
    assert!(out.stderr.contains(".ssh/config is not a regular file"), "{}", out.stderr);
}

/// What ssh itself takes in for `Include PATTERN`: the files `ssh -G -vvv` says it includes, in its order.
fn ssh_includes(env: &TestEnv, config: &std::path::Path) -> Vec<String> {
    let out = run(env.command("ssh").arg("-F").arg(config).args(["-G", "-vvv", "h"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    let included = |l: &str| Some(l.split_once("Including file ")?.1.split_once(" depth ")?.0.to_owned());
    out.stderr.lines().filter_map(included).collect()
}

/// The expansion of an Include, compared with ssh's own on one tree: wildcards, sets, classes, escapes, hidden
/// names, `.` and `..`, links, and paths that do not exist.
#[test]
fn include_expansion_is_what_ssh_includes() {
    use azml_ssh::sshconf::glob::include_paths;
    let env = TestEnv::new();
    let root = env.path("tree");
    for dir in ["t/a/b", "t/.h", "t/sub", "t/x[y"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for file in ["a.conf", "b.conf", ".hid", "a/b/c", "sub/one", "sub/.two", "x[y/z", "st*r", "]", "-", "9", "Ab"] {
        std::fs::write(root.join("t").join(file), "").unwrap();
    }
    std::os::unix::fs::symlink("sub", root.join("t/link")).unwrap();
    std::os::unix::fs::symlink("nowhere", root.join("t/dangling")).unwrap();
    let config = env.path("home/config");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let patterns = [
        "t/*",
        "t/**",
        "t/*/*",
        "t/**/*",
        "t/.*",
        "t/?.conf",
        "t/[ab].conf",
        "t/[!a]*",
        "t/[]]",
        "t/[a-]",
        "t/[[:digit:]]",
        "t/[[:upper:]]*",
        "t/x[y/*",
        r"t/st\*r",
        r"t/\.hid",
        "t/[.]hid",
        "t/*/.*",
        "t/link/one",
        "t/a.conf/",
        "t/a/",
        "t/[[:bogus:]]",
        "t/[z-a]*",
        "t/*[",
        "t/./a.conf",
        "t/dangling",
        r"t/[\]]",
        "t/[a",
        "t/[!]]*",
        "t/*/b/*",
        "t/missing",
        "t/*/missing",
    ];
    for pattern in patterns {
        let arg = format!("{}/{pattern}", root.display());
        std::fs::write(&config, format!("Include {arg}\n")).unwrap();
        let ours: Vec<String> =
            include_paths(&arg, &env.path("home")).iter().map(|p| p.display().to_string()).collect();
        assert_eq!(ours, ssh_includes(&env, &config), "Include {pattern}");
    }
}
