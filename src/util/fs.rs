//! Private files written so that a reader (another proxy, another `azml-ssh`) sees the old content or the new,
//! never a torn one.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and parents) if needed and makes sure it is private to the user (0700). A directory that
/// belongs to someone else (a shared `XDG_CACHE_HOME`, say) is refused, never adopted.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other(Untrusted::NotADirectory { path: dir.display().to_string() }));
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(io::Error::other(Untrusted::NotOurs { path: dir.display().to_string(), uid: meta.uid() }));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Why a cached file or directory is not trusted.
#[derive(Debug, thiserror::Error)]
pub enum Untrusted {
    #[error("{path} is a symbolic link")]
    Symlink { path: String },
    #[error("{path} belongs to another user (uid {uid})")]
    NotOurs { path: String, uid: u32 },
    #[error("{path} is open to other users (mode {mode:o})")]
    Loose { path: String, mode: u32 },
    #[error("{path} is not a regular file")]
    NotAFile { path: String },
    #[error("{path} is not a directory")]
    NotADirectory { path: String },
    #[error("{path} is larger than {max} bytes")]
    TooLarge { path: String, max: u64 },
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: io::Error },
}

/// Checks that `meta` (of `path`) is ours and private.
fn ours_and_private(path: &Path, meta: &fs::Metadata) -> Result<(), Untrusted> {
    let shown = || path.display().to_string();
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(Untrusted::NotOurs { path: shown(), uid: meta.uid() });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Untrusted::Loose { path: shown(), mode });
    }
    Ok(())
}

/// A directory azml-ssh may read its caches from: a real directory (not a link), ours, private.
pub fn check_private_dir(dir: &Path) -> Result<(), Untrusted> {
    let meta = fs::symlink_metadata(dir).map_err(|source| Untrusted::Io { path: dir.display().to_string(), source })?;
    if meta.file_type().is_symlink() {
        return Err(Untrusted::Symlink { path: dir.display().to_string() });
    }
    if !meta.is_dir() {
        return Err(Untrusted::NotADirectory { path: dir.display().to_string() });
    }
    ours_and_private(dir, &meta)
}

/// Reads a file only this user can have written: opened without following a link, then checked on the open
/// descriptor (so it cannot be swapped in between) for owner, mode and size. `Ok(None)` when it does not exist.
pub fn read_private(path: &Path, max: u64) -> Result<Option<Vec<u8>>, Untrusted> {
    use std::io::Read;
    let shown = || path.display().to_string();
    let file = match OpenOptions::new().read(true).custom_flags(nix::libc::O_NOFOLLOW).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => return Err(Untrusted::Symlink { path: shown() }),
        Err(source) => return Err(Untrusted::Io { path: shown(), source }),
    };
    let meta = file.metadata().map_err(|source| Untrusted::Io { path: shown(), source })?;
    if !meta.is_file() {
        return Err(Untrusted::NotAFile { path: shown() });
    }
    ours_and_private(path, &meta)?;
    if meta.len() > max {
        return Err(Untrusted::TooLarge { path: shown(), max });
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(|source| Untrusted::Io { path: shown(), source })?;
    if bytes.len() as u64 > max {
        return Err(Untrusted::TooLarge { path: shown(), max });
    }
    Ok(Some(bytes))
}

/// Writes `bytes` to `path` through a uniquely named temporary file in the same directory and a rename, with
/// `mode` set before any byte is written. The temporary name includes the pid and a counter, so concurrent
/// writers never share one.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);

    let dir = path.parent().ok_or_else(|| io::Error::other("path has no parent directory"))?;
    let name = path.file_name().ok_or_else(|| io::Error::other("path has no file name"))?;
    let temp = dir.join(format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file: File = OpenOptions::new().write(true).create_new(true).mode(mode).open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Whether a lock had to be waited for: someone else held it, and may have done the work meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    No,
    Yes,
}

/// An exclusive advisory lock on file `path` (created private if needed) in a private directory, waiting for it
/// at most `limit` without blocking the runtime. The kernel releases a lock whose holder dies.
pub async fn lock_within(path: &Path, limit: std::time::Duration) -> io::Result<(File, Waited)> {
    if let Some(dir) = path.parent() {
        private_dir(dir)?;
    }
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path)?;
    let deadline = std::time::Instant::now() + limit;
    let mut waited = Waited::No;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok((file, waited)),
            Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                waited = Waited::Yes;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "the lock's holder did not let go"));
            }
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// An exclusive advisory lock on directory `dir`, held until the returned handle is dropped. The kernel releases
/// it when a holder dies, so a crashed azml-ssh never blocks the next one.
pub fn lock_dir(dir: &Path) -> io::Result<File> {
    let handle = File::open(dir)?;
    handle.lock()?;
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_sets_mode_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomic(&path, b"one", 0o600).unwrap();
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left behind");
    }

    #[test]
    fn atomic_write_keeps_a_looser_mode_despite_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        write_atomic(&path, b"x", 0o644).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
    }

    #[test]
    fn a_held_lock_is_waited_for_and_a_free_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks/one.lock");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (held, waited) = runtime.block_on(lock_within(&path, std::time::Duration::from_secs(5))).unwrap();
        assert_eq!(waited, Waited::No);
        let releaser = std::thread::spawn(move || {
            // The holder finishes its work a moment later (or dies: the kernel releases the lock either way).
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(held);
        });
        let (_again, waited) = runtime.block_on(lock_within(&path, std::time::Duration::from_secs(5))).unwrap();
        assert_eq!(waited, Waited::Yes);
        releaser.join().unwrap();
        let runtime2 = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let timed_out = runtime2.block_on(lock_within(&path, std::time::Duration::from_millis(100)));
        assert_eq!(timed_out.unwrap_err().kind(), io::ErrorKind::TimedOut, "a holder that never lets go");
    }

    #[test]
    fn only_private_files_of_ours_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("entry");
        assert!(matches!(read_private(&path, 100), Ok(None)));
        write_atomic(&path, b"ok", 0o600).unwrap();
        assert_eq!(read_private(&path, 100).unwrap().unwrap(), b"ok");
        assert!(matches!(read_private(&path, 1), Err(Untrusted::TooLarge { .. })));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(read_private(&path, 100), Err(Untrusted::Loose { .. })));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(matches!(read_private(&link, 100), Err(Untrusted::Symlink { .. })));
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
            assert!(matches!(read_private(&path, 100), Err(Untrusted::NotOurs { uid: 65534, .. })));
        }
    }

    #[test]
    fn private_dir_tightens_loose_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        fs::create_dir_all(&sub).unwrap();
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&sub).unwrap();
        assert_eq!(fs::metadata(&sub).unwrap().permissions().mode() & 0o777, 0o700);
    }
}
