//! `azml-sshw.exe`: the Windows program again, built for the GUI subsystem, for ssh's ProxyCommand to name.
//!
//! Windows gives a console-subsystem program a new, visible console window when the process that starts it has
//! none, and closing that window ends the program. ssh.exe started without a console does exactly that to its
//! ProxyCommand: VS Code forks such as Cursor and Windsurf run it so (coder/vscode-coder#565,
//! vscode-remote-release#230), and a window pops up for every connection. A GUI-subsystem program never gets a
//! console, whatever its parent has; its stdio is still the pipes ssh hands it (STARTF_USESTDHANDLES), so the
//! stream, the progress lines on stderr and the exit status are exactly `azml-ssh.exe`'s. It is the pair Python
//! ships as `python.exe` and `pythonw.exe`. Interactive commands stay with `azml-ssh.exe`: a GUI program's output
//! does not reach a console, and cmd.exe does not wait for it.
//!
//! Elsewhere there are no subsystems and nothing to open a window, so on other platforms this program only says
//! to use `azml-ssh`.
#![cfg_attr(windows, windows_subsystem = "windows")]

#[cfg(windows)]
#[path = "../main.rs"]
mod program;

#[cfg(windows)]
fn main() -> std::process::ExitCode {
    program::main()
}

#[cfg(not(windows))]
fn main() -> std::process::ExitCode {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "azml-sshw: this is the Windows program's console-less twin; use azml-ssh");
    std::process::ExitCode::from(2)
}
