//! Which instance a command's `ALIAS` names: a host of azml-ssh's file, a resource ID — or, through the wildcard
//! host, any instance by name (`ci7.azml`, `ci7.ws1.azml`), found exactly as the proxy finds it. So `azml-ssh code
//! ci7.azml` works for an instance `config` has not written a block for, as `ssh ci7.azml` does. `code`,
//! `jupyter` and `forward` also take a job's node (`myjob.job.azml`, `1.myjob.job.azml`).

use crate::azure::job::JobNode;
use crate::azure::resource_id::ComputeId;
use crate::azure::session::AzureOptions;
use crate::cmd::{Error, block_on};
use crate::connect::cache::EndpointCache;
use crate::connect::job::{self, JobQuery};
use crate::connect::names::{self, NameQuery};
use crate::sshconf::hosts::{HostEntry, Source};
use crate::sshconf::store::{self, ConfigError, Layout, Target};
use crate::sshconf::wildcard::WildcardState;

/// A host `code`, `jupyter` and `forward` connect to with ssh: its alias, the login user, and what it reaches.
#[derive(Debug)]
pub(crate) struct Host {
    pub user: String,
    pub target: crate::connect::target::Target,
}

impl From<HostEntry> for Host {
    fn from(entry: HostEntry) -> Self {
        Host { user: entry.user, target: crate::connect::target::Target::Instance(entry.id) }
    }
}

/// The host `alias`: a configured one, or through the wildcard host a job's node or the instance the name names.
pub(crate) fn host(layout: &Layout, alias: &str, azure: &AzureOptions) -> Result<Host, Error> {
    match store::find_host(layout, alias) {
        Err(not_found @ ConfigError::UnknownTarget { .. }) => match job_node(layout, alias, azure)? {
            Some((node, user)) => {
                let target = crate::connect::target::Target::JobNode(node);
                Ok(Host { user, target })
            }
            None => by_name(layout, alias, azure, not_found).map(Host::from),
        },
        found => Ok(found?.into()),
    }
}

/// The job node `text` names under the wildcard host (`myjob.job.azml`), found as the proxy finds it, with the
/// wildcard host's user; `None` when `text` is not a job's name or the wildcard host is off.
pub(crate) fn job_node(layout: &Layout, text: &str, azure: &AzureOptions) -> Result<Option<(JobNode, String)>, Error> {
    let file = store::read_file(layout)?;
    let WildcardState::On(wildcard) = file.wildcard else { return Ok(None) };
    let Some(query) = JobQuery::parse(text, wildcard.suffix.as_str())? else { return Ok(None) };
    let cache = EndpointCache::open_default();
    let found = block_on(job::find(&query, azure, cache.as_ref()))??;
    Ok(Some((found.node, wildcard.user)))
}

/// `ALIAS|RESOURCE_ID|NAME.SUFFIX`, for the commands that only need the instance (`status`, `start`, `stop`).
pub(crate) fn target(layout: &Layout, text: &str, azure: &AzureOptions) -> Result<Target, Error> {
    match store::find_target(layout, text) {
        Err(not_found @ ConfigError::UnknownTarget { .. }) => {
            let entry = by_name(layout, text, azure, not_found)?;
            Ok(Target { alias: Some(entry.alias), id: entry.id })
        }
        found => Ok(found?),
    }
}

/// The wildcard host's entry for the instance `text` names, or `not_found` when the file has no wildcard host or
/// `text` is not a name under its suffix.
fn by_name(layout: &Layout, text: &str, azure: &AzureOptions, not_found: ConfigError) -> Result<HostEntry, Error> {
    let file = store::read_file(layout)?;
    let WildcardState::On(wildcard) = file.wildcard else { return Err(not_found.into()) };
    let Ok(query) = NameQuery::parse(text, wildcard.suffix.as_str()) else { return Err(not_found.into()) };
    let known: Vec<ComputeId> = file.entries.iter().map(|e| e.id.clone()).collect();
    let cache = EndpointCache::open_default();
    let id = block_on(names::resolve(&query, &known, azure, cache.as_ref()))??;
    Ok(HostEntry {
        alias: text.to_owned(),
        id,
        user: wildcard.user,
        identity_file: wildcard.identity_file,
        options: wildcard.options,
        source: Source::Discovered,
    })
}
