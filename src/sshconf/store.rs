//! Putting hosts into the user's ssh setup: the include file, the one Include line in `~/.ssh/config`, and the
//! rules for changing them safely — a cross-process lock around every read-modify-write, atomic replacement,
//! the user's file mode and symlinks respected, a backup of the user's config on first touch, and a dry run that
//! shows the exact diff.

use std::path::{Path, PathBuf};

use crate::azure::resource_id::{ComputeId, InvalidComputeId};
use crate::sshconf::glob::{Budget, Disk};
use crate::sshconf::hosts::{self, HostEntry, HostsFile, HostsFileError, Launcher};
use crate::sshconf::include::{self, IncludeState};
use crate::sshconf::syntax;
use crate::sshconf::values::InvalidValue;
use crate::sshconf::wildcard::{Suffix, WildcardState, writable_pattern};
use crate::util::{dirs, fs};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("HOME is not set, so there is no ~/.ssh to configure; set HOME, or name the file with --ssh-config")]
    NoHome,
    #[error("cannot {action} {path}: {source}; check its owner and permissions")]
    Io { action: &'static str, path: String, source: std::io::Error },
    #[error("{path} is a symbolic link to {target}, which does not exist; create it or fix the link")]
    DanglingSymlink { path: String, target: String },
    #[error(transparent)]
    Unreadable(#[from] fs::Untrusted),
    #[error(transparent)]
    HostsFile(#[from] HostsFileError),
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
    #[error(transparent)]
    ComputeId(#[from] InvalidComputeId),
    #[error("{path} has no parent directory; give a path inside a directory")]
    NoParent { path: String },
    #[error(
        "{found}, so `Host {alias}` would take that name over; choose another alias, remove that entry, or pass --force"
    )]
    Shadows { alias: String, found: UserHost },
    #[error(
        "the backup {path} does not read back as written; nothing was changed: check the disk (is it full?) and run the command again"
    )]
    BackupMismatch { path: String },
    #[error("there is no host {alias:?} in {file} (see `azml-ssh list`)")]
    NoSuchHost { alias: String, file: String },
    #[error("{text:?} is neither a resource ID nor a host in {file} (see `azml-ssh list`)")]
    UnknownTarget { text: String, file: String },
    #[error(
        "{path} changed while azml-ssh was editing it (saved by an editor?); your version was kept and this change was not written to it: run the command again"
    )]
    ChangedMeanwhile { path: String },
    #[error(
        "{found}, but azml-ssh's wildcard host was written before it and took {host}; run `azml-ssh config` so that your entry applies"
    )]
    WildcardShadows { host: String, found: UserHost },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ConfigError + use<> {
    let path = path.display().to_string();
    move |source| ConfigError::Io { action, path, source }
}

/// Where everything lives.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub home: PathBuf,
    /// The user's ssh config as named (`~/.ssh/config` or `--ssh-config`); may be a symlink.
    pub user_config: PathBuf,
    pub include_dir: PathBuf,
    pub include_file: PathBuf,
}

impl Layout {
    pub fn new(ssh_config: Option<&Path>) -> Result<Self, ConfigError> {
        let home = dirs::home().ok_or(ConfigError::NoHome)?;
        let ssh_dir = home.join(".ssh");
        let user_config = match ssh_config {
            Some(p) => std::path::absolute(p).map_err(io("resolve", p))?,
            None => ssh_dir.join("config"),
        };
        let include_dir = ssh_dir.join("azml-ssh");
        Ok(Layout { include_file: include_dir.join("config"), include_dir, user_config, home })
    }

    /// What writers lock: `~/.ssh` itself. azml-ssh never removes it, so every writer, before and after a
    /// `config --remove`, locks the same inode (a lock file that is deleted and re-created would not be).
    pub(crate) fn lock_dir(&self) -> PathBuf {
        self.home.join(".ssh")
    }

    /// Remembers that azml-ssh created the user's config, so `--remove` can delete it again.
    fn created_marker(&self) -> PathBuf {
        self.include_dir.join("created-ssh-config")
    }

    /// The file to edit: a symlinked config is edited at its target, so the link survives.
    fn user_config_target(&self) -> Result<PathBuf, ConfigError> {
        let path = &self.user_config;
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => std::fs::canonicalize(path).map_err(|_| {
                let target = std::fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
                ConfigError::DanglingSymlink { path: path.display().to_string(), target }
            }),
            _ => Ok(path.clone()),
        }
    }

    fn backup_path(target: &Path) -> PathBuf {
        let mut name = target.file_name().unwrap_or_default().to_owned();
        name.push(".azml-ssh-backup");
        target.with_file_name(name)
    }
}

/// The most of a file azml-ssh edits or reads back that it will hold: far beyond any ssh config.
const MAX_EDITED_BYTES: u64 = 16 << 20;

/// A file as it is now (`None`: absent). Only a regular file is read: a FIFO or device put in its place is an
/// error, not a wait.
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, ConfigError> {
    Ok(fs::read_regular(path, MAX_EDITED_BYTES)?)
}

/// One file's planned change. `None` means "absent".
#[derive(Debug)]
pub(crate) struct Edit {
    pub path: PathBuf,
    pub before: Option<Vec<u8>>,
    pub after: Option<Vec<u8>>,
}

impl Edit {
    pub(crate) fn changes(&self) -> bool {
        self.before != self.after
    }

    /// A unified diff, `/dev/null` standing for an absent file.
    pub fn diff(&self) -> String {
        let name = self.path.display().to_string();
        let before = String::from_utf8_lossy(self.before.as_deref().unwrap_or_default()).into_owned();
        let after = String::from_utf8_lossy(self.after.as_deref().unwrap_or_default()).into_owned();
        let old = if self.before.is_some() { name.clone() } else { "/dev/null".into() };
        let new = if self.after.is_some() { name } else { "/dev/null".into() };
        similar::TextDiff::from_lines(&before, &after).unified_diff().context_radius(3).header(&old, &new).to_string()
    }
}

/// What a command did (or, in a dry run, would do).
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub edits: Vec<Edit>,
    pub notes: Vec<String>,
}

impl Report {
    pub(crate) fn changed(&self) -> bool {
        self.edits.iter().any(Edit::changes)
    }
}

/// Holds the cross-process lock for the duration of `work`.
fn locked<T>(layout: &Layout, work: impl FnOnce() -> Result<T, ConfigError>) -> Result<T, ConfigError> {
    fs::private_dir(&layout.include_dir).map_err(io("create", &layout.include_dir))?;
    let _lock = fs::lock_dir(&layout.lock_dir()).map_err(io("lock", &layout.lock_dir()))?;
    work()
}

pub(crate) fn read_entries(layout: &Layout) -> Result<Vec<HostEntry>, ConfigError> {
    Ok(read_file(layout)?.entries)
}

/// azml-ssh's file, parsed; empty when there is none.
pub(crate) fn read_file(layout: &Layout) -> Result<HostsFile, ConfigError> {
    match read_optional(&layout.include_file)? {
        None => Ok(HostsFile::default()),
        Some(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| HostsFileError {
                path: layout.include_file.display().to_string(),
                line: 0,
                why: "it is not UTF-8".into(),
            })?;
            Ok(hosts::parse(&text, &layout.include_file)?)
        }
    }
}

/// A `Host` the user's own config (or a file it includes) defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserHost {
    pub file: PathBuf,
    pub line: usize,
    pub claim: syntax::Claim,
}

impl UserHost {
    /// Whether this line of the user's applies to `alias`, as ssh decides it.
    pub(crate) fn covers(&self, alias: &str) -> bool {
        self.claim.covers(alias)
    }
}

impl std::fmt::Display for UserHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line {} has `{}`", self.file.display(), self.line, self.claim.text)
    }
}

/// How deep Includes are followed (ssh's own limit) and how much is read, whatever the files hold (the globs of
/// the Includes have their own [`Budget`]).
const MAX_INCLUDE_DEPTH: usize = 16;
const MAX_CONFIG_FILES: usize = 256;
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// A host to act on, as the user named it: a configured alias (with its entry's ID), or a resource ID.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub alias: Option<String>,
    pub id: ComputeId,
}

/// The configured host `alias`.
pub(crate) fn find_host(layout: &Layout, alias: &str) -> Result<HostEntry, ConfigError> {
    read_entries(layout)?.into_iter().find(|e| e.alias == alias).ok_or_else(|| ConfigError::UnknownTarget {
        text: alias.to_owned(),
        file: layout.include_file.display().to_string(),
    })
}

/// `ALIAS|RESOURCE_ID`: a resource ID as such (it need not be configured), anything else as a configured alias.
pub(crate) fn find_target(layout: &Layout, text: &str) -> Result<Target, ConfigError> {
    if text.starts_with('/') {
        return Ok(Target { alias: None, id: text.parse()? });
    }
    let entry = find_host(layout, text)?;
    Ok(Target { alias: Some(entry.alias), id: entry.id })
}

/// Every configured host, by alias.
pub(crate) fn all_targets(layout: &Layout) -> Result<Vec<Target>, ConfigError> {
    let mut entries = read_entries(layout)?;
    entries.sort_by(|a, b| a.alias.cmp(&b.alias));
    Ok(entries.into_iter().map(|e| Target { alias: Some(e.alias), id: e.id }).collect())
}

/// The user's own `Host` or `Match host` line that applies to `alias`, if their config (with its Includes) has
/// one: a pattern such as `Host dev-*` claims `dev-db` as much as `Host dev-db` does.
pub(crate) fn claimed_by_user(layout: &Layout, alias: &str) -> Result<Option<UserHost>, ConfigError> {
    Ok(user_hosts(layout)?.into_iter().find(|h| h.covers(alias)))
}

/// The literal `Host` names of the user's ssh config and everything it includes — except azml-ssh's own file.
pub(crate) fn user_hosts(layout: &Layout) -> Result<Vec<UserHost>, ConfigError> {
    let mut hosts = Vec::new();
    let mut queue = vec![(layout.user_config_target()?, 0usize)];
    let mut seen = 0;
    let mut budget = Budget::default();
    while let Some((file, depth)) = queue.pop() {
        seen += 1;
        if depth > MAX_INCLUDE_DEPTH || seen > MAX_CONFIG_FILES || file == layout.include_file {
            continue;
        }
        // Like ssh, what cannot be read (a directory, a missing file) adds nothing; unlike it, a FIFO is not waited on.
        let Ok(Some(bytes)) = fs::read_regular(&file, MAX_CONFIG_BYTES) else { continue };
        let found = syntax::directives(&bytes, &layout.home, &Disk, &mut budget);
        hosts.extend(found.claims.into_iter().map(|(line, claim)| UserHost { file: file.clone(), line, claim }));
        queue.extend(found.includes.into_iter().rev().map(|f| (f, depth + 1)));
    }
    Ok(hosts)
}

/// The user's own patterns under `suffix`, which the wildcard block must yield to, and a note for each one that
/// takes more than one name (`Host *.azml` of the user's own leaves the block nothing).
fn yielding(layout: &Layout, suffix: &Suffix) -> Result<(Vec<String>, Vec<String>), ConfigError> {
    let mut patterns: Vec<String> = Vec::new();
    let mut notes = Vec::new();
    for host in user_hosts(layout)? {
        for pattern in host.claim.positive_patterns().into_iter().filter(|p| suffix.claims(p)) {
            if !writable_pattern(pattern) {
                notes.push(format!("{host}, which the wildcard host cannot name; rename it or use another --wildcard"));
            } else if !patterns.iter().any(|p| p.eq_ignore_ascii_case(pattern)) {
                if pattern.contains(['*', '?']) {
                    notes.push(format!("{host}: names matching {pattern} go to that entry, not to the wildcard host"));
                }
                patterns.push(pattern.to_owned());
            }
        }
    }
    Ok((patterns, notes))
}

/// The user's own host under `suffix` that covers `host`, if there is one. The wildcard block yields to such
/// hosts, but only from its next write: one the user added since is shadowed until then.
pub(crate) fn users_host_under(layout: &Layout, suffix: &Suffix, host: &str) -> Result<Option<UserHost>, ConfigError> {
    Ok(user_hosts(layout)?
        .into_iter()
        .find(|h| h.covers(host) && h.claim.positive_patterns().into_iter().any(|p| suffix.claims(p))))
}

/// Where our Include stands in the user's config.
pub(crate) fn include_state(layout: &Layout) -> Result<IncludeState, ConfigError> {
    let target = layout.user_config_target()?;
    let bytes = read_optional(&target)?.unwrap_or_default();
    Ok(include::include_state(&bytes, &layout.include_file, &layout.home))
}

/// Changes the host entries with `change` and, with `ensure_include`, makes sure the user's config includes the
/// file. `launcher` is how ProxyCommand starts azml-ssh. With `dry_run`, nothing is written.
pub(crate) fn update_hosts(
    layout: &Layout,
    launcher: &Launcher,
    ensure_include: bool,
    dry_run: bool,
    change: impl FnOnce(&mut HostsFile) -> Result<Vec<String>, ConfigError>,
) -> Result<Report, ConfigError> {
    locked(layout, || {
        let before = read_optional(&layout.include_file)?;
        let target = layout.user_config_target()?;
        let config_before = read_optional(&target)?;
        let mut file = read_file(layout)?;
        let mut notes = change(&mut file)?;
        if let WildcardState::On(wildcard) = &mut file.wildcard {
            let (yields_to, yield_notes) = yielding(layout, &wildcard.suffix)?;
            wildcard.yields_to = yields_to;
            notes.extend(yield_notes);
        }
        let rendered = hosts::render(&file, launcher).into_bytes();
        let hosts_edit = Edit { path: layout.include_file.clone(), before, after: Some(rendered) };

        let bytes = config_before.clone().unwrap_or_default();
        let mut report = Report { notes, ..Default::default() };
        if let (true, IncludeState::Conditional { line }) =
            (ensure_include, include::include_state(&bytes, &layout.include_file, &layout.home))
        {
            report.notes.push(format!(
                "{} line {line} includes {} inside a Host/Match block, where it does not apply to every host; adding a general Include at the top",
                target.display(),
                layout.include_file.display()
            ));
        }
        let added = ensure_include.then(|| include::add_include(&bytes, &layout.include_file, &layout.home));
        let config_after = match added.flatten() {
            Some(after) => Some(after),
            None => config_before.clone(),
        };
        report.edits = vec![hosts_edit, Edit { path: target, before: config_before, after: config_after }];
        if !dry_run {
            apply(layout, &report.edits)?;
        }
        Ok(report)
    })
}

/// Takes out the Include line and the include file, leaving the user's config as it was before azml-ssh.
pub(crate) fn remove_all(layout: &Layout, dry_run: bool) -> Result<Report, ConfigError> {
    let report = locked(layout, || remove_all_locked(layout, dry_run))?;
    if !dry_run {
        // Leave no trace: the directory, if nothing else of the user's is in it.
        let _ = std::fs::remove_dir(&layout.include_dir);
    }
    Ok(report)
}

fn remove_all_locked(layout: &Layout, dry_run: bool) -> Result<Report, ConfigError> {
    let target = layout.user_config_target()?;
    let config_before = read_optional(&target)?;
    let mut config_after = match &config_before {
        Some(bytes) => {
            include::remove_include(bytes, &layout.include_file, &layout.home).or_else(|| config_before.clone())
        }
        None => None,
    };
    let created_by_us =
        read_optional(&layout.created_marker())?.is_some_and(|marker| marker == target.to_string_lossy().as_bytes());
    if created_by_us && config_after.as_deref() == Some(&[][..]) {
        config_after = None;
    }
    let mut report = Report::default();
    if let Some(bytes) = &config_after
        && let IncludeState::Effective { line } | IncludeState::Conditional { line } =
            include::include_state(bytes, &layout.include_file, &layout.home)
    {
        report.notes.push(format!(
            "{} line {line} still includes {} (a line azml-ssh did not write); remove it by hand if you want",
            target.display(),
            layout.include_file.display()
        ));
    }
    let hosts_before = read_optional(&layout.include_file)?;
    report.edits = vec![
        Edit { path: target, before: config_before, after: config_after },
        Edit { path: layout.include_file.clone(), before: hosts_before, after: None },
    ];
    if !dry_run {
        apply(layout, &report.edits)?;
        let _ = std::fs::remove_file(layout.created_marker());
    }
    Ok(report)
}

fn apply(layout: &Layout, edits: &[Edit]) -> Result<(), ConfigError> {
    // Someone who does not take our lock (an editor) may have saved a file since it was read: checked for all of
    // them before anything is written, and again at each write.
    for edit in edits.iter().filter(|e| e.changes()) {
        if read_optional(&edit.path)? != edit.before {
            return Err(changed_meanwhile(&edit.path));
        }
    }
    for edit in edits.iter().filter(|e| e.changes()) {
        let path = &edit.path;
        match &edit.after {
            None => match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io("remove", path)(e));
                }
                _ => {}
            },
            Some(bytes) if *path == layout.include_file => {
                let written = fs::write_unchanged(path, bytes, 0o600, edit.before.as_deref());
                if written.map_err(io("write", path))? == fs::Replaced::Changed {
                    return Err(changed_meanwhile(path));
                }
            }
            Some(bytes) => write_user_config(layout, path, edit.before.as_deref(), bytes)?,
        }
    }
    Ok(())
}

fn changed_meanwhile(path: &Path) -> ConfigError {
    ConfigError::ChangedMeanwhile { path: path.display().to_string() }
}

/// Writes the user's config: same mode as before (0600 for a new file, in a 0700 `~/.ssh`), a backup of the
/// original on first touch, and a note when we created it.
fn write_user_config(layout: &Layout, path: &Path, before: Option<&[u8]>, bytes: &[u8]) -> Result<(), ConfigError> {
    let mode = if before.is_some() {
        let backup = Layout::backup_path(path);
        // Anything already there — even a dangling symlink — is left alone and never followed.
        if std::fs::symlink_metadata(&backup).is_err() {
            write_backup(&backup, before.unwrap_or_default())?;
        }
        fs::mode_of(&std::fs::metadata(path).map_err(io("read", path))?)
    } else {
        let parent = path.parent().ok_or_else(|| ConfigError::NoParent { path: path.display().to_string() })?;
        if !parent.exists() {
            fs::private_dir(parent).map_err(io("create", parent))?;
        }
        fs::write_atomic(&layout.created_marker(), path.to_string_lossy().as_bytes(), 0o600)
            .map_err(io("write", &layout.created_marker()))?;
        0o600
    };
    match fs::write_unchanged(path, bytes, mode, before).map_err(io("write", path))? {
        fs::Replaced::Yes => Ok(()),
        fs::Replaced::Changed => Err(changed_meanwhile(path)),
    }
}

/// The one-time backup of the user's config: written whole or not at all (temporary file and rename, private
/// mode from the start), then read back and compared, so a full disk can never leave a truncated backup behind.
fn write_backup(backup: &Path, original: &[u8]) -> Result<(), ConfigError> {
    fs::write_atomic(backup, original, 0o600).map_err(io("back up to", backup))?;
    match std::fs::read(backup) {
        Ok(copy) if copy == original => Ok(()),
        Ok(_) => {
            let _ = std::fs::remove_file(backup);
            Err(ConfigError::BackupMismatch { path: backup.display().to_string() })
        }
        Err(e) => Err(io("verify", backup)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sshconf::hosts::Source;
    use std::os::unix::fs::PermissionsExt;

    fn layout(home: &Path) -> Layout {
        Layout {
            home: home.to_owned(),
            user_config: home.join(".ssh/config"),
            include_dir: home.join(".ssh/azml-ssh"),
            include_file: home.join(".ssh/azml-ssh/config"),
        }
    }

    fn launcher() -> Launcher {
        Launcher::new(Path::new("/bin/azml-ssh"), hosts::Flavor::Posix).unwrap()
    }

    fn entry(alias: &str) -> HostEntry {
        HostEntry {
            alias: alias.into(),
            id: format!("/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/{alias}").parse().unwrap(),
            user: "azureuser".into(),
            identity_file: None,
            options: vec![],
            source: Source::Added,
        }
    }

    fn add(l: &Layout, alias: &str) -> Report {
        update_hosts(l, &launcher(), true, false, |file| {
            file.entries.retain(|e| e.alias != alias);
            file.entries.push(entry(alias));
            Ok(vec![])
        })
        .unwrap()
    }

    #[test]
    fn creates_ssh_dir_and_config_privately_and_removes_them_again() {
        let home = tempfile::tempdir().unwrap();
        let l = layout(home.path());
        add(&l, "ci1");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&home.path().join(".ssh")), 0o700);
        assert_eq!(mode(&l.user_config), 0o600);
        assert_eq!(mode(&l.include_file), 0o600);
        remove_all(&l, false).unwrap();
        assert!(!l.user_config.exists(), "a config azml-ssh created is removed again");
        assert!(!l.include_file.exists());
    }

    #[test]
    fn keeps_mode_follows_symlinks_and_backs_up_once() {
        let home = tempfile::tempdir().unwrap();
        let l = layout(home.path());
        std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
        let real = home.path().join("dotfiles-ssh-config");
        std::fs::write(&real, "Host x\n  User me\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&real, &l.user_config).unwrap();

        add(&l, "ci1");
        add(&l, "ci2");
        assert!(std::fs::symlink_metadata(&l.user_config).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::metadata(&real).unwrap().permissions().mode() & 0o777, 0o644);
        let backup = Layout::backup_path(&real);
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), "Host x\n  User me\n");
        let text = std::fs::read_to_string(&real).unwrap();
        assert_eq!(text.matches("Include ").count(), 1);

        remove_all(&l, false).unwrap();
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "Host x\n  User me\n");
        assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600, "private backup");
    }

    #[test]
    fn a_dangling_symlink_where_the_backup_goes_is_never_followed() {
        let home = tempfile::tempdir().unwrap();
        let l = layout(home.path());
        std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
        std::fs::write(&l.user_config, "Host x\n").unwrap();
        let elsewhere = home.path().join("not-yours");
        std::os::unix::fs::symlink(&elsewhere, Layout::backup_path(&l.user_config)).unwrap();
        add(&l, "ci1");
        assert!(!elsewhere.exists(), "nothing written through the link");
        assert!(std::fs::read_to_string(&l.user_config).unwrap().contains("Include "));
    }

    #[test]
    fn remove_all_keeps_what_writers_lock() {
        let home = tempfile::tempdir().unwrap();
        let l = layout(home.path());
        add(&l, "ci1");
        let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
        let locked_before = inode(&l.lock_dir());
        remove_all(&l, false).unwrap();
        assert!(!l.include_dir.exists(), "azml-ssh's directory is gone");
        assert_eq!(inode(&l.lock_dir()), locked_before, "later writers lock the same inode");
        add(&l, "ci2");
        assert_eq!(inode(&l.lock_dir()), locked_before);
    }

    /// `update_hosts` with a change that runs after the files were read and before they are written, in which
    /// `editor` saves a file just then.
    fn add_while(l: &Layout, alias: &str, editor: impl FnOnce()) -> Result<Report, ConfigError> {
        update_hosts(l, &launcher(), true, false, |file| {
            editor();
            file.entries.push(entry(alias));
            Ok(vec![])
        })
    }

    #[test]
    fn an_edit_saved_between_read_and_write_is_kept_and_reported() {
        let home = tempfile::tempdir().unwrap();
        let l = layout(home.path());
        std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
        std::fs::write(&l.user_config, "Host x\r\n").unwrap();
        let result = add_while(&l, "ci1", || std::fs::write(&l.user_config, "Host x\r\nHost y\r\n").unwrap());
        assert!(matches!(result, Err(ConfigError::ChangedMeanwhile { .. })), "{result:?}");
        assert_eq!(std::fs::read_to_string(&l.user_config).unwrap(), "Host x\r\nHost y\r\n", "the save is kept");
        assert!(!l.include_file.exists(), "nothing was written");

        // Our own file, edited by hand.
        add(&l, "ci1");
        let result = add_while(&l, "ci2", || std::fs::write(&l.include_file, "# by hand\n").unwrap());
        assert!(matches!(result, Err(ConfigError::ChangedMeanwhile { .. })), "{result:?}");
        assert_eq!(std::fs::read_to_string(&l.include_file).unwrap(), "# by hand\n");

        // A config that appears where there was none.
        let other = tempfile::tempdir().unwrap();
        let l = layout(other.path());
        let result = add_while(&l, "ci1", || {
            std::fs::create_dir_all(other.path().join(".ssh")).unwrap();
            std::fs::write(&l.user_config, "Host new\n").unwrap();
        });
        assert!(matches!(result, Err(ConfigError::ChangedMeanwhile { .. })), "{result:?}");
        assert_eq!(std::fs::read_to_string(&l.user_config).unwrap(), "Host new\n");
    }

    #[test]
    fn a_dry_run_writes_nothing_and_shows_a_diff() {
        let home = tempfile::tempdir().unwrap();
        let l = layout(home.path());
        let report = update_hosts(&l, &launcher(), true, true, |entries| {
            entries.entries.push(entry("ci1"));
            Ok(vec![])
        })
        .unwrap();
        assert!(report.changed());
        assert!(!l.user_config.exists() && !l.include_file.exists());
        let diff: String = report.edits.iter().map(Edit::diff).collect();
        assert!(diff.contains("+Host ci1"), "{diff}");
        assert!(diff.contains("--- /dev/null"), "{diff}");
    }
}
