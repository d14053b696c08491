//! Turning other people's error text into the single stderr line a ProxyCommand user gets.

use std::error::Error;
use std::time::Duration;

/// Unicode's format characters (general category Cf, as of Unicode 16) and the line and paragraph separators
/// (U+2028, U+2029, within the second row). They are invisible or rearrange what surrounds them: U+202E shows
/// "txt.exe" as "exe.txt", U+200B hides inside a name, a line separator starts a new line in some terminals.
const FORMAT_CHARACTERS: [(char, char); 21] = [
    ('\u{ad}', '\u{ad}'),
    ('\u{600}', '\u{605}'),
    ('\u{61c}', '\u{61c}'),
    ('\u{6dd}', '\u{6dd}'),
    ('\u{70f}', '\u{70f}'),
    ('\u{890}', '\u{891}'),
    ('\u{8e2}', '\u{8e2}'),
    ('\u{180e}', '\u{180e}'),
    ('\u{200b}', '\u{200f}'),
    ('\u{2028}', '\u{202e}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206f}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{fff9}', '\u{fffb}'),
    ('\u{110bd}', '\u{110bd}'),
    ('\u{110cd}', '\u{110cd}'),
    ('\u{13430}', '\u{1343f}'),
    ('\u{1bca0}', '\u{1bca3}'),
    ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0001}', '\u{e0001}'),
    ('\u{e0020}', '\u{e007f}'),
];

/// Whether `c` may not reach a terminal as it is: a control character (C0, DEL, C1) or a format character.
pub(crate) fn must_escape(c: char) -> bool {
    c.is_control() || FORMAT_CHARACTERS.iter().any(|&(low, high)| (low..=high).contains(&c))
}

/// Text from outside (servers, the instance, other programs) as it may be shown: every control and format
/// character becomes a visible escape (`\u{1b}`, `\n`, `\u{202e}`), and nothing else changes. Every line the
/// commands show passes through here, so a server's text can neither drive the terminal (escape sequences, bells)
/// nor disguise itself (bidi overrides, invisible characters). Applying it twice changes nothing more.
pub(crate) fn visible(text: &str) -> String {
    if !text.chars().any(must_escape) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            c if c.is_control() => out.extend(c.escape_default()),
            c if must_escape(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

/// Folds whitespace (including newlines), escapes what [`visible`] escapes, and drops the troubleshooting links
/// Azure SDK errors append.
pub(crate) fn one_line(text: &str) -> String {
    let text = text.split("To troubleshoot, visit").next().unwrap_or(text);
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.is_empty() {
        return "no details".into();
    }
    visible(&folded)
}

/// Like [`one_line`], and cut to `max` characters: error bodies from servers can be whole HTML pages.
pub(crate) fn one_line_max(text: &str, max: usize) -> String {
    let line = one_line(text);
    match line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// An error and its sources joined with ": ", without repeating a source the outer message already quotes.
/// reqwest's top-level message ("error sending request") says nothing; the reason is in the chain.
pub(crate) fn error_chain(error: &dyn Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    one_line(&out)
}

/// Why a duration argument was refused; the Display form is the whole message.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDuration {
    /// No number where one should be.
    #[error("{0:?} is not a duration: write one like 90s, 15m, 2h or 1d")]
    NotANumber(String),
    /// A unit other than s, m, h or d.
    #[error("{0:?} has an unknown unit; use s, m, h or d")]
    UnknownUnit(String),
    /// More than `MAX_DURATION`.
    #[error("{0:?} is too long: give at most 30d")]
    TooLong(String),
}

/// The longest duration any option takes. Every wait and cache age here is minutes to days; a cap keeps deadline
/// arithmetic (`now + duration`, sums of two options) far from overflow for whatever a user types.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(30 * 86400);

/// Parses `90`, `90s`, `15m`, `2h`, `1d` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, InvalidDuration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| InvalidDuration::NotANumber(text.to_owned()))?;
    let unit_secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(InvalidDuration::UnknownUnit(text.to_owned())),
    };
    number
        .checked_mul(unit_secs)
        .map(Duration::from_secs)
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(|| InvalidDuration::TooLong(text.to_owned()))
}

/// A name from a server (a state, a trigger) as a stable lower-case identifier for scripts: `SettingUp` →
/// `setting_up`, `idle shutdown` → `idle_shutdown`; anything but ASCII letters and digits becomes `_`.
pub(crate) fn stable_name(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    let mut previous: Option<char> = None;
    for c in text.chars().take(64) {
        if c.is_ascii_uppercase() && previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit()) {
            out.push('_');
        }
        match c {
            c if c.is_ascii_alphanumeric() => out.push(c.to_ascii_lowercase()),
            _ if !out.is_empty() && !out.ends_with('_') => out.push('_'),
            _ => {}
        }
        previous = Some(c);
    }
    out.trim_end_matches('_').to_owned()
}

/// `m:ss`, as people read elapsed times.
pub(crate) fn clock(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    format!("{}:{:02}", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_become_stable_identifiers() {
        for (text, name) in [
            ("SettingUp", "setting_up"),
            ("UserSetupFailed", "user_setup_failed"),
            ("idle shutdown", "idle_shutdown"),
            ("Running", "running"),
            ("\u{1b}[31mOdd-State ", "31m_odd_state"),
            ("", ""),
        ] {
            assert_eq!(stable_name(text), name, "{text:?}");
        }
    }

    #[test]
    fn durations_parse_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("-1").is_err());
        assert_eq!(parse_duration("99999999999999999d"), Err(InvalidDuration::TooLong("99999999999999999d".into())));
        assert_eq!(parse_duration("30d"), Ok(MAX_DURATION));
        assert!(parse_duration("31d").is_err());
        assert!(parse_duration("18446744073709551615").is_err());
    }

    proptest::proptest! {
        /// Whatever number and unit: a duration within the cap, or a refusal — never a panic or a wrap.
        #[test]
        fn any_number_and_unit_is_parsed_within_the_cap_or_refused(
            number in proptest::prop_oneof![0u64..3_000_000, proptest::prelude::any::<u64>()],
            unit in proptest::sample::select(vec!["", "s", "m", "h", "d", "w", "ms"]),
        ) {
            let text = format!("{number}{unit}");
            let secs = |per: u128| u128::from(number) * per;
            let wanted = match unit {
                "" | "s" => Some(secs(1)),
                "m" => Some(secs(60)),
                "h" => Some(secs(3600)),
                "d" => Some(secs(86400)),
                _ => None,
            };
            match (parse_duration(&text), wanted) {
                (Ok(d), Some(w)) => proptest::prop_assert!(u128::from(d.as_secs()) == w && d <= MAX_DURATION),
                (Err(InvalidDuration::TooLong(_)), Some(w)) => {
                    proptest::prop_assert!(w > u128::from(MAX_DURATION.as_secs()))
                }
                (Err(InvalidDuration::UnknownUnit(_)), None) => {}
                (other, _) => proptest::prop_assert!(false, "{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn clock_reads_minutes_and_seconds() {
        assert_eq!(clock(Duration::from_secs(0)), "0:00");
        assert_eq!(clock(Duration::from_secs(754)), "12:34");
    }

    #[test]
    fn one_line_folds_tool_output_and_drops_links() {
        let text = "AzureCliCredential authentication failed. ERROR: Please run 'az login' to setup account.\n\nTo troubleshoot, visit https://aka.ms/x#azure-cli";
        assert_eq!(
            one_line(text),
            "AzureCliCredential authentication failed. ERROR: Please run 'az login' to setup account."
        );
        assert_eq!(one_line("\n \t"), "no details");
        assert_eq!(one_line("red \u{1b}[31mtext\u{7}\u{9b}"), "red \\u{1b}[31mtext\\u{7}\\u{9b}");
    }

    #[test]
    fn visible_escapes_controls_and_format_characters_only() {
        assert_eq!(visible("plain été 東京 ✔"), "plain été 東京 ✔");
        assert_eq!(visible("a\u{1b}[31mb\u{7f}c\u{9b}2Jd\n"), "a\\u{1b}[31mb\\u{7f}c\\u{9b}2Jd\\n");
        assert_eq!(visible("\u{1b}]8;;https://evil\u{7}x"), "\\u{1b}]8;;https://evil\\u{7}x");
        assert_eq!(visible("file\u{202e}txt.exe"), "file\\u{202e}txt.exe");
        for c in ['\u{ad}', '\u{61c}', '\u{180e}', '\u{200b}', '\u{2028}', '\u{2066}', '\u{feff}', '\u{e0041}'] {
            assert_eq!(visible(&c.to_string()), c.escape_unicode().to_string());
        }
        let once = visible("x\u{1b}\u{202e}\u{200d}y");
        assert_eq!(visible(&once), once);
        assert!(once.chars().all(|c| !must_escape(c)));
        assert_eq!(one_line("a \u{202e}b\n\u{200b}"), "a \\u{202e}b \\u{200b}");
    }

    proptest::proptest! {
        /// Whatever the text: nothing that must be escaped is left, and a second pass changes nothing.
        #[test]
        fn visible_leaves_nothing_to_escape(text in "\\PC*|[\\x00-\\x{9f}\\u{200b}-\\u{206f}\\u{feff}a]*") {
            let shown = visible(&text);
            proptest::prop_assert!(shown.chars().all(|c| !must_escape(c)));
            proptest::prop_assert_eq!(visible(&shown), shown.clone());
            proptest::prop_assert!(shown.len() >= text.len());
        }
    }

    #[test]
    fn one_line_max_cuts_on_a_character_boundary() {
        assert_eq!(one_line_max("ééééé", 3), "ééé…");
        assert_eq!(one_line_max("abc", 3), "abc");
    }

    #[test]
    fn error_chain_includes_sources_once() {
        let inner = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let outer = std::io::Error::other(inner);
        assert_eq!(error_chain(&outer), "refused");
    }
}
