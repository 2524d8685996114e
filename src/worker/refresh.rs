//! Proactive refresh: the due credentials are claimed, re-judged and renewed
//! through the refresh engine, transient failures retried with backoff.

use crate::domain::ids::CredentialId;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde_json::json;

use super::{
    ACTOR, BATCH, CLAIM_HOLD, CONCURRENCY, GIVE_UP_AFTER, MIN_INTERVAL, RECHECK, TickReport,
    backoff,
};
use crate::db;
use crate::db::audit::{Audit, insert_audit_event};
use crate::db::schedule::{self as creds, WorkItem};
use crate::domain::audit::{AuditAction, AuditOutcome};
use crate::domain::token_status::CredentialStatus;
use crate::domain::{from_db_time, shift, to_db_time};
use crate::error::Error;
use crate::providers::MAX_RETRY_AFTER;
use crate::providers::RefreshPlan;
use crate::services::refresh::{self as engine, RefreshOutcome, RefreshRequest};
use crate::state::AppState;

/// What happened to one claimed credential.
enum Handled {
    Refreshed,
    Rescheduled,
    Transient,
    ReauthRequired,
    GaveUp,
    Busy,
}

pub(super) async fn refresh_due(
    app: &AppState,
    now: DateTime<Utc>,
    report: &mut TickReport,
) -> Result<(), Error> {
    let (at, hold) = (to_db_time(now), to_db_time(now + CLAIM_HOLD));
    let scan = std::time::Instant::now();
    let claimed = db::run(&app.pool, move |conn| {
        creds::claim_due(conn, at, hold, BATCH)
    })
    .await?;
    app.worker_health.scanned(scan.elapsed());
    report.claimed = claimed.len();
    let results: Vec<(CredentialId, Result<Handled, Error>)> = futures_util::stream::iter(claimed)
        .map(|row| async move { (row.id, handle_due(app, row, now).await) })
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

async fn reschedule(app: &AppState, id: CredentialId, at: DateTime<Utc>) -> Result<(), Error> {
    let at = to_db_time(at);
    db::run(&app.pool, move |conn| creds::schedule_refresh(conn, id, at)).await
}

async fn handle_due(app: &AppState, row: WorkItem, now: DateTime<Utc>) -> Result<Handled, Error> {
    let Some(provider) = app.providers.get(&row.network) else {
        reschedule(app, row.id, now + RECHECK).await?;
        return Ok(Handled::Rescheduled);
    };
    let (Some(expires_at), false) = (
        row.expires_at.map(from_db_time),
        row.stored_status()? == CredentialStatus::ReauthRequired,
    ) else {
        reschedule(app, row.id, now + RECHECK).await?;
        return Ok(Handled::Rescheduled);
    };
    let lead = chrono::Duration::from_std(provider.refresh_lead()).unwrap_or_default();
    let due = shift(expires_at, -lead);
    if due > now {
        // Renewed meanwhile (by the API): the hint was stale.
        reschedule(app, row.id, due).await?;
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
            reschedule(app, row.id, earliest.max(now + MIN_INTERVAL)).await?;
            return Ok(Handled::Rescheduled);
        }
        RefreshPlan::NeedsReauthorization(_) => {
            // Only the user can renew it; its status follows the clock.
            reschedule(app, row.id, now + RECHECK).await?;
            return Ok(Handled::Rescheduled);
        }
    }
    let outcome = engine::refresh(
        app,
        RefreshRequest {
            organization_id: row.organization_id.clone(),
            credential_id: row.id,
            actor: ACTOR.into(),
            snapshot: false,
        },
    )
    .await;
    match outcome {
        Ok(RefreshOutcome::Renewed { expires_at, .. }) => {
            reschedule(
                app,
                row.id,
                shift(expires_at, -lead).max(now + MIN_INTERVAL),
            )
            .await?;
            Ok(Handled::Refreshed)
        }
        Ok(RefreshOutcome::NotDue { earliest }) => {
            reschedule(app, row.id, earliest.max(now + MIN_INTERVAL)).await?;
            Ok(Handled::Rescheduled)
        }
        Ok(RefreshOutcome::ReauthRequired { .. }) => {
            reschedule(app, row.id, now + RECHECK).await?;
            Ok(Handled::ReauthRequired)
        }
        Ok(RefreshOutcome::Transient {
            retry_after,
            detail,
            ..
        }) => after_transient(app, &row, now, retry_after, &detail).await,
        // The credential is gone: nothing left to schedule.
        Ok(RefreshOutcome::Replaced) => Ok(Handled::Rescheduled),
        Ok(RefreshOutcome::Busy { retry_after }) => {
            let pause = chrono_of(retry_after).max(chrono::Duration::seconds(5));
            reschedule(app, row.id, shift(now, pause)).await?;
            Ok(Handled::Busy)
        }
        Err(error) => {
            reschedule(
                app,
                row.id,
                shift(
                    now,
                    chrono_of(backoff(row.failure_count + 1, Duration::ZERO, jitter())),
                ),
            )
            .await?;
            Err(error)
        }
    }
}

fn jitter() -> f64 {
    rand::random::<f64>()
}

/// A pause as chrono counts it, never longer than the longest wait a network
/// may impose: the pause may come from a network's answer.
fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d.min(MAX_RETRY_AFTER)).unwrap_or(chrono::Duration::hours(1))
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
        claimed.id,
        claimed.organization_id.clone(),
        detail.to_string(),
    );
    let at = to_db_time(now);
    let gave_up = db::run(&app.pool, move |conn| {
        let Some(row) = crate::db::credentials::find_credential_by_id(conn, id)? else {
            return Ok(None);
        };
        let stale = row
            .expires_at
            .is_some_and(|e| shift(from_db_time(e), GIVE_UP_AFTER) <= from_db_time(at));
        if !stale {
            return Ok(Some((false, row.failure_count)));
        }
        db::write_transaction(conn, |conn| {
            let reason = "refresh_failing_for_days";
            if !creds::give_up_refreshing(conn, id, row.version, reason, at)? {
                return Ok(Some((false, row.failure_count)));
            }
            for (account, brand) in db::accounts::list_accounts_using_credential(conn, id)? {
                insert_audit_event(
                    conn,
                    Audit {
                        organization_id: &org,
                        actor: ACTOR,
                        action: AuditAction::TokenReauthRequired,
                        outcome: AuditOutcome::Failure,
                        brand_id: Some(brand),
                        account_id: Some(account),
                        credential_id: Some(id),
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
            reschedule(app, claimed.id, now + RECHECK).await?;
            Ok(Handled::GaveUp)
        }
        Some((false, failures)) => {
            let pause = backoff(failures, retry_after, jitter());
            tracing::info!(credential = %claimed.id, failures, retry_in_secs = pause.as_secs(), "refresh failed transiently; retrying later");
            reschedule(app, claimed.id, shift(now, chrono_of(pause))).await?;
            Ok(Handled::Transient)
        }
    }
}
