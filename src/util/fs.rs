//! Private files written so that a reader (another proxy, another `azml-ssh`) sees the old content or the new,
//! never a torn one. What "private" and "ours" mean is the platform's business (`sys`): owner and mode bits on
//! Unix, the owner and the DACL on Windows; the rules built on them are the same everywhere.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

#[cfg(unix)]
#[path = "fs/unix.rs"]
mod sys;
#[cfg(windows)]
#[path = "fs/windows.rs"]
mod sys;

pub(crate) use sys::{file_identity, open_private_append, others_can_read, private_key_fix};

/// A file mode as Unix knows it. On Windows only its meaning survives: no bits for group or others means
/// "owner-only ACL", anything else means "the ACL the file already has, or for a new file the one the folder
/// hands down".
pub(crate) type Mode = u32;

/// The mode of an existing file, to be kept when it is replaced.
pub(crate) fn mode_of(meta: &fs::Metadata) -> Mode {
    sys::mode_of(meta)
}

/// Creates `dir` (and parents) if needed and makes sure it is private to the user (0700, or an owner-only ACL).
/// A directory that belongs to someone else (a shared `XDG_CACHE_HOME`, say) is refused, never adopted.
pub(crate) fn private_dir(dir: &Path) -> io::Result<()> {
    sys::create_private_dir_all(dir)?;
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other(Untrusted::NotADirectory { path: dir.display().to_string() }));
    }
    sys::adopt_private_dir(dir, &meta)
}

/// Why a cached file or directory is not trusted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Untrusted {
    #[error("{path} is a symbolic link")]
    Symlink { path: String },
    #[error("{path} belongs to another user ({owner})")]
    NotOurs { path: String, owner: String },
    #[error("{path} is open to other users ({how})")]
    Loose { path: String, how: String },
    #[error("{path} is not a regular file")]
    NotAFile { path: String },
    #[error("{path} is not a directory")]
    NotADirectory { path: String },
    #[error("{path} is larger than {max} bytes")]
    TooLarge { path: String, max: u64 },
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: io::Error },
}

/// A directory azml-ssh may read its caches from: a real directory (not a link), ours, private.
pub(crate) fn check_private_dir(dir: &Path) -> Result<(), Untrusted> {
    let meta = fs::symlink_metadata(dir).map_err(|source| Untrusted::Io { path: dir.display().to_string(), source })?;
    if meta.file_type().is_symlink() {
        return Err(Untrusted::Symlink { path: dir.display().to_string() });
    }
    if !meta.is_dir() {
        return Err(Untrusted::NotADirectory { path: dir.display().to_string() });
    }
    sys::check_dir_ours_and_private(dir, &meta)
}

/// Reads a file only this user can have written: opened without following a link, then checked on the open
/// descriptor (so it cannot be swapped in between) for owner, access and size. `Ok(None)` when it does not exist.
pub(crate) fn read_private(path: &Path, max: u64) -> Result<Option<Vec<u8>>, Untrusted> {
    let shown = || path.display().to_string();
    let file = match sys::open_no_follow(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if sys::is_link_refusal(&e) => return Err(Untrusted::Symlink { path: shown() }),
        Err(source) => return Err(Untrusted::Io { path: shown(), source }),
    };
    let meta = file.metadata().map_err(|source| Untrusted::Io { path: shown(), source })?;
    if sys::is_link(&meta) {
        return Err(Untrusted::Symlink { path: shown() });
    }
    if !meta.is_file() {
        return Err(Untrusted::NotAFile { path: shown() });
    }
    sys::check_ours_and_private(path, &file, &meta)?;
    read_bounded(file, &meta, path, max).map(Some)
}

/// Reads a file that anyone may have put there (the user's ssh config and what it includes, VS Code's settings):
/// links are followed, but only a regular file is read, at most `max` bytes, and it is opened so that a FIFO or a
/// device in its place cannot make the open wait. `Ok(None)` when it does not exist.
pub(crate) fn read_regular(path: &Path, max: u64) -> Result<Option<Vec<u8>>, Untrusted> {
    let shown = || path.display().to_string();
    let file = match sys::open_no_wait(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Untrusted::Io { path: shown(), source }),
    };
    let meta = file.metadata().map_err(|source| Untrusted::Io { path: shown(), source })?;
    if !meta.is_file() {
        return Err(Untrusted::NotAFile { path: shown() });
    }
    read_bounded(file, &meta, path, max).map(Some)
}

/// The content of an open regular file, refused when it is (or grows while read) larger than `max`.
fn read_bounded(file: File, meta: &fs::Metadata, path: &Path, max: u64) -> Result<Vec<u8>, Untrusted> {
    use std::io::Read;
    let shown = || path.display().to_string();
    if meta.len() > max {
        return Err(Untrusted::TooLarge { path: shown(), max });
    }
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| Untrusted::Io { path: shown(), source })?;
    if bytes.len() as u64 > max {
        return Err(Untrusted::TooLarge { path: shown(), max });
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` through a uniquely named temporary file in the same directory and a rename, with
/// `mode` set before any byte is written. A file that is replaced passes on its owner where the system allows,
/// and on Windows its DACL unless `mode` asks for a private file (see `keep_protection` in each half). The
/// temporary name includes the pid and a counter, so concurrent writers never share one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: Mode) -> io::Result<()> {
    let temp = write_temp(path, bytes, mode)?;
    let result = sys::replace(&temp, path);
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// The whole of `bytes`, synced, in a new uniquely named file next to `path` (see [`write_atomic`]).
fn write_temp(path: &Path, bytes: &[u8], mode: Mode) -> io::Result<std::path::PathBuf> {
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
        let mut file: File = sys::create_new(&temp, mode)?;
        sys::keep_protection(&file, &temp, path, mode)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    match result {
        Ok(()) => Ok(temp),
        Err(e) => {
            let _ = fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Whether [`write_unchanged`] replaced the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replaced {
    Yes,
    /// Someone else wrote it since the caller read it: their content stays, ours is dropped.
    Changed,
}

/// [`write_atomic`] that gives way to another writer that does not take our lock (an editor): `path` is
/// replaced only if it still holds `expected` (`None`: no file), so an edit saved since the caller read it is
/// never overwritten. Where the system swaps two names in one step (Linux), the file taken out is compared after
/// the swap and swapped back if it is not `expected`, which leaves no window against writers that save by rename;
/// elsewhere the check comes just before the rename.
pub(crate) fn write_unchanged(path: &Path, bytes: &[u8], mode: Mode, expected: Option<&[u8]>) -> io::Result<Replaced> {
    let temp = write_temp(path, bytes, mode)?;
    let result = match expected {
        None => match sys::rename_no_replace(&temp, path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Replaced::Changed),
            Err(e) if e.kind() == io::ErrorKind::Unsupported => replace_if(&temp, path, None),
            other => other.map(|()| Replaced::Yes),
        },
        Some(expected) => match sys::exchange(&temp, path) {
            Ok(()) => swapped(&temp, path, expected, bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Replaced::Changed),
            Err(e) if e.kind() == io::ErrorKind::Unsupported => replace_if(&temp, path, Some(expected)),
            Err(e) => Err(e),
        },
    };
    // After a swap `temp` holds the replaced content, or ours, or a superseded save; after a rename it is gone.
    let _ = fs::remove_file(&temp);
    result
}

/// `temp` now holds what was at `path`: keeps the swap if that is `expected`, swaps back otherwise.
///
/// Swapping back must not undo a save that landed on `path` after our swap (an editor saving twice): that save
/// replaced what we had left there and is the newest content, so it must end at `path`. After each swap, `temp`
/// holds what `path` held; if that is not what we had left there, someone saved over it, and we swap again to put
/// their save back. What finally stays at `temp` is ours or a save that a later one superseded.
pub(super) fn swapped(temp: &Path, path: &Path, expected: &[u8], ours: &[u8]) -> io::Result<Replaced> {
    let taken_out = read_regular(temp, MAX_COMPARED).map_err(io::Error::other)?;
    let mut at_temp = match taken_out {
        Some(old) if old == expected => return Ok(Replaced::Yes),
        other => other,
    };
    let mut left_at_path = Some(ours.to_vec());
    for _ in 0..MAX_SWAPS {
        sys::exchange(temp, path)?;
        let found = read_regular(temp, MAX_COMPARED).map_err(io::Error::other)?;
        if found == left_at_path {
            return Ok(Replaced::Changed);
        }
        (left_at_path, at_temp) = (at_temp, found);
    }
    // Someone's save is at `temp`, which the caller removes: it goes beside the file, under a name of its own.
    let kept = path.with_file_name(format!(
        "{}.azml-ssh-kept-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    fs::rename(temp, &kept)?;
    Err(io::Error::other(format!(
        "{} kept changing while azml-ssh put back what it had replaced; the latest save is kept in {}",
        path.display(),
        kept.display()
    )))
}

/// How often [`swapped`] swaps again for saves landing meanwhile before it gives up (each takes a save between two
/// of its system calls).
const MAX_SWAPS: usize = 16;

/// The check-then-rename fallback of [`write_unchanged`].
fn replace_if(temp: &Path, path: &Path, expected: Option<&[u8]>) -> io::Result<Replaced> {
    let now = read_regular(path, MAX_COMPARED).map_err(io::Error::other)?;
    if now.as_deref() != expected {
        return Ok(Replaced::Changed);
    }
    sys::replace(temp, path).map(|()| Replaced::Yes)
}

/// The most [`write_unchanged`] reads back to compare: more than any file it is given to write.
const MAX_COMPARED: u64 = 64 << 20;

/// Whether a lock had to be waited for: someone else held it, and may have done the work meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    No,
    Yes,
}

/// An exclusive lock on file `path` (created private if needed) in a private directory, waiting for it at most
/// `limit` without blocking the runtime. The system releases a lock whose holder dies. The file holds no data:
/// it is only ever locked (Windows locks are mandatory for the locked bytes).
pub(crate) async fn lock_within(path: &Path, limit: std::time::Duration) -> io::Result<(File, Waited)> {
    if let Some(dir) = path.parent() {
        private_dir(dir)?;
    }
    let file = sys::open_lock_file(path)?;
    // A lock file someone else planted (or may write) is not ours to trust: whoever holds it could hold every
    // connection back.
    let meta = file.metadata()?;
    if sys::is_link(&meta) || !meta.is_file() {
        return Err(io::Error::other(Untrusted::NotAFile { path: path.display().to_string() }));
    }
    sys::check_ours_and_private(path, &file, &meta).map_err(io::Error::other)?;
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

/// An exclusive lock that stands for directory `dir`, held until the returned handle is dropped. The system
/// releases it when a holder dies, so a crashed azml-ssh never blocks the next one.
pub(crate) fn lock_dir(dir: &Path) -> io::Result<File> {
    let handle = sys::dir_lock_handle(dir)?;
    handle.lock()?;
    Ok(handle)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

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
    fn write_unchanged_gives_way_to_another_writer_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        assert_eq!(write_unchanged(&path, b"one", 0o600, None).unwrap(), Replaced::Yes);
        assert_eq!(write_unchanged(&path, b"two", 0o600, None).unwrap(), Replaced::Changed, "it exists now");
        assert_eq!(write_unchanged(&path, b"two", 0o600, Some(b"one")).unwrap(), Replaced::Yes);
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(write_unchanged(&path, b"three", 0o600, Some(b"one")).unwrap(), Replaced::Changed);
        assert_eq!(fs::read(&path).unwrap(), b"two", "the other writer's content stays");
        fs::remove_file(&path).unwrap();
        assert_eq!(write_unchanged(&path, b"three", 0o600, Some(b"two")).unwrap(), Replaced::Changed);
        assert!(!path.exists(), "a deleted file is not brought back");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "no temporary file is left");
    }

    #[test]
    fn atomic_write_keeps_a_looser_mode_despite_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        write_atomic(&path, b"x", 0o644).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
    }

    #[test]
    fn a_replaced_file_keeps_its_exact_mode_whatever_the_umask() {
        // Group write is what a umask of 022 (the usual one) takes away at creation.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o664)).unwrap();
        write_atomic(&path, b"new", mode_of(&fs::metadata(&path).unwrap())).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o7777, 0o664);
    }

    #[test]
    fn a_replaced_file_keeps_its_owner_where_that_is_allowed() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        fs::write(&path, "old").unwrap();
        let me = fs::metadata(&path).unwrap();
        // Only root may give a file away; anyone else can only check that their own file stays theirs.
        let owner = if nix::unistd::geteuid().is_root() { (65534, 65534) } else { (me.uid(), me.gid()) };
        std::os::unix::fs::chown(&path, Some(owner.0), Some(owner.1)).unwrap();
        write_atomic(&path, b"new", 0o644).unwrap();
        let after = fs::metadata(&path).unwrap();
        assert_eq!((after.uid(), after.gid()), owner);
        assert_eq!(after.permissions().mode() & 0o777, 0o644);
        assert_eq!(fs::read(&path).unwrap(), b"new");
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
            assert!(matches!(read_private(&path, 100), Err(Untrusted::NotOurs { .. })));
        }
    }

    #[test]
    fn a_fifo_is_refused_not_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR).unwrap();
        assert!(matches!(read_private(&fifo, 100), Err(Untrusted::NotAFile { .. })));
        assert!(matches!(read_regular(&fifo, 100), Err(Untrusted::NotAFile { .. })));
        assert!(matches!(read_regular(dir.path(), 100), Err(Untrusted::NotAFile { .. })));
        let file = dir.path().join("config");
        fs::write(&file, "Host x\n").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read_regular(&link, 100).unwrap().unwrap(), b"Host x\n", "links are followed");
        assert!(matches!(read_regular(&file, 3), Err(Untrusted::TooLarge { .. })));
        assert!(matches!(read_regular(&dir.path().join("none"), 3), Ok(None)));
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
