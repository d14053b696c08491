//! ssh_config as OpenSSH reads it, for the user's own files: lines and their directives, argument splitting
//! (`argv_split`), and the `Host`/`Match` patterns that claim names (`match_pattern_list`), with the `Include`s a
//! file pulls in. Both the lossless edit of `~/.ssh/config` ([`include`](crate::sshconf::include)) and the walk
//! over the user's files ([`store`](crate::sshconf::store), doctor) read through it.

use std::path::{Path, PathBuf};

use crate::sshconf::glob::{Budget, Pattern, Tree};

/// One line of the file, with its terminator ("\n", "\r\n" or none for a last line without one).
#[derive(Clone, Copy)]
pub(crate) struct Line<'a> {
    pub(crate) bytes: &'a [u8],
}

impl<'a> Line<'a> {
    pub(crate) fn content(&self) -> &'a [u8] {
        let b = self.bytes;
        let b = b.strip_suffix(b"\n").unwrap_or(b);
        b.strip_suffix(b"\r").unwrap_or(b)
    }

    /// The keyword (lower-cased) and its arguments, or `None` for blank and comment lines.
    pub(crate) fn directive(&self) -> Option<(String, Vec<String>)> {
        let text = String::from_utf8_lossy(self.content());
        let text = text.trim_start_matches([' ', '\t']);
        if text.is_empty() || text.starts_with('#') {
            return None;
        }
        let end = text.find([' ', '\t', '=']).unwrap_or(text.len());
        let keyword = text[..end].to_ascii_lowercase();
        let rest = text[end..].trim_start_matches([' ', '\t']);
        let rest = rest.strip_prefix('=').unwrap_or(rest);
        Some((keyword, split_args(rest)))
    }
}

/// The file's lines, each with its terminator.
pub(crate) fn lines(bytes: &[u8]) -> Vec<Line<'_>> {
    bytes.split_inclusive(|&b| b == b'\n').map(|bytes| Line { bytes }).collect()
}

/// ssh's argument splitting (OpenSSH's `argv_split`): whitespace-separated, double or single quotes grouping, a
/// backslash escaping a quote or backslash (and, outside quotes, a space), and a `#` starting a comment at the
/// start of an argument.
pub(crate) fn split_args(text: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut in_arg = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&next) = chars.peek()
            && (matches!(next, '"' | '\'' | '\\') || (quote.is_none() && next == ' '))
        {
            current.push(next);
            chars.next();
            in_arg = true;
            continue;
        }
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_arg = true;
            }
            (None, ' ' | '\t' | '\r' | '\n') => {
                if in_arg {
                    args.push(std::mem::take(&mut current));
                    in_arg = false;
                }
            }
            (None, '#') if !in_arg => break,
            (None, c) => {
                current.push(c);
                in_arg = true;
            }
        }
    }
    if in_arg {
        args.push(current);
    }
    args
}

/// A `Host` or `Match host`/`Match originalhost` line of the user's: the hosts it applies to, decided as ssh does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claim {
    /// The line as the user wrote it, for messages (`Host dev-*`, `Match host db,!db-test`).
    pub text: String,
    kind: ClaimKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ClaimKind {
    /// `Host p1 p2 …`: any pattern matches and no negated one does.
    Host(Vec<String>),
    /// `Match host LIST` / `Match originalhost LIST` (every such criterion must hold): each a comma-separated
    /// pattern list.
    Match(Vec<Vec<String>>),
}

impl Claim {
    /// The patterns that name hosts (negated ones left out), as written.
    pub(crate) fn positive_patterns(&self) -> Vec<&str> {
        let lists: Vec<&Vec<String>> = match &self.kind {
            ClaimKind::Host(patterns) => vec![patterns],
            ClaimKind::Match(lists) => lists.iter().collect(),
        };
        lists.into_iter().flatten().map(String::as_str).filter(|p| !p.starts_with('!')).collect()
    }

    /// Whether this line applies to `alias` when the user types `ssh alias`.
    pub(crate) fn covers(&self, alias: &str) -> bool {
        match &self.kind {
            ClaimKind::Host(patterns) => pattern_list_matches(alias, patterns),
            ClaimKind::Match(lists) => lists.iter().all(|list| pattern_list_matches(alias, list)),
        }
    }
}

/// OpenSSH's `match_pattern_list` for host names: a negated pattern that matches rules the name out; otherwise
/// any matching pattern rules it in. Host names compare case-insensitively (ssh lowercases what it is given).
fn pattern_list_matches(name: &str, patterns: &[String]) -> bool {
    let name = name.to_ascii_lowercase();
    let mut matched = false;
    for pattern in patterns {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern.as_str()),
        };
        if wildcard_matches(&pattern.to_ascii_lowercase(), &name) {
            if negated {
                return false;
            }
            matched = true;
        }
    }
    matched
}

/// `*` matches any run of characters, `?` any one, as in ssh's `match_pattern`.
fn wildcard_matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Patterns whose only positive one is `*` (`Host *`, `Host * !github.com`): defaults for every host, not a claim
/// on a name.
fn everything(patterns: &[String]) -> bool {
    patterns.iter().filter(|p| !p.starts_with('!')).all(|p| p == "*")
}

/// The claim a `Host` or `Match` line makes, if any. Defaults for everything (`Host *`, `Host * !x`, `Match host
/// *`) and `Match` lines without host criteria (`Match all`, `Match user …`) claim no particular name.
fn claim(keyword: &str, args: &[String], text: &str) -> Option<Claim> {
    let kind = match keyword {
        "host" if everything(args) => return None,
        "host" => ClaimKind::Host(args.to_vec()),
        "match" => {
            let mut lists = Vec::new();
            let mut words = args.iter();
            while let Some(word) = words.next() {
                let criterion = word.to_ascii_lowercase();
                let criterion = criterion.trim_start_matches('!');
                if matches!(criterion, "all" | "canonical" | "final") {
                    continue;
                }
                let value = words.next();
                if matches!(criterion, "host" | "originalhost") && !word.starts_with('!') {
                    let list: Vec<String> = value?.split(',').map(str::to_owned).collect();
                    if !everything(&list) {
                        lists.push(list);
                    }
                }
            }
            if lists.is_empty() {
                return None;
            }
            ClaimKind::Match(lists)
        }
        _ => return None,
    };
    Some(Claim { text: text.trim().to_owned(), kind })
}

/// What a config file says about hosts: the `Host` and `Match host` lines that claim names, and the files it
/// includes (resolved as ssh does, globs expanded), in order.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Directives {
    pub claims: Vec<(usize, Claim)>,
    pub includes: Vec<PathBuf>,
}

/// Reads the `Host`/`Match` claims and `Include`s of one config file, expanding the Includes over `tree` within
/// `budget`.
pub(crate) fn directives(config: &[u8], home: &Path, tree: &dyn Tree, budget: &mut Budget) -> Directives {
    let mut found = Directives::default();
    for (index, line) in lines(config).iter().enumerate() {
        let Some((keyword, args)) = line.directive() else { continue };
        match keyword.as_str() {
            "host" | "match" => {
                let text = String::from_utf8_lossy(line.content()).into_owned();
                found.claims.extend(claim(&keyword, &args, &text).map(|c| (index + 1, c)));
            }
            "include" => {
                let patterns = args.iter().filter_map(|arg| Pattern::new(arg, home));
                found.includes.extend(patterns.flat_map(|pattern| pattern.expand(tree, budget)));
            }
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sshconf::glob::Disk;

    fn claims(config: &str) -> Vec<Claim> {
        directives(config.as_bytes(), Path::new("/home/u"), &Disk, &mut Budget::default())
            .claims
            .into_iter()
            .map(|(_, c)| c)
            .collect()
    }

    fn claimed(config: &str, alias: &str) -> bool {
        claims(config).iter().any(|c| c.covers(alias))
    }

    #[test]
    fn host_and_match_lines_claim_names_as_ssh_matches_them() {
        assert!(claimed("Host dev-db\n", "dev-db"));
        assert!(claimed("Host dev-*\n", "dev-db"));
        assert!(claimed("Host DEV-* other\n", "dev-db"), "host names compare case-insensitively");
        assert!(claimed("Host d?v-db\n", "dev-db"));
        assert!(!claimed("Host dev-? \n", "dev-db"));
        assert!(!claimed("Host dev-* !dev-db\n", "dev-db"), "a negated match rules the name out");
        assert!(claimed("Host dev-* !dev-test\n", "dev-db"));
        assert!(!claimed("Host *\n", "dev-db"), "a bare Host * is defaults for everything, not a claim");
        assert!(!claimed("Host * !github.com\n", "dev-db"), "defaults for all but one host are no claim either");
        assert!(!claimed("Match host *\n", "dev-db"));
        assert!(claimed("Match host db,dev-*\n", "dev-db"));
        assert!(claimed("Match originalhost dev-db\n", "dev-db"));
        assert!(!claimed("Match host db,!dev-db,dev-*\n", "dev-db"));
        assert!(claimed("Match host dev-* user alice\n", "dev-db"), "other criteria may hold too: counted");
        assert!(!claimed("Match all\n", "dev-db"));
        assert!(!claimed("Match user alice\n", "dev-db"));
        assert!(!claimed("Match !host dev-db\n", "dev-db"));
        assert_eq!(claims("  Host dev-*   # mine\n")[0].text, "Host dev-*   # mine");
    }

    #[test]
    fn host_lines_and_includes_are_found() {
        let config = "Host azmlci1 *.corp !bad web?\n  HostName 1.2.3.4\nInclude /nonexistent/conf.d/*\nhost Other\n";
        let found = directives(config.as_bytes(), Path::new("/home/u"), &Disk, &mut Budget::default());
        let lines: Vec<usize> = found.claims.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [1, 4]);
        assert!(found.claims[0].1.covers("azmlci1") && found.claims[0].1.covers("x.corp"));
        assert!(!found.claims[0].1.covers("bad") && found.claims[1].1.covers("other"));
        assert!(found.includes.is_empty(), "a glob that matches nothing includes nothing");
    }

    #[test]
    fn argument_splitting_follows_ssh() {
        assert_eq!(split_args("a \"b c\" 'd' e#x # comment"), ["a", "b c", "d", "e#x"]);
        assert_eq!(split_args(""), Vec::<String>::new());
        assert_eq!(split_args(r#""a \"q\" \\b's" c\ d"#), ["a \"q\" \\b's", "c d"]);
    }
}
