//! Where azml-ssh keeps things. Every environment lookup of a directory happens here, so the rules (absolute
//! paths only, as the XDG spec says; an empty HOME is no HOME) are the same for everyone.

use std::path::PathBuf;

/// An environment variable holding an absolute path; relative or empty values are ignored.
fn absolute_var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).map(PathBuf::from).filter(|p| p.is_absolute())
}

/// `$HOME`, when it is set to something usable.
pub fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// `$XDG_CACHE_HOME/azml-ssh`, else `$HOME/.cache/azml-ssh`: endpoint cache and start markers.
pub fn cache_root() -> Option<PathBuf> {
    absolute_var("XDG_CACHE_HOME")
        .or_else(|| absolute_var("HOME").map(|home| home.join(".cache")))
        .map(|base| base.join("azml-ssh"))
}

/// `$XDG_RUNTIME_DIR/azml-ssh` when that directory exists: a per-user tmpfs, gone at logout.
pub fn runtime_dir() -> Option<PathBuf> {
    absolute_var("XDG_RUNTIME_DIR").filter(|p| p.is_dir()).map(|dir| dir.join("azml-ssh"))
}

/// Where the Azure CLI keeps its sign-in: `$AZURE_CONFIG_DIR`, else `~/.azure`.
pub fn azure_cli_config() -> Option<PathBuf> {
    absolute_var("AZURE_CONFIG_DIR").or_else(|| home().map(|h| h.join(".azure")))
}

/// Where the Azure Developer CLI keeps its sign-in: `$AZD_CONFIG_DIR`, else `~/.azd`.
pub fn azd_config() -> Option<PathBuf> {
    absolute_var("AZD_CONFIG_DIR").or_else(|| home().map(|h| h.join(".azd")))
}
