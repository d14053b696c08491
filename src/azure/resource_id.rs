//! The compute's ARM resource ID: the one argument `azml-ssh proxy` takes.
//!
//! The ID reaches us through `sh -c` (ssh runs ProxyCommand with the user's shell) and is later written into ssh
//! config files, so it is validated strictly *before* anything else happens: every segment is checked against
//! Azure's naming rules, which also guarantees that no whitespace, quote, `%` or shell metacharacter survives.

use std::fmt;
use std::str::FromStr;

/// What a valid ID looks like; quoted in every parse error so the user can fix their config.
pub const EXPECTED_FORM: &str = "/subscriptions/<subscription-guid>/resourceGroups/<group>/providers/Microsoft.MachineLearningServices/workspaces/<workspace>/computes/<name>";

/// A parsed, validated compute resource ID.
///
/// Keywords are matched case-insensitively (as ARM does) and rendered in their canonical casing; names keep the
/// casing the user gave, since ARM echoes names back as they were created.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ComputeId {
    pub subscription: String,
    pub resource_group: String,
    pub workspace: String,
    pub compute: String,
}

/// Why an ID was rejected. The Display form is a complete, single-line message.
#[derive(Debug, thiserror::Error)]
#[error("invalid compute resource ID {input:?}: {reason}; expected {EXPECTED_FORM}")]
pub struct InvalidComputeId {
    input: String,
    reason: Reason,
}

/// The first rule an ID broke.
#[derive(Debug, thiserror::Error)]
enum Reason {
    #[error("it contains whitespace or control characters")]
    Whitespace,
    #[error("it must start with '/subscriptions/'")]
    NoLeadingSlash,
    #[error("it has {0} path segments, not 10")]
    SegmentCount(usize),
    #[error("segment {} is {found:?}, not {expected:?}", index + 1)]
    Keyword { index: usize, found: String, expected: &'static str },
    #[error("subscription {0:?} is not a GUID")]
    NotAGuid(String),
    #[error("the {0} name is empty")]
    Empty(&'static str),
    #[error("the {0} name is longer than {1} characters")]
    TooLong(&'static str, usize),
    #[error("the {0} name contains {1:?}")]
    BadCharacter(&'static str, char),
    #[error("the {0} name cannot start with {1:?}")]
    BadStart(&'static str, char),
    #[error("a resource group name cannot end with '.'")]
    TrailingDot,
}

const KEYWORDS: [&str; 6] =
    ["subscriptions", "resourceGroups", "providers", "workspaces", "computes", "Microsoft.MachineLearningServices"];

impl FromStr for ComputeId {
    type Err = InvalidComputeId;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason: Reason| InvalidComputeId { input: input.to_owned(), reason };

        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail(Reason::Whitespace));
        }
        let Some(rest) = input.strip_prefix('/') else {
            return Err(fail(Reason::NoLeadingSlash));
        };
        let segments: Vec<&str> = rest.split('/').collect();
        if segments.len() != 10 {
            return Err(fail(Reason::SegmentCount(segments.len())));
        }
        let expect_keyword = |index: usize, expected: &'static str| {
            if segments[index].eq_ignore_ascii_case(expected) {
                Ok(())
            } else {
                Err(fail(Reason::Keyword { index, found: segments[index].to_owned(), expected }))
            }
        };
        expect_keyword(0, KEYWORDS[0])?;
        expect_keyword(2, KEYWORDS[1])?;
        expect_keyword(4, KEYWORDS[2])?;
        expect_keyword(5, KEYWORDS[5])?;
        expect_keyword(6, KEYWORDS[3])?;
        expect_keyword(8, KEYWORDS[4])?;

        let subscription = segments[1];
        if !is_guid(subscription) {
            return Err(fail(Reason::NotAGuid(subscription.to_owned())));
        }
        let resource_group = segments[3];
        check_name("resource group", resource_group, 90, |c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')')
        })
        .map_err(&fail)?;
        if resource_group.ends_with('.') {
            return Err(fail(Reason::TrailingDot));
        }
        let workspace = segments[7];
        check_name("workspace", workspace, 64, |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .map_err(&fail)?;
        let compute = segments[9];
        check_name("compute", compute, 64, |c| c.is_ascii_alphanumeric() || c == '-').map_err(&fail)?;

        Ok(ComputeId {
            subscription: subscription.to_owned(),
            resource_group: resource_group.to_owned(),
            workspace: workspace.to_owned(),
            compute: compute.to_owned(),
        })
    }
}

/// Every character must pass `allowed`, and no name may start like an option or a relative path. The character sets are narrower
/// than "anything ARM might accept" on purpose: they are what the portal and CLI let users create, and they keep
/// the ID inert in a shell and in an ssh config.
fn check_name(what: &'static str, name: &str, max_len: usize, allowed: impl Fn(char) -> bool) -> Result<(), Reason> {
    if name.is_empty() {
        return Err(Reason::Empty(what));
    }
    if name.len() > max_len {
        return Err(Reason::TooLong(what, max_len));
    }
    if let Some(bad) = name.chars().find(|&c| !allowed(c)) {
        return Err(Reason::BadCharacter(what, bad));
    }
    match name.chars().next() {
        Some(first @ ('-' | '.')) => Err(Reason::BadStart(what, first)),
        _ => Ok(()),
    }
}

fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()))
}

impl ComputeId {
    /// The workspace's ARM path, used to build sibling URLs (the compute, its start action, ...).
    pub fn workspace_path(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.MachineLearningServices/workspaces/{}",
            self.subscription, self.resource_group, self.workspace
        )
    }

    /// A key that is equal for IDs ARM treats as equal (names are case-insensitive in ARM).
    pub fn cache_key(&self) -> String {
        self.to_string().to_ascii_lowercase()
    }

    /// [`Self::cache_key`] as a file-name-safe SHA-256 hex digest: the name of this compute's cache and lock files.
    pub fn key_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        Sha256::digest(self.cache_key().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for ComputeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/computes/{}", self.workspace_path(), self.compute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "00000000-1111-2222-3333-444444444444";

    fn id(rg: &str, ws: &str, name: &str) -> String {
        format!(
            "/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}/computes/{name}"
        )
    }

    #[test]
    fn parses_a_canonical_id_and_renders_it_back() {
        let text = id("my-rg", "ws_1", "ci1");
        let parsed: ComputeId = text.parse().expect("valid");
        assert_eq!(parsed.subscription, SUB);
        assert_eq!(parsed.resource_group, "my-rg");
        assert_eq!(parsed.workspace, "ws_1");
        assert_eq!(parsed.compute, "ci1");
        assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn keywords_are_case_insensitive_and_canonicalised() {
        let text = format!(
            "/SUBSCRIPTIONS/{SUB}/resourcegroups/rg/PROVIDERS/microsoft.machinelearningservices/Workspaces/ws/COMPUTES/ci1"
        );
        let parsed: ComputeId = text.parse().expect("valid");
        assert_eq!(parsed.to_string(), id("rg", "ws", "ci1"));
    }

    #[test]
    fn azure_legal_resource_group_characters_are_accepted() {
        let parsed: ComputeId = id("rg.(prod)_1", "ws", "ci1").parse().expect("valid");
        assert_eq!(parsed.resource_group, "rg.(prod)_1");
    }

    #[test]
    fn cache_key_ignores_case() {
        let a: ComputeId = id("RG", "WS", "CI1").parse().unwrap();
        let b: ComputeId = id("rg", "ws", "ci1").parse().unwrap();
        assert_eq!(a.cache_key(), b.cache_key());
    }

    #[test]
    fn rejects_everything_else_with_the_expected_form() {
        let bad = [
            String::new(),
            "ci1".to_string(),
            id("rg", "ws", "ci1").trim_start_matches('/').to_string(),
            format!("{}/", id("rg", "ws", "ci1")),
            format!("{}/extra", id("rg", "ws", "ci1")),
            format!(" {}", id("rg", "ws", "ci1")),
            format!("{}\n", id("rg", "ws", "ci1")),
            id("rg", "ws", "ci 1"),
            id("rg", "ws", "ci1;id"),
            id("rg", "ws", "$(id)"),
            id("rg", "ws", "`id`"),
            id("rg", "ws", "ci1%h"),
            id("rg", "ws", "ci1\"x"),
            id("rg", "ws", "ci1'x"),
            id("rg", "ws", "ci1|x"),
            id("rg", "ws", "ci1&x"),
            id("rg", "ws", "-oProxyCommand=x"),
            id("rg", "ws", ""),
            id("rg", "w.s", "ci1"),
            id("rg.", "ws", "ci1"),
            id("r#g", "ws", "ci1"),
            id("rg", "ws", "cі1"), // Cyrillic і
            id("rg", "ws", "ci1").replace(SUB, "not-a-guid"),
            id("rg", "ws", "ci1").replace("computes", "datastores"),
            id("rg", "ws", "ci1").replace("Microsoft.MachineLearningServices", "Microsoft.Compute"),
        ];
        for input in bad {
            let err = input.parse::<ComputeId>().expect_err(&input).to_string();
            assert!(err.contains(EXPECTED_FORM), "{err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }
}
