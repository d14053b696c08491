//! azml-ssh's one state folder (`$XDG_CACHE_HOME/azml-ssh`, see [`dirs`]) and what every store kept in it needs:
//! files named by a folder and a name (never a raw path), private and checked as ours before they are trusted,
//! replaced atomically, bounded when read, and locks for one-at-a-time work.
//!
//! The typed stores live with the layer that owns their data: the endpoints and their tenants
//! (`connect::cache`), the name index and the answers of name searches (`connect::names`), the markers of starts
//! sent (`azure::lifecycle`). Nothing here can make a command fail: state makes things faster, so a problem with a
//! file is logged and the file is treated as absent.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::util::{dirs, fs};

/// The most any state file may hold: entries are a few hundred bytes, a name index a few KiB per instance.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// The state folder.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
}

/// A file-name-safe name for a key (a resource ID, a name searched): its SHA-256 in hex. Keys hold characters no
/// file name may, and equal keys must name the same file whoever computes them.
pub(crate) fn hashed(key: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl StateDir {
    /// The state folder at `root` (the tests' own, or the user's).
    pub fn new(root: &Path) -> Self {
        StateDir { root: root.to_owned() }
    }

    /// The user's state folder, or `None` when there is no home to put it in.
    pub fn open_default() -> Option<Self> {
        dirs::cache_root().map(|root| Self::new(&root))
    }

    fn path(&self, folder: &str, name: &str) -> PathBuf {
        self.root.join(folder).join(name)
    }

    /// The bytes of `folder/name` (`what` names it in a warning), at most `max` of them; `None` when it is
    /// missing, unreadable, or not ours and private. Another user who can write here (a shared XDG_CACHE_HOME)
    /// must not be able to plant an endpoint (the tunnel would send our token to it), an answer or a marker.
    pub(crate) fn read(&self, folder: &str, name: &str, max: u64, what: &str) -> Option<Vec<u8>> {
        let path = self.path(folder, name);
        let trusted = fs::check_private_dir(&self.root)
            .and_then(|()| fs::check_private_dir(&self.root.join(folder)))
            .and_then(|()| fs::read_private(&path, max));
        match trusted {
            Ok(bytes) => bytes,
            Err(fs::Untrusted::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                tracing::warn!("ignoring {what}: {e}; it will be replaced");
                None
            }
        }
    }

    /// `folder/name` read as JSON (see [`Self::read`]); `None` also when it does not parse.
    pub(crate) fn read_json<T: DeserializeOwned>(&self, folder: &str, name: &str, what: &str) -> Option<T> {
        let bytes = self.read(folder, name, MAX_FILE_BYTES, what)?;
        serde_json::from_slice(&bytes)
            .inspect_err(|e| tracing::debug!("ignoring unreadable {what} ({folder}/{name}): {e}"))
            .ok()
    }

    /// Replaces `folder/name` atomically with `bytes`, private in private folders. Failing is logged.
    pub(crate) fn write(&self, folder: &str, name: &str, bytes: &[u8]) {
        let path = self.path(folder, name);
        let result = fs::private_dir(&self.root)
            .and_then(|()| fs::private_dir(&self.root.join(folder)))
            .and_then(|()| fs::write_atomic(&path, bytes, 0o600));
        if let Err(e) = result {
            tracing::warn!("could not write {}: {e}", path.display());
        }
    }

    /// Replaces `folder/name` with `value` as JSON (see [`Self::write`]).
    pub(crate) fn write_json<T: Serialize>(&self, folder: &str, name: &str, value: &T) {
        match serde_json::to_vec_pretty(value) {
            Ok(bytes) => self.write(folder, name, &bytes),
            Err(e) => tracing::warn!("could not write {folder}/{name}: {e}"),
        }
    }

    /// Removes `folder/name`, if it is there.
    pub(crate) fn remove(&self, folder: &str, name: &str) {
        match std::fs::remove_file(self.path(folder, name)) {
            Ok(()) => tracing::debug!("removed {folder}/{name}"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("could not remove {folder}/{name}: {e}"),
        }
    }

    /// The lock `folder/name.lock`, waited for at most `limit` (see [`fs::lock_within`]).
    pub(crate) async fn lock(&self, folder: &str, name: &str, limit: Duration) -> io::Result<(File, fs::Waited)> {
        fs::lock_within(&self.path(folder, &format!("{name}.lock")), limit).await
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn files_are_private_replaced_whole_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(&dir.path().join("azml-ssh"));
        state.write_json("things", "a.json", &vec![1, 2, 3]);
        assert_eq!(state.read_json::<Vec<u32>>("things", "a.json", "a thing"), Some(vec![1, 2, 3]));
        let mode = std::fs::metadata(dir.path().join("azml-ssh/things/a.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "private: {mode:o}");
        assert_eq!(state.read("things", "a.json", 3, "a thing"), None, "over the bound");
        state.write("things", "a.json", b"not json");
        assert_eq!(state.read_json::<Vec<u32>>("things", "a.json", "a thing"), None);
        state.remove("things", "a.json");
        assert_eq!(state.read("things", "a.json", 100, "a thing"), None);
        state.remove("things", "a.json");
    }

    #[test]
    fn a_file_others_may_write_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(&dir.path().join("azml-ssh"));
        state.write("things", "a", b"mine");
        let path = dir.path().join("azml-ssh/things/a");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(state.read("things", "a", 100, "a thing"), None);
    }
}
