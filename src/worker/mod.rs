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
//! 4. deletes OAuth states expired for more than a day.
//!
//! Several instances on PostgreSQL share the work: due rows are claimed with
//! `FOR UPDATE SKIP LOCKED` and held by pushing `next_refresh_at` forward in
//! the same transaction, so two ticks never pick the same row; the engine's
//! lease stays the last guard. On SQLite it is one process.
//!
//! `next_refresh_at` is a hint: the engine (also called by the API) does not
//! maintain it, so a claimed row is re-judged from its expiry before any
//! network call, and a stale hint is just rescheduled.

mod schedule;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;
use tokio::sync::watch;

pub use schedule::{Transition, backoff, transition};

use crate::config::Settings;
use crate::db;
use crate::db::audit::{Audit, insert_audit_event};
use crate::db::schedule::{self as creds, WorkItem};
use crate::domain::audit::{AuditAction, AuditOutcome};
use crate::domain::token_status::CredentialStatus;
use crate::domain::{from_db_time, to_db_time};
use crate::error::Error;
use crate::providers::RefreshPlan;
use crate::services::refresh::{self as engine, RefreshOutcome, RefreshRequest};
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
    let before = to_db_time(now - OAUTH_STATE_GRACE);
    report.oauth_states_deleted = db::run(&app.pool, move |conn| {
        db::oauth_states::delete_stale_oauth_states(conn, before)
    })
    .await?;
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

/// One tick at the current time, logged as one line with its counts.
pub async fn tick_and_log(app: &AppState) -> Option<TickReport> {
    let started = Instant::now();
    match tick(app, app.now()).await {
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
                elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "worker tick"
            );
            Some(r)
        }
        Err(error) => {
            tracing::error!(error = %error, "worker tick failed");
            None
        }
    }
}

/// The state `tokenwarden worker` runs on: the pool, the key ring and the
/// networks, without the HTTP server's JWT verifier.
pub fn state_from_settings(settings: Arc<Settings>) -> anyhow::Result<AppState> {
    let keys = settings.key_ring()?;
    AppState::open(settings, keys, "worker")
}

// ---------------------------------------------------------------------------
// Proactive refresh

/// What happened to one claimed credential.
enum Handled {
    Refreshed,
    Rescheduled,
    Transient,
    ReauthRequired,
    GaveUp,
    Busy,
}

async fn refresh_due(
    app: &AppState,
    now: DateTime<Utc>,
    report: &mut TickReport,
) -> Result<(), Error> {
    let (at, hold) = (to_db_time(now), to_db_time(now + CLAIM_HOLD));
    let claimed = db::run(&app.pool, move |conn| {
        creds::claim_due(conn, at, hold, BATCH)
    })
    .await?;
    report.claimed = claimed.len();
    let results: Vec<(String, Result<Handled, Error>)> = futures_util::stream::iter(claimed)
        .map(|row| async move {
            let id = row.id.clone();
            (id, handle_due(app, row, now).await)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (id, result) in results {
        match result {
            Ok(Handled::Refreshed) => report.refreshed += 1,
            Ok(Handled::Rescheduled) => report.rescheduled += 1,
            Ok(Handled::Transient) => report.transient += 1,
            Ok(Handled::ReauthRequired) => report.reauth_required += 1,
            Ok(Handled::GaveUp) => report.gave_up += 1,
            Ok(Handled::Busy) => report.busy += 1,
            Err(error) => {
                // The claim runs out after CLAIM_HOLD and the row comes back.
                tracing::error!(credential = %id, error = %error, "worker could not handle a due credential");
                report.errors += 1;
            }
        }
    }
    Ok(())
}

async fn reschedule(app: &AppState, id: &str, at: DateTime<Utc>) -> Result<(), Error> {
    let (id, at) = (id.to_string(), to_db_time(at));
    db::run(&app.pool, move |conn| {
        creds::schedule_refresh(conn, &id, at)
    })
    .await
}

async fn handle_due(app: &AppState, row: WorkItem, now: DateTime<Utc>) -> Result<Handled, Error> {
    let Some(provider) = app.providers.get(&row.network) else {
        reschedule(app, &row.id, now + RECHECK).await?;
        return Ok(Handled::Rescheduled);
    };
    let (Some(expires_at), false) = (
        row.expires_at.map(from_db_time),
        row.stored_status()? == CredentialStatus::ReauthRequired,
    ) else {
        reschedule(app, &row.id, now + RECHECK).await?;
        return Ok(Handled::Rescheduled);
    };
    let lead = chrono::Duration::from_std(provider.refresh_lead()).unwrap_or_default();
    let due = expires_at - lead;
    if due > now {
        // Renewed meanwhile (by the API): the hint was stale.
        reschedule(app, &row.id, due).await?;
        return Ok(Handled::Rescheduled);
    }
    let grant = crate::services::grant_info(
        row.refresh_token_key_id.is_some(),
        row.expires_at,
        row.issued_at,
        row.last_refreshed_at,
        row.refresh_expires_at,
    );
    match provider.refresh_plan(&grant, now) {
        RefreshPlan::Silent(_) => {}
        RefreshPlan::NotYet { earliest, .. } => {
            reschedule(app, &row.id, earliest.max(now + MIN_INTERVAL)).await?;
            return Ok(Handled::Rescheduled);
        }
        RefreshPlan::NeedsReauthorization(_) => {
            // Only the user can renew it; its status follows the clock.
            reschedule(app, &row.id, now + RECHECK).await?;
            return Ok(Handled::Rescheduled);
        }
    }
    let outcome = engine::refresh(
        app,
        RefreshRequest {
            organization_id: row.organization_id.clone(),
            credential_id: row.id.clone(),
            actor: ACTOR.into(),
            snapshot: false,
        },
    )
    .await;
    match outcome {
        Ok(RefreshOutcome::Renewed { expires_at, .. }) => {
            reschedule(app, &row.id, (expires_at - lead).max(now + MIN_INTERVAL)).await?;
            Ok(Handled::Refreshed)
        }
        Ok(RefreshOutcome::NotDue { earliest }) => {
            reschedule(app, &row.id, earliest.max(now + MIN_INTERVAL)).await?;
            Ok(Handled::Rescheduled)
        }
        Ok(RefreshOutcome::ReauthRequired { .. }) => {
            reschedule(app, &row.id, now + RECHECK).await?;
            Ok(Handled::ReauthRequired)
        }
        Ok(RefreshOutcome::Transient {
            retry_after,
            detail,
            ..
        }) => after_transient(app, &row, now, retry_after, &detail).await,
        Ok(RefreshOutcome::Busy { retry_after }) => {
            let pause = chrono::Duration::from_std(retry_after).unwrap_or(MIN_INTERVAL);
            reschedule(app, &row.id, now + pause.max(chrono::Duration::seconds(5))).await?;
            Ok(Handled::Busy)
        }
        Err(error) => {
            reschedule(
                app,
                &row.id,
                now + chrono_of(backoff(row.failure_count + 1, Duration::ZERO, jitter())),
            )
            .await?;
            Err(error)
        }
    }
}

fn jitter() -> f64 {
    rand::random::<f64>()
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(1))
}

/// A transient failure: retry with backoff, or give up once the token has
/// been expired for [`GIVE_UP_AFTER`] (every attempt since having failed,
/// as a success would have moved `expires_at`).
async fn after_transient(
    app: &AppState,
    claimed: &WorkItem,
    now: DateTime<Utc>,
    retry_after: Duration,
    detail: &str,
) -> Result<Handled, Error> {
    let (id, org, detail) = (
        claimed.id.clone(),
        claimed.organization_id.clone(),
        detail.to_string(),
    );
    let at = to_db_time(now);
    let gave_up = db::run(&app.pool, move |conn| {
        let Some(row) = crate::db::credentials::find_credential_by_id(conn, &id)? else {
            return Ok(None);
        };
        let stale = row
            .expires_at
            .is_some_and(|e| from_db_time(e) + GIVE_UP_AFTER <= from_db_time(at));
        if !stale {
            return Ok(Some((false, row.failure_count)));
        }
        db::write_transaction(conn, |conn| {
            let reason = "refresh_failing_for_days";
            if !creds::give_up_refreshing(conn, &id, row.version, reason, at)? {
                return Ok(Some((false, row.failure_count)));
            }
            for (account, brand) in db::accounts::list_accounts_using_credential(conn, &id)? {
                insert_audit_event(
                    conn,
                    Audit {
                        organization_id: &org,
                        actor: ACTOR,
                        action: AuditAction::TokenReauthRequired,
                        outcome: AuditOutcome::Failure,
                        brand_id: Some(&brand),
                        account_id: Some(&account),
                        credential_id: Some(&id),
                        detail: Some(json!({
                            "reason": reason,
                            "failures": row.failure_count,
                            "last_failure": detail,
                        })),
                    },
                    now,
                )?;
            }
            Ok(Some((true, row.failure_count)))
        })
    })
    .await?;
    match gave_up {
        None => Ok(Handled::Transient),
        Some((true, failures)) => {
            tracing::warn!(credential = %claimed.id, failures, "refreshes kept failing for days; the grant now needs reauthorization");
            reschedule(app, &claimed.id, now + RECHECK).await?;
            Ok(Handled::GaveUp)
        }
        Some((false, failures)) => {
            let pause = backoff(failures, retry_after, jitter());
            tracing::info!(credential = %claimed.id, failures, retry_in_secs = pause.as_secs(), "refresh failed transiently; retrying later");
            reschedule(app, &claimed.id, now + chrono_of(pause)).await?;
            Ok(Handled::Transient)
        }
    }
}

// ---------------------------------------------------------------------------
// Scheduling new grants

async fn schedule_new(
    app: &AppState,
    now: DateTime<Utc>,
    report: &mut TickReport,
) -> Result<(), Error> {
    for _ in 0..SCHEDULE_BATCHES {
        let rows = db::run(&app.pool, |conn| creds::list_unscheduled(conn, BATCH)).await?;
        let last = rows.len() < usize::try_from(BATCH).unwrap_or(usize::MAX);
        let plan: Vec<(String, chrono::NaiveDateTime)> = rows
            .iter()
            .map(|row| (row.id.clone(), to_db_time(first_due(app, row, now))))
            .collect();
        let scheduled = db::run(&app.pool, move |conn| {
            let mut n = 0;
            for (id, at) in plan {
                n += usize::from(creds::schedule_if_unscheduled(conn, &id, at)?);
            }
            Ok(n)
        })
        .await?;
        report.scheduled += scheduled;
        if last {
            break;
        }
    }
    Ok(())
}

/// When a credential first needs the worker: its network's lead before it
/// expires (possibly already past: due now), or a recheck later when it
/// cannot expire or be refreshed.
fn first_due(app: &AppState, row: &WorkItem, now: DateTime<Utc>) -> DateTime<Utc> {
    match (app.providers.get(&row.network), row.expires_at) {
        (Some(provider), Some(expires_at))
            if !matches!(row.stored_status(), Ok(CredentialStatus::ReauthRequired)) =>
        {
            from_db_time(expires_at)
                - chrono::Duration::from_std(provider.refresh_lead()).unwrap_or_default()
        }
        _ => now + RECHECK,
    }
}

// ---------------------------------------------------------------------------
// Status transitions

async fn store_transitions(
    app: &AppState,
    now: DateTime<Utc>,
    report: &mut TickReport,
) -> Result<(), Error> {
    let windows = db::run(&app.pool, creds::list_warning_windows).await?;
    for days in windows {
        let window = chrono::Duration::days(i64::from(days));
        let (at, end) = (to_db_time(now), to_db_time(now + window));
        let rows = db::run(&app.pool, move |conn| {
            creds::list_status_candidates(conn, days, at, end, TRANSITION_BATCH)
        })
        .await?;
        for row in rows {
            let Some(change) = transition(
                row.stored_status()?,
                row.expires_at.map(from_db_time),
                now,
                window,
            ) else {
                continue;
            };
            if store_transition(app, row, change, now).await? {
                match change.to {
                    CredentialStatus::Expiring => report.expiring += 1,
                    CredentialStatus::Expired => report.expired += 1,
                    _ => report.corrected += 1,
                }
            }
        }
    }
    Ok(())
}

/// Stores one transition and its announcements in one transaction; `false`
/// when someone else changed the credential first (nothing is announced).
async fn store_transition(
    app: &AppState,
    row: WorkItem,
    change: Transition,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let Some(expires_at) = row.expires_at else {
        return Ok(false);
    };
    let at = to_db_time(now);
    db::run(&app.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            if !creds::transition_status(
                conn,
                &row.id,
                &row.status,
                expires_at,
                change.to.as_str(),
                at,
            )? {
                return Ok(false);
            }
            let Some(action) = change.announce else {
                return Ok(true);
            };
            // A disabled account reports `disabled`: its status did not change.
            for (account, brand) in
                db::accounts::list_enabled_accounts_using_credential(conn, &row.id)?
            {
                insert_audit_event(
                    conn,
                    Audit {
                        organization_id: &row.organization_id,
                        actor: ACTOR,
                        action,
                        outcome: AuditOutcome::Success,
                        brand_id: Some(&brand),
                        account_id: Some(&account),
                        credential_id: Some(&row.id),
                        detail: Some(json!({
                            "from": row.status,
                            "to": change.to.as_str(),
                            "expires_at": from_db_time(expires_at),
                        })),
                    },
                    now,
                )?;
            }
            Ok(true)
        })
    })
    .await
}
