//! Owner and mode bits: what "private" and "ours" mean on Unix.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::{Mode, Untrusted};

pub(crate) fn mode_of(meta: &fs::Metadata) -> Mode {
    meta.permissions().mode() & 0o7777
}

pub(crate) fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Refuses a directory of another user; tightens a loose one of ours.
pub(crate) fn adopt_private_dir(dir: &Path, meta: &fs::Metadata) -> io::Result<()> {
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        let owner = format!("uid {}", meta.uid());
        return Err(io::Error::other(Untrusted::NotOurs { path: dir.display().to_string(), owner }));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn ours_and_private(path: &Path, meta: &fs::Metadata) -> Result<(), Untrusted> {
    let shown = || path.display().to_string();
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(Untrusted::NotOurs { path: shown(), owner: format!("uid {}", meta.uid()) });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Untrusted::Loose { path: shown(), how: format!("mode {mode:o}") });
    }
    Ok(())
}

pub(crate) fn check_dir_ours_and_private(dir: &Path, meta: &fs::Metadata) -> Result<(), Untrusted> {
    ours_and_private(dir, meta)
}

pub(crate) fn check_ours_and_private(path: &Path, _file: &File, meta: &fs::Metadata) -> Result<(), Untrusted> {
    ours_and_private(path, meta)
}

/// `O_NONBLOCK` as well: opening a FIFO for reading would otherwise wait for a writer, for ever. A regular file
/// (the only kind the caller goes on to read) reads the same either way.
pub(crate) fn open_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK).open(path)
}

/// Opens `path` (following links) without waiting on a FIFO's writer; see [`open_no_follow`].
pub(crate) fn open_no_wait(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(nix::libc::O_NONBLOCK).open(path)
}

/// `O_NOFOLLOW` refuses a final symbolic link with ELOOP.
pub(crate) fn is_link_refusal(e: &io::Error) -> bool {
    e.raw_os_error() == Some(nix::libc::ELOOP)
}

/// An opened file is never a link here: `O_NOFOLLOW` has refused those already.
pub(crate) fn is_link(_meta: &fs::Metadata) -> bool {
    false
}

pub(crate) fn create_new(path: &Path, mode: Mode) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).mode(mode).open(path)
}

/// Gives a replacement for `target` (the new file `file`) exactly `mode` — which the umask may have narrowed at
/// creation — and the owner and group `target` has, where the system lets us (root may give a file to anyone; a
/// user only to a group of their own), so a rewrite by `sudo` or in a setgid folder changes no ownership.
pub(crate) fn keep_protection(file: &File, _temp: &Path, target: &Path, mode: Mode) -> io::Result<()> {
    match fs::symlink_metadata(target) {
        Ok(meta) => {
            let (uid, gid) = (meta.uid(), meta.gid());
            let ours = file.metadata()?;
            if (uid, gid) != (ours.uid(), ours.gid()) {
                match std::os::unix::fs::fchown(file, Some(uid), Some(gid)) {
                    Err(e) if e.raw_os_error() == Some(nix::libc::EPERM) => {}
                    other => other?,
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // After the chown, which clears the set-id bits.
    file.set_permissions(fs::Permissions::from_mode(mode))
}

pub fn replace(from: &Path, to: &Path) -> io::Result<()> {
    fs::rename(from, to)
}

/// Swaps the files named `a` and `b` in one step; `Unsupported` where the system or the filesystem cannot.
#[cfg(target_os = "linux")]
pub(crate) fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    renameat2(a, b, rustix::fs::RenameFlags::EXCHANGE)
}

/// Renames `from` to `to` unless `to` exists (`AlreadyExists`); `Unsupported` where the system cannot.
#[cfg(target_os = "linux")]
pub(crate) fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    renameat2(from, to, rustix::fs::RenameFlags::NOREPLACE)
}

/// renameat2(2) through rustix, which makes the system call itself: glibc has a wrapper only from 2.28, and the
/// manylinux2014 program must run on glibc 2.17 (CI's fresh build failed to link with nix's, which calls
/// glibc's). musl gets the same.
#[cfg(target_os = "linux")]
fn renameat2(from: &Path, to: &Path, flags: rustix::fs::RenameFlags) -> io::Result<()> {
    use rustix::io::Errno;
    match rustix::fs::renameat_with(rustix::fs::CWD, from, rustix::fs::CWD, to, flags) {
        Ok(()) => Ok(()),
        // An old kernel, or a filesystem (some network ones) without these flags.
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => Err(io::ErrorKind::Unsupported.into()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn exchange(_a: &Path, _b: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn rename_no_replace(_from: &Path, _to: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

pub(crate) fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
}

/// The directory itself is locked: it is never deleted, so every writer locks the same inode.
pub(crate) fn dir_lock_handle(dir: &Path) -> io::Result<File> {
    File::open(dir)
}

/// Identity, size and time of a file, to notice that it was rewritten.
pub(crate) fn file_identity(meta: &fs::Metadata) -> String {
    format!("{}:{}:{}:{}.{}", meta.dev(), meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec())
}

/// How others can read `path`, if they can (ssh refuses such private keys): its mode.
pub(crate) fn others_can_read(path: &Path) -> io::Result<Option<String>> {
    let mode = fs::metadata(path)?.permissions().mode() & 0o777;
    Ok((mode & 0o077 != 0).then(|| format!("mode {mode:o}")))
}

/// The command that makes a private key private, as the user would type it.
pub(crate) fn private_key_fix(path: &Path) -> String {
    format!("chmod 600 {}", path.display())
}

/// Opens `path` for appending, creating it private (0600) if it does not exist.
pub(crate) fn open_private_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::super::{Replaced, swapped};
    use std::fs;

    /// The race the crash tests found once in a hundred runs, set up exactly: an editor saved (E1) just before
    /// our swap took it out, and saved again (E2) just after, over what we had put in. Putting E1 back must not
    /// undo E2: the latest save ends in the file, and nothing is left beside it.
    #[test]
    fn swapping_back_keeps_a_save_that_landed_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let (path, temp) = (dir.path().join("config"), dir.path().join(".config.tmp"));
        // After our swap: the temporary name holds what was taken out (E1); E2 was renamed over ours.
        fs::write(&temp, "E1").unwrap();
        fs::write(&path, "E2").unwrap();
        let result = swapped(&temp, &path, b"as read", b"ours").unwrap();
        assert_eq!(result, Replaced::Changed);
        assert_eq!(fs::read(&path).unwrap(), b"E2", "the latest save is in the file");

        // No save meanwhile: what was taken out goes back, and ours is what the temporary name holds.
        fs::write(&temp, "E1").unwrap();
        fs::write(&path, "ours").unwrap();
        assert_eq!(swapped(&temp, &path, b"as read", b"ours").unwrap(), Replaced::Changed);
        assert_eq!(fs::read(&path).unwrap(), b"E1");
        assert_eq!(fs::read(&temp).unwrap(), b"ours");
    }
}
