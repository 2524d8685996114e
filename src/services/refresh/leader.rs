//! The leader's part of a refresh: it holds the lease, calls the network
//! with no connection held, and stores what the network returned — or
//! records the failure — in one transaction.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{
    FAILING_AFTER, JUST_RENEWED, RefreshOutcome, RefreshRequest, Snapshot, WRITE_BACK_ATTEMPTS,
    dead, release,
};
use crate::crypto::Binding;
use crate::db::audit::{Audit, insert_audit_event};
use crate::db::credentials::{
    ACCESS_TOKEN_FIELD, REFRESH_TOKEN_FIELD, RefreshedSecrets, open_tokens,
};
use crate::db::models::Credential;
use crate::db::{self, DbConnection, credentials as creds};
use crate::domain::audit::{AuditAction, AuditOutcome};
use crate::domain::token_status::CredentialStatus;
use crate::domain::{from_db_time, to_db_time};
use crate::error::Error;
use crate::providers::{ProviderError, RefreshPlan};
use crate::services::grants::{Orphan, switch_profile_to_credential};
use crate::services::{revoke_orphans, upstream_kind};
use crate::state::AppState;

/// The leader's refresh: the lease is held and `row` was read after taking it.
pub(super) async fn run(
    app: &AppState,
    request: RefreshRequest,
    owner: String,
    row: Credential,
    started: DateTime<Utc>,
) -> Result<RefreshOutcome, Error> {
    let id = request.credential_id.clone();
    if row.stored_status()? == CredentialStatus::ReauthRequired {
        release(app, &id, &owner).await?;
        return Ok(dead(&row));
    }
    // `renewed` promises a valid stored token, not merely a recent refresh.
    if row
        .last_refreshed_at
        .is_some_and(|t| from_db_time(t) > started - JUST_RENEWED)
        && expiry(&row) > app.now()
    {
        release(app, &id, &owner).await?;
        return Ok(RefreshOutcome::Renewed {
            expires_at: expiry(&row),
            by_us: false,
            snapshot: None,
        });
    }
    let Some(provider) = app.providers.get(&row.network) else {
        release(app, &id, &owner).await?;
        return Ok(RefreshOutcome::ReauthRequired {
            reason: "network_not_configured".into(),
        });
    };
    let at = app.now();
    let grant = crate::services::grant_info(
        row.refresh_token.is_some(),
        row.expires_at,
        row.issued_at,
        row.last_refreshed_at,
        row.refresh_expires_at,
    );
    match provider.refresh_plan(&grant, at) {
        RefreshPlan::Silent(_) => {}
        RefreshPlan::NotYet { earliest, .. } => {
            release(app, &id, &owner).await?;
            return Ok(RefreshOutcome::NotDue { earliest });
        }
        RefreshPlan::NeedsReauthorization(reason) => {
            let expired = grant.expires_at <= at;
            let (i, o, r) = (id.clone(), owner.clone(), reason.as_str().to_string());
            db::run(&app.pool, move |conn| {
                if expired {
                    creds::mark_reauth_required(conn, &i, &r, to_db_time(at))
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
    let answer = provider.refresh(&access, refresh_token.as_ref(), at).await;
    app.network_health.observe(&row.network, &answer, at);
    match answer {
        Ok(tokens) => {
            let seal = |token, field| {
                app.keys.encrypt_secret(
                    token,
                    Binding {
                        record_id: &id,
                        field,
                    },
                )
            };
            let sealed = RefreshedSecrets {
                access: seal(&tokens.access_token, ACCESS_TOKEN_FIELD),
                refresh: tokens
                    .refresh_token
                    .as_ref()
                    .map(|t| seal(t, REFRESH_TOKEN_FIELD)),
                expires_at: to_db_time(tokens.expires_at),
                refresh_expires_at: tokens.refresh_expires_at.map(to_db_time),
                scopes: (!tokens.scopes.is_empty()).then(|| tokens.scopes.join(" ")),
            };
            let (orphans, snapshot) =
                write_back(app, &request, row.version, &row.profile_id, sealed).await?;
            revoke_orphans(&app.providers, orphans).await;
            Ok(RefreshOutcome::Renewed {
                expires_at: tokens.expires_at,
                by_us: true,
                snapshot: snapshot.map(Arc::new),
            })
        }
        Err(error) if error.is_misconfigured() => {
            // The deployment's mistake, not the grant's: nothing about the
            // credential changes, so fixing the configuration is all it takes.
            release(app, &id, &owner).await?;
            Err(crate::services::network_health::misconfigured(
                &row.network,
                &error,
            ))
        }
        Err(error) => {
            let code = error.code();
            let reauth = matches!(error, ProviderError::ReauthRequired { .. });
            let (r, req) = (code.clone(), request.clone());
            db::run(&app.pool, move |conn| {
                db::write_transaction(conn, |conn| {
                    if reauth {
                        creds::mark_reauth_required(conn, &req.credential_id, &r, to_db_time(at))?;
                    } else {
                        creds::record_transient_failure(
                            conn,
                            &req.credential_id,
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
                    audit_credential(conn, &req, action, outcome, json!({ "reason": r }), at)
                })
            })
            .await?;
            if reauth {
                return Ok(RefreshOutcome::ReauthRequired { reason: code });
            }
            let (kind, retry_after) = upstream_kind(&error);
            Ok(RefreshOutcome::Transient {
                kind,
                retry_after,
                detail: error.to_string(),
            })
        }
    }
}

pub(super) fn expiry(row: &Credential) -> DateTime<Utc> {
    row.expires_at
        .map(from_db_time)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn audit_credential(
    conn: &mut DbConnection,
    request: &RefreshRequest,
    action: AuditAction,
    outcome: AuditOutcome,
    detail: serde_json::Value,
    at: DateTime<Utc>,
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
            at,
        )?;
    }
    Ok(())
}

/// Stores the refreshed grant and propagates it, retrying from memory when
/// the database fails: the network has already spent the old refresh token,
/// so this grant is the only one there is.
async fn write_back(
    app: &AppState,
    request: &RefreshRequest,
    version: i64,
    profile_id: &str,
    sealed: RefreshedSecrets,
) -> Result<(Vec<Orphan>, Option<Snapshot>), Error> {
    let sealed = Arc::new(sealed);
    let mut pause = Duration::from_millis(50);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let (s, req, profile, keys, at) = (
            sealed.clone(),
            request.clone(),
            profile_id.to_string(),
            app.keys.clone(),
            app.now(),
        );
        let result = db::run(&app.pool, move |conn| {
            db::write_transaction(conn, |conn| {
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
                    at,
                )?;
                let snapshot = if req.snapshot {
                    let organization =
                        db::organizations::find_organization(conn, &req.organization_id)?
                            .ok_or_else(|| {
                                Error::NotFound(format!(
                                    "no organization with id {}",
                                    req.organization_id
                                ))
                            })?;
                    let accounts = db::accounts::list_account_rows_of_profile(
                        conn,
                        &req.organization_id,
                        &profile,
                    )?;
                    Some(Snapshot {
                        organization,
                        accounts,
                    })
                } else {
                    None
                };
                Ok(Some((orphans, snapshot)))
            })
        })
        .await;
        match result {
            Ok(Some(stored)) => return Ok(stored),
            Ok(None) => {
                tracing::error!(credential = %request.credential_id, "refreshed grant not stored: the credential changed meanwhile");
                return Ok((Vec::new(), None));
            }
            Err(error) if attempt < WRITE_BACK_ATTEMPTS => {
                app.refresh
                    .writeback_retries
                    .fetch_add(1, Ordering::Relaxed);
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
