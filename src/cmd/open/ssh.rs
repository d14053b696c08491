//! The user's own ssh, run by `jupyter`, `forward` and `doctor --remote`: the command line they start it with,
//! and reading what it prints, bounded.

use std::io::Read;
use std::path::Path;

use crate::cmd::Error;
use crate::cmd::open::plan::OpenError;

/// Bounds for what a command run over ssh (`jupyter ... list`, `doctor --remote`'s check-up) may print.
pub(crate) const MAX_LIST_BYTES: u64 = 1 << 20;

/// `ssh [-F FILE] ARGS...`, with the user's own ssh, so the ProxyCommand and key are theirs.
pub(crate) fn ssh(ssh_config: Option<&Path>) -> std::process::Command {
    let mut command = std::process::Command::new("ssh");
    if let Some(config) = ssh_config {
        command.arg("-F").arg(config);
    }
    command.args(["-o", "BatchMode=yes"]);
    command
}

/// The exit status, stdout and stderr of `child`, each output capped.
pub(crate) fn read_bounded(
    mut child: std::process::Child,
) -> Result<(std::process::ExitStatus, String, String), Error> {
    let spawn = |source| OpenError::Spawn { what: "ssh".into(), source };
    let mut stdout = String::new();
    let mut stderr = String::new();
    let err_pipe = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(pipe) = err_pipe {
            let _ = pipe.take(MAX_LIST_BYTES).read_to_string(&mut text);
        }
        text
    });
    if let Some(pipe) = child.stdout.take() {
        let _ = pipe.take(MAX_LIST_BYTES).read_to_string(&mut stdout);
    }
    let status = child.wait().map_err(spawn)?;
    stderr.push_str(&err_reader.join().unwrap_or_default());
    Ok((status, stdout, stderr))
}
