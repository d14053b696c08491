//! Moving the SSH stream between ssh's pipes (our stdin/stdout) and the connection to the instance.
//!
//! Two independent directions on two threads, plain blocking I/O: it is the simplest design that gets the
//! semantics ssh needs exactly right, and it needs no runtime on the hot path.
//!
//! - stdin EOF → shut down the socket's write side and keep reading (the server may still be sending).
//! - socket EOF → flush and *close* stdout at once, so ssh sees the end immediately instead of waiting for its own
//!   stdin to close (a half-closed stdout leaves ssh hanging after the server is gone).
//! - done when both directions are done; the caller then exits without tearing down anything else.
//!
//! On Linux, when stdin is a pipe (ssh's usual plumbing) the upstream direction moves data with `splice(2)`, from
//! the pipe into the socket without copying it through this process. The downstream direction always copies:
//! on the 6.18 kernel this was built on, bytes spliced from a TCP socket into ssh's pipe were at times not
//! delivered to ssh's read, deadlocking the session (seen in about one of four real ssh sessions under load); a
//! copy costs little next to ssh's own encryption. Any other pairing (a file, a socket) copies in both directions.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};

use crate::transport::splice;
use crate::transport::stdio::{Descriptor, finish_output, reader_gone};
use std::time::Duration;

/// Large enough that a bulk transfer (scp, rsync) costs few system calls; small enough to stay cache-friendly.
const BUFFER_SIZE: usize = 128 * 1024;

#[derive(Debug, thiserror::Error)]
pub(crate) enum RelayError {
    #[error(
        "the connection to {peer} broke: {source}; connect again (the instance may have stopped: `azml-ssh status`)"
    )]
    FromPeer { peer: SocketAddr, source: io::Error },
    #[error("sending to {peer} failed: {source}; connect again (the instance may have stopped: `azml-ssh status`)")]
    ToPeer { peer: SocketAddr, source: io::Error },
    #[error("the relay thread failed; connect again, and report it with the output of -v")]
    Panicked,
}

/// Connects within `timeout` and returns a blocking socket for `over_socket` or a hand-over to ssh. The connect
/// itself blocks: callers run on a one-thread runtime with nothing else to do meanwhile, and registering the
/// socket with the reactor only to take it out again would cost every connection its start-up time.
pub async fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    configure(&stream)?;
    Ok(stream)
}

/// TCP_NODELAY (SSH sends small interactive packets) and keepalive (a dead peer after a laptop sleeps or a network
/// changes is noticed in about a minute instead of never).
fn configure(stream: &TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let keepalive =
        socket2::TcpKeepalive::new().with_time(Duration::from_secs(30)).with_interval(Duration::from_secs(10));
    socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive)
}

/// Relays ssh's stream over a TCP socket (the tunnel's counterpart is `tunnel::relay`) until both directions are
/// finished. Returns an error only for a failure that lost data in flight.
pub(crate) fn over_socket<R, W>(input: R, output: W, socket: TcpStream) -> Result<(), RelayError>
where
    R: Read + Descriptor + Send + 'static,
    W: Write + Descriptor,
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

fn pump_up<R: Read + Descriptor>(mut input: R, socket: TcpStream) -> io::Result<()> {
    match splice::splice_all(&input, &socket) {
        splice::Spliced::Done => {}
        splice::Spliced::Failed(e) => return Err(e),
        splice::Spliced::Unsupported => copy(&mut input, &mut &socket)?,
    }
    match socket.shutdown(Shutdown::Write) {
        Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(e),
        _ => Ok(()),
    }
}

/// A buffered copy until EOF on `from`.
fn copy(from: &mut impl Read, to: &mut impl Write) -> io::Result<()> {
    let mut buffer = vec![0u8; BUFFER_SIZE];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buffer[..n])?;
    }
}

/// Copies until EOF, then drops (closes) `output`.
fn pump_down<W: Write + Descriptor>(socket: &TcpStream, mut output: W) -> io::Result<()> {
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
            return if reader_gone(&e) { Ok(()) } else { Err(e) };
        }
    }
    finish_output(output)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::fs::File;
    use std::net::TcpListener;
    use std::os::unix::net::UnixStream;

    fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(super::connect(addr, timeout))
    }

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

    fn data() -> Vec<u8> {
        (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// Feeds `data` into a pipe from a thread and returns the read end.
    fn pipe_with(data: Vec<u8>) -> io::PipeReader {
        let (reader, mut writer) = io::pipe().unwrap();
        std::thread::spawn(move || writer.write_all(&data).unwrap());
        reader
    }

    /// Collects everything written to a pipe, on a thread; join for the bytes.
    fn pipe_collector() -> (io::PipeWriter, std::thread::JoinHandle<Vec<u8>>) {
        let (mut reader, writer) = io::pipe().unwrap();
        let handle = std::thread::spawn(move || {
            let mut out = Vec::new();
            reader.read_to_end(&mut out).unwrap();
            out
        });
        (writer, handle)
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
    fn pipes_on_both_sides_use_splice_and_lose_nothing() {
        let socket = connect(echo_server(), Duration::from_secs(5)).unwrap();
        let (output, collected) = pipe_collector();
        over_socket(pipe_with(data()), output, socket).unwrap();
        assert!(collected.join().unwrap() == data());
    }

    #[test]
    fn files_fall_back_to_copying_and_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (input_path, output_path) = (dir.path().join("in"), dir.path().join("out"));
        std::fs::write(&input_path, data()).unwrap();
        let socket = connect(echo_server(), Duration::from_secs(5)).unwrap();
        let output = File::create(&output_path).unwrap();
        over_socket(File::open(&input_path).unwrap(), output, socket).unwrap();
        assert!(std::fs::read(&output_path).unwrap() == data());
    }

    #[test]
    fn a_socket_as_stdin_and_stdout_is_shut_down_at_the_end() {
        // ssh's ProxyUseFdpass and socat hand over one socket as both stdin and stdout.
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let socket = connect(echo_server(), Duration::from_secs(5)).unwrap();
        let (input, output) = (ours.try_clone().unwrap(), ours);
        let mut writer = theirs.try_clone().unwrap();
        std::thread::spawn(move || {
            writer.write_all(&data()).unwrap();
            writer.shutdown(Shutdown::Write).unwrap();
        });
        let relayed = std::thread::spawn(move || over_socket(input, output, socket));
        let mut out = Vec::new();
        theirs.read_to_end(&mut out).unwrap();
        assert!(out == data(), "every byte, then EOF");
        relayed.join().unwrap().unwrap();
    }

    #[test]
    fn peer_closing_first_ends_the_relay_without_stdin_eof() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(b"SSH-2.0-bye\r\n").unwrap();
            // Closes with unread input: the relay must still end.
        });
        // A stdin that never ends.
        let (input, mut writer) = io::pipe().unwrap();
        std::thread::spawn(move || while writer.write_all(b"x").is_ok() {});
        let (output, collected) = pipe_collector();
        let socket = connect(addr, Duration::from_secs(5)).unwrap();
        // Depending on timing the end is a clean EOF or a reset; either way the relay must return.
        let _ = over_socket(input, output, socket);
        let got = collected.join().unwrap();
        assert!(got.is_empty() || got == b"SSH-2.0-bye\r\n", "{got:?}");
    }
}
