//! What doctor found, item by item: each check's verdict, what it saw and the one thing to do about it, shown as
//! a checklist or as JSON. Local checks and the remote check-up both end here.

use serde::Serialize;

use crate::cmd::{Console, Error};

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verdict {
    Pass,
    Fail,
    /// Worth knowing, not a reason for ssh to fail.
    Warn,
}

/// One item of the checklist: what was checked, how it came out, what was seen, and the fix.
#[derive(Debug, Serialize)]
pub(crate) struct Check {
    pub item: String,
    pub verdict: Verdict,
    pub detail: String,
    pub fix: Option<String>,
}

pub(super) fn pass(item: impl Into<String>, detail: impl Into<String>) -> Check {
    Check { item: item.into(), verdict: Verdict::Pass, detail: detail.into(), fix: None }
}

pub(super) fn fail(item: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check { item: item.into(), verdict: Verdict::Fail, detail: detail.into(), fix: Some(fix.into()) }
}

pub(super) fn warn(item: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check { item: item.into(), verdict: Verdict::Warn, detail: detail.into(), fix: Some(fix.into()) }
}

/// The checklist (or JSON) on the console's output.
pub(crate) fn render(checks: &[Check], json: bool, console: &mut Console) -> Result<(), Error> {
    if json {
        #[derive(Serialize)]
        struct DoctorJson<'a> {
            checks: &'a [Check],
            /// Whether every required item passed (the exit status says the same).
            ok: bool,
        }
        let ok = checks.iter().all(|c| c.verdict != Verdict::Fail);
        return console.say_versioned(&DoctorJson { checks, ok });
    }
    for c in checks {
        let mark = match c.verdict {
            Verdict::Pass => "✔",
            Verdict::Fail => "✘",
            Verdict::Warn => "!",
        };
        console.say(format_args!("{mark} {}: {}", c.item, c.detail))?;
        if let (Some(fix), false) = (&c.fix, c.verdict == Verdict::Pass) {
            console.say(format_args!("    fix: {fix}"))?;
        }
    }
    Ok(())
}
