//! The Windows side of [`super`]: handles, and a thread that reads ssh's input from the start.

use std::fs::File;
use std::io::{self, Read};
use std::os::windows::io::{FromRawHandle, IntoRawHandle, RawHandle};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use windows_sys::Win32::Foundation::{HANDLE, HANDLE_FLAG_INHERIT, INVALID_HANDLE_VALUE, SetHandleInformation};
use windows_sys::Win32::System::Console::{
    GetStdHandle, STD_HANDLE, STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, SetStdHandle,
};

use super::Stdio;

/// One read from ssh: large enough that a bulk upload costs few hand-offs between threads.
const CHUNK: usize = 256 * 1024;
/// Reads queued for the relay: bounded, so a relay that cannot send (a slow link) holds ssh back instead of
/// filling memory.
const QUEUE: usize = 8;

/// Anything: nothing on Windows needs a descriptor.
pub(crate) trait Descriptor {}
impl<T> Descriptor for T {}

/// ssh's bytes, as the reading thread delivers them.
pub(crate) struct Input {
    chunks: Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    position: usize,
    ended: Arc<AtomicBool>,
}

impl Read for Input {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        while self.position == self.current.len() {
            match self.chunks.recv() {
                Ok(Ok(chunk)) => (self.current, self.position) = (chunk, 0),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buffer.len().min(self.current.len() - self.position);
        buffer[..n].copy_from_slice(&self.current[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

fn pump(mut stdin: File, chunks: SyncSender<io::Result<Vec<u8>>>, ended: Arc<AtomicBool>) {
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let message = match stdin.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => Ok(buffer[..n].to_vec()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A broken pipe is how Windows reports that the writer has gone: the end of input.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break,
            Err(e) => Err(e),
        };
        let failed = message.is_err();
        if chunks.send(message).is_err() || failed {
            break;
        }
    }
    ended.store(true, Ordering::Release);
}

/// Takes the standard handle `which` for ourselves: no longer inherited by child processes, and replaced by
/// `null` for everything else in the process.
fn take(which: STD_HANDLE, null: HANDLE) -> io::Result<File> {
    // SAFETY: GetStdHandle has no preconditions.
    let handle = unsafe { GetStdHandle(which) };
    if handle.is_null() || handle == INVALID_HANDLE_VALUE {
        return Err(io::Error::other("the standard handle is not open"));
    }
    // SAFETY: `handle` is a live standard handle. A console handle may refuse; it is not ssh's stream anyway.
    unsafe { SetHandleInformation(handle, HANDLE_FLAG_INHERIT, 0) };
    // SAFETY: `null` is a handle we opened and keep open for the rest of the process.
    if unsafe { SetStdHandle(which, null) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the standard slot no longer names `handle`, so from here on this File is its only owner.
    Ok(unsafe { File::from_raw_handle(handle as RawHandle) })
}

/// Takes stdin and stdout over for the relay and points the standard handles at NUL, so nothing else in the
/// process (a stray print, `az` started for a token) can touch the SSH stream; then starts reading stdin.
pub(crate) fn take_stdio() -> io::Result<Stdio> {
    let null = File::options().read(true).write(true).open("NUL")?.into_raw_handle() as HANDLE;
    let input = take(STD_INPUT_HANDLE, null)?;
    let output = take(STD_OUTPUT_HANDLE, null)?;
    let (sender, chunks) = sync_channel(QUEUE);
    let ended = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ended);
    std::thread::Builder::new().name("stdin".into()).spawn(move || pump(input, sender, flag))?;
    Ok(Stdio { input: Input { chunks, current: Vec::new(), position: 0, ended }, output })
}

/// ssh's input has ended (see the module comment in [`super`]).
pub(crate) fn peer_gone(stdio: &Stdio) -> bool {
    stdio.input.ended.load(Ordering::Acquire)
}

/// Whether the output's reader has gone cannot be asked on Windows; the relay learns it when a write fails.
pub(crate) struct OutputWatch;

impl OutputWatch {
    pub fn new<T>(_output: &T) -> Option<Self> {
        None
    }

    pub fn gone(&self) -> bool {
        false
    }
}

/// Flushes the output; closing it (by dropping) is the end ssh sees.
pub(crate) fn finish_output<W: io::Write>(mut output: W) -> io::Result<()> {
    output.flush()
}

/// ERROR_PIPE_NOT_CONNECTED: what a write to a pipe whose reader has gone can fail with (Wine always does), which
/// std does not count as a broken pipe.
const ERROR_PIPE_NOT_CONNECTED: i32 = 233;

/// A write failed because ssh closed its end.
pub(crate) fn reader_gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe || e.raw_os_error() == Some(ERROR_PIPE_NOT_CONNECTED)
}
