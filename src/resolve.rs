//! From a compute resource ID to the address to connect to: token, ARM lookup, and the checks that turn every
//! reason an instance cannot be reached into its own message.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::arm::{ArmClient, ArmError};
use crate::cloud::{self, Cloud};
use crate::compute::{ComputeResource, ComputeState, StateClass};
use crate::credential::{self, AuthMethod, CredentialError, Token};
use crate::lifecycle::{self, LifecycleError, StartOptions};
use crate::resource_id::ComputeId;
use crate::tunnel::Gateway;

/// How to reach Azure; shared by every command that talks to ARM.
#[derive(Clone, Debug)]
pub struct AzureOptions {
    pub cloud: Cloud,
    pub auth: AuthMethod,
    /// Bound on the whole resolution (token + ARM, retries included).
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error(transparent)]
    Arm(#[from] ArmError),
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error("{0}")]
    Setup(String),
    #[error("looking up {what} took longer than {secs} s (--timeout)", secs = timeout.as_secs())]
    Timeout { what: String, timeout: Duration },
}

/// Why a compute document does not give a usable direct SSH endpoint.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("{name} is a {kind} compute, not a compute instance; azml-ssh connects only to compute instances")]
    NotComputeInstance { name: String, kind: String },
    #[error("the compute document for {name} is not a valid compute instance: {reason}")]
    Malformed { name: String, reason: String },
    #[error("{name} is {state}{why}; {remedy}")]
    NotConnectable { name: String, state: ComputeState, why: String, remedy: String },
    #[error(
        "{name} has SSH public access disabled, so it has no direct SSH endpoint; use the Azure ML tunnel instead (--transport auto or tunnel)"
    )]
    SshDisabled { name: String },
    #[error("ARM gives no Jupyter endpoint for {name}, which the tunnel goes through; it may still be setting up")]
    NoGateway { name: String },
    #[error(
        "{name} is running but ARM reports no public IP address (connectivityEndpoints.publicIpAddress); instances in a virtual network without a public IP cannot be reached directly"
    )]
    NoPublicIp { name: String },
    #[error("ARM reports a public IP address for {name} that is not an IP address: {value:?}")]
    BadIp { name: String, value: String },
    #[error("ARM reports no SSH port for {name} (sshSettings.sshPort)")]
    NoPort { name: String },
    #[error("ARM reports an SSH port for {name} that is not a number from 1 to 65535: {value}")]
    BadPort { name: String, value: String },
}

/// Signs in (reusing a cached token when there is one) and returns an ARM client for the cloud in effect.
pub async fn session(options: &AzureOptions) -> Result<ArmClient, ResolveError> {
    let base = cloud::arm_base_url(options.cloud).map_err(ResolveError::Setup)?;
    // A second less than the whole, so a hanging sign-in is reported as such rather than as a lookup timeout.
    let sign_in_timeout = options.timeout.saturating_sub(Duration::from_secs(1)).max(Duration::from_secs(1));
    let token = credential::cached_token(options.auth, options.cloud, sign_in_timeout).await?;
    Ok(ArmClient::new(base, token, options.timeout)?)
}

/// Gets the compute, signing in again once if ARM refuses a cached token (revoked, or a different login since).
async fn fetch(id: &ComputeId, azure: &AzureOptions) -> Result<(ArmClient, ComputeResource), ResolveError> {
    let arm = session(azure).await?;
    match arm.get_compute(id).await {
        Ok(compute) => Ok((arm, compute)),
        Err(ArmError::Unauthorized { .. }) if arm.token().from_cache => {
            credential::forget_cached(arm.token());
            let arm = session(azure).await?;
            let compute = arm.get_compute(id).await?;
            Ok((arm, compute))
        }
        Err(e) => Err(e.into()),
    }
}

/// Looks the compute up in ARM, starts it and waits for it when it is stopped (as `start` allows), and returns how
/// to reach it, with the token ARM accepted (the tunnel needs one too). Sign-in and lookup are bounded by
/// `azure.timeout`, the wait by `start.timeout`.
pub async fn resolve(
    id: &ComputeId,
    azure: &AzureOptions,
    start: &StartOptions,
    transport: Transport,
) -> Result<(Endpoint, Token), ResolveError> {
    let what = format!("compute {}", id.compute);
    let (arm, compute) = match tokio::time::timeout(azure.timeout, fetch(id, azure)).await {
        Ok(result) => result?,
        Err(_) => return Err(ResolveError::Timeout { what, timeout: azure.timeout }),
    };
    // Never start an instance that could not be connected to anyway.
    preflight(id, &compute, transport)?;
    let compute = lifecycle::ensure_running(&arm, id, compute, start).await?;
    let endpoint = choose_endpoint(id, &compute, transport)?;
    tracing::debug!(?transport, ?endpoint, "chose transport");
    Ok((endpoint, arm.token().clone()))
}

/// How a connection reaches the instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// Direct when the instance has public SSH and a public IP, the tunnel otherwise.
    #[default]
    Auto,
    /// TCP to the instance's public IP and SSH port.
    Direct,
    /// The Azure ML WebSocket tunnel.
    Tunnel,
}

/// Where to connect, as cached between connections.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "transport", rename_all = "lowercase")]
pub enum Endpoint {
    Direct { address: SocketAddr },
    Tunnel { gateway: Gateway },
}

impl Endpoint {
    pub fn transport_name(&self) -> &'static str {
        match self {
            Endpoint::Direct { .. } => "direct",
            Endpoint::Tunnel { .. } => "tunnel",
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Direct { address } => write!(f, "{address}"),
            Endpoint::Tunnel { gateway } => write!(f, "{}:{}", gateway.host, gateway.port),
        }
    }
}

fn has_public_ssh(compute: &ComputeResource) -> bool {
    compute
        .instance()
        .ok()
        .and_then(|i| i.ssh_settings)
        .and_then(|s| s.ssh_public_access)
        .is_some_and(|a| a.eq_ignore_ascii_case("Enabled"))
}

/// The checks that do not depend on the state: the kind of compute (never fixable) and, for the direct
/// transport, SSH public access (fixed at creation).
pub fn preflight(id: &ComputeId, compute: &ComputeResource, transport: Transport) -> Result<(), EndpointError> {
    let name = id.compute.clone();
    match compute.compute_type() {
        Some(kind) if kind.eq_ignore_ascii_case("ComputeInstance") => {}
        other => {
            let kind = other.unwrap_or("untyped").to_owned();
            return Err(EndpointError::NotComputeInstance { name, kind });
        }
    }
    compute.instance().map_err(|reason| EndpointError::Malformed { name: name.clone(), reason })?;
    if transport == Transport::Direct && !has_public_ssh(compute) {
        return Err(EndpointError::SshDisabled { name });
    }
    Ok(())
}

/// The endpoint for `transport` of a compute that should be running now.
pub fn choose_endpoint(
    id: &ComputeId,
    compute: &ComputeResource,
    transport: Transport,
) -> Result<Endpoint, EndpointError> {
    preflight(id, compute, transport)?;
    check_state(id, compute)?;
    let tunnel = || {
        Gateway::from_compute(compute)
            .map(|gateway| Endpoint::Tunnel { gateway })
            .ok_or_else(|| EndpointError::NoGateway { name: id.compute.clone() })
    };
    match transport {
        Transport::Direct => direct_endpoint(id, compute).map(|address| Endpoint::Direct { address }),
        Transport::Tunnel => tunnel(),
        Transport::Auto if has_public_ssh(compute) => match direct_endpoint(id, compute) {
            Ok(address) => Ok(Endpoint::Direct { address }),
            // Public SSH on paper but no public IP (a virtual network without one): the gateway still works.
            Err(EndpointError::NoPublicIp { .. }) => tunnel(),
            Err(e) => Err(e),
        },
        Transport::Auto => tunnel(),
    }
}

/// Fails unless the state accepts connections, saying why not and what to do.
fn check_state(id: &ComputeId, compute: &ComputeResource) -> Result<(), EndpointError> {
    let name = id.compute.clone();
    let instance = compute.instance().map_err(|reason| EndpointError::Malformed { name: name.clone(), reason })?;
    let state = ComputeState::parse(instance.state.as_deref().unwrap_or("Unknown"));
    if state.class() == StateClass::Connectable {
        return Ok(());
    }
    let last = instance.last_operation.unwrap_or_default();
    let why = match (last.operation_trigger.as_deref(), last.operation_time.as_deref()) {
        (Some(t), Some(at)) if t.eq_ignore_ascii_case("IdleShutdown") => format!(" (idle shutdown at {at})"),
        (Some(t), None) if t.eq_ignore_ascii_case("IdleShutdown") => " (idle shutdown)".into(),
        _ => String::new(),
    };
    let remedy = match state.class() {
        StateClass::Stopped => format!("start it with `azml-ssh start {id}` (or connect without --no-start)"),
        StateClass::Transitional => "wait until it is Running and connect again".into(),
        _ => "it cannot accept connections; check it in Azure ML studio (it may need to be recreated)".into(),
    };
    Err(EndpointError::NotConnectable { name, state, why, remedy })
}

/// The direct endpoint `publicIpAddress:sshPort`, both validated, of a running instance with public SSH.
pub fn direct_endpoint(id: &ComputeId, compute: &ComputeResource) -> Result<SocketAddr, EndpointError> {
    preflight(id, compute, Transport::Direct)?;
    check_state(id, compute)?;
    let name = id.compute.clone();
    let instance = compute.instance().map_err(|reason| EndpointError::Malformed { name: name.clone(), reason })?;
    let ssh = instance.ssh_settings.unwrap_or_default();
    let ip_text = instance
        .connectivity_endpoints
        .and_then(|c| c.public_ip_address)
        .filter(|ip| !ip.is_empty())
        .ok_or_else(|| EndpointError::NoPublicIp { name: name.clone() })?;
    let ip: IpAddr =
        ip_text.parse().map_err(|_| EndpointError::BadIp { name: name.clone(), value: ip_text.clone() })?;
    let port = parse_port(ssh.ssh_port.as_ref(), &name)?;
    Ok(SocketAddr::new(ip, port))
}

fn parse_port(value: Option<&serde_json::Value>, name: &str) -> Result<u16, EndpointError> {
    let bad = |value: &serde_json::Value| EndpointError::BadPort { name: name.to_owned(), value: value.to_string() };
    let value = match value {
        None | Some(serde_json::Value::Null) => {
            return Err(EndpointError::NoPort { name: name.to_owned() });
        }
        Some(value) => value,
    };
    let number = match value {
        serde_json::Value::Number(n) => n.as_u64(),
        // Tolerate a numeric string: some ARM serialisers have sent ports as strings.
        serde_json::Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        _ => None,
    };
    match number {
        Some(n @ 1..=65535) => Ok(n as u16),
        _ => Err(bad(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id() -> ComputeId {
        "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/ci1"
            .parse()
            .unwrap()
    }

    fn doc(instance: serde_json::Value) -> ComputeResource {
        serde_json::from_value(
            json!({"name": "ci1", "properties": {"computeType": "ComputeInstance", "properties": instance}}),
        )
        .unwrap()
    }

    fn running(ip: serde_json::Value, port: serde_json::Value) -> ComputeResource {
        doc(json!({
            "state": "Running",
            "sshSettings": {"sshPublicAccess": "Enabled", "adminUserName": "azureuser", "sshPort": port},
            "connectivityEndpoints": {"publicIpAddress": ip}
        }))
    }

    #[test]
    fn running_instance_gives_ip_and_port() {
        let ep = direct_endpoint(&id(), &running(json!("20.1.2.3"), json!(50000))).unwrap();
        assert_eq!(ep, "20.1.2.3:50000".parse().unwrap());
        let ep = direct_endpoint(&id(), &running(json!("2001:db8::1"), json!("50001"))).unwrap();
        assert_eq!(ep, "[2001:db8::1]:50001".parse().unwrap());
    }

    #[test]
    fn endpoint_values_are_validated() {
        for (ip, port) in [
            (json!("example.com"), json!(22)),
            (json!("1.2.3.4; rm -rf /"), json!(22)),
            (json!("1.2.3.4:22"), json!(22)),
            (json!(12), json!(22)),
            (json!("1.2.3.4"), json!(0)),
            (json!("1.2.3.4"), json!(65536)),
            (json!("1.2.3.4"), json!(-1)),
            (json!("1.2.3.4"), json!("22 ")),
            (json!("1.2.3.4"), json!(22.5)),
            (json!("1.2.3.4"), json!(null)),
            (json!(null), json!(22)),
            (json!(""), json!(22)),
        ] {
            let result = direct_endpoint(&id(), &running(ip.clone(), port.clone()));
            assert!(result.is_err(), "{ip} {port} accepted");
        }
    }

    #[test]
    fn stopped_by_idle_shutdown_says_why_and_how_to_start() {
        let compute = doc(json!({
            "state": "Stopped",
            "sshSettings": {"sshPublicAccess": "Enabled", "sshPort": 50000},
            "lastOperation": {"operationName": "Stop", "operationTrigger": "IdleShutdown", "operationTime": "2026-11-26T14:02:00Z"}
        }));
        let message = direct_endpoint(&id(), &compute).unwrap_err().to_string();
        assert!(
            message.starts_with(
                "ci1 is Stopped (idle shutdown at 2026-11-26T14:02:00Z); start it with `azml-ssh start /subscriptions/"
            ),
            "{message}"
        );
    }

    #[test]
    fn checks_come_in_order_of_usefulness() {
        let not_ci: ComputeResource =
            serde_json::from_value(json!({"properties": {"computeType": "AmlCompute", "properties": {"state": 3}}}))
                .unwrap();
        assert!(matches!(direct_endpoint(&id(), &not_ci), Err(EndpointError::NotComputeInstance { .. })));
        let disabled_and_stopped = doc(json!({"state": "Stopped", "sshSettings": {"sshPublicAccess": "Disabled"}}));
        assert!(matches!(direct_endpoint(&id(), &disabled_and_stopped), Err(EndpointError::SshDisabled { .. })));
        let malformed = doc(json!({"state": ["Running"]}));
        assert!(matches!(direct_endpoint(&id(), &malformed), Err(EndpointError::Malformed { .. })));
        for (state, expected) in
            [("Starting", "wait until"), ("Unusable", "cannot accept"), ("Frobbing", "\"Frobbing\"")]
        {
            let compute = doc(json!({"state": state, "sshSettings": {"sshPublicAccess": "Enabled"}}));
            let message = direct_endpoint(&id(), &compute).unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
        }
    }
}
