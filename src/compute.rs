//! The parts of ARM's compute document that azml-ssh reads (API version 2025-12-01).
//!
//! Everything is optional: ARM omits or nulls fields depending on state (a stopped instance has no IP), and a
//! field we do not know about must never break parsing.

use serde::Deserialize;
use std::fmt;

/// `GET .../computes/{name}`. `properties.properties` stays raw until the compute type is known, because other
/// compute types (AmlCompute, Kubernetes, ...) put differently shaped documents there.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ComputeResource {
    pub id: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    pub properties: Option<ComputeProperties>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ComputeProperties {
    pub compute_type: Option<String>,
    pub provisioning_state: Option<String>,
    pub properties: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InstanceProperties {
    pub state: Option<String>,
    pub ssh_settings: Option<SshSettings>,
    pub connectivity_endpoints: Option<ConnectivityEndpoints>,
    pub applications: Option<Vec<Application>>,
    pub last_operation: Option<LastOperation>,
    pub personal_compute_instance_settings: Option<PersonalSettings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PersonalSettings {
    pub assigned_user: Option<AssignedUser>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AssignedUser {
    pub object_id: Option<String>,
    pub tenant_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SshSettings {
    pub ssh_public_access: Option<String>,
    pub admin_user_name: Option<String>,
    /// A number in the spec; kept raw so a string or an out-of-range value gets a clear message, not a parse error.
    pub ssh_port: Option<serde_json::Value>,
    pub admin_public_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConnectivityEndpoints {
    pub public_ip_address: Option<String>,
    pub private_ip_address: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Application {
    pub display_name: Option<String>,
    pub endpoint_uri: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LastOperation {
    pub operation_name: Option<String>,
    pub operation_status: Option<String>,
    pub operation_trigger: Option<String>,
    pub operation_time: Option<String>,
}

impl ComputeResource {
    pub fn compute_type(&self) -> Option<&str> {
        self.properties.as_ref()?.compute_type.as_deref()
    }

    /// The instance-specific properties; `Err` says why they are absent or have the wrong shape.
    pub fn instance(&self) -> Result<InstanceProperties, String> {
        match self.properties.as_ref().and_then(|p| p.properties.as_ref()) {
            None | Some(serde_json::Value::Null) => Err("it has no properties.properties".into()),
            Some(value) => InstanceProperties::deserialize(value).map_err(|e| e.to_string()),
        }
    }
}

/// A compute instance's `state`. Unknown strings are kept, never a panic: Azure adds states over time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ComputeState {
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
pub enum StateClass {
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

    pub fn class(&self) -> StateClass {
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

impl fmt::Display for ComputeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ComputeState::*;
        let name = match self {
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
            Other(text) => return write!(f, "{text:?}"),
        };
        f.write_str(name)
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
        assert!(compute.instance().is_err());
    }

    #[test]
    fn nulls_and_missing_fields_are_tolerated() {
        let doc = r#"{"properties":{"computeType":"ComputeInstance","properties":{"state":"Stopped","sshSettings":null,"applications":null,"connectivityEndpoints":{"publicIpAddress":null}}}}"#;
        let compute: ComputeResource = serde_json::from_str(doc).unwrap();
        let instance = compute.instance().unwrap();
        assert_eq!(instance.state.as_deref(), Some("Stopped"));
        assert!(instance.ssh_settings.is_none());
    }
}
