//! What `--json` prints: one object per command, with `schema_version` first, typed values (seconds as integers,
//! times in RFC 3339 UTC, states as stable lower-case names, absent values as `null`), and a JSON Schema for each
//! under `docs/schemas/`. Within one `schema_version`, fields are only ever added.

use serde::Serialize;

use crate::azure::idle::{self, IdleShutdown};

/// The version of every `--json` output's shape. Raised only when a field changes meaning or goes away.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// `{"schema_version": 1, …body's fields}`.
#[derive(Debug, Serialize)]
pub(crate) struct Versioned<'a, T: Serialize> {
    pub schema_version: u32,
    #[serde(flatten)]
    pub body: &'a T,
}

/// An instance's idle shutdown for scripts.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub(crate) struct IdleJson {
    /// `on`, `off`, or `unreadable` (a value Azure gave that is not a duration).
    pub state: &'static str,
    /// With `on`: the idle time before shutdown, in seconds.
    pub after_seconds: Option<u64>,
    /// The same as an ISO 8601 duration, the form Azure's API uses (`PT30M`).
    pub after_iso8601: Option<String>,
}

impl From<&IdleShutdown> for IdleJson {
    fn from(setting: &IdleShutdown) -> Self {
        match setting {
            IdleShutdown::Off => IdleJson { state: "off", after_seconds: None, after_iso8601: None },
            IdleShutdown::After { seconds } => {
                IdleJson { state: "on", after_seconds: Some(*seconds), after_iso8601: Some(idle::iso8601(*seconds)) }
            }
            IdleShutdown::NotUnderstood(_) => {
                IdleJson { state: "unreadable", after_seconds: None, after_iso8601: None }
            }
        }
    }
}
