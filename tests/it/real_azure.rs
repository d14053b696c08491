//! What real Azure does that a simple mock would not: firewalls that pass only 443, accounts spanning tenants,
//! instances assigned to nobody, subscriptions in odd states, HTTP/1.1 front ends that insist on Content-Length,
//! `az logout`, and a gateway that closes as it likes once the session is over.

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::json;

use crate::common::mock_arm::{HOME_TENANT, Machine, compute_instance, created_by};
use crate::common::{BIN, MY_OID, SUB, TestEnv, cache_key, compute_id, compute_id_in, jwt, run};

const LIMIT: Duration = Duration::from_secs(90);
const T2: &str = "22222222-0000-0000-0000-000000000002";
const T3: &str = "33333333-0000-0000-0000-000000000003";
const SUB2: &str = "22222222-1111-2222-3333-444444444444";
/// The same person's object ID in the second tenant: a guest has a different one in every tenant.
const OID2: &str = "22222222-aaaa-bbbb-cccc-dddddddddddd";
const OTHER_PERSON: &str = "55555555-aaaa-bbbb-cccc-dddddddddddd";

/// A port on 127.0.0.1 where nothing listens: connections are refused, as a firewall that rejects does.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A second tenant the account is a guest in, with one subscription; the fake `az` hands out its token.
fn second_tenant(env: &TestEnv) {
    let token = jwt(OID2, T2);
    env.arm.add_tenant(T2, "Fabrikam", &token);
    env.az_tenant_token(T2, &token);
    env.arm.put_subscription(SUB2, T2, "Enabled");
}

fn statuses(env: &TestEnv, status: u16) -> usize {
    env.arm.requests().iter().filter(|r| r.status == status).count()
}

#[test]
fn a_blocked_ssh_port_falls_back_to_the_tunnel_and_the_next_connection_goes_straight_there() {
    for fdpass in ["", "--fdpass "] {
        let mut env = TestEnv::new();
        let sshd = env.start_sshd();
        let (gateway, id) = env.put_tunnel_instance("ci1", sshd.addr);
        let port = closed_port();
        env.arm.patch_instance(
            &id,
            "sshSettings",
            json!({"sshPublicAccess": "Enabled", "adminUserName": "azureuser", "sshPort": port}),
        );
        env.arm.patch_instance(&id, "connectivityEndpoints", json!({"publicIpAddress": "127.0.0.1"}));
        let config = env.ssh_config("azmlci1", &id, fdpass);

        let first = run(&mut env.ssh(&config, "azmlci1", &["echo", "first"]), None, LIMIT);
        assert!(first.status.success(), "{fdpass}: {}", first.stderr);
        assert_eq!(first.stdout_text(), "first\n");
        assert_eq!(first.stderr.matches("using the Azure ML tunnel").count(), 1, "said once: {}", first.stderr);
        assert!(first.stderr.contains(&format!("127.0.0.1:{port}")), "{}", first.stderr);

        let (requests, handshakes) = (env.arm.request_count(), gateway.handshakes());
        let mut second = env.ssh(&config, "azmlci1", &["echo", "second"]);
        second.env("AZML_SSH_LOG", "debug");
        let second = run(&mut second, None, LIMIT);
        assert!(second.status.success(), "{fdpass}: {}", second.stderr);
        assert_eq!(second.stdout_text(), "second\n");
        assert!(!second.stderr.contains("trying the direct endpoint"), "no direct attempt: {}", second.stderr);
        assert!(!second.stderr.contains("using the Azure ML tunnel"), "{}", second.stderr);
        assert_eq!(env.arm.request_count(), requests, "the remembered tunnel needs no ARM call");
        assert_eq!(gateway.handshakes(), handshakes + 1);
    }
}

#[test]
fn a_compute_in_another_tenant_connects_and_its_tenant_is_remembered() {
    let env = TestEnv::new();
    second_tenant(&env);
    let sshd = env.start_sshd();
    let id = compute_id_in(SUB2, "rg2", "ws2", "ci2");
    env.arm.put_compute(&id, compute_instance(&id, "Running", true, Some("127.0.0.1"), Some(sshd.addr.port())));
    let config = env.ssh_config("ci2", &id, "");

    let first = run(&mut env.ssh(&config, "ci2", &["echo", "hello"]), None, LIMIT);
    assert!(first.status.success(), "{}", first.stderr);
    assert_eq!(first.stdout_text(), "hello\n");
    assert!(env.az_call_lines().iter().any(|l| l.contains(&format!("--tenant {T2}"))), "{:?}", env.az_call_lines());
    assert_eq!(statuses(&env, 401), 1, "one wrong-tenant answer, then the right tenant");

    // The endpoint goes stale (as after an hour): the next connection is a cold lookup.
    let entry = env.cache_dir().join(format!("azml-ssh/endpoints/{}.json", cache_key(&id)));
    let mut cached: serde_json::Value = serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
    assert_eq!(cached["tenant"], T2);
    cached["resolved_at"] = json!(0);
    std::fs::write(&entry, cached.to_string()).unwrap();
    let (az_calls, gets) = (env.az_calls(), env.arm.count_method("GET", &id));
    let second = run(&mut env.ssh(&config, "ci2", &["echo", "again"]), None, LIMIT);
    assert!(second.status.success(), "{}", second.stderr);
    assert_eq!(statuses(&env, 401), 1, "the remembered tenant is used at once");
    assert_eq!(env.arm.count_method("GET", &id), gets + 1);
    assert_eq!(env.az_calls(), az_calls, "the tenant's token is cached too");
}

#[test]
fn config_finds_my_instances_in_every_tenant_and_only_mine() {
    let env = TestEnv::new();
    second_tenant(&env);
    env.arm.add_tenant(T3, "Contoso", &jwt("x", T3));
    env.az_tenant_needs_mfa(T3);
    let (past_due, disabled) = ("00000000-1111-2222-3333-000000000002", "00000000-1111-2222-3333-000000000003");
    env.arm.put_subscription(SUB, HOME_TENANT, "Warned");
    env.arm.put_subscription(past_due, HOME_TENANT, "PastDue");
    env.arm.put_subscription(disabled, HOME_TENANT, "Disabled");
    let put = |id: String, doc: serde_json::Value| env.arm.put_compute(&id, doc);
    let running = |id: &str| compute_instance(id, "Running", true, Some("127.0.0.1"), Some(22));
    put(compute_id("home-mine"), running(&compute_id("home-mine")));
    let id = compute_id_in(past_due, "rg", "ws", "pastdue-mine");
    put(id.clone(), running(&id));
    let id = compute_id_in(disabled, "rg", "ws", "disabled-mine");
    put(id.clone(), running(&id));
    let id = compute_id("home-theirs");
    let mut theirs = running(&id);
    theirs["properties"]["properties"]["personalComputeInstanceSettings"]["assignedUser"]["objectId"] =
        json!(OTHER_PERSON);
    put(id, theirs);
    let id = compute_id_in(SUB2, "rg2", "ws2", "guest-created-mine");
    put(id.clone(), created_by(&id, OID2, T2, 22));
    let id = compute_id_in(SUB2, "rg2", "ws2", "guest-created-theirs");
    put(id.clone(), created_by(&id, OTHER_PERSON, T2, 22));
    let id = compute_id_in(SUB2, "rg2", "ws2", "created-by-my-home-oid");
    // My home object ID means nothing in the other tenant.
    put(id.clone(), created_by(&id, MY_OID, T2, 22));

    let out = run(env.command(BIN).args(["config"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("skipped tenant Contoso ({T3})")), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("az login --tenant {T3}")), "{}", out.stderr);
    let include = std::fs::read_to_string(env.path("home/.ssh/azml-ssh/config")).unwrap();
    let hosts: Vec<&str> = include.lines().filter_map(|l| l.strip_prefix("Host ")).collect();
    assert_eq!(hosts, ["guest-created-mine", "home-mine", "pastdue-mine", "*.azml \"!*'*\""], "{include}");
}

#[test]
fn auto_start_declares_its_empty_body_for_http_1_1_front_ends() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    let id = compute_id("ci1");
    env.arm.put_machine(&id, "Stopped", Machine::new(sshd.addr.port()));
    let config = env.ssh_config("azmlci1", &id, "");
    let out = run(&mut env.ssh(&config, "azmlci1", &["echo", "started"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "started\n");
    let posts: Vec<_> = env.arm.requests().into_iter().filter(|r| r.method == "POST").collect();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!((posts[0].content_length.as_deref(), posts[0].status), (Some("0"), 202));
    assert_eq!(statuses(&env, 411), 0);
}

#[test]
fn after_az_logout_a_cached_token_is_not_used() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.addr.port());
    let config = env.ssh_config("azmlci1", &compute_id("ci1"), "--cache-max-age 0 ");
    let first = run(&mut env.ssh(&config, "azmlci1", &["true"]), None, LIMIT);
    assert!(first.status.success(), "{}", first.stderr);
    let calls = env.az_calls();

    let warm = run(&mut env.ssh(&config, "azmlci1", &["true"]), None, LIMIT);
    assert!(warm.status.success(), "{}", warm.stderr);
    assert_eq!(env.az_calls(), calls, "while signed in, the cached token serves");

    env.az_logout();
    let after = run(&mut env.ssh(&config, "azmlci1", &["true"]), None, LIMIT);
    assert!(!after.status.success());
    assert!(after.stderr.contains("az login"), "{}", after.stderr);
    assert_eq!(env.az_calls(), calls + 1, "the CLI was asked again");
}

#[test]
fn azd_signs_in_and_after_azd_logout_a_cached_token_is_not_used() {
    let env = TestEnv::new();
    env.azd_signed_in();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.addr.port());
    let config = env.ssh_config("azmlci1", &compute_id("ci1"), "--auth azd --cache-max-age 0 ");
    let first = run(&mut env.ssh(&config, "azmlci1", &["echo", "hi"]), None, LIMIT);
    assert!(first.status.success(), "{}", first.stderr);
    assert_eq!(first.stdout_text(), "hi\n");
    assert_eq!((env.azd_calls(), env.az_calls()), (1, 0), "azd signed in, az was not asked");

    let warm = run(&mut env.ssh(&config, "azmlci1", &["true"]), None, LIMIT);
    assert!(warm.status.success(), "{}", warm.stderr);
    assert_eq!(env.azd_calls(), 1, "while signed in, the cached token serves");

    env.azd_logout();
    let after = run(&mut env.ssh(&config, "azmlci1", &["true"]), None, LIMIT);
    assert!(!after.status.success());
    assert!(after.stderr.contains("run `azd auth login`"), "{}", after.stderr);
    assert_eq!(env.azd_calls(), 2, "azd was asked again");
}

/// A server that answers only once the client has finished sending — after a moment without more input, as a
/// slow command would — and then closes.
fn late_answer_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 8];
        stream.read_exact(&mut request).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        // Waits for the client's end of input, or a second of silence.
        let _ = stream.read(&mut [0u8; 1]);
        stream.write_all(b"answer\n").unwrap();
    });
    addr
}

#[test]
fn the_tunnel_keeps_reading_after_stdin_ends_and_any_close_then_is_clean() {
    let mut env = TestEnv::new();
    let (gateway, id) = env.put_tunnel_instance("ci1", late_answer_server());
    gateway.close_with(1011);
    let out = run(&mut env.proxy(&["--transport", "tunnel", &id]), Some(b"request\n".to_vec()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "answer\n", "what the server sends after our end of input arrives");
    assert_eq!(out.stderr, "", "a close after our end of input is no error");
}
