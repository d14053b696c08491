//! `azml-ssh doctor`: proves, item by item, that `ssh <alias>` will work — and for every item that fails, says
//! the one thing to do about it. It asks the real tools (`ssh -G`, `ssh-keygen`) rather than re-implementing
//! them, so it sees what ssh will see.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use crate::compute::{ComputeState, StateClass};
use crate::configure::{self, Layout};
use crate::hosts::HostEntry;
use crate::resolve::{self, AzureOptions, Endpoint, Transport};
use crate::sshconfig::IncludeState;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// Worth knowing, not a reason for ssh to fail.
    Warn,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub item: String,
    pub verdict: Verdict,
    pub detail: String,
    pub fix: Option<String>,
}

struct Report {
    checks: Vec<Check>,
}

impl Report {
    fn pass(&mut self, item: &str, detail: impl Into<String>) {
        self.checks.push(Check { item: item.into(), verdict: Verdict::Pass, detail: detail.into(), fix: None });
    }
    fn fail(&mut self, item: &str, detail: impl Into<String>, fix: impl Into<String>) {
        self.checks.push(Check {
            item: item.into(),
            verdict: Verdict::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        });
    }
    fn warn(&mut self, item: &str, detail: impl Into<String>, fix: impl Into<String>) {
        self.checks.push(Check {
            item: item.into(),
            verdict: Verdict::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        });
    }
}

/// `ssh -G` output as key → values (keys lower-case, as ssh prints them).
fn ssh_g(config: Option<&Path>, alias: &str) -> Result<Vec<(String, String)>, String> {
    let mut cmd = Command::new("ssh");
    if let Some(config) = config {
        cmd.arg("-F").arg(config);
    }
    let out = cmd.arg("-G").arg(alias).output().map_err(|e| format!("cannot run ssh -G: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect())
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

/// The public key (type and base64) of a private key file, through ssh-keygen.
fn public_key_of(private: &Path) -> Option<String> {
    let out = Command::new("ssh-keygen").arg("-y").arg("-f").arg(private).output().ok()?;
    out.status.success().then(|| key_fields(&String::from_utf8_lossy(&out.stdout)))
}

/// "type base64" of an OpenSSH public key line, without the comment.
fn key_fields(line: &str) -> String {
    line.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// Reads an SSH banner from `addr`.
fn banner(addr: SocketAddr) -> Result<String, String> {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    let mut buffer = [0u8; 256];
    let n = stream.read(&mut buffer).map_err(|e| format!("no answer: {e}"))?;
    let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
    match text.lines().next() {
        Some(line) if line.starts_with("SSH-2.0-") => Ok(line.trim().to_owned()),
        _ => Err(format!("it answered, but not with an SSH banner ({:?})", text.chars().take(40).collect::<String>())),
    }
}

/// VS Code's `remote.SSH.connectTimeout` from the user's settings.json (which may hold comments).
fn vscode_connect_timeout(home: &Path) -> Option<(PathBuf, Option<u64>)> {
    let candidates = [
        home.join(".config/Code/User/settings.json"),
        home.join("Library/Application Support/Code/User/settings.json"),
        home.join(".config/Code - Insiders/User/settings.json"),
    ];
    let path = candidates.into_iter().find(|p| p.is_file())?;
    let text = std::fs::read_to_string(&path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&strip_jsonc(&text)).ok()?;
    Some((path, json.get("remote.SSH.connectTimeout").and_then(serde_json::Value::as_u64)))
}

/// JSON with comments and trailing commas (VS Code's settings format) → JSON.
fn strip_jsonc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                while chars.next().is_some_and(|c| c != '\n') {}
                out.push('\n');
            }
            ('/', Some('*')) => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            _ => out.push(c),
        }
    }
    // Trailing commas before } or ].
    let mut cleaned = String::with_capacity(out.len());
    let bytes: Vec<char> = out.chars().collect();
    for (i, &c) in bytes.iter().enumerate() {
        if c == ',' && bytes[i + 1..].iter().find(|c| !c.is_whitespace()).is_some_and(|n| *n == '}' || *n == ']') {
            continue;
        }
        cleaned.push(c);
    }
    cleaned
}

/// Runs every check for `alias` (or every configured host) and prints the checklist. Returns whether all
/// required checks passed.
pub fn doctor(
    alias: Option<&str>,
    ssh_config: Option<&Path>,
    azure: &AzureOptions,
    json: bool,
) -> Result<bool, String> {
    let layout = Layout::new(ssh_config).map_err(|e| e.to_string())?;
    let mut report = Report { checks: Vec::new() };

    match Command::new("ssh").arg("-V").output() {
        Ok(out) => report.pass("ssh client", String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        Err(_) => report.fail("ssh client", "no `ssh` on PATH", "install the OpenSSH client"),
    }

    let entries = configure::read_entries(&layout).map_err(|e| e.to_string())?;
    let targets: Vec<&HostEntry> = match alias {
        Some(a) => entries.iter().filter(|e| e.alias == a).collect(),
        None => entries.iter().collect(),
    };
    if targets.is_empty() {
        let what = alias.map_or("no hosts are configured".to_owned(), |a| format!("{a} is not a configured host"));
        report.fail("hosts", what, "run `azml-ssh config` (or `azml-ssh add <alias> <resource-id>`)");
    }
    match configure::include_state(&layout) {
        Ok(IncludeState::Effective { line }) => report.pass(
            "Include",
            format!("{} line {line} includes {}", layout.user_config.display(), layout.include_file.display()),
        ),
        Ok(_) => report.fail(
            "Include",
            format!(
                "{} does not include {} for every host",
                layout.user_config.display(),
                layout.include_file.display()
            ),
            "run `azml-ssh config` (it adds the Include line before your first Host block)",
        ),
        Err(e) => report.fail("Include", e.to_string(), "fix the file named above"),
    }

    let user_config = layout.user_config.clone();
    let home = layout.home.clone();
    let session = crate::runtime::block_on(resolve::session(azure)).map_err(|e| e.to_string())?;
    let arm = match session {
        Ok(arm) => {
            let token = arm.token();
            let account = ["upn", "unique_name", "preferred_username", "appid"].iter().find_map(|c| token.claim(c));
            report.pass(
                "sign-in",
                format!(
                    "{} works: account {}, tenant {}",
                    token.method,
                    account.as_deref().unwrap_or("unknown"),
                    token.claim("tid").as_deref().unwrap_or("unknown")
                ),
            );
            Some(arm)
        }
        Err(e) => {
            report.fail(
                "sign-in",
                e.to_string(),
                "run `az login` (or see `azml-ssh proxy --help` for other credentials)",
            );
            None
        }
    };

    for entry in targets {
        let a = &entry.alias;
        let settings = match ssh_g(Some(&user_config).filter(|p| p.exists()).map(PathBuf::as_path), a) {
            Ok(settings) => settings,
            Err(e) => {
                report.fail(&format!("{a}: ssh -G"), e, "fix the ssh config error above");
                continue;
            }
        };
        let proxy = value(&settings, "proxycommand").unwrap_or("none");
        if proxy.contains(" proxy ") && proxy.contains(&entry.id.to_string()) {
            report.pass(&format!("{a}: effective config"), format!("ssh uses ProxyCommand {proxy}"));
        } else {
            report.fail(
                &format!("{a}: effective config"),
                format!("ssh uses ProxyCommand {proxy}, not azml-ssh's"),
                "an earlier Host or Match block (often `Host *`) sets it first: move that block below azml-ssh's Include line, or run `azml-ssh config`",
            );
        }
        let program = crate::sshconfig::split_args(proxy).into_iter().next().unwrap_or_default();
        match Command::new(&program).arg("--version").output() {
            Ok(out)
                if String::from_utf8_lossy(&out.stdout).trim() == concat!("azml-ssh ", env!("CARGO_PKG_VERSION")) =>
            {
                report.pass(&format!("{a}: program"), format!("{program} is this version"))
            }
            Ok(out) => report.warn(
                &format!("{a}: program"),
                format!("{program} is {}", String::from_utf8_lossy(&out.stdout).trim()),
                "run `azml-ssh config` with the azml-ssh you mean to use",
            ),
            Err(e) => report.fail(
                &format!("{a}: program"),
                format!("{program}: {e}"),
                "run `azml-ssh config` again (or pass --binary)",
            ),
        }

        let compute = match &arm {
            Some(arm) => match crate::runtime::block_on(arm.get_compute(&entry.id)).map_err(|e| e.to_string())? {
                Ok(compute) => Some(compute),
                Err(e) => {
                    report.fail(
                        &format!("{a}: instance"),
                        e.to_string(),
                        "check the resource ID (`azml-ssh list`) and your access",
                    );
                    None
                }
            },
            None => None,
        };
        let instance = compute.as_ref().and_then(|c| c.instance().ok());
        if let (Some(compute), Some(instance)) = (&compute, &instance) {
            let state = ComputeState::parse(instance.state.as_deref().unwrap_or("Unknown"));
            let transport = match resolve::choose_endpoint(&entry.id, compute, Transport::Auto) {
                Ok(endpoint) => endpoint.transport_name().to_owned(),
                Err(_) => "unknown until it runs".into(),
            };
            if state.class() == StateClass::Connectable {
                report.pass(&format!("{a}: instance"), format!("{state}, transport {transport}"));
            } else {
                let why = instance
                    .last_operation
                    .as_ref()
                    .and_then(|l| l.operation_trigger.clone())
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default();
                report.fail(
                    &format!("{a}: instance"),
                    format!("{state}{why}"),
                    format!("`azml-ssh start {a} --wait` (connecting starts it too, if VS Code waits long enough)"),
                );
            }
            if state.class() == StateClass::Connectable {
                match resolve::choose_endpoint(&entry.id, compute, Transport::Auto) {
                    Ok(Endpoint::Direct { address }) => match banner(address) {
                        Ok(line) => report.pass(&format!("{a}: SSH banner"), format!("{address} says {line}")),
                        Err(e) => report.fail(
                            &format!("{a}: SSH banner"),
                            format!("{address}: {e}"),
                            "sshd on the instance is not answering: restart the instance (`azml-ssh stop` then `start`), or check firewalls/VPN",
                        ),
                    },
                    Ok(Endpoint::Tunnel { gateway }) => {
                        let token = arm.as_ref().map(|arm| arm.token().secret().to_owned()).unwrap_or_default();
                        let probe = crate::runtime::block_on(crate::tunnel::probe_banner(&gateway, &token))
                            .map_err(|e| e.to_string())?;
                        let place = format!("the tunnel at {}:{}", gateway.host, gateway.port);
                        match probe {
                            Ok(line) => report.pass(&format!("{a}: SSH banner"), format!("{place} says {line}")),
                            Err(e) => report.fail(
                                &format!("{a}: SSH banner"),
                                format!("{place}: {e}"),
                                "the instance's sshd does not answer through the gateway: restart the instance, or check proxies and private-endpoint DNS",
                            ),
                        }
                    }
                    Err(e) => report.fail(&format!("{a}: SSH banner"), e.to_string(), "see the message"),
                }
            }
        }

        let key =
            entry.identity_file.clone().or_else(|| value(&settings, "identityfile").map(|p| expand_home(p, &home)));
        match key {
            None => report.warn(&format!("{a}: key"), "no IdentityFile", "pass --identity-file to `azml-ssh config`"),
            Some(key) if !key.exists() => report.fail(
                &format!("{a}: key"),
                format!("{} does not exist", key.display()),
                "point --identity-file at the private key you created the instance with",
            ),
            Some(key) => {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&key).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
                if mode & 0o077 != 0 {
                    report.fail(
                        &format!("{a}: key"),
                        format!("{} has mode {mode:o}; ssh ignores keys others can read", key.display()),
                        format!("chmod 600 {}", key.display()),
                    );
                } else {
                    let admin = instance
                        .as_ref()
                        .and_then(|i| i.ssh_settings.as_ref())
                        .and_then(|s| s.admin_public_key.clone());
                    match (public_key_of(&key), admin) {
                        (Some(ours), Some(theirs)) if ours == key_fields(&theirs) => report.pass(
                            &format!("{a}: key"),
                            format!("{} matches the instance's adminPublicKey", key.display()),
                        ),
                        (Some(_), Some(_)) => report.fail(
                            &format!("{a}: key"),
                            format!("{} is not the key the instance trusts (adminPublicKey)", key.display()),
                            "use the private key whose public half was given when the instance was created",
                        ),
                        _ => report.pass(&format!("{a}: key"), format!("{} exists and is private", key.display())),
                    }
                }
            }
        }

        let alias_key = value(&settings, "hostkeyalias").unwrap_or(a).to_owned();
        let files = value(&settings, "userknownhostsfile").unwrap_or("~/.ssh/known_hosts").to_owned();
        let known = files.split_whitespace().map(|f| expand_home(f, &home)).any(|f| {
            Command::new("ssh-keygen")
                .arg("-F")
                .arg(&alias_key)
                .arg("-f")
                .arg(&f)
                .output()
                .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
        });
        if known {
            report.pass(&format!("{a}: known_hosts"), format!("has a key for {alias_key}"));
        } else {
            report.warn(
                &format!("{a}: known_hosts"),
                format!("no key for {alias_key} yet"),
                "the first connection asks you to confirm the host key",
            );
        }
    }

    match vscode_connect_timeout(&home) {
        Some((_, Some(t))) if t >= 120 => report.pass("VS Code", format!("remote.SSH.connectTimeout is {t} s")),
        Some((path, t)) => report.warn(
            "VS Code",
            format!(
                "remote.SSH.connectTimeout is {} s in {}: too short to wait for a start",
                t.unwrap_or(15),
                path.display()
            ),
            "set \"remote.SSH.connectTimeout\": 600 in VS Code's settings.json",
        ),
        None => {}
    }

    let ok = report.checks.iter().all(|c| c.verdict != Verdict::Fail);
    if json {
        println!("{}", serde_json::to_string_pretty(&report.checks).map_err(|e| e.to_string())?);
    } else {
        for c in &report.checks {
            let mark = match c.verdict {
                Verdict::Pass => "✔",
                Verdict::Fail => "✘",
                Verdict::Warn => "!",
            };
            println!("{mark} {}: {}", c.item, c.detail);
            if let (Some(fix), false) = (&c.fix, c.verdict == Verdict::Pass) {
                println!("    fix: {fix}");
            }
        }
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonc_comments_and_trailing_commas_are_removed() {
        let text = "{\n // a comment\n \"a\": \"http://x\", /* block */ \"remote.SSH.connectTimeout\": 60,\n}";
        let json: serde_json::Value = serde_json::from_str(&strip_jsonc(text)).unwrap();
        assert_eq!(json["a"], "http://x");
        assert_eq!(json["remote.SSH.connectTimeout"], 60);
    }
}
