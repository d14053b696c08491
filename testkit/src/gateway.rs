//! A mock of the Azure ML WebSocket gateway: TLS with the test CA, the real path and Bearer-token check, binary
//! messages bridged to a TCP target (the test's sshd). It can answer the first handshakes with an HTTP error, and
//! can drop a connection abruptly after relaying some bytes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

use crate::tls::TestCa;

pub const PATH: &str = "/nbip/v1.0/ws-tcp/port/22";
/// A job node's gateway fronts its SSH service alone: no port in the path.
pub const JOB_NODE_PATH: &str = "/nbip/v1.0/ws-tcp";

#[derive(Default)]
struct State {
    /// Statuses to answer the next handshakes with, before accepting.
    refusals: VecDeque<u16>,
    /// Handshakes seen (accepted or not).
    handshakes: usize,
    /// Drop the WebSocket without a close frame after sending this many bytes to the client.
    drop_after: Option<usize>,
    /// Close with this code when the target is done (default: a close frame without a code).
    close_code: Option<u16>,
    /// When the target is done, say nothing more and read nothing more — not even the client's close — while
    /// holding the connection open, as a wedged gateway does.
    silent_end: bool,
    /// The path a handshake must ask for (an instance's or a job node's).
    path: &'static str,
}

pub struct Gateway {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _runtime: tokio::runtime::Runtime,
}

impl Gateway {
    /// Listens on 127.0.0.1 (certificate for `localhost`), bridging to `target` and accepting `token`.
    pub fn start(ca: &TestCa, token: &str, target: SocketAddr) -> Gateway {
        Self::start_at(ca, token, target, PATH)
    }

    /// A job node's gateway, as [`Gateway::start`] an instance's.
    pub fn start_job_node(ca: &TestCa, token: &str, target: SocketAddr) -> Gateway {
        Self::start_at(ca, token, target, JOB_NODE_PATH)
    }

    fn start_at(ca: &TestCa, token: &str, target: SocketAddr, path: &'static str) -> Gateway {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State { path, ..State::default() }));
        let acceptor = tokio_rustls::TlsAcceptor::from(ca.server_config());
        let expected = format!("Bearer {token}");
        let shared = state.clone();
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let (acceptor, expected, state) = (acceptor.clone(), expected.clone(), shared.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    serve(tls, &expected, &state, target).await;
                });
            }
        });
        Gateway { addr, state, _runtime: runtime }
    }

    /// The `ProxyEndpoint` run history would report for a job node behind this gateway.
    pub fn proxy_endpoint(&self) -> String {
        format!("wss://localhost:{}", self.addr.port())
    }

    /// The Jupyter endpoint URL ARM would report for an instance behind this gateway.
    pub fn jupyter_uri(&self) -> String {
        format!("https://localhost:{}/tree/", self.addr.port())
    }

    pub fn refuse_next(&self, statuses: &[u16]) {
        self.state.lock().unwrap().refusals.extend(statuses);
    }

    pub fn drop_after(&self, bytes: usize) {
        self.state.lock().unwrap().drop_after = Some(bytes);
    }

    /// New connections are relayed to the end again (those already cut stay cut).
    pub fn no_drop(&self) {
        self.state.lock().unwrap().drop_after = None;
    }

    /// Goes silent when the target ends the session: no close, and the client's close is never answered.
    pub fn silent_end(&self) {
        self.state.lock().unwrap().silent_end = true;
    }

    /// Closes with `code` when the target ends the session (real gateways do not always say 1000).
    pub fn close_with(&self, code: u16) {
        self.state.lock().unwrap().close_code = Some(code);
    }

    pub fn handshakes(&self) -> usize {
        self.state.lock().unwrap().handshakes
    }
}

// tungstenite's handshake callback fixes the (large) error type.
#[allow(clippy::result_large_err)]
async fn serve<S>(stream: S, expected: &str, state: &Mutex<State>, target: SocketAddr)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let refuse = |status: u16| {
            let mut r = ErrorResponse::new(Some(format!("status {status}")));
            *r.status_mut() = tokio_tungstenite::tungstenite::http::StatusCode::from_u16(status).unwrap();
            r
        };
        let mut s = state.lock().unwrap();
        s.handshakes += 1;
        if let Some(status) = s.refusals.pop_front() {
            return Err(refuse(status));
        }
        let auth = request.headers().get("authorization").and_then(|v| v.to_str().ok());
        if auth != Some(expected) {
            return Err(refuse(401));
        }
        if request.uri().path() != s.path {
            return Err(refuse(404));
        }
        Ok(response)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, check).await else { return };
    let Ok(tcp) = tokio::net::TcpStream::connect(target).await else { return };
    let (drop_after, close_code, silent_end) = {
        let s = state.lock().unwrap();
        (s.drop_after, s.close_code, s.silent_end)
    };
    let target_done = std::sync::Arc::new(tokio::sync::Notify::new());
    let done_for_upstream = target_done.clone();
    let (mut tcp_read, mut tcp_write) = tcp.into_split();
    let (mut sink, mut source) = ws.split();

    let upstream = async move {
        loop {
            let message = tokio::select! {
                message = source.next() => message,
                // A silent gateway stops reading, so the client's close is never seen, let alone answered.
                () = done_for_upstream.notified(), if silent_end => std::future::pending().await,
            };
            match message {
                Some(Ok(Message::Binary(data))) if tcp_write.write_all(&data).await.is_err() => break,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            }
        }
        let _ = tcp_write.shutdown().await;
    };
    let downstream = async move {
        let mut sent = 0usize;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = match tcp_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if sink.send(Message::Binary(buffer[..n].to_vec().into())).await.is_err() {
                return;
            }
            sent += n;
            if drop_after.is_some_and(|limit| sent >= limit) {
                // Abruptly: no close frame, as when a gateway or middlebox dies.
                return;
            }
        }
        if silent_end {
            target_done.notify_one();
            // Holds the connection (and `sink`) open for good.
            std::future::pending::<()>().await;
        }
        // A normal close (or the reply to the client's), flushed.
        if let Some(code) = close_code {
            use tokio_tungstenite::tungstenite::protocol::CloseFrame;
            let frame = CloseFrame { code: code.into(), reason: "session ended".into() };
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
        let _ = sink.close().await;
    };
    // The session lasts as long as the server side sends: after the client's close, sshd still flushes its last
    // bytes. Ending the downstream ends the connection, read half included.
    let upstream = tokio::spawn(upstream);
    downstream.await;
    upstream.abort();
}
