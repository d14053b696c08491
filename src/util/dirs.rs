//! Where azml-ssh keeps things. Every environment lookup of a directory happens here, so the rules (absolute
//! paths only, as the XDG spec says; an empty variable is no variable) are the same for everyone.
//!
//! | what | Unix | Windows |
//! |---|---|---|
//! | home (`~/.ssh`) | `$HOME` | `%USERPROFILE%` (what Windows OpenSSH reads), else `%HOME%` |
//! | endpoint cache, locks | `$XDG_CACHE_HOME/azml-ssh`, else `~/.cache/azml-ssh` | `%XDG_CACHE_HOME%\azml-ssh` when set, else `%LOCALAPPDATA%\azml-ssh`, else `~\AppData\Local\azml-ssh` |
//! | tokens | `$XDG_RUNTIME_DIR/azml-ssh`, else the cache folder | the same |

use std::path::PathBuf;

/// An environment variable holding an absolute path; relative or empty values are ignored.
fn absolute_var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).map(PathBuf::from).filter(|p| p.is_absolute())
}

/// The home directory ssh means by `~`, when it is known.
#[cfg(not(windows))]
pub fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// The home directory ssh means by `~`: Windows OpenSSH reads `%USERPROFILE%`, whatever `HOME` says (Git Bash
/// sets one); `HOME` only stands in when there is no profile.
#[cfg(windows)]
pub fn home() -> Option<PathBuf> {
    absolute_var("USERPROFILE").or_else(|| absolute_var("HOME"))
}

/// The per-user folder for data that may be lost: `$XDG_CACHE_HOME`, else the platform's own.
fn cache_base() -> Option<PathBuf> {
    absolute_var("XDG_CACHE_HOME").or_else(platform_cache_base)
}

#[cfg(not(windows))]
fn platform_cache_base() -> Option<PathBuf> {
    absolute_var("HOME").map(|home| home.join(".cache"))
}

#[cfg(windows)]
fn platform_cache_base() -> Option<PathBuf> {
    absolute_var("LOCALAPPDATA").or_else(|| home().map(|home| home.join("AppData").join("Local")))
}

/// azml-ssh's cache folder: endpoint cache, start markers and locks.
pub fn cache_root() -> Option<PathBuf> {
    cache_base().map(|base| base.join("azml-ssh"))
}

/// `$XDG_RUNTIME_DIR/azml-ssh` when that directory exists: a per-user tmpfs, gone at logout.
pub(crate) fn runtime_dir() -> Option<PathBuf> {
    absolute_var("XDG_RUNTIME_DIR").filter(|p| p.is_dir()).map(|dir| dir.join("azml-ssh"))
}

/// Where the Azure CLI keeps its sign-in: `$AZURE_CONFIG_DIR`, else `~/.azure`.
pub(crate) fn azure_cli_config() -> Option<PathBuf> {
    absolute_var("AZURE_CONFIG_DIR").or_else(|| home().map(|h| h.join(".azure")))
}

/// Where the Azure Developer CLI keeps its sign-in: `$AZD_CONFIG_DIR`, else `~/.azd`.
pub(crate) fn azd_config() -> Option<PathBuf> {
    absolute_var("AZD_CONFIG_DIR").or_else(|| home().map(|h| h.join(".azd")))
}

/// VS Code's user settings file (`settings.json`): `%APPDATA%\Code\User` on Windows, `~/Library/Application
/// Support/Code/User` on macOS, `$XDG_CONFIG_HOME/Code/User` (default `~/.config`) elsewhere.
pub(crate) fn vscode_settings() -> Option<PathBuf> {
    let base = if cfg!(windows) {
        absolute_var("APPDATA")
    } else if cfg!(target_os = "macos") {
        home().map(|h| h.join("Library").join("Application Support"))
    } else {
        absolute_var("XDG_CONFIG_HOME").or_else(|| home().map(|h| h.join(".config")))
    };
    base.map(|b| b.join("Code").join("User").join("settings.json"))
}
