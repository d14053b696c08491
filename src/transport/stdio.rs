//! ssh's end of the stream: our stdin and stdout, taken over so that only the relay touches them, and the one
//! question asked of them while an instance is looked up or started — has ssh gone?
//!
//! - Unix: the descriptors move to private copies and fds 0/1 point at /dev/null; ssh has gone when our stdout
//!   has no reader (POLLHUP), which `poll` answers without touching the stream.
//! - Windows: the handles become private (not inherited by `az` and other children) and the standard handles
//!   point at NUL. A pipe's reader cannot be polled there, so a thread reads stdin from the start and keeps what
//!   it reads for the relay; ssh has gone when its input ends before the connection is made (ssh itself never
//!   closes its input early: it is the other side of an SSH handshake).

use std::time::Duration;

#[cfg(unix)]
#[path = "stdio/unix.rs"]
mod sys;
#[cfg(windows)]
#[path = "stdio/windows.rs"]
mod sys;

pub(crate) use sys::{Descriptor, Input, OutputWatch, finish_output, reader_gone, take_stdio};

/// The process's stdin and stdout, taken over for the SSH stream.
pub struct Stdio {
    pub input: Input,
    pub output: std::fs::File,
}

/// Whether ssh, at the other end of `stdio`, has gone.
pub(crate) fn peer_gone(stdio: &Stdio) -> bool {
    sys::peer_gone(stdio)
}

/// Resolves once [`peer_gone`] says so, checking a few times a second.
pub(crate) async fn until_peer_gone(stdio: &Stdio) {
    while !peer_gone(stdio) {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
