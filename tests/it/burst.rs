//! Cold bursts: VS Code, scp and scripts open several connections at once. With nothing cached, one of them looks
//! the instance up (one token, one ARM call) and the others take its answer from the cache.

use std::time::Duration;

use crate::common::{TestEnv, compute_id};

const LIMIT: Duration = Duration::from_secs(90);

#[test]
fn a_cold_burst_of_direct_connections_makes_one_lookup() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.port());
    let config = env.ssh_config("azmlci1", &compute_id("ci1"), "");
    env.concurrent_echoes(&config, "azmlci1", 10, LIMIT);
    assert_eq!(env.arm.count_method("GET", &compute_id("ci1")), 1, "one ARM lookup for the burst");
    assert_eq!(env.az_calls(), 1, "one token for the burst");
}

#[test]
fn a_cold_burst_through_the_tunnel_makes_one_lookup() {
    let mut env = TestEnv::new();
    let sshd = env.start_sshd();
    let (gateway, id) = env.put_tunnel_instance("ci1", sshd.addr);
    let config = env.ssh_config("azmlci1", &id, "");
    env.concurrent_echoes(&config, "azmlci1", 8, LIMIT);
    assert_eq!(env.arm.count_method("GET", &id), 1, "one ARM lookup for the burst");
    assert_eq!(env.az_calls(), 1, "one token for the burst, then the cached one");
    assert_eq!(gateway.handshakes(), 8);
}
