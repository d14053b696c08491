//! Azure ML training jobs, as `ssh JOB.job.azml` needs them: the job's ARM document parsed once into a typed
//! [`Job`] (its status, its SSH service, its nodes), and the way to a node's SSH endpoint, which is not in ARM.
//!
//! The endpoint comes from the workspace's run-history data plane, found as the Azure ML SDK finds it
//! (`JobOperations.show_services`): the workspace's `discoveryUrl` → the discovery document's `api` host →
//! `GET {api}/history/v1.0/{workspace}/runs/{job}/serviceinstances/{node}`, with the ARM token and no api-version.
//! The SSH service's `properties.ProxyEndpoint` is the node's gateway. The sources, and what they leave open, are
//! in `docs/design/jobs.md`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use reqwest::Url;
use serde::Deserialize;

use crate::azure::arm::{ArmClient, ArmError};
use crate::azure::cloud::{ApiBase, Cloud, UntrustedApi};
use crate::azure::resource_id::{self, WorkspaceId};
use crate::util::deadline::Deadline;
use crate::util::text::one_line_max;

/// How many jobs of a workspace are read at most, the first ARM lists (its order is not documented): a busy
/// workspace has tens of thousands, and only live ones matter here.
pub(crate) const MOST_JOBS: usize = 500;

/// A training job: its workspace and its name (which is also its run ID). Names are matched without regard to
/// case, as ARM matches them, but kept as Azure spells them: the run-history path uses them verbatim.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JobId {
    /// The workspace.
    pub workspace: WorkspaceId,
    /// The job's name.
    pub name: String,
}

/// A string is not a job resource ID.
#[derive(Debug, thiserror::Error)]
#[error("invalid job resource ID {input:?}: {why}; expected …/workspaces/WORKSPACE/jobs/NAME")]
pub struct InvalidJobId {
    input: String,
    why: String,
}

impl JobId {
    /// Job `name` of `workspace`; `name` must already be a valid job name.
    pub(crate) fn in_workspace(workspace: &WorkspaceId, name: &str) -> JobId {
        JobId { workspace: workspace.clone(), name: name.to_owned() }
    }

    /// A key equal for IDs ARM treats as equal.
    pub(crate) fn cache_key(&self) -> String {
        self.to_string().to_ascii_lowercase()
    }

    /// `{api}/history/v1.0/subscriptions/…/workspaces/{ws}/runs/{name}{tail}`, keeping any path prefix of the base.
    fn run_url(&self, api: &ApiBase, tail: &str) -> Url {
        let mut url = api.url().clone();
        let prefix = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}/history/v1.0{}/runs/{}{tail}", self.workspace, self.name));
        url
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/jobs/{}", self.workspace, self.name)
    }
}

impl FromStr for JobId {
    type Err = InvalidJobId;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = |why: String| InvalidJobId { input: one_line_max(input, 300), why };
        let mut parts = input.rsplitn(3, '/');
        let (name, keyword, workspace) = (parts.next(), parts.next(), parts.next());
        let (Some(name), Some(keyword), Some(workspace)) = (name, keyword, workspace) else {
            return Err(invalid("it does not end in /jobs/NAME".into()));
        };
        if !keyword.eq_ignore_ascii_case("jobs") {
            return Err(invalid("it does not end in /jobs/NAME".into()));
        }
        let workspace: WorkspaceId =
            workspace.parse().map_err(|e: resource_id::InvalidWorkspaceId| invalid(e.to_string()))?;
        resource_id::check_job_name(name).map_err(|e| invalid(e.to_string()))?;
        Ok(JobId::in_workspace(&workspace, name))
    }
}

/// A job's status: ARM's `JobStatus`, all 14 values of the REST specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JobStatus {
    NotStarted,
    Starting,
    Provisioning,
    Preparing,
    Queued,
    Running,
    Finalizing,
    CancelRequested,
    Completed,
    Failed,
    Canceled,
    NotResponding,
    Paused,
    /// ARM's own `Unknown`, and any value newer than this list.
    Unknown,
}

/// What a status means for a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JobPhase {
    /// Not running yet: wait for it.
    Waiting,
    /// Running: its SSH service may be up.
    Running,
    /// Over (or lost, for NotResponding): there is nothing to connect to.
    Ended,
}

impl JobStatus {
    const ALL: [JobStatus; 14] = [
        JobStatus::NotStarted,
        JobStatus::Starting,
        JobStatus::Provisioning,
        JobStatus::Preparing,
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Finalizing,
        JobStatus::CancelRequested,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Canceled,
        JobStatus::NotResponding,
        JobStatus::Paused,
        JobStatus::Unknown,
    ];

    /// ARM's name; `--json` shows it lower-cased.
    pub(crate) fn name(self) -> &'static str {
        match self {
            JobStatus::NotStarted => "NotStarted",
            JobStatus::Starting => "Starting",
            JobStatus::Provisioning => "Provisioning",
            JobStatus::Preparing => "Preparing",
            JobStatus::Queued => "Queued",
            JobStatus::Running => "Running",
            JobStatus::Finalizing => "Finalizing",
            JobStatus::CancelRequested => "CancelRequested",
            JobStatus::Completed => "Completed",
            JobStatus::Failed => "Failed",
            JobStatus::Canceled => "Canceled",
            JobStatus::NotResponding => "NotResponding",
            JobStatus::Paused => "Paused",
            JobStatus::Unknown => "Unknown",
        }
    }

    fn parse(text: Option<&str>) -> JobStatus {
        let text = text.unwrap_or_default();
        // "Cancelled" is how some clients spell it.
        let text = if text.eq_ignore_ascii_case("cancelled") { "Canceled" } else { text };
        JobStatus::ALL.into_iter().find(|s| s.name().eq_ignore_ascii_case(text)).unwrap_or(JobStatus::Unknown)
    }

    pub(crate) fn phase(self) -> JobPhase {
        match self {
            JobStatus::Running | JobStatus::Finalizing => JobPhase::Running,
            JobStatus::CancelRequested
            | JobStatus::Completed
            | JobStatus::Failed
            | JobStatus::Canceled
            | JobStatus::NotResponding => JobPhase::Ended,
            _ => JobPhase::Waiting,
        }
    }
}

/// One node of a job: what `ssh N.JOB.job.azml` reaches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JobNode {
    /// The job.
    pub job: JobId,
    /// The node's index (0 is the first).
    pub node: u32,
}

impl JobNode {
    /// A key equal for the nodes ARM treats as equal.
    pub(crate) fn cache_key(&self) -> String {
        format!("{}/nodes/{}", self.job.cache_key(), self.node)
    }
}

/// `…/jobs/NAME/nodes/N`: the job's resource ID and the node (our notation, for the detached relay's command
/// line only).
impl fmt::Display for JobNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/nodes/{}", self.job, self.node)
    }
}

impl FromStr for JobNode {
    type Err = InvalidJobId;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidJobId { input: one_line_max(input, 300), why: "it does not end in /nodes/N".into() };
        let (job, node) = input.rsplit_once("/nodes/").ok_or_else(invalid)?;
        let node = node.parse::<u32>().map_err(|_| invalid())?;
        Ok(JobNode { job: job.parse()?, node })
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a job runs an SSH service (`services: {NAME: {type: ssh, nodes: all}}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SshNodes {
    /// The job has no SSH service.
    None,
    /// On the first node only: the service's `nodes` is not set.
    First,
    /// On every node (`nodes: all`).
    All,
}

impl SshNodes {
    /// Whether node `node` runs the SSH service.
    pub(crate) fn includes(self, node: u32) -> bool {
        match self {
            SshNodes::None => false,
            SshNodes::First => node == 0,
            SshNodes::All => true,
        }
    }
}

/// A job, from its ARM document.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub id: JobId,
    pub status: JobStatus,
    pub ssh: SshNodes,
    /// `resources.instanceCount` (1 when unset).
    pub nodes: u32,
    /// `systemData.createdBy`: who submitted it (a user's sign-in name).
    pub created_by: Option<String>,
    /// `systemData.createdAt`, as ARM gives it (RFC 3339).
    pub created_at: Option<String>,
}

impl Job {
    /// Whether the signed-in user (with these sign-in names) submitted it. When either side does not say (no
    /// `systemData`, a service principal's token), it counts as theirs: only the owner can connect anyway, and
    /// the gateway says so.
    pub(crate) fn submitted_by(&self, names: &[String]) -> bool {
        match self.created_by.as_deref() {
            Some(by) if !names.is_empty() => names.iter().any(|n| n.eq_ignore_ascii_case(by)),
            _ => true,
        }
    }

    /// The host names of the nodes that run its SSH service, under `suffix` (lower-cased, as ssh passes them);
    /// with the workspace when the name alone is not unique.
    pub(crate) fn ssh_hosts(&self, suffix: &str, qualified: bool) -> Vec<String> {
        let name = match qualified {
            true => format!("{}.{}", self.id.name, self.id.workspace.workspace),
            false => self.id.name.clone(),
        };
        (0..self.nodes.min(64))
            .filter(|node| self.ssh.includes(*node))
            .map(|node| match node {
                0 => format!("{name}.job.{suffix}"),
                n => format!("{n}.{name}.job.{suffix}"),
            })
            .map(|host| host.to_ascii_lowercase())
            .collect()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobResource {
    name: Option<String>,
    #[serde(default)]
    properties: JobProperties,
    #[serde(default)]
    system_data: Option<SystemData>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobProperties {
    status: Option<String>,
    #[serde(default)]
    services: Option<BTreeMap<String, Option<JobService>>>,
    #[serde(default)]
    resources: Option<JobResources>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobService {
    job_service_type: Option<String>,
    #[serde(default)]
    nodes: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobResources {
    instance_count: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SystemData {
    created_by: Option<String>,
    created_at: Option<String>,
}

impl JobResource {
    /// The typed job. `asked` is the ID it was fetched or listed under; the document's own name wins when it is
    /// a valid name that matches, since only it has the right case.
    pub(crate) fn job(self, workspace: &WorkspaceId) -> Option<Job> {
        let name = self.name.filter(|n| resource_id::check_job_name(n).is_ok())?;
        let services = self.properties.services.unwrap_or_default();
        let ssh = services
            .values()
            .flatten()
            .filter(|s| s.job_service_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("ssh")))
            .map(|s| match s.nodes.as_ref().and_then(|n| n.get("nodesValueType")).and_then(|v| v.as_str()) {
                Some(v) if v.eq_ignore_ascii_case("all") => SshNodes::All,
                _ => SshNodes::First,
            })
            .max_by_key(|nodes| *nodes == SshNodes::All)
            .unwrap_or(SshNodes::None);
        let count = self.properties.resources.and_then(|r| r.instance_count).unwrap_or(1);
        let system = self.system_data.unwrap_or_default();
        Some(Job {
            id: JobId::in_workspace(workspace, &name),
            status: JobStatus::parse(self.properties.status.as_deref()),
            ssh,
            nodes: u32::try_from(count.clamp(1, 100_000)).unwrap_or(1),
            created_by: system.created_by.map(|c| one_line_max(&c, 200)),
            created_at: system.created_at.map(|c| one_line_max(&c, 64)),
        })
    }
}

/// The SSH service of one node, as run history reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NodeSsh {
    /// Running: its gateway's base URL (`properties.ProxyEndpoint`, unchecked).
    Running { proxy_endpoint: String },
    /// Running, but with no `ProxyEndpoint`: both Microsoft clients call that an error, not a wait.
    NoEndpoint,
    /// Not running (yet, or any more): its status and Azure's error, if any.
    NotRunning { status: String, error: Option<String> },
    /// The node has services, none of them SSH.
    NoSsh,
    /// Run history knows no services on this node (yet, or it is not a node of the job).
    NoServices,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ServiceInstances {
    #[serde(default)]
    instances: Option<BTreeMap<String, Option<ServiceInstance>>>,
}

#[derive(Debug, Default, Deserialize)]
struct ServiceInstance {
    #[serde(rename = "type")]
    kind: Option<String>,
    status: Option<String>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    properties: Option<BTreeMap<String, serde_json::Value>>,
}

impl ServiceInstances {
    /// The node's SSH service. Both Microsoft clients take the first SSH service in map order; with several, a
    /// running one is taken first, by name, so the choice does not depend on the order of an answer.
    pub(crate) fn node_ssh(self) -> NodeSsh {
        let services: Vec<(String, ServiceInstance)> =
            self.instances.unwrap_or_default().into_iter().filter_map(|(n, s)| Some((n, s?))).collect();
        if services.is_empty() {
            return NodeSsh::NoServices;
        }
        let mut ssh: Vec<ServiceInstance> = services
            .into_iter()
            .filter(|(_, s)| s.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case("ssh")))
            .map(|(_, s)| s)
            .collect();
        ssh.sort_by_key(|s| !s.status.as_deref().is_some_and(|st| st.eq_ignore_ascii_case("running")));
        let Some(service) = ssh.into_iter().next() else { return NodeSsh::NoSsh };
        let status = service.status.clone().unwrap_or_else(|| "unknown".into());
        let endpoint = service.properties.as_ref().and_then(|p| p.get("ProxyEndpoint")).and_then(|v| v.as_str());
        match endpoint.filter(|e| !e.is_empty()) {
            Some(endpoint) if status.eq_ignore_ascii_case("running") => {
                NodeSsh::Running { proxy_endpoint: endpoint.to_owned() }
            }
            None if status.eq_ignore_ascii_case("running") => NodeSsh::NoEndpoint,
            _ => NodeSsh::NotRunning {
                status: one_line_max(&status, 40),
                error: service.error.as_ref().and_then(error_message),
            },
        }
    }
}

/// `{"error": {"code", "message"}}` (run history's shape), or a plain `{"message"}`.
fn error_message(error: &serde_json::Value) -> Option<String> {
    let message = error.pointer("/error/message").or_else(|| error.get("message"))?.as_str()?;
    (!message.trim().is_empty()).then(|| one_line_max(message, 300))
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum JobError {
    #[error(transparent)]
    Arm(#[from] ArmError),
    #[error(transparent)]
    UntrustedApi(#[from] UntrustedApi),
    #[error(
        "workspace {workspace} has no usable discovery URL ({why}), so its jobs' endpoints cannot be found; check the workspace in Azure ML studio"
    )]
    NoDiscovery { workspace: String, why: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WorkspaceResource {
    #[serde(default)]
    properties: WorkspaceProperties,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WorkspaceProperties {
    discovery_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct DiscoveryDocument {
    api: Option<String>,
}

/// `GET …/jobs/{name}`: the job, or `None` when the workspace has no job of that name.
pub(crate) async fn get(arm: &ArmClient, id: &JobId, deadline: &Deadline) -> Result<Option<Job>, ArmError> {
    match arm.get_resource::<JobResource>(&id.to_string(), &format!("job {}", id.name), deadline).await {
        Ok(resource) => Ok(resource.job(&id.workspace).filter(|job| job.id.name.eq_ignore_ascii_case(&id.name))),
        Err(ArmError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The job named `name` without regard to case, among the first [`MOST_JOBS`] of the workspace's jobs: ssh
/// lower-cases the name it hands over (`%h`), and a job name may have capitals.
pub(crate) async fn find_ignoring_case(
    arm: &ArmClient,
    workspace: &WorkspaceId,
    name: &str,
    deadline: &Deadline,
) -> Result<Option<Job>, ArmError> {
    let (jobs, _) = list(arm, workspace, deadline).await?;
    Ok(jobs.into_iter().find(|job| job.id.name.eq_ignore_ascii_case(name)))
}

/// The workspace's jobs ([`MOST_JOBS`] at most, as ARM lists them), and whether it has more.
pub(crate) async fn list(
    arm: &ArmClient,
    workspace: &WorkspaceId,
    deadline: &Deadline,
) -> Result<(Vec<Job>, bool), ArmError> {
    let what = format!("the jobs of workspace {}", workspace.workspace);
    let path = format!("{workspace}/jobs");
    let (resources, more) =
        arm.list_at_most::<JobResource>(&path, crate::azure::arm::API_VERSION, &what, deadline, MOST_JOBS).await?;
    Ok((resources.into_iter().filter_map(|r| r.job(workspace)).collect(), more))
}

/// The workspace's Azure ML API base: its ARM document's `discoveryUrl`, fetched without a token, names it; it
/// gets the token only if it passes the cloud's allow-list.
pub(crate) async fn api_base(
    arm: &ArmClient,
    cloud: Cloud,
    workspace: &WorkspaceId,
    deadline: &Deadline,
) -> Result<ApiBase, JobError> {
    let what = format!("workspace {}", workspace.workspace);
    let resource: WorkspaceResource = arm.get_resource(&workspace.to_string(), &what, deadline).await?;
    let no_discovery = |why: String| JobError::NoDiscovery { workspace: workspace.workspace.clone(), why };
    let text = resource.properties.discovery_url.ok_or_else(|| no_discovery("ARM gives none".into()))?;
    let url = Url::parse(&text).map_err(|e| no_discovery(format!("{:?}: {e}", one_line_max(&text, 200))))?;
    let loopback_http = url.scheme() == "http" && crate::azure::cloud::is_loopback(&url);
    if url.scheme() != "https" && !loopback_http {
        return Err(no_discovery(format!("{:?} is not https", one_line_max(&text, 200))));
    }
    let what = format!("the discovery document of workspace {}", workspace.workspace);
    let document: DiscoveryDocument = arm.get_outside(url, None, &what, deadline).await?;
    let api = document.api.ok_or_else(|| no_discovery("its discovery document names no `api` host".into()))?;
    Ok(cloud.api_base(&api)?)
}

/// What run history says about node `node`'s SSH service (404: no services there).
pub(crate) async fn node_ssh(
    arm: &ArmClient,
    api: &ApiBase,
    job: &JobId,
    node: u32,
    deadline: &Deadline,
) -> Result<NodeSsh, ArmError> {
    let url = job.run_url(api, &format!("/serviceinstances/{node}"));
    let what = format!("the services of node {node} of job {}", job.name);
    match arm.get_outside::<ServiceInstances>(url, Some(api), &what, deadline).await {
        Ok(answer) => Ok(answer.node_ssh()),
        Err(ArmError::NotFound { .. }) => Ok(NodeSsh::NoServices),
        Err(e) => Err(e),
    }
}

/// Why the job ended, in Azure's words (run history's `error.error.message`), if it says.
pub(crate) async fn run_error(arm: &ArmClient, api: &ApiBase, job: &JobId, deadline: &Deadline) -> Option<String> {
    #[derive(Deserialize)]
    struct Run {
        error: Option<serde_json::Value>,
    }
    let url = job.run_url(api, "");
    let run: Run = arm.get_outside(url, Some(api), &format!("job {}", job.name), deadline).await.ok()?;
    run.error.as_ref().and_then(error_message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn workspace() -> WorkspaceId {
        "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws1"
            .parse()
            .unwrap()
    }

    fn job(doc: serde_json::Value) -> Option<Job> {
        serde_json::from_value::<JobResource>(doc).unwrap().job(&workspace())
    }

    #[test]
    fn job_ids_round_trip_and_bad_ones_are_refused() {
        let id = JobId::in_workspace(&workspace(), "Sincere_Tail_0x12");
        assert_eq!(id.to_string().parse::<JobId>().unwrap(), id);
        for bad in ["", "/jobs/x", &format!("{}/computes/x", workspace()), &format!("{}/jobs/a b", workspace())] {
            assert!(bad.parse::<JobId>().is_err(), "{bad}");
        }
        assert!(format!("{}/jobs/_x", workspace()).parse::<JobId>().is_err(), "a name starting with _");
    }

    #[test]
    fn statuses_are_read_into_phases() {
        for (text, phase) in [
            ("Queued", JobPhase::Waiting),
            ("preparing", JobPhase::Waiting),
            ("Running", JobPhase::Running),
            ("Finalizing", JobPhase::Running),
            ("Completed", JobPhase::Ended),
            ("Cancelled", JobPhase::Ended),
            ("NotResponding", JobPhase::Ended),
            ("SomethingNew", JobPhase::Waiting),
        ] {
            assert_eq!(JobStatus::parse(Some(text)).phase(), phase, "{text}");
        }
        assert!(JobStatus::ALL.iter().all(|s| JobStatus::parse(Some(s.name())) == *s));
    }

    #[test]
    fn the_ssh_service_and_its_nodes_are_read() {
        let doc = |services: serde_json::Value| {
            json!({"name": "Job1", "properties": {"status": "Running", "services": services, "resources": {"instanceCount": 2}},
                   "systemData": {"createdBy": "me@contoso.com"}})
        };
        let all = job(doc(json!({"my_ssh": {"jobServiceType": "SSH", "nodes": {"nodesValueType": "All"}}}))).unwrap();
        assert_eq!((all.ssh, all.nodes, all.id.name.as_str()), (SshNodes::All, 2, "Job1"));
        assert!(all.submitted_by(&["ME@contoso.com".into()]) && !all.submitted_by(&["you@contoso.com".into()]));
        assert!(all.submitted_by(&[]), "a token without sign-in names cannot tell");
        assert_eq!(all.ssh_hosts("azml", false), ["job1.job.azml", "1.job1.job.azml"]);
        assert_eq!(all.ssh_hosts("azml", true), ["job1.ws1.job.azml", "1.job1.ws1.job.azml"]);
        let first =
            job(doc(json!({"s": {"jobServiceType": "SSH", "nodes": null}, "t": {"jobServiceType": "TensorBoard"}})));
        assert_eq!(first.unwrap().ssh, SshNodes::First);
        assert_eq!(job(doc(json!({"t": {"jobServiceType": "TensorBoard"}, "n": null}))).unwrap().ssh, SshNodes::None);
        assert_eq!(job(json!({"name": "j", "properties": {}})).unwrap().ssh, SshNodes::None);
        assert!(job(json!({"name": "a b"})).is_none(), "a name that cannot be used safely");
    }

    #[test]
    fn service_instances_are_read_as_the_sdk_reads_them() {
        let read = |v: serde_json::Value| serde_json::from_value::<ServiceInstances>(v).unwrap().node_ssh();
        // Azure/azure-dev's fixture (job_show_services_test.go), abridged.
        let answer = json!({"instances": {
            "my_ssh": {"type": "SSH", "port": 8705, "status": "Running", "error": null, "endpoint": "",
                       "properties": {"ProxyEndpoint": "wss://ssh-host"}},
            "tensorboard": {"type": "TensorBoard", "port": 6006, "status": "Failed",
                "error": {"error": {"code": null, "message": "failed to start endpoint tensorboard"}, "time": "0001-01-01T00:00:00+00:00"},
                "endpoint": "https://tnsrb-host", "properties": {}}}});
        assert_eq!(read(answer), NodeSsh::Running { proxy_endpoint: "wss://ssh-host".into() });
        let failed = json!({"instances": {"s": {"type": "SSH", "status": "Failed",
            "error": {"error": {"message": "sshd did not start"}}, "properties": {}}}});
        assert_eq!(
            read(failed),
            NodeSsh::NotRunning { status: "Failed".into(), error: Some("sshd did not start".into()) }
        );
        let no_endpoint = json!({"instances": {"s": {"type": "SSH", "status": "Running", "properties": {}}}});
        assert_eq!(read(no_endpoint), NodeSsh::NoEndpoint);
        let not_started = json!({"instances": {"s": {"type": "SSH", "status": "NotStarted", "properties": {"ProxyEndpoint": "wss://x"}}}});
        assert!(matches!(read(not_started), NodeSsh::NotRunning { error: None, .. }));
        assert_eq!(read(json!({"instances": {"t": {"type": "TensorBoard", "status": "Running"}}})), NodeSsh::NoSsh);
        assert_eq!(read(json!({"instances": {}})), NodeSsh::NoServices);
        assert_eq!(read(json!({"instances": null})), NodeSsh::NoServices);
        assert_eq!(read(json!({})), NodeSsh::NoServices);
    }
}
