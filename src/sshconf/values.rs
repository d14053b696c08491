//! The values azml-ssh writes into an ssh config — host aliases, user names, `--ssh-option`s, key files, the
//! program path, resource IDs — each checked, and rendered as ssh reads it back.
//!
//! Values come from the command line and from ARM, and an ssh config is executable in effect (ProxyCommand runs
//! through a shell, `%` tokens expand), so anything that is not a plain token is refused with a message rather
//! than escaped and hoped for.

use std::path::{Path, PathBuf};

use crate::azure::resource_id::ComputeId;
use crate::sshconf::flavor::{self, Flavor, windows_path_text};

/// A value that cannot go into an ssh config as it is; the Display form is the whole message.
#[derive(Debug, thiserror::Error)]
pub enum InvalidValue {
    /// ssh would read it otherwise than meant (a space, a quote, a control character, `${`…).
    #[error("{what} {value:?} is not usable in an ssh config: {why}; choose another")]
    Refused {
        /// What the value is ("alias", "IdentityFile", …).
        what: &'static str,
        /// The value, as given.
        value: String,
        /// Why ssh cannot take it.
        why: &'static str,
    },
    /// A private key others can read: ssh refuses to use it.
    #[error("{path} is readable by other users ({how}); run `{fix}` (ssh refuses such keys)")]
    KeyPermissions {
        /// The key file.
        path: String,
        /// Who can read it.
        how: String,
        /// The command that makes it private on this platform.
        fix: String,
    },
    /// The file is not a private key.
    #[error("{path} is not a private key file ({why}); give the private key (not the .pub)")]
    NotAKey {
        /// The file.
        path: String,
        /// What it is instead.
        why: String,
    },
}

fn refuse(what: &'static str, value: &str, why: &'static str) -> InvalidValue {
    InvalidValue::Refused { what, value: value.to_owned(), why }
}

/// A host alias: a plain host token, as people type it after `ssh`.
pub(crate) fn check_alias(alias: &str) -> Result<(), InvalidValue> {
    const WHAT: &str = "host alias";
    if alias.is_empty() || alias.len() > 64 {
        return Err(refuse(WHAT, alias, "it must be 1 to 64 characters"));
    }
    if alias.starts_with(['-', '.']) {
        return Err(refuse(WHAT, alias, "it cannot start with '-' or '.'"));
    }
    if !alias.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(refuse(WHAT, alias, "use only letters, digits, '-', '_' and '.'"));
    }
    Ok(())
}

/// A login name as Linux accepts it.
pub(crate) fn check_user(user: &str) -> Result<(), InvalidValue> {
    const WHAT: &str = "user name";
    let mut chars = user.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || user.len() > 32 || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(refuse(WHAT, user, "use a Linux login name (letters, digits, '-', '_', '.'; 32 at most)"));
    }
    Ok(())
}

/// Options that azml-ssh writes itself or that would change what the block means.
const RESERVED_OPTIONS: [&str; 11] = [
    "host",
    "proxyusefdpass",
    "identitiesonly",
    "match",
    "include",
    "proxycommand",
    "proxyjump",
    "hostkeyalias",
    "user",
    "identityfile",
    "hostname",
];

/// `--ssh-option KEY=VALUE`: KEY an ssh option name; VALUE single-spaced plain tokens, where `%` may only start
/// one of ssh's expansion tokens.
pub(crate) fn parse_ssh_option(text: &str) -> Result<(String, String), InvalidValue> {
    const WHAT: &str = "ssh option";
    let (key, value) = text.split_once('=').ok_or_else(|| refuse(WHAT, text, "write it as KEY=VALUE"))?;
    if key.is_empty()
        || !key.chars().all(|c| c.is_ascii_alphanumeric())
        || key.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(refuse(WHAT, text, "KEY must be an ssh option name such as ForwardAgent"));
    }
    if RESERVED_OPTIONS.contains(&key.to_ascii_lowercase().as_str()) {
        return Err(refuse(WHAT, text, "azml-ssh writes this option itself; use --user, --identity-file or --binary"));
    }
    if value.is_empty() || value.starts_with(' ') || value.ends_with(' ') || value.contains("  ") {
        return Err(refuse(WHAT, text, "VALUE must be non-empty words separated by single spaces"));
    }
    if value.chars().any(|c| c.is_control() || matches!(c, '"' | '\'' | '#' | '\\' | '=' | '`' | '$')) {
        return Err(refuse(WHAT, text, "VALUE cannot contain quotes, '#', '\\', '=', '`', '$' or control characters"));
    }
    let mut percent = value.chars().peekable();
    while let Some(c) = percent.next() {
        if c == '%' && !percent.next().is_some_and(|t| "%CdhijkLlnprTu".contains(t)) {
            return Err(refuse(WHAT, text, "'%' must start an ssh token such as %h or be written %%"));
        }
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// Far more than any private key in PEM or OpenSSH form.
const MAX_KEY_BYTES: u64 = 1 << 20;

/// `--identity-file`: it must exist, look like a private key, and be private, as ssh itself insists.
pub(crate) fn check_identity_file(path: &Path) -> Result<PathBuf, InvalidValue> {
    let shown = path.display().to_string();
    let absolute =
        std::path::absolute(path).map_err(|e| InvalidValue::NotAKey { path: shown.clone(), why: e.to_string() })?;
    check_path_text(&absolute)?;
    let meta =
        std::fs::metadata(&absolute).map_err(|e| InvalidValue::NotAKey { path: shown.clone(), why: e.to_string() })?;
    if !meta.is_file() {
        return Err(InvalidValue::NotAKey { path: shown, why: "not a regular file".into() });
    }
    // Read as the stat above saw it: a FIFO swapped in since is refused, not waited on, and a huge file is no key.
    let head = crate::util::fs::read_regular(&absolute, MAX_KEY_BYTES)
        .map_err(|e| InvalidValue::NotAKey { path: shown.clone(), why: e.to_string() })?
        .ok_or_else(|| InvalidValue::NotAKey { path: shown.clone(), why: "it is gone".into() })?;
    let head = String::from_utf8_lossy(&head[..head.len().min(200)]).into_owned();
    if !(head.starts_with("-----BEGIN ") && head.contains("PRIVATE KEY-----")) {
        let why = if head.starts_with("ssh-") || head.starts_with("ecdsa-") {
            "this is a public key; give the file without .pub".to_owned()
        } else {
            "it does not start with a -----BEGIN ... PRIVATE KEY----- line".to_owned()
        };
        return Err(InvalidValue::NotAKey { path: shown, why });
    }
    match crate::util::fs::others_can_read(&absolute) {
        Ok(Some(how)) => {
            Err(InvalidValue::KeyPermissions { fix: crate::util::fs::private_key_fix(&absolute), path: shown, how })
        }
        Ok(None) => Ok(absolute),
        Err(e) => Err(InvalidValue::NotAKey { path: shown, why: e.to_string() }),
    }
}

/// The program path as the ProxyCommand line names it, for the ssh flavour that reads it. `%` is doubled
/// either way: ssh would expand it as a token.
///
/// - Unix: double-quoted, with `"`, `\\`, `$` and `` ` `` escaped, since `$SHELL -c` reads the line.
/// - Windows: no shell; Win32-OpenSSH builds a command line for CreateProcessW (`build_commandline_string` in
///   contrib/win32/win32compat/misc.c), finding where the program ends by the first `.exe` followed by a space,
///   and wraps the program in quotes itself. 7.7 (Windows 10 up to 20H2, Server 2019) does that even when the
///   program is already quoted (`""C:\…""`, error 87), so the path is written *unquoted* whenever it has no
///   whitespace — with forward slashes, which Windows takes and no tokenizer eats, and without the `\\?\`
///   prefix. Unquoted it must also be a plain word to a POSIX shell, since Git for Windows' ssh reads the same
///   file and runs the line through its `sh`. A path with whitespace or shell characters (`C:/Program Files`,
///   `C:/Users/O'Brien`) uses its folder's 8.3 short name where the volume keeps them, and is double-quoted only
///   when that does not help (8.1 and later start that; 7.7 cannot, which `config` and `doctor` say).
pub(crate) fn quote_program(path: &Path, flavor: Flavor) -> Result<String, InvalidValue> {
    quote_program_with(path, flavor, &flavor::short_path)
}

fn quote_program_with(
    path: &Path,
    flavor: Flavor,
    short_path: &dyn Fn(&Path) -> Option<PathBuf>,
) -> Result<String, InvalidValue> {
    const WHAT: &str = "program path";
    let text = match flavor {
        Flavor::Posix => path.to_string_lossy().into_owned(),
        Flavor::Windows => windows_path_text(path),
    };
    if text.chars().any(char::is_control) {
        return Err(refuse(WHAT, &text, "it contains control characters"));
    }
    if flavor == Flavor::Posix {
        let mut out = String::from("\"");
        for c in text.chars() {
            match c {
                '%' => out.push_str("%%"),
                '"' | '\\' | '$' | '`' => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
        out.push('"');
        return Ok(out);
    }
    if text.contains('"') {
        return Err(refuse(WHAT, &text, "it contains a double quote"));
    }
    if !text.ends_with(".exe") {
        return Err(refuse(WHAT, &text, "Windows' ssh finds where the program ends by its `.exe`: name it *.exe"));
    }
    // Unquoted, the path must also survive a POSIX shell: Git for Windows' ssh runs the line through its `sh`.
    let plain = |t: &str| !t.chars().any(|c| c.is_whitespace() || "'\"\\`$&;|()<>*?[]#!{}".contains(c));
    let unquoted = if plain(&text) {
        Some(text.clone())
    } else {
        // The file's own name is plain (azml-sshw.exe); its folder's short name may be. The file's short name
        // would end in `.EXE`, which ssh's search for `.exe` does not find.
        let (folder, name) = text.rsplit_once('/').unwrap_or(("", &text));
        let short = short_path(Path::new(folder)).map(|f| windows_path_text(&f)).filter(|f| plain(f));
        short.filter(|_| !folder.is_empty() && plain(name)).map(|f| format!("{}/{name}", f.trim_end_matches('/')))
    };
    Ok(match unquoted {
        Some(program) => program.replace('%', "%%"),
        None => format!("\"{}\"", text.replace('%', "%%")),
    })
}

/// A path that can be written into an ssh config and read back as the same path: UTF-8, no control characters.
/// Everything else (spaces, quotes, backslashes, `#`, `%`) is quoted or escaped by `render_identity_file`.
pub fn check_path_text(path: &Path) -> Result<(), InvalidValue> {
    let Some(text) = path.to_str() else {
        return Err(refuse("identity file path", &path.to_string_lossy(), "it is not valid UTF-8"));
    };
    if text.chars().any(char::is_control) {
        return Err(refuse("identity file path", text, "it contains a control character"));
    }
    // ssh expands `${NAME}` in IdentityFile from its own environment: the path it reads would not be this one.
    if text.contains("${") {
        return Err(refuse(
            "identity file path",
            text,
            "it contains `${`, which ssh expands as an environment variable",
        ));
    }
    Ok(())
}

/// IdentityFile as ssh_config reads it: `%` starts a token, so it is doubled; a path with whitespace, quotes,
/// backslashes or `#` is double-quoted, with `"` and `\` escaped inside (OpenSSH's argument splitting undoes
/// exactly that).
pub(crate) fn render_identity_file(path: &Path) -> String {
    let text = path.to_string_lossy().replace('%', "%%");
    if !text.contains([' ', '\t', '"', '\'', '\\', '#']) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The resource ID needs quoting only for parentheses, which Azure allows in resource group names.
pub(crate) fn render_id(id: &ComputeId) -> String {
    let text = id.to_string();
    if text.contains(['(', ')']) { format!("\"{text}\"") } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_quoted_per_flavor() {
        let p = Path::new("/home/a b/bin/azml$ssh`x\"%");
        assert_eq!(quote_program(p, Flavor::Posix).unwrap(), r#""/home/a b/bin/azml\$ssh\`x\"%%""#);
        assert!(quote_program(Path::new("/a\nb"), Flavor::Posix).is_err());

        let none = |_: &Path| None;
        let short =
            |p: &Path| (p == Path::new("C:/Program Files/azml ssh")).then(|| PathBuf::from(r"C:\PROGRA~1\AZML~1"));
        let windows = |p: &str, short: &dyn Fn(&Path) -> Option<PathBuf>| {
            quote_program_with(Path::new(p), Flavor::Windows, short).map_err(|e| e.to_string())
        };
        // No whitespace: unquoted (7.7 cannot start a quoted program), forward slashes, no verbatim prefix.
        assert_eq!(
            windows(r"C:\Users\me\.local\bin\azml-sshw.exe", &none).unwrap(),
            "C:/Users/me/.local/bin/azml-sshw.exe"
        );
        assert_eq!(windows(r"\\?\C:\Users\me\azml-ssh.exe", &none).unwrap(), "C:/Users/me/azml-ssh.exe");
        assert_eq!(windows(r"\\?\UNC\server\share\azml-ssh.exe", &none).unwrap(), "//server/share/azml-ssh.exe");
        assert_eq!(windows(r"C:\100%\azml-ssh.exe", &none).unwrap(), "C:/100%%/azml-ssh.exe");
        // Whitespace: the folder's short name where there is one, else quotes.
        assert_eq!(
            windows(r"C:\Program Files\azml ssh\azml-ssh.exe", &short).unwrap(),
            "C:/PROGRA~1/AZML~1/azml-ssh.exe"
        );
        assert_eq!(
            windows(r"C:\Users\Me Too\azml-ssh.exe", &short).unwrap(),
            r#""C:/Users/Me Too/azml-ssh.exe""#,
            "no short name for this folder"
        );
        // Shell characters, which Git for Windows' sh would read: the short name, or quotes.
        let obrien =
            |p: &Path| (p == Path::new("C:/Users/O'Brien/bin")).then(|| PathBuf::from(r"C:\Users\OBRIEN~1\bin"));
        assert_eq!(
            windows(r"C:\Users\O'Brien\bin\azml-sshw.exe", &obrien).unwrap(),
            "C:/Users/OBRIEN~1/bin/azml-sshw.exe"
        );
        assert_eq!(windows(r"C:\Users\A&B(x)\azml-sshw.exe", &none).unwrap(), r#""C:/Users/A&B(x)/azml-sshw.exe""#);
        assert_eq!(windows(r"C:\Users\José\azml-sshw.exe", &none).unwrap(), "C:/Users/José/azml-sshw.exe");
        assert!(windows("C:\\a\"b.exe", &none).is_err());
        assert!(windows(r"C:\tools\azml-ssh", &none).unwrap_err().contains(".exe"));
    }

    #[test]
    fn aliases_users_and_options_are_validated() {
        for bad in ["", "-oProxyCommand=x", "a b", "a%h", "a\"b", "a#b", "a=b", "a\nb", ".hidden", "a*", "ci1;rm"] {
            assert!(check_alias(bad).is_err(), "{bad:?}");
        }
        check_alias("azml-ci1.dev_2").unwrap();
        for bad in ["", "1user", "user name", "root\n", "-u", "a$"] {
            assert!(check_user(bad).is_err(), "{bad:?}");
        }
        check_user("azureuser").unwrap();
        for bad in [
            "ForwardAgent",
            "=yes",
            "Forward Agent=yes",
            "ProxyCommand=sh",
            "user=root",
            "X=a  b",
            "X=a\"b",
            "X=%z",
            "X=a#b",
            "X= a",
            "X=$(id)",
        ] {
            assert!(parse_ssh_option(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_ssh_option("LocalForward=8888 localhost:8888").unwrap().1, "8888 localhost:8888");
        assert_eq!(parse_ssh_option("ControlPath=~/.ssh/cm-%C").unwrap().0, "ControlPath");
    }
}
