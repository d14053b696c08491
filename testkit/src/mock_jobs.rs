//! Training jobs in the mock ARM, and the Azure ML data plane that goes with them, as the sources in
//! `docs/design/jobs.md` describe it: the workspace document's `discoveryUrl`, the discovery document (no token
//! needed) naming the `api` host, and run history's `…/runs/{job}` and `…/runs/{job}/serviceinstances/{node}`
//! (ARM token, no api-version). Job documents follow the REST specification's `JobBase`; a job's status and its
//! nodes' services can be scripted to change from one GET to the next, as a queued job's do.

use std::collections::{HashMap, VecDeque};

use serde_json::{Value, json};

/// A job's scripted life: statuses and per-node service answers, each taken in turn at every GET (the last one
/// stays).
#[derive(Clone, Debug, Default)]
pub struct JobScript {
    pub statuses: VecDeque<String>,
    pub services: HashMap<u32, VecDeque<Value>>,
    /// Run history's `error` of the run, for a failed job.
    pub error: Option<String>,
    /// The document without its status (filled in at every GET).
    pub document: Value,
}

/// The jobs and data-plane settings of the mock.
#[derive(Default)]
pub struct Jobs {
    /// Lower-cased workspace path + "/jobs/" + the name as Azure spells it → its script.
    pub jobs: HashMap<String, JobScript>,
    /// What the discovery document names as `api` (default: the mock itself).
    pub api: Option<String>,
}

/// A command job's ARM document (`JobBase`): `nodes` nodes, with an SSH service (on every node, or only the
/// first) or none, submitted by `created_by`.
pub fn command_job(workspace: &str, name: &str, nodes: u32, ssh: Option<bool>, created_by: &str) -> Value {
    let mut services = json!({
        "Studio": {"jobServiceType": "Studio", "endpoint": "https://ml.azure.com/runs/x"},
        "Tracking": {"jobServiceType": "Tracking", "endpoint": "azureml://eastus2.api.azureml.ms/mlflow"}
    });
    if let Some(all) = ssh {
        let nodes = if all { json!({"nodesValueType": "All"}) } else { Value::Null };
        services["my_ssh"] =
            json!({"jobServiceType": "SSH", "nodes": nodes, "properties": {"sshPublicKeys": "ssh-ed25519 AAAA… me"}});
    }
    json!({
        "id": format!("{workspace}/jobs/{name}"),
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/jobs",
        "properties": {
            "jobType": "Command",
            "displayName": name,
            "experimentName": "debug",
            "computeId": format!("{workspace}/computes/gpu-cluster"),
            "command": "python train.py",
            "services": services,
            "resources": {"instanceCount": nodes},
        },
        "systemData": {"createdBy": created_by, "createdByType": "User", "createdAt": "2026-12-07T08:00:00Z"}
    })
}

/// Run history's answer for a node whose SSH service is `status`, behind `proxy_endpoint` (Azure/azure-dev's
/// fixture's shape, with the TensorBoard service it has beside).
pub fn ssh_service(status: &str, proxy_endpoint: &str) -> Value {
    let mut ssh =
        json!({"type": "SSH", "port": 8705, "status": status, "error": null, "endpoint": "", "properties": {}});
    if status == "Running" {
        ssh["properties"] = json!({"ProxyEndpoint": proxy_endpoint});
    }
    if status == "Failed" {
        ssh["error"] =
            json!({"error": {"code": null, "message": "sshd did not start"}, "time": "0001-01-01T00:00:00+00:00"});
    }
    json!({"instances": {
        "my_ssh": ssh,
        "tensorboard": {"type": "TensorBoard", "port": 6006, "status": "Failed",
            "error": {"error": {"code": null, "message": "failed to start endpoint tensorboard"}, "time": "0001-01-01T00:00:00+00:00"},
            "endpoint": "https://tnsrb-host", "properties": {}}
    }})
}

impl Jobs {
    /// The job at `path` (`…/workspaces/ws/jobs/name`, the name case-sensitive as run IDs are).
    fn key(path: &str) -> Option<String> {
        let (workspace, name) = path.split_once("/jobs/")?;
        (!name.is_empty() && !name.contains('/')).then(|| format!("{}/jobs/{name}", workspace.to_ascii_lowercase()))
    }

    /// `GET …/jobs/{name}`: the document with its next status.
    pub fn get(&mut self, path: &str) -> Option<Value> {
        let script = self.jobs.get_mut(&Self::key(path)?)?;
        let status = next(&mut script.statuses).unwrap_or_else(|| "Running".into());
        let mut doc = script.document.clone();
        doc["properties"]["status"] = json!(status);
        Some(doc)
    }

    /// `GET …/workspaces/{ws}/jobs`: the workspace's jobs as they stand (no status advances).
    pub fn list(&self, workspace: &str) -> Vec<Value> {
        let prefix = format!("{}/jobs/", workspace.to_ascii_lowercase());
        let mut keys: Vec<&String> = self.jobs.keys().filter(|k| k.starts_with(&prefix)).collect();
        keys.sort();
        keys.into_iter()
            .map(|k| {
                let script = &self.jobs[k];
                let mut doc = script.document.clone();
                doc["properties"]["status"] =
                    json!(script.statuses.front().cloned().unwrap_or_else(|| "Running".into()));
                doc
            })
            .collect()
    }

    /// The workspaces that hold jobs (lower-cased paths), for the workspace lists.
    pub fn workspaces(&self) -> Vec<String> {
        self.jobs.keys().filter_map(|k| k.split("/jobs/").next().map(str::to_owned)).collect()
    }

    /// Run history: `/history/v1.0{workspace}/runs/{job}[/serviceinstances/{node}]`. `None` when the path is not
    /// run history's.
    pub fn history(&mut self, path: &str) -> Option<(u16, Value)> {
        let rest = path.strip_prefix("/history/v1.0")?;
        let (workspace, run) = rest.split_once("/runs/")?;
        let (name, node) = match run.split_once("/serviceinstances/") {
            Some((name, node)) => (name, Some(node.parse::<u32>().ok()?)),
            None => (run, None),
        };
        let not_found = (404, json!({"error": {"code": "UserError", "message": format!("Run {name} was not found")}}));
        let Some(script) = Self::key(&format!("{workspace}/jobs/{name}")).and_then(|k| self.jobs.get_mut(&k)) else {
            return Some(not_found);
        };
        match node {
            None => {
                let error = script.error.as_ref().map(|m| json!({"error": {"code": "UserError", "message": m}}));
                Some((200, json!({"runId": name, "status": script.statuses.front(), "error": error})))
            }
            Some(node) => match script.services.get_mut(&node).and_then(next) {
                Some(answer) => Some((200, answer)),
                None => Some((200, json!({"instances": {}}))),
            },
        }
    }
}

/// The next of a script's answers; the last one stays.
fn next<T: Clone>(queue: &mut VecDeque<T>) -> Option<T> {
    match queue.len() {
        0 => None,
        1 => queue.front().cloned(),
        _ => queue.pop_front(),
    }
}
