//! The expansion of an `Include` argument, as ssh does it: OpenSSH calls glob(3) with `GLOB_TILDE` (the BSD glob
//! of `openbsd-compat/glob.c` on Linux and macOS), never recursively.
//!
//! Each `/`-separated part is matched against the entries of one directory: `*` any run of bytes, `?` one byte,
//! `[a-c]`, `[!x]` and `[[:alpha:]]` one byte of a set, a backslash makes the next character literal. Nothing
//! crosses a `/`, `**` is `*`, and a name that starts with `.` is matched only by a part that starts with a literal
//! `.`. Parts without wildcards are not looked up until the end, where a path must exist (`lstat`) to be a match.
//! The matches are sorted bytewise (`strcmp`).
//!
//! Unlike glob(3), the work is bounded: a [`Budget`] caps the directory entries examined and the matches kept,
//! shared by every Include of one walk over the user's config.
//!
//! The file system is reached through [`Tree`]: the disk for every command, a virtual tree for the fuzz target,
//! which so expands hostile patterns over hostile trees (loops through `.` and `..`, huge folders) in memory.

use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};

/// The file system as an Include glob sees it.
pub(crate) trait Tree {
    /// The names in folder `dir` (without `.` and `..`), read lazily so that a spent budget stops a huge folder;
    /// `None` when it cannot be read.
    fn names(&self, dir: &Path) -> Option<Box<dyn Iterator<Item = OsString> + '_>>;
    /// Whether `path` exists, as `lstat` says (a dangling symlink exists).
    fn exists(&self, path: &Path) -> bool;
}

/// The real file system.
pub(crate) struct Disk;

impl Tree for Disk {
    fn names(&self, dir: &Path) -> Option<Box<dyn Iterator<Item = OsString> + '_>> {
        let entries = std::fs::read_dir(dir).ok()?;
        Some(Box::new(entries.filter_map(|entry| entry.ok().map(|e| e.file_name()))))
    }

    fn exists(&self, path: &Path) -> bool {
        std::fs::symlink_metadata(path).is_ok()
    }
}

/// What one walk over the user's config may spend on Include globs. Once it is spent, no more directories are
/// read and no more matches are kept.
#[derive(Debug)]
pub(crate) struct Budget {
    entries: usize,
    matches: usize,
}

impl Budget {
    /// glob(3)'s own `GLOB_LIMIT_READDIR` (which ssh does not ask for), and as many matches as a walk reads files.
    pub(crate) const ENTRIES: usize = 16_384;
    pub(crate) const MATCHES: usize = 1_024;

    pub(crate) fn new(entries: usize, matches: usize) -> Self {
        Budget { entries, matches }
    }

    fn take(count: &mut usize) -> bool {
        let had = *count > 0;
        *count = count.saturating_sub(1);
        had
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(Budget::ENTRIES, Budget::MATCHES)
    }
}

/// A character class of glob(3), `[:name:]` inside a set, for the C locale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Alnum,
    Alpha,
    Blank,
    Cntrl,
    Digit,
    Graph,
    Lower,
    Print,
    Punct,
    Space,
    Upper,
    Xdigit,
}

impl Class {
    fn named(name: &[u8]) -> Option<Class> {
        Some(match name {
            b"alnum" => Class::Alnum,
            b"alpha" => Class::Alpha,
            b"blank" => Class::Blank,
            b"cntrl" => Class::Cntrl,
            b"digit" => Class::Digit,
            b"graph" => Class::Graph,
            b"lower" => Class::Lower,
            b"print" => Class::Print,
            b"punct" => Class::Punct,
            b"space" => Class::Space,
            b"upper" => Class::Upper,
            b"xdigit" => Class::Xdigit,
            _ => return None,
        })
    }

    fn has(self, b: u8) -> bool {
        match self {
            Class::Alnum => b.is_ascii_alphanumeric(),
            Class::Alpha => b.is_ascii_alphabetic(),
            Class::Blank => b == b' ' || b == b'\t',
            Class::Cntrl => b.is_ascii_control(),
            Class::Digit => b.is_ascii_digit(),
            Class::Graph => b.is_ascii_graphic(),
            Class::Lower => b.is_ascii_lowercase(),
            Class::Print => (0x20..0x7f).contains(&b),
            Class::Punct => b.is_ascii_punctuation(),
            // C's isspace includes the vertical tab, which Rust's is_ascii_whitespace leaves out.
            Class::Space => matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
            Class::Upper => b.is_ascii_uppercase(),
            Class::Xdigit => b.is_ascii_hexdigit(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Member {
    Byte(u8),
    Range(u8, u8),
    Class(Class),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Byte(u8),
    One,
    Any,
    Set { negated: bool, members: Vec<Member> },
}

/// One `/`-separated part of the pattern: a name to append as it is, or one to match against a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Wild(Vec<Token>),
}

/// A character of the pattern and whether a backslash made it literal.
type Char = (u8, bool);

/// The pattern's characters, with glob(3)'s backslash rule: `\c` is a literal `c`, a final `\` a literal `\`.
fn unescape(text: &[u8]) -> Vec<Char> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.iter().copied();
    while let Some(b) = bytes.next() {
        if b == b'\\' {
            out.push((bytes.next().unwrap_or(b'\\'), true));
        } else {
            out.push((b, false));
        }
    }
    out
}

fn plain(c: Option<&Char>, want: u8) -> bool {
    c.is_some_and(|&(b, escaped)| b == want && !escaped)
}

/// A `[...]` at `chars[at]` (the `[`), as glob0 compiles it: `Ok(Some((token, next)))` for a set, `Ok(None)`
/// when the `[` is literal (no `]` follows), `Err(())` for an unknown `[:class:]`, which makes glob(3) match nothing.
fn set(chars: &[Char], at: usize) -> Result<Option<(Token, usize)>, ()> {
    let mut i = at + 1;
    let negated = plain(chars.get(i), b'!');
    if negated {
        i += 1;
    }
    if i >= chars.len() || !chars[i + 1..].iter().any(|&(b, e)| b == b']' && !e) {
        return Ok(None);
    }
    let mut members = Vec::new();
    while let Some(&(c, escaped)) = chars.get(i) {
        i += 1;
        if (c, escaped) == (b'[', false) && plain(chars.get(i), b':') {
            let name_start = i + 1;
            // As glob0 does: the first `:` after the name must be followed by `]`, or this is no class.
            let colon = chars[name_start..].iter().position(|&(b, e)| b == b':' && !e);
            if let Some(len) = colon.filter(|len| plain(chars.get(name_start + len + 1), b']')) {
                let name: Vec<u8> = chars[name_start..name_start + len].iter().map(|&(b, _)| b).collect();
                members.push(Member::Class(Class::named(&name).ok_or(())?));
                i = name_start + len + 2;
                if plain(chars.get(i), b']') {
                    return Ok(Some((Token::Set { negated, members }, i + 1)));
                }
                continue;
            }
        }
        match (plain(chars.get(i), b'-'), chars.get(i + 1)) {
            (true, Some(&(end, escaped))) if end != b']' || escaped => {
                members.push(Member::Range(c, end));
                i += 2;
            }
            _ => members.push(Member::Byte(c)),
        }
        if plain(chars.get(i), b']') {
            return Ok(Some((Token::Set { negated, members }, i + 1)));
        }
    }
    Ok(Some((Token::Set { negated, members }, i)))
}

/// One part compiled; `Err(())` when glob(3) would match nothing at all.
fn part(chars: &[Char]) -> Result<Part, ()> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&(c, escaped)) = chars.get(i) {
        i += 1;
        match (c, escaped) {
            (b'*', false) => {
                if tokens.last() != Some(&Token::Any) {
                    tokens.push(Token::Any);
                }
            }
            (b'?', false) => tokens.push(Token::One),
            (b'[', false) => match set(chars, i - 1)? {
                Some((token, next)) => {
                    tokens.push(token);
                    i = next;
                }
                None => tokens.push(Token::Byte(b'[')),
            },
            (c, _) => tokens.push(Token::Byte(c)),
        }
    }
    if tokens.iter().all(|t| matches!(t, Token::Byte(_))) {
        let bytes: Vec<u8> =
            tokens.iter().filter_map(|t| if let Token::Byte(b) = t { Some(*b) } else { None }).collect();
        return Ok(Part::Literal(String::from_utf8_lossy(&bytes).into_owned()));
    }
    Ok(Part::Wild(tokens))
}

fn member_has(member: &Member, b: u8) -> bool {
    match *member {
        Member::Byte(m) => m == b,
        Member::Range(lo, hi) => lo <= b && b <= hi,
        Member::Class(class) => class.has(b),
    }
}

/// glob(3)'s `match`: one name against one part, with one remembered `*` (no backtracking blow-up).
fn matches(tokens: &[Token], name: &[u8]) -> bool {
    // Initial DOT must be matched literally.
    if name.first() == Some(&b'.') && tokens.first() != Some(&Token::Byte(b'.')) {
        return false;
    }
    let (mut t, mut n) = (0, 0);
    let mut retry: Option<(usize, usize)> = None;
    loop {
        let step = match (tokens.get(t), name.get(n)) {
            (None, None) => return true,
            (Some(Token::Any), _) => {
                retry = Some((t, n + 1));
                t += 1;
                continue;
            }
            (Some(Token::One), Some(_)) => true,
            (Some(Token::Byte(b)), Some(c)) => b == c,
            (Some(Token::Set { negated, members }), Some(&c)) => members.iter().any(|m| member_has(m, c)) != *negated,
            _ => false,
        };
        if step {
            t += 1;
            n += 1;
        } else {
            match retry {
                Some((star, next)) if next <= name.len() => {
                    t = star + 1;
                    n = next;
                    retry = Some((star, next + 1));
                }
                _ => return false,
            }
        }
    }
}

/// An `Include` argument of the user's config, resolved and compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    /// Where matching starts: the home directory, `~/.ssh`, or the root of an absolute path.
    base: PathBuf,
    parts: Vec<Part>,
    /// A final `/`: only a directory matches, as `lstat("file/")` fails.
    trailing_slash: bool,
}

impl Pattern {
    /// How ssh resolves an Include argument from a user config: `~` and `~/…` are under the home directory, an
    /// absolute path stays, anything else is under `~/.ssh`. `None` when it can match nothing here: `~user/…`
    /// (another user's home) or an unknown `[:class:]`.
    pub(crate) fn new(arg: &str, home: &Path) -> Option<Pattern> {
        let (base, rest) = if arg == "~" {
            (home.to_owned(), "")
        } else if let Some(rest) = arg.strip_prefix("~/") {
            (home.to_owned(), rest)
        } else if arg.starts_with('~') {
            return None;
        } else if Path::new(arg).is_absolute() {
            let (mut base, mut used) = (PathBuf::new(), 0);
            for component in Path::new(arg).components() {
                match component {
                    Component::Prefix(prefix) => used += prefix.as_os_str().len(),
                    Component::RootDir => used += 1,
                    _ => break,
                }
                base.push(component);
            }
            (base, arg.get(used..).unwrap_or_default())
        } else {
            (home.join(".ssh"), arg)
        };
        let parts = rest
            .split('/')
            .filter(|p| !p.is_empty())
            .map(|p| part(&unescape(p.as_bytes())))
            .collect::<Result<Vec<_>, ()>>()
            .ok()?;
        let trailing_slash = rest.ends_with('/') && !parts.is_empty();
        Some(Pattern { base, parts, trailing_slash })
    }

    /// The paths of `tree` the pattern matches, sorted bytewise, within `budget`.
    pub(crate) fn expand(&self, tree: &dyn Tree, budget: &mut Budget) -> Vec<PathBuf> {
        let mut found = vec![self.base.clone()];
        for part in &self.parts {
            match part {
                Part::Literal(name) => found.iter_mut().for_each(|path| path.push(name)),
                Part::Wild(tokens) => {
                    // In order, so that a spent budget cuts off the last matches, as ssh would sort them.
                    sort(&mut found);
                    found = found.iter().flat_map(|dir| read_matching(tree, dir, tokens, budget)).collect();
                }
            }
        }
        if self.trailing_slash {
            found.iter_mut().for_each(|path| path.push(""));
        }
        sort(&mut found);
        found.into_iter().filter(|path| tree.exists(path)).take_while(|_| Budget::take(&mut budget.matches)).collect()
    }

    /// Whether the pattern matches `path` by name (what expanding it would give if `path` exists).
    pub(crate) fn covers(&self, path: &Path) -> bool {
        let Ok(rest) = path.strip_prefix(&self.base) else { return false };
        let names: Vec<&OsStr> = rest.components().map(Component::as_os_str).collect();
        let parts: Vec<&Part> = self.parts.iter().filter(|p| **p != Part::Literal(".".into())).collect();
        !self.trailing_slash
            && names.len() == parts.len()
            && parts.iter().zip(&names).all(|(part, name)| match part {
                Part::Literal(literal) => OsStr::new(literal) == *name,
                Part::Wild(tokens) => matches(tokens, name.as_encoded_bytes()),
            })
    }
}

/// glob(3)'s order: `strcmp` on the whole path.
fn sort(paths: &mut [PathBuf]) {
    paths.sort_by(|a, b| a.as_os_str().as_encoded_bytes().cmp(b.as_os_str().as_encoded_bytes()));
}

/// The paths an `Include ARG` of a user config takes in, in ssh's order, with a budget of their own (the walk over
/// the user's config shares one between all its Includes).
pub fn include_paths(arg: &str, home: &Path) -> Vec<PathBuf> {
    Pattern::new(arg, home).map(|pattern| pattern.expand(&Disk, &mut Budget::default())).unwrap_or_default()
}

/// The entries of `dir` that `tokens` match, `.` and `..` included as readdir gives them.
fn read_matching(tree: &dyn Tree, dir: &Path, tokens: &[Token], budget: &mut Budget) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if budget.entries == 0 {
        return found;
    }
    let Some(entries) = tree.names(dir) else { return found };
    let names = [OsString::from("."), OsString::from("..")].into_iter().chain(entries);
    for name in names {
        if !Budget::take(&mut budget.entries) {
            break;
        }
        if matches(tokens, name.as_encoded_bytes()) {
            found.push(dir.join(name));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wild(pattern: &str) -> Vec<Token> {
        match part(&unescape(pattern.as_bytes())) {
            Ok(Part::Wild(tokens)) => tokens,
            other => panic!("{pattern}: {other:?}"),
        }
    }

    fn m(pattern: &str, name: &str) -> bool {
        matches(&wild(pattern), name.as_bytes())
    }

    #[test]
    fn wildcards_match_as_glob_3_does() {
        assert!(m("*", "config") && m("*.conf", "a.conf") && !m("*.conf", "a.conf~"));
        assert!(m("**", "config") && m("a**b", "axyb"), "`**` is `*`");
        assert!(m("?", "a") && !m("?", "ab") && !m("?", "") && !m("?", "é"), "`?` is one byte");
        assert!(m("[a-c]x", "bx") && !m("[a-c]x", "dx"));
        assert!(m("[!x]", "y") && !m("[!x]", "x"));
        assert!(m("[]a]", "]") && m("[]a]", "a"), "a leading `]` is a member");
        assert!(m("[a-]", "-") && m("[a-]", "a") && !m("[a-]", "b"));
        assert!(m("[[:digit:]]*", "9lives") && !m("[[:digit:]]*", "lives"));
        assert!(m("[[:alpha:][:digit:]]", "7") && m("[![:space:]]", "x") && !m("[![:space:]]", "\u{b}"));
        assert!(m("a*a*a*a*a*a*a*a*", &"a".repeat(40)) && !m("a*a*a*a*a*a*a*y", &"a".repeat(10_000)));
        assert!(m(r"\**", "*x") && !m(r"\**", "yx"), "a backslash makes `*` literal");
        assert!(m(r"[\]]*", "]x"));
        assert!(m("[[:a:b:]]", ":]") && !m("[[:a:b:]]", ":"), "no `:]` after the name: no class, `]` ends the set");
        assert_eq!(part(&unescape(b"[abc")), Ok(Part::Literal("[abc".into())), "no `]`: a literal `[`");
        assert_eq!(part(&unescape(br"a\*")), Ok(Part::Literal("a*".into())));
        assert_eq!(part(&unescape(b"[[:bogus:]]")), Err(()), "an unknown class matches nothing");
    }

    #[test]
    fn a_leading_dot_is_matched_only_literally() {
        assert!(!m("*", ".hidden") && !m("?hidden", ".hidden") && !m("[.]hidden", ".hidden"));
        assert!(m(".*", ".hidden") && m(".*", ".") && m(".*", ".."));
        assert!(m(r"\.h*", ".hidden"), "an escaped dot is a dot");
        assert!(m("*.conf", "a.conf"), "only the first byte counts");
    }

    #[test]
    fn arguments_resolve_as_ssh_resolves_them() {
        let home = Path::new("/home/u");
        let base = |arg: &str| Pattern::new(arg, home).map(|p| p.base);
        assert_eq!(base("conf.d/*"), Some(PathBuf::from("/home/u/.ssh")));
        assert_eq!(base("~/conf.d/*"), Some(PathBuf::from("/home/u")));
        assert_eq!(base("/etc/ssh/*"), Some(PathBuf::from("/")));
        assert_eq!(base("~other/x"), None, "another user's home is not looked up");
        assert_eq!(Pattern::new("/etc/[[:nope:]]", home), None);
    }

    #[test]
    fn covering_never_crosses_a_slash() {
        let home = Path::new("/home/u");
        let ours = Path::new("/home/u/.ssh/azml-ssh/config");
        let covers = |arg: &str| Pattern::new(arg, home).is_some_and(|p| p.covers(ours));
        assert!(covers("azml-ssh/config") && covers("*/config") && covers("~/.ssh/*/c?nfig"));
        assert!(covers("./azml-ssh/config") && covers("**/config") && covers("[a-b]zml-ssh/*"));
        assert!(!covers("*") && !covers("**") && !covers("~/*/azml-ssh/config"), "`*` is one part, and no `.`");
        assert!(!covers("azml-ssh/config/") && !covers("azml-ssh"));
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in ["a.conf", "b.conf", ".hidden.conf", "sub/c.conf", "sub/deeper/d.conf"] {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        dir
    }

    fn expanded(root: &Path, rest: &str, budget: &mut Budget) -> Vec<String> {
        let pattern = Pattern::new(&format!("{}/{rest}", root.display()), Path::new("/nowhere")).unwrap();
        let found = pattern.expand(&Disk, budget);
        found.iter().map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn expansion_reads_one_directory_per_part_and_sorts() {
        let dir = tree();
        let all = |rest: &str| expanded(dir.path(), rest, &mut Budget::default());
        assert_eq!(all("*"), ["a.conf", "b.conf", "sub"]);
        assert_eq!(all("**"), all("*"), "no recursion");
        assert_eq!(all("*/*"), ["sub/c.conf", "sub/deeper"]);
        assert_eq!(all("**/*.conf"), ["sub/c.conf"]);
        assert_eq!(all(".*.conf"), [".hidden.conf"]);
        assert_eq!(all("sub/../a.conf"), ["sub/../a.conf"], "literal parts are not looked up until the end");
        assert_eq!(all("nothing/*"), Vec::<String>::new());
        assert_eq!(all("a.conf"), ["a.conf"]);
        assert_eq!(all("missing.conf"), Vec::<String>::new(), "a literal path must exist");
    }

    #[test]
    fn expansion_stays_within_its_budget() {
        let dir = tree();
        let mut budget = Budget::new(4, 100);
        assert!(expanded(dir.path(), "*", &mut budget).len() <= 2, "`.`, `..`, then two entries at most");
        assert_eq!(budget.entries, 0);
        assert_eq!(expanded(dir.path(), "*", &mut budget), Vec::<String>::new(), "spent for the whole walk");
        let mut budget = Budget::new(100, 2);
        assert_eq!(expanded(dir.path(), "*", &mut budget).len(), 2);
    }
}
