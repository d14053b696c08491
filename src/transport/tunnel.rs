//! The Azure ML WebSocket tunnel, for instances without public SSH and for the nodes of training jobs: the SSH
//! stream travels as binary WebSocket messages through a gateway, authenticated with an ARM token — an instance's
//! (`wss://<jupyter host>/nbip/v1.0/ws-tcp/port/22`) or a job node's (`<ProxyEndpoint>/nbip/v1.0/ws-tcp`, the
//! node's sshd being the service behind it). This is what `az ml compute connect-ssh` and `az ml job connect-ssh`
//! do, without Python.
//!
//! Only the opening handshake is retried: once bytes have flowed, an SSH session cannot resume on a new socket, so
//! a broken tunnel ends the session with an error and ssh reports it.

use std::io::{Read, Write};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::transport::http_proxy::{self, HttpProxyError};
use crate::transport::stdio::{Descriptor, OutputWatch, finish_output};
use crate::transport::tls::{self, TlsError};
use crate::util::deadline::{Budget, TimedOut};
use crate::util::text::error_chain;

/// The tunnel of a compute instance names the port; a job node's gateway fronts its SSH service alone.
const INSTANCE_PATH: &str = "/nbip/v1.0/ws-tcp/port/22";
const JOB_NODE_PATH: &str = "/nbip/v1.0/ws-tcp";
/// Handshakes tried for a fresh endpoint: enough to ride out the gateway's 502s while an instance finishes starting.
pub(crate) const HANDSHAKE_TRIES: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long one handshake may take, from resolving the gateway's name to its answer.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// A ping every 20 s (as the Azure CLI does) keeps idle-timeout middleboxes quiet; no pong by the next ping means
/// the link is dead.
const PING_INTERVAL: Duration = Duration::from_secs(20);
/// After stdin's end, how long the gateway may stay silent before we close: as the Azure CLI does, our end of
/// input is not the end of the server's output (WebSocket has no half-close).
const EOF_GRACE: Duration = Duration::from_secs(5);
/// After our close, how long the gateway has to answer it.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// What one stdin read (and so one message to the gateway) holds at most: large reads mean few messages in a
/// bulk transfer; ssh's interactive packets are small anyway. Within the gateway's 1 MiB message limit.
const CHUNK: usize = 256 * 1024;
/// The largest message (and frame) accepted from the gateway: the Azure CLI's client accepts 1 MiB, so no
/// gateway sends more. Together with [`OUTPUT_QUEUE`] this bounds what a gateway can make us buffer while ssh is
/// not reading (backpressure instead of memory).
const MAX_MESSAGE: usize = 1 << 20;
const OUTPUT_QUEUE: usize = 8;

/// The WebSocket limits of every tunnel.
pub(crate) fn websocket_config() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
        .write_buffer_size(256 * 1024)
        .max_write_buffer_size(4 * MAX_MESSAGE)
}

/// What a gateway fronts, which decides its path and the domains it must be under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewayService {
    /// A compute instance (port 22 of it).
    #[default]
    Instance,
    /// One node of a training job, through its SSH service.
    JobNode,
}

/// The gateway of one instance (the host and port of its Jupyter application URL) or of one job node (its SSH
/// service's `ProxyEndpoint`). The domain is taken from Azure, never built, because it differs between clouds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gateway {
    /// The gateway's DNS name, e.g. `ci1.eastus2.instances.azureml.ms`.
    pub host: String,
    /// Its TLS port (443 in Azure).
    pub port: u16,
    /// What it fronts; entries cached before jobs existed are instances'.
    #[serde(default)]
    pub service: GatewayService,
}

impl Gateway {
    /// From the instance's Jupyter application URL (`https://<host>[:port]/...`). Only https and a plain DNS name
    /// are accepted: the host goes into TLS, an HTTP request line and possibly a proxy's CONNECT line.
    pub(crate) fn from_url(endpoint_uri: &str) -> Option<Gateway> {
        let url = reqwest::Url::parse(endpoint_uri).ok()?;
        if url.scheme() != "https" {
            return None;
        }
        Some(Gateway { port: url.port().unwrap_or(443), host: plain_host(&url)?, service: GatewayService::Instance })
    }

    /// From a job node's `ProxyEndpoint` (`wss://ssh-<id>.<region>.nodes.azureml.ms`), with `<nodeIndex>`
    /// replaced as the Azure CLI does. It is a base URL only: a path, query, user or plain `ws://` is refused, as
    /// the hardened Azure CLI connector refuses them.
    pub(crate) fn job_node(proxy_endpoint: &str, node: u32) -> Option<Gateway> {
        let text = proxy_endpoint.replace("<nodeIndex>", &node.to_string());
        let url = reqwest::Url::parse(&text).ok()?;
        let plain = url.path().trim_end_matches('/').is_empty()
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none();
        if !matches!(url.scheme(), "wss" | "https") || !plain {
            return None;
        }
        Some(Gateway { port: url.port().unwrap_or(443), host: plain_host(&url)?, service: GatewayService::JobNode })
    }

    fn url(&self) -> String {
        let path = match self.service {
            GatewayService::Instance => INSTANCE_PATH,
            GatewayService::JobNode => JOB_NODE_PATH,
        };
        match self.port {
            443 => format!("wss://{}{path}", self.host),
            port => format!("wss://{}:{port}{path}", self.host),
        }
    }
}

/// A URL's host, if it is a plain DNS name: it goes into TLS, an HTTP request line and possibly a proxy's CONNECT
/// line.
fn plain_host(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?.to_ascii_lowercase();
    let plain = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    plain.then_some(host)
}

/// The domains a gateway must be under before it gets a bearer token: the cloud's Azure ML instance domains, or
/// the user's list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GatewayDomains(Vec<String>);

impl GatewayDomains {
    pub fn new(domains: impl IntoIterator<Item = String>) -> Self {
        GatewayDomains(
            domains
                .into_iter()
                .map(|d| d.trim().trim_start_matches('.').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
        )
    }

    /// Whether `host` is one of the domains or under one.
    pub(crate) fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.0.iter().any(|d| host == *d || host.ends_with(&format!(".{d}")))
    }

    pub fn names(&self) -> &[String] {
        &self.0
    }
}

/// A gateway that passed the allow-list: the only kind `open` accepts, so no code path can send a token to a
/// gateway that was not checked. Only `AllowedGateway::check` makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedGateway(Gateway);

impl AllowedGateway {
    pub(crate) fn check(gateway: &Gateway, domains: &GatewayDomains) -> Option<AllowedGateway> {
        domains.allows(&gateway.host).then(|| AllowedGateway(gateway.clone()))
    }

    /// The gateway that passed the check.
    pub fn gateway(&self) -> &Gateway {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum TunnelError {
    #[error(
        "the gateway {host} is outside the Azure ML gateway domains, so it gets no token; set AZML_SSH_GATEWAY_DOMAINS if your cloud uses another domain"
    )]
    Untrusted { host: String },
    #[error("the Azure ML gateway {host} refused the sign-in (HTTP 401); run `az login` again")]
    Unauthorized { host: String },
    #[error("the Azure ML gateway {host} refused access (HTTP 403): {}", connect_remedy(*.service))]
    Forbidden { host: String, service: GatewayService },
    #[error("the Azure ML gateway {host} does not know this {} (HTTP 404); {}", service.noun(), gone_remedy(*.service))]
    NotFound { host: String, service: GatewayService },
    #[error(
        "the Azure ML gateway {host} answered HTTP {status} after {tries} tries: the {} is not running or is still starting; try again in a minute",
        service.noun()
    )]
    NotRunning { host: String, status: u16, tries: u32, service: GatewayService },
    #[error(
        "the Azure ML gateway {host} answered HTTP {status}; try again, and if it persists run with -v and report it"
    )]
    Rejected { host: String, status: u16 },
    #[error(
        "cannot resolve {host}: the workspace most likely uses a private endpoint whose private DNS zones (privatelink.api.azureml.ms, instances.azureml.ms) this machine cannot see; connect the VPN, use the private DNS server, or add a hosts entry for it"
    )]
    Dns { host: String },
    #[error(
        "cannot reach the Azure ML gateway {host}:{port} after {tries} tries: {reason}; check that port 443 is open to it (or set HTTPS_PROXY)"
    )]
    Unreachable { host: String, port: u16, tries: u32, reason: String },
    #[error(transparent)]
    HttpProxy(#[from] HttpProxyError),
    #[error(
        "the tunnel was closed by the gateway with code {code}{reason}; connect again (an SSH session cannot resume)"
    )]
    Closed { code: u16, reason: String },
    #[error("the tunnel connection broke: {0}; connect again (an SSH session cannot resume)")]
    Broken(String),
    #[error("the tunnel stopped answering pings; the network connection is probably gone: connect again")]
    Dead,
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    #[error("cannot set up TLS: {0}")]
    Trust(#[from] TlsError),
}

impl GatewayService {
    fn noun(self) -> &'static str {
        match self {
            GatewayService::Instance => "instance",
            GatewayService::JobNode => "job node",
        }
    }
}

fn connect_remedy(service: GatewayService) -> &'static str {
    match service {
        GatewayService::Instance => {
            "only the instance's assigned user (or someone with access to the workspace) may connect"
        }
        GatewayService::JobNode => "only the user who submitted the job may connect to its nodes",
    }
}

fn gone_remedy(service: GatewayService) -> &'static str {
    match service {
        GatewayService::Instance => "it may have been deleted or recreated: run `azml-ssh config` again",
        GatewayService::JobNode => "the job may have ended: connect again to see its state",
    }
}

impl TunnelError {
    /// Whether another handshake might succeed.
    fn is_transient(&self) -> bool {
        matches!(self, TunnelError::NotRunning { .. } | TunnelError::Unreachable { .. })
    }
}

/// Opens the tunnel, retrying only the handshake (capped exponential backoff) on 502/503/504 and connection
/// failures.
pub(crate) async fn open(
    gateway: &AllowedGateway,
    token: &str,
    max_tries: u32,
) -> Result<WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>, TunnelError> {
    let gateway = gateway.gateway();
    let tls = tls::client_config()?;
    let mut backoff = FIRST_BACKOFF;
    let mut tries = 0;
    loop {
        tries += 1;
        let attempt = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(gateway, token, tls.clone(), tries));
        let error = match attempt.await {
            Ok(Ok(ws)) => return Ok(ws),
            Ok(Err(e)) => e,
            Err(_) => TunnelError::Unreachable {
                host: gateway.host.clone(),
                port: gateway.port,
                tries,
                reason: TimedOut::new("the handshake", HANDSHAKE_TIMEOUT, Budget::Builtin).to_string(),
            },
        };
        if !error.is_transient() || tries >= max_tries {
            return Err(error);
        }
        tracing::debug!("tunnel handshake {tries} failed ({error}); retrying in {backoff:?}");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn handshake(
    gateway: &Gateway,
    token: &str,
    tls: std::sync::Arc<rustls::ClientConfig>,
    tries: u32,
) -> Result<WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>, TunnelError> {
    let host = gateway.host.clone();
    let unreachable =
        |reason: String| TunnelError::Unreachable { host: host.clone(), port: gateway.port, tries, reason };
    let tcp = match http_proxy::for_host(&gateway.host) {
        Some(proxy) => {
            tracing::debug!(proxy = %proxy.host, "tunnel through HTTPS proxy");
            http_proxy::connect(&proxy, &gateway.host, gateway.port).await?
        }
        None => {
            // Resolved apart from connecting, so a name that does not resolve is told as such on every platform
            // (the resolver's wording differs): for a gateway, that is almost always private-endpoint DNS.
            let addresses: Vec<std::net::SocketAddr> =
                match tokio::net::lookup_host((gateway.host.as_str(), gateway.port)).await {
                    Ok(found) => found.collect(),
                    Err(_) => return Err(TunnelError::Dns { host }),
                };
            if addresses.is_empty() {
                return Err(TunnelError::Dns { host });
            }
            TcpStream::connect(addresses.as_slice()).await.map_err(|e| unreachable(e.to_string()))?
        }
    };
    let _ = tcp.set_nodelay(true);
    let name = rustls::pki_types::ServerName::try_from(gateway.host.clone())
        .map_err(|e| TunnelError::Tls(format!("{}: {e}", gateway.host)))?;
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| TunnelError::Tls(format!("with {}: {}", gateway.host, error_chain(&e))))?;

    let mut request = gateway.url().into_client_request().map_err(|e| unreachable(e.to_string()))?;
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| unreachable("unusable token".into()))?;
    request.headers_mut().insert("Authorization", bearer);
    tracing::debug!(url = %gateway.url(), "tunnel handshake");
    match tokio_tungstenite::client_async_with_config(request, stream, Some(websocket_config())).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            Err(match status {
                401 => TunnelError::Unauthorized { host },
                403 => TunnelError::Forbidden { host, service: gateway.service },
                404 => TunnelError::NotFound { host, service: gateway.service },
                502..=504 => TunnelError::NotRunning { host, status, tries, service: gateway.service },
                _ => TunnelError::Rejected { host, status },
            })
        }
        Err(e) => Err(unreachable(error_chain(&e))),
    }
}

/// Where a tunnel session stands. WebSocket has no half-close, so the end of ssh's input cannot be passed on to
/// the gateway: instead the session stops sending and moves through these phases towards a close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// ssh and the gateway are both still sending.
    BothDirections,
    /// ssh has finished sending; the gateway may not have (a download's tail). If it stays quiet until `close_at`
    /// we close; then it has `close_wait` to answer.
    SshFinished { close_at: Instant, close_wait: Duration },
    /// We have sent our close; past `give_up_at` we stop waiting for the gateway's answer.
    CloseSent { give_up_at: Instant },
}

impl Phase {
    /// As the Azure CLI does, our end of input is not the end of the server's output: keep reading, and close
    /// only once the gateway goes quiet — at once when ssh has gone altogether, as nobody is left to read, and
    /// then without waiting long for the answer either.
    fn ssh_finished(ssh_gone: bool) -> Phase {
        let now = Instant::now();
        match ssh_gone {
            true => Phase::SshFinished { close_at: now, close_wait: Duration::from_secs(1) },
            false => Phase::SshFinished { close_at: now + EOF_GRACE, close_wait: CLOSE_WAIT },
        }
    }

    /// When this phase ends unless something happens first; none while both directions are open.
    fn deadline(self) -> Option<Instant> {
        match self {
            Phase::BothDirections => None,
            Phase::SshFinished { close_at, .. } => Some(close_at),
            Phase::CloseSent { give_up_at } => Some(give_up_at),
        }
    }

    /// Whether something of ours may still be in flight: only then is a lost connection or an odd close a loss.
    fn ssh_sending(self) -> bool {
        self == Phase::BothDirections
    }
}

/// What an event leaves of the session: it goes on, or it has ended cleanly (a failure is an `Err` instead).
enum Next {
    Continue,
    Finished,
}

type Step = Result<Next, TunnelError>;

/// One tunnel flow (one ssh session through the gateway): the WebSocket, ssh's input as the reading thread delivers it, and the queue to the thread
/// that writes ssh's output.
struct Flow<S> {
    sink: SplitSink<WebSocketStream<S>, Message>,
    source: SplitStream<WebSocketStream<S>>,
    input: tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    output: tokio::sync::mpsc::Sender<tungstenite::Bytes>,
    /// To tell, at stdin's end, whether ssh itself has gone (then nobody waits for more output).
    output_watch: Option<OutputWatch>,
    phase: Phase,
    /// A ping is out and unanswered: if it still is when the next one is due, the link is dead.
    awaiting_pong: bool,
}

/// Relays stdin and stdout over the open tunnel until it closes. At stdin's end we stop sending and keep
/// receiving until the gateway closes (or, after a grace period, close ourselves); from then on any close is a
/// clean end. Before it, the gateway's close 1000/1001 ends cleanly, anything else is an error.
#[cfg(test)]
pub(crate) async fn relay<S, R, W>(ws: WebSocketStream<S>, input: R, output: W) -> Result<(), TunnelError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    R: Read + Send + 'static,
    W: Write + Descriptor + Send + 'static,
{
    relay_holding(ws, input, output).await.0
}

/// [`relay`], except that on an error ssh's output is handed back still open, everything the gateway sent
/// written to it. ssh kills its ProxyCommand as soon as the proxy's output ends, so the output must stay open
/// until the error line has been written, or ssh may show no reason at all.
pub(crate) async fn relay_holding<S, R, W>(
    ws: WebSocketStream<S>,
    input: R,
    output: W,
) -> (Result<(), TunnelError>, Option<W>)
where
    S: AsyncRead + AsyncWrite + Unpin,
    R: Read + Send + 'static,
    W: Write + Descriptor + Send + 'static,
{
    let (sink, source) = ws.split();
    let output_watch = OutputWatch::new(&output);
    let (in_tx, in_rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    let (out_tx, out_rx) = tokio::sync::mpsc::channel::<tungstenite::Bytes>(OUTPUT_QUEUE);
    let hold = Arc::new(AtomicBool::new(false));
    let hold_for_writer = hold.clone();
    std::thread::spawn(move || read_stdin(input, in_tx));
    let writer = std::thread::spawn(move || write_stdout(output, out_rx, &hold_for_writer));
    let mut session = Flow {
        sink,
        source,
        input: in_rx,
        output: out_tx,
        output_watch,
        phase: Phase::BothDirections,
        awaiting_pong: false,
    };
    let result = session.run().await;
    hold.store(result.is_err(), Ordering::SeqCst);
    // The writer ends once its queue is closed, and only then is everything the gateway sent in ssh's hands.
    drop(session.output);
    let held = writer.join().ok().and_then(Result::ok).flatten();
    (result, held)
}

impl<S: AsyncRead + AsyncWrite + Unpin> Flow<S> {
    async fn run(&mut self) -> Result<(), TunnelError> {
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.tick().await; // The first tick is immediate; the first ping is due one interval from now.
        loop {
            let deadline = self.phase.deadline();
            let step = tokio::select! {
                chunk = self.input.recv(), if self.phase.ssh_sending() => self.on_ssh_input(chunk).await,
                _ = sleep_until(deadline) => self.on_deadline().await,
                message = self.source.next() => self.on_gateway_message(message).await,
                _ = ping.tick() => self.on_ping_due().await,
            };
            if let Next::Finished = step? {
                return Ok(());
            }
        }
    }

    /// A chunk of ssh's input, or its end.
    async fn on_ssh_input(&mut self, chunk: Option<std::io::Result<Vec<u8>>>) -> Step {
        match chunk {
            Some(Ok(data)) => {
                // Queue the message and flush only when stdin has nothing more ready: a bulk transfer then goes
                // out in large TLS writes, an interactive keystroke at once.
                self.sink.feed(Message::Binary(data.into())).await.map_err(broken)?;
                if self.input.is_empty() {
                    self.sink.flush().await.map_err(broken)?;
                }
            }
            Some(Err(e)) => return Err(TunnelError::Broken(format!("reading stdin: {e}"))),
            None => self.phase = Phase::ssh_finished(self.output_watch.as_ref().is_some_and(OutputWatch::gone)),
        }
        Ok(Next::Continue)
    }

    /// The phase's deadline: the gateway stayed quiet after ssh finished, or never answered our close.
    async fn on_deadline(&mut self) -> Step {
        let close_wait = match self.phase {
            Phase::SshFinished { close_wait, .. } => close_wait,
            // Nothing of the session is lost without the gateway's answer to our close.
            Phase::CloseSent { .. } => return Ok(Next::Finished),
            Phase::BothDirections => return Ok(Next::Continue), // has no deadline
        };
        self.phase = Phase::CloseSent { give_up_at: Instant::now() + close_wait };
        let close = CloseFrame { code: CloseCode::Normal, reason: "".into() };
        match self.sink.send(Message::Close(Some(close))).await {
            Ok(()) => Ok(Next::Continue),
            // A gateway that cannot take our close has gone already, and ssh had finished: a clean end.
            Err(_) => Ok(Next::Finished),
        }
    }

    /// A message from the gateway, an error, or the connection's end.
    async fn on_gateway_message(&mut self, message: Option<Result<Message, tungstenite::Error>>) -> Step {
        match message {
            Some(Ok(Message::Binary(data))) => {
                if let Next::Finished = self.hand_to_ssh(data).await {
                    return Ok(Next::Finished);
                }
                // After ssh's end of input, the grace period counts from the gateway's last word: a download that
                // is still flowing is never cut short.
                if let Phase::SshFinished { close_at, .. } = &mut self.phase {
                    *close_at = Instant::now() + EOF_GRACE;
                }
                Ok(Next::Continue)
            }
            Some(Ok(Message::Text(text))) => {
                Ok(self.hand_to_ssh(tungstenite::Bytes::from(text.as_bytes().to_vec())).await)
            }
            // tungstenite queues the pong; flushing sends it.
            Some(Ok(Message::Ping(_))) => self.sink.flush().await.map(|()| Next::Continue).map_err(broken),
            Some(Ok(Message::Pong(_))) => {
                self.awaiting_pong = false;
                Ok(Next::Continue)
            }
            Some(Ok(Message::Close(frame))) => {
                let _ = self.sink.flush().await; // tungstenite has queued the answer to the close
                self.closed_by_gateway(frame)
            }
            Some(Ok(Message::Frame(_))) => Ok(Next::Continue),
            Some(Err(e)) if !is_dropped(&e) && self.phase.ssh_sending() => Err(broken(e)),
            // After ssh's end of input nothing of ours is in flight, so a connection dropped without a close loses
            // nothing.
            _ if !self.phase.ssh_sending() => Ok(Next::Finished),
            _ => Err(TunnelError::Broken("the gateway dropped the connection without closing it".into())),
        }
    }

    /// Hands the gateway's bytes to the writer; if ssh has closed its end, the session is over from its side.
    async fn hand_to_ssh(&mut self, data: tungstenite::Bytes) -> Next {
        match self.output.send(data).await {
            Ok(()) => Next::Continue,
            Err(_) => Next::Finished,
        }
    }

    /// The gateway closed: cleanly, unless it did so while ssh was still sending with a code other than
    /// 1000/1001.
    fn closed_by_gateway(&self, frame: Option<CloseFrame>) -> Step {
        match frame {
            _ if !self.phase.ssh_sending() => Ok(Next::Finished),
            None => Ok(Next::Finished),
            Some(f) if matches!(f.code, CloseCode::Normal | CloseCode::Away) => Ok(Next::Finished),
            Some(f) => {
                let reason = if f.reason.is_empty() { String::new() } else { format!(" ({})", f.reason) };
                Err(TunnelError::Closed { code: f.code.into(), reason })
            }
        }
    }

    /// A ping is due: the last one must have been answered by now.
    async fn on_ping_due(&mut self) -> Step {
        if self.awaiting_pong {
            return Err(TunnelError::Dead);
        }
        self.awaiting_pong = true;
        self.sink.send(Message::Ping(tungstenite::Bytes::new())).await.map_err(broken)?;
        Ok(Next::Continue)
    }
}

/// Sleeps until `deadline`; without one, forever.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn broken(e: tungstenite::Error) -> TunnelError {
    TunnelError::Broken(error_chain(&e))
}

/// The connection ended without a close frame: EOF, or TLS without close_notify.
fn is_dropped(e: &tungstenite::Error) -> bool {
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => true,
        tungstenite::Error::Io(io) => {
            matches!(io.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset)
        }
        tungstenite::Error::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => true,
        _ => false,
    }
}

/// Writes the gateway's bytes to ssh until the queue closes, then ends the output: dropping it closes ssh's end,
/// so ssh sees the end of the session at once — unless `hold` says the session failed, in which case the output
/// is handed back open for the caller to close after saying why.
fn write_stdout<W: Write + Descriptor>(
    mut output: W,
    mut queue: tokio::sync::mpsc::Receiver<tungstenite::Bytes>,
    hold: &AtomicBool,
) -> std::io::Result<Option<W>> {
    while let Some(data) = queue.blocking_recv() {
        output.write_all(&data)?;
    }
    if hold.load(Ordering::SeqCst) {
        output.flush()?;
        return Ok(Some(output));
    }
    finish_output(output).map(|()| None)
}

fn read_stdin(mut input: impl Read, tx: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>) {
    let mut buffer = vec![0u8; CHUNK];
    loop {
        match input.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => {
                if tx.blocking_send(Ok(buffer[..n].to_vec())).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_urls_keep_host_and_port() {
        let gateway = Gateway::from_url("https://ci1.eastus2.instances.azureml.ms/tree/").unwrap();
        let host = "ci1.eastus2.instances.azureml.ms".into();
        assert_eq!(gateway, Gateway { host, port: 443, service: GatewayService::Instance });
        assert_eq!(gateway.url(), "wss://ci1.eastus2.instances.azureml.ms/nbip/v1.0/ws-tcp/port/22");
        let local = Gateway::from_url("https://localhost:8443/tree/").unwrap();
        assert_eq!(local.url(), "wss://localhost:8443/nbip/v1.0/ws-tcp/port/22");
    }

    /// Whatever bytes a gateway sends after the handshake — garbage, oversized frames, floods — the relay ends
    /// with an answer (clean or an error), never a panic, and never buffers more than the limits allow.
    fn relay_against(server_bytes: Vec<u8>) -> Result<(), TunnelError> {
        use tokio::io::AsyncWriteExt;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let (client, mut server) = tokio::io::duplex(64 * 1024);
            let ws =
                WebSocketStream::from_raw_socket(client, tungstenite::protocol::Role::Client, Some(websocket_config()))
                    .await;
            tokio::spawn(async move {
                let _ = server.write_all(&server_bytes).await;
                let _ = server.shutdown().await;
                // Keep reading what the client sends (pings, close) until it is done.
                let mut sink = Vec::new();
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut server, &mut sink).await;
            });
            // stdin: a pipe that stays open; stdout: a pipe nobody reads beyond what the kernel buffers.
            let (input, _keep_open) = std::io::pipe().unwrap();
            let (mut reader, output) = std::io::pipe().unwrap();
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
            });
            tokio::time::timeout(Duration::from_secs(30), relay(ws, input, output)).await.expect("the relay ends")
        })
    }

    /// A WebSocket frame as a server sends it (unmasked), with the length encoded as RFC 6455 says.
    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => out.push(n as u8),
            n if n <= 0xffff => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn oversized_and_malformed_frames_end_the_tunnel_with_an_error() {
        // A 2 MiB message: over the limit, refused rather than buffered.
        let huge = frame(0x2, &vec![7u8; 2 << 20]);
        let refused = relay_against(huge);
        assert!(matches!(&refused, Err(TunnelError::Broken(m)) if m.contains("too long")), "{refused:?}");
        // A frame header that claims 2^63 bytes.
        let mut lying = vec![0x82, 127];
        lying.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert!(relay_against(lying).is_err());
        // Binary data then a normal close: a clean end.
        let mut fine = frame(0x2, b"SSH-2.0-OpenSSH_9.6\r\n");
        fine.extend(frame(0x8, &1000u16.to_be_bytes()));
        assert!(relay_against(fine).is_ok());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn random_bytes_from_a_gateway_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096)) {
            let _ = relay_against(bytes);
        }

        #[test]
        fn random_frames_from_a_gateway_never_panic(
            frames in proptest::collection::vec((0u8..16, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)), 0..20)
        ) {
            let bytes: Vec<u8> = frames.iter().flat_map(|(opcode, payload)| frame(*opcode, payload)).collect();
            let _ = relay_against(bytes);
        }
    }

    /// Runs the relay on paused time (timers fire as soon as nothing else can happen) against `gateway`, which
    /// plays the server's side of the connection; ssh's input is `input`, its output is drained.
    fn relay_on_paused_time<G, F>(input: impl Read + Send + 'static, gateway: G) -> Result<(), TunnelError>
    where
        G: FnOnce(tokio::io::DuplexStream) -> F,
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        relay_on(input, gateway, true)
    }

    /// With `paused` time, the runtime jumps to the next timer whenever it idles: right only while nothing but the
    /// gateway and the timers can wake the relay (no input ever arrives, or it never ends).
    fn relay_on<G, F>(input: impl Read + Send + 'static, gateway: G, paused: bool) -> Result<(), TunnelError>
    where
        G: FnOnce(tokio::io::DuplexStream) -> F,
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(paused).build().unwrap();
        runtime.block_on(async move {
            let (client, server) = tokio::io::duplex(64 * 1024);
            let ws = WebSocketStream::from_raw_socket(client, tungstenite::protocol::Role::Client, None).await;
            tokio::spawn(gateway(server));
            let (mut reader, output) = std::io::pipe().unwrap();
            std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
            relay(ws, input, output).await
        })
    }

    /// A gateway that reads everything and answers nothing, not even pings.
    async fn deaf_gateway(mut server: tokio::io::DuplexStream) {
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut server, &mut Vec::new()).await;
    }

    #[test]
    fn a_ping_unanswered_when_the_next_is_due_means_the_link_is_dead() {
        let (input, _keep_open) = std::io::pipe().unwrap();
        let dead = relay_on_paused_time(input, deaf_gateway);
        assert!(matches!(dead, Err(TunnelError::Dead)), "{dead:?}");
    }

    #[test]
    fn while_ssh_sends_only_a_normal_close_is_a_clean_end() {
        // A gateway that answers pings (tungstenite does so while reading) for a minute, then closes with 4000.
        let gateway = |server| async move {
            let mut ws = WebSocketStream::from_raw_socket(server, tungstenite::protocol::Role::Server, None).await;
            let mut pings = 0;
            while pings < 3 {
                match ws.next().await {
                    Some(Ok(Message::Ping(_))) => pings += 1,
                    Some(Ok(_)) => {}
                    _ => return,
                }
            }
            let _ = ws.close(Some(CloseFrame { code: CloseCode::Library(4000), reason: "bye".into() })).await;
            while ws.next().await.is_some() {}
        };
        let (input, _keep_open) = std::io::pipe().unwrap();
        let closed = relay_on_paused_time(input, gateway);
        assert!(matches!(&closed, Err(TunnelError::Closed { code: 4000, .. })), "{closed:?}");
        let message = closed.unwrap_err().to_string();
        assert_eq!(
            message,
            "the tunnel was closed by the gateway with code 4000 (bye); connect again (an SSH session cannot resume)"
        );
    }

    #[test]
    fn after_ssh_finishes_a_quiet_gateway_is_closed_after_the_grace_and_any_answer_is_clean() {
        let (got_close, seen) = std::sync::mpsc::channel();
        // Reads the client's (masked, small) frames; answers its close with 4000, which would be an error before.
        let gateway = move |mut server: tokio::io::DuplexStream| async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let started = Instant::now();
            let mut header = [0u8; 2];
            while server.read_exact(&mut header).await.is_ok() {
                let mut rest = vec![0u8; 4 + usize::from(header[1] & 0x7f)];
                if server.read_exact(&mut rest).await.is_err() {
                    return;
                }
                let payload: Vec<u8> = rest[4..].iter().enumerate().map(|(i, b)| b ^ rest[i % 4]).collect();
                if header[0] & 0x0f == 0x8 {
                    let _ = got_close.send((payload, started.elapsed()));
                    let _ = server.write_all(&frame(0x8, &4000u16.to_be_bytes())).await;
                }
            }
        };
        // On real time: the end of the input comes from the reader thread, and paused time could jump past the
        // grace (to pings and a dead link) before that thread has told the relay.
        assert!(relay_on(std::io::empty(), gateway, false).is_ok());
        let (payload, after) = seen.recv().unwrap();
        assert_eq!(payload, 1000u16.to_be_bytes(), "a normal close");
        assert!(after >= EOF_GRACE, "closed after {after:?}, before the grace period");
    }

    #[test]
    fn odd_gateway_urls_are_refused() {
        for uri in ["http://ci1.example/tree", "https://user@[::1]/", "not a url", "https://a_b.example/"] {
            assert_eq!(Gateway::from_url(uri), None, "{uri}");
        }
    }

    #[test]
    fn job_node_gateways_are_base_urls_with_the_node_filled_in() {
        let node = Gateway::job_node("wss://ssh-abc.eastus2euap.nodes.azureml.ms/", 0).unwrap();
        assert_eq!(node.url(), "wss://ssh-abc.eastus2euap.nodes.azureml.ms/nbip/v1.0/ws-tcp");
        assert_eq!(node.service, GatewayService::JobNode);
        let indexed = Gateway::job_node("wss://node-<nodeIndex>.example:8443", 3).unwrap();
        assert_eq!(indexed.url(), "wss://node-3.example:8443/nbip/v1.0/ws-tcp");
        assert_eq!(Gateway::job_node("https://SSH-abc.example", 0).unwrap().host, "ssh-abc.example");
        for bad in [
            "ws://ssh-abc.example",
            "wss://ssh-abc.example/other",
            "wss://ssh-abc.example/?x=1",
            "wss://user@ssh-abc.example",
            "wss://ssh abc.example",
            "wss://a_b.example",
            "",
        ] {
            assert_eq!(Gateway::job_node(bad, 0), None, "{bad}");
        }
    }
}
