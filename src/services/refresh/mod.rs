//! Silent renewal: one refresh at a time per credential, across threads and
//! server instances, storing what the network returned and classifying every
//! failure (docs/rules.md, "Single-flight refresh" and "Never lose a grant").
//!
//! * The caller's first trip to the pool tries to take a lease on the
//!   credential row (one atomic conditional UPDATE that outlives the HTTP
//!   timeout) and reads the row after it: someone may just have renewed.
//!   The renewal use case makes that trip together with reading the account.
//! * Whoever takes the lease leads: the refresh runs as its own task, and
//!   callers in this process that find the lease taken join it. Callers that
//!   find it taken by another instance watch the row until the holder's
//!   outcome shows (a new `version`, a `reauth_required`, a recorded
//!   failure) and answer that, or give up with `Busy` (a 409 with
//!   `Retry-After`).
//! * No database connection is held during the call to the network.
//! * The lease is timed by the database's clock, the one all instances
//!   share.
//! * The write-back is one transaction guarded by `version` and the lease:
//!   the rotated refresh token with the access token (the old one kept when
//!   the network sends none), the propagation to the profile's other enabled
//!   accounts, the audit events and, when asked, the profile's accounts as
//!   they now are, so an answer needs no further trip. The grant is in the
//!   sealed journal before the first attempt; a failed write is retried from
//!   memory, extending the lease, and what is still not stored is stored
//!   before the credential is refreshed again or at the next start
//!   (`writeback`, `journal`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;

use crate::db;
use crate::domain::from_db_time;
use crate::error::{Error, UpstreamKind};
use crate::state::AppState;

pub mod journal;
mod leader;
mod lease;
mod request;
mod writeback;

pub use crate::registry::refreshes::{RefreshOutcome, Snapshot};
pub(crate) use leader::condemn_undecryptable;
pub use leader::{FAILING_AFTER, JUST_RENEWED};
use leader::{Lead, run, settled_by_someone_else};
use lease::LeaseGuard;
pub use lease::{Claim, claim, lease_length, new_owner};
pub use request::RefreshRequest;
pub use writeback::replay as replay_journal;

/// A refresh that settled: what a caller can act on.
#[derive(Debug, Clone)]
pub enum Settled {
    Renewed {
        expires_at: DateTime<Utc>,
        snapshot: Option<Arc<Snapshot>>,
    },
    NotDue {
        earliest: DateTime<Utc>,
    },
    ReauthRequired {
        reason: String,
    },
    /// See [`RefreshOutcome::Replaced`].
    Replaced,
}

impl RefreshOutcome {
    /// The outcomes a caller cannot act on become their problem answers:
    /// a transient failure is 502/503/504, a lease held elsewhere 409; both
    /// with `Retry-After`.
    pub fn settle(self, network: &str) -> Result<Settled, Error> {
        match self {
            RefreshOutcome::Renewed {
                expires_at,
                snapshot,
                ..
            } => Ok(Settled::Renewed {
                expires_at,
                snapshot,
            }),
            RefreshOutcome::NotDue { earliest } => Ok(Settled::NotDue { earliest }),
            RefreshOutcome::ReauthRequired { reason } => Ok(Settled::ReauthRequired { reason }),
            RefreshOutcome::Replaced => Ok(Settled::Replaced),
            RefreshOutcome::Transient {
                kind,
                retry_after,
                detail,
            } => Err(Error::Upstream {
                network: network.to_string(),
                kind,
                detail,
                retry_after,
            }),
            RefreshOutcome::Busy { retry_after } => Err(Error::RefreshBusy { retry_after }),
        }
    }
}

/// Refreshes a credential once, however many callers ask at the same time.
pub async fn refresh(app: &AppState, request: RefreshRequest) -> Result<RefreshOutcome, Error> {
    let owner = new_owner(app);
    let (state, id, o) = (app.clone(), request.credential_id, owner.clone());
    let claimed = db::run(&app.pool, move |conn| claim(conn, &state, id, &o)).await?;
    refresh_claimed(app, request, owner, claimed).await
}

/// Goes on from a caller's first trip: leads the refresh when the lease was
/// taken, joins this process's refresh of the credential, or waits for
/// another instance's.
pub async fn refresh_claimed(
    app: &AppState,
    request: RefreshRequest,
    owner: String,
    claimed: Claim,
) -> Result<RefreshOutcome, Error> {
    let started = app.now();
    let deadline = started + lease_length(app);
    let version = claimed.row.version;
    let mut claimed = claimed;
    let mut pause = Duration::from_millis(50);
    loop {
        if claimed.taken {
            if claimed.row.version != version
                && let Some(outcome) = settled_by_someone_else(&claimed.row, app.now())?
            {
                LeaseGuard::new(app, request.credential_id, &owner)
                    .release()
                    .await?;
                return Ok(outcome);
            }
            let lease = LeaseGuard::new(app, request.credential_id, &owner);
            let row = *claimed.row;
            return lead(
                app,
                Lead {
                    request,
                    lease,
                    row,
                    started,
                },
            )
            .await;
        }
        if let Some(running) = app.refresh.running(request.credential_id) {
            return running.await.map_err(|e| e.for_another_caller());
        }
        let row = &claimed.row;
        if row.version != version
            && let Some(outcome) = settled_by_someone_else(row, app.now())?
        {
            return Ok(outcome);
        }
        if row.lease_owner.is_none()
            && let Some(failed_at) = row.last_failure_at
            && from_db_time(failed_at) >= started
        {
            return Ok(RefreshOutcome::Transient {
                kind: UpstreamKind::BadGateway,
                retry_after: Duration::from_secs(10),
                detail: row
                    .last_failure_reason
                    .clone()
                    .unwrap_or_else(|| "the network failed".into()),
            });
        }
        if app.now() > deadline {
            return Ok(RefreshOutcome::Busy {
                retry_after: Duration::from_secs(2),
            });
        }
        // Another instance is refreshing: wait for its outcome.
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
        let (state, id, o) = (app.clone(), request.credential_id, owner.clone());
        claimed = db::run(&app.pool, move |conn| claim(conn, &state, id, &o)).await?;
    }
}

/// Runs the refresh as its own task and lets this process's other callers
/// join it: a caller that goes away (a client disconnecting) must not pause
/// it between the network's answer and the write-back, or a rotated grant
/// would sit in memory while the lease runs out.
async fn lead(app: &AppState, leader: Lead) -> Result<RefreshOutcome, Error> {
    let key = leader.request.credential_id;
    let owned = app.clone();
    let task = tokio::spawn(async move {
        let key = leader.request.credential_id;
        let outcome = run(&owned, leader).await.map_err(|e| {
            tracing::warn!(error = %e, "refresh failed");
            Arc::new(e)
        });
        owned.refresh.ended(key);
        outcome
    });
    let shared = async move {
        task.await.unwrap_or_else(|e| {
            Err(Arc::new(Error::internal(format!(
                "refresh task failed: {e}"
            ))))
        })
    }
    .boxed()
    .shared();
    app.refresh.started(key, shared.clone());
    shared.await.map_err(|e| e.for_another_caller())
}
