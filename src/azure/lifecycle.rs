//! Waking a stopped instance: one start request however many connections find it stopped, then waiting —
//! with progress on stderr — until it runs.
//!
//! Single flight works across processes (VS Code, scp and a terminal each run their own proxy): the start is sent
//! under an advisory lock in the cache directory, and a marker records that it was sent, because ARM may keep
//! reporting "Stopped" for a few seconds after accepting a start. The kernel releases the lock of a process that
//! dies, so a crashed proxy never blocks the next one.

use std::fs::File;

use std::time::{Duration, Instant};

use crate::azure::arm::{ArmClient, ArmError, Verb};
use crate::azure::compute::{ComputeState, Instance, InstanceError, StateClass};
use crate::azure::resource_id::ComputeId;
use crate::util::deadline::{Deadline, Limit, TimedOut};
use crate::util::state::StateDir;
use crate::util::time::unix_now;

/// A start marker younger than this means "already requested": ARM reports the new state within seconds.
const MARKER_TTL: Duration = Duration::from_secs(120);
/// The lock is held only for a GET and a POST; waiting longer than this means something is wrong with the holder.
const LOCK_WAIT: Duration = Duration::from_secs(45);
const FIRST_POLL: Duration = Duration::from_secs(1);
const MAX_POLL: Duration = Duration::from_secs(5);
/// How often a waiting loop reports [`Progress::Tick`], so a spinner can turn.
const TICK: Duration = Duration::from_millis(120);

/// Whether and how long to bring a stopped instance up before connecting.
#[derive(Clone, Debug)]
pub struct StartOptions {
    /// Send a start when the instance is stopped (`--no-start` turns it off).
    pub allow_start: bool,
    /// How long to wait for Running, all told (the start request included), and the option that says so.
    pub wait: Limit,
    /// Where the single-flight lock and marker live; `None` disables single flight.
    pub state: Option<StateDir>,
}

/// What happens while an instance is brought up, for whoever shows it to the user. Library code never prints;
/// the command layer renders these (lines, a spinner on a terminal).
#[derive(Debug)]
pub(crate) enum Progress<'a> {
    /// The instance is stopped and a start is being requested.
    Starting { instance: &'a Instance },
    /// The state seen at a poll (reported at every poll; renderers show changes).
    State { state: &'a ComputeState, elapsed: Duration },
    /// Still waiting between polls.
    Tick { elapsed: Duration },
    /// Connectable after a wait.
    Ready { state: &'a ComputeState, elapsed: Duration },
    /// Something other than an instance (a job, its SSH service) is in `state`, seen at a poll.
    Waiting { state: &'a str, elapsed: Duration },
    /// What was waited for is ready after a wait.
    WaitOver { elapsed: Duration },
    /// The wait is over, whatever its outcome.
    Done,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum LifecycleError {
    #[error(transparent)]
    Arm(#[from] ArmError),
    #[error("the compute document for {name} {source}")]
    Instance { name: String, source: InstanceError },
    #[error(transparent)]
    TimedOut(#[from] TimedOut),
    #[error("Azure could not start {name} ({operation}{reasons}); look at it in Azure ML studio, or try `azml-ssh start {name} --wait` later",
        reasons = if reasons.is_empty() { String::new() } else { format!(": {}", reasons.join("; ")) })]
    StartFailed { name: String, operation: String, reasons: Vec<String> },
}

async fn get_instance(arm: &ArmClient, id: &ComputeId, deadline: &Deadline) -> Result<Instance, LifecycleError> {
    let compute = arm.get_compute(id, deadline).await?;
    compute.instance().map_err(|source| LifecycleError::Instance { name: id.compute.clone(), source })
}

/// Returns the instance once it is connectable — or as it is when waiting cannot help (a hopeless state, or a
/// stopped instance with starting disallowed); the caller turns that into the precise error.
pub(crate) async fn ensure_running(
    arm: &ArmClient,
    id: &ComputeId,
    mut instance: Instance,
    options: &StartOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Instance, LifecycleError> {
    let flight = options.state.as_ref().map(|state| Flight::new(state, id));
    let deadline = options.wait.begin();
    let mut pause = Pause::new();
    let mut waited = false;
    // The operation ARM reported before we waited: a failed start newer than it ends the wait at once (the
    // instance falls back to Stopped, or sits there, and would never run).
    let before = instance.last_operation.clone();
    loop {
        if let Some(op) = instance.last_operation.as_ref().filter(|op| waited && Some(*op) != before.as_ref())
            && op.start_failed()
        {
            progress(Progress::Done);
            let operation = op.status.clone().unwrap_or_default();
            return Err(LifecycleError::StartFailed { name: id.compute.clone(), operation, reasons: instance.errors });
        }
        let state = &instance.state;
        match (state.class(), state) {
            (StateClass::Connectable, _) => {
                if let Some(flight) = &flight {
                    flight.clear();
                }
                if waited {
                    progress(Progress::Ready { state, elapsed: deadline.elapsed() });
                    progress(Progress::Done);
                }
                return Ok(instance);
            }
            (StateClass::Hopeless, _) => return Ok(instance),
            (StateClass::Stopped, ComputeState::Stopped) if options.allow_start => {
                progress(Progress::Starting { instance: &instance });
                start_once(arm, id, flight.as_ref(), &deadline).await?;
            }
            (StateClass::Stopped, _) if !options.allow_start => return Ok(instance),
            _ => progress(Progress::State { state, elapsed: deadline.elapsed() }),
        }
        waited = true;
        if deadline.is_past() {
            progress(Progress::Done);
            let note = format!(
                "it is still {}; it may need more time: look at it in Azure ML studio, or connect again later",
                instance.state
            );
            return Err(deadline.timed_out(format!("waiting for {} to start", id.compute)).with_note(note).into());
        }
        pause.wait(&deadline, progress).await;
        instance = get_instance(arm, id, &deadline).await?;
    }
}

/// `azml-ssh stop --wait`: polls until the instance is Stopped, or the `wait` budget is spent.
pub(crate) async fn wait_for_stopped(
    arm: &ArmClient,
    id: &ComputeId,
    wait: Limit,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(), LifecycleError> {
    let deadline = wait.begin();
    let mut pause = Pause::new();
    loop {
        let instance = get_instance(arm, id, &deadline).await?;
        if instance.state == ComputeState::Stopped {
            progress(Progress::Done);
            return Ok(());
        }
        progress(Progress::State { state: &instance.state, elapsed: deadline.elapsed() });
        if deadline.is_past() {
            progress(Progress::Done);
            let note = format!("it is still {}", instance.state);
            return Err(deadline.timed_out(format!("waiting for {} to stop", id.compute)).with_note(note).into());
        }
        pause.wait(&deadline, progress).await;
    }
}

/// The pause between two polls of the state: short at first (a start that was already nearly done), then longer
/// so a ten-minute wait costs ARM little.
struct Pause {
    next: Duration,
}

impl Pause {
    fn new() -> Self {
        Pause { next: FIRST_POLL }
    }

    /// Waits one pause, never past the deadline, ticking meanwhile.
    async fn wait(&mut self, deadline: &Deadline, progress: &mut dyn FnMut(Progress<'_>)) {
        let pause = self.next.min(deadline.remaining());
        let until = Instant::now() + pause;
        while Instant::now() < until {
            progress(Progress::Tick { elapsed: deadline.elapsed() });
            tokio::time::sleep(TICK.min(until - Instant::now())).await;
        }
        self.next = (self.next * 3 / 2).min(MAX_POLL);
    }
}

/// What `azml-ssh start` without `--wait` did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StartOutcome {
    Requested,
    AlreadyRunning(ComputeState),
    /// In a state where a start makes no sense now (starting already, stopping, failed).
    NotStartable(ComputeState),
}

/// `azml-ssh start` without waiting: sends the start if the instance is stopped (sharing the single flight with
/// connecting proxies), within the command's `deadline`.
pub(crate) async fn request_start(
    arm: &ArmClient,
    id: &ComputeId,
    instance: &Instance,
    options: &StartOptions,
    deadline: &Deadline,
) -> Result<StartOutcome, LifecycleError> {
    let flight = options.state.as_ref().map(|state| Flight::new(state, id));
    Ok(match &instance.state {
        ComputeState::Stopped => {
            start_once(arm, id, flight.as_ref(), deadline).await?;
            StartOutcome::Requested
        }
        state if state.class() == StateClass::Connectable => StartOutcome::AlreadyRunning(state.clone()),
        state => StartOutcome::NotStartable(state.clone()),
    })
}

/// Sends the start unless another process already has: under the lock, a fresh marker or a state that is no
/// longer Stopped means someone else did.
async fn start_once(
    arm: &ArmClient,
    id: &ComputeId,
    flight: Option<&Flight<'_>>,
    deadline: &Deadline,
) -> Result<(), LifecycleError> {
    let _lock = match flight {
        Some(flight) => flight.lock().await,
        None => None,
    };
    if flight.is_some_and(Flight::recently_started) {
        tracing::debug!("another azml-ssh already started {}", id.compute);
        return Ok(());
    }
    if get_instance(arm, id, deadline).await?.state != ComputeState::Stopped {
        return Ok(());
    }
    match arm.compute_action(id, Verb::Start, deadline).await {
        Ok(()) => {}
        // Someone else's start (the studio, the CLI) is already under way: waiting is all there is to do.
        Err(ArmError::Conflict { .. }) => tracing::debug!("start already in progress"),
        Err(e) => return Err(e.into()),
    }
    if let Some(flight) = flight {
        flight.mark_started();
    }
    Ok(())
}

/// The single-flight files of one compute.
struct Flight<'a> {
    state: &'a StateDir,
    key: String,
}

/// The folder of the start locks and markers, in the state folder.
const STARTS: &str = "starts";

impl<'a> Flight<'a> {
    fn new(state: &'a StateDir, id: &ComputeId) -> Self {
        Flight { state, key: id.key_hash() }
    }

    fn marker(&self) -> String {
        format!("{}.started", self.key)
    }

    /// Takes the lock, waiting at most `LOCK_WAIT`; without it (an unwritable cache, a wedged holder) we go on
    /// alone rather than fail the connection.
    async fn lock(&self) -> Option<File> {
        match self.state.lock(STARTS, &self.key, LOCK_WAIT).await {
            Ok((file, _)) => Some(file),
            Err(e) => {
                tracing::warn!("no single-flight lock ({e}); starting without it");
                None
            }
        }
    }

    /// Whether a start was sent lately, by a marker that this user wrote: a marker planted by someone else would
    /// otherwise hold every connection waiting for a start that never comes.
    fn recently_started(&self) -> bool {
        let Some(bytes) = self.state.read(STARTS, &self.marker(), 64, "the start marker") else { return false };
        let text = String::from_utf8_lossy(&bytes);
        text.trim().parse::<u64>().is_ok_and(|at| unix_now().saturating_sub(at) < MARKER_TTL.as_secs())
    }

    fn mark_started(&self) {
        self.state.write(STARTS, &self.marker(), unix_now().to_string().as_bytes());
    }

    fn clear(&self) {
        self.state.remove(STARTS, &self.marker());
    }
}
