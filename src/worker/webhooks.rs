//! Webhook delivery: claims the outbox messages that are due and sends each
//! through `services::webhooks::delivery`, a few at a time. A message is
//! claimed by one instance (its `next_attempt_at` moves past the claim), so
//! several instances on one PostgreSQL deliver each message once per attempt.

use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use super::{BATCH, CLAIM_HOLD, CONCURRENCY};
use crate::db;
use crate::domain::to_db_time;
use crate::error::Error;
use crate::services::webhooks::delivery::deliver;
use crate::state::AppState;

pub(super) async fn deliver_webhooks(app: &AppState, now: DateTime<Utc>) -> Result<(), Error> {
    let (at, hold) = (to_db_time(now), to_db_time(now + CLAIM_HOLD));
    let claimed = db::run(&app.pool, move |conn| {
        db::webhook_outbox::claim_due(conn, at, hold, BATCH)
    })
    .await?;
    if claimed.is_empty() {
        return Ok(());
    }
    let results: Vec<Result<bool, Error>> = futures_util::stream::iter(claimed)
        .map(|(message, subscription)| deliver(app, message, subscription, now))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let delivered = results.iter().filter(|r| matches!(r, Ok(true))).count();
    let failed = results.iter().filter(|r| matches!(r, Ok(false))).count();
    for error in results.iter().filter_map(|r| r.as_ref().err()) {
        // The claim runs out after CLAIM_HOLD and the message comes back.
        tracing::error!(error = %error, "worker could not record a webhook delivery");
    }
    tracing::info!(delivered, failed, "webhook deliveries");
    Ok(())
}
