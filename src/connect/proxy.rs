//! `azml-ssh proxy`: the ProxyCommand. Cached endpoint first (a direct connection then needs no token and no
//! HTTP client), a fresh ARM lookup — which also starts a stopped instance — when there is none or it no longer
//! answers, then the relay: TCP for the direct transport, the WebSocket tunnel otherwise; or, with `--fdpass`,
//! the connection itself handed to ssh.

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::Duration;

use crate::azure::cloud::Cloud;
use crate::azure::credential::{self, AuthMethod, CredentialError, TenantId, Token};
use crate::azure::lifecycle::{Progress, StartOptions};
use crate::azure::resource_id::ComputeId;
use crate::azure::session::AzureOptions;
use crate::connect::cache::EndpointCache;
use crate::connect::endpoint::{Endpoint, Transport};
use crate::connect::job::{self, JobConnectError, JobQuery};
use crate::connect::names::{self, NameError, NameQuery};
use crate::connect::resolve::{self, ResolveError, Resolved};
use crate::connect::target::Target;
use crate::transport::fdpass::{self, HandOverError};
use crate::transport::relay::{self, RelayError};
use crate::transport::stdio::{self, Stdio};
use crate::transport::tunnel::{self, AllowedGateway, Gateway, TunnelError};
use crate::util::fs::Waited;

/// A cached address that does not accept within this is presumed stale (the instance moved or is stopped);
/// kept short because the fresh lookup that follows must fit in VS Code's 15 s connect timeout.
const CACHED_CONNECT_TIMEOUT: Duration = Duration::from_secs(4);
/// An address ARM has just given us gets longer.
const FRESH_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection waits quietly for another one's lookup before saying so: longer than a usual cold lookup
/// (a token and one ARM call, about a second), so the note shows when the other one is starting the instance.
const WAIT_NOTICE_AFTER: Duration = Duration::from_secs(3);

/// Environment variable equivalent of `--direct-timeout`.
pub const DIRECT_TIMEOUT_ENV: &str = "AZML_SSH_DIRECT_TIMEOUT";

/// How the ProxyCommand connects.
#[derive(Clone, Debug)]
pub struct ProxyOptions {
    /// How to reach Azure, and the `--timeout` budget of a lookup.
    pub azure: AzureOptions,
    /// Whether and how long to bring a stopped instance up.
    pub start: StartOptions,
    /// Direct, tunnel, or direct with the tunnel as fallback.
    pub transport: Transport,
    /// How old a cached endpoint may be and still be tried without asking ARM; zero disables the cache.
    pub cache_max_age: Duration,
    /// Hand ssh the connected socket (ProxyUseFdpass) instead of relaying.
    pub fdpass: bool,
    /// With `Transport::Auto`: how long a direct connection may take before the tunnel is used instead.
    pub direct_timeout: Duration,
    /// How to start the detached relay of a tunnel handed over under `fdpass`. The binary provides it: only the
    /// layer that defines the command line may spell one.
    pub detached_relay: DetachedRelayCommand,
}

/// What the detached relay of a tunnel handed over under `--fdpass` must be told to carry on as this connection
/// would have: which instance, through which gateway, signed in the same way. Plain data; the binary turns it into
/// a command line ([`ProxyOptions::detached_relay`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetachedRelay {
    /// The instance or job node.
    pub target: Target,
    /// Its gateway, already checked against the instance domains.
    pub gateway: Gateway,
    /// How the parent signed in.
    pub auth: AuthMethod,
    /// The parent's cloud.
    pub cloud: Cloud,
    /// The child's budget for talking to Azure (its sign-in); whole seconds survive the trip.
    pub timeout: Duration,
}

/// Makes the command that starts a [`DetachedRelay`]: this program, re-invoked. Fails when the program cannot be
/// found.
pub(crate) type DetachedRelayCommand = fn(&DetachedRelay) -> std::io::Result<std::process::Command>;

/// What the proxy reports while it connects, for the command layer to show.
#[derive(Debug)]
pub(crate) enum Event<'a> {
    /// Starting or waiting for the instance.
    Lifecycle(Progress<'a>),
    /// The direct endpoint did not answer, so the tunnel is used (and remembered for the next connections).
    DirectUnreachable { name: &'a str, address: SocketAddr, error: &'a std::io::Error },
    /// Another connection is looking the instance up (or starting it); this one waits for its answer.
    WaitingForLookup { name: &'a str },
}

impl From<HandOverError> for ProxyError {
    fn from(e: HandOverError) -> Self {
        match e {
            HandOverError::NotASocket(e) => ProxyError::FdPass(e),
            HandOverError::Gone(e) => ProxyError::SshGoneAtHandOver(e),
            HandOverError::Pair(e) => ProxyError::Spawn(e),
            HandOverError::Unsupported => ProxyError::FdPassUnsupported,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyError {
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Job(#[from] JobConnectError),
    #[error(
        "cannot connect to {name} at {addr}: {source}; check that nothing (a firewall, a VPN) blocks the port, or look at the instance in Azure ML studio"
    )]
    Connect { name: String, addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Relay(#[from] RelayError),
    #[error(transparent)]
    Tunnel(#[from] TunnelError),
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error(
        "cannot take over stdin/stdout: {0}; azml-ssh proxy runs only as ssh's ProxyCommand: use it from an ssh config"
    )]
    Stdio(std::io::Error),
    #[error("cannot hand the connection to ssh: {0}; --fdpass needs `ProxyUseFdpass yes` for this host")]
    FdPass(std::io::Error),
    #[error(
        "--fdpass is not available here: Windows OpenSSH has no ProxyUseFdpass; remove --fdpass from the ProxyCommand (`azml-ssh config` writes it without)"
    )]
    FdPassUnsupported,
    #[error("ssh went away before the connection could be handed over ({0}); connect again")]
    SshGoneAtHandOver(std::io::Error),
    #[error(
        "ssh went away while {name} was being looked up or started; a start already requested goes on: connect again in a minute (in VS Code, raise remote.SSH.connectTimeout)"
    )]
    SshGone { name: String },
    #[error(
        "the gateway {host} is outside the Azure ML gateway domains; no token is sent there (set AZML_SSH_GATEWAY_DOMAINS if your cloud uses another domain)"
    )]
    UntrustedGateway { host: String },
    #[error(
        "cannot start the tunnel relay process: {0}; remove --fdpass from the ProxyCommand to relay in this process"
    )]
    Spawn(std::io::Error),
}

/// The ssh side of the proxy — what the relaying needs that is not in [`ProxyOptions`]: ssh's stream, and where
/// events go (ssh's stderr, through the command layer).
pub(crate) struct SshSide<'a> {
    /// ssh's stream, taken over by [`stdio::take_stdio`]; `None` once handed to a relay.
    pub stdio: Option<Stdio>,
    pub events: &'a mut dyn FnMut(Event<'_>),
}

impl SshSide<'_> {
    fn take_stdio(&mut self) -> Result<Stdio, ProxyError> {
        self.stdio.take().ok_or_else(|| ProxyError::Stdio(std::io::Error::other("stdin/stdout already in use")))
    }
}

/// A connection that got as far as it could before relaying starts.
enum Connected {
    Tcp(std::net::TcpStream),
    Tunnel(AllowedGateway),
}

/// What the tunnel's handshake signs in with, and how often it may try; a direct connection needs none of it.
struct Handshake<'a> {
    /// The tenant to sign in to when there is no fresh token (a cached token makes that free).
    tenant: Option<&'a TenantId>,
    /// The token ARM just accepted, when this connection did the lookup.
    fresh: Option<Token>,
    tries: u32,
}

/// Connects `id` to ssh's stdin/stdout and relays until the session ends: the cached endpoint first, then
/// an answer another connection stored meanwhile (checked under the lookup lock), then a lookup of its own.
pub(crate) async fn run(id: &Target, options: &ProxyOptions, ssh: &mut SshSide<'_>) -> Result<(), ProxyError> {
    let cache = EndpointCache::open_default().filter(|_| !options.cache_max_age.is_zero());
    // The tenant an entry records is good however old the entry: it saves a round trip on every cold lookup.
    let (cached, tenant) = cache.as_ref().map_or((None, None), |c| c.read(id, options.cache_max_age));
    let cached = cached.filter(|e| e.serves(options.transport)).filter(|e| trusted(e, options));

    if let Some(endpoint) = cached {
        if let ControlFlow::Break(done) = try_known(id, &endpoint, Known::Cached, options, ssh, tenant.as_ref()).await {
            return done;
        }
        if let Some(cache) = &cache {
            cache.forget(id);
        }
    }
    let lock = match &cache {
        Some(cache) => wait_for_lookup(id, cache, options, ssh).await?,
        None => None,
    };
    // Checked again under the lock, whether or not this connection had to wait for it: another one may have
    // stored its answer between our read of the cache and our taking the lock (they finished just then).
    if let Some(endpoint) = cache.as_ref().and_then(|cache| their_answer(id, cache, options))
        && let ControlFlow::Break(done) =
            try_known(id, &endpoint, Known::TheirAnswer, options, ssh, tenant.as_ref()).await
    {
        return done;
    }
    look_up_and_deliver(id, options, ssh, cache.as_ref(), tenant.as_ref(), lock).await
}

/// Connects the instance the wildcard host's `query` names (see [`names`]), as [`run`] connects one by ID. `known`
/// are the configured hosts' instances.
pub(crate) async fn run_by_name(
    query: &NameQuery,
    known: &[ComputeId],
    options: &ProxyOptions,
    ssh: &mut SshSide<'_>,
) -> Result<(), ProxyError> {
    let cache = EndpointCache::open_default();
    let lookup = names::resolve(query, known, &options.azure, cache.as_ref());
    let id = tokio::select! {
        id = lookup => id?,
        () = ssh_gone(ssh.stdio.as_ref()) => return Err(ProxyError::SshGone { name: query.host.clone() }),
    };
    tracing::debug!(%id, "{} names this instance", query.host);
    let result = run(&Target::Instance(id), options, ssh).await;
    // A name whose instance is gone is searched again next time (it may have been recreated elsewhere).
    if let (Err(ProxyError::Resolve(e)), Some(cache)) = (&result, &cache)
        && e.is_not_found()
    {
        names::forget(cache, query);
    }
    result
}

/// Connects the job node the wildcard host's `query` names (see [`job`]), as [`run`] connects an instance. A
/// remembered answer whose job has ended (or is gone) is searched for again, once: a job of that name may have
/// been submitted since, in another workspace.
pub(crate) async fn run_job_by_name(
    query: &JobQuery,
    options: &ProxyOptions,
    ssh: &mut SshSide<'_>,
) -> Result<(), ProxyError> {
    let cache = EndpointCache::open_default();
    let found = find_job(query, options, cache.as_ref(), ssh).await?;
    let result = run(&Target::JobNode(found.node.clone()), options, ssh).await;
    let stale =
        matches!(&result, Err(ProxyError::Job(JobConnectError::NotFound { .. } | JobConnectError::Ended { .. })));
    let Some(cache) = cache.as_ref().filter(|_| stale) else { return result };
    job::forget(cache, query);
    if !found.remembered {
        return result;
    }
    let again = find_job(query, options, Some(cache), ssh).await?;
    match again.node.job == found.node.job {
        true => result,
        false => run(&Target::JobNode(again.node), options, ssh).await,
    }
}

/// [`job::find`], given up when ssh goes away.
async fn find_job(
    query: &JobQuery,
    options: &ProxyOptions,
    cache: Option<&EndpointCache>,
    ssh: &mut SshSide<'_>,
) -> Result<job::Found, ProxyError> {
    tokio::select! {
        found = job::find(query, &options.azure, cache) => {
            let found = found?;
            tracing::debug!(node = %found.node, remembered = found.remembered, "{} names this job node", query.host);
            Ok(found)
        }
        () = ssh_gone(ssh.stdio.as_ref()) => Err(ProxyError::SshGone { name: query.host.clone() }),
    }
}

/// Where an endpoint known before any lookup of ours came from, which decides how it is tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Known {
    /// Our cache: it may be stale, so it gets a short connect and one handshake, and a failed tunnel handshake
    /// means the cached gateway is wrong and Azure is asked again.
    Cached,
    /// What another connection just stored, found under the lookup lock: fresh, so it gets a fresh one's tries.
    TheirAnswer,
}

/// An endpoint known before any lookup of ours, if it answers. `Continue` when it does not (or, for a cached one,
/// when its tunnel handshake fails): Azure is then asked.
async fn try_known(
    id: &Target,
    endpoint: &Endpoint,
    known: Known,
    options: &ProxyOptions,
    ssh: &mut SshSide<'_>,
    tenant: Option<&TenantId>,
) -> ControlFlow<Result<(), ProxyError>> {
    let (timeout, tries) = match (known, options.transport) {
        // In auto mode a cached direct endpoint gets no longer than the fallback would give a fresh one.
        (Known::Cached, Transport::Auto) => (CACHED_CONNECT_TIMEOUT.min(options.direct_timeout), 1),
        (Known::Cached, _) => (CACHED_CONNECT_TIMEOUT, 1),
        (Known::TheirAnswer, _) => (CACHED_CONNECT_TIMEOUT, tunnel::HANDSHAKE_TRIES),
    };
    let connected = match connect(id, endpoint, timeout, options).await {
        Ok(connected) => connected,
        Err(e) => {
            tracing::debug!(%endpoint, ?known, "the endpoint did not answer ({e}); asking Azure");
            return ControlFlow::Continue(());
        }
    };
    tracing::debug!(%endpoint, ?known, "using the endpoint known already");
    match deliver(id, connected, options, ssh, Handshake { tenant, fresh: None, tries }).await {
        // Only a handshake failure means the cached gateway is wrong; once bytes flowed, it was right. (A hand-over
        // under --fdpass never fails with a tunnel error: the detached relay does the handshake.)
        Err(ProxyError::Tunnel(e))
            if known == Known::Cached
                && !matches!(e, TunnelError::Broken(_) | TunnelError::Closed { .. } | TunnelError::Dead) =>
        {
            tracing::debug!("cached tunnel endpoint failed ({e}); asking Azure again");
            ControlFlow::Continue(())
        }
        done => ControlFlow::Break(done),
    }
}

/// Takes the instance's lookup lock, waiting while another process holds it (and saying so once the wait is
/// long). Cold lookups are single-flight across processes: VS Code, scp and scripts open several connections at
/// once, and each lookup costs a token (a second of `az`) and ARM calls. One process looks up; the others wait
/// for its lock and then take its answer from the cache. A holder that dies releases the lock with it. `None`
/// when the lock cannot be had (the lookup then goes ahead without it).
async fn wait_for_lookup(
    id: &Target,
    cache: &EndpointCache,
    options: &ProxyOptions,
    ssh: &mut SshSide<'_>,
) -> Result<Option<(std::fs::File, Waited)>, ProxyError> {
    let lock_limit = options.azure.timeout.saturating_add(options.start.wait.duration);
    let acquire = cache.lock_lookup(id, lock_limit);
    let notice = tokio::time::sleep(WAIT_NOTICE_AFTER);
    tokio::pin!(acquire, notice);
    let mut noticed = false;
    loop {
        tokio::select! {
            lock = &mut acquire => return Ok(lock),
            // A wait this long is usually for a start: say why this connection is quiet, once.
            () = &mut notice, if !noticed => {
                noticed = true;
                (ssh.events)(Event::WaitingForLookup { name: &id.name() });
            }
            () = ssh_gone(ssh.stdio.as_ref()) => return Err(ProxyError::SshGone { name: id.name() }),
        }
    }
}

/// Under the lookup lock: the endpoint another connection just stored, if this connection may use it.
fn their_answer(id: &Target, cache: &EndpointCache, options: &ProxyOptions) -> Option<Endpoint> {
    let endpoint = cache.fresh(id, options.cache_max_age).filter(|e| e.serves(options.transport))?;
    trusted(&endpoint, options).then(|| {
        tracing::debug!(%endpoint, "another connection just looked the instance up");
        endpoint
    })
}

/// Looks the instance up in Azure (starting it if need be), connects, remembers what worked, lets the waiting
/// connections go (`lock`), and delivers.
async fn look_up_and_deliver(
    id: &Target,
    options: &ProxyOptions,
    ssh: &mut SshSide<'_>,
    cache: Option<&EndpointCache>,
    tenant: Option<&TenantId>,
    lock: Option<(std::fs::File, Waited)>,
) -> Result<(), ProxyError> {
    let resolved = look_up(id, options, ssh, tenant).await?;
    tracing::debug!(endpoint = %resolved.endpoint, transport = resolved.endpoint.transport().name(), "resolved endpoint");
    let (endpoint, connected) = connect_resolved(id, &resolved, options, ssh).await?;
    // What worked is what the next connections try first; after the entry ages out, direct is tried again.
    if let Some(cache) = cache {
        cache.store(id, &endpoint, resolved.tenant.as_ref());
    }
    // Waiting connections may go now: the cache has the answer.
    drop(lock);
    let handshake =
        Handshake { tenant: resolved.tenant.as_ref(), fresh: Some(resolved.token), tries: tunnel::HANDSHAKE_TRIES };
    deliver(id, connected, options, ssh, handshake).await
}

/// The ARM lookup, with start progress as events. A lookup can take minutes while an instance starts; if ssh
/// gives up meanwhile (VS Code's timeout, Ctrl-C), so do we — the start request, once sent, goes on for whoever
/// connects next.
async fn look_up(
    target: &Target,
    options: &ProxyOptions,
    ssh: &mut SshSide<'_>,
    tenant: Option<&TenantId>,
) -> Result<Resolved, ProxyError> {
    let events = &mut *ssh.events;
    let mut progress = |p: Progress<'_>| events(Event::Lifecycle(p));
    let (azure, start) = (&options.azure, &options.start);
    let lookup = async {
        Ok::<_, ProxyError>(match target {
            Target::Instance(id) => {
                resolve::resolve(id, azure, tenant, start, options.transport, &mut progress).await?
            }
            Target::JobNode(node) => job::resolve(node, azure, tenant, start.wait, &mut progress).await?,
        })
    };
    tokio::select! {
        resolved = lookup => resolved,
        () = ssh_gone(ssh.stdio.as_ref()) => Err(ProxyError::SshGone { name: target.name() }),
    }
}

/// Connects to a freshly resolved endpoint. A direct one that does not answer within `--direct-timeout` gives way
/// to its tunnel fallback, if it has one; returns the endpoint that was used.
async fn connect_resolved(
    id: &Target,
    resolved: &Resolved,
    options: &ProxyOptions,
    ssh: &mut SshSide<'_>,
) -> Result<(Endpoint, Connected), ProxyError> {
    match (&resolved.endpoint, &resolved.fallback) {
        (Endpoint::Direct { address }, Some(gateway)) => match connect_direct(*address, options.direct_timeout).await {
            Ok(socket) => Ok((resolved.endpoint.clone(), Connected::Tcp(socket))),
            Err(error) => {
                (ssh.events)(Event::DirectUnreachable { name: &id.name(), address: *address, error: &error });
                Ok((Endpoint::Tunnel { gateway: gateway.gateway().clone() }, Connected::Tunnel(gateway.clone())))
            }
        },
        (endpoint, _) => Ok((endpoint.clone(), connect(id, endpoint, FRESH_CONNECT_TIMEOUT, options).await?)),
    }
}

/// The one place a connection reaches ssh: handed over under `--fdpass`, relayed otherwise.
async fn deliver(
    id: &Target,
    connected: Connected,
    options: &ProxyOptions,
    ssh: &mut SshSide<'_>,
    handshake: Handshake<'_>,
) -> Result<(), ProxyError> {
    if options.fdpass {
        return hand_over(id, connected, options, ssh);
    }
    relay_over(connected, options, ssh, handshake).await
}

/// Ends when ssh is gone (it gave up, or the user pressed Ctrl-C); never, when there is no ssh stream to watch.
async fn ssh_gone(stdio: Option<&Stdio>) {
    match stdio {
        Some(stdio) => stdio::until_peer_gone(stdio).await,
        None => std::future::pending().await,
    }
}

/// A cached gateway is checked as a fresh one is: it gets our token.
fn trusted(endpoint: &Endpoint, options: &ProxyOptions) -> bool {
    match endpoint {
        Endpoint::Tunnel { gateway } if !options.azure.cloud.gateway_allowed(gateway) => {
            tracing::warn!("ignoring a cached gateway outside the Azure ML instance domain: {}", gateway.host);
            false
        }
        _ => true,
    }
}

/// `--fdpass`: gives ssh the connection itself and returns, so the process exits before the first byte of the
/// session. A direct connection is the TCP socket; for the tunnel, ssh gets one end of a socket pair and a
/// detached `azml-ssh` keeps relaying the other end through the WebSocket.
fn hand_over(
    id: &Target,
    connected: Connected,
    options: &ProxyOptions,
    ssh: &mut SshSide<'_>,
) -> Result<(), ProxyError> {
    let stdio = ssh.take_stdio()?;
    match connected {
        Connected::Tcp(socket) => Ok(fdpass::hand_over_socket(&stdio.output, &socket)?),
        Connected::Tunnel(gateway) => {
            // The relay (and its token) starts only once ssh holds its end: a failed hand-over leaves nothing.
            let end = fdpass::hand_over_pair(&stdio.output)?;
            let child = DetachedRelay {
                target: id.clone(),
                gateway: gateway.gateway().clone(),
                auth: options.azure.auth,
                cloud: options.azure.cloud,
                timeout: options.azure.timeout,
            };
            // It reports its own errors on the stderr it inherits, which is ssh's.
            let command = (options.detached_relay)(&child).map_err(ProxyError::Spawn)?;
            fdpass::spawn_detached(command, end).map_err(ProxyError::Spawn)
        }
    }
}

/// The detached relay of a tunnel handed over under `--fdpass`: relays stdin/stdout (a socket from [`hand_over`])
/// through the gateway, with a token for the compute's tenant.
pub(crate) async fn run_detached_relay(
    id: &Target,
    gateway: AllowedGateway,
    options: &ProxyOptions,
    ssh: &mut SshSide<'_>,
) -> Result<(), ProxyError> {
    let cache = EndpointCache::open_default();
    let tenant = cache.as_ref().and_then(|c| c.tenant(id));
    let handshake = Handshake { tenant: tenant.as_ref(), fresh: None, tries: tunnel::HANDSHAKE_TRIES };
    let result = relay_over(Connected::Tunnel(gateway), options, ssh, handshake).await;
    // The parent may have handed over a cached gateway without trying it (it has no handshake of its own): one
    // that is not there (any more) is forgotten, so the next connection asks Azure — which says, for a job that
    // has ended, that it has. A refused token says nothing about the gateway.
    if let (Err(ProxyError::Tunnel(e)), Some(cache)) = (&result, &cache)
        && matches!(
            e,
            TunnelError::NotFound { .. }
                | TunnelError::NotRunning { .. }
                | TunnelError::Dns { .. }
                | TunnelError::Unreachable { .. }
                | TunnelError::Rejected { .. }
        )
    {
        cache.forget(id);
    }
    result
}

async fn connect_direct(address: SocketAddr, timeout: Duration) -> std::io::Result<std::net::TcpStream> {
    tracing::debug!(%address, "trying the direct endpoint");
    relay::connect(address, timeout).await
}

/// The TCP connect for a direct endpoint; the tunnel's handshake happens in [`relay_over`].
async fn connect(
    id: &Target,
    endpoint: &Endpoint,
    timeout: Duration,
    options: &ProxyOptions,
) -> Result<Connected, ProxyError> {
    match endpoint {
        Endpoint::Direct { address } => connect_direct(*address, timeout)
            .await
            .map(Connected::Tcp)
            .map_err(|source| ProxyError::Connect { name: id.name(), addr: *address, source }),
        Endpoint::Tunnel { gateway } => options
            .azure
            .cloud
            .allow(gateway)
            .map(Connected::Tunnel)
            .ok_or_else(|| ProxyError::UntrustedGateway { host: gateway.host.clone() }),
    }
}

/// Relays over the connection. For the tunnel this first performs the handshake (at most `handshake.tries` of
/// them), with the token ARM just accepted or else one signed in to the handshake's tenant.
async fn relay_over(
    connected: Connected,
    options: &ProxyOptions,
    ssh: &mut SshSide<'_>,
    handshake: Handshake<'_>,
) -> Result<(), ProxyError> {
    let Handshake { tenant, fresh, tries } = handshake;
    match connected {
        Connected::Tcp(socket) => {
            let stdio = ssh.take_stdio()?;
            // The relay is plain blocking I/O (see `relay`). It runs right here: the proxy's runtime has one
            // thread and nothing else to do once the session flows, and a thread hand-off would cost every
            // connection its start-up time.
            Ok(relay::over_socket(stdio.input, stdio.output, socket)?)
        }
        Connected::Tunnel(gateway) => {
            let azure = &options.azure;
            // The tunnel's own sign-in (the lookup's token aside) is this connection's talking to Azure.
            let deadline = azure.deadline();
            let mut token = match fresh {
                Some(token) => token,
                None => credential::cached_token(azure.auth, azure.cloud, tenant, &deadline).await?,
            };
            let ws = match tunnel::open(&gateway, token.secret(), tries).await {
                Err(TunnelError::Unauthorized { .. }) if token.from_cache => {
                    // A cached token the gateway no longer accepts: sign in afresh, once.
                    credential::forget_cached(&token);
                    token = credential::cached_token(azure.auth, azure.cloud, tenant, &deadline).await?;
                    tunnel::open(&gateway, token.secret(), tries).await?
                }
                other => other?,
            };
            let stdio = ssh.take_stdio()?;
            let (result, held) = tunnel::relay_holding(ws, stdio.input, stdio.output).await;
            if let Some(output) = held {
                // ssh kills its ProxyCommand once our output ends: closed only by our exit, which comes after the
                // error line, so ssh's user sees why the tunnel broke.
                std::mem::forget(output);
            }
            Ok(result?)
        }
    }
}
