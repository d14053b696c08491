//! Cold bursts: VS Code, scp and scripts open several connections at once. With nothing cached, one of them looks
//! the instance up (one token, one ARM call) and the others take its answer from the cache.

use std::time::Duration;

use crate::common::{TestEnv, cache_key, compute_id};

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

#[test]
fn a_connection_waiting_for_another_ones_lookup_says_so_then_connects() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    use std::process::Stdio;

    let env = TestEnv::new();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.port());
    let config = env.ssh_config("azmlci1", &compute_id("ci1"), "");
    // Another azml-ssh holds the lookup lock, as one starting the instance would for minutes.
    let locks = env.cache_dir().join("azml-ssh/lookups");
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&locks).unwrap();
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(locks.join(format!("{}.lock", cache_key(&compute_id("ci1")))))
        .unwrap();
    lock.lock().unwrap();

    let mut ssh = env.ssh(&config, "azmlci1", &["echo", "hi"]);
    let mut child = ssh.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (lines, seen) = std::sync::mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let note = loop {
        let line = seen.recv_timeout(LIMIT).expect("a note while waiting for the other lookup");
        if line.contains("another connection is looking up ci1") {
            break line;
        }
    };
    assert!(note.starts_with("azml-ssh: "), "{note}");
    assert_eq!(env.arm.count_method("GET", &compute_id("ci1")), 0, "it waits rather than asking ARM itself");
    assert_eq!(child.try_wait().unwrap(), None, "still waiting while the lock is held");

    // The other one finishes without leaving an answer (it died, say): this one looks up itself.
    drop(lock);
    let deadline = std::time::Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("ssh still running {LIMIT:?} after the lock was released");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    reader.join().unwrap();
    let rest: Vec<String> = seen.try_iter().collect();
    assert!(status.success(), "{rest:?}");
    assert_eq!(stdout, "hi\n");
    assert_eq!(env.arm.count_method("GET", &compute_id("ci1")), 1);
}
