//! Crash consistency of every write to the user's ssh setup. `config`, `add`, `remove` and `config --remove`
//! are killed with SIGKILL at random instants on a config with the user's own hosts, CRLF line endings and an
//! Include of theirs; after every kill each file is exactly its old or its new content and ssh parses it. Then
//! two writers at once, an editor saving in between, a full disk and a read-only `~/.ssh`.
//!
//! `AZML_SSH_CRASH_KILLS` sets the number of kills (150 by default, about 15 s); `contrib/crash/run.sh` runs
//! 1,000 or more and prints the counts that docs/security.md quotes. `AZML_SSH_CRASH_SEED` replays a run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::mock_arm::compute_instance;
use crate::common::{BIN, Outcome, SUB, TestEnv, compute_id, run};

const LIMIT: Duration = Duration::from_secs(60);

/// The user's config before azml-ssh: their own hosts, a `Host *`, an Include of their own, CRLF throughout.
const USERS_CONFIG: &str = "# my own settings\r\nInclude ~/.ssh/mine.d/*.conf\r\n\r\nHost box\r\n  HostName 10.0.0.7\r\n  User me\r\n\r\nHost *\r\n  ServerAliveInterval 30\r\n";
const USERS_INCLUDED: &str = "Host other\r\n  HostName 10.0.0.8\r\n  Port 2222\r\n";

struct Setup {
    env: TestEnv,
    config: PathBuf,
    include: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let env = TestEnv::new();
        env.arm.set_subscriptions(&[(SUB, "Enabled")]);
        for name in ["ci1", "ci4"] {
            env.arm.put_compute(
                &compute_id(name),
                compute_instance(&compute_id(name), "Running", true, Some("127.0.0.1"), Some(22)),
            );
        }
        let ssh = env.path("home/.ssh");
        std::fs::create_dir_all(ssh.join("mine.d")).unwrap();
        std::fs::write(ssh.join("config"), USERS_CONFIG).unwrap();
        std::fs::write(ssh.join("mine.d/extra.conf"), USERS_INCLUDED).unwrap();
        Setup { config: ssh.join("config"), include: ssh.join("azml-ssh/config"), env }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.env.command(BIN);
        cmd.args(args);
        cmd
    }

    fn azml(&self, args: &[&str]) -> Outcome {
        run(&mut self.command(args), None, LIMIT)
    }

    /// Both files as they are (`None`: absent).
    fn files(&self) -> Files {
        let read = |p: &Path| match std::fs::read(p) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => panic!("{}: {e}", p.display()),
        };
        Files { config: read(&self.config), include: read(&self.include) }
    }

    /// ssh itself reads the config (and through it the user's and azml-ssh's Includes) without complaint.
    fn ssh_parses(&self) -> bool {
        ["box", "other", "ci1"].iter().all(|host| {
            let out = run(self.env.command("ssh").arg("-G").arg("-F").arg(&self.config).arg(host), None, LIMIT);
            out.status.success()
        })
    }

    /// Temporary files a killed writer left behind, removed after counting: harmless (ssh never reads them, the
    /// names are unique per process) but they would keep `config --remove` from removing azml-ssh's directory.
    fn sweep_temporaries(&self) -> usize {
        let mut found = 0;
        for dir in [self.config.parent().unwrap(), self.include.parent().unwrap()] {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if entry.file_name().to_string_lossy().ends_with(".tmp") {
                    std::fs::remove_file(entry.path()).unwrap();
                    found += 1;
                }
            }
        }
        found
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Files {
    config: Option<Vec<u8>>,
    include: Option<Vec<u8>>,
}

/// The states the kill loop walks through: the user's alone, after `config`, after `add`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum State {
    Users,
    Configured,
    Added,
}

const COMMANDS: [(&str, &[&str], State, State); 4] = [
    ("config", &["config"], State::Users, State::Configured),
    (
        "add",
        &[
            "add",
            "extra",
            "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/extra",
        ],
        State::Configured,
        State::Added,
    ),
    ("remove", &["remove", "extra"], State::Added, State::Configured),
    ("config --remove", &["config", "--remove"], State::Configured, State::Users),
];

/// xorshift64*: enough randomness for kill instants, and a seed to replay a run.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let seed = std::env::var("AZML_SSH_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
        });
        eprintln!("crash: seed {seed} (AZML_SSH_CRASH_SEED replays it)");
        Rng(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

#[derive(Default, Debug)]
struct Counts {
    kills: usize,
    landed: usize,
    old: usize,
    new: usize,
    partial: usize,
    mixes: usize,
    empties: usize,
    parse_failures: usize,
    temporaries: usize,
}

fn kills_wanted() -> usize {
    std::env::var("AZML_SSH_CRASH_KILLS").ok().and_then(|s| s.parse().ok()).unwrap_or(150)
}

/// Runs the cycle once unkilled: the exact content of each state and how long each command takes.
fn known_states(s: &Setup) -> (BTreeMap<State, Files>, Vec<Duration>) {
    let mut states = BTreeMap::from([(State::Users, s.files())]);
    let mut took = Vec::new();
    for (name, args, from, to) in COMMANDS {
        assert_eq!(s.files(), states[&from], "{name} starts from {from:?}");
        // Timed without `run`, whose polling would add up to 10 ms and send many kills after the end.
        let start = std::time::Instant::now();
        let status = s.command(args).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
        assert!(status.success(), "{name}");
        took.push(start.elapsed());
        let after = s.files();
        assert_eq!(*states.entry(to).or_insert_with(|| after.clone()), after, "{name} is deterministic");
    }
    assert!(states[&State::Configured].config.as_ref().unwrap().windows(2).filter(|w| w == b"\r\n").count() > 5);
    (states, took)
}

#[test]
fn sigkill_at_random_instants_leaves_old_or_new_and_ssh_parses_it() {
    let s = Setup::new();
    let (states, took) = known_states(&s);
    let mut rng = Rng::seeded();
    let mut counts: Vec<Counts> = COMMANDS.iter().map(|_| Counts::default()).collect();
    let mut state = State::Users;
    let mut toggle = false;
    while counts.iter().map(|c| c.landed).sum::<usize>() < kills_wanted() {
        let i = match state {
            State::Users => 0,
            State::Added => 2,
            State::Configured => {
                toggle = !toggle;
                if toggle { 1 } else { 3 }
            }
        };
        let (name, args, from, to) = COMMANDS[i];
        let c = &mut counts[i];
        let delay = Duration::from_micros(rng.below(took[i].as_micros() as u64 + 1));
        let mut child = s.command(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        // The sleep is the random instant of the kill, not a wait for anything.
        std::thread::sleep(delay);
        let exited = child.try_wait().unwrap();
        child.kill().unwrap();
        let status = child.wait().unwrap();
        c.kills += 1;
        // A command that was done before its kill is counted apart: only a kill that landed counts towards the
        // figure.
        if exited.is_none() {
            c.landed += 1;
        } else {
            assert!(status.success(), "{name} failed unkilled");
        }
        let now = s.files();
        let (old, new) = (&states[&from], &states[&to]);
        let config_ok = now.config == old.config || now.config == new.config;
        let include_ok = now.include == old.include || now.include == new.include;
        c.mixes += usize::from(!config_ok) + usize::from(!include_ok);
        c.empties += [&now.config, &now.include].iter().filter(|f| f.as_ref().is_some_and(Vec::is_empty)).count();
        c.parse_failures += usize::from(!s.ssh_parses());
        c.temporaries += s.sweep_temporaries();
        assert!(config_ok && include_ok, "{name} killed after {delay:?} left a mix: {now:?}");
        state = if now == *old {
            c.old += 1;
            from
        } else if now == *new {
            c.new += 1;
            to
        } else {
            // One file written, the other not yet: running the command again completes it.
            c.partial += 1;
            let out = s.azml(args);
            assert!(out.status.success(), "{name} after a kill: {}", out.stderr);
            assert_eq!(s.files(), *new, "{name} run again after a kill completes it");
            to
        };
    }
    report(&counts);
    assert!(counts.iter().all(|c| c.mixes == 0 && c.empties == 0 && c.parse_failures == 0), "{counts:?}");
    assert!(counts.iter().all(|c| c.landed > 0), "every command was killed while it ran: {counts:?}");
    let backup = s.config.with_file_name("config.azml-ssh-backup");
    assert_eq!(std::fs::read_to_string(backup).unwrap(), USERS_CONFIG, "the first-touch backup is the user's file");
}

fn report(counts: &[Counts]) {
    eprintln!(
        "crash: command         signals  landed  old  new  partial  mixes  empty  ssh-parse-failures  temp-files-left"
    );
    for ((name, ..), c) in COMMANDS.iter().zip(counts) {
        eprintln!(
            "crash: {name:<16} {:>7} {:>7} {:>4} {:>4} {:>8} {:>6} {:>6} {:>19} {:>16}",
            c.kills, c.landed, c.old, c.new, c.partial, c.mixes, c.empties, c.parse_failures, c.temporaries
        );
    }
}

/// A one-line error of azml-ssh's that says `why`. Warnings about where the program lives (a cargo build
/// directory in every test run, a temporary one in a fresh clone under /tmp) are not part of it.
fn clear_error(out: &Outcome, why: &str) -> bool {
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.starts_with("azml-ssh: warning: ")).collect();
    !out.status.success() && lines.len() == 1 && lines[0].starts_with("azml-ssh: ") && lines[0].contains(why)
}

#[test]
fn two_writers_at_once_both_land_or_one_says_why() {
    let s = Setup::new();
    assert!(s.azml(&["config"]).status.success());
    let config = s.files().config;
    let (mut both, mut refused) = (0, 0);
    let mut expected = vec!["ci1".to_owned(), "ci4".to_owned()];
    for round in 0..8 {
        let aliases = [format!("a{round}"), format!("b{round}")];
        let outs: Vec<Outcome> = std::thread::scope(|scope| {
            let runs: Vec<_> =
                aliases.iter().map(|alias| scope.spawn(|| s.azml(&["add", alias, &compute_id(alias)]))).collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        for (alias, out) in aliases.iter().zip(&outs) {
            if out.status.success() {
                expected.push(alias.clone());
            } else {
                assert!(clear_error(out, ""), "{alias}: {}", out.stderr);
                refused += 1;
            }
        }
        both += usize::from(outs.iter().all(|o| o.status.success()));
        let now = s.files();
        let hosts = String::from_utf8(now.include.unwrap()).unwrap();
        for alias in &expected {
            assert!(hosts.contains(&format!("Host {alias}\n")), "{alias} lost:\n{hosts}");
        }
        assert_eq!(now.config, config, "the user's config is untouched");
        assert!(s.ssh_parses());
    }
    eprintln!("crash: two writers at once: 8 rounds, both landed in {both}, {refused} refused with a one-line error");
}

/// An editor that saves `~/.ssh/config` as most do (a new file renamed over it) a few times, at random instants
/// within `span`, then stops by itself: a save azml-ssh overwrote would show as a missing last save. Returns the
/// number of its last save.
fn editor(config: &Path, first: usize, mut rng: Rng, span: Duration) -> usize {
    let temp = config.with_file_name(".config.editor~");
    let span = span.as_micros() as u64;
    std::thread::sleep(Duration::from_micros(rng.below(span)));
    let saves = first + rng.below(3) as usize;
    for save in first..=saves {
        std::fs::write(&temp, format!("{USERS_CONFIG}# edit {save}\r\n")).unwrap();
        std::fs::rename(&temp, config).unwrap();
        std::thread::sleep(Duration::from_micros(rng.below(span / 8)));
    }
    saves
}

#[test]
fn an_editor_saving_in_between_is_never_overwritten() {
    let s = Setup::new();
    let id = compute_id("edited");
    let mut times: Vec<Duration> = (0..3).map(|_| s.azml(&["add", "edited", &id]).elapsed).collect();
    times.sort();
    // `run` polls every 10 ms, so this is an upper bound; the editor aims at the first half of it.
    let took = times[1] / 2;
    let mut rng = Rng::seeded();
    let (mut caught, mut on_top, mut editor_last, mut lost) = (0, 0, 0, 0);
    let rounds = 100;
    let mut first = 1;
    for _ in 0..rounds {
        let editor_rng = Rng(rng.below(u64::MAX) | 1);
        let (out, last) = std::thread::scope(|scope| {
            let saving = scope.spawn(|| editor(&s.config, first, editor_rng, took));
            let out = s.azml(&["add", "edited", &id]);
            (out, saving.join().unwrap())
        });
        first = last + 1;
        let config = String::from_utf8(s.files().config.unwrap()).unwrap();
        if !config.contains(&format!("# edit {last}\r\n")) {
            lost += 1;
        } else if !out.status.success() {
            assert!(clear_error(&out, "changed while azml-ssh was editing it"), "{}", out.stderr);
            caught += 1;
        } else if config.contains("azml-ssh/config") {
            on_top += 1;
        } else {
            editor_last += 1;
        }
        assert!(s.ssh_parses());
    }
    eprintln!(
        "crash: editor saving in between: {rounds} runs, saves at random instants within {took:?} of the start, {caught} caught by the lost-update check, {on_top} written on top of the latest save, {editor_last} saved over by the editor afterwards, {lost} saves lost"
    );
    assert_eq!(lost, 0, "azml-ssh overwrote an editor's save");
    assert!(caught > 0, "the editor never saved in between; the check was not exercised");
}

/// Runs azml-ssh with `args` in a private mount namespace where `~/.ssh` is `how` ("full": a full 64 KiB tmpfs
/// holding the same files; "ro": mounted read-only), and returns its outcome and the files as it left them.
fn in_namespace(s: &Setup, how: &str, args: &[&str]) -> (Outcome, Files) {
    let out_dir = s.env.path(&format!("ns-{how}"));
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).unwrap();
    let script = r#"set -e
ssh="$HOME/.ssh"; out="$1"; how="$2"; shift 2
if [ "$how" = full ]; then
    cp -a "$ssh/." "$out/keep"
    mount -t tmpfs -o size=64k,mode=700 tmpfs "$ssh"
    cp -a "$out/keep/." "$ssh/"
    dd if=/dev/zero of="$ssh/filler" bs=1k 2>/dev/null || true
else
    mount --bind "$ssh" "$ssh"
    mount -o remount,bind,ro "$ssh"
fi
set +e
"$@" >/dev/null 2>"$out/stderr"
echo $? >"$out/rc"
[ -e "$ssh/config" ] && cp "$ssh/config" "$out/config"
[ -e "$ssh/azml-ssh/config" ] && cp "$ssh/azml-ssh/config" "$out/include"
exit 0
"#;
    let mut cmd = s.env.command("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", script, "sh"]).arg(&out_dir).arg(how).arg(BIN).args(args);
    let ran = run(&mut cmd, None, LIMIT);
    assert!(ran.status.success(), "unshare: {}", ran.stderr);
    let read = |name: &str| std::fs::read(out_dir.join(name)).ok();
    let rc: i32 = String::from_utf8(read("rc").unwrap()).unwrap().trim().parse().unwrap();
    let outcome = Outcome {
        status: std::os::unix::process::ExitStatusExt::from_raw(rc << 8),
        stdout: Vec::new(),
        stderr: String::from_utf8(read("stderr").unwrap()).unwrap(),
        elapsed: ran.elapsed,
    };
    (outcome, Files { config: read("config"), include: read("include") })
}

#[test]
fn a_full_disk_or_a_read_only_ssh_dir_gives_a_clear_error_and_loses_nothing() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test mounts a tmpfs and a read-only bind mount in a private namespace: run it as root (CI does)"
    );
    let s = Setup::new();
    let mut checked = 0;
    let mut state = State::Users;
    for (name, args, from, to) in COMMANDS {
        assert_eq!(state, from);
        for (how, why) in [("full", "No space left on device"), ("ro", "Read-only file system")] {
            let before = s.files();
            let (out, inside) = in_namespace(&s, how, args);
            assert!(clear_error(&out, why), "{name} on a {how} ~/.ssh: {}", out.stderr);
            assert_eq!(inside, before, "{name} on a {how} ~/.ssh changed a file");
            assert_eq!(s.files(), before);
            checked += 1;
        }
        assert!(s.azml(args).status.success());
        state = to;
    }
    eprintln!("crash: full disk and read-only ~/.ssh: {checked} runs, each a one-line error, no file changed");
}
