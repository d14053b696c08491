//! The Windows rule of trust for a file or folder, decided over a description of its security that
//! [`crate::util::windows_acl`] has already read, so the decision compiles and is tested on every platform.
//!
//! It is the rule Windows OpenSSH applies to configs and keys (`w32_secure_file_permission` in
//! PowerShell/openssh-portable): the owner is the user, BUILTIN\Administrators or SYSTEM, and no entry lets anyone
//! else write. Every entry type that can grant is counted — plain, callback (conditional), object and callback
//! object — since a grant that Windows honours only under a condition is still a grant we cannot rule out.
//! Inherit-only entries do not apply to the object itself, deny entries only take rights away, and a missing (null)
//! DACL grants everyone everything.

/// LocalSystem.
pub(crate) const SYSTEM: &str = "S-1-5-18";
/// BUILTIN\Administrators.
pub(crate) const ADMINISTRATORS: &str = "S-1-5-32-544";
/// OWNER RIGHTS: whoever owns the object, which the owner rule has already judged.
const OWNER_RIGHTS: &str = "S-1-3-4";

/// `INHERIT_ONLY_ACE` in an entry's flags.
const INHERIT_ONLY: u8 = 0x08;

/// Rights that let someone change a file's content, its ACL or owner, or (for a directory) what it holds.
pub(crate) const WRITE_RIGHTS: u32 = 0x0000_0002 // FILE_WRITE_DATA / FILE_ADD_FILE
    | 0x0000_0004 // FILE_APPEND_DATA / FILE_ADD_SUBDIRECTORY
    | 0x0000_0040 // FILE_DELETE_CHILD
    | 0x0001_0000 // DELETE
    | 0x0004_0000 // WRITE_DAC
    | 0x0008_0000 // WRITE_OWNER
    | 0x1000_0000 // GENERIC_ALL
    | 0x4000_0000; // GENERIC_WRITE
/// Rights that let someone read a file's content.
pub(crate) const READ_RIGHTS: u32 = 0x0000_0001 // FILE_READ_DATA
    | 0x1000_0000 // GENERIC_ALL
    | 0x8000_0000; // GENERIC_READ

/// An entry's type (`ACE_HEADER.AceType`), as far as trust is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AceKind {
    /// ACCESS_ALLOWED_ACE.
    Allowed,
    /// ACCESS_ALLOWED_CALLBACK_ACE: a grant under a condition.
    AllowedCallback,
    /// ACCESS_ALLOWED_OBJECT_ACE.
    AllowedObject,
    /// ACCESS_ALLOWED_CALLBACK_OBJECT_ACE.
    AllowedCallbackObject,
    /// Any ACCESS_DENIED kind: it can only take rights away.
    Denied,
}

impl AceKind {
    /// The kind of an entry whose type byte is `raw`; `None` for types a DACL has no business holding (audit and
    /// alarm entries belong to the SACL, compound entries were never used), which neither grant nor deny.
    pub(crate) fn from_type(raw: u8) -> Option<AceKind> {
        match raw {
            0 => Some(AceKind::Allowed),
            5 => Some(AceKind::AllowedObject),
            9 => Some(AceKind::AllowedCallback),
            11 => Some(AceKind::AllowedCallbackObject),
            1 | 6 | 10 | 12 => Some(AceKind::Denied),
            _ => None,
        }
    }

    /// Whether an entry of this kind can give anyone a right.
    pub(crate) fn grants(self) -> bool {
        self != AceKind::Denied
    }

    /// Where the trustee's SID starts in a granting entry of this kind, from the entry's start: plain and callback
    /// entries put it after the header and the mask; object entries after their flags word and the GUIDs those
    /// flags say are present (`object_flags` is that word; it is ignored for the other kinds). `None` for deny
    /// entries, whose trustee the rule never needs.
    pub(crate) fn sid_offset(self, object_flags: u32) -> Option<usize> {
        const HEADER_AND_MASK: usize = 8;
        const GUID: usize = 16;
        match self {
            AceKind::AllowedObject | AceKind::AllowedCallbackObject => {
                let guids = usize::from(object_flags & 0x1 != 0) + usize::from(object_flags & 0x2 != 0);
                Some(HEADER_AND_MASK + 4 + guids * GUID)
            }
            AceKind::Allowed | AceKind::AllowedCallback => Some(HEADER_AND_MASK),
            AceKind::Denied => None,
        }
    }

    /// Whether the entry's layout has the object flags word after the mask.
    pub(crate) fn is_object(self) -> bool {
        matches!(self, AceKind::AllowedObject | AceKind::AllowedCallbackObject)
    }
}

/// An account as the rule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Trustee {
    /// The user azml-ssh runs as.
    Me,
    Administrators,
    System,
    /// OWNER RIGHTS, which stands for the owner.
    Owner,
    /// Anyone else, by SID (`S-1-…`).
    Other(String),
}

impl Trustee {
    /// Who the SID `sid` (string form) is, for a user whose SID is `me`.
    pub(crate) fn of(sid: &str, me: &str) -> Trustee {
        match sid {
            _ if sid == me => Trustee::Me,
            ADMINISTRATORS => Trustee::Administrators,
            SYSTEM => Trustee::System,
            OWNER_RIGHTS => Trustee::Owner,
            other => Trustee::Other(other.to_owned()),
        }
    }

    /// The account's name as an error message shows it.
    fn shown(&self) -> String {
        match self {
            Trustee::Me => "you".to_owned(),
            Trustee::Administrators => "Administrators".to_owned(),
            Trustee::System => "SYSTEM".to_owned(),
            Trustee::Owner => "OWNER RIGHTS".to_owned(),
            Trustee::Other(sid) => account_name(sid),
        }
    }
}

/// One entry of a DACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ace {
    pub(crate) kind: AceKind,
    /// `ACE_HEADER.AceFlags`.
    pub(crate) flags: u8,
    pub(crate) mask: u32,
    pub(crate) trustee: Trustee,
}

impl Ace {
    /// Whether this entry gives `trustee` any of `rights` on the object itself.
    fn grants_on_object(&self, rights: u32) -> bool {
        self.kind.grants() && self.flags & INHERIT_ONLY == 0 && self.mask & rights != 0
    }
}

/// A file's or folder's owner and DACL, as read from the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Security {
    pub(crate) owner: Trustee,
    /// `None` is a null DACL (not an empty one, which grants nothing).
    pub(crate) dacl: Option<Vec<Ace>>,
}

/// Why a file's security is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Distrust {
    /// Owned by someone other than the user, Administrators or SYSTEM (their name or SID).
    #[error("owned by {0}")]
    NotOurs(String),
    /// Someone else may write it (their name or SID).
    #[error("{0} may write it")]
    Writable(String),
    /// No DACL at all: everyone may do everything.
    #[error("it has no access control list")]
    NoDacl,
}

/// Whether only the user, Administrators and SYSTEM (and the owner, one of them) can change the object.
fn trusted(trustee: &Trustee) -> bool {
    !matches!(trustee, Trustee::Other(_))
}

/// The rule: the owner is trusted and no entry lets anyone else write.
pub(crate) fn judge(security: &Security) -> Result<(), Distrust> {
    if !trusted(&security.owner) {
        return Err(Distrust::NotOurs(security.owner.shown()));
    }
    let dacl = security.dacl.as_ref().ok_or(Distrust::NoDacl)?;
    match dacl.iter().find(|ace| ace.grants_on_object(WRITE_RIGHTS) && !trusted(&ace.trustee)) {
        Some(ace) => Err(Distrust::Writable(ace.trustee.shown())),
        None => Ok(()),
    }
}

/// Who besides the user, Administrators and SYSTEM may read the object (Windows OpenSSH refuses such private
/// keys); a null DACL is refused outright.
pub(crate) fn other_readers(security: &Security) -> Result<Vec<String>, Distrust> {
    let dacl = security.dacl.as_ref().ok_or(Distrust::NoDacl)?;
    Ok(dacl
        .iter()
        .filter(|ace| ace.grants_on_object(READ_RIGHTS) && !trusted(&ace.trustee))
        .map(|ace| ace.trustee.shown())
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "S-1-5-21-1-2-3-1001";
    const SOMEONE: &str = "S-1-5-21-1-2-3-1002";
    const EVERYONE: &str = "S-1-1-0";
    const FULL: u32 = 0x001F_01FF;
    const READ_ONLY: u32 = 0x0012_0089; // FILE_GENERIC_READ
    const INHERITED: u8 = 0x10;
    const OBJECT_AND_CONTAINER_INHERIT: u8 = 0x03;

    fn ace(kind: AceKind, sid: &str, mask: u32) -> Ace {
        Ace { kind, flags: 0, mask, trustee: Trustee::of(sid, ME) }
    }

    fn owned_by(sid: &str, dacl: Vec<Ace>) -> Security {
        Security { owner: Trustee::of(sid, ME), dacl: Some(dacl) }
    }

    /// What `D:P(A;OICI;FA;;;<me>)(A;OICI;FA;;;SY)` reads back as, plus `extra`.
    fn private_plus(extra: Vec<Ace>) -> Vec<Ace> {
        let mut dacl = vec![ace(AceKind::Allowed, ME, FULL), ace(AceKind::Allowed, SYSTEM, FULL)];
        dacl.extend(extra);
        dacl
    }

    #[test]
    fn the_user_administrators_and_system_may_own_it_and_nobody_else() {
        for owner in [ME, ADMINISTRATORS, SYSTEM] {
            assert_eq!(judge(&owned_by(owner, private_plus(vec![]))), Ok(()), "owner {owner}");
        }
        assert_eq!(judge(&owned_by(SOMEONE, private_plus(vec![]))), Err(Distrust::NotOurs(SOMEONE.into())));
        assert_eq!(judge(&owned_by(EVERYONE, vec![])), Err(Distrust::NotOurs("Everyone".into())));
    }

    #[test]
    fn administrators_system_and_the_owner_may_write_and_nobody_else() {
        let trusted =
            private_plus(vec![ace(AceKind::Allowed, ADMINISTRATORS, FULL), ace(AceKind::Allowed, "S-1-3-4", FULL)]);
        assert_eq!(judge(&owned_by(ADMINISTRATORS, trusted)), Ok(()));
        let loose = private_plus(vec![ace(AceKind::Allowed, EVERYONE, FULL)]);
        assert_eq!(judge(&owned_by(ME, loose)), Err(Distrust::Writable("Everyone".into())));
        let someone = private_plus(vec![ace(AceKind::Allowed, SOMEONE, 0x0000_0004)]);
        assert_eq!(judge(&owned_by(ME, someone)), Err(Distrust::Writable(SOMEONE.into())), "append is a write");
        for right in [0x0001_0000, 0x0004_0000, 0x0008_0000, 0x1000_0000, 0x4000_0000] {
            let dacl = private_plus(vec![ace(AceKind::Allowed, EVERYONE, right)]);
            assert!(judge(&owned_by(ME, dacl)).is_err(), "right {right:#x}");
        }
    }

    #[test]
    fn others_reading_is_no_write() {
        let dacl = private_plus(vec![
            ace(AceKind::Allowed, EVERYONE, READ_ONLY),
            ace(AceKind::Allowed, "S-1-5-32-545", READ_ONLY),
        ]);
        let security = owned_by(ME, dacl);
        assert_eq!(judge(&security), Ok(()));
        assert_eq!(other_readers(&security), Ok(vec!["Everyone".to_owned(), "Users".to_owned()]));
        assert_eq!(other_readers(&owned_by(ME, private_plus(vec![]))), Ok(vec![]));
    }

    #[test]
    fn every_kind_of_allow_entry_counts() {
        for kind in [AceKind::Allowed, AceKind::AllowedCallback, AceKind::AllowedObject, AceKind::AllowedCallbackObject]
        {
            let dacl = private_plus(vec![ace(kind, EVERYONE, FULL)]);
            assert_eq!(judge(&owned_by(ME, dacl)), Err(Distrust::Writable("Everyone".into())), "{kind:?}");
            let readers = other_readers(&owned_by(ME, private_plus(vec![ace(kind, SOMEONE, READ_ONLY)])));
            assert_eq!(readers, Ok(vec![SOMEONE.to_owned()]), "{kind:?}");
        }
    }

    #[test]
    fn deny_entries_grant_nothing() {
        let dacl = private_plus(vec![ace(AceKind::Denied, EVERYONE, FULL)]);
        assert_eq!(judge(&owned_by(ME, dacl.clone())), Ok(()));
        assert_eq!(other_readers(&owned_by(ME, dacl)), Ok(vec![]));
    }

    #[test]
    fn inherit_only_entries_are_skipped_and_inherited_ones_count() {
        let mut for_children = ace(AceKind::Allowed, EVERYONE, FULL);
        for_children.flags = INHERIT_ONLY | OBJECT_AND_CONTAINER_INHERIT;
        assert_eq!(judge(&owned_by(ME, private_plus(vec![for_children]))), Ok(()));
        let mut inherited = ace(AceKind::Allowed, EVERYONE, FULL);
        inherited.flags = INHERITED | OBJECT_AND_CONTAINER_INHERIT;
        assert_eq!(judge(&owned_by(ME, private_plus(vec![inherited]))), Err(Distrust::Writable("Everyone".into())));
    }

    #[test]
    fn a_null_dacl_is_never_trusted_and_an_empty_one_is() {
        let null = Security { owner: Trustee::Me, dacl: None };
        assert_eq!(judge(&null), Err(Distrust::NoDacl));
        assert_eq!(other_readers(&null), Err(Distrust::NoDacl));
        assert_eq!(judge(&owned_by(ME, vec![])), Ok(()), "an empty DACL grants nothing");
    }

    #[test]
    fn entry_types_and_where_their_sid_starts() {
        assert_eq!(AceKind::from_type(0), Some(AceKind::Allowed));
        assert_eq!(AceKind::from_type(9), Some(AceKind::AllowedCallback));
        assert_eq!(AceKind::from_type(5), Some(AceKind::AllowedObject));
        assert_eq!(AceKind::from_type(11), Some(AceKind::AllowedCallbackObject));
        for denied in [1, 6, 10, 12] {
            assert_eq!(AceKind::from_type(denied), Some(AceKind::Denied));
        }
        assert_eq!(AceKind::from_type(2), None, "an audit entry");
        assert_eq!(AceKind::Allowed.sid_offset(0x3), Some(8), "flags only matter to object entries");
        assert_eq!(AceKind::AllowedCallback.sid_offset(0), Some(8));
        assert_eq!(AceKind::AllowedObject.sid_offset(0), Some(12));
        assert_eq!(AceKind::AllowedObject.sid_offset(0x1), Some(28));
        assert_eq!(AceKind::AllowedCallbackObject.sid_offset(0x2), Some(28));
        assert_eq!(AceKind::AllowedCallbackObject.sid_offset(0x3), Some(44));
        assert_eq!(AceKind::Denied.sid_offset(0), None);
        assert!(AceKind::AllowedCallbackObject.is_object() && !AceKind::AllowedCallback.is_object());
    }
}
