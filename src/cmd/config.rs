//! The `config`, `add`, `remove` and `list` commands: turning parsed options into changes of the ssh setup and
//! telling the user what happened. Results go to stdout; warnings and notes to stderr.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::azure::compute::ComputeState;
use crate::azure::discover::{self, Filter};
use crate::azure::resource_id::{self, ComputeId};
use crate::azure::session::{AzureOptions, Session};
use crate::cmd::{Console, Error, UsageError, block_on_bounded};
use crate::sshconf::hosts::{self, Flavor, HostEntry, InvalidValue, Launcher, Source};
use crate::sshconf::include::IncludeState;
use crate::sshconf::program;
use crate::sshconf::store::{self, ConfigError, Layout, Report};

/// What `--user`, `--identity-file` and `--ssh-option` say; unset fields keep what an entry had before.
#[derive(Clone, Debug, Default)]
pub struct HostSettings {
    pub user: Option<String>,
    pub identity_file: Option<PathBuf>,
    pub ssh_options: Vec<String>,
}

/// The settings, validated.
struct Checked {
    user: Option<String>,
    identity_file: Option<PathBuf>,
    options: Option<Vec<(String, String)>>,
}

fn check(settings: &HostSettings) -> Result<Checked, InvalidValue> {
    if let Some(user) = &settings.user {
        hosts::check_user(user)?;
    }
    let identity_file = match &settings.identity_file {
        Some(path) => Some(hosts::check_identity_file(path)?),
        None => None,
    };
    let options = if settings.ssh_options.is_empty() {
        None
    } else {
        Some(settings.ssh_options.iter().map(|o| hosts::parse_ssh_option(o)).collect::<Result<Vec<_>, _>>()?)
    };
    Ok(Checked { user: settings.user.clone(), identity_file, options })
}

impl Checked {
    /// Fills `entry` from these settings, falling back to `previous` (remembered from the last run).
    fn apply(&self, entry: &mut HostEntry, previous: Option<&HostEntry>) {
        // The admin user is fixed when an instance is created, so a user chosen on an earlier run stays right.
        if let Some(user) = self.user.clone().or_else(|| previous.map(|p| p.user.clone())) {
            entry.user = user;
        }
        entry.identity_file = self.identity_file.clone().or_else(|| previous.and_then(|p| p.identity_file.clone()));
        entry.options = match &self.options {
            Some(options) => options.clone(),
            None => previous.map(|p| p.options.clone()).unwrap_or_default(),
        };
    }
}

/// Options shared by the commands that write.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    pub ssh_config: Option<PathBuf>,
    pub binary: Option<PathBuf>,
    pub dry_run: bool,
    /// `add`: take a name the user's own config already defines.
    pub force: bool,
}

/// The user's own `Host` or `Match host` line that applies to `alias`, if their config (with its Includes) has
/// one: a pattern such as `Host dev-*` claims `dev-db` as much as `Host dev-db` does.
fn shadowed(layout: &Layout, alias: &str) -> Result<Option<store::UserHost>, Error> {
    Ok(store::user_hosts(layout)?.into_iter().find(|h| h.covers(alias)))
}

fn program(options: &WriteOptions, console: &mut Console) -> Result<Launcher, Error> {
    let choice = program::choose(options.binary.as_deref())?;
    for warning in &choice.warnings {
        console.warn(warning);
    }
    Ok(Launcher::new(&choice.path, Flavor::native())?)
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
            write!(console.out, "{}", edit.diff()).map_err(Error::Output)?;
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

pub fn add(
    alias: &str,
    id: &str,
    settings: &HostSettings,
    options: &WriteOptions,
    console: &mut Console,
) -> Result<(), Error> {
    hosts::check_alias(alias)?;
    let id: ComputeId = id.parse()?;
    let checked = check(settings)?;
    let program = program(options, console)?;
    let layout = layout(options)?;
    if let Some(found) = shadowed(&layout, alias)? {
        if !options.force {
            return Err(ConfigError::Shadows { alias: alias.to_owned(), found }.into());
        }
        console.warn(format_args!("{found}; azml-ssh's Include comes first, so that entry stops applying"));
    }
    let report = store::update_hosts(&layout, &program, true, options.dry_run, |entries| {
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

pub fn remove(alias: &str, options: &WriteOptions, console: &mut Console) -> Result<(), Error> {
    let layout = layout(options)?;
    let program = program(options, console)?;
    let include_file = layout.include_file.display().to_string();
    let report = store::update_hosts(&layout, &program, false, options.dry_run, |entries| {
        let before = entries.len();
        entries.retain(|e| e.alias != alias);
        if entries.len() == before {
            return Err(ConfigError::NoSuchHost { alias: alias.to_owned(), file: include_file });
        }
        Ok(Vec::new())
    })?;
    show(&report, options.dry_run, console)
}

pub fn list(ssh_config: Option<PathBuf>, console: &mut Console) -> Result<(), Error> {
    let layout = Layout::new(ssh_config.as_deref())?;
    let entries = store::read_entries(&layout)?;
    if entries.is_empty() {
        return console.say("No hosts configured yet: run `azml-ssh config` or `azml-ssh add <alias> <resource-id>`.");
    }
    let mut rows = vec![["HOST", "COMPUTE", "WORKSPACE", "RESOURCE GROUP", "USER", "SOURCE"].map(String::from)];
    let mut sorted = entries;
    sorted.sort_by(|a, b| a.alias.cmp(&b.alias));
    for e in &sorted {
        let source = match e.source {
            Source::Added => "add",
            Source::Discovered => "config",
        };
        rows.push(
            [&e.alias, &e.id.compute, &e.id.workspace, &e.id.resource_group, &e.user, source].map(|s| s.to_string()),
        );
    }
    let widths: Vec<usize> = (0..6).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    for row in &rows {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:w$}")).collect();
        console.say(line.join("  ").trim_end())?;
    }
    match store::include_state(&layout) {
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

/// `azml-ssh config`: what to search and how to name what is found.
#[derive(Clone, Debug, Default)]
pub struct Discover {
    pub subscriptions: Vec<String>,
    pub resource_group: Option<String>,
    pub workspace: Option<String>,
    pub all: bool,
    pub prefix: String,
    /// Succeed even when some lists failed (their hosts are kept either way).
    pub keep_going: bool,
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
    if !d.prefix.is_empty() && hosts::check_alias(&format!("{}x", d.prefix)).is_err() {
        return Err(UsageError::Prefix(d.prefix.clone()));
    }
    Ok(())
}

/// The login user for a discovered instance's host, or why it gets none: an unusable alias, an instance being
/// deleted (`status` still shows it), a name the user's own config claims (taking it over would silently redirect
/// their host), or an unusable admin user name from ARM.
fn host_user(
    f: &discover::Found,
    alias: &str,
    user: Option<&str>,
    taken: &[store::UserHost],
) -> Result<String, Skipped> {
    hosts::check_alias(alias).map_err(Skipped::Alias)?;
    if f.state == ComputeState::Deleting {
        return Err(Skipped::Deleting);
    }
    if let Some(found) = taken.iter().find(|h| h.covers(alias)) {
        return Err(Skipped::Claimed(found.clone()));
    }
    Ok(match (user, &f.admin_user) {
        (Some(user), _) => user.to_owned(),
        (None, Some(admin)) if hosts::check_user(admin).is_ok() => admin.clone(),
        (None, Some(admin)) => return Err(Skipped::AdminUser(admin.clone())),
        (None, None) => hosts::DEFAULT_USER.to_owned(),
    })
}

/// Why a discovered instance gets no host; the Display form follows "skipped <name>: ".
#[derive(Debug, thiserror::Error)]
enum Skipped {
    #[error("{0}")]
    Alias(InvalidValue),
    #[error("it is being deleted")]
    Deleting,
    #[error("{0}; use --prefix, or remove that entry")]
    Claimed(store::UserHost),
    #[error("ARM reports an unusable admin user name {0:?}")]
    AdminUser(String),
}

pub fn config(
    d: &Discover,
    settings: &HostSettings,
    azure: &AzureOptions,
    options: &WriteOptions,
    console: &mut Console,
) -> Result<(), Error> {
    check_scope(d)?;
    let checked = check(settings)?;
    let program = program(options, console)?;
    let layout = layout(options)?;

    let filter = Filter {
        subscriptions: d.subscriptions.clone(),
        resource_group: d.resource_group.clone(),
        workspace: d.workspace.clone(),
        mine_only: !d.all,
    };
    let session = Session::new(azure)?;
    let discovery = block_on_bounded("listing compute instances", azure.timeout, async {
        Ok(discover::discover(&session, &filter).await?)
    })?;

    let taken = store::user_hosts(&layout)?;
    let mut notes = discovery.warnings.clone();
    notes.extend(discovery.failed.iter().map(|f| format!("could not list {f}; its hosts are kept as they were")));
    let mut found = Vec::new();
    for f in &discovery.found {
        let alias = format!("{}{}", d.prefix, f.id.compute);
        match host_user(f, &alias, checked.user.as_deref(), &taken) {
            Ok(user) => found.push(HostEntry {
                alias,
                id: f.id.clone(),
                user,
                identity_file: None,
                options: Vec::new(),
                source: Source::Discovered,
            }),
            Err(why) => notes.push(format!("skipped {}: {why}", f.id.compute)),
        }
    }
    if found.is_empty() {
        let whose = if d.all { "" } else { " assigned to you (use --all for every instance)" };
        notes.push(format!("no compute instances{whose} were found"));
    }

    // Hosts this run could have found again, and so may replace or drop; hosts in a list that failed are kept.
    let in_scope = |e: &HostEntry| {
        e.source == Source::Discovered
            && discovery.searched.contains(&e.id.subscription.to_ascii_lowercase())
            && !discovery.workspace_failed(&e.id.workspace_path())
            && d.resource_group.as_ref().is_none_or(|rg| rg.eq_ignore_ascii_case(&e.id.resource_group))
            && d.workspace.as_ref().is_none_or(|ws| ws.eq_ignore_ascii_case(&e.id.workspace))
    };
    let aliases: Vec<String> = found.iter().map(|e| e.alias.clone()).collect();
    let report = store::update_hosts(&layout, &program, true, options.dry_run, |entries| {
        let previous: HashMap<String, HostEntry> =
            entries.iter().filter(|e| in_scope(e)).map(|e| (e.id.cache_key(), e.clone())).collect();
        entries.retain(|e| !in_scope(e));
        for mut entry in found {
            if let Some(taken) = entries.iter().find(|e| e.alias == entry.alias) {
                if taken.id != entry.id {
                    notes.push(format!(
                        "skipped {} in workspace {}: the name {} is already used for compute {} in workspace {}; use --prefix",
                        entry.id.compute, entry.id.workspace, entry.alias, taken.id.compute, taken.id.workspace
                    ));
                }
                continue;
            }
            let key = entry.id.cache_key();
            checked.apply(&mut entry, previous.get(&key));
            entries.push(entry);
        }
        Ok(notes)
    })?;
    show(&report, options.dry_run, console)?;
    if !options.dry_run && !aliases.is_empty() {
        console.say(format_args!("Hosts: {}", aliases.join(", ")))?;
    }
    match discovery.failed.len() {
        0 => Ok(()),
        _ if d.keep_going => Ok(()),
        failed => Err(Error::Incomplete { failed }),
    }
}

pub fn config_remove(options: &WriteOptions, console: &mut Console) -> Result<(), Error> {
    let layout = layout(options)?;
    let report = store::remove_all(&layout, options.dry_run)?;
    show(&report, options.dry_run, console)
}
