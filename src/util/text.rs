//! Turning other people's error text into the single stderr line a ProxyCommand user gets.

use std::error::Error;
use std::time::Duration;

/// Folds whitespace (including newlines), escapes every other control character (a server's text must not
/// drive the user's terminal: no escape sequences, no bells), and drops the troubleshooting links Azure SDK errors
/// append.
pub(crate) fn one_line(text: &str) -> String {
    let text = text.split("To troubleshoot, visit").next().unwrap_or(text);
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.is_empty() {
        return "no details".into();
    }
    folded.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
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
    #[error("{0:?} is not a duration like 90s, 15m, 2h or 1d")]
    NotANumber(String),
    /// A unit other than s, m, h or d.
    #[error("{0:?} has an unknown unit; use s, m, h or d")]
    UnknownUnit(String),
    /// More than `MAX_DURATION`.
    #[error("{0:?} is too long; at most 30d")]
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

/// `m:ss`, as people read elapsed times.
pub(crate) fn clock(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    format!("{}:{:02}", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

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
