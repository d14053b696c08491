//! `azml-ssh code` and `azml-ssh jupyter`: one command to work on an instance. Both first make sure the instance
//! runs — starting it with the proxy's single-flight start and progress lines, before VS Code or ssh is involved,
//! so no connect timeout matters — and leave the endpoint cache warm for the connections that follow.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::azure::lifecycle::{Progress, StartOptions};
use crate::azure::session::AzureOptions;
use crate::cmd::progress::Renderer;
use crate::cmd::{Console, Error, UsageError, block_on};
use crate::connect::cache::EndpointCache;
use crate::connect::endpoint::Transport;
use crate::connect::resolve;
use crate::sshconf::hosts::HostEntry;
use crate::sshconf::store::{self, Layout};
use crate::util::deadline::Limit;
use crate::util::dirs;
use crate::util::interrupt::Interrupts;

/// Jupyter's own default port: the server to pick when an instance runs several.
const DEFAULT_JUPYTER_PORT: u16 = 8888;
/// How long the forward may take to come up (through the tunnel, a first connection can take seconds).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(60);
/// Bounds for what `jupyter ... list` may print.
const MAX_LIST_BYTES: u64 = 1 << 20;

/// Why `code` or `jupyter` could not do their job.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error(
        "`{editor}` is not on PATH; install VS Code and run \"Shell Command: Install 'code' command in PATH\" from its command palette, or name another editor with --editor"
    )]
    EditorMissing { editor: String },
    #[error("cannot run {what}: {source}")]
    Spawn { what: String, source: std::io::Error },
    #[error("{editor} exited with {status}")]
    EditorFailed { editor: String, status: std::process::ExitStatus },
    #[error("cannot list Jupyter servers on {alias} over ssh: {reason}")]
    ListFailed { alias: String, reason: String },
    #[error(
        "no Jupyter server is running on {alias}; start one there, e.g. `ssh {alias} 'nohup jupyter lab --no-browser >/dev/null 2>&1 &'`, or start the instance's Jupyter from Azure ML studio"
    )]
    NoJupyter { alias: String },
    #[error("local port {port} is in use; choose another with --local-port")]
    LocalPortTaken { port: u16 },
    #[error("no free local port from {from} on; choose one with --local-port")]
    NoFreePort { from: u16 },
    #[error("ssh could not forward 127.0.0.1:{local} to port {remote} on {alias}: {reason}")]
    ForwardFailed { alias: String, local: u16, remote: u16, reason: String },
    #[error("the Jupyter server on {alias} describes itself oddly: {why}")]
    BadServer { alias: String, why: BadServerUrl },
}

/// The host to work on: an alias of azml-ssh's include file.
fn host(alias: &str, layout: &Layout) -> Result<HostEntry, Error> {
    let entries = store::read_entries(layout)?;
    entries.into_iter().find(|e| e.alias == alias).ok_or_else(|| {
        let file = layout.include_file.display().to_string();
        UsageError::UnknownTarget { text: alias.to_owned(), file }.into()
    })
}

/// Makes sure the instance runs (starting it if needed, with progress on the console) and leaves its endpoint in
/// the cache, so the editor's or ssh's connections that follow are warm.
fn ensure_running(entry: &HostEntry, azure: &AzureOptions, wait: Limit, console: &mut Console) -> Result<(), Error> {
    let cache = EndpointCache::open_default();
    let tenant = cache.as_ref().and_then(|c| c.tenant(&entry.id));
    let start = StartOptions { allow_start: true, wait, cache_root: dirs::cache_root() };
    let mut renderer = Renderer::new(&entry.id.compute, &mut *console.err, console.err_is_terminal, false);
    let mut progress = |p: Progress<'_>| renderer.report(p);
    let resolved =
        block_on(resolve::resolve(&entry.id, azure, tenant.as_ref(), &start, Transport::Auto, &mut progress))??;
    if let Some(cache) = &cache {
        cache.store(&entry.id, &resolved.endpoint, resolved.tenant.as_ref());
    }
    Ok(())
}

/// The login user's home on the instance (Azure ML keeps users' files under `~/cloudfiles/code`).
fn remote_home(user: &str) -> String {
    if user == "root" { "/root".into() } else { format!("/home/{user}") }
}

/// `REMOTE_PATH` made absolute: relative to the login user's home.
fn remote_path(user: &str, path: Option<&str>) -> String {
    let home = remote_home(user);
    match path.map(|p| p.trim_end_matches('/')).filter(|p| !p.is_empty()) {
        None => home,
        Some(p) if p.starts_with('/') => p.to_owned(),
        Some(p) => format!("{home}/{}", p.trim_start_matches("./")),
    }
}

/// Options of `azml-ssh code`.
#[derive(Clone, Debug)]
pub struct CodeOptions {
    pub alias: String,
    pub remote_path: Option<String>,
    /// A VS Code-compatible command: `code`, `code-insiders`, `cursor`, ...
    pub editor: String,
    pub ssh_config: Option<PathBuf>,
    pub dry_run: bool,
    /// How long to wait for the instance to start.
    pub start_wait: Limit,
}

/// The editor's command line, one argument per item.
fn editor_command(options: &CodeOptions, user: &str) -> Vec<String> {
    let path = remote_path(user, options.remote_path.as_deref());
    let uri = format!("vscode-remote://ssh-remote+{}{path}", options.alias);
    vec![options.editor.clone(), "--folder-uri".into(), uri]
}

/// `azml-ssh code ALIAS [REMOTE_PATH]`.
pub fn code(options: &CodeOptions, azure: &AzureOptions, console: &mut Console) -> Result<(), Error> {
    let layout = Layout::new(options.ssh_config.as_deref())?;
    let entry = host(&options.alias, &layout)?;
    let command = editor_command(options, &entry.user);
    if options.dry_run {
        let quoted: Vec<String> = command.iter().map(|a| shell_quote(a)).collect();
        return console.say(quoted.join(" "));
    }
    let editor =
        which::which(&options.editor).map_err(|_| WorkError::EditorMissing { editor: options.editor.clone() })?;
    ensure_running(&entry, azure, options.start_wait, console)?;
    let status = std::process::Command::new(&editor)
        .args(&command[1..])
        .status()
        .map_err(|source| WorkError::Spawn { what: options.editor.clone(), source })?;
    if !status.success() {
        return Err(WorkError::EditorFailed { editor: options.editor.clone(), status }.into());
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
    pub alias: String,
    pub local_port: Option<u16>,
    pub open: bool,
    pub ssh_config: Option<PathBuf>,
    /// How long to wait for the instance to start.
    pub start_wait: Limit,
}

/// One entry of `jupyter server list --json` (or `jupyter notebook list --json`).
#[derive(Clone, Debug, Deserialize)]
struct Server {
    port: u16,
    #[serde(default)]
    token: String,
    #[serde(default = "root_path")]
    base_url: String,
}

fn root_path() -> String {
    "/".into()
}

/// The local URL of `server` through the forward at 127.0.0.1:`local`. `base_url` and `token` come from the
/// instance, so the URL is built by a URL library rather than pasted together: the base must be an absolute path
/// (so `@evil.example/` cannot become the host), the token is percent-encoded, and the result must still point at
/// the forward. Control characters never survive (the library percent-encodes them).
fn local_url(local: u16, server: &Server, flavor: Flavor) -> Result<String, BadServerUrl> {
    let base = &server.base_url;
    let shown = || crate::util::text::one_line_max(base, 80);
    if !base.starts_with('/') || base.starts_with("//") || base.contains(['\\', '?', '#']) {
        return Err(BadServerUrl::NotAPath(shown()));
    }
    let page = match flavor {
        Flavor::Server => "lab",
        Flavor::Classic => "tree",
    };
    let mut url = url::Url::parse(&format!("http://127.0.0.1:{local}/")).map_err(BadServerUrl::Url)?;
    url.set_path(&format!("{}/{page}", base.trim_end_matches('/')));
    if !server.token.is_empty() {
        url.query_pairs_mut().append_pair("token", &server.token);
    }
    if url.host_str() != Some("127.0.0.1") || url.port() != Some(local) {
        return Err(BadServerUrl::LeadsAway(shown()));
    }
    Ok(url.into())
}

/// Why the URL of a Jupyter server cannot be built from what the instance says.
#[derive(Debug, thiserror::Error)]
pub enum BadServerUrl {
    #[error("its base_url {0:?} is not an absolute path")]
    NotAPath(String),
    #[error("its base_url {0:?} would lead away from the forward")]
    LeadsAway(String),
    #[error("{0}")]
    Url(url::ParseError),
}

/// Which Jupyter answered: the UI path to open differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    /// `jupyter server list`: JupyterLab (and Notebook 7) on jupyter_server.
    Server,
    /// `jupyter notebook list`: only the classic notebook.
    Classic,
}

/// The servers in `jupyter ... list --json` output: one JSON object per line, other lines ignored.
fn parse_servers(output: &str) -> Vec<Server> {
    output.lines().filter_map(|line| serde_json::from_str::<Server>(line.trim()).ok()).collect()
}

/// The server to forward: the one on Jupyter's default port when there are several.
fn pick(servers: Vec<Server>) -> Option<Server> {
    let on_default = servers.iter().position(|s| s.port == DEFAULT_JUPYTER_PORT);
    let mut servers = servers;
    match on_default {
        Some(index) => Some(servers.swap_remove(index)),
        None => servers.into_iter().next(),
    }
}

/// `ssh [-F FILE] ARGS...`, with the user's own ssh, so the ProxyCommand and key are theirs.
fn ssh(ssh_config: Option<&Path>) -> std::process::Command {
    let mut command = std::process::Command::new("ssh");
    if let Some(config) = ssh_config {
        command.arg("-F").arg(config);
    }
    command.args(["-o", "BatchMode=yes"]);
    command
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
        .map_err(|source| WorkError::Spawn { what: "ssh".into(), source })?;
    let output = read_bounded(child)?;
    if !output.0.success() {
        let reason = crate::util::text::one_line_max(&output.2, 300);
        // "command not found" and friends: this kind of Jupyter is not there.
        tracing::debug!(kind, reason, "jupyter list failed");
        if output.0.code() == Some(255) {
            return Err(WorkError::ListFailed { alias: alias.clone(), reason }.into());
        }
        return Ok(Vec::new());
    }
    Ok(parse_servers(&output.1))
}

/// The exit status, stdout and stderr of `child`, each output capped.
fn read_bounded(mut child: std::process::Child) -> Result<(std::process::ExitStatus, String, String), Error> {
    let spawn = |source| WorkError::Spawn { what: "ssh".into(), source };
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

/// The local port: the one asked for (it must be free), else the remote one, else the next free one.
fn local_port(asked: Option<u16>, remote: u16) -> Result<u16, WorkError> {
    let free = |port: u16| TcpListener::bind(("127.0.0.1", port)).is_ok();
    match asked {
        Some(port) if free(port) => Ok(port),
        Some(port) => Err(WorkError::LocalPortTaken { port }),
        None => (remote..=remote.saturating_add(100))
            .find(|&p| p != 0 && free(p))
            .ok_or(WorkError::NoFreePort { from: remote }),
    }
}

/// `azml-ssh jupyter ALIAS`: forwards the instance's Jupyter to 127.0.0.1 until interrupted.
pub fn jupyter(options: &JupyterOptions, azure: &AzureOptions, console: &mut Console) -> Result<(), Error> {
    let layout = Layout::new(options.ssh_config.as_deref())?;
    let entry = host(&options.alias, &layout)?;
    ensure_running(&entry, azure, options.start_wait, console)?;

    let (server, flavor) = match pick(list_servers(options, "server")?) {
        Some(server) => (server, Flavor::Server),
        None => match pick(list_servers(options, "notebook")?) {
            Some(server) => (server, Flavor::Classic),
            None => return Err(WorkError::NoJupyter { alias: options.alias.clone() }.into()),
        },
    };
    let local = local_port(options.local_port, server.port)?;
    // Built (and checked) before anything runs: what the instance says must not steer the URL elsewhere.
    let url =
        local_url(local, &server, flavor).map_err(|why| WorkError::BadServer { alias: options.alias.clone(), why })?;
    let forward = format!("127.0.0.1:{local}:localhost:{}", server.port);
    let mut child = tokio_command(ssh(options.ssh_config.as_deref()));
    child
        .args(["-N", "-o", "ExitOnForwardFailure=yes", "-L", &forward, &options.alias])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let failed =
        |reason: String| WorkError::ForwardFailed { alias: options.alias.clone(), local, remote: server.port, reason };
    block_on(async {
        // Signals are caught from before ssh starts, so an early Ctrl-C still ends it rather than orphaning it.
        let signals = Interrupts::new().map_err(|e| failed(e.to_string()))?;
        let mut ssh = child.spawn().map_err(|source| WorkError::Spawn { what: "ssh".into(), source })?;
        wait_for_forward(&mut ssh, local, &failed).await?;

        console.say(&url)?;
        let _ = std::io::Write::flush(&mut console.out);
        console.note(format_args!(
            "Jupyter on {} is at that URL; in VS Code use \"Jupyter: Specify Jupyter Server for Connections\" → Existing and paste it. Ctrl-C ends the forward.",
            options.alias
        ));
        if options.open {
            open_browser(&url, console);
        }
        wait_for_interrupt(&mut ssh, signals, &failed).await?;
        Ok::<(), Error>(())
    })??;
    Ok(())
}

fn tokio_command(command: std::process::Command) -> tokio::process::Command {
    tokio::process::Command::from(command)
}

/// Polls until the forwarded port accepts, or ssh exits (the forward was refused).
async fn wait_for_forward(
    ssh: &mut tokio::process::Child,
    local: u16,
    failed: &impl Fn(String) -> WorkError,
) -> Result<(), WorkError> {
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
                false => {
                    Err(failed("the instance's sshd refused to forward the port (is AllowTcpForwarding off?)".into()))
                }
            };
        }
        if Instant::now() >= deadline {
            return Err(failed(format!("the forward did not come up within {} s", FORWARD_TIMEOUT.as_secs())));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether an HTTP request through the forward gets any answer.
async fn answers(mut stream: tokio::net::TcpStream) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if stream.write_all(b"HEAD /api HTTP/1.0\r\n\r\n").await.is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    matches!(tokio::time::timeout(FORWARD_TIMEOUT, stream.read(&mut byte)).await, Ok(Ok(1)))
}

/// Runs until Ctrl-C (or SIGTERM, Ctrl-Break, the console closing) — then ends the forward and returns — or until ssh exits by itself.
async fn wait_for_interrupt(
    ssh: &mut tokio::process::Child,
    mut signals: Interrupts,
    failed: &impl Fn(String) -> WorkError,
) -> Result<(), WorkError> {
    let interrupted = tokio::select! {
        () = signals.recv() => true,
        status = ssh.wait() => {
            let status = status.map_err(|e| failed(e.to_string()))?;
            return Err(failed(format!("ssh ended the forward ({status})")));
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

    fn server(base_url: &str, token: &str) -> Server {
        Server { port: 8888, token: token.into(), base_url: base_url.into() }
    }

    #[test]
    fn the_local_url_stays_on_the_forward_whatever_the_instance_says() {
        assert_eq!(
            local_url(8890, &server("/", "abc"), Flavor::Server).unwrap(),
            "http://127.0.0.1:8890/lab?token=abc"
        );
        assert_eq!(
            local_url(8890, &server("/user/me/", "a b&c=d"), Flavor::Classic).unwrap(),
            "http://127.0.0.1:8890/user/me/tree?token=a+b%26c%3Dd"
        );
        assert_eq!(local_url(8890, &server("/x", ""), Flavor::Server).unwrap(), "http://127.0.0.1:8890/x/lab");
        for hostile in ["@evil.example/", "//evil.example/", "http://evil.example/", "\\\\evil\\", "/a?b=c", "/#x", ""]
        {
            assert!(local_url(8890, &server(hostile, "t"), Flavor::Server).is_err(), "{hostile:?} was accepted");
        }
        // A path with odd characters is kept as a path, percent-encoded; control characters never come through.
        let url = local_url(8890, &server("/a@b/\u{1b}[31m/", "t\u{7}"), Flavor::Server).unwrap();
        assert!(url.starts_with("http://127.0.0.1:8890/a@b/%1B[31m/lab?token=t%07"), "{url}");
        assert!(!url.chars().any(char::is_control), "{url:?}");
    }

    #[test]
    fn remote_paths_are_under_the_users_home_unless_absolute() {
        assert_eq!(remote_path("azureuser", None), "/home/azureuser");
        assert_eq!(remote_path("azureuser", Some("cloudfiles/code/")), "/home/azureuser/cloudfiles/code");
        assert_eq!(remote_path("azureuser", Some("./x")), "/home/azureuser/x");
        assert_eq!(remote_path("azureuser", Some("/mnt/data")), "/mnt/data");
        assert_eq!(remote_path("root", None), "/root");
    }

    #[test]
    fn the_default_port_wins_among_several_servers() {
        let list =
            "not json\n{\"port\": 8889, \"token\": \"a\", \"base_url\": \"/\"}\n{\"port\": 8888, \"token\": \"b\"}\n";
        let server = pick(parse_servers(list)).unwrap();
        assert_eq!((server.port, server.token.as_str(), server.base_url.as_str()), (8888, "b", "/"));
        assert!(pick(parse_servers("")).is_none());
    }

    #[test]
    fn dry_run_commands_are_shell_quoted() {
        assert_eq!(shell_quote("vscode-remote://ssh-remote+ci1/home/u"), "vscode-remote://ssh-remote+ci1/home/u");
        assert_eq!(shell_quote("/home/u/my files"), "'/home/u/my files'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
