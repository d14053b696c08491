//! `azml-ssh doctor --remote ALIAS`: runs the read-only check-up of [`remote_report`] on the instance over
//! the user's own ssh, and shows its findings as `doctor` shows its checks.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::cmd::doctor::remote_report::{self, Finding, Severity, VSCODE_UPDATE_URL, VSCODE_UPDATE_URL_ENV};
use crate::cmd::doctor::report::{Check, Verdict, render};
use crate::cmd::open::plan::OpenError;
use crate::cmd::open::ssh::{MAX_LIST_BYTES, ssh};
use crate::cmd::{Console, Error, Outcome, block_on};
use crate::sshconf::store::{self, Layout};
use crate::util::vscode;

/// The check reads a few files and asks one server (itself bounded at 10 s); a shell that takes longer is stuck.
const CHECKUP_LIMIT: Duration = Duration::from_secs(45);

/// What ssh gave back: its exit status (`None` when the check was cut off: at [`CHECKUP_LIMIT`], or when an
/// output reached [`MAX_LIST_BYTES`]), stdout, stderr; each output decoded lossily.
type Ran = (Option<std::process::ExitStatus>, String, String);

/// An output reached [`MAX_LIST_BYTES`]: the check is cut off there.
struct Full;

/// `azml-ssh doctor --remote ALIAS`: fails when a finding would break VS Code's server.
pub fn doctor_remote(
    alias: &str,
    ssh_config: Option<&Path>,
    json: bool,
    console: &mut Console,
) -> Result<Outcome, Error> {
    let layout = Layout::new(ssh_config)?;
    store::find_host(&layout, alias)?;
    let url = std::env::var(VSCODE_UPDATE_URL_ENV).unwrap_or_else(|_| VSCODE_UPDATE_URL.to_owned());
    let script = remote_report::script(&url)?;
    let (status, stdout, stderr) = block_on(run(alias, ssh_config, &script))??;
    if status.is_some_and(|s| s.code() == Some(255)) {
        let reason = crate::util::text::one_line_max(&stderr, 300);
        return Err(OpenError::CheckupFailed { alias: alias.to_owned(), reason }.into());
    }
    let local = vscode::read_settings(&vscode::settings_candidates(&layout.home)).and_then(|(_, settings)| {
        settings.get("remote.SSH.localServerDownload").and_then(|v| v.as_str()).map(str::to_owned)
    });
    let checks: Vec<Check> = remote_report::findings(alias, &remote_report::parse(&stdout), local.as_deref())
        .into_iter()
        .map(|f| check(alias, f))
        .collect();
    render(&checks, json, console)?;
    Ok(if checks.iter().all(|c| c.verdict != Verdict::Fail) { Outcome::Success } else { Outcome::ChecksFailed })
}

fn check(alias: &str, finding: Finding) -> Check {
    let verdict = match finding.severity {
        Severity::Pass => Verdict::Pass,
        Severity::Warn => Verdict::Warn,
        Severity::Fail => Verdict::Fail,
    };
    Check { item: format!("{alias}: {}", finding.item), verdict, detail: finding.detail, fix: finding.fix }
}

/// `ssh [-F FILE] ALIAS sh -s` with `script` on its stdin, within [`CHECKUP_LIMIT`]; each output capped, and ssh
/// killed as soon as either reaches the cap.
async fn run(alias: &str, ssh_config: Option<&Path>, script: &str) -> Result<Ran, OpenError> {
    let spawn = |source| OpenError::Spawn { what: "ssh".into(), source };
    let mut command = tokio::process::Command::from(ssh(ssh_config));
    command.args([alias, "sh", "-s"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.kill_on_drop(true).spawn().map_err(spawn)?;
    let (Some(mut input), Some(output), Some(errors)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(spawn(std::io::Error::other("no pipes to ssh")));
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let work = async {
        // A shell that never reads its input must not hold the write: it fails, and the output says why.
        let _ = input.write_all(script.as_bytes()).await;
        drop(input);
        // Either output reaching the cap ends the check: a session that never stops printing would otherwise
        // keep ssh, and the run, going until the limit.
        match tokio::try_join!(read_capped(output, &mut stdout), read_capped(errors, &mut stderr)) {
            Ok(_) => child.wait().await.map(Some),
            Err(Full) => Ok(None),
        }
    };
    let status = match tokio::time::timeout(CHECKUP_LIMIT, work).await {
        Ok(status) => status.map_err(spawn)?,
        Err(_) => None,
    };
    if status.is_none() {
        // Ending ssh closes the session, and with it the remote command's output.
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    // Bytes that are not UTF-8 (a Latin-1 greeting, a file name) cost only themselves, not the whole report.
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    Ok((status, text(&stdout), text(&stderr)))
}

/// Reads `pipe` into `kept` until it ends (a read error ends it too), or until `kept` holds [`MAX_LIST_BYTES`].
async fn read_capped(pipe: impl AsyncRead + Unpin, kept: &mut Vec<u8>) -> Result<(), Full> {
    let _ = pipe.take(MAX_LIST_BYTES).read_to_end(kept).await;
    if kept.len() as u64 >= MAX_LIST_BYTES { Err(Full) } else { Ok(()) }
}
