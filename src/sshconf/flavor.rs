//! Which ssh reads what azml-ssh writes: OpenSSH on Unix, or Windows OpenSSH, which starts ProxyCommand without
//! a shell and reads paths best with forward slashes.

use std::path::Path;

/// Which ssh will read the file: the quoting of ProxyCommand differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// OpenSSH on Unix: ProxyCommand runs as `$SHELL -c "exec ..."`.
    Posix,
    /// Win32-OpenSSH: ProxyCommand is split into argv without a shell.
    Windows,
}

impl Flavor {
    pub(crate) fn native() -> Self {
        if cfg!(windows) { Flavor::Windows } else { Flavor::Posix }
    }
}

/// A Windows path as Windows OpenSSH's config reads it best: forward slashes, no verbatim prefix
/// (`\\?\C:\x` → `C:/x`, `\\?\UNC\server\share` → `//server/share`).
pub(crate) fn windows_path_text(path: &Path) -> String {
    let text = path.to_string_lossy();
    let text = match text.strip_prefix(r"\\?\UNC\") {
        Some(rest) => format!(r"\\{rest}"),
        None => text.strip_prefix(r"\\?\").unwrap_or(&text).to_owned(),
    };
    text.replace('\\', "/")
}

/// The 8.3 short form of a Windows folder, where its volume keeps short names (see [`crate::util`]'s Windows
/// module); there are none elsewhere.
#[cfg(windows)]
pub(crate) fn short_path(path: &Path) -> Option<std::path::PathBuf> {
    crate::util::windows_acl::short_path(path)
}

/// The 8.3 short form of a Windows folder: there are none outside Windows.
#[cfg(not(windows))]
pub(crate) fn short_path(_: &Path) -> Option<std::path::PathBuf> {
    None
}
