//! Finding compute instances: subscriptions → workspaces → computes, every list paged through `nextLink`, and the
//! requests of each level made in parallel with a bounded number in flight.

use futures_util::stream::{self, StreamExt};
use serde::Deserialize;

use crate::azure::arm::{API_VERSION, ArmClient, ArmError};
use crate::azure::compute::{ComputeResource, ComputeState, InstanceError, SshAccess};
use crate::azure::resource_id::ComputeId;

/// The subscriptions list has its own API version.
const SUBSCRIPTIONS_API_VERSION: &str = "2022-12-01";
/// Enough to hide latency without tripping ARM's per-client throttling.
const CONCURRENCY: usize = 8;

#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Subscription IDs to search; empty means every enabled subscription the login can see.
    pub subscriptions: Vec<String>,
    pub resource_group: Option<String>,
    pub workspace: Option<String>,
    /// Keep only instances assigned to this object ID (the signed-in user); `None` keeps every instance.
    pub assigned_to: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Found {
    pub id: ComputeId,
    pub admin_user: Option<String>,
    pub ssh_access: SshAccess,
    pub state: ComputeState,
}

#[derive(Debug, Default)]
pub struct Discovery {
    pub found: Vec<Found>,
    /// The subscriptions that were searched (lower-case), so stale entries can be told from out-of-scope ones.
    pub searched: Vec<String>,
    /// Things that were skipped, one line each (a workspace we may not read, a compute with an unusable name).
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subscription {
    subscription_id: String,
    state: Option<String>,
}

#[derive(Deserialize)]
struct Workspace {
    id: Option<String>,
    name: Option<String>,
}

fn is_guid(text: &str) -> bool {
    text.len() == 36 && text.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// Validates a workspace ID from ARM by parsing it as the parent of a compute, which checks every segment.
fn workspace_path(id: &str) -> Option<String> {
    let probe: ComputeId = format!("{id}/computes/probe").parse().ok()?;
    Some(probe.workspace_path())
}

pub async fn discover(arm: &ArmClient, filter: &Filter) -> Result<Discovery, ArmError> {
    let mut discovery = Discovery::default();
    let subscriptions = if filter.subscriptions.is_empty() {
        let all: Vec<Subscription> =
            arm.list("/subscriptions", SUBSCRIPTIONS_API_VERSION, "the list of subscriptions").await?;
        all.into_iter()
            .filter(|s| s.state.as_deref().is_none_or(|state| state.eq_ignore_ascii_case("Enabled")))
            .map(|s| s.subscription_id)
            .filter(|s| is_guid(s))
            .collect()
    } else {
        filter.subscriptions.clone()
    };
    discovery.searched = subscriptions.iter().map(|s| s.to_ascii_lowercase()).collect();

    let workspace_lists = stream::iter(subscriptions.iter().map(|sub| async move {
        let path = match &filter.resource_group {
            Some(rg) => format!(
                "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces"
            ),
            None => format!("/subscriptions/{sub}/providers/Microsoft.MachineLearningServices/workspaces"),
        };
        let what = format!("the workspaces of subscription {sub}");
        (sub.clone(), arm.list::<Workspace>(&path, API_VERSION, &what).await)
    }))
    .buffer_unordered(CONCURRENCY)
    .collect::<Vec<_>>()
    .await;

    let mut workspaces = Vec::new();
    for (sub, result) in workspace_lists {
        match result {
            Ok(list) => workspaces.extend(list),
            // A subscription named explicitly must work; among all visible ones, one we cannot read is skipped.
            Err(e) if filter.subscriptions.is_empty() => {
                discovery.warnings.push(format!("skipped subscription {sub}: {e}"))
            }
            Err(e) => return Err(e),
        }
    }
    let mut paths = Vec::new();
    for ws in workspaces {
        if let Some(wanted) = &filter.workspace
            && !ws.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(wanted))
        {
            continue;
        }
        match ws.id.as_deref().and_then(workspace_path) {
            Some(path) => paths.push(path),
            None => discovery.warnings.push(format!("skipped a workspace with an unusable ID: {:?}", ws.id)),
        }
    }
    paths.sort();
    paths.dedup();

    let compute_lists = stream::iter(paths.iter().map(|path| async move {
        let name = path.rsplit('/').next().unwrap_or_default();
        let what = format!("the computes of workspace {name}");
        (name.to_owned(), arm.list::<ComputeResource>(&format!("{path}/computes"), API_VERSION, &what).await)
    }))
    .buffer_unordered(CONCURRENCY)
    .collect::<Vec<_>>()
    .await;

    for (workspace, result) in compute_lists {
        let computes = match result {
            Ok(list) => list,
            Err(e) => {
                discovery.warnings.push(format!("skipped workspace {workspace}: {e}"));
                continue;
            }
        };
        for compute in computes {
            let instance = match compute.instance() {
                Ok(instance) => instance,
                Err(InstanceError::NotComputeInstance { .. }) => continue,
                Err(InstanceError::Malformed { .. }) => {
                    let name = compute.name.as_deref().unwrap_or("?");
                    discovery.warnings.push(format!("skipped {name}: its properties are not readable"));
                    continue;
                }
            };
            let Some(id) = compute.id.as_deref().and_then(|id| id.parse::<ComputeId>().ok()) else {
                discovery.warnings.push(format!(
                    "skipped a compute instance in workspace {workspace} whose name cannot be used safely: {:?}",
                    compute.name.as_deref().unwrap_or("?")
                ));
                continue;
            };
            if let Some(me) = &filter.assigned_to {
                let assigned = instance.assigned_user.as_ref().and_then(|u| u.object_id.as_deref());
                if !assigned.is_some_and(|oid| oid.eq_ignore_ascii_case(me)) {
                    continue;
                }
            }
            discovery.found.push(Found {
                ssh_access: instance.ssh_access,
                admin_user: instance.admin_user,
                state: instance.state,
                id,
            });
        }
    }
    discovery.found.sort_by_key(|f| f.id.cache_key());
    Ok(discovery)
}
