//! Stopped instances wake up on connect — one start request however many connections — with progress on
//! stderr; `status`, `start` and `stop` drive the mock ARM's state machine.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::mock_arm::Machine;
use crate::common::{TestEnv, compute_id, run};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(60);

fn stopped_by_idle_shutdown(env: &TestEnv, name: &str, machine: Machine) -> String {
    let id = compute_id(name);
    env.arm.put_machine(&id, "Stopped", machine);
    env.arm.patch_instance(
        &id,
        "lastOperation",
        json!({"operationName": "Stop", "operationStatus": "Succeeded", "operationTrigger": "IdleShutdown", "operationTime": "2026-11-26T14:02:31Z"}),
    );
    id
}

fn starts(env: &TestEnv, id: &str) -> usize {
    env.arm.count_method("POST", &format!("{id}/start"))
}

#[test]
fn ssh_to_a_stopped_instance_starts_it_once_and_connects() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    let id = stopped_by_idle_shutdown(&env, "ci1", Machine::new(sshd.port()));
    let config = env.ssh_config("azmlci1", &id, "");

    let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "ok"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "ok\n");
    assert_eq!(starts(&env, &id), 1);
    let err = &out.stderr;
    assert!(err.contains("azml-ssh: ci1 was stopped by idle shutdown at 14:02 UTC; starting it"), "{err}");
    assert!(err.contains("azml-ssh: ci1 is Starting (0:0"), "{err}");
    assert!(err.contains("azml-ssh: ci1 is Running after 0:0"), "{err}");
    assert_eq!(err.matches("remote.SSH.connectTimeout").count(), 1, "the VS Code hint is given once: {err}");
    assert!(!err.contains('\r'), "no spinner when stderr is not a terminal: {err:?}");
}

#[test]
fn ten_concurrent_connections_send_exactly_one_start() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    // The mock's start advances per GET; with cold lookups single-flight, only one connection polls, so a few
    // GETs is what a start of some seconds looks like here.
    let machine = Machine { polls_to_running: 3, ..Machine::new(sshd.port()) };
    let id = stopped_by_idle_shutdown(&env, "ci1", machine);
    let config = env.ssh_config("azmlci1", &id, "");

    env.concurrent_echoes(&config, "azmlci1", 10, LIMIT);
    assert_eq!(starts(&env, &id), 1, "exactly one POST /start");
    assert_eq!(env.az_calls(), 1, "one token for the whole burst");
}

#[test]
fn an_instance_still_stopping_is_waited_for_then_started() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    let id = compute_id("ci1");
    // Two more GETs see Stopping before it is Stopped.
    env.arm.put_machine(&id, "Stopping", Machine { countdown: 2, ..Machine::new(sshd.port()) });
    let config = env.ssh_config("azmlci1", &id, "");
    let out = run(&mut env.ssh(&config, "azmlci1", &["true"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains("ci1 is Stopping"), "{}", out.stderr);
    assert_eq!(starts(&env, &id), 1);
}

#[test]
fn a_start_already_under_way_elsewhere_is_waited_for() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    let id = stopped_by_idle_shutdown(&env, "ci1", Machine { start_status: 409, ..Machine::new(sshd.port()) });
    let config = env.ssh_config("azmlci1", &id, "");
    let out = run(&mut env.ssh(&config, "azmlci1", &["true"]), None, LIMIT);
    assert!(out.status.success(), "a 409 means someone else is starting it: {}", out.stderr);
    assert_eq!(starts(&env, &id), 1, "and is not retried");
}

#[test]
fn a_proxy_killed_while_holding_the_start_lock_blocks_nobody() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    let id = stopped_by_idle_shutdown(&env, "ci1", Machine::new(sshd.port()));
    // The first start request hangs, so its proxy sits inside the lock until we kill it.
    env.arm.delay_next_start(Duration::from_secs(120));
    let mut first = env.proxy(&[&id]);
    let mut first = first.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();

    let lock = env.cache_dir().join(format!("azml-ssh/starts/{}.lock", crate::common::cache_key(&id)));
    let deadline = Instant::now() + Duration::from_secs(20);
    // Its start request has reached the mock (where it hangs), and it holds the lock.
    while env.arm.delayed_starts() == 0 {
        assert!(Instant::now() < deadline, "the first proxy never sent its start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let held = std::fs::File::open(&lock).is_ok_and(|f| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)));
    assert!(held, "the first proxy does not hold the lock while starting");
    first.kill().unwrap();
    first.wait().unwrap();

    let config = env.ssh_config("azmlci1", &id, "");
    let started = Instant::now();
    let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "ok"]), None, Duration::from_secs(30));
    assert!(out.status.success(), "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(20), "blocked for {:?}", started.elapsed());
}

#[test]
fn no_start_start_timeout_and_a_refused_start_fail_clearly() {
    let env = TestEnv::new();
    let id = stopped_by_idle_shutdown(&env, "ci1", Machine::new(22));
    let out = run(&mut env.proxy(&["--no-start", &id]), None, LIMIT);
    assert!(!out.status.success());
    assert!(out.stderr.contains("ci1 is Stopped"), "{}", out.stderr);
    assert_eq!(starts(&env, &id), 0);

    let slow = stopped_by_idle_shutdown(&env, "slow", Machine { polls_to_running: 100_000, ..Machine::new(22) });
    let out = run(&mut env.proxy(&["--start-timeout", "3s", &slow]), None, Duration::from_secs(15));
    assert!(!out.status.success());
    let last = out.stderr.lines().last().unwrap_or_default().to_owned();
    assert!(
        last.starts_with(
            "azml-ssh: waiting for slow to start took longer than 3 s (--start-timeout); it is still Starting; it may need more time"
        ),
        "{}",
        out.stderr
    );

    let refused = stopped_by_idle_shutdown(&env, "locked", Machine { start_status: 403, ..Machine::new(22) });
    let out = run(&mut env.proxy(&[&refused]), None, LIMIT);
    assert!(!out.status.success());
    let last = out.stderr.lines().last().unwrap_or_default().to_owned();
    assert!(last.contains("no permission to start compute locked (HTTP 403 AuthorizationFailed"), "{last}");
    assert!(last.contains("Contributor"), "{last}");
}

#[test]
fn hopeless_states_fail_at_once_without_a_start() {
    let env = TestEnv::new();
    for state in ["CreateFailed", "SetupFailed", "UserSetupFailed", "Unusable", "Deleting", "Hibernating"] {
        let id = compute_id(&format!("x{}", state.to_lowercase()));
        env.arm.put_machine(&id, state, Machine::new(22));
        let out = run(&mut env.proxy(&[&id]), None, Duration::from_secs(10));
        assert!(!out.status.success(), "{state}");
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(out.stderr.contains(state), "{state}: {}", out.stderr);
        assert!(out.stderr.contains("cannot accept connections"), "{}", out.stderr);
        assert!(out.elapsed < Duration::from_secs(5), "{state} took {:?}", out.elapsed);
        assert_eq!(starts(&env, &id), 0);
    }
}

#[test]
fn status_json_and_start_stop_wait_drive_the_state() {
    let env = TestEnv::new();
    let id = stopped_by_idle_shutdown(&env, "ci1", Machine::new(50000));
    assert!(run(env.command(crate::common::BIN).args(["add", "azmlci1", &id]), None, LIMIT).status.success());

    let status = |target: &str| {
        let out = run(env.command(crate::common::BIN).args(["status", target, "--json"]), None, LIMIT);
        assert!(out.status.success(), "{}", out.stderr);
        crate::common::schema::status_instances(&out.stdout).remove(0)
    };
    let s = status("azmlci1");
    assert_eq!(s["alias"], "azmlci1");
    assert_eq!(s["resource_id"], id);
    assert_eq!(s["state"], "stopped");
    assert_eq!(s["stopped_by"], "idle_shutdown");
    assert_eq!(s["transport"], "direct");
    assert_eq!(s["endpoint"], serde_json::Value::Null);
    assert_eq!(s["assigned_to"]["object_id"], crate::common::MY_OID);
    assert_eq!(s["last_operation"]["time"], "2026-11-26T14:02:31Z");

    let out = run(env.command(crate::common::BIN).args(["start", "azmlci1", "--wait"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(env.arm.state_of(&id), "Running");
    let s = status(&id);
    assert_eq!(s["state"], "running");
    assert_eq!(s["endpoint"], "127.0.0.1:50000");

    let out = run(env.command(crate::common::BIN).args(["stop", "azmlci1", "--wait"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(env.arm.state_of(&id), "Stopped");
    assert_eq!(env.arm.count_method("POST", &format!("{id}/stop")), 1);

    // Without --wait, start only asks.
    let out = run(env.command(crate::common::BIN).args(["start", "azmlci1"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout_text().contains("Start requested for ci1"), "{}", out.stdout_text());
    assert_eq!(env.arm.state_of(&id), "Starting");

    // All configured hosts, as a table.
    let out = run(env.command(crate::common::BIN).args(["status"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout_text().contains("azmlci1"), "{}", out.stdout_text());

    let out = run(env.command(crate::common::BIN).args(["status", "nosuchhost"]), None, LIMIT);
    assert!(!out.status.success());
    assert!(out.stderr.contains("neither a resource ID nor a host"), "{}", out.stderr);
}
