//! The documentation holds together: every link between the Markdown files (README, CONTRIBUTING, CHANGELOG,
//! SECURITY and the `docs/` book) leads to a file and a heading that exist — checked offline, as mdBook and GitHub
//! make anchors of headings; every page of `docs/` is in the book's summary; every kind of error the program has
//! an entry in the troubleshooting page, with its cause and fix; every `--json` output has its schema.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files under `dir` whose names end in `.ext`, sorted; a built book (`docs/book`) is not documentation.
fn files_under(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("docs/book") {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == ext) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The Markdown files of the repository's documentation, `docs/` included.
fn markdown_files() -> Vec<PathBuf> {
    let top = ["README.md", "CONTRIBUTING.md", "CHANGELOG.md", "SECURITY.md"].iter().map(|f| root().join(f));
    top.chain(files_under(&root().join("docs"), "md")).collect()
}

/// The text outside fenced code blocks and inline code, line by line.
fn prose(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            let parts: Vec<&str> = line.split('`').collect();
            lines.push(parts.iter().step_by(2).copied().collect::<Vec<_>>().join(" "));
        }
    }
    lines
}

/// The anchor mdBook and GitHub make of a heading: lower case, punctuation dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut anchors = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            anchors.insert(slug(line.trim_start_matches('#')));
        }
    }
    anchors
}

/// `[text](target)` links of a line of prose.
fn links(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("](") {
        let after = &rest[start + 2..];
        match after.find(')') {
            Some(end) => {
                found.push(after[..end].to_owned());
                rest = &after[end..];
            }
            None => break,
        }
    }
    found
}

/// `path` with its `..` and `.` parts resolved, without touching the file system.
fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn every_link_between_the_documents_leads_somewhere() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for target in prose(&text).iter().flat_map(|l| links(l)) {
            if target.contains("://") || target.starts_with("mailto:") || target.is_empty() {
                continue;
            }
            checked += 1;
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let dest = if path.is_empty() { file.clone() } else { file.parent().unwrap().join(path) };
            // The book is published from docs/ alone: a link out of it would be broken on the site.
            let in_book = |p: &Path| p.starts_with(root().join("docs"));
            if in_book(&file) && !in_book(&normal(&dest)) {
                broken.push(format!("{}: {target} (leaves docs/, so the site cannot have it)", file.display()));
                continue;
            }
            if in_book(&file) && dest.is_dir() {
                broken.push(format!("{}: {target} (a folder: the site has no page for it)", file.display()));
                continue;
            }
            if !dest.exists() {
                broken.push(format!("{}: {target} (no such file)", file.display()));
                continue;
            }
            if !anchor.is_empty() {
                let dest_text = std::fs::read_to_string(&dest).unwrap_or_default();
                if !anchors(&dest_text).contains(anchor) {
                    broken.push(format!("{}: {target} (no such heading)", file.display()));
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} links found");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_page_of_the_book_is_in_its_summary() {
    let summary = std::fs::read_to_string(root().join("docs/SUMMARY.md")).unwrap();
    let listed: BTreeSet<String> = links(&summary.replace('\n', " ")).into_iter().collect();
    for file in markdown_files().iter().filter(|f| f.starts_with(root().join("docs"))) {
        let page = file.strip_prefix(root().join("docs")).unwrap().to_string_lossy().replace('\\', "/");
        if page != "SUMMARY.md" {
            assert!(listed.contains(&page), "docs/{page} is not in docs/SUMMARY.md");
        }
    }
}

/// The error types below the command layer and the command layer's own: every `thiserror` enum or struct in `src/`.
fn error_kinds() -> BTreeSet<String> {
    let mut kinds = BTreeSet::new();
    for path in files_under(&root().join("src"), "rs") {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !(line.contains("#[derive(") && line.contains("thiserror::Error")) {
                continue;
            }
            let declaration = lines[i + 1..].iter().find(|l| l.contains("enum ") || l.contains("struct ")).unwrap();
            let name = declaration.split_whitespace().skip_while(|w| !matches!(*w, "enum" | "struct")).nth(1).unwrap();
            kinds.insert(name.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    kinds
}

#[test]
fn every_kind_of_error_has_a_troubleshooting_entry_with_its_cause_and_fix() {
    let kinds = error_kinds();
    assert!(kinds.len() > 40, "found only {kinds:?}");
    // No error type hides from the search: every one derives thiserror's Error by its full path.
    let uses = std::process::Command::new("grep").args(["-rln", "use thiserror", "src"]).current_dir(root()).output();
    assert!(uses.map(|o| o.stdout.is_empty()).unwrap_or(true), "import thiserror::Error by path, not with `use`");
    let page = std::fs::read_to_string(root().join("docs/troubleshooting.md")).unwrap();
    let kinds_section = page.split("## Errors, kind by kind").nth(1).expect("the section of error kinds");
    let (entries, parts) = kinds_section.split_once("### Parts of other messages").expect("the list of parts");
    let headings: Vec<&str> = entries.lines().filter(|l| l.starts_with("### ")).collect();
    for kind in &kinds {
        let named = |text: &str| text.contains(&format!("`{kind}`"));
        let in_part = PARTS.contains(&kind.as_str()) && named(parts);
        assert!(in_part || headings.iter().any(|h| named(h)), "docs/troubleshooting.md has no entry for `{kind}`");
    }
    for entry in entries.split("\n### ").skip(1) {
        let title = entry.lines().next().unwrap_or_default();
        for part in ["**You see:**", "**Cause:**", "**Fix:**"] {
            assert!(entry.contains(part), "the entry {title:?} has no {part}");
        }
    }
}

#[test]
fn every_json_output_has_a_schema_and_a_row_in_the_json_page() {
    let page = std::fs::read_to_string(root().join("docs/json.md")).unwrap();
    for name in ["status", "list", "doctor", "jobs", "idle"] {
        let path = root().join(format!("docs/schemas/{name}.schema.json"));
        let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(schema["properties"]["schema_version"]["const"], 1, "{name}");
        assert!(page.contains(&format!("(schemas/{name}.schema.json)")), "docs/json.md does not link {name}'s schema");
    }
    // The commands with --json are those: a new one needs its schema (and a line above).
    let cli = std::fs::read_to_string(root().join("src/cli.rs")).unwrap();
    assert_eq!(cli.matches("pub json: bool").count(), 5, "a --json flag was added or removed: update docs/schemas");
}

/// The kinds whose messages are only ever part of another kind's message (the "why" after a colon); the
/// troubleshooting page lists them as such.
const PARTS: [&str; 13] = [
    "RunError",
    "Reason",
    "BadUrl",
    "Unreadable",
    "Skipped",
    "HandOverError",
    "ClientError",
    "BannerError",
    "NoSettings",
    "Untrusted",
    "Distrust",
    "InstanceError",
    "BadServerUrl",
];

/// Words that say what to do: every message a user can get as the one error line has one.
const REMEDIES: [&str; 35] = [
    "run", "check", "try", "use", "set", "give", "add", "connect", "wait", "remove", "install", "ask", "choose",
    "look", "put", "start", "name", "pass", "fix", "create", "move", "raise", "exempt", "write", "point", "sign",
    "restart", "report", "forward", "retry", "see", "expected", "must", "needs", "takes",
];

/// Each `#[error("…")]` message of the kind declared after it, with the kind's name: `(kind, message)`.
fn error_messages() -> Vec<(String, String)> {
    let mut found = Vec::new();
    for path in files_under(&root().join("src"), "rs") {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut kind = String::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("#[error(") {
            let before = &rest[..at];
            for line in before.lines() {
                let words: Vec<&str> = line.split_whitespace().collect();
                if let Some(i) = words.iter().position(|w| *w == "enum" || *w == "struct") {
                    kind = words.get(i + 1).unwrap_or(&"").chars().take_while(|c| c.is_alphanumeric()).collect();
                }
            }
            let after = &rest[at + 8..];
            let end = after.find(")]").unwrap_or(after.len());
            let message = string_literal(&after[..end]);
            // A remedy chosen by a function (`forbidden_remedy(verb)`) counts as said.
            let message = if after[..end].contains("remedy(") { format!("{message} (check: remedy)") } else { message };
            // `{0}`, or a label before one (`SSL_CERT_FILE: {0}`): the wrapped error says what to do.
            let wrapper = message.ends_with("{0}") && message.matches('{').count() == 1 && message.len() <= 24;
            if !after[..end].trim_start().starts_with("transparent") && !wrapper {
                found.push((kind.clone(), message));
            }
            rest = &after[end..];
        }
    }
    found
}

/// The first string literal of `text`, escapes kept as written.
fn string_literal(text: &str) -> String {
    let Some(start) = text.find('"') else { return String::new() };
    let mut literal = String::new();
    let mut escaped = false;
    for c in text[start + 1..].chars() {
        match (escaped, c) {
            (false, '"') => break,
            (false, '\\') => escaped = true,
            _ => escaped = false,
        }
        literal.push(c);
    }
    literal
}

#[test]
fn every_error_message_says_what_to_do() {
    let messages = error_messages();
    assert!(messages.len() > 150, "found only {} messages", messages.len());
    let lacking: Vec<String> = messages
        .iter()
        .filter(|(kind, _)| !PARTS.contains(&kind.as_str()))
        .filter(|(_, message)| {
            let lower = message.to_lowercase();
            let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).collect();
            !REMEDIES.iter().any(|r| words.contains(r))
        })
        .map(|(kind, message)| format!("{kind}: {message}"))
        .collect();
    assert!(lacking.is_empty(), "messages that do not say what to do:\n{}", lacking.join("\n"));
}
