//! The Unix side of [`super`]: SCM_RIGHTS over the socket ssh gave us as stdout.

use std::fs::File;
use std::io::{self, IoSlice};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};

use super::HandOverError;

/// The detached relay's end of the local socket pair whose other end ssh holds.
pub(crate) struct RelayEnd(UnixStream);

fn handed(result: io::Result<()>) -> Result<(), HandOverError> {
    result.map_err(|e| match e.raw_os_error().map(nix::errno::Errno::from_raw) {
        Some(nix::errno::Errno::ENOTSOCK) => HandOverError::NotASocket(e),
        _ => HandOverError::Gone(e),
    })
}

pub(crate) fn hand_over_socket(output: &File, socket: &TcpStream) -> Result<(), HandOverError> {
    handed(send_fd(output.as_fd(), socket.as_fd()))
}

pub(crate) fn hand_over_pair(output: &File) -> Result<RelayEnd, HandOverError> {
    let (for_ssh, for_relay) = UnixStream::pair().map_err(HandOverError::Pair)?;
    handed(send_fd(output.as_fd(), for_ssh.as_fd()))?;
    Ok(RelayEnd(for_relay))
}

/// Starts `command` with `end` as its stdin and stdout, in a process group of its own so that ssh's hang-up of
/// this process does not reach it.
pub(crate) fn spawn_detached(mut command: Command, end: RelayEnd) -> io::Result<()> {
    let input = end.0.try_clone()?;
    command
        .stdin(Stdio::from(OwnedFd::from(input)))
        .stdout(Stdio::from(OwnedFd::from(end.0)))
        .process_group(0)
        .spawn()
        .map(|_| ())
}

/// Sends `fd` over `channel` the way OpenSSH's `mm_send_fd` does: one NUL byte carrying the descriptor.
fn send_fd(channel: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> io::Result<()> {
    let fds = [fd.as_raw_fd()];
    let message = [ControlMessage::ScmRights(&fds)];
    let byte = [0u8];
    let iov = [IoSlice::new(&byte)];
    loop {
        match sendmsg::<()>(channel.as_fd().as_raw_fd(), &iov, &message, MsgFlags::empty(), None) {
            Ok(1) => return Ok(()),
            Ok(_) => return Err(io::Error::other("short write while passing the descriptor")),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{ControlMessageOwned, recvmsg};
    use std::io::{IoSliceMut, Read, Write};
    use std::os::fd::FromRawFd;

    #[test]
    fn a_passed_descriptor_arrives_and_works() {
        let (ours, ssh_side) = UnixStream::pair().unwrap();
        let (mut payload, passed) = UnixStream::pair().unwrap();
        send_fd(ours.as_fd(), passed.as_fd()).unwrap();
        drop(passed);

        let mut byte = [0u8; 1];
        let mut iov = [IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(ssh_side.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty()).unwrap();
        let Some(ControlMessageOwned::ScmRights(fds)) = msg.cmsgs().unwrap().next() else { panic!("no descriptor") };
        // SAFETY: the kernel just gave us this descriptor; nothing else owns it.
        let mut received = UnixStream::from(unsafe { OwnedFd::from_raw_fd(fds[0]) });
        payload.write_all(b"through the passed socket").unwrap();
        drop(payload);
        let mut text = String::new();
        received.read_to_string(&mut text).unwrap();
        assert_eq!(text, "through the passed socket");
    }
}
