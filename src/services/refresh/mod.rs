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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

use crate::db::accounts::AccountRow;
use crate::db::models::{Credential, Organization};
use crate::db::{self, DbConnection, credentials as creds};
use crate::domain::token_status::CredentialStatus;
use crate::domain::{from_db_time, new_id};
use crate::error::{Error, UpstreamKind};
use crate::services::grants::sweep_if_unused;
use crate::services::revoke_later;
use crate::state::AppState;

/// A refresh that was just done by someone else counts as this caller's
/// while the token it stored is still valid: renewing twice in a row gains
/// nothing and spends a rotating refresh token. A token that already expired
/// (networks with lifetimes shorter than this) is refreshed again.
pub const JUST_RENEWED: chrono::Duration = chrono::Duration::seconds(30);
/// Transient failures in a row after which a valid credential is `refresh_failing`.
pub const FAILING_AFTER: i32 = 3;
/// Attempts at storing a refreshed grant (50 ms doubling to 2 s between
/// them, about 13 s in all) before leaving it to the journal.
const WRITE_BACK_ATTEMPTS: u32 = 12;

/// The profile's accounts as the write-back left them, with their
/// organization: what an answer about any of them needs.
#[derive(Debug)]
pub struct Snapshot {
    pub organization: Organization,
    pub accounts: Vec<AccountRow>,
}

/// What happened to a refresh attempt. Cloneable: concurrent callers share it.
#[derive(Debug, Clone)]
pub enum RefreshOutcome {
    /// The credential holds a fresh grant (by this call or one that just finished).
    Renewed {
        expires_at: DateTime<Utc>,
        by_us: bool,
        /// The profile's accounts after the write-back, when the request asked.
        snapshot: Option<Arc<Snapshot>>,
    },
    /// Still valid, and the network's extension grant is not available yet.
    NotDue { earliest: DateTime<Utc> },
    /// The grant cannot be renewed without the user (`reason` as the network said).
    ReauthRequired { reason: String },
    /// The network failed transiently; the credential keeps its status.
    Transient {
        kind: UpstreamKind,
        retry_after: Duration,
        detail: String,
    },
    /// Another instance holds the lease and did not finish in time.
    Busy { retry_after: Duration },
    /// The credential was replaced while this refresh ran (a fresh grant,
    /// a disconnect or another refresh's propagation took its accounts); the
    /// credential went with the refreshed grant, which was judged like every
    /// orphan. The account's state says what it holds now.
    Replaced,
}

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

pub mod journal;
mod leader;
mod writeback;

use leader::{Lead, expiry, run};
pub(crate) use leader::{UNDECRYPTABLE, condemn_undecryptable};
pub use writeback::replay as replay_journal;

type SharedRefresh = Shared<BoxFuture<'static, Result<RefreshOutcome, Arc<Error>>>>;

/// Per-process single flight and what it counts.
#[derive(Default)]
pub struct RefreshCoordinator {
    inflight: Mutex<HashMap<String, SharedRefresh>>,
    writeback_retries: AtomicU64,
}

impl RefreshCoordinator {
    /// How many times storing a refreshed grant failed and was retried from
    /// memory since the process started.
    pub fn writeback_retries(&self) -> u64 {
        self.writeback_retries.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for RefreshCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshCoordinator").finish_non_exhaustive()
    }
}

/// Who asked, for the audit trail, and what the answer needs.
#[derive(Debug, Clone)]
pub struct RefreshRequest {
    pub organization_id: String,
    pub credential_id: String,
    pub actor: String,
    /// Read the profile's accounts in the write-back's transaction.
    pub snapshot: bool,
}

/// The result of a caller's first trip: whether it took the lease, and the
/// row as read after trying.
#[derive(Debug)]
pub struct Claim {
    pub taken: bool,
    pub row: Box<Credential>,
}

/// A lease owner's name: this process and this attempt.
pub fn new_owner(app: &AppState) -> String {
    format!("{}:{}", app.instance_id, new_id())
}

/// How long a refresh may hold its credential's lease.
pub fn lease_length(app: &AppState) -> chrono::Duration {
    let lease = app.settings.outbound.request_timeout * 2 + Duration::from_secs(5);
    chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60))
}

/// The lease length in whole seconds (rounded up), as the database's clock
/// counts it.
pub(super) fn lease_seconds(app: &AppState) -> i64 {
    let length = lease_length(app);
    length.num_seconds() + i64::from(length.subsec_nanos() > 0)
}

/// Tries to take the credential's lease for `owner`, then reads the row.
/// Runs inside the caller's trip to the pool. The lease is timed by the
/// database's clock, which every instance shares.
pub fn claim(
    conn: &mut DbConnection,
    app: &AppState,
    credential_id: &str,
    owner: &str,
) -> Result<Claim, Error> {
    let taken = creds::take_lease(conn, credential_id, owner, lease_seconds(app))?;
    let row = creds::find_credential_by_id(conn, credential_id)?
        .ok_or_else(|| Error::NotFound(format!("no credential {credential_id}")))?;
    Ok(Claim {
        taken,
        row: Box::new(row),
    })
}

/// Refreshes a credential once, however many callers ask at the same time.
pub async fn refresh(app: &AppState, request: RefreshRequest) -> Result<RefreshOutcome, Error> {
    let owner = new_owner(app);
    let (state, id, o) = (app.clone(), request.credential_id.clone(), owner.clone());
    let claimed = db::run(&app.pool, move |conn| claim(conn, &state, &id, &o)).await?;
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
                release(app, &request.credential_id, &owner).await?;
                return Ok(outcome);
            }
            let row = *claimed.row;
            return lead(
                app,
                Lead {
                    request,
                    owner,
                    row,
                    started,
                },
            )
            .await;
        }
        let running = app
            .refresh
            .inflight
            .lock()
            .expect("refresh map lock")
            .get(&request.credential_id)
            .cloned();
        if let Some(running) = running {
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
        let (state, id, o) = (app.clone(), request.credential_id.clone(), owner.clone());
        claimed = db::run(&app.pool, move |conn| claim(conn, &state, &id, &o)).await?;
    }
}

/// What a credential someone else just refreshed (or found dead) means here:
/// dead, or renewed — but only while the stored token is valid at `now`
/// (docs/rules.md#single-flight-refresh). `None`: the stored token already
/// expired (a network with short-lived tokens), so the caller refreshes.
fn settled_by_someone_else(
    row: &Credential,
    now: DateTime<Utc>,
) -> Result<Option<RefreshOutcome>, Error> {
    if row.stored_status()? == CredentialStatus::ReauthRequired {
        return Ok(Some(dead(row)));
    }
    Ok((expiry(row) > now).then(|| RefreshOutcome::Renewed {
        expires_at: expiry(row),
        by_us: false,
        snapshot: None,
    }))
}

/// The outcome of a credential stored as `reauth_required`.
fn dead(row: &Credential) -> RefreshOutcome {
    RefreshOutcome::ReauthRequired {
        reason: row
            .status_reason
            .clone()
            .unwrap_or_else(|| "invalid_grant".into()),
    }
}

/// Runs the refresh as its own task and lets this process's other callers
/// join it: a caller that goes away (a client disconnecting) must not pause
/// it between the network's answer and the write-back, or a rotated grant
/// would sit in memory while the lease runs out.
async fn lead(app: &AppState, leader: Lead) -> Result<RefreshOutcome, Error> {
    let key = leader.request.credential_id.clone();
    let owned = app.clone();
    let task = tokio::spawn(async move {
        let key = leader.request.credential_id.clone();
        let outcome = run(&owned, leader).await.map_err(|e| {
            tracing::warn!(error = %e, "refresh failed");
            Arc::new(e)
        });
        owned
            .refresh
            .inflight
            .lock()
            .expect("refresh map lock")
            .remove(&key);
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
    app.refresh
        .inflight
        .lock()
        .expect("refresh map lock")
        .insert(key, shared.clone());
    shared.await.map_err(|e| e.for_another_caller())
}

/// Ends this caller's lease without storing a grant. A credential that
/// changes of its profile left unused while the lease was held (they leave it
/// to its refresh) goes now, judged like every orphan.
async fn release(app: &AppState, id: &str, owner: &str) -> Result<(), Error> {
    let (i, o, keys) = (id.to_string(), owner.to_string(), app.keys.clone());
    let orphans = db::run(&app.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            creds::release_lease(conn, &i, &o)?;
            sweep_if_unused(conn, &keys, &i)
        })
    })
    .await?;
    revoke_later(app, orphans);
    Ok(())
}
