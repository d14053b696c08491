//! Diagnostics go to stderr only (stdout is the SSH stream) and are quiet by default: ssh shows a ProxyCommand's
//! stderr in the user's terminal and VS Code's log, where only real problems belong. `--log-file` adds a file that
//! also gets the debug lines and every error, for setups where that stderr is hard to find. It is created private
//! to the user: the lines name instances, subscriptions and accounts.

use std::path::Path;

use tracing::Level;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

pub(crate) const LOG_ENV: &str = "AZML_SSH_LOG";
/// Target of events meant for the log file only (the error line already printed on stderr).
const FILE_ONLY: &str = "azmlsshfile";

/// The log file could not be opened; logging goes on without it.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the log file {path}: {source}; choose a writable path for --log-file (or AZML_SSH_LOG_FILE)")]
pub struct LogFileError {
    path: String,
    source: std::io::Error,
}

/// `-v` → debug, `-vv` → trace for azml-ssh; `-vvv` also shows the HTTP and identity libraries. `AZML_SSH_LOG`
/// (error, warn, info, debug, trace) sets azml-ssh's level when no `-v` is given. Logging to stderr is set up
/// even when the log file cannot be opened; the error says why the file is missing.
pub fn init(verbosity: u8, log_file: Option<&Path>) -> Result<(), LogFileError> {
    let from_env = std::env::var(LOG_ENV).ok().and_then(|v| v.trim().parse::<Level>().ok());
    let ours = match verbosity {
        0 => from_env.unwrap_or(Level::WARN),
        1 => Level::DEBUG,
        _ => Level::TRACE,
    };
    let theirs = if verbosity >= 3 { Level::DEBUG } else { Level::WARN };
    let stderr_filter =
        Targets::new().with_target("azml_ssh", ours).with_target(FILE_ONLY, LevelFilter::OFF).with_default(theirs);
    let stderr_is_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let stderr_layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(stderr_is_terminal)
        .with_target(false)
        .with_filter(stderr_filter);

    let (file, file_error) = match log_file.map(|path| (path, crate::util::fs::open_private_append(path))) {
        None => (None, None),
        Some((_, Ok(file))) => (Some(file), None),
        Some((path, Err(source))) => (None, Some(LogFileError { path: path.display().to_string(), source })),
    };
    let file_layer = file.map(|file| {
        let level = ours.max(Level::DEBUG);
        tracing_subscriber::fmt::layer()
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .with_target(false)
            .with_filter(
                Targets::new().with_target("azml_ssh", level).with_target(FILE_ONLY, Level::ERROR).with_default(theirs),
            )
    });
    tracing_subscriber::registry().with(stderr_layer).with(file_layer).init();
    file_error.map_or(Ok(()), Err)
}

/// Records the error line the user saw on stderr in the log file too (a no-op without `--log-file`).
pub fn record_error(message: &str) {
    tracing::error!(target: "azmlsshfile", "{message}");
}
