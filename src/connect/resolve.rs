//! From a compute resource ID to the endpoint to connect to: sign in, look the compute up, start it when it is
//! stopped (and allowed to), and choose the endpoint — all within the caller's bounds.

use crate::azure::arm::ArmError;
use crate::azure::credential::{TenantId, Token};
use crate::azure::lifecycle::{self, LifecycleError, Progress, StartOptions};
use crate::azure::resource_id::ComputeId;
use crate::azure::schedule::Schedule;
use crate::azure::session::{AzureOptions, Session, SessionError};
use crate::connect::endpoint::{self, Endpoint, EndpointError, Transport};
use crate::transport::tunnel::AllowedGateway;
use crate::util::deadline::TimedOut;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ResolveError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    TimedOut(#[from] TimedOut),
}

impl ResolveError {
    /// ARM says the compute does not exist (deleted, or never was).
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, ResolveError::Session(SessionError::Arm(ArmError::NotFound { .. })))
    }
}

/// What a lookup found.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub endpoint: Endpoint,
    /// With `--transport auto` and a direct endpoint: the tunnel to use if the direct one does not answer
    /// (firewalls that pass only 443 are common).
    pub fallback: Option<AllowedGateway>,
    /// The token ARM accepted (the tunnel needs one too).
    pub token: Token,
    /// The tenant the compute was found in, when it is not the credential's default.
    pub tenant: Option<TenantId>,
    /// The instance's start/stop schedules, from the same lookup (`code` warns of a stop coming soon).
    pub schedules: Vec<Schedule>,
}

/// Looks the compute up in ARM (in `tenant`, the one remembered for it, if any), starts it and waits for it when
/// it is stopped (as `start` allows), and returns how to reach it. Sign-in and lookup share one `--timeout`
/// budget, which begins here; the wait has its own (`start.wait`).
pub(crate) async fn resolve(
    id: &ComputeId,
    azure: &AzureOptions,
    tenant: Option<&TenantId>,
    start: &StartOptions,
    transport: Transport,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Resolved, ResolveError> {
    let session = Session::new(azure, azure.deadline()).map_err(ResolveError::Session)?;
    let lookup = session.deadline().net(format!("looking up compute {}", id.compute), session.get_compute(id, tenant));
    let (arm, compute) = match lookup.await {
        Ok(result) => result?,
        Err(timed_out) => return Err(timed_out.after_failure(session.last_failure().await).into()),
    };
    let instance = endpoint::instance_of(id, &compute)?;
    // Never start an instance that could not be connected to anyway.
    endpoint::preflight(id, &instance, transport)?;
    let instance = lifecycle::ensure_running(&arm, id, instance, start, progress).await?;
    let endpoint = endpoint::choose(id, &instance, transport)?;
    if let Endpoint::Tunnel { gateway } = &endpoint
        && !azure.cloud.gateway_allowed(gateway)
    {
        let domains = azure.cloud.gateway_domains().names().join(", ");
        return Err(
            EndpointError::UntrustedGateway { name: id.compute.clone(), host: gateway.host.clone(), domains }.into()
        );
    }
    let fallback = endpoint::fallback(&instance, &endpoint, transport).and_then(|g| azure.cloud.allow(&g));
    tracing::debug!(?transport, ?endpoint, ?fallback, "chose transport");
    let (token, tenant) = (arm.token().clone(), arm.token().tenant.clone());
    Ok(Resolved { endpoint, fallback, token, tenant, schedules: instance.schedules })
}
