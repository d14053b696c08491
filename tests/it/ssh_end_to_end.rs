//! The real OpenSSH client, with `azml-ssh proxy` as its ProxyCommand, against a real sshd on 127.0.0.1 and the
//! mock ARM. Host-key checking stays on in every test.

use std::time::Duration;

use crate::common::{TestEnv, compute_id, run};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn ssh_echo_ok_through_the_proxy_with_host_key_checked() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.port());
    let config = env.ssh_config("azmlci1", &compute_id("ci1"), "");

    let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "ok"]), None, LIMIT);
    assert!(out.status.success(), "ssh failed: {}", out.stderr);
    assert_eq!(out.stdout_text(), "ok\n");
    assert_eq!(env.arm.count(&compute_id("ci1")), 1, "one ARM lookup");
    let auth = env.arm.requests()[0].authorization.clone();
    assert_eq!(auth.as_deref(), Some(format!("Bearer {}", crate::common::TOKEN).as_str()));

    // The same server under a host key ssh does not know must be refused: checking is really on.
    std::fs::write(
        &env.known_hosts,
        "azmlci1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n",
    )
    .unwrap();
    let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "ok"]), None, LIMIT);
    assert!(!out.status.success());
    assert!(out.stderr.contains("Host key verification failed"), "{}", out.stderr);
}

#[test]
fn warm_connect_makes_no_azure_call_at_all() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.port());
    let config = env.ssh_config("azmlci1", &compute_id("ci1"), "");

    let cold = run(&mut env.ssh(&config, "azmlci1", &["true"]), None, LIMIT);
    assert!(cold.status.success(), "{}", cold.stderr);
    let (requests, az_calls) = (env.arm.request_count(), env.az_calls());
    assert_eq!((requests, az_calls), (1, 1), "cold connect: one token, one ARM request");

    for _ in 0..3 {
        let warm = run(&mut env.ssh(&config, "azmlci1", &["true"]), None, LIMIT);
        assert!(warm.status.success(), "{}", warm.stderr);
    }
    assert_eq!(env.arm.request_count(), requests, "warm connects make no HTTP request");
    assert_eq!(env.az_calls(), az_calls, "warm connects fetch no token");
}

#[test]
fn moved_endpoint_is_found_again_with_one_arm_call() {
    let env = TestEnv::new();
    let first = env.start_sshd();
    env.put_running("ci1", first.port());
    let config = env.ssh_config("azmlci1", &compute_id("ci1"), "");
    let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "one"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);

    // The instance was stopped and started: same host key, new port. The cache still points at the old one.
    let second = env.start_sshd();
    drop(first);
    env.put_running("ci1", second.port());
    let before = env.arm.count(&compute_id("ci1"));

    let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "two"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "two\n");
    assert_eq!(env.arm.count(&compute_id("ci1")) - before, 1, "exactly one fresh lookup");

    // And the new endpoint is now the cached one.
    let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "three"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(env.arm.count(&compute_id("ci1")) - before, 1);
}

#[test]
fn half_close_cat_to_file_ends_by_itself_with_the_whole_file() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.port());
    let config = env.ssh_config("azmlci1", &compute_id("ci1"), "");
    let data = crate::common::random_bytes(5 * 1024 * 1024 + 17, 7);
    let target = env.path("received.bin");

    let remote = format!("cat > '{}'", target.display());
    let out = run(&mut env.ssh(&config, "azmlci1", &[&remote]), Some(data.clone()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(std::fs::read(&target).unwrap() == data, "remote file differs from what was sent");
}

#[test]
fn scp_64_mib_both_ways_is_byte_exact() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.port());
    let config = env.ssh_config("azmlci1", &compute_id("ci1"), "");
    env.scp_round_trip(&config, "azmlci1", 64 * 1024 * 1024, 42);
}

#[test]
fn git_clone_and_push_over_ssh() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.port());
    let config = env.ssh_config("azmlci1", &compute_id("ci1"), "");

    let git = |dir: &std::path::Path, args: &[&str]| {
        let mut cmd = env.command("git");
        cmd.current_dir(dir)
            .args(args)
            .env("GIT_SSH_COMMAND", format!("ssh -F {}", config.display()))
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
            .env("GIT_CONFIG_NOSYSTEM", "1");
        let out = run(&mut cmd, None, LIMIT);
        assert!(out.status.success(), "git {args:?}: {}", out.stderr);
        out.stdout_text()
    };

    // A bare repository "on the instance" with one commit.
    let seed = env.path("seed");
    std::fs::create_dir_all(&seed).unwrap();
    git(&seed, &["init", "-q", "-b", "main"]);
    std::fs::write(seed.join("README"), "hello from the instance\n").unwrap();
    git(&seed, &["add", "README"]);
    git(&seed, &["commit", "-q", "-m", "first"]);
    let bare = env.path("remote.git");
    git(env.dir.path(), &["clone", "-q", "--bare", seed.to_str().unwrap(), bare.to_str().unwrap()]);

    let work = env.path("work");
    git(env.dir.path(), &["clone", "-q", &format!("azmlci1:{}", bare.display()), work.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(work.join("README")).unwrap(), "hello from the instance\n");

    std::fs::write(work.join("notes.txt"), "pushed through azml-ssh\n").unwrap();
    git(&work, &["add", "notes.txt"]);
    git(&work, &["commit", "-q", "-m", "second"]);
    git(&work, &["push", "-q", "origin", "main"]);

    let log = git(&bare, &["log", "--format=%s", "main"]);
    assert_eq!(log, "second\nfirst\n");
    let content = git(&bare, &["show", "main:notes.txt"]);
    assert_eq!(content, "pushed through azml-ssh\n");
}

#[test]
fn concurrent_connections_share_the_cache_safely() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.port());
    let config = env.ssh_config("azmlci1", &compute_id("ci1"), "");

    env.concurrent_echoes(&config, "azmlci1", 8, LIMIT);
    // Whatever the interleaving, the cache now holds a valid entry: the next connect needs no lookup.
    let before = env.arm.request_count();
    let out = run(&mut env.ssh(&config, "azmlci1", &["true"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(env.arm.request_count(), before);
}

#[test]
fn cache_is_private_and_never_holds_the_token() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.port());
    let config = env.ssh_config("azmlci1", &compute_id("ci1"), "");
    let out = run(&mut env.ssh(&config, "azmlci1", &["true"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);

    let root = env.cache_dir().join("azml-ssh");
    let mut files = 0;
    for dir in [root.clone(), root.join("endpoints")] {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
    }
    for entry in std::fs::read_dir(root.join("endpoints")).unwrap() {
        let path = entry.unwrap().path();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(crate::common::TOKEN), "token leaked into {}", path.display());
        assert!(text.contains(&format!("{}", sshd.port())));
        files += 1;
    }
    assert_eq!(files, 1);
}

#[test]
fn hand_written_config_with_azml_ssh_found_on_path() {
    let mut env = TestEnv::new();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.port());
    // As after `cargo install`: the config names plain `azml-ssh`, found through PATH by ssh's shell.
    let bin_dir = env.path("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(crate::common::BIN, bin_dir.join("azml-ssh")).unwrap();
    let path = format!("{}:{}:{}", bin_dir.display(), env.az_dir.display(), std::env::var("PATH").unwrap());
    env.extra_env.push(("PATH".into(), path));
    let config = env.ssh_config("azmlci1", &compute_id("ci1"), "");
    let text = std::fs::read_to_string(&config).unwrap().replace(crate::common::BIN, "azml-ssh");
    std::fs::write(&config, text).unwrap();

    let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "ok"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "ok\n");
}

#[test]
fn many_sessions_in_a_row_all_complete() {
    // The relay's zero-copy path has to survive real ssh sessions, not just byte pipes: a lost or stuck byte
    // during key exchange shows up here as a hang or a failure.
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.port());
    let config = env.ssh_config("azmlci1", &compute_id("ci1"), "");
    for i in 0..30 {
        let out = run(&mut env.ssh(&config, "azmlci1", &["echo", &format!("s{i}")]), None, LIMIT);
        assert!(out.status.success(), "session {i}: {}", out.stderr);
        assert_eq!(out.stdout_text(), format!("s{i}\n"));
    }
}
