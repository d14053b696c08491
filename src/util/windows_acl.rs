//! Windows access control for the files azml-ssh writes and trusts: the Windows equivalent of Unix's owner and
//! mode bits. The only module outside `transport/` with `unsafe` code (Win32 security calls have no safe wrapper in
//! std), each block with a SAFETY comment.
//!
//! - Private files and directories are created with a protected DACL granting full control to the user and to
//!   SYSTEM only (`D:P(A;OICI;FA;;;<user>)(A;OICI;FA;;;SY)`), so nothing is inherited from a looser parent.
//! - A file or directory is trusted by the rule in [`crate::util::acl_rule`] (Windows OpenSSH's): owned by the user,
//!   Administrators or SYSTEM, and writable by nobody else; this module only reads the owner and DACL for it.
//! - A file replaced by a rewrite gets the replaced file's owner and DACL first ([`copy_security`]).
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
    ACE_HEADER, ACL, DACL_SECURITY_INFORMATION, GetAce, GetTokenInformation, OWNER_SECURITY_INFORMATION,
    PSECURITY_DESCRIPTOR, PSID, SECURITY_ATTRIBUTES, SetFileSecurityW, TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::Storage::FileSystem::{
    CREATE_NEW, CreateDirectoryW, CreateFileW, FILE_ATTRIBUTE_NORMAL, FILE_SHARE_DELETE, FILE_SHARE_READ,
    FILE_SHARE_WRITE, OPEN_ALWAYS,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use crate::util::acl_rule::{self, Ace, AceKind, Distrust, Security, Trustee};

/// What is wrong with a file's security.
#[derive(Debug)]
pub(crate) enum AclProblem {
    /// Owned by someone other than the user, Administrators or SYSTEM (the owner's name or SID).
    NotOurs(String),
    /// Someone else may write it (their SID or name).
    Writable(String),
    /// No DACL at all: everyone may do everything.
    NoDacl,
    Io(io::Error),
}

impl From<Distrust> for AclProblem {
    fn from(distrust: Distrust) -> AclProblem {
        match distrust {
            Distrust::NotOurs(owner) => AclProblem::NotOurs(owner),
            Distrust::Writable(who) => AclProblem::Writable(who),
            Distrust::NoDacl => AclProblem::NoDacl,
        }
    }
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
fn privatedescriptor() -> io::Result<Descriptor> {
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
    let descriptor = privatedescriptor()?;
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
    let descriptor = privatedescriptor()?;
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

/// A security descriptor GetSecurityInfo returned, with the owner and DACL pointing into it; freed on drop.
struct Read {
    owner: PSID,
    dacl: *mut ACL,
    descriptor: Descriptor,
}

/// The owner and DACL of the object behind `handle` (opened with READ_CONTROL, which any read access includes).
fn read_owner_and_dacl(handle: HANDLE) -> io::Result<Read> {
    let mut owner: PSID = std::ptr::null_mut();
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: `handle` is open with READ_CONTROL; on success the out-pointers point into `descriptor`, a LocalAlloc'd
    // block that the returned Read owns, so they stay valid as long as it lives.
    let status = unsafe {
        GetSecurityInfo(
            handle,
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
        return Err(io::Error::from_raw_os_error(status as i32));
    }
    Ok(Read { owner, dacl, descriptor: Descriptor(descriptor) })
}

/// The owner and DACL of the object behind `file`'s handle, as the rule of trust reads them.
fn security_of(file: &File) -> io::Result<Security> {
    let me = user_sid()?;
    let read = read_owner_and_dacl(file.as_raw_handle() as HANDLE)?;
    let owner = Trustee::of(&sid_string(read.owner)?, me);
    if read.dacl.is_null() {
        return Ok(Security { owner, dacl: None });
    }
    let mut entries = Vec::new();
    // SAFETY: `read.dacl` points into the descriptor `read` owns, alive until the end of this function.
    let count = unsafe { (*read.dacl).AceCount };
    for index in 0..u32::from(count) {
        let mut ace: *mut core::ffi::c_void = std::ptr::null_mut();
        // SAFETY: `index` is below the ACL's entry count; `ace` receives a pointer into the same ACL.
        if unsafe { GetAce(read.dacl, index, &mut ace) } == 0 {
            return Err(io::Error::last_os_error());
        }
        entries.extend(entry(ace.cast::<u8>(), me)?);
    }
    Ok(Security { owner, dacl: Some(entries) })
}

/// The DACL entry at `ace`, if it is one the rule of trust reads (deny entries keep no trustee: none is needed).
fn entry(ace: *const u8, me: &str) -> io::Result<Option<Ace>> {
    // SAFETY: `ace` is an entry of a valid ACL (from GetAce), and every entry starts with an ACE_HEADER.
    let header = unsafe { &*ace.cast::<ACE_HEADER>() };
    let Some(kind) = AceKind::from_type(header.AceType) else { return Ok(None) };
    // Every granting and denying layout puts the access mask right after the header, and object entries their
    // flags word right after the mask.
    // SAFETY: the mask is within the entry (see above); read_unaligned asks nothing of the entry's alignment.
    let mask = unsafe { ace.add(4).cast::<u32>().read_unaligned() };
    let object_flags = if kind.is_object() {
        // SAFETY: an object entry holds its flags word at offset 8 (see above).
        unsafe { ace.add(8).cast::<u32>().read_unaligned() }
    } else {
        0
    };
    let trustee = match kind.sid_offset(object_flags) {
        // SAFETY: the entry's layout (its kind, and for object entries its flags) puts a valid SID at `offset`.
        Some(offset) => Trustee::of(&sid_string(unsafe { ace.add(offset) } as PSID)?, me),
        // A deny entry only takes rights away, so whom it names never changes the verdict.
        None => Trustee::Other(String::new()),
    };
    Ok(Some(Ace { kind, flags: header.AceFlags, mask, trustee }))
}

/// Checks that `file` is owned by the user, Administrators or SYSTEM and that nobody else may write it.
pub(crate) fn check_private(file: &File) -> Result<(), AclProblem> {
    let security = security_of(file).map_err(AclProblem::Io)?;
    acl_rule::judge(&security).map_err(AclProblem::from)
}

/// Who besides the user, SYSTEM and Administrators can read `file` (Windows OpenSSH refuses such private keys).
pub(crate) fn other_readers(file: &File) -> Result<Vec<String>, AclProblem> {
    let security = security_of(file).map_err(AclProblem::Io)?;
    acl_rule::other_readers(&security).map_err(AclProblem::from)
}

/// Gives the file at `to` the owner and DACL of the file `from` has open, as a replacement of `from` in the same
/// folder must have them. The DACL is copied as it is — its entries, inherited ones still marked so, and its
/// protected or inheriting state — through the low-level call that applies a descriptor as given: the
/// higher-level SetSecurityInfo would recompute what an inheriting DACL gets from the folder, which (the folder
/// being the same) can only add entries that `from` itself does not have. The owner is copied where Windows lets
/// the user set it (to the user, or to Administrators from an elevated prompt).
pub(crate) fn copy_security(from: &File, to: &Path) -> io::Result<()> {
    let read = read_owner_and_dacl(from.as_raw_handle() as HANDLE)?;
    let name = wide(to.as_os_str());
    // Setting another owner needs a privilege or that owner among the token's own groups; without either the user
    // stays owner, which the rule of trust accepts just as well, so a refusal is no error.
    // SAFETY: `name` is NUL-terminated; `read` owns a valid self-relative descriptor holding the owner.
    unsafe { SetFileSecurityW(name.as_ptr(), OWNER_SECURITY_INFORMATION, read.descriptor.0) };
    // SAFETY: as above; the descriptor holds the DACL (possibly null, which the copy then has too) and its
    // control bits, among them SE_DACL_PROTECTED.
    if unsafe { SetFileSecurityW(name.as_ptr(), DACL_SECURITY_INFORMATION, read.descriptor.0) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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
