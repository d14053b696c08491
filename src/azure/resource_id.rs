//! The compute's ARM resource ID: the one argument `azml-ssh proxy` takes.
//!
//! The ID reaches us through `sh -c` (ssh runs ProxyCommand with the user's shell) and is later written into ssh
//! config files, so it is validated strictly *before* anything else happens: every segment is checked against
//! Azure's naming rules, which also guarantees that no whitespace, quote, `%` or shell metacharacter survives.

use std::fmt;
use std::str::FromStr;

/// What a valid ID looks like; quoted in every parse error so the user can fix their config.
pub(crate) const EXPECTED_FORM: &str = "/subscriptions/<subscription-guid>/resourceGroups/<group>/providers/Microsoft.MachineLearningServices/workspaces/<workspace>/computes/<name>";

/// A parsed, validated compute resource ID.
///
/// Keywords are matched case-insensitively (as ARM does) and rendered in their canonical casing; names keep the
/// casing the user gave, since ARM echoes names back as they were created.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ComputeId {
    /// The subscription GUID.
    pub subscription: String,
    /// The resource group's name.
    pub resource_group: String,
    /// The Azure ML workspace's name.
    pub workspace: String,
    /// The compute instance's name.
    pub compute: String,
}

/// Why an ID was rejected. The Display form is a complete, single-line message.
#[derive(Debug, thiserror::Error)]
#[error("invalid compute resource ID {input:?}: {reason}; expected {EXPECTED_FORM}")]
pub struct InvalidComputeId {
    input: String,
    reason: Reason,
}

/// What a valid workspace ID looks like: a compute ID without its last two segments.
const WORKSPACE_FORM: &str = "/subscriptions/<subscription-guid>/resourceGroups/<group>/providers/Microsoft.MachineLearningServices/workspaces/<workspace>";

/// Why a workspace ID (from ARM's workspace lists) was rejected; a single line, like [`InvalidComputeId`].
#[derive(Debug, thiserror::Error)]
#[error("invalid workspace resource ID {input:?}: {reason}; expected {WORKSPACE_FORM}")]
pub struct InvalidWorkspaceId {
    input: String,
    reason: Reason,
}

/// The first rule an ID, or one name in it, broke. Its Display is a phrase that names the part, so callers that
/// check a single name (`azml-ssh config --resource-group`) can wrap it in their own message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Reason {
    #[error("it contains whitespace or control characters")]
    Whitespace,
    #[error("it must start with '/subscriptions/'")]
    NoLeadingSlash,
    #[error("it has {found} path segments, not {expected}")]
    SegmentCount { found: usize, expected: usize },
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

/// The keyword segments of a compute ID by index; a workspace ID is its first eight segments.
const KEYWORDS: [(usize, &str); 6] = [
    (0, "subscriptions"),
    (2, "resourceGroups"),
    (4, "providers"),
    (5, "Microsoft.MachineLearningServices"),
    (6, "workspaces"),
    (8, "computes"),
];

/// Splits an ID into its `count` segments and checks the keywords among them (case-insensitively, as ARM does).
/// Names are checked afterwards, so the first reason reported is the same whatever else is wrong.
fn segments(input: &str, count: usize) -> Result<Vec<&str>, Reason> {
    if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Reason::Whitespace);
    }
    let Some(rest) = input.strip_prefix('/') else {
        return Err(Reason::NoLeadingSlash);
    };
    let segments: Vec<&str> = rest.split('/').collect();
    if segments.len() != count {
        return Err(Reason::SegmentCount { found: segments.len(), expected: count });
    }
    for (index, expected) in KEYWORDS.into_iter().filter(|(index, _)| *index < count) {
        if !segments[index].eq_ignore_ascii_case(expected) {
            return Err(Reason::Keyword { index, found: segments[index].to_owned(), expected });
        }
    }
    Ok(segments)
}

impl FromStr for ComputeId {
    type Err = InvalidComputeId;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason: Reason| InvalidComputeId { input: input.to_owned(), reason };
        let segments = segments(input, 10).map_err(fail)?;
        let workspace = WorkspaceId::from_segments(&segments).map_err(fail)?;
        let compute = segments[9];
        check_compute_name(compute).map_err(fail)?;

        Ok(ComputeId {
            subscription: workspace.subscription,
            resource_group: workspace.resource_group,
            workspace: workspace.workspace,
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

/// The one subscription ID rule, for IDs the user gives and for the subscriptions ARM lists: a GUID, 8-4-4-4-12
/// hex digits. Either case is accepted (ARM answers in lower case, the portal shows some in upper case); braces
/// and other GUID spellings are not, since ARM never uses them in a path.
pub(crate) fn check_subscription(text: &str) -> Result<(), Reason> {
    let groups: Vec<&str> = text.split('-').collect();
    let guid = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()));
    if guid { Ok(()) } else { Err(Reason::NotAGuid(text.to_owned())) }
}

/// A resource group name as the portal and CLI let users create it: up to 90 letters, digits, `-_.()`, not
/// starting with `-` or `.` and not ending with `.`.
pub(crate) fn check_resource_group(name: &str) -> Result<(), Reason> {
    check_name("resource group", name, 90, |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))?;
    if name.ends_with('.') {
        return Err(Reason::TrailingDot);
    }
    Ok(())
}

/// A compute name: letters, digits and `-` (Azure ML allows no more), not starting with `-`.
pub(crate) fn check_compute_name(name: &str) -> Result<(), Reason> {
    check_name("compute", name, 64, |c| c.is_ascii_alphanumeric() || c == '-')
}

/// A workspace name as Azure ML allows it: up to 64 letters, digits, `-` and `_`, not starting with `-`.
pub(crate) fn check_workspace_name(name: &str) -> Result<(), Reason> {
    check_name("workspace", name, 64, |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

/// A job name as Azure ML allows it (the job's run ID): letters, digits, `-` and `_`, starting with a letter or
/// digit. It goes into ARM and run-history paths, a file name and an ssh host name, so nothing else may.
pub(crate) fn check_job_name(name: &str) -> Result<(), Reason> {
    check_name("job", name, 255, |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))?;
    match name.chars().next() {
        Some('_') => Err(Reason::BadStart("job", '_')),
        _ => Ok(()),
    }
}

/// The segment every workspace path has between its scope and its name.
const WORKSPACES: &str = "providers/Microsoft.MachineLearningServices/workspaces";

/// Where ARM lists workspaces: a whole subscription, or one resource group of it. Its parts are not checked here:
/// discovery takes subscriptions from ARM (checked with [`check_subscription`]) or from the command line, which
/// `azml-ssh config` checks with the validators above before any request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WorkspaceScope<'a> {
    pub(crate) subscription: &'a str,
    pub(crate) resource_group: Option<&'a str>,
}

impl WorkspaceScope<'_> {
    /// The path whose `GET` lists the workspaces in this scope.
    pub(crate) fn list_path(&self) -> String {
        match self.resource_group {
            Some(rg) => format!("/subscriptions/{}/resourceGroups/{rg}/{WORKSPACES}", self.subscription),
            None => format!("/subscriptions/{}/{WORKSPACES}", self.subscription),
        }
    }
}

/// A parsed, validated workspace resource ID: the parent of compute IDs, and what discovery lists computes in.
/// Casing is kept as for [`ComputeId`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WorkspaceId {
    /// The subscription GUID.
    pub subscription: String,
    /// The resource group's name.
    pub resource_group: String,
    /// The workspace's name.
    pub workspace: String,
}

impl WorkspaceId {
    /// Checks the names of the first eight segments, already split and keyword-checked by [`segments`].
    fn from_segments(segments: &[&str]) -> Result<Self, Reason> {
        let (subscription, resource_group, workspace) = (segments[1], segments[3], segments[7]);
        check_subscription(subscription)?;
        check_resource_group(resource_group)?;
        check_workspace_name(workspace)?;
        Ok(WorkspaceId {
            subscription: subscription.to_owned(),
            resource_group: resource_group.to_owned(),
            workspace: workspace.to_owned(),
        })
    }

    /// The path whose `GET` lists this workspace's computes.
    pub(crate) fn computes_path(&self) -> String {
        format!("{self}/computes")
    }
}

impl FromStr for WorkspaceId {
    type Err = InvalidWorkspaceId;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason: Reason| InvalidWorkspaceId { input: input.to_owned(), reason };
        segments(input, 8).and_then(|segments| Self::from_segments(&segments)).map_err(fail)
    }
}

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = WorkspaceScope { subscription: &self.subscription, resource_group: Some(&self.resource_group) };
        write!(f, "{}/{}", scope.list_path(), self.workspace)
    }
}

impl ComputeId {
    /// The compute `name` of `workspace`. `name` must already be a valid compute name.
    pub(crate) fn in_workspace(workspace: &WorkspaceId, name: &str) -> ComputeId {
        ComputeId {
            subscription: workspace.subscription.clone(),
            resource_group: workspace.resource_group.clone(),
            workspace: workspace.workspace.clone(),
            compute: name.to_owned(),
        }
    }

    /// The workspace this compute belongs to.
    pub fn workspace(&self) -> WorkspaceId {
        WorkspaceId {
            subscription: self.subscription.clone(),
            resource_group: self.resource_group.clone(),
            workspace: self.workspace.clone(),
        }
    }

    /// The workspace's ARM path, used to build sibling URLs (the compute, its start action, ...).
    pub(crate) fn workspace_path(&self) -> String {
        self.workspace().to_string()
    }

    /// A key that is equal for IDs ARM treats as equal (names are case-insensitive in ARM).
    pub fn cache_key(&self) -> String {
        self.to_string().to_ascii_lowercase()
    }

    /// [`Self::cache_key`] as a file-name-safe SHA-256 hex digest: the name of this compute's cache and lock files.
    pub(crate) fn key_hash(&self) -> String {
        crate::util::state::hashed(&self.cache_key())
    }
}

impl fmt::Display for ComputeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.workspace().computes_path(), self.compute)
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

    fn workspace_id(rg: &str, ws: &str) -> String {
        format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}")
    }

    #[test]
    fn subscription_ids_are_guids_in_either_case() {
        for good in [SUB, "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d", "0A1B2C3D-4E5F-6A7B-8C9D-0E1F2A3B4C5D"] {
            assert!(check_subscription(good).is_ok(), "{good}");
        }
    }

    /// Discovery used to keep any 36 characters of hex digits and dashes from ARM's subscription list, while IDs
    /// needed a real GUID; both now follow the GUID rule, so nothing discovery keeps can fail as a compute ID.
    #[test]
    fn the_looser_subscription_rule_is_gone() {
        let formerly_loose = [
            "------------------------------------",
            "000000000000000000000000000000000000",
            "00000000-1111-2222-3333-44444444444-",
            "0000000011112222-3333-4444-444444444",
            "00000000-1111-2222-3333-4444-4444444",
        ];
        for bad in formerly_loose {
            assert_eq!(bad.len(), 36);
            assert!(check_subscription(bad).is_err(), "{bad}");
            assert!(id("rg", "ws", "ci1").replace(SUB, bad).parse::<ComputeId>().is_err(), "{bad}");
        }
        let never =
            ["", "not-a-guid", "{00000000-1111-2222-3333-444444444444}", "00000000-1111-2222-3333-44444444444g"];
        for bad in never {
            assert!(check_subscription(bad).is_err(), "{bad}");
        }
    }

    /// The validators `azml-ssh config --resource-group/--workspace` uses are the rules of compute IDs.
    #[test]
    fn name_validators_agree_with_compute_id_parsing() {
        let short = ["rg", "my-rg", "ws_1", "rg.(prod)_1", "rg.", "-rg", ".rg", "r#g", "w.s", "a b", "", "x\u{456}"];
        let long = [64, 65, 90, 91].map(|len| "a".repeat(len));
        for name in short.into_iter().chain(long.iter().map(String::as_str)) {
            let as_group = id(name, "ws", "ci1").parse::<ComputeId>().is_ok();
            let as_workspace = id("rg", name, "ci1").parse::<ComputeId>().is_ok();
            assert_eq!(check_resource_group(name).is_ok(), as_group, "resource group {name:?}");
            assert_eq!(check_workspace_name(name).is_ok(), as_workspace, "workspace {name:?}");
        }
        assert!(check_resource_group("rg.(prod)_1").is_ok());
        assert!(check_workspace_name("w.s").is_err());
    }

    #[test]
    fn a_workspace_id_is_its_computes_parent() {
        let compute: ComputeId = id("my-rg", "ws_1", "ci1").parse().expect("valid");
        let parsed: WorkspaceId = workspace_id("my-rg", "ws_1").parse().expect("valid");
        assert_eq!(compute.workspace(), parsed);
        assert_eq!(parsed.to_string(), workspace_id("my-rg", "ws_1"));
        assert_eq!(compute.workspace_path(), workspace_id("my-rg", "ws_1"));
        assert_eq!(parsed.computes_path(), format!("{}/computes", workspace_id("my-rg", "ws_1")));
        let shouted = workspace_id("RG", "WS").to_uppercase().replace(&SUB.to_uppercase(), SUB);
        assert_eq!(shouted.parse::<WorkspaceId>().expect("valid").to_string(), workspace_id("RG", "WS"));
    }

    #[test]
    fn workspace_ids_are_held_to_the_compute_id_rules() {
        let bad = [
            String::new(),
            id("rg", "ws", "ci1"),
            format!("{}/", workspace_id("rg", "ws")),
            format!(" {}", workspace_id("rg", "ws")),
            workspace_id("rg.", "ws"),
            workspace_id("rg", "w.s"),
            workspace_id("rg", "ws;id"),
            workspace_id("rg", "ws").replace(SUB, "------------------------------------"),
            workspace_id("rg", "ws").replace("workspaces", "registries"),
        ];
        for input in bad {
            let err = input.parse::<WorkspaceId>().expect_err(&input).to_string();
            assert!(err.contains(WORKSPACE_FORM), "{err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn workspace_scopes_list_a_subscription_or_a_resource_group() {
        let subscription = WorkspaceScope { subscription: SUB, resource_group: None };
        assert_eq!(
            subscription.list_path(),
            format!("/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/workspaces")
        );
        let group = WorkspaceScope { subscription: SUB, resource_group: Some("rg") };
        assert_eq!(format!("{}/ws", group.list_path()), workspace_id("rg", "ws"));
    }
}
