//! Doctor's checks of the ssh programs the user's tools run (the one on PATH, VS Code's `remote.SSH.path`, git's):
//! what each is, its version, and what it makes of each configured host.

use std::path::{Path, PathBuf};

use crate::cmd::doctor::report::{Check, fail, pass, warn};
use crate::sshconf::client::{self, ClientError, Missing, Origin, SshCommand, SshVersion};
use crate::sshconf::flavor::Flavor;
use crate::util::{process, text};

/// What one ssh made of one host: `ssh -G ALIAS`, or why there is none.
type Resolved = (String, Result<Vec<(String, String)>, ClientError>);

/// One ssh a tool runs, asked for its version and what it makes of each host.
pub(super) struct Asked {
    ssh: SshCommand,
    /// `ssh -V`'s first line.
    version: Result<String, process::RunError>,
    /// `ssh -G ALIAS`, by alias.
    resolved: Vec<Resolved>,
}

impl Asked {
    /// Asks `ssh` for its version, then (if it answered) what it makes of each alias, reading `config`. A program
    /// that hangs costs one time limit, not one per host.
    fn new(ssh: SshCommand, config: Option<&Path>, aliases: &[&str]) -> Self {
        let version = client::version_line(&ssh);
        let mut resolved = Vec::new();
        if version.is_ok() {
            for alias in aliases {
                let answer = client::resolve(&ssh, config, alias);
                let hung = matches!(answer, Err(ClientError::Run(process::RunError::TimedOut { .. })));
                resolved.push(((*alias).to_owned(), answer));
                if hung {
                    break;
                }
            }
        }
        Asked { ssh, version, resolved }
    }

    /// `ssh -G ALIAS` of this ssh, or why there is none.
    pub(super) fn settings(&self, alias: &str) -> Result<&[(String, String)], NoSettings<'_>> {
        match (self.resolved.iter().find(|(a, _)| a == alias), &self.version) {
            (Some((_, Ok(settings))), _) => Ok(settings),
            (Some((_, Err(e))), _) => Err(NoSettings::Resolve(e)),
            (None, Err(e)) => Err(NoSettings::Version(e)),
            (None, Ok(_)) => Err(NoSettings::NotAsked(self.ssh.program.display().to_string())),
        }
    }
}

/// Why an ssh has no `-G` answer for a host.
#[derive(Debug, thiserror::Error)]
pub(super) enum NoSettings<'a> {
    #[error(transparent)]
    Resolve(&'a ClientError),
    #[error(transparent)]
    Version(&'a process::RunError),
    #[error("{0} was not asked: it hung on an earlier host")]
    NotAsked(String),
}

/// `ssh (PATH, VS Code, git)`: the tools that run one ssh.
fn ssh_item(origins: &[Origin]) -> String {
    let mut tools: Vec<&str> = Vec::new();
    for tool in origins.iter().map(Origin::tool) {
        if !tools.contains(&tool) {
            tools.push(tool);
        }
    }
    format!("ssh ({})", tools.join(", "))
}

/// A program a tool names that does not exist.
fn check_missing(missing: &Missing) -> Check {
    let item = ssh_item(&missing.origins);
    let named = text::one_line_max(&missing.named, 200);
    match missing.origins.first() {
        Some(Origin::VsCodeSetting(file)) => fail(
            item,
            format!("remote.SSH.path in {} names {named}, which does not exist", file.display()),
            "remove \"remote.SSH.path\" from VS Code's settings.json, or point it at ssh.exe",
        ),
        Some(Origin::Path | Origin::VsCodeDefault) => {
            let fix = match Flavor::native() {
                Flavor::Windows => "add the OpenSSH client: Settings → System → Optional features → OpenSSH Client",
                Flavor::Posix => "install the OpenSSH client",
            };
            fail(item, "no `ssh` on PATH", fix)
        }
        Some(origin) => warn(
            item,
            format!("{origin} names {named}, which is not found"),
            format!("make {origin} name an ssh program (it is split into words, as git's shell would)"),
        ),
        None => fail(item, "no ssh", "install the OpenSSH client"),
    }
}

/// One finding about an ssh: whether it breaks the tool, and what to do.
struct Finding {
    breaks: bool,
    detail: String,
    fix: String,
}

/// What Windows' own 7.7 makes of the ProxyCommands it resolved: it cannot start a double-quoted program, nor a
/// line with tokens beyond `%h %p %r`.
fn old_windows_findings(asked: &Asked, version: &SshVersion) -> Option<Finding> {
    if !version.requotes_quoted_program() {
        return None;
    }
    let broken = asked.resolved.iter().find_map(|(alias, settings)| {
        let proxy = value(settings.as_ref().ok()?, "proxycommand")?;
        client::azml_program(proxy)?;
        let tokens = version.unknown_tokens(proxy);
        let why = match (proxy.starts_with('"'), tokens.is_empty()) {
            (true, _) => "its program is double-quoted".to_owned(),
            (false, false) => format!("it uses {}", tokens.join(" ")),
            (false, true) => return None,
        };
        Some(format!(
            "cannot start {alias}'s ProxyCommand ({why}; it knows only %h %p %r and re-quotes a quoted program)"
        ))
    });
    let (breaks, detail) = match broken {
        Some(detail) => (true, format!("Windows OpenSSH {}.{} {detail}", version.major, version.minor)),
        None => (
            false,
            format!(
                "Windows OpenSSH {}.{} cannot start a double-quoted ProxyCommand program or one with tokens beyond %h %p %r",
                version.major, version.minor
            ),
        ),
    };
    Some(Finding { breaks, detail, fix: client::FIX_OLD_WINDOWS_SSH.to_owned() })
}

/// Whether each host resolves to azml-ssh's ProxyCommand, run by this azml-ssh. `programs` remembers what each
/// ProxyCommand program said it is, so each is asked once.
fn resolution_findings(asked: &Asked, programs: &mut Vec<(String, String)>) -> Vec<Finding> {
    // The PATH ssh's answers are each host's own checks (effective config, program) below.
    let on_path = asked.ssh.origins.contains(&Origin::Path);
    let fix = |alias: &str| match on_path {
        true => format!("see `{alias}: effective config` below"),
        false => {
            "run `azml-ssh config` again; if this ssh reads another config file, point the tool at the ssh on PATH"
                .to_owned()
        }
    };
    let mut findings = Vec::new();
    for (alias, settings) in &asked.resolved {
        let settings = match settings {
            Ok(settings) => settings,
            Err(e) => {
                findings.push(Finding { breaks: !on_path, detail: e.to_string(), fix: fix(alias) });
                continue;
            }
        };
        let proxy = value(settings, "proxycommand").unwrap_or("none");
        let Some(program) = client::azml_program(proxy) else {
            let detail = format!("{alias} resolves to ProxyCommand {proxy}, not azml-ssh's");
            findings.push(Finding { breaks: !on_path, detail, fix: fix(alias) });
            continue;
        };
        if on_path {
            continue;
        }
        let says = match programs.iter().find(|(p, _)| *p == program) {
            Some((_, says)) => says.clone(),
            None => {
                let says = match other_version(&program) {
                    Ok(None) => String::new(),
                    Ok(Some(says)) => format!("is {says}"),
                    Err(e) => e.to_string(),
                };
                programs.push((program.clone(), says.clone()));
                says
            }
        };
        if !says.is_empty() {
            let detail = format!("{alias}'s ProxyCommand runs {program}, which {says}");
            findings.push(Finding {
                breaks: false,
                detail,
                fix: "run `azml-ssh config` with the azml-ssh you mean to use".into(),
            });
        }
    }
    findings
}

/// What `ssh -V` says of this ssh: Windows' 7.7, or (on Unix) an OpenSSH that may not check host names.
fn version_findings(asked: &Asked, line: &str) -> Vec<Finding> {
    let Some(version) = SshVersion::parse(line) else {
        return vec![Finding {
            breaks: false,
            detail: format!("`-V` says {}, which is not OpenSSH's version", text::one_line_max(line, 200)),
            fix: "azml-ssh is made for OpenSSH; point the tool at OpenSSH's ssh".into(),
        }];
    };
    let mut findings: Vec<Finding> = old_windows_findings(asked, &version).into_iter().collect();
    if Flavor::native() == Flavor::Posix && version.may_lack_hostname_check() {
        findings.push(Finding {
            breaks: false,
            detail: "OpenSSH before 9.6 may not check the host names typed to it (CVE-2023-51385)".into(),
            fix: "upgrade OpenSSH; azml-ssh's own hosts are safe either way (its config quotes the name typed)".into(),
        });
    }
    findings
}

/// One ssh a tool runs: its version (flagging Windows' 7.7 and, on Unix, an ssh that may not check host names),
/// and whether it resolves each host to this azml-ssh's ProxyCommand.
fn check_ssh(asked: &Asked, programs: &mut Vec<(String, String)>) -> Check {
    let item = ssh_item(&asked.ssh.origins);
    let essential = asked.ssh.origins.iter().any(Origin::essential);
    // The tool's words come from settings and the environment: shown with control characters escaped.
    let words: Vec<String> =
        std::iter::once(asked.ssh.program.display().to_string()).chain(asked.ssh.args.clone()).collect();
    let words = text::one_line_max(&words.join(" "), 300);
    let chosen_by: Vec<String> = asked
        .ssh
        .origins
        .iter()
        .filter(|o| !matches!(o, Origin::Path | Origin::VsCodeDefault | Origin::GitDefault))
        .map(ToString::to_string)
        .collect();
    let from = if chosen_by.is_empty() { String::new() } else { format!(", from {}", chosen_by.join(" and ")) };
    let line = match &asked.version {
        Ok(line) => line,
        Err(e) => {
            let detail = format!("{words} does not run: {e}");
            return match essential {
                true => fail(item, detail, "reinstall the OpenSSH client, or point the tool at one that works"),
                false => warn(item, detail, "point git at an ssh that works (GIT_SSH_COMMAND or core.sshCommand)"),
            };
        }
    };
    let mut findings = version_findings(asked, line);
    let resolution = resolution_findings(asked, programs);
    let mut detail = format!("{} ({words}{from})", text::one_line_max(line, 200));
    let aliases: Vec<&str> = asked.resolved.iter().map(|(a, _)| a.as_str()).collect();
    if resolution.is_empty() && !aliases.is_empty() {
        detail.push_str(&format!("; resolves {} to azml-ssh's ProxyCommand", aliases.join(", ")));
    }
    findings.extend(resolution);
    if findings.is_empty() {
        return pass(item, detail);
    }
    for finding in &findings {
        detail.push_str("; ");
        detail.push_str(&finding.detail);
    }
    let fix = findings.iter().map(|f| f.fix.as_str()).collect::<Vec<_>>().join("; and ");
    match findings.iter().any(|f| f.breaks) && essential {
        true => fail(item, detail, fix),
        false => warn(item, detail, fix),
    }
}

/// The ssh of every tool: what each is, and what it makes of `aliases` (reading `config`, as the per-host
/// checks do). The PATH ssh's answers come back too: the per-host checks read them.
pub(super) fn check_ssh_clients(
    vscode: Option<&(PathBuf, serde_json::Value)>,
    config: Option<&Path>,
    aliases: &[&str],
) -> (Vec<Check>, Option<Asked>) {
    let vscode_ssh = vscode.map(|(file, settings)| {
        let path = settings.get("remote.SSH.path").and_then(serde_json::Value::as_str).filter(|s| !s.is_empty());
        (file.clone(), path.map(str::to_owned))
    });
    let (found, missing) = client::find_all(vscode_ssh, Flavor::native());
    let mut checks: Vec<Check> = missing.iter().map(check_missing).collect();
    let mut programs = Vec::new();
    let mut on_path = None;
    for ssh in found {
        let asked = Asked::new(ssh, config, aliases);
        checks.push(check_ssh(&asked, &mut programs));
        if asked.ssh.origins.contains(&Origin::Path) {
            on_path = Some(asked);
        }
    }
    (checks, on_path)
}

/// A setting of `ssh -G`'s answer.
pub(super) fn value<'a>(settings: &'a [(String, String)], key: &str) -> Option<&'a str> {
    settings.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A helper program's run, bounded like every other one doctor starts.
pub(super) fn run(command: std::process::Command) -> Result<process::Output, process::RunError> {
    process::run_bounded(command, client::RUN_LIMIT, MAX_HELPER_OUTPUT)
}

/// More than ssh-keygen or `azml-ssh --version` print.
const MAX_HELPER_OUTPUT: usize = 64 << 10;

/// What `PROGRAM --version` says: `Ok(None)` when it is this azml-ssh, `Ok(Some(what it says))` when it is
/// another program or version.
pub(super) fn other_version(program: &str) -> Result<Option<String>, process::RunError> {
    let mut command = process::background(program);
    command.arg("--version");
    let out = run(command)?;
    let says = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok((says != concat!("azml-ssh ", env!("CARGO_PKG_VERSION"))).then_some(says))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::doctor::report::Verdict;

    #[test]
    fn a_missing_ssh_fails_for_vs_code_and_warns_for_git() {
        let file = PathBuf::from("/home/me/.config/Code/User/settings.json");
        let vscode = Missing { named: "/gone/ssh".into(), origins: vec![Origin::VsCodeSetting(file)] };
        let check = check_missing(&vscode);
        assert_eq!((check.item.as_str(), check.verdict), ("ssh (VS Code remote.SSH.path)", Verdict::Fail));
        assert!(check.detail.ends_with("names /gone/ssh, which does not exist"), "{}", check.detail);
        let path = Missing { named: "ssh".into(), origins: vec![Origin::Path, Origin::VsCodeDefault] };
        let check = check_missing(&path);
        assert_eq!((check.item.as_str(), check.verdict), ("ssh (PATH, VS Code)", Verdict::Fail));
        let git = Missing { named: "ssh;".into(), origins: vec![Origin::GitSshCommand] };
        let check = check_missing(&git);
        assert_eq!((check.item.as_str(), check.verdict), ("ssh (git)", Verdict::Warn));
        assert!(check.detail.contains("GIT_SSH_COMMAND names ssh;"), "{}", check.detail);
    }
}
