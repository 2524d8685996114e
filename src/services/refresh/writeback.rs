//! Storing a refreshed grant (docs/rules.md, "Never lose a grant"). The
//! network has already spent the old refresh token when it answers, so the
//! grant it returned is the only one there is: it goes to the sealed
//! journal before the first attempt to store it, every attempt first
//! extends the lease (by the database's clock) and writes only while the
//! lease is still ours and the row's `version` unchanged, and whatever is
//! not stored stays in the journal — stored before the credential is
//! refreshed again, or replayed at the next start. A grant that lost to a
//! newer one, or whose credential went, is judged like every orphan: revoked
//! at the network unless a stored credential, in any organization, holds its
//! token or (for a revocation that ends the person's whole authorization)
//! its person.

use crate::domain::ids::ProfileId;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::journal::{Journal, PendingGrant};
use super::lease::{lease_seconds, new_owner, release};
use super::request::{RefreshRequest, audit_credential};
use crate::crypto::{Binding, KeyRing};
use crate::db::credentials::{ACCESS_TOKEN_FIELD, REFRESH_TOKEN_FIELD, RefreshedSecrets, Written};
use crate::db::models::Credential;
use crate::db::{self, DbConnection, credentials as creds};
use crate::domain::audit::{AuditAction, AuditOutcome};
use crate::domain::to_db_time;
use crate::error::Error;
use crate::registry::Snapshot;
use crate::services::grants::{Holders, Orphan, holders, switch_profile_to_credential};
use crate::services::revoke_later;
use crate::state::AppState;

/// Attempts at storing a refreshed grant (50 ms doubling to 2 s between
/// them, about 13 s in all) before leaving it to the journal.
const WRITE_BACK_ATTEMPTS: u32 = 12;

/// What became of a refreshed grant.
pub(super) enum WriteBack {
    /// Stored, with the propagation's orphans revoked and the snapshot read.
    Stored(Option<Snapshot>),
    /// Stored, but no account used the credential any more (a change of its
    /// profile left it to this refresh): the credential went with the grant,
    /// judged like every orphan.
    Unused,
    /// Someone else stored a grant first; ours was revoked unless stored.
    Superseded,
}

/// How long a caller waits before asking again when a grant could not be
/// stored yet.
const RETRY_STORING: Duration = Duration::from_secs(5);

fn not_stored_yet(detail: &str) -> Error {
    Error::Unavailable {
        detail: format!(
            "the token was renewed at the network but {detail}; the renewed grant is kept and \
             stored before the token is refreshed again"
        ),
        retry_after: Some(RETRY_STORING),
    }
}

fn journal(app: &AppState) -> Journal {
    Journal::in_data_dir(&app.settings.data_dir)
}

/// Puts a grant in the journal before anything tries to store it. A journal
/// that cannot be written does not stop the write-back: the database may
/// still take the grant.
pub(super) async fn record(app: &AppState, grant: &Arc<PendingGrant>) -> Option<PathBuf> {
    let (journal, keys, g) = (journal(app), app.keys.clone(), grant.clone());
    match tokio::task::spawn_blocking(move || journal.record(&keys, &g)).await {
        Ok(Ok(path)) => Some(path),
        Ok(Err(error)) => {
            tracing::error!(credential = %grant.credential_id, %error, "could not journal a renewed grant; storing it from memory only");
            None
        }
        Err(error) => {
            tracing::error!(credential = %grant.credential_id, %error, "journaling a renewed grant failed");
            None
        }
    }
}

async fn forget(app: &AppState, entry: Option<PathBuf>) {
    if let Some(path) = entry {
        let journal = journal(app);
        let _ = tokio::task::spawn_blocking(move || journal.remove(&path)).await;
    }
}

/// The columns a grant fills, sealed for the credential's row.
fn seal(keys: &KeyRing, grant: &PendingGrant) -> RefreshedSecrets {
    let seal = |token, field| {
        keys.encrypt_secret(
            token,
            Binding {
                record_id: grant.credential_id.as_str(),
                field,
            },
        )
    };
    RefreshedSecrets {
        access: seal(&grant.access_token, ACCESS_TOKEN_FIELD),
        refresh: grant
            .refresh_token
            .as_ref()
            .filter(|_| grant.rotated)
            .map(|t| seal(t, REFRESH_TOKEN_FIELD)),
        expires_at: to_db_time(grant.expires_at),
        refresh_expires_at: grant.refresh_expires_at.map(to_db_time),
        scopes: (!grant.scopes.is_empty()).then(|| grant.scopes.join(" ")),
    }
}

/// The write transaction: the grant (under the lease and the version), the
/// propagation, the audit events and, when asked, the profile's accounts.
#[expect(
    clippy::too_many_arguments,
    reason = "the transaction's inputs, each from a different owner"
)]
fn store(
    conn: &mut DbConnection,
    keys: &KeyRing,
    request: &RefreshRequest,
    profile: ProfileId,
    version: i64,
    owner: &str,
    sealed: &RefreshedSecrets,
    at: DateTime<Utc>,
) -> Result<(Written, Vec<Orphan>, Option<Snapshot>), Error> {
    db::write_transaction(conn, |conn| {
        let written = creds::write_refreshed(
            conn,
            request.credential_id,
            version,
            owner,
            sealed,
            to_db_time(at),
        )?;
        if written != Written::Stored {
            return Ok((written, Vec::new(), None));
        }
        let orphans = switch_profile_to_credential(
            conn,
            keys,
            &request.organization_id,
            profile,
            request.credential_id,
            at,
        )?;
        audit_credential(
            conn,
            request,
            AuditAction::AccountRenewed,
            AuditOutcome::Success,
            json!({ "method": "refresh" }),
            at,
        )?;
        let snapshot = if request.snapshot {
            let organization =
                db::organizations::find_organization(conn, &request.organization_id)?.ok_or_else(
                    || {
                        Error::NotFound(format!(
                            "no organization with id {}",
                            request.organization_id
                        ))
                    },
                )?;
            let accounts = db::accounts::list_account_rows_of_profile(
                conn,
                &request.organization_id,
                profile,
            )?;
            Some(Snapshot {
                organization,
                accounts,
            })
        } else {
            None
        };
        Ok((Written::Stored, orphans, snapshot))
    })
}

/// Stores a refreshed grant (journaled at `entry`) and propagates it,
/// retrying from memory when the database fails and extending the lease
/// before each attempt so that no other instance can take it meanwhile.
pub(super) async fn write_back(
    app: &AppState,
    request: &RefreshRequest,
    owner: &str,
    grant: &Arc<PendingGrant>,
    entry: Option<PathBuf>,
) -> Result<WriteBack, Error> {
    let sealed = Arc::new(seal(&app.keys, grant));
    let mut pause = Duration::from_millis(50);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let (s, req, profile, keys, o, at, lease) = (
            sealed.clone(),
            request.clone(),
            grant.profile_id,
            app.keys.clone(),
            owner.to_string(),
            app.now(),
            lease_seconds(app),
        );
        let version = grant.from_version;
        let result = db::run(&app.pool, move |conn| {
            // Its own statement, committed even when the write fails.
            creds::extend_lease(conn, req.credential_id, &o, lease)?;
            store(conn, &keys, &req, profile, version, &o, &s, at)
        })
        .await;
        match result {
            Ok((Written::Stored, orphans, snapshot)) => {
                forget(app, entry).await;
                let unused = orphans
                    .iter()
                    .any(|o| o.credential_id == request.credential_id);
                revoke_later(app, orphans);
                return Ok(if unused {
                    WriteBack::Unused
                } else {
                    WriteBack::Stored(snapshot)
                });
            }
            Ok((Written::Superseded, ..)) => {
                tracing::warn!(credential = %request.credential_id, "a renewed grant lost to one stored first");
                // The lease may still be ours (the version moved under it).
                release(app, request.credential_id, owner).await?;
                settle_lost(app, grant).await?;
                forget(app, entry).await;
                return Ok(WriteBack::Superseded);
            }
            Ok((Written::LeaseLost, ..)) => {
                tracing::error!(credential = %request.credential_id, "the refresh lease was lost before the renewed grant was stored; it stays in the journal");
                return Err(not_stored_yet(
                    "another process holds the token's refresh lease",
                ));
            }
            Err(error) if attempt < WRITE_BACK_ATTEMPTS => {
                app.refresh.writeback_retried();
                tracing::warn!(credential = %request.credential_id, attempt, error = %error,
                    "storing a refreshed grant failed; retrying from memory");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(error) => {
                tracing::error!(credential = %request.credential_id, error = %error,
                    "storing a refreshed grant failed repeatedly; it stays in the journal");
                let (id, o) = (request.credential_id, owner.to_string());
                let _ = db::run(&app.pool, move |conn| creds::release_lease(conn, id, &o)).await;
                return Err(not_stored_yet("the database did not take it"));
            }
        }
    }
}

/// A grant that lost to one stored first, or whose credential went: ended
/// at the network unless that would reach a stored grant, so no live grant is
/// left stored nowhere and no stored one is ended.
async fn settle_lost(app: &AppState, grant: &Arc<PendingGrant>) -> Result<(), Error> {
    let (keys, g) = (app.keys.clone(), grant.clone());
    let orphan = db::run(&app.pool, move |conn| lost_orphan(conn, &keys, &g)).await?;
    revoke_later(app, vec![orphan]);
    Ok(())
}

/// A lost grant as an orphan, judged like every other one
/// (`grants::holders`, docs/rules.md#propagation): by what is stored, in
/// every organization, of its tokens and of its person. The stored row may
/// hold the grant itself (a network that does not rotate the refresh token,
/// or a write that did commit after all); another organization, or the
/// credential that replaced it, may hold the person, whom a revocation such
/// as Facebook's `DELETE /me/permissions` would de-authorize everywhere.
fn lost_orphan(
    conn: &mut DbConnection,
    keys: &KeyRing,
    grant: &PendingGrant,
) -> Result<Orphan, Error> {
    let held = match db::profiles::find_profile(conn, &grant.organization_id, grant.profile_id)? {
        Some(profile) => holders(
            conn,
            keys,
            &profile.network,
            &profile.external_id,
            &grant.access_token,
            grant.refresh_token.as_ref(),
        )?,
        // Profiles are never deleted; should one be missing, the person is
        // unknown, and a revocation that may reach their other grants waits.
        None => Holders {
            token: false,
            identity: true,
        },
    };
    Ok(Orphan {
        credential_id: grant.credential_id,
        network: grant.network.clone(),
        token: grant.grant_token().clone(),
        token_held_elsewhere: held.token,
        identity_held_elsewhere: held.identity,
    })
}

/// Stores what the journal holds for a credential whose lease the caller
/// holds, before the credential is refreshed again (its stored refresh
/// token may be spent). `Some`: a pending grant was written back (or lost
/// while being written), with its access token's expiry.
pub(super) async fn store_pending(
    app: &AppState,
    request: &RefreshRequest,
    owner: &str,
    row: &Credential,
) -> Result<Option<(DateTime<Utc>, WriteBack)>, Error> {
    let (journal, id) = (journal(app), row.id);
    let entries = tokio::task::spawn_blocking(move || journal.pending_for(id))
        .await
        .map_err(|e| Error::internal(format!("grant journal: {e}")))?;
    for path in entries {
        let (journal, keys, p) = (self::journal(app), app.keys.clone(), path.clone());
        let opened = tokio::task::spawn_blocking(move || journal.open(&keys, &p))
            .await
            .map_err(|e| Error::internal(format!("grant journal: {e}")))?;
        let grant = match opened {
            Ok(grant) => Arc::new(grant),
            Err(error) => {
                tracing::error!(%error, "a journaled grant cannot be read; it is left in place");
                continue;
            }
        };
        if grant.from_version != row.version {
            settle_lost(app, &grant).await?;
            forget(app, Some(path)).await;
            continue;
        }
        let written = write_back(app, request, owner, &grant, Some(path)).await?;
        if matches!(written, WriteBack::Stored(_)) {
            tracing::info!(credential = %row.id, "stored a journaled grant");
        }
        return Ok(Some((grant.expires_at, written)));
    }
    Ok(None)
}

/// Replays the journal at start: each grant is stored if its credential
/// still has the version it was refreshed from, else revoked unless stored.
/// A credential whose lease someone holds keeps its entry for later (the
/// next refresh of it here stores it first). Blocking; never fails the
/// start — every problem is logged.
pub fn replay(app: &AppState) {
    let journal = journal(app);
    let entries = journal.pending();
    if entries.is_empty() {
        return;
    }
    tracing::info!(entries = entries.len(), "replaying the grant journal");
    let owner = format!("{}:journal", new_owner(app));
    let mut to_revoke = Vec::new();
    for path in entries {
        let grant = match journal.open(&app.keys, &path) {
            Ok(grant) => grant,
            Err(error) => {
                tracing::error!(%error, "a journaled grant cannot be read; it is left in place");
                continue;
            }
        };
        match replay_one(app, &owner, &grant) {
            Ok(Replayed::Stored(orphans)) => {
                tracing::info!(credential = %grant.credential_id, "stored a journaled grant");
                to_revoke.extend(orphans);
                journal.remove(&path);
            }
            Ok(Replayed::Lost(orphan)) => {
                tracing::warn!(credential = %grant.credential_id, "a journaled grant lost to one stored first");
                to_revoke.push(orphan);
                journal.remove(&path);
            }
            Ok(Replayed::Busy) => {
                tracing::info!(credential = %grant.credential_id, "a journaled grant waits: its credential is being refreshed");
            }
            Err(error) => {
                tracing::error!(credential = %grant.credential_id, %error, "replaying a journaled grant failed; it is left in place");
            }
        }
    }
    revoke_later(app, to_revoke);
}

enum Replayed {
    Stored(Vec<Orphan>),
    Lost(Orphan),
    Busy,
}

fn replay_one(app: &AppState, owner: &str, grant: &PendingGrant) -> Result<Replayed, Error> {
    db::run_blocking(&app.pool, |conn| replay_on(conn, app, owner, grant))
}

fn replay_on(
    conn: &mut DbConnection,
    app: &AppState,
    owner: &str,
    grant: &PendingGrant,
) -> Result<Replayed, Error> {
    let id = grant.credential_id;
    if !creds::take_lease(conn, id, owner, lease_seconds(app))? {
        return Ok(match creds::find_credential_by_id(conn, id)? {
            None => Replayed::Lost(lost_orphan(conn, &app.keys, grant)?),
            Some(_) => Replayed::Busy,
        });
    }
    let row = creds::find_credential_by_id(conn, id)?;
    if row
        .as_ref()
        .is_some_and(|r| r.version == grant.from_version)
    {
        let request = RefreshRequest {
            organization_id: grant.organization_id.clone(),
            credential_id: id,
            actor: grant.actor.clone(),
            snapshot: false,
        };
        let sealed = seal(&app.keys, grant);
        let (written, orphans, _) = store(
            conn,
            &app.keys,
            &request,
            grant.profile_id,
            grant.from_version,
            owner,
            &sealed,
            app.now(),
        )?;
        if written == Written::Stored {
            return Ok(Replayed::Stored(orphans));
        }
    }
    creds::release_lease(conn, id, owner)?;
    Ok(Replayed::Lost(lost_orphan(conn, &app.keys, grant)?))
}
