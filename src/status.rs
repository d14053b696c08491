//! `azml-ssh status`, `start` and `stop`: an instance's state, why it is in it, and how it is reached — for one
//! host (by alias or resource ID) or every configured one.

use std::time::Duration;

use serde::Serialize;

use crate::arm::{ArmClient, Verb};
use crate::compute::{ComputeResource, ComputeState};
use crate::configure::{self, Layout};
use crate::lifecycle::{self, StartOptions};
use crate::progress::{Progress, clock};
use crate::resolve::{self, AzureOptions, Transport};
use crate::resource_id::ComputeId;
use crate::runtime;

/// A host to act on: a configured alias, or a resource ID.
#[derive(Clone, Debug)]
pub struct Target {
    pub alias: Option<String>,
    pub id: ComputeId,
}

/// Resolves `ALIAS|RESOURCE_ID`. Aliases are looked up in azml-ssh's include file.
pub fn target(text: &str) -> Result<Target, String> {
    if text.starts_with('/') {
        return Ok(Target { alias: None, id: text.parse().map_err(|e| format!("{e}"))? });
    }
    let layout = Layout::new(None).map_err(|e| e.to_string())?;
    let entries = configure::read_entries(&layout).map_err(|e| e.to_string())?;
    entries.into_iter().find(|e| e.alias == text).map(|e| Target { alias: Some(e.alias), id: e.id }).ok_or_else(|| {
        format!(
            "{text:?} is neither a resource ID nor a host in {} (see `azml-ssh list`)",
            layout.include_file.display()
        )
    })
}

/// Every configured host.
pub fn all_targets() -> Result<Vec<Target>, String> {
    let layout = Layout::new(None).map_err(|e| e.to_string())?;
    let mut entries = configure::read_entries(&layout).map_err(|e| e.to_string())?;
    entries.sort_by(|a, b| a.alias.cmp(&b.alias));
    Ok(entries.into_iter().map(|e| Target { alias: Some(e.alias), id: e.id }).collect())
}

#[derive(Debug, Serialize)]
pub struct LastOperation {
    pub name: Option<String>,
    pub status: Option<String>,
    pub trigger: Option<String>,
    pub time: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AssignedTo {
    pub object_id: Option<String>,
    pub tenant_id: Option<String>,
}

/// One host's status, as printed by `status --json`.
#[derive(Debug, Serialize)]
pub struct Status {
    pub alias: Option<String>,
    pub resource_id: String,
    pub name: String,
    pub workspace: String,
    pub resource_group: String,
    pub subscription: String,
    pub state: Option<String>,
    /// Why it is stopped, in words ("idle shutdown", "user"), when the last operation was a stop.
    pub stopped_by: Option<String>,
    pub last_operation: Option<LastOperation>,
    /// `ip:port` (direct) or `gateway-host:port` (tunnel) when the instance can be reached now.
    pub endpoint: Option<String>,
    /// How a connection would go: "direct" or "tunnel".
    pub transport: String,
    pub ssh_public_access: bool,
    pub admin_user: Option<String>,
    pub assigned_to: Option<AssignedTo>,
    /// Set instead of the fields above when the lookup failed.
    pub error: Option<String>,
}

fn status_of(target: &Target, compute: Result<ComputeResource, String>) -> Status {
    let id = &target.id;
    let mut status = Status {
        alias: target.alias.clone(),
        resource_id: id.to_string(),
        name: id.compute.clone(),
        workspace: id.workspace.clone(),
        resource_group: id.resource_group.clone(),
        subscription: id.subscription.clone(),
        state: None,
        stopped_by: None,
        last_operation: None,
        endpoint: None,
        transport: "none".into(),
        ssh_public_access: false,
        admin_user: None,
        assigned_to: None,
        error: None,
    };
    let compute = match compute {
        Ok(compute) => compute,
        Err(e) => {
            status.error = Some(e);
            return status;
        }
    };
    if let Err(e) = resolve::preflight(id, &compute, Transport::Auto) {
        status.error = Some(e.to_string());
        return status;
    }
    let Ok(instance) = compute.instance() else {
        status.error = Some("the compute document is not readable".into());
        return status;
    };
    let ssh = instance.ssh_settings.unwrap_or_default();
    status.ssh_public_access = ssh.ssh_public_access.as_deref().is_some_and(|a| a.eq_ignore_ascii_case("Enabled"));
    status.admin_user = ssh.admin_user_name;
    status.state = instance.state.clone();
    if let Some(last) = instance.last_operation {
        let stopped = matches!(
            ComputeState::parse(instance.state.as_deref().unwrap_or("")),
            ComputeState::Stopped | ComputeState::Stopping
        );
        if stopped && last.operation_name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case("Stop")) {
            status.stopped_by = last.operation_trigger.as_deref().map(|t| match t {
                t if t.eq_ignore_ascii_case("IdleShutdown") => "idle shutdown".to_owned(),
                t if t.eq_ignore_ascii_case("Schedule") => "schedule".to_owned(),
                t => t.to_lowercase(),
            });
        }
        status.last_operation = Some(LastOperation {
            name: last.operation_name,
            status: last.operation_status,
            trigger: last.operation_trigger,
            time: last.operation_time,
        });
    }
    status.assigned_to = instance
        .personal_compute_instance_settings
        .and_then(|p| p.assigned_user)
        .map(|u| AssignedTo { object_id: u.object_id, tenant_id: u.tenant_id });
    // What a connection with `--transport auto` would use now; while stopped, what it will use once running.
    match resolve::choose_endpoint(id, &compute, Transport::Auto) {
        Ok(endpoint) => {
            status.transport = endpoint.transport_name().into();
            status.endpoint = Some(endpoint.to_string());
        }
        Err(_) => status.transport = if status.ssh_public_access { "direct" } else { "tunnel" }.into(),
    }
    status
}

pub fn status(targets: &[Target], azure: &AzureOptions, json: bool) -> Result<(), String> {
    let statuses = runtime::block_on(async {
        let arm = resolve::session(azure).await.map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for target in targets {
            let compute = arm.get_compute(&target.id).await.map_err(|e| e.to_string());
            out.push(status_of(target, compute));
        }
        Ok::<_, String>(out)
    })
    .map_err(|e| format!("cannot start the async runtime: {e}"))??;

    if json {
        let text = if targets.len() == 1 && statuses.len() == 1 {
            serde_json::to_string_pretty(&statuses[0])
        } else {
            serde_json::to_string_pretty(&statuses)
        };
        println!("{}", text.map_err(|e| e.to_string())?);
    } else {
        print_table(&statuses);
    }
    Ok(())
}

fn print_table(statuses: &[Status]) {
    let mut rows = vec![["HOST", "STATE", "TRANSPORT", "ENDPOINT", "NOTE"].map(String::from)];
    for s in statuses {
        let host = s.alias.clone().unwrap_or_else(|| s.name.clone());
        let note = match (&s.error, &s.stopped_by) {
            (Some(e), _) => e.clone(),
            (None, Some(by)) => format!("stopped by {by}"),
            _ => String::new(),
        };
        rows.push([
            host,
            s.state.clone().unwrap_or_else(|| "?".into()),
            s.transport.clone(),
            s.endpoint.clone().unwrap_or_else(|| "-".into()),
            note,
        ]);
    }
    let widths: Vec<usize> = (0..5).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:w$}")).collect();
        println!("{}", cells.join("  ").trim_end());
    }
}

/// `azml-ssh start`: one start request (shared with any connecting proxies), and with `wait`, until Running.
pub fn start(target: &Target, azure: &AzureOptions, wait: Option<Duration>) -> Result<(), String> {
    let id = &target.id;
    runtime::block_on(async {
        let arm = resolve::session(azure).await.map_err(|e| e.to_string())?;
        let compute = arm.get_compute(id).await.map_err(|e| e.to_string())?;
        let options = StartOptions {
            allow_start: true,
            timeout: wait.unwrap_or(Duration::ZERO),
            cache_root: crate::cache::cache_root(),
        };
        match wait {
            Some(_) => {
                let compute =
                    lifecycle::ensure_running(&arm, id, compute, &options).await.map_err(|e| e.to_string())?;
                resolve::direct_endpoint(id, &compute).map(|_| ()).or_else(|e| match e {
                    resolve::EndpointError::NotConnectable { .. } => Err(e.to_string()),
                    _ => Ok(()),
                })?;
                println!("{} is running.", id.compute);
            }
            None => {
                let state = lifecycle::request_start(&arm, id, compute, &options).await.map_err(|e| e.to_string())?;
                println!("{state}");
            }
        }
        Ok(())
    })
    .map_err(|e| format!("cannot start the async runtime: {e}"))?
}

/// `azml-ssh stop`: one stop request, and with `wait`, until Stopped.
pub fn stop(target: &Target, azure: &AzureOptions, wait: Option<Duration>) -> Result<(), String> {
    let id = &target.id;
    runtime::block_on(async {
        let arm = resolve::session(azure).await.map_err(|e| e.to_string())?;
        let compute = arm.get_compute(id).await.map_err(|e| e.to_string())?;
        let state = current_state(&compute);
        match state {
            Some(ComputeState::Stopped) => {
                println!("{} is already stopped.", id.compute);
                return Ok(());
            }
            Some(ComputeState::Stopping) => {}
            _ => arm.compute_action(id, Verb::Stop).await.map_err(|e| e.to_string())?,
        }
        if let Some(cache_root) = crate::cache::cache_root() {
            crate::cache::EndpointCache::new(&cache_root).forget(id);
        }
        match wait {
            None => println!("Stop requested for {}.", id.compute),
            Some(limit) => {
                wait_for_stopped(&arm, id, limit).await?;
                println!("{} is stopped.", id.compute);
            }
        }
        Ok(())
    })
    .map_err(|e| format!("cannot start the async runtime: {e}"))?
}

fn current_state(compute: &ComputeResource) -> Option<ComputeState> {
    compute.instance().ok().map(|i| ComputeState::parse(i.state.as_deref().unwrap_or("Unknown")))
}

async fn wait_for_stopped(arm: &ArmClient, id: &ComputeId, limit: Duration) -> Result<(), String> {
    let mut progress = Progress::new(&id.compute);
    let mut pause = lifecycle::Pause::new();
    loop {
        let compute = arm.get_compute(id).await.map_err(|e| e.to_string())?;
        let state = current_state(&compute).unwrap_or(ComputeState::Unknown);
        if state == ComputeState::Stopped {
            progress.finish();
            return Ok(());
        }
        progress.state(&state.to_string());
        if progress.elapsed() >= limit {
            progress.finish();
            return Err(format!("{} is still {state} after {}", id.compute, clock(progress.elapsed())));
        }
        pause.wait(&mut progress, limit).await;
    }
}
