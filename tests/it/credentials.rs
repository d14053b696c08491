//! The credential chain through the real azure_identity code: the fake `az`, a service principal against a TLS
//! mock of Entra ID, managed identity only on request, and the HTTPS details (SSL_CERT_FILE, HTTPS_PROXY).

use std::time::Duration;

use crate::common::connect_proxy::ConnectProxy;
use crate::common::mock_arm::{MI_SECRET, MockArm, SP_SECRET};
use crate::common::tls::TestCa;
use crate::common::{TOKEN, TestEnv, compute_id, run};

const LIMIT: Duration = Duration::from_secs(10);
const TENANT: &str = "99999999-8888-7777-6666-555555555555";

/// A TLS mock (ARM and Entra ID on one server) whose CA is trusted through SSL_CERT_FILE.
fn tls_env() -> TestEnv {
    let ca_dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(ca_dir.path());
    let arm = MockArm::start_tls(TOKEN, &ca);
    let mut env = TestEnv::with_arm(arm);
    let pem = env.path("ca.pem");
    std::fs::copy(&ca.pem_path, &pem).unwrap();
    env.extra_env.push(("SSL_CERT_FILE".into(), pem.display().to_string()));
    env
}

/// A service principal in the environment whose Entra ID is the TLS mock.
fn with_service_principal(env: &mut TestEnv, secret: &str) {
    let authority = env.arm.url.clone();
    env.extra_env.extend([
        ("AZURE_TENANT_ID".into(), TENANT.into()),
        ("AZURE_CLIENT_ID".into(), "22222222-3333-4444-5555-666666666666".into()),
        ("AZURE_CLIENT_SECRET".into(), secret.into()),
        ("AZURE_AUTHORITY_HOST".into(), authority),
    ]);
}

#[test]
fn not_logged_in_says_to_run_az_login() {
    let env = TestEnv::new();
    env.az_logged_out();
    let out = run(&mut env.proxy(&[&compute_id("ci1")]), None, LIMIT);
    assert!(!out.status.success());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.starts_with("azml-ssh: not signed in to Azure: run `az login`"), "{}", out.stderr);
    assert!(out.stderr.contains("Please run 'az login'"), "the CLI's own words are kept: {}", out.stderr);
    assert_eq!(env.arm.request_count(), 0);
}

#[test]
fn missing_az_is_named() {
    let mut env = TestEnv::new();
    let empty = env.path("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    env.extra_env.push(("PATH".into(), empty.display().to_string()));
    let out = run(&mut env.proxy(&[&compute_id("ci1")]), None, LIMIT);
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("the Azure CLI (`az`) is not on PATH; install it and run `az login`"),
        "{}",
        out.stderr
    );
}

#[test]
fn service_principal_over_tls_is_used_first_and_az_is_not_called() {
    let mut env = tls_env();
    let id = env.put_echo_instance("ci1");
    with_service_principal(&mut env, SP_SECRET);
    let out = run(&mut env.proxy(&[&id]), Some(b"over tls".to_vec()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, b"over tls");
    let paths: Vec<String> = env.arm.requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(paths, [format!("POST /{TENANT}/oauth2/v2.0/token"), format!("GET {id}")]);
    assert_eq!(env.az_calls(), 0);
}

#[test]
fn a_configured_service_principal_that_fails_is_final() {
    let mut env = tls_env();
    let id = env.put_echo_instance("ci1");
    with_service_principal(&mut env, "wrong");
    let out = run(&mut env.proxy(&[&id]), None, LIMIT);
    assert!(!out.status.success());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("service principal (environment) sign-in failed"), "{}", out.stderr);
    assert!(out.stderr.contains("AADSTS7000215"), "{}", out.stderr);
    assert!(out.stderr.contains("AZURE_CLIENT_SECRET"), "{}", out.stderr);
    assert_eq!(env.az_calls(), 0, "no silent fallback to another identity");
}

#[test]
fn https_arm_is_verified_against_ssl_cert_file() {
    let mut env = tls_env();
    let id = env.put_echo_instance("ci1");
    let out = run(&mut env.proxy(&[&id]), Some(b"trusted".to_vec()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, b"trusted");

    // Without the test CA the same server must be refused: TLS is really verified.
    env.extra_env.retain(|(k, _)| k != "SSL_CERT_FILE");
    std::fs::remove_dir_all(env.cache_dir()).unwrap();
    let out = run(&mut env.proxy(&["--timeout", "5", &id]), None, LIMIT);
    assert!(!out.status.success());
    assert!(out.stderr.to_lowercase().contains("certificate"), "{}", out.stderr);
}

#[test]
fn https_proxy_is_used_for_arm() {
    let mut env = tls_env();
    let id = env.put_echo_instance("ci1");
    let proxy = ConnectProxy::start();
    env.extra_env.push(("HTTPS_PROXY".into(), proxy.url()));
    let out = run(&mut env.proxy(&[&id]), Some(b"proxied".to_vec()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, b"proxied");
    assert_eq!(proxy.targets(), [format!("localhost:{}", env.arm.addr.port())]);

    // NO_PROXY wins over HTTPS_PROXY.
    std::fs::remove_dir_all(env.cache_dir()).unwrap();
    env.extra_env.push(("NO_PROXY".into(), "localhost".into()));
    let out = run(&mut env.proxy(&[&id]), Some(b"direct".to_vec()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(proxy.targets().len(), 1, "NO_PROXY was not honoured");
}

#[test]
fn managed_identity_only_when_asked() {
    let mut env = TestEnv::new();
    let id = env.put_echo_instance("ci1");
    env.az_logged_out();
    env.extra_env.extend([
        ("IDENTITY_ENDPOINT".into(), format!("{}/msi/token", env.arm.url)),
        ("IDENTITY_HEADER".into(), MI_SECRET.into()),
    ]);
    // By default the chain never tries managed identity, even where it is configured.
    let out = run(&mut env.proxy(&[&id]), None, LIMIT);
    assert!(!out.status.success());
    assert!(out.stderr.contains("az login"), "{}", out.stderr);
    assert_eq!(env.arm.count("/msi/token"), 0);

    let out = run(&mut env.proxy(&["--auth", "managed-identity", &id]), Some(b"mi".to_vec()), LIMIT);
    assert!(out.status.success(), "{} {:?}", out.stderr, env.arm.requests());
    assert_eq!(out.stdout, b"mi");
    assert_eq!(env.arm.count("/msi/token"), 1);

    // The environment variable selects it too.
    std::fs::remove_dir_all(env.cache_dir()).unwrap();
    env.extra_env.push(("AZML_SSH_AUTH".into(), "managed-identity".into()));
    let out = run(&mut env.proxy(&[&id]), Some(b"mi2".to_vec()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(env.arm.count("/msi/token"), 2);
}

#[test]
fn forced_cli_ignores_service_principal_variables() {
    let mut env = TestEnv::new();
    let id = env.put_echo_instance("ci1");
    env.extra_env.extend([
        ("AZURE_TENANT_ID".into(), TENANT.into()),
        ("AZURE_CLIENT_ID".into(), "22222222-3333-4444-5555-666666666666".into()),
        ("AZURE_CLIENT_SECRET".into(), "unused".into()),
        ("AZURE_AUTHORITY_HOST".into(), "https://localhost:1".into()),
    ]);
    let out = run(&mut env.proxy(&["--auth", "cli", &id]), Some(b"cli".to_vec()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(env.az_calls(), 1);
}

#[test]
fn the_token_scope_follows_the_cloud_even_with_an_endpoint_override() {
    let env = TestEnv::new();
    let id = env.put_echo_instance("ci1");
    let out = run(&mut env.proxy(&["--cloud", "AzureChinaCloud", &id]), Some(b"cn".to_vec()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    let calls = std::fs::read_to_string(env.az_dir.join("calls.log")).unwrap();
    assert_eq!(
        calls.trim(),
        "account get-access-token -o json --scope https://management.core.chinacloudapi.cn/.default"
    );

    std::fs::remove_dir_all(env.cache_dir()).unwrap();
    let out = run(&mut env.proxy(&[&id]), Some(b"public".to_vec()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    let calls = std::fs::read_to_string(env.az_dir.join("calls.log")).unwrap();
    assert!(calls.ends_with("--scope https://management.core.windows.net/.default\n"), "{calls}");
}

#[test]
fn plain_http_arm_on_loopback_never_goes_through_a_proxy() {
    let mut env = TestEnv::new();
    let id = env.put_echo_instance("ci1");
    // A "proxy" that counts who comes to it: the bearer token would reach it in the clear.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let visits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = visits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    for name in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        env.extra_env.push((name.into(), url.clone()));
    }
    let out = run(&mut env.proxy(&[&id]), Some(b"direct".to_vec()), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, b"direct");
    assert!(env.arm.request_count() > 0);
    assert_eq!(visits.load(std::sync::atomic::Ordering::SeqCst), 0, "ARM traffic went through the proxy");
}
