//! The vault read for the suite's workers: a valid access token of an
//! account, refreshed first when it is due. The only use case that hands a
//! token out. Any token that still works is handed out, with whether it
//! needs renewal: a publisher holding posts for a token that would have
//! carried them loses more than one that learns the token is ending.

use crate::domain::ids::{AccountId, CredentialId};
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::refresh::{RefreshRequest, Settled, refresh};
use crate::db::credentials::try_open_tokens;
use crate::db::{self};
use crate::domain::audience::Audience;
use crate::domain::renewal::renew_href;
use crate::domain::token_status::{self, CredentialStatus, TokenStatus};
use crate::domain::{from_db_time, shift};
use crate::error::{Error, Result};
use crate::providers::AssetTokens;
use crate::state::AppState;

/// A token to hand to a worker.
pub struct AccessToken {
    pub network: String,
    pub access_token: SecretString,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
    /// The token is within its network's lead time: it works, but only a
    /// refresh (or its owner) can keep the account going past `expires_at`.
    pub needs_renewal: bool,
    /// Names the token handed out: a new token, a new id (see [`token_id`]).
    pub token_id: String,
}

/// An opaque name of the token a credential holds now: the SHA-256 of the
/// credential's id and `version` (which moves with every new token), so it
/// changes with the token, stays the same while the token does (a key
/// rotation moves nothing), and reveals nothing of it.
pub fn token_id(credential_id: CredentialId, version: i64) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("{credential_id}:{version}"));
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// A valid access token of the account, refreshed first when it is within
/// the network's refresh lead time or expired.
pub async fn read_access_token(
    state: &AppState,
    audience: &Audience,
    account_id: AccountId,
    actor: &str,
) -> Result<AccessToken> {
    let org = audience.organization_id();
    let reader = audience.clone();
    let (account, profile, credential) = db::run(&state.pool, move |conn| {
        super::renewal::find_account(conn, &reader, None, account_id)
    })
    .await?;
    if !account.enabled {
        return Err(Error::Conflict(
            "the account is disabled in its brand".into(),
        ));
    }
    let reauth = |reason: &str| Error::ReauthorizationRequired {
        detail: format!(
            "the account's grant cannot be used ({reason}); its owner must re-authorize"
        ),
        renew_href: renew_href(account.brand_id, account.id),
    };
    if credential.stored_status()? == CredentialStatus::ReauthRequired {
        return Err(reauth(&token_status::dead_reason(
            TokenStatus::ReauthRequired,
            credential.status_reason.as_deref(),
        )));
    }
    let at = state.now();
    let expires_at = credential.expires_at.map(from_db_time);
    let lead = state
        .providers
        .get(&profile.network)
        .map(|p| chrono::Duration::from_std(p.refresh_lead()).unwrap_or_default())
        .unwrap_or_default();
    let expired = expires_at.is_some_and(|e| e <= at);
    if expires_at.is_some_and(|e| e <= shift(at, lead)) {
        let settled = match refresh(
            state,
            RefreshRequest {
                organization_id: org.clone(),
                credential_id: credential.id,
                actor: actor.to_string(),
                snapshot: false,
            },
        )
        .await
        {
            Ok(outcome) => outcome.settle(&profile.network),
            // Like account_id network hiccup: the grant is fine, the deployment is not.
            Err(error @ Error::NetworkMisconfigured { .. }) => Err(error),
            Err(error) => return Err(error),
        };
        match settled {
            Ok(Settled::Renewed { .. } | Settled::NotDue { .. } | Settled::Replaced) => {}
            // Only the owner can renew it (no refresh grant): the token works
            // until it expires, and is handed out until then. A grant the
            // network refused is stored as such and refused below.
            Ok(Settled::ReauthRequired { .. }) if !expired => {}
            Ok(Settled::ReauthRequired { reason }) => return Err(reauth(&reason)),
            // A valid token is still worth handing out when the network hiccups.
            Err(_) if !expired => {}
            Err(error) => return Err(error),
        }
    }
    // The account's credential as it is now (a fresh grant may have
    // replaced the one read above while the refresh ran).
    let (o, account_id) = (org.clone(), account.id);
    let shared = state
        .providers
        .get(&profile.network)
        .and_then(|p| p.assets())
        == Some(AssetTokens::Shared);
    let row = db::run(&state.pool, move |conn| {
        let (_, _, current) = db::accounts::find_account_by_id(conn, &o, account_id)?
            .ok_or_else(|| Error::NotFound(format!("no account with id {account_id}")))?;
        let row = db::credentials::find_credential(conn, &o, current.id)?
            .ok_or_else(|| Error::NotFound(format!("no credential {}", current.id)))?;
        // A shared asset publishes with its manager's grant itself
        // (docs/rules.md#assets): that is the token to hand out.
        match (row.derived_from_credential_id, shared) {
            (Some(manager), true) => db::credentials::find_credential(conn, &o, manager)?
                .ok_or_else(|| Error::NotFound(format!("no credential {manager}"))),
            _ => Ok(row),
        }
    })
    .await?;
    let row_expires = row.expires_at.map(from_db_time);
    let now = state.now();
    let dead = if row.stored_status()? == CredentialStatus::ReauthRequired {
        Some(TokenStatus::ReauthRequired)
    } else {
        row_expires
            .is_some_and(|e| e <= now)
            .then_some(TokenStatus::Expired)
    };
    if let Some(status) = dead {
        return Err(reauth(&token_status::dead_reason(
            status,
            row.status_reason.as_deref(),
        )));
    }
    let access = match try_open_tokens(&state.keys, &row) {
        Ok((access, _)) => access,
        // Never handed out, and the credential is re-authorization's.
        Err(error) if error.is_not_this_records() => {
            let request = RefreshRequest {
                organization_id: org.clone(),
                credential_id: row.id,
                actor: actor.to_string(),
                snapshot: false,
            };
            crate::services::refresh::condemn_undecryptable(state, &request, now).await?;
            return Err(reauth(crate::domain::token_status::UNDECRYPTABLE));
        }
        Err(error) => return Err(Error::internal(format!("credential {}: {error}", row.id))),
    };
    tracing::info!(account = %account_id, network = %profile.network, %actor, "access token read");
    Ok(AccessToken {
        network: profile.network,
        access_token: access,
        expires_at: row_expires,
        scopes: row.scopes.split_whitespace().map(str::to_string).collect(),
        needs_renewal: row_expires.is_some_and(|e| e <= shift(now, lead)),
        token_id: token_id(row.id, row.version),
    })
}
