//! Signing in and getting an ARM client for the cloud in effect: the step every command that talks to Azure
//! starts with.

use std::time::Duration;

use crate::azure::arm::{ArmClient, ArmError};
use crate::azure::cloud::{self, BadArmEndpoint, Cloud};
use crate::azure::compute::ComputeResource;
use crate::azure::credential::{self, AuthMethod, CredentialError};
use crate::azure::resource_id::ComputeId;

/// How to reach Azure; shared by every command that talks to ARM.
#[derive(Clone, Debug)]
pub struct AzureOptions {
    pub cloud: Cloud,
    pub auth: AuthMethod,
    /// Bound on one whole lookup (sign-in and ARM, retries included).
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Endpoint(#[from] BadArmEndpoint),
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error(transparent)]
    Arm(#[from] ArmError),
}

/// Signs in (reusing a cached token when there is one) and returns an ARM client for the cloud in effect.
pub async fn sign_in(options: &AzureOptions) -> Result<ArmClient, SessionError> {
    let base = cloud::arm_base_url(options.cloud)?;
    // A second less than the whole, so a hanging sign-in is reported as such rather than as a lookup timeout.
    let sign_in_timeout = options.timeout.saturating_sub(Duration::from_secs(1)).max(Duration::from_secs(1));
    let token = credential::cached_token(options.auth, options.cloud, sign_in_timeout).await?;
    Ok(ArmClient::new(base, token, options.timeout)?)
}

/// Signs in and gets the compute, signing in again once if ARM refuses a cached token (revoked, or a different
/// login since).
pub async fn get_compute(id: &ComputeId, options: &AzureOptions) -> Result<(ArmClient, ComputeResource), SessionError> {
    let arm = sign_in(options).await?;
    match arm.get_compute(id).await {
        Ok(compute) => Ok((arm, compute)),
        Err(ArmError::Unauthorized { .. }) if arm.token().from_cache => {
            credential::forget_cached(arm.token());
            let arm = sign_in(options).await?;
            let compute = arm.get_compute(id).await?;
            Ok((arm, compute))
        }
        Err(e) => Err(e.into()),
    }
}
