//! `azml-ssh config`, `add`, `remove` and `list` against the mock ARM (now listing subscriptions, workspaces and
//! computes, paged), with the resulting `~/.ssh/config` used by the real ssh, scp and git.

use std::path::PathBuf;
use std::time::Duration;

use crate::common::mock_arm::compute_instance;
use crate::common::sshd::{Sshd, current_user};
use crate::common::{SUB, TestEnv, compute_id, compute_id_in, run};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(60);
const OTHER_SUB: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const SOMEONE_ELSE: &str = "99999999-0000-0000-0000-000000000000";

/// The user's own ssh config before azml-ssh: global settings, then a `Host *` that would hijack every host if
/// our block did not come first.
fn users_config(env: &TestEnv) -> String {
    format!(
        "# my own settings\n\
         UserKnownHostsFile {kh}\n\
         GlobalKnownHostsFile /dev/null\n\
         StrictHostKeyChecking yes\n\
         BatchMode yes\n\
         LogLevel ERROR\n\
         \n\
         Host *\n\
         \tUser somebody-else\n\
         \tProxyCommand /bin/false\n\
         \tServerAliveInterval 99\n",
        kh = env.known_hosts.display()
    )
}

fn ssh_dir(env: &TestEnv) -> PathBuf {
    env.path("home/.ssh")
}

fn user_config_path(env: &TestEnv) -> PathBuf {
    ssh_dir(env).join("config")
}

fn include_path(env: &TestEnv) -> PathBuf {
    ssh_dir(env).join("azml-ssh/config")
}

fn write_users_config(env: &TestEnv) -> String {
    std::fs::create_dir_all(ssh_dir(env)).unwrap();
    let text = users_config(env);
    std::fs::write(user_config_path(env), &text).unwrap();
    text
}

fn mine(id: &str, port: u16) -> serde_json::Value {
    compute_instance(id, "Running", true, Some("127.0.0.1"), Some(port))
}

fn theirs(id: &str) -> serde_json::Value {
    let mut doc = compute_instance(id, "Running", true, Some("127.0.0.1"), Some(1));
    doc["properties"]["properties"]["personalComputeInstanceSettings"]["assignedUser"]["objectId"] =
        json!(SOMEONE_ELSE);
    doc
}

fn azml(env: &TestEnv, args: &[&str]) -> crate::common::Outcome {
    run(env.command(crate::common::BIN).args(args), None, LIMIT)
}

fn known_host(env: &TestEnv, aliases: &[&str]) {
    let key = Sshd::host_public_key(&env.sshd_dir());
    let lines: String = aliases.iter().map(|a| format!("{a} {key}\n")).collect();
    std::fs::write(&env.known_hosts, lines).unwrap();
}

/// Two workspaces in one subscription (pages of two items force nextLink), a disabled second subscription, an
/// AmlCompute cluster and someone else's instance.
fn populated(env: &TestEnv, port: u16) {
    env.arm.set_subscriptions(&[(SUB, "Enabled"), (OTHER_SUB, "Disabled")]);
    for name in ["ci1", "ci4"] {
        env.arm.put_compute(&compute_id(name), mine(&compute_id(name), port));
    }
    env.arm.put_compute(&compute_id("ci2"), theirs(&compute_id("ci2")));
    let cluster = compute_id("cpu-cluster");
    env.arm.put_compute(&cluster, json!({"id": cluster, "name": "cpu-cluster", "properties": {"computeType": "AmlCompute", "properties": {"vmSize": "x"}}}));
    let ci3 = compute_id_in(SUB, "rg-two", "ws-two", "ci3");
    env.arm.put_compute(&ci3, mine(&ci3, port));
    let hidden = compute_id_in(OTHER_SUB, "rg", "ws", "ci9");
    env.arm.put_compute(&hidden, mine(&hidden, port));
}

#[test]
fn config_discovers_my_instances_and_plain_ssh_scp_git_work() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    populated(&env, sshd.port());
    let original = write_users_config(&env);
    known_host(&env, &["ci1", "ci3", "ci4"]);
    let key = env.user_key.display().to_string();

    let out = azml(&env, &["config", "--identity-file", &key, "--user", &current_user()]);
    assert!(out.status.success(), "{}", out.stderr);
    let hosts = std::fs::read_to_string(include_path(&env)).unwrap();
    for (alias, present) in
        [("ci1", true), ("ci3", true), ("ci4", true), ("ci2", false), ("cpu-cluster", false), ("ci9", false)]
    {
        assert_eq!(hosts.contains(&format!("Host {alias}\n")), present, "{alias}:\n{hosts}");
    }
    // Every list was paged: workspaces and computes came in pages of two.
    assert!(env.arm.requests().iter().any(|r| r.query.contains("$skipToken=")), "nextLink was not followed");

    let config = user_config_path(&env);
    let ssh = run(&mut env.ssh(&config, "ci1", &["echo", "ok"]), None, LIMIT);
    assert!(ssh.status.success(), "{}", ssh.stderr);
    assert_eq!(ssh.stdout_text(), "ok\n");

    let local = env.path("payload.bin");
    std::fs::write(&local, crate::common::random_bytes(2 * 1024 * 1024, 3)).unwrap();
    let remote = env.path("copied.bin");
    env.scp(&config, &local.display().to_string(), &format!("ci3:{}", remote.display()));
    assert_eq!(crate::common::sha256_file(&remote), crate::common::sha256_file(&local));

    env.git_clone_works(&config, "ci4");

    // Running again changes nothing and says so.
    let before = (std::fs::read(&config).unwrap(), std::fs::read(include_path(&env)).unwrap());
    let out = azml(&env, &["config"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout_text().contains("Nothing to change"), "{}", out.stdout_text());
    assert_eq!(before, (std::fs::read(&config).unwrap(), std::fs::read(include_path(&env)).unwrap()));

    // --remove gives back the user's file byte for byte.
    let out = azml(&env, &["config", "--remove"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
    assert!(!include_path(&env).exists());
}

#[test]
fn ssh_g_shows_our_options_despite_a_users_host_star() {
    let env = TestEnv::new();
    write_users_config(&env);
    let out = azml(&env, &["add", "azmlci1", &compute_id("ci1"), "--user", "azureuser"]);
    assert!(out.status.success(), "{}", out.stderr);
    let mut g = env.command("ssh");
    g.arg("-F").arg(user_config_path(&env)).args(["-G", "azmlci1"]);
    let out = run(&mut g, None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    let settings = out.stdout_text();
    let value =
        |key: &str| settings.lines().find_map(|l| l.strip_prefix(&format!("{key} "))).unwrap_or_default().to_owned();
    assert_eq!(value("user"), "azureuser");
    assert_eq!(value("hostkeyalias"), "azmlci1");
    assert_eq!(value("proxycommand"), format!("\"{}\" proxy --fdpass {}", crate::common::BIN, compute_id("ci1")));
    assert_eq!(value("proxyusefdpass"), "yes");
    assert_eq!(value("serveraliveinterval"), "15");
    assert_eq!(value("stricthostkeychecking"), "true", "host-key checking stays on");
}

#[test]
fn dry_run_prints_both_diffs_and_writes_nothing() {
    let env = TestEnv::new();
    populated(&env, 2222);
    let original = write_users_config(&env);
    let out = azml(&env, &["config", "--dry-run"]);
    assert!(out.status.success(), "{}", out.stderr);
    let diff = out.stdout_text();
    assert!(diff.contains("--- /dev/null") && diff.contains("+Host ci1"), "{diff}");
    assert!(diff.contains(&format!("+Include {}", include_path(&env).display())), "{diff}");
    assert_eq!(std::fs::read_to_string(user_config_path(&env)).unwrap(), original);
    assert!(!include_path(&env).exists());
}

#[test]
fn all_prefix_and_scope_filters() {
    let env = TestEnv::new();
    populated(&env, 2222);
    let out = azml(&env, &["config", "--all", "--prefix", "ml-", "--workspace", "ws-test"]);
    assert!(out.status.success(), "{}", out.stderr);
    let hosts = std::fs::read_to_string(include_path(&env)).unwrap();
    assert!(hosts.contains("Host ml-ci1\n") && hosts.contains("Host ml-ci2\n"), "{hosts}");
    assert!(!hosts.contains("ml-ci3"), "another workspace: {hosts}");
    assert!(hosts.contains("    User azureuser\n"), "the instance's admin user is the default");

    // A bad scope is refused before any request.
    let requests = env.arm.request_count();
    for args in
        [["--subscription", "nope"], ["--resource-group", "a b"], ["--workspace", "w;s"], ["--prefix=-x", "--all"]]
    {
        let out = azml(&env, &["config", args[0], args[1]]);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", out.stderr);
        assert!(!out.status.success());
        assert!(out.stderr.starts_with("azml-ssh: "), "{}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    }
    assert_eq!(env.arm.request_count(), requests);
}

#[test]
fn hostile_names_from_arm_never_reach_the_file() {
    let env = TestEnv::new();
    env.arm.set_subscriptions(&[(SUB, "Enabled")]);
    env.arm.put_compute(&compute_id("good"), mine(&compute_id("good"), 2222));
    let hostile = ["bad name", "bad\nname", "ci%h", "\"; rm -rf ~", "-oProxyCommand=sh", "x\nProxyCommand sh -c id"];
    for (i, name) in hostile.iter().enumerate() {
        let key = format!("{}/computes/hostile{i}", compute_id("x").rsplit_once("/computes/").unwrap().0);
        let mut doc = mine(&compute_id(name), 2222);
        doc["name"] = json!(name);
        env.arm.put_compute(&key, doc);
    }
    // A valid name with a hostile admin user name.
    let mut sneaky = mine(&compute_id("sneaky"), 2222);
    sneaky["properties"]["properties"]["sshSettings"]["adminUserName"] = json!("root\n    ProxyCommand sh");
    env.arm.put_compute(&compute_id("sneaky"), sneaky);

    let out = azml(&env, &["config"]);
    assert!(out.status.success(), "{}", out.stderr);
    let hosts = std::fs::read_to_string(include_path(&env)).unwrap();
    assert!(hosts.contains("Host good\n"), "{hosts}");
    for bad in ["bad", "ci%h", "rm -rf", "-oProxyCommand", "ProxyCommand sh", "sneaky"] {
        assert!(!hosts.contains(bad), "{bad:?} reached the file:\n{hosts}");
    }
    assert!(out.stderr.contains("cannot be used safely"), "{}", out.stderr);
    assert!(out.stderr.contains("unusable admin user name"), "{}", out.stderr);
}

#[test]
fn add_validates_its_input() {
    let env = TestEnv::new();
    let id = compute_id("ci1");
    let loose = env.path("loose_key");
    std::fs::copy(&env.user_key, &loose).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let public = format!("{}.pub", env.user_key.display());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["add", "bad alias", &id], "host alias"),
        (vec!["add", "-x", &id], ""),
        (vec!["add", "ci%h", &id], "host alias"),
        (vec!["add", "ok", "/subscriptions/x"], "invalid compute resource ID"),
        (vec!["add", "ok", &id, "--user", "root\nx"], "user name"),
        (vec!["add", "ok", &id, "--ssh-option", "ProxyCommand=sh"], "writes this option itself"),
        (vec!["add", "ok", &id, "--ssh-option", "LocalCommand=$(id)"], "cannot contain"),
        (vec!["add", "ok", &id, "--identity-file", loose.to_str().unwrap()], "chmod 600"),
        (vec!["add", "ok", &id, "--identity-file", &public], "public key"),
        (vec!["add", "ok", &id, "--identity-file", "/nonexistent/key"], "not a private key file"),
    ];
    for (args, expected) in cases {
        let out = azml(&env, &args);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
    }
    assert!(!include_path(&env).exists(), "nothing may be written for bad input");
    assert!(!user_config_path(&env).exists());
}

#[test]
fn ten_concurrent_adds_all_land() {
    let env = TestEnv::new();
    write_users_config(&env);
    let handles: Vec<_> = (0..10)
        .map(|i| {
            let mut cmd = env.command(crate::common::BIN);
            cmd.args(["add", &format!("host{i}"), &compute_id(&format!("ci{i}"))]);
            std::thread::spawn(move || run(&mut cmd, None, LIMIT))
        })
        .collect();
    for h in handles {
        let out = h.join().unwrap();
        assert!(out.status.success(), "{}", out.stderr);
    }
    let out = azml(&env, &["list"]);
    assert!(out.status.success(), "{}", out.stderr);
    for i in 0..10 {
        assert!(out.stdout_text().contains(&format!("host{i} ")), "host{i} missing:\n{}", out.stdout_text());
    }
    let config = std::fs::read_to_string(user_config_path(&env)).unwrap();
    assert_eq!(config.matches("Include ").count(), 1, "{config}");
}

#[test]
fn remove_takes_out_one_host_and_list_shows_the_rest() {
    let env = TestEnv::new();
    for alias in ["a1", "a2"] {
        assert!(azml(&env, &["add", alias, &compute_id(alias)]).status.success());
    }
    let out = azml(&env, &["remove", "a1"]);
    assert!(out.status.success(), "{}", out.stderr);
    let listed = azml(&env, &["list"]).stdout_text();
    assert!(!listed.contains("a1 ") && listed.contains("a2 "), "{listed}");
    let out = azml(&env, &["list", "--json"]);
    let listed = crate::common::schema::checked_json(&out.stdout, "list");
    assert_eq!(listed["hosts"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(
        (listed["hosts"][0]["alias"].as_str(), listed["hosts"][0]["source"].as_str()),
        (Some("a2"), Some("add"))
    );
    assert_eq!((&listed["wildcard_suffix"], &listed["included"]), (&serde_json::Value::Null, &serde_json::json!(true)));
    let out = azml(&env, &["remove", "a1"]);
    assert!(!out.status.success());
    assert!(out.stderr.contains("there is no host \"a1\""), "{}", out.stderr);
}

#[test]
fn discovery_keeps_added_hosts_and_remembers_settings() {
    let env = TestEnv::new();
    populated(&env, 2222);
    let key = env.user_key.display().to_string();
    assert!(azml(&env, &["add", "pinned", &compute_id_in(SUB, "rg", "ws", "elsewhere")]).status.success());
    let out = azml(&env, &["config", "--identity-file", &key]);
    assert!(out.status.success(), "{}", out.stderr);
    // A second run without --identity-file keeps the key from the first (for the wildcard host too); the added
    // host survives both.
    let out = azml(&env, &["config"]);
    assert!(out.status.success(), "{}", out.stderr);
    let hosts = std::fs::read_to_string(include_path(&env)).unwrap();
    assert!(hosts.contains("Host pinned\n"), "{hosts}");
    assert_eq!(hosts.matches(&format!("IdentityFile {key}\n")).count(), 4, "{hosts}");
    // An instance that disappeared from Azure disappears from the file.
    env.arm.put_compute(&compute_id("ci4"), theirs(&compute_id("ci4")));
    assert!(azml(&env, &["config"]).status.success());
    let hosts = std::fs::read_to_string(include_path(&env)).unwrap();
    assert!(!hosts.contains("Host ci4\n") && hosts.contains("Host ci1\n"), "{hosts}");
}

#[test]
fn a_hand_edited_include_file_is_refused_not_overwritten() {
    let env = TestEnv::new();
    assert!(azml(&env, &["add", "a1", &compute_id("a1")]).status.success());
    let path = include_path(&env);
    let edited = std::fs::read_to_string(&path).unwrap().replace("    User azureuser", "  User me # mine");
    std::fs::write(&path, &edited).unwrap();
    let out = azml(&env, &["add", "a2", &compute_id("a2")]);
    assert!(!out.status.success());
    assert!(out.stderr.contains("edited by hand"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
}

#[test]
fn an_awkward_program_path_survives_the_shell() {
    let env = TestEnv::new();
    let sshd = env.start_sshd();
    env.put_running("ci1", sshd.port());
    write_users_config(&env);
    known_host(&env, &["odd"]);
    // Spaces, a dollar, a backquote, a double quote and a percent sign: each would break naive quoting.
    let dir = env.path("bin dir/$HOME `x` \"q\" 100%");
    std::fs::create_dir_all(&dir).unwrap();
    let program = dir.join("azml-ssh");
    std::os::unix::fs::symlink(crate::common::BIN, &program).unwrap();
    let key = env.user_key.display().to_string();
    let out = azml(
        &env,
        &[
            "add",
            "odd",
            &compute_id("ci1"),
            "--binary",
            program.to_str().unwrap(),
            "--identity-file",
            &key,
            "--user",
            &current_user(),
        ],
    );
    assert!(out.status.success(), "{}", out.stderr);
    let ssh = run(&mut env.ssh(&user_config_path(&env), "odd", &["echo", "ok"]), None, LIMIT);
    assert!(ssh.status.success(), "{}", ssh.stderr);
    assert_eq!(ssh.stdout_text(), "ok\n");
}

#[test]
fn ssh_config_option_edits_the_named_file_and_recognises_an_existing_include() {
    let env = TestEnv::new();
    let custom = env.path("elsewhere/my_ssh_config");
    std::fs::create_dir_all(custom.parent().unwrap()).unwrap();
    // The user already includes our file, in the relative form ssh resolves against ~/.ssh.
    let original = "Include azml-ssh/config\r\nHost *\r\n  User me";
    std::fs::write(&custom, original).unwrap();
    let out = azml(&env, &["add", "a1", &compute_id("a1"), "--ssh-config", custom.to_str().unwrap()]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&custom).unwrap(), original, "no duplicate Include");
    assert!(include_path(&env).exists());
    assert!(!user_config_path(&env).exists(), "~/.ssh/config is not touched when another file is named");
}

#[test]
fn an_instance_being_deleted_gets_no_host_but_status_still_shows_it() {
    let env = TestEnv::new();
    env.arm.set_subscriptions(&[(SUB, "Enabled")]);
    for (name, state) in [("ci1", "Running"), ("gone", "Deleting")] {
        let id = compute_id(name);
        env.arm.put_compute(&id, compute_instance(&id, state, true, Some("127.0.0.1"), Some(22)));
    }
    let out = azml(&env, &["config"]);
    assert!(out.status.success(), "{}", out.stderr);
    let hosts = std::fs::read_to_string(include_path(&env)).unwrap();
    assert!(hosts.contains("Host ci1\n") && !hosts.contains("Host gone\n"), "{hosts}");
    assert!(out.stderr.contains("skipped gone: it is being deleted"), "{}", out.stderr);

    let out = azml(&env, &["status", &compute_id("gone"), "--json"]);
    assert!(out.status.success(), "{}", out.stderr);
    let status = crate::common::schema::status_instances(&out.stdout).remove(0);
    assert_eq!(status["state"], "deleting", "{status}");
}
