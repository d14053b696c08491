//! `azml-ssh proxy`: the ProxyCommand. Cached endpoint first (a direct connection then needs no token, no HTTP
//! client and no async runtime), a fresh ARM lookup — which also starts a stopped instance — when there is none or
//! it no longer answers, then the relay: TCP for the direct transport, the WebSocket tunnel otherwise.

use std::net::SocketAddr;
use std::time::Duration;

use crate::cache::EndpointCache;
use crate::credential;
use crate::lifecycle::StartOptions;
use crate::relay::{self, RelayError, Stdio};
use crate::resolve::{self, AzureOptions, Endpoint, ResolveError, Transport};
use crate::resource_id::ComputeId;
use crate::runtime;
use crate::tunnel::{self, Gateway, TunnelError};

/// A cached address that does not accept within this is presumed stale (the instance moved or is stopped);
/// kept short because the fresh lookup that follows must fit in VS Code's 15 s connect timeout.
const CACHED_CONNECT_TIMEOUT: Duration = Duration::from_secs(4);
/// An address ARM has just given us gets longer.
const FRESH_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct ProxyOptions {
    pub azure: AzureOptions,
    pub start: StartOptions,
    pub transport: Transport,
    /// How old a cached endpoint may be and still be tried without asking ARM; zero disables the cache.
    pub cache_max_age: Duration,
    /// Hand ssh the connected socket (ProxyUseFdpass) instead of relaying.
    pub fdpass: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(
        "cannot connect to {name} at {addr}: {source}; check that nothing (a firewall, a VPN) blocks the port, or look at the instance in Azure ML studio"
    )]
    Connect { name: String, addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Relay(#[from] RelayError),
    #[error(transparent)]
    Tunnel(#[from] TunnelError),
    #[error(transparent)]
    Credential(#[from] credential::CredentialError),
    #[error("cannot take over stdin/stdout: {0}")]
    Stdio(std::io::Error),
    #[error("cannot hand the connection to ssh: {0}; --fdpass needs `ProxyUseFdpass yes` for this host")]
    FdPass(std::io::Error),
    #[error("cannot start the tunnel relay process: {0}")]
    Spawn(std::io::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

pub fn run(id: &ComputeId, options: &ProxyOptions) -> Result<(), ProxyError> {
    let mut stdio = Some(relay::take_stdio().map_err(ProxyError::Stdio)?);
    let result = connect_and_relay(id, options, &mut stdio);
    if result.is_err() {
        // Keep ssh's end of the stream open until the process exits, which the caller does right after printing
        // the error. Closing it first lets ssh see EOF, give up, and SIGHUP us before our message is written —
        // and that one line is all the user gets.
        std::mem::forget(stdio);
    }
    result
}

/// A connection that got as far as it could before relaying starts.
enum Connected {
    Tcp(std::net::TcpStream),
    Tunnel(Gateway),
}

fn connect_and_relay(id: &ComputeId, options: &ProxyOptions, stdio: &mut Option<Stdio>) -> Result<(), ProxyError> {
    let cache = EndpointCache::open_default().filter(|_| !options.cache_max_age.is_zero());
    let cached = cache
        .as_ref()
        .and_then(|c| c.fresh(id, options.cache_max_age))
        .filter(|e| options.transport == Transport::Auto || e.transport_name() == transport_name(options.transport));

    if let Some(endpoint) = cached {
        match connect(id, &endpoint, CACHED_CONNECT_TIMEOUT) {
            Ok(connected) if options.fdpass => return hand_over(id, connected, options, stdio),
            Ok(connected) => {
                tracing::debug!(%endpoint, "using the cached endpoint");
                match relay_over(connected, options, stdio, None, 1) {
                    Err(ProxyError::Tunnel(e))
                        if !matches!(e, TunnelError::Broken(_) | TunnelError::Closed { .. } | TunnelError::Dead) =>
                    {
                        tracing::debug!("cached tunnel endpoint failed ({e}); asking Azure again");
                    }
                    other => return other,
                }
            }
            Err(e) => tracing::debug!(%endpoint, "cached endpoint did not answer ({e}); asking Azure again"),
        }
        if let Some(cache) = &cache {
            cache.forget(id);
        }
    }

    let runtime_result = runtime::block_on(resolve::resolve(id, &options.azure, &options.start, options.transport));
    let (endpoint, token) = runtime_result.map_err(ProxyError::Runtime)??;
    tracing::debug!(%endpoint, transport = endpoint.transport_name(), "resolved endpoint");
    if let Some(cache) = &cache {
        cache.store(id, &endpoint);
    }
    let connected = connect(id, &endpoint, FRESH_CONNECT_TIMEOUT)?;
    if options.fdpass {
        return hand_over(id, connected, options, stdio);
    }
    relay_over(connected, options, stdio, Some(token), tunnel::HANDSHAKE_TRIES)
}

/// `--fdpass`: gives ssh the connection itself and returns, so the process exits before the first byte of the
/// session. A direct connection is the TCP socket; for the tunnel, ssh gets one end of a socket pair and a
/// detached `azml-ssh` keeps relaying the other end through the WebSocket.
fn hand_over(
    id: &ComputeId,
    connected: Connected,
    options: &ProxyOptions,
    stdio: &mut Option<Stdio>,
) -> Result<(), ProxyError> {
    use std::os::fd::AsFd;
    let stdio = stdio.take().ok_or_else(|| ProxyError::Stdio(std::io::Error::other("stdin/stdout already in use")))?;
    match connected {
        Connected::Tcp(socket) => {
            crate::fdpass::send_fd(stdio.output.as_fd(), socket.as_fd()).map_err(ProxyError::FdPass)
        }
        Connected::Tunnel(gateway) => {
            let (for_ssh, for_relay) = std::os::unix::net::UnixStream::pair().map_err(ProxyError::Spawn)?;
            spawn_tunnel_relay(id, &gateway, options, for_relay)?;
            crate::fdpass::send_fd(stdio.output.as_fd(), for_ssh.as_fd()).map_err(ProxyError::FdPass)
        }
    }
}

/// Starts `azml-ssh proxy --relay-gateway HOST:PORT ...` with `socket` as its stdin and stdout, in a process group
/// of its own so that ssh's hang-up of this process does not reach it. It reports its own errors on the stderr it
/// inherits, which is ssh's.
fn spawn_tunnel_relay(
    id: &ComputeId,
    gateway: &Gateway,
    options: &ProxyOptions,
    socket: std::os::unix::net::UnixStream,
) -> Result<(), ProxyError> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(ProxyError::Spawn)?;
    let input = socket.try_clone().map_err(ProxyError::Spawn)?;
    let auth =
        clap::ValueEnum::to_possible_value(&options.azure.auth).map(|v| v.get_name().to_owned()).unwrap_or_default();
    std::process::Command::new(exe)
        .arg("proxy")
        .arg("--relay-gateway")
        .arg(format!("{}:{}", gateway.host, gateway.port))
        .args(["--auth", &auth, "--cloud", &options.azure.cloud.to_string()])
        .args(["--timeout", &options.azure.timeout.as_secs().to_string()])
        .arg(id.to_string())
        .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(input)))
        .stdout(std::process::Stdio::from(std::os::fd::OwnedFd::from(socket)))
        .process_group(0)
        .spawn()
        .map(|_| ())
        .map_err(ProxyError::Spawn)
}

/// The detached half of a tunnel under `--fdpass`: relays stdin/stdout (a socket from [`hand_over`]) through the
/// gateway.
pub fn relay_tunnel(gateway: Gateway, options: &ProxyOptions) -> Result<(), ProxyError> {
    let mut stdio = Some(relay::take_stdio().map_err(ProxyError::Stdio)?);
    relay_over(Connected::Tunnel(gateway), options, &mut stdio, None, tunnel::HANDSHAKE_TRIES)
}

fn transport_name(transport: Transport) -> &'static str {
    match transport {
        Transport::Direct => "direct",
        Transport::Tunnel => "tunnel",
        Transport::Auto => "auto",
    }
}

/// The TCP connect for a direct endpoint; the tunnel's handshake happens in [`relay_over`], where the runtime is.
fn connect(id: &ComputeId, endpoint: &Endpoint, timeout: Duration) -> Result<Connected, ProxyError> {
    match endpoint {
        Endpoint::Direct { address } => relay::connect(*address, timeout)
            .map(Connected::Tcp)
            .map_err(|source| ProxyError::Connect { name: id.compute.clone(), addr: *address, source }),
        Endpoint::Tunnel { gateway } => Ok(Connected::Tunnel(gateway.clone())),
    }
}

/// Relays over the connection. For the tunnel this first performs the handshake (at most `tries` of them), with
/// the token ARM just accepted (`fresh`) or else a signed-in one (a cached token makes that free).
fn relay_over(
    connected: Connected,
    options: &ProxyOptions,
    stdio: &mut Option<Stdio>,
    fresh: Option<credential::Token>,
    tries: u32,
) -> Result<(), ProxyError> {
    let take = |stdio: &mut Option<Stdio>| {
        stdio.take().ok_or_else(|| ProxyError::Stdio(std::io::Error::other("stdin/stdout already in use")))
    };
    match connected {
        Connected::Tcp(socket) => {
            let stdio = take(stdio)?;
            Ok(relay::relay(stdio.input, stdio.output, socket)?)
        }
        Connected::Tunnel(gateway) => runtime::block_on(async {
            let azure = &options.azure;
            let mut token = match fresh {
                Some(token) => token,
                None => credential::cached_token(azure.auth, azure.cloud, azure.timeout).await?,
            };
            let ws = match tunnel::open(&gateway, token.secret(), tries).await {
                Err(TunnelError::Unauthorized { .. }) if token.from_cache => {
                    // A cached token the gateway no longer accepts: sign in afresh, once.
                    credential::forget_cached(&token);
                    token = credential::cached_token(azure.auth, azure.cloud, azure.timeout).await?;
                    tunnel::open(&gateway, token.secret(), tries).await?
                }
                other => other?,
            };
            let stdio = take(stdio)?;
            Ok(tunnel::relay(ws, stdio.input, stdio.output).await?)
        })
        .map_err(ProxyError::Runtime)?,
    }
}
