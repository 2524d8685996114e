//! Renewing an account's token: silently with the network's refresh grant
//! when the stored grant allows it, otherwise by answering an authorization
//! URL whose callback finishes the renewal (docs/rules.md, "Renewal"). The
//! answer carries the account as it is afterwards and the propagation report.
//!
//! Trips to the pool for one renew: the account row; the refresh engine's
//! lease and write-back; and one read of the account with its siblings for
//! the answer. None of them grows with the number of brands.

use chrono::{DateTime, Utc};

use super::accounts::{AccountView, PropagationReport, account_with_report};
use super::oauth::{Purpose, StartRequest, Started};
use super::refresh::{RefreshRequest, Settled, refresh};
use crate::db::accounts::AccountRow;
use crate::db::{self, DbConnection};
use crate::domain::now;
use crate::domain::token_status::CredentialStatus;
use crate::error::{Error, Result};
use crate::state::AppState;

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

/// The account to renew, by brand and id or (bulk renewal) by id alone.
pub fn find_account(
    conn: &mut DbConnection,
    org: &str,
    brand: Option<&str>,
    account: &str,
) -> Result<AccountRow> {
    let row = match brand {
        Some(brand) => db::accounts::find_account(conn, org, brand, account)?,
        None => db::accounts::find_account_by_id(conn, org, account)?,
    };
    row.ok_or_else(|| Error::NotFound(format!("no account with id {account}")))
}

/// Who asks for a renewal and how a re-authorization should come back.
pub struct RenewRequest<'a> {
    pub organization_id: &'a str,
    pub brand_id: Option<&'a str>,
    pub account_id: &'a str,
    pub actor: &'a str,
    pub return_url: Option<&'a str>,
    pub purpose: Purpose,
}

/// Renews one account's token.
pub async fn renew(state: &AppState, request: RenewRequest<'_>) -> Result<Renewal> {
    let (o, b, a) = (
        request.organization_id.to_string(),
        request.brand_id.map(str::to_string),
        request.account_id.to_string(),
    );
    let (account, profile, credential) = db::run(&state.pool, move |conn| {
        find_account(conn, &o, b.as_deref(), &a)
    })
    .await?;
    if !account.enabled {
        return Err(Error::Conflict(
            "the account is disabled; enable it before renewing its token".into(),
        ));
    }
    let settled = if credential.stored_status()? == CredentialStatus::ReauthRequired {
        Settled::ReauthRequired {
            reason: credential
                .status_reason
                .clone()
                .unwrap_or_else(|| CredentialStatus::ReauthRequired.as_str().into()),
        }
    } else {
        refresh(
            state,
            RefreshRequest {
                organization_id: request.organization_id.to_string(),
                credential_id: credential.id.clone(),
                actor: request.actor.to_string(),
            },
        )
        .await?
        .settle(&profile.network)?
    };
    let outcome = match settled {
        Settled::Renewed { expires_at } => RenewalOutcome::Renewed { expires_at },
        Settled::NotDue { earliest } => RenewalOutcome::NotDue { earliest },
        Settled::ReauthRequired { reason } => RenewalOutcome::AuthorizationRequired {
            started: super::oauth::start(
                state,
                StartRequest {
                    organization_id: request.organization_id,
                    brand_id: &account.brand_id,
                    account_id: Some(&account.id),
                    network: &profile.network,
                    purpose: request.purpose,
                    return_url: request.return_url,
                    actor: request.actor,
                },
            )
            .await?,
            reason,
        },
    };
    let (o, a, providers) = (
        request.organization_id.to_string(),
        account.id.clone(),
        state.providers.clone(),
    );
    let (view, report) = db::run(&state.pool, move |conn| {
        account_with_report(conn, &providers, &o, &a, now())
    })
    .await?;
    Ok(Renewal {
        network: profile.network,
        propagation: match outcome {
            RenewalOutcome::Renewed { .. } => report,
            _ => PropagationReport::default(),
        },
        outcome,
        account: view,
    })
}
