//! Training jobs by name (`ssh myjob.job.azml`, `ssh 1.myjob.job.azml`, `ssh myjob.ws1.job.azml`): which job and
//! node a name means, and the way to that node's SSH service — waiting while the job is queued or its service is
//! starting, refusing with Azure's reason when there is nothing to reach. A job is never started or restarted.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::azure::arm::{ArmClient, ArmError};
use crate::azure::cloud::ApiBase;
use crate::azure::credential::TenantId;
use crate::azure::discover::{self, DiscoverError, Workspaces};
use crate::azure::job::{self, Job, JobError, JobId, JobNode, JobPhase, NodeSsh, SshNodes};
use crate::azure::lifecycle::Progress;
use crate::azure::resource_id;
use crate::azure::session::{AzureOptions, Session, SessionError};
use crate::connect::cache::EndpointCache;
use crate::connect::endpoint::Endpoint;
use crate::connect::names;
use crate::connect::resolve::Resolved;
use crate::transport::tunnel::{Gateway, GatewayService};
use crate::util::deadline::{Deadline, Limit, TimedOut};
use crate::util::time::unix_now;

/// The label that marks a job's name under the wildcard suffix: `NAME.job.SUFFIX`.
const JOB_LABEL: &str = "job";
/// How long an answer "job J is in workspace W" is used: a job's name is unique and it never moves.
const ANSWER_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// The state folder of those answers (shared with the instances' name answers).
const NAMES: &str = "names";
/// Polls of a waiting job start quick (the SSH service comes up a minute or two after the job runs) and slow down
/// by half each time to this: a queue can take hours.
const MAX_POLL: Duration = Duration::from_secs(10);
const FIRST_POLL: Duration = Duration::from_secs(1);
/// The highest node index a name may give (Azure ML jobs have far fewer nodes).
const MAX_NODE: u32 = 9999;
/// Workspaces asked at once for a job of the name.
const CONCURRENCY: usize = 32;

/// A host name given to the wildcard host, read as `[NODE.]JOB[.WORKSPACE].job.SUFFIX`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JobQuery {
    /// As ssh gave it.
    pub host: String,
    name: String,
    node: u32,
    workspace: Option<String>,
    suffix: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum JobConnectError {
    #[error(
        "{host:?} does not name a job node: write JOB.job.{suffix}, N.JOB.job.{suffix} or JOB.WORKSPACE.job.{suffix} ({why})"
    )]
    NotAName { host: String, suffix: String, why: String },
    #[error(
        "there is no job {name} in {searched}; check the name in Azure ML studio (Jobs), or list yours with `azml-ssh jobs`"
    )]
    NotFound { name: String, searched: String },
    #[error("{host} could be any of {count} jobs; connect to one of: {choices}")]
    Ambiguous { host: String, count: usize, choices: String },
    #[error("job {name} was not found, but {failed} could not be searched (first: {first}); try again")]
    Incomplete { name: String, failed: String, first: String },
    #[error("job {name} is {status}: SSH reaches a job only while it runs{}", because(.error))]
    Ended { name: String, status: String, error: Option<String> },
    #[error(
        "job {name} has no SSH service; add one to the job's YAML and submit it again: `services: {{my_ssh: {{type: ssh, ssh_public_keys: <your public key>, nodes: all}}}}`"
    )]
    NoSshService { name: String },
    #[error("job {name} runs its SSH service on node 0 only; to reach node {node}, add `nodes: all` to the service")]
    FirstNodeOnly { name: String, node: u32 },
    #[error("job {name} has {nodes} node(s), numbered from 0; there is no node {node}")]
    NoSuchNode { name: String, node: u32, nodes: u32 },
    #[error("the SSH service on node {node} of job {name} is {status}{}", because(.error))]
    ServiceFailed { name: String, node: u32, status: String, error: Option<String> },
    #[error(
        "Azure gives node {node} of job {name} an unusable SSH endpoint {endpoint:?} (its SSH service's ProxyEndpoint); try again in a minute, or look at the job in Azure ML studio"
    )]
    BadEndpoint { name: String, node: u32, endpoint: String },
    #[error(
        "the gateway {host} of job {name} is outside the Azure ML node domains ({domains}); no token is sent there"
    )]
    UntrustedGateway { name: String, host: String, domains: String },
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Arm(#[from] ArmError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    #[error(transparent)]
    TimedOut(#[from] TimedOut),
}

/// ": Azure's reason", when there is one.
fn because(error: &Option<String>) -> String {
    error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
}

impl JobQuery {
    /// Reads `host` under `suffix`, if it is a job's name (`….job.SUFFIX`); `Ok(None)` when it is not, so it can be
    /// read as an instance's. The rules are those of job names, checked before the name reaches a request, a
    /// file name or a log line.
    pub(crate) fn parse(host: &str, suffix: &str) -> Result<Option<Self>, JobConnectError> {
        let lower = host.to_ascii_lowercase();
        let Some(name) = lower.strip_suffix(&format!(".{JOB_LABEL}.{suffix}")) else { return Ok(None) };
        let shown: String = host.chars().take(80).collect();
        let fail = |why: String| JobConnectError::NotAName { host: shown.clone(), suffix: suffix.to_owned(), why };
        if host.len() > 253 || !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
            return Err(fail("a job's host name has only letters, digits, '.', '-' and '_', 253 at most".into()));
        }
        // The name as typed keeps its case (ssh's `%h` has lost it; `%n` and the commands keep it).
        let typed = &host[..name.len()];
        let labels: Vec<&str> = typed.split('.').collect();
        // One spelling per node (no leading zeros), so known_hosts has one name for it.
        let is_node = |label: &str| {
            !label.is_empty()
                && label.len() <= 4
                && label.chars().all(|c| c.is_ascii_digit())
                && (label == "0" || !label.starts_with('0'))
        };
        let (node, name, workspace) = match labels.as_slice() {
            [name] => ("0", *name, None),
            [node, name] if is_node(node) => (*node, *name, None),
            [name, workspace] => ("0", *name, Some(*workspace)),
            [node, name, workspace] if is_node(node) => (*node, *name, Some(*workspace)),
            _ => return Err(fail("too many labels".into())),
        };
        let node: u32 = node.parse().ok().filter(|n| *n <= MAX_NODE).ok_or_else(|| fail("a bad node index".into()))?;
        resource_id::check_job_name(name).map_err(|e| fail(e.to_string()))?;
        if let Some(workspace) = workspace {
            resource_id::check_workspace_name(workspace).map_err(|e| fail(e.to_string()))?;
        }
        let (name, workspace, suffix) = (name.to_owned(), workspace.map(str::to_owned), suffix.to_owned());
        Ok(Some(JobQuery { host: host.to_owned(), name, node, workspace, suffix }))
    }

    /// The name in messages: `myjob`, or `myjob in workspace ws1`.
    fn described(&self) -> String {
        match &self.workspace {
            Some(ws) => format!("{} in workspace {ws}", self.name),
            None => self.name.clone(),
        }
    }

    /// The file name of this name's answer.
    fn answer_file(&self) -> String {
        let text = format!("job:{}.{}", self.name, self.workspace.as_deref().unwrap_or("")).to_ascii_lowercase();
        format!("job-{}.json", crate::util::state::hashed(&text))
    }

    /// The one job `found` holds, or why there is not exactly one. Of several jobs of the name (job names are
    /// unique per workspace only), the one that has not ended is the one meant, when there is just one.
    fn choose(&self, mut found: Vec<Job>, searched: &str) -> Result<JobNode, JobConnectError> {
        found.sort_by_key(|job| job.id.cache_key());
        found.dedup_by_key(|job| job.id.cache_key());
        let live: Vec<&Job> = found.iter().filter(|job| job.status.phase() != JobPhase::Ended).collect();
        if let [one] = live.as_slice()
            && found.len() > 1
        {
            return Ok(JobNode { job: one.id.clone(), node: self.node });
        }
        match found.len() {
            0 => Err(JobConnectError::NotFound { name: self.described(), searched: searched.to_owned() }),
            1 => Ok(JobNode { job: found.remove(0).id, node: self.node }),
            count => {
                let node = if self.node == 0 { String::new() } else { format!("{}.", self.node) };
                let choices: Vec<String> = found
                    .iter()
                    .map(|job| {
                        format!("{node}{}.{}.{JOB_LABEL}.{}", self.name, job.id.workspace.workspace, self.suffix)
                    })
                    .collect();
                Err(JobConnectError::Ambiguous { host: self.host.clone(), count, choices: choices.join(", ") })
            }
        }
    }
}

/// A search's answer, kept for the next connections: the job's ID, as Azure spells it.
#[derive(Debug, Serialize, Deserialize)]
struct Answer {
    /// The name as searched, guarding against a file that is not this name's.
    name: String,
    job: String,
    /// Unix seconds.
    at: u64,
}

impl Answer {
    fn cached(cache: &EndpointCache, query: &JobQuery) -> Option<JobId> {
        let answer: Answer = cache.state().read_json(NAMES, &query.answer_file(), "a cached job search")?;
        let age = unix_now().saturating_sub(answer.at);
        let fresh = answer.at <= unix_now() + 60 && age <= ANSWER_MAX_AGE.as_secs();
        // ssh hands the name on lower-cased (`%h`), the commands as typed: the same answer serves both.
        (fresh && answer.name.eq_ignore_ascii_case(&query.described())).then(|| answer.job.parse().ok()).flatten()
    }
}

/// The job node `query` names: from an earlier answer, or by asking each workspace of the search scope (the last
/// `config`'s, narrowed by the name's workspace) for a job of that name.
pub(crate) async fn find(
    query: &JobQuery,
    azure: &AzureOptions,
    cache: Option<&EndpointCache>,
) -> Result<Found, JobConnectError> {
    if let Some(job) = cache.and_then(|c| Answer::cached(c, query)) {
        return Ok(Found { node: JobNode { job, node: query.node }, remembered: true });
    }
    let session = Session::new(azure, azure.deadline())?;
    let filter = names::search_scope(cache, query.workspace.as_deref());
    let scope = discover::workspaces(&session, &filter).await?;
    let (found, failed) = search(&scope, &query.name, session.deadline()).await;
    let failed: Vec<String> = scope.failed.iter().map(ToString::to_string).chain(failed).collect();
    if found.is_empty()
        && let Some(first) = failed.first()
    {
        let (first, failed) = (first.clone(), format!("{} list(s)", failed.len()));
        return Err(JobConnectError::Incomplete { name: query.described(), failed, first });
    }
    let searched = format!("{} workspace(s) of {} subscription(s)", scope.list.len(), scope.subscriptions);
    let node = query.choose(found, &searched)?;
    if let Some(cache) = cache {
        let answer = Answer { name: query.described(), job: node.job.to_string(), at: unix_now() };
        cache.state().write_json(NAMES, &query.answer_file(), &answer);
    }
    Ok(Found { node, remembered: false })
}

/// The job node a name means, and whether that came from an earlier search's answer (which may be stale: a job
/// of the same name may since have been submitted in another workspace).
#[derive(Debug)]
pub(crate) struct Found {
    pub node: JobNode,
    pub remembered: bool,
}

/// The jobs named `name` in the workspaces (with the tenant each answered in): by exact name first (one GET
/// each), then — only when that finds none, since it lists jobs — without regard to case. A workspace that
/// cannot be asked is a failure of its own, as in the instances' search: the others still answer.
async fn search(scope: &Workspaces, name: &str, deadline: &Deadline) -> (Vec<Job>, Vec<String>) {
    let mut failed = Vec::new();
    for exact in [true, false] {
        let answers = stream::iter(scope.list.iter().map(|(workspace, scope)| async move {
            let arm = &scope.arm;
            let answer = match exact {
                true => job::get(arm, &JobId::in_workspace(workspace, name), deadline).await,
                false => job::find_ignoring_case(arm, workspace, name, deadline).await,
            };
            (workspace, answer)
        }))
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
        let mut found = Vec::new();
        for (workspace, answer) in answers {
            match answer {
                Ok(job) => found.extend(job),
                Err(e) => failed.push(format!("workspace {}: {e}", workspace.workspace)),
            }
        }
        if !found.is_empty() || name.chars().any(|c| c.is_ascii_uppercase()) {
            return (found, failed);
        }
    }
    (Vec::new(), failed)
}

/// What `azml-ssh jobs` shows: the live jobs with an SSH service in the search scope.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub jobs: Vec<Job>,
    /// Workspaces and subscriptions that could not be listed, each with why.
    pub failed: Vec<String>,
    /// Workspaces with more jobs than were read ([`job::MOST_JOBS`], the newest).
    pub truncated: Vec<String>,
}

/// The jobs of the search scope (narrowed to `workspace`) that are queued or running and have an SSH service;
/// with `all`, other people's too.
pub(crate) async fn live_jobs(
    azure: &AzureOptions,
    cache: Option<&EndpointCache>,
    workspace: Option<&str>,
    all: bool,
) -> Result<Listing, JobConnectError> {
    let session = Session::new(azure, azure.deadline())?;
    let scope = discover::workspaces(&session, &names::search_scope(cache, workspace)).await?;
    let deadline = session.deadline();
    let lists = stream::iter(scope.list.iter().map(|(workspace, scope)| async move {
        (workspace, &scope.arm, job::list(&scope.arm, workspace, deadline).await)
    }))
    .buffer_unordered(CONCURRENCY)
    .collect::<Vec<_>>()
    .await;
    let mut listing = Listing { failed: scope.failed.iter().map(ToString::to_string).collect(), ..Listing::default() };
    for (workspace, arm, result) in lists {
        let (jobs, more) = match result {
            Ok(found) => found,
            Err(e) => {
                listing.failed.push(format!("workspace {}: {e}", workspace.workspace));
                continue;
            }
        };
        if more {
            listing.truncated.push(workspace.workspace.clone());
        }
        let me = arm.token().sign_in_names();
        let wanted = |job: &Job| job.ssh != SshNodes::None && job.status.phase() != JobPhase::Ended;
        listing.jobs.extend(jobs.into_iter().filter(|job| wanted(job) && (all || job.submitted_by(&me))));
    }
    listing.jobs.sort_by(|a, b| (&a.id.name, a.id.cache_key()).cmp(&(&b.id.name, b.id.cache_key())));
    Ok(listing)
}

/// Where a job node stands, for `azml-ssh status JOB.job.azml`.
#[derive(Debug)]
pub(crate) struct NodeStatus {
    pub job: Job,
    /// Its SSH service, as run history says, while the job runs.
    pub ssh: Option<NodeSsh>,
}

/// One look at the job and, while it runs, at the node's SSH service; no waiting.
pub(crate) async fn status(
    node: &JobNode,
    azure: &AzureOptions,
    tenant: Option<&TenantId>,
) -> Result<NodeStatus, JobConnectError> {
    let session = Session::new(azure, azure.deadline())?;
    let deadline = *session.deadline();
    let (arm, job) = session.call(tenant, |arm| async move { job::get(&arm, &node.job, &deadline).await }).await?;
    let job = job.ok_or_else(|| JobConnectError::NotFound {
        name: node.job.name.clone(),
        searched: format!("workspace {}", node.job.workspace.workspace),
    })?;
    if job.status.phase() != JobPhase::Running || !job.ssh.includes(node.node) {
        return Ok(NodeStatus { job, ssh: None });
    }
    let api = job::api_base(&arm, azure.cloud, &node.job.workspace, &deadline).await?;
    let ssh = job::node_ssh(&arm, &api, &job.id, node.node, &deadline).await?;
    Ok(NodeStatus { job, ssh: Some(ssh) })
}

/// Forgets what a search found for `query` (the job is gone).
pub(crate) fn forget(cache: &EndpointCache, query: &JobQuery) {
    cache.state().remove(NAMES, &query.answer_file());
}

/// The way to `node`'s SSH service: the job is polled while it is queued or its service is starting, within
/// `wait`, starting in `tenant` (the one remembered for it, if any). Every call to Azure has the `--timeout`
/// budget.
pub(crate) async fn resolve(
    node: &JobNode,
    azure: &AzureOptions,
    tenant: Option<&TenantId>,
    wait: Limit,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Resolved, JobConnectError> {
    let mut waiting = Waiting { node, azure, tenant: tenant.cloned(), api: None };
    let result = waiting.until_ready(&wait.begin(), progress).await;
    progress(Progress::Done);
    let (gateway, arm) = result?;
    // The tenant is remembered only when it is not the default one, as for instances.
    let (token, tenant) = (arm.token().clone(), arm.token().tenant.clone());
    Ok(Resolved { endpoint: Endpoint::Tunnel { gateway }, fallback: None, token, tenant, schedules: Vec::new() })
}

/// Polling one job node.
struct Waiting<'a> {
    node: &'a JobNode,
    azure: &'a AzureOptions,
    /// The tenant the job answered in (it may move there at the first poll).
    tenant: Option<TenantId>,
    /// The workspace's Azure ML API, asked for once the job runs.
    api: Option<ApiBase>,
}

/// Where a job node stands at one poll.
enum Step {
    Ready(Gateway),
    /// Not yet; the state to show.
    Wait(String),
}

impl Waiting<'_> {
    async fn until_ready(
        &mut self,
        deadline: &Deadline,
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<(Gateway, Arc<ArmClient>), JobConnectError> {
        let (mut pause, mut waited) = (FIRST_POLL, false);
        loop {
            let (arm, state) = match self.poll().await? {
                (arm, Step::Ready(gateway)) => {
                    if waited {
                        progress(Progress::WaitOver { elapsed: deadline.elapsed() });
                    }
                    return Ok((gateway, arm));
                }
                (arm, Step::Wait(state)) => (arm, state),
            };
            drop(arm);
            progress(Progress::Waiting { state: &state, elapsed: deadline.elapsed() });
            if !deadline.allows(pause) {
                let name = &self.node.job.name;
                let note = format!("job {name} is still {state}; try again later, or wait longer with --start-timeout");
                return Err(deadline.timed_out(format!("waiting for job {name}")).with_note(note).into());
            }
            waited = true;
            tokio::time::sleep(pause).await;
            pause = (pause * 3 / 2).min(MAX_POLL);
        }
    }

    /// One poll, in a session of its own: a queue can outlast a token, and each session signs in afresh when the
    /// cached token is near its end.
    async fn poll(&mut self) -> Result<(Arc<ArmClient>, Step), JobConnectError> {
        let session = Session::new(self.azure, self.azure.deadline())?;
        let deadline = *session.deadline();
        let id = &self.node.job;
        let (arm, job) =
            session.call(self.tenant.as_ref(), |arm| async move { job::get(&arm, id, &deadline).await }).await?;
        self.tenant = arm.token().tenant.clone();
        let job = job.ok_or_else(|| JobConnectError::NotFound {
            name: id.name.clone(),
            searched: format!("workspace {}", id.workspace.workspace),
        })?;
        let step = self.step(&arm, &job, &deadline).await?;
        Ok((arm, step))
    }

    /// One look at the job and, once it runs, at its node's SSH service. An ended job is told as such first:
    /// nothing else about it matters then.
    async fn step(&mut self, arm: &ArmClient, job: &Job, deadline: &Deadline) -> Result<Step, JobConnectError> {
        let (name, node) = (job.id.name.clone(), self.node.node);
        if job.status.phase() == JobPhase::Ended {
            // Best effort: the state alone is the answer when run history cannot say more.
            let error = match self.api(arm, deadline).await {
                Ok(api) => job::run_error(arm, &api, &job.id, deadline).await,
                Err(_) => None,
            };
            return Err(JobConnectError::Ended { name, status: job.status.to_string(), error });
        }
        match job.ssh {
            SshNodes::None => return Err(JobConnectError::NoSshService { name }),
            ssh if !ssh.includes(node) => return Err(JobConnectError::FirstNodeOnly { name, node }),
            _ if node >= job.nodes => return Err(JobConnectError::NoSuchNode { name, node, nodes: job.nodes }),
            _ if job.status.phase() == JobPhase::Waiting => return Ok(Step::Wait(job.status.to_string())),
            _ => {}
        }
        let api = self.api(arm, deadline).await?;
        match job::node_ssh(arm, &api, &job.id, node, deadline).await? {
            NodeSsh::Running { proxy_endpoint } => self.gateway(&name, &proxy_endpoint).map(Step::Ready),
            NodeSsh::NoEndpoint => Err(JobConnectError::BadEndpoint { name, node, endpoint: String::new() }),
            NodeSsh::NotRunning { status, error } if status.eq_ignore_ascii_case("failed") => {
                Err(JobConnectError::ServiceFailed { name, node, status, error })
            }
            NodeSsh::NotRunning { status, .. } => Ok(Step::Wait(format!("running, its SSH service {status}"))),
            // The services register a little after the job runs (30–120 s for SSH).
            NodeSsh::NoSsh | NodeSsh::NoServices => Ok(Step::Wait("running, its SSH service not up yet".into())),
        }
    }

    /// The workspace's Azure ML API, asked for the first time it is needed.
    async fn api(&mut self, arm: &ArmClient, deadline: &Deadline) -> Result<ApiBase, JobConnectError> {
        if let Some(api) = &self.api {
            return Ok(api.clone());
        }
        let api = job::api_base(arm, self.azure.cloud, &self.node.job.workspace, deadline).await?;
        self.api = Some(api.clone());
        Ok(api)
    }

    /// The node's gateway, if it may have the token.
    fn gateway(&self, name: &str, proxy_endpoint: &str) -> Result<Gateway, JobConnectError> {
        let node = self.node.node;
        let gateway = Gateway::job_node(proxy_endpoint, node).ok_or_else(|| JobConnectError::BadEndpoint {
            name: name.to_owned(),
            node,
            endpoint: crate::util::text::one_line_max(proxy_endpoint, 200),
        })?;
        if !self.azure.cloud.gateway_allowed(&gateway) {
            let domains = self.azure.cloud.domain_names(GatewayService::JobNode);
            return Err(JobConnectError::UntrustedGateway { name: name.to_owned(), host: gateway.host, domains });
        }
        Ok(gateway)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::resource_id::WorkspaceId;

    fn parse(host: &str) -> JobQuery {
        JobQuery::parse(host, "azml").unwrap().unwrap()
    }

    #[test]
    fn job_names_are_read_with_their_node_and_workspace() {
        let q = parse("Sincere_Tail_12.job.azml");
        assert_eq!((q.name.as_str(), q.node, q.workspace.as_deref()), ("Sincere_Tail_12", 0, None));
        let q = parse("1.myjob.job.azml");
        assert_eq!((q.name.as_str(), q.node), ("myjob", 1));
        let q = parse("myjob.ws_1.JOB.azml");
        assert_eq!((q.name.as_str(), q.workspace.as_deref()), ("myjob", Some("ws_1")));
        let q = parse("3.myjob.ws1.job.azml");
        assert_eq!((q.node, q.workspace.as_deref()), (3, Some("ws1")));
        assert_eq!(JobQuery::parse("ci1.azml", "azml").unwrap(), None, "an instance's name");
        assert_eq!(JobQuery::parse("ci1.ws.azml", "azml").unwrap(), None);
    }

    #[test]
    fn odd_job_names_are_refused_before_any_request() {
        for bad in [
            "-o.job.azml",
            "_x.job.azml",
            "a b.job.azml",
            "$(id).job.azml",
            "a'b.job.azml",
            "1.2.3.4.job.azml",
            ".job.azml",
            "12345.x.y.job.azml",
            "x.-ws.job.azml",
        ] {
            assert!(matches!(JobQuery::parse(bad, "azml"), Err(JobConnectError::NotAName { .. })), "{bad}");
        }
    }

    #[test]
    fn several_jobs_of_one_name_are_listed_with_the_node_unless_one_alone_is_live() {
        let q = parse("2.train.job.azml");
        let job = |ws: &str, status: &str| -> Job {
            let workspace: WorkspaceId = format!("/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/{ws}").parse().unwrap();
            let doc = serde_json::json!({"name": "train", "properties": {"status": status}});
            serde_json::from_value::<job::JobResource>(doc).unwrap().job(&workspace).unwrap()
        };
        let e = q.choose(vec![job("b", "Running"), job("a", "Queued")], "").unwrap_err().to_string();
        assert!(e.contains("2.train.a.job.azml, 2.train.b.job.azml"), "{e}");
        let one = q.choose(vec![job("a", "Running")], "").unwrap();
        assert_eq!((one.node, one.job.workspace.workspace.as_str()), (2, "a"));
        let rerun = q.choose(vec![job("a", "Completed"), job("b", "Running")], "").unwrap();
        assert_eq!(rerun.job.workspace.workspace, "b", "the live one of an ended job and its rerun");
        assert!(q.choose(vec![job("a", "Completed"), job("b", "Failed")], "").is_err(), "two ended ones");
    }
}
