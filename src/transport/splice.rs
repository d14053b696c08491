//! `splice(2)`: moving bytes between a pipe and a socket inside the kernel. ssh talks to its ProxyCommand through
//! pipes, so both directions of a direct connection qualify, and the proxy then costs almost no CPU per byte.
//!
//! The descriptors are normally blocking; if someone made one non-blocking, `EAGAIN` is met with `poll` rather
//! than mistaken for an end. A partial move is just the next loop iteration.
//!
//! From a pipe, exactly the bytes the pipe holds are requested. Asking for more makes the kernel (6.5 and later)
//! send to a TCP socket with MSG_MORE, which corks the data until more arrives — and in an interactive protocol
//! like SSH nothing more arrives until the peer answers, so both sides wait forever.

use std::io;
#[cfg(target_os = "linux")]
use std::os::fd::BorrowedFd;

use crate::transport::stdio::Descriptor;

/// How far [`splice_all`] got, so the caller knows whether to copy instead. Off Linux it is always `Unsupported`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) enum Spliced {
    /// Everything was moved up to EOF on `from`.
    Done,
    /// These descriptors cannot be spliced (neither is a pipe, or not on this system); nothing was moved, so the
    /// caller copies instead.
    Unsupported,
    /// Splicing failed for another reason than "not supported here" (or after data moved): an I/O error to report.
    Failed(io::Error),
}

#[cfg(target_os = "linux")]
fn is_pipe(fd: BorrowedFd<'_>) -> bool {
    use nix::sys::stat::{SFlag, fstat};
    fstat(fd).is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFIFO)
}

/// Moves bytes from `from` to `to` until EOF, if one of them is a pipe.
#[cfg(target_os = "linux")]
pub(crate) fn splice_all(from: &impl Descriptor, to: &impl Descriptor) -> Spliced {
    splice_fds(from.as_fd(), to.as_fd())
}

#[cfg(target_os = "linux")]
fn splice_fds(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Spliced {
    use nix::errno::Errno;
    use nix::fcntl::{SpliceFFlags, splice};

    if std::env::var_os("AZML_SSH_NO_SPLICE").is_some() || !(is_pipe(from) || is_pipe(to)) {
        return Spliced::Unsupported;
    }
    // A pipe holds 64 KiB by default; asking for more lets the kernel move whatever is there in one call.
    const CHUNK: usize = 1 << 20;
    let from_pipe = is_pipe(from);
    let mut moved_any = false;
    loop {
        let len = if from_pipe {
            match pipe_ready(from) {
                Ok(0) => return Spliced::Done,
                Ok(n) => n,
                Err(e) => return Spliced::Failed(e),
            }
        } else {
            CHUNK
        };
        match splice(from, None, to, None, len, SpliceFFlags::SPLICE_F_MOVE) {
            Ok(0) => return Spliced::Done,
            Ok(_) => moved_any = true,
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => wait_ready(from, to),
            // The kernel refuses this pairing (e.g. a socket type without splice support): copy instead, which is
            // safe only if nothing has been moved yet.
            Err(Errno::EINVAL | Errno::ENOSYS) if !moved_any => return Spliced::Unsupported,
            Err(e) => return Spliced::Failed(e.into()),
        }
    }
}

/// Bytes waiting in a pipe.
#[cfg(target_os = "linux")]
fn pipe_bytes(pipe: BorrowedFd<'_>) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut available: nix::libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points at a live local.
    let rc = unsafe { nix::libc::ioctl(pipe.as_raw_fd(), nix::libc::FIONREAD, &mut available) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(available).unwrap_or(0))
}

/// Returns how many bytes the pipe holds, waiting for some if it is empty; 0 means EOF.
#[cfg(target_os = "linux")]
fn pipe_ready(pipe: BorrowedFd<'_>) -> io::Result<usize> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let available = pipe_bytes(pipe)?;
    if available > 0 {
        return Ok(available);
    }
    loop {
        match poll(&mut [PollFd::new(pipe, PollFlags::POLLIN)], PollTimeout::NONE) {
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    // Readable with nothing in it means every writer has gone: EOF.
    pipe_bytes(pipe)
}

/// Waits until `from` has data and `to` has room: splice needs both.
#[cfg(target_os = "linux")]
fn wait_ready(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let _ = poll(&mut [PollFd::new(from, PollFlags::POLLIN)], PollTimeout::from(1000u16));
    let _ = poll(&mut [PollFd::new(to, PollFlags::POLLOUT)], PollTimeout::from(1000u16));
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn splice_all(_from: &impl Descriptor, _to: &impl Descriptor) -> Spliced {
    Spliced::Unsupported
}
