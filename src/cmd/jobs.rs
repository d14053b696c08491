//! `azml-ssh jobs`: the user's queued and running training jobs that have an SSH service, each with the ssh host
//! name of every node it can be reached on (`ssh myjob.job.azml`, `ssh 1.myjob.job.azml`).

use serde::Serialize;

use crate::azure::job::{Job, JobNode, NodeSsh};
use crate::azure::resource_id;
use crate::azure::session::AzureOptions;
use crate::cmd::{Console, Error, UsageError, block_on};
use crate::connect::cache::EndpointCache;
use crate::connect::job;
use crate::connect::target::Target;
use crate::sshconf::store::{self, Layout};
use crate::sshconf::wildcard::{Suffix, WildcardState};
use crate::util::text;

/// What `azml-ssh jobs` lists.
#[derive(Clone, Debug, Default)]
pub struct JobsOptions {
    /// Only this workspace's jobs.
    pub workspace: Option<String>,
    /// Other people's jobs too.
    pub all: bool,
    /// JSON instead of a table.
    pub json: bool,
}

/// One job as `--json` gives it.
#[derive(Debug, Serialize)]
struct Listed {
    name: String,
    status: String,
    workspace: String,
    resource_id: String,
    nodes: u32,
    /// The host names to give ssh, node 0 first.
    ssh_hosts: Vec<String>,
    created_by: Option<String>,
    created_at: Option<String>,
    /// The status as Azure spells it, for the table.
    #[serde(skip)]
    shown_status: String,
}

impl Listed {
    /// `qualified`: another listed job has the same name, so the hosts name the workspace too.
    fn new(job: &Job, suffix: &Suffix, qualified: bool) -> Listed {
        Listed {
            name: job.id.name.clone(),
            status: text::stable_name(job.status.name()),
            workspace: job.id.workspace.workspace.clone(),
            resource_id: job.id.to_string(),
            nodes: job.nodes,
            ssh_hosts: job.ssh_hosts(suffix.as_str(), qualified),
            created_by: job.created_by.clone(),
            created_at: job.created_at.as_deref().and_then(crate::util::time::rfc3339_utc),
            shown_status: job.status.to_string(),
        }
    }
}

#[derive(Debug, Serialize)]
struct JobsJson<'a> {
    jobs: &'a [Listed],
}

/// Lists the jobs. Lists that could not be read are notes; the jobs found elsewhere are still shown.
pub fn jobs(options: &JobsOptions, azure: &AzureOptions, console: &mut Console) -> Result<(), Error> {
    if let Some(ws) = &options.workspace {
        resource_id::check_workspace_name(ws).map_err(|_| UsageError::Workspace(ws.clone()))?;
    }
    let suffix = wildcard_suffix(console);
    let cache = EndpointCache::open_default();
    let listing = block_on(job::live_jobs(azure, cache.as_ref(), options.workspace.as_deref(), options.all))??;
    for failed in &listing.failed {
        console.note(format!("could not be listed: {failed}"));
    }
    for workspace in &listing.truncated {
        console.note(format!(
            "workspace {workspace} has more than {} jobs; only the newest were read",
            crate::azure::job::MOST_JOBS
        ));
    }
    let same_name =
        |job: &Job| listing.jobs.iter().filter(|j| j.id.name.eq_ignore_ascii_case(&job.id.name)).count() > 1;
    let listed: Vec<Listed> = listing.jobs.iter().map(|job| Listed::new(job, &suffix, same_name(job))).collect();
    if options.json {
        return console.say_versioned(&JobsJson { jobs: &listed });
    }
    if listed.is_empty() {
        let whose = if options.all { "" } else { " of yours" };
        console.tell(format!(
            "no queued or running job{whose} has an SSH service (`azml-ssh jobs --all` lists everyone's)"
        ));
        return Ok(());
    }
    table(&listed, console)
}

/// The suffix ssh names take: the wildcard host's, or the default one with a note when the wildcard host is off.
fn wildcard_suffix(console: &mut Console) -> Suffix {
    let file = Layout::new(None).ok().and_then(|layout| store::read_file(&layout).ok());
    match file.map(|f| f.wildcard) {
        Some(WildcardState::On(wildcard)) => wildcard.suffix,
        _ => {
            console.note("the wildcard host is not on, so these names do not reach ssh yet: run `azml-ssh config`");
            Suffix::default()
        }
    }
}

fn table(listed: &[Listed], console: &mut Console) -> Result<(), Error> {
    let width = |f: fn(&Listed) -> usize, title: &str| listed.iter().map(f).max().unwrap_or(0).max(title.len());
    let (name, status, workspace) = (
        width(|l| l.name.len(), "JOB"),
        width(|l| l.shown_status.len(), "STATUS"),
        width(|l| l.workspace.len(), "WORKSPACE"),
    );
    console.say(format!("{:name$}  {:status$}  NODES  {:workspace$}  CONNECT", "JOB", "STATUS", "WORKSPACE"))?;
    for l in listed {
        let connect = l.ssh_hosts.first().map(|h| format!("ssh {h}")).unwrap_or_default();
        let more = match l.ssh_hosts.len() {
            0 | 1 => String::new(),
            n => format!(" (nodes 0-{}: N.{})", n - 1, l.ssh_hosts[0]),
        };
        console.say(format!(
            "{:name$}  {:status$}  {:>5}  {:workspace$}  {connect}{more}",
            l.name, l.shown_status, l.nodes, l.workspace
        ))?;
    }
    Ok(())
}

/// `azml-ssh status JOB.job.azml`: the job's status and, while it runs, the node's SSH service.
pub(crate) fn status(
    node: &JobNode,
    host: &str,
    azure: &AzureOptions,
    json: bool,
    console: &mut Console,
) -> Result<(), Error> {
    let cache = EndpointCache::open_default();
    let target = Target::JobNode(node.clone());
    let tenant = cache.as_ref().and_then(|c| c.tenant(&target));
    let found = block_on(job::status(node, azure, tenant.as_ref()))??;
    let ssh = SshServiceJson::of(found.ssh.as_ref(), found.job.ssh.includes(node.node));
    let row = NodeRow {
        host: host.to_owned(),
        name: found.job.id.name.clone(),
        status: text::stable_name(found.job.status.name()),
        workspace: found.job.id.workspace.workspace.clone(),
        resource_id: found.job.id.to_string(),
        node: node.node,
        nodes: found.job.nodes,
        ssh_service: ssh,
    };
    if json {
        #[derive(Serialize)]
        struct StatusJson<'a> {
            job_node: &'a NodeRow,
        }
        return console.say_versioned(&StatusJson { job_node: &row });
    }
    console.say(format!(
        "{}: job {} is {}, node {} of {}; its SSH service: {}",
        row.host,
        row.name,
        found.job.status,
        row.node,
        row.nodes,
        row.ssh_service.words()
    ))
}

/// One job node as `status --json` gives it.
#[derive(Debug, Serialize)]
struct NodeRow {
    host: String,
    name: String,
    status: String,
    workspace: String,
    resource_id: String,
    node: u32,
    nodes: u32,
    ssh_service: SshServiceJson,
}

/// A job node's SSH service, for scripts.
#[derive(Debug, Serialize)]
struct SshServiceJson {
    /// `running`, `not_running` (see `azure_status`), `not_up` (not registered yet), `no_endpoint` (running
    /// without one), `not_on_node` (the job runs SSH on node 0 only, or not at all), `not_asked` (the job does not
    /// run, so run history was not asked).
    state: &'static str,
    /// Run history's status of the service, as a stable name (`not_started`, `failed`, …).
    azure_status: Option<String>,
    /// Azure's error for it.
    error: Option<String>,
}

impl SshServiceJson {
    fn of(ssh: Option<&NodeSsh>, on_node: bool) -> Self {
        let plain = |state| SshServiceJson { state, azure_status: None, error: None };
        match ssh {
            None if on_node => plain("not_asked"),
            None => plain("not_on_node"),
            Some(NodeSsh::Running { .. }) => plain("running"),
            Some(NodeSsh::NoEndpoint) => plain("no_endpoint"),
            Some(NodeSsh::NotRunning { status, error }) => SshServiceJson {
                state: "not_running",
                azure_status: Some(text::stable_name(status)),
                error: error.clone(),
            },
            Some(NodeSsh::NoSsh | NodeSsh::NoServices) => plain("not_up"),
        }
    }

    /// In words, for the line without --json.
    fn words(&self) -> String {
        let state = self.state.replace('_', " ");
        match (&self.azure_status, &self.error) {
            (Some(status), Some(error)) => format!("{state} ({status}: {error})"),
            (Some(status), None) => format!("{state} ({status})"),
            _ => state,
        }
    }
}
