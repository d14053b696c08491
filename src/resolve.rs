//! From a compute resource ID to the address to connect to: token, ARM lookup, and the checks that turn every
//! reason an instance cannot be reached into its own message.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::arm::{ArmClient, ArmError};
use crate::cloud::{self, Cloud};
use crate::compute::{ComputeResource, ComputeState, StateClass};
use crate::credential::{self, AuthMethod, CredentialError};
use crate::lifecycle::{self, LifecycleError, StartOptions};
use crate::resource_id::ComputeId;

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
        "{name} has SSH public access disabled, so it has no direct SSH endpoint; create the instance with SSH access enabled (it cannot be changed later) or reach it with `az ml compute connect-ssh`"
    )]
    SshDisabled { name: String },
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

/// Signs in and returns an ARM client for the cloud in effect.
pub async fn session(options: &AzureOptions) -> Result<ArmClient, ResolveError> {
    let base = cloud::arm_base_url(options.cloud).map_err(ResolveError::Setup)?;
    // A second less than the whole, so a hanging sign-in is reported as such rather than as a lookup timeout.
    let sign_in_timeout = options.timeout.saturating_sub(Duration::from_secs(1)).max(Duration::from_secs(1));
    let token = credential::get_token(options.auth, options.cloud, sign_in_timeout).await?;
    Ok(ArmClient::new(base, token, options.timeout)?)
}

/// Looks the compute up in ARM, starts it and waits for it when it is stopped (as `start` allows), and returns its
/// direct SSH endpoint. Sign-in and lookup are bounded by `azure.timeout`, the wait by `start.timeout`.
pub async fn resolve(id: &ComputeId, azure: &AzureOptions, start: &StartOptions) -> Result<SocketAddr, ResolveError> {
    let what = format!("compute {}", id.compute);
    let lookup = async {
        let arm = session(azure).await?;
        let compute = arm.get_compute(id).await?;
        Ok::<_, ResolveError>((arm, compute))
    };
    let (arm, compute) = match tokio::time::timeout(azure.timeout, lookup).await {
        Ok(result) => result?,
        Err(_) => return Err(ResolveError::Timeout { what, timeout: azure.timeout }),
    };
    // Never start an instance that could not be connected to anyway.
    preflight(id, &compute)?;
    let compute = lifecycle::ensure_running(&arm, id, compute, start).await?;
    Ok(direct_endpoint(id, &compute)?)
}

/// The checks that do not depend on the state: the kind of compute (never fixable) and SSH access (fixed at
/// creation).
pub fn preflight(id: &ComputeId, compute: &ComputeResource) -> Result<(), EndpointError> {
    let name = id.compute.clone();
    match compute.compute_type() {
        Some(kind) if kind.eq_ignore_ascii_case("ComputeInstance") => {}
        other => {
            let kind = other.unwrap_or("untyped").to_owned();
            return Err(EndpointError::NotComputeInstance { name, kind });
        }
    }
    let instance = compute.instance().map_err(|reason| EndpointError::Malformed { name: name.clone(), reason })?;
    let ssh = instance.ssh_settings.unwrap_or_default();
    let public_access = ssh.ssh_public_access.as_deref().unwrap_or("Disabled");
    if !public_access.eq_ignore_ascii_case("Enabled") {
        return Err(EndpointError::SshDisabled { name });
    }
    Ok(())
}

/// Checks, in an order that gives the most useful message first: the kind of compute (never fixable), SSH access
/// (fixed at creation), the state (fixable by starting), then the endpoint itself (absent while stopped).
pub fn direct_endpoint(id: &ComputeId, compute: &ComputeResource) -> Result<SocketAddr, EndpointError> {
    preflight(id, compute)?;
    let name = id.compute.clone();
    let instance = compute.instance().map_err(|reason| EndpointError::Malformed { name: name.clone(), reason })?;
    let ssh = instance.ssh_settings.unwrap_or_default();

    let state = ComputeState::parse(instance.state.as_deref().unwrap_or("Unknown"));
    if state.class() != StateClass::Connectable {
        let last = instance.last_operation.unwrap_or_default();
        let why = match (last.operation_trigger.as_deref(), last.operation_time.as_deref()) {
            (Some(t), Some(at)) if t.eq_ignore_ascii_case("IdleShutdown") => {
                format!(" (idle shutdown at {at})")
            }
            (Some(t), None) if t.eq_ignore_ascii_case("IdleShutdown") => " (idle shutdown)".into(),
            _ => String::new(),
        };
        let remedy = match state.class() {
            StateClass::Stopped => format!("start it with `azml-ssh start {id}` (or connect without --no-start)"),
            StateClass::Transitional => "wait until it is Running and connect again".into(),
            _ => "it cannot accept connections; check it in Azure ML studio (it may need to be recreated)".into(),
        };
        return Err(EndpointError::NotConnectable { name, state, why, remedy });
    }

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
