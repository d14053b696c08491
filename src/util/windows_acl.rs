//! Windows access control for the files azml-ssh writes and trusts: the Windows equivalent of Unix's owner and
//! mode bits. The only module outside `transport/` with `unsafe` code (Win32 security calls have no safe wrapper in
//! std), each block with a SAFETY comment.
//!
//! - Private files and directories are created with a protected DACL granting full control to the user and to
//!   SYSTEM only (`D:P(A;OICI;FA;;;<user>)(A;OICI;FA;;;SY)`), so nothing is inherited from a looser parent.
//! - A file or directory is trusted when its owner is the user and no ALLOW entry lets anyone but the user,
//!   SYSTEM or Administrators write it (inherit-only entries do not apply to the object itself); a missing (null)
//!   DACL grants everyone everything and is never trusted. Windows OpenSSH judges keys and configs the same way.
#![allow(unsafe_code)]

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::{AsRawHandle, FromRawHandle, RawHandle};
use std::path::Path;
use std::sync::OnceLock;

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_ALREADY_EXISTS, GENERIC_READ, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE, LocalFree,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo, SDDL_REVISION_1,
    SE_FILE_OBJECT,
};
use windows_sys::Win32::Security::{
    ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, DACL_SECURITY_INFORMATION, GetAce, GetTokenInformation, INHERIT_ONLY_ACE,
    OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID, SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::Storage::FileSystem::{
    CREATE_NEW, CreateDirectoryW, CreateFileW, FILE_ATTRIBUTE_NORMAL, FILE_SHARE_DELETE, FILE_SHARE_READ,
    FILE_SHARE_WRITE, OPEN_ALWAYS,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

/// ACCESS_ALLOWED_ACE_TYPE: the only entry type that grants anything.
const ACCESS_ALLOWED: u8 = 0;
/// Rights that let someone change a file's content, its ACL or owner, or (for a directory) what it holds.
const WRITE_RIGHTS: u32 = 0x0000_0002 // FILE_WRITE_DATA / FILE_ADD_FILE
    | 0x0000_0004 // FILE_APPEND_DATA / FILE_ADD_SUBDIRECTORY
    | 0x0000_0040 // FILE_DELETE_CHILD
    | 0x0001_0000 // DELETE
    | 0x0004_0000 // WRITE_DAC
    | 0x0008_0000 // WRITE_OWNER
    | 0x1000_0000 // GENERIC_ALL
    | 0x4000_0000; // GENERIC_WRITE
/// Rights that let someone read a file's content.
const READ_RIGHTS: u32 = 0x0000_0001 // FILE_READ_DATA
    | 0x1000_0000 // GENERIC_ALL
    | 0x8000_0000; // GENERIC_READ

const SYSTEM: &str = "S-1-5-18";
const ADMINISTRATORS: &str = "S-1-5-32-544";

/// What is wrong with a file's security.
#[derive(Debug)]
pub(crate) enum AclProblem {
    /// Owned by someone else (the owner's SID).
    NotOurs(String),
    /// Someone else may write it (their SID or name).
    Writable(String),
    /// No DACL at all: everyone may do everything.
    NoDacl,
    Io(io::Error),
}

fn wide(path: &OsStr) -> Vec<u16> {
    path.encode_wide().chain(std::iter::once(0)).collect()
}

/// The current user's SID in string form (`S-1-5-21-…`), asked once per process.
pub(crate) fn user_sid() -> io::Result<&'static str> {
    static SID: OnceLock<Result<String, i32>> = OnceLock::new();
    SID.get_or_init(|| query_user_sid().map_err(|e| e.raw_os_error().unwrap_or(0)))
        .as_deref()
        .map_err(|&code| io::Error::from_raw_os_error(code))
}

fn query_user_sid() -> io::Result<String> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: GetCurrentProcess returns a pseudo-handle; `token` receives a handle we close below.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // TOKEN_USER is a SID pointer followed by the SID itself; 256 bytes hold any SID. u64s keep it aligned.
    let mut buffer = [0u64; 64];
    let mut length = 0u32;
    // SAFETY: `buffer` is writable for the size we pass; `token` is the open token handle.
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenUser,
            buffer.as_mut_ptr().cast(),
            std::mem::size_of_val(&buffer) as u32,
            &mut length,
        )
    };
    let error = io::Error::last_os_error();
    // SAFETY: `token` is a handle we own and no longer use.
    unsafe { CloseHandle(token) };
    if ok == 0 {
        return Err(error);
    }
    // SAFETY: on success the buffer starts with a TOKEN_USER whose SID points into the same buffer.
    let sid = unsafe { (*buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    sid_string(sid)
}

fn sid_string(sid: PSID) -> io::Result<String> {
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: `sid` is a valid SID; on success `text` is a NUL-terminated string we free with LocalFree.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `text` is NUL-terminated (see above).
    let len = (0..).take_while(|&i| unsafe { *text.add(i) } != 0).count();
    // SAFETY: `len` u16s before the terminator are initialised.
    let result = String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(text, len) });
    // SAFETY: allocated by ConvertSidToStringSidW with LocalAlloc.
    unsafe { LocalFree(text.cast()) };
    Ok(result)
}

/// A self-relative security descriptor from LocalAlloc, freed on drop.
struct Descriptor(PSECURITY_DESCRIPTOR);

impl Drop for Descriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW with LocalAlloc.
        unsafe { LocalFree(self.0) };
    }
}

/// The owner-only descriptor private files and directories are created with.
fn private_descriptor() -> io::Result<Descriptor> {
    let sddl = format!("D:P(A;OICI;FA;;;{})(A;OICI;FA;;;SY)", user_sid()?);
    let text = wide(OsStr::new(&sddl));
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: `text` is NUL-terminated; on success `descriptor` is LocalAlloc'd and owned by the Descriptor.
    let ok = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            text.as_ptr(),
            SDDL_REVISION_1,
            &mut descriptor,
            std::ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Descriptor(descriptor))
}

fn attributes(descriptor: &Descriptor) -> SECURITY_ATTRIBUTES {
    SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: descriptor.0,
        bInheritHandle: 0,
    }
}

/// Opens `path` for reading and writing, creating it private to the user if it does not exist (with `create_new`,
/// failing if it does). An existing file keeps its ACL.
pub(crate) fn create_private_file(path: &Path, create_new: bool) -> io::Result<File> {
    let descriptor = private_descriptor()?;
    let attributes = attributes(&descriptor);
    let name = wide(path.as_os_str());
    let disposition = if create_new { CREATE_NEW } else { OPEN_ALWAYS };
    // SAFETY: `name` is NUL-terminated and `attributes` (with its descriptor) outlives the call.
    let handle = unsafe {
        CreateFileW(
            name.as_ptr(),
            GENERIC_READ | GENERIC_WRITE,
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            &attributes,
            disposition,
            FILE_ATTRIBUTE_NORMAL,
            std::ptr::null_mut(),
        )
    };
    if handle == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a valid handle that nothing else owns.
    Ok(unsafe { File::from_raw_handle(handle as RawHandle) })
}

/// Creates directory `path` private to the user; an existing one is left as it is.
pub(crate) fn create_private_dir(path: &Path) -> io::Result<()> {
    let descriptor = private_descriptor()?;
    let attributes = attributes(&descriptor);
    let name = wide(path.as_os_str());
    // SAFETY: `name` is NUL-terminated and `attributes` outlives the call.
    if unsafe { CreateDirectoryW(name.as_ptr(), &attributes) } == 0 {
        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(ERROR_ALREADY_EXISTS as i32) {
            return Err(error);
        }
    }
    Ok(())
}

/// The owner and the allowed entries (SID, rights) of the object behind `file`'s handle.
fn owner_and_grants(file: &File) -> Result<(String, Vec<(String, u32)>), AclProblem> {
    let mut owner: PSID = std::ptr::null_mut();
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: the handle is open (with READ_CONTROL, which reading access includes); the out-pointers point into
    // `descriptor`, which we free after the last use.
    let status = unsafe {
        GetSecurityInfo(
            file.as_raw_handle() as HANDLE,
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
            &mut owner,
            std::ptr::null_mut(),
            &mut dacl,
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    if status != 0 {
        return Err(AclProblem::Io(io::Error::from_raw_os_error(status as i32)));
    }
    let descriptor = Descriptor(descriptor);
    let owner = sid_string(owner).map_err(AclProblem::Io)?;
    if dacl.is_null() {
        return Err(AclProblem::NoDacl);
    }
    let mut grants = Vec::new();
    // SAFETY: `dacl` points into `descriptor`, alive until the end of this function.
    let count = unsafe { (*dacl).AceCount };
    for index in 0..u32::from(count) {
        let mut ace: *mut core::ffi::c_void = std::ptr::null_mut();
        // SAFETY: `index` is below the ACL's entry count.
        if unsafe { GetAce(dacl, index, &mut ace) } == 0 {
            return Err(AclProblem::Io(io::Error::last_os_error()));
        }
        // SAFETY: every ACE starts with an ACE_HEADER.
        let header = unsafe { &*ace.cast::<ACE_HEADER>() };
        if header.AceType != ACCESS_ALLOWED || header.AceFlags & INHERIT_ONLY_ACE as u8 != 0 {
            continue;
        }
        // SAFETY: an ACCESS_ALLOWED entry is an ACCESS_ALLOWED_ACE whose SID starts at SidStart.
        let allowed = unsafe { &*ace.cast::<ACCESS_ALLOWED_ACE>() };
        let sid = sid_string(std::ptr::addr_of!(allowed.SidStart) as PSID).map_err(AclProblem::Io)?;
        grants.push((sid, allowed.Mask));
    }
    drop(descriptor);
    Ok((owner, grants))
}

/// Checks that the user owns `file` and nobody else may write it.
pub(crate) fn check_private(file: &File) -> Result<(), AclProblem> {
    let me = user_sid().map_err(AclProblem::Io)?;
    let (owner, grants) = owner_and_grants(file)?;
    if owner != me {
        return Err(AclProblem::NotOurs(account_name(&owner)));
    }
    match grants.iter().find(|(sid, mask)| mask & WRITE_RIGHTS != 0 && !trusted(sid, me)) {
        Some((sid, _)) => Err(AclProblem::Writable(account_name(sid))),
        None => Ok(()),
    }
}

/// Who besides the user, SYSTEM and Administrators may read `file` (Windows OpenSSH refuses such private keys).
pub(crate) fn other_readers(file: &File) -> Result<Vec<String>, AclProblem> {
    let me = user_sid().map_err(AclProblem::Io)?;
    let (_, grants) = owner_and_grants(file)?;
    Ok(grants
        .iter()
        .filter(|(sid, mask)| mask & READ_RIGHTS != 0 && !trusted(sid, me))
        .map(|(sid, _)| account_name(sid))
        .collect())
}

fn trusted(sid: &str, me: &str) -> bool {
    sid == me || sid == SYSTEM || sid == ADMINISTRATORS
}

/// A readable name for the SIDs that usually show up where they should not.
fn account_name(sid: &str) -> String {
    match sid {
        "S-1-1-0" => "Everyone".to_owned(),
        "S-1-5-11" => "Authenticated Users".to_owned(),
        "S-1-5-32-545" => "Users".to_owned(),
        "S-1-5-32-546" => "Guests".to_owned(),
        other => other.to_owned(),
    }
}

/// The 8.3 short form of `path` (`C:\PROGRA~1\azml-ssh`), where the volume keeps short names; `None` where it
/// does not (short names can be turned off per volume) or the call fails. Not an ACL matter, but the one other
/// Win32 call azml-ssh makes outside `transport/`: a program path with spaces must be written without quotes for
/// Windows' OpenSSH 7.7 to start it.
pub(crate) fn short_path(path: &Path) -> Option<std::path::PathBuf> {
    use std::os::windows::ffi::OsStringExt;
    use windows_sys::Win32::Storage::FileSystem::GetShortPathNameW;
    let long = wide(path.as_os_str());
    let mut buffer = vec![0u16; 1024];
    // SAFETY: `long` is NUL-terminated; the output buffer's length is passed with it, and the call writes at
    // most that many units. A result of 0 is failure; a result above the length asks for a bigger buffer,
    // which a path this long never needs here.
    let len = unsafe { GetShortPathNameW(long.as_ptr(), buffer.as_mut_ptr(), buffer.len() as u32) } as usize;
    (len > 0 && len < buffer.len()).then(|| std::path::PathBuf::from(std::ffi::OsString::from_wide(&buffer[..len])))
}
