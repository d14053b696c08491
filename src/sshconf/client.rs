//! The ssh programs the user's tools run, and what each makes of azml-ssh's hosts: the ssh on PATH, the one VS
//! Code runs (`remote.SSH.path`, else PATH's), and git's (`GIT_SSH_COMMAND`, `core.sshCommand`, `GIT_SSH`, or
//! the ssh Git for Windows ships). Their versions differ in what a ProxyCommand may be — Windows' own 7.7 cannot
//! start a double-quoted program and knows only `%h %p %r` — so `doctor` and `config` ask each one.
//!
//! Nothing here goes through a shell: a command line from git's settings or the environment is split into words
//! as ssh splits its own, and its program is started with those words as arguments. Every run is bounded in time
//! and output (`util::process::run_bounded`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::sshconf::flavor::Flavor;

use crate::sshconf::syntax::split_args;
use crate::sshconf::values::{self, InvalidValue};
use crate::util::process::{self, RunError};
use crate::util::text;

/// How long one `ssh -V`, `ssh -G` or `git config` may take: they answer in milliseconds, so anything this slow
/// is hung (a wrapper waiting for input, a network home directory gone away).
pub(crate) const RUN_LIMIT: Duration = Duration::from_secs(5);

/// More than `ssh -G` prints (a few KiB); a program printing more is cut off there.
const MAX_OUTPUT: usize = 256 << 10;

/// An OpenSSH version, as `ssh -V` prints it: `OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15` or
/// `OpenSSH_for_Windows_7.7p1, LibreSSL 2.6.5`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SshVersion {
    /// 9 of 9.2p1.
    pub major: u32,
    /// 2 of 9.2p1.
    pub minor: u32,
    /// Win32-OpenSSH (Windows' own ssh.exe, `OpenSSH_for_Windows_…`), which starts ProxyCommand without a shell.
    pub windows: bool,
}

impl SshVersion {
    /// The version in `ssh -V`'s first line; `None` for anything that is not OpenSSH.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let rest = text.trim_start().strip_prefix("OpenSSH_")?;
        let (windows, rest) = match rest.strip_prefix("for_Windows_") {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let (major, rest) = rest.split_once('.')?;
        let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
        Some(SshVersion { major: major.parse().ok()?, minor: minor.parse().ok()?, windows })
    }

    fn below(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) < (major, minor)
    }

    /// Win32-OpenSSH before 8.1 wraps a ProxyCommand that starts with `"` in quotes again, so Windows cannot
    /// start it (CreateProcessW error 87); 8.1 passes it as it is.
    pub(crate) fn requotes_quoted_program(&self) -> bool {
        self.windows && self.below(8, 1)
    }

    /// The `%` tokens of a ProxyCommand this ssh refuses (any it does not know is fatal): Win32-OpenSSH before 8.1
    /// knows only `%h %p %r`.
    pub(crate) fn unknown_tokens(&self, proxy_command: &str) -> Vec<String> {
        if !self.requotes_quoted_program() {
            return Vec::new();
        }
        let mut unknown = Vec::new();
        let mut chars = proxy_command.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                continue;
            }
            match chars.next() {
                Some('h' | 'p' | 'r' | '%') => {}
                other => unknown.push(format!("%{}", other.map(String::from).unwrap_or_default())),
            }
        }
        unknown
    }

    /// Upstream OpenSSH before 9.6 does not check the host names typed on its command line (CVE-2023-51385); some
    /// distributions added the check to older versions, so this is a "may".
    pub(crate) fn may_lack_hostname_check(&self) -> bool {
        !self.windows && self.below(9, 6)
    }
}

/// What to do about Windows' own OpenSSH 7.7: a newer one, or Git's.
pub(crate) const FIX_OLD_WINDOWS_SSH: &str = "install a newer OpenSSH (`winget install Microsoft.OpenSSH.Beta`, or Settings → System → Optional features → OpenSSH Client), or point VS Code at Git's ssh: \"remote.SSH.path\": \"C:\\\\Program Files\\\\Git\\\\usr\\\\bin\\\\ssh.exe\"";

/// Who runs an ssh, and how that one was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The first `ssh` on PATH: what a terminal runs.
    Path,
    /// VS Code without `remote.SSH.path`: the ssh on PATH.
    VsCodeDefault,
    /// VS Code's `remote.SSH.path`, set in this settings file.
    VsCodeSetting(PathBuf),
    /// git, by the `GIT_SSH_COMMAND` environment variable.
    GitSshCommand,
    /// git, by `core.sshCommand` in git's configuration.
    GitCoreSshCommand,
    /// git, by the `GIT_SSH` environment variable (a program, no arguments).
    GitSsh,
    /// git, nothing set: Git for Windows runs the ssh it ships (`usr\bin\ssh.exe`), elsewhere the one on PATH.
    GitDefault,
}

impl Origin {
    /// The tool, as an item label names it.
    pub(crate) fn tool(&self) -> &'static str {
        match self {
            Origin::Path => "PATH",
            Origin::VsCodeDefault => "VS Code",
            Origin::VsCodeSetting(_) => "VS Code remote.SSH.path",
            _ => "git",
        }
    }

    /// Whether this tool is how most people reach an instance: a problem of its ssh is a failure, not a warning.
    pub(crate) fn essential(&self) -> bool {
        matches!(self, Origin::Path | Origin::VsCodeDefault | Origin::VsCodeSetting(_))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Path => f.write_str("the first ssh on PATH"),
            Origin::VsCodeDefault => f.write_str("VS Code (no remote.SSH.path: the ssh on PATH)"),
            Origin::VsCodeSetting(file) => write!(f, "remote.SSH.path in {}", file.display()),
            Origin::GitSshCommand => f.write_str("git's GIT_SSH_COMMAND"),
            Origin::GitCoreSshCommand => f.write_str("git's core.sshCommand"),
            Origin::GitSsh => f.write_str("git's GIT_SSH"),
            Origin::GitDefault => f.write_str("git's default ssh"),
        }
    }
}

/// One ssh program with the arguments its tool gives it, and every tool that runs it so.
#[derive(Clone, Debug)]
pub(crate) struct SshCommand {
    /// The program, found: a path that exists.
    pub program: PathBuf,
    /// The tool's own arguments (`GIT_SSH_COMMAND="ssh -i key"` → `-i key`).
    pub args: Vec<String>,
    /// Who runs it; the first is the one it was found for.
    pub origins: Vec<Origin>,
}

/// A program one or more tools name that cannot be found.
#[derive(Clone, Debug)]
pub(crate) struct Missing {
    /// The program as the tools name it.
    pub named: String,
    /// The tools.
    pub origins: Vec<Origin>,
}

/// Why an ssh could not say what it makes of a host.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("{program} -G {alias}: {message}")]
    Failed { program: String, alias: String, message: String },
    #[error(transparent)]
    Alias(#[from] InvalidValue),
}

/// What the user's tools run, each program once: (the ones found, the ones named but not found). `vscode` is
/// VS Code's settings file and its `remote.SSH.path`, when VS Code is there.
pub(crate) fn find_all(vscode: Option<(PathBuf, Option<String>)>, flavor: Flavor) -> (Vec<SshCommand>, Vec<Missing>) {
    let mut named = vec![(Origin::Path, vec!["ssh".to_owned()])];
    if let Some((settings, path)) = vscode {
        named.push(match path {
            Some(path) => (Origin::VsCodeSetting(settings), vec![path]),
            None => (Origin::VsCodeDefault, vec!["ssh".to_owned()]),
        });
    }
    named.extend(git_ssh(flavor));
    let (mut found, mut missing): (Vec<SshCommand>, Vec<Missing>) = (Vec::new(), Vec::new());
    for (origin, mut words) in named {
        let named = words.first().cloned().unwrap_or_default();
        let Some(program) = locate(&named) else {
            match missing.iter_mut().find(|m| m.named == named) {
                Some(known) => known.origins.push(origin),
                None => missing.push(Missing { named, origins: vec![origin] }),
            }
            continue;
        };
        let args = words.split_off(1);
        let same = |c: &&mut SshCommand| same_file(&c.program, &program) && c.args == args;
        match found.iter_mut().find(same) {
            Some(known) => known.origins.push(origin),
            None => found.push(SshCommand { program, args, origins: vec![origin] }),
        }
    }
    (found, missing)
}

/// The ssh on PATH, if there is one: what `config` writes for.
pub(crate) fn on_path() -> Option<SshCommand> {
    let program = locate("ssh")?;
    Some(SshCommand { program, args: Vec::new(), origins: vec![Origin::Path] })
}

/// A program as a tool would find it: a path as it is, a bare name on PATH.
fn locate(named: &str) -> Option<PathBuf> {
    if named.is_empty() {
        return None;
    }
    which::which(named).ok()
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(a), Ok(b)) if a == b)
}

/// The ssh git runs, as words, and why: git's own order (`GIT_SSH_COMMAND`, `core.sshCommand`, `GIT_SSH`, its
/// default). `None` without git.
fn git_ssh(flavor: Flavor) -> Option<(Origin, Vec<String>)> {
    let git = which::which("git").ok()?;
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(command) = set("GIT_SSH_COMMAND") {
        return Some((Origin::GitSshCommand, split_args(&command)));
    }
    if let Some(command) = git_config(&git, "core.sshCommand") {
        return Some((Origin::GitCoreSshCommand, split_args(&command)));
    }
    if let Some(program) = set("GIT_SSH") {
        return Some((Origin::GitSsh, vec![program]));
    }
    let bundled = bundled_ssh(&git, flavor).map(|p| p.to_string_lossy().into_owned());
    Some((Origin::GitDefault, vec![bundled.unwrap_or_else(|| "ssh".to_owned())]))
}

/// One value of git's configuration, read by git itself (so every file it reads counts), or `None` when unset.
fn git_config(git: &Path, key: &str) -> Option<String> {
    let mut command = process::background(git);
    command.args(["config", "--get", key]);
    let out = process::run_bounded(command, RUN_LIMIT, MAX_OUTPUT).ok()?;
    let value = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !value.is_empty()).then_some(value)
}

/// Git for Windows puts its own ssh first on the PATH git's children see: `<root>\usr\bin\ssh.exe`, where `git`
/// is `<root>\cmd\git.exe` (or `bin\`, `mingw64\bin\`). Elsewhere git runs the ssh on PATH.
pub(crate) fn bundled_ssh(git: &Path, flavor: Flavor) -> Option<PathBuf> {
    if flavor != Flavor::Windows {
        return None;
    }
    git.ancestors().skip(1).take(3).map(|root| root.join("usr").join("bin").join("ssh.exe")).find(|p| p.is_file())
}

/// `ssh -V`: its first line (ssh prints it on stderr).
pub(crate) fn version_line(ssh: &SshCommand) -> Result<String, RunError> {
    let mut command = process::background(&ssh.program);
    command.arg("-V");
    let out = process::run_bounded(command, RUN_LIMIT, MAX_OUTPUT)?;
    let first =
        |bytes: &[u8]| String::from_utf8_lossy(bytes).lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_owned);
    Ok(first(&out.stderr).or_else(|| first(&out.stdout)).unwrap_or_default())
}

/// `ssh -G ALIAS` as this tool runs it: key → value (keys lower-case, as ssh prints them). `config` is the ssh
/// config to read (`-F`), given before the tool's own arguments so that a `-F` of the tool's wins.
pub(crate) fn resolve(
    ssh: &SshCommand,
    config: Option<&Path>,
    alias: &str,
) -> Result<Vec<(String, String)>, ClientError> {
    // The alias is a plain host token, and `--` ends ssh's options (it uses getopt) before it all the same.
    values::check_alias(alias)?;
    let mut command = process::background(&ssh.program);
    if let Some(config) = config {
        command.arg("-F").arg(config);
    }
    command.args(&ssh.args).args(["-G", "--", alias]);
    let out = process::run_bounded(command, RUN_LIMIT, MAX_OUTPUT)?;
    if !out.status.success() {
        let message = text::one_line_max(&String::from_utf8_lossy(&out.stderr), 300);
        return Err(ClientError::Failed {
            program: ssh.program.display().to_string(),
            alias: alias.to_owned(),
            message,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect())
}

/// The program of an azml-ssh ProxyCommand (`PROGRAM proxy …`, quoted or not), or `None` for any other.
pub(crate) fn azml_program(proxy_command: &str) -> Option<String> {
    let words = split_args(proxy_command);
    match words.as_slice() {
        [program, proxy, ..] if proxy == "proxy" => Some(program.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_what_ssh_v_prints() {
        let windows = SshVersion::parse("OpenSSH_for_Windows_7.7p1, LibreSSL 2.6.5").unwrap();
        assert_eq!(windows, SshVersion { major: 7, minor: 7, windows: true });
        assert!(windows.requotes_quoted_program() && !windows.may_lack_hostname_check());
        let debian = SshVersion::parse("OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15").unwrap();
        assert_eq!(debian, SshVersion { major: 9, minor: 2, windows: false });
        assert!(!debian.requotes_quoted_program() && debian.may_lack_hostname_check());
        let later = SshVersion::parse("OpenSSH_for_Windows_8.1p1, LibreSSL 3.0.2").unwrap();
        assert!(!later.requotes_quoted_program());
        let git = SshVersion::parse("OpenSSH_9.9p1, OpenSSL 3.2.3 3 Sep 2024").unwrap();
        assert!(!git.windows && !git.may_lack_hostname_check());
        assert!(SshVersion::parse("OpenSSH_9.6p1 Ubuntu-3ubuntu13").is_some_and(|v| !v.may_lack_hostname_check()));
        assert_eq!(SshVersion::parse("OpenSSH_10.0p2").map(|v| (v.major, v.minor)), Some((10, 0)));
        for other in ["", "plink: Release 0.81", "OpenSSH_", "OpenSSH_x.y", "OpenSSH_9", "usage: ssh [-46AaCf]"] {
            assert_eq!(SshVersion::parse(other), None, "{other}");
        }
    }

    #[test]
    fn only_the_old_windows_ssh_refuses_tokens_beyond_h_p_r() {
        let old = SshVersion { major: 7, minor: 7, windows: true };
        assert!(old.unknown_tokens("/x proxy --wildcard azml -- %h %p %r %%").is_empty());
        assert_eq!(old.unknown_tokens("/x proxy -- %n %"), ["%n", "%"]);
        let new = SshVersion { major: 9, minor: 5, windows: true };
        assert!(new.unknown_tokens("/x proxy -- %n").is_empty());
    }

    #[test]
    fn an_azml_ssh_proxycommand_is_recognised_however_its_program_is_written() {
        assert_eq!(
            azml_program("/usr/bin/azml-ssh proxy --fdpass /subscriptions/x").as_deref(),
            Some("/usr/bin/azml-ssh")
        );
        assert_eq!(
            azml_program("\"C:/Users/me x/azml-ssh.exe\" proxy --wildcard azml -- %h").as_deref(),
            Some("C:/Users/me x/azml-ssh.exe")
        );
        assert_eq!(azml_program("nc %h %p"), None);
        assert_eq!(azml_program("azml-ssh"), None);
    }

    #[test]
    fn git_for_windows_ssh_is_found_next_to_its_git_only_on_windows() {
        let root = tempfile::tempdir().unwrap();
        let git = root.path().join("cmd/git.exe");
        let ssh = root.path().join("usr/bin/ssh.exe");
        std::fs::create_dir_all(git.parent().unwrap()).unwrap();
        std::fs::create_dir_all(ssh.parent().unwrap()).unwrap();
        std::fs::write(&git, "").unwrap();
        assert_eq!(bundled_ssh(&git, Flavor::Windows), None);
        std::fs::write(&ssh, "").unwrap();
        assert_eq!(bundled_ssh(&git, Flavor::Windows), Some(ssh.clone()));
        assert_eq!(bundled_ssh(&root.path().join("mingw64/bin/git.exe"), Flavor::Windows), Some(ssh));
        assert_eq!(bundled_ssh(&git, Flavor::Posix), None);
    }
}
