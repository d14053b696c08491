//! Time budgets. A `Deadline` is made once, from the option that sets it (`--timeout`, `--start-timeout`,
//! `--wait-timeout`), when the wait it bounds begins; it is passed down, and each step asks it what is left rather
//! than bringing a limit of its own. Running out is one error, `TimedOut`, whoever notices it: it says what was
//! being waited for, the limit and its option, and what was going wrong meanwhile.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

/// The option a budget comes from: the error names it, so the user knows what to raise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// `--timeout`: talking to Azure (sign-in and ARM, retries included) for one command or one connection.
    Azure,
    /// `--start-timeout`: waiting for an instance to start.
    Start,
    /// `--wait-timeout`: `start --wait` / `stop --wait`.
    Wait,
    /// A bound of the protocol, not an option: a tunnel handshake, an SSH greeting, a port forward coming up.
    Builtin,
}

impl Budget {
    /// The command-line option that sets this budget, if one does.
    pub fn option(self) -> Option<&'static str> {
        match self {
            Budget::Azure => Some("--timeout"),
            Budget::Start => Some("--start-timeout"),
            Budget::Wait => Some("--wait-timeout"),
            Budget::Builtin => None,
        }
    }
}

/// A budget not yet begun: how long, and which option set it. `Limit::begin` starts it when its wait does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// How long.
    pub duration: Duration,
    /// The option that says so, for the error.
    pub budget: Budget,
}

impl Limit {
    /// Starts the budget now.
    pub(crate) fn begin(self) -> Deadline {
        Deadline::after(self.duration, self.budget)
    }
}

/// When a budget runs out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    started: Instant,
    end: Instant,
    limit: Duration,
    budget: Budget,
}

impl Deadline {
    /// A deadline `limit` from now. A limit too far off to represent is as good as none (durations are capped at
    /// 30 days where they are parsed, so this is only a guard).
    pub fn after(limit: Duration, budget: Budget) -> Self {
        let started = Instant::now();
        let far = Duration::from_secs(30 * 86_400);
        let end = started.checked_add(limit).or_else(|| started.checked_add(far)).unwrap_or(started);
        Deadline { started, end, limit, budget }
    }

    /// What is left of the budget (zero once it is spent).
    pub(crate) fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// Whether the budget is spent.
    pub(crate) fn is_past(&self) -> bool {
        Instant::now() >= self.end
    }

    /// How long ago the budget began.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Whether waiting `pause` from now would still end within the budget.
    pub(crate) fn allows(&self, pause: Duration) -> bool {
        Instant::now().checked_add(pause).is_some_and(|then| then < self.end)
    }

    /// The error for this budget running out while `what` was under way.
    pub(crate) fn timed_out(&self, what: impl Into<String>) -> TimedOut {
        TimedOut { what: what.into(), limit: self.limit, budget: self.budget, behind: None }
    }

    /// Runs `future` until it ends or the budget is spent; then `what` names it in the error.
    pub async fn run<T>(&self, what: impl Into<String>, future: impl Future<Output = T>) -> Result<T, TimedOut> {
        match tokio::time::timeout_at(self.end.into(), future).await {
            Ok(value) => Ok(value),
            Err(_) => Err(self.timed_out(what)),
        }
    }

    /// Like [`Deadline::run`], but with a moment's grace: a safety net around work that bounds itself by this same
    /// deadline, so the work's own, more precise error arrives first.
    pub async fn net<T>(&self, what: impl Into<String>, future: impl Future<Output = T>) -> Result<T, TimedOut> {
        const GRACE: Duration = Duration::from_secs(1);
        let end = self.end.checked_add(GRACE).unwrap_or(self.end);
        match tokio::time::timeout_at(end.into(), future).await {
            Ok(value) => Ok(value),
            Err(_) => Err(self.timed_out(what)),
        }
    }
}

/// A budget ran out. The one timeout error of the program: every layer wraps this rather than wording its own.
#[derive(Debug, thiserror::Error)]
pub(crate) struct TimedOut {
    what: String,
    limit: Duration,
    budget: Budget,
    behind: Option<Behind>,
}

/// What the user learns beyond "it took too long".
#[derive(Debug)]
enum Behind {
    /// The failure that made the last retry necessary.
    LastFailure(String),
    /// Where things stood, and what to do.
    Note(String),
}

impl TimedOut {
    /// `what` took longer than `limit`, a bound that needs no deadline of its own (a single wait, timed where it
    /// happens).
    pub fn new(what: impl Into<String>, limit: Duration, budget: Budget) -> Self {
        TimedOut { what: what.into(), limit, budget, behind: None }
    }

    /// Adds the failure behind the last retry, if any: "timed out" alone hides a throttling or failing server.
    pub(crate) fn after_failure(mut self, failure: Option<String>) -> Self {
        if let Some(failure) = failure {
            self.behind = Some(Behind::LastFailure(failure));
        }
        self
    }

    /// Adds where things stood when the budget ran out, and what to do about it.
    pub(crate) fn with_note(mut self, note: impl Into<String>) -> Self {
        self.behind = Some(Behind::Note(note.into()));
        self
    }
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} took longer than {}", self.what, seconds(self.limit))?;
        if let Some(option) = self.budget.option() {
            write!(f, " ({option})")?;
        }
        match &self.behind {
            None => Ok(()),
            Some(Behind::LastFailure(failure)) => write!(f, "; the last try failed: {failure}"),
            Some(Behind::Note(note)) => write!(f, "; {note}"),
        }
    }
}

/// "20 s", "1.5 s": whole seconds unless the limit is shorter than a few.
fn seconds(limit: Duration) -> String {
    match limit.subsec_millis() {
        0 => format!("{} s", limit.as_secs()),
        _ => format!("{:.1} s", limit.as_secs_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_names_the_wait_the_limit_the_option_and_what_went_wrong() {
        let deadline = Deadline::after(Duration::from_secs(20), Budget::Azure);
        assert_eq!(
            deadline.timed_out("reading compute ci1").to_string(),
            "reading compute ci1 took longer than 20 s (--timeout)"
        );
        let failed = deadline.timed_out("reading compute ci1").after_failure(Some("HTTP 503".into()));
        assert_eq!(
            failed.to_string(),
            "reading compute ci1 took longer than 20 s (--timeout); the last try failed: HTTP 503"
        );
        let start = Deadline::after(Duration::from_millis(1500), Budget::Start);
        let note = start.timed_out("waiting for ci1 to start").with_note("it is still Starting");
        assert_eq!(
            note.to_string(),
            "waiting for ci1 to start took longer than 1.5 s (--start-timeout); it is still Starting"
        );
        assert_eq!(note.budget, Budget::Start);
        let builtin = TimedOut::new("the tunnel handshake", Duration::from_secs(20), Budget::Builtin);
        assert_eq!(builtin.to_string(), "the tunnel handshake took longer than 20 s", "no option to name");
    }

    #[test]
    fn what_is_left_shrinks_and_never_goes_below_zero() {
        let deadline = Deadline::after(Duration::from_secs(3600), Budget::Wait);
        assert!(deadline.remaining() <= Duration::from_secs(3600) && deadline.remaining() > Duration::from_secs(3500));
        assert!(!deadline.is_past() && deadline.allows(Duration::from_secs(60)) && !deadline.allows(Duration::MAX));
        let spent = Deadline::after(Duration::ZERO, Budget::Azure);
        assert_eq!(spent.remaining(), Duration::ZERO);
        assert!(spent.is_past() && !spent.allows(Duration::ZERO));
        let huge = Deadline::after(Duration::MAX, Budget::Azure);
        assert!(!huge.is_past(), "an unrepresentable limit is far off, not already past");
    }

    #[test]
    fn run_gives_the_answer_in_time_and_the_error_after() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async {
            let deadline = Deadline::after(Duration::from_secs(60), Budget::Azure);
            assert_eq!(deadline.run("x", async { 7 }).await.unwrap(), 7);
            let spent = Deadline::after(Duration::ZERO, Budget::Start);
            let error = spent.run("waiting", std::future::pending::<()>()).await.unwrap_err();
            assert_eq!(error.budget, Budget::Start);
        });
    }
}
