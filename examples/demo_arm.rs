//! A local stand-in for Azure Resource Manager, for `contrib/demo/run.sh` and `contrib/bench/run.sh`: the same
//! mock the tests use, serving one compute instance. It prints its URL, then takes commands on stdin and answers
//! each with one line on stdout once it has taken effect (so a script waits for that line, not for a while):
//!   move PORT   the instance now answers SSH on PORT (as after a stop and start)      → `ok`
//!   stop        the instance was stopped by idle shutdown (a connection will start it)  → `ok`
//!   requests    how many ARM requests were served so far                                 → `requests N`
//! Usage: demo_arm RESOURCE_ID SSH_PORT TOKEN

use std::io::BufRead;

use azml_ssh_testkit::mock_arm::{Machine, MockArm};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, id, port, token] = args.as_slice() else {
        eprintln!("usage: demo_arm RESOURCE_ID SSH_PORT TOKEN");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("SSH_PORT must be a port number");
    let arm = MockArm::start(token);
    arm.put_machine(id, "Running", Machine { polls_to_running: 3, ..Machine::new(port) });
    println!("{}", arm.url);
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["move", port] => {
                let port = port.parse().expect("move PORT");
                arm.put_machine(id, "Running", Machine { polls_to_running: 3, ..Machine::new(port) });
            }
            ["stop"] => {
                arm.patch_instance(id, "state", serde_json::json!("Stopped"));
                arm.patch_instance(id, "connectivityEndpoints", serde_json::json!({"publicIpAddress": null}));
                arm.patch_instance(
                    id,
                    "lastOperation",
                    serde_json::json!({"operationName": "Stop", "operationStatus": "Succeeded", "operationTrigger": "IdleShutdown", "operationTime": "2026-11-26T14:02:00Z"}),
                );
            }
            ["requests"] => {
                println!("requests {}", arm.request_count());
                continue;
            }
            _ => {
                println!("error: unknown command {line:?}");
                continue;
            }
        }
        println!("ok");
    }
}
