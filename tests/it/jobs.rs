//! Training jobs by name through the wildcard host: `ssh JOB.job.azml` and `ssh N.JOB.job.azml` with real ssh,
//! scp and git, through mock node gateways (the job path, TLS) found the way the Azure ML SDK finds them — the
//! workspace's discovery document, then run history's service instances — and the waits and refusals of every
//! job state. ARM, discovery and run history are one TLS mock, as trusted through SSL_CERT_FILE.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use crate::common::gateway::Gateway;
use crate::common::mock_arm::{MockArm, compute_instance};
use crate::common::mock_jobs::{JobScript, command_job, ssh_service};
use crate::common::sshd::{Sshd, current_user};
use crate::common::tls::TestCa;
use crate::common::{BIN, Outcome, SUB, TOKEN, TestEnv, cache_key, compute_id_in, run};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(90);
const ME: &str = "test.user@contoso.com";

fn workspace(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg-test/providers/Microsoft.MachineLearningServices/workspaces/{name}")
}

struct Jobs {
    env: TestEnv,
    sshd: Sshd,
    ca: TestCa,
    _ca_dir: tempfile::TempDir,
    config: PathBuf,
}

impl Jobs {
    /// A TLS mock ARM with an instance in ws-test (so `config` has something to write), the wildcard host on,
    /// and known_hosts naming the sshd's key for every job host (host-key checking stays on).
    fn new() -> Jobs {
        let ca_dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new(ca_dir.path());
        let mut env = TestEnv::with_arm(MockArm::start_tls(TOKEN, &ca));
        let pem = env.path("ca.pem");
        std::fs::copy(&ca.pem_path, &pem).unwrap();
        env.extra_env.push(("SSL_CERT_FILE".into(), pem.display().to_string()));
        let sshd = env.start_sshd();
        env.arm.set_subscriptions(&[(SUB, "Enabled")]);
        let ci = compute_id_in(SUB, "rg-test", "ws-test", "ci1");
        env.arm.put_compute(&ci, compute_instance(&ci, "Running", true, Some("127.0.0.1"), Some(sshd.port())));
        let config = env.path("home/.ssh/config");
        std::fs::create_dir_all(env.path("home/.ssh")).unwrap();
        let key = Sshd::host_public_key(&env.sshd_dir());
        std::fs::write(&env.known_hosts, format!("*.job.azml {key}\n")).unwrap();
        std::fs::write(
            &config,
            format!(
                "UserKnownHostsFile {}\nGlobalKnownHostsFile /dev/null\nStrictHostKeyChecking yes\nBatchMode yes\nLogLevel ERROR\n",
                env.known_hosts.display()
            ),
        )
        .unwrap();
        let jobs = Jobs { env, sshd, ca, _ca_dir: ca_dir, config };
        let identity = jobs.env.user_key.display().to_string();
        let out = jobs.azml(&["config", "--identity-file", &identity, "--user", &current_user()]);
        assert!(out.status.success(), "{}", out.stderr);
        jobs
    }

    /// A node gateway in front of the sshd.
    fn gateway(&self) -> Gateway {
        Gateway::start_job_node(&self.ca, TOKEN, std::net::SocketAddr::from(([127, 0, 0, 1], self.sshd.port())))
    }

    /// Job `name` in `ws` with `nodes` nodes and SSH on all of them, going through `statuses`, its nodes'
    /// services answering in turn as `services` says.
    fn put(&self, ws: &str, name: &str, nodes: u32, statuses: &[&str], services: HashMap<u32, Vec<Value>>) {
        let script = JobScript {
            statuses: statuses.iter().map(|s| s.to_string()).collect(),
            services: services.into_iter().map(|(n, answers)| (n, VecDeque::from(answers))).collect(),
            error: None,
            document: command_job(&workspace(ws), name, nodes, Some(true), ME),
        };
        self.env.arm.put_job(&workspace(ws), name, script);
    }

    fn azml(&self, args: &[&str]) -> Outcome {
        run(self.env.command(BIN).args(args), None, LIMIT)
    }

    fn ssh(&self, host: &str, remote: &[&str]) -> Outcome {
        run(&mut self.env.ssh(&self.config, host, remote), None, LIMIT)
    }

    /// The requests to run history (path, whether they carried the token).
    fn history_requests(&self) -> Vec<(String, bool)> {
        let requests = self.env.arm.requests();
        requests
            .iter()
            .filter(|r| r.path.starts_with("/history/"))
            .map(|r| (r.path.clone(), r.authorization.is_some()))
            .collect()
    }
}

#[test]
fn ssh_scp_and_git_reach_each_node_of_a_running_job_by_name() {
    let jobs = Jobs::new();
    let (node0, node1) = (jobs.gateway(), jobs.gateway());
    let services = HashMap::from([
        (0, vec![ssh_service("Running", &node0.proxy_endpoint())]),
        (1, vec![ssh_service("Running", &node1.proxy_endpoint())]),
    ]);
    // Capitals: ssh hands over `%h` lower-cased, and the run-history path needs the name as Azure spells it.
    jobs.put("ws-test", "Train_Job1", 2, &["Running"], services);

    let out = jobs.ssh("train_job1.job.azml", &["echo", "node0"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "node0\n");
    assert_eq!((node0.handshakes(), node1.handshakes()), (1, 0), "node 0 is the default");
    let out = jobs.ssh("1.train_job1.job.azml", &["echo", "node1"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!((node0.handshakes(), node1.handshakes()), (1, 1), "N.JOB reaches node N");

    let history = jobs.history_requests();
    assert!(history.iter().all(|(_, token)| *token), "run history gets the ARM token: {history:?}");
    assert!(history.iter().any(|(p, _)| p.ends_with("/runs/Train_Job1/serviceinstances/1")), "{history:?}");
    let discovery: Vec<_> = jobs.env.arm.requests().into_iter().filter(|r| r.path == "/discovery").collect();
    assert!(!discovery.is_empty() && discovery.iter().all(|r| r.authorization.is_none()), "discovery gets no token");

    jobs.env.scp_round_trip(&jobs.config, "train_job1.job.azml", 3 << 20, 7);
    jobs.env.git_clone_works(&jobs.config, "1.train_job1.job.azml");
    // Host-key checking is on: a job host known_hosts does not vouch for is refused.
    std::fs::write(&jobs.env.known_hosts, "").unwrap();
    let out = jobs.ssh("train_job1.job.azml", &["true"]);
    assert!(!out.status.success() && out.stderr.contains("Host key verification failed"), "{}", out.stderr);
}

#[test]
fn a_queued_job_and_a_starting_ssh_service_are_waited_for() {
    let jobs = Jobs::new();
    let gateway = jobs.gateway();
    let services = HashMap::from([(
        0,
        vec![json_instances_empty(), ssh_service("NotStarted", ""), ssh_service("Running", &gateway.proxy_endpoint())],
    )]);
    // The search by name reads the job once, the connection then at every poll.
    jobs.put("ws-test", "queued-job", 1, &["Queued", "Queued", "Preparing", "Running"], services);
    let out = jobs.ssh("queued-job.job.azml", &["echo", "up"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "up\n");
    for seen in [
        "queued-job.job.azml is Queued (0:00)",
        "queued-job.job.azml is Preparing",
        "is running, its SSH service not up yet",
        "is running, its SSH service NotStarted",
        "queued-job.job.azml is ready after",
    ] {
        assert!(out.stderr.contains(seen), "progress says {seen:?}:\n{}", out.stderr);
    }

    // Within --start-timeout only: a job that stays queued gives one line naming its state.
    jobs.put("ws-test", "stuck", 1, &["Queued"], HashMap::new());
    let mut proxy = jobs.env.proxy(&["--start-timeout", "3", "--wildcard", "azml", "--", "stuck.job.azml"]);
    let out = run(&mut proxy, Some(Vec::new()), LIMIT);
    assert!(!out.status.success());
    let last = out.stderr.trim_end().lines().last().unwrap_or_default().to_owned();
    assert!(
        last.contains("waiting for job stuck took longer than 3 s") && last.contains("still Queued"),
        "{}",
        out.stderr
    );
}

fn json_instances_empty() -> Value {
    serde_json::json!({"instances": {}})
}

#[test]
fn ended_jobs_and_jobs_without_ssh_are_refused_with_the_reason() {
    let jobs = Jobs::new();
    let failed = JobScript {
        statuses: VecDeque::from(["Failed".to_owned()]),
        error: Some("Execution failed: exit code 1 in train.py".into()),
        document: command_job(&workspace("ws-test"), "crashed", 1, Some(true), ME),
        ..JobScript::default()
    };
    jobs.env.arm.put_job(&workspace("ws-test"), "crashed", failed);
    let no_ssh = JobScript {
        statuses: VecDeque::from(["Running".to_owned()]),
        document: command_job(&workspace("ws-test"), "plain", 2, None, ME),
        ..JobScript::default()
    };
    jobs.env.arm.put_job(&workspace("ws-test"), "plain", no_ssh);
    let first_only = JobScript {
        statuses: VecDeque::from(["Running".to_owned()]),
        document: command_job(&workspace("ws-test"), "leader", 2, Some(false), ME),
        ..JobScript::default()
    };
    jobs.env.arm.put_job(&workspace("ws-test"), "leader", first_only);
    let broken = jobs.gateway();
    jobs.put(
        "ws-test",
        "sshfail",
        1,
        &["Running"],
        HashMap::from([(0, vec![ssh_service("Failed", &broken.proxy_endpoint())])]),
    );
    jobs.put("ws-test", "pair", 2, &["Running"], HashMap::new());
    // Running, but run history gives no ProxyEndpoint: an error at once, not a wait.
    let no_endpoint =
        serde_json::json!({"instances": {"my_ssh": {"type": "SSH", "status": "Running", "properties": {}}}});
    jobs.put("ws-test", "noend", 1, &["Running"], HashMap::from([(0, vec![no_endpoint])]));

    for (host, expected) in [
        (
            "crashed.job.azml",
            "job crashed is Failed: SSH reaches a job only while it runs: Execution failed: exit code 1 in train.py",
        ),
        ("plain.job.azml", "job plain has no SSH service; add one to the job's YAML"),
        ("1.leader.job.azml", "job leader runs its SSH service on node 0 only; to reach node 1, add `nodes: all`"),
        ("5.pair.job.azml", "job pair has 2 node(s), numbered from 0; there is no node 5"),
        // An ended job is told as such, whatever else is wrong with the name.
        ("3.crashed.job.azml", "job crashed is Failed: SSH reaches a job only while it runs"),
        ("noend.job.azml", "Azure gives node 0 of job noend an unusable SSH endpoint \"\""),
        ("sshfail.job.azml", "the SSH service on node 0 of job sshfail is Failed: sshd did not start"),
        ("nosuch.job.azml", "there is no job nosuch in 1 workspace(s) of 1 subscription(s)"),
        ("a_.b_.c.d.job.azml", "does not name a job node"),
    ] {
        let out = jobs.ssh(host, &["true"]);
        assert!(!out.status.success(), "{host}");
        let lines: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("azml-ssh")).collect();
        assert_eq!(lines.len(), 1, "{host}: one line:\n{}", out.stderr);
        assert!(lines[0].contains(expected), "{host}: {}", out.stderr);
    }
    // The same states for scripts: a failed SSH service, and an ended job whose run history is not asked.
    let out = jobs.azml(&["status", "sshfail.job.azml", "--json"]);
    let node = crate::common::schema::checked_json(&out.stdout, "status")["job_node"].clone();
    let failed = serde_json::json!({"state": "not_running", "azure_status": "failed", "error": "sshd did not start"});
    assert_eq!(node["ssh_service"], failed, "{node}");
    let out = jobs.azml(&["status", "crashed.job.azml", "--json"]);
    let node = crate::common::schema::checked_json(&out.stdout, "status")["job_node"].clone();
    assert_eq!((node["status"].as_str(), node["ssh_service"]["state"].as_str()), (Some("failed"), Some("not_asked")));
    assert_eq!(broken.handshakes(), 0);
}

#[test]
fn the_token_never_goes_outside_the_azure_ml_domains() {
    let jobs = Jobs::new();
    // A node gateway outside the allow-list: refused before any connection.
    jobs.put(
        "ws-test",
        "evilnode",
        1,
        &["Running"],
        HashMap::from([(0, vec![ssh_service("Running", "wss://ssh-1.evil.example")])]),
    );
    let out = jobs.ssh("evilnode.job.azml", &["true"]);
    assert!(
        out.stderr.contains("the gateway ssh-1.evil.example of job evilnode is outside the Azure ML node domains"),
        "{}",
        out.stderr
    );

    // A discovery document naming an API host outside the allow-list, or plain http away from loopback.
    jobs.put("ws-two", "evilapi", 1, &["Running"], HashMap::new());
    for api in ["https://eastus.api.evil.example", "http://eastus.api.azureml.ms"] {
        jobs.env.arm.set_discovery_api(api);
        let out = jobs.ssh("evilapi.job.azml", &["true"]);
        assert!(
            out.stderr.contains("names the Azure ML API") && out.stderr.contains("which gets no token"),
            "{api}: {}",
            out.stderr
        );
    }
    assert!(jobs.history_requests().iter().all(|(p, _)| !p.contains("evilapi")), "no run-history request for it");
}

#[test]
fn jobs_lists_the_live_jobs_with_ssh_and_how_to_reach_them() {
    let jobs = Jobs::new();
    jobs.put("ws-test", "Train_Job1", 2, &["Running"], HashMap::new());
    jobs.put("ws-two", "waiting", 1, &["Queued"], HashMap::new());
    let done = JobScript {
        statuses: VecDeque::from(["Completed".to_owned()]),
        document: command_job(&workspace("ws-test"), "done", 1, Some(true), ME),
        ..JobScript::default()
    };
    jobs.env.arm.put_job(&workspace("ws-test"), "done", done);
    let theirs = JobScript {
        statuses: VecDeque::from(["Running".to_owned()]),
        document: command_job(&workspace("ws-test"), "theirs", 1, Some(true), "someone.else@contoso.com"),
        ..JobScript::default()
    };
    jobs.env.arm.put_job(&workspace("ws-test"), "theirs", theirs);

    let out = jobs.azml(&["jobs"]);
    assert!(out.status.success(), "{}", out.stderr);
    let text = out.stdout_text();
    assert!(
        text.contains("Train_Job1") && text.contains("ssh train_job1.job.azml") && text.contains("Running"),
        "{text}"
    );
    assert!(text.contains("ssh waiting.job.azml") && text.contains("Queued"), "{text}");
    assert!(!text.contains("done") && !text.contains("theirs"), "ended jobs and other people's are left out:\n{text}");

    let out = jobs.azml(&["jobs", "--all", "--json"]);
    assert!(out.status.success(), "{}", out.stderr);
    let listed = crate::common::schema::checked_json(&out.stdout, "jobs");
    let names: Vec<&str> = listed["jobs"].as_array().unwrap().iter().map(|j| j["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Train_Job1", "theirs", "waiting"], "{listed}");
    assert_eq!(listed["jobs"][0]["nodes"], 2);
    assert_eq!(listed["jobs"][0]["ssh_hosts"][1], "1.train_job1.job.azml");
}

#[test]
fn an_ended_jobs_cached_endpoint_is_dropped_and_its_state_named() {
    let jobs = Jobs::new();
    let gateway = jobs.gateway();
    let running = HashMap::from([(0, vec![ssh_service("Running", &gateway.proxy_endpoint())])]);
    jobs.put("ws-test", "short", 1, &["Running"], running.clone());
    let out = jobs.ssh("short.job.azml", &["echo", "first"]);
    assert!(out.status.success(), "{}", out.stderr);
    let history = jobs.history_requests().len();

    // Someone else's job: the gateway says who may connect.
    gateway.refuse_next(&[403]);
    let out = jobs.ssh("short.job.azml", &["true"]);
    assert!(out.stderr.contains("only the user who submitted the job may connect"), "{}", out.stderr);
    assert_eq!(jobs.history_requests().len(), history, "the cached endpoint was used: no lookup");

    // The job ends: its gateway no longer knows it. The cached endpoint fails once and is forgotten; the next
    // connection asks Azure, which says the job has ended.
    jobs.put("ws-test", "short", 1, &["Completed"], running);
    gateway.refuse_next(&[404, 404]);
    let out = jobs.ssh("short.job.azml", &["true"]);
    assert!(out.stderr.contains("does not know this job node (HTTP 404); the job may have ended"), "{}", out.stderr);
    let out = jobs.ssh("short.job.azml", &["true"]);
    assert!(out.stderr.contains("job short is Completed: SSH reaches a job only while it runs"), "{}", out.stderr);
}

#[test]
fn code_forward_and_status_take_a_job_node() {
    use crate::work::{fake_editor, fake_jupyter_server, get, interrupt_and_check, local_port_of, spawn_until_lines};

    let jobs = Jobs::new();
    let (node0, node1) = (jobs.gateway(), jobs.gateway());
    let services = HashMap::from([
        (0, vec![ssh_service("Running", &node0.proxy_endpoint())]),
        (1, vec![ssh_service("Running", &node1.proxy_endpoint())]),
    ]);
    // Found by the search while queued; `code` waits for it to run, then opens the editor with the cache warm.
    jobs.put("ws-test", "Train_Job1", 2, &["Queued", "Queued", "Running"], services);
    let ws = workspace("ws-test");
    let cache = jobs
        .env
        .cache_dir()
        .join(format!("azml-ssh/endpoints/{}.json", cache_key(&format!("{ws}/jobs/Train_Job1/nodes/1"))));
    let code_log = fake_editor(&jobs.env, "code", &cache);
    let out = jobs.azml(&["code", "1.Train_Job1.job.azml"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stderr.contains("Train_Job1 node 1 is Queued") && out.stderr.contains("is ready after"),
        "{}",
        out.stderr
    );
    let user = current_user();
    let home = if user == "root" { "/root".to_owned() } else { format!("/home/{user}") };
    assert_eq!(
        std::fs::read_to_string(&code_log).unwrap(),
        format!("warm\n--folder-uri\nvscode-remote://ssh-remote+1.Train_Job1.job.azml{home}\n"),
    );

    let out = jobs.azml(&["status", "1.train_job1.job.azml", "--json"]);
    assert!(out.status.success(), "{}", out.stderr);
    let status = crate::common::schema::checked_json(&out.stdout, "status")["job_node"].clone();
    assert_eq!(
        (status["name"].as_str(), status["node"].as_u64(), status["nodes"].as_u64()),
        (Some("Train_Job1"), Some(1), Some(2))
    );
    assert_eq!(
        (status["status"].as_str(), status["ssh_service"]["state"].as_str()),
        (Some("running"), Some("running"))
    );

    // TensorBoard on a job node, through the node's tunnel.
    let tensorboard = fake_jupyter_server("t");
    let config = jobs.config.display().to_string();
    let args = ["forward", "train_job1.job.azml", &tensorboard.to_string(), "--ssh-config", &config];
    let (child, urls) = spawn_until_lines(&jobs.env, &args, 1);
    let local = local_port_of(&urls[0]);
    let answer = get(local);
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("jupyter ok"), "{answer}");
    assert!(node0.handshakes() >= 1, "through node 0's gateway");
    interrupt_and_check(child, &[local]);
}

#[test]
fn the_search_goes_on_past_a_failing_workspace_and_its_answer_serves_every_spelling() {
    use crate::common::mock_arm::Reply;

    let jobs = Jobs::new();
    let gateway = jobs.gateway();
    jobs.put(
        "ws-test",
        "Train_Job1",
        1,
        &["Running"],
        HashMap::from([(0, vec![ssh_service("Running", &gateway.proxy_endpoint())])]),
    );
    // A workspace this account may not read jobs in: its answer is a failure of its own, not the search's.
    let bad = compute_id_in(SUB, "rg-test", "ws-bad", "cpu1");
    jobs.env.arm.put_compute(&bad, compute_instance(&bad, "Running", true, Some("127.0.0.1"), Some(1)));
    let denied = || {
        Reply::error(
            403,
            "AuthorizationFailed",
            "The client does not have authorization to perform action 'Microsoft.MachineLearningServices/workspaces/jobs/read'.",
        )
    };
    jobs.env.arm.script(&format!("{}/jobs/train_job1", workspace("ws-bad")), vec![denied(), denied()]);
    jobs.env.arm.script(&format!("{}/jobs", workspace("ws-bad")), vec![denied(), denied()]);

    let out = jobs.ssh("train_job1.job.azml", &["echo", "found"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "found\n");
    // The answer is kept for every spelling: the commands pass the name as typed, ssh lower-cased.
    let lists = format!("/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/workspaces");
    let searches = jobs.env.arm.count_method("GET", &lists);
    let out = jobs.azml(&["status", "Train_Job1.job.azml"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(jobs.env.arm.count_method("GET", &lists), searches, "no second search");
}

#[test]
fn a_remembered_job_that_ended_is_searched_for_again_and_its_rerun_found() {
    let jobs = Jobs::new();
    let (first, rerun) = (jobs.gateway(), jobs.gateway());
    let running = |gateway: &Gateway| HashMap::from([(0, vec![ssh_service("Running", &gateway.proxy_endpoint())])]);
    jobs.put("ws-test", "nightly", 1, &["Running"], running(&first));
    let out = jobs.ssh("nightly.job.azml", &["true"]);
    assert!(out.status.success(), "{}", out.stderr);

    // It ends, and a job of the same name is submitted in another workspace.
    jobs.put("ws-test", "nightly", 1, &["Completed"], running(&first));
    jobs.put("ws-two", "nightly", 1, &["Running"], running(&rerun));
    first.refuse_next(&[404, 404]);
    let out = jobs.ssh("nightly.job.azml", &["true"]);
    assert!(!out.status.success(), "the cached gateway of the ended job fails once");
    let out = jobs.ssh("nightly.job.azml", &["echo", "rerun"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "rerun\n");
    assert_eq!(rerun.handshakes(), 1, "the live job of the name");
}
