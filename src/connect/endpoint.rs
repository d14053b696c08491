//! Choosing how to reach an instance from its typed description: pure decisions, no I/O, each reason an instance
//! cannot be reached its own message.

use std::net::SocketAddr;

use crate::azure::compute::{ComputeResource, ComputeState, Field, Instance, InstanceError, SshAccess, StateClass};
use crate::azure::resource_id::ComputeId;
use crate::transport::tunnel::Gateway;

/// How a connection reaches the instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
pub(crate) enum Endpoint {
    Direct { address: SocketAddr },
    Tunnel { gateway: Gateway },
}

impl Endpoint {
    /// The transport this endpoint is for.
    pub fn transport(&self) -> Transport {
        match self {
            Endpoint::Direct { .. } => Transport::Direct,
            Endpoint::Tunnel { .. } => Transport::Tunnel,
        }
    }

    /// Whether a connection asked to use `transport` may use this endpoint.
    pub(crate) fn serves(&self, transport: Transport) -> bool {
        transport == Transport::Auto || transport == self.transport()
    }
}

impl Transport {
    /// Every transport, for `--transport`'s values.
    pub const ALL: [Transport; 3] = [Transport::Auto, Transport::Direct, Transport::Tunnel];

    /// For people, `--transport` and `status --json`: "auto", "direct", "tunnel".
    pub fn name(self) -> &'static str {
        match self {
            Transport::Auto => "auto",
            Transport::Direct => "direct",
            Transport::Tunnel => "tunnel",
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

/// Why an instance gives no usable endpoint.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EndpointError {
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
    #[error(
        "ARM reports a public IP address for {name} that is not an IP address: {value:?}; use the tunnel (--transport tunnel) meanwhile"
    )]
    BadIp { name: String, value: String },
    #[error(
        "ARM reports no SSH port for {name} (sshSettings.sshPort); use the tunnel (--transport tunnel), or wait until it has finished setting up"
    )]
    NoPort { name: String },
    #[error(
        "ARM reports an SSH port for {name} that is not a number from 1 to 65535: {value}; use the tunnel (--transport tunnel) meanwhile"
    )]
    BadPort { name: String, value: String },
    #[error(
        "the gateway of {name}, {host}, is not under {domains}, where Azure ML instances live; refusing to send it a token (set AZML_SSH_GATEWAY_DOMAINS if your cloud uses another domain)"
    )]
    UntrustedGateway { name: String, host: String, domains: String },
}

/// The typed instance, or the reason the document is not one, named for `id`.
pub(crate) fn instance_of(id: &ComputeId, compute: &ComputeResource) -> Result<Instance, EndpointError> {
    compute.instance().map_err(|e| {
        let name = id.compute.clone();
        match e {
            InstanceError::NotComputeInstance { kind } => EndpointError::NotComputeInstance { name, kind },
            InstanceError::Malformed { reason } => EndpointError::Malformed { name, reason },
        }
    })
}

/// The check that does not depend on the state: for the direct transport, SSH public access (fixed at creation).
pub(crate) fn preflight(id: &ComputeId, instance: &Instance, transport: Transport) -> Result<(), EndpointError> {
    if transport == Transport::Direct && instance.ssh_access != SshAccess::Enabled {
        return Err(EndpointError::SshDisabled { name: id.compute.clone() });
    }
    Ok(())
}

/// The endpoint for `transport` of an instance that should be running now.
pub(crate) fn choose(id: &ComputeId, instance: &Instance, transport: Transport) -> Result<Endpoint, EndpointError> {
    preflight(id, instance, transport)?;
    check_state(id, instance)?;
    let tunnel = || {
        instance
            .gateway
            .clone()
            .map(|gateway| Endpoint::Tunnel { gateway })
            .ok_or_else(|| EndpointError::NoGateway { name: id.compute.clone() })
    };
    match transport {
        Transport::Direct => direct_address(id, instance).map(|address| Endpoint::Direct { address }),
        Transport::Tunnel => tunnel(),
        Transport::Auto if instance.ssh_access == SshAccess::Enabled => match direct_address(id, instance) {
            Ok(address) => Ok(Endpoint::Direct { address }),
            // Public SSH on paper but no public IP (a virtual network without one): the gateway still works.
            Err(EndpointError::NoPublicIp { .. }) => tunnel(),
            Err(e) => Err(e),
        },
        Transport::Auto => tunnel(),
    }
}

/// With `--transport auto`, the tunnel to fall back on when the chosen direct endpoint does not answer.
pub(crate) fn fallback(instance: &Instance, chosen: &Endpoint, transport: Transport) -> Option<Gateway> {
    match (transport, chosen) {
        (Transport::Auto, Endpoint::Direct { .. }) => instance.gateway.clone(),
        _ => None,
    }
}

/// The transport a connection with `--transport auto` will use once the instance runs.
pub(crate) fn expected_transport(instance: &Instance) -> Transport {
    match instance.ssh_access {
        SshAccess::Enabled => Transport::Direct,
        SshAccess::Disabled => Transport::Tunnel,
    }
}

/// Fails unless the state accepts connections, saying why not and what to do.
pub(crate) fn check_state(id: &ComputeId, instance: &Instance) -> Result<(), EndpointError> {
    let state = &instance.state;
    if state.class() == StateClass::Connectable {
        return Ok(());
    }
    let why = match instance.last_operation.as_ref().filter(|op| op.by_idle_shutdown()) {
        Some(op) => match &op.time {
            Some(at) => format!(" (idle shutdown at {at})"),
            None => " (idle shutdown)".into(),
        },
        None => String::new(),
    };
    // Azure's own reasons, when it gives any, say more than the state does.
    let why = match instance.errors.as_slice() {
        [] => why,
        reasons => format!("{why} (Azure says: {})", reasons.join("; ")),
    };
    let remedy = match state.class() {
        StateClass::Stopped => format!("start it with `azml-ssh start {id}` (or connect without --no-start)"),
        StateClass::Transitional => "wait until it is Running and connect again".into(),
        _ => "it cannot accept connections; check it in Azure ML studio (it may need to be recreated)".into(),
    };
    Err(EndpointError::NotConnectable { name: id.compute.clone(), state: state.clone(), why, remedy })
}

/// The direct endpoint `publicIpAddress:sshPort` of a running instance with public SSH.
pub(crate) fn direct_address(id: &ComputeId, instance: &Instance) -> Result<SocketAddr, EndpointError> {
    preflight(id, instance, Transport::Direct)?;
    check_state(id, instance)?;
    let name = || id.compute.clone();
    let ip = match &instance.public_ip {
        Field::Valid(ip) => *ip,
        Field::Absent => return Err(EndpointError::NoPublicIp { name: name() }),
        Field::Invalid(value) => return Err(EndpointError::BadIp { name: name(), value: value.clone() }),
    };
    let port = match &instance.ssh_port {
        Field::Valid(port) => *port,
        Field::Absent => return Err(EndpointError::NoPort { name: name() }),
        Field::Invalid(value) => return Err(EndpointError::BadPort { name: name(), value: value.clone() }),
    };
    Ok(SocketAddr::new(ip, port))
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

    fn direct(compute: &ComputeResource) -> Result<SocketAddr, EndpointError> {
        direct_address(&id(), &instance_of(&id(), compute)?)
    }

    fn running(ip: serde_json::Value, port: serde_json::Value) -> ComputeResource {
        doc(json!({
            "state": "Running",
            "sshSettings": {"sshPublicAccess": "Enabled", "adminUserName": "azureuser", "sshPort": port},
            "connectivityEndpoints": {"publicIpAddress": ip},
            "applications": [{"displayName": "Jupyter", "endpointUri": "https://ci1.eastus2.instances.azureml.ms/tree/"}]
        }))
    }

    #[test]
    fn running_instance_gives_ip_and_port() {
        let ep = direct(&running(json!("20.1.2.3"), json!(50000))).unwrap();
        assert_eq!(ep, "20.1.2.3:50000".parse().unwrap());
        let ep = direct(&running(json!("2001:db8::1"), json!("50001"))).unwrap();
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
            let result = direct(&running(ip.clone(), port.clone()));
            assert!(result.is_err(), "{ip} {port} accepted");
        }
    }

    #[test]
    fn auto_prefers_direct_and_falls_back_to_the_tunnel_without_a_public_ip() {
        let with_ip = instance_of(&id(), &running(json!("20.1.2.3"), json!(50000))).unwrap();
        assert_eq!(choose(&id(), &with_ip, Transport::Auto).unwrap().transport(), Transport::Direct);
        assert_eq!(choose(&id(), &with_ip, Transport::Tunnel).unwrap().transport(), Transport::Tunnel);
        let without_ip = instance_of(&id(), &running(json!(null), json!(50000))).unwrap();
        let endpoint = choose(&id(), &without_ip, Transport::Auto).unwrap();
        assert!(endpoint.serves(Transport::Tunnel) && !endpoint.serves(Transport::Direct));
        assert_eq!(endpoint.to_string(), "ci1.eastus2.instances.azureml.ms:443");
    }

    #[test]
    fn stopped_by_idle_shutdown_says_why_and_how_to_start() {
        let compute = doc(json!({
            "state": "Stopped",
            "sshSettings": {"sshPublicAccess": "Enabled", "sshPort": 50000},
            "lastOperation": {"operationName": "Stop", "operationTrigger": "IdleShutdown", "operationTime": "2026-11-26T14:02:00Z"}
        }));
        let message = direct(&compute).unwrap_err().to_string();
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
        assert!(matches!(direct(&not_ci), Err(EndpointError::NotComputeInstance { .. })));
        let disabled_and_stopped = doc(json!({"state": "Stopped", "sshSettings": {"sshPublicAccess": "Disabled"}}));
        assert!(matches!(direct(&disabled_and_stopped), Err(EndpointError::SshDisabled { .. })));
        let malformed = doc(json!({"state": ["Running"]}));
        assert!(matches!(direct(&malformed), Err(EndpointError::Malformed { .. })));
        for (state, expected) in
            [("Starting", "wait until"), ("Unusable", "cannot accept"), ("Frobbing", "\"Frobbing\"")]
        {
            let compute = doc(json!({"state": state, "sshSettings": {"sshPublicAccess": "Enabled"}}));
            let message = direct(&compute).unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
        }
    }

    /// JSON values built from the names and values a compute document uses, nested and shuffled: hostile or
    /// broken ARM answers.
    fn hostile_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let keys = prop::sample::select(vec![
            "properties",
            "computeType",
            "state",
            "sshSettings",
            "sshPublicAccess",
            "sshPort",
            "adminUserName",
            "connectivityEndpoints",
            "publicIpAddress",
            "applications",
            "displayName",
            "endpointUri",
            "lastOperation",
            "operationTrigger",
            "operationTime",
            "personalComputeInstanceSettings",
            "assignedUser",
            "objectId",
            "createdBy",
            "userId",
            "id",
            "name",
        ]);
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(|f| serde_json::json!(f)),
            prop::sample::select(vec![
                "ComputeInstance",
                "Running",
                "Stopped",
                "Enabled",
                "Jupyter",
                "IdleShutdown",
                "1.2.3.4",
                "::1",
                "https://ci1.eastus2.instances.azureml.ms/tree/",
                "https://[::1]:0/",
                "50000",
                "-1",
                "",
                "\u{0}",
                "ﬀ",
                "99999999999999999999",
            ])
            .prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(5, 64, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|pairs| serde_json::Value::Object(
                    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn hostile_compute_documents_never_panic(body in hostile_json(), instance in hostile_json()) {
            let mut doc = body;
            if let Some(object) = doc.as_object_mut() {
                object.insert("properties".into(), json!({"computeType": "ComputeInstance", "properties": instance}));
            }
            let text = doc.to_string();
            if let Ok(compute) = serde_json::from_str::<ComputeResource>(&text)
                && let Ok(instance) = instance_of(&id(), &compute)
            {
                for transport in [Transport::Auto, Transport::Direct, Transport::Tunnel] {
                    let _ = choose(&id(), &instance, transport).map(|e| e.to_string());
                }
                let _ = instance.belongs_to("me");
            }
        }
    }
}
