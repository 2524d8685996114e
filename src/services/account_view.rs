//! How an account is shown: its status, reason and renew method worked out
//! at one instant, and the propagation report beside it, for every answer
//! that shows an account (managing accounts, the OAuth callback, renewals,
//! ready answers).

use crate::domain::ids::{AccountId, OrganizationId};
use chrono::{DateTime, Utc};

use crate::db::accounts::AccountRow;
use crate::db::{self, DbConnection, models};
use crate::domain::from_db_time;
use crate::domain::propagation::{self, Sibling, SiblingAfter};
use crate::domain::renewal::RenewMethod;
use crate::domain::token_status::{self, StoredState, TokenStatus};
use crate::error::{Error, Result};
use crate::providers::{GrantInfo, ProviderRegistry, RefreshPlan};

/// An account as a client sees it: the stored rows and the status, reason
/// and renew method worked out at one instant.
#[derive(Debug, Clone)]
pub struct AccountView {
    pub account: models::Account,
    pub profile: models::Profile,
    pub credential: models::CredentialState,
    pub status: TokenStatus,
    pub status_reason: Option<String>,
    pub method: RenewMethod,
}

/// The propagation report, with each left account's status now.
pub type PropagationReport = propagation::Report<TokenStatus>;

/// A fresh grant as stored: the account it landed on and the report.
#[derive(Debug)]
pub struct GrantOutcome {
    /// Whether a new account was created in the brand.
    pub created: bool,
    pub account: AccountView,
    pub propagation: PropagationReport,
}

/// The organization, or 404.
pub fn find_organization(
    conn: &mut DbConnection,
    org: &OrganizationId,
) -> Result<models::Organization> {
    db::organizations::find_organization(conn, org)?
        .ok_or_else(|| Error::NotFound(format!("no organization with id {org}")))
}

/// The account and its propagation report, read off the stored state in the
/// caller's trip to the pool (usually the transaction that stored a grant).
pub fn account_with_report(
    conn: &mut DbConnection,
    providers: &ProviderRegistry,
    org: &OrganizationId,
    account_id: AccountId,
    at: DateTime<Utc>,
) -> Result<(AccountView, PropagationReport)> {
    let organization = find_organization(conn, org)?;
    let row = db::accounts::find_account_by_id(conn, org, account_id)?
        .ok_or_else(|| no_account(account_id))?;
    let siblings = db::accounts::list_account_rows_of_profile(conn, org, row.1.id)?;
    report_from(&organization, providers, siblings, account_id, at)
}

/// The account and its propagation report from the profile's accounts as
/// they are stored (`accounts` holds every account of the profile).
pub fn report_from(
    organization: &models::Organization,
    providers: &ProviderRegistry,
    accounts: Vec<AccountRow>,
    account_id: AccountId,
    at: DateTime<Utc>,
) -> Result<(AccountView, PropagationReport)> {
    let report = propagation_report(organization, &accounts, account_id, at)?;
    let row = accounts
        .into_iter()
        .find(|(a, _, _)| a.id == account_id)
        .ok_or_else(|| no_account(account_id))?;
    let ctx = StatusContext::for_organization(organization, providers, at);
    Ok((ctx.view(row)?, report))
}

/// Who shares the grant `account_id` now holds and who was left and why,
/// from the profile's accounts as stored (`accounts` holds every account of
/// the profile): the one report, for the answers that show it and for the
/// `token.renewed` webhook (`services::webhooks::announce`), so that both
/// say the same of one change.
pub fn propagation_report(
    organization: &models::Organization,
    accounts: &[AccountRow],
    account_id: AccountId,
    at: DateTime<Utc>,
) -> Result<PropagationReport> {
    let plan = organization.plan()?;
    let window = window_of(organization);
    let fresh_credential = accounts
        .iter()
        .find(|(a, _, _)| a.id == account_id)
        .ok_or_else(|| no_account(account_id))?
        .2
        .id;
    let siblings = accounts
        .iter()
        .filter(|(a, _, _)| a.id != account_id)
        .map(|(account, _, credential)| {
            Ok(SiblingAfter {
                status: status_at(account, credential, at, window)?,
                shares_grant: credential.id == fresh_credential,
                sibling: Sibling {
                    account_id: account.id,
                    brand_id: account.brand_id,
                    enabled: account.enabled,
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(propagation::report(plan, siblings))
}

fn no_account(account_id: AccountId) -> Error {
    Error::NotFound(format!("no account with id {account_id}"))
}

/// The account's token status at `now` (docs/rules.md#token-status).
fn status_at(
    account: &models::Account,
    credential: &models::CredentialState,
    now: DateTime<Utc>,
    window: chrono::Duration,
) -> Result<TokenStatus> {
    Ok(token_status::compute(
        account.enabled,
        StoredState {
            status: Some(credential.stored_status()?),
            expires_at: credential.expires_at.map(from_db_time),
        },
        now,
        window,
    ))
}

/// What working out a status needs besides the row.
pub struct StatusContext<'a> {
    pub now: DateTime<Utc>,
    pub window: chrono::Duration,
    pub providers: &'a ProviderRegistry,
}

impl StatusContext<'_> {
    pub fn for_organization<'p>(
        organization: &models::Organization,
        providers: &'p ProviderRegistry,
        now: DateTime<Utc>,
    ) -> StatusContext<'p> {
        StatusContext {
            now,
            window: window_of(organization),
            providers,
        }
    }

    pub fn status(
        &self,
        account: &models::Account,
        credential: &models::CredentialState,
    ) -> Result<TokenStatus> {
        status_at(account, credential, self.now, self.window)
    }

    /// Whether the credential can be renewed without the user right now.
    pub fn method(&self, status: TokenStatus, credential: &models::CredentialState) -> RenewMethod {
        if status == TokenStatus::ReauthRequired {
            return RenewMethod::Reauthorize;
        }
        let Some(provider) = self.providers.get(&credential.network) else {
            return RenewMethod::Reauthorize;
        };
        match provider.refresh_plan(&grant_info(credential), self.now) {
            RefreshPlan::Silent(_) | RefreshPlan::NotYet { .. } => RenewMethod::Refresh,
            RefreshPlan::NeedsReauthorization(_) => RenewMethod::Reauthorize,
        }
    }

    pub fn view(&self, (account, profile, credential): AccountRow) -> Result<AccountView> {
        let status = self.status(&account, &credential)?;
        Ok(AccountView {
            status_reason: token_status::reason(status, credential.status_reason.as_deref()),
            // An asset renews only through its manager's authorization
            // (docs/rules.md#assets), never by a grant of its own token.
            method: if profile.manager_profile_id.is_some() {
                RenewMethod::Reauthorize
            } else {
                self.method(status, &credential)
            },
            status,
            account,
            profile,
            credential,
        })
    }
}

/// What a network's refresh plan needs to know of a stored grant.
pub fn grant_info(credential: &models::CredentialState) -> GrantInfo {
    crate::services::grant_info(
        credential.refresh_token_key_id.is_some(),
        credential.expires_at,
        credential.issued_at,
        credential.last_refreshed_at,
        credential.refresh_expires_at,
    )
}

/// The organization's warning window.
pub fn window_of(organization: &models::Organization) -> chrono::Duration {
    chrono::Duration::days(i64::from(organization.warning_window_days))
}
