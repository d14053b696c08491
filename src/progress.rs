//! What the user sees while an instance starts: one line per state change with the elapsed time, and a live
//! spinner only when stderr is a terminal. ssh passes our stderr through to the terminal and VS Code shows it in
//! its Remote-SSH log, so plain lines are the right form everywhere else.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

pub struct Progress {
    name: String,
    started: Instant,
    terminal: bool,
    last_state: Option<String>,
    /// A spinner line is on screen and must be finished before the next line.
    spinning: bool,
    frame: usize,
    hinted: bool,
}

/// `m:ss`, as people read elapsed times.
pub fn clock(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    format!("{}:{:02}", secs / 60, secs % 60)
}

impl Progress {
    pub fn new(name: &str) -> Self {
        Progress {
            name: name.to_owned(),
            started: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            last_state: None,
            spinning: false,
            frame: 0,
            hinted: false,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// A line of its own, ending any spinner first.
    pub fn line(&mut self, text: &str) {
        let mut err = std::io::stderr().lock();
        if self.spinning {
            let _ = write!(err, "\r\x1b[2K");
            self.spinning = false;
        }
        let _ = writeln!(err, "azml-ssh: {text}");
    }

    /// Reports `state` if it changed since the last call.
    pub fn state(&mut self, state: &str) {
        if self.last_state.as_deref() == Some(state) {
            return;
        }
        self.last_state = Some(state.to_owned());
        let text = format!("{} is {state} ({})", self.name, clock(self.elapsed()));
        self.line(&text);
    }

    /// Redraws the spinner (terminal only); called while waiting.
    pub fn tick(&mut self) {
        if !self.terminal {
            return;
        }
        self.frame = (self.frame + 1) % SPINNER.len();
        let state = self.last_state.as_deref().unwrap_or("waiting");
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2Kazml-ssh: {} is {state} {} {}",
            self.name,
            SPINNER[self.frame],
            clock(self.elapsed())
        );
        let _ = err.flush();
        self.spinning = true;
    }

    /// VS Code's Remote-SSH gives up after `remote.SSH.connectTimeout` (15 s by default, passed to ssh as
    /// `-o ConnectTimeout`), far shorter than a start. We cannot read ssh's timeout, so we say it once.
    pub fn hint_connect_timeout(&mut self) {
        if !self.hinted {
            self.hinted = true;
            self.line(
                "starting takes minutes: in VS Code set \"remote.SSH.connectTimeout\": 600 so it does not give up meanwhile",
            );
        }
    }

    pub fn finish(&mut self) {
        if self.spinning {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            self.spinning = false;
        }
    }
}
