//! What the user sees while an instance starts or stops: one line per state change with the elapsed time, and a
//! live spinner only when stderr is a terminal. ssh passes a ProxyCommand's stderr through to the terminal and
//! VS Code shows it in its Remote-SSH log, so plain lines are the right form everywhere else.

use std::io::Write;

use crate::azure::compute::Instance;
use crate::azure::lifecycle::Progress;
use crate::util::text::clock;

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// Renders [`Progress`] events of one instance to `err`.
pub(crate) struct Renderer<W: Write> {
    name: String,
    err: W,
    terminal: bool,
    /// Say once that a start takes longer than VS Code waits by default (connections and `start --wait`).
    hint_connect_timeout: bool,
    /// The last state shown, as shown.
    last_state: Option<String>,
    /// A spinner line is on screen and must be cleared before the next line.
    spinning: bool,
    frame: usize,
    hinted: bool,
}

impl<W: Write> Renderer<W> {
    pub fn new(name: &str, err: W, terminal: bool, hint_connect_timeout: bool) -> Self {
        Renderer {
            name: name.to_owned(),
            err,
            terminal,
            hint_connect_timeout,
            last_state: None,
            spinning: false,
            frame: 0,
            hinted: false,
        }
    }

    pub(crate) fn report(&mut self, event: Progress<'_>) {
        match event {
            Progress::Starting { instance } => {
                let why = why_stopped(&self.name, instance);
                self.line(&format!("{why}; starting it"));
                self.hint();
            }
            Progress::State { state, elapsed } => {
                self.state(&state.to_string(), elapsed);
                self.hint();
            }
            Progress::Waiting { state, elapsed } => self.state(state, elapsed),
            Progress::Tick { elapsed } => self.tick(elapsed),
            Progress::Ready { state, elapsed } => {
                self.line(&format!("{} is {state} after {}; connecting", self.name, clock(elapsed)))
            }
            Progress::WaitOver { elapsed } => {
                self.line(&format!("{} is ready after {}; connecting", self.name, clock(elapsed)))
            }
            Progress::Done => self.clear_spinner(),
        }
    }

    /// A line when the state differs from the last one shown.
    fn state(&mut self, state: &str, elapsed: std::time::Duration) {
        if self.last_state.as_deref() != Some(state) {
            self.last_state = Some(state.to_owned());
            self.line(&format!("{} is {state} ({})", self.name, clock(elapsed)));
        }
    }

    /// A line of its own about something else than the state (a transport fallback, say).
    pub(crate) fn note(&mut self, text: &str) {
        self.line(text);
    }

    /// A line of its own, ending any spinner first. Errors writing to stderr are ignored: there is nowhere else
    /// to report them.
    fn line(&mut self, text: &str) {
        self.clear_spinner();
        let _ = writeln!(self.err, "azml-ssh: {}", crate::util::text::visible(text));
    }

    fn clear_spinner(&mut self) {
        if self.spinning {
            let _ = write!(self.err, "\r\x1b[2K");
            let _ = self.err.flush();
            self.spinning = false;
        }
    }

    fn tick(&mut self, elapsed: std::time::Duration) {
        if !self.terminal {
            return;
        }
        self.frame = (self.frame + 1) % SPINNER.len();
        let state = self.last_state.as_deref().unwrap_or("waiting");
        let text = crate::util::text::visible(&format!("{} is {state}", self.name));
        let _ = write!(self.err, "\r\x1b[2Kazml-ssh: {text} {} {}", SPINNER[self.frame], clock(elapsed));
        let _ = self.err.flush();
        self.spinning = true;
    }

    /// VS Code's Remote-SSH gives up after `remote.SSH.connectTimeout` (15 s by default, passed to ssh as
    /// `-o ConnectTimeout`), far shorter than a start. We cannot read ssh's timeout, so we say it once.
    fn hint(&mut self) {
        if self.hint_connect_timeout && !self.hinted {
            self.hinted = true;
            self.line(
                "starting takes minutes: in VS Code set \"remote.SSH.connectTimeout\": 600 so it does not give up meanwhile",
            );
        }
    }
}

/// "ci1 was stopped by idle shutdown at 14:02 UTC" when ARM says so, else "ci1 is stopped".
fn why_stopped(name: &str, instance: &Instance) -> String {
    let idle = instance.last_operation.as_ref().filter(|op| op.by_idle_shutdown());
    let at = idle
        .and_then(|op| op.time.as_deref())
        .and_then(|t| t.split_once('T'))
        .map(|(_, time)| time.get(..5).unwrap_or(time));
    match (idle, at) {
        (Some(_), Some(at)) => format!("{name} was stopped by idle shutdown at {at} UTC"),
        (Some(_), None) => format!("{name} was stopped by idle shutdown"),
        _ => format!("{name} is stopped"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::compute::ComputeState;
    use std::time::Duration;

    fn instance(last_operation: serde_json::Value) -> Instance {
        let doc = serde_json::json!({"properties": {"computeType": "ComputeInstance",
            "properties": {"state": "Stopped", "lastOperation": last_operation}}});
        serde_json::from_value::<crate::azure::compute::ComputeResource>(doc).unwrap().instance().unwrap()
    }

    #[test]
    fn lines_say_why_and_show_changes_only() {
        let mut out = Vec::new();
        let mut r = Renderer::new("ci1", &mut out, false, true);
        let stopped = instance(
            serde_json::json!({"operationName": "Stop", "operationTrigger": "IdleShutdown", "operationTime": "2026-11-26T14:02:31Z"}),
        );
        r.report(Progress::Starting { instance: &stopped });
        for secs in [1, 2] {
            r.report(Progress::State { state: &ComputeState::Starting, elapsed: Duration::from_secs(secs) });
            r.report(Progress::Tick { elapsed: Duration::from_secs(secs) });
        }
        r.report(Progress::Ready { state: &ComputeState::Running, elapsed: Duration::from_secs(75) });
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "azml-ssh: ci1 was stopped by idle shutdown at 14:02 UTC; starting it");
        assert!(lines[1].contains("remote.SSH.connectTimeout"));
        assert_eq!(lines[2], "azml-ssh: ci1 is Starting (0:01)");
        assert_eq!(lines[3], "azml-ssh: ci1 is Running after 1:15; connecting");
        assert_eq!(lines.len(), 4, "no spinner off a terminal: {text:?}");
    }

    #[test]
    fn a_user_stop_is_not_called_idle_shutdown() {
        let stopped = instance(serde_json::json!({"operationName": "Stop", "operationTrigger": "User"}));
        assert_eq!(why_stopped("ci1", &stopped), "ci1 is stopped");
    }
}
