//! Lossless editing of the user's ssh config: adding and removing the one `Include` line that pulls in
//! azml-ssh's own file.
//!
//! The user's file is treated as bytes and lines, never re-rendered: comments, order, indentation, tabs, CRLF line
//! endings and a missing final newline all survive because only whole lines of ours are inserted or removed.
//! Inserting and then removing gives back the original bytes exactly.

use std::path::Path;

use crate::sshconf::flavor::{Flavor, windows_path_text};
use crate::sshconf::glob::Pattern;
use crate::sshconf::syntax::lines;

/// The comment line that marks our Include, so `--remove` can find exactly what we added.
pub const MARKER: &str =
    "# Added by azml-ssh: hosts for Azure ML compute instances (undo with `azml-ssh config --remove`)";

/// The line ending the file already uses, so inserted lines match it.
fn line_ending(bytes: &[u8]) -> &'static str {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(i) if i > 0 && bytes[i - 1] == b'\r' => "\r\n",
        Some(_) => "\n",
        None if Flavor::native() == Flavor::Windows => "\r\n",
        None => "\n",
    }
}

fn include_covers(arg: &str, target: &Path, home: &Path) -> bool {
    Pattern::new(arg, home).is_some_and(|pattern| pattern.covers(target))
}

/// Where an existing Include of our file stands.
#[derive(Debug, PartialEq, Eq)]
pub enum IncludeState {
    /// Included where it applies to every host: before any Host/Match block, or under `Match all` / `Host *`.
    Effective {
        /// Its line number (1-based).
        line: usize,
    },
    /// Included only inside a narrower Host/Match block, where it does not apply generally.
    Conditional {
        /// Its line number (1-based).
        line: usize,
    },
    /// Not included at all.
    Missing,
}

/// Finds an Include (exact, `~`, relative or glob form) that covers `target`.
pub fn include_state(config: &[u8], target: &Path, home: &Path) -> IncludeState {
    let mut global = true;
    let mut conditional = None;
    for (index, line) in lines(config).iter().enumerate() {
        let Some((keyword, args)) = line.directive() else {
            continue;
        };
        match keyword.as_str() {
            "host" => global = args.len() == 1 && args[0] == "*",
            "match" => global = args.len() == 1 && args[0].eq_ignore_ascii_case("all"),
            "include" if args.iter().any(|a| include_covers(a, target, home)) => {
                if global {
                    return IncludeState::Effective { line: index + 1 };
                }
                conditional.get_or_insert(index + 1);
            }
            _ => {}
        }
    }
    match conditional {
        Some(line) => IncludeState::Conditional { line },
        None => IncludeState::Missing,
    }
}

/// The Include lines azml-ssh writes or has written, for the ssh flavour the file is read by: the current form
/// first, then the form an earlier version wrote (recognised, so it is upgraded in place and `--remove` takes it
/// out too).
///
/// - Windows: `Include azml-ssh/config`, relative. Every ssh resolves a relative Include against `~/.ssh`, the
///   folder of the user's own config: Windows' OpenSSH of every version, and also Git for Windows', Cygwin's and
///   MSYS2's ssh and Windows' OpenSSH 7.7, which take only `/…` and `~…` as absolute (upstream's `readconf.c`)
///   and silently ignore `Include C:/…` as `~/.ssh/C:/…`. Earlier versions wrote that drive path.
/// - Unix: the absolute path, quoted when it has spaces. Every Unix ssh reads `/…` as absolute, and it keeps
///   working when ssh's `~` (from the password database) is not `$HOME`, or the file is read with `ssh -F`.
fn our_lines(target: &Path, home: &Path, flavor: Flavor) -> [String; 2] {
    let quoted = |path: String| {
        if path.contains([' ', '\t']) { format!("Include \"{path}\"") } else { format!("Include {path}") }
    };
    let relative = target.strip_prefix(home.join(".ssh")).ok().and_then(|r| {
        let parts: Option<Vec<&str>> = r.components().map(|c| c.as_os_str().to_str()).collect();
        parts.map(|parts| quoted(parts.join("/")))
    });
    match flavor {
        Flavor::Windows => {
            let absolute = quoted(windows_path_text(target));
            [relative.unwrap_or_else(|| absolute.clone()), absolute]
        }
        Flavor::Posix => {
            let absolute = quoted(target.to_string_lossy().into_owned());
            [absolute.clone(), relative.unwrap_or(absolute)]
        }
    }
}

/// The Include line this build writes for `target` (see [`our_lines`]).
pub fn include_line(target: &Path, home: &Path) -> String {
    let [current, _] = our_lines(target, home, Flavor::native());
    current
}

/// Adds our marker and Include before the first directive, so it precedes every Host/Match block *and* every
/// global option (with ssh's "first value wins", an earlier global `User` would otherwise beat ours). A blank line
/// separates it from what follows. An Include of ours in an earlier form, right after our marker, is replaced in
/// place and nothing else changes. Returns `None` when an effective Include in the current form already exists.
pub fn add_include(config: &[u8], target: &Path, home: &Path) -> Option<Vec<u8>> {
    add_include_for(config, target, home, Flavor::native())
}

fn add_include_for(config: &[u8], target: &Path, home: &Path, flavor: Flavor) -> Option<Vec<u8>> {
    let [current, earlier] = our_lines(target, home, flavor);
    let all = lines(config);
    if let Some(at) = all.iter().position(|l| l.content() == MARKER.as_bytes())
        && let Some(next) = all.get(at + 1)
        && current != earlier
        && next.content() == earlier.as_bytes()
    {
        let mut out = Vec::with_capacity(config.len() + current.len());
        for line in &all[..=at] {
            out.extend_from_slice(line.bytes);
        }
        out.extend_from_slice(current.as_bytes());
        out.extend_from_slice(&next.bytes[next.content().len()..]);
        for line in &all[at + 2..] {
            out.extend_from_slice(line.bytes);
        }
        return Some(out);
    }
    if let IncludeState::Effective { .. } = include_state(config, target, home) {
        return None;
    }
    let eol = line_ending(config);
    let at = all.iter().position(|l| l.directive().is_some()).unwrap_or(0);
    let offset: usize = all[..at].iter().map(|l| l.bytes.len()).sum();
    let mut block = format!("{MARKER}{eol}{current}{eol}");
    // A blank line separates ours from whatever follows. Nothing is ever appended after the user's last line, so
    // a file without a final newline keeps it that way.
    if offset < config.len() {
        block.push_str(eol);
    }
    let mut out = Vec::with_capacity(config.len() + block.len());
    out.extend_from_slice(&config[..offset]);
    out.extend_from_slice(block.as_bytes());
    out.extend_from_slice(&config[offset..]);
    Some(out)
}

/// Removes what [`add_include`] added, in either form: the marker, the Include of `target` right after it, and
/// the blank line after that. Returns `None` when there is nothing of ours in the file.
pub fn remove_include(config: &[u8], target: &Path, home: &Path) -> Option<Vec<u8>> {
    remove_include_for(config, target, home, Flavor::native())
}

fn remove_include_for(config: &[u8], target: &Path, home: &Path, flavor: Flavor) -> Option<Vec<u8>> {
    let all = lines(config);
    let ours = our_lines(target, home, flavor);
    let start = all.iter().position(|l| l.content() == MARKER.as_bytes())?;
    let mut end = start + 1;
    if all.get(end).is_some_and(|l| ours.iter().any(|form| l.content() == form.as_bytes())) {
        end += 1;
        // We add a blank separator exactly when something followed the insertion point.
        if all.get(end).is_some_and(|l| l.content().is_empty()) {
            end += 1;
        }
    }
    let mut out = Vec::with_capacity(config.len());
    for line in all[..start].iter().chain(&all[end..]) {
        out.extend_from_slice(line.bytes);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const HOME: &str = "/home/u";

    fn target() -> PathBuf {
        PathBuf::from("/home/u/.ssh/azml-ssh/config")
    }

    fn state(config: &str) -> IncludeState {
        include_state(config.as_bytes(), &target(), Path::new(HOME))
    }

    #[test]
    fn recognises_equivalent_includes() {
        for form in [
            "Include /home/u/.ssh/azml-ssh/config",
            "Include ~/.ssh/azml-ssh/config",
            "Include azml-ssh/config",
            "include \"~/.ssh/azml-ssh/config\"",
            "Include ~/.ssh/*/config",
            "Include azml-ssh/*",
            "Include other.conf ~/.ssh/azml-ssh/conf?g",
            "  Include=azml-ssh/config",
        ] {
            assert_eq!(state(&format!("{form}\nHost x\n")), IncludeState::Effective { line: 1 }, "{form}");
        }
        for other in ["Include ~/.ssh/*.conf", "Include ~/other/azml-ssh/config", "# Include azml-ssh/config"] {
            assert_eq!(state(&format!("{other}\n")), IncludeState::Missing, "{other}");
        }
    }

    #[test]
    fn an_include_inside_a_host_block_is_only_conditional() {
        assert_eq!(state("Host a\n  Include azml-ssh/config\n"), IncludeState::Conditional { line: 2 });
        assert_eq!(state("Host a\nMatch all\nInclude azml-ssh/config\n"), IncludeState::Effective { line: 3 });
        assert_eq!(state("Host *\nInclude azml-ssh/config\n"), IncludeState::Effective { line: 2 });
    }

    #[test]
    fn inserts_before_the_first_directive_and_removes_exactly() {
        let original = "# my config\n\nServerAliveInterval 60\nHost a\n    User me\n";
        let added = add_include(original.as_bytes(), &target(), Path::new(HOME)).unwrap();
        let added_text = String::from_utf8(added.clone()).unwrap();
        assert_eq!(
            added_text,
            format!(
                "# my config\n\n{MARKER}\nInclude /home/u/.ssh/azml-ssh/config\n\nServerAliveInterval 60\nHost a\n    User me\n"
            )
        );
        assert_eq!(add_include(&added, &target(), Path::new(HOME)), None, "idempotent");
        assert_eq!(remove_include(&added, &target(), Path::new(HOME)).unwrap(), original.as_bytes());
    }

    #[test]
    fn keeps_crlf_and_a_missing_final_newline() {
        let original = "Host a\r\n\tUser me";
        let added = add_include(original.as_bytes(), &target(), Path::new(HOME)).unwrap();
        assert!(String::from_utf8_lossy(&added).starts_with(&format!("{MARKER}\r\nInclude ")));
        assert!(added.ends_with(b"\tUser me"));
        assert_eq!(remove_include(&added, &target(), Path::new(HOME)).unwrap(), original.as_bytes());
    }

    #[test]
    fn comment_only_and_empty_files() {
        for original in ["", "# nothing yet", "# nothing yet\n", "\n\n"] {
            let added = add_include(original.as_bytes(), &target(), Path::new(HOME)).unwrap();
            assert_eq!(state(std::str::from_utf8(&added).unwrap()), IncludeState::Effective { line: 2 });
            assert_eq!(
                remove_include(&added, &target(), Path::new(HOME)).unwrap(),
                original.as_bytes(),
                "{original:?}"
            );
        }
    }

    #[test]
    fn paths_with_spaces_are_quoted() {
        let t = PathBuf::from("/home/u v/.ssh/azml-ssh/config");
        assert_eq!(include_line(&t, Path::new("/home/u v")), "Include \"/home/u v/.ssh/azml-ssh/config\"");
        let added = add_include(b"Host a\n", &t, Path::new("/home/u v")).unwrap();
        assert_eq!(include_state(&added, &t, Path::new("/home/u v")), IncludeState::Effective { line: 2 });
    }

    #[test]
    fn windows_writes_a_relative_include_and_upgrades_the_old_absolute_one_in_place() {
        let home = Path::new(HOME);
        let [current, earlier] = our_lines(&target(), home, Flavor::Windows);
        assert_eq!(current, "Include azml-ssh/config", "every ssh reads a relative Include from ~/.ssh");
        assert_eq!(earlier, "Include /home/u/.ssh/azml-ssh/config");
        let original = "# mine\r\nHost a\r\n\tUser me\r\n";
        let added = add_include_for(original.as_bytes(), &target(), home, Flavor::Windows).unwrap();
        let text = String::from_utf8(added.clone()).unwrap();
        assert_eq!(text, format!("# mine\r\n{MARKER}\r\nInclude azml-ssh/config\r\n\r\nHost a\r\n\tUser me\r\n"));
        assert_eq!(add_include_for(&added, &target(), home, Flavor::Windows), None, "idempotent");
        assert_eq!(remove_include_for(&added, &target(), home, Flavor::Windows).unwrap(), original.as_bytes());

        // What an earlier version wrote: only that one line changes, every other byte stays.
        let old = format!("# mine\r\n{MARKER}\r\nInclude /home/u/.ssh/azml-ssh/config\r\n\r\nHost a\r\n\tUser me");
        let upgraded = add_include_for(old.as_bytes(), &target(), home, Flavor::Windows).unwrap();
        assert_eq!(upgraded, old.replace("Include /home/u/.ssh/azml-ssh/config", "Include azml-ssh/config").as_bytes());
        assert_eq!(add_include_for(&upgraded, &target(), home, Flavor::Windows), None);
        let without = "# mine\r\nHost a\r\n\tUser me";
        assert_eq!(remove_include_for(old.as_bytes(), &target(), home, Flavor::Windows).unwrap(), without.as_bytes());
        assert_eq!(remove_include_for(&upgraded, &target(), home, Flavor::Windows).unwrap(), without.as_bytes());
    }

    #[test]
    fn unix_keeps_the_absolute_include_and_removes_a_relative_one_too() {
        let home = Path::new(HOME);
        assert_eq!(
            our_lines(&target(), home, Flavor::Posix),
            ["Include /home/u/.ssh/azml-ssh/config", "Include azml-ssh/config"]
        );
        let relative = format!("{MARKER}\nInclude azml-ssh/config\n\nHost a\n");
        let absolute = relative.replace("Include azml-ssh/config", "Include /home/u/.ssh/azml-ssh/config");
        assert_eq!(add_include_for(relative.as_bytes(), &target(), home, Flavor::Posix).unwrap(), absolute.as_bytes());
        assert_eq!(remove_include_for(relative.as_bytes(), &target(), home, Flavor::Posix).unwrap(), b"Host a\n");
    }
}
