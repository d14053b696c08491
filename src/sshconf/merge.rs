//! The rules for putting found instances into the include file: which get a host and under which user, why one
//! gets none (typed, for the command to word), which existing hosts a run may replace or drop, and what a host
//! keeps from the last run. `config` and `add` render the outcomes; the decisions are here.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::azure::compute::ComputeState;
use crate::azure::discover::{Discovery, Filter, Found};
use crate::azure::resource_id::ComputeId;
use crate::sshconf::hosts::{self, HostEntry, Source};
use crate::sshconf::store::UserHost;
use crate::sshconf::values::{self, InvalidValue};
use crate::sshconf::wildcard::{Wildcard, WildcardChoice, WildcardState};

/// What `--user`, `--identity-file` and `--ssh-option` say; unset fields keep what an entry had before.
#[derive(Clone, Debug, Default)]
pub struct HostSettings {
    /// The login user (`--user`).
    pub user: Option<String>,
    /// The private key (`--identity-file`).
    pub identity_file: Option<PathBuf>,
    /// Extra `Key=Value` options (`--ssh-option`, repeated).
    pub ssh_options: Vec<String>,
}

/// [`HostSettings`], validated.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    user: Option<String>,
    identity_file: Option<PathBuf>,
    options: Option<Vec<(String, String)>>,
}

impl Settings {
    /// Checks every value as ssh will read it, before anything is written.
    pub fn check(settings: &HostSettings) -> Result<Self, InvalidValue> {
        if let Some(user) = &settings.user {
            values::check_user(user)?;
        }
        let identity_file = match &settings.identity_file {
            Some(path) => Some(values::check_identity_file(path)?),
            None => None,
        };
        let options = match settings.ssh_options.is_empty() {
            true => None,
            false => Some(settings.ssh_options.iter().map(|o| values::parse_ssh_option(o)).collect::<Result<_, _>>()?),
        };
        Ok(Settings { user: settings.user.clone(), identity_file, options })
    }

    /// The user asked for, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Fills `entry` from these settings, falling back to `previous` (remembered from the last run).
    pub(crate) fn apply(&self, entry: &mut HostEntry, previous: Option<&HostEntry>) {
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

impl Settings {
    /// The wildcard block a `config` run leaves: what `choice` asks for, with these settings, falling back to the
    /// block's own (remembered from the last run) as instance blocks do. A new block takes the key the instance
    /// blocks share, if they share one.
    pub(crate) fn wildcard(
        &self,
        choice: &WildcardChoice,
        current: &WildcardState,
        entries: &[HostEntry],
    ) -> WildcardState {
        let Some(suffix) = choice.suffix(current) else { return WildcardState::Off };
        let previous = match current {
            WildcardState::On(w) => Some(w),
            _ => None,
        };
        let user = self.user.clone().or_else(|| previous.map(|p| p.user.clone()));
        WildcardState::On(Wildcard {
            suffix,
            user: user.unwrap_or_else(|| hosts::DEFAULT_USER.to_owned()),
            identity_file: self.identity_file.clone().or_else(|| match previous {
                Some(p) => p.identity_file.clone(),
                None => shared_key(entries),
            }),
            options: match &self.options {
                Some(options) => options.clone(),
                None => previous.map(|p| p.options.clone()).unwrap_or_default(),
            },
            // Filled in when the file is written, from the user's config as it is then.
            yields_to: Vec::new(),
        })
    }
}

/// The identity file every instance block that names one names, if they agree.
fn shared_key(entries: &[HostEntry]) -> Option<PathBuf> {
    let mut keys = entries.iter().filter_map(|e| e.identity_file.as_ref());
    let first = keys.next()?;
    keys.all(|k| k == first).then(|| first.clone())
}

/// An instance discovery found, as far as its host is concerned.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    pub id: ComputeId,
    /// The admin user ARM reports, if any.
    pub admin_user: Option<String>,
    /// Being deleted: it gets no host (`status` still shows it).
    pub deleting: bool,
}

impl From<&Found> for Candidate {
    fn from(found: &Found) -> Self {
        Candidate {
            id: found.id.clone(),
            admin_user: found.admin_user.clone(),
            deleting: found.state == ComputeState::Deleting,
        }
    }
}

/// Why a found instance gets no host.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Skipped {
    #[error("{0}")]
    Alias(InvalidValue),
    #[error("it is being deleted")]
    Deleting,
    #[error("{0}; use --prefix, or remove that entry")]
    Claimed(UserHost),
    #[error("ARM reports an unusable admin user name {0:?}")]
    AdminUser(String),
    #[error("the name {alias} is already used for compute {} in workspace {}; use --prefix", other.compute, other.workspace)]
    NameTaken { alias: String, other: ComputeId },
}

/// One instance that gets no host, and why.
#[derive(Debug)]
pub(crate) struct Skip {
    pub id: ComputeId,
    pub why: Skipped,
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.why {
            // Two instances of one name: which workspace this one is in is the point.
            Skipped::NameTaken { .. } => {
                write!(f, "skipped {} in workspace {}: {}", self.id.compute, self.id.workspace, self.why)
            }
            why => write!(f, "skipped {}: {why}", self.id.compute),
        }
    }
}

/// The hosts for what discovery found, named `prefix` + compute name, or why each gets none: an unusable alias, an
/// instance being deleted, a name the user's own config claims (taking it over would silently redirect their
/// host), or an unusable admin user name from ARM.
pub(crate) fn hosts_for(
    found: &[Candidate],
    prefix: &str,
    settings: &Settings,
    taken: &[UserHost],
) -> (Vec<HostEntry>, Vec<Skip>) {
    let (mut hosts, mut skips) = (Vec::new(), Vec::new());
    for candidate in found {
        let alias = format!("{prefix}{}", candidate.id.compute);
        match host_user(candidate, &alias, settings.user(), taken) {
            Ok(user) => hosts.push(HostEntry {
                alias,
                id: candidate.id.clone(),
                user,
                identity_file: None,
                options: Vec::new(),
                source: Source::Discovered,
            }),
            Err(why) => skips.push(Skip { id: candidate.id.clone(), why }),
        }
    }
    (hosts, skips)
}

fn host_user(candidate: &Candidate, alias: &str, user: Option<&str>, taken: &[UserHost]) -> Result<String, Skipped> {
    values::check_alias(alias).map_err(Skipped::Alias)?;
    if candidate.deleting {
        return Err(Skipped::Deleting);
    }
    if let Some(found) = taken.iter().find(|h| h.covers(alias)) {
        return Err(Skipped::Claimed(found.clone()));
    }
    Ok(match (user, &candidate.admin_user) {
        (Some(user), _) => user.to_owned(),
        (None, Some(admin)) if values::check_user(admin).is_ok() => admin.clone(),
        (None, Some(admin)) => return Err(Skipped::AdminUser(admin.clone())),
        (None, None) => hosts::DEFAULT_USER.to_owned(),
    })
}

/// What a run of `config` searched, so its result may replace the hosts in there — and only those: a host in a
/// list that failed, or outside the filters, is kept as it is.
#[derive(Clone, Debug, Default)]
pub(crate) struct Searched {
    /// Subscriptions whose workspaces were listed (any case).
    pub subscriptions: Vec<String>,
    /// Workspaces whose computes could not be listed (ARM paths, any case).
    pub failed_workspaces: Vec<String>,
    pub resource_group: Option<String>,
    pub workspace: Option<String>,
}

impl Searched {
    /// What a discovery with `filter` searched: the subscriptions whose workspaces it listed, less the workspaces
    /// whose computes it could not list.
    pub fn by(discovery: &Discovery, filter: &Filter) -> Self {
        Searched {
            subscriptions: discovery.searched.clone(),
            failed_workspaces: discovery.failed_workspaces(),
            resource_group: filter.resource_group.clone(),
            workspace: filter.workspace.clone(),
        }
    }

    /// Whether this run could have found `entry` again, and so may replace or drop it.
    pub(crate) fn covers(&self, entry: &HostEntry) -> bool {
        let id = &entry.id;
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        entry.source == Source::Discovered
            && self.subscriptions.iter().any(|s| same(s, &id.subscription))
            && !self.failed_workspaces.iter().any(|w| same(w, &id.workspace_path()))
            && self.resource_group.as_deref().is_none_or(|rg| same(rg, &id.resource_group))
            && self.workspace.as_deref().is_none_or(|ws| same(ws, &id.workspace))
    }
}

/// Replaces the hosts `searched` covers with `found`, each keeping its settings from the last run unless
/// `settings` say otherwise. A found host whose name another entry (an `add`ed one, or one outside the search)
/// already has is skipped, unless that entry is the same instance.
pub(crate) fn merge(
    entries: &mut Vec<HostEntry>,
    found: Vec<HostEntry>,
    searched: &Searched,
    settings: &Settings,
) -> Vec<Skip> {
    let previous: HashMap<String, HostEntry> =
        entries.iter().filter(|e| searched.covers(e)).map(|e| (e.id.cache_key(), e.clone())).collect();
    entries.retain(|e| !searched.covers(e));
    let mut skips = Vec::new();
    for mut entry in found {
        if let Some(taken) = entries.iter().find(|e| e.alias == entry.alias) {
            if taken.id != entry.id {
                let why = Skipped::NameTaken { alias: entry.alias.clone(), other: taken.id.clone() };
                skips.push(Skip { id: entry.id, why });
            }
            continue;
        }
        let key = entry.id.cache_key();
        settings.apply(&mut entry, previous.get(&key));
        entries.push(entry);
    }
    skips
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(sub: &str, ws: &str, name: &str) -> ComputeId {
        format!("/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/{ws}/computes/{name}")
            .parse()
            .unwrap()
    }

    const SUB: &str = "00000000-1111-2222-3333-444444444444";

    fn entry(alias: &str, id: ComputeId, source: Source) -> HostEntry {
        HostEntry { alias: alias.into(), id, user: "azureuser".into(), identity_file: None, options: vec![], source }
    }

    #[test]
    fn a_run_replaces_what_it_searched_and_keeps_the_rest() {
        let searched = Searched { subscriptions: vec![SUB.to_uppercase()], ..Default::default() };
        let kept_added = entry("mine", id(SUB, "ws", "mine"), Source::Added);
        let stale = entry("gone", id(SUB, "ws", "gone"), Source::Discovered);
        let other_sub = entry("far", id("11111111-1111-2222-3333-444444444444", "ws", "far"), Source::Discovered);
        let mut old = entry("ci1", id(SUB, "ws", "ci1"), Source::Discovered);
        old.user = "chosen-before".into();
        let mut entries = vec![kept_added, stale, other_sub, old];
        let settings = Settings::check(&HostSettings::default()).unwrap();
        let found = vec![
            entry("ci1", id(SUB, "ws", "ci1"), Source::Discovered),
            entry("mine", id(SUB, "ws2", "mine"), Source::Discovered),
        ];
        let skips = merge(&mut entries, found, &searched, &settings);
        let aliases: Vec<&str> = entries.iter().map(|e| e.alias.as_str()).collect();
        assert_eq!(aliases, ["mine", "far", "ci1"], "the stale host went, the added and out-of-scope ones stayed");
        assert_eq!(entries[2].user, "chosen-before", "a host keeps what the last run chose");
        assert_eq!(skips.len(), 1);
        assert_eq!(
            skips[0].to_string(),
            "skipped mine in workspace ws2: the name mine is already used for compute mine in workspace ws; use --prefix"
        );

        let failed = Searched { failed_workspaces: vec![id(SUB, "WS", "x").workspace_path()], ..searched };
        assert!(!failed.covers(&entries[2]), "a host in a list that failed is kept");
    }

    #[test]
    fn instances_get_hosts_or_a_reason() {
        let settings = Settings::check(&HostSettings::default()).unwrap();
        let found = vec![
            Candidate { id: id(SUB, "ws", "ci1"), admin_user: Some("alice".into()), deleting: false },
            Candidate { id: id(SUB, "ws", "old"), admin_user: None, deleting: true },
            Candidate { id: id(SUB, "ws", "odd"), admin_user: Some("-oProxyCommand=x".into()), deleting: false },
        ];
        let (hosts, skips) = hosts_for(&found, "az-", &settings, &[]);
        assert_eq!(hosts.len(), 1);
        assert_eq!((hosts[0].alias.as_str(), hosts[0].user.as_str()), ("az-ci1", "alice"));
        let reasons: Vec<String> = skips.iter().map(ToString::to_string).collect();
        assert_eq!(reasons[0], "skipped old: it is being deleted");
        assert!(reasons[1].starts_with("skipped odd: ARM reports an unusable admin user name"), "{reasons:?}");
    }
}
