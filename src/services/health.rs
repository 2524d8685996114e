//! Readiness: whether this instance can serve requests right now.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::db;
use crate::error::{Error, Result};
use crate::services::network_health::Refusal;
use crate::services::refresh::journal::{JOURNAL_DIR, Journal};
use crate::state::AppState;

/// How long a caller should wait before probing again after a failure.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Whether the database answers, and which networks refuse this
/// deployment's client (docs/rules.md#failure-classification): those leave
/// the instance ready — it serves every other network, and taking it out of
/// the load balancer would fix nothing — but an operator must act. Any
/// database failure is reported as unavailable, so that a probe never sees
/// an internal error for what is an outage.
/// Also says how this process's worker is doing: a worker that stopped
/// succeeding leaves the API serving while nothing is renewed.
/// An instance whose grant journal cannot be written is not ready: a grant a
/// network renewed there would live in memory only until it is stored
/// (docs/rules.md#never-lose-a-grant).
pub async fn ready(state: &AppState) -> Result<(Vec<Refusal>, WorkerSnapshot)> {
    db::run(&state.pool, db::ping).await.map_err(|e| match e {
        Error::Unavailable { .. } => e,
        other => Error::Unavailable {
            detail: format!("the database does not answer: {other}"),
            retry_after: Some(RETRY_AFTER),
        },
    })?;
    let journal = Journal::in_data_dir(&state.settings.data_dir);
    let probed = tokio::task::spawn_blocking(move || journal.probe())
        .await
        .map_err(|e| Error::internal(format!("the grant journal's probe failed: {e}")))?;
    if let Err(error) = probed {
        // The path stays in the log: the answer needs no secret of the host.
        tracing::error!(%error, data_dir = %state.settings.data_dir.display(),
            "the grant journal cannot be written; not ready");
        return Err(Error::Unavailable {
            detail: format!(
                "the grant journal ({JOURNAL_DIR} in the data dir) cannot be written: {}",
                error.kind()
            ),
            retry_after: Some(RETRY_AFTER),
        });
    }
    Ok((
        state.network_health.refusals(),
        state.worker_health.snapshot(),
    ))
}

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
