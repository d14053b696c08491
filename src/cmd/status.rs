//! `azml-ssh status`, `start` and `stop`: an instance's state, why it is in it, and how it is reached — for one
//! host (by alias or resource ID) or every configured one.

use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;

use crate::azure::arm::Verb;
use crate::azure::compute::{ComputeResource, ComputeState};
use crate::azure::lifecycle::{self, StartOptions, StartOutcome};
use crate::azure::schedule::{self, Schedule};
use crate::azure::session::{AzureOptions, Session, SessionError};
use crate::cmd::json::IdleJson;
use crate::cmd::progress::Renderer;
use crate::cmd::{Console, Error, Kind, UsageError, block_on, block_on_within, target};
use crate::connect::cache::EndpointCache;
use crate::connect::endpoint;
use crate::sshconf::store::{self, Layout, Target};
use crate::util::deadline::{Budget, Limit};
use crate::util::state::StateDir;
use crate::util::text;

/// How many instances `status` looks up at once.
const LOOKUPS_AT_ONCE: usize = 8;

/// `ALIAS|RESOURCE_ID|NAME.SUFFIX`, looked up in azml-ssh's include file (see [`target::target`]).
fn find(text: &str, azure: &AzureOptions) -> Result<Target, Error> {
    target::target(&Layout::new(None)?, text, azure)
}

/// The instance's last start or stop, as stable names (`stop`, `succeeded`, `idle_shutdown`) and a UTC time.
#[derive(Debug, Serialize)]
pub(crate) struct LastOperation {
    pub name: Option<String>,
    pub status: Option<String>,
    pub trigger: Option<String>,
    /// RFC 3339, UTC.
    pub time: Option<String>,
}

impl From<&crate::azure::compute::Operation> for LastOperation {
    fn from(last: &crate::azure::compute::Operation) -> Self {
        LastOperation {
            name: last.name.as_deref().map(text::stable_name),
            status: last.status.as_deref().map(text::stable_name),
            trigger: last.trigger.as_ref().map(trigger_name),
            time: last.time.as_deref().and_then(crate::util::time::rfc3339_utc),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct AssignedTo {
    pub object_id: Option<String>,
    pub tenant_id: Option<String>,
}

/// Why an operation ran, as a stable name: `user`, `schedule`, `idle_shutdown`, or another trigger's own name.
fn trigger_name(trigger: &crate::azure::compute::Trigger) -> String {
    use crate::azure::compute::Trigger;
    match trigger {
        Trigger::User => "user".into(),
        Trigger::Schedule => "schedule".into(),
        Trigger::IdleShutdown => "idle_shutdown".into(),
        Trigger::Other(text) => text::stable_name(text),
    }
}

/// The earliest next run of an enabled schedule.
#[derive(Debug, Serialize)]
pub(crate) struct NextSchedule {
    /// "start" or "stop".
    pub action: &'static str,
    /// RFC 3339, UTC.
    pub at: String,
    /// The schedule's time zone (IANA).
    pub time_zone: String,
    /// Seconds from now.
    pub in_seconds: i64,
    /// For people: "18:00 (UTC+01:00, in 2 h 10 min)".
    pub text: String,
}

/// A compute's resource ID and its parts, as `status --json` shows them.
#[derive(Debug, Serialize)]
pub(crate) struct ComputeNames {
    pub resource_id: String,
    pub name: String,
    pub workspace: String,
    pub resource_group: String,
    pub subscription: String,
}

impl ComputeNames {
    fn of(id: &crate::azure::resource_id::ComputeId) -> Self {
        ComputeNames {
            resource_id: id.to_string(),
            name: id.compute.clone(),
            workspace: id.workspace.clone(),
            resource_group: id.resource_group.clone(),
            subscription: id.subscription.clone(),
        }
    }
}

/// One host's status, as printed by `status --json`.
#[derive(Debug, Serialize)]
pub(crate) struct Status {
    /// The host's alias in azml-ssh's file; `None` when asked by resource ID for an instance with no host.
    pub alias: Option<String>,
    /// Which compute: its ARM resource ID and the parts of it (flattened: the JSON has them at the top level).
    #[serde(flatten)]
    pub compute: ComputeNames,
    /// ARM's state as a stable name (`running`, `stopped`, `setting_up`, …).
    pub state: Option<String>,
    /// Why it is stopped (`idle_shutdown`, `user`, `schedule`), when the last operation was a stop.
    pub stopped_by: Option<String>,
    pub last_operation: Option<LastOperation>,
    /// `ip:port` (direct) or `gateway-host:port` (tunnel) when the instance can be reached now.
    pub endpoint: Option<String>,
    /// How a connection goes (or, while stopped, will go once running): "direct" or "tunnel"; `null` when the
    /// lookup failed.
    pub transport: Option<&'static str>,
    /// Whether the instance has public SSH (a direct connection is possible).
    pub ssh_public_access: bool,
    /// The instance's admin user, the default login.
    pub admin_user: Option<String>,
    /// Who the instance is assigned to, when Azure says.
    pub assigned_to: Option<AssignedTo>,
    /// Azure's own reasons for a failure (`provisioningErrors`, `errors`), one line each.
    pub azure_errors: Vec<String>,
    /// Idle shutdown: on (after how long), off, or unreadable.
    pub idle_shutdown: Option<IdleJson>,
    /// Each start/stop schedule, including those not understood.
    pub schedules: Vec<ScheduleJson>,
    /// The earliest next run of an enabled schedule.
    pub next_schedule: Option<NextSchedule>,
    /// Set instead of the fields above when the lookup failed.
    pub error: Option<String>,
    /// What the table shows, in words.
    #[serde(skip)]
    pub shown: Shown,
}

/// The table's words for what the JSON gives as values.
#[derive(Debug, Default)]
pub(crate) struct Shown {
    /// ARM's state as ARM spells it.
    pub state: Option<String>,
    /// "idle shutdown", "user".
    pub stopped_by: Option<String>,
    /// "after 30 min", "off", "not understood: …".
    pub idle_shutdown: Option<String>,
}

/// One start/stop schedule, for scripts.
#[derive(Debug, Serialize)]
pub(crate) struct ScheduleJson {
    /// `start` or `stop`; `null` for one azml-ssh cannot read.
    pub action: Option<&'static str>,
    pub enabled: Option<bool>,
    /// Whether azml-ssh can compute its runs.
    pub understood: bool,
    /// IANA name.
    pub time_zone: Option<&'static str>,
    /// In words, for people.
    pub text: String,
}

impl From<&Schedule> for ScheduleJson {
    fn from(schedule: &Schedule) -> Self {
        let text = schedule.to_string();
        match schedule {
            Schedule::Known(plan) => ScheduleJson {
                action: Some(plan.action.word()),
                enabled: Some(plan.enabled),
                understood: true,
                time_zone: Some(plan.time_zone()),
                text,
            },
            Schedule::NotUnderstood { .. } => {
                ScheduleJson { action: None, enabled: None, understood: false, time_zone: None, text }
            }
        }
    }
}

/// What `status --json` prints: every host asked about (one when one was named).
#[derive(Debug, Serialize)]
struct StatusJson<'a> {
    instances: &'a [Status],
}

fn next_schedule(schedules: &[Schedule], now: jiff::Timestamp) -> Option<NextSchedule> {
    let run = schedule::next_run(schedules, now, None)?;
    Some(NextSchedule {
        action: run.action.word(),
        at: run.at.timestamp().to_string(),
        time_zone: run.at.time_zone().iana_name().unwrap_or_default().to_owned(),
        in_seconds: run.at.timestamp().as_second() - now.as_second(),
        text: schedule::when(&run.at, now),
    })
}

fn status_of(target: &Target, compute: Result<ComputeResource, SessionError>, now: jiff::Timestamp) -> Status {
    let id = &target.id;
    let mut status = Status {
        alias: target.alias.clone(),
        compute: ComputeNames::of(id),
        state: None,
        stopped_by: None,
        last_operation: None,
        endpoint: None,
        transport: None,
        ssh_public_access: false,
        admin_user: None,
        assigned_to: None,
        azure_errors: Vec::new(),
        idle_shutdown: None,
        schedules: Vec::new(),
        next_schedule: None,
        error: None,
        shown: Shown::default(),
    };
    let instance =
        match compute.map_err(|e| e.to_string()).and_then(|c| endpoint::instance_of(id, &c).map_err(|e| e.to_string()))
        {
            Ok(instance) => instance,
            Err(e) => {
                status.error = Some(e);
                return status;
            }
        };
    status.ssh_public_access = instance.ssh_access == crate::azure::compute::SshAccess::Enabled;
    status.admin_user = instance.admin_user.clone();
    status.state = Some(text::stable_name(instance.state.name()));
    status.shown.state = Some(instance.state.name().to_owned());
    status.azure_errors = instance.errors.clone();
    status.idle_shutdown = Some(IdleJson::from(&instance.idle_shutdown));
    status.shown.idle_shutdown = Some(instance.idle_shutdown.to_string());
    status.schedules = instance.schedules.iter().map(ScheduleJson::from).collect();
    status.next_schedule = next_schedule(&instance.schedules, now);
    if let Some(last) = &instance.last_operation {
        let stopped = matches!(instance.state, ComputeState::Stopped | ComputeState::Stopping);
        if stopped && last.is_stop() {
            status.shown.stopped_by = last.trigger.as_ref().map(|t| t.words());
            status.stopped_by = last.trigger.as_ref().map(trigger_name);
        }
        status.last_operation = Some(LastOperation::from(last));
    }
    status.assigned_to = instance
        .assigned_user
        .as_ref()
        .map(|u| AssignedTo { object_id: u.object_id.clone(), tenant_id: u.tenant_id.clone() });
    // What a connection with `--transport auto` would use now; while stopped, what it will use once running.
    match endpoint::choose(id, &instance, endpoint::Transport::Auto) {
        Ok(endpoint) => {
            status.transport = Some(endpoint.transport().name());
            status.endpoint = Some(endpoint.to_string());
        }
        Err(_) => status.transport = Some(endpoint::expected_transport(&instance).name()),
    }
    status
}

/// `azml-ssh status [TARGET]`.
pub fn status(target_text: Option<&str>, azure: &AzureOptions, json: bool, console: &mut Console) -> Result<(), Error> {
    if let Some(text) = target_text
        && let Some((node, _)) = target::job_node(&Layout::new(None)?, text, azure)?
    {
        return crate::cmd::jobs::status(&node, text, azure, json, console);
    }
    let targets = match target_text {
        Some(text) => vec![find(text, azure)?],
        None => store::all_targets(&Layout::new(None)?)?,
    };
    if targets.is_empty() {
        return Err(UsageError::NoHosts.into());
    }
    let session = Session::new(azure, azure.deadline())?;
    let cache = EndpointCache::open_default();
    let now = jiff::Timestamp::now();
    // Within the one budget: a slow or failing instance shows as its own row's error.
    let statuses = block_on_within(session.deadline(), "looking up the instances", async {
        let lookups = targets.iter().map(|target| {
            let tenant = cache.as_ref().and_then(|c| c.tenant(&target.id));
            let session = &session;
            async move {
                let compute = session.get_compute(&target.id, tenant.as_ref()).await.map(|(_, compute)| compute);
                status_of(target, compute, now)
            }
        });
        // A few at a time, in order: enough to hide latency, too few for ARM to throttle a long host list.
        Ok(futures_util::stream::iter(lookups).buffered(LOOKUPS_AT_ONCE).collect::<Vec<_>>().await)
    })?;

    if json {
        console.say_versioned(&StatusJson { instances: &statuses })?;
    } else {
        print_table(&statuses, console)?;
    }
    match statuses.iter().filter(|s| s.error.is_some()).count() {
        0 => Ok(()),
        failed => Err(Kind::LookupsFailed { failed, total: statuses.len() }.into()),
    }
}

fn print_table(statuses: &[Status], console: &mut Console) -> Result<(), Error> {
    const HEADINGS: [&str; 7] = ["HOST", "STATE", "TRANSPORT", "ENDPOINT", "IDLE SHUTDOWN", "NEXT SCHEDULE", "NOTE"];
    let mut rows = vec![HEADINGS.map(String::from)];
    for s in statuses {
        let host = s.alias.clone().unwrap_or_else(|| s.compute.name.clone());
        let mut notes: Vec<String> = match (&s.error, &s.shown.stopped_by, s.azure_errors.as_slice()) {
            (Some(e), _, _) => vec![e.clone()],
            (None, _, [_, ..]) => vec![format!("Azure says: {}", s.azure_errors.join("; "))],
            (None, Some(by), []) => vec![format!("stopped by {by}")],
            _ => Vec::new(),
        };
        notes.extend(s.schedules.iter().filter(|s| !s.understood).map(|s| s.text.clone()));
        let next = s.next_schedule.as_ref().map(|n| format!("{} {}", n.action, n.text));
        let dash = || "-".to_owned();
        rows.push(
            [
                host,
                s.shown.state.clone().unwrap_or_else(|| "?".into()),
                s.transport.unwrap_or("none").to_owned(),
                s.endpoint.clone().unwrap_or_else(dash),
                s.shown.idle_shutdown.clone().unwrap_or_else(dash),
                next.unwrap_or_else(dash),
                notes.join("; "),
            ]
            // Escaped before the widths are measured: most cells are ARM's text.
            .map(|cell| text::visible(&cell)),
        );
    }
    let widths: Vec<usize> =
        (0..HEADINGS.len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:w$}")).collect();
        console.say(cells.join("  ").trim_end())?;
    }
    Ok(())
}

/// What `start` and `stop` are asked: which instance, and whether (and how long) to wait for the change.
#[derive(Clone, Debug)]
pub struct StateChange {
    /// A configured host alias or a compute resource ID.
    pub target: String,
    /// Wait until the change is done, at most this long; `None`: send the request and return.
    pub wait: Option<Duration>,
}

/// `azml-ssh start`: one start request (shared with any connecting proxies), and with `wait`, until Running.
pub fn start(change: &StateChange, azure: &AzureOptions, console: &mut Console) -> Result<(), Error> {
    let Target { id, .. } = find(&change.target, azure)?;
    let wait = change.wait;
    let wait = wait.map(|duration| Limit { duration, budget: Budget::Wait });
    let options = StartOptions {
        allow_start: true,
        wait: wait.unwrap_or(Limit { duration: Duration::ZERO, budget: Budget::Wait }),
        state: StateDir::open_default(),
    };
    let session = Session::new(azure, azure.deadline())?;
    let tenant = EndpointCache::open_default().and_then(|c| c.tenant(&id));
    // A lookup and a start request within --timeout; the wait, if asked for, has its own budget.
    let message = block_on(async {
        let (arm, compute) = session.get_compute(&id, tenant.as_ref()).await?;
        let instance = endpoint::instance_of(&id, &compute)?;
        if wait.is_none() {
            let requested = lifecycle::request_start(&arm, &id, &instance, &options, session.deadline()).await?;
            return Ok::<_, Error>(match requested {
                StartOutcome::Requested => {
                    format!("Start requested for {}; `azml-ssh status {}` shows its progress.", id.compute, id.compute)
                }
                StartOutcome::AlreadyRunning(state) => format!("{} is already {state}.", id.compute),
                StartOutcome::NotStartable(state) => format!("{} is {state}; not starting it now.", id.compute),
            });
        }
        let mut renderer = Renderer::new(&id.compute, &mut *console.err, console.err_is_terminal, true);
        let instance = lifecycle::ensure_running(&arm, &id, instance, &options, &mut |p| renderer.report(p)).await?;
        // A hopeless state comes back as it is: say why it will not run.
        endpoint::check_state(&id, &instance)?;
        Ok(format!("{} is running.", id.compute))
    })??;
    console.say(message)
}

/// `azml-ssh stop`: one stop request, and with `wait`, until Stopped.
pub fn stop(change: &StateChange, azure: &AzureOptions, console: &mut Console) -> Result<(), Error> {
    let Target { id, .. } = find(&change.target, azure)?;
    let wait = change.wait;
    let session = Session::new(azure, azure.deadline())?;
    let cache = EndpointCache::open_default();
    let tenant = cache.as_ref().and_then(|c| c.tenant(&id));
    // A lookup and a stop request within --timeout; the wait, if asked for, has its own budget.
    let message = block_on(async {
        let (arm, compute) = session.get_compute(&id, tenant.as_ref()).await?;
        match endpoint::instance_of(&id, &compute)?.state {
            ComputeState::Stopped => return Ok::<_, Error>(format!("{} is already stopped.", id.compute)),
            ComputeState::Stopping => {}
            _ => arm.compute_action(&id, Verb::Stop, session.deadline()).await?,
        }
        if let Some(cache) = &cache {
            cache.forget(&id);
        }
        match wait {
            None => Ok(format!("Stop requested for {}.", id.compute)),
            Some(duration) => {
                let mut renderer = Renderer::new(&id.compute, &mut *console.err, console.err_is_terminal, false);
                let wait = Limit { duration, budget: Budget::Wait };
                lifecycle::wait_for_stopped(&arm, &id, wait, &mut |p| renderer.report(p)).await?;
                Ok(format!("{} is stopped.", id.compute))
            }
        }
    })??;
    console.say(message)
}
