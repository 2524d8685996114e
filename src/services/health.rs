//! Readiness: whether this instance can serve requests right now.

use std::time::Duration;

use crate::db;
use crate::error::{Error, Result};
use crate::services::network_health::Refusal;
use crate::state::AppState;

/// How long a caller should wait before probing again after a failure.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Whether the database answers, and which networks refuse this
/// deployment's client (docs/rules.md#failure-classification): those leave
/// the instance ready — it serves every other network, and taking it out of
/// the load balancer would fix nothing — but an operator must act. Any
/// database failure is reported as unavailable, so that a probe never sees
/// an internal error for what is an outage.
pub async fn ready(state: &AppState) -> Result<Vec<Refusal>> {
    db::run(&state.pool, db::ping).await.map_err(|e| match e {
        Error::Unavailable { .. } => e,
        other => Error::Unavailable {
            detail: format!("the database does not answer: {other}"),
            retry_after: Some(RETRY_AFTER),
        },
    })?;
    Ok(state.network_health.refusals())
}
