//! Token status, computed against the clock. What the database stores is
//! what the network last said (`active`, `reauth_required`,
//! `refresh_failing`) and what the worker last announced (`expiring`,
//! `expired`); the status a client sees follows from `expires_at` and the
//! organization's warning window at the moment of the request, so every
//! answer is right without waiting for a background job. The SQL form of
//! [`compute`] is `db::accounts::status_is`; a storage test holds the two
//! equal over every status.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The status of an account's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    /// Valid and not expiring within the warning window.
    Active,
    /// Valid, but expires within the organization's warning window.
    Expiring,
    /// `expires_at` has passed.
    Expired,
    /// The network refused the grant (revoked, `invalid_grant`, password changed, no refresh possible): the owner must re-authorize.
    ReauthRequired,
    /// Refreshes keep failing transiently while the token is still valid.
    RefreshFailing,
    /// The account is disabled in this brand.
    Disabled,
}

impl TokenStatus {
    /// Every status, in declaration order.
    pub const ALL: [TokenStatus; 6] = [
        TokenStatus::Active,
        TokenStatus::Expiring,
        TokenStatus::Expired,
        TokenStatus::ReauthRequired,
        TokenStatus::RefreshFailing,
        TokenStatus::Disabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Expiring => "expiring",
            TokenStatus::Expired => "expired",
            TokenStatus::ReauthRequired => "reauth_required",
            TokenStatus::RefreshFailing => "refresh_failing",
            TokenStatus::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<TokenStatus> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// `expired` or `reauth_required`: what the "Expired Tokens" dropdown lists.
    pub fn needs_renewal(self) -> bool {
        matches!(self, TokenStatus::Expired | TokenStatus::ReauthRequired)
    }
}

super::audit::text_enum! {
    /// A credential's stored status column.
    CredentialStatus {
        /// Valid as far as the network said.
        Active = "active",
        /// The worker announced that it expires within the warning window.
        Expiring = "expiring",
        /// The worker announced that it expired.
        Expired = "expired",
        /// The network refused the grant; only the owner can renew it.
        ReauthRequired = "reauth_required",
        /// Refreshes keep failing transiently.
        RefreshFailing = "refresh_failing",
    }
}

/// What the stored credential says, for [`compute`].
#[derive(Debug, Clone, Copy)]
pub struct StoredState {
    /// The stored status (`None` when the account has no credential).
    pub status: Option<CredentialStatus>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The status of an account at `now`.
pub fn compute(
    enabled: bool,
    stored: StoredState,
    now: DateTime<Utc>,
    warning_window: Duration,
) -> TokenStatus {
    if !enabled {
        return TokenStatus::Disabled;
    }
    let Some(status) = stored.status else {
        return TokenStatus::ReauthRequired;
    };
    if status == CredentialStatus::ReauthRequired {
        return TokenStatus::ReauthRequired;
    }
    if let Some(expires_at) = stored.expires_at {
        if expires_at <= now {
            return TokenStatus::Expired;
        }
        if status == CredentialStatus::RefreshFailing {
            return TokenStatus::RefreshFailing;
        }
        if expires_at <= now + warning_window {
            return TokenStatus::Expiring;
        }
    } else if status == CredentialStatus::RefreshFailing {
        return TokenStatus::RefreshFailing;
    }
    TokenStatus::Active
}

/// What stops working while an account needs renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockedCapability {
    /// Scheduled posts do not publish.
    Publishing,
    /// New inbox items do not arrive.
    Inbox,
    /// Reports cannot be generated.
    Analytics,
}

/// The stored reason of a credential whose stored token does not open under
/// its own record: only a re-authorization replaces it.
pub const UNDECRYPTABLE: &str = "undecryptable";

/// The reason shown beside a status: a dead token's [`dead_reason`], what the
/// network said for `refresh_failing`, nothing otherwise.
pub fn reason(status: TokenStatus, stored_reason: Option<&str>) -> Option<String> {
    match status {
        TokenStatus::ReauthRequired | TokenStatus::Expired => {
            Some(dead_reason(status, stored_reason))
        }
        TokenStatus::RefreshFailing => stored_reason.map(str::to_string),
        _ => None,
    }
}

/// Why a dead token (`reauth_required` or `expired`) is dead: the stored
/// reason (what the network said, or [`UNDECRYPTABLE`]), else the status's
/// own name. The only place this is decided, so the account, the dropdown,
/// the renew answer and the vault's refusal name the same reason.
pub fn dead_reason(status: TokenStatus, stored_reason: Option<&str>) -> String {
    stored_reason.unwrap_or(status.as_str()).to_string()
}

pub fn blocked(status: TokenStatus) -> Vec<BlockedCapability> {
    if status.needs_renewal() {
        vec![
            BlockedCapability::Publishing,
            BlockedCapability::Inbox,
            BlockedCapability::Analytics,
        ]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_clock_and_the_network() {
        let now = Utc::now();
        let window = Duration::days(7);
        let at = |d: i64, status: &'static str| StoredState {
            status: Some(status.parse().unwrap()),
            expires_at: Some(now + Duration::days(d)),
        };
        assert_eq!(
            compute(true, at(30, "active"), now, window),
            TokenStatus::Active
        );
        assert_eq!(
            compute(true, at(3, "active"), now, window),
            TokenStatus::Expiring
        );
        assert_eq!(
            compute(true, at(-1, "active"), now, window),
            TokenStatus::Expired
        );
        assert_eq!(
            compute(true, at(30, "reauth_required"), now, window),
            TokenStatus::ReauthRequired
        );
        assert_eq!(
            compute(true, at(30, "refresh_failing"), now, window),
            TokenStatus::RefreshFailing
        );
        assert_eq!(
            compute(true, at(-1, "refresh_failing"), now, window),
            TokenStatus::Expired
        );
        assert_eq!(
            compute(false, at(-1, "active"), now, window),
            TokenStatus::Disabled
        );
        assert_eq!(
            compute(
                true,
                StoredState {
                    status: None,
                    expires_at: None
                },
                now,
                window
            ),
            TokenStatus::ReauthRequired
        );
        assert!(
            blocked(TokenStatus::Expired).len() == 3 && blocked(TokenStatus::Expiring).is_empty()
        );
    }
}
