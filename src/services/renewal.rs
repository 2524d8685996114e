//! Renewing an account's token: silently with the network's refresh grant
//! when the stored grant allows it, otherwise by answering an authorization
//! URL whose callback finishes the renewal (docs/rules.md, "Renewal"). The
//! answer carries the account as it is afterwards and the propagation report.
//!
//! A silent renewal makes two trips to the pool: one read before the network
//! call (the account, and the lease on its credential with the row read
//! after taking it), and one write transaction after it that also reads the
//! profile's accounts for the answer. Neither grows with the number of
//! brands. Other outcomes add at most one read (and a re-authorization the
//! insert of its `state`).

use crate::domain::ids::{AccountId, BrandId};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::accounts::{AccountView, PropagationReport, account_with_report, report_from};
use super::oauth::{Purpose, StartRequest, Started};
use super::refresh::{Claim, RefreshRequest, Settled, Snapshot, claim, new_owner, refresh_claimed};
use crate::db::accounts::AccountRow;
use crate::db::models::{Account, Profile};
use crate::db::{self, DbConnection};
use crate::domain::audience::Audience;
use crate::domain::token_status::{self, CredentialStatus, TokenStatus};
use crate::error::{Error, Result};
use crate::state::AppState;

/// Why an asset's renewal needs an authorization: its manager's, whatever
/// the state of the asset's own token (docs/rules.md#assets).
pub const MANAGER_AUTHORIZATION: &str = "manager_authorization_required";

/// What a renew did.
#[derive(Debug)]
pub enum RenewalOutcome {
    /// The credential holds a fresh grant.
    Renewed { expires_at: DateTime<Utc> },
    /// Still valid, and the network's extension grant is not available yet.
    NotDue { earliest: DateTime<Utc> },
    /// The owner must re-authorize: open `started.authorization_url`.
    AuthorizationRequired { started: Started, reason: String },
}

/// A renew's answer: the outcome, the account now, and who else received
/// the grant (empty unless renewed).
#[derive(Debug)]
pub struct Renewal {
    pub network: String,
    pub outcome: RenewalOutcome,
    pub account: AccountView,
    pub propagation: PropagationReport,
}

/// The account to renew, by brand and id or (bulk renewal, the vault read)
/// by id alone. An account in a brand the audience does not reach is not
/// found, exactly as another organization's.
pub fn find_account(
    conn: &mut DbConnection,
    audience: &Audience,
    brand: Option<BrandId>,
    account: AccountId,
) -> Result<AccountRow> {
    let org = audience.organization_id();
    let row = match brand {
        Some(brand) => db::accounts::find_account(conn, org, brand, account)?,
        None => db::accounts::find_account_by_id(conn, org, account)?,
    };
    row.filter(|(found, _, _)| audience.reaches(found.brand_id))
        .ok_or_else(|| Error::NotFound(format!("no account with id {account}")))
}

/// Who asks for a renewal and how a re-authorization should come back.
pub struct RenewRequest<'a> {
    pub audience: &'a Audience,
    pub brand_id: Option<BrandId>,
    pub account_id: AccountId,
    pub actor: &'a str,
    pub return_url: Option<&'a str>,
    pub purpose: Purpose,
}

/// Renews one account's token.
pub async fn renew(state: &AppState, request: RenewRequest<'_>) -> Result<Renewal> {
    let owner = new_owner(state);
    let ((account, profile, credential), claimed) = read_and_claim(state, &request, &owner).await?;
    if !account.enabled {
        return Err(Error::Conflict(
            "the account is disabled; enable it before renewing its token".into(),
        ));
    }
    let settled = match claimed {
        None if profile.manager_profile_id.is_some() => Settled::ReauthRequired {
            reason: MANAGER_AUTHORIZATION.into(),
        },
        None => Settled::ReauthRequired {
            reason: token_status::dead_reason(
                TokenStatus::ReauthRequired,
                credential.status_reason.as_deref(),
            ),
        },
        Some(claimed) => refresh_claimed(
            state,
            RefreshRequest {
                organization_id: request.audience.organization_id().clone(),
                credential_id: credential.id,
                actor: request.actor.to_string(),
                snapshot: true,
            },
            owner,
            claimed,
        )
        .await?
        .settle(&profile.network)?,
    };
    let replaced = matches!(settled, Settled::Replaced);
    let (outcome, snapshot) = outcome_of(state, &request, settled, &account, &profile).await?;
    let (view, report) = account_now(state, &request, snapshot, account.id).await?;
    let outcome = if replaced {
        renewed_by_replacement(&view)?
    } else {
        outcome
    };
    Ok(Renewal {
        network: profile.network,
        // Propagation follows the plan across every brand; the answer names
        // only the brands the caller reaches (docs/rules.md#tenant-scoping).
        propagation: match outcome {
            RenewalOutcome::Renewed { .. } => request.audience.report(report),
            _ => PropagationReport::default(),
        },
        outcome,
        account: view,
    })
}

/// The one read before the network call: the account, and the lease on its
/// credential with the row read after taking it (none when the account is
/// disabled or its grant already needs the user).
async fn read_and_claim(
    state: &AppState,
    request: &RenewRequest<'_>,
    owner: &str,
) -> Result<(AccountRow, Option<Claim>)> {
    let (audience, brand, account) = (
        request.audience.clone(),
        request.brand_id,
        request.account_id,
    );
    let (own, app) = (owner.to_owned(), state.clone());
    db::run(&state.pool, move |conn| {
        let row = find_account(conn, &audience, brand, account)?;
        // An asset's token is never sent to a grant endpoint: a Page token is
        // no grant of its own (docs/rules.md#assets), so it renews only
        // through its manager's authorization.
        let wanted = row.0.enabled
            && row.1.manager_profile_id.is_none()
            && row.2.stored_status()? != CredentialStatus::ReauthRequired;
        let claimed = if wanted {
            Some(claim(conn, &app, row.2.id, &own)?)
        } else {
            None
        };
        Ok((row, claimed))
    })
    .await
}

/// The renewal's outcome from how the refresh settled (a re-authorization
/// starts its authorization here), with the write-back's snapshot if any.
async fn outcome_of(
    state: &AppState,
    request: &RenewRequest<'_>,
    settled: Settled,
    account: &Account,
    profile: &Profile,
) -> Result<(RenewalOutcome, Option<Arc<Snapshot>>)> {
    // The person who manages an asset authorizes, not the asset: their
    // authorization comes back as a connect whose selection reconnects the
    // asset in place (the callback answers `select`), where a renewal's would
    // refuse the person as another identity than the asset's.
    let through_manager = profile.manager_profile_id.is_some();
    Ok(match settled {
        Settled::Renewed {
            expires_at,
            snapshot,
        } => (RenewalOutcome::Renewed { expires_at }, snapshot),
        Settled::NotDue { earliest } => (RenewalOutcome::NotDue { earliest }, None),
        // A fresh grant reached the account while this refresh ran: what
        // the account holds now decides the answer (read after this).
        Settled::Replaced => (
            RenewalOutcome::NotDue {
                earliest: state.now(),
            },
            None,
        ),
        Settled::ReauthRequired { reason } => (
            RenewalOutcome::AuthorizationRequired {
                started: super::oauth::start(
                    state,
                    StartRequest {
                        audience: request.audience,
                        brand_id: account.brand_id,
                        account_id: (!through_manager).then_some(account.id),
                        network: &profile.network,
                        purpose: if through_manager {
                            Purpose::Connect
                        } else {
                            request.purpose
                        },
                        return_url: request.return_url,
                        actor: request.actor,
                    },
                )
                .await?,
                reason,
            },
            None,
        ),
    })
}

/// What the answer needs: the write-back's snapshot of the profile's
/// accounts when this call stored the grant, else one more read.
async fn account_now(
    state: &AppState,
    request: &RenewRequest<'_>,
    snapshot: Option<Arc<Snapshot>>,
    account_id: AccountId,
) -> Result<(AccountView, PropagationReport)> {
    match snapshot {
        Some(snapshot) => report_from(
            &snapshot.organization,
            &state.providers,
            snapshot.accounts.clone(),
            account_id,
            state.now(),
        ),
        None => {
            let (o, providers, at) = (
                request.audience.organization_id().clone(),
                state.providers.clone(),
                state.now(),
            );
            db::run(&state.pool, move |conn| {
                account_with_report(conn, &providers, &o, account_id, at)
            })
            .await
        }
    }
}

/// Renewed by the fresh grant that replaced the credential, when the account
/// now holds a valid one; otherwise the caller asks again.
fn renewed_by_replacement(view: &AccountView) -> Result<RenewalOutcome> {
    if matches!(
        view.status,
        TokenStatus::Expired | TokenStatus::ReauthRequired
    ) {
        return Err(Error::RefreshBusy {
            retry_after: std::time::Duration::from_secs(1),
        });
    }
    Ok(RenewalOutcome::Renewed {
        expires_at: view
            .credential
            .expires_at
            .map(crate::domain::from_db_time)
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    })
}
