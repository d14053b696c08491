//! Idle shutdown: how long an instance may sit without activity before Azure stops it.
//!
//! ARM reads and writes it as an ISO 8601 duration (`properties.properties.idleTimeBeforeShutdown`, and the body
//! of `POST …/updateIdleShutdownSetting`); people give it as `30m`, `2h`, `1h30m` or `off`. The REST spec
//! (`ComputeInstanceProperties.idleTimeBeforeShutdown`) and Microsoft Learn ("Configure idle shutdown") both put
//! the bounds at 15 minutes and 3 days.

use std::fmt;

/// The shortest idle time Azure accepts, in minutes.
pub(crate) const MIN_MINUTES: u32 = 15;
/// The longest idle time Azure accepts (3 days), in minutes.
pub(crate) const MAX_MINUTES: u32 = 3 * 24 * 60;

/// An idle time within Azure's bounds, whole minutes (the studio and the SDK work in minutes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IdleTime {
    minutes: u32,
}

/// What `azml-ssh idle` is asked to set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdleRequest {
    /// Stop the instance after this long without activity.
    After(IdleTime),
    /// No idle shutdown.
    Off,
}

/// Why an idle value from the command line was refused; the Display form is the whole message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum IdleValueError {
    #[error("{0:?} is not an idle time: give minutes, hours or days such as 30m, 2h, 1h30m or 1d, or off")]
    Malformed(String),
    #[error("{0:?} is outside what Azure allows for idle shutdown: give 15m to 3d (72h), or off")]
    OutOfBounds(String),
}

impl IdleTime {
    /// `Some` when `minutes` is within Azure's bounds.
    pub(crate) fn from_minutes(minutes: u32) -> Option<Self> {
        (MIN_MINUTES..=MAX_MINUTES).contains(&minutes).then_some(IdleTime { minutes })
    }

    pub(crate) fn minutes(self) -> u32 {
        self.minutes
    }

    /// The wire form, in minutes as the Azure ML SDK writes it (`f"PT{minutes}M"`): `PT30M`, `PT90M`.
    pub(crate) fn iso8601(self) -> String {
        format!("PT{}M", self.minutes)
    }
}

impl IdleRequest {
    /// `30m`, `2h`, `1h30m`, `1d`, `off` — units in the order d, h, m, each at most once; case does not matter.
    pub(crate) fn parse(text: &str) -> Result<Self, IdleValueError> {
        let trimmed = text.trim().to_ascii_lowercase();
        if trimmed == "off" {
            return Ok(IdleRequest::Off);
        }
        let malformed = || IdleValueError::Malformed(text.to_owned());
        let too_long = || IdleValueError::OutOfBounds(text.to_owned());
        let mut minutes: u64 = 0;
        let mut rest = trimmed.as_str();
        let mut units = ["d", "h", "m"].into_iter();
        if rest.is_empty() {
            return Err(malformed());
        }
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(malformed)?;
            if digits == 0 {
                return Err(malformed());
            }
            // Only digits, so a failure is an overflow: far too long rather than malformed.
            let number: Option<u64> = rest[..digits].parse().ok();
            let unit = rest[digits..].chars().next().ok_or_else(malformed)?.to_string();
            // Units must come in order and only once: `30m2h` is more likely a typo than a wish.
            let factor = match units.by_ref().find(|u| *u == unit) {
                Some("d") => 24 * 60,
                Some("h") => 60,
                Some(_) => 1,
                None => return Err(malformed()),
            };
            minutes =
                number.and_then(|n| n.checked_mul(factor)).and_then(|m| minutes.checked_add(m)).ok_or_else(too_long)?;
            rest = &rest[digits + unit.len()..];
        }
        u32::try_from(minutes).ok().and_then(IdleTime::from_minutes).map(IdleRequest::After).ok_or_else(too_long)
    }

    /// The JSON body of `updateIdleShutdownSetting`. Off is the property set to null: the spec's
    /// `IdleShutdownSetting` has no other way to say "none", and the SDK's `None` means the same (see docs/guide/idle.md).
    pub(crate) fn body(self) -> serde_json::Value {
        match self {
            IdleRequest::After(time) => serde_json::json!({"idleTimeBeforeShutdown": time.iso8601()}),
            IdleRequest::Off => serde_json::json!({"idleTimeBeforeShutdown": null}),
        }
    }
}

/// An instance's idle shutdown setting as ARM reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IdleShutdown {
    /// Absent, null or empty: the instance never stops for being idle.
    Off,
    /// After this many whole seconds without activity.
    After { seconds: u64 },
    /// A value we cannot read, kept as text for the user.
    NotUnderstood(String),
}

impl IdleShutdown {
    /// From the raw `idleTimeBeforeShutdown` value; never fails.
    pub(crate) fn from_wire(value: Option<&serde_json::Value>) -> Self {
        match value {
            None | Some(serde_json::Value::Null) => IdleShutdown::Off,
            Some(serde_json::Value::String(text)) if text.trim().is_empty() => IdleShutdown::Off,
            Some(serde_json::Value::String(text)) => match parse_iso8601(text) {
                Some(seconds) => IdleShutdown::After { seconds },
                None => IdleShutdown::NotUnderstood(text.clone()),
            },
            Some(other) => IdleShutdown::NotUnderstood(other.to_string()),
        }
    }
}

/// An ISO 8601 duration of whole seconds, in days, hours, minutes and seconds: `PT1H30M`, `P1DT2H`, `PT0S`.
pub(crate) fn iso8601(seconds: u64) -> String {
    let (days, hours, minutes, secs) = (seconds / 86400, seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
    let mut text = String::from("P");
    if days > 0 {
        text.push_str(&format!("{days}D"));
    }
    if hours + minutes + secs > 0 || days == 0 {
        text.push('T');
    }
    for (value, unit) in [(hours, 'H'), (minutes, 'M'), (secs, 'S')] {
        if value > 0 {
            text.push_str(&format!("{value}{unit}"));
        }
    }
    if text == "PT" {
        text.push_str("0S");
    }
    text
}

/// For people: "after 30 min", "off", "not understood: \"PT1Y\"".
impl fmt::Display for IdleShutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdleShutdown::Off => f.write_str("off"),
            IdleShutdown::After { seconds } => write!(f, "after {}", human_duration(*seconds)),
            IdleShutdown::NotUnderstood(text) => {
                // Quoted, not Debug-formatted: the escapes are made once, by one_line_max.
                write!(f, "not understood: \"{}\"", crate::util::text::one_line_max(text, 60))
            }
        }
    }
}

/// An ISO 8601 duration of weeks, days, hours, minutes and seconds (`PT30M`, `PT1H30M`, `P1DT12H`, `PT90.5S`) in
/// whole seconds. Years and months have no fixed length and are not idle times: `None`, as for anything else.
pub(crate) fn parse_iso8601(text: &str) -> Option<u64> {
    let body = text.trim().strip_prefix(['P', 'p'])?;
    let (date, time) = match body.split_once(['T', 't']) {
        Some((date, time)) if !time.is_empty() => (date, Some(time)),
        Some(_) => return None,
        None => (body, None),
    };
    if date.is_empty() && time.is_none() {
        return None;
    }
    let mut seconds = fields(date, &[('W', 7 * 86400), ('D', 86400)])?;
    if let Some(time) = time {
        seconds = seconds.checked_add(fields(time, &[('H', 3600), ('M', 60), ('S', 1)])?)?;
    }
    Some(seconds)
}

/// `1D`, `2H30M`, `90.5S`: numbers each followed by one of `units` (in that order, once each), in seconds. A
/// fraction is allowed on the last field only, as ISO 8601 says, and is dropped.
fn fields(text: &str, units: &[(char, u64)]) -> Option<u64> {
    let mut total: u64 = 0;
    let mut rest = text;
    let mut allowed = units.iter();
    while !rest.is_empty() {
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))?;
        let (number, tail) = rest.split_at(end);
        let unit = tail.chars().next()?.to_ascii_uppercase();
        let &(_, factor) = allowed.by_ref().find(|(u, _)| *u == unit)?;
        let whole = match number.split_once(['.', ',']) {
            Some((whole, fraction)) if tail.len() == 1 && fraction.bytes().all(|b| b.is_ascii_digit()) => whole,
            Some(_) => return None,
            None => number,
        };
        let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
        total = total.checked_add(whole.checked_mul(factor)?)?;
        rest = &tail[1..];
    }
    Some(total)
}

/// `45 s`, `30 min`, `2 h`, `1 h 30 min`, `3 days`, `1 day 2 h` — the largest two units, rounded down.
pub(crate) fn human_duration(seconds: u64) -> String {
    let (days, hours, minutes) = (seconds / 86400, seconds % 86400 / 3600, seconds % 3600 / 60);
    let day_word = if days == 1 { "day" } else { "days" };
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} {day_word}"),
        (d, h, _) => format!("{d} {day_word} {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_values_parse_within_azures_bounds() {
        let after = |m| IdleRequest::After(IdleTime::from_minutes(m).unwrap());
        for (text, expected) in [
            ("30m", after(30)),
            ("2h", after(120)),
            ("1h30m", after(90)),
            ("1D", after(1440)),
            ("3d", after(4320)),
            ("72h", after(4320)),
            ("15m", after(15)),
            (" off ", IdleRequest::Off),
            ("OFF", IdleRequest::Off),
        ] {
            assert_eq!(IdleRequest::parse(text), Ok(expected), "{text}");
        }
        for text in ["14m", "0m", "3d1m", "4d", "73h", "99999999999999999999d", "18446744073709551615h"] {
            assert!(matches!(IdleRequest::parse(text), Err(IdleValueError::OutOfBounds(_))), "{text}");
        }
        for text in ["", "30", "m", "abc", "1x", "30m2h", "1h1h", "-30m", "1.5h", "30 m", "on"] {
            assert!(matches!(IdleRequest::parse(text), Err(IdleValueError::Malformed(_))), "{text:?}");
        }
    }

    #[test]
    fn the_request_body_is_what_the_sdk_sends() {
        assert_eq!(IdleRequest::parse("1h30m").unwrap().body().to_string(), r#"{"idleTimeBeforeShutdown":"PT90M"}"#);
        assert_eq!(IdleRequest::Off.body().to_string(), r#"{"idleTimeBeforeShutdown":null}"#);
    }

    #[test]
    fn iso8601_durations_are_written_and_read_back() {
        for (seconds, text) in [(1800, "PT30M"), (5400, "PT1H30M"), (93600, "P1DT2H"), (86400, "P1D"), (0, "PT0S")] {
            assert_eq!(iso8601(seconds), text);
            assert_eq!(parse_iso8601(text), Some(seconds));
        }
        for (text, seconds) in [
            ("PT30M", 1800),
            ("PT120M", 7200),
            ("PT1H30M", 5400),
            ("P1DT12H", 129600),
            ("P3D", 259200),
            ("P1W", 604800),
            ("PT90.5S", 90),
            ("pt15m", 900),
        ] {
            assert_eq!(parse_iso8601(text), Some(seconds), "{text}");
        }
        for text in ["", "P", "PT", "30M", "P1Y", "P1M", "PT1M1H", "PT1.5H30M", "PTxM", "P1DT"] {
            assert_eq!(parse_iso8601(text), None, "{text:?}");
        }
        for minutes in [15, 30, 90, 1440, 4320] {
            let time = IdleTime::from_minutes(minutes).unwrap();
            assert_eq!(parse_iso8601(&time.iso8601()), Some(u64::from(minutes) * 60));
        }
    }

    #[test]
    fn settings_from_arm_never_fail_and_read_well() {
        use serde_json::json;
        assert_eq!(IdleShutdown::from_wire(None), IdleShutdown::Off);
        assert_eq!(IdleShutdown::from_wire(Some(&json!(null))), IdleShutdown::Off);
        assert_eq!(IdleShutdown::from_wire(Some(&json!(""))), IdleShutdown::Off);
        assert_eq!(IdleShutdown::from_wire(Some(&json!("PT30M"))).to_string(), "after 30 min");
        assert_eq!(IdleShutdown::from_wire(Some(&json!("PT90M"))).to_string(), "after 1 h 30 min");
        assert_eq!(IdleShutdown::from_wire(Some(&json!("P3D"))).to_string(), "after 3 days");
        assert_eq!(IdleShutdown::from_wire(Some(&json!("P1Y"))).to_string(), "not understood: \"P1Y\"");
        assert_eq!(IdleShutdown::from_wire(Some(&json!(30))), IdleShutdown::NotUnderstood("30".into()));
        assert_eq!(human_duration(86400 + 7200 + 60), "1 day 2 h");
        assert_eq!(human_duration(45), "45 s");
    }
}
