//! The architecture rules of `src/`, checked on the source itself so that a change which breaks them fails here
//! rather than in a review: which folder may use which, where printing, `unsafe` and clap are allowed, and that
//! errors are typed.

use std::path::{Path, PathBuf};

/// Each layer and the layers it may use. Anything not listed is forbidden, which also rules out cycles.
const ALLOWED: &[(&str, &[&str])] = &[
    ("util", &[]),
    ("transport", &["util"]),
    ("azure", &["transport", "util"]),
    ("connect", &["azure", "transport", "util"]),
    ("sshconf", &["azure", "util"]),
    ("cmd", &["azure", "connect", "sshconf", "transport", "util"]),
];

fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests may use anything; the rules are about the shipped code.
            let end = ["#[cfg(test)]", "#[cfg(all(test"].iter().filter_map(|m| text.find(m)).min();
            let code = text[..end.unwrap_or(text.len())].to_owned();
            (path.strip_prefix(&root).unwrap().to_string_lossy().into_owned(), code)
        })
        .collect()
}

/// The top-level folder (or root file) a source path belongs to.
fn layer(path: &str) -> &str {
    path.split('/').next().unwrap().trim_end_matches(".rs")
}

/// Code lines, without comment lines (docs may mention anything).
fn code_lines(code: &str) -> impl Iterator<Item = (usize, &str)> {
    code.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with("//")).map(|(i, l)| (i + 1, l))
}

#[test]
fn layers_use_only_the_layers_below_them() {
    let mut violations = Vec::new();
    for (path, code) in sources() {
        let from = layer(&path);
        let Some((_, allowed)) = ALLOWED.iter().find(|(name, _)| *name == from) else { continue };
        for (number, line) in code_lines(&code) {
            for (index, _) in line.match_indices("crate::") {
                let target: String =
                    line[index + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if target != from && !allowed.contains(&target.as_str()) {
                    violations.push(format!("src/{path}:{number} ({from} uses {target}): {}", line.trim()));
                }
            }
        }
    }
    assert!(violations.is_empty(), "layering violations:\n{}", violations.join("\n"));
}

#[test]
fn only_the_commands_print_and_only_transport_is_unsafe() {
    // Windows ACLs have no safe wrapper in std: their one small platform module may call Win32 too.
    const UNSAFE_OUTSIDE_TRANSPORT: &[&str] = &["util/windows_acl.rs"];
    let mut violations = Vec::new();
    for (path, code) in sources() {
        let top = layer(&path);
        for (number, line) in code_lines(&code) {
            let prints = ["println!(", "eprintln!(", "print!(", "eprint!(", "std::io::stdout()", "std::io::stderr()"]
                .iter()
                .any(|p| line.contains(p));
            // Diagnostics through `tracing` are not output: util/logging.rs is where they are sent to stderr.
            if prints && !matches!(top, "cmd" | "main") && path != "util/logging.rs" {
                violations.push(format!("src/{path}:{number} prints: {}", line.trim()));
            }
            if line.contains("unsafe ") && top != "transport" && !UNSAFE_OUTSIDE_TRANSPORT.contains(&path.as_str()) {
                violations.push(format!("src/{path}:{number} is unsafe: {}", line.trim()));
            }
            if line.contains("clap::") && !matches!(top, "cli" | "main") {
                violations.push(format!("src/{path}:{number} uses clap below cli.rs: {}", line.trim()));
            }
            let untyped = line.split("Result<").skip(1).any(|rest| {
                let args = rest.split('>').next().unwrap_or_default();
                args.contains(',') && args.rsplit(',').next().is_some_and(|e| e.trim() == "String")
            });
            if untyped {
                violations.push(format!("src/{path}:{number} returns an untyped error: {}", line.trim()));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// Platform differences live in small modules with one interface per concern (directories, private files,
/// interrupts, the browser, stdio hand-over, fd passing, splice, the ssh flavour), never in the logic.
#[test]
fn platform_conditions_stay_in_the_platform_modules() {
    const PLATFORM_MODULES: &[&str] = &[
        "util/mod.rs",
        "util/dirs.rs",
        "util/fs.rs",
        "util/interrupt.rs",
        "util/desktop.rs",
        "transport/stdio.rs",
        "transport/fdpass.rs",
        "transport/splice.rs",
        "sshconf/flavor.rs",
    ];
    let mut violations = Vec::new();
    for (path, code) in sources() {
        // The per-platform halves (`fs/unix.rs`, `stdio/windows.rs`, …) are platform code through and through.
        let half = path.ends_with("/unix.rs") || path.ends_with("/windows.rs");
        if half || PLATFORM_MODULES.contains(&path.as_str()) {
            continue;
        }
        for (number, line) in code_lines(&code) {
            let conditional =
                ["cfg(unix", "cfg(windows", "cfg(not(", "cfg(target_os", "cfg!(unix", "cfg!(windows", "cfg!(target_os"]
                    .iter()
                    .any(|c| line.contains(c));
            if conditional {
                violations.push(format!("src/{path}:{number} is platform-conditional: {}", line.trim()));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
