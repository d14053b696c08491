//! `azml-ssh doctor`: proves, item by item, that `ssh <alias>` will work — and for every item that fails, says
//! the one thing to do about it. It asks the real tools (`ssh -G`, `ssh-keygen`) rather than re-implementing
//! them, so it sees what ssh will see.
//!
//! Each `check_*` function returns `Check`s and prints nothing; `render` turns them into the checklist or JSON.

mod banner;
mod clients;
pub mod remote;
pub(crate) mod remote_report;
pub(crate) mod report;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::azure::arm::ArmClient;
use crate::azure::compute::{Instance, StateClass};
use crate::azure::credential::CredentialError;
use crate::azure::session::{AzureOptions, Session, SessionError};
use crate::cmd::{Console, Error, Outcome, block_on};
use crate::connect::cache::EndpointCache;
use crate::connect::endpoint::{self, Endpoint, Transport};
use crate::sshconf::hosts::HostEntry;
use crate::sshconf::include::IncludeState;
use crate::sshconf::store::{self, Layout};
use crate::sshconf::syntax::split_args;
use crate::transport::tunnel::{Gateway, GatewayDomains, TunnelError};
use crate::util::{process, text, vscode};
use banner::{BannerError, Report, Route};

use clients::{check_ssh_clients, other_version, run, value};
use report::{Check, Verdict, fail, pass, render, warn};

fn expand_home(path: &str, home: &Path) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(path),
    }
}

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

/// Every check for `alias` (or every configured host).
async fn checks(alias: Option<&str>, layout: &Layout, azure: &AzureOptions) -> Result<Vec<Check>, Error> {
    let entries = store::read_entries(layout)?;
    let targets: Vec<&HostEntry> = entries.iter().filter(|e| alias.is_none_or(|a| e.alias == a)).collect();
    let user_config = Some(layout.user_config.as_path()).filter(|p| p.exists());
    let vscode = vscode::read_settings(&vscode::settings_candidates(&layout.home));
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
        let check = |candidates: &[PathBuf]| check_vscode(vscode::read_settings(candidates).as_ref());
        assert!(check(&candidates).is_none(), "no VS Code, no check");
        std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
        std::fs::write(&settings, "{ // mine\n \"remote.SSH.connectTimeout\": 30, }").unwrap();
        assert_eq!(check(&candidates).map(|c| c.verdict), Some(Verdict::Warn));
        std::fs::write(&settings, "{\"remote.SSH.connectTimeout\": 600}").unwrap();
        assert_eq!(check(&candidates).map(|c| c.verdict), Some(Verdict::Pass));
    }
}
