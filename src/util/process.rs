//! Child processes that never open a window of their own.
//!
//! On Windows a console program started by a process without a console (our GUI-subsystem twin
//! `azml-sshw.exe`, or any program started by a VS Code fork that runs ssh.exe without one) gets a new, visible
//! console window, and closing that window kills it. Every helper program azml-ssh runs in the background (`cmd /C
//! az …`, `azd`, doctor's `ssh -V` and `ssh -G`, `ssh-keygen`) is started with `CREATE_NO_WINDOW` instead: its
//! stdio is pipes either way, so it loses nothing. Elsewhere this is a plain `Command`.

use std::ffi::OsStr;
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A `Command` for a background helper program: no console window on Windows.
pub(crate) fn background(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    imp::no_window(&mut command);
    command
}

/// What a bounded run gave: the exit status and the first bytes of each output.
#[derive(Debug)]
pub(crate) struct Output {
    /// How the program ended.
    pub status: ExitStatus,
    /// At most the run's byte limit of its standard output.
    pub stdout: Vec<u8>,
    /// At most the run's byte limit of its standard error.
    pub stderr: Vec<u8>,
}

/// Why a bounded run gave no output.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    /// The program could not be started (not found, not executable).
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program as it was named.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The program (or whatever kept its output open) was still running at the limit; it was killed.
    #[error("{program} did not finish within {} s", limit.as_secs())]
    TimedOut {
        /// The program as it was named.
        program: String,
        /// The limit it was given.
        limit: Duration,
    },
}

/// How often a bounded run looks whether its program has ended: short against the limits, long against a
/// context switch.
const POLL: Duration = Duration::from_millis(5);

/// Runs `command` as a background helper with no input, keeping at most `max_bytes` of each output, and kills it
/// when it is still running after `limit`: a program that hangs or floods its output costs the caller neither
/// its time nor its memory.
pub(crate) fn run_bounded(mut command: Command, limit: Duration, max_bytes: usize) -> Result<Output, RunError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let deadline = Instant::now() + limit;
    let timed_out = |program: String| RunError::TimedOut { program, limit };
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|source| RunError::Spawn { program: program.clone(), source })?;
    let stdout = child.stdout.take().map(|pipe| keep_first(pipe, max_bytes));
    let stderr = child.stderr.take().map(|pipe| keep_first(pipe, max_bytes));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
            // Past the limit, or the child cannot even be waited for: either way it must not outlive the run.
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(timed_out(program));
            }
        }
    };
    // A grandchild may still hold the pipes open after the program itself ended: the readers get until the
    // deadline, then are left to end when the pipe does.
    let collect = |reader: Option<mpsc::Receiver<Vec<u8>>>| match reader {
        Some(reader) => reader.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok(),
        None => Some(Vec::new()),
    };
    match (collect(stdout), collect(stderr)) {
        (Some(stdout), Some(stderr)) => Ok(Output { status, stdout, stderr }),
        _ => Err(timed_out(program)),
    }
}

/// Reads `pipe` to its end on a thread, keeping the first `max_bytes` and discarding the rest (so the writer
/// never blocks on a full pipe), and sends what it kept when the pipe ends.
fn keep_first(pipe: impl Read + Send + 'static, max_bytes: usize) -> mpsc::Receiver<Vec<u8>> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let mut pipe = pipe;
        let mut kept = Vec::new();
        let _ = pipe.by_ref().take(max_bytes as u64).read_to_end(&mut kept);
        let _ = std::io::copy(&mut pipe, &mut std::io::sink());
        let _ = send.send(kept);
    });
    receive
}

#[cfg(windows)]
mod imp {
    use std::os::windows::process::CommandExt;

    /// `CREATE_NO_WINDOW` from the process creation flags (winbase.h).
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;

    pub(super) fn no_window(command: &mut std::process::Command) {
        command.creation_flags(CREATE_NO_WINDOW);
    }
}

#[cfg(not(windows))]
mod imp {
    pub(super) fn no_window(_: &mut std::process::Command) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_cut_at_the_limit_and_the_program_still_ends() {
        let mut command = background("sh");
        command.args(["-c", "head -c 3000000 /dev/zero; echo done >&2"]);
        let out = run_bounded(command, Duration::from_secs(20), 1000).unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), 1000);
        assert_eq!(out.stderr, b"done\n");
    }

    #[test]
    fn a_program_that_hangs_is_killed_at_the_limit() {
        let mut command = background("sh");
        command.args(["-c", "exec sleep 600"]);
        let started = Instant::now();
        let error = run_bounded(command, Duration::from_millis(300), 1000).unwrap_err();
        assert!(matches!(error, RunError::TimedOut { .. }), "{error}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let missing = run_bounded(background("/nonexistent/program"), Duration::from_secs(1), 10).unwrap_err();
        assert!(matches!(missing, RunError::Spawn { .. }), "{missing}");
    }
}
