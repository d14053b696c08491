//! `azml-ssh doctor`: proves, item by item, that `ssh <alias>` will work — and for every item that fails, says
//! the one thing to do about it. It asks the real tools (`ssh -G`, `ssh-keygen`) rather than re-implementing
//! them, so it sees what ssh will see.
//!
//! Each `check_*` function returns `Check`s and prints nothing; `render` turns them into the checklist or JSON.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::azure::arm::ArmClient;
use crate::azure::compute::{Instance, StateClass};
use crate::azure::credential::CredentialError;
use crate::azure::session::{AzureOptions, Session, SessionError};
use crate::cmd::{Console, Error, Outcome, block_on};
use crate::connect::cache::EndpointCache;
use crate::connect::endpoint::{self, Endpoint, Transport};
use crate::sshconf::client::{self, ClientError, Missing, Origin, SshCommand, SshVersion};
use crate::sshconf::flavor::Flavor;
use crate::sshconf::hosts::HostEntry;
use crate::sshconf::include::{IncludeState, split_args};
use crate::sshconf::store::{self, Layout};
use crate::transport::banner::{self, BannerError, Report, Route};
use crate::transport::tunnel::{Gateway, GatewayDomains, TunnelError};
use crate::util::{dirs, process, text};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verdict {
    Pass,
    Fail,
    /// Worth knowing, not a reason for ssh to fail.
    Warn,
}

#[derive(Debug, Serialize)]
pub(crate) struct Check {
    pub item: String,
    pub verdict: Verdict,
    pub detail: String,
    pub fix: Option<String>,
}

fn pass(item: impl Into<String>, detail: impl Into<String>) -> Check {
    Check { item: item.into(), verdict: Verdict::Pass, detail: detail.into(), fix: None }
}

fn fail(item: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check { item: item.into(), verdict: Verdict::Fail, detail: detail.into(), fix: Some(fix.into()) }
}

fn warn(item: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check { item: item.into(), verdict: Verdict::Warn, detail: detail.into(), fix: Some(fix.into()) }
}

fn value<'a>(settings: &'a [(String, String)], key: &str) -> Option<&'a str> {
    settings.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn expand_home(path: &str, home: &Path) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(path),
    }
}

/// A helper program's run, bounded like every other one doctor starts.
fn run(command: std::process::Command) -> Result<process::Output, process::RunError> {
    process::run_bounded(command, client::RUN_LIMIT, MAX_HELPER_OUTPUT)
}

/// More than ssh-keygen or `azml-ssh --version` print.
const MAX_HELPER_OUTPUT: usize = 64 << 10;

/// The public key (type and base64) of a private key file, through ssh-keygen.
fn public_key_of(private: &Path) -> Option<String> {
    let mut command = process::background("ssh-keygen");
    command.arg("-y").arg("-f").arg(private);
    let out = run(command).ok()?;
    out.status.success().then(|| key_fields(&String::from_utf8_lossy(&out.stdout)))
}

/// "type base64" of an OpenSSH public key line, without the comment.
fn key_fields(line: &str) -> String {
    line.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// More than any VS Code settings file holds.
const MAX_SETTINGS_BYTES: u64 = 4 << 20;

/// Where VS Code's user settings.json may be: the platform's place first (`%APPDATA%\Code\User` on Windows),
/// then the other known ones under the home directory.
pub(crate) fn vscode_settings_candidates(home: &Path) -> Vec<PathBuf> {
    let mut candidates: Vec<PathBuf> = dirs::vscode_settings().into_iter().collect();
    candidates.extend([
        home.join(".config/Code/User/settings.json"),
        home.join("Library/Application Support/Code/User/settings.json"),
        home.join(".config/Code - Insiders/User/settings.json"),
    ]);
    candidates
}

/// The first of `candidates` that exists, parsed (VS Code's settings may hold comments and trailing commas).
pub(crate) fn vscode_settings(candidates: &[PathBuf]) -> Option<(PathBuf, serde_json::Value)> {
    let path = candidates.iter().find(|p| p.is_file())?;
    // A settings file is small; a huge one is not VS Code's, and memory stays bounded. Whatever replaced it since
    // (a FIFO, say) is not waited on.
    let bytes = crate::util::fs::read_regular(path, MAX_SETTINGS_BYTES).ok()??;
    let json = crate::util::jsonc::parse(std::str::from_utf8(&bytes).ok()?).ok()?;
    Some((path.clone(), json))
}

/// What one ssh made of one host: `ssh -G ALIAS`, or why there is none.
type Resolved = (String, Result<Vec<(String, String)>, ClientError>);

/// One ssh a tool runs, asked for its version and what it makes of each host.
struct Asked {
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
    fn settings(&self, alias: &str) -> Result<&[(String, String)], NoSettings<'_>> {
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
enum NoSettings<'a> {
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

/// `azml-ssh config` needs a working sign-in: until then, the fixes that name it say so.
fn config_fix(signed_in: bool, what: &str) -> String {
    match signed_in {
        true => format!("run `azml-ssh config` ({what})"),
        false => format!("once signed in (see above), run `azml-ssh config` ({what})"),
    }
}

fn check_hosts(targets: &[&HostEntry], alias: Option<&str>, signed_in: bool) -> Option<Check> {
    if !targets.is_empty() {
        return None;
    }
    let what = alias.map_or("no hosts are configured".to_owned(), |a| format!("{a} is not a configured host"));
    Some(fail("hosts", what, config_fix(signed_in, "or `azml-ssh add <alias> <resource-id>`")))
}

fn check_include(layout: &Layout, signed_in: bool) -> Check {
    let (config, file) = (layout.user_config.display(), layout.include_file.display());
    if !layout.user_config.exists() {
        return fail("Include", format!("{config} does not exist yet"), config_fix(signed_in, "it creates it"));
    }
    match store::include_state(layout) {
        Ok(IncludeState::Effective { line }) => pass("Include", format!("{config} line {line} includes {file}")),
        Ok(_) => fail(
            "Include",
            format!("{config} does not include {file} for every host"),
            config_fix(signed_in, "it adds the Include line before your first Host block"),
        ),
        Err(e) => fail("Include", e.to_string(), "fix the file named above"),
    }
}

/// Signing in, within the command's `--timeout` budget (which every way of signing in that is tried shares).
async fn check_sign_in(session: &Session) -> (Check, bool) {
    let signed_in = match session.deadline().net("signing in", session.client(None)).await {
        Ok(signed_in) => signed_in,
        Err(slow) => {
            return (
                fail(
                    "sign-in",
                    slow.to_string(),
                    "run `az login` (or see `azml-ssh proxy --help` for other credentials)",
                ),
                false,
            );
        }
    };
    match signed_in {
        Ok(arm) => {
            let token = arm.token();
            let account = ["upn", "unique_name", "preferred_username", "appid"].iter().find_map(|c| token.claim(c));
            let detail = format!(
                "{} works: account {}, tenant {}",
                token.method,
                account.as_deref().unwrap_or("unknown"),
                token.claim("tid").as_deref().unwrap_or("unknown")
            );
            (pass("sign-in", detail), true)
        }
        Err(e) => {
            let fix = match &e {
                SessionError::Credential(CredentialError::NoCli { .. }) => {
                    "install the Azure CLI and run `az login`, or sign in another way: a service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET), workload identity, or `azd auth login` (see `azml-ssh proxy --help`)"
                }
                _ => "run `az login` (or see `azml-ssh proxy --help` for other credentials)",
            };
            (fail("sign-in", e.to_string(), fix), false)
        }
    }
}

fn check_effective_config(entry: &HostEntry, settings: &[(String, String)]) -> Check {
    let item = format!("{}: effective config", entry.alias);
    let proxy = value(settings, "proxycommand").unwrap_or("none");
    if proxy.contains(" proxy ") && proxy.contains(&entry.id.to_string()) {
        pass(item, format!("ssh uses ProxyCommand {proxy}"))
    } else {
        fail(
            item,
            format!("ssh uses ProxyCommand {proxy}, not azml-ssh's"),
            "an earlier Host or Match block (often `Host *`) sets it first: move that block below azml-ssh's Include line, or run `azml-ssh config`",
        )
    }
}

/// A `Host` or `Match host` line of the user's own that applies to azml-ssh's alias: ssh reads both blocks for
/// it (azml-ssh's first, so where both set an option, azml-ssh's wins and the user's other options — an agent
/// forward, say — apply to the instance too).
fn check_shadowing(alias: &str, user_hosts: &[store::UserHost]) -> Option<Check> {
    let found = user_hosts.iter().find(|h| h.covers(alias))?;
    Some(warn(
        format!("{alias}: name"),
        format!("{found}, which applies to {alias} too: ssh combines that block with azml-ssh's"),
        format!(
            "narrow that entry so it does not match {alias}, or use another alias for this instance (`azml-ssh remove {alias}`, then `azml-ssh config --prefix ...`)"
        ),
    ))
}

/// What `PROGRAM --version` says: `Ok(None)` when it is this azml-ssh, `Ok(Some(what it says))` when it is
/// another program or version.
fn other_version(program: &str) -> Result<Option<String>, process::RunError> {
    let mut command = process::background(program);
    command.arg("--version");
    let out = run(command)?;
    let says = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok((says != concat!("azml-ssh ", env!("CARGO_PKG_VERSION"))).then_some(says))
}

fn check_program(alias: &str, settings: &[(String, String)]) -> Check {
    let item = format!("{alias}: program");
    let proxy = value(settings, "proxycommand").unwrap_or("none");
    let program = split_args(proxy).into_iter().next().unwrap_or_default();
    match other_version(&program) {
        Ok(None) => pass(item, format!("{program} is this version")),
        Ok(Some(says)) => {
            warn(item, format!("{program} is {says}"), "run `azml-ssh config` with the azml-ssh you mean to use")
        }
        Err(e) => fail(item, format!("{program}: {e}"), "run `azml-ssh config` again (or pass --binary)"),
    }
}

fn check_instance(alias: &str, id: &crate::azure::resource_id::ComputeId, instance: &Instance) -> Check {
    let item = format!("{alias}: instance");
    let state = &instance.state;
    if state.class() == StateClass::Connectable {
        let transport = match endpoint::choose(id, instance, Transport::Auto) {
            Ok(endpoint) => endpoint.transport().name().to_owned(),
            Err(_) => "unknown until it runs".into(),
        };
        return pass(item, format!("{state}, transport {transport}"));
    }
    let why = instance
        .last_operation
        .as_ref()
        .and_then(|l| l.trigger.as_ref())
        .map(|t| format!(" ({})", text::visible(&t.to_string())))
        .unwrap_or_default();
    let why = match instance.errors.as_slice() {
        [] => why,
        reasons => format!("{why}; Azure says: {}", reasons.join("; ")),
    };
    fail(
        item,
        format!("{state}{why}"),
        format!("`azml-ssh start {alias} --wait` (connecting starts it too, if VS Code waits long enough)"),
    )
}

/// What to do when the tunnel does not answer: for a name that does not resolve, the private-endpoint DNS —
/// restarting the instance would not help.
fn tunnel_fix(error: &BannerError) -> &'static str {
    match error {
        BannerError::Tunnel(TunnelError::Dns { .. }) => {
            "make the workspace's private DNS visible here (VPN, private DNS server, or a hosts entry for the gateway); the instance itself may be fine"
        }
        _ => {
            "the instance's sshd does not answer through the gateway: restart the instance, or check proxies and private-endpoint DNS"
        }
    }
}

/// The SSH banner, through the transport a connection would use (and the tunnel it would fall back on); `None`
/// while the instance cannot run.
async fn check_banner(
    alias: &str,
    id: &crate::azure::resource_id::ComputeId,
    instance: &Instance,
    domains: &GatewayDomains,
    token: &str,
) -> Option<Check> {
    let item = format!("{alias}: SSH banner");
    if instance.state.class() != StateClass::Connectable {
        return None;
    }
    let endpoint = match endpoint::choose(id, instance, Transport::Auto) {
        Ok(endpoint) => endpoint,
        Err(e) => return Some(fail(item, e.to_string(), "see the message")),
    };
    let fallback = endpoint::fallback(instance, &endpoint, Transport::Auto);
    let route = match endpoint {
        Endpoint::Direct { address } => Route::Direct(address),
        Endpoint::Tunnel { gateway } => Route::Tunnel(gateway),
    };
    let report = banner::probe(&route, fallback, domains, token).await;
    Some(banner_check(item, &route, report))
}

/// The banner probes' report as a check.
fn banner_check(item: String, route: &Route, report: Report) -> Check {
    let tunnel_at = |gateway: &Gateway| format!("the tunnel at {}:{}", gateway.host, gateway.port);
    match (route, report.first, report.fallback) {
        (Route::Direct(address), Ok(line), _) => pass(item, format!("{address} says {line}")),
        (Route::Tunnel(gateway), Ok(line), _) => pass(item, format!("{} says {line}", tunnel_at(gateway))),
        (Route::Tunnel(gateway), Err(e), _) => fail(item, format!("{}: {e}", tunnel_at(gateway)), tunnel_fix(&e)),
        // What `--transport auto` does next: the tunnel, which firewalls that pass only 443 let through.
        (Route::Direct(address), Err(e), Some((gateway, Ok(line)))) => warn(
            item,
            format!(
                "{address} does not answer directly ({e}); {} says {line}, so connections use the tunnel",
                tunnel_at(&gateway)
            ),
            "nothing to do; if you expected direct connections, a firewall or VPN blocks the instance's SSH port",
        ),
        (Route::Direct(address), Err(e), Some((gateway, Err(tunnel_error)))) => fail(
            item,
            format!("{address}: {e}; {}: {tunnel_error}", tunnel_at(&gateway)),
            "sshd on the instance answers neither directly nor through the gateway: restart the instance (`azml-ssh stop` then `start`), or check firewalls, proxies and VPN",
        ),
        (Route::Direct(address), Err(e), None) => fail(
            item,
            format!("{address}: {e}"),
            "sshd on the instance is not answering: restart the instance (`azml-ssh stop` then `start`), or check firewalls/VPN",
        ),
    }
}

fn check_key(alias: &str, key: Option<PathBuf>, instance: Option<&Instance>) -> Check {
    let item = format!("{alias}: key");
    let Some(key) = key else {
        return warn(item, "no IdentityFile", "pass --identity-file to `azml-ssh config`");
    };
    if !key.exists() {
        return fail(
            item,
            format!("{} does not exist", key.display()),
            "point --identity-file at the private key you created the instance with",
        );
    }
    if let Ok(Some(how)) = crate::util::fs::others_can_read(&key) {
        return fail(
            item,
            format!("{}: {how}; ssh ignores keys others can read", key.display()),
            crate::util::fs::private_key_fix(&key),
        );
    }
    match (public_key_of(&key), instance.and_then(|i| i.admin_public_key.as_deref())) {
        (Some(ours), Some(theirs)) if ours == key_fields(theirs) => {
            pass(item, format!("{} matches the instance's adminPublicKey", key.display()))
        }
        (Some(_), Some(_)) => fail(
            item,
            format!("{} is not the key the instance trusts (adminPublicKey)", key.display()),
            "use the private key whose public half was given when the instance was created",
        ),
        _ => pass(item, format!("{} exists and is private", key.display())),
    }
}

fn check_known_hosts(alias: &str, settings: &[(String, String)], home: &Path) -> Check {
    let item = format!("{alias}: known_hosts");
    let alias_key = value(settings, "hostkeyalias").unwrap_or(alias).to_owned();
    let files = value(settings, "userknownhostsfile").unwrap_or("~/.ssh/known_hosts").to_owned();
    let known = files.split_whitespace().map(|f| expand_home(f, home)).any(|f| {
        let mut command = process::background("ssh-keygen");
        command.arg("-F").arg(&alias_key).arg("-f").arg(&f);
        run(command).is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
    });
    if known {
        pass(item, format!("has a key for {alias_key}"))
    } else {
        warn(item, format!("no key for {alias_key} yet"), "the first connection asks you to confirm the host key")
    }
}

/// VS Code's connect timeout (which ssh VS Code runs is one of the ssh checks).
fn check_vscode(vscode: Option<&(PathBuf, serde_json::Value)>) -> Option<Check> {
    let (path, settings) = vscode?;
    Some(match settings.get("remote.SSH.connectTimeout").and_then(serde_json::Value::as_u64) {
        Some(t) if t >= 120 => pass("VS Code", format!("remote.SSH.connectTimeout is {t} s")),
        t => warn(
            "VS Code",
            format!(
                "remote.SSH.connectTimeout is {} s in {}: too short to wait for a start",
                t.unwrap_or(15),
                path.display()
            ),
            "set \"remote.SSH.connectTimeout\": 600 in VS Code's settings.json",
        ),
    })
}

/// The instance behind `entry`, within what is left of the command's `--timeout` budget: a lookup that fails or
/// hangs fails this host's instance check, and the other checks still run.
async fn look_up(
    session: &Session,
    entry: &HostEntry,
    cache: Option<&EndpointCache>,
) -> Result<(Arc<ArmClient>, Instance), Error> {
    let tenant = cache.and_then(|c| c.tenant(&entry.id));
    let what = format!("looking up compute {}", entry.id.compute);
    let (arm, compute) = match session.deadline().net(what, session.get_compute(&entry.id, tenant.as_ref())).await {
        Ok(found) => found?,
        Err(timed_out) => return Err(timed_out.after_failure(session.last_failure().await).into()),
    };
    Ok((arm, endpoint::instance_of(&entry.id, &compute)?))
}

/// The instance behind `entry` and its SSH banner; the instance, for the key check.
async fn check_instance_and_banner(
    session: &Session,
    azure: &AzureOptions,
    entry: &HostEntry,
    cache: Option<&EndpointCache>,
    checks: &mut Vec<Check>,
) -> Option<Instance> {
    let a = &entry.alias;
    match look_up(session, entry, cache).await {
        Ok((arm, found)) => {
            checks.push(check_instance(a, &entry.id, &found));
            let domains = azure.cloud.gateway_domains();
            checks.extend(check_banner(a, &entry.id, &found, &domains, arm.token().secret()).await);
            Some(found)
        }
        Err(e) => {
            let fix = "check the resource ID (`azml-ssh list`) and your access";
            checks.push(fail(format!("{a}: instance"), e.to_string(), fix));
            None
        }
    }
}

/// The ssh of every tool: what each is, and what it makes of `aliases` (reading `config`, as the per-host
/// checks do). The PATH ssh's answers come back too: the per-host checks read them.
fn check_ssh_clients(
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

/// Every check for `alias` (or every configured host).
async fn checks(alias: Option<&str>, layout: &Layout, azure: &AzureOptions) -> Result<Vec<Check>, Error> {
    let entries = store::read_entries(layout)?;
    let targets: Vec<&HostEntry> = entries.iter().filter(|e| alias.is_none_or(|a| e.alias == a)).collect();
    let user_config = Some(layout.user_config.as_path()).filter(|p| p.exists());
    let vscode = vscode_settings(&vscode_settings_candidates(&layout.home));
    let aliases: Vec<&str> = targets.iter().map(|e| e.alias.as_str()).collect();
    let (mut checks, path_ssh) = check_ssh_clients(vscode.as_ref(), user_config, &aliases);
    // Sign-in next: every other fix (`azml-ssh config`) needs it.
    let session = Session::new(azure, azure.deadline())?;
    let (sign_in, signed_in) = check_sign_in(&session).await;
    checks.push(sign_in);
    checks.extend(check_hosts(&targets, alias, signed_in));
    checks.push(check_include(layout, signed_in));
    let cache = EndpointCache::open_default();

    let user_hosts = store::user_hosts(layout).unwrap_or_default();
    for entry in targets {
        let a = &entry.alias;
        checks.extend(check_shadowing(a, &user_hosts));
        let settings = match path_ssh.as_ref().map(|ssh| ssh.settings(a)) {
            Some(Ok(settings)) => settings,
            Some(Err(e)) => {
                checks.push(fail(format!("{a}: ssh -G"), e.to_string(), "fix the ssh config error above"));
                continue;
            }
            None => {
                checks.push(fail(format!("{a}: ssh -G"), "no `ssh` on PATH", "install the OpenSSH client"));
                continue;
            }
        };
        let effective = check_effective_config(entry, settings);
        // Whose program runs matters only when it is azml-ssh's ProxyCommand; otherwise that is the one failure.
        let ours = effective.verdict == Verdict::Pass;
        checks.push(effective);
        if ours {
            checks.push(check_program(a, settings));
        }
        let instance = match signed_in {
            true => check_instance_and_banner(&session, azure, entry, cache.as_ref(), &mut checks).await,
            false => None,
        };
        let key = entry
            .identity_file
            .clone()
            .or_else(|| value(settings, "identityfile").map(|p| expand_home(p, &layout.home)));
        checks.push(check_key(a, key, instance.as_ref()));
        checks.push(check_known_hosts(a, settings, &layout.home));
    }
    checks.extend(check_vscode(vscode.as_ref()));
    Ok(checks)
}

/// The checklist (or JSON) on the console's output.
pub(crate) fn render(checks: &[Check], json: bool, console: &mut Console) -> Result<(), Error> {
    if json {
        return console.say_json(&checks);
    }
    for c in checks {
        let mark = match c.verdict {
            Verdict::Pass => "✔",
            Verdict::Fail => "✘",
            Verdict::Warn => "!",
        };
        console.say(format_args!("{mark} {}: {}", c.item, c.detail))?;
        if let (Some(fix), false) = (&c.fix, c.verdict == Verdict::Pass) {
            console.say(format_args!("    fix: {fix}"))?;
        }
    }
    Ok(())
}

/// `azml-ssh doctor`: runs the checks and shows them; fails when a required check failed.
pub fn doctor(
    alias: Option<&str>,
    ssh_config: Option<&Path>,
    azure: &AzureOptions,
    json: bool,
    console: &mut Console,
) -> Result<Outcome, Error> {
    let layout = Layout::new(ssh_config)?;
    // No bound over the whole: each network step bounds itself — the sign-in and each lookup by --timeout, each
    // banner probe inside the transport — so a host that hangs costs its own checks their time, not the others'.
    let checks = block_on(checks(alias, &layout, azure))??;
    render(&checks, json, console)?;
    Ok(if checks.iter().all(|c| c.verdict != Verdict::Fail) { Outcome::Success } else { Outcome::ChecksFailed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_name_that_does_not_resolve_points_at_private_dns_not_a_restart() {
        let dns = BannerError::Tunnel(TunnelError::Dns { host: "ci1.eastus2.instances.azureml.ms".into() });
        assert!(tunnel_fix(&dns).contains("private DNS") && !tunnel_fix(&dns).contains("restart"));
        assert!(dns.to_string().contains("private endpoint"), "{dns}");
        let other = BannerError::Tunnel(TunnelError::Dead);
        assert!(tunnel_fix(&other).contains("restart"));
    }

    fn instance(properties: serde_json::Value) -> Instance {
        let doc = serde_json::json!({"properties": {"computeType": "ComputeInstance", "properties": properties}});
        serde_json::from_value::<crate::azure::compute::ComputeResource>(doc).unwrap().instance().unwrap()
    }

    fn id() -> crate::azure::resource_id::ComputeId {
        "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/ci1"
            .parse()
            .unwrap()
    }

    #[test]
    fn a_stopped_instance_fails_with_the_start_command_and_the_reason() {
        let stopped =
            instance(serde_json::json!({"state": "Stopped", "lastOperation": {"operationTrigger": "IdleShutdown"}}));
        let check = check_instance("ml1", &id(), &stopped);
        assert_eq!(check.verdict, Verdict::Fail);
        assert_eq!(check.detail, "Stopped (IdleShutdown)");
        assert!(check.fix.unwrap().starts_with("`azml-ssh start ml1 --wait`"));
        let running = instance(serde_json::json!({"state": "Running", "sshSettings": {"sshPublicAccess": "Disabled"},
            "applications": [{"displayName": "Jupyter", "endpointUri": "https://ci1.x.instances.azureml.ms/tree/"}]}));
        assert_eq!(check_instance("ml1", &id(), &running).detail, "Running, transport tunnel");
    }

    #[test]
    fn keys_others_can_read_fail_with_the_chmod_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        std::fs::write(&key, "not really a key").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let check = check_key("ml1", Some(key.clone()), None);
        assert_eq!((check.verdict, check.fix), (Verdict::Fail, Some(format!("chmod 600 {}", key.display()))));
        assert_eq!(check_key("ml1", None, None).verdict, Verdict::Warn);
        let missing = check_key("ml1", Some(dir.path().join("nope")), None);
        assert_eq!(missing.verdict, Verdict::Fail);
    }

    #[test]
    fn a_missing_config_is_called_missing_and_fixes_wait_for_sign_in() {
        let home = tempfile::tempdir().unwrap();
        let layout = Layout {
            home: home.path().to_owned(),
            user_config: home.path().join(".ssh/config"),
            include_dir: home.path().join(".ssh/azml-ssh"),
            include_file: home.path().join(".ssh/azml-ssh/config"),
        };
        let check = check_include(&layout, false);
        assert!(check.detail.ends_with("does not exist yet"), "{}", check.detail);
        assert!(check.fix.unwrap().starts_with("once signed in (see above), run `azml-ssh config`"));
        assert!(check_include(&layout, true).fix.unwrap().starts_with("run `azml-ssh config`"));
    }

    #[test]
    fn short_vscode_timeouts_are_flagged() {
        let home = tempfile::tempdir().unwrap();
        let settings = home.path().join("Code/User/settings.json");
        let candidates = [settings.clone()];
        let check = |candidates: &[PathBuf]| check_vscode(vscode_settings(candidates).as_ref());
        assert!(check(&candidates).is_none(), "no VS Code, no check");
        std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
        std::fs::write(&settings, "{ // mine\n \"remote.SSH.connectTimeout\": 30, }").unwrap();
        assert_eq!(check(&candidates).map(|c| c.verdict), Some(Verdict::Warn));
        std::fs::write(&settings, "{\"remote.SSH.connectTimeout\": 600}").unwrap();
        assert_eq!(check(&candidates).map(|c| c.verdict), Some(Verdict::Pass));
    }

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
