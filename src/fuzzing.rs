//! The fuzz targets' bodies: one function per parser of outside input, each feeding it bytes and asserting what
//! must hold for every input — not only "no panic", but a rendered value parsing back to itself, escaping that
//! leaves nothing to escape, answers bounded whatever the input. `fuzz/` (cargo-fuzz layout, libFuzzer) calls
//! them; the unit test below replays the committed corpus (`fuzz/corpus/<target>/`) on every `cargo test`, so a
//! regression input stays fixed. Compiled only for tests and with the feature `fuzzing`.

use std::path::Path;

use crate::azure::compute::ComputeResource;
use crate::azure::schedule;
use crate::connect::checkup;
use crate::connect::names::{NameIndex, NameQuery};
use crate::sshconf::glob::{Budget, Pattern};
use crate::sshconf::hosts::{self, Flavor, Launcher};
use crate::sshconf::include;
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

/// A home with nothing in it: Includes resolve against it and find no files, so the target stays pure.
const HOME: &str = "/nonexistent/azml-ssh-fuzz-home";

/// The user's ssh config as the include walk reads it: tokens, `Host`/`Match` claims and Include patterns.
/// The claims never outnumber the lines, and deciding whether one covers a name is total.
pub fn ssh_config(data: &[u8]) {
    let home = Path::new(HOME);
    let found = include::directives(data, home, &mut Budget::new(64, 64));
    let lines = data.split(|&b| b == b'\n').count();
    assert!(found.claims.len() <= lines, "{} claims from {lines} lines", found.claims.len());
    for (_, claim) in &found.claims {
        for name in ["ci1", "ci1.azml", "", "*", "a.b.c"] {
            let _ = claim.covers(name);
        }
    }
    let text = String::from_utf8_lossy(data);
    let _ = include::split_args(&text);
    // An Include pattern as written, against a path of the same text: matching is total and bounded.
    let (pattern, path) = text.split_once('\n').unwrap_or((&text, "x"));
    if let Some(pattern) = Pattern::new(pattern, home) {
        let _ = pattern.covers(Path::new(path));
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

/// ARM's compute document to the typed instance: never a panic, and what is kept is bounded whatever the size.
pub fn compute(data: &[u8]) {
    let Ok(resource) = serde_json::from_slice::<ComputeResource>(data) else { return };
    if let Ok(instance) = resource.instance() {
        let shown = format!("{instance:?}");
        assert!(shown.len() <= 64 * 1024 + 4 * data.len(), "{} bytes kept from {}", shown.len(), data.len());
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
    let report = checkup::parse(&text);
    let _ = checkup::findings("ci1", &report, None);
}

/// The one escaping of server text: nothing it leaves can move a terminal, and a second pass changes nothing.
pub fn visible(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let once = text::visible(&text);
    assert!(!once.chars().any(char::is_control), "a control character left in {once:?}");
    assert_eq!(text::visible(&once), once, "escaping twice changed {once:?}");
}

/// The name index `config` leaves and the proxy reads, and a name typed after `ssh`: a name is accepted only
/// when it is a plain host name, whatever an ssh without a check of its own passed on.
pub fn name_index(data: &[u8]) {
    let _ = serde_json::from_slice::<NameIndex>(data);
    let text = String::from_utf8_lossy(data);
    if NameQuery::parse(&text, "azml").is_ok() {
        assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')), "accepted {text:?}");
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
}
