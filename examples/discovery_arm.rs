//! A mock Azure Resource Manager at scale, for `contrib/bench/discovery.sh`: SUBS subscriptions × WORKSPACES
//! workspaces × INSTANCES compute instances, every answer after LATENCY_MS, pages of up to 100 items as ARM's. It
//! prints its URL, serves until stdin closes, then prints how many requests it answered.
//! Usage: discovery_arm TOKEN SUBS WORKSPACES INSTANCES LATENCY_MS

use azml_ssh_testkit::mock_arm;
use std::io::Read;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, token, subs, workspaces, instances, latency] = args.as_slice() else {
        eprintln!("usage: discovery_arm TOKEN SUBS WORKSPACES INSTANCES LATENCY_MS");
        std::process::exit(2);
    };
    let number = |text: &str| text.parse::<u64>().unwrap_or_else(|_| panic!("{text:?} is not a number"));
    let arm = mock_arm::MockArm::start(token);
    arm.set_page_size(100);
    let mut subscriptions = Vec::new();
    for s in 0..number(subs) {
        let sub = format!("00000000-0000-0000-0000-{s:012}");
        for w in 0..number(workspaces) {
            for i in 0..number(instances) {
                let id = format!(
                    "/subscriptions/{sub}/resourceGroups/rg{w}/providers/Microsoft.MachineLearningServices/workspaces/ws{w}/computes/ci-{s}-{w}-{i}"
                );
                arm.put_compute(&id, mock_arm::compute_instance(&id, "Running", true, Some("127.0.0.1"), Some(22)));
            }
        }
        subscriptions.push(sub);
    }
    let enabled: Vec<(&str, &str)> = subscriptions.iter().map(|s| (s.as_str(), "Enabled")).collect();
    arm.set_subscriptions(&enabled);
    arm.set_latency(Duration::from_millis(number(latency)));
    println!("{}", arm.url);
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    println!("{}", arm.request_count());
}
