//! Child processes that never open a window of their own.
//!
//! On Windows a console program started by a process without a console (our GUI-subsystem twin
//! `azml-sshw.exe`, or any program started by a VS Code fork that runs ssh.exe without one) gets a new, visible
//! console window, and closing that window kills it. Every helper program azml-ssh runs in the background (`cmd /C
//! az …`, `azd`, doctor's `ssh -V` and `ssh -G`, `ssh-keygen`) is started with `CREATE_NO_WINDOW` instead: its
//! stdio is pipes either way, so it loses nothing. Elsewhere this is a plain `Command`.

use std::ffi::OsStr;
use std::process::Command;

/// A `Command` for a background helper program: no console window on Windows.
pub(crate) fn background(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    imp::no_window(&mut command);
    command
}

#[cfg(windows)]
mod imp {
    use std::os::windows::process::CommandExt;

    /// `CREATE_NO_WINDOW` from the process creation flags (winbase.h).
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;

    pub(super) fn no_window(command: &mut std::process::Command) {
        command.creation_flags(CREATE_NO_WINDOW);
    }
}

#[cfg(not(windows))]
mod imp {
    pub(super) fn no_window(_: &mut std::process::Command) {}
}
