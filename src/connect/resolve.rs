//! From a compute resource ID to the endpoint to connect to: sign in, look the compute up, start it when it is
//! stopped (and allowed to), and choose the endpoint — all within the caller's bounds.

use std::time::Duration;

use crate::azure::credential::Token;
use crate::azure::lifecycle::{self, LifecycleError, Progress, StartOptions};
use crate::azure::resource_id::ComputeId;
use crate::azure::session::{self, AzureOptions, SessionError};
use crate::connect::endpoint::{self, Endpoint, EndpointError, Transport};

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error("looking up {what} took longer than {secs} s (--timeout)", secs = timeout.as_secs())]
    Timeout { what: String, timeout: Duration },
}

/// Looks the compute up in ARM, starts it and waits for it when it is stopped (as `start` allows), and returns how
/// to reach it, with the token ARM accepted (the tunnel needs one too). Sign-in and lookup are bounded by
/// `azure.timeout`, the wait by `start.timeout`.
pub async fn resolve(
    id: &ComputeId,
    azure: &AzureOptions,
    start: &StartOptions,
    transport: Transport,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(Endpoint, Token), ResolveError> {
    let (arm, compute) = match tokio::time::timeout(azure.timeout, session::get_compute(id, azure)).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(ResolveError::Timeout { what: format!("compute {}", id.compute), timeout: azure.timeout });
        }
    };
    let instance = endpoint::instance_of(id, &compute)?;
    // Never start an instance that could not be connected to anyway.
    endpoint::preflight(id, &instance, transport)?;
    let instance = lifecycle::ensure_running(&arm, id, instance, start, progress).await?;
    let endpoint = endpoint::choose(id, &instance, transport)?;
    tracing::debug!(?transport, ?endpoint, "chose transport");
    Ok((endpoint, arm.token().clone()))
}
