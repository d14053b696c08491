//! The `config`, `add`, `remove` and `list` commands: turning parsed options into changes of the ssh setup and
//! telling the user what happened. Results go to stdout; warnings and notes to stderr.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::binpath;
use crate::configure::{self, ConfigError, Layout, Report};
use crate::discover::{self, Filter};
use crate::hosts::{self, Flavor, HostEntry, Launcher, Source};
use crate::resolve::{self, AzureOptions};
use crate::resource_id::ComputeId;
use crate::runtime;
use crate::sshconfig::IncludeState;

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

fn check(settings: &HostSettings) -> Result<Checked, String> {
    if let Some(user) = &settings.user {
        hosts::check_user(user).map_err(|e| e.to_string())?;
    }
    let identity_file = match &settings.identity_file {
        Some(path) => Some(hosts::check_identity_file(path).map_err(|e| e.to_string())?),
        None => None,
    };
    let options = if settings.ssh_options.is_empty() {
        None
    } else {
        let parsed: Result<Vec<_>, _> = settings.ssh_options.iter().map(|o| hosts::parse_ssh_option(o)).collect();
        Some(parsed.map_err(|e| e.to_string())?)
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
}

fn program(options: &WriteOptions) -> Result<Launcher, String> {
    let choice = binpath::choose(options.binary.as_deref())?;
    for warning in &choice.warnings {
        eprintln!("azml-ssh: warning: {warning}");
    }
    Launcher::new(&choice.path, Flavor::native()).map_err(|e| e.to_string())
}

fn layout(options: &WriteOptions) -> Result<Layout, String> {
    Layout::new(options.ssh_config.as_deref()).map_err(|e| e.to_string())
}

/// Prints a report: the diff in a dry run, otherwise which files changed.
fn show(report: &Report, dry_run: bool) {
    for note in &report.notes {
        eprintln!("azml-ssh: note: {note}");
    }
    if !report.changed() {
        println!("Nothing to change: the ssh configuration is up to date.");
        return;
    }
    for edit in report.edits.iter().filter(|e| e.changes()) {
        if dry_run {
            print!("{}", edit.diff());
        } else {
            let verb = match (&edit.before, &edit.after) {
                (None, _) => "created",
                (_, None) => "removed",
                _ => "updated",
            };
            println!("{verb} {}", edit.path.display());
        }
    }
    if dry_run {
        println!("(dry run: nothing was written)");
    }
}

pub fn add(alias: &str, id: &str, settings: &HostSettings, options: &WriteOptions) -> Result<(), String> {
    hosts::check_alias(alias).map_err(|e| e.to_string())?;
    let id: ComputeId = id.parse().map_err(|e| format!("{e}"))?;
    let checked = check(settings)?;
    let program = program(options)?;
    let layout = layout(options)?;
    let report = configure::update_hosts(&layout, &program, true, options.dry_run, |entries| {
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
    })
    .map_err(|e| e.to_string())?;
    show(&report, options.dry_run);
    if !options.dry_run && report.changed() {
        println!("ssh {alias} now reaches compute {} in workspace {}.", id.compute, id.workspace);
    }
    Ok(())
}

pub fn remove(alias: &str, options: &WriteOptions) -> Result<(), String> {
    let layout = layout(options)?;
    let program = program(options)?;
    let include_file = layout.include_file.display().to_string();
    let report = configure::update_hosts(&layout, &program, false, options.dry_run, |entries| {
        let before = entries.len();
        entries.retain(|e| e.alias != alias);
        if entries.len() == before {
            return Err(ConfigError::Other(format!(
                "there is no host {alias:?} in {include_file} (see `azml-ssh list`)"
            )));
        }
        Ok(Vec::new())
    })
    .map_err(|e| e.to_string())?;
    show(&report, options.dry_run);
    Ok(())
}

pub fn list(ssh_config: Option<PathBuf>) -> Result<(), String> {
    let layout = Layout::new(ssh_config.as_deref()).map_err(|e| e.to_string())?;
    let entries = configure::read_entries(&layout).map_err(|e| e.to_string())?;
    if entries.is_empty() {
        println!("No hosts configured yet: run `azml-ssh config` or `azml-ssh add <alias> <resource-id>`.");
        return Ok(());
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
        println!("{}", line.join("  ").trim_end());
    }
    match configure::include_state(&layout) {
        Ok(IncludeState::Effective { .. }) => {}
        Ok(_) => eprintln!(
            "azml-ssh: note: {} does not include {} for every host; run `azml-ssh config` to fix that",
            layout.user_config.display(),
            layout.include_file.display()
        ),
        Err(e) => eprintln!("azml-ssh: note: {e}"),
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
}

/// Checks the search scope with the same rules as resource IDs, before anything goes over the network.
fn check_scope(d: &Discover) -> Result<(), String> {
    let probe = |sub: &str, rg: &str, ws: &str| {
        format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}/computes/x")
            .parse::<ComputeId>()
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    const ANY_SUB: &str = "00000000-0000-0000-0000-000000000000";
    for sub in &d.subscriptions {
        probe(sub, "rg", "ws").map_err(|_| format!("--subscription {sub:?} is not a subscription ID (a GUID)"))?;
    }
    if let Some(rg) = &d.resource_group {
        probe(ANY_SUB, rg, "ws").map_err(|_| format!("--resource-group {rg:?} is not a valid resource group name"))?;
    }
    if let Some(ws) = &d.workspace {
        probe(ANY_SUB, "rg", ws).map_err(|_| format!("--workspace {ws:?} is not a valid workspace name"))?;
    }
    if !d.prefix.is_empty() {
        hosts::check_alias(&format!("{}x", d.prefix)).map_err(|_| {
            format!("--prefix {:?} must be letters, digits, '-', '_' or '.', not starting with '-' or '.'", d.prefix)
        })?;
    }
    Ok(())
}

pub fn config(
    d: &Discover,
    settings: &HostSettings,
    azure: &AzureOptions,
    options: &WriteOptions,
) -> Result<(), String> {
    check_scope(d)?;
    let checked = check(settings)?;
    let program = program(options)?;
    let layout = layout(options)?;

    let discovery = runtime::block_on(async {
        let arm = resolve::session(azure).await.map_err(|e| e.to_string())?;
        let assigned_to = if d.all {
            None
        } else {
            Some(arm.signed_in_object_id().ok_or(
                "cannot tell who is signed in (the token has no object ID); use --all to configure every instance",
            )?)
        };
        let filter = Filter {
            subscriptions: d.subscriptions.clone(),
            resource_group: d.resource_group.clone(),
            workspace: d.workspace.clone(),
            assigned_to,
        };
        match tokio::time::timeout(azure.timeout, discover::discover(&arm, &filter)).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => {
                Err(format!("listing compute instances took longer than {} s (--timeout)", azure.timeout.as_secs()))
            }
        }
    })
    .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let discovery = discovery?;

    let mut notes = discovery.warnings.clone();
    let mut found = Vec::new();
    for f in &discovery.found {
        let alias = format!("{}{}", d.prefix, f.id.compute);
        if let Err(e) = hosts::check_alias(&alias) {
            notes.push(format!("skipped {}: {e}", f.id.compute));
            continue;
        }
        let user = match (&checked.user, &f.admin_user) {
            (Some(user), _) => user.clone(),
            (None, Some(admin)) if hosts::check_user(admin).is_ok() => admin.clone(),
            (None, Some(admin)) => {
                notes.push(format!("skipped {}: ARM reports an unusable admin user name {admin:?}", f.id.compute));
                continue;
            }
            (None, None) => hosts::DEFAULT_USER.to_owned(),
        };
        found.push(HostEntry {
            alias,
            id: f.id.clone(),
            user,
            identity_file: None,
            options: Vec::new(),
            source: Source::Discovered,
        });
    }
    if found.is_empty() {
        let whose = if d.all { "" } else { " assigned to you (use --all for every instance)" };
        notes.push(format!("no compute instances{whose} were found"));
    }

    let in_scope = |e: &HostEntry| {
        e.source == Source::Discovered
            && discovery.searched.contains(&e.id.subscription.to_ascii_lowercase())
            && d.resource_group.as_ref().is_none_or(|rg| rg.eq_ignore_ascii_case(&e.id.resource_group))
            && d.workspace.as_ref().is_none_or(|ws| ws.eq_ignore_ascii_case(&e.id.workspace))
    };
    let aliases: Vec<String> = found.iter().map(|e| e.alias.clone()).collect();
    let report = configure::update_hosts(&layout, &program, true, options.dry_run, |entries| {
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
    })
    .map_err(|e| e.to_string())?;
    show(&report, options.dry_run);
    if !options.dry_run && !aliases.is_empty() {
        println!("Hosts: {}", aliases.join(", "));
    }
    Ok(())
}

pub fn config_remove(options: &WriteOptions) -> Result<(), String> {
    let layout = layout(options)?;
    let report = configure::remove_all(&layout, options.dry_run).map_err(|e| e.to_string())?;
    show(&report, options.dry_run);
    Ok(())
}
