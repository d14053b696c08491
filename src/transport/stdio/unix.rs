//! The Unix side of [`super`]: descriptors.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use super::Stdio;

/// What the relay reads ssh's bytes from.
pub(crate) type Input = File;

/// Something with a descriptor: what splice and the half-close need to see.
pub(crate) trait Descriptor: AsFd {}
impl<T: AsFd> Descriptor for T {}

/// Moves stdin and stdout to private descriptors and points fds 0 and 1 at /dev/null. From then on nothing —
/// a stray print, a log line, a child process such as `az` inheriting our descriptors — can read from or write to
/// the SSH stream; only the relay holds it. The private copies are close-on-exec.
pub(crate) fn take_stdio() -> io::Result<Stdio> {
    let input: OwnedFd = io::stdin().as_fd().try_clone_to_owned()?;
    let output: OwnedFd = io::stdout().as_fd().try_clone_to_owned()?;
    let null = File::options().read(true).write(true).open("/dev/null")?;
    nix::unistd::dup2_stdin(&null)?;
    nix::unistd::dup2_stdout(&null)?;
    Ok(Stdio { input: File::from(input), output: File::from(output) })
}

/// Our stdout has no reader any more. (When ssh exits or is killed, both of its ends close; our stdin's end alone
/// is no sign, since a byte pipe may end its input early and still want the answer.)
pub(crate) fn peer_gone(stdio: &Stdio) -> bool {
    output_gone(stdio.output.as_fd())
}

fn output_gone(output: BorrowedFd<'_>) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds = [PollFd::new(output, PollFlags::empty())];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
        && fds[0].revents().is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR))
}

/// A second handle on the output, to ask later whether its reader has gone while another thread writes to it.
pub(crate) struct OutputWatch(OwnedFd);

impl OutputWatch {
    pub fn new(output: &impl Descriptor) -> Option<Self> {
        output.as_fd().try_clone_to_owned().ok().map(OutputWatch)
    }

    pub fn gone(&self) -> bool {
        output_gone(self.0.as_fd())
    }
}

/// Flushes and ends the output. When stdin and stdout are one socket (ssh's ProxyUseFdpass plumbing, socat),
/// closing our stdout descriptor alone would not end anything, so a socket is shut down for writing as well.
pub(crate) fn finish_output<W: io::Write + Descriptor>(mut output: W) -> io::Result<()> {
    output.flush()?;
    match nix::sys::socket::shutdown(output.as_fd().as_raw_fd(), nix::sys::socket::Shutdown::Write) {
        Ok(()) | Err(nix::errno::Errno::ENOTSOCK) | Err(nix::errno::Errno::ENOTCONN) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A write failed because ssh closed its end.
pub(crate) fn reader_gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}
