//! The parts of ARM's compute document that azml-ssh reads (API version 2025-12-01).
//!
//! Everything is optional: ARM omits or nulls fields depending on state (a stopped instance has no IP), and a
//! field we do not know about must never break parsing.

use std::fmt;
use std::net::IpAddr;

use serde::Deserialize;

use crate::azure::idle::IdleShutdown;
use crate::azure::schedule::{self, Schedule};
use crate::transport::tunnel::Gateway;

/// `GET .../computes/{name}`. `properties.properties` stays raw until the compute type is known, because other
/// compute types (AmlCompute, Kubernetes, ...) put differently shaped documents there.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ComputeResource {
    pub id: Option<String>,
    pub name: Option<String>,
    properties: Option<ComputeProperties>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ComputeProperties {
    pub compute_type: Option<String>,
    /// `Creating`, `Updating`, `Succeeded`, `Failed`, … — the resource's, not the machine's.
    pub provisioning_state: Option<String>,
    pub provisioning_errors: Option<Vec<ErrorEnvelope>>,
    pub properties: Option<serde_json::Value>,
}

/// `{"error": {"code", "message"}}`, as ARM lists provisioning errors and an instance's errors.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorEnvelope {
    error: Option<ErrorDetail>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorDetail {
    code: Option<String>,
    message: Option<String>,
}

impl ErrorEnvelope {
    /// `Code: message`, one line, control characters escaped; `None` when it says nothing.
    fn line(&self) -> Option<String> {
        let detail = self.error.as_ref()?;
        let text = match (detail.code.as_deref(), detail.message.as_deref()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(text), None) | (None, Some(text)) => text.to_owned(),
            (None, None) => return None,
        };
        Some(crate::util::text::one_line_max(&text, 300))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct InstanceProperties {
    pub state: Option<String>,
    pub ssh_settings: Option<SshSettings>,
    pub connectivity_endpoints: Option<ConnectivityEndpoints>,
    pub applications: Option<Vec<Application>>,
    pub last_operation: Option<LastOperation>,
    pub personal_compute_instance_settings: Option<PersonalSettings>,
    pub created_by: Option<CreatedBy>,
    pub errors: Option<Vec<ErrorEnvelope>>,
    /// ISO 8601; raw, so an odd value shows as such instead of making the document unreadable.
    pub idle_time_before_shutdown: Option<serde_json::Value>,
    /// `{"computeStartStop": [...]}`; raw for the same reason.
    pub schedules: Option<serde_json::Value>,
}

/// `createdBy`: who created the instance. Instances created by their user often have no assigned user.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CreatedBy {
    user_id: Option<String>,
    user_org_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PersonalSettings {
    pub assigned_user: Option<AssignedUser>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct AssignedUser {
    pub object_id: Option<String>,
    pub tenant_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SshSettings {
    pub ssh_public_access: Option<String>,
    pub admin_user_name: Option<String>,
    /// A number in the spec; kept raw so a string or an out-of-range value gets a clear message, not a parse error.
    pub ssh_port: Option<serde_json::Value>,
    pub admin_public_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ConnectivityEndpoints {
    pub public_ip_address: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Application {
    pub display_name: Option<String>,
    pub endpoint_uri: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct LastOperation {
    pub operation_name: Option<String>,
    pub operation_status: Option<String>,
    pub operation_trigger: Option<String>,
    pub operation_time: Option<String>,
}

impl ComputeResource {
    pub(crate) fn compute_type(&self) -> Option<&str> {
        self.properties.as_ref()?.compute_type.as_deref()
    }

    /// The typed view of a compute instance, parsed once; `Err` says why this document is not one.
    pub fn instance(&self) -> Result<Instance, InstanceError> {
        match self.compute_type() {
            Some(kind) if kind.eq_ignore_ascii_case("ComputeInstance") => {}
            other => return Err(InstanceError::NotComputeInstance { kind: other.unwrap_or("untyped").to_owned() }),
        }
        let outer = self.properties.as_ref();
        let provisioning = outer.and_then(|p| p.provisioning_state.as_deref()).map(Provisioning::parse);
        let raw = match outer.and_then(|p| p.properties.as_ref()) {
            // Right after creation ARM has nothing more to say than that it is being created.
            None | Some(serde_json::Value::Null) if provisioning.is_some_and(Provisioning::in_progress) => {
                InstanceProperties::default()
            }
            None | Some(serde_json::Value::Null) => {
                return Err(InstanceError::Malformed { reason: "it has no properties.properties".into() });
            }
            Some(value) => InstanceProperties::deserialize(value)
                .map_err(|e| InstanceError::Malformed { reason: e.to_string() })?,
        };
        let lines = outer
            .and_then(|p| p.provisioning_errors.as_ref())
            .into_iter()
            .chain(raw.errors.as_ref())
            .flatten()
            .filter_map(ErrorEnvelope::line);
        let errors = first_errors(lines);
        Ok(Instance::from_wire(raw, provisioning, errors))
    }
}

/// The most of Azure's reasons kept: they are shown on one line, which thousands would not fit.
const MAX_ERRORS: usize = 8;

/// Up to [`MAX_ERRORS`] lines, a line repeating the one before dropped, and then how many more there were.
fn first_errors(lines: impl Iterator<Item = String>) -> Vec<String> {
    let (mut errors, mut more) = (Vec::new(), 0usize);
    for line in lines {
        if errors.last() == Some(&line) {
            continue;
        }
        if errors.len() < MAX_ERRORS {
            errors.push(line);
        } else {
            more += 1;
        }
    }
    if more > 0 {
        errors.push(format!("and {more} more"));
    }
    errors
}

/// The resource's `provisioningState`: what matters is whether it is still being made, or failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Provisioning {
    InProgress,
    Failed,
    Other,
}

impl Provisioning {
    fn parse(text: &str) -> Self {
        match text.to_ascii_lowercase().as_str() {
            "creating" | "updating" | "accepted" => Provisioning::InProgress,
            "failed" => Provisioning::Failed,
            _ => Provisioning::Other,
        }
    }

    fn in_progress(self) -> bool {
        self == Provisioning::InProgress
    }
}

/// Why a compute document gives no [`Instance`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InstanceError {
    #[error("it is a {kind} compute, not a compute instance")]
    NotComputeInstance { kind: String },
    #[error("it is not a valid compute instance: {reason}")]
    Malformed { reason: String },
}

/// A value ARM may omit, send well-formed, or send in a shape we cannot use (kept as text for the message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Field<T> {
    Absent,
    Valid(T),
    Invalid(String),
}

/// `sshSettings.sshPublicAccess`: fixed when the instance is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SshAccess {
    Enabled,
    /// Disabled, absent, or a value we do not know: no direct endpoint either way.
    Disabled,
}

/// Who or what ran the last operation (`lastOperation.operationTrigger`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    User,
    Schedule,
    IdleShutdown,
    Other(String),
}

impl Trigger {
    fn parse(text: &str) -> Self {
        match text.to_ascii_lowercase().as_str() {
            "user" => Trigger::User,
            "schedule" => Trigger::Schedule,
            "idleshutdown" => Trigger::IdleShutdown,
            _ => Trigger::Other(text.to_owned()),
        }
    }

    /// In words, for people: "idle shutdown", "schedule", "user".
    pub(crate) fn words(&self) -> String {
        match self {
            Trigger::User => "user".into(),
            Trigger::Schedule => "schedule".into(),
            Trigger::IdleShutdown => "idle shutdown".into(),
            Trigger::Other(text) => crate::util::text::visible(&text.to_lowercase()),
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trigger::User => "User",
            Trigger::Schedule => "Schedule",
            Trigger::IdleShutdown => "IdleShutdown",
            Trigger::Other(text) => text,
        })
    }
}

/// The last lifecycle operation, as ARM reports it. The wire strings are kept alongside for `status --json`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Operation {
    pub name: Option<String>,
    pub status: Option<String>,
    pub trigger: Option<Trigger>,
    /// ISO 8601, as ARM sends it.
    pub time: Option<String>,
}

impl Operation {
    pub(crate) fn is_stop(&self) -> bool {
        self.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case("Stop"))
    }

    pub(crate) fn by_idle_shutdown(&self) -> bool {
        self.trigger == Some(Trigger::IdleShutdown)
    }

    /// A start or restart that failed (`StartFailed`, `RestartFailed`): waiting for Running is then pointless.
    pub(crate) fn start_failed(&self) -> bool {
        let failed = self.status.as_deref().is_some_and(|s| s.to_ascii_lowercase().ends_with("failed"));
        let starting =
            self.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case("Start") || n.eq_ignore_ascii_case("Restart"));
        failed && (starting || self.status.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("StartFailed")))
    }
}

/// An Entra ID principal: the instance's assigned user or its creator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Principal {
    pub object_id: Option<String>,
    pub tenant_id: Option<String>,
}

/// A compute instance as azml-ssh uses it: every field that drives a decision parsed into a type, once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Instance {
    pub state: ComputeState,
    pub ssh_access: SshAccess,
    pub admin_user: Option<String>,
    pub admin_public_key: Option<String>,
    pub ssh_port: Field<u16>,
    pub public_ip: Field<IpAddr>,
    /// The tunnel gateway, from the Jupyter application's URL.
    pub gateway: Option<Gateway>,
    pub last_operation: Option<Operation>,
    pub assigned_user: Option<Principal>,
    pub created_by: Option<Principal>,
    /// Azure's own reasons (`provisioningErrors`, `errors`), one line each, control characters escaped.
    pub errors: Vec<String>,
    pub idle_shutdown: IdleShutdown,
    pub schedules: Vec<Schedule>,
}

impl Instance {
    fn from_wire(raw: InstanceProperties, provisioning: Option<Provisioning>, errors: Vec<String>) -> Self {
        // No state yet: a resource still being provisioned is being created; a failed one failed to be.
        let state = match (raw.state.as_deref(), provisioning) {
            (Some(state), _) => ComputeState::parse(state),
            (None, Some(Provisioning::InProgress)) => ComputeState::Creating,
            (None, Some(Provisioning::Failed)) => ComputeState::CreateFailed,
            (None, _) => ComputeState::Unknown,
        };
        let ssh = raw.ssh_settings.unwrap_or_default();
        let ssh_access = match ssh.ssh_public_access.as_deref() {
            Some(access) if access.eq_ignore_ascii_case("Enabled") => SshAccess::Enabled,
            _ => SshAccess::Disabled,
        };
        let public_ip = match raw.connectivity_endpoints.and_then(|c| c.public_ip_address).filter(|ip| !ip.is_empty()) {
            None => Field::Absent,
            Some(text) => text.parse().map_or(Field::Invalid(text), Field::Valid),
        };
        let gateway = raw.applications.unwrap_or_default().into_iter().find_map(|app| {
            let jupyter = app.display_name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case("Jupyter"));
            if jupyter { app.endpoint_uri.as_deref().and_then(Gateway::from_url) } else { None }
        });
        let last_operation = raw.last_operation.map(|op| Operation {
            name: op.operation_name,
            status: op.operation_status,
            trigger: op.operation_trigger.as_deref().map(Trigger::parse),
            time: op.operation_time,
        });
        let assigned_user = raw
            .personal_compute_instance_settings
            .and_then(|p| p.assigned_user)
            .map(|u| Principal { object_id: u.object_id, tenant_id: u.tenant_id });
        let created_by = raw.created_by.map(|c| Principal { object_id: c.user_id, tenant_id: c.user_org_id });
        let idle_shutdown = IdleShutdown::from_wire(raw.idle_time_before_shutdown.as_ref());
        let schedules = schedule::parse_all(raw.schedules.as_ref());
        Instance {
            state,
            ssh_access,
            admin_user: ssh.admin_user_name,
            admin_public_key: ssh.admin_public_key,
            ssh_port: parse_port(ssh.ssh_port),
            public_ip,
            gateway,
            last_operation,
            assigned_user,
            created_by,
            errors,
            idle_shutdown,
            schedules,
        }
    }

    /// Whether the instance is the signed-in user's (object ID `me` in the instance's tenant): assigned to them,
    /// or — when it is assigned to nobody — created by them.
    pub(crate) fn belongs_to(&self, me: &str) -> bool {
        let owner = match &self.assigned_user {
            Some(assigned) => assigned,
            None => match &self.created_by {
                Some(creator) => creator,
                None => return false,
            },
        };
        owner.object_id.as_deref().is_some_and(|oid| oid.eq_ignore_ascii_case(me))
    }

    /// Why the instance is not the signed-in user's, in the words of [`Instance::belongs_to`]'s rule.
    pub(crate) fn whose(&self) -> &'static str {
        match (&self.assigned_user, &self.created_by) {
            (Some(_), _) => "is assigned to someone else",
            (None, Some(_)) => "is assigned to nobody and was created by someone else",
            (None, None) => "names neither the user it is assigned to nor its creator",
        }
    }
}

/// A number in the spec; a numeric string is tolerated (some ARM serialisers have sent ports as strings).
fn parse_port(value: Option<serde_json::Value>) -> Field<u16> {
    let value = match value {
        None | Some(serde_json::Value::Null) => return Field::Absent,
        Some(value) => value,
    };
    let number = match &value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        _ => None,
    };
    match number.and_then(|n| u16::try_from(n).ok()).filter(|&n| n != 0) {
        Some(port) => Field::Valid(port),
        None => Field::Invalid(value.to_string()),
    }
}

/// A compute instance's `state`. Unknown strings are kept, never a panic: Azure adds states over time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ComputeState {
    Running,
    JobRunning,
    Creating,
    Starting,
    Restarting,
    SettingUp,
    UserSettingUp,
    Stopping,
    Stopped,
    CreateFailed,
    SetupFailed,
    UserSetupFailed,
    Unusable,
    Deleting,
    Unknown,
    Other(String),
}

/// What a state means for someone who wants to connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StateClass {
    Connectable,
    /// On its way to Running without anyone's help.
    Transitional,
    /// Stopped or stopping: needs a start.
    Stopped,
    /// Will not become connectable by waiting or starting.
    Hopeless,
}

impl ComputeState {
    pub fn parse(text: &str) -> Self {
        use ComputeState::*;
        match text.to_ascii_lowercase().as_str() {
            "running" => Running,
            "jobrunning" => JobRunning,
            "creating" => Creating,
            "starting" => Starting,
            "restarting" => Restarting,
            "settingup" => SettingUp,
            "usersettingup" => UserSettingUp,
            "stopping" => Stopping,
            "stopped" => Stopped,
            "createfailed" => CreateFailed,
            "setupfailed" => SetupFailed,
            "usersetupfailed" => UserSetupFailed,
            "unusable" => Unusable,
            "deleting" => Deleting,
            "unknown" => Unknown,
            _ => Other(text.to_owned()),
        }
    }

    pub(crate) fn class(&self) -> StateClass {
        use ComputeState::*;
        match self {
            Running | JobRunning => StateClass::Connectable,
            Creating | Starting | Restarting | SettingUp | UserSettingUp => StateClass::Transitional,
            Stopping | Stopped => StateClass::Stopped,
            CreateFailed | SetupFailed | UserSetupFailed | Unusable | Deleting | Unknown | Other(_) => {
                StateClass::Hopeless
            }
        }
    }
}

impl ComputeState {
    /// The state's name as ARM spells it (an unknown state's own text).
    pub fn name(&self) -> &str {
        use ComputeState::*;
        match self {
            Running => "Running",
            JobRunning => "JobRunning",
            Creating => "Creating",
            Starting => "Starting",
            Restarting => "Restarting",
            SettingUp => "SettingUp",
            UserSettingUp => "UserSettingUp",
            Stopping => "Stopping",
            Stopped => "Stopped",
            CreateFailed => "CreateFailed",
            SetupFailed => "SetupFailed",
            UserSetupFailed => "UserSetupFailed",
            Unusable => "Unusable",
            Deleting => "Deleting",
            Unknown => "Unknown",
            Other(text) => text,
        }
    }
}

/// For messages: an unknown state is quoted, so odd text from a server stands out as such.
impl fmt::Display for ComputeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComputeState::Other(text) => write!(f, "\"{}\"", crate::util::text::visible(text)),
            known => f.write_str(known.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_case_insensitively_and_keep_unknown_text() {
        assert_eq!(ComputeState::parse("running"), ComputeState::Running);
        assert_eq!(ComputeState::parse("JobRunning").class(), StateClass::Connectable);
        assert_eq!(ComputeState::parse("Stopping").class(), StateClass::Stopped);
        assert_eq!(ComputeState::parse("SettingUp").class(), StateClass::Transitional);
        let odd = ComputeState::parse("Hibernating");
        assert_eq!(odd.class(), StateClass::Hopeless);
        assert_eq!(odd.to_string(), "\"Hibernating\"");
    }

    #[test]
    fn other_compute_types_do_not_break_parsing() {
        let doc = r#"{"name":"cpu","properties":{"computeType":"AmlCompute","properties":{"state":7,"vmSize":"x"}}}"#;
        let compute: ComputeResource = serde_json::from_str(doc).unwrap();
        assert_eq!(compute.compute_type(), Some("AmlCompute"));
        assert_eq!(compute.instance(), Err(InstanceError::NotComputeInstance { kind: "AmlCompute".into() }));
    }

    fn instance(properties: serde_json::Value) -> Result<Instance, InstanceError> {
        let doc = serde_json::json!({"properties": {"computeType": "ComputeInstance", "properties": properties}});
        serde_json::from_value::<ComputeResource>(doc).unwrap().instance()
    }

    #[test]
    fn nulls_and_missing_fields_are_tolerated() {
        let parsed = instance(serde_json::json!({
            "state": "Stopped", "sshSettings": null, "applications": null,
            "connectivityEndpoints": {"publicIpAddress": null}
        }))
        .unwrap();
        assert_eq!(parsed.state, ComputeState::Stopped);
        assert_eq!(parsed.ssh_access, SshAccess::Disabled);
        assert_eq!((parsed.ssh_port, parsed.public_ip, parsed.gateway), (Field::Absent, Field::Absent, None));
        assert!(matches!(instance(serde_json::json!({"state": ["Running"]})), Err(InstanceError::Malformed { .. })));
    }

    #[test]
    fn fields_are_parsed_into_types() {
        let parsed = instance(serde_json::json!({
            "state": "running",
            "sshSettings": {"sshPublicAccess": "enabled", "sshPort": "50001", "adminUserName": "azureuser"},
            "connectivityEndpoints": {"publicIpAddress": "2001:db8::1"},
            "applications": [
                {"displayName": "Jupyter Lab", "endpointUri": "https://wrong.example/lab"},
                {"displayName": "Jupyter", "endpointUri": "https://ci1.eastus2.instances.azureml.ms/tree/"}
            ],
            "lastOperation": {"operationName": "Stop", "operationTrigger": "IdleShutdown"}
        }))
        .unwrap();
        assert_eq!(parsed.state, ComputeState::Running);
        assert_eq!(parsed.ssh_access, SshAccess::Enabled);
        assert_eq!(parsed.ssh_port, Field::Valid(50001));
        assert_eq!(parsed.public_ip, Field::Valid("2001:db8::1".parse().unwrap()));
        assert_eq!(parsed.gateway.as_ref().unwrap().host, "ci1.eastus2.instances.azureml.ms");
        assert!(parsed.last_operation.as_ref().is_some_and(Operation::by_idle_shutdown));
    }

    #[test]
    fn ownership_is_the_assigned_user_else_the_creator() {
        let me = "11111111-2222-3333-4444-555555555555";
        let assigned = |oid: &str| serde_json::json!({"assignedUser": {"objectId": oid}});
        let created = |oid: &str| serde_json::json!({"userId": oid, "userOrgId": "t"});
        let cases = [
            (assigned(me), serde_json::Value::Null, true),
            (assigned("someone-else"), created(me), false),
            (serde_json::Value::Null, created(me), true),
            (serde_json::Value::Null, created("someone-else"), false),
            (serde_json::Value::Null, serde_json::Value::Null, false),
        ];
        for (personal, creator, mine) in cases {
            let parsed =
                instance(serde_json::json!({"personalComputeInstanceSettings": personal, "createdBy": creator}))
                    .unwrap();
            assert_eq!(parsed.belongs_to(&me.to_uppercase()), mine, "{personal} {creator}");
        }
    }

    /// Finding 1 of issue 28: a document of about 60 KB per list made `status` use gigabytes. What is kept of
    /// it is bounded by the limits, not by the lists' length.
    #[test]
    fn a_document_with_huge_lists_gives_a_bounded_instance() {
        let hours: Vec<i64> = (0..10_000).map(|i| i % 24).collect();
        let minutes: Vec<i64> = (0..10_000).map(|i| i % 60).collect();
        let daily = serde_json::json!({"action": "Stop", "triggerType": "Recurrence", "recurrence":
            {"frequency": "Day", "timeZone": "UTC", "schedule": {"hours": hours, "minutes": minutes}}});
        let cron = serde_json::json!({"action": "Start", "triggerType": "Cron",
            "cron": {"expression": "0 8 * * *", "timeZone": "UTC"}});
        let schedules: Vec<serde_json::Value> =
            std::iter::once(daily).chain(std::iter::repeat_n(cron, 10_000)).collect();
        let errors: Vec<serde_json::Value> = (0..10_000)
            .map(|i| serde_json::json!({"error": {"code": "E", "message": format!("reason {i}")}}))
            .collect();
        let parsed =
            instance(serde_json::json!({"schedules": {"computeStartStop": schedules}, "errors": errors})).unwrap();
        assert_eq!(parsed.schedules.len(), schedule::MAX_SCHEDULES + 1);
        assert!(parsed.schedules[0].to_string().starts_with("stop: every day at 00:00, 00:01, 00:02, 1437 more"));
        assert_eq!(parsed.errors.len(), MAX_ERRORS + 1);
        assert_eq!(parsed.errors[MAX_ERRORS], format!("and {} more", 10_000 - MAX_ERRORS));
        assert_eq!(parsed.errors[0], "E: reason 0");
    }

    #[test]
    fn unusable_ports_and_addresses_are_kept_as_text() {
        for port in [
            serde_json::json!(0),
            serde_json::json!(65536),
            serde_json::json!(-1),
            serde_json::json!("22 "),
            serde_json::json!(22.5),
        ] {
            let parsed = instance(serde_json::json!({"sshSettings": {"sshPort": port}})).unwrap();
            assert!(matches!(parsed.ssh_port, Field::Invalid(_)), "{port}");
        }
        let parsed = instance(serde_json::json!({"connectivityEndpoints": {"publicIpAddress": "1.2.3.4:22"}})).unwrap();
        assert_eq!(parsed.public_ip, Field::Invalid("1.2.3.4:22".into()));
    }
}
