//! Every way ARM can answer, and what the user sees: success after a retry, or one clear `azml-ssh:` line on
//! stderr and a non-zero exit, well within ten seconds.

use std::time::Duration;

use crate::common::mock_arm::{Reply, compute_instance};
use crate::common::{TestEnv, compute_id, run};
use serde_json::json;

/// The whole budget for an outcome, per the requirement that none takes more than ten seconds.
const LIMIT: Duration = Duration::from_secs(10);

/// Runs the proxy directly (stdin closed) and returns (success, the single stderr line).
fn proxy_outcome(env: &TestEnv, args: &[&str]) -> (bool, String) {
    let out = run(&mut env.proxy(args), None, LIMIT);
    assert!(out.stdout.is_empty(), "nothing but the stream may reach stdout: {:?}", out.stdout_text());
    (out.status.success(), out.stderr)
}

fn assert_fails_with(env: &TestEnv, id: &str, expected: &[&str]) {
    assert_args_fail_with(env, &[id], expected);
}

fn assert_args_fail_with(env: &TestEnv, args: &[&str], expected: &[&str]) {
    let (ok, stderr) = proxy_outcome(env, args);
    assert!(!ok, "expected failure, stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line: {stderr:?}");
    assert!(lines[0].starts_with("azml-ssh: "), "{stderr}");
    for needle in expected {
        assert!(lines[0].contains(needle), "{needle:?} missing from: {}", lines[0]);
    }
}

#[test]
fn unauthorized_401_says_to_sign_in_again() {
    let env = TestEnv::new();
    let id = compute_id("ci1");
    env.arm.script(
        &id,
        vec![Reply::error(
            401,
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.",
        )],
    );
    assert_fails_with(&env, &id, &["401", "ExpiredAuthenticationToken", "az login"]);
    assert_eq!(env.arm.count(&id), 1, "a 401 is not retried");
}

#[test]
fn forbidden_403_says_which_permission() {
    let env = TestEnv::new();
    let id = compute_id("ci1");
    env.arm.script(&id, vec![Reply::error(403, "AuthorizationFailed", "The client 'x' does not have authorization to perform action 'Microsoft.MachineLearningServices/workspaces/computes/read'.")]);
    assert_fails_with(&env, &id, &["no permission", "403", "AuthorizationFailed", "computes/read", "Reader"]);
}

#[test]
fn not_found_404_names_the_compute() {
    let env = TestEnv::new();
    let id = compute_id("nosuchci");
    assert_fails_with(&env, &id, &["compute nosuchci was not found", "404", "ResourceNotFound"]);
}

#[test]
fn throttled_429_honours_retry_after_then_succeeds() {
    let env = TestEnv::new();
    let id = env.put_echo_instance("ci1");
    env.arm.script(&id, vec![Reply::error(429, "TooManyRequests", "slow down").with_header("Retry-After", "1")]);
    let out = run(&mut env.proxy(&[&id]), Some(b"ping".to_vec()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, b"ping");
    assert_eq!(env.arm.count(&id), 2);
    assert!(out.elapsed >= Duration::from_secs(1), "Retry-After: 1 was not honoured ({:?})", out.elapsed);
}

#[test]
fn server_errors_500_500_then_200_succeed() {
    let env = TestEnv::new();
    let id = env.put_echo_instance("ci1");
    env.arm.script(
        &id,
        vec![Reply::error(500, "InternalServerError", "boom"), Reply::raw(503, "<html>Service Unavailable</html>")],
    );
    let out = run(&mut env.proxy(&[&id]), Some(b"ping".to_vec()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, b"ping");
    assert_eq!(env.arm.count(&id), 3);
}

#[test]
fn persistent_server_errors_give_up_with_the_arm_message() {
    let env = TestEnv::new();
    let id = compute_id("ci1");
    env.arm
        .script(&id, (0..20).map(|_| Reply::error(500, "InternalServerError", "The server had a bad day.")).collect());
    assert_fails_with(&env, &id, &["HTTP 500", "InternalServerError", "bad day", "try again later"]);
}

#[test]
fn malformed_json_is_reported_not_panicked_on() {
    let env = TestEnv::new();
    let id = compute_id("ci1");
    env.arm.script(&id, vec![Reply::raw(200, "{\"properties\": {\"computeType\": ")]);
    assert_fails_with(&env, &id, &["unreadable answer", "compute ci1"]);
}

#[test]
fn missing_public_ip_is_its_own_message() {
    let env = TestEnv::new();
    let id = compute_id("ci1");
    env.arm.put_compute(&id, compute_instance(&id, "Running", true, None, Some(50000)));
    // (With --transport auto the tunnel would be used instead; see tests/it/tunnel.rs.)
    assert_args_fail_with(&env, &["--transport", "direct", &id], &["ci1", "no public IP address"]);
}

#[test]
fn unparsable_ip_and_port_are_refused() {
    let env = TestEnv::new();
    let id = compute_id("ci1");
    env.arm.put_compute(&id, compute_instance(&id, "Running", true, Some("127.0.0.1 -oProxyCommand=x"), Some(22)));
    assert_fails_with(&env, &id, &["not an IP address"]);
    let mut doc = compute_instance(&id, "Running", true, Some("127.0.0.1"), None);
    doc["properties"]["properties"]["sshSettings"]["sshPort"] = json!(70000);
    env.arm.put_compute(&id, doc);
    assert_fails_with(&env, &id, &["not a number from 1 to 65535", "70000"]);
}

#[test]
fn ssh_public_access_disabled_is_explained() {
    let env = TestEnv::new();
    let id = compute_id("ci1");
    env.arm.put_compute(&id, compute_instance(&id, "Running", false, None, None));
    assert_args_fail_with(
        &env,
        &["--transport", "direct", &id],
        &["ci1 has SSH public access disabled", "--transport auto or tunnel"],
    );
}

#[test]
fn stopped_instance_says_why_and_how_to_start_it() {
    let env = TestEnv::new();
    let id = compute_id("ci1");
    let mut doc = compute_instance(&id, "Stopped", true, None, Some(50000));
    doc["properties"]["properties"]["lastOperation"] = json!({
        "operationName": "Stop", "operationStatus": "Succeeded",
        "operationTrigger": "IdleShutdown", "operationTime": "2026-11-26T14:02:00Z"
    });
    env.arm.put_compute(&id, doc);
    assert_args_fail_with(
        &env,
        &["--no-start", &id],
        &["ci1 is Stopped (idle shutdown at 2026-11-26T14:02:00Z)", &format!("start it with `azml-ssh start {id}`")],
    );
    assert_eq!(env.arm.count_method("POST", &format!("{id}/start")), 0, "--no-start sends no start");
}

#[test]
fn other_compute_types_are_refused() {
    let env = TestEnv::new();
    let id = compute_id("cpu-cluster");
    env.arm.put_compute(
        &id,
        json!({
            "id": id, "name": "cpu-cluster",
            "properties": {"computeType": "AmlCompute", "provisioningState": "Succeeded",
                "properties": {"vmSize": "STANDARD_DS3_V2", "scaleSettings": {"maxNodeCount": 4, "minNodeCount": 0}}}
        }),
    );
    assert_fails_with(&env, &id, &["cpu-cluster is a AmlCompute compute, not a compute instance"]);
}

#[test]
fn messages_reach_the_user_through_real_ssh() {
    let env = TestEnv::new();
    let id = compute_id("ci1");
    env.arm.put_compute(&id, compute_instance(&id, "Unusable", true, None, Some(50000)));
    let config = env.ssh_config("azmlci1", &id, "");
    // Repeated, because the message used to race with ssh hanging up on the proxy once the stream closed.
    for _ in 0..20 {
        let out = run(&mut env.ssh(&config, "azmlci1", &["true"]), None, LIMIT);
        assert!(!out.status.success());
        assert!(out.stderr.contains("azml-ssh: ci1 is Unusable"), "{}", out.stderr);
    }
}

#[test]
fn bad_resource_ids_are_refused_before_any_network_call() {
    let env = TestEnv::new();
    let good = compute_id("ci1");
    let bad = [
        "ci1".to_string(),
        format!("{good}/extra"),
        format!("{good} "),
        good.replace("ci1", "ci1;touch /tmp/pwned"),
        good.replace("ci1", "$(id)"),
        good.replace("ci1", "%h"),
        good.replace("computes", "jobs"),
        good.replace(crate::common::SUB, "my-subscription"),
        "-oProxyCommand=sh".to_string(),
    ];
    for id in &bad {
        assert_fails_with(
            &env,
            id,
            &[
                "invalid compute resource ID",
                "/subscriptions/<subscription-guid>/resourceGroups/<group>/providers/Microsoft.MachineLearningServices/workspaces/<workspace>/computes/<name>",
            ],
        );
    }
    assert_eq!(env.arm.request_count(), 0, "no request may be made for a bad ID");
    assert_eq!(env.az_calls(), 0, "no token may be fetched for a bad ID");
}

#[test]
fn unreachable_arm_fails_fast_with_the_address() {
    let mut env = TestEnv::new();
    // A port nothing listens on: connection refused, retried with backoff, then a clear message.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    env.extra_env.push(("AZML_SSH_ARM_ENDPOINT".into(), format!("http://127.0.0.1:{port}")));
    let out = run(&mut env.proxy(&["--timeout", "5", &compute_id("ci1")]), None, LIMIT);
    assert!(!out.status.success());
    assert!(
        out.stderr.contains(&format!("cannot reach Azure Resource Manager at http://127.0.0.1:{port}/")),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

#[test]
fn sign_in_and_retries_share_one_budget_and_the_real_failure_is_told() {
    let mut env = TestEnv::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    env.extra_env.push(("AZML_SSH_ARM_ENDPOINT".into(), format!("http://127.0.0.1:{port}")));
    // Sign-in takes 3.5 of the 6 s: the retries get what is left, and stop when the next one would not fit in it
    // (five tries, as ARM alone would get, need at least 3 s of backoff). What failed is the message, not "timed
    // out".
    env.az_delay(3.5);
    let out = run(&mut env.proxy(&["--timeout", "6", &compute_id("ci1")]), None, LIMIT);
    assert!(!out.status.success());
    let unreachable = format!("azml-ssh: cannot reach Azure Resource Manager at http://127.0.0.1:{port}/ after ");
    assert!(out.stderr.starts_with(&unreachable), "{}", out.stderr);
    let tries: u32 = out.stderr[unreachable.len()..].split(' ').next().unwrap().parse().unwrap();
    assert!((1..5).contains(&tries), "{tries} tries: {}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

#[test]
fn a_request_cut_short_by_the_timeout_names_the_failure_before_it() {
    let env = TestEnv::new();
    let id = compute_id("ci1");
    env.arm.put_compute(&id, compute_instance(&id, "Running", true, Some("127.0.0.1"), Some(22)));
    let document = compute_instance(&id, "Running", true, Some("127.0.0.1"), Some(22));
    env.arm.script(
        &id,
        vec![
            Reply::error(503, "ServiceUnavailable", "try later"),
            Reply::json(200, document).after(Duration::from_secs(60)),
        ],
    );
    let out = run(&mut env.proxy(&["--timeout", "4", &id]), None, LIMIT);
    assert!(!out.status.success());
    assert!(
        out.stderr.starts_with("azml-ssh: reading compute ci1 took longer than 4 s (--timeout); the last try failed: Azure Resource Manager failed while reading compute ci1 after 1 tries (HTTP 503 ServiceUnavailable: try later)"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

/// Shapes recorded from live ARM (SDK and CLI test recordings): a compute right after `PUT` has no state at all,
/// then state Creating with empty endpoints; connecting meanwhile waits for it like a start.
#[test]
fn a_freshly_created_instance_is_waited_for_until_it_runs() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    let id = compute_id("ci1");
    env.put_running("ci1", sshd.port());
    let just_put = json!({"id": id, "name": "ci1", "type": "Microsoft.MachineLearningServices/workspaces/computes",
        "properties": {"computeType": "ComputeInstance", "provisioningState": "Creating", "provisioningErrors": null,
            "properties": null}});
    let mut creating = compute_instance(&id, "Creating", true, None, None);
    creating["properties"]["provisioningState"] = json!("Creating");
    creating["properties"]["properties"]["connectivityEndpoints"] =
        json!({"publicIpAddress": null, "privateIpAddress": null});
    creating["properties"]["properties"]["applications"] = json!([]);
    env.arm
        .script(&id, vec![Reply::json(200, just_put.clone()), Reply::json(200, just_put), Reply::json(200, creating)]);
    let config = env.ssh_config("azmlci1", &id, "");
    let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "ok"]), None, Duration::from_secs(60));
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "ok\n");
    assert!(out.stderr.contains("azml-ssh: ci1 is Creating"), "{}", out.stderr);
    assert_eq!(env.arm.count_method("POST", &format!("{id}/start")), 0, "a compute being created is not started");
}

/// A compute whose provisioning failed, or an instance in a hopeless state, fails at once — with Azure's reasons.
#[test]
fn failed_provisioning_and_hopeless_states_say_what_azure_says() {
    let env = TestEnv::new();
    let id = compute_id("ci1");
    env.arm.put_compute(
        &id,
        json!({"id": id, "name": "ci1", "properties": {"computeType": "ComputeInstance", "provisioningState": "Failed",
            "provisioningErrors": [{"error": {"code": "QuotaExceeded", "message": "Not enough\nStandard_DS3_v2 cores\u{1b}[2J."}}],
            "properties": {"state": null}}}),
    );
    assert_fails_with(
        &env,
        &id,
        &["ci1 is CreateFailed", "Azure says: QuotaExceeded: Not enough Standard_DS3_v2 cores\\u{1b}[2J."],
    );

    let other = compute_id("ci2");
    let mut unusable = compute_instance(&other, "Unusable", true, None, None);
    unusable["properties"]["properties"]["errors"] =
        json!([{"error": {"code": "DiskFull", "message": "The OS disk is full."}}, {"error": null}]);
    env.arm.put_compute(&other, unusable);
    assert_fails_with(&env, &other, &["ci2 is Unusable", "(Azure says: DiskFull: The OS disk is full.)"]);
    let out = run(env.command(crate::common::BIN).args(["status", &other, "--json"]), None, LIMIT);
    let status = crate::common::schema::status_instances(&out.stdout).remove(0);
    assert_eq!(status["azure_errors"], json!(["DiskFull: The OS disk is full."]));
    assert_eq!(status["state"], "unusable");
}

/// A start that Azure reports as failed (the instance falls back to Stopped, lastOperation StartFailed) ends the
/// wait at once with Azure's message, instead of after --start-timeout.
#[test]
fn a_failed_start_ends_the_wait_at_once() {
    let env = TestEnv::new();
    let id = compute_id("ci1");
    let machine = crate::common::mock_arm::Machine {
        start_fails_with: Some(("ComputeStartFailed".into(), "Allocation failed: no capacity in eastus2.".into())),
        ..crate::common::mock_arm::Machine::new(22)
    };
    env.arm.put_machine(&id, "Stopped", machine);
    // Yesterday's failed start does not count: only one newer than what was there before our start.
    env.arm.patch_instance(
        &id,
        "lastOperation",
        json!({"operationName": "Start", "operationStatus": "StartFailed", "operationTrigger": "User", "operationTime": "2026-11-29T08:00:00Z"}),
    );
    let out = run(&mut env.proxy(&["--start-timeout", "5m", &id]), Some(Vec::new()), Duration::from_secs(30));
    assert!(!out.status.success());
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("azml-ssh: Azure could not start ci1 (StartFailed: ComputeStartFailed: Allocation failed"),
        "{}",
        out.stderr
    );
    assert_eq!(env.arm.count_method("POST", &format!("{id}/start")), 1);
}
