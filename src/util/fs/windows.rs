//! Owner and DACL: what "private" and "ours" mean on Windows (the calls themselves are in
//! [`crate::util::windows_acl`]).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::windows::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{Mode, Untrusted};
use crate::util::windows_acl::{self, AclProblem};

const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;
const READ_CONTROL: u32 = 0x0002_0000;
/// ERROR_ACCESS_DENIED and ERROR_SHARING_VIOLATION: what a rename over a file another process has open meets
/// for a moment (always on Windows before 1809, and under Wine).
const TRANSIENT_RENAME_ERRORS: [i32; 2] = [5, 32];

/// Only "private or not" has a meaning here (see [`Mode`]): a file that is kept keeps its own ACL
/// ([`keep_protection`]), whatever it is.
pub(crate) fn mode_of(_meta: &fs::Metadata) -> Mode {
    0o644
}

/// Creates `dir` and every missing folder above it private, as `mkdir -p -m 700` does: `%LOCALAPPDATA%\azml-ssh`
/// as much as the folders inside it. Folders that exist are left as they are.
pub(crate) fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.as_os_str().is_empty() && !d.is_dir()).collect();
    for folder in missing.into_iter().rev() {
        windows_acl::create_private_dir(folder)?;
    }
    Ok(())
}

fn open_dir(dir: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT).open(dir)
}

fn untrusted(path: &Path, problem: AclProblem) -> Untrusted {
    let path = path.display().to_string();
    match problem {
        AclProblem::NotOurs(owner) => Untrusted::NotOurs { path, owner },
        AclProblem::Writable(who) => Untrusted::Loose { path, how: format!("{who} may write it") },
        AclProblem::NoDacl => Untrusted::Loose { path, how: "it has no access control list".into() },
        AclProblem::Io(source) => Untrusted::Io { path, source },
    }
}

/// Refuses a directory of another user. A loose directory of ours is left as it is (folders under the profile
/// are private by inheritance); reading from it is then refused by [`check_dir_ours_and_private`].
pub(crate) fn adopt_private_dir(dir: &Path, _meta: &fs::Metadata) -> io::Result<()> {
    match windows_acl::check_private(&open_dir(dir)?) {
        Err(problem @ AclProblem::NotOurs(_)) => Err(io::Error::other(untrusted(dir, problem))),
        Err(AclProblem::Io(e)) => Err(e),
        _ => Ok(()),
    }
}

pub(crate) fn check_dir_ours_and_private(dir: &Path, _meta: &fs::Metadata) -> Result<(), Untrusted> {
    let handle = open_dir(dir).map_err(|source| Untrusted::Io { path: dir.display().to_string(), source })?;
    windows_acl::check_private(&handle).map_err(|problem| untrusted(dir, problem))
}

pub(crate) fn check_ours_and_private(path: &Path, file: &File, _meta: &fs::Metadata) -> Result<(), Untrusted> {
    windows_acl::check_private(file).map_err(|problem| untrusted(path, problem))
}

/// Opens a reparse point (a symbolic link or junction) itself rather than its target, so the caller sees it.
pub(crate) fn open_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(FILE_FLAG_OPEN_REPARSE_POINT).open(path)
}

/// Opens `path`, following links. Nothing in a Windows folder blocks an open the way a Unix FIFO does (named
/// pipes live under `\\.\pipe\`), so this is a plain open.
pub(crate) fn open_no_wait(path: &Path) -> io::Result<File> {
    File::open(path)
}

pub(crate) fn is_link_refusal(_e: &io::Error) -> bool {
    false
}

pub(crate) fn is_link(meta: &fs::Metadata) -> bool {
    meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0
}

pub(crate) fn create_new(path: &Path, mode: Mode) -> io::Result<File> {
    if mode & 0o077 == 0 {
        windows_acl::create_private_file(path, true)
    } else {
        OpenOptions::new().write(true).create_new(true).open(path)
    }
}

/// A replacement for `target` (the new file at `temp`, still open as `file`) gets the owner and DACL `target`
/// has, unless `mode` asks for a private file (which `create_new` made so): the user's own files, such as
/// `~\.ssh\config`, keep the ACL the user gave them instead of coming back with the folder's.
pub(crate) fn keep_protection(_file: &File, temp: &Path, target: &Path, mode: Mode) -> io::Result<()> {
    if mode & 0o077 == 0 {
        return Ok(());
    }
    // READ_CONTROL alone: no data access, so no sharing conflict with a reader of the target.
    let existing =
        match OpenOptions::new().access_mode(READ_CONTROL).custom_flags(FILE_FLAG_OPEN_REPARSE_POINT).open(target) {
            Ok(existing) => existing,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
    windows_acl::copy_security(&existing, temp)
}

/// Rename over the target; a reader that has it open makes that fail for a moment, so it is retried briefly.
/// Not offered here: [`super::write_unchanged`] checks just before [`replace`] instead.
pub(crate) fn exchange(_a: &Path, _b: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Not offered here; see [`exchange`].
pub(crate) fn rename_no_replace(_from: &Path, _to: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

pub fn replace(from: &Path, to: &Path) -> io::Result<()> {
    let mut tries = 0;
    loop {
        match fs::rename(from, to) {
            Err(e) if tries < 40 && e.raw_os_error().is_some_and(|c| TRANSIENT_RENAME_ERRORS.contains(&c)) => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            other => return other,
        }
    }
}

pub(crate) fn open_lock_file(path: &Path) -> io::Result<File> {
    windows_acl::create_private_file(path, false)
}

/// Windows cannot lock a directory, so a lock file stands for it: in azml-ssh's local data folder (named after
/// the directory), so nothing is added to the user's `.ssh`, and never deleted, so every writer locks the same one.
pub(crate) fn dir_lock_handle(dir: &Path) -> io::Result<File> {
    let path = dir_lock_path(dir).ok_or_else(|| io::Error::other("no LOCALAPPDATA folder to keep the lock in"))?;
    if let Some(parent) = path.parent() {
        super::private_dir(parent)?;
    }
    open_lock_file(&path)
}

fn dir_lock_path(dir: &Path) -> Option<PathBuf> {
    use sha2::Digest;
    let absolute = std::path::absolute(dir).ok()?;
    let key = absolute.to_string_lossy().to_lowercase();
    let digest = sha2::Sha256::digest(key.as_bytes());
    let name: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Some(crate::util::dirs::cache_root()?.join("locks").join(format!("dir-{name}.lock")))
}

/// Size and times of a file, to notice that it was rewritten.
pub(crate) fn file_identity(meta: &fs::Metadata) -> String {
    format!("{}:{}:{}", meta.file_size(), meta.creation_time(), meta.last_write_time())
}

/// Who besides the user, SYSTEM and Administrators can read `path` (Windows OpenSSH refuses such private keys).
pub(crate) fn others_can_read(path: &Path) -> io::Result<Option<String>> {
    let file = File::open(path)?;
    match windows_acl::other_readers(&file) {
        Ok(readers) if readers.is_empty() => Ok(None),
        Ok(readers) => Ok(Some(format!("{} can read it", readers.join(", ")))),
        Err(AclProblem::NoDacl) => Ok(Some("it has no access control list".into())),
        Err(AclProblem::Io(e)) => Err(e),
        Err(AclProblem::NotOurs(_) | AclProblem::Writable(_)) => Ok(None),
    }
}

/// The command that makes a private key private, as the user would type it (in cmd or PowerShell): `chmod 600`'s
/// equivalent, which Windows OpenSSH's documentation gives.
pub(crate) fn private_key_fix(path: &Path) -> String {
    let user = std::env::var("USERNAME").unwrap_or_else(|_| "%USERNAME%".into());
    format!("icacls \"{}\" /inheritance:r /grant:r \"{user}:F\"", path.display())
}

/// Opens `path` for appending, creating it private (an owner-only ACL) if it does not exist.
pub(crate) fn open_private_append(path: &Path) -> io::Result<File> {
    match windows_acl::create_private_file(path, true) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    OpenOptions::new().append(true).open(path)
}
