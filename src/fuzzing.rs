//! The fuzz targets' bodies: one function per parser of outside input, each feeding it bytes and asserting what
//! must hold for every input — not only "no panic", but a rendered value parsing back to itself, escaping that
//! leaves nothing to escape, answers bounded whatever the input. `fuzz/` (cargo-fuzz layout, libFuzzer) calls
//! them; the unit test below replays the committed corpus (`fuzz/corpus/<target>/`) on every `cargo test`, so a
//! regression input stays fixed. Compiled only for tests and with the feature `fuzzing`.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};

use crate::azure::compute::ComputeResource;
use crate::azure::schedule;
use crate::azure::{job, resource_id};
use crate::cmd::doctor::remote_report;
use crate::connect::job::JobQuery;
use crate::connect::names::{NameIndex, NameQuery};
use crate::sshconf::glob::{Budget, Pattern, Tree};
use crate::sshconf::hosts::{self, Flavor, Launcher};
use crate::sshconf::syntax;
use crate::transport::http_proxy::Answer;
use crate::transport::tunnel;
use crate::util::{jsonc, text};

/// A target's body: it takes any bytes, and panics only when a property does not hold.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus folder and fuzz target.
pub const TARGETS: &[(&str, Target)] = &[
    ("ssh_config", ssh_config),
    ("hosts_file", hosts_file),
    ("compute", compute),
    ("schedule", schedules),
    ("jsonc", jsonc_settings),
    ("checkup_report", checkup_report),
    ("visible", visible),
    ("name_index", name_index),
    ("http_connect", http_connect),
    ("ws_frames", ws_frames),
];

/// The home the config's `~` names: a virtual folder (see [`VirtualTree`]), so the target touches no disk.
const HOME: &str = "/home/fuzz";

/// The user's ssh config as the include walk reads it: tokens, `Host`/`Match` claims and Include patterns, the
/// patterns expanded over a virtual tree of files that the input describes. A first line `#tree: PATH…` (a
/// comment to ssh, so every input is also a plain config) lists files, relative to the home or absolute.
/// The claims never outnumber the lines, deciding whether one covers a name is total, and the expansion stays
/// within its budget, however the patterns and the tree loop (`.`, `..`, `*/*/*…`), and yields only files of the
/// tree.
pub fn ssh_config(data: &[u8]) {
    let home = Path::new(HOME);
    let tree = VirtualTree::from_input(data, home);
    let found = syntax::directives(data, home, &tree, &mut Budget::new(64, 16));
    let lines = data.split(|&b| b == b'\n').count();
    assert!(found.claims.len() <= lines, "{} claims from {lines} lines", found.claims.len());
    assert!(found.includes.len() <= 16, "{} includes kept from a budget of 16", found.includes.len());
    for path in &found.includes {
        assert!(tree.exists(path), "{} is not in the tree", path.display());
    }
    for (_, claim) in &found.claims {
        for name in ["ci1", "ci1.azml", "", "*", "a.b.c"] {
            let _ = claim.covers(name);
        }
    }
    let text = String::from_utf8_lossy(data);
    let _ = syntax::split_args(&text);
    // An Include pattern as written, against a path of the same text: matching is total and bounded.
    let (pattern, path) = text.split_once('\n').unwrap_or((&text, "x"));
    if let Some(pattern) = Pattern::new(pattern, home) {
        let _ = pattern.covers(Path::new(path));
    }
}

/// A file tree in memory: the files listed, and every folder above them. Paths are looked up as the kernel
/// would without symlinks: `.` stays, `..` goes up (never above `/`).
struct VirtualTree {
    files: BTreeSet<PathBuf>,
    folders: BTreeSet<PathBuf>,
}

impl VirtualTree {
    fn from_input(data: &[u8], home: &Path) -> VirtualTree {
        let mut tree = VirtualTree { files: BTreeSet::new(), folders: BTreeSet::new() };
        let first = data.split(|&b| b == b'\n').next().unwrap_or_default();
        let Some(listed) = first.strip_prefix(b"#tree:") else { return tree };
        for name in String::from_utf8_lossy(listed).split_whitespace().take(256) {
            let path = Self::normal(&home.join(name));
            tree.folders.extend(path.ancestors().skip(1).map(Path::to_path_buf));
            tree.files.insert(path);
        }
        tree
    }

    fn normal(path: &Path) -> PathBuf {
        let mut normal = PathBuf::from("/");
        for component in path.components() {
            match component {
                Component::ParentDir => {
                    normal.pop();
                }
                Component::Normal(name) => normal.push(name),
                _ => {}
            }
        }
        normal
    }
}

impl Tree for VirtualTree {
    fn names(&self, dir: &Path) -> Option<Box<dyn Iterator<Item = OsString> + '_>> {
        let dir = Self::normal(dir);
        if !self.folders.contains(&dir) {
            return None;
        }
        let children = self.files.iter().chain(&self.folders).filter(move |p| p.parent() == Some(dir.as_path()));
        Some(Box::new(children.filter_map(|p| p.file_name().map(OsStr::to_owned))))
    }

    fn exists(&self, path: &Path) -> bool {
        let path = Self::normal(path);
        self.files.contains(&path) || self.folders.contains(&path)
    }
}

/// azml-ssh's own include file: whatever parses renders to text that parses back to the same hosts (in the
/// order rendering gives them: by alias, as a file edited by hand may not have them).
pub fn hosts_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(mut file) = hosts::parse(text, Path::new("fuzz")) else { return };
    file.entries.sort_by(|a, b| a.alias.cmp(&b.alias));
    let launcher = Launcher::new(Path::new("/usr/bin/azml-ssh"), Flavor::Posix).expect("a plain program path");
    let rendered = hosts::render(&file, &launcher);
    let again = hosts::parse(&rendered, Path::new("fuzz")).expect("what azml-ssh renders, it reads back");
    assert_eq!(again, file, "render then parse changed the hosts:\n{rendered}");
}

/// ARM's compute and job documents to their typed forms, and run history's answer for a job node: never a panic,
/// what is kept is bounded whatever the size, and a node gateway is only ever a plain host name.
pub fn compute(data: &[u8]) {
    if let Ok(resource) = serde_json::from_slice::<ComputeResource>(data)
        && let Ok(instance) = resource.instance()
    {
        let shown = format!("{instance:?}");
        assert!(shown.len() <= 64 * 1024 + 4 * data.len(), "{} bytes kept from {}", shown.len(), data.len());
    }
    if let Ok(resource) = serde_json::from_slice::<job::JobResource>(data) {
        let workspace = "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws";
        let workspace = workspace.parse().expect("a valid workspace ID");
        if let Some(job) = resource.job(&workspace) {
            assert!(resource_id::check_job_name(&job.id.name).is_ok(), "kept the name {:?}", job.id.name);
            assert!(job.ssh_hosts("azml", true).len() <= 64, "{} hosts", job.ssh_hosts("azml", true).len());
        }
    }
    if let Ok(answer) = serde_json::from_slice::<job::ServiceInstances>(data)
        && let job::NodeSsh::Running { proxy_endpoint } = answer.node_ssh()
        && let Some(gateway) = tunnel::Gateway::job_node(&proxy_endpoint, 3)
    {
        let plain = gateway.host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
        assert!(plain && !gateway.host.is_empty(), "a gateway host {:?}", gateway.host);
    }
}

/// Start/stop schedules (cron, recurrences, Windows time zones) and their next run.
pub fn schedules(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let found = schedule::parse_all(Some(&value));
    assert!(found.len() <= 33, "{} schedules kept", found.len());
    let now = jiff::Timestamp::from_second(1_765_000_000).expect("a fixed instant");
    let _ = schedule::next_run(&found, now, None);
}

/// VS Code's settings (JSON with comments): a document that is plain JSON reads exactly as JSON.
pub fn jsonc_settings(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let read = jsonc::parse(text);
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(text) {
        assert_eq!(read.ok(), Some(json), "JSONC read plain JSON differently");
    }
}

/// `doctor --remote`'s report from the instance's shell, and the findings made from it.
pub fn checkup_report(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let report = remote_report::parse(&text);
    let _ = remote_report::findings("ci1", &report, None);
}

/// The one escaping of server text: nothing it leaves can move a terminal, and a second pass changes nothing.
pub fn visible(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let once = text::visible(&text);
    assert!(!once.chars().any(char::is_control), "a control character left in {once:?}");
    assert_eq!(text::visible(&once), once, "escaping twice changed {once:?}");
}

/// The name index `config` leaves and the proxy reads, and a name typed after `ssh` (an instance's or a job's): a
/// name is accepted only when it is a plain host name, whatever an ssh without a check of its own passed on.
pub fn name_index(data: &[u8]) {
    let _ = serde_json::from_slice::<NameIndex>(data);
    let text = String::from_utf8_lossy(data);
    if NameQuery::parse(&text, "azml").is_ok() {
        assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')), "accepted {text:?}");
    }
    if let Ok(Some(_)) = JobQuery::parse(&text, "azml") {
        let plain = text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        assert!(plain && !text.starts_with(['-', '_', '.']), "accepted the job name {text:?}");
    }
}

/// An HTTPS proxy's answer to CONNECT: only `HTTP/x 200` opens the tunnel, and what is shown of any other
/// answer is one bounded line with nothing raw in it.
pub fn http_connect(data: &[u8]) {
    match Answer::read(data) {
        Answer::Connected => assert!(data.starts_with(b"HTTP/"), "connected on {data:?}"),
        Answer::AuthenticationRequired => {}
        Answer::Refused { status_line } => {
            assert!(status_line.chars().count() <= 1024, "{} characters shown", status_line.len());
            assert!(!status_line.chars().any(char::is_control), "raw text shown: {status_line:?}");
        }
    }
}

/// What a gateway sends, as WebSocket frames read with the tunnel's limits (the client side, as ours is): every
/// message is within the 1 MiB limit however the frames' lengths lie, and reading ends at the input's end.
pub fn ws_frames(data: &[u8]) {
    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};
    /// The gateway's bytes to read; what we answer (pongs, a close) goes nowhere.
    struct Wire<'a>(std::io::Cursor<&'a [u8]>);
    impl std::io::Read for Wire<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0.read(buf)
        }
    }
    impl std::io::Write for Wire<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let wire = Wire(std::io::Cursor::new(data));
    let mut socket = WebSocket::from_raw_socket(wire, Role::Client, Some(tunnel::websocket_config()));
    // Each message takes at least two bytes of input, so this bounds the loop whatever the reader does.
    for _ in 0..=data.len() / 2 {
        match socket.read() {
            Ok(message) => assert!(message.len() <= 1 << 20, "a message of {} bytes", message.len()),
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed corpus, replayed: every input the fuzzers kept, and every regression input, holds.
    #[test]
    fn the_fuzz_corpus_replays() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        let mut replayed = 0;
        for (name, target) in TARGETS {
            let dir = root.join(name);
            let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            for entry in entries {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                let result = std::panic::catch_unwind(|| target(&data));
                assert!(result.is_ok(), "{name}: {} fails", path.display());
                replayed += 1;
            }
        }
        assert!(replayed >= TARGETS.len(), "only {replayed} inputs replayed");
    }

    /// The ssh_config target expands Includes over the tree its input describes, as glob(3) would on disk.
    #[test]
    fn includes_expand_over_the_virtual_tree() {
        let input = b"#tree: .ssh/conf.d/b.conf .ssh/conf.d/a.conf .ssh/conf.d/.hidden .ssh/conf.d/sub/c.conf\n\
                      Include conf.d/* ~/.ssh/conf.d/sub/*.conf conf.d/missing\n";
        let tree = VirtualTree::from_input(input, Path::new(HOME));
        let found = syntax::directives(input, Path::new(HOME), &tree, &mut Budget::default());
        let expected = ["conf.d/a.conf", "conf.d/b.conf", "conf.d/sub", "conf.d/sub/c.conf"];
        let expected: Vec<PathBuf> = expected.iter().map(|p| Path::new(HOME).join(".ssh").join(p)).collect();
        assert_eq!(found.includes, expected);

        // Through `.` and `..` (which `.*` matches) the pattern loops back into the folders it came from, so
        // matches grow threefold per part: what is kept is bounded by the budget, not by the tree.
        let looping = b"#tree: .ssh/a\nInclude .*/.*/.*/.*/.*/.*/.*\n";
        let tree = VirtualTree::from_input(looping, Path::new(HOME));
        let mut budget = Budget::new(100_000, 10);
        let found = syntax::directives(looping, Path::new(HOME), &tree, &mut budget);
        assert_eq!(found.includes.len(), 10, "{:?}", found.includes);
    }
}
