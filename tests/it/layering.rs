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
            // The programs' entry points (main.rs, and bin/ for the Windows twin) print like the commands.
            if prints && !matches!(top, "cmd" | "main" | "bin") && path != "util/logging.rs" {
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
/// interrupts, the browser, windowless helper programs, stdio hand-over, fd passing, splice, the ssh flavour, the
/// Windows program's GUI-subsystem twin), never in the logic.
#[test]
fn platform_conditions_stay_in_the_platform_modules() {
    const PLATFORM_MODULES: &[&str] = &[
        "util/mod.rs",
        "util/dirs.rs",
        "util/fs.rs",
        "util/interrupt.rs",
        "util/desktop.rs",
        "util/process.rs",
        "bin/azml-sshw.rs",
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

/// A source file's module path: `cmd/mod.rs` → `cmd`, `util/fs/unix.rs` → `util::fs::unix`.
fn module_of(path: &str) -> String {
    path.trim_end_matches(".rs").trim_end_matches("/mod").replace('/', "::")
}

/// The modules of `src/` a line's `crate::` paths name: the longest known module prefix of each path, and of each
/// `module::` item in a `{…}` group (`crate::cmd::{Console, progress::Renderer}` names `cmd` and `cmd::progress`).
fn modules_named(line: &str, modules: &[String]) -> Vec<String> {
    let longest = |path: &str| {
        modules.iter().filter(|m| path == m.as_str() || path.starts_with(&format!("{m}::"))).max_by_key(|m| m.len())
    };
    let mut named = Vec::new();
    for (index, _) in line.match_indices("crate::") {
        let rest: String = line[index + 7..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '{' | '}' | ',' | ' '))
            .collect();
        let (head, group) = rest.split_once('{').unwrap_or((&rest, ""));
        let head = head.trim_end_matches(':').trim();
        named.extend(longest(head).cloned());
        for item in group.split([',', '}']).map(str::trim).filter(|i| i.contains("::")) {
            named.extend(longest(&format!("{head}::{item}")).cloned());
        }
    }
    named
}

/// Inside a folder, files use one another one way only: a cycle between two files (a module using the folder's
/// `mod.rs` while `mod.rs` uses it back) is a knot a reader cannot untie from either end.
#[test]
fn files_inside_a_folder_use_one_another_one_way() {
    let sources = sources();
    let modules: Vec<String> = sources.iter().map(|(path, _)| module_of(path)).collect();
    let mut edges: Vec<(String, String)> = Vec::new();
    for (path, code) in &sources {
        let from = module_of(path);
        for (_, line) in code_lines(code) {
            for to in modules_named(line, &modules) {
                let same_folder = layer(path) == to.split("::").next().unwrap_or_default();
                if to != from && same_folder && !edges.contains(&(from.clone(), to.clone())) {
                    edges.push((from.clone(), to));
                }
            }
        }
    }
    // A cycle is an edge whose target reaches its source again.
    let reaches = |start: &str, goal: &str| {
        let (mut seen, mut stack) = (vec![start.to_owned()], vec![start.to_owned()]);
        while let Some(node) = stack.pop() {
            for (_, next) in edges.iter().filter(|(from, _)| *from == node) {
                if next == goal {
                    return true;
                }
                if !seen.contains(next) {
                    seen.push(next.clone());
                    stack.push(next.clone());
                }
            }
        }
        false
    };
    let cycles: Vec<String> =
        edges.iter().filter(|(from, to)| reaches(to, from)).map(|(from, to)| format!("{from} → {to}")).collect();
    assert!(cycles.is_empty(), "files that use each other in a circle:\n{}", cycles.join("\n"));
}

/// Each feature has one room: doctor (local checks, the remote check-up, the report) is `cmd::doctor`, and
/// `code`/`jupyter`/`forward` (their plan and the ssh they run) is `cmd::open`. Outside its room, a room's modules
/// are used only by the commands' shared error type (`cmd`), the fuzz targets, and the doors listed here — so a
/// feature's logic cannot drift back into a lower floor or another feature unnoticed.
#[test]
fn each_feature_lives_in_its_own_room() {
    const ROOMS: &[(&str, &[&str])] = &[
        ("cmd::doctor", &["cmd", "fuzzing"]),
        // doctor --remote runs the user's ssh as jupyter and forward do.
        ("cmd::open", &["cmd", "cli", "cmd::doctor::remote"]),
    ];
    let sources = sources();
    let modules: Vec<String> = sources.iter().map(|(path, _)| module_of(path)).collect();
    let mut strays = Vec::new();
    for (path, code) in &sources {
        let from = module_of(path);
        for (number, line) in code_lines(code) {
            for to in modules_named(line, &modules) {
                for (room, doors) in ROOMS {
                    let inside = |m: &str| m == *room || m.starts_with(&format!("{room}::"));
                    if inside(&to) && !inside(&from) && !doors.contains(&from.as_str()) {
                        strays.push(format!("src/{path}:{number} ({from} reaches into {room}): {}", line.trim()));
                    }
                }
            }
        }
    }
    assert!(strays.is_empty(), "a feature's room entered from outside:\n{}", strays.join("\n"));
    for (room, _) in ROOMS {
        assert!(modules.iter().any(|m| m == room), "{room} is not a module any more");
    }
}

#[test]
fn the_cycle_check_sees_grouped_and_nested_paths() {
    let modules: Vec<String> = ["cmd", "cmd::work", "cmd::progress", "util"].map(String::from).to_vec();
    let named = modules_named("use crate::cmd::{Console, work::OpenError, progress::Renderer};", &modules);
    assert_eq!(named, ["cmd", "cmd::work", "cmd::progress"]);
    assert_eq!(modules_named("let x = crate::util::text::one_line(y);", &modules), ["util"]);
}

/// Functions stay short enough to read at once: no function of the shipped code is over 60 lines (signature to
/// closing brace). Unit-test modules are exempt.
#[test]
fn no_function_is_longer_than_60_lines() {
    const LIMIT: usize = 60;
    let mut long = Vec::new();
    for (path, code) in sources() {
        let lines: Vec<&str> = code.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let Some(name) = function_name(lines[i]) else {
                i += 1;
                continue;
            };
            let (mut depth, mut opened, mut end) = (0i64, false, i);
            for (j, line) in lines.iter().enumerate().skip(i) {
                let code = without_literals(line);
                if !opened && code.contains(';') && !code.contains('{') {
                    break; // a declaration without a body
                }
                depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
                opened |= code.contains('{');
                end = j;
                if opened && depth <= 0 {
                    break;
                }
            }
            if opened && end - i + 1 > LIMIT {
                long.push(format!("src/{path}:{} {name} is {} lines", i + 1, end - i + 1));
            }
            i = if opened { end + 1 } else { i + 1 };
        }
    }
    assert!(long.is_empty(), "functions over {LIMIT} lines:\n{}", long.join("\n"));
}

/// The name of the function a line starts, if it starts one.
fn function_name(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace().skip_while(|w| {
        w.starts_with("pub") || matches!(*w, "const" | "async" | "unsafe" | "extern" | "\"C\"" | "\"system\"")
    });
    (words.next()? == "fn").then(|| words.next())?.map(|w| w.split(['(', '<']).next().unwrap_or(w))
}

/// A line with string and char literals emptied and a trailing comment cut, so braces in them do not count.
fn without_literals(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '\'' if chars.clone().nth(1) == Some('\'') || chars.peek() == Some(&'\\') => {
                // A char literal ('{' or '\n'); a lifetime ('a) has no closing quote and stays.
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => break,
            _ => out.push(c),
        }
    }
    out
}
