//! `ProxyUseFdpass`: instead of relaying, hand ssh the connected socket itself (SCM_RIGHTS over the socket ssh
//! gave us as stdout) and exit. ssh then talks to the instance directly and the proxy costs nothing per byte.

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};

/// Sends `fd` over `channel` the way OpenSSH's `mm_send_fd` does: one NUL byte carrying the descriptor.
pub fn send_fd(channel: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> io::Result<()> {
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
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::net::UnixStream;

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
