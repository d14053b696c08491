//! azml-ssh's own ssh config file (`~/.ssh/azml-ssh/config`): one `Host` block per compute instance, rendered
//! whole from a list of entries and parsed back from exactly that rendering.
//!
//! Every value is validated before it can reach the file, by [`values`](crate::sshconf::values).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::azure::resource_id::ComputeId;
pub use crate::sshconf::flavor::Flavor;
use crate::sshconf::flavor::windows_path_text;
use crate::sshconf::syntax::split_args;
use crate::sshconf::values::{
    InvalidValue, check_alias, check_path_text, check_user, parse_ssh_option, quote_program, render_id,
    render_identity_file,
};
use crate::sshconf::wildcard::{Suffix, Wildcard, WildcardState, writable_pattern};

pub(crate) const HEADER: &str = "\
# Written by azml-ssh. Do not edit: this file is rewritten whole.
# Change hosts with `azml-ssh add`, `azml-ssh remove` and `azml-ssh config`.
";

/// The user `azml-ssh add` writes when none is given: Azure ML's default admin user.
pub(crate) const DEFAULT_USER: &str = "azureuser";

/// How an entry got here. Discovery (`azml-ssh config`) manages its own entries and never drops added ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Written by `azml-ssh add`: kept until `azml-ssh remove`.
    Added,
    /// Written by `azml-ssh config`: replaced or dropped by its next run over the same scope.
    Discovered,
}

impl Source {
    fn comment(self) -> &'static str {
        match self {
            Source::Added => "# azml-ssh: added by `azml-ssh add`",
            Source::Discovered => "# azml-ssh: found by `azml-ssh config`",
        }
    }
}

/// One `Host` block of azml-ssh's file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostEntry {
    /// The name `ssh` is given.
    pub alias: String,
    /// The instance the ProxyCommand connects to.
    pub id: ComputeId,
    /// The login user on the instance.
    pub user: String,
    /// The private key to use, if not ssh's defaults.
    pub identity_file: Option<PathBuf>,
    /// Extra `Key Value` options from `--ssh-option`, written before our defaults so they win.
    pub options: Vec<(String, String)>,
    /// Which command wrote it, and so which may change it.
    pub source: Source,
}

/// How ProxyCommand starts azml-ssh: the program, quoted for the ssh flavour the file is written for.
#[derive(Clone, Debug)]
pub struct Launcher {
    /// The program's path, quoted as ProxyCommand needs it.
    pub program: String,
    /// The ssh the file is written for.
    pub flavor: Flavor,
}

impl Launcher {
    /// The launcher of the program at `path`; a path ssh would misread is refused.
    pub fn new(path: &Path, flavor: Flavor) -> Result<Self, InvalidValue> {
        Ok(Launcher { program: quote_program(path, flavor)?, flavor })
    }

    /// ssh's `ProxyUseFdpass` exists only in OpenSSH on Unix (not Win32-OpenSSH).
    fn fdpass(&self) -> bool {
        self.flavor == Flavor::Posix
    }
}

/// azml-ssh's file as a whole: the per-instance blocks, and what it says about the wildcard block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostsFile {
    /// One block per instance.
    pub entries: Vec<HostEntry>,
    /// The `Host *.SUFFIX` block, off, or never decided.
    pub wildcard: WildcardState,
}

/// The line the header carries while the wildcard block is turned off, so that later runs keep it off.
const WILDCARD_OFF: &str = "# The wildcard host is off; `azml-ssh config --wildcard SUFFIX` turns it on.";

/// The comment that opens the wildcard block; the rest of the line names the suffix.
const WILDCARD_COMMENT: &str = "# azml-ssh: any compute instance by name:";

/// The wildcard block's Host line rules out every name with a `'` in it (a double-quoted, negated pattern, which
/// ssh's splitting of the line reads as one word in every version): such a name could end the quoting of
/// [`TYPED_NAME`] and reach a shell.
const NO_QUOTES: &str = "\"!*'*\"";

/// How the wildcard block's ProxyCommand passes on the name typed: `%h`, which every ssh knows (7.7 has no `%n`)
/// and which, with no `HostName`, is that name; after `--`, so that no name can be read as an option; and
/// single-quoted (with no `'` inside, by [`NO_QUOTES`]). ssh before 9.6 (Win32-OpenSSH before 9.8, and the
/// OpenSSH of Git for Windows before 2.44) puts any name typed there as it is, and a git URL can carry one.
/// - Unix ssh, and Git for Windows' ssh on Windows, hand the line to `sh -c`: the quotes keep anything in the
///   name from being expanded, globbed or run.
/// - Windows' own ssh starts the program with no shell: the quotes reach azml-ssh as part of the argument
///   (`'ci7.azml'`), which takes them off (a name never holds a `'`); a name with spaces or double quotes
///   becomes extra words after `--`, which azml-ssh refuses.
const TYPED_NAME: &str = "'%h'";

/// What a block says to ssh beyond its `Host` line and comment.
struct Body<'a> {
    user: &'a str,
    identity_file: Option<&'a Path>,
    options: &'a [(String, String)],
    /// What follows `proxy [--fdpass]` on the ProxyCommand line.
    target: &'a str,
}

/// Renders the whole file: the instances by alias, then the wildcard block, which must come after them (ssh
/// keeps the first value it reads, and an instance's own block knows its user).
pub fn render(file: &HostsFile, launcher: &Launcher) -> String {
    let mut sorted: Vec<&HostEntry> = file.entries.iter().collect();
    sorted.sort_by(|a, b| a.alias.cmp(&b.alias));
    let mut out = String::from(HEADER);
    if file.wildcard == WildcardState::Off {
        let _ = writeln!(out, "{WILDCARD_OFF}");
    }
    for e in sorted {
        let _ = writeln!(out, "\nHost {}", e.alias);
        let _ = writeln!(out, "    {}", e.source.comment());
        // known_hosts is keyed by the alias, not by an address that changes on every stop/start, so host-key
        // checking can stay on.
        let _ = writeln!(out, "    HostKeyAlias {}", e.alias);
        let target = render_id(&e.id);
        let body =
            Body { user: &e.user, identity_file: e.identity_file.as_deref(), options: &e.options, target: &target };
        render_body(&mut out, &body, launcher);
    }
    if let WildcardState::On(w) = &file.wildcard {
        let negated: String = w.yields_to.iter().map(|p| format!(" !{p}")).collect();
        let suffix = w.suffix.as_str();
        let _ = writeln!(out, "\nHost {} {NO_QUOTES}{negated}", w.suffix.pattern());
        let _ = writeln!(out, "    {WILDCARD_COMMENT} ssh NAME.{suffix} or NAME.WORKSPACE.{suffix}");
        // No HostKeyAlias: ssh keys known_hosts by the name as typed (`ci2.azml`), which is the alias here.
        let target = format!("--wildcard {suffix} -- {TYPED_NAME}");
        let body =
            Body { user: &w.user, identity_file: w.identity_file.as_deref(), options: &w.options, target: &target };
        render_body(&mut out, &body, launcher);
    }
    out
}

fn render_body(out: &mut String, body: &Body<'_>, launcher: &Launcher) {
    let _ = writeln!(out, "    User {}", body.user);
    if let Some(key) = body.identity_file {
        let key = match launcher.flavor {
            Flavor::Posix => key.to_path_buf(),
            Flavor::Windows => PathBuf::from(windows_path_text(key)),
        };
        let _ = writeln!(out, "    IdentityFile {}", render_identity_file(&key));
        // Offer only this key: with several keys in an agent, sshd's MaxAuthTries is reached before the right
        // one ("Too many authentication failures").
        let _ = writeln!(out, "    IdentitiesOnly yes");
    }
    // The user's own options come before our defaults: ssh keeps the first value it reads.
    for (key, value) in body.options {
        let _ = writeln!(out, "    {key} {value}");
    }
    // Notice a dead link (laptop sleep, network change) within about a minute instead of hanging; a relayed
    // TCP connection has no other way to learn that the far end is gone.
    let _ = writeln!(out, "    ServerAliveInterval 15");
    let _ = writeln!(out, "    ServerAliveCountMax 4");
    if launcher.fdpass() {
        // azml-ssh hands ssh the connected socket and exits: no process sits in the middle of the session.
        let _ = writeln!(out, "    ProxyUseFdpass yes");
        let _ = writeln!(out, "    ProxyCommand {} proxy --fdpass {}", launcher.program, body.target);
    } else {
        let _ = writeln!(out, "    ProxyCommand {} proxy {}", launcher.program, body.target);
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{path} line {line} is not what azml-ssh writes ({why}); it was edited by hand: move it away and run azml-ssh again"
)]
pub(crate) struct HostsFileError {
    pub path: String,
    pub line: usize,
    pub why: String,
}

/// Which kind of `Host` line opened a block.
enum Opened {
    Instance(String),
    Wildcard { suffix: Suffix, yields_to: Vec<String> },
}

/// A `Host` block as read, before it is checked.
struct Block {
    line: usize,
    source: Option<Source>,
    options: Vec<(String, String)>,
}

/// What every block says beyond its `Host` line, as read back.
struct ReadBody {
    user: String,
    identity_file: Option<PathBuf>,
    options: Vec<(String, String)>,
    /// The ProxyCommand's arguments after the program and `proxy`.
    target: Vec<String>,
}

impl Block {
    fn body(self_options: Vec<(String, String)>, line: usize, fail: &Fail<'_>) -> Result<ReadBody, HostsFileError> {
        let mut user = None;
        let mut identity_file = None;
        let mut target = None;
        let mut extra = Vec::new();
        // Our ServerAlive defaults are the last of their kind in the block; earlier ones are the user's.
        let last_of = |name: &str| self_options.iter().rposition(|(k, _)| k.eq_ignore_ascii_case(name));
        let ours = [last_of("ServerAliveInterval"), last_of("ServerAliveCountMax")];
        for (index, (key, value)) in self_options.into_iter().enumerate() {
            match key.to_ascii_lowercase().as_str() {
                _ if ours.contains(&Some(index)) => {}
                "hostkeyalias" | "identitiesonly" | "proxyusefdpass" => {}
                "user" => user = Some(value),
                "identityfile" => {
                    let arg = split_args(&value).pop().unwrap_or_default();
                    identity_file = Some(PathBuf::from(arg.replace("%%", "%")));
                }
                "proxycommand" => target = Some(split_args(&value)),
                // The user's own options, held to `--ssh-option`'s rule (a control character in a value, found by
                // fuzzing, did not survive a rewrite).
                _ => {
                    parse_ssh_option(&format!("{key}={value}")).map_err(|e| fail(line, e.to_string()))?;
                    extra.push((key, value));
                }
            }
        }
        // Every value is held to the rule it was written under: what could not be written is not read either.
        let user = user.ok_or_else(|| fail(line, "the block has no User".into()))?;
        check_user(&user).map_err(|e| fail(line, e.to_string()))?;
        if let Some(key) = &identity_file {
            check_path_text(key).map_err(|e| fail(line, e.to_string()))?;
        }
        Ok(ReadBody {
            user,
            identity_file,
            options: extra,
            target: target.ok_or_else(|| fail(line, "the block has no ProxyCommand".into()))?,
        })
    }

    fn into_entry(self, alias: String, fail: &Fail<'_>) -> Result<HostEntry, HostsFileError> {
        let line = self.line;
        let source = self.source.unwrap_or(Source::Added);
        let mut body = Self::body(self.options, line, fail)?;
        let last = body.target.pop().unwrap_or_default();
        let id = last.parse::<ComputeId>().map_err(|e| fail(line, e.to_string()))?;
        Ok(HostEntry { alias, id, user: body.user, identity_file: body.identity_file, options: body.options, source })
    }

    fn into_wildcard(
        self,
        suffix: Suffix,
        yields_to: Vec<String>,
        fail: &Fail<'_>,
    ) -> Result<Wildcard, HostsFileError> {
        let line = self.line;
        let body = Self::body(self.options, line, fail)?;
        // `%n` without `--` is what versions before the quoted `%h` wrote: read, so it is rewritten.
        let current = body.target.ends_with(&["--wildcard".into(), suffix.as_str().into(), "--".into(), "%h".into()]);
        let earlier = body.target.ends_with(&["--wildcard".into(), suffix.as_str().into(), "%n".into()]);
        if !current && !earlier {
            return Err(fail(line, "the wildcard block's ProxyCommand is not azml-ssh's".into()));
        }
        Ok(Wildcard { suffix, user: body.user, identity_file: body.identity_file, options: body.options, yields_to })
    }
}

type Fail<'a> = dyn Fn(usize, String) -> HostsFileError + 'a;

/// A `Host` line: one alias, or the wildcard pattern followed by the negated patterns it yields to.
fn opened(patterns: &str, line: usize, fail: &Fail<'_>) -> Result<Opened, HostsFileError> {
    if let Some(rest) = patterns.strip_prefix("*.") {
        let mut words = rest.split(' ');
        let suffix = words.next().unwrap_or_default().parse::<Suffix>().map_err(|e| fail(line, e.to_string()))?;
        // Files written before names with quotes were ruled out lack the pattern; they are read all the same.
        let mut words = words.peekable();
        words.next_if_eq(&NO_QUOTES);
        let yields_to = words
            .map(|w| w.strip_prefix('!').filter(|p| writable_pattern(p)).map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| fail(line, "the wildcard block's Host line is not azml-ssh's".into()))?;
        return Ok(Opened::Wildcard { suffix, yields_to });
    }
    check_alias(patterns).map_err(|e| fail(line, e.to_string()))?;
    Ok(Opened::Instance(patterns.to_owned()))
}

/// Parses a file written by [`render`]. Anything else is refused rather than guessed at, so a hand-edited file is
/// never silently rewritten.
pub(crate) fn parse(text: &str, path: &Path) -> Result<HostsFile, HostsFileError> {
    let fail = |line: usize, why: String| HostsFileError { path: path.display().to_string(), line, why };
    let mut blocks: Vec<(Opened, Block)> = Vec::new();
    let mut off = false;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        if let Some(patterns) = raw.strip_prefix("Host ") {
            let opened = opened(patterns, number, &fail)?;
            blocks.push((opened, Block { line: number, source: None, options: Vec::new() }));
        } else if raw.starts_with('#') && blocks.is_empty() {
            // The header, which may say the wildcard block is off.
            off |= raw == WILDCARD_OFF;
        } else if let Some(body) = raw.strip_prefix("    ") {
            let Some((opened, block)) = blocks.last_mut() else {
                return Err(fail(number, "an option outside any Host block".into()));
            };
            read_line(opened, block, body).ok_or_else(|| fail(number, format!("unexpected line {raw:?}")))?;
        } else {
            return Err(fail(number, format!("unexpected line {raw:?}")));
        }
    }
    let wildcard = if off { WildcardState::Off } else { WildcardState::Unset };
    let mut file = HostsFile { entries: Vec::new(), wildcard };
    for (opened, block) in blocks {
        let line = block.line;
        match opened {
            Opened::Instance(alias) => file.entries.push(block.into_entry(alias, &fail)?),
            Opened::Wildcard { .. } if file.wildcard != WildcardState::Unset => {
                return Err(fail(line, "a second wildcard block, or one in a file that says it is off".into()));
            }
            Opened::Wildcard { suffix, yields_to } => {
                file.wildcard = WildcardState::On(block.into_wildcard(suffix, yields_to, &fail)?);
            }
        }
    }
    Ok(file)
}

/// One indented line of a block: its comment, or an option. `None` for anything azml-ssh does not write.
fn read_line(opened: &Opened, block: &mut Block, body: &str) -> Option<()> {
    match opened {
        Opened::Instance(_) if body == Source::Added.comment() => block.source = Some(Source::Added),
        Opened::Instance(_) if body == Source::Discovered.comment() => block.source = Some(Source::Discovered),
        Opened::Wildcard { .. } if body.starts_with(WILDCARD_COMMENT) => {}
        _ => {
            let (key, value) = body.split_once(' ')?;
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
                return None;
            }
            block.options.push((key.to_owned(), value.to_owned()));
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> ComputeId {
        format!("/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/{name}")
            .parse()
            .unwrap()
    }

    fn entry(alias: &str) -> HostEntry {
        HostEntry {
            alias: alias.into(),
            id: id(alias),
            user: "azureuser".into(),
            identity_file: Some("/home/u/.ssh/id %x".into()),
            options: vec![
                ("LocalForward".into(), "8888 localhost:8888".into()),
                ("ServerAliveInterval".into(), "60".into()),
            ],
            source: Source::Discovered,
        }
    }

    #[test]
    fn render_then_parse_round_trips() {
        let entries =
            vec![entry("b1"), HostEntry { identity_file: None, options: vec![], source: Source::Added, ..entry("a1") }];
        let wildcard = Wildcard {
            suffix: "ml.internal".parse().unwrap(),
            user: "azureuser".into(),
            identity_file: Some("/home/u/.ssh/id %x".into()),
            options: vec![("ForwardAgent".into(), "no".into())],
            yields_to: vec!["special.ml.internal".into(), "gpu-*.ml.internal".into()],
        };
        for wildcard in [WildcardState::Unset, WildcardState::Off, WildcardState::On(wildcard)] {
            let file = HostsFile { entries: entries.clone(), wildcard };
            for flavor in [Flavor::Posix, Flavor::Windows] {
                let program = match flavor {
                    Flavor::Posix => "/usr/bin/azml-ssh",
                    Flavor::Windows => r"C:\bin\azml-ssh.exe",
                };
                let text = render(&file, &Launcher::new(Path::new(program), flavor).unwrap());
                let mut parsed = parse(&text, Path::new("f")).unwrap();
                parsed.entries.sort_by(|a, b| b.alias.cmp(&a.alias));
                assert_eq!(parsed, file, "{text}");
            }
        }
    }

    /// A file with `entries` and the default wildcard block yielding to `yields_to`.
    fn with_wildcard(entries: Vec<HostEntry>, yields_to: Vec<String>) -> HostsFile {
        let wildcard = Wildcard {
            suffix: Suffix::default(),
            user: "azureuser".into(),
            identity_file: None,
            options: vec![],
            yields_to,
        };
        HostsFile { entries, wildcard: WildcardState::On(wildcard) }
    }

    #[test]
    fn files_of_earlier_versions_are_read() {
        let file = with_wildcard(vec![], vec!["mine.azml".into()]);
        let text = render(&file, &Launcher::new(Path::new("/x"), Flavor::Posix).unwrap());
        let earlier = text.replace("\"!*'*\" ", "").replace("--wildcard azml -- '%h'", "--wildcard azml %n");
        assert_ne!(earlier, text);
        assert_eq!(parse(&earlier, Path::new("f")).unwrap(), file);
    }

    #[test]
    fn hand_edits_are_refused() {
        let file = with_wildcard(vec![entry("a1")], vec!["mine.azml".into()]);
        let text = render(&file, &Launcher::new(Path::new("/x"), Flavor::Posix).unwrap());
        for edited in [
            text.replace("!mine.azml", "!mine.azml other"),
            text.replace("Host *.azml", "Host *.az_ml"),
            text.replace("--wildcard azml -- '%h'", "--wildcard azml %h"),
            text.replace("--wildcard azml -- '%h'", "--wildcard azml -- %n"),
            text.replace("\"!*'*\" !mine.azml", "!mine.azml \"!*'*\""),
            format!("{text}\nHost *.azml\n    User x\n    ProxyCommand x proxy --wildcard azml -- %h\n"),
            text.replace("    User azureuser\n", "  User azureuser\n"),
            text.replace("Host a1", "Host a1 a2"),
            format!("{text}Match all\n"),
            text.replace("    ProxyCommand", "    #ProxyCommand"),
        ] {
            assert_ne!(edited, text);
            assert!(parse(&edited, Path::new("f")).is_err(), "{edited}");
        }
    }

    /// How Win32-OpenSSH starts a ProxyCommand, followed from its source: `sshconnect.c` expands the tokens
    /// and hands the line, as one string, to `posix_spawnp`, which reaches `build_commandline_string`
    /// (contrib/win32/win32compat/misc.c) and then `CreateProcessW(NULL, line)`; the program then splits its
    /// own command line (Rust's std does it as the Microsoft C runtime does).
    mod win32 {
        /// Which Win32-OpenSSH builds the line.
        #[derive(Clone, Copy, Debug)]
        pub(super) enum Version {
            /// 7.7p1 as Windows 10 (to 20H2) and Server 2019 ship it: the program is wrapped in quotes even when
            /// it is quoted already (seen as `spawning ""C:\…\coder.exe"" --global-config …` in coder/coder#7637).
            V7_7,
            /// 8.1p1 and 9.5p1: a line that starts with a quote is passed as it is.
            V8_1,
        }

        const PROGRAM_DIR: &str = r"C:\Windows\System32\OpenSSH";

        fn is_absolute(path: &str) -> bool {
            let path = path.strip_prefix('"').unwrap_or(path);
            let b = path.as_bytes();
            path.starts_with(['/', '\\']) || (b.len() > 1 && b[0].is_ascii_alphabetic() && b[1] == b':')
        }

        /// `build_commandline_string(line, NULL, TRUE)`.
        pub(super) fn command_line(version: Version, line: &str) -> String {
            let mut out = String::from("\"");
            if !is_absolute(line) {
                out.push_str(PROGRAM_DIR);
                out.push('\\');
            }
            match (version, line.strip_prefix('"')) {
                (Version::V8_1, Some(rest)) => out.push_str(rest),
                _ => match line.find(".exe").and_then(|at| line[at..].find(' ').map(|space| at + space)) {
                    Some(end) => {
                        out.push_str(&line[..end]);
                        out.push('"');
                        out.push_str(&line[end..]);
                    }
                    None => {
                        out.push_str(line);
                        out.push('"');
                    }
                },
            }
            out
        }

        /// What `CreateProcessW(NULL, line)` starts and the argv the program reads, or Windows' error.
        pub(super) fn start(line: &str) -> Result<Vec<String>, u32> {
            const ERROR_INVALID_PARAMETER: u32 = 87;
            let (program, rest) = match line.strip_prefix('"') {
                Some(quoted) => {
                    let end = quoted.find('"').unwrap_or(quoted.len());
                    (&quoted[..end], quoted.get(end + 1..).unwrap_or(""))
                }
                None => line.split_at(line.find([' ', '\t']).unwrap_or(line.len())),
            };
            if program.is_empty() {
                return Err(ERROR_INVALID_PARAMETER);
            }
            let mut argv = vec![program.to_owned()];
            argv.extend(split_arguments(rest));
            Ok(argv)
        }

        /// The Microsoft C runtime's rules for the arguments after the program (as std's `args()` applies them).
        fn split_arguments(text: &str) -> Vec<String> {
            let (mut args, mut current, mut started, mut quoted, mut backslashes) =
                (Vec::new(), String::new(), false, false, 0usize);
            let mut chars = text.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => backslashes += 1,
                    '"' => {
                        current.extend(std::iter::repeat_n('\\', backslashes / 2));
                        if backslashes % 2 == 1 {
                            current.push('"');
                        } else if quoted && chars.peek() == Some(&'"') {
                            current.push('"');
                            chars.next();
                        } else {
                            quoted = !quoted;
                        }
                        backslashes = 0;
                        started = true;
                    }
                    ' ' | '\t' if !quoted => {
                        current.extend(std::iter::repeat_n('\\', backslashes));
                        backslashes = 0;
                        if started || !current.is_empty() {
                            args.push(std::mem::take(&mut current));
                        }
                        started = false;
                    }
                    c => {
                        current.extend(std::iter::repeat_n('\\', backslashes));
                        backslashes = 0;
                        current.push(c);
                    }
                }
            }
            current.extend(std::iter::repeat_n('\\', backslashes));
            if started || !current.is_empty() {
                args.push(current);
            }
            args
        }
    }

    /// ssh's `%` expansion of a ProxyCommand line for host `name` (the tokens azml-ssh writes: `%h`, `%%`).
    fn expand(line: &str, name: &str) -> String {
        line.replace("%%", "\u{0}").replace("%h", name).replace('\u{0}', "%")
    }

    /// The ProxyCommand lines of a rendered file, for one host block.
    fn proxy_line(text: &str, host_line: &str) -> String {
        let block = text.split("\nHost ").find(|b| b.starts_with(host_line)).unwrap();
        let line = block.lines().find_map(|l| l.trim_start().strip_prefix("ProxyCommand ")).unwrap();
        line.to_owned()
    }

    #[test]
    fn every_windows_ssh_starts_the_proxy_with_the_arguments_written() {
        use win32::Version::{V7_7, V8_1};
        let file = with_wildcard(vec![entry("ci1")], vec![]);
        let id = entry("ci1").id.to_string();
        for (program, starts_on_7_7) in [
            ("C:/Users/me/.local/bin/azml-sshw.exe", true),
            ("C:/PROGRA~1/azml-ssh/azml-sshw.exe", true),
            ("\"C:/Users/Me Too/bin/azml-sshw.exe\"", false),
        ] {
            let launcher = Launcher { program: program.into(), flavor: Flavor::Windows };
            let text = render(&file, &launcher);
            let expected_program = program.trim_matches('"');
            for version in [V7_7, V8_1] {
                let started = |line: &str| win32::start(&win32::command_line(version, line));
                let by_id = started(&expand(&proxy_line(&text, "ci1\n"), "ci1"));
                if !starts_on_7_7 && matches!(version, V7_7) {
                    assert_eq!(by_id, Err(87), "7.7 cannot start a quoted program: {program}");
                    continue;
                }
                assert_eq!(by_id.unwrap(), [expected_program, "proxy", &id], "{version:?} {program}");
                let wildcard = proxy_line(&text, "*.azml");
                for name in ["ci7.azml", "ci7.ws-1.azml"] {
                    let argv = started(&expand(&wildcard, name)).unwrap();
                    let quoted = format!("'{name}'");
                    assert_eq!(argv, [expected_program, "proxy", "--wildcard", "azml", "--", &quoted], "{version:?}");
                }
                // Windows' ssh before 9.8 puts any name typed into the line as it is (a git URL can carry one):
                // whatever it holds lands after `--`, where it can only be a name, never an option.
                for hostile in [r#""--log-file=C:\Users\Public\x" ci1.azml"#, "--help", "a\" --log-file=x \"b", "a b"] {
                    let argv = started(&expand(&wildcard, hostile)).unwrap();
                    assert_eq!(argv[..5], [expected_program, "proxy", "--wildcard", "azml", "--"], "{hostile}");
                }
            }
        }
    }

    #[test]
    fn on_unix_no_typed_name_reaches_the_shell() {
        let file = with_wildcard(vec![], vec!["mine.azml".into()]);
        let text = render(&file, &Launcher::new(Path::new("/usr/bin/azml-ssh"), Flavor::Posix).unwrap());
        assert!(text.contains("\nHost *.azml \"!*'*\" !mine.azml\n"), "{text}");
        assert!(proxy_line(&text, "*.azml").ends_with(" proxy --fdpass --wildcard azml -- '%h'"), "{text}");
        // The Host line as ssh matches it: a name with a quote never gets this block, so it cannot end the quoting.
        let host = text.lines().find(|l| l.starts_with("Host *.azml")).unwrap();
        let claim = crate::sshconf::syntax::directives(
            format!("{host}\n").as_bytes(),
            Path::new("/h"),
            &crate::sshconf::glob::Disk,
            &mut crate::sshconf::glob::Budget::default(),
        )
        .claims;
        let covers = |name: &str| claim[0].1.covers(name);
        assert!(covers("ci7.azml") && covers("g*.azml") && covers("$(touch x).azml"));
        assert!(!covers("a'b.azml") && !covers("';touch x;'.azml") && !covers("mine.azml"));
    }
}
