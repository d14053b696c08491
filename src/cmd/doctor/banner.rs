//! The SSH banner probe of `azml-ssh doctor`: does the instance's sshd greet us, directly or through the tunnel?
//!
//! Both ways collect the greeting and judge it by the same rule, and each probe is bounded as a whole, so one
//! instance that accepts connections and then says nothing costs its own check a few seconds and no more.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::transport::tunnel::{self, AllowedGateway, Gateway, GatewayDomains, TunnelError};
use crate::util::deadline::{Budget, TimedOut};
use crate::util::text::one_line_max;

/// How long sshd may take to greet once it is reached (for a direct probe, reaching it included).
pub(crate) const BANNER_WAIT: Duration = Duration::from_secs(5);
/// After the greeting, how long closing the tunnel may take: the probe's answer is in, so not long.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// The most a probe through the tunnel takes: one handshake, the greeting, the close.
pub(crate) const TUNNEL_LIMIT: Duration =
    tunnel::HANDSHAKE_TIMEOUT.saturating_add(BANNER_WAIT).saturating_add(CLOSE_WAIT);
/// Enough of a greeting to judge it: SSH's identification line is at most 255 bytes with its CR LF.
const GREETING_MAX: usize = 256;

/// Why no SSH banner came.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BannerError {
    /// The connection could not be made, or broke before a greeting.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Connected, and then nothing: sshd hangs, or something that never speaks first holds the port.
    #[error(transparent)]
    Silent(TimedOut),
    /// Connected, and the connection ended before a single byte.
    #[error("it closed the connection without a greeting")]
    Closed,
    /// Something answered, but its first line is not an SSH 2 banner (a web server on the port, say).
    #[error("it answered, but not with an SSH banner ({0:?})")]
    NotSsh(String),
    /// The tunnel itself failed: untrusted gateway, refused handshake, DNS, …
    #[error(transparent)]
    Tunnel(#[from] TunnelError),
}

/// No greeting within `limit`.
fn silent(limit: Duration) -> BannerError {
    BannerError::Silent(TimedOut::new("the SSH greeting", limit, Budget::Builtin))
}

/// Where to look for sshd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// TCP to the instance's public address.
    Direct(SocketAddr),
    /// Through the Azure ML tunnel of this gateway.
    Tunnel(Gateway),
}

/// What the probes of one instance found: the first route's answer and, only when that failed and a
/// connection would fall back on a tunnel, the tunnel's answer.
#[derive(Debug)]
pub(crate) struct Report {
    /// The first route's banner, or why none came.
    pub first: Result<String, BannerError>,
    /// The fallback tunnel and its answer, if it was tried.
    pub fallback: Option<(Gateway, Result<String, BannerError>)>,
}

/// Probes `first`, then — if it does not answer — the `fallback` tunnel, as a connection would. Tunnels get the
/// token only when their gateway is under `domains`. Each probe is bounded: [`BANNER_WAIT`] for a direct one,
/// [`TUNNEL_LIMIT`] through the tunnel.
pub(crate) async fn probe(first: &Route, fallback: Option<Gateway>, domains: &GatewayDomains, token: &str) -> Report {
    let first = match first {
        Route::Direct(address) => direct(*address).await,
        Route::Tunnel(gateway) => through_tunnel(gateway, domains, token).await,
    };
    let fallback = match (&first, fallback) {
        (Err(_), Some(gateway)) => {
            let answer = through_tunnel(&gateway, domains, token).await;
            Some((gateway, answer))
        }
        _ => None,
    };
    Report { first, fallback }
}

/// sshd's banner at `address`, over TCP, within [`BANNER_WAIT`] (the connection included).
pub async fn direct(address: SocketAddr) -> Result<String, BannerError> {
    let mut received = Vec::new();
    let greeting = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        receive(&mut stream, &mut received).await
    };
    let outcome = tokio::time::timeout(BANNER_WAIT, greeting).await;
    conclude(outcome, &received, BANNER_WAIT)
}

/// sshd's banner through the tunnel to `gateway`, which gets the token only if it is under `domains`: one
/// handshake, then the greeting within [`BANNER_WAIT`]; the whole within [`TUNNEL_LIMIT`].
pub(crate) async fn through_tunnel(
    gateway: &Gateway,
    domains: &GatewayDomains,
    token: &str,
) -> Result<String, BannerError> {
    let allowed =
        AllowedGateway::check(gateway, domains).ok_or_else(|| TunnelError::Untrusted { host: gateway.host.clone() })?;
    let probe = async {
        let mut ws = tunnel::open(&allowed, token, 1).await?;
        let mut received = Vec::new();
        let outcome = tokio::time::timeout(BANNER_WAIT, receive(&mut ws, &mut received)).await;
        let _ = tokio::time::timeout(CLOSE_WAIT, ws.close(None)).await;
        conclude(outcome, &received, BANNER_WAIT)
    };
    // The stages above bound themselves; this says so in one place, whatever they become.
    tokio::time::timeout(TUNNEL_LIMIT, probe).await.unwrap_or(Err(silent(TUNNEL_LIMIT)))
}

/// Where a greeting's bytes come from: a TCP stream, or the tunnel's messages.
trait Greeter {
    /// The next bytes; `None` once the connection has ended.
    async fn more(&mut self) -> Result<Option<Vec<u8>>, BannerError>;
}

impl Greeter for tokio::net::TcpStream {
    async fn more(&mut self) -> Result<Option<Vec<u8>>, BannerError> {
        let mut buffer = [0u8; GREETING_MAX];
        let n = self.read(&mut buffer).await?;
        Ok((n > 0).then(|| buffer[..n].to_vec()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Greeter for WebSocketStream<S> {
    /// A tunnel that breaks or closes simply ends the greeting: what came by then is judged.
    async fn more(&mut self) -> Result<Option<Vec<u8>>, BannerError> {
        loop {
            match self.next().await {
                Some(Ok(Message::Binary(data))) => return Ok(Some(data.to_vec())),
                Some(Ok(Message::Close(_)) | Err(_)) | None => return Ok(None),
                Some(Ok(_)) => {}
            }
        }
    }
}

/// Collects the greeting into `received` until its first line is complete, the connection ends, or enough has
/// come to judge it.
async fn receive(from: &mut impl Greeter, received: &mut Vec<u8>) -> Result<(), BannerError> {
    while !received.contains(&b'\n') && received.len() < GREETING_MAX {
        match from.more().await? {
            Some(data) => received.extend_from_slice(&data),
            None => break,
        }
    }
    Ok(())
}

/// The verdict on a greeting collected within `limit` (or cut short by it).
fn conclude(
    outcome: Result<Result<(), BannerError>, tokio::time::error::Elapsed>,
    received: &[u8],
    limit: Duration,
) -> Result<String, BannerError> {
    match outcome {
        Ok(Err(e)) => Err(e),
        Err(_) if received.is_empty() => Err(silent(limit)),
        // Whatever came before the end or the time limit is judged: a partial line may still say enough.
        _ => judge(received),
    }
}

/// The banner: the greeting's first line, if it is SSH 2's, made safe to show.
fn judge(received: &[u8]) -> Result<String, BannerError> {
    if received.is_empty() {
        return Err(BannerError::Closed);
    }
    let text = String::from_utf8_lossy(received);
    match text.lines().next() {
        Some(line) if line.starts_with("SSH-2.0-") => Ok(one_line_max(line, 200)),
        _ => Err(BannerError::NotSsh(text.chars().take(40).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_ssh_2_first_line_is_a_banner() {
        assert_eq!(judge(b"SSH-2.0-OpenSSH_9.6\r\nmore").unwrap(), "SSH-2.0-OpenSSH_9.6");
        assert!(
            matches!(judge(b"HTTP/1.1 400 Bad Request\r\n"), Err(BannerError::NotSsh(t)) if t.starts_with("HTTP/1.1"))
        );
        assert!(matches!(judge(b""), Err(BannerError::Closed)));
    }

    /// Paused time lets a bound pass at once; it also lets a bound pass while real I/O is under way, so tests
    /// that wait for the peer's bytes run on real time.
    fn on_runtime<T>(paused: bool, future: impl std::future::Future<Output = T>) -> T {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(paused).build();
        runtime.unwrap().block_on(future)
    }

    #[test]
    fn a_port_that_accepts_and_says_nothing_is_silent_within_the_bound() {
        on_runtime(true, async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let held = tokio::spawn(async move { listener.accept().await.map(|(stream, _)| stream) });
            let silent = direct(address).await;
            assert!(matches!(silent, Err(BannerError::Silent(_))), "{silent:?}");
            assert_eq!(silent.unwrap_err().to_string(), "the SSH greeting took longer than 5 s");
            drop(held);
        });
    }

    #[test]
    fn a_banner_in_pieces_is_read_to_its_line_end() {
        on_runtime(false, async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let (mut stream, _) = listener.accept().await.unwrap();
                for piece in [&b"SSH-2."[..], b"0-Open", b"SSH_9.6\r\n"] {
                    stream.write_all(piece).await.unwrap();
                    stream.flush().await.unwrap();
                    tokio::task::yield_now().await;
                }
                let _ = stream.read(&mut [0u8; 1]).await;
            });
            assert_eq!(direct(address).await.unwrap(), "SSH-2.0-OpenSSH_9.6");
        });
    }

    #[test]
    fn an_untrusted_gateway_is_refused_before_any_connection() {
        on_runtime(false, async {
            let gateway = Gateway { host: "127.0.0.1.nip.io".into(), port: 1, service: Default::default() };
            let domains = GatewayDomains::new(["instances.azureml.ms".to_owned()]);
            let refused = through_tunnel(&gateway, &domains, "token").await;
            assert!(matches!(refused, Err(BannerError::Tunnel(TunnelError::Untrusted { .. }))), "{refused:?}");
        });
    }
}
