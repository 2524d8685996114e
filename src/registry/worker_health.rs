//! How this process's lifecycle worker is doing, as `/readyz` and
//! `/metrics` report it.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// How this process's lifecycle worker is doing: a worker that stops
/// succeeding must show, or nothing refreshes while the API keeps serving
/// (docs/rules.md#lifecycle-worker).
#[derive(Debug, Default)]
pub struct WorkerHealth {
    inner: Mutex<WorkerSnapshot>,
}

/// What [`WorkerHealth`] knows at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerSnapshot {
    /// When the last tick that finished without error ran (by the
    /// application's clock); `None` before the first.
    pub last_successful_tick: Option<DateTime<Utc>>,
    /// Ticks that failed (an error or a panic) since the process started.
    pub failed_ticks: u64,
    /// How long the last scan for due credentials took (the claim of a
    /// batch, pool wait included): what a growing table costs the worker.
    pub last_due_scan: Option<Duration>,
}

impl WorkerHealth {
    pub fn snapshot(&self) -> WorkerSnapshot {
        *self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A tick that ran at `at` finished without error.
    pub fn succeeded(&self, at: DateTime<Utc>) {
        let mut g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.last_successful_tick = Some(g.last_successful_tick.map_or(at, |t| t.max(at)));
    }

    /// A scan for due credentials took `took`.
    pub fn scanned(&self, took: Duration) {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .last_due_scan = Some(took);
    }

    /// A tick failed.
    pub fn failed(&self) {
        let mut g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.failed_ticks += 1;
    }
}
