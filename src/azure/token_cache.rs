//! Access tokens kept between connections. Every tunnel connection needs a token, and asking the Azure CLI for
//! one costs about a second, so a token is reused until shortly before it expires.
//!
//! The file lives in `$XDG_RUNTIME_DIR/azml-ssh` (a per-user tmpfs, gone at logout) when there is one, else in the
//! cache directory; either way the directory is 0700 and the file 0600. A file that cannot be read or parsed is
//! ignored and replaced. Tokens are never logged.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::util::time::unix_now;
use crate::util::{dirs, fs};

/// A token with less than this left is not handed out: it could expire in the middle of a handshake.
const MARGIN_SECS: i64 = 300;

#[derive(Default, Serialize, Deserialize)]
struct File {
    tokens: BTreeMap<String, Entry>,
}

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub secret: String,
    pub expires_on: i64,
    /// The credential that produced it (`cli`, `env`, ...).
    pub method: String,
    /// The developer tool's sign-in state when the token was fetched (see `credential::login_state`).
    #[serde(default)]
    pub login_state: Option<String>,
}

/// Where the tokens live, or `None` when there is no private place for them.
fn path() -> Option<PathBuf> {
    let dir = dirs::runtime_dir().or_else(dirs::cache_root)?;
    Some(dir.join("tokens.json"))
}

/// A handful of tokens; anything much larger is not ours.
const MAX_FILE_BYTES: u64 = 1 << 20;

fn load() -> File {
    let Some(path) = path() else { return File::default() };
    // A token planted by another user would make us act as them; only a private file of ours is read.
    let trusted =
        path.parent().map_or(Ok(()), fs::check_private_dir).and_then(|()| fs::read_private(&path, MAX_FILE_BYTES));
    match trusted {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            tracing::debug!("ignoring an unreadable token cache");
            File::default()
        }),
        Ok(None) => File::default(),
        Err(fs::Untrusted::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => File::default(),
        Err(e) => {
            tracing::warn!("ignoring the token cache: {e}; it will be replaced");
            File::default()
        }
    }
}

fn save(file: &File) {
    let Some(path) = path() else { return };
    let result = serde_json::to_vec(file).map_err(std::io::Error::other).and_then(|bytes| {
        if let Some(dir) = path.parent() {
            fs::private_dir(dir)?;
        }
        fs::write_atomic(&path, &bytes, 0o600)
    });
    if let Err(e) = result {
        tracing::debug!("could not save the token cache: {e}");
    }
}

/// A usable token for `key`, if one is cached.
pub fn get(key: &str) -> Option<Entry> {
    let mut file = load();
    let entry = file.tokens.remove(key)?;
    (entry.expires_on - i64::try_from(unix_now()).unwrap_or(i64::MAX) > MARGIN_SECS).then_some(entry)
}

pub(crate) fn put(key: &str, entry: Entry) {
    let mut file = load();
    let t = i64::try_from(unix_now()).unwrap_or(i64::MAX);
    file.tokens.retain(|_, e| e.expires_on > t);
    file.tokens.insert(key.to_owned(), entry);
    save(&file);
}

/// Drops a token the server refused.
pub(crate) fn forget(key: &str) {
    let mut file = load();
    if file.tokens.remove(key).is_some() {
        save(&file);
    }
}
