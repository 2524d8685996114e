//! Silent renewal: one refresh at a time per credential, across threads and
//! server instances, storing what the network returned and classifying every
//! failure (docs/rules.md, "Single-flight refresh" and "Never lose a grant").
//!
//! * In this process, concurrent callers for one credential share one future.
//! * Across processes, a lease on the credential row is taken by one atomic
//!   conditional UPDATE; it outlives the HTTP timeout. Whoever does not get it
//!   watches the row until the holder's outcome shows (a new `version`, a
//!   `reauth_required`, a recorded failure) and answers that, or gives up with
//!   `Busy` (a 409 with `Retry-After`).
//! * After taking the lease the row is read again: someone may just have renewed.
//! * No database connection is held during the call to the network.
//! * The write-back is guarded by `version`; a rotated refresh token is stored
//!   with the access token in one transaction, the old one kept when the
//!   network sends none; a failed write is retried from memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use serde_json::json;

use super::grants::{Orphan, switch_profile_to_credential};
use super::{revoke_orphans, upstream_kind};
use crate::crypto::Binding;
use crate::db::audit::{Audit, insert_audit_event};
use crate::db::credentials::{
    ACCESS_TOKEN_FIELD, REFRESH_TOKEN_FIELD, RefreshedSecrets, open_tokens,
};
use crate::db::{self, credentials as creds};
use crate::domain::audit::{AuditAction, AuditOutcome};
use crate::domain::{from_db_time, new_id, now, to_db_time};
use crate::error::{Error, UpstreamKind};
use crate::providers::{GrantInfo, ProviderError, RefreshPlan};
use crate::state::AppState;

/// A refresh that was just done by someone else counts as this caller's:
/// renewing twice in a row gains nothing and spends a rotating refresh token.
pub const JUST_RENEWED: chrono::Duration = chrono::Duration::seconds(30);
/// Transient failures in a row after which a valid credential is `refresh_failing`.
pub const FAILING_AFTER: i32 = 3;

/// What happened to a refresh attempt. Cloneable: concurrent callers share it.
#[derive(Debug, Clone)]
pub enum RefreshOutcome {
    /// The credential holds a fresh grant (by this call or one that just finished).
    Renewed {
        expires_at: DateTime<Utc>,
        by_us: bool,
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
}

/// A refresh that settled: what a caller can act on.
#[derive(Debug, Clone)]
pub enum Settled {
    Renewed { expires_at: DateTime<Utc> },
    NotDue { earliest: DateTime<Utc> },
    ReauthRequired { reason: String },
}

impl RefreshOutcome {
    /// The outcomes a caller cannot act on become their problem answers:
    /// a transient failure is 502/503/504, a lease held elsewhere 409; both
    /// with `Retry-After`.
    pub fn settle(self, network: &str) -> Result<Settled, Error> {
        match self {
            RefreshOutcome::Renewed { expires_at, .. } => Ok(Settled::Renewed { expires_at }),
            RefreshOutcome::NotDue { earliest } => Ok(Settled::NotDue { earliest }),
            RefreshOutcome::ReauthRequired { reason } => Ok(Settled::ReauthRequired { reason }),
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

type SharedRefresh = Shared<BoxFuture<'static, Result<RefreshOutcome, Arc<Error>>>>;

/// Per-process single flight, and test-only fault injection.
#[derive(Default)]
pub struct RefreshCoordinator {
    inflight: Mutex<HashMap<String, SharedRefresh>>,
    /// Number of upcoming write-backs to fail after the UPDATE ran (the
    /// transaction rolls back), to prove a refreshed grant survives it.
    pub fail_next_writebacks: AtomicU32,
}

impl std::fmt::Debug for RefreshCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshCoordinator").finish_non_exhaustive()
    }
}

/// Who asked, for the audit trail.
#[derive(Debug, Clone)]
pub struct RefreshRequest {
    pub organization_id: String,
    pub credential_id: String,
    pub actor: String,
}

/// Refreshes a credential once, however many callers ask at the same time.
pub async fn refresh(app: &AppState, request: RefreshRequest) -> Result<RefreshOutcome, Error> {
    let key = request.credential_id.clone();
    let shared = {
        let mut inflight = app.refresh.inflight.lock().expect("refresh map lock");
        match inflight.get(&key) {
            Some(running) => running.clone(),
            None => {
                let owned = app.clone();
                let key_for_cleanup = key.clone();
                // The refresh runs as its own task: a caller that goes away
                // (a client disconnecting) must not pause it between the
                // network's answer and the write-back, or a rotated grant
                // would sit in memory while the lease runs out.
                let task = tokio::spawn(async move {
                    let outcome = run(&owned, request).await.map_err(|e| {
                        tracing::warn!(error = %e, "refresh failed");
                        Arc::new(e)
                    });
                    owned
                        .refresh
                        .inflight
                        .lock()
                        .expect("refresh map lock")
                        .remove(&key_for_cleanup);
                    outcome
                });
                let future = async move {
                    task.await.unwrap_or_else(|e| {
                        Err(Arc::new(Error::internal(format!(
                            "refresh task failed: {e}"
                        ))))
                    })
                }
                .boxed()
                .shared();
                inflight.insert(key, future.clone());
                future
            }
        }
    };
    shared.await.map_err(|e| e.for_another_caller())
}

fn lease_length(app: &AppState) -> Duration {
    app.settings.outbound.request_timeout * 2 + Duration::from_secs(5)
}

async fn run(app: &AppState, request: RefreshRequest) -> Result<RefreshOutcome, Error> {
    let started = now();
    let owner = format!("{}:{}", app.instance_id, new_id());
    let lease = lease_length(app);
    let lease_chrono = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    let id = request.credential_id.clone();

    let initial = read(app, &id).await?;
    let initial_version = initial.version;
    let deadline = started + lease_chrono;
    let mut pause = Duration::from_millis(50);
    loop {
        let (i, o, at) = (id.clone(), owner.clone(), now());
        let taken = db::run(&app.pool, move |conn| {
            creds::take_lease(conn, &i, &o, to_db_time(at), to_db_time(at + lease_chrono))
        })
        .await?;
        if taken {
            break;
        }
        // Another instance is refreshing: wait for its outcome.
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
        let row = read(app, &id).await?;
        if row.version != initial_version {
            if row.status == "reauth_required" {
                return Ok(RefreshOutcome::ReauthRequired {
                    reason: row.status_reason.unwrap_or_else(|| "invalid_grant".into()),
                });
            }
            return Ok(RefreshOutcome::Renewed {
                expires_at: expiry(&row),
                by_us: false,
            });
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
                    .unwrap_or_else(|| "the network failed".into()),
            });
        }
        if now() > deadline {
            return Ok(RefreshOutcome::Busy {
                retry_after: Duration::from_secs(2),
            });
        }
    }

    // We hold the lease. Read again: someone may just have renewed.
    let row = read(app, &id).await?;
    let release = |app: &AppState| {
        let (i, o) = (id.clone(), owner.clone());
        let pool = app.pool.clone();
        async move { db::run(&pool, move |conn| creds::release_lease(conn, &i, &o)).await }
    };
    if row.status == "reauth_required" {
        release(app).await?;
        return Ok(RefreshOutcome::ReauthRequired {
            reason: row.status_reason.unwrap_or_else(|| "invalid_grant".into()),
        });
    }
    if row.version != initial_version
        || row
            .last_refreshed_at
            .is_some_and(|t| from_db_time(t) > started - JUST_RENEWED)
    {
        release(app).await?;
        return Ok(RefreshOutcome::Renewed {
            expires_at: expiry(&row),
            by_us: false,
        });
    }
    let Some(provider) = app.providers.get(&row.network) else {
        release(app).await?;
        return Ok(RefreshOutcome::ReauthRequired {
            reason: "network_not_configured".into(),
        });
    };
    let at = now();
    let grant = GrantInfo {
        has_refresh_token: row.refresh_token.is_some(),
        expires_at: expiry(&row),
        issued_at: from_db_time(row.last_refreshed_at.unwrap_or(row.issued_at)),
        refresh_expires_at: row.refresh_expires_at.map(from_db_time),
    };
    match provider.refresh_plan(&grant, at) {
        RefreshPlan::Silent(_) => {}
        RefreshPlan::NotYet { earliest, .. } => {
            release(app).await?;
            return Ok(RefreshOutcome::NotDue { earliest });
        }
        RefreshPlan::NeedsReauthorization(reason) => {
            let expired = grant.expires_at <= at;
            let (i, o, r) = (id.clone(), owner.clone(), reason.as_str().to_string());
            db::run(&app.pool, move |conn| {
                if expired {
                    creds::mark_reauth_required(conn, &i, &r, to_db_time(now()))
                } else {
                    creds::release_lease(conn, &i, &o)
                }
            })
            .await?;
            return Ok(RefreshOutcome::ReauthRequired {
                reason: reason.as_str().into(),
            });
        }
    }
    let (access, refresh_token) = open_tokens(&app.keys, &row)?;

    // The network call: no connection held, the lease outlives its timeout.
    let result = provider.refresh(&access, refresh_token.as_ref()).await;
    match result {
        Ok(tokens) => {
            let sealed = RefreshedSecrets {
                access: app.keys.encrypt_secret(
                    &tokens.access_token,
                    Binding {
                        record_id: &id,
                        field: ACCESS_TOKEN_FIELD,
                    },
                ),
                refresh: tokens.refresh_token.as_ref().map(|t| {
                    app.keys.encrypt_secret(
                        t,
                        Binding {
                            record_id: &id,
                            field: REFRESH_TOKEN_FIELD,
                        },
                    )
                }),
                expires_at: to_db_time(tokens.expires_at),
                refresh_expires_at: tokens.refresh_expires_at.map(to_db_time),
                scopes: (!tokens.scopes.is_empty()).then(|| tokens.scopes.join(" ")),
            };
            let orphans = write_back(app, &request, row.version, &row.profile_id, sealed).await?;
            revoke_orphans(&app.providers, orphans).await;
            Ok(RefreshOutcome::Renewed {
                expires_at: tokens.expires_at,
                by_us: true,
            })
        }
        Err(error) => {
            let code = error.code();
            match &error {
                ProviderError::ReauthRequired { .. } => {
                    let (i, r, req) = (id.clone(), code.clone(), request.clone());
                    db::run(&app.pool, move |conn| {
                        db::write_transaction(conn, |conn| {
                            creds::mark_reauth_required(conn, &i, &r, to_db_time(now()))?;
                            audit_credential(
                                conn,
                                &req,
                                AuditAction::TokenReauthRequired,
                                AuditOutcome::Failure,
                                json!({ "reason": r }),
                            )
                        })
                    })
                    .await?;
                    Ok(RefreshOutcome::ReauthRequired { reason: code })
                }
                ProviderError::Transient { .. } | ProviderError::Rejected { .. } => {
                    let (i, r, req) = (id.clone(), code.clone(), request.clone());
                    db::run(&app.pool, move |conn| {
                        db::write_transaction(conn, |conn| {
                            creds::record_transient_failure(
                                conn,
                                &i,
                                &r,
                                to_db_time(now()),
                                FAILING_AFTER,
                            )?;
                            audit_credential(
                                conn,
                                &req,
                                AuditAction::TokenRefreshFailed,
                                AuditOutcome::Failure,
                                json!({ "reason": r }),
                            )
                        })
                    })
                    .await?;
                    let (kind, retry_after) = upstream_kind(&error);
                    let detail = error.to_string();
                    Ok(RefreshOutcome::Transient {
                        kind,
                        retry_after,
                        detail,
                    })
                }
            }
        }
    }
}

fn expiry(row: &crate::db::models::Credential) -> DateTime<Utc> {
    row.expires_at
        .map(from_db_time)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

async fn read(app: &AppState, id: &str) -> Result<crate::db::models::Credential, Error> {
    let id = id.to_string();
    db::run(&app.pool, move |conn| {
        creds::find_credential_by_id(conn, &id)?
            .ok_or_else(|| Error::NotFound(format!("no credential {id}")))
    })
    .await
}

fn audit_credential(
    conn: &mut db::DbConnection,
    request: &RefreshRequest,
    action: AuditAction,
    outcome: AuditOutcome,
    detail: serde_json::Value,
) -> Result<(), Error> {
    let accounts = db::accounts::list_accounts_using_credential(conn, &request.credential_id)?;
    for (account, brand) in accounts {
        insert_audit_event(
            conn,
            Audit {
                organization_id: &request.organization_id,
                actor: &request.actor,
                action,
                outcome,
                brand_id: Some(&brand),
                account_id: Some(&account),
                credential_id: Some(&request.credential_id),
                detail: Some(detail.clone()),
            },
        )?;
    }
    Ok(())
}

/// Stores the refreshed grant and applies rule 2, retrying from memory when
/// the database fails: the network has already spent the old refresh token,
/// so this grant is the only one there is.
async fn write_back(
    app: &AppState,
    request: &RefreshRequest,
    version: i64,
    profile_id: &str,
    sealed: RefreshedSecrets,
) -> Result<Vec<Orphan>, Error> {
    let sealed = std::sync::Arc::new(sealed);
    let mut pause = Duration::from_millis(50);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let (s, req, profile, keys) = (
            sealed.clone(),
            request.clone(),
            profile_id.to_string(),
            app.keys.clone(),
        );
        let inject = app
            .refresh
            .fail_next_writebacks
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let result = db::run(&app.pool, move |conn| {
            db::write_transaction(conn, |conn| {
                let at = now();
                if !creds::write_refreshed(conn, &req.credential_id, version, &s, to_db_time(at))? {
                    return Ok(None);
                }
                let orphans = switch_profile_to_credential(
                    conn,
                    &keys,
                    &req.organization_id,
                    &profile,
                    &req.credential_id,
                    at,
                )?;
                audit_credential(
                    conn,
                    &req,
                    AuditAction::AccountRenewed,
                    AuditOutcome::Success,
                    json!({ "method": "refresh" }),
                )?;
                if inject {
                    return Err(Error::internal("injected write-back fault"));
                }
                Ok(Some(orphans))
            })
        })
        .await;
        match result {
            Ok(Some(orphans)) => return Ok(orphans),
            Ok(None) => {
                tracing::error!(credential = %request.credential_id, "refreshed grant not stored: the credential changed meanwhile");
                return Ok(Vec::new());
            }
            Err(error) if attempt < 8 => {
                tracing::warn!(credential = %request.credential_id, attempt, error = %error,
                    "storing a refreshed grant failed; retrying from memory");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(error) => {
                tracing::error!(credential = %request.credential_id, error = %error,
                    "storing a refreshed grant failed repeatedly");
                return Err(error);
            }
        }
    }
}
