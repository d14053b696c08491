//! What working on an instance needs decided, apart from running anything: where the user's files are, which
//! Jupyter server to forward and the local URL it gets, which local ports forwards get, and why `code`,
//! `jupyter` or `forward` failed. The commands run ssh and the editor and show these outcomes.

use std::net::TcpListener;
use std::str::FromStr;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::Deserialize;

/// Jupyter's own default port: the server to pick when an instance runs several.
const DEFAULT_JUPYTER_PORT: u16 = 8888;

/// Why `code` or `jupyter` could not do their job.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error(
        "`{editor}` is not on PATH; install VS Code and run \"Shell Command: Install 'code' command in PATH\" from its command palette, or name another editor with --editor"
    )]
    EditorMissing { editor: String },
    #[error("cannot run {what}: {source}; check that it is installed and on PATH")]
    Spawn { what: String, source: std::io::Error },
    #[error("{editor} exited with {status}; run it by hand (`azml-ssh code --dry-run` prints the command) to see why")]
    EditorFailed { editor: String, status: std::process::ExitStatus },
    #[error(
        "cannot list Jupyter servers on {alias} over ssh: {reason}; run `azml-ssh doctor {alias}` to check the connection"
    )]
    ListFailed { alias: String, reason: String },
    #[error(
        "no Jupyter server is running on {alias}; start one there, e.g. `ssh {alias} 'nohup jupyter lab --no-browser >/dev/null 2>&1 &'`, or start the instance's Jupyter from Azure ML studio"
    )]
    NoJupyter { alias: String },
    #[error("local port {port} is in use; choose another ({how})")]
    LocalPortTaken { port: u16, how: &'static str },
    #[error("no free local port from {from} on; choose one ({how})")]
    NoFreePort { from: u16, how: &'static str },
    #[error("local port {port} is asked for twice; give each forward its own")]
    LocalPortTwice { port: u16 },
    #[error(
        "ssh could not forward 127.0.0.1:{local} to port {remote} on {alias}: {reason}; check that something listens on port {remote} there"
    )]
    ForwardFailed { alias: String, local: u16, remote: u16, reason: String },
    #[error(
        "cannot run the check on {alias} over ssh: {reason}; `azml-ssh doctor {alias}` checks the connection itself"
    )]
    CheckupFailed { alias: String, reason: String },
    #[error(transparent)]
    FolderUri(#[from] BadFolderUri),
    #[error(
        "the forwards from {alias} ended: {reason}; run the command again (`azml-ssh doctor {alias}` if it keeps ending)"
    )]
    ForwardsEnded { alias: String, reason: String },
    #[error(
        "the Jupyter server on {alias} describes itself oddly: {why}; restart it there, or forward its port with `azml-ssh forward`"
    )]
    BadServer { alias: String, why: BadServerUrl },
}

/// The login user's home on the instance (Azure ML keeps users' files under `~/cloudfiles/code`).
fn remote_home(user: &str) -> String {
    if user == "root" { "/root".into() } else { format!("/home/{user}") }
}

/// `REMOTE_PATH` made absolute: relative to the login user's home.
pub(crate) fn remote_path(user: &str, path: Option<&str>) -> String {
    let home = remote_home(user);
    match path.map(|p| p.trim_end_matches('/')).filter(|p| !p.is_empty()) {
        None => home,
        Some(p) if p.starts_with('/') => p.to_owned(),
        Some(p) => format!("{home}/{}", p.trim_start_matches("./")),
    }
}

/// What a segment of VS Code's folder URI cannot hold as itself, besides controls and non-ASCII: what a URI reads
/// as a delimiter or an escape (`/`, `?`, `#`, `%`), and what VS Code or a shell might mangle.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// VS Code's URI of folder `path` (absolute) on host `alias`: `vscode-remote://ssh-remote+ALIAS/PATH`. Every
/// segment is percent-encoded, so `#`, `?`, `%`, spaces, tabs and non-ASCII stay in the path instead of starting
/// a fragment or a query, being read as an escape, or being dropped (a URI parser drops raw tabs and newlines).
/// `.` and `..` are resolved here, as a URI's reader would.
pub(crate) fn folder_uri(alias: &str, path: &str) -> Result<String, BadFolderUri> {
    let mut uri = url::Url::parse(&format!("vscode-remote://ssh-remote+{alias}/"))
        .map_err(|source| BadFolderUri { alias: alias.to_owned(), source })?;
    let mut segments: Vec<String> = Vec::new();
    for segment in path.trim_start_matches('/').split('/') {
        match segment {
            "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(utf8_percent_encode(segment, SEGMENT).to_string()),
        }
    }
    uri.set_path(&format!("/{}", segments.join("/")));
    Ok(uri.into())
}

/// Why VS Code's URI for a host cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write VS Code's URI for host {alias:?}: {source}")]
pub(crate) struct BadFolderUri {
    alias: String,
    source: url::ParseError,
}

/// One entry of `jupyter server list --json` (or `jupyter notebook list --json`).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Server {
    pub(crate) port: u16,
    #[serde(default)]
    pub(crate) token: String,
    #[serde(default = "root_path")]
    pub(crate) base_url: String,
}

fn root_path() -> String {
    "/".into()
}

/// The local URL of `server` through the forward at 127.0.0.1:`local`. `base_url` and `token` come from the
/// instance, so the URL is built by a URL library rather than pasted together: the base must be an absolute path
/// (so `@evil.example/` cannot become the host), the token is percent-encoded, and the result must still point at
/// the forward. Control characters never survive (the library percent-encodes them).
pub(crate) fn local_url(local: u16, server: &Server, flavor: Flavor) -> Result<String, BadServerUrl> {
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
pub(crate) enum BadServerUrl {
    #[error("its base_url {0:?} is not an absolute path")]
    NotAPath(String),
    #[error("its base_url {0:?} would lead away from the forward")]
    LeadsAway(String),
    #[error("{0}")]
    Url(url::ParseError),
}

/// Which Jupyter answered: the UI path to open differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// `jupyter server list`: JupyterLab (and Notebook 7) on jupyter_server.
    Server,
    /// `jupyter notebook list`: only the classic notebook.
    Classic,
}

/// The servers in `jupyter ... list --json` output: one JSON object per line, other lines ignored.
pub(crate) fn parse_servers(output: &str) -> Vec<Server> {
    output.lines().filter_map(|line| serde_json::from_str::<Server>(line.trim()).ok()).collect()
}

/// The server to forward: the one on Jupyter's default port when there are several.
pub(crate) fn pick(servers: Vec<Server>) -> Option<Server> {
    let on_default = servers.iter().position(|s| s.port == DEFAULT_JUPYTER_PORT);
    let mut servers = servers;
    match on_default {
        Some(index) => Some(servers.swap_remove(index)),
        None => servers.into_iter().next(),
    }
}

/// The local port: the one asked for (it must be free), else the remote one, else the next free one — never one
/// of `taken` (already given to another forward of the same command). `how` says how to choose one by hand.
pub(crate) fn local_port(asked: Option<u16>, remote: u16, taken: &[u16], how: &'static str) -> Result<u16, OpenError> {
    let free = |port: u16| !taken.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok();
    match asked {
        Some(port) if taken.contains(&port) => Err(OpenError::LocalPortTwice { port }),
        Some(port) if free(port) => Ok(port),
        Some(port) => Err(OpenError::LocalPortTaken { port, how }),
        None => (remote..=remote.saturating_add(100))
            .find(|&p| p != 0 && free(p))
            .ok_or(OpenError::NoFreePort { from: remote, how }),
    }
}

/// One `PORT[:LOCAL_PORT]` of `azml-ssh forward`: a port on the instance, and the local one to reach it on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSpec {
    /// The port on the instance (its `localhost`).
    pub remote: u16,
    /// The local port on 127.0.0.1; `None`: the remote one if free, else the next free one.
    pub local: Option<u16>,
}

/// A `PORT[:LOCAL_PORT]` that is not one; the Display form is the whole message.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a port to forward: write PORT or PORT:LOCAL_PORT (ports 1-65535)")]
pub struct InvalidPortSpec(String);

impl FromStr for PortSpec {
    type Err = InvalidPortSpec;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // Digits only: `u16` parsing would also take a sign.
        let port = |p: &str| p.bytes().all(|b| b.is_ascii_digit()).then(|| p.parse::<u16>().ok()).flatten();
        let port = |p: &str| port(p).filter(|&p| p != 0);
        let bad = || InvalidPortSpec(text.to_owned());
        match text.split_once(':') {
            None => Ok(PortSpec { remote: port(text).ok_or_else(bad)?, local: None }),
            Some((remote, local)) => {
                Ok(PortSpec { remote: port(remote).ok_or_else(bad)?, local: Some(port(local).ok_or_else(bad)?) })
            }
        }
    }
}

/// The `(local, remote)` port pairs for `specs`, in order: each local port free, and none used twice.
pub(crate) fn forward_pairs(specs: &[PortSpec]) -> Result<Vec<(u16, u16)>, OpenError> {
    let mut pairs: Vec<(u16, u16)> = Vec::new();
    // Ports asked for by number are kept for them first, so a port picked for another forward never takes one.
    let asked: Vec<u16> = specs.iter().filter_map(|s| s.local).collect();
    for spec in specs {
        let mut taken: Vec<u16> = pairs.iter().map(|&(local, _)| local).collect();
        if spec.local.is_none() {
            taken.extend(&asked);
        }
        let local = local_port(spec.local, spec.remote, &taken, "PORT:LOCAL_PORT")?;
        pairs.push((local, spec.remote));
    }
    Ok(pairs)
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
    fn port_specs_are_a_port_or_two() {
        assert_eq!("6006".parse(), Ok(PortSpec { remote: 6006, local: None }));
        assert_eq!("5000:15000".parse(), Ok(PortSpec { remote: 5000, local: Some(15000) }));
        for bad in ["", "0", "65536", "x", "1:", ":1", "1:2:3", "+80", "-1", " 80", "80:0"] {
            assert!(bad.parse::<PortSpec>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn forwards_get_distinct_free_local_ports_and_asked_ones_are_kept_for_them() {
        let busy = TcpListener::bind("127.0.0.1:0").unwrap();
        let busy_port = busy.local_addr().unwrap().port();
        let free = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // The same remote port twice, and a busy one: each gets its own free local port.
        let specs = [
            PortSpec { remote: busy_port, local: None },
            PortSpec { remote: busy_port, local: None },
            PortSpec { remote: 7, local: Some(free) },
        ];
        let pairs = forward_pairs(&specs).unwrap();
        let locals: Vec<u16> = pairs.iter().map(|&(l, _)| l).collect();
        assert!(!locals[..2].contains(&busy_port) && locals[0] != locals[1], "{locals:?}");
        assert!(!locals[..2].contains(&free), "a port asked for is not given to another forward: {locals:?}");
        assert_eq!(pairs[2], (free, 7));
        let twice = [PortSpec { remote: 1, local: Some(free) }, PortSpec { remote: 2, local: Some(free) }];
        assert!(matches!(forward_pairs(&twice), Err(OpenError::LocalPortTwice { .. })));
        let taken = [PortSpec { remote: 1, local: Some(busy_port) }];
        assert!(matches!(forward_pairs(&taken), Err(OpenError::LocalPortTaken { .. })));
    }

    #[test]
    fn remote_paths_are_under_the_users_home_unless_absolute() {
        assert_eq!(remote_path("azureuser", None), "/home/azureuser");
        assert_eq!(remote_path("azureuser", Some("cloudfiles/code/")), "/home/azureuser/cloudfiles/code");
        assert_eq!(remote_path("azureuser", Some("./x")), "/home/azureuser/x");
        assert_eq!(remote_path("azureuser", Some("/mnt/data")), "/mnt/data");
        assert_eq!(remote_path("root", None), "/root");
    }

    /// The path of a `vscode-remote` URI as VS Code reads it: percent-escapes decoded.
    fn decoded_path(uri: &str) -> String {
        let url = url::Url::parse(uri).unwrap();
        assert_eq!((url.host_str(), url.query(), url.fragment()), (Some("ssh-remote+ci1"), None, None), "{uri}");
        let raw = url.path().as_bytes();
        let mut bytes = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            match raw[i] {
                b'%' => {
                    let hex = std::str::from_utf8(&raw[i + 1..i + 3]).unwrap();
                    bytes.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                }
                b => {
                    bytes.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn folder_uris_keep_every_character_of_the_path() {
        let awkward = [
            "/home/u/data/run#3",
            "/home/u/what?x=1",
            "/home/u/100%25 sure/%41",
            "/home/u/with space/and\tab/line\nbreak\r",
            "/home/u/données/日本語/😀",
            "/home/u/a;b,c@d+e&f=g$h!'()*[]{}<>|^`\"",
            "/home/u/double//slash",
            "/",
        ];
        for path in awkward {
            let uri = folder_uri("ci1", path).unwrap();
            assert!(uri.starts_with("vscode-remote://ssh-remote+ci1/"), "{uri}");
            assert_eq!(decoded_path(&uri), path, "{uri}");
        }
        assert_eq!(
            folder_uri("ci1", "/home/u/data/run#3").unwrap(),
            "vscode-remote://ssh-remote+ci1/home/u/data/run%233"
        );
        assert_eq!(folder_uri("ci1", "/home/u/./a/../b").unwrap(), "vscode-remote://ssh-remote+ci1/home/u/b");
    }

    #[test]
    fn the_default_port_wins_among_several_servers() {
        let list =
            "not json\n{\"port\": 8889, \"token\": \"a\", \"base_url\": \"/\"}\n{\"port\": 8888, \"token\": \"b\"}\n";
        let server = pick(parse_servers(list)).unwrap();
        assert_eq!((server.port, server.token.as_str(), server.base_url.as_str()), (8888, "b", "/"));
        assert!(pick(parse_servers("")).is_none());
    }
}
