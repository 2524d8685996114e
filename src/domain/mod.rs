//! Plain types and rules of the product: token status, plans and their
//! feature matrix, propagation, renewal methods, audit vocabulary, pagination
//! cursors, and time. Nothing here knows HTTP or SQL, and nothing does I/O.

pub mod audit;
pub mod clock;
pub mod pagination;
pub mod plan;
pub mod propagation;
pub mod renewal;
pub mod token_status;
pub mod webhooks;

use chrono::{DateTime, NaiveDateTime, Utc};

/// A stored value that names no variant of the enum it is read as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

impl UnknownValue {
    pub fn new(kind: &'static str, value: &str) -> Self {
        Self {
            kind,
            value: value.chars().take(64).collect(),
        }
    }
}

/// Timestamps are stored as UTC without zone; these two functions are the only
/// place that conversion happens.
pub fn to_db_time(t: DateTime<Utc>) -> NaiveDateTime {
    // Microseconds: PostgreSQL's resolution, so both backends store the same value.
    let t = DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t);
    t.naive_utc()
}

pub fn from_db_time(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// The system's time, truncated to microseconds. Only for code that has no
/// application state (the demo's seeding, naming a generated key, tests that
/// write rows directly); everything else reads `AppState::now`, whose clock
/// tests can move.
pub fn now() -> DateTime<Utc> {
    clock::to_micros(Utc::now())
}

/// A new time-ordered id (UUIDv7) in its canonical text form.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
