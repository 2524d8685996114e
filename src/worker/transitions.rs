//! Status transitions: the clock-driven changes of the stored status, each
//! stored and announced once.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{ACTOR, TRANSITION_BATCH, TickReport, Transition, transition};
use crate::db;
use crate::db::audit::{Audit, insert_audit_event};
use crate::db::schedule::{self as creds, WorkItem};
use crate::domain::audit::AuditOutcome;
use crate::domain::token_status::CredentialStatus;
use crate::domain::{from_db_time, to_db_time};
use crate::error::Error;
use crate::state::AppState;

pub(super) async fn store_transitions(
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
                row.id,
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
                db::accounts::list_enabled_accounts_using_credential(conn, row.id)?
            {
                insert_audit_event(
                    conn,
                    Audit {
                        organization_id: &row.organization_id,
                        actor: ACTOR,
                        action,
                        outcome: AuditOutcome::Success,
                        brand_id: Some(brand),
                        account_id: Some(account),
                        credential_id: Some(row.id),
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
