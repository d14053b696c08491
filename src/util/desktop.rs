//! Handing a URL to the user's default browser, the platform's way.

use std::process::{Command, Stdio};

/// Opens `url` in the default browser without waiting for it.
pub(crate) fn open_url(url: &str) -> std::io::Result<()> {
    let mut command = opener(url)?;
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().map(|_| ())
}

/// Windows: the shell's URL handler, which opens the default browser (no `cmd /c start`, whose parsing would
/// mangle the `&` of a query string).
#[cfg(windows)]
fn opener(url: &str) -> std::io::Result<Command> {
    let mut command = Command::new("rundll32.exe");
    command.arg("url.dll,FileProtocolHandler").arg(url);
    Ok(command)
}

/// macOS `open`, or the freedesktop `xdg-open`.
#[cfg(not(windows))]
fn opener(url: &str) -> std::io::Result<Command> {
    let program = ["xdg-open", "open"]
        .into_iter()
        .find_map(|name| which::which(name).ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no xdg-open or open on PATH"))?;
    let mut command = Command::new(program);
    command.arg(url);
    Ok(command)
}
