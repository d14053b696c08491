//! The `config`, `add`, `remove` and `list` commands: turning parsed options into changes of the ssh setup and
//! telling the user what happened. Results go to stdout; warnings and notes to stderr.

use std::path::PathBuf;

use crate::azure::discover::{self, Discovery, Filter};
use crate::azure::resource_id::{self, ComputeId};
use crate::azure::session::{AzureOptions, Session};
use crate::cmd::{Console, Error, Kind, UsageError, block_on_within};
use crate::connect::cache::EndpointCache;
use crate::connect::names::NameIndex;
use crate::sshconf::client::{self, SshCommand, SshVersion};
use crate::sshconf::hosts::{self, Flavor, HostEntry, Launcher, Source};
use crate::sshconf::include::IncludeState;
use crate::sshconf::merge::{self, Candidate, HostSettings, Searched, Settings, Skip};
use crate::sshconf::program;
use crate::sshconf::store::{self, ConfigError, Layout, Report};
use crate::sshconf::values;
use crate::sshconf::wildcard::{WildcardChoice, WildcardState};

/// Options shared by the commands that write.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// The user's ssh config to add the Include to (`--ssh-config`); `None`: `~/.ssh/config`.
    pub ssh_config: Option<PathBuf>,
    /// The program ProxyCommand runs (`--binary`); `None`: this one, if ssh can run it.
    pub binary: Option<PathBuf>,
    /// Show the diff and write nothing.
    pub dry_run: bool,
    /// `add`: take a name the user's own config already defines.
    pub force: bool,
}

fn program(options: &WriteOptions, console: &mut Console) -> Result<Launcher, Error> {
    let choice = program::choose(options.binary.as_deref())?;
    for warning in &choice.warnings {
        console.warn(warning);
    }
    let launcher = Launcher::new(&choice.path, Flavor::native())?;
    if let Some(version) = requoting_ssh(&launcher, client::on_path) {
        console.warn(format_args!(
            "the ssh on PATH is Windows OpenSSH {}.{}, which cannot start the ProxyCommand written (its program is double-quoted): {}",
            version.major,
            version.minor,
            client::FIX_OLD_WINDOWS_SSH
        ));
    }
    Ok(launcher)
}

/// The version of `ssh` (the one on PATH, asked only when it matters) when it is Windows' own 7.7, which
/// re-quotes a double-quoted ProxyCommand program, and `launcher` writes one.
fn requoting_ssh(launcher: &Launcher, ssh: impl FnOnce() -> Option<SshCommand>) -> Option<SshVersion> {
    if launcher.flavor != Flavor::Windows || !launcher.program.starts_with('"') {
        return None;
    }
    let version = SshVersion::parse(&client::version_line(&ssh()?).ok()?)?;
    version.requotes_quoted_program().then_some(version)
}

fn layout(options: &WriteOptions) -> Result<Layout, Error> {
    Ok(Layout::new(options.ssh_config.as_deref())?)
}

/// Shows a report: the diff in a dry run, otherwise which files changed.
fn show(report: &Report, dry_run: bool, console: &mut Console) -> Result<(), Error> {
    for note in &report.notes {
        console.note(note);
    }
    if !report.changed() {
        return console.say("Nothing to change: the ssh configuration is up to date.");
    }
    for edit in report.edits.iter().filter(|e| e.changes()) {
        if dry_run {
            write!(console.out, "{}", edit.diff()).map_err(Kind::Output)?;
        } else {
            let verb = match (&edit.before, &edit.after) {
                (None, _) => "created",
                (_, None) => "removed",
                _ => "updated",
            };
            console.say(format_args!("{verb} {}", edit.path.display()))?;
        }
    }
    if dry_run {
        console.say("(dry run: nothing was written)")?;
    }
    Ok(())
}

/// `azml-ssh add ALIAS RESOURCE_ID`: one host, by hand, for an instance discovery would not find (or under a
/// name of the user's choosing). Refuses a name the user's own config claims unless `force`.
pub fn add(
    alias: &str,
    id: &str,
    settings: &HostSettings,
    options: &WriteOptions,
    console: &mut Console,
) -> Result<(), Error> {
    values::check_alias(alias)?;
    let id: ComputeId = id.parse()?;
    let checked = Settings::check(settings)?;
    let program = program(options, console)?;
    let layout = layout(options)?;
    if let Some(found) = store::claimed_by_user(&layout, alias)? {
        if !options.force {
            return Err(ConfigError::Shadows { alias: alias.to_owned(), found }.into());
        }
        console.warn(format_args!("{found}; azml-ssh's Include comes first, so that entry stops applying"));
    }
    let report = store::update_hosts(&layout, &program, true, options.dry_run, |file| {
        let entries = &mut file.entries;
        let previous = entries.iter().position(|e| e.alias == alias).map(|i| entries.remove(i));
        let mut entry = HostEntry {
            alias: alias.to_owned(),
            id: id.clone(),
            user: hosts::DEFAULT_USER.to_owned(),
            identity_file: None,
            options: Vec::new(),
            source: Source::Added,
        };
        checked.apply(&mut entry, previous.as_ref());
        entries.push(entry);
        Ok(Vec::new())
    })?;
    show(&report, options.dry_run, console)?;
    if !options.dry_run && report.changed() {
        console.say(format_args!("ssh {alias} now reaches compute {} in workspace {}.", id.compute, id.workspace))?;
    }
    Ok(())
}

/// `azml-ssh remove ALIAS`: takes one host out of azml-ssh's file.
pub fn remove(alias: &str, options: &WriteOptions, console: &mut Console) -> Result<(), Error> {
    let layout = layout(options)?;
    let program = program(options, console)?;
    let include_file = layout.include_file.display().to_string();
    let report = store::update_hosts(&layout, &program, false, options.dry_run, |file| {
        let before = file.entries.len();
        file.entries.retain(|e| e.alias != alias);
        if file.entries.len() == before {
            return Err(ConfigError::NoSuchHost { alias: alias.to_owned(), file: include_file });
        }
        Ok(Vec::new())
    })?;
    show(&report, options.dry_run, console)
}

/// `azml-ssh list`: the configured hosts, and whether the user's config includes them for every host.
pub fn list(ssh_config: Option<PathBuf>, json: bool, console: &mut Console) -> Result<(), Error> {
    let layout = Layout::new(ssh_config.as_deref())?;
    let file = store::read_file(&layout)?;
    let mut entries = file.entries;
    entries.sort_by(|a, b| a.alias.cmp(&b.alias));
    let include = store::include_state(&layout);
    if json {
        let hosts: Vec<ListedHost> = entries.iter().map(ListedHost::from).collect();
        let wildcard = match &file.wildcard {
            WildcardState::On(w) => Some(w.suffix.as_str().to_owned()),
            _ => None,
        };
        let included = matches!(include, Ok(IncludeState::Effective { .. }));
        return console.say_versioned(&ListJson { hosts, wildcard_suffix: wildcard, included });
    }
    if entries.is_empty() {
        return console.say("No hosts configured yet: run `azml-ssh config` or `azml-ssh add <alias> <resource-id>`.");
    }
    list_table(&entries, console)?;
    if let WildcardState::On(w) = file.wildcard {
        let s = w.suffix.as_str();
        console
            .note(format_args!("any other instance by name: ssh NAME.{s} or NAME.WORKSPACE.{s} (the wildcard host)"));
    }
    match include {
        Ok(IncludeState::Effective { .. }) => {}
        Ok(_) => console.note(format_args!(
            "{} does not include {} for every host; run `azml-ssh config` to fix that",
            layout.user_config.display(),
            layout.include_file.display()
        )),
        Err(e) => console.note(e),
    }
    Ok(())
}

/// What `list --json` prints.
#[derive(Debug, serde::Serialize)]
struct ListJson {
    hosts: Vec<ListedHost>,
    /// The wildcard host's suffix (`azml`), or `null` when it is off.
    wildcard_suffix: Option<String>,
    /// Whether `~/.ssh/config` includes azml-ssh's file so that it applies to every host.
    included: bool,
}

/// One host of azml-ssh's file.
#[derive(Debug, serde::Serialize)]
struct ListedHost {
    alias: String,
    resource_id: String,
    name: String,
    workspace: String,
    resource_group: String,
    subscription: String,
    user: String,
    identity_file: Option<String>,
    /// Which command wrote it: `config` or `add`.
    source: &'static str,
}

impl From<&HostEntry> for ListedHost {
    fn from(e: &HostEntry) -> Self {
        ListedHost {
            alias: e.alias.clone(),
            resource_id: e.id.to_string(),
            name: e.id.compute.clone(),
            workspace: e.id.workspace.clone(),
            resource_group: e.id.resource_group.clone(),
            subscription: e.id.subscription.clone(),
            user: e.user.clone(),
            identity_file: e.identity_file.as_ref().map(|p| p.display().to_string()),
            source: source_name(e.source),
        }
    }
}

fn source_name(source: Source) -> &'static str {
    match source {
        Source::Added => "add",
        Source::Discovered => "config",
    }
}

fn list_table(entries: &[HostEntry], console: &mut Console) -> Result<(), Error> {
    let mut rows = vec![["HOST", "COMPUTE", "WORKSPACE", "RESOURCE GROUP", "USER", "SOURCE"].map(String::from)];
    for e in entries {
        rows.push(
            [&e.alias, &e.id.compute, &e.id.workspace, &e.id.resource_group, &e.user, source_name(e.source)]
                .map(crate::util::text::visible),
        );
    }
    let widths: Vec<usize> = (0..6).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    for row in &rows {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:w$}")).collect();
        console.say(line.join("  ").trim_end())?;
    }
    Ok(())
}

/// `azml-ssh config`: what to search and how to name what is found.
#[derive(Clone, Debug, Default)]
pub struct Discover {
    /// Only these subscriptions (`--subscription`); empty: every one the account can see, in every tenant.
    pub subscriptions: Vec<String>,
    /// Only this resource group (`--resource-group`).
    pub resource_group: Option<String>,
    /// Only this workspace (`--workspace`).
    pub workspace: Option<String>,
    /// Every instance, not only those assigned to (or created by) the signed-in user (`--all`).
    pub all: bool,
    /// Put before each compute name to make its alias (`--prefix`).
    pub prefix: String,
    /// Succeed even when some lists failed (their hosts are kept either way).
    pub keep_going: bool,
    /// The wildcard host (`--wildcard SUFFIX`, `--no-wildcard`).
    pub wildcard: WildcardChoice,
}

impl Discover {
    /// What discovery searches.
    fn filter(&self) -> Filter {
        Filter {
            subscriptions: self.subscriptions.clone(),
            resource_group: self.resource_group.clone(),
            workspace: self.workspace.clone(),
            mine_only: !self.all,
        }
    }
}

/// Checks the search scope with the same rules as resource IDs, before anything goes over the network.
fn check_scope(d: &Discover) -> Result<(), UsageError> {
    if let Some(sub) = d.subscriptions.iter().find(|sub| resource_id::check_subscription(sub).is_err()) {
        return Err(UsageError::Subscription(sub.clone()));
    }
    if let Some(rg) = d.resource_group.as_ref().filter(|rg| resource_id::check_resource_group(rg).is_err()) {
        return Err(UsageError::ResourceGroup(rg.clone()));
    }
    if let Some(ws) = d.workspace.as_ref().filter(|ws| resource_id::check_workspace_name(ws).is_err()) {
        return Err(UsageError::Workspace(ws.clone()));
    }
    if !d.prefix.is_empty() && values::check_alias(&format!("{}x", d.prefix)).is_err() {
        return Err(UsageError::Prefix(d.prefix.clone()));
    }
    Ok(())
}

/// What the user learns about a discovery: what it skipped and could not list, and why an instance got no host.
fn discovery_notes(discovery: &Discovery, skips: &[Skip], none_found: bool, all: bool) -> Vec<String> {
    let mut notes = discovery.warnings.clone();
    notes.extend(discovery.failed.iter().map(|f| format!("could not list {f}; its hosts are kept as they were")));
    notes.extend(skips.iter().map(ToString::to_string));
    if none_found {
        let whose = if all { "" } else { " assigned to you (use --all for every instance)" };
        notes.push(format!("no compute instances{whose} were found"));
    }
    notes
}

/// `azml-ssh config`: discovers the instances (assigned to the signed-in user, or all with `--all`) and writes
/// one host for each, keeping what it did not search and what it could not list.
pub fn config(
    d: &Discover,
    settings: &HostSettings,
    azure: &AzureOptions,
    options: &WriteOptions,
    console: &mut Console,
) -> Result<(), Error> {
    check_scope(d)?;
    let checked = Settings::check(settings)?;
    let program = program(options, console)?;
    let layout = layout(options)?;

    let filter = d.filter();
    let session = Session::new(azure, azure.deadline())?;
    let discovery = block_on_within(session.deadline(), "listing compute instances", async {
        Ok(discover::discover(&session, &filter).await?)
    })?;

    let candidates: Vec<Candidate> = discovery.found.iter().map(Candidate::from).collect();
    let (found, skips) = merge::hosts_for(&candidates, &d.prefix, &checked, &store::user_hosts(&layout)?);
    let mut notes = discovery_notes(&discovery, &skips, found.is_empty(), d.all);
    let searched = Searched::by(&discovery, &filter);
    let aliases: Vec<String> = found.iter().map(|e| e.alias.clone()).collect();
    let mut known: Vec<ComputeId> = discovery.found.iter().map(|f| f.id.clone()).collect();
    let mut wildcard = None;
    let report = store::update_hosts(&layout, &program, true, options.dry_run, |file| {
        let skips = merge::merge(&mut file.entries, found, &searched, &checked);
        notes.extend(skips.iter().map(ToString::to_string));
        file.wildcard = checked.wildcard(&d.wildcard, &file.wildcard, &file.entries);
        known.extend(file.entries.iter().map(|e| e.id.clone()));
        if let WildcardState::On(w) = &file.wildcard {
            wildcard = Some(w.suffix.clone());
        }
        Ok(notes)
    })?;
    // What the wildcard host's proxy looks names up in before it searches: this run's scope and everything known.
    if let (false, Some(cache)) = (options.dry_run, EndpointCache::open_default()) {
        NameIndex::new(&filter, &known).store(&cache);
    }
    show(&report, options.dry_run, console)?;
    if !options.dry_run && !aliases.is_empty() {
        console.say(format_args!("Hosts: {}", aliases.join(", ")))?;
    }
    if let (false, Some(suffix)) = (options.dry_run, wildcard) {
        let s = suffix.as_str();
        console.say(format_args!("Any instance by name: ssh NAME.{s} or NAME.WORKSPACE.{s}"))?;
        console.say(format_args!(
            "A training job's node: ssh JOB.job.{s} or N.JOB.job.{s} (`azml-ssh jobs` lists them)"
        ))?;
    }
    match discovery.failed.len() {
        0 => Ok(()),
        _ if d.keep_going => Ok(()),
        failed => Err(Kind::Incomplete { failed }.into()),
    }
}

/// `azml-ssh config --remove`: takes out the Include line and azml-ssh's file, leaving the user's config as it
/// was.
pub fn config_remove(options: &WriteOptions, console: &mut Console) -> Result<(), Error> {
    let layout = layout(options)?;
    let report = store::remove_all(&layout, options.dry_run)?;
    if let (false, Some(cache)) = (options.dry_run, EndpointCache::open_default()) {
        NameIndex::remove(&cache);
    }
    show(&report, options.dry_run, console)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake ssh whose `-V` says `version`, as the one on PATH.
    fn ssh(dir: &std::path::Path, name: &str, version: &str) -> SshCommand {
        use std::os::unix::fs::PermissionsExt;
        let program = dir.join(name);
        std::fs::write(&program, format!("#!/bin/sh\necho '{version}' >&2\n")).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        SshCommand { program, args: Vec::new(), origins: vec![client::Origin::Path] }
    }

    #[test]
    fn a_quoted_program_for_windows_7_7_is_warned_about_and_nothing_else_is() {
        let dir = tempfile::tempdir().unwrap();
        let old = ssh(dir.path(), "ssh77", "OpenSSH_for_Windows_7.7p1, LibreSSL 2.6.5");
        let new = ssh(dir.path(), "ssh81", "OpenSSH_for_Windows_8.1p1, LibreSSL 3.0.2");
        let quoted = Launcher { program: "\"C:/Users/me x/azml-ssh.exe\"".into(), flavor: Flavor::Windows };
        let plain = Launcher { program: "C:/Users/me/azml-ssh.exe".into(), flavor: Flavor::Windows };
        let found = requoting_ssh(&quoted, || Some(old.clone()));
        assert_eq!(found.map(|v| (v.major, v.minor)), Some((7, 7)));
        assert_eq!(requoting_ssh(&quoted, || Some(new.clone())), None);
        assert_eq!(requoting_ssh(&quoted, || None), None, "no ssh on PATH: nothing to say");
        assert_eq!(requoting_ssh(&plain, || panic!("not asked: nothing quoted")), None);
        let posix = Launcher { program: "'/x y/azml-ssh'".into(), flavor: Flavor::Posix };
        assert_eq!(requoting_ssh(&posix, || panic!("not asked on Unix")), None);
    }
}
