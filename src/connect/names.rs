//! Instances by name, for the wildcard host (`Host *.azml`): `ssh ci2.azml` or `ssh ci2.ws1.azml` reaches an
//! instance whether or not `azml-ssh config` has written a block for it.
//!
//! A name is looked for, in order: among the instances azml-ssh knows (the name index `config` leaves in the
//! cache, and the configured hosts); in the answers of earlier searches (an hour for a name that was found, half a
//! minute for one that was not); and last by a targeted search of the scope the last `config` searched, which asks
//! each workspace for that one compute instead of listing them all. What the search finds must pass `config`'s
//! rule of ownership (assigned to the user, or created by them), unless `config --all` took every instance: a
//! name must not reach (and start) an instance `config` would never have written a host for. The search is
//! single-flight across processes: a burst of connections to a new name waits for the first one's answer.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::azure::discover::{self, DiscoverError, Filter, NameSearch};
use crate::azure::resource_id::{self, ComputeId};
use crate::azure::session::{AzureOptions, Session, SessionError};
use crate::connect::cache::EndpointCache;
use crate::util::time::unix_now;

/// How long a search's answer is used: a name that exists rarely moves, while one that does not may be an
/// instance being created right now.
const FOUND_MAX_AGE: Duration = Duration::from_secs(3600);
const MISSING_MAX_AGE: Duration = Duration::from_secs(30);
/// The folder of the name index and of the answers of searches, in the state folder.
const NAMES: &str = "names";
/// The name index's file there.
const INDEX: &str = "index.json";

/// A host name given to the wildcard host, read as `NAME[.WORKSPACE].SUFFIX`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NameQuery {
    /// As ssh gave it.
    pub host: String,
    compute: String,
    workspace: Option<String>,
    suffix: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum NameError {
    #[error("{host:?} does not name a compute instance: write NAME.{suffix} or NAME.WORKSPACE.{suffix} ({why})")]
    NotAName { host: String, suffix: String, why: String },
    #[error("there is no compute instance {name} in {searched}; check the name in Azure ML studio")]
    NotFound { name: String, searched: String },
    #[error("{host} could be any of {count} compute instances; connect to one of: {choices}")]
    Ambiguous { host: String, count: usize, choices: String },
    #[error(
        "{name} {whose}; azml-ssh only connects to instances assigned to or created by you (`azml-ssh config --all` \
         to reach every instance you can see)"
    )]
    NotYours { name: String, whose: String },
    #[error("{name} was not found, but {failed} could not be searched (first: {first}); try again")]
    Incomplete { name: String, failed: String, first: String },
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl NameQuery {
    /// Reads `host` (the name typed, as ssh passes it on) under `suffix`. Case does not matter: ssh and ARM both
    /// ignore it. Anything that is not a plausible host name is refused first, before the name can reach a
    /// request, a file name or a log line: an ssh without a check of its own (before 9.6; Win32-OpenSSH before
    /// 9.8) passes on whatever it was given, spaces, quotes and all.
    pub(crate) fn parse(host: &str, suffix: &str) -> Result<Self, NameError> {
        let shown: String = host.chars().take(80).collect();
        let fail = |why: &str| NameError::NotAName { host: shown.clone(), suffix: suffix.to_owned(), why: why.into() };
        if host.len() > 253 || !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')) {
            return Err(fail("a host name has only letters, digits, '.' and '-', 253 at most"));
        }
        let lower = host.to_ascii_lowercase();
        let name = lower.strip_suffix(&format!(".{suffix}")).ok_or_else(|| fail("it does not end in the suffix"))?;
        let (compute, workspace) = match name.split_once('.') {
            None => (name, None),
            Some((compute, workspace)) => (compute, Some(workspace)),
        };
        resource_id::check_compute_name(compute).map_err(|e| fail(&e.to_string()))?;
        if let Some(workspace) = workspace {
            resource_id::check_workspace_name(workspace).map_err(|e| fail(&e.to_string()))?;
        }
        Ok(NameQuery {
            host: host.to_owned(),
            compute: compute.to_owned(),
            workspace: workspace.map(str::to_owned),
            suffix: suffix.to_owned(),
        })
    }

    fn matches(&self, id: &ComputeId) -> bool {
        id.compute.eq_ignore_ascii_case(&self.compute)
            && self.workspace.as_ref().is_none_or(|w| id.workspace.eq_ignore_ascii_case(w))
    }

    /// The name in messages: `ci2`, or `ci2 in workspace ws1`.
    fn described(&self) -> String {
        match &self.workspace {
            Some(ws) => format!("{} in workspace {ws}", self.compute),
            None => self.compute.clone(),
        }
    }

    /// The file name of this name's answer and lock.
    fn key(&self) -> String {
        crate::util::state::hashed(&format!("{}.{}", self.compute, self.workspace.as_deref().unwrap_or("")))
    }

    /// The one instance `found` holds, or why there is not exactly one.
    fn choose(&self, mut found: Vec<ComputeId>, searched: &str) -> Result<ComputeId, NameError> {
        found.sort_by_key(ComputeId::cache_key);
        found.dedup_by_key(|id| id.cache_key());
        match found.len() {
            0 => Err(NameError::NotFound { name: self.described(), searched: searched.to_owned() }),
            1 => Ok(found.remove(0)),
            count => Err(NameError::Ambiguous { host: self.host.clone(), count, choices: self.choices(&found) }),
        }
    }

    /// `ci2.ws1.azml, ci2.ws2.azml`; the resource IDs when workspaces of the same name in different resource
    /// groups leave even those ambiguous (`azml-ssh add` then gives each a name).
    fn choices(&self, found: &[ComputeId]) -> String {
        let qualified: Vec<String> = found
            .iter()
            .map(|id| format!("{}.{}.{}", self.compute, id.workspace, self.suffix).to_ascii_lowercase())
            .collect();
        let unique: std::collections::HashSet<&String> = qualified.iter().collect();
        if unique.len() == qualified.len() {
            return qualified.join(", ");
        }
        let ids: Vec<String> = found.iter().map(ToString::to_string).collect();
        format!("{} (give each a name with `azml-ssh add ALIAS RESOURCE_ID`)", ids.join(", "))
    }
}

/// What `config` leaves for the proxy: the scope it searched, whether it took every instance (`--all`) or only
/// the user's, and the instances it knows.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct NameIndex {
    #[serde(default)]
    subscriptions: Vec<String>,
    #[serde(default)]
    resource_group: Option<String>,
    #[serde(default)]
    workspace: Option<String>,
    #[serde(default)]
    instances: Vec<String>,
    /// `config --all`: without it (and without an index), a name found by search must be the user's.
    #[serde(default)]
    all: bool,
}

impl NameIndex {
    /// The index of a `config` run that searched `filter` and knows `instances`.
    pub(crate) fn new<'a>(filter: &Filter, instances: impl IntoIterator<Item = &'a ComputeId>) -> Self {
        NameIndex {
            subscriptions: filter.subscriptions.clone(),
            resource_group: filter.resource_group.clone(),
            workspace: filter.workspace.clone(),
            instances: instances.into_iter().map(ToString::to_string).collect(),
            all: !filter.mine_only,
        }
    }

    /// The index, or an empty one (search everything) when there is none.
    fn load(cache: Option<&EndpointCache>) -> Self {
        let read = |c: &EndpointCache| c.state().read_json(NAMES, INDEX, "the name index");
        cache.and_then(read).unwrap_or_default()
    }

    pub(crate) fn store(&self, cache: &EndpointCache) {
        cache.state().write_json(NAMES, INDEX, self);
    }

    pub(crate) fn remove(cache: &EndpointCache) {
        cache.state().remove(NAMES, INDEX);
    }

    fn ids(&self) -> impl Iterator<Item = ComputeId> + '_ {
        self.instances.iter().filter_map(|text| text.parse().ok())
    }

    /// What a search covers: the last `config`'s scope and rule of ownership, with the workspace a qualified name
    /// gives.
    fn filter(&self, query: &NameQuery) -> Filter {
        self.filter_in(query.workspace.as_deref())
    }

    /// The last `config`'s scope, narrowed to `workspace` when a name gives one.
    fn filter_in(&self, workspace: Option<&str>) -> Filter {
        Filter {
            subscriptions: self.subscriptions.clone(),
            resource_group: self.resource_group.clone(),
            workspace: workspace.map(str::to_owned).or_else(|| self.workspace.clone()),
            mine_only: !self.all,
        }
    }

    /// The scope in words, for "there is no compute instance ci9 in …".
    fn searched(&self, query: &NameQuery, search: &NameSearch) -> String {
        let filter = self.filter(query);
        let mut scope = match filter.subscriptions.as_slice() {
            [] => "every subscription you can see".to_owned(),
            subs => format!("subscription {}", subs.join(", ")),
        };
        if let Some(rg) = &filter.resource_group {
            scope.push_str(&format!(", resource group {rg}"));
        }
        if let Some(ws) = &filter.workspace {
            scope.push_str(&format!(", workspaces named {ws}"));
        }
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        format!(
            "{} of {} ({scope}, as the last `azml-ssh config` searched)",
            plural(search.workspaces, "workspace"),
            plural(search.subscriptions, "subscription")
        )
    }
}

/// A search's answer, kept for the next connections.
#[derive(Debug, Serialize, Deserialize)]
struct Answer {
    /// The name as searched (`ci2.ws1`), guarding against a file that is not this name's.
    name: String,
    found: Vec<String>,
    /// Instances so named that are not the user's, each with why: they are refused, not missing.
    #[serde(default)]
    not_mine: Vec<(String, String)>,
    /// The index's `all` when this was searched; an answer from before the rule was applied has none.
    #[serde(default)]
    all: Option<bool>,
    /// What was searched, for the message when nothing was found.
    searched: String,
    /// Unix seconds.
    at: u64,
}

impl Answer {
    fn file(query: &NameQuery) -> String {
        format!("{}.json", query.key())
    }

    fn store(&self, cache: &EndpointCache, query: &NameQuery) {
        cache.state().write_json(NAMES, &Self::file(query), self);
    }

    /// The answer an earlier search left, if it is still good and was searched under the index's rule.
    fn cached(cache: &EndpointCache, query: &NameQuery, index: &NameIndex) -> Option<Answer> {
        let answer: Answer = cache.state().read_json(NAMES, &Self::file(query), "a cached name search")?;
        let missing = answer.found.is_empty() && answer.not_mine.is_empty();
        let max_age = if missing { MISSING_MAX_AGE } else { FOUND_MAX_AGE };
        let now = unix_now();
        let fresh = answer.at <= now + 60 && now.saturating_sub(answer.at) <= max_age.as_secs();
        (fresh && answer.name == query.described() && answer.all == Some(index.all)).then_some(answer)
    }

    fn ids(&self) -> Vec<ComputeId> {
        self.found.iter().filter_map(|text| text.parse().ok()).collect()
    }

    /// The one instance found; when only someone else's go by the name, why it is refused.
    fn choose(&self, query: &NameQuery) -> Result<ComputeId, NameError> {
        let found = self.ids();
        if let ([], Some((_, whose))) = (found.as_slice(), self.not_mine.first()) {
            return Err(NameError::NotYours { name: query.described(), whose: whose.clone() });
        }
        query.choose(found, &self.searched)
    }
}

/// Where a search by name looks (jobs' too): the scope the last `config` searched (every subscription when it
/// has not run), narrowed to `workspace` when the name gives one.
pub(crate) fn search_scope(cache: Option<&EndpointCache>, workspace: Option<&str>) -> Filter {
    NameIndex::load(cache).filter_in(workspace)
}

/// Forgets what a search found for `query`, when the instance it named is gone.
pub(crate) fn forget(cache: &EndpointCache, query: &NameQuery) {
    cache.state().remove(NAMES, &Answer::file(query));
}

/// The instance `query` names. `known` are the configured hosts' instances; `cache` holds the name index and
/// earlier answers (`None`: no cache, so every miss searches).
pub(crate) async fn resolve(
    query: &NameQuery,
    known: &[ComputeId],
    azure: &AzureOptions,
    cache: Option<&EndpointCache>,
) -> Result<ComputeId, NameError> {
    let index = NameIndex::load(cache);
    let candidates: Vec<ComputeId> = known.iter().cloned().chain(index.ids()).filter(|id| query.matches(id)).collect();
    if !candidates.is_empty() {
        return query.choose(candidates, "");
    }
    if let Some(answer) = cache.and_then(|c| Answer::cached(c, query, &index)) {
        return answer.choose(query);
    }
    let Some(cache) = cache else {
        let answer = search(query, &index, azure).await?;
        return answer.choose(query);
    };
    let lock = cache.lock(&format!("name-{}", query.key()), azure.timeout).await;
    // Another connection may have searched while this one waited for the lock.
    if let Some(answer) = Answer::cached(cache, query, &index) {
        return answer.choose(query);
    }
    let answer = search(query, &index, azure).await?;
    answer.store(cache, query);
    drop(lock);
    answer.choose(query)
}

/// The targeted search. A search that could not look everywhere and found nothing is an error, not an answer:
/// the name may be where it could not look.
async fn search(query: &NameQuery, index: &NameIndex, azure: &AzureOptions) -> Result<Answer, NameError> {
    tracing::debug!(name = %query.described(), "searching for the instance by name");
    let session = Session::new(azure, azure.deadline())?;
    let search = discover::find_by_name(&session, &index.filter(query), &query.compute).await?;
    if search.found.is_empty()
        && let Some(first) = search.failed.first()
    {
        let failed = match search.failed.len() {
            1 => "one list".to_owned(),
            n => format!("{n} lists"),
        };
        return Err(NameError::Incomplete { name: query.described(), failed, first: first.to_string() });
    }
    Ok(Answer {
        name: query.described(),
        found: search.found.iter().map(|(id, _)| id.to_string()).collect(),
        not_mine: search.not_mine.iter().map(|(id, whose)| (id.to_string(), (*whose).to_owned())).collect(),
        all: Some(index.all),
        searched: index.searched(query, &search),
        at: unix_now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ws: &str, name: &str) -> ComputeId {
        format!("/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/{ws}/computes/{name}")
            .parse()
            .unwrap()
    }

    #[test]
    fn only_plausible_host_names_are_read() {
        for bad in ["--log-file=x.azml", "a b.azml", "a'b.azml", "$(id).azml", "g*.azml", "a\"b.azml", "ci1.azml\n"] {
            let Err(NameError::NotAName { why, .. }) = NameQuery::parse(bad, "azml") else { panic!("{bad:?}") };
            assert!(why.contains("only letters"), "{bad:?}: {why}");
        }
        let long = format!("{}.azml", "a".repeat(300));
        let Err(e) = NameQuery::parse(&long, "azml") else { panic!("a long name") };
        assert!(e.to_string().len() < 300, "the message shows a bounded part of the name: {e}");
    }

    #[test]
    fn names_are_read_under_the_suffix() {
        let q = NameQuery::parse("CI2.azml", "azml").unwrap();
        assert!(q.matches(&id("ws1", "ci2")) && q.matches(&id("ws2", "Ci2")));
        assert!(!q.matches(&id("ws1", "ci21")));
        let q = NameQuery::parse("ci2.WS-1.ml.internal", "ml.internal").unwrap();
        assert!(q.matches(&id("ws-1", "ci2")) && !q.matches(&id("ws1", "ci2")));
        assert_eq!(q.described(), "ci2 in workspace ws-1");
        for bad in ["ci2", "ci2.azml.com", ".azml", "a.b.c.azml", "ci_2.azml", "ci2.-ws.azml"] {
            assert!(matches!(NameQuery::parse(bad, "azml"), Err(NameError::NotAName { .. })), "{bad}");
        }
    }

    #[test]
    fn one_instance_is_chosen_several_are_listed() {
        let q = NameQuery::parse("ci2.azml", "azml").unwrap();
        assert_eq!(q.choose(vec![id("ws1", "ci2"), id("WS1", "CI2")], "").unwrap(), id("ws1", "ci2"));
        let e = q.choose(vec![id("ws2", "ci2"), id("ws1", "ci2")], "").unwrap_err().to_string();
        assert!(e.contains("ci2.ws1.azml, ci2.ws2.azml"), "{e}");
        let e = q.choose(vec![], "3 workspaces").unwrap_err().to_string();
        assert_eq!(e, "there is no compute instance ci2 in 3 workspaces; check the name in Azure ML studio");
        let other_rg: ComputeId = id("ws1", "ci2").to_string().replace("/rg/", "/rg2/").parse().unwrap();
        let e = q.choose(vec![id("ws1", "ci2"), other_rg], "").unwrap_err().to_string();
        assert!(e.contains("resourceGroups/rg2/") && e.contains("azml-ssh add"), "{e}");
    }

    #[test]
    fn someone_elses_instance_is_refused_and_a_search_under_another_rule_is_not_reused() {
        let q = NameQuery::parse("gpu2.azml", "azml").unwrap();
        let theirs = (id("ws1", "gpu2").to_string(), "is assigned to someone else".to_owned());
        let answer = |found: Vec<String>, all| Answer {
            name: q.described(),
            found,
            not_mine: vec![theirs.clone()],
            all,
            searched: "1 workspace".into(),
            at: unix_now(),
        };
        let e = answer(vec![], Some(false)).choose(&q).unwrap_err().to_string();
        assert!(e.starts_with("gpu2 is assigned to someone else; azml-ssh only connects to instances"), "{e}");
        let mine = id("ws2", "gpu2");
        assert_eq!(answer(vec![mine.to_string()], Some(false)).choose(&q).unwrap(), mine);

        let dir = tempfile::tempdir().unwrap();
        let cache = EndpointCache::new(crate::util::state::StateDir::new(dir.path()));
        let mine_only = NameIndex::default();
        let all = NameIndex { all: true, ..NameIndex::default() };
        answer(vec![], Some(false)).store(&cache, &q);
        assert!(Answer::cached(&cache, &q, &mine_only).is_some());
        assert!(Answer::cached(&cache, &q, &all).is_none(), "searched under the rule `config --all` lifted");
        answer(vec![], None).store(&cache, &q);
        assert!(Answer::cached(&cache, &q, &mine_only).is_none(), "searched before the rule was applied");
    }
}
