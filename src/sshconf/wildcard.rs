//! The wildcard host: one `Host *.SUFFIX` block after the per-instance blocks, so that `ssh NAME.SUFFIX` (or
//! `ssh NAME.WORKSPACE.SUFFIX`) reaches an instance created after the last `azml-ssh config`. The per-instance
//! blocks stay: VS Code's Remote Explorer and shell completion list only literal hosts.
//!
//! Our Include comes first in the user's config and ssh keeps the first value it reads, so a wildcard block would
//! take over any host of the user's own that ends in the suffix. It never does: such names are written into the
//! block as negated patterns (`!name.azml`), refreshed on every write.

use std::path::PathBuf;
use std::str::FromStr;

/// The suffix `azml-ssh config` uses unless told otherwise.
pub const DEFAULT_SUFFIX: &str = "azml";

/// The domain-like ending that marks a host name as "an instance, by name": `azml` in `ci1.azml`. Lower case,
/// labels of letters, digits and `-` joined by dots, so it can never be read as anything but a host pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suffix(String);

impl Suffix {
    /// The suffix as written after the dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `Host` pattern that matches every name under the suffix.
    pub(crate) fn pattern(&self) -> String {
        format!("*.{}", self.0)
    }

    /// Whether a pattern of the user's names hosts under this suffix (and so must win over the wildcard block).
    /// Only patterns that end in `.SUFFIX` count: a `Host *` of general defaults is not a claim on our names.
    pub(crate) fn claims(&self, pattern: &str) -> bool {
        pattern.to_ascii_lowercase().ends_with(&format!(".{}", self.0))
    }
}

impl Default for Suffix {
    fn default() -> Self {
        Suffix(DEFAULT_SUFFIX.to_owned())
    }
}

/// A `--wildcard` suffix that cannot be one.
#[derive(Debug, thiserror::Error)]
#[error(
    "wildcard suffix {0:?} is not usable: use a domain-like ending such as azml or ml.internal (letters, digits, '-', dots between)"
)]
pub struct InvalidSuffix(String);

impl FromStr for Suffix {
    type Err = InvalidSuffix;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if lower.is_empty() || lower.len() > 64 || !lower.split('.').all(label_ok) {
            return Err(InvalidSuffix(text.to_owned()));
        }
        Ok(Suffix(lower))
    }
}

/// The wildcard block as azml-ssh's file holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wildcard {
    /// The names it answers: `*.SUFFIX`.
    pub suffix: Suffix,
    /// The login user: Azure ML's admin user unless `--user` said otherwise.
    pub user: String,
    /// The private key to use, if not ssh's defaults.
    pub identity_file: Option<PathBuf>,
    /// Extra `Key Value` options from `--ssh-option`.
    pub options: Vec<(String, String)>,
    /// The user's own patterns under the suffix, written negated so the block never applies to them.
    pub yields_to: Vec<String>,
}

/// What azml-ssh's file says about the wildcard block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum WildcardState {
    /// Never decided: a file written by `add` alone, or by a version without wildcards. `config` turns it on.
    #[default]
    Unset,
    /// Turned off with `config --no-wildcard`; stays off until `config --wildcard SUFFIX`.
    Off,
    /// The block.
    On(Wildcard),
}

/// What a `config` run asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum WildcardChoice {
    /// Whatever the file had (on with the default suffix if it had nothing).
    #[default]
    Keep,
    /// `--no-wildcard`.
    Off,
    /// `--wildcard SUFFIX`.
    Suffix(Suffix),
}

impl WildcardChoice {
    /// The suffix the block should have after this run, or `None` for no block.
    pub(crate) fn suffix(&self, current: &WildcardState) -> Option<Suffix> {
        match (self, current) {
            (WildcardChoice::Off, _) | (WildcardChoice::Keep, WildcardState::Off) => None,
            (WildcardChoice::Suffix(suffix), _) => Some(suffix.clone()),
            (WildcardChoice::Keep, WildcardState::On(w)) => Some(w.suffix.clone()),
            (WildcardChoice::Keep, WildcardState::Unset) => Some(Suffix::default()),
        }
    }
}

/// Whether a pattern from the user's config can be written into ours as it is: ssh host-pattern characters only.
pub(crate) fn writable_pattern(pattern: &str) -> bool {
    !pattern.is_empty()
        && pattern.len() <= 255
        && !pattern.starts_with('!')
        && pattern.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '*' | '?'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_domain_like_and_lower_case() {
        assert_eq!("AzML".parse::<Suffix>().unwrap().as_str(), "azml");
        assert_eq!("ml.internal".parse::<Suffix>().unwrap().pattern(), "*.ml.internal");
        for bad in ["", ".azml", "azml.", "a..b", "-x", "x-", "a b", "a*", "%h", "a_b", &"x".repeat(65)] {
            assert!(bad.parse::<Suffix>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_patterns_under_the_suffix_are_claims() {
        let suffix = Suffix::default();
        assert!(suffix.claims("special.azml"));
        assert!(suffix.claims("*.AZML"));
        assert!(suffix.claims("gpu-*.azml"));
        assert!(!suffix.claims("*"));
        assert!(!suffix.claims("ci1"));
        assert!(!suffix.claims("*.azml.example.com"));
        assert!(!suffix.claims("xazml"));
    }

    #[test]
    fn a_run_keeps_what_the_file_decided_unless_told() {
        let on = |s: &str| {
            WildcardState::On(Wildcard {
                suffix: s.parse().unwrap(),
                user: "u".into(),
                identity_file: None,
                options: vec![],
                yields_to: vec![],
            })
        };
        let keep = WildcardChoice::Keep;
        assert_eq!(keep.suffix(&WildcardState::Unset), Some(Suffix::default()));
        assert_eq!(keep.suffix(&WildcardState::Off), None);
        assert_eq!(keep.suffix(&on("dev")).unwrap().as_str(), "dev");
        assert_eq!(WildcardChoice::Off.suffix(&on("dev")), None);
        let other = WildcardChoice::Suffix("ml".parse().unwrap());
        assert_eq!(other.suffix(&WildcardState::Off).unwrap().as_str(), "ml");
    }
}
