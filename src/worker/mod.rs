//! The lifecycle worker (docs/rules.md, "Lifecycle worker"): every tick it
//!
//! 1. schedules credentials that have no `next_refresh_at` yet (new grants):
//!    `expires_at − refresh_lead`;
//! 2. refreshes the credentials that are due — `next_refresh_at <= now`, an
//!    index scan — through [`crate::services::refresh::refresh`] (single flight, row
//!    lease, version-guarded write-back), retrying transient failures with
//!    exponential backoff and jitter and giving up to `reauth_required` only
//!    after the token has been expired for [`GIVE_UP_AFTER`];
//! 3. stores the clock-driven status transitions (`expiring`, `expired`) and
//!    announces each once, as an audit event on every enabled account of the
//!    credential (actor `worker`); the stored status remembers what was
//!    announced, and a compare-and-set makes one instance the announcer;
//! 4. deletes OAuth states expired for more than a day, and idempotency
//!    records whose time ran out.
//!
//! Several instances on PostgreSQL share the work: due rows are claimed with
//! `FOR UPDATE SKIP LOCKED` and held by pushing `next_refresh_at` forward in
//! the same transaction, so two ticks never pick the same row; the engine's
//! lease stays the last guard. On SQLite it is one process.
//!
//! `next_refresh_at` is a hint: the engine (also called by the API) does not
//! maintain it, so a claimed row is re-judged from its expiry before any
//! network call, and a stale hint is just rescheduled.

mod new_grants;
mod refresh;
mod schedule;
mod transitions;
mod webhooks;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;

pub use schedule::{Transition, backoff, transition};

use self::new_grants::schedule_new;
use self::refresh::refresh_due;
use self::transitions::store_transitions;
use crate::config::Settings;
use crate::db;
use crate::domain::to_db_time;
use crate::error::Error;
use crate::state::AppState;

/// The actor of the worker's audit events and refreshes.
pub const ACTOR: &str = "worker";
/// Due credentials claimed per tick.
pub const BATCH: i64 = 100;
/// Refreshes running at once per instance.
pub const CONCURRENCY: usize = 4;
/// Status transitions stored per warning window and tick.
pub const TRANSITION_BATCH: i64 = 500;
/// Batches of new credentials scheduled per tick.
pub const SCHEDULE_BATCHES: usize = 10;
/// How long a claim keeps other instances off a row (a crashed worker's rows
/// come back after it).
pub const CLAIM_HOLD: chrono::Duration = chrono::Duration::minutes(10);
/// When to look again at a credential that cannot be refreshed silently.
pub const RECHECK: chrono::Duration = chrono::Duration::days(1);
/// Shortest pause before a freshly renewed credential is due again, so a
/// network that issues tokens shorter than the lead cannot spin the worker.
pub const MIN_INTERVAL: chrono::Duration = chrono::Duration::minutes(1);
/// Transient failures turn into `reauth_required` only once the token has
/// been expired this long, every attempt since having failed.
pub const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::days(3);
/// OAuth states are deleted this long after they expired.
pub const OAUTH_STATE_GRACE: chrono::Duration = chrono::Duration::days(1);

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// Transitions to `expiring` stored and announced.
    pub expiring: usize,
    /// Transitions to `expired` stored and announced.
    pub expired: usize,
    /// Silent status corrections (an `expiring` credential back to `active`).
    pub corrected: usize,
    /// New credentials given a `next_refresh_at`.
    pub scheduled: usize,
    /// Due credentials this instance claimed.
    pub claimed: usize,
    /// Claimed credentials renewed (by this call or one that just finished).
    pub refreshed: usize,
    /// Claimed credentials not due after all (stale hint, too young, not
    /// silently refreshable): rescheduled without a network call.
    pub rescheduled: usize,
    /// Transient failures, retried later with backoff.
    pub transient: usize,
    /// Grants the network refused (`reauth_required`).
    pub reauth_required: usize,
    /// Grants given up on after days of transient failures.
    pub gave_up: usize,
    /// Refreshes another instance held the lease of.
    pub busy: usize,
    /// Claimed credentials whose handling failed (database errors).
    pub errors: usize,
    /// OAuth states deleted.
    pub oauth_states_deleted: usize,
    /// Idempotency records deleted (answers past their retention, claims
    /// whose owner never finished).
    pub idempotency_records_deleted: usize,
    /// Connections that expired without a selection, deleted.
    pub connections_deleted: usize,
}

/// One pass of the worker at `now`, which is `app.now()`: the refreshes it
/// starts read the application's clock themselves, so any other instant
/// would have the schedule and the refreshes disagree about the time.
pub async fn tick(app: &AppState, now: DateTime<Utc>) -> Result<TickReport, Error> {
    let mut report = TickReport::default();
    // New grants are scheduled first so that one already due is refreshed in
    // this tick; refreshes come before transitions so that a credential
    // renewed now is not announced as expired.
    schedule_new(app, now, &mut report).await?;
    refresh_due(app, now, &mut report).await?;
    store_transitions(app, now, &mut report).await?;
    webhooks::deliver_webhooks(app, now).await?;
    let before = to_db_time(now - OAUTH_STATE_GRACE);
    report.oauth_states_deleted = db::run(&app.pool, move |conn| {
        db::oauth_states::delete_stale_oauth_states(conn, before)
    })
    .await?;
    report.idempotency_records_deleted =
        crate::services::idempotency::purge_expired(app, now).await?;
    // A connection nobody selected from: its grant goes by the rules of
    // unused grants (docs/rules.md#assets).
    report.connections_deleted = crate::services::connections::delete_expired(app, now).await?;
    app.worker_health.succeeded(now);
    Ok(report)
}

/// Ticks every `worker.tick_secs` (±10 % jitter, so instances drift apart)
/// until `shutdown` turns `true` or its sender is dropped. A tick in progress
/// always finishes: cancelling it could drop a refreshed grant before it is
/// stored.
pub async fn run(app: AppState, mut shutdown: watch::Receiver<bool>) {
    let period = Duration::from_secs(app.settings.worker.tick_secs.max(1));
    tracing::info!(
        tick_secs = period.as_secs(),
        instance = %app.instance_id,
        "lifecycle worker started"
    );
    while !*shutdown.borrow() {
        tick_and_log(&app).await;
        let pause = period.mul_f64(0.9 + 0.2 * rand::random::<f64>());
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
    tracing::info!("lifecycle worker stopped");
}

/// One tick at the current time, logged as one line with its counts. The
/// tick runs as its own task so that a panic in it (a bug, or data no check
/// foresaw) fails this tick only: the loop goes on, and the failure is
/// counted where `/readyz` and `/metrics` show it.
pub async fn tick_and_log(app: &AppState) -> Option<TickReport> {
    let started = Instant::now();
    let state = app.clone();
    let outcome = guarded(async move { tick(&state, state.now()).await }).await;
    match outcome {
        Ok(r) => {
            tracing::info!(
                expiring = r.expiring,
                expired = r.expired,
                corrected = r.corrected,
                scheduled = r.scheduled,
                claimed = r.claimed,
                refreshed = r.refreshed,
                rescheduled = r.rescheduled,
                transient = r.transient,
                reauth_required = r.reauth_required,
                gave_up = r.gave_up,
                busy = r.busy,
                errors = r.errors,
                oauth_states_deleted = r.oauth_states_deleted,
                idempotency_records_deleted = r.idempotency_records_deleted,
                connections_deleted = r.connections_deleted,
                elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "worker tick"
            );
            Some(r)
        }
        Err(error) => {
            app.worker_health.failed();
            tracing::error!(error = %error, "worker tick failed");
            None
        }
    }
}

/// Runs `work` as its own task, a panic in it becoming an error: whatever
/// the task was doing, the caller goes on.
async fn guarded<T, F>(work: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, Error>> + Send + 'static,
{
    match tokio::spawn(work).await {
        Ok(result) => result,
        Err(joined) => Err(Error::internal(format!("the tick panicked: {joined}"))),
    }
}

/// The state `tokenwarden worker` runs on: the pool, the key ring and the
/// networks, without the HTTP server's JWT verifier; the grant journal
/// replayed. Blocking.
pub fn state_from_settings(settings: Arc<Settings>) -> anyhow::Result<AppState> {
    let keys = settings.key_ring()?;
    let state = AppState::open(settings, keys, "worker")?;
    // Rotated grants a previous run could not store, before the first tick
    // refreshes their credentials (docs/rules.md#never-lose-a-grant).
    crate::services::refresh::replay_journal(&state);
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_tick_is_an_error_not_the_end() {
        let panicked = guarded::<(), _>(async { panic!("bad data") }).await;
        assert!(
            matches!(&panicked, Err(e) if e.to_string().contains("panicked")),
            "{panicked:?}"
        );
        assert_eq!(guarded(async { Ok(7) }).await.ok(), Some(7));
    }
}
