//! The leader's part of a refresh: it holds the lease, calls the network
//! with no connection held, and stores what the network returned — or
//! records the failure — in one transaction.

use crate::domain::ids::CredentialId;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::journal::PendingGrant;
use super::lease::{LeaseGuard, claim};
use super::request::{RefreshRequest, audit_credential};
use super::writeback::{WriteBack, record, store_pending, write_back};
use crate::db::credentials::try_open_tokens;
use crate::db::models::Credential;
use crate::db::{self, credentials as creds};
use crate::domain::audit::{AuditAction, AuditOutcome};
use crate::domain::token_status::{self, CredentialStatus, TokenStatus, UNDECRYPTABLE};
use crate::domain::{from_db_time, to_db_time};
use crate::error::Error;
use crate::providers::{GrantInfo, ProviderError, RefreshPlan};
use crate::registry::RefreshOutcome;
use crate::services::grants::sweep_if_unused;
use crate::services::{misconfigured, revoke_later, upstream_kind};
use crate::state::AppState;

/// A refresh that was just done by someone else counts as this caller's
/// while the token it stored is still valid: renewing twice in a row gains
/// nothing and spends a rotating refresh token. A token that already expired
/// (networks with lifetimes shorter than this) is refreshed again.
pub const JUST_RENEWED: chrono::Duration = chrono::Duration::seconds(30);
/// Transient failures in a row after which a valid credential is `refresh_failing`.
pub const FAILING_AFTER: i32 = 3;

/// A refresh its caller leads: `lease` is the caller's, `row` was read after
/// taking it, and `started` is when the caller asked.
pub(super) struct Lead {
    pub request: RefreshRequest,
    pub lease: LeaseGuard,
    pub row: Credential,
    pub started: DateTime<Utc>,
}

/// The leader's refresh.
pub(super) async fn run(app: &AppState, lead: Lead) -> Result<RefreshOutcome, Error> {
    let Lead {
        request,
        lease,
        mut row,
        started,
    } = lead;
    let id = request.credential_id;
    let owner = lease.owner().to_string();
    let lease = match settle_pending(app, &request, lease, &mut row).await? {
        Pending::Settled(outcome) => return Ok(outcome),
        Pending::GoOn(lease) => lease,
    };
    if row.stored_status()? == CredentialStatus::ReauthRequired {
        lease.release().await?;
        return Ok(dead(&row));
    }
    // `renewed` promises a valid stored token, not merely a recent refresh.
    if row
        .last_refreshed_at
        .is_some_and(|t| from_db_time(t) > started - JUST_RENEWED)
        && expiry(&row) > app.now()
    {
        lease.release().await?;
        return Ok(RefreshOutcome::Renewed {
            expires_at: expiry(&row),
            by_us: false,
            snapshot: None,
        });
    }
    let Some(provider) = app.providers.get(&row.network) else {
        lease.release().await?;
        return Ok(RefreshOutcome::ReauthRequired {
            reason: "network_not_configured".into(),
        });
    };
    let at = app.now();
    let grant = grant_of(&row);
    match provider.refresh_plan(&grant, at) {
        RefreshPlan::Silent(_) => {}
        RefreshPlan::NotYet { earliest, .. } => {
            lease.release().await?;
            return Ok(RefreshOutcome::NotDue { earliest });
        }
        RefreshPlan::NeedsReauthorization(reason) => {
            let expired = grant.expires_at <= at;
            let outcome =
                needs_reauthorization(app, &request, &owner, reason.as_str(), expired, at).await?;
            lease.cleared();
            return Ok(outcome);
        }
    }
    let (access, refresh_token) = match try_open_tokens(&app.keys, &row) {
        Ok(tokens) => tokens,
        Err(error) if error.is_not_this_records() => {
            let condemned = condemn_undecryptable(app, &request, at).await?;
            lease.cleared();
            return Ok(condemned);
        }
        Err(error) => {
            lease.release().await?;
            return Err(Error::internal(format!("credential {id}: {error}")));
        }
    };

    // The network call: no connection held, the lease outlives its timeout.
    let answer = provider.refresh(&access, refresh_token.as_ref(), at).await;
    app.network_health.observe(&row.network, &answer, at);
    match answer {
        Ok(tokens) => {
            let grant = Arc::new(PendingGrant {
                credential_id: id,
                organization_id: request.organization_id.clone(),
                profile_id: row.profile_id,
                network: row.network.clone(),
                actor: request.actor.clone(),
                from_version: row.version,
                access_token: tokens.access_token.clone(),
                rotated: tokens.refresh_token.is_some(),
                refresh_token: tokens.refresh_token.clone().or(refresh_token),
                expires_at: tokens.expires_at,
                refresh_expires_at: tokens.refresh_expires_at,
                scopes: tokens.scopes.clone(),
            });
            // On disk before the first attempt to store it: from here on the
            // network knows only this grant.
            let entry = record(app, &grant).await;
            let written = write_back(app, &request, &owner, &grant, entry).await?;
            // Every way the write-back ends leaves the lease released.
            lease.cleared();
            match written {
                WriteBack::Stored(snapshot) => Ok(RefreshOutcome::Renewed {
                    expires_at: tokens.expires_at,
                    by_us: true,
                    snapshot: snapshot.map(Arc::new),
                }),
                WriteBack::Unused => Ok(RefreshOutcome::Replaced),
                WriteBack::Superseded => superseded(app, id).await,
            }
        }
        Err(error) if error.is_misconfigured() => {
            // The deployment's mistake, not the grant's: nothing about the
            // credential changes, so fixing the configuration is all it takes.
            lease.release().await?;
            Err(misconfigured(&row.network, &error))
        }
        Err(error) => {
            let outcome = record_failure(app, &request, &error, at).await?;
            lease.cleared();
            Ok(outcome)
        }
    }
}

/// What became of a grant renewed earlier and not stored yet.
enum Pending {
    /// It answers the refresh.
    Settled(RefreshOutcome),
    /// The refresh goes on under this lease: there was none, or it was stored
    /// after its access token expired (the lease taken again, the row read anew).
    GoOn(LeaseGuard),
}

/// Stores a grant renewed earlier that is not stored yet: it is the live
/// one, its refresh token may already be spent at the network.
async fn settle_pending(
    app: &AppState,
    request: &RefreshRequest,
    lease: LeaseGuard,
    row: &mut Credential,
) -> Result<Pending, Error> {
    let (id, owner) = (request.credential_id, lease.owner().to_string());
    let Some((expires_at, written)) = store_pending(app, request, &owner, row).await? else {
        return Ok(Pending::GoOn(lease));
    };
    // Every way the write-back ends leaves the lease released.
    lease.cleared();
    match written {
        WriteBack::Stored(snapshot) if expires_at > app.now() => {
            Ok(Pending::Settled(RefreshOutcome::Renewed {
                expires_at,
                by_us: true,
                snapshot: snapshot.map(Arc::new),
            }))
        }
        // Stored after its access token expired (kept in the journal past
        // it, by a process killed mid write-back say): `renewed` promises a
        // valid token, so the grant's refresh token renews it now. The write
        // released the lease; it is taken again.
        WriteBack::Stored(_) => {
            let (state, o) = (app.clone(), owner.clone());
            let claimed = db::run(&app.pool, move |conn| claim(conn, &state, id, &o)).await?;
            if !claimed.taken {
                return Ok(Pending::Settled(RefreshOutcome::Busy {
                    retry_after: std::time::Duration::from_secs(1),
                }));
            }
            *row = *claimed.row;
            Ok(Pending::GoOn(LeaseGuard::new(app, id, &owner)))
        }
        WriteBack::Unused => Ok(Pending::Settled(RefreshOutcome::Replaced)),
        WriteBack::Superseded => superseded(app, id).await.map(Pending::Settled),
    }
}

/// A grant the network can no longer renew silently: an expired one is
/// marked `reauth_required` and announced like any other dead grant; one
/// still valid only lets its lease go. Either way the credential goes if no
/// account uses it any more. Ends the lease.
async fn needs_reauthorization(
    app: &AppState,
    request: &RefreshRequest,
    owner: &str,
    reason: &str,
    expired: bool,
    at: DateTime<Utc>,
) -> Result<RefreshOutcome, Error> {
    let id = request.credential_id;
    let (o, r, req, keys) = (
        owner.to_string(),
        reason.to_string(),
        request.clone(),
        app.keys.clone(),
    );
    let orphans = db::run(&app.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            if expired {
                // Announced like any other dead grant: the audit trail
                // and, through it, the `token.reauth_required` webhook.
                creds::mark_reauth_required(conn, id, &r, to_db_time(at))?;
                audit_credential(
                    conn,
                    &req,
                    AuditAction::TokenReauthRequired,
                    AuditOutcome::Failure,
                    json!({ "reason": r }),
                    at,
                )?;
            } else {
                creds::release_lease(conn, id, &o)?;
            }
            sweep_if_unused(conn, &keys, id)
        })
    })
    .await?;
    revoke_later(app, orphans);
    Ok(RefreshOutcome::ReauthRequired {
        reason: reason.into(),
    })
}

/// Records a refresh the network refused: `reauth_required` for a dead
/// grant, a transient failure otherwise (counted towards `refresh_failing`),
/// with its audit event, in one transaction that also ends the lease.
async fn record_failure(
    app: &AppState,
    request: &RefreshRequest,
    error: &ProviderError,
    at: DateTime<Utc>,
) -> Result<RefreshOutcome, Error> {
    let code = error.code();
    let reauth = matches!(error, ProviderError::ReauthRequired { .. });
    let (r, req, keys) = (code.clone(), request.clone(), app.keys.clone());
    let orphans = db::run(&app.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            if reauth {
                creds::mark_reauth_required(conn, req.credential_id, &r, to_db_time(at))?;
            } else {
                creds::record_transient_failure(
                    conn,
                    req.credential_id,
                    &r,
                    to_db_time(at),
                    FAILING_AFTER,
                )?;
            }
            let (action, outcome) = if reauth {
                (AuditAction::TokenReauthRequired, AuditOutcome::Failure)
            } else {
                (AuditAction::TokenRefreshFailed, AuditOutcome::Failure)
            };
            audit_credential(conn, &req, action, outcome, json!({ "reason": r }), at)?;
            sweep_if_unused(conn, &keys, req.credential_id)
        })
    })
    .await?;
    revoke_later(app, orphans);
    if reauth {
        return Ok(RefreshOutcome::ReauthRequired { reason: code });
    }
    let (kind, retry_after) = upstream_kind(error);
    Ok(RefreshOutcome::Transient {
        kind,
        retry_after,
        detail: error.to_string(),
    })
}

/// What a refresh whose grant lost to one stored first answers: the
/// credential as it is now.
async fn superseded(app: &AppState, id: CredentialId) -> Result<RefreshOutcome, Error> {
    let stored = db::run(&app.pool, move |conn| {
        creds::find_credential_by_id(conn, id)
    })
    .await?;
    Ok(match stored {
        Some(row) => settled_by_someone_else(&row, app.now())?.unwrap_or(RefreshOutcome::Busy {
            retry_after: std::time::Duration::from_secs(1),
        }),
        None => RefreshOutcome::Replaced,
    })
}

/// A stored token that does not authenticate under its own record (a
/// ciphertext moved from another row, or altered) is never used: the
/// credential is marked `reauth_required`, announced like any other dead
/// grant, and nothing is sent to the network.
pub(crate) async fn condemn_undecryptable(
    app: &AppState,
    request: &RefreshRequest,
    at: DateTime<Utc>,
) -> Result<RefreshOutcome, Error> {
    tracing::error!(credential = %request.credential_id,
        "a stored token does not decrypt under its own record; the credential needs re-authorization");
    let req = request.clone();
    db::run(&app.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            creds::mark_reauth_required(conn, req.credential_id, UNDECRYPTABLE, to_db_time(at))?;
            audit_credential(
                conn,
                &req,
                AuditAction::TokenReauthRequired,
                AuditOutcome::Failure,
                json!({ "reason": UNDECRYPTABLE }),
                at,
            )
        })
    })
    .await?;
    Ok(RefreshOutcome::ReauthRequired {
        reason: UNDECRYPTABLE.into(),
    })
}

/// What the network's refresh plan reads of the stored grant.
fn grant_of(row: &Credential) -> GrantInfo {
    crate::services::grant_info(
        row.refresh_token.is_some(),
        row.expires_at,
        row.issued_at,
        row.last_refreshed_at,
        row.refresh_expires_at,
    )
}

pub(super) fn expiry(row: &Credential) -> DateTime<Utc> {
    row.expires_at
        .map(from_db_time)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// What a credential someone else just refreshed (or found dead) means here:
/// dead, or renewed — but only while the stored token is valid at `now`
/// (docs/rules.md#single-flight-refresh). `None`: the stored token already
/// expired (a network with short-lived tokens), so the caller refreshes.
pub(super) fn settled_by_someone_else(
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
        reason: token_status::dead_reason(
            TokenStatus::ReauthRequired,
            row.status_reason.as_deref(),
        ),
    }
}
