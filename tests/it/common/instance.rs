//! An instance reached with the user's own ssh (as `code`, `jupyter`, `forward` and `doctor --remote` use it): a
//! throwaway sshd whose sessions get `sshd_extra` (a fake `jupyter` on PATH, another HOME, …), added with
//! `azml-ssh add` under a user config that knows its host key.

use std::time::Duration;

use super::mock_arm::Machine;
use super::sshd::{Sshd, current_user};
use super::{BIN, TestEnv, compute_id, run, write_script};

const LIMIT: Duration = Duration::from_secs(60);

/// A `jupyter` for the instance's PATH that lists `servers` (JSON lines) for `jupyter server list --json`.
pub fn fake_jupyter_program(env: &TestEnv, servers: &str) -> std::path::PathBuf {
    let dir = env.path("remote-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let script =
        format!("#!/bin/sh\nif [ \"$1 $2 $3\" = \"server list --json\" ]; then\ncat <<'EOF'\n{servers}\nEOF\nfi\n");
    write_script(&dir.join("jupyter"), &script);
    dir
}

pub struct Setup {
    pub env: TestEnv,
    /// Held so that the instance's sshd runs as long as the setup (dropping it stops the server).
    _sshd: Sshd,
    /// The user's ssh config: known_hosts set up, strict host key checking.
    pub config: std::path::PathBuf,
}

/// A running instance whose sshd has a fake `jupyter` on PATH, added with `azml-ssh add` under a user config
/// that knows its host key.
pub fn jupyter_setup(servers: &str) -> Setup {
    jupyter_setup_with(servers, "")
}

pub fn jupyter_setup_with(servers: &str, sshd_extra: &str) -> Setup {
    setup_instance(servers, sshd_extra, "Running")
}

/// An instance in `state` (Running, or Stopped to be started) whose sshd has a fake `jupyter` listing `servers`.
pub fn setup_instance(servers: &str, sshd_extra: &str, state: &str) -> Setup {
    let env = TestEnv::new();
    let remote_bin = fake_jupyter_program(&env, servers);
    let extra = format!("SetEnv PATH={}:/usr/bin:/bin\n{sshd_extra}", remote_bin.display());
    let sshd = Sshd::start_with(&env.sshd_dir(), &env.user_key.with_extension("pub"), &extra);
    let id = compute_id("ci1");
    match state {
        "Running" => env.put_running("ci1", sshd.port()),
        _ => env.arm.put_machine(&id, state, Machine::new(sshd.port())),
    }
    std::fs::create_dir_all(env.path("home/.ssh")).unwrap();
    let config = env.path("home/.ssh/config");
    std::fs::write(
        &config,
        format!(
            "UserKnownHostsFile {}\nGlobalKnownHostsFile /dev/null\nStrictHostKeyChecking yes\nLogLevel ERROR\n",
            env.known_hosts.display()
        ),
    )
    .unwrap();
    std::fs::write(&env.known_hosts, format!("azmlci1 {}\n", Sshd::host_public_key(&env.sshd_dir()))).unwrap();
    let key = env.user_key.display().to_string();
    let out = run(
        env.command(BIN).args(["add", "azmlci1", &id, "--identity-file", &key, "--user", &current_user()]),
        None,
        LIMIT,
    );
    assert!(out.status.success(), "{}", out.stderr);
    Setup { env, _sshd: sshd, config }
}
