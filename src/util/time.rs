//! Wall-clock time as the caches record it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch; 0 for a clock set before 1970, which makes every cached entry look stale.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A time from a server (RFC 3339 with any offset, as ARM writes it) in UTC (`2026-12-02T14:02:11Z`), for the JSON
/// scripts read; `None` when it is not a time.
pub(crate) fn rfc3339_utc(text: &str) -> Option<String> {
    text.parse::<jiff::Timestamp>().ok().map(|t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_times_are_given_in_utc() {
        assert_eq!(rfc3339_utc("2026-12-02T15:02:11+01:00").as_deref(), Some("2026-12-02T14:02:11Z"));
        assert_eq!(rfc3339_utc("2026-12-02T14:02:11.5Z").as_deref(), Some("2026-12-02T14:02:11.5Z"));
        assert_eq!(rfc3339_utc("yesterday"), None);
    }
}
