//! The wildcard host `Host *.azml`: instances reached by name (`ssh ci7.azml`, `ssh ci7.ws-two.azml`) whether or
//! not `azml-ssh config` wrote a block for them — the name index, the targeted search on a miss (one per burst),
//! ambiguous and unknown names, the user's own hosts under the suffix, and turning it off or renaming it.

use std::path::PathBuf;
use std::time::Duration;

use crate::common::mock_arm::{HOME_TENANT, Machine, compute_instance, created_by};
use crate::common::sshd::{Sshd, current_user};
use crate::common::{BIN, Outcome, SUB, TestEnv, compute_id, compute_id_in, run};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(60);

/// The workspace lists of the subscription: the first step of every search (and of `config`).
fn workspace_lists(env: &TestEnv) -> usize {
    let path = format!("/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/workspaces");
    env.arm.count_method("GET", &path)
}

struct Wild {
    env: TestEnv,
    _sshd: Sshd,
    port: u16,
    config: PathBuf,
}

impl Wild {
    /// `ci1` (workspace ws-test) and `ci3` (ws-two), both running on the throwaway sshd; a user config with
    /// host-key checking on and a host of the user's own under the suffix, `special.azml`; then `config`.
    fn configured() -> Wild {
        let env = TestEnv::new();
        let sshd = env.start_sshd();
        let port = sshd.port();
        env.arm.set_subscriptions(&[(SUB, "Enabled")]);
        let wild = Wild { config: env.path("home/.ssh/config"), env, _sshd: sshd, port };
        wild.put("ci1", "ws-test");
        wild.put("ci3", "ws-two");
        std::fs::create_dir_all(wild.env.path("home/.ssh")).unwrap();
        std::fs::write(
            &wild.config,
            format!(
                "UserKnownHostsFile {}\nGlobalKnownHostsFile /dev/null\nStrictHostKeyChecking yes\nBatchMode yes\n\
                 LogLevel ERROR\n\nHost special.azml\n    ProxyCommand /bin/echo the-users-own\n",
                wild.env.known_hosts.display()
            ),
        )
        .unwrap();
        let key = wild.env.user_key.display().to_string();
        let out = wild.azml(&["config", "--identity-file", &key, "--user", &current_user()]);
        assert!(out.status.success(), "{}", out.stderr);
        assert!(out.stdout_text().contains("Any instance by name: ssh NAME.azml or NAME.WORKSPACE.azml\n"));
        wild
    }

    fn put(&self, name: &str, workspace: &str) -> String {
        let id = compute_id_in(SUB, "rg-test", workspace, name);
        self.env.arm.put_compute(&id, compute_instance(&id, "Running", true, Some("127.0.0.1"), Some(self.port)));
        id
    }

    fn azml(&self, args: &[&str]) -> Outcome {
        run(self.env.command(BIN).args(args), None, LIMIT)
    }

    /// known_hosts names the sshd's key under these host names, as ssh records it for the wildcard host.
    fn know(&self, names: &[&str]) {
        let key = Sshd::host_public_key(&self.env.sshd_dir());
        std::fs::write(&self.env.known_hosts, names.iter().map(|n| format!("{n} {key}\n")).collect::<String>())
            .unwrap();
    }

    fn echo(&self, host: &str) -> Outcome {
        run(&mut self.env.ssh(&self.config, host, &["echo", "ok"]), None, LIMIT)
    }

    fn hosts_file(&self) -> String {
        std::fs::read_to_string(self.env.path("home/.ssh/azml-ssh/config")).unwrap()
    }
}

#[test]
fn an_instance_created_after_config_is_reached_by_name() {
    let wild = Wild::configured();
    let hosts = wild.hosts_file();
    assert!(hosts.contains("\nHost ci1\n") && hosts.contains("\nHost ci3\n"), "per-instance hosts stay:\n{hosts}");
    assert!(hosts.contains("\nHost *.azml \"!*'*\" !special.azml\n"), "{hosts}");

    let ci7 = wild.put("ci7", "ws-test");
    wild.know(&["ci7.azml", "ci3.ws-two.azml", "ci1.azml"]);
    let searches_before = workspace_lists(&wild.env);
    let out = wild.echo("ci7.azml");
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "ok\n");
    assert_eq!(workspace_lists(&wild.env), searches_before + 1, "one targeted search");
    assert_eq!(wild.env.arm.count_method("GET", &compute_id_in(SUB, "rg-test", "ws-two", "ci7")), 1);
    assert_eq!(wild.env.arm.count_method("GET", &ci7), 2, "the search's GET, then the lookup's");

    // A name the index knows, qualified by its workspace, needs no search.
    let out = wild.echo("ci3.ws-two.azml");
    assert!(out.status.success(), "{}", out.stderr);
    let out = wild.echo("CI1.azml");
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(workspace_lists(&wild.env), searches_before + 1, "known names are not searched for");

    // The commands that take an ALIAS take a name too, found the same way.
    let out = wild.azml(&["status", "ci7.azml", "--json"]);
    assert!(out.status.success(), "{}", out.stderr);
    let status = crate::common::schema::status_instances(&out.stdout).remove(0);
    assert_eq!(status["resource_id"], ci7.as_str());
    let out = wild.azml(&["code", "ci7.azml", "--dry-run"]);
    assert!(out.status.success(), "{}", out.stderr);
    let user = current_user();
    let home = if user == "root" { "/root".to_owned() } else { format!("/home/{user}") };
    let uri = format!("vscode-remote://ssh-remote+ci7.azml{home}");
    assert!(out.stdout_text().contains(&uri), "{}", out.stdout_text());
    let out = wild.azml(&["start", "nosuch.azml"]);
    assert!(out.stderr.contains("there is no compute instance nosuch in 2 workspaces"), "{}", out.stderr);
    assert_eq!(workspace_lists(&wild.env), searches_before + 2, "ci7 was known; nosuch was searched for");

    // Host-key checking is on and keyed by the name typed: a name known_hosts does not list is refused.
    wild.put("ci8", "ws-test");
    let out = wild.echo("ci8.azml");
    assert!(!out.status.success());
    assert!(out.stderr.contains("Host key verification failed"), "{}", out.stderr);
}

#[test]
fn the_users_own_host_under_the_suffix_is_never_taken_over() {
    let wild = Wild::configured();
    let mut g = wild.env.command("ssh");
    g.arg("-F").arg(&wild.config).args(["-G", "special.azml"]);
    let out = run(&mut g, None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout_text().contains("\nproxycommand /bin/echo the-users-own\n"), "{}", out.stdout_text());

    // A host the user adds later is yielded to on the next write, whichever command makes it.
    let mut text = std::fs::read_to_string(&wild.config).unwrap();
    text.push_str("\nHost gpu-*.azml\n    User me\n");
    std::fs::write(&wild.config, text).unwrap();
    wild.put("gpu-1", "ws-test");
    wild.know(&["gpu-1.azml"]);
    let out = wild.echo("gpu-1.azml");
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("has `Host gpu-*.azml`, but azml-ssh's wildcard host was written before it and took gpu-1.azml; run `azml-ssh config`"),
        "{}",
        out.stderr
    );
    let out = wild.azml(&["add", "extra", &compute_id("ci1")]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains("names matching gpu-*.azml go to that entry"), "{}", out.stderr);
    assert!(wild.hosts_file().contains("\nHost *.azml \"!*'*\" !special.azml !gpu-*.azml\n"), "{}", wild.hosts_file());
}

#[test]
fn a_cold_burst_to_a_new_name_makes_one_search() {
    let wild = Wild::configured();
    let ci7 = wild.put("ci7", "ws-test");
    wild.know(&["ci7.azml"]);
    let searches_before = workspace_lists(&wild.env);
    let az_before = wild.env.az_calls();
    wild.env.concurrent_echoes(&wild.config, "ci7.azml", 8, LIMIT);
    assert_eq!(workspace_lists(&wild.env), searches_before + 1, "one search for the burst");
    assert_eq!(wild.env.arm.count_method("GET", &ci7), 2, "one search GET and one lookup for the burst");
    assert!(wild.env.az_calls() <= az_before + 1, "at most one token for the burst");
}

#[test]
fn ambiguous_and_unknown_names_fail_with_what_to_do() {
    let wild = Wild::configured();
    wild.put("ci5", "ws-test");
    wild.put("ci5", "ws-two");
    wild.know(&["ci5.ws-two.azml"]);

    let out = wild.echo("ci5.azml");
    assert!(!out.status.success());
    assert!(
        out.stderr.contains(
            "ci5.azml could be any of 2 compute instances; connect to one of: ci5.ws-test.azml, ci5.ws-two.azml"
        ),
        "{}",
        out.stderr
    );
    let out = wild.echo("ci5.ws-two.azml");
    assert!(out.status.success(), "{}", out.stderr);

    let out = wild.echo("nosuch.azml");
    assert!(!out.status.success());
    assert!(
        out.stderr.contains(
            "azml-ssh: there is no compute instance nosuch in 2 workspaces of 1 subscription (every subscription you can see"
        ),
        "{}",
        out.stderr
    );
    // The answer is kept for a while: asking again costs Azure nothing.
    let requests = wild.env.arm.request_count();
    let out = wild.echo("nosuch.azml");
    assert!(out.stderr.contains("there is no compute instance nosuch"), "{}", out.stderr);
    assert_eq!(wild.env.arm.request_count(), requests);

    let out = wild.echo("no_such.azml");
    assert!(out.stderr.contains("\"no_such.azml\" does not name a compute instance"), "{}", out.stderr);
}

#[test]
fn the_wildcard_host_can_be_renamed_and_turned_off_for_good() {
    let wild = Wild::configured();
    let out = wild.azml(&["config", "--wildcard", "ML.dev"]);
    assert!(out.status.success(), "{}", out.stderr);
    let hosts = wild.hosts_file();
    assert!(hosts.contains("\nHost *.ml.dev \"!*'*\"\n") && !hosts.contains("*.azml"), "{hosts}");
    assert!(hosts.contains(" proxy --fdpass --wildcard ml.dev -- '%h'\n"), "{hosts}");
    assert!(hosts.contains(&format!("IdentityFile {}\n", wild.env.user_key.display())), "the key is remembered");

    let out = wild.azml(&["list"]);
    assert!(out.stderr.contains("any other instance by name: ssh NAME.ml.dev"), "{}", out.stderr);
    let out = wild.azml(&["list", "--json"]);
    let listed = crate::common::schema::checked_json(&out.stdout, "list");
    assert_eq!(listed["wildcard_suffix"], "ml.dev", "{listed}");
    wild.know(&["ci1.ml.dev"]);
    let out = wild.echo("ci1.ml.dev");
    assert!(out.status.success(), "{}", out.stderr);

    for args in [&["config", "--no-wildcard"][..], &["config"], &["add", "extra", &compute_id("ci1")]] {
        let out = wild.azml(args);
        assert!(out.status.success(), "{args:?}: {}", out.stderr);
        let hosts = wild.hosts_file();
        assert!(!hosts.contains("\nHost *") && hosts.contains("The wildcard host is off"), "{args:?}:\n{hosts}");
        assert!(!out.stdout_text().contains("Any instance by name"), "{args:?}: {}", out.stdout_text());
    }
    let out = wild.azml(&["config", "--wildcard", "azml"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(wild.hosts_file().contains("\nHost *.azml \"!*'*\" !special.azml\n"));

    let index = wild.env.cache_dir().join("azml-ssh/names/index.json");
    assert!(std::fs::read_to_string(&index).unwrap().contains(&compute_id("ci1")), "config leaves the name index");
    let out = wild.azml(&["config", "--remove"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!index.exists(), "and --remove takes it away");

    let out = wild.azml(&["config", "--wildcard", "a_b"]);
    assert!(!out.status.success());
    assert!(out.stderr.contains("wildcard suffix"), "{}", out.stderr);
}

/// The wildcard block's ProxyCommand line, as `$SHELL -c "exec …"` runs it for the name `host`: what an ssh with
/// no check on host names (before 9.6) does with whatever it was given.
fn run_as_old_ssh_would(wild: &Wild, host: &str, cwd: &std::path::Path) -> Outcome {
    let hosts = wild.hosts_file();
    let block = hosts.split("\nHost *.azml").nth(1).unwrap();
    let line = block.lines().find_map(|l| l.trim_start().strip_prefix("ProxyCommand ")).unwrap();
    let line = line.replace("%%", "\u{0}").replace("%h", host).replace('\u{0}', "%");
    let mut sh = wild.env.command("/bin/sh");
    sh.arg("-c").arg(format!("exec {line}")).current_dir(cwd);
    run(&mut sh, None, LIMIT)
}

#[test]
fn no_typed_name_becomes_a_shell_command_or_an_option() {
    let wild = Wild::configured();
    let cwd = wild.env.path("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    // Files a glob would expand to, were the name not quoted.
    for name in ["g1.azml", "g2.azml"] {
        std::fs::write(cwd.join(name), "").unwrap();
    }
    let requests = wild.env.arm.request_count();

    // Today's ssh lets `*` through; the shell must not expand it.
    let mut ssh = wild.env.ssh(&wild.config, "g*.azml", &["true"]);
    let out = run(ssh.current_dir(&cwd), None, LIMIT);
    assert!(!out.status.success());
    assert!(out.stderr.contains("\"g*.azml\" does not name a compute instance"), "{}", out.stderr);

    for hostile in [
        "$(touch pwned).azml",
        "`touch pwned`.azml",
        "a;touch pwned;b.azml",
        "a|touch pwned.azml",
        "--log-file=pwned.azml",
        "-oProxyCommand=touch pwned.azml",
        "\"--log-file=pwned\" ci1.azml",
        "ci1.azml --log-file=pwned",
        "$HOME.azml",
    ] {
        let out = run_as_old_ssh_would(&wild, hostile, &cwd);
        assert!(!out.status.success(), "{hostile}");
        let said = &out.stderr;
        assert!(
            said.contains("does not name a compute instance") || said.contains("unexpected argument"),
            "{hostile}: {said}"
        );
        assert!(!said.contains(&wild.env.path("home").display().to_string()), "$HOME was not expanded: {said}");
    }
    let left: Vec<_> = std::fs::read_dir(&cwd).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "nothing was run or written: {left:?}");
    assert_eq!(wild.env.arm.request_count(), requests, "refused before any request");
    // And a good name still goes through the same line.
    wild.know(&["ci1.azml"]);
    let out = wild.echo("ci1.azml");
    assert!(out.status.success(), "{}", out.stderr);
    // Windows' own ssh runs no shell: the quotes arrive with the name, and are taken off.
    let out = wild.azml(&["proxy", "--wildcard", "azml", "--", "'nosuch.azml'"]);
    assert!(out.stderr.contains("there is no compute instance nosuch"), "{}", out.stderr);
}

/// Git for Windows' ssh reads the Windows file too, and it starts the ProxyCommand through its own `sh -c` (MSYS2),
/// as Unix ssh does; before Git 2.44 its OpenSSH had no check on host names. The Windows line, run by a POSIX
/// shell with a stand-in program that records its arguments: every name arrives whole, nothing is run or globbed.
#[test]
fn the_windows_line_is_safe_in_git_for_windows_sh_too() {
    use azml_ssh::sshconf::hosts::{Flavor, HostsFile, Launcher, render};
    use azml_ssh::sshconf::wildcard::{Wildcard, WildcardState};
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("azml-sshw.exe");
    let argv = dir.path().join("argv");
    std::fs::write(&program, format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n", argv.display())).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.path().join("g1.azml"), "").unwrap();
    let wildcard = Wildcard {
        suffix: "azml".parse().unwrap(),
        user: "azureuser".into(),
        identity_file: None,
        options: vec![],
        yields_to: vec![],
    };
    let file = HostsFile { entries: vec![], wildcard: WildcardState::On(wildcard) };
    let text = render(&file, &Launcher::new(&program, Flavor::Windows).unwrap());
    let line = text.lines().find_map(|l| l.trim_start().strip_prefix("ProxyCommand ")).unwrap().to_owned();
    assert!(!line.starts_with('"'), "unquoted program: {line}");
    for name in ["ci7.azml", "g*.azml", "$(touch pwned).azml", "`touch pwned`.azml", "a;touch pwned.azml", "--help"] {
        let expanded = line.replace("%h", name);
        let mut sh = std::process::Command::new("/bin/sh");
        sh.arg("-c").arg(format!("exec {expanded}")).current_dir(dir.path());
        let out = run(&mut sh, None, LIMIT);
        assert!(out.status.success(), "{name}: {}", out.stderr);
        let args = std::fs::read_to_string(&argv).unwrap();
        assert_eq!(args, format!("proxy\n--wildcard\nazml\n--\n{name}\n"), "{name}");
    }
    assert!(!dir.path().join("pwned").exists(), "nothing was run");
}

/// A name must not reach, let alone start, an instance `config` would not have written a host for: one assigned
/// to someone else (or created by someone else and assigned to nobody) is refused with the rule, and nothing is
/// written to Azure, until `config --all` takes every instance.
#[test]
fn another_users_instance_is_refused_by_name_until_config_all() {
    let wild = Wild::configured();
    let other = "22222222-aaaa-bbbb-cccc-dddddddddddd";
    let gpu2 = compute_id_in(SUB, "rg-test", "ws-test", "gpu2");
    wild.env.arm.put_machine(&gpu2, "Stopped", Machine::new(wild.port));
    let theirs = json!({"assignedUser": {"objectId": other, "tenantId": HOME_TENANT}});
    wild.env.arm.patch_instance(&gpu2, "personalComputeInstanceSettings", theirs);
    let gpu3 = compute_id_in(SUB, "rg-test", "ws-two", "gpu3");
    wild.env.arm.put_compute(&gpu3, created_by(&gpu3, other, HOME_TENANT, wild.port));
    wild.know(&["gpu2.azml", "gpu3.azml"]);
    let rule = "; azml-ssh only connects to instances assigned to or created by you (`azml-ssh config --all`";

    let out = wild.echo("gpu2.azml");
    assert!(!out.status.success());
    assert!(out.stderr.contains(&format!("azml-ssh: gpu2 is assigned to someone else{rule}")), "{}", out.stderr);
    // The commands that take a name refuse it the same way, and so does the answer the search left.
    let out = wild.azml(&["start", "gpu2.azml"]);
    assert!(!out.status.success());
    assert!(out.stderr.contains(&format!("gpu2 is assigned to someone else{rule}")), "{}", out.stderr);
    let out = wild.echo("gpu2.azml");
    assert!(out.stderr.contains(&format!("gpu2 is assigned to someone else{rule}")), "{}", out.stderr);
    let out = wild.echo("gpu3.azml");
    assert!(!out.status.success());
    let whose = "gpu3 is assigned to nobody and was created by someone else";
    assert!(out.stderr.contains(&format!("{whose}{rule}")), "{}", out.stderr);
    assert_eq!(wild.env.arm.count_method("POST", &format!("{gpu2}/start")), 0, "someone else's instance started");
    let writes: Vec<String> =
        wild.env.arm.requests().iter().filter(|r| r.method != "GET").map(|r| r.path.clone()).collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(wild.env.arm.state_of(&gpu2), "Stopped");

    // With every instance configured, the name reaches it (and starts it).
    let key = wild.env.user_key.display().to_string();
    let out = wild.azml(&["config", "--all", "--identity-file", &key, "--user", &current_user()]);
    assert!(out.status.success(), "{}", out.stderr);
    let out = wild.echo("gpu2.azml");
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(wild.env.arm.count_method("POST", &format!("{gpu2}/start")), 1);
}
