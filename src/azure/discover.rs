//! Finding compute instances: tenants → subscriptions → workspaces → computes, every list paged through
//! `nextLink`, and the requests of each level made in parallel with a bounded number in flight.
//!
//! An account can see several tenants (guest users, consultants), and ARM lists only the subscriptions of the
//! token's tenant, so every tenant is asked with a token of its own. A tenant whose token cannot be had (MFA,
//! conditional access) is reported and skipped; the others go on.

use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use serde::Deserialize;

use crate::azure::arm::{API_VERSION, ArmClient, ArmError};
use crate::azure::compute::{ComputeResource, ComputeState, Instance, InstanceError};
use crate::azure::credential::TenantId;
use crate::azure::resource_id::{self, ComputeId, WorkspaceId, WorkspaceScope};
use crate::azure::session::{Session, SessionError};
use crate::util::deadline::Deadline;

/// The tenant and subscription lists have their own API version.
const TENANTS_API_VERSION: &str = "2022-12-01";
/// Every list of a level in flight at once (a few hundred workspaces take a few rounds), within what ARM's
/// per-client throttling allows; over HTTP/2 these share one connection.
const CONCURRENCY: usize = 64;

#[derive(Clone, Debug, Default)]
pub(crate) struct Filter {
    /// Subscription IDs to search; empty means every usable subscription of every tenant the login can see.
    pub subscriptions: Vec<String>,
    pub resource_group: Option<String>,
    pub workspace: Option<String>,
    /// Keep only the signed-in user's instances (assigned to them, or unassigned and created by them).
    pub mine_only: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Found {
    pub id: ComputeId,
    pub admin_user: Option<String>,
    pub state: ComputeState,
}

#[derive(Debug, Default)]
pub(crate) struct Discovery {
    pub found: Vec<Found>,
    /// The subscriptions that were searched (lower-case), so stale entries can be told from out-of-scope ones.
    pub searched: Vec<String>,
    /// Things that were skipped, one line each (a tenant we cannot sign in to, a compute with an unusable name).
    pub warnings: Vec<String>,
    /// Lists that failed (after ARM's retries): what is in them is unknown, not gone.
    pub failed: Vec<Failed>,
}

/// A list that could not be read, so hosts in it must be kept as they are.
#[derive(Debug)]
pub(crate) enum Failed {
    /// The subscriptions of a tenant.
    Tenant { tenant: String, error: String },
    /// The workspaces of a subscription.
    Subscription { subscription: String, error: String },
    /// The computes of a workspace (its lower-cased ARM path).
    Workspace { path: String, error: String },
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failed::Tenant { tenant, error } => write!(f, "the subscriptions of tenant {tenant}: {error}"),
            Failed::Subscription { subscription, error } => {
                write!(f, "the workspaces of subscription {subscription}: {error}")
            }
            Failed::Workspace { path, error } => {
                let name = path.rsplit('/').next().unwrap_or(path);
                write!(f, "the computes of workspace {name}: {error}")
            }
        }
    }
}

impl Discovery {
    /// The workspaces whose computes could not be listed (their ARM paths).
    pub(crate) fn failed_workspaces(&self) -> Vec<String> {
        self.failed
            .iter()
            .filter_map(|f| match f {
                Failed::Workspace { path, .. } => Some(path.clone()),
                _ => None,
            })
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum DiscoverError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("cannot tell who is signed in (the token has no object ID); use --all to configure every instance")]
    NoObjectId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tenant {
    tenant_id: String,
    display_name: Option<String>,
    default_domain: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subscription {
    subscription_id: String,
    state: Option<String>,
}

/// Whether a subscription's `state` allows using it: `Warned` and `PastDue` subscriptions still work; only
/// `Disabled` and `Deleted` ones do not.
fn usable(state: Option<&str>) -> bool {
    !state.is_some_and(|s| s.eq_ignore_ascii_case("Disabled") || s.eq_ignore_ascii_case("Deleted"))
}

#[derive(Deserialize)]
struct Workspace {
    id: Option<String>,
    name: Option<String>,
}

/// A subscription to search, with the client (and so the tenant) that reaches it.
pub(crate) struct Scope {
    subscription: String,
    pub arm: Arc<ArmClient>,
}

/// A subscription with its list of workspaces, or why that list could not be read.
type WorkspaceList = (Scope, Result<Vec<Workspace>, ArmError>);

/// A tenant to search: its ID (`None`: the default tenant, when the tenants cannot be listed) and a name for notes.
type TenantToSearch = (Option<TenantId>, String);

/// A tenant with its client and subscriptions, or why they could not be had: `true` when listing failed,
/// `false` when signing in to the tenant did.
type TenantSubscriptions =
    (Option<TenantId>, String, Result<(Arc<ArmClient>, Vec<Subscription>), (SessionError, bool)>);

pub(crate) async fn discover(session: &Session, filter: &Filter) -> Result<Discovery, DiscoverError> {
    let mut discovery = Discovery::default();
    let workspace_lists = subscriptions_and_their_workspaces(session, filter, &mut discovery).await?;
    // Only subscriptions whose workspaces could be listed count as searched: hosts elsewhere are kept.
    discovery.searched = workspace_lists
        .iter()
        .filter(|(_, result)| result.is_ok())
        .map(|(s, _)| s.subscription.to_ascii_lowercase())
        .collect();

    let workspaces = wanted_workspaces(&workspace_lists, filter, &mut discovery);
    for (workspace, scope, result) in list_computes(&workspaces, session.deadline()).await {
        match result {
            Ok(computes) => add_wanted_instances(&mut discovery, filter, workspace, scope, computes)?,
            Err(e) => {
                let path = workspace.to_string().to_ascii_lowercase();
                discovery.failed.push(Failed::Workspace { path, error: e.to_string() });
            }
        }
    }
    discovery.found.sort_by_key(|f| f.id.cache_key());
    Ok(discovery)
}

/// What a search for one name found: the instances so named (with the tenant each answered in), how much was
/// searched, and what could not be.
#[derive(Debug, Default)]
pub(crate) struct NameSearch {
    pub found: Vec<(ComputeId, Option<TenantId>)>,
    /// Instances so named that `mine_only` leaves out, each with why (see [`Instance::whose`]).
    pub not_mine: Vec<(ComputeId, &'static str)>,
    /// How many subscriptions and workspaces were asked.
    pub subscriptions: usize,
    pub workspaces: usize,
    /// Lists or lookups that failed: the name may be there.
    pub failed: Vec<Failed>,
}

/// The compute instances named `name` within the filter's scope; with `mine_only`, those that are not the
/// signed-in user's are set apart, as [`discover`] leaves them out. The workspaces are found as [`discover`] finds
/// them; then each is asked for that one compute (`GET …/computes/{name}`, 404 when it has none), instead of
/// listing all of them.
pub(crate) async fn find_by_name(session: &Session, filter: &Filter, name: &str) -> Result<NameSearch, DiscoverError> {
    let Workspaces { list: workspaces, subscriptions, failed } = workspaces(session, filter).await?;
    let mut search = NameSearch { subscriptions, workspaces: workspaces.len(), failed, ..NameSearch::default() };
    let deadline = session.deadline();
    let answers = stream::iter(workspaces.iter().map(|(workspace, scope)| async move {
        let id = ComputeId::in_workspace(workspace, name);
        let result = scope.arm.get_compute(&id, deadline).await;
        (workspace, &**scope, id, result)
    }))
    .buffer_unordered(CONCURRENCY)
    .collect::<Vec<_>>()
    .await;
    for (workspace, scope, id, result) in answers {
        match result.map(|compute| compute.instance()) {
            Ok(Ok(instance)) => match mine(filter, scope, &instance)? {
                true => search.found.push((id, scope.arm.tenant())),
                false => search.not_mine.push((id, instance.whose())),
            },
            Ok(Err(_)) | Err(ArmError::NotFound { .. }) => {}
            Err(e) => {
                let path = workspace.to_string().to_ascii_lowercase();
                search.failed.push(Failed::Workspace { path, error: e.to_string() });
            }
        }
    }
    search.found.sort_by_key(|(id, _)| id.cache_key());
    Ok(search)
}

/// The workspaces in the filter's scope, found as [`discover`] finds them, each with the client (and so the
/// tenant) that reaches it; how many subscriptions could be listed, and what could not be.
pub(crate) struct Workspaces {
    pub list: Vec<(WorkspaceId, Arc<Scope>)>,
    pub subscriptions: usize,
    pub failed: Vec<Failed>,
}

/// See [`Workspaces`].
pub(crate) async fn workspaces(session: &Session, filter: &Filter) -> Result<Workspaces, DiscoverError> {
    let mut discovery = Discovery::default();
    let workspace_lists = subscriptions_and_their_workspaces(session, filter, &mut discovery).await?;
    let list = wanted_workspaces(&workspace_lists, filter, &mut discovery)
        .into_iter()
        .map(|(id, scope)| (id, Arc::new(Scope { subscription: scope.subscription.clone(), arm: scope.arm.clone() })))
        .collect();
    let subscriptions = workspace_lists.iter().filter(|(_, r)| r.is_ok()).count();
    Ok(Workspaces { list, subscriptions, failed: discovery.failed })
}

/// Whether `instance` passes the filter's rule of ownership, judged with the token of the tenant it answered in.
fn mine(filter: &Filter, scope: &Scope, instance: &Instance) -> Result<bool, DiscoverError> {
    if !filter.mine_only {
        return Ok(true);
    }
    let me = scope.arm.signed_in_object_id().ok_or(DiscoverError::NoObjectId)?;
    Ok(instance.belongs_to(&me))
}

/// Which subscriptions, each with its workspaces: the named ones, or every usable one the login can see, with
/// their workspaces listed in parallel.
async fn subscriptions_and_their_workspaces(
    session: &Session,
    filter: &Filter,
    discovery: &mut Discovery,
) -> Result<Vec<WorkspaceList>, DiscoverError> {
    if !filter.subscriptions.is_empty() {
        return named_subscriptions(session, filter).await;
    }
    let scopes = every_subscription(session, discovery).await?;
    Ok(stream::iter(scopes.into_iter().map(|scope| async move {
        let result = list_workspaces(&scope.arm, &scope.subscription, filter, session.deadline()).await;
        (scope, result)
    }))
    .buffer_unordered(CONCURRENCY)
    .collect::<Vec<_>>()
    .await)
}

/// Which workspaces to search: those the filter names (or all) in the lists that could be read, each once,
/// in the order of their paths. A list that failed is recorded; a workspace with an unusable ID is a warning.
fn wanted_workspaces<'a>(
    workspace_lists: &'a [WorkspaceList],
    filter: &Filter,
    discovery: &mut Discovery,
) -> Vec<(WorkspaceId, &'a Scope)> {
    let mut workspaces: Vec<(WorkspaceId, &Scope)> = Vec::new();
    for (scope, result) in workspace_lists {
        let list = match result {
            Ok(list) => list,
            // Among all visible subscriptions, one we cannot read is skipped (a named one failed earlier).
            Err(e) => {
                let (subscription, error) = (scope.subscription.clone(), e.to_string());
                discovery.failed.push(Failed::Subscription { subscription, error });
                continue;
            }
        };
        for ws in list {
            if let Some(wanted) = &filter.workspace
                && !ws.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(wanted))
            {
                continue;
            }
            match ws.id.as_deref().and_then(|id| id.parse::<WorkspaceId>().ok()) {
                Some(id) => workspaces.push((id, scope)),
                None => discovery.warnings.push(format!("skipped a workspace with an unusable ID: {:?}", ws.id)),
            }
        }
    }
    // By path, as text: the order results and notes have always come in.
    workspaces.sort_by_key(|(id, _)| id.to_string());
    workspaces.dedup_by(|a, b| a.0 == b.0);
    workspaces
}

/// `GET .../computes` of every workspace, in parallel.
async fn list_computes<'a>(
    workspaces: &'a [(WorkspaceId, &'a Scope)],
    deadline: &Deadline,
) -> Vec<(&'a WorkspaceId, &'a Scope, Result<Vec<ComputeResource>, ArmError>)> {
    stream::iter(workspaces.iter().map(|(workspace, scope)| async move {
        let what = format!("the computes of workspace {}", workspace.workspace);
        let path = workspace.computes_path();
        let result = scope.arm.list::<ComputeResource>(&path, API_VERSION, &what, deadline).await;
        (workspace, *scope, result)
    }))
    .buffer_unordered(CONCURRENCY)
    .collect::<Vec<_>>()
    .await
}

/// Which instances of one workspace's computes are found: compute instances with a usable ID (and, with
/// `mine_only`, the signed-in user's); what is skipped for another reason than not being wanted is a warning.
fn add_wanted_instances(
    discovery: &mut Discovery,
    filter: &Filter,
    workspace: &WorkspaceId,
    scope: &Scope,
    computes: Vec<ComputeResource>,
) -> Result<(), DiscoverError> {
    // A guest has a different object ID in every tenant: "mine" is judged with this tenant's token.
    let me = match filter.mine_only {
        true => Some(scope.arm.signed_in_object_id().ok_or(DiscoverError::NoObjectId)?),
        false => None,
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
                "skipped a compute instance in workspace {} whose name cannot be used safely: {:?}",
                workspace.workspace,
                compute.name.as_deref().unwrap_or("?")
            ));
            continue;
        };
        if me.as_deref().is_some_and(|me| !instance.belongs_to(me)) {
            continue;
        }
        discovery.found.push(Found { admin_user: instance.admin_user, state: instance.state, id });
    }
    Ok(())
}

/// `GET .../workspaces` of one subscription (in one resource group, when the filter names one).
async fn list_workspaces(
    arm: &ArmClient,
    sub: &str,
    filter: &Filter,
    deadline: &Deadline,
) -> Result<Vec<Workspace>, ArmError> {
    let path = WorkspaceScope { subscription: sub, resource_group: filter.resource_group.as_deref() }.list_path();
    arm.list::<Workspace>(&path, API_VERSION, &format!("the workspaces of subscription {sub}"), deadline).await
}

/// Every usable subscription of every tenant the account can see, each tenant asked with its own token and in
/// parallel. A tenant whose token cannot be had is a warning naming the fix; the default tenant failing is an
/// error.
async fn every_subscription(session: &Session, discovery: &mut Discovery) -> Result<Vec<Scope>, DiscoverError> {
    let home = session.client(None).await?;
    let home_tenant = home.tenant();
    let tenants = which_tenants(&home, &mut discovery.warnings, session.deadline()).await;
    let lists = subscriptions_of_tenants(session, &home, tenants).await;

    let mut scopes: Vec<Scope> = Vec::new();
    for (tenant, name, result) in lists {
        match result {
            Ok((arm, list)) => {
                let usable = list.into_iter().filter(|s| usable(s.state.as_deref()));
                for sub in usable.filter(|s| resource_id::check_subscription(&s.subscription_id).is_ok()) {
                    if !scopes.iter().any(|s| s.subscription.eq_ignore_ascii_case(&sub.subscription_id)) {
                        scopes.push(Scope { subscription: sub.subscription_id, arm: arm.clone() });
                    }
                }
            }
            Err((e, _)) if tenant.is_none() || tenant == home_tenant => return Err(e.into()),
            Err((e, listing)) => {
                let id = tenant.map(|t| t.to_string()).unwrap_or_default();
                let label = if name.is_empty() { id } else { format!("{name} ({id})") };
                match listing {
                    true => discovery.failed.push(Failed::Tenant { tenant: label, error: e.to_string() }),
                    false => discovery.warnings.push(format!("skipped tenant {label}: {e}")),
                }
            }
        }
    }
    scopes.sort_by(|a, b| a.subscription.cmp(&b.subscription));
    Ok(scopes)
}

/// Which tenants to search: every one the account can see, or only the default one when they cannot be listed
/// (a warning says so); a tenant with an unusable ID is a warning.
async fn which_tenants(home: &ArmClient, warnings: &mut Vec<String>, deadline: &Deadline) -> Vec<TenantToSearch> {
    match home.list::<Tenant>("/tenants", TENANTS_API_VERSION, "the list of tenants", deadline).await {
        Ok(list) => list
            .into_iter()
            .filter_map(|t| {
                let name = t.display_name.or(t.default_domain).unwrap_or_default();
                match t.tenant_id.parse::<TenantId>() {
                    Ok(id) => Some((Some(id), name)),
                    Err(e) => {
                        warnings.push(format!("skipped a tenant: {e}"));
                        None
                    }
                }
            })
            .collect(),
        Err(e) => {
            warnings.push(format!("cannot list your tenants ({e}); searching only the default one"));
            vec![(None, String::new())]
        }
    }
}

/// The subscriptions of every tenant, each listed with a token of that tenant, in parallel.
async fn subscriptions_of_tenants(
    session: &Session,
    home: &Arc<ArmClient>,
    tenants: Vec<TenantToSearch>,
) -> Vec<TenantSubscriptions> {
    let home_tenant = home.tenant();
    stream::iter(tenants.into_iter().map(|(tenant, name)| {
        let (home, home_tenant) = (home.clone(), home_tenant.clone());
        async move {
            // The home tenant's client exists already; reuse it rather than signing in twice.
            let arm = match &tenant {
                Some(t) if Some(t) != home_tenant.as_ref() => session.client(Some(t)).await,
                _ => Ok(home),
            };
            // Signing in to another tenant can fail for reasons of that tenant (MFA, conditional access): that
            // is a note. Failing to list is a failure: its subscriptions' hosts are unknown.
            let subscriptions = match arm {
                Ok(arm) => arm
                    .list::<Subscription>(
                        "/subscriptions",
                        TENANTS_API_VERSION,
                        "the list of subscriptions",
                        session.deadline(),
                    )
                    .await
                    .map(|list| (arm, list))
                    .map_err(|e| (SessionError::from(e), true)),
                Err(e) => Err((e, false)),
            };
            (tenant, name, subscriptions)
        }
    }))
    .buffer_unordered(CONCURRENCY)
    .collect::<Vec<_>>()
    .await
}

/// The subscriptions named on the command line, with their workspaces, each listed with the client of its tenant
/// (ARM names the right tenant when the default one is wrong). A named subscription must work: its failure is
/// the command's.
async fn named_subscriptions(session: &Session, filter: &Filter) -> Result<Vec<WorkspaceList>, DiscoverError> {
    let mut lists = Vec::new();
    for sub in &filter.subscriptions {
        let deadline = session.deadline();
        let (arm, list) =
            session.call(None, |arm| async move { list_workspaces(&arm, sub, filter, deadline).await }).await?;
        lists.push((Scope { subscription: sub.clone(), arm }, Ok(list)));
    }
    Ok(lists)
}
