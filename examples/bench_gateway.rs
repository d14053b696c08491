//! Mock Azure ML gateways and ARM for `contrib/bench/tunnel.sh`: the test suite's TLS WebSocket gateway (Rust, so
//! it is not the bottleneck) in front of each TCP target, and a mock ARM serving compute `ci1` (no public SSH)
//! behind the first gateway. Prints `arm URL`, then `gateway PORT` per target; serves until stdin closes.
//! Usage: bench_gateway TOKEN DIR TARGET_PORT... (the CA goes to DIR/test-ca.pem)

use azml_ssh_testkit::{gateway, mock_arm, tls};
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;

pub const ID: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/bench/providers/Microsoft.MachineLearningServices/workspaces/bench/computes/ci1";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, token, dir, targets @ ..] = args.as_slice() else {
        eprintln!("usage: bench_gateway TOKEN DIR TARGET_PORT...");
        std::process::exit(2);
    };
    let ca = tls::TestCa::new(Path::new(dir));
    let gateways: Vec<gateway::Gateway> = targets
        .iter()
        .map(|port| {
            let port: u16 = port.parse().expect("a port number");
            gateway::Gateway::start(&ca, token, SocketAddr::from(([127, 0, 0, 1], port)))
        })
        .collect();
    let arm = mock_arm::MockArm::start(token);
    let mut doc = mock_arm::compute_instance(ID, "Running", false, None, None);
    if let Some(first) = gateways.first() {
        doc["properties"]["properties"]["applications"] =
            serde_json::json!([{"displayName": "Jupyter", "endpointUri": first.jupyter_uri()}]);
    }
    arm.put_compute(ID, doc);
    println!("arm {}", arm.url);
    for g in &gateways {
        println!("gateway {}", g.addr.port());
    }
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    println!("requests {}", arm.request_count());
}
