//! Waking a stopped instance: one start request however many connections find it stopped, then waiting —
//! with progress on stderr — until it runs.
//!
//! Single flight works across processes (VS Code, scp and a terminal each run their own proxy): the start is sent
//! under an advisory lock in the cache directory, and a marker records that it was sent, because ARM may keep
//! reporting "Stopped" for a few seconds after accepting a start. The kernel releases the lock of a process that
//! dies, so a crashed proxy never blocks the next one.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::arm::{ArmClient, ArmError, Verb};
use crate::compute::{ComputeResource, ComputeState, StateClass};
use crate::progress::Progress;
use crate::resource_id::ComputeId;
use crate::{cache, fsutil};

/// A start marker younger than this means "already requested": ARM reports the new state within seconds.
const MARKER_TTL: Duration = Duration::from_secs(120);
/// The lock is held only for a GET and a POST; waiting longer than this means something is wrong with the holder.
const LOCK_WAIT: Duration = Duration::from_secs(45);
const FIRST_POLL: Duration = Duration::from_secs(1);
const MAX_POLL: Duration = Duration::from_secs(5);
const TICK: Duration = Duration::from_millis(120);

#[derive(Clone, Debug)]
pub struct StartOptions {
    /// Send a start when the instance is stopped (`--no-start` turns it off).
    pub allow_start: bool,
    /// How long to wait for Running, all told.
    pub timeout: Duration,
    /// Where the single-flight lock and marker live; `None` disables single flight.
    pub cache_root: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Arm(#[from] ArmError),
    #[error(
        "{name} is still {state} after {waited} (--start-timeout); it may need more time: look at it in Azure ML studio, or connect again later"
    )]
    Timeout { name: String, state: String, waited: String },
}

fn state_of(doc: &ComputeResource) -> Option<ComputeState> {
    let instance = doc.instance().ok()?;
    Some(ComputeState::parse(instance.state.as_deref().unwrap_or("Unknown")))
}

/// "ci1 was stopped by idle shutdown at 14:02 UTC" when ARM says so, else "ci1 is Stopped".
fn why_stopped(name: &str, doc: &ComputeResource) -> String {
    let last = doc.instance().ok().and_then(|i| i.last_operation).unwrap_or_default();
    let idle = last.operation_trigger.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("IdleShutdown"));
    let at =
        last.operation_time.as_deref().and_then(|t| t.split_once('T')).map(|(_, time)| time.get(..5).unwrap_or(time));
    match (idle, at) {
        (true, Some(at)) => format!("{name} was stopped by idle shutdown at {at} UTC"),
        (true, None) => format!("{name} was stopped by idle shutdown"),
        _ => format!("{name} is stopped"),
    }
}

/// Returns the compute document once it is connectable — or as it is when waiting cannot help (a hopeless state,
/// or a stopped instance with starting disallowed); the caller turns that into the precise error.
pub async fn ensure_running(
    arm: &ArmClient,
    id: &ComputeId,
    mut doc: ComputeResource,
    options: &StartOptions,
) -> Result<ComputeResource, LifecycleError> {
    let flight = options.cache_root.as_deref().map(|root| Flight::new(root, id));
    let mut progress = Progress::new(&id.compute);
    let mut pause = Pause::new();
    let mut waited = false;
    loop {
        let Some(state) = state_of(&doc) else { return Ok(doc) };
        match (state.class(), &state) {
            (StateClass::Connectable, _) => {
                if let Some(flight) = &flight {
                    flight.clear();
                }
                if waited {
                    progress.line(&format!(
                        "{} is {state} after {}; connecting",
                        id.compute,
                        crate::progress::clock(progress.elapsed())
                    ));
                }
                return Ok(doc);
            }
            (StateClass::Hopeless, _) => return Ok(doc),
            (StateClass::Stopped, ComputeState::Stopped) if options.allow_start => {
                progress.line(&format!("{}; starting it", why_stopped(&id.compute, &doc)));
                progress.hint_connect_timeout();
                start_once(arm, id, flight.as_ref()).await?;
            }
            (StateClass::Stopped, _) if !options.allow_start => return Ok(doc),
            _ => {
                progress.state(&state.to_string());
                if !waited {
                    progress.hint_connect_timeout();
                }
            }
        }
        waited = true;
        if progress.elapsed() >= options.timeout {
            progress.finish();
            return Err(LifecycleError::Timeout {
                name: id.compute.clone(),
                state: state.to_string(),
                waited: crate::progress::clock(progress.elapsed()),
            });
        }
        pause.wait(&mut progress, options.timeout).await;
        doc = arm.get_compute(id).await?;
    }
}

/// The pause between two polls of the state: short at first (a start that was already nearly done), then longer
/// so a ten-minute wait costs ARM little. The spinner turns meanwhile.
pub struct Pause {
    next: Duration,
}

impl Pause {
    pub fn new() -> Self {
        Pause { next: FIRST_POLL }
    }

    /// Waits one pause, never past `limit` measured on `progress`'s clock.
    pub async fn wait(&mut self, progress: &mut Progress, limit: Duration) {
        let pause = self.next.min(limit.saturating_sub(progress.elapsed()));
        let until = Instant::now() + pause;
        while Instant::now() < until {
            progress.tick();
            tokio::time::sleep(TICK.min(until - Instant::now())).await;
        }
        self.next = (self.next * 3 / 2).min(MAX_POLL);
    }
}

impl Default for Pause {
    fn default() -> Self {
        Self::new()
    }
}

/// `azml-ssh start` without waiting: sends the start if the instance is stopped (sharing the single flight with
/// connecting proxies) and says what happened.
pub async fn request_start(
    arm: &ArmClient,
    id: &ComputeId,
    doc: ComputeResource,
    options: &StartOptions,
) -> Result<String, ArmError> {
    let flight = options.cache_root.as_deref().map(|root| Flight::new(root, id));
    Ok(match state_of(&doc) {
        Some(ComputeState::Stopped) => {
            start_once(arm, id, flight.as_ref()).await?;
            format!("Start requested for {}; `azml-ssh status {}` shows its progress.", id.compute, id.compute)
        }
        Some(state) if state.class() == StateClass::Connectable => format!("{} is already {state}.", id.compute),
        Some(state) => format!("{} is {state}; not starting it now.", id.compute),
        None => format!("{}: its state is not readable.", id.compute),
    })
}

/// Sends the start unless another process already has: under the lock, a fresh marker or a state that is no
/// longer Stopped means someone else did.
async fn start_once(arm: &ArmClient, id: &ComputeId, flight: Option<&Flight>) -> Result<(), ArmError> {
    let _lock = match flight {
        Some(flight) => flight.lock().await,
        None => None,
    };
    if flight.is_some_and(Flight::recently_started) {
        tracing::debug!("another azml-ssh already started {}", id.compute);
        return Ok(());
    }
    let current = arm.get_compute(id).await?;
    if state_of(&current) != Some(ComputeState::Stopped) {
        return Ok(());
    }
    match arm.compute_action(id, Verb::Start).await {
        Ok(()) => {}
        // Someone else's start (the studio, the CLI) is already under way: waiting is all there is to do.
        Err(ArmError::Conflict { .. }) => tracing::debug!("start already in progress"),
        Err(e) => return Err(e),
    }
    if let Some(flight) = flight {
        flight.mark_started();
    }
    Ok(())
}

/// The single-flight files of one compute.
struct Flight {
    dir: PathBuf,
    lock: PathBuf,
    marker: PathBuf,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Flight {
    fn new(root: &Path, id: &ComputeId) -> Self {
        let dir = root.join("starts");
        let key = cache::key_hash(id);
        Flight { lock: dir.join(format!("{key}.lock")), marker: dir.join(format!("{key}.started")), dir }
    }

    /// Takes the lock, waiting at most `LOCK_WAIT`; without it (an unwritable cache, a wedged holder) we go on
    /// alone rather than fail the connection.
    async fn lock(&self) -> Option<File> {
        if let Err(e) = fsutil::private_dir(&self.dir) {
            tracing::warn!("no single-flight lock ({e}); starting without it");
            return None;
        }
        let file = match File::options().read(true).write(true).create(true).truncate(false).open(&self.lock) {
            Ok(file) => file,
            Err(e) => {
                tracing::warn!("no single-flight lock ({e}); starting without it");
                return None;
            }
        };
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => return Some(file),
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => {
                    tracing::warn!("no single-flight lock ({e}); starting without it");
                    return None;
                }
            }
        }
    }

    fn recently_started(&self) -> bool {
        std::fs::read_to_string(&self.marker)
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .is_some_and(|at| now_secs().saturating_sub(at) < MARKER_TTL.as_secs())
    }

    fn mark_started(&self) {
        if let Err(e) = fsutil::write_atomic(&self.marker, now_secs().to_string().as_bytes(), 0o600) {
            tracing::warn!("could not record the start: {e}");
        }
    }

    fn clear(&self) {
        let _ = std::fs::remove_file(&self.marker);
    }
}
