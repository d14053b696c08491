//! `ProxyUseFdpass`: instead of relaying, hand ssh the connected socket itself and exit. ssh then talks to the
//! instance directly and the proxy costs nothing per byte. For the tunnel, ssh gets one end of a local socket
//! pair and a detached `azml-ssh` relays the other end through the WebSocket.
//!
//! Only OpenSSH on Unix can receive a descriptor; Windows OpenSSH has no `ProxyUseFdpass`, so there every
//! function here answers `HandOverError::Unsupported` and the relay is the path.

#[cfg(unix)]
#[path = "fdpass/unix.rs"]
mod sys;
#[cfg(windows)]
#[path = "fdpass/windows.rs"]
mod sys;

pub(crate) use sys::{hand_over_pair, hand_over_socket, spawn_detached};

/// Why the connection could not be handed to ssh. Each platform makes only its own kinds of failure.
#[derive(Debug, thiserror::Error)]
#[allow(dead_code)]
pub(crate) enum HandOverError {
    /// Our stdout is not a socket: ssh was not told `ProxyUseFdpass yes`.
    #[error("stdout is not a socket ({0})")]
    NotASocket(std::io::Error),
    /// ssh went away before it received the connection.
    #[error("{0}")]
    Gone(std::io::Error),
    /// The socket pair for a tunnel's detached relay could not be made.
    #[error("cannot make a local socket pair: {0}")]
    Pair(std::io::Error),
    #[error("ProxyUseFdpass does not exist on this platform")]
    Unsupported,
}
