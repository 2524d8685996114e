//! Readiness: whether this instance can serve requests right now.

use std::time::Duration;

use crate::db;
use crate::error::{Error, Result};
use crate::registry::{Refusal, WorkerSnapshot};
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
