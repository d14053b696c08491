//! Diagnostics go to stderr only (stdout is the SSH stream) and are quiet by default: ssh shows a ProxyCommand's
//! stderr in the user's terminal and VS Code's log, where only real problems belong.

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

pub const LOG_ENV: &str = "AZML_SSH_LOG";

/// `-v` → debug, `-vv` → trace for azml-ssh; `-vvv` also shows the HTTP and identity libraries. `AZML_SSH_LOG`
/// (error, warn, info, debug, trace) sets azml-ssh's level when no `-v` is given.
pub fn init(verbosity: u8) {
    let from_env = std::env::var(LOG_ENV).ok().and_then(|v| v.trim().parse::<Level>().ok());
    let ours = match verbosity {
        0 => from_env.unwrap_or(Level::WARN),
        1 => Level::DEBUG,
        _ => Level::TRACE,
    };
    let theirs = if verbosity >= 3 { Level::DEBUG } else { Level::WARN };
    let filter = Targets::new().with_target("azml_ssh", ours).with_default(theirs);
    let stderr_is_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(stderr_is_terminal)
                .with_target(false)
                .with_filter(filter),
        )
        .init();
}
