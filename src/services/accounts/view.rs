//! How an account's status, reason and renew method are worked out at one
//! instant, for every answer that shows an account.

use chrono::{DateTime, Utc};

use super::AccountView;
use crate::db::accounts::AccountRow;
use crate::db::models;
use crate::domain::from_db_time;
use crate::domain::renewal::RenewMethod;
use crate::domain::token_status::{self, StoredState, TokenStatus};
use crate::error::Result;
use crate::providers::{GrantInfo, ProviderRegistry, RefreshPlan};

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
        Ok(token_status::compute(
            account.enabled,
            StoredState {
                status: Some(credential.stored_status()?),
                expires_at: credential.expires_at.map(from_db_time),
            },
            self.now,
            self.window,
        ))
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
            method: self.method(status, &credential),
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
