//! The last known endpoint of each compute, so that a connection made soon after another one needs no token and
//! no ARM call at all (a job node's likewise). Entries hold only public facts (an address or gateway, and a time) — never a token.
//!
//! Layout: `$XDG_CACHE_HOME/azml-ssh/endpoints/<sha256 of the lower-cased resource ID>.json`, directory 0700, files
//! 0600, replaced atomically so concurrent proxies never read a torn entry. Any problem with the cache is logged
//! and ignored: the cache can make a connection faster, never make it fail.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::azure::credential::TenantId;
use crate::connect::endpoint::Endpoint;
use crate::connect::target::CacheKey;
use crate::util::fs;
use crate::util::state::StateDir;
use crate::util::time::unix_now;

/// Environment variable equivalent of `--cache-max-age`.
pub const MAX_AGE_ENV: &str = "AZML_SSH_CACHE_MAX_AGE";

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    resource_id: String,
    endpoint: Endpoint,
    /// Unix seconds.
    resolved_at: u64,
    /// The tenant the compute was found in, when not the default one: kept past the endpoint's freshness, so a
    /// cold lookup signs in to the right tenant at once.
    #[serde(default)]
    tenant: Option<TenantId>,
}

/// The folder of the entries in the state folder.
const ENDPOINTS: &str = "endpoints";
/// The folder of the single-flight locks of lookups.
const LOOKUPS: &str = "lookups";

/// The endpoints (and tenants) of the computes, in the state folder.
#[derive(Debug)]
pub(crate) struct EndpointCache {
    state: StateDir,
}

impl EndpointCache {
    pub fn new(state: StateDir) -> Self {
        EndpointCache { state }
    }

    /// The user's cache, or `None` when there is no home to put it in.
    pub(crate) fn open_default() -> Option<Self> {
        StateDir::open_default().map(Self::new)
    }

    /// The state folder the cache is kept in, for the other stores there.
    pub(crate) fn state(&self) -> &StateDir {
        &self.state
    }

    fn name(id: &(impl CacheKey + ?Sized)) -> String {
        format!("{}.json", id.key_hash())
    }

    fn entry(&self, id: &(impl CacheKey + ?Sized)) -> Option<Entry> {
        let entry: Entry = self.state.read_json(ENDPOINTS, &Self::name(id), "the cached endpoint")?;
        // Guards against a hash collision or a file copied from elsewhere.
        entry.resource_id.eq_ignore_ascii_case(&id.cache_key()).then_some(entry)
    }

    /// The tenant last seen for the compute, however old.
    pub(crate) fn tenant(&self, id: &(impl CacheKey + ?Sized)) -> Option<TenantId> {
        self.entry(id)?.tenant
    }

    /// The endpoint if it is younger than `max_age`, and the tenant however old, from one read of the entry.
    pub fn read(&self, id: &(impl CacheKey + ?Sized), max_age: Duration) -> (Option<Endpoint>, Option<TenantId>) {
        match self.entry(id) {
            Some(entry) => {
                let tenant = entry.tenant.clone();
                (Self::if_fresh(entry, max_age), tenant)
            }
            None => (None, None),
        }
    }

    /// The cached endpoint if it is younger than `max_age`.
    pub(crate) fn fresh(&self, id: &(impl CacheKey + ?Sized), max_age: Duration) -> Option<Endpoint> {
        Self::if_fresh(self.entry(id)?, max_age)
    }

    fn if_fresh(entry: Entry, max_age: Duration) -> Option<Endpoint> {
        let age = unix_now().saturating_sub(entry.resolved_at);
        if entry.resolved_at > unix_now() + 60 || age > max_age.as_secs() {
            tracing::debug!(age, "cached endpoint is stale");
            return None;
        }
        tracing::debug!(endpoint = %entry.endpoint, age, "using cached endpoint");
        Some(entry.endpoint)
    }

    pub fn store(&self, id: &(impl CacheKey + ?Sized), endpoint: &Endpoint, tenant: Option<&TenantId>) {
        let entry = Entry {
            resource_id: id.cache_key(),
            endpoint: endpoint.clone(),
            resolved_at: unix_now(),
            tenant: tenant.cloned(),
        };
        self.state.write_json(ENDPOINTS, &Self::name(id), &entry);
    }

    /// Takes the lock under which one process at a time looks `id` up in ARM, waiting up to `limit`. When it had
    /// to wait, the process that held it has probably just cached the answer: look again before asking ARM.
    /// `None` when there is no lock to be had (an unwritable cache, a holder that outlived `limit`): go on alone.
    pub(crate) async fn lock_lookup(
        &self,
        id: &(impl CacheKey + ?Sized),
        limit: Duration,
    ) -> Option<(std::fs::File, fs::Waited)> {
        self.lock(&id.key_hash(), limit).await
    }

    /// The single-flight lock `lookups/<name>.lock`; see [`Self::lock_lookup`].
    pub(crate) async fn lock(&self, name: &str, limit: Duration) -> Option<(std::fs::File, fs::Waited)> {
        match self.state.lock(LOOKUPS, name, limit).await {
            Ok(locked) => Some(locked),
            Err(e) => {
                tracing::debug!("looking up without the single-flight lock: {e}");
                None
            }
        }
    }

    pub(crate) fn forget(&self, id: &(impl CacheKey + ?Sized)) {
        self.state.remove(ENDPOINTS, &Self::name(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::resource_id::ComputeId;
    use std::os::unix::fs::PermissionsExt;

    fn direct(text: &str) -> Endpoint {
        Endpoint::Direct { address: text.parse().unwrap() }
    }

    fn id(name: &str) -> ComputeId {
        format!("/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/{name}")
            .parse()
            .unwrap()
    }

    #[test]
    fn stores_reads_and_forgets_per_compute() {
        let root = tempfile::tempdir().unwrap();
        let cache = EndpointCache::new(StateDir::new(root.path()));
        let addr = direct("20.1.2.3:50000");
        assert_eq!(cache.fresh(&id("ci1"), Duration::from_secs(3600)), None);
        cache.store(&id("ci1"), &addr, None);
        assert_eq!(cache.fresh(&id("ci1"), Duration::from_secs(3600)), Some(addr.clone()));
        assert_eq!(
            cache.fresh(&id("CI1"), Duration::from_secs(3600)),
            Some(addr.clone()),
            "ARM names are case-insensitive"
        );
        assert_eq!(cache.fresh(&id("ci2"), Duration::from_secs(3600)), None);
        cache.forget(&id("ci1"));
        assert_eq!(cache.fresh(&id("ci1"), Duration::from_secs(3600)), None);
    }

    #[test]
    fn files_are_private_and_corrupt_entries_ignored() {
        let root = tempfile::tempdir().unwrap();
        let cache = EndpointCache::new(StateDir::new(root.path()));
        cache.store(&id("ci1"), &direct("1.2.3.4:22"), None);
        let dir_mode = std::fs::metadata(root.path().join("endpoints")).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let file = root.path().join(ENDPOINTS).join(EndpointCache::name(&id("ci1")));
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::write(&file, b"{not json").unwrap();
        assert_eq!(cache.fresh(&id("ci1"), Duration::from_secs(3600)), None);
    }

    #[test]
    fn zero_max_age_means_always_stale() {
        let root = tempfile::tempdir().unwrap();
        let cache = EndpointCache::new(StateDir::new(root.path()));
        let entry = Entry {
            resource_id: id("ci1").cache_key(),
            endpoint: direct("1.2.3.4:22"),
            resolved_at: unix_now() - 10,
            tenant: Some("22222222-0000-0000-0000-000000000002".parse().unwrap()),
        };
        cache.state.write_json(ENDPOINTS, &EndpointCache::name(&id("ci1")), &entry);
        assert_eq!(cache.fresh(&id("ci1"), Duration::ZERO), None);
        assert!(cache.fresh(&id("ci1"), Duration::from_secs(60)).is_some());
        assert_eq!(
            cache.tenant(&id("ci1")).map(|t| t.to_string()).as_deref(),
            Some("22222222-0000-0000-0000-000000000002"),
            "the tenant is known however old the endpoint"
        );
    }
}
