//! An instance's start/stop schedules (`properties.properties.schedules.computeStartStop[]`), parsed once into
//! typed values, and when each next runs.
//!
//! Shapes follow the REST spec's `ComputeStartStopSchedule`: `action` Start|Stop, `status` Enabled|Disabled,
//! `triggerType` Recurrence (with `recurrence: {frequency, interval, startTime, timeZone, schedule: {hours,
//! minutes, weekDays, monthDays}}`, as Logic Apps define recurrences) or Cron (`cron: {expression, startTime,
//! timeZone}`, five fields: minute hour day-of-month month day-of-week). Time zones are Windows names. Anything
//! else is kept as "not understood" with the reason: a schedule we cannot read must never break `status`.

use std::fmt;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde::Deserialize;

use crate::azure::windows_zones;

/// How far ahead a next run is looked for: enough for a February 29th cron.
const SEARCH_DAYS: usize = 8 * 366;

/// The most schedules read from one document. The studio offers a handful; each one read costs a search of up to
/// [`SEARCH_DAYS`], so a document listing thousands must not cost thousands of searches.
pub(crate) const MAX_SCHEDULES: usize = 32;

/// What a schedule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Start,
    Stop,
}

impl Action {
    /// "start" or "stop".
    pub(crate) fn word(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
        }
    }
}

/// One entry of `computeStartStop`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Schedule {
    Known(Plan),
    /// A shape, trigger or time zone we cannot compute with, and why.
    NotUnderstood {
        reason: String,
    },
}

/// A schedule we can compute the runs of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub action: Action,
    pub enabled: bool,
    /// The Windows zone name as Azure gave it, for people.
    pub zone_name: String,
    zone: &'static str,
    /// No run before this local time.
    start: Option<DateTime>,
    pattern: Pattern,
    /// What the schedule says, for people: `cron "0 18 * * *"`, `every week on Mon, Fri at 18:00`.
    pub summary: String,
}

impl Plan {
    /// The schedule's time zone, as an IANA name.
    pub(crate) fn time_zone(&self) -> &'static str {
        self.zone
    }
}

/// The minutes of a day and the days on which a schedule fires, cron-style, as bit sets.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pattern {
    minutes: u64,
    hours: u32,
    /// Days of the month (bit 1..=31); `None`: unrestricted.
    month_days: Option<u32>,
    /// Bit 1..=12.
    months: u16,
    /// Sunday = bit 0; `None`: unrestricted.
    weekdays: Option<u8>,
    /// Every n-th day, week or month, counted from a date.
    every: Option<Every>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Day,
    Week,
    Month,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Every {
    unit: Unit,
    n: i64,
    from: Date,
}

/// Why a schedule is not understood; its Display is the reason shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Unreadable {
    #[error("{0}")]
    Shape(&'static str),
    #[error("time zone {0:?}")]
    TimeZone(String),
    #[error("start time {0:?}")]
    StartTime(String),
    #[error("cron {0:?}")]
    Cron(String),
    #[error("recurrence frequency {0:?}")]
    Frequency(String),
    #[error("week day {0:?}")]
    WeekDay(String),
    #[error("recurrence interval {0} without a start time")]
    Interval(i64),
    #[error("trigger type {0}")]
    Trigger(String),
}

/// The next run of a schedule.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NextRun {
    pub action: Action,
    /// In the schedule's own time zone.
    pub at: Zoned,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireSchedule {
    action: Option<String>,
    status: Option<String>,
    trigger_type: Option<String>,
    recurrence: Option<WireRecurrence>,
    cron: Option<WireCron>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireRecurrence {
    frequency: Option<String>,
    interval: Option<i64>,
    start_time: Option<String>,
    time_zone: Option<String>,
    schedule: Option<WireRecurrenceSchedule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireRecurrenceSchedule {
    hours: Vec<i64>,
    minutes: Vec<i64>,
    week_days: Option<Vec<String>>,
    month_days: Option<Vec<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireCron {
    expression: Option<String>,
    start_time: Option<String>,
    time_zone: Option<String>,
}

/// Every schedule of `schedules` (the raw `schedules` object), up to [`MAX_SCHEDULES`]; absent or null gives
/// none, and an entry that cannot be read becomes [`Schedule::NotUnderstood`], as do those beyond the limit (one
/// entry saying how many).
pub(crate) fn parse_all(schedules: Option<&serde_json::Value>) -> Vec<Schedule> {
    let list = match schedules.and_then(|s| s.get("computeStartStop")) {
        None | Some(serde_json::Value::Null) => return Vec::new(),
        Some(serde_json::Value::Array(list)) => list,
        Some(other) => return vec![not_understood(format!("computeStartStop is not a list: {other}"))],
    };
    let mut all: Vec<Schedule> = list.iter().take(MAX_SCHEDULES).map(parse_one).collect();
    if list.len() > MAX_SCHEDULES {
        all.push(not_understood(format!(
            "{} more schedules, beyond the first {MAX_SCHEDULES}",
            list.len() - MAX_SCHEDULES
        )));
    }
    all
}

fn not_understood(reason: impl Into<String>) -> Schedule {
    Schedule::NotUnderstood { reason: crate::util::text::one_line_max(&reason.into(), 120) }
}

fn parse_one(value: &serde_json::Value) -> Schedule {
    let wire = match WireSchedule::deserialize(value) {
        Ok(wire) => wire,
        Err(e) => return not_understood(e.to_string()),
    };
    let action = match wire.action.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("start") => Action::Start,
        Some("stop") => Action::Stop,
        other => return not_understood(format!("action {}", other.unwrap_or("missing"))),
    };
    // The spec's default status is Enabled.
    let enabled = !wire.status.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("Disabled"));
    let parsed = match wire.trigger_type.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("cron") => wire.cron.as_ref().ok_or(Unreadable::Shape("no cron object")).and_then(cron_plan),
        Some("recurrence") => {
            wire.recurrence.as_ref().ok_or(Unreadable::Shape("no recurrence object")).and_then(recurrence_plan)
        }
        other => Err(Unreadable::Trigger(other.unwrap_or("missing").to_owned())),
    };
    match parsed {
        Ok((pattern, zone_name, zone, start, summary)) => {
            Schedule::Known(Plan { action, enabled, zone_name, zone, start, pattern, summary })
        }
        Err(reason) => not_understood(reason.to_string()),
    }
}

/// What a trigger parses into: the pattern, the zone (as given and as IANA), the start and the summary.
type Parsed = (Pattern, String, &'static str, Option<DateTime>, String);

/// The IANA zone for a Windows name; none given means UTC.
fn zone_of(name: Option<&str>) -> Result<(String, &'static str), Unreadable> {
    let name = name.filter(|n| !n.trim().is_empty()).unwrap_or("UTC");
    if let Some(zone) = windows_zones::iana(name) {
        return Ok((name.to_owned(), zone));
    }
    Err(Unreadable::TimeZone(name.to_owned()))
}

/// `2021-04-23T01:30:00` (local to the schedule's zone, as the studio writes it); an offset or `Z` is honoured.
fn start_of(text: Option<&str>, zone: &'static str) -> Result<Option<DateTime>, Unreadable> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    if let Ok(local) = text.parse::<DateTime>() {
        return Ok(Some(local));
    }
    let tz = TimeZone::get(zone).map_err(|_| Unreadable::TimeZone(zone.to_owned()))?;
    match text.parse::<Timestamp>() {
        Ok(instant) => Ok(Some(instant.to_zoned(tz).datetime())),
        Err(_) => Err(Unreadable::StartTime(text.to_owned())),
    }
}

fn cron_plan(cron: &WireCron) -> Result<Parsed, Unreadable> {
    let (zone_name, zone) = zone_of(cron.time_zone.as_deref())?;
    let start = start_of(cron.start_time.as_deref(), zone)?;
    let expression = cron.expression.as_deref().ok_or(Unreadable::Shape("no cron expression"))?;
    let pattern = parse_cron(expression).ok_or_else(|| Unreadable::Cron(expression.to_owned()))?;
    // Folded and cut: the expression's length is the document's, not the bit sets'.
    let summary = format!("cron \"{}\"", crate::util::text::one_line_max(expression, 80));
    Ok((pattern, zone_name, zone, start, summary))
}

/// Five fields: minute hour day-of-month month day-of-week (0-7, Sunday 0 or 7). Each is `*`, a number, a range
/// `a-b`, either with a step `/n`, or a comma list of those. Names (`MON`, `JAN`), `?`, `L`, `W`, `#` and a
/// seconds field are not understood.
fn parse_cron(expression: &str) -> Option<Pattern> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let [minute, hour, day, month, weekday] = fields.as_slice() else { return None };
    let weekdays = cron_field(weekday, 0, 7)?;
    // 7 is Sunday too.
    let weekdays = ((weekdays & 0x7f) | (weekdays >> 7)) as u8;
    // A day field starting with `*` leaves the day to the other one, as in Vixie cron.
    let month_days = cron_field(day, 1, 31)? as u32;
    Some(Pattern {
        minutes: cron_field(minute, 0, 59)?,
        hours: cron_field(hour, 0, 23)? as u32,
        month_days: (!day.starts_with('*')).then_some(month_days),
        months: cron_field(month, 1, 12)? as u16,
        weekdays: (!weekday.starts_with('*')).then_some(weekdays),
        every: None,
    })
}

/// One cron field as a bit set of the values in `low..=high`.
fn cron_field(text: &str, low: u32, high: u32) -> Option<u64> {
    let mut bits = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (item, 1),
        };
        let (from, to) = match range {
            "*" => (low, high),
            _ => match range.split_once('-') {
                Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                None if step > 1 => (range.parse().ok()?, high),
                None => (range.parse().ok()?, range.parse().ok()?),
            },
        };
        if from < low || to > high || from > to {
            return None;
        }
        bits |= (from..=to).step_by(step as usize).fold(0u64, |b, v| b | 1 << v);
    }
    Some(bits)
}

fn recurrence_plan(recurrence: &WireRecurrence) -> Result<Parsed, Unreadable> {
    let (zone_name, zone) = zone_of(recurrence.time_zone.as_deref())?;
    let start = start_of(recurrence.start_time.as_deref(), zone)?;
    let at = recurrence.schedule.as_ref().ok_or(Unreadable::Shape("a recurrence without a schedule"))?;
    let bits = |values: &[i64], high: i64| -> Option<u64> {
        values.iter().try_fold(0u64, |b, &v| (0..=high).contains(&v).then(|| b | 1 << v))
    };
    let (minutes, hours) = match (bits(&at.minutes, 59), bits(&at.hours, 23)) {
        (Some(m), Some(h)) if m != 0 && h != 0 => (m, h as u32),
        _ => return Err(Unreadable::Shape("recurrence hours or minutes")),
    };
    let frequency = recurrence.frequency.as_deref().unwrap_or_default().to_ascii_lowercase();
    let unit = match frequency.as_str() {
        "day" => Unit::Day,
        "week" => Unit::Week,
        "month" => Unit::Month,
        _ => return Err(Unreadable::Frequency(frequency)),
    };
    let weekdays = match (&at.week_days, unit) {
        (Some(days), Unit::Week) if !days.is_empty() => Some(weekday_bits(days)?),
        (_, Unit::Week) => return Err(Unreadable::Shape("a weekly recurrence without week days")),
        _ => None,
    };
    let month_days = match (&at.month_days, unit) {
        (Some(days), Unit::Month) if !days.is_empty() => Some(
            days.iter()
                .try_fold(0u32, |b, &d| (1..=31).contains(&d).then(|| b | 1 << d))
                .ok_or(Unreadable::Shape("month days"))?,
        ),
        (_, Unit::Month) => return Err(Unreadable::Shape("a monthly recurrence without month days")),
        _ => None,
    };
    let n = recurrence.interval.unwrap_or(1);
    let every = match (n, start) {
        (1, _) => None,
        (n, Some(start)) if n > 1 => Some(Every { unit, n, from: start.date() }),
        _ => return Err(Unreadable::Interval(n)),
    };
    let summary = recurrence_summary(unit, n, weekdays, month_days, hours, minutes);
    let pattern = Pattern { minutes, hours, month_days, months: 0x1ffe, weekdays, every };
    Ok((pattern, zone_name, zone, start, summary))
}

const WEEKDAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

fn weekday_bits(days: &[String]) -> Result<u8, Unreadable> {
    days.iter().try_fold(0u8, |bits, day| {
        let index = WEEKDAYS.iter().position(|w| w.eq_ignore_ascii_case(day.trim()));
        index.map(|i| bits | 1 << i).ok_or_else(|| Unreadable::WeekDay(day.clone()))
    })
}

/// `every week on Mon, Fri at 18:00`, `every 2 days at 08:00, 20:00`.
fn recurrence_summary(
    unit: Unit,
    n: i64,
    weekdays: Option<u8>,
    month_days: Option<u32>,
    hours: u32,
    minutes: u64,
) -> String {
    let unit_word = match unit {
        Unit::Day => "day",
        Unit::Week => "week",
        Unit::Month => "month",
    };
    let mut text = if n == 1 { format!("every {unit_word}") } else { format!("every {n} {unit_word}s") };
    if let Some(bits) = weekdays {
        let days: Vec<&str> = (0..7).filter(|i| bits & 1 << i != 0).map(|i| &WEEKDAYS[i][..3]).collect();
        text.push_str(&format!(" on {}", days.join(", ")));
    }
    if let Some(bits) = month_days {
        let days: Vec<String> = (1..=31).filter(|d| bits & 1 << d != 0).map(|d: u32| d.to_string()).collect();
        text.push_str(&format!(" on day {}", days.join(", ")));
    }
    // From the bit sets, in order and without repeats, and only the few shown: the lists in the document may
    // hold thousands of entries, and their product millions.
    let count = (hours.count_ones() * minutes.count_ones()) as usize;
    let shown = if count > 4 { 3 } else { count };
    let mut times: Vec<String> = (0..24u32)
        .filter(|h| hours & 1 << h != 0)
        .flat_map(|h| (0..60u32).filter(move |m| minutes & 1 << m != 0).map(move |m| format!("{h:02}:{m:02}")))
        .take(shown)
        .collect();
    if count > shown {
        times.push(format!("{} more", count - shown));
    }
    text.push_str(&format!(" at {}", times.join(", ")));
    text
}

impl Pattern {
    fn day_matches(&self, date: Date) -> bool {
        let month_ok = self.months & 1 << date.month() != 0;
        let in_month = |bits: u32| bits & 1 << date.day() != 0;
        let in_week = |bits: u8| bits & 1 << date.weekday().to_sunday_zero_offset() != 0;
        // Cron: when both day fields are restricted, either one matching is enough.
        let day_ok = match (self.month_days, self.weekdays) {
            (Some(days), Some(week)) => in_month(days) || in_week(week),
            (Some(days), None) => in_month(days),
            (None, Some(week)) => in_week(week),
            (None, None) => true,
        };
        month_ok && day_ok && self.every.as_ref().is_none_or(|every| every.includes(date))
    }
}

impl Every {
    fn includes(&self, date: Date) -> bool {
        let elapsed = match self.unit {
            Unit::Day => date.since(self.from).map(|s| i64::from(s.get_days())),
            // Weeks start on Sunday, as the studio's week-day pickers show them.
            Unit::Week => {
                let sunday = |d: Date| d.checked_sub(jiff::Span::new().days(d.weekday().to_sunday_zero_offset()));
                match (sunday(date), sunday(self.from)) {
                    (Ok(a), Ok(b)) => a.since(b).map(|s| i64::from(s.get_days()) / 7),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
            Unit::Month => Ok((i64::from(date.year()) * 12 + i64::from(date.month()))
                - (i64::from(self.from.year()) * 12 + i64::from(self.from.month()))),
        };
        elapsed.is_ok_and(|e| e >= 0 && e % self.n == 0)
    }
}

impl Plan {
    /// The first run strictly after `now` (and not before the start time), in the schedule's zone.
    pub(crate) fn next_after(&self, now: Timestamp) -> Option<Zoned> {
        let tz = TimeZone::get(self.zone).ok()?;
        let start = match self.start {
            Some(start) => Some(start.to_zoned(tz.clone()).ok()?.timestamp()),
            None => None,
        };
        let from = start.map_or(now, |s| s.max(now));
        let mut date = from.to_zoned(tz.clone()).date();
        for _ in 0..SEARCH_DAYS {
            if self.pattern.day_matches(date) {
                for hour in (0..24i8).filter(|h| self.pattern.hours & 1 << h != 0) {
                    for minute in (0..60i8).filter(|m| self.pattern.minutes & 1 << m != 0) {
                        let at = date.at(hour, minute, 0, 0).to_zoned(tz.clone()).ok()?;
                        let after_start = start.is_none_or(|s| at.timestamp() >= s);
                        if at.timestamp() > now && after_start {
                            return Some(at);
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

/// The earliest next run among the enabled schedules, optionally of one action only.
pub(crate) fn next_run(schedules: &[Schedule], now: Timestamp, only: Option<Action>) -> Option<NextRun> {
    schedules
        .iter()
        .filter_map(|s| match s {
            Schedule::Known(plan) if plan.enabled && only.is_none_or(|a| a == plan.action) => {
                plan.next_after(now).map(|at| NextRun { action: plan.action, at })
            }
            _ => None,
        })
        .min_by_key(|run| run.at.timestamp())
}

/// `stop: cron "0 18 * * *" (Pacific Standard Time)`, `start: every day at 08:00 (UTC), disabled`,
/// `not understood: time zone "Mars Standard Time"`.
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Known(plan) => {
                write!(f, "{}: {} ({})", plan.action.word(), plan.summary, plan.zone_name)?;
                if !plan.enabled {
                    f.write_str(", disabled")?;
                }
                Ok(())
            }
            Schedule::NotUnderstood { reason } => write!(f, "schedule not understood: {reason}"),
        }
    }
}

/// `18:00 (UTC+01:00, in 2 h 10 min)`, or with the day when it is not within the next 24 hours:
/// `Thu 2026-12-03 18:00 (UTC-08:00, in 1 day 3 h)`.
pub(crate) fn when(at: &Zoned, now: Timestamp) -> String {
    let seconds = at.timestamp().as_second() - now.as_second();
    // Rounded up to the minute: "in 0 min" would read as "now".
    let minutes_left = u64::try_from(seconds).unwrap_or(0).div_ceil(60);
    let offset = at.offset().seconds();
    let sign = if offset < 0 { '-' } else { '+' };
    let (oh, om) = (offset.unsigned_abs() / 3600, offset.unsigned_abs() % 3600 / 60);
    let time = if seconds < 86400 {
        format!("{:02}:{:02}", at.hour(), at.minute())
    } else {
        let day = &WEEKDAYS[at.weekday().to_sunday_zero_offset() as usize][..3];
        format!("{day} {} {:02}:{:02}", at.date(), at.hour(), at.minute())
    };
    let left = crate::azure::idle::human_duration(minutes_left.max(1) * 60);
    format!("{time} (UTC{sign}{oh:02}:{om:02}, in {left})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn one(schedule: serde_json::Value) -> Schedule {
        let mut all = parse_all(Some(&json!({ "computeStartStop": [schedule] })));
        all.remove(0)
    }

    fn next(schedule: serde_json::Value, now: &str) -> Option<String> {
        match one(schedule) {
            Schedule::Known(plan) => plan.next_after(at(now)).map(|z| z.to_string()),
            Schedule::NotUnderstood { reason } => panic!("not understood: {reason}"),
        }
    }

    fn cron(expression: &str, zone: &str) -> serde_json::Value {
        json!({"action": "Stop", "status": "Enabled", "triggerType": "Cron",
            "cron": {"expression": expression, "timeZone": zone, "startTime": "2021-04-23T01:30:00"}})
    }

    #[test]
    fn cron_next_runs_follow_the_zone_and_daylight_saving() {
        let pst = "Pacific Standard Time";
        // 18:00 in Los Angeles is 02:00 UTC the next day in winter (UTC-8).
        assert_eq!(
            next(cron("0 18 * * *", pst), "2026-12-02T01:00:00Z").unwrap(),
            "2026-12-01T18:00:00-08:00[America/Los_Angeles]"
        );
        assert_eq!(
            next(cron("0 18 * * *", pst), "2026-12-02T02:00:00Z").unwrap(),
            "2026-12-02T18:00:00-08:00[America/Los_Angeles]",
            "strictly after now"
        );
        // Summer: UTC-7.
        assert_eq!(
            next(cron("30 9 * * 1-5", pst), "2026-07-04T00:00:00Z").unwrap(),
            "2026-07-06T09:30:00-07:00[America/Los_Angeles]",
            "Saturday → Monday"
        );
        assert_eq!(
            next(cron("0,30 8 * * 0,6", "W. Europe Standard Time"), "2026-12-02T12:00:00Z").unwrap(),
            "2026-12-05T08:00:00+01:00[Europe/Berlin]"
        );
        assert_eq!(
            next(cron("0 0 29 2 *", "UTC"), "2026-03-01T00:00:00Z").unwrap(),
            "2028-02-29T00:00:00+00:00[Etc/UTC]"
        );
        assert_eq!(
            next(cron("*/20 */6 * * 7", "UTC"), "2026-12-06T06:50:00Z").unwrap(),
            "2026-12-06T12:00:00+00:00[Etc/UTC]",
            "steps, and 7 is Sunday"
        );
        // Both day fields restricted: either matches (the 1st, or any Monday).
        assert_eq!(
            next(cron("0 12 1 * 1", "UTC"), "2026-12-02T00:00:00Z").unwrap(),
            "2026-12-07T12:00:00+00:00[Etc/UTC]"
        );
    }

    #[test]
    fn odd_cron_is_not_understood() {
        for expression in [
            "0 18 * *",
            "0 18 * * MON",
            "0 18 ? * *",
            "0 0 18 * * *",
            "60 18 * * *",
            "0 18 L * *",
            "5-1 * * * *",
            "*/0 * * * *",
        ] {
            assert!(matches!(one(cron(expression, "UTC")), Schedule::NotUnderstood { .. }), "{expression}");
        }
    }

    #[test]
    fn recurrences_weekly_daily_and_every_other() {
        let weekly = json!({"action": "Start", "triggerType": "Recurrence", "recurrence": {"frequency": "Week", "interval": 1,
            "timeZone": "UTC", "schedule": {"hours": [8], "minutes": [0], "weekDays": ["Monday", "Friday"]}}});
        assert_eq!(next(weekly.clone(), "2026-12-02T09:00:00Z").unwrap(), "2026-12-04T08:00:00+00:00[Etc/UTC]");
        let Schedule::Known(plan) = one(weekly) else { panic!() };
        assert_eq!(plan.summary, "every week on Mon, Fri at 08:00");
        let every_other = json!({"action": "Stop", "triggerType": "Recurrence", "recurrence": {"frequency": "Day", "interval": 2,
            "startTime": "2026-12-01T00:00:00", "timeZone": "India Standard Time", "schedule": {"hours": [17], "minutes": [30]}}});
        assert_eq!(
            next(every_other.clone(), "2026-12-01T12:00:00Z").unwrap(),
            "2026-12-03T17:30:00+05:30[Asia/Calcutta]"
        );
        assert_eq!(
            next(every_other, "2026-11-01T00:00:00Z").unwrap(),
            "2026-12-01T17:30:00+05:30[Asia/Calcutta]",
            "not before its start"
        );
        let biweekly = json!({"action": "Stop", "triggerType": "Recurrence", "recurrence": {"frequency": "Week", "interval": 2,
            "startTime": "2026-12-01T00:00:00", "timeZone": "UTC", "schedule": {"hours": [18], "minutes": [0], "weekDays": ["Monday"]}}});
        assert_eq!(
            next(biweekly, "2026-12-02T00:00:00Z").unwrap(),
            "2026-12-14T18:00:00+00:00[Etc/UTC]",
            "not the 7th"
        );
    }

    #[test]
    fn unknown_shapes_zones_and_triggers_are_kept_with_a_reason() {
        let reason = |schedule| match one(schedule) {
            Schedule::NotUnderstood { reason } => reason,
            known => panic!("understood: {known:?}"),
        };
        assert_eq!(reason(cron("0 18 * * *", "Mars Standard Time")), "time zone \"Mars Standard Time\"");
        assert_eq!(reason(json!({"action": "Stop", "triggerType": "Timer"})), "trigger type timer");
        assert_eq!(reason(json!({"action": "Restart", "triggerType": "Cron"})), "action restart");
        assert!(
            reason(json!({"action": "Stop", "triggerType": "Recurrence", "recurrence": {"frequency": "Hour",
            "schedule": {"hours": [1], "minutes": [0]}}}))
            .contains("frequency")
        );
        assert!(reason(json!({"action": 7})).contains("invalid type"));
        assert_eq!(parse_all(Some(&json!({"computeStartStop": "x"}))).len(), 1);
        assert!(parse_all(None).is_empty());
        assert!(parse_all(Some(&json!({"computeStartStop": null}))).is_empty());
    }

    /// Finding 1 of issue 28: 10,000 hours and 10,000 minutes made 100 million times before removing repeats.
    /// The summary comes from the bit sets, so what is built is bounded by them, whatever the lists' length.
    #[test]
    fn huge_lists_are_summarised_from_their_bit_sets() {
        let hours: Vec<i64> = (0..10_000).map(|i| i % 24).collect();
        let minutes: Vec<i64> = (0..10_000).map(|i| i % 60).collect();
        let daily = json!({"action": "Stop", "triggerType": "Recurrence", "recurrence": {"frequency": "Day",
            "timeZone": "UTC", "schedule": {"hours": hours, "minutes": minutes}}});
        let Schedule::Known(plan) = one(daily) else { panic!() };
        assert_eq!(plan.summary, "every day at 00:00, 00:01, 00:02, 1437 more");
        let few = json!({"action": "Stop", "triggerType": "Recurrence", "recurrence": {"frequency": "Day",
            "timeZone": "UTC", "schedule": {"hours": [20, 8, 8], "minutes": [30, 0, 30]}}});
        let Schedule::Known(plan) = one(few) else { panic!() };
        assert_eq!(plan.summary, "every day at 08:00, 08:30, 20:00, 20:30", "in order, each once");

        let list = (0..10_000).map(|i| (i % 60).to_string()).collect::<Vec<_>>().join(",");
        let Schedule::Known(plan) = one(cron(&format!("{list} 18 * * *"), "UTC")) else { panic!() };
        assert!(plan.summary.chars().count() < 100, "{}", plan.summary);
    }

    #[test]
    fn thousands_of_schedules_are_read_up_to_the_limit() {
        let many: Vec<serde_json::Value> = (0..10_000).map(|_| cron("0 18 * * *", "UTC")).collect();
        let all = parse_all(Some(&json!({ "computeStartStop": many })));
        assert_eq!(all.len(), MAX_SCHEDULES + 1);
        assert_eq!(all[MAX_SCHEDULES].to_string(), "schedule not understood: 9968 more schedules, beyond the first 32");
    }

    #[test]
    fn the_earliest_enabled_run_wins_and_reads_well() {
        let disabled = json!({"action": "Stop", "status": "Disabled", "triggerType": "Cron", "cron": {"expression": "0 13 * * *", "timeZone": "UTC"}});
        let start =
            json!({"action": "Start", "triggerType": "Cron", "cron": {"expression": "0 14 * * *", "timeZone": "UTC"}});
        let stop = json!({"action": "Stop", "triggerType": "Cron", "cron": {"expression": "10 15 * * *", "timeZone": "GMT Standard Time"}});
        let all = parse_all(Some(&json!({"computeStartStop": [disabled, start, stop, {"triggerType": "?"}]})));
        let now = at("2026-12-02T12:00:00Z");
        let first = next_run(&all, now, None).unwrap();
        assert_eq!((first.action, first.at.hour()), (Action::Start, 14));
        let stop = next_run(&all, now, Some(Action::Stop)).unwrap();
        assert_eq!(when(&stop.at, now), "15:10 (UTC+00:00, in 3 h 10 min)");
        assert_eq!(when(&stop.at, at("2026-12-01T11:59:30Z")), "Wed 2026-12-02 15:10 (UTC+00:00, in 1 day 3 h)");
        assert_eq!(all[0].to_string(), "stop: cron \"0 13 * * *\" (UTC), disabled");
        assert_eq!(all[3].to_string(), "schedule not understood: action missing");
    }
}
