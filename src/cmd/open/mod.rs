//! `azml-ssh code`, `jupyter` and `forward`: one command to work on an instance. Each first makes sure the instance
//! runs — starting it with the proxy's single-flight start and progress lines, before VS Code or ssh is involved,
//! so no connect timeout matters — and leaves the endpoint cache warm for the connections that follow.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub mod plan;
pub(crate) mod ssh;

use crate::azure::lifecycle::{Progress, StartOptions};
use crate::azure::schedule::{self, Action, Schedule};
use crate::azure::session::AzureOptions;
use crate::cmd::open::plan::{
    BadFolderUri, Flavor, OpenError, PortSpec, Server, folder_uri, forward_pairs, local_port, local_url, parse_servers,
    pick, remote_path,
};
use crate::cmd::open::ssh::{read_bounded, ssh};
use crate::cmd::progress::Renderer;
use crate::cmd::target::Host;
use crate::cmd::{Console, Error, block_on, target};
use crate::connect::cache::EndpointCache;
use crate::connect::endpoint::Transport;
use crate::connect::job;
use crate::connect::resolve;
use crate::connect::target::Target;
use crate::sshconf::store::Layout;
use crate::util::deadline::{Budget, Limit, TimedOut};
use crate::util::interrupt::Interrupts;
use crate::util::state::StateDir;

/// How long the forward may take to come up (through the tunnel, a first connection can take seconds).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(60);
/// A forwarded connection still open and silent after this has reached a service that does not speak first.
const SILENT_BUT_OPEN: Duration = Duration::from_secs(5);
/// A scheduled stop this close is worth a line before the user settles in to work.
const STOP_WARNING_SECONDS: i64 = 3 * 3600;
/// Makes sure the instance runs (starting it if needed, with progress on the console) and leaves its endpoint in
/// the cache, so the editor's or ssh's connections that follow are warm.
/// A job's node is waited for instead (a job is never started).
fn ensure_running(host: &Host, azure: &AzureOptions, wait: Limit, console: &mut Console) -> Result<(), Error> {
    let cache = EndpointCache::open_default();
    let tenant = cache.as_ref().and_then(|c| c.tenant(&host.target));
    let start = StartOptions { allow_start: true, wait, state: StateDir::open_default() };
    let mut renderer = Renderer::new(&host.target.name(), &mut *console.err, console.err_is_terminal, false);
    let mut progress = |p: Progress<'_>| renderer.report(p);
    let tenant = tenant.as_ref();
    let resolved = match &host.target {
        Target::Instance(id) => block_on(resolve::resolve(id, azure, tenant, &start, Transport::Auto, &mut progress))??,
        Target::JobNode(node) => block_on(job::resolve(node, azure, tenant, wait, &mut progress))??,
    };
    if let Some(cache) = &cache {
        cache.store(&host.target, &resolved.endpoint, resolved.tenant.as_ref());
    }
    if let Some(line) = stop_soon(&host.target.name(), &resolved.schedules, jiff::Timestamp::now()) {
        console.tell(line);
    }
    Ok(())
}

/// "ci1 will be stopped by its schedule at 18:00 (UTC+01:00, in 2 h 10 min)" when an enabled schedule stops the
/// instance within `STOP_WARNING_SECONDS` of `now`.
fn stop_soon(name: &str, schedules: &[Schedule], now: jiff::Timestamp) -> Option<String> {
    let run = schedule::next_run(schedules, now, Some(Action::Stop))?;
    let soon = run.at.timestamp().as_second() - now.as_second() <= STOP_WARNING_SECONDS;
    soon.then(|| format!("{name} will be stopped by its schedule at {}", schedule::when(&run.at, now)))
}

/// Options of `azml-ssh code`.
#[derive(Clone, Debug)]
pub struct CodeOptions {
    /// A host configured by azml-ssh.
    pub alias: String,
    /// The folder to open; relative to the login user's home; `None`: the home itself.
    pub remote_path: Option<String>,
    /// A VS Code-compatible command: `code`, `code-insiders`, `cursor`, ...
    pub editor: String,
    /// The ssh config that includes azml-ssh's file (`--ssh-config`); `None`: `~/.ssh/config`.
    pub ssh_config: Option<PathBuf>,
    /// Print the editor's command line instead of running it.
    pub dry_run: bool,
    /// How long to wait for the instance to start.
    pub start_wait: Limit,
}

/// The editor's command line, one argument per item.
fn editor_command(options: &CodeOptions, user: &str) -> Result<Vec<String>, BadFolderUri> {
    let uri = folder_uri(&options.alias, &remote_path(user, options.remote_path.as_deref()))?;
    Ok(vec![options.editor.clone(), "--folder-uri".into(), uri])
}

/// `azml-ssh code ALIAS [REMOTE_PATH]`.
pub fn code(options: &CodeOptions, azure: &AzureOptions, console: &mut Console) -> Result<(), Error> {
    let layout = Layout::new(options.ssh_config.as_deref())?;
    let entry = target::host(&layout, &options.alias, azure)?;
    let command = editor_command(options, &entry.user).map_err(OpenError::from)?;
    if options.dry_run {
        let quoted: Vec<String> = command.iter().map(|a| shell_quote(a)).collect();
        return console.say(quoted.join(" "));
    }
    let editor =
        which::which(&options.editor).map_err(|_| OpenError::EditorMissing { editor: options.editor.clone() })?;
    ensure_running(&entry, azure, options.start_wait, console)?;
    let status = std::process::Command::new(&editor)
        .args(&command[1..])
        .status()
        .map_err(|source| OpenError::Spawn { what: options.editor.clone(), source })?;
    if !status.success() {
        return Err(OpenError::EditorFailed { editor: options.editor.clone(), status }.into());
    }
    Ok(())
}

/// Quotes for a POSIX shell, for `--dry-run`.
fn shell_quote(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=+@%,".contains(c)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Options of `azml-ssh jupyter`.
#[derive(Clone, Debug)]
pub struct JupyterOptions {
    /// A host configured by azml-ssh.
    pub alias: String,
    /// The local port to forward from; `None`: the remote one, or the next free one.
    pub local_port: Option<u16>,
    /// Also open the URL in the default browser.
    pub open: bool,
    /// The ssh config ssh runs with (`-F`); `None`: ssh's own default.
    pub ssh_config: Option<PathBuf>,
    /// How long to wait for the instance to start.
    pub start_wait: Limit,
}

/// Runs `jupyter <kind> list --json` on the instance.
fn list_servers(options: &JupyterOptions, kind: &str) -> Result<Vec<Server>, Error> {
    let alias = &options.alias;
    let child = ssh(options.ssh_config.as_deref())
        .args([alias.as_str(), "--", "jupyter", kind, "list", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| OpenError::Spawn { what: "ssh".into(), source })?;
    let output = read_bounded(child)?;
    if !output.0.success() {
        let reason = crate::util::text::one_line_max(&output.2, 300);
        // "command not found" and friends: this kind of Jupyter is not there.
        tracing::debug!(kind, reason, "jupyter list failed");
        if output.0.code() == Some(255) {
            return Err(OpenError::ListFailed { alias: alias.clone(), reason }.into());
        }
        return Ok(Vec::new());
    }
    Ok(parse_servers(&output.1))
}

/// `azml-ssh jupyter ALIAS`: forwards the instance's Jupyter to 127.0.0.1 until interrupted — a forward of one
/// port whose URL is Jupyter's own.
pub fn jupyter(options: &JupyterOptions, azure: &AzureOptions, console: &mut Console) -> Result<(), Error> {
    let layout = Layout::new(options.ssh_config.as_deref())?;
    let entry = target::host(&layout, &options.alias, azure)?;
    ensure_running(&entry, azure, options.start_wait, console)?;

    let (server, flavor) = match pick(list_servers(options, "server")?) {
        Some(server) => (server, Flavor::Server),
        None => match pick(list_servers(options, "notebook")?) {
            Some(server) => (server, Flavor::Classic),
            None => return Err(OpenError::NoJupyter { alias: options.alias.clone() }.into()),
        },
    };
    let local = local_port(options.local_port, server.port, &[], "--local-port")?;
    // Built (and checked) before anything runs: what the instance says must not steer the URL elsewhere.
    let url =
        local_url(local, &server, flavor).map_err(|why| OpenError::BadServer { alias: options.alias.clone(), why })?;
    let forwards = Forwards {
        alias: &options.alias,
        ssh_config: options.ssh_config.as_deref(),
        pairs: vec![(local, server.port)],
    };
    run_forwards(&forwards, console, |console| {
        console.say(&url)?;
        let _ = std::io::Write::flush(&mut console.out);
        console.note(format_args!(
            "Jupyter on {} is at that URL; in VS Code use \"Jupyter: Specify Jupyter Server for Connections\" → Existing and paste it. Ctrl-C ends the forward.",
            options.alias
        ));
        if options.open {
            open_browser(&url, console);
        }
        Ok(())
    })
}

/// Options of `azml-ssh forward`.
#[derive(Clone, Debug)]
pub struct ForwardOptions {
    /// A host configured by azml-ssh.
    pub alias: String,
    /// The ports to forward, each `PORT[:LOCAL_PORT]`.
    pub ports: Vec<PortSpec>,
    /// The ssh config ssh runs with (`-F`); `None`: ssh's own default.
    pub ssh_config: Option<PathBuf>,
    /// How long to wait for the instance to start.
    pub start_wait: Limit,
}

/// `azml-ssh forward ALIAS PORT[:LOCAL_PORT]…`: forwards ports of the instance to 127.0.0.1 until interrupted, one
/// URL line per port on stdout.
pub fn forward(options: &ForwardOptions, azure: &AzureOptions, console: &mut Console) -> Result<(), Error> {
    let layout = Layout::new(options.ssh_config.as_deref())?;
    let entry = target::host(&layout, &options.alias, azure)?;
    // Local ports are chosen before the instance is started, so a busy one is told at once.
    let pairs = forward_pairs(&options.ports)?;
    ensure_running(&entry, azure, options.start_wait, console)?;
    let forwards = Forwards { alias: &options.alias, ssh_config: options.ssh_config.as_deref(), pairs };
    run_forwards(&forwards, console, |console| {
        for (local, _) in &forwards.pairs {
            console.say(format_args!("http://127.0.0.1:{local}/"))?;
        }
        let _ = std::io::Write::flush(&mut console.out);
        let list: Vec<String> = forwards.pairs.iter().map(|(l, r)| format!("127.0.0.1:{l} → {r}")).collect();
        console.note(format_args!("forwarding {} from {}; Ctrl-C ends the forwards.", list.join(", "), options.alias));
        Ok(())
    })
}

/// Local ports forwarded to ports of an instance by one ssh.
struct Forwards<'a> {
    alias: &'a str,
    ssh_config: Option<&'a Path>,
    /// `(local, remote)`.
    pairs: Vec<(u16, u16)>,
}

/// Runs ssh with one `-L 127.0.0.1:LOCAL:localhost:REMOTE` per pair until Ctrl-C (or until ssh ends): every
/// forward must come up and be let through by the instance's sshd before `announce` tells the user. Nothing is
/// left running after it returns.
fn run_forwards(
    forwards: &Forwards<'_>,
    console: &mut Console,
    announce: impl FnOnce(&mut Console) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut command = tokio_command(ssh(forwards.ssh_config));
    command.args(["-N", "-o", "ExitOnForwardFailure=yes"]);
    for (local, remote) in &forwards.pairs {
        command.arg("-L").arg(format!("127.0.0.1:{local}:localhost:{remote}"));
    }
    command.arg(forwards.alias).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true);
    let ended = |reason: String| OpenError::ForwardsEnded { alias: forwards.alias.to_owned(), reason };
    block_on(async {
        // Signals are caught from before ssh starts, so an early Ctrl-C still ends it rather than orphaning it.
        let signals = Interrupts::new().map_err(|e| ended(e.to_string()))?;
        let mut ssh = command.spawn().map_err(|source| OpenError::Spawn { what: "ssh".into(), source })?;
        for &(local, remote) in &forwards.pairs {
            let failed =
                |reason: String| OpenError::ForwardFailed { alias: forwards.alias.to_owned(), local, remote, reason };
            wait_for_forward(&mut ssh, local, &failed).await?;
        }
        announce(console)?;
        wait_for_interrupt(&mut ssh, signals, &ended).await?;
        Ok::<(), Error>(())
    })?
}

fn tokio_command(command: std::process::Command) -> tokio::process::Command {
    tokio::process::Command::from(command)
}

/// Polls until the forwarded port accepts, or ssh exits (the forward was refused).
async fn wait_for_forward(
    ssh: &mut tokio::process::Child,
    local: u16,
    failed: &impl Fn(String) -> OpenError,
) -> Result<(), OpenError> {
    let deadline = Instant::now() + FORWARD_TIMEOUT;
    let address = SocketAddr::from(([127, 0, 0, 1], local));
    loop {
        if let Some(status) = ssh.try_wait().map_err(|e| failed(e.to_string()))? {
            let mut reason = String::new();
            if let Some(mut pipe) = ssh.stderr.take() {
                let _ = tokio::io::AsyncReadExt::read_to_string(&mut pipe, &mut reason).await;
            }
            let reason = crate::util::text::one_line_max(&reason, 300);
            return Err(failed(format!("ssh exited with {status}: {reason}")));
        }
        if let Ok(stream) = tokio::net::TcpStream::connect(address).await {
            // ssh accepts locally before it asks the server; a refused forward shows as a connection closed
            // without a byte, a working one as Jupyter's answer.
            return match answers(stream).await {
                true => Ok(()),
                false => Err(failed(
                    "the forward was refused: nothing listens on that port of the instance, or its sshd does not allow forwarding (AllowTcpForwarding)".into(),
                )),
            };
        }
        if Instant::now() >= deadline {
            return Err(failed(TimedOut::new("waiting for the forward", FORWARD_TIMEOUT, Budget::Builtin).to_string()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether the forward reaches something: ssh accepts locally before it asks the instance, and closes the
/// connection without a byte when the instance's sshd refuses the channel or nothing listens there. An HTTP
/// request gets web servers (Jupyter, TensorBoard, MLflow) to answer at once; a service that stays silent but keeps
/// the connection open for `SILENT_BUT_OPEN` is taken as reached too.
async fn answers(mut stream: tokio::net::TcpStream) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if stream.write_all(b"HEAD / HTTP/1.0\r\n\r\n").await.is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    match tokio::time::timeout(SILENT_BUT_OPEN, stream.read(&mut byte)).await {
        Ok(Ok(n)) => n > 0,
        Ok(Err(_)) => false,
        Err(_) => true,
    }
}

/// Runs until Ctrl-C (or SIGTERM, Ctrl-Break, the console closing) — then ends the forward and returns — or until ssh exits by itself.
async fn wait_for_interrupt(
    ssh: &mut tokio::process::Child,
    mut signals: Interrupts,
    ended: &impl Fn(String) -> OpenError,
) -> Result<(), OpenError> {
    let interrupted = tokio::select! {
        () = signals.recv() => true,
        status = ssh.wait() => {
            let status = status.map_err(|e| ended(e.to_string()))?;
            return Err(ended(format!("ssh exited ({status})")));
        }
    };
    if interrupted {
        // Ends the forward: no ssh is left behind.
        let _ = ssh.kill().await;
    }
    Ok(())
}

fn open_browser(url: &str, console: &mut Console) {
    match crate::util::desktop::open_url(url) {
        Ok(()) => {}
        Err(e) => console.warn(format_args!("cannot open a browser: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_run_commands_are_shell_quoted() {
        assert_eq!(shell_quote("vscode-remote://ssh-remote+ci1/home/u"), "vscode-remote://ssh-remote+ci1/home/u");
        assert_eq!(shell_quote("/home/u/my files"), "'/home/u/my files'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn only_an_enabled_stop_within_three_hours_is_worth_a_line() {
        let stop = |expression: &str, status: &str| {
            serde_json::json!({"action": "Stop", "status": status, "triggerType": "Cron",
                "cron": {"expression": expression, "timeZone": "W. Europe Standard Time"}})
        };
        let schedules =
            |list: Vec<serde_json::Value>| schedule::parse_all(Some(&serde_json::json!({ "computeStartStop": list })));
        let now: jiff::Timestamp = "2026-12-02T14:50:00Z".parse().unwrap();
        let soon = schedules(vec![stop("0 18 * * *", "Enabled"), stop("0 16 * * *", "Disabled")]);
        assert_eq!(
            stop_soon("ci1", &soon, now).as_deref(),
            Some("ci1 will be stopped by its schedule at 18:00 (UTC+01:00, in 2 h 10 min)")
        );
        let later: jiff::Timestamp = "2026-12-02T13:59:00Z".parse().unwrap();
        assert_eq!(stop_soon("ci1", &soon, later), None, "3 h 1 min away");
        assert_eq!(stop_soon("ci1", &schedules(vec![stop("0 16 * * *", "Disabled")]), now), None);
    }
}
