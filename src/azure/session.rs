//! Signing in and getting ARM clients for the cloud in effect: the step every command that talks to Azure
//! starts with. One account can reach several tenants (guest users, consultants); a `Session` keeps one
//! client per tenant and moves to the right tenant when ARM says a resource lives in another.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::util::deadline::{Budget, Deadline};

use crate::azure::arm::{ArmClient, ArmError};
use crate::azure::cloud::{self, BadArmEndpoint, Cloud};
use crate::azure::compute::ComputeResource;
use crate::azure::credential::{self, AuthMethod, CredentialError, TenantId};
use crate::azure::resource_id::ComputeId;

/// How to reach Azure; shared by every command that talks to ARM.
#[derive(Clone, Debug)]
pub struct AzureOptions {
    /// Which cloud's ARM and sign-in to use (`--cloud`).
    pub cloud: Cloud,
    /// Which credential to sign in with (`--auth`).
    pub auth: AuthMethod,
    /// `--timeout`: the budget for talking to Azure (sign-in and ARM, retries included) — one per command, or
    /// per lookup of a connection. Turned into a `Deadline` only by `AzureOptions::deadline`.
    pub timeout: Duration,
}

impl AzureOptions {
    /// Starts the `--timeout` budget: call once, when the talking to Azure begins, and pass the deadline down.
    pub(crate) fn deadline(&self) -> Deadline {
        Deadline::after(self.timeout, Budget::Azure)
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    #[error(transparent)]
    Endpoint(#[from] BadArmEndpoint),
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error(transparent)]
    Arm(#[from] ArmError),
}

/// Signed-in ARM clients, one per tenant, created on first use.
pub(crate) struct Session {
    options: AzureOptions,
    /// The command's `--timeout` budget: every sign-in and ARM call of the session shares it.
    deadline: Deadline,
    base: reqwest::Url,
    clients: tokio::sync::Mutex<HashMap<Option<TenantId>, Arc<ArmClient>>>,
}

impl Session {
    /// A session whose calls all end by `deadline` (made by [`AzureOptions::deadline`]).
    pub fn new(options: &AzureOptions, deadline: Deadline) -> Result<Self, SessionError> {
        let base = cloud::arm_base_url(options.cloud)?;
        Ok(Session { options: options.clone(), deadline, base, clients: Default::default() })
    }

    /// The budget the session's calls share.
    pub fn deadline(&self) -> &Deadline {
        &self.deadline
    }

    /// The client for `tenant` (`None`: the credential's default tenant), signing in on first use (a cached
    /// token makes that free).
    pub async fn client(&self, tenant: Option<&TenantId>) -> Result<Arc<ArmClient>, SessionError> {
        let key = tenant.cloned();
        if let Some(client) = self.clients.lock().await.get(&key) {
            return Ok(client.clone());
        }
        let client = Arc::new(self.sign_in(tenant).await?);
        self.clients.lock().await.insert(key, client.clone());
        Ok(client)
    }

    async fn sign_in(&self, tenant: Option<&TenantId>) -> Result<ArmClient, SessionError> {
        let options = &self.options;
        let token = credential::cached_token(options.auth, options.cloud, tenant, &self.deadline).await?;
        Ok(ArmClient::new(self.base.clone(), token)?)
    }

    /// What made the latest retry of any of this session's clients necessary: the cause to name when a deadline
    /// above the clients ends a call that was still retrying.
    pub(crate) async fn last_failure(&self) -> Option<String> {
        self.clients.lock().await.values().find_map(|client| client.last_failure())
    }

    /// Forgets the client for `tenant` and its cached token: the server refused it.
    async fn refresh(&self, tenant: Option<&TenantId>) -> Result<Arc<ArmClient>, SessionError> {
        if let Some(stale) = self.clients.lock().await.remove(&tenant.cloned()) {
            credential::forget_cached(stale.token());
        }
        self.client(tenant).await
    }

    /// Runs `request` with the client for `tenant` (`None`: the default). A cached token ARM refuses is replaced
    /// once; when ARM says the resource lives in another tenant, the session moves there, once. Returns the
    /// client that worked, so later calls (start, the tunnel's token) use the same tenant.
    pub async fn call<T, F, Fut>(
        &self,
        tenant: Option<&TenantId>,
        request: F,
    ) -> Result<(Arc<ArmClient>, T), SessionError>
    where
        F: Fn(Arc<ArmClient>) -> Fut,
        Fut: Future<Output = Result<T, ArmError>>,
    {
        let mut tenant = tenant.cloned();
        let (mut refreshed, mut moved) = (false, false);
        loop {
            let arm = self.client(tenant.as_ref()).await?;
            match request(arm.clone()).await {
                Ok(value) => return Ok((arm, value)),
                Err(ArmError::Unauthorized { .. }) if arm.token().from_cache && !refreshed => {
                    refreshed = true;
                    self.refresh(tenant.as_ref()).await?;
                }
                Err(ArmError::WrongTenant { tenant: right, .. }) if !moved && tenant.as_ref() != Some(&right) => {
                    tracing::debug!(%right, "the resource is in another tenant; signing in there");
                    moved = true;
                    tenant = Some(right);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Gets the compute, starting in the tenant remembered for it, if any (see [`Session::call`]).
    pub(crate) async fn get_compute(
        &self,
        id: &ComputeId,
        tenant: Option<&TenantId>,
    ) -> Result<(Arc<ArmClient>, ComputeResource), SessionError> {
        self.call(tenant, |arm| {
            let id = id.clone();
            let deadline = self.deadline;
            async move { arm.get_compute(&id, &deadline).await }
        })
        .await
    }
}
