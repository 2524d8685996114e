//! Plain types and rules of the product: token status, plans and their
//! feature matrix, propagation, renewal methods, audit vocabulary, pagination
//! cursors, and time. Nothing here knows HTTP or SQL, and nothing does I/O.

pub mod audience;
pub mod audit;
pub mod clock;
pub mod ids;
pub mod pagination;
pub mod plan;
pub mod profile_kind;
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

/// How far from now a date that comes from outside (an import, a network's
/// answer, a stored row) may lie. Beyond it a date is a mistake or an
/// attack: arithmetic on it can overflow, and SQLite stores years past 9999
/// as text that sorts before today.
pub const DATE_HORIZON: chrono::Duration = chrono::Duration::days(3653);

/// `at + by`, checked: a result chrono cannot represent (from a date read out
/// of storage or a duration a network sent) stays at `at` rather than
/// panicking the caller, which may be the worker every tenant depends on.
pub fn shift(at: DateTime<Utc>, by: chrono::Duration) -> DateTime<Utc> {
    at.checked_add_signed(by).unwrap_or(at)
}

/// `at + by` for an outside duration: at most [`DATE_HORIZON`] away.
pub fn after_std(at: DateTime<Utc>, by: std::time::Duration) -> DateTime<Utc> {
    let by = chrono::Duration::from_std(by).unwrap_or(DATE_HORIZON);
    shift(at, by.min(DATE_HORIZON))
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
