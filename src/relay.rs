//! Moving the SSH stream between ssh's pipes (our stdin/stdout) and the connection to the instance.
//!
//! Two independent directions on two threads, plain blocking I/O: it is the simplest design that gets the
//! semantics ssh needs exactly right, and it needs no runtime on the hot path.
//!
//! - stdin EOF → shut down the socket's write side and keep reading (the server may still be sending).
//! - socket EOF → flush and *close* stdout at once, so ssh sees the end immediately instead of waiting for its own
//!   stdin to close (a half-closed stdout leaves ssh hanging after the server is gone).
//! - done when both directions are done; the caller then exits without tearing down anything else.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

/// Large enough that a bulk transfer (scp, rsync) costs few system calls; small enough to stay cache-friendly.
const BUFFER_SIZE: usize = 128 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("the connection to {peer} broke: {source}")]
    FromPeer { peer: SocketAddr, source: io::Error },
    #[error("sending to {peer} failed: {source}")]
    ToPeer { peer: SocketAddr, source: io::Error },
    #[error("the relay thread failed")]
    Panicked,
}

/// The process's stdin and stdout, taken over for the SSH stream.
pub struct Stdio {
    pub input: File,
    pub output: File,
}

/// Moves stdin and stdout to private descriptors and points fds 0 and 1 at /dev/null. From then on nothing —
/// a stray print, a log line, a child process such as `az` inheriting our descriptors — can read from or write to
/// the SSH stream; only the relay holds it. The private copies are close-on-exec.
pub fn take_stdio() -> io::Result<Stdio> {
    let input: OwnedFd = io::stdin().as_fd().try_clone_to_owned()?;
    let output: OwnedFd = io::stdout().as_fd().try_clone_to_owned()?;
    let null = File::options().read(true).write(true).open("/dev/null")?;
    nix::unistd::dup2_stdin(&null)?;
    nix::unistd::dup2_stdout(&null)?;
    Ok(Stdio { input: File::from(input), output: File::from(output) })
}

/// Connects with TCP_NODELAY (SSH sends small interactive packets) and keepalive (a dead peer after a laptop
/// sleeps or a network changes is noticed in about a minute instead of never).
pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_nodelay(true)?;
    let keepalive =
        socket2::TcpKeepalive::new().with_time(Duration::from_secs(30)).with_interval(Duration::from_secs(10));
    socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive)?;
    Ok(stream)
}

/// Relays until both directions are finished. Returns an error only for a failure that lost data in flight.
pub fn relay<R, W>(input: R, output: W, socket: TcpStream) -> Result<(), RelayError>
where
    R: Read + Send + 'static,
    W: Write,
{
    let peer = socket
        .peer_addr()
        .map_err(|source| RelayError::FromPeer { peer: SocketAddr::from(([0, 0, 0, 0], 0)), source })?;
    let upstream = socket.try_clone().map_err(|source| RelayError::ToPeer { peer, source })?;
    let up = std::thread::Builder::new()
        .name("stdin-to-socket".into())
        .spawn(move || pump_up(input, upstream))
        .map_err(|source| RelayError::ToPeer { peer, source })?;

    pump_down(&socket, output).map_err(|source| RelayError::FromPeer { peer, source })?;

    match up.join() {
        Ok(Ok(())) => Ok(()),
        // The peer finished and closed first; what ssh still had to say has nowhere to go and does not matter.
        Ok(Err(e)) if is_peer_gone(&e) => Ok(()),
        Ok(Err(source)) => Err(RelayError::ToPeer { peer, source }),
        Err(_) => Err(RelayError::Panicked),
    }
}

fn is_peer_gone(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::NotConnected)
}

fn pump_up<R: Read>(mut input: R, socket: TcpStream) -> io::Result<()> {
    let mut buffer = vec![0u8; BUFFER_SIZE];
    loop {
        let n = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        (&socket).write_all(&buffer[..n])?;
    }
    match socket.shutdown(Shutdown::Write) {
        Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(e),
        _ => Ok(()),
    }
}

/// Copies until EOF, then drops (closes) `output`.
fn pump_down<W: Write>(socket: &TcpStream, mut output: W) -> io::Result<()> {
    let mut buffer = vec![0u8; BUFFER_SIZE];
    loop {
        let n = match (&*socket).read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Err(e) = output.write_all(&buffer[..n]) {
            // ssh closed its end: the session is over from its side.
            return if e.kind() == io::ErrorKind::BrokenPipe { Ok(()) } else { Err(e) };
        }
    }
    output.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// An echo server that echoes until the client half-closes, then closes.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = stream.try_clone().unwrap();
            io::copy(&mut reader, &mut stream).unwrap();
        });
        addr
    }

    #[test]
    fn connections_have_nodelay_and_keepalive() {
        let socket = connect(echo_server(), Duration::from_secs(5)).unwrap();
        assert!(socket.nodelay().unwrap());
        let sock = socket2::SockRef::from(&socket);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(30));
    }

    #[test]
    fn relays_every_byte_in_order_and_ends_on_half_close() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let socket = connect(echo_server(), Duration::from_secs(5)).unwrap();
        let mut out = Vec::new();
        relay(io::Cursor::new(data.clone()), &mut out, socket).unwrap();
        assert_eq!(out.len(), data.len());
        assert!(out == data);
    }

    #[test]
    fn peer_closing_first_ends_the_relay_without_stdin_eof() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (banner_seen, wait_for_banner) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(b"SSH-2.0-bye\r\n").unwrap();
            stream.shutdown(Shutdown::Write).unwrap();
            // Close completely only once the client has the banner, as sshd does when a session ends.
            let _ = wait_for_banner.recv();
        });
        /// A stdin that never ends: the relay must still return once the peer is gone.
        struct Endless;
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                buf[0] = b'x';
                Ok(1)
            }
        }
        struct Output(Vec<u8>, std::sync::mpsc::Sender<()>);
        impl Write for Output {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.extend_from_slice(buf);
                let _ = self.1.send(());
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut out = Output(Vec::new(), banner_seen);
        let socket = connect(addr, Duration::from_secs(5)).unwrap();
        // Depending on timing the end is a clean EOF or a reset; either way the relay must return.
        let _ = relay(Endless, &mut out, socket);
        assert_eq!(out.0, b"SSH-2.0-bye\r\n");
    }
}
