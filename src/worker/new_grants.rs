//! Scheduling new grants: a credential without a `next_refresh_at` is given
//! one, its network's lead before it expires.

use crate::domain::ids::CredentialId;
use chrono::{DateTime, Utc};

use super::{BATCH, RECHECK, SCHEDULE_BATCHES, TickReport};
use crate::db;
use crate::db::schedule::{self as creds, WorkItem};
use crate::domain::token_status::CredentialStatus;
use crate::domain::{from_db_time, to_db_time};
use crate::error::Error;
use crate::state::AppState;

pub(super) async fn schedule_new(
    app: &AppState,
    now: DateTime<Utc>,
    report: &mut TickReport,
) -> Result<(), Error> {
    for _ in 0..SCHEDULE_BATCHES {
        let rows = db::run(&app.pool, |conn| creds::list_unscheduled(conn, BATCH)).await?;
        let last = rows.len() < usize::try_from(BATCH).unwrap_or(usize::MAX);
        let plan: Vec<(CredentialId, chrono::NaiveDateTime)> = rows
            .iter()
            .map(|row| (row.id, to_db_time(first_due(app, row, now))))
            .collect();
        let scheduled = db::run(&app.pool, move |conn| {
            let mut n = 0;
            for (id, at) in plan {
                n += usize::from(creds::schedule_if_unscheduled(conn, id, at)?);
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
            let lead = chrono::Duration::from_std(provider.refresh_lead()).unwrap_or_default();
            crate::domain::shift(from_db_time(expires_at), -lead)
        }
        _ => now + RECHECK,
    }
}
